"""Reading AIS files in blocks: the same series whatever the block size (also with blank lines,
CRLF, quoted fields and line breaks inside quotes), exact line numbers on every path, and the
selection while reading (area, time window, MMSI, vessel and mobile type)."""

from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ais_files import Report, steady, write_aisdk, write_marinecadastre
from tsgate.adapters.ais import bundled_ais_path, load_ais
from tsgate.adapters.ais_reader import _Reader
from tsgate.exceptions import DataError, SchemaError


def same_series(a, b) -> None:
    pd.testing.assert_frame_equal(a.frame, b.frame)
    assert [vars(e) for e in a.report.entries] == [vars(e) for e in b.report.entries]
    assert a.meta["projection"] == b.meta["projection"]


@pytest.mark.parametrize("name", ["ais-nyharbor-mc", "ais-nyharbor"])
def test_blocks_give_the_same_series_as_one_read(tmp_path, name):
    p = tmp_path / "f.csv"
    with bundled_ais_path(name).open("rb") as src, open(p, "wb") as dst:
        shutil.copyfileobj(src, dst)
    whole = load_ais(p)
    assert whole.meta["blocks"] == 1
    for size in (4096, 50_000):
        part = load_ais(p, chunk_bytes=size)
        assert part.meta["blocks"] > 5
        same_series(whole, part)


def odd_file(tmp_path) -> tuple:
    """A MarineCadastre file with CRLF line ends, blank lines, a quoted name with a comma, and a
    name with a line break inside quotes; returns (path, file line of every report)."""
    rows = steady(367000001, 30) + steady(367000002, 30, lat0=40.5)
    rows.sort(key=lambda r: r.sec)
    p = tmp_path / "odd.csv"
    write_marinecadastre(p, rows)
    lines = p.read_text().splitlines()
    out, where = [lines[0]], []
    for i, text in enumerate(lines[1:]):
        if i == 7:
            out.append("")  # a blank line
        if i == 11:
            text = text.replace("SHIP", '"SHIP, THE"')
        if i == 20:
            text = text.replace("SHIP", '"SHIP\nTWO"')  # the record spans two lines
        out.append(text)
        where.append(len("\n".join(out).split("\n")) - text.count("\n"))
    p.write_bytes("\r\n".join(out).encode() + b"\r\n")
    return p, rows, where


def test_odd_file_line_numbers_on_every_path(tmp_path, monkeypatch):
    p, rows, where = odd_file(tmp_path)
    calls = []
    original = _Reader._lines
    monkeypatch.setattr(_Reader, "_lines", lambda self, *a: calls.append(1) or original(self, *a))
    s = load_ais(p, min_voyage_rows=1, covariates=())
    assert calls  # the block with the quoted line break was read line by line
    assert len(s) == 60
    by_line = dict(zip(where, rows))
    ll = s.frame.assign(lat=[by_line[r].lat for r in s.frame["_row"]])
    # the line numbers point at the reports: their positions come back from those lines
    from tsgate.adapters.ais import to_latlon

    np.testing.assert_allclose(to_latlon(s)["lat"].to_numpy(), ll["lat"].to_numpy(), atol=1e-6)
    for size in (1024, 2000, 3000):
        same_series(s, load_ais(p, min_voyage_rows=1, covariates=(), chunk_bytes=size))
    # a bad value after the line break is reported at its own line
    text = p.read_bytes().decode()
    assert text.count(f"{rows[40].lat:.6f}") == 1
    p.write_bytes(text.replace(f"{rows[40].lat:.6f}", "north").encode())
    with pytest.raises(SchemaError, match=rf"odd.csv, column 'LAT', row {where[40]}: value 'north'"):
        load_ais(p, chunk_bytes=1024)


@settings(max_examples=25, deadline=None)
@given(st.integers(1024, 20_000), st.integers(0, 2**31))
def test_any_block_size_gives_the_same_series(tmp_path_factory, size, seed):
    rng = np.random.default_rng(seed)
    rows = []
    for v in range(3):
        rows += steady(219000001 + v, 25, lat0=55 + 0.1 * v, lon0=11.0)
    rows = [replace(r, sec=r.sec + float(rng.integers(0, 30))) for r in rows]
    rows[int(rng.integers(len(rows)))] = replace(rows[0], label="spike", lat=rows[0].lat + 1.0, sec=1e4)
    rows.sort(key=lambda r: r.sec)
    p = tmp_path_factory.mktemp("b") / "dk.csv"
    write_aisdk(p, rows + [Report("base", 2190000, 5.0, 55.0, 12.0, mobile="Base Station")])
    same_series(load_ais(p, min_voyage_rows=2), load_ais(p, min_voyage_rows=2, chunk_bytes=size))


