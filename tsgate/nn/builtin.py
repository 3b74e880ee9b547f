"""``torch.nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` (tanh) as encoders: the fused library kernels."""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from tsgate.nn.encoder import Encoder, check_inputs

__all__ = ["BuiltinEncoder"]

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
