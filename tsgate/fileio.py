"""Durable file writes, checksums and file locks, used by every module that writes a user's files.

A file is written to a temporary name in the same folder (``.<name>.<pid>-<random>.tmp``),
flushed to disk (``fsync``), renamed over the target with :func:`os.replace` (atomic on
POSIX), and the folder entry is flushed too. A reader therefore sees the old file or the new
one, never half of one, even when the writer is killed (SIGKILL included) or the machine loses
power after the rename returned.

A file that replaces another keeps the replaced file's permission bits; a new file gets mode
``0o666`` filtered by the process umask, like any other file (the umask is never read or
changed).

A writer holds an ``flock`` on its temporary file while it writes. A killed writer can leave a
temporary file behind; it is never mistaken for a real one, and a temporary file is removed
(by :func:`remove_temp_files`, and next to its target by every later :func:`atomic_write`) only
when it is provably orphaned: no process holds its lock and the process that created it (the
pid in its name) is gone, or is this process and no longer writes it.

:class:`FileLock` is the exclusive lock every writer of a shared file or folder takes (model
directories, the scheduled job): an ``flock`` that the kernel releases when the process ends,
SIGKILL included, so a killed writer never leaves a stale lock.
"""

from __future__ import annotations

import errno
import fcntl
import glob
import hashlib
import os
import stat
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tsgate.exceptions import LockBusyError

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
    "is_orphaned_temp",
    "pid_alive",
    "FileLock",
    "LockBusyError",
]

TEMP_SUFFIX = ".tmp"
_CHUNK = 1 << 20
_POLL_S = 0.05


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
    """A fresh temporary name next to ``path`` (hidden, unique, ending in ``.tmp``, with this pid)."""
    p = Path(path)
    return p.with_name(f".{p.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}{TEMP_SUFFIX}")


# temporary files this process is writing right now (never orphans, whatever their lock says)
_WRITING: set[str] = set()


def atomic_write(path: str | Path, write: Callable[[Path], None], *, durable: bool = True) -> Path:
    """Write ``path`` atomically: ``write(tmp)`` fills a temporary file, which then replaces ``path``.

    ``write`` receives the temporary path (an empty file that already exists) and may open it
    any way it likes (``DataFrame.to_parquet(tmp)``, ``open(tmp, "w")``). With ``durable``
    (default) the file and the folder are fsync'ed, so the new content survives a power loss
    once this returns. A replaced file's permission bits are kept. On any error,
    KeyboardInterrupt included, the temporary file is removed and ``path`` is untouched.
    Orphaned temporary files of earlier, killed writes of ``path`` are removed first.
    Returns ``path``.
    """
    target = Path(path)
    _remove_orphans(target.parent, f".{glob.escape(target.name)}.*{TEMP_SUFFIX}")
    tmp = temp_path(target)
    # O_EXCL: never write through a name someone else created; 0o666 & ~umask like open()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    _WRITING.add(str(tmp))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # "being written": see is_orphaned_temp
        mode = _mode_of(target)
        if mode is not None:
            os.fchmod(fd, mode)
        write(tmp)
        if mode is not None and stat.S_IMODE(os.stat(tmp).st_mode) != mode:
            os.chmod(tmp, mode)  # a writer that recreated the file
        if durable:
            fsync_file(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)
        _WRITING.discard(str(tmp))
    if durable:
        fsync_dir(target.parent)
    return target


def _mode_of(target: Path) -> int | None:
    """Permission bits of the file ``target`` replaces (None: there is none)."""
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return None
    return stat.S_IMODE(st.st_mode) if stat.S_ISREG(st.st_mode) else None


def write_text(path: str | Path, text: str, *, durable: bool = True) -> Path:
    """Write UTF-8 text atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), durable=durable)


def write_bytes(path: str | Path, data: bytes, *, durable: bool = True) -> Path:
    """Write bytes atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data), durable=durable)


