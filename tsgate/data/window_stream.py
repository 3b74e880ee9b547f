"""Windows cut from rows that arrive in chunks, never holding all rows or all windows.

A *row source* yields chunks of validated rows, each chunk a list of
:class:`~tsgate.data.series.SeriesArrays` pieces (some rows of some series): :class:`SeriesChunks`
cuts an in-memory :class:`~tsgate.data.series.IrregularSeries` into time-ordered chunks,
:class:`CsvChunks` reads a long-format CSV file (one row per observation, sorted by time) a
block of rows at a time and validates each block as :meth:`IrregularSeries.from_frame` does;
:class:`SeriesBlocks` reads validated series one after another (e.g. one ``load_ais`` per
daily file).

:class:`WindowStream` turns the chunks into the same windows as
:func:`~tsgate.data.windows.make_windows` on all rows at once, with the same window code:

- **Ordering assumption.** Each series' rows arrive in time order; the rows of one series may be
  spread over any number of chunks and interleaved with other series (an AIS file sorted by
  time, not by vessel, is fine). A row at or before the last row seen of its series, or a
  segment number going back, is refused with a :class:`~tsgate.exceptions.DataError` naming the
  series and the times (sort the file by time).
- **Bounded carry.** An origin's window is emitted once its targets are final: the row ``h``
  steps on exists (step horizons) and a row at or after ``t + h`` exists (duration horizons),
  or its segment has ended (a later row of the series starts a new segment), or the stream
  ended. Each series then keeps only the ``window`` rows before its first pending origin and
  the pending rows themselves, so the rows held are at most, per live series,
  ``window`` + the rows within the longest horizon (``rows_held``, ``max_rows_held``).
- **Silent series.** A series stays held until the stream ends, unless ``evict_after`` (seconds)
  is given: once the stream has passed a series' last row by more than that, its windows are
  completed and its rows released. That is exact when the data starts a new segment after such
  a gap (the AIS adapter starts a new voyage after ``max_gap``); a later row that would continue
  the released segment is refused. The stream's clock is the newest time seen in any series, so
  ``evict_after`` needs the rows sorted by time across series: a chunk with a row more than
  ``evict_after`` behind the clock (a file sorted by series) is refused with a ConfigError.

``stride`` other than 1 is not offered: its origins count back from each segment's newest
origin, which is only known at the end.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from tsgate.data.columns import ID, SEGMENT, plain
from tsgate.data.series import IrregularSeries, SeriesArrays
from tsgate.data.tables import read_csv_blocks
from tsgate.data.windows import Windows, assemble_windows, check_window_settings, series_windows
from tsgate.exceptions import ConfigError, DataError
from tsgate.params import check_count

__all__ = ["RowLayout", "SeriesChunks", "CsvChunks", "SeriesBlocks", "WindowStream", "stream_windows", "owner"]


@dataclass(frozen=True)
class RowLayout:
    """What every chunk of a source holds: target, covariate and static column names, time kind."""

    targets: tuple[str, ...]
    covariates: tuple[str, ...] = ()
    static: tuple[str, ...] = ()
    time_kind: str = "seconds"

    @classmethod
    def of(cls, series: IrregularSeries) -> RowLayout:
        return cls(tuple(series.targets), tuple(series.covariates), tuple(series.static), series.time_kind)


def _pieces(ids: np.ndarray, t: np.ndarray, tv: np.ndarray, cv: np.ndarray, seg: np.ndarray,
            sv: np.ndarray) -> list[SeriesArrays]:
    """Rows grouped by series (consecutive equal ids) as pieces."""
    if len(ids) == 0:
        return []
    change = np.flatnonzero(ids[1:] != ids[:-1]) + 1
    starts, ends = np.r_[0, change], np.r_[change, len(ids)]
    return [SeriesArrays(ids[s], t[s:e], tv[s:e], cv[s:e], seg[s:e], sv[s]) for s, e in zip(starts, ends)]


class SeriesChunks:
    """An in-memory series as chunks of ``rows`` rows in time order (all series interleaved), as
    a file sorted by time would be read; iterating again starts again."""

    def __init__(self, series: IrregularSeries, rows: int = 100_000) -> None:
        check_count("rows", rows, 1, "rows per chunk")
        self.series = series
        self.rows = int(rows)
        self.layout = RowLayout.of(series)
        self.source = series.source
        #: the series in the order of the in-memory data (their first appearance in its frame)
        self.series_ids = series.series_ids

    def __iter__(self) -> Iterator[list[SeriesArrays]]:
        s = self.series
        f = s.frame
        t = s.time_seconds()
        # one array per column (no copy of the frame); each chunk gathers its rows
        cols = {name: [f[c].to_numpy(dtype=np.float64) for c in names]
                for name, names in (("tv", s.targets), ("cv", s.covariates), ("sv", s.static))}
        seg, ids = f[SEGMENT].to_numpy(), f[ID].to_numpy()
        order = np.argsort(t, kind="stable")  # the frame is sorted by series, then time
        for a in range(0, len(order), self.rows):
            idx = np.sort(order[a : a + self.rows])  # back to series-then-time order within the chunk
            tv, cv, sv = (np.stack([c[idx] for c in cols[k]], axis=1) if cols[k] else np.zeros((len(idx), 0))
                          for k in ("tv", "cv", "sv"))
            yield _pieces(ids[idx], t[idx], tv, cv, seg[idx], sv)


class CsvChunks:
    """A long-format CSV file read ``rows`` rows at a time; each block is validated by
    :meth:`IrregularSeries.from_frame` with ``options`` (``time_col``, ``target_cols``,
    ``id_col``, ``segment_col``, ...; error messages name the file and its line numbers).

    The file's rows must be in time order within each series (see the module notes); repairs
    that need neighbouring rows (``on_duplicate``, ``on_nan="interpolate"``) see one block at a
    time. The first block is read when the source is made, to learn the layout.
    """

    def __init__(self, path: str | Path, rows: int = 100_000, **options: Any) -> None:
        check_count("rows", rows, 1, "rows per chunk")
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError("file not found; check the path.", file=str(path))
        self.rows = int(rows)
        self.options = dict(options)
        self.source = str(self.path)
        first = next(self._blocks(), None)
        if first is None:
            raise DataError("has no rows.", file=self.source)
        self.layout = RowLayout.of(first)

    def _blocks(self) -> Iterator[IrregularSeries]:
        line = 2  # the header is line 1
        for df in read_csv_blocks(self.path, self.rows):
            yield IrregularSeries.from_frame(df, source=self.source, first_row=line, **self.options)
            line += len(df)

    def __iter__(self) -> Iterator[list[SeriesArrays]]:
        for block in self._blocks():
            if block.time_kind != self.layout.time_kind:
                raise DataError(f"mixes time kinds: {self.layout.time_kind} times first, {block.time_kind} "
                                "later; write every time the same way.", file=self.source)
            yield list(block.groups())


class SeriesBlocks:
    """Validated series, one block after another (e.g. ``load_ais`` of each day's file, with a
    fixed ``origin`` so that every day is on the same plane): ``load(item)`` for each of ``items``,
    in order, each block read again at every epoch and windowed ``rows`` rows at a time.

    Each block was cleaned on its own, so a track cannot continue across blocks: a block's
    segments are numbered after the series' segments in earlier blocks (a window never spans two
    blocks), and its rows must come after them in time. Every block must have the first block's
    targets, covariates, static columns and kind of time.
    """

    def __init__(self, load: Any, items: Sequence[Any], rows: int = 100_000) -> None:
        check_count("rows", rows, 1, "rows per chunk")
        self.rows = int(rows)
        if not callable(load):
            raise ConfigError(f"load must be a function of one item returning an IrregularSeries, got {load!r}.")
        self.load, self.items = load, list(items)
        if not self.items:
            raise ConfigError("items is empty: give at least one block to read.")
        self._layout: RowLayout | None = None
        self.source = None

    def _block(self, item: Any) -> IrregularSeries:
        block = self.load(item)
        if not isinstance(block, IrregularSeries):
            raise ConfigError(f"load({item!r}) returned {type(block).__name__}, not an IrregularSeries.")
        return block

    @property
    def layout(self) -> RowLayout:
        """The first block's layout (read once, when first asked)."""
        if self._layout is None:
            self._layout = RowLayout.of(self._block(self.items[0]))
        return self._layout

    def __iter__(self) -> Iterator[list[SeriesArrays]]:
        offset: dict[Any, int] = {}  # per series: the first segment number free for the next block
        last: dict[Any, float] = {}  # per series: the time of its last row so far (seconds)
        for item in self.items:
            block = self._block(item)
            if RowLayout.of(block) != self.layout:
                raise DataError(f"has columns {RowLayout.of(block)} where the first block has {self.layout}; "
                                "give every block the same targets, covariates and time kind.",
                                file=block.source or str(item))
            self.source = block.source or str(item)
            pieces = []
            for g in block.groups():
                before = last.get(g.series_id)
                if before is not None and len(g.time_s) and g.time_s[0] <= before:
                    raise DataError(f"series {plain(g.series_id)!r} starts at {g.time_s[0]:.6g} s, not after its last "
                                    f"row in the earlier blocks ({before:.6g} s); give the blocks in time order.",
                                    file=self.source)
                if len(g.time_s):
                    last[g.series_id] = float(g.time_s[-1])
                base = offset.get(g.series_id, 0)
                seg = g.segment.astype(np.int64) - int(g.segment.min()) + base
                offset[g.series_id] = int(seg.max()) + 1
                pieces.append(SeriesArrays(g.series_id, g.time_s, g.values, g.covariates, seg, g.static))
            # one block of possibly many rows: its rows in time order, ``rows`` at a time
            yield from _time_chunks(pieces, self.rows)


