"""AIS cleaning rules on the decoded reports: order, duplicates, same-time conflicts, voyages.

Works on a table of equal-length numpy arrays (see :data:`~tsgate.adapters.ais_reader.FIELDS`),
so that millions of rows are cleaned without per-row Python. Every dropped or moved row is
recorded per vessel with its file line (:class:`~tsgate.adapters.ais_report.Tally`).

1. rows are sorted by vessel and time (stable: same-time rows keep file order); rows that come
   after a later report of their vessel in the file are counted;
2. exact duplicates — same MMSI, time, position, SOG, COG and heading — are one report received
   twice (MarineCadastre has such pairs that differ only in ``ETA``, a field of another message):
   the later copy is dropped;
3. one vessel, one time, several reports: identical positions keep the first; conflicting
   positions follow ``on_conflict``: ``"drop"`` (every report at that time, since nothing says
   which is right) or ``"first"`` (keep the first in file order);
4. (after the jump filter) a vessel's track is split into voyages (``segment``) where reports
   are more than ``max_gap`` apart or where the jump filter found the vessel somewhere else;
   voyages with fewer than ``min_voyage_rows`` reports are dropped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tsgate.adapters.ais_report import Tally, compact
from tsgate.data.segments import runs

__all__ = ["order_reports", "voyages"]


def _out_of_order(table: dict[str, np.ndarray]) -> np.ndarray:
    """[n] True for rows that come, in the file, after a later report of their vessel (rows may
    be in any order: the file order is the line order)."""
    mm, t = table["mmsi"], table["time"]
    by_vessel = np.lexsort((table["line"], mm))  # file order within each vessel
    tv = pd.Series(t[by_vessel])
    group = runs(mm[by_vessel])
    prev_max = tv.groupby(group.index).cummax().shift(1, fill_value=np.iinfo(np.int64).min).to_numpy()
    back_v = (group.position > 0) & (tv.to_numpy() < prev_max)
    back = np.zeros(len(t), dtype=bool)
    back[by_vessel] = back_v
    return back


def _order(mm: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Stable order by MMSI then time (equal MMSI and time keep the rows' order).

    AIS files have whole-second times: then one int64 key of (vessel rank, seconds, row) is
    sorted by value (numpy's vectorised sort, several times faster than an argsort) and the row
    is read back from its low bits; the row in the key makes the order stable. The vessel rank
    comes from a hash table (``pandas.factorize``), not a sort. Other times, or a key wider than
    63 bits, use a two-key lexsort."""
    n = len(t)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    t0 = int(t.min())
    sec, rem = np.divmod(t - t0, 1_000_000_000)
    if not rem.any():
        del rem
        rank = pd.factorize(mm, sort=True)[0]
        b_rank, b_sec, b_row = int(rank.max()).bit_length(), int(sec.max()).bit_length(), (n - 1).bit_length()
        if b_rank + b_sec + b_row <= 63:
            key = rank.astype(np.int64) << (b_sec + b_row)
            del rank
            key |= sec << b_row
            del sec
            key |= np.arange(n, dtype=np.int64)
            key.sort()
            key &= (1 << b_row) - 1
            return key
    return np.lexsort((t, mm))


def order_reports(table: dict[str, np.ndarray], tally: Tally, on_conflict: str) -> np.ndarray:
    """Rules 1-3, in place: the rows sorted by MMSI then time (stable), less exact duplicates
    and same-time conflicts. Returns the MMSIs of the table as it came (sorted, unique)."""
    compact(table, _order(table["mmsi"], table["time"]))
    mm, t, line = table["mmsi"], table["time"], table["line"]
    same = mm[1:] == mm[:-1]
    ids = mm[np.r_[True, ~same]] if len(mm) else mm.copy()
    # the file was in time order within every vessel if the lines rise within each vessel
    back = _out_of_order(table) if np.any(same & (line[1:] < line[:-1])) else None
    tie = np.zeros(len(mm), dtype=bool)
    if len(mm) > 1:
        eq = same & (t[1:] == t[:-1])
        tie[1:] |= eq
        tie[:-1] |= eq
    later = Tally()  # same-time drops are written after the order count, as the rules are numbered
    drop = _same_time(np.flatnonzero(tie), table, later, on_conflict) if tie.any() else None
    if back is not None:
        if drop is not None:  # a row dropped as a duplicate is not also listed as sorted
            back[drop] = False
        tally.rows("rows out of time order within a vessel, sorted", back, mm, line)
    tally.extend(later)
    if drop is not None:
        compact(table, ~drop)
    return ids


