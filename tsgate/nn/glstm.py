"""Gaussian-gated LSTM (g-LSTM; Thornton, Anumula, Liu), the maths only.

Each hidden unit j has a time gate evaluated at the sample's time t (seconds, relative to the
window's last sample)::

    k_j(t) = exp(-(t - mu_j)^2 / (2 sigma_j^2))
    c_t = k * c~_t + (1 - k) * c_{t-1},   h_t = k * h~_t + (1 - k) * h_{t-1}

where c~, h~ are the ordinary LSTM update. ``mu = span * mu_raw`` and
``sigma = span * (softplus(s_raw) + 1e-3)`` are learnt in units of the window span, so the
learning rate does not depend on whether the window lasts 6 s or 6 h. At initialisation the
gate centres tile ``[-window_span_s, 0]`` evenly and neighbouring gates overlap.

``budget_term()`` returns mean(k) over units and observed steps of the last forward (all
layers), differentiable in mu and sigma, for the loss term ``lambda * mean(k)``.

Inference with ``gate_threshold > 0`` (module in eval mode): a gate below the threshold counts
as closed (k = 0, the unit keeps its state exactly). Without gradients the closed units are not
computed at all: steps where no unit is open are skipped, and on the other steps only the
contiguous block of units (sorted by mu) that holds the open ones is computed. With gradients
(e.g. an online update in eval mode) the same thresholded gates go through the full kernel, so
the output does not depend on the grad mode.
"""

from __future__ import annotations

import math
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as Fn
from torch import Tensor, nn

from tsgate.exceptions import ConfigError
from tsgate.nn.encoder import Encoder, check_inputs, time_major_mask, without_caches
from tsgate.nn.lstm_family import LSTMFamilyLayer, needs_grad, output_gradients, sequence_output

__all__ = ["GLSTMEncoder", "GLSTMLayer", "glstm_sequence", "glstm_reference", "time_gate"]

_SIGMA_FLOOR = 1e-3  # in units of the window span
# A gate below float32's resolution counts as closed (exactly 0). Its share of a step's update
# is invisible next to an O(1) state, and the tiny values it would leave in the state and the
# gradients are denormal numbers, which x86 CPUs process 10-100x slower: unfloored, the
# training step of a 64-unit layer took 5x longer (measured with benchmarks/cells.py).
_LOG_CLOSED = math.log(1.2e-7)


# --------------------------------------------------------------------------------------------
# Kernels
# --------------------------------------------------------------------------------------------


def _glstm_forward(xp: Tensor, U: Tensor, K: Tensor, save: bool) -> List[Tensor]:
    """g-LSTM over ``xp [T, B, 4H]`` (input projection incl. bias, gates i, f, g, o) with blend
    weights ``K [T, B, H]`` (time gate x mask), from a zero state.

    Returns ``[Hs]`` or, with ``save``, ``[Hs, Fs, Kifg, Ko, Kc, Dh, Dc]``: the forget gate,
    d(c~)/d(z_i, z_f, z_g), k d(h~)/d(z_o), k d(h~)/d(c~), h~ - h_{t-1}, c~ - c_{t-1}.
    """
    T = xp.size(0)
    B = xp.size(1)
    H = U.size(0)
    h = xp.new_zeros([B, H])
    c = xp.new_zeros([B, H])
    Hs = xp.new_empty([T, B, H])
    n = T if save else 0
    Fs = xp.new_empty([n, B, H])
    Ko = xp.new_empty([n, B, H])
    Kc = xp.new_empty([n, B, H])
    Dh = xp.new_empty([n, B, H])
    Dc = xp.new_empty([n, B, H])
    Kifg = xp.new_empty([n, B, 3 * H])
    xpl = xp.unbind(0)
    Kl = K.unbind(0)
    for t in range(T):
        z = torch.addmm(xpl[t], h, U)
        sif = torch.sigmoid(z[:, : 2 * H])
        i = sif[:, :H]
        f = sif[:, H:]
        g = torch.tanh(z[:, 2 * H : 3 * H])
        o = torch.sigmoid(z[:, 3 * H :])
        cc = torch.addcmul(f * c, i, g)
        tc = torch.tanh(cc)
        hh = o * tc
        kt = Kl[t]
        if save:
            Fs[t].copy_(f)
            dsif = torch.addcmul(sif, sif, sif, value=-1.0)
            Kt = Kifg[t]
            torch.mul(dsif[:, :H], g, out=Kt[:, :H])
            torch.mul(dsif[:, H:], c, out=Kt[:, H : 2 * H])
            torch.addcmul(i, i, g * g, value=-1.0, out=Kt[:, 2 * H :])
            torch.mul(torch.addcmul(o, o, o, value=-1.0).mul_(tc), kt, out=Ko[t])
            torch.mul(torch.addcmul(o, hh, tc, value=-1.0), kt, out=Kc[t])
            dc_ = torch.sub(cc, c, out=Dc[t])
            dh_ = torch.sub(hh, h, out=Dh[t])
            c = torch.addcmul(c, kt, dc_)
            h = torch.addcmul(h, kt, dh_, out=Hs[t])
        else:
            c = torch.lerp(c, cc, kt)
            h = torch.lerp(h, hh, kt, out=Hs[t])
    if save:
        return [Hs, Fs, Kifg, Ko, Kc, Dh, Dc]
    return [Hs]


