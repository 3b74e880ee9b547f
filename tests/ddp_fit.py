"""Fit a small GatedLSTMForecaster with Lightning's DDP on 2 CPU processes (gloo) and save it.

Run by tests/test_ddp.py as a subprocess: Lightning's ``ddp`` strategy relaunches this script
for rank 1, so it must be a script, not a pytest function. Usage: ddp_fit.py OUT_DIR STRATEGY DEVICES
"""

import sys

import numpy as np

from tsgate import IrregularSeries
from tsgate.training.gated import GatedLSTMForecaster


def data() -> IrregularSeries:
    rng = np.random.default_rng(0)
    t = np.cumsum(rng.uniform(0.05, 0.15, 1500))
    return IrregularSeries.from_arrays(t, np.c_[np.sin(2 * np.pi * t / 4), np.cos(2 * np.pi * t / 4)], targets=["a", "b"])


if __name__ == "__main__":
    out, strategy, devices = sys.argv[1], sys.argv[2], int(sys.argv[3])
    est = GatedLSTMForecaster(
        cell="lstm", hidden_size=16, window=12, horizons=["0.5s", "1s"], max_epochs=6, patience=0,
        logger=None, accelerator="cpu", devices=devices, strategy=strategy, seed=0,
    )
    est.fit(data())
    import lightning.fabric.utilities.rank_zero as rz

    if getattr(rz.rank_zero_only, "rank", 0) == 0:
        est.save(out)
