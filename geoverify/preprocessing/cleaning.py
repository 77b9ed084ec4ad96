"""Cleaning: every fix is kept or rejected for one named reason, never silently dropped."""

from __future__ import annotations

import numpy as np
import pandas as pd

from geoverify.io.times import epoch_ns
from geoverify.rules import Rules
from geoverify.schema import id_problem

# Reasons in the order they are tested; a fix gets the first that applies.
REJECT_REASONS = ("invalid", "duplicate", "future", "low_accuracy")
KEPT = ""


def usable_member_ids(member_id: pd.Series) -> np.ndarray:
    """Per fix, whether its member id is present and usable as an id: not empty, at most 128
    characters, no control characters (:func:`geoverify.schema.id_problem`); checked once per
    distinct id."""
    return _usable_codes(*pd.factorize(member_id))


def _usable_codes(code: np.ndarray, members) -> np.ndarray:
    """:func:`usable_member_ids` from a factorisation already made (``pd.factorize``)."""
    if not len(members):
        return np.zeros(len(code), dtype=bool)
    usable = np.array([m != "" and id_problem(str(m)) is None for m in members], dtype=bool)
    return usable[np.maximum(code, 0)] & (code >= 0)


def rejection_reasons(
    fixes: pd.DataFrame, *, now: pd.Timestamp, rules: Rules, max_accuracy_m: np.ndarray | None = None
) -> np.ndarray:
    """Decide, for each fix, whether it is kept and otherwise why not.

    Parameters
    ----------
    fixes : pandas.DataFrame
        A fix table (:data:`geoverify.schema.TRACK_COLUMNS`), in input order.
    now : pandas.Timestamp
        The verification time (tz-aware). A fix more than ``rules.future_tolerance_s``
        seconds after it is ``future``.
    rules : Rules
        Thresholds: ``max_accuracy_m`` (metres), ``future_tolerance_s`` (seconds).
    max_accuracy_m : numpy.ndarray, optional
        Per-fix accuracy limit in metres (a member's grid type may have its own); defaults to
        ``rules.max_accuracy_m`` for every fix.

    Returns
    -------
    numpy.ndarray of str
        ``""`` for a kept fix, else one of :data:`REJECT_REASONS`:

        - ``invalid``: no member (or a member id that is not a usable id: over 128
          characters, or holding control characters), unparseable or missing time, NaN or infinite coordinates,
          ``|lat| > 90``, ``|lon| > 180``, exactly (0, 0), or a negative accuracy (iOS
          reports -1 for a location it could not fix);
        - ``duplicate``: same member and time as an earlier valid fix in input order
          (the first wins);
        - ``future``: later than ``now`` plus the tolerance;
        - ``low_accuracy``: reported accuracy above the limit (an unknown accuracy passes).
    """
    n = len(fixes)
    reasons = np.full(n, KEPT, dtype=object)
    if n == 0:
        return reasons
    lon = fixes["lon"].to_numpy(dtype=np.float64, na_value=np.nan)
    lat = fixes["lat"].to_numpy(dtype=np.float64, na_value=np.nan)
    member_code, members = pd.factorize(fixes["member_id"])
    no_member = ~_usable_codes(member_code, members)
    time = fixes["time"]
    t_ns = epoch_ns(time)
    accuracy = fixes["accuracy"].to_numpy(dtype=np.float64, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        invalid = (
            no_member
            | time.isna().to_numpy()
            | ~np.isfinite(lon)
            | ~np.isfinite(lat)
            | (np.abs(lat) > 90)
            | (np.abs(lon) > 180)
            | ((lon == 0) & (lat == 0))
            | (accuracy < 0)
        )  # iOS reports -1 for a location it could not fix
    reasons[invalid] = "invalid"

    valid_idx = np.flatnonzero(~invalid)
    if len(valid_idx):
        # Stable order by (member, time, input position): the first of equal keys is the original.
        order = valid_idx[np.lexsort((valid_idx, t_ns[valid_idx], member_code[valid_idx]))]
        same = (member_code[order[1:]] == member_code[order[:-1]]) & (t_ns[order[1:]] == t_ns[order[:-1]])
        reasons[order[1:][same]] = "duplicate"

    open_ = reasons == KEPT
    limit = now + pd.Timedelta(seconds=rules.future_tolerance_s)
    future = open_ & (t_ns > limit.value)
    reasons[future] = "future"

    open_ &= ~future
    cap = rules.max_accuracy_m if max_accuracy_m is None else max_accuracy_m
    with np.errstate(invalid="ignore"):
        low = open_ & (accuracy > cap)
    reasons[low] = "low_accuracy"
    return reasons


def count_reasons(reasons: np.ndarray) -> dict[str, int]:
    """Counts of each rejection reason (every reason present, zeros included)."""
    values, counts = np.unique(reasons[reasons != KEPT].astype(str), return_counts=True)
    found = dict(zip(values.tolist(), counts.tolist()))
    return {reason: int(found.get(reason, 0)) for reason in REJECT_REASONS}
