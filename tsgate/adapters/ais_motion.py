"""Speed, course, heading and velocity of every AIS report: reported where the file has them,
derived from the positions (backward only) where it does not.

Covariates (units in ``series.units``):

- ``sog_kn``: speed over ground, knots;
- ``cog_deg``: course over ground, degrees clockwise from true north at the vessel, [0, 360);
- ``heading_deg``: the reported heading (degrees); where not reported, the course ``cog_deg``
  (the best estimate from positions; counted);
- ``v_east_m_s``, ``v_north_m_s``: the velocity in the projection's axes, m/s — the rate of change
  of ``east_m``/``north_m``, which is what dead reckoning and a model need (a course in degrees
  wraps at 360° and is meaningless at rest; a velocity is continuous and exact: it includes the
  turn of true north against the plane's axes away from its origin).

**Derivation, backward only.** Where SOG or COG is missing (an n/a code, an empty field, or no
column), it is computed from the reference report to this one: the latest earlier report of the
same voyage at least ``REFERENCE_S`` (30 s) before, or the previous report if there is none that
old (at 10 s cadence a 1-3 s receive interval would make the speed mostly GPS noise). Speed is the
great-circle distance over the time, course the initial bearing. Nothing after a report is used,
so a covariate never leaks the future. The first report of a voyage has no reference: a value it
does not report stays unknown and the row is dropped (listed).

**At rest.** Below ``min_course_speed_kn`` (0.5 kn) the course is GPS noise (on the MarineCadastre
hour, reports at SOG 0 carry 1,686 distinct courses, derived courses there miss the reported ones
by 83° median). ``cog_deg`` then keeps the last course the voyage had at speed, which is where the
vessel points and where it will most likely go; without one yet, the reported heading; without
that, the value as reported or derived; a vessel that has not moved at all since its voyage began
gets 0°. Each case is counted. The speed itself, and so the velocity, is kept as reported.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tsgate.adapters.ais_report import Tally
from tsgate.adapters.geo import KNOT_M_S, LocalTangentPlane, initial_bearing_deg, pair_distances_m

__all__ = ["COVARIATES", "UNITS", "REFERENCE_S", "motion"]

COVARIATES = ("sog_kn", "cog_deg", "heading_deg", "v_east_m_s", "v_north_m_s")
UNITS = {"sog_kn": "kn", "cog_deg": "deg", "heading_deg": "deg", "v_east_m_s": "m/s", "v_north_m_s": "m/s"}
REFERENCE_S = 30.0


_SLICE = 1 << 20  # rows per slice of the derivation (bounds its temporary arrays)


def _reference(time_ns: np.ndarray, first: np.ndarray, index: np.ndarray) -> np.ndarray:
    """[n] the reference report of each row (see the module docstring); -1 at a voyage's first
    row. ``first``: each voyage's first row; ``index``: each row's voyage number."""
    n = len(time_ns)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    t0 = int(time_ns.min())
    span = (int(time_ns.max()) - t0) / 1e9 + 2 * REFERENCE_S + 1.0
    lifted = index * span  # voyages never overlap once lifted apart (seconds)
    lifted += (time_ns - t0) / 1e9
    ref = np.searchsorted(lifted, lifted - REFERENCE_S, side="right") - 1
    del lifted
    early = np.flatnonzero(ref < first[index])  # none that old in the voyage: the previous report
    ref[early] = early - 1
    ref[first] = -1
    return ref


def _derive(table: dict[str, np.ndarray], ref: np.ndarray, sog: np.ndarray, cog: np.ndarray) -> tuple[int, int]:
    """Fill NaN in ``sog``/``cog`` in place from each row's reference report; (SOG, COG) counts."""
    lat, lon, time = table["lat"], table["lon"], table["time"]
    n_sog = n_cog = 0
    for s in range(0, len(ref), _SLICE):
        sl = slice(s, min(len(ref), s + _SLICE))
        r = ref[sl]
        need = (r >= 0) & (np.isnan(sog[sl]) | np.isnan(cog[sl]))
        if not need.any():
            continue
        i = np.flatnonzero(need) + s
        j = r[need]
        dist = pair_distances_m(lat, lon, j, i)
        fill = np.isnan(sog[i])
        sog[i[fill]] = dist[fill] / ((time[i[fill]] - time[j[fill]]) / 1e9) / KNOT_M_S
        n_sog += int(fill.sum())
        fill = np.isnan(cog[i]) & (dist > 0)
        cog[i[fill]] = initial_bearing_deg(lat[j[fill]], lon[j[fill]], lat[i[fill]], lon[i[fill]])
        n_cog += int(fill.sum())
    return n_sog, n_cog


