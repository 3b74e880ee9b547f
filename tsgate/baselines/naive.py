"""Naive baselines: persistence (last value), seasonal naive and drift.

Each forecasts every target independently from the window of past observations; none learns
anything from ``fit`` beyond the data's columns, so fitting is instant and forecasts depend only
on the observations up to the origin.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tsgate.data.series import IrregularSeries
from tsgate.data.windows import Inputs
from tsgate.estimators.window import WindowForecaster
from tsgate.exceptions import ConfigError
from tsgate.params import Integral, Interval

__all__ = ["PersistenceForecaster", "SeasonalNaiveForecaster", "DriftForecaster"]


class PersistenceForecaster(WindowForecaster, baseline=True, per_series=True):
    """Forecast the last observed value for every horizon (the random-walk forecast).

    Parameters
    ----------
    horizons
        Steps (``[1, 5]``) or durations (``["1min", "5min"]``).
    """

    def __init__(self, horizons: Any = (1,)) -> None:
        self.horizons = horizons

    @classmethod
    def _unit_test_params(cls) -> dict[str, Any]:
        return {"horizons": [1, 3]}

    def _window_length(self) -> int:
        return 1

    def _fit(self, data: IrregularSeries) -> None:
        self.n_series_ = data.n_series

    def _predict(self, X: Inputs) -> np.ndarray:
        last = X.target_values[:, -1, :]
        return np.repeat(last[:, None, :], len(self.horizons_), axis=1)


class SeasonalNaiveForecaster(WindowForecaster, baseline=True, per_series=True):
    """Forecast the value observed one season (``season`` observations) before the target.

    For a horizon of ``h`` steps: ``ŷ(o + h) = y(o + h - season·ceil(h / season))``, counted in
    observations (rows). Only step horizons are accepted: with irregular sampling a season in
    rows is not a fixed duration, and this baseline does not pretend it is.

    Parameters
    ----------
    season
        Season length in observations (≥ 1; 1 gives persistence).
    horizons
        Step horizons (``[1, 12]``).
    """

    _parameter_constraints = {"season": [Interval(Integral, 1, None)]}

    def __init__(self, season: int = 1, horizons: Any = (1,)) -> None:
        self.season = season
        self.horizons = horizons

    @classmethod
    def _unit_test_params(cls) -> dict[str, Any]:
        return {"season": 4, "horizons": [1, 3, 6]}

    def _window_length(self) -> int:
        return int(self.season)

    def _fit(self, data: IrregularSeries) -> None:
        if any(h.kind != "steps" for h in self.horizons_):
            raise ConfigError(
                "SeasonalNaiveForecaster needs step horizons (e.g. horizons=[1, 12]); the season is "
                "counted in observations. Use DriftForecaster or PersistenceForecaster for durations."
            )
        data.require_length(self.season, f"season={self.season}")

    def _predict(self, X: Inputs) -> np.ndarray:
        x = X.target_values
        s = int(self.season)
        L = x.shape[1]
        cols = []
        for h in self.horizons_:
            hv = int(h.value)
            back = s * int(np.ceil(hv / s)) - hv  # observations before the origin
            cols.append(x[:, L - 1 - back, :])
        return np.stack(cols, axis=1)


class DriftForecaster(WindowForecaster, baseline=True, per_series=True):
    """Extend the line through the first and last observation of the window.

    Step horizons: ``ŷ = y_last + h · (y_last - y_first) / (L - 1)`` (the classical drift method
    on the last ``window`` rows). Duration horizons extrapolate in **time**:
    ``ŷ = y_last + h_s · (y_last - y_first) / (t_last - t_first)``, so irregular spacing is
    respected.

    Parameters
    ----------
    window
        Observations spanned by the line (≥ 2).
    horizons
        Steps or durations.
    """

    _parameter_constraints = {"window": [Interval(Integral, 2, None)]}

    def __init__(self, window: int = 10, horizons: Any = (1,)) -> None:
        self.window = window
        self.horizons = horizons

    @classmethod
    def _unit_test_params(cls) -> dict[str, Any]:
        return {"window": 4, "horizons": [1, 3]}

    def _fit(self, data: IrregularSeries) -> None:
        data.require_length(self.window, f"window={self.window}")

    def _predict(self, X: Inputs) -> np.ndarray:
        x = X.target_values
        first, last = x[:, 0, :], x[:, -1, :]
        span_s = -X.t[:, 0]  # seconds from first to last
        out = np.empty((len(X), len(self.horizons_), x.shape[2]))
        for k, h in enumerate(self.horizons_):
            if h.kind == "steps":
                out[:, k] = last + h.value * (last - first) / (x.shape[1] - 1)
            else:
                with np.errstate(invalid="ignore", divide="ignore"):
                    slope = (last - first) / span_s[:, None]
                out[:, k] = last + h.value * slope
        return out
