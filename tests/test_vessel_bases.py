"""The vessel model's base forecasts: chosen per horizon on its validation part, the linear base
kept off reception gaps, the one-standard-error rule among the bases and the corrected dead
reckoning, and the choice saved with the model."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from ais_files import WRITERS, ten_second_track
from tsgate.vessel.bases import simplest_within_one_se


def _fleet(tmp_path, *, gps_m: float, n_vessels: int = 12, seed: int = 3):
    from tsgate.adapters.ais import load_ais

    rng = np.random.default_rng(seed)
    reports = []
    for v in range(n_vessels):
        reports += ten_second_track(219000000 + v, rng, n=360, gps_m=gps_m)
    reports.sort(key=lambda r: r.sec)
    path = tmp_path / "fleet.csv"
    WRITERS["aisdk"](path, reports)
    return load_ais(path)


def _base_only(**kw):
    from tsgate.vessel import VesselLSTMForecaster

    # min_windows out of reach: no network, the model is its validated base forecast
    return VesselLSTMForecaster(horizons=["30s", "1min"], min_windows=10**9, **kw)


def test_one_standard_error_rule_prefers_the_simpler_candidate_unless_clearly_worse():
    rng = np.random.default_rng(0)
    e = rng.gamma(2.0, 5.0, 400)
    # the complex candidate is 0.1 % better (0.01 m) with 1 m of pair noise (SE 0.05 m): the simple one
    noise = rng.normal(0, 1, 400)
    assert simplest_within_one_se(np.stack([e, e * 0.999 + noise - noise.mean()])) == 0
    # 20 % better on every pair: chosen
    assert simplest_within_one_se(np.stack([e, 0.8 * e])) == 1
    assert simplest_within_one_se(np.stack([0.8 * e, e])) == 0


def test_noisy_fast_cadence_chooses_the_linear_base_and_it_beats_dead_reckoning(tmp_path):
    from tsgate.baselines import DeadReckoningForecaster
    from tsgate.estimators.base import load
    from tsgate.evaluation.positions import evaluate_positions

    d = _fleet(tmp_path, gps_m=8.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = evaluate_positions({"dead reckoning": DeadReckoningForecaster(horizons=["30s", "1min"]), "base": _base_only()},
                               d, horizons=["30s", "1min"], stride=3)
        m = _base_only().fit(d)
    rep = r.result.info["fit_report"]["base"][-1]
    assert list(rep["bases"].values()) == ["linear AR", "linear AR"], rep
    assert rep["validation_error_m"]["linear AR"][0] < rep["validation_error_m"]["dead reckoning"][0]
    # on each vessel's later half (never seen in fit): 8 m GPS noise on the origin fix is what
    # dead reckoning carries forward; the regression over the last six fixes averages it
    err = r.errors
    assert (err.loc["base"] < 0.9 * err.loc["dead reckoning"]).all(), err
    # the model file keeps the choice and the linear maps: the same forecasts after loading
    assert m.bases_ == ["linear AR", "linear AR"] and m.linear_ is not None
    m.save(tmp_path / "m")
    back = load(tmp_path / "m")
    assert back.bases_ == m.bases_
    np.testing.assert_allclose(back.predict(d, origins="all")["east_m"], m.predict(d, origins="all")["east_m"], atol=1e-9)


def test_without_validation_the_base_is_dead_reckoning(tmp_path):
    d = _fleet(tmp_path, gps_m=8.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = _base_only(val_fraction=0.0).fit(d)
    assert m.bases_ == ["dead reckoning", "dead reckoning"] and m.linear_ is None


def test_the_corrected_dead_reckoning_wins_only_when_clearly_better_than_every_base():
    from tsgate.vessel.bases import CORRECTED, choose

    rng = np.random.default_rng(0)
    n = 400
    y = np.zeros((n, 2, 2))
    e = rng.gamma(2.0, 50.0, size=(n, 2))
    # every candidate sits straight east of the truth at its error (m)
    at = lambda err: np.stack([err, np.zeros_like(err)], axis=2)  # noqa: E731
    noise = rng.normal(0.0, 5.0, size=n)
    cands = {"dead reckoning": at(e), "two-point": at(1.2 * e), "linear AR": at(0.9 * e),
             CORRECTED: at(np.stack([0.7 * e[:, 0], 0.9 * e[:, 1] + noise - noise.mean()], axis=1))}
    chosen, errors = choose(cands, y, np.ones((n, 2), bool), 50)
    # horizon 0: the correction is 22 % better than the linear base; horizon 1: a tie within
    # one standard error, so the simpler linear base
    assert chosen == [CORRECTED, "linear AR"], chosen
    assert errors[CORRECTED][0] < errors["linear AR"][0] < errors["dead reckoning"][0]
    few = choose(cands, y, np.zeros((n, 2), bool), 50)[0]
    assert few == ["dead reckoning", "dead reckoning"]


def test_a_model_file_without_the_choice_still_loads_and_forecasts_the_same(tmp_path):
    import json

    from tsgate.estimators.base import load
    from tsgate.vessel import VesselLSTMForecaster

    d = _fleet(tmp_path, gps_m=2.0, n_vessels=4)
    m = VesselLSTMForecaster(horizons=["30s", "1min"], window=6, hidden_size=8, max_epochs=1, min_windows=50,
                             min_series=2, val_fraction=0.0).fit(d)
    assert m.choice_ == ["dead reckoning + correction"] * 2 and m.bases_ == ["dead reckoning"] * 2 and m.nets_
    m.save(tmp_path / "m")
    manifest = tmp_path / "m" / "model.json"
    desc = json.loads(manifest.read_text())
    del desc["fitted"]["state"]["choice"]  # as written before the choice was recorded
    manifest.write_text(json.dumps(desc))
    back = load(tmp_path / "m")
    assert back.choice_ == back.bases_ == m.bases_
    np.testing.assert_allclose(back.predict(d, origins="all")["east_m"], m.predict(d, origins="all")["east_m"], atol=1e-9)
