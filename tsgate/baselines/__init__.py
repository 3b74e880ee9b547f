"""Baseline forecasters: naive, drift, linear autoregression, ARIMA, dead reckoning and CTRV.

Every class here is a :class:`~tsgate.estimators.window.WindowForecaster` tagged ``baseline``;
importing this package registers them all for :func:`tsgate.estimators.base.load`. Classes
tagged ``per_series`` forecast each series on its own, so a backtest may run series in parallel.
A new baseline is a module here defining its class, imported below.
"""

from tsgate.baselines.arima import ARIMAForecaster
from tsgate.baselines.ctrv import CTRVForecaster
from tsgate.baselines.dead_reckoning import DeadReckoningForecaster
from tsgate.baselines.linear import LinearARForecaster
from tsgate.baselines.naive import (
    DriftForecaster,
    PersistenceForecaster,
    SeasonalNaiveForecaster,
)

__all__ = [
    "PersistenceForecaster",
    "SeasonalNaiveForecaster",
    "DriftForecaster",
    "LinearARForecaster",
    "ARIMAForecaster",
    "DeadReckoningForecaster",
    "CTRVForecaster",
]
