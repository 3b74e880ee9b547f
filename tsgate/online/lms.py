"""Online linear baselines with the OnlineLearner API: NLMS and recursive least squares.

Both predict every output from the input vector ``x = [u_t, 1]`` (``yhat = W x``), keep the
inputs of the last ``max_delay`` steps, and learn a delayed target against the input of the
prediction's own step. Unlike :class:`~tsgate.online.OnlineLearner`, ``learn`` updates the
weights at once (the updates of disjoint output slices commute); ``apply`` only returns the
loss accumulated since the previous call, so the same driving loop works for both.

* :class:`NLMS` -- normalised least mean squares:
  ``W[s] += mu * e x^T / (eps + |x|^2)`` with ``e = y - W[s] x``.
* :class:`OnlineLinearRegression` -- recursive least squares with forgetting factor
  ``lam``: with ``lam = 1`` its weights equal the ridge solution
  ``argmin sum |y - W x|^2 + ridge |W|^2`` over every (input, target) pair learned so far
  (exact incremental normal equations, O(d^2) per target). Outputs learned together (one
  ``out_slice``) share one inverse-covariance matrix ``P``; different slices must not
  overlap.

A non-finite target, error or update is refused: weights unchanged, an
:class:`~tsgate.online.OnlineUpdateWarning` is emitted.
"""

from __future__ import annotations

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
from tsgate.online.state import np_dtype
from tsgate.params import Integral, Interval, Real, check_value, check_values

__all__ = ["NLMS", "OnlineLinearRegression"]


_ARGUMENTS = {
    "input_size": [Interval(Integral, 1, None)],
    "output_size": [Interval(Integral, 1, None)],
    "max_delay": [Interval(Integral, 0, None)],
    "blas_threads": [Interval(Integral, 1, None), None],
}


class _Null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


_NULL = _Null()


