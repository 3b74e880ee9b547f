"""Training never collapses quietly: the validation split keeps most windows, too few windows or
series warn with the numbers, horizons longer than the data are refused (the cases of a 1-hour
AIS file with 15-30 min horizons, 44 windows from 2 vessels, and no window at all)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from tsgate.data.series import IrregularSeries
from tsgate.data.splits import validation_cut
from tsgate.data.windows import make_windows
from tsgate.exceptions import FewWindowsWarning, TooShortError
from tsgate.training.guards import MIN_TRAIN_WINDOWS, split_training

H = ["30s", "1min", "2min", "5min", "15min", "30min"]


def _vessels(n_vessels: int, minutes: float, step_s: float = 10.0, seed: int = 0) -> IrregularSeries:
    """Vessels on straight tracks reporting every ``step_s`` seconds (jittered) for ``minutes``."""
    rng = np.random.default_rng(seed)
    parts = []
    for v in range(n_vessels):
        t = np.cumsum(rng.uniform(0.5, 1.5, int(minutes * 60 / step_s)) * step_s)
        sp, co = rng.uniform(2, 8), rng.uniform(0, 2 * np.pi)
        parts.append(pd.DataFrame({"series": v, "time": t, "east_m": sp * np.sin(co) * t, "north_m": sp * np.cos(co) * t}))
    return IrregularSeries.from_frame(pd.concat(parts), time_col="time", id_col="series", target_cols=["east_m", "north_m"])


def test_one_hour_file_with_long_horizons_keeps_most_windows_for_training():
    # the training part of a 1-hour, 10-s file (60 % of it: 36 min) with horizons up to 30 min:
    # purging every window whose 30-min target crosses the cut left 2 training windows before
    d = _vessels(6, 36)
    w = make_windows(d, 16, H, targets="optional")
    w = w.select(np.isfinite(w.y).all(axis=2).any(axis=1))
    old_train = np.zeros(len(w), bool)  # the former rule: every horizon revealed by a count-quantile cut
    for s in np.unique(w.series_index):
        idx = np.flatnonzero(w.series_index == s)
        cut = np.quantile(w.origin_time[idx], 0.8)
        old_train[idx] = np.nanmax(np.where(np.isfinite(w.reveal_time[idx]), w.reveal_time[idx], np.inf), axis=1) <= cut
    assert old_train.sum() == 0
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        sp = split_training(w, 0.2)
    assert sp.report["train"] >= 0.75 * len(w) and sp.report["validation"] > 0
    # short horizons keep nearly every training window; the 30-min horizon has none (crosses the cut)
    assert sp.report["per_horizon"]["30s"] >= 0.7 * len(w) and sp.report["per_horizon"]["30min"] == 0
    msg = [str(r.message) for r in rec if issubclass(r.category, FewWindowsWarning)]
    assert len(msg) == 1 and "30min: 0" in msg[0] and f"fewer than {MIN_TRAIN_WINDOWS}" in msg[0]
    # no training target is revealed after its series' validation cut
    for s in np.unique(sp.train.series_index):
        first_val = sp.val.origin_time[sp.val.series_index == s].min()
        tr = sp.train.series_index == s
        rev = np.where(np.isfinite(sp.train.y).all(axis=2), sp.train.reveal_time, -np.inf)[tr]
        assert rev.max() <= first_val


def test_validation_cut_is_a_time_cut_per_series_with_purge_per_horizon():
    origin = np.array([0.0, 10, 20, 30, 40, 100, 200, 300])
    sid = np.array([0, 0, 0, 0, 0, 1, 1, 1])
    reveal = np.stack([origin + 5, origin + 25], axis=1)
    train, keep, val = validation_cut(origin, reveal, sid, 0.25)
    # series 0: cut at 30; series 1: cut at 250
    assert val.tolist() == [False, False, False, False, True, False, False, True]
    assert keep[:, 0].tolist() == [True, True, True, False, False, True, True, False]
    assert keep[:, 1].tolist() == [True, False, False, False, False, True, True, False]
    assert train.tolist() == [True, True, True, False, False, True, True, False]


def test_44_windows_from_2_vessels_warn_with_the_numbers_and_the_fit_reports_it():
    from tsgate.training.gated import GatedLSTMForecaster

    d = _vessels(2, 4.0, step_s=10.0, seed=3)
    w = make_windows(d, 4, ["30s"])
    with pytest.warns(FewWindowsWarning, match=rf"30s: \d+ \(of {len(w)} windows"):
        split_training(w, 0.2, min_series=20)
    m = GatedLSTMForecaster(cell="lstm", hidden_size=4, window=4, horizons=["30s"], max_epochs=1, logger=None)
    with pytest.warns(FewWindowsWarning, match="fewer than 100 windows"):
        m.fit(d)
    assert m.fit_warnings_ and m.fit_warnings_[0]["error"] == "FewWindowsWarning"
    assert m.split_report_["windows"] == len(w) and m.split_report_["train"] < 100


def test_a_backtest_counts_the_warning_as_a_failure_row():
    from tsgate.evaluation import backtest
    from tsgate.training.gated import GatedLSTMForecaster

    d = _vessels(2, 8.0, step_s=10.0, seed=5)
    r = backtest({"g": GatedLSTMForecaster(cell="lstm", hidden_size=4, window=4, max_epochs=1, logger=None)}, d,
                 horizons=["30s"], progress=False)
    rows = r.failures[r.failures["model"] == "g"]
    assert len(rows) == 1 and rows["error"].iloc[0] == "FewWindowsWarning" and rows["kind"].iloc[0] == "warning"


def test_horizons_longer_than_the_data_are_refused_naming_the_longest_span():
    from tsgate.training.gated import GatedLSTMForecaster

    d = _vessels(3, 10.0)  # about 10 min per vessel
    with pytest.raises(TooShortError, match=r"longer than the longest series' span \(\d+\.\d min, series \d\)"):
        GatedLSTMForecaster(window=4, horizons=["15min"], max_epochs=1, logger=None).fit(d)
    with pytest.raises(TooShortError, match="no training window"):
        split_training(make_windows(d, 4, ["15min"]), 0.2)
