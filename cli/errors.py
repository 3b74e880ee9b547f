"""Exit codes and the one place where errors become one line on stderr.

Exit codes of every ``tsgate`` command:

====  ==========================================================================
0     success (``tsgate job run``: also "nothing new")
1     an unexpected error (one line; the traceback with ``--debug``), or an
      online update that could not run at all
2     bad arguments or bad input: one line naming the file, column, row or option
3     ``tsgate job run``: done, but some drops were rejected (moved to the quarantine
      folder, each with a ``.reason`` file); ``tsgate evaluate``: a model produced no
      forecast at all (the tables are printed without it and its failures listed)
75    another process holds the lock: another writer of the model (``update``,
      ``fit --model``, ``stream``, the job), or another job run (EX_TEMPFAIL; retry later)
130   interrupted (Ctrl-C)
====  ==========================================================================
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NoReturn

import typer

__all__ = [
    "EXIT_OK",
    "EXIT_ERROR",
    "EXIT_BAD_INPUT",
    "EXIT_REJECTED",
    "EXIT_NO_FORECAST",
    "EXIT_LOCKED",
    "EXIT_INTERRUPTED",
    "Flags",
    "fail",
    "handled",
]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_BAD_INPUT = 2
EXIT_REJECTED = 3
#: the same code: the run finished, but part of what it was asked for could not be done
EXIT_NO_FORECAST = 3
EXIT_LOCKED = 75
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class Flags:
    """The ``--quiet`` and ``--debug`` switches of one command invocation."""

    quiet: bool = False
    debug: bool = False


def fail(msg: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print ``tsgate: error: MSG`` on stderr and exit with ``code``."""
    sys.stderr.write(f"tsgate: error: {msg}\n")
    raise typer.Exit(code)


@contextmanager
def handled(flags: Flags) -> Iterator[None]:
    """Turn errors raised inside the block into an exit code and one line on stderr.

    ``TsgateError`` → 2 (``LockBusyError`` → 75, ``OnlineUpdateError`` → 1); anything
    unexpected → 1.
    """
    from tsgate.exceptions import LockBusyError, OnlineUpdateError, TsgateError

    try:
        yield
    except (typer.Exit, typer.Abort, typer.BadParameter):
        raise
    except LockBusyError as exc:
        _trace(flags)
        fail(str(exc), EXIT_LOCKED)
    except OnlineUpdateError as exc:
        _trace(flags)
        fail(str(exc), EXIT_ERROR)
    except TsgateError as exc:
        _trace(flags)
        fail(str(exc), EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        fail("interrupted", EXIT_INTERRUPTED)
    except Exception as exc:  # unexpected: keep it to one line unless --debug
        _trace(flags)
        fail(f"{type(exc).__name__}: {exc} (run again with --debug for the traceback)", EXIT_ERROR)


def _trace(flags: Flags) -> None:
    if flags.debug:
        traceback.print_exc()
