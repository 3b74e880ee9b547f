"""Recurrent encoders for irregular windows: the maths only (``nn.Module``, no Lightning).

Every encoder maps a window to one summary vector::

    h = enc(x, t, mask)      # x [B, T, F], t [B, T] seconds (t[:, -1] == 0), mask [B, T] bool
                             # -> h [B, enc.output_size], the state after the last step

Cells (``CELLS``):

``lstm`` / ``gru`` / ``rnn``
    ``torch.nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` (tanh), the fused library kernels.
``wmc``
    LSTM with Working Memory Connections (Landi et al. 2021): the input and forget gates add
    ``tanh(W_ci c_{t-1})``, ``tanh(W_cf c_{t-1})``, the output gate adds ``tanh(W_co c_t)``.
``glstm``
    Gaussian-gated LSTM (Thornton et al.); see :mod:`tsgate.nn.glstm`.
``convrnn``
    causal 1-D convolution then any cell above; see :mod:`tsgate.nn.convrnn`.

The time step Δt is *not* computed here: the caller appends Δt (and the mask) to ``x``.
Masked steps (``mask == False``, left padding) leave the state of every cell unchanged; the
built-in cells get the same effect by packing the observed steps.

Speed: ``wmc`` and ``glstm`` run their whole sequence inside one ``torch.autograd.Function``
whose forward and backward time loops are TorchScript functions with a hand-written
backward (BPTT). The input projection of all steps is one matmul before the loop, the
cell-to-gate projections ``W_co`` (step t) and ``W_ci | W_cf`` (step t+1) are one matmul on
``c_t``, and the weight gradients are one matmul over all steps after the backward loop, so a
step costs two small matmuls plus about 12 element-wise kernels at inference, 24 when
training (the backward factors are formed while the values are in cache), and 8 backward.
All gate nonlinearities but one are sigmoids (torch's CPU tanh costs about 2-3x a sigmoid).
``benchmarks/cells.py`` measures them against ``torch.nn.LSTM``. There is deliberately no
``torch.compile`` option: a whole-sequence compile of the WMC cell took 100 s cold on the
2-core machine and was not faster than these kernels, and ``tsgate fit`` must start at once.
Set ``TSGATE_NO_SCRIPT=1`` to run the same kernels as plain Python (for debugging).
"""

from __future__ import annotations

import math
import operator
import os
import warnings
from typing import Callable, List, Optional, Tuple

import torch
from torch import Tensor, nn

from tsgate.exceptions import ConfigError

__all__ = ["CELLS", "Encoder", "BuiltinEncoder", "WMCEncoder", "make_encoder"]

CELLS: tuple[str, ...] = ("lstm", "gru", "wmc", "glstm", "rnn", "convrnn")

# --------------------------------------------------------------------------------------------
# TorchScript helper
# --------------------------------------------------------------------------------------------

_SCRIPTED: dict[Callable, Callable] = {}


def scripted(fn: Callable) -> Callable:
    """Return ``torch.jit.script(fn)``, compiled once on first use (about 0.1-0.5 s).

    TorchScript is deprecated in torch 2.x but still the cheapest way to run a small time loop
    on a CPU without a cold compile (``torch.compile`` needs 20-40 s per shape). If scripting
    fails, or ``TSGATE_NO_SCRIPT=1`` is set, the eager Python function is used (same maths,
    slower).
    """
    got = _SCRIPTED.get(fn)
    if got is None:
        got = fn
        if os.environ.get("TSGATE_NO_SCRIPT", "") not in ("1", "true", "yes"):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    got = _unoptimized(torch.jit.script(fn))
            except Exception:  # pragma: no cover - depends on the torch build
                got = fn
        _SCRIPTED[fn] = got
    return got


def _unoptimized(sfn: Callable) -> Callable:
    """Run a scripted function with the graph executor's optimisations off.

    Measured here: with them on (the default profiling executor) the first two calls of the
    WMC kernels took 3.6 s and 5.2 s (loop unrolling and re-specialisation) and later calls
    were still 10x slower than the plain interpreter, because CPU fusion (LLVM) is not in the
    torch wheels. Off, the first call costs about 1 s (scripting) and later ones run at
    interpreter speed.
    """

    # The flag is process-wide; it is restored after every call. Another thread running
    # TorchScript at the same moment would see it off, which only changes its speed.
    def run(*args):
        stored = torch._C._get_graph_executor_optimize()
        torch._C._set_graph_executor_optimize(False)
        try:
            return sfn(*args)
        finally:
            torch._C._set_graph_executor_optimize(stored)

    run.__wrapped__ = sfn  # type: ignore[attr-defined]
    return run


