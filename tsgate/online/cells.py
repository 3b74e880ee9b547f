"""Closed-form maths of the recurrent cells used by the online learners (numpy, batch 1).

Everything a learning algorithm needs from a cell is written out by hand here: the forward
step, the Jacobian-vector product with the previous state (UORO's forward tangent), the
vector-Jacobian product with the parameters (UORO, TBPTT), and the one-step backward map of
an adjoint (TBPTT). At batch 1 these are a handful of small BLAS calls and elementwise
ufuncs: no autograd on the per-step hot path (PERF-NOTES: autograd/jvp costs ~8x more).

Parameter layout, shared by every algorithm
-------------------------------------------
All recurrent weights live in one matrix ``W`` of shape ``(rows, q)`` with ``q = m + n + 1``
(``m`` inputs, ``n`` hidden units): ``W = [W_in | W_rec | b]`` so the pre-activation is
``a = W @ z`` with ``z = [u_t, h_{t-1}, 1]``.

* ``rnn``  (vanilla tanh): ``rows = n``; ``h_t = tanh(a)``; state ``s = h`` (n values).
* ``lstm`` (torch.nn.LSTM): ``rows = 4n`` in torch's gate order i, f, g, o;
  ``c_t = f*c_{t-1} + i*g``, ``h_t = o*tanh(c_t)``; state ``s = [h, c]`` (2n values).
  ``W = [weight_ih_l0 | weight_hh_l0 | bias_ih_l0 + bias_hh_l0]`` loads a trained nn.LSTM.

Per-step cache (what the derivatives need, written by :meth:`forward`)
----------------------------------------------------------------------
* rnn:  ``D = 1 - h_t**2`` (n).
* lstm: ``[dc_i, dc_f, dc_g, dho, ohc, f]`` (6n) with ``dc_x = dc_t/da_x`` for x in i, f, g
  (``g*i(1-i)``, ``c_{t-1}*f(1-f)``, ``i*(1-g^2)``), ``dho = dh_t/da_o = tanh(c_t)*o(1-o)``,
  ``ohc = dh_t/dc_t = o*(1-tanh(c_t)^2)`` and the forget gate ``f = dc_t/dc_{t-1}``.

With these, the pre-activation adjoint of an adjoint ``(dh, dc)`` on ``s_t`` is
``delta_a = [dct*dc_i, dct*dc_f, dct*dc_g, dh*dho]`` with ``dct = dc + dh*ohc``; the
parameter gradient is the outer product ``delta_a z^T`` and the adjoint of the previous
state is ``(W_rec^T delta_a, dct*f)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["RNNCell", "LSTMCell", "make_cell", "CELLS", "lstm_weights_from_torch",
           "rnn_weights_from_torch"]

CELLS = ("rnn", "lstm")


def _sigmoid(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    # 1/(1+exp(-x)) in place; exp overflow for x << 0 gives inf -> 0, which is the right limit
    with np.errstate(over="ignore"):
        np.negative(x, out=out)
        np.exp(out, out=out)
    out += 1.0
    np.reciprocal(out, out=out)
    return out


class RNNCell:
    """Vanilla tanh RNN cell ``h_t = tanh(W_in u_t + W_rec h_{t-1} + b)``.

    Parameters
    ----------
    input_size, hidden_size
        ``m`` inputs and ``n`` hidden units.
    dtype
        numpy floating dtype of all arrays.
    """

    kind = "rnn"

    def __init__(self, input_size: int, hidden_size: int, dtype: Any = np.float32) -> None:
        self.m = int(input_size)
        self.n = int(hidden_size)
        self.q = self.m + self.n + 1
        self.rows = self.n
        self.n_state = self.n
        self.cache_size = self.n
        self.dtype = np.dtype(dtype)

    def init_weights(self, rng: np.random.Generator, std: float) -> np.ndarray:
        """Weights ~ N(0, std^2), biases 0 (Pohl et al.: std 0.02)."""
        W = (rng.standard_normal((self.rows, self.q)) * std).astype(self.dtype)
        W[:, -1] = 0.0
        return W

    def w_rec(self, W: np.ndarray) -> np.ndarray:
        return W[:, self.m:self.m + self.n]

    def forward(self, W: np.ndarray, z: np.ndarray, s_prev: np.ndarray,
                s_out: np.ndarray, cache: np.ndarray) -> None:
        """One step: ``z`` must already hold ``[u_t, h_{t-1}, 1]``; writes ``s_t`` and cache."""
        np.dot(W, z, out=s_out)
        np.tanh(s_out, out=s_out)
        np.multiply(s_out, s_out, out=cache)
        np.subtract(1.0, cache, out=cache)

    def jvp_state(self, W: np.ndarray, cache: np.ndarray, tangent: np.ndarray) -> np.ndarray:
        """``(ds_t/ds_{t-1}) @ tangent``."""
        out = self.w_rec(W) @ tangent
        out *= cache
        return out

    def delta(self, cache: np.ndarray, adj: np.ndarray) -> np.ndarray:
        """Pre-activation adjoint ``delta_a`` (rows) of a state adjoint ``adj`` (n_state)."""
        return adj * cache

    def backward_state(self, W: np.ndarray, cache: np.ndarray, adj: np.ndarray,
                       delta_a: np.ndarray) -> np.ndarray:
        """Adjoint on ``s_{t-1}`` given ``delta_a`` of step t."""
        return self.w_rec(W).T @ delta_a


class LSTMCell:
    """Standard LSTM cell, gate order i, f, g, o (as torch.nn.LSTM); state ``[h, c]``."""

    kind = "lstm"

    def __init__(self, input_size: int, hidden_size: int, dtype: Any = np.float32) -> None:
        self.m = int(input_size)
        self.n = int(hidden_size)
        self.q = self.m + self.n + 1
        self.rows = 4 * self.n
        self.n_state = 2 * self.n
        self.cache_size = 6 * self.n
        self.dtype = np.dtype(dtype)
        n = self.n
        self._act = np.empty(4 * n, self.dtype)   # scratch: gate activations
        self._tc = np.empty(n, self.dtype)        # scratch: tanh(c_t)
        self._v4 = np.empty(4 * n, self.dtype)    # scratch for delta()

    def init_weights(self, rng: np.random.Generator, std: float,
                     forget_bias: float = 1.0) -> np.ndarray:
        """Weights ~ N(0, std^2); biases 0 except the forget gate's (``forget_bias``)."""
        W = (rng.standard_normal((self.rows, self.q)) * std).astype(self.dtype)
        W[:, -1] = 0.0
        W[self.n:2 * self.n, -1] = forget_bias
        return W

    def w_rec(self, W: np.ndarray) -> np.ndarray:
        return W[:, self.m:self.m + self.n]

    def forward(self, W: np.ndarray, z: np.ndarray, s_prev: np.ndarray,
                s_out: np.ndarray, cache: np.ndarray) -> None:
        n = self.n
        act = self._act
        np.dot(W, z, out=act)
        # sigmoid on all four gates, then overwrite g with tanh of its pre-activation
        pre_g = act[2 * n:3 * n].copy()
        _sigmoid(act, act)
        np.tanh(pre_g, out=act[2 * n:3 * n])
        i, f, g, o = act[:n], act[n:2 * n], act[2 * n:3 * n], act[3 * n:]
        c_prev = s_prev[n:]
        h, c = s_out[:n], s_out[n:]
        # c_t = f*c_prev + i*g
        np.multiply(f, c_prev, out=c)
        c += i * g
        tc = self._tc
        np.tanh(c, out=tc)
        np.multiply(o, tc, out=h)
        # cache = [g*i(1-i), c_prev*f(1-f), i*(1-g^2), tanh(c)*o(1-o), o*(1-tanh(c)^2), f]
        s1 = act * (1.0 - act)            # x(1-x) for all four (g's entry is overwritten)
        cache[:n] = g * s1[:n]
        cache[n:2 * n] = c_prev * s1[n:2 * n]
        cache[2 * n:3 * n] = i * (1.0 - g * g)
        cache[3 * n:4 * n] = tc * s1[3 * n:]
        cache[4 * n:5 * n] = o * (1.0 - tc * tc)
        cache[5 * n:] = f

    def jvp_state(self, W: np.ndarray, cache: np.ndarray, tangent: np.ndarray) -> np.ndarray:
        n = self.n
        da = self.w_rec(W) @ tangent[:n]                 # (4n)
        out = np.empty(2 * n, self.dtype)
        tc_ = out[n:]
        np.multiply(cache[5 * n:], tangent[n:], out=tc_)   # f * c~
        tc_ += (cache[:3 * n] * da[:3 * n]).reshape(3, n).sum(0)
        np.multiply(cache[4 * n:5 * n], tc_, out=out[:n])  # ohc * c'
        out[:n] += cache[3 * n:4 * n] * da[3 * n:]
        return out

    def delta(self, cache: np.ndarray, adj: np.ndarray) -> np.ndarray:
        n = self.n
        v4 = self._v4
        dct = adj[n:] + adj[:n] * cache[4 * n:5 * n]
        v4[:3 * n].reshape(3, n)[:] = dct
        v4[3 * n:] = adj[:n]
        return v4 * cache[:4 * n]

    def backward_state(self, W: np.ndarray, cache: np.ndarray, adj: np.ndarray,
                       delta_a: np.ndarray) -> np.ndarray:
        n = self.n
        out = np.empty(2 * n, self.dtype)
        np.dot(self.w_rec(W).T, delta_a, out=out[:n])
        dct = adj[n:] + adj[:n] * cache[4 * n:5 * n]
        np.multiply(dct, cache[5 * n:], out=out[n:])
        return out


