"""Window models: forecast from each origin's input window; online ones learn revealed targets.

A :class:`WindowForecaster` implements

- ``_predict(inputs) -> [n, H, k]``: forecasts from :class:`~tsgate.data.windows.Inputs` only
  (values, Δt, times relative to the origin, mask, static covariates, horizons). It never sees
  a target, a target's time or any observation after an origin;
- ``_learn(inputs, targets, horizon_mask) -> bool | None`` (only with ``learns_online=True``):
  learn the revealed targets ``targets.y[horizon_mask]`` of those windows; return False when
  the update was refused (non-finite loss or gradient) and the model is unchanged;
- the window it needs: ``_window_length()`` (L), ``_min_history()`` (fewest real observations,
  the rest left-padded and masked), ``_max_gap()``.

``update`` runs an event loop over the new observation times τ: forecast from the origins at τ,
then learn the (origin, horizon) pairs whose revealing observation is at τ.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from tsgate.data.series import IrregularSeries
from tsgate.data.windows import Inputs, Targets, Windows, make_windows
from tsgate.estimators.base import BaseForecaster, Consumed
from tsgate.estimators.calibration import calibration_mask, calibration_pairs
from tsgate.estimators.conformal import CalibrationSet
from tsgate.estimators.forecasts import Forecasts

__all__ = ["WindowForecaster"]


class WindowForecaster(BaseForecaster, register=False, style="window"):
    """Base of the models that forecast from input windows (baselines, the gated LSTM)."""

    def _predict(self, inputs: Inputs) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _learn(self, inputs: Inputs, targets: Targets, horizon_mask: np.ndarray) -> bool | None:
        """Learn the revealed targets ``targets.y[horizon_mask]`` (models with ``learns_online``)."""
        return None

    def _windows(self, series: IrregularSeries, origins: Any, targets: str = "optional") -> Windows:
        return make_windows(
            series,
            self._window_length(),
            self.horizons_,
            max_gap=self._max_gap(),
            min_history=self._min_history(),
            targets=targets,  # type: ignore[arg-type]
            origins=origins,
        )

    def _values(self, inputs: Inputs) -> np.ndarray:
        if len(inputs) == 0:
            return np.zeros((0, len(self.horizons_), len(self.targets_)))
        return np.asarray(self._predict(inputs), dtype=np.float64)

    def _forecast(self, series: IrregularSeries, origins: Any) -> Forecasts:
        inputs = self._windows(series, origins).inputs
        return Forecasts(inputs, self._values(inputs))

    def _calibration_forecasts(self, data: IrregularSeries) -> CalibrationSet:
        """The fitted model's forecasts at the calibration origins (see tsgate.estimators.calibration)."""
        cuts = self._calibration_cuts()
        if cuts is None:
            w = self._windows(data, "all", targets="optional")
        else:
            # only the origins after each series' cut are built: the held-out part, not every window
            w = self._windows(data, {g.series_id: g.time_s[g.time_s > cuts[g.series_id]]
                                     for g in data.groups() if g.series_id in cuts}, targets="optional")
        mask = calibration_mask(w, self._calibration_fraction(), cuts)
        cal = w.select(mask.any(axis=1))
        return calibration_pairs(self._values(cal.inputs), cal, mask[mask.any(axis=1)])

    def _stream_forecast(self, series: Any, inputs: Inputs) -> np.ndarray:
        """[H, k] forecasts of one origin (the stream, one observation at a time)."""
        return self._values(inputs)[0]

    def _stream_learn(self, series: Any, rev: Any) -> tuple[int, int]:
        """Learn the targets one observation revealed (as ``_consume`` does at that time)."""
        if self._learn(rev.inputs, rev.targets, rev.mask) is False:
            return 0, 1
        return 1, 0

    def _consume(self, combined: IrregularSeries, last: dict[Any, float]) -> Consumed:
        """Forecast from every origin newer than ``last`` and learn what each new observation reveals."""
        w = self._windows(combined, "all")
        ids = np.asarray(w.series_ids, dtype=object)
        before = np.array([last.get(s, -np.inf) for s in ids], dtype=np.float64) if len(ids) else np.zeros(0)
        prev = before[w.series_index] if len(w) else np.zeros(0)
        is_new = w.origin_time > prev
        yhat = np.full((len(w), len(self.horizons_), len(self.targets_)), np.nan)
        if not self.tags.learns_online:
            yhat[is_new] = self._values(w.inputs.select(is_new))
            return Consumed(Forecasts(w.inputs.select(is_new), yhat[is_new]))
        reveal = np.isfinite(w.reveal_time) & (w.reveal_time > prev[:, None]) & np.isfinite(w.y).all(axis=2)
        # event loop over new observation times: forecast from origins at τ, then learn
        # the (origin, horizon) pairs that the observations at τ reveal
        times = np.unique(np.concatenate([w.origin_time[is_new], w.reveal_time[reveal]]))
        cost = np.zeros(len(times))
        updates = refused = 0
        for i, tau in enumerate(times):
            t0 = time.perf_counter()
            f = np.flatnonzero(is_new & (w.origin_time == tau))
            if len(f):
                yhat[f] = self._values(w.inputs.select(f))
            m = reveal & (w.reveal_time == tau)
            rows = np.flatnonzero(m.any(axis=1))
            if len(rows):
                if self._learn(w.inputs.select(rows), w.targets.select(rows), m[rows]) is False:
                    refused += 1
                else:
                    updates += 1
            cost[i] = time.perf_counter() - t0
        # seconds per new observation (forecast + learn) of the last update; not saved
        self.step_seconds_ = cost
        return Consumed(Forecasts(w.inputs.select(is_new), yhat[is_new]), updates, refused)
