"""Gradients of the online learners against full BPTT (torch autograd), float64, frozen weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tsgate.online import OnlineLearner, blas_threads

CELLS = ["rnn", "lstm"]

# ----------------------------------------------------------------- reference: full BPTT


def torch_states(cell: str, W: torch.Tensor, us: torch.Tensor, n: int) -> list[torch.Tensor]:
    """Hidden states h_0..h_{T-1} of the cell with parameters W = [W_in | W_rec | b]."""
    h = torch.zeros(n, dtype=W.dtype)
    c = torch.zeros(n, dtype=W.dtype)
    hs = []
    for u in us:
        z = torch.cat([u, h, torch.ones(1, dtype=W.dtype)])
        a = W @ z
        if cell == "rnn":
            h = torch.tanh(a)
        else:
            i, f, g, o = a.split(n)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
        hs.append(h)
    return hs


def bptt_grad(cell, W0, R0, us, schedule, n):
    """Gradient of sum over (t, delay, sl, y) in schedule of 0.5*|R[sl] [h_{t-d},1] - y|^2."""
    W = torch.tensor(W0, dtype=torch.float64, requires_grad=True)
    R = torch.tensor(R0, dtype=torch.float64, requires_grad=True)
    hs = torch_states(cell, W, torch.tensor(us, dtype=torch.float64), n)
    loss = torch.zeros((), dtype=torch.float64)
    for t, items in enumerate(schedule):
        for d, sl, y in items:
            ha = torch.cat([hs[t - d], torch.ones(1, dtype=torch.float64)])
            e = R[sl] @ ha - torch.tensor(y, dtype=torch.float64)
            loss = loss + 0.5 * (e * e).sum()
    loss.backward()
    return W.grad.numpy(), R.grad.numpy(), float(loss.detach())


def make_problem(rng, cell, m, n, p, T, max_delay, scale=0.6):
    """Random weights large enough for the recurrence to matter, inputs, and a schedule of
    delayed targets on random output slices."""
    rows = n if cell == "rnn" else 4 * n
    W = rng.standard_normal((rows, m + n + 1)) * scale / np.sqrt(m + n)
    R = rng.standard_normal((p, n + 1)) * 0.5
    us = rng.standard_normal((T, m))
    schedule = []
    for t in range(T):
        items = []
        for d in range(0, min(max_delay, t) + 1):
            if rng.random() < 0.6:
                a = int(rng.integers(0, p))
                b = int(rng.integers(a + 1, p + 1))
                items.append((d, slice(a, b), rng.standard_normal(b - a)))
        schedule.append(items)
    return W, R, us, schedule


def run_frozen(ol, us, schedule):
    """Run the learner with frozen weights; sum the gradients of every step."""
    gW = np.zeros_like(ol.weights["W"], dtype=np.float64)
    gR = np.zeros_like(ol.weights["R"], dtype=np.float64)
    for u, items in zip(us, schedule):
        ol.step(u)
        for d, sl, y in items:
            ol.learn(d, y, sl)
        g = ol.gradient()
        if g is not None:
            gW += g["W"]
            gR += g["R"]
        ol.discard()
    return gW, gR


# ----------------------------------------------------------------- tests


def _learner(cell, alg, m, n, p, md, W, R, **kw):
    ol = OnlineLearner(cell, m, n, p, algorithm=alg, max_delay=md, dtype="float64", **kw)
    ol.set_weights(W, R)
    return ol


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("seed", [0, 1])
def test_rtrl_equals_bptt_with_delayed_targets(cell, seed):
    rng = np.random.default_rng(seed)
    m, n, p, T, md = 3, 5, 4, 14, 3
    W, R, us, sch = make_problem(rng, cell, m, n, p, T, md)
    gW, gR = run_frozen(_learner(cell, "rtrl", m, n, p, md, W, R), us, sch)
    rW, rR, _ = bptt_grad(cell, W, R, us, sch, n)
    assert np.abs(rW).max() > 1e-2  # the recurrent gradient is not trivially small
    np.testing.assert_allclose(gW, rW, rtol=0, atol=1e-8 * np.abs(rW).max())
    np.testing.assert_allclose(gR, rR, rtol=0, atol=1e-8 * np.abs(rR).max())


@pytest.mark.parametrize("cell", CELLS)
def test_tbptt_with_long_window_equals_bptt(cell):
    rng = np.random.default_rng(3)
    m, n, p, T, md = 3, 5, 4, 12, 2
    W, R, us, sch = make_problem(rng, cell, m, n, p, T, md)
    gW, gR = run_frozen(_learner(cell, "tbptt", m, n, p, md, W, R, tbptt_steps=T), us, sch)
    rW, rR, _ = bptt_grad(cell, W, R, us, sch, n)
    np.testing.assert_allclose(gW, rW, rtol=0, atol=1e-10 * np.abs(rW).max())
    np.testing.assert_allclose(gR, rR, rtol=0, atol=1e-10 * np.abs(rR).max())


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("K", [1, 3])
def test_tbptt_truncation_matches_documented_window(cell, K):
    """All targets learned at one step are backpropagated to tau_oldest - K + 1 (the state
    before that is a constant)."""
    rng = np.random.default_rng(4)
    m, n, p, T, md = 3, 4, 3, 10, 2
    W, R, us, sch = make_problem(rng, cell, m, n, p, T, md)
    gW, _ = run_frozen(_learner(cell, "tbptt", m, n, p, md, W, R, tbptt_steps=K), us, sch)
    Wt = torch.tensor(W, requires_grad=True)
    Rt = torch.tensor(R)
    ut = torch.tensor(us)
    with torch.no_grad():
        hs_all = torch_states(cell, Wt, ut, n)
    # states incl. c for the LSTM, recomputed without grad to get the detached start states
    loss = torch.zeros((), dtype=torch.float64)
    for t, items in enumerate(sch):
        if not items:
            continue
        lo = max(0, t - max(d for d, _, _ in items) - K + 1)
        h = torch.zeros(n, dtype=torch.float64)
        c = torch.zeros(n, dtype=torch.float64)
        # replay detached up to lo - 1, then with grad from lo to t
        hs = {}
        for tau in range(t + 1):
            Wuse = Wt if tau >= lo else Wt.detach()
            z = torch.cat([ut[tau], h, torch.ones(1, dtype=torch.float64)])
            a = Wuse @ z
            if cell == "rnn":
                h = torch.tanh(a)
            else:
                i, f, g, o = a.split(n)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
            if tau == lo - 1:
                h, c = h.detach(), c.detach()
            hs[tau] = h
        for d, sl, y in items:
            np.testing.assert_allclose(hs[t - d].detach().numpy(), hs_all[t - d].numpy())
            ha = torch.cat([hs[t - d], torch.ones(1, dtype=torch.float64)])
            e = Rt[sl] @ ha - torch.tensor(y)
            loss = loss + 0.5 * (e * e).sum()
    loss.backward()
    np.testing.assert_allclose(gW, Wt.grad.numpy(), rtol=0, atol=1e-10 * np.abs(gW).max())


def _diagonal_recurrence(W, m, n, gain=3.0):
    W = W.copy()
    for x in range(W.shape[0] // n):
        U = W[x * n:(x + 1) * n, m:m + n]
        W[x * n:(x + 1) * n, m:m + n] = np.diag(np.diag(U)) * gain
    return W


@pytest.mark.parametrize("cell", CELLS)
def test_snap1_equals_rtrl_for_diagonal_recurrence(cell):
    rng = np.random.default_rng(5)
    m, n, p, T, md = 3, 5, 4, 12, 3
    W, R, us, sch = make_problem(rng, cell, m, n, p, T, md)
    W = _diagonal_recurrence(W, m, n)
    g_rtrl, _ = run_frozen(_learner(cell, "rtrl", m, n, p, md, W, R), us, sch)
    g_snap, _ = run_frozen(_learner(cell, "snap1", m, n, p, md, W, R), us, sch)
    assert np.abs(g_rtrl).max() > 1.0
    np.testing.assert_allclose(g_snap, g_rtrl, rtol=0, atol=1e-10 * np.abs(g_rtrl).max())


@pytest.mark.parametrize("cell", CELLS)
def test_snap1_equals_rtrl_after_one_step_and_differs_later(cell):
    rng = np.random.default_rng(6)
    m, n, p = 3, 5, 4
    W, R, us, _ = make_problem(rng, cell, m, n, p, 3, 0, scale=1.5)
    y = rng.standard_normal(p)
    out = {}
    for alg in ("rtrl", "snap1"):
        ol = _learner(cell, alg, m, n, p, 0, W, R)
        ol.step(us[0])
        ol.learn(0, y)
        g1 = ol.gradient()["W"]
        ol.discard()
        ol.step(us[1])
        ol.step(us[2])
        ol.learn(0, y)
        out[alg] = (g1, ol.gradient()["W"])
    np.testing.assert_allclose(out["snap1"][0], out["rtrl"][0], rtol=0, atol=1e-14)
    # with a full recurrent matrix the approximation is visible after 3 steps
    rel = np.linalg.norm(out["snap1"][1] - out["rtrl"][1]) / np.linalg.norm(out["rtrl"][1])
    assert rel > 1e-3


@pytest.mark.parametrize("cell,n_chains,tol", [("rnn", 10_000, 0.04), ("lstm", 6_000, 0.08)])
def test_uoro_is_unbiased(cell, n_chains, tol):
    """The mean of UORO's gradient over independent sign draws converges to RTRL's.

    Measured relative errors on this problem (two delayed targets): rnn 9.3 / 5.3 / 3.0 /
    1.7 % at 10^3 / 2.5*10^3 / 10^4 / 4*10^4 chains; lstm 18.5 / 9.4 / 5.3 / 3.1 % at
    10^3 / 2.5*10^3 / 6*10^3 / 4*10^4 (more variance): they shrink as 1/sqrt(chains).
    The error must also be far below the error of dropping the recurrence (1-step BPTT).
    """
    rng = np.random.default_rng(2)
    m, n, p, T, md = 3, 4, 2, 5, 2
    W, R, us, _ = make_problem(rng, cell, m, n, p, T, md)
    sch = [[] for _ in range(T - 1)] + [[(0, slice(0, p), rng.standard_normal(p)),
                                         (2, slice(0, 1), rng.standard_normal(1))]]
    ref, _ = run_frozen(_learner(cell, "rtrl", m, n, p, md, W, R), us, sch)
    ol1 = _learner(cell, "tbptt", m, n, p, md, W, R, tbptt_steps=1)
    sch1 = [[] for _ in range(T - 1)] + [[sch[-1][0]]]
    trunc = run_frozen(ol1, us, sch1)[0] + run_frozen(
        _learner(cell, "tbptt", m, n, p, md, W, R, tbptt_steps=1), us,
        [[] for _ in range(T - 1)] + [[sch[-1][1]]])[0]
    trunc_err = np.linalg.norm(trunc - ref) / np.linalg.norm(ref)
    ol = _learner(cell, "uoro", m, n, p, md, W, R)
    acc = np.zeros_like(ref)
    single = []
    with blas_threads(1):   # switch the BLAS thread count once, not at every call
        for k in range(n_chains):
            ol.reset_state(seed=k)
            g, _ = run_frozen(ol, us, sch)
            acc += g
            if k < 20:
                single.append(np.linalg.norm(g - ref) / np.linalg.norm(ref))
    err = np.linalg.norm(acc / n_chains - ref) / np.linalg.norm(ref)
    assert np.mean(single) > 5 * err   # single draws are noisy; their mean is not
    assert err < tol
    assert err < 0.5 * trunc_err


@pytest.mark.parametrize("cell", CELLS)
def test_uoro_delayed_gradient_uses_the_pair_of_the_prediction_step(cell):
    """The factored form (theta~ at the oldest step + rank-1 increments) gives exactly
    (dL/dh_tau . s~_tau) theta~_tau with the pair recorded at the prediction's step tau."""
    rng = np.random.default_rng(7)
    m, n, p, T, md = 3, 4, 2, 12, 3
    W, R, us, _ = make_problem(rng, cell, m, n, p, T, md)
    ol = _learner(cell, "uoro", m, n, p, md, W, R)
    pairs, hs = [], []
    for t in range(T):
        ol.step(us[t])
        slot = t % ol._L
        pairs.append((ol._trace.st[slot, :n].copy(), ol._trace.tt.copy()))
        hs.append(ol.state[:n])
        for d in range(min(md, t) + 1):
            y = rng.standard_normal(p)
            ol.learn(d, y)
            g = ol.gradient()["W"]
            ol.discard()
            e = R @ np.r_[hs[t - d], 1.0] - y
            c = R[:, :n].T @ e
            s_t, th_t = pairs[t - d]
            np.testing.assert_allclose(g, (c @ s_t) * th_t, rtol=1e-9, atol=1e-12)
