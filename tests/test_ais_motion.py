"""Speed, course, heading and velocity covariates: reported values win, missing ones are derived
backward only (never from a later report), the reference report is ≥ 30 s back, the course at
rest, heading from the course, and the plane velocity against the positions."""

from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from ais_files import NA, lines_of, steady, ten_second_track, write_aisdk, write_marinecadastre
from tsgate.adapters.ais import bundled_ais_path, load_ais
from tsgate.adapters.ais_motion import REFERENCE_S
from tsgate.adapters.geo import KNOT_M_S, haversine_m


def test_covariates_by_default_and_off():
    s = load_ais("ais-nyharbor-mc")
    assert s.covariates == ("sog_kn", "cog_deg", "heading_deg", "v_east_m_s", "v_north_m_s")
    f = s.frame
    assert np.isfinite(f[list(s.covariates)].to_numpy()).all()
    assert f["cog_deg"].between(0, 360, inclusive="left").all() and f["heading_deg"].between(0, 360).all()
    np.testing.assert_allclose(np.hypot(f["v_east_m_s"], f["v_north_m_s"]), f["sog_kn"] * KNOT_M_S, rtol=1e-3)
    # a subset comes in one order whatever the request
    assert load_ais("ais-nyharbor-mc", covariates=["cog_deg", "sog_kn"]).covariates == ("sog_kn", "cog_deg")
    assert load_ais("ais-nyharbor-mc", covariates=()).covariates == ()


def test_reported_velocity_agrees_with_the_positions(tmp_path):
    # MarineCadastre hour: for vessels moving at ≥ 5 kn with a previous and next report ≤ 3 min
    # apart, the velocity from SOG/COG matches the centred displacement in the plane
    s = load_ais("ais-nyharbor-mc", min_voyage_rows=1, min_course_speed_kn=0.0)
    err = []
    for g in s.groups():
        t, xy, cov = g.time_s, g.values, g.covariates
        for i in range(1, len(t) - 1):
            if cov[i, 0] >= 5 and t[i + 1] - t[i - 1] <= 180:
                v = (xy[i + 1] - xy[i - 1]) / (t[i + 1] - t[i - 1])
                err.append(np.hypot(*(v - cov[i, 3:5])))
    assert len(err) > 500 and np.median(err) < 0.5  # m/s; research: 0.39 m/s for derived vs reported


@pytest.mark.parametrize("name", ["ais-nyharbor", "ais-nyharbor-mc"])
def test_derived_motion_is_backward_only(tmp_path, name):
    """Cutting the file at any time changes no covariate before the cut (the position filter,
    which judges a report by the next one too, is off here: it is cleaning, not a covariate)."""
    with bundled_ais_path(name).open() as fh:
        raw = pd.read_csv(fh)
    tcol = "timestamp" if "timestamp" in raw else "BaseDateTime"
    full = load_ais(name, jumps=None, min_voyage_rows=1)
    times = pd.DatetimeIndex(pd.to_datetime(raw[tcol], utc=True)).as_unit("ns").asi8
    for k, cut in enumerate(np.quantile(times, [0.3, 0.7])):
        cut = pd.Timestamp(int(cut), unit="ns", tz="UTC")
        p = tmp_path / f"part{k}.csv"
        raw[pd.to_datetime(raw[tcol], utc=True) < cut].to_csv(p, index=False)
        part = load_ais(p, jumps=None, min_voyage_rows=1, origin=full.meta["projection"])
        a = full.frame[full.frame["time"] < cut].drop(columns="_row").reset_index(drop=True)
        assert len(a) > 1000
        pd.testing.assert_frame_equal(a, part.frame.drop(columns="_row").reset_index(drop=True))


