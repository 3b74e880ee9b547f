"""Speed of the recurrent cells against torch.nn.LSTM, measured side by side in one run.

    python benchmarks/cells.py            # full table, about 2-3 minutes on a laptop CPU
    python benchmarks/cells.py --quick    # fewer repeats and sizes, about 40 s

Prints ratios (>1 = faster than nn.LSTM) rather than absolute times, because the machine may
be shared: models run in turn within each round (so background load hits them alike), each
time is the median of a few runs in its best round.

1. Training throughput (time steps x batch per second, forward + backward; seq 64, batch 256,
   4 input features, one layer) of every cell relative to torch.nn.LSTM of the same hidden
   size, with 1 and 2 threads.
2. Inference latency at batch 1 (window 64) relative to torch.nn.LSTM.
3. g-LSTM gate skipping: batch-1 inference with ~90 % of the (unit, step) gates closed by the
   threshold against the same model computing every gate (threshold 0), for gates that are
   open only in the recent part of the window and for gates tiling the whole window.
4. First-call time (TorchScript compilation of the custom kernels) in a fresh process.
"""

from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tsgate.nn.cells import make_encoder  # noqa: E402

SEQ, BATCH, FEAT = 64, 256, 4


class _TorchLSTM(torch.nn.Module):
    """The reference: a bare torch.nn.LSTM returning its last hidden state."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.rnn = torch.nn.LSTM(FEAT, hidden, batch_first=True)

    def forward(self, x, t=None, mask=None):
        return self.rnn(x)[1][0][-1]


def _median_time(fn, n: int) -> float:
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def _interleaved(fns: dict, rounds: int, per_round: int) -> dict:
    """Best round's median time of each fn; models take turns within each round.

    The minimum over rounds, not the median, because on a loaded machine the noise only
    ever adds time; the median within a round drops single stalls.
    """
    for fn in fns.values():  # warm-up (scripting, allocator)
        fn()
        fn()
    times: dict = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            times[k].append(_median_time(fn, per_round))
    return {k: min(v) for k, v in times.items()}


def _window(B: int, T: int, span: float = 1.0):
    x = torch.randn(B, T, FEAT)
    gaps = torch.rand(B, T - 1) + 0.5
    t = torch.cat([-(gaps.flip(1).cumsum(1).flip(1)), torch.zeros(B, 1)], 1)
    return x, t * (span / t.abs().amax())


def training(cells, hiddens, threads, rounds, per_round):
    print(f"\n## Training throughput vs torch.nn.LSTM (seq {SEQ}, batch {BATCH}, "
          f"{FEAT} features, forward+backward); ratio > 1 = faster")
    header = "threads  hidden  nn.LSTM steps*batch/s  " + "  ".join(f"{c:>7}" for c in cells)
    print(header)
    x, t = _window(BATCH, SEQ)
    for th in threads:
        torch.set_num_threads(th)
        for H in hiddens:
            torch.manual_seed(0)
            models = {"ref": _TorchLSTM(H)}
            for c in cells:
                models[c] = make_encoder(c, FEAT, H, window_span_s=1.0)

            def step(m):
                def run():
                    for p in m.parameters():
                        p.grad = None
                    m(x, t).sum().backward()
                return run

            res = _interleaved({k: step(m) for k, m in models.items()}, rounds, per_round)
            thr = SEQ * BATCH / res["ref"]
            ratios = "  ".join(f"{res['ref'] / res[c]:7.2f}" for c in cells)
            print(f"{th:>7}  {H:>6}  {thr:>21,.0f}  {ratios}", flush=True)


def inference(cells, hiddens, threads, rounds, per_round):
    print("\n## Inference latency at batch 1 (window 64, 1 thread: a second one does not help at "
          "batch 1) vs torch.nn.LSTM; ratio > 1 = faster")
    print("threads  hidden  nn.LSTM us  " + "  ".join(f"{c:>7}" for c in cells))
    x, t = _window(1, SEQ)
    for th in threads:
        torch.set_num_threads(th)
        for H in hiddens:
            torch.manual_seed(0)
            models = {"ref": _TorchLSTM(H)}
            for c in cells:
                models[c] = make_encoder(c, FEAT, H, window_span_s=1.0)
            for m in models.values():
                m.eval()

            def call(m):
                def run():
                    with torch.no_grad():
                        for _ in range(5):
                            m(x, t)
                return run

            res = _interleaved({k: call(m) for k, m in models.items()}, rounds, per_round)
            ratios = "  ".join(f"{res['ref'] / res[c]:7.2f}" for c in cells)
            print(f"{th:>7}  {H:>6}  {res['ref'] / 5 * 1e6:>10.0f}  {ratios}", flush=True)


def _set_gates(enc, centres, sigma):
    layer = enc.layers[0]
    with torch.no_grad():
        layer.mu_raw.copy_(centres)
        layer.s_raw.fill_(math.log(math.expm1(sigma - 1e-3)))


def gate_skipping(hiddens, rounds, per_round):
    print("\n## g-LSTM gate skipping, batch 1, window 64, 1 thread: threshold closing ~90 % "
          "of the (unit, step) gates vs all gates computed (threshold 0)")
    print("hidden  gates                         closed  steps computed  speedup")
    torch.set_num_threads(1)
    x = torch.randn(1, SEQ, FEAT)
    t = torch.linspace(-1.0, 0.0, SEQ).unsqueeze(0)  # span 1 s, one sample per 1/63 s
    for H in hiddens:
        scenarios = {
            # what a budget-trained forecaster tends to learn: units read the recent samples
            "recent 10 % of window": (torch.linspace(-0.1, 0.0, H), 0.02, 0.2),
            # gates spread evenly: every step has some open unit, nothing to skip whole
            "tiled over whole window": (torch.linspace(-1.0, 0.0, H), 0.03, 0.3),
        }
        for name, (mu, sigma, thr) in scenarios.items():
            torch.manual_seed(0)
            enc = make_encoder("glstm", FEAT, H, window_span_s=1.0, gate_threshold=thr).eval()
            _set_gates(enc, mu, sigma)
            with torch.no_grad():
                enc(x, t)
            closed = 1.0 - enc.last_open_fraction
            steps = enc.layers[0].last_steps_computed
            full = make_encoder("glstm", FEAT, H, window_span_s=1.0, gate_threshold=0.0).eval()
            full.load_state_dict(enc.state_dict())

            def call(m):
                def run():
                    with torch.no_grad():
                        for _ in range(5):
                            m(x, t)
                return run

            res = _interleaved({"skip": call(enc), "full": call(full)}, rounds, per_round)
            print(f"{H:>6}  {name:<28}  {closed:>5.0%}  {steps:>8}/{SEQ}  "
                  f"{res['full'] / res['skip']:>7.2f}x", flush=True)


_FIRST_CALL = """
import sys, time, torch
sys.path.insert(0, {root!r})
torch.set_num_threads(2)
from tsgate.nn.cells import make_encoder
x = torch.randn(256, 64, 4); t = torch.linspace(-1, 0, 64).expand(256, 64)
enc = make_encoder({cell!r}, 4, 64)
t0 = time.perf_counter(); enc(x, t).sum().backward(); t1 = time.perf_counter()
enc(x, t).sum().backward(); t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def first_call(cells):
    print("\n## First call (fresh process, hidden 64, batch 256, forward+backward)")
    print("cell     first s  later s   (first includes TorchScript compilation)")
    root = str(Path(__file__).resolve().parents[1])
    for c in cells:
        out = subprocess.run(
            [sys.executable, "-c", _FIRST_CALL.format(root=root, cell=c)],
            capture_output=True, text=True, check=True,
        ).stdout.split()
        print(f"{c:<7}  {float(out[0]):7.2f}  {float(out[1]):7.3f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer repeats/sizes (~40 s)")
    ap.add_argument("--threads", default="1,2", help="comma list of thread counts")
    ap.add_argument("--cells", default="lstm,gru,rnn,wmc,glstm,convrnn")
    ap.add_argument("--sections", default="training,inference,skip,first",
                    help="comma list of: training, inference, skip, first")
    ap.add_argument("--hidden", default=None, help="comma list of hidden sizes (training)")
    args = ap.parse_args()
    cells = args.cells.split(",")
    threads = [int(v) for v in args.threads.split(",")]
    hiddens = [32, 64, 128]
    rounds, per_round = (3, 2) if args.quick else (4, 3)
    if args.quick:
        hiddens = [32, 128]
    if args.hidden:
        hiddens = [int(v) for v in args.hidden.split(",")]
    sections = args.sections.split(",")
    n0 = torch.get_num_threads()
    print(f"torch {torch.__version__}, {n0} threads available; best of {rounds} interleaved "
          f"rounds (other processes may share the cores: check the load)")
    t0 = time.perf_counter()
    if "training" in sections:
        training(cells, hiddens, threads, rounds, per_round)
    if "inference" in sections:
        inference(cells, [32, 128] if args.quick else [32, 64, 128], [1], rounds, per_round * 4)
    if "skip" in sections:
        gate_skipping([64] if args.quick else [64, 128], rounds, per_round * 4)
    if "first" in sections:
        first_call([c for c in ("wmc", "glstm") if c in cells])
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
