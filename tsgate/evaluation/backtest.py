"""Rolling-origin backtests: every model through the same door, forward in time only.

Protocol (per series, rows in time order): the first ``train`` rows are the training part, the
next ``val`` rows a validation part (never scored; online models learn through it), the rest
the test part. Every test observation whose targets are known is an **origin** (every
``stride``-th of them). Each model forecasts every horizon from each origin using only
observations up to that origin, in one of three regimes:

- ``refit="once"``: fit on the training part, then forecast every origin (the model conditions
  on the observations up to each origin but does not change);
- ``refit=k`` (int): walk the origins in time order in blocks of ``k``; before each block, refit
  on every observation up to the block's first origin (``window="expanding"``) or on the last
  ``n_train`` of them per series (``window="sliding"``, ``n_train`` = the training part's size);
- ``refit="online"``: fit on the training part, then feed the rest through ``update``
  (prequential: forecast from each new observation, then learn the targets it reveals). Models
  that do not learn online simply keep forecasting.

Models whose class sets ``per_series = True`` (naive, drift, ARIMA, dead reckoning) are run
series by series, in parallel processes with ``n_jobs`` (joblib); a failure on one series (e.g.
ARIMA that cannot be fitted) is recorded in ``failures`` and the other series go on. Global
models (linear AR, LSTM) are fitted on all series together.

Scoring: truths come from the same windowing as training targets (duration targets are
interpolated between the observations bracketing them; ``max_gap`` drops wide brackets). With
``common=True`` every model is scored on the same (origin, horizon) pairs: those where the
truth and every model's forecast exist (a model that failed on a whole series is left out of
that series' intersection, and its failure is listed).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from tsgate.estimators.base import BaseForecaster, as_series, forecast_frame
from tsgate.evaluation.metrics import METRICS, compute, mean_ci, resolve_groups
from tsgate.exceptions import ConfigError
from tsgate.data.columns import ID, SEGMENT, TIME
from tsgate.data.series import IrregularSeries
from tsgate.data.times import seconds_to_time
from tsgate.data.horizons import Horizon, parse_horizons
from tsgate.data.windows import make_windows

__all__ = ["backtest", "BacktestResult"]

_BASELINE_MODULES = ("tsgate.baselines", "tsgate.online.lms")
# online linear baselines (LMS / recursive least squares) live with the online estimators
_BASELINE_CLASSES = ("OnlineLinearForecaster",)


# ============================================================================ result
@dataclass
class BacktestResult:
    """What a backtest produced.

    Attributes
    ----------
    forecasts
        Tidy frame: one row per model, series, origin, horizon and target, with ``forecast``,
        ``truth`` and ``scored`` (whether the pair entered the metrics).
    metrics
        Tidy frame: ``model, horizon, level ("series" | "pooled"), series, metric, value, n``.
    failures
        ``model, series, stage, kind ("error" | "warning"), error, message``; never fatal.
    info
        Settings, origin counts, per-model timings (seconds) and fit reports (e.g. ARIMA
        resampling sizes).
    """

    forecasts: pd.DataFrame
    metrics: pd.DataFrame
    failures: pd.DataFrame
    info: dict[str, Any]
    model_names: list[str]
    baselines: list[str]
    horizons: list[str]
    targets: list[str]
    position_groups: list[tuple[str, ...]]
    arrays: dict[str, Any] = field(repr=False, default_factory=dict)

    def summary(self, metric: str = "mae", *, level: str = "pooled") -> pd.DataFrame:
        """Model × horizon table of one metric, plus ``mean`` over horizons.

        ``level="pooled"``: all series' origins together; ``"series_mean"``: the mean of the
        per-series values.
        """
        if metric not in METRICS:
            raise ConfigError(f"unknown metric {metric!r}; choose from {list(METRICS)}.")
        if level not in ("pooled", "series_mean"):
            raise ConfigError(f"level must be 'pooled' or 'series_mean', got {level!r}.")
        m = self.metrics[self.metrics["metric"] == metric]
        if level == "pooled":
            m = m[m["level"] == "pooled"]
            tab = m.pivot_table(index="model", columns="horizon", values="value", aggfunc="first", dropna=False)
        else:
            m = m[m["level"] == "series"]
            tab = m.pivot_table(index="model", columns="horizon", values="value", aggfunc="mean", dropna=False)
        tab = tab.reindex(index=self.model_names, columns=self.horizons)
        tab["mean"] = tab[self.horizons].mean(axis=1)
        tab.columns.name = None
        tab.index.name = "model"
        return tab

    def compare(self, metric: str = "mae", *, level: float = 0.95) -> pd.DataFrame:
        """Per model and horizon (and ``mean`` over horizons): pooled value, mean across series
        with a t-based ``level`` interval, rank (1 = lowest pooled error) and the relative
        improvement over the best baseline, ``(best_baseline - value) / best_baseline``
        (positive = better than every baseline)."""
        pooled = self.summary(metric)
        per = self.metrics[(self.metrics["metric"] == metric) & (self.metrics["level"] == "series")]
        wide = per.pivot_table(index=["model", "series"], columns="horizon", values="value", aggfunc="first")
        wide = wide.reindex(columns=self.horizons)
        wide["mean"] = wide.mean(axis=1)
        rows = []
        for h in [*self.horizons, "mean"]:
            col = pooled[h]
            base = col[[b for b in self.baselines if b in col.index]].dropna()
            best_name = base.idxmin() if len(base) else None
            ranks = col.rank(method="min")
            for name in self.model_names:
                vals = wide.loc[name, h].to_numpy() if name in wide.index.get_level_values(0) else np.array([])
                mean, lo, hi, n = mean_ci(vals, level)
                v = col.get(name, np.nan)
                best = base.get(best_name, np.nan) if best_name is not None else np.nan
                rows.append(
                    {
                        "model": name,
                        "horizon": h,
                        "pooled": v,
                        "series_mean": mean,
                        "ci_low": lo,
                        "ci_high": hi,
                        "n_series": n,
                        "rank": ranks.get(name, np.nan),
                        "best_baseline": best_name,
                        "rel_improvement": (best - v) / best if best_name is not None and best else np.nan,
                    }
                )
        return pd.DataFrame(rows)


# ============================================================================ backtest
def backtest(
    models: Mapping[str, BaseForecaster] | Sequence[BaseForecaster] | BaseForecaster,
    data: Any,
    *,
    horizons: Any,
    train: float | int = 0.5,
    val: float | int = 0.0,
    refit: str | int = "once",
    window: str = "expanding",
    stride: int = 1,
    max_gap: Any = None,
    position_groups: Any = None,
    metrics: Sequence[str] = METRICS,
    common: bool = True,
    baselines: Sequence[str] | None = None,
    n_jobs: int | None = 1,
    progress: bool = True,
) -> BacktestResult:
    """Rolling-origin backtest of several forecasters on the same origins (see module docstring).

    Parameters
    ----------
    models
        ``{"name": estimator}`` or a list (named by class). Each is cloned and given ``horizons``.
    data
        An :class:`~tsgate.data.series.IrregularSeries` (or long frame).
    horizons
        Steps (``[1, 5]``) or durations (``["1min", "15min"]``).
    train, val
        Per series: fractions of rows (``0.5``) or row counts (``300``).
    refit
        ``"once"``, an int ``k`` (refit every ``k`` origins) or ``"online"`` (prequential updates).
    window
        ``"expanding"`` or ``"sliding"`` training data for refits.
    stride
        Keep every ``stride``-th test origin of each series.
    max_gap
        Duration targets whose bracketing observations are further apart are not scored.
    position_groups
        Target columns scored as one position (Euclidean error), e.g. ``[("east_m", "north_m")]``.
    common
        Score every model on the same (origin, horizon) pairs.
    baselines
        Names of the models that count as baselines in :meth:`BacktestResult.compare`
        (default: the tsgate baseline classes).
    n_jobs
        Processes for per-series models (joblib; ``-1`` = all cores).
    progress
        Show a progress bar (tqdm) on stderr.
    """
    series = as_series(data)
    hs = parse_horizons(horizons)
    labels = [h.label for h in hs]
    named = _name_models(models)
    if not (refit in ("once", "online") or (isinstance(refit, (int, np.integer)) and not isinstance(refit, bool) and refit >= 1)):
        raise ConfigError(f"refit must be 'once', 'online' or an int ≥ 1 (refit every k origins), got {refit!r}.")
    if window not in ("expanding", "sliding"):
        raise ConfigError(f"window must be 'expanding' or 'sliding', got {window!r}.")
    if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 1:
        raise ConfigError(f"stride must be an int ≥ 1, got {stride!r}.")
    groups = resolve_groups(series.targets, position_groups)
    group_names = [tuple(series.targets[j] for j in g) for g in groups if len(g) > 1]

    split = _split_positions(series, train, val)
    org = _origins(series, hs, split, max_gap, stride)
    n, H, k = len(org["origin_s"]), len(hs), len(series.targets)
    if n == 0:
        raise ConfigError(
            "the test part has no origin with a known target; use a smaller train/val part, shorter "
            "horizons or a larger max_gap."
        )
    settings = {
        "horizons": labels,
        "refit": refit if isinstance(refit, str) else int(refit),
        "window": window,
        "stride": int(stride),
        "max_gap": max_gap,
        "train": train,
        "val": val,
    }

    # ---- tasks: (model name, series chunk or None)
    tasks = []
    for name, est in named.items():
        if getattr(est, "per_series", False) and series.n_series > 1:
            ids = list(pd.unique(org["series"]))
            n_chunks = max(1, min(len(ids), (abs(n_jobs or 1) if n_jobs not in (None, -1) else 8) * 4))
            for chunk in np.array_split(np.arange(len(ids)), n_chunks):
                if len(chunk):
                    tasks.append((name, [ids[i] for i in chunk]))
        else:
            tasks.append((name, None))
    preds = {name: np.full((n, H, k), np.nan) for name in named}
    failures: list[dict[str, Any]] = []
    timing = {name: {"fit_s": 0.0, "predict_s": 0.0} for name in named}
    reports: dict[str, list[dict[str, Any]]] = {name: [] for name in named}

    def args(name: str, ids: list[Any] | None) -> tuple[Any, ...]:
        # built in this process: a worker receives only its own series, origins and cut positions
        if ids is None:
            sub, sel, cuts = series, np.arange(n), split
        else:
            sub = series.subset(ids)
            sel = np.flatnonzero(pd.Series(org["series"]).isin(ids).to_numpy())
            m = pd.Series(split["id"]).isin(ids).to_numpy()
            cuts = {k_: v[m] for k_, v in split.items()}
        return (name, named[name], sub, ids, {k_: v[sel] for k_, v in org.items()}, sel, cuts, hs, labels, refit, window)

    bar = _progress(len(tasks), progress)
    try:
        if n_jobs in (None, 1) or len(tasks) == 1:
            results = (_job(*args(*t)) for t in tasks)
        else:
            from joblib import Parallel, delayed

            results = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(delayed(_job)(*args(*t)) for t in tasks)
        for name, (sel, pr, fails, tm, rep) in results:
            preds[name][sel] = pr
            failures += [{"model": name, **f} for f in fails]
            timing[name]["fit_s"] += tm["fit_s"]
            timing[name]["predict_s"] += tm["predict_s"]
            reports[name] += rep
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()

    # ---- scoring
    truth = org["y"]
    scored = _common_mask(preds, truth, org["series"]) if common else None
    metric_rows = []
    breaks = np.r_[True, (org["series"][1:] != org["series"][:-1]) | (org["segment"][1:] != org["segment"][:-1])]
    sids = org["series"]
    for name, pr in preds.items():
        for hi, lab in enumerate(labels):
            ok = np.isfinite(truth[:, hi]).all(axis=1) & np.isfinite(pr[:, hi]).all(axis=1)
            if scored is not None:
                ok &= scored[:, hi]
            p_h = np.where(ok[:, None], pr[:, hi], np.nan)
            res = compute(p_h, truth[:, hi], groups=groups, series=sids, breaks=breaks, metrics=metrics)
            for m, v in res.items():
                metric_rows.append((name, lab, "pooled", None, m, v, int(ok.sum())))
            for sid in pd.unique(sids):
                rows = sids == sid
                cnt = int((ok & rows).sum())
                if cnt == 0:
                    continue
                res = compute(p_h[rows], truth[rows, hi], groups=groups, breaks=breaks[rows], metrics=metrics)
                for m, v in res.items():
                    metric_rows.append((name, lab, "series", sid, m, v, cnt))
    metric_frame = pd.DataFrame(metric_rows, columns=["model", "horizon", "level", "series", "metric", "value", "n"])

    if scored is None:
        scored = np.isfinite(truth).all(axis=2)
    forecasts = _forecast_frame(org, preds, scored, series, labels)
    fail_frame = pd.DataFrame(failures, columns=["model", "series", "stage", "kind", "error", "message"])
    base_names = list(baselines) if baselines is not None else [
        nm for nm, est in named.items()
        if type(est).__module__.startswith(_BASELINE_MODULES) or type(est).__name__ in _BASELINE_CLASSES
    ]
    info = {
        "settings": settings,
        "n_origins": n,
        "n_series": int(len(pd.unique(org["series"]))),
        "targets": list(series.targets),
        "units": dict(series.units),
        "timing_s": timing,
        "fit_report": {k_: v for k_, v in reports.items() if v},
        "models": {nm: repr(est) for nm, est in named.items()},
    }
    return BacktestResult(
        forecasts=forecasts,
        metrics=metric_frame,
        failures=fail_frame,
        info=info,
        model_names=list(named),
        baselines=base_names,
        horizons=labels,
        targets=list(series.targets),
        position_groups=group_names,
        arrays={"origins": org, "preds": preds, "scored": scored, "time_kind": series.time_kind},
    )


# ============================================================================ helpers
def _name_models(models: Any) -> dict[str, BaseForecaster]:
    if isinstance(models, BaseForecaster):
        models = [models]
    if isinstance(models, Mapping):
        out = dict(models)
    else:
        out = {}
        for m in models:
            base = type(m).__name__.removesuffix("Forecaster") or type(m).__name__
            name, i = base, 2
            while name in out:
                name, i = f"{base}_{i}", i + 1
            out[name] = m
    if not out:
        raise ConfigError("give at least one model to backtest.")
    for name, m in out.items():
        if not isinstance(m, BaseForecaster):
            raise ConfigError(f"model {name!r} is a {type(m).__name__}, not a tsgate BaseForecaster.")
    return out


def _split_positions(series: IrregularSeries, train: Any, val: Any) -> dict[str, np.ndarray]:
    """Per row: position in its series, and the series' train / train+val cut positions."""
    f = series.frame
    pos = f.groupby(ID, sort=False).cumcount().to_numpy()
    size = f.groupby(ID, sort=False)[TIME].transform("size").to_numpy()

    def cut(x: Any, name: str) -> np.ndarray:
        if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.integer, np.floating)) or x < 0:
            raise ConfigError(f"{name}= must be a fraction in [0, 1) or a row count ≥ 0, got {x!r}.")
        if isinstance(x, (int, np.integer)):
            return np.full_like(size, int(x))
        if x >= 1:
            raise ConfigError(f"{name}= must be a fraction below 1 or an integer row count, got {x!r}.")
        return np.floor(size * float(x)).astype(np.int64)

    a = cut(train, "train")
    b = a + cut(val, "val")
    return {"pos": pos, "a": a, "b": b, "time_s": series.time_seconds(), "id": f[ID].to_numpy()}


