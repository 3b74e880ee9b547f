"""Small AIS files for the adapter tests: reports, tracks and writers for the three layouts."""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

import numpy as np

from tsgate.adapters.geo import KNOT_M_S, LocalTangentPlane

MC_COLS = ["BaseDateTime", "LON", "LAT", "MMSI", "SOG", "COG", "Heading", "VesselName", "IMO", "CallSign",
           "VesselType", "Status", "Length", "Width", "Draft", "Cargo", "TranscieverClass", "ETA"]
DK_COLS = ["# Timestamp", "Type of mobile", "MMSI", "Latitude", "Longitude", "Navigational status", "ROT", "SOG",
           "COG", "Heading", "IMO", "Callsign", "Name", "Ship type", "Cargo type", "Width", "Length",
           "Type of position fixing device", "Draught", "Destination", "ETA", "Data source type", "A", "B", "C", "D"]
BUNDLED_COLS = ["mmsi", "timestamp", "lat", "lon", "sog", "cog", "heading", "vessel_type"]
T0 = datetime(2020, 6, 30, 0, 0, 0, tzinfo=timezone.utc)
DLAT = 10 * KNOT_M_S * 60 / 111_000  # ≈ 10 kn due north per minute, in degrees of latitude
NA = float("nan")  # an empty field


@dataclass(frozen=True)
class Report:
    """One AIS report; ``sec`` after :data:`T0`; NaN fields are written empty."""

    label: str
    mmsi: int
    sec: float
    lat: float
    lon: float
    sog: float = NA
    cog: float = NA
    heading: float = NA
    mobile: str = "Class A"
    ship: str = "Cargo"
    ship_code: float = 70.0
    eta: str = "2020-06-30T12:00:00"


def field(x: float, fmt: str = "{}") -> str:
    return "" if isinstance(x, float) and np.isnan(x) else fmt.format(x)


def _write(path, columns, reports, time_format: str, row) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(columns)
        for r in reports:
            w.writerow(row(r, (T0 + timedelta(seconds=r.sec)).strftime(time_format)))


def write_marinecadastre(path, reports) -> None:
    _write(path, MC_COLS, reports, "%Y-%m-%dT%H:%M:%S", lambda r, t: [
        t, f"{r.lon:.6f}", f"{r.lat:.6f}", r.mmsi, field(r.sog), field(r.cog), field(r.heading), "SHIP", "IMO1",
        "CALL", field(r.ship_code), "0", 100, 20, 5.0, 70, "A" if r.mobile == "Class A" else "B", r.eta])


def write_aisdk(path, reports) -> None:
    _write(path, DK_COLS, reports, "%d/%m/%Y %H:%M:%S", lambda r, t: [
        t, r.mobile, r.mmsi, f"{r.lat:.6f}", f"{r.lon:.6f}", "Under way using engine", "", field(r.sog),
        field(r.cog), field(r.heading), "Unknown", "", "", r.ship, "", "", "", "GPS", "", "", "", "AIS", "", "", "", ""])


def write_bundled(path, reports) -> None:
    _write(path, BUNDLED_COLS, reports, "%Y-%m-%dT%H:%M:%SZ", lambda r, t: [
        r.mmsi, t, f"{r.lat:.6f}", f"{r.lon:.6f}", field(r.sog), field(r.cog), field(r.heading), field(r.ship_code)])


WRITERS = {"marinecadastre": write_marinecadastre, "aisdk": write_aisdk, "bundled": write_bundled}


def lines_of(reports, label) -> list[int]:
    """File lines (header = 1) of the reports with this label."""
    return [i + 2 for i, r in enumerate(reports) if r.label == label]


def steady(mmsi: int, n: int, *, sec0: float = 0.0, step: float = 60.0, lat0: float = 40.0, lon0: float = -74.0,
           label: str = "ok", sog: float = 10.0, cog: float = 0.0, heading: float = 0.0) -> list[Report]:
    """A vessel steaming north at ~10 kn (one report a ``step`` seconds)."""
    return [Report(label, mmsi, sec0 + step * i, lat0 + DLAT * i * step / 60.0, lon0, sog, cog, heading)
            for i in range(n)]


