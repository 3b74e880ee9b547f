"""SnAp-1 (Menick et al. 2020): the influence matrix restricted to its one-step pattern.

SnAp-n keeps the entries of ``J_t = ds_t/dW`` that are non-zero after n steps of the
recurrence from a zero start; for n = 1 that is each unit's influence of its own incoming
weights (the rows of ``W`` that feed it), and the state Jacobian is reduced to the same
pattern (its unit-diagonal part). Cost O(P) per step.

* tanh RNN: ``J[k] = D_k (W_rec[k,k] J'[k] + z)`` for the row k of ``W`` (q values per unit).
* LSTM: for unit k the four gate rows ``x*n + k`` (x = i, f, g, o) and both ``h_k`` and
  ``c_k``: ``[Jh; Jc][k] = M_k [Jh'; Jc'][k] + coef_k z^T`` with the per-unit 2x2 state
  Jacobian ``M_k`` (diagonal entries of the four recurrent gate matrices, forget gate).

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

from tsgate.online._base import Trace

__all__ = ["SnAp1Trace"]


class SnAp1Trace(Trace):
    name = "snap1"

    def __init__(self, ol) -> None:
        super().__init__(ol)
        c = self.cell
        L = ol._L
        n, q = c.n, c.q
        self.D = ol.max_delay
        self._ar = np.arange(n)
        # positions of the diagonal entries of the recurrent matrices (one per gate) in W
        self._diag_idx = (np.arange(c.rows), np.tile(c.m + self._ar, c.rows // n))
        if c.kind == "rnn":
            self.J = np.zeros((n, q), c.dtype)                 # row k: dh_k / dW[k, :]
            self._Lam = np.zeros((L, n), c.dtype)
        else:
            # (unit, [h, c], 4q): d h_k / dW[x*n+k, :] and d c_k / dW[x*n+k, :], x = i,f,g,o
            self.J = np.zeros((n, 2, 4 * q), c.dtype)
            self._Jn = np.zeros_like(self.J)
            self._M = np.empty((n, 2, 2), c.dtype)
            self._coef = np.zeros((n, 2, 4), c.dtype)
            self._ger = get_blas_funcs("ger", dtype=c.dtype)
            self._Lam = np.zeros((L, 2, n), c.dtype)
            self._tmp22 = np.empty((2, 2, n), c.dtype)
        self._B = np.zeros((L, c.rows), c.dtype)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"J_old": self.J}

    def _wdiag(self) -> np.ndarray:
        """Diagonal of the recurrent matrix: (n,) for the RNN, (4, n) per gate for the LSTM."""
        d = self.ol._W[self._diag_idx]
        return d if self.cell.kind == "rnn" else d.reshape(4, self.cell.n)

    def on_step(self, t: int, slot: int, prev: int | None) -> None:
        sigma = t - self.D
        if sigma >= 0:
            self._advance(sigma % self.ol._L)

    def _advance(self, s: int) -> None:
        c, ol = self.cell, self.ol
        n = c.n
        z = ol._Z[s]
        cache = ol._CACHE[s]
        wd = self._wdiag()
        if c.kind == "rnn":
            J = self.J
            J *= wd[:, None]
            J += z
            J *= cache[:, None]
            return
        dc = cache[:3 * n].reshape(3, n)
        dho, ohc, f = cache[3 * n:4 * n], cache[4 * n:5 * n], cache[5 * n:]
        # per unit: [h; c]_t = M [h; c]_{t-1} + coef z^T with (rows h, c; columns h', c')
        #   dc/dh' = a = sum_x dc_x U_x[k,k],  dc/dc' = f,
        #   dh/dh' = dho U_o[k,k] + ohc a,     dh/dc' = ohc f
        # and the immediate part coef = [[ohc dc_i, ohc dc_f, ohc dc_g, dho], [dc_i, dc_f, dc_g, 0]]
        coef = self._coef
        np.multiply(dc.T, ohc[:, None], out=coef[:, 0, :3])
        coef[:, 0, 3] = dho
        coef[:, 1, :3] = dc.T
        M = self._M
        a = (dc * wd[:3]).sum(0)
        M[:, 1, 0] = a
        M[:, 1, 1] = f
        np.multiply(ohc, a, out=M[:, 0, 0])
        M[:, 0, 0] += dho * wd[3]
        np.multiply(ohc, f, out=M[:, 0, 1])
        Jn = self._Jn
        np.matmul(M, self.J, out=Jn)
        # Jn[k, r, x, :] += coef[k, r, x] * z : one BLAS rank-1 update of the (8n, q) view
        Jn2 = Jn.reshape(n * 8, c.q)
        r = self._ger(1.0, z, coef.reshape(-1), a=Jn2.T, overwrite_a=1)
        if not np.shares_memory(r, Jn):  # pragma: no cover - defensive, ger copied
            Jn2[:] = r.T
        self.J, self._Jn = self._Jn, self.J

    def grad(self, t_now, times, slots, C, out) -> None:
        c, ol = self.cell, self.ol
        n, q = c.n, c.q
        L = ol._L
        t_old = t_now - self.D
        lo = max(t_old + 1, 0)
        k = t_now - lo + 1
        idx = np.arange(t_now, lo - 1, -1) % L           # window slots, newest first
        CW = ol._CACHE[idx]                               # (k, cache)
        wd = self._wdiag()
        Lam, B = self._Lam, self._B
        if c.kind == "rnn":
            Mw = CW * wd                                  # d h_k / d h_k' per window step
            for i, s in enumerate(idx.tolist()):
                if i:
                    np.multiply(Lam[i - 1], Mw[i - 1], out=Lam[i])
                    Lam[i] += C[s]
                else:
                    Lam[0] = C[s]
            np.multiply(Lam[:k], CW, out=B[:k])
            np.dot(B[:k].T, ol._Z[idx], out=out)
            if t_old >= 0:
                lam = C[t_old % L] + (Mw[-1] * Lam[k - 1] if k else 0)
                out += lam[:, None] * self.J
            return
        dc = CW[:, :3 * n].reshape(k, 3, n)
        dho, ohc, f = CW[:, 3 * n:4 * n], CW[:, 4 * n:5 * n], CW[:, 5 * n:]
        a = (dc * wd[:3]).sum(1)                          # (k, n)
        # transposed per-unit Jacobians: lam' = MT lam, lam = (lam_h, lam_c)
        MT = np.empty((k, 2, 2, n), c.dtype)
        np.multiply(ohc, a, out=MT[:, 0, 0])
        MT[:, 0, 0] += dho * wd[3]
        MT[:, 0, 1] = a
        np.multiply(ohc, f, out=MT[:, 1, 0])
        MT[:, 1, 1] = f
        tmp = self._tmp22
        for i, s in enumerate(idx.tolist()):
            if i:
                np.multiply(MT[i - 1], Lam[i - 1][None], out=tmp)
                np.add(tmp[:, 0], tmp[:, 1], out=Lam[i])    # (a ufunc add beats sum(axis))
                Lam[i, 0] += C[s]
            else:
                Lam[0, 0] = C[s]
                Lam[0, 1] = 0
        lh, lc = Lam[:k, 0], Lam[:k, 1]
        # window part: B = [dc_x * (lam_c + lam_h * ohc) for x = i, f, g ; lam_h * dho]
        np.multiply(dc, (lc + lh * ohc)[:, None, :], out=B[:k, :3 * n].reshape(k, 3, n))
        np.multiply(lh, dho, out=B[:k, 3 * n:])
        np.dot(B[:k].T, ol._Z[idx], out=out)
        if t_old >= 0:
            lam = np.zeros((2, n), c.dtype)
            if k:
                np.sum(MT[k - 1] * Lam[k - 1][None], axis=1, out=lam)
            lam[0] += C[t_old % L]
            # out[x*n+k, :] += lam_h[k] J[k, h, x] + lam_c[k] J[k, c, x]
            contrib = np.matmul(lam.T[:, None, :], self.J)  # (n, 1, 4q)
            out.reshape(4, n, q)[:] += contrib.reshape(n, 4, q).transpose(1, 0, 2)