def _origins(series: IrregularSeries, hs: tuple[Horizon, ...], split: dict[str, np.ndarray], max_gap: Any, stride: int) -> dict[str, np.ndarray]:
    w = make_windows(series, 1, hs, max_gap=max_gap, targets="optional")
    ids = np.asarray(w.series_ids, dtype=object)
    first_row = {}
    f_ids = split["id"]
    starts = np.r_[0, np.flatnonzero(f_ids[1:] != f_ids[:-1]) + 1] if len(f_ids) else np.zeros(0, int)
    for s in starts:
        first_row[f_ids[s]] = s
    sid = ids[w.series_index]
    frame_row = np.array([first_row[s] for s in sid], dtype=np.int64) + w.origin_row
    keep = (w.origin_row >= split["b"][frame_row]) & np.isfinite(w.y).all(axis=2).any(axis=1)
    idx = np.flatnonzero(keep)
    if stride > 1 and len(idx):
        rank = pd.Series(np.arange(len(idx))).groupby(sid[idx]).cumcount().to_numpy()
        idx = idx[rank % stride == 0]
    seg = series.frame[SEGMENT].to_numpy()
    return {
        "series": sid[idx],
        "origin_row": w.origin_row[idx],
        "frame_row": frame_row[idx],
        "origin_s": w.origin_time[idx],
        "target_s": w.target_time[idx],
        "segment": seg[frame_row[idx]],
        "y": np.asarray(w.y[idx], dtype=np.float64),
    }


