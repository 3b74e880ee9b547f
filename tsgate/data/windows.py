"""Causal windows over irregular series: the arrays every model trains and forecasts on.

For each origin (an observation at time t) the input is the last ``window`` observations up
to and including t: their values, Δt (seconds since the previous observation) and their time
relative to t. Targets sit at horizons given in steps (``3`` = the third observation after t)
or as durations (``"500ms"``, ``"2s"``, ``"15min"``); a duration target is the linear
interpolation of the truth between the two observations bracketing t+h, dropped when that
bracket is wider than ``max_gap``. Nothing after t reaches the input, and no window or target
crosses a change of segment. Everything here is numpy; pandas stopped at the series.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd

from tsgate.exceptions import ConfigError, TooShortError
from tsgate.data.series import IrregularSeries, SeriesArrays

__all__ = ["Horizon", "parse_horizons", "parse_duration", "Windows", "make_windows"]


def parse_duration(spec: str | float | int | timedelta, *, what: str = "duration") -> float:
    """A duration in seconds from ``"500ms"``, ``"2s"``, ``"15min"``, ``"1h"``, a timedelta or a number of seconds."""
    if isinstance(spec, timedelta):
        sec = spec.total_seconds()
    elif isinstance(spec, (int, float, np.integer, np.floating)) and not isinstance(spec, bool):
        sec = float(spec)
    elif isinstance(spec, str):
        try:
            sec = pd.Timedelta(spec.strip()).total_seconds()
        except (ValueError, TypeError):
            raise ConfigError(
                f"{what} {spec!r} is not a duration; write e.g. '500ms', '2s', '15min' or '1h'."
            ) from None
    else:
        raise ConfigError(f"{what} {spec!r} is not a duration; write e.g. '500ms', '2s' or '15min'.")
    if not np.isfinite(sec) or sec <= 0:
        raise ConfigError(f"{what} {spec!r} must be positive.")
    return float(sec)


@dataclass(frozen=True)
class Horizon:
    """One forecast horizon: ``steps`` observations ahead, or a ``duration`` in seconds."""

    kind: Literal["steps", "duration"]
    value: float
    label: str

    @classmethod
    def parse(cls, spec: Any) -> Horizon:
        """``3`` or ``"3"`` → 3 steps; ``"500ms"``, ``"2s"``, timedelta → a duration."""
        if isinstance(spec, Horizon):
            return spec
        if isinstance(spec, (bool, np.bool_)):
            raise ConfigError(f"horizon {spec!r} is not valid; give steps (3) or a duration ('2s').")
        if isinstance(spec, (int, np.integer)) or (isinstance(spec, str) and spec.strip().isdigit()):
            n = int(spec)
            if n < 1:
                raise ConfigError(f"horizon {spec!r} must be at least 1 step.")
            return cls("steps", float(n), str(n))
        if isinstance(spec, (float, np.floating)):
            raise ConfigError(
                f"horizon {spec!r} is ambiguous: give whole steps (3) or a duration with a unit ('{spec}s')."
            )
        sec = parse_duration(spec, what="horizon")
        label = spec.strip() if isinstance(spec, str) else _label_seconds(sec)
        return cls("duration", sec, label)

    @property
    def seconds(self) -> float:
        if self.kind != "duration":
            raise ConfigError(f"horizon {self.label} is in steps, not a duration.")
        return self.value


def _label_seconds(sec: float) -> str:
    if sec < 1:
        return f"{sec * 1000:g}ms"
    if sec < 120:
        return f"{sec:g}s"
    return f"{sec / 60:g}min"


def parse_horizons(specs: Any) -> tuple[Horizon, ...]:
    """Parse one or many horizons; all must be of one kind (steps or durations), sorted ascending."""
    if isinstance(specs, (str, int, float, timedelta, Horizon)) or np.isscalar(specs):
        specs = [specs]
    hs = tuple(Horizon.parse(s) for s in specs)
    if not hs:
        raise ConfigError("give at least one horizon, e.g. horizons=['500ms', '1s'] or [1, 5].")
    kinds = {h.kind for h in hs}
    if len(kinds) > 1:
        raise ConfigError("horizons mix steps and durations; give all in steps or all as durations.")
    if len({h.value for h in hs}) != len(hs):
        raise ConfigError(f"horizons repeat a value: {[h.label for h in hs]}.")
    return tuple(sorted(hs, key=lambda h: h.value))


@dataclass
class Windows:
    """Windows of one or many series (numpy; float32 values, float64 times).

    Attributes
    ----------
    x : [n, L, d] observed values (targets, then covariates), left-padded with 0 where ``mask`` is False
    dt : [n, L] seconds since the previous observation in the same segment (0 at a segment start or padding)
    t : [n, L] time of each sample relative to the origin, seconds (≤ 0; 0 at padding)
    mask : [n, L] True where a real observation sits
    y : [n, H, k] target values (NaN where not known, e.g. beyond the end of the data)
    origin_time : [n] seconds (since the epoch for datetime series)
    target_time : [n, H] seconds
    reveal_time : [n, H] seconds: time of the observation that makes the target known (the target's
        own observation for a step horizon, the first observation at or after t+h for a duration);
        online learners may learn a target only once this time has passed. NaN where unknown.
    series_index : [n] position of each window's series in ``series_ids``
    origin_row : [n] row of the origin within its series (0-based)
    static : [n, s] static covariates of the window's series
    """

    x: np.ndarray
    dt: np.ndarray
    t: np.ndarray
    mask: np.ndarray
    y: np.ndarray
    origin_time: np.ndarray
    target_time: np.ndarray
    reveal_time: np.ndarray
    series_index: np.ndarray
    origin_row: np.ndarray
    static: np.ndarray
    series_ids: list[Any]
    horizons: tuple[Horizon, ...]
    feature_names: tuple[str, ...]
    target_names: tuple[str, ...]
    time_kind: str = "seconds"
    stats: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def window(self) -> int:
        return int(self.x.shape[1])

    def select(self, index: np.ndarray) -> Windows:
        """A subset of the windows (boolean mask or integer index)."""
        return replace(
            self,
            x=self.x[index],
            dt=self.dt[index],
            t=self.t[index],
            mask=self.mask[index],
            y=self.y[index],
            origin_time=self.origin_time[index],
            target_time=self.target_time[index],
            reveal_time=self.reveal_time[index],
            series_index=self.series_index[index],
            origin_row=self.origin_row[index],
            static=self.static[index],
        )

    def has_targets(self) -> np.ndarray:
        """[n] True where every horizon's target is known."""
        return np.isfinite(self.y).all(axis=(1, 2))

    @staticmethod
    def concat(parts: Sequence[Windows]) -> Windows:
        """Stack windows made with the same settings (series ids are merged)."""
        parts = [p for p in parts if p is not None]
        if not parts:
            raise ConfigError("no windows to concatenate.")
        ids: list[Any] = []
        pos: dict[Any, int] = {}
        remapped = []
        for p in parts:
            m = np.array([pos.setdefault(s, len(pos)) for s in p.series_ids], dtype=np.int64)
            remapped.append(m[p.series_index] if len(p) else p.series_index)
        ids = list(pos)
        first = parts[0]
        cat = lambda name: np.concatenate([getattr(p, name) for p in parts], axis=0)  # noqa: E731
        return replace(
            first,
            x=cat("x"),
            dt=cat("dt"),
            t=cat("t"),
            mask=cat("mask"),
            y=cat("y"),
            origin_time=cat("origin_time"),
            target_time=cat("target_time"),
            reveal_time=cat("reveal_time"),
            series_index=np.concatenate(remapped),
            origin_row=cat("origin_row"),
            static=cat("static"),
            series_ids=ids,
            stats={},
        )


