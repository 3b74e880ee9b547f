"""``tsgate stream MODEL``: forecast each observation the moment it arrives, learn, keep saving.

Input: CSV lines, one observation per line, from standard input (default), a local TCP socket
(``--listen tcp``: each connection starts with its own header line) or UDP datagrams
(``--listen udp``: each datagram holds whole lines, without a header). Without ``--columns``
the first line of standard input and of every TCP connection is the header; UDP lines, and
every line when ``--columns`` is given, follow ``--columns`` (default: the time column, the id
column when ``--id-col`` is given, the model's targets, then its covariates).

For every observation the forecasts of every horizon (with the ``--level`` bands) are written
at once, one CSV line per horizon, and flushed; then the targets it reveals are learned and
scored. The model is saved atomically every ``--save-every`` observations and when the stream
ends (end of input, SIGTERM or SIGINT; exit code 0). It holds the model's writer lock
``MODEL/model.lock`` (:func:`tsgate.model_lock`) while it runs: another stream, an update or a
fit of the same model exits with code 75 (or waits, per its ``--wait``).

Resuming: observations at or before the last time the model has seen for their series are
skipped (and counted), so after a crash the stream is restarted with the same input, or any
input that starts at or before the last save: the rows after the last save are read again and
give exactly the forecasts the interrupted run gave them (those that run wrote before it died
are written again, identical; keep the last of each ``series, origin_time, horizon``).
"""

from __future__ import annotations

import gc
import math
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from tsgate.cli.errors import Flags
from tsgate.cli.options import IdOpt, TimeOpt, command

__all__ = ["stream"]
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class _Stop(Exception):
    """Raised by the signal handler to leave a blocking read."""


