"""The origins of a backtest and their truths: every scored (origin, horizon) pair.

Per series, rows in time order, the first ``train`` rows train, the next ``val`` rows validate
(never scored; online models learn through them), the rest is the test part
(:mod:`tsgate.data.splits`). Every test observation with at least one known target is an
origin (every ``stride``-th of them). Truths come from the same windowing as training targets:
duration targets are interpolated between the observations bracketing them, and ``max_gap``
drops wide brackets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tsgate.data.columns import ID, SEGMENT
from tsgate.data.horizons import Horizon
from tsgate.data.series import IrregularSeries
from tsgate.data.splits import ChronologicalSplit, chronological_split
from tsgate.data.windows import make_windows

__all__ = ["TimeCut", "global_cut", "split_rows", "test_origins"]


@dataclass(frozen=True)
class TimeCut:
    """A global cut: every row at or before ``time_s`` (seconds, as ``IrregularSeries.time_seconds()``)
    trains, whatever its series; no validation part."""

    time_s: float


def global_cut(series: IrregularSeries, fraction: float) -> TimeCut:
    """The time at ``fraction`` of the whole data's time span (all series together)."""
    t = series.time_seconds()
    return TimeCut(float(t.min() + fraction * (t.max() - t.min())))


def split_rows(series: IrregularSeries, train: Any, val: Any) -> ChronologicalSplit:
    """The train / validation / test cut of every series (per row of ``series.frame``)."""
    ids = series.frame[ID].to_numpy()
    if isinstance(train, TimeCut):
        before = pd.Series(series.time_seconds() <= train.time_s).groupby(ids, sort=False).transform("sum").to_numpy()
        base = chronological_split(ids, 0, 0, what="backtest")
        return ChronologicalSplit(base.position, before.astype(np.int64), before.astype(np.int64))
    return chronological_split(ids, train, val, what="backtest")


def test_origins(series: IrregularSeries, hs: tuple[Horizon, ...], split: ChronologicalSplit, max_gap: Any, stride: int) -> dict[str, np.ndarray]:
    """Arrays over the scored origins: ``series``, ``origin_row`` (row within its series),
    ``origin_s`` and ``target_s`` (seconds), ``segment`` and the truths ``y`` [n, H, k]."""
    w = make_windows(series, 1, hs, max_gap=max_gap, targets="optional")
    sid = w.inputs.ids
    first_row = {}
    ids = series.frame[ID].to_numpy()
    for s in np.flatnonzero(split.position == 0):
        first_row[ids[s]] = s
    frame_row = np.array([first_row[s] for s in sid], dtype=np.int64) + w.origin_row
    keep = (w.origin_row >= split.val_end[frame_row]) & np.isfinite(w.y).all(axis=2).any(axis=1)
    idx = np.flatnonzero(keep)
    if stride > 1 and len(idx):
        rank = pd.Series(np.arange(len(idx))).groupby(sid[idx]).cumcount().to_numpy()
        idx = idx[rank % stride == 0]
    seg = series.frame[SEGMENT].to_numpy()
    return {
        "series": sid[idx],
        "origin_row": w.origin_row[idx],
        "origin_s": w.origin_time[idx],
        "target_s": w.target_time[idx],
        "segment": seg[frame_row[idx]],
        "y": w.y[idx],
    }
