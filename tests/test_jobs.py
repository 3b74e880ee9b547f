"""The scheduled forecasting job (``tsgate.jobs``, ``tsgate job run``): lock, idempotency, crash safety.

The main test drives 20 runs over a replayed stream, SIGKILLing real ``tsgate job run``
subprocesses at named steps (env hook) and at random moments, and checks the final model and
store equal those of an uninterrupted run.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
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
from tsgate.fileio import sha256_file
from tsgate.jobs import KILL_ENV, LockBusyError, job_status, run_once

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "scheduled_forecast.py"
N_DROPS = 20


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A small fitted model (saved) and a stream of 20 drop files (CSV, a few parquet)."""
    from tsgate import GatedLSTMForecaster, IrregularSeries

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


def _job_in(folder: Path, root: Path, drops) -> tuple[Path, Path, Path]:
    """A copy of the fitted model, an inbox holding ``drops``, and the (not yet created) store."""
    model, inbox, store = folder / "m", folder / "inbox", folder / "store"
    shutil.copytree(root / "model0", model)
    inbox.mkdir()
    for f in drops:
        shutil.copy(f, inbox)
    return model, inbox, store


def _run(model, inbox, store, **kw):
    # one torch thread everywhere (in-process and subprocesses): fast for a tiny model on a
    # loaded machine, and the same arithmetic in every run
    return run_once(model, inbox, store, id_col="series", threads=1, **kw)


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


def _record(model: Path) -> dict:
    return json.loads((model / "model.json").read_text())["job"]


def _subprocess(model, inbox, store, env_kill: str | None = None, extra=(), script: bool = False) -> subprocess.Popen:
    """``tsgate job run`` as a real process (``script``: through the example script instead)."""
    env = dict(os.environ)
    env.pop(KILL_ENV, None)
    if env_kill:
        env[KILL_ENV] = env_kill
    cmd = [sys.executable, str(EXAMPLE)] if script else [sys.executable, "-m", "tsgate.cli", "job", "run"]
    cmd += ["--model", str(model), "--inbox", str(inbox), "--store", str(store), "--id-col", "series", "--threads", "1", *extra]
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
    # the model records what it has consumed: one commit per run, all 20 drops
    rec = _record(model)
    assert rec["seq"] == N_DROPS and rec["last_run"] == runs[-1] and len(rec["consumed"]) == N_DROPS
    assert rec["consumed"]["drop-007.csv"] == sha256_file(inbox / "drop-007.csv")
    assert rec["version"] == allf.loc[allf.run_id == runs[-1], "model_version"].iloc[-1]
    st = job_status(model, store, inbox)
    assert st.interrupted_run is None and st.waiting == [] and st.run_files == N_DROPS
    # each run file carries its journal: the drops it read and the versions it links
    import pyarrow.parquet as pq

    j = json.loads(pq.read_schema(store / f"{runs[3]}.parquet").metadata[b"tsgate.job"])
    assert j["run_id"] == runs[3] and j["seq"] == 4 and [d[0] for d in j["drops"]] == ["drop-004.csv"]
    from tsgate import load

    assert load(model).n_online_updates_ > 0


