"""Which member-days a batch of fixes touches (the upload's queue entries): each fix's local date,
and with a margin the dates within that margin either side (a segment across midnight changes
both days)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from geoverify.store.verification import member_day_keys


def _one_by_one(members, time_ns, tz: str, margin_s: float) -> set:
    """The same, fix by fix in plain Python: each fix's minute, and that minute moved by
    ``margin_s // 60 + 1`` minutes either side when there is a margin."""
    zone = ZoneInfo(tz)
    reach = int(margin_s // 60) + 1 if margin_s else 0
    out = set()
    for member, t in zip(members, time_ns):
        minute = int(t) // 60_000_000_000
        for shift in {0, reach, -reach}:
            out.add((member, dt.datetime.fromtimestamp((minute + shift) * 60, zone).date()))
    return out


def test_a_fix_near_midnight_touches_both_days_with_a_margin():
    late = pd.Timestamp("2026-11-02T23:57:00+08:00").value
    noon = pd.Timestamp("2026-11-02T12:00:00+08:00").value
    members = np.array(["M001", "M002"], dtype=object)
    times = np.array([late, noon], dtype=np.int64)
    day, next_day = dt.date(2026, 11, 2), dt.date(2026, 11, 3)
    assert member_day_keys(members, times, "Asia/Shanghai") == {("M001", day), ("M002", day)}
    assert member_day_keys(members, times, "Asia/Shanghai", margin_s=300) == {
        ("M001", day),
        ("M001", next_day),
        ("M002", day),
    }
    assert member_day_keys(np.array([], dtype=object), np.array([], dtype=np.int64), "Asia/Shanghai") == set()


@pytest.mark.parametrize("tz", ["Asia/Shanghai", "America/New_York"])
@pytest.mark.parametrize("margin_s", [0.0, 300.0])
def test_member_days_are_those_of_each_fix(tz, margin_s):
    rng = np.random.default_rng(7)
    # Fixes around midnights and the two DST changes of 2026 in New York (8 March, 1 November).
    starts = [pd.Timestamp(s, tz=tz).value for s in ("2026-03-07 23:00", "2026-10-31 23:00", "2026-11-02 23:50")]
    times = np.concatenate([s + rng.integers(0, 30 * 3600, 400) * 10**9 for s in starts]).astype(np.int64)
    members = np.array([f"M{k:03d}" for k in rng.integers(0, 12, len(times))], dtype=object)
    assert member_day_keys(members, times, tz, margin_s=margin_s) == _one_by_one(members, times, tz, margin_s)
