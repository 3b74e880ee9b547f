"""Streaming truncated backpropagation through time over the last K steps.

The learner stores, for the last ``max_delay + K`` steps, the input vector ``z_tau`` and the
cell's derivative cache (computed in the forward pass). ``grad`` runs one backward sweep,
newest to oldest, injecting the error signal ``dL/dh_tau`` of every prediction whose target
was revealed, with the *current* weights and the stored activations (no re-forward):

* the sweep starts at the newest predicted step tau_hi and stops at
  ``tau_lo = tau_oldest - K + 1``: every revealed target is backpropagated through at least
  K cell steps (exactly K for the oldest prediction, ``K + (d_max - d_min)`` for the newest),
  so one sweep of ``K + d_max - d_min`` steps serves all horizons at once (with 21 horizons
  of 1..21 steps and K = 16 that is 36 steps per update);
* the parameter gradient is ``A^T Z`` with ``A`` the stacked pre-activation adjoints, one
  matrix product after the sweep.

With K at least the sequence length and frozen weights this is exactly BPTT. The same sweep
(:func:`backward_sweep`) serves RTRL's window of delayed targets.
"""

from __future__ import annotations

import numpy as np

from tsgate.online._base import Trace

__all__ = ["TBPTTTrace", "backward_sweep"]


def backward_sweep(ol, hi: int, lo: int, C: np.ndarray, A: np.ndarray,
                   need_prev: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Backpropagate the error signals ``C`` (rows by slot, zero where none) from step ``hi``
    down to step ``lo`` with the full state Jacobians (current weights, stored caches).

    Writes the pre-activation adjoints of steps hi, hi-1, ..., lo into ``A[0:hi-lo+1]`` and
    returns the slots of those steps and, if ``need_prev``, the adjoint on the state
    ``s_{lo-1}`` (without any signal injected at lo-1).
    """
    c = ol._cell
    n = c.n
    L = ol._L
    CACHE = ol._CACHE
    nsteps = hi - lo + 1
    idx = np.arange(hi, lo - 1, -1) % L
    if nsteps <= 0:
        return idx, (np.zeros(c.n_state, c.dtype) if need_prev else None)
    UT = np.ascontiguousarray(c.w_rec(ol._W).T)      # (n, rows), read at every step
    last = nsteps if need_prev else nsteps - 1        # steps that propagate further back
    if c.kind == "rnn":
        adj = np.zeros(n, c.dtype)
        for i, s in enumerate(idx.tolist()):
            adj += C[s]
            da = A[i]
            np.multiply(adj, CACHE[s], out=da)
            if i < last:
                np.dot(UT, da, out=adj)
        return idx, (adj if need_prev else None)
    adj = np.zeros(2 * n, c.dtype)
    adj_h, adj_c = adj[:n], adj[n:]
    dct = np.empty(n, c.dtype)
    for i, s in enumerate(idx.tolist()):
        adj_h += C[s]
        cache = CACHE[s]
        da = A[i]
        # dct = adj_c + adj_h * ohc ; da = [dct*dc_i, dct*dc_f, dct*dc_g, adj_h*dho]
        np.multiply(adj_h, cache[4 * n:5 * n], out=dct)
        dct += adj_c
        np.multiply(cache[:3 * n].reshape(3, n), dct, out=da[:3 * n].reshape(3, n))
        np.multiply(adj_h, cache[3 * n:4 * n], out=da[3 * n:])
        if i < last:
            np.dot(UT, da, out=adj_h)
            np.multiply(dct, cache[5 * n:], out=adj_c)
    return idx, (adj if need_prev else None)


class TBPTTTrace(Trace):
    name = "tbptt"

    def __init__(self, ol) -> None:
        super().__init__(ol)
        self.K = int(ol.tbptt_steps)
        c = self.cell
        self._A = np.zeros((ol._L, c.rows), c.dtype)

    def grad(self, t_now, times, slots, C, out) -> None:
        ol = self.ol
        hi = int(times[-1])
        lo = max(0, int(times[0]) - self.K + 1, t_now - ol._L + 1)
        idx, _ = backward_sweep(ol, hi, lo, C, self._A)
        np.dot(self._A[:hi - lo + 1].T, ol._Z[idx], out=out)
