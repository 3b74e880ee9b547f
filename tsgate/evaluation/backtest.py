"""Rolling-origin backtests: every model through the same door, forward in time only.

Protocol (per series, rows in time order): the first ``train`` rows are the training part, the
next ``val`` rows a validation part (never scored; online models learn through it), the rest
the test part. Every test observation whose targets are known is an **origin** (every
``stride``-th of them; :mod:`tsgate.evaluation.origins`). Each model forecasts every horizon
from each origin using only observations up to that origin, refitted ``"once"``, every ``k``
origins, or learning ``"online"`` (:mod:`tsgate.evaluation.runner`).

Models tagged ``per_series`` (naive, drift, ARIMA, dead reckoning) are run series by series, in
parallel processes with ``n_jobs`` (joblib; ``backend="dask"`` or ``"ray"`` hands the same tasks to
a cluster through joblib's backends, with tsgate code of its own for neither); a failure on one series (e.g. ARIMA that cannot be
fitted) is recorded in ``failures`` and the other series go on. Global models (linear AR, LSTM)
are fitted on all series together.

Scoring (:mod:`tsgate.evaluation.scoring`): with ``common=True`` every model is scored on the
strict intersection of (origin, horizon) pairs: those where the truth and every model's
forecast exist; ``info["scoring"]`` counts, per model, the pairs it removed. A model that could
not forecast a series gets a failure row (``kind="no_forecast"``) unless an error already
explains it; a model that produced nothing at all is left out of the intersection. The backtest uses the public estimator API only: ``fit``, ``forecast``,
``forecast_and_learn``, ``tags``, ``input_window``, ``fit_report_`` and ``fit_warnings_``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from tsgate.data.horizons import parse_horizons
from tsgate.estimators.base import BaseForecaster
from tsgate.estimators.forecasts import as_series
from tsgate.estimators.intervals import parse_levels
from tsgate.evaluation.intervals import interval_rows
from tsgate.evaluation.metrics import METRICS, resolve_groups
from tsgate.evaluation.origins import global_cut, split_rows, test_origins
from tsgate.evaluation.result import BacktestResult, forecast_table
from tsgate.evaluation.runner import run_task
from tsgate.evaluation.scoring import common_mask, dropped_pairs, metric_rows
from tsgate.exceptions import ConfigError

__all__ = ["backtest", "BacktestResult"]

# progress records (``record.tsgate_progress``: total, start, done); the CLI's evaluate bar listens
log = logging.getLogger("tsgate.evaluation.backtest")


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
    backend: str | None = None,
    progress: bool = True,
    level: Any = None,
    cut: str = "series",
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
        Processes for per-series models (joblib; ``-1`` = all cores, or all workers of a cluster).
    backend
        A joblib backend name: ``None`` (joblib's default, local processes), ``"loky"``,
        ``"threading"``, ``"dask"`` (a ``dask.distributed.Client`` must be open in this process)
        or ``"ray"`` (after ``ray.util.joblib.register_ray()``). With a backend the per-series
        tasks are dispatched through it even when ``n_jobs`` is 1.
    progress
        Show a progress bar (tqdm) on stderr.
    cut
        ``"series"`` (default): ``train``/``val`` cut each series on its own. ``"global"``: one time
        cut for all series at the fraction ``train`` of the whole data's time span, so no
        series' training data is later than any test origin (``val`` must be 0).
    level
        Interval levels in percent (``90`` or ``[80, 95]``): every forecast gets its bands
        (split-conformal for ``refit="once"`` and refits, adapted online for ``"online"``), scored
        by coverage, width and Winkler score per horizon (:mod:`tsgate.evaluation.intervals`).
        A model's calibrator pools the residuals of every series it is fitted on, so with
        ``level`` per-series models are fitted on all series at once (as a user would), not
        series by series in parallel.
    """
    levels = parse_levels(level) if level is not None else None
    series = as_series(data)
    settings_train = train
    hs = parse_horizons(horizons)
    labels = [h.label for h in hs]
    named = _name_models(models)
    if not (refit in ("once", "online") or (isinstance(refit, (int, np.integer)) and not isinstance(refit, bool) and refit >= 1)):
        raise ConfigError(f"refit must be 'once', 'online' or an int ≥ 1 (refit every k origins), got {refit!r}.")
    if window not in ("expanding", "sliding"):
        raise ConfigError(f"window must be 'expanding' or 'sliding', got {window!r}.")
    if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 1:
        raise ConfigError(f"stride must be an int ≥ 1, got {stride!r}.")
    if cut not in ("series", "global"):
        raise ConfigError(f"cut must be 'series' or 'global', got {cut!r}.")
    if cut == "global":
        if isinstance(train, (bool, int, np.integer)) or not isinstance(train, (float, np.floating)) or not 0 < train < 1 or val:
            raise ConfigError(f"cut='global' needs train= a fraction in (0, 1) of the time span and val=0, got "
                              f"train={train!r}, val={val!r}.")
        train = global_cut(series, float(train))
    groups = resolve_groups(series.targets, position_groups)
    group_names = [tuple(series.targets[j] for j in g) for g in groups if len(g) > 1]

    split = split_rows(series, train, val)
    org = test_origins(series, hs, split, max_gap, stride)
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
        "train": train if cut == "series" else settings_train,
        "val": val,
        "cut": cut,
        "level": list(levels) if levels else None,
    }

    # ---- tasks: (model name, series chunk or None)
    tasks = []
    for name, est in named.items():
        # with intervals every model runs on all series at once: its calibrator pools their residuals
        if est.tags.per_series and series.n_series > 1 and not levels:
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
    bands: dict[str, Any] = {}

    def job_args(name: str, ids: list[Any] | None) -> tuple[Any, ...]:
        # built in this process: a worker receives only its own series and origins
        if ids is None:
            sub, sel = series, np.arange(n)
        else:
            sub = series.subset(ids)
            sel = np.flatnonzero(pd.Series(org["series"]).isin(ids).to_numpy())
        return (name, sel, named[name], sub, ids, {k_: v[sel] for k_, v in org.items()}, train, val, hs, refit, window, levels)

    bar = _progress(len(tasks), progress)
    _event(f"{len(tasks)} tasks", total=len(tasks))
    try:
        if backend is None and (n_jobs in (None, 1) or len(tasks) == 1):
            results = (_job(*job_args(*t)) for t in tasks)
        elif backend is None:
            from joblib import Parallel, delayed

            results = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(delayed(_job)(*job_args(*t)) for t in tasks)
        else:
            results = iter(_run_on_backend(backend, n_jobs, [job_args(*t) for t in tasks]))
        for name, sel, (pr, fails, tm, rep, bd) in results:
            preds[name][sel] = pr
            if bd is not None:
                if name not in bands:
                    bands[name] = (np.full((n, *bd[0].shape[1:]), np.nan), bd[1])
                bands[name][0][sel] = bd[0]
            failures += [{"model": name, **f} for f in fails]
            timing[name]["fit_s"] += tm["fit_s"]
            timing[name]["predict_s"] += tm["predict_s"]
            reports[name] += rep
            _event(f"{name}: done", done=name)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()

    # ---- scoring
    failures += _silent_failures(preds, org, failures)
    scored = common_mask(preds, org["y"]) if common else None
    metric_frame = metric_rows(preds, org, labels, groups=groups, metrics=metrics, scored=scored)
    if scored is None:
        scored = np.isfinite(org["y"]).all(axis=2)
    forecasts = forecast_table(org, preds, scored, series, labels, bands=bands, levels=levels or ())
    intervals = interval_rows(bands, preds, org["y"], labels, levels or (), list(series.targets), group_names, scored)
    fail_frame = pd.DataFrame(failures, columns=["model", "series", "stage", "kind", "error", "message"])
    base_names = list(baselines) if baselines is not None else [nm for nm, est in named.items() if est.tags.baseline]
    info = {
        "source": series.source,
        "dataset": series.meta.get("dataset"),
        "settings": settings,
        "n_origins": n,
        "n_series": int(len(pd.unique(org["series"]))),
        "targets": list(series.targets),
        "units": dict(series.units),
        "timing_s": timing,
        "fit_report": {k_: v for k_, v in reports.items() if v},
        "models": {nm: repr(est) for nm, est in named.items()},
        "scoring": dropped_pairs(preds, org["y"]) if common else None,
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
        arrays={"origins": org, "preds": preds, "scored": scored, "time_kind": series.time_kind, "bands": bands},
        intervals=intervals,
        levels=list(levels or ()),
    )


