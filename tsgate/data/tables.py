"""Reading tables from disk: CSV (or standard input) and parquet, with errors that name the file."""

from __future__ import annotations

import io
import re
import sys
from collections import Counter
from pathlib import Path
from collections.abc import Iterator
from typing import Any

import pandas as pd

from tsgate.exceptions import DataError, SchemaError

__all__ = ["read_table", "read_csv_blocks", "is_parquet", "read_stdin_text", "read_csv_text", "STDIN"]

#: how standard input is named in messages
STDIN = "<stdin>"
# pandas renames a repeated header name 'y' to 'y.1', 'y.2', ...
_MANGLED = re.compile(r"^(?P<base>.*)\.(?P<k>[1-9]\d*)$")


def is_parquet(path: str | Path) -> bool:
    """Whether a path names a parquet file (by its extension)."""
    return Path(path).suffix.lower() in (".parquet", ".pq")


def read_stdin_text() -> str:
    """Standard input as UTF-8 text (a byte-order mark is dropped); other bytes are a DataError."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:  # a text stream without bytes underneath (already decoded)
        return sys.stdin.read()
    raw = stream.read()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(
            f"line {line}: byte 0x{raw[exc.start]:02x} is not UTF-8 text; convert the data to UTF-8 "
            "(e.g. iconv -f latin1 -t utf-8) and try again.",
            file=STDIN,
        ) from None


def read_csv_text(text: str, source: str = STDIN, **read_kw: Any) -> pd.DataFrame:
    """Parse CSV text (e.g. from :func:`read_stdin_text`) like :func:`read_table` parses a file."""
    try:
        df = pd.read_csv(io.StringIO(text), **read_kw)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise DataError(f"cannot be read as CSV ({_last_line(exc)}).", file=source) from None
    _refuse_repeated_names(df, lambda: _header(io.StringIO(text), read_kw), source)
    return df


def read_table(path: str | Path, **read_kw: Any) -> pd.DataFrame:
    """Read a CSV or parquet file into a frame, with a DataError (not a pandas traceback) on failure.

    ``"-"`` reads CSV from standard input. A header that names a column twice is refused (pandas
    would silently rename the second ``y`` to ``y.1``).
    """
    if str(path) == "-":
        return read_csv_text(read_stdin_text(), STDIN, **read_kw)
    p = Path(path)
    if not p.exists():
        raise DataError("file not found; check the path.", file=path)
    if p.is_dir():
        raise DataError("is a folder, not a file; name a CSV or parquet file.", file=path)
    try:
        if is_parquet(p):
            df = pd.read_parquet(p)
            _refuse_repeated_names(df, lambda: [str(c) for c in df.columns], path)
            return df
        df = pd.read_csv(p, **read_kw)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        raise DataError(
            f"cannot be read as {'parquet' if is_parquet(p) else 'CSV'} ({_last_line(exc)}); "
            "check that the file is complete and uses the expected format.",
            file=path,
        ) from None
    except Exception as exc:  # pyarrow raises its own error types for broken parquet
        if type(exc).__module__.startswith("pyarrow"):
            raise DataError(
                f"cannot be read as parquet ({exc}); check that the file is complete.", file=path
            ) from None
        raise
    _refuse_repeated_names(df, lambda: _header(p, read_kw), path)
    return df


def read_csv_blocks(path: str | Path, rows: int, **read_kw: Any) -> Iterator[pd.DataFrame]:
    """A CSV file ``rows`` rows at a time, with :func:`read_table`'s errors: a DataError naming the
    file (and pandas' line) instead of a parser traceback, a header naming a column twice refused."""
    p = Path(path)
    first = True
    try:
        with pd.read_csv(p, chunksize=rows, **read_kw) as reader:
            for df in reader:
                if first:
                    _refuse_repeated_names(df, lambda: _header(p, read_kw), path)
                    first = False
                yield df
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        raise DataError(f"cannot be read as CSV ({_last_line(exc)}); check that the file is complete and "
                        "every row has the header's fields.", file=path) from None


def _last_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[-1] if text else type(exc).__name__


def _header(source: Any, read_kw: dict[str, Any]) -> list[str]:
    """The header line's names exactly as written (pandas would rename repeats)."""
    kw = {k: v for k, v in read_kw.items() if k in ("sep", "delimiter", "encoding", "quotechar", "skipinitialspace")}
    row = pd.read_csv(source, header=None, nrows=1, dtype=str, keep_default_na=False, **kw)
    return [str(v) for v in row.iloc[0].tolist()] if len(row) else []


def _refuse_repeated_names(df: pd.DataFrame, header: Any, file: Any) -> None:
    """SchemaError naming a column whose name the file gives more than once."""
    names = [str(c) for c in df.columns]
    repeated = [c for c, n in Counter(names).items() if n > 1]
    if not repeated:
        suspects = [m.group("base") for m in map(_MANGLED.match, names) if m and m.group("base") in names]
        if not suspects:
            return
        counts = Counter(header())
        repeated = [c for c in dict.fromkeys(suspects) if counts[c] > 1]
        if not repeated:
            return
    name = repeated[0]
    raise SchemaError(
        f"the header names column {name!r} more than once; give every column its own name.",
        file=file,
        column=name,
    )
