"""tsgate.fileio: atomic, durable writes and checksums shared by model files, reports, the CLI and jobs."""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys

import pytest

from tsgate.fileio import (
    FileLock,
    LockBusyError,
    atomic_write,
    remove_temp_files,
    sha256_file,
    temp_path,
    write_bytes,
    write_text,
)


def test_write_replaces_and_checksums(tmp_path):
    p = tmp_path / "a.txt"
    write_text(p, "old")
    write_text(p, "new ünïcode")
    assert p.read_text(encoding="utf-8") == "new ünïcode"
    data = os.urandom(3 << 20)  # several read chunks
    write_bytes(tmp_path / "b.bin", data)
    assert sha256_file(tmp_path / "b.bin") == hashlib.sha256(data).hexdigest()
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.txt", "b.bin"]  # no temporary files left


def test_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    p = tmp_path / "f.csv"
    write_text(p, "kept")
    seen = []

    def half(tmp):
        seen.append(tmp)
        tmp.write_text("half a fi")
        raise KeyboardInterrupt  # a Ctrl-C in the middle of writing

    with pytest.raises(KeyboardInterrupt):
        atomic_write(p, half)
    assert p.read_text() == "kept"
    assert seen[0].parent == tmp_path and seen[0].name.startswith(".f.csv.") and seen[0].name.endswith(".tmp")
    assert not seen[0].exists() and [x.name for x in tmp_path.iterdir()] == ["f.csv"]


def test_leftover_temporaries_are_found_and_removed(tmp_path):
    left = temp_path(tmp_path / "run-000001.parquet")
    left.write_bytes(b"partial")
    (tmp_path / "real.parquet").write_bytes(b"x")
    (tmp_path / ".hidden").write_bytes(b"x")
    assert remove_temp_files(tmp_path) == [left]
    assert sorted(x.name for x in tmp_path.iterdir()) == [".hidden", "real.parquet"]
    assert remove_temp_files(tmp_path / "missing") == []


def test_umask_is_respected_and_never_changed(tmp_path):
    """Files get 0o666 minus the umask in force when they are written; importing tsgate's writers
    (model files, reports) must not call os.umask, which would race with other threads."""
    code = (
        "import os\n"
        "calls = []\n"
        "real = os.umask\n"
        "os.umask = lambda m: (calls.append(m), real(m))[1]\n"
        "import tsgate.fileio, tsgate.estimators.persistence, tsgate.evaluation.report\n"
        "real(0o027)\n"
        "from tsgate.fileio import write_text\n"
        "write_text('f.txt', 'x')\n"
        "print(calls, oct(os.stat('f.txt').st_mode & 0o777))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["[]", "0o640"]


def test_a_replaced_file_keeps_its_permissions(tmp_path):
    p = tmp_path / "fc.csv"
    write_text(p, "old")
    os.chmod(p, 0o640)
    write_text(p, "new")
    assert oct(os.stat(p).st_mode & 0o777) == "0o640" and p.read_text() == "new"
    os.chmod(p, 0o604)
    atomic_write(p, lambda tmp: tmp.write_text("again"))
    assert oct(os.stat(p).st_mode & 0o777) == "0o604"


def _sleeping_child() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_only_orphaned_temporaries_are_removed(tmp_path):
    """A killed writer's temporary file goes with the next write of the same file (or the
    cleanup); a live writer's, or a file whose name is not a temporary name, stays."""
    target = tmp_path / "fc.csv"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    orphan = tmp_path / f".fc.csv.{dead_pid}-0badc0de.tmp"
    orphan.write_bytes(b"x" * 1000)
    live = _sleeping_child()
    try:
        busy = tmp_path / f".fc.csv.{live.pid}-0000beef.tmp"
        busy.write_bytes(b"being written")
        other = tmp_path / ".notes.tmp"  # no pid in the name: not ours to judge
        other.write_bytes(b"x")
        write_text(target, "new")
        names = sorted(x.name for x in tmp_path.iterdir())
        assert names == sorted([".notes.tmp", busy.name, "fc.csv"])
        # a temporary file that someone holds locked is live, whatever its pid says
        locked = tmp_path / f".fc.csv.{dead_pid}-00c0ffee.tmp"
        locked.write_bytes(b"x")
        fd = os.open(locked, os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            assert remove_temp_files(tmp_path) == []
        finally:
            os.close(fd)
    finally:
        live.kill()
        live.wait()
    assert sorted(p.name for p in remove_temp_files(tmp_path)) == sorted([busy.name, locked.name])


def test_file_lock_is_reentrant_in_a_thread_and_exclusive_across_threads(tmp_path):
    import threading

    lock_path = tmp_path / "lock"
    got = []
    with FileLock(lock_path):
        with FileLock(lock_path, wait_s=0):  # same thread: no wait
            pass

        def other():
            try:
                with FileLock(lock_path, wait_s=0.2):
                    got.append("taken")
            except LockBusyError as exc:
                got.append(str(exc))

        t = threading.Thread(target=other)
        t.start()
        t.join()
    assert "holds the lock" in got[0] and str(os.getpid()) in got[0]
    with FileLock(lock_path, wait_s=0):
        pass
    assert lock_path.read_text().strip() == str(os.getpid())
