"""What the baselines compute from input windows: lead times and sampling intervals (numpy only).

A duration horizon's lead time is the duration. A step horizon's is not known when the forecast
is made (the h-th next observation has not arrived), so the baselines estimate it as ``h`` times
a sampling interval that is known at the origin: the mean interval of the input window
(:func:`mean_interval`) or the series' typical interval measured on the training data
(:func:`typical_interval`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tsgate.data.segments import runs
from tsgate.data.series import IrregularSeries
from tsgate.data.windows import Inputs

__all__ = ["lead_times", "mean_interval", "typical_interval", "typical_intervals", "series_intervals"]


def mean_interval(X: Inputs) -> np.ndarray:
    """[n] mean Δt (seconds) between the real observations of each window; NaN with one observation."""
    real = X.mask & (X.dt > 0)
    cnt = real.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, (X.dt * real).sum(axis=1) / np.maximum(cnt, 1), np.nan)


def typical_interval(time_s: np.ndarray, segment: np.ndarray) -> float:
    """Median interval (seconds) between consecutive observations within a segment; NaN if none."""
    same = runs(segment).position[1:] > 0 if len(segment) else np.zeros(0, bool)
    d = np.diff(time_s)[same]
    d = d[d > 0]
    return float(np.median(d)) if len(d) else float("nan")


def typical_intervals(data: IrregularSeries) -> dict[Any, float]:
    """The typical interval of every series of ``data`` (see :func:`typical_interval`)."""
    return {g.series_id: typical_interval(g.time_s, g.segment) for g in data.groups()}


def series_intervals(X: Inputs, intervals: dict[Any, float]) -> np.ndarray:
    """[n] the fitted typical interval of each window's series; the median over the fitted series
    for a series not seen in fit, the window's own mean interval if neither is known."""
    known = np.array([v for v in intervals.values() if np.isfinite(v)])
    pooled = float(np.median(known)) if len(known) else np.nan
    out = np.array([intervals.get(s, pooled) for s in X.ids], dtype=np.float64) if len(X) else np.zeros(0)
    return np.where(np.isfinite(out), out, mean_interval(X))


def lead_times(X: Inputs, step_interval: np.ndarray) -> np.ndarray:
    """Lead time of every (window, horizon) in seconds, [n, H]: the duration of a duration
    horizon; ``h × step_interval`` (seconds, per window) for a step horizon ``h``."""
    out = np.empty((len(X), len(X.horizons)))
    for k, h in enumerate(X.horizons):
        out[:, k] = h.value if h.kind == "duration" else h.value * step_interval
    return out
