"""Online linear baselines: NLMS and recursive least squares."""

from __future__ import annotations

import numpy as np
import pytest

from tsgate.exceptions import ConfigError
from tsgate.online import NLMS, OnlineLinearRegression, OnlineUpdateWarning


def _linear_stream(rng, T, m, p):
    A = rng.standard_normal((p, m))
    b = rng.standard_normal(p)
    U = rng.standard_normal((T, m))
    return A, b, U, U @ A.T + b


def test_nlms_converges_on_noiseless_linear_stream():
    rng = np.random.default_rng(0)
    m, p, T = 6, 3, 2000
    A, b, U, Y = _linear_stream(rng, T, m, p)
    ol = NLMS(m, p, mu=0.5)
    err = []
    for t in range(T):
        err.append(np.abs(ol.step(U[t]) - Y[t]).max())
        ol.learn(0, Y[t])
        ol.apply()
    assert err[0] > 0.5
    assert max(err[-100:]) < 1e-6
    np.testing.assert_allclose(ol.weights, np.c_[A, b], atol=1e-6)


def test_rls_equals_ridge_on_the_learned_pairs_with_delays():
    """With lam = 1 the weights of each output group are the ridge solution over the pairs
    (x of the prediction's step, revealed target) learned so far."""
    rng = np.random.default_rng(1)
    m, T, ridge = 4, 60, 0.5
    U = rng.standard_normal((T, m))
    Y = rng.standard_normal((T, 2))             # two 1-output groups, delays 1 and 3
    ol = OnlineLinearRegression(m, 2, max_delay=3, ridge=ridge)
    for t in range(T):
        ol.step(U[t])
        for j, d in enumerate((1, 3)):
            if d < ol.n_steps:
                ol.learn(d, Y[t, j:j + 1], slice(j, j + 1))
    X = np.c_[U, np.ones(T)]
    for j, d in enumerate((1, 3)):
        Xs, ys = X[:T - d], Y[d:, j]
        w = np.linalg.solve(Xs.T @ Xs + ridge * np.eye(m + 1), Xs.T @ ys)
        np.testing.assert_allclose(ol.weights[j], w, rtol=1e-8, atol=1e-10)