def _key_us(seconds: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(seconds, dtype=np.float64) * 1e6).astype(np.int64)


def _frame_keys(col: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(col):
        return pd.DatetimeIndex(col).as_unit("us").asi8.astype(np.int64)
    return _key_us(col.to_numpy(dtype=np.float64))


def _progress(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm comes with lightning
        return None
    return tqdm(total=total, desc="backtest", unit="task", leave=False)


def _rows_for(series: IrregularSeries, mask: np.ndarray) -> IrregularSeries:
    return series.take(mask)


def _job(name: str, *rest: Any) -> tuple[str, Any]:
    return name, _run_task(*rest)


def _run_task(
    model: BaseForecaster,
    data: IrregularSeries,
    ids: list[Any] | None,
    org: dict[str, np.ndarray],
    sel: np.ndarray,
    split_all: dict[str, np.ndarray],
    hs: tuple[Horizon, ...],
    labels: list[str],
    refit: Any,
    window: str,
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]], dict[str, float], list[dict[str, Any]]]:
    """Run one model on one group of series (all of them for a global model)."""
    fails: list[dict[str, Any]] = []
    timing = {"fit_s": 0.0, "predict_s": 0.0}
    reports: list[dict[str, Any]] = []
    out = np.full((len(sel), len(hs), len(data.targets)), np.nan)
    split = _split_positions_like(data, split_all)
    units = [None] if ids is None else ids
    for unit in units:
        if unit is None:
            d, rows = data, np.arange(len(sel))
            sp = split
        else:
            m = split["id"] == unit
            d = _rows_for(data, m)
            sp = {k: v[m] for k, v in split.items()}
            rows = np.flatnonzero(org["series"] == unit)
        if len(rows) == 0:
            continue
        o = {k: v[rows] for k, v in org.items()}
        try:
            pr, rep = _run_one(model, d, sp, o, hs, labels, refit, window, timing, unit)
            out[rows] = pr
            fails += _pop_warnings(rep)
            reports += rep
        except Exception as exc:  # a failure is recorded, never fatal
            stage = getattr(exc, "_tsgate_stage", "fit")
            fails.append(
                {"series": unit, "stage": stage, "kind": "error", "error": type(exc).__name__, "message": str(exc)}
            )
    return sel, out, fails, timing, reports


