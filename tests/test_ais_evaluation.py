"""AIS evaluation through the CLI and the library: baselines that never print a NaN table,
counted failures, exit codes (real bundled MarineCadastre file, run as a subprocess)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


slow = pytest.mark.slow


def cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tsgate.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})


@slow
def test_evaluate_ais_baselines_print_numbers_and_a_model_with_nothing_exits_3(tmp_path):
    res = cli("evaluate", "ais-nyharbor-mc", "--models", "dead-reckoning,ctrv,persistence", "--horizon", "1min",
              "--horizon", "2h", "--stride", "5", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    # AIS data: the benchmark's table, Euclidean metres on the strict intersection, through evaluate_positions
    assert "Mean position error (m, Euclidean east/north)" in res.stdout and "Ratio to the best baseline" in res.stdout
    assert "horizons left out" in res.stderr and "2h" in res.stderr
    rows = [ln for ln in res.stdout.splitlines() if any(m in ln for m in ("dead-reckoning", "ctrv", "persistence"))]
    assert len(rows) >= 6 and not any("nan" in ln.lower() for ln in rows), res.stdout
    # a model that cannot forecast a single series (window longer than every vessel's track)
    res = cli("evaluate", "ais-nyharbor-mc", "--models", "drift,persistence", "--window", "100000", "--horizon", "1min",
              cwd=tmp_path)
    assert res.returncode == 3, (res.returncode, res.stderr)
    assert "drift produced no forecast at all" in res.stderr and "model/series failures" in res.stderr
    assert "persistence" in res.stdout  # the other model's table is still printed


@slow
def test_fit_on_ais_data_trains_the_vessel_model_by_default(tmp_path):
    res = cli("fit", "ais-nyharbor-mc", "--model", str(tmp_path / "m"), "--horizon", "1min", "--epochs", "1",
              cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "vessel" in res.stdout and "VesselLSTMForecaster" in res.stdout, res.stdout
    files = [p for p in (tmp_path / "m").rglob("*") if p.is_file()]
    assert any(f.suffix == ".safetensors" for f in files) and not any(f.suffix in (".pkl", ".pt", ".ckpt") for f in files)
    assert "VesselLSTMForecaster" in (tmp_path / "m" / "model.json").read_text()


def _other_waters(path, writer, step: float, seed: int = 0) -> None:
    """An hour of real traffic (the bundled Virginia file's busiest hour, 39 vessels) moved to
    Danish waters and resampled to a fix every ``step`` s with 5 m GPS noise and reception jitter
    (:func:`ais_files.resampled_bundled`), in a download layout: a cadence, place and layout the
    model was not tuned on."""
    import numpy as np

    from ais_files import WRITERS, resampled_bundled

    WRITERS[writer](path, resampled_bundled(np.random.default_rng(seed), step=step))


def _errors(stdout: str) -> dict[str, list[float]]:
    out = {}
    for ln in stdout.splitlines():
        cells = [c.strip() for c in ln.replace("┃", "│").split("│") if c.strip()]
        if len(cells) > 2 and cells[0] in ("vessel", "dead-reckoning", "ctrv", "linear", "persistence"):
            out.setdefault(cells[0], [float(c) for c in cells[1:]])
    return out


@slow
@pytest.mark.parametrize(("writer", "step"), [("aisdk", 10.0), ("marinecadastre", 60.0)])
def test_other_waters_load_never_collapse_quietly_and_keep_the_ranking(tmp_path, writer, step):
    path = tmp_path / f"other-{writer}.csv"
    _other_waters(path, writer, step)
    res = cli("evaluate", str(path), "--adapter", "ais", "--horizon", "30s", "--horizon", "1min", "--stride", "5",
              cwd=tmp_path, timeout=900)
    assert res.returncode == 0, res.stderr
    err = _errors(res.stdout)
    assert {"vessel", "dead-reckoning", "ctrv", "linear", "persistence"} <= set(err), res.stdout
    # not worse than the best baseline of the run (dead reckoning, CTRV, linear AR) at 30 s and
    # 1 min. Tolerance 2 %: on the 10-s file the paired standard error of the vessel model's
    # mean error minus the best baseline's is about 1 % of it at 1 min (866 pairs), and the
    # model's validated choices (base forecast, α) are made on a few hundred pairs; measured
    # 0.81 / 0.99 of the best baseline (benchmarks/results/ais.md, "other waters").
    best = [min(err[m][k] for m in ("dead-reckoning", "ctrv", "linear")) for k in range(2)]
    assert all(err["vessel"][k] <= 1.02 * best[k] for k in range(2)), res.stdout
    if step == 10.0:
        # at 10-s cadence the validated linear base averages the GPS noise of the last fixes:
        # clearly better than every baseline at 30 s
        assert err["vessel"][0] < 0.95 * best[0], res.stdout
    else:
        # 28 vessels x 30 training reports: below the vessel model's minimum -> its validated
        # base (dead reckoning here), counted
        assert "FewWindowsWarning" in res.stderr or "vessel: 1 warning" in res.stderr, res.stderr
        assert err["vessel"] == err["dead-reckoning"]
