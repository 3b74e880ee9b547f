"""``tsgate check``: validate a data file the way fit would read it, and say what it found.

Nothing is fitted and torch is never imported. The output is the repair report (per reason,
then per series with the file's line numbers) and the inferred schema: adapter, time column and
kind, id column, targets, covariates, policies, and per series its rows, span and median
interval. What fit would refuse exits 2 with the one-line error fit would give.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from tsgate.cli.config import load_config
from tsgate.cli.data_io import read_data
from tsgate.cli.errors import Flags
from tsgate.cli.options import DataArg, DataOptions, command

__all__ = ["check", "print_check", "schema_lines"]


@command(data=True)
def check(
    data: DataArg,
    model: Annotated[Optional[Path], typer.Option("--model", "-m", metavar="DIR", help="Check DATA against this model: read it with the model's data schema and compare targets, covariates and kind of time. [default: no model]")] = None,
    *,
    data_opts: DataOptions,
    flags: Flags,
) -> None:
    """Validate DATA with the adapter and policies given; print the repair report and the schema.

    The repair report lists every repaired or dropped row per reason, with the file's line
    numbers (header = line 1). Exit codes: 0 the data would be accepted (repairs included); 2 it
    would be refused: one line on stderr naming the file, column and row, and what to do.

    Example: tsgate check my.csv --time-col t --id-col sid --on-duplicate mean
    """
    print_check(data, data_opts, flags, model)


def print_check(data: str, data_opts: DataOptions, flags: Flags, model: Path | None = None) -> None:
    """Read DATA (with a model's schema when given), then print its repair report and schema."""
    if model is not None:
        from tsgate.cli.model_io import read_for_model

        series = read_for_model(model, data, data_opts)[2]
    else:
        series = read_data(data, data_opts, load_config(data_opts.config))
    if flags.quiet:
        return
    print(series.report)
    print()
    print("\n".join(schema_lines(series)))
    if model is not None:
        print(f"matches the model in {model}: same targets, covariates and kind of time.")


def schema_lines(series: Any) -> list[str]:
    """The inferred schema of a series, one ``key: value`` line each, then one line per series."""
    from tsgate.data.schema import data_schema

    s = data_schema(series)
    lines = [f"Schema of {series.source or 'DATA'}:", f"  adapter: {s.get('adapter')}"]
    if s.get("dataset"):
        lines.append(f"  dataset: {s['dataset']}")
    if s.get("adapter") == "table":
        lines.append(f"  time column: {s.get('time_col')!r} ({'UTC timestamps' if s['time_kind'] == 'datetime' else 'seconds'})")
        lines.append(f"  id column: {s.get('id_col')!r}" + ("" if s.get("id_col") is not None else " (one series)"))
        if s.get("segment_col") is not None:
            lines.append(f"  segment column: {s['segment_col']!r}")
        lines.append("  policies: " + ", ".join(f"{k}={v}" for k, v in (s.get("policies") or {}).items()))
    else:
        lines.append(f"  times: {'UTC timestamps' if s['time_kind'] == 'datetime' else 'seconds'}")
        opts = s.get("options") or {}
        if opts:
            lines.append("  options: " + ", ".join(f"{k}={v!r}" for k, v in opts.items()))
    units = s.get("units") or {}
    for key in ("targets", "covariates", "static"):
        cols = s.get(key) or []
        shown = ", ".join(f"{c} [{units[c]}]" if units.get(c) else str(c) for c in cols) or "none"
        lines.append(f"  {key}: {shown}")
    if s.get("ignored"):
        lines.append(f"  ignored: {', '.join(map(repr, s['ignored']))} (an unnamed index column, not a target)")
    desc = series.describe()
    lines.append(f"  {series.n_series} series, {len(series)} rows:")
    for row in desc.head(20).itertuples(index=False):
        lines.append(
            f"    {row.series}: {row.rows} rows, {row.segments} segment(s), {row.start} to {row.end}, "
            f"span {row.span_s:.6g} s, median interval {row.median_dt_s:.6g} s"
        )
    if len(desc) > 20:
        lines.append(f"    ... {len(desc) - 20} more series")
    return lines
