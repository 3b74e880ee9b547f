"""Model files: a directory with a JSON description and safetensors arrays, never a pickle.

Layout of a model directory ``DIR``::

    DIR/model.json                 schema version, estimator name, parameters, fitted metadata,
                                   the name of the data folder and a sha256 per data file
    DIR/data-<id>/arrays.safetensors   weights, scalers, online state, recent history (arrays)
    DIR/model.lock                 the writers' lock (an empty-ish file holding the last pid)

Every writer holds the model's lock (:func:`model_lock`, an ``flock`` on ``DIR/model.lock``)
while it writes; a writer that reads, changes and saves the model (``tsgate update``, the
scheduled job) holds it from the read to the save, so that no learning is lost. Saving writes a
new ``data-<id>/`` folder, then replaces ``model.json`` with ``os.replace`` (atomic on POSIX),
then removes the data folder it replaced. A crash or kill at any moment therefore leaves
``model.json`` pointing at a complete folder: the old model or the new one. Leftovers are
removed only when provably orphaned: made by this save, or made before this save took the lock
(so by a writer that has finished or died).

Loading takes no lock: it reads ``model.json``, then the data folder it names, and reads again
if a concurrent save replaced the model in between. It reads JSON and safetensors only (no code
runs), checks the schema version, the checksums and that every array is finite, and builds the
estimator from a fixed registry of tsgate classes.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from tsgate.exceptions import LockBusyError, ModelFileError, NumericRangeError
from tsgate.fileio import TEMP_SUFFIX, FileLock, fsync_dir, fsync_file, sha256_file, write_text

__all__ = [
    "SCHEMA_VERSION",
    "MANIFEST",
    "LOCK_FILE",
    "DEFAULT_WAIT_S",
    "write_model_dir",
    "read_model_dir",
    "model_lock",
    "check_model_target",
]

SCHEMA_VERSION = 1
FORMAT = "tsgate-model"
MANIFEST = "model.json"
ARRAYS = "arrays.safetensors"
LOCK_FILE = "model.lock"
#: seconds a writer waits for another writer of the same model before LockBusyError
DEFAULT_WAIT_S = 60.0
_TMP_PREFIX = ".tmp-"
_READ_TRIES = 5
# mtime granularity: entries this close to the lock's start are not provably older
_CLOCK_SLACK_S = 0.05


def _is_managed(name: str) -> bool:
    """Names a model directory may hold besides user files: what saving and locking create."""
    return (
        name in (MANIFEST, LOCK_FILE)
        or name.startswith("data-")
        or name.startswith(_TMP_PREFIX)
        or (name.startswith(".") and name.endswith(TEMP_SUFFIX))
    )


def _nearest_existing(p: Path) -> Path:
    p = p.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_model_target(path: str | Path) -> Path:
    """Refuse, before any work, a path a model cannot be saved to; returns it as a Path.

    A model directory can be written to ``path`` when it is a model directory, an empty or
    missing folder (created), or a folder that only holds what an interrupted save left; and
    when that folder (or, if missing, the nearest existing parent) is writable. A file, a
    folder with other content, or a read-only place is refused with a :class:`ModelFileError`.
    """
    root = Path(path)
    if root.exists() and not root.is_dir():
        raise ModelFileError(f"{root} exists and is not a directory; choose another --model path.")
    if root.is_dir():
        try:
            foreign = [p.name for p in root.iterdir() if not _is_managed(p.name)]
        except OSError as exc:
            raise ModelFileError(f"model directory {root} cannot be read ({exc.strerror}).") from None
        if foreign and not (root / MANIFEST).exists():
            raise ModelFileError(
                f"{root} is a non-empty directory that is not a tsgate model (it holds {foreign[0]!r}); "
                "refusing to write into it. Choose an empty or new directory."
            )
    where = _nearest_existing(root)
    if not os.access(where, os.W_OK | os.X_OK):
        raise ModelFileError(f"cannot write the model to {root}: {where} is not writable; check its permissions.")
    return root


class _ModelLock(FileLock):
    """A model directory's lock; a folder that cannot hold it is a ModelFileError."""

    def __init__(self, root: Path, wait_s: float, create: bool) -> None:
        super().__init__(
            root / LOCK_FILE,
            wait_s,
            holder=f"another writer of the model {root}",
            advice="try again later, or wait longer (--wait S).",
        )
        self.root, self.create = root, create

    def acquire(self) -> None:
        if not self.root.is_dir():
            if not self.create:
                raise ModelFileError(
                    f"model directory {self.root} does not exist; check the path or run `tsgate fit` first."
                )
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ModelFileError(f"cannot create the model directory {self.root} ({exc.strerror}).") from None
        try:
            super().acquire()
        except LockBusyError:
            raise
        except OSError as exc:
            raise ModelFileError(
                f"cannot lock the model directory {self.root} ({exc.strerror}); a writer needs write "
                "access to the folder."
            ) from None


