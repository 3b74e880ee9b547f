"""Does a forecast leave ``tsgate stream`` within 5 ms of its sample arriving? ExtMarker at 30 Hz.

    python benchmarks/stream_latency.py                       # 60 s of sequence 2, analog and RLS models, normal and --realtime 10
    python benchmarks/stream_latency.py --seconds 20 --models online-rls
    python benchmarks/stream_latency.py --load 2              # the same beside two busy processes
    python benchmarks/stream_latency.py --realtime 0          # the normal scheduler only

A model is fitted on the first part of a bundled 30 Hz ExtMarker recording and saved; then the
real ``tsgate stream MODEL`` runs as a subprocess, and the rest of the recording is written to its
standard input at the recording's own pace (one CSV line every 33 ms, as a tracking camera would
send it). A reader thread stamps the moment the first forecast line of each sample comes back.
Latency = that moment − the moment the sample's line was written, so it includes the pipe, the
CSV parsing, the forecast, learning the targets the sample reveals and the flush.

Beside it, in the same run and at the same pace, the same lines go through a trivial Python echo
process (read a line, write a line, flush): the floor a pipe-based stream cannot beat on this
machine. The table prints median and p99 for both, their ratio, and the 5 ms p99 target. The
stream's own per-step latency (measured inside, from reading the line to the flush) is taken from
its summary on standard error.

``--load N`` keeps N CPU-bound processes running through every replay (N = 2 saturates this
2-core machine): the stream then competes for the cores as it would beside other work.
``--realtime P`` (default 10 where this process may use the real-time scheduler, else 0) measures
every row a second time with the stream started as
``tsgate stream --realtime P`` (Linux SCHED_FIFO); the echo and this script's own sending and
stamping thread then run at the same real-time priority, so the floor is measured the same way.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ECHO = "import sys\nfor line in sys.stdin:\n    sys.stdout.write(line)\n    sys.stdout.flush()\n"
TARGET_P99_MS = 5.0


def _fit(name: str, train, folder: Path) -> Path:
    """Fit the catalog model ``name`` on ``train`` and save it; the model folder."""
    from tsgate.estimators.catalog import model_spec

    spec = model_spec(name)
    params = {"horizons": ["100ms", "500ms", "1s", "2s"]}
    if spec.accepts("progress"):
        params["progress"] = False
    est = spec.build(**params).fit(train)
    return est.save(folder / name)


def _lines(rows, cols) -> list[str]:
    return [",".join(f"{v:.6f}" if isinstance(v, float) else str(v) for v in r) + "\n" for r in rows[cols].itertuples(index=False)]


def _replay(cmd: list[str], header: str, lines: list[str], interval_s: float, key) -> tuple[np.ndarray, str]:
    """Write ``lines`` at ``interval_s`` into ``cmd``; latency (ms) per line and the process's stderr.

    ``key(out_line)`` names the sent line an output line answers (its index), or None.
    """
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, bufsize=1)
    sent = np.full(len(lines), np.nan)
    got = np.full(len(lines), np.nan)

    def read() -> None:
        assert proc.stdout is not None
        for out in proc.stdout:
            now = time.perf_counter()
            i = key(out)
            if i is not None and 0 <= i < len(lines) and np.isnan(got[i]):
                got[i] = now

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert proc.stdin is not None
    proc.stdin.write(header)
    proc.stdin.flush()
    _wait_idle(proc.pid)  # the stream loads the model (torch, weights) before the first sample
    start = time.perf_counter()
    for i, line in enumerate(lines):
        due = start + i * interval_s
        while (now := time.perf_counter()) < due:
            time.sleep(min(0.002, due - now))
        sent[i] = time.perf_counter()
        proc.stdin.write(line)
        proc.stdin.flush()
    proc.stdin.close()
    proc.wait(timeout=300)
    reader.join(timeout=30)
    err = proc.stderr.read() if proc.stderr else ""
    return (got - sent) * 1e3, err


def _fifo_permitted() -> bool:
    probe = "import os; os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))"
    return hasattr(os, "sched_setscheduler") and subprocess.run([sys.executable, "-c", probe]).returncode == 0


@contextlib.contextmanager
def _busy(n: int):
    """``n`` CPU-bound competitor processes for the duration of the block."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


@contextlib.contextmanager
def _scheduled(priority: int):
    """This thread (and the threads and processes it starts) under SCHED_FIFO ``priority``; 0: as is."""
    if not priority:
        yield
        return
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    try:
        yield
    finally:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))


