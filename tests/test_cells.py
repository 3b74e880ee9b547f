"""Recurrent cells: gradients, equations, masking, gate skipping, learning, errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch.autograd import gradcheck

from tsgate.exceptions import ConfigError
from tsgate.nn import glstm as glstm_mod
from tsgate.nn.cells import CELLS, make_encoder
from tsgate.nn.wmc import wmc_reference, wmc_sequence
from tsgate.nn.glstm import glstm_reference, glstm_sequence



@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: one thread is faster and far steadier on a loaded machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _window(B: int, T: int, F: int, *, span: float = 2.0, seed: int = 0, dtype=torch.float64):
    """Random features and irregular relative times in [-span, 0] (t[:, -1] == 0)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T, F, generator=g, dtype=dtype)
    gaps = torch.rand(B, T - 1, generator=g, dtype=dtype) + 0.2
    t = torch.cat([-(gaps.flip(1).cumsum(1).flip(1)), torch.zeros(B, 1, dtype=dtype)], 1)
    t = t * (span / t.abs().amax().clamp(min=1e-9))
    return x, t


def _left_mask(B: int, T: int, pads: list[int]) -> torch.Tensor:
    mask = torch.ones(B, T, dtype=torch.bool)
    for b, p in enumerate(pads):
        mask[b, :p] = False
    return mask


# ------------------------------------------------------------------------------------------
# Construction and errors
# ------------------------------------------------------------------------------------------


def test_cells_tuple() -> None:
    assert CELLS == ("lstm", "gru", "wmc", "glstm", "rnn", "convrnn")


def test_unknown_cell_raises_config_error_naming_allowed_values() -> None:
    with pytest.raises(ConfigError) as err:
        make_encoder("transformer", 4, 8)
    msg = str(err.value)
    assert "transformer" in msg
    for name in CELLS:
        assert name in msg
    with pytest.raises(ConfigError, match="inner_cell"):
        make_encoder("convrnn", 4, 8, inner_cell="convrnn")
    with pytest.raises(ConfigError, match="hidden_size"):
        make_encoder("wmc", 4, 0)
    with pytest.raises(ConfigError, match="dropout"):
        make_encoder("lstm", 4, 8, dropout=1.5)
    with pytest.raises(ConfigError, match="window_span_s"):
        make_encoder("glstm", 4, 8, window_span_s=-1.0)


def test_bad_input_shapes_raise_config_error() -> None:
    enc = make_encoder("wmc", 3, 4)
    x, t = _window(2, 5, 3, dtype=torch.float32)
    with pytest.raises(ConfigError, match="features"):
        enc(torch.randn(2, 5, 4), t)
    with pytest.raises(ConfigError, match="mask"):
        enc(x, t, torch.ones(2, 5))
    with pytest.raises(ConfigError, match="t must"):
        enc(x, t[:, :3])
    with pytest.raises(ConfigError, match="required by the glstm"):
        make_encoder("glstm", 3, 4)(x, None)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("layers", [1, 2])
def test_shapes_and_budget(cell: str, layers: int) -> None:
    enc = make_encoder(cell, 3, 6, num_layers=layers, dropout=0.1, conv_channels=5)
    x, t = _window(4, 7, 3, dtype=torch.float32)
    h = enc(x, t, _left_mask(4, 7, [0, 2, 6, 0]))
    assert h.shape == (4, 6) == (4, enc.output_size)
    assert torch.isfinite(h).all()
    b = enc.budget_term()
    assert b.shape == ()
    if cell == "glstm":
        assert 0.0 < float(b.detach()) < 1.0
    else:
        assert float(b) == 0.0


def test_lstm_cell_is_torch_lstm() -> None:
    enc = make_encoder("lstm", 3, 5, num_layers=2)
    assert isinstance(enc.rnn, torch.nn.LSTM)
    x, t = _window(3, 6, 3, dtype=torch.float32)
    _, (hn, _) = enc.rnn(x)
    assert torch.equal(enc(x, t), hn[-1])


