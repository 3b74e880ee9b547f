"""Rolling-origin backtests: protocol, refit regimes, no look-ahead, failures, metrics."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from tsgate import load_dataset
from tsgate.estimators.base import BaseForecaster
from tsgate.estimators.checks import perturb_after
from tsgate.estimators.window import WindowForecaster
from tsgate.baselines import (
    ARIMAForecaster,
    DeadReckoningForecaster,
    DriftForecaster,
    LinearARForecaster,
    PersistenceForecaster,
    SeasonalNaiveForecaster,
)
from tsgate.baselines.dead_reckoning import KNOT_M_S
from tsgate.evaluation import backtest
from tsgate.evaluation.metrics import mae
from tsgate.exceptions import ConfigError
from tsgate.data.series import IrregularSeries
from tsgate.data.windows import Inputs, Targets, make_windows



@pytest.fixture(autouse=True)
def _one_blas_thread():
    """statsmodels on tiny matrices: threaded BLAS only adds overhead (and noise on busy CPUs)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield

# ----------------------------------------------------------------------------- test-only models
class MeanForecaster(WindowForecaster):
    """Forecasts the mean of the first target over every training row (shows what fit saw)."""

    def __init__(self, horizons: Any = (1,)) -> None:
        self.horizons = horizons

    def _window_length(self) -> int:
        return 1

    def _fit(self, data: IrregularSeries) -> None:
        self.mean_ = float(data.frame[data.targets[0]].mean())
        self.n_fit_ = len(data)

    def _predict(self, X: Inputs) -> np.ndarray:
        return np.full((len(X), len(self.horizons_), len(self.targets_)), self.mean_)


class RunningMeanOnline(WindowForecaster, learns_online=True):
    """Online: forecasts the mean of every target learned so far (prequential check)."""

    def __init__(self, horizons: Any = (1,)) -> None:
        self.horizons = horizons

    def _window_length(self) -> int:
        return 1

    def _fit(self, data: IrregularSeries) -> None:
        w = make_windows(data, 1, self.horizons_, targets="required")
        self.sum_, self.count_ = float(w.y[:, :, 0].sum()), int(w.y[:, :, 0].size)

    def _learn(self, X: Inputs, Y: Targets, horizon_mask: np.ndarray) -> None:
        self.sum_ += float(Y.y[:, :, 0][horizon_mask].sum())
        self.count_ += int(horizon_mask.sum())

    def _predict(self, X: Inputs) -> np.ndarray:
        return np.full((len(X), len(self.horizons_), len(self.targets_)), self.sum_ / max(self.count_, 1))


# ----------------------------------------------------------------------------- data
def _tracks(n: int = 50, n_series: int = 2, seed: int = 0) -> IrregularSeries:
    """AIS-like tracks: turning vessels, irregular 30-120 s reports, SOG/COG covariates."""
    rng = np.random.default_rng(seed)
    parts = []
    for s in range(n_series):
        t = np.cumsum(rng.uniform(30, 120, n))
        heading = np.deg2rad(40 + 30 * s + 20 * np.sin(t / 900))
        v = (6 + 2 * s) * KNOT_M_S
        dt = np.r_[0, np.diff(t)]
        east = np.cumsum(v * np.sin(heading) * dt) + rng.normal(0, 3, n)
        north = np.cumsum(v * np.cos(heading) * dt) + rng.normal(0, 3, n)
        parts.append(pd.DataFrame({"mmsi": 100 + s, "time": pd.to_datetime(1.6e9 + t, unit="s", utc=True),
                                   "east_m": east, "north_m": north, "sog_kn": v / KNOT_M_S,
                                   "cog_deg": np.rad2deg(heading)}))
    return IrregularSeries.from_frame(pd.concat(parts, ignore_index=True), id_col="mmsi",
                                      target_cols=["east_m", "north_m"], covariate_cols=["sog_kn", "cog_deg"],
                                      units={"east_m": "m", "north_m": "m"})


def _simple(n: int = 40) -> tuple[IrregularSeries, np.ndarray]:
    t = np.cumsum(np.random.default_rng(2).uniform(0.5, 1.5, n))
    y = np.random.default_rng(3).normal(size=n).cumsum()
    return IrregularSeries.from_arrays(t, y, series_id="a"), y