def model_lock(path: str | Path, wait_s: float = DEFAULT_WAIT_S, *, create: bool = False) -> FileLock:
    """The lock every writer of the model directory ``path`` holds, as a context manager.

    ``with model_lock(DIR):`` around a load → learn → save makes the whole change one step
    that no other writer interleaves with (``tsgate update``, ``tsgate fit --model``, ``save``,
    the scheduled job all take it). It waits up to ``wait_s`` seconds for another writer, then
    raises :class:`~tsgate.exceptions.LockBusyError`. It is re-entrant in a thread (``save``
    inside the block does not wait for itself) and released when the process ends, SIGKILL
    included. ``create`` makes a missing directory (for a first save); otherwise a missing
    directory is a :class:`ModelFileError`.
    """
    return _ModelLock(Path(path), wait_s, create)


def _current_data_dir(root: Path) -> str | None:
    try:
        desc = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    name = desc.get("data_dir") if isinstance(desc, dict) else None
    return name if isinstance(name, str) else None


def write_model_dir(
    path: str | Path,
    description: dict[str, Any],
    arrays: dict[str, np.ndarray],
    *,
    wait_s: float = DEFAULT_WAIT_S,
) -> Path:
    """Write a model directory atomically, under its lock (see module docstring). Returns the directory.

    Refuses arrays with non-finite values (:class:`NumericRangeError`: a model that diverged is
    never saved) and a target that is not a model directory (:func:`check_model_target`).
    """
    from safetensors.numpy import save_file

    root = check_model_target(path)
    # np.ascontiguousarray would turn 0-d arrays (step counters) into 1-d ones
    clean = {k: np.array(v, order="C", copy=True) for k, v in arrays.items()}
    bad = _non_finite(clean)
    if bad:
        raise NumericRangeError(
            f"refusing to save the model to {root}: array {bad[0]!r} holds {bad[1]} non-finite value(s) "
            "(NaN or inf); the model diverged. Rescale the data or lower the learning rate, and refit."
        )
    lock = model_lock(root, wait_s, create=True)
    with lock:
        check_model_target(root)  # again: another writer may have changed it while we waited
        old = _current_data_dir(root)
        data_name = f"data-{uuid.uuid4().hex[:12]}"
        tmp = root / f"{_TMP_PREFIX}{os.getpid()}-{data_name}"
        try:
            tmp.mkdir()
            save_file(clean, str(tmp / ARRAYS), metadata={"format": FORMAT})
            fsync_file(tmp / ARRAYS)
            tmp.rename(root / data_name)
            fsync_dir(root)
            manifest = {
                "format": FORMAT,
                "schema_version": SCHEMA_VERSION,
                "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                **description,
                "data_dir": data_name,
                "files": {ARRAYS: {"sha256": sha256_file(root / data_name / ARRAYS)}},
            }
            write_text(root / MANIFEST, json.dumps(manifest, indent=2, sort_keys=False, default=_json_default))
        except BaseException as exc:
            # remove what this save made, unless model.json already points at it
            shutil.rmtree(tmp, ignore_errors=True)
            if _current_data_dir(root) != data_name:
                shutil.rmtree(root / data_name, ignore_errors=True)
            if isinstance(exc, PermissionError):
                raise ModelFileError(f"cannot write the model to {root} ({exc.strerror}); check its permissions.") from None
            raise
        _remove_leftovers(root, keep=data_name, replaced=old, since=lock.since)
    return root


def _remove_leftovers(root: Path, *, keep: str, replaced: str | None, since: float) -> None:
    """Remove the data folder this save replaced, and leftovers made before this save took the lock."""
    for p in root.iterdir():
        name = p.name
        if name == keep or not (name.startswith("data-") or name.startswith(_TMP_PREFIX)):
            continue
        try:
            orphan = name == replaced or p.lstat().st_mtime < since - _CLOCK_SLACK_S
        except OSError:
            continue
        if orphan:
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() and not p.is_symlink() else p.unlink(missing_ok=True)


