"""``tsgate evaluate`` on AIS tracks: the benchmark's protocol and its table, in metres.

Goes through :func:`tsgate.evaluation.positions.evaluate_positions`, the function
``benchmarks/ais.py`` calls: strict intersection of (origin, horizon) pairs over all models,
mean Euclidean position error (m), ``--stride`` / ``--max-gap`` / ``--cut`` as options; and
the failure summary every ``tsgate evaluate`` prints (exit 3 when a model forecast nothing).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tsgate.cli import render
import numpy as np

from tsgate.cli.errors import Flags, fail

__all__ = ["evaluate_ais", "failures"]


def evaluate_ais(models: dict[str, Any], series: Any, horizons: list[str], settings: dict[str, Any], *,
                 stride: int | None, max_gap: str | None, cut: str | None, report: Path | None, flags: Flags,
                 json_path: Path | None = None, dataset: str = "data") -> None:
    from tsgate import ConfigError
    from tsgate.evaluation import write_report
    from tsgate.evaluation.positions import evaluate_positions

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
    if json_path is not None:
        from tsgate.cli.results_json import positions_json, write_json

        write_json(json_path, dataset, positions_json(r))
        if not flags.quiet:
            render.console().print(f"Scores written to {json_path}")
    failures(r.result, flags)


def failures(res: Any, flags: Flags) -> None:
    """Failures to stderr, counted per model; exit 3 when a model produced no forecast at all."""
    from tsgate.cli.errors import EXIT_NO_FORECAST

    fails = res.failures
    if len(fails) and not flags.quiet:
        counts = fails.groupby(["model", "kind"]).size()
        lines = ", ".join(f"{m}: {n} {k}" for (m, k), n in counts.items())
        render.console(stderr=True).print(f"{len(fails)} model/series failures ({lines}); see the report.")
    empty = [m for m in res.model_names if not np.isfinite(res.arrays["preds"][m]).any()]
    if empty:
        fail(f"model(s) {', '.join(empty)} produced no forecast at all; see the failures above "
             "(too little data for their windows or horizons?).", EXIT_NO_FORECAST)
