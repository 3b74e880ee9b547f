"""Shared test fixtures: small, seeded, synthetic irregular series."""

from __future__ import annotations

import os
from collections.abc import Callable

# One BLAS/OpenMP thread unless the caller chose otherwise (set before anything imports torch or
# numpy's BLAS): the tensors in the tests are tiny, and a second thread per process makes a
# loaded machine oversubscribed — measured 135 s instead of 4 s for one online-learning test.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np
import pandas as pd
import pytest


def irregular_frame(n: int = 300, n_series: int = 2, seed: int = 0) -> pd.DataFrame:
    """Long frame ``time`` (seconds, jittered 80-140 ms steps), ``series``, targets ``y`` and ``z`` (mm).

    A breathing-like signal: sines of period 4 s plus noise, different phase per series.
    Sorted by series then time.
    """
    rng = np.random.default_rng(seed)
    parts = []
    for i in range(n_series):
        t = np.cumsum(rng.uniform(0.08, 0.14, n))
        phase = 0.7 * i
        parts.append(
            pd.DataFrame(
                {
                    "time": np.round(t, 4),
                    "series": f"s{i}",
                    "y": 3.0 * np.cos(2 * np.pi * t / 4.0 + phase) + rng.normal(0, 0.05, n),
                    "z": 10.0 * np.sin(2 * np.pi * t / 4.0 + phase) + rng.normal(0, 0.1, n),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


@pytest.fixture
def make_frame() -> Callable[..., pd.DataFrame]:
    """Factory for :func:`irregular_frame` (``make_frame(n=..., n_series=..., seed=...)``)."""
    return irregular_frame