# ============================================================================ helpers
def _run_on_backend(backend: str, n_jobs: int | None, args: list[tuple[Any, ...]]) -> list[Any]:
    """Run the per-series jobs through a named joblib backend (all results, in order)."""
    from joblib import Parallel, delayed, parallel_config

    try:
        with parallel_config(backend=backend, n_jobs=-1 if n_jobs in (None, 1) else n_jobs):
            return list(Parallel()(delayed(_job)(*a) for a in args))
    except ValueError as err:
        if "backend" in str(err).lower():
            raise ConfigError(f"backend={backend!r}: {err} Use a joblib backend name ('loky', 'threading', "
                              "'dask' with an open dask.distributed Client, 'ray' after register_ray()).") from None
        raise


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


def _progress(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm comes with lightning
        return None
    return tqdm(total=total, desc="backtest", unit="task", leave=False)




def _event(msg: str, **info: Any) -> None:
    """One progress record (``record.tsgate_progress``) on the ``tsgate.evaluation.backtest`` logger."""
    if log.isEnabledFor(logging.INFO):
        log.info("backtest: %s", msg, extra={"tsgate_progress": info})


def _silent_failures(preds: dict[str, np.ndarray], org: dict[str, np.ndarray], failures: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A failure row for every (model, series) with truths but not one forecast, unless one is listed."""
    listed = {(f["model"], f["series"]) for f in failures if f.get("kind") == "error"}
    has_truth = np.isfinite(org["y"]).all(axis=2).any(axis=1)
    out = []
    for name, pr in preds.items():
        fin = np.isfinite(pr).all(axis=2).any(axis=1)
        for sid in pd.unique(org["series"][has_truth]):
            sel = (org["series"] == sid) & has_truth
            if not fin[sel].any() and (name, sid) not in listed and (name, None) not in listed:
                out.append({"model": name, "series": sid, "stage": "predict", "kind": "no_forecast", "error": "NoForecast",
                            "message": f"no forecast at any of the {int(sel.sum())} origins of this series "
                                       "(too few observations before them for this model's input window)"})
    return out


def _job(name: str, sel: np.ndarray, *rest: Any) -> tuple[str, np.ndarray, Any]:
    _event(f"{name}: started", start=name)
    return name, sel, run_task(*rest)
