"""ExtMarker benchmark: per-step cost on the real-time stream path, and combining stored runs.

:func:`stream_cost` times what a live user pays per sample: ``open_stream().push`` (the forecast
of every horizon, then learning the targets the sample reveals). :func:`retime` re-times the
methods of a stored results file with their chosen configurations (``extmarker.py --cost-only``);
:func:`merge` joins runs of one method on disjoint sequences (``extmarker.py --merge``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import numpy as np

from tsgate.adapters.extmarker import extmarker_split, load_extmarker

__all__ = ["stream_cost", "retime", "merge", "merge_runs"]


def stream_cost(models: dict[str, Any], s: Any, n_tr: int, n_val: int, n_steps: int,
                reverse: bool = False) -> dict[str, dict[str, Any]]:
    """Per-step cost (ms) of each model, fitted on the training part, streaming validation samples.

    The real-time path: ``open_stream()`` and one ``push`` per sample, the call a live user makes
    (forecast of every horizon, then learning the targets that sample reveals). Each model streams
    the samples in one pass of its own, as a live user runs one model (pushing every model the
    same sample in turn lets a large model evict the others' caches and inflates their cost);
    ``reverse`` times the models in reverse order, so that alternating it between sequences
    spreads slow phases of a shared machine over them. A model without ``open_stream`` is timed
    per ``update`` of one sample. Returns per model ``ms``, ``path`` ("stream" or "update"),
    ``forecasts`` (steps that forecast every horizon) and ``learned`` (steps that learned revealed
    targets; 0 for models that do not learn online).
    """
    rows = np.arange(len(s))
    frame = s.take(rows[n_tr:min(n_tr + n_val, n_tr + n_steps)]).to_frame()
    out: dict[str, dict[str, Any]] = {}
    for name in (reversed(list(models)) if reverse else list(models)):
        est = models[name]
        est.fit(s.take(rows[:n_tr]))
        out[name] = {"ms": [], "path": "update", "forecasts": 0, "learned": 0}
        with ExitStack() as stack:
            live = stack.enter_context(est.open_stream()) if hasattr(est, "open_stream") else None
            if live is not None:
                out[name]["path"] = "stream"
                sid = live.default_series()
                times = [live.seconds_of(x) for x in frame["time"]]
                values = frame[list(live.targets + live.covariates)].to_numpy(dtype=np.float64)
            for i in range(len(frame)):
                if live is not None:
                    t0 = time.perf_counter()
                    step = live.push(sid, times[i], values[i])
                    dt = time.perf_counter() - t0
                    full = step is not None and step.values is not None and step.values.shape[0] == len(live.horizons)
                    learned = step is not None and step.learned > 0
                else:
                    one = s.take(rows[n_tr + i:n_tr + i + 1])
                    t0 = time.perf_counter()
                    fc = est.update(one)
                    dt = time.perf_counter() - t0
                    full, learned = len(fc) > 0, False  # update does not say what it learned
                out[name]["ms"].append(1e3 * dt)
                out[name]["forecasts"] += int(full)
                out[name]["learned"] += int(learned)
    return {name: out[name] for name in models}


def retime(stored: dict[str, Any], rates: list[str], seqs: list[int], methods: list[str] | None,
           build: Callable[[str, dict[str, Any], str], Any], steps: int,
           printer: Callable[[str], None] = print) -> None:
    """Per-step cost of the methods stored in a causal results dict, written into it.

    Per rate, the methods (``None``: every stored one) are built by ``build(method, config,
    rate)`` with the configuration chosen on each sequence of ``seqs`` and timed together by
    :func:`stream_cost` on ``steps`` validation samples (the order of the models reversed on every
    second sequence); scores are left as they are.
    """
    for rate in rates:
        names = [m for m in stored[rate] if methods is None or m in methods]
        n_tr, n_val = extmarker_split(rate)
        samples: dict[str, list[float]] = {m: [] for m in names}
        info: dict[str, dict[str, Any]] = {m: {"sequences": [], "forecasts": 0, "learned": 0, "path": set()} for m in names}
        for n, seq in enumerate(seqs):
            models = {m: build(m, stored[rate][m]["configs"][str(seq)], rate)
                      for m in names if str(seq) in stored[rate][m]["configs"]}
            if not models:
                continue
            got = stream_cost(models, load_extmarker(seq, rate), n_tr, n_val, steps, reverse=n % 2 == 1)
            for m, g in got.items():
                samples[m] += g["ms"]
                info[m]["sequences"].append(seq)
                info[m]["forecasts"] += g["forecasts"]
                info[m]["learned"] += g["learned"]
                info[m]["path"].add(g["path"])
        for m in names:
            ms = np.asarray(samples[m])
            if not ms.size:
                continue
            v = stored[rate][m]
            v["step_ms_median"], v["step_ms_p99"] = float(np.median(ms)), float(np.quantile(ms, 0.99))
            v["step_path"] = "+".join(sorted(info[m]["path"]))
            v["step_timed"] = {"sequences": info[m]["sequences"], "steps": int(ms.size),
                               "full_forecasts": info[m]["forecasts"], "learning_steps": info[m]["learned"]}
            printer(f"[{rate}] {m}: step {v['step_ms_median']:.3f} ms median, {v['step_ms_p99']:.3f} ms p99 "
                    f"({v['step_path']}, {ms.size} steps on sequences {info[m]['sequences']}, "
                    f"{info[m]['forecasts']} full forecasts, {info[m]['learned']} learning steps)")


def merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """One method's aggregates over the sequences of ``a`` and of ``b`` (disjoint sets, same seeds).

    Every table entry is a mean over sequences, so the union is the mean weighted by sequence
    counts; the seed spread is recomputed from the per-seed nRMSE of each sequence (runs with
    one seed need none). The step cost is ``a``'s where it was timed, else ``b``'s.
    """
    qa, qb = set(a["per_sequence"]), set(b["per_sequence"])
    if qa & qb:
        raise ValueError(f"sequences {sorted(qa & qb, key=int)} are in both results; merge disjoint runs only")
    na, nb = len(qa), len(qb)
    seeds = {q: v.get("per_sequence_seeds", {}).get(q) for v in (a, b) for q in v["per_sequence"]}
    widths = {len(s) for s in seeds.values() if s is not None}
    single = a["seed_spread"][0] == a["seed_spread"][1] and b["seed_spread"][0] == b["seed_spread"][1]
    if len(widths) > 1 or (None in seeds.values() and not single):
        raise ValueError("the runs differ in seeds, or a run of several seeds lacks per-sequence seed scores")
    out = dict(a)
    for k in ("nrmse", "mae", "rmse", "max_error", "jitter"):
        out[k] = (na * a[k] + nb * b[k]) / (na + nb)
    out["per_horizon"] = ((na * np.asarray(a["per_horizon"]) + nb * np.asarray(b["per_horizon"])) / (na + nb)).round(5).tolist()
    order = lambda d: dict(sorted(d.items(), key=lambda kv: int(kv[0])))  # noqa: E731
    out["per_sequence"] = order({**a["per_sequence"], **b["per_sequence"]})
    out["configs"] = order({**a["configs"], **b["configs"]})
    if None in seeds.values():
        out.pop("per_sequence_seeds", None)
        out["seed_spread"] = [out["nrmse"], out["nrmse"]]
    else:
        out["per_sequence_seeds"] = order(seeds)
        means = np.asarray(list(seeds.values())).mean(axis=0)
        out["seed_spread"] = [float(means.min()), float(means.max())]
    if not np.isfinite(a.get("step_ms_median", float("nan"))):
        for k in ("step_ms_median", "step_ms_p99", "step_path", "step_timed"):
            if k in b:
                out[k] = b[k]
    return out


def merge_runs(files: list[tuple[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Causal results of several files ((name, {rate: {method: ...}}) pairs) as one: rates and
    methods joined, a method run on disjoint sequences in two files combined by :func:`merge`."""
    merged: dict[str, dict[str, Any]] = {}
    for name, results in files:
        for rate, res in results.items():
            into = merged.setdefault(rate, {})
            for m, v in res.items():
                try:
                    into[m] = merge(into[m], v) if m in into else v
                except ValueError as e:
                    raise ValueError(f"{name}, {rate} {m}: {e}") from None
    return merged
