"""What the vessel model sees and learns, from input windows (numpy only, causal).

Per step of the last ``L`` reports of a voyage (oldest first): position offset to the origin
(km), time offset (/600 s), log1p(Δt / 60 s), velocity from SOG/COG (two-point where missing;
/5 m/s), heading sin/cos and an "available" flag, and the padding mask. Every east/north pair
is rotated into the origin's along/cross-track frame (course of the dead-reckoning velocity), so
a turn to port looks the same on every course. Per origin: speed (/5 m/s), course sin/cos, the
position normalised to the training area's bounding box, and the index of its grid cell.

The target is the residual over dead reckoning (the dead-reckoning rule of
:class:`~tsgate.baselines.dead_reckoning.DeadReckoningForecaster`: SOG/COG at the origin, the
last two positions where missing), in the track frame (cross, along), metres.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tsgate.adapters.geo import KNOT_M_S
from tsgate.data.windows import Inputs

__all__ = ["Columns", "Area", "Features", "features", "to_track", "from_track"]


@dataclass(frozen=True)
class Columns:
    """Positions of east, north, SOG (kn), COG (deg) and heading (deg; -1: none) in ``Inputs.x``."""

    east: int
    north: int
    sog: int = -1
    cog: int = -1
    heading: int = -1


@dataclass
class Area:
    """The training area: bounding box (m) and a grid of ``cell_m`` cells; ``known`` marks cells
    with enough training reports (the others share the "unknown" code 0)."""

    east_min: float
    east_max: float
    north_min: float
    north_max: float
    cell_m: float
    known: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return (int((self.east_max - self.east_min) // self.cell_m) + 1, int((self.north_max - self.north_min) // self.cell_m) + 1)

    @property
    def n_cells(self) -> int:
        nx, ny = self.shape
        return nx * ny + 1

    def cells(self, east: np.ndarray, north: np.ndarray, *, all_known: bool = False) -> np.ndarray:
        nx, ny = self.shape
        gi = np.floor((east - self.east_min) / self.cell_m)
        gj = np.floor((north - self.north_min) / self.cell_m)
        inside = np.isfinite(gi) & np.isfinite(gj) & (gi >= 0) & (gi < nx) & (gj >= 0) & (gj < ny)
        cell = np.where(inside, np.nan_to_num(gi) * ny + np.nan_to_num(gj) + 1, 0).astype(np.int64)
        return cell if all_known else np.where(self.known[cell], cell, 0)

    @classmethod
    def fit(cls, east: np.ndarray, north: np.ndarray, cell_m: float, min_reports: int, vessel: np.ndarray | None = None,
            min_vessels: int = 1) -> Area:
        """A cell is known with at least ``min_reports`` training reports from at least
        ``min_vessels`` different vessels (``vessel``: the vessel of each report): a cell that
        one vessel crossed tells where that vessel went, not what the waters do, and its code
        would let the network memorise the vessel's path (at 10-s cadence one vessel passing
        through fills a 2-km cell with 40 reports)."""
        a = cls(float(np.min(east)), float(np.max(east)), float(np.min(north)), float(np.max(north)), float(cell_m),
                np.zeros(1, bool))
        cell = a.cells(east, north, all_known=True)
        counts = np.bincount(cell, minlength=a.n_cells)
        a.known = counts >= min_reports
        if vessel is not None and min_vessels > 1:
            pairs = np.unique(np.stack([cell, np.asarray(vessel, np.int64)], axis=1), axis=0)
            a.known &= np.bincount(pairs[:, 0], minlength=a.n_cells) >= min_vessels
        a.known[0] = False
        return a

    def to_meta(self) -> dict[str, Any]:
        return {"box": [self.east_min, self.east_max, self.north_min, self.north_max], "cell_m": self.cell_m}

    @classmethod
    def from_meta(cls, meta: dict[str, Any], known: np.ndarray) -> Area:
        return cls(*[float(v) for v in meta["box"]], float(meta["cell_m"]), np.asarray(known, bool))


@dataclass
class Features:
    seq: np.ndarray  # [n, L, 10] float32
    static: np.ndarray  # [n, 5] float32
    cell: np.ndarray  # [n] int64
    origin: np.ndarray  # [n, 2] east/north at the origin, m
    velocity: np.ndarray  # [n, 2] dead-reckoning velocity, m/s
    cos: np.ndarray  # [n] cos(course)
    sin: np.ndarray  # [n] sin(course)


def step_velocity(X: Inputs, col: Columns) -> np.ndarray:
    """[n, L, 2] east/north velocity (m/s) at every step: SOG/COG, else two-point, else 0."""
    x = X.x
    two = np.zeros(x.shape[:2] + (2,))
    with np.errstate(invalid="ignore", divide="ignore"):
        for j, c in enumerate((col.east, col.north)):
            d = np.diff(x[:, :, c], axis=1) / X.dt[:, 1:]
            two[:, 1:, j] = np.where(X.mask[:, :-1] & X.mask[:, 1:] & (X.dt[:, 1:] > 0), d, np.nan)
    two[:, 0] = np.nan
    v = np.full_like(two, np.nan)
    if col.sog >= 0 and col.cog >= 0:
        sog, cog = x[:, :, col.sog] * KNOT_M_S, np.deg2rad(x[:, :, col.cog])
        v = np.stack([sog * np.sin(cog), sog * np.cos(cog)], axis=2)
    bad = ~np.isfinite(v).all(axis=2)
    v[bad] = two[bad]
    v[~np.isfinite(v).all(axis=2)] = 0.0
    v[~X.mask] = 0.0
    return v


def to_track(v: np.ndarray, c: np.ndarray, s: np.ndarray) -> np.ndarray:
    """East/north pairs [n, ..., 2] → (cross, along) track frame of each window's course."""
    shape = (-1,) + (1,) * (v.ndim - 2)
    c, s = c.reshape(shape), s.reshape(shape)
    return np.stack([v[..., 0] * c - v[..., 1] * s, v[..., 0] * s + v[..., 1] * c], axis=-1)