def _time_chunks(pieces: list[SeriesArrays], rows: int = 100_000) -> Iterator[list[SeriesArrays]]:
    """The pieces of one block cut at common times into chunks of about ``rows`` rows, so that a
    large block is windowed a part at a time."""
    total = sum(len(p.time_s) for p in pieces)
    if total <= rows:
        yield pieces
        return
    t = np.sort(np.concatenate([p.time_s for p in pieces]))
    edges = t[rows::rows]
    lo = [0] * len(pieces)
    for edge in [*edges.tolist(), np.inf]:
        chunk = []
        for i, p in enumerate(pieces):
            hi = int(np.searchsorted(p.time_s, edge, side="left"))
            if hi > lo[i]:
                a = lo[i]
                chunk.append(SeriesArrays(p.series_id, p.time_s[a:hi], p.values[a:hi], p.covariates[a:hi],
                                          p.segment[a:hi], p.static))
                lo[i] = hi
        if chunk:
            yield chunk


def owner(series_id: Any, n: int) -> int:
    """Which of ``n`` workers handles a series: a stable hash of its id (the same in every process)."""
    key = series_id.item() if hasattr(series_id, "item") else series_id
    return zlib.crc32(repr(key).encode()) % n


@dataclass
class _Buffer:
    """The rows held of one series: ``row0`` is the series row of ``t[0]``, ``pending`` the first
    origin (series row) whose window is not emitted yet."""

    t: np.ndarray
    values: np.ndarray
    cov: np.ndarray
    seg: np.ndarray
    static: np.ndarray
    row0: int = 0
    pending: int = 0


