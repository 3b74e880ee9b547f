"""Global scales fitted on training windows, which the network's normalisation uses.

``window_statistics`` measures them (numpy); ``apply_statistics`` copies them into a
:class:`~tsgate.nn.network.ForecastNet`'s buffers, so that saved weights and scales travel
together.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tsgate.data.windows import Windows

__all__ = ["window_statistics", "apply_statistics", "horizon_lead_s"]


def window_statistics(w: Windows) -> dict[str, Any]:
    """Global scales from training windows: what 'last'/'global' use, and 'instance' floors."""
    m = w.mask
    x = w.x
    valid = x[m]
    dt = w.dt[w.mask & (w.dt > 0)]
    # typical change of each feature across a window: the scale of what the model predicts
    first = np.argmax(m, axis=1)
    span = x[:, -1, :] - x[np.arange(len(x)), first, :]
    scale = np.std(span, axis=0) if len(x) > 1 else np.ones(x.shape[2])
    glob = np.std(valid, axis=0) if len(valid) > 1 else np.ones(x.shape[2])
    scale = np.where(scale > 1e-12, scale, np.where(glob > 1e-12, glob, 1.0))
    st = w.static
    return {
        "feature_loc": valid.mean(axis=0) if len(valid) else np.zeros(x.shape[2]),
        "feature_scale": scale,
        "global_scale": np.where(glob > 1e-12, glob, 1.0),
        "static_loc": st.mean(axis=0) if len(st) else np.zeros(st.shape[1]),
        "static_scale": np.where(st.std(axis=0) > 1e-12, st.std(axis=0), 1.0) if len(st) else np.ones(st.shape[1]),
        "dt_scale": float(np.median(dt)) if len(dt) else 1.0,
    }


def apply_statistics(net: Any, normalize: str, stats: dict[str, Any]) -> None:
    """Copy the scales into the network (``global`` normalisation divides by the global spread)."""
    s = dict(stats)
    if normalize == "global":
        s["feature_scale"] = s["global_scale"]
    net.set_statistics(s)


def horizon_lead_s(w: Windows) -> list[float]:
    """Typical lead time of each horizon, seconds: the duration, or for a step horizon the median
    time from origin to target over the training windows (whose targets are known)."""
    return [
        float(np.nanmedian(w.target_time[:, j] - w.origin_time)) if len(w) else 0.0 for j in range(len(w.horizons))
    ]