def make_windows(
    data: IrregularSeries,
    window: int,
    horizons: Any,
    *,
    max_gap: str | float | None = None,
    min_history: int | None = None,
    stride: int = 1,
    targets: Literal["required", "optional"] = "required",
    origins: Literal["all", "last"] = "all",
    min_origin_time: dict[Any, float] | None = None,
) -> Windows:
    """Cut every series of ``data`` into causal windows.

    Parameters
    ----------
    window
        Number of past observations in each input (L), the origin included.
    horizons
        Steps (``[1, 5]``) or durations (``["500ms", "1s"]``); see :class:`Horizon`.
    max_gap
        For duration horizons: drop a target whose bracketing observations are more than this
        apart (seconds or a duration string). ``None``: no limit (segments still apply).
    min_history
        Fewest real observations an input may have (default ``window``: no padding). Smaller
        values left-pad early windows and mark the padding in ``mask``.
    stride
        Keep every ``stride``-th origin, counted back in rows from each segment's newest
        usable origin (the newest one with known targets when ``targets="required"``).
    targets
        ``required``: keep only windows whose every target is known (training);
        ``optional``: keep every origin, unknown targets are NaN (forecasting).
    origins
        ``all`` origins, or only the ``last`` observation of each series (forecasting).
    min_origin_time
        Per series id, keep only origins later than this time (seconds): used by online updates
        so that only new observations become origins.
    """
    hs = parse_horizons(horizons)
    if not isinstance(window, (int, np.integer)) or isinstance(window, bool) or window < 1:
        raise ConfigError(f"window must be a whole number of observations ≥ 1, got {window!r}.")
    min_hist = window if min_history is None else int(min_history)
    if not 1 <= min_hist <= window:
        raise ConfigError(f"min_history must be between 1 and window={window}, got {min_history!r}.")
    if not isinstance(stride, (int, np.integer)) or stride < 1:
        raise ConfigError(f"stride must be a whole number ≥ 1, got {stride!r}.")
    if targets not in ("required", "optional"):
        raise ConfigError(f"targets must be 'required' or 'optional', got {targets!r}.")
    if origins not in ("all", "last"):
        raise ConfigError(f"origins must be 'all' or 'last', got {origins!r}.")
    gap = None if max_gap is None else parse_duration(max_gap, what="max_gap")

    parts = []
    stats = {"origins": 0, "dropped_target_gap": 0, "dropped_target_end": 0, "series_without_windows": 0}
    ids = data.series_ids
    for si, g in enumerate(data.groups()):
        lo = None if min_origin_time is None else min_origin_time.get(g.series_id)
        w = _series_windows(g, si, window, hs, gap, min_hist, stride, targets, origins, lo, stats)
        if w is None:
            stats["series_without_windows"] += 1
        else:
            parts.append(w)
    feature_names = tuple(data.targets) + tuple(data.covariates)
    n_feat, n_tgt, n_static = len(feature_names), len(data.targets), len(data.static)
    if parts:
        arrays = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    else:
        L, H = window, len(hs)
        arrays = {
            "x": np.zeros((0, L, n_feat), np.float32),
            "dt": np.zeros((0, L), np.float32),
            "t": np.zeros((0, L), np.float32),
            "mask": np.zeros((0, L), bool),
            "y": np.zeros((0, H, n_tgt), np.float32),
            "origin_time": np.zeros(0),
            "target_time": np.zeros((0, H)),
            "reveal_time": np.zeros((0, H)),
            "series_index": np.zeros(0, np.int64),
            "origin_row": np.zeros(0, np.int64),
            "static": np.zeros((0, n_static), np.float32),
        }
    return Windows(
        **arrays,
        series_ids=ids,
        horizons=hs,
        feature_names=feature_names,
        target_names=tuple(data.targets),
        time_kind=data.time_kind,
        stats=stats,
    )


