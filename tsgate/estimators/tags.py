"""Class tags: what a forecaster is, declared once on its class and read by everything else.

A class sets its tags as keywords of its class statement; a subclass inherits them and may
override any::

    class PersistenceForecaster(WindowForecaster, baseline=True, per_series=True):
        ...

    PersistenceForecaster.tags.baseline    # True

The backtest reads ``per_series`` (run series in parallel processes) and ``baseline`` (the
reference methods of a comparison); ``update`` reads ``learns_online`` and
``learns_from_scratch``; the contract checks read all of them.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Tags"]


@dataclass(frozen=True)
class Tags:
    """What a forecaster class is.

    Attributes
    ----------
    style
        ``"window"``: forecasts from each origin's input window (:class:`~tsgate.estimators.window.WindowForecaster`);
        ``"stream"``: runs a stateful engine along each series (:class:`~tsgate.estimators.stream.StreamForecaster`).
    baseline
        A reference method (persistence, ARIMA, dead reckoning, linear models): comparisons
        report every model's improvement over the best baseline.
    per_series
        Each series is fitted and forecast on its own, so results do not depend on which
        other series are in the data (a backtest may run series in parallel).
    learns_online
        ``update`` changes the model (it learns the targets that new observations reveal);
        otherwise ``update`` only forecasts and remembers the new observations.
    learns_from_scratch
        ``update`` may start from an unfitted model.
    """

    style: str = ""
    baseline: bool = False
    per_series: bool = False
    learns_online: bool = False
    learns_from_scratch: bool = False
