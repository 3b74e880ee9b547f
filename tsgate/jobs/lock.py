"""The job's exclusive lock: ``fcntl.flock`` on a file, released when the process ends (SIGKILL too)."""

from __future__ import annotations

from pathlib import Path

from tsgate.exceptions import LockBusyError
from tsgate.fileio import FileLock

__all__ = ["JobLock", "LockBusyError"]


class JobLock(FileLock):
    """Exclusive lock of the scheduled job on ``path`` for the duration of a ``with`` block.

    A :class:`~tsgate.fileio.FileLock` whose file holds the pid of the holder, so a refused run
    can name it. The kernel releases a ``flock`` when its descriptor closes, which includes the
    death of the process, so a killed run never leaves a stale lock behind.

    Parameters
    ----------
    path
        Lock file (created).
    wait_s
        Seconds to keep trying before raising :class:`LockBusyError` (0: try once).
    """

    def __init__(self, path: str | Path, wait_s: float = 0.0) -> None:
        super().__init__(path, wait_s, holder="another run", advice="this run exits without doing anything.")
