"""Training that never collapses quietly: the validation split and the minimums it is held to.

:func:`split_training` cuts a gated model's training windows into a training and a validation
part (:func:`tsgate.data.splits.validation_cut`: a time cut per series, purging per horizon, so
most windows train) and counts what each part got. When the training part has fewer windows
per horizon than ``min_windows``, or fewer series than ``min_series``, a
:class:`~tsgate.exceptions.FewWindowsWarning` with the numbers is issued and put in the model's
``fit_warnings_`` (a backtest lists it as that model's failure row). With no training window
at all, :class:`~tsgate.exceptions.TooShortError` is raised.

Documented minimums (per fit): :data:`MIN_TRAIN_WINDOWS` windows per horizon for every gated
model; the vessel model asks for more (see :mod:`tsgate.vessel`). If the split would leave
training fewer than half the windows (tiny data), the model trains on all windows without
validation instead, and says so in the report.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tsgate.data.splits import validation_cut
from tsgate.data.windows import Windows
from tsgate.exceptions import FewWindowsWarning, TooShortError

__all__ = ["MIN_TRAIN_WINDOWS", "TrainingSplit", "split_training", "check_counts", "masked_targets"]

#: fewest training windows per horizon a gated model is trusted with (below: FewWindowsWarning)
MIN_TRAIN_WINDOWS = 100


@dataclass
class TrainingSplit:
    """The training windows (targets purged at the cut set to NaN), the validation windows
    (None: no validation) and the counts, ``report``."""

    train: Windows
    val: Windows | None
    report: dict[str, Any] = field(default_factory=dict)


def masked_targets(w: Windows, keep: np.ndarray) -> Windows:
    """The windows with the targets not in ``keep`` [n, H] set to NaN (left out of the loss)."""
    from dataclasses import replace

    y = w.y.copy()
    y[~keep] = np.nan
    return Windows(w.inputs, replace(w.targets, y=y), dict(w.stats))


def split_training(w: Windows, fraction: float, *, min_windows: int = MIN_TRAIN_WINDOWS, min_series: int = 1,
                   source: Any = None, what: str = "the gated model") -> TrainingSplit:
    """Cut ``w`` into training and validation windows and hold the result to the minimums."""
    if len(w) == 0:
        raise TooShortError(f"{what} has no training window (window={w.window}, horizons="
                            f"{[h.label for h in w.horizons]}); use shorter horizons or more data.", file=source)
    labels = [h.label for h in w.horizons]
    train, val = w, None
    report: dict[str, Any] = {"windows": len(w), "validation": 0}
    if fraction > 0 and len(w) >= 10:
        tr, keep, va = validation_cut(w.origin_time, w.reveal_time, w.series_index, float(fraction))
        if tr.sum() >= 0.5 * len(w) and va.any():
            train, val = masked_targets(w.select(tr), keep[tr]), w.select(va)
            report["validation"] = int(va.sum())
        else:
            report["validation_skipped"] = (f"a validation cut would leave {int(tr.sum())} of {len(w)} windows "
                                            "for training; trained on all windows without validation")
    per_h = np.isfinite(train.y).all(axis=2).sum(axis=0)
    report.update(train=len(train))
    check_counts(report, labels, per_h, int(len(np.unique(train.series_index))), min_windows=min_windows,
                 min_series=min_series, what=what)
    return TrainingSplit(train, val, report)


def check_counts(report: dict[str, Any], labels: list[str], per_horizon: Any, n_series: int, *,
                 min_windows: int = MIN_TRAIN_WINDOWS, min_series: int = 1, what: str = "the gated model") -> None:
    """Hold a split's training counts (``report`` has ``windows`` and ``validation``) to the
    minimums: adds ``per_horizon``, ``series`` and, below them, ``warning`` (also issued as a
    FewWindowsWarning)."""
    per_h = np.asarray(per_horizon, dtype=np.int64)
    report.update(per_horizon=dict(zip(labels, per_h.tolist())), series=n_series)
    low = [f"{lab}: {int(c)}" for lab, c in zip(labels, per_h) if c < min_windows]
    msgs = []
    if low:
        msgs.append(f"{what} trained on fewer than {min_windows} windows for horizon(s) {', '.join(low)} "
                    f"(of {report['windows']} windows, {report['validation']} validating)")
    if n_series < min_series:
        msgs.append(f"{what} trained on {n_series} series, fewer than its minimum of {min_series}")
    if msgs:
        report["warning"] = "; ".join(msgs) + ": forecasts may be no better than a baseline; use more data or shorter horizons."
        warnings.warn(FewWindowsWarning(report["warning"]), stacklevel=4)