class _Signals:
    """SIGTERM/SIGINT end the stream cleanly: at once while waiting for input, else after the
    observation being processed (the model is never saved half-updated)."""

    def __init__(self) -> None:
        self.name: str | None = None
        self.waiting = False
        self.old: dict[int, Any] = {}

    def __enter__(self) -> _Signals:
        for s in (signal.SIGTERM, signal.SIGINT):
            self.old[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for s, h in self.old.items():
            signal.signal(s, h)

    def _handle(self, signum: int, frame: Any) -> None:
        self.name = signal.Signals(signum).name
        if self.waiting:
            raise _Stop()


def _lines(listen: str, host: str, port: int) -> Iterator[tuple[str, int, bytes]]:
    """(connection, line number, line) of every input line, as it arrives."""
    if listen == "stdin":
        for i, line in enumerate(sys.stdin.buffer, 1):
            yield "<stdin>", i, line
        return
    kind = socket.SOCK_STREAM if listen == "tcp" else socket.SOCK_DGRAM
    sock = socket.create_server((host, port)) if listen == "tcp" else socket.socket(socket.AF_INET, kind)
    try:
        if listen == "udp":
            sock.bind((host, port))
        bound = sock.getsockname()
        sys.stderr.write(f"tsgate stream: listening on {listen}://{bound[0]}:{bound[1]}\n")
        sys.stderr.flush()
        if listen == "udp":
            n = 0
            while True:
                data, _ = sock.recvfrom(65535)
                for line in data.splitlines():
                    n += 1
                    yield "udp", n, line
        conn_no = 0
        while True:
            conn, addr = sock.accept()
            conn_no += 1
            with conn, conn.makefile("rb") as f:
                for i, line in enumerate(f, 1):
                    yield f"tcp connection {conn_no} from {addr[0]}:{addr[1]}", i, line
    finally:
        sock.close()


class _Rows:
    """CSV lines → (series, time in seconds, values, segment, static) for the model."""

    def __init__(self, est: Any, time_col: str, id_col: str | None, columns: list[str] | None, header_first: bool) -> None:
        self.est, self.time_col, self.id_col = est, time_col, id_col
        self.need = [*est.targets_, *est.covariates_]
        self.static = list(est.static_)
        self.fixed = columns
        self.header_first = header_first and columns is None
        self.layout: dict[str, dict[str, int]] = {}
        self.ids = {str(s): s for s in est.last_time_}
        self.default = next(iter(est.last_time_)) if len(est.last_time_) == 1 else None
        if columns is not None:
            self.layout["*"] = self._index(columns, "--columns")

    def _index(self, names: list[str], where: str) -> dict[str, int]:
        from tsgate import SchemaError

        names = [n.strip() for n in names]
        want = [self.time_col, *self.need, *([self.id_col] if self.id_col else [])]
        missing = [c for c in want if c not in names]
        if missing:
            raise SchemaError(f"{where} lacks the column(s) {missing}; the model needs {want} (it has {names}).")
        if self.id_col is None and self.default is None and "series" not in names:
            raise SchemaError(f"{where}: the model knows {len(self.ids)} series; name the id column with --id-col.")
        return {n: i for i, n in enumerate(names)}

    def parse(self, conn: str, lineno: int, raw: bytes) -> tuple[Any, ...] | None:
        """None for a header or an empty line; DataError naming the line for a bad one."""
        from tsgate import DataError

        text = raw.decode("utf-8", errors="replace").strip()
        if not text:
            return None
        fields = [f.strip() for f in text.split(",")]
        if self.fixed is None and conn != "udp" and conn not in self.layout:
            self.layout[conn] = self._index(fields, f"the header of {conn}")
            return None
        idx = self.layout.get("*") or self.layout.get(conn) or self._default_layout()
        if len(fields) != len(idx):
            raise DataError(f"line {lineno}: {len(fields)} fields, the header has {len(idx)}.", file=conn)
        idc = self.id_col or ("series" if "series" in idx else None)
        sid = self.ids.get(fields[idx[idc]], _id(fields[idx[idc]])) if idc else self.default
        try:
            t = self._seconds(fields[idx[self.time_col]])
            vals = [float(fields[idx[c]]) for c in self.need]
            static = [float(fields[idx[c]]) for c in self.static] if all(c in idx for c in self.static) and self.static else None
            seg = int(fields[idx["segment"]]) if "segment" in idx else 0
        except ValueError as exc:
            raise DataError(f"line {lineno}: {exc} (numbers, and times as the model's: "
                            f"{'seconds' if self.est.time_kind_ == 'seconds' else 'ISO 8601'}).", file=conn) from None
        if not (math.isfinite(t) and all(math.isfinite(v) for v in vals)):
            raise DataError(f"line {lineno}: a time or value is not finite.", file=conn)
        return sid, t, vals, seg, static

    def _default_layout(self) -> dict[str, int]:
        cols = [self.time_col, *([self.id_col] if self.id_col else []), *self.need]
        self.layout["udp"] = {c: i for i, c in enumerate(cols)}
        return self.layout["udp"]

    def _seconds(self, tok: str) -> float:
        if self.est.time_kind_ == "seconds":
            return float(tok)
        d = datetime.fromisoformat(tok)
        d = d.replace(tzinfo=timezone.utc) if d.tzinfo is None else d
        return (d - _EPOCH) / timedelta(microseconds=1) / 1e6


def _id(tok: str) -> Any:
    try:
        return int(tok)
    except ValueError:
        return tok


def _fmt_time(t: float, kind: str) -> str:
    if not math.isfinite(t):
        return ""
    if kind == "seconds":
        return repr(float(t))
    return (_EPOCH + timedelta(microseconds=round(t * 1e6))).isoformat()


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "" if v != v else f"{v:.10g}"
    return str(v)


def _step_lines(step: Any, kind: str) -> str:
    """The CSV lines of one step's forecasts (one per horizon), formatted as :func:`_fmt` does."""
    nums = step.numbers()
    head = f"{_fmt(step.series)},{_fmt_time(step.time_s, kind)},"
    tt = step.target_time().tolist()
    if (nums == nums).all():  # no NaN: one C-level format per line ('%.10g' is format(v, '.10g'))
        body = ",".join(["%.10g"] * nums.shape[1])
        rows = [body % tuple(r) for r in nums.tolist()]
    else:
        rows = [",".join(_fmt(v) for v in r) for r in nums.tolist()]
    return "".join(f"{head}{hz.label},{_fmt_time(t, kind)},{r}\n" for hz, t, r in zip(step.horizons, tt, rows))


@command()
def stream(
    model: Annotated[Path, typer.Argument(metavar="MODEL", help="Model directory; saved back atomically as the stream goes.")],
    listen: Annotated[str, typer.Option("--listen", metavar="stdin|tcp|udp", help="Where observations come from.")] = "stdin",
    host: Annotated[str, typer.Option("--host", help="Address to listen on (tcp/udp).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port (tcp/udp); 0 picks a free one, printed on stderr.")] = 0,
    out: Annotated[str, typer.Option("--out", "-o", metavar="FILE", help="Append the forecasts to this CSV file; '-' is standard output.")] = "-",
    level: Annotated[Optional[list[float]], typer.Option("--level", metavar="PERCENT", help="Band level in percent (repeat). [default: 90]")] = None,
    save_every: Annotated[int, typer.Option("--save-every", min=0, metavar="N", help="Save the model every N observations (0: only at the end).")] = 1000,
    time_col: TimeOpt = None,
    id_col: IdOpt = None,
    columns: Annotated[Optional[str], typer.Option("--columns", metavar="A,B,...", help="Column order of lines without a header (UDP lines always). [default: the first line is the header]")] = None,
    realtime: Annotated[int, typer.Option("--realtime", min=0, max=99, metavar="PRIORITY", help="Run under the real-time scheduler (Linux SCHED_FIFO) at this priority, 1-99, so other busy processes cannot delay a forecast; needs root or CAP_SYS_NICE (exit 2 otherwise). 0: the normal scheduler.")] = 0,
    *,
    flags: Flags,
) -> None:
    """Forecast each observation as it arrives (CSV lines), learn what it reveals, save as it goes.

    Example: tail -f feed.csv | tsgate stream m1 --level 90 --save-every 500 > forecasts.csv
    """
    from tsgate import ConfigError, load
    from tsgate import model_lock

    if listen not in ("stdin", "tcp", "udp"):
        raise ConfigError(f"--listen must be stdin, tcp or udp, got {listen!r}.")
    if out != "-" and Path(out).suffix.lower() != ".csv":
        raise ConfigError(f"--out {out!r}: the stream writes CSV; use a .csv file or '-'.")
    if realtime:  # refuse before the slow part (loading the model) when it is not permitted
        _realtime(realtime, probe=True)
    if not (Path(model) / "model.json").is_file():
        est = load(model)  # the error that names what is wrong with MODEL
    # the writer lock every writer of the model takes (update, fit, the job): a second writer
    # exits 75 at once instead of interleaving its saves with this stream's
    lock = model_lock(model, wait_s=0)
    lock.acquire()
    try:
        est = load(model)
    except BaseException:
        lock.release()
        raise
    if "torch" in sys.modules:  # batch-1 forecasts and updates: one thread is fastest
        sys.modules["torch"].set_num_threads(1)
    if realtime:
        try:
            _realtime(realtime)
        except BaseException:
            lock.release()
            raise
    rows = _Rows(est, time_col or "time", id_col, columns.split(",") if columns else None, listen != "udp")
    sink = sys.stdout if out == "-" else open(out, "a", encoding="utf-8")
    stats = {"saves": 0, "lat": []}
    try:
        with _Signals() as sig:
            _run(est, model, rows, sink, sig, stats, level or [90.0], save_every, listen, host, port, flags)
        _summary(est, stats, sig.name, model, flags)
    finally:
        if sink is not sys.stdout:
            sink.close()
        lock.release()


def _realtime(priority: int, probe: bool = False) -> None:
    """Move this process to the SCHED_FIFO real-time class at ``priority`` (1-99).

    A real-time process runs as soon as its input arrives, ahead of every normal process, so a
    busy machine cannot put a scheduler slice between a sample and its forecast. Set after the
    model is loaded (loading is CPU-heavy and need not starve the rest of the machine); the stream
    then sleeps in its read between observations, and Linux's real-time throttling still leaves
    the other processes 5 % of each core should a step ever spin. ``probe``: check that it is
    permitted, then go back to the normal scheduler.
    """
    from tsgate import ConfigError

    if not hasattr(os, "sched_setscheduler"):
        raise ConfigError(f"--realtime {priority}: this system has no real-time scheduler (Linux SCHED_FIFO); "
                          "leave --realtime out.")
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except PermissionError as exc:
        raise ConfigError(f"--realtime {priority}: not permitted to use the real-time scheduler ({exc.strerror}); "
                          "run as root, grant the interpreter CAP_SYS_NICE (setcap cap_sys_nice+ep), "
                          "or raise the RLIMIT_RTPRIO limit (ulimit -r), or leave --realtime out.") from None
    except OSError as exc:
        raise ConfigError(f"--realtime {priority}: the real-time scheduler refused ({exc.strerror}); "
                          "leave --realtime out.") from None
    if probe:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))


