"""Numeric guards of the float32 network: inputs it can compute with, and results that must be finite.

Windows are float64 (numpy); the network computes in float32, whose largest number is about
3.4e38. A value of 1e20 is representable, but its square (a variance, a squared error) is not,
and a value of 1e300 becomes infinite in the cast itself: training then "succeeds" with an
infinite loss and NaN weights. So every array is checked before the cast (:data:`FLOAT32_SAFE`),
naming the column and its magnitude, and whatever the network produces from them — the
training loss, the weights, the forecasts — must be finite, or it is a
:class:`~tsgate.exceptions.NumericRangeError`, never a saved model or an empty forecast column.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from tsgate.exceptions import NumericRangeError

__all__ = ["FLOAT32_SAFE", "check_range", "check_series_range", "check_finite_result"]

#: the largest magnitude the network takes: squares and sums of many such values stay finite in float32
FLOAT32_SAFE = 1e18


def check_range(a: np.ndarray, names: Sequence[str], *, what: str = "values", file: Any = None) -> None:
    """Refuse values the float32 network cannot compute with; ``a`` is [..., d], ``names`` its d columns."""
    if a.size == 0 or float(np.abs(a).max()) <= FLOAT32_SAFE:  # the common case, one pass
        return
    flat = np.abs(np.asarray(a, dtype=np.float64).reshape(-1, a.shape[-1]))
    peak = np.fmax.reduce(flat, axis=0, initial=0.0)  # NaN (an unknown target) is no magnitude
    bad = np.flatnonzero(peak > FLOAT32_SAFE)
    if len(bad):
        j = int(bad[0])
        raise NumericRangeError(
            f"{what} reach {peak[j]:.3g} in magnitude; the network computes in float32 and takes "
            f"magnitudes up to {FLOAT32_SAFE:.0e}. Rescale the column (e.g. other units).",
            file=file,
            column=str(names[j]) if j < len(names) else None,
        )


def check_series_range(groups: Iterable[Any], targets: Sequence[str], covariates: Sequence[str], file: Any) -> None:
    """:func:`check_range` over every series (``IrregularSeries.groups()``), before any window is cut."""
    names = list(targets) + list(covariates)
    for g in groups:
        check_range(np.concatenate([g.values, g.covariates], axis=1), names, file=file)


def check_finite_result(
    what: str, values: Iterable[Any], *, names: Sequence[str] = (), peak_of: Any = None, file: Any = None
) -> None:
    """Refuse a non-finite training loss, weight or forecast (``values``: numbers, arrays or tensors).

    ``peak_of`` (an array [..., d] of the inputs, columns ``names``) names the column with the
    largest magnitude in the message: what to rescale.
    """
    for v in values:
        arr = np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v, dtype=np.float64)
        if not np.isfinite(arr).all():
            break
    else:
        return
    col, peak = None, ""
    if peak_of is not None and np.size(peak_of) and len(names):
        flat = np.abs(np.asarray(peak_of, dtype=np.float64).reshape(-1, len(names)))
        peaks = np.fmax.reduce(flat, axis=0, initial=0.0)
        j = int(np.argmax(peaks))
        col, peak = str(names[j]), f"; the data reaches {peaks[j]:.3g} in magnitude"
    raise NumericRangeError(
        f"{what} is not finite (NaN or inf){peak}. Rescale the data (e.g. other units) or lower the "
        "learning rate; nothing was saved.",
        file=file,
        column=col,
    )
