"""(S)ARIMA baseline: statsmodels SARIMAX per series and target, on a resampled grid.

ARIMA needs equally spaced observations; irregular series are therefore **resampled, and
this is reported**, never hidden:

- **Interval.** Each series gets a grid step ``interval_s``: the median interval between its
  consecutive training observations within a segment (or the ``interval`` parameter). A
  regular calendar series (UTC timestamps k calendar months apart: monthly, quarterly, yearly;
  :mod:`tsgate.baselines.grid`) keeps its calendar steps instead, so its observations are its
  grid and nothing is interpolated but the months it lacks, if any; weekly and daily series have a fixed interval already.
- **Fitting.** Per series and target, the parameters are estimated by maximum likelihood on
  the longest training segment, linearly interpolated onto a grid ending exactly at that
  segment's last observation (at most ``max_points`` grid points, the most recent kept).
  ``fit_report_`` lists, per series and target, the order, AIC, convergence, the number of
  observations and of grid points and the interval; the same is logged at INFO level on the
  ``tsgate.baselines.arima`` logger. Non-convergence is kept in ``fit_warnings_`` (not an error).
- **Forecasting from an origin** (``predict`` or a backtest, at every origin): the input window,
  the last ``window`` observations up to and including the origin (within its segment), is interpolated
  onto a grid that ends **exactly at the origin** with the series' interval, and the model is
  conditioned on it with the fitted parameters **without refitting** (the Kalman filter of
  ``SARIMAX(context, ...)`` at the fitted parameters, i.e. ``results.apply(context,
  refit=False)`` without building a results object). Only observations up to the origin are used, so there is no look-ahead.
  The grid forecasts at leads ``0, Δ, 2Δ, ...`` (lead 0 is the origin's own value) are
  linearly interpolated to the requested lead times; a step horizon ``h`` is the h-th grid step
  (``h × Δ`` seconds, or h calendar steps), since the time of the h-th next observation is not
  known at the origin.
- **Orders.** ``order=(p, d, q)`` fixes the order; ``order=None`` selects, per series and
  target, the order of ``orders`` with the lowest AIC.

Only the fitted parameters are stored (``save``/``load`` round-trips them exactly).
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np

from tsgate.baselines.features import typical_interval
from tsgate.baselines.grid import Grid, calendar_grid
from tsgate.blas import blas_threads
from tsgate.data.columns import plain
from tsgate.data.segments import runs
from tsgate.data.series import IrregularSeries
from tsgate.data.times import parse_duration
from tsgate.data.windows import Inputs
from tsgate.estimators.window import WindowForecaster
from tsgate.exceptions import DataError, TooShortError
from tsgate.params import Duration, Integral, Interval, IntSequence, ListOf

__all__ = ["ARIMAForecaster", "DEFAULT_ORDERS", "resample_to_grid"]

log = logging.getLogger("tsgate.baselines.arima")

DEFAULT_ORDERS: tuple[tuple[int, int, int], ...] = ((1, 1, 0), (0, 1, 1), (1, 1, 1), (2, 1, 1))


def resample_to_grid(
    time_s: np.ndarray, values: np.ndarray, interval_s: float, max_points: int, grid: Grid | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Linearly interpolate observations onto a grid ending exactly at the last time.

    Returns ``(grid_times, grid_values)``: ``time_s[-1] - interval_s · j`` (or ``j`` steps of a
    calendar ``grid``) in increasing order, at most ``max_points`` points and never before
    ``time_s[0]``. Observations on the grid keep their values exactly.
    """
    g = grid if grid is not None else Grid(float(interval_s))
    times = g.back(float(time_s[0]), float(time_s[-1]), int(max_points))
    return times, np.interp(times, time_s, values)


