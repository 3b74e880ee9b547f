"""The scheduled forecasting job (examples/scheduled_forecast.py): lock, idempotency, crash safety.

The main test drives 20 runs over a replayed stream, SIGKILLing real subprocesses at named
steps (env hook) and at random moments, and checks the final model and store equal those of
an uninterrupted run.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import irregular_frame

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "scheduled_forecast.py"
N_DROPS = 20


def _load_script():
    spec = importlib.util.spec_from_file_location("scheduled_forecast", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["scheduled_forecast"] = mod
    spec.loader.exec_module(mod)
    return mod


sf = _load_script()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A small fitted model (saved) and a stream of 20 drop files (CSV, a few parquet)."""
    from tsgate.training.gated import GatedLSTMForecaster
    from tsgate.data.series import IrregularSeries

    root = tmp_path_factory.mktemp("sched")
    df = irregular_frame(n=260, n_series=2, seed=3)
    pos = df.groupby("series").cumcount()
    train = df[pos < 120]
    stream = df[pos >= 120].sort_values(["time", "series"], kind="stable")
    est = GatedLSTMForecaster(
        cell="lstm", hidden_size=8, window=8, horizons=["0.3s", "1s"], max_epochs=2, logger=None, seed=0
    )
    est.fit(IrregularSeries.from_frame(train, time_col="time", id_col="series"))
    est.save(root / "model0")
    drops = root / "drops"
    drops.mkdir()
    bounds = np.linspace(0, len(stream), N_DROPS + 1).astype(int)
    for k in range(1, N_DROPS + 1):
        # ordered by series then time inside a file, like an export per series
        chunk = stream.iloc[bounds[k - 1] : bounds[k]].sort_values(["series", "time"], kind="stable")
        if k % 5 == 0:
            chunk.to_parquet(drops / f"drop-{k:03d}.parquet", index=False)
        else:
            chunk.to_csv(drops / f"drop-{k:03d}.csv", index=False)
    files = sorted(drops.iterdir())
    assert len(files) == N_DROPS
    return root, files


def _fresh(root: Path, name: str):
    d = root / name
    shutil.copytree(root / "model0", d / "model")
    (d / "inbox").mkdir()
    return d / "model", d / "inbox", d / "store"


def _run(model, inbox, store, **kw):
    # one torch thread everywhere (in-process and subprocesses): fast for a tiny model on a
    # shared machine, and the same arithmetic in every run
    return sf.run_once(model, inbox, store, id_col="series", threads=1, **kw)


@pytest.fixture(scope="module", autouse=True)
def _restore_torch_threads():
    import torch

    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def _store_frames(store: Path) -> dict[str, pd.DataFrame]:
    return {p.name: pd.read_parquet(p) for p in sorted(store.glob("*.parquet"))}


@pytest.fixture(scope="module")
def reference(setup):
    """The uninterrupted run: one in-process run per arriving drop."""
    root, files = setup
    model, inbox, store = _fresh(root, "ref")
    for f in files:
        shutil.copy(f, inbox)
        res = _run(model, inbox, store)
        assert res.status == "done" and len(res.runs) == 1 and not res.recovered
    return model, inbox, store


