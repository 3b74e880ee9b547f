"""ExtMarker: the published protocol of Pohl et al. on tsgate's online engines — NON-CAUSAL.

The authors' public code forecasts the sample ``h`` steps ahead and then, in the same time
step, updates the weights with that very target, before it has been observed. This module
drives tsgate's engines (:class:`tsgate.online.OnlineLearner` with SnAp-1 or UORO, and the
authors' plain LMS rule) with that timing to show that the engines are the papers' algorithms:
they reproduce the published 10 Hz figures. Every forecast it makes has seen data up to
``h - 1`` samples in the future, so **nothing here is a forecast a causal user can have**; the
product's estimators never do this (they learn a target only once it is observed), and the
results are written apart from the causal tables, labelled non-causal everywhere.

Protocol (the authors', as coded in their public repositories):

* per sequence and per horizon ``h`` (in samples: 1..21 at 10 Hz, 1..7 at 3.33 Hz, 3, 6, ..., 63
  at 30 Hz) one network, fed the last ``shl`` samples of the 9 coordinates (absolute
  positions, each coordinate normalised by the training part's mean and population std);
* at step ``t``: forecast ``x[t + h]``, then learn ``x[t + h]`` at once (non-causal);
* SGD, gradient clipped at norm 100, initial weights with std 0.02 (LMS: zero weights);
* hyperparameters chosen per horizon on the validation targets, configurations whose
  validation nRMSE is not finite or above ``DIVERGED`` are counted as diverged and skipped;
  scores averaged over the seeds that did not diverge, then over horizons, then sequences;
* nRMSE of the de-normalised forecasts over the targets of the test part (pooled over the 9
  coordinates, the truth centred per coordinate), as in ``tsgate.evaluation.metrics``.

``causal=True`` in :func:`forecast_path` is the same engine with a target learned only at the
step it is observed (the causal counterpart, for comparison and for the tests that show the
label is true).
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from tsgate.adapters.extmarker import extmarker_split, load_extmarker
from tsgate.evaluation.metrics import nrmse
from tsgate.online import OnlineLearner, blas_threads

NON_CAUSAL = "non-causal: weights updated with y(t+h) at time t"
ALGOS = ("snap1", "uoro", "lms")
NAMES = {"snap1": "SnAp-1", "uoro": "UORO", "lms": "LMS"}
# Pohl et al. 2024 (their results notebook), mean over 0.1-2.1 s, test part, non-causal timing
PUBLISHED = {"3.33hz": {"snap1": 0.335, "uoro": 0.384}, "10hz": {"snap1": 0.157, "uoro": 0.166, "lms": 0.314},
             "30hz": {"snap1": 0.0897, "uoro": 0.086}}
DIVERGED = 10.0  # a configuration with a validation nRMSE above this diverged
CLIP = 100.0  # the authors' gradient clipping (Frobenius norm)
SAMPLE_STEP = {"3.33hz": 1, "10hz": 1, "30hz": 3}  # horizon step in samples (0.3 s / 0.1 s / 0.1 s)
N_HORIZONS = {"3.33hz": 7, "10hz": 21, "30hz": 21}
QUICK_HORIZONS = (1, 5, 9, 13, 17, 21)  # 0.1, 0.5, ..., 2.1 s at 10 Hz


def _cfgs(grid: dict[str, Sequence[Any]]) -> list[dict[str, Any]]:
    return [dict(zip(grid, v)) for v in itertools.product(*grid.values())]


# The authors' grids (10 Hz): SHL {12, 24, 36, 48, 60}; RNN learning rate {0.005, 0.01, 0.02},
# hidden size {30, 60, ..., 180}, 50 initialisations; LMS learning rate {1e-4, 2e-4, 5e-4}.
# "reduced" keeps their whole LMS grid and their RNN learning rates with one SHL and one hidden
# size (and the seeds given on the command line); "authors" is their full grid.
_SHL = {"3.33hz": (4, 8, 12, 16, 20), "10hz": (12, 24, 36, 48, 60), "30hz": (36, 72, 108, 144, 180)}
_SHL_REDUCED = {"3.33hz": 8, "10hz": 24, "30hz": 72}


def grid(algo: str, rate: str, which: str = "reduced") -> list[dict[str, Any]]:
    """Hyperparameter grid of ``algo`` at ``rate``: ``"reduced"`` or ``"authors"``."""
    if algo == "lms":
        return _cfgs({"shl": _SHL[rate], "lr": (1e-4, 2e-4, 5e-4)})
    if which == "authors":
        return _cfgs({"shl": _SHL[rate], "lr": (0.005, 0.01, 0.02), "hidden": tuple(range(30, 181, 30))})
    return _cfgs({"shl": (_SHL_REDUCED[rate],), "lr": (0.005, 0.01, 0.02), "hidden": (90,)})


def horizon_steps(rate: str, horizons: str | None) -> list[int]:
    """Horizons in samples: all of the protocol's, or the comma list ``horizons`` of labels such as
    ``100ms`` / ``2.1s`` or of sample counts (``"quick"``: 0.1, 0.5, ..., 2.1 s)."""
    step = SAMPLE_STEP[rate]
    every = [step * (i + 1) for i in range(N_HORIZONS[rate])]
    if not horizons:
        return every
    hz = {"3.33hz": 10 / 3, "10hz": 10.0, "30hz": 30.0}[rate]
    if horizons == "quick":
        if rate != "10hz":
            raise ValueError("--horizons quick is the 10 Hz subset 1,5,9,13,17,21 samples; give a list at other rates")
        return list(QUICK_HORIZONS)
    out = []
    for item in horizons.split(","):
        item = item.strip()
        try:
            if item.endswith("ms"):
                h = int(round(float(item[:-2]) / 1000 * hz))
            elif item.endswith("s"):
                h = int(round(float(item[:-1]) * hz))
            else:
                h = int(item)
        except ValueError:
            raise ValueError(f"--horizons: {item!r} is neither a sample count nor a duration such as 500ms") from None
        if h not in every:
            raise ValueError(f"--horizons: {item!r} ({h} samples) is not one of the protocol's horizons at {rate} "
                             f"(samples {every[0]}..{every[-1]} every {step})")
        out.append(h)
    return out


class _PlainLMS:
    """The authors' LMS: ``W -= lr * clip(-(y - W x) x^T)`` with ``x = [u, 1]``, zero initial weights.

    Same driving interface as :class:`tsgate.online.OnlineLearner` (``step``, ``learn``, ``apply``);
    tsgate's product baselines use the normalised form (:class:`tsgate.online.NLMS`).
    """

    def __init__(self, input_size: int, output_size: int, lr: float, max_delay: int) -> None:
        self.W = np.zeros((output_size, input_size + 1))
        self.lr = lr
        self._inputs: list[np.ndarray] = []
        self._keep = max_delay + 1
        self._grad: np.ndarray | None = None

    def step(self, u: np.ndarray) -> np.ndarray:
        self.apply()
        x = np.append(u, 1.0)
        self._inputs = (self._inputs + [x])[-self._keep:]
        return self.W @ x

    def learn(self, delay: int, target: np.ndarray) -> None:
        x = self._inputs[-1 - delay]
        self._grad = -np.outer(target - self.W @ x, x)

    def apply(self) -> None:
        if self._grad is None:
            return
        norm = float(np.linalg.norm(self._grad))
        g = self._grad * (CLIP / norm) if norm > CLIP else self._grad
        self.W -= self.lr * g
        self._grad = None


def _engine(algo: str, input_size: int, cfg: dict[str, Any], h: int, seed: int, causal: bool) -> Any:
    delay = h if causal else 0
    if algo == "lms":
        return _PlainLMS(input_size, 9, cfg["lr"], delay)
    return OnlineLearner(cell="rnn", input_size=input_size, hidden_size=int(cfg["hidden"]), output_size=9,
                         algorithm=algo, lr=float(cfg["lr"]), clip=CLIP, optimizer="sgd", max_delay=delay,
                         seed=seed, dtype=np.float64, init_std=0.02)


def forecast_path(X: np.ndarray, n_train: int, algo: str, h: int, cfg: dict[str, Any], seed: int = 0,
                  causal: bool = False) -> np.ndarray:
    """Forecasts ``P[i]`` of row ``i`` of ``X`` (mm) made ``h`` samples before (NaN where none).

    ``causal=False`` is the authors' (non-causal) timing: at step ``t`` the forecast of
    ``x[t + h]`` is made and ``x[t + h]`` is learned at once. ``causal=True`` learns ``x[t]`` at
    step ``t``, the target of the forecast made ``h`` steps before (the first time it is known).
    """
    mu = X[:n_train].mean(axis=0)
    sd = X[:n_train].std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    Z = (X - mu) / sd
    shl = int(cfg["shl"])
    n = len(Z)
    P = np.full_like(Z, np.nan)
    eng = _engine(algo, 9 * shl, cfg, h, seed, causal)
    for t in range(shl - 1, n - h):
        P[t + h] = eng.step(Z[t - shl + 1:t + 1].ravel())
        if causal:
            if t - h >= shl - 1:  # x[t] is the target of the forecast made at t - h
                eng.learn(h, Z[t])
        else:
            eng.learn(0, Z[t + h])  # NON-CAUSAL: x[t + h] is not observed at time t
        eng.apply()
    return P * sd + mu


def _score(P: np.ndarray, X: np.ndarray, lo: int, hi: int) -> float:
    p = P[lo:hi]
    return float(nrmse(p, X[lo:hi])) if np.isfinite(p).all() else float("inf")


def run_sequence(seq: int, rate: str, algo: str, hs: Sequence[int], configs: Sequence[dict[str, Any]],
                 seeds: Sequence[int], causal: bool = False, X: np.ndarray | None = None,
                 log: Any = None) -> dict[str, Any]:
    """Per-horizon validation choice and test nRMSE of one sequence (``X``: its values, else loaded)."""
    if X is None:
        X = np.asarray(next(iter(load_extmarker(seq, rate).groups())).values, dtype=np.float64)
    n_tr, n_val = extmarker_split(rate)
    seeds = [0] if algo == "lms" else list(seeds)
    test, chosen, runs, diverged = [], [], 0, 0
    for h in hs:
        best: tuple[float, float, dict[str, Any]] | None = None
        for cfg in configs:
            vals, tests = [], []
            for seed in seeds:
                P = forecast_path(X, n_tr, algo, h, cfg, seed, causal)
                v = _score(P, X, n_tr, n_tr + n_val)
                runs += 1
                if not v <= DIVERGED:
                    diverged += 1
                    continue
                vals.append(v)
                tests.append(_score(P, X, n_tr + n_val, len(X)))
            if vals and (best is None or np.mean(vals) < best[0]):
                best = (float(np.mean(vals)), float(np.mean(tests)), cfg)
        test.append(best[1] if best else float("inf"))
        chosen.append(best[2] if best else None)
    return {"per_horizon": test, "nrmse": float(np.mean(test)), "configs": chosen, "runs": runs, "diverged": diverged}


def run(rate: str, algos: Sequence[str], sequences: Sequence[int], hs: Sequence[int], seeds: Sequence[int],
        which: str = "reduced", printer: Any = print) -> dict[str, Any]:
    """Every ``algo`` on every sequence; returns the JSON block (every key says non-causal)."""
    out: dict[str, Any] = {}
    with blas_threads(1):
        for algo in algos:
            configs = grid(algo, rate, which)
            t0 = time.perf_counter()
            per_seq = {}
            for seq in sequences:
                per_seq[seq] = run_sequence(seq, rate, algo, hs, configs, seeds)
                r = per_seq[seq]
                printer(f"[non-causal {rate}] {NAMES[algo]} seq {seq}: nRMSE {r['nrmse']:.3f} "
                        f"(diverged {r['diverged']}/{r['runs']}, {time.perf_counter() - t0:.0f} s) — {NON_CAUSAL}")
            mean = float(np.mean([r["nrmse"] for r in per_seq.values()]))
            pub = PUBLISHED.get(rate, {}).get(algo)
            out[f"{algo}_non_causal"] = {
                "nrmse_non_causal": mean,
                "per_horizon_non_causal": np.mean([r["per_horizon"] for r in per_seq.values()], axis=0).round(5).tolist(),
                "per_sequence_non_causal": {str(q): round(r["nrmse"], 5) for q, r in per_seq.items()},
                "configs_non_causal": {str(q): r["configs"] for q, r in per_seq.items()},
                "published_non_causal": pub,
                "ratio_to_published_non_causal": None if pub is None else mean / pub,
                "horizons_samples_non_causal": list(hs),
                "grid_non_causal": "authors" if algo == "lms" else which,  # LMS: always their whole grid
                "seeds_non_causal": [0] if algo == "lms" else list(seeds),
                "runs_non_causal": sum(r["runs"] for r in per_seq.values()),
                "diverged_non_causal": sum(r["diverged"] for r in per_seq.values()),
                "seconds_non_causal": time.perf_counter() - t0,
            }
    return out


def _grid_text(algo: str, rate: str, which: str) -> str:
    cfgs = grid(algo, rate, which)
    return ", ".join(f"{k} {'/'.join(str(v) for v in dict.fromkeys(c[k] for c in cfgs))}" for k in cfgs[0])


def markdown(results: dict[str, dict[str, Any]], command: str) -> str:
    """The non-causal section of ``benchmarks/results/extmarker.md``."""
    lines = ["# ExtMarker: the papers' protocol on tsgate's engines — NON-CAUSAL (published timing)", "",
             f"Non-causal command: `{command}`", "",
             f"Non-causal ({NON_CAUSAL.split(': ', 1)[1]}): every forecast has seen up to h-1 future samples.",
             "Non-causal numbers are never comparable with the causal tables above; they show that tsgate's",
             "engines are the papers' algorithms. Non-causal protocol: one network per horizon, absolute inputs",
             "normalised by the training part (non-causal timing), SGD clipped at norm 100 (non-causal timing),",
             "hyperparameters chosen per horizon on the validation targets (non-causal timing).",
             "Non-causal ratio to the published (non-causal) figure: shown only for all 9 sequences.", ""]
    for rate, res in results.items():
        first = next(iter(res.values()))
        hs = first["horizons_samples_non_causal"]
        seqs = list(first["per_sequence_non_causal"])
        lines += [f"## {rate} — non-causal (sequences {', '.join(seqs)}; horizons in samples {', '.join(map(str, hs))})",
                  "",
                  "| method (non-causal) | nRMSE (non-causal) | published (non-causal) | ratio (non-causal) | grid (non-causal) "
                  "| seeds (non-causal) | diverged runs (non-causal) |",
                  "|---|---|---|---|---|---|---|"]
        for key, v in res.items():
            name = NAMES[key.removesuffix("_non_causal")]
            pub = v["published_non_causal"]
            full = len(v["per_sequence_non_causal"]) == 9
            ratio = "-" if pub is None or not full else f"{v['ratio_to_published_non_causal']:.3f}"
            lines.append(f"| {name} (non-causal) | {v['nrmse_non_causal']:.3f} | {pub if pub is not None else '-'} | {ratio} "
                         f"| {v['grid_non_causal']}: {_grid_text(key.removesuffix('_non_causal'), rate, v['grid_non_causal'])} "
                         f"| {','.join(map(str, v['seeds_non_causal']))} "
                         f"| {v['diverged_non_causal']}/{v['runs_non_causal']} |")
        lines += ["", "Non-causal nRMSE per horizon (samples):", "",
                  "| method (non-causal) | " + " | ".join(map(str, hs)) + " |", "|---" * (len(hs) + 1) + "|"]
        for key, v in res.items():
            lines.append(f"| {NAMES[key.removesuffix('_non_causal')]} (non-causal) | "
                         + " | ".join(f"{x:.3f}" for x in v["per_horizon_non_causal"]) + " |")
        lines += ["", "Non-causal nRMSE per sequence:", "",
                  "| method (non-causal) | " + " | ".join(seqs) + " |", "|---" * (len(seqs) + 1) + "|"]
        for key, v in res.items():
            lines.append(f"| {NAMES[key.removesuffix('_non_causal')]} (non-causal) | "
                         + " | ".join(f"{v['per_sequence_non_causal'][q]:.3f}" for q in seqs) + " |")
        lines.append("")
    return "\n".join(lines) + "\n"


SECTION = ("<!-- non-causal section: begin -->", "<!-- non-causal section: end -->")
CAUSAL_SECTION = ("<!-- causal section: begin -->", "<!-- causal section: end -->")


def _between(text: str, markers: tuple[str, str]) -> str | None:
    if markers[0] in text and markers[1] in text:
        return markers[0] + text.split(markers[0], 1)[1].split(markers[1], 1)[0] + markers[1] + "\n"
    return None


def write_section(path: os.PathLike[str] | str, text: str, non_causal: bool) -> None:
    """Write the causal or the non-causal section of ``path``, keeping the other one.

    The causal section comes first; a file without section markers is causal tables only (it is
    replaced by a causal write, kept above a non-causal one). Written to a temporary file and
    renamed, so a killed run leaves the old file whole.
    """
    path = os.fspath(path)
    old = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
    mine, other = (SECTION, CAUSAL_SECTION) if non_causal else (CAUSAL_SECTION, SECTION)
    block = f"{mine[0]}\n{text.rstrip()}\n{mine[1]}\n"
    kept = _between(old, other)
    if kept is None and non_causal and old.strip():
        kept = f"{CAUSAL_SECTION[0]}\n{old.rstrip()}\n{CAUSAL_SECTION[1]}\n"
    parts = [kept, block] if non_causal else [block, kept]
    new = "\n".join(p for p in parts if p)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(new)
    os.replace(tmp, path)
