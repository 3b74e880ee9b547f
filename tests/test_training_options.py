"""The fit loop's options: step budget, optimiser, loss, schedule without validation, best weights in memory."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from tsgate import ConfigError, IrregularSeries
from tsgate.training.gated import GatedLSTMForecaster
from tsgate.training.module import masked_loss, make_optimizer


def _sine(n: int = 600, seed: int = 0) -> IrregularSeries:
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.uniform(0.05, 0.15, n))
    return IrregularSeries.from_arrays(t, np.sin(2 * np.pi * t / 4), targets=["a"])


def _small(**kw) -> GatedLSTMForecaster:
    p = dict(cell="lstm", hidden_size=8, window=8, horizons=[1, 3], max_epochs=2, batch_size=32)
    p.update(kw)
    return GatedLSTMForecaster(**p)


@pytest.fixture(scope="module")
def series() -> IrregularSeries:
    return _sine()


def test_max_steps_counts_optimiser_steps(series):
    m = _small(max_steps=7, max_epochs=100, val_fraction=0.0).fit(series)
    assert m.n_steps_ == 7
    # without max_steps the epochs bound the steps: ceil(windows / batch) per epoch
    m2 = _small(max_epochs=2, val_fraction=0.0).fit(series)
    assert m2.n_steps_ == 2 * math.ceil(m2.n_train_windows_ / 32)


@pytest.mark.parametrize("kind, cls", [("adamw", torch.optim.AdamW), ("adam", torch.optim.Adam), ("sgd", torch.optim.SGD)])
def test_optimizer_choice_and_settings(kind, cls):
    p = [torch.nn.Parameter(torch.zeros(3))]
    opt = make_optimizer(p, kind, lr=0.05, weight_decay=0.01, momentum=0.9, extra={"foreach": False})
    assert type(opt) is cls
    g = opt.param_groups[0]
    assert g["lr"] == 0.05 and g["weight_decay"] == 0.01 and g["foreach"] is False
    if kind == "sgd":
        assert g["momentum"] == 0.9


def test_adam_uses_the_fused_kernel_unless_told_otherwise():
    p = [torch.nn.Parameter(torch.zeros(3))]
    assert make_optimizer(p, "adam", lr=0.1, weight_decay=0.0).param_groups[0]["fused"] is True
    assert make_optimizer(p, "adamw", lr=0.1, weight_decay=0.0, extra={"fused": False}).param_groups[0]["fused"] is False
    assert not make_optimizer(p, "adamw", lr=0.1, weight_decay=0.0, extra={"foreach": True}).param_groups[0]["fused"]


def test_bad_optimizer_settings_name_the_argument():
    p = [torch.nn.Parameter(torch.zeros(3))]
    with pytest.raises(ConfigError, match="nonsense"):
        make_optimizer(p, "adam", lr=0.1, weight_decay=0.0, extra={"nonsense": 1})
    with pytest.raises(ConfigError, match="lr"):
        make_optimizer(p, "adam", lr=0.1, weight_decay=0.0, extra={"lr": 1})
    with pytest.raises(ConfigError, match="optimizer"):
        _small(optimizer="rmsprop").fit(_sine(200))
    with pytest.raises(ConfigError, match="optimizer_kwargs"):
        _small(optimizer_kwargs=["betas"]).fit(_sine(200))


def test_optimizer_reaches_the_trainer(series):
    m = _small(optimizer="sgd", lr=0.05, momentum=0.5, max_steps=3, val_fraction=0.0).fit(series)
    opt = m.module_.trainer.optimizers[0]
    assert type(opt) is torch.optim.SGD and opt.param_groups[0]["momentum"] == 0.5


def test_mae_loss():
    pred = torch.tensor([[[1.0], [2.0]]])
    target = torch.tensor([[[0.0], [4.0]]])
    assert masked_loss(pred, target, None, "mae").item() == pytest.approx(1.5)
    mask = torch.tensor([[True, False]])
    assert masked_loss(pred, target, mask, "mae").item() == pytest.approx(1.0)


def test_mae_fit_is_finite(series):
    m = _small(loss="mae", val_fraction=0.0).fit(series)
    w = m._windows(series, "all", targets="required")
    v = m._predict(w.inputs)
    assert v.shape[0] == len(w) and np.isfinite(v).all() and np.ptp(v) > 0
    assert np.abs(v - w.y).mean() < np.abs(w.y).mean()  # it learned something


def test_plateau_without_validation_watches_training_loss(series):
    # val_fraction=0 used to drop the plateau schedule without a word; now it follows train_loss
    m = _small(lr_schedule="plateau", val_fraction=0.0, max_epochs=3, lr=1.0).fit(series)
    cfg = m.module_.trainer.lr_scheduler_configs
    assert len(cfg) == 1 and cfg[0].monitor == "train_loss"
    assert isinstance(cfg[0].scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)


def test_plateau_with_validation_watches_validation_loss(series):
    m = _small(lr_schedule="plateau", val_fraction=0.2).fit(series)
    assert m.module_.trainer.lr_scheduler_configs[0].monitor == "val_loss"


def test_cosine_over_steps(series):
    m = _small(lr_schedule="cosine", val_fraction=0.0, max_steps=10, max_epochs=100, lr=0.1).fit(series)
    cfg = m.module_.trainer.lr_scheduler_configs[0]
    assert cfg.interval == "step" and cfg.scheduler.T_max == 10
    # annealed to (near) zero after all steps
    assert m.module_.trainer.optimizers[0].param_groups[0]["lr"] < 1e-3


def test_best_weights_kept_in_memory_and_nothing_written(series, tmp_path):
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        m = _small(val_fraction=0.25, max_epochs=4, patience=0, logger="csv", log_dir=str(tmp_path / "logs")).fit(series)
    finally:
        os.chdir(cwd)
    written = sorted(p.relative_to(tmp_path).parts[0] for p in tmp_path.rglob("*") if p.is_file())
    assert set(written) == {"logs"}  # no checkpoint files, no lightning_logs
    assert not list(tmp_path.rglob("*.ckpt"))
    rows = list(csv.DictReader(open(next(Path(m.log_dir_).glob("metrics.csv")))))
    vals = [float(r["val_loss"]) for r in rows if r.get("val_loss")]
    trains = [float(r["train_loss"]) for r in rows if r.get("train_loss")]
    assert len(vals) == 4 and len(trains) == 4  # once per epoch each
    assert m.best_val_loss_ == pytest.approx(min(vals), rel=1e-6)
    # the restored weights are the best epoch's: their validation loss is the minimum
    w = m._windows(series, "all", targets="required")
    _, val = m._split_windows(w, series)
    from tsgate.training.batch import windows_to_tensors

    b = windows_to_tensors(val)
    with torch.no_grad():
        out, loc, scale = m.net_(b["x"], b["dt"], b["t"], b["mask"], b["static"])
        loss = masked_loss(out, (b["y"] - loc.unsqueeze(1)) / scale.unsqueeze(1), None, "mse").item()
    assert loss == pytest.approx(min(vals), rel=1e-4)


def test_patience_zero_runs_every_epoch(series):
    m = _small(val_fraction=0.25, max_epochs=5, patience=0).fit(series)
    assert m.n_epochs_ == 5
