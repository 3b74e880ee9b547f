"""The LightningModule: loss, training/validation steps, optimiser and schedule around ForecastNet."""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

from tsgate.exceptions import ConfigError
from tsgate.nn.network import ForecastNet

__all__ = ["ForecastModule", "masked_loss"]

LOSSES = ("mse", "huber", "mae")
SCHEDULES = ("plateau", "cosine", "none")
OPTIMIZERS = ("adamw", "adam", "sgd")


def masked_loss(pred: Tensor, target: Tensor, mask: Tensor | None, kind: str, delta: float = 1.0) -> Tensor:
    """Mean loss over the entries selected by ``mask`` [B, H] (all when None)."""
    if kind == "mse":
        err = (pred - target) ** 2
    elif kind == "mae":
        err = (pred - target).abs()
    else:
        err = nn.functional.huber_loss(pred, target, reduction="none", delta=delta)
    if mask is None:
        return err.mean()
    m = mask.to(err.dtype).unsqueeze(-1).expand_as(err)
    return (err * m).sum() / m.sum().clamp_min(1.0)


class ForecastModule(L.LightningModule):
    """Trains a :class:`ForecastNet` on window batches (see ``tsgate.training.datamodule``).

    Logs ``train_loss`` (once per epoch: the mean over its steps), ``val_loss`` (normalised
    units) and per-horizon validation MAE in the data's units as ``val_mae_<horizon>``.
    ``optimizer`` is ``adamw`` (decoupled weight decay), ``adam`` (L2 ``weight_decay``) or
    ``sgd`` (``momentum``); ``optimizer_kwargs`` go to the torch optimiser as they are (e.g.
    ``{"betas": (0.9, 0.99)}``). ``plateau`` watches ``val_loss``, or ``train_loss`` when
    ``monitor="train_loss"`` (no validation set). The g-LSTM budget term ``budget * mean(k)`` is added to
    the training loss; ``curriculum_epochs`` > 0 trains on the last part of each window first,
    growing to the full window (temporal curriculum).
    """

    def __init__(
        self,
        net_kwargs: dict[str, Any],
        *,
        horizon_labels: list[str],
        loss: str = "mse",
        lr: float = 3e-3,
        weight_decay: float = 1e-4,
        lr_schedule: str = "plateau",
        budget: float = 0.0,
        curriculum_epochs: int = 0,
        max_epochs: int = 20,
        max_steps: int | None = None,
        optimizer: str = "adamw",
        momentum: float = 0.0,
        optimizer_kwargs: dict[str, Any] | None = None,
        monitor: str = "val_loss",
    ) -> None:
        super().__init__()
        if optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer must be one of {list(OPTIMIZERS)}, got {optimizer!r}.")
        if loss not in LOSSES:
            raise ConfigError(f"loss must be one of {list(LOSSES)}, got {loss!r}.")
        if lr_schedule not in SCHEDULES:
            raise ConfigError(f"lr_schedule must be one of {list(SCHEDULES)}, got {lr_schedule!r}.")
        self.save_hyperparameters()
        self.net = ForecastNet(**net_kwargs)
        self.horizon_labels = list(horizon_labels)
        self._loss_sum: Tensor | None = None
        self._loss_n = 0

    def transfer_batch_to_device(self, batch: Any, device: Any, dataloader_idx: int) -> Any:
        # batches are built on the CPU: walking the dict to "move" them there costs a step's worth
        # of Python on a small model
        if torch.device(device).type == "cpu":
            return batch
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def _curriculum(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        C = self.hparams.curriculum_epochs
        if not C or not self.training or self.current_epoch >= C:
            return batch
        L_full = batch["x"].shape[1]
        keep = max(2, math.ceil(L_full * (self.current_epoch + 1) / (C + 1)))
        return {k: (v[:, -keep:] if k in ("x", "dt", "t", "mask") else v) for k, v in batch.items()}

    def _step(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        b = self._curriculum(batch)
        out, loc, scale = self.net(b["x"], b["dt"], b["t"], b["mask"], b["static"])
        # targets purged at the validation cut are NaN: left out of the loss
        known = torch.isfinite(b["y"]).all(dim=-1)
        yn = (torch.nan_to_num(b["y"]) - loc.unsqueeze(1)) / scale.unsqueeze(1)
        loss = masked_loss(out, yn, None if bool(known.all()) else known, self.hparams.loss)
        return loss, out, loc, scale

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        loss, *_ = self._step(batch)
        total = loss
        if self.hparams.budget:
            total = loss + self.hparams.budget * self.net.budget_term()
        # summed here and logged once at the epoch's end: self.log on every step is most of a
        # small model's step time
        d = loss.detach()
        self._loss_sum = d if self._loss_sum is None else self._loss_sum + d
        self._loss_n += 1
        return total

    def on_train_epoch_start(self) -> None:
        self._loss_sum, self._loss_n = None, 0

    def on_train_epoch_end(self) -> None:
        if self._loss_n:
            self.log("train_loss", self._loss_sum / self._loss_n, on_epoch=True, sync_dist=True)

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        loss, out, loc, scale = self._step(batch)
        B = batch["x"].shape[0]
        self.log("val_loss", loss, on_epoch=True, prog_bar=True, batch_size=B, sync_dist=True)
        pred = loc.unsqueeze(1) + scale.unsqueeze(1) * out
        mae = (pred - batch["y"]).abs().mean(dim=(0, 2))
        for j, label in enumerate(self.horizon_labels):
            self.log(f"val_mae_{label}", mae[j], on_epoch=True, batch_size=B, sync_dist=True)

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        opt = make_optimizer(self.parameters(), hp.optimizer, lr=hp.lr, weight_decay=hp.weight_decay,
                             momentum=hp.momentum, extra=hp.optimizer_kwargs)
        sched = hp.lr_schedule
        if sched == "plateau":
            s = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=2)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": s, "monitor": hp.monitor}}
        if sched == "cosine":
            if hp.max_steps:
                # annealed over the optimiser steps when a step budget is given
                s = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, int(hp.max_steps)))
                return {"optimizer": opt, "lr_scheduler": {"scheduler": s, "interval": "step"}}
            s = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, hp.max_epochs))
            return {"optimizer": opt, "lr_scheduler": s}
        return opt