def make_cell(cell: str, input_size: int, hidden_size: int, dtype: Any) -> RNNCell | LSTMCell:
    if cell == "rnn":
        return RNNCell(input_size, hidden_size, dtype)
    if cell == "lstm":
        return LSTMCell(input_size, hidden_size, dtype)
    from tsgate.exceptions import ConfigError

    raise ConfigError(f"cell must be one of {CELLS}, got {cell!r}.")


def _torch_rnn_like(module: Any, kind: str) -> np.ndarray:
    from tsgate.exceptions import ConfigError

    name = type(module).__name__
    if getattr(module, "num_layers", 1) != 1 or getattr(module, "bidirectional", False):
        raise ConfigError(f"{name}: only a single-layer, unidirectional {kind} can be loaded "
                          f"(got num_layers={module.num_layers}, "
                          f"bidirectional={module.bidirectional}).")
    if getattr(module, "proj_size", 0):
        raise ConfigError(f"{name}: proj_size must be 0 to load it, got {module.proj_size}.")
    if kind == "rnn" and getattr(module, "nonlinearity", "tanh") != "tanh":
        raise ConfigError(f"{name}: nonlinearity must be 'tanh', got {module.nonlinearity!r}.")
    w_ih = module.weight_ih_l0.detach().cpu().double().numpy()
    w_hh = module.weight_hh_l0.detach().cpu().double().numpy()
    b = np.zeros(w_ih.shape[0])
    if getattr(module, "bias", True):
        b = (module.bias_ih_l0.detach().cpu().double().numpy()
             + module.bias_hh_l0.detach().cpu().double().numpy())
    return np.concatenate([w_ih, w_hh, b[:, None]], axis=1)


