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
with an eager time loop and a hand-written backward (see :mod:`tsgate.nn.lstm_family`);
``benchmarks/cells.py`` measures them against ``torch.nn.LSTM``, TorchScript and
``torch.compile``. There is no compiled variant: compiling cost 30 s to minutes cold per process
and shape and was not faster for training, and ``tsgate fit`` must start at once.

A new cell is one module with an :class:`~tsgate.nn.encoder.Encoder` subclass, plus its name
in :data:`tsgate.nn.CELLS` and one branch in :func:`make_encoder`.
"""

from __future__ import annotations

from typing import Optional

from tsgate.nn import CELLS
from tsgate.nn.builtin import BuiltinEncoder
from tsgate.nn.convrnn import ConvRNNEncoder
from tsgate.nn.encoder import Encoder
from tsgate.nn.glstm import GLSTMEncoder
from tsgate.nn.wmc import WMCEncoder
from tsgate.params import Integral, Interval, Options, Real, check_value, check_values

__all__ = ["CELLS", "Encoder", "make_encoder"]

_COUNT = [Interval(Integral, 1, None)]
_ARGUMENTS = {
    "cell": [Options(*CELLS)],
    "input_size": _COUNT,
    "hidden_size": _COUNT,
    "num_layers": _COUNT,
    "dropout": [Interval(Real, 0, 1, closed="left")],
    "conv_channels": [*_COUNT, None],
    "kernel_size": _COUNT,
}


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
    check_values("make_encoder", _ARGUMENTS, locals())
    input_size, hidden_size, num_layers = int(input_size), int(hidden_size), int(num_layers)
    if cell in ("lstm", "gru", "rnn"):
        return BuiltinEncoder(cell, input_size, hidden_size, num_layers, float(dropout))
    if cell == "wmc":
        return WMCEncoder(input_size, hidden_size, num_layers, float(dropout))
    if cell == "glstm":
        return GLSTMEncoder(
            input_size, hidden_size, num_layers=num_layers, dropout=float(dropout),
            window_span_s=window_span_s, gate_threshold=gate_threshold,
        )
    # convrnn
    check_value("inner_cell", inner_cell, [Options(*(c for c in CELLS if c != "convrnn"))], "make_encoder")
    channels = hidden_size if conv_channels is None else int(conv_channels)
    kernel_size = int(kernel_size)
    inner = make_encoder(
        inner_cell, channels, hidden_size, num_layers=num_layers, dropout=dropout,
        window_span_s=window_span_s, gate_threshold=gate_threshold,
    )
    return ConvRNNEncoder(input_size, channels, kernel_size, inner)