def _glstm_backward(
    dh_last: Tensor, dHs: Optional[Tensor], U: Tensor, K: Tensor, Hs: Tensor, Fs: Tensor,
    Kifg: Tensor, Ko: Tensor, Kc: Tensor, Dh: Tensor, Dc: Tensor,
) -> Tuple[Tensor, Tensor, Tensor]:
    """BPTT for :func:`_glstm_forward`: gradients of ``xp``, ``U`` and ``K``."""
    T = Hs.size(0)
    B = Hs.size(1)
    H = U.size(0)
    dZ = Hs.new_empty([T, B, 4 * H])
    dK = Hs.new_empty([T, B, H])
    UT = U.t()
    Kl = K.unbind(0)
    OmKl = (1.0 - K).unbind(0)
    dh = dh_last
    dc = Hs.new_zeros([B, H])
    dHl: List[Tensor] = []
    if dHs is not None:
        dHl = dHs.unbind(0)
    for s in range(T):
        t = T - 1 - s
        if dHs is not None:
            dh = dh + dHl[t]
        dZt = dZ[t]
        torch.addcmul(dh * Dh[t], dc, Dc[t], out=dK[t])
        torch.mul(dh, Ko[t], out=dZt[:, 3 * H :])
        dcc = torch.addcmul(Kl[t] * dc, dh, Kc[t])
        torch.mul(dcc.unsqueeze(1), Kifg[t].view(B, 3, H), out=dZt[:, : 3 * H].view(B, 3, H))
        om = OmKl[t]
        dc = torch.addcmul(om * dc, dcc, Fs[t])
        dh = torch.addmm(om * dh, dZt, UT)
    dU = torch.mm(Hs[:-1].reshape((T - 1) * B, H).t(), dZ[1:].reshape((T - 1) * B, 4 * H))
    return dZ, dU, dK


class _GLSTMFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xp: Tensor, U: Tensor, K: Tensor, last_only: bool) -> Tensor:  # type: ignore[override]
        out = _glstm_forward(xp, U, K, True)
        ctx.save_for_backward(U, K, *out)
        ctx.last_only = last_only
        return sequence_output(out[0], last_only)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dout: Tensor):  # type: ignore[override]
        U, K, *saved = ctx.saved_tensors
        dh_last, dHs = output_gradients(dout, ctx.last_only)
        dZ, dU, dK = _glstm_backward(dh_last, dHs, U, K, *saved)
        return dZ, dU, dK, None


def _glstm_skip(
    xp: Tensor, U: Tensor, K: Tensor, steps: List[int], starts: List[int], ends: List[int],
    need_seq: bool,
) -> Tensor:
    """Inference over the active steps only, computing units ``starts[n]:ends[n]`` at step
    ``steps[n]``. Weights/inputs are *unit-major* (columns u*4 + gate) and K is zero where
    the gate is closed, so units inside a block whose gate is closed keep their state.

    Returns the last h ``[B, H]``, or with ``need_seq`` all post-step h ``[T, B, H]``.
    """
    T = xp.size(0)
    B = xp.size(1)
    H = U.size(0)
    h = xp.new_zeros([B, H])
    c = xp.new_zeros([B, H])
    Hs = xp.new_zeros([T, B, H]) if need_seq else h
    done = 0
    for n in range(len(steps)):
        t = steps[n]
        a = starts[n]
        b = ends[n]
        if need_seq:
            Hs[done:t] = h
            done = t
        z = torch.addmm(xp[t][:, 4 * a : 4 * b], h, U[:, 4 * a : 4 * b]).view(B, b - a, 4)
        S = torch.sigmoid(z)
        cs = c[:, a:b]
        cc = torch.addcmul(S[:, :, 1] * cs, S[:, :, 0], torch.tanh(z[:, :, 2]))
        hh = S[:, :, 3] * torch.tanh(cc)
        kt = K[t][:, a:b]
        cs.lerp_(cc, kt)
        h[:, a:b].lerp_(hh, kt)
    if need_seq:
        Hs[done:] = h
        return Hs
    return h