def _run(est: Any, model: Path, rows: _Rows, sink: Any, sig: _Signals, stats: dict[str, Any], levels: list[float],
         save_every: int, listen: str, host: str, port: int, flags: Flags) -> None:
    live = est.open_stream(level=levels, skip_seen=True)
    stats["live"] = live
    # the model and its loaded state live as long as the stream: keep them out of the cyclic
    # collector's passes, whose pauses grow with the number of objects it tracks (the p99)
    gc.collect()
    gc.freeze()
    header_done = sink is not sys.stdout and sink.tell() > 0
    source = _lines(listen, host, port)
    n = 0
    clean = True
    with live:
        try:
            while sig.name is None:
                sig.waiting = True
                try:
                    conn, lineno, raw = next(source)
                except (StopIteration, _Stop):
                    break
                finally:
                    sig.waiting = False
                arrived = time.perf_counter()
                parsed = rows.parse(conn, lineno, raw)
                if parsed is None:
                    continue
                clean = False  # the model changes from here until the step is done
                step = live.forecast(*parsed)
                if step is None:
                    clean = True
                    continue
                # the forecasts leave before the model learns what this observation reveals
                if not header_done:
                    sink.write(",".join(step.columns()) + "\n")
                    header_done = True
                sink.write(_step_lines(step, est.time_kind_))
                sink.flush()
                stats["lat"].append(time.perf_counter() - arrived)
                live.learn()
                clean = True
                n += 1
                if save_every and n % save_every == 0:
                    live.sync()
                    est.save(model)
                    stats["saves"] += 1
        finally:
            source.close()
            if clean:  # never save a model stopped in the middle of an observation
                live.sync()
                est.save(model)
                stats["saves"] += 1


