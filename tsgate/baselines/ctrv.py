"""Constant turn rate and velocity (CTRV): dead reckoning along a circle.

The velocity at the origin is the one dead reckoning uses (SOG/COG per series where present,
else the last two positions; see :mod:`tsgate.baselines.dead_reckoning`). The turn rate ω
(rad/s) is the change of course between the previous report and the origin divided by the time
between them (course from COG, or from the two-point velocities where SOG/COG are missing),
clipped to ``max_turn_deg_s``. Over a lead time T the position moves by

    Δe = v/ω · (cos θ − cos(θ + ωT)),   Δn = v/ω · (sin(θ + ωT) − sin θ)

with θ the course (radians clockwise from north) and v the speed (m/s); for |ω| ≈ 0 this is
straight-line dead reckoning. Turn rates are not trusted across gaps longer than ``max_turn_gap``
(seconds): there ω = 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tsgate.baselines.dead_reckoning import DeadReckoningForecaster
from tsgate.baselines.features import lead_times, series_intervals
from tsgate.data.windows import Inputs
from tsgate.params import Interval, Real

__all__ = ["CTRVForecaster"]


def _course(v: np.ndarray) -> np.ndarray:
    """Course (radians clockwise from north) of east/north velocities [n, 2]."""
    return np.arctan2(v[:, 0], v[:, 1])


class CTRVForecaster(DeadReckoningForecaster):
    """Constant turn rate and velocity forecast of a 2-D position (metres).

    Parameters
    ----------
    method, horizons, position_cols, sog_col, cog_col
        As :class:`~tsgate.baselines.dead_reckoning.DeadReckoningForecaster`.
    max_turn_deg_s
        Largest turn rate kept (degrees per second); larger measured rates are clipped.
    max_turn_gap
        Longest time between the two reports a turn rate is measured over (seconds).
    """

    _parameter_constraints = {
        **DeadReckoningForecaster._parameter_constraints,
        "max_turn_deg_s": [Interval(Real, 0, None, closed="neither")],
        "max_turn_gap": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        method: str = "auto",
        horizons: Any = ("1min",),
        position_cols: tuple[str, str] = ("east_m", "north_m"),
        sog_col: str = "sog_kn",
        cog_col: str = "cog_deg",
        max_turn_deg_s: float = 3.0,
        max_turn_gap: float = 600.0,
    ) -> None:
        super().__init__(method=method, horizons=horizons, position_cols=position_cols, sog_col=sog_col, cog_col=cog_col)
        self.max_turn_deg_s = max_turn_deg_s
        self.max_turn_gap = max_turn_gap

    def _window_length(self) -> int:
        return 3

    def _turn_rate(self, X: Inputs, v: np.ndarray) -> np.ndarray:
        """[n] turn rate (rad/s) between the previous report and the origin; 0 where unknown."""
        prev = self._velocity(X, back=2) if X.window >= 3 else np.full_like(v, np.nan)
        use = self._uses_sog_cog(X)
        if use.any():
            # with SOG/COG a course is known at the previous report even without a third position
            rep = self._reported(X, back=2)
            fill = use & np.isfinite(rep).all(axis=1)
            prev[fill] = rep[fill]
        dt = X.dt[:, -1]
        d = (_course(v) - _course(prev) + np.pi) % (2 * np.pi) - np.pi
        ok = np.isfinite(d) & (dt > 0) & (dt <= float(self.max_turn_gap))
        ok &= (np.linalg.norm(prev, axis=1) > 0) & (np.linalg.norm(v, axis=1) > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            om = np.where(ok, d / np.where(dt > 0, dt, 1.0), 0.0)
        lim = np.deg2rad(float(self.max_turn_deg_s))
        return np.clip(om, -lim, lim)

    def _predict(self, X: Inputs) -> np.ndarray:
        x = X.target_values[:, -1, :]
        lead = lead_times(X, series_intervals(X, self.interval_s_))  # [n, H] seconds
        out = np.repeat(x[:, None, :], len(self.horizons_), axis=1)
        v = self._velocity(X)
        speed = np.linalg.norm(v, axis=1)[:, None]
        th = _course(v)[:, None]
        om = self._turn_rate(X, v)[:, None]
        small = np.abs(om) < 1e-6
        w = np.where(small, 1.0, om)
        with np.errstate(invalid="ignore"):
            de = np.where(small, speed * lead * np.sin(th), speed / w * (np.cos(th) - np.cos(th + om * lead)))
            dn = np.where(small, speed * lead * np.cos(th), speed / w * (np.sin(th + om * lead) - np.sin(th)))
        pi = self.position_index_
        out[:, :, pi[0]] = x[:, None, pi[0]] + de
        out[:, :, pi[1]] = x[:, None, pi[1]] + dn
        return out