def from_track(r: np.ndarray, c: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_track`."""
    shape = (-1,) + (1,) * (r.ndim - 2)
    c, s = c.reshape(shape), s.reshape(shape)
    return np.stack([r[..., 0] * c + r[..., 1] * s, -r[..., 0] * s + r[..., 1] * c], axis=-1)


def features(X: Inputs, col: Columns, area: Area) -> Features:
    """The model's inputs for every window of ``X`` (see the module docstring)."""
    x = X.x
    pos = np.stack([x[:, :, col.east], x[:, :, col.north]], axis=2)  # [n, L, 2]
    origin = pos[:, -1]
    vel = step_velocity(X, col)
    v0 = vel[:, -1]
    course = np.arctan2(v0[:, 0], v0[:, 1])
    c, s = np.cos(course), np.sin(course)
    off = to_track((pos - origin[:, None]) / 1000.0, c, s)
    vt = to_track(vel / 5.0, c, s)
    if col.heading >= 0:
        h = x[:, :, col.heading]
        hf = np.isfinite(h) & X.mask
        hv = np.stack([np.sin(np.deg2rad(np.nan_to_num(h))), np.cos(np.deg2rad(np.nan_to_num(h)))], axis=2)
        hv = to_track(hv, c, s) * hf[..., None]
    else:
        hf = np.zeros(X.mask.shape, bool)
        hv = np.zeros(pos.shape)
    seq = np.concatenate([off, (X.t / 600.0)[..., None], np.log1p(np.maximum(X.dt, 0) / 60.0)[..., None], vt, hv,
                          hf[..., None], X.mask[..., None]], axis=2)
    seq[~X.mask] = 0.0
    half_e = max(area.east_max - area.east_min, 1.0) / 2
    half_n = max(area.north_max - area.north_min, 1.0) / 2
    static = np.stack([np.hypot(v0[:, 0], v0[:, 1]) / 5.0, s, c,
                       (origin[:, 0] - (area.east_max + area.east_min) / 2) / half_e,
                       (origin[:, 1] - (area.north_max + area.north_min) / 2) / half_n], axis=1)
    return Features(np.nan_to_num(seq).astype(np.float32), np.nan_to_num(static).astype(np.float32),
                    area.cells(origin[:, 0], origin[:, 1]), origin, v0, c, s)
