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
              cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    rows = [ln for ln in res.stdout.splitlines() if any(m in ln for m in ("dead-reckoning", "ctrv", "persistence"))]
    assert len(rows) >= 3 and not any("nan" in ln.lower() for ln in rows), res.stdout
    # a model that cannot forecast a single series (window longer than every vessel's track)
    res = cli("evaluate", "ais-nyharbor-mc", "--models", "drift,persistence", "--window", "100000", "--horizon", "1min",
              cwd=tmp_path)
    assert res.returncode == 3, (res.returncode, res.stderr)
    assert "drift produced no forecast at all" in res.stderr and "model/series failures" in res.stderr
    assert "persistence" in res.stdout  # the other model's table is still printed
