"""Options shared by several commands, declared once, and the decorator that adds them.

``@command()`` gives a command ``--quiet`` and ``--debug`` (as a :class:`Flags` value) and runs
its body under :func:`cli.errors.handled`; ``@command(data=True)`` also gives it the options
that say how to read DATA (``--target``, ``--time-col``, ``--id-col``, ``--adapter``,
``--config``) as one :class:`DataOptions` value. The command function declares only its own
options plus ``flags`` (and ``data_opts``) keyword parameters.
"""

from __future__ import annotations

import functools
import inspect
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from tsgate.cli.errors import Flags, handled

__all__ = [
    "Flags",
    "DataOptions",
    "command",
    "DataArg",
    "TargetOpt",
    "TimeOpt",
    "IdOpt",
    "HorizonOpt",
    "OutOpt",
    "ConfigOpt",
    "WaitOpt",
    "WAIT_DEFAULT_S",
]

DataArg = Annotated[
    str,
    typer.Argument(
        metavar="DATA",
        help="CSV or parquet file, '-' for CSV on standard input, or a bundled dataset name (see `tsgate datasets`).",
    ),
]
TargetOpt = Annotated[
    Optional[list[str]],
    typer.Option("--target", "-t", metavar="COL", help="Target column (repeat for several). Default: every other numeric column."),
]
TimeOpt = Annotated[
    Optional[str],
    typer.Option("--time-col", metavar="COL", help="Time column: ISO timestamps, or plain numbers read as seconds. Default 'time'. Table files only."),
]
IdOpt = Annotated[
    Optional[str],
    typer.Option("--id-col", metavar="COL", help="Series id column. Without it the file is one series. Table files only."),
]
HorizonOpt = Annotated[
    Optional[list[str]],
    typer.Option("--horizon", "-H", metavar="STEPS|DURATION", help="Forecast horizon, steps (3) or a duration (500ms, 2s, 15min); repeat for several."),
]
OutOpt = Annotated[
    Optional[str],
    typer.Option("--out", "-o", metavar="FILE", help="Write forecasts here (.csv, .parquet or .json); '-' writes CSV to standard output."),
]
#: seconds a command that writes a model waits for another writer of it (then exit 75)
WAIT_DEFAULT_S = 60.0
WaitOpt = Annotated[
    float,
    typer.Option(
        "--wait",
        min=0,
        metavar="S",
        help=f"Wait up to S seconds for another writer of the model to finish (default {WAIT_DEFAULT_S:g}), then exit 75.",
    ),
]
ConfigOpt = Annotated[
    Optional[Path],
    typer.Option("--config", exists=True, dir_okay=False, readable=True, metavar="FILE", help="TOML file with [data], [model] and [evaluate] tables; flags override it."),
]
AdapterOpt = Annotated[
    Optional[str],
    typer.Option("--adapter", metavar="NAME", help="How to read a DATA file: 'table' (default; long-format CSV/parquet) or 'ais' (MarineCadastre, aisdk or tsgate AIS CSV)."),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars, tables or warnings; for scripts and scheduled jobs.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks of unexpected errors.")]


@dataclass(frozen=True)
class DataOptions:
    """How to read DATA, as given on the command line (None: not given)."""

    target: list[str] | None = None
    time_col: str | None = None
    id_col: str | None = None
    adapter: str | None = None
    config: Path | None = None


def _kw(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


_DATA_PARAMS = (
    _kw("target", TargetOpt, None),
    _kw("time_col", TimeOpt, None),
    _kw("id_col", IdOpt, None),
    _kw("adapter", AdapterOpt, None),
    _kw("config", ConfigOpt, None),
)
_FLAG_PARAMS = (_kw("quiet", QuietOpt, False), _kw("debug", DebugOpt, False))


def _silence() -> None:
    """--quiet: no warnings, no Lightning banners."""
    # lightning.pytorch resets its own level to INFO when it is imported (later, lazily);
    # its messages go through these child loggers, whose level it leaves alone
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")


def command(*, data: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add the shared options to a command function (see the module docstring)."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(fn, eval_str=True)
        own = [p for p in sig.parameters.values() if p.name not in ("flags", "data_opts")]
        extra = (_DATA_PARAMS if data else ()) + _FLAG_PARAMS

        @functools.wraps(fn)
        def run(**kw: Any) -> Any:
            flags = Flags(quiet=kw.pop("quiet"), debug=kw.pop("debug"))
            if data:
                kw["data_opts"] = DataOptions(**{p.name: kw.pop(p.name) for p in _DATA_PARAMS})
            if flags.quiet:
                _silence()
            with handled(flags):
                return fn(flags=flags, **kw)

        run.__signature__ = sig.replace(parameters=[*own, *extra])  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in (*own, *extra)}
        return run

    return decorate