@dataclass
class WindowStream:
    """Windows of rows fed chunk by chunk (see the module notes); ``feed`` and ``finish`` return the
    windows completed so far (``None`` when there are none). Settings are those of
    :func:`~tsgate.data.windows.make_windows`; ``evict_after`` is in seconds."""

    layout: RowLayout
    window: int
    horizons: Any
    max_gap: Any = None
    min_history: int | None = None
    targets: Literal["required", "optional"] = "required"
    evict_after: float | None = None
    source: str | None = None
    rows_held: int = field(default=0, init=False)
    max_rows_held: int = field(default=0, init=False)
    stats: dict[str, int] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self._hs, self._min_hist, self._gap = check_window_settings(self.window, self.horizons, self.max_gap,
                                                              self.min_history, 1, self.targets)
        if self.evict_after is not None and not (isinstance(self.evict_after, (int, float)) and self.evict_after > 0):
            raise ConfigError(f"evict_after must be a number of seconds > 0 (or None), got {self.evict_after!r}.")
        steps = [int(h.value) for h in self._hs if h.kind == "steps"]
        durations = [float(h.value) for h in self._hs if h.kind != "steps"]
        self._max_step, self._max_dur = max(steps, default=0), max(durations, default=0.0)
        self._live: dict[Any, _Buffer] = {}
        self._closed: dict[Any, tuple[float, int, int]] = {}  # released series: last time, segment, rows
        #: every series seen, in the order of its first row
        self.first_seen: dict[Any, None] = {}
        self._emitted: set[Any] = set()  # series that gave at least one window
        self._clock = -np.inf
        self.stats = {"origins": 0, "dropped_target_gap": 0, "dropped_target_end": 0, "series_without_windows": 0}

    # ------------------------------------------------------------------ feeding
    def feed(self, pieces: Iterable[SeriesArrays], source: str | None = None) -> Windows | None:
        """Add one chunk's rows (read from ``source``, the file errors name); the windows they complete."""
        if source is not None:
            self.source = source
        touched = []
        clock = self._clock
        for p in pieces:
            if len(p.time_s) == 0:
                continue
            if self.evict_after is not None and p.time_s[0] + self.evict_after < self._clock:
                # series released at the clock may still have rows to come: eviction needs time order
                raise ConfigError(
                    f"{self.source + ': ' if self.source else ''}evict_after needs rows sorted by time: series {plain(p.series_id)!r} has a row at "
                    f"{p.time_s[0]:.6g} s after the stream reached {self._clock:.6g} s, more than "
                    f"evict_after={self.evict_after} s back. Sort the file by time, or use evict_after=None "
                    "(a file sorted by series, then time).")
            touched.append(self._append(p))
            clock = max(clock, float(p.time_s[-1]))
        self._clock = clock
        parts = [self._emit(sid, ended=False) for sid in touched]
        if self.evict_after is not None:
            silent = [sid for sid, b in self._live.items() if b.t[-1] + self.evict_after < self._clock]
            parts += [self._release(sid) for sid in silent]
        return self._windows(parts)

    def finish(self) -> Windows | None:
        """The end of the stream: every remaining window (targets beyond the data are unknown)."""
        parts = [self._release(sid) for sid in list(self._live)]
        self.stats["series_without_windows"] = sum(sid not in self._emitted for sid in self.first_seen)
        return self._windows(parts)

    def _append(self, p: SeriesArrays) -> Any:
        sid = p.series_id
        b = self._live.get(sid)
        if b is None:
            self.first_seen.setdefault(sid, None)
            last_t, last_seg, n_rows = self._closed.pop(sid, (-np.inf, None, 0))
            if last_seg is not None and p.time_s[0] > last_t and int(p.segment[0]) == last_seg:
                raise DataError(
                    f"series {plain(sid)!r} continues segment {last_seg} at {p.time_s[0]:.6g} s after {p.time_s[0] - last_t:.6g} s "
                    f"of silence, longer than evict_after={self.evict_after} s, after its rows were released; give "
                    "a larger evict_after (at least the gap that starts a new segment) or None.", file=self.source)
            self._check_order(sid, p, last_t, last_seg)
            b = _Buffer(p.time_s, p.values, p.covariates, p.segment, np.atleast_1d(p.static), n_rows, n_rows)
            self._live[sid] = b
        else:
            self._check_order(sid, p, float(b.t[-1]), int(b.seg[-1]))
            b.t = np.concatenate([b.t, p.time_s])
            b.values = np.concatenate([b.values, p.values])
            b.cov = np.concatenate([b.cov, p.covariates])
            b.seg = np.concatenate([b.seg, p.segment])
        self.rows_held += len(p.time_s)
        return sid

    def _check_order(self, sid: Any, p: SeriesArrays, last_t: float, last_seg: int | None) -> None:
        if p.time_s[0] == last_t:
            raise DataError(
                f"series {plain(sid)!r} has a second row at {last_t:.6g} s in a later chunk; rows of one series "
                "at one time must be merged or removed before streaming (or read the file whole).",
                file=self.source)
        if p.time_s[0] < last_t:
            raise DataError(
                f"rows of series {plain(sid)!r} are not in time order across chunks: a row at {p.time_s[0]:.6g} s comes "
                f"after one at {last_t:.6g} s. Windows are streamed from rows in time order within each series; "
                "sort the file by time (or by series, then time).", file=self.source)
        if last_seg is not None and int(p.segment[0]) < last_seg:
            raise DataError(f"segment numbers of series {plain(sid)!r} go back ({last_seg} then {int(p.segment[0])}) at "
                            f"{p.time_s[0]:.6g} s; number segments in time order.", file=self.source)

    # ------------------------------------------------------------------ emitting
    def _emit(self, sid: Any, ended: bool) -> dict[str, np.ndarray] | None:
        b = self._live[sid]
        n, lo = len(b.t), b.pending - b.row0
        if lo >= n:
            return None
        if ended:
            hi = n
        else:
            # an origin is final once its targets' rows exist or its segment has ended; final
            # origins come first (later origins need later rows)
            i = np.arange(lo, n)
            final = b.seg[lo:] != b.seg[-1]
            final |= (i + self._max_step <= n - 1) & (b.t[lo:] + self._max_dur <= b.t[-1])
            open_ = np.flatnonzero(~final)
            hi = lo + (int(open_[0]) if len(open_) else n - lo)
        part = None
        if hi > lo:
            g = SeriesArrays(sid, b.t, b.values, b.cov, b.seg, b.static)
            part = series_windows(g, 0, int(self.window), self._hs, self._gap, self._min_hist, 1, self.targets,
                                   "all", self.stats, bounds=(lo, hi))
            if part is not None:
                self._emitted.add(sid)
                part["origin_row"] += b.row0
                part["series_id"] = sid  # type: ignore[assignment]
        b.pending = b.row0 + hi
        # keep ``window`` rows before the first pending origin: its inputs and the Δt of the first
        cut = max(0, hi - int(self.window))
        if cut:
            b.t, b.values, b.cov, b.seg = b.t[cut:], b.values[cut:], b.cov[cut:], b.seg[cut:]
            b.row0 += cut
            self.rows_held -= cut
        return part

    def _release(self, sid: Any) -> dict[str, np.ndarray] | None:
        part = self._emit(sid, ended=True)
        b = self._live.pop(sid)
        self._closed[sid] = (float(b.t[-1]), int(b.seg[-1]), b.row0 + len(b.t))
        self.rows_held -= len(b.t)
        return part

    def _windows(self, parts: Sequence[dict[str, np.ndarray] | None]) -> Windows | None:
        self.max_rows_held = max(self.max_rows_held, self.rows_held)
        parts = [p for p in parts if p is not None]
        if not parts:
            return None
        ids = []
        for i, p in enumerate(parts):
            ids.append(p.pop("series_id"))
            p["series_index"][:] = i
        lay = self.layout
        return assemble_windows(list(parts), ids, int(self.window), self._hs, lay.targets, lay.covariates, len(lay.static),
                         lay.time_kind, dict(self.stats))

    @property
    def live_series(self) -> int:
        """Series whose rows are held now."""
        return len(self._live)


