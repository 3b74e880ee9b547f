"""Every error tsgate raises on purpose, in one place.

Hierarchy::

    TsgateError                      base of everything below; catch this in scripts
    ├── DataError (ValueError)       a file or frame is malformed: names file/column/series/row
    │   ├── SchemaError              missing, unknown or non-numeric columns
    │   ├── TimestampError           unparseable, mixed-timezone, unsorted or duplicate times
    │   ├── MissingValueError        NaN/inf in a target column
    │   ├── TooShortError            a series cannot give one window with its horizons
    │   └── NumericRangeError        values too large for a model's arithmetic, or a non-finite
    │                                loss, weight or forecast (names the column and magnitude)
    ├── ConfigError (ValueError)     an argument, horizon string or config file is invalid
    ├── ModelFileError (ValueError)  a model directory is missing parts, corrupted or unknown
    ├── LockBusyError (RuntimeError) another process holds a lock (a model directory, the job)
    └── OnlineUpdateError (RuntimeError)  an online update could not run at all

    OnlineUpdateWarning (RuntimeWarning)  an online update was refused (non-finite loss or
                                          gradient); the model is left as it was
    FewWindowsWarning (UserWarning)       a model trained on fewer windows (or series) than
                                          its documented minimum; the numbers are in the message

Each exception also inherits a builtin, so ``except ValueError`` keeps working, and its
message says what to do. The CLI turns any ``TsgateError`` into one line on stderr.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "TsgateError",
    "DataError",
    "SchemaError",
    "TimestampError",
    "MissingValueError",
    "TooShortError",
    "NumericRangeError",
    "ConfigError",
    "ModelFileError",
    "LockBusyError",
    "OnlineUpdateError",
    "OnlineUpdateWarning",
    "FewWindowsWarning",
]


class TsgateError(Exception):
    """Base class of all tsgate errors."""


class DataError(TsgateError, ValueError):
    """Malformed input data.

    The location (``file``, ``column``, ``series``, ``row``) is kept as attributes and
    prefixed to the message, so a user sees e.g. ``data.csv, column 'z', row 17: ...``.
    ``row`` is the 1-based line number in the file when known (header = line 1), otherwise
    the 0-based position in the frame.
    """

    def __init__(
        self,
        message: str,
        *,
        file: Any = None,
        column: str | None = None,
        series: Any = None,
        row: int | None = None,
    ) -> None:
        self.file = None if file is None else str(file)
        self.column = column
        self.series = series
        self.row = row
        self.reason = message
        where = []
        if self.file is not None:
            where.append(self.file)
        if column is not None:
            where.append(f"column {column!r}")
        if series is not None:
            where.append(f"series {series!r}")
        if row is not None:
            where.append(f"row {row}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class SchemaError(DataError):
    """Missing, unknown or non-numeric columns."""


class TimestampError(DataError):
    """Unparseable, mixed-timezone, unsorted or duplicate timestamps."""


class MissingValueError(DataError):
    """NaN or infinite values in a target column."""


class TooShortError(DataError):
    """A series is too short for the requested window and horizons."""


class NumericRangeError(DataError):
    """Values a model cannot compute with (beyond its floating-point range), or a non-finite
    loss, weight or forecast; the message names the column and the magnitude."""


class ConfigError(TsgateError, ValueError):
    """An invalid argument, horizon specification or configuration file."""


class ModelFileError(TsgateError, ValueError):
    """A model directory that cannot be loaded safely."""


class LockBusyError(TsgateError, RuntimeError):
    """Another process holds the lock (of a model directory, or of the scheduled job); nothing was done."""


class OnlineUpdateError(TsgateError, RuntimeError):
    """An online update was refused; the model is left as it was."""


class OnlineUpdateWarning(RuntimeWarning):
    """An online update was refused (non-finite loss or gradient); the model is unchanged."""


class FewWindowsWarning(UserWarning):
    """Training had fewer windows (or series) than the model's documented minimum; the message
    gives the counts. The fit report lists it, so a backtest counts it for that model."""
