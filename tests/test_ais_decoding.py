"""Exact decoding of AIS speed, course, heading and position codes: each rule on raw codes
(hypothesis over every code), on small files in each layout, and the counts on the bundled
MarineCadastre hour with the evidence that the signed-course rule is right."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ais_files import DLAT, NA, Report, lines_of, steady, write_aisdk, write_bundled, write_marinecadastre
from tsgate.adapters.ais import bundled_ais_path, load_ais, to_latlon
from tsgate.adapters.ais_decoding import REASONS, decode_motion, valid_rows
from tsgate.adapters.ais_report import Tally
from tsgate.adapters.geo import initial_bearing_deg
from tsgate.data.repairs import RepairReport


def decoded(sog=(), cog=(), heading=()) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    n = max(len(sog), len(cog), len(heading))
    pad = lambda v: np.r_[np.asarray(v, float), np.full(n - len(v), 0.0)]  # noqa: E731
    t = {"sog": pad(sog), "cog": pad(cog), "heading": pad(heading)}
    tally = Tally()
    decode_motion(t, tally, {"sog", "cog", "heading"})
    r = RepairReport()
    tally.write(r)
    return t, r.by_reason()


# ----------------------------------------------------------------- the rules on raw codes
@given(st.integers(0, 4095))
def test_cog_every_12_bit_code_read_signed_or_unsigned(raw):
    # a decoder writes the 12-bit field in 0.1° as unsigned (0..409.5) or signed (-204.8..204.7)
    signed = (raw - 4096 if raw >= 2048 else raw) / 10
    for written in (raw / 10, signed):
        t, _ = decoded(cog=[written])
        if raw < 3600:
            assert t["cog"][0] == pytest.approx(raw / 10, abs=1e-9)
        else:  # 3600 = not available, 3601..4095 unused
            assert np.isnan(t["cog"][0])


@given(st.integers(0, 1023))
def test_sog_every_10_bit_code(raw):
    t, counts = decoded(sog=[raw / 10])
    if raw <= 1021:
        assert t["sog"][0] == pytest.approx(raw / 10)
    else:
        assert np.isnan(t["sog"][0])
        assert counts == {REASONS["sog_na"] if raw == 1023 else REASONS["sog_max"]: 1}


@given(st.integers(0, 511))
def test_heading_every_9_bit_code(raw):
    t, counts = decoded(heading=[float(raw)])
    assert (t["heading"][0] == raw) if raw < 360 else np.isnan(t["heading"][0])
    if raw >= 360:
        assert counts == {REASONS["heading_na"] if raw == 511 else REASONS["heading_range"]: 1}


def test_each_rule_is_counted():
    t, counts = decoded(
        sog=[10.0, 102.3, 102.2, 150.0, -0.1, NA],
        cog=[-61.8, -49.6, 360.0, 409.6, -300.0, NA],
        heading=[349.0, 511.0, 400.0, -1.0, NA, 0.0],
    )
    np.testing.assert_array_equal(np.isnan(t["sog"]), [False, True, True, True, True, True])
    assert t["cog"][0] == pytest.approx(347.8) and np.isnan(t["cog"][1:]).all()
    assert t["heading"][0] == 349.0 and np.isnan(t["heading"][1:5]).all() and t["heading"][5] == 0.0
    assert counts == {
        REASONS["sog_empty"]: 1, REASONS["sog_na"]: 1, REASONS["sog_max"]: 1, REASONS["sog_range"]: 1,
        REASONS["sog_negative"]: 1,
        REASONS["cog_empty"]: 1, REASONS["cog_signed"]: 2, REASONS["cog_na"]: 2, REASONS["cog_range"]: 2,
        REASONS["heading_empty"]: 1, REASONS["heading_na"]: 1, REASONS["heading_range"]: 2,
    }


def test_positions_and_mmsi():
    t = {"mmsi": np.array([1.0, np.nan, 0.0, 2.5, 3, 3, 3, 3, 3]),
         "lat": np.array([40, 40, 40, 40, 91, 40, np.nan, 95, 40.0]),
         "lon": np.array([-74, -74, -74, -74, -74, 181, -74, -74, -180.0]),
         "line": np.arange(2, 11)}
    tally = Tally()
    ok = valid_rows(t, tally, np.ones(9, bool))
    np.testing.assert_array_equal(ok, [True, False, False, False, False, False, False, False, True])
    r = RepairReport()
    tally.write(r)
    rows = {e.reason: e.rows for e in r.entries}
    assert rows == {REASONS["mmsi"]: [3, 4, 5], REASONS["pos_na"]: [6, 7], REASONS["pos_bad"]: [8, 9]}


# ----------------------------------------------------------------- the rules through files
def coded_track() -> list[Report]:
    r = steady(367000001, 12, cog=350.0, heading=349.0)
    r[2] = replace(r[2], label="signed", cog=-61.8)  # 347.8°
    r[3] = replace(r[3], label="cog_na", cog=-49.6)  # raw 3600
    r[4] = replace(r[4], label="sog_max", sog=102.2)
    r[5] = replace(r[5], label="sog_neg", sog=-0.1)
    r[6] = replace(r[6], label="heading_na", heading=511.0)
    r[7] = replace(r[7], label="empty", sog=NA, cog=NA, heading=NA)
    return r


@pytest.mark.parametrize("writer", [write_marinecadastre, write_aisdk, write_bundled])
def test_codes_in_every_layout(tmp_path, writer):
    rows = coded_track()
    p = tmp_path / "f.csv"
    writer(p, rows)
    s = load_ais(p, min_voyage_rows=2, min_course_speed_kn=0.0)
    c = s.report.by_reason()
    assert c[REASONS["cog_signed"]] == 2 and c[REASONS["cog_na"]] == 1 and c[REASONS["sog_max"]] == 1
    assert c[REASONS["sog_negative"]] == 1 and c[REASONS["heading_na"]] == 1
    assert c[REASONS["sog_empty"]] == c[REASONS["cog_empty"]] == c[REASONS["heading_empty"]] == 1
    # every n/a value is derived from positions (SOG, COG) or the course (heading)
    assert c["SOG derived from positions"] == 3 and c["COG derived from positions"] == 2
    assert c["heading from course (not reported)"] == 2
    f = s.frame.set_index("_row")
    assert f.loc[lines_of(rows, "signed")[0], "cog_deg"] == pytest.approx(347.8)
    for label in ("sog_max", "sog_neg", "empty"):
        assert f.loc[lines_of(rows, label)[0], "sog_kn"] == pytest.approx(10.0, abs=0.1)
    for label in ("cog_na", "empty"):
        assert f.loc[lines_of(rows, label)[0], "cog_deg"] == pytest.approx(0.0, abs=1e-6)  # due north
    assert f.loc[lines_of(rows, "heading_na")[0], "heading_deg"] == 350.0  # the reported course


def test_aisdk_decimal_commas_and_missing_columns(tmp_path):
    # the DMA documentation writes "57,8794": quoted fields with decimal commas
    p = tmp_path / "dk.csv"
    write_aisdk(p, steady(219000001, 5, lat0=55.0, lon0=11.0))
    lines = p.read_text().splitlines()
    fields = lines[3].split(",")
    lat, lon = fields[3], fields[4]
    fields[3], fields[4] = '"' + lat.replace(".", ",") + '"', '"' + lon.replace(".", ",") + '"'
    lines[3] = ",".join(fields)
    p.write_text("\n".join(lines) + "\n")
    s = load_ais(p, min_voyage_rows=1)
    ll = to_latlon(s)[(s.frame["_row"] == 4).to_numpy()]
    np.testing.assert_allclose(ll[["lat", "lon"]].to_numpy()[0], [float(lat), float(lon)], atol=1e-9)
    assert s.frame["_row"].tolist() == [2, 3, 4, 5, 6]
    # a file without SOG/COG/heading columns: every value derived, counted as "no column"
    q = tmp_path / "positions.csv"
    pd.DataFrame({"MMSI": [367000001] * 6, "BaseDateTime": [f"2020-06-30T00:0{i}:00" for i in range(6)],
                  "LAT": [40.0 + DLAT * i for i in range(6)], "LON": [-74.0] * 6}).to_csv(q, index=False)
    s = load_ais(q, min_voyage_rows=1)
    details = {e.reason: e.detail for e in s.report.entries}
    assert details[REASONS["sog_empty"]] == "no SOG column" and details[REASONS["heading_empty"]] == "no heading column"
    assert len(s) == 5 and np.allclose(s.frame["sog_kn"], 10.0, atol=0.05)


# ----------------------------------------------------------------- the real MarineCadastre hour
@pytest.fixture(scope="module")
def mc_raw() -> pd.DataFrame:
    with bundled_ais_path("ais-nyharbor-mc").open() as fh:
        df = pd.read_csv(fh)
    return df.assign(line=np.arange(len(df)) + 2)


def test_marinecadastre_hour_codes_and_counts(mc_raw):
    assert len(mc_raw) == 8689 and mc_raw["MMSI"].nunique() == 295
    assert (mc_raw["COG"].min(), mc_raw["COG"].max()) == (-204.8, 204.7)  # a signed 12-bit field
    s = load_ais("ais-nyharbor-mc", min_voyage_rows=1, covariates=())
    c = s.report.by_reason()
    assert c["naive timestamps interpreted in timezone"] == 8689
    assert c[REASONS["cog_signed"]] == 4463 == int((mc_raw["COG"] < 0).sum())
    assert c[REASONS["cog_na"]] == 777 == int((mc_raw["COG"] == -49.6).sum())
    assert c[REASONS["heading_na"]] == 3606
    for k in ("sog_na", "sog_max", "sog_negative", "sog_range", "sog_empty", "cog_range", "cog_empty",
              "heading_range", "heading_empty"):
        assert REASONS[k] not in c, k
    assert c["exact duplicate rows dropped"] == 2  # the two pairs that differ only in ETA
    dups = {e.series: e.rows for e in s.report.entries if e.reason == "exact duplicate rows dropped"}
    assert dups == {338131000: [8684], 367179990: [8690]}
    assert mc_raw.loc[mc_raw["line"].isin([8683, 8684]), "ETA"].nunique() == 2
    # no position is dropped: line 6974 (an FDNY boat at 32 kn after a late report) is kept
    assert not [e for e in s.report.entries if "spike" in e.reason or "glitch" in e.reason or "stale" in e.reason]
    assert 6974 in set(s.frame["_row"]) and len(s) == 8689 - 2 and s.n_series == 295
    # the course as decoded (min_course_speed_kn=0: no replacement at rest); a first report with
    # the n/a course has nothing to derive it from and is dropped
    s = load_ais("ais-nyharbor-mc", min_voyage_rows=1, min_course_speed_kn=0.0, covariates=("sog_kn", "cog_deg"))
    f = s.frame
    assert f["cog_deg"].between(0, 360, inclusive="left").all() and f["cog_deg"].max() == pytest.approx(359.8)
    assert f["sog_kn"].max() == 38.5


def test_signed_course_rule_matches_the_bearing_between_positions(mc_raw):
    """The evidence: decoded negative courses point where the vessel goes; +360 does not."""
    df = mc_raw.drop_duplicates(["MMSI", "BaseDateTime", "LAT", "LON", "SOG", "COG", "Heading"])
    df = df.assign(t=pd.to_datetime(df["BaseDateTime"]).astype("int64") / 1e9).sort_values(["MMSI", "t"], kind="stable")
    mm, t, lat, lon = (df[c].to_numpy() for c in ("MMSI", "t", "LAT", "LON"))
    cog, sog = df["COG"].to_numpy(), df["SOG"].to_numpy()
    ok = np.r_[False, mm[1:-1] == mm[:-2], False] & np.r_[False, mm[1:-1] == mm[2:], False]
    ok[1:-1] &= (t[2:] - t[:-2]) <= 400
    i = np.flatnonzero(ok & (sog >= 2) & (cog < 0) & (cog != -49.6))
    bearing = initial_bearing_deg(lat[i - 1], lon[i - 1], lat[i + 1], lon[i + 1])
    diff = lambda a: np.abs((a - bearing + 180) % 360 - 180)  # noqa: E731
    s = load_ais("ais-nyharbor-mc", min_voyage_rows=1, min_course_speed_kn=0.0)
    decoded_cog = s.frame.set_index("_row").loc[df["line"].to_numpy()[i], "cog_deg"].to_numpy()
    assert len(i) > 400
    assert np.median(diff(decoded_cog)) < 5.0  # research: 3.0° median
    assert np.median(diff(cog[i] + 360.0)) > 40.0  # the other reading: ~50°
