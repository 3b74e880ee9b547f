"""Scheduled forecasting: learn online from new drop files, forecast, append to a parquet store.

Run it from cron or a systemd timer with ``tsgate job run`` (see ``docs/jobs.md``), or from
Python with :func:`run_once`. Each run takes a lock, finishes an interrupted run if there is
one, learns the drops that arrived since the last run, writes one parquet file of forecasts
per run, and saves the model with the drops it has consumed as one atomic commit: safe to kill
at any moment, idempotent, and a killed run followed by a rerun gives exactly the result of an
uninterrupted run.

Modules: :mod:`~tsgate.jobs.lock` (the flock), :mod:`~tsgate.jobs.drops` (inbox files),
:mod:`~tsgate.jobs.store` (run files and their journal), :mod:`~tsgate.jobs.record` (what the
model records about the job), :mod:`~tsgate.jobs.run` (the protocol),
:mod:`~tsgate.jobs.status` (a read-only summary).
"""

from __future__ import annotations

from tsgate.jobs.lock import JobLock, LockBusyError
from tsgate.jobs.run import KILL_ENV, STEPS, RunResult, run_once
from tsgate.jobs.status import JobStatus, job_status

__all__ = ["run_once", "RunResult", "job_status", "JobStatus", "JobLock", "LockBusyError", "KILL_ENV", "STEPS"]
