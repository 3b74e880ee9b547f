"""AIS cleaning rules, in the order :func:`~tsgate.adapters.ais.load_ais` applies them.

Every dropped or changed row is counted per reason and vessel (:func:`count`) in the series'
:class:`~tsgate.data.repairs.RepairReport`, with its file line number. The rules themselves are
listed in the :mod:`tsgate.adapters.ais` docstring (steps 2 to 7 and 9).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tsgate.adapters.geo import KNOT_M_S, haversine_m, initial_bearing_deg
from tsgate.data.repairs import RepairReport
from tsgate.data.segments import runs, runs_from_starts
from tsgate.data.times import to_seconds

__all__ = ["count", "clean", "jumps", "voyages", "motion"]


def count(
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


def clean(df: pd.DataFrame, report: RepairReport, *, on_conflict: str, max_speed_kn: float) -> pd.DataFrame:
    mm = df["mmsi"].to_numpy()
    line = df["line"].to_numpy()
    # 2. "not available" codes → missing (values kept, rows kept)
    codes = (("sog", 102.3, "SOG ≥ 102.3 kn"), ("cog", 360.0, "COG ≥ 360°"), ("heading", 360.0, "heading ≥ 360° (511)"))
    for col, limit, what in codes:
        v = df[col].to_numpy()
        na = (v >= limit) | (v < 0)
        count(report, f"not-available {col} set to missing", na, mm, line, detail=what)
        df.loc[na, col] = np.nan
    bad_id = ~np.isfinite(mm) | (mm <= 0) | (mm != np.round(mm))
    count(report, "rows without a valid MMSI dropped", bad_id, None, line)
    lat, lon = df["lat"].to_numpy(), df["lon"].to_numpy()
    bad_pos = ~bad_id & ~(np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180))
    count(
        report, "rows without a valid position dropped", bad_pos, mm, line,
        detail="lat 91 / lon 181 / missing / out of range",
    )
    df = df[~(bad_id | bad_pos)].copy()
    df["mmsi"] = df["mmsi"].astype(np.int64)

    # 3. exact duplicates
    key = ["mmsi", "time", "lat", "lon", "sog", "cog", "heading"]
    dup = df.duplicated(key, keep="first").to_numpy()
    count(report, "exact duplicate rows dropped", dup, df["mmsi"].to_numpy(), df["line"].to_numpy())
    df = df[~dup]

    # 4. sort by vessel then time; count the rows that come after a later report of their vessel
    latest = df.groupby("mmsi", sort=False)["time"].cummax()
    back = (df["time"] < latest.groupby(df["mmsi"], sort=False).shift(1)).to_numpy()
    count(report, "rows out of time order within a vessel, sorted", back, df["mmsi"].to_numpy(), df["line"].to_numpy())
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
        count(report, "same time and position as an earlier report, dropped", same_pos_drop, ids, lines)
        if on_conflict == "drop":
            conf_drop = conflict
            detail = "on_conflict='drop': every report at that time"
        else:
            conf_drop = conflict & later
            detail = "on_conflict='first': later reports"
        count(report, "same time, conflicting positions, dropped", conf_drop, ids, lines, detail=detail)
        df = df[~(same_pos_drop | conf_drop)].reset_index(drop=True)

    # 6. implausible jumps
    drop = jumps(df, max_speed_kn)
    count(
        report, "implausible jumps dropped", drop, df["mmsi"].to_numpy(), df["line"].to_numpy(),
        detail=f"implied speed > {max_speed_kn:g} kn",
    )
    return df[~drop].reset_index(drop=True)


def _speed_kn(lat: np.ndarray, lon: np.ndarray, t: np.ndarray, i: int, j: int) -> float:
    dt = t[j] - t[i]
    d = float(haversine_m(lat[i], lon[i], lat[j], lon[j]))
    return np.inf if dt <= 0 else d / dt / KNOT_M_S


def jumps(df: pd.DataFrame, max_kn: float) -> np.ndarray:
    """Rows to drop as implausible jumps (see step 6 of the module docstring)."""
    n = len(df)
    drop = np.zeros(n, dtype=bool)
    if n < 2:
        return drop
    lat, lon = df["lat"].to_numpy(), df["lon"].to_numpy()
    t = to_seconds(df["time"], "datetime")
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


def voyages(df: pd.DataFrame, report: RepairReport, *, gap_s: float | None, min_rows: int) -> pd.DataFrame:
    """Number voyages within each vessel (when ``gap_s`` is given) and drop the short ones."""
    if len(df) == 0:
        return df
    mm = df["mmsi"].to_numpy()
    if gap_s is not None:
        t = to_seconds(df["time"], "datetime")
        vessel = runs(mm)
        voyage = runs_from_starts((vessel.position == 0) | np.r_[True, np.diff(t) > gap_s]).index
        df = df.assign(segment=voyage - voyage[vessel.start])
    r = runs(mm, df["segment"].to_numpy())
    short = (r.end - r.start) < min_rows
    count(
        report, "voyages too short dropped (rows)", short, mm, df["line"].to_numpy(),
        detail=f"fewer than {min_rows} reports",
    )
    return df[~short].reset_index(drop=True)


def motion(df: pd.DataFrame, report: RepairReport, covariates: list[str], derive: bool) -> pd.DataFrame:
    """Reported SOG/COG, filled from positions by backward differences where missing."""
    mm, seg = df["mmsi"].to_numpy(), df["segment"].to_numpy()
    lat, lon = df["lat"].to_numpy(), df["lon"].to_numpy()
    t = to_seconds(df["time"], "datetime")
    voyage = runs(mm, seg)
    first = voyage.position == 0
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
        count(report, "SOG derived from positions", fill, mm, line)
        df["sog_kn"] = sog
        unknown |= ~np.isfinite(sog)
    if "cog_deg" in covariates:
        cog = df["cog"].to_numpy().copy()
        fill = ~np.isfinite(cog) & ~first if derive else np.zeros(len(df), bool)
        bearing = initial_bearing_deg(lat[prev], lon[prev], lat, lon)
        moved = fill & (dist > 0)
        cog[moved] = bearing[moved]
        count(report, "COG derived from positions", moved, mm, line)
        # not moved: carry the voyage's last course forward (a Python-free forward fill)
        still = fill & ~(dist > 0)
        if still.any():
            s = pd.Series(np.where(still, np.nan, cog))
            filled = s.groupby(voyage.index).ffill().to_numpy()
            start = still & ~np.isfinite(filled)
            cog[still] = np.where(np.isfinite(filled[still]), filled[still], 0.0)
            count(report, "COG of a vessel that did not move carried forward", still & ~start, mm, line)
            count(report, "COG of a vessel that did not move since its voyage start set to 0", start, mm, line)
        df["cog_deg"] = cog
        unknown |= ~np.isfinite(cog)
    why = "first report of a voyage, nothing reported" if derive else "not reported and derive_motion=False"
    count(report, "rows with unknown speed/course dropped", unknown, mm, line, detail=why)
    return df[~unknown].reset_index(drop=True)
