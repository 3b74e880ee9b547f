"""AIS benchmark: vessel position forecasts 1, 5, 15 and 30 min ahead on the bundled tracks.

One command::

    python benchmarks/ais.py            # both data sets (Virginia Beach + NY Harbor), a few minutes on a laptop CPU
    python benchmarks/ais.py --quick    # NY Harbor only, every 10th origin (well under a minute)

Protocol: every vessel (MMSI) is a series, voyages (gaps > 30 min) are segments; the first half
of each vessel's reports trains, every ``--stride``-th report of the second half is a forecast
origin (rolling origin, forward in time only, ``refit="once"``: models condition on the reports
up to each origin without refitting). The truth at t + h is interpolated between the two reports
bracketing it, and only scored when they are at most ``--max-gap`` apart. All models are scored
on the same (origin, horizon) pairs. Printed: mean position error (Euclidean, metres) per
horizon and model, and each model's error divided by dead reckoning's (< 1 = better).

The bundled files carry no SOG/COG, so dead reckoning uses the last two positions
(``method="two_points"``); with real SOG/COG covariates use ``method="sog_cog"``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tsgate.baselines import (  # noqa: E402
    ARIMAForecaster,
    DeadReckoningForecaster,
    LinearARForecaster,
    PersistenceForecaster,
)
from tsgate.evaluation import backtest, write_report  # noqa: E402
from tsgate.data.series import IrregularSeries  # noqa: E402

HORIZONS = ["1min", "5min", "15min", "30min"]

# ==============================================================================================
# Settings of GatedLSTMForecaster on this benchmark. ``None`` leaves the LSTM out unless
# ``--lstm`` is given (then its defaults are used); a dict of constructor parameters includes it
# whenever the class is importable. ``horizons`` is set by the backtest.
LSTM_SETTINGS: dict | None = {
    "gated WMC": {"cell": "wmc", "hidden_size": 32, "window": 16, "max_epochs": 12, "patience": 3,
                  "lr": 3e-3, "logger": None, "seed": 0},
    "gated LSTM": {"cell": "lstm", "hidden_size": 32, "window": 16, "max_epochs": 12, "patience": 3,
                   "lr": 3e-3, "logger": None, "seed": 0},
    # dead reckoning from the last two reports plus a learned residual
    "gated LSTM+DR": {"cell": "lstm", "hidden_size": 32, "window": 16, "max_epochs": 12, "patience": 3,
                      "lr": 3e-3, "logger": None, "seed": 0, "skip": "velocity"},
    "gated WMC+DR": {"cell": "wmc", "hidden_size": 32, "window": 16, "max_epochs": 12, "patience": 3,
                     "lr": 3e-3, "logger": None, "seed": 0, "skip": "velocity"},
}
# ==============================================================================================


def load(names: list[str]) -> IrregularSeries:
    """The bundled AIS data sets as one IrregularSeries (no MMSI is in both files)."""
    from tsgate.datasets import load_dataset

    parts = [load_dataset(n) for n in names]
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    # each file has its own local projection; errors are differences, so mixing them is fine
    frame = pd.concat([p.frame for p in parts], ignore_index=True)
    return IrregularSeries(frame, targets=first.targets, covariates=first.covariates, static=first.static,
                           time_kind=first.time_kind, units=first.units, source="+".join(names))


def models(args: argparse.Namespace) -> dict:
    out = {
        "dead reckoning": DeadReckoningForecaster(method="two_points"),
        "persistence": PersistenceForecaster(),
        "linear AR": LinearARForecaster(window=6, alpha=1e-3, max_gap=args.max_gap),
        "ARIMA": ARIMAForecaster(order=(2, 1, 0), window=30, max_points=1500),
    }
    if args.lstm or LSTM_SETTINGS is not None:
        try:
            from tsgate.training.gated import GatedLSTMForecaster
        except ImportError as exc:
            print(f"(gated LSTM left out: {exc})", file=sys.stderr)
        else:
            for name, params in (LSTM_SETTINGS or {"gated LSTM": {}}).items():
                out[name] = GatedLSTMForecaster(**params)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="NY Harbor only, every 10th origin")
    ap.add_argument("--stride", type=int, default=None, help="use every k-th test report as an origin (default 3; 10 with --quick)")
    ap.add_argument("--max-gap", default="10min", help="score a target only if its bracketing reports are this close")
    ap.add_argument("--n-jobs", type=int, default=2, help="processes for the per-vessel models")
    ap.add_argument("--lstm", action="store_true", help="include GatedLSTMForecaster (default settings unless LSTM_SETTINGS)")
    ap.add_argument("--report", type=Path, default=None, help="also write a full report (tables, plots, HTML) here")
    args = ap.parse_args(argv)
    names = ["ais-nyharbor"] if args.quick else ["ais-virginia", "ais-nyharbor"]
    stride = args.stride or (10 if args.quick else 3)

    t0 = time.perf_counter()
    data = load(names)
    print(f"data: {', '.join(names)}: {data.n_series} vessels, {len(data)} reports "
          f"(load {time.perf_counter() - t0:.1f} s)")
    t0 = time.perf_counter()
    res = backtest(models(args), data, horizons=HORIZONS, train=0.5, refit="once", stride=stride,
                   max_gap=args.max_gap, position_groups=[("east_m", "north_m")], n_jobs=args.n_jobs, progress=True)
    wall = time.perf_counter() - t0

    table = res.summary("mae")
    ratio = table.div(table.loc["dead reckoning"], axis=1)
    n = res.metrics[(res.metrics["level"] == "pooled") & (res.metrics["metric"] == "mae")]
    n = n.pivot_table(index="model", columns="horizon", values="n").reindex(columns=HORIZONS).iloc[0]
    pd.set_option("display.width", 140)
    print(f"\norigins: {res.info['n_origins']} (stride {stride}); scored pairs per horizon: "
          + ", ".join(f"{h} {int(n[h])}" for h in HORIZONS))
    print("\nMean position error (m), pooled over vessels:")
    print(table.round(1).to_string())
    print("\nRatio to dead reckoning (< 1 = better):")
    print(ratio.round(3).to_string())
    t = pd.DataFrame(res.info["timing_s"]).T.round(2)
    print(f"\nseconds (summed over processes; backtest wall {wall:.1f} s):")
    print(t.to_string())
    if len(res.failures):
        print(f"\nfailures/warnings: {len(res.failures)}")
        print(res.failures.groupby(["model", "kind", "error"]).size().to_string())
    if args.report:
        write_report(res, args.report)
        print(f"\nreport: {args.report / 'report.html'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
