"""OnlineLearner: a recurrent network that forecasts and learns along one stream.

Protocol per new sample (prequential, as in Pohl et al.)::

    yhat = ol.step(u_t)                     # advance the state; predict all p outputs
    for k, h in enumerate(horizons):        # targets revealed at this step
        ol.learn(delay=h, target=y_k, out_slice=slice(9*k, 9*k+9))
    # or, the same in one call:  ol.learn_many(horizons, Y)   (Y: n_horizons x 9)
    ol.apply()                              # one optimizer step (clipped), or none

``step`` applies any pending gradient first, so the ring buffers always hold what
``apply`` needs. All maths is numpy (closed-form derivatives in :mod:`.cells`), float32 by
default, float64 supported. ``state_dict_arrays()`` / ``from_state(config, arrays)`` save
and resume the stream bit-for-bit; ``reset_state()`` starts a new stream with the same
weights.

Loss and delayed targets
------------------------
The loss of one ``apply`` is ``0.5 * sum((yhat - y)^2)`` over every output learned since the
previous apply (a sum, not a mean: with 21 horizons x 9 coordinates the gradient is large,
which the gradient-norm clipping bounds). A target for the prediction made ``d`` steps ago
is paired with that step's hidden state ``h_{t-d}`` and that step's algorithm quantities
(influence matrix for RTRL, rank-1 pair for UORO, sparse trace for SnAp-1, stored
activations for TBPTT), kept for the last ``max_delay`` steps; the error is recomputed
with the *current* readout (``R @ [h_{t-d}, 1]``), so the readout gradient is exact for the
current readout at that past state, and the recurrent gradient is exact (RTRL, TBPTT with a
long window) or the algorithm's estimate w.r.t. the past state, with weights that have moved
on since (the standard online approximation; exact when the weights are frozen, which the
tests check against full BPTT). TBPTT backpropagates all the targets of one apply in one
sweep that ends ``tbptt_steps`` steps before the oldest prediction (see :mod:`.tbptt`).

Divergence guard
----------------
If the loss or the gradient is NaN/inf, ``apply`` refuses the update: weights, optimizer
state and recurrent state stay as they were, the pending gradient is dropped, ``n_refused``
counts it and an :class:`OnlineUpdateWarning` (a ``RuntimeWarning``) is emitted. A
non-finite *input* to ``step`` raises :class:`tsgate.exceptions.DataError` instead, before
touching the state.
"""

from __future__ import annotations

import inspect
import math
import warnings
from typing import Any

import numpy as np

from tsgate import blas
from tsgate.exceptions import (
    ConfigError,
    DataError,
    ModelFileError,
    OnlineUpdateWarning,
)
from tsgate.online.buffers import PendingTargets, StepBuffers
from tsgate.online.cell import CELL_TYPES
from tsgate.online.cells import make_cell
from tsgate.online.optim import OPTIMIZERS, clip_grad_norm, make_optimizer
from tsgate.online.rtrl import RTRLTrace  # noqa: F401  (the four traces register themselves)
from tsgate.online.snap import SnAp1Trace  # noqa: F401
from tsgate.online.state import np_dtype, rng_from_arrays, rng_to_arrays
from tsgate.online.tbptt import TBPTTTrace  # noqa: F401
from tsgate.online.trace import TRACES, TraceSettings
from tsgate.online.uoro import UOROTrace  # noqa: F401
from tsgate.params import (
    Integral,
    Interval,
    Keys,
    Options,
    Real,
    check_values,
)

__all__ = ["OnlineLearner", "ALGORITHMS"]

ALGORITHMS: tuple[str, ...] = tuple(TRACES)
_COUNT = [Interval(Integral, 1, None)]
_ARGUMENTS = {
    "cell": [Keys(CELL_TYPES)],
    "algorithm": [Keys(TRACES)],
    "optimizer": [Options(*OPTIMIZERS)],
    "input_size": _COUNT,
    "hidden_size": _COUNT,
    "output_size": _COUNT,
    "tbptt_steps": _COUNT,
    "max_delay": [Interval(Integral, 0, None)],
    "lr": [Interval(Real, 0, None)],
    "clip": [Interval(Real, 0, None), None],
    "blas_threads": [*_COUNT, None],
}


