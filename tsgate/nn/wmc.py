"""LSTM with Working Memory Connections (WMC; Landi et al. 2021), the maths only.

The cell state feeds the gates through a learnt, tanh-squashed projection::

    i = sigmoid(z_i + tanh(W_ci c_{t-1}))      f = sigmoid(z_f + tanh(W_cf c_{t-1}))
    g = tanh(z_g)                              c_t = f * c_{t-1} + i * g
    o = sigmoid(z_o + tanh(W_co c_t))          h_t = o * tanh(c_t)

with ``z = W x_t + U h_{t-1} + b`` as in an LSTM (gate order i, f, g, o). The input and forget
gates see the previous cell state, the output gate the new one.

Kernel: the input projection of all steps is one matmul before the loop. ``W3 = W_co | W_ci |
W_cf`` ``[H, 3H]`` is applied as ``c_t @ W3``: one matmul gives the output-gate term of step t
and the input/forget terms of step t + 1. A training step computes the derivative factors the
backward needs while the values are in cache; the backward loop is then two small matmuls and
about ten element-wise kernels per step, and the weight gradients are one matmul each over
all steps. ``benchmarks/cells.py`` measures it against ``torch.nn.LSTM``.
"""

from __future__ import annotations

import math
from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn

from tsgate.nn.lstm_family import LSTMFamilyLayer, StackedEncoder, needs_grad, output_gradients, sequence_output

__all__ = ["WMCEncoder", "WMCLayer", "wmc_sequence", "wmc_reference"]


def _wmc_forward(xp: Tensor, U: Tensor, W3: Tensor, m: Optional[Tensor], save: bool) -> List[Tensor]:
    """WMC-LSTM over ``xp [T, B, 4H]`` (input projection incl. bias) from a zero state.

    ``m [T, B, 1]`` (1 = observed, 0 = keep the state) or None. Returns ``[Hs]`` (post-step h,
    ``[T, B, H]``) or, with ``save``, also the factors of the backward: ``Cs`` candidate c,
    ``Fs`` forget gate, ``Kq`` = 1 - tanh(c~ @ W3)^2, ``Kifg`` = d c~ / d(z_i, z_f, z_g),
    ``Ko`` = d h~ / d z_o and ``Kc`` = d h~ / d c~ (direct path), the last three times m.
    (Written in the TorchScript subset so that ``benchmarks/cells.py`` can compare.)
    """
    T = xp.size(0)
    B = xp.size(1)
    H = U.size(0)
    h = xp.new_zeros([B, H])
    c = xp.new_zeros([B, H])
    tr = xp.new_zeros([B, 2 * H])  # tanh(c_{t-1} @ [W_ci | W_cf]); tanh(0) = 0 at the start
    one = xp.new_ones([1, 1])
    Hs = xp.new_empty([T, B, H])
    n = T if save else 0
    Cs = xp.new_empty([n, B, H])
    Fs = xp.new_empty([n, B, H])
    Ko = xp.new_empty([n, B, H])
    Kc = xp.new_empty([n, B, H])
    Kq = xp.new_empty([n, B, 3 * H])
    Kifg = xp.new_empty([n, B, 3 * H])
    ml: List[Tensor] = []
    if m is not None:
        ml = m.unbind(0)
    xpl = xp.unbind(0)
    for t in range(T):
        z = torch.addmm(xpl[t], h, U)
        sif = torch.sigmoid(z[:, : 2 * H].add_(tr))
        i = sif[:, :H]
        f = sif[:, H:]
        g = torch.tanh(z[:, 2 * H : 3 * H])
        if save:
            cc = torch.addcmul(f * c, i, g, out=Cs[t])
        else:
            cc = torch.addcmul(f * c, i, g)
        tq = torch.tanh(torch.mm(cc, W3))
        o = torch.sigmoid(z[:, 3 * H :].add_(tq[:, :H]))
        tc = torch.tanh(cc)
        if m is None:
            hh = torch.mul(o, tc, out=Hs[t])
        else:
            hh = o * tc
        if save:
            Fs[t].copy_(f)
            torch.addcmul(one, tq, tq, value=-1.0, out=Kq[t])
            dsif = torch.addcmul(sif, sif, sif, value=-1.0)  # sigmoid' of z_i, z_f
            Kt = Kifg[t]
            torch.mul(dsif[:, :H], g, out=Kt[:, :H])
            torch.mul(dsif[:, H:], c, out=Kt[:, H : 2 * H])
            torch.addcmul(i, i, g * g, value=-1.0, out=Kt[:, 2 * H :])  # i * tanh'(z_g)
            Kot = torch.mul(torch.addcmul(o, o, o, value=-1.0), tc, out=Ko[t])
            Kct = torch.addcmul(o, hh, tc, value=-1.0, out=Kc[t])  # o * (1 - tanh(c~)^2)
            if m is not None:
                mt = ml[t]
                Kot.mul_(mt)
                Kct.mul_(mt)
                Kq[t][:, H:].mul_(mt)  # an unobserved step passes no cell term to the next
        if m is not None:
            mt = ml[t]
            h = torch.lerp(h, hh, mt, out=Hs[t])
            c = torch.lerp(c, cc, mt)
            tr = torch.lerp(tr, tq[:, H:], mt)
        else:
            h = hh
            c = cc
            tr = tq[:, H:]
    if save:
        return [Hs, Cs, Fs, Kq, Kifg, Ko, Kc]
    return [Hs]


