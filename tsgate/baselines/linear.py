"""Linear autoregression on the lagged window (OLS or ridge), one output per horizon and target.

Design choices (each keeps the model a fair, strong linear baseline on irregular series):

- **Increments.** The model predicts ``y(target) - y(origin)`` from lags expressed relative to
  the last value, so it is invariant to the level of the series (an AIS position far from the
  projection origin behaves like one near it, a drifting marker like a still one) and reduces to
  persistence when all weights are 0.
- **Irregular sampling** (``use_dt``): the Δt of each step in the window (seconds), the
  finite-difference velocities ``Δy/Δt`` of each step multiplied by the horizon's lead time
  (seconds), and the lead time itself. ``velocity × lead`` makes the constant-velocity forecast
  a linear function of the features, so the model can learn dead reckoning and corrections to
  it. The lead time of a duration horizon is the duration; of a step horizon ``h`` × the
  window's mean Δt (the target's own time is not known at a real origin). ``use_dt="auto"``
  offers these features only when the spacing varies (coefficient of variation of the training
  intervals above 0.1: AIS yes; a jittered 10 Hz clock or calendar months no), and then only
  if they win on validation.
- **Chosen on validation** (``window="auto"``, ``alpha="auto"``): the last 20 % of each series'
  training origins (by time) validate, with every training target revealed before them
  (:func:`tsgate.data.splits.validation_cut`); the window, the ridge penalty and ``use_dt``
  with the lowest validation nRMSE (mean over horizons) are refitted on every training window.
  Ridge paths come from one SVD per candidate, so the search costs about one fit per window.
- One regression per horizon (features differ by lead time), each with one output per target,
  pooled over all series. ``alpha == 0`` fits ordinary least squares
  (``sklearn.linear_model.LinearRegression``); ``alpha > 0`` standardises the features and fits
  ``Ridge(alpha)``. Features that are nearly constant in the training windows (relative spread
  below 1e-3, e.g. Δt of resampled data) are left out (weight 0). The fitted maps are folded
  into plain coefficient arrays, so forecasting is one matrix product in numpy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tsgate.baselines.features import lead_times, mean_interval
from tsgate.data.series import IrregularSeries
from tsgate.data.splits import validation_cut
from tsgate.data.windows import Inputs, make_windows, require_windows
from tsgate.estimators.window import WindowForecaster
from tsgate.exceptions import ConfigError
from tsgate.params import Boolean, Duration, Integral, Interval, Options, Real

__all__ = ["LinearARForecaster", "AUTO_WINDOWS", "AUTO_ALPHAS", "ridge_map"]

#: windows (observations, origin included) and ridge penalties tried by ``"auto"``
AUTO_WINDOWS = (2, 4, 8, 16, 32, 64)
AUTO_ALPHAS = (0.0, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3, 1e4)
_IRREGULAR_CV = 0.1  # coefficient of variation of the intervals above which use_dt="auto" tries Δt features
_VAL_FRACTION = 0.2
_MIN_VAL = 10  # fewer validation windows: no search (window 8 or less, alpha 1, no Δt)


class LinearARForecaster(WindowForecaster, baseline=True):
    """Linear regression of future increments on the lagged window (+ Δt features).

    Parameters
    ----------
    window
        Observations in each input (the origin included), ≥ 1, or ``"auto"`` (chosen on
        validation among :data:`AUTO_WINDOWS`).
    horizons
        Steps or durations.
    alpha
        0 → ordinary least squares; > 0 → ridge penalty on standardised features; ``"auto"``:
        chosen on validation among :data:`AUTO_ALPHAS`.
    use_dt
        Add the Δt (seconds), velocity × lead time and lead-time features; ``"auto"``: only when
        the sampling is irregular and they win on validation.
    lag_step
        Use every ``lag_step``-th observation of the window (e.g. 3 at 30 Hz: lags 0.1 s apart).
    max_gap
        For duration horizons, training targets whose bracketing observations are further apart
        than this (seconds or ``"10min"``) are not used; ``None`` keeps all.
    """

    _parameter_constraints = {
        "window": [Interval(Integral, 1, None), Options("auto")],
        "alpha": [Interval(Real, 0, None), Options("auto")],
        "use_dt": [Boolean(), Options("auto")],
        "lag_step": [Interval(Integral, 1, None)],
        "max_gap": [Duration(), None],
    }

    def __init__(
        self,
        window: int | str = "auto",
        horizons: Any = (1,),
        alpha: float | str = "auto",
        use_dt: bool | str = "auto",
        lag_step: int = 1,
        max_gap: Any = None,
    ) -> None:
        self.window = window
        self.horizons = horizons
        self.alpha = alpha
        self.use_dt = use_dt
        self.lag_step = lag_step
        self.max_gap = max_gap

    @classmethod
    def _unit_test_params(cls) -> dict[str, Any]:
        return {"window": 4, "horizons": [1, 3], "alpha": 0.1}

    def _length(self, window: int) -> int:
        return (int(window) - 1) * int(self.lag_step) + 1

    def _window_length(self) -> int:
        if hasattr(self, "window_"):
            return self._length(self.window_)
        return self._length(max(AUTO_WINDOWS) if self.window == "auto" else self.window)

    # ---------------------------------------------------------------- features
    def _features(self, X: Inputs, lead: np.ndarray, window: int | None = None, use_dt: bool | None = None) -> np.ndarray:
        """Feature matrix [n, F] for one horizon with lead times ``lead`` [n] (seconds).

        ``window`` (observations) reads the last ones of longer input windows, every ``lag_step``-th.
        """
        w = self.window_ if window is None else window
        dt_on = self.use_dt_ if use_dt is None else use_dt
        idx = np.arange(X.window - 1, X.window - 1 - self._length(w), -int(self.lag_step))[::-1]
        x = X.target_values[:, idx, :]
        last = x[:, -1, :]
        parts = [(x[:, :-1, :] - last[:, None, :]).reshape(len(X), -1)]
        cov = X.covariate_values[:, idx, :]
        if cov.shape[2]:
            parts.append(cov.reshape(len(X), -1))
        if dt_on and len(idx) > 1:
            dt = np.diff(X.t[:, idx], axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                vel = np.diff(x, axis=1) / dt[:, :, None]
            vel = np.where(dt[:, :, None] > 0, vel, 0.0)
            parts += [dt, (vel * lead[:, None, None]).reshape(len(X), -1), lead[:, None]]
        return np.concatenate(parts, axis=1)

    # ---------------------------------------------------------------- fit/predict
    def _fit(self, data: IrregularSeries) -> None:
        name = type(self).__name__
        cands = self._candidates(data)
        length = max(self._length(w) for w, _ in cands)
        win = make_windows(data, length, self.horizons_, max_gap=self._max_gap(), min_history=length, targets="optional")
        require_windows(win, data, name)
        choice = self._select(win, cands) if len(cands) > 1 or self.alpha == "auto" else None
        if choice is None:
            self.window_ = int(cands[0][0])
            self.use_dt_ = bool(cands[0][1])
            self.alpha_ = 1.0 if self.alpha == "auto" else float(self.alpha)
        else:
            self.window_, self.use_dt_, self.alpha_, score = choice
            self.fit_report_.append({"window": self.window_, "use_dt": self.use_dt_, "alpha": self.alpha_,
                                     "validation_nrmse": score})
        # refit on every training window of the chosen length
        w = make_windows(data, self._length(self.window_), self.horizons_, max_gap=self._max_gap(),
                         min_history=self._length(self.window_), targets="optional")
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
            coef, icpt = self._solve(self._features(X.select(ok), lead[ok, k]), w.y[ok, k, :] - last[ok], self.alpha_)
            coefs.append(coef)
            intercepts.append(icpt)
            n_train.append(int(ok.sum()))
        self.coef_ = np.stack(coefs)  # [H, k, F]
        self.intercept_ = np.stack(intercepts)  # [H, k]
        self.n_train_windows_ = n_train

    @staticmethod
    def _solve(F: np.ndarray, Y: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
        return ridge_map(F, Y, alpha)

    def _candidates(self, data: IrregularSeries) -> list[tuple[int, bool]]:
        """(window, use_dt) pairs to try: the fixed ones, or the auto grid that the data can fill."""
        sizes = [len(g.time_s) for g in data.groups()]
        if self.window == "auto":
            fit_in = [w for w in AUTO_WINDOWS if self._length(w) <= max(2, min(sizes) // 3)]
            windows = fit_in or [min(AUTO_WINDOWS)]
        else:
            windows = [int(self.window)]
        if self.use_dt == "auto":
            d = np.concatenate([np.diff(g.time_s) for g in data.groups()])
            d = d[d > 0]
            irregular = len(d) > 1 and float(d.std() / d.mean()) > _IRREGULAR_CV
            dts = [False, True] if irregular else [False]
        else:
            dts = [bool(self.use_dt)]
        return [(w, u) for w in windows for u in dts]

    def _select(self, win: Any, cands: list[tuple[int, bool]]) -> tuple[int, bool, float, float] | None:
        """The (window, use_dt, alpha) with the lowest validation nRMSE, and that score."""
        known = np.isfinite(win.y).all(axis=2)  # [n, H]
        win = win.select(known.any(axis=1))
        known = known[known.any(axis=1)]
        X = win.inputs
        rt = np.where(np.isfinite(win.reveal_time), win.reveal_time, -np.inf)  # unknown targets are not learned
        _, keep, val = validation_cut(X.origin_time, rt, X.series_index, _VAL_FRACTION)
        train = keep.all(axis=1)  # every horizon's target revealed by the cut: one fit for all horizons
        if (val & known.all(axis=1)).sum() < _MIN_VAL or (train & known.all(axis=1)).sum() < _MIN_VAL:
            return None
        alphas = AUTO_ALPHAS if self.alpha == "auto" else (float(self.alpha),)
        lead = lead_times(X, mean_interval(X))
        last = X.target_values[:, -1, :]
        best: tuple[float, int, bool, float] | None = None
        for w, use_dt in cands:
            scores = np.zeros(len(alphas))
            for k in range(len(self.horizons_)):
                tr, va = train & known[:, k], val & known[:, k]
                F = self._features(X, np.nan_to_num(lead[:, k]), window=w, use_dt=use_dt)
                R = win.y[:, k, :] - last
                scores += _ridge_path_nrmse(F[tr], R[tr], F[va], R[va], win.y[va, k, :], alphas)
            j = int(np.argmin(scores))
            if best is None or scores[j] < best[0]:
                best = (float(scores[j]), w, use_dt, alphas[j])
        assert best is not None
        return best[1], best[2], best[3], best[0] / len(self.horizons_)

    def _predict(self, X: Inputs) -> np.ndarray:
        lead = lead_times(X, mean_interval(X))
        last = X.target_values[:, -1, :]
        out = np.empty((len(X), len(self.horizons_), len(self.targets_)))
        for k in range(len(self.horizons_)):
            out[:, k] = last + self._features(X, lead[:, k]) @ self.coef_[k].T + self.intercept_[k]
        return out

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {"n_train_windows": self.n_train_windows_, "window": self.window_, "use_dt": self.use_dt_, "alpha": self.alpha_}
        return meta, {"coef": self.coef_, "intercept": self.intercept_}

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.coef_ = np.asarray(arrays["coef"], dtype=np.float64)
        self.intercept_ = np.asarray(arrays["intercept"], dtype=np.float64)
        self.n_train_windows_ = list(meta["n_train_windows"])
        self.window_, self.use_dt_, self.alpha_ = int(meta["window"]), bool(meta["use_dt"]), float(meta["alpha"])


def ridge_map(F: np.ndarray, Y: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients [k, F] and intercepts [k] of ``Y ≈ F @ coef.T + intercept``: ordinary least
    squares for ``alpha == 0``, else ridge on standardised features (folded back to raw units)."""
    from sklearn.linear_model import LinearRegression, Ridge
    from sklearn.preprocessing import StandardScaler

    # near-constant features (e.g. the Δt of resampled, almost regular data: 0.3003 s ±
    # 1e-6) carry no information but get huge weights, and blow up on any later jitter
    use = _informative(F)
    coef = np.zeros((Y.shape[1], F.shape[1]))
    if alpha == 0:
        reg = LinearRegression().fit(F[:, use], Y)
        coef[:, use], icpt = reg.coef_, reg.intercept_
    else:
        sc = StandardScaler().fit(F[:, use])
        reg = Ridge(alpha=float(alpha)).fit(sc.transform(F[:, use]), Y)
        coef[:, use] = reg.coef_ / sc.scale_[None, :]
        icpt = reg.intercept_ - coef[:, use] @ sc.mean_
    return np.atleast_2d(coef), np.atleast_1d(icpt)


