"""Per-horizon online stacking: recursive least squares on forecasts and recent lags.

For horizon j the forecast is ``f W_j`` with features ``f`` (d values: the combined base
forecasts of the k targets, recent relative lags, a constant) and weights ``W_j`` [d, k]. Each
horizon's weights start at the prior mean ``W0`` (identity on the first k features: the
stacked forecast starts as the combined forecast) and are the exact ridge solution around
that prior over every pair learned so far:

    W_j = argmin  sum_pairs |y - f W|^2 + prior |W - W0|^2

updated one pair at a time (rank-1 RLS, ``P_j`` = inverse Gram matrix, d x d, shared by the k
outputs). A pair whose error, gain or update is not finite, or that would make ``P_j`` lose its
positive diagonal, is refused and counted; the horizon is left as it was.

Cost: one call updates every horizon it is given at once (batched matrix products, rank-1
outer products written straight into preallocated buffers, no temporary of P's size). When more
than a few horizons learn, the others ride along in place with zero features and a zero target,
which is an exact no-op of the RLS update (gain 0), so no weights are copied in or out.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from tsgate.exceptions import ModelFileError, OnlineUpdateWarning

__all__ = ["HorizonStacker"]

_GATHER_BELOW = 4  # fewer pairs than this: update copies of their horizons instead of all in place


class HorizonStacker:
    """Multi-output RLS per horizon with an identity prior on the first ``n_targets`` features."""

    def __init__(self, n_horizons: int, n_targets: int, n_features: int, prior: float) -> None:
        self.H, self.k, self.d = int(n_horizons), int(n_targets), int(n_features)
        self.prior = float(prior)
        self.W = np.zeros((self.H, self.d, self.k))
        self.W[:, : self.k, :] = np.eye(self.k)[None]
        self.P = np.repeat((np.eye(self.d) / self.prior)[None], self.H, axis=0)
        self.n_learned = 0
        self.n_refused = 0
        # work arrays of the all-horizon update (features and targets of the horizons that learn)
        self._Fa = np.zeros((self.H, self.d))
        self._Ya = np.zeros((self.H, self.k))
        self._dP = np.empty((self.H, self.d, self.d))
        self._dW = np.empty((self.H, self.d, self.k))

    def forecast(self, F: np.ndarray) -> np.ndarray:
        """[H, k] from features ``F`` [H, d] (row j = the features of horizon j)."""
        return np.matmul(F[:, None, :], self.W)[:, 0, :]

    def learn(self, F: np.ndarray, j: np.ndarray, Y: np.ndarray) -> float:
        """Learn m pairs of distinct horizons ``j`` [m]: features ``F`` [m, d], targets ``Y`` [m, k].

        Returns the squared error of the learned pairs before the update; refused pairs are
        counted in ``n_refused`` and an :class:`~tsgate.exceptions.OnlineUpdateWarning` is issued.
        """
        j = np.asarray(j, dtype=np.int64)
        m = len(j)
        if m == 0:
            return 0.0
        if m >= _GATHER_BELOW:
            if m == self.H and bool((j == np.arange(self.H)).all()):
                Fa, Ya = F, Y
            else:
                Fa, Ya = self._Fa, self._Ya
                Fa[...] = 0.0
                Ya[...] = 0.0
                Fa[j], Ya[j] = F, Y
            ok, e = self._update(self.P, self.W, Fa, Ya, self._dP, self._dW)
            ok, e = ok[j], e[j]
        else:
            P, W = self.P[j], self.W[j]
            ok, e = self._update(P, W, F, Y, np.empty_like(P), np.empty_like(W))
            self.P[j], self.W[j] = P, W
        before = self.n_learned
        self.n_learned += int(ok.sum())
        if self.n_learned // 4096 > before // 4096:  # keep P symmetric over long streams
            np.add(self.P, np.transpose(self.P, (0, 2, 1)), out=self._dP)
            np.multiply(self._dP, 0.5, out=self.P)
        refused = m - int(ok.sum())
        if refused:
            self.n_refused += refused
            warnings.warn(f"stacker update refused for {refused} of {m} targets (non-finite or degenerate); "
                          "those horizons are unchanged.", OnlineUpdateWarning, stacklevel=3)
        return float((e[ok] ** 2).sum())

    @staticmethod
    def _update(P: np.ndarray, W: np.ndarray, F: np.ndarray, Y: np.ndarray, dP: np.ndarray,
                dW: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One rank-1 RLS update of each row's ``P`` [m, d, d] and ``W`` [m, d, k] in place;
        rows that would be refused are left exactly as they were. Returns (ok [m], error [m, k])."""
        Px = np.matmul(P, F[:, :, None])[:, :, 0]  # [m, d]
        with np.errstate(all="ignore"):
            g = 1.0 + np.einsum("md,md->m", F, Px)
            K = Px / g[:, None]
            e = Y - np.matmul(F[:, None, :], W)[:, 0, :]  # [m, k]
            diag = np.einsum("mii->mi", P) - K * Px  # the diagonal after the update
        ok = (g > 0) & np.isfinite(K).all(axis=1) & np.isfinite(e).all(axis=1) & (diag > 0).all(axis=1)
        Ku, eu = K, e
        if not ok.all():  # a zero gain leaves a row exactly as it was
            Ku, eu = np.where(ok[:, None], K, 0.0), np.where(ok[:, None], e, 0.0)
            Px = np.where(ok[:, None], Px, 0.0)
        W += np.einsum("mi,mj->mij", Ku, eu, out=dW)
        P -= np.einsum("mi,mj->mij", Ku, Px, out=dP)
        return ok, e

    def arrays(self) -> dict[str, np.ndarray]:
        return {"W": self.W.copy(), "P": self.P.copy(), "counts": np.array([self.n_learned, self.n_refused], np.int64)}

    def load(self, state: dict[str, Any]) -> None:
        try:
            W, P, counts = np.asarray(state["W"]), np.asarray(state["P"]), np.asarray(state["counts"])
        except KeyError as exc:
            raise ModelFileError(f"stacker state is missing {exc.args[0]!r}.") from None
        if W.shape != self.W.shape or P.shape != self.P.shape:
            raise ModelFileError(f"stacker arrays {W.shape}/{P.shape} do not fit its configuration.")
        self.W[...], self.P[...] = W, P
        self.n_learned, self.n_refused = int(counts[0]), int(counts[1])
