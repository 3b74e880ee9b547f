"""Every cell survives fit -> save -> load in a new process -> update -> forecast.

A model file is loaded by a fresh process (the CLI, a scheduled job), whose first use of the
network is a forecast under ``torch.inference_mode()``; an online update then needs gradients
through the same weights. Nothing created during that first forecast may end up in autograd.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import tsgate
from tsgate.nn.cells import CELLS, make_encoder

_CHILD = textwrap.dedent(
    """
    import json, sys
    import pandas as pd
    import tsgate

    out = {}
    for cell, model, new, recent in json.loads(sys.argv[1]):
        m = tsgate.load(model)
        upd = m.update(pd.read_csv(new))
        fc = m.predict(pd.read_csv(recent))
        out[cell] = {
            "update": upd[["y", "z"]].to_numpy().tolist(),
            "forecast": fc[["y", "z"]].to_numpy().tolist(),
            "n_online_updates": int(m.n_online_updates_),
        }
    print(json.dumps(out))
    """
)


def _fit_kwargs(cell: str) -> dict:
    return dict(
        cell=cell, hidden_size=6, window=8, horizons=[1, 3], max_epochs=1, batch_size=64,
        logger=None, seed=0, online_optimizer="adam",
    )


@pytest.mark.slow
def test_every_cell_updates_and_forecasts_after_loading_in_a_new_process(tmp_path: Path, make_frame) -> None:
    frame = make_frame(n=220, n_series=1, seed=3)
    old, new = frame.iloc[:180], frame.iloc[180:]
    new.to_csv(tmp_path / "new.csv", index=False)
    frame.iloc[-40:].to_csv(tmp_path / "recent.csv", index=False)
    jobs, twins = [], {}
    for cell in CELLS:
        model = tsgate.GatedLSTMForecaster(**_fit_kwargs(cell)).fit(old)
        path = tmp_path / f"{cell}.tsgate"
        model.save(path)
        jobs.append([cell, str(path), str(tmp_path / "new.csv"), str(tmp_path / "recent.csv")])
        twins[cell] = (tsgate.load(path), model.predict(frame.iloc[-40:])[["y", "z"]].to_numpy())
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(jobs)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    for cell in CELLS:
        res = got[cell]
        twin, before = twins[cell]
        upd = np.asarray(res["update"])
        fc = np.asarray(res["forecast"])
        assert upd.shape == (len(new) * 2, 2) and fc.shape == (2, 2)
        assert np.isfinite(upd).all() and np.isfinite(fc).all()
        # 40 new rows reveal targets of horizons 1 and 3: one Adam step per revealed time
        assert res["n_online_updates"] >= len(new) - 3
        # the same update in this process (where training ran first) gives the same numbers
        twin_upd = twin.update(new)[["y", "z"]].to_numpy()
        twin_fc = twin.predict(frame.iloc[-40:])[["y", "z"]].to_numpy()
        np.testing.assert_allclose(upd, twin_upd, rtol=1e-5, atol=1e-6, err_msg=cell)
        np.testing.assert_allclose(fc, twin_fc, rtol=1e-5, atol=1e-6, err_msg=cell)
        # and it learnt: the forecast moved away from the pre-update model's
        assert np.abs(fc - before).max() > 1e-6, cell


@pytest.mark.parametrize("cell", CELLS)
def test_inference_mode_first_then_training(cell: str) -> None:
    """A forecast under inference_mode, then gradients through the same module (a hidden size
    used nowhere else, so no earlier test has touched anything shared)."""
    torch.manual_seed(0)
    enc = make_encoder(cell, 3, 13, window_span_s=2.0, inner_cell="wmc")
    x = torch.randn(2, 5, 3)
    t = torch.linspace(-2.0, 0.0, 5).expand(2, 5)
    with torch.inference_mode():
        h0 = enc(x, t)
    with torch.no_grad():
        assert torch.equal(enc(x, t), h0)
    h = enc(x, t)
    h.sum().backward()
    assert torch.allclose(h.detach(), h0)
    grads = [p.grad for p in enc.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    with torch.inference_mode():  # and back again
        assert torch.equal(enc(x, t), h0)
