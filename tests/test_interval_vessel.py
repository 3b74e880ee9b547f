"""The vessel model's bands in a backtest on a bundled AIS file: tracked online, and scored."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from tsgate.datasets import load_dataset
from tsgate.estimators.catalog import model_spec
from tsgate.evaluation import backtest

HORIZONS = ["1min", "5min"]


@pytest.fixture(scope="module")
def online_and_fixed():
    data = load_dataset("ais-nyharbor-mc")
    ids = sorted(pd.unique(data.frame["series"]))[:120]  # about 40 % of the file's vessels
    part = data.subset(ids)
    # the catalog's default AIS model with small settings (a quick fit; horizons learned from 50 windows)
    model = model_spec("vessel").build(seed=0, window=6, hidden_size=8, max_epochs=2, batch_size=64,
                                       min_windows=50, min_series=5)
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for refit in ("online", "once"):
            out[refit] = backtest({"vessel": model}, part, horizons=HORIZONS, train=0.5, refit=refit,
                                  max_gap="10min", position_groups=[("east_m", "north_m")], level=[90],
                                  progress=False)
    return out


def test_online_backtest_gives_the_vessel_model_tracked_bands(online_and_fixed):
    res = online_and_fixed["online"]
    assert res.failures[res.failures["kind"] == "error"].empty
    f = res.forecasts[res.forecasts["scored"]]
    assert len(f) > 500
    radius = f["radius_90"].to_numpy()
    assert np.isfinite(radius).all() and (radius > 0).all()
    for unit in ("all", "east_m+north_m"):
        cov = res.coverage(90, unit=unit).loc["vessel", HORIZONS].to_numpy(dtype=float)
        assert np.isfinite(cov).all()
        assert ((cov > 0.6) & (cov < 1.0)).all(), cov
    # the bands were tracked: within one horizon the issued radius changes over the test part,
    # while the fixed split-conformal radius is one value per horizon
    fixed = online_and_fixed["once"].forecasts
    fixed = fixed[fixed["scored"]]
    for h in HORIZONS:
        assert f.loc[f["horizon"] == h, "radius_90"].nunique() > 10
        assert fixed.loc[fixed["horizon"] == h, "radius_90"].nunique() == 1


def test_vessel_online_coverage_matches_the_scored_pairs(online_and_fixed):
    """The reported coverage is the share of scored positions inside their issued radius."""
    res = online_and_fixed["online"]
    f = res.forecasts[res.forecasts["scored"]]
    cov = res.coverage(90, unit="east_m+north_m").loc["vessel"]
    key = ["series", "origin_time", "horizon"]
    wide = f.pivot_table(index=key, columns="target", values=["forecast", "truth", "radius_90"], aggfunc="first")
    miss = np.hypot(wide["forecast", "east_m"] - wide["truth", "east_m"], wide["forecast", "north_m"] - wide["truth", "north_m"])
    inside = (miss <= wide["radius_90", "east_m"]).groupby(level="horizon").mean()
    for h in HORIZONS:
        assert cov[h] == pytest.approx(float(inside[h]), abs=1e-9)


def test_a_parameter_free_horizon_without_held_out_errors_calibrates_on_the_training_windows():
    """On a one-hour file the held-out part has no 15-min target; where the model forecasts
    15 min by plain dead reckoning (no fitted parameters), its band calibrates on the training
    windows instead of being extrapolated from the 1-min band of another kind of forecast."""
    from tsgate.vessel import bands

    data = load_dataset("ais-nyharbor-mc")
    ids = sorted(pd.unique(data.frame["series"]))[:120]
    train = data.subset(ids).split(train=0.5)[0]
    model = model_spec("vessel").build(seed=0, window=6, hidden_size=8, max_epochs=1, batch_size=64,
                                       horizons=["1min", "15min"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(train)
    assert model.choice_[1] in bands.PARAMETER_FREE and model._parameter_free()[1]
    n = model.calibrator_.n_calibration
    # 1 min: the held-out errors; 15 min: training windows (the held-out part has fewer than 100)
    assert n[0] >= 100 and n[1] >= 100, n
    held = model.fit_report_[-1]
    assert held["choice"]["15min"] in bands.PARAMETER_FREE
