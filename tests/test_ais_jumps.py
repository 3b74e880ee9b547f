"""The neighbour-aware position filter: each rule on a small track, realistic 10 s and 2 s
cadence tracks (where the old speed-only filter dropped good reports), several transmitters on
one MMSI, a hypothesis property (a plausible track loses nothing), and the exact drops on the
bundled real files."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ais_files import DLAT, steady, ten_second_track, write_aisdk
from tsgate.adapters.ais import JumpRules, load_ais
from tsgate.adapters.ais_jumps import FIRST, GLITCH, LAST, SHARED, SPIKE, STALE, filter_jumps
from tsgate.adapters.geo import KNOT_M_S, LocalTangentPlane, haversine_m

RULES = JumpRules()


def run(reports, rules=RULES):
    """filter_jumps on reports already in vessel/time order."""
    mm = np.array([r.mmsi for r in reports])
    t = np.array([r.sec for r in reports], float)
    lat = np.array([r.lat for r in reports])
    lon = np.array([r.lon for r in reports])
    sog = np.array([r.sog for r in reports], float)
    return filter_jumps(mm, t, lat, lon, sog, rules)


def at(reports, code_array, code):
    return [r.label for r, c in zip(reports, code_array) if c == code]


# ----------------------------------------------------------------- rules on small tracks
def test_slack_makes_short_intervals_harmless():
    assert RULES.slack_m == pytest.approx(50 * KNOT_M_S * 2 + 50)  # 101.4 m at 50 kn
    # two reports 1 s apart and 100 m apart: 194 kn "implied", but within the slack
    r = steady(1, 10)
    r.insert(5, replace(r[4], label="near", sec=r[4].sec + 1, lat=r[4].lat + 0.0009))
    assert not run(r).code.any()


def test_stale_repeat_with_and_without_reported_speed():
    r = steady(1, 10)
    r.insert(5, replace(r[4], label="stale", sec=r[4].sec + 20))  # the previous position, re-sent
    assert at(r, run(r).code, STALE) == ["stale"]
    # without SOG the speeds before and after decide; a vessel that stops is kept
    no_sog = [replace(x, sog=np.nan) for x in r]
    assert at(no_sog, run(no_sog).code, STALE) == ["stale"]
    stop = [replace(x, sog=np.nan) for x in steady(1, 5)]
    stop += [replace(stop[-1], label="moored", sec=stop[-1].sec + 60 * (k + 1)) for k in range(4)]
    assert not run(stop).code.any()
    # with a reported SOG below 1 kn the repeat is a vessel at rest
    rest = [replace(x, sog=0.2) for x in stop]
    assert not run(rest).code.any()


def test_spike_and_which_of_two_is_the_spike():
    r = steady(1, 10)
    r[5] = replace(r[5], label="spike", lat=r[5].lat + 0.05)  # 5.5 km off for one report
    res = run(r)
    assert at(r, res.code, SPIKE) == ["spike"] and not res.piece_start.any()
    # a report implausible from the last kept one, but confirmed by the next, while the kept one
    # was plausible only from its own predecessor... the kept one was the spike
    r = steady(1, 10)
    r[4] = replace(r[4], label="spike", lat=r[4].lat - 0.05)
    assert at(r, run(r).code, SPIKE) == ["spike"]


def test_first_last_isolated_and_new_piece():
    r = steady(1, 10)
    r[0] = replace(r[0], label="first", lat=r[0].lat + 0.2)
    r[-1] = replace(r[-1], label="last", lat=r[-1].lat + 0.2)
    res = run(r)
    assert at(r, res.code, FIRST) == ["first"] and at(r, res.code, LAST) == ["last"]
    # two glitches in a row, far from everything and from each other: the first agrees with no
    # neighbour (isolated), the second is then a spike between two reports that agree
    r = steady(1, 12)
    r[5] = replace(r[5], label="g1", lat=r[5].lat + 0.3)
    r[6] = replace(r[6], label="g2", lat=r[6].lat - 0.3)
    res = run(r)
    assert at(r, res.code, GLITCH) == ["g1"] and at(r, res.code, SPIKE) == ["g2"]
    # the vessel is reported 30 km away and stays there: a new voyage piece, nothing dropped
    r = steady(1, 6) + [replace(x, label="there", lat=x.lat + 0.27) for x in steady(1, 6, sec0=360)]
    res = run(r)
    assert not res.code.any() and [x.label for x, p in zip(r, res.piece_start) if p] == ["there"]


def test_shared_mmsi_dropped_or_split():
    a = steady(7, 40, lat0=40.0)
    b = steady(7, 40, sec0=30, lat0=40.05, lon0=-74.02)  # 5.7 km away, on the same MMSI
    both = sorted(a + [replace(x, label="b") for x in b], key=lambda x: x.sec)
    res = run(both)
    assert (res.code == SHARED).all() and res.shared == {7: (79, 79)}
    res = run(both, JumpRules(multi_transmitter="split"))
    assert not res.code.any() and res.split == {7: 2}
    tracks = {x.label: set() for x in both}
    for x, k in zip(both, res.track):
        tracks[x.label].add(int(k))
    assert tracks["ok"] != tracks["b"] and all(len(v) == 1 for v in tracks.values())  # pure tracks
    res = run(both, JumpRules(multi_transmitter="keep"))  # the walk alone keeps a mix
    assert not (res.code == SHARED).any()
    # a short track with two glitches has many implausible steps too, but one track: not shared
    r = steady(1, 12)
    r[5] = replace(r[5], label="g", lat=r[5].lat + 0.3)
    r[8] = replace(r[8], label="g", lat=r[8].lat - 0.3)
    res = run(r)
    assert not res.shared and at(r, res.code, SPIKE) == ["g", "g"]


def test_shared_mmsi_through_load_ais(tmp_path):
    a = steady(219000007, 40, lat0=55.0, lon0=11.0)
    b = [replace(x, label="b") for x in steady(219000007, 40, sec0=30, lat0=55.05, lon0=11.02)]
    p = tmp_path / "shared.csv"
    write_aisdk(p, sorted(a + b + steady(219000008, 20, lat0=55.2), key=lambda x: x.sec))
    s = load_ais(p)
    assert s.series_ids == [219000008]
    removed = [e for e in s.report.entries if e.series == 219000007]
    assert [(e.reason, e.count) for e in removed] == [
        ("vessel removed: several transmitters on one MMSI", 80), ("vessel removed", 1)]
    assert removed[0].detail.startswith("79 of 79 steps implausible") and len(removed[0].rows) == 80
    assert removed[1].detail == "several transmitters on one MMSI"
    split = load_ais(p, jumps=JumpRules(multi_transmitter="split"))
    assert split.series_ids == ["219000007-1", "219000007-2", 219000008]
    assert {e.reason: e.count for e in split.report.entries if e.series == 219000007} == {
        "MMSI split into tracks (several transmitters)": 2}
    assert all(split.get(k).time_s.size == 40 for k in ("219000007-1", "219000007-2"))


# ----------------------------------------------------------------- realistic fast cadence
def naive_drops(reports) -> int:
    """Reports the old rule would drop: implied speed from the previous report above 50 kn."""
    mm = np.array([r.mmsi for r in reports])
    t = np.array([r.sec for r in reports])
    lat, lon = np.array([r.lat for r in reports]), np.array([r.lon for r in reports])
    same = mm[1:] == mm[:-1]
    v = haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:]) / np.maximum(np.diff(t), 1e-9) / KNOT_M_S
    return int((same & (v > 50)).sum())


@pytest.mark.parametrize("scenario", ["10 s", "2 s fast vessel", "10 s with stale repeats"])
def test_fast_cadence_tracks_lose_no_good_report(tmp_path, scenario):
    """The old filter (implied speed from the last kept report > 50 kn) dropped good reports at
    fast cadence: 1-3 s receive intervals, and the report after a stale repeated position."""
    rng = np.random.default_rng(0)
    reports = []
    for v in range(20):
        if scenario == "2 s fast vessel":  # class A above 23 kn reports every 2 s; stamps jitter 0-2 s
            track = ten_second_track(219100000 + v, rng, n=900, step=2.0, jitter_s=2.0,
                                     speed_kn=float(rng.uniform(23, 35)))
        else:
            track = ten_second_track(219100000 + v, rng)
        if scenario == "10 s with stale repeats":  # 10 % of reports: the previous position sent again
            for k in rng.choice(np.arange(1, len(track) - 1), len(track) // 10, replace=False):
                x = track[k - 1]
                if track[k].sec - x.sec > 2:
                    track.append(replace(x, label="stale", sec=x.sec + int(rng.integers(1, 3)), sog=np.nan))
            track.sort(key=lambda r: r.sec)
        reports += track
    if scenario == "2 s fast vessel":
        assert naive_drops(reports) > 1000  # the old rule would have dropped these good reports
    p = tmp_path / "fast.csv"
    reports.sort(key=lambda r: r.sec)
    write_aisdk(p, reports)
    s = load_ais(p, max_gap="10min")
    dropped = {}
    for e in s.report.entries:
        if e.series is not None:
            dropped.setdefault(e.reason, []).extend(e.rows)
    labels = np.array([r.label for r in reports])
    n_stale = int((labels == "stale").sum())
    assert len(s) == len(reports) - n_stale and s.n_series == 20
    kept = labels[s.frame["_row"].to_numpy() - 2]
    assert (kept == "ok").all()  # every good report kept, every stale one dropped
    assert sorted(dropped) == (["stale repeated position dropped"] if n_stale else [])


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31), st.floats(0.0, 45.0), st.integers(5, 60))
def test_any_plausible_track_loses_nothing(seed, speed_kn, n):
    """Speeds up to 45 kn (the limit is 50), intervals of 1 s to 10 min, turns, GPS noise of
    20 m: whatever the cadence, nothing is judged implausible."""
    rng = np.random.default_rng(seed)
    dt = rng.choice([1, 2, 3, 10, 60, 600], n) * rng.uniform(0.5, 1.0, n)
    t = np.cumsum(np.maximum(np.round(dt), 1.0))
    course = np.radians(rng.uniform(0, 360) + np.cumsum(rng.normal(0, 10, n)))
    v = speed_kn * KNOT_M_S
    e = np.r_[0.0, np.cumsum(v * np.diff(t) * np.sin(course[1:]))] + rng.normal(0, 20, n) * (v > 0)
    nn = np.r_[0.0, np.cumsum(v * np.diff(t) * np.cos(course[1:]))] + rng.normal(0, 20, n) * (v > 0)
    lat, lon = LocalTangentPlane(50.0, 0.0).inverse(e, nn)
    res = filter_jumps(np.ones(n, np.int64), t, lat, lon, np.full(n, speed_kn), RULES)
    assert not res.code.any() and not res.piece_start.any()


# ----------------------------------------------------------------- the real files
@pytest.mark.parametrize("name, expected", [
    ("ais-virginia", {338316398: [33357], 368031960: [6449]}),
    ("ais-nyharbor", {367782690: [732]}),
    ("ais-nyharbor-mc", {}),
])
def test_exact_drops_on_the_bundled_files(name, expected):
    s = load_ais(name, min_voyage_rows=1, covariates=())
    filt = [e for e in s.report.entries if e.reason in (
        "stale repeated position dropped", "spike dropped (implausible from both neighbours)",
        "isolated glitch dropped (implausible from every neighbour)", "last report implausible, dropped",
        "first report implausible from the next two, dropped", "vessel removed: several transmitters on one MMSI",
        "position jump: new voyage piece")]
    assert {e.series: e.rows for e in filt} == expected
    assert all(e.reason == "stale repeated position dropped" for e in filt)
    if name == "ais-nyharbor-mc":
        assert 6974 in set(s.frame["_row"])  # the fire boat at 32 kn after a late report: kept


def test_filter_off_keeps_every_position(tmp_path):
    r = steady(1, 10)
    r[5] = replace(r[5], label="spike", lat=r[5].lat + DLAT * 100)
    p = tmp_path / "x.csv"
    write_aisdk(p, [replace(x, mmsi=219000001) for x in r])
    assert len(load_ais(p, jumps=None, min_voyage_rows=1, covariates=())) == 10
    assert len(load_ais(p, min_voyage_rows=1, covariates=())) == 9