def motion(
    table: dict[str, np.ndarray],
    tally: Tally,
    plane: LocalTangentPlane,
    covariates: Sequence[str],
    *,
    derive: bool,
    min_course_speed_kn: float,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """(the requested covariate columns, [n] rows where one stays unknown: listed as dropped)."""
    key, seg = table["key"], table["segment"]
    new = np.r_[True, (key[1:] != key[:-1]) | (seg[1:] != seg[:-1])]
    first = np.flatnonzero(new)  # each voyage's first row
    index = np.cumsum(new) - 1  # each row's voyage
    del new
    sog, cog, heading = table["sog"].copy(), table["cog"].copy(), table["heading"]
    if derive:
        ref = _reference(table["time"], first, index)
        n_sog, n_cog = _derive(table, ref, sog, cog)
        del ref
        what = f"backward, reference ≥ {REFERENCE_S:g} s earlier"
        tally.values("SOG derived from positions", n_sog, detail=what)
        tally.values("COG derived from positions", n_cog, detail=what)

    if min_course_speed_kn > 0:
        low = sog < min_course_speed_kn
        at_speed = ~low & np.isfinite(sog) & np.isfinite(cog)
        last = np.full(len(sog), -1, dtype=np.int64)
        last[at_speed] = np.flatnonzero(at_speed)
        del at_speed
        np.maximum.accumulate(last, out=last)  # the latest row at speed up to each row
        carried = low & (last >= first[index])
        del index, first
        hd = low & ~carried & np.isfinite(heading)
        kept = low & ~carried & ~hd & np.isfinite(cog)
        zero = low & ~carried & ~hd & ~kept
        cog[carried] = cog[last[carried]]
        del last
        cog[hd] = heading[hd]
        cog[zero] = 0.0
        what = f"COG below {min_course_speed_kn:g} kn"
        tally.values(f"{what}: last course at speed", carried)
        tally.values(f"{what}: reported heading", hd, detail="no course at speed yet in the voyage")
        tally.values(f"{what}: kept", kept, detail="no course at speed nor heading yet in the voyage")
        tally.values(f"{what}: vessel has not moved, 0°", zero)
        del low, carried, hd, kept, zero
    out = {"sog_kn": sog, "cog_deg": cog}
    no_heading = np.isnan(heading)
    if "heading_deg" in covariates:
        out["heading_deg"] = np.where(no_heading, cog, heading)
        tally.values("heading from course (not reported)", no_heading & np.isfinite(cog))
    del no_heading
    if "v_east_m_s" in covariates or "v_north_m_s" in covariates:
        ve, vn = np.empty(len(sog)), np.empty(len(sog))
        for s in range(0, len(sog), _SLICE):
            sl = slice(s, s + _SLICE)
            with np.errstate(invalid="ignore"):
                v, rad = sog[sl] * KNOT_M_S, np.radians(cog[sl])
                ve[sl], vn[sl] = plane.velocity(table["lat"][sl], table["lon"][sl], v * np.sin(rad), v * np.cos(rad))
        out["v_east_m_s"], out["v_north_m_s"] = ve, vn
    unknown = np.zeros(len(sog), dtype=bool)
    for c in covariates:
        unknown |= ~np.isfinite(out[c])
    why = "first report of a voyage, nothing reported" if derive else "not reported and derive_motion=False"
    tally.rows("rows with unknown speed/course dropped", unknown, table["mmsi"], table["line"], detail=why)
    return {c: out[c] for c in covariates}, unknown
