"""The analog model's fast per-step path against straightforward reference implementations.

The stacker's batched, in-place RLS is checked against the closed-form ridge solution it
claims to be; the whole model's forecasts are checked against the same model run with a
pair-by-pair textbook RLS stacker and the network evaluated layer by layer from the public
input function, on a regular and an irregular clock (where some steps reveal several targets
of one horizon and the stacker learns in several rounds).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import erf

import tsgate.online.analog_engine as analog_engine
from tsgate.data.series import IrregularSeries
from tsgate.exceptions import OnlineUpdateWarning
from tsgate.online.analog import PretrainedAnalogForecaster
from tsgate.online.network import GlobalNetwork, NetworkConfig, network_inputs
from tsgate.online.stacker import HorizonStacker


class ReferenceStacker(HorizonStacker):
    """Textbook RLS, one pair at a time in the given order (no batching, no padding, no buffers)."""

    def forecast(self, F: np.ndarray) -> np.ndarray:
        return np.stack([F[h] @ self.W[h] for h in range(self.H)])

    def learn(self, F: np.ndarray, j: np.ndarray, Y: np.ndarray) -> float:
        loss = 0.0
        for f, h, y in zip(F, np.asarray(j).tolist(), Y):
            P, W = self.P[h], self.W[h]
            Pf = P @ f
            gain = Pf / (1.0 + f @ Pf)
            e = y - f @ W
            if not np.isfinite(e).all():
                self.n_refused += 1
                continue
            self.W[h] = W + np.outer(gain, e)
            self.P[h] = P - np.outer(gain, Pf)
            self.n_learned += 1
            loss += float(e @ e)
        return loss


def reference_forward(net: GlobalNetwork, u: np.ndarray) -> np.ndarray:
    h = np.asarray(u, dtype=np.float64)
    for i, (W, b) in enumerate(net.layers):
        h = h @ W + b
        if i < len(net.layers) - 1:
            h = 0.5 * h * (1.0 + erf(h / np.sqrt(2.0)))
    return h


def reference_network_input(engine, rel: np.ndarray, amp: np.ndarray, lead: int) -> np.ndarray:
    """The network input of the engine's latest observation, from its history by the public functions."""
    cfg, n = engine.network.config, engine._nh
    th, xh = engine._th[:n], engine._xh[:n]
    return network_inputs(cfg, th, xh, np.array([n - 1]), amp[None], np.array([lead]))[0]


def _ridge(F: list[np.ndarray], Y: list[np.ndarray], d: int, k: int, prior: float) -> tuple[np.ndarray, np.ndarray]:
    """argmin sum |y - f W|^2 + prior |W - W0|^2 and the inverse Gram matrix, W0 = identity on the first k rows."""
    W0 = np.zeros((d, k))
    W0[:k] = np.eye(k)
    A = prior * np.eye(d) + sum((np.outer(f, f) for f in F), np.zeros((d, d)))
    B = prior * W0 + sum((np.outer(f, y) for f, y in zip(F, Y)), np.zeros((d, k)))
    return np.linalg.solve(A, B), np.linalg.inv(A)


