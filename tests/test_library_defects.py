"""Defects of the library found while restructuring it, one test each (each failed before its fix)."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest

from tsgate import IrregularSeries
from tsgate.data.windows import make_windows
from tsgate.exceptions import (
    ConfigError,
    OnlineUpdateError,
    SchemaError,
    TimestampError,
    TooShortError,
)


def _frame(n: int = 60, ids=("a", "b"), seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    for i, sid in enumerate(ids):
        t = np.cumsum(rng.uniform(0.08, 0.14, n))
        parts.append(pd.DataFrame({"time": t, "series": sid, "y": np.sin(t + i) + rng.normal(0, 0.05, n)}))
    return pd.concat(parts, ignore_index=True)


# ------------------------------------------------------------------ data layer
@pytest.mark.parametrize(
    ("column", "value", "error"),
    [("y", "abc", SchemaError), ("time", "not a time", TimestampError), ("time", None, TimestampError),
     ("series", None, SchemaError)],
)
def test_errors_name_the_file_line_given_in_row_numbers(column, value, error):
    """An adapter that dropped rows passes each row's file line; every error must name that line."""
    times = ["2020-01-01T00:00:00Z", "2020-01-01T00:00:01Z", "2020-01-01T00:00:02Z"]
    df = pd.DataFrame({"series": ["a", "a", "a"], "time": times, "y": ["1.0", "2.0", "3.0"]})
    df[column] = df[column].astype(object)
    df.loc[1, column] = value
    with pytest.raises(error) as e:
        IrregularSeries.from_frame(df, id_col="series", target_cols=["y"], row_numbers=[10, 20, 30], first_row=2)
    assert e.value.row == 20


def test_require_length_refuses_one_short_series_among_long_ones():
    df = pd.concat([_frame(40, ("long",)), _frame(3, ("short",))], ignore_index=True)
    s = IrregularSeries.from_frame(df, id_col="series", target_cols=["y"])
    with pytest.raises(TooShortError, match="1 of 2 series have fewer than 10 rows") as e:
        s.require_length(10, "window 9 + horizon 1")
    assert e.value.series == "short"


def test_make_windows_has_no_unused_min_origin_time_argument():
    assert "min_origin_time" not in inspect.signature(make_windows).parameters
    s = IrregularSeries.from_frame(_frame(10, ("a",)), id_col="series")
    with pytest.raises(TypeError):
        make_windows(s, 2, [1], min_origin_time={"a": 0.5})


# ------------------------------------------------------------------ online engines
def test_the_dtype_name_float_is_float64_as_in_numpy():
    from tsgate.online import NLMS, OnlineLearner

    assert OnlineLearner("rnn", 2, 3, 1, dtype="float").dtype == np.dtype("float") == np.float64
    assert NLMS(2, 1, dtype="float").dtype == np.float64
    assert OnlineLearner("rnn", 2, 3, 1, dtype="float32").dtype == np.float32


def test_a_new_series_in_a_stream_model_does_not_start_from_another_series_weights():
    """A series seen first in ``update`` starts from a fresh engine, whichever series came first."""
    from tsgate import OnlineRNNForecaster

    a, c = _frame(60, ("a",), seed=1), _frame(60, ("c",), seed=2)
    new = IrregularSeries.from_frame(_frame(30, ("b",), seed=3), id_col="series")
    out = []
    for first in ([a, c], [c, a]):
        m = OnlineRNNForecaster(hidden_size=8, shl=4, horizons=[1, 2])
        m.fit(IrregularSeries.from_frame(pd.concat(first, ignore_index=True), id_col="series"))
        out.append(m.update(new))
    np.testing.assert_allclose(out[0]["y"], out[1]["y"], rtol=0, atol=1e-9)


def test_online_update_error_when_every_update_of_a_call_is_refused(monkeypatch):
    """``OnlineUpdateError`` (exported, handled by the CLI) is raised, and the model is restored."""
    from tsgate import OnlineRNNForecaster
    from tsgate.online.learner import OnlineLearner

    s = IrregularSeries.from_frame(_frame(80, ("a",)), id_col="series")
    first, _, rest = s.split(50)
    m = OnlineRNNForecaster(hidden_size=8, shl=4, horizons=[1, 2]).fit(first)
    before = {k: v.copy() for k, v in m.engines_["a"].state_dict_arrays().items()}
    last, hist = dict(m.last_time_), len(m.history_)
    monkeypatch.setattr(OnlineLearner, "_compute_grad", lambda self: float("nan"))
    with pytest.warns(RuntimeWarning), pytest.raises(OnlineUpdateError, match="every online update"):
        m.update(rest)
    after = m.engines_["a"].state_dict_arrays()
    assert all(np.array_equal(before[k], after[k]) for k in before if k != "n_refused")
    assert m.last_time_ == last and len(m.history_) == hist
    monkeypatch.undo()
    assert len(m.update(rest)) == 2 * len(rest)  # the same rows are still new to the model


# ------------------------------------------------------------------ gated estimator
def _gated(**kw):
    from tsgate import GatedLSTMForecaster

    return GatedLSTMForecaster(cell="lstm", hidden_size=4, window=4, horizons=[1], max_epochs=1, batch_size=64, **kw)


def test_fitting_writes_no_logs_into_the_working_directory_by_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = IrregularSeries.from_frame(_frame(60, ("a",)), id_col="series")
    _gated().fit(s)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ConfigError, match="log_dir"):
        _gated(logger="csv").fit(s)
    m = _gated(logger="csv", log_dir=str(tmp_path / "logs")).fit(s)
    assert m.log_dir_ is not None and (tmp_path / "logs").is_dir() and [p.name for p in tmp_path.iterdir()] == ["logs"]


def test_online_names_one_algorithm_each():
    """``online="tbptt"`` is the streaming truncated BPTT of the online RNN; the gated model's
    window gradient is ``online="window"``."""
    from tsgate import GatedLSTMForecaster, OnlineRNNForecaster

    s = IrregularSeries.from_frame(_frame(60, ("a",)), id_col="series")
    with pytest.raises(ConfigError, match=r"'online' parameter of GatedLSTMForecaster must be one of \['window', 'none'\]"):
        _gated(online="tbptt").fit(s)
    assert GatedLSTMForecaster().online == "window"
    assert OnlineRNNForecaster(online="tbptt", hidden_size=4, shl=3).fit(s).engines_["a"].algorithm == "tbptt"