def _same_time(idx: np.ndarray, table: dict[str, np.ndarray], tally: Tally, on_conflict: str) -> np.ndarray:
    """[n] rows dropped by rules 2 and 3 (``table`` sorted; ``idx`` = rows in a same-time tie)."""
    cols = ("mmsi", "time", "lat", "lon", "sog", "cog", "heading")
    mm_s, line_s = table["mmsi"], table["line"]
    n = len(mm_s)
    sub = pd.DataFrame({k: table[k][idx] for k in cols})
    exact = sub.duplicated(list(cols), keep="first").to_numpy()
    drop = np.zeros(n, dtype=bool)
    drop[idx[exact]] = True
    tally.rows("exact duplicate rows dropped", drop, mm_s, line_s,
               detail="same MMSI, time, position, SOG, COG and heading; the later copy")
    sub, idx = sub[~exact], idx[~exact]
    g = sub.groupby(["mmsi", "time"], sort=False)
    differs = sub["lat"].ne(g["lat"].transform("first")) | sub["lon"].ne(g["lon"].transform("first"))
    conflict = differs.groupby([sub["mmsi"], sub["time"]], sort=False).transform("max").to_numpy(dtype=bool)
    later = sub.duplicated(["mmsi", "time"], keep="first").to_numpy()
    same_pos = np.zeros(n, dtype=bool)
    same_pos[idx[later & ~conflict]] = True
    tally.rows("same time and position as an earlier report, dropped", same_pos, mm_s, line_s)
    conf = np.zeros(n, dtype=bool)
    if on_conflict == "drop":
        conf[idx[conflict]] = True
        detail = "on_conflict='drop': every report at that time"
    else:
        conf[idx[conflict & later]] = True
        detail = "on_conflict='first': later reports"
    tally.rows("same time, conflicting positions, dropped", conf, mm_s, line_s, detail=detail)
    return drop | same_pos | conf


def voyages(
    key: np.ndarray,
    time_ns: np.ndarray,
    mmsi: np.ndarray,
    line: np.ndarray,
    tally: Tally,
    *,
    min_rows: int,
    gap_ns: int | None = None,
    starts: np.ndarray | None = None,
    segment: np.ndarray | None = None,
    keep: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Rule 4: (rows kept, voyage number within its series of every row).

    With ``gap_ns``, voyages start at a series' (``key``) first row, after gaps longer than
    ``gap_ns`` and where ``starts`` is True; otherwise ``segment`` gives them. Voyages with fewer
    than ``min_rows`` rows (of those in ``keep``, default all) are dropped (listed)."""
    n = len(key)
    if n == 0:
        return np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int64)
    new_series = np.r_[True, key[1:] != key[:-1]]
    if segment is None:
        new = new_series | np.r_[True, np.diff(time_ns) > (gap_ns if gap_ns is not None else np.inf)]
        if starts is not None:
            new |= starts
        voyage = np.cumsum(new) - 1
        first_voyage = voyage[np.flatnonzero(new_series)]  # voyage number at each series' start
        segment = voyage - np.repeat(first_voyage, np.diff(np.r_[np.flatnonzero(new_series), n]))
        del voyage
    else:
        new = new_series | np.r_[True, segment[1:] != segment[:-1]]
    first = np.flatnonzero(new)
    del new
    sizes = np.add.reduceat(np.ones(n, np.int64) if keep is None else keep.astype(np.int64), first)
    short = np.repeat(sizes < min_rows, np.diff(np.r_[first, n]))
    if keep is not None:
        short &= keep
    tally.rows("voyages too short dropped (rows)", short, mmsi, line, detail=f"fewer than {min_rows} reports")
    return (~short if keep is None else keep & ~short), segment
