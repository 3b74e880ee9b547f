"""The values each parameter of :class:`~tsgate.training.gated.GatedLSTMForecaster` accepts.

Checked by :mod:`tsgate.params` in ``fit`` (and by ``check_params`` before any data is read);
a bad value is a ConfigError naming the parameter and what it accepts.
"""

from __future__ import annotations

from typing import Any

from tsgate.nn import CELLS
from tsgate.params import Boolean, Duration, Integral, Interval, ListOf, Options, Real, StrDict, Strategy

__all__ = ["CONSTRAINTS"]

_POSITIVE_INT = [Interval(Integral, 1, None)]
_POSITIVE = [Interval(Real, 0, None, closed="neither")]

CONSTRAINTS: dict[str, list[Any]] = {
    "cell": [Options(*CELLS)],
    "hidden_size": _POSITIVE_INT,
    "num_layers": _POSITIVE_INT,
    "dropout": [Interval(Real, 0, 1, closed="left")],
    "window": _POSITIVE_INT,
    "max_gap": [Duration(), None],
    "min_history": _POSITIVE_INT + [None],
    "normalize": [Options("instance", "last", "global", "none")],
    "use_dt": [Boolean()],
    "loss": [Options("mse", "huber", "mae")],
    "lr": _POSITIVE,
    "weight_decay": [Interval(Real, 0, None)],
    "lr_schedule": [Options("plateau", "cosine", "none")],
    "gradient_clip": [Interval(Real, 0, None), None],
    "batch_size": _POSITIVE_INT,
    "max_epochs": _POSITIVE_INT,
    "max_steps": _POSITIVE_INT + [None],
    "optimizer": [Options("adamw", "adam", "sgd")],
    "momentum": [Interval(Real, 0, 1, closed="left")],
    "optimizer_kwargs": [StrDict(), None],
    "patience": [Interval(Integral, 0, None)],
    "val_fraction": [Interval(Real, 0, 1, closed="left")],
    "budget": [Interval(Real, 0, None)],
    "gate_threshold": [Interval(Real, 0, 1, closed="left")],
    "curriculum_epochs": [Interval(Integral, 0, None)],
    "conv_channels": _POSITIVE_INT + [None],
    "kernel_size": _POSITIVE_INT,
    "inner_cell": [Options(*(c for c in CELLS if c != "convrnn"))],
    "head_hidden": [Interval(Integral, 0, None)],
    "skip": [Options("none", "velocity")],
    "online": [Options("window", "none")],
    "online_lr": _POSITIVE,
    "online_optimizer": [Options("sgd", "adam")],
    "online_clip": [Interval(Real, 0, None), None],
    "accelerator": [Options("cpu", "gpu", "cuda", "mps", "auto")],
    "devices": [Interval(Integral, 1, None), Options(-1, "auto"), ListOf(Interval(Integral, 0, None))],
    "strategy": [Strategy()],
    # the network's forward pass takes float32 inputs: "16-true"/"bf16-true" weights cannot run it
    "precision": [Options("32-true", "32", 32, "16-mixed", "bf16-mixed", "64-true", "64", 64)],
    "num_nodes": _POSITIVE_INT,
    "logger": [Options("csv"), None],
    "seed": [Interval(Integral, 0, None)],
    "num_workers": [Interval(Integral, 0, None)],
    "data_module": [Options("memory", "stream")],
    "stream_options": [StrDict(), None],
}
