"""Fixed (split-conformal) bands on heteroscedastic series: which origins calibrate, and the
coverage they give on a case whose answer is known."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import tsgate
from tsgate import IrregularSeries
from tsgate.exceptions import FewWindowsWarning
from tsgate.data.windows import make_windows
from tsgate.estimators.calibration import calibration_mask
from tsgate.estimators.intervals import MAX_CALIBRATION_ORIGINS

N_SERIES, N_OBS = 60, 400


def staggered_walks(seed: int) -> tuple[IrregularSeries, np.ndarray]:
    """Random walks, one step per second, series i starting at 50·i s; the step sd (metres) is
    heavy-tailed over series (log-normal, a factor ~20 between the quietest and the noisiest)
    and grows with i, so the series whose data end last are the noisiest."""
    rng = np.random.default_rng(seed)
    sd = np.sort(np.exp(rng.normal(0.0, 1.0, N_SERIES)))
    parts = []
    for i in range(N_SERIES):
        steps = rng.normal(0.0, sd[i], N_OBS)
        parts.append(pd.DataFrame({"series": f"s{i:02d}", "time": 50.0 * i + np.arange(N_OBS, dtype=float),
                                   "y": np.cumsum(steps)}))
    frame = pd.concat(parts, ignore_index=True)
    return IrregularSeries.from_frame(frame, time_col="time", id_col="series", target_cols=["y"]), sd


def halves(s: IrregularSeries) -> tuple[IrregularSeries, np.ndarray]:
    pos = s.frame.groupby("series", sort=False).cumcount().to_numpy()
    return s.take(pos < N_OBS // 2), pos >= N_OBS // 2


def test_capped_calibration_origins_keep_every_series_share():
    s, _ = staggered_walks(0)
    w = make_windows(s, 1, [1], targets="required")
    cal = calibration_mask(w, 0.5)[:, 0]
    candidates = np.bincount(w.series_index[calibration_mask_uncapped(w, 0.5)], minlength=N_SERIES)
    assert candidates.sum() > MAX_CALIBRATION_ORIGINS  # the cap applies
    kept = np.bincount(w.series_index[cal], minlength=N_SERIES)
    assert kept.sum() == MAX_CALIBRATION_ORIGINS
    share = candidates / candidates.sum() * MAX_CALIBRATION_ORIGINS
    # evenly spaced over (series, time): each series within one origin of its proportional share
    assert np.abs(kept - share).max() <= 1.0
    # and spread over each series' calibration span, not bunched at its end
    t = w.origin_time[cal & (w.series_index == 0)]
    assert t.max() - t.min() > 0.9 * 0.5 * (N_OBS - 2)


def calibration_mask_uncapped(w, fraction):
    from tsgate.data.splits import validation_cut

    return validation_cut(w.origin_time, w.reveal_time, w.series_index, fraction)[2]


def test_fixed_bands_cover_90_percent_of_heteroscedastic_series():
    """Persistence on random walks: its h-step errors are the sums of h i.i.d. steps of the
    series' own sd, so test and calibration errors come from the same per-series mixture and
    the split-conformal band covers 90 % (+ at most 1/(n_cal + 1)).

    Tolerance: the band's coverage given its calibration set has sd ≈ sqrt(0.09 / n_cal)
    (n_cal = 1000: 0.95 points), and the empirical coverage of n_test targets adds
    sqrt(0.09 / n_eff), with n_eff = n_test / h for h-step errors that overlap; 3 sd of the sum
    is about 3.1 points at h = 1 and 3.3 at h = 5. Before the calibration origins were spread
    over every series, the cap kept the 1000 newest — those of the noisiest series — and the
    band covered about 95 %."""
    s, _ = staggered_walks(1)
    train, test_rows = halves(s)
    est = tsgate.PersistenceForecaster(horizons=[1, 5]).fit(train)
    assert est.calibrator_.n_calibration.tolist() == [MAX_CALIBRATION_ORIGINS] * 2
    test_times = {sid: g["time"].to_numpy()[N_OBS // 2:] for sid, g in s.frame.groupby("series", sort=False)}
    fc = est.forecast(s, origins=test_times, level=90)
    lo, hi, _ = fc.bands(90)
    truth = make_windows(s, 1, [1, 5], targets="optional")
    key = {(a, b): i for i, (a, b) in enumerate(zip(truth.inputs.ids.tolist(), truth.origin_time.tolist()))}
    y = truth.y[[key[(a, b)] for a, b in zip(fc.ids.tolist(), fc.origin_time.tolist())]]
    assert len(fc) == N_SERIES * (N_OBS // 2)
    for h, steps in enumerate([1, 5]):
        ok = np.isfinite(y[:, h, 0])
        covered = (lo[ok, h, 0] <= y[ok, h, 0]) & (y[ok, h, 0] <= hi[ok, h, 0])
        n_test = int(ok.sum())
        tol = 3 * np.sqrt(0.09 / MAX_CALIBRATION_ORIGINS + 0.09 * steps / n_test)
        assert abs(covered.mean() - 0.90) <= tol, (steps, covered.mean(), tol)
        # the mixture matters: the quietest third of the series is covered far more often
        quiet = np.isin(fc.ids[ok], [f"s{i:02d}" for i in range(N_SERIES // 3)])
        assert covered[quiet].mean() > 0.97


def test_each_horizon_calibrates_on_every_track_that_knows_its_target():
    """Short, noisy tracks cannot know a long horizon's target; they still calibrate the short
    horizon (before, only origins with every horizon known calibrated: the long tracks)."""
    rng = np.random.default_rng(2)
    parts = [pd.DataFrame({"series": "long", "time": np.arange(400.0), "y": np.cumsum(rng.normal(0, 1.0, 400))})]
    parts += [pd.DataFrame({"series": f"short{i}", "time": np.arange(40.0), "y": np.cumsum(rng.normal(0, 10.0, 40))})
              for i in range(10)]
    s = IrregularSeries.from_frame(pd.concat(parts, ignore_index=True), time_col="time", id_col="series", target_cols=["y"])
    w = make_windows(s, 1, [1, 60], targets="optional")
    mask = calibration_mask(w, None)
    ids = np.asarray(w.inputs.ids, dtype=object)
    short = np.char.startswith(ids.astype(str), "short")
    assert mask[short, 0].sum() >= 10 * 7  # 20 % of each short track's 39 origins with a 1-step target
    assert not mask[short, 1].any()
    assert np.isfinite(w.y[mask[:, 1], 1]).all() and np.isfinite(w.y[mask[:, 0], 0]).all()
    est = tsgate.PersistenceForecaster(horizons=[1, 60]).fit(s)
    n1, n60 = est.calibrator_.n_calibration.tolist()
    assert n1 == int(mask[:, 0].sum()) and n60 == int(mask[:, 1].sum()) < 100
    # warned when intervals are asked for, once; a fit without intervals stays quiet
    assert est.calibration_warning_ and "horizon(s) 60:" in est.calibration_warning_ and "1:" not in est.calibration_warning_
    with pytest.warns(FewWindowsWarning, match=r"horizon\(s\) 60: \d+ are calibrated on fewer than 100"):
        est.forecast(s, level=90)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est.forecast(s, level=90)
    from tsgate.evaluation import backtest

    r = backtest({"p": tsgate.PersistenceForecaster()}, s, horizons=[1, 60], train=0.9, level=90, progress=False)
    assert r.failures["message"].str.contains("prediction intervals of horizon").sum() == 1
    # the noisy short tracks widen the 1-step band well beyond the long track's own 90 % error (1.645)
    assert est.calibrator_.q[est.calibrator_.levels.index(90.0), 0, 0] > 3.0


def test_a_horizon_with_few_calibration_errors_starts_from_the_nearest_well_calibrated_one():
    """Errors that grow in proportion to the lead time on 1/5/15 min: the 30-min horizon, with 2
    calibration errors of its own, starts at twice the 15-min band (the fitted growth is 1)."""
    from tsgate.estimators.intervals import Calibrator

    rng = np.random.default_rng(3)
    leads = [60.0, 300.0, 900.0, 1800.0]
    base = np.abs(rng.normal(0.0, 1.0, (400, 1)))
    truth = np.full((400, 4, 1), np.nan)
    truth[:, :3] = base[:, None, :] * np.array(leads[:3])[None, :, None]
    truth[-2:, 3] = 0.01  # two tiny errors: their own quantile would be a 0.01 band
    scaled = Calibrator(["y"], [], 4, leads=leads)
    scaled.calibrate(np.zeros_like(truth), truth)
    plain = Calibrator(["y"], [], 4)
    plain.calibrate(np.zeros_like(truth), truth)
    assert scaled.n_calibration.tolist() == [400, 400, 400, 2]
    np.testing.assert_allclose(scaled.q[:, 3], 2.0 * scaled.q[:, 2], rtol=1e-9)
    np.testing.assert_array_equal(scaled.q[:, :3], plain.q[:, :3])  # the well-calibrated horizons are untouched
    assert (plain.q[:, 3] == 0.01).all()  # without lead times: the 2-error band
    # a level asked for later starts the same way; the lead times survive a model file
    scaled.track([99.0])
    np.testing.assert_allclose(scaled.q[-1, 3], 2.0 * scaled.q[-1, 2], rtol=1e-9)
    again = Calibrator.from_state(*scaled.get_state())
    assert again.leads == tuple(leads)
    # only one well-calibrated horizon: the band grows in proportion to the lead time (GROWTH = 1)
    one = Calibrator(["y"], [], 2, leads=[60.0, 600.0])
    t1 = np.full((400, 2, 1), np.nan)
    t1[:, 0] = base
    one.calibrate(np.zeros_like(t1), t1)
    np.testing.assert_allclose(one.q[:, 1], 10.0 * one.q[:, 0], rtol=1e-12)


def test_fitted_models_give_their_calibrator_the_lead_times():
    data = IrregularSeries.from_frame(pd.DataFrame({"time": np.arange(900.0), "y": np.arange(900.0) % 7}), time_col="time")
    est = tsgate.PersistenceForecaster(horizons=["1s", "500s"]).fit(data)  # 180 and 80 calibration errors
    assert est.calibrator_.leads == (1.0, 500.0)
    assert tsgate.PersistenceForecaster(horizons=[1, 3]).fit(data).calibrator_.leads == (1.0, 3.0)
    assert est.calibrator_.n_calibration[1] < 100 and np.isfinite(est.calibrator_.q[:, 1]).all()
    assert "scaled from the nearest horizon" in est.calibration_warning_
