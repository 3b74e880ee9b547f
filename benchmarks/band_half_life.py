"""Fixed split-conformal bands with recency-weighted calibration: coverage per weight half-life.

One command per data set::

    python benchmarks/band_half_life.py --vessel ais-nyharbor                   # where the half-life is chosen
    python benchmarks/band_half_life.py --ais-files ais-nyharbor-mc --extmarker # the files it is checked on
    python benchmarks/band_half_life.py --calibration-fraction 1 --half-lives 0.5   # every training origin calibrates

Each model is fitted once (AIS: the first half of each vessel's reports, ``backtest`` with
``refit="once"``, and with ``--vessel`` the vessel model as in ``benchmarks/ais_bands.py``;
ExtMarker 10 Hz: samples [0, 300) of each of the 9 sequences, then every test origin
[600, end) forecast without learning). Its calibration pairs are kept, and the fixed 90 % bands
are recomputed from them for every half-life (a share of each series' calibration span,
``tsgate.estimators.conformal.recency_weights``; "equal" = unweighted split conformal), with the
package's own ``Calibrator``. Printed per model: the coverage of the test targets per horizon
(east/north, or every ExtMarker coordinate, pooled), its range over horizons, and the coverage
of the position radius (mean over horizons, then per horizon). The "equal" rows are the
coverage the package gives (the ``refit="once"`` tables of ``benchmarks/intervals.py``, the
coverage ``benchmarks/ais_bands.py`` prints). ``--calibration-fraction`` replaces the share of
each series' newest training origins that calibrates (the package's 0.2).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tsgate  # noqa: E402
from tsgate.adapters.extmarker import extmarker_split, load_extmarker  # noqa: E402
from tsgate.datasets import load_dataset  # noqa: E402
from tsgate.estimators.base import BaseForecaster  # noqa: E402
from tsgate.estimators.intervals import Calibrator  # noqa: E402
from tsgate.evaluation import backtest  # noqa: E402

LEVEL = 90.0
AIS_HORIZONS = ["1min", "5min", "15min", "30min"]

#: calibration pairs of each fit, by model class (filled while a fit calibrates)
RECORDED: dict[str, tuple[Calibrator, tuple]] = {}
_fitting: list[str] = []


def _record() -> None:
    """Keep the calibrator and calibration set of every fit (by the class of the fitted model)."""
    real_fit, real_cal = BaseForecaster.fit, Calibrator.calibrate

    def fit(self, *a, **k):
        _fitting.append(type(self).__name__)
        try:
            return real_fit(self, *a, **k)
        finally:
            _fitting.pop()

    def calibrate(self, *a, **k):
        if _fitting:
            RECORDED[_fitting[-1]] = (self, a)
        return real_cal(self, *a, **k)

    BaseForecaster.fit, Calibrator.calibrate = fit, calibrate


def bands_for(cal: Calibrator, pairs: tuple, half_life: float | None) -> np.ndarray:
    """[H, U] the fixed 90 % bands of a refit of ``cal`` on ``pairs`` with ``half_life``."""
    new = Calibrator(cal.targets, cal.groups, cal.n_horizons, (LEVEL,), cal.leads, half_life)
    new.calibrate(*pairs)
    return new.q[0]


def ais_scores(name: str) -> dict[str, tuple[np.ndarray, np.ndarray, tuple]]:
    """Per model: test scores per coordinate [P, H, 2] and radius [P, H, 1] (NaN where not scored),
    and the calibration (calibrator, pairs) of its fit."""
    data = load_dataset(name)
    models = {
        "persistence": tsgate.PersistenceForecaster(),
        "dead reckoning": tsgate.DeadReckoningForecaster(method="two_points"),
        "linear AR": tsgate.LinearARForecaster(window=6, alpha=1e-3, max_gap="10min"),
        "online linear (RLS)": tsgate.OnlineLinearForecaster(method="rls", shl=6, lam=0.999, max_gap="10min"),
    }
    res = backtest(models, data, horizons=AIS_HORIZONS, train=0.5, refit="once", max_gap="10min",
                   position_groups=[("east_m", "north_m")], level=[LEVEL], progress=False)
    f = res.forecasts[res.forecasts["scored"]]
    out = {}
    for model, g in f.groupby("model", sort=False):
        err = g["truth"] - g["forecast"]
        if not np.isfinite(err).any():  # a model that failed on this file (a failure row)
            continue
        e = g.assign(err=err).set_index(["series", "origin_time", "target", "horizon"])["err"].unstack(["target", "horizon"])
        e = e.reindex(columns=pd.MultiIndex.from_product([["east_m", "north_m"], AIS_HORIZONS]))
        d = e.to_numpy().reshape(len(e), 2, len(AIS_HORIZONS)).transpose(0, 2, 1)  # [P, H, 2]
        out[model] = (np.abs(d), np.hypot(d[..., 0], d[..., 1])[..., None], RECORDED[type(models[model]).__name__])
    return out


def extmarker_scores(hs: list[str]) -> tuple[dict, dict]:
    """Per model and sequence: test scores per coordinate [P, H, 9] and per marker [P, H, 3], and
    the calibration (calibrator, pairs) of its fit."""
    n_tr, n_val = extmarker_split("10hz")
    scores: dict = {}
    fits: dict = {}
    for seq in range(1, 10):
        s = load_extmarker(seq, "10hz")
        train, _, test = s.split(train=n_tr, val=n_val)
        w = tsgate.make_windows(s, 1, hs, targets="optional")
        pos = {t: i for i, t in enumerate(np.round(w.origin_time, 6))}
        models = {
            "persistence": tsgate.PersistenceForecaster(horizons=hs),
            "linear AR": tsgate.LinearARForecaster(window=5, alpha=1.0, horizons=hs),
            "online linear (RLS)": tsgate.OnlineLinearForecaster(method="rls", shl=15, lam=0.999, horizons=hs),
            "analog (default)": tsgate.PretrainedAnalogForecaster(horizons=hs),
        }
        for name, est in models.items():
            est.fit(train)
            fits[(name, seq)] = RECORDED[type(est).__name__]
            fc = est.forecast(s, origins=test.time_seconds(), level=LEVEL)
            y = w.y[[pos[t] for t in np.round(fc.origin_time, 6)]]
            sc = est.calibrator_.scores(fc.values, y)  # [P, H, 9 coordinates + 3 markers]
            scores[(name, seq)] = (sc[..., :9], sc[..., 9:])
        print(f"  ExtMarker seq {seq} fitted", flush=True)
    return scores, fits


def vessel_scores(name: str, horizons: list[str]) -> tuple:
    """The vessel model on ``name`` (as ``benchmarks/ais_bands.py``): test scores per coordinate
    [P, H, 2] and radius [P, H, 1] of the origins after each vessel's training half (NaN elsewhere),
    the east/north unit indices, and the calibration (calibrator, pairs) of its fit."""
    from tsgate.evaluation.origins import split_rows
    from tsgate.vessel import VesselLSTMForecaster

    data = load_dataset(name)
    part = data.take(split_rows(data, 0.5, 0).train)
    last = {g.series_id: float(g.time_s[-1]) for g in part.groups()}
    m = VesselLSTMForecaster(horizons=horizons, seed=0).fit(part)
    fc = m.forecast(data, origins="all")
    w = m._windows(data, "all", targets="optional")  # the same origins, with their truths
    sc = m.calibrator_.scores(fc.values, w.y)
    cut = np.array([last.get(s, np.inf) for s in w.series_ids])[w.series_index]
    sc[w.origin_time <= cut] = np.nan
    units = [m.targets_.index("east_m"), m.targets_.index("north_m")]
    return sc[..., units], sc[..., len(m.targets_):], units, RECORDED["VesselLSTMForecaster"]


def coverage(score: np.ndarray, radius: np.ndarray, q: np.ndarray, units: list[int], radii: list[int]) -> tuple:
    """Covered and scored counts per horizon (coordinates pooled) and covered/scored radii [H, 2]
    of test scores [P, H, len(units)] and radii [P, H, len(radii)] under bands ``q`` [H, U]."""
    ok, r_ok = np.isfinite(score), np.isfinite(radius)
    hit, r_hit = score <= q[None][..., units], radius <= q[None][..., radii]
    return (hit & ok).sum(axis=(0, 2)), ok.sum(axis=(0, 2)), np.c_[(r_hit & r_ok).sum(axis=(0, 2)), r_ok.sum(axis=(0, 2))]


def table(cells: dict, half_lives: list[float | None], horizons: list[str]) -> pd.DataFrame:
    """Rows (model, half-life): coverage % per horizon, min/max over horizons, radius % (mean over
    horizons), then radius % per horizon."""
    rows = []
    for (model, hl), (cov, n, rad) in cells.items():
        pct = 100 * cov / n
        row = {"model": model, "half-life": "equal" if hl is None else f"{hl:g}"}
        row.update({f"{h} %": v for h, v in zip(horizons, pct)})
        row.update({"min %": pct.min(), "max %": pct.max(), "radius %": 100 * np.mean(rad[:, 0] / rad[:, 1])})
        row.update({f"radius {h} %": v for h, v in zip(horizons, 100 * rad[:, 0] / rad[:, 1])})
        rows.append(row)
    return pd.DataFrame(rows).set_index(["model", "half-life"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ais-files", default="ais-nyharbor,ais-virginia", help="bundled AIS files ('' for none)")
    ap.add_argument("--extmarker", action="store_true", help="also ExtMarker 10 Hz, 9 sequences")
    ap.add_argument("--vessel", default="", help="also the vessel model (1/5/15 min) on this bundled AIS file")
    ap.add_argument("--horizons", default=None, help="ExtMarker horizons (default: 100 ms..2.1 s)")
    ap.add_argument("--calibration-fraction", type=float, default=None,
                    help="share of each series' newest training origins that calibrates (default: the package's, 0.2)")
    ap.add_argument("--half-lives", default="2,1,0.5,0.25,0.1", help="weight half-lives, shares of the calibration span")
    a = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    import torch

    torch.set_num_threads(1)
    pd.set_option("display.width", 200)
    _record()
    if a.calibration_fraction is not None:
        from tsgate.estimators import calibration

        calibration.CALIBRATION_FRACTION = a.calibration_fraction
    half_lives: list[float | None] = [None] + [float(v) for v in a.half_lives.split(",") if v]
    for name in [v for v in a.ais_files.split(",") if v]:
        RECORDED.clear()
        cells = {}
        for model, (sc, rad, (cal, pairs)) in ais_scores(name).items():
            for hl in half_lives:
                cells[(model, hl)] = coverage(sc, rad, bands_for(cal, pairs, hl), [0, 1], [2])
        print(f"\n=== {name}: fixed {LEVEL:g} % bands (refit='once'), coverage of the test targets ===")
        print(table(cells, half_lives, AIS_HORIZONS).round(2).to_string(), flush=True)
    if a.vessel:
        hs = ["1min", "5min", "15min"]
        sc, rad, units, (cal, pairs) = vessel_scores(a.vessel, hs)
        radii = list(range(len(cal.targets), cal.n_units))
        cells = {("vessel model", hl): coverage(sc, rad, bands_for(cal, pairs, hl), units, radii) for hl in half_lives}
        print(f"\n=== {a.vessel}: the vessel model's held-out {LEVEL:g} % bands, coverage of the later half ===")
        print(table(cells, half_lives, hs).round(2).to_string(), flush=True)
    if a.extmarker:
        hs = a.horizons.split(",") if a.horizons else [f"{100 * i}ms" for i in range(1, 22)]
        scores, fits = extmarker_scores(hs)
        cells = {}
        for model in dict.fromkeys(m for m, _ in scores):
            for hl in half_lives:
                tot = [0, 0, 0]
                for seq in range(1, 10):
                    sc, rad = scores[(model, seq)]
                    cal, pairs = fits[(model, seq)]
                    c, n, r = coverage(sc, rad, bands_for(cal, pairs, hl), list(range(9)), [9, 10, 11])
                    tot = [tot[0] + c, tot[1] + n, tot[2] + r]
                cells[(model, hl)] = tuple(tot)
        print(f"\n=== ExtMarker 10 Hz, 9 sequences: fixed {LEVEL:g} % bands from the fit on [0, 300), "
              f"coverage of the test targets [600, end) ===")
        tab = table(cells, half_lives, hs)
        print(tab[["min %", "max %", "radius %"] + [f"{h} %" for h in hs[::4]]].round(2).to_string(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
