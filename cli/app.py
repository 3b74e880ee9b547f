"""The ``tsgate`` command: a thin Typer layer over the library.

Layout: :mod:`~tsgate.cli.options` (options shared by commands), :mod:`~tsgate.cli.errors`
(exit codes, errors to one line), :mod:`~tsgate.cli.config` (``--config`` tables),
:mod:`~tsgate.cli.data_io` (reading DATA, writing forecasts), :mod:`~tsgate.cli.render`
(terminal output), and the commands in :mod:`~tsgate.cli.commands`,
:mod:`~tsgate.cli.evaluate` and :mod:`~tsgate.cli.job`. Exit codes: see ``tsgate.cli.errors``.
"""

from __future__ import annotations

from collections.abc import Sequence

import typer

from tsgate.cli import commands
from tsgate.cli.evaluate import evaluate
from tsgate.cli.job import job_app

__all__ = ["app", "main"]

app = typer.Typer(
    name="tsgate",
    help=(
        "Forecast irregularly sampled time series with gated LSTMs that keep learning online.\n\n"
        "Examples:\n\n"
        "  tsgate datasets\n\n"
        "  tsgate fit extmarker-10hz-seq1 --model m1 --cell wmc --horizon 0.5s --horizon 1s\n\n"
        "  tsgate forecast m1 extmarker-10hz-seq1 --out forecasts.csv\n\n"
        "  tsgate evaluate extmarker-10hz-seq1 --models gated,linear,persistence --horizon 0.5s\n\n"
        "  tsgate job run --model m1 --inbox inbox --store forecasts\n\n"
        "Exit codes: 0 success, 2 bad arguments or input, 75 model or job lock held, 3 job done with rejected drops, 1 anything else."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def _root() -> None:
    """tsgate command line."""


app.command()(commands.datasets)
app.command()(commands.fit)
app.command()(commands.forecast)
app.command()(commands.update)
app.command()(evaluate)
app.command()(commands.info)
app.add_typer(job_app, name="job")


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point (``argv`` defaults to the process arguments); exits with the command's code.

    A usage error (an unknown option, a value out of range such as ``--window 0``) is one line
    on stderr and exit 2, like every other bad argument.
    """
    import sys

    try:
        code = app(args=list(argv) if argv is not None else None, prog_name="tsgate", standalone_mode=False)
    except typer.Abort:
        sys.stderr.write("tsgate: error: aborted\n")
        code = 1
    except typer.TyperException as exc:
        code = usage_error(exc)
    sys.exit(code if isinstance(code, int) else 0)


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
