"""The validated container for many irregularly sampled series in long format.

Raw frames become an :class:`IrregularSeries` here; nothing downstream touches pandas.
Times are kept exactly as recorded (no resampling). Every repair is done by an explicit
policy and counted in a :class:`RepairReport`; the default policies refuse defects with a
:class:`~tsgate.exceptions.DataError` that names the file, column, series and row.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from tsgate.exceptions import (
    ConfigError,
    DataError,
    MissingValueError,
    SchemaError,
    TimestampError,
    TooShortError,
)

__all__ = ["IrregularSeries", "RepairReport", "SeriesArrays", "read_table"]

ID, TIME, SEGMENT, ROW = "series", "time", "segment", "_row"
_DUPLICATE_POLICIES = ("error", "first", "last", "mean")
_NAN_POLICIES = ("error", "drop", "interpolate")
_UNSORTED_POLICIES = ("error", "sort")
_TZ_SUFFIX = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$")


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
                RepairEntry(reason, int(count), _py(series), [int(r) for r in rows], detail)
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


def read_table(path: str | Path, **read_kw: Any) -> pd.DataFrame:
    """Read a CSV or parquet file into a frame, with a DataError (not a pandas traceback) on failure."""
    p = Path(path)
    if str(path) != "-" and not p.exists():
        raise DataError("file not found; check the path.", file=path)
    suffix = p.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(p)
        source: Any = sys.stdin if str(path) == "-" else p
        return pd.read_csv(source, **read_kw)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise DataError(
            f"cannot be read as {'parquet' if suffix in ('.parquet', '.pq') else 'CSV'} ({msg}); "
            "check that the file is complete and uses the expected format.",
            file=path,
        ) from None
    except Exception as exc:  # pyarrow raises its own error types for broken parquet
        if type(exc).__module__.startswith("pyarrow"):
            raise DataError(
                f"cannot be read as parquet ({exc}); check that the file is complete.", file=path
            ) from None
        raise


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
            Numeric columns to forecast. Default: every column not named elsewhere.
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
            Adapter facts kept with the data (see :attr:`meta`).
        """
        _check_policy("on_duplicate", on_duplicate, _DUPLICATE_POLICIES)
        _check_policy("on_nan", on_nan, _NAN_POLICIES)
        _check_policy("on_unsorted", on_unsorted, _UNSORTED_POLICIES)
        if not isinstance(df, pd.DataFrame):
            raise ConfigError(
                f"IrregularSeries.from_frame expects a pandas DataFrame, got {type(df).__name__}."
            )
        report = report if report is not None else RepairReport(source)
        file = source
        targets = _as_list(target_cols)
        covariates, static = list(covariate_cols), list(static_cols)
        named = [c for c in [time_col, id_col, segment_col] if c is not None]
        if not targets:
            targets = [c for c in df.columns if c not in named + covariates + static]
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
                "missing series id; every row needs one.", file=file, column=id_col, row=bad + first_row
            )
        out[TIME], time_kind = _parse_time(df[time_col], file, time_col, first_row, naive_timezone, report)
        for col in targets + covariates + static:
            out[col] = _numeric(df[col], file, col, first_row)
        out[SEGMENT] = (
            _numeric(df[segment_col], file, segment_col, first_row).astype(np.int64)
            if segment_col is not None
            else np.zeros(len(df), dtype=np.int64)
        )

        out = _check_order(out, on_unsorted, file, report)
        out = _handle_duplicates(out, targets + covariates, on_duplicate, file, report)
        out = _handle_nan(out, targets + covariates, on_nan, file, report, time_kind)
        _check_static(out, static, file)
        out = out.reset_index(drop=True)
        return cls(
            out,
            targets=targets,
            covariates=covariates,
            static=static,
            time_kind=time_kind,
            report=report,
            source=source,
            units=units,
            meta=meta,
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
        if Path(path).suffix.lower() in (".parquet", ".pq"):
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
        return cls.from_frame(df, time_col="time", id_col="series", target_cols=names, **kw)

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
        return _to_seconds(self.frame[TIME], self.time_kind)

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

    def subset(self, series_ids: Sequence[Any]) -> IrregularSeries:
        """Only the named series."""
        return self._derive(self.frame[self.frame[ID].isin(list(series_ids))])

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

        ``train`` and ``val`` are fractions of each series' rows (``0 < x < 1``) or row counts
        (integers ≥ 1, e.g. the ExtMarker protocol's 300/300 samples at 10 Hz). The test part is
        the rest. Each part keeps its rows' original order; nothing is shuffled.
        """
        pos = self.frame.groupby(ID, sort=False).cumcount().to_numpy()
        n = self.frame.groupby(ID, sort=False)[TIME].transform("size").to_numpy()

        def cut(x: float | int, name: str) -> np.ndarray:
            if isinstance(x, (bool, np.bool_)) or x < 0:
                raise ConfigError(f"split {name}= must be a fraction in (0, 1) or a row count ≥ 0, got {x!r}.")
            if isinstance(x, (int, np.integer)) and x >= 1:
                return np.full_like(n, int(x))
            if x >= 1:
                raise ConfigError(f"split {name}= must be a fraction in (0, 1) or an integer row count, got {x!r}.")
            return np.floor(n * float(x)).astype(np.int64)

        a = cut(train, "train")
        b = a + cut(val, "val")
        f = self.frame
        return self._derive(f[pos < a]), self._derive(f[(pos >= a) & (pos < b)]), self._derive(f[pos >= b])

    def append(self, new: IrregularSeries) -> IrregularSeries:
        """This data followed by newer observations (same columns); checks order and duplicates."""
        if new.targets != self.targets or new.covariates != self.covariates or new.time_kind != self.time_kind:
            raise SchemaError(
                f"new data has targets {list(new.targets)} / time {new.time_kind}, expected "
                f"{list(self.targets)} / {self.time_kind}.",
                file=new.source,
            )
        f = pd.concat([self.frame, new.frame], ignore_index=True)
        f = _sort_by_series(f)
        dup = f.duplicated([ID, TIME], keep=False)
        if dup.any():
            r = f[dup].iloc[0]
            raise TimestampError(
                "this time is already in the data; pass only observations newer than the last one.",
                file=new.source,
                series=_py(r[ID]),
                row=int(r[ROW]),
            )
        return self._derive(f)

    def last_times(self) -> dict[Any, float]:
        """The last observation time (seconds) of every series."""
        return {g.series_id: float(g.time_s[-1]) for g in self.groups()}

    def require_length(self, n: int, what: str) -> None:
        """Refuse series with fewer than ``n`` rows (each needs at least one window)."""
        counts = self.frame.groupby(ID, sort=False).size()
        short = counts[counts < n]
        if len(short) == len(counts):
            raise TooShortError(
                f"every series has fewer than {n} rows, needed for {what}; "
                f"the longest has {int(counts.max())}. Use a shorter window or horizon.",
                file=self.source,
                series=_py(short.index[0]),
            )


# --------------------------------------------------------------------- helpers
def _check_policy(name: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {list(allowed)}, got {value!r}.")


def _as_list(x: Sequence[str] | str | None) -> list[str]:
    if x is None:
        return []
    if isinstance(x, str):
        return [x]
    return list(x)


def _numeric(col: pd.Series, file: Any, name: str, first_row: int) -> np.ndarray:
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
            row=i + first_row,
        )
    return conv.to_numpy(dtype=np.float64, na_value=np.nan)


def _parse_time(
    col: pd.Series, file: Any, name: str, first_row: int, naive_tz: str | None, report: RepairReport
) -> tuple[Any, Literal["datetime", "seconds"]]:
    if col.isna().any():
        i = int(np.flatnonzero(col.isna().to_numpy())[0])
        raise TimestampError("missing timestamp; every row needs a time.", file=file, column=name, row=i + first_row)
    if pd.api.types.is_bool_dtype(col):
        raise TimestampError("is boolean; give datetimes or seconds.", file=file, column=name)
    if pd.api.types.is_numeric_dtype(col):
        v = col.to_numpy(dtype=np.float64)
        if not np.isfinite(v).all():
            i = int(np.flatnonzero(~np.isfinite(v))[0])
            raise TimestampError(f"time {v[i]} is not finite.", file=file, column=name, row=i + first_row)
        return v, "seconds"
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        return col.dt.tz_convert("UTC").astype("datetime64[ns, UTC]").to_numpy(), "datetime"
    if pd.api.types.is_datetime64_dtype(col):
        return _localize(pd.Series(col), naive_tz, file, name, report), "datetime"
    s = col.astype("string").str.strip()
    num = pd.to_numeric(s, errors="coerce")
    if num.notna().all():
        v = num.to_numpy(dtype=np.float64)
        if not np.isfinite(v).all():
            i = int(np.flatnonzero(~np.isfinite(v))[0])
            raise TimestampError(f"time {s.iloc[i]!r} is not finite.", file=file, column=name, row=i + first_row)
        return v, "seconds"
    # parse first (every row, as UTC), so that a garbage value is reported as unparseable
    # rather than as a timezone mix-up
    fmt = "ISO8601"
    probe = pd.to_datetime(s, errors="coerce", utc=True, format="ISO8601")
    if probe.isna().any():
        # second chance for non-ISO layouts pandas can infer (e.g. '06/04/2020 03:07:16')
        try:
            probe2 = pd.to_datetime(s, errors="coerce", utc=True, format="mixed")
        except (ValueError, TypeError):
            probe2 = probe
        if probe2.notna().sum() > probe.notna().sum():
            probe, fmt = probe2, "mixed"
    if probe.isna().any():
        i = int(np.flatnonzero(probe.isna().to_numpy())[0])
        raise TimestampError(
            f"cannot parse timestamp {s.iloc[i]!r}; use ISO 8601 (2020-06-04T03:07:16Z) or seconds.",
            file=file,
            column=name,
            row=i + first_row,
        )
    aware = s.str.contains(_TZ_SUFFIX, regex=True).to_numpy(dtype=bool)
    if aware.any() and not aware.all():
        i = int(np.flatnonzero(~aware)[0]) if aware[0] else int(np.flatnonzero(aware)[0])
        raise TimestampError(
            f"mixes timestamps with and without a timezone (e.g. {s.iloc[i]!r}); "
            "write every timestamp with its offset (e.g. 2020-06-04T03:07:16Z).",
            file=file,
            column=name,
            row=i + first_row,
        )
    if not aware.any():
        try:
            naive = pd.to_datetime(s, errors="coerce", format=fmt)
        except (ValueError, TypeError):  # e.g. 'UTC' names mixed with offsets: keep the UTC parse
            naive = probe
        if getattr(naive.dt, "tz", None) is None and naive.notna().all():
            return _localize(naive, naive_tz, file, name, report), "datetime"
    return probe.dt.tz_convert("UTC").astype("datetime64[ns, UTC]").to_numpy(), "datetime"


def _localize(parsed: pd.Series, naive_tz: str | None, file: Any, name: str, report: RepairReport) -> Any:
    if naive_tz is None:
        raise TimestampError(
            "timestamps have no timezone; add an offset (e.g. 'Z') or pass naive_timezone='UTC'.",
            file=file,
            column=name,
        )
    report.add(
        "naive timestamps interpreted in timezone",
        len(parsed),
        detail=f"{naive_tz} (column {name!r} had no offsets)",
    )
    return parsed.dt.tz_localize(naive_tz).dt.tz_convert("UTC").astype("datetime64[ns, UTC]").to_numpy()


def _to_seconds(col: pd.Series | np.ndarray, kind: str) -> np.ndarray:
    if kind == "seconds":
        return np.asarray(col, dtype=np.float64)
    ns = pd.DatetimeIndex(col).as_unit("ns").asi8
    return ns.astype(np.float64) / 1e9


def seconds_to_time(seconds: np.ndarray, kind: str) -> Any:
    """Float seconds → UTC datetimes (for datetime series) or the same seconds."""
    seconds = np.asarray(seconds, dtype=np.float64)
    if kind == "seconds":
        return seconds
    # round to the microsecond: float seconds since the epoch carry ~0.1 µs of noise;
    # NaN (an unknown time, e.g. a target beyond the data) becomes NaT, not a garbage date
    ok = np.isfinite(seconds)
    ns = np.round(np.where(ok, seconds, 0.0) * 1e6).astype(np.int64) * 1000
    ns = np.where(ok, ns, np.iinfo(np.int64).min)  # pandas' NaT sentinel
    return pd.to_datetime(ns, unit="ns", utc=True)


def _check_order(out: pd.DataFrame, policy: str, file: Any, report: RepairReport) -> pd.DataFrame:
    t = out[TIME]
    prev = t.groupby(out[ID], sort=False).shift(1)
    back = (t < prev).to_numpy(dtype=bool)
    if not back.any():
        if not _grouped_contiguously(out[ID]):
            return _sort_by_series(out, by_time=False)
        return out
    if policy == "error":
        i = int(np.flatnonzero(back)[0])
        raise TimestampError(
            f"time goes backwards ({out[TIME].iloc[i]} after {prev.iloc[i]}); sort the file by "
            "series and time, or pass on_unsorted='sort'.",
            file=file,
            series=_py(out[ID].iloc[i]),
            row=int(out[ROW].iloc[i]),
        )
    rows = out.loc[back, ROW].tolist()
    report.add("rows out of time order, sorted", len(rows), rows=rows)
    return _sort_by_series(out)


def _sort_by_series(out: pd.DataFrame, by_time: bool = True) -> pd.DataFrame:
    """Rows grouped by series in order of first appearance (then by time), stable.

    Sorting on factorized codes keeps the documented order and never compares ids of
    different types (``1`` and ``"a"``), which would raise a bare TypeError.
    """
    code = pd.factorize(out[ID])[0]
    tmp = out.assign(_code=code)
    return tmp.sort_values(["_code", TIME] if by_time else ["_code"], kind="stable").drop(columns="_code")


def _py(x: Any) -> Any:
    """A numpy scalar as the Python value (so messages read ``series 3``, not ``np.int64(3)``)."""
    return x.item() if isinstance(x, np.generic) else x


def _grouped_contiguously(ids: pd.Series) -> bool:
    v = ids.to_numpy()
    changes = int((v[1:] != v[:-1]).sum()) if len(v) else 0
    return changes + 1 == ids.nunique()


def _handle_duplicates(
    out: pd.DataFrame, value_cols: list[str], policy: str, file: Any, report: RepairReport
) -> pd.DataFrame:
    out = _sort_by_series(out) if not _grouped_contiguously(out[ID]) else out
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
            series=_py(out[ID].iloc[i]),
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


def _handle_nan(
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
            series=_py(out[ID].iloc[i]),
            row=int(out[ROW].iloc[i]),
        )
    out = out.copy()
    out[cols] = np.where(bad, np.nan, vals)
    if policy == "drop":
        for sid, rows in out.loc[rows_bad, ROW].groupby(out.loc[rows_bad, ID], sort=False):
            report.add("rows with missing values dropped", len(rows), series=sid, rows=rows.tolist())
        return out[~rows_bad]
    # interpolate linearly in time within each series; rows at the ends cannot be, and are dropped
    t = _to_seconds(out[TIME], time_kind)
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


def _check_static(out: pd.DataFrame, static: list[str], file: Any) -> None:
    for c in static:
        n = out.groupby(ID, sort=False)[c].nunique(dropna=False)
        if (n > 1).any():
            sid = _py(n[n > 1].index[0])
            raise SchemaError(
                "a static covariate must be constant within a series; it changes here. "
                "Pass it as a (time-varying) covariate instead.",
                file=file,
                column=c,
                series=sid,
            )
