"""The ``tsgate`` command: a thin Typer layer over the library.

Exit codes: 0 success; 2 bad arguments or bad input (one line on stderr naming the file,
column, row or option); 1 anything else (traceback only with ``--debug``).
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import tomllib
import traceback
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

app = typer.Typer(
    name="tsgate",
    help=(
        "Forecast irregularly sampled time series with gated LSTMs that keep learning online.\n\n"
        "Examples:\n\n"
        "  tsgate datasets\n\n"
        "  tsgate fit extmarker-10hz-seq1 --model m1 --cell wmc --horizon 0.5s --horizon 1s\n\n"
        "  tsgate forecast m1 extmarker-10hz-seq1 --out forecasts.csv\n\n"
        "  tsgate evaluate extmarker-10hz-seq1 --models gated,linear,persistence --horizon 0.5s"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

_STATE: dict[str, bool] = {"debug": False, "quiet": False}

DataArg = Annotated[
    str,
    typer.Argument(metavar="DATA", help="CSV or parquet file, '-' for CSV on standard input, or a bundled dataset name (see `tsgate datasets`)."),
]
TargetOpt = Annotated[Optional[list[str]], typer.Option("--target", "-t", metavar="COL", help="Target column (repeat for several). Default: every other numeric column.")]
TimeOpt = Annotated[Optional[str], typer.Option("--time-col", metavar="COL", help="Time column: ISO timestamps, or plain numbers read as seconds. Default 'time'.")]
IdOpt = Annotated[Optional[str], typer.Option("--id-col", metavar="COL", help="Series id column. Without it the file is one series.")]
HorizonOpt = Annotated[Optional[list[str]], typer.Option("--horizon", "-H", metavar="STEPS|DURATION", help="Forecast horizon, steps (3) or a duration (500ms, 2s, 15min); repeat for several.")]
ConfigOpt = Annotated[Optional[Path], typer.Option("--config", exists=True, dir_okay=False, readable=True, metavar="FILE", help="TOML file with [data] and [model] tables; flags override it.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or tables; for scheduled jobs.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks of unexpected errors.")]
OutOpt = Annotated[Optional[str], typer.Option("--out", "-o", metavar="FILE", help="Write forecasts here (.csv, .parquet or .json); '-' writes CSV to standard output.")]
AdapterOpt = Annotated[Optional[str], typer.Option("--adapter", metavar="NAME", help="Read DATA with a dataset adapter: 'ais' (MarineCadastre, aisdk or tsgate AIS CSV) or 'table' (default).")]


# ---------------------------------------------------------------- plumbing
def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _fail(msg: str, code: int = 2) -> None:
    sys.stderr.write(f"tsgate: error: {msg}\n")
    raise typer.Exit(code)


def _run(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a library call; TsgateError → one line + exit 2, other errors → exit 1."""
    from tsgate.exceptions import OnlineUpdateError, TsgateError

    try:
        return fn(*args, **kwargs)
    except typer.Exit:
        raise
    except OnlineUpdateError as exc:
        if _STATE["debug"]:
            traceback.print_exc()
        _fail(str(exc), 1)
    except TsgateError as exc:
        if _STATE["debug"]:
            traceback.print_exc()
        _fail(str(exc), 2)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as exc:  # unexpected: keep it short unless --debug
        if _STATE["debug"]:
            traceback.print_exc()
        _fail(f"{type(exc).__name__}: {exc} (run again with --debug for the traceback)", 1)


def _set_flags(quiet: bool, debug: bool) -> None:
    _STATE["quiet"], _STATE["debug"] = quiet, debug
    if quiet:
        import logging
        import warnings

        # lightning.pytorch resets its own level to INFO when it is imported (later, lazily);
        # its messages go through these child loggers, whose level it leaves alone
        for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
            logging.getLogger(name).setLevel(logging.ERROR)
        warnings.filterwarnings("ignore")


def _load_config(path: Optional[Path]) -> dict[str, Any]:
    if path is None:
        return {}
    from tsgate.exceptions import ConfigError

    try:
        cfg = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}).") from None
    unknown = set(cfg) - {"data", "model", "evaluate"}
    if unknown:
        raise ConfigError(f"{path}: unknown table(s) {sorted(unknown)}; use [data], [model] and [evaluate].")
    bad = [k for k in ("data", "model", "evaluate") if k in cfg and not isinstance(cfg[k], dict)]
    if bad:
        raise ConfigError(f"{path}: {bad[0]} must be a table ([{bad[0]}]).")
    cfg["_source"] = str(path)
    return cfg


