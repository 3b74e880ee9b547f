"""The commands that fit, forecast with, update and describe a model, and list the bundled data."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from tsgate.cli import render
from tsgate.cli.config import load_config, model_params
from tsgate.cli.data_io import check_out, read_data, read_model_description, write_frame
from tsgate.cli.errors import Flags
from tsgate.cli.options import DataArg, DataOptions, HorizonOpt, LevelOpt, OutOpt, command

__all__ = ["datasets", "fit", "forecast", "update", "info"]

ModelArg = Annotated[Path, typer.Argument(metavar="MODEL", help="Model directory written by `tsgate fit`.")]


@command()
def datasets(
    report: Annotated[Optional[str], typer.Option("--report", help="Print the repair report of this dataset.")] = None,
    *,
    flags: Flags,
) -> None:
    """List the bundled real datasets (size, source, license), or print one's repair report.

    Example: tsgate datasets --report extmarker-10hz-seq3
    """
    from tsgate import datasets as ds

    if report:
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
    cell: Annotated[Optional[str], typer.Option("--cell", help="wmc | glstm | lstm | gru | convrnn | rnn")] = None,
    horizon: HorizonOpt = None,
    window: Annotated[Optional[int], typer.Option("--window", min=1, help="Input length in observations.")] = None,
    hidden: Annotated[Optional[int], typer.Option("--hidden", min=1, help="Hidden units.")] = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs", min=1, help="Maximum training epochs.")] = None,
    max_gap: Annotated[Optional[str], typer.Option("--max-gap", help="Drop duration targets bracketed by a wider gap, e.g. 2s.")] = None,
    train_rows: Annotated[Optional[int], typer.Option("--train-rows", min=1, help="Fit on the first N rows of each series only.")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Random seed.")] = None,
    log_dir: Annotated[Optional[Path], typer.Option("--log-dir", help="Lightning CSV logs go here (default: no logs).")] = None,
    *,
    data_opts: DataOptions,
    flags: Flags,
) -> None:
    """Fit a gated forecaster on DATA and save it to --model (AIS tracks: the vessel LSTM unless --cell is given).

    Example: tsgate fit extmarker-10hz-seq1 --model m1 --cell wmc --horizon 0.5s --horizon 1s
    """
    from tsgate import GatedLSTMForecaster, parse_horizons

    cfg = load_config(data_opts.config)
    params = model_params(
        cfg, cell=cell, horizons=horizon, window=window, hidden_size=hidden, max_epochs=epochs, max_gap=max_gap, seed=seed
    )
    if params.get("horizons"):
        parse_horizons(params["horizons"])  # refuse a bad --horizon before reading data
    series = read_data(data, data_opts, cfg)
    if train_rows:
        series = series.split(train=int(train_rows))[0]
    from tsgate.evaluation.positions import is_vessel_data

    if is_vessel_data(series) and "cell" not in params:
        _fit_vessel(series, params, model, flags)
        return
    params.setdefault("progress", not flags.quiet)
    params["logger"] = "csv" if log_dir else None
    params["log_dir"] = str(log_dir) if log_dir else None
    est = GatedLSTMForecaster(**params)
    est.fit(series)
    est.save(model)
    if not flags.quiet:
        render.console().print(
            f"Fitted {est.cell} on {series.n_series} series ({len(series)} rows): {est.n_epochs_} epochs, "
            f"{est.n_train_windows_} training windows, best validation loss {est.best_val_loss_:.4g}, "
            f"{est.fit_time_s_:.1f} s. Saved to {model}."
        )


def _fit_vessel(series: Any, params: dict[str, Any], model: Path, flags: Flags) -> None:
    """AIS tracks (without --cell): the vessel model, all AIS horizons unless --horizon."""
    from tsgate import VesselLSTMForecaster
    from tsgate.evaluation.positions import AIS_HORIZONS

    keys = ("horizons", "window", "hidden_size", "max_epochs", "max_gap", "seed")
    vp = {k: params[k] for k in keys if params.get(k) is not None}
    vp.setdefault("horizons", list(AIS_HORIZONS))
    est = VesselLSTMForecaster(**vp, progress=not flags.quiet)
    est.fit(series)
    est.save(model)
    if not flags.quiet:
        fb = f"; dead reckoning for {', '.join(est.fallback_)} (too few training windows)" if est.fallback_ else ""
        render.console().print(
            f"Fitted the vessel LSTM on {series.n_series} vessels ({len(series)} reports): "
            f"{est.train_counts_['windows']} training windows, {est.fit_time_s_:.1f} s{fb}. Saved to {model}."
        )


def _model_and_data(model: Path, data: str, out: str | None, data_opts: DataOptions) -> tuple[Any, Any]:
    """Check --out and the config, load the model, then read DATA with the model's targets (unless --target)."""
    from tsgate import load

    check_out(out)
    cfg = load_config(data_opts.config)
    model_params(cfg)  # [model] is for fit and evaluate, but its keys are checked everywhere
    est = load(model)
    series = read_data(data, data_opts, cfg, default_targets=list(est.targets_))
    return est, series


@command(data=True)
def forecast(
    model: ModelArg,
    data: DataArg,
    out: OutOpt = None,
    all_origins: Annotated[bool, typer.Option("--all-origins", help="Forecast from every observation, not only the last of each series.")] = False,
    level: LevelOpt = None,
    *,
    data_opts: DataOptions,
    flags: Flags,
) -> None:
    """Forecast every horizon from the last observation of each series in DATA.

    Example: tsgate forecast m1 extmarker-10hz-seq1 --out forecasts.parquet
    """
    est, series = _model_and_data(model, data, out, data_opts)
    fc = est.predict(series, origins="all" if all_origins else "last", level=level)
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
    *,
    data_opts: DataOptions,
    flags: Flags,
) -> None:
    """Learn online from new observations in DATA, forecasting along the way; save the model back.

    Example: tsgate update m1 new_rows.csv --out forecasts.csv
    """
    est, series = _model_and_data(model, data, out, data_opts)
    fc = est.update(series, level=level)
    # forecasts first, then the model: a kill between the two re-runs the update next time,
    # which the model refuses (rows already seen) — never a model ahead of its forecasts
    if out:
        write_frame(fc, out)
    est.save(model)
    if out != "-":
        render.print_table(fc, f"Forecasts made during the update ({len(fc)} rows)", flags)


@command()
def info(model: Annotated[Path, typer.Argument(metavar="MODEL", help="Model directory.")], *, flags: Flags) -> None:
    """Show what a model directory holds (estimator, parameters, targets, horizons, online state).

    Example: tsgate info m1
    """
    desc, arrays = read_model_description(model)
    render.print_model_info(desc, arrays)