def _pid_of(name: str) -> int | None:
    """The writer's pid in a temporary name ``.<name>.<pid>-<hex>.tmp`` (None: not such a name)."""
    stem = name[: -len(TEMP_SUFFIX)] if name.endswith(TEMP_SUFFIX) else name
    tail = stem.rsplit(".", 1)[-1]
    pid, _, rand = tail.partition("-")
    return int(pid) if pid.isdigit() and rand else None


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (one owned by another user counts)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _unlocked(path: Path) -> bool:
    """True when no process holds an ``flock`` on ``path`` (probed without blocking)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    finally:
        os.close(fd)  # also drops the probe's own lock
    return True


def is_orphaned_temp(path: str | Path) -> bool:
    """Whether a temporary file (:func:`temp_path` name) was left by a writer that is gone.

    True only when no process holds its lock and its creator (the pid in its name) no longer
    runs, or is this process and is not writing it. A temporary file of a live writer, or one
    whose name carries no pid, is never orphaned.
    """
    p = Path(path)
    pid = _pid_of(p.name)
    if pid is None or str(p) in _WRITING or not p.is_file() or p.is_symlink():
        return False
    if pid != os.getpid() and pid_alive(pid):
        return False
    return _unlocked(p)


def _remove_orphans(folder: Path, pattern: str) -> list[Path]:
    removed = []
    try:
        found = list(folder.glob(pattern))
    except OSError:
        return removed
    for p in found:
        if is_orphaned_temp(p):
            try:
                p.unlink()
            except OSError:  # gone already, or a folder we may not write: leave it
                continue
            removed.append(p)
    return removed


def remove_temp_files(folder: str | Path) -> list[Path]:
    """Remove the orphaned temporary files (see :func:`is_orphaned_temp`) in ``folder``; returns them.

    Safe while other processes write into ``folder``: a live writer's file is never removed.
    """
    root = Path(folder)
    if not root.is_dir():
        return []
    return _remove_orphans(root, f".*{TEMP_SUFFIX}")


class _Held:
    """One lock this process holds: its descriptor and how often it was entered."""

    def __init__(self, fd: int, thread: int) -> None:
        self.fd, self.thread, self.count = fd, thread, 1
        self.since = time.time()


_HELD: dict[str, _Held] = {}
_HELD_GUARD = threading.Lock()


def _forget_after_fork() -> None:
    # a child inherits the descriptors but not the ownership: it must take locks itself
    for h in _HELD.values():
        try:
            os.close(h.fd)
        except OSError:
            pass
    _HELD.clear()


os.register_at_fork(after_in_child=_forget_after_fork)


class FileLock:
    """Exclusive lock on the file ``path`` for the duration of a ``with`` block.

    An ``flock`` on ``path`` (created if missing, never deleted), released by the kernel when
    the process ends (SIGKILL included). It is re-entrant within a thread: a ``with`` block
    inside another one on the same file does not wait for itself; other threads and processes
    wait. The holder writes its pid into the file, so a refused caller can name it.

    Parameters
    ----------
    path
        Lock file (created; its folder must exist).
    wait_s
        Seconds to keep trying before raising :class:`LockBusyError` (0: try once).
    holder
        What the message calls the other holder (``"another run"``).
    advice
        What the message tells the refused caller to do.
    """

    def __init__(
        self,
        path: str | Path,
        wait_s: float = 0.0,
        *,
        holder: str = "another process",
        advice: str = "try again later.",
    ) -> None:
        self.path, self.wait_s = Path(path), max(0.0, float(wait_s))
        self.holder, self.advice = holder, advice
        self._key: str | None = None
        #: time.time() when this process took the lock (its outermost holder); 0 before
        self.since = 0.0

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lock, waiting up to ``wait_s`` seconds; :class:`LockBusyError` after that."""
        key = os.path.join(os.path.realpath(self.path.parent), self.path.name)
        me = threading.get_ident()
        deadline = time.monotonic() + self.wait_s
        while True:
            with _HELD_GUARD:
                held = _HELD.get(key)
                if held is not None and held.thread == me:
                    held.count += 1
                    self._key, self.since = key, held.since
                    return
                if held is None:
                    fd = self._try_flock()
                    if fd is not None:
                        held = _HELD[key] = _Held(fd, me)
                        self._key, self.since = key, held.since
                        return
            if time.monotonic() >= deadline:
                raise LockBusyError(self._busy_message())
            time.sleep(_POLL_S)

    def release(self) -> None:
        """Leave the lock (the kernel lock goes when the outermost holder leaves)."""
        if self._key is None:
            return
        with _HELD_GUARD:
            held = _HELD.get(self._key)
            if held is not None:
                held.count -= 1
                if held.count == 0:
                    del _HELD[self._key]
                    os.close(held.fd)  # closing the descriptor releases the flock
        self._key = None

    def _try_flock(self) -> int | None:
        """The descriptor holding the flock, or None when another process holds it."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            writable = True
        except PermissionError:
            fd = os.open(self.path, os.O_RDONLY)  # a lock file we may not write: flock still works
            writable = False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return None
            raise
        if writable:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return fd

    def _busy_message(self) -> str:
        try:
            with open(self.path, "rb") as f:
                pid = f.read(32).decode(errors="replace").strip() or "?"
        except OSError:
            pid = "?"
        waited = f" after waiting {self.wait_s:g} s" if self.wait_s > 0 else ""
        return f"{self.holder} (pid {pid}) holds the lock {self.path}{waited}; {self.advice}"
