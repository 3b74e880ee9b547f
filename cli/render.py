"""What the commands print on the terminal (rich), and nothing else."""

from __future__ import annotations

from typing import Any

from tsgate.cli.errors import Flags

__all__ = ["console", "print_table", "print_lines", "data_summary", "print_data_summary", "print_fit_summary", "print_model_info", "print_job_status"]


def console(stderr: bool = False) -> Any:
    """A rich console without syntax highlighting (plain numbers stay plain)."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def print_table(df: Any, title: str, flags: Flags, max_rows: int = 40) -> None:
    """A frame as a table on stdout (the last ``max_rows`` rows); nothing with --quiet."""
    if flags.quiet:
        return
    from rich.table import Table

    t = Table(title=title)
    for c in df.columns:
        t.add_column(str(c), justify="right" if df[c].dtype.kind in "fiu" else "left")
    shown = df if len(df) <= max_rows else df.tail(max_rows)
    for row in shown.itertuples(index=False):
        t.add_row(*[f"{v:.4g}" if isinstance(v, float) else str(v) for v in row])
    con = console()
    con.print(t)
    if len(df) > max_rows:
        con.print(f"({len(df) - max_rows} earlier rows not shown; use --out to keep them all)")


def print_lines(rows: list[tuple[str, ...]]) -> None:
    """Rows of text as aligned columns, one line each (the last column is not padded)."""
    if not rows:
        return
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join([c.ljust(w) for c, w in zip(r, widths)] + [r[-1]]).rstrip())


def _names(cols: Any, units: dict[str, str]) -> str:
    cols = list(cols)
    if not cols:
        return "none"
    shown = ", ".join(map(str, cols[:12])) + (f", ... ({len(cols)} in all)" if len(cols) > 12 else "")
    u = sorted({units[c] for c in cols if units.get(c)})
    return shown + (f" [{', '.join(u)}]" if u else "")


def data_summary(series: Any) -> list[str]:
    """What was read: source, series and rows, time column, targets, covariates, repairs."""
    read = series.meta.get("schema") or {}
    if read.get("adapter", "table") == "table" and read.get("time_col") is not None:
        time = f"column {read['time_col']!r}"
        ids = f", series from column {read['id_col']!r}" if read.get("id_col") is not None else ", one series (no id column)"
    else:
        time, ids = f"from the {read.get('adapter', 'adapter')} adapter", ""
    kind = "UTC timestamps" if series.time_kind == "datetime" else "seconds"
    lines = [
        f"Data: {series.meta.get('dataset') or series.source or 'DATA'}: {series.n_series} series, {len(series)} rows; time: {kind} ({time}){ids}",
        f"  targets ({len(series.targets)}): {_names(series.targets, series.units)}",
        f"  covariates: {_names(series.covariates, series.units)}" + (f"; static: {_names(series.static, series.units)}" if series.static else ""),
    ]
    if read.get("ignored"):
        lines.append(f"  ignored: {', '.join(map(repr, read['ignored']))} (an unnamed index column, not a target)")
    counts = series.report.by_reason()
    repairs = "; ".join(f"{reason}: {n}" for reason, n in counts.items()) if counts else "none"
    lines.append(f"  repairs: {repairs}" + (" (`tsgate check` lists the rows)" if counts else ""))
    return lines


def print_data_summary(series: Any, flags: Flags, *, stderr: bool = False) -> None:
    """:func:`data_summary` on the terminal (stderr when stdout carries data); nothing with --quiet."""
    if flags.quiet:
        return
    con = console(stderr=stderr)
    for line in data_summary(series):
        con.print(line, markup=False)


def print_fit_summary(est: Any, name: str, series: Any, seconds: float, path: Any, default_horizon: bool) -> None:
    """One paragraph after ``fit``: what was fitted, how, and where it went."""
    con = console()
    extra = ""
    if hasattr(est, "n_epochs_"):
        extra = (f": {est.n_epochs_} epochs, {est.n_train_windows_} training windows, best validation loss "
                 f"{est.best_val_loss_:.4g}")
    con.print(
        f"Fitted {name} ({type(est).__name__}) on {series.n_series} series ({len(series)} rows) in {seconds:.1f} s"
        f"{extra}. Saved to {path}.", markup=False,
    )
    labels = ", ".join(h.label for h in est.horizons_)
    one = [h.label for h in est.horizons_] == ["1"]
    kind = ("step ahead (observation)" if one else "steps ahead (observations)") if est.horizons_[0].kind == "steps" else "lead times"
    note = " (the default: pass --horizon for others)" if default_horizon else ""
    con.print(f"  horizons: {labels} {kind}{note}", markup=False)
    for w in est.fit_warnings_[:5]:
        where = f"series {w['series']!r}: " if w.get("series") is not None else ""
        con.print(f"  warning: {where}{w.get('message', w)}", markup=False)
    if len(est.fit_warnings_) > 5:
        con.print(f"  ... {len(est.fit_warnings_) - 5} more warnings", markup=False)


def print_model_info(desc: dict[str, Any], arrays: dict[str, Any]) -> None:
    """What a model directory holds (``tsgate info``)."""
    con = console()
    fitted = desc.get("fitted", {})
    con.print(
        f"[bold]{desc.get('estimator')}[/bold] (tsgate {desc.get('tsgate_version')}, "
        f"schema {desc.get('schema_version')}, saved {desc.get('saved_at')})"
    )
    con.print(f"targets: {fitted.get('targets')}  units: {fitted.get('units')}  time: {fitted.get('time_kind')}")
    con.print(f"horizons: {[h[2] for h in fitted.get('horizons', [])]}")
    con.print(f"series seen: {len(fitted.get('last_time', []))}")
    state = fitted.get("state", {})
    if "n_online_updates" in state:
        con.print(f"online updates so far: {state['n_online_updates']}")
    job = desc.get("job")
    if isinstance(job, dict):
        con.print(
            f"scheduled job: version {job.get('version')}, last run {job.get('last_run')}, "
            f"{len(job.get('consumed', {}))} drop(s) consumed"
        )
    con.print("parameters: " + ", ".join(f"{k}={v!r}" for k, v in sorted(desc.get("params", {}).items())))
    n = sum(int(a.size) for k, a in arrays.items() if k.startswith("state/net/"))
    con.print(f"arrays: {len(arrays)} ({n} network weights)")


def print_job_status(st: Any) -> None:
    """``tsgate job status``: one ``key: value`` line each, easy to grep."""
    lines = [
        f"lineage: {st.lineage}",
        f"model version: {st.version}",
        f"last run: {st.last_run or '(none yet)'}",
        f"drops consumed: {st.consumed}",
        f"run files in the store: {st.run_files}",
        f"interrupted run: {st.interrupted_run or '(none)'}",
    ]
    if st.waiting is not None:
        shown = ", ".join(st.waiting[:5]) + (", ..." if len(st.waiting) > 5 else "")
        lines.append(f"drops waiting: {len(st.waiting)}" + (f" ({shown})" if st.waiting else ""))
    if st.changed:
        lines.append(f"consumed drops changed since (ignored): {', '.join(st.changed)}")
    print("\n".join(lines))
