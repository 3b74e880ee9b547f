"""ExtMarker respiratory motion: every causal forecaster on tsgate's own backtest.

Per sequence and rate (a model per sequence, learning online within it), with the published
split (10 Hz: rows [0,300) train, [300,600) validation, [600,end) test; 3.33 Hz: 100/100;
30 Hz: 900/900) and horizons 0.1-2.1 s (3.33 Hz: 0.3-2.1 s):

1. **validation**: every configuration of a method's grid (``GRIDS``, small and documented
   below) is backtested on the first train+validation rows, scoring the validation part only;
   the configuration with the lowest nRMSE (mean over horizons and seeds) is kept;
2. **test**: the kept configuration is backtested on the whole sequence with
   ``tsgate.evaluation.backtest(refit="online")`` (forward only: each model forecasts from a
   new sample, then learns the targets that sample reveals; it learns through the validation
   part; nothing before the test part is scored). Offline models (``refit="once"``) are fitted
   on the training part only;
3. **cost**: the kept configuration, fitted on the training part, streams the validation part
   one sample at a time through ``open_stream().push`` (the real-time path: the forecast of every
   horizon, then learning the targets the sample reveals), and the time per push (ms) is
   recorded (``extmarker_cost.py``; ``--cost-only`` re-times a stored run's methods).

Metrics (the dataset README): per-marker 3-D errors for MAE, RMSE and max error (mm), nRMSE
over the 9 coordinates with the truth centred per coordinate over the test part, jitter = mean
distance between consecutive forecasts of a marker (mm). Tables average over horizons and then
over sequences; stochastic methods run ``--seeds`` seeds and the spread over seeds is shown.

The published figures of Pohl et al. are NOT causal (their code learns y(t+h) at time t, before
it is observed) and are shown apart, labelled so. ``--protocol published`` reproduces them on
tsgate's engines with that non-causal timing (``extmarker_published.py``); it writes its own
section of the results file and its own JSON key, never the causal tables.

    python benchmarks/extmarker.py --quick            # 10 Hz, sequences 1-3, main methods
    python benchmarks/extmarker.py                    # all 9 sequences x 3 rates, every method
    python benchmarks/extmarker.py --rates 10hz --sequences 2,5 --methods persistence,linear-online --json out.json
    python benchmarks/extmarker.py --merge a.json b.json --json ab.json   # one method's runs on disjoint sequences joined
    python benchmarks/extmarker.py --cost-only ab.json --cost-sequences 2,8 --cost-steps 200   # re-time the per-step cost
    python benchmarks/extmarker.py --render ab.json   # the tables of a stored run
    python benchmarks/extmarker.py --protocol published --rates 10hz --seeds 1   # NON-CAUSAL reproduction
    python benchmarks/extmarker.py --protocol published --rates 10hz --horizons quick --sequences 2
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import extmarker_published as published
from extmarker_cost import merge_runs, retime, stream_cost
from extmarker_tables import LABELS, PUBLISHED, horizons, markdown  # noqa: F401 (the benchmark's API)
from tsgate.adapters.extmarker import extmarker_split, load_extmarker
from tsgate.evaluation.backtest import backtest

RATES = {"3.33hz": 10 / 3, "10hz": 10.0, "30hz": 30.0}
GROUPS = [("x1", "y1", "z1"), ("x2", "y2", "z2"), ("x3", "y3", "z3")]  # markers 1..3
METRICS = ("nrmse", "mae", "rmse", "max_error", "jitter")
QUICK_METHODS = ("persistence", "ols-paper", "linear", "linear-online", "nlms", "snap1-rnn", "analog")
RESULTS = Path(__file__).resolve().parent / "results" / "extmarker.md"


def _lags(rate: str, seconds: float) -> tuple[int, int]:
    """(number of lags incl. the origin, lag step in samples) for lags 0.1 s apart (0.3 s at 3.33 Hz)."""
    step = 3 if rate == "30hz" else 1
    dt = step / RATES[rate]
    return int(round(seconds / dt)) + 1, step


# ---------------------------------------------------------------- methods
# name -> (refit, stochastic, grid(rate, quick) -> configs, build(cfg, hs, seed, rate) -> estimator)
def _linear_online(kind: str) -> Callable[..., Any]:
    def build(cfg: dict[str, Any], hs: list[str], seed: int, rate: str) -> Any:
        from tsgate.online.estimators import OnlineLinearForecaster

        shl, step = _lags(rate, cfg.pop("seconds"))
        return OnlineLinearForecaster(method=kind, horizons=hs, shl=shl, lag_step=step, **cfg)
    return build


def _ols_paper(cfg: dict[str, Any], hs: list[str], seed: int, rate: str) -> Any:
    # the papers' OLS: absolute positions of the last SHL samples + a bias, fitted once on the
    # training part. RLS with a negligible ridge and no forgetting is exactly that least-squares
    # fit (inputs: relative lags + level span the absolute positions), frozen by refit="once".
    from tsgate.online.estimators import OnlineLinearForecaster

    return OnlineLinearForecaster(method="rls", horizons=hs, shl=int(cfg["shl"]), ridge=1e-6, lam=1.0,
                                  use_dt=False, level=True)


def _linear(cfg: dict[str, Any], hs: list[str], seed: int, rate: str) -> Any:
    from tsgate.baselines import LinearARForecaster

    return LinearARForecaster(horizons=hs, lag_step=_lags(rate, 1.0)[1], **cfg)


def _persistence(cfg: dict[str, Any], hs: list[str], seed: int, rate: str) -> Any:
    from tsgate.baselines import PersistenceForecaster

    return PersistenceForecaster(horizons=hs)


def _rnn(cell: str, online: str) -> Callable[..., Any]:
    def build(cfg: dict[str, Any], hs: list[str], seed: int, rate: str) -> Any:
        from tsgate.online.estimators import OnlineRNNForecaster

        shl = _lags(rate, cfg.pop("seconds"))[0]
        return OnlineRNNForecaster(cell=cell, online=online, horizons=hs, shl=shl, seed=seed, **cfg)
    return build


def _gated(cell: str) -> Callable[..., Any]:
    def build(cfg: dict[str, Any], hs: list[str], seed: int, rate: str) -> Any:
        from tsgate.training.gated import GatedLSTMForecaster

        window = _lags(rate, cfg.pop("seconds"))[0]
        return GatedLSTMForecaster(cell=cell, hidden_size=32, window=window, horizons=hs, max_epochs=15, patience=3,
                                   logger=None, seed=seed, online="window", online_optimizer="sgd", **cfg)
    return build


def _analog(cfg: dict[str, Any], hs: list[str], seed: int, rate: str) -> Any:
    from tsgate.online.analog import PretrainedAnalogForecaster

    return PretrainedAnalogForecaster(horizons=hs, **cfg)


def grid(method: str, quick: bool) -> list[dict[str, Any]]:
    """The documented hyperparameter grid of a method (``quick``: its first entries)."""
    g: dict[str, list[dict[str, Any]]] = {
        "persistence": [{}],
        "ols-paper": [{"shl": 12}, {"shl": 30}, {"shl": 60}],
        "linear": [{}],  # window, ridge penalty and Δt chosen internally on the training part's tail
        # ridge in units of each coordinate's training std: strong, or near-still coordinates' noise is fitted
        "linear-online": [{"seconds": 5.0, "ridge": r, "level": False, "use_dt": False} for r in (1e4, 1e3, 1e5)],
        "nlms": [{"seconds": 5.0, "mu": mu, "level": False, "use_dt": False} for mu in (0.03, 0.1)],
        "rls": [{"seconds": 3.0, "lam": lam} for lam in (0.999, 1.0)],
        "uoro-rnn": [{"seconds": 3.0, "lr": lr, "hidden_size": 32} for lr in (0.01, 0.02)],
        "snap1-rnn": [{"seconds": 3.0, "lr": lr, "hidden_size": 32} for lr in (0.01, 0.02)],
        "rtrl-rnn": [{"seconds": 3.0, "lr": lr, "hidden_size": 8} for lr in (0.01, 0.02)],
        "tbptt-lstm": [{"seconds": 3.0, "lr": lr, "hidden_size": 32, "tbptt_steps": 16} for lr in (0.01, 0.02)],
        "gated-lstm": [{"seconds": 3.0, "online_lr": lr} for lr in (0.01, 0.03)],
        "gated-wmc": [{"seconds": 3.0, "online_lr": lr} for lr in (0.01, 0.03)],
        "gated-glstm": [{"seconds": 3.0, "online_lr": lr} for lr in (0.01, 0.03)],
        "analog": [{"stacker_prior": p} for p in (3000.0, 30000.0, 300.0)],
    }
    out = g[method]
    return out[:2] if quick and method not in ("ols-paper",) else out


METHODS: dict[str, tuple[str, bool, Callable[..., Any]]] = {
    "persistence": ("once", False, _persistence),
    "ols-paper": ("once", False, _ols_paper),
    "linear": ("once", False, _linear),
    "linear-online": ("online", False, _linear_online("rls")),
    "nlms": ("online", False, _linear_online("nlms")),
    "rls": ("online", False, _linear_online("rls")),
    "uoro-rnn": ("online", True, _rnn("rnn", "uoro")),
    "snap1-rnn": ("online", True, _rnn("rnn", "snap1")),
    "rtrl-rnn": ("online", True, _rnn("rnn", "rtrl")),
    "tbptt-lstm": ("online", True, _rnn("lstm", "tbptt")),
    "gated-lstm": ("online", True, _gated("lstm")),
    "gated-wmc": ("online", True, _gated("wmc")),
    "gated-glstm": ("online", True, _gated("glstm")),
    "analog": ("online", False, _analog),
}
# ---------------------------------------------------------------- one method on one sequence
def _scores(result: Any, name: str) -> dict[str, list[float]]:
    m = result.metrics
    m = m[(m["level"] == "pooled") & (m["model"] == name)]
    return {k: [float(m[(m["metric"] == k) & (m["horizon"] == h)]["value"].iloc[0]) for h in result.horizons]
            for k in METRICS}


def _build(method: str, cfg: dict[str, Any], hs: list[str], seed: int, rate: str) -> Any:
    return METHODS[method][2](dict(cfg), hs, seed, rate)


def run_method(method: str, rate: str, seq: int, seeds: int, quick: bool, cost_steps: int) -> dict[str, Any]:
    refit, stochastic, _ = METHODS[method]
    hs = horizons(rate)
    s = load_extmarker(seq, rate)
    n_tr, n_val = extmarker_split(rate)
    seed_list = list(range(seeds)) if stochastic else [0]
    kw = dict(horizons=hs, refit=refit, position_groups=GROUPS, progress=False)
    configs = grid(method, quick)
    best = 0
    if len(configs) > 1:
        head = s.take(np.arange(n_tr + n_val))
        models = {f"{i}/{sd}": _build(method, c, hs, sd, rate) for i, c in enumerate(configs) for sd in seed_list}
        r = backtest(models, head, train=n_tr, val=0, common=False, **kw)
        val = [np.mean([np.mean(_scores(r, f"{i}/{sd}")["nrmse"]) for sd in seed_list]) for i in range(len(configs))]
        best = int(np.nanargmin(val))
    cfg = configs[best]
    models = {f"s{sd}": _build(method, cfg, hs, sd, rate) for sd in seed_list}
    t0 = time.perf_counter()
    r = backtest(models, s, train=n_tr, val=n_val, **kw)
    seconds = time.perf_counter() - t0
    per_seed = [_scores(r, f"s{sd}") for sd in seed_list]
    cost = (stream_cost({method: _build(method, cfg, hs, 0, rate)}, s, n_tr, n_val, cost_steps)[method]
            if cost_steps else {"ms": [], "path": None})
    return {"config": cfg, "per_seed": per_seed, "step_ms": cost["ms"], "step_path": cost["path"], "seconds": seconds,
            "failures": [str(f) for f in getattr(r, "failures", [])]}


# ---------------------------------------------------------------- tables
def aggregate(runs: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Mean over sequences (per seed, then over seeds) of every metric, per horizon."""
    seqs = sorted(runs)
    n_seeds = len(runs[seqs[0]]["per_seed"])
    per_seed = {k: np.array([[runs[q]["per_seed"][sd][k] for q in seqs] for sd in range(n_seeds)]).mean(axis=1)
                for k in METRICS}  # [seed, H]
    cost = np.concatenate([runs[q]["step_ms"] for q in seqs]) if seqs else np.zeros(0)
    paths = sorted({runs[q]["step_path"] for q in seqs if runs[q].get("step_path")})
    seed_means = per_seed["nrmse"].mean(axis=1)
    return {
        "nrmse": float(seed_means.mean()),
        "per_horizon": per_seed["nrmse"].mean(axis=0).round(5).tolist(),
        **{k: float(per_seed[k].mean()) for k in METRICS if k != "nrmse"},
        "seed_spread": [float(seed_means.min()), float(seed_means.max())],
        "per_sequence": {str(q): float(np.mean([np.mean(p["nrmse"]) for p in runs[q]["per_seed"]])) for q in seqs},
        "per_sequence_seeds": {str(q): [float(np.mean(p["nrmse"])) for p in runs[q]["per_seed"]] for q in seqs},
        "configs": {str(q): runs[q]["config"] for q in seqs},
        "step_ms_median": float(np.median(cost)) if cost.size else float("nan"),
        "step_ms_p99": float(np.quantile(cost, 0.99)) if cost.size else float("nan"),
        "step_path": "+".join(paths) or None,
    }


