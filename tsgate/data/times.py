"""Time in tsgate: parsing timestamp columns and durations, and float seconds.

Two kinds of time exist: ``"datetime"`` (timezone-aware UTC) and ``"seconds"`` (plain numbers).
Models and windows see float64 seconds (since the Unix epoch for datetimes); this module is the
one place where timestamps are parsed and where seconds become times again.
"""

from __future__ import annotations

import re
import warnings
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from tsgate.exceptions import ConfigError, TimestampError

if TYPE_CHECKING:  # pragma: no cover
    from tsgate.data.repairs import RepairReport

__all__ = [
    "TimeKind",
    "has_offset",
    "parse_time_column",
    "localize",
    "to_seconds",
    "seconds_to_time",
    "parse_duration",
    "DURATION_UNITS",
    "DURATION_HELP",
]

TimeKind = Literal["datetime", "seconds"]
_OFFSET = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$")


def has_offset(text: pd.Series) -> np.ndarray:
    """[n] True where a timestamp string ends with a UTC offset (``Z``, ``+02:00``, ``-0500``)."""
    return text.str.contains(_OFFSET, regex=True).to_numpy(dtype=bool)


def parse_time_column(
    col: pd.Series,
    *,
    file: Any,
    name: str,
    rows: np.ndarray,
    naive_tz: str | None,
    report: RepairReport,
) -> tuple[Any, TimeKind]:
    """Parse a time column: ISO 8601 (or other pandas-readable) timestamps, datetimes or seconds.

    Returns the values (UTC ``datetime64[ns]`` or float64 seconds) and their kind. ``rows`` holds
    the row number of each value in the user's file, for error messages. Naive timestamps are
    read in ``naive_tz`` (recorded in ``report``); ``None`` refuses them.
    """
    def fail(msg: str, i: int | None = None) -> TimestampError:
        return TimestampError(msg, file=file, column=name, row=None if i is None else int(rows[i]))

    if col.isna().any():
        raise fail("missing timestamp; every row needs a time.", int(np.flatnonzero(col.isna().to_numpy())[0]))
    if pd.api.types.is_bool_dtype(col):
        raise fail("is boolean; give datetimes or seconds.")
    if pd.api.types.is_numeric_dtype(col):
        v = col.to_numpy(dtype=np.float64)
        if not np.isfinite(v).all():
            i = int(np.flatnonzero(~np.isfinite(v))[0])
            raise fail(f"time {v[i]} is not finite.", i)
        return v, "seconds"
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        return col.dt.tz_convert("UTC").astype("datetime64[ns, UTC]").to_numpy(), "datetime"
    if pd.api.types.is_datetime64_dtype(col):
        return localize(pd.Series(col), naive_tz, file=file, name=name, report=report), "datetime"
    s = col.astype("string").str.strip()
    num = pd.to_numeric(s, errors="coerce")
    if num.notna().all():
        v = num.to_numpy(dtype=np.float64)
        if not np.isfinite(v).all():
            i = int(np.flatnonzero(~np.isfinite(v))[0])
            raise fail(f"time {s.iloc[i]!r} is not finite.", i)
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
        raise fail(f"cannot parse timestamp {s.iloc[i]!r}; use ISO 8601 (2020-06-04T03:07:16Z) or seconds.", i)
    aware = has_offset(s)
    if aware.any() and not aware.all():
        i = int(np.flatnonzero(~aware)[0]) if aware[0] else int(np.flatnonzero(aware)[0])
        raise fail(
            f"mixes timestamps with and without a timezone (e.g. {s.iloc[i]!r}); "
            "write every timestamp with its offset (e.g. 2020-06-04T03:07:16Z).",
            i,
        )
    if not aware.any():
        try:
            naive = pd.to_datetime(s, errors="coerce", format=fmt)
        except (ValueError, TypeError):  # e.g. 'UTC' names mixed with offsets: keep the UTC parse
            naive = probe
        if getattr(naive.dt, "tz", None) is None and naive.notna().all():
            return localize(naive, naive_tz, file=file, name=name, report=report), "datetime"
    return probe.dt.tz_convert("UTC").astype("datetime64[ns, UTC]").to_numpy(), "datetime"


def localize(parsed: pd.Series, naive_tz: str | None, *, file: Any, name: str, report: RepairReport) -> Any:
    """Naive datetimes read in ``naive_tz`` and converted to UTC (the choice goes in ``report``)."""
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


