"""Speed of the recurrent cells against torch.nn.LSTM, measured side by side in one run.

    python benchmarks/cells.py                       # training, inference, skip, first call
    python benchmarks/cells.py --quick               # fewer repeats and sizes
    python benchmarks/cells.py --sections backends   # eager kernels vs TorchScript
    python benchmarks/cells.py --sections compile    # + torch.compile (minutes of compiling)

Prints ratios (> 1 = faster than nn.LSTM) rather than absolute times, because the machine may
be shared: models run in turn within each round (so background load hits them alike) and each
time is the median of a few runs in its best round. With one thread the clock is the thread's
CPU time (time another process takes from the core is not counted); with more, wall time.

Sections:

training
    Training throughput (forward + backward; seq 64, batch 256, 4 input features, one layer)
    of every cell relative to torch.nn.LSTM of the same hidden size. ``wmc mm`` times only the
    matrix products one WMC training step needs (1.75x the recurrent FLOPs of an LSTM): the
    best ratio any WMC kernel built from these products can reach.
inference
    Latency of one window (64 steps) at batch 1, the online case.
skip
    g-LSTM gate skipping at batch 1 and batch 256: thresholds that close ~90 % of the
    (unit, step) gates against the same model computing every gate, for gates open only in the
    recent part of the window and for gates tiling the whole window, skipping whole steps or
    blocks of units.
first
    First call in a fresh process (start-up cost a CLI user pays).
backends
    The same WMC and g-LSTM kernels run eagerly (as tsgate does) and under TorchScript
    (``torch.jit.script``, executor optimisations off as TorchScript needs here): training
    throughput, batch-1 latency, and the first call in a fresh process.
compile
    ``torch.compile`` of the WMC kernel: batch-1 inference of a window, cold compile time in a
    fresh process and speed against eager. Several minutes; not run by default.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tsgate.nn import glstm as glstm_mod  # noqa: E402
from tsgate.nn import wmc as wmc_mod  # noqa: E402
from tsgate.nn.cells import make_encoder  # noqa: E402

SEQ, BATCH, FEAT = 64, 256, 4


class _TorchLSTM(torch.nn.Module):
    """The reference: a bare torch.nn.LSTM returning its last hidden state."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.rnn = torch.nn.LSTM(FEAT, hidden, batch_first=True)

    def forward(self, x, t=None, mask=None):
        return self.rnn(x)[1][0][-1]


def _clock():
    return time.thread_time if torch.get_num_threads() == 1 else time.perf_counter


def _median_time(fn, n: int) -> float:
    clock = _clock()
    ts = []
    for _ in range(n):
        t0 = clock()
        fn()
        ts.append(clock() - t0)
    return statistics.median(ts)


def _interleaved(fns: dict, rounds: int, per_round: int) -> dict:
    """Best round's median time of each fn; models take turns within each round.

    The minimum over rounds, not the median, because on a shared machine the noise only
    ever adds time; the median within a round drops single stalls.
    """
    for fn in fns.values():  # warm-up (allocator, first-call work)
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


def _train_step(m, x, t):
    def run():
        for p in m.parameters():
            p.grad = None
        m(x, t).sum().backward()
    return run


def _wmc_matmuls(H: int, B: int = BATCH, T: int = SEQ):
    """Only the matrix products of one WMC training step (forward, backward, weight grads)."""
    g = torch.Generator().manual_seed(0)
    h = torch.randn(B, H, generator=g)
    xt = torch.randn(B, 4 * H, generator=g)
    U = torch.randn(H, 4 * H, generator=g)
    W3 = torch.randn(H, 3 * H, generator=g)
    q = torch.randn(B, 3 * H, generator=g)
    Xa = torch.randn(T * B, FEAT, generator=g)
    Wx = torch.randn(FEAT, 4 * H, generator=g)
    Hs = torch.randn(T * B, H, generator=g)
    dZ = torch.randn(T * B, 4 * H, generator=g)
    dQ = torch.randn(T * B, 3 * H, generator=g)

    def run():
        torch.mm(Xa, Wx)
        for _ in range(T):
            torch.addmm(xt, h, U)
            torch.mm(h, W3)
        for _ in range(T):
            torch.addmm(h, q, W3.t())
            torch.mm(xt, U.t())
        torch.mm(Hs.t(), dZ)
        torch.mm(Hs.t(), dQ)
        torch.mm(Xa.t(), dZ)
    return run


