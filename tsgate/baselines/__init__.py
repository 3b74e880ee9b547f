"""Baseline forecasters: naive, drift, linear autoregression, ARIMA and dead reckoning.

Every class here is a :class:`~tsgate.estimators.base.BaseForecaster` registered for
:func:`tsgate.estimators.base.load`; importing this package registers them all. Classes with
``per_series = True`` forecast each series on its own, so a backtest may run series in parallel.
"""

from tsgate.baselines.arima import ARIMAForecaster
from tsgate.baselines.dead_reckoning import DeadReckoningForecaster
from tsgate.baselines.linear import LinearARForecaster
from tsgate.baselines.naive import DriftForecaster, PersistenceForecaster, SeasonalNaiveForecaster

__all__ = [
    "PersistenceForecaster",
    "SeasonalNaiveForecaster",
    "DriftForecaster",
    "LinearARForecaster",
    "ARIMAForecaster",
    "DeadReckoningForecaster",
    "BASELINES",
]

#: every baseline class, for contract tests and for telling baselines apart in reports
BASELINES = (
    PersistenceForecaster,
    SeasonalNaiveForecaster,
    DriftForecaster,
    LinearARForecaster,
    ARIMAForecaster,
    DeadReckoningForecaster,
)
