"""Vessel position evaluation (the function the CLI and benchmarks/ais.py share), the global time
cut, and the vessel LSTM's dead-reckoning fallback (hand-made tracks)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tsgate.adapters.geo import KNOT_M_S
from tsgate.baselines import CTRVForecaster, DeadReckoningForecaster, PersistenceForecaster
from tsgate.data.series import IrregularSeries
from tsgate.evaluation.positions import evaluate_positions, reachable_horizons
from tsgate.exceptions import FewWindowsWarning


def _fleet(n: int = 6, minutes: float = 40, seed: int = 0, start_spread_s: float = 0.0) -> IrregularSeries:
    rng = np.random.default_rng(seed)
    parts = []
    for v in range(n):
        t0 = rng.uniform(0, start_spread_s)
        t = t0 + np.cumsum(rng.uniform(20, 40, int(minutes * 2)))
        hd = np.deg2rad(rng.uniform(0, 360) + 30 * np.sin(t / 600))
        sp = rng.uniform(4, 12) * KNOT_M_S
        dt = np.r_[0, np.diff(t)]
        parts.append(pd.DataFrame({"mmsi": 100 + v, "time": pd.to_datetime(1.6e9 + t, unit="s", utc=True),
                                   "east_m": np.cumsum(sp * np.sin(hd) * dt), "north_m": np.cumsum(sp * np.cos(hd) * dt),
                                   "sog_kn": sp / KNOT_M_S, "cog_deg": np.rad2deg(hd) % 360}))
    return IrregularSeries.from_frame(pd.concat(parts, ignore_index=True), id_col="mmsi",
                                      target_cols=["east_m", "north_m"], covariate_cols=["sog_kn", "cog_deg"])


def _models() -> dict:
    return {"persistence": PersistenceForecaster(), "dead reckoning": DeadReckoningForecaster(), "CTRV": CTRVForecaster()}


def test_metres_on_the_strict_intersection_and_horizons_the_data_cannot_reach():
    d = _fleet()
    r = evaluate_positions(_models(), d, horizons=["1min", "5min", "2h"], stride=2)
    assert r.dropped_horizons == ["2h"] and list(r.errors.columns) == ["1min", "5min"]
    # by hand: mean Euclidean error of dead reckoning on the scored pairs
    org, pr, sc = r.result.arrays["origins"], r.result.arrays["preds"]["dead reckoning"], r.result.arrays["scored"]
    dist = np.hypot(pr[:, 0, 0] - org["y"][:, 0, 0], pr[:, 0, 1] - org["y"][:, 0, 1])
    assert r.errors.loc["dead reckoning", "1min"] == pytest.approx(dist[sc[:, 0]].mean())
    assert r.errors.loc["dead reckoning", "1min"] < 0.5 * r.errors.loc["persistence", "1min"]
    assert r.pairs["1min"] == sc[:, 0].sum() > 100
    assert r.ratio.loc[r.best_baseline["1min"], "1min"] == pytest.approx(1.0)
    assert set(r.to_json()) == {"persistence", "dead reckoning", "CTRV"}
    assert reachable_horizons(d, ["30min", "1h"], 0.5) == ([], ["30min", "1h"])


def test_global_cut_keeps_every_training_report_before_every_test_origin():
    d = _fleet(n=5, minutes=30, start_spread_s=1800)  # vessels start up to 30 min apart
    r = evaluate_positions(_models(), d, horizons=["1min"], cut="global", stride=1)
    t = d.time_seconds()
    T = t.min() + 0.5 * (t.max() - t.min())
    assert (r.result.arrays["origins"]["origin_s"] > T).all()
    per = evaluate_positions(_models(), d, horizons=["1min"], cut="series", stride=1)
    assert (per.result.arrays["origins"]["origin_s"] <= T).any()  # the per-vessel cut tests earlier reports
    assert r.settings["cut"] == "global"


def test_vessel_lstm_falls_back_to_dead_reckoning_below_its_minimums(tmp_path):
    from tsgate.estimators.base import load
    from tsgate.vessel import VesselLSTMForecaster

    d = _fleet(n=3, minutes=30)
    m = VesselLSTMForecaster(horizons=["1min", "5min"], window=6, hidden_size=8, max_epochs=1)
    with pytest.warns(FewWindowsWarning, match=r"dead reckoning.*from 3 vessels, below its minimum of 1000 windows and 20"):
        m.fit(d)
    assert m.fallback_ == ["1min", "5min"] and not m.nets_ and m.fit_warnings_
    a = m.predict(d, origins="all")
    b = DeadReckoningForecaster(horizons=["1min", "5min"]).fit(d).predict(d, origins="all")
    merged = a.merge(b, on=["series", "origin_time", "horizon"])
    np.testing.assert_allclose(merged["east_m_x"], merged["east_m_y"], atol=1e-6)
    # with the minimums met it learns (no validation part: the correction at full scale), and
    # the model file round-trips exactly
    m2 = VesselLSTMForecaster(horizons=["1min", "5min"], window=6, hidden_size=8, max_epochs=2, min_windows=50,
                              min_series=2, n_seeds=2, val_fraction=0.0).fit(d)
    assert len(m2.nets_) == 2 and not m2.fallback_ and m2.alpha_.tolist() == [1.0, 1.0]
    m2.save(tmp_path / "v")
    back = load(tmp_path / "v")
    np.testing.assert_allclose(back.predict(d)["east_m"], m2.predict(d)["east_m"], atol=1e-6)