def training(cells, hiddens, threads, rounds, per_round):
    print(f"\n## Training throughput vs torch.nn.LSTM (seq {SEQ}, batch {BATCH}, "
          f"{FEAT} features, forward+backward); ratio > 1 = faster")
    print("threads  hidden  nn.LSTM steps*batch/s  " + "  ".join(f"{c:>7}" for c in cells)
          + "   wmc mm")
    x, t = _window(BATCH, SEQ)
    for th in threads:
        torch.set_num_threads(th)
        for H in hiddens:
            torch.manual_seed(0)
            fns = {"ref": _train_step(_TorchLSTM(H), x, t)}
            for c in cells:
                fns[c] = _train_step(make_encoder(c, FEAT, H, window_span_s=1.0), x, t)
            fns["wmc mm"] = _wmc_matmuls(H)
            res = _interleaved(fns, rounds, per_round)
            thr = SEQ * BATCH / res["ref"]
            ratios = "  ".join(f"{res['ref'] / res[c]:7.2f}" for c in [*cells, "wmc mm"])
            print(f"{th:>7}  {H:>6}  {thr:>21,.0f}  {ratios}", flush=True)


def _infer(m, x, t, n=5):
    def run():
        with torch.no_grad():
            for _ in range(n):
                m(x, t)
    return run


def inference(cells, hiddens, rounds, per_round):
    print(f"\n## Inference latency at batch 1 (window {SEQ}, 1 thread: a second one does not "
          "help at batch 1) vs torch.nn.LSTM; ratio > 1 = faster")
    print("hidden  nn.LSTM us  " + "  ".join(f"{c:>7}" for c in cells))
    torch.set_num_threads(1)
    x, t = _window(1, SEQ)
    for H in hiddens:
        torch.manual_seed(0)
        models = {"ref": _TorchLSTM(H)}
        for c in cells:
            models[c] = make_encoder(c, FEAT, H, window_span_s=1.0)
        fns = {k: _infer(m.eval(), x, t) for k, m in models.items()}
        res = _interleaved(fns, rounds, per_round)
        ratios = "  ".join(f"{res['ref'] / res[c]:7.2f}" for c in cells)
        print(f"{H:>6}  {res['ref'] / 5 * 1e6:>10.0f}  {ratios}", flush=True)


def _set_gates(enc, centres, sigma):
    layer = enc.layers[0]
    with torch.no_grad():
        layer.mu_raw.copy_(centres)
        layer.s_raw.fill_(math.log(math.expm1(sigma - 1e-3)))


def gate_skipping(hiddens, batches, rounds, per_round):
    print(f"\n## g-LSTM gate skipping, window {SEQ}, 1 thread: a threshold closing most "
          "(unit, step) gates vs every gate computed (threshold 0)")
    print("batch  hidden  gates                    mode    closed  steps computed  speedup")
    torch.set_num_threads(1)
    t1 = torch.linspace(-1.0, 0.0, SEQ).unsqueeze(0)  # span 1 s, one sample per 1/63 s
    for B in batches:
        x = torch.randn(B, SEQ, FEAT)
        t = t1.expand(B, SEQ)
        for H in hiddens:
            scenarios = {
                # what a budget-trained forecaster tends to learn: units read the recent samples
                "recent 10 % of window": (torch.linspace(-0.1, 0.0, H), 0.02, 0.2),
                # gates spread evenly: every step has some open unit, nothing to skip whole
                "tiled over whole window": (torch.linspace(-1.0, 0.0, H), 0.03, 0.3),
            }
            for name, (mu, sigma, thr) in scenarios.items():
                torch.manual_seed(0)
                full = make_encoder("glstm", FEAT, H, window_span_s=1.0).eval()
                _set_gates(full, mu, sigma)
                fns = {"full": _infer(full, x, t, 2)}
                info = {}
                for mode in ("steps", "blocks"):
                    enc = make_encoder("glstm", FEAT, H, window_span_s=1.0, gate_threshold=thr)
                    enc.load_state_dict(full.state_dict())
                    enc.eval().layers[0].skip_mode = mode
                    with torch.no_grad():
                        enc(x, t)
                    info[mode] = (1.0 - enc.last_open_fraction, enc.layers[0].last_steps_computed)
                    fns[mode] = _infer(enc, x, t, 2)
                res = _interleaved(fns, rounds, per_round)
                for mode in ("steps", "blocks"):
                    closed, steps = info[mode]
                    print(f"{B:>5}  {H:>6}  {name:<23}  {mode:<6}  {closed:>5.0%}  {steps:>8}/{SEQ}"
                          f"  {res['full'] / res[mode]:>7.2f}x", flush=True)


