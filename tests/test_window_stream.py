"""Windows streamed from rows read in chunks equal the in-memory windows of the same file, with
one or two DataLoader workers; the rows held stay within their bound; ordering violations are
refused; a short fit through Lightning's Trainer on the streamed windows."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader

from tsgate.data.series import IrregularSeries
from tsgate.data.window_stream import CsvChunks, SeriesBlocks, SeriesChunks, WindowStream, stream_windows
from tsgate.data.windows import Windows, make_windows
from tsgate.exceptions import ConfigError, DataError
from tsgate.training.batch import windows_to_tensors
from tsgate.training.scaling import window_statistics
from tsgate.training.stream_data import StreamDataModule, StreamSettings, StreamWindowDataset, survey

FIELDS = ("x", "dt", "t", "mask", "static", "origin_time", "origin_row", "y", "target_time", "reveal_time")
OPTIONS = {"time_col": "time", "id_col": "id", "target_cols": ["y"], "covariate_cols": ["c"], "segment_col": "seg"}


def frame(n_series: int = 6, seed: int = 0, rows: tuple[int, int] = (20, 200)) -> pd.DataFrame:
    """Irregular series with segments and a covariate, written as a file sorted by time (the
    series interleave, as in an AIS file)."""
    rng = np.random.default_rng(seed)
    parts = []
    for s in range(n_series):
        n = int(rng.integers(*rows))
        t = np.round(np.cumsum(rng.exponential(1.0, n) + 0.01) + rng.uniform(0, 50), 3)
        seg = np.cumsum(rng.random(n) < 0.03)
        parts.append(pd.DataFrame({"id": f"v{s}", "time": t, "y": rng.normal(size=n), "c": rng.normal(size=n),
                                   "seg": seg}))
    return pd.concat(parts).sort_values("time", kind="stable").reset_index(drop=True)


def by_origin(w: Windows) -> dict[str, np.ndarray]:
    """The windows' arrays in one order (series id, origin row), with the ids."""
    ids = np.array([str(s) for s in w.inputs.ids])
    order = np.lexsort((w.origin_row, ids))
    return {"id": ids[order], **{f: getattr(w, f)[order] for f in FIELDS}}


def assert_same(a: Windows, b: Windows) -> None:
    assert len(a) == len(b) > 0
    x, y = by_origin(a), by_origin(b)
    for k in x:
        assert np.array_equal(x[k], y[k], equal_nan=x[k].dtype.kind == "f"), k


CASES = [
    ({"horizons": [1, 3]}),
    ({"horizons": ["2s", "5s"], "max_gap": "3s"}),
    ({"horizons": [2, 4], "min_history": 2}),
    ({"horizons": ["3s"], "min_history": 1, "targets": "optional"}),
]


@pytest.mark.parametrize("kw", CASES)
def test_csv_read_in_small_chunks_gives_the_in_memory_windows(tmp_path, kw):
    path = tmp_path / "rows.csv"
    frame().to_csv(path, index=False)
    ref = make_windows(IrregularSeries.from_csv(path, **OPTIONS), 6, **kw)
    source = CsvChunks(path, rows=7, **OPTIONS)  # every series crosses many chunk boundaries
    ws = WindowStream(source.layout, 6, kw["horizons"], **{k: v for k, v in kw.items() if k != "horizons"})
    got = Windows.concat(list(stream_windows(source, 6, kw["horizons"], stream=ws)))
    assert_same(got, ref)
    assert ws.stats == ref.stats
    assert ws.rows_held == 0 and ws.live_series == 0  # everything released at the end


