"""Real-time streaming: one observation at a time, forecast at once, then learn what it reveals.

:meth:`BaseForecaster.stream` and :meth:`BaseForecaster.open_stream` run the prequential loop
of ``update`` incrementally: per series a ring buffer of the last ``window + 1`` observations
(the input window and the Δt of its first sample), the open origins whose targets are still to
come, and the recent rows the model file keeps. Nothing is re-windowed per observation. For each
new observation at time τ the stream

1. builds the input window of the origin τ from the ring and forecasts every horizon (a window
   model's ``_predict``, a stream model's engine step);
2. gives that forecast the calibrator's current bands;
3. reveals the targets τ brings (a step horizon h: the h-th observation after its origin; a
   duration: the first observation at or after origin + h, interpolated with the one before,
   dropped when that bracket is wider than ``max_gap``), learns them (models that learn online)
   and scores them (the calibrator).

It gives the same forecasts as ``update`` over the same observations (the same event order and
the same arithmetic), except where several series have observations at the same time: the
stream takes rows in arrival order, one at a time, where ``update`` forecasts every series at τ
before learning any (window models learning online then see different batches).

:meth:`LiveStream.sync` writes the recent rows back into the model (``history_``,
``last_time_``), so that ``save`` stores a state from which a new stream continues exactly.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from tsgate.blas import blas_threads
from tsgate.data.columns import ID, ROW, SEGMENT, TIME
from tsgate.data.horizons import Horizon
from tsgate.data.series import IrregularSeries
from tsgate.data.segments import runs
from tsgate.data.times import seconds_to_time
from tsgate.data.windows import Inputs, Targets, make_windows
from tsgate.estimators.intervals import Calibrator
from tsgate.estimators.stream_step import StreamStep
from tsgate.exceptions import DataError, SchemaError

__all__ = ["StreamHooks", "Revealed", "StreamStep", "LiveStream", "stack_inputs"]

_INPUT_ARRAYS = ("x", "dt", "t", "mask", "static", "origin_time", "series_index", "origin_row")


def stack_inputs(parts: Sequence[Inputs]) -> Inputs:
    """One-series input windows stacked in order (same settings)."""
    return replace(parts[0], **{f: np.concatenate([getattr(p, f) for p in parts]) for f in _INPUT_ARRAYS})


class Revealed:
    """The targets one observation reveals for one series.

    Per (origin, horizon) pair, in origin order then horizon order: ``delay`` (observations
    since the origin), ``horizon`` (index), ``y`` [P, k] and ``cur`` [P, k] (the targets' values
    at the origin). Per distinct origin: ``inputs`` (its input window, for window models that
    learn), ``mask`` [O, H] (which horizons this observation reveals) and ``targets``; these
    are built on first use (models that learn pair by pair never need them).
    """

    def __init__(self, delay: np.ndarray, horizon: np.ndarray, y: np.ndarray, cur: np.ndarray,
                 inputs_of: list[Inputs] | None, pair_origin: np.ndarray, n_horizons: int, time_s: float) -> None:
        self.delay, self.horizon, self.y, self.cur = delay, horizon, y, cur
        # inputs_of: the input window of every open origin (indexed as pair_origin), when kept
        self._inputs_of, self._pair_origin, self._n_horizons, self._time_s = inputs_of, pair_origin, n_horizons, time_s
        self._origins: tuple[np.ndarray, np.ndarray] | None = None
        self._inputs: Inputs | None = None

    def _by_origin(self) -> tuple[np.ndarray, np.ndarray]:
        if self._origins is None:
            self._origins = np.unique(self._pair_origin, return_inverse=True)
        return self._origins

    @property
    def inputs(self) -> Inputs | None:
        if self._inputs is None and self._inputs_of is not None:
            self._inputs = stack_inputs([self._inputs_of[o] for o in self._by_origin()[0]])
        return self._inputs

    @property
    def mask(self) -> np.ndarray:
        origins, pos = self._by_origin()
        mask = np.zeros((len(origins), self._n_horizons), bool)
        mask[pos, self.horizon] = True
        return mask

    @property
    def targets(self) -> Targets:
        origins, pos = self._by_origin()
        y_full = np.full((len(origins), self._n_horizons, self.y.shape[1]), np.nan)
        y_full[pos, self.horizon] = self.y
        when = np.where(self.mask, self._time_s, np.nan)
        return Targets(y_full, when, when)


@dataclass
class StreamHooks:
    """What a style gives the stream: its window and its per-observation forecast and learning."""

    window: int
    min_history: int
    max_gap: float | None
    forecast: Callable[[Any, Inputs], np.ndarray]
    learn: Callable[[Any, Revealed], tuple[int, int]] | None
    remember: Callable[[IrregularSeries], None]
    keep_inputs: bool = False


@dataclass
class _Track:
    """One series in the stream: ring of the last window + 1 rows, recent rows, open origins."""

    cap: int
    d: int
    k: int
    H: int
    static: np.ndarray
    t: np.ndarray = field(init=False)
    v: np.ndarray = field(init=False)
    head: int = -1
    count: int = 0          # rows of the current segment in the ring (at most cap)
    segment: Any = None
    nrow: int = 0           # rows seen (the origin row numbering)
    last_t: float = -np.inf
    hist: deque = field(default_factory=deque)   # (line, t, values, segment)
    o_row: np.ndarray = field(init=False)
    o_t: np.ndarray = field(init=False)
    o_open: np.ndarray = field(init=False)
    o_cur: np.ndarray = field(init=False)
    o_inputs: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.t = np.zeros(self.cap)
        self.v = np.zeros((self.cap, self.d))
        self.o_row = np.zeros(0, np.int64)
        self.o_t = np.zeros(0)
        self.o_open = np.zeros((0, self.H), bool)
        self.o_cur = np.zeros((0, self.k))

    def push(self, t: float, values: np.ndarray, segment: Any) -> bool:
        """Add a row; True when it starts a new segment."""
        new_seg = self.count > 0 and segment != self.segment
        if new_seg:
            self.count = 0
        self.head = (self.head + 1) % self.cap
        self.t[self.head] = t
        self.v[self.head] = values
        self.count = min(self.count + 1, self.cap)
        self.segment, self.last_t = segment, t
        self.nrow += 1
        return new_seg

    def keep(self, keep: np.ndarray) -> None:
        self.o_row, self.o_t = self.o_row[keep], self.o_t[keep]
        self.o_open, self.o_cur = self.o_open[keep], self.o_cur[keep]
        self.o_inputs = [x for x, k in zip(self.o_inputs, keep) if k] if self.o_inputs else []


class LiveStream:
    """The incremental prequential loop of one model (see the module docstring).

    Made by :meth:`BaseForecaster.open_stream`; use it as a context manager (one BLAS thread
    inside, the model synced on exit) and call :meth:`push` per observation.
    """

    def __init__(self, model: Any, hooks: StreamHooks, levels: tuple[float, ...] | None, skip_seen: bool) -> None:
        self.model, self.hooks, self.skip_seen = model, hooks, bool(skip_seen)
        self.horizons: tuple[Horizon, ...] = tuple(model.horizons_)
        self.targets, self.covariates = tuple(model.targets_), tuple(model.covariates_)
        self.static_cols, self.time_kind = tuple(model.static_), model.time_kind_
        self.cal: Calibrator | None = getattr(model, "calibrator_", None)
        self.levels = tuple(levels or ())
        self.level_index = self.cal.track(self.levels) if (self.cal is not None and self.levels) else []
        self.L = int(hooks.window)
        self.k, self.d, self.Hn = len(self.targets), len(self.targets) + len(self.covariates), len(self.horizons)
        self.is_step = np.array([h.kind == "steps" for h in self.horizons])
        self.h_value = np.array([h.value for h in self.horizons], dtype=np.float64)
        self.reach = int(max([h.value for h in self.horizons if h.kind == "steps"] or [0]))
        self.max_dur = max([h.value for h in self.horizons if h.kind == "duration"] or [np.nan])
        self.tracks: dict[Any, _Track] = {}
        self.n_rows = self.n_skipped = self.n_forecasts = self.n_learned = self.n_refused = 0
        self.seconds: list[float] = []  # per observation: forecast + learn
        self._todo: tuple[Any, ...] | None = None  # the observation whose learning is pending
        self._spent = 0.0
        self._blas: Any = None
        hist = model.history_
        if hist is not None and len(hist):
            self._start(hist)

    # ------------------------------------------------------------------ context
    def __enter__(self) -> LiveStream:
        # batch-1 maths: a second BLAS thread only adds synchronisation
        self._blas = blas_threads(1)
        self._blas.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self.sync()
        finally:
            self._blas.__exit__(*exc)

    # ------------------------------------------------------------------ state from the model
    def _new_track(self, static: np.ndarray) -> _Track:
        return _Track(self.L + 1, self.d, self.k, self.Hn, np.asarray(static, dtype=np.float64))

    def _start(self, hist: IrregularSeries) -> None:
        """Rings and open origins from the model's recent rows (once, at the start)."""
        lines = hist.frame[ROW].to_numpy()
        at = 0
        for g in hist.groups():
            n = len(g.time_s)
            tr = self._new_track(g.static)
            vals = np.concatenate([g.values, g.covariates], axis=1)
            for i in range(n):
                tr.push(float(g.time_s[i]), vals[i], g.segment[i])
                tr.hist.append((int(lines[at + i]), float(g.time_s[i]), vals[i], g.segment[i]))
            at += n
            self.tracks[g.series_id] = tr
            # origins of the last segment whose targets are still to come
            s0 = int(runs(g.segment).start[-1])
            i = np.arange(s0, n)
            i = i[i - s0 + 1 >= self.hooks.min_history]
            open_ = np.where(self.is_step[None, :], (i[:, None] + self.h_value[None, :]) > n - 1,
                             (g.time_s[i][:, None] + self.h_value[None, :]) > g.time_s[-1])
            has = open_.any(axis=1)
            i, open_ = i[has], open_[has]
            tr.o_row, tr.o_t, tr.o_open, tr.o_cur = i.astype(np.int64), g.time_s[i], open_, g.values[i]
            if self.hooks.keep_inputs and len(i):
                w = make_windows(hist.subset([g.series_id]), self.L, self.horizons, max_gap=self.hooks.max_gap,
                                 min_history=self.hooks.min_history, targets="optional", origins={g.series_id: g.time_s[i]})
                assert len(w) == len(i), "stream start: open origins and their windows differ"
                tr.o_inputs = [w.inputs.select(np.array([j])) for j in range(len(w))]

    # ------------------------------------------------------------------ one observation
    def push(self, series: Any, time_s: float, values: Any, segment: Any = 0, static: Any = None) -> StreamStep | None:
        """Forecast from one new observation, then learn and score what it reveals.

        ``values``: the targets then the covariates, in the model's order. Returns None for a row
        at or before its series' last time when the stream skips seen rows (otherwise that is a
        :class:`~tsgate.exceptions.DataError`). The same as :meth:`forecast` then :meth:`learn`.
        """
        step = self.forecast(series, time_s, values, segment, static)
        if step is not None:
            step.learned = self.learn()
        return step

    def forecast(self, series: Any, time_s: float, values: Any, segment: Any = 0, static: Any = None) -> StreamStep | None:
        """The first half of :meth:`push`: the forecasts from one new observation, before the
        learning, so that a real-time caller can send them on at once; call :meth:`learn` next
        (the next ``forecast``, ``sync`` or the end of the stream call it if you do not)."""
        if self._todo is not None:
            self.learn()
        t0 = time.perf_counter()
        tr = self.tracks.get(series)
        if tr is None:
            tr = self._new_track(self._static(series, static))
            self.tracks[series] = tr
        t = float(time_s)
        if not t > tr.last_t:
            if self.skip_seen:
                self.n_skipped += 1
                return None
            raise DataError(f"time {t:g} s is not later than the last one of its series ({tr.last_t:g} s); "
                            "rows must arrive in time order, each series' times increasing.", series=series)
        vals = np.asarray(values, dtype=np.float64)
        if vals.shape != (self.d,) or not np.isfinite(vals).all():
            raise DataError(f"expected {self.d} finite values ({', '.join(self.targets + self.covariates)}), got {values!r}.",
                            series=series)
        if tr.push(t, vals, segment):
            self._close_all(series, tr)
        tr.hist.append((self.n_rows, t, vals, segment))
        self.n_rows += 1
        r = tr.nrow - 1
        fc = hw = None
        inputs = self._inputs(series, tr, r) if tr.count >= self.hooks.min_history else None
        if inputs is not None:
            fc = np.asarray(self.hooks.forecast(series, inputs), dtype=np.float64)
            self.n_forecasts += 1
            if self.cal is not None:
                widths = self.cal.issue(series, t, fc)
                hw = widths[self.level_index] if self.levels else None
        self._todo = (series, tr, r, t, vals, inputs)
        self._spent = time.perf_counter() - t0
        return StreamStep(series, t, fc, self.levels, hw, self.horizons, self.targets,
                          self.cal.group_names if self.cal is not None else (), self.time_kind)

    def learn(self) -> int:
        """The second half of :meth:`push`: learn and score the targets that the observation of
        the last :meth:`forecast` reveals; returns how many the model learned (0 when nothing
        is pending)."""
        if self._todo is None:
            return 0
        t0 = time.perf_counter()
        series, tr, r, t, vals, inputs = self._todo
        self._todo = None
        learned = self._reveal(series, tr, r, t, vals)
        if inputs is not None:
            self._open(tr, r, t, vals, inputs)
        self._trim(tr)
        self.seconds.append(self._spent + time.perf_counter() - t0)
        return learned

    def push_row(self, row: Mapping[str, Any]) -> StreamStep | None:
        """:meth:`push` for a mapping with ``time``, the target and covariate columns, and
        optionally ``series``, ``segment`` and the static columns."""
        missing = [c for c in (TIME, *self.targets, *self.covariates) if c not in row]
        if missing:
            raise SchemaError(f"stream row lacks {missing}; it has {list(row)}.", column=missing[0])
        sid = row[ID] if ID in row else self.default_series()
        static = [row[c] for c in self.static_cols] if all(c in row for c in self.static_cols) and self.static_cols else None
        return self.push(sid, self.seconds_of(row[TIME]), [row[c] for c in (*self.targets, *self.covariates)],
                         row.get(SEGMENT, 0), static)

    def default_series(self) -> Any:
        """The series of a row without an id: the model's only series (0 for a model with none)."""
        if len(self.tracks) == 1:
            return next(iter(self.tracks))
        if not self.tracks:
            return 0
        raise SchemaError(f"the model knows {len(self.tracks)} series; each row needs a 'series' id.", column=ID)

    def seconds_of(self, value: Any) -> float:
        """A time as float seconds (since the epoch for datetime models), as the series store it."""
        if self.time_kind == "seconds" or isinstance(value, (int, float, np.integer, np.floating)):
            return float(value)
        ts = pd.Timestamp(value)
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        return ts.as_unit("ns").value / 1e9

    def _static(self, series: Any, static: Any) -> np.ndarray:
        if not self.static_cols:
            return np.zeros(0)
        if static is None:
            raise SchemaError(f"series {series!r} is new to the model: its first row needs the static "
                              f"columns {list(self.static_cols)}.", series=series)
        return np.asarray(static, dtype=np.float64)

    def _inputs(self, series: Any, tr: _Track, r: int) -> Inputs:
        """The input window of the origin at the newest row, exactly as make_windows cuts it."""
        L = self.L
        idx = (tr.head - np.arange(L, -1, -1)) % tr.cap
        t, v = tr.t[idx], tr.v[idx]
        avail = np.arange(L + 1) >= L + 1 - tr.count
        mask = avail[1:]
        t0 = t[-1]
        return Inputs(
            x=np.where(mask[:, None], v[1:], 0.0)[None],
            dt=np.where(mask & avail[:-1], t[1:] - t[:-1], 0.0)[None],
            t=np.where(mask, t[1:] - t0, 0.0)[None],
            mask=mask[None],
            static=tr.static[None],
            origin_time=np.array([t0]),
            series_index=np.zeros(1, np.int64),
            origin_row=np.array([r], np.int64),
            series_ids=[series],
            horizons=self.horizons,
            feature_names=self.targets + self.covariates,
            target_names=self.targets,
            time_kind=self.time_kind,
        )

    def _open(self, tr: _Track, r: int, t: float, vals: np.ndarray, inputs: Inputs) -> None:
        tr.o_row = np.append(tr.o_row, r)
        tr.o_t = np.append(tr.o_t, t)
        tr.o_open = np.concatenate([tr.o_open, np.ones((1, self.Hn), bool)])
        tr.o_cur = np.concatenate([tr.o_cur, vals[None, : self.k]])
        if self.hooks.keep_inputs:
            tr.o_inputs.append(inputs)

    def _close_all(self, series: Any, tr: _Track) -> None:
        """A new segment: no open target can be revealed any more."""
        if self.cal is not None:
            for t in tr.o_t:
                self.cal.close(series, t)
        tr.keep(np.zeros(len(tr.o_row), bool))

    def _reveal(self, series: Any, tr: _Track, r: int, t: float, vals: np.ndarray) -> int:
        """Targets the newest row reveals: learned by the model, scored by the calibrator."""
        if len(tr.o_row) == 0:
            return 0
        target = tr.o_t[:, None] + self.h_value[None, :]
        step_due = (r - tr.o_row)[:, None] == self.h_value[None, :]
        dur_due = t >= target
        due = tr.o_open & np.where(self.is_step[None, :], step_due, dur_due)
        if not due.any():
            return 0
        gap = self.hooks.max_gap
        prev = (tr.head - 1) % tr.cap
        t_lo, v_lo = tr.t[prev], tr.v[prev, : self.k]
        exact = t == target
        width = t - t_lo
        if gap is None:
            ok = due
        else:
            ok = due & np.where(self.is_step[None, :], (t - tr.o_t)[:, None] <= gap, exact | (width <= gap))
        o_idx, h_idx = np.nonzero(ok)
        now = vals[None, : self.k]
        tg = target[o_idx, h_idx]
        w = np.where(exact[o_idx, h_idx] | (width <= 0), 1.0, (tg - t_lo) / (width if width > 0 else 1.0))
        # the interpolation of make_windows, term for term (step targets are the value itself)
        y = np.where(self.is_step[h_idx][:, None], now, v_lo[None, :] + w[:, None] * (now - v_lo[None, :]))
        learned = 0
        if len(o_idx):
            if self.hooks.learn is not None:
                up, ref = self.hooks.learn(series, self._revealed(tr, r, t, o_idx, h_idx, y))
                self.n_learned += up
                self.n_refused += ref
                learned = up
            if self.cal is not None:
                self.cal.reveal(series, tr.o_t[o_idx], h_idx, y)
        dropped = due & ~ok
        if self.cal is not None:
            for o in np.flatnonzero(dropped.any(axis=1)):
                self.cal.close(series, tr.o_t[o], np.flatnonzero(dropped[o]))
        tr.o_open = tr.o_open & ~due
        tr.keep(tr.o_open.any(axis=1))
        return learned

    def _revealed(self, tr: _Track, r: int, t: float, o_idx: np.ndarray, h_idx: np.ndarray, y: np.ndarray) -> Revealed:
        # the track appends to this list or replaces it, so the positions o_idx stay valid
        kept = tr.o_inputs if self.hooks.keep_inputs else None
        return Revealed(r - tr.o_row[o_idx], h_idx, y, tr.o_cur[o_idx], kept, o_idx, self.Hn, t)

    def _trim(self, tr: _Track) -> None:
        """Keep the rows a model file keeps (the rule of tsgate.estimators.history.recent_rows)."""
        keep_n = self.L + self.reach + 1
        h = tr.hist
        while len(h) > keep_n:
            if np.isfinite(self.max_dur) and not h[self.L][1] <= tr.last_t - self.max_dur:
                break
            h.popleft()

    # ------------------------------------------------------------------ back into the model
    def sync(self) -> None:
        """Write the recent rows and last times into the model (before ``save``)."""
        self.learn()
        rows = [(sid, *row) for sid, tr in self.tracks.items() for row in tr.hist]
        if not rows:
            return
        ids, lines, times, vals, segs = zip(*rows)
        frame = pd.DataFrame({ID: list(ids), ROW: np.asarray(lines, np.int64)})
        frame[TIME] = seconds_to_time(np.asarray(times, np.float64), self.time_kind)
        v = np.stack(vals)
        for j, c in enumerate(self.targets + self.covariates):
            frame[c] = v[:, j]
        for j, c in enumerate(self.static_cols):
            frame[c] = np.repeat([tr.static[j] for tr in self.tracks.values()], [len(tr.hist) for tr in self.tracks.values()])
        frame[SEGMENT] = np.asarray(segs)
        series = IrregularSeries(frame, targets=self.targets, covariates=self.covariates, static=self.static_cols,
                                 time_kind=self.time_kind, units=dict(getattr(self.model, "units_", {})), source="<stream>")
        self.hooks.remember(series)