# ----------------------------------------------------------------------------- protocol
def test_persistence_backtest_truth_forecasts_and_metrics_by_hand():
    d, y = _simple(40)
    r = backtest({"p": PersistenceForecaster()}, d, horizons=[1, 2], train=20, val=5, progress=False)
    f = r.forecasts
    # origins: rows 25..39 with a known target (38 for h=2, 39 has none): rows 25..38
    h1 = f[f["horizon"] == "1"]
    assert len(h1) == 14
    np.testing.assert_allclose(h1["forecast"], y[25:39])
    np.testing.assert_allclose(h1["truth"], y[26:40], rtol=1e-6)
    h2 = f[(f["horizon"] == "2") & f["scored"]]
    np.testing.assert_allclose(h2["truth"], y[27:40], rtol=1e-6)
    assert r.summary().loc["p", "1"] == pytest.approx(np.abs(y[26:40] - y[25:39]).mean(), rel=1e-6)
    assert r.summary().loc["p", "mean"] == pytest.approx(r.summary().loc["p", ["1", "2"]].mean())
    assert set(r.metrics["metric"]) == {"mae", "rmse", "nrmse", "max_error", "smape", "rpd", "jitter"}
    assert r.failures.empty


def test_position_groups_give_euclidean_metrics():
    d = _tracks(40)
    r = backtest([DeadReckoningForecaster(method="two_points"), PersistenceForecaster()], d,
                 horizons=["2min", "6min"], position_groups=[("east_m", "north_m")], progress=False)
    assert r.model_names == ["DeadReckoning", "Persistence"]
    f = r.forecasts[(r.forecasts["model"] == "Persistence") & (r.forecasts["horizon"] == "6min") & r.forecasts["scored"]]
    w = f.pivot_table(index=["series", "origin_time"], columns="target", values=["forecast", "truth"])
    want = mae(w["forecast"][["east_m", "north_m"]].to_numpy(), w["truth"][["east_m", "north_m"]].to_numpy(), [(0, 1)])
    assert r.summary().loc["Persistence", "6min"] == pytest.approx(want)
    # dead reckoning beats persistence on moving vessels, clearly
    assert r.summary().loc["DeadReckoning", "mean"] < 0.5 * r.summary().loc["Persistence", "mean"]
    cmp = r.compare("mae")
    row = cmp[(cmp["model"] == "Persistence") & (cmp["horizon"] == "6min")].iloc[0]
    best = r.summary().loc["DeadReckoning", "6min"]
    assert row["best_baseline"] == "DeadReckoning" and row["rank"] == 2
    assert row["rel_improvement"] == pytest.approx((best - r.summary().loc["Persistence", "6min"]) / best)
    assert row["n_series"] == 2 and row["ci_low"] < row["series_mean"] < row["ci_high"]


def test_stride_and_common_origins():
    d = _tracks(60)
    full = backtest([PersistenceForecaster()], d, horizons=["2min"], progress=False)
    strided = backtest([PersistenceForecaster()], d, horizons=["2min"], stride=3, progress=False)
    assert strided.info["n_origins"] == sum((n + 2) // 3 for n in
                                            full.forecasts.drop_duplicates(["series", "origin_time"]).groupby("series").size())
    # common=True: after a new segment (voyage) starts at row 45, drift (window 5) cannot forecast
    # its first 4 origins; persistence is then scored on the same pairs only
    f = d.frame.copy()
    f["segment"] = (f.groupby("series").cumcount() >= 45).astype(int)
    seg = IrregularSeries(f, targets=d.targets, covariates=d.covariates, time_kind=d.time_kind)
    r = backtest({"p": PersistenceForecaster(), "d": DriftForecaster(window=5)}, seg, horizons=["2min"], progress=False)
    n = r.metrics[(r.metrics["level"] == "pooled") & (r.metrics["metric"] == "mae")].set_index("model")["n"]
    assert r.info["n_origins"] - n["p"] >= 2 * 4
    assert n["p"] == n["d"] < r.info["n_origins"]


# ----------------------------------------------------------------------------- refit regimes
def test_refit_every_k_expanding_and_sliding_use_the_right_rows():
    d, y = _simple(40)
    exp = backtest({"m": MeanForecaster()}, d, horizons=[1], train=10, refit=5, progress=False).forecasts
    sli = backtest({"m": MeanForecaster()}, d, horizons=[1], train=10, refit=5, window="sliding", progress=False).forecasts
    once = backtest({"m": MeanForecaster()}, d, horizons=[1], train=10, refit="once", progress=False).forecasts
    # origins rows 10..38; blocks start at rows 10, 15, 20, ...: refit on rows ≤ the block start
    for r0 in (10, 15, 35):
        rows = slice(r0 - 10, r0 + 5 - 10)
        assert np.allclose(exp["forecast"].to_numpy()[rows], y[: r0 + 1].mean())
        assert np.allclose(sli["forecast"].to_numpy()[rows], y[r0 + 1 - 10 : r0 + 1].mean())
    assert np.allclose(once["forecast"], y[:10].mean())


