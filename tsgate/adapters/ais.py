"""AIS position reports → per-vessel tracks in local metres, cleaned by documented rules.

Reads three layouts (``fmt="auto"`` picks by header):

* ``bundled``: ``mmsi,timestamp,lat,lon,sog,cog,heading,vessel_type`` (the files shipped in
  ``tsgate.bundled/ais``; ISO 8601 UTC times with ``Z``);
* ``marinecadastre``: the US MarineCadastre daily files, ``MMSI,BaseDateTime,LAT,LON,SOG,COG,
  Heading,VesselName,...`` (``BaseDateTime`` like ``2020-06-30T00:00:00``, UTC without offset);
* ``aisdk``: the Danish Maritime Authority files, ``# Timestamp,Type of mobile,MMSI,Latitude,
  Longitude,Navigational status,ROT,SOG,COG,Heading,...`` (``dd/mm/yyyy HH:MM:SS``, UTC).

Cleaning, in this order; every dropped or changed row is counted per reason and vessel in the
series' :class:`~tsgate.data.series.RepairReport` with its file line number:

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

import csv
from collections.abc import Sequence
from importlib.resources import files as _resource_files
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from tsgate.adapters.geo import KNOT_M_S, LocalTangentPlane, haversine_m, initial_bearing_deg
from tsgate.exceptions import ConfigError, DataError, SchemaError, TimestampError
from tsgate.data.series import IrregularSeries, RepairReport
from tsgate.data.windows import parse_duration

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

# format → (column in the file for each canonical field); None = not in that format
_COLUMNS: dict[str, dict[str, str | None]] = {
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
_REQUIRED = ("mmsi", "time", "lat", "lon")
FORMATS = tuple(_COLUMNS)
COVARIATES = ("sog_kn", "cog_deg")
TARGETS = ("east_m", "north_m")
_TIME_FORMAT = {"bundled": "ISO8601", "marinecadastre": "ISO8601", "aisdk": "%d/%m/%Y %H:%M:%S"}

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


def _read_header(path: Any, name: str) -> list[str]:
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
    for fmt, spec in _COLUMNS.items():
        if all(spec[k] in cols for k in _REQUIRED):
            return fmt
    expected = "; ".join(f"{f}: {', '.join(str(_COLUMNS[f][k]) for k in _REQUIRED)}" for f in FORMATS)
    raise SchemaError(
        f"is not a known AIS layout; its columns are {list(columns)[:20]}. Expected at least ({expected}). "
        "Rename the columns or convert the file to one of these layouts.",
        file=file,
    )


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
    header = _read_header(path, name)
    if fmt == "auto":
        fmt = detect_format(header, file=name)  # type: ignore[assignment]
    spec = _COLUMNS[fmt]
    missing = [spec[k] for k in _REQUIRED if spec[k] not in header]
    if missing:
        raise SchemaError(
            f"lacks column(s) {missing} of the {fmt} layout; it has {header[:20]}.", file=name, column=missing[0]
        )
    report = RepairReport(name)
    df = _read_frame(path, name, fmt, header, report, mobile_types)
    df = _clean(df, report, on_conflict=on_conflict, max_speed_kn=float(max_speed_kn))
    df = _voyages(df, report, gap_s=gap_s, min_rows=int(min_voyage_rows))
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
        df = _motion(df, report, covariates, derive_motion)
        df = _voyages(df, report, gap_s=None, min_rows=int(min_voyage_rows))
        if len(df) == 0:
            raise DataError(
                f"no reports left once {covariates} must be known; pass derive_motion=True or no covariates.",
                file=name,
            )
    units = {"east_m": "m", "north_m": "m", "sog_kn": "kn", "cog_deg": "deg"}
    meta = {"projection": origin, "format": fmt, "max_gap_s": gap_s, "max_speed_kn": float(max_speed_kn)}
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


# --------------------------------------------------------------------- reading
def _read_frame(
    path: Any, name: str, fmt: str, header: list[str], report: RepairReport, mobile_types: Sequence[str] | None
) -> pd.DataFrame:
    spec = {k: v for k, v in _COLUMNS[fmt].items() if v is not None and v in header}
    try:
        with path.open("r", encoding="utf-8-sig", newline="") as fh:
            raw = pd.read_csv(
                fh, usecols=list(spec.values()), dtype=str, skip_blank_lines=False, keep_default_na=False
            )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, ValueError) as exc:
        msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise DataError(f"cannot be read as CSV ({msg}); check that the file is complete.", file=name) from None
    _check_complete(path, name, len(header), last_line=len(raw) + 1)
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
        _count(report, "not a vessel (Type of mobile), dropped", ~ok, None, line, detail=f"kept {list(mobile_types)}")
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
    has_offset = ts.str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True).to_numpy(dtype=bool)
    if has_offset.any() and not has_offset.all():
        i = int(np.flatnonzero(~has_offset)[0])
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
    if not has_offset.any() and n:
        report.add(
            "naive timestamps interpreted in timezone", n, detail=f"UTC (column {spec['time']!r} had no offsets)"
        )
    df["time"] = parsed.array  # tz-aware UTC, assigned by position
    return df


def _check_complete(path: Any, name: str, n_fields: int, last_line: int) -> None:
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


def _count(
    report: RepairReport, reason: str, mask: np.ndarray, mmsi: np.ndarray | None, line: np.ndarray, detail: str = ""
) -> None:
    """Add one report entry per vessel (or one in all when ``mmsi`` is None) for the rows in ``mask``."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return
    if mmsi is None:
        report.add(reason, int(mask.sum()), rows=line[mask].tolist(), detail=detail)
        return
    ids, lines = mmsi[mask], line[mask]
    order = np.argsort(ids, kind="stable")
    ids, lines = ids[order], lines[order]
    cut = np.flatnonzero(ids[1:] != ids[:-1]) + 1
    for a, b in zip(np.r_[0, cut], np.r_[cut, len(ids)]):
        sid = ids[a]
        report.add(
            reason,
            b - a,
            series=int(sid) if np.isfinite(sid) else None,
            rows=np.sort(lines[a:b]).tolist(),
            detail=detail,
        )