def test_rls_recovers_noiseless_linear_map_and_forgets_with_lam():
    rng = np.random.default_rng(2)
    m, p, T = 5, 2, 200
    A, b, U, Y = _linear_stream(rng, T, m, p)
    ol = OnlineLinearRegression(m, p, ridge=1e-6)
    for t in range(T):
        ol.step(U[t])
        ol.learn(0, Y[t])
    np.testing.assert_allclose(ol.weights, np.c_[A, b], atol=1e-6)
    # the map changes: with forgetting the new one is tracked, without it is not
    A2 = -A
    res = {}
    for lam in (1.0, 0.9):
        ol = OnlineLinearRegression(m, p, ridge=1e-6, lam=lam)
        for t in range(T):
            ol.step(U[t])
            ol.learn(0, (A if t < T // 2 else A2) @ U[t] + b)
        res[lam] = np.abs(ol.weights[:, :m] - A2).max()
    assert res[0.9] < 1e-3 < 0.1 < res[1.0]   # old pairs weigh 0.9**100 = 3e-5


@pytest.mark.parametrize("cls", [NLMS, OnlineLinearRegression])
def test_linear_save_restore_and_learn_many(cls):
    rng = np.random.default_rng(3)
    m, T = 3, 30
    U = rng.standard_normal((T, m))
    Y = rng.standard_normal((T, 2))
    a, b = cls(m, 4, max_delay=2), cls(m, 4, max_delay=2)
    outs_a = []
    saved = None
    for t in range(T):
        outs_a.append(a.step(U[t]))
        b.step(U[t])
        for j, d in enumerate((1, 2)):
            if d < a.n_steps:
                a.learn(d, Y[t], slice(2 * j, 2 * j + 2))
        ds = [d for d in (1, 2) if d < b.n_steps]
        b.learn_many(ds, np.tile(Y[t], (len(ds), 1)), blocks=[d - 1 for d in ds])
        la, lb = a.apply(), b.apply()
        assert (la is None and lb is None) or la == pytest.approx(lb, rel=1e-12)
        if t == 14:
            saved = a.state_dict_arrays()
    np.testing.assert_allclose(a.weights, b.weights, rtol=1e-12, atol=1e-14)
    c = cls.from_state(a.config, saved)
    outs_c = []
    for t in range(15, T):
        outs_c.append(c.step(U[t]))
        for j, d in enumerate((1, 2)):
            c.learn(d, Y[t], slice(2 * j, 2 * j + 2))
    assert np.array_equal(np.array(outs_c), np.array(outs_a[15:]))
    assert np.array_equal(c.weights, a.weights)


@pytest.mark.parametrize("cls", [NLMS, OnlineLinearRegression])
def test_linear_refuses_non_finite_target(cls):
    ol = cls(2, 2)
    ol.step([1.0, 2.0])
    ol.learn(0, [1.0, 1.0])
    w = ol.weights.copy()
    ol.step([1.0, 2.0])
    with pytest.warns(OnlineUpdateWarning, match="refused"):
        ol.learn(0, [np.nan, 1.0])
    assert np.array_equal(ol.weights, w)
    assert ol.n_refused == 1


def test_linear_validation():
    with pytest.raises(ConfigError, match="mu"):
        NLMS(2, 1, mu=2.5)
    with pytest.raises(ConfigError, match="lam"):
        OnlineLinearRegression(2, 1, lam=1.5)
    ol = OnlineLinearRegression(2, 4)
    ol.step([0.0, 1.0])
    ol.learn(0, [1.0, 2.0], slice(0, 2))
    with pytest.raises(ConfigError, match="overlaps"):
        ol.learn(0, [1.0, 2.0], slice(1, 3))
    with pytest.raises(ConfigError, match="max_delay"):
        ol.learn(1, [1.0, 2.0], slice(0, 2))


def test_nlms_learn_many_refuses_only_the_non_finite_rows():
    ol = NLMS(2, 4)
    ol.step([1.0, 2.0])
    w = ol.weights.copy()
    with pytest.warns(OnlineUpdateWarning, match="1 of 2"):
        ol.learn_many([0, 0], [[np.nan, 1.0], [1.0, 1.0]])
    assert np.array_equal(ol.weights[:2], w[:2])
    assert not np.array_equal(ol.weights[2:], w[2:])
    assert ol.n_refused == 1


def test_online_linear_relative_inputs_and_lag_step():
    """level=False: a constant offset of the whole series shifts every forecast by that offset;
    lag_step reads every lag_step-th sample (window (shl-1)*lag_step+1)."""
    from tsgate.data.series import IrregularSeries
    from tsgate.online.estimators import OnlineLinearForecaster

    rng = np.random.default_rng(3)
    t = np.arange(400) * 0.1
    y = np.sin(2 * np.pi * t / 5.0) * 10 + 0.1 * rng.standard_normal(400)
    a = IrregularSeries.from_arrays(t, y)
    b = IrregularSeries.from_arrays(t, y + 500.0)
    kw = dict(method="rls", shl=6, lag_step=3, level=False, horizons=[1, 5], ridge=1.0)
    fa = OnlineLinearForecaster(**kw).fit(a).forecast(a, origins="all").values
    fb = OnlineLinearForecaster(**kw).fit(b).forecast(b, origins="all").values
    assert np.allclose(fb - 500.0, fa, atol=1e-6)
    m = OnlineLinearForecaster(**kw).fit(a)
    fm = OnlineLinearForecaster(**{**kw, "level": True}).fit(a)
    assert fm.input_size_ - m.input_size_ == 1  # only the level input is dropped
