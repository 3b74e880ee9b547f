"""``tsgate evaluate``: a forward-only backtest of named models on DATA."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from tsgate.cli import render
from tsgate.cli.config import Config, load_config, model_params
from tsgate.cli.data_io import read_data
from tsgate.cli.errors import Flags, fail
from tsgate.cli.evaluate_ais import evaluate_ais, failures
from tsgate.cli.options import DataArg, DataOptions, HorizonOpt, LevelOpt, command

__all__ = ["evaluate", "MODEL_NAMES", "build_models"]

MODEL_NAMES = ("gated", "vessel", "online", "arima", "linear", "persistence", "drift", "dead-reckoning", "ctrv")
_DEFAULTS = {"models": "gated,linear,persistence", "train": 0.6, "val": 0.2, "refit": "once"}
#: AIS tracks: the vessel model against the baselines a maritime user trusts, the benchmark's protocol
_AIS_DEFAULTS = {"models": "vessel,dead-reckoning,ctrv,linear,persistence", "train": 0.5, "val": 0.0, "refit": "once"}


@command(data=True)
def evaluate(
    data: DataArg,
    models: Annotated[Optional[str], typer.Option("--models", help=f"Comma-separated: {', '.join(MODEL_NAMES)}. Default {_DEFAULTS['models']}.")] = None,
    horizon: HorizonOpt = None,
    report: Annotated[Optional[Path], typer.Option("--report", help="Write the report (tables, plots, HTML) to this folder.")] = None,
    cell: Annotated[Optional[str], typer.Option("--cell", help="Cell of the gated model.")] = None,
    window: Annotated[Optional[int], typer.Option("--window", min=1, help="Input length of the gated, linear and drift models.")] = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs", min=1, help="Maximum training epochs of the gated model.")] = None,
    train: Annotated[Optional[float], typer.Option("--train", help="Training part of each series: fraction (0.6) or row count (300). Default 0.6.")] = None,
    val: Annotated[Optional[float], typer.Option("--val", help="Validation part: fraction or row count. Default 0.2.")] = None,
    refit: Annotated[Optional[str], typer.Option("--refit", help="once | online | N (refit every N origins). Default once.")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Random seed of the gated model (default 0).")] = None,
    level: LevelOpt = None,
    stride: Annotated[Optional[int], typer.Option("--stride", min=1, help="AIS: every k-th test report is an origin (default 3).")] = None,
    max_gap: Annotated[Optional[str], typer.Option("--max-gap", help="AIS: score targets bracketed by reports at most this far apart (default 10min).")] = None,
    cut: Annotated[Optional[str], typer.Option("--cut", help="AIS: series (each vessel's first part trains, default) or global (one time cut).")] = None,
    *,
    data_opts: DataOptions,
    flags: Flags,
) -> None:
    """Backtest models on DATA (rolling origin, forward only) and print per-horizon metrics.

    Example: tsgate evaluate extmarker-10hz-seq1 --models gated,linear,persistence --horizon 0.5s --horizon 1s --report rep
    """
    from tsgate import parse_horizons
    from tsgate.evaluation import backtest, write_report

    cfg = load_config(data_opts.config)
    horizons = list(horizon) if horizon else cfg.evaluate.get("horizons") or cfg.model.get("horizons")
    if horizons:
        parse_horizons(horizons)
    gated = model_params(cfg, cell=cell, window=window, max_epochs=epochs, seed=seed)
    gated.setdefault("seed", 0)
    series = read_data(data, data_opts, cfg)
    from tsgate.evaluation.positions import AIS_HORIZONS, is_vessel_data

    ais = is_vessel_data(series) and level is None and (refit or "once") == "once"
    settings = _settings(cfg, _AIS_DEFAULTS if ais else _DEFAULTS, models=models, train=train, val=val, refit=refit)
    if not horizons:
        if not ais:
            fail("give at least one --horizon (e.g. --horizon 0.5s).")
        horizons = list(AIS_HORIZONS)
    names = [m.strip() for m in str(settings["models"]).split(",") if m.strip()]
    built = build_models(names, horizons, gated)
    if ais:
        evaluate_ais(built, series, horizons, settings, stride=stride, max_gap=max_gap, cut=cut, report=report, flags=flags)
        return
    res = backtest(
        built, series, horizons=horizons, train=settings["train"], val=settings["val"],
        refit=settings["refit"], progress=not flags.quiet, level=level,
    )
    summary = res.summary()
    units = ", ".join(sorted(set(series.units.values()))) or "data units"
    table = summary.reset_index() if hasattr(summary, "reset_index") else summary
    render.print_table(table, f"Backtest: MAE per horizon ({units}, per coordinate)", flags, max_rows=200)
    for lv in res.levels:
        cov = (100 * res.coverage(lv)).reset_index()
        render.print_table(cov, f"Coverage (%) of the {lv:g} % intervals per horizon (all targets)", flags, max_rows=200)
    if report:
        write_report(res, report)
        if not flags.quiet:
            render.console().print(f"Report written to {report}")
    failures(res, flags)


def _settings(cfg: Config, defaults: dict[str, Any], **flags: Any) -> dict[str, Any]:
    """Flags, else [evaluate], else the defaults; row counts as int, fractions as float."""
    from tsgate import ConfigError

    out = {k: flags[k] if flags.get(k) is not None else cfg.evaluate.get(k, d) for k, d in defaults.items()}
    for k in ("train", "val"):
        try:
            v = float(out[k])
        except (TypeError, ValueError):
            raise ConfigError(f"--{k} / [evaluate] {k}: a fraction (0.6) or a row count (300), got {out[k]!r}.") from None
        out[k] = int(v) if v >= 1 else v
    refit = str(out["refit"])
    out["refit"] = int(refit) if refit.isdigit() else refit
    return out


def build_models(names: list[str], horizons: list[str], gated: dict[str, Any]) -> dict[str, Any]:
    """Estimators by short name, all with the same horizons."""
    import tsgate
    from tsgate import ConfigError

    window = int(gated.get("window", 32))
    out: dict[str, Any] = {}
    for n in names:
        if n == "gated":
            p = {"progress": False, "logger": None, **gated, "horizons": horizons}
            out[f"gated-{p.get('cell', 'wmc')}"] = tsgate.GatedLSTMForecaster(**p)
        elif n == "vessel":
            vp = {k: gated[k] for k in ("window", "max_epochs", "seed") if k in gated}
            out["vessel-lstm"] = tsgate.VesselLSTMForecaster(horizons=horizons, **vp)
        elif n == "online":
            out["online-uoro"] = tsgate.OnlineRNNForecaster(horizons=horizons)
        elif n == "arima":
            out["arima"] = tsgate.ARIMAForecaster(horizons=horizons)
        elif n == "linear":
            # short lags + ridge: 32 lags x 9 targets by OLS is underdetermined on 300 rows
            out["linear"] = tsgate.LinearARForecaster(window=min(window, 10), horizons=horizons, alpha=1.0)
        elif n == "persistence":
            out["persistence"] = tsgate.PersistenceForecaster(horizons=horizons)
        elif n == "drift":
            out["drift"] = tsgate.DriftForecaster(window=window, horizons=horizons)
        elif n == "dead-reckoning":
            out["dead-reckoning"] = tsgate.DeadReckoningForecaster(horizons=horizons)
        elif n == "ctrv":
            out["ctrv"] = tsgate.CTRVForecaster(horizons=horizons)
        else:
            raise ConfigError(f"--models: unknown model {n!r}; choose from {', '.join(MODEL_NAMES)}.")
    return out
