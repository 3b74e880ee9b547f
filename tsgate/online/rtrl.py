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

from tsgate.online.buffers import StepBuffers
from tsgate.online.cell import Cell
from tsgate.online.tbptt import backward_sweep
from tsgate.online.trace import Trace, TraceSettings

__all__ = ["RTRLTrace"]


class RTRLTrace(Trace):
    name = "rtrl"

    def __init__(self, cell: Cell, buffers: StepBuffers, settings: TraceSettings) -> None:
        super().__init__(cell, buffers, settings)
        c = cell
        self.D = settings.max_delay
        self.P = c.rows * c.q
        # J_old : (n_state, rows, q); for the LSTM rows 0..n-1 are dh/dW, n..2n-1 dc/dW
        self.J = np.zeros((c.n_state, c.rows, c.q), c.dtype)
        self._Jn = np.zeros_like(self.J)                  # scratch for the next J
        self._A = np.zeros((buffers.L, c.rows), c.dtype)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"J_old": self.J}

    def on_step(self, t, slot, prev, W, rng) -> None:
        sigma = t - self.D
        if sigma < 0:
            return
        s = sigma % self.buf.L
        # J <- (ds/ds') J + immediate, with the cache and input of slot s
        self.cell.influence_step(self.cell.w_rec(W), self.buf.Z[s], self.buf.CACHE[s], self.J, self._Jn)
        self.J, self._Jn = self._Jn, self.J

    def grad(self, t_now, times, slots, C, W, out) -> None:
        n = self.cell.n
        t_old = t_now - self.D
        lo = max(t_old + 1, 0)
        idx, lam = backward_sweep(self.cell, self.buf, W, t_now, lo, C, self._A, need_prev=t_old >= 0)
        np.dot(self._A[:t_now - lo + 1].T, self.buf.Z[idx], out=out)
        if t_old >= 0:
            lam[:n] += C[t_old % self.buf.L]
            out += (lam @ self.J.reshape(self.cell.n_state, self.P)).reshape(out.shape)