def test_online_refit_is_prequential():
    d, y = _simple(40)
    r = backtest({"o": RunningMeanOnline()}, d, horizons=[1], train=10, refit="online", progress=False)
    # at origin row k the targets y[1..k-1] have been revealed and learned (y[k] is learned right after)
    want = np.array([y[1:k].mean() for k in range(10, 39)])
    np.testing.assert_allclose(r.forecasts["forecast"].to_numpy(), want, rtol=1e-6)
    once = backtest({"o": RunningMeanOnline()}, d, horizons=[1], train=10, refit="once", progress=False)
    assert np.allclose(once.forecasts["forecast"], y[1:10].mean())


def test_bad_settings_are_refused():
    d, _ = _simple(30)
    for kw, msg in [({"refit": "daily"}, "refit"), ({"refit": 0}, "refit"), ({"window": "rolling"}, "window"),
                    ({"stride": 0}, "stride"), ({"train": 1.5}, "train")]:
        with pytest.raises(ConfigError, match=msg):
            backtest([PersistenceForecaster()], d, horizons=[1], progress=False, **kw)
    with pytest.raises(ConfigError, match="no origin"):
        backtest([PersistenceForecaster()], d, horizons=[1], train=29, progress=False)
    with pytest.raises(ConfigError, match="BaseForecaster"):
        backtest({"x": object()}, d, horizons=[1], progress=False)


# ----------------------------------------------------------------------------- no look-ahead
def _models() -> dict[str, tuple[BaseForecaster, Any]]:
    dur = ["1min", "4min"]
    return {
        "persistence": (PersistenceForecaster(), dur),
        "seasonal": (SeasonalNaiveForecaster(season=3), [1, 3]),
        "drift": (DriftForecaster(window=4), dur),
        "linear": (LinearARForecaster(window=4, alpha=0.1), dur),
        "arima": (ARIMAForecaster(order=(1, 1, 0), window=10, max_points=200), dur),
        "dr_sog_cog": (DeadReckoningForecaster(method="sog_cog"), [1, 2]),
        "dr_two_points": (DeadReckoningForecaster(method="two_points"), dur),
        "online_mean": (RunningMeanOnline(), [1, 2]),
    }


@pytest.mark.parametrize("refit", ["once", 12, "online"])
@pytest.mark.parametrize("name", list(_models()))
def test_no_look_ahead(name, refit):
    """Changing the data after τ, values and timestamps, never changes a forecast made at an
    origin ≤ τ (step horizons included: the time of a future report is not an input).

    τ is one time for all series: a global online model may learn from one series' revealed
    data before it forecasts another."""
    model, horizons = _models()[name]
    d = _tracks(40, n_series=2)
    changed, tau = perturb_after(d, 28 / 40, seed=9)
    kw = dict(horizons=horizons, train=15, refit=refit, progress=False)
    a = backtest({name: model}, d, **kw).forecasts
    b = backtest({name: model}, changed, **kw).forecasts
    cut = pd.Timestamp(tau, unit="s", tz="UTC")
    early, early_b = (a["origin_time"] <= cut).to_numpy(), (b["origin_time"] <= cut).to_numpy()
    assert early.sum() >= 13 * len(horizons) * 2  # origins up to τ (both series together)
    key = ["series", "origin_time", "horizon", "target"]
    pd.testing.assert_frame_equal(a.loc[early, key].reset_index(drop=True), b.loc[early_b, key].reset_index(drop=True))
    np.testing.assert_array_equal(a["forecast"].to_numpy()[early], b["forecast"].to_numpy()[early_b])
    assert np.isfinite(a["forecast"].to_numpy()[early]).mean() > 0.9
    if name not in ("online_mean",) and not name.startswith("seasonal") and refit == "once":
        late_a, late_b = a.loc[~early, "forecast"].to_numpy(), b.loc[~early_b, "forecast"].to_numpy()
        assert len(late_a) != len(late_b) or not np.allclose(late_a, late_b, equal_nan=True)