class _LinearOnline:
    _kind = ""
    _learn_uses_blas = True   # large BLAS calls in learn: run them single-threaded

    def __init__(self, input_size: int, output_size: int, max_delay: int = 0,
                 dtype: Any = np.float64, blas_threads: int | None = 1) -> None:
        check_values(type(self).__name__, _ARGUMENTS, locals())
        self.input_size = int(input_size)
        self.output_size = int(output_size)
        self.max_delay = int(max_delay)
        self.dtype = np_dtype(dtype)
        self.blas_threads = None if blas_threads is None else max(1, int(blas_threads))
        self._L = self.max_delay + 1
        d = self.input_size + 1
        self._Wt = np.zeros((self.output_size, d), self.dtype)
        self._X = np.zeros((self._L, d), self.dtype)
        self._X[:, -1] = 1.0
        self._t = 0
        self._loss = 0.0
        self.n_refused = 0
        self.n_updates = 0  # targets learned since construction or loading (not saved)

    @property
    def config(self) -> dict[str, Any]:
        return {"input_size": self.input_size, "output_size": self.output_size,
                "max_delay": self.max_delay, "dtype": self.dtype.name,
                "blas_threads": self.blas_threads, **self._extra_config()}

    def _extra_config(self) -> dict[str, Any]:
        return {}

    @property
    def weights(self) -> np.ndarray:
        """Live view of ``W`` (p, m+1): ``[W | b]``."""
        return self._Wt

    @property
    def n_steps(self) -> int:
        return self._t

    def _guard(self) -> Any:
        if self.blas_threads and not blas.active():
            return blas.blas_threads(self.blas_threads)
        return _NULL

    def step(self, u: Any) -> np.ndarray:
        """Store ``u_t`` (m values) and return the prediction of all p outputs."""
        with self._guard():
            return self._step(u)

    def output(self) -> np.ndarray:
        """The prediction for the latest input with the current weights, without a step."""
        if self._t == 0:
            return self._Wt[:, -1].copy()
        return self._Wt @ self._X[(self._t - 1) % self._L]

    def learn(self, delay: int, target: Any, out_slice: slice | None = None) -> None:
        """Update the rows ``out_slice`` with the target of the prediction made ``delay``
        steps ago (at once; see the module docstring)."""
        if not self._learn_uses_blas:
            self._learn(*self._check(delay, target, out_slice))
            return
        with self._guard():
            self._learn(*self._check(delay, target, out_slice))

    def learn_many(self, delays: Any, targets: Any, blocks: Any = None) -> None:
        """One :meth:`learn` per row: row j of ``targets`` (k, w) is the target of output
        block ``blocks[j]`` (default j; blocks of width w) of the prediction made
        ``delays[j]`` steps ago."""
        y = np.asarray(targets, dtype=self.dtype)
        if y.ndim != 2 or y.shape[1] == 0 or self.output_size % y.shape[1]:
            raise ConfigError(f"learn_many: targets must be (k, w) with w dividing "
                              f"output_size={self.output_size}; got {y.shape}.")
        k, w = y.shape
        d = list(delays)
        b = list(range(k)) if blocks is None else list(blocks)
        if len(d) != k or len(b) != k:
            raise ConfigError(f"learn_many: {k} delays and blocks expected, got {len(d)} "
                              f"and {len(b)}.")
        with self._guard():
            for j in range(k):
                if not 0 <= b[j] < self.output_size // w:
                    raise ConfigError(f"learn_many(blocks): block {b[j]} out of range "
                                      f"[0, {self.output_size // w}).")
                self._learn(*self._check(d[j], y[j], slice(b[j] * w, (b[j] + 1) * w)))

    def _step(self, u: Any) -> np.ndarray:
        u = np.asarray(u, dtype=self.dtype).reshape(-1)
        if u.size != self.input_size:
            raise ConfigError(f"step(u): u must hold input_size={self.input_size} values, "
                              f"got {u.size}.")
        if not np.isfinite(u).all():
            raise DataError("step(u): u contains NaN or inf; impute or skip the sample.")
        x = self._X[self._t % self._L]
        x[:-1] = u
        self._t += 1
        return self._Wt @ x

    def _check(self, delay: int, target: Any, out_slice: slice | None
               ) -> tuple[np.ndarray, slice, np.ndarray]:
        d = int(delay)
        if d != delay or d < 0 or d > self.max_delay:
            raise ConfigError(f"learn(delay={delay!r}): delay must be an integer in "
                              f"[0, max_delay={self.max_delay}].")
        if d >= self._t:
            raise ConfigError(f"learn(delay={d}): only {self._t} predictions were made so far.")
        if out_slice is None:
            out_slice = slice(0, self.output_size)
        elif not isinstance(out_slice, slice):
            raise ConfigError(f"learn(out_slice={out_slice!r}): must be a slice or None.")
        a, b, st = out_slice.indices(self.output_size)
        if st != 1:
            raise ConfigError(f"learn(out_slice={out_slice!r}): the step must be 1.")
        y = np.asarray(target, dtype=self.dtype).reshape(-1)
        if y.size != b - a:
            raise ConfigError(f"learn(target): {b - a} values expected for out_slice="
                              f"{out_slice!r}, got {y.size}.")
        return self._X[(self._t - 1 - d) % self._L], slice(a, b), y

    def _refuse(self, what: str) -> None:
        self.n_refused += 1
        warnings.warn(f"{self._kind} update refused at step {self._t}: {what}; weights are "
                      f"unchanged.", OnlineUpdateWarning, stacklevel=4)

    def apply(self) -> float | None:
        """Return the loss ``0.5*sum(e^2)`` learned since the previous call (updates already
        happened in ``learn``); None if nothing was learned."""
        loss, self._loss = self._loss, 0.0
        return loss if loss else None

    def _state_views(self) -> dict[str, np.ndarray]:
        return {"W": self._Wt, "X": self._X}

    def state_dict_arrays(self) -> dict[str, np.ndarray]:
        out = {k: v.copy() for k, v in self._state_views().items()}
        out["t"] = np.array(self._t, np.int64)
        out["loss"] = np.array(self._loss, np.float64)
        out["n_refused"] = np.array(self.n_refused, np.int64)
        return out

    def load_state_arrays(self, state: dict[str, np.ndarray]) -> None:
        try:
            for k, v in self._state_views().items():
                a = np.asarray(state[k])
                if a.shape != v.shape:
                    raise ModelFileError(f"state array {k!r} has shape {a.shape}, expected "
                                         f"{v.shape}; save and load with the same config.")
                v[...] = a
            self._t = int(state["t"])
            self._loss = float(state["loss"])
            self.n_refused = int(state["n_refused"])
        except KeyError as e:
            raise ModelFileError(f"state is missing array {e.args[0]!r}.") from None

    @classmethod
    def from_state(cls, config: dict[str, Any], state: dict[str, np.ndarray]):
        ol = cls(**config)
        ol.load_state_arrays(state)
        return ol


