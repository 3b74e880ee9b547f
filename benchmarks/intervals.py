"""Coverage of tsgate's prediction intervals on the bundled ExtMarker and AIS data.

One command::

    python benchmarks/intervals.py            # ExtMarker 10 Hz, 9 sequences, 21 horizons; every bundled AIS file
    python benchmarks/intervals.py --quick    # 3 sequences, 4 horizons; AIS NY Harbor only
    python benchmarks/intervals.py --horizons 100ms,500ms,1s,2s --no-gated   # 9 sequences, a horizon subset

ExtMarker (10 Hz, the published split): per sequence a model is fitted on samples [0, 300),
then fed the validation part [300, 600) and the test part [600, end) through ``update``
(forecast at every sample, then learn and score what it reveals). The 90 % bands are
split-conformal from the calibration origins of ``fit`` and adapted online (conformal quantile
tracking); printed: the share of the test targets inside their band, per coordinate (mm) and
per marker (a radius around the predicted 3-D position), pooled over sequences and horizons,
with the range over horizons, the mean width and the Winkler score.

AIS (positions in metres, 1/5/15/30 min ahead), each bundled file on its own: ``backtest`` with
the first half of each vessel's reports for training; ``refit="online"`` (the models keep learning and the bands keep
adapting through the second half) and, for comparison, ``refit="once"`` (fixed split-conformal
bands). Scored: the test targets whose bracketing reports are at most 10 min apart.

Models: persistence, linear AR (ridge), online linear regression (RLS), dead reckoning (AIS),
the default ExtMarker model (the pretrained analog forecaster, default settings), the default
AIS model (the vessel model, ``vessel`` in ``tsgate models``: default settings, seed 0;
``--no-vessel`` leaves it out) and the gated WMC-LSTM with small settings (``--no-gated``
leaves it out). The vessel model runs in a backtest of its own (same split, horizons, max_gap
and level), so the other models' common scoring does not depend on it; it is scored on the
pairs it forecasts, a few more than the others at the start of short tracks.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

import tsgate  # noqa: E402
from tsgate.adapters.extmarker import extmarker_split, load_extmarker  # noqa: E402
from tsgate.datasets import load_dataset  # noqa: E402
from tsgate.estimators.catalog import model_spec  # noqa: E402
from tsgate.evaluation import backtest  # noqa: E402
from tsgate.evaluation.intervals import band_scores, radius_scores  # noqa: E402

AIS_FILES = ("ais-nyharbor", "ais-virginia", "ais-nyharbor-mc")
MARKERS = [("x1", "y1", "z1"), ("x2", "y2", "z2"), ("x3", "y3", "z3")]


def extmarker_models(hs: list[str], quick: bool, gated: bool) -> dict:
    out = {
        "persistence": tsgate.PersistenceForecaster(horizons=hs),
        "linear AR": tsgate.LinearARForecaster(window=5, alpha=1.0, horizons=hs),
        "online linear (RLS)": tsgate.OnlineLinearForecaster(method="rls", shl=15, lam=0.999, horizons=hs),
        "analog (default)": tsgate.PretrainedAnalogForecaster(horizons=hs),
    }
    if gated:
        out["gated WMC"] = tsgate.GatedLSTMForecaster(cell="wmc", hidden_size=16, window=15, max_epochs=4 if quick else 8,
                                                      patience=2, logger=None, seed=0, horizons=hs)
    return out


def extmarker(seqs: list[int], hs: list[str], level: float, quick: bool, gated: bool = True) -> pd.DataFrame:
    n_tr, n_val = extmarker_split("10hz")
    k = 9
    rows = []
    for seq in seqs:
        s = load_extmarker(seq, "10hz")
        train, val, test = s.split(train=n_tr, val=n_val)
        w = tsgate.make_windows(s, 1, hs, targets="optional")
        pos = {t: i for i, t in enumerate(np.round(w.origin_time, 6))}
        for name, est in extmarker_models(hs, quick, gated).items():
            t0 = time.perf_counter()
            est.fit(train)
            est.forecast_and_learn(val, level=level)
            fc = est.forecast_and_learn(test, level=level)
            y = w.y[[pos[t] for t in np.round(fc.origin_time, 6)]]
            lo, hi, radius = fc.bands(level)
            for h, lab in enumerate(hs):
                ok = np.isfinite(y[:, h]).all(axis=1) & np.isfinite(lo[:, h]).all(axis=1)
                b = band_scores(lo[ok, h], hi[ok, h], y[ok, h], level)
                r = [radius_scores(radius[ok, h, g], fc.values[ok, h][:, [s.targets.index(c) for c in m]],
                                   y[ok, h][:, [s.targets.index(c) for c in m]], level) for g, m in enumerate(MARKERS)]
                rows.append({"model": name, "seq": seq, "horizon": lab, "n": int(ok.sum()) * k,
                             "covered": int(b["covered"].sum()), "width": float(b["width"].mean()),
                             "winkler": float(b["winkler"].mean()),
                             "radius_n": int(ok.sum()) * 3, "radius_covered": int(sum(x["covered"].sum() for x in r)),
                             "seconds": time.perf_counter() - t0})
        print(f"  ExtMarker seq {seq} done", flush=True)
    return pd.DataFrame(rows)


def extmarker_table(df: pd.DataFrame) -> pd.DataFrame:
    g = df.groupby("model", sort=False)
    per_h = df.groupby(["model", "horizon"], sort=False)[["covered", "n"]].sum()
    cov_h = (per_h["covered"] / per_h["n"]).groupby(level=0, sort=False)
    return pd.DataFrame({
        "coverage %": 100 * g["covered"].sum() / g["n"].sum(),
        "min over horizons %": 100 * cov_h.min(),
        "max over horizons %": 100 * cov_h.max(),
        "marker radius %": 100 * g["radius_covered"].sum() / g["radius_n"].sum(),
        "mean width mm": g["width"].mean(),
        "Winkler mm": g["winkler"].mean(),
        "targets": g["n"].sum(),
    })


def ais_table(res, level: float, hs: list[str]) -> pd.DataFrame:
    """Coverage per horizon and of the radius, the radius and the scored positions, per model."""
    cov = 100 * res.coverage(level)
    rad = 100 * res.coverage(level, unit="east_m+north_m")
    tab = cov.rename(columns={h: f"{h} %" for h in cov.columns})
    tab["radius %"] = rad["mean"]
    tab["radius m (mean)"] = res.interval_summary("width", level=level, unit="east_m+north_m")["mean"] / 2
    # the mean radius is pulled up by a few huge bands; the median shows the typical one
    f = res.forecasts[res.forecasts["scored"]]
    tab["radius m (median)"] = f.groupby("model", sort=False)[f"radius_{level:g}"].median()
    iv = res.intervals
    n = iv[(iv["metric"] == "coverage") & (iv["unit"] == "east_m+north_m")].pivot_table(
        index="model", columns="horizon", values="n", aggfunc="first")
    tab["positions scored"] = " / ".join(str(int(n[h].max())) if h in n else "0" for h in hs)
    return tab


def ais(name: str, level: float, quick: bool, gated: bool = True, vessel: bool = True) -> dict[str, pd.DataFrame]:
    data = load_dataset(name)
    hs = ["1min", "5min", "15min", "30min"]
    models = {
        "persistence": tsgate.PersistenceForecaster(),
        "dead reckoning": tsgate.DeadReckoningForecaster(method="two_points"),
        "linear AR": tsgate.LinearARForecaster(window=6, alpha=1e-3, max_gap="10min"),
        "online linear (RLS)": tsgate.OnlineLinearForecaster(method="rls", shl=6, lam=0.999, max_gap="10min"),
        "gated WMC": tsgate.GatedLSTMForecaster(cell="wmc", hidden_size=16, window=16, max_epochs=3 if quick else 6,
                                                patience=2, lr=3e-3, logger=None, seed=0, skip="velocity"),
    }
    if not gated:
        del models["gated WMC"]
    # the default AIS model, in a backtest of its own: the common scoring of the others stays as it was
    runs = [models] + ([{"vessel (default)": model_spec("vessel").build(seed=0)}] if vessel else [])
    out = {}
    for refit in ("online", "once"):
        tabs = []
        for group in runs:
            t0 = time.perf_counter()
            res = backtest(group, data, horizons=hs, train=0.5, refit=refit, max_gap="10min",
                           position_groups=[("east_m", "north_m")], level=[level], progress=False)
            tabs.append(ais_table(res, level, hs))
            print(f"  AIS {name} refit={refit} {', '.join(group)} done ({time.perf_counter() - t0:.0f} s, "
                  f"{res.info['n_origins']} origins)", flush=True)
        out[refit] = pd.concat(tabs)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 ExtMarker sequences and 4 horizons; AIS NY Harbor only")
    ap.add_argument("--level", type=float, default=90.0, help="interval level in percent (default 90)")
    ap.add_argument("--seqs", default=None, help="ExtMarker sequences, e.g. 1,4,9 (default: all 9; --quick: 1,2,3)")
    ap.add_argument("--horizons", default=None, help="ExtMarker horizons, e.g. 100ms,1s,2s (default: 100 ms..2.1 s)")
    ap.add_argument("--ais-files", default=None, help="AIS files (default: every bundled one; --quick: ais-nyharbor)")
    ap.add_argument("--no-gated", action="store_true", help="leave out the gated WMC-LSTM")
    ap.add_argument("--no-vessel", action="store_true", help="leave out the vessel model (the default AIS model)")
    ap.add_argument("--skip-ais", action="store_true")
    ap.add_argument("--skip-extmarker", action="store_true")
    a = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    import torch

    torch.set_num_threads(1)
    pd.set_option("display.width", 160)
    lv = a.level
    if not a.skip_extmarker:
        seqs = [int(v) for v in a.seqs.split(",")] if a.seqs else [1, 2, 3] if a.quick else list(range(1, 10))
        hs = (a.horizons.split(",") if a.horizons else ["100ms", "500ms", "1s", "2s"] if a.quick
              else [f"{100 * i}ms" for i in range(1, 22)])
        df = extmarker(seqs, hs, lv, a.quick, not a.no_gated)
        print(f"\n=== ExtMarker 10 Hz, sequences {seqs}, published split, online through validation and test; "
              f"{lv:g} % bands on the test targets, horizons {hs[0]}..{hs[-1]} ===")
        print(extmarker_table(df).round(2).to_string())
        per_h = df.groupby(["model", "horizon"], sort=False)[["covered", "n"]].sum()
        cov = (100 * per_h["covered"] / per_h["n"]).unstack("horizon")[hs]
        print(f"\ncoverage % per horizon (all coordinates of sequences {seqs}):")
        print(cov.round(2).to_string(), flush=True)
    if not a.skip_ais:
        names = a.ais_files.split(",") if a.ais_files else ["ais-nyharbor"] if a.quick else list(AIS_FILES)
        for name in names:
            tabs = ais(name, lv, a.quick, not a.no_gated, not a.no_vessel)
            for refit, tab in tabs.items():
                how = "models and bands keep learning (update)" if refit == "online" else "fixed split-conformal bands"
                print(f"\n=== AIS {name}: test parts, {lv:g} % bands, refit={refit} ({how}); coverage of east/north "
                      f"per horizon, and of the radius around the position ===")
                print(tab.round(2).to_string(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
