"""A causal analog (nearest-neighbour) forecaster on one series' own past.

The library holds, for past origins whose whole future (every horizon) has been observed,
their input window (values at fixed time lags relative to the origin's value) and their
relative future. A forecast from a new window is the mean relative future of its ``k`` nearest
library windows (squared Euclidean distance, in data units: the coordinates that move most
decide, as they should for breathing). Only the newest ``capacity`` entries are kept (a ring),
which bounds the cost of a query; until ``min_entries`` are in, the library gives no forecast.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tsgate.exceptions import ModelFileError

__all__ = ["AnalogLibrary"]


class AnalogLibrary:
    """Ring of (window [dim], future [H, k]) pairs with a k-nearest-neighbour mean forecast."""

    def __init__(self, dim: int, n_horizons: int, n_targets: int, capacity: int, n_neighbors: int,
                 min_entries: int) -> None:
        self.dim, self.H, self.k = int(dim), int(n_horizons), int(n_targets)
        self.capacity = int(capacity)
        self.n_neighbors = int(min(n_neighbors, capacity))
        self.min_entries = int(max(min_entries, self.n_neighbors + 1))
        self._W = np.zeros((self.capacity, self.dim), np.float32)  # distances only rank: float32 is enough
        self._F = np.zeros((self.capacity, self.H, self.k))
        self._N = np.zeros(self.capacity, np.float32)  # squared norms: |w - q|^2 = |w|^2 - 2 w.q + |q|^2
        self._n = 0  # entries ever added

    @property
    def size(self) -> int:
        return min(self._n, self.capacity)

    @property
    def ready(self) -> bool:
        return self.size >= self.min_entries

    def add(self, window: np.ndarray, future: np.ndarray) -> None:
        i = self._n % self.capacity
        self._W[i] = window
        self._F[i] = future
        self._N[i] = float(self._W[i] @ self._W[i])
        self._n += 1

    def query(self, window: np.ndarray) -> np.ndarray | None:
        """[H, k] mean future of the nearest entries, or None while the library is too small."""
        if not self.ready:
            return None
        m = self.size
        d = self._N[:m] - 2.0 * (self._W[:m] @ window.astype(np.float32))
        nn = np.argpartition(d, self.n_neighbors - 1)[: self.n_neighbors]
        return self._F[nn].mean(axis=0)

    def arrays(self) -> dict[str, np.ndarray]:
        m = self.size
        return {"W": self._W[:m].copy(), "F": self._F[:m].copy(), "n": np.array(self._n, np.int64)}

    def load(self, state: dict[str, Any]) -> None:
        try:
            W, F, n = np.asarray(state["W"]), np.asarray(state["F"]), int(state["n"])
        except KeyError as exc:
            raise ModelFileError(f"analog library state is missing {exc.args[0]!r}.") from None
        m = min(n, self.capacity)
        if W.shape != (m, self.dim) or F.shape != (m, self.H, self.k):
            raise ModelFileError(f"analog library arrays {W.shape}/{F.shape} do not fit its configuration.")
        self._W[:m], self._F[:m], self._n = W, F, n
        self._N[:m] = np.einsum("ij,ij->i", self._W[:m], self._W[:m])
