"""tsgate.fileio: atomic, durable writes and checksums shared by model files, reports, the CLI and jobs."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest

from tsgate.fileio import atomic_write, remove_temp_files, sha256_file, temp_path, write_bytes, write_text


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