def ten_second_track(mmsi: int, rng: np.random.Generator, *, n: int = 360, speed_kn: float | None = None,
                     step: float = 10.0, jitter_s: float = 3.0, gps_m: float = 5.0, sog: bool = True) -> list[Report]:
    """A realistic fast-cadence track: fixes every ``step`` s, received 0-``jitter_s`` s later and
    stamped to the second (so intervals of 7-13 s, some 1-3 s after a late one), GPS noise
    ``gps_m``, a gentle turn, positions written to 6 decimals."""
    v = float(rng.uniform(8, 25) if speed_kn is None else speed_kn) * KNOT_M_S
    course0, turn = rng.uniform(0, 360), rng.uniform(-0.05, 0.05)  # degrees, degrees per second
    t_fix = np.arange(n) * step
    crs = np.radians(course0 + turn * t_fix)
    e = np.r_[0.0, np.cumsum(v * step * np.sin(crs[:-1]))] + rng.normal(0, gps_m, n)
    nn = np.r_[0.0, np.cumsum(v * step * np.cos(crs[:-1]))] + rng.normal(0, gps_m, n)
    lat, lon = LocalTangentPlane(55.5, 11.0).inverse(e, nn)
    t_rx = np.floor(t_fix + rng.uniform(0, jitter_s, n))
    keep = np.r_[True, np.diff(t_rx) > 0]  # two reports stamped the same second: one is kept
    out = []
    for i in np.flatnonzero(keep):
        c = float(np.degrees(crs[i]) % 360)
        out.append(Report("ok", mmsi, float(t_rx[i]), float(np.round(lat[i], 6)), float(np.round(lon[i], 6)),
                          round(v / KNOT_M_S, 1) if sog else NA, round(c, 1) if sog else NA,
                          float(round(c)) if sog else NA))
    return out


def relabel(reports, label: str) -> list[Report]:
    return [replace(r, label=label) for r in reports]


def resampled_bundled(rng: np.random.Generator, *, step: float, hours: float = 1.0, file: str = "noaa_virginia_beach_2020-06-04_to_06.csv",
                      max_vessels: int = 40, min_reports: int = 30, jitter_s: float = 3.0, gps_m: float = 5.0,
                      lat0: float = 55.5, lon0: float = 11.0) -> list[Report]:
    """Real tracks at another cadence and in other waters: the bundled file's busiest ``hours``
    (most vessels), each vessel's reports ≤ 3 min apart interpolated smoothly (PCHIP) to a fix
    every ``step`` s, moved to (``lat0``, ``lon0``) in the local plane, with GPS noise ``gps_m``
    per fix, reception jitter 0-``jitter_s`` s stamped to the second, and SOG/COG/heading from the
    interpolated velocity rounded as in real files (0.1 kn, 0.1°, 1°)."""
    from importlib.resources import files

    import pandas as pd
    from scipy.interpolate import PchipInterpolator

    f = pd.read_csv(files("tsgate.bundled").joinpath("ais", file))
    f["t"] = (pd.to_datetime(f["timestamp"], utc=True) - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    f = f.drop_duplicates(["mmsi", "t"]).sort_values(["mmsi", "t"])
    hour = np.floor((f["t"] - f["t"].min()) / (3600 * hours))
    start = f.groupby(hour)["mmsi"].nunique().idxmax()
    f = f[hour == start]
    src = LocalTangentPlane(float(f["lat"].mean()), float(f["lon"].mean()))
    dst = LocalTangentPlane(lat0, lon0)
    t0 = float(f["t"].min())
    out: list[Report] = []
    for mmsi, g in f.groupby("mmsi"):
        if len(out) and len({r.mmsi for r in out}) >= max_vessels:
            break
        e, n = src.forward(g["lat"].to_numpy(), g["lon"].to_numpy())
        t = g["t"].to_numpy() - t0
        cut = np.r_[0, np.flatnonzero(np.diff(t) > 180) + 1, len(t)]
        track: list[Report] = []
        for a, b in zip(cut[:-1], cut[1:]):
            if b - a < 3:
                continue
            tf = np.arange(np.ceil(t[a] / step) * step, t[b - 1], step)
            if len(tf) < 2:
                continue
            pe, pn = PchipInterpolator(t[a:b], e[a:b]), PchipInterpolator(t[a:b], n[a:b])
            ve, vn = pe(tf, 1), pn(tf, 1)
            lat, lon = dst.inverse(pe(tf) + rng.normal(0, gps_m, len(tf)), pn(tf) + rng.normal(0, gps_m, len(tf)))
            sog = np.hypot(ve, vn) / KNOT_M_S
            cog = np.degrees(np.arctan2(ve, vn)) % 360
            rx = np.floor(tf + rng.uniform(0, jitter_s, len(tf)))
            keep = np.r_[True, np.diff(rx) > 0]
            for i in np.flatnonzero(keep):
                moving = sog[i] >= 0.5
                track.append(Report("ok", int(mmsi), float(rx[i]), float(np.round(lat[i], 6)), float(np.round(lon[i], 6)),
                                    float(round(sog[i], 1)), float(round(cog[i], 1)) if moving else NA,
                                    float(round(cog[i])) % 360 if moving else NA))
        if len(track) >= min_reports:
            out += track
    out.sort(key=lambda r: r.sec)
    return out