def stream_windows(
    source: Any,
    window: int,
    horizons: Any,
    *,
    max_gap: Any = None,
    min_history: int | None = None,
    targets: Literal["required", "optional"] = "required",
    evict_after: float | None = None,
    worker: tuple[int, int] = (0, 1),
    stream: WindowStream | None = None,
) -> Iterator[Windows]:
    """The windows of a row source (:class:`SeriesChunks`, :class:`CsvChunks`, or any iterable of
    lists of :class:`SeriesArrays` with a ``layout``), a part at a time.

    ``worker=(k, n)`` keeps only the series that :func:`owner` gives worker ``k`` of ``n``, so that
    ``n`` workers reading the same source produce every window exactly once. Pass ``stream`` (a
    :class:`WindowStream`) to read its counters (``max_rows_held``, ``stats``) afterwards.
    """
    k, n = worker
    ws = stream or WindowStream(source.layout, window, horizons, max_gap=max_gap, min_history=min_history,
                                targets=targets, evict_after=evict_after, source=getattr(source, "source", None))
    for chunk in source:
        if n > 1:
            chunk = [p for p in chunk if owner(p.series_id, n) == k]
        w = ws.feed(chunk, getattr(source, "source", None))
        if w is not None:
            yield w
    w = ws.finish()
    if w is not None:
        yield w
