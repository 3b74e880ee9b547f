"""Plumbing shared by the hand-written LSTM-family cells (WMC, g-LSTM).

Weights of one layer are ``Wx [F, 4H]``, ``b [4H]``, ``U [H, 4H]`` in gate order i, f, g, o (as
``torch.nn.LSTM``), used as they are: the kernels read the parameters directly, so nothing
derived from them is kept between calls.

The kernels are eager PyTorch: a Python loop over the time steps inside one
``torch.autograd.Function`` per layer, with a hand-written backward (BPTT) whose weight
gradients are one matmul over all steps after the loop. Measured with ``benchmarks/cells.py``
against TorchScript (the previous implementation) and ``torch.compile``: eager trains as fast
as TorchScript did and starts at once; compiling a step was no faster and costs about 30 s
cold per process, compiling a whole window costs minutes.
"""

from __future__ import annotations

import math
from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn

from tsgate.nn.encoder import Encoder, check_inputs, time_major_mask

__all__ = ["LSTMFamilyLayer", "StackedEncoder"]


class LSTMFamilyLayer(nn.Module):
    """Weights of one LSTM-like layer: ``Wx [F, 4H]``, ``b [4H]``, ``U [H, 4H]``.

    Initialised like ``torch.nn.LSTM`` (uniform ±1/sqrt(H)) with the forget-gate bias at +1,
    the usual choice so that the cell remembers by default.
    """

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

    def projection(self, X: Tensor) -> Tensor:
        """Input projection of all steps incl. the bias, ``X [T, B, F] -> [T, B, 4H]`` (one
        matmul before the time loop)."""
        T, B, F = X.shape
        return torch.addmm(self.b, X.reshape(T * B, F), self.Wx).view(T, B, -1)


def sequence_output(Hs: Tensor, last_only: bool) -> Tensor:
    """What a whole-sequence autograd Function returns: all post-step h ``[T, B, H]`` or the last."""
    return Hs[-1].clone() if last_only else Hs


def output_gradients(dout: Tensor, last_only: bool) -> Tuple[Tensor, Optional[Tensor]]:
    """The gradient of that output as (d last h ``[B, H]``, d every h ``[T, B, H]`` or None)."""
    if last_only:
        return dout.contiguous(), None
    return torch.zeros_like(dout[-1]), dout.contiguous()


def needs_grad(*tensors: Tensor) -> bool:
    """Whether a kernel must record its backward (grad mode on and some input requires it)."""
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


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