# ------------------------------------------------------------------------------------------
# Gradients (float64 gradcheck over inputs and every parameter)
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("masked", [False, True])
def test_gradcheck(cell: str, masked: bool) -> None:
    torch.manual_seed(0)
    layers = 2 if cell in ("wmc", "glstm") else 1  # also checks the all-steps output path
    enc = make_encoder(
        cell, 3, 3, num_layers=layers, window_span_s=2.0, conv_channels=3, kernel_size=2,
        inner_cell="wmc",
    ).double()
    x, t = _window(2, 5, 3)
    x.requires_grad_()
    mask = _left_mask(2, 5, [0, 2]) if masked else None
    names = [n for n, _ in enc.named_parameters()]
    params = [p.detach().clone().requires_grad_() for _, p in enc.named_parameters()]
    if cell == "glstm":
        assert "layers.0.mu_raw" in names and "layers.0.s_raw" in names

    def f(x, *ps):
        h = torch.func.functional_call(enc, dict(zip(names, ps)), (x, t, mask))
        return h, enc.budget_term()

    assert gradcheck(f, (x, *params), eps=1e-6, atol=1e-6, nondet_tol=0.0)


@pytest.mark.parametrize("masked", [False, True])
def test_kernels_gradcheck_directly(masked: bool) -> None:
    """The hand-written BPTT of both kernels, all-steps output, incl. the gate weights K."""
    torch.manual_seed(1)
    T, B, H = 4, 2, 3
    xp = torch.randn(T, B, 4 * H, dtype=torch.float64, requires_grad=True)
    U = (0.5 * torch.randn(H, 4 * H, dtype=torch.float64)).requires_grad_()
    W3 = (0.5 * torch.randn(H, 3 * H, dtype=torch.float64)).requires_grad_()
    K = torch.rand(T, B, H, dtype=torch.float64).requires_grad_()
    m = _left_mask(B, T, [0, 2]).t().unsqueeze(-1).double() if masked else None
    assert gradcheck(lambda a, b, c: wmc_sequence(a, b, c, m), (xp, U, W3))
    assert gradcheck(lambda a, b, k: glstm_sequence(a, b, k), (xp, U, K))


def test_time_gate_gradcheck_and_value() -> None:
    from tsgate.nn.glstm import time_gate

    g = torch.Generator().manual_seed(11)
    t = torch.randn(5, 3, 1, generator=g, dtype=torch.float64)
    mu = torch.randn(4, generator=g, dtype=torch.float64).requires_grad_()
    sigma = (torch.rand(4, generator=g, dtype=torch.float64) + 0.5).requires_grad_()
    m = (torch.rand(5, 3, 1, generator=g) > 0.3).double()
    assert gradcheck(lambda a, b: time_gate(t, a, b, m), (mu, sigma))
    k = time_gate(t, mu, sigma)
    assert torch.allclose(k, torch.exp(-((t - mu) ** 2) / (2 * sigma**2)), atol=1e-15)


# ------------------------------------------------------------------------------------------
# Equations
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("masked", [False, True])
def test_wmc_matches_naive_reference(masked: bool) -> None:
    torch.manual_seed(2)
    enc = make_encoder("wmc", 3, 5).double()
    with torch.no_grad():  # non-trivial cell-to-gate weights
        enc.layers[0].W3.normal_(0.0, 0.7)
    x, t = _window(3, 9, 3)
    mask = _left_mask(3, 9, [0, 4, 8]) if masked else None
    layer = enc.layers[0]
    xp = (x.transpose(0, 1) @ layer.Wx + layer.b).detach()
    m = None if mask is None else mask.t().unsqueeze(-1).double()
    ref = wmc_reference(xp, layer.U.detach(), layer.W3.detach(), m)
    got = enc(x, t, mask)
    assert torch.allclose(got, ref[-1], atol=1e-12, rtol=0)
    # and the reference really uses the cell-to-gate terms: without them it differs
    ref0 = wmc_reference(xp, layer.U.detach(), torch.zeros_like(layer.W3), m)
    assert (ref0[-1] - ref[-1]).abs().max() > 1e-3
    # gradients equal too (hand-written BPTT against autograd of the naive loop)
    w = torch.randn(3, 5, dtype=torch.float64)
    xp1 = xp.clone().requires_grad_()
    U1 = layer.U.detach().clone().requires_grad_()
    W31 = layer.W3.detach().clone().requires_grad_()
    g_ref = torch.autograd.grad((wmc_reference(xp1, U1, W31, m)[-1] * w).sum(), (xp1, U1, W31))
    g_got = torch.autograd.grad((wmc_sequence(xp1, U1, W31, m)[-1] * w).sum(), (xp1, U1, W31))
    for a, b in zip(g_got, g_ref):
        assert torch.allclose(a, b, atol=1e-12, rtol=0)


