"""Torch modules with the maths only: recurrent encoders (cells) and the forecasting network.

:data:`CELLS` names the encoder cells; it is defined here so that estimators can validate a
cell name without importing torch. :func:`tsgate.nn.cells.make_encoder` builds them.
"""

CELLS: tuple[str, ...] = ("lstm", "gru", "wmc", "glstm", "rnn", "convrnn")
