"""The vessel model's network and its LightningModule (trained by tsgate.training.trainer).

LSTM over the per-step inputs → its last state, the origin inputs and an 8-dim embedding of
the origin's grid cell → MLP (128-128, GELU) → per horizon a (cross, along) residual and an
along-track gain g ∈ (0, 2): the along-track displacement is (g − 1) · speed · lead + residual,
so the model can slow dead reckoning down (what damped baselines win with at long horizons).
Outputs are in units of the per-horizon residual scale. Loss: Euclidean distance on the scaled
residual, over the known targets only.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

__all__ = ["VesselNet", "VesselModule", "euclidean_loss"]


class VesselNet(nn.Module):
    def __init__(self, n_seq: int, n_static: int, n_cells: int, n_horizons: int, hidden_size: int = 64,
                 head: int = 128, embed: int = 8) -> None:
        super().__init__()
        self.rnn = nn.LSTM(n_seq, hidden_size, batch_first=True)
        self.emb = nn.Embedding(max(n_cells, 1), embed)
        self.head = nn.Sequential(nn.Linear(hidden_size + n_static + embed, head), nn.GELU(), nn.Linear(head, head),
                                  nn.GELU(), nn.Linear(head, n_horizons * 3))
        self.n_horizons = n_horizons

    def forward(self, seq: Tensor, static: Tensor, cell: Tensor, dr_along: Tensor) -> Tensor:
        """[B, H, 2] scaled (cross, along) residual; ``dr_along`` [B, H] = speed · lead / scale."""
        out, _ = self.rnn(seq)
        z = self.head(torch.cat([out[:, -1], static, self.emb(cell)], dim=1)).view(-1, self.n_horizons, 3)
        gain = 2 * torch.sigmoid(z[..., 2])
        return torch.stack([z[..., 0], z[..., 1] + (gain - 1) * dr_along], dim=-1)


def euclidean_loss(pred: Tensor, target: Tensor, known: Tensor) -> Tensor:
    """Mean Euclidean distance [B, H, 2] over the known (window, horizon) pairs [B, H]."""
    d = torch.sqrt(((pred - target) ** 2).sum(-1) + 1e-6)
    m = known.to(d.dtype)
    return (d * m).sum() / m.sum().clamp_min(1.0)


class VesselModule(L.LightningModule):
    """AdamW with a cosine schedule over ``max_epochs`` (a fixed schedule: no early stopping)."""

    def __init__(self, net_kwargs: dict[str, Any], *, lr: float, weight_decay: float, max_epochs: int) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = VesselNet(**net_kwargs)

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        pred = self.net(batch["seq"], batch["static"], batch["cell"], batch["dr_along"])
        loss = euclidean_loss(pred, batch["target"], batch["known"])
        self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=batch["seq"].shape[0])
        return loss

    def configure_optimizers(self) -> Any:
        opt = torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, int(self.hparams.max_epochs)))
        return {"optimizer": opt, "lr_scheduler": sched}
