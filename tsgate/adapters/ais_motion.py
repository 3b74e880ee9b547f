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
from tsgate.data.segments import runs

__all__ = ["COVARIATES", "UNITS", "REFERENCE_S", "motion"]

COVARIATES = ("sog_kn", "cog_deg", "heading_deg", "v_east_m_s", "v_north_m_s")
UNITS = {"sog_kn": "kn", "cog_deg": "deg", "heading_deg": "deg", "v_east_m_s": "m/s", "v_north_m_s": "m/s"}
REFERENCE_S = 30.0


def _reference(t: np.ndarray, voyage_start: np.ndarray, voyage_index: np.ndarray) -> np.ndarray:
    """[n] the reference report of each row (see the module docstring); -1 at a voyage's first row."""
    n = len(t)
    i = np.arange(n)
    if n == 0:
        return i
    span = float(t.max() - t.min()) + 2 * REFERENCE_S + 1.0
    lifted = (t - t.min()) + voyage_index.astype(np.float64) * span  # voyages never overlap
    r = np.searchsorted(lifted, lifted - REFERENCE_S, side="right") - 1
    ref = np.where(r >= voyage_start, r, i - 1)
    return np.where(i > voyage_start, ref, -1)


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
    lat, lon, t = table["lat"], table["lon"], table["time"].astype(np.float64) / 1e9
    voyage = runs(table["key"], table["segment"])
    ref = _reference(t, voyage.start, voyage.index)
    has_ref = (ref >= 0) & derive
    rr = np.where(has_ref, ref, np.arange(len(t)))
    dist = pair_distances_m(lat, lon, rr, np.arange(len(t)))
    with np.errstate(invalid="ignore", divide="ignore"):
        sog_d = np.where(has_ref, dist / (t - t[rr]) / KNOT_M_S, np.nan)
    cog_d = np.where(has_ref & (dist > 0), initial_bearing_deg(lat[rr], lon[rr], lat, lon), np.nan)

    sog, cog, heading = table["sog"].copy(), table["cog"].copy(), table["heading"]
    fill = np.isnan(sog) & has_ref
    sog[fill] = sog_d[fill]
    tally.values("SOG derived from positions", fill, detail=f"backward, reference ≥ {REFERENCE_S:g} s earlier")
    fill = np.isnan(cog) & np.isfinite(cog_d)
    cog[fill] = cog_d[fill]
    tally.values("COG derived from positions", fill, detail=f"backward, reference ≥ {REFERENCE_S:g} s earlier")

    if min_course_speed_kn > 0:
        low = sog < min_course_speed_kn
        at_speed = ~low & np.isfinite(sog) & np.isfinite(cog)
        last = np.maximum.accumulate(np.where(at_speed, np.arange(len(t)), -1))
        carried = low & (last >= voyage.start)
        hd = low & ~carried & np.isfinite(heading)
        kept = low & ~carried & ~hd & np.isfinite(cog)
        zero = low & ~carried & ~hd & ~kept
        cog[carried] = cog[last[carried]]
        cog[hd] = heading[hd]
        cog[zero] = 0.0
        what = f"COG below {min_course_speed_kn:g} kn"
        tally.values(f"{what}: last course at speed", carried)
        tally.values(f"{what}: reported heading", hd, detail="no course at speed yet in the voyage")
        tally.values(f"{what}: kept", kept, detail="no course at speed nor heading yet in the voyage")
        tally.values(f"{what}: vessel has not moved, 0°", zero)
    out = {"sog_kn": sog, "cog_deg": cog}
    no_heading = np.isnan(heading)
    out["heading_deg"] = np.where(no_heading, cog, heading)
    if "heading_deg" in covariates:
        tally.values("heading from course (not reported)", no_heading & np.isfinite(cog))
    with np.errstate(invalid="ignore"):
        v = sog * KNOT_M_S
        rad = np.radians(cog)
        out["v_east_m_s"], out["v_north_m_s"] = plane.velocity(lat, lon, v * np.sin(rad), v * np.cos(rad))
    unknown = np.zeros(len(t), dtype=bool)
    for c in covariates:
        unknown |= ~np.isfinite(out[c])
    why = "first report of a voyage, nothing reported" if derive else "not reported and derive_motion=False"
    tally.rows("rows with unknown speed/course dropped", unknown, table["mmsi"], table["line"], detail=why)
    return {c: out[c] for c in covariates}, unknown
