"""One scheduled run: learn the new drops online, forecast, write the run file, commit the model.

A run, under the lock (``STATE/lock``):

1. removes what killed runs left behind (temporary files, scratch folders);
2. finishes an interrupted run, if the store's newest run file was made from the model's
   current version (its model commit never happened): it redoes that run from the run file's
   journal, with exactly the drops it names;
3. lists the drops the model has not consumed, loads the model, skips rows at or before the
   last time the model has seen of their series, updates it (prequential: a forecast from
   every new observation, then learning what it reveals) and forecasts every horizon from the
   last observation of each series;
4. writes the run file ``STORE/run-<seq>-<version>.parquet`` (forecasts plus journal),
   atomically; a run whose rows were all skipped writes none;
5. saves the model with the consumed drops recorded in ``model.json``: one atomic
   ``os.replace``, the commit.

Updating is deterministic (CPU, fixed seed, same thread count), so a run redone in step 2
writes the very same run file and model as the uninterrupted run would have. A kill before
step 4 leaves nothing; between 4 and 5 a run file that step 2 of the next run completes; after
5 a finished run. The store and the model therefore never disagree for long: every run file
is one the model has learned, or is about to learn at the start of the next run.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tsgate.estimators.persistence import model_lock, read_model_dir
from tsgate.exceptions import ConfigError, DataError
from tsgate.fileio import remove_temp_files, sha256_file
from tsgate.jobs.drops import list_drops, read_drops, without_seen_rows
from tsgate.jobs.lock import JobLock
from tsgate.jobs.quarantine import QUARANTINE_DIR, REJECTED, first_failing, quarantine, unreadable
from tsgate.jobs.record import JobRecord, commit, next_version, read_record, remove_staging
from tsgate.jobs.store import highest_seq, newest_run_file, read_journal, run_id, write_run_file

__all__ = ["RunResult", "run_once", "KILL_ENV", "LOCK_FILE", "STEPS"]

LOCK_FILE = "lock"
# Crash tests set this to a step name; the process then SIGKILLs itself at that step.
KILL_ENV = "TSGATE_JOB_KILL_AT"
STEPS = ("locked", "updated", "store-tmp", "stored", "staged", "committed")


@dataclass
class RunResult:
    """What one invocation did."""

    status: str  # "done" or "nothing-new"
    runs: list[str] = field(default_factory=list)  # run ids committed by this invocation
    recovered: list[str] = field(default_factory=list)  # interrupted runs finished here
    rows: int = 0  # forecast rows written to the store
    skipped_rows: int = 0  # rows the model had already seen (late or repeated)
    rejected: list[str] = field(default_factory=list)  # drops moved to the quarantine folder


@dataclass(frozen=True)
class _Plan:
    seq: int
    run_id: str
    drops: tuple[Path, ...]
    drop_ids: tuple[tuple[str, str], ...]  # (file name, sha256)
    version_before: str
    version_after: str


@dataclass(frozen=True)
class _Options:
    time_col: str | None
    id_col: str | None
    targets: tuple[str, ...] | None

    def columns(self, schema: dict[str, Any] | None) -> tuple[str, str | None]:
        """The drop files' time and id columns: as given, else the model's table schema, else ``time``."""
        schema = schema or {}
        table = schema if schema.get("adapter", "table") == "table" else {}
        time_col = self.time_col or table.get("time_col") or "time"
        return time_col, self.id_col if self.id_col is not None else table.get("id_col")


class _Unlearnable(Exception):
    """The drops of a plan cannot be learned (a REJECTED error, before anything was written)."""


def _step(name: str) -> None:
    if os.environ.get(KILL_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def run_once(
    model: str | Path,
    inbox: str | Path,
    store: str | Path,
    state: str | Path | None = None,
    *,
    time_col: str | None = None,
    id_col: str | None = None,
    targets: Sequence[str] | None = None,
    wait_s: float = 0.0,
    threads: int | None = None,
    log: Callable[[str], None] | None = None,
    quarantine_dir: str | Path | None = None,
) -> RunResult:
    """Finish an interrupted run if there is one, then learn and forecast the new drops.

    Parameters
    ----------
    model
        Model directory written by ``tsgate fit`` or ``save``; replaced atomically by each run.
    inbox
        Folder where drop files arrive (CSV or parquet, long format like the training data).
    store
        Folder of the forecast store (created).
    state
        Folder of the lock file and scratch space (default ``STORE/_state``).
    time_col, id_col, targets
        Columns of the drop files; by default the model's (its data schema records the time and
        id columns of a table file; ``time`` and no id column for older model files).
    wait_s
        Seconds to wait for the job's lock, and then for the model's (another writer of the
        model, e.g. ``tsgate update``), before raising ``LockBusyError`` (0: do not wait).
    threads
        torch CPU threads for this process. Results are reproducible only if every run of a
        model uses the same value; 1 suits small models.
    quarantine_dir
        Where bad drops go, each with a ``<name>.reason`` file (default ``INBOX/quarantine``);
        the good drops are processed and ``RunResult.rejected`` names the bad ones.

    Raises
    ------
    LockBusyError
        Another run holds the job's lock, or another writer the model's.
    DataError
        A drop of an interrupted run is missing, changed or cannot be learned; nothing was consumed.
    """
    log = log or (lambda msg: None)
    model, inbox, store = Path(model), Path(inbox), Path(store)
    state_dir = Path(state) if state is not None else store / "_state"
    if not (model / "model.json").is_file():
        raise ConfigError(f"--model {model}: no model.json there; fit a model first (tsgate fit DATA --model {model}).")
    if not inbox.is_dir():
        raise ConfigError(f"--inbox {inbox}: not a folder; create it or point --inbox at the drop folder.")
    if threads is not None and int(threads) < 1:
        raise ConfigError(f"--threads must be at least 1, got {threads}.")
    opts = _Options(time_col, id_col, tuple(targets) if targets else None)
    store.mkdir(parents=True, exist_ok=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    qdir = Path(quarantine_dir) if quarantine_dir is not None else inbox / QUARANTINE_DIR
    result = RunResult(status="nothing-new")
    # the job's lock orders runs; the model's lock keeps other writers out from load to commit
    with JobLock(state_dir / LOCK_FILE, wait_s), model_lock(model, wait_s):
        log(f"locked (pid {os.getpid()})")
        _step("locked")
        if threads:
            import torch

            torch.set_num_threads(int(threads))
        remove_temp_files(store)
        remove_temp_files(state_dir)
        remove_staging(state_dir)
        record = read_record(model)
        pending = _pending(store, record, inbox)
        if pending is not None:
            log(f"{pending.run_id}: finishing the interrupted run")
            result.recovered.append(pending.run_id)
            try:
                _execute(model, store, state_dir, record, pending, opts, log, result)
            except _Unlearnable as exc:  # its drops are journaled: they cannot be set aside
                err = exc.__cause__
                if isinstance(err, DataError):
                    raise type(err)(
                        f"{err.reason} Nothing was consumed; fix or restore the file.",
                        file=err.file, column=err.column, series=err.series, row=err.row,
                    ) from None
                raise err from None  # type: ignore[misc]
            record = read_record(model)
        for drop, reason in _screen(model, record, inbox, opts):
            _reject(drop, reason, qdir, log, result)
        while (plan := _plan(store, record, inbox, log)) is not None:
            try:
                _execute(model, store, state_dir, record, plan, opts, log, result)
                break
            except _Unlearnable as exc:  # nothing was written: set the first bad drop aside, replan
                drop, reason = _culprit(model, plan, opts, str(exc))
                _reject(drop, reason, qdir, log, result)
        if not result.runs:
            log("nothing new")
    result.status = "done" if result.runs else "nothing-new"
    return result


def _pending(store: Path, record: JobRecord, inbox: Path) -> _Plan | None:
    """The interrupted run to finish: the newest run file, if it was made from the current model."""
    newest = newest_run_file(store)
    if newest is None:
        return None
    j = read_journal(newest)
    if j["version_before"] != record.version:
        return None
    drops = []
    for name, sha in j["drops"]:
        f = inbox / name
        if not f.is_file() or sha256_file(f) != sha:
            raise DataError(
                f"drop file of the interrupted run {j['run_id']} is missing or changed since that run; "
                "restore it (the run must finish on exactly the same data).",
                file=str(f),
            )
        drops.append(f)
    return _Plan(
        seq=int(j["seq"]),
        run_id=str(j["run_id"]),
        drops=tuple(drops),
        drop_ids=tuple((str(n), str(s)) for n, s in j["drops"]),
        version_before=str(j["version_before"]),
        version_after=str(j["version_after"]),
    )


def _new_drops(record: JobRecord, inbox: Path, log: Callable[[str], None] | None = None) -> list[Path]:
    """The drops in the inbox the model has not consumed (a consumed one that changed is logged)."""
    drops = []
    for p in list_drops(inbox):
        seen = record.consumed.get(p.name)
        if seen is None:
            drops.append(p)
        elif log is not None and sha256_file(p) != seen:
            log(f"warning: {p} changed after it was consumed; ignored (give new data a new file name)")
    return drops


def _screen(model: Path, record: JobRecord, inbox: Path, opts: _Options) -> list[tuple[Path, str]]:
    """The new drops that cannot be read with the model's columns, each with its reason."""
    desc = read_model_dir(model)[0]
    fitted = desc.get("fitted", {})
    time_col, id_col = opts.columns(desc.get("data"))

    def read(paths: Sequence[Path]) -> Any:
        return read_drops(
            paths,
            time_col=time_col,
            id_col=id_col,
            targets=opts.targets or fitted.get("targets", ()),
            covariates=fitted.get("covariates", ()),
            static=fitted.get("static", ()),
        )

    return unreadable(_new_drops(record, inbox), read)


