"""LSTM with Working Memory Connections (WMC; Landi et al. 2021), the maths only.

The input and forget gates add ``tanh(W_ci c_{t-1})``, ``tanh(W_cf c_{t-1})``, the output gate
adds ``tanh(W_co c_t)``. The whole sequence runs inside one ``torch.autograd.Function`` whose
forward and backward time loops are TorchScript functions with a hand-written backward
(BPTT). The input projection of all steps is one matmul before the loop, the cell-to-gate
projections ``W_co`` (step t) and ``W_ci | W_cf`` (step t+1) are one matmul on ``c_t``, and the
weight gradients are one matmul over all steps after the backward loop, so a step costs two
small matmuls plus about 12 element-wise kernels at inference, 24 when training (the backward
factors are formed while the values are in cache), and 8 backward. ``benchmarks/cells.py``
measures it against ``torch.nn.LSTM``.
"""

from __future__ import annotations

import math
from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn

from tsgate.nn.lstm_family import (
    LSTMFamilyLayer,
    StackedEncoder,
    gate_scales,
    output_gradients,
    sequence_output,
)
from tsgate.nn.scripting import scripted

__all__ = ["WMCEncoder", "WMCLayer", "wmc_sequence", "wmc_reference"]

# Gate order in the 4H pre-activations: i, f, g, o (as torch.nn.LSTM).
# W3 [H, 3H] columns: W_co | W_ci | W_cf, so q_t = c_t @ W3 holds the output-gate term of
# step t and the input/forget-gate terms of step t+1 in one matmul.
#
# The kernels work on *scaled* weights so that every nonlinearity but tanh(c) is one sigmoid
# (torch's CPU tanh costs about twice a sigmoid): with tanh(x) = 2 sigmoid(2x) - 1,
#   g   = tanh(z_g)          -> 2 sigmoid(z_g') - 1        with the g columns of Wx, b, U x2
#   tanh(c @ W_c*)           -> 2 sigmoid(c @ W3') - 1     with W3' = 2 W3
# and the constants -1 of the cell-to-gate terms folded into the i, f, o biases. The initial
# value sigmoid(0) = 0.5 of the i/f cell terms then reproduces tanh(0 @ W) = 0 exactly.
# ``gate_scales`` gives the column scale and bias shift; ``wmc_sequence`` applies them.