def _read_data(
    data: str,
    *,
    target: Optional[list[str]],
    time_col: Optional[str],
    id_col: Optional[str],
    adapter: Optional[str],
    cfg: dict[str, Any],
) -> Any:
    """DATA as an IrregularSeries: bundled name, file or '-' (stdin CSV)."""
    from tsgate.exceptions import ConfigError
    from tsgate import IrregularSeries

    dcfg = dict(cfg.get("data", {}))
    adapter = adapter or dcfg.pop("adapter", None) or "table"
    target = list(target) if target else dcfg.pop("targets", None)
    time_col = time_col or dcfg.pop("time_col", None)
    id_col = id_col or dcfg.pop("id_col", None)
    if adapter not in ("table", "ais"):
        raise ConfigError(f"--adapter must be 'table' or 'ais', got {adapter!r}.")
    path = Path(data)
    if data != "-" and not path.exists():
        from tsgate.datasets import dataset_names, load_dataset
        from tsgate.exceptions import DataError

        if data in dataset_names():
            return _select_targets(load_dataset(data), target)
        if path.suffix.lower() in (".csv", ".parquet", ".pq", ".txt", ".tsv") or os.sep in data:
            raise DataError("file not found; check the path.", file=data)
        raise ConfigError(
            f"DATA {data!r} is neither a file nor a bundled dataset; bundled: {', '.join(dataset_names())}."
        )
    if adapter == "ais":
        from tsgate.adapters.ais import load_ais

        return load_ais(data)
    kw: dict[str, Any] = {"time_col": time_col or "time", "target_cols": target, "id_col": id_col}
    for k in ("on_duplicate", "on_nan", "on_unsorted", "covariate_cols"):
        if k in dcfg:
            kw[k] = dcfg.pop(k)
    if dcfg:
        raise ConfigError(
            f"{cfg.get('_source', '--config')}: unknown [data] option(s) {sorted(dcfg)}; known: adapter, targets, "
            "time_col, id_col, on_duplicate, on_nan, on_unsorted, covariate_cols."
        )
    if data == "-":
        df = _read_stdin_csv(io.StringIO(sys.stdin.read()))
        return IrregularSeries.from_frame(df, source="<stdin>", first_row=2, **kw)
    return IrregularSeries.read(path, **kw)


def _select_targets(series: Any, target: Optional[list[str]]) -> Any:
    """A bundled dataset restricted to the --target columns (all of its targets by default)."""
    if not target or list(target) == list(series.targets):
        return series
    from tsgate import IrregularSeries

    return IrregularSeries.from_frame(
        series.to_frame(),
        time_col="time",
        id_col="series",
        target_cols=list(target),
        covariate_cols=list(series.covariates),
        static_cols=list(series.static),
        segment_col="segment",
        units={k: v for k, v in series.units.items() if k in target},
        source=series.source,
        meta=series.meta,
    )


def _read_stdin_csv(buf: io.StringIO) -> Any:
    import pandas as pd

    from tsgate.exceptions import DataError

    try:
        return pd.read_csv(buf)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"cannot be read as CSV ({str(exc).strip().splitlines()[-1]}).", file="<stdin>") from None


def _check_out(out: Optional[str]) -> None:
    """Refuse a bad --out before any work is done."""
    from tsgate.exceptions import ConfigError

    if out is None or out == "-":
        return
    p = Path(out)
    if p.suffix.lower() not in (".csv", ".parquet", ".json"):
        raise ConfigError(f"--out {out!r}: use a .csv, .parquet or .json file name, or '-'.")
    if not p.parent.is_dir():
        raise ConfigError(f"--out {out!r}: folder {p.parent} does not exist.")


def _write_frame(df: Any, out: str) -> None:
    """Write a frame by extension, atomically (temp file in the same folder + rename)."""
    if out == "-":
        df.to_csv(sys.stdout, index=False)
        return
    _check_out(out)
    p = Path(out)
    ext = p.suffix.lower()
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    os.close(fd)
    try:
        if ext == ".csv":
            df.to_csv(tmp, index=False)
        elif ext == ".parquet":
            df.to_parquet(tmp, index=False)
        else:
            df.to_json(tmp, orient="records", date_format="iso", indent=1, double_precision=15)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _print_table(df: Any, title: str, max_rows: int = 40) -> None:
    if _STATE["quiet"]:
        return
    from rich.table import Table

    t = Table(title=title)
    for c in df.columns:
        t.add_column(str(c), justify="right" if df[c].dtype.kind in "fiu" else "left")
    shown = df if len(df) <= max_rows else df.tail(max_rows)
    for row in shown.itertuples(index=False):
        t.add_row(*[f"{v:.4g}" if isinstance(v, float) else str(v) for v in row])
    con = _console()
    con.print(t)
    if len(df) > max_rows:
        con.print(f"({len(df) - max_rows} earlier rows not shown; use --out to keep them all)")