def _subprocess(model, inbox, store, env_kill: str | None = None, extra=()) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop(sf.KILL_ENV, None)
    if env_kill:
        env[sf.KILL_ENV] = env_kill
    cmd = [sys.executable, str(SCRIPT), "--model", str(model), "--inbox", str(inbox), "--store", str(store)]
    cmd += ["--id-col", "series", "--threads", "1", *extra]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_reference_run_content(reference):
    """The store of the uninterrupted run: 20 files, unique rows, the documented columns."""
    model, inbox, store = reference
    frames = _store_frames(store)
    assert len(frames) == N_DROPS
    allf = pd.concat(frames.values(), ignore_index=True)
    assert list(allf.columns[:6]) == ["run_id", "model_version", "kind", "series", "origin_time", "horizon"]
    assert {"target_time", "y", "z"} <= set(allf.columns)
    assert allf["run_id"].nunique() == N_DROPS
    assert not allf.duplicated(["run_id", "kind", "series", "origin_time", "horizon"]).any()
    # each origin of the stream forecast online exactly once, across all runs
    online = allf[allf["kind"] == "online"]
    assert not online.duplicated(["series", "origin_time", "horizon"]).any()
    assert len(online) == 2 * 140 * 2  # 2 series x 140 new rows x 2 horizons
    latest = allf[allf["kind"] == "latest"]
    assert len(latest) == N_DROPS * 2 * 2  # every run: 2 series x 2 horizons
    assert np.isfinite(allf[["y", "z"]].to_numpy()).all()
    # model versions chain: the 'latest' version of run k is the 'online' version of run k+1
    runs = sorted(allf["run_id"].unique())
    for a, b in zip(runs, runs[1:]):
        va = allf.loc[(allf.run_id == a) & (allf.kind == "latest"), "model_version"].unique()
        vb = allf.loc[(allf.run_id == b) & (allf.kind == "online"), "model_version"].unique()
        assert len(va) == 1 and list(va) == list(vb)
    state = json.loads((store / "_state" / "state.json").read_text())
    assert state["n_runs"] == N_DROPS and state["pending"] is None and len(state["consumed"]) == N_DROPS
    from tsgate.estimators.base import load

    assert load(model).n_online_updates_ > 0


