"""Starts writers of one model directory at the same instant, as separate processes.

Run by tests/test_concurrency.py as a subprocess. It imports the ``tsgate`` command once, then
for each request (a JSON line on stdin) forks two processes that wait at a barrier and then,
at the same moment, run a real command line (``main(argv)``, the ``tsgate`` entry point) or
call ``save`` on an estimator. Forking after the imports makes a pair cost milliseconds instead
of two interpreter starts; the writers are still two processes with their own file locks.
Each answer is a JSON line on stdout: the two exit codes and what they printed on stderr.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from tsgate.cli.app import main


def _run_in_child(barrier: int, job, err_path: str) -> None:
    """In the forked process: wait at the barrier, run ``job``, exit with its code."""
    code = 1
    try:
        fd = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 2)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.read(barrier, 1)
        try:
            job()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException as exc:  # a crash: report it, exit 1
            os.write(2, f"{type(exc).__name__}: {exc}\n".encode())
            code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _pair(jobs) -> dict:
    """Fork one process per job, release them together, wait for both."""
    r, w = os.pipe()
    tmp = tempfile.mkdtemp(prefix="tsgate-pair-")
    pids, errs = [], []
    for i, job in enumerate(jobs):
        err = os.path.join(tmp, f"err{i}")
        pid = os.fork()
        if pid == 0:
            os.close(w)
            _run_in_child(r, job, err)
        pids.append(pid)
        errs.append(err)
    os.close(r)
    os.write(w, b"x" * len(jobs))  # the barrier opens for both at once
    os.close(w)
    codes = []
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        codes.append(os.waitstatus_to_exitcode(status))
    stderr = [Path(e).read_text() for e in errs]
    for e in errs:
        os.unlink(e)
    os.rmdir(tmp)
    return {"codes": codes, "stderr": stderr}


def _estimators(spec: dict) -> list:
    """The two estimators of a save race: the same model fitted on data differing in one value."""
    import numpy as np

    from tsgate import IrregularSeries, PersistenceForecaster

    out = []
    for k in range(2):
        t = np.arange(20, dtype=float)
        v = np.sin(t)
        v[-1] = float(k)  # tells the two saved models apart
        out.append(PersistenceForecaster(horizons=[1]).fit(IrregularSeries.from_arrays(t, v, targets=["v"])))
    return out


def _warm_up() -> None:
    """Run one ``update`` here, before any fork, so that every child starts with what the
    command imports (pandas, torch, Typer's coercion, the estimators) already loaded."""
    import contextlib

    import numpy as np
    import pandas as pd

    from tsgate import IrregularSeries, PersistenceForecaster

    with tempfile.TemporaryDirectory(prefix="tsgate-warm-") as d:
        t = np.arange(6.0)
        PersistenceForecaster(horizons=[1]).fit(IrregularSeries.from_arrays(t[:5], np.sin(t[:5]), targets=["v"])).save(f"{d}/m")
        pd.DataFrame({"time": t[5:], "v": [0.5]}).to_csv(f"{d}/new.csv", index=False)
        with contextlib.redirect_stdout(sys.stderr):
            try:
                main(["update", f"{d}/m", f"{d}/new.csv", "-q"])
            except SystemExit as exc:
                if exc.code:
                    raise RuntimeError(f"the warm-up update failed (exit {exc.code})") from None


def serve() -> None:
    _warm_up()
    estimators = None
    for line in sys.stdin:
        req = json.loads(line)
        if req["op"] == "commands":
            jobs = [lambda argv=argv: main(argv) for argv in req["argv"]]
        elif req["op"] == "save":
            estimators = estimators or _estimators(req)
            jobs = [lambda est=est: est.save(req["model"]) for est in estimators]
        else:
            raise SystemExit(f"unknown request {req!r}")
        sys.stdout.write(json.dumps(_pair(jobs)) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    serve()
