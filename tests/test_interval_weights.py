"""Recency-weighted split conformal (opt-in): the weighted quantile, the weights, the fit path."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import tsgate
from tsgate.data.series import IrregularSeries
from tsgate.estimators import conformal
from tsgate.estimators.conformal import recency_weights, weighted_quantile
from tsgate.estimators.intervals import Calibrator


def brute_quantile(s: np.ndarray, w: np.ndarray, level: float) -> float:
    """The smallest candidate q with Σ_{s_i <= q} w_i >= ℓ (Σ w + 1), else the largest score."""
    total = w.sum() + 1.0
    for q in np.sort(np.unique(s)):
        if w[s <= q].sum() / total >= level / 100.0:
            return float(q)
    return float(s.max())


@pytest.mark.parametrize("n", [1, 3, 10, 57, 400])
def test_weighted_quantile_matches_a_brute_force_reference(n):
    rng = np.random.default_rng(n)
    s = np.round(rng.exponential(1.0, (n, 3)), 1)  # rounded: ties
    w = rng.uniform(0.05, 1.0, n)
    levels = [50.0, 80.0, 90.0, 95.0, 99.0]
    got = weighted_quantile(s, levels, w)
    for li, lv in enumerate(levels):
        for u in range(3):
            assert got[li, u] == brute_quantile(s[:, u], w, lv), (n, lv, u)


def test_equal_weights_give_the_split_conformal_rank():
    rng = np.random.default_rng(0)
    for n in (1, 9, 19, 20, 99, 100, 1000):
        s = rng.normal(size=(n, 2)) ** 2
        ranks = [min(n, int(np.ceil((n + 1) * lv / 100))) - 1 for lv in (80.0, 90.0, 95.0)]
        expect = np.sort(s, axis=0)[ranks]
        np.testing.assert_array_equal(weighted_quantile(s, (80.0, 90.0, 95.0)), expect)
        np.testing.assert_array_equal(weighted_quantile(s, (80.0, 90.0, 95.0), np.ones(n)), expect)
    assert np.isnan(weighted_quantile(np.zeros((0, 2)), [90.0], np.zeros(0))).all()


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_a_bad_half_life_is_refused(bad):
    from tsgate.exceptions import ConfigError

    with pytest.raises(ConfigError, match="half_life"):
        Calibrator(["y"], [], 1, half_life=bad)


def test_recency_weights_halve_per_half_life_within_each_series():
    t = np.array([0.0, 50.0, 100.0, 1000.0, 1010.0, 7.0])
    series = np.array([0, 0, 0, 1, 1, 2])
    w = recency_weights(t, series, 0.5)
    # series 0 spans 100 s: ages 1, 0.5, 0; series 1 spans 10 s: ages 1, 0; series 2 (one origin): age 0
    np.testing.assert_allclose(w, [0.25, 0.5, 1.0, 0.25, 1.0, 1.0])


def step_errors(n: int, change: int, seed: int) -> np.ndarray:
    """Normal errors whose scale steps from 1 to 3 at index ``change`` (a regime change)."""
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 1.0, n) * np.where(np.arange(n) >= change, 3.0, 1.0)


def test_after_a_change_the_unweighted_band_under_covers_and_the_weighted_one_does_not():
    """The errors triple for the newest 20 % of the calibration set and stay so: equal weights mix
    both regimes into the band, recency weights (half-life 5 % of the span) take the new one."""
    t = np.arange(2000.0)
    e = step_errors(2000, 1600, seed=3)
    test = np.random.default_rng(4).normal(0.0, 3.0, 5000)  # the new regime goes on
    cover = {}
    for hl in (None, 0.05):
        c = Calibrator(["y"], [], 1, levels=[90.0], half_life=hl)
        c.calibrate(np.zeros((2000, 1, 1)), e[:, None, None], t, np.zeros(2000, np.int64))
        cover[hl] = np.mean(np.abs(test) <= c.q[0, 0, 0])
    assert cover[None] < 0.7
    assert 0.88 <= cover[0.05] <= 0.93
    # without times the calibrator cannot weigh: equal weights
    c = Calibrator(["y"], [], 1, levels=[90.0], half_life=0.05)
    c.calibrate(np.zeros((2000, 1, 1)), e[:, None, None])
    assert np.mean(np.abs(test) <= c.q[0, 0, 0]) == cover[None]


def stepping_walk(n: int = 2000, change: int = 1400) -> IrregularSeries:
    """A random walk (one row a second) whose step triples at row ``change``."""
    frame = pd.DataFrame({"time": np.arange(float(n)), "y": np.cumsum(step_errors(n, change, seed=1))})
    return IrregularSeries.from_frame(frame, time_col="time")


def test_a_fitted_model_weights_its_calibration_origins_by_recency_when_the_half_life_is_set(monkeypatch):
    data = stepping_walk()
    train = data.take(np.arange(1500))  # calibration: origins 1199-1498, the newest third after the change
    plain = tsgate.PersistenceForecaster(horizons=[1]).fit(train)
    monkeypatch.setattr(conformal, "HALF_LIFE", 0.05)
    weighted = tsgate.PersistenceForecaster(horizons=[1]).fit(train)
    assert plain.calibrator_.half_life is None and weighted.calibrator_.half_life == 0.05
    assert weighted.calibrator_.n_calibration.tolist() == plain.calibrator_.n_calibration.tolist() == [300]
    # the band is the weighted quantile of exactly those origins' errors
    y = data.frame["y"].to_numpy()
    t = np.arange(1199.0, 1499.0)
    err = np.abs(y[1200:1500] - y[1199:1499])[:, None]
    expect = weighted_quantile(err, [90.0], recency_weights(t, np.zeros(300, np.int64), 0.05))
    assert weighted.calibrator_.q[weighted.calibrator_.levels.index(90.0), 0, 0] == expect[0, 0]
    cover = {}
    for name, m in (("plain", plain), ("weighted", weighted)):
        lo, hi, _ = m.forecast(data, origins=np.arange(1500.0, 1999.0), level=90).bands(90)
        truth = y[1501:2000]
        cover[name] = np.mean((truth >= lo[:, 0, 0]) & (truth <= hi[:, 0, 0]))
    assert cover["plain"] < 0.8 and 0.88 <= cover["weighted"] <= 0.97


def test_model_files_keep_the_half_life_and_old_ones_load(monkeypatch, tmp_path):
    from tsgate import load

    monkeypatch.setattr(conformal, "HALF_LIFE", 0.25)
    data = stepping_walk(600, 300)
    m = tsgate.PersistenceForecaster(horizons=[1, 5]).fit(data)
    m.save(tmp_path / "m")
    back = load(tmp_path / "m")
    assert back.calibrator_.half_life == 0.25
    np.testing.assert_array_equal(back.calibrator_.q, m.calibrator_.q)
    manifest = tmp_path / "m" / "model.json"
    desc = json.loads(manifest.read_text())
    del desc["fitted"]["calibration"]["half_life"]  # as written before recency weights
    manifest.write_text(json.dumps(desc))
    old = load(tmp_path / "m")
    assert old.calibrator_.half_life is None
    np.testing.assert_array_equal(old.calibrator_.q, m.calibrator_.q)
    f = old.forecast(data, level=90)
    assert np.isfinite(f.bands(90)[0]).all()
