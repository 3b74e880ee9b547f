"""SnAp-1 (Menick et al. 2020): the influence matrix restricted to its one-step pattern.

SnAp-n keeps the entries of ``J_t = ds_t/dW`` that are non-zero after n steps of the
recurrence from a zero start; for n = 1 that is each unit's influence of its own incoming
weights (the rows of ``W`` that feed it), and the state Jacobian is reduced to the same
pattern (its unit-diagonal part). Cost O(P) per step.

For unit k the trace holds the influence of its own gate rows ``x*n + k`` (x over the cell's
gates) on its own state values ``r``: ``J[k, r, x*q:(x+1)*q]``, and one step is
``J[k] = M_k J'[k] + coef_k z^T`` with the unit's blocks from the cell
(:meth:`~tsgate.online.cell.Cell.unit_blocks`): the state Jacobian restricted to the unit
(from the diagonal entries of the recurrent matrices) and the immediate derivatives. For the
tanh RNN that is ``J[k] = D_k (W_rec[k,k] J'[k] + z)``; for the LSTM a 2x2 block over ``(h_k, c_k)``.

SnAp-1 is exact (equal to RTRL) when the recurrent matrices are diagonal, and after one
step from a zero influence.

Delayed targets (up to ``max_delay`` = D steps): the trace is carried at step ``t - D``
(the oldest step a target can still refer to); the targets inside the window
``(t - D, t]`` are completed by a backward sweep with the same unit-diagonal Jacobians
through the stored caches, ``dL/dW = B^T Z + lambda_old * J_old`` (per unit), which equals
pairing each target with the trace of its own step (as storing D + 1 traces would) but
reads one trace instead of D + 1. The window uses the current weights' diagonal, and the
trace takes each step's transition when that step leaves the window, with the weights of
that moment (all identical when the weights are frozen; an O(lr * D) difference otherwise,
the same order as the online approximation itself).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg.blas import get_blas_funcs

from tsgate.online.buffers import StepBuffers
from tsgate.online.cell import Cell
from tsgate.online.trace import Trace, TraceSettings

__all__ = ["SnAp1Trace"]


class SnAp1Trace(Trace):
    name = "snap1"

    def __init__(self, cell: Cell, buffers: StepBuffers, settings: TraceSettings) -> None:
        super().__init__(cell, buffers, settings)
        c = cell
        self.D = settings.max_delay
        self.u, self.g = c.units, c.gates
        # J[k, r, x*q:(x+1)*q] = d s_(r,k) / d W[x*n + k, :]
        self.J = np.zeros((c.n, self.u, self.g * c.q), c.dtype)
        self._Jn = np.zeros_like(self.J)
        self._ger = get_blas_funcs("ger", dtype=c.dtype)
        self._B = np.zeros((buffers.L, c.rows), c.dtype)
        self._Lam = np.zeros((buffers.L, self.u, c.n), c.dtype)

    def arrays(self) -> dict[str, np.ndarray]:
        # a unit with one state value (tanh RNN) is stored as (n, gates * q)
        return {"J_old": self.J.reshape(self.cell.n, -1) if self.u == 1 else self.J}

    def on_step(self, t, slot, prev, W, rng) -> None:
        sigma = t - self.D
        if sigma >= 0:
            self._advance(sigma % self.buf.L, W)

    def _advance(self, s: int, W: np.ndarray) -> None:
        c = self.cell
        z = self.buf.Z[s]
        M, coef = c.unit_blocks(c.w_diag(W), self.buf.CACHE[s : s + 1])   # (1, u, u, n), (1, u, g, n)
        if self.u == 1:
            J = self.J.reshape(c.n, self.g, c.q)
            J *= M[0, 0, 0][:, None, None]
            J += coef[0, 0].T[:, :, None] * z[None, None, :]
            return
        np.matmul(np.ascontiguousarray(M[0].transpose(2, 0, 1)), self.J, out=self._Jn)
        # Jn[k, r, x, :] += coef[r, x, k] * z : one BLAS rank-1 update of the (n*u*g, q) view
        Jn2 = self._Jn.reshape(-1, c.q)
        r = self._ger(1.0, z, coef[0].transpose(2, 0, 1).reshape(-1), a=Jn2.T, overwrite_a=1)
        if not np.shares_memory(r, self._Jn):  # pragma: no cover - defensive, ger copied
            Jn2[:] = r.T
        self.J, self._Jn = self._Jn, self.J

    def grad(self, t_now, times, slots, C, W, out) -> None:
        c, buf = self.cell, self.buf
        n, q, u, g = c.n, c.q, self.u, self.g
        t_old = t_now - self.D
        lo = max(t_old + 1, 0)
        k = t_now - lo + 1
        idx = buf.slots(t_now, lo)                        # window slots, newest first
        M, coef = c.unit_blocks(c.w_diag(W), buf.CACHE[idx])   # (k, u, u, n), (k, u, g, n)
        # adjoints on each window step's state: lam_i[r'] = sum_r M_{i-1}[r, r'] lam_{i-1}[r] + C
        Lam = self._Lam
        Lam[0] = 0
        if u == 1:  # one state value per unit: the recursion is elementwise
            Mw, L0 = M[:, 0, 0], Lam[:, 0]
            for i, s in enumerate(idx.tolist()):
                if i:
                    np.multiply(L0[i - 1], Mw[i - 1], out=L0[i])
                L0[i] += C[s]
        else:
            for i, s in enumerate(idx.tolist()):
                if i:
                    _transpose_step(M[i - 1], Lam[i - 1], Lam[i])
                Lam[i, 0] += C[s]
        # window part: pre-activation adjoints B[i, x*n + k] = sum_r lam_i[r, k] coef_i[r, x, k]
        B = self._B[:k].reshape(k, g, n)
        np.multiply(coef[:, 0], Lam[:k, 0, None, :], out=B)
        for r in range(1, u):
            B += coef[:, r] * Lam[:k, r, None, :]
        np.dot(self._B[:k].T, buf.Z[idx], out=out)
        if t_old >= 0:
            lam = np.zeros((u, n), c.dtype)
            if k:
                _transpose_step(M[k - 1], Lam[k - 1], lam)
            lam[0] += C[t_old % buf.L]
            # out[x*n+k, :] += sum_r lam[r, k] J[k, r, x, :]
            if u == 1:
                contrib = self.J[:, 0] * lam[0][:, None]
            else:
                contrib = np.matmul(np.ascontiguousarray(lam.T)[:, None, :], self.J)
            out.reshape(g, n, q)[:] += contrib.reshape(n, g, q).transpose(1, 0, 2)


def _transpose_step(M: np.ndarray, lam: np.ndarray, out: np.ndarray) -> None:
    """``out[r'] = sum_r M[r, r'] lam[r]`` per unit (M (u, u, n), lam and out (u, n))."""
    np.multiply(M[0], lam[0], out=out)
    for r in range(1, len(lam)):
        out += M[r] * lam[r]
