"""The vessel model's per-horizon forecast combination: convex weights over its candidates and
persistence, used only where a cross-fit over vessels shows it beats the single choice, kept in
the model file (older files without it load)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from ais_files import WRITERS, Report
from tsgate.adapters.geo import KNOT_M_S, LocalTangentPlane
from tsgate.vessel.combination import PERSISTENCE, Combination, clustered_se, combine, cross_fit, fit_weights


def _members(n_vessels: int, per_vessel: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dead-reckoning-like displacements D [n, 2] (m), other candidates' noise, vessel codes."""
    rng = np.random.default_rng(seed)
    n = n_vessels * per_vessel
    vessel = np.repeat(np.arange(n_vessels), per_vessel)
    dr = rng.normal(0, 1000.0, (n, 2))
    return dr, rng.normal(0, 1.0, (n, 2)), vessel


def test_weights_are_convex_and_recover_a_damped_extrapolation():
    dr, noise, _ = _members(10, 40)
    truth = 0.35 * dr + 20.0 * noise  # the vessel makes a third of what dead reckoning says
    D = np.stack([np.zeros_like(dr), dr, dr + 300.0 * np.random.default_rng(1).normal(size=dr.shape)])
    w = fit_weights(D, truth)
    assert w.shape == (3,) and (w >= 0).all() and w.sum() == pytest.approx(1.0, abs=1e-12)
    assert w[1] == pytest.approx(0.35, abs=0.03) and w[0] == pytest.approx(0.65, abs=0.05), w
    # a member that is the truth gets all the weight
    w = fit_weights(np.stack([np.zeros_like(dr), dr, truth]), truth)
    assert w[2] == pytest.approx(1.0, abs=1e-3), w


def _combine(truth: np.ndarray, dr: np.ndarray, vessel: np.ndarray, rows: np.ndarray | None = None):
    n = len(dr)
    origin = np.zeros((n, 2))
    members = {"dead reckoning": dr[:, None, :], PERSISTENCE: origin[:, None, :]}
    rows = np.ones((n, 1), bool) if rows is None else rows
    return combine(members, dr[:, None, :], origin, truth[:, None, :], rows, vessel, ["15min"], 50, np.zeros(1),
                   ["dead reckoning"])


def test_the_combination_replaces_the_choice_only_where_it_wins_in_the_cross_fit():
    dr, noise, vessel = _members(12, 30)
    # must: the vessels make half of dead reckoning's displacement
    comb, rep, held = _combine(0.5 * dr + 30.0 * noise, dr, vessel)
    assert comb.used[0] and rep["used"]["15min"] == "yes", rep
    assert rep["cross_fit_error_m"]["15min"] < 0.7 * rep["single_error_m"]["15min"], rep
    assert comb.weights[0] == pytest.approx([0.5, 0.5], abs=0.05)
    # its held-out forecasts are the cross-fitted ones (each half's weights from the other half)
    err = np.linalg.norm(held[:, 0] - (0.5 * dr + 30.0 * noise), axis=1).mean()
    assert err == pytest.approx(rep["cross_fit_error_m"]["15min"], abs=1e-3)
    # must not: dead reckoning is right (up to noise); the combination cannot beat it by one SE
    comb, rep, held = _combine(dr + 30.0 * noise, dr, vessel)
    assert not comb.used[0] and rep["used"]["15min"].startswith("no"), rep
    np.testing.assert_array_equal(held, dr[:, None, :])
    assert comb.weights[0, 0] > 0.95
    # must not either: a gain carried by one vessel only is within one standard error over vessels
    truth = dr + 30.0 * noise
    truth[vessel == 0] = 0.2 * dr[vessel == 0]
    comb, rep, _ = _combine(truth, dr, vessel)
    assert not comb.used[0], rep


def test_too_few_vessels_to_cross_fit_keeps_the_choice():
    dr, noise, vessel = _members(3, 40)
    comb, rep, _ = _combine(0.5 * dr + noise, dr, vessel)
    assert not comb.used[0] and "too few vessels" in rep["used"]["15min"]
    assert cross_fit(np.stack([dr, np.zeros_like(dr)]), dr, vessel) is None


def test_a_horizon_with_too_few_pairs_takes_the_nearest_validated_horizons_weights():
    dr, noise, vessel = _members(12, 30)
    n = len(dr)
    origin = np.zeros((n, 2))
    members = {"dead reckoning": np.stack([dr, 2 * dr, 3 * dr], axis=1), PERSISTENCE: np.zeros((n, 3, 2))}
    y = 0.5 * members["dead reckoning"] + 30.0 * noise[:, None, :]
    rows = np.ones((n, 3), bool)
    rows[40:, 2] = False  # the longest horizon: 40 validation pairs
    comb, rep, _ = combine(members, members["dead reckoning"], origin, y, rows, vessel, ["1min", "5min", "15min"], 50,
                           np.array([0.3, 0.4, 0.0]), ["dead reckoning"] * 3)
    assert comb.used.all()
    np.testing.assert_allclose(comb.weights[2], comb.weights[1])
    assert comb.source == ["1min", "5min", "5min"] and comb.alpha[2] == pytest.approx(0.4)
    assert "nearest validated horizon 5min" in rep["used"]["15min"] and "15min" not in rep["weights"]


def test_clustered_standard_error_counts_vessels_not_pairs():
    rng = np.random.default_rng(0)
    vessel = np.repeat(np.arange(10), 100)
    d = np.repeat(rng.normal(0, 1.0, 10), 100) + rng.normal(0, 0.01, 1000)  # one value per vessel
    naive = d.std(ddof=1) / np.sqrt(len(d))
    assert clustered_se(d, vessel) > 5 * naive
    assert clustered_se(d[:5], np.zeros(5)) == np.inf


