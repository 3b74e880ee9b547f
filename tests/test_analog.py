"""PretrainedAnalogForecaster: causal, leave-one-sequence-out, untuned on other recordings, leads linear."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tsgate.data.series import IrregularSeries
from tsgate.exceptions import ConfigError
from tsgate.online.analog import PretrainedAnalogForecaster

HS = [f"{100 * (i + 1)}ms" for i in range(0, 21, 4)]  # 0.1, 0.5, ... 2.1 s


def _breathing(seconds: float = 150.0, hz: float = 25.0, jitter: float = 0.2, seed: int = 0,
               coords: tuple[str, ...] = ("x", "y", "z")) -> IrregularSeries:
    """One marker breathing (period drifting 4-6 s, amplitude 2-8 mm, noise 0.1 mm), jittered clock."""
    rng = np.random.default_rng(seed)
    n = int(seconds * hz)
    t = np.cumsum(rng.uniform(1 - jitter, 1 + jitter, n) / hz)
    phase = 2 * np.pi * np.cumsum(np.r_[0, np.diff(t)] / (5 + np.sin(t / 20)))
    base = np.sin(phase) ** 3 + 0.3 * np.sin(2 * phase)
    amp = (2, 8, 4)
    df = pd.DataFrame({"time": t, **{c: amp[i] * base + 0.02 * t * i + rng.normal(0, 0.1, n) for i, c in enumerate(coords)}})
    return IrregularSeries.from_frame(df, target_cols=list(coords))


def _nrmse(result, model):
    return float(result.summary("nrmse").loc[model, "mean"])


def test_forecasts_before_a_change_do_not_move():
    """Changing one observation (value or time) changes no forecast issued before it, during streaming."""
    d = _breathing(90.0, hz=10.0)
    rows = np.arange(len(d.frame))
    train, rest = d.take(rows[:300]), d.take(rows[300:])

    def stream(data_rest):
        m = PretrainedAnalogForecaster(horizons=HS, network=None).fit(train)
        return m.forecast_and_learn(data_rest).to_frame()

    base = stream(rest)
    t_cut = float(rest.time_seconds()[400])
    for change in ("value", "time"):
        f = rest.frame.copy()
        if change == "value":
            f.loc[f.index[400], "x"] += 5.0
        else:
            f.loc[f.index[400], "time"] = f["time"].iloc[400] - 0.03
        moved = stream(IrregularSeries.from_frame(f, target_cols=["x", "y", "z"]))
        before = base["origin_time"].to_numpy(float) < t_cut - 0.05
        assert before.sum() > 1000
        a = base[before][["x", "y", "z"]].to_numpy()
        b = moved[moved["origin_time"].to_numpy(float) < t_cut - 0.05][["x", "y", "z"]].to_numpy()
        np.testing.assert_array_equal(a, b)
        later = base[~before][["x", "y", "z"]].to_numpy()
        later_moved = moved[moved["origin_time"].to_numpy(float) >= t_cut - 0.05][["x", "y", "z"]].to_numpy()
        assert not np.allclose(later, later_moved)


def test_bundled_network_is_never_used_on_its_training_sequence():
    from tsgate.datasets import load_dataset

    d = load_dataset("extmarker-10hz-seq3")
    rows = np.arange(len(d.frame))
    m = PretrainedAnalogForecaster(horizons=HS).fit(d.take(rows[:300]))
    assert m.network_key_ == "extmarker/without-seq3"
    assert not any("seq3" in name for name in m.network_.trained_on)
    # another rate, a cut shifted by a constant: still recognised as sequence 2
    s30 = load_dataset("extmarker-30hz-seq2")
    f = s30.frame.iloc[1000:2500].copy()
    f[list(s30.targets)] += 3.0
    cut = IrregularSeries.from_frame(f, target_cols=list(s30.targets))
    assert PretrainedAnalogForecaster(horizons=HS).fit(cut).network_key_ == "extmarker/without-seq2"
    with pytest.raises(ConfigError, match="trained on"):
        PretrainedAnalogForecaster(horizons=HS, network="extmarker-without-seq5").fit(cut)


def test_untuned_on_another_recording_single_marker_irregular_clock():
    """25 Hz jittered clock, one marker, data it never saw: the 'all' network, and a clear lead
    over persistence and the online linear model."""
    from tsgate.baselines import PersistenceForecaster
    from tsgate.evaluation.backtest import backtest
    from tsgate.online.estimators import OnlineLinearForecaster

    d = _breathing(150.0, hz=25.0, seed=1)
    models = {"analog": PretrainedAnalogForecaster(), "persistence": PersistenceForecaster(),
              "rls": OnlineLinearForecaster(method="rls", shl=40, lag_step=3, level=False, use_dt=False, ridge=1e3)}
    r = backtest(models, d, horizons=HS, train=750, val=750, refit="online", progress=False)
    assert r.failures.empty
    assert _nrmse(r, "analog") < 0.6 * _nrmse(r, "persistence")
    assert _nrmse(r, "analog") < _nrmse(r, "rls")
    m = PretrainedAnalogForecaster(horizons=HS).fit(d)
    assert m.network_key_ == "extmarker/all"
    diag = next(iter(m.diagnostics().values()))
    assert diag["learned"] > 0 and diag["refused"] == 0 and diag["without_analogs"] < diag["steps"]


def test_warns_when_the_analog_library_never_fills():
    d = _breathing(8.0, hz=10.0)
    m = PretrainedAnalogForecaster(horizons=HS, network=None).fit(d)
    assert any("never filled" in w["message"] for w in m.fit_warnings_)
    f = m.forecast(d).values
    assert np.isfinite(f).all()


@pytest.mark.slow
def test_leads_the_linear_models_on_a_bundled_sequence():
    """ExtMarker sequence 5 at 10 Hz, published split, causal: below LinearAR and online ridge."""
    from tsgate.baselines import LinearARForecaster, PersistenceForecaster
    from tsgate.datasets import load_dataset
    from tsgate.evaluation.backtest import backtest
    from tsgate.online.estimators import OnlineLinearForecaster

    d = load_dataset("extmarker-10hz-seq5")
    hs = [f"{100 * (i + 1)}ms" for i in range(21)]
    models = {"analog": PretrainedAnalogForecaster(), "linear": LinearARForecaster(), "persistence": PersistenceForecaster(),
              "rls": OnlineLinearForecaster(method="rls", shl=51, level=False, use_dt=False, ridge=1e4)}
    r = backtest(models, d, horizons=hs, train=300, val=300, refit="online", progress=False)
    a = _nrmse(r, "analog")
    assert a < 0.9 * min(_nrmse(r, "linear"), _nrmse(r, "rls"))
    assert a < 0.6 * _nrmse(r, "persistence")