def test_stacker_is_the_ridge_solution_for_every_kind_of_round():
    """All horizons, a padded subset, a small gathered subset, in any order: the exact ridge solution."""
    rng = np.random.default_rng(0)
    H, k, d, prior = 7, 3, 3 + 3 * 2 + 1, 5.0
    st = HorizonStacker(H, k, d, prior)
    seen: dict[int, tuple[list, list]] = {h: ([], []) for h in range(H)}
    rounds = [np.arange(H), rng.permutation(H)[:5], np.array([4, 1]), np.array([6]), rng.permutation(H)]
    for _ in range(30):
        for j in rounds:
            F = rng.standard_normal((len(j), d))
            Y = F[:, :k] * 1.5 + 0.3 * rng.standard_normal((len(j), k))
            loss = st.learn(F, j, Y)
            assert np.isfinite(loss) and loss > 0
            for f, h, y in zip(F, j.tolist(), Y):
                seen[h][0].append(f)
                seen[h][1].append(y)
    for h in range(H):
        W, P = _ridge(*seen[h], d, k, prior)
        np.testing.assert_allclose(st.W[h], W, rtol=1e-9, atol=1e-11)
        np.testing.assert_allclose(st.P[h], P, rtol=1e-9, atol=1e-13)
    assert st.n_learned == sum(len(v[0]) for v in seen.values()) and st.n_refused == 0
    F = rng.standard_normal((H, d))
    np.testing.assert_allclose(st.forecast(F), np.stack([F[h] @ st.W[h] for h in range(H)]), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("m", [7, 5, 2])
def test_a_refused_pair_leaves_its_horizon_exactly_as_it_was(m):
    rng = np.random.default_rng(1)
    H, k, d = 7, 3, 10
    st = HorizonStacker(H, k, d, 5.0)
    st.learn(rng.standard_normal((H, d)), np.arange(H), rng.standard_normal((H, k)))
    W, P = st.W.copy(), st.P.copy()
    j = np.arange(H)[:m][::-1]
    F, Y = rng.standard_normal((m, d)), rng.standard_normal((m, k))
    Y[0, 1] = np.nan  # horizon j[0] is refused, the others learn
    with pytest.warns(OnlineUpdateWarning):
        st.learn(F, j, Y)
    np.testing.assert_array_equal(st.W[j[0]], W[j[0]])
    np.testing.assert_array_equal(st.P[j[0]], P[j[0]])
    assert st.n_refused == 1 and st.n_learned == H + m - 1
    moved = [h for h in range(H) if not np.array_equal(st.W[h], W[h])]
    assert moved == sorted(j[1:].tolist())


def _breathing(seconds: float, hz: float, drop: float, seed: int) -> IrregularSeries:
    """Three breathing coordinates (mm) on a jittered clock with a fraction of the samples dropped."""
    rng = np.random.default_rng(seed)
    n = int(seconds * hz)
    t = np.cumsum(rng.uniform(0.9, 1.1, n) / hz)
    keep = np.sort(rng.choice(n, int(n * (1 - drop)), replace=False)) if drop else np.arange(n)
    t = t[keep]
    phase = 2 * np.pi * t / (4.5 + 0.5 * np.sin(t / 15))
    base = np.sin(phase) ** 3 + 0.3 * np.sin(2 * phase)
    df = pd.DataFrame({"time": t, **{c: a * base + rng.normal(0, 0.1, len(t)) for c, a in zip("xyz", (2.0, 8.0, 4.0))}})
    return IrregularSeries.from_frame(df, target_cols=["x", "y", "z"])


@pytest.mark.parametrize("drop", [0.0, 0.3])
def test_forecasts_equal_the_reference_stacker_and_network(drop, tmp_path, monkeypatch):
    """A short 30 Hz stream (fit, then forecast_and_learn) with the fast path and with references."""
    data = _breathing(60.0, 30.0, drop, seed=2)
    rows = np.arange(len(data.frame))
    train, rest = data.take(rows[: len(rows) // 2]), data.take(rows[len(rows) // 2:])
    net_dir = tmp_path / "net"
    _small_network(seed=3).save(net_dir)
    params = {"horizons": ["100ms", "300ms", "700ms", "1s", "1.5s"], "network": str(net_dir), "analog_memory": "10s"}

    def run() -> tuple[np.ndarray, PretrainedAnalogForecaster]:
        with warnings.catch_warnings():
            warnings.simplefilter("error", OnlineUpdateWarning)
            m = PretrainedAnalogForecaster(**params).fit(train)
            return m.forecast_and_learn(rest).values, m

    fast, m_fast = run()
    monkeypatch.setattr(analog_engine, "HorizonStacker", ReferenceStacker)
    monkeypatch.setattr(GlobalNetwork, "forward", reference_forward)
    monkeypatch.setattr(analog_engine.AnalogEngine, "_network_input", reference_network_input)
    ref, m_ref = run()
    eng_f, eng_r = next(iter(m_fast.engines_.values())), next(iter(m_ref.engines_.values()))
    assert isinstance(eng_r.stacker, ReferenceStacker)
    c = m_fast.diagnostics()[next(iter(m_fast.engines_))]
    assert c["learned"] > 1000 and c["without_analogs"] < c["steps"] and c["without_network"] < c["steps"]
    assert m_fast.diagnostics() == m_ref.diagnostics()
    assert np.isfinite(fast).all() and fast.shape == ref.shape
    np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-9)  # mm; amplitudes are 2-8 mm
    np.testing.assert_allclose(eng_f.stacker.W, eng_r.stacker.W, rtol=0, atol=1e-9)
    assert np.abs(fast - ref).max() < 1e-9 < np.abs(fast).max()


def _small_network(seed: int) -> GlobalNetwork:
    """A random, small network of the bundled kind (6 s of lags at 0.1 s, 21 horizons)."""
    cfg = NetworkConfig(hidden=(16, 16))
    rng = np.random.default_rng(seed)
    sizes = [cfg.input_size, *cfg.hidden, len(cfg.horizons)]
    layers = [(rng.normal(0, 0.5 / np.sqrt(a), (a, b)), rng.normal(0, 0.05, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    return GlobalNetwork(cfg, layers, trained_on=["random"])
