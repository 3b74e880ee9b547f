"""ExtMarker adapter: exact repairs of the real 10 Hz files, marker numbering against the
resampled files, the published split, and hand-made raw files with each defect."""

from __future__ import annotations

import numpy as np
import pytest

from tsgate.adapters.extmarker import (
    CITATION,
    TARGETS,
    extmarker_files,
    extmarker_split,
    load_extmarker,
    load_extmarker_split,
    read_extmarker_raw,
)
from tsgate.exceptions import ConfigError, DataError, SchemaError

# Counted independently from the raw files (a plain-Python scan: rows whose 5 fields are all 0;
# |Timestamp - Frame/60 s| > 1/120 s). Same line numbers in all three marker files of a sequence.
REPAIRS = {
    1: ([2222], []),
    2: ([1385], []),
    3: ([1299], [130, 131, 227, 1257, 1258]),
    4: ([], [447]),
    5: ([], [836, 1280, 1281]),
    6: ([], [12, 13]),
    7: ([], []),
    8: ([3201], [3074]),
    9: ([3063], [629, 630]),
}
RAW_ROWS = {1: 2221, 2: 1384, 3: 1298, 4: 1423, 5: 1308, 6: 1172, 7: 727, 8: 3200, 9: 3062}


@pytest.mark.parametrize("seq", range(1, 10))
def test_real_10hz_repairs_are_exact(seq):
    s = load_extmarker(seq)
    zeros, stamps = REPAIRS[seq]
    rep = {e.reason: e for e in s.report.entries}
    assert set(rep) <= {"all-zero rows dropped", "timestamps repaired from Frame/60"}
    if zeros:
        assert rep["all-zero rows dropped"].rows == zeros and rep["all-zero rows dropped"].count == 1
    else:
        assert "all-zero rows dropped" not in rep
    if stamps:
        assert rep["timestamps repaired from Frame/60"].rows == stamps
        assert rep["timestamps repaired from Frame/60"].count == len(stamps)
    else:
        assert "timestamps repaired from Frame/60" not in rep
    assert len(s) == RAW_ROWS[seq] - len(zeros)
    assert s.series_ids == [f"seq{seq}"] and s.targets == TARGETS and s.time_kind == "seconds"
    assert set(s.units.values()) == {"mm"}
    t = s.time_seconds()
    assert t[0] == 0.0
    # after the repair every step is one sample of the 60 fps camera: 6 or 7 frames (100 or 117 ms)
    assert np.all((np.diff(t) > 0.0995) & (np.diff(t) < 0.1175))
    assert not (s.frame[list(TARGETS)] == 0).all(axis=1).any()


def test_repaired_timestamp_is_frame_over_60():
    s = load_extmarker(3)
    f = s.frame.set_index("_row")
    # line 130: Frame 768, Timestamp written as 25,6 ms; the Frame clock says 12.8 s
    assert f.loc[130, "time"] == pytest.approx(768 / 60)
    assert f.loc[129, "time"] == pytest.approx(12.7)  # neighbour kept as recorded (12700 ms)
    assert f.loc[1258, "time"] == pytest.approx(7539 / 60)


