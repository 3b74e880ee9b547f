"""What a scheduled job has done so far, read without taking the lock (nothing is written)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tsgate.exceptions import ConfigError
from tsgate.fileio import sha256_file
from tsgate.jobs.drops import list_drops
from tsgate.jobs.record import read_record
from tsgate.jobs.store import newest_run_file, read_journal

__all__ = ["JobStatus", "job_status"]


@dataclass
class JobStatus:
    """The model's job record, the store's run files and, with an inbox, the drops waiting."""

    lineage: str
    version: str
    last_run: str | None
    consumed: int
    run_files: int
    interrupted_run: str | None  # a run file whose model commit has not happened yet
    waiting: list[str] | None = None  # drops the next run will read (None: no inbox given)
    changed: list[str] = field(default_factory=list)  # consumed drops whose content changed since


def job_status(model: str | Path, store: str | Path, inbox: str | Path | None = None) -> JobStatus:
    """Read the job's state of ``model`` and ``store`` (and ``inbox``, if given)."""
    model, store = Path(model), Path(store)
    if not (model / "model.json").is_file():
        raise ConfigError(f"--model {model}: no model.json there.")
    rec = read_record(model)
    runs = sorted(store.glob("run-*.parquet")) if store.is_dir() else []
    newest = newest_run_file(store) if store.is_dir() else None
    interrupted = None
    if newest is not None:
        j = read_journal(newest)
        if j["version_before"] == rec.version:
            interrupted = str(j["run_id"])
    st = JobStatus(rec.lineage, rec.version, rec.last_run, len(rec.consumed), len(runs), interrupted)
    if inbox is not None:
        if not Path(inbox).is_dir():
            raise ConfigError(f"--inbox {inbox}: not a folder.")
        st.waiting = []
        for p in list_drops(inbox):
            seen = rec.consumed.get(p.name)
            if seen is None:
                st.waiting.append(p.name)
            elif sha256_file(p) != seen:
                st.changed.append(p.name)
    return st
