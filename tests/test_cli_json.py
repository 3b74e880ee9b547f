"""``tsgate evaluate --json PATH``: the scores as JSON, through the CLI run as a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


def cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tsgate.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})


def _table(path: Path) -> None:
    rng = np.random.default_rng(0)
    t = np.arange(240)
    pd.DataFrame({"time": t, "a_mm": np.sin(t / 5) + rng.normal(0, 0.1, len(t)),
                  "b_mm": 3 * np.cos(t / 7) + rng.normal(0, 0.1, len(t))}).to_csv(path, index=False)


def test_json_per_target_mae_matches_the_printed_table_and_is_replaced_atomically(tmp_path):
    _table(tmp_path / "s.csv")
    out = tmp_path / "scores.json"
    out.write_text("old")
    res = cli("evaluate", "s.csv", "--models", "linear,persistence", "--horizon", "1", "--horizon", "3", "--json",
              str(out), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    doc = json.loads(out.read_text())
    assert list(doc) == ["s.csv"]
    scores = doc["s.csv"]
    assert set(scores) == {"linear", "persistence"}
    assert set(scores["persistence"]) == {"1", "3"} and set(scores["persistence"]["1"]) == {"a_mm", "b_mm"}
    # persistence at one step: the mean |y[t+1] - y[t]| over the test origins (rows 192-238:
    # after the 60 % training and 20 % validation parts), recomputed here
    f = pd.read_csv(tmp_path / "s.csv")
    want = f["b_mm"].iloc[192:].diff().abs().iloc[1:].mean()
    assert scores["persistence"]["1"]["b_mm"] == pytest.approx(want, rel=1e-4)
    # the printed table is the MAE pooled over both targets: the mean of the two per-target values
    row = next(ln for ln in res.stdout.splitlines() if "persistence" in ln)
    printed = float([c for c in row.replace("┃", "│").split("│") if c.strip()][1])
    assert np.mean(list(scores["persistence"]["1"].values())) == pytest.approx(printed, abs=1e-3)
    assert scores["linear"]["3"]["a_mm"] < scores["persistence"]["3"]["a_mm"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".scores.json")]  # no temporary file left


def test_json_path_is_checked_before_any_model_is_fitted(tmp_path):
    _table(tmp_path / "s.csv")
    res = cli("evaluate", "s.csv", "--models", "persistence", "--json", str(tmp_path / "no" / "x.json"), cwd=tmp_path)
    assert res.returncode == 2 and "--json" in res.stderr and "does not exist" in res.stderr, res.stderr
    res = cli("evaluate", "s.csv", "--models", "persistence", "--json", str(tmp_path), cwd=tmp_path)
    assert res.returncode == 2 and "is a folder" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.slow
def test_json_on_ais_tracks_holds_the_metre_table(tmp_path):
    out = tmp_path / "ais.json"
    res = cli("evaluate", "ais-nyharbor-mc", "--models", "dead-reckoning,persistence", "--horizon", "30s",
              "--horizon", "1min", "--stride", "5", "--json", str(out), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    doc = json.loads(out.read_text())
    assert list(doc) == ["ais-nyharbor-mc"]
    scores = doc["ais-nyharbor-mc"]
    assert set(scores) == {"dead-reckoning", "persistence"} and set(scores["persistence"]) == {"30s", "1min"}
    # the numbers of the printed table (metres, one decimal there)
    for ln in res.stdout.splitlines():
        cells = [c.strip() for c in ln.replace("┃", "│").split("│") if c.strip()]
        if cells and cells[0] in scores and len(cells) == 3 and "Mean" not in ln:
            for h, c in zip(("30s", "1min"), cells[1:]):
                if float(c) > 5:  # the error table, not the ratio table
                    assert scores[cells[0]][h] == pytest.approx(float(c), abs=0.051)
    # dead reckoning from reported SOG/COG: about 18 m at 1 min, persistence several times that
    assert 10 < scores["dead-reckoning"]["1min"] < 30 < scores["persistence"]["1min"]
