"""The per-series engine of :class:`~tsgate.online.analog.PretrainedAnalogForecaster`.

One engine runs along one series with the stream-engine API (``step``, ``learn``, ``apply``,
``output``, ``config``, ``state_dict_arrays``, ``n_updates``, ``n_refused``; see
:mod:`tsgate.estimators.stream`). Per new observation ``u = [t, x_1..x_k]`` (seconds, data
units) ``step``, in this order and reading nothing after ``t``:

1. appends the observation to the recent history (the last ``keep`` seconds);
2. computes each coordinate's amplitude (std over the last ``amplitude_window`` seconds,
   floored) and the lead coordinate (largest std so far, frozen after ``lead_after`` seconds);
3. **G**: the frozen global network's forecast of every coordinate, once the series has the
   network's history (:mod:`tsgate.online.network`);
4. **A**: the analog forecast: the mean relative future of the nearest past windows of this
   series (:mod:`tsgate.online.analogs`), once the library holds enough entries;
5. the combination ``(G + A) / 2`` (or whichever exists; 0, i.e. persistence, if neither),
   stacked per horizon with the last ``stacker_lags`` relative lags by online RLS
   (:mod:`tsgate.online.stacker`); features and targets are divided by the origin's scalar
   amplitude (RMS over coordinates), so the stacker is the same in mm, cm or m;
6. a guard: a non-finite stacked forecast, or one further than ``10`` amplitudes from the
   combination, is replaced by the combination and counted (``n_fallback``).

``learn(delay, target, out_slice)`` records the relative target of horizon ``out_slice`` of
the forecast made ``delay`` steps ago; ``apply`` learns them (one RLS update per pair, at most
one pair per horizon per round) and adds each origin whose every horizon is now known, and
whose analog window was complete, to the library (at most one entry per ``library_spacing``).
Steps without the network (too little history) or without analogs (library too small) are
counted (``n_without_network``, ``n_without_analogs``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tsgate.exceptions import ConfigError, DataError, ModelFileError
from tsgate.online.analogs import AnalogLibrary
from tsgate.online.network import GlobalNetwork
from tsgate.online.stacker import HorizonStacker
from tsgate.online.timegrid import lag_offsets, lagged_at

__all__ = ["AnalogEngine"]

_GUARD = 10.0  # largest |stacked - combined|, in amplitudes, before the combination is used
_COUNTERS = ("n_steps", "n_without_network", "n_without_analogs", "n_fallback")


class AnalogEngine:
    """Network + analogs + RLS stacker on one series (see module docstring)."""

    def __init__(self, n_targets: int, n_horizons: int, max_delay: int, *, lag_spacing: float,
                 analog_lags: int, stacker_lags: int, library_capacity: int, library_spacing: float,
                 n_neighbors: int, min_analogs: int, prior: float, amplitude_window: float,
                 amplitude_floor: float, lead_after: float, horizon_matrix: list[list[float]] | None = None,
                 network: GlobalNetwork | None = None) -> None:
        self.k, self.H, self.max_delay = int(n_targets), int(n_horizons), int(max_delay)
        self.lag_spacing = float(lag_spacing)
        self.analog_lags, self.stacker_lags = int(analog_lags), int(stacker_lags)
        self.library_capacity, self.library_spacing = int(library_capacity), float(library_spacing)
        self.n_neighbors, self.min_analogs = int(n_neighbors), int(min_analogs)
        self.prior = float(prior)
        self.amplitude_window, self.amplitude_floor = float(amplitude_window), float(amplitude_floor)
        self.lead_after = float(lead_after)
        self.horizon_matrix = None if horizon_matrix is None else [list(map(float, r)) for r in horizon_matrix]
        if (network is None) != (horizon_matrix is None):
            raise ConfigError("AnalogEngine: a network needs its horizon matrix, and a horizon matrix a network.")
        self.network = network
        self._M = None if horizon_matrix is None else np.asarray(horizon_matrix, dtype=np.float64)  # [H, grid]
        n_net = network.config.n_lags if network is not None else 0
        if network is not None and abs(network.config.lag_spacing - self.lag_spacing) > 1e-12:
            raise ConfigError("AnalogEngine: the lag spacing must be the network's.")
        self._n_lags = max(n_net, self.analog_lags, self.stacker_lags)
        self._offsets = lag_offsets(self._n_lags, self.lag_spacing)
        self._keep = max(self._n_lags * self.lag_spacing, self.amplitude_window) + 2.0 * self.lag_spacing
        k, H = self.k, self.H
        self.d = k + k * self.stacker_lags + 1
        self._L = self.max_delay + 2
        self.library = AnalogLibrary(self.analog_lags * k, H, k, self.library_capacity, self.n_neighbors, self.min_analogs)
        self.stacker = HorizonStacker(H, k, self.d, self.prior)
        # recent history (grows by doubling, old rows dropped) and running stats for the lead
        self._th = np.zeros(64)
        self._xh = np.zeros((64, k))
        self._nh = 0
        self._lead = np.zeros(3 * k + 2)  # [sum x - x0 (k), sum (x - x0)^2 (k), x0 (k), n, frozen lead or -1]
        self._lead[-1] = -1.0
        self._amp = np.zeros(2 * k + 1)  # running sums of the amplitude window [sum (k), sum of squares (k), first index]
        # per-step ring: features, scale, analog window, origin time, revealed targets
        L = self._L
        self._F = np.zeros((L, H, self.d))
        self._S = np.ones(L)
        self._KW = np.zeros((L, self.analog_lags * k))
        self._full = np.zeros(L, bool)
        self._T0 = np.zeros(L)
        self._Y = np.zeros((L, H, k))
        self._rev = np.zeros((L, H), bool)
        self._nrev = np.zeros(L, np.int64)  # horizons revealed per slot
        self._pending: list[tuple[int, int, np.ndarray]] = []
        self._z = np.zeros((k, 2 * n_net))  # network input of the current origin
        self._t = 0
        self._t_first = math.nan
        self._last_lib = -math.inf
        self.counts = dict.fromkeys(_COUNTERS, 0)
        self.n_updates = 0

    # ---------------------------------------------------------------- API
    @property
    def config(self) -> dict[str, Any]:
        names = ("n_targets", "n_horizons", "max_delay", "lag_spacing", "analog_lags", "stacker_lags",
                 "library_capacity", "library_spacing", "n_neighbors", "min_analogs", "prior",
                 "amplitude_window", "amplitude_floor", "lead_after", "horizon_matrix")
        vals = (self.k, self.H, self.max_delay, self.lag_spacing, self.analog_lags, self.stacker_lags,
                self.library_capacity, self.library_spacing, self.n_neighbors, self.min_analogs, self.prior,
                self.amplitude_window, self.amplitude_floor, self.lead_after, self.horizon_matrix)
        return dict(zip(names, vals))

    @property
    def n_refused(self) -> int:
        return self.stacker.n_refused

    @property
    def n_steps(self) -> int:
        return self._t

    def step(self, u: Any) -> np.ndarray:
        """Take observation ``u = [t, x_1..x_k]``; return the relative forecasts [H * k] (horizon-major)."""
        u = np.asarray(u, dtype=np.float64).reshape(-1)
        if u.size != self.k + 1:
            raise ConfigError(f"step(u): u must hold [time, {self.k} values], got {u.size} values.")
        if not np.isfinite(u).all():
            raise DataError("step(u): the observation has NaN or inf; impute or drop it before the stream.")
        t, x = float(u[0]), u[1:]
        if self._nh and t <= self._th[self._nh - 1]:
            raise DataError(f"step(u): time {t} is not after the previous observation ({self._th[self._nh - 1]}).")
        self._push(t, x)
        th, xh = self._th[: self._nh], self._xh[: self._nh]
        amp = self._amplitude(t)
        scale = float(np.sqrt(np.add.reduce(amp * amp) / self.k))
        lead = self._lead_now(t, x)
        rel = lagged_at(th, xh, t - self._offsets)  # [n_lags, k]
        rel -= x  # relative to the current value
        age = t - self._t_first
        net = ana = None
        if self.network is not None:
            if age >= self.network.config.history - 1e-9:
                g = self.network.forward(self._network_input(rel, amp, lead))
                g *= amp[:, None]  # [k, grid]
                net = self._M @ g.T  # [H, k]
            else:
                self.counts["n_without_network"] += 1
        window = rel[: self.analog_lags].reshape(-1)
        ana = self.library.query(window)
        if ana is None:
            self.counts["n_without_analogs"] += 1
        if net is not None and ana is not None:
            comb = (net + ana) / 2
        else:
            comb = net if net is not None else ana if ana is not None else np.zeros((self.H, self.k))
        slot = self._t % self._L
        F = self._F[slot]
        np.divide(comb, scale, out=F[:, : self.k])
        F[:, self.k:-1] = (rel[: self.stacker_lags] / scale).reshape(-1)[None, :]
        F[:, -1] = 1.0
        self._S[slot] = scale
        self._KW[slot] = window
        self._full[slot] = age >= self.analog_lags * self.lag_spacing - 1e-9
        self._T0[slot] = t
        self._rev[slot] = False
        self._nrev[slot] = 0
        self._t += 1
        self.counts["n_steps"] += 1
        return self._stacked(slot, comb, amp).reshape(-1)

    def output(self) -> np.ndarray:
        """The forecast of the latest step with the current stacker weights (no new step)."""
        if self._t == 0:
            return np.zeros(self.H * self.k)
        slot = (self._t - 1) % self._L
        comb = self._F[slot, :, : self.k] * self._S[slot]
        return self._stacked(slot, comb, None, count=False).reshape(-1)

    def learn(self, delay: int, target: Any, out_slice: slice | None = None) -> None:
        """The relative target (k values) of horizon ``out_slice`` of the forecast made ``delay`` steps ago."""
        start = 0 if out_slice is None else (out_slice.start or 0)
        j, rem = divmod(start, self.k)
        if rem or (out_slice is not None and out_slice.stop != start + self.k):
            raise ConfigError(f"learn(out_slice={out_slice!r}): one horizon's {self.k} outputs expected.")
        self.learn_many([delay], np.reshape(np.asarray(target, dtype=np.float64), (1, -1)), [j])

    def learn_many(self, delays: Any, targets: Any, horizons: Any) -> None:
        """Targets [m, k] of horizons ``horizons`` [m] of the forecasts made ``delays`` [m] steps ago."""
        d = np.asarray(delays, dtype=np.int64).reshape(-1)
        y = np.asarray(targets, dtype=np.float64)
        j = np.asarray(horizons, dtype=np.int64).reshape(-1)
        m = len(d)
        if y.shape != (m, self.k) or j.shape != (m,):
            raise ConfigError(f"learn_many: {m} delays, targets [{m}, {self.k}] and {m} horizons expected, got {y.shape}, {j.shape}.")
        if m and (d.min() < 0 or d.max() >= self._t or d.max() > self.max_delay or j.min() < 0 or j.max() >= self.H):
            raise ConfigError(f"learn_many: delays must be in [0, {min(self._t, self.max_delay + 1) - 1}] and horizons in [0, {self.H - 1}].")
        self._pending.append(((self._t - 1 - d) % self._L, j, y))

    def apply(self) -> float | None:
        """Learn the pending targets; returns their squared error (None if nothing was pending)."""
        if not self._pending:
            return None
        if len(self._pending) == 1:
            slots, js, Y = self._pending[0]
        else:
            slots = np.concatenate([p[0] for p in self._pending])
            js = np.concatenate([p[1] for p in self._pending])
            Y = np.concatenate([p[2] for p in self._pending])
        self._pending = []
        n = len(js)
        if n == 0:
            return 0.0
        count = np.bincount(js, minlength=self.H)
        if count.max() <= 1:  # the usual step: at most one pair per horizon, one round
            rounds = [slice(None)]
        else:  # rounds with at most one pair per horizon (each horizon's RLS updates are sequential)
            order = np.lexsort((np.arange(n), js))
            first = np.r_[True, js[order][1:] != js[order][:-1]]
            rank = np.empty(n, np.int64)
            rank[order] = np.arange(n) - np.maximum.accumulate(np.where(first, np.arange(n), 0))
            rounds = [np.flatnonzero(rank == r) for r in range(int(rank.max()) + 1)]
        loss = 0.0
        for sel in rounds:
            sl, jr, yr = slots[sel], js[sel], Y[sel]
            loss += self.stacker.learn(self._F[sl, jr], jr, yr / self._S[sl][:, None])
            fresh = ~self._rev[sl, jr]
            self._Y[sl, jr] = yr
            self._rev[sl, jr] = True
            self._nrev += np.bincount(sl[fresh], minlength=self._L)
        self.n_updates += n
        done = slots[self._nrev[slots] == self.H]
        if len(done) > 1:
            done = np.unique(done)
            done = done[np.argsort(self._T0[done], kind="stable")]
        for slot in done.tolist():
            self._maybe_add(int(slot))
        return loss

    # ---------------------------------------------------------------- internals
    def _network_input(self, rel: np.ndarray, amp: np.ndarray, lead: int) -> np.ndarray:
        """[k, 2 n_lags] network input of the current origin (as :func:`inputs_from_lags`, into a
        reused buffer): each coordinate's lags, then the lead's, over its amplitude, clipped."""
        cfg = self.network.config
        n, z = cfg.n_lags, self._z
        z[:, :n] = (rel[:n] / amp).T
        z[:, n:] = z[lead, :n]
        np.maximum(z, -cfg.input_clip, out=z)
        return np.minimum(z, cfg.input_clip, out=z)

    def _stacked(self, slot: int, comb: np.ndarray, amp: np.ndarray | None, count: bool = True) -> np.ndarray:
        out = self.stacker.forecast(self._F[slot]) * self._S[slot]
        bound = _GUARD * (self._S[slot] if amp is None else float(amp.max()))
        if not (np.isfinite(out).all() and np.abs(out - comb).max() <= bound):
            if count:
                self.counts["n_fallback"] += 1
            return comb
        return out

    def _maybe_add(self, slot: int) -> None:
        if self._nrev[slot] != self.H or not self._full[slot]:
            return
        t0 = self._T0[slot]
        if t0 < self._last_lib + self.library_spacing - 0.25 * self.library_spacing:
            return
        self.library.add(self._KW[slot], self._Y[slot])
        self._last_lib = t0
        self._nrev[slot] = -1  # added once

    def _amplitude(self, t: float) -> np.ndarray:
        """Std of each coordinate over (t - amplitude_window, t], floored: running sums of the
        window (relative to the series' first value), recomputed exactly every 256 steps."""
        a, k = self._amp, self.k
        n = self._nh
        x0 = self._lead[2 * k:3 * k]
        r = self._xh[n - 1] - x0
        a[:k] += r
        a[k:2 * k] += r * r
        lo = int(a[-1])
        while self._th[lo] <= t - self.amplitude_window:
            r = self._xh[lo] - x0
            a[:k] -= r
            a[k:2 * k] -= r * r
            lo += 1
        if self._t % 256 == 0:
            seg = self._xh[lo:n] - x0
            a[:k], a[k:2 * k] = seg.sum(axis=0), (seg * seg).sum(axis=0)
        a[-1] = lo
        cnt = n - lo
        var = np.maximum(a[k:2 * k] / cnt - (a[:k] / cnt) ** 2, 0.0)
        return np.maximum(np.sqrt(var), self.amplitude_floor)

    def _push(self, t: float, x: np.ndarray) -> None:
        if self._nh == 0:
            self._t_first = t
            self._lead[2 * self.k:3 * self.k] = x
        if self._nh == len(self._th):
            keep = np.searchsorted(self._th[: self._nh], t - self._keep, side="right") - 1
            keep = max(0, keep)
            n = self._nh - keep
            if n >= len(self._th) // 2:  # still needed: grow
                self._th = np.r_[self._th, np.zeros(len(self._th))]
                self._xh = np.vstack([self._xh, np.zeros_like(self._xh)])
            self._th[:n] = self._th[keep:self._nh].copy()
            self._xh[:n] = self._xh[keep:self._nh].copy()
            self._nh = n
            self._amp[-1] -= keep
        self._th[self._nh] = t
        self._xh[self._nh] = x
        self._nh += 1

    def _lead_now(self, t: float, x: np.ndarray) -> int:
        st, k = self._lead, self.k
        if st[-1] >= 0:
            return int(st[-1])
        r = x - st[2 * k:3 * k]
        st[:k] += r
        st[k:2 * k] += r * r
        st[3 * k] += 1.0
        n = st[3 * k]
        lead = int(np.argmax(st[k:2 * k] / n - (st[:k] / n) ** 2))
        if t - self._t_first >= self.lead_after:
            st[-1] = lead
        return lead

    # ---------------------------------------------------------------- state
    def state_dict_arrays(self) -> dict[str, np.ndarray]:
        out = {f"library.{k}": v for k, v in self.library.arrays().items()}
        out.update({f"stacker.{k}": v for k, v in self.stacker.arrays().items()})
        out.update({
            "th": self._th[: self._nh].copy(), "xh": self._xh[: self._nh].copy(), "lead": self._lead.copy(),
            "amp": self._amp.copy(), "nrev": self._nrev.copy(),
            "F": self._F.copy(), "S": self._S.copy(), "KW": self._KW.copy(), "full": self._full.copy(),
            "T0": self._T0.copy(), "Y": self._Y.copy(), "rev": self._rev.copy(),
            "scalars": np.array([self._t, self._t_first, self._last_lib, self.n_updates], np.float64),
            "counts": np.array([self.counts[c] for c in _COUNTERS], np.int64),
        })
        if self._pending:
            out["pending.slot"] = np.concatenate([p[0] for p in self._pending])
            out["pending.j"] = np.concatenate([p[1] for p in self._pending])
            out["pending.y"] = np.concatenate([p[2] for p in self._pending])
        return out

    @classmethod
    def from_state(cls, config: dict[str, Any], state: dict[str, np.ndarray], network: GlobalNetwork | None) -> AnalogEngine:
        cfg = dict(config)
        try:
            eng = cls(cfg.pop("n_targets"), cfg.pop("n_horizons"), cfg.pop("max_delay"), network=network, **cfg)
        except TypeError as exc:
            raise ModelFileError(f"analog engine configuration is invalid ({exc}).") from None
        try:
            eng.library.load({k[8:]: v for k, v in state.items() if k.startswith("library.")})
            eng.stacker.load({k[8:]: v for k, v in state.items() if k.startswith("stacker.")})
            th, xh = np.asarray(state["th"]), np.asarray(state["xh"])
            cap = max(64, 2 * len(th))
            eng._th, eng._xh = np.zeros(cap), np.zeros((cap, eng.k))
            eng._th[: len(th)], eng._xh[: len(th)], eng._nh = th, xh, len(th)
            for name in ("lead", "amp", "nrev", "F", "S", "KW", "full", "T0", "Y", "rev"):
                cur = getattr(eng, "_" + name)
                a = np.asarray(state[name])
                if a.shape != cur.shape:
                    raise ModelFileError(f"analog engine array {name!r} has shape {a.shape}, expected {cur.shape}.")
                cur[...] = a
            t, t_first, last_lib, n_up = np.asarray(state["scalars"]).tolist()
            eng._t, eng._t_first, eng._last_lib, eng.n_updates = int(t), float(t_first), float(last_lib), int(n_up)
            eng.counts = dict(zip(_COUNTERS, (int(c) for c in np.asarray(state["counts"]))))
            if "pending.slot" in state:
                eng._pending = [(np.asarray(state["pending.slot"]), np.asarray(state["pending.j"]), np.asarray(state["pending.y"]))]
        except KeyError as exc:
            raise ModelFileError(f"analog engine state is missing {exc.args[0]!r}.") from None
        return eng
