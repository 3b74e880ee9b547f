"""``tsgate stream`` as a real subprocess: line-by-line forecasts, saves, SIGKILL/SIGTERM, sockets.

"The same forecasts" after a crash means: the model file holds the state after the last save
(at the time T_s of the observation that triggered it); restarted with the whole input again,
the stream skips every row at or before T_s and writes, for the origins after T_s, exactly the
lines (byte for byte) that a run that was never interrupted writes; the lines the killed run
wrote before it died are a prefix of the uninterrupted output; and the final model file equals
the uninterrupted run's (no target learned twice, none skipped).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tsgate

pytestmark = pytest.mark.slow
N_FEED, SAVE_EVERY, KILL_AFTER = 2000, 150, 1100


def command(model: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "tsgate.cli.app", "stream", str(model), "--save-every", str(SAVE_EVERY), *extra]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("stream")
    rng = np.random.default_rng(3)
    n = 400 + N_FEED
    t = np.round(np.cumsum(rng.uniform(0.08, 0.13, n)), 4)
    df = pd.DataFrame({"time": t, "y": np.sin(2 * np.pi * t / 4) + rng.normal(0, 0.05, n),
                       "z": 5 * np.cos(2 * np.pi * t / 4) + rng.normal(0, 0.1, n)})
    data = tsgate.IrregularSeries.from_frame(df, time_col="time")
    train = data.split(train=400)[0]
    horizons = ["300ms", "1s"]
    tsgate.OnlineLinearForecaster(method="rls", shl=6, horizons=horizons).fit(train).save(root / "model")
    feed = df.iloc[400:].to_csv(index=False)
    return root, feed, df.iloc[400:].reset_index(drop=True)


def fresh(root: Path, name: str) -> Path:
    shutil.copytree(root / "model", root / name)
    return root / name


def run(args: list[str], feed: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(args, input=feed, capture_output=True, text=True, timeout=timeout)


def test_sigkill_midway_then_restart_gives_the_uninterrupted_forecasts(setup):
    root, feed, rows = setup
    ref_model, model = fresh(root, "ref"), fresh(root, "run")
    ref = run(command(ref_model, "--level", "90"), feed)
    assert ref.returncode == 0, ref.stderr
    ref_lines = ref.stdout.splitlines()
    header, H = ref_lines[0], 2
    assert len(ref_lines) == 1 + H * N_FEED and "y_lower_90" in header

    # the run that is killed: KILL_AFTER rows, wait until their forecasts are out, SIGKILL
    lines = feed.splitlines(keepends=True)
    p = subprocess.Popen(command(model, "--level", "90"), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    writer = threading.Thread(target=lambda: (p.stdin.writelines(lines[: 1 + KILL_AFTER]), p.stdin.flush()))
    writer.start()
    first = [p.stdout.readline() for _ in range(1 + H * KILL_AFTER)]
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=60)
    writer.join()
    first = [x.rstrip("\n") for x in first]
    assert p.returncode == -signal.SIGKILL
    assert first == ref_lines[: len(first)]  # what it wrote before dying was right

    saved = tsgate.load(model)
    t_saved = saved.last_time_[0]
    last_save_row = (KILL_AFTER // SAVE_EVERY) * SAVE_EVERY
    assert t_saved == rows["time"][last_save_row - 1]  # the state of the last save, not later

    again = run(command(model, "--level", "90"), feed)  # the whole feed again
    assert again.returncode == 0, again.stderr
    assert f"({last_save_row} skipped as already seen)" in again.stderr
    after = again.stdout.splitlines()
    expected = [x for x in ref_lines[1:] if float(x.split(",")[1]) > t_saved]
    assert after[0] == header and after[1:] == expected
    # nothing skipped: the killed run's lines and the restart's cover the uninterrupted output
    assert set(first[1:]) | set(after[1:]) == set(ref_lines[1:])

    # the same final model: no target learned twice or skipped, the same calibration
    a, b = tsgate.load(ref_model), tsgate.load(model)
    assert a.last_time_ == b.last_time_ and a.n_learned_ == b.n_learned_
    for (ka, va), (kb, vb) in zip(sorted({**a._get_state()[1], **a.calibrator_.get_state()[1]}.items()),
                                  sorted({**b._get_state()[1], **b.calibrator_.get_state()[1]}.items())):
        assert ka == kb
        np.testing.assert_array_equal(va, vb, err_msg=ka)


def test_sigterm_saves_and_exits_0_and_a_second_stream_is_locked_out(setup):
    root, feed, rows = setup
    model = fresh(root, "term")
    p = subprocess.Popen(command(model), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    p.stdin.write("".join(feed.splitlines(keepends=True)[:11]))
    p.stdin.flush()
    out = [p.stdout.readline() for _ in range(1 + 2 * 10)]
    assert out[-1].startswith("0,")
    second = run(command(model), feed, timeout=120)
    assert second.returncode == 75 and "lock" in second.stderr
    p.send_signal(signal.SIGTERM)  # while it waits for input
    _, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert "stopped by SIGTERM" in err and "latency from arrival to written forecast: median" in err
    assert tsgate.load(model).last_time_[0] == rows["time"][9]


def _port(p: subprocess.Popen) -> int:
    seen = []
    for _ in range(20):  # warnings (e.g. few calibration errors) may come first
        line = p.stderr.readline()
        seen.append(line)
        if "listening on" in line or not line:
            break
    assert "listening on" in line, seen
    return int(line.rsplit(":", 1)[1])


@pytest.mark.parametrize("kind", ["tcp", "udp"])
def test_stream_from_a_local_socket(setup, kind):
    root, feed, rows = setup
    model = fresh(root, f"sock-{kind}")
    p = subprocess.Popen(command(model, "--listen", kind, "--level", "80"), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        port = _port(p)
        lines = feed.splitlines()
        if kind == "tcp":
            with socket.create_connection(("127.0.0.1", port)) as s:
                s.sendall(("\n".join(lines[:21]) + "\n").encode())
                out = [p.stdout.readline() for _ in range(1 + 2 * 20)]
        else:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                for line in lines[1:21]:  # no header: the default column order time, y, z
                    s.sendto(line.encode(), ("127.0.0.1", port))
                    time.sleep(0.005)
                out = [p.stdout.readline() for _ in range(1 + 2 * 20)]
        assert out[0].startswith("series,origin_time,horizon,target_time,y,z,y_lower_80")
        assert float(out[-1].split(",")[1]) == rows["time"][19]
    finally:
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=60)
    assert p.returncode == 0
    assert tsgate.load(model).last_time_[0] == rows["time"][19]


def _fifo_permitted() -> bool:
    probe = "import os; os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(5))"
    return hasattr(os, "sched_setscheduler") and subprocess.run([sys.executable, "-c", probe]).returncode == 0


@pytest.mark.skipif(not hasattr(os, "sched_getscheduler"), reason="no POSIX real-time scheduler on this system")
def test_realtime_stream_runs_under_sched_fifo_with_the_same_forecasts(setup):
    root, feed, _ = setup
    head = "".join(feed.splitlines(keepends=True)[:41])
    plain = run(command(fresh(root, "rt-plain")), head, timeout=120)
    assert plain.returncode == 0, plain.stderr
    model = fresh(root, "rt")
    p = subprocess.Popen(command(model, "--realtime", "7"), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    if not _fifo_permitted():  # e.g. not root and no CAP_SYS_NICE: refused at once, model untouched
        before = (model / "model.json").read_bytes()
        _, err = p.communicate(head, timeout=120)
        assert p.returncode == 2 and "--realtime 7" in err and "CAP_SYS_NICE" in err, err
        assert (model / "model.json").read_bytes() == before
        return
    p.stdin.write(head)
    p.stdin.flush()
    lines = [p.stdout.readline() for _ in range(1 + 2 * 40)]  # header + 2 horizons per observation
    # the forecasts are out, the stream waits for more input: it runs real-time now
    assert os.sched_getscheduler(p.pid) == os.SCHED_FIFO
    assert os.sched_getparam(p.pid).sched_priority == 7
    out, err = p.communicate("", timeout=120)
    assert p.returncode == 0, err
    assert "".join(lines) + out == plain.stdout


def test_realtime_refused_is_exit_2_naming_the_option(setup, monkeypatch):
    from typer.testing import CliRunner

    from tsgate.cli.app import app

    root, feed, _ = setup
    model = fresh(root, "rt-refused")
    before = (model / "model.json").read_bytes()

    def refuse(*a):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setscheduler", refuse, raising=False)
    r = CliRunner().invoke(app, ["stream", str(model), "--realtime", "20"], input=feed)
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert "--realtime 20: not permitted" in r.stderr and "CAP_SYS_NICE" in r.stderr
    assert r.stdout == "" and (model / "model.json").read_bytes() == before
    r = CliRunner().invoke(app, ["stream", str(model), "--realtime", "100"], input=feed)
    assert r.exit_code == 2 and "--realtime" in r.stderr