def _culprit(model: Path, plan: _Plan, opts: _Options, reason: str) -> tuple[Path, str]:
    """The first drop of ``plan`` the model cannot learn, found by learning prefixes of the plan."""
    from dataclasses import replace

    from tsgate import load

    def fails(k: int) -> str | None:
        try:
            _learn_and_forecast(load(model), replace(plan, drops=plan.drops[:k]), opts)
        except REJECTED as exc:
            return str(exc)
        return None

    k, why = first_failing(len(plan.drops), fails, reason)
    return plan.drops[k - 1], why


def _reject(drop: Path, reason: str, folder: Path, log: Callable[[str], None], result: RunResult) -> None:
    moved = quarantine(drop, reason, folder)
    result.rejected.append(drop.name)
    log(f"rejected {drop.name} -> {moved} ({reason})")


def _plan(store: Path, record: JobRecord, inbox: Path, log: Callable[[str], None]) -> _Plan | None:
    """The next run: every drop in the inbox the model has not consumed, or None."""
    drops = _new_drops(record, inbox, log)
    if not drops:
        return None
    drop_ids = tuple((p.name, sha256_file(p)) for p in drops)
    after = next_version(record.version, drop_ids)
    # sequence numbers only grow in the store, also across lineages: the newest file is the last run
    seq = max(record.seq, highest_seq(store)) + 1
    return _Plan(seq, run_id(seq, after), tuple(drops), drop_ids, record.version, after)