@pytest.mark.parametrize("size", [1024, 1 << 20])
def test_blank_lines_without_quotes_keep_line_numbers(tmp_path, size):
    p = tmp_path / "blank.csv"
    write_marinecadastre(p, steady(367000001, 40))
    lines = p.read_text().splitlines()
    lines[10:10] = ["", ""]
    lines[30:30] = [""]
    p.write_text("\n".join(lines) + "\n\n")
    s = load_ais(p, min_voyage_rows=1, covariates=(), chunk_bytes=size)
    expected = [i + 1 for i, text in enumerate(lines) if text and i > 0]
    assert s.frame["_row"].tolist() == expected and len(expected) == 40
    lines[35] = lines[35].replace("367000001", "367000001x")
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(SchemaError, match=r"column 'MMSI', row 36: value '367000001x'"):
        load_ais(p, chunk_bytes=size)


def test_wrong_number_of_fields_names_the_line(tmp_path):
    p = tmp_path / "bad.csv"
    write_marinecadastre(p, steady(367000001, 20))
    lines = p.read_text().splitlines()
    lines[14] = lines[14].rsplit(",", 3)[0]
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"bad.csv, row 15: has 15 fields where the header has 18"):
        load_ais(p)


# ----------------------------------------------------------------- selection while reading
@pytest.fixture(scope="module")
def mc(tmp_path_factory):
    p = tmp_path_factory.mktemp("mc") / "mc.csv"
    with bundled_ais_path("ais-nyharbor-mc").open("rb") as src, open(p, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return p


def test_area_time_and_mmsi_selection(mc):
    full = load_ais(mc, min_voyage_rows=1, covariates=())
    box = (40.60, -74.10, 40.70, -74.00)
    s = load_ais(mc, min_voyage_rows=1, covariates=(), bbox=box, chunk_bytes=100_000)
    ll = pd.read_csv(mc)
    inside = ll["LAT"].between(box[0], box[2]) & ll["LON"].between(box[1], box[3])
    c = s.report.by_reason()
    assert c["outside the area (bbox), not loaded"] == int((~inside).sum())
    assert len(s) == int(inside.sum()) - 2 + int(((~inside) & ll.duplicated(
        ["MMSI", "BaseDateTime", "LAT", "LON", "SOG", "COG", "Heading"])).sum())
    # the same rows as selecting after loading (positions, lines), up to the projection's origin
    keep = full.frame["_row"].isin(s.frame["_row"])
    assert keep.sum() == len(s)
    t = load_ais(mc, min_voyage_rows=1, covariates=(), start="2020-06-30T00:15:00", end="2020-06-30T00:30:00Z")
    assert t.frame["time"].min() >= pd.Timestamp("2020-06-30T00:15:00Z")
    assert t.frame["time"].max() < pd.Timestamp("2020-06-30T00:30:00Z")
    n_in = int(pd.to_datetime(ll["BaseDateTime"]).between("2020-06-30T00:15:00", "2020-06-30T00:29:59").sum())
    assert t.report.by_reason()["outside the time window, not loaded"] == 8689 - n_in
    m = load_ais(mc, min_voyage_rows=1, covariates=(), mmsi=[367531710, 338131000])
    assert m.series_ids == [338131000, 367531710]
    assert m.report.by_reason()["MMSI not selected, not loaded"] == int((~ll["MMSI"].isin([367531710, 338131000])).sum())


def test_bbox_across_the_antimeridian(tmp_path):
    rows = steady(412000001, 12, lat0=10.0, lon0=179.99) + steady(412000002, 12, lat0=10.0, lon0=-179.99)
    rows += steady(412000003, 12, lat0=10.0, lon0=170.0)
    p = tmp_path / "dateline.csv"
    write_marinecadastre(p, rows)
    s = load_ais(p, bbox=(9.0, 179.0, 11.0, -179.0), covariates=())
    assert s.series_ids == [412000001, 412000002]


def test_vessel_and_mobile_types(tmp_path, mc):
    # MarineCadastre writes numeric codes: 31 = towing, 60-69 passenger (ferries), empty = unknown
    raw = pd.read_csv(mc)
    s = load_ais(mc, min_voyage_rows=1, covariates=(), vessel_types=["Passenger"])
    ferries = set(raw.loc[raw["VesselType"].between(60, 69), "MMSI"])
    assert set(s.series_ids) == ferries and len(ferries) > 5
    # aisdk names; a report without a type is kept when the vessel states a selected type elsewhere
    rows = steady(219000001, 12, lat0=55.0, lon0=11.0)
    rows[0] = replace(rows[0], ship="Undefined")
    rows += [replace(r, mmsi=219000002, ship="Tanker", lat=r.lat + 0.1) for r in steady(219000002, 12, lat0=55.0)]
    rows += [replace(r, mmsi=219000003, ship="Undefined", lat=r.lat + 0.2) for r in steady(219000003, 12, lat0=55.0)]
    rows += [replace(r, mmsi=219000004, mobile="Class B", lat=r.lat + 0.3) for r in steady(219000004, 12, lat0=55.0)]
    rows += [Report("aton", 992191234, 0.0, 55.5, 11.5, mobile="AtoN")]
    p = tmp_path / "dk.csv"
    write_aisdk(p, rows)
    s = load_ais(p, vessel_types=["cargo"], covariates=())
    assert s.series_ids == [219000001, 219000004] and len(s.get(219000001).time_s) == 12
    c = s.report.by_reason()
    assert c["vessel type not selected, not loaded"] == 24  # the tanker; the untyped vessel at the end
    assert [e.rows for e in s.report.entries if e.reason.startswith("not a vessel")] == [[len(rows) + 1]]
    only_a = load_ais(p, mobile_types="Class A", covariates=())
    assert 219000004 not in only_a.series_ids and 219000001 in only_a.series_ids
    assert load_ais(p, mmsi=219000003, covariates=()).series_ids == [219000003]
    everything = load_ais(p, mobile_types=None, covariates=(), min_voyage_rows=1)
    assert 992191234 in everything.series_ids


def _arrow_dmy(values):
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        return pc.strptime(pa.array(values), format="%d/%m/%Y %H:%M:%S", unit="ns").cast("int64").to_numpy()
    except pa.ArrowInvalid:
        return None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.datetimes(min_value=pd.Timestamp("1700-01-01").to_pydatetime(),
                             max_value=pd.Timestamp("2260-12-31").to_pydatetime()), min_size=1, max_size=40),
       st.integers(0, 3))
