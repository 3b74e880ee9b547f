"""The validated container for many irregularly sampled series in long format.

Raw frames become an :class:`IrregularSeries` here; nothing downstream touches pandas.
Times are kept exactly as recorded (no resampling). Every repair is done by an explicit
policy (:mod:`tsgate.data.repairs`) and counted in a :class:`RepairReport`; the default
policies refuse defects with a :class:`~tsgate.exceptions.DataError` that names the file,
column, series and row.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from tsgate.data.columns import ID, ROW, SEGMENT, TIME, plain
from tsgate.data.repairs import (
    DUPLICATE_POLICIES,
    NAN_POLICIES,
    UNSORTED_POLICIES,
    RepairReport,
    check_order,
    check_policy,
    check_static,
    handle_duplicates,
    handle_nan,
    sort_by_series,
)
from tsgate.data.schema import SCHEMA, is_unnamed_index, table_schema
from tsgate.data.splits import chronological_split
from tsgate.data.tables import is_parquet, read_table
from tsgate.data.times import parse_time_column, seconds_to_time, to_seconds
from tsgate.exceptions import (
    ConfigError,
    DataError,
    SchemaError,
    TimestampError,
    TooShortError,
)

__all__ = ["IrregularSeries", "RepairReport", "SeriesArrays", "read_table", "ID", "TIME", "SEGMENT", "ROW"]


@dataclass(frozen=True)
class SeriesArrays:
    """One series as numpy arrays: what windows and models see.

    ``time_s`` is float64 seconds (since the Unix epoch for datetime series); ``values`` the
    target columns [n, n_targets]; ``covariates`` [n, n_covariates]; ``segment`` an int per
    row (a window never crosses a change of segment, e.g. AIS voyages).
    """

    series_id: Any
    time_s: np.ndarray
    values: np.ndarray
    covariates: np.ndarray
    segment: np.ndarray
    static: np.ndarray


class IrregularSeries:
    """Many irregularly sampled series in long format, validated.

    Build it with :meth:`from_frame`, :meth:`from_csv`, :meth:`from_parquet` or
    :meth:`read`. The normalised frame has the columns ``series``, ``time`` (timezone-aware
    UTC datetimes, or float seconds), the target columns, the covariate and static columns
    and ``segment``, sorted by series then time.

    ``report`` lists every repair; ``units`` maps columns to units; ``meta`` holds adapter facts
    that travel through ``split``/``subset``/``append`` (e.g. ``meta["projection"]``, the AIS
    adapter's :class:`~tsgate.adapters.geo.LocalTangentPlane`, or a data set's credit line).
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        *,
        targets: Sequence[str],
        covariates: Sequence[str] = (),
        static: Sequence[str] = (),
        time_kind: Literal["datetime", "seconds"],
        report: RepairReport | None = None,
        source: str | None = None,
        units: dict[str, str] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.frame = frame
        self.targets = tuple(targets)
        self.covariates = tuple(covariates)
        self.static = tuple(static)
        self.time_kind = time_kind
        self.report = report if report is not None else RepairReport(source)
        self.source = source
        self.units = dict(units or {})
        # adapter-specific facts that travel with the data through split/subset/append, e.g.
        # the AIS projection (``meta["projection"]``) or a dataset's citation
        self.meta = dict(meta or {})

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_frame(
        cls,
        df: pd.DataFrame,
        *,
        time_col: str = "time",
        target_cols: Sequence[str] | str | None = None,
        id_col: str | None = None,
        covariate_cols: Sequence[str] = (),
        static_cols: Sequence[str] = (),
        segment_col: str | None = None,
        on_duplicate: str = "error",
        on_nan: str = "error",
        on_unsorted: str = "error",
        naive_timezone: str | None = "UTC",
        units: dict[str, str] | None = None,
        source: str | None = None,
        first_row: int = 0,
        report: RepairReport | None = None,
        row_numbers: Sequence[int] | np.ndarray | None = None,
        meta: dict[str, Any] | None = None,
    ) -> IrregularSeries:
        """Validate a long-format frame.

        Parameters
        ----------
        time_col
            Timestamps: ISO 8601 strings or datetimes (kept as UTC), or plain numbers, read
            as seconds.
        target_cols
            Numeric columns to forecast. Default: every column not named elsewhere, except an
            unnamed index column (``Unnamed: 0``, what ``to_csv()`` writes for the index).
        id_col
            Series identifier; without it the frame is one series.
        segment_col
            Optional integer column; windows never cross a change of segment.
        on_duplicate
            Two rows of one series at the same time: ``error`` (default), keep ``first`` or
            ``last``, or the ``mean`` of the values.
        on_nan
            NaN or infinite target/covariate values: ``error`` (default), ``drop`` the row,
            or ``interpolate`` linearly in time (rows at a series' ends are dropped).
        on_unsorted
            Times going backwards within a series: ``error`` (default) or ``sort``.
        naive_timezone
            Timezone assumed for timestamps without one (recorded in the report); ``None``
            refuses naive timestamps.
        first_row
            Row number of the frame's first row in the user's file (2 for a CSV with a
            header line), so errors point at the line the user can open.
        row_numbers
            The file line number of every row of ``df`` (overrides ``first_row``), for adapters
            that dropped or merged rows before validation.
        meta
            Adapter facts kept with the data (see :attr:`meta`). ``meta["schema"]`` records how
            the data was read (:mod:`tsgate.data.schema`): these arguments, unless the adapter
            gives its own.
        """
        check_policy("on_duplicate", on_duplicate, DUPLICATE_POLICIES)
        check_policy("on_nan", on_nan, NAN_POLICIES)
        check_policy("on_unsorted", on_unsorted, UNSORTED_POLICIES)
        if not isinstance(df, pd.DataFrame):
            raise ConfigError(
                f"IrregularSeries.from_frame expects a pandas DataFrame, got {type(df).__name__}."
            )
        report = report if report is not None else RepairReport(source)
        file = source
        repeated = df.columns[df.columns.duplicated()]
        if len(repeated):
            raise SchemaError(
                "the frame names this column more than once; give every column its own name.",
                file=file,
                column=str(repeated[0]),
            )
        targets = _as_list(target_cols)
        covariates, static = list(covariate_cols), list(static_cols)
        named = [c for c in [time_col, id_col, segment_col] if c is not None]
        ignored: list[Any] = []
        if not targets:
            # every other column, but never the index pandas wrote without a header (Unnamed: 0)
            rest = [c for c in df.columns if c not in named + covariates + static]
            ignored = [c for c in rest if is_unnamed_index(c)]
            targets = [c for c in rest if c not in ignored]
        wanted = named + targets + covariates + static
        missing = [c for c in wanted if c not in df.columns]
        if missing:
            raise SchemaError(
                f"missing column(s) {missing}; the file has {list(map(str, df.columns))}. "
                "Name the right columns (time_col/target_cols/id_col or --time-col/--target/--id-col).",
                file=file,
                column=missing[0],
            )
        dup_names = [c for c in set(wanted) if wanted.count(c) > 1]
        if dup_names:
            raise ConfigError(f"column(s) {dup_names} are given more than one role.")
        if not targets:
            raise SchemaError("no target column: name at least one numeric column to forecast.", file=file)
        if len(df) == 0:
            raise DataError("has no rows.", file=file)

        if row_numbers is not None:
            line = np.asarray(row_numbers, dtype=np.int64)
            if line.shape != (len(df),):
                raise ConfigError(f"row_numbers has {line.size} entries for {len(df)} rows.")
        else:
            line = np.arange(len(df), dtype=np.int64) + first_row
        out = pd.DataFrame(
            {
                ID: df[id_col].to_numpy() if id_col is not None else np.zeros(len(df), dtype=np.int64),
                ROW: line,
            }
        )
        if id_col is not None and df[id_col].isna().any():
            bad = int(np.flatnonzero(df[id_col].isna().to_numpy())[0])
            raise SchemaError(
                "missing series id; every row needs one.", file=file, column=id_col, row=int(line[bad])
            )
        out[TIME], time_kind = parse_time_column(
            df[time_col], file=file, name=time_col, rows=line,
            naive_tz=naive_timezone, report=report,
        )
        for col in targets + covariates + static:
            out[col] = _numeric(df[col], file, col, line)
        out[SEGMENT] = (
            _numeric(df[segment_col], file, segment_col, line).astype(np.int64)
            if segment_col is not None
            else np.zeros(len(df), dtype=np.int64)
        )

        out = check_order(out, on_unsorted, file, report)
        out = handle_duplicates(out, targets + covariates, on_duplicate, file, report)
        out = handle_nan(out, targets + covariates, on_nan, file, report, time_kind)
        check_static(out, static, file)
        out = out.reset_index(drop=True)
        read = table_schema(
            time_col=time_col, id_col=id_col, segment_col=segment_col, ignored=ignored,
            policies={"on_nan": on_nan, "on_duplicate": on_duplicate, "on_unsorted": on_unsorted},
        )
        return cls(
            out,
            targets=targets,
            covariates=covariates,
            static=static,
            time_kind=time_kind,
            report=report,
            source=source,
            units=units,
            meta={SCHEMA: read, **(meta or {})},  # an adapter's own schema wins
        )

    @classmethod
    def from_csv(cls, path: str | Path, *, read_kw: dict[str, Any] | None = None, **kw: Any) -> IrregularSeries:
        """Read and validate a CSV file (``-`` reads standard input)."""
        df = read_table(path, **(read_kw or {}))
        return cls.from_frame(df, source=str(path), first_row=2, **kw)

    @classmethod
    def from_parquet(cls, path: str | Path, **kw: Any) -> IrregularSeries:
        """Read and validate a parquet file."""
        df = read_table(path)
        return cls.from_frame(df, source=str(path), first_row=0, **kw)

    @classmethod
    def read(cls, path: str | Path, **kw: Any) -> IrregularSeries:
        """Read a CSV or parquet file, by extension."""
        if is_parquet(path):
            return cls.from_parquet(path, **kw)
        return cls.from_csv(path, **kw)

    @classmethod
    def from_arrays(
        cls,
        time: np.ndarray,
        values: np.ndarray,
        *,
        targets: Sequence[str] | None = None,
        series_id: Any = 0,
        **kw: Any,
    ) -> IrregularSeries:
        """One series from a time array (seconds, or datetimes) and a value array [n] or [n, d]."""
        values = np.asarray(values, dtype=float)
        if values.ndim == 1:
            values = values[:, None]
        names = list(targets) if targets is not None else [f"y{i}" for i in range(values.shape[1])]
        df = pd.DataFrame(values, columns=names)
        df.insert(0, "time", np.asarray(time))
        df.insert(0, "series", series_id)
        out = cls.from_frame(df, time_col="time", id_col="series", target_cols=names, **kw)
        # one series made in memory: a file of new rows for it needs no id column
        if isinstance(out.meta.get(SCHEMA), dict):
            out.meta[SCHEMA] = {**out.meta[SCHEMA], "id_col": None}
        return out

    # ----------------------------------------------------------------- access
    @property
    def series_ids(self) -> list[Any]:
        return list(pd.unique(self.frame[ID]))

    @property
    def n_series(self) -> int:
        return int(self.frame[ID].nunique())

    def __len__(self) -> int:
        return len(self.frame)

    def __repr__(self) -> str:
        return (
            f"IrregularSeries({self.n_series} series, {len(self)} rows, targets={list(self.targets)}, "
            f"time={self.time_kind}{', covariates=' + str(list(self.covariates)) if self.covariates else ''})"
        )

    def time_seconds(self) -> np.ndarray:
        """All times as float64 seconds (since the Unix epoch for datetime series)."""
        return to_seconds(self.frame[TIME], self.time_kind)

    def seconds_to_time(self, seconds: np.ndarray) -> Any:
        """Convert float seconds back to this series' kind of time (UTC datetimes or seconds)."""
        return seconds_to_time(seconds, self.time_kind)

    def groups(self) -> Iterator[SeriesArrays]:
        """Each series as numpy arrays, in order of first appearance."""
        t_all = self.time_seconds()
        tv = self.frame[list(self.targets)].to_numpy(dtype=np.float64)
        cv = (
            self.frame[list(self.covariates)].to_numpy(dtype=np.float64)
            if self.covariates
            else np.zeros((len(self.frame), 0))
        )
        sv = (
            self.frame[list(self.static)].to_numpy(dtype=np.float64)
            if self.static
            else np.zeros((len(self.frame), 0))
        )
        seg = self.frame[SEGMENT].to_numpy()
        ids = self.frame[ID].to_numpy()
        # rows are sorted by series; boundaries where the id changes
        if len(ids) == 0:
            return
        change = np.flatnonzero(ids[1:] != ids[:-1]) + 1
        starts = np.r_[0, change]
        ends = np.r_[change, len(ids)]
        for s, e in zip(starts, ends):
            yield SeriesArrays(
                ids[s], t_all[s:e], tv[s:e], cv[s:e], seg[s:e], sv[s] if sv.shape[1] else sv[s]
            )

    def get(self, series_id: Any) -> SeriesArrays:
        for g in self.groups():
            if g.series_id == series_id:
                return g
        raise DataError(f"no such series; the data has {self.series_ids[:10]}.", series=series_id)

    def _derive(self, frame: pd.DataFrame) -> IrregularSeries:
        return IrregularSeries(
            frame.reset_index(drop=True),
            targets=self.targets,
            covariates=self.covariates,
            static=self.static,
            time_kind=self.time_kind,
            report=self.report,
            source=self.source,
            units=self.units,
            meta=self.meta,
        )

    def take(self, rows: np.ndarray) -> IrregularSeries:
        """The rows selected by a boolean mask (or integer index) over ``frame``, in their order,
        with this data's columns, report, source, units and meta."""
        return self._derive(self.frame[rows] if np.asarray(rows).dtype == bool else self.frame.iloc[rows])

    def subset(self, series_ids: Sequence[Any]) -> IrregularSeries:
        """Only the named series."""
        return self.take(self.frame[ID].isin(list(series_ids)).to_numpy())

    def to_frame(self) -> pd.DataFrame:
        """The validated frame (without internal bookkeeping columns)."""
        return self.frame.drop(columns=[ROW]).copy()

    def describe(self) -> pd.DataFrame:
        """Per series: rows, first/last time, span and median interval (seconds)."""
        rows = []
        for g in self.groups():
            d = np.diff(g.time_s)
            rows.append(
                {
                    "series": g.series_id,
                    "rows": len(g.time_s),
                    "segments": int(len(np.unique(g.segment))),
                    "start": self.seconds_to_time(g.time_s[:1])[0],
                    "end": self.seconds_to_time(g.time_s[-1:])[0],
                    "span_s": float(g.time_s[-1] - g.time_s[0]),
                    "median_dt_s": float(np.median(d)) if len(d) else float("nan"),
                }
            )
        return pd.DataFrame(rows)

    def split(
        self, train: float | int, val: float | int = 0.0
    ) -> tuple[IrregularSeries, IrregularSeries, IrregularSeries]:
        """Chronological train / validation / test parts of every series.

        ``train`` and ``val`` are fractions of each series' rows (``0 <= x < 1``) or row counts
        (integers, e.g. the ExtMarker protocol's 300/300 samples at 10 Hz); see
        :mod:`tsgate.data.splits`. The test part is the rest. Each part keeps its rows' original
        order; nothing is shuffled.
        """
        parts = chronological_split(self.frame[ID].to_numpy(), train, val, what="split")
        return self.take(parts.train), self.take(parts.val), self.take(parts.test)

    def append(self, new: IrregularSeries) -> IrregularSeries:
        """This data followed by newer observations (same columns); checks order and duplicates."""
        if new.targets != self.targets or new.covariates != self.covariates or new.time_kind != self.time_kind:
            raise SchemaError(
                f"new data has targets {list(new.targets)} / time {new.time_kind}, expected "
                f"{list(self.targets)} / {self.time_kind}.",
                file=new.source,
            )
        f = pd.concat([self.frame, new.frame], ignore_index=True)
        f = sort_by_series(f)
        dup = f.duplicated([ID, TIME], keep=False)
        if dup.any():
            r = f[dup].iloc[0]
            raise TimestampError(
                "this time is already in the data; pass only observations newer than the last one.",
                file=new.source,
                series=plain(r[ID]),
                row=int(r[ROW]),
            )
        return self._derive(f)

    def last_times(self) -> dict[Any, float]:
        """The last observation time (seconds) of every series."""
        return {g.series_id: float(g.time_s[-1]) for g in self.groups()}

    def require_length(self, n: int, what: str) -> None:
        """Refuse data with a series of fewer than ``n`` rows (each needs at least one window);
        the error names the first such series."""
        counts = self.frame.groupby(ID, sort=False).size()
        short = counts[counts < n]
        if len(short):
            raise TooShortError(
                f"{len(short)} of {len(counts)} series have fewer than {n} rows, needed for {what} "
                f"(this one has {int(short.iloc[0])}). Use a shorter window or horizon, or leave the "
                "short series out (IrregularSeries.subset).",
                file=self.source,
                series=plain(short.index[0]),
            )


# --------------------------------------------------------------------- helpers
def _as_list(x: Sequence[str] | str | None) -> list[str]:
    if x is None:
        return []
    if isinstance(x, str):
        return [x]
    return list(x)


def _numeric(col: pd.Series, file: Any, name: str, rows: np.ndarray) -> np.ndarray:
    """A column as float64; a value that is not a number is refused with its file row (``rows``)."""
    if pd.api.types.is_bool_dtype(col):
        raise SchemaError("is boolean, not numeric; give a numeric column.", file=file, column=name)
    if pd.api.types.is_numeric_dtype(col):
        return col.to_numpy(dtype=np.float64, na_value=np.nan)
    conv = pd.to_numeric(col, errors="coerce")
    bad = conv.isna() & col.notna() & (col.astype("string").str.strip().str.lower().isin(["nan", "", "inf", "-inf"]) == False)  # noqa: E712
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise SchemaError(
            f"value {col.iloc[i]!r} is not a number; fix or remove that row "
            "(decimal commas need an adapter or read_kw={'decimal': ','}).",
            file=file,
            column=name,
            row=int(rows[i]),
        )
    return conv.to_numpy(dtype=np.float64, na_value=np.nan)
