"""The backtest's per-series work on joblib backends: a local dask.distributed cluster gives the local table."""

from __future__ import annotations

import pandas as pd
import pytest

from tsgate import ConfigError, IrregularSeries
from tsgate.baselines.arima import ARIMAForecaster
from tsgate.baselines.naive import PersistenceForecaster
from tsgate.evaluation.backtest import backtest


def _models() -> dict:
    return {"arima": ARIMAForecaster(order=(1, 0, 0), window=20), "p": PersistenceForecaster()}


@pytest.fixture(scope="module")
def data() -> IrregularSeries:
    from conftest import irregular_frame

    return IrregularSeries.from_frame(irregular_frame(n=80, n_series=3, seed=1), id_col="series", target_cols=["y"])


def test_threading_backend_gives_the_local_table(data):
    a = backtest(_models(), data, horizons=[1, 3], progress=False)
    b = backtest(_models(), data, horizons=[1, 3], n_jobs=2, backend="threading", progress=False)
    pd.testing.assert_frame_equal(a.forecasts, b.forecasts)
    pd.testing.assert_frame_equal(a.metrics, b.metrics)


def test_unknown_backend_is_a_config_error(data):
    with pytest.raises(ConfigError, match="backend='nonesuch'"):
        backtest(_models(), data, horizons=[1], n_jobs=2, backend="nonesuch", progress=False)


def test_dask_cluster_gives_the_local_table(data):
    distributed = pytest.importorskip("dask.distributed", reason="dask.distributed is not installed (pip install -e '.[dask]')")
    a = backtest(_models(), data, horizons=[1, 3], progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        b = backtest(_models(), data, horizons=[1, 3], n_jobs=-1, backend="dask", progress=False)
        assert client.scheduler_info()["workers"]  # the work went to the cluster's workers
    pd.testing.assert_frame_equal(a.forecasts, b.forecasts)
    pd.testing.assert_frame_equal(a.metrics, b.metrics)
    assert set(b.forecasts["series"]) == {"s0", "s1", "s2"}
