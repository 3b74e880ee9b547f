"""Runs of rows: the one routine that finds where each series or segment starts and ends.

A *run* is a maximal block of consecutive rows with the same label (a series id, a segment
number, or both). Windows never cross the start of a run; ARIMA fits within one; the AIS
adapter numbers voyages with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Runs", "runs", "runs_from_starts"]


@dataclass(frozen=True)
class Runs:
    """Per row: the first row of its run (``start``), the row after its run (``end``) and the
    run's number (``index``, 0, 1, ...)."""

    start: np.ndarray
    end: np.ndarray
    index: np.ndarray

    @property
    def position(self) -> np.ndarray:
        """[n] position of each row within its run (0 at the run's first row)."""
        return np.arange(len(self.start)) - self.start

    @property
    def first_rows(self) -> np.ndarray:
        """The first row of every run, in order."""
        return np.flatnonzero(self.position == 0)


def runs_from_starts(is_start: np.ndarray) -> Runs:
    """Runs from a boolean array that is True at the first row of each run (row 0 always starts one)."""
    new = np.asarray(is_start, dtype=bool).copy()
    n = len(new)
    if n == 0:
        empty = np.zeros(0, np.int64)
        return Runs(empty, empty, empty)
    new[0] = True
    firsts = np.flatnonzero(new)
    index = np.cumsum(new) - 1
    start = firsts[index]
    end = np.r_[firsts[1:], n][index]
    return Runs(start.astype(np.int64), end.astype(np.int64), index.astype(np.int64))


def runs(*labels: np.ndarray) -> Runs:
    """Runs of equal labels; with several label arrays a run ends where any of them changes."""
    arrays = [np.asarray(a) for a in labels]
    n = len(arrays[0]) if arrays else 0
    change = np.zeros(n, dtype=bool)
    for a in arrays:
        if n:
            change[1:] |= a[1:] != a[:-1]
    return runs_from_starts(change)