def test_glstm_matches_naive_reference() -> None:
    torch.manual_seed(4)
    T, B, H = 8, 3, 4
    xp = torch.randn(T, B, 4 * H, dtype=torch.float64)
    U = 0.5 * torch.randn(H, 4 * H, dtype=torch.float64)
    K = torch.rand(T, B, H, dtype=torch.float64)
    assert torch.allclose(glstm_sequence(xp, U, K), glstm_reference(xp, U, K), atol=1e-12)
    # gradients: hand-written BPTT against autograd through the naive loop, last-h and all-h
    w = torch.randn(T, B, H, dtype=torch.float64)
    for last_only in (True, False):
        args = [a.clone().requires_grad_() for a in (xp, U, K)]
        ref = glstm_reference(*args)
        got = glstm_sequence(*args, last_only=last_only)
        ref = ref[-1] if last_only else ref
        wt = w[-1] if last_only else w
        g_ref = torch.autograd.grad((ref * wt).sum(), args)
        g_got = torch.autograd.grad((got * wt).sum(), args)
        for a, b in zip(g_got, g_ref):
            assert torch.allclose(a, b, atol=1e-12, rtol=0)


def test_glstm_closed_unit_keeps_its_state_exactly() -> None:
    torch.manual_seed(5)
    enc = make_encoder("glstm", 3, 4, window_span_s=10.0).double()
    layer = enc.layers[0]
    with torch.no_grad():
        layer.mu_raw[0] = -50.0  # unit 0: centred 490 s before the window -> k == 0
        layer.s_raw[0] = -5.0
        layer.mu_raw[1] = -0.7  # unit 1: open around t = -7 s only (sigma ~ 0.1 s)
        layer.s_raw[1] = math.log(math.expm1(0.01))
    x, t = _window(2, 30, 3, span=10.0)
    K = layer.gates(t.t().unsqueeze(-1))
    assert torch.all(K[:, :, 0] == 0.0)
    # "gate ~0": from here on k < 1e-20, far below float64 resolution of the state
    closed_after = (t[0] > -5.0).nonzero()[0].item()  # 20 sigmas past the centre
    assert torch.all(K[closed_after:, 0, 1] < 1e-20) and K[:, 0, 1].max() > 0.5
    assert closed_after < 25
    xp = layer.projection(x.transpose(0, 1))
    Hs = glstm_mod._glstm_forward(xp.detach(), layer.U.detach(), K.detach(), False)[0]
    assert torch.all(Hs[:, :, 0] == 0.0)  # never opened: still the initial state
    held = Hs[closed_after - 1, 0, 1]
    assert held != 0.0
    assert torch.all(Hs[closed_after:, 0, 1] == held)  # bit-for-bit the same


def test_glstm_gates_tile_the_window_and_budget_is_mean_gate() -> None:
    span = 60.0
    enc = make_encoder("glstm", 2, 8, window_span_s=span)
    mu, sigma = enc.layers[0].mu_sigma()
    assert torch.all(mu > -span) and torch.all(mu < 0) and torch.all(mu.diff() > 0)
    assert torch.all(sigma >= mu.diff().mean())  # neighbours overlap
    x, t = _window(3, 12, 2, span=span, dtype=torch.float32)
    mask = _left_mask(3, 12, [0, 5, 0])
    enc(x, t, mask)
    k = enc.layers[0].gates(t.t().unsqueeze(-1))  # [T, B, H]
    m = mask.t().unsqueeze(-1).float()
    expected = (k * m).sum() / (m.sum() * 8)
    assert torch.allclose(enc.budget_term(), expected, atol=1e-6)
    enc.budget_term().backward()
    assert enc.layers[0].mu_raw.grad.abs().sum() > 0
    assert enc.layers[0].s_raw.grad.abs().sum() > 0
    assert enc.layers[0].s_raw.grad.sum() > 0  # wider gates -> more openness


