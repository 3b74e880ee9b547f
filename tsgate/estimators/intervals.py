"""Prediction intervals for every forecaster: split-conformal calibration, adapted online.

Every fitted forecaster owns a :class:`Calibrator` (``calibrator_``), built by the base class
in ``fit`` and updated by the base class wherever targets are revealed (``update``,
``forecast_and_learn``, ``stream``); no model implements intervals itself.

Scores. For a horizon h and an *error unit* u, the score of a forecast ŷ with truth y is

- ``s = |y_j - ŷ_j|`` for a target column j (per-coordinate bands ``ŷ_j ± q``);
- ``s = ‖y_g - ŷ_g‖₂`` for a position group g (a radius q around the predicted position:
  AIS ``east_m``/``north_m`` in metres, the x/y/z of an ExtMarker marker in mm).

Split conformal (Vovk et al. 2005; Lei et al. 2018). From the n calibration scores of (h, u),
the half-width (or radius) at level ℓ % is the ⌈(n + 1) ℓ/100⌉-th smallest score (the largest
when that rank exceeds n). With exchangeable scores the band covers a new target with
probability ≥ ℓ %.

Recency weights (opt-in, ``half_life``; equal weights by default): the weighted quantile of
:mod:`tsgate.estimators.conformal`, which says why they are not the default.

Online adaptation: conformal quantile tracking (Angelopoulos, Candès & Tibshirani 2023,
"Conformal PID control for time series prediction", the quantile-tracking term), the online
update of adaptive conformal inference (Gibbs & Candès 2021, "Adaptive conformal inference
under distribution shift") applied to the band itself rather than to α. It runs on the log of
the score, so that its step needs no unit (metres, mm): when the target of a forecast issued
with half-width ``q_issued`` is revealed,

    err = 1{s > q_issued},     log q ← log q + RATE · (err − α),     α = 1 − ℓ/100.

A miss widens the band by the factor e^(RATE (1 − α)), a hit narrows it by e^(−RATE α), so the
long-run miss rate is driven to α whatever the scores do (for log-scores bounded by B the
miscoverage after T revealed targets is within (B + RATE)/(RATE · T) of α; Angelopoulos et
al., Prop. 1). A forecast's band is the one current when it was issued; its target updates the
state when it is revealed, possibly many steps later (delayed feedback). Targets of one
horizon revealed in one call are taken one after another.

Delayed feedback needs one bound. With many forecasts in flight (hundreds of vessels sharing
one calibrator, each with a 30-min forecast pending) every forecast issued before a change of
regime misses, and each miss widens the band again: hundreds of widenings before the first
wide forecast is scored (mean radii of 368-4,400 km on the bundled Virginia AIS file, medians
of 1-2 km). A band is therefore never wider than ``CAP`` times the largest of the last
``MEMORY`` scores of its (horizon, unit). Once a band covers every recent score, widening it
further only buys coverage of scores larger than any seen, so the bound costs little coverage
while keeping the range B of the guarantee finite. With the bound at 1x the largest score,
the 30-min bands on AIS could not overshoot enough to make up for their 30-min lag (86.4-88.0 %
at 30 min); ``benchmarks/results/intervals.md`` gives the runs behind the chosen factor. Judging
each step against the band as it is now, instead of the issued one, also stops the run-away, but
that band lags the errors by the delay: it covered about 87 % instead of 90 % at ExtMarker's
2 s horizons. A zero-width band that misses restarts at the missed score.

Horizons with few calibration errors. A horizon longer than most of the training tracks has
few calibration errors (a one-hour AIS file: 2 at 30 min against 415 at 15 min), and online
tracking cannot repair its band where, as there, no target of that horizon is revealed before
the forecasts are scored. When the calibrator knows the horizons' lead times (seconds, or steps;
every fitted model gives them), a horizon with fewer than ``MIN_CALIBRATION_SCORES`` recent
scores starts from the nearest horizon with enough, scaled by (lead / its lead)^b, where b is
the slope of log q against log lead over the horizons with enough scores (per level and unit,
clipped to [0, 2]; ``GROWTH`` = 1, errors in proportion to the lead time, when only one horizon
has enough). Such a band is still warned about (``calibration_warning_``).

Levels 80, 90 and 95 % are tracked from ``fit`` on; another level is tracked from the first
call that asks for it, started from the split-conformal quantile of the last ``MEMORY``
scores of each (h, u) (scaled as above for horizons with few).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from tsgate.data.columns import plain
from tsgate.estimators.conformal import recency_weights, weighted_quantile
from tsgate.estimators.pending import PendingForecasts, origin_key
from tsgate.exceptions import ConfigError, ModelFileError

__all__ = [
    "DEFAULT_LEVELS",
    "CALIBRATION_FRACTION",
    "MAX_CALIBRATION_ORIGINS",
    "MIN_CALIBRATION_SCORES",
    "RATE",
    "MEMORY",
    "CAP",
    "GROWTH",
    "Calibrator",
    "parse_levels",
    "level_label",
    "position_groups",
    "band_columns",
]

DEFAULT_LEVELS = (80.0, 90.0, 95.0)
#: share of each series' training origins (the newest) whose forecasts calibrate the bands
CALIBRATION_FRACTION = 0.2
#: at most this many calibration origins (evenly spaced over every series'); enough for a 99 % quantile
MAX_CALIBRATION_ORIGINS = 1000
#: fewer calibration scores than this at a horizon are warned about: the coverage of a band from
#: n scores spreads by sqrt(ℓ(1 − ℓ)/n), 3 points for a 90 % band at n = 100
MIN_CALIBRATION_SCORES = 100
#: quantile-tracking step on the log scale: a miss widens a band by e^(0.05·(1-α)), a hit narrows it by e^(-0.05·α)
RATE = 0.05
#: recent scores kept per (horizon, unit), to start a level first asked for later and to bound the bands
MEMORY = 500
#: a tracked band is never wider than CAP times the largest of the recent scores of its (horizon, unit)
CAP = 4.0
#: growth of the band with the lead time (q ∝ lead^GROWTH) assumed when only one horizon is well calibrated
GROWTH = 1.0


def parse_levels(level: Any) -> tuple[float, ...]:
    """Interval levels in percent (``90`` or ``[80, 95]``), each in [1, 100)."""
    values = [level] if isinstance(level, (int, float, np.integer, np.floating)) else level
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ConfigError(f"level must be a percentage or a list of them, e.g. level=[80, 95]; got {level!r}.") from None
    for v in out:
        if not (math.isfinite(v) and 1.0 <= v < 100.0) or isinstance(v, bool):
            hint = f" (levels are percentages: {v * 100:g} for a {v * 100:g} % interval)" if 0 < v < 1 else ""
            raise ConfigError(f"level {v:g} is not a percentage in [1, 100){hint}.")
    if not out or len(set(out)) != len(out):
        raise ConfigError(f"level must list distinct percentages, got {level!r}.")
    return out


def level_label(level: float) -> str:
    """``90`` for 90.0, ``97.5`` for 97.5: the level as it appears in column names."""
    return f"{level:g}"


def position_groups(targets: Sequence[str], meta: dict[str, Any] | None = None) -> tuple[tuple[int, ...], ...]:
    """Target columns that form one position, as column-index tuples.

    ``meta["position_groups"]`` of the data (lists of column names) when given; otherwise by
    name: ``east_m``/``north_m`` (+ ``up_m``), and ``x<s>``/``y<s>`` (+ ``z<s>``) for any
    common suffix ``<s>`` (the markers ``x1, y1, z1`` of ExtMarker).
    """
    names = list(targets)
    given = (meta or {}).get("position_groups")
    if given is not None:
        out = []
        for g in given:
            missing = [c for c in g if c not in names]
            if missing:
                raise ConfigError(f"position group {list(g)}: {missing} are not target columns ({names}).")
            out.append(tuple(names.index(c) for c in g))
        return tuple(out)
    out = []
    if "east_m" in names and "north_m" in names:
        out.append(tuple(names.index(c) for c in ("east_m", "north_m", "up_m") if c in names))
    for c in names:
        m = re.fullmatch(r"x(.*)", c)
        if m and f"y{m.group(1)}" in names:
            cols = [c, f"y{m.group(1)}"] + ([f"z{m.group(1)}"] if f"z{m.group(1)}" in names else [])
            out.append(tuple(names.index(x) for x in cols))
    return tuple(out)


def band_columns(targets: Sequence[str], groups: Sequence[Sequence[str]], level: float) -> list[str]:
    """Column names of one level's bands: ``<t>_lower_<ℓ>``, ``<t>_upper_<ℓ>`` per target, then
    ``<g1>_<g2>_radius_<ℓ>`` per position group."""
    lab = level_label(level)
    cols = [f"{t}_{side}_{lab}" for t in targets for side in ("lower", "upper")]
    return cols + [f"{'_'.join(g)}_radius_{lab}" for g in groups]


class Calibrator:
    """Conformal bands per horizon and error unit, calibrated in ``fit`` and tracked online.

    Parameters
    ----------
    targets
        Target column names (k).
    groups
        Position groups as column-index tuples (see :func:`position_groups`).
    n_horizons
        H.
    levels
        Levels tracked from the start (percent).
    leads
        Lead time of each horizon (seconds, or steps), to scale the bands of horizons with few
        calibration errors (module docstring); None: no scaling.
    half_life
        Recency weights of the calibration errors (:func:`recency_weights`), as a share of each
        series' calibration span (> 0); None: equal weights. Fitted models pass
        :data:`tsgate.estimators.conformal.HALF_LIFE` (None).
    """

    def __init__(self, targets: Sequence[str], groups: Sequence[Sequence[int]], n_horizons: int,
                 levels: Sequence[float] = DEFAULT_LEVELS, leads: Sequence[float] | None = None,
                 half_life: float | None = None) -> None:
        self.targets = tuple(targets)
        if half_life is not None and not (math.isfinite(float(half_life)) and float(half_life) > 0):
            raise ConfigError(f"half_life must be a positive share of the calibration span (e.g. 0.5), got {half_life!r}.")
        self.half_life = None if half_life is None else float(half_life)
        self.leads = None if leads is None else tuple(float(v) for v in leads)
        self.groups = tuple(tuple(int(c) for c in g) for g in groups)
        self.n_horizons = int(n_horizons)
        self.levels: tuple[float, ...] = tuple(float(v) for v in levels)
        self.rate, self.memory = RATE, MEMORY
        H, U, L = self.n_horizons, self.n_units, len(self.levels)
        self.q = np.full((L, H, U), np.nan)
        self.recent = np.full((H, U, self.memory), np.nan)
        self.recent_next = np.zeros(H, np.int64)
        self.n_calibration = np.zeros(H, np.int64)
        self.n_scored = np.zeros((H, U), np.int64)
        self.n_covered = np.zeros((L, H, U), np.int64)
        # series id -> its forecasts still waiting for targets
        self.pending: dict[Any, PendingForecasts] = {}
        self._alpha_of: tuple[tuple[float, ...], np.ndarray] | None = None
        self._top: np.ndarray | None = None

    # ------------------------------------------------------------------ shape
    @property
    def n_units(self) -> int:
        """U: every target column, then every position group."""
        return len(self.targets) + len(self.groups)

    @property
    def group_names(self) -> tuple[tuple[str, ...], ...]:
        return tuple(tuple(self.targets[c] for c in g) for g in self.groups)

    def scores(self, pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
        """[..., U] absolute errors per column, then Euclidean distances per position group."""
        d = np.asarray(truth, dtype=np.float64) - np.asarray(pred, dtype=np.float64)
        if not self.groups:
            return np.abs(d)
        if len({len(g) for g in self.groups}) == 1:  # groups of one size (x/y/z markers): one gather
            sq = (d[..., np.array(self.groups)] ** 2).sum(axis=-1)
            return np.concatenate([np.abs(d), np.sqrt(sq)], axis=-1)
        parts = [np.abs(d)] + [np.sqrt((d[..., list(g)] ** 2).sum(axis=-1, keepdims=True)) for g in self.groups]
        return np.concatenate(parts, axis=-1)

    def _recent_max(self) -> np.ndarray:
        """[H, U] the largest of the recent scores (NaN where none yet); computed once, then
        updated by each step."""
        if self._top is None or self._top.shape != self.recent.shape[:2]:
            self._top = np.fmax.reduce(self.recent, axis=-1)
        return self._top

    def _alpha(self) -> np.ndarray:
        """[L, 1, 1] the miss rates α of the tracked levels."""
        if self._alpha_of is None or self._alpha_of[0] != self.levels:
            self._alpha_of = (self.levels, (1.0 - np.asarray(self.levels) / 100.0)[:, None, None])
        return self._alpha_of[1]

    # ------------------------------------------------------------------ calibration
    def calibrate(self, pred: np.ndarray, truth: np.ndarray, origin_time: np.ndarray | None = None,
                  series: np.ndarray | None = None) -> None:
        """Split-conformal start from calibration forecasts ``pred`` and truths ``truth`` [n, H, k]
        in time order (NaN where unknown). With ``half_life`` set and the origins' times [n]
        (seconds) and series positions [n] given, each horizon's quantile weights its scores by
        recency within their series (:func:`recency_weights`, module docstring)."""
        s = self.scores(pred, truth)  # [n, H, U]
        weigh = self.half_life is not None and origin_time is not None and series is not None
        for h in range(self.n_horizons):
            ok = np.isfinite(s[:, h]).all(axis=1)
            sh = s[ok, h]
            self.n_calibration[h] = len(sh)
            if len(sh) == 0:
                continue
            tail = sh[-self.memory:]
            self.recent[h, :, : len(tail)] = tail.T
            self.recent_next[h] = len(tail) % self.memory
            wt = recency_weights(np.asarray(origin_time)[ok], np.asarray(series)[ok], self.half_life) if weigh else None
            self.q[:, h] = weighted_quantile(sh, self.levels, wt)
        self._top = None
        self.q = self._scale_sparse(self.q)

    def _scale_sparse(self, q: np.ndarray) -> np.ndarray:
        """``q`` [L, H, U] with the bands of the horizons that have fewer than
        MIN_CALIBRATION_SCORES recent scores scaled from the nearest horizon that has enough,
        by (lead / its lead)^b: b fitted to log q against log lead over those horizons (per
        level and unit, within [0, 2]), GROWTH where only one has enough (module docstring)."""
        if self.leads is None:
            return q
        lead = np.asarray(self.leads)
        good = (np.isfinite(self.recent).all(axis=1).sum(axis=1) >= MIN_CALIBRATION_SCORES) & (lead > 0)
        sparse = np.flatnonzero(~good & (lead > 0))
        gi = np.flatnonzero(good)
        if len(gi) == 0 or len(sparse) == 0:
            return q
        q = q.copy()
        b = np.full((q.shape[0], q.shape[2]), GROWTH)
        if len(gi) >= 2:
            for li in range(q.shape[0]):
                for u in range(q.shape[2]):
                    ok = np.isfinite(q[li, gi, u]) & (q[li, gi, u] > 0)
                    if ok.sum() >= 2:
                        b[li, u] = np.clip(np.polyfit(np.log(lead[gi][ok]), np.log(q[li, gi[ok], u]), 1)[0], 0.0, 2.0)
        for h in sparse:
            ref = gi[np.argmin(np.abs(np.log(lead[gi] / lead[h])))]
            q[:, h] = q[:, ref] * (lead[h] / lead[ref]) ** b
        return q

    def track(self, levels: Sequence[float]) -> list[int]:
        """Indices of ``levels`` in the tracked levels, adding the new ones (started from the
        split-conformal quantile of the recent scores)."""
        new = [lv for lv in levels if lv not in self.levels]
        if new:
            H, U = self.n_horizons, self.n_units
            q_new = np.full((len(new), H, U), np.nan)
            for h in range(H):
                r = self.recent[h].T  # [memory, U]
                r = r[np.isfinite(r).all(axis=1)]
                q_new[:, h] = weighted_quantile(r, new)
            q_new = self._scale_sparse(q_new)
            self.levels = self.levels + tuple(new)
            self.q = np.concatenate([self.q, q_new])
            self.n_covered = np.concatenate([self.n_covered, np.zeros((len(new), H, U), np.int64)])
            for book in self.pending.values():
                book.add_levels(len(new))
        return [self.levels.index(lv) for lv in levels]

    def current(self, levels: Sequence[float]) -> np.ndarray:
        """[len(levels), H, U] the half-widths and radii a forecast issued now gets."""
        return self.q[self.track(levels)].copy()

    # ------------------------------------------------------------------ online
    def _book(self, series: Any) -> PendingForecasts:
        book = self.pending.get(series)
        if book is None:
            book = self.pending[series] = PendingForecasts(self.n_horizons, len(self.targets), len(self.levels), self.n_units)
        return book

    def issue(self, series: Any, origin_time: float, values: np.ndarray) -> np.ndarray:
        """Record the forecast [H, k] made at ``origin_time`` and return its widths [L, H, U]
        (every tracked level); a forecast with NaN is not recorded (widths NaN)."""
        if not np.isfinite(values).all():
            return np.full_like(self.q, np.nan)
        self._book(series).put(origin_key(origin_time), values, self.q)
        return self.q.copy()

    def reveal(self, series: Any, origin_time: np.ndarray, horizon: np.ndarray, truth: np.ndarray) -> int:
        """Score the revealed targets ``truth`` [P, k] of the forecasts issued at ``origin_time``
        [P] for the horizon indices ``horizon`` [P], and adapt; returns how many were scored.

        Targets are taken one after another in the order given; a target of a forecast this
        calibrator did not issue (e.g. made by ``fit``), one with NaN, one already scored or
        closed, and a second mention of one target in the same call are ignored."""
        book = self.pending.get(series)
        if not book:
            return 0
        truth = np.atleast_2d(np.asarray(truth, dtype=np.float64))
        get = book.slot.get
        slots = np.array([get(origin_key(t), -1) for t in np.atleast_1d(origin_time).tolist()], np.int64)
        hs = np.atleast_1d(np.asarray(horizon)).astype(np.int64, copy=False)
        at = np.flatnonzero((slots >= 0) & np.isfinite(truth).all(axis=1))
        at = at[book.open[slots[at], hs[at]]]
        if len(at) == 0:
            return 0
        sl, h = slots[at], hs[at]
        pair = (sl * self.n_horizons + h).tolist()
        if len(set(pair)) < len(pair):  # the same target named twice: scored at its first mention only
            first = sorted({p: i for i, p in reversed(list(enumerate(pair)))}.values())
            at, sl, h = at[first], sl[first], h[first]
        book.open[sl, h] = False
        pred, issued = book.values[sl, h], book.widths[sl, :, h]  # [P, k], [P, L, U]
        done = {int(i) for i, still in zip(sl.tolist(), book.open[sl].any(axis=1).tolist()) if not still}
        if done:
            book.drop(sorted(done))
        self._adapt(h, self.scores(pred, truth[at]), issued)
        return len(at)

    def _adapt(self, hs: np.ndarray, s: np.ndarray, issued: np.ndarray) -> None:
        """Quantile-tracking steps for horizons ``hs`` [P] (repeats allowed), scores [P, U],
        issued widths [P, L, U] (for the coverage count)."""
        if len(hs) > 1 and len(set(hs.tolist())) < len(hs):
            # Several targets of one horizon: taken one after another (by their order in the
            # call), each judged against the band its predecessors left, as if revealed one by one.
            order = np.argsort(hs, kind="stable")
            first = np.searchsorted(hs[order], hs[order])
            rank = np.empty(len(hs), np.int64)
            rank[order] = np.arange(len(hs)) - first
            for r in range(int(rank.max()) + 1):
                at = rank == r
                self._adapt(hs[at], s[at], issued[at])
            return
        # one target per horizon: the horizons' states are disjoint, so one step does them all;
        # consecutive horizons (every horizon of one observation, the usual case) as a slice
        h0 = int(hs[0])
        at: Any = slice(h0, h0 + len(hs)) if hs.tolist() == list(range(h0, h0 + len(hs))) else hs
        iss = issued.transpose(1, 0, 2)  # [L, P, U]
        fin = np.isfinite(iss)
        q = self.q[:, at]
        w = np.where(fin, iss, q)
        err = s[None] > w
        self.n_scored[at] += 1
        self.n_covered[:, at] += fin & ~err
        nxt = self.recent_next[hs]
        top = self._recent_max()
        mx, gone = top[at], self.recent[hs, :, nxt]
        self.recent[hs, :, nxt] = s
        self.recent_next[at] = (nxt + 1) % self.memory
        # the largest recent score, kept up to date: rescanned only where it was the one pushed out
        stale = (gone >= mx).any(axis=1)
        mx = np.fmax(mx, s)
        if stale.any():
            mx[stale] = np.fmax.reduce(self.recent[hs[stale]], axis=-1)
        top[at] = mx
        # a missing or zero width restarts at the score it missed (or first saw)
        restart = err | ~np.isfinite(w)
        new = np.where(np.isfinite(q) & (q > 0), q * np.exp(self.rate * (err - self._alpha())),
                       np.where(restart, s[None], q))
        grew = (new > q).any(axis=(0, 2))
        if grew.any():  # never wider than CAP times every recent score (module docstring)
            new[:, grew] = np.fmin(new[:, grew], CAP * mx[grew][None])
        self.q[:, at] = new

    def close(self, series: Any, origin_time: float, horizon: np.ndarray | None = None) -> None:
        """Forget horizons (all when None) of a pending forecast whose targets can never be revealed."""
        book = self.pending.get(series)
        i = book.slot.get(origin_key(origin_time)) if book else None
        if i is None:
            return
        if horizon is None:
            book.open[i] = False
        else:
            book.open[i, horizon] = False
        if not book.open[i].any():
            book.drop([i])

    def prune(self, first_time: dict[Any, float]) -> None:
        """Forget pending forecasts older than their series' ``first_time`` (seconds): origins no
        longer in the model's recent history have every target revealed or out of reach."""
        for sid, book in self.pending.items():
            cut = first_time.get(sid)
            old = [i for k, i in book.slot.items() if cut is None or k < origin_key(cut)]
            if old:
                book.drop(old)

    def coverage(self) -> dict[str, Any]:
        """What the online tracking measured: per level, [H, U] fractions of the revealed
        targets inside their issued band, with the counts."""
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = self.n_covered / self.n_scored[None]
        return {"levels": self.levels, "units": [*self.targets, *("_".join(g) for g in self.group_names)],
                "coverage": frac, "n": self.n_scored.copy(), "width": self.q.copy()}

    # ------------------------------------------------------------------ model files
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON metadata and arrays for a model file; :meth:`from_state` restores it exactly."""
        ids, codes, times, vals, widths, opens = [], [], [], [], [], []
        for sid, book in self.pending.items():
            for k, i in book.entries():
                if sid not in ids:
                    ids.append(sid)
                codes.append(ids.index(sid))
                times.append(k)
                vals.append(book.values[i])
                widths.append(book.widths[i])
                opens.append(book.open[i])
        H, U, L, k = self.n_horizons, self.n_units, len(self.levels), len(self.targets)
        meta = {"targets": list(self.targets), "groups": [list(g) for g in self.groups], "n_horizons": H,
                "levels": list(self.levels), "rate": self.rate, "memory": self.memory,
                "leads": None if self.leads is None else list(self.leads),
                "half_life": self.half_life, "pending_series": [plain(s) for s in ids]}
        arrays = {
            "q": self.q, "recent": self.recent, "recent_next": self.recent_next,
            "n_calibration": self.n_calibration, "n_scored": self.n_scored, "n_covered": self.n_covered,
            "pending_series": np.asarray(codes, np.int64),
            "pending_time_us": np.asarray(times, np.int64),
            "pending_values": np.stack(vals) if vals else np.zeros((0, H, k)),
            "pending_widths": np.stack(widths) if widths else np.zeros((0, L, H, U)),
            "pending_open": np.stack(opens) if opens else np.zeros((0, H), bool),
        }
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Calibrator:
        try:
            # files written before recency weights have no half_life: their bands were unweighted
            cal = cls(meta["targets"], meta["groups"], int(meta["n_horizons"]), meta["levels"], meta.get("leads"),
                      meta.get("half_life"))
            cal.rate, cal.memory = float(meta["rate"]), int(meta["memory"])
            for name in ("q", "recent", "recent_next", "n_calibration", "n_scored", "n_covered"):
                setattr(cal, name, np.array(arrays[name]))
            ids = meta["pending_series"]
            for c, k, v, w, o in zip(arrays["pending_series"], arrays["pending_time_us"], arrays["pending_values"],
                                     arrays["pending_widths"], arrays["pending_open"]):
                cal._book(ids[int(c)]).put(int(k), v, w, np.asarray(o, bool))
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise ModelFileError(f"the interval calibration in the model file is incomplete ({exc!r}); refit.") from None
        if cal.q.shape != (len(cal.levels), cal.n_horizons, cal.n_units):
            raise ModelFileError("the interval calibration in the model file has inconsistent shapes; refit.")
        return cal
