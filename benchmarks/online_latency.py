"""Per-step latency of the online learners at batch 1 (forecast + learn + apply).

Setup like Pohl et al. at 10 Hz: input = SHL=30 samples x 9 marker coordinates + dt
(271 values), output = 21 horizons (0.1-2.1 s = 1..21 steps) x 9 coordinates (189 values);
at every step the 21 targets that just became known are learned (delays 1..21) and one
clipped optimizer step is taken. Reports the median and 99th percentile per step in
milliseconds, one thread (torch.set_num_threads(1) and BLAS limited to 1 thread).

Usage::

    python benchmarks/online_latency.py                 # short default run (~1 min)
    python benchmarks/online_latency.py --steps 2000 --optimizer adam --json out.json

Published reference: DNI, 6.8 ms per step at 30 Hz on an Intel i7-13700 (Pohl et al. 2024).
Timings on a loaded machine vary; compare rows of one run, not absolute times across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

SHL, N_COORD, N_HOR = 30, 9, 21
M = SHL * N_COORD + 1
P = N_HOR * N_COORD


def _stream(T: int, seed: int = 0) -> np.ndarray:
    """Breathing-like 9-channel signal (period ~4 s at 10 Hz) with noise, in sd units."""
    rng = np.random.default_rng(seed)
    t = np.arange(T + SHL + N_HOR + 1) * 0.1
    phase = rng.uniform(0, 2 * np.pi, N_COORD)
    amp = rng.uniform(0.5, 1.5, N_COORD)
    return (amp * np.sin(2 * np.pi * t[:, None] / 4.0 + phase)
            + 0.05 * rng.standard_normal((t.size, N_COORD)))


def time_learner(make, T: int, warmup: int, many: bool = False) -> np.ndarray:
    """Per-step wall time (s) of step + learning the 21 revealed targets + apply, over T
    steps after warmup; ``many``: one ``learn_many`` call instead of 21 ``learn`` calls."""
    x = _stream(T + warmup).astype(np.float32)
    ol = make()
    u = np.empty(M, np.float32)
    times = np.empty(T)
    delays = np.arange(1, N_HOR + 1)
    for k in range(T + warmup):
        u[:-1] = x[k:k + SHL].reshape(-1)
        u[-1] = 0.1
        # the sample that just arrived, x[k+SHL-1], is the target of horizon d (d steps)
        # of the prediction made d steps ago, for d = 1..21
        y = x[k + SHL - 1]
        t0 = time.perf_counter()
        ol.step(u)
        nd = min(N_HOR, ol.n_steps - 1)
        if many and nd > 0:
            ol.learn_many(delays[:nd], np.broadcast_to(y, (nd, N_COORD)))
        else:
            for j in range(nd):
                ol.learn(j + 1, y, slice(j * N_COORD, (j + 1) * N_COORD))
        ol.apply()
        t1 = time.perf_counter()
        if k >= warmup:
            times[k - warmup] = t1 - t0
    return times


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=300, help="timed steps per configuration")
    ap.add_argument("--warmup", type=int, default=40, help="untimed steps first")
    ap.add_argument("--hidden", type=int, nargs="+", default=[32, 64, 128])
    ap.add_argument("--algorithms", nargs="+", default=["tbptt", "uoro", "snap1", "rtrl"])
    ap.add_argument("--cells", nargs="+", default=["rnn", "lstm"])
    ap.add_argument("--optimizer", default="sgd", choices=["sgd", "adam"])
    ap.add_argument("--tbptt-steps", type=int, default=16)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--rtrl-max-hidden", type=int, default=32,
                    help="RTRL is O(n^4): skip it above this hidden size")
    ap.add_argument("--cheap-only-above", type=int, default=64,
                    help="above this hidden size, time only uoro/snap1 (and tbptt)")
    ap.add_argument("--learn", default="many", choices=["many", "loop"],
                    help="learn the 21 targets with one learn_many call or 21 learn calls")
    ap.add_argument("--blas-threads", type=int, default=1,
                    help="BLAS threads (threadpoolctl); 0 leaves the library defaults")
    ap.add_argument("--rounds", type=int, default=1,
                    help="repeat all configurations round-robin this many times")
    ap.add_argument("--json", default=None, help="write the table to this file")
    args = ap.parse_args(argv)

    import contextlib

    import torch
    from threadpoolctl import threadpool_limits

    # import every module that loads a BLAS before limiting the thread pools
    import tsgate.online.rtrl  # noqa: F401
    import tsgate.online.snap  # noqa: F401
    import tsgate.online.tbptt  # noqa: F401
    import tsgate.online.uoro  # noqa: F401
    from tsgate.online import NLMS, OnlineLearner, OnlineLinearRegression

    torch.set_num_threads(1)
    rows = []
    limit = (threadpool_limits(args.blas_threads) if args.blas_threads > 0
             else contextlib.nullcontext())
    with limit:
        configs = []
        for cell in args.cells:
            for n in args.hidden:
                for alg in args.algorithms:
                    if alg == "rtrl" and n > args.rtrl_max_hidden:
                        continue
                    if n > args.cheap_only_above and alg not in ("uoro", "snap1", "tbptt"):
                        continue
                    configs.append((alg, cell, n))
        configs += [("nlms", "linear", 0), ("rls", "linear", 0)]

        def make(alg: str, cell: str, n: int):
            if alg == "nlms":
                return NLMS(M, P, max_delay=N_HOR)
            if alg == "rls":
                return OnlineLinearRegression(M, P, max_delay=N_HOR)
            return OnlineLearner(cell, M, n, P, algorithm=alg, lr=0.01, clip=1.0,
                                 optimizer=args.optimizer, tbptt_steps=args.tbptt_steps,
                                 max_delay=N_HOR, seed=0, dtype=args.dtype)

        # round-robin over the configurations so that a burst of load on the machine
        # hits them alike; the samples of all rounds are pooled
        samples: dict[tuple, list[np.ndarray]] = {c: [] for c in configs}
        for r in range(args.rounds):
            for cfg in configs:
                alg = cfg[0]
                steps = args.steps if alg != "rtrl" else max(30, args.steps // 10)
                t = time_learner(lambda cfg=cfg: make(*cfg), steps, min(args.warmup, steps),
                                 args.learn == "many")
                samples[cfg].append(t)
                if r == args.rounds - 1:
                    allt = np.concatenate(samples[cfg])
                    rows.append({"model": alg, "cell": cfg[1], "hidden": cfg[2],
                                 "median_ms": float(np.median(allt) * 1e3),
                                 "p99_ms": float(np.percentile(allt, 99) * 1e3),
                                 "steps": int(allt.size)})
                    name = f"{alg:>6} {cfg[1]:>6} n={cfg[2]:<4}"
                    print(f"{name} median {rows[-1]['median_ms']:7.3f} ms   "
                          f"p99 {rows[-1]['p99_ms']:7.3f} ms", flush=True)
    meta = {"input_size": M, "output_size": P, "max_delay": N_HOR,
            "tbptt_steps": args.tbptt_steps, "learn": args.learn,
            "optimizer": args.optimizer, "dtype": args.dtype,
            "blas_threads": args.blas_threads or "default",
            "machine": platform.processor() or platform.machine(),
            "reference_ms": 6.8, "loadavg_end": list(os.getloadavg())}
    print(f"load average at the end: {meta['loadavg_end']}  (other processes share the cores)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
