"""The numpy cells by name: ``make_cell("rnn" | "lstm", ...)`` and the torch weight loaders.

A new cell is one module defining a :class:`~tsgate.online.cell.Cell` subclass with its
``kind``; importing it here makes it available to :class:`~tsgate.online.learner.OnlineLearner`
and every gradient algorithm.
"""

from __future__ import annotations

from typing import Any

from tsgate.exceptions import ConfigError
from tsgate.online.cell import CELL_TYPES, Cell
from tsgate.online.lstm import LSTMCell
from tsgate.online.rnn import RNNCell

__all__ = ["CELLS", "make_cell", "lstm_weights_from_torch", "rnn_weights_from_torch", "RNNCell", "LSTMCell"]

CELLS: tuple[str, ...] = tuple(CELL_TYPES)


def make_cell(cell: str, input_size: int, hidden_size: int, dtype: Any) -> Cell:
    """The cell of that kind (``rnn``, ``lstm``)."""
    cls = CELL_TYPES.get(cell)
    if cls is None:
        raise ConfigError(f"cell must be one of {list(CELL_TYPES)}, got {cell!r}.")
    return cls(input_size, hidden_size, dtype)


def lstm_weights_from_torch(lstm: Any) -> Any:
    """``W = [weight_ih_l0 | weight_hh_l0 | bias_ih_l0 + bias_hh_l0]`` (4n, m+n+1), float64, of a
    single-layer unidirectional ``torch.nn.LSTM`` (gate order i, f, g, o) or an ``nn.LSTMCell``."""
    return LSTMCell.weights_from_torch(lstm)


def rnn_weights_from_torch(rnn: Any) -> Any:
    """``W = [weight_ih_l0 | weight_hh_l0 | biases]`` (n, m+n+1) of a tanh ``torch.nn.RNN`` or ``nn.RNNCell``."""
    return RNNCell.weights_from_torch(rnn)