def _wmc_forward(
    xp: Tensor, U: Tensor, W3: Tensor, m: Optional[Tensor], save: bool
) -> List[Tensor]:
    """WMC-LSTM over scaled ``xp [T, B, 4H]`` (input projection incl. bias), zero state.

    ``m [T, B, 1]`` (1 = observed, 0 = keep the state). Returns ``[Hs]`` (post-step h,
    ``[T, B, H]``) or, with ``save``, also the factors the backward needs:
    ``C`` candidate c, ``S`` sigmoid(i|f|g'), ``Kq`` sq(1-sq) of the cell terms,
    ``Kifg`` d(c~)/d(z_i|z_f|z_g'), ``Ko`` d(h~)/d(z_o), ``Kc`` d(h~)/d(c~); masked factors
    already multiplied by m.
    """
    T = xp.size(0)
    B = xp.size(1)
    H = U.size(0)
    h = xp.new_zeros([B, H])
    c = xp.new_zeros([B, H])
    sr = xp.new_full([B, 2 * H], 0.5)  # sigmoid(c_{t-1} @ [W_ci | W_cf]'), tanh term = 2 sr - 1
    neg1 = xp.new_full([1, 1], -1.0)
    Hb = xp.new_empty([T, B, H])
    Cb = Hb
    Sb = Hb
    Kq = Hb
    Kifg = Hb
    Ko = Hb
    Kc = Hb
    if save:
        Cb = xp.new_empty([T, B, H])
        Sb = xp.new_empty([T, B, 3 * H])
        Kq = xp.new_empty([T, B, 3 * H])
        Kifg = xp.new_empty([T, B, 3 * H])
        Ko = xp.new_empty([T, B, H])
        Kc = xp.new_empty([T, B, H])
    ml: List[Tensor] = []
    if m is not None:
        ml = m.unbind(0)
    xpl = xp.unbind(0)
    for t in range(T):
        z = torch.addmm(xpl[t], h, U)
        z[:, : 2 * H].add_(sr, alpha=2.0)
        if save:
            S = torch.sigmoid(z[:, : 3 * H], out=Sb[t])
        else:
            S = torch.sigmoid(z[:, : 3 * H])
        i = S[:, :H]
        g = torch.add(neg1, S[:, 2 * H :], alpha=2.0)
        if save:
            cc = torch.addcmul(S[:, H : 2 * H] * c, i, g, out=Cb[t])
        else:
            cc = torch.addcmul(S[:, H : 2 * H] * c, i, g)
        sq = torch.sigmoid(torch.mm(cc, W3))
        o = torch.sigmoid(torch.add(z[:, 3 * H :], sq[:, :H], alpha=2.0))
        tc = torch.add(neg1, torch.sigmoid(cc + cc), alpha=2.0)  # tanh(cc), 2x cheaper here
        if m is None:
            hh = torch.mul(o, tc, out=Hb[t])
        else:
            hh = o * tc
        if save:
            Kqt = torch.addcmul(sq, sq, sq, value=-1.0, out=Kq[t])
            dS = torch.addcmul(S, S, S, value=-1.0)
            Kt = Kifg[t]
            torch.mul(dS[:, :H], g, out=Kt[:, :H])
            torch.mul(dS[:, H : 2 * H], c, out=Kt[:, H : 2 * H])
            torch.mul(dS[:, 2 * H :], i + i, out=Kt[:, 2 * H :])
            Kot = torch.mul(torch.addcmul(o, o, o, value=-1.0), tc, out=Ko[t])
            Kct = torch.addcmul(o, hh, tc, value=-1.0, out=Kc[t])
            if m is not None:
                mt = ml[t]
                Kot.mul_(mt)
                Kct.mul_(mt)
                Kqt[:, H:].mul_(mt)
        if m is not None:
            mt = ml[t]
            c = torch.lerp(c, cc, mt)
            h = torch.lerp(h, hh, mt, out=Hb[t])
            sr = torch.lerp(sr, sq[:, H:], mt)  # m is 0/1: blending sigmoid = sigmoid of blend
        else:
            c = cc
            h = hh
            sr = sq[:, H:]
    if save:
        return [Hb, Cb, Sb, Kq, Kifg, Ko, Kc]
    return [Hb]


def _wmc_backward(
    dh_last: Tensor, dHs: Optional[Tensor], U: Tensor, W3: Tensor, Hb: Tensor, Cb: Tensor,
    Sb: Tensor, Kq: Tensor, Kifg: Tensor, Ko: Tensor, Kc: Tensor, m: Optional[Tensor],
) -> Tuple[Tensor, Tensor, Tensor]:
    """BPTT for :func:`_wmc_forward`: grads of the scaled ``xp``, ``U``, ``W3``.

    ``dh_last [B, H]`` is the gradient of the last h; ``dHs [T, B, H]`` (or None) that of
    every post-step h. Weight gradients are one matmul over all steps after the loop.
    """
    T = Hb.size(0)
    B = Hb.size(1)
    H = U.size(0)
    dZ = Hb.new_empty([T, B, 4 * H])  # grads of the scaled pre-activations
    Zq = Hb.new_empty([T, B, 3 * H])  # half the grads of c~ @ W3'
    UT = U.t()
    W3T2 = (W3 + W3).t()
    dh = dh_last
    dc = Hb.new_zeros([B, H])
    dtr = Hb.new_zeros([B, 2 * H])  # grad of the i/f pre-activations of the next step
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
        Zt = Zq[t]
        Kqt = Kq[t]
        dzo = torch.mul(dh, Ko[t], out=dZt[:, 3 * H :])
        torch.mul(dzo, Kqt[:, :H], out=Zt[:, :H])
        torch.mul(dtr, Kqt[:, H:], out=Zt[:, H:])
        if m is not None:
            base = torch.addcmul(ml[t] * dc, dh, Kc[t])
        else:
            base = torch.addcmul(dc, dh, Kc[t])
        dcc = torch.addmm(base, Zt, W3T2)
        torch.mul(
            dcc.unsqueeze(1), Kifg[t].view(B, 3, H), out=dZt[:, : 3 * H].view(B, 3, H)
        )
        f = Sb[t][:, H : 2 * H]
        if m is not None:
            om = oml[t]
            dtr = torch.addcmul(dZt[:, : 2 * H], om, dtr)
            dc = torch.addcmul(om * dc, dcc, f)
            dh = torch.addmm(om * dh, dZt, UT)
        else:
            dtr = dZt[:, : 2 * H]
            dc = dcc * f
            dh = torch.mm(dZt, UT)
    # h_{-1} = 0, so step 0 adds nothing to dU.
    dU = torch.mm(Hb[:-1].reshape((T - 1) * B, H).t(), dZ[1:].reshape((T - 1) * B, 4 * H))
    dW3 = torch.mm(Cb.reshape(T * B, H).t(), Zq.reshape(T * B, 3 * H)) * 2.0
    return dZ, dU, dW3