def make_optimizer(params: Any, kind: str, *, lr: float, weight_decay: float, momentum: float = 0.0,
                   extra: dict[str, Any] | None = None) -> torch.optim.Optimizer:
    """The torch optimiser ``kind`` (``adamw``, ``adam``, ``sgd``) with its settings.

    ``extra`` holds further keyword arguments of that optimiser; an unknown one is a
    :class:`ConfigError` naming it, not a TypeError from inside torch.
    """
    classes = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam, "sgd": torch.optim.SGD}
    if kind not in classes:
        raise ConfigError(f"optimizer must be one of {list(classes)}, got {kind!r}.")
    kw: dict[str, Any] = {"lr": lr, "weight_decay": weight_decay}
    if kind == "sgd":
        kw["momentum"] = momentum
    for key, value in dict(extra or {}).items():
        if key in ("params", "lr", "weight_decay"):
            raise ConfigError(f"optimizer_kwargs[{key!r}]: set {key} through its own parameter.")
        kw[key] = value
    params = list(params)
    if kind != "sgd" and "fused" not in kw and "foreach" not in kw:
        # torch's CPU default is one small kernel per tensor and per update term: a few ms per step,
        # as much as the forward pass of a small model; the fused kernel does the update in one
        try:
            return classes[kind](params, fused=True, **kw)
        except (RuntimeError, TypeError, ValueError):
            pass  # a device or dtype without the fused kernel: torch's default
    try:
        return classes[kind](params, **kw)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"optimizer={kind!r} with optimizer_kwargs={extra!r}: {err}") from None