def _wmc_backward(
    dh_last: Tensor, dHs: Optional[Tensor], U: Tensor, W3: Tensor, Hs: Tensor, Cs: Tensor,
    Fs: Tensor, Kq: Tensor, Kifg: Tensor, Ko: Tensor, Kc: Tensor, m: Optional[Tensor],
) -> Tuple[Tensor, Tensor, Tensor]:
    """BPTT for :func:`_wmc_forward`: gradients of ``xp``, ``U`` and ``W3``.

    ``dh_last [B, H]`` is the gradient of the last h; ``dHs [T, B, H]`` (or None) that of every
    post-step h.
    """
    T = Hs.size(0)
    B = Hs.size(1)
    H = U.size(0)
    dZ = Hs.new_empty([T, B, 4 * H])  # gradients of the gate pre-activations (+ cell terms)
    dQ = Hs.new_empty([T, B, 3 * H])  # gradients of c~_t @ W3
    UT = U.t()
    W3T = W3.t()
    dh = dh_last
    dc = Hs.new_zeros([B, H])
    dtr = Hs.new_zeros([B, 2 * H])  # gradient of the i/f pre-activations of the next step
    ml: List[Tensor] = []
    oml: List[Tensor] = []
    if m is not None:
        ml = m.unbind(0)
        oml = (1.0 - m).unbind(0)
    dHl: List[Tensor] = []
    if dHs is not None:
        dHl = dHs.unbind(0)
    for s in range(T):
        t = T - 1 - s
        if dHs is not None:
            dh = dh + dHl[t]
        dZt = dZ[t]
        dQt = dQ[t]
        Kqt = Kq[t]
        dzo = torch.mul(dh, Ko[t], out=dZt[:, 3 * H :])
        torch.mul(dzo, Kqt[:, :H], out=dQt[:, :H])
        torch.mul(dtr, Kqt[:, H:], out=dQt[:, H:])
        if m is not None:
            base = torch.addcmul(ml[t] * dc, dh, Kc[t])
        else:
            base = torch.addcmul(dc, dh, Kc[t])
        dcc = torch.addmm(base, dQt, W3T)
        torch.mul(dcc.unsqueeze(1), Kifg[t].view(B, 3, H), out=dZt[:, : 3 * H].view(B, 3, H))
        if m is not None:
            om = oml[t]
            dtr = torch.addcmul(dZt[:, : 2 * H], om, dtr)
            dc = torch.addcmul(om * dc, dcc, Fs[t])
            dh = torch.addmm(om * dh, dZt, UT)
        else:
            dtr = dZt[:, : 2 * H]
            dc = dcc * Fs[t]
            dh = torch.mm(dZt, UT)
    # h_{-1} = 0, so step 0 adds nothing to dU.
    dU = torch.mm(Hs[:-1].reshape((T - 1) * B, H).t(), dZ[1:].reshape((T - 1) * B, 4 * H))
    dW3 = torch.mm(Cs.reshape(T * B, H).t(), dQ.reshape(T * B, 3 * H))
    return dZ, dU, dW3


