"""Drop files: the CSV or parquet files that producers put into the job's inbox folder."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DROP_SUFFIXES", "list_drops", "read_drops", "without_seen_rows"]

DROP_SUFFIXES = (".csv", ".parquet")


def list_drops(inbox: str | Path) -> list[Path]:
    """The complete drop files in ``inbox``, in file-name order.

    Only ``*.csv`` and ``*.parquet`` count; names starting with ``.`` are ignored, so a
    producer writes ``.name`` (or ``name.part``) and renames it when the file is complete.
    """
    return sorted(
        p
        for p in Path(inbox).iterdir()
        if p.is_file() and p.suffix.lower() in DROP_SUFFIXES and not p.name.startswith(".")
    )


def read_drops(
    paths: Sequence[Path],
    *,
    time_col: str,
    id_col: str | None,
    targets: Sequence[str],
    covariates: Sequence[str] = (),
    static: Sequence[str] = (),
) -> Any:
    """The drops as one ``IrregularSeries``; each file is validated on its own, so an error names it."""
    from tsgate import IrregularSeries

    combined = None
    for p in paths:
        s = IrregularSeries.read(
            p,
            time_col=time_col,
            target_cols=list(targets),
            id_col=id_col,
            covariate_cols=list(covariates),
            static_cols=list(static),
        )
        combined = s if combined is None else combined.append(s)
    return combined


def without_seen_rows(new: Any, last_time: Mapping[Any, float]) -> tuple[Any, int]:
    """Remove rows at or before the last time (seconds) the model has seen for their series.

    Returns ``(rest or None, number of rows removed)``: late or repeated rows are counted,
    never learned twice.
    """
    from tsgate import IrregularSeries

    frame = new.to_frame()
    limit = frame["series"].map(lambda s: last_time.get(s, -np.inf)).to_numpy(dtype=np.float64)
    keep = new.time_seconds() > limit
    if keep.all():
        return new, 0
    if not keep.any():
        return None, len(frame)
    rest = IrregularSeries.from_frame(
        frame[keep],
        time_col="time",
        id_col="series",
        target_cols=list(new.targets),
        covariate_cols=list(new.covariates),
        static_cols=list(new.static),
        segment_col="segment",
        source=new.source,
    )
    return rest, int((~keep).sum())