def test_weights_in_a_model_file_are_checked():
    comb = Combination(["dead reckoning", PERSISTENCE], np.array([[0.4, 0.6]]), np.array([True]), np.zeros(1),
                       ["dead reckoning"], ["15min"])
    back = Combination.from_meta(json.loads(json.dumps(comb.to_meta())))
    np.testing.assert_array_equal(back.weights, comb.weights)
    bad = comb.to_meta()
    bad["weights"] = [[0.9, 0.6]]
    with pytest.raises(ValueError, match="summing to 1"):
        Combination.from_meta(bad)
    bad["weights"] = [[1.4, -0.4]]
    with pytest.raises(ValueError, match="non-negative"):
        Combination.from_meta(bad)


# ---------------------------------------------------------------- the model on meandering vessels
SPEED = 6 * KNOT_M_S  # m/s


def _meanderers(tmp_path, n_vessels: int = 30, seed: int = 0):
    """Vessels (fishing, patrolling) at 6 kn that turn to a random new course every 3 min on
    average, reports 10 s apart with every fourth report lost and 3 m GPS noise,
    SOG/COG reported: 10 minutes ahead the expected displacement is about 0.3 of dead
    reckoning's, along the current course."""
    from tsgate.adapters.ais import load_ais

    rng = np.random.default_rng(seed)
    plane = LocalTangentPlane(55.5, 11.0)
    reports = []
    for v in range(n_vessels):
        dt = 10.0
        t = np.arange(0.0, 5400.0, dt)
        course = np.cumsum(np.where(rng.random(len(t)) < dt / 180.0, rng.uniform(0, 2 * np.pi, len(t)), 0.0))
        course += rng.uniform(0, 2 * np.pi)
        step = SPEED * dt * np.stack([np.sin(course), np.cos(course)], axis=1)
        pos = np.cumsum(step, axis=0) + [20_000.0 * (v % 6), 20_000.0 * (v // 6)]
        keep = rng.random(len(t)) > 0.25
        pos = pos + rng.normal(0, 3.0, pos.shape)
        lat, lon = plane.inverse(pos[:, 0], pos[:, 1])
        cog = np.mod(np.degrees(course), 360.0)
        reports += [Report("ok", 219000000 + v, float(t[i]) + float(rng.uniform(0, 1)), float(np.round(lat[i], 6)),
                           float(np.round(lon[i], 6)), 6.0, float(round(cog[i], 1)), float(round(cog[i])))
                    for i in np.flatnonzero(keep)]
    reports.sort(key=lambda r: r.sec)
    path = tmp_path / "meander.csv"
    WRITERS["aisdk"](path, reports)
    return load_ais(path)


def _model(**kw):
    from tsgate.vessel import VesselLSTMForecaster

    # no network (min_windows): the candidates are the bases and persistence
    return VesselLSTMForecaster(horizons=["1min", "10min"], min_windows=10**9, track_analogs=False, val_fraction=0.3, **kw)


def test_the_model_damps_dead_reckoning_for_meandering_vessels_and_keeps_the_weights_in_its_file(tmp_path):
    from tsgate.baselines import DeadReckoningForecaster
    from tsgate.estimators.base import load
    from tsgate.evaluation.positions import evaluate_positions
    from tsgate.exceptions import ModelFileError

    d = _meanderers(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = evaluate_positions({"dead reckoning": DeadReckoningForecaster(horizons=["1min", "10min"]),
                                "combined": _model(), "single": _model(combination=False)},
                               d, horizons=["1min", "10min"], stride=2, cut="series")
        m = _model().fit(d)
    # fitted on every vessel's whole track: damping wins the cross-fit at 10 min
    rep = m.fit_report_[-1]["combination"]
    assert rep["used"]["10min"] == "yes", rep
    assert rep["cross_fit_error_m"]["10min"] < rep["single_error_m"]["10min"] - rep["se_m"]["10min"], rep
    assert rep["weights"]["10min"][PERSISTENCE] > 0.3, rep
    # on every vessel's later half (never seen in fit) it is not worse than the single choice
    bt = r.result.info["fit_report"]["combined"][-1]["combination"]
    assert bt["weights"]["10min"][PERSISTENCE] > 0.3, bt
    err = r.errors
    for h in ("1min", "10min"):
        assert err.loc["combined", h] <= 1.01 * err.loc["single", h], err
    assert err.loc["combined", "10min"] < 0.7 * err.loc["dead reckoning", "10min"], err
    assert "combination" not in r.result.info["fit_report"]["single"][-1]
    # the weights travel in the model file: the same forecasts after loading
    assert m.combination_ is not None and m.combination_.used[1]
    m.save(tmp_path / "m")
    back = load(tmp_path / "m")
    np.testing.assert_allclose(back.predict(d, origins="all")["east_m"], m.predict(d, origins="all")["east_m"], atol=1e-9)
    np.testing.assert_allclose(back.combination_.weights, m.combination_.weights)
    # a file written before the combination existed loads and forecasts by the single choice
    manifest = tmp_path / "m" / "model.json"
    desc = json.loads(manifest.read_text())
    del desc["fitted"]["state"]["combination"]
    manifest.write_text(json.dumps(desc))
    old = load(tmp_path / "m")
    assert old.combination_ is None
    m.combination_ = None
    np.testing.assert_allclose(old.predict(d, origins="all")["east_m"], m.predict(d, origins="all")["east_m"], atol=1e-9)
    # weights that are not convex are refused with a message
    desc["fitted"]["state"]["combination"] = {**back.combination_.to_meta(), "weights": [[2.0, -1.0, 0.0], [0.5, 0.5, 0.5]]}
    manifest.write_text(json.dumps(desc))
    with pytest.raises(ModelFileError, match="combination"):
        load(tmp_path / "m")
