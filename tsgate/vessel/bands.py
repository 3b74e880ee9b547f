"""The vessel model's prediction bands: calibrated on the forecasts its fit held out.

The vessel model chooses each horizon's forecast on its validation part (the origins after each
vessel's cut) with networks and bases fitted before the cut, then refits them on every window,
the validation part included. The refitted model's forecasts at those origins are in-sample
(their errors too small, the bands too narrow), so the bands calibrate on the held-out
forecasts the fit made there (``_held_out``: the windows, the validation mask and the chosen
forecast positions [n, H, 2]), at every horizon whose target they know, thinned like every
model's calibration origins. Without a validation part the bands take the default rule on the
training windows (in-sample), ``in_sample_bands_`` is set (and saved) and the calibration
warning says so.

A horizon whose held-out part has fewer than ``MIN_CALIBRATION_SCORES`` errors (on a one-hour
file the validation part holds no 15- or 30-min target) would otherwise get its band
extrapolated from the shorter horizons, whose forecasts are made differently (the analogs at
5 min, plain dead reckoning at 15 min on ais-nyharbor-mc: 85 / 82 % coverage at 15 / 30 min).
Where that horizon forecasts by a rule without fitted parameters (dead reckoning from SOG/COG or
from two points), its errors on the training windows are not in-sample, so it calibrates by the
default rule on the training windows instead (the newest share of the origins whose target at
that horizon is known), as dead reckoning's own bands do.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tsgate.data.series import IrregularSeries
from tsgate.estimators.calibration import calibration_mask, calibration_pairs, thin_mask
from tsgate.estimators.conformal import CalibrationSet
from tsgate.estimators.intervals import MIN_CALIBRATION_SCORES

__all__ = ["HeldOutBands", "PARAMETER_FREE"]

#: the vessel model's forecasts without fitted parameters: their training errors are out-of-sample
PARAMETER_FREE = ("dead reckoning", "two-point")


class HeldOutBands:
    """The interval hooks of :class:`~tsgate.vessel.model.VesselLSTMForecaster`."""

    _held_out: tuple[Any, np.ndarray, np.ndarray] | None = None

    def _calibration_forecasts(self, data: IrregularSeries) -> CalibrationSet:
        """The held-out validation forecasts of the fit: per horizon its chosen forecast made by
        the bases and networks fitted before each vessel's cut, on the origins after it. The
        final networks and bases are refitted on every window, the validation part included,
        so their own forecasts there would be in-sample (bands too narrow). Without a
        validation part: the default rule, in-sample (``in_sample_bands_``, told in the warning)."""
        held, self._held_out = self._held_out, None
        self.in_sample_bands_ = held is None
        if held is None:
            return super()._calibration_forecasts(data)  # type: ignore[misc]
        w, val, pos = held
        col = self.columns_
        values = np.repeat(w.inputs.target_values[:, -1, None, :], len(self.horizons_), axis=1)
        values[:, :, col.east] = pos[..., 0]
        values[:, :, col.north] = pos[..., 1]
        mask = thin_mask(val[:, None] & np.isfinite(w.y).all(axis=2), w.origin_time, w.series_index)
        held_out = calibration_pairs(values, w, mask)
        swap = (mask.sum(axis=0) < MIN_CALIBRATION_SCORES) & self._parameter_free()
        if not swap.any():
            return held_out
        # the default rule over every training window (the newest share of the origins whose target
        # at that horizon is known), as for dead reckoning itself: a rule without parameters has no
        # in-sample part, and the held-out cuts leave these horizons without a target
        tw = self._windows(data, "all", targets="optional")  # type: ignore[attr-defined]
        tmask = calibration_mask(tw, None, None) & swap[None, :]
        if not tmask.any():
            return held_out
        sel = tw.select(tmask.any(axis=1))
        train = calibration_pairs(self._values(sel.inputs), sel, tmask[tmask.any(axis=1)])  # type: ignore[attr-defined]
        return _merge(held_out, train, swap)

    def _parameter_free(self) -> np.ndarray:
        """[H] whether each horizon's forecast is a rule without fitted parameters."""
        comb = self.combination_  # set by every fit, None without a combination
        used = np.zeros(len(self.horizons_), bool) if comb is None else np.asarray(comb.used, bool)
        return np.array([c in PARAMETER_FREE for c in self.choice_]) & ~used


def _merge(held_out: CalibrationSet, default: CalibrationSet, swap: np.ndarray) -> CalibrationSet:
    """The held-out pairs at the horizons not in ``swap`` [H], those of ``default`` at the others."""
    a, b = held_out.truth.copy(), default.truth.copy()
    a[:, swap] = np.nan
    b[:, ~swap] = np.nan
    keep_a, keep_b = np.isfinite(a).any(axis=(1, 2)), np.isfinite(b).any(axis=(1, 2))

    def cat(x: np.ndarray | None, y: np.ndarray | None) -> np.ndarray | None:
        return None if x is None or y is None else np.concatenate([x[keep_a], y[keep_b]])

    return CalibrationSet(np.concatenate([held_out.pred[keep_a], default.pred[keep_b]]),
                          np.concatenate([a[keep_a], b[keep_b]]),
                          cat(held_out.origin_time, default.origin_time), cat(held_out.series, default.series))
