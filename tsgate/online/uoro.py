"""UORO, unbiased online recurrent optimisation (Tallec & Ollivier 2017).

The influence matrix ``J_t = ds_t/dW`` is replaced by a rank-1 estimate
``s~_t theta~_t^T`` with ``E[s~ theta~^T] = J`` (unbiased). Each step, with random signs
``nu`` (+-1 per state value)::

    s~_t      = rho0 * (ds_t/ds_{t-1}) s~_{t-1} + rho1 * nu
    theta~_t  = theta~_{t-1} / rho0 + (nu^T ds_t/dW) / rho1
    rho0 = sqrt((|theta~_{t-1}| + eps) / (|(ds_t/ds_{t-1}) s~_{t-1}| + eps))
    rho1 = sqrt((|nu^T ds_t/dW| + eps) / (|nu| + eps))

(the variance-reducing scaling of the paper). For both cells ``nu^T ds_t/dW`` is the rank-1
matrix ``delta_a(nu) z_t^T`` (the cell's backward map of ``nu``), so a step is one
Jacobian-vector product, one BLAS rank-1 update (``ger``) of the ``(rows, q)`` matrix
``theta~`` and a few norms: O(P) per step, closed form, no autograd.

The gradient of a loss on the state at time tau is ``(dL/ds_tau . s~_tau) theta~_tau``;
a delayed target (up to ``max_delay`` = D steps) uses the pair of its prediction's own
step (unbiased w.r.t. that state; the weights have moved on since). Storing D + 1 matrices
``theta~_tau`` would make every update read D + 1 parameter-sized matrices; instead the
trace keeps ``theta~`` at the current step and at the oldest step t - D, plus the rank-1
increments ``g_s = delta_a(nu_s) / rho1_s`` and ``1/rho0_s`` of the steps in between, so::

    theta~_tau = theta~_old * prod_{s<=tau} 1/rho0_s
                 + sum_{s<=tau} (prod_{s<s'<=tau} 1/rho0_s') g_s z_s^T

and ``sum_tau c_tau theta~_tau = R_old theta~_old + G^T diag(R) Z`` with scalar weights R
from a backward recursion: one small matrix product instead of D + 1 matrix reads (same
values up to rounding).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg.blas import get_blas_funcs

from tsgate.online.buffers import StepBuffers
from tsgate.online.cell import Cell
from tsgate.online.trace import Trace, TraceSettings

__all__ = ["UOROTrace"]


class UOROTrace(Trace):
    name = "uoro"

    def __init__(self, cell: Cell, buffers: StepBuffers, settings: TraceSettings) -> None:
        super().__init__(cell, buffers, settings)
        c = cell
        L = buffers.L
        self.D = settings.max_delay
        self.eps = float(settings.uoro_eps)
        self.st = np.zeros((L, c.n_state), c.dtype)     # s~_tau per slot
        self.gs = np.zeros((L, c.rows), c.dtype)        # g_tau = delta_a(nu_tau) / rho1_tau
        self.r0 = np.zeros(L, np.float64)               # 1 / rho0_tau
        self.tt = np.zeros((c.rows, c.q), c.dtype)      # theta~ at the newest step
        self.tt_old = np.zeros((c.rows, c.q), c.dtype)  # theta~ at step t - D (0 before 0)
        self._one = np.ones(c.n_state, c.dtype)
        self._ger = get_blas_funcs("ger", dtype=c.dtype)
        self._nu_norm = math.sqrt(c.n_state)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"s_tilde": self.st, "g": self.gs, "inv_rho0": self.r0,
                "theta_tilde": self.tt, "theta_tilde_old": self.tt_old}

    def _rank1(self, M: np.ndarray, scale: float, g: np.ndarray, z: np.ndarray) -> None:
        """M = M * scale + g z^T in place (BLAS ger on the Fortran view of C-ordered M)."""
        M *= scale
        r = self._ger(1.0, z, g, a=M.T, overwrite_a=1)
        if not np.shares_memory(r, M):  # pragma: no cover - defensive, ger copied
            M[:] = r.T

    def on_step(self, t, slot, prev, W, rng) -> None:
        c, buf = self.cell, self.buf
        eps = self.eps
        cache = buf.CACHE[slot]
        z = buf.Z[slot]
        # random signs, +-1 (copysign keeps 1.0 at r == 0.5)
        nu = np.copysign(self._one, rng.random(c.n_state) - 0.5).astype(c.dtype, copy=False)
        gam = c.delta(cache, nu)                             # nu^T ds/dW = gam z^T
        g_norm = math.sqrt(float(np.dot(gam, gam)) * float(np.dot(z, z)))
        rho1 = math.sqrt((g_norm + eps) / (self._nu_norm + eps))
        if prev is None:
            js = None
            rho0 = 1.0
            self.tt[:] = 0
            self.tt_old[:] = 0
        else:
            js = c.jvp_state(W, cache, self.st[prev])
            tf = self.tt.reshape(-1)
            th_norm = math.sqrt(float(np.dot(tf, tf)))
            js_norm = math.sqrt(float(np.dot(js, js)))
            rho0 = math.sqrt((th_norm + eps) / (js_norm + eps))
        gs = self.gs[slot]
        np.multiply(gam, 1.0 / rho1, out=gs)
        self.r0[slot] = 1.0 / rho0
        self._rank1(self.tt, 1.0 / rho0, gs, z)
        sn = self.st[slot]
        np.multiply(nu, rho1, out=sn)
        if js is not None:
            js *= rho0
            sn += js
        # advance theta~_old to step t - D (the oldest step a target can still refer to)
        s_old = t - self.D
        if s_old >= 0:
            so = s_old % buf.L
            self._rank1(self.tt_old, float(self.r0[so]), self.gs[so], buf.Z[so])

    def grad(self, t_now, times, slots, C, W, out) -> None:
        n = self.cell.n
        t_old = t_now - self.D
        lo = max(t_old + 1, 0)
        # c_tau = dL/dh_tau . s~_tau (the c-part of the LSTM state gets no direct loss)
        cf = np.einsum("jk,jk->j", C[slots], self.st[slots, :n]).tolist()
        cmap = dict(zip(times.tolist(), cf))
        idx = self.buf.slots(t_now, lo)                       # slots of t_now .. lo
        r0 = self.r0[idx].tolist()
        Rw = np.empty(len(r0), self.cell.dtype)
        R = 0.0
        for i, tau in enumerate(range(t_now, lo - 1, -1)):
            R = cmap.get(tau, 0.0) + (r0[i - 1] * R if i else 0.0)
            Rw[i] = R
        # weight of theta~_old (step t_old): its own c plus the carried R through 1/rho0_lo
        R_old = cmap.get(t_old, 0.0) + (r0[-1] * R if r0 else 0.0) if t_old >= 0 else 0.0
        G = self.gs[idx]
        G *= Rw[:, None]
        np.dot(G.T, self.buf.Z[idx], out=out)
        if R_old:
            out += self.tt_old * R_old
