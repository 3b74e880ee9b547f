"""Where interval calibration data comes from, and the online pass of ``update``.

The rule, the same for every model (applied by :class:`~tsgate.estimators.base.BaseForecaster`):

- **calibration origins**, per horizon: per series, the newest ``CALIBRATION_FRACTION`` (20 %)
  of the training origins whose target at that horizon is known (so each horizon calibrates on
  every origin it could be scored at, and a long horizon on a short track still gets some) —
  or, for the gated LSTM, which holds out a validation part, the origins after each series'
  validation cut as its fit set it (``validation_cuts_``), which it never trained on, at every
  horizon whose target they know (a model with a ``val_fraction`` but no cuts of its own gets
  the cut of ``validation_cut`` on the windows with any target known). A gated model that
  trained without validation has no held-out origins: it takes the default rule, its bands are
  in-sample and it says so with the calibration warning. Of more than ``MAX_CALIBRATION_ORIGINS`` per horizon, that many are kept,
  evenly spaced through each series' calibration origins (every series keeps its share). A
  horizon with fewer than ``MIN_CALIBRATION_SCORES`` gets a warning (``calibration_warning_``,
  given by the first call that asks for intervals);
- **their forecasts**: a window model forecasts them with its fitted state (for baselines with
  fitted coefficients these residuals are in-sample, the linear AR's and ARIMA's; for the gated
  model they are the held-out validation residuals); a stream model uses the forecasts its
  prequential pass over the training data made, each before its target was known.

Online (``update``/``forecast_and_learn``): the new observations are walked in time order, one
row at a time: the forecast made at the row gets the bands current at that moment, then the
targets that row reveals adapt the calibrator (:mod:`tsgate.estimators.intervals`). Rows of
several series at the same time are taken in the order of the series in the data.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tsgate.data.series import IrregularSeries
from tsgate.data.splits import validation_cut
from tsgate.data.windows import Windows, make_windows
from tsgate.estimators.forecasts import Forecasts
from tsgate.estimators.conformal import CalibrationSet
from tsgate.estimators.intervals import CALIBRATION_FRACTION, MAX_CALIBRATION_ORIGINS, Calibrator

__all__ = ["calibration_mask", "thin_mask", "calibration_pairs", "online_bands", "with_bands"]


def calibration_mask(w: Windows, fraction: float | None, cuts: dict[Any, float] | None = None, *,
                     thin: bool = True) -> np.ndarray:
    """[n, H] the calibration (origin, horizon) pairs among windows ``w`` (see the module
    docstring); a pair needs its target known. ``cuts`` (series id -> time, seconds): the
    origins after their series' cut calibrate (a series without a cut: none). ``thin=False``
    leaves out the thinning to ``MAX_CALIBRATION_ORIGINS`` (:func:`thin_mask`, for windows
    that come a part at a time)."""
    n, H = w.y.shape[:2]
    known = np.isfinite(w.y).all(axis=2)
    out = np.zeros((n, H), bool)
    if n == 0:
        return out
    if cuts is not None:
        cut = np.array([cuts.get(s, np.inf) for s in w.series_ids], dtype=np.float64)[w.series_index]
        out = (w.origin_time > cut)[:, None] & known
    elif fraction:
        # the model's own validation windows: one origin-time cut per series, all horizons
        *_, val = validation_cut(w.origin_time, w.reveal_time, w.series_index, float(fraction))
        out = val[:, None] & known
    else:
        # per horizon, the newest share of the origins whose target at that horizon is known: a
        # horizon as long as a short track still calibrates, and short horizons are not limited
        # to the origins of the long tracks (where every horizon is known), a regime of its own
        for h in range(H):
            idx = np.flatnonzero(known[:, h])
            if len(idx):
                *_, val = validation_cut(w.origin_time[idx], w.reveal_time[idx, h : h + 1], w.series_index[idx],
                                         CALIBRATION_FRACTION)
                out[idx[val], h] = True
    return thin_mask(out, w.origin_time, w.series_index) if thin else out


def thin_mask(mask: np.ndarray, origin_time: np.ndarray, series_index: np.ndarray) -> np.ndarray:
    """[n, H] ``mask`` with each horizon thinned to ``MAX_CALIBRATION_ORIGINS`` origins when it has
    more (origins: their times [n], seconds, and series positions [n])."""
    out = mask.copy()
    for h in range(mask.shape[1]):
        out[:, h] = _spread(mask[:, h], origin_time, series_index)
    return out


def _spread(mask: np.ndarray, origin_time: np.ndarray, series_index: np.ndarray) -> np.ndarray:
    """``mask`` thinned to ``MAX_CALIBRATION_ORIGINS`` origins when it has more."""
    idx = np.flatnonzero(mask)
    if len(idx) <= MAX_CALIBRATION_ORIGINS:
        return mask
    # evenly spaced through the origins in (series, time) order, so that every series keeps
    # its share: the globally newest ones would come from the few series whose training
    # data ends last, a regime the test origins of the other series need not share
    order = idx[np.lexsort((origin_time[idx], series_index[idx]))]
    pick = np.unique(np.round(np.linspace(0, len(order) - 1, MAX_CALIBRATION_ORIGINS)).astype(np.int64))
    out = np.zeros(len(mask), bool)
    out[order[pick]] = True
    return out


def calibration_pairs(values: np.ndarray, w: Windows, mask: np.ndarray) -> CalibrationSet:
    """The calibration set of the origins of ``w`` with a calibration pair (truths NaN outside
    ``mask`` [n, H]); ``values`` [n, H, k] are the forecasts of every origin of ``w``."""
    rows = mask.any(axis=1)
    y = w.y[rows].copy()
    y[~mask[rows]] = np.nan
    return CalibrationSet(values[rows], y, w.origin_time[rows], w.series_index[rows])


def truths(series: IrregularSeries, horizons: Any, max_gap: Any) -> Windows:
    """One-observation windows of every row with its targets (the truths every score uses)."""
    return make_windows(series, 1, horizons, max_gap=max_gap, targets="optional")


def online_bands(cal: Calibrator, combined: IrregularSeries, last: dict[Any, float], fc: Forecasts,
                 horizons: Any, max_gap: Any) -> np.ndarray:
    """Issue the bands of the new forecasts ``fc`` and adapt ``cal`` to the targets the new rows
    of ``combined`` (newer than ``last``) reveal, row by row in time order.

    Returns the issued widths [len(fc), L, H, U] of every tracked level.
    """
    w = truths(combined, horizons, max_gap)
    pos = {s: i for i, s in enumerate(w.series_ids)}
    ids = np.asarray(w.series_ids, dtype=object)
    prev = np.array([last.get(s, -np.inf) for s in ids], dtype=np.float64)[w.series_index] if len(w) else np.zeros(0)
    rv = w.reveal_time
    ok = np.isfinite(rv) & (rv > prev[:, None]) & np.isfinite(w.y).all(axis=2)
    o_idx, h_idx = np.nonzero(ok)
    # events: (time, series position, 0 = issue | 1 = reveal); one group per (row, kind)
    f_pos = np.array([pos[s] for s in fc.ids.tolist()], dtype=np.int64) if len(fc) else np.zeros(0, np.int64)
    t_ev = np.r_[fc.origin_time, rv[o_idx, h_idx]]
    s_ev = np.r_[f_pos, w.series_index[o_idx]]
    k_ev = np.r_[np.zeros(len(fc), np.int64), np.ones(len(o_idx), np.int64)]
    j_ev = np.r_[np.arange(len(fc)), np.arange(len(o_idx))]
    order = np.lexsort((j_ev, k_ev, s_ev, t_ev))
    out = np.full((len(fc), len(cal.levels), cal.n_horizons, cal.n_units), np.nan)
    if len(order) == 0:
        return out
    t_o, s_o, k_o = t_ev[order], s_ev[order], k_ev[order]
    cut = np.flatnonzero((t_o[1:] != t_o[:-1]) | (s_o[1:] != s_o[:-1]) | (k_o[1:] != k_o[:-1])) + 1
    for grp in np.split(order, cut):
        sid = ids[s_ev[grp[0]]]
        if k_ev[grp[0]] == 0:
            for j in j_ev[grp]:
                out[j] = cal.issue(sid, fc.origin_time[j], fc.values[j])
        else:
            p = j_ev[grp]
            o, h = o_idx[p], h_idx[p]
            cal.reveal(sid, w.origin_time[o], h, w.y[o, h])
    return out


def with_bands(fc: Forecasts, cal: Calibrator, levels: tuple[float, ...], widths: np.ndarray | None = None) -> Forecasts:
    """``fc`` with the bands of ``levels``: the issued ``widths`` [n, L_tracked, H, U] when given
    (online), else the calibrator's current ones for every origin."""
    idx = cal.track(levels)
    if widths is None:
        hw = np.broadcast_to(cal.q[idx][None], (len(fc), *cal.q[idx].shape)).copy()
    else:
        hw = widths[:, idx]
    bad = ~np.isfinite(fc.values).all(axis=2)  # [n, H]: no band without a forecast
    hw[np.broadcast_to(bad[:, None, :, None], hw.shape)] = np.nan
    fc.levels, fc.halfwidth, fc.groups = tuple(levels), hw, cal.group_names
    return fc
