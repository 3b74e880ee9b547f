"""The ``tsgate`` command: a thin Typer layer over the library.

Layout: :mod:`~tsgate.cli.options` (options shared by commands), :mod:`~tsgate.cli.errors`
(exit codes, errors to one line), :mod:`~tsgate.cli.config` (``--config`` tables),
:mod:`~tsgate.cli.data_io` (reading DATA, writing forecasts), :mod:`~tsgate.cli.render`
(terminal output), and the commands in :mod:`~tsgate.cli.commands`,
:mod:`~tsgate.cli.evaluate` and :mod:`~tsgate.cli.job`. Exit codes: see ``tsgate.cli.errors``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer

from tsgate.cli import commands
from tsgate.cli.check import check
from tsgate.cli.evaluate import evaluate
from tsgate.cli.job import job_app
from tsgate.cli.stream import stream
from tsgate.cli.models import models

__all__ = ["app", "main"]

app = typer.Typer(
    name="tsgate",
    help=(
        "Forecast irregularly sampled time series with gated LSTMs that keep learning online.\n\n"
        "Examples:\n\n"
        "  tsgate datasets\n\n"
        "  tsgate check my.csv --time-col t --id-col sid\n\n"
        "  tsgate models\n\n"
        "  tsgate fit extmarker-10hz-seq1 --model m1 --cell wmc --horizon 0.5s --horizon 1s\n\n"
        "  tsgate forecast m1 extmarker-10hz-seq1 --out forecasts.csv\n\n"
        "  tsgate evaluate extmarker-10hz-seq1 --models gated,linear,persistence --horizon 0.5s\n\n"
        "  tsgate job run --model m1 --inbox inbox --store forecasts\n\n"
        "  tsgate stream m1 --level 90 < feed.csv\n\n"
        "Units: durations take ms, s, min, h, d, w (500ms, 15min, 1d); horizons are whole steps (3) or "
        "durations; values are in the data's units (ExtMarker mm, AIS metres).\n\n"
        "Exit codes: 0 success, 2 bad arguments or input (one line on stderr), 3 job done with rejected "
        "drops, 75 model or job lock held, 130 interrupted, 1 anything else (--debug shows the traceback)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        from tsgate import __version__

        print(f"tsgate {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the tsgate version and exit.")] = False,
) -> None:
    """tsgate command line."""


app.command()(commands.datasets)
app.command()(check)
app.command()(models)
app.command()(commands.fit)
app.command()(commands.forecast)
app.command()(commands.update)
app.command()(evaluate)
app.command()(commands.info)
app.command()(stream)
app.add_typer(job_app, name="job")


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point (``argv`` defaults to the process arguments); exits with the command's code.

    A usage error (an unknown option, a value out of range such as ``--window 0``) is one line
    on stderr and exit 2, like every other bad argument.
    """
    import sys
    import warnings

    # a warning is one line for the user, not a source location inside tsgate
    warnings.formatwarning = _one_line_warning
    try:
        code = app(args=list(argv) if argv is not None else None, prog_name="tsgate", standalone_mode=False)
    except typer.Abort:
        sys.stderr.write("tsgate: error: aborted\n")
        code = 1
    except typer.TyperException as exc:
        code = usage_error(exc)
    sys.exit(code if isinstance(code, int) else 0)


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                      line: str | None = None) -> str:
    return f"tsgate: warning: {' '.join(str(message).split())} ({category.__name__})\n"


def usage_error(exc: Exception) -> int:
    """Print a usage error as one line (help requested by giving no arguments: the help); returns its exit code."""
    import sys

    ctx = getattr(exc, "ctx", None)
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    if ctx is not None and message == ctx.get_help():  # `tsgate` or `tsgate job` without a command
        sys.stdout.write(message + "\n")
    else:
        where = f" (`{ctx.command_path} --help` lists the options)" if ctx is not None else ""
        sys.stderr.write(f"tsgate: error: {' '.join(message.split())}{where}\n")
    return int(getattr(exc, "exit_code", 2))


if __name__ == "__main__":
    main()
