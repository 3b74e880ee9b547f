"""Interval metrics per horizon: empirical coverage, mean width and the interval (Winkler) score.

For a band ``[l, u]`` at level ℓ % (α = 1 − ℓ/100) and a truth y, per target column:

- ``coverage`` = mean 1{l ≤ y ≤ u} (a fraction; ℓ/100 is the goal);
- ``width`` = mean (u − l), in the data's units;
- ``winkler`` = mean [(u − l) + (2/α)(l − y)⁺ + (2/α)(y − u)⁺] (Winkler 1972; the interval
  score of Gneiting & Raftery 2007): lower is better, a narrow band pays for every miss.

For a position group (AIS east/north in metres, a marker's x/y/z in mm) with predicted position
p, radius r and distance d = ‖y − p‖: ``coverage`` = mean 1{d ≤ r}, ``width`` = mean 2r (the
diameter, so that a one-coordinate group matches the band above) and ``winkler`` =
mean [2r + (2/α)(d − r)⁺].

:func:`interval_rows` tabulates them per model, horizon, level and unit (every target column,
``all`` target columns pooled — their widths then mix the columns' units —, every position
group), over the scored (origin, horizon) pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from tsgate.exceptions import ConfigError

__all__ = ["INTERVAL_METRICS", "band_scores", "radius_scores", "interval_rows", "INTERVAL_COLUMNS"]

INTERVAL_METRICS = ("coverage", "width", "winkler")
INTERVAL_COLUMNS = ["model", "horizon", "level", "unit", "metric", "value", "n"]


def band_scores(lower: np.ndarray, upper: np.ndarray, truth: np.ndarray, level: float) -> dict[str, np.ndarray]:
    """Per element: ``covered`` (bool), ``width`` and ``winkler`` of bands at ``level`` percent."""
    a = 1.0 - float(level) / 100.0
    if not 0 < a < 1:
        raise ConfigError(f"level must be a percentage in (0, 100), got {level!r}.")
    lo, hi, y = (np.asarray(v, dtype=np.float64) for v in (lower, upper, truth))
    width = hi - lo
    with np.errstate(invalid="ignore"):
        wink = width + (2 / a) * np.maximum(lo - y, 0) + (2 / a) * np.maximum(y - hi, 0)
        return {"covered": (lo <= y) & (y <= hi), "width": width, "winkler": wink}


def radius_scores(radius: np.ndarray, pred: np.ndarray, truth: np.ndarray, level: float) -> dict[str, np.ndarray]:
    """Per position (rows of ``pred``/``truth`` [n, c]): ``covered``, ``width`` (2r), ``winkler``."""
    a = 1.0 - float(level) / 100.0
    r = np.asarray(radius, dtype=np.float64)
    d = np.sqrt(((np.asarray(truth, dtype=np.float64) - np.asarray(pred, dtype=np.float64)) ** 2).sum(axis=-1))
    with np.errstate(invalid="ignore"):
        return {"covered": d <= r, "width": 2 * r, "winkler": 2 * r + (2 / a) * np.maximum(d - r, 0)}


def interval_rows(
    bands: dict[str, tuple[np.ndarray, tuple[tuple[str, ...], ...]]],
    preds: dict[str, np.ndarray],
    truth: np.ndarray,
    labels: Sequence[str],
    levels: Sequence[float],
    targets: Sequence[str],
    groups: Sequence[tuple[str, ...]],
    scored: np.ndarray,
) -> pd.DataFrame:
    """Tidy interval metrics over the ``scored`` [n, H] pairs.

    ``bands[model] = (halfwidth [n, L, H, U], the model's position groups)``, as
    :class:`~tsgate.estimators.forecasts.Forecasts` holds them; ``groups`` are the backtest's
    position groups (a model's radius is scored where its groups name the same columns).
    """
    k = len(targets)
    out: list[tuple[Any, ...]] = []
    for name, (hw, model_groups) in bands.items():
        pr = preds[name]
        for li, lv in enumerate(levels):
            for hi, lab in enumerate(labels):
                ok = scored[:, hi] & np.isfinite(hw[:, li, hi, :k]).all(axis=1)
                p, y, w = pr[ok, hi], truth[ok, hi], hw[ok, li, hi]
                s = band_scores(p - w[:, :k], p + w[:, :k], y, lv)
                for j, t in enumerate(targets):
                    out += [(name, lab, lv, t, m, _mean(s[key][:, j]), int(ok.sum()))
                            for m, key in (("coverage", "covered"), ("width", "width"), ("winkler", "winkler"))]
                out += [(name, lab, lv, "all", m, _mean(s[key]), int(ok.sum()) * k)
                        for m, key in (("coverage", "covered"), ("width", "width"), ("winkler", "winkler"))]
                for g in groups:
                    if tuple(g) not in model_groups:
                        continue
                    u = k + list(model_groups).index(tuple(g))
                    cols = [list(targets).index(c) for c in g]
                    sg = radius_scores(w[:, u], p[:, cols], y[:, cols], lv)
                    unit = "+".join(g)
                    out += [(name, lab, lv, unit, m, _mean(sg[key]), int(ok.sum()))
                            for m, key in (("coverage", "covered"), ("width", "width"), ("winkler", "winkler"))]
    return pd.DataFrame(out, columns=INTERVAL_COLUMNS)


def _mean(a: np.ndarray) -> float:
    return float(np.mean(a)) if np.size(a) else float("nan")
