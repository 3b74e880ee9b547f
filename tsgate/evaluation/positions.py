"""Vessel position evaluation: the one function ``tsgate evaluate --adapter ais`` and
``benchmarks/ais.py`` share.

:func:`evaluate_positions` runs :func:`~tsgate.evaluation.backtest.backtest` on AIS tracks with
the benchmark's protocol and scores every model on the strict intersection of (origin, horizon)
pairs by the mean Euclidean position error in metres (east/north). Protocol: each vessel's
first ``train`` share of reports trains (``cut="series"``; or one global time cut,
``cut="global"``, so no vessel's training data is later than any test origin), refit once,
every ``stride``-th test report is an origin, truths bracketed by reports more than ``max_gap``
apart are not scored. Horizons the data cannot reach (longer than every vessel's training
part, so no model could learn them) are left out and listed in ``dropped_horizons``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tsgate.data.horizons import parse_horizons
from tsgate.estimators.base import BaseForecaster
from tsgate.estimators.forecasts import as_series
from tsgate.evaluation.backtest import backtest
from tsgate.evaluation.result import BacktestResult

__all__ = ["AIS_HORIZONS", "PositionResult", "evaluate_positions", "ais_models", "reachable_horizons", "is_vessel_data"]

AIS_HORIZONS = ("30s", "1min", "2min", "5min", "15min", "30min")


@dataclass
class PositionResult:
    """``errors``: model × horizon mean Euclidean error (m) on the strict intersection; ``pairs``:
    scored pairs per horizon; ``ratio``: each error over the best baseline's; ``dropped_pairs``:
    per model, the pairs with a truth it had no forecast for (removed from every score)."""

    errors: pd.DataFrame
    pairs: pd.Series
    ratio: pd.DataFrame
    best_baseline: pd.Series
    dropped_pairs: dict[str, int]
    dropped_horizons: list[str]
    failures: pd.DataFrame
    result: BacktestResult | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, dict[str, float | None]]:
        """``{model: {horizon: mean error in m}}`` (None where not scored)."""
        return {m: {h: (None if not np.isfinite(v) else round(float(v), 3)) for h, v in row.items()}
                for m, row in self.errors.iterrows()}


def is_vessel_data(series: Any) -> bool:
    """True for AIS tracks: east/north targets in metres from the AIS adapter (a local projection)."""
    return {"east_m", "north_m"} <= set(series.targets) and series.meta.get("projection") is not None


def reachable_horizons(data: Any, horizons: Sequence[str], train: float, cut: str = "series") -> tuple[list[str], list[str]]:
    """The horizons shorter than the longest training span of a voyage (and the others)."""
    series = as_series(data)
    t = series.time_seconds()
    f = series.frame
    pos = f.groupby("series", sort=False).cumcount().to_numpy()
    size = f.groupby("series", sort=False)["series"].transform("size").to_numpy()
    tr = t <= t.min() + train * (t.max() - t.min()) if cut == "global" else pos < np.floor(size * train)
    g = pd.DataFrame({"k": f["series"].astype(str) + "/" + f["segment"].astype(str), "t": t})[tr].groupby("k")["t"]
    span = float((g.max() - g.min()).max()) if tr.any() else 0.0
    keep = [h.label for h in parse_horizons(list(horizons)) if h.kind != "duration" or h.value < span]
    return keep, [str(h) for h in horizons if str(h) not in keep]


def ais_models(horizons: Sequence[str], *, vessel: bool = True, n_seeds: int = 1, seed: int = 0,
               max_gap: Any = "10min") -> dict[str, BaseForecaster]:
    """The benchmark's models: persistence, dead reckoning (per series SOG/COG or two points),
    CTRV, linear AR, ARIMA and (``vessel``) the gated vessel model."""
    from tsgate.baselines import (ARIMAForecaster, CTRVForecaster, DeadReckoningForecaster, LinearARForecaster,
                                  PersistenceForecaster)

    h = list(horizons)
    out: dict[str, BaseForecaster] = {
        "persistence": PersistenceForecaster(horizons=h),
        "dead reckoning": DeadReckoningForecaster(horizons=h),
        "CTRV": CTRVForecaster(horizons=h),
        "linear AR": LinearARForecaster(window=6, alpha=1e-3, max_gap=max_gap, horizons=h),
        "ARIMA": ARIMAForecaster(order=(2, 1, 0), window=30, max_points=1500, horizons=h),
    }
    if vessel:
        from tsgate.vessel import VesselLSTMForecaster

        out["vessel LSTM"] = VesselLSTMForecaster(horizons=h, n_seeds=n_seeds, seed=seed, max_gap=max_gap)
    return out


def evaluate_positions(
    models: Mapping[str, BaseForecaster],
    data: Any,
    *,
    horizons: Sequence[str] = AIS_HORIZONS,
    train: float = 0.5,
    stride: int = 3,
    max_gap: Any = "10min",
    cut: str = "series",
    position_cols: tuple[str, str] = ("east_m", "north_m"),
    n_jobs: int | None = 1,
    progress: bool = False,
) -> PositionResult:
    """Backtest ``models`` on vessel tracks and score positions in metres (see the module docstring)."""
    series = as_series(data)
    keep, dropped = reachable_horizons(series, horizons, train, cut)
    if not keep:
        from tsgate.exceptions import TooShortError

        raise TooShortError(f"every horizon {list(horizons)} is longer than the longest voyage's training part; "
                            "use shorter horizons or a larger train share.", file=series.source)
    models = {k: m for k, m in models.items()}
    res = backtest(models, series, horizons=keep, train=train, stride=stride, max_gap=max_gap,
                   position_groups=[tuple(position_cols)], refit="once", n_jobs=n_jobs, progress=progress, cut=cut)
    org, preds, scored = res.arrays["origins"], res.arrays["preds"], res.arrays["scored"]
    pi = [series.targets.index(c) for c in position_cols]
    err = {}
    for name, pr in preds.items():
        d = np.linalg.norm(pr[:, :, pi] - org["y"][:, :, pi], axis=2)  # [n, H] metres
        err[name] = [float(d[scored[:, k], k].mean()) if scored[:, k].any() and np.isfinite(pr[:, k, pi]).any() else np.nan
                     for k in range(len(keep))]
    errors = pd.DataFrame(err, index=keep).T
    errors.index.name = "model"
    base = [b for b in res.baselines if b in errors.index]
    best = errors.loc[base].min(axis=0) if base else pd.Series(np.nan, index=keep)
    best_name = errors.loc[base].idxmin(axis=0) if base and errors.loc[base].notna().any().all() else pd.Series(dtype=object)
    sc = res.info.get("scoring") or {}
    return PositionResult(
        errors=errors, pairs=pd.Series(scored.sum(axis=0), index=keep, name="pairs"), ratio=errors.div(best, axis=1),
        best_baseline=best_name, dropped_pairs={m: v["missing"] for m, v in sc.items()}, dropped_horizons=dropped,
        failures=res.failures, result=res,
        settings={"train": train, "stride": stride, "max_gap": max_gap, "cut": cut, "horizons": keep},
    )
