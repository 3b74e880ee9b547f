"""What the ``tsgate`` command refuses, and when: before any work, in one line, exit 2.

Bad input that used to give a NaN model, an empty forecast column, a silently renamed column,
a multi-line traceback or a usage block, or that was found only after training: values beyond
the network's float32 range, repeated column names, non-UTF-8 standard input, an ``--out``
that is a folder, a ``fit --model`` target that is not a model, bad parameters, data too short
to forecast, an ambiguous ``--train``. Each case runs once as a real subprocess where the
process boundary matters (entry point, standard input), in-process (CliRunner) otherwise.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from test_cli import assert_bad_input, cli, inproc

pytestmark = pytest.mark.slow

FIT = ["--id-col", "series", "--cell", "lstm", "--epochs", "1", "--window", "4", "--hidden", "4", "--horizon", "0.3s"]


def _frame(n: int = 60, n_series: int = 2, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    for s in range(n_series):
        t = np.round(np.cumsum(rng.uniform(0.08, 0.12, n)), 6)
        parts.append(pd.DataFrame({"series": f"s{s}", "time": t, "y": np.sin(2 * t + s)}))
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("refusals")
    df = _frame()
    df.to_csv(d / "train.csv", index=False)
    res = cli("fit", "train.csv", "--model", "m", *FIT, "-q", cwd=d)
    assert res.returncode == 0, res.stderr
    return d


def test_huge_values_are_refused_naming_the_column_and_magnitude(tmp_path):
    """1e300 became inf in the float32 cast (NaN weights, exit 0); 1e20 gave infinite forecasts."""
    df = _frame()
    df["y"] *= 1e300
    df.to_csv(tmp_path / "huge.csv", index=False)
    res = cli("fit", "huge.csv", "--model", "m", *FIT, "-q", cwd=tmp_path)
    assert_bad_input(res, "'y'", "1e+300 in magnitude", "huge.csv")
    assert not (tmp_path / "m").exists()  # nothing saved
    for scale in (1e20, 1e308):
        df = _frame()
        df["y"] *= scale
        df.to_csv(tmp_path / "big.csv", index=False)
        res = inproc("fit", str(tmp_path / "big.csv"), "--model", str(tmp_path / "m2"), *FIT, "-q")
        # the magnitude is the reason (1e308 used to be "no series gives a single window")
        assert_bad_input(res, "'y'", "in magnitude", "float32")
        assert not (tmp_path / "m2").exists()


def test_a_repeated_column_name_is_refused_not_renamed(tmp_path):
    """`series,time,y,y` trained on 'y' and 'y.1', a name not in the user's file."""
    text = _frame(n=20).assign(y2=0.0).to_csv(index=False).replace("y2", "y")
    (tmp_path / "dup.csv").write_text(text)
    res = cli("fit", "dup.csv", "--model", "m", *FIT, "-q", cwd=tmp_path)
    assert_bad_input(res, "dup.csv", "'y'", "more than once")
    assert "y.1" not in res.stderr and not (tmp_path / "m").exists()
    res = inproc("fit", "-", "--model", str(tmp_path / "m"), *FIT, "-q", input=text)
    assert_bad_input(res, "<stdin>", "'y'", "more than once")


def test_non_utf8_standard_input_is_one_line(work):
    data = b"series,time,y\ns0,100.0,1.0\ns0,100.1,caf\xe9\n"
    res = subprocess.run(
        [sys.executable, "-m", "tsgate.cli.app", "forecast", "m", "-", "--id-col", "series", "-q"],
        cwd=work, input=data, capture_output=True, timeout=180,
    )
    res.stdout, res.stderr = res.stdout.decode(), res.stderr.decode()
    assert_bad_input(res, "<stdin>", "line 3", "0xe9", "UTF-8")


def test_usage_errors_are_one_line(tmp_path):
    res = cli("fit", "x.csv", "--model", "m", "--window", "0", cwd=tmp_path)
    assert_bad_input(res, "--window", "greater than or equal to 1")
    assert "Usage" not in res.stderr


