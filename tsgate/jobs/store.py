"""The forecast store: a folder of parquet files, one per run, readable as one dataset.

A run file ``run-<seq>-<version>.parquet`` holds the forecasts of one run and, in its parquet
key-value metadata (key ``tsgate.job``), the run's journal: which drops it read, from which
model version, to which version. ``pandas.read_parquet(STORE)`` reads every run file at once;
names starting with ``_`` or ``.`` (the state folder, temporary files) are skipped by it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tsgate.fileio import atomic_write

__all__ = ["JOURNAL_KEY", "run_id", "write_run_file", "read_journal", "newest_run_file", "highest_seq"]

JOURNAL_KEY = b"tsgate.job"
_RUN_FILE = re.compile(r"^run-(\d{6,})-[0-9a-f]+\.parquet$")


def run_id(seq: int, version: str) -> str:
    """``run-<seq, 6 digits>-<first 8 hex of the model version after the run>``."""
    return f"run-{seq:06d}-{version[:8]}"


def write_run_file(path: Path, frame: Any, journal: dict[str, Any], on_temp: Callable[[], None] | None = None) -> None:
    """Write one run's forecasts with its journal, atomically (``on_temp`` runs before the rename)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[JOURNAL_KEY] = json.dumps(journal, sort_keys=True).encode()
    table = table.replace_schema_metadata(meta)

    def write(tmp: Path) -> None:
        pq.write_table(table, tmp)
        if on_temp is not None:
            on_temp()

    atomic_write(path, write)


def read_journal(path: Path) -> dict[str, Any]:
    """The journal stored in a run file's metadata."""
    import pyarrow.parquet as pq

    from tsgate.exceptions import DataError

    meta = pq.read_schema(path).metadata or {}
    if JOURNAL_KEY not in meta:
        raise DataError(
            "is in the forecast store but has no tsgate job journal; move files that the job did "
            "not write out of the store folder.",
            file=str(path),
        )
    return json.loads(meta[JOURNAL_KEY])


def _runs(store: Path) -> list[tuple[int, Path]]:
    found = []
    for p in store.iterdir():
        m = _RUN_FILE.match(p.name)
        if m:
            found.append((int(m.group(1)), p))
    return sorted(found)


def newest_run_file(store: Path) -> Path | None:
    """The run file with the highest sequence number, or None."""
    runs = _runs(store)
    return runs[-1][1] if runs else None


def highest_seq(store: Path) -> int:
    """The highest run sequence number in the store (0 when empty)."""
    runs = _runs(store)
    return runs[-1][0] if runs else 0
