"""AIS adapter and the local projection: the bundled real files (counts from their README),
and small hand-made files in the MarineCadastre and aisdk layouts with each defect."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from tsgate.adapters.ais import bundled_ais_path, detect_format, load_ais, to_latlon
from tsgate.adapters.geo import (
    KNOT_M_S,
    WGS84_A,
    LocalTangentPlane,
    haversine_m,
    initial_bearing_deg,
)
from tsgate.exceptions import ConfigError, DataError, SchemaError, TimestampError
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


# ----------------------------------------------------------------- bundled real files
@pytest.fixture(scope="module")
def virginia_raw() -> pd.DataFrame:
    with bundled_ais_path("ais-virginia").open() as fh:
        return pd.read_csv(fh)


def test_virginia_jump_gaps_and_counts():
    s = load_ais("ais-virginia", max_gap="1h", min_voyage_rows=1)
    # README: one impossible-speed pair (MMSI 338316398, 15:22:51 → 15:23:57 UTC, ~103 kn).
    # The report at 15:22:51 repeats the 15:20:41 position (stale); 15:23:57 is confirmed by the
    # next report, so the stale one (line 33357) is the glitch that is dropped.
    assert s.report.by_reason() == {"implausible jumps dropped": 1}
    (entry,) = s.report.entries
    assert entry.series == 338316398 and entry.rows == [33357]
    assert len(s) == 39822 - 1 and s.n_series == 84
    # README: 40 gaps > 1 h within vessels → 84 + 40 voyages
    assert int(s.describe()["segments"].sum()) == 124
    assert load_ais("ais-virginia", max_gap="30min", min_voyage_rows=1).describe()["segments"].sum() == 140
    assert s.units == {"east_m": "m", "north_m": "m"} and s.time_kind == "datetime"
    assert s.meta["license"].startswith("Public domain") and "tracktable" in s.meta["credit"]


def test_virginia_defaults_and_thresholds():
    s = load_ais("ais-virginia")  # max_gap 30 min, min_voyage_rows 10
    assert s.report.by_reason() == {"implausible jumps dropped": 1, "voyages too short dropped (rows)": 67}
    assert len(s) == 39822 - 68
    fast = load_ais("ais-virginia", max_speed_kn=110.0, min_voyage_rows=1)
    assert fast.report.total() == 0 and len(fast) == 39822


def test_nyharbor_is_clean():
    s = load_ais("ais-nyharbor", max_gap="1h", min_voyage_rows=1)
    assert len(s.report) == 0 and len(s) == 9091 and s.n_series == 37
    assert int(s.describe()["segments"].sum()) == 37 + 2  # README: 2 gaps > 1 h


def test_latlon_recoverable_and_projected_steps_match_great_circle(virginia_raw):
    s = load_ais("ais-virginia", min_voyage_rows=1)
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
    s = load_ais("ais-virginia", covariates=["sog_kn", "cog_deg"])
    assert s.covariates == ("sog_kn", "cog_deg") and s.units["sog_kn"] == "kn"
    f = s.frame
    assert f["sog_kn"].between(0, 50).all() and f["cog_deg"].between(0, 360, inclusive="left").all()
    w = make_windows(s, window=16, horizons=["5min"], max_gap="10min")
    assert len(w) > 20000 and w.x.shape[2] == 4 and w.feature_names == ("east_m", "north_m", "sog_kn", "cog_deg")
    # no window crosses a voyage: inputs and targets lie within their origin's segment
    seg = {}
    for i, g in enumerate(s.groups()):
        seg[i] = g.segment
    for i in range(0, len(w), 997):
        sg = seg[w.series_index[i]]
        o = w.origin_row[i]
        assert np.all(sg[o - 15 : o + 1] == sg[o])


# ----------------------------------------------------------------- hand-made files
MC_COLS = ["MMSI", "BaseDateTime", "LAT", "LON", "SOG", "COG", "Heading", "VesselName", "IMO", "CallSign",
           "VesselType", "Status", "Length", "Width", "Draft", "Cargo", "TransceiverClass"]
DK_COLS = ["# Timestamp", "Type of mobile", "MMSI", "Latitude", "Longitude", "Navigational status", "ROT", "SOG",
           "COG", "Heading", "IMO", "Callsign", "Name", "Ship type", "Cargo type", "Width", "Length",
           "Type of position fixing device", "Draught", "Destination", "ETA", "Data source type", "A", "B", "C", "D"]
T0 = datetime(2020, 6, 30, 0, 0, 0, tzinfo=timezone.utc)
DLAT = 10 * KNOT_M_S * 60 / 111_000  # ≈ 10 kn due north per minute (degrees of latitude)


def track():
    """(label, mmsi, seconds after T0, lat, lon, sog, cog, heading) rows, in file order, with
    every defect. Line numbers in the file = position + 2."""
    r = []
    for i in range(12):  # vessel A steams north at ~10 kn, one report a minute
        r.append(("ok", 367000001, 60 * i, 40.0 + DLAT * i, -74.0, 10.0, 0.0, 0.0))
    r[3] = ("heading511", 367000001, 180, 40.0 + DLAT * 3, -74.0, 10.0, 0.0, 511)
    r[4] = ("sog102.3", 367000001, 240, 40.0 + DLAT * 4, -74.0, 102.3, 0.0, 0.0)
    r[5] = ("cog360", 367000001, 300, 40.0 + DLAT * 5, -74.0, 10.0, 360.0, 0.0)
    r += [
        ("lat91", 367000001, 690, 91.0, -74.0, 10.0, 0.0, 0.0),
        ("lon181", 367000001, 700, 40.2, 181.0, 10.0, 0.0, 0.0),
        ("exactdup", *r[6][1:]),
        ("conflict", 367000001, 420, 40.3, -74.0, 10.0, 0.0, 0.0),  # same time as row 7, elsewhere
        ("samepos", 367000001, 480, 40.0 + DLAT * 8, -74.0, 11.0, 0.0, 0.0),  # same time/position as row 8
        ("jump", 367000001, 750, 40.0 + DLAT * 11 + 0.1, -74.0, 10.0, 0.0, 0.0),  # 11 km in 90 s
    ]
    for i in range(12):  # vessel A again after a 2 h gap: a second voyage
        r.append(("voyage2", 367000001, 660 + 7200 + 60 * i, 40.1 + DLAT * i, -74.0, 10.0, 0.0, 0.0))
    r.append(("unsorted", 367000001, 630, 40.0 + DLAT * 10.5, -74.0, 10.0, 0.0, 0.0))  # belongs between rows 10 and 11
    for i in range(3):  # vessel B: a 3-report voyage, too short
        r.append(("short", 367000002, 60 * i, 40.5, -73.9 + 0.001 * i, 3.0, 90.0, 90.0))
    return r


def lines_of(rows, label):
    return [i + 2 for i, x in enumerate(rows) if x[0] == label]


def write_marinecadastre(path, rows):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(MC_COLS)
        for _, mmsi, sec, lat, lon, sog, cog, hd in rows:
            t = (T0 + timedelta(seconds=sec)).strftime("%Y-%m-%dT%H:%M:%S")
            w.writerow([mmsi, t, f"{lat:.6f}", f"{lon:.6f}", sog, cog, hd, "SHIP", "IMO1", "CALL", 70, "", 100, 20,
                        5.0, 70, "A"])


def write_aisdk(path, rows, extra=()):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(DK_COLS)
        for _, mmsi, sec, lat, lon, sog, cog, hd in list(rows) + list(extra):
            t = (T0 + timedelta(seconds=sec)).strftime("%d/%m/%Y %H:%M:%S")
            mobile = "Base Station" if mmsi == 2190000 else "Class A"
            w.writerow([t, mobile, mmsi, f"{lat:.6f}", f"{lon:.6f}", "Under way", "", sog, cog, hd, "", "", "", "", "",
                        "", "", "GPS", "", "", "", "AIS", "", "", "", ""])


def expected_drops(rows, on_conflict="drop"):
    first_conflict = [i + 2 for i, x in enumerate(rows) if x[0] == "ok" and x[2] == 420]
    return {
        "rows without a valid position dropped": lines_of(rows, "lat91") + lines_of(rows, "lon181"),
        "exact duplicate rows dropped": lines_of(rows, "exactdup"),
        "same time and position as an earlier report, dropped": lines_of(rows, "samepos"),
        "same time, conflicting positions, dropped": (first_conflict if on_conflict == "drop" else []) + lines_of(rows, "conflict"),
        "implausible jumps dropped": lines_of(rows, "jump"),
        # rows earlier than a report above them of the same vessel
        "rows out of time order within a vessel, sorted": lines_of(rows, "conflict") + lines_of(rows, "samepos")
        + lines_of(rows, "unsorted"),
        "voyages too short dropped (rows)": lines_of(rows, "short"),
    }


def rows_by_reason(series):
    out = {}
    for e in series.report.entries:
        out.setdefault(e.reason, []).extend(e.rows)
    return {k: sorted(v) for k, v in out.items()}


@pytest.mark.parametrize("layout", ["marinecadastre", "aisdk"])
def test_hand_made_file_every_defect(tmp_path, layout):
    rows = track()
    p = tmp_path / f"{layout}.csv"
    base_station = [("base", 2190000, 30, 55.0, 12.0, 0.0, 0.0, 511)]
    (write_marinecadastre(p, rows) if layout == "marinecadastre" else write_aisdk(p, rows, base_station))
    s = load_ais(p, min_voyage_rows=5)
    got = rows_by_reason(s)
    for reason, lines in expected_drops(rows).items():
        assert got.get(reason, []) == lines, reason
    assert got["not-available heading set to missing"] == lines_of(rows, "heading511")
    assert got["not-available sog set to missing"] == lines_of(rows, "sog102.3")
    assert got["not-available cog set to missing"] == lines_of(rows, "cog360")
    if layout == "aisdk":
        assert got["not a vessel (Type of mobile), dropped"] == [len(rows) + 2]
        assert "naive timestamps interpreted in timezone" in got
    assert s.meta["format"] == layout and detect_format(MC_COLS if layout == "marinecadastre" else DK_COLS) == layout
    # what is left: vessel A, two voyages, in time order, file lines kept
    assert s.series_ids == [367000001]
    f = s.frame
    # voyage 1: lines 2-13 less line 9 (conflict at 420 s) plus the late line (630 s); voyage 2: 12
    assert f["segment"].tolist() == [0] * 12 + [1] * 12
    assert f["time"].is_monotonic_increasing
    assert f["_row"].tolist()[:8] == [2, 3, 4, 5, 6, 7, 8, 10]  # line 9 (t=420 s) lost to the conflict
    # projection: positions come back, and the track moves north at ~10 kn
    ll = to_latlon(s)
    kept = [rows[r - 2] for r in f["_row"]]
    np.testing.assert_allclose(ll["lat"], [x[3] for x in kept], atol=1e-6)
    v = np.diff(f["north_m"].to_numpy()[:7]) / 60 / KNOT_M_S  # lines 2..8: one minute apart
    assert np.all(np.abs(v - 10.0) < 0.2)


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


def test_jump_at_the_start_of_a_track_drops_the_first_report(tmp_path):
    rows = [("glitch", 367000003, 0, 41.0, -74.0, 10.0, 0.0, 0.0)]
    rows += [("ok", 367000003, 60 * i, 40.0 + DLAT * i, -74.0, 10.0, 0.0, 0.0) for i in range(1, 8)]
    p = tmp_path / "start.csv"
    write_marinecadastre(p, rows)
    s = load_ais(p, min_voyage_rows=2)
    # the second report is confirmed by the third, so the first one is the glitch
    assert rows_by_reason(s)["implausible jumps dropped"] == [2]
    assert len(s) == 7 and s.frame["_row"].tolist() == list(range(3, 10))


def test_derived_motion_is_causal_and_reported_values_win(tmp_path):
    rows = track()
    p = tmp_path / "mc.csv"
    write_marinecadastre(p, rows)
    s = load_ais(p, min_voyage_rows=5, covariates=["sog_kn", "cog_deg"])
    f = s.frame.set_index("_row")
    assert f.loc[2, "sog_kn"] == 10.0  # reported, kept
    line = lines_of(rows, "sog102.3")[0]  # SOG not available: derived from the previous report
    prev = rows[line - 3]
    this = rows[line - 2]
    expect = haversine_m(*(round(v, 6) for v in (prev[3], prev[4], this[3], this[4]))) / (this[2] - prev[2]) / KNOT_M_S
    assert f.loc[line, "sog_kn"] == pytest.approx(expect) and abs(expect - 10.0) < 0.1
    assert f.loc[lines_of(rows, "cog360")[0], "cog_deg"] == pytest.approx(0.0, abs=1e-6)  # due north, derived
    got = rows_by_reason(s)
    assert got["SOG derived from positions"] == [line]
    # changing the reports after a time never changes the covariates up to it
    q = tmp_path / "later.csv"
    changed = [x if x[2] <= 300 or x[1] != 367000001 else (*x[:3], x[3] + 0.01, x[4] + 0.01, 102.3, 360.0, 511)
               for x in rows]
    write_marinecadastre(q, changed)
    s2 = load_ais(q, min_voyage_rows=5, covariates=["sog_kn", "cog_deg"], origin=s.meta["projection"])
    a = s.frame[s.frame["time"] <= T0 + timedelta(seconds=300)]
    b = s2.frame[s2.frame["time"] <= T0 + timedelta(seconds=300)]
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


def test_no_reported_motion_and_no_derivation_drops_rows(tmp_path):
    p = tmp_path / "bundled_layout.csv"
    p.write_text("mmsi,timestamp,lat,lon,sog,cog,heading,vessel_type\n" + "".join(
        f"367000009,2020-06-04T00:{i:02d}:00Z,40.0,{-74 + 0.001 * i:.4f},,,,\n" for i in range(6)))
    s = load_ais(p, min_voyage_rows=2, covariates=["sog_kn"])
    assert len(s) == 5 and rows_by_reason(s)["rows with unknown speed/course dropped"] == [2]
    with pytest.raises(DataError, match="no reports left"):
        load_ais(p, min_voyage_rows=2, covariates=["sog_kn"], derive_motion=False)


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
    with pytest.raises(DataError, match="file not found.*ais-virginia"):
        load_ais("ais-atlantis")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="empty.csv: is empty"):
        load_ais(empty)
    bad = tmp_path / "bad.csv"
    write_marinecadastre(bad, track()[:3])
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
    write_marinecadastre(cut, track()[:12])
    cut.write_text(cut.read_text()[:-60])  # a download cut off mid-line
    with pytest.raises(DataError, match=r"cut.csv, row 13: the last line has \d+ of 17 fields.*truncated"):
        load_ais(cut)


@pytest.mark.parametrize(
    "kw, msg",
    [
        (dict(fmt="csv"), "fmt must be"),
        (dict(max_speed_kn=0), "max_speed_kn"),
        (dict(max_gap="soon"), "max_gap"),
        (dict(min_voyage_rows=0), "min_voyage_rows"),
        (dict(on_conflict="last"), "on_conflict"),
        (dict(covariates=["heading"]), "unknown AIS covariate"),
        (dict(origin="here"), "origin"),
    ],
)
def test_bad_arguments(kw, msg):
    with pytest.raises(ConfigError, match=msg):
        load_ais("ais-nyharbor", **kw)
