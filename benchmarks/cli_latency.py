"""Wall time of a small ``tsgate forecast`` beside the imports it cannot avoid, in one run.

A scheduled job that forecasts 100 new rows from a saved gated model pays the process start
every time. The forecast itself takes milliseconds; what costs is importing. The floor is
``python -c "import torch, pandas"`` (the network runs in torch, the file is read with pandas);
the target is a forecast at most 1.5x that floor. Both are run as fresh processes, alternately,
and the medians of the repeats are compared (the machine's load changes both alike).

    python benchmarks/cli_latency.py [--repeats 7] [--cell wmc]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 1.5


def _fit(folder: Path, cell: str) -> tuple[Path, Path]:
    """A gated model saved the way ``tsgate fit`` saves it, and a 100-row file of newer rows."""
    import tsgate

    frame = tsgate.load_dataset("extmarker-10hz-seq1").to_frame().drop(columns=["segment"])
    frame.iloc[:600].to_csv(folder / "train.csv", index=False)
    frame.iloc[600:700].to_csv(folder / "new.csv", index=False)
    series = tsgate.IrregularSeries.read(folder / "train.csv", id_col="series")
    model = tsgate.GatedLSTMForecaster(cell=cell, horizons=["0.5s", "1s", "2s"], max_epochs=1, logger=None)
    model.fit(series).save(folder / "model")
    return folder / "model", folder / "new.csv"


def _wall(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    took = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({res.returncode}): {res.stderr.strip()}")
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--cell", default="wmc")
    args = ap.parse_args()
    script = Path(sys.executable).with_name("tsgate")
    tsgate_cmd = [str(script)] if script.exists() else [sys.executable, "-m", "tsgate.cli.app"]
    with tempfile.TemporaryDirectory(prefix="tsgate-latency-") as tmp:
        folder = Path(tmp)
        model, data = _fit(folder, args.cell)
        floor_cmd = [sys.executable, "-c", "import torch, pandas"]
        forecast_cmd = [*tsgate_cmd, "forecast", str(model), str(data), "--out", str(folder / "fc.csv"), "-q"]
        _wall(floor_cmd, folder)  # warm the file cache for both
        _wall(forecast_cmd, folder)
        floor, forecast = [], []
        for _ in range(args.repeats):
            floor.append(_wall(floor_cmd, folder))
            forecast.append(_wall(forecast_cmd, folder))
        rows = sum(1 for _ in open(data)) - 1
    f, c = statistics.median(floor), statistics.median(forecast)
    print(f"{rows}-row tsgate forecast from a saved gated model (cell {args.cell}); medians of {args.repeats} runs, alternated")
    print(f'  python -c "import torch, pandas"   {f:6.2f} s   (runs: {", ".join(f"{x:.2f}" for x in floor)})')
    print(f"  tsgate forecast MODEL new.csv -q    {c:6.2f} s   (runs: {', '.join(f'{x:.2f}' for x in forecast)})")
    ratio = c / f
    print(f"  ratio forecast / imports            {ratio:6.2f}     target <= {TARGET}: {'PASS' if ratio <= TARGET else 'FAIL'}")


if __name__ == "__main__":
    main()