class ARIMAForecaster(WindowForecaster, baseline=True, per_series=True):
    """statsmodels SARIMAX per series and target, on the series' median interval or calendar months.

    Parameters
    ----------
    order
        ``(p, d, q)``; ``None`` selects from ``orders`` by AIC per series and target.
    seasonal_order
        ``(P, D, Q, s)`` with ``s`` in grid steps, or ``None``.
    orders
        Candidate orders for AIC selection (used when ``order`` is ``None``).
    horizons
        Durations or steps.
    window
        Observations (rows) up to the origin that the forecast is conditioned on.
    max_points
        Most grid points used to fit or condition (the most recent are kept).
    interval
        Grid step (seconds or ``"1min"``); ``None``: each series' median interval.
    maxiter
        Iterations of the likelihood optimiser.
    """

    _parameter_constraints = {
        "order": [IntSequence(3), None],
        "seasonal_order": [IntSequence(4), None],
        "orders": [ListOf(IntSequence(3)), None],
        "window": [Interval(Integral, 1, None)],
        "max_points": [Interval(Integral, 3, None)],
        "interval": [Duration(), None],
        "maxiter": [Interval(Integral, 1, None)],
    }

    def __init__(
        self,
        order: Any = (1, 1, 1),
        seasonal_order: Any = None,
        orders: Any = None,
        horizons: Any = (1,),
        window: int = 64,
        max_points: int = 2000,
        interval: Any = None,
        maxiter: int = 50,
    ) -> None:
        self.order = order
        self.seasonal_order = seasonal_order
        self.orders = orders
        self.horizons = horizons
        self.window = window
        self.max_points = max_points
        self.interval = interval
        self.maxiter = maxiter

    @classmethod
    def _unit_test_params(cls) -> dict[str, Any]:
        return {"order": [1, 1, 0], "horizons": [1, 3], "window": 16, "max_points": 200, "maxiter": 20}

    def _min_history(self) -> int:
        return min(int(self.window), 3)

    # ---------------------------------------------------------------- checks
    def _candidate_orders(self) -> list[tuple[int, int, int]]:
        if self.order is not None:
            return [tuple(int(v) for v in self.order)]  # type: ignore[list-item]
        grid = DEFAULT_ORDERS if self.orders is None else self.orders
        return [tuple(int(v) for v in o) for o in grid]  # type: ignore[misc]

    def _seasonal(self) -> tuple[int, int, int, int]:
        if self.seasonal_order is None:
            return (0, 0, 0, 0)
        return tuple(int(v) for v in self.seasonal_order)  # type: ignore[return-value]

    def _model(self, endog: np.ndarray, order: tuple[int, ...]) -> Any:
        from statsmodels.tsa.statespace.sarimax import SARIMAX

        return SARIMAX(endog, order=order, seasonal_order=self._seasonal())

    # ---------------------------------------------------------------- fit
    def _fit(self, data: IrregularSeries) -> None:
        # statsmodels works on tiny matrices: a multi-threaded BLAS only adds overhead there
        # (measured 20x slower fits on a busy 2-core machine), so one BLAS thread it is
        with blas_threads(1):
            self._fit_all(data)

    def _fit_all(self, data: IrregularSeries) -> None:
        candidates = self._candidate_orders()
        seasonal = self._seasonal()
        fixed = None if self.interval is None else parse_duration(self.interval, what="interval")
        self.models_: dict[tuple[Any, str], dict[str, Any]] = {}
        self.interval_s_: dict[Any, float] = {}
        self.grids_: dict[Any, Grid] = {}
        self.fit_report_: list[dict[str, Any]] = []
        self.fit_warnings_: list[dict[str, Any]] = []
        for g in data.groups():
            step = fixed if fixed is not None else typical_interval(g.time_s, g.segment)
            if not np.isfinite(step):
                raise TooShortError(
                    "ARIMA needs at least two observations in one segment to find the sampling interval.",
                    file=data.source, series=g.series_id,
                )
            self.interval_s_[g.series_id] = step
            # longest segment
            seg = runs(g.segment)
            i = int(np.argmax(seg.end - seg.start))
            lo, hi = int(seg.start[i]), int(seg.end[i])
            t = g.time_s[lo:hi]
            # a monthly (quarterly, yearly) series keeps its calendar steps, with or without gaps
            grid = calendar_grid(t, step) if fixed is None and data.time_kind == "datetime" else Grid(step)
            self.grids_[g.series_id] = grid
            need = max(o[0] + o[1] + o[2] for o in candidates) + seasonal[3] * (seasonal[0] + seasonal[1] + seasonal[2]) + 3
            for j, target in enumerate(data.targets):
                _, yv = resample_to_grid(t, g.values[lo:hi, j], step, int(self.max_points), grid)
                if len(yv) < need:
                    raise TooShortError(
                        f"ARIMA needs at least {need} grid points for target {target!r}; the longest segment "
                        f"resamples to {len(yv)} at {grid.label}. Use a smaller order, a shorter interval, or more data.",
                        file=data.source, series=g.series_id,
                    )
                entry = self._fit_one(yv, candidates, g.series_id, target)
                entry.update(interval_s=step, grid=grid.label, n_obs=hi - lo, n_resampled=len(yv), segment=int(g.segment[lo]))
                self.models_[(g.series_id, target)] = entry
                report = {k: v for k, v in entry.items() if k != "params"}
                report.update(series=g.series_id, target=target)
                self.fit_report_.append(report)
                log.info(
                    "ARIMA series %r target %r: %d observations resampled to %d points at %s; order %s%s, "
                    "AIC %.6g%s",
                    g.series_id, target, hi - lo, len(yv), grid.label, tuple(entry["order"]),
                    "" if self.seasonal_order is None else f"x{seasonal}", entry["aic"],
                    "" if entry["converged"] else " (NOT converged)",
                )
                if not entry["converged"]:
                    self.fit_warnings_.append(
                        {"series": g.series_id, "target": target, "message":
                         f"SARIMAX{tuple(entry['order'])} did not converge in {self.maxiter} iterations; "
                         "its parameters are used anyway."}
                    )

    def _fit_one(self, y: np.ndarray, candidates: list[tuple[int, int, int]], sid: Any, target: str) -> dict[str, Any]:
        best, errors = None, []
        for order in candidates:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    res = self._model(y, order).fit(disp=False, maxiter=int(self.maxiter))
                except (np.linalg.LinAlgError, ValueError) as exc:
                    errors.append(f"{order}: {type(exc).__name__}: {exc}")
                    continue
            if not np.isfinite(res.aic) or not np.all(np.isfinite(res.params)):
                errors.append(f"{order}: non-finite likelihood")
                continue
            conv = bool(res.mle_retvals.get("converged", True)) if res.mle_retvals else True
            conv = conv and not any("converge" in str(c.message).lower() for c in caught)
            if best is None or res.aic < best["aic"]:
                best = {
                    "order": list(order),
                    "params": np.asarray(res.params, dtype=np.float64),
                    "aic": float(res.aic),
                    "converged": conv,
                }
        if best is None:
            raise DataError(
                f"no ARIMA order could be fitted for target {target!r} ({'; '.join(errors)}); try other orders.",
                series=sid,
            )
        return best

    # ---------------------------------------------------------------- predict
    def _forecast_one(self, ctx: np.ndarray, entry: dict[str, Any], steps: int) -> np.ndarray:
        """Condition on ``ctx`` with the fitted parameters; mean forecasts at grid leads 0..steps."""
        model = self._model(ctx, tuple(entry["order"]))
        # model.filter(params) minus the (costly) results object: same Kalman filter, same numbers
        model.update(entry["params"], transformed=True)
        fr = model.ssm.filter()
        ssm = model.ssm
        k = ssm.k_states
        T = np.asarray(ssm["transition"]).reshape(k, k, -1)[:, :, -1]
        Z = np.asarray(ssm["design"]).reshape(1, k, -1)[0, :, -1]
        d = float(np.asarray(ssm["obs_intercept"]).reshape(-1)[-1])
        c = np.asarray(ssm["state_intercept"]).reshape(k, -1)[:, -1]
        a = np.array(fr.predicted_state[:, -1], dtype=np.float64)
        out = np.empty(steps + 1)
        out[0] = ctx[-1]
        for j in range(1, steps + 1):  # the statsmodels forecast mean: y = Z a + d, a ← T a + c
            out[j] = Z @ a + d
            a = T @ a + c
        return out

    def _predict(self, X: Inputs) -> np.ndarray:
        with blas_threads(1):
            return self._predict_all(X)

    def _predict_all(self, X: Inputs) -> np.ndarray:
        H, k = len(self.horizons_), len(self.targets_)
        out = np.full((len(X), H, k), np.nan)
        ids = X.ids
        for i in range(len(X)):
            sid = ids[i]
            if sid not in self.interval_s_:
                raise DataError(
                    "ARIMA has no parameters for this series (it was not in the data given to fit); "
                    "fit on data that includes it.", series=plain(sid),
                )
            grid = self._grid(sid)
            m = X.mask[i]
            t = X.origin_time[i] + X.t[i, m]  # the window's observation times, seconds
            # a step horizon h is h grid steps (h x the interval, or h calendar steps) ahead
            steps = max([int(h.value) if h.kind == "steps" else grid.steps_for(h.value) for h in self.horizons_])
            lead_s = grid.ahead(float(t[-1]), steps) - float(t[-1]) if grid.months else grid.interval_s * np.arange(steps + 1)
            for j, target in enumerate(self.targets_):
                _, ctx = resample_to_grid(t, X.x[i, m, j], grid.interval_s, int(self.max_points), grid)
                f = self._forecast_one(ctx, self.models_[(sid, target)], steps)
                out[i, :, j] = [f[int(h.value)] if h.kind == "steps" else np.interp(h.value, lead_s, f) for h in self.horizons_]
        return out

    def _grid(self, sid: Any) -> Grid:
        grid = self.grids_.get(sid)
        return grid if grid is not None else Grid(self.interval_s_[sid])

    # ---------------------------------------------------------------- state
    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        entries, arrays = [], {}
        for n, ((sid, target), e) in enumerate(self.models_.items()):
            entries.append({"series": plain(sid), "target": target,
                            **{k: plain(v) if not isinstance(v, list) else v for k, v in e.items() if k != "params"}})
            arrays[f"params/{n}"] = e["params"]
        intervals = [[plain(s), v] for s, v in self.interval_s_.items()]
        calendar = [[plain(s), g.months, g.anchor] for s, g in self.grids_.items() if g.months]
        return {"models": entries, "intervals": intervals, "calendar": calendar, "warnings": len(self.fit_warnings_)}, arrays

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.models_, self.fit_report_, self.fit_warnings_ = {}, [], []
        for n, e in enumerate(meta["models"]):
            entry = {k: v for k, v in e.items() if k not in ("series", "target")}
            entry["params"] = np.asarray(arrays[f"params/{n}"], dtype=np.float64)
            self.models_[(e["series"], e["target"])] = entry
            self.fit_report_.append(dict(e))
        self.interval_s_ = {s: float(v) for s, v in meta["intervals"]}
        months = {s: (int(k), str(a)) for s, k, a in meta.get("calendar", [])}
        self.grids_ = {s: Grid(v, *months.get(s, (0, "start"))) for s, v in self.interval_s_.items()}
