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
    "CovariateOpt",
    "HorizonOpt",
    "OutOpt",
    "ConfigOpt",
    "LevelOpt",
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
# Options whose default is None take their value from the config file, then from the model's
# data schema (forecast, update), then from the default the help text states in [default: ...].
TargetOpt = Annotated[
    Optional[list[str]],
    typer.Option("--target", "-t", metavar="COL", help="Target column to forecast (repeat for several). [default: the model's targets; for fit every column not named otherwise, except an unnamed index column such as 'Unnamed: 0']"),
]
TimeOpt = Annotated[
    Optional[str],
    typer.Option("--time-col", metavar="COL", help="Time column: ISO 8601 timestamps (UTC; naive ones read as UTC), or plain numbers read as seconds. Table files only. [default: the model's; else 'time']"),
]
IdOpt = Annotated[
    Optional[str],
    typer.Option("--id-col", metavar="COL", help="Series id column. Table files only. [default: the model's; else none: the file is one series]"),
]
CovariateOpt = Annotated[
    Optional[list[str]],
    typer.Option("--covariate", "-c", metavar="COL", help="Covariate column: an input of the model, not forecast (repeat for several). Table files; with --adapter ais: sog_kn (knots), cog_deg (degrees). [default: the model's; else none]"),
]
OnNanOpt = Annotated[
    Optional[str],
    typer.Option("--on-nan", metavar="error|drop|interpolate", help="Missing or infinite values: refuse (error), drop the row, or interpolate linearly in time. Table files only. [default: the model's; else error]"),
]
OnDuplicateOpt = Annotated[
    Optional[str],
    typer.Option("--on-duplicate", metavar="error|first|last|mean", help="Two rows of one series at one time: refuse (error), keep the first or the last, or their mean. Table files only. [default: the model's; else error]"),
]
OnUnsortedOpt = Annotated[
    Optional[str],
    typer.Option("--on-unsorted", metavar="error|sort", help="Times going backwards within a series: refuse (error) or sort. Table files only. [default: the model's; else error]"),
]
HorizonOpt = Annotated[
    Optional[list[str]],
    typer.Option("--horizon", "-H", metavar="STEPS|DURATION", help="Forecast horizon: whole steps (3: the 3rd next observation) or a duration with a unit: ms, s, min, h, d, w (500ms, 2s, 15min, 1h, 1d, 1w); repeat for several. [default: 1, one step ahead]"),
]
OutOpt = Annotated[
    Optional[str],
    typer.Option("--out", "-o", metavar="FILE", help="Write forecasts here (.csv, .parquet or .json), replaced atomically; '-' writes CSV to standard output. [default: none: a table on the terminal]"),
]
LevelOpt = Annotated[
    Optional[list[float]],
    typer.Option("--level", metavar="PERCENT", help="Prediction-interval level in percent, e.g. 90 (repeat for several); adds lower/upper columns per target and a radius per position. [default: none]"),
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
    typer.Option("--config", exists=True, dir_okay=False, readable=True, metavar="FILE", help="TOML file with [data], [model] and [evaluate] tables; flags override it. [default: none]"),
]
AdapterOpt = Annotated[
    Optional[str],
    typer.Option("--adapter", metavar="table|ais", help="How to read a DATA file: 'table' (long-format CSV/parquet) or 'ais' (MarineCadastre, aisdk or tsgate AIS CSV; positions in metres east/north). [default: the model's; else table]"),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars, tables, data summary or warnings; for scripts and scheduled jobs. [default: off]")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks of unexpected errors. [default: off]")]


@dataclass(frozen=True)
class DataOptions:
    """How to read DATA, as given on the command line (None: not given)."""

    target: list[str] | None = None
    time_col: str | None = None
    id_col: str | None = None
    covariate: list[str] | None = None
    on_nan: str | None = None
    on_duplicate: str | None = None
    on_unsorted: str | None = None
    adapter: str | None = None
    config: Path | None = None

    def policies(self) -> dict[str, str]:
        """The repair policies given on the command line."""
        given = {"on_nan": self.on_nan, "on_duplicate": self.on_duplicate, "on_unsorted": self.on_unsorted}
        return {k: v for k, v in given.items() if v is not None}


def _kw(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


_DATA_PARAMS = (
    _kw("target", TargetOpt, None),
    _kw("time_col", TimeOpt, None),
    _kw("id_col", IdOpt, None),
    _kw("covariate", CovariateOpt, None),
    _kw("on_nan", OnNanOpt, None),
    _kw("on_duplicate", OnDuplicateOpt, None),
    _kw("on_unsorted", OnUnsortedOpt, None),
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


EXIT_CODES_HELP = (
    "Exit codes: 0 success; 2 bad arguments or bad input (one line on stderr naming the file, column, "
    "row or option); 1 anything else (--debug shows the traceback); 130 interrupted."
)


def command(*, data: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add the shared options to a command function (see the module docstring), and the exit
    codes to its help unless its docstring states its own."""

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

        doc = inspect.cleandoc(fn.__doc__ or "")
        run.__doc__ = doc if "Exit codes" in doc else f"{doc}\n\n{EXIT_CODES_HELP}"
        run.__signature__ = sig.replace(parameters=[*own, *extra])  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in (*own, *extra)}
        return run

    return decorate
