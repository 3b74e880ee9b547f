"""Reading tables from disk: CSV (or standard input) and parquet, with errors that name the file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pandas as pd

from tsgate.exceptions import DataError

__all__ = ["read_table", "is_parquet"]


def is_parquet(path: str | Path) -> bool:
    """Whether a path names a parquet file (by its extension)."""
    return Path(path).suffix.lower() in (".parquet", ".pq")


def read_table(path: str | Path, **read_kw: Any) -> pd.DataFrame:
    """Read a CSV or parquet file into a frame, with a DataError (not a pandas traceback) on failure."""
    p = Path(path)
    if str(path) != "-" and not p.exists():
        raise DataError("file not found; check the path.", file=path)
    try:
        if is_parquet(p):
            return pd.read_parquet(p)
        source: Any = sys.stdin if str(path) == "-" else p
        return pd.read_csv(source, **read_kw)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise DataError(
            f"cannot be read as {'parquet' if is_parquet(p) else 'CSV'} ({msg}); "
            "check that the file is complete and uses the expected format.",
            file=path,
        ) from None
    except Exception as exc:  # pyarrow raises its own error types for broken parquet
        if type(exc).__module__.startswith("pyarrow"):
            raise DataError(
                f"cannot be read as parquet ({exc}); check that the file is complete.", file=path
            ) from None
        raise