class OnlineLearner:
    """A recurrent network (tanh RNN or LSTM) with a linear readout, learning online.

    Parameters
    ----------
    cell
        ``"rnn"`` (vanilla tanh) or ``"lstm"`` (gate order i, f, g, o as torch.nn.LSTM).
    input_size, hidden_size, output_size
        ``m`` input values per step (e.g. SHL samples x 9 coordinates + dt), ``n`` hidden
        units, ``p`` outputs (e.g. n_horizons x n_targets).
    algorithm
        ``"rtrl"`` (exact, small nets only), ``"uoro"``, ``"snap1"`` or ``"tbptt"``.
    lr
        Learning rate (>= 0).
    clip
        Maximum Euclidean norm of the whole gradient per update; None or 0: no clipping.
    optimizer
        ``"sgd"`` or ``"adam"`` (``betas``, ``adam_eps`` as in torch).
    tbptt_steps
        K, the truncation length of ``"tbptt"`` (cell steps per revealed target, >= 1).
    max_delay
        Largest ``delay`` (steps between a prediction and its target) ``learn`` accepts.
    seed
        Seeds the weight initialisation and UORO's random signs.
    dtype
        float32 (default) or float64; numpy, string or torch dtypes accepted.
    init_std
        Standard deviation of the initial weights (biases start at 0).
    forget_bias
        Initial forget-gate bias of the LSTM.
    uoro_eps
        The epsilon of UORO's rho scaling.
    blas_threads
        ``step`` and ``apply`` run with at most this many BLAS threads (restored after each
        call, ~15 us; skipped inside a ``with tsgate.blas.blas_threads(1):`` block); None
        leaves the BLAS libraries alone. At batch 1 extra threads only cost time (see
        :mod:`tsgate.blas`: 30-45 ms instead of 0.3-0.5 ms per step on 2 busy cores).
    """

    def __init__(self, cell: str = "rnn", input_size: int = 1, hidden_size: int = 32,
                 output_size: int = 1, algorithm: str = "uoro", lr: float = 0.01,
                 clip: float | None = 1.0, optimizer: str = "sgd", tbptt_steps: int = 16,
                 max_delay: int = 0, seed: int = 0, dtype: Any = np.float32,
                 init_std: float = 0.02, forget_bias: float = 1.0,
                 betas: tuple[float, float] = (0.9, 0.999), adam_eps: float = 1e-8,
                 uoro_eps: float = 1e-7, blas_threads: int | None = 1) -> None:
        check_values("OnlineLearner", _ARGUMENTS, locals())
        self.cell = cell
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.output_size = int(output_size)
        self.algorithm = algorithm
        self.lr = float(lr)
        self.clip = None if clip is None else float(clip)
        self.optimizer = optimizer
        self.tbptt_steps = int(tbptt_steps)
        self.max_delay = int(max_delay)
        self.seed = int(seed)
        self.dtype = np_dtype(dtype)
        self.init_std = float(init_std)
        self.forget_bias = float(forget_bias)
        self.betas = (float(betas[0]), float(betas[1]))
        self.adam_eps = float(adam_eps)
        self.uoro_eps = float(uoro_eps)
        self.blas_threads = None if blas_threads is None else int(blas_threads)
        self._build()

    # ------------------------------------------------------------------ construction
    @property
    def config(self) -> dict[str, Any]:
        """Constructor arguments as a JSON-serialisable dict (``from_state``'s first argument)."""
        names = inspect.signature(OnlineLearner.__init__).parameters
        cfg = {k: getattr(self, k) for k in names if k != "self"}
        return {**cfg, "dtype": self.dtype.name, "betas": list(self.betas)}

    def _build(self) -> None:
        dt = self.dtype
        c = self._cell = make_cell(self.cell, self.input_size, self.hidden_size, dt)
        n, p = c.n, self.output_size
        # ring length: TBPTT needs max_delay + K steps; the others max_delay + 1 (>= 2 so
        # that the current and the previous slot never alias)
        if self.algorithm == "tbptt":
            self._L = max(2, self.max_delay + self.tbptt_steps)
        else:
            self._L = self.max_delay + 2
        L = self._L
        rng = np.random.default_rng(self.seed)
        self._nW = c.rows * c.q
        self._theta = np.empty(self._nW + p * (n + 1), dt)
        self._W = self._theta[:self._nW].reshape(c.rows, c.q)
        self._R = self._theta[self._nW:].reshape(p, n + 1)
        self._W[:] = c.init_weights(rng, self.init_std, self.forget_bias)
        self._R[:] = (rng.standard_normal((p, n + 1)) * self.init_std).astype(dt)
        self._R[:, -1] = 0
        self._grad = np.zeros_like(self._theta)
        self._gW = self._grad[:self._nW].reshape(c.rows, c.q)
        self._gR = self._grad[self._nW:].reshape(p, n + 1)
        # per-step ring buffers (slot = time % L), read by the trace
        self._buf = StepBuffers(c, L)
        self._s_init = np.zeros(c.n_state, dt)
        # pending targets per (slot, output): mask (1 = learned) and target value
        self._pend = PendingTargets(L, p, dt)
        self._t = 0
        self._rng = np.random.default_rng(np.random.SeedSequence([self.seed, 1]))
        self._opt = make_optimizer(self.optimizer, self._theta.size, dt, self.lr,
                                   self.betas, self.adam_eps)
        settings = TraceSettings(max_delay=self.max_delay, tbptt_steps=self.tbptt_steps, uoro_eps=self.uoro_eps)
        self._trace = TRACES[self.algorithm](c, self._buf, settings)
        self.n_refused = 0
        self.n_updates = 0  # updates applied since construction or loading (not saved)
        self.last_loss: float | None = None
        self.last_grad_norm: float | None = None

    @classmethod
    def from_state(cls, config: dict[str, Any], state: dict[str, np.ndarray]) -> "OnlineLearner":
        """Rebuild a learner from ``config`` and ``state_dict_arrays()``; it continues the
        stream bit-for-bit as the saved one would have."""
        cfg = dict(config)
        if "betas" in cfg:
            cfg["betas"] = tuple(cfg["betas"])
        try:
            ol = cls(**cfg)
        except TypeError as e:
            raise ModelFileError(f"online learner config is invalid: {e}") from None
        ol.load_state_arrays(state)
        return ol

    # ------------------------------------------------------------------ state
    def _state_views(self) -> dict[str, np.ndarray]:
        d = {"theta": self._theta, **self._buf.arrays(), **self._pend.arrays()}
        for k, v in self._trace.arrays().items():
            d["trace." + k] = v
        return d

    def state_dict_arrays(self) -> dict[str, np.ndarray]:
        """Everything needed to continue the stream bit-for-bit, as copies of numpy arrays:
        weights, recurrent state and histories, pending targets, optimizer state, the
        algorithm's traces and the random generator's state."""
        out = {k: v.copy() for k, v in self._state_views().items()}
        out["t"] = np.array(self._t, np.int64)
        out["pending.flag"] = np.array(self._pend.any, bool)
        out["n_refused"] = np.array(self.n_refused, np.int64)
        for k, v in self._opt.arrays().items():
            out["opt." + k] = v
        out.update(rng_to_arrays(self._rng))
        return out

    def load_state_arrays(self, state: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`state_dict_arrays` saved (shapes must match the config)."""
        try:
            for k, v in self._state_views().items():
                a = np.asarray(state[k])
                if a.shape != v.shape:
                    raise ModelFileError(
                        f"online state array {k!r} has shape {a.shape}, expected {v.shape} for "
                        f"this configuration; save and load with the same config.")
                v[...] = a
            self._t = int(state["t"])
            self._pend.any = bool(state["pending.flag"])
            self.n_refused = int(state["n_refused"])
            self._opt.load({k[4:]: v for k, v in state.items() if k.startswith("opt.")})
            self._rng = rng_from_arrays(state["rng.pcg64"], state["rng.extra"])
        except KeyError as e:
            raise ModelFileError(f"online state is missing array {e.args[0]!r}; it was not "
                                 f"written by OnlineLearner.state_dict_arrays().") from None

    def reset_state(self, seed: int | None = None) -> None:
        """Start a new stream: zero the recurrent state, histories, traces and pending
        targets; keep weights and optimizer state. ``seed`` reseeds UORO's signs."""
        self._buf.reset()
        self._trace.reset()
        self.discard()
        self._t = 0
        if seed is not None:
            self._rng = np.random.default_rng(np.random.SeedSequence([int(seed), 1]))

    # ------------------------------------------------------------------ parameters
    @property
    def n_steps(self) -> int:
        """Number of ``step`` calls since the start (or the last ``reset_state``)."""
        return self._t

    @property
    def weights(self) -> dict[str, np.ndarray]:
        """Live views: ``W`` (rows, m+n+1) = [W_in | W_rec | b] and
        ``R`` (p, n+1) = [W_out | b_out]."""
        return {"W": self._W, "R": self._R}

    @property
    def state(self) -> np.ndarray:
        """Current recurrent state (copy): h (n) for the RNN, [h, c] (2n) for the LSTM."""
        if self._t == 0:
            return self._s_init.copy()
        return self._buf.S[(self._t - 1) % self._L].copy()

    def set_weights(self, W: np.ndarray | None = None, R: np.ndarray | None = None) -> None:
        """Overwrite the recurrent matrix ``W`` and/or the readout ``R`` (shapes as in
        :attr:`weights`)."""
        for name, new, cur in (("W", W, self._W), ("R", R, self._R)):
            if new is None:
                continue
            a = np.asarray(new, dtype=np.float64)
            if a.shape != cur.shape:
                raise ConfigError(f"{name} must have shape {cur.shape}, got {a.shape}.")
            cur[:] = a

    def load_torch(self, module: Any, readout: Any = None) -> None:
        """Load a trained single-layer ``torch.nn.LSTM``/``LSTMCell`` (cell="lstm") or tanh
        ``nn.RNN``/``RNNCell`` (cell="rnn"), and optionally an ``nn.Linear`` readout."""
        self.set_weights(W=self._cell.weights_from_torch(module))
        if readout is not None:
            w = readout.weight.detach().cpu().double().numpy()
            b = (readout.bias.detach().cpu().double().numpy() if readout.bias is not None
                 else np.zeros(w.shape[0]))
            self.set_weights(R=np.concatenate([w, b[:, None]], axis=1))

    # ------------------------------------------------------------------ stream
    def step(self, u: Any) -> np.ndarray:
        """Advance the state with input ``u_t`` (m values) and return the prediction (p).

        Pending gradients (``learn`` without ``apply``) are applied first.
        """
        if self.blas_threads and not blas.active():
            with blas.blas_threads(self.blas_threads):
                return self._step(u)
        return self._step(u)

    def _step(self, u: Any) -> np.ndarray:
        if self._pend.any:
            self._apply()
        c = self._cell
        u = np.asarray(u, dtype=self.dtype)
        if u.size != c.m:
            raise ConfigError(f"step(u): u must hold input_size={c.m} values, got shape {u.shape}.")
        if not np.isfinite(u).all():
            raise DataError("step(u): u contains NaN or inf; impute or skip the sample before "
                            "calling step() (the recurrent state would be lost).")
        t = self._t
        L = self._L
        slot = t % L
        prev = None if t == 0 else (t - 1) % L
        buf = self._buf
        s_prev = self._s_init if prev is None else buf.S[prev]
        z = buf.Z[slot]
        z[:c.m] = u.reshape(-1)
        z[c.m:c.m + c.n] = s_prev[:c.n]
        s = buf.S[slot]
        c.forward(self._W, z, s_prev, s, buf.CACHE[slot])
        h = buf.H[slot]
        h[:c.n] = s[:c.n]
        self._trace.on_step(t, slot, prev, self._W, self._rng)
        self._t = t + 1
        return self._R @ h

    def output(self) -> np.ndarray:
        """The prediction of the current state with the current weights, without a step (what
        ``step`` returned last, after any update since; pending targets are not applied)."""
        h = self._buf.H[(self._t - 1) % self._L] if self._t else np.r_[np.zeros(self._cell.n, self.dtype), 1.0]
        return self._R @ h

    def learn(self, delay: int, target: Any, out_slice: slice | None = None) -> None:
        """The target of the prediction made ``delay`` steps ago (0: the latest) became
        known for the outputs ``out_slice`` (default: all); accumulate its gradient.

        ``target`` holds ``len(range(p)[out_slice])`` values. Learning the same output of
        the same prediction twice before :meth:`apply` keeps the later target. Nothing
        changes the weights before :meth:`apply` (or the next :meth:`step`).
        """
        t = self._t
        if delay.__class__ is not int:
            if int(delay) != delay:
                raise ConfigError(f"learn(delay={delay!r}): delay must be an integer.")
            delay = int(delay)
        if not 0 <= delay < t or delay > self.max_delay:
            self._bad_delay(delay)
        s = (t - 1 - delay) % self._L
        if out_slice is None:
            out_slice = slice(None)
        v = self._pend.t[s, out_slice]
        if np.size(target) != v.size or v.size == 0:
            raise ConfigError(f"learn(target, out_slice={out_slice!r}): target must hold one "
                              f"value per selected output ({v.size} of {self.output_size}), "
                              f"got {np.size(target)}.")
        v[...] = np.reshape(target, v.shape)
        self._pend.w[s, out_slice] = 1.0
        self._pend.mark(s)

    def learn_many(self, delays: Any, targets: Any, blocks: Any = None) -> None:
        """Vectorised :meth:`learn` for multi-horizon outputs laid out in blocks.

        The p outputs are viewed as ``p // w`` consecutive blocks of width
        ``w = targets.shape[1]`` (e.g. one block of 9 coordinates per horizon); row j of
        ``targets`` is the target of block ``blocks[j]`` (default j) of the prediction made
        ``delays[j]`` steps ago. Same result as one ``learn`` call per row.
        """
        y = np.asarray(targets, dtype=self.dtype)
        d = np.asarray(delays)
        if y.ndim != 2 or d.shape != (y.shape[0],):
            raise ConfigError(f"learn_many: targets must be 2-D (k, w) and delays hold k values; "
                              f"got targets {y.shape}, delays {d.shape}.")
        k, w = y.shape
        p = self.output_size
        if w == 0 or p % w:
            raise ConfigError(f"learn_many: the block width targets.shape[1]={w} must divide "
                              f"output_size={p}.")
        if k == 0:
            return
        if d.dtype.kind not in "iu":
            if not np.all(d == np.round(d)):
                raise ConfigError(f"learn_many(delays={delays!r}): delays must be integers.")
            d = d.astype(np.int64)
        dmin, dmax = int(d.min()), int(d.max())
        if dmin < 0 or dmax >= self._t or dmax > self.max_delay:
            bad = d[(d < 0) | (d >= self._t) | (d > self.max_delay)][0]
            self._bad_delay(int(bad))
        b = np.arange(k) if blocks is None else np.asarray(blocks)
        if b.shape != (k,) or b.min() < 0 or b.max() >= p // w:
            raise ConfigError(f"learn_many(blocks={blocks!r}): {k} block indices in "
                              f"[0, {p // w}) expected.")
        s = (self._t - 1 - d) % self._L
        self._pend.t.reshape(self._L, p // w, w)[s, b] = y
        self._pend.w.reshape(self._L, p // w, w)[s, b] = 1.0
        self._pend.mark(s)

    def _bad_delay(self, delay: int) -> None:
        if delay < 0 or delay > self.max_delay:
            raise ConfigError(f"learn(delay={delay!r}): delay must be an integer in "
                              f"[0, max_delay={self.max_delay}]; raise max_delay to learn "
                              f"from older predictions.")
        raise ConfigError(f"learn(delay={delay}): only {self._t} predictions were made so far; "
                          f"call step() first.")

    def discard(self) -> None:
        """Drop the pending targets without updating."""
        self._pend.clear()

    def _compute_grad(self) -> float:
        """Gradient of the pending loss into ``self._grad``; returns the loss."""
        L = self._L
        pw = self._pend.w
        # errors of every slot with the current readout (inactive slots have pw = 0); the
        # stored target of an unlearned output is ignored (masked)
        H = self._buf.H
        E = H @ self._R.T
        E -= self._pend.t
        E *= pw
        Ef = E.reshape(-1)
        loss = 0.5 * float(np.dot(Ef, Ef))
        np.dot(E.T, H, out=self._gR)
        C = E @ self._R[:, :self._cell.n]         # dL/dh_tau per slot (zero if inactive)
        t_new = self._t - 1
        slots = np.flatnonzero(self._pend.active)
        times = t_new - ((t_new - slots) % L)
        order = np.argsort(times)
        self._trace.grad(t_new, times[order], slots[order], C, self._W, self._gW)
        return loss

    def gradient(self) -> dict[str, np.ndarray] | None:
        """The gradient ``apply`` would use (before clipping), as copies ``{"W", "R"}``;
        None if nothing is pending. Changes nothing."""
        if not self._pend.any:
            return None
        with np.errstate(all="ignore"), blas.blas_threads(self.blas_threads or 10**6):
            self._compute_grad()
        return {"W": self._gW.copy(), "R": self._gR.copy()}

    def apply(self) -> float | None:
        """One optimizer step from the pending targets; return their loss (None if none
        pending or the update was refused)."""
        if not self._pend.any:
            return None
        if self.blas_threads and not blas.active():
            with blas.blas_threads(self.blas_threads):
                return self._apply()
        return self._apply()

    def _apply(self) -> float | None:
        with np.errstate(all="ignore"):
            loss = self._compute_grad()
            g = self._grad
            norm = math.sqrt(float(np.dot(g, g)))
        self.discard()
        if not (math.isfinite(loss) and math.isfinite(norm)):
            self.n_refused += 1
            warnings.warn(
                f"online update refused at step {self._t}: non-finite loss ({loss}) or gradient "
                f"norm ({norm}); weights and state are unchanged. Lower lr, set clip, or check "
                f"the targets for NaN/inf.", OnlineUpdateWarning, stacklevel=2)
            return None
        clip_grad_norm(g, self.clip, norm)
        self._opt.step(self._theta, g)
        self.n_updates += 1
        self.last_loss = loss
        self.last_grad_norm = norm
        return loss

    def __repr__(self) -> str:
        return (f"OnlineLearner(cell={self.cell!r}, input_size={self.input_size}, "
                f"hidden_size={self.hidden_size}, output_size={self.output_size}, "
                f"algorithm={self.algorithm!r}, lr={self.lr}, optimizer={self.optimizer!r})")
