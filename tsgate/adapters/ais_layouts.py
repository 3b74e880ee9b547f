"""AIS file layouts: which columns a layout has, how to recognise it, and reading it raw.

Three layouts are known (see :mod:`tsgate.adapters.ais`): ``bundled``, ``marinecadastre`` and
``aisdk``. Reading keeps every field as text first, so that a bad value is reported with its
file line, then converts numbers and parses the timestamps of the layout (UTC).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from tsgate.adapters.ais_cleaning import count
from tsgate.data.repairs import RepairReport
from tsgate.data.times import has_offset
from tsgate.exceptions import DataError, SchemaError, TimestampError

__all__ = ["COLUMNS", "REQUIRED", "FORMATS", "read_header", "detect_format", "read_frame"]

# format → (column in the file for each canonical field); None = not in that format
COLUMNS: dict[str, dict[str, str | None]] = {
    "bundled": {
        "mmsi": "mmsi", "time": "timestamp", "lat": "lat", "lon": "lon",
        "sog": "sog", "cog": "cog", "heading": "heading", "mobile": None,
    },
    "marinecadastre": {
        "mmsi": "MMSI", "time": "BaseDateTime", "lat": "LAT", "lon": "LON",
        "sog": "SOG", "cog": "COG", "heading": "Heading", "mobile": None,
    },
    "aisdk": {
        "mmsi": "MMSI", "time": "# Timestamp", "lat": "Latitude", "lon": "Longitude",
        "sog": "SOG", "cog": "COG", "heading": "Heading", "mobile": "Type of mobile",
    },
}
REQUIRED = ("mmsi", "time", "lat", "lon")
FORMATS = tuple(COLUMNS)
_TIME_FORMAT = {"bundled": "ISO8601", "marinecadastre": "ISO8601", "aisdk": "%d/%m/%Y %H:%M:%S"}


def read_header(path: Any, name: str) -> list[str]:
    try:
        with path.open("r", encoding="utf-8-sig", newline="") as fh:
            first = fh.readline()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot be read ({exc}).", file=name) from None
    if not first.strip():
        raise DataError("is empty; expected an AIS CSV file with a header line.", file=name)
    return [c.strip() for c in next(csv.reader([first]))]


def detect_format(columns: Sequence[str], *, file: Any = None) -> str:
    """The layout (``bundled``, ``marinecadastre`` or ``aisdk``) a header belongs to."""
    cols = set(columns)
    for fmt, spec in COLUMNS.items():
        if all(spec[k] in cols for k in REQUIRED):
            return fmt
    expected = "; ".join(f"{f}: {', '.join(str(COLUMNS[f][k]) for k in REQUIRED)}" for f in FORMATS)
    raise SchemaError(
        f"is not a known AIS layout; its columns are {list(columns)[:20]}. Expected at least ({expected}). "
        "Rename the columns or convert the file to one of these layouts.",
        file=file,
    )


def read_frame(
    path: Any, name: str, fmt: str, header: list[str], report: RepairReport, mobile_types: Sequence[str] | None
) -> pd.DataFrame:
    spec = {k: v for k, v in COLUMNS[fmt].items() if v is not None and v in header}
    try:
        with path.open("r", encoding="utf-8-sig", newline="") as fh:
            raw = pd.read_csv(
                fh, usecols=list(spec.values()), dtype=str, skip_blank_lines=False, keep_default_na=False
            )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, ValueError) as exc:
        msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise DataError(f"cannot be read as CSV ({msg}); check that the file is complete.", file=name) from None
    check_complete(path, name, len(header), last_line=len(raw) + 1)
    line = np.arange(len(raw), dtype=np.int64) + 2
    strip = {k: raw[v].fillna("").str.strip() for k, v in spec.items()}
    blank = np.logical_and.reduce([(s == "").to_numpy() for s in strip.values()])
    if blank.any():  # empty lines, e.g. a trailing one: not data, not counted
        keep = ~blank
        line = line[keep]
        strip = {k: s[keep].reset_index(drop=True) for k, s in strip.items()}
    n = len(line)
    df = pd.DataFrame({"line": line})

    if "mobile" in strip and mobile_types is not None:
        ok = strip["mobile"].isin(list(mobile_types)).to_numpy()
        count(report, "not a vessel (Type of mobile), dropped", ~ok, None, line, detail=f"kept {list(mobile_types)}")
        line = line[ok]
        strip = {k: s[ok].reset_index(drop=True) for k, s in strip.items()}
        df = pd.DataFrame({"line": line})
        n = len(line)

    for k in ("mmsi", "lat", "lon", "sog", "cog", "heading"):
        if k not in strip:
            df[k] = np.full(n, np.nan)
            continue
        s = strip[k]
        v = pd.to_numeric(s.str.replace(",", ".", regex=False) if fmt == "aisdk" else s, errors="coerce")
        bad = (v.isna() & (s != "") & ~s.str.lower().isin(["nan", "na", "null", "none"])).to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise SchemaError(
                f"value {s.iloc[i]!r} is not a number; fix or remove that line.",
                file=name,
                column=spec[k],
                row=int(line[i]),
            )
        df[k] = v.to_numpy(dtype=np.float64, na_value=np.nan)

    ts = strip["time"]
    empty = (ts == "").to_numpy()
    if empty.any():
        i = int(np.flatnonzero(empty)[0])
        raise TimestampError(
            "missing timestamp; every report needs a time.", file=name, column=spec["time"], row=int(line[i])
        )
    aware = has_offset(ts)
    if aware.any() and not aware.all():
        i = int(np.flatnonzero(~aware)[0])
        raise TimestampError(
            f"mixes timestamps with and without a timezone (e.g. {ts.iloc[i]!r}); write all in UTC.",
            file=name,
            column=spec["time"],
            row=int(line[i]),
        )
    parsed = pd.to_datetime(ts, format=_TIME_FORMAT[fmt], errors="coerce", utc=True)
    if parsed.isna().any():
        i = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        layout = "dd/mm/yyyy HH:MM:SS" if fmt == "aisdk" else "ISO 8601 (2020-06-04T03:07:16)"
        raise TimestampError(
            f"cannot parse timestamp {ts.iloc[i]!r}; the {fmt} layout writes {layout}.",
            file=name,
            column=spec["time"],
            row=int(line[i]),
        )
    if not aware.any() and n:
        report.add(
            "naive timestamps interpreted in timezone", n, detail=f"UTC (column {spec['time']!r} had no offsets)"
        )
    df["time"] = parsed.array  # tz-aware UTC, assigned by position
    return df


def check_complete(path: Any, name: str, n_fields: int, last_line: int) -> None:
    """Refuse a file whose last line was cut off (no final newline and too few fields)."""
    with path.open("rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - 65536))
        tail = fh.read()
    if not tail or tail.endswith(b"\n") or tail.endswith(b"\r"):
        return
    last = tail.rsplit(b"\n", 1)[-1].decode("utf-8", errors="replace")
    fields = next(csv.reader([last]), [])
    if len(fields) < n_fields:
        raise DataError(
            f"the last line has {len(fields)} of {n_fields} fields and no line end: the file looks "
            "truncated (an interrupted download?). Download it again or delete that line.",
            file=name,
            row=last_line,
        )
