"""How a gradient algorithm turns revealed errors into the recurrent weights' gradient.

A :class:`Trace` is built from the learner's cell, its :class:`~tsgate.online.buffers.StepBuffers`
and the algorithm's settings; it keeps whatever its algorithm carries forward (influence
matrices, rank-1 pairs) and is told of every step (``on_step``) and asked for the gradient of
the pending targets (``grad``). It reads the current weights ``W`` it is given and the public
buffers, nothing else of the learner. New algorithms subclass it and register in
:data:`TRACES` via ``name``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from tsgate.online.buffers import StepBuffers
from tsgate.online.cell import Cell

__all__ = ["Trace", "TraceSettings", "TRACES"]

#: algorithm name → trace class, filled as trace classes are defined
TRACES: dict[str, type[Trace]] = {}


@dataclass(frozen=True)
class TraceSettings:
    """The learner's settings a trace may need."""

    max_delay: int = 0
    tbptt_steps: int = 16
    uoro_eps: float = 1e-7


class Trace:
    """Base of the gradient traces (see module docstring)."""

    name: ClassVar[str] = ""

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if cls.name:
            TRACES[cls.name] = cls

    def __init__(self, cell: Cell, buffers: StepBuffers, settings: TraceSettings) -> None:
        self.cell = cell
        self.buf = buffers
        self.settings = settings

    def reset(self) -> None:
        """Zero everything carried forward (start of a new stream)."""
        for a in self.arrays().values():
            a[...] = 0

    def on_step(self, t: int, slot: int, prev: int | None, W: np.ndarray, rng: np.random.Generator) -> None:
        """Update the carried quantities after the forward step of time ``t`` (slot ``slot``;
        ``prev`` the previous slot, None at t = 0), with the current weights ``W``."""

    def grad(self, t_now: int, times: np.ndarray, slots: np.ndarray, C: np.ndarray, W: np.ndarray,
             out: np.ndarray) -> None:
        """Write dL/dW (rows, q) into ``out``. ``C`` (L, n) holds dL/dh_tau in the slot of
        time tau (zero rows for slots without a target); ``times`` (increasing) and
        ``slots`` list the slots that have one; ``t_now`` is the newest time."""
        raise NotImplementedError

    def arrays(self) -> dict[str, np.ndarray]:
        """Live views of the carried arrays (saved and restored by the learner)."""
        return {}
