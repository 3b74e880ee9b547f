"""Reading DATA (a file, standard input or a bundled dataset) and writing forecast files.

How DATA is read decides which options apply:

- a bundled dataset name: its own adapter; ``--target`` selects targets, ``--time-col``,
  ``--id-col`` and ``--adapter`` do not apply;
- ``--adapter table`` (default): a long-format CSV or parquet file, or CSV on standard input;
  every option applies;
- ``--adapter ais``: an AIS CSV file (``tsgate.load_ais``); ``--target`` selects among the
  adapter's targets, ``--time-col`` and ``--id-col`` do not apply (the AIS layouts fix them).

An option or [data] key that does not apply is refused, never ignored.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from tsgate.cli.config import DATA_KEYS, Config, check_keys
from tsgate.cli.options import DataOptions
from tsgate.fileio import atomic_write

__all__ = ["read_data", "check_out", "write_frame", "read_model_description"]

ADAPTERS = ("table", "ais")
_TABLE_SUFFIXES = (".csv", ".parquet", ".pq", ".txt", ".tsv")
_WHY = {
    "bundled": "a bundled dataset is read by its own adapter, with fixed columns",
    "ais": "the AIS layouts fix the time, vessel and position columns",
}


def read_data(data: str, opts: DataOptions, cfg: Config, *, default_targets: list[str] | None = None) -> Any:
    """DATA as an ``IrregularSeries``; ``default_targets`` apply when neither --target nor [data] targets say."""
    from tsgate import ConfigError

    table = dict(cfg.data)
    adapter_cfg = table.pop("adapter", None)
    adapter = opts.adapter or adapter_cfg or "table"
    if adapter not in ADAPTERS:
        raise ConfigError(f"--adapter must be one of {', '.join(ADAPTERS)}, got {adapter!r}.")
    targets = list(opts.target) if opts.target else table.pop("targets", None) or default_targets
    kind = _kind(data, adapter)
    if kind == "bundled" and (opts.adapter or adapter_cfg):
        given = "--adapter" if opts.adapter else f"{cfg.source}: [data] adapter"
        raise ConfigError(f"{given} does not apply to DATA {data!r}: {_WHY['bundled']}. Remove it.")
    if kind != "table":
        _refuse_flags(opts, data, kind)
        check_keys(table, DATA_KEYS[kind], f"{cfg.source}: [data]", f" for {_label(data, kind)}")
    if kind == "bundled":
        from tsgate import load_dataset

        return _select_targets(load_dataset(data), targets)
    if kind == "ais":
        from tsgate import load_ais

        if "origin" in table and isinstance(table["origin"], list):
            table["origin"] = tuple(table["origin"])
        return _select_targets(load_ais(data, **table), targets)
    check_keys(table, DATA_KEYS["table"], f"{cfg.source}: [data]", " for table files")
    time_cfg, id_cfg = table.pop("time_col", None), table.pop("id_col", None)
    kw: dict[str, Any] = {
        **table,
        "time_col": opts.time_col or time_cfg or "time",
        "id_col": opts.id_col or id_cfg,
        "target_cols": targets,
    }
    from tsgate import IrregularSeries

    if data == "-":
        from tsgate.data.tables import STDIN, read_table

        return IrregularSeries.from_frame(read_table("-"), source=STDIN, first_row=2, **kw)
    return IrregularSeries.read(Path(data), **kw)


def _kind(data: str, adapter: str) -> str:
    """'bundled', 'table' or 'ais'; refuses a DATA that is neither a file nor a dataset."""
    from tsgate import ConfigError, DataError
    from tsgate.datasets import dataset_names

    if data == "-":
        if adapter == "ais":
            raise ConfigError("--adapter ais reads a file, not standard input ('-'); save the data to a file first.")
        return "table"
    if Path(data).exists():
        return adapter
    if data in dataset_names():
        return "bundled"
    if Path(data).suffix.lower() in _TABLE_SUFFIXES or os.sep in data:
        raise DataError("file not found; check the path.", file=data)
    raise ConfigError(f"DATA {data!r} is neither a file nor a bundled dataset; bundled: {', '.join(dataset_names())}.")


def _label(data: str, kind: str) -> str:
    return f"the bundled dataset {data!r}" if kind == "bundled" else f"--adapter {kind}"


def _refuse_flags(opts: DataOptions, data: str, kind: str) -> None:
    from tsgate import ConfigError

    for flag, value in (("--time-col", opts.time_col), ("--id-col", opts.id_col)):
        if value is not None:
            raise ConfigError(f"{flag} does not apply to {_label(data, kind)}: {_WHY[kind]}. Remove {flag}.")


def _select_targets(series: Any, targets: list[str] | None) -> Any:
    """``series`` restricted to ``targets`` (all of its targets by default)."""
    if not targets or list(targets) == list(series.targets):
        return series
    from tsgate import ConfigError, IrregularSeries

    missing = [t for t in targets if t not in series.targets]
    if missing:
        raise ConfigError(
            f"target {missing[0]!r} is not in {series.source or 'the data'}: its targets are "
            f"{list(series.targets)}; choose among them with --target."
        )
    return IrregularSeries.from_frame(
        series.to_frame(),
        time_col="time",
        id_col="series",
        target_cols=list(targets),
        covariate_cols=list(series.covariates),
        static_cols=list(series.static),
        segment_col="segment",
        units={k: v for k, v in series.units.items() if k in targets},
        source=series.source,
        meta=series.meta,
    )


def check_out(out: str | None) -> None:
    """Refuse a bad --out before any work is done."""
    from tsgate import ConfigError

    if out is None or out == "-":
        return
    p = Path(out)
    if p.suffix.lower() not in (".csv", ".parquet", ".json"):
        raise ConfigError(f"--out {out!r}: use a .csv, .parquet or .json file name, or '-'.")
    if not p.parent.is_dir():
        raise ConfigError(f"--out {out!r}: folder {p.parent} does not exist.")
    if p.is_dir():
        raise ConfigError(f"--out {out!r} is a folder; name a file in it (e.g. {p / 'forecasts.csv'}).")
    if not os.access(p.parent, os.W_OK | os.X_OK):
        raise ConfigError(f"--out {out!r}: folder {p.parent} is not writable; check its permissions or choose another folder.")


def write_frame(df: Any, out: str) -> None:
    """Write a frame by extension, atomically; '-' writes CSV to standard output."""
    if out == "-":
        df.to_csv(sys.stdout, index=False)
        return
    check_out(out)
    ext = Path(out).suffix.lower()
    if ext == ".csv":
        atomic_write(out, lambda tmp: df.to_csv(tmp, index=False))
    elif ext == ".parquet":
        atomic_write(out, lambda tmp: df.to_parquet(tmp, index=False))
    else:
        atomic_write(out, lambda tmp: df.to_json(tmp, orient="records", date_format="iso", indent=1, double_precision=15))


def read_model_description(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """A model directory's description and arrays, checked, without building the estimator (no torch)."""
    from tsgate.estimators.persistence import read_model_dir

    return read_model_dir(path)
