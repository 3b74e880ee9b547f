"""Vessel-model prediction bands on the later half of a bundled AIS file: 90 % radius and coverage.

One command::

    python benchmarks/ais_bands.py                         # NY Harbor, horizons 1, 5, 15 min
    python benchmarks/ais_bands.py --file ais-virginia --no-analogs

The vessel model is fitted on each vessel's first half of reports (seed 0), forecasts every
origin with 90 % bands, and is scored on the origins after each vessel's training part: the
median radius of the position band (m) and the share of true positions inside it.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tsgate.datasets import load_dataset  # noqa: E402
from tsgate.evaluation.origins import split_rows  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--file", default="ais-nyharbor", help="a bundled AIS data set")
    ap.add_argument("--horizons", default="1min,5min,15min", help="comma-separated durations")
    ap.add_argument("--level", type=float, default=90.0, help="band level (percent)")
    ap.add_argument("--no-analogs", action="store_true", help="the vessel model without its track-analog base")
    ap.add_argument("--no-combination", action="store_true", help="the vessel model without its forecast combination")
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    from tsgate.vessel import VesselLSTMForecaster

    torch.set_num_threads(1)
    horizons = [h.strip() for h in args.horizons.split(",") if h.strip()]
    data = load_dataset(args.file)
    part = data.take(split_rows(data, 0.5, 0).train)
    last = {g.series_id: float(g.time_s[-1]) for g in part.groups()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = VesselLSTMForecaster(horizons=horizons, seed=0, track_analogs=not args.no_analogs,
                                 combination=not args.no_combination).fit(part)
    fc = m.forecast(data, origins="all", level=args.level)
    w = m._windows(data, "all", targets="optional")  # the same origins, with their truths
    _, _, radius = fc.bands(args.level)
    e, n = m.targets_.index("east_m"), m.targets_.index("north_m")
    err = np.hypot(fc.values[..., e] - w.y[..., e], fc.values[..., n] - w.y[..., n])
    cut = np.array([last.get(s, np.inf) for s in w.series_ids])[w.series_index]
    test = (w.origin_time > cut)[:, None] & np.isfinite(err)
    comb = m.combination_
    used = dict(zip(horizons, comb.used.tolist())) if comb is not None else {}
    print(f"{args.file}: forecast per horizon {dict(zip(horizons, m.choice_))}; combination used {used}")
    for k, h in enumerate(horizons):
        t = test[:, k]
        print(f"{h}: {args.level:g} % radius (median) {np.nanmedian(radius[t, k, 0]):.1f} m, "
              f"coverage on the later half {np.mean(err[t, k] <= radius[t, k, 0]):.3f} ({int(t.sum())} pairs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