# --------------------------------------------------------------------------------------------
# Base class and input checks
# --------------------------------------------------------------------------------------------


class Encoder(nn.Module):
    """Base of every encoder: ``forward(x, t, mask) -> h`` and ``budget_term()``.

    Attributes
    ----------
    output_size : int
        Width of the returned summary ``h``.
    """

    output_size: int

    def __getstate__(self) -> dict:
        # drop per-forward caches (they may hold autograd graphs, which cannot be copied)
        return _without_caches(self.__dict__)

    def budget_term(self) -> Tensor:
        """Scalar regulariser of the last forward; 0 except for ``glstm``."""
        p = next(self.parameters(), None)
        return torch.zeros((), device=None if p is None else p.device)


_CACHE_KEYS = ("_last", "_scaled_cache", "_um_cache", "_gate_cache")


def _without_caches(state: dict) -> dict:
    state = dict(state)
    for k in _CACHE_KEYS:
        if k in state:
            state[k] = None
    return state


def check_inputs(
    x: Tensor, t: Optional[Tensor], mask: Optional[Tensor], input_size: int, need_t: bool = False
) -> None:
    """Raise ``ConfigError`` naming the argument when shapes do not fit (cheap: no sync)."""
    if x.dim() != 3:
        raise ConfigError(
            f"x must be a float tensor [batch, steps, features], got shape {tuple(x.shape)}"
        )
    if x.shape[2] != input_size:
        raise ConfigError(
            f"x has {x.shape[2]} features but the encoder was built with "
            f"input_size={input_size}; rebuild it or fix the feature columns"
        )
    if x.shape[1] == 0:
        raise ConfigError("x has 0 time steps; a window needs at least one observation")
    if t is None:
        if need_t:
            raise ConfigError(
                "t (sample times in seconds relative to the last sample, [batch, steps]) is "
                "required by the glstm cell; pass it as the second argument"
            )
    elif tuple(t.shape) != tuple(x.shape[:2]):
        raise ConfigError(
            f"t must have shape [batch, steps] = {tuple(x.shape[:2])}, got {tuple(t.shape)}"
        )
    if mask is not None:
        if tuple(mask.shape) != tuple(x.shape[:2]):
            raise ConfigError(
                f"mask must have shape [batch, steps] = {tuple(x.shape[:2])}, "
                f"got {tuple(mask.shape)}"
            )
        if mask.dtype != torch.bool:
            raise ConfigError(f"mask must be a bool tensor (True = observed), got {mask.dtype}")


def time_major_mask(mask: Optional[Tensor], dtype: torch.dtype) -> Optional[Tensor]:
    """``mask [B, T]`` -> float ``[T, B, 1]``, or ``None`` when absent or all observed."""
    if mask is None or bool(mask.all()):
        return None
    return mask.t().unsqueeze(-1).to(dtype)


# --------------------------------------------------------------------------------------------
# Built-in cells: nn.LSTM / nn.GRU / nn.RNN
# --------------------------------------------------------------------------------------------


class BuiltinEncoder(Encoder):
    """``torch.nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` (tanh) returning the last layer's last state.

    Without a mask (or with an all-True one) this is exactly one call of the fused library
    kernel. With padding, each row's observed steps are moved to the front (order kept) and
    packed, so masked steps leave the state unchanged as for the custom cells.
    """

    def __init__(
        self, kind: str, input_size: int, hidden_size: int, num_layers: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[kind]
        self.kind = kind
        self.input_size = input_size
        self.output_size = hidden_size
        # nn.RNN* warn when dropout is given for a single layer (it would do nothing).
        self.rnn = cls(
            input_size, hidden_size, num_layers=num_layers,
            dropout=dropout if num_layers > 1 else 0.0, batch_first=True,
        )

    def forward(self, x: Tensor, t: Optional[Tensor] = None, mask: Optional[Tensor] = None) -> Tensor:
        check_inputs(x, t, mask, self.input_size)
        if mask is not None and not bool(mask.all()):
            return self._forward_masked(x, mask)
        _, hn = self.rnn(x)
        if self.kind == "lstm":
            hn = hn[0]
        return hn[-1]

    def _forward_masked(self, x: Tensor, mask: Tensor) -> Tensor:
        # Stable sort puts each row's observed steps first, in their original order.
        order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)
        xs = x.gather(1, order.unsqueeze(-1).expand(-1, -1, x.shape[2]))
        n_obs = mask.sum(1)
        packed = nn.utils.rnn.pack_padded_sequence(
            xs, n_obs.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False
        )
        _, hn = self.rnn(packed)
        if self.kind == "lstm":
            hn = hn[0]
        # A row without any observation keeps the initial (zero) state.
        return hn[-1] * (n_obs > 0).unsqueeze(-1).to(x.dtype)


