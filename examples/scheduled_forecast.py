"""Scheduled forecasting job: learn online from new data drops, forecast, append to a store.

Run it from cron or a systemd timer. Each run:

1. takes an exclusive lock (``fcntl.flock`` on ``STATE/lock``), so two runs never overlap;
2. reads the drop files that arrived in ``--inbox`` since the last run (``*.csv`` and
   ``*.parquet``, in file-name order; names starting with ``.`` or ending in ``.tmp``/``.part``
   are ignored, so producers should write ``.name`` and rename it when complete);
3. updates the saved model online with those observations (``est.update``: prequential,
   forecasting from every new observation before learning what it reveals);
4. forecasts every horizon from the last observation of each series with the updated model;
5. appends both sets of forecasts to an append-only parquet dataset in ``--store``: one file
   per run, ``<run_id>.parquet``, with the columns ``run_id``, ``model_version``, ``kind``
   (``online`` = made during the update, ``latest`` = from the last observation after it),
   ``series`` (as text, one parquet type across runs), ``origin_time``, ``horizon``,
   ``target_time`` and one column per target.
   ``pandas.read_parquet(STORE)`` reads the whole store (it skips ``_state`` and dot files).

Usage::

    python examples/scheduled_forecast.py --model m1 --inbox inbox/ --store forecasts/ \\
        [--state forecasts/_state] [--time-col time] [--id-col series] [--target z1]... \\
        [--wait 0] [--threads N] [--quiet]

Crontab line (every 5 minutes; a run that finds the lock taken exits 75 at once)::

    */5 * * * * /opt/tsgate/.venv/bin/python /opt/tsgate/examples/scheduled_forecast.py --model /srv/tsgate/model --inbox /srv/tsgate/inbox --store /srv/tsgate/forecasts --quiet >> /var/log/tsgate-forecast.log 2>&1

systemd: ``examples/tsgate-forecast.service`` and ``examples/tsgate-forecast.timer`` beside
this file (``systemctl enable --now tsgate-forecast.timer``).

Exit codes: 0 done (or nothing new), 2 bad input (a drop file that cannot be read or does not
match the model: one line naming the file, column and row; nothing is consumed, fix or remove
the file), 75 another run holds the lock (with ``--wait S``: still held after S seconds),
1 anything else.

Idempotency
-----------
``STATE/state.json`` lists every consumed drop (name and sha256). A drop is read once; running
again over the same inbox adds nothing. A drop that changes after it was consumed is reported
and ignored (give new data a new file name). Rows at or before the last time the model has seen
for their series (late or repeated rows) are skipped and counted, never learned twice.

Crash safety (a run killed at any instant, SIGKILL included)
------------------------------------------------------------
There are three durable things: the store file of a run, the model directory, and
``state.json``. Each is replaced atomically (temp file + fsync + ``os.replace``; the model by
``tsgate.estimators.persistence``), and a run changes them in this order:

a. compute everything in memory (read drops, ``update``, forecasts);
b. **journal**: write ``state.json`` with ``pending`` = the run id, its drop files and
   checksums, the sha256 of ``model.json`` before the run, and the store file name;
c. write the store file ``<run_id>.parquet`` (skipped if it already exists);
d. save the model (atomic);
e. **commit**: write ``state.json`` with the drops marked consumed and ``pending`` cleared.

A run that finds a ``pending`` journal finishes it before anything else. If ``model.json``
still has the journaled checksum, step d did not happen: it re-reads exactly the journaled
drops (not newer ones), redoes the update from the unchanged model, writes the store file only
if c did not, saves and commits. Updating is deterministic (CPU, fixed seed), so the redone
run produces the very same forecasts and model as an uninterrupted one. If ``model.json``
changed, d happened (only this job writes the model while it holds the lock), and c happened
before it: the run only commits. A kill before b leaves no trace; leftover temp files are
removed under the lock. Hence store and model never disagree: the store holds a run's file if
and only if the model has learned (or is about to learn, on recovery) that run's drops, and
each run appears once under one deterministic run id.

Do not update the model with other tools while this job is scheduled (or take the lock
yourself: ``flock STATE/lock tsgate update ...``). If the model is replaced (e.g. refitted),
the next run notices the new ``model.json`` and starts a new model-version lineage.

``model_version`` names the model state: ``<sha12 of the fitted model.json>`` for the model as
found, then after each run the sha256 of the previous version and the run's drops (12 hex).
Rows of kind ``online`` were made while the model learned from this run's drops, starting
from the previous version; rows of kind ``latest`` by this version.

For tests, ``TSGATE_SCHEDULED_KILL_AT=<step>`` makes the process SIGKILL itself at a step:
``locked``, ``updated``, ``journal``, ``store-tmp``, ``store``, ``model``, ``committed``.
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import hashlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_ERROR, EXIT_BAD_INPUT, EXIT_LOCKED = 0, 1, 2, 75
STATE_FILE = "state.json"
LOCK_FILE = "lock"
DROP_SUFFIXES = (".csv", ".parquet")
KILL_ENV = "TSGATE_SCHEDULED_KILL_AT"

__all__ = ["run_once", "RunResult", "LockBusyError", "main"]


class LockBusyError(RuntimeError):
    """Another run holds the lock."""


@dataclass
class RunResult:
    """What one invocation did."""

    status: str  # "done", "nothing-new"
    runs: list[str] = field(default_factory=list)  # run ids committed by this invocation
    recovered: list[str] = field(default_factory=list)  # run ids of interrupted runs finished here
    rows: int = 0  # forecast rows appended to the store
    skipped_rows: int = 0  # rows already seen by the model (late or repeated)


# ---------------------------------------------------------------- small durable-file helpers
def _step(name: str) -> None:
    """Test hook: die by SIGKILL at a named step (see the module docstring)."""
    if os.environ.get(KILL_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Write ``path`` via a dot-temp file in the same folder, fsync, rename, fsync the folder."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _load_state(state_dir: Path) -> dict[str, Any]:
    p = state_dir / STATE_FILE
    if not p.exists():
        return {"consumed": {}, "n_runs": 0, "model_sha": None, "model_version": None, "pending": None, "last_run": None}
    return json.loads(p.read_text(encoding="utf-8"))


def _save_state(state_dir: Path, state: dict[str, Any]) -> None:
    text = json.dumps(state, indent=1, sort_keys=True)
    _write_atomic(state_dir / STATE_FILE, lambda t: t.write_text(text, encoding="utf-8"))


def _remove_leftovers(*folders: Path) -> None:
    """Temp files of killed runs (dot files ending .tmp); called under the lock."""
    for folder in folders:
        for p in folder.glob(".*.tmp"):
            p.unlink(missing_ok=True)


class _Lock:
    """Exclusive ``flock`` on ``STATE/lock``; released when the process exits, even by SIGKILL."""

    def __init__(self, path: Path, wait_s: float) -> None:
        self.path, self.wait_s, self.fd = path, wait_s, -1

    def __enter__(self) -> _Lock:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + max(0.0, self.wait_s)
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
                if time.monotonic() >= deadline:
                    holder = os.pread(self.fd, 32, 0).decode(errors="replace").strip() or "?"
                    os.close(self.fd)
                    raise LockBusyError(
                        f"another run (pid {holder}) holds the lock {self.path}"
                        + (f" after waiting {self.wait_s:g} s" if self.wait_s > 0 else "")
                        + "; this run exits without doing anything."
                    ) from None
                time.sleep(0.2)
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, str(os.getpid()).encode(), 0)
        return self

    def __exit__(self, *exc: Any) -> None:
        os.close(self.fd)  # closing the descriptor releases the flock


# ---------------------------------------------------------------- the job
def _list_drops(inbox: Path) -> list[Path]:
    return sorted(
        p
        for p in inbox.iterdir()
        if p.is_file() and p.suffix.lower() in DROP_SUFFIXES and not p.name.startswith(".")
    )


def _read_drops(drops: Sequence[Path], est: Any, time_col: str, id_col: str | None, targets: Sequence[str] | None) -> Any:
    """The drops as one IrregularSeries (each file validated on its own, so errors name it)."""
    from tsgate import IrregularSeries

    combined = None
    for p in drops:
        s = IrregularSeries.read(
            p,
            time_col=time_col,
            target_cols=list(targets or est.targets_),
            id_col=id_col,
            covariate_cols=list(est.covariates_),
            static_cols=list(est.static_),
        )
        combined = s if combined is None else combined.append(s)
    return combined


def _drop_seen(new: Any, est: Any) -> tuple[Any, int]:
    """Remove rows at or before the model's last time of their series; returns (rest, n removed)."""
    import numpy as np

    from tsgate import IrregularSeries
    from tsgate.data.columns import ID

    last = getattr(est, "last_time_", {}) or {}
    f = new.frame
    limit = f[ID].map(lambda s: last.get(s, -np.inf)).to_numpy(dtype=np.float64)
    keep = new.time_seconds() > limit
    if keep.all():
        return new, 0
    if not keep.any():
        return None, int(len(f))
    rest = IrregularSeries.from_frame(
        new.to_frame()[keep],
        time_col="time",
        id_col="series",
        target_cols=list(new.targets),
        covariate_cols=list(new.covariates),
        static_cols=list(new.static),
        segment_col="segment",
        source=new.source,
    )
    return rest, int((~keep).sum())


