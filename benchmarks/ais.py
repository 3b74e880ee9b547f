"""AIS benchmark: vessel positions 30 s to 30 min ahead on the bundled files, in metres.

One command::

    python benchmarks/ais.py                          # all three bundled files, both protocols
    python benchmarks/ais.py --files ais-nyharbor-mc --protocols series --seeds 1
    python benchmarks/ais.py --json results.json      # {dataset: {model: {horizon: mean_error_m}}}

It calls :func:`tsgate.evaluation.positions.evaluate_positions`, the function ``tsgate evaluate``
uses on AIS data, so the CLI and this benchmark score the same thing: the strict intersection of
(origin, horizon) pairs over all models, mean Euclidean position error (m). Protocols:
``series`` (default: each vessel's first half trains; the protocol of the published AIS
comparisons) and ``global`` (one time cut at half the file's span: no vessel's training data is
later than any test origin). Models: persistence, dead reckoning (SOG/COG per vessel, else two
points), CTRV, linear AR, ARIMA and the vessel LSTM, once per seed (``--seeds``; the table shows
each seed and their spread). Printed per file and protocol: errors, ratio to the best baseline
(< 1 = better), scored pairs, dropped pairs per model, failures, and the fit/predict seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tsgate.datasets import load_dataset  # noqa: E402
from tsgate.evaluation.positions import AIS_HORIZONS, ais_models, evaluate_positions  # noqa: E402

FILES = ["ais-virginia", "ais-nyharbor", "ais-nyharbor-mc"]


def benchmark_models(horizons: list[str], seeds: list[int], max_gap: str, *, vessel: bool = True, analogs: bool = True,
                     combination: bool = True) -> dict:
    """The benchmark's baselines and, per seed, the vessel LSTM (``vessel LSTM s<seed>``)."""
    models = ais_models(horizons, vessel=False, max_gap=max_gap)
    if vessel:
        from tsgate.vessel import VesselLSTMForecaster

        for s in seeds:
            models[f"vessel LSTM s{s}"] = VesselLSTMForecaster(horizons=list(horizons), seed=s, max_gap=max_gap,
                                                               track_analogs=analogs, combination=combination)
    return models


def run(name: str, protocol: str, seeds: list[int], args: argparse.Namespace) -> dict:
    data = load_dataset(name)
    models = benchmark_models(args.horizons, seeds, args.max_gap, vessel=not args.no_vessel, analogs=not args.no_analogs,
                              combination=not args.no_combination)
    t0 = time.perf_counter()
    r = evaluate_positions(models, data, horizons=args.horizons, train=0.5, stride=args.stride, max_gap=args.max_gap,
                           cut=protocol, n_jobs=args.n_jobs)
    wall = time.perf_counter() - t0
    err = r.errors.copy()
    seed_rows = [m for m in err.index if m.startswith("vessel LSTM s")]
    if len(seed_rows) > 1:
        preds = r.result.arrays["preds"]
        org, scored = r.result.arrays["origins"], r.result.arrays["scored"]
        ens = np.mean([preds[m] for m in seed_rows], axis=0)
        d = np.linalg.norm(ens[:, :, :2] - org["y"][:, :, :2], axis=2)
        err.loc["vessel LSTM ensemble"] = [d[scored[:, k], k].mean() for k in range(d.shape[1])]
    base = [b for b in err.index if b in r.result.baselines and b != "persistence"]
    ratio = err.div(err.loc[base].min(axis=0), axis=1)
    pd.set_option("display.width", 160)
    print(f"\n=== {name}, protocol {protocol}: {data.n_series} vessels; wall {wall:.0f} s")
    print("scored pairs per horizon:", r.pairs.to_dict(), "; horizons left out (no training window):", r.dropped_horizons)
    print("mean position error (m):")
    print(err.round(1).to_string())
    print("ratio to the best baseline (dead reckoning, CTRV, linear AR, ARIMA):")
    print(ratio.round(3).to_string())
    if seed_rows:
        sr = ratio.loc[seed_rows]
        print("vessel LSTM seeds: mean ratio", sr.mean().round(3).to_dict(), "spread (max-min)", (sr.max() - sr.min()).round(3).to_dict())
        for m in seed_rows:
            rep = (r.result.info.get("fit_report", {}).get(m) or [{}])[-1]
            if "choice" in rep:
                print(f"{m} forecast per horizon (chosen on validation; α of the correction):",
                      {h: f"{c} ({rep['alpha'][h]:.1f})" if c.endswith("correction") else c for h, c in rep["choice"].items()})
            comb = rep.get("combination")
            if comb:
                print(f"{m} combination (cross-fit / single validation error m, SE; weights where used):")
                for h, used in comb["used"].items():
                    w = {k: v for k, v in comb["weights"].get(h, {}).items() if v > 0}
                    print(f"  {h}: {comb['cross_fit_error_m'].get(h)} / {comb['single_error_m'].get(h)} m, "
                          f"SE {comb['se_m'].get(h)}; {used}; {w}")
    print("pairs with a truth but no forecast (removed from every score), per model:", r.dropped_pairs)
    if len(r.failures):
        print("failures/warnings:", r.failures.groupby(["model", "kind", "error"]).size().to_dict())
    timing = pd.DataFrame(r.result.info["timing_s"]).T.round(1)
    print("seconds (fit, predict):", {m: (v["fit_s"], v["predict_s"]) for m, v in timing.iterrows()})
    return {m: {h: (None if not np.isfinite(v) else round(float(v), 2)) for h, v in row.items()} for m, row in err.iterrows()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", default=",".join(FILES), help="comma-separated bundled AIS data sets")
    ap.add_argument("--protocols", default="series,global", help="series, global or both (comma-separated)")
    ap.add_argument("--horizons", default=",".join(AIS_HORIZONS), help="comma-separated durations")
    ap.add_argument("--seeds", default="0,1,2", help="vessel LSTM seeds (comma-separated)")
    ap.add_argument("--no-vessel", action="store_true", help="baselines only")
    ap.add_argument("--no-analogs", action="store_true", help="the vessel model without its track-analog base")
    ap.add_argument("--no-combination", action="store_true",
                    help="the vessel model choosing one candidate per horizon (no forecast combination)")
    ap.add_argument("--stride", type=int, default=3, help="every k-th test report of a vessel is an origin")
    ap.add_argument("--max-gap", default="10min", help="score a target only if its bracketing reports are this close")
    ap.add_argument("--n-jobs", type=int, default=1, help="processes for the per-vessel models")
    ap.add_argument("--json", type=Path, default=None, help="write {dataset: {model: {horizon: mean_error_m}}} here")
    args = ap.parse_args(argv)
    args.horizons = [h.strip() for h in args.horizons.split(",") if h.strip()]
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    out: dict = {}
    for name in [f.strip() for f in args.files.split(",") if f.strip()]:
        for protocol in [p.strip() for p in args.protocols.split(",") if p.strip()]:
            key = name if protocol == "series" else f"{name} (global cut)"
            out[key] = run(name, protocol, seeds, args)
    if args.json:
        from tsgate.fileio import write_text

        write_text(args.json, json.dumps(out, indent=1) + "\n")  # atomic: a killed run leaves the old file
        print(f"\nwritten: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