def lstm_weights_from_torch(lstm: Any) -> np.ndarray:
    """``W = [weight_ih_l0 | weight_hh_l0 | bias_ih_l0 + bias_hh_l0]`` (4n, m+n+1), float64.

    ``lstm`` is a single-layer unidirectional ``torch.nn.LSTM`` (gate order i, f, g, o
    matches :class:`LSTMCell`), or an ``nn.LSTMCell`` (its parameters carry no ``_l0``).
    """
    if not hasattr(lstm, "weight_ih_l0") and hasattr(lstm, "weight_ih"):
        return _torch_cell_like(lstm)
    return _torch_rnn_like(lstm, "lstm")


def rnn_weights_from_torch(rnn: Any) -> np.ndarray:
    """``W = [weight_ih_l0 | weight_hh_l0 | biases]`` (n, m+n+1) of a tanh ``torch.nn.RNN``."""
    if not hasattr(rnn, "weight_ih_l0") and hasattr(rnn, "weight_ih"):
        return _torch_cell_like(rnn)
    return _torch_rnn_like(rnn, "rnn")


def _torch_cell_like(cell: Any) -> np.ndarray:
    w_ih = cell.weight_ih.detach().cpu().double().numpy()
    w_hh = cell.weight_hh.detach().cpu().double().numpy()
    b = np.zeros(w_ih.shape[0])
    if cell.bias_ih is not None:
        b = (cell.bias_ih.detach().cpu().double().numpy()
             + cell.bias_hh.detach().cpu().double().numpy())
    return np.concatenate([w_ih, w_hh, b[:, None]], axis=1)
