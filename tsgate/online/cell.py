"""The interface of the numpy recurrent cells the online learners run (batch 1), and their registry.

Everything a learning algorithm needs from a cell is written out by hand in the cell's module:
the forward step, the Jacobian-vector product with the previous state (UORO's forward
tangent), the pre-activation adjoint of a state adjoint (UORO, TBPTT), one backward step of an
adjoint (TBPTT, RTRL's window), one step of the exact influence matrix (RTRL), and the
unit-diagonal blocks of the state Jacobian (SnAp-1). At batch 1 these are a handful of small
BLAS calls and elementwise ufuncs: no autograd on the per-step hot path (autograd/jvp costs
about 8x more). The gradient traces (:mod:`tsgate.online.rtrl`, ``uoro``, ``snap``,
``tbptt``) use only this interface, so a new cell is one module with a :class:`Cell` subclass
(plus its import in :mod:`tsgate.online.cells`), usable by every algorithm.

Parameter layout, shared by every algorithm
-------------------------------------------
All recurrent weights live in one matrix ``W`` of shape ``(rows, q)`` with ``q = m + n + 1``
(``m`` inputs, ``n`` hidden units): ``W = [W_in | W_rec | b]`` so the pre-activation is
``a = W @ z`` with ``z = [u_t, h_{t-1}, 1]``. ``rows = gates * n``: row ``x*n + k`` is gate x
of unit k. The state ``s`` holds ``units * n`` values, ``s[:n]`` being ``h``; ``units`` state
values belong to each hidden unit (``s[r*n + k]`` is value r of unit k).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from tsgate.exceptions import ConfigError

__all__ = ["Cell", "CELL_TYPES", "torch_weights"]

#: kind name → cell class, filled as cell classes are defined
CELL_TYPES: dict[str, type[Cell]] = {}


class Cell:
    """Base of the numpy cells; a subclass sets ``kind``, ``gates`` and ``units``.

    Attributes set by ``__init__``: ``m``, ``n``, ``q = m + n + 1``, ``rows = gates * n``,
    ``n_state = units * n``, ``cache_size`` (values the forward step stores for the derivatives)
    and ``dtype``.
    """

    kind: ClassVar[str] = ""
    gates: ClassVar[int] = 1
    units: ClassVar[int] = 1
    cache_per_unit: ClassVar[int] = 1

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if cls.kind:
            CELL_TYPES[cls.kind] = cls

    def __init__(self, input_size: int, hidden_size: int, dtype: Any = np.float32) -> None:
        self.m = int(input_size)
        self.n = int(hidden_size)
        self.q = self.m + self.n + 1
        self.rows = self.gates * self.n
        self.n_state = self.units * self.n
        self.cache_size = self.cache_per_unit * self.n
        self.dtype = np.dtype(dtype)
        k = np.arange(self.n)
        self._diag = (np.arange(self.rows), self.m + np.tile(k, self.gates))

    # ---------------------------------------------------------------- weights
    def init_weights(self, rng: np.random.Generator, std: float, forget_bias: float = 1.0) -> np.ndarray:
        """Weights ~ N(0, std^2), biases 0 (a cell may set some biases, e.g. an LSTM's forget gate)."""
        W = (rng.standard_normal((self.rows, self.q)) * std).astype(self.dtype)
        W[:, -1] = 0.0
        return W

    def w_rec(self, W: np.ndarray) -> np.ndarray:
        """The recurrent block ``W_rec`` (rows, n) of ``W`` (a view)."""
        return W[:, self.m:self.m + self.n]

    def recurrent_t(self, W: np.ndarray) -> np.ndarray:
        """``W_rec^T`` (n, rows), contiguous: read at every step of a backward sweep."""
        return np.ascontiguousarray(self.w_rec(W).T)

    def w_diag(self, W: np.ndarray) -> np.ndarray:
        """``(gates, n)``: the diagonal of each gate's recurrent matrix, ``W_rec[x*n+k, k]``."""
        return W[self._diag].reshape(self.gates, self.n)

    @classmethod
    def weights_from_torch(cls, module: Any) -> np.ndarray:  # pragma: no cover - per cell
        raise ConfigError(f"the {cls.kind} cell cannot load torch weights.")

    # ---------------------------------------------------------------- the maths
    def forward(self, W: np.ndarray, z: np.ndarray, s_prev: np.ndarray, s_out: np.ndarray, cache: np.ndarray) -> None:
        """One step: ``z`` already holds ``[u_t, h_{t-1}, 1]``; writes ``s_t`` and the cache."""
        raise NotImplementedError

    def jvp_state(self, W: np.ndarray, cache: np.ndarray, tangent: np.ndarray) -> np.ndarray:
        """``(ds_t/ds_{t-1}) @ tangent``."""
        raise NotImplementedError

    def delta(self, cache: np.ndarray, adj: np.ndarray) -> np.ndarray:
        """Pre-activation adjoint ``delta_a`` (rows) of a state adjoint ``adj`` (n_state); the
        parameter gradient is then ``outer(delta_a, z)``."""
        raise NotImplementedError

    def backward_step(self, UT: np.ndarray, cache: np.ndarray, adj: np.ndarray, da: np.ndarray, propagate: bool) -> None:
        """Write ``delta(cache, adj)`` into ``da`` and, with ``propagate``, replace ``adj`` (in
        place) by the adjoint on the previous state. ``UT`` is :meth:`recurrent_t`."""
        raise NotImplementedError

    def influence_step(self, U: np.ndarray, z: np.ndarray, cache: np.ndarray, J_prev: np.ndarray, J_out: np.ndarray) -> None:
        """RTRL: ``J_out = (ds_t/ds_{t-1}) J_prev + ds_t/dW|_immediate`` with ``J`` of shape
        ``(n_state, rows, q)``; ``U`` is :meth:`w_rec`."""
        raise NotImplementedError

    def unit_blocks(self, wdiag: np.ndarray, caches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """SnAp-1: for each of ``caches`` (k, cache_size), per unit the state Jacobian restricted
        to the unit's own state, ``M[i, r, r', k] = d s_(r,k) / d s'_(r',k)`` (k, units, units, n),
        and the immediate derivatives ``coef[i, r, x, k] = d s_(r,k) / d a_(x*n+k)``
        (k, units, gates, n). ``wdiag`` is :meth:`w_diag`."""
        raise NotImplementedError


def torch_weights(module: Any, kind: str) -> np.ndarray:
    """``[weight_ih | weight_hh | bias_ih + bias_hh]`` (float64) of a single-layer torch RNN/LSTM
    (``*_l0`` parameters) or of an ``nn.RNNCell``/``nn.LSTMCell``."""
    name = type(module).__name__
    if not hasattr(module, "weight_ih_l0") and hasattr(module, "weight_ih"):
        w_ih, w_hh, b_ih, b_hh = module.weight_ih, module.weight_hh, module.bias_ih, module.bias_hh
    else:
        if getattr(module, "num_layers", 1) != 1 or getattr(module, "bidirectional", False):
            raise ConfigError(f"{name}: only a single-layer, unidirectional {kind} can be loaded "
                              f"(got num_layers={module.num_layers}, bidirectional={module.bidirectional}).")
        if getattr(module, "proj_size", 0):
            raise ConfigError(f"{name}: proj_size must be 0 to load it, got {module.proj_size}.")
        if kind == "rnn" and getattr(module, "nonlinearity", "tanh") != "tanh":
            raise ConfigError(f"{name}: nonlinearity must be 'tanh', got {module.nonlinearity!r}.")
        has_bias = getattr(module, "bias", True)
        w_ih, w_hh = module.weight_ih_l0, module.weight_hh_l0
        b_ih, b_hh = (module.bias_ih_l0, module.bias_hh_l0) if has_bias else (None, None)
    a_ih = w_ih.detach().cpu().double().numpy()
    b = np.zeros(a_ih.shape[0])
    if b_ih is not None:
        b = b_ih.detach().cpu().double().numpy() + b_hh.detach().cpu().double().numpy()
    return np.concatenate([a_ih, w_hh.detach().cpu().double().numpy(), b[:, None]], axis=1)
