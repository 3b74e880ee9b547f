"""The conformal quantile of calibration scores: equal weights, or weights that decay with age.

Split conformal (Vovk et al. 2005; Lei et al. 2018) takes the ⌈(n + 1) ℓ⌉-th smallest of n
calibration scores; with exchangeable scores the band covers a new one with probability ≥ ℓ.
Where errors drift, the weighted quantile of Barber, Candès, Ramdas & Tibshirani (2023,
"Conformal prediction beyond exchangeability") weights the calibration scores by w_i ∈ (0, 1]
and the test point by 1, placed at +∞: the band is the smallest score q with
Σ_{s_i ≤ q} w_i ≥ ℓ (Σ w_i + 1). Its coverage loss is bounded by the weighted total-variation
distance between the calibration and test distributions, so weights that favour the scores most
like the test point's keep the band honest under drift, at the price of fewer effective scores.

Recency weights (:func:`recency_weights`): w_i = 2^(-a_i / half_life), with a_i the time from
origin i to the newest calibration origin of its series, divided by the span of that series'
calibration origins, so that one half-life transfers between a one-hour file, a one-day file
and a 10 Hz recording. Series are not compared by clock time: a vessel whose data ends early is
not down-weighted for it.

They are not the default (``HALF_LIFE`` is None: equal weights). On the bundled AIS files the
fixed bands' shortfall comes from a few vessels whose later reports are a different regime
(one vessel of 37 on ais-nyharbor is covered 15-19 % at 5-15 min), which no weighting of their
earlier errors can see. Chosen on ais-nyharbor and ais-virginia, no half-life from 2 to 0.1 of
the calibration span lifted the worst cell of ais-nyharbor, and every one pushed another cell
further out of 88-92 %. On the files held out from the choice, ais-nyharbor-mc lost coverage
with dead reckoning (90.0 → 86.3 % at 30 min with 0.1), and ExtMarker 10 Hz, with 60
calibration errors per horizon, only gained coverage with 0.1 because so few effective scores
remain that the band nears the largest one (``benchmarks/band_half_life.py``;
``benchmarks/results/intervals.md``, "Recency-weighted split conformal for the fixed bands").
They stay available for data whose errors do drift within each series
(``Calibrator(half_life=...)``, or ``HALF_LIFE`` for every model fitted afterwards).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

__all__ = ["HALF_LIFE", "CalibrationSet", "recency_weights", "weighted_quantile"]

#: half-life of the calibration weights, as a share of each series' calibration span (None: equal weights)
HALF_LIFE: float | None = None


class CalibrationSet(NamedTuple):
    """The calibration pairs of a fit: forecasts and truths [n, H, k] (truth NaN where a pair
    does not calibrate), and per origin its time [n] (seconds) and series position [n]."""

    pred: np.ndarray
    truth: np.ndarray
    origin_time: np.ndarray | None = None
    series: np.ndarray | None = None


def recency_weights(origin_time: np.ndarray, series: np.ndarray, half_life: float) -> np.ndarray:
    """[n] weights 2^(-age / half_life) of calibration origins: the age of an origin is the time
    from it to the newest origin of its series, divided by the span of that series' origins
    (0 for the newest, 1 for the oldest; 0 where a series spans no time)."""
    t = np.asarray(origin_time, dtype=np.float64)
    si = np.asarray(series, dtype=np.int64)
    if len(t) == 0:
        return np.zeros(0)
    _, inv = np.unique(si, return_inverse=True)
    newest = np.full(inv.max() + 1, -np.inf)
    oldest = np.full(inv.max() + 1, np.inf)
    np.maximum.at(newest, inv, t)
    np.minimum.at(oldest, inv, t)
    span = (newest - oldest)[inv]
    age = np.divide(newest[inv] - t, span, out=np.zeros_like(t), where=span > 0)
    return np.exp2(-age / float(half_life))


def weighted_quantile(s: np.ndarray, levels: Sequence[float], weights: np.ndarray | None = None) -> np.ndarray:
    """[L, U] the conformal quantile of scores [n, U] at ``levels`` (percent).

    With ``weights`` [n] in (0, 1] (Barber, Candès, Ramdas & Tibshirani 2023, "Conformal
    prediction beyond exchangeability"): the smallest score q with Σ_{s_i ≤ q} w_i ≥ ℓ (Σ w_i + 1),
    the 1 being the weight of the test point, placed at +∞; the largest score when no score
    reaches that. Equal weights give the ⌈(n + 1) ℓ⌉-th smallest score. NaN for n = 0.
    """
    s = np.asarray(s, dtype=np.float64)
    n = len(s)
    if n == 0:
        return np.full((len(levels), s.shape[1]), np.nan)
    if weights is None:
        srt = np.sort(s, axis=0)
        ranks = [min(n, int(math.ceil((n + 1) * lv / 100.0))) - 1 for lv in levels]
        return srt[ranks]
    w = np.asarray(weights, dtype=np.float64)
    order = np.argsort(s, axis=0, kind="stable")  # [n, U]
    cum = np.cumsum(w[order], axis=0) / (w.sum() + 1.0)  # weight at or below each sorted score
    units = np.arange(s.shape[1])
    out = np.empty((len(levels), s.shape[1]))
    for li, lv in enumerate(levels):
        # first sorted position reaching the level (a hair of slack: equal weights give the exact rank)
        reach = cum >= lv / 100.0 * (1.0 - 1e-12)
        k = np.where(reach.any(axis=0), reach.argmax(axis=0), n - 1)
        out[li] = s[order[k, units], units]
    return out