# ------------------------------------------------------------------------------------------
# Gate skipping at inference
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("mode", ["steps", "blocks"])
def test_glstm_gate_skipping_matches_full_computation(layers: int, mode: str) -> None:
    torch.manual_seed(6)
    enc = make_encoder("glstm", 3, 16, num_layers=layers, window_span_s=10.0).double()
    for layer in enc.layers:
        layer.skip_mode = mode
    x, t = _window(3, 40, 3, span=10.0)
    mask = _left_mask(3, 40, [0, 7, 0])
    enc.eval()
    with torch.no_grad():
        full = enc(x, t, mask)  # threshold 0: nothing skipped
    assert enc.last_open_fraction == 1.0
    # threshold 0 is the ordinary computation, identical in train and eval mode
    enc.train()
    with torch.no_grad():
        assert torch.equal(enc(x, t, mask), full)
    enc.eval()
    for thr, tol in ((1e-4, 1e-4), (0.3, None)):
        enc.gate_threshold = thr
        with torch.no_grad():
            skipped = enc(x, t, mask)  # skip path: closed units not computed
        frac = enc.last_open_fraction
        exact = enc(x, t, mask)  # grad enabled: full kernel with the same closed gates
        assert torch.allclose(skipped, exact, atol=1e-12, rtol=0)
        if tol is not None:
            # the only difference is the skipped units' contribution, each k < 1e-4 per step
            assert (skipped - full).abs().max() < tol
        if thr == 0.3:
            assert frac < 0.5
            assert (skipped - full).abs().max() > 1e-6  # it did skip something


def test_glstm_skipping_skips_whole_steps() -> None:
    """Gates open only in the last 10 % of the window: early steps are not computed."""
    torch.manual_seed(7)
    enc = make_encoder("glstm", 2, 8, window_span_s=1.0, gate_threshold=0.05)
    with torch.no_grad():
        enc.layers[0].mu_raw.copy_(torch.linspace(-0.1, 0.0, 8))
        enc.layers[0].s_raw.fill_(math.log(math.expm1(0.02)))
    x = torch.randn(1, 64, 2)
    t = torch.linspace(-1.0, 0.0, 64).unsqueeze(0)
    enc.eval()
    with torch.no_grad():
        h = enc(x, t)
    assert enc.last_open_fraction < 0.2
    assert enc.layers[0].last_steps_computed <= 12  # of 64
    enc.gate_threshold = 0.0
    with torch.no_grad():
        h0 = enc(x, t)
    assert enc.layers[0].last_steps_computed == 64
    assert (h - h0).abs().max() < 0.05


# ------------------------------------------------------------------------------------------
# Masking
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", CELLS)
def test_left_padding_leaves_state_unchanged(cell: str) -> None:
    """A left-padded row (garbage in the padding) gives the same h as the unpadded row."""
    torch.manual_seed(8)
    enc = make_encoder(cell, 3, 5, num_layers=2, window_span_s=2.0, inner_cell="glstm")
    enc.eval()
    x, t = _window(1, 6, 3, dtype=torch.float32)
    pad = 4
    xg = torch.cat([100 * torch.randn(1, pad, 3), x], 1)
    tg = torch.cat([torch.full((1, pad), -1.5), t], 1)  # inside the window: gates open
    mask = _left_mask(1, 6 + pad, [pad])
    h_pad = enc(xg, tg, mask)
    h_ref = enc(x, t)
    assert torch.allclose(h_pad, h_ref, atol=1e-5), (h_pad - h_ref).abs().max()


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn", "wmc", "glstm"])
def test_masked_steps_in_the_middle_are_skipped(cell: str) -> None:
    torch.manual_seed(9)
    enc = make_encoder(cell, 3, 4, window_span_s=2.0)
    x, t = _window(2, 8, 3, dtype=torch.float32)
    mask = torch.ones(2, 8, dtype=torch.bool)
    mask[0, [2, 5]] = False
    keep = mask[0]
    h = enc(x, t, mask)
    h0 = enc(x[:1, keep], t[:1, keep])
    assert torch.allclose(h[:1], h0, atol=1e-5)
    assert torch.allclose(h[1:], enc(x[1:], t[1:]), atol=1e-5)


