"""Shared pieces of the online learners: the gradient-estimator interface and the warning."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from tsgate.online.learner import OnlineLearner

__all__ = ["OnlineUpdateWarning", "Trace"]


from tsgate.exceptions import OnlineUpdateWarning  # noqa: E402  (one class for all of tsgate)


class Trace:
    """How one algorithm turns revealed errors into the recurrent weights' gradient.

    The learner owns the ring buffers of the last ``L`` steps (inputs ``Z``, states ``S``,
    derivative caches ``CACHE``; time ``tau`` lives in slot ``tau % L``); a trace keeps
    whatever else its algorithm carries forward (influence matrices, rank-1 pairs) in
    ring buffers of the same length, so the quantities of the prediction's own step are
    available when its target is revealed up to ``max_delay`` steps later.
    """

    name = ""

    def __init__(self, ol: "OnlineLearner") -> None:
        self.ol = ol
        self.cell = ol._cell

    def reset(self) -> None:
        """Zero everything carried forward (start of a new stream)."""
        for a in self.arrays().values():
            a[...] = 0

    def on_step(self, t: int, slot: int, prev: int | None) -> None:
        """Update the carried quantities after the forward step of time ``t`` (slot
        ``slot``; ``prev`` the previous slot, None at t = 0)."""

    def grad(self, t_now: int, times: np.ndarray, slots: np.ndarray, C: np.ndarray,
             out: np.ndarray) -> None:
        """Write dL/dW (rows, q) into ``out``. ``C`` (L, n) holds dL/dh_tau in the slot of
        time tau (zero rows for slots without a target); ``times`` (increasing) and
        ``slots`` list the slots that have one; ``t_now`` is the newest time."""
        raise NotImplementedError

    def arrays(self) -> dict[str, np.ndarray]:
        """Live views of the carried arrays (saved and restored by the learner)."""
        return {}
