"""Vessel position evaluation: the one function ``tsgate evaluate --adapter ais`` and
``benchmarks/ais.py`` share.

:func:`evaluate_positions` runs :func:`~tsgate.evaluation.backtest.backtest` on AIS tracks with
the benchmark's protocol and scores every model on the strict intersection of (origin, horizon)
pairs by the mean Euclidean position error in metres (east/north). Protocol: each vessel's
first ``train`` share of reports trains (``cut="series"``; or one global time cut,
``cut="global"``, so no vessel's training data is later than any test origin), refit once,
every ``stride``-th test report is an origin, truths bracketed by reports more than ``max_gap``
apart are not scored. Horizons the data cannot teach (fewer than :data:`MIN_TRAINING_TARGETS`
known targets in the training parts, e.g. 30 min on a one-hour file) are left out and listed in
``dropped_horizons``; a model that produced no forecast at all is left out of ``errors`` and
listed in ``failed_models`` (its failure rows say why).
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
#: a horizon with fewer known targets in the training parts is left out (``dropped_horizons``)
MIN_TRAINING_TARGETS = 50


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
    failed_models: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, dict[str, float | None]]:
        """``{model: {horizon: mean error in m}}`` (None where not scored)."""
        return {m: {h: (None if not np.isfinite(v) else round(float(v), 3)) for h, v in row.items()}
                for m, row in self.errors.iterrows()}


def is_vessel_data(series: Any) -> bool:
    """True for AIS tracks: east/north targets in metres from the AIS adapter (a local projection)."""
    return {"east_m", "north_m"} <= set(series.targets) and series.meta.get("projection") is not None


def reachable_horizons(data: Any, horizons: Sequence[str], train: float, cut: str = "series",
                       max_gap: Any = "10min") -> tuple[list[str], list[str]]:
    """The horizons with at least :data:`MIN_TRAINING_TARGETS` known targets inside the training
    parts (bracketed within ``max_gap``), and the others (no model could learn them)."""
    from tsgate.data.windows import make_windows
    from tsgate.evaluation.origins import global_cut, split_rows

    series = as_series(data)
    split = split_rows(series, global_cut(series, train) if cut == "global" else train, 0)
    part = series.take(split.train)
    hs = parse_horizons(list(horizons))
    if len(part) == 0:
        return [], [h.label for h in hs]
    w = make_windows(part, 1, hs, max_gap=max_gap, targets="optional")
    n = np.isfinite(w.y).all(axis=2).sum(axis=0) if len(w) else np.zeros(len(hs))
    keep = [h.label for h, c in zip(hs, n) if c >= MIN_TRAINING_TARGETS]
    return keep, [h.label for h in hs if h.label not in keep]


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
    keep, dropped = reachable_horizons(series, horizons, train, cut, max_gap)
    if not keep:
        from tsgate.exceptions import TooShortError

        raise TooShortError(f"no horizon of {list(horizons)} has {MIN_TRAINING_TARGETS} known targets in the "
                            "vessels' training parts; use shorter horizons, a larger train share or a larger max_gap.",
                            file=series.source)
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
    failed = [m for m, pr in preds.items() if not np.isfinite(pr).any()]
    errors = pd.DataFrame(err, index=keep).T.drop(index=failed)
    errors.index.name = "model"
    base = [b for b in res.baselines if b in errors.index]
    best = errors.loc[base].min(axis=0) if base else pd.Series(np.nan, index=keep)
    best_name = errors.loc[base].idxmin(axis=0) if base and errors.loc[base].notna().any().all() else pd.Series(dtype=object)
    sc = res.info.get("scoring") or {}
    return PositionResult(
        errors=errors, pairs=pd.Series(scored.sum(axis=0), index=keep, name="pairs"), ratio=errors.div(best, axis=1),
        best_baseline=best_name, dropped_pairs={m: v["missing"] for m, v in sc.items()}, dropped_horizons=dropped,
        failures=res.failures, result=res, failed_models=failed,
        settings={"train": train, "stride": stride, "max_gap": max_gap, "cut": cut, "horizons": keep},
    )
