"""Linear autoregression on the lagged window (OLS or ridge), one output per horizon and target.

Design choices (each keeps the model a fair, strong linear baseline on irregular series):

- **Increments.** The model predicts ``y(target) - y(origin)`` from lags expressed relative to
  the last value, so it is invariant to the level of the series (an AIS position far from the
  projection origin behaves like one near it) and reduces to persistence when all weights are 0.
- **Irregular sampling** (``use_dt=True``): the Δt of each step in the window (seconds), the
  finite-difference velocities ``Δy/Δt`` of each step multiplied by the horizon's lead time
  (seconds), and the lead time itself. ``velocity × lead`` makes the constant-velocity forecast
  a linear function of the features, so the model can learn dead reckoning and corrections to
  it. The lead time of a duration horizon is the duration; of a step horizon ``h`` × the
  window's mean Δt (the target's own time is not known at a real origin).
- One regression per horizon (features differ by lead time), each with one output per target,
  pooled over all series. ``alpha == 0`` fits ordinary least squares
  (``sklearn.linear_model.LinearRegression``); ``alpha > 0`` standardises the features and fits
  ``Ridge(alpha)``. Features that are nearly constant in the training windows (relative spread
  below 1e-3, e.g. Δt of resampled data) are left out (weight 0). The fitted maps are folded into plain coefficient arrays, so forecasting is
  one matrix product in numpy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tsgate.baselines.features import lead_times, mean_interval
from tsgate.data.series import IrregularSeries
from tsgate.data.windows import Inputs, require_windows
from tsgate.estimators.window import WindowForecaster
from tsgate.exceptions import ConfigError
from tsgate.params import Boolean, Duration, Integral, Interval, Real

__all__ = ["LinearARForecaster"]


class LinearARForecaster(WindowForecaster, baseline=True):
    """Linear regression of future increments on the lagged window (+ Δt features).

    Parameters
    ----------
    window
        Observations in each input (the origin included), ≥ 1.
    horizons
        Steps or durations.
    alpha
        0 → ordinary least squares; > 0 → ridge penalty on standardised features.
    use_dt
        Add the Δt (seconds), velocity × lead time and lead-time features.
    max_gap
        For duration horizons, training targets whose bracketing observations are further apart
        than this (seconds or ``"10min"``) are not used; ``None`` keeps all.
    """

    _parameter_constraints = {
        "window": [Interval(Integral, 1, None)],
        "alpha": [Interval(Real, 0, None)],
        "use_dt": [Boolean()],
        "max_gap": [Duration(), None],
    }

    def __init__(
        self,
        window: int = 8,
        horizons: Any = (1,),
        alpha: float = 0.0,
        use_dt: bool = True,
        max_gap: Any = None,
    ) -> None:
        self.window = window
        self.horizons = horizons
        self.alpha = alpha
        self.use_dt = use_dt
        self.max_gap = max_gap

    @classmethod
    def _unit_test_params(cls) -> dict[str, Any]:
        return {"window": 4, "horizons": [1, 3], "alpha": 0.1}

    # ---------------------------------------------------------------- features
    def _features(self, X: Inputs, lead: np.ndarray) -> np.ndarray:
        """Feature matrix [n, F] for one horizon with lead times ``lead`` [n] (seconds)."""
        x = X.target_values
        last = x[:, -1, :]
        parts = [(x[:, :-1, :] - last[:, None, :]).reshape(len(X), -1)]
        cov = X.covariate_values
        if cov.shape[2]:
            parts.append(cov.reshape(len(X), -1))
        if self.use_dt and X.window > 1:
            dt = X.dt[:, 1:]
            with np.errstate(invalid="ignore", divide="ignore"):
                vel = np.diff(x, axis=1) / dt[:, :, None]
            vel = np.where(dt[:, :, None] > 0, vel, 0.0)
            parts += [dt, (vel * lead[:, None, None]).reshape(len(X), -1), lead[:, None]]
        return np.concatenate(parts, axis=1)

    # ---------------------------------------------------------------- fit/predict
    def _fit(self, data: IrregularSeries) -> None:
        name = type(self).__name__
        from sklearn.linear_model import LinearRegression, Ridge
        from sklearn.preprocessing import StandardScaler

        w = self._windows(data, "all")
        require_windows(w, data, name)
        X = w.inputs
        lead = lead_times(X, mean_interval(X))
        last = X.target_values[:, -1, :]
        coefs, intercepts, n_train = [], [], []
        for k, h in enumerate(self.horizons_):
            ok = np.isfinite(w.y[:, k, :]).all(axis=1) & np.isfinite(lead[:, k])
            if not ok.any():
                raise ConfigError(
                    f"{name}: no training window has a known target at horizon {h.label}; use a shorter "
                    "horizon or window, a larger max_gap, or more data."
                )
            F = self._features(X.select(ok), lead[ok, k])
            Y = w.y[ok, k, :] - last[ok]
            # near-constant features (e.g. the Δt of resampled, almost regular data: 0.3003 s ±
            # 1e-6) carry no information but get huge weights, and blow up on any later jitter
            spread = F.std(axis=0)
            use = spread > 1e-3 * np.abs(F.mean(axis=0)) + 1e-12
            coef = np.zeros((Y.shape[1], F.shape[1]))
            if self.alpha == 0:
                reg = LinearRegression().fit(F[:, use], Y)
                coef[:, use], icpt = reg.coef_, reg.intercept_
            else:
                sc = StandardScaler().fit(F[:, use])
                reg = Ridge(alpha=float(self.alpha)).fit(sc.transform(F[:, use]), Y)
                coef[:, use] = reg.coef_ / sc.scale_[None, :]
                icpt = reg.intercept_ - coef[:, use] @ sc.mean_
            coefs.append(np.atleast_2d(coef))
            intercepts.append(np.atleast_1d(icpt))
            n_train.append(int(ok.sum()))
        self.coef_ = np.stack(coefs)  # [H, k, F]
        self.intercept_ = np.stack(intercepts)  # [H, k]
        self.n_train_windows_ = n_train

    def _predict(self, X: Inputs) -> np.ndarray:
        lead = lead_times(X, mean_interval(X))
        last = X.target_values[:, -1, :]
        out = np.empty((len(X), len(self.horizons_), len(self.targets_)))
        for k in range(len(self.horizons_)):
            out[:, k] = last + self._features(X, lead[:, k]) @ self.coef_[k].T + self.intercept_[k]
        return out

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"n_train_windows": self.n_train_windows_}, {"coef": self.coef_, "intercept": self.intercept_}

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.coef_ = np.asarray(arrays["coef"], dtype=np.float64)
        self.intercept_ = np.asarray(arrays["intercept"], dtype=np.float64)
        self.n_train_windows_ = list(meta["n_train_windows"])
