"""What a live stream gives back per observation: the forecasts of every horizon with bands."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tsgate.data.horizons import Horizon
from tsgate.data.times import seconds_to_time
from tsgate.estimators.intervals import band_columns

__all__ = ["StreamStep"]


@dataclass
class StreamStep:
    """The forecasts made from one new observation (``values`` None: too little history yet).

    ``halfwidth`` [L, H, U] holds the bands of ``levels`` (see :class:`~tsgate.estimators.forecasts.Forecasts`).
    """

    series: Any
    time_s: float
    values: np.ndarray | None
    levels: tuple[float, ...]
    halfwidth: np.ndarray | None
    horizons: tuple[Horizon, ...]
    targets: tuple[str, ...]
    groups: tuple[tuple[str, ...], ...]
    time_kind: str
    learned: int = 0

    def target_time(self) -> np.ndarray:
        """[H] seconds: origin + duration; NaN for step horizons (not known at the origin)."""
        return np.array([self.time_s + h.value if h.kind == "duration" else np.nan for h in self.horizons])

    def columns(self) -> list[str]:
        cols = ["series", "origin_time", "horizon", "target_time", *self.targets]
        for lv in self.levels:
            cols += band_columns(self.targets, self.groups, lv)
        return cols

    def numbers(self) -> np.ndarray:
        """[H, m] the numeric columns of :meth:`columns` after ``target_time``: the forecasts,
        then per level each target's lower and upper bound and each group's radius."""
        v = self.values
        if v is None:
            return np.zeros((0, 0))
        H, k = v.shape
        parts = [v]
        for li in range(len(self.levels)):
            hw = self.halfwidth[li] if self.halfwidth is not None else np.full((H, k + len(self.groups)), np.nan)
            parts += [np.stack([v - hw[:, :k], v + hw[:, :k]], axis=2).reshape(H, 2 * k), hw[:, k:]]
        return np.concatenate(parts, axis=1) if len(parts) > 1 else v

    def table(self) -> list[list[Any]]:
        """One list per horizon, in :meth:`columns` order (times as float seconds)."""
        if self.values is None:
            return []
        tt = self.target_time().tolist()
        return [[self.series, self.time_s, hz.label, tt[h], *row]
                for h, (hz, row) in enumerate(zip(self.horizons, self.numbers().tolist()))]

    def rows(self) -> list[dict[str, Any]]:
        """The forecast rows as ``predict`` frames have them (times in the series' kind)."""
        cols = self.columns()
        out = [dict(zip(cols, r)) for r in self.table()]
        if self.time_kind == "datetime":
            for r in out:
                r["origin_time"] = seconds_to_time(np.array([r["origin_time"]]), "datetime")[0]
                r["target_time"] = seconds_to_time(np.array([r["target_time"]]), "datetime")[0]
        return out
