"""Pre-training the global network of :class:`~tsgate.online.analog.PretrainedAnalogForecaster`.

A clinic with recorded patients trains the network once on their recordings, then every new
patient's stream is forecast by that frozen network, an analog forecaster on the patient's own
past and an online stacker (see :mod:`tsgate.online.analog`). The network never sees the
recording it forecasts.

Samples (:func:`network_samples`): every coordinate of every origin with the network's whole
history before it and every grid horizon after it, one origin every ``origin_spacing`` seconds;
each recording also enters time-stretched (``x'(t) = x(s t)`` for ``s`` in ``stretch``: faster
and slower breathing). Training: MSE weighted per horizon by the inverse mean square of its
targets (the short horizons count as much as the long ones), AdamW, a one-cycle learning rate,
``epochs`` passes, seeded.

The bundled ExtMarker networks (``tsgate/bundled/networks/extmarker``) are produced by::

    python -m tsgate.training.pretrain --extmarker-bundle datasets/networks/extmarker

one network per left-out sequence (trained on the other 8 sequences' 10 Hz recordings, refused on
every rate of the left-out one) and one on all 9, seed 0; about 1-2 minutes per network on one
CPU core.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from collections.abc import Sequence
from typing import Any

import numpy as np

from tsgate.data.series import IrregularSeries
from tsgate.exceptions import ConfigError
from tsgate.online import fingerprint as fp
from tsgate.online.network import GlobalNetwork, NetworkConfig, lead_coordinates, network_inputs
from tsgate.online.timegrid import rolling_std, stretched

__all__ = ["pretrain_network", "network_samples", "recordings_of", "build_extmarker_bundle"]

Recording = tuple[str, np.ndarray, np.ndarray]  # name, time [n] seconds, values [n, k]


def recordings_of(data: Any) -> list[Recording]:
    """(name, time, values) of every series of an IrregularSeries (or of a list of them)."""
    items = data if isinstance(data, (list, tuple)) else [data]
    out: list[Recording] = []
    for s in items:
        if not isinstance(s, IrregularSeries):
            raise ConfigError(f"pretraining data must be IrregularSeries (or a list of them), got {type(s).__name__}.")
        base = s.meta.get("dataset") or (str(s.source) if s.source else "recording")
        for g in s.groups():
            name = base if s.n_series == 1 else f"{base}/{g.series_id}"
            out.append((name, np.asarray(g.time_s, dtype=np.float64), np.asarray(g.values, dtype=np.float64)))
    return out


def network_samples(recordings: Sequence[Recording], config: NetworkConfig, *, origin_spacing: float = 0.2,
                    stretch: Sequence[float] = (0.8, 1.25)) -> tuple[np.ndarray, np.ndarray]:
    """Inputs [N, 2 n_lags] and normalised targets [N, n_horizons] (float32) of the recordings."""
    U, T = [], []
    grid = np.asarray(config.horizons, dtype=np.float64)
    for _, t0, x0 in recordings:
        versions = [(t0, x0)] + [stretched(t0, x0, s) for s in stretch]
        for t, x in versions:
            if len(t) < 3:
                continue
            floor = config.amplitude_floor * max(float(x.std(axis=0).max()), 1e-12)
            amp = rolling_std(t, x, config.amplitude_window, floor)
            lead = lead_coordinates(t, x, config.lead_after)
            step = max(1, int(round(origin_spacing / float(np.median(np.diff(t))))))
            ok = (t - t[0] >= config.history - 1e-9) & (t + grid[-1] <= t[-1])
            origins = np.flatnonzero(ok)[::step]
            if len(origins) == 0:
                continue
            u = network_inputs(config, t, x, origins, amp[origins], lead[origins])  # [n_o, k, 2L]
            y = np.stack([np.interp(t[origins][:, None] + grid[None, :], t, x[:, c]) for c in range(x.shape[1])], axis=1)
            tgt = (y - x[origins][:, :, None]) / amp[origins][:, :, None]  # [n_o, k, H]
            U.append(u.reshape(-1, u.shape[2]).astype(np.float32))
            T.append(tgt.reshape(-1, len(grid)).astype(np.float32))
    if not U:
        raise ConfigError(
            f"no pretraining sample: every recording is shorter than the network's history plus its longest "
            f"horizon ({config.history + grid[-1]:g} s)."
        )
    return np.concatenate(U), np.concatenate(T)


def pretrain_network(
    recordings: Any,
    *,
    config: NetworkConfig | None = None,
    horizons: Sequence[float] | None = None,
    epochs: int = 6,
    batch_size: int = 512,
    lr: float = 2e-3,
    weight_decay: float = 1e-4,
    stretch: Sequence[float] = (0.8, 1.25),
    origin_spacing: float = 0.2,
    seed: int = 0,
    log: Any = None,
) -> GlobalNetwork:
    """Train a :class:`~tsgate.online.network.GlobalNetwork` on other recordings (torch, CPU).

    ``recordings``: an IrregularSeries (every series and target coordinate is used), a list of
    them, or ``(name, time_s, values)`` tuples. ``horizons`` (seconds) replaces the config's
    horizon grid. ``log``: a callable receiving one line per epoch. Returns the network with the
    names and content fingerprints of its training recordings.
    """
    import torch

    cfg = config or NetworkConfig()
    if horizons is not None:
        hs = tuple(sorted(float(h) for h in horizons))
        if not hs or hs[0] <= 0:
            raise ConfigError(f"horizons must be positive durations in seconds, got {list(horizons)}.")
        cfg = NetworkConfig(**{**cfg.to_json(), "horizons": hs, "hidden": cfg.hidden})
    recs = recordings if (isinstance(recordings, list) and recordings and isinstance(recordings[0], tuple)) else recordings_of(recordings)
    t0 = time.perf_counter()
    U_np, T_np = network_samples(recs, cfg, origin_spacing=origin_spacing, stretch=stretch)
    U, T = torch.from_numpy(U_np), torch.from_numpy(T_np)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    layers: list[Any] = []
    width = cfg.input_size
    for h in cfg.hidden:
        layers += [torch.nn.Linear(width, h), torch.nn.GELU()]
        width = h
    layers.append(torch.nn.Linear(width, len(cfg.horizons)))
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    n_batches = max(1, len(U) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * n_batches, pct_start=0.1)
    weight = 1.0 / T.pow(2).mean(0).clamp_min(1e-12)
    weight = weight / weight.mean()
    for ep in range(epochs):
        perm = torch.randperm(len(U), generator=gen)
        total = 0.0
        for b in range(n_batches):
            idx = perm[b * batch_size:(b + 1) * batch_size]
            loss = ((net(U[idx]) - T[idx]).pow(2) * weight).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        if log is not None:
            log(f"epoch {ep + 1}/{epochs}: loss {total / n_batches:.4f} ({len(U)} samples, {time.perf_counter() - t0:.0f} s)")
    lin = [m for m in net if isinstance(m, torch.nn.Linear)]
    weights = [(m.weight.detach().double().numpy().T.copy(), m.bias.detach().double().numpy().copy()) for m in lin]
    training = {"samples": int(len(U)), "epochs": epochs, "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay,
                "stretch": list(stretch), "origin_spacing": origin_spacing, "seed": seed,
                "final_loss": total / n_batches, "seconds": round(time.perf_counter() - t0, 1)}
    return GlobalNetwork(cfg, weights, [r[0] for r in recs], {r[0]: fp.fingerprint(r[2]) for r in recs}, training)


# ------------------------------------------------------------------------------ the bundle
def build_extmarker_bundle(out_dir: str, *, seed: int = 0, epochs: int = 6, log: Any = print) -> None:
    """Train and write the bundled ExtMarker networks (see the module docstring)."""
    from tsgate.datasets import load_dataset
    from tsgate.online.bundled import write_bundle

    recs = {}
    for k in range(1, 10):
        for rate in ("10hz", "3.33hz", "30hz"):
            s = load_dataset(f"extmarker-{rate}-seq{k}")
            recs[(k, rate)] = recordings_of(s)[0]
    nets = {}
    for left_out in list(range(1, 10)) + [None]:
        key = "all" if left_out is None else f"without-seq{left_out}"
        # the network reads history on a time grid, so the 3.33 and 30 Hz files (resampled from the
        # 10 Hz originals) add no new motion: train on the originals, but list and fingerprint all
        # three rates as seen, so that no rate of a training sequence is ever forecast by this network
        train = [r for (k, rate), r in sorted(recs.items()) if k != left_out and rate == "10hz"]
        seen = [r for (k, _), r in sorted(recs.items()) if k != left_out]
        log(f"{key}: {len(train)} recordings")
        net = pretrain_network(train, seed=seed, epochs=epochs, log=lambda m: log(f"  {key} {m}"))
        nets[key] = replace(net, trained_on=[r[0] for r in seen], fingerprints={r[0]: fp.fingerprint(r[2]) for r in seen})
    write_bundle(out_dir, nets)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Train the bundled ExtMarker networks (leave-one-sequence-out).")
    ap.add_argument("--extmarker-bundle", metavar="DIR", required=True, help="output folder")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    a = ap.parse_args(argv)
    import torch

    torch.set_num_threads(a.threads)
    build_extmarker_bundle(a.extmarker_bundle, seed=a.seed, epochs=a.epochs)


if __name__ == "__main__":
    main()
