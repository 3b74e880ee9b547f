"""AIS position reports → per-vessel tracks in local metres with speed/course covariates.

:func:`load_ais` reads the bundled layout, MarineCadastre and aisdk files (:mod:`~tsgate.adapters.
ais_layouts`), of any size: in blocks, selecting by area, time, MMSI and vessel type while it
reads (:mod:`~tsgate.adapters.ais_reader`). Then, in this order, each step counted in the series'
:class:`~tsgate.data.repairs.RepairReport` (dropped rows listed per vessel by file line):

1. not-a-vessel rows, invalid MMSIs/positions dropped; SOG, COG and heading codes decoded
   exactly (:mod:`~tsgate.adapters.ais_decoding`; e.g. MarineCadastre's signed course field);
2. rows sorted by vessel and time; exact duplicates and same-time conflicts
   (:mod:`~tsgate.adapters.ais_cleaning`);
3. the neighbour-aware position filter: stale repeats, spikes, jumps, MMSIs shared by several
   transmitters (:mod:`~tsgate.adapters.ais_jumps`);
4. voyages split at gaps longer than ``max_gap`` (and at position jumps); short ones dropped;
5. positions projected to ``east_m``/``north_m`` on one :class:`~tsgate.adapters.geo.
   LocalTangentPlane` for the whole file (``series.meta["projection"]``; :func:`to_latlon`
   inverts it);
6. covariates (default: all of :data:`COVARIATES`): SOG, COG, heading and the velocity in the
   plane, reported where the file has them, derived from positions backward only where not
   (:mod:`~tsgate.adapters.ais_motion`); ``covariates=()`` turns them off;
7. every vessel that was read but is not in the result is listed once ("vessel removed", why).
"""

from __future__ import annotations

import csv
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from importlib.resources import files as _resource_files
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from tsgate.adapters.ais_cleaning import order_reports, voyages
from tsgate.adapters.ais_decoding import REASONS
from tsgate.adapters.ais_jumps import DROP_REASONS, SHARED, JumpRules, filter_jumps
from tsgate.adapters.ais_layouts import COLUMNS, FORMATS, REQUIRED, SHIP_TYPES, check_complete, detect_format, read_header
from tsgate.adapters.ais_motion import COVARIATES, UNITS, motion
from tsgate.adapters.ais_reader import DEFAULT_CHUNK_BYTES, read_reports, selection_from_args
from tsgate.adapters.ais_report import Tally, compact
from tsgate.adapters.geo import LocalTangentPlane
from tsgate.data.columns import ID, ROW, SEGMENT, TIME
from tsgate.data.repairs import RepairReport
from tsgate.data.segments import runs
from tsgate.data.schema import SCHEMA
from tsgate.data.series import IrregularSeries
from tsgate.data.times import parse_duration
from tsgate.exceptions import ConfigError, DataError, SchemaError

__all__ = [
    "FORMATS",
    "BUNDLED",
    "COVARIATES",
    "JumpRules",
    "load_ais",
    "detect_format",
    "to_latlon",
    "bundled_ais_path",
    "LICENSE",
    "CREDIT",
    "TARGETS",
]

TARGETS = ("east_m", "north_m")

BUNDLED = {
    "virginia": "noaa_virginia_beach_2020-06-04_to_06.csv",
    "nyharbor": "noaa_ny_harbor_2020-12-08.csv",
    "nyharbor-mc": "marinecadastre_ny_harbor_2020-06-30_first_hour.csv",
}
LICENSE = (
    "Public domain (US federal data; MarineCadastre.gov, NOAA/BOEM/USCG); packaging BSD-3-Clause, "
    "Sandia tracktable-data"
)
CREDIT = "Sandia tracktable-data; AIS data from MarineCadastre.gov (NOAA/BOEM/USCG)"


def bundled_ais_path(name: str) -> Any:
    """The bundled file for ``virginia``, ``nyharbor``, ``nyharbor-mc`` (with or without ``ais-``) or its file name."""
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
    if isinstance(source, (str, Path)):
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


def _utc_ns(value: Any, what: str) -> int | None:
    if value is None:
        return None
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ConfigError(f"{what} {value!r} is not a time; write e.g. '2020-06-30T00:30:00Z'.") from None
    if ts is pd.NaT:
        raise ConfigError(f"{what} must be a time, got {value!r}.")
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.as_unit("ns").value)