def _compute(
    model: Path, drops: Sequence[Path], run_id: str, version_before: str, version_after: str, opts: dict[str, Any], log: Callable[[str], None]
) -> tuple[Any, Any, int]:
    """Load the model, learn the drops, forecast. Returns (estimator or None, forecasts frame, skipped rows)."""
    import pandas as pd

    from tsgate import load

    est = load(model)
    log(f"{run_id}: learning from {len(drops)} drop(s)")
    new = _read_drops(drops, est, opts["time_col"], opts["id_col"], opts["targets"])
    new, skipped = _drop_seen(new, est)
    if skipped:
        log(f"{run_id}: skipped {skipped} row(s) at or before the model's last time (late or repeated)")
    if new is None:
        return None, None, skipped
    online = est.update(new)
    latest = est.predict(est.history_, origins="last")
    parts = []
    for kind, fc, version in (("online", online, version_before), ("latest", latest, version_after)):
        fc = fc.copy()
        fc.insert(0, "kind", kind)
        fc.insert(0, "model_version", version)
        fc.insert(0, "run_id", run_id)
        parts.append(fc)
    frame = pd.concat(parts, ignore_index=True)
    frame["series"] = frame["series"].astype(str)  # one parquet type across runs and series
    return est, frame, skipped


def _write_store_file(path: Path, frame: Any, log: Callable[[str], None]) -> None:
    def write(tmp: Path) -> None:
        frame.to_parquet(tmp, index=False)
        _step("store-tmp")

    _write_atomic(path, write)


