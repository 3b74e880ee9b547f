"""NON-CAUSAL bounds on 15-30 min AIS forecasts: what forecasters allowed to cheat reach on the bundled files.

One command::

    python benchmarks/ais_oracle.py                                   # NY Harbor and the MarineCadastre hour
    python benchmarks/ais_oracle.py --files ais-virginia --protocols global

NOTHING here is a model or usable forecast. Both "oracles" use the test truths they are scored
on; their errors are lower bounds on what these candidate families can reach on these files, so
a causal model that is meant to beat the best baseline by a margin the oracles do not reach is
asking for more than the candidates hold.

On exactly the scored (origin, horizon) pairs of ``benchmarks/ais.py`` (same models, seed 0,
horizons, stride, max gap, split: :func:`tsgate.evaluation.positions.evaluate_positions`), at
15 and 30 min where scored:

* **oracle combination**: per horizon, the convex combination (weights >= 0, summing to 1,
  :func:`tsgate.vessel.combination.fit_weights`) of every model's forecast (persistence, dead
  reckoning, CTRV, linear AR, ARIMA, the vessel LSTM) with the weights fitted on the scored test
  pairs themselves (the best single member where that is lower still, so it is never worse than
  any member). A lower bound for any fixed blend of these forecasters.
* **oracle analogs**: the vessel model's track-analog forecast (:class:`tsgate.vessel.analogs.AnalogLibrary`,
  its constants unchanged) with a library of every other vessel's complete track in the file,
  its future included (the "finished before the origin" rule dropped); only the query's own
  vessel is left out. Where no other vessel matches, the vessel LSTM's forecast. Says what
  knowing where every other vessel of the day went would buy.
* **per-vessel oracle combination**: the same with weights of its own for every vessel (looser
  still: a vessel with a handful of pairs is nearly interpolated).
* **combined**: the oracle combination with the oracle analog forecast as one more member.

Errors are mean Euclidean position errors (m); ratios are to the best baseline of the same run
(dead reckoning, CTRV, linear AR, ARIMA), as in ``benchmarks/ais.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ais import benchmark_models  # noqa: E402

from tsgate.datasets import load_dataset  # noqa: E402
from tsgate.evaluation.positions import AIS_HORIZONS, evaluate_positions  # noqa: E402

FILES = ["ais-nyharbor", "ais-nyharbor-mc"]
LONG = ("15min", "30min")
BASELINES = ("dead reckoning", "CTRV", "linear AR", "ARIMA")
VESSEL = "vessel LSTM s0"


def mean_error(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean Euclidean error (m) of positions [m, 2] against the truths [m, 2]."""
    return float(np.linalg.norm(pred - truth, axis=1).mean())


def oracle_combination(members: dict[str, np.ndarray], origin: np.ndarray, truth: np.ndarray) -> tuple[dict[str, float], np.ndarray]:
    """Convex weights (name → weight) of the member positions [m, 2] (m) fitted on the truths
    [m, 2] themselves, and the combined positions [m, 2]. The weights are fitted on the
    displacements from ``origin`` [m, 2] (the fit is the same for any origin, the scale is
    better); where a single member's error is lower than the fitted blend's (the fit minimises
    a smoothed error), that member alone."""
    from tsgate.vessel.combination import fit_weights

    names = list(members)
    D = np.stack([members[n] - origin for n in names])
    w = fit_weights(D, truth - origin)
    pos = origin + np.einsum("c,cmj->mj", w, D)
    errs = [mean_error(members[n], truth) for n in names]
    j = int(np.argmin(errs))
    if errs[j] < mean_error(pos, truth):
        w = np.eye(len(names))[j]
        pos = members[names[j]].copy()
    return dict(zip(names, w.tolist())), pos


def per_vessel_combination(members: dict[str, np.ndarray], origin: np.ndarray, truth: np.ndarray,
                           vessel: np.ndarray) -> np.ndarray:
    """[m, 2] the oracle combination with weights of its own for every vessel (a looser bound: a
    vessel with few pairs is nearly interpolated)."""
    out = np.full(truth.shape, np.nan)
    for v in dict.fromkeys(vessel.tolist()):
        sel = vessel == v
        out[sel] = oracle_combination({n: p[sel] for n, p in members.items()}, origin[sel], truth[sel])[1]
    return out


