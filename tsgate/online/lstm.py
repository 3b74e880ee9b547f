"""The standard LSTM cell, gate order i, f, g, o (as ``torch.nn.LSTM``), numpy, batch 1.

``rows = 4n`` in torch's gate order; ``c_t = f*c_{t-1} + i*g``, ``h_t = o*tanh(c_t)``; state
``s = [h, c]`` (two values per unit). ``W = [weight_ih_l0 | weight_hh_l0 | bias_ih_l0 +
bias_hh_l0]`` loads a trained ``nn.LSTM``.

Per-step cache ``[dc_i, dc_f, dc_g, dho, ohc, f]`` (6n) with ``dc_x = dc_t/da_x`` for x in i, f,
g (``g*i(1-i)``, ``c_{t-1}*f(1-f)``, ``i*(1-g^2)``), ``dho = dh_t/da_o = tanh(c_t)*o(1-o)``,
``ohc = dh_t/dc_t = o*(1-tanh(c_t)^2)`` and the forget gate ``f = dc_t/dc_{t-1}``.

With these, the pre-activation adjoint of an adjoint ``(dh, dc)`` on ``s_t`` is
``delta_a = [dct*dc_i, dct*dc_f, dct*dc_g, dh*dho]`` with ``dct = dc + dh*ohc``; the
parameter gradient is the outer product ``delta_a z^T`` and the adjoint of the previous
state is ``(W_rec^T delta_a, dct*f)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tsgate.online.cell import Cell, torch_weights

__all__ = ["LSTMCell"]


def _sigmoid(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    # 1/(1+exp(-x)) in place; exp overflow for x << 0 gives inf -> 0, which is the right limit
    with np.errstate(over="ignore"):
        np.negative(x, out=out)
        np.exp(out, out=out)
    out += 1.0
    np.reciprocal(out, out=out)
    return out


class LSTMCell(Cell):
    """Standard LSTM cell, gate order i, f, g, o (as torch.nn.LSTM); state ``[h, c]``."""

    kind = "lstm"
    gates = 4
    units = 2
    cache_per_unit = 6

    def __init__(self, input_size: int, hidden_size: int, dtype: Any = np.float32) -> None:
        super().__init__(input_size, hidden_size, dtype)
        n = self.n
        self._act = np.empty(4 * n, self.dtype)   # scratch: gate activations
        self._tc = np.empty(n, self.dtype)        # scratch: tanh(c_t)
        self._v4 = np.empty(4 * n, self.dtype)    # scratch for delta()
        self._dct = np.empty(n, self.dtype)       # scratch for backward_step()
        self._ar = np.arange(n)
        self._M: np.ndarray | None = None         # scratch for influence_step(), (4n, P)

    @classmethod
    def weights_from_torch(cls, module: Any) -> np.ndarray:
        """``W`` (4n, m+n+1) of a single-layer unidirectional ``torch.nn.LSTM`` or an ``nn.LSTMCell``."""
        return torch_weights(module, "lstm")

    def init_weights(self, rng: np.random.Generator, std: float, forget_bias: float = 1.0) -> np.ndarray:
        """Weights ~ N(0, std^2); biases 0 except the forget gate's (``forget_bias``)."""
        W = super().init_weights(rng, std)
        W[self.n:2 * self.n, -1] = forget_bias
        return W

    def forward(self, W: np.ndarray, z: np.ndarray, s_prev: np.ndarray, s_out: np.ndarray, cache: np.ndarray) -> None:
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

    def backward_step(self, UT: np.ndarray, cache: np.ndarray, adj: np.ndarray, da: np.ndarray, propagate: bool) -> None:
        n = self.n
        adj_h, adj_c = adj[:n], adj[n:]
        dct = self._dct
        # dct = adj_c + adj_h * ohc ; da = [dct*dc_i, dct*dc_f, dct*dc_g, adj_h*dho]
        np.multiply(adj_h, cache[4 * n:5 * n], out=dct)
        dct += adj_c
        np.multiply(cache[:3 * n].reshape(3, n), dct, out=da[:3 * n].reshape(3, n))
        np.multiply(adj_h, cache[3 * n:4 * n], out=da[3 * n:])
        if propagate:
            np.dot(UT, da, out=adj_h)
            np.multiply(dct, cache[5 * n:], out=adj_c)

    def influence_step(self, U: np.ndarray, z: np.ndarray, cache: np.ndarray, J_prev: np.ndarray, J_out: np.ndarray) -> None:
        # Jc = f*Jc' + sum_x dc_x * (U_x Jh') + imm ; Jh = dho*(U_o Jh') + ohc*Jc + imm
        n, ar = self.n, self._ar
        P = self.rows * self.q
        if self._M is None:
            self._M = np.empty((self.rows, P), self.dtype)
        Jp = J_prev.reshape(self.n_state, P)
        Jn = J_out.reshape(self.n_state, P)
        dc = cache[:3 * n].reshape(3, n)
        dho, ohc, f = cache[3 * n:4 * n], cache[4 * n:5 * n], cache[5 * n:]
        Jh, Jc = Jn[:n], Jn[n:]
        M = self._M
        np.matmul(U, Jp[:n], out=M)
        np.multiply(Jp[n:], f[:, None], out=Jc)
        for x in range(3):
            Jc += dc[x][:, None] * M[x * n:(x + 1) * n]
        np.multiply(M[3 * n:], dho[:, None], out=Jh)
        Jc3 = Jc.reshape(n, self.rows, self.q)
        for x in range(3):
            Jc3[ar, x * n + ar, :] += dc[x][:, None] * z[None, :]
        Jh += ohc[:, None] * Jc
        J_out[ar, 3 * n + ar, :] += dho[:, None] * z[None, :]

    def unit_blocks(self, wdiag: np.ndarray, caches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # per unit: [h; c]_t = M [h; c]_{t-1} + coef z^T with (rows h, c; columns h', c')
        #   dc/dh' = a = sum_x dc_x U_x[k,k],  dc/dc' = f,
        #   dh/dh' = dho U_o[k,k] + ohc a,     dh/dc' = ohc f
        # and the immediate part coef = [[ohc dc_i, ohc dc_f, ohc dc_g, dho], [dc_i, dc_f, dc_g, 0]]
        n, k = self.n, len(caches)
        dc = caches[:, :3 * n].reshape(k, 3, n)
        dho, ohc, f = caches[:, 3 * n:4 * n], caches[:, 4 * n:5 * n], caches[:, 5 * n:]
        a = (dc * wdiag[:3]).sum(1)
        M = np.empty((k, 2, 2, n), self.dtype)
        np.multiply(ohc, a, out=M[:, 0, 0])
        M[:, 0, 0] += dho * wdiag[3]
        np.multiply(ohc, f, out=M[:, 0, 1])
        M[:, 1, 0] = a
        M[:, 1, 1] = f
        coef = np.zeros((k, 2, 4, n), self.dtype)
        np.multiply(dc, ohc[:, None, :], out=coef[:, 0, :3])
        coef[:, 0, 3] = dho
        coef[:, 1, :3] = dc
        return M, coef
