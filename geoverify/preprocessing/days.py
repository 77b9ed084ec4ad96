"""Local days: a member's kept fixes cut at local midnight into day tracks, rejected fixes counted per day."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from geoverify.preprocessing.cleaning import KEPT, REJECT_REASONS, count_reasons, usable_member_ids
from geoverify.preprocessing.providers import network_fixes, network_provider


@dataclass
class DayTrack:
    """The kept fixes of one member on one local date, in time order.

    ``time_ns`` is UTC nanoseconds since 1970, strictly increasing; ``lon``/``lat`` WGS-84
    degrees; ``accuracy`` metres (NaN unknown). ``synthetic`` marks points interpolated at
    local midnight so that a segment crossing it is shared by the two days; they are not
    input fixes. ``source``/``line`` say where each fix came from (for evidence).
    ``mock`` is True where the device marked the fix as a mock location; ``speed`` is the
    device-reported speed in m/s (NaN unknown); ``device_id`` the reporting device (None unknown);
    ``crs`` the coordinate system the input declared (``wgs84``, ``gcj02``, ``bd09``) before the
    positions were converted to WGS-84; ``network`` is True where the fix reports a network (cell or
    Wi-Fi) position: provider ``network``/``cell``/``wifi``, or an accuracy of exactly 0.
    """

    member_id: str
    date: dt.date
    time_ns: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    accuracy: np.ndarray
    synthetic: np.ndarray
    source: np.ndarray
    line: np.ndarray
    rejected: dict[str, int] = field(default_factory=dict)
    mock: np.ndarray | None = None
    speed: np.ndarray | None = None
    device_id: np.ndarray = None  # type: ignore[assignment]  # None: filled in by __post_init__
    crs: np.ndarray = None  # type: ignore[assignment]  # None: filled in by __post_init__
    network: np.ndarray | None = None

    def __post_init__(self):
        n = len(self.time_ns)
        if self.network is None:
            self.network = network_fixes(None, self.accuracy) if len(self.accuracy) == n else np.zeros(n, bool)
        if self.mock is None:
            self.mock = np.zeros(n, dtype=bool)
        if self.speed is None:
            self.speed = np.full(n, np.nan)
        if self.device_id is None:
            self.device_id = np.full(n, None, dtype=object)
        if self.crs is None:
            self.crs = np.full(n, "wgs84", dtype=object)

    @property
    def kept(self) -> int:
        """Number of input fixes kept (synthetic points excluded)."""
        return int(len(self.time_ns) - self.synthetic.sum())


NS_PER_DAY = 86_400 * 10**9


def _local_ns(time: pd.Series, tz: str) -> np.ndarray:
    """Wall-clock nanoseconds in ``tz`` (as if the local time were UTC); invalid for NaT."""
    local = time.dt.tz_convert(tz).dt.tz_localize(None)
    return local.to_numpy(dtype="datetime64[ns]").astype(np.int64)


def split_days(
    fixes: pd.DataFrame, tz: str, max_gap_s: np.ndarray, rows: np.ndarray | None = None
) -> dict[tuple[str, dt.date], dict]:
    """Cut each member's kept fixes into local days.

    A segment no longer than its member's ``max_gap_s`` that crosses local midnight gets a
    point interpolated at midnight, given to both days, so no patrol time is lost or counted
    twice; longer segments (gaps) belong to neither day.

    Parameters
    ----------
    fixes : pandas.DataFrame
        A fix table.
    max_gap_s : numpy.ndarray
        Per fix of ``rows``, the gap threshold of its member's rules (seconds).
    rows : numpy.ndarray of int, optional
        Positions of the kept fixes in ``fixes`` (default: every row), so that the table is not
        copied to leave the rejected ones out.

    Returns
    -------
    dict
        (member_id, date) → column arrays ``time_ns, lon, lat, accuracy, synthetic, source, line,
        mock, speed, device_id, crs, network``.
    """
    rows = np.arange(len(fixes)) if rows is None else np.asarray(rows)
    if not len(rows):
        return {}
    # Per-fix strings are never made: member ids are factorised from the column as it is
    # (categorical from the readers), and only the kept rows' values are gathered, once.
    codes, uniques = pd.factorize(fixes["member_id"])
    time_all = fixes["time"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    codes, time_ns = codes[rows], time_all[rows]
    by_time = np.lexsort((time_ns, codes))
    order = rows[by_time]
    codes, time_ns = codes[by_time], time_ns[by_time]
    local = _local_ns(fixes["time"].iloc[order], tz)
    cols = {
        "lon": fixes["lon"].to_numpy(dtype=float)[order],
        "lat": fixes["lat"].to_numpy(dtype=float)[order],
        "accuracy": fixes["accuracy"].to_numpy(dtype=float, na_value=np.nan)[order],
        "source": fixes["source"].to_numpy(dtype=object)[order],
        "line": fixes["line"].to_numpy(dtype=np.int64)[order],
        "mock": fixes["mock"].to_numpy(dtype=bool, na_value=False)[order],
        "speed": fixes["speed"].to_numpy(dtype=float, na_value=np.nan)[order],
        "device_id": fixes["device_id"].to_numpy(dtype=object, na_value=None)[order],  # type: ignore[call-overload]  # pandas-stubs lack na_value=None
        "crs": fixes["crs"].to_numpy(dtype=object)[order],
    }
    cols["network"] = network_fixes(_network_provider(fixes["provider"])[order], cols["accuracy"])
    gap_limit = np.asarray(max_gap_s, dtype=float)[by_time]
    day = np.floor_divide(local, NS_PER_DAY)
    synthetic = np.zeros(len(order), dtype=bool)

    # Segments that cross local midnight and are not gaps: interpolate a point at midnight.
    same_member = codes[1:] == codes[:-1]
    crossing = np.flatnonzero(
        same_member & (day[1:] != day[:-1]) & ((time_ns[1:] - time_ns[:-1]) <= gap_limit[1:] * 1e9)
    )
    if len(crossing):
        a, b = crossing, crossing + 1
        midnight_local = day[b] * NS_PER_DAY
        offset = local[b] - time_ns[b]
        mid_ns = midnight_local - offset
        f = (mid_ns - time_ns[a]) / (time_ns[b] - time_ns[a])
        ins = {
            "lon": cols["lon"][a] + f * (cols["lon"][b] - cols["lon"][a]),
            "lat": cols["lat"][a] + f * (cols["lat"][b] - cols["lat"][a]),
            "accuracy": np.full(len(a), np.nan),
            "source": np.full(len(a), "(interpolated at local midnight)", dtype=object),
            "line": np.zeros(len(a), dtype=np.int64),
            "mock": cols["mock"][a] & cols["mock"][b],
            "speed": np.full(len(a), np.nan),
            "device_id": cols["device_id"][a],
            "crs": cols["crs"][a],
            "network": np.zeros(len(a), dtype=bool),
        }
        # Each midnight point ends day a and starts day b (unless fix b is itself at midnight).
        into_b = mid_ns < time_ns[b]
        codes = np.concatenate([codes, codes[a], codes[b][into_b]])
        time_ns = np.concatenate([time_ns, mid_ns, mid_ns[into_b]])
        day = np.concatenate([day, day[a], day[b][into_b]])
        synthetic = np.concatenate([synthetic, np.ones(len(a) + int(into_b.sum()), dtype=bool)])
        for name in cols:
            cols[name] = np.concatenate([cols[name], ins[name], ins[name][into_b]])
        order = np.lexsort((time_ns, day, codes))
        codes, time_ns, day, synthetic = codes[order], time_ns[order], day[order], synthetic[order]
        cols = {k: v[order] for k, v in cols.items()}

    starts = np.flatnonzero(np.concatenate([[True], (codes[1:] != codes[:-1]) | (day[1:] != day[:-1])]))
    ends = np.append(starts[1:], len(codes))
    out = {}
    for s, e in zip(starts.tolist(), ends.tolist()):
        key = (str(uniques[codes[s]]), _epoch_day_to_date(int(day[s])))
        out[key] = {"time_ns": time_ns[s:e], "synthetic": synthetic[s:e], **{k: v[s:e] for k, v in cols.items()}}
    return out


def _network_provider(provider: pd.Series) -> np.ndarray:
    """Per row, whether the provider names a network position: judged once per distinct name."""
    codes, uniques = pd.factorize(provider)
    names = network_provider(uniques)
    return names[codes] & (codes >= 0) if len(names) else np.zeros(len(codes), dtype=bool)


def _epoch_day_to_date(day: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=day)


def rejected_by_patrol(
    fixes: pd.DataFrame, reasons: np.ndarray, tz: str
) -> tuple[dict[tuple[str, dt.date], dict[str, int]], dict[str, int]]:
    """Rejection counts per (member, local date), and counts of rejected fixes without a member or time.

    Parameters
    ----------
    fixes : pandas.DataFrame
        A fix table.
    reasons : numpy.ndarray
        Each fix's reason (:func:`geoverify.preprocessing.cleaning.rejection_reasons`).
    tz : str
        IANA zone of the local dates.
    """
    rejected = reasons != KEPT
    dated = rejected & usable_member_ids(fixes["member_id"]) & fixes["time"].notna().to_numpy()
    per_patrol: dict[tuple[str, dt.date], dict[str, int]] = {}
    if dated.any():
        sub = fixes.loc[dated, ["member_id", "time"]]
        days = np.floor_divide(_local_ns(sub["time"], tz), NS_PER_DAY)
        frame = pd.DataFrame({"m": sub["member_id"].to_numpy(dtype=object), "d": days, "r": reasons[dated]})
        for member, day, reason, count in frame.value_counts().reset_index().itertuples(index=False, name=None):
            counts = per_patrol.setdefault(
                (str(member), _epoch_day_to_date(int(day))), dict.fromkeys(REJECT_REASONS, 0)
            )
            counts[reason] = int(count)
    unassigned = count_reasons(np.where(rejected & ~dated, reasons, KEPT))
    return per_patrol, unassigned
