"""A new numpy cell is one class: every online algorithm runs it with no other change.

The cell below (a leaky tanh RNN, ``h = (1 - α) h' + α tanh(W z)``) exists only in this test.
Its gradients through RTRL and through a long-window TBPTT must agree (both are exact when the
weights do not move), and match finite differences of the loss; SnAp-1 must equal RTRL when the
recurrent matrix is diagonal, as for the built-in cells.
"""

from __future__ import annotations

import numpy as np
import pytest

from tsgate.online import OnlineLearner
from tsgate.online.cell import CELL_TYPES, Cell

ALPHA = 0.6


class LeakyCell(Cell):
    kind = "leaky-test"
    gates = 1
    units = 1
    cache_per_unit = 1

    def __init__(self, input_size, hidden_size, dtype=np.float64):
        super().__init__(input_size, hidden_size, dtype)
        self._ar = np.arange(self.n)

    def forward(self, W, z, s_prev, s_out, cache):
        g = np.tanh(W @ z)
        cache[:] = ALPHA * (1.0 - g * g)            # dh/da
        s_out[:] = (1.0 - ALPHA) * s_prev + ALPHA * g

    def jvp_state(self, W, cache, tangent):
        return (1.0 - ALPHA) * tangent + cache * (self.w_rec(W) @ tangent)

    def delta(self, cache, adj):
        return adj * cache

    def backward_step(self, UT, cache, adj, da, propagate):
        np.multiply(adj, cache, out=da)
        if propagate:
            adj[:] = (1.0 - ALPHA) * adj + UT @ da

    def influence_step(self, U, z, cache, J_prev, J_out):
        P = self.rows * self.q
        J_out.reshape(self.n, P)[:] = (1.0 - ALPHA) * J_prev.reshape(self.n, P) + cache[:, None] * (U @ J_prev.reshape(self.n, P))
        J_out[self._ar, self._ar, :] += cache[:, None] * z[None, :]

    def unit_blocks(self, wdiag, caches):
        D = caches.reshape(len(caches), 1, 1, self.n)
        return (1.0 - ALPHA) + D * wdiag[0], D


M_IN, N, P, T = 3, 5, 2, 14


def _stream(seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(T, M_IN)), rng.normal(size=(T, P))


def _gradient(algorithm, W=None, diagonal=False, **kw):
    """Gradient of the loss of targets revealed at the last step (delays 0..3), weights frozen."""
    u, y = _stream()
    ol = OnlineLearner("leaky-test", M_IN, N, P, algorithm=algorithm, lr=0.0, max_delay=3, dtype=np.float64,
                       init_std=0.5, seed=1, **kw)
    if W is not None:
        ol.set_weights(W=W)
    if diagonal:
        Wd = ol.weights["W"].copy()
        rec = Wd[:, M_IN:M_IN + N]
        rec[:] = np.diag(np.diag(rec))
        ol.set_weights(W=Wd)
    for t in range(T):
        ol.step(u[t])
    for d in range(4):
        ol.learn(d, y[T - 1 - d])
    return ol, ol.gradient()


def test_the_new_cell_is_registered():
    assert CELL_TYPES["leaky-test"] is LeakyCell


def test_rtrl_equals_long_window_tbptt_and_finite_differences():
    ol, g_rtrl = _gradient("rtrl")
    _, g_tbptt = _gradient("tbptt", tbptt_steps=T + 4)
    np.testing.assert_allclose(g_rtrl["W"], g_tbptt["W"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g_rtrl["R"], g_tbptt["R"], rtol=1e-10, atol=1e-12)
    # finite differences of the loss on a few recurrent and input weights
    W0 = ol.weights["W"].copy()

    def loss(W):
        o, _ = _gradient("tbptt", W=W, tbptt_steps=T + 4)
        return o.apply()

    for i, j in [(0, 0), (2, M_IN + 1), (4, M_IN + N)]:
        e = np.zeros_like(W0)
        e[i, j] = 1e-6
        fd = (loss(W0 + e) - loss(W0 - e)) / 2e-6
        assert fd == pytest.approx(g_rtrl["W"][i, j], rel=1e-5, abs=1e-8)


def test_snap1_equals_rtrl_for_a_diagonal_recurrence_and_uoro_runs():
    _, g_rtrl = _gradient("rtrl", diagonal=True)
    _, g_snap = _gradient("snap1", diagonal=True)
    np.testing.assert_allclose(g_snap["W"], g_rtrl["W"], rtol=1e-10, atol=1e-12)
    _, g_uoro = _gradient("uoro")
    assert np.isfinite(g_uoro["W"]).all() and np.abs(g_uoro["W"]).sum() > 0
