"""The commands that fit, forecast with, update and describe a model, and list the bundled data.

Exit codes: 0 success; 2 bad arguments or bad input (one line on stderr naming the file, column,
row or option); 1 anything else (``--debug`` for the traceback); 130 interrupted.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from tsgate.cli import render
from tsgate.cli import preflight
from tsgate.cli.config import load_config
from tsgate.cli.data_io import check_out, read_data, read_model_description, write_frame
from tsgate.cli.errors import Flags
from tsgate.cli.model_io import model_and_data, read_for_model
from tsgate.cli.models import ModelTypeOpt, ParamOpt, parse_params, settings_for, spec_for
from tsgate.cli.options import WAIT_DEFAULT_S, DataArg, DataOptions, HorizonOpt, LevelOpt, OutOpt, WaitOpt, command

__all__ = ["datasets", "fit", "forecast", "update", "info"]

ModelArg = Annotated[Path, typer.Argument(metavar="MODEL", help="Model directory written by `tsgate fit`.")]


@command()
def datasets(
    report: Annotated[Optional[str], typer.Option("--report", metavar="NAME|FILE", help="Print the repair report of a bundled dataset, or of a table file read with the default policies (`tsgate check` takes every option). [default: list the datasets]")] = None,
    *,
    flags: Flags,
) -> None:
    """List the bundled real datasets (size, source, license), or print one's repair report.

    Example: tsgate datasets --report extmarker-10hz-seq3
    """
    from tsgate import datasets as ds

    if report:
        if Path(report).exists() or report == "-":
            from tsgate.cli.check import print_check

            print_check(report, DataOptions(), flags)
            return
        print(ds.dataset_report(report))
        return
    df = ds.list_datasets()
    if flags.quiet:
        df.to_csv(sys.stdout, index=False)  # every column, credits included, for scripts
        return
    cols = [c for c in ("name", "series", "rows", "size_mb", "license") if c in df.columns]
    render.print_table(df[cols], "Bundled datasets", flags, max_rows=100)
    render.console().print(
        "Sources and credits: datasets/*/README.md, or `tsgate datasets --quiet` (CSV with every column)."
    )


@command(data=True)
def fit(
    data: DataArg,
    model: Annotated[Path, typer.Option("--model", "-m", metavar="DIR", help="Directory to write the model to (created; replaced atomically).")],
    model_type: ModelTypeOpt = None,
    cell: Annotated[Optional[str], typer.Option("--cell", metavar="NAME", help="Cell of a gated model: wmc | glstm | lstm | gru | convrnn | rnn. [default: wmc]")] = None,
    horizon: HorizonOpt = None,
    window: Annotated[Optional[int], typer.Option("--window", min=1, metavar="N", help="Input length in observations (an online model's signal history length shl). [default: the model's: gated 32, linear 8, drift 10, arima 64, online 30]")] = None,
    hidden: Annotated[Optional[int], typer.Option("--hidden", min=1, metavar="N", help="Hidden units of a gated or online RNN. [default: 64]")] = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs", min=1, metavar="N", help="Maximum training epochs of a gated model (early stopping on the validation loss). [default: 20]")] = None,
    max_gap: Annotated[Optional[str], typer.Option("--max-gap", metavar="DURATION", help="Drop duration targets bracketed by a wider gap between observations, e.g. 2s, 10min. [default: none, keep all]")] = None,
    train_rows: Annotated[Optional[int], typer.Option("--train-rows", min=1, metavar="N", help="Fit on the first N rows of each series only. [default: all rows]")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", metavar="N", help="Random seed of the models that have one. [default: 0]")] = None,
    log_dir: Annotated[Optional[Path], typer.Option("--log-dir", metavar="DIR", help="Gated models: Lightning CSV logs go here. [default: no logs]")] = None,
    param: ParamOpt = None,
    wait: WaitOpt = WAIT_DEFAULT_S,
    *,
    data_opts: DataOptions,
    flags: Flags,
) -> None:
    """Fit a forecaster on DATA and save it to --model (JSON + safetensors, no pickles).

    Any model of `tsgate models` (--model-type; default gated, or on AIS tracks the vessel LSTM), with its parameters from flags, --param or the
    [model] table of --config. The model file records how DATA was read (adapter, time and id
    columns, targets, covariates, repair policies), so forecast and update need no schema flags.
    Prints what was read (targets, covariates, time column, repairs) and what was fitted, unless
    --quiet.

    Example: tsgate fit extmarker-10hz-seq1 --model m1 --cell wmc --horizon 0.5s --horizon 1s

    Example: tsgate fit co2.csv --model m2 --model-type arima --param order=[2,1,2] --param seasonal_order=[1,1,1,12] --horizon 12
    """
    from tsgate import ConfigError, parse_horizons
    from tsgate.estimators.catalog import preset_name
    from tsgate.evaluation.positions import AIS_HORIZONS, is_vessel_data

    cfg = load_config(data_opts.config)

    def _settings(name: str) -> tuple[Any, dict[str, Any], bool]:
        """(spec, parameters from presets, [model], flags and --param, whether horizons defaulted)."""
        spec = spec_for(name)
        window_param = "shl" if spec.accepts("shl") and not spec.accepts("window") else "window"
        given = {
            "--cell": ("cell", cell), "--window": (window_param, window), "--hidden": ("hidden_size", hidden),
            "--epochs": ("max_epochs", epochs), "--max-gap": ("max_gap", max_gap), "--seed": ("seed", seed),
            "--horizon": ("horizons", list(horizon) if horizon else None),
        }
        params = settings_for(spec, cfg.model, cfg.source, given, parse_params(param))
        default_horizon = "horizons" not in params
        params.setdefault("horizons", [1])
        parse_horizons(params["horizons"])  # refuse a bad --horizon before reading data
        if log_dir is not None:
            if not spec.accepts("log_dir"):
                raise ConfigError(f"--log-dir applies to gated models (Lightning logs), not to {spec.name!r}.")
            params.update(logger="csv", log_dir=str(log_dir))
        if spec.accepts("progress"):
            params.setdefault("progress", not flags.quiet)
        return spec, params, default_horizon

    spec, params, default_horizon = _settings(model_type or "gated")
    est = spec.build(**params)
    preflight.check_fit_target(model, est)  # before training, not after
    preflight.check_data_readable(data)
    series = read_data(data, data_opts, cfg)
    if train_rows:
        series = series.split(train=int(train_rows))[0]
    if model_type is None and is_vessel_data(series) and "cell" not in params:
        # AIS tracks: the vessel model unless a gated cell or another model was asked for
        spec, params, default_horizon = _settings("vessel")
        if default_horizon:
            params["horizons"] = list(AIS_HORIZONS)
        est = spec.build(**params)
    render.print_data_summary(series, flags)
    t0 = time.perf_counter()
    est.fit(series)
    took = time.perf_counter() - t0
    with preflight.writer_lock(model, wait, create=True):
        est.save(model)
    if not flags.quiet:
        render.print_fit_summary(est, preset_name(spec, params), series, took, model, default_horizon)


@command(data=True)
def forecast(
    model: ModelArg,
    data: DataArg,
    out: OutOpt = None,
    all_origins: Annotated[bool, typer.Option("--all-origins", help="Forecast from every observation, not only the last of each series. [default: off]")] = False,
    level: LevelOpt = None,
    *,
    data_opts: DataOptions,
    flags: Flags,
) -> None:
    """Forecast every horizon from the last observation of each series in DATA.

    DATA is read like the model's training data (its adapter, columns and policies, recorded
    in the model file) unless flags say otherwise. Output columns: series, origin_time,
    horizon, target_time, then one column per target in the data's units. target_time is
    origin_time + the duration for a duration horizon; for a step horizon it is empty (NaN in
    CSV, null in JSON): when the h-th next observation will arrive is not known when the
    forecast is made.

    Example: tsgate forecast m1 extmarker-10hz-seq1 --out forecasts.parquet
    """
    preflight.check_data_readable(data)
    est, series = model_and_data(model, data, out, data_opts, _summary(flags, out))
    fc = est.predict(series, origins="all" if all_origins else "last", level=level)
    preflight.check_forecasts(fc, series, est, flags)
    if out:
        write_frame(fc, out)
    if out != "-":
        render.print_table(fc, f"Forecasts ({len(fc)} rows)", flags)


@command(data=True)
def update(
    model: Annotated[Path, typer.Argument(metavar="MODEL", help="Model directory; saved back atomically after the update.")],
    data: DataArg,
    out: OutOpt = None,
    level: LevelOpt = None,
    wait: WaitOpt = WAIT_DEFAULT_S,
    *,
    data_opts: DataOptions,
    flags: Flags,
) -> None:
    """Learn online from new observations in DATA, forecasting along the way; save the model back.

    DATA is read like the model's training data unless flags say otherwise; its rows must be
    newer than the last one the model has seen. The forecasts have the columns of `tsgate
    forecast`, one set per new observation, each made before that observation's future was known.
    Holds the model's lock from loading to saving: another writer of it waits (--wait), then
    exits 75; no update is lost.

    Example: tsgate update m1 new_rows.csv --out forecasts.csv
    """
    from tsgate import load

    check_out(out)
    preflight.check_model_writable(model)
    preflight.check_data_readable(data)
    _, _, series = read_for_model(model, data, data_opts)  # read before the lock: hold it briefly
    _summary(flags, out)(series)
    with preflight.writer_lock(model, wait):
        est = load(model)  # under the lock: the model as the last writer left it
        fc = est.update(series, level=level)
        preflight.check_forecasts(fc, series, est, flags, what="forecast during the update", all_nan=False)
        # forecasts first, then the model: a kill between the two re-runs the update next time,
        # which the model refuses (rows already seen) — never a model ahead of its forecasts
        if out:
            write_frame(fc, out)
        est.save(model)
    if out != "-":
        render.print_table(fc, f"Forecasts made during the update ({len(fc)} rows)", flags)


def _summary(flags: Flags, out: str | None) -> Any:
    """Print what was read, on stderr when the forecasts go to standard output."""
    return lambda series: render.print_data_summary(series, flags, stderr=out == "-")


@command()
def info(model: Annotated[Path, typer.Argument(metavar="MODEL", help="Model directory.")], *, flags: Flags) -> None:
    """Show what a model directory holds (estimator, parameters, targets, horizons, online state).

    Example: tsgate info m1
    """
    desc, arrays = read_model_description(model)
    render.print_model_info(desc, arrays)
