"""Runs of flagged fixes or segments, and the time they cover: shared by the detectors."""

from __future__ import annotations

import numpy as np


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index, inclusive, of each run of True in ``mask``.

    Examples
    --------
    >>> runs(np.array([0, 1, 1, 0, 1], dtype=bool))
    [(1, 2), (4, 4)]
    """
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return []
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), (np.flatnonzero(edges == -1) - 1).tolist()))


def window_cover(n: int, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Fixes covered by at least one window ``[first[k], last[k]]`` (inclusive), over ``n`` fixes."""
    marks = np.zeros(n + 1, dtype=np.int64)
    np.add.at(marks, first, 1)
    np.add.at(marks, np.asarray(last) + 1, -1)
    return np.cumsum(marks[:-1]) > 0


class RangeTable:
    """Minimum and maximum of any index window of an array in O(1) after an O(n log n) build.

    A sparse table: level ``k`` holds the extremes of the windows of length ``2**k``; a window is
    covered by two overlapping power-of-two windows.
    """

    def __init__(self, values: np.ndarray):
        values = np.asarray(values, dtype=float)
        self.levels_min = [values]
        self.levels_max = [values]
        width = 1
        while 2 * width <= len(values):
            lo, hi = self.levels_min[-1], self.levels_max[-1]
            self.levels_min.append(np.minimum(lo[:-width], lo[width:]))
            self.levels_max.append(np.maximum(hi[:-width], hi[width:]))
            width *= 2

    def span(self, first: np.ndarray, last: np.ndarray) -> np.ndarray:
        """``max - min`` of each window ``[first, last]`` (inclusive, ``first <= last``)."""
        first, last = np.asarray(first), np.asarray(last)
        out = np.empty(len(first))
        level = np.floor(np.log2(last - first + 1)).astype(int)
        for k in np.unique(level).tolist():
            sel = level == k
            a, b = first[sel], last[sel] - (1 << k) + 1
            lo, hi = self.levels_min[k], self.levels_max[k]
            out[sel] = np.maximum(hi[a], hi[b]) - np.minimum(lo[a], lo[b])
        return out