def _ints(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def _rate_sequences(ap: argparse.ArgumentParser, text: str, rate: str) -> list[int]:
    """Sequences of ``rate`` from ``--sequences`` (one list for every rate, or ``rate=list;...``)."""
    if "=" not in text:
        spec = text
    else:
        per = dict(part.split("=", 1) for part in text.split(";") if part.strip())
        bad = [r for r in per if r not in RATES]
        if bad:
            ap.error(f"--sequences: unknown rate {bad}; choose from {list(RATES)}")
        spec = per.get(rate, "1-9")
    try:
        seqs = _ints(spec)
    except ValueError:
        ap.error(f"--sequences: {spec!r} is not a list such as 1-9 or 2,5,7")
    if not seqs or any(q < 1 or q > 9 for q in seqs):
        ap.error(f"--sequences: {spec!r}: the bundled sequences are 1 to 9")
    return seqs


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default="3.33hz,10hz,30hz")
    ap.add_argument("--sequences", default="1-9",
                    help="e.g. 1-9 or 2,5,7; per rate: '3.33hz=1-9;10hz=1-9;30hz=2,8' (a rate not named: 1-9)")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--seeds", type=int, default=2, help="seeds of the stochastic methods")
    ap.add_argument("--quick", action="store_true", help="10 Hz, sequences 1-3, the main methods, 1 seed, 2 configs "
                    "(published protocol: 10 Hz, sequences 1-3, horizons 1,5,...,21 samples, 1 seed)")
    ap.add_argument("--cost-steps", type=int, default=200, help="validation samples timed per run")
    ap.add_argument("--cost-sequences", default=None,
                    help="time the per-step cost on these sequences only, e.g. 2,8 (default: every sequence run)")
    ap.add_argument("--json", default=None, help="write {rate: {method: {nrmse, per_horizon, step_ms_*}}} here")
    ap.add_argument("--out", default=str(RESULTS), help="markdown tables (default benchmarks/results/extmarker.md)")
    ap.add_argument("--render", default=None, metavar="JSON",
                    help="write the tables of a --json file of an earlier (possibly stopped) run, causal or "
                         "non-causal (published protocol) into their own section of --out; runs nothing")
    ap.add_argument("--cost-only", default=None, metavar="JSON",
                    help="re-time the per-step cost of the methods stored in a causal --json file (their chosen "
                         "configs, --cost-sequences, default 2,8; --cost-steps samples each, one method after the "
                         "other, the order reversed on every second sequence) and write the costs back into that "
                         "file; scores unchanged")
    ap.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                    help="merge causal --json files into --json (rates and methods are joined; a method run on "
                         "disjoint sequences in two files is combined into one entry over all of them); runs nothing")
    ap.add_argument("--protocol", choices=("causal", "published"), default="causal",
                    help="published: the papers' NON-CAUSAL update timing (SnAp-1, UORO, LMS; own section and JSON key)")
    ap.add_argument("--horizons", default=None,
                    help="published protocol only: horizons in samples or durations, e.g. 1,5,9 or 100ms,2.1s; "
                         "'quick' = 1,5,9,13,17,21 at 10 Hz (default: all)")
    ap.add_argument("--published-grid", choices=("reduced", "authors"), default="reduced",
                    help="published protocol: the authors' full grid or the reduced one (one SHL and hidden size)")
    a = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    cmd = "python benchmarks/extmarker.py " + " ".join(argv if argv is not None else sys.argv[1:])
    if a.protocol == "published":
        if a.quick:
            a.rates, a.sequences, a.seeds, a.horizons = "10hz", "1-3", 1, a.horizons or "quick"
        _published(ap, a, cmd.strip())
        return
    if a.render:
        try:
            stored = json.loads(Path(a.render).read_text())
        except (OSError, ValueError) as e:
            ap.error(f"--render: cannot read {a.render}: {e}")
        if isinstance(stored, dict) and "published_protocol_non_causal" in stored:
            text = published.markdown(stored["published_protocol_non_causal"], stored.get("command_non_causal", cmd))
            published.write_section(a.out, text, non_causal=True)
            return
        stored = _read_causal(ap, a.render, "--render")
        title = f"rates {', '.join(stored)} (from {Path(a.render).name})"
        published.write_section(a.out, markdown(stored, title, cmd.strip()), non_causal=False)
        return
    if a.cost_only:
        _cost_only(ap, a)
        return
    if a.merge:
        if not a.json:
            ap.error("--merge: name the merged file with --json")
        try:
            merged = merge_runs([(path, _read_causal(ap, path, "--merge")) for path in a.merge])
        except ValueError as e:
            ap.error(f"--merge: {e}")
        _write_json(a.json, merged)
        return
    if a.horizons is not None:
        ap.error("--horizons: the causal benchmark always scores every horizon of 0.1-2.1 s; "
                 "use it with --protocol published")
    import torch

    torch.set_num_threads(1)  # batch-1 online work: a second thread does not help
    if a.quick:
        a.rates, a.sequences, a.seeds = "10hz", "1-3", 1
        if a.methods == ",".join(METHODS):
            a.methods = ",".join(QUICK_METHODS)
    methods = a.methods.split(",")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        ap.error(f"--methods: unknown {unknown}; choose from {list(METHODS)}")
    for rate in a.rates.split(","):  # every argument checked before hours of work
        if rate not in RATES:
            ap.error(f"--rates: unknown {rate!r}; choose from {list(RATES)}")
        _rate_sequences(ap, a.sequences, rate)
    results: dict[str, dict[str, Any]] = {}
    for rate in a.rates.split(","):
        results[rate] = {}
        for method in methods:
            runs = {}
            for seq in _rate_sequences(ap, a.sequences, rate):
                timed = a.cost_sequences is None or seq in _ints(a.cost_sequences)
                runs[seq] = run_method(method, rate, seq, a.seeds, a.quick, a.cost_steps if timed else 0)
                print(f"[{rate}] {method} seq {seq}: nRMSE {np.mean([np.mean(p['nrmse']) for p in runs[seq]['per_seed']]):.3f} "
                      f"({runs[seq]['seconds']:.0f} s, config {runs[seq]['config']})", flush=True)
            results[rate][method] = aggregate(runs)
            if a.json:  # what has run so far survives a run stopped later
                _write_json(a.json, results)
    title = "quick subset (10 Hz, sequences 1-3, 1 seed)" if a.quick else f"rates {a.rates}, sequences {a.sequences}"
    text = markdown(results, title, cmd.strip())
    print(text)
    published.write_section(a.out, text, non_causal=False)
    if a.json:
        _write_json(a.json, results)