def _series_windows(
    g: SeriesArrays,
    si: int,
    L: int,
    hs: tuple[Horizon, ...],
    gap: float | None,
    min_hist: int,
    stride: int,
    targets: str,
    origins: str,
    min_origin_time: float | None,
    stats: dict[str, int],
) -> dict[str, np.ndarray] | None:
    t = g.time_s
    n = len(t)
    vals = np.concatenate([g.values, g.covariates], axis=1)
    seg = g.segment
    # segment id per row → start row of its segment and position within it
    new_seg = np.r_[True, seg[1:] != seg[:-1]]
    seg_start = np.maximum.accumulate(np.where(new_seg, np.arange(n), 0))
    seg_id = np.cumsum(new_seg) - 1
    seg_end = np.r_[np.flatnonzero(new_seg)[1:], n][seg_id]  # exclusive end row of each row's segment
    pos_in_seg = np.arange(n) - seg_start

    origin = np.flatnonzero(pos_in_seg + 1 >= min_hist)
    if origins == "last":
        origin = origin[-1:] if len(origin) and origin[-1] == n - 1 else origin[:0]
    if min_origin_time is not None:
        origin = origin[t[origin] > min_origin_time]
    if len(origin) == 0:
        return None

    # targets
    H = len(hs)
    y = np.full((len(origin), H, g.values.shape[1]), np.nan)
    tt = np.full((len(origin), H), np.nan)
    rt = np.full((len(origin), H), np.nan)
    t0 = t[origin]
    for k, h in enumerate(hs):
        if h.kind == "steps":
            j = origin + int(h.value)
            ok = j < seg_end[origin]
            jj = np.minimum(j, n - 1)
            tt[:, k] = np.where(ok, t[jj], np.nan)
            if gap is not None:
                # for step horizons max_gap bounds the time from origin to target
                ok &= (t[jj] - t0) <= gap
            y[ok, k] = g.values[jj[ok]]
            rt[ok, k] = t[jj[ok]]
        else:
            target = t0 + h.value
            tt[:, k] = target
            hi = np.searchsorted(t, target, side="left")
            in_seg = hi < seg_end[origin]
            hi_c = np.minimum(hi, n - 1)
            exact = in_seg & (t[hi_c] == target)
            lo_c = np.maximum(hi_c - 1, 0)
            width = t[hi_c] - t[lo_c]
            ok = in_seg & (exact | (gap is None) | (width <= (gap if gap is not None else np.inf)))
            w = np.where(exact | (width <= 0), 1.0, (target - t[lo_c]) / np.where(width > 0, width, 1.0))
            interp = g.values[lo_c] + w[:, None] * (g.values[hi_c] - g.values[lo_c])
            y[ok, k] = interp[ok]
            rt[ok, k] = t[hi_c[ok]]
            stats["dropped_target_gap"] += int((in_seg & ~ok).sum())
    known = np.isfinite(y).all(axis=(1, 2))
    stats["dropped_target_end"] += int((~known).sum()) if targets == "required" else 0
    if targets == "required":
        origin, y, tt, rt, t0 = origin[known], y[known], tt[known], rt[known], t0[known]
        if len(origin) == 0:
            return None
    if stride > 1:
        # keep the newest usable origin of each segment and every stride-th row before it
        # (after the target filter, so that training keeps its newest trainable origin)
        sid = seg_id[origin]
        newest = np.zeros(int(sid.max()) + 1, dtype=np.int64)
        np.maximum.at(newest, sid, origin)
        keep = (newest[sid] - origin) % stride == 0
        origin, y, tt, rt, t0 = origin[keep], y[keep], tt[keep], rt[keep], t0[keep]
    stats["origins"] += len(origin)

    # inputs: rows origin-L+1 .. origin, padded on the left inside the segment
    offs = np.arange(-L + 1, 1)
    rows = origin[:, None] + offs[None, :]
    mask = rows >= seg_start[origin][:, None]
    rows_c = np.clip(rows, 0, n - 1)
    x = np.where(mask[..., None], vals[rows_c], 0.0)
    prev = np.clip(rows_c - 1, 0, n - 1)
    has_prev = mask & (rows - 1 >= seg_start[origin][:, None])
    dt = np.where(has_prev, t[rows_c] - t[prev], 0.0)
    trel = np.where(mask, t[rows_c] - t0[:, None], 0.0)
    static = np.repeat(np.atleast_1d(g.static)[None, :], len(origin), axis=0)
    return {
        "x": x.astype(np.float32),
        "dt": dt.astype(np.float32),
        "t": trel.astype(np.float32),
        "mask": mask,
        "y": y.astype(np.float32),
        "origin_time": t0,
        "target_time": tt,
        "reveal_time": rt,
        "series_index": np.full(len(origin), si, dtype=np.int64),
        "origin_row": origin.astype(np.int64),
        "static": static.astype(np.float32),
    }


def require_windows(w: Windows, data: IrregularSeries, what: str) -> None:
    """Refuse an empty set of windows with a message saying why and what to change."""
    if len(w) == 0:
        longest = max((len(g.time_s) for g in data.groups()), default=0)
        raise TooShortError(
            f"no series gives a single window for {what} (window={w.window}, horizons="
            f"{[h.label for h in w.horizons]}; longest series {longest} rows). Use a shorter window "
            "or horizon, a larger max_gap, or more data.",
            file=data.source,
        )