def rows_of(batches) -> list[tuple]:
    """Each window of the batches as one tuple of its numbers (inputs, mask, targets)."""
    out = []
    for b in batches:
        flat = torch.cat([b[k].reshape(len(b["y"]), -1).double() for k in ("x", "dt", "t", "mask", "static", "y")], 1)
        out += [tuple(r) for r in flat.tolist()]
    return out


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("shuffle_buffer", [0, 64])
def test_dataloader_workers_produce_every_window_once(tmp_path, workers, shuffle_buffer):
    path = tmp_path / "rows.csv"
    frame(n_series=9).to_csv(path, index=False)
    ref = make_windows(IrregularSeries.from_csv(path, **OPTIONS), 6, [1, 3])
    want = sorted(rows_of([windows_to_tensors(ref)]))
    ds = StreamWindowDataset(CsvChunks(path, rows=11, **OPTIONS), StreamSettings(6, [1, 3]), batch_size=16,
                             shuffle_buffer=shuffle_buffer, seed=3)
    loader = DataLoader(ds, batch_size=None, num_workers=workers)
    batches = list(loader)
    got = rows_of(batches)
    assert len(got) == len(set(got)) == len(want)  # no duplicates, nothing lost
    assert sorted(got) == want
    short = sum(len(b["y"]) < 16 for b in batches)
    assert short <= max(1, workers)  # full batches but for each worker's last one
    if shuffle_buffer:  # seeded: the same order again; shuffled: not the stream order
        again = rows_of(DataLoader(StreamWindowDataset(ds.source, ds.settings, batch_size=16,
                                                       shuffle_buffer=shuffle_buffer, seed=3),
                                   batch_size=None, num_workers=workers))
        assert again == got
        plain = rows_of(DataLoader(StreamWindowDataset(ds.source, ds.settings, batch_size=16), batch_size=None,
                                   num_workers=workers))
        assert plain != got


def test_rows_held_stay_within_the_carry_bound():
    # 4 long series, 48,000 rows, read 100 rows at a time: the file is 480 chunks long
    rng = np.random.default_rng(1)
    n = 12_000
    parts = [pd.DataFrame({"id": s, "time": np.cumsum(rng.uniform(0.5, 1.5, n)), "y": rng.normal(size=n)})
             for s in range(4)]
    data = IrregularSeries.from_frame(pd.concat(parts), time_col="time", id_col="id", target_cols=["y"])
    window, horizons = 16, [1, 5]
    ws = WindowStream(SeriesChunks(data).layout, window, horizons)
    n_windows = sum(len(w) for w in stream_windows(SeriesChunks(data, rows=100), window, horizons, stream=ws))
    assert n_windows == len(make_windows(data, window, horizons))
    bound = data.n_series * (window + max(horizons))  # per live series: the window before the first
    assert 0 < ws.max_rows_held <= bound              # pending origin, and the pending origins
    assert ws.max_rows_held < len(data) / 100


def test_duration_horizons_hold_the_rows_within_the_horizon():
    rng = np.random.default_rng(2)
    n = 5_000
    t = np.cumsum(rng.uniform(0.9, 1.1, n))  # about one row a second
    data = IrregularSeries.from_arrays(t, rng.normal(size=n))
    ws = WindowStream(SeriesChunks(data).layout, 8, ["10s"])
    got = Windows.concat(list(stream_windows(SeriesChunks(data, rows=50), 8, ["10s"], stream=ws)))
    assert_same(got, make_windows(data, 8, ["10s"]))
    assert ws.max_rows_held <= 8 + int(10 / 0.9) + 1


def test_silent_series_are_released_after_evict_after():
    # series 0 reports for 100 s, falls silent, then starts a new segment; series 1 goes on
    t0 = np.arange(0.0, 100.0)
    t0b = np.arange(500.0, 600.0)
    t1 = np.arange(0.5, 600.5)
    df = pd.concat([
        pd.DataFrame({"id": 0, "time": np.r_[t0, t0b], "y": np.r_[t0, t0b] * 0.1, "seg": np.r_[np.zeros(100), np.ones(100)]}),
        pd.DataFrame({"id": 1, "time": t1, "y": np.sin(t1), "seg": 0}),
    ])
    data = IrregularSeries.from_frame(df, time_col="time", id_col="id", target_cols=["y"], segment_col="seg")
    ws = WindowStream(SeriesChunks(data).layout, 4, [2], evict_after=60.0)
    live = []
    parts = []
    for chunk in SeriesChunks(data, rows=20):
        w = ws.feed(chunk)
        live.append(ws.live_series)
        parts += [w] if w is not None else []
    parts += [ws.finish()]
    assert_same(Windows.concat(parts), make_windows(data, 4, [2]))
    assert min(live) == 1  # series 0 was released while silent
    # without a new segment, continuing the released series is refused
    df.loc[df["id"] == 0, "seg"] = 0
    same = IrregularSeries.from_frame(df, time_col="time", id_col="id", target_cols=["y"], segment_col="seg")
    with pytest.raises(DataError, match="series 0 continues segment 0.*evict_after"):
        list(stream_windows(SeriesChunks(same, rows=20), 4, [2], evict_after=60.0))