def track_windows(data: Any, horizons: list[str], max_gap: str) -> dict[str, np.ndarray]:
    """Every report of every vessel as an origin: ``series`` (vessel id), ``origin_row`` (row in
    its series), ``time`` (s), ``origin`` and ``velocity`` (east/north m, m/s: the vessel
    model's dead-reckoning velocity, SOG/COG else two-point) and the true positions ``y``
    [n, H, 2] (m; NaN where the target is not bracketed within ``max_gap``)."""
    from tsgate.data.windows import make_windows
    from tsgate.vessel import VesselLSTMForecaster
    from tsgate.vessel.features import step_velocity

    col = VesselLSTMForecaster()._columns(data)  # the vessel model's own column resolution
    w = make_windows(data, 2, horizons, max_gap=max_gap, min_history=1, targets="optional")
    X = w.inputs
    return {"series": X.ids, "origin_row": w.origin_row, "time": X.origin_time.astype(np.float64),
            "origin": np.stack([X.x[:, -1, col.east], X.x[:, -1, col.north]], axis=1),
            "velocity": step_velocity(X, col)[:, -1], "y": np.stack([w.y[:, :, col.east], w.y[:, :, col.north]], axis=2)}


def oracle_library(tracks: dict[str, np.ndarray], vessel: Any) -> Any:
    """The NON-CAUSAL analog library for a query of ``vessel``: every other vessel's origins
    with every known displacement, their future included (library times set to -inf, so the
    "finished before the origin" rule never bites)."""
    from tsgate.vessel.analogs import AnalogLibrary

    other = tracks["series"] != vessel
    y, origin = tracks["y"][other], tracks["origin"][other]
    lib = AnalogLibrary.build(origin, tracks["velocity"][other], y - origin[:, None, :], np.isfinite(y).all(axis=2),
                              np.unique(tracks["series"][other], return_inverse=True)[1].reshape(-1),
                              tracks["time"][other])
    lib.time[:] = -np.inf
    return lib