def _execute(
    model: Path,
    store: Path,
    state_dir: Path,
    record: JobRecord,
    plan: _Plan,
    opts: _Options,
    log: Callable[[str], None],
    result: RunResult,
) -> None:
    """Compute the run in memory, write its run file, commit the model (steps 3-5)."""
    from tsgate import load

    est = load(model)
    log(f"{plan.run_id}: learning from {len(plan.drops)} drop(s)")
    try:
        frame, skipped = _learn_and_forecast(est, plan, opts)
    except REJECTED as exc:
        raise _Unlearnable(str(exc)) from exc
    if skipped:
        log(f"{plan.run_id}: skipped {skipped} row(s) at or before the model's last time (late or repeated)")
    result.skipped_rows += skipped
    _step("updated")
    rows = 0 if frame is None else len(frame)
    target = store / f"{plan.run_id}.parquet"
    if rows:
        journal = {
            "run_id": plan.run_id,
            "seq": plan.seq,
            "lineage": record.lineage,
            "version_before": plan.version_before,
            "version_after": plan.version_after,
            "drops": [list(d) for d in plan.drop_ids],
            "rows": rows,
        }
        write_run_file(target, frame, journal, on_temp=lambda: _step("store-tmp"))
    _step("stored")
    done = JobRecord(
        lineage=record.lineage,
        version=plan.version_after,
        seq=plan.seq,
        last_run=plan.run_id,
        consumed={**record.consumed, **dict(plan.drop_ids)},
    )
    commit(model, est, done, state_dir, on_staged=lambda: _step("staged"))
    _step("committed")
    result.runs.append(plan.run_id)
    result.rows += rows
    log(
        f"{plan.run_id}: {len(plan.drops)} drop(s), {rows} forecast row(s) -> {target if rows else '(none)'}; "
        f"model version {plan.version_after}"
    )


def _learn_and_forecast(est: Any, plan: _Plan, opts: _Options) -> tuple[Any, int]:
    """Update ``est`` on the plan's drops; returns (forecast frame or None, rows skipped)."""
    import pandas as pd

    time_col, id_col = opts.columns(getattr(est, "data_schema_", None))
    new = read_drops(
        plan.drops,
        time_col=time_col,
        id_col=id_col,
        targets=opts.targets or est.targets_,
        covariates=est.covariates_,
        static=est.static_,
    )
    new, skipped = without_seen_rows(new, est.last_time_)
    if new is None:
        return None, skipped
    online = est.update(new)
    latest = est.predict(est.history_, origins="last")
    parts = []
    for kind, fc, version in (("online", online, plan.version_before), ("latest", latest, plan.version_after)):
        fc = fc.copy()
        fc.insert(0, "kind", kind)
        fc.insert(0, "model_version", version)
        fc.insert(0, "run_id", plan.run_id)
        parts.append(fc)
    frame = pd.concat(parts, ignore_index=True)
    frame["series"] = frame["series"].astype(str)  # one parquet type across runs and series
    return frame, skipped
