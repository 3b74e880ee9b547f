"""``tsgate job``: the scheduled forecasting job (``tsgate.jobs``) from cron or a systemd timer."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from tsgate.cli import render
from tsgate.cli.errors import EXIT_REJECTED, Flags
from tsgate.cli.options import IdOpt, command

__all__ = ["job_app"]

job_app = typer.Typer(
    name="job",
    help=(
        "Scheduled forecasting: learn online from new drop files, forecast, append to a parquet store.\n\n"
        "Example (crontab, every 5 minutes):\n\n"
        "  */5 * * * * tsgate job run --model /srv/tsgate/model --inbox /srv/tsgate/inbox "
        "--store /srv/tsgate/forecasts --quiet"
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)

ModelOpt = Annotated[Path, typer.Option("--model", "-m", metavar="DIR", help="Model directory (tsgate fit --model DIR); replaced atomically by each run.")]
StoreOpt = Annotated[Path, typer.Option("--store", metavar="DIR", help="Folder of the forecast store: one parquet file per run (created).")]
StateOpt = Annotated[Optional[Path], typer.Option("--state", metavar="DIR", help="Folder of the lock file and scratch space. [default: STORE/_state]")]


@job_app.command("run")
@command()
def run(
    model: ModelOpt,
    inbox: Annotated[Path, typer.Option("--inbox", metavar="DIR", help="Folder where CSV/parquet drop files arrive (write '.name', then rename).")],
    store: StoreOpt,
    state: StateOpt = None,
    target: Annotated[Optional[list[str]], typer.Option("--target", "-t", metavar="COL", help="Target column of the drop files (repeat for several). [default: the model's targets]")] = None,
    time_col: Annotated[Optional[str], typer.Option("--time-col", metavar="COL", help="Time column of the drop files. [default: the model's; else 'time']")] = None,
    id_col: IdOpt = None,
    wait: Annotated[float, typer.Option("--wait", min=0, metavar="S", help="Wait up to S seconds for the job's lock and the model's; 0: exit 75 at once. [default: 0]")] = 0.0,
    quarantine: Annotated[Optional[Path], typer.Option("--quarantine", metavar="DIR", help="Where bad drops go, each with a .reason file. [default: INBOX/quarantine]")] = None,
    threads: Annotated[Optional[int], typer.Option("--threads", min=1, metavar="N", help="torch CPU threads; keep it the same for every run (1 suits small models). [default: torch's own choice]")] = None,
    *,
    flags: Flags,
) -> None:
    """One run: finish an interrupted run, learn the new drops, write their forecasts, save the model.

    Exit codes: 0 done or nothing new; 3 done, but bad drops were moved to the quarantine
    folder; 2 bad input (nothing consumed); 75 another run or writer holds the lock; 1 anything
    else.

    Example: tsgate job run --model m1 --inbox inbox --store forecasts --threads 1
    """
    from tsgate.jobs import run_once

    def log(msg: str) -> None:
        if not flags.quiet:
            print(f"tsgate job: {msg}", flush=True)

    result = run_once(
        model, inbox, store, state, time_col=time_col, id_col=id_col, targets=target,
        wait_s=wait, threads=threads, log=log, quarantine_dir=quarantine,
    )
    if result.rejected:  # said even with --quiet: someone has to look at the quarantine
        from tsgate.jobs.quarantine import QUARANTINE_DIR

        where = quarantine if quarantine is not None else inbox / QUARANTINE_DIR
        shown = ", ".join(result.rejected[:5]) + (", ..." if len(result.rejected) > 5 else "")
        sys.stderr.write(
            f"tsgate: rejected {len(result.rejected)} drop(s), moved to {where} with a .reason file each: {shown}\n"
        )
        raise typer.Exit(EXIT_REJECTED)


@job_app.command("status")
@command()
def status(
    model: ModelOpt,
    store: StoreOpt,
    inbox: Annotated[Optional[Path], typer.Option("--inbox", metavar="DIR", help="Also list the drops waiting in this folder. [default: none]")] = None,
    *,
    flags: Flags,
) -> None:
    """What the job has done: model version, last run, drops consumed and waiting, an interrupted run.

    Reads only; it does not take the lock.

    Example: tsgate job status --model m1 --store forecasts --inbox inbox
    """
    from tsgate.jobs import job_status

    render.print_job_status(job_status(model, store, inbox))
