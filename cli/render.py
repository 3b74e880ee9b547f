"""What the commands print on the terminal (rich), and nothing else."""

from __future__ import annotations

from typing import Any

from tsgate.cli.errors import Flags

__all__ = ["console", "print_table", "print_model_info", "print_job_status"]


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
