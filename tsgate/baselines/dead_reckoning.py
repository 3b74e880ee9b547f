"""Dead reckoning: the constant-velocity forecast every maritime user knows.

Positions are local metric coordinates (``east_m``, ``north_m`` in metres, as produced by the
AIS adapter). The position at the origin is moved on at a constant velocity for the lead time
``target_time - origin_time`` (seconds). The velocity comes from

- ``method="auto"`` (default): per series, SOG/COG where the series has them (any finite pair
  in its training rows), the last two positions otherwise; ``fit_report_`` lists each series'
  method and the share of its training rows with SOG/COG, so the choice is never hidden;
- ``method="sog_cog"``: the last reported speed over ground (knots) and course over ground
  (degrees clockwise from north): ``v_east = sog · 1852/3600 · sin(cog)``,
  ``v_north = sog · 1852/3600 · cos(cog)``; where SOG or COG is missing (NaN) at the origin the
  two-point velocity is used instead, and if that is unavailable too the forecast is NaN;
- ``method="two_points"``: the last two positions, ``(p_o - p_{o-1}) / (t_o - t_{o-1})``.

Duration horizons (``"5min"``) are the natural ones for AIS. A step horizon ``h`` has no known
lead time at the origin (the next reports have not arrived): it is ``h`` × the series' typical
reporting interval, the median interval between consecutive training reports of that vessel
(``interval_s_``; the median over all fitted vessels for one not seen in fit). Targets other
than the position columns are forecast by persistence.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tsgate.adapters.geo import KNOT_M_S
from tsgate.baselines.features import lead_times, series_intervals, typical_intervals
from tsgate.data.columns import plain
from tsgate.data.series import IrregularSeries
from tsgate.data.windows import Inputs
from tsgate.estimators.window import WindowForecaster
from tsgate.exceptions import SchemaError
from tsgate.params import Names, Options

__all__ = ["DeadReckoningForecaster", "KNOT_M_S"]

_METHODS = ("auto", "sog_cog", "two_points")


class DeadReckoningForecaster(WindowForecaster, baseline=True, per_series=True):
    """Constant-velocity forecast of a 2-D position (metres).

    Parameters
    ----------
    method
        ``"auto"`` (per series: SOG/COG where present, else two points; see the module),
        ``"sog_cog"`` (velocity from the covariates ``sog_col`` in knots and ``cog_col`` in
        degrees) or ``"two_points"`` (velocity from the last two positions).
    horizons
        Durations (``["1min", "15min"]``) or steps.
    position_cols
        The east and north target columns, metres.
    sog_col, cog_col
        Covariate columns with speed over ground (knots) and course over ground (degrees from
        north, clockwise); used by ``method="sog_cog"``.
    """

    _parameter_constraints = {
        "method": [Options(*_METHODS)],
        "position_cols": [Names(2)],
    }

    def __init__(
        self,
        method: str = "auto",
        horizons: Any = ("1min",),
        position_cols: tuple[str, str] = ("east_m", "north_m"),
        sog_col: str = "sog_kn",
        cog_col: str = "cog_deg",
    ) -> None:
        self.method = method
        self.horizons = horizons
        self.position_cols = position_cols
        self.sog_col = sog_col
        self.cog_col = cog_col

    @classmethod
    def _unit_test_params(cls) -> dict[str, Any]:
        return {"method": "two_points", "horizons": ["30s", "2min"]}

    def _window_length(self) -> int:
        return 2

    def _min_history(self) -> int:
        # two points are needed for a two-point velocity; SOG/COG needs only the origin
        return 1 if self.method == "sog_cog" else 2  # "auto" may need the two-point velocity

    def _fit(self, data: IrregularSeries) -> None:
        cols = list(self.position_cols)
        missing = [c for c in cols if c not in data.targets]
        if missing:
            raise SchemaError(
                f"dead reckoning needs the position targets {cols} (metres); the data's targets are "
                f"{list(data.targets)}. Pass position_cols=(east, north) naming your columns.",
                file=data.source,
                column=missing[0],
            )
        self.position_index_ = [data.targets.index(c) for c in cols]
        if self.method == "sog_cog":
            missing = [c for c in (self.sog_col, self.cog_col) if c not in data.covariates]
            if missing:
                raise SchemaError(
                    f"method='sog_cog' needs the covariates {[self.sog_col, self.cog_col]} (knots, degrees); "
                    f"the data has covariates {list(data.covariates)}. Load them as covariates, or use "
                    "method='two_points' (velocity from the last two positions).",
                    file=data.source,
                    column=missing[0],
                )
        has_cov = all(c in data.covariates for c in (self.sog_col, self.cog_col))
        if has_cov:
            k = len(data.targets)
            self.sog_index_ = k + data.covariates.index(self.sog_col)
            self.cog_index_ = k + data.covariates.index(self.cog_col)
        self.methods_ = self._series_methods(data, has_cov)
        self.interval_s_ = typical_intervals(data)

    def _series_methods(self, data: IrregularSeries, has_cov: bool) -> dict[Any, str]:
        """The velocity each series uses, reported in ``fit_report_`` (one row per series)."""
        out: dict[Any, str] = {}
        for g in data.groups():
            share = 0.0
            if has_cov:
                sog, cog = g.covariates[:, data.covariates.index(self.sog_col)], g.covariates[:, data.covariates.index(self.cog_col)]
                share = float(np.mean(np.isfinite(sog) & np.isfinite(cog))) if len(sog) else 0.0
            method = self.method if self.method != "auto" else ("sog_cog" if share > 0 else "two_points")
            out[g.series_id] = method
            self.fit_report_.append({"series": g.series_id, "method": method, "sog_cog_share": share})
        return out

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {"position_index": list(self.position_index_), "intervals": [[plain(s), v] for s, v in self.interval_s_.items()],
                "methods": [[plain(s), m] for s, m in self.methods_.items()]}
        if hasattr(self, "sog_index_"):
            meta.update(sog_index=self.sog_index_, cog_index=self.cog_index_)
        return meta, {}

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.position_index_ = [int(i) for i in meta["position_index"]]
        self.interval_s_ = {s: float(v) for s, v in meta["intervals"]}
        self.methods_ = {s: str(m) for s, m in meta.get("methods", [])}
        if "sog_index" in meta:
            self.sog_index_, self.cog_index_ = int(meta["sog_index"]), int(meta["cog_index"])

    def _two_point(self, X: Inputs, back: int = 1) -> np.ndarray:
        """[n, 2] east/north velocity (m/s) between the reports ``back`` and ``back + 1`` before
        the end of each window (``back=1``: the last two); NaN where one is missing."""
        pi = self.position_index_
        x = X.x
        dt = X.dt[:, -back]
        ok = X.mask[:, -back - 1] & (dt > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            v2 = (x[:, -back, pi] - x[:, -back - 1, pi]) / dt[:, None]
        v2[~ok] = np.nan
        return v2

    def _reported(self, X: Inputs, back: int = 1) -> np.ndarray:
        """[n, 2] velocity (m/s) from SOG/COG ``back`` reports before the end (NaN where missing)."""
        x = X.x
        sog = x[:, -back, self.sog_index_] * KNOT_M_S
        cog = np.deg2rad(x[:, -back, self.cog_index_])
        v = np.stack([sog * np.sin(cog), sog * np.cos(cog)], axis=1)
        v[~X.mask[:, -back]] = np.nan
        return v

    def _uses_sog_cog(self, X: Inputs) -> np.ndarray:
        """[n] whether each window's series takes its velocity from SOG/COG."""
        if not hasattr(self, "sog_index_"):
            return np.zeros(len(X), bool)
        default = "two_points" if self.method == "two_points" else "sog_cog"  # series not seen in fit
        return np.array([self.methods_.get(s, default) == "sog_cog" for s in X.ids], dtype=bool)

    def _velocity(self, X: Inputs, back: int = 1) -> np.ndarray:
        """[n, 2] east/north velocity in m/s (NaN where it cannot be known)."""
        v2 = self._two_point(X, back)
        use = self._uses_sog_cog(X)
        if not use.any():
            return v2
        v = self._reported(X, back)
        bad = ~np.isfinite(v).all(axis=1) | ~use
        v[bad] = v2[bad]
        return v

    def _predict(self, X: Inputs) -> np.ndarray:
        x = X.target_values[:, -1, :]
        lead = lead_times(X, series_intervals(X, self.interval_s_))  # [n, H] seconds
        out = np.repeat(x[:, None, :], len(self.horizons_), axis=1)
        v = self._velocity(X)
        pi = self.position_index_
        out[:, :, pi] = x[:, None, pi] + lead[:, :, None] * v[:, None, :]
        return out
