"""The gated model's bands calibrate on the origins its fit held out, never on its training windows."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import tsgate
import tsgate.estimators.window as window_mod
from tsgate import GatedLSTMForecaster, IrregularSeries
from tsgate.exceptions import FewWindowsWarning


def two_segments() -> IrregularSeries:
    """One series: a 40-row segment, a 960 s gap, then a 200-row segment (one row a second)."""
    t = np.r_[np.arange(40.0), 1000.0 + np.arange(200.0)]
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"series": "a", "time": t, "y": np.sin(t / 5) + rng.normal(0, 0.1, len(t))})
    return IrregularSeries.from_frame(frame, time_col="time", id_col="series", target_cols=["y"])


def fit(monkeypatch, **kw) -> tuple[GatedLSTMForecaster, list[np.ndarray]]:
    seen: list[np.ndarray] = []
    real = window_mod.calibration_pairs

    def spy(values, w, mask):
        seen.append(w.origin_time[mask.any(axis=1)])
        return real(values, w, mask)

    monkeypatch.setattr(window_mod, "calibration_pairs", spy)
    est = GatedLSTMForecaster(horizons=[1, 60], window=4, max_gap=100, max_epochs=1, hidden_size=4, seed=0, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(two_segments())
    return est, seen


def test_calibration_pairs_are_the_validation_windows_never_training_ones(monkeypatch):
    est, seen = fit(monkeypatch)
    assert est.n_val_windows_ == 28
    cut = est.validation_cuts_["a"]
    s = two_segments()
    w = est._windows(s, "all", targets="required")
    train_origins = w.origin_time[w.origin_time <= cut]
    assert len(train_origins) >= est.n_train_windows_  # (a window purged of every target does not train)
    cal = seen[0]
    assert len(cal) and cal.min() > cut  # no training origin calibrates
    assert not np.isin(cal, train_origins).any()
    # the 60 s horizon: exactly the validation windows; 1 s: those plus the held-out origins
    # whose 60 s target is unknown (never training windows either)
    n = est.calibrator_.n_calibration
    assert int(n[1]) == est.n_val_windows_
    assert est.n_val_windows_ <= int(n[0]) <= int((s.time_seconds() > cut).sum())
    assert not est.in_sample_bands_


def test_without_validation_the_bands_are_flagged_in_sample(monkeypatch, tmp_path):
    est, _ = fit(monkeypatch, val_fraction=0.0)
    assert est.validation_cuts_ is None and est.in_sample_bands_
    assert "calibrated on windows it trained on" in est.calibration_warning_
    with pytest.warns(FewWindowsWarning, match="trained on"):
        est.forecast(two_segments(), level=90)
    # a loaded model keeps the warning (derived from what the file holds)
    est.save(tmp_path / "m")
    loaded = tsgate.load(tmp_path / "m")
    with pytest.warns(FewWindowsWarning, match="calibrated on windows it trained on"):
        loaded.forecast(two_segments(), level=90)


def test_streamed_fit_calibrates_on_the_same_pairs_without_building_every_window(monkeypatch):
    import tsgate.data.windows as windows_mod

    rng = np.random.default_rng(1)
    parts = []
    for s in range(3):
        t = np.cumsum(rng.exponential(1.0, 300)) + rng.uniform(0, 30)
        parts.append(pd.DataFrame({"id": s, "time": t, "y": np.sin(t / 5) + 0.05 * rng.normal(size=300)}))
    data = IrregularSeries.from_frame(pd.concat(parts), time_col="time", id_col="id", target_cols=["y"])
    kw = {"cell": "lstm", "hidden_size": 4, "window": 8, "horizons": ["1s", "5s"], "max_epochs": 1, "seed": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mem = GatedLSTMForecaster(**kw).fit(data)
        built: list[int] = []
        real = windows_mod.make_windows

        def spy(series, *a, **k):
            w = real(series, *a, **k)
            built.append(len(w))
            return w

        for mod in (windows_mod, window_mod):
            monkeypatch.setattr(mod, "make_windows", spy)
        streamed = GatedLSTMForecaster(**kw, data_module="stream", stream_options={"rows": 50}).fit(data)
    assert streamed.stream_report_["sample_complete"] and streamed.validation_cuts_ == pytest.approx(mem.validation_cuts_)
    # the same calibration pairs, counted per horizon; no call built the windows of the whole series
    assert np.array_equal(streamed.calibrator_.n_calibration, mem.calibrator_.n_calibration)
    assert min(streamed.calibrator_.n_calibration) > 0
    assert max(built, default=0) < mem.n_train_windows_ // 2
    f = streamed.forecast(data, level=90).to_frame()
    assert np.isfinite(f.filter(like="_upper_").to_numpy()).all()
    # the recency weights need each calibration origin's time and series: both data paths give the same ones
    from tsgate.estimators.conformal import recency_weights

    sets = [m._calibration_forecasts(data) for m in (mem, streamed)]
    for cs in sets:
        assert len(cs.origin_time) == len(cs.series) == len(cs.pred) > 0
    key = [sorted(zip(cs.series.tolist(), np.round(cs.origin_time, 6).tolist())) for cs in sets]
    assert key[0] == key[1]
    assert sorted(set(sets[0].series.tolist())) == [0, 1, 2]
    w = [np.sort(recency_weights(cs.origin_time, cs.series, 0.5)) for cs in sets]
    np.testing.assert_allclose(w[0], w[1])
