"""Durable file writes and checksums, used by every module that writes a user's files.

A file is written to a temporary name in the same folder (``.<name>.<pid>-<random>.tmp``),
flushed to disk (``fsync``), renamed over the target with :func:`os.replace` (atomic on
POSIX), and the folder entry is flushed too. A reader therefore sees the old file or the new
one, never half of one, even when the writer is killed (SIGKILL included) or the machine loses
power after the rename returned. A killed writer can leave a temporary file behind; it is
never mistaken for a real one and :func:`remove_temp_files` clears such leftovers.

Temporary files are created with mode ``0o666`` filtered by the process umask, like any
other file; the umask is never read or changed.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "TEMP_SUFFIX",
    "sha256_file",
    "fsync_file",
    "fsync_dir",
    "temp_path",
    "atomic_write",
    "write_text",
    "write_bytes",
    "remove_temp_files",
    "try_lock",
]

TEMP_SUFFIX = ".tmp"
_CHUNK = 1 << 20


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def fsync_file(path: str | Path) -> None:
    """Flush a written file's data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | Path) -> None:
    """Flush a folder's entries (a rename into it) to disk; a no-op where the OS refuses it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems (and platforms) do not fsync folders
        pass
    finally:
        os.close(fd)


def temp_path(path: str | Path) -> Path:
    """A fresh temporary name next to ``path`` (hidden, unique, ending in ``.tmp``)."""
    p = Path(path)
    return p.with_name(f".{p.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}{TEMP_SUFFIX}")


def atomic_write(path: str | Path, write: Callable[[Path], None], *, durable: bool = True) -> Path:
    """Write ``path`` atomically: ``write(tmp)`` fills a temporary file, which then replaces ``path``.

    ``write`` receives the temporary path (an empty file that already exists) and may open it
    any way it likes (``DataFrame.to_parquet(tmp)``, ``open(tmp, "w")``). With ``durable``
    (default) the file and the folder are fsync'ed, so the new content survives a power loss
    once this returns. On any error, KeyboardInterrupt included, the temporary file is removed
    and ``path`` is untouched. Returns ``path``.
    """
    target = Path(path)
    tmp = temp_path(target)
    # O_EXCL: never write through a name someone else created; 0o666 & ~umask like open()
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        write(tmp)
        if durable:
            fsync_file(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(target.parent)
    return target


def write_text(path: str | Path, text: str, *, durable: bool = True) -> Path:
    """Write UTF-8 text atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), durable=durable)


def write_bytes(path: str | Path, data: bytes, *, durable: bool = True) -> Path:
    """Write bytes atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data), durable=durable)


def remove_temp_files(folder: str | Path) -> list[Path]:
    """Remove temporary files that killed writers left in ``folder``; returns what was removed.

    Only call this while no other process may be writing into ``folder`` (e.g. under a lock):
    a live writer's temporary file looks the same.
    """
    removed = []
    root = Path(folder)
    if not root.is_dir():
        return removed
    for p in root.glob(f".*{TEMP_SUFFIX}"):
        if p.is_file():
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def try_lock(path: str | Path) -> int | None:
    """Take an exclusive ``fcntl.flock`` on ``path`` (created); the open descriptor, or None
    when another process holds it. Closing the descriptor releases the lock, and so does the
    death of the process (SIGKILL included): a killed holder never leaves a stale lock."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return None
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd
