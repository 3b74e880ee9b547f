"""ExtMarker benchmark: the causal tables (markdown) of a results dict, with the headline checks."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["PUBLISHED", "LABELS", "horizons", "markdown"]

# Pohl et al. 2024, mean over 0.1-2.1 s, test part; updated with y(t+h) at time t (non-causal)
PUBLISHED = {"3.33hz": {"SnAp-1": 0.335, "UORO": 0.384}, "10hz": {"SnAp-1": 0.157, "UORO": 0.166, "LMS": 0.314},
             "30hz": {"SnAp-1": 0.0897, "UORO": 0.086}}


def horizons(rate: str) -> list[str]:
    """The scored horizons of a rate: 0.1-2.1 s every 0.1 s (3.33 Hz: 0.3-2.1 s every 0.3 s)."""
    step = 0.3 if rate == "3.33hz" else 0.1
    return [f"{round(step * (i + 1) * 1000)}ms" for i in range(int(round(2.1 / step)))]


LABELS = {
    "persistence": "persistence",
    "ols-paper": "papers' OLS (absolute positions, fitted on the training part)",
    "linear": "tsgate LinearARForecaster (ridge, chosen on validation; fitted once)",
    "linear-online": "online ridge (RLS on every revealed target, 5 s of relative lags)",
    "nlms": "NLMS (5 s of relative lags)",
    "rls": "RLS (papers' inputs, 3 s)",
    "uoro-rnn": "UORO RNN", "snap1-rnn": "SnAp-1 RNN", "rtrl-rnn": "RTRL RNN (8 units)",
    "tbptt-lstm": "streaming TBPTT LSTM", "gated-lstm": "LSTM + online updates",
    "gated-wmc": "WMC-LSTM + online updates", "gated-glstm": "g-LSTM + online updates",
    "analog": "PretrainedAnalogForecaster (network + analogs + RLS stacker)",
}


PATHS = {"stream": "`open_stream().push`", "update": "`update`"}


def _path(v: dict[str, Any]) -> str | None:
    """How a method's step cost was timed (results written before the stream path: ``update``)."""
    if not np.isfinite(v.get("step_ms_median", float("nan"))):
        return None
    return v.get("step_path") or "update"


def _ms(x: float) -> str:
    return "-" if not np.isfinite(x) else f"{x:.2f}"  # "-": not timed (--cost-sequences)


def markdown(results: dict[str, dict[str, Any]], title: str, command: str) -> str:
    lines = [f"# ExtMarker: causal forecasts on tsgate's backtest — {title}", "", f"Command: `{command}`", "",
             "Test parts, causal (refit=\"online\": a target is learned only once observed). nRMSE = mean over",
             "horizons, then over sequences; MAE/RMSE/max/jitter in mm (per-marker 3-D errors); step = the",
             "model's per-sample forecast of every horizon + learning the targets that sample reveals, ms on a",
             "shared 2-core machine (compare ratios, not absolute times); the step column's header names the call",
             "timed: `open_stream().push` (the real-time path) or `update` (one sample per call, DataFrame handling",
             "included).", ""]
    for rate, res in results.items():
        hs = horizons(rate)
        seqs = sorted({q for m in res.values() for q in m["per_sequence"]}, key=int)
        paths = {p for p in map(_path, res.values()) if p}
        timed = "" if not paths else f" ({PATHS.get(next(iter(paths)), '')})" if len(paths) == 1 else " (call per row)"
        lines += [f"## {rate} (sequences {', '.join(seqs)})", "",
                  f"| method | nRMSE | seed spread | MAE | RMSE | max | jitter | step ms median{timed} | p99 |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for m, v in res.items():
            lo, hi = v["seed_spread"]
            spread = "-" if lo == hi else f"{lo:.3f}-{hi:.3f}"
            own = sorted(v["per_sequence"], key=int)
            label = LABELS[m] + ("" if own == seqs else f" (sequences {', '.join(own)} only)")
            if len(paths) > 1 and _path(v):
                label += f" (step: {PATHS.get(_path(v), _path(v))})"
            lines.append(f"| {label} | {v['nrmse']:.3f} | {spread} | {v['mae']:.2f} | {v['rmse']:.2f} | "
                         f"{v['max_error']:.1f} | {v['jitter']:.2f} | {_ms(v['step_ms_median'])} | {_ms(v['step_ms_p99'])} |")
        lines += ["", "nRMSE per horizon:", "", "| method | " + " | ".join(hs) + " |", "|---" * (len(hs) + 1) + "|"]
        for m, v in res.items():
            own = sorted(v["per_sequence"], key=int)
            tag = "" if own == seqs else f" (sequences {', '.join(own)} only)"
            lines.append(f"| {m}{tag} | " + " | ".join(f"{x:.3f}" for x in v["per_horizon"]) + " |")
        lines += ["", "nRMSE per sequence:", "", "| method | " + " | ".join(seqs) + " |", "|---" * (len(seqs) + 1) + "|"]
        for m, v in res.items():
            lines.append(f"| {m} | " + " | ".join(f"{v['per_sequence'][q]:.3f}" if q in v["per_sequence"] else "-"
                                                   for q in seqs) + " |")
        # the ratio only against a linear regression run on the same sequences
        linear = [m for m in ("linear", "linear-online", "ols-paper") if m in res and "analog" in res
                  and set(res[m]["per_sequence"]) == set(res["analog"]["per_sequence"])]
        if "analog" in res and linear:
            bar = min(linear, key=lambda m: res[m]["nrmse"])
            ratio = np.asarray(res["analog"]["per_horizon"]) / np.asarray(res[bar]["per_horizon"])
            lines += ["", f"analog / best linear regression of this run ({bar}): mean {res['analog']['nrmse'] / res[bar]['nrmse']:.3f}; "
                      "per horizon " + ", ".join(f"{x:.3f}" for x in ratio) + "."]
            each = np.min([res[m]["per_horizon"] for m in linear], axis=0)  # the best linear fit per horizon
            lines += ["", _check(hs, np.asarray(res["analog"]["per_horizon"]) / each, ", ".join(linear))]
        pub = ", ".join(f"{k} {x}" for k, x in PUBLISHED[rate].items())
        lines += ["", f"Published ({rate}, all 9 sequences) — **non-causal: weights updated with y(t+h) at time t**: {pub}.", ""]
    return "\n".join(lines) + "\n"


def _check(hs: list[str], ratio: np.ndarray, bar: str) -> str:
    """Issue 10's per-horizon test: ``ratio`` (analog / the linear regressions ``bar``, best per
    horizon) below 1 at every horizon >= 0.3 s and at most 1.05 at 0.1 s."""
    ms = np.array([int(h[:-2]) for h in hs])
    long = ratio[ms >= 300]
    worst = int(np.argmax(long))
    text = (f"analog / the best of {bar} at each horizon: below at every horizon >= 0.3 s: {'yes' if (long < 1).all() else 'NO'} "
            f"(largest ratio {long[worst]:.3f} at {hs[int(np.flatnonzero(ms >= 300)[worst])]})")
    if 100 in ms:
        r = float(ratio[ms == 100][0])
        return text + f"; at 0.1 s ratio {r:.3f}, within 5 %: {'yes' if r <= 1.05 else 'NO'}."
    return text + "; 0.1 s is not a horizon at this rate."