def _model_params(cfg: dict[str, Any], **flags: Any) -> dict[str, Any]:
    """[model] table of the config, overridden by the flags that were given."""
    from tsgate.exceptions import ConfigError
    from tsgate import GatedLSTMForecaster

    params = dict(cfg.get("model", {}))
    known = set(GatedLSTMForecaster().get_params())
    unknown = sorted(set(params) - known)
    if unknown:
        raise ConfigError(
            f"{cfg.get('_source', '--config')}: unknown [model] option(s) {unknown}; "
            f"GatedLSTMForecaster takes {', '.join(sorted(known))}."
        )
    for k, v in flags.items():
        if v is not None and v != []:
            params[k] = v
    return params


def _check_horizons(horizons: Any) -> None:
    """Refuse bad --horizon values before reading data or training."""
    from tsgate import parse_horizons

    if horizons:
        parse_horizons(horizons)


# ---------------------------------------------------------------- commands
@app.callback()
def _root() -> None:
    """tsgate command line."""


@app.command()
def datasets(
    report: Annotated[Optional[str], typer.Option("--report", help="Print the repair report of this dataset.")] = None,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """List the bundled real datasets (size, source, license), or print one's repair report.

    Example: tsgate datasets --report extmarker-10hz-seq3
    """
    _set_flags(quiet, debug)
    from tsgate import datasets as ds

    if report:
        rep = _run(ds.dataset_report, report)
        print(rep)
        return
    df = _run(ds.list_datasets)
    if quiet:
        df.to_csv(sys.stdout, index=False)  # every column, credits included, for scripts
    else:
        cols = [c for c in ("name", "series", "rows", "size_mb", "license") if c in df.columns]
        _print_table(df[cols], "Bundled datasets", max_rows=100)
        _console().print(
            "Sources and credits: datasets/*/README.md, or `tsgate datasets --quiet` (CSV with every column)."
        )


@app.command()
def fit(
    data: DataArg,
    model: Annotated[Path, typer.Option("--model", "-m", metavar="DIR", help="Directory to write the model to (created; replaced atomically).")],
    cell: Annotated[Optional[str], typer.Option("--cell", help="wmc | glstm | lstm | gru | convrnn | rnn")] = None,
    target: TargetOpt = None,
    time_col: TimeOpt = None,
    id_col: IdOpt = None,
    horizon: HorizonOpt = None,
    window: Annotated[Optional[int], typer.Option("--window", min=1, help="Input length in observations.")] = None,
    hidden: Annotated[Optional[int], typer.Option("--hidden", min=1, help="Hidden units.")] = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs", min=1, help="Maximum training epochs.")] = None,
    max_gap: Annotated[Optional[str], typer.Option("--max-gap", help="Drop duration targets bracketed by a wider gap, e.g. 2s.")] = None,
    train_rows: Annotated[Optional[int], typer.Option("--train-rows", min=1, help="Fit on the first N rows of each series only.")] = None,
    config: ConfigOpt = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Random seed.")] = None,
    adapter: AdapterOpt = None,
    log_dir: Annotated[Optional[Path], typer.Option("--log-dir", help="Lightning CSV logs go here (default: no logs).")] = None,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Fit a gated forecaster on DATA and save it to --model.

    Example: tsgate fit extmarker-10hz-seq1 --model m1 --cell wmc --horizon 0.5s --horizon 1s
    """
    _set_flags(quiet, debug)
    cfg = _run(_load_config, config)
    params = _run(
        _model_params,
        cfg,
        cell=cell,
        horizons=horizon,
        window=window,
        hidden_size=hidden,
        max_epochs=epochs,
        max_gap=max_gap,
        seed=seed,
    )
    _run(_check_horizons, params.get("horizons"))
    series = _run(_read_data, data, target=target, time_col=time_col, id_col=id_col, adapter=adapter, cfg=cfg)
    if train_rows:
        series = series.split(train=int(train_rows))[0]
    params.setdefault("progress", not quiet)
    params["logger"] = "csv" if log_dir else None
    params["log_dir"] = str(log_dir) if log_dir else None
    from tsgate import GatedLSTMForecaster

    est = _run(lambda: GatedLSTMForecaster(**params))
    _run(est.fit, series)
    _run(est.save, model)
    if not quiet:
        con = _console()
        con.print(
            f"Fitted {est.cell} on {series.n_series} series ({len(series)} rows): {est.n_epochs_} epochs, "
            f"{est.n_train_windows_} training windows, best validation loss {est.best_val_loss_:.4g}, "
            f"{est.fit_time_s_:.1f} s. Saved to {model}."
        )


def _load_model(path: Path) -> Any:
    from tsgate import load

    return load(path)


def _model_and_data(
    model: Path, data: str, out: Optional[str], target: Optional[list[str]], time_col: Optional[str],
    id_col: Optional[str], adapter: Optional[str], config: Optional[Path],
) -> tuple[Any, Any]:
    """Check --out, load the model, then read DATA with the model's targets (unless --target)."""
    _run(_check_out, out)
    cfg = _run(_load_config, config)
    est = _run(_load_model, model)
    tcols = target or list(est.targets_)
    series = _run(_read_data, data, target=tcols, time_col=time_col, id_col=id_col, adapter=adapter, cfg=cfg)
    return est, series


@app.command()
def forecast(
    model: Annotated[Path, typer.Argument(metavar="MODEL", help="Model directory written by `tsgate fit`.")],
    data: DataArg,
    out: OutOpt = None,
    all_origins: Annotated[bool, typer.Option("--all-origins", help="Forecast from every observation, not only the last of each series.")] = False,
    target: TargetOpt = None,
    time_col: TimeOpt = None,
    id_col: IdOpt = None,
    adapter: AdapterOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Forecast every horizon from the last observation of each series in DATA.

    Example: tsgate forecast m1 extmarker-10hz-seq1 --out forecasts.parquet
    """
    _set_flags(quiet, debug)
    est, series = _model_and_data(model, data, out, target, time_col, id_col, adapter, config)
    fc = _run(est.predict, series, origins="all" if all_origins else "last")
    if out:
        _run(_write_frame, fc, out)
    if out != "-":
        _print_table(fc, f"Forecasts ({len(fc)} rows)")


@app.command()
def update(
    model: Annotated[Path, typer.Argument(metavar="MODEL", help="Model directory; saved back atomically after the update.")],
    data: DataArg,
    out: OutOpt = None,
    target: TargetOpt = None,
    time_col: TimeOpt = None,
    id_col: IdOpt = None,
    adapter: AdapterOpt = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Learn online from new observations in DATA, forecasting along the way; save the model back.

    Example: tsgate update m1 new_rows.csv --out forecasts.csv
    """
    _set_flags(quiet, debug)
    est, series = _model_and_data(model, data, out, target, time_col, id_col, adapter, config)
    fc = _run(est.update, series)
    # forecasts first, then the model: a kill between the two re-runs the update next time,
    # which the model refuses (rows already seen) — never a model ahead of its forecasts
    if out:
        _run(_write_frame, fc, out)
    _run(est.save, model)
    if out != "-":
        _print_table(fc, f"Forecasts made during the update ({len(fc)} rows)")


@app.command()
def evaluate(
    data: DataArg,
    models: Annotated[str, typer.Option("--models", help="Comma-separated: gated, online, arima, linear, persistence, drift, dead-reckoning.")] = "gated,linear,persistence",
    horizon: HorizonOpt = None,
    report: Annotated[Optional[Path], typer.Option("--report", help="Write the report (tables, plots, HTML) to this folder.")] = None,
    cell: Annotated[Optional[str], typer.Option("--cell", help="Cell of the gated model.")] = None,
    window: Annotated[Optional[int], typer.Option("--window", min=1)] = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs", min=1)] = None,
    train: Annotated[float, typer.Option("--train", help="Training part of each series: fraction (0.6) or row count (300).")] = 0.6,
    val: Annotated[float, typer.Option("--val", help="Validation part: fraction or row count.")] = 0.2,
    refit: Annotated[str, typer.Option("--refit", help="once | online | N (refit every N origins).")] = "once",
    target: TargetOpt = None,
    time_col: TimeOpt = None,
    id_col: IdOpt = None,
    adapter: AdapterOpt = None,
    config: ConfigOpt = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Backtest models on DATA (rolling origin, forward only) and print per-horizon metrics.

    Example: tsgate evaluate extmarker-10hz-seq1 --models gated,linear,persistence --horizon 0.5s --horizon 1s --report rep
    """
    _set_flags(quiet, debug)
    cfg = _run(_load_config, config)
    ecfg = dict(cfg.get("evaluate", {}))
    horizons = list(horizon) if horizon else ecfg.get("horizons") or cfg.get("model", {}).get("horizons")
    if not horizons:
        _fail("give at least one --horizon (e.g. --horizon 0.5s).")
    _run(_check_horizons, horizons)
    gated_params = _run(_model_params, cfg, cell=cell, window=window, max_epochs=epochs, seed=seed)
    series = _run(_read_data, data, target=target, time_col=time_col, id_col=id_col, adapter=adapter, cfg=cfg)
    from tsgate.evaluation import backtest

    built = _run(_build_models, [m.strip() for m in models.split(",") if m.strip()], horizons, gated_params, series)
    refit_v: Any = int(refit) if refit.isdigit() else refit
    tr: Any = int(train) if train >= 1 else train
    va: Any = int(val) if val >= 1 else val
    res = _run(backtest, built, series, horizons=horizons, train=tr, val=va, refit=refit_v, progress=not quiet)
    summary = res.summary()
    _print_table(summary.reset_index() if hasattr(summary, "reset_index") else summary, f"Backtest: MAE per horizon ({', '.join(sorted(set(series.units.values()))) or 'data units'}, per coordinate)", max_rows=200)
    if report:
        from tsgate.evaluation import write_report

        _run(write_report, res, report)
        if not quiet:
            _console().print(f"Report written to {report}")
    if getattr(res, "failures", None) is not None and len(res.failures) and not quiet:
        _console(stderr=True).print(f"{len(res.failures)} model/series failures, see the report.")


def _build_models(names: list[str], horizons: list[str], gated: dict[str, Any], series: Any) -> dict[str, Any]:
    from tsgate import baselines as b
    from tsgate.exceptions import ConfigError
    from tsgate import GatedLSTMForecaster

    window = int(gated.get("window", 32))
    out: dict[str, Any] = {}
    for n in names:
        if n == "gated":
            p = {"progress": False, "logger": None, **gated, "horizons": horizons}
            out[f"gated-{p.get('cell', 'wmc')}"] = GatedLSTMForecaster(**p)
        elif n == "online":
            from tsgate import OnlineRNNForecaster

            out["online-uoro"] = OnlineRNNForecaster(horizons=horizons)
        elif n == "arima":
            out["arima"] = b.ARIMAForecaster(horizons=horizons)
        elif n == "linear":
            # short lags + ridge: 32 lags x 9 targets by OLS is underdetermined on 300 rows
            out["linear"] = b.LinearARForecaster(window=min(window, 10), horizons=horizons, alpha=1.0)
        elif n == "persistence":
            out["persistence"] = b.PersistenceForecaster(horizons=horizons)
        elif n == "drift":
            out["drift"] = b.DriftForecaster(window=window, horizons=horizons)
        elif n == "dead-reckoning":
            out["dead-reckoning"] = b.DeadReckoningForecaster(horizons=horizons)
        else:
            raise ConfigError(
                f"--models: unknown model {n!r}; choose from gated, online, arima, linear, persistence, drift, dead-reckoning."
            )
    return out


@app.command()
def info(
    model: Annotated[Path, typer.Argument(metavar="MODEL", help="Model directory.")],
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Show what a model directory holds (estimator, parameters, targets, horizons, online state).

    Example: tsgate info m1
    """
    _set_flags(quiet, debug)
    from tsgate.estimators.persistence import read_model_dir

    desc, arrays = _run(read_model_dir, model)
    con = _console()
    fitted = desc.get("fitted", {})
    con.print(f"[bold]{desc.get('estimator')}[/bold] (tsgate {desc.get('tsgate_version')}, schema {desc.get('schema_version')}, saved {desc.get('saved_at')})")
    con.print(f"targets: {fitted.get('targets')}  units: {fitted.get('units')}  time: {fitted.get('time_kind')}")
    con.print(f"horizons: {[h[2] for h in fitted.get('horizons', [])]}")
    con.print(f"series seen: {len(fitted.get('last_time', []))}")
    state = fitted.get("state", {})
    if "n_online_updates" in state:
        con.print(f"online updates so far: {state['n_online_updates']}")
    con.print("parameters: " + ", ".join(f"{k}={v!r}" for k, v in sorted(desc.get("params", {}).items())))
    n = sum(int(a.size) for k, a in arrays.items() if k.startswith("state/net/"))
    con.print(f"arrays: {len(arrays)} ({n} network weights)")


def main() -> None:
    """Console entry point."""
    app()


if __name__ == "__main__":
    main()
