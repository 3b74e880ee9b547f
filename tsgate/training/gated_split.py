"""The gated model's validation split, and the prediction intervals calibrated on what it held out.

``_split_windows`` cuts the training windows (:func:`~tsgate.training.guards.split_training`) and
keeps each series' cut time in ``validation_cuts_`` (series id -> seconds; None without
validation). The calibration origins are the origins after those cuts, at every horizon whose
target they know (:func:`~tsgate.estimators.calibration.calibration_mask`): never a training
window. With ``data_module="stream"`` their windows are streamed
(:func:`~tsgate.training.gated_stream.streamed_calibration`). Without validation no origin is held
out: the bands take the default rule on the training windows (in-sample), ``in_sample_bands_``
is set (and saved) and the calibration warning says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tsgate.data.series import IrregularSeries
from tsgate.data.windows import Windows
from tsgate.estimators.conformal import CalibrationSet

__all__ = ["HeldOutCalibration"]


class HeldOutCalibration:
    """The split and interval hooks of :class:`~tsgate.training.gated.GatedLSTMForecaster`."""

    def _split_windows(self, w: Windows, data: IrregularSeries) -> tuple[Windows, Windows | None]:
        from tsgate.data.splits import validation_cut_times
        from tsgate.training.guards import split_training

        sp = split_training(w, float(self.val_fraction), source=data.source, what=type(self).__name__)
        self.split_report_ = sp.report
        self.validation_cuts_ = None if sp.val is None else {
            w.series_ids[i]: t for i, t in validation_cut_times(w.origin_time, w.series_index,
                                                                 float(self.val_fraction)).items()}
        if "warning" in sp.report:
            self.fit_warnings_.append({"error": "FewWindowsWarning", "message": sp.report["warning"]})
        return sp.train, sp.val

    def _calibration_cuts(self) -> dict[Any, float] | None:
        # the fit's own cuts: calibration origins are exactly those it validated on, never trained on
        return getattr(self, "validation_cuts_", None)

    def _calibration_forecasts(self, data: IrregularSeries) -> CalibrationSet:
        cuts = self._calibration_cuts()
        if self.data_module != "stream" or cuts is None:
            return super()._calibration_forecasts(data)  # type: ignore[misc]
        from tsgate.training.gated_stream import streamed_calibration
        from tsgate.training.stream_data import StreamSettings

        settings = StreamSettings(self._window_length(), self.horizons_, max_gap=self._max_gap(),
                                  min_history=self._min_history())
        return streamed_calibration(self, data, cuts, settings, self._values)

    def _calibration_fraction(self) -> float | None:
        # without validation cuts no origin is held out: the default rule (in-sample, see the note)
        return None
