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
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from tsgate.exceptions import ModelFileError, OnlineUpdateWarning

__all__ = ["HorizonStacker"]


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

    def forecast(self, F: np.ndarray) -> np.ndarray:
        """[H, k] from features ``F`` [H, d] (row j = the features of horizon j)."""
        return np.einsum("hd,hdk->hk", F, self.W)

    def learn(self, F: np.ndarray, j: np.ndarray, Y: np.ndarray) -> float:
        """Learn m pairs of distinct horizons ``j`` [m]: features ``F`` [m, d], targets ``Y`` [m, k].

        Returns the squared error of the learned pairs before the update; refused pairs are
        counted in ``n_refused`` and an :class:`~tsgate.exceptions.OnlineUpdateWarning` is issued.
        """
        every = len(j) == self.H and bool((j == np.arange(self.H)).all())
        P, W = (self.P, self.W) if every else (self.P[j], self.W[j])  # in place on the usual regular-clock step
        Px = np.matmul(P, F[:, :, None])[:, :, 0]  # [m, d]
        with np.errstate(all="ignore"):
            g = 1.0 + np.einsum("md,md->m", F, Px)
            K = Px / g[:, None]
            e = Y - np.matmul(F[:, None, :], W)[:, 0, :]  # [m, k]
            diag = np.diagonal(P, axis1=1, axis2=2) - K * Px  # the diagonal after the update
        ok = (g > 0) & np.isfinite(K).all(axis=1) & np.isfinite(e).all(axis=1) & (diag > 0).all(axis=1)
        if ok.all():
            W += K[:, :, None] * e[:, None, :]
            P -= K[:, :, None] * Px[:, None, :]
            if not every:
                self.W[j], self.P[j] = W, P
        else:
            jo = j[ok]
            self.W[jo] = W[ok] + K[ok][:, :, None] * e[ok][:, None, :]
            self.P[jo] = P[ok] - K[ok][:, :, None] * Px[ok][:, None, :]
        before = self.n_learned
        self.n_learned += int(ok.sum())
        if self.n_learned // 4096 > before // 4096:  # keep P symmetric over long streams
            self.P = 0.5 * (self.P + np.transpose(self.P, (0, 2, 1)))
        refused = int((~ok).sum())
        if refused:
            self.n_refused += refused
            warnings.warn(f"stacker update refused for {refused} of {len(j)} targets (non-finite or degenerate); "
                          "those horizons are unchanged.", OnlineUpdateWarning, stacklevel=3)
        return float((e[ok] ** 2).sum())

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
