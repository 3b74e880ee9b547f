"""Small helpers shared by the baselines (numpy only)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tsgate.exceptions import ConfigError
from tsgate.data.horizons import Horizon
from tsgate.data.windows import Windows

__all__ = ["lead_times", "check_int", "window_values"]


def check_int(name: str, value: Any, minimum: int, owner: str) -> int:
    """Validate an integer parameter (raises ConfigError naming it)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"The {name!r} parameter of {owner} must be an int ≥ {minimum}. Got {value!r} instead.")
    return int(value)


def window_values(w: Windows) -> np.ndarray:
    """The target part of the inputs, float64 [n, L, k]."""
    k = len(w.target_names)
    return np.asarray(w.x[:, :, :k], dtype=np.float64)


def mean_interval(w: Windows) -> np.ndarray:
    """[n] mean Δt (seconds) between the real observations of each window; NaN with one observation."""
    dt = np.asarray(w.dt, dtype=np.float64)
    real = w.mask & (dt > 0)
    cnt = real.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, (dt * real).sum(axis=1) / np.maximum(cnt, 1), np.nan)


def lead_times(w: Windows, horizons: tuple[Horizon, ...], *, use_target_time: bool) -> np.ndarray:
    """Lead time of every (window, horizon) in seconds, [n, H].

    Duration horizons: the duration itself. Step horizons: the target's own time minus the
    origin's when ``use_target_time`` and that time is known (backtests, where the sampling
    times of later observations are in the data), otherwise ``h`` × the window's mean Δt
    (the only estimate available at the origin).
    """
    n = len(w)
    out = np.empty((n, len(horizons)))
    est = mean_interval(w)
    for k, h in enumerate(horizons):
        if h.kind == "duration":
            out[:, k] = h.value
        else:
            guess = h.value * est
            if use_target_time:
                known = w.target_time[:, k] - w.origin_time
                out[:, k] = np.where(np.isfinite(known), known, guess)
            else:
                out[:, k] = guess
    return out
