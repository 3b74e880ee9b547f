"""Causal windows over irregular series: the arrays every model trains and forecasts on.

For each origin (an observation at time t) the input is the last ``window`` observations up
to and including t: their values, Δt (seconds since the previous observation) and their time
relative to t. Targets sit at horizons given in steps (``3`` = the third observation after t)
or as durations (``"500ms"``, ``"2s"``, ``"15min"``); a duration target is the linear
interpolation of the truth between the two observations bracketing t+h, dropped when that
bracket is wider than ``max_gap``. No window or target crosses a change of segment.

Windows come in two parts, as scikit-learn's X and y: :class:`Inputs`, everything known at the
origin and all a model is given to forecast, and :class:`Targets`, the truths and when they
become known. Nothing after t reaches the inputs; in particular the time of a step horizon's
target (the time of a future observation) is a target, never an input. Everything here is
numpy (float64); pandas stopped at the series.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

import numpy as np

from tsgate.data.horizons import Horizon, parse_horizons
from tsgate.data.segments import runs
from tsgate.data.series import IrregularSeries, SeriesArrays
from tsgate.data.times import parse_duration
from tsgate.exceptions import ConfigError, TooShortError

__all__ = ["Inputs", "Targets", "Windows", "make_windows", "require_windows", "Origins"]

#: which origins to cut: every observation, the last one of each series, or per series id the
#: times (float seconds, as ``IrregularSeries.time_seconds()``) of the wanted observations
Origins = Literal["all", "last"] | Mapping[Any, np.ndarray]


@dataclass
class Inputs:
    """What is known at each origin: the input windows (numpy, float64 values and times).

    Attributes
    ----------
    x : [n, L, d] observed values (targets, then covariates), left-padded with 0 where ``mask`` is False
    dt : [n, L] seconds since the previous observation in the same segment (0 at a segment start or padding)
    t : [n, L] time of each sample relative to the origin, seconds (≤ 0; 0 at padding)
    mask : [n, L] True where a real observation sits
    static : [n, s] static covariates of the window's series
    origin_time : [n] seconds (since the epoch for datetime series)
    series_index : [n] position of each window's series in ``series_ids``
    origin_row : [n] row of the origin within its series (0-based)
    horizons : what to forecast; a duration horizon's lead time is known (``Horizon.value``
        seconds), a step horizon's is not
    """

    x: np.ndarray
    dt: np.ndarray
    t: np.ndarray
    mask: np.ndarray
    static: np.ndarray
    origin_time: np.ndarray
    series_index: np.ndarray
    origin_row: np.ndarray
    series_ids: list[Any]
    horizons: tuple[Horizon, ...]
    feature_names: tuple[str, ...]
    target_names: tuple[str, ...]
    time_kind: str = "seconds"

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def window(self) -> int:
        """L, the number of observations in each input."""
        return int(self.x.shape[1])

    @property
    def target_values(self) -> np.ndarray:
        """[n, L, k] the target columns of the inputs."""
        return self.x[:, :, : len(self.target_names)]

    @property
    def covariate_values(self) -> np.ndarray:
        """[n, L, c] the covariate columns of the inputs."""
        return self.x[:, :, len(self.target_names) :]

    @property
    def ids(self) -> np.ndarray:
        """[n] the series id of each window."""
        return np.asarray(self.series_ids, dtype=object)[self.series_index] if len(self) else np.zeros(0, object)

    def select(self, index: np.ndarray) -> Inputs:
        """A subset of the windows (boolean mask or integer index)."""
        return replace(self, **{f: getattr(self, f)[index] for f in _INPUT_ARRAYS})


@dataclass
class Targets:
    """What becomes known after each origin: the truths (never given to a model's forecast).

    Attributes
    ----------
    y : [n, H, k] target values (NaN where not known, e.g. beyond the end of the data)
    target_time : [n, H] seconds: the target's time (origin + h for a duration; the time of the
        h-th next observation for a step horizon, NaN beyond the data)
    reveal_time : [n, H] seconds: time of the observation that makes the target known (the
        target's own observation for a step horizon, the first observation at or after t+h for a
        duration); online learners may learn a target only once this time has passed. NaN where
        unknown.
    """

    y: np.ndarray
    target_time: np.ndarray
    reveal_time: np.ndarray

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def select(self, index: np.ndarray) -> Targets:
        return Targets(self.y[index], self.target_time[index], self.reveal_time[index])

    def known(self) -> np.ndarray:
        """[n] True where every horizon's target is known."""
        return np.isfinite(self.y).all(axis=(1, 2))


