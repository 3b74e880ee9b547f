"""The job's exclusive lock: ``fcntl.flock`` on a file, released when the process ends (SIGKILL too)."""

from __future__ import annotations

import errno
import fcntl
import os
import time
from pathlib import Path
from typing import Any

from tsgate.exceptions import TsgateError

__all__ = ["JobLock", "LockBusyError"]


class LockBusyError(TsgateError, RuntimeError):
    """Another run holds the job's lock; this run did nothing."""


class JobLock:
    """Exclusive lock on ``path`` for the duration of a ``with`` block.

    The file holds the pid of the holder, so a refused run can name it. The kernel releases a
    ``flock`` when its descriptor closes, which includes the death of the process, so a killed
    run never leaves a stale lock behind.

    Parameters
    ----------
    path
        Lock file (created).
    wait_s
        Seconds to keep trying before raising :class:`LockBusyError` (0: try once).
    """

    def __init__(self, path: str | Path, wait_s: float = 0.0) -> None:
        self.path, self.wait_s, self._fd = Path(path), float(wait_s), -1

    def __enter__(self) -> JobLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + max(0.0, self.wait_s)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    os.close(fd)
                    raise
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                    os.close(fd)
                    waited = f" after waiting {self.wait_s:g} s" if self.wait_s > 0 else ""
                    raise LockBusyError(
                        f"another run (pid {holder}) holds the lock {self.path}{waited}; "
                        "this run exits without doing anything."
                    ) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc: Any) -> None:
        os.close(self._fd)  # closing the descriptor releases the flock
        self._fd = -1