def test_aisdk_times_decoded_from_their_bytes_equal_pyarrow(times, cut):
    import pyarrow as pa

    from tsgate.adapters.ais_times import decode_dmy_hms

    text = [t.strftime("%d/%m/%Y %H:%M:%S") for t in times]
    arr = pa.array(["00/00/0000 00:00:00"] * cut + text).slice(cut)  # offsets that do not start at 0
    np.testing.assert_array_equal(decode_dmy_hms(arr), _arrow_dmy(text))
    np.testing.assert_array_equal(decode_dmy_hms(pa.chunked_array([arr[:1], arr[1:]])), _arrow_dmy(text))


@settings(max_examples=400, deadline=None)
@given(st.datetimes(min_value=pd.Timestamp("1700-01-01").to_pydatetime(),
                    max_value=pd.Timestamp("2260-12-31").to_pydatetime()),
       st.integers(0, 18), st.sampled_from(list("0123456789/: -aT")))
def test_aisdk_time_text_either_decodes_as_pyarrow_does_or_is_left_to_it(when, pos, char):
    import pyarrow as pa

    from tsgate.adapters.ais_times import decode_dmy_hms

    text = when.strftime("%d/%m/%Y %H:%M:%S")
    value = text[:pos] + char + text[pos + 1 :]  # one character changed: often not a time any more

    got = decode_dmy_hms(pa.array([value, "01/03/2024 00:11:55"]))
    if got is not None:  # decoded: the same nanoseconds as pyarrow's parser
        np.testing.assert_array_equal(got, _arrow_dmy([value, "01/03/2024 00:11:55"]))
