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

from tsgate.online.buffers import StepBuffers
from tsgate.online.cell import Cell
from tsgate.online.trace import Trace, TraceSettings

__all__ = ["TBPTTTrace", "backward_sweep"]


def backward_sweep(cell: Cell, buf: StepBuffers, W: np.ndarray, hi: int, lo: int, C: np.ndarray, A: np.ndarray,
                   need_prev: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Backpropagate the error signals ``C`` (rows by slot, zero where none) from step ``hi``
    down to step ``lo`` with the full state Jacobians (current weights, stored caches).

    Writes the pre-activation adjoints of steps hi, hi-1, ..., lo into ``A[0:hi-lo+1]`` and
    returns the slots of those steps and, if ``need_prev``, the adjoint on the state
    ``s_{lo-1}`` (without any signal injected at lo-1).
    """
    n = cell.n
    nsteps = hi - lo + 1
    idx = buf.slots(hi, lo)
    adj = np.zeros(cell.n_state, cell.dtype)
    if nsteps <= 0:
        return idx, (adj if need_prev else None)
    UT = cell.recurrent_t(W)                          # read at every step
    last = nsteps if need_prev else nsteps - 1        # steps that propagate further back
    CACHE = buf.CACHE
    adj_h = adj[:n]
    for i, s in enumerate(idx.tolist()):
        adj_h += C[s]
        cell.backward_step(UT, CACHE[s], adj, A[i], i < last)
    return idx, (adj if need_prev else None)


class TBPTTTrace(Trace):
    name = "tbptt"

    def __init__(self, cell: Cell, buffers: StepBuffers, settings: TraceSettings) -> None:
        super().__init__(cell, buffers, settings)
        self.K = int(settings.tbptt_steps)
        self._A = np.zeros((buffers.L, cell.rows), cell.dtype)

    def grad(self, t_now, times, slots, C, W, out) -> None:
        hi = int(times[-1])
        lo = max(0, int(times[0]) - self.K + 1, t_now - self.buf.L + 1)
        idx, _ = backward_sweep(self.cell, self.buf, W, hi, lo, C, self._A)
        np.dot(self._A[:hi - lo + 1].T, self.buf.Z[idx], out=out)
