"""The base forecasts the vessel model corrects, one chosen per horizon on its validation part.

No single baseline wins everywhere: SOG/COG dead reckoning is best on sparse real reports with
good SOG/COG, while at fast cadence (10 s) with metre-level GPS noise on every fix the origin
itself is noisy, and a linear regression over the last fixes, which averages that noise, beats
any forecast that starts from the origin. So the model does not assume one: per horizon it
keeps the candidate with the lowest mean Euclidean error on its validation part (the last part
of each vessel's training time), and its network learns the residual over that base.
Candidates (causal, from the input window only):

- ``dead reckoning``: SOG/COG at the origin, the last two positions where missing (the rule of
  :class:`~tsgate.baselines.dead_reckoning.DeadReckoningForecaster`);
- ``two-point``: the velocity of the last two positions;
- ``linear AR``: per horizon, a ridge regression (standardised features) of the displacement in
  the origin's along/cross-track frame on the offsets of the last ``lags`` reports to the origin,
  their intervals and two-point velocities × lead time, and the dead-reckoning speed × lead time,
  so that dead reckoning is one of its solutions. Where the window has fewer than ``LAGS``
  reports, or a reception gap among them (an interval above ``MAX_GAP_RATIO`` × their median),
  it is dead reckoning;
- ``track analogs`` (with ``track_analogs=True``): the displacement earlier vessels made from
  the same place, course and speed (:mod:`tsgate.vessel.analogs`); where too few earlier vessels
  match, the candidate the validation prefers among the others (the vessel model fills it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tsgate.data.windows import Inputs
from tsgate.vessel.analogs import ANALOGS

__all__ = ["BASES", "CORRECTED", "ORDER", "LinearBase", "two_point_velocity", "candidates", "choose", "simplest_within_one_se"]

BASES = ("dead reckoning", "two-point", "linear AR")
#: the candidate "dead reckoning + α × the network's correction", the most complex of all
CORRECTED = "dead reckoning + correction"
#: every candidate, simplest first: the analog base (where enough earlier vessels match, else
#: the best of the others) last
ORDER = (*BASES, CORRECTED, ANALOGS)
#: reports the linear base regresses on (the origin included); ridge penalty on standardised features
LAGS = 6
RIDGE = 1.0
#: the linear base is used only where no interval of its last reports exceeds this × their median
MAX_GAP_RATIO = 3.0


def two_point_velocity(X: Inputs, east: int, north: int) -> np.ndarray:
    """[n, 2] east/north velocity (m/s) of the last two reports; NaN where there are not two."""
    x = X.x
    ok = X.mask[:, -1] & X.mask[:, -2] & (X.dt[:, -1] > 0) if X.window >= 2 else np.zeros(len(X), bool)
    out = np.full((len(X), 2), np.nan)
    if X.window >= 2:
        dt = np.where(ok, X.dt[:, -1], 1.0)
        for j, c in enumerate((east, north)):
            out[:, j] = np.where(ok, (x[:, -1, c] - x[:, -2, c]) / dt, np.nan)
    return out


def _features(X: Inputs, east: int, north: int, cos: np.ndarray, sin: np.ndarray, speed: np.ndarray,
              lead: np.ndarray) -> np.ndarray:
    """[n, F] features of one horizon (lead [n] seconds); NaN rows where fewer than LAGS reports."""
    from tsgate.vessel.features import to_track

    L = min(LAGS, X.window)
    pos = np.stack([X.x[:, -L:, east], X.x[:, -L:, north]], axis=2)
    off = to_track(pos[:, :-1] - pos[:, -1:], cos, sin)  # [n, L-1, 2] m
    dt = X.dt[:, -L + 1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        vel = to_track(np.diff(pos, axis=1) / dt[:, :, None], cos, sin)  # [n, L-1, 2] m/s
    F = np.concatenate([off.reshape(len(X), -1), dt, (vel * lead[:, None, None]).reshape(len(X), -1),
                        (speed * lead)[:, None]], axis=1)
    # a window with a reception gap among its last reports is outside what a linear map of the
    # offsets extrapolates safely (a 4-min gap in a 10-s track gave 1.4 km errors at 1 min): dead reckoning there
    full = X.mask[:, -L:].all(axis=1) & (dt > 0).all(axis=1)
    full &= dt.max(axis=1) <= MAX_GAP_RATIO * np.median(np.where(dt > 0, dt, np.nan), axis=1)
    F[~full] = np.nan
    return F


@dataclass
class LinearBase:
    """Per-horizon linear maps features → (cross, along) displacement (m); ``fitted[k]`` False:
    too few training windows at horizon k (the base is NaN there)."""

    coef: np.ndarray  # [H, 2, F]
    intercept: np.ndarray  # [H, 2]
    fitted: np.ndarray  # [H] bool

    @classmethod
    def fit(cls, X: Inputs, east: int, north: int, cos: np.ndarray, sin: np.ndarray, speed: np.ndarray,
            lead: np.ndarray, track_disp: np.ndarray, known: np.ndarray, min_windows: int = 50) -> LinearBase:
        """``track_disp`` [n, H, 2]: the true (cross, along) displacement; ``known`` [n, H] the
        windows that may train each horizon."""
        from tsgate.baselines.linear import ridge_map

        H = lead.shape[1]
        coefs, icpts, fitted = [], [], []
        for k in range(H):
            F = _features(X, east, north, cos, sin, speed, lead[:, k])
            ok = known[:, k] & np.isfinite(F).all(axis=1) & np.isfinite(track_disp[:, k]).all(axis=1)
            if ok.sum() >= max(min_windows, 2 * F.shape[1]):
                c, b = ridge_map(F[ok], track_disp[ok, k], RIDGE)
                fitted.append(True)
            else:
                c, b = np.zeros((2, F.shape[1])), np.zeros(2)
                fitted.append(False)
            coefs.append(c)
            icpts.append(b)
        return cls(np.stack(coefs), np.stack(icpts), np.array(fitted, bool))

    def predict(self, X: Inputs, east: int, north: int, cos: np.ndarray, sin: np.ndarray, speed: np.ndarray,
                lead: np.ndarray) -> np.ndarray:
        """[n, H, 2] (cross, along) displacement (m); NaN where not available."""
        out = np.full((len(X), lead.shape[1], 2), np.nan)
        for k in range(lead.shape[1]):
            if self.fitted[k]:
                out[:, k] = _features(X, east, north, cos, sin, speed, lead[:, k]) @ self.coef[k].T + self.intercept[k]
        return out

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"linear/coef": self.coef, "linear/intercept": self.intercept, "linear/fitted": self.fitted.astype(np.uint8)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, Any]) -> LinearBase:
        return cls(np.asarray(arrays["linear/coef"], np.float64), np.asarray(arrays["linear/intercept"], np.float64),
                   np.asarray(arrays["linear/fitted"]).astype(bool))


def candidates(origin: np.ndarray, dr_velocity: np.ndarray, two_point: np.ndarray, linear_disp: np.ndarray | None,
               lead: np.ndarray, cos: np.ndarray, sin: np.ndarray,
               analog_disp: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Every base's [n, H, 2] east/north positions (m); a base that is NaN somewhere is dead
    reckoning there (``linear_disp``: (cross, along)), except the analog base (``analog_disp``:
    east/north displacements), NaN where too few earlier vessels match."""
    from tsgate.vessel.features import from_track

    dr = origin[:, None, :] + lead[:, :, None] * dr_velocity[:, None, :]
    out = {"dead reckoning": dr}
    two = origin[:, None, :] + lead[:, :, None] * two_point[:, None, :]
    out["two-point"] = np.where(np.isfinite(two), two, dr)
    if linear_disp is not None:
        lin = origin[:, None, :] + from_track(linear_disp, cos, sin)
        out["linear AR"] = np.where(np.isfinite(lin), lin, dr)
    if analog_disp is not None:
        out[ANALOGS] = origin[:, None, :] + analog_disp
    return out