def test_series_without_windows_are_counted():
    df = frame(n_series=3)
    short = pd.DataFrame({"id": "tiny", "time": [10.0, 11.0], "y": [0.0, 1.0], "c": 0.0, "seg": 0})
    data = IrregularSeries.from_frame(pd.concat([df, short]).sort_values("time", kind="stable"), **OPTIONS)
    ref = make_windows(data, 6, [1])
    ws = WindowStream(SeriesChunks(data).layout, 6, [1])
    got = Windows.concat(list(stream_windows(SeriesChunks(data, rows=11), 6, [1], stream=ws)))
    assert_same(got, ref)
    assert ref.stats["series_without_windows"] == 1 and ws.stats == ref.stats


def test_evict_after_refuses_a_file_sorted_by_series():
    t = np.arange(300.0)
    df = pd.concat([pd.DataFrame({"id": s, "time": t, "y": np.sin(t + s)}) for s in (0, 1)])
    data = IrregularSeries.from_frame(df, time_col="time", id_col="id", target_cols=["y"])
    # the rows of series 0, then those of series 1, 50 at a time (a file sorted by series)
    chunks = [list(data.take(np.arange(a, a + 50)).groups()) for a in range(0, 600, 50)]

    class BySeries:
        layout = SeriesChunks(data).layout
        source = "by_series.csv"

        def __iter__(self):
            return iter(chunks)

    with pytest.raises(ConfigError, match=r"by_series.csv.*evict_after needs rows sorted by time: series 1 has a row at 0 s"):
        list(stream_windows(BySeries(), 4, [2], evict_after=60.0))
    # without evict_after the same file streams the in-memory windows
    assert_same(Windows.concat(list(stream_windows(BySeries(), 4, [2]))), make_windows(data, 4, [2]))