class NLMS(_LinearOnline):
    """Normalised least mean squares, all outputs from ``[u, 1]``.

    Parameters
    ----------
    input_size, output_size, max_delay, dtype, blas_threads
        As for :class:`~tsgate.online.OnlineLearner` (dtype default float64).
    mu
        Step size, in (0, 2) for stability.
    eps
        Regulariser of the normalisation ``eps + |x|^2``.
    """

    _kind = "NLMS"
    _learn_uses_blas = False  # only (slice x d) products: no thread switching per target

    def __init__(self, input_size: int, output_size: int, max_delay: int = 0,
                 mu: float = 0.5, eps: float = 1e-6, dtype: Any = np.float64,
                 blas_threads: int | None = 1) -> None:
        check_value("mu", mu, [Interval(Real, 0, 2, closed="neither")], "NLMS")  # stable for 0 < mu < 2
        super().__init__(input_size, output_size, max_delay, dtype, blas_threads)
        self.mu = float(mu)
        self.eps = float(eps)

    def _extra_config(self) -> dict[str, Any]:
        return {"mu": self.mu, "eps": self.eps}

    def learn_many(self, delays: Any, targets: Any, blocks: Any = None) -> None:
        """Vectorised :meth:`learn` over distinct output blocks (the result of one call per
        row, up to rounding; rows with a non-finite error are refused, the others learned)."""
        y = np.asarray(targets, dtype=self.dtype)
        k = y.shape[0] if y.ndim == 2 else -1
        b = np.arange(k) if blocks is None else np.asarray(blocks)
        d = np.asarray(delays)
        if (y.ndim != 2 or k == 0 or y.shape[1] == 0 or self.output_size % y.shape[1]
                or d.shape != (k,) or b.shape != (k,) or len(set(b.tolist())) != k
                or d.dtype.kind not in "iu" or b.dtype.kind not in "iu"):
            return super().learn_many(delays, targets, blocks)   # validates / general case
        w = y.shape[1]
        nb = self.output_size // w
        if d.min() < 0 or d.max() > self.max_delay or d.max() >= self._t \
                or b.min() < 0 or b.max() >= nb:
            return super().learn_many(delays, targets, blocks)   # raises the precise error
        X = self._X[(self._t - 1 - d) % self._L]                  # (k, m+1)
        W3 = self._Wt.reshape(nb, w, -1)
        with np.errstate(all="ignore"):
            e = y - np.einsum("kwd,kd->kw", W3[b], X)
            rl = 0.5 * np.einsum("kw,kw->k", e, e)
        ok = np.isfinite(rl)
        if not ok.all():
            self._refuse(f"non-finite error in {int((~ok).sum())} of {k} targets")
            b, X, e, rl = b[ok], X[ok], e[ok], rl[ok]
        e *= (self.mu / (self.eps + np.einsum("kd,kd->k", X, X)))[:, None]
        W3[b] += e[:, :, None] * X[:, None, :]
        self._loss += float(rl.sum())
        self.n_updates += len(b)

    def _learn(self, x: np.ndarray, s: slice, y: np.ndarray) -> None:
        W = self._Wt[s]
        with np.errstate(all="ignore"):
            e = y - W @ x
            loss = 0.5 * float(np.dot(e, e))
        if not math.isfinite(loss):
            self._refuse(f"non-finite error (loss {loss})")
            return
        W += np.outer(e * (self.mu / (self.eps + float(np.dot(x, x)))), x)
        self._loss += loss
        self.n_updates += 1


