"""``tsgate evaluate``: a forward-only backtest of named models on DATA."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from tsgate.cli import render
from tsgate.cli.config import Config, load_config
from tsgate.cli.data_io import read_data
from tsgate.cli.errors import Flags
from tsgate.cli.evaluate_ais import evaluate_ais, failures
from tsgate.cli.models import ParamOpt, parse_params, settings_for, spec_for
from tsgate.cli.options import DataArg, DataOptions, HorizonOpt, LevelOpt, command
from tsgate.cli.progress import BacktestProgress
from tsgate.cli.results_json import backtest_json, check_json_path, write_json

__all__ = ["evaluate", "build_models"]

_DEFAULTS = {"models": "gated,linear,persistence", "train": 0.6, "val": 0.2, "refit": "once", "stride": 1, "max_gap": None}
# respiratory-motion data (a bundled ExtMarker sequence): the leading causal model, learning online
_EXTMARKER_DEFAULTS = {"models": "analog,linear,persistence", "refit": "online"}
#: AIS tracks: the vessel model against the baselines a maritime user trusts, the benchmark's protocol
_AIS_DEFAULTS = {"models": "vessel,dead-reckoning,ctrv,linear,persistence", "train": 0.5, "val": 0.0, "refit": "once"}


@command(data=True)
def evaluate(
    data: DataArg,
    models: Annotated[Optional[str], typer.Option("--models", metavar="LIST", help=f"Comma-separated model names (`tsgate models` lists them: gated, gated-lstm, online-uoro, online-rls, arima, linear, drift, persistence, dead-reckoning, ...) or model directories written by `tsgate fit` (refitted with their parameters; DATA is then read with their data schema). [default: {_DEFAULTS['models']}; ExtMarker data: {_EXTMARKER_DEFAULTS['models']}, refit online]")] = None,
    horizon: HorizonOpt = None,
    report: Annotated[Optional[Path], typer.Option("--report", metavar="DIR", help="Write the report (tables, plots, HTML) to this folder. [default: no report]")] = None,
    json_path: Annotated[Optional[Path], typer.Option("--json", metavar="PATH", help="Also write the scores as JSON, replaced atomically: AIS tracks {dataset: {model: {horizon: mean_error_m}}}; other data {dataset: {model: {horizon: {target: mae}}}}. [default: none]")] = None,
    cell: Annotated[Optional[str], typer.Option("--cell", metavar="NAME", help="Cell of the gated model(s) named 'gated'. [default: wmc]")] = None,
    window: Annotated[Optional[int], typer.Option("--window", min=1, metavar="N", help="Input length (observations) of the gated, linear and drift models. [default: gated 32, linear chosen on validation, drift 10]")] = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs", min=1, metavar="N", help="Maximum training epochs of the gated models. [default: 20]")] = None,
    train: Annotated[Optional[float], typer.Option("--train", metavar="F|N", help=f"Training part of each series: a fraction (0.6) or a row count (300). [default: {_DEFAULTS['train']}]")] = None,
    val: Annotated[Optional[float], typer.Option("--val", metavar="F|N", help=f"Validation part (online models learn through it, never scored): fraction or row count. [default: {_DEFAULTS['val']}]")] = None,
    refit: Annotated[Optional[str], typer.Option("--refit", metavar="once|online|N", help="Fit once on the training part, learn online through the rest, or refit every N origins. [default: once; ExtMarker data: online]")] = None,
    stride: Annotated[Optional[int], typer.Option("--stride", min=1, metavar="N", help="Score every N-th test origin of each series (faster on long series). [default: 1, every origin; AIS tracks: 3]")] = None,
    max_gap: Annotated[Optional[str], typer.Option("--max-gap", metavar="DURATION", help="Duration targets whose bracketing observations are further apart are not scored (and not trained on by models with max_gap), e.g. 10min. [default: none; AIS tracks: 10min]")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", metavar="N", help="Random seed of the models that have one. [default: 0]")] = None,
    param: ParamOpt = None,
    level: LevelOpt = None,
    cut: Annotated[Optional[str], typer.Option("--cut", metavar="series|global", help="series: each series' first part trains; global: one time cut for all series, so no series trains on data later than any test origin. [default: series]")] = None,
    *,
    data_opts: DataOptions,
    flags: Flags,
) -> None:
    """Backtest models on DATA (rolling origin, forward only) and print per-horizon metrics.

    Every model forecasts every horizon from each test origin using only the observations up to
    it. The table is the MAE per model and horizon in the data's units. Prints what was read
    (targets, covariates, time column, repairs) unless --quiet.

    Example: tsgate evaluate extmarker-10hz-seq1 --models gated,linear,persistence --horizon 0.5s --horizon 1s --report rep

    Example: tsgate evaluate ais-nyharbor --models dead-reckoning,persistence --param dead-reckoning:method=two_points --horizon 1min --stride 5
    """
    from tsgate import parse_horizons
    from tsgate.evaluation import backtest, write_report

    cfg = load_config(data_opts.config)
    from tsgate.evaluation.positions import AIS_HORIZONS, is_vessel_data

    asked = list(horizon) if horizon else cfg.evaluate.get("horizons") or cfg.model.get("horizons")
    if asked:
        parse_horizons(asked)  # a bad --horizon is refused before any data is read
    if json_path is not None:
        check_json_path(json_path)  # and an unwritable --json before any model is fitted
    names_given = models if models is not None else cfg.evaluate.get("models")
    given = [m.strip() for m in str(names_given).split(",") if m.strip()] if names_given else []
    saved = _saved_models(given)
    schema = next(iter(saved.values()))["schema"] if saved else None
    series = read_data(data, data_opts, cfg, schema=schema)
    extmarker = _dataset_name(data, series).lower().startswith("extmarker")
    # AIS tracks: positions scored in metres on the benchmark's protocol (tsgate.evaluation.positions)
    ais = is_vessel_data(series) and level is None and str(refit or cfg.evaluate.get("refit") or "once") == "once"
    defaults = _EXTMARKER_DEFAULTS if extmarker else _AIS_DEFAULTS if ais else None
    settings = _settings(cfg, defaults=defaults, models=models, train=train, val=val, refit=refit, stride=stride,
                         max_gap=max_gap)
    names = [m.strip() for m in str(settings["models"]).split(",") if m.strip()]
    horizons = asked
    if not horizons and saved:
        horizons = next(iter(saved.values()))["fitted_horizons"]
    if not horizons and ais:
        horizons = list(AIS_HORIZONS)
    default_horizon = not horizons
    horizons = horizons or [1]
    parse_horizons(horizons)
    shared = {"--cell": ("cell", cell), "--window": ("window", window), "--epochs": ("max_epochs", epochs),
              "--seed": ("seed", seed), "--max-gap": ("max_gap", settings["max_gap"])}
    built = build_models(names, horizons, cfg, shared, parse_params(param), saved)
    render.print_data_summary(series, flags)
    if ais:
        evaluate_ais(built, series, horizons, settings, stride=stride, max_gap=settings["max_gap"], cut=cut,
                     report=report, flags=flags, json_path=json_path, dataset=_dataset_name(data, series))
        return
    if default_horizon and not flags.quiet:
        render.console().print("  horizons: 1 step ahead (the default: pass --horizon for others)", markup=False)
    with BacktestProgress(enabled=not flags.quiet) as bar:
        res = backtest(
            built, series, horizons=horizons, train=settings["train"], val=settings["val"], refit=settings["refit"],
            stride=settings["stride"], max_gap=settings["max_gap"], progress=False, n_jobs=1, level=level,
            cut=cut or "series",
        )
        bar.done()
    summary = res.summary()
    units = ", ".join(sorted(set(series.units.values()))) or "data units"
    table = summary.reset_index() if hasattr(summary, "reset_index") else summary
    render.print_table(table, f"Backtest: MAE per horizon ({units}, per coordinate)", flags, max_rows=200)
    for lv in res.levels:
        cov = (100 * res.coverage(lv)).reset_index()
        render.print_table(cov, f"Coverage (%) of the {lv:g} % intervals per horizon (all targets)", flags, max_rows=200)
    if report:
        write_report(res, report, dataset=_dataset_name(data, series))
        if not flags.quiet:
            render.console().print(f"Report written to {report}")
    if json_path is not None:
        write_json(json_path, _dataset_name(data, series), backtest_json(res))
        if not flags.quiet:
            render.console().print(f"Scores written to {json_path}")
    failures(res, flags)


def _dataset_name(data: str, series: Any) -> str:
    return str(series.meta.get("dataset") or (Path(data).name if data != "-" else "<stdin>"))


def _settings(cfg: Config, defaults: dict[str, Any] | None = None, **flags: Any) -> dict[str, Any]:
    """Flags, else [evaluate], else the defaults (of the data kind); row counts as int, fractions as float."""
    from tsgate import ConfigError

    base = {**_DEFAULTS, **(defaults or {})}
    out = {k: flags[k] if flags.get(k) is not None else cfg.evaluate.get(k, d) for k, d in base.items()}
    for k in ("train", "val"):
        try:
            v = float(out[k])
        except (TypeError, ValueError):
            raise ConfigError(f"--{k} / [evaluate] {k}: a fraction (0.6) or a row count (300), got {out[k]!r}.") from None
        if v >= 1 and not v.is_integer():
            raise ConfigError(
                f"--{k} / [evaluate] {k}: {out[k]!r} is neither a fraction below 1 (0.6) nor a whole row count (300)."
            )
        if v <= 0 and k == "train":
            raise ConfigError(f"--train / [evaluate] train must be positive, got {out[k]!r}.")
        out[k] = int(v) if v >= 1 else v
    refit = str(out["refit"])
    out["refit"] = int(refit) if refit.isdigit() else refit
    return out


def _saved_models(names: list[str]) -> dict[str, dict[str, Any]]:
    """The entries of --models that are model directories: their estimator, parameters and schema."""
    from tsgate.cli.data_io import read_model_description
    from tsgate.cli.model_io import model_schema

    out = {}
    for n in names:
        if Path(n).is_dir():
            desc, _ = read_model_description(Path(n))
            out[n] = {
                "estimator": desc.get("estimator"),
                "params": dict(desc.get("params", {})),
                "schema": model_schema(desc),
                "fitted_horizons": [h[2] for h in desc.get("fitted", {}).get("horizons", [])],
            }
    return out


def build_models(
    names: list[str], horizons: list[Any], cfg: Config, shared: dict[str, tuple[str, Any]],
    params: list[tuple[str | None, str, Any]], saved: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Estimators by name (or saved model directory), all with the same horizons.

    [model] keys, the shared flags and unprefixed ``--param`` apply to every model that has the
    parameter; one that no model has is refused.
    """
    from tsgate import ConfigError
    from tsgate.estimators import registry
    from tsgate.estimators.catalog import preset_name

    saved = saved or {}
    _refuse_unused(names, cfg, shared, params, saved)
    out: dict[str, Any] = {}
    for n in names:
        if n in saved:
            cls = registry.lookup(saved[n]["estimator"])
            if cls is None:
                raise ConfigError(f"--models {n}: unknown estimator {saved[n]['estimator']!r} in its model file.")
            keep = {k: v for k, v in saved[n]["params"].items() if k != "horizons"}
            out[Path(n).name] = cls(**{**keep, "horizons": horizons, **_quiet(cls)})
            continue
        spec = spec_for(n)
        p = settings_for(spec, cfg.model, cfg.source, shared, params, shared=True)
        p = {**_quiet(spec.cls), **p, "horizons": horizons}
        if spec.accepts("seed"):
            p.setdefault("seed", 0)
        name = preset_name(spec, p)
        if name in out:
            raise ConfigError(f"--models names {name!r} twice.")
        out[name] = spec.build(**p)
    return out


