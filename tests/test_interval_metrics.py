"""Interval metrics (coverage, width, Winkler score) and the backtest's level= option."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tsgate
from tsgate import ConfigError, IrregularSeries
from tsgate.evaluation import backtest, write_report
from tsgate.evaluation.intervals import band_scores, radius_scores


def test_winkler_score_by_hand():
    # 90 %: α = 0.1, a miss costs 2/α = 20 per unit outside the band
    s = band_scores(np.array([0.0, 0.0, 0.0]), np.array([2.0, 2.0, 2.0]), np.array([1.0, -0.5, 3.0]), 90)
    assert s["covered"].tolist() == [True, False, False]
    np.testing.assert_allclose(s["width"], [2, 2, 2])
    np.testing.assert_allclose(s["winkler"], [2.0, 2.0 + 20 * 0.5, 2.0 + 20 * 1.0])


def test_radius_score_reduces_to_the_band_in_one_dimension():
    r = radius_scores(np.array([1.0, 1.0]), np.array([[0.0, 0.0], [0.0, 0.0]]), np.array([[0.6, 0.8], [3.0, 4.0]]), 80)
    assert r["covered"].tolist() == [True, False]  # distances 1 and 5
    np.testing.assert_allclose(r["winkler"], [2.0, 2.0 + 10 * 4.0])
    one = radius_scores(np.array([1.0]), np.array([[0.0]]), np.array([[2.5]]), 80)
    band = band_scores(np.array([-1.0]), np.array([1.0]), np.array([2.5]), 80)
    np.testing.assert_allclose(one["winkler"], band["winkler"])


@pytest.fixture(scope="module")
def tracks():
    rng = np.random.default_rng(7)
    parts = []
    for v in range(3):
        n = 600
        t = np.cumsum(rng.uniform(5, 15, n))
        parts.append(pd.DataFrame({"time": t, "series": f"v{v}", "east_m": np.cumsum(rng.normal(2, 3, n)),
                                   "north_m": np.cumsum(rng.normal(-1, 3, n))}))
    return IrregularSeries.from_frame(pd.concat(parts), time_col="time", id_col="series")


@pytest.mark.parametrize("refit", ["once", "online"])
def test_backtest_scores_bands_per_horizon(tracks, refit, tmp_path):
    res = backtest({"persistence": tsgate.PersistenceForecaster(), "linear": tsgate.LinearARForecaster(window=4, alpha=0.1)},
                   tracks, horizons=["30s", "2min"], train=0.5, refit=refit, level=[80, 95],
                   position_groups=[("east_m", "north_m")], progress=False)
    cov = res.coverage(95)
    assert list(cov.columns) == ["30s", "2min", "mean"] and list(cov.index) == ["persistence", "linear"]
    assert ((cov.to_numpy() > 0.9) & (cov.to_numpy() < 0.99)).all()
    assert (res.coverage(80).to_numpy() < cov.to_numpy()).all()
    radius = res.coverage(80, unit="east_m+north_m")
    assert ((radius.to_numpy() > 0.7) & (radius.to_numpy() < 0.92)).all()  # 174 calibration residuals: a few % of noise
    wide = res.interval_summary("width", level=95, unit="east_m")
    assert (wide["2min"] > wide["30s"]).all()
    f = res.forecasts
    assert {"lower_80", "upper_95", "radius_95"} <= set(f.columns)
    sc = f[f["scored"]]
    inside = ((sc["truth"] >= sc["lower_95"]) & (sc["truth"] <= sc["upper_95"])).groupby([sc["model"], sc["horizon"]]).mean()
    for (model, h), v in inside.items():
        assert abs(v - cov.loc[model, h]) < 1e-12
    written = write_report(res, tmp_path / "r", formats=("csv",))
    assert "intervals.csv" in written and "coverage_vs_horizon.png" in written
    assert "95 % bands" in (tmp_path / "r" / "report.html").read_text()


def test_interval_tables_need_levels(tracks):
    res = backtest(tsgate.PersistenceForecaster(), tracks, horizons=[1], train=0.5, progress=False)
    with pytest.raises(ConfigError, match="level"):
        res.coverage()
