"""Repairs: the documented policies that fix or refuse defects of a long frame, and their report.

Every repair is done by an explicit policy and counted in a :class:`RepairReport` with the rows
a user can find in the file; the default policies refuse with a
:class:`~tsgate.exceptions.DataError` that names the file, column, series and row.

Policies (the ``on_*`` arguments of :meth:`~tsgate.data.series.IrregularSeries.from_frame`):

- ``on_unsorted``: times going backwards within a series: ``error`` or ``sort``;
- ``on_duplicate``: two rows of one series at one time: ``error``, keep ``first`` or ``last``,
  or the ``mean`` of their values;
- ``on_nan``: NaN or infinite values: ``error``, ``drop`` the row, or ``interpolate`` linearly
  in time (rows at a series' ends, which cannot be interpolated, are dropped).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tsgate.data.columns import ID, ROW, TIME, plain
from tsgate.data.times import to_seconds
from tsgate.exceptions import (
    ConfigError,
    MissingValueError,
    SchemaError,
    TimestampError,
)

__all__ = [
    "RepairEntry",
    "RepairReport",
    "DUPLICATE_POLICIES",
    "NAN_POLICIES",
    "UNSORTED_POLICIES",
    "check_policy",
    "check_order",
    "sort_by_series",
    "grouped_contiguously",
    "handle_duplicates",
    "handle_nan",
    "check_static",
]

DUPLICATE_POLICIES = ("error", "first", "last", "mean")
NAN_POLICIES = ("error", "drop", "interpolate")
UNSORTED_POLICIES = ("error", "sort")


@dataclass
class RepairEntry:
    """One kind of repair applied to one series (or to the whole input)."""

    reason: str
    count: int
    series: Any = None
    rows: list[int] = field(default_factory=list)
    detail: str = ""


class RepairReport:
    """What an adapter or the validator repaired or dropped, per reason and series.

    Rows are the numbers a user can find in the file: 1-based line numbers for files read
    from disk (header = line 1), 0-based positions for frames built in memory.
    """

    def __init__(self, source: str | None = None) -> None:
        self.source = source
        self.entries: list[RepairEntry] = []

    def add(
        self,
        reason: str,
        count: int,
        *,
        series: Any = None,
        rows: Sequence[int] = (),
        detail: str = "",
    ) -> None:
        """Record ``count`` repairs of one kind (nothing is recorded for a zero count)."""
        if count:
            self.entries.append(
                RepairEntry(reason, int(count), plain(series), [int(r) for r in rows], detail)
            )

    def extend(self, other: RepairReport) -> None:
        self.entries.extend(other.entries)

    def total(self, reason: str | None = None) -> int:
        """Number of repairs, of one reason or of all."""
        return sum(e.count for e in self.entries if reason is None or e.reason == reason)

    def by_reason(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for e in self.entries:
            out[e.reason] = out.get(e.reason, 0) + e.count
        return out

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [
                {
                    "reason": e.reason,
                    "series": e.series,
                    "count": e.count,
                    "rows": ",".join(map(str, e.rows)),
                    "detail": e.detail,
                }
                for e in self.entries
            ],
            columns=["reason", "series", "count", "rows", "detail"],
        )

    def __len__(self) -> int:
        return len(self.entries)

    def __str__(self) -> str:
        head = f"Repair report for {self.source}" if self.source else "Repair report"
        if not self.entries:
            return f"{head}: nothing repaired or dropped."
        lines = [f"{head}:"]
        for reason, n in self.by_reason().items():
            lines.append(f"  {reason}: {n}")
        lines.append("Details:")
        for e in self.entries:
            where = f"series {e.series!r}: " if e.series is not None else ""
            rows = ""
            if e.rows:
                shown = ", ".join(map(str, e.rows[:20]))
                rows = f" (rows {shown}{', ...' if len(e.rows) > 20 else ''})"
            extra = f" — {e.detail}" if e.detail else ""
            lines.append(f"  {where}{e.reason}: {e.count}{rows}{extra}")
        return "\n".join(lines)

    __repr__ = __str__


def check_policy(name: str, value: str, allowed: Sequence[str]) -> None:
    """Refuse an unknown policy name with the list of known ones."""
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {list(allowed)}, got {value!r}.")


def check_order(out: pd.DataFrame, policy: str, file: Any, report: RepairReport) -> pd.DataFrame:
    t = out[TIME]
    prev = t.groupby(out[ID], sort=False).shift(1)
    back = (t < prev).to_numpy(dtype=bool)
    if not back.any():
        if not grouped_contiguously(out[ID]):
            return sort_by_series(out, by_time=False)
        return out
    if policy == "error":
        i = int(np.flatnonzero(back)[0])
        raise TimestampError(
            f"time goes backwards ({out[TIME].iloc[i]} after {prev.iloc[i]}); sort the file by "
            "series and time, or pass on_unsorted='sort'.",
            file=file,
            series=plain(out[ID].iloc[i]),
            row=int(out[ROW].iloc[i]),
        )
    rows = out.loc[back, ROW].tolist()
    report.add("rows out of time order, sorted", len(rows), rows=rows)
    return sort_by_series(out)


def sort_by_series(out: pd.DataFrame, by_time: bool = True) -> pd.DataFrame:
    """Rows grouped by series in order of first appearance (then by time), stable.

    Sorting on factorized codes keeps the documented order and never compares ids of
    different types (``1`` and ``"a"``), which would raise a bare TypeError.
    """
    code = pd.factorize(out[ID])[0]
    tmp = out.assign(_code=code)
    return tmp.sort_values(["_code", TIME] if by_time else ["_code"], kind="stable").drop(columns="_code")


def grouped_contiguously(ids: pd.Series) -> bool:
    v = ids.to_numpy()
    changes = int((v[1:] != v[:-1]).sum()) if len(v) else 0
    return changes + 1 == ids.nunique()


def handle_duplicates(
    out: pd.DataFrame, value_cols: list[str], policy: str, file: Any, report: RepairReport
) -> pd.DataFrame:
    out = sort_by_series(out) if not grouped_contiguously(out[ID]) else out
    dup = out.duplicated([ID, TIME], keep=False).to_numpy()
    if not dup.any():
        return out
    if policy == "error":
        i = int(np.flatnonzero(dup)[0])
        rows = out.loc[dup].loc[lambda d: (d[ID] == out[ID].iloc[i]) & (d[TIME] == out[TIME].iloc[i]), ROW]
        raise TimestampError(
            f"duplicate timestamp {out[TIME].iloc[i]} (rows {', '.join(map(str, rows.tolist()))}); "
            "remove the duplicates or pass on_duplicate='last', 'first' or 'mean'.",
            file=file,
            series=plain(out[ID].iloc[i]),
            row=int(out[ROW].iloc[i]),
        )
    dropped_rows = out.loc[out.duplicated([ID, TIME], keep="last" if policy == "last" else "first"), ROW]
    if policy == "mean":
        agg = {c: "mean" for c in value_cols}
        agg.update({c: "first" for c in out.columns if c not in value_cols + [ID, TIME]})
        res = out.groupby([ID, TIME], sort=False, as_index=False).agg(agg)
        res = res[out.columns]
    else:
        res = out.drop_duplicates([ID, TIME], keep=policy)
    for sid, rows in dropped_rows.groupby(out.loc[dropped_rows.index, ID], sort=False):
        report.add(f"duplicate timestamps merged ({policy})", len(rows), series=sid, rows=rows.tolist())
    return res


def handle_nan(
    out: pd.DataFrame, cols: list[str], policy: str, file: Any, report: RepairReport, time_kind: str
) -> pd.DataFrame:
    vals = out[cols].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(vals)
    if not bad.any():
        return out
    rows_bad = bad.any(axis=1)
    if policy == "error":
        i, j = np.argwhere(bad)[0]
        raise MissingValueError(
            f"value is {vals[i, j]} (missing or infinite); fill or remove it, or pass on_nan='drop' "
            "or on_nan='interpolate'.",
            file=file,
            column=cols[j],
            series=plain(out[ID].iloc[i]),
            row=int(out[ROW].iloc[i]),
        )
    out = out.copy()
    out[cols] = np.where(bad, np.nan, vals)
    if policy == "drop":
        for sid, rows in out.loc[rows_bad, ROW].groupby(out.loc[rows_bad, ID], sort=False):
            report.add("rows with missing values dropped", len(rows), series=sid, rows=rows.tolist())
        return out[~rows_bad]
    # interpolate linearly in time within each series; rows at the ends cannot be, and are dropped
    t = to_seconds(out[TIME], time_kind)
    filled = out.copy()
    keep = np.ones(len(out), dtype=bool)
    for sid, idx in out.groupby(ID, sort=False).indices.items():
        for c in cols:
            v = out[c].to_numpy()[idx]
            m = np.isfinite(v)
            if m.all():
                continue
            inner = ~m & (np.cumsum(m) > 0) & (np.cumsum(m[::-1])[::-1] > 0)
            if m.any():
                v2 = v.copy()
                v2[inner] = np.interp(t[idx][inner], t[idx][m], v[m])
                filled.iloc[idx, filled.columns.get_loc(c)] = v2
            keep[idx[~m & ~inner]] = False
            if inner.any():
                report.add(
                    "missing values interpolated",
                    int(inner.sum()),
                    series=sid,
                    rows=out[ROW].to_numpy()[idx][inner].tolist(),
                    detail=f"column {c!r}",
                )
        ends = idx[~keep[idx]]
        if len(ends):
            report.add(
                "rows with missing values at a series end dropped",
                len(ends),
                series=sid,
                rows=out[ROW].to_numpy()[ends].tolist(),
            )
    return filled[keep]


def check_static(out: pd.DataFrame, static: list[str], file: Any) -> None:
    for c in static:
        n = out.groupby(ID, sort=False)[c].nunique(dropna=False)
        if (n > 1).any():
            sid = plain(n[n > 1].index[0])
            raise SchemaError(
                "a static covariate must be constant within a series; it changes here. "
                "Pass it as a (time-varying) covariate instead.",
                file=file,
                column=c,
                series=sid,
            )