_INPUT_ARRAYS = ("x", "dt", "t", "mask", "static", "origin_time", "series_index", "origin_row")


class _Part:
    """Read-only shorthand ``windows.x`` for ``windows.inputs.x`` (and likewise for targets)."""

    def __init__(self, part: str) -> None:
        self.part = part

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self
        return getattr(getattr(obj, self.part), self.name)


@dataclass
class Windows:
    """Input windows and their targets, row for row (see :class:`Inputs` and :class:`Targets`).

    Every attribute of both parts can be read directly (``w.x``, ``w.y``, ``w.origin_time``);
    ``stats`` counts what windowing dropped.
    """

    inputs: Inputs
    targets: Targets
    stats: dict[str, int] = field(default_factory=dict)

    x = _Part("inputs")
    dt = _Part("inputs")
    t = _Part("inputs")
    mask = _Part("inputs")
    static = _Part("inputs")
    origin_time = _Part("inputs")
    series_index = _Part("inputs")
    origin_row = _Part("inputs")
    series_ids = _Part("inputs")
    horizons = _Part("inputs")
    feature_names = _Part("inputs")
    target_names = _Part("inputs")
    time_kind = _Part("inputs")
    window = _Part("inputs")
    y = _Part("targets")
    target_time = _Part("targets")
    reveal_time = _Part("targets")

    def __len__(self) -> int:
        return len(self.inputs)

    def select(self, index: np.ndarray) -> Windows:
        """A subset of the windows (boolean mask or integer index)."""
        return Windows(self.inputs.select(index), self.targets.select(index), dict(self.stats))

    def has_targets(self) -> np.ndarray:
        """[n] True where every horizon's target is known."""
        return self.targets.known()

    @staticmethod
    def concat(parts: Sequence[Windows]) -> Windows:
        """Stack windows made with the same settings (series ids are merged)."""
        parts = [p for p in parts if p is not None]
        if not parts:
            raise ConfigError("no windows to concatenate.")
        pos: dict[Any, int] = {}
        remapped = []
        for p in parts:
            m = np.array([pos.setdefault(s, len(pos)) for s in p.series_ids], dtype=np.int64)
            remapped.append(m[p.series_index] if len(p) else p.series_index)

        def cat(part: str, name: str) -> np.ndarray:
            return np.concatenate([getattr(getattr(p, part), name) for p in parts], axis=0)

        arrays = {f: cat("inputs", f) for f in _INPUT_ARRAYS}
        arrays["series_index"] = np.concatenate(remapped)
        inputs = replace(parts[0].inputs, series_ids=list(pos), **arrays)
        targets = Targets(*(cat("targets", f.name) for f in fields(Targets)))
        return Windows(inputs, targets, {})