def _quiet(cls: type) -> dict[str, Any]:
    """A gated model inside a backtest: no progress bar of its own, no logs."""
    import inspect

    sig = inspect.signature(cls.__init__).parameters
    return {k: v for k, v in (("progress", False), ("logger", None)) if k in sig}


def _refuse_unused(
    names: list[str], cfg: Config, shared: dict[str, tuple[str, Any]], params: list[tuple[str | None, str, Any]],
    saved: dict[str, dict[str, Any]],
) -> None:
    """A [model] key, flag or --param that no selected model has is an error, never ignored."""
    from tsgate import ConfigError

    from tsgate.cli.config import check_keys

    specs = [spec_for(n) for n in names if n not in saved]
    known = sorted({k for s in specs for k in s.defaults()} | {"horizons"})
    check_keys(cfg.model, known, f"{cfg.source}: [model]", f" (parameters of {', '.join(s.name for s in specs) or 'the models'})")
    for flag, (param, value) in shared.items():
        if value is not None and flag != "--max-gap" and not any(s.accepts(param) for s in specs):
            raise ConfigError(f"{flag} does not apply to any of --models {','.join(names)}; none has a parameter {param!r}.")
    for model, key, _ in params:
        targets = [s for s in specs if model in (None, s.name)]
        if model is not None and not targets:
            raise ConfigError(f"--param {model}:{key}: {model!r} is not one of --models {','.join(names)}.")
        if not any(s.accepts(key) for s in targets):
            raise ConfigError(f"--param {key}: none of --models {','.join(names)} has a parameter {key!r}.")