def _summary(est: Any, stats: dict[str, Any], stopped: str | None, model: Path, flags: Flags) -> None:
    if flags.quiet:
        return
    import numpy as np

    live, lat = stats["live"], np.asarray(stats["lat"]) * 1e3
    step = np.asarray(live.seconds) * 1e3
    w = sys.stderr.write
    why = f"stopped by {stopped}" if stopped else "end of input"
    w(f"tsgate stream: {why}; {live.n_rows} observations ({live.n_skipped} skipped as already seen), "
      f"{live.n_forecasts} forecast, {live.n_learned} model updates ({live.n_refused} refused); "
      f"model saved to {model} ({stats['saves']} saves)\n")
    if len(lat):
        w(f"tsgate stream: latency from arrival to written forecast: median {np.median(lat):.3f} ms, "
          f"p99 {np.quantile(lat, 0.99):.3f} ms; per step (forecast + learn): median {np.median(step):.3f} ms, "
          f"p99 {np.quantile(step, 0.99):.3f} ms\n")
    cal = est.calibrator_
    if cal is not None:
        cov = cal.coverage()
        for i, lv in enumerate(cov["levels"]):
            if lv in (live.levels or ()):
                n = cov["n"][:, : len(est.targets_)].sum()
                c = np.nansum(cov["coverage"][i][:, : len(est.targets_)] * cov["n"][:, : len(est.targets_)]) / max(n, 1)
                w(f"tsgate stream: {lv:g} % bands covered {100 * c:.1f} % of {int(n)} revealed targets since fit\n")
    sys.stderr.flush()
