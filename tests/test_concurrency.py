"""Concurrent writers of one model (issue 14's "done when"): nothing lost, nothing half-done.

- 50 pairs of ``tsgate update`` started at the same instant on one model, each learning another
  series: after every pair the model loads and holds the learning of every run that exited 0;
  a run that did not wait (``--wait 0``) may exit 75, and then it changed nothing and wrote no
  forecast file. The pairs are forked from one process that imported the command once
  (tests/concurrent_writers.py), so a pair costs about a second; one more pair of gated-model
  updates runs as two plain subprocesses.
- 100 rounds of two processes calling ``save`` on the same directory at the same instant: the
  model always loads, is one of the two saved, and no data folder or temporary file is left over.

Without the lock, saves deleted each other's data folders and updates lost each other's learning.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tsgate import GatedLSTMForecaster, IrregularSeries, PersistenceForecaster, load

pytestmark = pytest.mark.slow

SERVER = Path(__file__).with_name("concurrent_writers.py")
N_PAIRS = 50


@pytest.fixture(scope="module")
def pair():
    """``pair(request) -> {"codes": [..], "stderr": [..]}``: two writers released together."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    p = subprocess.Popen([sys.executable, str(SERVER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)

    def ask(req: dict) -> dict:
        p.stdin.write(json.dumps(req) + "\n")
        p.stdin.flush()
        line = p.stdout.readline()
        assert line, "the writer process died"
        return json.loads(line)

    yield ask
    p.stdin.close()
    p.wait(timeout=60)


def _entries(model: Path) -> list[str]:
    """What the model folder holds, with the data folder's name generalised."""
    return sorted("data-*" if n.startswith("data-") else n for n in os.listdir(model))


def test_fifty_pairs_of_concurrent_updates_lose_nothing(pair, tmp_path):
    ids = [f"{k}{i}" for i in range(N_PAIRS) for k in "ab"]
    df = pd.DataFrame([(s, t, np.sin(t + j)) for j, s in enumerate(ids) for t in range(5)], columns=["series", "time", "v"])
    model = tmp_path / "m"
    PersistenceForecaster(horizons=[1]).fit(IrregularSeries.from_frame(df, time_col="time", id_col="series")).save(model)
    codes_seen = []
    for i in range(N_PAIRS):
        nowait = i % 5 == 4  # every fifth pair does not wait: one of them may exit 75
        argv, outs = [], []
        for k in "ab":
            f = tmp_path / f"new-{k}{i}.csv"
            pd.DataFrame({"series": [f"{k}{i}"] * 2, "time": [5.0, 6.0], "v": [0.5, 0.25]}).to_csv(f, index=False)
            outs.append(tmp_path / f"fc-{k}{i}.csv")
            argv.append(["update", str(model), str(f), "--id-col", "series", "--out", str(outs[-1]), "-q",
                         *(["--wait", "0"] if nowait else [])])
        res = pair({"op": "commands", "argv": argv})
        est = load(model)  # the model always loads
        for code, err, k, out in zip(res["codes"], res["stderr"], "ab", outs):
            sid = f"{k}{i}"
            if code == 75:
                assert nowait and err.count("\n") == 1 and "holds the lock" in err, err
                assert est.last_time_[sid] == 4.0 and not out.exists()  # nothing learned, nothing written
            else:
                assert code == 0 and err == "", (code, err)
                assert est.last_time_[sid] == 6.0, (i, sid)  # this run's learning is in the model
                assert len(pd.read_csv(out)) == 2
        assert _entries(model) == ["data-*", "model.json", "model.lock"]
        codes_seen += res["codes"]
    assert set(codes_seen) <= {0, 75} and codes_seen.count(0) >= 2 * N_PAIRS - N_PAIRS // 5


def _wait_reading_stdin(pids: list[int], timeout: float = 120) -> None:
    """Until every process blocks reading its standard input (Linux wchan), so that they start together."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if all("pipe_read" in Path(f"/proc/{pid}/wchan").read_text() for pid in pids):
                return
        except OSError:
            return  # no /proc: just go
        time.sleep(0.05)


def test_gated_model_updates_from_two_real_processes_both_count(tmp_path):
    rng = np.random.default_rng(0)
    frames = []
    for s in ("p", "q"):
        t = np.cumsum(rng.uniform(0.08, 0.12, 70))
        frames.append(pd.DataFrame({"series": s, "time": t, "v": np.sin(t * 2) + rng.normal(0, 0.01, 70)}))
    df = pd.concat(frames, ignore_index=True)
    pos = df.groupby("series").cumcount()
    model = tmp_path / "g"
    GatedLSTMForecaster(cell="lstm", hidden_size=4, window=4, horizons=[1], max_epochs=1, logger=None, seed=0).fit(
        IrregularSeries.from_frame(df[pos < 40], time_col="time", id_col="series")
    ).save(model)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for lo, hi in ((40, 55),):  # one round: two real processes cost a torch import each
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "tsgate.cli.app", "update", str(model), "-", "--id-col", "series", "-q"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
            )
            for _ in range(2)
        ]
        _wait_reading_stdin([p.pid for p in procs])
        parts = [df[(df["series"] == s) & (pos >= lo) & (pos < hi)].to_csv(index=False) for s in ("p", "q")]
        for p, text in zip(procs, parts):
            p.stdin.write(text)
        for p in procs:
            p.stdin.close()  # both read to the end now, at the same moment
        for p in procs:
            p.stdout.read()  # -q: nothing, but never let a full pipe block the process
            err = p.stderr.read()
            assert p.wait(timeout=300) == 0 and err == "", err
        est = load(model)
        for s in ("p", "q"):
            assert est.last_time_[s] == pytest.approx(df[(df["series"] == s) & (pos == hi - 1)]["time"].iloc[0], abs=0)


def test_hundred_rounds_of_two_saves_at_the_same_instant(pair, tmp_path):
    model = tmp_path / "s"
    winners = []
    for _ in range(100):
        res = pair({"op": "save", "model": str(model)})
        assert res["codes"] == [0, 0], res["stderr"]
        est = load(model)  # always loads: model.json never points at a removed folder
        last = float(est.history_.frame["v"].iloc[-1])
        assert last in (0.0, 1.0)  # one of the two saved models, complete
        assert _entries(model) == ["data-*", "model.json", "model.lock"]
        winners.append(last)
    assert len(winners) == 100
