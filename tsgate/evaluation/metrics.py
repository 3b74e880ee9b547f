"""Forecast error metrics (numpy), per horizon, per series and pooled.

Every metric takes predictions and truths for **one horizon** as arrays ``[n, k]`` (n origins,
k target columns) and an optional list of *position groups*: tuples of column indices whose
error is the Euclidean distance between predicted and true position (``[(0, 1)]`` for AIS
east/north in metres, ``[(0, 3, 6), (1, 4, 7), (2, 5, 8)]`` for three markers' x/y/z in mm).
Columns not in a group are scalar "units" with the absolute error. For each unit u and origin t
the error is ``e(u, t)``; then

- ``MAE = mean e``, ``RMSE = sqrt(mean e²)``, ``max_error = max e`` (over units and origins);
- ``nRMSE = sqrt(Σ_{t,c} (p - y)²) / sqrt(Σ_{t,c} (y - mean_t y)²)`` over every coordinate c,
  the mean taken per coordinate (and per series) over the evaluated origins — the definition of
  the ExtMarker protocol (Pohl et al.); pooled over series, numerator and denominator are summed
  over series, each series centred on its own means;
- ``sMAPE = 100 · mean_{t,c} 2|p - y| / (|p| + |y|)`` over every coordinate (0 where p = y = 0;
  Makridakis 1993, the M4 definition);
- ``RPD`` (relative percentage difference) ``= 100 · mean_{u,t} ‖p - y‖ / ((‖p‖ + ‖y‖) / 2)``,
  the formula |p − y| / ((|p| + |y|)/2) used for AIS message forecasting by Spadon et al. (2022),
  applied per unit: for scalar columns it equals sMAPE; for a position group it uses the vector
  norms. Both percentages depend on the coordinate origin for positions in local metres and are
  meaningful for positive quantities (speed, raw lat/lon), as in that paper;
- ``jitter = mean_{u,t} ‖p(t+1) - p(t)‖`` between consecutive predictions of the same horizon
  within one series (and segment), as in the ExtMarker protocol.

Units: the data's (metres for AIS positions, mm for markers); nRMSE is unitless; sMAPE and RPD
are percentages.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tsgate.exceptions import ConfigError

__all__ = [
    "METRICS",
    "resolve_groups",
    "unit_errors",
    "mae",
    "rmse",
    "max_error",
    "nrmse",
    "smape",
    "rpd",
    "jitter",
    "compute",
    "mean_ci",
]

METRICS = ("mae", "rmse", "nrmse", "max_error", "smape", "rpd", "jitter")
Groups = Sequence[Sequence[int]] | None


def resolve_groups(targets: Sequence[str], position_groups: Any = None) -> list[tuple[int, ...]]:
    """Error units as column-index tuples: each position group, then every other column alone.

    ``position_groups`` holds tuples of column names (``[("east_m", "north_m")]``) or indices.
    """
    targets = list(targets)
    units: list[tuple[int, ...]] = []
    used: set[int] = set()
    for grp in position_groups or ():
        if isinstance(grp, (str, int)):
            raise ConfigError(f"each position group must be a tuple of columns, e.g. ('east_m', 'north_m'); got {grp!r}.")
        idx = []
        for c in grp:
            if isinstance(c, (int, np.integer)) and not isinstance(c, bool):
                if not 0 <= c < len(targets):
                    raise ConfigError(f"position group {grp!r}: column index {c} out of range (0..{len(targets) - 1}).")
                idx.append(int(c))
            elif c in targets:
                idx.append(targets.index(c))
            else:
                raise ConfigError(f"position group {grp!r}: {c!r} is not a target column; targets are {targets}.")
        if len(idx) < 1 or len(set(idx)) != len(idx) or used & set(idx):
            raise ConfigError(f"position group {grp!r} is empty, repeats a column or overlaps another group.")
        used |= set(idx)
        units.append(tuple(idx))
    units += [(j,) for j in range(len(targets)) if j not in used]
    return units


def _units(k: int, groups: Groups) -> list[tuple[int, ...]]:
    if groups is None:
        return [(j,) for j in range(k)]
    names = [str(j) for j in range(k)]
    return resolve_groups(names, [tuple(int(c) for c in g) for g in groups])


def _check(pred: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred, dtype=np.float64)
    y = np.asarray(truth, dtype=np.float64)
    if p.ndim == 1:
        p = p[:, None]
    if y.ndim == 1:
        y = y[:, None]
    if p.shape != y.shape:
        raise ConfigError(f"predictions {p.shape} and truths {y.shape} must have the same shape [n, k].")
    return p, y


def unit_errors(pred: np.ndarray, truth: np.ndarray, groups: Groups = None) -> np.ndarray:
    """[n, U] error per origin and unit: Euclidean distance for a group, |p - y| for a column."""
    p, y = _check(pred, truth)
    d = p - y
    return np.stack([np.sqrt((d[:, list(u)] ** 2).sum(axis=1)) for u in _units(p.shape[1], groups)], axis=1)


def mae(pred: np.ndarray, truth: np.ndarray, groups: Groups = None) -> float:
    """Mean absolute error (mean Euclidean distance for position groups)."""
    e = unit_errors(pred, truth, groups)
    return float(e.mean()) if e.size else float("nan")


def rmse(pred: np.ndarray, truth: np.ndarray, groups: Groups = None) -> float:
    """Root mean squared error (of distances for position groups)."""
    e = unit_errors(pred, truth, groups)
    return float(np.sqrt((e**2).mean())) if e.size else float("nan")


def max_error(pred: np.ndarray, truth: np.ndarray, groups: Groups = None) -> float:
    """Largest error (distance for position groups)."""
    e = unit_errors(pred, truth, groups)
    return float(e.max()) if e.size else float("nan")


def _nrmse_parts(p: np.ndarray, y: np.ndarray, series: np.ndarray | None) -> tuple[float, float]:
    if series is None:
        series = np.zeros(len(y), dtype=np.int64)
    num = float(((p - y) ** 2).sum())
    den = 0.0
    for s in _unique(series):
        ys = y[series == s]
        den += float(((ys - ys.mean(axis=0)) ** 2).sum())
    return num, den


def nrmse(pred: np.ndarray, truth: np.ndarray, series: np.ndarray | None = None) -> float:
    """Normalised RMSE over all coordinates; the truth is centred per coordinate (and per series)."""
    p, y = _check(pred, truth)
    if not p.size:
        return float("nan")
    num, den = _nrmse_parts(p, y, None if series is None else np.asarray(series))
    return float(np.sqrt(num) / np.sqrt(den)) if den > 0 else float("nan")


def smape(pred: np.ndarray, truth: np.ndarray) -> float:
    """Symmetric MAPE in percent, elementwise over coordinates (0 where p = y = 0)."""
    p, y = _check(pred, truth)
    if not p.size:
        return float("nan")
    den = np.abs(p) + np.abs(y)
    r = np.where(den > 0, 2.0 * np.abs(p - y) / np.where(den > 0, den, 1.0), 0.0)
    return float(100.0 * r.mean())


def rpd(pred: np.ndarray, truth: np.ndarray, groups: Groups = None) -> float:
    """Relative percentage difference ‖p - y‖ / ((‖p‖ + ‖y‖)/2) · 100, mean over units and origins."""
    p, y = _check(pred, truth)
    if not p.size:
        return float("nan")
    vals = []
    for u in _units(p.shape[1], groups):
        pu, yu = p[:, list(u)], y[:, list(u)]
        num = np.sqrt(((pu - yu) ** 2).sum(axis=1))
        den = (np.sqrt((pu**2).sum(axis=1)) + np.sqrt((yu**2).sum(axis=1))) / 2.0
        vals.append(np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0))
    return float(100.0 * np.stack(vals, axis=1).mean())


def jitter(pred: np.ndarray, groups: Groups = None, breaks: np.ndarray | None = None) -> float:
    """Mean distance between consecutive predictions (rows in time order).

    ``breaks[i]`` True marks row i as the start of a new sequence (another series or segment):
    the pair (i-1, i) is then not counted. NaN when there is no pair.
    """
    p = np.asarray(pred, dtype=np.float64)
    if p.ndim == 1:
        p = p[:, None]
    if len(p) < 2:
        return float("nan")
    step = unit_errors(p[1:], p[:-1], groups)
    keep = np.ones(len(p) - 1, dtype=bool) if breaks is None else ~np.asarray(breaks, dtype=bool)[1:]
    step = step[keep]
    return float(step.mean()) if step.size else float("nan")


def _unique(a: np.ndarray) -> list[Any]:
    seen: dict[Any, None] = {}
    for v in a.tolist():
        seen.setdefault(v, None)
    return list(seen)


def compute(
    pred: np.ndarray,
    truth: np.ndarray,
    *,
    groups: Groups = None,
    series: np.ndarray | None = None,
    breaks: np.ndarray | None = None,
    metrics: Sequence[str] = METRICS,
) -> dict[str, float]:
    """Several metrics for one horizon (rows with a NaN prediction or truth are dropped first).

    ``series`` labels rows for nRMSE's per-series centring; ``breaks`` marks sequence starts for
    jitter (rows must then be in time order within each sequence).
    """
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ConfigError(f"unknown metric(s) {unknown}; choose from {list(METRICS)}.")
    p, y = _check(pred, truth)
    ok = np.isfinite(p).all(axis=1) & np.isfinite(y).all(axis=1)
    if breaks is not None:
        # after dropping rows, a kept row starts a new sequence when a break lies between it
        # and the previous kept row (dropped rows themselves do not interrupt a sequence)
        c = np.cumsum(np.asarray(breaks, dtype=bool))[ok]
        breaks = np.r_[True, c[1:] != c[:-1]] if len(c) else c.astype(bool)
    p, y = p[ok], y[ok]
    s = None if series is None else np.asarray(series)[ok]
    out: dict[str, float] = {}
    for m in metrics:
        if m == "mae":
            out[m] = mae(p, y, groups)
        elif m == "rmse":
            out[m] = rmse(p, y, groups)
        elif m == "max_error":
            out[m] = max_error(p, y, groups)
        elif m == "nrmse":
            out[m] = nrmse(p, y, s)
        elif m == "smape":
            out[m] = smape(p, y)
        elif m == "rpd":
            out[m] = rpd(p, y, groups)
        elif m == "jitter":
            out[m] = jitter(p, groups, breaks)
    return out


def mean_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float, int]:
    """Mean across series with a Student-t interval: ``(mean, low, high, n)`` (NaNs ignored).

    ``mean ± t_{(1+level)/2, n-1} · s / sqrt(n)`` with the sample standard deviation ``s``;
    the interval is NaN for fewer than two values.
    """
    from scipy import stats

    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    n = len(v)
    if n == 0:
        return float("nan"), float("nan"), float("nan"), 0
    m = float(v.mean())
    if n < 2:
        return m, float("nan"), float("nan"), 1
    half = float(stats.t.ppf((1 + level) / 2, n - 1) * v.std(ddof=1) / np.sqrt(n))
    return m, m - half, m + half, n
