"""Pieces of an online learner's saved state: its numeric type and its random generator.

An online learner resumes bit for bit from ``state_dict_arrays()``; the random generator (UORO's
signs) is saved as arrays of its PCG64 state, never pickled.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tsgate.exceptions import ConfigError, ModelFileError

__all__ = ["np_dtype", "rng_to_arrays", "rng_from_arrays"]


def np_dtype(dtype: Any) -> np.dtype:
    """float32 or float64 from a numpy dtype, a string or a torch dtype.

    Strings follow numpy: ``"float"`` and ``"double"`` are float64 (as ``np.dtype("float")``),
    ``"float32"``/``"single"``/``"f4"`` float32; a torch dtype is read by its name
    (``torch.float`` is ``torch.float32``).
    """
    name = str(dtype).replace("torch.", "")
    if name in ("float32", "single", "<class 'numpy.float32'>", "f4"):
        return np.dtype(np.float32)
    if name in ("float64", "double", "float", "<class 'numpy.float64'>", "<class 'float'>", "f8"):
        return np.dtype(np.float64)
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt in (np.dtype(np.float32), np.dtype(np.float64)):
        return dt
    raise ConfigError(f"dtype must be float32 or float64, got {dtype!r}.")


def rng_to_arrays(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The PCG64 state of ``rng`` as two uint64 arrays."""
    st = rng.bit_generator.state
    if st["bit_generator"] != "PCG64":  # pragma: no cover - only PCG64 generators are created
        raise ModelFileError("only PCG64 random generators can be saved.")
    mask = (1 << 64) - 1
    s, inc = st["state"]["state"], st["state"]["inc"]
    return {
        "rng.pcg64": np.array([s >> 64, s & mask, inc >> 64, inc & mask], np.uint64),
        "rng.extra": np.array([st["has_uint32"], st["uinteger"]], np.uint64),
    }


def rng_from_arrays(a: np.ndarray, extra: np.ndarray) -> np.random.Generator:
    """The generator :func:`rng_to_arrays` saved."""
    v = [int(x) for x in a]
    bg = np.random.PCG64()
    bg.state = {
        "bit_generator": "PCG64",
        "state": {"state": (v[0] << 64) | v[1], "inc": (v[2] << 64) | v[3]},
        "has_uint32": int(extra[0]),
        "uinteger": int(extra[1]),
    }
    return np.random.Generator(bg)
