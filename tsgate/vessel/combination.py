"""Per-horizon forecast combination: a convex mix of the vessel model's candidate forecasts.

At 15-30 min in a harbour a vessel's current velocity says little about where it will be: on
NY Harbor's test half (global cut) the true 30-min displacement projects onto the dead-reckoning
displacement with a median factor of 0.01, ferries shuttle, tugs stop and turn. ARIMA(2,1,0)
beats dead reckoning by 30-45 % there because its forecast hardly moves (its displacement is a
median 0.02-0.04 of dead reckoning's at 15-30 min): it is close to persistence. No single
candidate shrinks the extrapolation, so the vessel model may instead forecast a convex
combination of its candidates' displacements from the origin, with persistence (zero
displacement) among them: ``w · dead reckoning + (1 − w) · origin`` is damped dead reckoning,
and the track analogs can share the weight.

Per horizon the weights (≥ 0, summing to 1) minimise the mean Euclidean error (m) on the
validation part (:func:`fit_weights`, SLSQP on a smoothed error). The combination replaces the
single chosen candidate only where it wins in a cross-fit over vessels (:func:`cross_fit`: the
weights fitted on one half of the validation vessels score the other half, and the other way
round) by more than one standard error of the paired difference, the standard error taken over
vessels (errors of one vessel's consecutive origins are correlated, so a standard error over
pairs would be too small). A horizon with too few validation pairs takes the combination of the
nearest validated horizon (the longer one on a tie) where that horizon uses one; the fit report
says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tsgate.vessel.analogs import ANALOGS
from tsgate.vessel.bases import CORRECTED

__all__ = ["PERSISTENCE", "Combination", "fit_weights", "cross_fit", "clustered_se", "combine"]

#: the member with zero displacement (the origin itself)
PERSISTENCE = "persistence"
#: smoothing of the Euclidean error (m) so that its gradient is defined at zero error
_EPS_M = 1.0
#: each half of the cross-fit needs this many validation vessels
MIN_FOLD_VESSELS = 2


def _objective(w: np.ndarray, D: np.ndarray, T: np.ndarray) -> tuple[float, np.ndarray]:
    r = np.einsum("c,cmj->mj", w, D) - T
    e = np.sqrt((r**2).sum(axis=1) + _EPS_M**2)
    grad = np.einsum("cmj,mj->c", D, r / e[:, None]) / len(e)
    return float(e.mean()), grad


def fit_weights(D: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Convex weights [C] (≥ 0, sum 1) of the member displacements ``D`` [C, m, 2] (m) with the
    lowest mean Euclidean error to the true displacements ``T`` [m, 2] (m). Started from every
    member alone and from equal weights; the best local solution is kept."""
    from scipy.optimize import minimize

    C = D.shape[0]
    starts = [np.full(C, 1.0 / C), *np.eye(C)]
    best, best_f = starts[1], np.inf
    cons = ({"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones_like(w)},)
    for w0 in starts:
        res = minimize(_objective, w0, args=(D, T), jac=True, method="SLSQP", bounds=[(0.0, 1.0)] * C,
                       constraints=cons, options={"maxiter": 200, "ftol": 1e-9})
        w = np.clip(np.asarray(res.x, np.float64), 0.0, None)
        w = w / w.sum() if w.sum() > 0 else w0
        f = _objective(w, D, T)[0]
        if f < best_f:
            best, best_f = w, f
    best[best < 1e-6] = 0.0
    return best / best.sum()


def _halves(vessel: np.ndarray) -> np.ndarray:
    """Fold (0/1) of each pair: the validation vessels split in two by a fixed permutation."""
    ids = np.unique(vessel)
    perm = np.random.default_rng(0).permutation(len(ids))
    fold_of = np.zeros(len(ids), np.int64)
    fold_of[perm[len(ids) // 2:]] = 1
    return fold_of[np.searchsorted(ids, vessel)]


def cross_fit(D: np.ndarray, T: np.ndarray, vessel: np.ndarray) -> np.ndarray | None:
    """[m, 2] the combination's displacement (m) at each pair with weights fitted on the other
    half of the vessels (None where a half has fewer than :data:`MIN_FOLD_VESSELS` vessels)."""
    fold = _halves(vessel)
    out = np.full(T.shape, np.nan)
    for f in (0, 1):
        train, test = fold != f, fold == f
        if len(np.unique(vessel[train])) < MIN_FOLD_VESSELS or len(np.unique(vessel[test])) < MIN_FOLD_VESSELS:
            return None
        w = fit_weights(D[:, train], T[train])
        out[test] = np.einsum("c,cmj->mj", w, D[:, test])
    return out


def clustered_se(d: np.ndarray, vessel: np.ndarray) -> float:
    """Standard error of the mean of ``d`` [m] with the pairs of one vessel as one cluster."""
    n = len(d)
    _, code = np.unique(vessel, return_inverse=True)
    g = int(code.max()) + 1 if n else 0
    if g < 2:
        return float("inf")
    sums = np.bincount(code, weights=d - d.mean(), minlength=g)
    return float(np.sqrt(g / (g - 1) * (sums**2).sum()) / n)


@dataclass
class Combination:
    """Per-horizon convex weights over ``members`` (candidate names); ``used[k]`` False: horizon
    k forecasts by its single chosen candidate. ``alpha`` [H]: the network-correction scale of the
    corrected member; ``analog_fallback`` [H]: the member the analog member falls back to where no
    earlier vessel matches; ``source`` [H]: the horizon label whose weights horizon k uses."""

    members: list[str]
    weights: np.ndarray  # [H, C]
    used: np.ndarray  # [H] bool
    alpha: np.ndarray  # [H]
    analog_fallback: list[str]
    source: list[str | None] = field(default_factory=list)

    def needs(self, name: str) -> bool:
        """Whether some used horizon gives the member ``name`` a positive weight."""
        if name not in self.members:
            return False
        return bool((self.weights[self.used, self.members.index(name)] > 0).any())

    def requires(self) -> set[str]:
        """The members a forecast needs: those with a positive weight at a used horizon, and the
        fallbacks of the analog member at the horizons that weight it."""
        need = {nm for nm in self.members if self.needs(nm)}
        if ANALOGS in need:
            c = self.members.index(ANALOGS)
            need |= {self.analog_fallback[k] for k in np.flatnonzero(self.used & (self.weights[:, c] > 0))}
        return need

    def positions(self, cands: dict[str, np.ndarray], origin: np.ndarray, dr_correction: np.ndarray | None) -> dict[str, np.ndarray]:
        """The members' [n, H, 2] positions at forecast time from the model's base forecasts
        ``cands`` (the analog base NaN where no earlier vessel matched) and the network's
        correction in east/north metres before α (``dr_correction`` [n, H, 2], None without a
        network)."""
        need = self.requires()
        out = {nm: cands[nm] for nm in need if nm in cands}
        if CORRECTED in need:
            dr = cands["dead reckoning"]
            out[CORRECTED] = dr if dr_correction is None else dr + self.alpha[None, :, None] * dr_correction
        if PERSISTENCE in need:
            out[PERSISTENCE] = np.repeat(origin[:, None, :], len(self.used), axis=1)
        if ANALOGS in need:
            ana = out[ANALOGS].copy()
            for k in np.flatnonzero(self.used & (self.weights[:, self.members.index(ANALOGS)] > 0)):
                miss = ~np.isfinite(ana[:, k]).all(axis=1)
                ana[miss, k] = out[self.analog_fallback[k]][miss, k]
            out[ANALOGS] = ana
        return out

    def apply(self, members: dict[str, np.ndarray], origin: np.ndarray) -> np.ndarray:
        """[n, H, 2] combined positions (m) from the members' positions [n, H, 2] (NaN where a
        horizon is not combined)."""
        n, H = len(origin), len(self.used)
        out = np.full((n, H, 2), np.nan)
        for k in np.flatnonzero(self.used):
            disp = np.zeros((n, 2))
            for c, nm in enumerate(self.members):
                if self.weights[k, c] > 0:
                    disp += self.weights[k, c] * (members[nm][:, k] - origin)
            out[:, k] = origin + disp
        return out

    def to_meta(self) -> dict[str, Any]:
        return {"members": list(self.members), "weights": self.weights.tolist(), "used": self.used.tolist(),
                "alpha": self.alpha.tolist(), "analog_fallback": list(self.analog_fallback), "source": list(self.source)}

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> Combination:
        comb = cls([str(m) for m in meta["members"]], np.asarray(meta["weights"], np.float64),
                   np.asarray(meta["used"], bool), np.asarray(meta["alpha"], np.float64),
                   [str(m) for m in meta["analog_fallback"]], list(meta.get("source", [])))
        H, C = len(comb.used), len(comb.members)
        if comb.weights.shape != (H, C) or comb.alpha.shape != (H,) or len(comb.analog_fallback) != H:
            raise ValueError(f"the combination's weights {comb.weights.shape}, alpha {comb.alpha.shape} and "
                             f"{len(comb.analog_fallback)} fallbacks do not match {H} horizons and {C} members")
        if (comb.weights < 0).any() or not np.allclose(comb.weights.sum(axis=1)[comb.used], 1.0, atol=1e-6):
            raise ValueError("the combination's weights are not non-negative and summing to 1")
        return comb


def _nearest(k: int, validated: np.ndarray) -> int | None:
    idx = np.flatnonzero(validated)
    if not len(idx):
        return None
    dist = np.abs(idx - k)
    return int(idx[dist == dist.min()].max())  # the longer horizon on a tie


def combine(members: dict[str, np.ndarray], single: np.ndarray, origin: np.ndarray, y: np.ndarray, rows: np.ndarray,
            vessel: np.ndarray, labels: list[str], min_pairs: int, alpha: np.ndarray,
            analog_fallback: list[str]) -> tuple[Combination, dict[str, Any], np.ndarray]:
    """Fit the per-horizon combination on the validation ``rows`` [n, H] (known targets ``y``
    [n, H, 2] m; ``members`` name → [n, H, 2] positions; ``single`` [n, H, 2] the chosen single
    candidate's positions; ``vessel`` [n] series codes). Returns it, the report for
    ``fit_report_`` and the held-out forecasts [n, H, 2]: ``single``, and where the combination
    is used its cross-fitted positions on the validation rows (the bands calibrate on them)."""
    names = list(members)
    H = len(labels)
    W = np.zeros((H, len(names)))
    used = np.zeros(H, bool)
    validated = np.zeros(H, bool)
    source: list[str | None] = [None] * H
    report: dict[str, Any] = {"members": names, "weights": {}, "cross_fit_error_m": {}, "single_error_m": {},
                              "se_m": {}, "used": {}}
    held = single.copy()
    for k, lab in enumerate(labels):
        # a pair enters only where every member forecast it (they are finite by construction)
        m = rows[:, k] & np.all([np.isfinite(members[nm][:, k]).all(axis=1) for nm in names], axis=0)
        m &= np.isfinite(single[:, k]).all(axis=1)
        if m.sum() < min_pairs:
            continue
        validated[k] = True
        D = np.stack([members[nm][m, k] - origin[m] for nm in names])
        T = y[m, k] - origin[m]
        W[k] = fit_weights(D, T)
        report["weights"][lab] = dict(zip(names, np.round(W[k], 3).tolist()))
        oof = cross_fit(D, T, vessel[m])
        if oof is None:
            report["used"][lab] = "no (too few vessels to cross-fit)"
            continue
        e_single = np.linalg.norm(single[m, k] - y[m, k], axis=1)
        cf = np.linalg.norm(oof - T, axis=1)
        d = e_single - cf
        se = clustered_se(d, vessel[m])
        used[k] = bool(d.mean() > se)
        source[k] = lab if used[k] else None
        if used[k]:
            held[np.flatnonzero(m), k] = origin[m] + oof
        report["cross_fit_error_m"][lab] = round(float(cf.mean()), 3)
        report["single_error_m"][lab] = round(float(e_single.mean()), 3)
        report["se_m"][lab] = round(se, 3)
        report["used"][lab] = "yes" if used[k] else "no (not better by one standard error)"
    for k, lab in enumerate(labels):
        if validated[k]:
            continue
        j = _nearest(k, validated)
        if j is not None and used[j]:
            W[k], used[k], source[k] = W[j], True, labels[j]
            alpha = alpha.copy()
            alpha[k] = alpha[j]
            report["used"][lab] = (f"yes: fewer than {min_pairs} validation pairs, the weights of the nearest "
                                   f"validated horizon {labels[j]}")
    comb = Combination(names, W, used, np.asarray(alpha, np.float64).copy(), list(analog_fallback), source)
    transferred = used & ~validated
    if transferred.any():
        held[:, transferred] = comb.apply(members, origin)[:, transferred]
    return comb, report, held