# --------------------------------------------------------------------------------------------
# WMC-LSTM kernels (TorchScript) and autograd Function
# --------------------------------------------------------------------------------------------
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
        Hb = out[0]
        return Hb[-1].clone() if last_only else Hb

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dout: Tensor):  # type: ignore[override]
        U, W3, Hb, Cb, Sb, Kq, Kifg, Ko, Kc = ctx.saved_tensors
        if ctx.last_only:
            dh_last, dHs = dout.contiguous(), None
        else:
            dh_last, dHs = torch.zeros_like(dout[-1]), dout.contiguous()
        dZ, dU, dW3 = scripted(_wmc_backward)(
            dh_last, dHs, U, W3, Hb, Cb, Sb, Kq, Kifg, Ko, Kc, ctx.m
        )
        return dZ, dU, dW3, None, None


_SCALES: dict = {}


def gate_scales(H: int, wmc: bool, like: Tensor) -> Tuple[Tensor, Tensor]:
    """Column scale and bias shift ``[4H]`` of the scaled gate pre-activations (see above).

    g columns x2 (g = 2 sigmoid(2 z_g) - 1); with ``wmc`` the i, f, o biases also get -1 to
    absorb the constant of ``tanh(u) = 2 sigmoid(2u) - 1`` in their cell terms. Cached per
    size, dtype and device (read-only).
    """
    key = (H, wmc, like.dtype, like.device)
    got = _SCALES.get(key)
    if got is None:
        got = _SCALES[key] = _make_gate_scales(H, wmc, like)
    return got


def _make_gate_scales(H: int, wmc: bool, like: Tensor) -> Tuple[Tensor, Tensor]:
    scale = like.new_ones(4 * H)
    scale[2 * H : 3 * H] = 2.0
    shift = like.new_zeros(4 * H)
    if wmc:
        shift[: 2 * H] = -1.0
        shift[3 * H :] = -1.0
    return scale, shift


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


# --------------------------------------------------------------------------------------------
# Shared layer plumbing for the custom LSTM-family cells
# --------------------------------------------------------------------------------------------


class LSTMFamilyLayer(nn.Module):
    """Weights of one LSTM-like layer: ``Wx [F, 4H]``, ``b [4H]``, ``U [H, 4H]``.

    Initialised like ``torch.nn.LSTM`` (uniform ±1/sqrt(H)) with the forget-gate bias at +1,
    the usual choice so that the cell remembers by default.
    """

    wmc_shift = False

    def __getstate__(self) -> dict:
        return _without_caches(self.__dict__)

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        H = hidden_size
        self.hidden_size = H
        self.Wx = nn.Parameter(torch.empty(input_size, 4 * H))
        self.b = nn.Parameter(torch.empty(4 * H))
        self.U = nn.Parameter(torch.empty(H, 4 * H))
        self.reset_lstm_parameters()

    def reset_lstm_parameters(self) -> None:
        H = self.hidden_size
        bound = 1.0 / math.sqrt(H)
        with torch.no_grad():
            for p in (self.Wx, self.b, self.U):
                p.uniform_(-bound, bound)
            self.b[H : 2 * H] += 1.0

    def scaled_projection(self, X: Tensor) -> Tuple[Tensor, Tensor]:
        """Scaled input projection of all steps ``[T, B, 4H]`` (one matmul) and scaled ``U``."""
        T, B, F = X.shape
        if torch.is_grad_enabled():
            b, Wx, U = self.scaled_weights()
            if b.requires_grad:
                # Bias as an extra input column of ones: the backward then gets the bias and
                # weight gradients from one pass over the [T*B, 4H] gradient, not two.
                Xa = torch.cat([X.reshape(T * B, F), X.new_ones(T * B, 1)], 1)
                xp = torch.mm(Xa, torch.cat([Wx, b.unsqueeze(0)], 0))
                return xp.view(T, B, -1), U
        else:  # inference: cached until an optimiser step changes a version counter
            key = tuple((p.data_ptr(), p._version, p.dtype) for p in (self.Wx, self.b, self.U))
            cache = getattr(self, "_scaled_cache", None)
            if cache is None or cache[0] != key:
                cache = self._scaled_cache = (key, self.scaled_weights())
            b, Wx, U = cache[1]
        xp = torch.addmm(b, X.reshape(T * B, F), Wx)
        return xp.view(T, B, -1), U

    def scaled_weights(self) -> Tuple[Tensor, Tensor, Tensor]:
        """``b [4H]``, ``Wx [F, 4H]``, ``U [H, 4H]`` in the kernels' scaled form."""
        scale, shift = gate_scales(self.hidden_size, self.wmc_shift, self.U)
        return self.b * scale + shift, self.Wx * scale, self.U * scale


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


