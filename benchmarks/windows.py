"""Windowing speed on the whole bundled Virginia Beach AIS file (~40k reports, 84 vessels).

Run: ``python benchmarks/windows.py``. Prints the time to load (parse + clean + project) and
to window the file, per 10k rows, for step and duration horizons; the median of a few repeats.
Times are wall-clock on this machine: compare the lines of one run with each other.
"""

from __future__ import annotations

import statistics
import time

from tsgate.adapters.ais import load_ais
from tsgate.data.windows import make_windows


def _median_time(fn, repeats: int = 5) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    t_load, data = _median_time(lambda: load_ais("ais-virginia", covariates=["sog_kn", "cog_deg"]), repeats=3)
    rows = len(data)
    per10k = 1e4 / rows
    print(f"Virginia Beach AIS: {rows} rows, {data.n_series} vessels, covariates sog_kn, cog_deg")
    print(f"{'step':44s} {'seconds':>8s} {'s / 10k rows':>13s} {'windows':>8s}")
    print(f"{'load_ais (parse, clean, project, derive)':44s} {t_load:8.3f} {t_load * per10k:13.3f} {'':>8s}")
    cases = [
        ("make_windows L=32, steps [1, 5, 10]", dict(window=32, horizons=[1, 5, 10])),
        ("make_windows L=32, ['1min','5min','15min']", dict(window=32, horizons=["1min", "5min", "15min"], max_gap="10min")),
        ("make_windows L=64, ['5min'], optional targets", dict(window=64, horizons=["5min"], targets="optional")),
    ]
    for label, kw in cases:
        t, w = _median_time(lambda kw=kw: make_windows(data, **kw))
        print(f"{label:44s} {t:8.3f} {t * per10k:13.3f} {len(w):8d}")


if __name__ == "__main__":
    main()