def test_row_without_observations_gives_zero_state() -> None:
    x, t = _window(2, 4, 3, dtype=torch.float32)
    mask = _left_mask(2, 4, [4, 0])
    for cell in ("lstm", "wmc", "glstm"):
        h = make_encoder(cell, 3, 4)(x, t, mask)
        assert torch.all(h[0] == 0.0) and h[1].abs().sum() > 0


# ------------------------------------------------------------------------------------------
# Learning a small irregular task
# ------------------------------------------------------------------------------------------


def _sine_task(n: int, T: int, g: torch.Generator):
    """Next value (0.2 s after the last sample) of a 0.5 Hz sine sampled every 0.05-0.3 s."""
    dt = 0.05 + 0.25 * torch.rand(n, T, generator=g)
    times = dt.cumsum(1)
    phase = 2 * math.pi * torch.rand(n, 1, generator=g)
    w = 2 * math.pi * 0.5
    x = torch.stack([torch.sin(w * times + phase), dt / 0.3], -1)  # value, Δt feature
    y = torch.sin(w * (times[:, -1:] + 0.2) + phase)
    return x, times - times[:, -1:], y


@pytest.mark.parametrize("cell", CELLS)
def test_each_cell_learns_irregular_sine(cell: str) -> None:
    """200 Adam steps (about 1-2 s): test MSE < 0.02, against 0.2 for 'repeat last value'."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    x_test, t_test, y_test = _sine_task(512, 16, g)
    enc = make_encoder(cell, 2, 16, window_span_s=3.0)
    head = torch.nn.Linear(16, 1)
    opt = torch.optim.Adam([*enc.parameters(), *head.parameters()], lr=0.02)
    for _ in range(200):
        x, t, y = _sine_task(128, 16, g)
        loss = torch.nn.functional.mse_loss(head(enc(x, t)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        mse = torch.nn.functional.mse_loss(head(enc(x_test, t_test)), y_test).item()
        naive = torch.nn.functional.mse_loss(x_test[:, -1, :1], y_test).item()
    assert naive > 0.15
    assert mse < 0.02, f"{cell}: test MSE {mse:.4f}"


@pytest.mark.parametrize("cell", CELLS)
def test_copy_and_pickle_after_forward(cell: str) -> None:
    """Per-forward caches (gates with their graph, scaled weights) never block a copy."""
    import copy
    import io

    enc = make_encoder(cell, 3, 4, window_span_s=2.0, inner_cell="glstm")
    x, t = _window(2, 5, 3, dtype=torch.float32)
    enc(x, t)  # training forward: caches hold autograd graphs
    enc.eval()
    with torch.no_grad():
        h = enc(x, t)  # inference caches
    enc.train()
    enc(x, t)
    twin = copy.deepcopy(enc)
    buf = io.BytesIO()
    torch.save(enc, buf)
    twin.eval()
    with torch.no_grad():
        assert torch.allclose(twin(x, t), h)



def test_glstm_gates_below_float32_resolution_are_exactly_closed() -> None:
    """No denormal numbers from nearly closed gates (they made training 5x slower on x86)."""
    torch.manual_seed(12)
    enc = make_encoder("glstm", 3, 32, window_span_s=10.0)
    x, t = _window(8, 64, 3, span=10.0, dtype=torch.float32)
    for grad in (True, False):
        with torch.set_grad_enabled(grad):
            k = enc.layers[0].gates(t.t().unsqueeze(-1))
        assert int((k == 0).sum()) > 0  # narrow gates far from their centre: closed
        assert int(((k > 0) & (k < 1.2e-7)).sum()) == 0
    enc(x, t).sum().backward()
    tiny = torch.finfo(torch.float32).tiny
    for p in enc.parameters():
        assert int(((p.grad != 0) & (p.grad.abs() < tiny)).sum()) == 0
