"""What a model directory records about the scheduled job: its version and the drops it learned.

The record is the ``job`` entry of ``model.json``::

    "job": {"lineage": "3f0c…", "version": "9ab1…", "seq": 12, "last_run": "run-000012-9ab1…",
            "consumed": {"drop-001.csv": "<sha256>", …}}

``lineage`` is the version of the model as it was before its first run, ``version`` the model
state after the last run, ``seq`` the sequence number of that run.

It is written together with the weights by one ``os.replace`` of ``model.json`` (see
``tsgate.persistence``), so the model never claims drops it has not learned, nor learns drops
it does not claim. A model without the entry (freshly fitted, or saved by another tool) starts
a new lineage: its version is the first 12 hex of its ``model.json`` sha256.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tsgate.exceptions import ModelFileError
from tsgate.fileio import sha256_file
from tsgate.estimators.persistence import MANIFEST, read_model_dir, write_model_dir

__all__ = ["RECORD_KEY", "JobRecord", "read_record", "commit", "next_version", "remove_staging"]

RECORD_KEY = "job"
_STAGING_PREFIX = ".staging-"
# written by write_model_dir itself; never copied from one description into the next
_MANAGED = ("format", "schema_version", "saved_at", "data_dir", "files")


@dataclass
class JobRecord:
    """The job's state inside a model directory (see the module docstring)."""

    lineage: str
    version: str
    seq: int = 0
    last_run: str | None = None
    consumed: dict[str, str] = field(default_factory=dict)
    fresh: bool = False  # no record was found: this model starts a lineage


def read_record(model: Path) -> JobRecord:
    """The record of ``model`` (a fresh one for a model the job has not run yet)."""
    path = model / MANIFEST
    try:
        desc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{path} cannot be read ({exc}); restore the model or refit it.") from None
    rec = desc.get(RECORD_KEY) if isinstance(desc, dict) else None
    if rec is None:
        version = sha256_file(path)[:12]
        return JobRecord(lineage=version, version=version, fresh=True)
    try:
        return JobRecord(
            lineage=str(rec["lineage"]),
            version=str(rec["version"]),
            seq=int(rec["seq"]),
            last_run=rec.get("last_run"),
            consumed={str(k): str(v) for k, v in rec["consumed"].items()},
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ModelFileError(
            f"{path}: the '{RECORD_KEY}' entry is damaged ({exc!r}); delete that entry to start a new "
            "lineage (the next run then learns every drop in the inbox, skipping rows the model has seen)."
        ) from None


def next_version(previous: str, drops: Sequence[Sequence[str]]) -> str:
    """Model version after learning ``drops`` ([name, sha256] pairs): 12 hex of a sha256 chain."""
    import hashlib

    h = hashlib.sha256(previous.encode())
    for name, sha in drops:
        h.update(f"\n{name}\t{sha}".encode())
    return h.hexdigest()[:12]


def commit(
    model: Path, est: Any, record: JobRecord, staging: Path, on_staged: Callable[[], None] | None = None
) -> None:
    """Save ``est`` to ``model`` with ``record`` in its description: one atomic replacement.

    The estimator is saved into a scratch folder under ``staging`` first (its own ``save``),
    then the description and arrays are written to ``model`` with the record added
    (``on_staged`` runs in between).
    """
    scratch = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=staging))
    try:
        est.save(scratch / "model")
        desc, arrays = read_model_dir(scratch / "model")
        desc = {k: v for k, v in desc.items() if k not in _MANAGED}
        rec = asdict(record)
        rec.pop("fresh")
        desc[RECORD_KEY] = rec
        if on_staged is not None:
            on_staged()
        write_model_dir(model, desc, arrays)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def remove_staging(staging: Path) -> None:
    """Scratch folders that killed runs left behind (call under the lock)."""
    for p in staging.glob(f"{_STAGING_PREFIX}*"):
        shutil.rmtree(p, ignore_errors=True)
