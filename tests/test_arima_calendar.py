"""ARIMA on calendar data: a regular monthly series keeps its calendar steps (no resampling).

Monthly CO2 (statsmodels' bundled Mauna Loa data set, weekly values averaged per month) is the
peers' benchmark task. Before calendar grids, tsgate resampled it to the 31-day median interval,
so its SARIMAX saw interpolated values and matched statsmodels only on integer times.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.statespace.sarimax import SARIMAX

from tsgate import ARIMAForecaster, IrregularSeries, load
from tsgate.baselines.grid import Grid, calendar_grid

ORDER, SEASONAL = (2, 1, 2), (1, 1, 1, 12)


@pytest.fixture(scope="module")
def co2() -> pd.Series:
    import statsmodels.datasets.co2 as co2_data

    return co2_data.load_pandas().data["co2"].resample("MS").mean().bfill()


def _series(y: pd.Series) -> IrregularSeries:
    return IrregularSeries.from_frame(pd.DataFrame({"time": y.index.tz_localize("UTC"), "co2": y.to_numpy()}))


@pytest.fixture(scope="module")
def fitted(co2):
    train = _series(co2.iloc[:240])
    m = ARIMAForecaster(order=ORDER, seasonal_order=SEASONAL, horizons=list(range(1, 13)), window=1000, maxiter=50)
    return m.fit(train), train


def test_monthly_co2_keeps_its_calendar_months_and_equals_statsmodels(co2, fitted):
    m, train = fitted
    rep = m.fit_report_[0]
    assert rep["grid"] == "1 calendar month" and rep["n_resampled"] == rep["n_obs"] == 240
    res = SARIMAX(co2.to_numpy()[:240], order=ORDER, seasonal_order=SEASONAL).fit(disp=False, maxiter=50)
    np.testing.assert_allclose(m.models_[(0, "co2")]["params"], res.params, rtol=1e-10, atol=1e-12)
    got = m.predict(train)["co2"].to_numpy()
    np.testing.assert_allclose(got, res.forecast(12), rtol=0, atol=1e-8)


def test_conditioning_on_a_later_window_equals_statsmodels_apply(co2, fitted, tmp_path):
    m, _ = fitted
    res = SARIMAX(co2.to_numpy()[:240], order=ORDER, seasonal_order=SEASONAL).fit(disp=False, maxiter=50)
    later = _series(co2.iloc[:300])
    m.set_params(window=48)
    try:
        f = m.predict(later)
        want = res.apply(co2.to_numpy()[252:300], refit=False).forecast(12)
        np.testing.assert_allclose(f["co2"].to_numpy(), want, rtol=0, atol=1e-8)
        m.save(tmp_path / "m")
        np.testing.assert_array_equal(load(tmp_path / "m").predict(later)["co2"].to_numpy(), f["co2"].to_numpy())
    finally:
        m.set_params(window=1000)


def test_duration_horizons_on_a_calendar_grid_interpolate_in_time(fitted):
    m, train = fitted
    steps = m.predict(train)["co2"].to_numpy()
    d = ARIMAForecaster(order=ORDER, seasonal_order=SEASONAL, horizons=["31d", "45d"], window=1000, maxiter=50).fit(train)
    got = d.predict(train)["co2"].to_numpy()
    last = pd.Timestamp(train.frame["time"].iloc[-1])
    months = pd.date_range(last, periods=13, freq="MS")  # the origin and the next 12 month starts
    path = np.r_[train.frame["co2"].iloc[-1], steps]
    for lead, value in zip(("31D", "45D"), got):
        when = last + pd.Timedelta(lead)
        k = int(np.searchsorted(months, when, side="right")) - 1  # the month step it falls in
        frac = (when - months[k]) / (months[k + 1] - months[k])
        assert value == pytest.approx(path[k] + frac * (path[k + 1] - path[k]), abs=1e-9)


@pytest.mark.parametrize(
    "freq, months, anchor",
    [("MS", 1, "start"), ("ME", 1, "end"), ("QS", 3, "start"), ("YS", 12, "start"), ("W", 0, "start"), ("D", 0, "start")],
)
def test_calendar_grids_are_detected(freq, months, anchor):
    idx = pd.date_range("2001-01-01", periods=40, freq=freq, tz="UTC")
    t = idx.as_unit("ns").asi8 / 1e9
    g = calendar_grid(t, float(np.median(np.diff(t))))
    assert (g.months, g.anchor) == (months, anchor)
    back = g.back(t[0], t[-1], 1000)
    np.testing.assert_allclose(back, t, rtol=0, atol=1e-6)  # the observations are the grid


def test_irregular_or_shifted_monthly_times_are_not_calendar():
    idx = pd.date_range("2001-01-01", periods=30, freq="MS", tz="UTC")
    t = idx.as_unit("ns").asi8 / 1e9
    t[5] += 3600.0  # one report an hour late: not one day-of-month any more
    assert calendar_grid(t, float(np.median(np.diff(t)))).months == 0
    assert Grid(10.0).ahead(100.0, 3).tolist() == [100.0, 110.0, 120.0, 130.0]


def _as_benchmark_series(y: pd.Series) -> IrregularSeries:
    # as benchmarks/peers.py builds it: naive datetime64 values (read as UTC), no time column name
    return IrregularSeries.from_arrays(y.index.values, y.to_numpy(), targets=["co2"])


def _two_origin_forecasts(m: ARIMAForecaster, y: pd.Series, origins: list[pd.Timestamp]) -> np.ndarray:
    fc = m.forecast(_as_benchmark_series(y), origins=[pd.Timestamp(o, tz="UTC").timestamp() for o in origins])
    at = {float(t): i for i, t in enumerate(fc.origin_time)}
    return np.stack([fc.values[at[pd.Timestamp(o, tz="UTC").timestamp()], :, 0] for o in origins])


@pytest.fixture(scope="module")
def co2_interp() -> pd.Series:
    import statsmodels.datasets.co2 as co2_data

    return co2_data.load_pandas().data["co2"].resample("MS").mean().interpolate()


def test_monthly_series_with_missing_months_keeps_its_calendar_months(co2_interp):
    """20 % of the months absent (the peers' irregular variant): the grid stays one calendar month
    (absent months interpolated), not 31 days, so the 12-step season is a year. The forecasts
    equal statsmodels' SARIMAX fitted on the linearly interpolated monthly series."""
    y = co2_interp.iloc[:300]
    rng = np.random.default_rng(0)
    keep = np.ones(len(y), bool)
    keep[rng.choice(np.arange(24, 276), size=60, replace=False)] = False
    gappy = y[keep]
    origins = [y.index[-25], y.index[-13]]
    train = gappy[gappy.index <= origins[0]]
    m = ARIMAForecaster(order=ORDER, seasonal_order=SEASONAL, horizons=list(range(1, 13)), window=len(gappy),
                        max_points=2000, maxiter=50).fit(_as_benchmark_series(train))
    rep = m.fit_report_[0]
    assert rep["grid"] == "1 calendar month"
    filled = train.asfreq("MS").interpolate("time")  # every month, interpolated in time
    assert rep["n_obs"] == len(train) < rep["n_resampled"] == len(filled)
    res = SARIMAX(filled.to_numpy(), order=ORDER, seasonal_order=SEASONAL).fit(disp=False, maxiter=50)
    np.testing.assert_allclose(m.models_[(0, "co2")]["params"], res.params, rtol=1e-10, atol=1e-12)
    got = _two_origin_forecasts(m, gappy, origins)
    for row, o in zip(got, origins):
        ctx = gappy[gappy.index <= o].asfreq("MS").interpolate("time").to_numpy()
        np.testing.assert_allclose(row, res.apply(ctx, refit=False).forecast(12), rtol=0, atol=1e-8)


def test_benchmark_path_equals_statsmodels_at_both_origins(co2_interp):
    """The peers benchmark's ARIMA path (``from_arrays`` on a naive monthly index, forecasts from
    two origins of one fitted model) equals SARIMAX fitted once and applied at each origin."""
    y = co2_interp.iloc[:300]
    origins = [y.index[-25], y.index[-13]]
    train = y[y.index <= origins[0]]
    m = ARIMAForecaster(order=ORDER, seasonal_order=SEASONAL, horizons=list(range(1, 13)), window=len(y),
                        max_points=len(y), maxiter=50).fit(_as_benchmark_series(train))
    res = SARIMAX(train.to_numpy(), order=ORDER, seasonal_order=SEASONAL).fit(disp=False, maxiter=50)
    got = _two_origin_forecasts(m, y, origins)
    for row, o in zip(got, origins):
        want = res.apply(y[y.index <= o].to_numpy(), refit=False).forecast(12)
        np.testing.assert_allclose(row, want, rtol=0, atol=1e-8)


def test_monthly_steps_with_no_common_month_step_are_not_calendar():
    idx = pd.date_range("2001-01-01", periods=61, freq="MS", tz="UTC")
    t = (idx.as_unit("ns").asi8 / 1e9)[np.r_[0, np.cumsum(np.tile([2, 3], 12))]]  # steps of 2 and 3 months
    assert calendar_grid(t, float(np.median(np.diff(t)))).months == 0
    q = pd.date_range("2001-01-01", periods=40, freq="QS", tz="UTC").as_unit("ns").asi8 / 1e9
    q = np.delete(q, [7, 20])  # two quarters absent: still quarterly
    assert calendar_grid(q, float(np.median(np.diff(q)))).months == 3
