"""IrregularSeries: malformed inputs give the intended DataError naming column/series/row (never
a bare pandas error), and every repair policy does what it says and is counted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tsgate.exceptions import (
    ConfigError,
    DataError,
    MissingValueError,
    SchemaError,
    TimestampError,
    TooShortError,
)
from tsgate.data.repairs import RepairReport
from tsgate.data.series import IrregularSeries

Z = ["2020-01-01T00:00:00Z", "2020-01-01T00:00:10Z", "2020-01-01T00:00:00Z", "2020-01-01T00:00:05Z"]


def frame(**over) -> pd.DataFrame:
    d = {"id": ["a", "a", "b", "b"], "time": Z, "v": [1.0, 2.0, 3.0, 4.0]}
    d.update(over)
    return pd.DataFrame(d)


def load(df: pd.DataFrame, **kw) -> IrregularSeries:
    kw.setdefault("id_col", "id")
    return IrregularSeries.from_frame(df, **kw)


# ----------------------------------------------------------------- the happy path
def test_valid_frame_is_normalised():
    s = load(frame(w=[0.5, 0.6, 0.7, 0.8]), target_cols=["v"], covariate_cols=["w"])
    assert s.time_kind == "datetime" and s.series_ids == ["a", "b"] and s.n_series == 2
    assert list(s.frame.columns) == ["series", "_row", "time", "v", "w", "segment"]
    assert str(s.frame["time"].dtype) == "datetime64[ns, UTC]"
    g = list(s.groups())
    np.testing.assert_array_equal(g[1].time_s - g[1].time_s[0], [0.0, 5.0])
    assert g[0].covariates.shape == (2, 1) and len(s.report) == 0
    assert s.describe()["median_dt_s"].tolist() == [10.0, 5.0]


def test_numeric_times_are_seconds_and_one_series_without_id():
    s = IrregularSeries.from_frame(pd.DataFrame({"t": [0.0, 0.1, 0.25], "z": [1, 2, 3]}), time_col="t")
    assert s.time_kind == "seconds" and s.n_series == 1 and s.targets == ("z",)
    np.testing.assert_array_equal(s.time_seconds(), [0.0, 0.1, 0.25])


def test_series_keep_order_of_first_appearance_even_with_mixed_id_types():
    s = load(pd.DataFrame({"id": [2, "x", 2, 1], "time": [0.0, 0.0, 1.0, 0.0], "v": [1, 2, 3, 4]}))
    assert s.series_ids == [2, "x", 1]
    assert s.frame["_row"].tolist() == [0, 2, 1, 3]


# ----------------------------------------------------------------- schema errors
def test_missing_column_is_named_with_the_columns_present():
    with pytest.raises(SchemaError, match=r"missing column\(s\) \['w'\].*the file has \['id', 'time', 'v'\]") as e:
        load(frame(), target_cols=["w"])
    assert e.value.column == "w"
    with pytest.raises(SchemaError, match="'when'"):
        load(frame(), time_col="when")


def test_unknown_extra_column_becomes_a_target_and_is_refused_when_not_numeric():
    with pytest.raises(SchemaError, match="value 'red' is not a number") as e:
        load(frame(colour=["red", "red", "blue", "blue"]))
    assert e.value.column == "colour" and e.value.row == 0


@pytest.mark.parametrize(
    "values, bad, row",
    [(["1", "x", "3", "4"], "'x'", 1), (["1", "2", "3", "1,5"], "'1,5'", 3), (["1", "2", "N/A", "4"], "'N/A'", 2)],
)
def test_non_numeric_value_names_column_and_row(values, bad, row):
    with pytest.raises(SchemaError, match=f"value {bad} is not a number") as e:
        load(frame(v=values), first_row=2)
    assert (e.value.column, e.value.row) == ("v", row + 2)
    assert f"row {row + 2}" in str(e.value)


def test_boolean_columns_are_refused():
    with pytest.raises(SchemaError, match="boolean"):
        load(frame(v=[True, False, True, False]))
    with pytest.raises(TimestampError, match="boolean"):
        IrregularSeries.from_frame(pd.DataFrame({"time": [True, False], "v": [1, 2]}))


def test_roles_and_policies_are_checked():
    with pytest.raises(ConfigError, match="more than one role"):
        load(frame(), target_cols=["v"], covariate_cols=["v"])
    with pytest.raises(ConfigError, match=r"on_duplicate must be one of \['error', 'first', 'last', 'mean'\]"):
        load(frame(), on_duplicate="median")
    with pytest.raises(ConfigError, match="on_nan"):
        load(frame(), on_nan="zero")
    with pytest.raises(ConfigError, match="DataFrame"):
        IrregularSeries.from_frame([1, 2, 3])  # type: ignore[arg-type]


def test_empty_frame_no_target_missing_id():
    with pytest.raises(DataError, match="no rows"):
        IrregularSeries.from_frame(pd.DataFrame({"time": [], "v": []}))
    with pytest.raises(SchemaError, match="no target column"):
        IrregularSeries.from_frame(pd.DataFrame({"time": [1.0]}))
    with pytest.raises(SchemaError, match="missing series id") as e:
        load(frame(id=["a", None, "b", "b"]))
    assert e.value.row == 1


# ----------------------------------------------------------------- values
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_in_a_target_names_column_series_row(bad):
    with pytest.raises(MissingValueError, match="missing or infinite.*on_nan='drop'") as e:
        load(frame(v=[1.0, 2.0, 3.0, bad]))
    assert (e.value.column, e.value.series, e.value.row) == ("v", "b", 3)
    assert "series 'b'" in str(e.value)


def test_nan_drop_policy_counts_rows():
    s = load(frame(v=[1.0, np.nan, 3.0, np.inf]), on_nan="drop")
    assert len(s) == 2 and s.frame["v"].tolist() == [1.0, 3.0]
    assert s.report.by_reason() == {"rows with missing values dropped": 2}
    assert [(e.series, e.rows) for e in s.report.entries] == [("a", [1]), ("b", [3])]


def test_nan_interpolate_policy_is_linear_in_time_and_drops_ends():
    df = pd.DataFrame({"time": [0.0, 1.0, 4.0, 5.0, 6.0], "v": [np.nan, 10.0, np.nan, 50.0, np.nan], "w": [0, 1, 4, 5, 6.0]})
    s = IrregularSeries.from_frame(df, on_nan="interpolate")
    assert s.frame["time"].tolist() == [1.0, 4.0, 5.0]
    assert s.frame["v"].tolist() == [10.0, 40.0, 50.0]  # 10 + (4 - 1) / (5 - 1) * 40, not the midpoint 30
    assert s.report.by_reason() == {"missing values interpolated": 1, "rows with missing values at a series end dropped": 2}
    assert [e.rows for e in s.report.entries] == [[2], [0, 4]]


# ----------------------------------------------------------------- timestamps
def test_unparseable_timestamp_names_row():
    with pytest.raises(TimestampError, match="cannot parse timestamp 'yesterday'") as e:
        load(frame(time=[Z[0], "yesterday", Z[2], Z[3]]))
    assert (e.value.column, e.value.row) == ("time", 1)


def test_mixed_timezone_awareness_is_refused():
    with pytest.raises(TimestampError, match="mixes timestamps with and without a timezone") as e:
        load(frame(time=[Z[0], "2020-01-01T00:00:10", Z[2], Z[3]]))
    assert e.value.row == 1


def test_offsets_are_converted_to_utc_and_naive_times_are_reported():
    s = load(frame(time=["2020-01-01T02:00:00+02:00", "2020-01-01T00:00:10Z", Z[2], Z[3]]))
    assert s.frame["time"].iloc[0] == pd.Timestamp("2020-01-01T00:00:00Z") and len(s.report) == 0
    naive = [t.rstrip("Z") for t in Z]
    s = load(frame(time=naive))
    assert s.report.by_reason() == {"naive timestamps interpreted in timezone": 4}
    s = load(frame(time=naive), naive_timezone="Europe/Berlin")
    assert s.frame["time"].iloc[0] == pd.Timestamp("2019-12-31T23:00:00Z")
    with pytest.raises(TimestampError, match="no timezone"):
        load(frame(time=naive), naive_timezone=None)


def test_missing_or_infinite_time():
    with pytest.raises(TimestampError, match="missing timestamp") as e:
        load(frame(time=[Z[0], None, Z[2], Z[3]]))
    assert e.value.row == 1
    with pytest.raises(TimestampError, match="not finite"):
        load(frame(time=[0.0, np.inf, 0.0, 1.0]))


def test_duplicate_timestamp_error_names_series_and_both_rows():
    with pytest.raises(TimestampError, match=r"duplicate timestamp .*\(rows 2, 3\).*on_duplicate") as e:
        load(frame(time=[0.0, 1.0, 5.0, 5.0]))
    assert e.value.series == "b"


@pytest.mark.parametrize("policy, value, kept_row", [("first", 3.0, 2), ("last", 4.0, 3), ("mean", 3.5, 2)])
def test_duplicate_policies(policy, value, kept_row):
    s = load(frame(time=[0.0, 1.0, 5.0, 5.0]), on_duplicate=policy)
    assert len(s) == 3 and s.frame["v"].iloc[-1] == value and s.frame["_row"].iloc[-1] == kept_row
    assert s.report.by_reason() == {f"duplicate timestamps merged ({policy})": 1}
    assert s.report.entries[0].series == "b"


def test_unsorted_error_and_sort_policy():
    df = frame(time=[10.0, 0.0, 0.0, 5.0])
    with pytest.raises(TimestampError, match="time goes backwards.*on_unsorted='sort'") as e:
        load(df)
    assert (e.value.series, e.value.row) == ("a", 1)
    s = load(df, on_unsorted="sort")
    assert s.frame["v"].tolist() == [2.0, 1.0, 3.0, 4.0]
    assert s.report.by_reason() == {"rows out of time order, sorted": 1}
    assert s.report.entries[0].rows == [1]


def test_interleaved_series_are_grouped_not_refused():
    df = pd.DataFrame({"id": ["a", "b", "a", "b"], "time": [0.0, 0.0, 1.0, 1.0], "v": [1, 2, 3, 4]})
    s = load(df)
    assert s.frame["series"].tolist() == ["a", "a", "b", "b"] and len(s.report) == 0


# ----------------------------------------------------------------- too short, static, append
def test_series_too_short():
    s = load(frame())
    with pytest.raises(TooShortError, match=r"2 of 2 series have fewer than 5 rows.*has 2") as e:
        s.require_length(5, "window 4 + horizon 1")
    assert e.value.series == "a"
    s.require_length(2, "window 1 + horizon 1")  # long enough: no error


def test_static_covariate_must_be_constant():
    with pytest.raises(SchemaError, match="static covariate must be constant") as e:
        load(frame(size=[1, 2, 3, 3]), target_cols=["v"], static_cols=["size"])
    assert (e.value.column, e.value.series) == ("size", "a")


def test_append_refuses_overlapping_times():
    s = load(frame())
    new = load(frame(time=[20.0, 30.0, 10.0, 20.0]).assign(time=lambda d: pd.to_datetime(d["time"], unit="s", utc=True)))
    both = s.append(new)
    assert len(both) == 8 and both.frame.groupby("series")["time"].is_monotonic_increasing.all()
    with pytest.raises(TimestampError, match="already in the data"):
        both.append(new)
    with pytest.raises(SchemaError, match="expected"):
        s.append(IrregularSeries.from_frame(pd.DataFrame({"time": [0.0], "q": [1.0]})))


def test_split_counts_fractions_and_errors():
    s = IrregularSeries.from_arrays(np.arange(10.0), np.arange(10.0))
    tr, va, te = s.split(train=0.6, val=0.2)
    assert (len(tr), len(va), len(te)) == (6, 2, 2)
    tr, va, te = s.split(train=3, val=3)
    assert te.frame["y0"].tolist() == [6.0, 7.0, 8.0, 9.0]
    for bad in (-1, 1.5, True):
        with pytest.raises(ConfigError, match="split train"):
            s.split(train=bad)


def test_meta_and_row_numbers_travel_with_the_data():
    df = pd.DataFrame({"time": [0.0, 1.0, 2.0], "v": [1.0, np.nan, 3.0]})
    s = IrregularSeries.from_frame(df, on_nan="drop", row_numbers=[10, 20, 30], meta={"origin": (1, 2)})
    assert s.report.entries[0].rows == [20] and s.frame["_row"].tolist() == [10, 30]
    # the adapter's facts and how the data was read (meta["schema"]) travel with every part
    assert all(p.meta == {"origin": (1, 2), "schema": s.meta["schema"]} for p in s.split(train=1, val=1))
    assert s.meta["schema"]["time_col"] == "time" and s.meta["schema"]["policies"]["on_nan"] == "drop"
    with pytest.raises(ConfigError, match="row_numbers"):
        IrregularSeries.from_frame(df, row_numbers=[1, 2])


def test_repair_report_text_and_frame():
    r = RepairReport("f.csv")
    assert "nothing repaired" in str(r)
    r.add("ignored", 0)
    r.add("dropped", 2, series=np.int64(7), rows=list(range(30)), detail="why")
    assert r.total() == 2 and r.by_reason() == {"dropped": 2} and len(r) == 1
    text = str(r)
    assert "series 7: dropped: 2 (rows 0, 1," in text and ", ...)" in text and "— why" in text
    assert r.to_frame().loc[0, "count"] == 2


# ----------------------------------------------------------------- files
def test_csv_file_errors_name_the_file(tmp_path):
    cases = {
        "truncated_quote.csv": 'id,time,v\na,0,1\na,1,"3\n',
        "extra_fields.csv": "id,time,v\na,0,1\na,1,2,5,6\n",
        "empty.csv": "",
    }
    for name, text in cases.items():
        p = tmp_path / name
        p.write_text(text)
        with pytest.raises(DataError, match="cannot be read as CSV") as e:
            IrregularSeries.from_csv(p, id_col="id")
        assert e.value.file == str(p) and str(p) in str(e.value)
        assert e.value.__cause__ is None and e.value.__suppress_context__


def test_csv_truncated_last_line_and_wrong_types_give_file_and_line(tmp_path):
    p = tmp_path / "cut.csv"
    p.write_text("id,time,v\na,0,1\na,1,2\na,2\n")  # the last line lost its value
    with pytest.raises(MissingValueError) as e:
        IrregularSeries.from_csv(p, id_col="id")
    assert (e.value.file, e.value.column, e.value.row) == (str(p), "v", 4)
    q = tmp_path / "types.csv"
    q.write_text("id,time,v\na,0,1\na,1,abc\n")
    with pytest.raises(SchemaError, match=r"types.csv, column 'v', row 3: value 'abc' is not a number"):
        IrregularSeries.from_csv(q, id_col="id")
    r = tmp_path / "times.csv"
    r.write_text("time,v\n2020-01-01T00:00:00Z,1\n2020-13-45T00:00:00Z,2\n")
    with pytest.raises(TimestampError, match=r"times.csv, column 'time', row 3: cannot parse"):
        IrregularSeries.from_csv(r)
    b = tmp_path / "binary.csv"
    b.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DataError, match="binary.csv"):
        IrregularSeries.from_csv(b)
    with pytest.raises(DataError, match="file not found"):
        IrregularSeries.read(tmp_path / "nope.csv")


def test_parquet_round_trip(tmp_path):
    p = tmp_path / "d.parquet"
    pd.DataFrame({"time": [0.0, 1.5], "v": [1.0, 2.0]}).to_parquet(p)
    s = IrregularSeries.read(p)
    assert s.frame["v"].tolist() == [1.0, 2.0] and s.source == str(p)
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match="bad.parquet"):
        IrregularSeries.read(bad)


def test_seconds_back_to_times_keeps_unknown_times_unknown():
    s = load(frame())
    t = s.seconds_to_time(np.array([1577836800.0, np.nan]))
    assert t[0] == pd.Timestamp("2020-01-01T00:00:00Z") and pd.isna(t[1])
    assert IrregularSeries.from_arrays([0.0, 1.0], [1.0, 2.0]).seconds_to_time(np.array([0.5]))[0] == 0.5