def to_seconds(col: Any, kind: TimeKind) -> np.ndarray:
    """Times as float64 seconds (since the Unix epoch for datetimes)."""
    if kind == "seconds":
        return np.asarray(col, dtype=np.float64)
    ns = pd.DatetimeIndex(col).as_unit("ns").asi8
    return ns.astype(np.float64) / 1e9


def seconds_to_time(seconds: np.ndarray, kind: TimeKind) -> Any:
    """Float seconds → UTC datetimes (for datetime series) or the same seconds.

    Datetimes are rounded to the microsecond (float seconds since the epoch carry about 0.1 µs
    of noise); NaN (an unknown time, e.g. a target beyond the data) becomes NaT.
    """
    seconds = np.asarray(seconds, dtype=np.float64)
    if kind == "seconds":
        return seconds
    ok = np.isfinite(seconds)
    ns = np.round(np.where(ok, seconds, 0.0) * 1e6).astype(np.int64) * 1000
    ns = np.where(ok, ns, np.iinfo(np.int64).min)  # pandas' NaT sentinel
    return pd.to_datetime(ns, unit="ns", utc=True)


#: duration units (case-insensitive) and their length in seconds
DURATION_UNITS: dict[str, float] = {
    **dict.fromkeys(("ns", "nanosecond", "nanoseconds"), 1e-9),
    **dict.fromkeys(("us", "µs", "microsecond", "microseconds"), 1e-6),
    **dict.fromkeys(("ms", "millisecond", "milliseconds"), 1e-3),
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1.0),
    **dict.fromkeys(("min", "mins", "minute", "minutes"), 60.0),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600.0),
    **dict.fromkeys(("d", "day", "days"), 86400.0),
    **dict.fromkeys(("w", "wk", "wks", "week", "weeks"), 604800.0),
}
_CALENDAR = ("m", "mo", "mon", "month", "months", "y", "yr", "year", "years", "q", "quarter", "quarters")
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([^\d\s.][^\s]*)?\s*$")
DURATION_HELP = "a number with a unit: ms, s, min, h, d or w (500ms, 2s, 15min, 1.5h, 1d, 1w); a plain number is seconds"


def parse_duration(spec: str | float | int | timedelta, *, what: str = "duration") -> float:
    """A duration in seconds from ``"500ms"``, ``"2s"``, ``"15min"``, ``"1h"``, ``"1d"``, ``"1w"``,
    a ``timedelta`` or a number (seconds; ``"30"`` is 30 s).

    Units (:data:`DURATION_UNITS`, case-insensitive): ns, us, ms, s, min, h, d, w and their
    spelled-out names (``"2 weeks"``). ``"1m"`` is refused as ambiguous (minutes or months?), and
    months and years are refused: they are not fixed durations. Other pandas timedelta strings
    (``"1h30min"``, ``"1 days 02:00:00"``) are accepted.
    """
    if isinstance(spec, timedelta):
        sec = spec.total_seconds()
    elif isinstance(spec, (int, float, np.integer, np.floating)) and not isinstance(spec, bool):
        sec = float(spec)
    elif isinstance(spec, str):
        sec = _duration_text(spec, what)
    else:
        raise ConfigError(f"{what} {spec!r} is not a duration; write {DURATION_HELP}.")
    if not np.isfinite(sec) or sec <= 0:
        raise ConfigError(f"{what} {spec!r} must be positive.")
    return float(sec)


def _duration_text(spec: str, what: str) -> float:
    m = _DURATION.match(spec)
    if m is not None:
        unit = (m.group(2) or "s").lower()
        if unit in DURATION_UNITS:
            return float(m.group(1)) * DURATION_UNITS[unit]
        if unit in _CALENDAR:
            hint = "write 1min for a minute; " if unit == "m" else ""
            raise ConfigError(
                f"{what} {spec!r}: months and years are not fixed durations ({hint}use days, e.g. 30d, or a "
                "step horizon: on a monthly series 12 steps are 12 months)."
            )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pandas' deprecation notes about unit spellings
            return pd.Timedelta(spec.strip()).total_seconds()
    except (ValueError, TypeError):
        raise ConfigError(f"{what} {spec!r} is not a duration; write {DURATION_HELP}.") from None