def test_twenty_runs_with_sigkills_equal_uninterrupted(setup, reference):
    root, files = setup
    ref_model, _, ref_store = reference
    model, inbox, store = _fresh(root, "killed")
    rng = np.random.default_rng(20240611)
    steps = ["updated", "store-tmp", "stored", "staged", "committed"]
    # kills in runs 1..17 at odd positions, so the run after a kill is never killed itself
    runs = 2 * rng.choice(np.arange(1, N_DROPS // 2), size=len(steps) + 3, replace=False) - 1
    plan = {int(k): s for k, s in zip(runs, steps)}
    plan.update({int(k): "random" for k in runs[len(steps):]})
    kills = 0
    late_drop_case = next(k for k, s in plan.items() if s == "stored")
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
            # then update, run file, save and commit take a few hundred ms: kill somewhere in there
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
        from tsgate import load

        load(model)
        _store_frames(store)
        if k == late_drop_case:
            # the next drop lands before the re-run: the interrupted run finishes on its own drops
            # (from its run file's journal), then the new drop makes its own run — the same run
            # boundaries as the reference
            assert job_status(model, store).interrupted_run is not None
            shutil.copy(files[k], inbox)
            done_early.add(k + 1)
            res = _run(model, inbox, store)
            assert len(res.recovered) == 1 and len(res.runs) == 2, res
        else:
            res = _run(model, inbox, store)
            # killed after its commit: nothing left to do; after its run file: that run is finished
            # from the journal; before: the run is simply done again
            if how != "random":
                want = {"updated": (1, 0), "store-tmp": (1, 0), "staged": (1, 1), "committed": (0, 0)}[how]
                assert (len(res.runs), len(res.recovered)) == want, (how, res)
        rec = _record(model)
        assert rec["seq"] == len(rec["consumed"]) == len(list(inbox.iterdir()))
        assert job_status(model, store).interrupted_run is None
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
    assert mj["job"] == rj["job"]  # same drops consumed, same version, same last run
    from tsgate import load

    a, b = load(model), load(ref_model)
    pd.testing.assert_frame_equal(a.predict(a.history_), b.predict(b.history_), check_exact=True)
    assert not list(store.glob(".*")) and not list(model.glob(".*")) and len(list(model.glob("data-*"))) == 1
    assert not list((store / "_state").glob(".*"))


def test_rerun_adds_nothing_and_repeated_rows_are_skipped(setup, reference, tmp_path):
    root, files = setup
    model, inbox, store = reference
    # work on a copy so the reference stays intact for the other test
    m2, i2, s2 = tmp_path / "m", tmp_path / "i", tmp_path / "s"
    shutil.copytree(model, m2)
    shutil.copytree(inbox, i2)
    shutil.copytree(store, s2)
    before = _store_frames(s2)
    manifest = (m2 / "model.json").read_bytes()
    res = _run(m2, i2, s2)
    assert res.status == "nothing-new" and res.runs == []
    assert (m2 / "model.json").read_bytes() == manifest and list(_store_frames(s2)) == list(before)
    # the same rows again under a new file name: consumed, but every row is skipped
    desc = json.loads(manifest)
    shutil.copy(files[3], i2 / "drop-999-resent.csv")
    res = _run(m2, i2, s2)
    assert res.skipped_rows == 14 and res.rows == 0 and len(res.runs) == 1
    assert list(_store_frames(s2)) == list(before)  # no forecasts, so no run file
    after = json.loads((m2 / "model.json").read_text())
    # nothing learned twice: the same weights and online state; only the record moved on
    assert after["files"] == desc["files"] and after["fitted"] == desc["fitted"]
    assert "drop-999-resent.csv" in after["job"]["consumed"] and after["job"]["seq"] == N_DROPS + 1
    assert _run(m2, i2, s2).status == "nothing-new"
    # a consumed drop that changes afterwards is reported and ignored
    with open(i2 / "drop-001.csv", "a") as f:
        f.write("\n")
    lines = []
    assert _run(m2, i2, s2, log=lines.append).status == "nothing-new"
    assert any("drop-001.csv changed after it was consumed" in ln for ln in lines), lines
    assert job_status(m2, s2, i2).changed == ["drop-001.csv"]


def test_second_run_exits_75_while_the_lock_is_held(setup, tmp_path):
    root, files = setup
    model, inbox, store = _job_in(tmp_path, root, files[:1])
    (store / "_state").mkdir(parents=True)
    fd = os.open(store / "_state" / "lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, b"4242")
        t0 = time.perf_counter()
        # through the example script: a thin wrapper of `tsgate job run`, same options and codes
        p = _subprocess(model, inbox, store, extra=["--wait", "0.5"], script=True)
        out, err = p.communicate(timeout=60)
        assert p.returncode == 75, (out, err)
        assert "pid 4242" in err and "holds the lock" in err and err.count("\n") == 1
        assert err.startswith("tsgate: error: ")
        assert time.perf_counter() - t0 >= 0.5
        with pytest.raises(LockBusyError):
            _run(model, inbox, store)
    finally:
        os.close(fd)
    assert not list(store.glob("*.parquet"))
    res = _run(model, inbox, store)  # lock released: the run proceeds
    assert len(res.runs) == 1 and len(list(store.glob("*.parquet"))) == 1


def _tsgate(*args: str):
    """The ``tsgate`` command in this process (Typer's CliRunner)."""
    from typer.testing import CliRunner

    from tsgate.cli.app import app

    return CliRunner().invoke(app, list(args))


def test_bad_drops_are_quarantined_and_the_good_ones_processed(setup, tmp_path):
    """A bad drop no longer stops the job for good: it moves to INBOX/quarantine with a .reason
    file, the good drops are learned, and the run exits 3 ("done, with rejected input")."""
    root, files = setup
    model, inbox, store = _job_in(tmp_path, root, files[:1])
    text = files[1].read_text().splitlines()
    (inbox / "drop-002.csv").write_text("\n".join(text[:4]) + "\n" + text[4].split(",")[0] + ",s0,abc,1.0\n")
    shutil.copy(files[2], inbox)
    argv = ["run", "--model", str(model), "--inbox", str(inbox), "--store", str(store), "--id-col", "series", "-q"]
    res = _tsgate("job", *argv)
    assert res.exit_code == 3, res.output
    assert res.stderr.count("\n") == 1 and "rejected 1 drop(s)" in res.stderr and "drop-002.csv" in res.stderr
    q = inbox / "quarantine"
    assert sorted(x.name for x in q.iterdir()) == ["drop-002.csv", "drop-002.csv.reason"]
    reason = (q / "drop-002.csv.reason").read_text()
    assert "drop-002.csv" in reason and "'y'" in reason and "row 5" in reason and "abc" in reason
    assert sorted(x.name for x in inbox.iterdir() if x.is_file()) == [files[0].name, files[2].name]
    assert len(list(store.glob("*.parquet"))) == 1
    assert sorted(_record(model)["consumed"]) == [files[0].name, files[2].name]
    res = _tsgate("job", *argv)  # the quarantined file is out of the way: nothing new, exit 0
    assert res.exit_code == 0 and res.stdout == "" and res.stderr == "", res.output
    res = _tsgate("job", "status", "--model", str(model), "--store", str(store), "--inbox", str(inbox))
    assert res.exit_code == 0, res.output
    assert "drops consumed: 2" in res.stdout and "drops waiting: 0" in res.stdout
    assert "interrupted run: (none)" in res.stdout and "last run: run-000001-" in res.stdout
    info = _tsgate("info", str(model)).stdout
    assert "scheduled job: version" in info and "2 drop(s) consumed" in info
    # a missing model or inbox: exit 2, one line naming the option
    res = _tsgate("job", "run", "--model", str(tmp_path / "nope"), "--inbox", str(inbox), "--store", str(store))
    assert res.exit_code == 2 and "--model" in res.stderr and "nope" in res.stderr and res.stderr.count("\n") == 1


def test_a_drop_that_fails_only_when_learned_is_found_and_quarantined(setup, tmp_path):
    """Readable drops the model cannot learn: a row another drop of the same run already holds,
    and values beyond the network's range. Each is found (by bisection over the run's drops),
    set aside with its reason, and the rest is learned exactly as without them."""
    root, files = setup
    model, inbox, store = _job_in(tmp_path, root, files[:4])
    dup = pd.read_csv(files[1]).iloc[:3]
    dup.to_csv(inbox / "drop-002b.csv", index=False)  # rows drop-002 holds too: same series, same times
    huge = pd.read_parquet(files[4])  # drop-005 is a parquet file
    huge["y"] *= 1e25
    huge.to_csv(inbox / "drop-005.csv", index=False)
    q = tmp_path / "rejects"
    res = _run(model, inbox, store, quarantine_dir=q)
    assert sorted(res.rejected) == ["drop-002b.csv", "drop-005.csv"] and len(res.runs) == 1
    assert "already in the data" in (q / "drop-002b.csv.reason").read_text()
    why = (q / "drop-005.csv.reason").read_text()
    assert "column 'y'" in why and re.search(r"reach \d\.\d+e\+2[45] in magnitude", why), why
    # the same model as a clean run over the good drops
    clean_model, clean_inbox, clean_store = _job_in(tmp_path / "clean", root, files[:4])
    _run(clean_model, clean_inbox, clean_store)
    from tsgate import load

    np.testing.assert_array_equal(
        load(model).predict(load(model).history_)["y"], load(clean_model).predict(load(clean_model).history_)["y"]
    )


def test_the_job_waits_for_another_writer_of_the_model(setup, tmp_path):
    """`tsgate update` (or any writer) holds the model's lock: the job exits 75 and leaves all as it was."""
    root, files = setup
    model, inbox, store = _job_in(tmp_path, root, files[:1])
    code = (
        "import time\nfrom tsgate import model_lock\n"
        f"with model_lock({str(model)!r}, wait_s=0):\n    print('held', flush=True)\n    time.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        res = _tsgate("job", "run", "--model", str(model), "--inbox", str(inbox), "--store", str(store),
                      "--id-col", "series", "--wait", "0.3", "-q")
        assert res.exit_code == 75 and f"pid {holder.pid}" in res.stderr and res.stderr.count("\n") == 1
        assert not store.exists() or not list(store.glob("*.parquet"))
    finally:
        holder.kill()
        holder.wait()
    assert len(_run(model, inbox, store).runs) == 1


def test_interrupted_run_needs_its_own_drops(setup, tmp_path):
    """A run killed after its run file finishes only on the very drops it journaled."""
    root, files = setup
    model, inbox, store = _job_in(tmp_path, root, files[:1])
    p = _subprocess(model, inbox, store, env_kill="stored")
    out, err = p.communicate(timeout=120)
    assert p.returncode == -signal.SIGKILL, (out, err)
    pending = job_status(model, store).interrupted_run
    assert pending is not None and (store / f"{pending}.parquet").is_file()
    (inbox / files[0].name).write_text(files[1].read_text())  # same name, other rows
    res = _tsgate("job", "run", "--model", str(model), "--inbox", str(inbox), "--store", str(store), "--id-col", "series")
    assert res.exit_code == 2 and files[0].name in res.stderr and "interrupted run" in res.stderr, res.output
    shutil.copy(files[0], inbox)  # restored: the run finishes
    res = _run(model, inbox, store)
    assert res.recovered == [pending] and res.runs == [pending]
    assert job_status(model, store).interrupted_run is None


def test_replaced_model_starts_a_new_lineage(setup, tmp_path):
    """A model without a job record (refitted, or saved by `tsgate update`) learns every drop it
    has not seen, skipping rows at or before its last time; run numbers keep growing."""
    root, files = setup
    model, inbox, store = _job_in(tmp_path, root, files[:2])
    assert len(_run(model, inbox, store).runs) == 1
    first = _record(model)
    from tsgate import load

    shutil.rmtree(model)
    load(root / "model0").save(model)  # the operator saves a (here: the same) fitted model there
    res = _run(model, inbox, store)
    assert len(res.runs) == 1 and res.runs[0].startswith("run-000002-") and res.skipped_rows == 0
    rec = _record(model)
    assert rec["lineage"] != first["lineage"] and rec["consumed"] == first["consumed"]
    frames = _store_frames(store)
    a, b = (frames[f"{r}.parquet"] for r in (first["last_run"], rec["last_run"]))
    # the same model state learned the same rows: the same forecasts, told apart by run and version
    cols = ["kind", "series", "origin_time", "horizon", "y", "z"]
    pd.testing.assert_frame_equal(a[cols], b[cols], check_exact=True)
    assert set(a["model_version"]).isdisjoint(b["model_version"])
