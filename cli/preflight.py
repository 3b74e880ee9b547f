"""Checks made before any work, the writers' model lock, and the checks of the forecasts made.

A command refuses what would fail later (an unreadable DATA file, a model folder or ``--out``
folder it cannot write, a ``fit --model`` target that is not a model directory, a bad
parameter) before it loads a model, reads data or trains: one line, exit 2, nothing done.

Every command that changes a model holds its lock (:func:`tsgate.model_lock`) while it does:
``update`` from loading the model to saving it back, so that no other writer's learning is
lost; ``fit`` while it saves. Another writer waits up to ``--wait`` seconds, then exits 75.

Forecasts are checked before they are written: an infinite value, or a target column with no
number at all, is an error naming the column and the magnitude of its data; series that give
no forecast are named in a warning, and data that gives none at all is refused.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from tsgate.cli.errors import Flags

__all__ = ["check_data_readable", "check_model_writable", "check_fit_target", "writer_lock", "check_forecasts"]


def check_data_readable(data: str) -> None:
    """Refuse a DATA path that exists but cannot be read (a folder, no read permission)."""
    if data == "-" or not os.path.exists(data):
        return  # standard input, a bundled dataset, or a missing file (refused when read)
    from tsgate import DataError

    if os.path.isdir(data):
        raise DataError("is a folder, not a file; name a CSV or parquet file.", file=data)
    try:
        with open(data, "rb") as f:
            f.read(1)
    except OSError as exc:
        raise DataError(f"cannot be read ({exc.strerror}); check its permissions.", file=data) from None


def check_model_writable(model: Path) -> None:
    """Refuse a model directory that is missing or cannot be written back (``update``)."""
    from tsgate import ModelFileError

    if not model.is_dir():
        # the loader gives the precise reason (missing, not a folder)
        return
    if not os.access(model, os.W_OK | os.X_OK):
        raise ModelFileError(
            f"model directory {model} is not writable, so the updated model could not be saved back; "
            "check its permissions, or copy the model to a folder you can write."
        )


def check_fit_target(model: Path, est: Any) -> None:
    """Refuse a ``fit --model`` target that cannot take a model, and bad parameters, before training."""
    from tsgate.estimators.persistence import check_model_target

    check_model_target(model)
    est.check_params()


def writer_lock(model: Path, wait_s: float, *, create: bool = False) -> Any:
    """The model's writer lock (a context manager); LockBusyError (exit 75) after ``wait_s`` seconds."""
    from tsgate import model_lock

    return model_lock(model, wait_s, create=create)


def check_forecasts(fc: Any, series: Any, est: Any, flags: Flags, *, what: str = "forecast", all_nan: bool = True) -> None:
    """Refuse infinite forecasts, and (``all_nan``) a target column without a single number;
    refuse data that gives no forecast; warn (unless --quiet) about series that give none."""
    import numpy as np

    from tsgate import NumericRangeError, TooShortError

    targets = list(est.targets_)
    for col in targets:
        vals = fc[col].to_numpy(dtype=np.float64) if len(fc) else np.zeros(0)
        if np.isinf(vals).any() or (all_nan and len(vals) and np.isnan(vals).all()):
            raise NumericRangeError(
                f"the model's forecasts are not finite ({_kind(vals)}); the data reaches "
                f"{_magnitude(series, col)} in magnitude. Rescale the column (other units) and refit.",
                file=series.source,
                column=col,
            )
    have = {str(s) for s in fc["series"].unique()} if len(fc) else set()
    missing = [s for s in series.series_ids if str(s) not in have]
    if not missing:
        return
    need = est.min_observations
    if len(missing) == series.n_series:
        raise TooShortError(
            f"no series gives a {what}: each needs at least {need} observations up to an origin "
            f"(the longest has {_longest(series)} rows). Give more rows per series.",
            file=series.source,
        )
    if not flags.quiet:
        shown = ", ".join(map(str, missing[:5])) + (", ..." if len(missing) > 5 else "")
        sys.stderr.write(
            f"tsgate: warning: {len(missing)} of {series.n_series} series give no {what} "
            f"(fewer than {need} observations): {shown}\n"
        )


def _kind(vals: Any) -> str:
    import numpy as np

    if np.isinf(vals).any():
        return f"{int(np.isinf(vals).sum())} infinite"
    return "all NaN"


def _magnitude(series: Any, col: str) -> str:
    import numpy as np

    v = np.abs(series.frame[col].to_numpy(dtype=np.float64))
    return f"{np.nanmax(v):.3g}" if v.size and np.isfinite(v).any() else "non-finite values"


def _longest(series: Any) -> int:
    from tsgate.data.columns import ID

    return int(series.frame.groupby(ID, sort=False).size().max()) if len(series) else 0