def _version(prev: str, drops: Sequence[Sequence[str]]) -> str:
    h = hashlib.sha256(prev.encode())
    for name, sha in drops:
        h.update(f"\n{name}\t{sha}".encode())
    return h.hexdigest()[:12]


def _finish(
    state_dir: Path,
    state: dict[str, Any],
    model: Path,
    store: Path,
    opts: dict[str, Any],
    log: Callable[[str], None],
    result: RunResult,
    *,
    recovering: bool,
) -> None:
    """Commit the journaled run in ``state['pending']``; when recovering, first redo what is missing."""
    p = state["pending"]
    run_id = p["run_id"]
    store_file = store / p["store_file"] if p["store_file"] else None
    model_sha = _sha256(model / "model.json")
    if recovering and model_sha == p["model_sha_before"]:
        # the model was not saved yet: redo the update from the very same model and drops
        inbox = Path(p["inbox"])
        drops = []
        for name, sha in p["drops"]:
            f = inbox / name
            if not f.is_file() or _sha256(f) != sha:
                raise _BadInput(
                    f"{f}: drop file of interrupted run {run_id} is missing or changed since the run "
                    "started; restore it (the run needs exactly the same data to finish)."
                )
            drops.append(f)
        est, frame, _ = _compute(model, drops, run_id, p["version_before"], p["version_after"], opts, log)
        if store_file is not None and not store_file.exists():
            _write_store_file(store_file, frame, log)
        _step("store")
        if est is not None:
            est.save(model)
        _step("model")
        model_sha = _sha256(model / "model.json")
    elif recovering and store_file is not None and not store_file.exists():
        raise RuntimeError(
            f"{model} changed but the store file {store_file} of run {run_id} is missing: the model "
            "was modified by another tool during a run. Check the model, then delete 'pending' from "
            f"{state_dir / STATE_FILE}."
        )
    state = dict(state)
    consumed = dict(state["consumed"])
    consumed.update({name: sha for name, sha in p["drops"]})
    state.update(
        consumed=consumed,
        n_runs=int(state["n_runs"]) + 1,
        model_sha=model_sha,
        model_version=p["version_after"],
        pending=None,
        last_run={"run_id": run_id, "rows": p["rows"], "drops": len(p["drops"])},
    )
    _save_state(state_dir, state)
    _step("committed")
    result.runs.append(run_id)
    result.rows += int(p["rows"])
    log(f"{run_id}: {len(p['drops'])} drop(s), {p['rows']} forecast row(s) -> {store_file or '(none)'}; model version {p['version_after']}")