@pytest.mark.parametrize("seq", [1, 3, 6, 9])
def test_marker_numbering_matches_the_resampled_files(seq):
    raw = load_extmarker(seq, relative=True).frame[list(TARGETS)].to_numpy()
    low = load_extmarker(seq, "3.33hz").frame[list(TARGETS)].to_numpy()
    high = load_extmarker(seq, "30hz").frame[list(TARGETS)].to_numpy()
    # 3.33 Hz = every third raw sample; 30 Hz sample 3i = raw sample i up to the file's 0.1 mm rounding
    np.testing.assert_allclose(low, raw[::3][: len(low)], atol=1e-5)
    m = min(len(raw), len(high) // 3)
    np.testing.assert_allclose(high[::3][:m], raw[:m], atol=0.1 + 1e-9)
    for c in range(9):  # and no other column assignment would fit: each column matches itself best
        corr = [np.corrcoef(raw[:m, c], high[::3][:m, j])[0, 1] for j in range(9)]
        assert int(np.nanargmax(corr)) == c


def test_resampled_files_and_split():
    s = load_extmarker(7, "30hz")
    assert len(s) == 2178 and s.frame[list(TARGETS)].iloc[0].eq(0).all()
    assert np.diff(s.time_seconds()).max() < 0.0335
    assert extmarker_split("10hz") == (300, 300)
    assert extmarker_split("3.33hz") == (100, 100)
    assert extmarker_split("30hz") == (900, 900)
    tr, va, te = load_extmarker_split(2, "10hz")
    assert (len(tr), len(va), len(te)) == (300, 300, 1383 - 600)
    assert tr.time_seconds()[-1] < va.time_seconds()[0] < te.time_seconds()[0]
    tr, va, te = load_extmarker_split(2, "3.33hz")
    assert (len(tr), len(va), len(te)) == (100, 100, 261)


def test_metadata_and_files():
    s = load_extmarker(6)
    assert s.meta["markers"] == {1: "LAC", 2: "LAR", 3: "UAR"}
    assert s.meta["license"] == "CC BY 4.0" and s.meta["citation"] == CITATION
    assert "Krilavicius" in CITATION and "Pohl" in CITATION
    assert [p.name for p in extmarker_files(1)] == [
        "201205101519-LAC-1-T-222-6.csv", "201205101519-UAC-1-T-222-6.csv", "201205101519-UCC-1-T-222-6.csv"]
    assert s.meta["relative"] is False and s.frame["x1"].iloc[0] != 0


@pytest.mark.parametrize("seq, rate, msg", [(0, "10hz", "sequence"), (10, "10hz", "sequence"), (1.0, "10hz", "sequence"),
                                            (1, "20hz", "rate must be one of")])
def test_bad_arguments(seq, rate, msg):
    with pytest.raises(ConfigError, match=msg):
        load_extmarker(seq, rate)
    with pytest.raises(ConfigError, match="relative"):
        load_extmarker(1, "30hz", relative=True)


# ----------------------------------------------------------------- hand-made raw files
HEADER = '"Frame";"Timestamp";"x";"y";"z"\n'


def write(tmp_path, name, rows):
    p = tmp_path / name
    p.write_text(HEADER + "".join(";".join(r) + "\n" for r in rows))
    return p


def rows(frames, stamps=None):
    out = []
    for i, f in enumerate(frames):
        ts = stamps[i] if stamps is not None else str(round(f * 1000 / 60)).replace(".", ",")
        out.append([str(f), ts, f"{i},5", "1,25", f"-{i}"])
    return out


def test_hand_made_files_each_defect(tmp_path):
    frames = [0, 6, 13, 19, 26, 32]
    a = rows(frames, ["0", "100", "217", "6,33333333333333", "433", "533"]) + [["0", "0", "0", "0", "0"]]
    b = rows(frames) + [["0", "0", "0", "0", "0"]]
    c = rows(frames[:4] + [28] + frames[5:])  # Frame 26 missing here, 28 extra
    files = [write(tmp_path, "m1.csv", a), write(tmp_path, "m2.csv", b), write(tmp_path, "m3.csv", c)]
    s = read_extmarker_raw(files, series_id="mine")
    by = {e.reason: [(x.rows, x.detail) for x in s.report.entries if x.reason == e.reason] for e in s.report.entries}
    assert by["all-zero rows dropped"] == [([8], "in m1.csv, m2.csv")]
    assert by["timestamps repaired from Frame/60"] == [([5], "in m1.csv")]
    # Frame 26 (line 6 of m1, m2) and Frame 28 (line 6 of m3): two different rows, one entry per file
    assert by["rows without a matching Frame in the other marker files dropped"] == [
        ([6], "in m1.csv"), ([6], "in m2.csv"), ([6], "in m3.csv")]
    assert len(s) == 5 and s.frame["_row"].tolist() == [2, 3, 4, 5, 7]
    # line 5 (Frame 19, Timestamp 6,33 ms) repaired to 19/60 s; the others kept as recorded
    np.testing.assert_allclose(s.time_seconds(), [0.0, 0.1, 0.217, 19 / 60, 0.533])
    assert s.frame["x1"].tolist() == [0.5, 1.5, 2.5, 3.5, 5.5] and s.frame["y3"].tolist() == [1.25] * 5
    rel = read_extmarker_raw(files, relative=True)
    assert rel.frame[list(TARGETS)].iloc[0].eq(0).all()


def test_hand_made_files_errors(tmp_path):
    good = rows([0, 6, 13])
    g1, g2 = write(tmp_path, "g1.csv", good), write(tmp_path, "g2.csv", good)
    bad_num = write(tmp_path, "num.csv", good[:2] + [["13", "217", "abc", "1", "1"]])
    with pytest.raises(SchemaError, match=r"num.csv, column 'x', row 4: value 'abc' is not a number"):
        read_extmarker_raw([g1, g2, bad_num])
    hdr = tmp_path / "hdr.csv"
    hdr.write_text("Frame,Timestamp,x,y,z\n0,0,1,1,1\n")
    with pytest.raises(SchemaError, match="hdr.csv.*expected"):
        read_extmarker_raw([g1, g2, hdr])
    trunc = tmp_path / "trunc.csv"
    trunc.write_text(HEADER + "0;0;1,5;2;3\n6;100;1,")
    with pytest.raises(SchemaError, match=r"trunc.csv, column 'y', row 3"):
        read_extmarker_raw([g1, g2, trunc])
    dup = write(tmp_path, "dup.csv", good + [good[-1]])
    with pytest.raises(DataError, match=r"dup.csv, column 'Frame', row 5: Frame 13 appears twice"):
        read_extmarker_raw([g1, g2, dup])
    # a file whose clock runs 1 s ahead throughout is self-consistent, but not with the others
    ahead = write(tmp_path, "ahead.csv", rows([0, 6, 13], ["1000", "1100", "1217"]))
    with pytest.raises(DataError, match=r"disagree on the time of Frame 0 \(0.000 s, 0.000 s, 1.000 s\)"):
        read_extmarker_raw([g1, g2, ahead])
    other = write(tmp_path, "other.csv", rows([100, 106]))
    with pytest.raises(DataError, match="share no Frame"):
        read_extmarker_raw([g1, g2, other])
    with pytest.raises(ConfigError, match="3 marker files"):
        read_extmarker_raw([g1, g2])
    with pytest.raises(DataError, match="cannot be read"):
        read_extmarker_raw([g1, g2, tmp_path / "missing.csv"])
