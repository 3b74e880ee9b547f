"""Causal history on a fixed time grid: lagged values and a rolling amplitude (numpy only).

A model that reads its history at fixed time offsets (e.g. every 0.1 s over the last 6 s)
instead of "the last L samples" sees the same input at every sampling rate and on irregular
clocks. The value at ``t_o - d`` is the linear interpolation between the two observations that
bracket that time; both are at or before the origin ``t_o``, so nothing after an origin is read.
Before the first observation the first value is used.

The amplitude of a coordinate at an origin is the population standard deviation of its
observations in the last ``window`` seconds up to and including the origin, floored (a flat
coordinate would otherwise divide by zero).
"""

from __future__ import annotations

import numpy as np

__all__ = ["lag_offsets", "lagged", "lagged_at", "rolling_std", "stretched"]


def lag_offsets(n_lags: int, spacing: float) -> np.ndarray:
    """[n_lags] offsets back from an origin, seconds: ``spacing, 2 spacing, ..., n_lags spacing``."""
    return spacing * np.arange(1, int(n_lags) + 1, dtype=np.float64)


def lagged(t: np.ndarray, x: np.ndarray, origins: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """[n_o, n_lags, k] values at ``t[origins] - offsets`` for the observation indices ``origins``.

    ``t`` [n] increasing seconds, ``x`` [n, k]. Each value is interpolated between observations
    at or before its origin (clamped to the first observation).
    """
    t = np.asarray(t, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    q = t[origins][:, None] - offsets[None, :]
    hi = np.searchsorted(t, q, side="right")  # first observation after the query time
    hi = np.clip(hi, 1, len(t) - 1) if len(t) > 1 else np.zeros_like(hi)
    lo = hi - 1 if len(t) > 1 else hi
    span = t[hi] - t[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(span > 0, (q - t[lo]) / np.where(span > 0, span, 1.0), 0.0)
    w = np.clip(w, 0.0, 1.0)[..., None]
    return x[lo] + w * (x[hi] - x[lo])


def lagged_at(t: np.ndarray, x: np.ndarray, t_query: np.ndarray) -> np.ndarray:
    """[m, k] values at the times ``t_query`` (all at or before ``t[-1]``), interpolated as :func:`lagged`."""
    t = np.asarray(t, dtype=np.float64)
    if len(t) == 1:
        return np.repeat(np.asarray(x, dtype=np.float64)[:1], len(t_query), axis=0)
    # np.minimum/np.maximum rather than np.clip: the same values at a fraction of the call
    # overhead (this runs once per observation in the analog engine)
    hi = np.minimum(np.maximum(np.searchsorted(t, t_query, side="right"), 1), len(t) - 1)
    lo = hi - 1
    tlo = t[lo]
    span = t[hi] - tlo
    span[span <= 0] = 1.0
    w = (t_query - tlo) / span
    np.maximum(w, 0.0, out=w)
    np.minimum(w, 1.0, out=w)
    xlo = x[lo]
    return xlo + w[:, None] * (x[hi] - xlo)


def rolling_std(t: np.ndarray, x: np.ndarray, window: float, floor: np.ndarray | float) -> np.ndarray:
    """[n, k] population std of each coordinate over the observations in ``(t_i - window, t_i]``, floored."""
    t = np.asarray(t, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    x = x - x[:1]  # sums of values near 0: no cancellation for positions far from the origin
    n = len(t)
    c1 = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0)])
    c2 = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(x * x, axis=0)])
    hi = np.arange(1, n + 1)
    lo = np.searchsorted(t, t - window, side="right")
    cnt = (hi - lo)[:, None].astype(np.float64)
    mean = (c1[hi] - c1[lo]) / cnt
    var = np.maximum((c2[hi] - c2[lo]) / cnt - mean * mean, 0.0)
    return np.maximum(np.sqrt(var), floor)


def stretched(t: np.ndarray, x: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """The recording played ``factor`` times faster, ``x'(t) = x(factor t)``, on its own median clock.

    Used to augment pre-training data with faster and slower breathing.
    """
    t = np.asarray(t, dtype=np.float64)
    dt = float(np.median(np.diff(t))) if len(t) > 1 else 1.0
    t_new = t[0] + np.arange(0.0, (t[-1] - t[0]) / factor + 1e-12, dt)
    src = t[0] + (t_new - t[0]) * factor
    x_new = np.stack([np.interp(src, t, x[:, c]) for c in range(x.shape[1])], axis=1)
    return t_new, x_new