def oracle_analogs(tracks: dict[str, np.ndarray], query: np.ndarray, lead_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[q, H, 2] oracle analog positions (m; NaN where no other vessel matches) and [q, H] the
    number of vessels matched, for the rows ``query`` [q] of ``tracks`` at lead times ``lead_s`` [H]."""
    out = np.full((len(query), len(lead_s), 2), np.nan)
    count = np.zeros((len(query), len(lead_s)), np.int64)
    ids = tracks["series"][query]
    for v in dict.fromkeys(ids.tolist()):
        sel = np.flatnonzero(ids == v)
        rows = query[sel]
        lib = oracle_library(tracks, v)
        disp, count[sel] = lib.predict(tracks["origin"][rows], tracks["velocity"][rows],
                                       np.repeat(lead_s[None, :], len(rows), axis=0), tracks["time"][rows])
        out[sel] = tracks["origin"][rows][:, None, :] + disp
    return out, count


def run(name: str, protocol: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    from tsgate.data.horizons import parse_horizons

    data = load_dataset(name)
    models = benchmark_models(list(AIS_HORIZONS), [0], args.max_gap)
    t0 = time.perf_counter()
    r = evaluate_positions(models, data, horizons=AIS_HORIZONS, train=0.5, stride=args.stride, max_gap=args.max_gap,
                           cut=protocol)
    labels = r.settings["horizons"]
    org, preds, scored = r.result.arrays["origins"], r.result.arrays["preds"], r.result.arrays["scored"]
    pi = [data.targets.index(c) for c in ("east_m", "north_m")]
    tracks = track_windows(data, labels, args.max_gap)
    where = {(s, int(row)): i for i, (s, row) in enumerate(zip(tracks["series"].tolist(), tracks["origin_row"]))}
    rows = np.array([where[(s, int(row))] for s, row in zip(org["series"].tolist(), org["origin_row"])], np.int64)
    lead = np.array([h.value for h in parse_horizons(labels)], np.float64)
    out = []
    for lab in [h for h in LONG if h in labels]:
        k = labels.index(lab)
        m = scored[:, k]
        truth = org["y"][m, k][:, pi]
        if not np.allclose(truth, tracks["y"][rows[m], k], atol=1e-6):
            raise RuntimeError(f"{name}: the track windows' truths at {lab} do not match the benchmark's")
        members = {nm: p[m, k][:, pi] for nm, p in preds.items() if nm in r.errors.index}
        err = {nm: mean_error(p, truth) for nm, p in members.items()}
        best = min(BASELINES, key=lambda b: err.get(b, np.inf))
        origin = tracks["origin"][rows[m]]
        w, comb = oracle_combination(members, origin, truth)
        per_vessel = per_vessel_combination(members, origin, truth, org["series"][m])
        ana, count = oracle_analogs(tracks, rows[m], lead[k : k + 1])
        ana, matched = ana[:, 0], count[:, 0] > 0
        matched &= np.isfinite(ana).all(axis=1)
        ana = np.where(matched[:, None], ana, members[VESSEL])
        w2, both = oracle_combination({**members, "oracle analogs": ana}, origin, truth)
        b = err[best]
        row = {"file": name, "protocol": protocol, "horizon": lab, "pairs": int(m.sum()),
               "vessels": int(len(np.unique(org["series"][m]))), "best_baseline": best, "best_m": b,
               "vessel_m": err[VESSEL], "comb_m": mean_error(comb, truth), "per_vessel_m": mean_error(per_vessel, truth),
               "analog_m": mean_error(ana, truth),
               "matched": float(matched.mean()), "both_m": mean_error(both, truth),
               # where an other vessel matched: the analogs' own error against the vessel LSTM's there
               "analog_matched_m": mean_error(ana[matched], truth[matched]) if matched.any() else float("nan"),
               "vessel_matched_m": mean_error(members[VESSEL][matched], truth[matched]) if matched.any() else float("nan"),
               "comb_weights": {n: round(v, 3) for n, v in w.items() if v > 0},
               "both_weights": {n: round(v, 3) for n, v in w2.items() if v > 0},
               "members_m": {n: round(v, 1) for n, v in err.items()}}
        out.append(row)
        print(f"{name} {protocol} {lab}: {row['pairs']} pairs, {row['vessels']} vessels; members (m) {row['members_m']}; "
              f"oracle weights {row['comb_weights']}; with analogs {row['both_weights']}; on the matched pairs analogs "
              f"{row['analog_matched_m']:.1f} m, vessel LSTM {row['vessel_matched_m']:.1f} m", flush=True)
    print(f"  ({time.perf_counter() - t0:.0f} s)", flush=True)
    return out


def table(rows: list[dict[str, Any]]) -> str:
    """The results as a Markdown table (ratios to the best baseline, errors in m)."""
    head = ("| file | protocol | horizon | pairs (vessels) | best baseline (m) | vessel model (m, ratio) | "
            "oracle combination (m, ratio) | per-vessel oracle combination (m, ratio) | "
            "oracle analogs (m, ratio, matched) | matched pairs: analogs / vessel model (m) | combined (m, ratio) |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        b = r["best_m"]
        lines.append(f"| {r['file']} | {r['protocol']} | {r['horizon']} | {r['pairs']} ({r['vessels']}) | "
                     f"{r['best_baseline']} {b:.0f} | {r['vessel_m']:.0f}, {r['vessel_m'] / b:.3f} | "
                     f"{r['comb_m']:.0f}, {r['comb_m'] / b:.3f} | {r['per_vessel_m']:.0f}, {r['per_vessel_m'] / b:.3f} | "
                     f"{r['analog_m']:.0f}, {r['analog_m'] / b:.3f}, "
                     f"{100 * r['matched']:.0f} % | {r['analog_matched_m']:.0f} / {r['vessel_matched_m']:.0f} | "
                     f"{r['both_m']:.0f}, {r['both_m'] / b:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", default=",".join(FILES), help="comma-separated bundled AIS data sets")
    ap.add_argument("--protocols", default="series,global", help="series, global or both (comma-separated)")
    ap.add_argument("--stride", type=int, default=3, help="as benchmarks/ais.py")
    ap.add_argument("--max-gap", default="10min", help="as benchmarks/ais.py")
    ap.add_argument("--json", type=Path, default=None, help="write the table's rows here")
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    print("NON-CAUSAL: the oracles below are fitted on, or look at, the test truths; bounds, never forecasts.")
    rows: list[dict[str, Any]] = []
    for name in [f.strip() for f in args.files.split(",") if f.strip()]:
        for protocol in [p.strip() for p in args.protocols.split(",") if p.strip()]:
            rows += run(name, protocol, args)
    print()
    print(table(rows))
    if args.json:
        from tsgate.fileio import write_text

        write_text(args.json, json.dumps(rows, indent=1) + "\n")
        print(f"\nwritten: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
