"""The forecasting network: normalisation, recurrent encoder and multi-horizon head (maths only).

``ForecastNet`` turns one batch of windows into forecasts of every horizon and target in one
pass. It owns the per-window ("instance") normalisation so that saved weights and scales
travel together: each window is shifted by its last observed value and divided by its own
spread (floored by a global scale fitted on training windows, so a stationary vessel does
not blow up), the encoder and head work in those units, and the output is mapped back.
No Lightning here: the LightningModule in ``tsgate.training.module`` wraps it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from tsgate.exceptions import ConfigError
from tsgate.nn.cells import make_encoder

__all__ = ["ForecastNet", "NORMALIZATIONS"]

NORMALIZATIONS = ("instance", "last", "global", "none")
SKIPS = ("none", "velocity")


class ForecastNet(nn.Module):
    """Encoder + direct multi-horizon head over normalised windows.

    Parameters
    ----------
    cell
        Encoder cell name (see ``tsgate.nn.cells.CELLS``).
    n_features
        Observed features per step (targets first, then covariates).
    n_targets, n_horizons
        Output shape per window: ``[n_horizons, n_targets]``.
    n_static
        Static covariates appended to the encoder summary.
    normalize
        ``instance`` (last value and window spread), ``last`` (last value, global scale),
        ``global`` (training mean and scale) or ``none``.
    use_dt, use_mask
        Append log(1 + Δt / dt_scale) and the padding mask as input features.
    skip, horizon_s
        ``velocity``: add the constant-velocity extrapolation of the last two observations over
        each horizon's lead time ``horizon_s`` (seconds), so the network learns the residual
        over dead reckoning (positions); ``none`` (default).
    """

    def __init__(
        self,
        *,
        cell: str,
        n_features: int,
        n_targets: int,
        n_horizons: int,
        n_static: int = 0,
        hidden_size: int = 64,
        num_layers: int = 1,
        dropout: float = 0.0,
        normalize: str = "instance",
        use_dt: bool = True,
        use_mask: bool = False,
        window_span_s: float = 1.0,
        gate_threshold: float = 0.0,
        inner_cell: str = "lstm",
        conv_channels: int | None = None,
        kernel_size: int = 3,
        head_hidden: int = 0,
        scale_floor: float = 0.1,
        skip: str = "none",
        horizon_s: list[float] | None = None,
    ) -> None:
        super().__init__()
        if normalize not in NORMALIZATIONS:
            raise ConfigError(f"normalize must be one of {list(NORMALIZATIONS)}, got {normalize!r}.")
        if skip not in SKIPS:
            raise ConfigError(f"skip must be one of {list(SKIPS)}, got {skip!r}.")
        if skip == "velocity" and (horizon_s is None or len(horizon_s) != n_horizons):
            raise ConfigError("skip='velocity' needs the lead time of every horizon (horizon_s).")
        self.skip = skip
        # typical lead time of each horizon, seconds (for step horizons: measured on training windows)
        self.register_buffer("horizon_s", torch.as_tensor(horizon_s or [0.0] * n_horizons, dtype=torch.float32))
        self.n_features, self.n_targets, self.n_horizons, self.n_static = n_features, n_targets, n_horizons, n_static
        self.normalize, self.use_dt, self.use_mask, self.scale_floor = normalize, use_dt, use_mask, scale_floor
        # global statistics fitted on training windows (buffers: saved with the weights)
        self.register_buffer("feature_loc", torch.zeros(n_features))
        self.register_buffer("feature_scale", torch.ones(n_features))
        self.register_buffer("static_loc", torch.zeros(n_static))
        self.register_buffer("static_scale", torch.ones(n_static))
        self.register_buffer("dt_scale", torch.ones(()))
        enc_in = n_features + int(use_dt) + int(use_mask)
        self.encoder = make_encoder(
            cell,
            enc_in,
            hidden_size,
            num_layers=num_layers,
            dropout=dropout,
            window_span_s=window_span_s,
            gate_threshold=gate_threshold,
            inner_cell=inner_cell,
            conv_channels=conv_channels,
            kernel_size=kernel_size,
        )
        head_in = self.encoder.output_size + n_static
        out = n_horizons * n_targets
        if head_hidden > 0:
            self.head: nn.Module = nn.Sequential(nn.Linear(head_in, head_hidden), nn.GELU(), nn.Linear(head_hidden, out))
        else:
            self.head = nn.Linear(head_in, out)

    def set_statistics(self, stats: dict[str, Any]) -> None:
        """Copy global statistics (from the training windows) into the buffers."""
        for name in ("feature_loc", "feature_scale", "static_loc", "static_scale", "dt_scale"):
            if name in stats:
                buf = getattr(self, name)
                buf.copy_(torch.as_tensor(stats[name], dtype=buf.dtype).reshape(buf.shape))

    def location_scale(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Per-window location and scale [B, d] used to normalise inputs and targets."""
        B, d = x.shape[0], x.shape[-1]
        if self.normalize == "none":
            return x.new_zeros(B, d), x.new_ones(B, d)
        if self.normalize == "global":
            return self.feature_loc.expand(B, d), self.feature_scale.expand(B, d)
        loc = x[:, -1, :]
        if self.normalize == "last":
            return loc, self.feature_scale.expand(B, d)
        m = mask.to(x.dtype).unsqueeze(-1)
        n = m.sum(1).clamp_min(1.0)
        mean = (x * m).sum(1) / n
        var = (((x - mean.unsqueeze(1)) ** 2) * m).sum(1) / n
        floor = self.scale_floor * self.feature_scale
        return loc, torch.maximum(var.sqrt(), floor.expand(B, d))

    def forward(
        self, x: Tensor, dt: Tensor, t: Tensor, mask: Tensor, static: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Returns (normalised forecasts [B, H, k], location [B, k], scale [B, k])."""
        loc, scale = self.location_scale(x, mask)
        xn = (x - loc.unsqueeze(1)) / scale.unsqueeze(1)
        mf = mask.to(x.dtype)
        feats = [xn * mf.unsqueeze(-1)]
        if self.use_dt:
            feats.append((torch.log1p(dt.clamp_min(0) / self.dt_scale) * mf).unsqueeze(-1))
        if self.use_mask:
            feats.append(mf.unsqueeze(-1))
        h = self.encoder(torch.cat(feats, dim=-1), t, None if bool(mask.all()) else mask)
        if self.n_static:
            h = torch.cat([h, (static - self.static_loc) / self.static_scale], dim=-1)
        out = self.head(h).view(-1, self.n_horizons, self.n_targets)
        k = self.n_targets
        if self.skip == "velocity":
            # constant-velocity extrapolation from the last two observations (dead reckoning);
            # the network learns the residual on top of it
            ok = mask[:, -2:].all(dim=1, keepdim=True).to(x.dtype)
            v = (x[:, -1, :k] - x[:, -2, :k]) / dt[:, -1:].clamp_min(1e-6) * ok
            out = out + v.unsqueeze(1) * self.horizon_s.view(1, -1, 1) / scale[:, :k].unsqueeze(1)
        return out, loc[:, :k], scale[:, :k]

    def predict(self, x: Tensor, dt: Tensor, t: Tensor, mask: Tensor, static: Tensor | None = None) -> Tensor:
        """Forecasts in the data's units [B, H, k]."""
        out, loc, scale = self(x, dt, t, mask, static)
        return loc.unsqueeze(1) + scale.unsqueeze(1) * out

    def budget_term(self) -> Tensor:
        return self.encoder.budget_term()
