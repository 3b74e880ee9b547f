"""Online learning: recurrent forecasters that keep learning along one stream.

A stateful network runs along the stream one sample at a time, forecasts every horizon from
each new sample and updates its weights from the targets revealed at that step (the
prequential protocol of Pohl et al. for respiratory-motion forecasting).

* :class:`OnlineLearner` -- tanh RNN or LSTM with a linear readout; gradients by
  ``"rtrl"`` (exact), ``"uoro"`` (unbiased rank-1), ``"snap1"`` (one-step sparse influence)
  or ``"tbptt"`` (streaming truncated BPTT); SGD or Adam, gradient-norm clipping, a refusal
  of non-finite updates, and ``state_dict_arrays``/``from_state`` for bit-exact resumption.
* :class:`NLMS` and :class:`OnlineLinearRegression` (recursive least squares) -- the linear
  baselines, same ``step``/``learn``/``apply`` API.

All maths is numpy with closed-form derivatives (no autograd per step); the modules are
imported by the package lazily. :func:`blas_threads` keeps BLAS single-threaded around a
streaming loop (the learners otherwise switch it per call; see :mod:`tsgate.blas`).
See :mod:`tsgate.online.learner` for the protocol, the loss and how delayed
(multi-horizon) targets are handled.
"""

from tsgate.blas import blas_threads
from tsgate.exceptions import OnlineUpdateWarning
from tsgate.online.cells import lstm_weights_from_torch, rnn_weights_from_torch
from tsgate.online.learner import ALGORITHMS, OnlineLearner
from tsgate.online.lms import NLMS, OnlineLinearRegression

__all__ = [
    "ALGORITHMS",
    "OnlineLearner",
    "OnlineUpdateWarning",
    "blas_threads",
    "NLMS",
    "OnlineLinearRegression",
    "lstm_weights_from_torch",
    "rnn_weights_from_torch",
]