def _mmsi_list(mmsi: Any) -> list[int] | None:
    if mmsi is None:
        return None
    values = [mmsi] if isinstance(mmsi, (int, np.integer)) else list(mmsi)
    bad = [m for m in values if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m <= 0]
    if bad or not values:
        raise ConfigError(f"mmsi must be one or more whole positive numbers (MMSIs), got {mmsi!r}.")
    return [int(m) for m in values]


def _check_args(
    fmt: str, covariates: Any, on_conflict: str, min_voyage_rows: Any, min_course_speed_kn: Any,
    jumps: Any, origin: Any, bbox: Any, chunk_bytes: Any, vessel_types: Any,
) -> tuple[list[str], LocalTangentPlane | None, JumpRules | None]:
    if fmt not in ("auto", *FORMATS):
        raise ConfigError(f"fmt must be 'auto' or one of {list(FORMATS)}, got {fmt!r}.")
    if on_conflict not in ("drop", "first"):
        raise ConfigError(f"on_conflict must be 'drop' or 'first', got {on_conflict!r}.")
    if isinstance(min_voyage_rows, bool) or not isinstance(min_voyage_rows, (int, np.integer)) or min_voyage_rows < 1:
        raise ConfigError(f"min_voyage_rows must be a whole number ≥ 1, got {min_voyage_rows!r}.")
    if isinstance(min_course_speed_kn, bool) or not isinstance(min_course_speed_kn, (int, float)) or not (
        np.isfinite(min_course_speed_kn) and min_course_speed_kn >= 0
    ):
        raise ConfigError(f"min_course_speed_kn must be a number of knots ≥ 0, got {min_course_speed_kn!r}.")
    if isinstance(jumps, dict):  # as recorded in a model file's data schema
        try:
            jumps = JumpRules(**jumps)
        except TypeError as exc:
            raise ConfigError(f"jumps: {exc}; the keys are those of JumpRules.") from None
    if jumps is not None and not isinstance(jumps, JumpRules):
        raise ConfigError(f"jumps must be a JumpRules (or None to keep every position), got {type(jumps).__name__}.")
    if isinstance(chunk_bytes, bool) or not isinstance(chunk_bytes, (int, np.integer)) or chunk_bytes < 1024:
        raise ConfigError(f"chunk_bytes must be a whole number of bytes ≥ 1024, got {chunk_bytes!r}.")
    covs = [covariates] if isinstance(covariates, str) else list(covariates)
    unknown = [c for c in covs if c not in COVARIATES]
    if unknown:
        raise ConfigError(f"unknown AIS covariate(s) {unknown}; choose from {list(COVARIATES)} (or () for none).")
    covs = [c for c in COVARIATES if c in covs]  # one order whatever the request
    if isinstance(origin, (tuple, list)) and len(origin) == 2:
        origin = LocalTangentPlane(float(origin[0]), float(origin[1]))
    elif origin is not None and not isinstance(origin, LocalTangentPlane):
        raise ConfigError("origin must be a (lat, lon) tuple in degrees or a LocalTangentPlane.")
    if bbox is not None:
        b = list(bbox) if isinstance(bbox, (tuple, list)) else []
        ok = len(b) == 4 and all(isinstance(x, (int, float)) and np.isfinite(x) for x in b)
        if not ok or not (-90 <= b[0] <= b[2] <= 90) or not all(-180 <= x <= 180 for x in (b[1], b[3])):
            raise ConfigError(
                f"bbox must be (min lat, min lon, max lat, max lon) in degrees, min lat ≤ max lat, got {bbox!r}."
            )
    if vessel_types is not None:
        names = [vessel_types] if isinstance(vessel_types, str) else list(vessel_types)
        bad = [v for v in names if str(v).strip().lower() not in SHIP_TYPES]
        if bad:
            raise ConfigError(f"unknown vessel type(s) {bad}; aisdk ship types are {sorted(SHIP_TYPES)}.")
    return covs, origin, jumps