class _BadInput(Exception):
    """Bad input data: exit 2."""


def run_once(
    model: str | Path,
    inbox: str | Path,
    store: str | Path,
    state: str | Path | None = None,
    *,
    time_col: str = "time",
    id_col: str | None = None,
    targets: Sequence[str] | None = None,
    wait_s: float = 0.0,
    threads: int | None = None,
    log: Callable[[str], None] | None = None,
) -> RunResult:
    """One scheduled run: finish an interrupted run if any, then learn and forecast the new drops.

    Parameters
    ----------
    model
        Model directory written by ``tsgate fit`` / ``save``; updated in place atomically.
    inbox
        Folder of drop files (CSV or parquet, long format like the training file).
    store
        Folder of the append-only parquet dataset (created).
    state
        Folder of the lock and ``state.json`` (default ``STORE/_state``).
    time_col, id_col, targets
        Columns of the drop files (targets default to the model's).
    wait_s
        Seconds to wait for the lock before raising :class:`LockBusyError` (0: do not wait).
    threads
        torch CPU threads for this process (``torch.set_num_threads``; default: torch's
        choice). 1 is fastest for small models on a shared machine. Results do not depend on it
        only if every run uses the same value.

    Raises
    ------
    LockBusyError
        Another run holds the lock.
    """
    log = log or (lambda msg: None)
    model, inbox, store = Path(model), Path(inbox), Path(store)
    state_dir = Path(state) if state is not None else store / "_state"
    if not (model / "model.json").is_file():
        raise _BadInput(f"--model {model}: no model.json there; fit a model first (tsgate fit ... --model {model}).")
    if not inbox.is_dir():
        raise _BadInput(f"--inbox {inbox}: not a folder.")
    store.mkdir(parents=True, exist_ok=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    opts = {"time_col": time_col, "id_col": id_col, "targets": list(targets) if targets else None}
    result = RunResult(status="nothing-new")
    with _Lock(state_dir / LOCK_FILE, wait_s):
        log(f"locked (pid {os.getpid()})")
        _step("locked")
        if threads:
            import torch

            torch.set_num_threads(int(threads))
        _remove_leftovers(store, state_dir)
        st = _load_state(state_dir)
        if st["pending"] is not None:
            log(f"{st['pending']['run_id']}: finishing the interrupted run")
            result.recovered.append(st["pending"]["run_id"])
            _finish(state_dir, st, model, store, opts, log, result, recovering=True)
            st = _load_state(state_dir)
        drops = []
        for p in _list_drops(inbox):
            seen = st["consumed"].get(p.name)
            if seen is None:
                drops.append(p)
            elif _sha256(p) != seen:
                log(f"warning: {p} changed after it was consumed; ignored (give new data a new file name)")
        if not drops:
            if not result.runs:
                log("nothing new")
            result.status = "done" if result.runs else "nothing-new"
            return result
        model_sha = _sha256(model / "model.json")
        if st["model_sha"] != model_sha:
            if st["model_sha"] is not None:
                log(f"{model} was replaced since the last run; starting a new model-version lineage")
            version_before = model_sha[:12]
        else:
            version_before = st["model_version"]
        drop_ids = [[p.name, _sha256(p)] for p in drops]
        version_after = _version(version_before, drop_ids)
        run_id = f"run-{int(st['n_runs']) + 1:06d}-{version_after[:8]}"
        est, frame, skipped = _compute(model, drops, run_id, version_before, version_after, opts, log)
        result.skipped_rows += skipped
        _step("updated")
        has_rows = frame is not None and len(frame) > 0
        st["pending"] = {
            "run_id": run_id,
            "inbox": str(inbox.resolve()),
            "drops": drop_ids,
            "model_sha_before": model_sha,
            "version_before": version_before,
            "version_after": version_after,
            "store_file": f"{run_id}.parquet" if has_rows else None,
            "rows": int(len(frame)) if has_rows else 0,
        }
        _save_state(state_dir, st)
        _step("journal")
        if has_rows:
            _write_store_file(store / f"{run_id}.parquet", frame, log)
        _step("store")
        if est is not None:
            est.save(model)
        _step("model")
        _finish(state_dir, st, model, store, opts, log, result, recovering=False)
    result.status = "done"
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    ap = argparse.ArgumentParser(
        description="Learn online from new data drops, forecast, append forecasts to a parquet store (cron-safe).",
        epilog="Exit codes: 0 done or nothing new, 2 bad input, 75 lock held by another run, 1 other errors.",
    )
    ap.add_argument("--model", required=True, help="model directory (tsgate fit --model DIR)")
    ap.add_argument("--inbox", required=True, help="folder where CSV/parquet drop files arrive")
    ap.add_argument("--store", required=True, help="folder of the append-only parquet forecast store")
    ap.add_argument("--state", default=None, help="lock and state folder (default STORE/_state)")
    ap.add_argument("--time-col", default="time", help="time column of the drops (default 'time')")
    ap.add_argument("--id-col", default=None, help="series id column of the drops (default: one series)")
    ap.add_argument("--target", action="append", default=None, help="target column (repeat; default: the model's)")
    ap.add_argument("--wait", type=float, default=0.0, metavar="S", help="wait up to S seconds for the lock (default: exit 75 at once)")
    ap.add_argument("--threads", type=int, default=None, metavar="N", help="torch CPU threads (default: torch's choice; 1 suits small models)")
    ap.add_argument("--quiet", "-q", action="store_true", help="print errors only")
    args = ap.parse_args(argv)

    def log(msg: str) -> None:
        if not args.quiet:
            print(f"scheduled_forecast: {msg}", flush=True)

    try:
        if args.quiet:
            import warnings

            warnings.filterwarnings("ignore")
        run_once(
            args.model,
            args.inbox,
            args.store,
            args.state,
            time_col=args.time_col,
            id_col=args.id_col,
            targets=args.target,
            wait_s=args.wait,
            threads=args.threads,
            log=log,
        )
    except LockBusyError as exc:
        sys.stderr.write(f"scheduled_forecast: {exc}\n")
        return EXIT_LOCKED
    except _BadInput as exc:
        sys.stderr.write(f"scheduled_forecast: error: {exc}\n")
        return EXIT_BAD_INPUT
    except Exception as exc:
        from tsgate.exceptions import TsgateError

        if isinstance(exc, TsgateError):
            sys.stderr.write(f"scheduled_forecast: error: {exc} Nothing was consumed; fix or remove the file.\n")
            return EXIT_BAD_INPUT
        import traceback

        traceback.print_exc()
        return EXIT_ERROR
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
