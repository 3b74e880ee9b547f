"""What the AIS adapter changed or dropped, gathered while it reads and cleans, then written to
the series' :class:`~tsgate.data.repairs.RepairReport`.

Three kinds of entry, so that the report stays small and exact on files of millions of rows:

- **dropped rows** (:meth:`Tally.rows`): one entry per reason and vessel, with the file line
  number of every dropped row;
- **changed values** (:meth:`Tally.values`): one entry per reason for the whole file, with the
  count (e.g. "SOG 102.3 (not available) → missing", "SOG derived from positions");
- **not loaded** (:meth:`Tally.total`): rows left out by a selection the user asked for (area,
  time window, vessel type): one count per reason;
- **vessels** (:meth:`Tally.vessel`): one entry per vessel that was removed (with why) or split.

Entries keep the order in which their reasons first occurred; within a reason, vessels are in
ascending MMSI order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from tsgate.data.repairs import RepairReport

__all__ = ["Tally", "take", "compact", "release_memory"]


def _libc_trim() -> Any:
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl): nothing to do
        return None


_TRIM = _libc_trim()


def release_memory() -> None:
    """Give freed heap memory back to the operating system (glibc's ``malloc_trim``; a no-op
    elsewhere). Reading and cleaning millions of rows allocates many block-sized temporary
    arrays; glibc keeps the freed ones in its heap between the kept arrays, which would leave
    the resident memory at up to twice the data."""
    if _TRIM is not None:
        _TRIM(0)


def take(table: Mapping[str, np.ndarray], index: np.ndarray) -> dict[str, np.ndarray]:
    """Every column of a table of equal-length arrays, at ``index`` (mask or positions)."""
    return {k: v[index] for k, v in table.items()}


def compact(table: dict[str, np.ndarray], index: np.ndarray) -> dict[str, np.ndarray]:
    """``take`` in place, one column at a time: each old column is freed as soon as it is
    replaced, so that peak memory is the table plus one column (not two tables)."""
    for k in list(table):
        table[k] = table[k][index]
    release_memory()
    return table


def _groups(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(order, unique ids, start of each id's block in ``ids[order]``), stable."""
    if len(ids) > 1 and np.any(ids[1:] < ids[:-1]):
        order = np.argsort(ids, kind="stable")
    else:
        order = np.arange(len(ids))
    s = ids[order]
    starts = np.r_[0, np.flatnonzero(s[1:] != s[:-1]) + 1] if len(s) else np.zeros(0, np.int64)
    return order, s[starts], starts


class Tally:
    """Counts and dropped rows of the AIS adapter, gathered over chunks (see the module docstring)."""

    def __init__(self) -> None:
        # (reason, detail) → kind and data; dicts keep insertion order
        self._dropped: dict[tuple[str, str], dict[int | None, list[np.ndarray]]] = {}
        self._values: dict[tuple[str, str], int] = {}
        self._totals: dict[tuple[str, str], int] = {}
        self._vessels: dict[tuple[str, str], dict[int, int]] = {}
        self._order: list[tuple[str, tuple[str, str]]] = []

    def _key(self, kind: str, reason: str, detail: str, store: dict[tuple[str, str], Any], empty: Any) -> Any:
        key = (reason, detail)
        if key not in store:
            store[key] = empty
            self._order.append((kind, key))
        return key

    def rows(
        self, reason: str, mask: np.ndarray, mmsi: np.ndarray | None, line: np.ndarray, detail: str = ""
    ) -> None:
        """Rows in ``mask`` were dropped (or moved): recorded per vessel (or in one entry when
        ``mmsi`` is None) with their file lines."""
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        key = self._key("dropped", reason, detail, self._dropped, {})
        per = self._dropped[key]
        lines = np.asarray(line)[mask]
        if mmsi is None:
            per.setdefault(None, []).append(lines)
            return
        ids = np.asarray(mmsi)[mask]
        order, uniq, starts = _groups(ids)
        lines = lines[order]
        for sid, a, b in zip(uniq.tolist(), starts, np.r_[starts[1:], len(ids)]):
            per.setdefault(int(sid), []).append(lines[a:b])

    def values(self, reason: str, mask: np.ndarray | int, detail: str = "") -> None:
        """Values were changed in the rows of ``mask`` (or in ``mask`` rows, an int)."""
        n = int(mask) if np.isscalar(mask) else int(np.count_nonzero(mask))
        if n:
            key = self._key("values", reason, detail, self._values, 0)
            self._values[key] += n

    def total(self, reason: str, n: int, detail: str = "") -> None:
        """``n`` rows were left out by a selection (counted, not listed)."""
        if n:
            key = self._key("total", reason, detail, self._totals, 0)
            self._totals[key] += int(n)

    def extend(self, other: Tally) -> None:
        """Add another tally's entries after this one's."""
        for kind, key in other._order:
            if kind == "dropped":
                store = self._dropped.setdefault(key, {})
                for sid, arrs in other._dropped[key].items():
                    store.setdefault(sid, []).extend(arrs)
            elif kind == "vessel":
                store = self._vessels.setdefault(key, {})
                for sid, n in other._vessels[key].items():
                    store[sid] = store.get(sid, 0) + n
            elif kind == "values":
                self._values[key] = self._values.get(key, 0) + other._values[key]
            else:
                self._totals[key] = self._totals.get(key, 0) + other._totals[key]
            if (kind, key) not in self._order:
                self._order.append((kind, key))

    def vessel(self, reason: str, mmsi: int, count: int = 1, detail: str = "") -> None:
        """One entry about a whole vessel (e.g. removed, or split into tracks)."""
        key = self._key("vessel", reason, detail, self._vessels, {})
        self._vessels[key][int(mmsi)] = self._vessels[key].get(int(mmsi), 0) + int(count)

    def vessels_with(self, reason: str) -> set[int]:
        """MMSIs with rows listed under ``reason``."""
        return {sid for (r, _), per in self._dropped.items() if r == reason for sid in per if sid is not None}

    def listed(self, reason: str | None = None) -> int:
        """Rows listed so far (of one reason, or of all)."""
        return sum(
            sum(len(a) for arrs in per.values() for a in arrs)
            for (r, _), per in self._dropped.items()
            if reason is None or r == reason
        )

    def write(self, report: RepairReport) -> None:
        """Add every entry to ``report``, in the order their reasons first occurred."""
        for kind, (reason, detail) in self._order:
            if kind == "dropped":
                per = self._dropped[(reason, detail)]
                for sid in sorted(per, key=lambda x: -1 if x is None else x):
                    rows = np.sort(np.concatenate(per[sid]))
                    report.add(reason, len(rows), series=sid, rows=rows.tolist(), detail=detail)
            elif kind == "vessel":
                for sid, n in sorted(self._vessels[(reason, detail)].items()):
                    report.add(reason, n, series=sid, detail=detail)
            elif kind == "values":
                report.add(reason, self._values[(reason, detail)], detail=detail)
            else:
                report.add(reason, self._totals[(reason, detail)], detail=detail)