# --------------------------------------------------------------------- cleaning
def _clean(df: pd.DataFrame, report: RepairReport, *, on_conflict: str, max_speed_kn: float) -> pd.DataFrame:
    mm = df["mmsi"].to_numpy()
    line = df["line"].to_numpy()
    # 2. "not available" codes → missing (values kept, rows kept)
    codes = (("sog", 102.3, "SOG ≥ 102.3 kn"), ("cog", 360.0, "COG ≥ 360°"), ("heading", 360.0, "heading ≥ 360° (511)"))
    for col, limit, what in codes:
        v = df[col].to_numpy()
        na = (v >= limit) | (v < 0)
        _count(report, f"not-available {col} set to missing", na, mm, line, detail=what)
        df.loc[na, col] = np.nan
    bad_id = ~np.isfinite(mm) | (mm <= 0) | (mm != np.round(mm))
    _count(report, "rows without a valid MMSI dropped", bad_id, None, line)
    lat, lon = df["lat"].to_numpy(), df["lon"].to_numpy()
    bad_pos = ~bad_id & ~(np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180))
    _count(
        report, "rows without a valid position dropped", bad_pos, mm, line,
        detail="lat 91 / lon 181 / missing / out of range",
    )
    df = df[~(bad_id | bad_pos)].copy()
    df["mmsi"] = df["mmsi"].astype(np.int64)

    # 3. exact duplicates
    key = ["mmsi", "time", "lat", "lon", "sog", "cog", "heading"]
    dup = df.duplicated(key, keep="first").to_numpy()
    _count(report, "exact duplicate rows dropped", dup, df["mmsi"].to_numpy(), df["line"].to_numpy())
    df = df[~dup]

    # 4. sort by vessel then time; count the rows that come after a later report of their vessel
    latest = df.groupby("mmsi", sort=False)["time"].cummax()
    back = (df["time"] < latest.groupby(df["mmsi"], sort=False).shift(1)).to_numpy()
    _count(report, "rows out of time order within a vessel, sorted", back, df["mmsi"].to_numpy(), df["line"].to_numpy())
    df = df.sort_values(["mmsi", "time"], kind="stable").reset_index(drop=True)

    # 5. same vessel and time: same position → keep first; conflicting positions → policy
    same_t = df.duplicated(["mmsi", "time"], keep=False).to_numpy()
    if same_t.any():
        sub = df.loc[same_t, ["mmsi", "time", "lat", "lon"]]
        g = sub.groupby(["mmsi", "time"], sort=False)
        differs = sub["lat"].ne(g["lat"].transform("first")) | sub["lon"].ne(g["lon"].transform("first"))
        conflict = np.zeros(len(df), dtype=bool)
        conflict[np.flatnonzero(same_t)] = (
            differs.groupby([sub["mmsi"], sub["time"]], sort=False).transform("max").to_numpy(dtype=bool)
        )
        later = df.duplicated(["mmsi", "time"], keep="first").to_numpy()
        same_pos_drop = later & ~conflict
        ids, lines = df["mmsi"].to_numpy(), df["line"].to_numpy()
        _count(report, "same time and position as an earlier report, dropped", same_pos_drop, ids, lines)
        if on_conflict == "drop":
            conf_drop = conflict
            detail = "on_conflict='drop': every report at that time"
        else:
            conf_drop = conflict & later
            detail = "on_conflict='first': later reports"
        _count(report, "same time, conflicting positions, dropped", conf_drop, ids, lines, detail=detail)
        df = df[~(same_pos_drop | conf_drop)].reset_index(drop=True)

    # 6. implausible jumps
    drop = _jumps(df, max_speed_kn)
    _count(
        report, "implausible jumps dropped", drop, df["mmsi"].to_numpy(), df["line"].to_numpy(),
        detail=f"implied speed > {max_speed_kn:g} kn",
    )
    return df[~drop].reset_index(drop=True)


