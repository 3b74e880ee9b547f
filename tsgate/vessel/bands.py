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
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tsgate.data.series import IrregularSeries
from tsgate.estimators.calibration import calibration_pairs, thin_mask
from tsgate.estimators.conformal import CalibrationSet

__all__ = ["HeldOutBands"]


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
        return calibration_pairs(values, w, mask)
