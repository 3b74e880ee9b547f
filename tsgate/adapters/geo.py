"""Latitude/longitude ↔ local east/north metres, and distances on the Earth.

:class:`LocalTangentPlane` is the East-North-Up (ENU) tangent plane of the WGS84 ellipsoid at an
origin, the local frame of navigation systems: a point's ECEF position is rotated into the
origin's ENU axes and ``up`` is dropped (an orthographic azimuthal projection of the ellipsoid).
Forward and inverse are closed-form and exact to rounding (the inverse puts the point back on
the ellipsoid by solving a quadratic), so lat/lon round-trip to ~1e-9 degrees.

Accuracy as a map (s = ground distance from the origin, R ≈ 6371 km):

- a distance from the origin is shortened by about s³ / (6 R²): 4 mm at 10 km, 4 m at 100 km,
  33 m at 200 km;
- the local scale along the radial direction is cos(s / R) ≈ 1 - s² / (2 R²): a 1 km step is
  1 µm short at 10 km from the origin, 0.12 m short at 100 km, 0.5 m at 200 km;
  across the radial direction distances are exact to the same order.

For vessel tracks (steps of metres to a few km, areas up to a few hundred km wide) these errors
are far below GPS noise. Keep the origin near the data (the AIS adapter uses the centre of the
data's bounding box) and do not use one plane for areas thousands of km wide.

:func:`haversine_m` and :func:`initial_bearing_deg` work on a sphere of the mean Earth radius
(error up to ~0.5 % against the ellipsoid), enough for speeds and courses between reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tsgate.exceptions import ConfigError

__all__ = [
    "LocalTangentPlane",
    "haversine_m",
    "pair_distances_m",
    "initial_bearing_deg",
    "WGS84_A",
    "WGS84_F",
    "EARTH_MEAN_RADIUS_M",
    "KNOT_M_S",
]

WGS84_A = 6378137.0  # semi-major axis, metres
WGS84_F = 1.0 / 298.257223563  # flattening
_E2 = WGS84_F * (2.0 - WGS84_F)  # first eccentricity squared
_B = WGS84_A * (1.0 - WGS84_F)  # semi-minor axis, metres
EARTH_MEAN_RADIUS_M = 6371008.8  # IUGG mean radius R1, metres
KNOT_M_S = 1852.0 / 3600.0  # one knot in metres per second


_SLICE = 1 << 20  # elements per slice of the elementwise functions below


def _in_slices(fn: Any, *args: Any) -> Any:
    """``fn(*args)`` for 1-D float arrays of one length, a slice at a time, so that the temporary
    arrays of the formulas stay small on millions of points; other inputs go through whole."""
    arrs = [np.asarray(a, dtype=np.float64) for a in args]
    n = arrs[0].shape[0] if arrs[0].ndim == 1 else 0
    if n <= _SLICE or any(a.ndim != 1 or a.shape[0] != n for a in arrs):
        return fn(*arrs)
    outs: list[np.ndarray] = []
    single = True
    for start in range(0, n, _SLICE):
        res = fn(*(a[start : start + _SLICE] for a in arrs))
        single = not isinstance(res, tuple)
        res = (res,) if single else res
        if not outs:
            outs = [np.empty(n, dtype=r.dtype) for r in res]
        for o, r in zip(outs, res):
            o[start : start + len(r)] = r
    return outs[0] if single else tuple(outs)


def _ecef(lat_deg: Any, lon_deg: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Earth-centred Earth-fixed coordinates (metres) of points on the ellipsoid (height 0)."""
    lat = np.radians(np.asarray(lat_deg, dtype=np.float64))
    lon = np.radians(np.asarray(lon_deg, dtype=np.float64))
    s = np.sin(lat)
    n = WGS84_A / np.sqrt(1.0 - _E2 * s * s)
    return n * np.cos(lat) * np.cos(lon), n * np.cos(lat) * np.sin(lon), n * (1.0 - _E2) * s


