"""Real-time recurrent learning (Williams & Zipser 1989): the exact influence matrix.

``J_t = ds_t/dW`` (state x parameters) is carried forward exactly:
``J_t = (ds_t/ds_{t-1}) J_{t-1} + ds_t/dW|_immediate``, which costs O(n^2 P) per step
(O(n^4) for the tanh RNN) and O(n P) memory. Use it for small networks and as the
correctness reference of the cheaper estimators (its gradient equals BPTT's when the
weights are frozen).

Delayed targets (up to ``max_delay`` = D steps): instead of storing D + 1 influence
matrices, the trace carries ``J`` at step ``t - D`` (the oldest step a target can still
refer to) and the gradient of the targets inside the window ``(t - D, t]`` is completed
by backpropagating their error signals through the stored activations of the window:
``dL/dW = sum_tau c_tau J_tau = A^T Z + lambda_old J_old``, with A the window's
pre-activation adjoints and lambda_old the adjoint on the state at t - D. This is identical
to storing every J_tau when the weights are frozen; otherwise the window uses the current
weights and J_old takes each step's transition when that step leaves the window, with the
weights of that moment. Memory: two influence matrices, whatever D.
"""

from __future__ import annotations

import numpy as np

from tsgate.online._base import Trace
from tsgate.online.tbptt import backward_sweep

__all__ = ["RTRLTrace"]


class RTRLTrace(Trace):
    name = "rtrl"

    def __init__(self, ol) -> None:
        super().__init__(ol)
        c = self.cell
        self.D = ol.max_delay
        self.P = c.rows * c.q
        # J_old : (n_state, rows, q); for the LSTM rows 0..n-1 are dh/dW, n..2n-1 dc/dW
        self.J = np.zeros((c.n_state, c.rows, c.q), c.dtype)
        self._Jn = np.zeros_like(self.J)                  # scratch for the next J
        self._ar = np.arange(c.n)
        self._A = np.zeros((ol._L, c.rows), c.dtype)
        if c.kind == "lstm":
            self._M = np.empty((c.rows, self.P), c.dtype)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"J_old": self.J}

    def on_step(self, t: int, slot: int, prev: int | None) -> None:
        sigma = t - self.D
        if sigma < 0:
            return
        self._advance(sigma % self.ol._L)

    def _advance(self, s: int) -> None:
        """J <- (ds/ds') J + immediate, with the cache and input of slot s."""
        c, ol = self.cell, self.ol
        n, P, ar = c.n, self.P, self._ar
        z = ol._Z[s]
        cache = ol._CACHE[s]
        Jp = self.J.reshape(c.n_state, P)
        Jn = self._Jn
        Jn_flat = Jn.reshape(c.n_state, P)
        U = c.w_rec(ol._W)
        if c.kind == "rnn":
            D = cache
            np.matmul(U, Jp, out=Jn_flat)
            Jn_flat *= D[:, None]
            Jn[ar, ar, :] += D[:, None] * z[None, :]
        else:
            # Jc = f*Jc' + sum_x dc_x * (U_x Jh') + imm ; Jh = dho*(U_o Jh') + ohc*Jc + imm
            dc = cache[:3 * n].reshape(3, n)
            dho, ohc, f = cache[3 * n:4 * n], cache[4 * n:5 * n], cache[5 * n:]
            Jh, Jc = Jn_flat[:n], Jn_flat[n:]
            M = self._M
            np.matmul(U, Jp[:n], out=M)
            np.multiply(Jp[n:], f[:, None], out=Jc)
            for x in range(3):
                Jc += dc[x][:, None] * M[x * n:(x + 1) * n]
            np.multiply(M[3 * n:], dho[:, None], out=Jh)
            Jc3 = Jc.reshape(n, c.rows, c.q)
            for x in range(3):
                Jc3[ar, x * n + ar, :] += dc[x][:, None] * z[None, :]
            Jh += ohc[:, None] * Jc
            Jn[ar, 3 * n + ar, :] += dho[:, None] * z[None, :]
        self.J, self._Jn = self._Jn, self.J

    def grad(self, t_now, times, slots, C, out) -> None:
        ol = self.ol
        n = self.cell.n
        t_old = t_now - self.D
        lo = max(t_old + 1, 0)
        idx, lam = backward_sweep(ol, t_now, lo, C, self._A, need_prev=t_old >= 0)
        np.dot(self._A[:t_now - lo + 1].T, ol._Z[idx], out=out)
        if t_old >= 0:
            lam[:n] += C[t_old % ol._L]
            out += (lam @ self.J.reshape(self.cell.n_state, self.P)).reshape(out.shape)
