"""Model files: a directory with a JSON description and safetensors arrays, never a pickle.

Layout of a model directory ``DIR``::

    DIR/model.json                 schema version, estimator name, parameters, fitted metadata,
                                   the name of the data folder and a sha256 per data file
    DIR/data-<id>/arrays.safetensors   weights, scalers, online state, recent history (arrays)

Saving writes a new ``data-<id>/`` folder, then replaces ``model.json`` with ``os.replace``
(atomic on POSIX), then removes older data folders. A crash or kill at any moment therefore
leaves ``model.json`` pointing at a complete folder: the old model or the new one. Loading
reads JSON and safetensors only (no code runs), checks the schema version and the checksums,
and builds the estimator from a fixed registry of tsgate classes.
"""

from __future__ import annotations

import json
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from tsgate.exceptions import ModelFileError
from tsgate.fileio import fsync_dir, fsync_file, sha256_file, write_text

__all__ = ["SCHEMA_VERSION", "write_model_dir", "read_model_dir", "MANIFEST"]

SCHEMA_VERSION = 1
FORMAT = "tsgate-model"
MANIFEST = "model.json"
ARRAYS = "arrays.safetensors"


def write_model_dir(path: str | Path, description: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    """Write a model directory atomically (see module docstring). Returns the directory."""
    from safetensors.numpy import save_file

    root = Path(path)
    if root.exists() and not root.is_dir():
        raise ModelFileError(f"{root} exists and is not a directory; choose another --model path.")
    if root.exists() and any(root.iterdir()) and not (root / MANIFEST).exists():
        raise ModelFileError(
            f"{root} is a non-empty directory that is not a tsgate model; refusing to write into it. "
            "Choose an empty or new directory."
        )
    root.mkdir(parents=True, exist_ok=True)
    data_name = f"data-{uuid.uuid4().hex[:12]}"
    tmp = root / f".tmp-{data_name}"
    tmp.mkdir()
    try:
        # np.ascontiguousarray would turn 0-d arrays (step counters) into 1-d ones
        clean = {k: np.array(v, order="C", copy=True) for k, v in arrays.items()}
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
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    # the new model is in place; older data folders and leftovers of killed runs can go
    for p in root.iterdir():
        if p.name != data_name and (p.name.startswith("data-") or p.name.startswith(".tmp-") or p.name.endswith(".tmp")):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    return root


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
    """Read and verify a model directory; returns (description, arrays)."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    root = Path(path)
    if not root.exists():
        raise ModelFileError(f"model directory {root} does not exist; check the path or run `tsgate fit` first.")
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise ModelFileError(f"{root} is not a tsgate model: {MANIFEST} is missing.")
    try:
        desc = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{manifest_path} is corrupted (not valid JSON: {exc}); restore it or refit.") from None
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
    expected = (files.get(ARRAYS) or {}).get("sha256")
    if expected != sha256_file(arrays_path):
        raise ModelFileError(
            f"{arrays_path} does not match its checksum in {MANIFEST}: the file is corrupted or was "
            "changed. Restore it or refit the model."
        )
    try:
        arrays = load_file(str(arrays_path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{arrays_path} cannot be read as safetensors ({exc}).") from None
    return desc, arrays