def test_out_that_is_a_folder_is_refused_before_work(work, tmp_path):
    (tmp_path / "fc.csv").mkdir()
    res = inproc("forecast", str(work / "m"), str(work / "train.csv"), "--id-col", "series", "--out", str(tmp_path / "fc.csv"))
    assert_bad_input(res, "--out", "is a folder")
    res = inproc("update", str(work / "m"), str(work / "train.csv"), "--id-col", "series", "--out", str(tmp_path / "fc.csv"))
    assert_bad_input(res, "--out", "is a folder")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root may write anywhere")
def test_read_only_model_folder_is_refused_before_the_update(work, tmp_path):
    import shutil

    model = tmp_path / "ro"
    shutil.copytree(work / "m", model)
    before = sorted(os.listdir(model))
    model.chmod(0o555)
    try:
        res = inproc("update", str(model), str(work / "train.csv"), "--id-col", "series", "-q")
        assert_bad_input(res, str(model), "not writable")
    finally:
        model.chmod(0o755)
    assert sorted(os.listdir(model)) == before


def test_fit_target_that_is_not_a_model_is_refused_before_training(work, tmp_path):
    (tmp_path / "afile").write_text("mine")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("mine")
    for target, needle in (("afile", "not a directory"), ("notes", "not a tsgate model")):
        t0 = time.perf_counter()
        res = inproc("fit", str(work / "train.csv"), "--model", str(tmp_path / target), *FIT[:2], "--epochs", "50", "-q")
        assert_bad_input(res, target, needle)
        assert time.perf_counter() - t0 < 20  # refused before 50 epochs of training
    assert (tmp_path / "afile").read_text() == "mine" and os.listdir(tmp_path / "notes") == ["todo.txt"]


@pytest.mark.parametrize(
    "line, needle",
    [
        ('accelerator = "tpu"', "accelerator"),
        ("weight_decay = -1", "weight_decay"),
        ("gradient_clip = inf", "gradient_clip"),
    ],
)
def test_bad_parameters_are_tsgate_errors_before_reading_data(tmp_path, line, needle):
    (tmp_path / "cfg.toml").write_text(f"[model]\n{line}\n")
    # the data file does not exist: the parameter is refused first
    res = inproc("fit", str(tmp_path / "missing.csv"), "--model", str(tmp_path / "m"), "--config", str(tmp_path / "cfg.toml"))
    assert_bad_input(res, needle)
    assert "missing.csv" not in res.stderr and not (tmp_path / "m").exists()


def test_data_too_short_to_forecast_is_refused_and_short_series_are_named(work, tmp_path):
    df = _frame(n=30, seed=5)
    df["time"] += 1000.0
    df[df["series"] == "s0"].iloc[:2].to_csv(tmp_path / "short.csv", index=False)
    res = inproc("forecast", str(work / "m"), str(tmp_path / "short.csv"), "--id-col", "series", "--out", str(tmp_path / "fc.csv"))
    assert_bad_input(res, "no series gives a forecast", "short.csv")
    assert not (tmp_path / "fc.csv").exists()  # no header-only file
    mixed = pd.concat([df[df["series"] == "s0"].iloc[:2], df[df["series"] == "s1"]])
    mixed.to_csv(tmp_path / "mixed.csv", index=False)
    res = inproc("forecast", str(work / "m"), str(tmp_path / "mixed.csv"), "--id-col", "series", "--out", str(tmp_path / "fc.csv"))
    assert res.returncode == 0, res.stderr
    assert "warning: 1 of 2 series give no forecast" in res.stderr and "s0" in res.stderr
    assert set(pd.read_csv(tmp_path / "fc.csv")["series"]) == {"s1"}


@pytest.mark.parametrize("value", ["1.5", "0", "-3"])
def test_evaluate_train_must_be_a_fraction_or_a_row_count(work, value):
    res = inproc("evaluate", str(work / "train.csv"), "--id-col", "series", "--models", "linear", "--horizon", "0.3s", "--train", value)
    assert_bad_input(res, "--train")
