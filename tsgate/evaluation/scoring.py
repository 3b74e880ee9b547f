"""Scoring a backtest: per-horizon metrics per series and pooled, on common (origin, horizon) pairs.

With ``common=True`` every model is scored on the same pairs: the strict intersection of the
(origin, horizon) pairs where the truth and every model's forecast exist. A model with no
forecast in a series (it failed there) removes that series' pairs from every model's score, so
no model is judged on pairs another skipped; :func:`dropped_pairs` counts, per model, the pairs
with a truth that it removed. The one exception is a model that produced no forecast at all: it
is left out of the intersection (else every table would be empty) and listed as a failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from tsgate.evaluation.metrics import compute

__all__ = ["common_mask", "dropped_pairs", "metric_rows", "METRIC_COLUMNS"]

METRIC_COLUMNS = ["model", "horizon", "level", "series", "metric", "value", "n"]


def common_mask(preds: dict[str, np.ndarray], truth: np.ndarray, sids: np.ndarray | None = None) -> np.ndarray:
    """[n, H] pairs with a truth and a forecast of every model that forecast anything."""
    ok = np.isfinite(truth).all(axis=2)
    for pr in preds.values():
        fin = np.isfinite(pr).all(axis=2)
        if fin.any():  # a model with no forecast at all is a failure, not a veto on every pair
            ok &= fin
    return ok


def dropped_pairs(preds: dict[str, np.ndarray], truth: np.ndarray) -> dict[str, dict[str, int]]:
    """Per model: ``pairs`` with a truth, ``missing`` (of those, without its forecast: removed from
    every model's score) and ``scored`` (the strict intersection, the same for every model)."""
    has_truth = np.isfinite(truth).all(axis=2)
    scored = int(common_mask(preds, truth).sum())
    out = {}
    for name, pr in preds.items():
        fin = np.isfinite(pr).all(axis=2)
        out[name] = {"pairs": int(has_truth.sum()), "missing": int((has_truth & ~fin).sum()), "scored": scored}
    return out


def metric_rows(
    preds: dict[str, np.ndarray],
    org: dict[str, np.ndarray],
    labels: list[str],
    *,
    groups: list[tuple[int, ...]],
    metrics: Sequence[str],
    scored: np.ndarray | None,
) -> pd.DataFrame:
    """Tidy metrics: per model and horizon, pooled over series and per series."""
    truth = org["y"]
    sids = org["series"]
    breaks = np.r_[True, (sids[1:] != sids[:-1]) | (org["segment"][1:] != org["segment"][:-1])]
    rows: list[tuple[Any, ...]] = []
    for name, pr in preds.items():
        for hi, lab in enumerate(labels):
            ok = np.isfinite(truth[:, hi]).all(axis=1) & np.isfinite(pr[:, hi]).all(axis=1)
            if scored is not None:
                ok &= scored[:, hi]
            p_h = np.where(ok[:, None], pr[:, hi], np.nan)
            res = compute(p_h, truth[:, hi], groups=groups, series=sids, breaks=breaks, metrics=metrics)
            for m, v in res.items():
                rows.append((name, lab, "pooled", None, m, v, int(ok.sum())))
            for sid in pd.unique(sids):
                sel = sids == sid
                cnt = int((ok & sel).sum())
                if cnt == 0:
                    continue
                res = compute(p_h[sel], truth[sel, hi], groups=groups, breaks=breaks[sel], metrics=metrics)
                for m, v in res.items():
                    rows.append((name, lab, "series", sid, m, v, cnt))
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)
