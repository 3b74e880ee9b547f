"""AIS file layouts: which columns each layout has, how to recognise it from its header.

Three layouts are known (see :mod:`tsgate.adapters.ais`):

* ``bundled``: ``mmsi,timestamp,lat,lon,sog,cog,heading,vessel_type`` (ISO 8601 UTC with ``Z``);
* ``marinecadastre``: the US MarineCadastre daily files, ``BaseDateTime,LON,LAT,MMSI,SOG,COG,
  Heading,VesselName,IMO,CallSign,VesselType,...`` (ISO 8601 without offset, UTC by convention);
* ``aisdk``: the Danish Maritime Authority files, ``# Timestamp,Type of mobile,MMSI,Latitude,
  Longitude,Navigational status,ROT,SOG,COG,Heading,...,Ship type,...`` (``dd/mm/yyyy
  HH:MM:SS``, UTC).

Ship types: aisdk writes a category name (``Cargo``, ``Tanker``, ...), MarineCadastre and the
bundled layout the numeric AIS code (ITU-R M.1371, message 5). :func:`ship_type_names` maps codes
to the aisdk names so that one ``vessel_types=["Cargo"]`` selects the same vessels in every layout.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from typing import Any

import numpy as np

from tsgate.exceptions import DataError, SchemaError

__all__ = [
    "COLUMNS",
    "REQUIRED",
    "FORMATS",
    "TIME_FORMAT",
    "read_header",
    "detect_format",
    "check_complete",
    "ship_type_names",
    "SHIP_TYPES",
]

# format → the file's column for each canonical field; None = not in that layout
COLUMNS: dict[str, dict[str, str | None]] = {
    "bundled": {
        "mmsi": "mmsi", "time": "timestamp", "lat": "lat", "lon": "lon",
        "sog": "sog", "cog": "cog", "heading": "heading", "mobile": None, "ship": "vessel_type",
    },
    "marinecadastre": {
        "mmsi": "MMSI", "time": "BaseDateTime", "lat": "LAT", "lon": "LON",
        "sog": "SOG", "cog": "COG", "heading": "Heading", "mobile": None, "ship": "VesselType",
    },
    "aisdk": {
        "mmsi": "MMSI", "time": "# Timestamp", "lat": "Latitude", "lon": "Longitude",
        "sog": "SOG", "cog": "COG", "heading": "Heading", "mobile": "Type of mobile", "ship": "Ship type",
    },
}
REQUIRED = ("mmsi", "time", "lat", "lon")
FORMATS = tuple(COLUMNS)
#: strptime format of each layout's timestamps (None: ISO 8601)
TIME_FORMAT: dict[str, str | None] = {"bundled": None, "marinecadastre": None, "aisdk": "%d/%m/%Y %H:%M:%S"}

# ITU-R M.1371 ship-type codes (first digit / exact code) → the category names aisdk writes
_SHIP_DECADES = {2: "WIG", 4: "HSC", 6: "Passenger", 7: "Cargo", 8: "Tanker", 9: "Other"}
_SHIP_CODES = {
    30: "Fishing", 31: "Towing", 32: "Towing long/wide", 33: "Dredging", 34: "Diving", 35: "Military",
    36: "Sailing", 37: "Pleasure", 38: "Reserved", 39: "Reserved", 50: "Pilot", 51: "SAR", 52: "Tug",
    53: "Port tender", 54: "Anti-pollution", 55: "Law enforcement", 56: "Spare 1", 57: "Spare 2",
    58: "Medical", 59: "Not party to conflict",
}


#: every ship-type name aisdk writes (and :func:`ship_type_names` gives), lower case
SHIP_TYPES = frozenset(
    n.lower() for n in (*_SHIP_DECADES.values(), *_SHIP_CODES.values(), "Reserved", "Undefined", "Unknown")
)


def ship_type_names(codes: np.ndarray) -> np.ndarray:
    """[n] aisdk category name (object array) of each numeric AIS ship-type code; ``Undefined``
    for 0, missing or codes outside 1-99 (e.g. MarineCadastre's 1001-1025 US codes), ``Reserved``
    for 1-19."""
    codes = np.asarray(codes, dtype=np.float64)
    out = np.full(codes.shape, "Undefined", dtype=object)
    ok = np.isfinite(codes) & (codes >= 1) & (codes <= 99) & (codes == np.round(codes))
    c = np.where(ok, codes, 0).astype(np.int64)
    out[ok & (c < 20)] = "Reserved"
    for decade, name in _SHIP_DECADES.items():
        out[ok & (c // 10 == decade)] = name
    for code, name in _SHIP_CODES.items():
        out[ok & (c == code)] = name
    return out


def read_header(path: Any, name: str) -> tuple[list[str], str]:
    """(column names, first data line) of a CSV file; a DataError naming the file if unreadable."""
    try:
        with path.open("r", encoding="utf-8-sig", newline="") as fh:
            first = fh.readline()
            second = fh.readline()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot be read ({exc}).", file=name) from None
    if not first.strip():
        raise DataError("is empty; expected an AIS CSV file with a header line.", file=name)
    return [c.strip() for c in next(csv.reader([first]))], second


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


def check_complete(path: Any, name: str, n_fields: int) -> None:
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
        with path.open("rb") as fh:
            line = sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 24), b"")) + 1
        raise DataError(
            f"the last line has {len(fields)} of {n_fields} fields and no line end: the file looks "
            "truncated (an interrupted download?). Download it again or delete that line.",
            file=name,
            row=line,
        )