def time_gate(t: Tensor, mu: Tensor, sigma: Tensor, m: Optional[Tensor] = None) -> Tensor:
    """``k = exp(-(t - mu)^2 / (2 sigma^2))`` (times ``m`` if given): ``t [T, B, 1]`` s,
    ``mu, sigma [H]`` s, ``m [T, B, 1]`` -> ``[T, B, H]``; 0 where k < 1.2e-7 (closed, see
    ``_LOG_CLOSED``). Gradients flow to mu and sigma
    (not to t or m) through a hand-written backward: 4 passes over [T, B, H] each way
    instead of about twice that through autograd."""
    return _TimeGate.apply(t, mu, sigma, m)


class _TimeGate(torch.autograd.Function):
    @staticmethod
    def forward(ctx, t: Tensor, mu: Tensor, sigma: Tensor, m: Optional[Tensor]) -> Tensor:  # type: ignore[override]
        inv = 1.0 / sigma
        u = torch.addcmul(-mu * inv, t, inv)  # (t - mu) / sigma
        q = torch.mul(u, u).mul_(-0.5)
        k = q.masked_fill_(q < _LOG_CLOSED, -math.inf).exp_()
        if m is not None:
            k.mul_(m)
        ctx.save_for_backward(u, k, inv)
        return k

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dk: Tensor):  # type: ignore[override]
        u, k, inv = ctx.saved_tensors
        q = (dk * k).mul_(u)  # dk * k * u;  dk/dmu = k u / sigma, dk/dsigma = k u^2 / sigma
        dmu = q.sum((0, 1)) * inv
        dsigma = q.mul_(u).sum((0, 1)) * inv
        return None, dmu, dsigma, None


def glstm_sequence(
    xp: Tensor, U: Tensor, K: Tensor, last_only: bool = False
) -> Tensor:
    """Post-step h ``[T, B, H]`` (or the last, ``[B, H]``) of a g-LSTM layer: ``xp [T, B, 4H]``
    (input projection incl. bias, gates i, f, g, o), ``U [H, 4H]``, blend weights
    ``K [T, B, H]`` (time gate x mask). Zero initial state."""
    if needs_grad(xp, U, K):
        return _GLSTMFunction.apply(xp, U, K, last_only)
    Hs = _glstm_forward(xp, U, K, False)[0]
    return Hs[-1] if last_only else Hs


def glstm_reference(xp: Tensor, U: Tensor, K: Tensor) -> Tensor:
    """Naive step-by-step g-LSTM from the equations, differentiated by autograd (tests)."""
    T, B, _ = xp.shape
    H = U.shape[0]
    h = xp.new_zeros(B, H)
    c = xp.new_zeros(B, H)
    hs = []
    for t in range(T):
        zi, zf, zg, zo = (xp[t] + h @ U).split(H, 1)
        cc = torch.sigmoid(zf) * c + torch.sigmoid(zi) * torch.tanh(zg)
        hh = torch.sigmoid(zo) * torch.tanh(cc)
        k = K[t]
        c = k * cc + (1 - k) * c
        h = k * hh + (1 - k) * h
        hs.append(h)
    return torch.stack(hs)


# --------------------------------------------------------------------------------------------
# Layer and encoder
# --------------------------------------------------------------------------------------------