class _WMCFunction(torch.autograd.Function):
    """Whole-sequence WMC-LSTM with a hand-written backward.

    Returns all post-step h ``[T, B, H]``, or only the last ``[B, H]`` with ``last_only``.
    """

    @staticmethod
    def forward(ctx, xp: Tensor, U: Tensor, W3: Tensor, m: Optional[Tensor], last_only: bool) -> Tensor:  # type: ignore[override]
        out = _wmc_forward(xp, U, W3, m, True)
        ctx.save_for_backward(U, W3, *out)
        ctx.m = m
        ctx.last_only = last_only
        return sequence_output(out[0], last_only)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dout: Tensor):  # type: ignore[override]
        U, W3, *saved = ctx.saved_tensors
        dh_last, dHs = output_gradients(dout, ctx.last_only)
        dZ, dU, dW3 = _wmc_backward(dh_last, dHs, U, W3, *saved, ctx.m)
        return dZ, dU, dW3, None, None


def wmc_sequence(
    xp: Tensor, U: Tensor, W3: Tensor, m: Optional[Tensor] = None, last_only: bool = False
) -> Tensor:
    """Post-step hidden states ``[T, B, H]`` (or the last, ``[B, H]``) of a WMC-LSTM layer.

    ``xp [T, B, 4H]`` is the input projection including the bias, gate order i, f, g, o;
    ``U [H, 4H]`` the recurrent weights; ``W3 [H, 3H]`` = ``W_co | W_ci | W_cf`` (applied as
    ``c @ W3``); ``m [T, B, 1]`` 1 = observed, 0 = keep the state. Zero initial state.
    """
    if needs_grad(xp, U, W3):
        return _WMCFunction.apply(xp, U, W3, m, last_only)
    Hs = _wmc_forward(xp, U, W3, m, False)[0]
    return Hs[-1] if last_only else Hs


def wmc_reference(xp: Tensor, U: Tensor, W3: Tensor, m: Optional[Tensor] = None) -> Tensor:
    """Naive step-by-step WMC-LSTM straight from the equations, differentiated by autograd
    (the independent reference of the tests and ``benchmarks/seeds.py``)."""
    T, B, _ = xp.shape
    H = U.shape[0]
    W_co, W_ci, W_cf = W3[:, :H], W3[:, H : 2 * H], W3[:, 2 * H :]
    h = xp.new_zeros(B, H)
    c = xp.new_zeros(B, H)
    hs = []
    for t in range(T):
        z = xp[t] + h @ U
        zi, zf, zg, zo = z.split(H, 1)
        i = torch.sigmoid(zi + torch.tanh(c @ W_ci))
        f = torch.sigmoid(zf + torch.tanh(c @ W_cf))
        g = torch.tanh(zg)
        c_new = f * c + i * g
        o = torch.sigmoid(zo + torch.tanh(c_new @ W_co))
        h_new = o * torch.tanh(c_new)
        if m is not None:
            c_new = m[t] * c_new + (1 - m[t]) * c
            h_new = m[t] * h_new + (1 - m[t]) * h
        h, c = h_new, c_new
        hs.append(h)
    return torch.stack(hs)


class WMCLayer(LSTMFamilyLayer):
    """One WMC-LSTM layer: LSTM weights plus ``W3 = W_co | W_ci | W_cf`` ``[H, 3H]``."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        H = hidden_size
        self.W3 = nn.Parameter(torch.empty(H, 3 * H))
        with torch.no_grad():
            self.W3.uniform_(-1.0 / math.sqrt(H), 1.0 / math.sqrt(H))

    def forward(self, X: Tensor, m: Optional[Tensor], last_only: bool = False) -> Tensor:
        return wmc_sequence(self.projection(X), self.U, self.W3, m, last_only)


class WMCEncoder(StackedEncoder):
    """WMC-LSTM encoder (Landi et al. 2021), ``num_layers`` stacked."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0) -> None:
        layers = [
            WMCLayer(input_size if i == 0 else hidden_size, hidden_size) for i in range(num_layers)
        ]
        super().__init__(layers, input_size, hidden_size, dropout)