_FIRST_CALL = """
import sys, time, warnings, torch
sys.path.insert(0, {root!r})
torch.set_num_threads(1)
from tsgate.nn.cells import make_encoder
from tsgate.nn import wmc, glstm
x = torch.randn(256, 64, 4); t = torch.linspace(-1, 0, 64).expand(256, 64)
enc = make_encoder({cell!r}, 4, 64)
t0 = time.perf_counter()
if {backend!r} == "script":  # scripting is part of the first call's cost
    warnings.simplefilter("ignore")
    for mod, names in ((wmc, ("_wmc_forward", "_wmc_backward")),
                       (glstm, ("_glstm_forward", "_glstm_backward"))):
        for name in names:
            sfn = torch.jit.script(getattr(mod, name))
            def run(*a, _f=sfn):
                with torch.jit.optimized_execution(False):
                    return _f(*a)
            setattr(mod, name, run)
if {mode!r} == "train":
    enc(x, t).sum().backward(); t1 = time.perf_counter()
    enc(x, t).sum().backward(); t2 = time.perf_counter()
else:
    with torch.no_grad():
        enc(x[:1], t[:1]); t1 = time.perf_counter()
        enc(x[:1], t[:1]); t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def first_call(cells, backends=("eager",)):
    print("\n## First call in a fresh process, 1 thread, hidden 64 (the start-up cost a CLI user "
          "pays): training step (batch 256, forward+backward) and one batch-1 forecast (64 steps)")
    print("cell     backend  case      first s  later s")
    for c in cells:
        for b in backends:
            for mode in ("train", "forecast"):
                code = _FIRST_CALL.format(root=str(ROOT), cell=c, backend=b, mode=mode)
                out = subprocess.run(
                    [sys.executable, "-c", code], capture_output=True, text=True, check=True,
                ).stdout.split()
                print(f"{c:<7}  {b:<7}  {mode:<8}  {float(out[0]):7.3f}  {float(out[1]):7.3f}",
                      flush=True)


def _scripted(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sfn = torch.jit.script(fn)

    def run(*args):
        # with the profiling executor's optimisations on, TorchScript re-specialises for
        # seconds on the first calls and stays slower than with them off (no CPU fuser)
        with torch.jit.optimized_execution(False):
            return sfn(*args)
    return run


class _Backend(torch.autograd.Function):
    """A cell kernel pair (forward with saved factors, backward) as one autograd Function."""

    @staticmethod
    def forward(ctx, fwd, bwd, extra, xp, U, W):  # type: ignore[override]
        out = fwd(xp, U, W, *extra, True)
        ctx.save_for_backward(U, W, *out)
        ctx.bwd, ctx.extra = bwd, extra
        return out[0][-1].clone()

    @staticmethod
    def backward(ctx, dh):  # type: ignore[override]
        U, W, *saved = ctx.saved_tensors
        if ctx.extra:  # wmc: (mask,)
            dZ, dU, dW = ctx.bwd(dh.contiguous(), None, U, W, *saved, *ctx.extra)
        else:  # glstm: W is K
            dZ, dU, dW = ctx.bwd(dh.contiguous(), None, U, W, *saved)
        return None, None, None, dZ, dU, dW


def _kernel_sets():
    """(name, forward kernel, backward kernel, extra forward arguments before ``save``)."""
    return [
        ("wmc", wmc_mod._wmc_forward, wmc_mod._wmc_backward, (None,)),
        ("glstm", glstm_mod._glstm_forward, glstm_mod._glstm_backward, ()),
    ]


def backends(hiddens, threads, rounds, per_round):
    print("\n## Eager kernels (tsgate) vs the same kernels under TorchScript; ratio vs nn.LSTM")
    print("training: seq 64, batch 256, forward+backward; batch 1: one 64-step window, no grad")
    print("threads  hidden  case      wmc eager  wmc script  glstm eager  glstm script")
    sets = [(n, f, b, _scripted(f), _scripted(b), e) for n, f, b, e in _kernel_sets()]
    for th in threads:
        torch.set_num_threads(th)
        for H in hiddens:
            for case, B in (("training", BATCH), ("batch 1", 1)):
                if case == "batch 1" and th > 1:
                    continue
                g = torch.Generator().manual_seed(0)
                x = torch.randn(B, SEQ, FEAT, generator=g)
                ref = _TorchLSTM(H)
                Wx = (0.5 * torch.randn(FEAT, 4 * H, generator=g)).requires_grad_()
                U = (torch.randn(H, 4 * H, generator=g) / math.sqrt(H)).requires_grad_()
                W3 = (torch.randn(H, 3 * H, generator=g) / math.sqrt(H)).requires_grad_()
                K = torch.rand(SEQ, B, H, generator=g).requires_grad_()
                fns = {}
                if case == "training":
                    fns["ref"] = _train_step(ref, x, None)
                else:
                    fns["ref"] = _infer(ref, x, None)
                for name, f, b, sf, sb, extra in sets:
                    W = W3 if name == "wmc" else K
                    for label, fwd, bwd in (("eager", f, b), ("script", sf, sb)):
                        def run(fwd=fwd, bwd=bwd, W=W, extra=extra, train=case == "training"):
                            xp = (x.transpose(0, 1).reshape(-1, FEAT) @ Wx).view(SEQ, B, 4 * H)
                            if train:
                                _Backend.apply(fwd, bwd, extra, xp, U, W).sum().backward()
                            else:
                                with torch.no_grad():
                                    for _ in range(5):
                                        fwd(xp, U, W, *extra, False)
                        fns[f"{name} {label}"] = run
                res = _interleaved(fns, rounds, per_round)
                cols = ["wmc eager", "wmc script", "glstm eager", "glstm script"]
                print(f"{th:>7}  {H:>6}  {case:<8}  " + "  ".join(
                    f"{res['ref'] / res[c]:>{len(c)}.2f}" for c in cols), flush=True)
    first_call(["wmc", "glstm"], ("eager", "script"))


_COMPILE = """
import sys, time, torch
sys.path.insert(0, {root!r})
torch.set_num_threads(1)
from tsgate.nn import wmc
H, T = 32, {steps}
g = torch.Generator().manual_seed(0)
xp = torch.randn(T, 1, 4 * H, generator=g); U = torch.randn(H, 4 * H, generator=g) / H ** 0.5
W3 = torch.randn(H, 3 * H, generator=g) / H ** 0.5
def f(xp, U, W3):
    return wmc._wmc_forward(xp, U, W3, None, False)[0][-1]