def _speed_kn(lat: np.ndarray, lon: np.ndarray, t: np.ndarray, i: int, j: int) -> float:
    dt = t[j] - t[i]
    d = float(haversine_m(lat[i], lon[i], lat[j], lon[j]))
    return np.inf if dt <= 0 else d / dt / KNOT_M_S


def _jumps(df: pd.DataFrame, max_kn: float) -> np.ndarray:
    """Rows to drop as implausible jumps (see step 6 of the module docstring)."""
    n = len(df)
    drop = np.zeros(n, dtype=bool)
    if n < 2:
        return drop
    lat, lon = df["lat"].to_numpy(), df["lon"].to_numpy()
    t = _seconds(df["time"])
    mm = df["mmsi"].to_numpy()
    same = mm[1:] == mm[:-1]
    v = haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:]) / np.maximum(t[1:] - t[:-1], 1e-9) / KNOT_M_S
    suspicious = np.flatnonzero(same & (v > max_kn))
    if len(suspicious) == 0:
        return drop
    # walk only the vessels with a suspicious step, report by report
    bounds = np.r_[0, np.flatnonzero(~same) + 1, n]
    vessel_of = np.searchsorted(bounds, suspicious + 1, side="right") - 1
    for vi in np.unique(vessel_of):
        a, b = bounds[vi], bounds[vi + 1]
        last = a
        for i in range(a + 1, b):
            if _speed_kn(lat, lon, t, last, i) <= max_kn:
                last = i
                continue
            nxt = i + 1
            confirmed = (
                nxt < b
                and _speed_kn(lat, lon, t, i, nxt) <= max_kn
                and _speed_kn(lat, lon, t, last, nxt) > max_kn
            )
            if confirmed:
                drop[last] = True
                last = i
            else:
                drop[i] = True
    return drop