def simplest_within_one_se(errors: np.ndarray) -> int:
    """Index of the first row of ``errors`` [candidates, pairs] (candidates ordered simplest
    first) whose mean is within one standard error of the best's, the SE taken over the paired
    differences to the best: the one-standard-error rule, so that a validation part of a few
    hundred pairs does not pick a more complex forecast for a difference it cannot resolve."""
    mean = errors.mean(axis=1)
    best = int(np.argmin(mean))
    n = errors.shape[1]
    for i in range(len(mean)):
        d = errors[i] - errors[best]
        se = float(d.std(ddof=1) / np.sqrt(n)) if n > 1 else 0.0
        if mean[i] - mean[best] <= se:
            return i
    return best


def choose(cands: dict[str, np.ndarray], y: np.ndarray, rows: np.ndarray, min_pairs: int) -> tuple[list[str], dict[str, list[float]]]:
    """Per horizon, the candidate of :data:`ORDER` chosen on ``rows`` [n, H] (known validation
    targets; ``y`` [n, H, 2]) by the mean Euclidean error (m) with the one-standard-error rule
    (:func:`simplest_within_one_se`, simplest first); dead reckoning where fewer than
    ``min_pairs`` pairs. The analog base competes only with the choice among the others, and
    wins only by more than one standard error of their paired difference (so a noisy analog
    base never changes the choice among the others); where it is NaN (no earlier vessel
    matched) it is that choice. Also returns each candidate's validation error per horizon
    (NaN where not validated)."""
    H = y.shape[1]
    names = [nm for nm in ORDER if nm in cands and nm != ANALOGS]
    errors = {name: [float("nan")] * H for name in (*names, *([ANALOGS] if ANALOGS in cands else []))}
    chosen = []
    for k in range(H):
        m = rows[:, k]
        if m.sum() < min_pairs:
            chosen.append("dead reckoning")
            continue
        per_pair = np.stack([np.linalg.norm(cands[nm][m, k] - y[m, k], axis=1) for nm in names])
        for nm, e in zip(names, per_pair):
            errors[nm][k] = float(e.mean())
        i = simplest_within_one_se(per_pair)
        chosen.append(names[i])
        if ANALOGS in cands:
            a = cands[ANALOGS][m, k]
            a = np.where(np.isfinite(a), a, cands[names[i]][m, k])
            e = np.linalg.norm(a - y[m, k], axis=1)
            errors[ANALOGS][k] = float(e.mean())
            if simplest_within_one_se(np.stack([per_pair[i], e])) == 1:
                chosen[k] = ANALOGS
    return chosen, errors