# ----------------------------------------------------------------------------- failures, parallel
def test_failures_are_reported_not_fatal():
    d = _tracks(40, n_series=2)
    short = _tracks(8, n_series=1, seed=4)
    sf = short.frame.copy()
    sf["series"] = 999
    data = IrregularSeries(pd.concat([d.frame, sf], ignore_index=True), targets=d.targets,
                           covariates=d.covariates, time_kind=d.time_kind)
    r = backtest({"arima": ARIMAForecaster(order=(1, 1, 1), window=6, max_points=60), "p": PersistenceForecaster()},
                 data, horizons=["2min"], train=0.5, stride=4, progress=False)
    fails = r.failures
    assert list(fails["series"]) == [999] and fails["model"].iloc[0] == "arima"
    assert fails["error"].iloc[0] == "TooShortError" and fails["stage"].iloc[0] == "fit"
    fa = r.forecasts[r.forecasts["model"] == "arima"]
    assert fa.loc[fa["series"] != 999, "forecast"].notna().all()
    assert fa.loc[fa["series"] == 999, "forecast"].isna().all()
    # strict intersection: arima's missing series leaves every model's score, and it is counted
    per = r.metrics[(r.metrics["level"] == "series") & (r.metrics["model"] == "p")]
    assert 999 not in set(per["series"])
    sc = r.info["scoring"]
    n999 = int(((r.arrays["origins"]["series"] == 999) & np.isfinite(r.arrays["origins"]["y"]).all(axis=2)[:, 0]).sum())
    assert n999 > 0 and sc["arima"]["missing"] == n999 and sc["p"]["missing"] == 0
    assert sc["p"]["scored"] == sc["p"]["pairs"] - n999
    pooled = r.metrics[(r.metrics["level"] == "pooled") & (r.metrics["metric"] == "mae")]
    assert set(pooled["n"]) == {sc["p"]["scored"]}
    # non-convergence is a warning, listed with the series
    r = backtest({"arima": ARIMAForecaster(order=(2, 1, 2), window=6, maxiter=1)}, d, horizons=["2min"], stride=5,
                 progress=False)
    assert (r.failures["kind"] == "warning").all() and len(r.failures) >= 1
    assert r.forecasts["forecast"].notna().all()


def test_parallel_per_series_equals_sequential():
    d = _tracks(30, n_series=3)
    models = {"arima": ARIMAForecaster(order=(1, 1, 0), window=6), "p": PersistenceForecaster(),
              "lin": LinearARForecaster(window=3)}
    a = backtest(models, d, horizons=["1min", "3min"], n_jobs=1, progress=False)
    b = backtest(models, d, horizons=["1min", "3min"], n_jobs=2, progress=False)
    pd.testing.assert_frame_equal(a.forecasts, b.forecasts)
    pd.testing.assert_frame_equal(a.metrics, b.metrics)
    assert a.info["fit_report"]["arima"] and len(a.info["fit_report"]["arima"]) == 6  # 3 series × 2 targets


# ----------------------------------------------------------------------------- real data (bundled)
def test_real_ais_tracks_dead_reckoning_beats_persistence():
    d = load_dataset("ais-nyharbor")
    d = d.subset(d.series_ids[:6])
    r = backtest({"dr": DeadReckoningForecaster(method="two_points"), "p": PersistenceForecaster()}, d,
                 horizons=["1min", "5min"], max_gap="10min", stride=3, position_groups=[("east_m", "north_m")],
                 progress=False)
    s = r.summary()
    assert r.failures.empty and r.info["n_origins"] > 50
    assert s.loc["dr", "1min"] < s.loc["p", "1min"]
    assert 1.0 < s.loc["dr", "1min"] < 1000.0  # metres
    assert r.info["units"]["east_m"] == "m"


def test_real_extmarker_protocol_with_marker_groups():
    d = load_dataset("extmarker-3.33hz-seq1")
    markers = [(f"x{m}", f"y{m}", f"z{m}") for m in (1, 2, 3)]
    assert all(c in d.targets for g in markers for c in g)
    r = backtest({"lin": LinearARForecaster(window=3, alpha=10.0, use_dt=False), "p": PersistenceForecaster()}, d,
                 horizons=[1, 3], train=100, val=100, position_groups=markers, progress=False)
    assert r.info["n_origins"] == len(d) - 200 - 1  # the last row has no target
    mae = r.summary("mae")  # mean 3-D marker error, mm
    assert mae.loc["lin", "1"] < 0.9 * mae.loc["p", "1"]
    nrmse = r.summary("nrmse")
    assert 0.2 < nrmse.loc["p", "1"] < 1.0 and 0.2 < nrmse.loc["lin", "1"] < 1.0
