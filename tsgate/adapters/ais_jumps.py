"""The neighbour-aware AIS position filter: stale repeats, spikes, jumps and shared MMSIs.

A report is judged against the reports before **and** after it, so that a good report right
after a glitch (or a short receive-time gap at 2-10 s cadence) is not thrown away. Per vessel,
in time order (after duplicates and same-time conflicts are handled):

A. **Stale repeats.** A report at exactly the previous report's position while the vessel moves
   is the old position sent again: dropped. "Moves" is the reported SOG ≥ ``stale_sog_kn`` at the
   repeat, or, without a reported SOG, a speed above ``stale_speed_kn`` both into the first
   report of the repeated position and from the repeat to the next report at another position
   (a vessel that stops or starts off is kept).
B. **Plausibility with slack.** A step between reports i and j is implausible when the distance
   exceeds ``max_speed·|t_j − t_i| + slack`` with ``slack = max_speed·time_slack_s +
   position_slack_m`` (time stamps are receive times with ~1-2 s of jitter; GPS positions wander
   by tens of metres): at 50 kn, 101 m. Short intervals no longer make speeds explode.
C. **Walk.** With k the last kept report and i the next one: i plausible from k → kept. Else,
   with j the report after i:

   - k and j agree → i is a **spike**: dropped;
   - i and j agree, and the kept report before k agrees with i → k was the spike: dropped, i kept;
   - i and j agree and k is the vessel's first report → k was a glitch: dropped;
   - i and j agree otherwise → the vessel is somewhere else now (e.g. after a coverage gap):
     i starts a new voyage piece;
   - i is the last report → dropped; nothing agrees with i → an isolated glitch: dropped.
D. **Shared MMSI.** A vessel with at least ``shared_min_steps`` implausible steps that are at
   least ``shared_share`` of its steps may be more than one transmitter on one MMSI. Its reports
   are associated greedily into tracks (each report joins the most recent track it is plausible
   from). If two or more tracks of at least ``min_track_rows`` reports explain ≥ 90 % of them, the
   MMSI is shared: ``multi_transmitter="drop"`` removes the vessel (listed in the repair report),
   ``"split"`` keeps each track as its own series (reports in shorter tracks are dropped).
   Otherwise the implausible reports are glitches of one vessel and rule C handles them (so a
   short track with two glitches loses the glitches, not the vessel). ``"keep"`` skips rule D.

The walk only visits the implausible steps, so a file of millions of clean reports costs a few
vectorised passes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from tsgate.adapters.geo import KNOT_M_S, haversine_m, pair_distances_m
from tsgate.exceptions import ConfigError

__all__ = ["JumpRules", "JumpResult", "filter_jumps", "DROP_REASONS"]

KEEP, STALE, SPIKE, GLITCH, LAST, FIRST, SHARED, NO_TRACK = range(8)
#: the reason written in the repair report for each drop code
DROP_REASONS = {
    STALE: "stale repeated position dropped",
    SPIKE: "spike dropped (implausible from both neighbours)",
    GLITCH: "isolated glitch dropped (implausible from every neighbour)",
    LAST: "last report implausible, dropped",
    FIRST: "first report implausible from the next two, dropped",
    SHARED: "vessel removed: several transmitters on one MMSI",
    NO_TRACK: "report in no track of a shared MMSI, dropped",
}


@dataclass(frozen=True)
class JumpRules:
    """Constants of the position filter (see the module docstring); knots, seconds, metres."""

    max_speed_kn: float = 50.0
    time_slack_s: float = 2.0
    position_slack_m: float = 50.0
    stale_sog_kn: float = 1.0
    stale_speed_kn: float = 2.0
    shared_min_steps: int = 3
    shared_share: float = 0.10
    multi_transmitter: Literal["drop", "split", "keep"] = "drop"
    min_track_rows: int = 10

    def __post_init__(self) -> None:
        def number(name: str, lo: float, strict: bool) -> None:
            v = getattr(self, name)
            ok = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and np.isfinite(v)
            if not ok or (v <= lo if strict else v < lo):
                raise ConfigError(f"JumpRules.{name} must be a number {'>' if strict else '≥'} {lo:g}, got {v!r}.")

        number("max_speed_kn", 0.0, True)
        for name in ("time_slack_s", "position_slack_m", "stale_sog_kn", "stale_speed_kn"):
            number(name, 0.0, False)
        number("shared_share", 0.0, True)
        for name in ("shared_min_steps", "min_track_rows"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ConfigError(f"JumpRules.{name} must be a whole number ≥ 1, got {v!r}.")
        if self.multi_transmitter not in ("drop", "split", "keep"):
            raise ConfigError(
                f"multi_transmitter must be 'drop', 'split' or 'keep', got {self.multi_transmitter!r}."
            )

    @property
    def slack_m(self) -> float:
        """Distance allowed on top of ``max_speed·Δt`` (metres)."""
        return self.max_speed_kn * KNOT_M_S * self.time_slack_s + self.position_slack_m


@dataclass
class JumpResult:
    """Per report: ``code`` (0 kept, else a key of :data:`DROP_REASONS`), ``piece_start`` (a new
    voyage piece starts), ``track`` (1, 2, ... within a split MMSI, else 0); per shared MMSI the
    (implausible steps, steps) that flagged it, and the MMSIs that were split."""

    code: np.ndarray
    piece_start: np.ndarray
    track: np.ndarray
    shared: dict[int, tuple[int, int]] = field(default_factory=dict)
    split: dict[int, int] = field(default_factory=dict)


def _stale(mmsi: np.ndarray, t: np.ndarray, lat: np.ndarray, lon: np.ndarray, sog: np.ndarray,
           rules: JumpRules, cos_lat: np.ndarray) -> np.ndarray:
    n = len(t)
    rep = np.zeros(n, dtype=bool)
    rep[1:] = (mmsi[1:] == mmsi[:-1]) & (lat[1:] == lat[:-1]) & (lon[1:] == lon[:-1])
    stale = np.zeros(n, dtype=bool)
    if not rep.any():
        return stale
    i = np.flatnonzero(rep)
    fresh = np.flatnonzero(~rep)  # the first report of each position (a vessel's first row is one)
    k = np.searchsorted(fresh, i, side="right")
    p = fresh[k - 1]  # first report of the repeated position
    e = np.r_[fresh, n][k]  # the row after the run of repeats
    del fresh, k
    vstart = np.r_[0, np.flatnonzero(mmsi[1:] != mmsi[:-1]) + 1]
    v = np.searchsorted(vstart, i, side="right") - 1
    vend = np.r_[vstart[1:], n]
    before, after = p > vstart[v], e < vend[v]
    pm, ee = np.maximum(p - 1, 0), np.minimum(e, n - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        v_in = pair_distances_m(lat, lon, pm, p, cos_lat) / np.maximum(t[p] - t[pm], 1.0) / KNOT_M_S
        v_out = pair_distances_m(lat, lon, i, ee, cos_lat) / np.maximum(t[ee] - t[i], 1.0) / KNOT_M_S
    s = sog[i]
    moving = np.where(
        np.isfinite(s),
        s >= rules.stale_sog_kn,
        before & after & (v_in > rules.stale_speed_kn) & (v_out > rules.stale_speed_kn),
    )
    stale[i[moving]] = True
    return stale


def _associate(rows: np.ndarray, implausible) -> list[list[int]]:
    """Greedy track association: each report joins the most recent track it is plausible from."""
    tracks: list[list[int]] = []
    for i in rows.tolist():
        best = None
        for tr in tracks:
            if not implausible(tr[-1], i) and (best is None or tr[-1] > best[-1]):
                best = tr
        if best is None:
            tracks.append([i])
        else:
            best.append(i)
    return tracks


def _walk(rows: np.ndarray, bad_steps: np.ndarray, implausible, code: np.ndarray, piece: np.ndarray) -> None:
    """Rule C for one vessel; ``bad_steps[q]`` tells whether rows[q] → rows[q + 1] is implausible."""
    m = len(rows)
    bad_at = np.flatnonzero(bad_steps).tolist()
    k, kk = int(rows[0]), -1
    q, bi = 1, 0
    while q < m:
        if k == rows[q - 1]:
            # kept reports so far are consecutive: jump to the next implausible step
            while bi < len(bad_at) and bad_at[bi] < q - 1:
                bi += 1
            if bi == len(bad_at):
                return
            b = bad_at[bi]
            if b > q - 1:
                kk, k, q = int(rows[b - 1]), int(rows[b]), b + 1
                continue
            bad = True
        else:
            bad = implausible(k, rows[q])
        i = int(rows[q])
        if not bad:
            kk, k = k, i
        else:
            j = int(rows[q + 1]) if q + 1 < m else None
            if j is not None and not implausible(k, j):
                code[i] = SPIKE
            elif j is not None and not implausible(i, j):
                if kk < 0:
                    code[k] = FIRST
                    k = i
                elif not implausible(kk, i):
                    code[k] = SPIKE
                    k = i
                else:
                    piece[i] = True
                    kk, k = k, i
            elif j is None:
                code[i] = LAST
            else:
                code[i] = GLITCH
        q += 1


def filter_jumps(
    mmsi: np.ndarray, t: np.ndarray, lat: np.ndarray, lon: np.ndarray, sog: np.ndarray, rules: JumpRules
) -> JumpResult:
    """Judge every report of vessels sorted by MMSI then time (``t`` in seconds, strictly
    increasing within a vessel; ``sog`` reported knots, NaN where unknown)."""
    n = len(t)
    code = np.zeros(n, dtype=np.uint8)
    piece = np.zeros(n, dtype=bool)
    track = np.zeros(n, dtype=np.int64)
    res = JumpResult(code, piece, track)
    if n < 2:
        return res
    cos_lat = np.cos(np.radians(lat))
    code[_stale(mmsi, t, lat, lon, sog, rules, cos_lat)] = STALE
    vmax, slack = rules.max_speed_kn * KNOT_M_S, rules.slack_m

    def implausible(i: int, j: int) -> bool:
        return bool(haversine_m(lat[i], lon[i], lat[j], lon[j]) > vmax * abs(t[j] - t[i]) + slack)

    live = np.flatnonzero(code == KEEP) if code.any() else None  # None: every report
    # consecutive live reports; views (no index arrays) when nothing was stale
    a, b = (slice(0, n - 1), slice(1, n)) if live is None else (live[:-1], live[1:])
    m = n if live is None else len(live)
    step = mmsi[a] == mmsi[b]
    bad = pair_distances_m(lat, lon, a, b, cos_lat)
    bad -= slack + vmax * np.abs(t[b] - t[a])
    bad = step & (bad > 0)
    if not bad.any():
        return res
    # vessels over the live rows, as positions in ``live``: only those with an implausible step
    firsts = np.r_[0, np.flatnonzero(~step) + 1]
    ends = np.r_[firsts[1:], m]
    del step
    bad_at = np.flatnonzero(bad)
    owner = np.searchsorted(firsts, bad_at, side="right") - 1
    for v, n_bad in zip(*np.unique(owner, return_counts=True)):
        qa, qb = int(firsts[v]), int(ends[v])
        n_steps = qb - qa - 1
        rows = np.arange(qa, qb) if live is None else live[qa:qb]
        shared = (rules.multi_transmitter != "keep" and n_bad >= rules.shared_min_steps
                  and n_bad >= rules.shared_share * max(n_steps, 1))
        if shared:
            tracks = _associate(rows, implausible)
            big = [tr for tr in tracks if len(tr) >= rules.min_track_rows]
            if len(big) >= 2 and sum(map(len, big)) >= 0.9 * len(rows):
                sid = int(mmsi[rows[0]])
                if rules.multi_transmitter == "split":
                    for no, tr in enumerate(big, start=1):
                        track[tr] = no
                    code[[i for tr in tracks if len(tr) < rules.min_track_rows for i in tr]] = NO_TRACK
                    res.split[sid] = len(big)
                else:
                    code[rows] = SHARED
                    res.shared[sid] = (int(n_bad), int(n_steps))
                continue
        _walk(rows, bad[qa : qb - 1], implausible, code, piece)
    return res