class OnlineLinearRegression(_LinearOnline):
    """Recursive least squares (exact incremental ridge regression when ``lam = 1``).

    Parameters
    ----------
    input_size, output_size, max_delay, dtype, blas_threads
        As for :class:`~tsgate.online.OnlineLearner` (dtype default float64; float32 RLS
        loses accuracy over long streams).
    ridge
        Ridge penalty (``P`` starts at ``I / ridge``), > 0.
    lam
        Forgetting factor in (0, 1]; 1 weighs every past pair equally.
    """

    _kind = "RLS"

    def __init__(self, input_size: int, output_size: int, max_delay: int = 0,
                 ridge: float = 1e-3, lam: float = 1.0, dtype: Any = np.float64,
                 blas_threads: int | None = 1) -> None:
        check_value("ridge", ridge, [Interval(Real, 0, None, closed="neither")], "OnlineLinearRegression")
        check_value("lam", lam, [Interval(Real, 0, 1, closed="right")], "OnlineLinearRegression")
        super().__init__(input_size, output_size, max_delay, dtype, blas_threads)
        self.ridge = float(ridge)
        self.lam = float(lam)
        self._P: dict[tuple[int, int], np.ndarray] = {}
        from scipy.linalg.blas import get_blas_funcs

        self._ger = get_blas_funcs("ger", dtype=self.dtype)

    def _extra_config(self) -> dict[str, Any]:
        return {"ridge": self.ridge, "lam": self.lam}

    def _group(self, s: slice) -> np.ndarray:
        key = (s.start, s.stop)
        P = self._P.get(key)
        if P is None:
            for a, b in self._P:
                if a < s.stop and s.start < b:
                    raise ConfigError(
                        f"learn(out_slice={s!r}) overlaps the slice {slice(a, b)!r} learned "
                        f"before; RLS needs disjoint output groups (learn each horizon's "
                        f"outputs with the same slice every time).")
            d = self.input_size + 1
            P = self._P[key] = np.eye(d, dtype=self.dtype) / self.ridge
        return P

    def _learn(self, x: np.ndarray, s: slice, y: np.ndarray) -> None:
        # rank-1 RLS update of the rows s with the pair (x, y)
        P = self._group(s)
        W = self._Wt[s]
        with np.errstate(all="ignore"):
            e = y - W @ x
            loss = 0.5 * float(np.dot(e, e))
            Px = P @ x
            k = Px / (self.lam + float(np.dot(x, Px)))
        if not (math.isfinite(loss) and np.isfinite(k).all()):
            self._refuse(f"non-finite error or gain (loss {loss})")
            return
        W += np.outer(e, k)
        # P -= k Px^T in place (BLAS ger on the Fortran view of the C-ordered matrix)
        r = self._ger(-1.0, Px, k, a=P.T, overwrite_a=1)
        if not np.shares_memory(r, P):  # pragma: no cover - defensive
            P[:] = r.T
        if self.lam != 1.0:
            P /= self.lam
        self._loss += loss
        self.n_updates += 1

    def _state_views(self) -> dict[str, np.ndarray]:
        d = super()._state_views()
        for (a, b), P in self._P.items():
            d[f"P.{a}.{b}"] = P
        return d

    def load_state_arrays(self, state: dict[str, np.ndarray]) -> None:
        self._P = {}
        d = self.input_size + 1
        for k in state:
            if k.startswith("P."):
                _, a, b = k.split(".")
                self._P[(int(a), int(b))] = np.zeros((d, d), self.dtype)
        super().load_state_arrays(state)
