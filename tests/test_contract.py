"""The contract suite (tsgate.estimators.checks) on every forecaster, with small settings.

Each estimator class provides ``_unit_test_params()`` (River style); every check of
``tsgate.estimators.checks.CHECKS`` runs on it as its own test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tsgate.baselines import DeadReckoningForecaster, LinearARForecaster
from tsgate.baselines.dead_reckoning import KNOT_M_S
from tsgate.data.series import IrregularSeries
from tsgate.estimators.base import BaseForecaster
from tsgate.estimators.checks import CHECKS, check_forecaster
from tsgate.estimators.registry import all_estimators


@pytest.fixture(autouse=True)
def _one_blas_thread():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def generic_data() -> IrregularSeries:
    """Two jittered series (seconds), targets y and z, 80 rows each."""
    rng = np.random.default_rng(0)
    parts = []
    for i in range(2):
        t = np.cumsum(rng.uniform(0.08, 0.14, 80))
        parts.append(pd.DataFrame({"time": t, "series": f"s{i}",
                                   "y": 3 * np.cos(2 * np.pi * t / 4 + i) + rng.normal(0, 0.05, 80),
                                   "z": 10 * np.sin(2 * np.pi * t / 4 + i) + rng.normal(0, 0.1, 80)}))
    return IrregularSeries.from_frame(pd.concat(parts, ignore_index=True), id_col="series", target_cols=["y", "z"])


def ais_data() -> IrregularSeries:
    """Two vessels (datetime times, east/north metres, SOG/COG covariates), 60 reports each."""
    rng = np.random.default_rng(1)
    parts = []
    for s in range(2):
        t = np.cumsum(rng.uniform(30, 120, 60))
        hd = np.deg2rad(30 + 50 * s + 20 * np.sin(t / 900))
        dt = np.r_[0, np.diff(t)]
        v = (6 + 3 * s) * KNOT_M_S
        parts.append(pd.DataFrame({"mmsi": 300 + s, "time": pd.to_datetime(1.6e9 + t, unit="s", utc=True),
                                   "east_m": np.cumsum(v * np.sin(hd) * dt), "north_m": np.cumsum(v * np.cos(hd) * dt),
                                   "sog_kn": v / KNOT_M_S, "cog_deg": np.rad2deg(hd)}))
    return IrregularSeries.from_frame(pd.concat(parts, ignore_index=True), id_col="mmsi",
                                      target_cols=["east_m", "north_m"], covariate_cols=["sog_kn", "cog_deg"])


def _unit(cls: type[BaseForecaster], **over: Any) -> Callable[[], BaseForecaster]:
    return lambda: cls(**{**cls._unit_test_params(), **over})


# (id, estimator factory, data factory, atol for "identical" forecasts)
ESTIMATORS: list[tuple[str, Callable[[], BaseForecaster], Callable[[], IrregularSeries], float]] = [
    (cls.__name__, _unit(cls), ais_data if issubclass(cls, DeadReckoningForecaster) else generic_data, 0.0)
    for cls in all_estimators(baseline=True, style="window")
] + [
    ("DeadReckoning-sog_cog", _unit(DeadReckoningForecaster, method="sog_cog", horizons=[1, 3]), ais_data, 0.0),
    ("LinearAR-durations-ais", lambda: LinearARForecaster(window=3, horizons=["1min", "5min"], alpha=0.0), ais_data, 0.0),
]


# The torch-based and stream estimators are built inside the factory so that collecting this
# file does not import torch.
def _gated(**kw: Any) -> Callable[[], BaseForecaster]:
    def make() -> BaseForecaster:
        from tsgate.training.gated import GatedLSTMForecaster

        return GatedLSTMForecaster(**{**GatedLSTMForecaster._unit_test_params(), **kw})

    return make


def _vessel(**kw: Any) -> Callable[[], BaseForecaster]:
    def make() -> BaseForecaster:
        from tsgate.vessel import VesselLSTMForecaster

        return VesselLSTMForecaster(**{**VesselLSTMForecaster._unit_test_params(), **kw})

    return make


def _online(name: str, **kw: Any) -> Callable[[], BaseForecaster]:
    def make() -> BaseForecaster:
        from tsgate.online import estimators as oe

        cls = getattr(oe, name)
        return cls(**{**cls._unit_test_params(), **kw})

    return make


def _analog(**kw: Any) -> Callable[[], BaseForecaster]:
    def make() -> BaseForecaster:
        from tsgate.online.analog import PretrainedAnalogForecaster

        return PretrainedAnalogForecaster(**{**PretrainedAnalogForecaster._unit_test_params(), **kw})

    return make


EXTRA_ESTIMATORS: list[tuple[str, Callable[[], BaseForecaster], Callable[[], IrregularSeries], float]] = [
    ("GatedLSTM-wmc", _gated(), generic_data, 1e-5),
    ("GatedLSTM-glstm", _gated(cell="glstm"), generic_data, 1e-5),
    ("GatedLSTM-lstm-ais", _gated(cell="lstm", horizons=["1min", "5min"], window=6), ais_data, 1e-3),
    ("VesselLSTM-ais", _vessel(), ais_data, 1e-5),
    ("OnlineRNN-uoro", _online("OnlineRNNForecaster"), generic_data, 1e-6),
    ("OnlineRNN-snap1-lstm", _online("OnlineRNNForecaster", online="snap1", cell="lstm"), generic_data, 1e-6),
    ("OnlineLinear-rls", _online("OnlineLinearForecaster"), generic_data, 1e-9),
    ("OnlineLinear-nlms", _online("OnlineLinearForecaster", method="nlms"), generic_data, 1e-9),
    ("OnlineLinear-rls-ais", _online("OnlineLinearForecaster", horizons=["1min", "5min"]), ais_data, 1e-9),
    ("OnlineLinear-relative-lagstep", _online("OnlineLinearForecaster", level=False, lag_step=2), generic_data, 1e-9),
    ("PretrainedAnalog", _analog(network=None), generic_data, 1e-9),
    ("PretrainedAnalog-network", _analog(network="extmarker"), generic_data, 1e-9),
]


def test_every_registered_estimator_is_in_the_contract_suite():
    covered = {name.split("-")[0] for name, *_ in ESTIMATORS + EXTRA_ESTIMATORS}
    missing = [cls.__name__ for cls in all_estimators() if cls.__name__.removesuffix("Forecaster") not in covered
               and cls.__name__ not in covered]
    assert not missing, f"add {missing} to the contract suite in tests/test_contract.py"


@pytest.mark.parametrize("check", list(CHECKS))
@pytest.mark.parametrize(
    ("make_est", "make_data", "atol"),
    [pytest.param(e, d, a, id=name) for name, e, d, a in ESTIMATORS + EXTRA_ESTIMATORS],
)
def test_contract(make_est, make_data, atol, check, tmp_path):
    check_forecaster(make_est(), make_data(), checks=[check], atol=atol, tmp_dir=tmp_path)


def test_check_forecaster_catches_a_broken_estimator(tmp_path):
    """The suite must fail on a forecaster that breaks the contract (here: it mutates its input)."""
    from tsgate.baselines import PersistenceForecaster

    class Mutating(PersistenceForecaster, register=False):
        def _fit(self, data: IrregularSeries) -> None:
            data.frame.loc[data.frame.index[0], "y"] += 1.0
            super()._fit(data)

    with pytest.raises(AssertionError, match="modified"):
        check_forecaster(Mutating(horizons=[1]), generic_data(), checks=["no_mutation"], tmp_dir=tmp_path)

    class SetsInInit(PersistenceForecaster, register=False):
        def __init__(self, horizons: Any = (1,)) -> None:
            self.horizons = horizons
            self.cache_ = {}

    with pytest.raises(AssertionError, match="fitted attributes"):
        check_forecaster(SetsInInit(), generic_data(), checks=["params"])

    class Inconsistent(PersistenceForecaster, register=False):
        def _predict(self, X):  # depends on how many windows come at once: predict ≠ update
            return super()._predict(X) + len(X)

    with pytest.raises(AssertionError, match="update forecasts differ"):
        check_forecaster(Inconsistent(horizons=[1]), generic_data(), checks=["fit_update"])


class _PeeksAtValues(LinearARForecaster, register=False):
    """Leaks the series' last value (the future of most origins) into every forecast."""

    def _forecast(self, series, origins):
        fc = super()._forecast(series, origins)
        fc.values = fc.values + float(series.frame[series.targets[0]].iloc[-1])
        return fc


class _PeeksAtTimes(LinearARForecaster, register=False):
    """Leaks only the time of the series' last observation, as a step-horizon target time would."""

    def _forecast(self, series, origins):
        fc = super()._forecast(series, origins)
        fc.values = fc.values + 1e-3 * float(series.time_seconds()[-1])
        return fc


@pytest.mark.parametrize("leaky", [_PeeksAtValues, _PeeksAtTimes])
def test_no_look_ahead_check_catches_a_peeking_estimator(leaky):
    with pytest.raises(AssertionError, match="changed its forecast"):
        check_forecaster(leaky(window=3, horizons=[1]), generic_data(), checks=["no_look_ahead"])
