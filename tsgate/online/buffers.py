"""The per-step history an online learner keeps, which its gradient trace reads.

The learner owns ring buffers of the last ``L`` steps (time ``tau`` lives in slot ``tau % L``):
the cell input ``Z[slot] = [u_tau, h_{tau-1}, 1]``, the state ``S[slot] = s_tau``, the readout
input ``H[slot] = [h_tau, 1]`` and the cell's derivative cache ``CACHE[slot]``. A trace
(:mod:`tsgate.online.trace`) reads them to pair a target revealed up to ``max_delay`` steps
late with the quantities of its prediction's own step.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tsgate.online.cell import Cell

__all__ = ["StepBuffers", "PendingTargets"]


class StepBuffers:
    """Ring buffers ``Z``, ``S``, ``H``, ``CACHE`` of the last ``L`` steps of one stream."""

    def __init__(self, cell: Cell, L: int) -> None:
        dt = cell.dtype
        self.L = int(L)
        self.Z = np.zeros((L, cell.q), dt)
        self.Z[:, -1] = 1.0
        self.S = np.zeros((L, cell.n_state), dt)
        self.H = np.zeros((L, cell.n + 1), dt)       # [h_tau, 1] for the readout
        self.H[:, -1] = 1.0
        self.CACHE = np.zeros((L, cell.cache_size), dt)

    def slots(self, hi: int, lo: int) -> np.ndarray:
        """The slots of steps ``hi, hi-1, ..., lo`` (newest first)."""
        return np.arange(hi, lo - 1, -1) % self.L

    def reset(self) -> None:
        """Zero the history of a stream (the constant 1 columns stay)."""
        self.Z[:, :-1] = 0
        self.S[:] = 0
        self.H[:, :-1] = 0
        self.CACHE[:] = 0

    def arrays(self) -> dict[str, np.ndarray]:
        """Live views, saved and restored with the learner's state."""
        return {"Z": self.Z, "S": self.S, "H": self.H, "CACHE": self.CACHE}


class PendingTargets:
    """Targets learned since the learner's last update, per slot and output.

    ``w`` (L, p) is 1 where an output of the prediction in that slot got a target, ``t`` holds
    the target, ``active`` marks slots with any, ``any`` whether anything is pending.
    """

    def __init__(self, L: int, p: int, dtype: np.dtype) -> None:
        self.w = np.zeros((L, p), dtype)
        self.t = np.zeros((L, p), dtype)
        self.active = np.zeros(L, bool)
        self.any = False

    def mark(self, slots: Any) -> None:
        self.active[slots] = True
        self.any = True

    def clear(self) -> None:
        if self.any:
            self.w[:] = 0
            self.t[:] = 0   # a NaN target must not survive masked (NaN * 0 = NaN)
            self.active[:] = False
            self.any = False

    def arrays(self) -> dict[str, np.ndarray]:
        return {"pending.w": self.w, "pending.t": self.t, "pending.active": self.active}