def _pop_warnings(rep: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in list(rep):
        if r.get("_kind") == "warning":
            rep.remove(r)
            out.append({k: v for k, v in r.items() if k != "_kind"})
    return out


def _split_positions_like(data: IrregularSeries, split_all: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Recompute row positions for a subset of series (the cut positions travel with the ids)."""
    f = data.frame
    ids = f[ID].to_numpy()
    cut_a = dict(zip(split_all["id"], split_all["a"]))
    cut_b = dict(zip(split_all["id"], split_all["b"]))
    return {
        "pos": f.groupby(ID, sort=False).cumcount().to_numpy(),
        "a": np.array([cut_a[s] for s in ids], dtype=np.int64),
        "b": np.array([cut_b[s] for s in ids], dtype=np.int64),
        "time_s": data.time_seconds(),
        "id": ids,
    }


def _staged(stage: str, fn: Any, *args: Any, **kw: Any) -> Any:
    try:
        return fn(*args, **kw)
    except Exception as exc:
        try:
            exc._tsgate_stage = stage  # type: ignore[attr-defined]
        except AttributeError:  # pragma: no cover - builtin exceptions without __dict__
            pass
        raise


def _run_one(
    model: BaseForecaster,
    data: IrregularSeries,
    sp: dict[str, np.ndarray],
    o: dict[str, np.ndarray],
    hs: tuple[Horizon, ...],
    labels: list[str],
    refit: Any,
    window: str,
    timing: dict[str, float],
    unit: Any,
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    est = clone(model).set_params(horizons=list(labels))
    out = np.full((len(o["origin_s"]), len(hs), len(data.targets)), np.nan)
    reports: list[dict[str, Any]] = []

    def fit(mask: np.ndarray) -> None:
        if not mask.any():
            raise ConfigError("no training observations before the first origin; use a larger train part.")
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _staged("fit", est.fit, _rows_for(data, mask))
        timing["fit_s"] += time.perf_counter() - t0
        reports.extend(dict(r) for r in getattr(est, "fit_report_", []) or [])
        for wmsg in getattr(est, "fit_warnings_", []) or []:
            reports.append({"_kind": "warning", "series": wmsg.get("series", unit), "stage": "fit", "kind": "warning",
                            "error": "ConvergenceWarning", "message": str(wmsg.get("message", wmsg))})

    if refit == "online":
        fit(sp["pos"] < sp["a"])
        t0 = time.perf_counter()
        frame = _staged("update", est.update, _rows_for(data, sp["pos"] >= sp["a"]))
        timing["predict_s"] += time.perf_counter() - t0
        _assign(out, frame, o, labels, np.arange(len(out)))
        return out, reports
    order = np.argsort(o["origin_s"], kind="stable")
    blocks = [order] if refit == "once" else [order[i : i + int(refit)] for i in range(0, len(order), int(refit))]
    for bi, blk in enumerate(blocks):
        if refit == "once":
            if bi == 0:
                fit(sp["pos"] < sp["a"])
        else:
            tau = o["origin_s"][blk].min()
            m = sp["time_s"] <= tau
            if window == "sliding":
                n_up = pd.Series(m).groupby(sp["id"]).transform("sum").to_numpy()
                m &= sp["pos"] >= n_up - sp["a"]
            fit(m)
        t0 = time.perf_counter()
        frame = _staged("predict", _predict_at, est, data, sp, o, blk, hs)
        timing["predict_s"] += time.perf_counter() - t0
        _assign(out, frame, o, labels, blk)
    return out, reports


def _predict_at(est: BaseForecaster, data: IrregularSeries, sp: dict[str, np.ndarray], o: dict[str, np.ndarray], blk: np.ndarray, hs: tuple[Horizon, ...]) -> pd.DataFrame:
    """Forecast from the origins ``blk`` only, giving the model just the rows it needs."""
    ctx = int(est._window_length()) if hasattr(est, "_window_length") else None
    reach = max([int(h.value) for h in hs if h.kind == "steps"] or [0])
    lo = pd.Series(o["origin_row"][blk]).groupby(o["series"][blk]).min()
    hi = pd.Series(o["origin_row"][blk]).groupby(o["series"][blk]).max()
    ids = sp["id"]
    in_blk = pd.Series(ids).isin(lo.index).to_numpy()
    lo_r = pd.Series(ids).map(lo).to_numpy(dtype=np.float64)
    hi_r = pd.Series(ids).map(hi).to_numpy(dtype=np.float64)
    # one row more than the window, so the window's first Δt is the real one
    first = lo_r - ctx if ctx is not None else np.zeros_like(lo_r)
    mask = in_blk & (sp["pos"] >= first) & (sp["pos"] <= hi_r + reach)
    sl = _rows_for(data, mask)
    if type(est).predict is not BaseForecaster.predict:
        return est.predict(sl, origins="all")  # a custom predict: use it as it is
    # the standard predict, restricted to the requested origins (with a stride, most rows of the
    # slice are context only and need no forecast)
    est._check_fitted()
    est._check_series(sl)
    w = est._windows(sl, origins="all")
    ids = np.asarray(w.series_ids, dtype=object)[w.series_index] if len(w) else np.array([], dtype=object)
    got = pd.MultiIndex.from_arrays([pd.Index(ids, dtype=object), _key_us(w.origin_time)])
    want = pd.MultiIndex.from_arrays([pd.Index(o["series"][blk], dtype=object), _key_us(o["origin_s"][blk])])
    w = w.select(got.isin(want))
    H, k = len(est.horizons_), len(est.targets_)
    yhat = est._predict(w, sl) if len(w) else np.zeros((0, H, k))
    return forecast_frame(w, yhat)


def _assign(out: np.ndarray, frame: pd.DataFrame, o: dict[str, np.ndarray], labels: list[str], blk: np.ndarray) -> None:
    if len(frame) == 0:
        return
    want = pd.DataFrame({"series": o["series"][blk], "key": _key_us(o["origin_s"][blk]), "i": blk})
    got = pd.DataFrame({"series": frame["series"].to_numpy(), "key": _frame_keys(frame["origin_time"]),
                        "h": frame["horizon"].map({lab: j for j, lab in enumerate(labels)}).to_numpy()})
    targets = [c for c in frame.columns if c not in ("series", "origin_time", "horizon", "target_time")]
    got["r"] = np.arange(len(frame))
    m = want.merge(got, on=["series", "key"], how="inner")
    m = m[m["h"].notna()]
    vals = frame[targets].to_numpy(dtype=np.float64)
    out[m["i"].to_numpy(), m["h"].to_numpy(dtype=np.int64)] = vals[m["r"].to_numpy()]


def _common_mask(preds: dict[str, np.ndarray], truth: np.ndarray, sids: np.ndarray) -> np.ndarray:
    ok = np.isfinite(truth).all(axis=2)
    for pr in preds.values():
        fin = np.isfinite(pr).all(axis=2)
        # a model with no forecast at all in a series (it failed there) does not veto that series
        any_in_series = pd.Series(fin.any(axis=1)).groupby(sids).transform("any").to_numpy()
        ok &= fin | ~any_in_series[:, None]
    return ok


def _to_time(seconds: np.ndarray, kind: str) -> Any:
    """Like ``seconds_to_time`` but NaN (an unknown target time) becomes NaT, not the epoch."""
    seconds = np.asarray(seconds, dtype=np.float64)
    ok = np.isfinite(seconds)
    if kind == "seconds" or ok.all():
        return seconds_to_time(seconds, kind)
    out = pd.Series(pd.NaT, index=range(len(seconds)), dtype="datetime64[ns, UTC]")
    out[ok] = seconds_to_time(seconds[ok], kind)
    return pd.DatetimeIndex(out)


def _forecast_frame(org: dict[str, np.ndarray], preds: dict[str, np.ndarray], scored: np.ndarray, series: IrregularSeries, labels: list[str]) -> pd.DataFrame:
    n, H = org["y"].shape[:2]
    targets = list(series.targets)
    k = len(targets)
    base = {
        "series": np.repeat(org["series"], H * k),
        "origin_time": seconds_to_time(np.repeat(org["origin_s"], H * k), series.time_kind),
        "horizon": np.tile(np.repeat(np.array(labels, dtype=object), k), n),
        "target_time": _to_time(np.repeat(org["target_s"].reshape(-1), k), series.time_kind),
        "target": np.tile(np.array(targets, dtype=object), n * H),
        "truth": org["y"].reshape(-1),
        "scored": np.repeat(scored.reshape(-1), k),
    }
    parts = []
    for name, pr in preds.items():
        f = pd.DataFrame(base)
        f.insert(0, "model", name)
        f.insert(6, "forecast", pr.reshape(-1))
        parts.append(f)
    return pd.concat(parts, ignore_index=True)
