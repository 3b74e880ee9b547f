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

__all__ = ["read_data", "check_out", "write_frame", "json_records", "read_model_description"]

ADAPTERS = ("table", "ais")
_TABLE_SUFFIXES = (".csv", ".parquet", ".pq", ".txt", ".tsv")
_WHY = {
    "bundled": "a bundled dataset is read by its own adapter, with fixed columns",
    "ais": "the AIS layouts fix the time, vessel and position columns",
}


def read_data(data: str, opts: DataOptions, cfg: Config, *, schema: dict[str, Any] | None = None) -> Any:
    """DATA as an ``IrregularSeries``.

    ``schema`` is a model's data schema (:mod:`tsgate.data.schema`): what it records is the
    default for every option not given as a flag or in [data] (flags win, then the config file,
    then the schema), so new data is read like the model's training data.
    """
    from tsgate import ConfigError

    table = dict(cfg.data)
    adapter_cfg = table.pop("adapter", None)
    model_adapter = (schema or {}).get("adapter")
    adapter = opts.adapter or adapter_cfg or (model_adapter if model_adapter in ADAPTERS else None) or "table"
    if adapter not in ADAPTERS:
        raise ConfigError(f"--adapter must be one of {', '.join(ADAPTERS)}, got {adapter!r}.")
    # the model's reading options apply only when DATA is read the way the model's data was
    recorded = schema if schema is not None and model_adapter == adapter else {}
    model_targets = list(schema.get("targets") or []) if schema else []
    targets = list(opts.target) if opts.target else table.pop("targets", None) or model_targets or None
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

        kw = {**(recorded.get("options") or {}), **table}
        if opts.covariate:
            kw["covariates"] = list(opts.covariate)
        if isinstance(kw.get("origin"), list):
            kw["origin"] = tuple(kw["origin"])
        return _select_targets(load_ais(data, **kw), targets)
    check_keys(table, DATA_KEYS["table"], f"{cfg.source}: [data]", " for table files")
    return _read_table(data, opts, table, recorded, targets, model_targets)


def _read_table(
    data: str, opts: DataOptions, table: dict[str, Any], recorded: dict[str, Any], targets: list[str] | None,
    model_targets: list[str],
) -> Any:
    """A long-format file (or standard input), its columns checked against the model's schema."""
    from tsgate import IrregularSeries
    from tsgate.data.schema import POLICIES
    from tsgate.data.tables import STDIN, is_parquet, read_table

    def pick(flag: Any, key: str, schema_key: str, default: Any) -> tuple[Any, bool]:
        """(value, whether it came from the model's schema)."""
        if flag is not None:
            return flag, False
        if key in table:
            return table[key], False
        if recorded.get(schema_key) is not None:
            return recorded[schema_key], True
        return default, False

    time_col, time_rec = pick(opts.time_col, "time_col", "time_col", "time")
    id_col, id_rec = pick(opts.id_col, "id_col", "id_col", None)
    covs, cov_rec = pick(list(opts.covariate) if opts.covariate else None, "covariate_cols", "covariates", [])
    static, static_rec = pick(None, "static_cols", "static", [])
    segment_col, seg_rec = pick(None, "segment_col", "segment_col", None)
    policies = {**POLICIES, **(recorded.get("policies") or {})}
    policies.update({k: table[k] for k in POLICIES if k in table})
    policies.update(opts.policies())
    if data == "-":
        df, source, first_row = read_table("-"), STDIN, 2
    else:
        df, source = read_table(Path(data)), data
        first_row = 0 if is_parquet(data) else 2
    roles = [("time column", time_col, time_rec, "--time-col"), ("id column", id_col, id_rec, "--id-col"),
             ("segment column", segment_col, seg_rec, "[data] segment_col")]
    roles += [("covariate", c, cov_rec, "--covariate") for c in covs]
    roles += [("static covariate", c, static_rec, "[data] static_cols") for c in static]
    roles += [("target", c, bool(model_targets) and targets == model_targets, "--target") for c in targets or []]
    for role, col, from_model, flag in roles:
        if from_model and col not in df.columns:
            from tsgate import SchemaError

            raise SchemaError(
                f"has no column {col!r}, the model's {role} (recorded when it was fitted); the file has "
                f"{list(map(str, df.columns))[:20]}. Name the file's column with {flag}, or pass data "
                "laid out like the training data.",
                file=source, column=col,
            )
    return IrregularSeries.from_frame(
        df, source=source, first_row=first_row, time_col=time_col, id_col=id_col, target_cols=targets,
        covariate_cols=list(covs), static_cols=list(static), segment_col=segment_col, **policies,
    )


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

    given = [("--time-col", opts.time_col), ("--id-col", opts.id_col)]
    given += [(f"--{k.replace('_', '-')}", v) for k, v in opts.policies().items()]
    if kind == "bundled":
        given.append(("--covariate", opts.covariate))
    for flag, value in given:
        if value is not None:
            why = _WHY[kind] if not flag.startswith("--on-") else "its adapter applies its own cleaning rules"
            raise ConfigError(f"{flag} does not apply to {_label(data, kind)}: {why}. Remove {flag}.")


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
        atomic_write(out, lambda tmp: Path(tmp).write_text(json_records(df), encoding="utf-8"))


def json_records(df: Any) -> str:
    """A frame as JSON records: ISO 8601 times, null for NaN/NaT, numbers in their shortest form
    (Python's repr: 371.73, where pandas' writer gives 371.730000000000018)."""
    import json

    import numpy as np
    import pandas as pd

    cols: dict[str, list[Any]] = {}
    for c in df.columns:
        col = df[c]
        if pd.api.types.is_datetime64_any_dtype(col):
            cols[str(c)] = [None if pd.isna(v) else v.isoformat().replace("+00:00", "Z") for v in col]
        elif pd.api.types.is_float_dtype(col):
            cols[str(c)] = [None if not np.isfinite(v) else float(v) for v in col.to_numpy(dtype=np.float64)]
        else:
            cols[str(c)] = [v.item() if hasattr(v, "item") else v for v in col.tolist()]
    records = [dict(zip(cols, row)) for row in zip(*cols.values())] if cols else []
    return json.dumps(records, indent=1, ensure_ascii=False)


def read_model_description(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """A model directory's description and arrays, checked, without building the estimator (no torch)."""
    from tsgate.estimators.persistence import read_model_dir

    return read_model_dir(path)
