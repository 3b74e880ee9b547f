"""Chronological cuts: the one rule that turns ``train``/``val`` sizes into row positions.

``train`` and ``val`` are, per series, a fraction of its rows (``0 <= x < 1``, rounded down) or
a whole row count (an int, e.g. the ExtMarker protocol's 300 samples). Rows before the first cut
are the training part, rows before the second the validation part, the rest the test part;
nothing is shuffled. The same rule cuts an estimator's training windows into a training and a
validation part (:func:`validation_cut`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tsgate.data.segments import runs
from tsgate.exceptions import ConfigError

__all__ = ["row_cut", "ChronologicalSplit", "chronological_split", "validation_cut", "validation_cut_times"]


def row_cut(sizes: np.ndarray, x: Any, name: str) -> np.ndarray:
    """Rows per series for a part given as a fraction of ``sizes`` or as a whole row count."""
    sizes = np.asarray(sizes, dtype=np.int64)
    ok = not isinstance(x, (bool, np.bool_)) and isinstance(x, (int, float, np.integer, np.floating)) and x >= 0
    if not ok:
        raise ConfigError(f"{name}= must be a fraction in [0, 1) or a whole row count ≥ 0, got {x!r}.")
    if isinstance(x, (int, np.integer)):
        return np.full_like(sizes, int(x))
    if x >= 1:
        raise ConfigError(f"{name}= must be a fraction below 1 or an integer row count, got {x!r}.")
    return np.floor(sizes * float(x)).astype(np.int64)


@dataclass(frozen=True)
class ChronologicalSplit:
    """Per row of a long frame: its position in its series and the two cut positions of that series."""

    position: np.ndarray
    train_end: np.ndarray
    val_end: np.ndarray

    @property
    def train(self) -> np.ndarray:
        return self.position < self.train_end

    @property
    def val(self) -> np.ndarray:
        return (self.position >= self.train_end) & (self.position < self.val_end)

    @property
    def test(self) -> np.ndarray:
        return self.position >= self.val_end


def chronological_split(ids: np.ndarray, train: Any, val: Any = 0.0, *, what: str = "split") -> ChronologicalSplit:
    """Cut every series into train / validation / test; ``ids`` holds the series id of each row,
    rows grouped by series and in time order (as in ``IrregularSeries.frame``)."""
    r = runs(np.asarray(ids))
    sizes = r.end - r.start
    a = row_cut(sizes, train, f"{what} train")
    b = a + row_cut(sizes, val, f"{what} val")
    return ChronologicalSplit(r.position, a, b)


def validation_cut(origin_time: np.ndarray, reveal_time: np.ndarray, series_index: np.ndarray,
                   fraction: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training and validation windows: a time cut per series.

    Per series, the origins in the last ``fraction`` of its origins' time span validate; the
    others train. A training window keeps a horizon's target only if it is revealed by the cut
    (purging per horizon: a 30-min target that crosses the cut is dropped, the window's 30-s
    target is kept), so no validation truth reaches training and short horizons keep nearly all
    their windows. Windows left with no target at all do not train. Returns the training mask
    [n], the kept training targets [n, H] and the validation mask [n].
    """
    n, H = reveal_time.shape
    train = np.zeros(n, bool)
    keep = np.zeros((n, H), bool)
    val = np.zeros(n, bool)
    for s, cut in validation_cut_times(origin_time, series_index, fraction).items():
        idx = np.flatnonzero(series_index == s)
        t = origin_time[idx]
        val[idx] = t > cut
        k = (reveal_time[idx] <= cut) & (t <= cut)[:, None]
        keep[idx] = k
        train[idx] = k.any(axis=1)
    return train, keep, val


def validation_cut_times(origin_time: np.ndarray, series_index: np.ndarray, fraction: float) -> dict[int, float]:
    """Per series index the cut time (seconds) of :func:`validation_cut`: origins after it validate."""
    out: dict[int, float] = {}
    for s in np.unique(series_index):
        t = origin_time[series_index == s]
        out[int(s)] = float(t.max() - fraction * (t.max() - t.min()))
    return out