def test_twenty_runs_with_sigkills_equal_uninterrupted(setup, reference):
    root, files = setup
    ref_model, _, ref_store = reference
    model, inbox, store = _fresh(root, "killed")
    rng = np.random.default_rng(20240611)
    steps = ["updated", "journal", "store-tmp", "store", "model", "committed"]
    # kills in runs 2..19 at odd positions, so the run after a kill is never killed itself
    runs = 2 * rng.choice(np.arange(1, N_DROPS // 2), size=len(steps) + 2, replace=False) - 1
    plan = {int(k): s for k, s in zip(runs, steps)}
    plan.update({int(k): "random" for k in runs[len(steps):]})
    kills = 0
    late_drop_case = next(k for k, s in plan.items() if s == "store")
    done_early = set()
    for k, f in enumerate(files, start=1):
        if k in done_early:
            continue
        shutil.copy(f, inbox)
        how = plan.get(k)
        if how is None:
            res = _run(model, inbox, store)
            assert len(res.runs) == 1
            continue
        if how == "random":
            p = _subprocess(model, inbox, store)
            # after "locked", imports take seconds; "learning" comes once the model is loaded,
            # then update, store, save and commit take a few hundred ms: kill somewhere in there
            lines = [p.stdout.readline() for _ in range(2)]
            assert "locked" in lines[0] and "learning" in lines[1], (lines, p.stderr.read())
            time.sleep(float(rng.uniform(0.0, 0.3)))
            p.send_signal(signal.SIGKILL)
            rc = p.wait(60)
            kills += rc == -signal.SIGKILL
        else:
            p = _subprocess(model, inbox, store, env_kill=how)
            out, err = p.communicate(timeout=120)
            assert p.returncode == -signal.SIGKILL, (how, out, err)
            kills += 1
        # consistency right after the kill: the model loads, the store files read
        from tsgate.estimators.base import load

        load(model)
        _store_frames(store)
        if k == late_drop_case:
            # the next drop lands before the re-run: the journaled run finishes on its own drops,
            # then the new drop makes its own run — the same run boundaries as the reference
            shutil.copy(files[k], inbox)
            done_early.add(k + 1)
            res = _run(model, inbox, store)
            assert len(res.recovered) == 1 and len(res.runs) == 2, res
        else:
            res = _run(model, inbox, store)
            # a run killed after its commit left nothing to do; any other kill: one run to finish
            assert len(res.runs) == (0 if how == "committed" else 1) or how == "random", (how, res)
        state = json.loads((store / "_state" / "state.json").read_text())
        assert state["n_runs"] == len(state["consumed"]) == len(list(inbox.iterdir()))
        assert state["pending"] is None
    assert kills >= len(steps)

    # the store: same files, same rows, identical values
    got, want = _store_frames(store), _store_frames(ref_store)
    assert list(got) == list(want)
    for name in want:
        pd.testing.assert_frame_equal(got[name], want[name], check_exact=True)
    # the model: identical weights, online state and history (same checksum), same forecasts
    mj = json.loads((model / "model.json").read_text())
    rj = json.loads((ref_model / "model.json").read_text())
    assert mj["files"] == rj["files"]
    assert mj["fitted"]["state"]["n_online_updates"] == rj["fitted"]["state"]["n_online_updates"]
    from tsgate.estimators.base import load

    a, b = load(model), load(ref_model)
    pd.testing.assert_frame_equal(a.predict(a.history_), b.predict(b.history_), check_exact=True)
    s1 = json.loads((store / "_state" / "state.json").read_text())
    s2 = json.loads((ref_store / "_state" / "state.json").read_text())
    assert s1["consumed"] == s2["consumed"] and s1["model_version"] == s2["model_version"]
    assert s1["pending"] is None and s1["n_runs"] == N_DROPS
    assert not list(store.glob(".*")) and not list(model.glob(".*"))


def test_rerun_adds_nothing_and_repeated_rows_are_skipped(setup, reference, tmp_path):
    root, files = setup
    model, inbox, store = reference
    # work on a copy so the reference stays intact for the other test
    m2, i2, s2 = tmp_path / "m", tmp_path / "i", tmp_path / "s"
    shutil.copytree(model, m2)
    shutil.copytree(inbox, i2)
    shutil.copytree(store, s2)
    before = _store_frames(s2)
    sha = sf._sha256(m2 / "model.json")
    res = _run(m2, i2, s2)
    assert res.status == "nothing-new" and res.runs == []
    assert sf._sha256(m2 / "model.json") == sha and list(_store_frames(s2)) == list(before)
    # the same rows again under a new file name: consumed, but every row is skipped
    shutil.copy(files[3], i2 / "drop-999-resent.csv")
    res = _run(m2, i2, s2)
    assert res.skipped_rows == 14 and res.rows == 0 and len(res.runs) == 1
    assert list(_store_frames(s2)) == list(before)
    assert sf._sha256(m2 / "model.json") == sha  # nothing learned twice, model untouched
    assert _run(m2, i2, s2).status == "nothing-new"


def test_second_run_exits_75_while_the_lock_is_held(setup, tmp_path):
    root, files = setup
    model, inbox, store = tmp_path / "m", tmp_path / "inbox", tmp_path / "store"
    shutil.copytree(root / "model0", model)
    inbox.mkdir()
    shutil.copy(files[0], inbox)
    (store / "_state").mkdir(parents=True)
    fd = os.open(store / "_state" / "lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, b"4242")
        t0 = time.perf_counter()
        p = _subprocess(model, inbox, store, extra=["--wait", "0.5"])
        out, err = p.communicate(timeout=60)
        assert p.returncode == 75, (out, err)
        assert "pid 4242" in err and "holds the lock" in err and err.count("\n") == 1
        assert time.perf_counter() - t0 >= 0.5
        with pytest.raises(sf.LockBusyError):
            _run(model, inbox, store)
    finally:
        os.close(fd)
    assert not list(store.glob("*.parquet"))
    res = _run(model, inbox, store)  # lock released: the run proceeds
    assert len(res.runs) == 1 and len(list(store.glob("*.parquet"))) == 1


def test_bad_drop_exits_2_and_consumes_nothing(setup, tmp_path, capsys):
    root, files = setup
    model, inbox, store = tmp_path / "m", tmp_path / "inbox", tmp_path / "store"
    shutil.copytree(root / "model0", model)
    inbox.mkdir()
    shutil.copy(files[0], inbox)
    text = files[1].read_text().splitlines()
    (inbox / "drop-002.csv").write_text("\n".join(text[:4]) + "\n" + text[4].split(",")[0] + ",s0,abc,1.0\n")
    argv = ["--model", str(model), "--inbox", str(inbox), "--store", str(store), "--id-col", "series", "-q"]
    assert sf.main(argv) == 2
    err = capsys.readouterr().err
    assert "drop-002.csv" in err and "'y'" in err and "row 5" in err and err.count("\n") == 1
    assert not list(store.glob("*.parquet"))
    assert not (store / "_state" / "state.json").exists()  # nothing journaled, nothing consumed
    (inbox / "drop-002.csv").unlink()
    assert sf.main(argv) == 0
    assert len(list(store.glob("*.parquet"))) == 1
