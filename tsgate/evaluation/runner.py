"""Running one model of a backtest on its series, through the public estimator API only.

Each model forecasts every horizon from each origin using only observations up to that origin,
in one of three regimes:

- ``refit="once"``: fit on the training part, then forecast every origin (the model conditions
  on the observations up to each origin but does not change);
- ``refit=k`` (int): walk the origins in time order in blocks of ``k``; before each block, refit
  on every observation up to the block's first origin (``window="expanding"``) or on the last
  ``n_train`` of them per series (``window="sliding"``, ``n_train`` = the training part's size);
- ``refit="online"``: fit on the training part, then feed the rest through
  ``forecast_and_learn`` (prequential: forecast from each new observation, then learn the
  targets it reveals). Models that do not learn online simply keep forecasting.

With interval ``levels`` every forecast comes with its bands: the calibrator's current ones
for ``"once"`` and refits, the bands adapted online for ``"online"``.

A model gets only the observations a forecast reads (``input_window`` rows before each origin;
stream models, whose ``input_window`` is None, everything up to the block's last origin). A
failure (e.g. an ARIMA that cannot be fitted) is recorded with its stage, never raised.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from tsgate.data.columns import ID
from tsgate.data.horizons import Horizon
from tsgate.data.series import IrregularSeries
from tsgate.estimators.base import BaseForecaster
from tsgate.estimators.forecasts import Forecasts
from tsgate.evaluation.origins import split_rows
from tsgate.exceptions import ConfigError

__all__ = ["run_task"]


def run_task(
    model: BaseForecaster,
    data: IrregularSeries,
    ids: list[Any] | None,
    org: dict[str, np.ndarray],
    train: Any,
    val: Any,
    hs: tuple[Horizon, ...],
    refit: Any,
    window: str,
    levels: tuple[float, ...] | None = None,
) -> tuple[np.ndarray, list[dict[str, Any]], dict[str, float], list[dict[str, Any]], Any]:
    """Run one model on one group of series (``ids``; None: all series, one global model).

    Returns the forecasts [n_origins, H, k] (NaN where none), failures, timings, fit reports and,
    with ``levels``, ``(halfwidths [n_origins, L, H, U], position groups)`` (else None).
    """
    fails: list[dict[str, Any]] = []
    timing = {"fit_s": 0.0, "predict_s": 0.0}
    reports: list[dict[str, Any]] = []
    out = np.full((len(org["origin_s"]), len(hs), len(data.targets)), np.nan)
    bands: Any = None
    for unit in [None] if ids is None else ids:
        rows = np.arange(len(out)) if unit is None else np.flatnonzero(org["series"] == unit)
        if len(rows) == 0:
            continue
        d = data if unit is None else data.subset([unit])
        run = _Run(model, d, {k: v[rows] for k, v in org.items()}, train, val, hs, timing, unit, levels)
        try:
            out[rows] = run.forecasts(refit, window)
            if run.hw is not None:
                if bands is None:
                    bands = (np.full((len(out), *run.hw.shape[1:]), np.nan), run.groups)
                bands[0][rows] = run.hw
        except Exception as exc:  # a failure is recorded, never fatal
            fails.append(
                {"series": unit, "stage": run.stage, "kind": "error", "error": type(exc).__name__, "message": str(exc)}
            )
        fails += run.warnings
        reports += run.reports
    return out, fails, timing, reports, bands


class _Run:
    """One model on one unit of series: its fits, forecasts, timings and reports."""

    def __init__(self, model: BaseForecaster, data: IrregularSeries, org: dict[str, np.ndarray], train: Any,
                 val: Any, hs: tuple[Horizon, ...], timing: dict[str, float], unit: Any,
                 levels: tuple[float, ...] | None = None) -> None:
        self.est = clone(model).set_params(horizons=[h.label for h in hs])
        self.data, self.org, self.hs, self.timing, self.unit = data, org, hs, timing, unit
        self.split = split_rows(data, train, val)
        self.time_s = data.time_seconds()
        self.ids = data.frame[ID].to_numpy()
        self.stage = "fit"
        self.reports: list[dict[str, Any]] = []
        self.warnings: list[dict[str, Any]] = []
        self.out = np.full((len(org["origin_s"]), len(hs), len(data.targets)), np.nan)
        self.levels = levels
        self.hw: np.ndarray | None = None
        self.groups: tuple[tuple[str, ...], ...] = ()

    def forecasts(self, refit: Any, window: str) -> np.ndarray:
        o = self.org
        if refit == "online":
            self._fit(self.split.train)
            self.stage = "update"
            t0 = time.perf_counter()
            fc = self.est.forecast_and_learn(self.data.take(~self.split.train), level=self.levels)
            self.timing["predict_s"] += time.perf_counter() - t0
            self._assign(fc, np.arange(len(self.out)))
            return self.out
        order = np.argsort(o["origin_s"], kind="stable")
        blocks = [order] if refit == "once" else [order[i : i + int(refit)] for i in range(0, len(order), int(refit))]
        for bi, blk in enumerate(blocks):
            if refit != "once":
                m = self.time_s <= o["origin_s"][blk].min()
                if window == "sliding":
                    n_up = pd.Series(m).groupby(self.ids).transform("sum").to_numpy()
                    m &= self.split.position >= n_up - self.split.train_end
                self._fit(m)
            elif bi == 0:
                self._fit(self.split.train)
            self.stage = "predict"
            t0 = time.perf_counter()
            self._assign(self._forecast_block(blk), blk)
            self.timing["predict_s"] += time.perf_counter() - t0
        return self.out

    def _fit(self, mask: np.ndarray) -> None:
        self.stage = "fit"
        if not mask.any():
            raise ConfigError("no training observations before the first origin; use a larger train part.")
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.est.fit(self.data.take(mask))
        self.timing["fit_s"] += time.perf_counter() - t0
        self.reports += [dict(r) for r in self.est.fit_report_]
        few = [{"error": "FewWindowsWarning", "message": self.est.calibration_warning_}] \
            if self.levels and getattr(self.est, "calibration_warning_", None) else []
        for w in [*self.est.fit_warnings_, *few]:
            self.warnings.append({"series": w.get("series", self.unit), "stage": "fit", "kind": "warning",
                                  "error": w.get("error", "ConvergenceWarning"), "message": str(w.get("message", w))})

    def _forecast_block(self, blk: np.ndarray) -> Forecasts:
        """Forecast from the origins ``blk`` only, giving the model just the rows it reads."""
        o = self.org
        ctx = self.est.input_window
        lo = pd.Series(o["origin_row"][blk]).groupby(o["series"][blk]).min()
        hi = pd.Series(o["origin_row"][blk]).groupby(o["series"][blk]).max()
        ids = pd.Series(self.ids)
        pos = self.split.position
        # one row more than the window, so the window's first Δt is the real one
        first = ids.map(lo).to_numpy(dtype=np.float64) - ctx if ctx is not None else np.zeros(len(pos))
        mask = ids.isin(lo.index).to_numpy() & (pos >= first) & (pos <= ids.map(hi).to_numpy(dtype=np.float64))
        wanted: dict[Any, np.ndarray] = {}
        for sid, t in zip(o["series"][blk].tolist(), o["origin_s"][blk].tolist()):
            wanted.setdefault(sid, []).append(t)  # type: ignore[attr-defined]
        return self.est.forecast(self.data.take(mask), origins={k: np.asarray(v) for k, v in wanted.items()},
                                 level=self.levels)

    def _assign(self, fc: Forecasts, blk: np.ndarray) -> None:
        """Put forecasts at their origins (matched on series and exact origin time, seconds)."""
        if len(fc) == 0:
            return
        where = {(s, t): i for s, t, i in zip(self.org["series"][blk].tolist(), self.org["origin_s"][blk].tolist(), blk)}
        if fc.halfwidth is not None and self.hw is None:
            self.hw = np.full((len(self.out), *fc.halfwidth.shape[1:]), np.nan)
            self.groups = fc.groups
        for j, key in enumerate(zip(fc.ids.tolist(), fc.origin_time.tolist())):
            i = where.get(key)
            if i is not None:
                self.out[i] = fc.values[j]
                if self.hw is not None:
                    self.hw[i] = fc.halfwidth[j]
