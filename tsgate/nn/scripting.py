"""TorchScript for the cells' time loops: compile once, run without the graph optimiser.

``scripted(fn)`` is how every hand-written kernel in :mod:`tsgate.nn` runs its time loop.
Set ``TSGATE_NO_SCRIPT=1`` to run the same kernels as plain Python (for debugging).
"""

from __future__ import annotations

import os
import warnings
from typing import Callable

import torch

__all__ = ["scripted"]

_SCRIPTED: dict[Callable, Callable] = {}


def scripted(fn: Callable) -> Callable:
    """Return ``torch.jit.script(fn)``, compiled once on first use (about 0.1-0.5 s).

    TorchScript is deprecated in torch 2.x but still the cheapest way to run a small time loop
    on a CPU without a cold compile (``torch.compile`` needs 20-40 s per shape). If scripting
    fails, or ``TSGATE_NO_SCRIPT=1`` is set, the eager Python function is used (same maths,
    slower).
    """
    got = _SCRIPTED.get(fn)
    if got is None:
        got = fn
        if os.environ.get("TSGATE_NO_SCRIPT", "") not in ("1", "true", "yes"):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    got = _unoptimized(torch.jit.script(fn))
            except Exception:  # pragma: no cover - depends on the torch build
                got = fn
        _SCRIPTED[fn] = got
    return got


def _unoptimized(sfn: Callable) -> Callable:
    """Run a scripted function with the graph executor's optimisations off.

    Measured here: with them on (the default profiling executor) the first two calls of the
    WMC kernels took 3.6 s and 5.2 s (loop unrolling and re-specialisation) and later calls
    were still 10x slower than the plain interpreter, because CPU fusion (LLVM) is not in the
    torch wheels. Off, the first call costs about 1 s (scripting) and later ones run at
    interpreter speed.
    """

    # The flag is process-wide; it is restored after every call. Another thread running
    # TorchScript at the same moment would see it off, which only changes its speed.
    def run(*args):
        with torch.jit.optimized_execution(False):
            return sfn(*args)

    run.__wrapped__ = sfn  # type: ignore[attr-defined]
    return run
