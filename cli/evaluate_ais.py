"""``tsgate evaluate`` on AIS tracks: the benchmark's protocol and its table, in metres.

Goes through :func:`tsgate.evaluation.positions.evaluate_positions`, the function
``benchmarks/ais.py`` calls: strict intersection of (origin, horizon) pairs over all models,
mean Euclidean position error (m), ``--stride`` / ``--max-gap`` / ``--cut`` as options.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tsgate.cli import render
from tsgate.cli.errors import Flags

__all__ = ["evaluate_ais"]


def evaluate_ais(models: dict[str, Any], series: Any, horizons: list[str], settings: dict[str, Any], *,
                 stride: int | None, max_gap: str | None, cut: str | None, report: Path | None, flags: Flags) -> None:
    from tsgate import ConfigError
    from tsgate.evaluation import write_report
    from tsgate.evaluation.positions import evaluate_positions
    from tsgate.cli.evaluate import failures

    if settings["val"]:
        raise ConfigError("--val does not apply to AIS tracks (the vessel model calibrates on its own training part); remove it.")
    if not isinstance(settings["train"], float):
        raise ConfigError(f"--train: a fraction of each vessel's reports for AIS tracks (0.5), got {settings['train']!r}.")
    r = evaluate_positions(models, series, horizons=horizons, train=settings["train"], stride=stride or 3,
                           max_gap=max_gap or "10min", cut=cut or "series", progress=not flags.quiet)
    tab = r.errors.round(1).reset_index()
    title = (f"Mean position error (m, Euclidean east/north), {int(r.pairs.min())}-{int(r.pairs.max())} pairs per horizon "
             "scored by every model")
    render.print_table(tab, title, flags, max_rows=200)
    ratio = r.ratio.round(3).reset_index()
    render.print_table(ratio, "Ratio to the best baseline per horizon (< 1 = better)", flags, max_rows=200)
    if not flags.quiet:
        con = render.console(stderr=True)
        if r.dropped_horizons:
            con.print(f"horizons left out (fewer than 50 known targets in the training parts): {', '.join(r.dropped_horizons)}")
        dropped = {m: n for m, n in r.dropped_pairs.items() if n}
        if dropped:
            con.print("pairs with a truth but no forecast, removed from every model's score: "
                      + ", ".join(f"{m} {n}" for m, n in dropped.items()))
    if report:
        write_report(r.result, report)
        if not flags.quiet:
            render.console().print(f"Report written to {report}")
    failures(r.result, flags)