def _wait_idle(pid: int, settle_s: float = 1.0, longest_s: float = 60.0) -> None:
    """Wait until process ``pid`` has used no CPU for ``settle_s`` (it has loaded and waits for
    input), at least 3 s; on a loaded machine loading can take longer, and samples sent before
    would queue up and count as latency. Without /proc: 3 s."""
    stat = Path(f"/proc/{pid}/stat")

    def cpu() -> int | None:
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            return int(fields[11]) + int(fields[12])  # utime + stime, clock ticks
        except (OSError, IndexError, ValueError):
            return None

    start = time.perf_counter()
    time.sleep(3.0)
    last, since = cpu(), time.perf_counter()
    while last is not None and time.perf_counter() - start < longest_s:
        time.sleep(0.1)
        now = cpu()
        if now != last:
            last, since = now, time.perf_counter()
        elif time.perf_counter() - since >= settle_s:
            return


def _stats(ms: np.ndarray) -> tuple[float, float, int]:
    ok = ms[np.isfinite(ms)]
    return (float(np.median(ok)), float(np.percentile(ok, 99)), int(len(ok))) if len(ok) else (np.nan, np.nan, 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="extmarker-30hz-seq2")
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the replayed part (s)")
    ap.add_argument("--models", default="analog,online-rls", help="catalog names (tsgate models)")
    ap.add_argument("--load", type=int, default=0, help="CPU-bound competitor processes during the replays")
    ap.add_argument("--realtime", type=int, default=None, metavar="P",
                    help="also measure every row under SCHED_FIFO priority P (tsgate stream --realtime P); "
                         "default 10 where permitted, 0: not")
    args = ap.parse_args()

    import tsgate

    data = tsgate.load_dataset(args.dataset)
    frame = data.to_frame()
    t = frame["time"].to_numpy(float)
    interval = float(np.median(np.diff(t)))
    n_train = len(frame) // 3
    train = data.split(train=n_train)[0]
    replay = frame.iloc[n_train : n_train + int(args.seconds / interval)]
    cols = ["time", *data.targets]
    lines = _lines(replay, cols)
    header = ",".join(cols) + "\n"
    index = {f"{v:.6f}": i for i, v in enumerate(replay["time"].to_numpy(float))}

    rows = []
    if args.realtime is None:
        args.realtime = 10 if _fifo_permitted() else 0
        if not args.realtime:
            print("(not permitted to use the real-time scheduler here: normal scheduler only)")
    priorities = [0, args.realtime] if args.realtime else [0]
    with tempfile.TemporaryDirectory(prefix="tsgate-stream-bench-") as tmp:
        names = [m.strip() for m in args.models.split(",") if m.strip()]
        folders = {name: _fit(name, train, Path(tmp)) for name in names}  # fitted before the load starts
        with _busy(args.load):
            for prio in priorities:
                tag = f", SCHED_FIFO {prio}" if prio else ""
                with _scheduled(prio):
                    echo_ms, _ = _replay([sys.executable, "-c", ECHO], header, lines, interval,
                                         lambda out: index.get(out.split(",", 1)[0]))
                rows.append((f"python echo (pipe floor){tag}", *_stats(echo_ms), ""))
                for name in names:
                    # a fresh copy each time: the stream saves the model, and a second run of the
                    # same file would skip every sample as already seen
                    folder = Path(tmp) / f"{name}-run{prio}"
                    shutil.copytree(folders[name], folder)
                    cmd = [str(Path(sys.executable).with_name("tsgate")), "stream", str(folder), "--level", "90",
                           "--save-every", "0", *(["--realtime", str(prio)] if prio else [])]

                    def key(out: str) -> int | None:
                        # forecast lines: series, origin_time, horizon, ... (origin_time in seconds)
                        parts = out.split(",", 3)
                        if len(parts) < 3:
                            return None
                        try:
                            return index.get(f"{float(parts[1]):.6f}")
                        except ValueError:
                            return None

                    with _scheduled(prio):
                        ms, err = _replay(cmd, header, lines, interval, key)
                    inside = next((ln.strip() for ln in err.splitlines() if "latency" in ln.lower()), "")
                    if not np.isfinite(ms).any():
                        inside = f"no forecast came back; its standard error: {err.strip()[-500:]!r}"
                    rows.append((f"tsgate stream, {name}{tag}", *_stats(ms), inside))

    print(f"{args.dataset}: {len(lines)} samples at {1 / interval:.1f} Hz ({interval * 1e3:.1f} ms apart), "
          f"forecasts of 4 horizons with 90 % bands per sample; {args.load} busy competitor process(es)")
    print(f"{'':44s} {'median ms':>10s} {'p99 ms':>8s} {'p99 / echo':>11s} {'answered':>9s}  p99 <= {TARGET_P99_MS:g} ms")
    floor = rows[0][2]
    for name, med, p99, n, inside in rows:
        if name.startswith("python echo"):
            floor = p99  # each configuration against its own floor
        verdict = "" if name.startswith("python echo") else ("PASS" if p99 <= TARGET_P99_MS else "FAIL")
        print(f"{name:44s} {med:10.2f} {p99:8.2f} {p99 / floor:11.1f} {n:9d}  {verdict}")
        if inside:
            print(f"{'':44s} stream's own summary: {inside}")


if __name__ == "__main__":
    main()