def _informative(F: np.ndarray) -> np.ndarray:
    return F.std(axis=0) > 1e-3 * np.abs(F.mean(axis=0)) + 1e-12


def _ridge_path_nrmse(Ft: np.ndarray, Rt: np.ndarray, Fv: np.ndarray, Rv: np.ndarray, Yv: np.ndarray,
                      alphas: tuple[float, ...]) -> np.ndarray:
    """Validation nRMSE of ridge on standardised features for every alpha (one SVD)."""
    use = _informative(Ft)
    mu, sd = Ft[:, use].mean(axis=0), Ft[:, use].std(axis=0)
    A = (Ft[:, use] - mu) / sd
    B = (Fv[:, use] - mu) / sd
    r_mu = Rt.mean(axis=0)
    U, s, Vt = np.linalg.svd(A, full_matrices=False)
    Z = U.T @ (Rt - r_mu)
    den = float(((Yv - Yv.mean(axis=0)) ** 2).sum())
    out = np.empty(len(alphas))
    for i, a in enumerate(alphas):
        d = np.where(s > 1e-10 * s.max(), s / (s * s + a), 0.0) if a > 0 else np.where(s > 1e-10 * s.max(), 1.0 / np.maximum(s, 1e-300), 0.0)
        pred = B @ (Vt.T @ (d[:, None] * Z)) + r_mu
        out[i] = np.sqrt(float(((pred - Rv) ** 2).sum()) / den) if den > 0 else np.inf
    return out