def _write_json(path: str, data: dict[str, Any]) -> None:
    tmp = Path(f"{path}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def _read_causal(ap: argparse.ArgumentParser, path: str, option: str) -> dict[str, Any]:
    try:
        stored = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        ap.error(f"{option}: cannot read {path}: {e}")
    if not isinstance(stored, dict) or not all(r in RATES and isinstance(v, dict) for r, v in stored.items()):
        ap.error(f"{option}: {path} is not a causal --json file ({{rate: {{method: ...}}}})")
    return stored


def _cost_only(ap: argparse.ArgumentParser, a: argparse.Namespace) -> None:
    """``--cost-only``: per-step cost of stored methods on the stream path, written back into the file."""
    import torch

    torch.set_num_threads(1)
    stored = _read_causal(ap, a.cost_only, "--cost-only")
    rates = [r for r in a.rates.split(",") if r in stored]
    if not rates:
        ap.error(f"--cost-only: none of --rates {a.rates} is in {a.cost_only} ({', '.join(stored)})")
    try:
        seqs = _ints(a.cost_sequences or "2,8")
    except ValueError:
        ap.error(f"--cost-sequences: {a.cost_sequences!r} is not a list such as 2,8")
    chosen = None if a.methods == ",".join(METHODS) else a.methods.split(",")
    unknown = [m for m in chosen or () if m not in METHODS]
    if unknown:
        ap.error(f"--methods: unknown {unknown}; choose from {list(METHODS)}")
    retime(stored, rates, seqs, chosen, lambda m, cfg, rate: _build(m, cfg, horizons(rate), 0, rate), a.cost_steps,
           printer=lambda line: print(line, flush=True))
    _write_json(a.cost_only, stored)


def _published(ap: argparse.ArgumentParser, a: argparse.Namespace, cmd: str) -> None:
    """``--protocol published``: the NON-CAUSAL reproduction, written apart from the causal tables."""
    algos = list(published.ALGOS) if a.methods == ",".join(METHODS) else a.methods.split(",")
    bad = [m for m in algos if m not in published.ALGOS]
    if bad:
        ap.error(f"--methods: {bad} not in the published (non-causal) protocol; choose from {list(published.ALGOS)}")
    plan = {}
    for rate in a.rates.split(","):
        if rate not in RATES:
            ap.error(f"--rates: unknown {rate!r}; choose from {list(RATES)}")
        try:
            plan[rate] = (published.horizon_steps(rate, a.horizons), _rate_sequences(ap, a.sequences, rate))
        except ValueError as e:
            ap.error(str(e))
    results = {rate: published.run(rate, algos, seqs, hs, list(range(a.seeds)), a.published_grid,
                                   printer=lambda line: print(line, flush=True)) for rate, (hs, seqs) in plan.items()}
    text = published.markdown(results, cmd)
    print(text)
    published.write_section(a.out, text, non_causal=True)
    if a.json:
        _write_json(a.json, {"published_protocol_non_causal": results, "command_non_causal": cmd})


if __name__ == "__main__":
    main()
