"""Running Lightning's Trainer for the gated estimator: step budget, early stopping, best weights, logs.

``train_module`` builds the ``lightning.Trainer`` inside ``fit`` (scikit-learn convention: the
estimator stores settings, fit builds what runs). A small model spends most of a Lightning step
on bookkeeping rather than arithmetic, so the Trainer is configured to do only what was asked:

- the best validation weights are kept in memory (:func:`best_weights_callback`), not written to a
  checkpoint file every epoch;
- early stopping (Lightning's ``EarlyStopping``) only when there is a validation set and
  ``patience`` > 0;
- metrics are logged once per epoch, and a logger only exists when the caller gave ``log_dir``
  (nothing is written into the working directory by default);
- ``max_steps`` bounds the number of optimiser steps (``trainer.global_step``), for
  comparisons at equal steps; ``max_epochs`` still applies.
"""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

__all__ = ["TrainerSettings", "TrainResult", "train_module", "best_weights_callback", "check_accelerator", "PROGRESS_LOGGER"]

#: training progress, one INFO record per batch with ``record.tsgate_progress`` = {"epoch",
#: "max_epochs", "batch", "batches"} ("batches" None when windows are streamed); a caller (the CLI's evaluate bar) may listen
PROGRESS_LOGGER = "tsgate.training.progress"
log = logging.getLogger(PROGRESS_LOGGER)
# Lightning's INFO banners (GPU/TPU available, tips about other packages, "max_epochs reached")
_BANNERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")


@contextmanager
def _quiet_lightning() -> Iterator[None]:
    """No Lightning banners or Lightning-internal deprecation notes while training (errors still show)."""
    loggers = [logging.getLogger(n) for n in _BANNERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            # deprecations inside Lightning and torch internals: nothing a tsgate user can change
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"lightning(\.|$)")
            warnings.filterwarnings("ignore", category=FutureWarning, module=r"lightning(\.|$)")
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            warnings.filterwarnings("ignore", message=".*number of training batches.*")
            warnings.filterwarnings("ignore", message=".*val_dataloader.*no .validation_step.*")
            warnings.filterwarnings("ignore", message=".*Total length of .* across ranks is zero.*")
            yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)


def _progress_callback() -> Any:
    """A Lightning callback that logs each training batch on :data:`PROGRESS_LOGGER`."""
    from lightning.pytorch.callbacks import Callback

    class ProgressLog(Callback):
        def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
            if log.isEnabledFor(logging.INFO):
                total = trainer.num_training_batches  # inf for windows streamed from chunks
                info = {"epoch": int(trainer.current_epoch) + 1, "max_epochs": int(trainer.max_epochs),
                        "batch": batch_idx + 1, "batches": int(total) if total != float("inf") else None}
                log.info("epoch %(epoch)d/%(max_epochs)d, batch %(batch)d/%(batches)s", info, extra={"tsgate_progress": info})

    return ProgressLog()


@dataclass(frozen=True)
class TrainerSettings:
    """What the Trainer is told (the estimator's parameters of the same names)."""

    accelerator: str = "cpu"
    devices: Any = 1
    strategy: str = "auto"
    precision: Any = "32-true"
    num_nodes: int = 1
    max_epochs: int = 20
    max_steps: int | None = None
    gradient_clip: float | None = 1.0
    patience: int = 4
    progress: bool = False
    log_dir: str | None = None
    log_name: str = "tsgate"


@dataclass(frozen=True)
class TrainResult:
    best_val_loss: float
    n_epochs: int
    n_steps: int
    log_dir: str | None


def best_weights_callback(monitor: str = "val_loss") -> Any:
    """A Lightning callback that keeps the best weights (lowest ``monitor``) in memory.

    An in-memory stand-in for a checkpoint file: for models of a few thousand parameters,
    copying the state dict costs microseconds, writing and reading a file milliseconds.
    """
    import math

    from lightning.pytorch.callbacks import Callback

    class _BestWeights(Callback):
        def __init__(self) -> None:
            self.monitor = monitor
            self.best_score = math.inf
            self.best_state: dict[str, Any] | None = None

        def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
            if trainer.sanity_checking:
                return
            value = trainer.callback_metrics.get(self.monitor)
            if value is None:
                return
            v = float(value)
            if math.isfinite(v) and v < self.best_score:
                self.best_score = v
                self.best_state = copy.deepcopy({k: t.detach().cpu() for k, t in pl_module.state_dict().items()})

    return _BestWeights()


def train_module(module: Any, datamodule: Any, settings: TrainerSettings, *, validate: bool) -> TrainResult:
    """Fit ``module`` on ``datamodule``; with ``validate``, keep the best weights (and stop early if ``patience``)."""
    import lightning as L
    from lightning.pytorch.callbacks import EarlyStopping
    from lightning.pytorch.loggers import CSVLogger

    callbacks: list[Any] = [_progress_callback()]
    best = None
    if validate:
        best = best_weights_callback("val_loss")
        callbacks.append(best)
        if settings.patience:
            callbacks.append(EarlyStopping(monitor="val_loss", mode="min", patience=int(settings.patience)))
    logger: Any = False
    if settings.log_dir is not None:
        logger = CSVLogger(save_dir=str(settings.log_dir), name=settings.log_name)
    # from the Trainer's construction on: it prints the device banners
    with _quiet_lightning():
        trainer = _trainer(
            L,
            accelerator=settings.accelerator,
            devices=settings.devices,
            strategy=settings.strategy,
            precision=settings.precision,
            num_nodes=settings.num_nodes,
            max_epochs=int(settings.max_epochs),
            max_steps=-1 if settings.max_steps is None else int(settings.max_steps),
            gradient_clip_val=float(settings.gradient_clip) if settings.gradient_clip else None,
            callbacks=callbacks,
            logger=logger,
            enable_progress_bar=bool(settings.progress),
            enable_model_summary=False,
            enable_checkpointing=False,
            deterministic=True,
            # no default_root_dir: without a logger or checkpointing, nothing is written
            num_sanity_val_steps=0,
            log_every_n_steps=50,
        )
        trainer.fit(module, datamodule=datamodule)
    best_loss = float("nan")
    if best is not None and best.best_state is not None:
        module.load_state_dict(best.best_state)
        best_loss = float(best.best_score)
    return TrainResult(best_loss, int(trainer.current_epoch), int(trainer.global_step),
                       None if not logger else str(logger.log_dir))


def _trainer(L: Any, **kw: Any) -> Any:
    """``L.Trainer(**kw)``; settings Lightning refuses are a ConfigError naming them (one line)."""
    from tsgate.exceptions import ConfigError

    try:
        return L.Trainer(**kw)
    except Exception as exc:  # MisconfigurationException, ValueError, a missing optional package
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        given = ", ".join(f"{k}={kw[k]!r}" for k in ("accelerator", "devices", "strategy", "precision", "num_nodes"))
        raise ConfigError(f"Lightning cannot train with {given}: {first}") from None


def check_accelerator(name: str) -> None:
    """Refuse an accelerator this machine does not have, before any work (ConfigError)."""
    import torch

    from tsgate.exceptions import ConfigError

    ok = torch.backends.mps.is_available() if name == "mps" else torch.cuda.is_available()
    if not ok:
        raise ConfigError(
            f"The 'accelerator' parameter of GatedLSTMForecaster is {name!r}, but this machine has no such "
            "device; use accelerator='cpu' (or 'auto')."
        )