@dataclass(frozen=True)
class LocalTangentPlane:
    """ENU tangent plane of WGS84 at (``lat0``, ``lon0``) degrees; coordinates in metres.

    Examples
    --------
    >>> p = LocalTangentPlane(36.9, -76.0)
    >>> e, n = p.forward(36.91, -76.0)
    >>> round(float(e), 3), round(float(n), 1)
    (0.0, 1109.8)
    >>> lat, lon = p.inverse(e, n)
    >>> round(float(lat), 9), round(float(lon), 9)
    (36.91, -76.0)
    """

    lat0: float
    lon0: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.lat0) and -90.0 < self.lat0 < 90.0):
            raise ConfigError(f"projection origin latitude must be in (-90, 90) degrees, got {self.lat0!r}.")
        if not (np.isfinite(self.lon0) and -180.0 <= self.lon0 <= 360.0):
            raise ConfigError(f"projection origin longitude must be in [-180, 180] degrees, got {self.lon0!r}.")

    def _axes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        la, lo = np.radians(self.lat0), np.radians(self.lon0)
        o = np.array(_ecef(self.lat0, self.lon0), dtype=np.float64)
        east = np.array([-np.sin(lo), np.cos(lo), 0.0])
        north = np.array([-np.sin(la) * np.cos(lo), -np.sin(la) * np.sin(lo), np.cos(la)])
        up = np.array([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])
        return o, east, north, up

    def forward(self, lat_deg: Any, lon_deg: Any) -> tuple[np.ndarray, np.ndarray]:
        """(east, north) in metres of points given in degrees (arrays broadcast)."""
        return _in_slices(self._forward, lat_deg, lon_deg)

    def _forward(self, lat_deg: np.ndarray, lon_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, y, z = _ecef(lat_deg, lon_deg)
        o, e, n, _ = self._axes()
        dx, dy, dz = x - o[0], y - o[1], z - o[2]
        return e[0] * dx + e[1] * dy + e[2] * dz, n[0] * dx + n[1] * dy + n[2] * dz

    def inverse(self, east_m: Any, north_m: Any) -> tuple[np.ndarray, np.ndarray]:
        """(lat, lon) in degrees of plane points (metres); NaN beyond the visible hemisphere."""
        east_m = np.asarray(east_m, dtype=np.float64)
        north_m = np.asarray(north_m, dtype=np.float64)
        o, e, n, u = self._axes()
        qx = o[0] + east_m * e[0] + north_m * n[0]
        qy = o[1] + east_m * e[1] + north_m * n[1]
        qz = o[2] + east_m * e[2] + north_m * n[2]
        a2, b2 = WGS84_A**2, _B**2
        # the point Q + s·up lies on the ellipsoid: A s² + B s + C = 0; take the root near 0
        qa = (u[0] ** 2 + u[1] ** 2) / a2 + u[2] ** 2 / b2
        qb = 2.0 * ((qx * u[0] + qy * u[1]) / a2 + qz * u[2] / b2)
        qc = (qx**2 + qy**2) / a2 + qz**2 / b2 - 1.0
        disc = qb * qb - 4.0 * qa * qc
        with np.errstate(invalid="ignore", divide="ignore"):
            s = -2.0 * qc / (qb + np.sqrt(disc))  # stable form of (-B + sqrt(disc)) / 2A
        x, y, z = qx + s * u[0], qy + s * u[1], qz + s * u[2]
        lat = np.degrees(np.arctan2(z, (1.0 - _E2) * np.hypot(x, y)))
        lon = np.degrees(np.arctan2(y, x))
        # keep longitudes on the origin's side of the antimeridian convention
        lon = (lon - self.lon0 + 180.0) % 360.0 - 180.0 + self.lon0
        bad = ~(disc >= 0)
        if np.any(bad):
            lat = np.where(bad, np.nan, lat)
            lon = np.where(bad, np.nan, lon)
        return lat, lon

    def velocity(
        self, lat_deg: Any, lon_deg: Any, v_east: Any, v_north: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """A ground velocity given in the local east/north of each point (m/s) as the rate of
        change of the plane's (east, north) coordinates (m/s).

        The plane's axes are those of its origin; away from the origin, true north is turned
        against them by the convergence of the meridians (about Δλ·sin φ: 0.75° at 100 km east
        of an origin at 40° N). The forward map is linear in ECEF, so this rotation is exact.
        """
        return _in_slices(self._velocity, lat_deg, lon_deg, v_east, v_north)

    def _velocity(self, lat_deg: np.ndarray, lon_deg: np.ndarray, v_east: np.ndarray,
                  v_north: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lat = np.radians(np.asarray(lat_deg, dtype=np.float64))
        lon = np.radians(np.asarray(lon_deg, dtype=np.float64))
        ve, vn = np.asarray(v_east, dtype=np.float64), np.asarray(v_north, dtype=np.float64)
        sl, cl, so, co = np.sin(lat), np.cos(lat), np.sin(lon), np.cos(lon)
        # ECEF velocity = ve·(-sin λ, cos λ, 0) + vn·(-sin φ cos λ, -sin φ sin λ, cos φ)
        vx, vy, vz = -ve * so - vn * sl * co, ve * co - vn * sl * so, vn * cl
        _, e, n, _ = self._axes()
        return e[0] * vx + e[1] * vy + e[2] * vz, n[0] * vx + n[1] * vy + n[2] * vz

    @classmethod
    def around(cls, lat_deg: Any, lon_deg: Any) -> LocalTangentPlane:
        """A plane centred on the bounding box of the given points (handles the antimeridian)."""
        lat = np.asarray(lat_deg, dtype=np.float64)
        lon = np.asarray(lon_deg, dtype=np.float64)
        if lat.size == 0:
            raise ConfigError("cannot centre a projection on zero points.")
        lon360 = lon % 360.0
        if np.ptp(lon) > np.ptp(lon360):  # the data straddle ±180°: work in [0, 360)
            lo = (lon360.min() + lon360.max()) / 2.0
            lo = (lo + 180.0) % 360.0 - 180.0
        else:
            lo = (lon.min() + lon.max()) / 2.0
        return cls(float((lat.min() + lat.max()) / 2.0), float(lo))

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly description (for saving with a model)."""
        return {"kind": "enu-tangent-plane", "ellipsoid": "WGS84", "lat0": self.lat0, "lon0": self.lon0}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LocalTangentPlane:
        if d.get("kind", "enu-tangent-plane") != "enu-tangent-plane":
            raise ConfigError(f"unknown projection kind {d.get('kind')!r}; expected 'enu-tangent-plane'.")
        return cls(float(d["lat0"]), float(d["lon0"]))


def haversine_m(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> np.ndarray:
    """Great-circle distance in metres on a sphere of the mean Earth radius."""
    return _in_slices(_haversine, lat1, lon1, lat2, lon2)


def _haversine(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> np.ndarray:
    p1, p2 = np.radians(np.asarray(lat1, float)), np.radians(np.asarray(lat2, float))
    dp = p2 - p1
    dl = np.radians(np.asarray(lon2, float) - np.asarray(lon1, float))
    h = np.sin(dp / 2.0) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2.0) ** 2
    return 2.0 * EARTH_MEAN_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def pair_distances_m(
    lat_deg: np.ndarray, lon_deg: np.ndarray, a: np.ndarray | slice, b: np.ndarray | slice,
    cos_lat: np.ndarray | None = None,
) -> np.ndarray:
    """Great-circle distances (metres, as :func:`haversine_m`) between rows ``a`` and ``b`` of one
    set of points: index arrays of one length, or slices (no index arrays are made for them);
    ``cos_lat`` (cosine of every latitude) may be given to reuse it across calls."""
    lat_deg, lon_deg = np.asarray(lat_deg, float), np.asarray(lon_deg, float)
    c = np.cos(np.radians(lat_deg)) if cos_lat is None else cos_lat
    n_all = len(lat_deg)
    a_ = np.arange(n_all)[a] if isinstance(a, slice) and isinstance(b, np.ndarray) else a
    b_ = np.arange(n_all)[b] if isinstance(b, slice) and isinstance(a, np.ndarray) else b
    if isinstance(a_, slice):
        a0, b0 = a_.indices(n_all)[0], b_.indices(n_all)[0]  # type: ignore[union-attr]
        n = len(range(*a_.indices(n_all)))
    else:
        n = len(a_)
    out = np.empty(n)
    for s in range(0, n, _SLICE):
        e = min(n, s + _SLICE)
        if isinstance(a_, slice):
            i, j = slice(a0 + s, a0 + e), slice(b0 + s, b0 + e)
        else:
            i, j = a_[s:e], b_[s:e]  # type: ignore[index]
        h = np.sin(np.radians(lat_deg[j] - lat_deg[i]) / 2.0) ** 2
        h += c[i] * c[j] * np.sin(np.radians(lon_deg[j] - lon_deg[i]) / 2.0) ** 2
        out[s:e] = 2.0 * EARTH_MEAN_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
    return out


def initial_bearing_deg(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> np.ndarray:
    """Initial great-circle bearing from point 1 to point 2, degrees clockwise from true north in [0, 360)."""
    return _in_slices(_bearing, lat1, lon1, lat2, lon2)


def _bearing(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> np.ndarray:
    p1, p2 = np.radians(np.asarray(lat1, float)), np.radians(np.asarray(lat2, float))
    dl = np.radians(np.asarray(lon2, float) - np.asarray(lon1, float))
    y = np.sin(dl) * np.cos(p2)
    x = np.cos(p1) * np.sin(p2) - np.sin(p1) * np.cos(p2) * np.cos(dl)
    return np.degrees(np.arctan2(y, x)) % 360.0