def _voyages(df: pd.DataFrame, report: RepairReport, *, gap_s: float | None, min_rows: int) -> pd.DataFrame:
    """Number voyages within each vessel (when ``gap_s`` is given) and drop the short ones."""
    if len(df) == 0:
        return df
    mm = df["mmsi"].to_numpy()
    if gap_s is not None:
        t = _seconds(df["time"])
        new_vessel = np.r_[True, mm[1:] != mm[:-1]]
        new_voyage = new_vessel | np.r_[True, np.diff(t) > gap_s]
        vessel_start = np.maximum.accumulate(np.where(new_vessel, np.arange(len(df)), 0))
        csum = np.cumsum(new_voyage)
        df = df.assign(segment=csum - csum[vessel_start])
    seg = df["segment"].to_numpy()
    run = np.cumsum(np.r_[True, (mm[1:] != mm[:-1]) | (seg[1:] != seg[:-1])]) - 1
    short = np.bincount(run)[run] < min_rows
    _count(
        report, "voyages too short dropped (rows)", short, mm, df["line"].to_numpy(),
        detail=f"fewer than {min_rows} reports",
    )
    return df[~short].reset_index(drop=True)


def _motion(df: pd.DataFrame, report: RepairReport, covariates: list[str], derive: bool) -> pd.DataFrame:
    """Reported SOG/COG, filled from positions by backward differences where missing."""
    mm, seg = df["mmsi"].to_numpy(), df["segment"].to_numpy()
    lat, lon = df["lat"].to_numpy(), df["lon"].to_numpy()
    t = _seconds(df["time"])
    first = np.r_[True, (mm[1:] != mm[:-1]) | (seg[1:] != seg[:-1])]
    line = df["line"].to_numpy()
    prev = np.r_[0, np.arange(len(df) - 1)]
    dist = np.where(first, np.nan, haversine_m(lat[prev], lon[prev], lat, lon))
    dt = np.where(first, np.nan, t - t[prev])
    unknown = np.zeros(len(df), dtype=bool)
    if "sog_kn" in covariates:
        sog = df["sog"].to_numpy().copy()
        fill = ~np.isfinite(sog) & ~first if derive else np.zeros(len(df), bool)
        with np.errstate(invalid="ignore", divide="ignore"):
            sog[fill] = dist[fill] / dt[fill] / KNOT_M_S
        _count(report, "SOG derived from positions", fill, mm, line)
        df["sog_kn"] = sog
        unknown |= ~np.isfinite(sog)
    if "cog_deg" in covariates:
        cog = df["cog"].to_numpy().copy()
        fill = ~np.isfinite(cog) & ~first if derive else np.zeros(len(df), bool)
        bearing = initial_bearing_deg(lat[prev], lon[prev], lat, lon)
        moved = fill & (dist > 0)
        cog[moved] = bearing[moved]
        _count(report, "COG derived from positions", moved, mm, line)
        # not moved: carry the voyage's last course forward (a Python-free forward fill)
        still = fill & ~(dist > 0)
        if still.any():
            s = pd.Series(np.where(still, np.nan, cog))
            voyage = np.cumsum(first)
            filled = s.groupby(voyage).ffill().to_numpy()
            start = still & ~np.isfinite(filled)
            cog[still] = np.where(np.isfinite(filled[still]), filled[still], 0.0)
            _count(report, "COG of a vessel that did not move carried forward", still & ~start, mm, line)
            _count(report, "COG of a vessel that did not move since its voyage start set to 0", start, mm, line)
        df["cog_deg"] = cog
        unknown |= ~np.isfinite(cog)
    why = "first report of a voyage, nothing reported" if derive else "not reported and derive_motion=False"
    _count(report, "rows with unknown speed/course dropped", unknown, mm, line, detail=why)
    return df[~unknown].reset_index(drop=True)



def _seconds(time: pd.Series) -> np.ndarray:
    """Float seconds since the epoch of a datetime column (any resolution, any timezone)."""
    return pd.DatetimeIndex(time).as_unit("ns").asi8.astype(np.float64) / 1e9
