"""OnlineLearner behaviour: resumption, refusal of divergent updates, validation, torch
loading, and learning along real and synthetic streams."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from tsgate.exceptions import ConfigError, DataError, ModelFileError
from tsgate.online import (
    ALGORITHMS,
    OnlineLearner,
    OnlineLinearRegression,
    OnlineUpdateWarning,
    blas_threads,
)

DATA = Path(__file__).resolve().parents[1] / "datasets" / "extmarker" / "3.33hz" / "seq1.csv"


def _drive(ol, us, ys, delays, start=0, stop=None, record=None):
    """Prequential loop: step, learn the targets revealed now (one block per delay), apply."""
    stop = len(us) if stop is None else stop
    w = ys.shape[1]
    outs = []
    for t in range(start, stop):
        outs.append(ol.step(us[t]))
        for j, d in enumerate(delays):
            if d < ol.n_steps:
                ol.learn(d, ys[t], slice(j * w, (j + 1) * w))
        if record is not None and t == record[0]:
            record[1] = ol.state_dict_arrays()   # saved with targets still pending
        ol.apply()
    return np.array(outs)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("cell", ["rnn", "lstm"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_save_restore_mid_stream_is_bit_identical(tmp_path, algorithm, cell, optimizer):
    rng = np.random.default_rng(0)
    m, n, w, delays, T = 4, 6, 2, (0, 1, 3), 40
    us = rng.standard_normal((T, m)).astype(np.float32)
    ys = rng.standard_normal((T, w)).astype(np.float32)
    kw = dict(cell=cell, input_size=m, hidden_size=n, output_size=w * len(delays),
              algorithm=algorithm, lr=0.05, clip=1.0, optimizer=optimizer, tbptt_steps=3,
              max_delay=3, seed=3, init_std=0.3)
    full = OnlineLearner(**kw)
    rec = [19, None]
    out_full = _drive(full, us, ys, delays, record=rec)
    # the saved arrays survive a round trip through an .npz file
    np.savez(tmp_path / "state.npz", **rec[1])
    with np.load(tmp_path / "state.npz") as z:
        state = {k: z[k] for k in z.files}
    half = OnlineLearner.from_state(full.config, state)
    half.apply()   # the targets that were pending when saved
    out_half = _drive(half, us, ys, delays, start=20)
    assert np.array_equal(out_half, out_full[20:])
    a, b = full.state_dict_arrays(), half.state_dict_arrays()
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    # the weights did move (the comparison is not between two frozen models)
    assert not np.array_equal(full.weights["W"], OnlineLearner(**kw).weights["W"])


def test_from_state_rejects_mismatched_arrays():
    ol = OnlineLearner("rnn", 3, 4, 2, algorithm="uoro")
    state = ol.state_dict_arrays()
    with pytest.raises(ModelFileError, match="hidden|shape"):
        OnlineLearner.from_state({**ol.config, "hidden_size": 5}, state)
    del state["trace.theta_tilde"]
    with pytest.raises(ModelFileError, match="theta_tilde"):
        OnlineLearner.from_state(ol.config, state)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, 1e30])
def test_divergent_update_is_refused(algorithm, bad):
    rng = np.random.default_rng(1)
    ol = OnlineLearner("lstm", 3, 4, 2, algorithm=algorithm, max_delay=1, lr=0.1, seed=0)
    for _ in range(5):
        ol.step(rng.standard_normal(3))
        if ol.n_steps > 1:
            ol.learn(1, rng.standard_normal(2))
        ol.apply()
    before = ol.state_dict_arrays()
    ol.step(rng.standard_normal(3))
    after_step = ol.state_dict_arrays()
    ol.learn(0, [0.5, bad])        # 1e30 overflows the float32 loss
    with pytest.warns(OnlineUpdateWarning, match="refused"):
        assert ol.apply() is None
    assert ol.n_refused == 1
    now = ol.state_dict_arrays()
    for k in ["theta", "S", "Z"] + [k for k in now if k.startswith("opt.")]:
        assert np.array_equal(now[k], after_step[k]), k
    assert not np.array_equal(now["S"], before["S"])   # the step itself did happen
    # the learner keeps working: a finite target is learned normally afterwards
    ol.step(rng.standard_normal(3))
    ol.learn(0, [0.5, 0.5])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isfinite(ol.apply())
    assert np.all(np.isfinite(ol.weights["W"]))


def test_learning_rate_blowup_is_refused_not_propagated():
    """lr far too high, no clipping: updates that would overflow are refused, weights stay
    finite."""
    rng = np.random.default_rng(2)
    ol = OnlineLearner("rnn", 3, 8, 3, algorithm="tbptt", lr=50.0, clip=None, init_std=0.5)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        for _ in range(200):
            ol.step(rng.standard_normal(3) * 10)
            ol.learn(0, rng.standard_normal(3) * 1e18)
            ol.apply()
    assert ol.n_refused > 0
    assert any(issubclass(r.category, OnlineUpdateWarning) for r in rec)
    assert np.all(np.isfinite(ol.weights["W"])) and np.all(np.isfinite(ol.weights["R"]))


def test_validation_errors_name_the_argument():
    with pytest.raises(ConfigError, match="algorithm"):
        OnlineLearner(algorithm="dni")
    with pytest.raises(ConfigError, match="cell"):
        OnlineLearner(cell="gru")
    with pytest.raises(ConfigError, match="hidden_size"):
        OnlineLearner(hidden_size=0)
    with pytest.raises(ConfigError, match="dtype"):
        OnlineLearner(dtype="float16")
    with pytest.raises(ConfigError, match="lr"):
        OnlineLearner(lr=float("nan"))
    ol = OnlineLearner("rnn", 3, 4, 6, max_delay=2)
    with pytest.raises(ConfigError, match="input_size=3"):
        ol.step(np.zeros(4))
    with pytest.raises(DataError, match="NaN"):
        ol.step(np.array([0.0, np.nan, 1.0]))
    assert ol.n_steps == 0                      # the refused input did not advance the state
    ol.step(np.zeros(3))
    with pytest.raises(ConfigError, match="only 1 predictions"):
        ol.learn(1, np.zeros(6))
    with pytest.raises(ConfigError, match="max_delay=2"):
        ol.learn(3, np.zeros(6))
    with pytest.raises(ConfigError, match="out_slice"):
        ol.learn(0, np.zeros(3), slice(0, 2))
    with pytest.raises(ConfigError, match="width"):
        ol.learn_many([0], np.zeros((1, 4)))


def test_float32_default_and_float64_option():
    ol = OnlineLearner("lstm", 3, 4, 2)
    assert ol.step(np.ones(3)).dtype == np.float32
    assert ol.weights["W"].dtype == np.float32
    ol64 = OnlineLearner("lstm", 3, 4, 2, dtype=torch.float64)
    assert ol64.step(np.ones(3)).dtype == np.float64
    assert ol64.config["dtype"] == "float64"
    # same seed, same initial weights up to float32 rounding
    np.testing.assert_allclose(ol.weights["W"], ol64.weights["W"], rtol=1e-6)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_learn_many_equals_learn_calls(algorithm):
    rng = np.random.default_rng(4)
    kw = dict(cell="rnn", input_size=3, hidden_size=5, output_size=6, algorithm=algorithm,
              max_delay=2, dtype="float64", lr=0.1, tbptt_steps=2)
    a, b = OnlineLearner(**kw), OnlineLearner(**kw)
    for t in range(8):
        u = rng.standard_normal(3)
        ya, yb = a.step(u), b.step(u)
        assert np.array_equal(ya, yb)
        targets = rng.standard_normal((3, 2))
        ds = [d for d in (0, 1, 2) if d < t + 1]
        for j, d in enumerate(ds):
            a.learn(d, targets[j], slice(2 * d, 2 * d + 2))
        b.learn_many(ds, targets[:len(ds)], blocks=ds)
        assert a.apply() == b.apply()
    assert np.array_equal(a.weights["W"], b.weights["W"])


@pytest.mark.parametrize("cell", ["lstm", "rnn"])
def test_load_torch_matches_torch_forward(cell):
    torch.manual_seed(0)
    m, n, T = 3, 5, 12
    mod = (torch.nn.LSTM(m, n) if cell == "lstm" else torch.nn.RNN(m, n)).double()
    lin = torch.nn.Linear(n, 2).double()
    x = torch.randn(T, 1, m, dtype=torch.float64)
    with torch.no_grad():
        h_ref, _ = mod(x)
        y_ref = lin(h_ref[:, 0]).numpy()
    ol = OnlineLearner(cell, m, n, 2, dtype="float64")
    ol.load_torch(mod, lin)
    y = np.array([ol.step(x[t, 0].numpy()) for t in range(T)])
    np.testing.assert_allclose(y, y_ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ol.state[:n], h_ref[-1, 0].numpy(), rtol=0, atol=1e-12)
    with pytest.raises(ConfigError, match="single-layer"):
        ol.load_torch(torch.nn.LSTM(m, n, num_layers=2) if cell == "lstm"
                      else torch.nn.RNN(m, n, num_layers=2))


def test_blas_threads_restores_the_library_setting():
    from threadpoolctl import threadpool_info, threadpool_limits

    import tsgate.online.uoro  # noqa: F401  (loads scipy's BLAS too)

    with threadpool_limits(2):
        before = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
        with blas_threads(1):
            inside = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
            ol = OnlineLearner("rnn", 2, 3, 1, algorithm="uoro")
            ol.step([0.0, 1.0])
        after = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    assert all(k == 1 for k in inside)
    assert after == before


@pytest.mark.parametrize("algorithm", ["uoro", "snap1", "tbptt"])
def test_noisy_sine_is_learned_from_scratch(algorithm):
    """One step ahead on a noisy sine (period 20 steps, noise sd 0.05): the prequential
    MSE of the last 300 of 1200 steps is under a tenth of the first 100 steps' and below
    0.02 (the signal's variance is 0.5; measured 0.0092 uoro, 0.0049 snap1, 0.0040 tbptt).
    Plain clipped SGD: Adam at lr 0.002-0.005 was unstable along this stream."""
    rng = np.random.default_rng(5)
    T, SHL = 1200, 4
    s = np.sin(2 * np.pi * np.arange(T + SHL) / 20) + 0.05 * rng.standard_normal(T + SHL)
    ol = OnlineLearner("rnn", SHL, 16, 1, algorithm=algorithm, lr=0.05, clip=1.0,
                       max_delay=1, seed=0, init_std=0.1, optimizer="sgd")
    err = []
    with blas_threads(1):
        for t in range(T - 1):
            yhat = ol.step(s[t:t + SHL])
            err.append((yhat[0] - s[t + SHL]) ** 2)
            ol.learn(0, s[t + SHL:t + SHL + 1])
            ol.apply()
    err = np.array(err)
    assert err[-300:].mean() < 0.1 * err[:100].mean()
    assert err[-300:].mean() < 0.02


def _extmarker_nrmse(make, SHL=8, horizons=range(1, 8)):
    """Published protocol at 3.33 Hz on sequence 1: learn online from the start, nRMSE over
    the test part [200, end) averaged over horizons 0.3-2.1 s. The network sees the last SHL
    samples relative to the newest one (divided by the coordinate's sd over [0, 100)) and
    predicts the displacement from the newest sample."""
    X = np.loadtxt(DATA, delimiter=",", skiprows=1)[:, 1:]
    T = len(X)
    H = np.array(list(horizons))
    sc = X[:100].std(0)
    P = np.full((T, len(H), 9), np.nan)
    ol = make(SHL * 9, len(H) * 9, int(H.max()))
    with blas_threads(1):
        for k in range(SHL - 1, T):
            yhat = ol.step(((X[k - SHL + 1:k + 1] - X[k]) / sc).reshape(-1)).reshape(len(H), 9)
            for j, h in enumerate(H):
                if k + h < T:
                    P[k + h, j] = X[k] + yhat[j] * sc
            js = [j for j, h in enumerate(H) if h < ol.n_steps]
            if js:
                ol.learn_many(H[js], np.stack([(X[k] - X[k - H[j]]) / sc for j in js]), js)
            ol.apply()
    Y = X[200:]
    den = np.sqrt(((Y - Y.mean(0)) ** 2).sum())
    per_h = [np.sqrt(((P[200:, j] - Y) ** 2).sum()) / den for j in range(len(H))]
    persistence = [np.sqrt(((X[200 - h:T - h] - Y) ** 2).sum()) / den for h in H]
    return np.array(per_h), np.array(persistence)


@pytest.mark.parametrize("algorithm", ["snap1", "uoro", "tbptt"])
def test_extmarker_online_rnn_beats_persistence(algorithm):
    """Measured mean nRMSE (horizons 0.3-2.1 s, RNN 32 units, Adam 0.002, clip 1, untuned):
    snap1 0.826, tbptt 0.832, uoro 0.834 (rtrl 0.833); persistence 1.059. Published, tuned
    SnAp-1 at 3.33 Hz over all 9 sequences: 0.335."""
    per_h, persist = _extmarker_nrmse(
        lambda m, p, md: OnlineLearner("rnn", m, 32, p, algorithm=algorithm, lr=0.002,
                                       optimizer="adam", clip=1.0, max_delay=md, seed=0,
                                       init_std=0.1))
    assert persist.mean() == pytest.approx(1.059, abs=0.002)
    assert per_h.mean() < 0.92
    assert np.all(per_h[3:] < persist[3:])        # better at 1.2 s and beyond


def test_extmarker_rls_is_best_at_the_shortest_horizon():
    """Linear regression wins at 0.3 s (measured 0.388 vs persistence 0.419), as published."""
    per_h, persist = _extmarker_nrmse(
        lambda m, p, md: OnlineLinearRegression(m, p, max_delay=md, ridge=1.0))
    assert per_h[0] < persist[0] - 0.02
    assert per_h[0] < 0.40
