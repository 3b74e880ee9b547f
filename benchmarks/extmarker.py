"""The published respiratory-motion protocol on ExtMarker, with tsgate's online models and baselines.

Per sequence (a model per sequence, learning online within it): train on the first part, choose
hyperparameters on the validation part, report the test part ([0,300)/[300,600)/[600,end) at
10 Hz; 100/100 at 3.33 Hz; 900/900 at 30 Hz). Horizons from 0.1 s to 2.1 s (at 3.33 Hz the
multiples of 0.3 s). Online models forecast every horizon at each new sample, then learn the
targets revealed at that sample (prequential): forecasts on validation and test are made by
models that keep learning. The offline linear regression is fitted on the training part only.

Prints, per frequency, one table: MAE, RMSE, max error (mm, per-marker 3-D Euclidean error),
nRMSE and jitter (mm), averaged over horizons and sequences, next to the published nRMSE; the
per-horizon nRMSE curve; and the per-step cost (forecast + update) median and p99 in ms.

    python benchmarks/extmarker.py --quick                # ~2-4 min: 3 sequences at 10 Hz
    python benchmarks/extmarker.py                        # all 9 sequences x 3 rates
    python benchmarks/extmarker.py --rates 10hz --seeds 3 --out results.csv
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd

from tsgate.adapters.extmarker import extmarker_split, load_extmarker
from tsgate.evaluation import metrics as M
from tsgate.data.windows import make_windows

PUBLISHED = {"3.33hz": ("SnAp-1", 0.335), "10hz": ("SnAp-1", 0.157), "30hz": ("UORO", 0.086)}
RATE_HZ = {"3.33hz": 10 / 3, "10hz": 10.0, "30hz": 30.0}
GROUPS = [(0, 3, 6), (1, 4, 7), (2, 5, 8)]  # x1,x2,x3,y1,y2,y3,z1,z2,z3 → markers 1..3


def horizons(rate: str) -> list[str]:
    step = 0.3 if rate == "3.33hz" else 0.1
    n = int(round(2.1 / step))
    return [f"{round(step * (i + 1) * 1000)}ms" for i in range(n)]


def grid(method: str, rate: str, quick: bool) -> list[dict[str, Any]]:
    hz = RATE_HZ[rate]
    shl = sorted({max(3, int(round(hz * s))) for s in ((1.5, 3.0) if not quick else (3.0,))})
    if method == "linear-ols":
        # ~270 lag features on 300 training samples is underdetermined: short windows and ridge
        wins = sorted({2, max(3, int(round(hz * 0.5))), max(3, int(round(hz * 1.5)))})
        return [{"window": w_, "alpha": al} for w_ in wins for al in (0.0, 1.0, 30.0)]
    if method in ("rls",):
        return [{"shl": s, "lam": lam} for s in shl for lam in ((1.0, 0.999) if not quick else (0.999,))]
    if method == "nlms":
        return [{"shl": s, "mu": mu} for s in shl for mu in ((0.1, 0.5) if not quick else (0.3,))]
    if method in ("uoro-rnn", "snap1-rnn"):
        lrs = (0.005, 0.01, 0.02) if not quick else (0.01, 0.02)
        return [{"shl": s, "lr": lr, "hidden_size": h} for s in shl for lr in lrs for h in ((64,) if quick else (40, 64))]
    if method == "tbptt-lstm":
        return [{"shl": s, "lr": lr, "hidden_size": 64} for s in shl for lr in ((0.01, 0.02) if not quick else (0.02,))]
    if method == "gated-wmc":
        return [{"window": s, "online_lr": lr} for s in shl for lr in ((0.01, 0.03) if not quick else (0.02,))]
    if method == "persistence":
        return [{}]
    raise ValueError(method)


def build(method: str, cfg: dict[str, Any], hs: list[str], seed: int) -> Any:
    from tsgate import baselines as B
    from tsgate.training.gated import GatedLSTMForecaster
    from tsgate.online.estimators import OnlineLinearForecaster, OnlineRNNForecaster

    if method == "linear-ols":
        return B.LinearARForecaster(horizons=hs, **cfg)
    if method == "persistence":
        return B.PersistenceForecaster(horizons=hs)
    if method == "rls":
        return OnlineLinearForecaster(method="rls", horizons=hs, **cfg)
    if method == "nlms":
        return OnlineLinearForecaster(method="nlms", horizons=hs, **cfg)
    if method == "uoro-rnn":
        return OnlineRNNForecaster(cell="rnn", online="uoro", horizons=hs, seed=seed, **cfg)
    if method == "snap1-rnn":
        return OnlineRNNForecaster(cell="rnn", online="snap1", horizons=hs, seed=seed, **cfg)
    if method == "tbptt-lstm":
        return OnlineRNNForecaster(cell="lstm", online="tbptt", tbptt_steps=16, horizons=hs, seed=seed, **cfg)
    if method == "gated-wmc":
        return GatedLSTMForecaster(
            cell="wmc", hidden_size=32, horizons=hs, max_epochs=15, patience=3, logger=None, seed=seed,
            online_optimizer="sgd", **cfg,
        )
    raise ValueError(method)


DETERMINISTIC = {"linear-ols", "rls", "nlms", "persistence"}


def run_one(method: str, est: Any, s: Any, n_tr: int, n_val: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forecasts [n_origins, H, 9] at every origin of validation+test, and per-step costs (s)."""
    train, val, test = s.split(train=n_tr, val=n_val)
    if method in ("linear-ols", "persistence"):
        est.fit(train)
        t0 = time.perf_counter()
        fc = est.predict(s, origins="all")
        cost = np.full(len(val) + len(test), (time.perf_counter() - t0) / max(1, len(s)))
    else:
        est.fit(train)
        f1 = est.update(val)
        c1 = getattr(est, "step_seconds_", np.zeros(0))
        f2 = est.update(test)
        c2 = getattr(est, "step_seconds_", np.zeros(0))
        fc = pd.concat([f1, f2], ignore_index=True)
        cost = np.concatenate([c1, c2])
    return fc, cost


