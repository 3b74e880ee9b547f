"""The vanilla tanh RNN cell ``h_t = tanh(W_in u_t + W_rec h_{t-1} + b)`` (numpy, batch 1).

``rows = n`` (one gate), state ``s = h`` (one value per unit). Per-step cache:
``D = 1 - h_t**2`` (n), the derivative of tanh.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tsgate.online.cell import Cell, torch_weights

__all__ = ["RNNCell"]


class RNNCell(Cell):
    """Vanilla tanh RNN cell (Pohl et al.'s online RNN)."""

    kind = "rnn"
    gates = 1
    units = 1
    cache_per_unit = 1

    def __init__(self, input_size: int, hidden_size: int, dtype: Any = np.float32) -> None:
        super().__init__(input_size, hidden_size, dtype)
        self._ar = np.arange(self.n)

    @classmethod
    def weights_from_torch(cls, module: Any) -> np.ndarray:
        """``W`` of a tanh ``torch.nn.RNN`` (one layer) or ``nn.RNNCell``."""
        return torch_weights(module, "rnn")

    def forward(self, W: np.ndarray, z: np.ndarray, s_prev: np.ndarray, s_out: np.ndarray, cache: np.ndarray) -> None:
        np.dot(W, z, out=s_out)
        np.tanh(s_out, out=s_out)
        np.multiply(s_out, s_out, out=cache)
        np.subtract(1.0, cache, out=cache)

    def jvp_state(self, W: np.ndarray, cache: np.ndarray, tangent: np.ndarray) -> np.ndarray:
        out = self.w_rec(W) @ tangent
        out *= cache
        return out

    def delta(self, cache: np.ndarray, adj: np.ndarray) -> np.ndarray:
        return adj * cache

    def backward_step(self, UT: np.ndarray, cache: np.ndarray, adj: np.ndarray, da: np.ndarray, propagate: bool) -> None:
        np.multiply(adj, cache, out=da)
        if propagate:
            np.dot(UT, da, out=adj)

    def influence_step(self, U: np.ndarray, z: np.ndarray, cache: np.ndarray, J_prev: np.ndarray, J_out: np.ndarray) -> None:
        P = self.rows * self.q
        Jn = J_out.reshape(self.n, P)
        np.matmul(U, J_prev.reshape(self.n, P), out=Jn)
        Jn *= cache[:, None]
        J_out[self._ar, self._ar, :] += cache[:, None] * z[None, :]

    def unit_blocks(self, wdiag: np.ndarray, caches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        D = caches.reshape(len(caches), 1, 1, self.n)
        return D * wdiag[0], D