def make_windows(
    data: IrregularSeries,
    window: int,
    horizons: Any,
    *,
    max_gap: str | float | None = None,
    min_history: int | None = None,
    stride: int = 1,
    targets: Literal["required", "optional"] = "required",
    origins: Origins = "all",
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
        ``all`` origins, only the ``last`` observation of each series, or a mapping from series
        id to the times (float seconds) of the observations wanted as origins (series not in
        the mapping give none).
    """
    hs, min_hist, gap = check_window_settings(window, horizons, max_gap, min_history, stride, targets)
    if not (isinstance(origins, Mapping) or origins in ("all", "last")):
        raise ConfigError(f"origins must be 'all', 'last' or a mapping of series to times, got {origins!r}.")

    parts = []
    stats = {"origins": 0, "dropped_target_gap": 0, "dropped_target_end": 0, "series_without_windows": 0}
    for si, g in enumerate(data.groups()):
        if isinstance(origins, Mapping):
            wanted = origins.get(g.series_id)
            if wanted is None:
                continue
            chosen: Any = np.asarray(wanted, dtype=np.float64)
        else:
            chosen = origins
        w = series_windows(g, si, window, hs, gap, min_hist, stride, targets, chosen, stats)
        if w is None:
            stats["series_without_windows"] += 1
        else:
            parts.append(w)
    return assemble_windows(parts, data.series_ids, window, hs, tuple(data.targets), tuple(data.covariates),
                     len(data.static), data.time_kind, stats)


def check_window_settings(
    window: Any, horizons: Any, max_gap: Any, min_history: Any, stride: Any, targets: Any
) -> tuple[tuple[Horizon, ...], int, float | None]:
    """(horizons, min_history, max_gap in seconds) of validated windowing settings."""
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
    return hs, min_hist, None if max_gap is None else parse_duration(max_gap, what="max_gap")


def assemble_windows(
    parts: list[dict[str, np.ndarray]],
    series_ids: list[Any],
    L: int,
    hs: tuple[Horizon, ...],
    targets: tuple[str, ...],
    covariates: tuple[str, ...],
    n_static: int,
    time_kind: str,
    stats: dict[str, int],
) -> Windows:
    """Windows from the per-series arrays of :func:`series_windows` (``series_index`` into ``series_ids``)."""
    feature_names = targets + covariates
    n_feat, n_tgt = len(feature_names), len(targets)
    if parts:
        arrays = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    else:
        H = len(hs)
        arrays = {
            "x": np.zeros((0, L, n_feat)),
            "dt": np.zeros((0, L)),
            "t": np.zeros((0, L)),
            "mask": np.zeros((0, L), bool),
            "y": np.zeros((0, H, n_tgt)),
            "origin_time": np.zeros(0),
            "target_time": np.zeros((0, H)),
            "reveal_time": np.zeros((0, H)),
            "series_index": np.zeros(0, np.int64),
            "origin_row": np.zeros(0, np.int64),
            "static": np.zeros((0, n_static)),
        }
    inputs = Inputs(
        **{k: arrays[k] for k in _INPUT_ARRAYS},
        series_ids=series_ids,
        horizons=hs,
        feature_names=feature_names,
        target_names=targets,
        time_kind=time_kind,
    )
    return Windows(inputs, Targets(arrays["y"], arrays["target_time"], arrays["reveal_time"]), stats)


def series_windows(
    g: SeriesArrays,
    si: int,
    L: int,
    hs: tuple[Horizon, ...],
    gap: float | None,
    min_hist: int,
    stride: int,
    targets: str,
    origins: Any,
    stats: dict[str, int],
    bounds: tuple[int, int] | None = None,
) -> dict[str, np.ndarray] | None:
    # ``bounds`` (first, end): only origins in rows [first, end), for windows cut from a bounded
    # buffer of a series read in chunks (tsgate.data.window_stream)
    t = g.time_s
    n = len(t)
    vals = np.concatenate([g.values, g.covariates], axis=1)
    seg = runs(g.segment)
    seg_start, seg_end = seg.start, seg.end

    origin = np.flatnonzero(seg.position + 1 >= min_hist)
    if bounds is not None:
        origin = origin[(origin >= bounds[0]) & (origin < bounds[1])]
    if isinstance(origins, np.ndarray):
        origin = origin[np.isin(t[origin], origins)]
    elif origins == "last":
        origin = origin[-1:] if len(origin) and origin[-1] == n - 1 else origin[:0]
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
            with np.errstate(over="ignore", invalid="ignore"):
                interp = g.values[lo_c] + w[:, None] * (g.values[hi_c] - g.values[lo_c])
            over = ~np.isfinite(interp)
            if over.any():  # values near the float64 limit (±1e308): the difference overflowed
                alt = (1.0 - w)[:, None] * g.values[lo_c] + w[:, None] * g.values[hi_c]
                interp = np.where(over, alt, interp)
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
        sid = seg.index[origin]
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
        "x": x.astype(np.float64),
        "dt": dt,
        "t": trel,
        "mask": mask,
        "y": y,
        "origin_time": t0,
        "target_time": tt,
        "reveal_time": rt,
        "series_index": np.full(len(origin), si, dtype=np.int64),
        "origin_row": origin.astype(np.int64),
        "static": static.astype(np.float64),
    }


def require_windows(w: Windows | Inputs, data: IrregularSeries, what: str) -> None:
    """Refuse an empty set of windows with a message saying why and what to change; a duration
    horizon longer than the longest series' span is named as the reason."""
    if len(w) == 0:
        longest = max((len(g.time_s) for g in data.groups()), default=0)
        spans = {g.series_id: float(g.time_s[-1] - g.time_s[0]) for g in data.groups() if len(g.time_s)}
        sid, span = max(spans.items(), key=lambda kv: kv[1], default=(None, 0.0))
        sid = sid.item() if hasattr(sid, "item") else sid
        too_long = [h.label for h in w.horizons if h.kind == "duration" and h.value > span]
        why = ""
        if too_long:
            why = (f" Horizon(s) {too_long} are longer than the longest series' span ({span / 60:.1f} min, "
                   f"series {sid!r}): no target can be known there.")
        raise TooShortError(
            f"no series gives a single window for {what} (window={w.window}, horizons="
            f"{[h.label for h in w.horizons]}; longest series {longest} rows, {span:.0f} s).{why} Use a shorter "
            "window or horizon, a larger max_gap, or more data.",
            file=data.source,
        )
