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

LOSSES = ("mse", "huber")
SCHEDULES = ("plateau", "cosine", "none")


def masked_loss(pred: Tensor, target: Tensor, mask: Tensor | None, kind: str, delta: float = 1.0) -> Tensor:
    """Mean loss over the entries selected by ``mask`` [B, H] (all when None)."""
    if kind == "mse":
        err = (pred - target) ** 2
    else:
        err = nn.functional.huber_loss(pred, target, reduction="none", delta=delta)
    if mask is None:
        return err.mean()
    m = mask.to(err.dtype).unsqueeze(-1).expand_as(err)
    return (err * m).sum() / m.sum().clamp_min(1.0)


class ForecastModule(L.LightningModule):
    """Trains a :class:`ForecastNet` on window batches (see ``tsgate.training.datamodule``).

    Logs ``train_loss``, ``val_loss`` (normalised units) and per-horizon validation MAE in the
    data's units as ``val_mae_<horizon>``. The g-LSTM budget term ``budget * mean(k)`` is added to
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
    ) -> None:
        super().__init__()
        if loss not in LOSSES:
            raise ConfigError(f"loss must be one of {list(LOSSES)}, got {loss!r}.")
        if lr_schedule not in SCHEDULES:
            raise ConfigError(f"lr_schedule must be one of {list(SCHEDULES)}, got {lr_schedule!r}.")
        self.save_hyperparameters()
        self.net = ForecastNet(**net_kwargs)
        self.horizon_labels = list(horizon_labels)

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
        self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=batch["x"].shape[0], sync_dist=True)
        return total

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        loss, out, loc, scale = self._step(batch)
        B = batch["x"].shape[0]
        self.log("val_loss", loss, on_epoch=True, prog_bar=True, batch_size=B, sync_dist=True)
        pred = loc.unsqueeze(1) + scale.unsqueeze(1) * out
        mae = (pred - batch["y"]).abs().mean(dim=(0, 2))
        for j, label in enumerate(self.horizon_labels):
            self.log(f"val_mae_{label}", mae[j], on_epoch=True, batch_size=B, sync_dist=True)

    def configure_optimizers(self) -> Any:
        opt = torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        sched = self.hparams.lr_schedule
        if sched == "plateau":
            s = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=2)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": s, "monitor": "val_loss"}}
        if sched == "cosine":
            s = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, self.hparams.max_epochs))
            return {"optimizer": opt, "lr_scheduler": s}
        return opt