cf = torch.compile(f, dynamic=False)
with torch.no_grad():
    t0 = time.perf_counter(); cf(xp, U, W3); t1 = time.perf_counter()
    assert torch.allclose(cf(xp, U, W3), f(xp, U, W3), atol=1e-5)
    best = {{}}
    for name, fn in (("eager", f), ("compiled", cf)):
        ts = []
        for _ in range(7):
            s = time.thread_time()
            for _ in range(20):
                fn(xp, U, W3)
            ts.append((time.thread_time() - s) / 20)
        best[name] = min(ts)
print(t1 - t0, best["eager"], best["compiled"])
"""


def compile_section(steps: int):
    print(f"\n## torch.compile of the WMC kernel: batch-1 inference of a {steps}-step window, "
          "hidden 32, 1 thread (fresh processes; the second reuses the on-disk cache)")
    print("run     first call s  eager us  compiled us  speedup")
    cache = tempfile.mkdtemp(prefix="inductor-")  # empty: the first run compiles cold
    env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=cache)
    for run in ("cold", "warm"):
        out = subprocess.run(
            [sys.executable, "-c", _COMPILE.format(root=str(ROOT), steps=steps)],
            capture_output=True, text=True, check=True, env=env,
        ).stdout.split()
        first, eager, comp = (float(v) for v in out[-3:])
        print(f"{run:<6}  {first:>12.1f}  {eager * 1e6:>8.0f}  {comp * 1e6:>11.0f}  "
              f"{eager / comp:>6.2f}x", flush=True)
    shutil.rmtree(cache, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer repeats/sizes")
    ap.add_argument("--threads", default="1,2", help="comma list of thread counts (training)")
    ap.add_argument("--cells", default="lstm,gru,rnn,wmc,glstm,convrnn")
    ap.add_argument("--sections", default="training,inference,skip,first",
                    help="comma list of: training, inference, skip, first, backends, compile")
    ap.add_argument("--hidden", default=None, help="comma list of hidden sizes")
    ap.add_argument("--compile-steps", type=int, default=32, help="window of the compile section")
    args = ap.parse_args()
    cells = args.cells.split(",")
    threads = [int(v) for v in args.threads.split(",")]
    hiddens = [32, 64, 128]
    rounds, per_round = (3, 2) if args.quick else (4, 3)
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
        inference(cells, hiddens, rounds, per_round * 4)
    if "skip" in sections:
        gate_skipping([64] if args.quick else [64, 128], [1, BATCH], rounds, per_round * 2)
    if "first" in sections:
        first_call([c for c in ("wmc", "glstm") if c in cells])
    if "backends" in sections:
        backends(hiddens, threads, rounds, per_round)
    if "compile" in sections:
        compile_section(args.compile_steps)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
