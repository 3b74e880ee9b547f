"""The online estimators: recurrent and linear models that learn at every new sample.

``OnlineRNNForecaster`` (tanh RNN or LSTM trained by RTRL, UORO, SnAp-1 or streaming TBPTT)
and ``OnlineLinearForecaster`` (NLMS or recursive least squares) are
:class:`~tsgate.estimators.stream.StreamForecaster` models: one engine per series runs along its
stream, forecasting every horizon at each new observation, then learning each target that this
observation reveals (see :mod:`tsgate.estimators.stream` for the inputs, outputs and what
``predict`` does with the data given).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from tsgate.data.windows import Inputs, Windows, make_windows
from tsgate.estimators.stream import StreamForecaster
from tsgate.online.cell import CELL_TYPES
from tsgate.online.learner import OnlineLearner
from tsgate.online.lms import NLMS, OnlineLinearRegression
from tsgate.online.trace import TRACES
from tsgate.params import (
    Boolean,
    Duration,
    Integral,
    Interval,
    Keys,
    Options,
    Real,
)

__all__ = ["OnlineRNNForecaster", "OnlineLinearForecaster"]

_COMMON = {
    "shl": [Interval(Integral, 1, None)],
    "max_gap": [Duration(), None],
    "use_dt": [Boolean()],
}


class OnlineRNNForecaster(StreamForecaster):
    """Recurrent forecaster that learns at every sample (Pohl et al.'s online RNNs).

    Parameters
    ----------
    cell
        ``rnn`` (vanilla tanh, as in the papers) or ``lstm``.
    online
        Gradient algorithm: ``uoro`` (unbiased rank-1, O(n²)), ``snap1`` (one-step sparse
        influence), ``rtrl`` (exact, small nets only) or ``tbptt`` (truncated BPTT over
        ``tbptt_steps``).
    hidden_size
        Units (the papers use 40-180).
    shl
        Signal history length: past samples in each input.
    horizons
        Steps or durations (``"100ms"`` … ``"2.1s"``), all forecast by one readout.
    lr, clip, optimizer
        SGD (or Adam) learning rate, gradient-norm clipping.
    init_std
        Initial weight standard deviation (0.02 in the papers).
    """

    _parameter_constraints = {
        **_COMMON,
        "cell": [Keys(CELL_TYPES)],
        "online": [Keys(TRACES)],
        "hidden_size": [Interval(Integral, 1, None)],
        "lr": [Interval(Real, 0, None)],
        "clip": [Interval(Real, 0, None), None],
        "optimizer": [Options("sgd", "adam")],
        "tbptt_steps": [Interval(Integral, 1, None)],
        "init_std": [Interval(Real, 0, None)],
        "seed": [Interval(Integral, 0, None)],
    }

    def __init__(
        self,
        cell: str = "rnn",
        online: str = "uoro",
        hidden_size: int = 64,
        shl: int = 30,
        horizons: Any = (1,),
        max_gap: Any = None,
        use_dt: bool = True,
        lr: float = 0.01,
        clip: float = 1.0,
        optimizer: str = "sgd",
        tbptt_steps: int = 16,
        init_std: float = 0.02,
        seed: int = 0,
    ) -> None:
        self.cell = cell
        self.online = online
        self.hidden_size = hidden_size
        self.shl = shl
        self.horizons = horizons
        self.max_gap = max_gap
        self.use_dt = use_dt
        self.lr = lr
        self.clip = clip
        self.optimizer = optimizer
        self.tbptt_steps = tbptt_steps
        self.init_std = init_std
        self.seed = seed

    @classmethod
    def _unit_test_params(cls) -> dict[str, Any]:
        """Small, fast settings for the contract suite (tsgate.estimators.checks)."""
        return {"hidden_size": 8, "shl": 4, "horizons": [1, 3]}

    def _new_engine(self, input_size: int, output_size: int, max_delay: int) -> Any:
        return OnlineLearner(
            cell=self.cell,
            input_size=input_size,
            hidden_size=int(self.hidden_size),
            output_size=output_size,
            algorithm=self.online,
            lr=float(self.lr),
            clip=self.clip,
            optimizer=self.optimizer,
            tbptt_steps=int(self.tbptt_steps),
            max_delay=max_delay,
            seed=int(self.seed),
            init_std=float(self.init_std),
        )

    def _engine_from_state(self, config: dict[str, Any], state: dict[str, np.ndarray]) -> Any:
        return OnlineLearner.from_state(config, state)


class OnlineLinearForecaster(StreamForecaster, baseline=True):
    """Linear online baselines of the respiratory-motion papers.

    ``method="nlms"``: normalised least mean squares (step size ``mu``);
    ``method="rls"``: recursive least squares (online linear regression, forgetting ``lam``):
    with ``lam = 1`` its weights are, after every learned target, the exact ridge regression on
    every (input, target) pair revealed so far.
    Same inputs, outputs and prequential protocol as :class:`OnlineRNNForecaster`, with two
    options: ``lag_step`` reads every ``lag_step``-th sample of a window of
    ``(shl - 1) * lag_step + 1`` observations (e.g. lags 0.1 s apart at 30 Hz), and
    ``level=False`` drops the current value relative to the training mean from the inputs, so
    the model sees only relative lags (and Δt): invariant to drift and to where the series sits.
    """

    _parameter_constraints = {
        **_COMMON,
        "method": [Options("nlms", "rls")],
        "mu": [Interval(Real, 0, 2, closed="neither")],
        "ridge": [Interval(Real, 0, None, closed="neither")],
        "lam": [Interval(Real, 0, 1, closed="right")],
        "lag_step": [Interval(Integral, 1, None)],
        "level": [Boolean()],
    }

    def __init__(
        self,
        method: str = "rls",
        shl: int = 30,
        horizons: Any = (1,),
        max_gap: Any = None,
        use_dt: bool = True,
        mu: float = 0.5,
        ridge: float = 1e-3,
        lam: float = 1.0,
        lag_step: int = 1,
        level: bool = True,
    ) -> None:
        self.method = method
        self.shl = shl
        self.horizons = horizons
        self.max_gap = max_gap
        self.use_dt = use_dt
        self.mu = mu
        self.ridge = ridge
        self.lam = lam
        self.lag_step = lag_step
        self.level = level

    @classmethod
    def _unit_test_params(cls) -> dict[str, Any]:
        """Small, fast settings for the contract suite (tsgate.estimators.checks)."""
        return {"shl": 4, "horizons": [1, 3]}

    def _window_length(self) -> int:
        return (int(self.shl) - 1) * int(self.lag_step) + 1

    def _stream_windows(self, data: Any) -> Windows:
        return make_windows(data, self._window_length(), self.horizons_, max_gap=self._max_gap(), min_history=1,
                            targets="optional")

    def _setup(self, data: Any, rows: int | None = None) -> None:
        super()._setup(data, rows)
        if not self.level:
            self.input_size_ -= len(self.targets_)

    def _encode(self, inputs: Inputs) -> np.ndarray:
        step = int(self.lag_step)
        if step > 1:
            idx = np.arange(inputs.window - 1, -1, -step)[::-1]
            # Δt of a kept sample: the time since the previous kept one (0 at padding)
            t = inputs.t[:, idx]
            dt = np.where(inputs.mask[:, idx], np.diff(np.c_[t[:, :1], t], axis=1), 0.0)
            inputs = replace(inputs, x=inputs.x[:, idx], t=t, mask=inputs.mask[:, idx], dt=dt)
        u = super()._encode(inputs)
        if self.level:
            return u
        S, k = inputs.window, len(self.targets_)
        return np.delete(u, np.s_[S * k:S * k + k], axis=1)

    def _new_engine(self, input_size: int, output_size: int, max_delay: int) -> Any:
        if self.method == "nlms":
            return NLMS(input_size, output_size, max_delay=max_delay, mu=float(self.mu))
        return OnlineLinearRegression(input_size, output_size, max_delay=max_delay, ridge=float(self.ridge), lam=float(self.lam))

    def _engine_from_state(self, config: dict[str, Any], state: dict[str, np.ndarray]) -> Any:
        cls = NLMS if self.method == "nlms" else OnlineLinearRegression
        return cls.from_state(config, state)