class StackedEncoder(Encoder):
    """Stack of custom layers with dropout between them; returns the last layer's last h."""

    def __init__(self, layers: List[nn.Module], input_size: int, hidden_size: int, dropout: float) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.input_size = input_size
        self.output_size = hidden_size
        self.drop = nn.Dropout(dropout) if dropout > 0 and len(layers) > 1 else None

    def forward(self, x: Tensor, t: Optional[Tensor] = None, mask: Optional[Tensor] = None) -> Tensor:
        check_inputs(x, t, mask, self.input_size)
        m = time_major_mask(mask, x.dtype)
        X = x.transpose(0, 1)
        last = len(self.layers) - 1
        for li, layer in enumerate(self.layers):
            if li > 0 and self.drop is not None:
                X = self.drop(X)
            X = layer(X, m, li == last)
        return X


class WMCEncoder(StackedEncoder):
    """WMC-LSTM encoder (Landi et al. 2021), ``num_layers`` stacked."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0) -> None:
        layers = [
            WMCLayer(input_size if i == 0 else hidden_size, hidden_size) for i in range(num_layers)
        ]
        super().__init__(layers, input_size, hidden_size, dropout)


# --------------------------------------------------------------------------------------------
# Factory
# --------------------------------------------------------------------------------------------


def _positive_int(name: str, value: object) -> int:
    try:
        v = operator.index(value)  # int, numpy integers; not floats or bools
    except TypeError:
        v = 0
    if isinstance(value, bool) or v < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return v


def make_encoder(
    cell: str,
    input_size: int,
    hidden_size: int,
    *,
    num_layers: int = 1,
    dropout: float = 0.0,
    window_span_s: float = 1.0,
    gate_threshold: float = 0.0,
    inner_cell: str = "lstm",
    conv_channels: Optional[int] = None,
    kernel_size: int = 3,
) -> Encoder:
    """Build the encoder for ``cell``.

    Parameters
    ----------
    cell
        One of ``CELLS``: ``lstm``, ``gru``, ``wmc``, ``glstm``, ``rnn``, ``convrnn``.
    input_size
        Features per step (including the Δt and mask columns the caller appends).
    hidden_size
        Units per layer; also ``enc.output_size``.
    num_layers
        Stacked layers; ``dropout`` (probability) is applied between them.
    window_span_s
        glstm: the window length in seconds; the time gates start tiling ``[-span, 0]``.
    gate_threshold
        glstm: at inference, gates below this are closed and their units not computed.
    inner_cell
        convrnn: the recurrent cell after the convolution (any cell but ``convrnn``).
    conv_channels, kernel_size
        convrnn: output channels (default ``hidden_size``) and width (steps) of the causal
        convolution.

    Raises
    ------
    ConfigError
        Unknown cell or an invalid size, probability or span.
    """
    if cell not in CELLS:
        raise ConfigError(f"cell must be one of {', '.join(CELLS)}; got {cell!r}")
    input_size = _positive_int("input_size", input_size)
    hidden_size = _positive_int("hidden_size", hidden_size)
    num_layers = _positive_int("num_layers", num_layers)
    if not (0.0 <= float(dropout) < 1.0):
        raise ConfigError(f"dropout must be a probability in [0, 1), got {dropout!r}")
    if cell in ("lstm", "gru", "rnn"):
        return BuiltinEncoder(cell, input_size, hidden_size, num_layers, float(dropout))
    if cell == "wmc":
        return WMCEncoder(input_size, hidden_size, num_layers, float(dropout))
    if cell == "glstm":
        from tsgate.nn.glstm import GLSTMEncoder

        return GLSTMEncoder(
            input_size, hidden_size, num_layers=num_layers, dropout=float(dropout),
            window_span_s=window_span_s, gate_threshold=gate_threshold,
        )
    # convrnn
    from tsgate.nn.convrnn import ConvRNNEncoder

    if inner_cell == "convrnn" or inner_cell not in CELLS:
        allowed = ", ".join(c for c in CELLS if c != "convrnn")
        raise ConfigError(f"inner_cell must be one of {allowed}; got {inner_cell!r}")
    channels = hidden_size if conv_channels is None else _positive_int("conv_channels", conv_channels)
    kernel_size = _positive_int("kernel_size", kernel_size)
    inner = make_encoder(
        inner_cell, channels, hidden_size, num_layers=num_layers, dropout=dropout,
        window_span_s=window_span_s, gate_threshold=gate_threshold,
    )
    return ConvRNNEncoder(input_size, channels, kernel_size, inner)