def test_a_malformed_csv_row_is_a_data_error_naming_the_file(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("id,time,y\n" + "".join(f"a,{i},{i}\n" for i in range(10)) + "a,10,10,99\n")
    source = CsvChunks(path, rows=4, time_col="time", id_col="id", target_cols=["y"])
    with pytest.raises(DataError, match=r"bad.csv.*cannot be read as CSV.*line 12"):
        list(stream_windows(source, 2, [1]))


def two_days(tmp_path, n_series: int) -> tuple[pd.DataFrame, float, list]:
    """``frame(n_series)`` written as two day files split at its median time."""
    df = frame(n_series=n_series)
    cut = float(df["time"].median())
    paths = [tmp_path / "day1.csv", tmp_path / "day2.csv"]
    df[df["time"] < cut].to_csv(paths[0], index=False)
    df[df["time"] >= cut].to_csv(paths[1], index=False)
    return df, cut, paths


def test_blocks_out_of_time_order_are_refused_naming_the_block(tmp_path):
    _, _, paths = two_days(tmp_path, 2)
    opts = {**OPTIONS, "segment_col": None}
    blocks = SeriesBlocks(lambda p: IrregularSeries.from_csv(p, **opts), paths[::-1], rows=9)
    with pytest.raises(DataError, match=r"day1.csv.*not after its last row in the earlier blocks.*give the blocks in time order"):
        list(stream_windows(blocks, 5, [1]))


def test_blocks_of_validated_series_stream_as_separate_segments(tmp_path):
    df, cut, paths = two_days(tmp_path, 4)
    opts = {**OPTIONS, "segment_col": None}
    # in memory: the same rows, a new segment where the second block starts
    whole = IrregularSeries.from_frame(df.assign(seg=(df["time"] >= cut).astype(int)), **OPTIONS)
    ref = make_windows(whole, 5, [1, 2])
    blocks = SeriesBlocks(lambda p: IrregularSeries.from_csv(p, **opts), paths, rows=9)
    assert blocks.layout.targets == ("y",) and blocks.layout.covariates == ("c",)
    for _ in range(2):  # read again from the start
        assert_same(Windows.concat(list(stream_windows(blocks, 5, [1, 2]))), ref)
    other = SeriesBlocks(lambda p: IrregularSeries.from_csv(p, **{**opts, "covariate_cols": []}) if p == paths[1]
                         else IrregularSeries.from_csv(p, **opts), paths)
    with pytest.raises(DataError, match="day2.csv.*the same targets, covariates"):
        list(stream_windows(other, 5, [1]))
    with pytest.raises(ConfigError, match="items is empty"):
        SeriesBlocks(IrregularSeries.from_csv, [])


def test_rows_out_of_time_order_across_chunks_are_refused(tmp_path):
    path = tmp_path / "unsorted.csv"
    pd.DataFrame({"id": ["a"] * 6 + ["b"] * 2 + ["a"],
                  "time": [1, 2, 3, 4, 5, 6, 1, 2, 3.5], "y": np.arange(9.0)}).to_csv(path, index=False)
    source = CsvChunks(path, rows=4, time_col="time", id_col="id", target_cols=["y"])
    with pytest.raises(DataError, match=r"unsorted.csv.*series 'a' are not in time order.*3\.5 s.*6 s.*sort the file"):
        list(stream_windows(source, 2, [1]))
    pd.DataFrame({"id": ["a"] * 6, "time": [1, 2, 3, 4, 4, 5], "y": np.arange(6.0)}).to_csv(path, index=False)
    source = CsvChunks(path, rows=4, time_col="time", id_col="id", target_cols=["y"])
    with pytest.raises(DataError, match=r"series 'a' has a second row at 4 s in a later chunk"):
        list(stream_windows(source, 2, [1]))


def test_stream_arguments_are_checked(tmp_path):
    data = IrregularSeries.from_arrays(np.arange(10.0), np.arange(10.0))
    with pytest.raises(ConfigError, match="rows must be"):
        SeriesChunks(data, rows=0)
    with pytest.raises(DataError, match="file not found"):
        CsvChunks(tmp_path / "none.csv")
    with pytest.raises(ConfigError, match="evict_after"):
        WindowStream(SeriesChunks(data).layout, 3, [1], evict_after=-1)
    with pytest.raises(ConfigError, match="shuffle_buffer"):
        StreamWindowDataset(SeriesChunks(data), StreamSettings(3, [1]), shuffle_buffer=-2)
    with pytest.raises(ConfigError, match="validate=True needs cuts"):
        StreamDataModule(SeriesChunks(data), StreamSettings(3, [1]), validate=True)


SMALL = settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


@SMALL
@given(seed=st.integers(0, 10_000), n_series=st.integers(1, 5), rows=st.integers(1, 40),
       window=st.integers(1, 6), step=st.integers(1, 4), duration=st.booleans())
def test_any_chunk_size_gives_the_in_memory_windows(seed, n_series, rows, window, step, duration):
    data = IrregularSeries.from_frame(frame(n_series, seed, rows=(2, 40)), **OPTIONS)
    horizons = [f"{step}s"] if duration else [step]
    ref = make_windows(data, window, horizons)
    got = list(stream_windows(SeriesChunks(data, rows=rows), window, horizons))
    if len(ref) == 0:
        assert sum(len(w) for w in got) == 0
    else:
        assert_same(Windows.concat(got), ref)


def test_survey_sample_is_bounded_and_complete_when_small():
    data = IrregularSeries.from_frame(frame(), **OPTIONS)
    ref = make_windows(data, 6, [1, 3])
    st_ = StreamSettings(6, [1, 3])
    full = survey(SeriesChunks(data, rows=13), st_, sample=100_000)
    assert full.complete and full.n_windows == len(ref) == len(full.sample)
    a, b = window_statistics(full.sample), window_statistics(ref)
    assert all(np.array_equal(a[k], b[k]) for k in a)  # the in-memory scales, exactly
    part = survey(SeriesChunks(data, rows=13), st_, sample=100, seed=1)
    assert not part.complete and len(part.sample) == 100 and part.n_windows == len(ref)
    assert sum(part.count.values()) == len(ref)


@pytest.fixture
def data() -> IrregularSeries:
    """Four irregular noisy sines of 250 rows (about one a second)."""
    rng = np.random.default_rng(0)
    parts = []
    for s in range(4):
        t = np.cumsum(rng.exponential(1.0, 250)) + rng.uniform(0, 30)
        parts.append(pd.DataFrame({"id": s, "time": t, "y": np.sin(t / 5) + 0.05 * rng.normal(size=250)}))
    return IrregularSeries.from_frame(pd.concat(parts), time_col="time", id_col="id", target_cols=["y"])


def test_gated_estimator_fits_on_streamed_windows_through_the_trainer(data):
    from tsgate.training.gated import GatedLSTMForecaster

    kw = {"cell": "lstm", "hidden_size": 8, "window": 8, "horizons": [1, 3], "max_epochs": 2, "batch_size": 32}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mem = GatedLSTMForecaster(**kw).fit(data)
        streamed = GatedLSTMForecaster(**kw, data_module="stream", stream_options={"rows": 40, "shuffle_buffer": 256}).fit(data)
    # the split and the scales are the in-memory ones; each epoch saw every training window
    assert streamed.stream_report_["sample_complete"]
    assert (streamed.n_train_windows_, streamed.n_val_windows_) == (mem.n_train_windows_, mem.n_val_windows_)
    assert streamed.statistics_ == mem.statistics_ and streamed.net_kwargs_ == mem.net_kwargs_
    assert streamed.n_epochs_ == 2 and streamed.n_steps_ == mem.n_steps_
    assert np.isfinite(streamed.best_val_loss_) and streamed.best_val_loss_ < 1.0
    f = streamed.forecast(data).to_frame()
    assert np.isfinite(f["y"]).all() and f["y"].std() > 0


def test_a_partial_sample_keeps_the_in_memory_guards(data, monkeypatch):
    import tsgate.training.guards as guards
    from tsgate.exceptions import FewWindowsWarning
    from tsgate.training.gated import GatedLSTMForecaster

    kw = {"cell": "lstm", "hidden_size": 4, "window": 8, "horizons": [1, 3], "max_epochs": 1, "batch_size": 64}
    stream = {"data_module": "stream", "stream_options": {"rows": 100, "sample": 200}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mem = GatedLSTMForecaster(**kw).fit(data)
    # ~970 windows, a sample of 200: the split is estimated; held to a minimum of 1000 windows
    real = guards.check_counts
    monkeypatch.setattr(guards, "check_counts", lambda *a, **k: real(*a, **{**k, "min_windows": 1000}))
    est = GatedLSTMForecaster(**kw, **stream)
    with pytest.warns(FewWindowsWarning, match=r"trained on fewer than 1000 windows for horizon\(s\) 1: \d+, 3: \d+"):
        est.fit(data)
    rep = est.split_report_
    assert not est.stream_report_["sample_complete"] and rep["estimated_from_sample"] == 200
    assert abs(rep["train"] - mem.n_train_windows_) <= 0.1 * mem.n_train_windows_
    assert abs(rep["validation"] - mem.n_val_windows_) <= 0.25 * mem.n_val_windows_
    assert set(rep["per_horizon"]) == {"1", "3"} and rep["series"] == 4
    assert [w["error"] for w in est.fit_warnings_] == ["FewWindowsWarning"]
    assert est.validation_cuts_ is not None and not est.in_sample_bands_
    # a cut that would leave too few windows training: no validation, as in memory
    monkeypatch.setattr(guards, "check_counts", real)
    few = GatedLSTMForecaster(**kw, **stream, val_fraction=0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        few.fit(data)
    assert "validation_skipped" in few.split_report_ and few.n_val_windows_ == 0
    assert few.stream_report_["validation"] == 0 and few.validation_cuts_ is None and few.in_sample_bands_


def test_stream_options_are_validated():
    from tsgate.training.gated import GatedLSTMForecaster

    data = IrregularSeries.from_arrays(np.arange(50.0), np.sin(np.arange(50.0)))
    with pytest.raises(ConfigError, match=r"unknown stream_options key\(s\) \['chunk'\]"):
        GatedLSTMForecaster(data_module="stream", stream_options={"chunk": 3}).fit(data)
    with pytest.raises(ConfigError, match="data_module='stream' trains in one process"):
        GatedLSTMForecaster(data_module="stream", strategy="ddp", devices=2).fit(data)
    with pytest.raises(ConfigError, match="data_module"):
        GatedLSTMForecaster(data_module="disk").fit(data)


@pytest.mark.slow
def test_streamed_fit_with_two_dataloader_workers(data):
    from tsgate.training.gated import GatedLSTMForecaster

    kw = {"cell": "lstm", "hidden_size": 8, "window": 8, "horizons": [1, 3], "max_epochs": 2, "batch_size": 32,
          "data_module": "stream", "stream_options": {"rows": 40}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = GatedLSTMForecaster(**kw).fit(data)
        two = GatedLSTMForecaster(**kw, num_workers=2).fit(data)
    # each worker ends its epoch with its own short batch: at most one more step per epoch
    assert one.n_steps_ <= two.n_steps_ <= one.n_steps_ + 2
    assert two.n_epochs_ == 2 and np.isfinite(two.best_val_loss_) and two.best_val_loss_ < 1.0
    assert two.statistics_ == one.statistics_
