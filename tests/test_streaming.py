"""model.stream: one observation at a time, incrementally, with the forecasts of update."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

import tsgate
from tsgate import DataError, IrregularSeries

KEYS = ["series", "origin_time", "horizon"]


def segmented(make_frame, datetime: bool = False) -> IrregularSeries:
    """Two series with a segment change in the part that is streamed."""
    df = make_frame(n=260)
    df["seg"] = (df.groupby("series").cumcount() >= 220).astype(int)
    if datetime:
        df["time"] = pd.Timestamp("2024-05-01", tz="UTC") + pd.to_timedelta(df["time"], unit="s")
    return IrregularSeries.from_frame(df, time_col="time", id_col="series", segment_col="seg")


def stream_rows(data: IrregularSeries) -> pd.DataFrame:
    """The rows as a real-time feed delivers them: in time order across series."""
    return data.to_frame().sort_values(["time", "series"], kind="stable").reset_index(drop=True)


def stream_frame(steps) -> pd.DataFrame:
    return pd.DataFrame([r for s in steps for r in s.rows()])


MODELS = {
    "persistence": tsgate.PersistenceForecaster(horizons=["300ms", "1s"]),
    "linear-gap": tsgate.LinearARForecaster(window=4, horizons=["300ms", "1s"], max_gap="0.125s", alpha=0.1),
    "dead-reckoning": tsgate.DeadReckoningForecaster(method="two_points", position_cols=["y", "z"], horizons=[2]),
    "rls-steps": tsgate.OnlineLinearForecaster(shl=4, horizons=[1, 3]),
    "rnn-durations": tsgate.OnlineRNNForecaster(hidden_size=6, shl=4, horizons=["300ms", "1s"], max_gap="0.13s"),
    "gated": tsgate.GatedLSTMForecaster(hidden_size=6, window=5, horizons=[1, 3], max_epochs=1, batch_size=64),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_stream_gives_the_forecasts_bands_and_state_of_update(name, make_frame):
    data = segmented(make_frame)
    first, _, rest = data.split(train=120)
    a, b = clone(MODELS[name]).fit(first), clone(MODELS[name]).fit(first)
    batch = a.update(rest, level=[80, 95])
    live = stream_frame(b.stream(stream_rows(rest), level=[80, 95]))
    assert len(live) == len(batch) > 0
    m = batch.merge(live, on=KEYS, suffixes=("", "_live"))
    assert len(m) == len(batch)
    for c in batch.columns.drop(KEYS + ["target_time"]):
        np.testing.assert_allclose(m[f"{c}_live"], m[c], rtol=1e-12, atol=1e-12, err_msg=c)
    # the models end in the same state: same forecasts, same bands, same recent rows
    pd.testing.assert_frame_equal(a.predict(rest, level=[90]), b.predict(rest, level=[90]), rtol=1e-12)
    assert a.last_time_ == b.last_time_
    pd.testing.assert_frame_equal(a.history_.frame.drop(columns="_row"), b.history_.frame.drop(columns="_row"))


def test_a_stream_saved_midway_continues_exactly(tmp_path, make_frame):
    data = segmented(make_frame, datetime=True)
    first, _, rest = data.split(train=120)
    rows = stream_rows(rest)
    whole = clone(MODELS["rnn-durations"]).fit(first)
    one = stream_frame(whole.stream(rows, level=[90]))
    half = clone(MODELS["rnn-durations"]).fit(first)
    part1 = stream_frame(half.stream(rows.iloc[:150], level=[90]))
    half.save(tmp_path / "m")
    resumed = tsgate.load(tmp_path / "m")
    # the resumed stream is given the whole feed again and skips what the model has seen
    part2 = stream_frame(resumed.stream(rows, level=[90], skip_seen=True))
    both = pd.concat([part1, part2], ignore_index=True)
    pd.testing.assert_frame_equal(both, one)


@pytest.mark.parametrize("name", ["rls-steps", "rnn-durations"])
def test_forecast_then_learn_is_push_and_a_pending_learn_is_never_lost(name, make_frame):
    data = segmented(make_frame)
    first, _, rest = data.split(train=120)
    rows = stream_rows(rest)
    a, b = clone(MODELS[name]).fit(first), clone(MODELS[name]).fit(first)
    cols = [*a.targets_, *a.covariates_]
    pushed, split = [], []
    with a.open_stream(level=[90]) as pa, b.open_stream(level=[90]) as pb:
        for i, row in enumerate(rows.itertuples(index=False)):
            r = row._asdict()
            values = [r[c] for c in cols]
            pushed.append(pa.push(r["series"], r["time"], values))
            split.append(pb.forecast(r["series"], r["time"], values))
            if i % 3 and i < len(rows) - 1:  # every third (and the last) left for later to learn
                split[-1].learned = pb.learn()
        assert pb._todo is not None  # the last one waits for the end of the stream
    assert pa.n_learned == pb.n_learned > 0
    learned = [p.learned for p in pushed]
    assert sum(learned) == pa.n_learned
    for i, (p, q) in enumerate(zip(pushed, split)):
        if p.values is None:
            assert q.values is None
            continue
        np.testing.assert_allclose(q.values, p.values, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(q.halfwidth, p.halfwidth, rtol=1e-12, atol=1e-12)
        if i % 3 and i < len(rows) - 1:
            assert q.learned == p.learned
    # the model learned everything, including the observation whose learning was pending
    pd.testing.assert_frame_equal(a.predict(rest, level=[90]), b.predict(rest, level=[90]), rtol=1e-12)
    assert a.last_time_ == b.last_time_


def test_rows_already_seen_are_refused_or_skipped(make_frame):
    data = segmented(make_frame)
    first, _, rest = data.split(train=120)
    est = tsgate.PersistenceForecaster(horizons=[1]).fit(first)
    old = stream_rows(first).tail(3)
    with pytest.raises(DataError, match="not later than"):
        list(est.stream(old))
    with est.open_stream(skip_seen=True) as live:
        assert all(live.push_row(r) is None for r in old.to_dict("records"))
        assert live.n_skipped == 3


def test_stream_rows_are_the_predict_frame(make_frame):
    data = segmented(make_frame, datetime=True)
    first, _, rest = data.split(train=120)
    est = tsgate.PersistenceForecaster(horizons=["1s"]).fit(first)
    step = next(iter(est.stream(stream_rows(rest).head(1), level=90)))
    row = step.rows()[0]
    assert list(row) == ["series", "origin_time", "horizon", "target_time", "y", "z",
                         "y_lower_90", "y_upper_90", "z_lower_90", "z_upper_90"]
    assert row["target_time"] - row["origin_time"] == pd.Timedelta("1s")
    assert row["y_lower_90"] < row["y"] < row["y_upper_90"]


def test_a_row_without_series_belongs_to_the_models_only_series(make_frame):
    df = make_frame(n=200, n_series=1)
    data = IrregularSeries.from_frame(df, time_col="time", id_col="series")
    first, _, rest = data.split(train=100)
    est = tsgate.PersistenceForecaster(horizons=[1]).fit(first)
    steps = list(est.stream(rest.to_frame()[["time", "y", "z"]]))
    assert {s.series for s in steps} == {"s0"} and len(steps) == len(rest)