#: arrays in which NaN is a value, not damage: an empty slot of the interval calibrator's ring of
#: recent scores, a missing covariate (e.g. no SOG) in the recent history; only inf is damage there
NAN_MARKS_EMPTY = ("calibration/recent", "history/")


def _non_finite(arrays: dict[str, np.ndarray]) -> tuple[str, int] | None:
    """The first floating-point array with NaN or inf values, and how many; None if all are finite."""
    for k, v in arrays.items():
        if v.dtype.kind not in "fc" or not v.size:
            continue
        bad = np.isinf(v) if k.startswith(NAN_MARKS_EMPTY) else ~np.isfinite(v)
        if bad.any():
            return k, int(bad.sum())
    return None


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"cannot store {type(o).__name__} in a model description")


def read_model_dir(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read and verify a model directory; returns (description, arrays).

    Every failure is a :class:`ModelFileError` naming the file: missing parts, unreadable files
    (permissions), JSON that does not parse (or nests too deeply), another format or schema
    version, a checksum mismatch, a file that is not safetensors, non-finite arrays. A save
    that replaced the model while it was being read is followed: the new model is read.
    """
    root = Path(path)
    for attempt in range(_READ_TRIES):
        manifest = _read_manifest_bytes(root)
        try:
            return _read_verified(root, manifest)
        except ModelFileError:
            # a concurrent save may have replaced model.json and removed the folder it named
            if attempt == _READ_TRIES - 1 or _read_manifest_bytes(root) == manifest:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _read_manifest_bytes(root: Path) -> bytes:
    if not root.exists():
        raise ModelFileError(f"model directory {root} does not exist; check the path or run `tsgate fit` first.")
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise ModelFileError(f"{root} is not a tsgate model: {MANIFEST} is missing.")
    try:
        return manifest_path.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"{manifest_path} cannot be read ({exc.strerror}); check its permissions.") from None


def _read_verified(root: Path, raw: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    from safetensors.numpy import load_file

    manifest_path = root / MANIFEST
    try:
        desc = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise ModelFileError(f"{manifest_path} is corrupted (not valid JSON: {exc}); restore it or refit.") from None
    except RecursionError:
        raise ModelFileError(f"{manifest_path} is corrupted (JSON nested too deeply); restore it or refit.") from None
    if not isinstance(desc, dict) or desc.get("format") != FORMAT:
        raise ModelFileError(f"{manifest_path} is not a tsgate model description.")
    version = desc.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ModelFileError(
            f"{root} has model schema version {version!r}; this tsgate reads version {SCHEMA_VERSION}. "
            "Refit the model with this tsgate version."
        )
    data_dir = desc.get("data_dir")
    files = desc.get("files")
    if not isinstance(data_dir, str) or "/" in data_dir or data_dir.startswith(".") or not isinstance(files, dict):
        raise ModelFileError(f"{manifest_path} is corrupted (no valid data_dir/files entries); refit the model.")
    arrays_path = root / data_dir / ARRAYS
    if not arrays_path.is_file():
        raise ModelFileError(f"{root} is missing {data_dir}/{ARRAYS}; the model is incomplete — refit or restore it.")
    entry = files.get(ARRAYS)
    expected = entry.get("sha256") if isinstance(entry, dict) else None
    try:
        actual = sha256_file(arrays_path)
    except OSError as exc:
        raise ModelFileError(f"{arrays_path} cannot be read ({exc.strerror}); check its permissions.") from None
    if expected != actual:
        raise ModelFileError(
            f"{arrays_path} does not match its checksum in {MANIFEST}: the file is corrupted or was "
            "changed. Restore it or refit the model."
        )
    try:
        arrays = load_file(str(arrays_path))
    except Exception as exc:  # SafetensorError, OSError, ValueError, ...: never a traceback
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelFileError(f"{arrays_path} cannot be read as safetensors ({first}).") from None
    bad = _non_finite(arrays)
    if bad:
        raise ModelFileError(
            f"{arrays_path}: array {bad[0]!r} holds {bad[1]} non-finite value(s) (NaN or inf); the model is "
            "unusable. Refit it or restore an earlier copy."
        )
    return desc, arrays
