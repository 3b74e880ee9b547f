"""``tsgate evaluate --json PATH``: the scores of one run as a small JSON file, written atomically.

AIS tracks: ``{dataset: {model: {horizon: mean_error_m}}}`` (mean Euclidean position error in
metres on the strict intersection of (origin, horizon) pairs, the numbers of the printed table
and of ``benchmarks/ais.py --json``). Other data: ``{dataset: {model: {horizon: {target: mae}}}}``,
the mean absolute error per target column in the data's units, over the scored pairs. ``null``
where a model has no score. The file replaces PATH only once it is complete
(:func:`tsgate.fileio.write_text`), so a failed or killed run never leaves half a file.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["positions_json", "backtest_json", "check_json_path", "write_json"]


def _num(v: Any) -> float | None:
    v = float(v)
    return float(f"{v:.6g}") if math.isfinite(v) else None  # six significant digits: mm and km alike


def positions_json(result: Any) -> dict[str, dict[str, float | None]]:
    """``{model: {horizon: mean error in m}}`` of a :class:`~tsgate.evaluation.positions.PositionResult`."""
    return {str(m): {str(h): _num(v) for h, v in row.items()} for m, row in result.errors.iterrows()}


def backtest_json(res: Any) -> dict[str, dict[str, dict[str, float | None]]]:
    """``{model: {horizon: {target: mae}}}`` of a :class:`~tsgate.evaluation.result.BacktestResult`."""
    org, preds, scored = res.arrays["origins"], res.arrays["preds"], res.arrays["scored"]
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for name in res.model_names:
        err = np.abs(preds[name] - org["y"])  # [n, H, k]
        per_h = {}
        for k, h in enumerate(res.horizons):
            row = {}
            for j, t in enumerate(res.targets):
                e = err[scored[:, k], k, j]
                e = e[np.isfinite(e)]
                row[str(t)] = _num(e.mean()) if len(e) else None
            per_h[str(h)] = row
        out[str(name)] = per_h
    return out


def check_json_path(path: Path) -> None:
    """Refuse a ``--json`` path that cannot be written, before any data is read or model fitted."""
    from tsgate import ConfigError

    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"--json {path}: is a folder; give a file name such as {path / 'scores.json'}.")
    if not path.parent.is_dir():
        raise ConfigError(f"--json {path}: the folder {path.parent} does not exist; create it or choose another path.")


def write_json(path: Path, dataset: str, scores: dict[str, Any]) -> None:
    """Write ``{dataset: scores}`` to ``path`` atomically."""
    from tsgate.fileio import write_text

    check_json_path(path)
    write_text(path, json.dumps({dataset: scores}, indent=1) + "\n")
