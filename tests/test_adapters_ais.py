"""AIS adapter and the local projection: the bundled real files (counts from their README),
small hand-made files in the three layouts with each defect, and argument errors. The decoding
rules, the position filter, covariates and chunked reading have their own files
(test_ais_decoding.py, test_ais_jumps.py, test_ais_motion.py, test_ais_reader.py)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from ais_files import DLAT, DK_COLS, MC_COLS, Report, lines_of, steady, write_aisdk, write_bundled, write_marinecadastre
from tsgate.adapters.ais import JumpRules, bundled_ais_path, detect_format, load_ais, to_latlon
from tsgate.adapters.geo import (
    KNOT_M_S,
    WGS84_A,
    LocalTangentPlane,
    haversine_m,
    initial_bearing_deg,
)
from tsgate.exceptions import ConfigError, DataError, SchemaError, TimestampError
from tsgate.data.series import IrregularSeries
from tsgate.data.windows import make_windows


# ----------------------------------------------------------------- projection
def test_projection_round_trip_is_exact_to_rounding():
    rng = np.random.default_rng(0)
    for lat0, lon0 in [(36.9, -76.0), (0.0, 0.0), (-60.0, 179.5), (70.0, 20.0)]:
        p = LocalTangentPlane(lat0, lon0)
        lat = lat0 + rng.uniform(-2, 2, 500)
        lon = lon0 + rng.uniform(-2, 2, 500)
        e, n = p.forward(lat, lon)
        lat2, lon2 = p.inverse(e, n)
        assert np.abs(lat2 - lat).max() < 1e-9 and np.abs(lon2 - lon).max() < 1e-9
    e, n = LocalTangentPlane(10.0, 20.0).forward(10.0, 20.0)
    assert abs(e) < 1e-6 and abs(n) < 1e-6


def test_projection_known_distances():
    # along the equator the east axis is a·sin(Δλ): 0.01° is 1113.1949 m (geodesic a·Δλ)
    e, n = LocalTangentPlane(0.0, 0.0).forward(0.0, 0.01)
    assert abs(e - WGS84_A * np.radians(0.01)) < 1e-3 and abs(n) < 1e-9
    # the WGS84 meridian arc from 0° to 1° is 110574.389 m; the tangent plane shortens a
    # distance s from the origin by about s³ / (6 R²) = 5.6 m at this range (documented)
    e, n = LocalTangentPlane(0.0, 0.0).forward(1.0, 0.0)
    assert 110574.389 - 7.0 < n < 110574.389 - 4.5
    # 1.1 km north at 36.9°: meridian radius of curvature M·Δφ, to the millimetre
    f = 1 / 298.257223563
    e2 = f * (2 - f)
    phi = np.radians(36.9)
    m = WGS84_A * (1 - e2) / (1 - e2 * np.sin(phi) ** 2) ** 1.5
    e, n = LocalTangentPlane(36.9, -76.0).forward(36.91, -76.0)
    assert abs(n - m * np.radians(0.01)) < 0.01
    # and consistent with the spherical great-circle distance to its 0.5 % accuracy
    assert abs(np.hypot(e, n) / haversine_m(36.9, -76.0, 36.91, -76.0) - 1) < 0.005


def test_projection_edges():
    p = LocalTangentPlane.around([10.0, 12.0], [179.0, -179.0])  # straddles the antimeridian
    assert p.lat0 == 11.0 and abs(abs(p.lon0) - 180.0) < 1e-9
    lat, lon = p.inverse(2e7, 0.0)  # beyond the visible hemisphere
    assert np.isnan(lat) and np.isnan(lon)
    assert LocalTangentPlane.from_dict(p.to_dict()) == p
    with pytest.raises(ConfigError, match="latitude"):
        LocalTangentPlane(95.0, 0.0)
    assert initial_bearing_deg(0, 0, 0, 1) == pytest.approx(90.0)
    assert initial_bearing_deg(0, 0, -1, 0) == pytest.approx(180.0)


def test_plane_velocity_is_the_rate_of_change_of_plane_coordinates():
    # a vessel 150 km east of the origin steams due north at 10 m/s: in the plane it moves
    # north-west by the convergence of the meridians, which velocity() includes exactly
    p = LocalTangentPlane(40.0, -74.0)
    lat, lon = 40.2, -72.25
    ve, vn = p.velocity(lat, lon, 0.0, 10.0)
    dt = 1.0
    lat2 = lat + 10.0 * dt / 111_034.0  # ~10 m north (the exact step does not matter: a ratio is tested)
    e1, n1 = p.forward(lat, lon)
    e2, n2 = p.forward(lat2, lon)
    step = np.array([e2 - e1, n2 - n1])
    assert np.degrees(np.arctan2(ve, vn)) == pytest.approx(np.degrees(np.arctan2(step[0], step[1])), abs=1e-4)
    assert np.degrees(np.arctan2(ve, vn)) == pytest.approx(-1.12, abs=0.02)  # ≈ Δλ·sin φ = 1.75° · 0.64
    assert np.hypot(ve, vn) == pytest.approx(10.0, rel=2e-4)  # the plane's scale away from the origin
    # at the origin the plane's axes are the local ones
    np.testing.assert_allclose(p.velocity(40.0, -74.0, 3.0, 4.0), (3.0, 4.0), atol=1e-9)


# ----------------------------------------------------------------- bundled real files
@pytest.fixture(scope="module")
def virginia_raw() -> pd.DataFrame:
    with bundled_ais_path("ais-virginia").open() as fh:
        return pd.read_csv(fh)


def test_virginia_jumps_gaps_and_counts():
    s = load_ais("ais-virginia", max_gap="1h", min_voyage_rows=1, covariates=())
    # README: one impossible-speed pair (MMSI 338316398, 15:22:51 → 15:23:57 UTC, ~103 kn). The
    # report at 15:22:51 (line 33357) repeats the 15:20:41 position 130 s later while the vessel
    # runs ~32 kn: a stale repeat, dropped, and the "jump" after it is gone. Line 6449 repeats the
    # position of line 6448 one second later, the vessel at 4.5 kn before and after.
    dropped = {e.series: e.rows for e in s.report.entries if e.reason == "stale repeated position dropped"}
    assert dropped == {338316398: [33357], 368031960: [6449]}
    assert s.report.by_reason() == {"SOG not reported": 39822, "COG not reported": 39822,
                                    "heading not reported": 39822, "stale repeated position dropped": 2}
    assert len(s) == 39822 - 2 and s.n_series == 84
    # README: 40 gaps > 1 h within vessels → 84 + 40 voyages
    assert int(s.describe()["segments"].sum()) == 124
    assert load_ais("ais-virginia", max_gap="30min", min_voyage_rows=1, covariates=()).describe()["segments"].sum() == 140
    assert s.units == {"east_m": "m", "north_m": "m"} and s.time_kind == "datetime"
    assert s.meta["license"].startswith("Public domain") and "tracktable" in s.meta["credit"]


def test_virginia_defaults_and_thresholds():
    s = load_ais("ais-virginia")  # covariates derived from positions, max_gap 30 min, min_voyage_rows 10
    r = s.report.by_reason()
    assert r["stale repeated position dropped"] == 2 and r["voyages too short dropped (rows)"] == 76
    # the first report of each voyage has nothing before it to derive a speed from
    assert r["rows with unknown speed/course dropped"] == 123 and r["SOG derived from positions"] == 39630
    # 9 of the derived rows sat in voyages that became too short once their first row was gone
    assert len(s) == 39822 - 2 - 76 - 123 == 39621
    assert s.covariates == ("sog_kn", "cog_deg", "heading_deg", "v_east_m_s", "v_north_m_s")
    assert s.units == {"east_m": "m", "north_m": "m", "sog_kn": "kn", "cog_deg": "deg", "heading_deg": "deg",
                       "v_east_m_s": "m/s", "v_north_m_s": "m/s"}
    raw = load_ais("ais-virginia", jumps=None, min_voyage_rows=1, covariates=())
    assert len(raw) == 39822 and set(raw.report.by_reason()) == {"SOG not reported", "COG not reported",
                                                                 "heading not reported"}


def test_nyharbor_drops_one_stale_repeat():
    s = load_ais("ais-nyharbor", max_gap="1h", min_voyage_rows=1, covariates=())
    # line 732 re-sends the position of line 731 while the vessel slows 3.6 → 2.2 kn (a repeat
    # with motion on both sides: dropped; harmless either way)
    (entry,) = [e for e in s.report.entries if e.series is not None]
    assert (entry.reason, entry.series, entry.rows) == ("stale repeated position dropped", 367782690, [732])
    assert len(s) == 9091 - 1 and s.n_series == 37
    assert int(s.describe()["segments"].sum()) == 37 + 2  # README: 2 gaps > 1 h


def test_latlon_recoverable_and_projected_steps_match_great_circle(virginia_raw):
    s = load_ais("ais-virginia", min_voyage_rows=1, covariates=())
    raw = virginia_raw.iloc[s.frame["_row"].to_numpy() - 2]  # file line → raw row
    ll = to_latlon(s)
    assert np.abs(ll["lat"].to_numpy() - raw["lat"].to_numpy()).max() < 1e-9
    assert np.abs(ll["lon"].to_numpy() - raw["lon"].to_numpy()).max() < 1e-9
    p = s.meta["projection"]
    assert (p.lat0, p.lon0) == pytest.approx(((36.00 + 37.11) / 2, (-76.45 - 73.36) / 2), abs=0.01)
    # projected steps between consecutive reports agree with great-circle distances (0.5 %)
    same = ll["series"].to_numpy()[1:] == ll["series"].to_numpy()[:-1]
    step = np.hypot(np.diff(ll["east_m"]), np.diff(ll["north_m"]))[same]
    lat, lon = ll["lat"].to_numpy(), ll["lon"].to_numpy()
    gc = haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:])[same]
    big = gc > 100
    assert big.sum() > 10000 and np.abs(step[big] / gc[big] - 1).max() < 0.005
    # split parts keep the projection
    assert all(part.meta["projection"] == p for part in s.split(0.5))


def test_virginia_windows_and_covariates():
    s = load_ais("ais-virginia")
    f = s.frame
    assert f["sog_kn"].between(0, 50).all() and f["cog_deg"].between(0, 360, inclusive="left").all()
    w = make_windows(s, window=16, horizons=["5min"], max_gap="10min")
    assert len(w) > 20000 and w.x.shape[2] == 7
    assert w.feature_names == ("east_m", "north_m", "sog_kn", "cog_deg", "heading_deg", "v_east_m_s", "v_north_m_s")
    # no window crosses a voyage: inputs and targets lie within their origin's segment
    seg = {i: g.segment for i, g in enumerate(s.groups())}
    for i in range(0, len(w), 997):
        sg = seg[w.series_index[i]]
        o = w.origin_row[i]
        assert np.all(sg[o - 15 : o + 1] == sg[o])


def test_direct_container_equals_validated_one():
    """load_ais builds the series without re-validating; the same frame through from_frame is identical."""
    s = load_ais("ais-nyharbor-mc")
    f = s.frame
    g = IrregularSeries.from_frame(f.drop(columns=["_row"]), time_col="time", id_col="series",
                                   target_cols=["east_m", "north_m"], covariate_cols=list(s.covariates),
                                   segment_col="segment", row_numbers=f["_row"].to_numpy())
    pd.testing.assert_frame_equal(f, g.frame)
    assert len(g.report) == 0  # nothing left to repair


# ----------------------------------------------------------------- hand-made files
def track() -> list[Report]:
    """Reports in file order with every defect; file line = position + 2."""
    r = steady(367000001, 12)  # vessel A steams north at ~10 kn, one report a minute (0..660 s)
    r[3] = replace(r[3], label="heading511", heading=511.0)
    r[4] = replace(r[4], label="sog102.3", sog=102.3)
    r[5] = replace(r[5], label="cog360", cog=360.0)
    r += [
        Report("lat91", 367000001, 690, 91.0, -74.0, 10.0, 0.0, 0.0),
        Report("lon181", 367000001, 700, 40.2, 181.0, 10.0, 0.0, 0.0),
        replace(r[6], label="exactdup", eta="2020-06-30T13:00:00"),  # differs only in ETA
        Report("conflict", 367000001, 420, 40.3, -74.0, 10.0, 0.0, 0.0),  # same time as line 9, elsewhere
        Report("samepos", 367000001, 480, 40.0 + DLAT * 8, -74.0, 11.0, 0.0, 0.0),  # same time/position as line 10
        Report("spike", 367000001, 750, 40.0 + DLAT * 11 + 0.1, -74.0, 10.0, 0.0, 0.0),  # 11 km in 90 s
    ]
    r += steady(367000001, 12, sec0=660 + 7200, lat0=40.1, label="voyage2")  # after a 2 h gap
    r.append(Report("unsorted", 367000001, 630, 40.0 + DLAT * 10.5, -74.0, 10.0, 0.0, 0.0))  # between lines 12, 13
    r += [Report("short", 367000002, 60 * i, 40.5, -73.9 + 0.001 * i, 3.0, 90.0, 90.0) for i in range(3)]
    return r


def expected_rows(rows, on_conflict="drop"):
    first_conflict = [i + 2 for i, x in enumerate(rows) if x.label == "ok" and x.sec == 420]
    return {
        "position not available (lat 91 / lon 181), dropped": lines_of(rows, "lat91") + lines_of(rows, "lon181"),
        "exact duplicate rows dropped": lines_of(rows, "exactdup"),
        "same time and position as an earlier report, dropped": lines_of(rows, "samepos"),
        "same time, conflicting positions, dropped": (first_conflict if on_conflict == "drop" else [])
        + lines_of(rows, "conflict"),
        "spike dropped (implausible from both neighbours)": lines_of(rows, "spike"),
        # kept rows earlier than a report above them of the same vessel (the duplicate, the
        # conflict and the same-position report are out of order too, but dropped)
        "rows out of time order within a vessel, sorted": lines_of(rows, "unsorted"),
        "voyages too short dropped (rows)": lines_of(rows, "short"),
    }


def rows_by_reason(series):
    out = {}
    for e in series.report.entries:
        out.setdefault(e.reason, []).extend(e.rows)
    return {k: sorted(v) for k, v in out.items()}


@pytest.mark.parametrize("layout", ["marinecadastre", "aisdk", "bundled"])
def test_hand_made_file_every_defect(tmp_path, layout):
    rows = track()
    p = tmp_path / f"{layout}.csv"
    if layout == "aisdk":
        write_aisdk(p, rows + [Report("base", 2190000, 30, 55.0, 12.0, mobile="Base Station")])
    else:
        (write_marinecadastre if layout == "marinecadastre" else write_bundled)(p, rows)
    s = load_ais(p, min_voyage_rows=5)
    got = rows_by_reason(s)
    for reason, lines in expected_rows(rows).items():
        assert got.get(reason, []) == lines, reason
    counts = s.report.by_reason()
    assert counts["heading 511 (not available) → missing"] == 1
    assert counts["SOG 102.3 (not available) → missing"] == 1
    assert counts["COG 360 (not available) → missing"] == 1
    if layout == "aisdk":
        assert got["not a vessel (Type of mobile), dropped"] == [len(rows) + 2]
    if layout != "bundled":
        assert counts["naive timestamps interpreted in timezone"] == len(rows) + (layout == "aisdk")
    assert s.meta["format"] == layout
    assert detect_format({"marinecadastre": MC_COLS, "aisdk": DK_COLS}.get(layout, ["mmsi", "timestamp", "lat", "lon"])) == layout
    # the short vessel is listed as removed, with why
    (gone,) = [e for e in s.report.entries if e.reason == "vessel removed"]
    assert gone.series == 367000002 and gone.detail == "too few reports in every voyage"
    # what is left: vessel A, two voyages, in time order, file lines kept; the first report of
    # each voyage reports its speed, so nothing is lost to the covariates
    assert s.series_ids == [367000001]
    f = s.frame
    assert f["segment"].tolist() == [0] * 12 + [1] * 12
    assert f["time"].is_monotonic_increasing
    assert f["_row"].tolist()[:8] == [2, 3, 4, 5, 6, 7, 8, 10]  # line 9 (t=420 s) lost to the conflict
    # the n/a values are filled: SOG from positions, COG from positions, heading from the course
    at = f.set_index("_row")
    assert at.loc[lines_of(rows, "sog102.3")[0], "sog_kn"] == pytest.approx(10.0, abs=0.1)
    assert at.loc[lines_of(rows, "cog360")[0], "cog_deg"] == pytest.approx(0.0, abs=1e-6)
    assert at.loc[lines_of(rows, "heading511")[0], "heading_deg"] == 0.0
    # projection: positions come back, and the track moves north at ~10 kn
    ll = to_latlon(s)
    kept = [rows[r - 2] for r in f["_row"]]
    np.testing.assert_allclose(ll["lat"], [x.lat for x in kept], atol=1e-6)
    v = np.diff(f["north_m"].to_numpy()[:7]) / 60 / KNOT_M_S  # lines 2..8: one minute apart
    assert np.all(np.abs(v - 10.0) < 0.2)
    np.testing.assert_allclose(f["v_north_m_s"].to_numpy()[:3], 10 * KNOT_M_S, rtol=1e-3)


def test_conflict_policy_first_and_thresholds(tmp_path):
    rows = track()
    p = tmp_path / "mc.csv"
    write_marinecadastre(p, rows)
    s = load_ais(p, min_voyage_rows=5, on_conflict="first")
    assert rows_by_reason(s)["same time, conflicting positions, dropped"] == lines_of(rows, "conflict")
    assert s.frame.loc[s.frame["_row"] == 9, "north_m"].size == 1
    one = load_ais(p, min_voyage_rows=5, max_gap="3h")  # the 2 h gap no longer splits
    assert one.frame["segment"].unique().tolist() == [0]
    short = load_ais(p, min_voyage_rows=1)
    assert 367000002 in short.series_ids


def test_glitch_at_the_start_of_a_track_drops_the_first_report(tmp_path):
    rows = [Report("glitch", 367000003, 0, 41.0, -74.0, 10.0, 0.0, 0.0)] + steady(367000003, 8)[1:]
    p = tmp_path / "start.csv"
    write_marinecadastre(p, rows)
    s = load_ais(p, min_voyage_rows=2)
    # the second and third reports agree, the first agrees with neither: it is the glitch
    assert {k: v for k, v in rows_by_reason(s).items() if v} == {"first report implausible from the next two, dropped": [2]}
    assert len(s) == 7 and s.frame["_row"].tolist() == list(range(3, 10))


def test_no_reported_motion_and_no_derivation_drops_rows(tmp_path):
    p = tmp_path / "bundled_layout.csv"
    p.write_text("mmsi,timestamp,lat,lon,sog,cog,heading,vessel_type\n" + "".join(
        f"367000009,2020-06-04T00:{i:02d}:00Z,40.0,{-74 + 0.001 * i:.4f},,,,\n" for i in range(6)))
    s = load_ais(p, min_voyage_rows=2, covariates=["sog_kn"])
    assert len(s) == 5 and rows_by_reason(s)["rows with unknown speed/course dropped"] == [2]
    assert s.covariates == ("sog_kn",)
    with pytest.raises(DataError, match="no reports left"):
        load_ais(p, min_voyage_rows=2, covariates=["sog_kn"], derive_motion=False)
    assert load_ais(p, min_voyage_rows=2, covariates=()).covariates == ()


def test_everything_dropped_says_why(tmp_path):
    p = tmp_path / "few.csv"
    write_marinecadastre(p, steady(367000004, 4))
    with pytest.raises(DataError, match=r"few.csv: no reports left after cleaning \(.*"
                                        r"voyages too short dropped \(rows\): 4"):
        load_ais(p)
    p.write_text(p.read_text().splitlines()[0] + "\n")
    with pytest.raises(DataError, match=r"few.csv: has a header but no data rows"):
        load_ais(p)


# ----------------------------------------------------------------- errors
def test_unknown_header_names_file_and_expected_columns(tmp_path):
    p = tmp_path / "weird.csv"
    p.write_text("ship,when,y,x\n1,2020-01-01,1,2\n")
    with pytest.raises(SchemaError, match=r"weird.csv: is not a known AIS layout.*marinecadastre: MMSI, BaseDateTime, LAT, LON"):
        load_ais(p)
    with pytest.raises(SchemaError, match=r"lacks column\(s\) \['MMSI', '# Timestamp', 'Latitude', 'Longitude'\] of the aisdk layout"):
        load_ais(p, fmt="aisdk")


def test_file_errors(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_ais(tmp_path / "missing.csv")
    with pytest.raises(DataError, match="file not found.*ais-nyharbor-mc"):
        load_ais("ais-atlantis")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="empty.csv: is empty"):
        load_ais(empty)
    bad = tmp_path / "bad.csv"
    write_marinecadastre(bad, steady(367000001, 3))
    text = bad.read_text().splitlines()
    text[2] = text[2].replace("2020-06-30T00:01:00", "2020-06-31T00:01:00")
    bad.write_text("\n".join(text) + "\n")
    with pytest.raises(TimestampError, match=r"bad.csv, column 'BaseDateTime', row 3: cannot parse timestamp"):
        load_ais(bad)
    text[2] = text[2].replace("2020-06-31T00:01:00", "2020-06-30T00:01:00").replace("40.0", "forty", 1)
    bad.write_text("\n".join(text) + "\n")
    with pytest.raises(SchemaError, match=r"bad.csv, column 'LAT', row 3: value 'forty"):
        load_ais(bad)
    cut = tmp_path / "cut.csv"
    write_marinecadastre(cut, steady(367000001, 12))
    cut.write_text(cut.read_text()[:-60])  # a download cut off mid-line
    with pytest.raises(DataError, match=r"cut.csv, row 13: the last line has \d+ of 18 fields.*truncated"):
        load_ais(cut)


@pytest.mark.parametrize(
    "kw, msg",
    [
        (dict(fmt="csv"), "fmt must be"),
        (dict(jumps=50), "jumps must be a JumpRules"),
        (dict(max_gap="soon"), "max_gap"),
        (dict(min_voyage_rows=0), "min_voyage_rows"),
        (dict(on_conflict="last"), "on_conflict"),
        (dict(covariates=["heading"]), "unknown AIS covariate"),
        (dict(origin="here"), "origin"),
        (dict(min_course_speed_kn=-1), "min_course_speed_kn"),
        (dict(bbox=(41, -75, 40, -73)), "bbox"),
        (dict(bbox=(40, -75, 41)), "bbox"),
        (dict(vessel_types=["Cargo ship"]), "unknown vessel type"),
        (dict(start="yesterday-ish"), "start"),
        (dict(start="2020-12-08T12:00Z", end="2020-12-08T11:00Z"), "end .* must be after start"),
        (dict(chunk_bytes=10), "chunk_bytes"),
        (dict(mmsi=["367000001"]), "mmsi must be"),
        (dict(mmsi=[]), "mmsi must be"),
    ],
)
def test_bad_arguments(kw, msg):
    with pytest.raises(ConfigError, match=msg):
        load_ais("ais-nyharbor", **kw)


@pytest.mark.parametrize("kw, msg", [(dict(max_speed_kn=0), "max_speed_kn"), (dict(shared_share=0), "shared_share"),
                                     (dict(min_track_rows=0), "min_track_rows"),
                                     (dict(multi_transmitter="merge"), "multi_transmitter")])
def test_bad_jump_rules(kw, msg):
    with pytest.raises(ConfigError, match=msg):
        JumpRules(**kw)