class _WMCFunction(torch.autograd.Function):
    """Whole-sequence WMC-LSTM (scaled weights) with a hand-written backward.

    Returns all post-step h ``[T, B, H]``, or only the last ``[B, H]`` with ``last_only``.
    """

    @staticmethod
    def forward(ctx, xp: Tensor, U: Tensor, W3: Tensor, m: Optional[Tensor], last_only: bool) -> Tensor:  # type: ignore[override]
        out = scripted(_wmc_forward)(xp, U, W3, m, True)
        ctx.save_for_backward(U, W3, *out)
        ctx.m = m
        ctx.last_only = last_only
        return sequence_output(out[0], last_only)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dout: Tensor):  # type: ignore[override]
        U, W3, Hb, Cb, Sb, Kq, Kifg, Ko, Kc = ctx.saved_tensors
        dh_last, dHs = output_gradients(dout, ctx.last_only)
        dZ, dU, dW3 = scripted(_wmc_backward)(
            dh_last, dHs, U, W3, Hb, Cb, Sb, Kq, Kifg, Ko, Kc, ctx.m
        )
        return dZ, dU, dW3, None, None


def _wmc_scaled(
    xp: Tensor, U: Tensor, W3: Tensor, m: Optional[Tensor], last_only: bool
) -> Tensor:
    """Dispatch: autograd Function when gradients are needed, else the lean scripted loop."""
    if torch.is_grad_enabled() and (xp.requires_grad or U.requires_grad or W3.requires_grad):
        return _WMCFunction.apply(xp, U, W3, m, last_only)
    Hb = scripted(_wmc_forward)(xp, U, W3, m, False)[0]
    return Hb[-1] if last_only else Hb


def wmc_sequence(xp: Tensor, U: Tensor, W3: Tensor, m: Optional[Tensor] = None) -> Tensor:
    """All post-step hidden states ``[T, B, H]`` of a WMC-LSTM layer (zero initial state).

    ``xp [T, B, 4H]`` is the input projection including the bias, gate order i, f, g, o;
    ``U [H, 4H]`` the recurrent weights; ``W3 [H, 3H]`` = ``W_co | W_ci | W_cf`` (applied as
    ``c @ W3``); ``m [T, B, 1]`` 1 = observed, 0 = keep the state. Plain (unscaled) weights;
    the layers call the scaled kernel directly to skip the extra pass over ``xp``.
    """
    H = U.shape[0]
    scale, shift = gate_scales(H, True, xp)
    return _wmc_scaled(xp * scale + shift, U * scale, W3 * 2.0, m, False)


def wmc_reference(xp: Tensor, U: Tensor, W3: Tensor, m: Optional[Tensor] = None) -> Tensor:
    """Naive step-by-step WMC-LSTM, straight from the equations (for tests and compile)."""
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

    wmc_shift = True

    def forward(self, X: Tensor, m: Optional[Tensor], last_only: bool = False) -> Tensor:
        xp, U = self.scaled_projection(X)
        return _wmc_scaled(xp, U, self.W3 * 2.0, m, last_only)



class WMCEncoder(StackedEncoder):
    """WMC-LSTM encoder (Landi et al. 2021), ``num_layers`` stacked."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0) -> None:
        layers = [
            WMCLayer(input_size if i == 0 else hidden_size, hidden_size) for i in range(num_layers)
        ]
        super().__init__(layers, input_size, hidden_size, dropout)
