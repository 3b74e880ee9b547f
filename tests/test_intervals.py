"""Prediction intervals: split-conformal calibration in fit, adaptive conformal tracking online."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tsgate
from tsgate import ConfigError, IrregularSeries
from tsgate.estimators.intervals import Calibrator, band_columns, parse_levels, position_groups


def random_walk(n: int = 3000, sigma_after: float = 1.0, seed: int = 0, cut: int = 1500) -> IrregularSeries:
    """One random walk (Gaussian steps of sd 1, then ``sigma_after`` from row ``cut``), jittered times."""
    rng = np.random.default_rng(seed)
    sd = np.where(np.arange(n) < cut, 1.0, sigma_after)
    df = pd.DataFrame({"time": np.cumsum(rng.uniform(0.5, 1.5, n)), "y": np.cumsum(rng.normal(0, 1, n) * sd)})
    return IrregularSeries.from_frame(df, time_col="time")


def covered(fc: tsgate.Forecasts, truth: np.ndarray, level: float) -> float:
    lo, hi, _ = fc.bands(level)
    ok = np.isfinite(truth)
    return float(((truth >= lo) & (truth <= hi))[ok].mean())


def truths(data: IrregularSeries, fc: tsgate.Forecasts, horizons) -> np.ndarray:
    w = tsgate.make_windows(data, 1, horizons, targets="optional")
    pos = {t: i for i, t in enumerate(w.origin_time)}
    return w.y[[pos[t] for t in fc.origin_time]]


def test_split_conformal_quantile_is_the_finite_sample_rank():
    cal = Calibrator(["y"], [], 1, levels=(90.0, 50.0))
    scores = np.arange(1.0, 20.0)  # 19 scores: rank ceil(20 * 0.9) = 18, ceil(20 * 0.5) = 10
    cal.calibrate(np.zeros((19, 1, 1)), scores[:, None, None])
    assert cal.q[:, 0, 0].tolist() == [18.0, 10.0]
    cal.track([99.0])  # rank 20 > 19: the largest score
    assert cal.q[-1, 0, 0] == 19.0


def test_static_bands_cover_exchangeable_residuals():
    data = random_walk()
    train, _, test = data.split(train=0.5)
    est = tsgate.PersistenceForecaster(horizons=[1, 4]).fit(train)
    fc = est.forecast(data, origins=test.time_seconds(), level=[80, 90])
    y = truths(data, fc, [1, 4])
    assert abs(covered(fc, y, 90) - 0.9) < 0.03
    assert abs(covered(fc, y, 80) - 0.8) < 0.04
    assert (fc.bands(90)[1] - fc.bands(90)[0] > fc.bands(80)[1] - fc.bands(80)[0]).all()


def test_online_tracking_restores_coverage_after_a_shift():
    """The noise triples after fit: fixed split-conformal bands lose coverage, tracked ones keep it."""
    data = random_walk(sigma_after=3.0, cut=1000)
    train, _, rest = data.split(train=1000)
    static = tsgate.PersistenceForecaster(horizons=[1]).fit(train)
    fc_static = static.forecast(data, origins=rest.time_seconds(), level=[90])
    online = tsgate.PersistenceForecaster(horizons=[1]).fit(train)
    fc_online = online.forecast_and_learn(rest, level=[90])
    y = truths(data, fc_online, [1])
    assert covered(fc_static, truths(data, fc_static, [1]), 90) < 0.6
    assert abs(covered(fc_online, y, 90) - 0.9) < 0.02
    cov = online.calibrator_.coverage()
    assert cov["n"][0, 0] == len(rest) - 1  # every revealed target was scored once
    assert abs(cov["coverage"][cov["levels"].index(90.0), 0, 0] - 0.9) < 0.02


def test_every_model_gives_bands_and_keeps_them_through_save_and_load(tmp_path, make_frame):
    data = IrregularSeries.from_frame(make_frame(n=300), time_col="time", id_col="series")
    first, _, rest = data.split(train=0.6)
    # split by time, not per series: the calibrator is pooled over series, in time order
    t = rest.time_seconds()
    tau = float(np.median(t))
    a, b = rest.take(t <= tau), rest.take(t > tau)
    for est in (tsgate.LinearARForecaster(window=4, horizons=["300ms", "1s"]),
                tsgate.OnlineLinearForecaster(shl=4, horizons=["300ms", "1s"]),
                tsgate.OnlineRNNForecaster(hidden_size=6, shl=4, horizons=["300ms", "1s"])):
        est.fit(first)
        one = tsgate.load(est.save(tmp_path / type(est).__name__))
        est.update(a, level=90)
        est.save(tmp_path / "m")
        again = tsgate.load(tmp_path / "m")
        f1 = est.update(b, level=[90])
        f2 = again.update(b, level=[90])
        pd.testing.assert_frame_equal(f1, f2)
        assert {"y_lower_90", "y_upper_90", "z_lower_90", "z_upper_90"} <= set(f1.columns)
        assert (f1["y_lower_90"] <= f1["y"]).all() and (f1["y"] <= f1["y_upper_90"]).all()
        # updating in one call or in two, with a save/load between, gives the same bands
        keys = ["series", "origin_time", "horizon"]
        m = one.update(rest, level=[90]).merge(f1, on=keys, suffixes=("", "_split"))
        assert len(m) == len(f1)
        for c in f1.columns.drop(keys + ["target_time"]):
            np.testing.assert_allclose(m[c], m[f"{c}_split"], rtol=1e-9, err_msg=c)


def test_position_groups_get_a_radius():
    rng = np.random.default_rng(1)
    n = 1200
    df = pd.DataFrame({"time": np.cumsum(rng.uniform(5, 15, n)), "series": "v",
                       "east_m": np.cumsum(rng.normal(0, 3, n)), "north_m": np.cumsum(rng.normal(0, 3, n))})
    data = IrregularSeries.from_frame(df, time_col="time", id_col="series")
    train, _, test = data.split(train=0.5)
    est = tsgate.PersistenceForecaster(horizons=["30s"]).fit(train)
    fc = est.forecast_and_learn(test, level=[90])
    frame = fc.to_frame()
    assert "east_m_north_m_radius_90" in frame.columns
    _, _, radius = fc.bands(90)
    w = tsgate.make_windows(data, 1, ["30s"], targets="optional")
    pos = {t: i for i, t in enumerate(w.origin_time)}
    y = w.y[[pos[t] for t in fc.origin_time]]
    dist = np.sqrt(((y - fc.values) ** 2).sum(axis=2))[:, 0]
    ok = np.isfinite(dist)
    assert abs((dist[ok] <= radius[ok, 0, 0]).mean() - 0.9) < 0.03


def test_position_group_rule_and_column_names():
    assert position_groups(["east_m", "north_m", "sog"]) == ((0, 1),)
    assert position_groups(["x1", "x2", "y1", "y2", "z1", "z2"]) == ((0, 2, 4), (1, 3, 5))
    assert position_groups(["a", "b"], {"position_groups": [["b", "a"]]}) == ((1, 0),)
    assert band_columns(["x1"], [("x1", "y1")], 97.5) == ["x1_lower_97.5", "x1_upper_97.5", "x1_y1_radius_97.5"]


@pytest.mark.parametrize("bad", [0.9, 100, -5, "90", [90, 90], float("nan")])
def test_bad_levels_are_refused(bad):
    with pytest.raises(ConfigError, match="level"):
        parse_levels(bad)


def test_a_regime_change_with_many_forecasts_in_flight_does_not_blow_the_band_up():
    """Delayed feedback: 400 vessels' forecasts are pending when errors jump tenfold. Every late
    miss widens the band (as adaptive conformal inference does), but never past CAP times the
    largest recent score (without that bound, 400 misses widened it by e^(0.05 * 0.9 * 400), about 10^7.8)."""
    from tsgate.estimators.intervals import CAP, Calibrator

    rng = np.random.default_rng(0)
    cal = Calibrator(["y"], [], n_horizons=1, levels=[90.0])
    cal.calibrate(np.zeros((500, 1, 1)), rng.normal(0.0, 1.0, (500, 1, 1)))
    q0 = float(cal.q[0, 0, 0])
    assert 1.4 < q0 < 1.9  # about the 90 % quantile of |N(0, 1)|, 1.645
    for v in range(400):
        cal.issue(v, 0.0, np.zeros((1, 1)))
    new = rng.normal(0.0, 10.0, 400)
    for v in range(400):  # every pending forecast misses: the errors are now ~10 times larger
        cal.reveal(v, np.array([0.0]), np.array([0]), new[v : v + 1, None])
    q = float(cal.q[0, 0, 0])
    assert 16.4 < q <= CAP * np.abs(new).max() + 1e-12, q  # past the new 90 % quantile, bounded
    assert cal.n_scored[0, 0] == 400
    # coverage is counted against the width each forecast was issued with:
    # P(|N(0, 10)| < 1.645) = 0.13, so the forecasts issued with the old band mostly missed
    assert float(cal.coverage()["coverage"][0, 0, 0]) < 0.25
    # once the stale forecasts are scored, new ones covered by the wide band narrow it again
    for t in range(1, 301):
        cal.issue("later", float(t), np.zeros((1, 1)))
        cal.reveal("later", np.array([float(t)]), np.array([0]), rng.normal(0.0, 10.0, (1, 1)))
    assert float(cal.q[0, 0, 0]) < q


def test_many_targets_of_one_horizon_in_one_call_are_taken_one_by_one():
    """One call revealing 300 targets of one horizon moves the band as 300 single reveals do."""
    from tsgate.estimators.intervals import Calibrator

    rng = np.random.default_rng(1)
    truth = rng.normal(0.0, 5.0, (300, 1))
    a = Calibrator(["y"], [], n_horizons=1, levels=[90.0])
    b = Calibrator(["y"], [], n_horizons=1, levels=[90.0])
    for c in (a, b):
        c.calibrate(np.zeros((200, 1, 1)), np.linspace(-1.0, 1.0, 200)[:, None, None])
        for i in range(300):
            c.issue("s", float(i), np.zeros((1, 1)))
    a.reveal("s", np.arange(300.0), np.zeros(300, np.int64), truth)
    for i in range(300):
        b.reveal("s", np.array([float(i)]), np.array([0]), truth[i : i + 1])
    np.testing.assert_allclose(a.q, b.q, rtol=1e-12)
    np.testing.assert_array_equal(a.n_covered, b.n_covered)
    from tsgate.estimators.intervals import CAP

    assert float(a.q[0, 0, 0]) <= CAP * np.abs(truth).max() + 1e-12