def evaluate(fc: pd.DataFrame, s: Any, hs: list[str], rows: np.ndarray) -> dict[str, Any]:
    """Metrics per horizon over origins whose row is in ``rows`` (and whose truth is known)."""
    w = make_windows(s, 1, hs, targets="optional")
    origin_t = w.origin_time
    targets = list(s.targets)
    H = len(hs)
    pred = np.full((len(w), H, len(targets)), np.nan)
    ot = fc["origin_time"].to_numpy(float)
    pos = {t: i for i, t in enumerate(np.round(origin_t, 6))}
    hidx = {h: j for j, h in enumerate(w.horizons)}
    labels = {h.label: j for h, j in hidx.items()}
    vals = fc[targets].to_numpy(float)
    for r, (t, lab) in enumerate(zip(np.round(ot, 6), fc["horizon"].to_numpy())):
        i = pos.get(t)
        if i is not None:
            pred[i, labels[lab]] = vals[r]
    sel = np.isin(w.origin_row, rows)
    per_h = []
    for j in range(H):
        ok = sel & np.isfinite(w.y[:, j]).all(axis=1) & np.isfinite(pred[:, j]).all(axis=1)
        p, y = pred[ok, j], w.y[ok, j]
        per_h.append(
            {
                "mae": M.mae(p, y, GROUPS),
                "rmse": M.rmse(p, y, GROUPS),
                "max": M.max_error(p, y, GROUPS),
                "nrmse": M.nrmse(p, y),
                "jitter": M.jitter(p, GROUPS),
            }
        )
    return {"per_h": per_h, **{k: float(np.mean([d[k] for d in per_h])) for k in per_h[0]}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default="3.33hz,10hz,30hz")
    ap.add_argument("--seqs", default="1-9")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--methods", default="persistence,linear-ols,rls,nlms,uoro-rnn,snap1-rnn,tbptt-lstm,gated-wmc")
    ap.add_argument("--quick", action="store_true", help="3 sequences at 10 Hz, small grids, 1 seed")
    ap.add_argument("--out", default=None, help="CSV of every (rate, sequence, method, config, seed) result")
    a = ap.parse_args()
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    import torch

    torch.set_num_threads(1)  # batch-1 online work: a second thread does not help
    if a.quick:
        a.rates, a.seqs, a.seeds = "10hz", "1-3", 1
    lo, _, hi = a.seqs.partition("-")
    seqs = list(range(int(lo), int(hi or lo) + 1))
    methods = a.methods.split(",")
    rows_out = []
    for rate in a.rates.split(","):
        hs = horizons(rate)
        n_tr, n_val = extmarker_split(rate)
        best_tables = []
        curves = {}
        costs: dict[str, list[float]] = {}
        for seq in seqs:
            s = load_extmarker(seq, rate)
            n = len(s)
            val_rows = np.arange(n_tr, n_tr + n_val)
            test_rows = np.arange(n_tr + n_val, n)
            for method in methods:
                results = []
                seeds = [0] if method in DETERMINISTIC else list(range(a.seeds))
                for cfg in grid(method, rate, a.quick):
                    per_seed = []
                    for seed in seeds:
                        est = build(method, cfg, hs, seed)
                        t0 = time.perf_counter()
                        fc, cost = run_one(method, est, s, n_tr, n_val)
                        el = time.perf_counter() - t0
                        v = evaluate(fc, s, hs, val_rows)
                        te = evaluate(fc, s, hs, test_rows)
                        per_seed.append((v, te, cost))
                        rows_out.append({"rate": rate, "seq": seq, "method": method, "config": str(cfg), "seed": seed,
                                         "val_nrmse": v["nrmse"], **{f"test_{k}": te[k] for k in ("mae", "rmse", "max", "nrmse", "jitter")},
                                         "seconds": el})
                    val_score = np.mean([p[0]["nrmse"] for p in per_seed])
                    results.append((val_score, cfg, per_seed))
                val_score, cfg, per_seed = min(results, key=lambda r: r[0])
                te = {k: float(np.mean([p[1][k] for p in per_seed])) for k in ("mae", "rmse", "max", "nrmse", "jitter")}
                best_tables.append({"seq": seq, "method": method, "config": str(cfg), **te})
                curve = np.mean([[d["nrmse"] for d in p[1]["per_h"]] for p in per_seed], axis=0)
                curves.setdefault(method, []).append(curve)
                costs.setdefault(method, []).extend(np.concatenate([p[2] for p in per_seed]).tolist())
            print(f"  [{rate}] seq {seq} done", flush=True)
        bt = pd.DataFrame(best_tables)
        summary = bt.groupby("method", sort=False)[["mae", "rmse", "max", "nrmse", "jitter"]].mean()
        name, pub = PUBLISHED[rate]
        summary["published_nrmse"] = np.nan
        summary.loc[f"published {name} (Pohl et al.)"] = [np.nan] * 5 + [pub]
        lat = {m: (1e3 * np.median(c), 1e3 * np.quantile(c, 0.99)) for m, c in costs.items() if len(c)}
        summary["step_ms_median"] = [lat.get(m, (np.nan, np.nan))[0] for m in summary.index]
        summary["step_ms_p99"] = [lat.get(m, (np.nan, np.nan))[1] for m in summary.index]
        pd.set_option("display.width", 200)
        print(f"\n=== ExtMarker {rate}: sequences {seqs}, test part, averaged over horizons {hs[0]}..{hs[-1]} "
              f"(MAE/RMSE/max/jitter in mm; hyperparameters chosen on validation nRMSE) ===")
        print(summary.round(4).to_string())
        cv = pd.DataFrame({m: np.mean(c, axis=0) for m, c in curves.items()}, index=hs).T
        print(f"\nnRMSE per horizon ({rate}):")
        print(cv.round(3).to_string())
        lin = cv.loc["linear-ols"] if "linear-ols" in cv.index else None
        if lin is not None:
            long = [h for h in hs if float(h[:-2]) >= 500]
            for m in cv.index:
                if m != "linear-ols":
                    wins = int((cv.loc[m, long] < lin[long]).sum())
                    print(f"  {m}: below linear regression at {wins}/{len(long)} horizons ≥ 0.5 s")
    if a.out:
        pd.DataFrame(rows_out).to_csv(a.out, index=False)


if __name__ == "__main__":
    main()
