"""Track analogs: the vessel model's base that forecasts by what earlier vessels did from the same
place, course and speed (causal: only tracks finished before the origin), and the vessel model's
prediction bands calibrated on its held-out validation forecasts."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from ais_files import WRITERS, Report
from tsgate.adapters.geo import KNOT_M_S, LocalTangentPlane
from tsgate.vessel.analogs import AnalogLibrary

SPEED = 10 * KNOT_M_S  # m/s
LEG = 5500.0  # m of the lane before its turn


def _lane(s: np.ndarray) -> np.ndarray:
    """East/north (m) at arc length ``s`` (m) of a lane: 5.5 km east, then a quarter turn of
    radius 500 m to port, then north."""
    s = np.asarray(s, dtype=np.float64)
    r, leg = 500.0, LEG
    arc = np.pi / 2 * r
    th = np.clip((s - leg) / r, 0.0, np.pi / 2)
    e = np.where(s <= leg, s, leg + r * np.sin(th))
    n = np.where(s <= leg, 0.0, r * (1 - np.cos(th)))
    after = s > leg + arc
    return np.stack([e, np.where(after, r + (s - leg - arc), n)], axis=-1)


def _course(s: np.ndarray) -> np.ndarray:
    """Compass course (deg) along the lane."""
    th = np.clip((np.asarray(s) - LEG) / 500.0, 0.0, np.pi / 2)
    return np.degrees(np.pi / 2 - th)


def _library(starts: list[float], step: float = 10.0, horizons: tuple[float, ...] = (300.0,)) -> AnalogLibrary:
    """Vessels entering the lane at ``starts`` (s), one origin every ``step`` s."""
    pos, vel, disp, vessel, time = [], [], [], [], []
    for v, t0 in enumerate(starts):
        t = t0 + np.arange(0, 1200, step)
        s = SPEED * (t - t0)
        c = np.radians(_course(s))
        pos.append(_lane(s))
        vel.append(SPEED * np.stack([np.sin(c), np.cos(c)], axis=1))
        disp.append(np.stack([_lane(s + SPEED * h) - _lane(s) for h in horizons], axis=1))
        vessel.append(np.full(len(t), v))
        time.append(t)
    n = sum(len(t) for t in time)
    return AnalogLibrary.build(np.concatenate(pos), np.concatenate(vel), np.concatenate(disp),
                               np.ones((n, len(horizons)), bool), np.concatenate(vessel), np.concatenate(time))


def test_analogs_follow_the_turn_earlier_vessels_took_and_dead_reckoning_misses():
    lib = _library([0.0, 600.0, 1200.0], horizons=(300.0,))
    # a vessel 500 m before the turn, heading east: 5 min later it is round the corner
    s0 = np.array([LEG - 500.0])
    origin, lead = _lane(s0), np.array([[300.0]])
    vel = np.array([[SPEED, 0.0]])
    truth = _lane(s0 + SPEED * 300.0)
    disp, count = lib.predict(origin, vel, lead, np.array([5000.0]))
    analog = origin + disp[:, 0]
    dr = origin + vel * 300.0
    assert count[0, 0] == 3  # one match per earlier vessel, not one per 10-s point
    err_a, err_dr = np.linalg.norm(analog - truth), np.linalg.norm(dr - truth)
    assert err_dr > 500.0 and err_a < 0.05 * err_dr, (err_a, err_dr)


def test_only_tracks_finished_before_the_origin_are_analogs():
    lib = _library([0.0], horizons=(300.0,))
    origin, vel = _lane(np.array([1000.0])), np.array([[SPEED, 0.0]])
    # the earlier vessel was within the 5-min radius (0.2 × speed × 300 s ≈ 309 m) of this point
    # from t ≈ 134 s: its first 5-min displacement there was complete at ≈ 434 s
    for t, expect in [(400.0, 0), (425.0, 0), (445.0, 1), (600.0, 1)]:
        disp, count = lib.predict(origin, vel, np.array([[300.0]]), np.array([t]))
        assert count[0, 0] == expect, (t, count)
        assert np.isfinite(disp).all() == bool(expect)


def test_speed_course_and_distance_gates():
    lib = _library([0.0], horizons=(60.0,))
    at = _lane(np.array([1000.0]))
    late = np.array([5000.0])
    lead = np.array([[60.0]])
    # a faster vessel on the same course: the displacement scaled by the speed ratio
    d, c = lib.predict(at, np.array([[1.5 * SPEED, 0.0]]), lead, late)
    assert c[0, 0] == 1
    np.testing.assert_allclose(d[0, 0], [1.5 * SPEED * 60.0, 0.0], rtol=0.02, atol=2.0)
    # opposite course, 3x the speed, far away, or (nearly) stopped: no analog
    for v, o in [([-SPEED, 0.0], at), ([3 * SPEED, 0.0], at), ([SPEED, 0.0], at + [0.0, 5000.0]), ([0.1, 0.0], at)]:
        d, c = lib.predict(np.asarray(o, float), np.array([v]), lead, late)
        assert c[0, 0] == 0 and not np.isfinite(d).any(), (v, o)


def _lane_fleet(tmp_path, n_vessels: int = 24, seed: int = 0):
    """Vessels every 4 min along the lane, each from a random point before the turn (so the turn
    falls in some vessels' training part, in others' validation part), a report every 30 s with
    3 m GPS noise and SOG/COG."""
    from tsgate.adapters.ais import load_ais

    rng = np.random.default_rng(seed)
    plane = LocalTangentPlane(55.5, 11.0)
    reports = []
    for v in range(n_vessels):
        t0 = 240.0 * v
        t = t0 + np.arange(0.0, 1500.0, 30.0) + rng.uniform(0, 2, 50)
        s = rng.uniform(0, LEG) + SPEED * (t - t0)
        e, n = (_lane(s) + rng.normal(0, 3.0, (len(s), 2))).T
        lat, lon = plane.inverse(e, n)
        crs = _course(s)
        reports += [Report("ok", 219000000 + v, float(np.floor(ti)), float(np.round(la, 6)), float(np.round(lo, 6)),
                           10.0, float(round(c, 1)), float(round(c)))
                    for ti, la, lo, c in zip(t, lat, lon, crs)]
    reports.sort(key=lambda r: r.sec)
    path = tmp_path / "lane.csv"
    WRITERS["aisdk"](path, reports)
    return load_ais(path)


def _analog_model(**kw):
    from tsgate.vessel import VesselLSTMForecaster

    # validation: each vessel's last 40 %, where it comes up to the turn and rounds it
    return VesselLSTMForecaster(horizons=["1min", "3min"], min_windows=10**9, track_analogs=True, val_fraction=0.4, **kw)


def test_the_vessel_model_chooses_analogs_on_a_lane_and_keeps_them_in_its_file(tmp_path):
    from tsgate.baselines import DeadReckoningForecaster
    from tsgate.estimators.base import load
    from tsgate.evaluation.positions import evaluate_positions

    d = _lane_fleet(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = evaluate_positions({"dead reckoning": DeadReckoningForecaster(horizons=["1min", "3min"]),
                                "analogs": _analog_model()}, d, horizons=["1min", "3min"], stride=2, cut="global")
        m = _analog_model().fit(d)
    rep = r.result.info["fit_report"]["analogs"][-1]
    assert rep["choice"]["3min"] == "track analogs", rep
    counts = rep["analogs"]
    assert counts["validation_origins"] > 0
    assert counts["forecast"]["3min"] + counts["fallback"]["3min"] == counts["validation_origins"]
    assert counts["forecast"]["3min"] > 0.2 * counts["validation_origins"], counts
    # on the later vessels (never seen in fit): the turn that dead reckoning overshoots
    err = r.errors
    assert err.loc["analogs", "3min"] < 0.5 * err.loc["dead reckoning", "3min"], err
    # the library travels in the model file (safetensors + JSON): the same forecasts after loading
    assert m.analogs_ is not None and len(m.analogs_) > 0
    m.save(tmp_path / "m")
    back = load(tmp_path / "m")
    np.testing.assert_allclose(back.predict(d, origins="all")["east_m"], m.predict(d, origins="all")["east_m"], atol=1e-9)
    # a file whose state names the analog base but whose library is gone is refused with a message
    manifest = tmp_path / "m" / "model.json"
    desc = json.loads(manifest.read_text())
    del desc["fitted"]["state"]["analogs"]
    manifest.write_text(json.dumps(desc))
    from tsgate.exceptions import ModelFileError

    with pytest.raises(ModelFileError, match="analog"):
        load(tmp_path / "m")


def test_without_track_analogs_the_model_has_no_library(tmp_path):
    from tsgate.vessel import VesselLSTMForecaster

    d = _lane_fleet(tmp_path, n_vessels=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = VesselLSTMForecaster(horizons=["1min", "5min"], min_windows=10**9, track_analogs=False).fit(d)
    assert m.analogs_ is None and "track analogs" not in m.choice_
    assert "analogs" not in m.fit_report_[-1]


def test_bands_calibrate_on_the_held_out_validation_forecasts_not_the_refitted_model(tmp_path, monkeypatch):
    """The final networks and bases are refitted on every window, the validation part included:
    their forecasts there are in-sample. The calibration pairs must be the fit's validation
    forecasts (their mean error is the validation error the choice was made on)."""
    from tsgate.estimators.intervals import Calibrator
    from tsgate.vessel import VesselLSTMForecaster

    d = _lane_fleet(tmp_path)
    seen = {}
    real = Calibrator.calibrate

    def spy(self, values, y, *a, **k):
        seen["values"], seen["y"] = np.array(values), np.array(y)
        return real(self, values, y, *a, **k)

    monkeypatch.setattr(Calibrator, "calibrate", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = VesselLSTMForecaster(horizons=["1min", "3min"], window=6, hidden_size=8, max_epochs=3, min_windows=50,
                                 min_series=2, track_analogs=True, seed=0, val_fraction=0.4).fit(d)
    rep = m.fit_report_[-1]
    cols = [m.targets_.index("east_m"), m.targets_.index("north_m")]
    err = np.linalg.norm(seen["values"][..., cols] - seen["y"][..., cols], axis=2)
    # a horizon whose forecast the refitted model changes (the analogs' library, the linear maps)
    assert set(rep["choice"].values()) - {"dead reckoning"}, rep
    for k, h in enumerate(["1min", "3min"]):
        chosen = rep["choice"][h]
        ok = np.isfinite(err[:, k])
        assert ok.sum() >= 50, (h, ok.sum())
        # where the combination replaces the choice, the bands calibrate on its cross-fitted forecasts
        combined = rep.get("combination", {}).get("used", {}).get(h) == "yes"
        expected = rep["combination"]["cross_fit_error_m"][h] if combined else rep["validation_error_m"][chosen][k]
        assert err[ok, k].mean() == pytest.approx(expected, rel=1e-3), (h, chosen, combined)
    assert m.calibration_warning_ is None or "trained on" not in m.calibration_warning_
    # without a validation part the bands are in-sample, and the warning says so (also after loading)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m0 = VesselLSTMForecaster(horizons=["1min"], min_windows=10**9, val_fraction=0.0).fit(d)
    assert m0.in_sample_bands_ and "trained on" in m0.calibration_warning_
    m0.save(tmp_path / "m0")
    from tsgate.estimators.base import load

    assert "trained on" in load(tmp_path / "m0").calibration_warning_


def test_the_analog_base_wins_only_by_more_than_one_standard_error_over_the_others_choice():
    from tsgate.vessel.bases import CORRECTED, choose

    rng = np.random.default_rng(1)
    n = 400
    y = rng.normal(0, 100, (n, 1, 2))
    rows = np.ones((n, 1), bool)

    def at(err_m: np.ndarray) -> np.ndarray:
        ang = rng.uniform(0, 2 * np.pi, n)
        return y + (err_m[:, None] * np.stack([np.cos(ang), np.sin(ang)], axis=1))[:, None, :]

    base = rng.gamma(4.0, 25.0, n)
    cands = {"dead reckoning": at(base), CORRECTED: at(0.8 * base)}
    # an analog base as good on average but far noisier: the choice among the others stands
    noisy = at(np.abs(0.8 * base + rng.normal(0, 200, n)))
    chosen, errors = choose({**cands, "track analogs": noisy}, y, rows, 50)
    assert chosen == [CORRECTED] and np.isfinite(errors["track analogs"][0])
    # clearly better where it has neighbours, NaN (the others' choice) elsewhere: chosen
    good = at(0.4 * base)
    good[: n // 2] = np.nan
    chosen, errors = choose({**cands, "track analogs": good}, y, rows, 50)
    assert chosen == ["track analogs"]
    expect = np.r_[np.linalg.norm(cands[CORRECTED][: n // 2, 0] - y[: n // 2, 0], axis=1), 0.4 * base[n // 2:]].mean()
    assert errors["track analogs"][0] == pytest.approx(expect, rel=1e-9)


def test_a_horizon_without_validation_pairs_inherits_the_analog_horizons_fallback_not_the_analogs():
    from tsgate.vessel import VesselLSTMForecaster
    from tsgate.vessel.bases import CORRECTED

    rng = np.random.default_rng(2)
    n = 300
    y = rng.normal(0, 100, (n, 2, 2))
    rows = np.ones((n, 2), bool)
    rows[:, 1] = False  # the longer horizon: no validation pair
    cands = {"dead reckoning": y + 50.0, CORRECTED: y + 40.0 + rng.normal(0, 1, y.shape),
             "track analogs": y + rng.normal(0, 5, y.shape)}
    m = VesselLSTMForecaster(horizons=["5min", "15min"])
    m.alpha_ = np.zeros(2)
    m.analog_fallback_ = [CORRECTED, "dead reckoning"]
    m._choose(cands, y, rows, np.array([0.3, 0.0]), np.array([True, True]))
    assert m.choice_ == ["track analogs", CORRECTED]
    np.testing.assert_allclose(m.alpha_, [0.3, 0.3])
    assert m.bases_ == ["dead reckoning", "dead reckoning"]


def test_origins_without_a_lead_time_or_position_get_no_analog():
    lib = _library([0.0], horizons=(60.0,))
    at = _lane(np.array([1000.0, 1000.0, 1000.0]))
    at[2] = np.nan
    d, c = lib.predict(at, np.tile([[SPEED, 0.0]], (3, 1)), np.array([[60.0], [np.nan], [60.0]]),
                       np.full(3, 5000.0))
    assert c[:, 0].tolist() == [1, 0, 0]
    assert np.isfinite(d[0]).all() and not np.isfinite(d[1:]).any()
