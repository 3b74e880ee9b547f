"""Convolutional-recurrent hybrid (after Spadon et al. 2022, the AIS paper), the maths only.

A causal 1-D convolution over the window's features (each output step sees only the current
and the ``kernel_size - 1`` previous samples, so nothing leaks from the future), a ReLU, then
any recurrent cell of :data:`tsgate.nn.cells.CELLS` (``inner_cell``). The feed-forward
head that turns the summary into forecasts belongs to the caller.

Masked (padded) steps are zeroed before the convolution, and the mask and sample times are
passed on to the inner cell, which keeps its state at masked steps.
"""

from __future__ import annotations

from typing import Optional

import torch.nn.functional as Fn
from torch import Tensor, nn

from tsgate.nn.encoder import Encoder, check_inputs

__all__ = ["ConvRNNEncoder"]


class ConvRNNEncoder(Encoder):
    """Causal ``Conv1d(input_size -> channels, kernel_size)`` + ReLU, then ``inner``.

    Parameters
    ----------
    input_size
        Features per step.
    channels
        Convolution output channels (the inner cell's input size).
    kernel_size
        Convolution width in steps (samples, not seconds: the Δt feature carries the time).
    inner
        The recurrent encoder that reads the convolved sequence.
    """

    def __init__(self, input_size: int, channels: int, kernel_size: int, inner: Encoder) -> None:
        super().__init__()
        self.input_size = input_size
        self.kernel_size = kernel_size
        self.conv = nn.Conv1d(input_size, channels, kernel_size)
        self.inner = inner
        self.output_size = inner.output_size

    def forward(self, x: Tensor, t: Optional[Tensor] = None, mask: Optional[Tensor] = None) -> Tensor:
        check_inputs(x, t, mask, self.input_size)
        if mask is not None:
            x = x * mask.unsqueeze(-1).to(x.dtype)
        y = Fn.pad(x.transpose(1, 2), (self.kernel_size - 1, 0))  # [B, F, T + k - 1], causal
        y = Fn.relu(self.conv(y)).transpose(1, 2)  # [B, T, channels]
        return self.inner(y, t, mask)

    def budget_term(self) -> Tensor:
        """The inner cell's budget term (mean gate openness for glstm, else 0)."""
        return self.inner.budget_term()
