"""The forecasts of a series whose targets are still to come, kept by the interval calibrator.

Each forecast waits in a slot of per-series arrays until its last horizon's target is revealed
or closed, so that scoring the targets one observation reveals is a few array lookups.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["PendingForecasts", "origin_key"]


def origin_key(t: float) -> int:
    """A time as whole microseconds: the key of a pending forecast (robust to saved-time rounding)."""
    return int(round(float(t) * 1e6))


class PendingForecasts:
    """The forecasts of one series whose targets are still to come, as arrays (one slot each).

    ``slot`` maps an origin key (:func:`origin_key`) to its slot; ``values`` [n, H, k] are the
    forecasts, ``widths`` [n, L, H, U] the widths they were issued with, ``open`` [n, H] the
    horizons still to be revealed, ``keys`` [n] the origin keys and ``seq`` [n] the order of
    issue (the order of a model file).
    Freed slots are reused, so the arrays stay as long as the most forecasts ever in flight.
    """

    def __init__(self, n_horizons: int, k: int, n_levels: int, n_units: int) -> None:
        self.slot: dict[int, int] = {}
        self.free: list[int] = []
        self.values = np.zeros((0, n_horizons, k))
        self.widths = np.zeros((0, n_levels, n_horizons, n_units))
        self.open = np.zeros((0, n_horizons), bool)
        self.seq = np.zeros(0, np.int64)
        self.keys = np.zeros(0, np.int64)
        self.n_issued = 0

    def __len__(self) -> int:
        return len(self.slot)

    def put(self, key: int, values: np.ndarray, widths: np.ndarray, open_: np.ndarray | None = None) -> None:
        """Store a forecast; one issued again at the same origin replaces it (keeping its place)."""
        i = self.slot.get(key)
        if i is None:
            if not self.free:
                n = len(self.open)
                grow = max(8, n)
                self.values = np.concatenate([self.values, np.zeros((grow, *self.values.shape[1:]))])
                self.widths = np.concatenate([self.widths, np.full((grow, *self.widths.shape[1:]), np.nan)])
                self.open = np.concatenate([self.open, np.zeros((grow, self.open.shape[1]), bool)])
                self.seq = np.concatenate([self.seq, np.zeros(grow, np.int64)])
                self.keys = np.concatenate([self.keys, np.zeros(grow, np.int64)])
                self.free = list(range(n + grow - 1, n - 1, -1))
            i = self.free.pop()
            self.slot[key] = i
            self.keys[i] = key
            self.seq[i] = self.n_issued
            self.n_issued += 1
        self.values[i] = values
        self.widths[i] = widths
        self.open[i] = True if open_ is None else open_

    def drop(self, slots: Any) -> None:
        """Forget the forecasts in ``slots`` (distinct)."""
        for i in np.asarray(slots, np.int64).tolist():
            del self.slot[int(self.keys[i])]
            self.free.append(i)

    def add_levels(self, n_new: int) -> None:
        pad = np.full((len(self.widths), n_new, *self.widths.shape[2:]), np.nan)
        self.widths = np.concatenate([self.widths, pad], axis=1)

    def entries(self) -> list[tuple[int, int]]:
        """(key, slot) in the order of issue."""
        return sorted(self.slot.items(), key=lambda kv: self.seq[kv[1]])