def load_ais(
    source: str | Path,
    *,
    fmt: Literal["auto", "bundled", "marinecadastre", "aisdk"] = "auto",
    covariates: Sequence[str] = COVARIATES,
    derive_motion: bool = True,
    min_course_speed_kn: float = 0.5,
    jumps: JumpRules | None = JumpRules(),
    max_gap: str | float = "30min",
    min_voyage_rows: int = 10,
    on_conflict: Literal["drop", "first"] = "drop",
    origin: tuple[float, float] | LocalTangentPlane | None = None,
    mobile_types: Sequence[str] | None = ("Class A", "Class B"),
    vessel_types: Sequence[str] | None = None,
    mmsi: Sequence[int] | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    start: str | datetime | None = None,
    end: str | datetime | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> IrregularSeries:
    """Read AIS reports into validated per-vessel tracks (one series per MMSI).

    Parameters
    ----------
    source
        A CSV path, or a bundled name (``"ais-virginia"``, ``"ais-nyharbor"``, ``"ais-nyharbor-mc"``).
    fmt
        File layout; ``"auto"`` detects it from the header.
    covariates
        Which of :data:`COVARIATES` to load (default all: ``sog_kn`` knots, ``cog_deg`` and
        ``heading_deg`` degrees, ``v_east_m_s``/``v_north_m_s`` m/s); ``()`` for none.
    derive_motion
        Fill SOG/COG the file does not give from the positions (backward differences); with
        False, rows without them are dropped.
    min_course_speed_kn
        Below this speed (knots) the course is noise and ``cog_deg`` keeps the last course at
        speed (see :mod:`~tsgate.adapters.ais_motion`); 0 keeps the course as reported.
    jumps
        Constants of the position filter (:class:`JumpRules`: ``max_speed_kn`` 50, slack,
        ``multi_transmitter`` "drop"/"split"/"keep"); None keeps every position.
    max_gap
        A gap longer than this (duration string or seconds) starts a new voyage (``segment``).
    min_voyage_rows
        Voyages with fewer reports are dropped (too short to window).
    on_conflict
        Same vessel and time, different positions: ``"drop"`` all of them or keep the ``"first"``.
    origin
        Projection origin (lat, lon) in degrees or a :class:`LocalTangentPlane`; default the
        centre of the kept positions' bounding box.
    mobile_types
        aisdk only: keep these ``Type of mobile`` values (``None`` keeps all).
    vessel_types, mmsi, bbox, start, end
        Selection while reading: aisdk ship-type names (``["Cargo", "Tanker"]``; MarineCadastre's
        numeric codes are mapped to them; a vessel is kept if any of its reports has a selected
        type), MMSIs, an area (min lat, min lon, max lat, max lon; degrees) and a UTC time
        window [start, end). Rows left out are counted, not listed.
    chunk_bytes
        Size of the blocks the file is read in; memory stays a few blocks plus the kept rows.

    Returns
    -------
    IrregularSeries
        Targets ``east_m``, ``north_m`` (metres), datetime (UTC) times, ``segment`` = voyage number
        within the vessel, the covariates. ``series.meta["projection"]`` is the plane;
        ``series.report`` counts every change and lists every dropped row and removed vessel.
    """
    covs, plane, jumps = _check_args(fmt, covariates, on_conflict, min_voyage_rows, min_course_speed_kn,
                              jumps, origin, bbox, chunk_bytes, vessel_types)
    gap_s = parse_duration(max_gap, what="max_gap")
    t0, t1 = _utc_ns(start, "start"), _utc_ns(end, "end")
    if t0 is not None and t1 is not None and t1 <= t0:
        raise ConfigError(f"end ({end}) must be after start ({start}).")
    names = [vessel_types] if isinstance(vessel_types, str) else vessel_types
    mobile = [mobile_types] if isinstance(mobile_types, str) else mobile_types
    ids = _mmsi_list(mmsi)
    selection = selection_from_args(mobile, names, ids, bbox, t0, t1)

    path, name = _resolve(source)
    header, first = read_header(path, name)
    if fmt == "auto":
        fmt = detect_format(header, file=name)  # type: ignore[assignment]
    spec = COLUMNS[fmt]
    missing = [spec[k] for k in REQUIRED if spec[k] not in header]
    if missing:
        raise SchemaError(
            f"lacks column(s) {missing} of the {fmt} layout; it has {header[:20]}.", file=name, column=missing[0]
        )
    check_complete(path, name, len(header))
    first_time = ""
    if first.strip():
        fields = next(csv.reader([first]), [])
        i = header.index(str(spec["time"]))
        first_time = fields[i] if i < len(fields) else ""

    tally = Tally()
    clock, cpu = [time.perf_counter()], [time.process_time()]
    table, stats = read_reports(path, name, fmt, header, first_time, selection, tally, chunk_bytes=int(chunk_bytes))
    clock.append(time.perf_counter())
    cpu.append(time.process_time())
    # the table is changed in place from here on, so that each step frees what it replaces
    read_ids = order_reports(table, tally, on_conflict)
    piece = _filter_positions(table, tally, jumps)
    keep, table["segment"] = voyages(table["key"], table["time"], table["mmsi"], table["line"], tally,
                                     min_rows=int(min_voyage_rows), gap_ns=int(round(gap_s * 1e9)), starts=piece)
    del piece
    compact(table, keep)
    if len(table["line"]) == 0:
        if stats["lines"] <= 0:
            raise DataError("has a header but no data rows.", file=name)
        summary = _summary(tally)
        raise DataError(
            f"no reports left after cleaning{f' ({summary})' if summary else ''}; lower min_voyage_rows, "
            "raise max_gap, widen the selection, or check the file.",
            file=name,
        )
    if plane is None:
        plane = LocalTangentPlane.around(table["lat"], table["lon"])
    clock.append(time.perf_counter())
    cpu.append(time.process_time())
    if covs:
        cov, unknown = motion(table, tally, plane, covs, derive=derive_motion,
                              min_course_speed_kn=float(min_course_speed_kn))
        for k in ("sog", "cog", "heading"):  # decoded into the covariates
            del table[k]
        table.update(cov)
        del cov
        keep, _ = voyages(table["key"], table["time"], table["mmsi"], table["line"], tally,
                          min_rows=int(min_voyage_rows), segment=table["segment"], keep=~unknown)
        del unknown
        if not keep.all():
            compact(table, keep)
        del keep
        if len(table["line"]) == 0:
            raise DataError(
                f"no reports left once {covs} must be known; pass derive_motion=True or covariates=().", file=name
            )
    else:
        for k in ("sog", "cog", "heading"):
            del table[k]
    clock.append(time.perf_counter())
    cpu.append(time.process_time())
    _removed(tally, read_ids, table)
    report = RepairReport(name)
    tally.write(report)
    del tally
    meta = {
        "projection": plane, "format": fmt, "max_gap_s": gap_s, "jumps": None if jumps is None else asdict(jumps),
        "rows_in_file": stats["lines"], "blocks": stats["blocks"], "min_course_speed_kn": float(min_course_speed_kn),
    }
    # how to read a newer file of the same waters onto the same plane (tsgate.data.schema);
    # the selection (MMSIs, area, time, vessel types) is not recorded: new data is new data
    meta[SCHEMA] = {"adapter": "ais", "options": {
        "fmt": fmt, "covariates": list(covs), "derive_motion": bool(derive_motion),
        "min_course_speed_kn": float(min_course_speed_kn), "jumps": meta["jumps"], "max_gap": gap_s,
        "min_voyage_rows": int(min_voyage_rows), "on_conflict": on_conflict, "origin": [plane.lat0, plane.lon0],
        "mobile_types": None if mobile_types is None else list(mobile_types),
    }}
    if name.startswith("tsgate.bundled/"):
        meta.update(license=LICENSE, credit=CREDIT)
    series = _series(table, plane, covs, name, report, meta)
    clock.append(time.perf_counter())
    cpu.append(time.process_time())
    # wall-clock seconds per step: read (parse, select, decode), clean (order, duplicates, jumps, voyages),
    # motion (covariates), series (report, projection, container)
    steps = ("read", "clean", "motion", "series")
    series.meta["timing_s"] = dict(zip(steps, np.diff(clock).round(4).tolist()))
    series.meta["cpu_s"] = dict(zip(steps, np.diff(cpu).round(4).tolist()))  # all threads of the process
    return series


def _filter_positions(table: dict[str, np.ndarray], tally: Tally, jumps: JumpRules | None) -> np.ndarray | None:
    """Rule 3 in place: drop what the position filter drops, add ``track`` and the series key
    ``key``; returns where the filter starts new voyage pieces."""
    if jumps is None or len(table["line"]) == 0:
        table["key"] = table["mmsi"]
        return None
    res = filter_jumps(table["mmsi"], table["time"].astype(np.float64) / 1e9, table["lat"], table["lon"],
                       table["sog"], jumps)
    mm, line = table["mmsi"], table["line"]
    for code, reason in DROP_REASONS.items():
        if code == SHARED:
            for sid, (bad, steps) in res.shared.items():
                detail = f"{bad} of {steps} steps implausible (> {jumps.max_speed_kn:g} kn + {jumps.slack_m:.0f} m)"
                tally.rows(reason, (code == res.code) & (mm == sid), mm, line, detail=detail)
        else:
            tally.rows(reason, res.code == code, mm, line)
    tally.rows("position jump: new voyage piece", res.piece_start, mm, line,
               detail="the vessel is somewhere else now; the report after agrees with it")
    for sid, n_tracks in res.split.items():
        tally.vessel("MMSI split into tracks (several transmitters)", sid, n_tracks, detail="count = tracks")
    del mm, line
    if res.split:  # tracks of one MMSI interleave in time: one series per track
        table["track"] = res.track
        keep = np.flatnonzero(res.code == 0)
        keep = keep[np.lexsort((table["time"][keep], res.track[keep], table["mmsi"][keep]))]
        compact(table, keep)
        table["key"] = runs(table["mmsi"], table["track"]).index
        return res.piece_start[keep]
    keep = res.code == 0
    if not keep.all():
        compact(table, keep)
    table["key"] = table["mmsi"]
    return res.piece_start[keep]


def _summary(tally: Tally) -> str:
    r = RepairReport()
    tally.write(r)
    return ", ".join(f"{k}: {v}" for k, v in list(r.by_reason().items())[:6])


def _removed(tally: Tally, read_ids: np.ndarray, table: dict[str, np.ndarray]) -> None:
    """Rule 7: one entry per vessel that was read but is not in the result."""
    mm = table["mmsi"]  # sorted by MMSI
    gone = np.setdiff1d(read_ids, mm[np.r_[True, mm[1:] != mm[:-1]]] if len(mm) else mm, assume_unique=True)
    invalid = (tally.vessels_with(REASONS["pos_na"]) | tally.vessels_with(REASONS["pos_bad"])) - set(read_ids.tolist())
    checks = [
        (DROP_REASONS[SHARED], "several transmitters on one MMSI"),
        ("voyages too short dropped (rows)", "too few reports in every voyage"),
        ("rows with unknown speed/course dropped", "no report with a known speed/course"),
    ]
    having = [(tally.vessels_with(reason), text) for reason, text in checks]
    for sid in gone.tolist():
        why = [text for ids, text in having if sid in ids]
        tally.vessel("vessel removed", sid, detail="; ".join(why) or "every report dropped by the position filter")
    for sid in sorted(invalid):
        tally.vessel("vessel removed", sid, detail="no report with a valid position was loaded")


def _series(
    table: dict[str, np.ndarray], plane: LocalTangentPlane, covs: list[str], name: str, report: RepairReport,
    meta: dict[str, Any],
) -> IrregularSeries:
    """The validated container, built directly (the rows are sorted, unique and finite by now)
    from the table's arrays, which it takes over."""
    east, north = plane.forward(table.pop("lat"), table.pop("lon"))
    track = table.pop("track", None)
    table.pop("key")
    ids: Any = table.pop("mmsi")
    if track is not None:
        ids = np.array([m if k == 0 else f"{m}-{k}" for m, k in zip(ids.tolist(), track.tolist())], dtype=object)
    del track
    if not all(np.isfinite(v).all() for v in (east, north, *(table[c] for c in covs))):
        # guarded by the steps above; a failure here is a defect
        raise DataError("internal check failed: a non-finite position or covariate survived cleaning.", file=name)
    frame = pd.DataFrame({
        ID: ids, ROW: table.pop("line"), TIME: pd.to_datetime(table.pop("time"), unit="ns", utc=True),
        "east_m": east, "north_m": north, **{c: table.pop(c) for c in covs},
        SEGMENT: table.pop("segment").astype(np.int64, copy=False),
    }, copy=False)
    units = {"east_m": "m", "north_m": "m", **{c: UNITS[c] for c in covs}}
    return IrregularSeries(frame, targets=TARGETS, covariates=covs, time_kind="datetime", report=report,
                           source=name, units=units, meta=meta)


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
