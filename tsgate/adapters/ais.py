"""AIS position reports → per-vessel tracks in local metres, cleaned by documented rules.

Reads three layouts (``fmt="auto"`` picks by header):

* ``bundled``: ``mmsi,timestamp,lat,lon,sog,cog,heading,vessel_type`` (the files shipped in
  ``tsgate.bundled/ais``; ISO 8601 UTC times with ``Z``);
* ``marinecadastre``: the US MarineCadastre daily files, ``MMSI,BaseDateTime,LAT,LON,SOG,COG,
  Heading,VesselName,...`` (``BaseDateTime`` like ``2020-06-30T00:00:00``, UTC without offset);
* ``aisdk``: the Danish Maritime Authority files, ``# Timestamp,Type of mobile,MMSI,Latitude,
  Longitude,Navigational status,ROT,SOG,COG,Heading,...`` (``dd/mm/yyyy HH:MM:SS``, UTC).

Cleaning, in this order; every dropped or changed row is counted per reason and vessel in the
series' :class:`~tsgate.data.repairs.RepairReport` with its file line number:

1. (aisdk) rows whose ``Type of mobile`` is not in ``mobile_types`` (base stations, AtoN, ...);
2. "not available" codes become missing: SOG ≥ 102.3 kn, COG ≥ 360°, heading ≥ 360° (511);
   rows without an MMSI or without a valid position (lat 91, lon 181, empty, out of range)
   are dropped;
3. exact duplicates (same MMSI, time, lat, lon, SOG, COG, heading): later copies dropped;
4. rows are sorted by vessel and time (reversals within a vessel are counted);
5. one vessel, one time, several reports: identical positions keep the first report;
   conflicting positions follow ``on_conflict``: ``"drop"`` (default: every report at that
   time is dropped, since nothing says which is right) or ``"first"`` (keep the first in file
   order);
6. implausible jumps: when the speed implied by great-circle distance / time from the last kept
   report exceeds ``max_speed_kn``, the new report is dropped, unless the report after it
   *confirms* it (plausible from the new report, implausible from the last kept one): then the
   last kept report was the glitch (e.g. a stale repeated position) and is dropped instead;
7. a vessel's track is split into voyages (the ``segment`` column) where reports are more than
   ``max_gap`` apart; voyages with fewer than ``min_voyage_rows`` reports are dropped;
8. positions are projected to ``east_m``/``north_m`` on one :class:`~tsgate.adapters.geo.
   LocalTangentPlane` for the whole file (origin: the centre of the kept positions' bounding
   box, or ``origin``), kept in ``series.meta["projection"]``; :func:`to_latlon` inverts it;
9. optional covariates ``sog_kn`` and ``cog_deg``: the reported values, or where those are
   missing and ``derive_motion`` is true, speed and course from the previous report of the
   same voyage (backward differences only, so nothing after a time leaks into it). The first
   report of a voyage has no previous one: if it has no reported value it is dropped. A course
   is undefined while the vessel has not moved (same position): the last course is carried
   forward, or 0° at the start of a voyage (counted).
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.resources import files as _resource_files
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from tsgate.adapters.ais_cleaning import clean, motion, voyages
from tsgate.adapters.ais_layouts import (
    COLUMNS,
    FORMATS,
    REQUIRED,
    detect_format,
    read_frame,
    read_header,
)
from tsgate.adapters.geo import LocalTangentPlane
from tsgate.data.repairs import RepairReport
from tsgate.data.schema import SCHEMA
from tsgate.data.series import IrregularSeries
from tsgate.data.times import parse_duration
from tsgate.exceptions import ConfigError, DataError, SchemaError

__all__ = [
    "FORMATS",
    "BUNDLED",
    "COVARIATES",
    "load_ais",
    "detect_format",
    "to_latlon",
    "bundled_ais_path",
    "LICENSE",
    "CREDIT",
    "TARGETS",
]

COVARIATES = ("sog_kn", "cog_deg")
TARGETS = ("east_m", "north_m")

BUNDLED = {
    "virginia": "noaa_virginia_beach_2020-06-04_to_06.csv",
    "nyharbor": "noaa_ny_harbor_2020-12-08.csv",
}
LICENSE = (
    "Public domain (US federal data; MarineCadastre.gov, NOAA/BOEM/USCG); packaging BSD-3-Clause, "
    "Sandia tracktable-data"
)
CREDIT = "Sandia tracktable-data; AIS data from MarineCadastre.gov (NOAA/BOEM/USCG)"


def bundled_ais_path(name: str) -> Any:
    """The bundled file for ``virginia``/``ais-virginia``, ``nyharbor``/``ais-nyharbor`` or its file name."""
    key = str(name).removeprefix("ais-")
    fname = BUNDLED.get(key, key if key in BUNDLED.values() else None)
    if fname is None:
        raise ConfigError(
            f"{name!r} is neither an existing file nor a bundled AIS data set; bundled: "
            f"{sorted('ais-' + k for k in BUNDLED)}."
        )
    return _resource_files("tsgate.bundled") / "ais" / fname


def _resolve(source: Any) -> tuple[Any, str]:
    """(path or resource, name shown in messages) of a user file or a bundled data set."""
    if isinstance(source, Path) or isinstance(source, str):
        p = Path(source)
        if p.is_file():
            return p, str(p)
        if isinstance(source, str) and (source.removeprefix("ais-") in BUNDLED or source in BUNDLED.values()):
            res = bundled_ais_path(source)
            return res, f"tsgate.bundled/ais/{res.name}"
        raise DataError(
            f"file not found; check the path, or use a bundled name {sorted('ais-' + k for k in BUNDLED)}.",
            file=str(source),
        )
    raise ConfigError(f"source must be a file path or a bundled name, got {type(source).__name__}.")


def load_ais(
    source: str | Path,
    *,
    fmt: Literal["auto", "bundled", "marinecadastre", "aisdk"] = "auto",
    max_speed_kn: float = 50.0,
    max_gap: str | float = "30min",
    min_voyage_rows: int = 10,
    on_conflict: Literal["drop", "first"] = "drop",
    covariates: Sequence[str] = (),
    derive_motion: bool = True,
    origin: tuple[float, float] | LocalTangentPlane | None = None,
    mobile_types: Sequence[str] | None = ("Class A", "Class B"),
) -> IrregularSeries:
    """Read AIS reports into validated per-vessel tracks (one series per MMSI).

    Parameters
    ----------
    source
        A CSV path, or a bundled name (``"ais-virginia"``, ``"ais-nyharbor"``).
    fmt
        File layout; ``"auto"`` detects it from the header.
    max_speed_kn
        Implied speeds above this (knots) mark a jump (step 6 of the module docstring).
    max_gap
        A gap longer than this (duration string or seconds) starts a new voyage (``segment``).
    min_voyage_rows
        Voyages with fewer reports are dropped (too short to window).
    on_conflict
        Same vessel and time, different positions: ``"drop"`` all of them or keep the ``"first"``.
    covariates
        Any of ``"sog_kn"`` (speed over ground, knots) and ``"cog_deg"`` (course over ground,
        degrees clockwise from true north).
    derive_motion
        Fill missing reported SOG/COG from the positions (backward differences).
    origin
        Projection origin (lat, lon) in degrees or a :class:`LocalTangentPlane`; default the
        centre of the kept positions' bounding box.
    mobile_types
        aisdk only: keep these ``Type of mobile`` values (``None`` keeps all).

    Returns
    -------
    IrregularSeries
        Targets ``east_m``, ``north_m`` (metres), datetime (UTC) times, ``segment`` = voyage
        number within the vessel. ``series.meta["projection"]`` is the plane;
        ``series.report`` counts every dropped or changed row.
    """
    if fmt not in ("auto", *FORMATS):
        raise ConfigError(f"fmt must be 'auto' or one of {list(FORMATS)}, got {fmt!r}.")
    if on_conflict not in ("drop", "first"):
        raise ConfigError(f"on_conflict must be 'drop' or 'first', got {on_conflict!r}.")
    if isinstance(max_speed_kn, bool) or not isinstance(max_speed_kn, (int, float)) or not max_speed_kn > 0:
        raise ConfigError(f"max_speed_kn must be a positive number of knots, got {max_speed_kn!r}.")
    gap_s = parse_duration(max_gap, what="max_gap")
    if isinstance(min_voyage_rows, bool) or not isinstance(min_voyage_rows, (int, np.integer)) or min_voyage_rows < 1:
        raise ConfigError(f"min_voyage_rows must be a whole number ≥ 1, got {min_voyage_rows!r}.")
    covariates = [covariates] if isinstance(covariates, str) else list(covariates)
    unknown = [c for c in covariates if c not in COVARIATES]
    if unknown:
        raise ConfigError(f"unknown AIS covariate(s) {unknown}; choose from {list(COVARIATES)}.")
    if isinstance(origin, tuple):
        origin = LocalTangentPlane(float(origin[0]), float(origin[1]))
    elif origin is not None and not isinstance(origin, LocalTangentPlane):
        raise ConfigError("origin must be a (lat, lon) tuple in degrees or a LocalTangentPlane.")

    path, name = _resolve(source)
    header = read_header(path, name)
    if fmt == "auto":
        fmt = detect_format(header, file=name)  # type: ignore[assignment]
    spec = COLUMNS[fmt]
    missing = [spec[k] for k in REQUIRED if spec[k] not in header]
    if missing:
        raise SchemaError(
            f"lacks column(s) {missing} of the {fmt} layout; it has {header[:20]}.", file=name, column=missing[0]
        )
    report = RepairReport(name)
    df = read_frame(path, name, fmt, header, report, mobile_types)
    df = clean(df, report, on_conflict=on_conflict, max_speed_kn=float(max_speed_kn))
    df = voyages(df, report, gap_s=gap_s, min_rows=int(min_voyage_rows))
    if len(df) == 0:
        raise DataError(
            "no reports left after cleaning (see the repair report); lower min_voyage_rows, raise "
            "max_gap, or check the file.",
            file=name,
        )
    if origin is None:
        origin = LocalTangentPlane.around(df["lat"].to_numpy(), df["lon"].to_numpy())
    east, north = origin.forward(df["lat"].to_numpy(), df["lon"].to_numpy())
    df["east_m"], df["north_m"] = east, north
    if covariates:
        df = motion(df, report, covariates, derive_motion)
        df = voyages(df, report, gap_s=None, min_rows=int(min_voyage_rows))
        if len(df) == 0:
            raise DataError(
                f"no reports left once {covariates} must be known; pass derive_motion=True or no covariates.",
                file=name,
            )
    units = {"east_m": "m", "north_m": "m", "sog_kn": "kn", "cog_deg": "deg"}
    meta = {"projection": origin, "format": fmt, "max_gap_s": gap_s, "max_speed_kn": float(max_speed_kn)}
    # how to read a newer file of the same waters onto the same plane (tsgate.data.schema)
    options = {
        "fmt": fmt, "max_speed_kn": float(max_speed_kn), "max_gap": gap_s, "min_voyage_rows": int(min_voyage_rows),
        "on_conflict": on_conflict, "covariates": list(covariates), "derive_motion": bool(derive_motion),
        "origin": [origin.lat0, origin.lon0], "mobile_types": None if mobile_types is None else list(mobile_types),
    }
    meta[SCHEMA] = {"adapter": "ais", "options": options}
    if name.startswith("tsgate.bundled/"):
        meta.update(license=LICENSE, credit=CREDIT)
    return IrregularSeries.from_frame(
        df[["mmsi", "time", "east_m", "north_m", *covariates, "segment"]],
        time_col="time",
        id_col="mmsi",
        target_cols=list(TARGETS),
        covariate_cols=covariates,
        segment_col="segment",
        units={c: units[c] for c in (*TARGETS, *covariates)},
        source=name,
        report=report,
        row_numbers=df["line"].to_numpy(),
        meta=meta,
    )


def to_latlon(series: IrregularSeries | pd.DataFrame, projection: LocalTangentPlane | None = None) -> pd.DataFrame:
    """The series' frame (or any frame with ``east_m``/``north_m``) with ``lat``/``lon`` columns added."""
    if isinstance(series, IrregularSeries):
        proj = projection or series.meta.get("projection")
        frame = series.to_frame()
    else:
        proj, frame = projection, series.copy()
    if not isinstance(proj, LocalTangentPlane):
        raise ConfigError("no projection: pass projection= or a series made by load_ais.")
    lat, lon = proj.inverse(frame["east_m"].to_numpy(), frame["north_m"].to_numpy())
    return frame.assign(lat=lat, lon=lon)