def test_reference_report_is_at_least_30_s_back(tmp_path):
    rng = np.random.default_rng(3)
    track = ten_second_track(219000001, rng, n=60, sog=False)
    p = tmp_path / "ten.csv"
    write_aisdk(p, track)
    s = load_ais(p, min_voyage_rows=1)
    assert s.report.by_reason()["SOG derived from positions"] == len(s) == len(track) - 1
    f = s.frame.set_index("_row")
    t = np.array([r.sec for r in track])
    lat, lon = np.array([r.lat for r in track]), np.array([r.lon for r in track])
    for i in range(1, len(track)):
        j = np.flatnonzero(t <= t[i] - REFERENCE_S)
        ref = j[-1] if len(j) else i - 1
        v = haversine_m(lat[ref], lon[ref], lat[i], lon[i]) / (t[i] - t[ref]) / KNOT_M_S
        assert f.loc[i + 2, "sog_kn"] == pytest.approx(float(v), rel=1e-9)


def test_course_at_rest(tmp_path):
    # A moves north at 10 kn, then drifts at 0.2 kn with noisy reported courses
    a = steady(367000001, 6)
    a += [replace(x, label="rest", sog=0.2, cog=c, heading=90.0)
          for x, c in zip(steady(367000001, 6, sec0=360, lat0=a[-1].lat), (123.0, 250.0, 17.0, 301.0, 77.0, 190.0))]
    # B is moored from the start with a heading; C moored without heading; D without anything
    b = [replace(x, sog=0.0, cog=200.0, heading=45.0) for x in steady(367000002, 6, step=60, lat0=40.5)]
    b = [replace(x, lat=40.5) for x in b]
    c = [replace(x, lat=40.6, sog=0.0, cog=200.0, heading=NA) for x in steady(367000003, 6)]
    d = [replace(x, lat=40.7, sog=NA, cog=NA, heading=NA) for x in steady(367000004, 6)]
    p = tmp_path / "rest.csv"
    rows = a + b + c + d
    write_marinecadastre(p, rows)
    s = load_ais(p, min_voyage_rows=1)
    f = s.frame.set_index("_row")
    assert (f.loc[lines_of(rows, "rest"), "cog_deg"] == 0.0).all()  # the last course at speed
    assert (f.loc[lines_of(rows, "rest"), "heading_deg"] == 90.0).all()  # heading as reported
    assert (s.get(367000002).covariates[:, 1] == 45.0).all()  # the heading
    assert (s.get(367000003).covariates[:, 1] == 200.0).all()  # kept as reported
    assert (s.get(367000004).covariates[:, 1] == 0.0).all()  # never moved: 0°
    c = s.report.by_reason()
    assert c["COG below 0.5 kn: last course at speed"] == 6 and c["COG below 0.5 kn: reported heading"] == 6
    assert c["COG below 0.5 kn: kept"] == 6 and c["COG below 0.5 kn: vessel has not moved, 0°"] == 5
    raw = load_ais(p, min_voyage_rows=1, min_course_speed_kn=0.0)
    assert raw.frame.set_index("_row").loc[lines_of(rows, "rest"), "cog_deg"].tolist() == [
        123.0, 250.0, 17.0, 301.0, 77.0, 190.0]
    # the velocity at rest stays tiny whatever the course
    assert np.abs(s.frame.loc[s.frame["sog_kn"] < 0.5, ["v_east_m_s", "v_north_m_s"]].to_numpy()).max() < 0.11


def test_derive_motion_off_drops_what_is_not_reported(tmp_path):
    rows = steady(367000001, 10)
    rows[4] = replace(rows[4], label="no_sog", sog=NA)
    p = tmp_path / "x.csv"
    write_marinecadastre(p, rows)
    s = load_ais(p, min_voyage_rows=1, derive_motion=False)
    assert lines_of(rows, "no_sog") == [e.rows for e in s.report.entries if e.reason.startswith("rows with unknown")][0]
    assert len(s) == 9
    kept = load_ais(p, min_voyage_rows=1, derive_motion=False, covariates=("cog_deg", "heading_deg"))
    assert len(kept) == 10  # only SOG was missing


def test_bundled_resource_and_a_copy_load_the_same(tmp_path):
    p = tmp_path / "mc.csv"
    with bundled_ais_path("ais-nyharbor-mc").open("rb") as src, open(p, "wb") as dst:
        shutil.copyfileobj(src, dst)
    pd.testing.assert_frame_equal(load_ais(p).frame, load_ais("ais-nyharbor-mc").frame)