class GLSTMLayer(LSTMFamilyLayer):
    """One g-LSTM layer: LSTM weights plus the time gates ``mu_raw``, ``s_raw`` ``[H]``."""

    def __getstate__(self) -> dict:
        return without_caches(self.__dict__)

    def __init__(self, input_size: int, hidden_size: int, window_span_s: float) -> None:
        super().__init__(input_size, hidden_size)
        H = hidden_size
        self.span = float(window_span_s)
        # Centres of H equal bins over [-span, 0]; sigma = 2 bin widths (at least span/16) so
        # that neighbouring gates overlap and every time in the window is covered.
        mu0 = -1.0 + (torch.arange(H, dtype=torch.float32) + 0.5) / H
        sigma0 = max(2.0 / H, 1.0 / 16.0)
        s0 = math.log(math.expm1(sigma0 - _SIGMA_FLOOR))  # inverse softplus
        self.mu_raw = nn.Parameter(mu0)
        self.s_raw = nn.Parameter(torch.full((H,), s0))
        self.last_steps_computed = 0  # steps the last forward computed (skipping shows here)
        self.skip_mode = "auto"  # "auto", "steps" or "blocks" (see _forward_skip)

    def mu_sigma(self) -> Tuple[Tensor, Tensor]:
        """Gate centres and widths in seconds, ``[H]`` each."""
        mu = self.mu_raw * self.span
        sigma = (Fn.softplus(self.s_raw) + _SIGMA_FLOOR) * self.span
        return mu, sigma

    def gates(self, tt: Tensor, m: Optional[Tensor] = None) -> Tensor:
        """Time gates ``[T, B, H]`` at sample times ``tt [T, B, 1]`` (seconds), times the
        mask ``m [T, B, 1]`` if given."""
        mu, sigma = self.mu_sigma()
        if needs_grad(mu, sigma):
            return time_gate(tt, mu, sigma, m)
        d = tt - mu  # inference: the same values without recording a backward
        q = d.mul_(d).mul_(-0.5 / (sigma * sigma))
        k = q.masked_fill_(q < _LOG_CLOSED, -math.inf).exp_()
        return k if m is None else k.mul_(m)

    def forward(
        self, X: Tensor, K: Tensor, last_only: bool, threshold: float, skip: bool
    ) -> Tensor:
        if skip:
            return self._forward_skip(X, K, last_only, threshold)
        self.last_steps_computed = X.shape[0]
        return glstm_sequence(self.projection(X), self.U, K, last_only)

    @torch.no_grad()
    def _forward_skip(self, X: Tensor, K: Tensor, last_only: bool, threshold: float) -> Tensor:
        """Inference without the closed gates (``K`` is zero there): steps where no unit of
        any row is open are skipped; with ``skip_mode`` "blocks" (or "auto" on wide enough
        work) the other steps compute only the block of units, sorted by mu, holding the open
        ones. At batch 1 the step count, not the FLOPs, sets the time, so "auto" picks the
        block path only when ``batch * hidden >= 4096`` and the blocks average < H/2."""
        H = self.hidden_size
        T, B, F = X.shape
        open_tu = (K > 0).any(1)  # [T, H]
        active = open_tu.any(1).nonzero().flatten()
        n_act = int(active.numel())
        self.last_steps_computed = n_act
        if n_act == 0:
            h0 = X.new_zeros(B, H)
            return h0 if last_only else X.new_zeros(T, B, H)
        mode = self.skip_mode
        if mode == "auto":
            mode = "steps"
            if B * H >= 4096:
                rank = torch.argsort(torch.argsort(self.mu_raw.detach()))  # unit -> sorted pos
                pos = torch.where(open_tu[active], rank, -1)
                width = pos.amax(1) - torch.where(open_tu[active], rank, H).amin(1) + 1
                if float(width.sum()) < 0.5 * n_act * H:
                    mode = "blocks"
        if mode == "blocks":
            return self._skip_blocks(X, K, last_only, active)
        # Dense steps on the sub-sequence of active steps: exact, since a step where every
        # gate is zero changes nothing.
        xp = self.projection(X.index_select(0, active))
        Hs = _glstm_forward(xp, self.U, K.index_select(0, active), False)[0]
        if last_only:
            return Hs[-1]
        # state at step t = state after the last active step <= t (zero before the first)
        is_act = torch.zeros(T, dtype=torch.long, device=X.device)
        is_act[active] = 1
        return torch.cat([Hs.new_zeros(1, B, H), Hs]).index_select(0, is_act.cumsum(0))

    def _skip_blocks(self, X: Tensor, K: Tensor, last_only: bool, active: Tensor) -> Tensor:
        H = self.hidden_size
        T, B, F = X.shape
        perm, inv, Wx, b, U = self._unit_major_weights()
        xp = torch.addmm(b, X.reshape(T * B, F), Wx).view(T, B, 4 * H)
        Kp = K.index_select(2, perm)
        open_ = (Kp > 0).any(1)[active]  # [n_act, H] in mu order
        idx = torch.arange(H, device=K.device)
        steps = active.tolist()
        starts = torch.where(open_, idx, H).amin(1).tolist()
        ends = (torch.where(open_, idx, -1).amax(1) + 1).tolist()
        out = _glstm_skip(xp, U, Kp, steps, starts, ends, not last_only)
        return out.index_select(out.dim() - 1, inv)

    def _unit_major_weights(self) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Units sorted by mu, columns unit-major (u*4 + gate). Cached on the layer (inference
        only, never used with gradients) until a parameter changes: every optimiser step and
        ``load_state_dict`` move the version counters in the key."""
        params = (self.Wx, self.b, self.U, self.mu_raw)
        key = tuple((p.data_ptr(), p._version, p.dtype) for p in params)
        cache = getattr(self, "_um_cache", None)
        if cache is not None and cache[0] == key:
            return cache[1]
        H = self.hidden_size
        perm = torch.argsort(self.mu_raw.detach())
        inv = torch.argsort(perm)
        cols = (perm.unsqueeze(1) + H * torch.arange(4, device=perm.device)).reshape(-1)
        Wx = self.Wx.detach()[:, cols].contiguous()
        b = self.b.detach()[cols].contiguous()
        U = self.U.detach()[perm][:, cols].contiguous()
        value = (perm, inv, Wx, b, U)
        self._um_cache = (key, value)
        return value


def _as_float(value: object) -> Optional[float]:
    if isinstance(value, bool):
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


class GLSTMEncoder(Encoder):
    """Gaussian-gated LSTM encoder, ``num_layers`` stacked (all gated by the sample time)."""

    def __init__(
        self, input_size: int, hidden_size: int, *, num_layers: int = 1, dropout: float = 0.0,
        window_span_s: float = 1.0, gate_threshold: float = 0.0,
    ) -> None:
        super().__init__()
        span = _as_float(window_span_s)
        if span is None or not (math.isfinite(span) and span > 0):
            raise ConfigError(
                f"window_span_s must be a positive number of seconds (the window length), "
                f"got {window_span_s!r}"
            )
        thr = _as_float(gate_threshold)
        if thr is None or not (0.0 <= thr < 1.0):
            raise ConfigError(f"gate_threshold must be in [0, 1), got {gate_threshold!r}")
        window_span_s, gate_threshold = span, thr
        self.input_size = input_size
        self.output_size = hidden_size
        self.window_span_s = float(window_span_s)
        self.gate_threshold = float(gate_threshold)
        self.layers = nn.ModuleList(
            GLSTMLayer(input_size if i == 0 else hidden_size, hidden_size, window_span_s)
            for i in range(num_layers)
        )
        self.drop = nn.Dropout(dropout) if dropout > 0 and num_layers > 1 else None
        self._last: Optional[tuple] = None

    def forward(self, x: Tensor, t: Optional[Tensor] = None, mask: Optional[Tensor] = None) -> Tensor:
        check_inputs(x, t, mask, self.input_size, need_t=True)
        assert t is not None
        m = time_major_mask(mask, x.dtype)  # [T, B, 1] or None
        tt = t.t().unsqueeze(-1).to(x.dtype)
        thr = 0.0 if self.training else self.gate_threshold
        skip = thr > 0.0 and not torch.is_grad_enabled()
        X = x.transpose(0, 1)
        gates: List[Tensor] = []  # per layer, gate x mask (before the threshold)
        used: List[Tensor] = []  # per layer, the blend weights actually used
        last = len(self.layers) - 1
        for li, layer in enumerate(self.layers):
            Km = layer.gates(tt, m)
            gates.append(Km)
            if thr > 0.0:
                Km = Km.masked_fill(Km < thr, 0.0)
            used.append(Km)
            if li > 0 and self.drop is not None:
                X = self.drop(X)
            X = layer(X, Km, li == last, thr, skip)
        # budget and open fraction are computed on demand (inference never pays for them)
        self._last = (gates, used if thr > 0.0 else None, m, x.shape[0] * x.shape[1])
        return X

    @property
    def last_open_fraction(self) -> float:
        """Fraction of (unit, observed step) gates computed in the last forward (1.0 when
        nothing was skipped); NaN before any forward."""
        if self._last is None:
            return float("nan")
        _, used, m, n = self._last
        if used is None:  # no threshold: every gate was computed
            return 1.0
        n_obs = float(n if m is None else m.sum())
        fr = [float((K > 0).sum()) / (n_obs * K.shape[-1]) for K in used]
        return sum(fr) / len(fr)

    def budget_term(self) -> Tensor:
        """mean(k) over units, observed steps and layers of the last forward (0 before any);
        differentiable in mu and sigma when the forward ran with gradients."""
        if self._last is None:
            return super().budget_term()
        gates, _, m, n = self._last
        n_obs = float(n) if m is None else m.sum()
        total = sum(K.sum() / (n_obs * K.shape[-1]) for K in gates)
        return total / len(gates)
