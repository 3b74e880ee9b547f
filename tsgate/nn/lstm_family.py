"""Plumbing shared by the hand-written LSTM-family cells (WMC, g-LSTM).

Weights of one layer are ``Wx [F, 4H]``, ``b [4H]``, ``U [H, 4H]`` in gate order i, f, g, o (as
``torch.nn.LSTM``). The kernels work on *scaled* weights so that every nonlinearity but tanh(c)
is one sigmoid (torch's CPU tanh costs about twice a sigmoid): with tanh(x) = 2 sigmoid(2x) - 1
the g columns are doubled (:func:`gate_scales`).
"""

from __future__ import annotations

import math
from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn

from tsgate.nn.encoder import Encoder, check_inputs, time_major_mask, without_caches

__all__ = ["gate_scales", "LSTMFamilyLayer", "StackedEncoder"]

def gate_scales(H: int, wmc: bool, like: Tensor) -> Tuple[Tensor, Tensor]:
    """Column scale and bias shift ``[4H]`` of the scaled gate pre-activations (see above).

    g columns x2 (g = 2 sigmoid(2 z_g) - 1); with ``wmc`` the i, f, o biases also get -1 to
    absorb the constant of ``tanh(u) = 2 sigmoid(2u) - 1`` in their cell terms.

    Built afresh on every call (once per forward, not per step: two ``[4H]`` fills). They are
    never cached across calls: a tensor first made under ``torch.inference_mode()`` (a loaded
    model's first forecast) cannot be saved for backward by a later online update.
    """
    scale = like.new_ones(4 * H)
    scale[2 * H : 3 * H] = 2.0
    shift = like.new_zeros(4 * H)
    if wmc:
        shift[: 2 * H] = -1.0
        shift[3 * H :] = -1.0
    return scale, shift


class LSTMFamilyLayer(nn.Module):
    """Weights of one LSTM-like layer: ``Wx [F, 4H]``, ``b [4H]``, ``U [H, 4H]``.

    Initialised like ``torch.nn.LSTM`` (uniform ±1/sqrt(H)) with the forget-gate bias at +1,
    the usual choice so that the cell remembers by default.
    """

    wmc_shift = False

    def __getstate__(self) -> dict:
        return without_caches(self.__dict__)

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
