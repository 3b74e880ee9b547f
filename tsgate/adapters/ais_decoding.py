r"""Exact decoding of the AIS speed, course, heading and position fields (ITU-R M.1371, messages
1-3 and 18), applied to every layout while it is read.

AIS sends SOG as 10 bits in 0.1 kn, COG as 12 bits in 0.1°, heading as 9 bits in whole degrees,
with reserved values for "not available". Downloads write the decoded numbers, and some decoders
write the course field as a *signed* 12-bit number. The rules (evidence and counts on the real
files in ``datasets/ais/README.md``):

========  ===================================================  ==========================
field     value in the file                                    becomes
========  ===================================================  ==========================
COG       -204.8 ≤ c < 0 (signed 12-bit: raw 2048..4095)       c + 409.6 (rounded to 0.1°)
COG       360.0 after that (raw 3600, e.g. -49.6)              missing ("not available")
COG       > 360 after that, or < -204.8                        missing (unused or invalid)
SOG       102.3 (raw 1023)                                     missing ("not available")
SOG       102.2 (raw 1022: "102.2 kn or faster")               missing (not a speed to model)
SOG       > 102.3                                              missing (invalid)
SOG       < 0 (no known code)                                  missing (invalid; counted)
heading   511                                                  missing ("not available")
heading   360..510 or < 0                                      missing (invalid)
lat/lon   91 / 181                                             row dropped ("not available")
lat/lon   empty, \|lat\| > 90, \|lon\| > 180                    row dropped
MMSI      empty, ≤ 0 or not a whole number                     row dropped
========  ===================================================  ==========================

An empty field (aisdk's way to say "not available") or a missing column is missing too. A
missing SOG, COG or heading does not drop the report: :mod:`tsgate.adapters.ais_motion` derives
it from the positions. Every rule is counted in the repair report.
"""

from __future__ import annotations

import numpy as np

from tsgate.adapters.ais_report import Tally

__all__ = ["decode_motion", "valid_rows", "COG_SIGNED", "REASONS"]

#: the reasons the rules write in the repair report, by rule
REASONS = {
    "cog_signed": "COG < 0 read as a signed 12-bit value (+409.6)",
    "cog_na": "COG 360 (not available) → missing",
    "cog_range": "COG out of range → missing",
    "cog_empty": "COG not reported",
    "sog_na": "SOG 102.3 (not available) → missing",
    "sog_max": "SOG 102.2 (102.2 kn or faster) → missing",
    "sog_range": "SOG above 102.3 → missing",
    "sog_negative": "SOG negative → missing",
    "sog_empty": "SOG not reported",
    "heading_na": "heading 511 (not available) → missing",
    "heading_range": "heading out of range → missing",
    "heading_empty": "heading not reported",
    "mmsi": "rows without a valid MMSI dropped",
    "pos_na": "position not available (lat 91 / lon 181), dropped",
    "pos_bad": "position missing or out of range, dropped",
}
COG_SIGNED = 409.6  # 4096 × 0.1°: what a signed reading of the 12-bit course field subtracts


def _decode_cog(cog: np.ndarray, tally: Tally, present: bool) -> None:
    empty = np.isnan(cog)
    tally.values(REASONS["cog_empty"], empty, detail="empty field" if present else "no COG column")
    neg = (cog < 0) & (cog >= -204.8)
    if neg.any():
        cog[neg] = np.round(cog[neg] + COG_SIGNED, 1)
        tally.values(REASONS["cog_signed"], neg, detail="raw 2048..4095 written as -204.8..-0.1")
    na = np.abs(cog - 360.0) < 1e-6
    tally.values(REASONS["cog_na"], na, detail="raw 3600")
    bad = ~na & ((cog > 360.0) | (cog < 0))
    tally.values(REASONS["cog_range"], bad, detail="unused codes 3601..4095 or below -204.8")
    cog[na | bad] = np.nan


def _decode_sog(sog: np.ndarray, tally: Tally, present: bool) -> None:
    tally.values(REASONS["sog_empty"], np.isnan(sog), detail="empty field" if present else "no SOG column")
    na = (sog >= 102.25) & (sog < 102.35)
    fast = (sog >= 102.15) & (sog < 102.25)
    high = sog >= 102.35
    neg = sog < 0
    tally.values(REASONS["sog_na"], na, detail="raw 1023")
    tally.values(REASONS["sog_max"], fast, detail="raw 1022")
    tally.values(REASONS["sog_range"], high)
    tally.values(REASONS["sog_negative"], neg, detail="no known code; a signed 10-bit reading would write 1023 as -0.1")
    sog[na | fast | high | neg] = np.nan


def _decode_heading(heading: np.ndarray, tally: Tally, present: bool) -> None:
    tally.values(REASONS["heading_empty"], np.isnan(heading), detail="empty field" if present else "no heading column")
    na = heading == 511
    bad = ~na & ((heading >= 360) | (heading < 0))
    tally.values(REASONS["heading_na"], na)
    tally.values(REASONS["heading_range"], bad, detail="360..510 or negative")
    heading[na | bad] = np.nan


def decode_motion(table: dict[str, np.ndarray], tally: Tally, present: set[str]) -> None:
    """Apply the SOG, COG and heading rules in place (float64 arrays, NaN = empty field).

    ``present`` names the fields the file has a column for (the others are counted as "no column").
    Read-only arrays (views of the parsed CSV block) are copied first.
    """
    for k in ("sog", "cog", "heading"):
        if not table[k].flags.writeable:
            table[k] = table[k].copy()
    _decode_sog(table["sog"], tally, "sog" in present)
    _decode_cog(table["cog"], tally, "cog" in present)
    _decode_heading(table["heading"], tally, "heading" in present)


def valid_rows(table: dict[str, np.ndarray], tally: Tally, among: np.ndarray) -> np.ndarray:
    """[n] True for rows with a valid MMSI and position; the others among the rows of ``among``
    are recorded as dropped."""
    mm, lat, lon, line = table["mmsi"], table["lat"], table["lon"], table["line"]
    with np.errstate(invalid="ignore"):
        bad_id = ~np.isfinite(mm) | (mm <= 0) | (mm != np.round(mm))
        ids = np.where(bad_id, -1, mm).astype(np.int64)
        tally.rows(REASONS["mmsi"], among & bad_id, None, line)
        na = ~bad_id & ((lat == 91.0) | (lon == 181.0))
        ok_range = np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
    bad = ~bad_id & ~na & ~ok_range
    na &= among
    bad &= among
    tally.rows(REASONS["pos_na"], na, ids, line)
    tally.rows(REASONS["pos_bad"], bad, ids, line, detail="empty, |lat| > 90 or |lon| > 180")
    return ~(bad_id | na | bad)
