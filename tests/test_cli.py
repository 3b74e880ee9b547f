"""The ``tsgate`` command, run as a real subprocess on the bundled data (plus CliRunner).

Every command and every failure path runs at least once as a real subprocess; variants of a
command already covered that way run in-process through Typer's CliRunner, because each
subprocess that loads a model pays the torch import (seconds on a loaded machine).
One tiny model is fitted once per module (``fit`` is itself under test) and reused.
Failure paths: exit code 2, one line on stderr naming the file/column/row/option, no traceback.
Tests that start subprocesses or train are marked ``slow``; the help texts are not.
"""

from __future__ import annotations

import glob
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

slow = pytest.mark.slow

DATASET = "extmarker-10hz-seq1"
FIT_ARGS = ["--cell", "lstm", "--epochs", "1", "--window", "8", "--hidden", "8", "--horizon", "0.5s", "--horizon", "1s"]


def cli(*args: str, cwd: Path, input: str | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    """Run ``python -m tsgate.cli.app ARGS`` (the same entry point as the ``tsgate`` script)."""
    return subprocess.run(
        [sys.executable, "-m", "tsgate.cli.app", *args],
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class _Result:
    """CliRunner's result with the attribute names of CompletedProcess."""

    def __init__(self, r) -> None:
        self.returncode, self.stdout, self.stderr = r.exit_code, r.stdout, r.stderr


def inproc(*args: str, input: str | None = None) -> _Result:
    """Run the command in this process (Typer's CliRunner); use absolute paths."""
    from typer.testing import CliRunner

    from tsgate.cli.app import app

    return _Result(CliRunner().invoke(app, list(args), input=input))


def assert_bad_input(res, *needles: str) -> None:
    """Exit 2, exactly one line on stderr that names what is wrong, no traceback."""
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("tsgate: error: "), lines[0]
    assert "Traceback" not in res.stderr + res.stdout
    for n in needles:
        assert n in lines[0], (n, lines[0])


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """A folder with the fitted model ``m1`` and small data files cut from the bundled dataset."""
    from tsgate.datasets import load_dataset

    d = tmp_path_factory.mktemp("cli")
    frame = load_dataset(DATASET).to_frame().drop(columns=["segment"])
    frame.iloc[300:400].to_csv(d / "new.csv", index=False)  # rows after the training part
    frame.iloc[400:480].to_parquet(d / "new2.parquet", index=False)
    res = cli("fit", DATASET, "--model", "m1", "--train-rows", "300", *FIT_ARGS, "--quiet", cwd=d)
    assert res.returncode == 0, res.stderr
    # --quiet: nothing on stdout or stderr (no Lightning banners, no warnings)
    assert res.stdout == "" and res.stderr == "", (res.stdout, res.stderr)
    return d


# ---------------------------------------------------------------- help (fast, no torch)
def test_help_does_not_import_torch(tmp_path):
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from tsgate.cli.app import app\n"
        "r = CliRunner()\n"
        "for args in (['--help'], ['fit', '--help'], ['forecast', '--help'], ['update', '--help'],\n"
        "             ['evaluate', '--help'], ['datasets', '--help'], ['info', '--help'], ['job', '--help'],\n"
        "             ['job', 'run', '--help'], ['job', 'status', '--help']):\n"
        "    res = r.invoke(app, args)\n"
        "    assert res.exit_code == 0, (args, res.output)\n"
        "print(sorted(m for m in ('torch', 'lightning', 'sklearn', 'pandas') if m in sys.modules))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"  # not even pandas: --help stays instant


def test_tsgate_script_help(tmp_path):
    script = Path(sys.executable).with_name("tsgate")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "tsgate.cli.app"]
    res = subprocess.run([*cmd, "--help"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    for c in ("fit", "forecast", "update", "evaluate", "datasets", "info", "job"):
        assert c in res.stdout
    assert "tsgate fit extmarker-10hz-seq1" in res.stdout  # the examples are shown


def test_command_help_texts():
    from typer.testing import CliRunner

    from tsgate.cli.app import app

    r = CliRunner()
    for cmd, must in {
        "fit": ["--model", "--horizon", "--target", "--config", "--quiet", "Example: tsgate fit"],
        "forecast": ["--out", "--all-origins", "Example: tsgate forecast"],
        "update": ["--out", "Example: tsgate update"],
        "evaluate": ["--models", "--report", "Example: tsgate evaluate"],
        "datasets": ["--report", "Example: tsgate datasets"],
        "info": ["MODEL"],
        "job run": ["--model", "--inbox", "--store", "--wait", "--threads", "75", "Example: tsgate job run"],
        "job status": ["--model", "--store", "--inbox", "Example: tsgate job status"],
    }.items():
        res = r.invoke(app, [*cmd.split(), "--help"], terminal_width=200)
        assert res.exit_code == 0, res.output
        for m in must:
            assert m in res.output, (cmd, m)
    res = r.invoke(app, ["fit", "x.csv"])  # --model is required: Typer's own exit 2
    assert res.exit_code == 2


# ---------------------------------------------------------------- datasets
@slow
def test_datasets_listing_and_report(tmp_path):
    res = cli("datasets", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "extmarker-10hz-seq1" in res.stdout and "ais-virginia" in res.stdout and "CC BY 4.0" in res.stdout
    res = cli("datasets", "--quiet", cwd=tmp_path)
    assert res.returncode == 0
    from io import StringIO

    table = pd.read_csv(StringIO(res.stdout))
    assert len(table) == 30 and {"name", "rows", "license", "credit"} <= set(table.columns)
    res = cli("datasets", "--report", "extmarker-10hz-seq3", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "timestamps repaired from Frame/60: 5" in res.stdout and "all-zero rows dropped: 1" in res.stdout
    assert_bad_input(cli("datasets", "--report", "extmarker-10hz-seq99", cwd=tmp_path), "extmarker-10hz-seq99")


# ---------------------------------------------------------------- fit -> info -> forecast -> update
@slow
def test_info(work):
    res = cli("info", "m1", cwd=work)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "GatedLSTMForecaster" in out and "schema 1" in out
    assert "horizons: ['0.5s', '1s']" in out and "'z3'" in out and "series seen: 1" in out
    assert "cell='lstm'" in out and "window=8" in out and "hidden_size=8" in out


@slow
def test_forecast_every_output_format(work, tmp_path):
    from tsgate.estimators.base import load
    from tsgate.datasets import load_dataset

    outs = {}
    res = cli("forecast", "m1", DATASET, "--out", str(tmp_path / "fc.csv"), "-q", cwd=work)
    assert res.returncode == 0 and res.stdout == "" and res.stderr == "", res.stderr
    for name in ("fc.parquet", "fc.json"):
        res = inproc("forecast", str(work / "m1"), DATASET, "--out", str(tmp_path / name), "-q")
        assert res.returncode == 0 and res.stdout == "", res.stderr
    outs["csv"] = pd.read_csv(tmp_path / "fc.csv")
    outs["parquet"] = pd.read_parquet(tmp_path / "fc.parquet")
    outs["json"] = pd.DataFrame(json.loads((tmp_path / "fc.json").read_text()))
    res = inproc("forecast", str(work / "m1"), DATASET, "--out", "-")  # CSV on stdout, no table
    assert res.returncode == 0, res.stderr
    from io import StringIO

    outs["stdout"] = pd.read_csv(StringIO(res.stdout))
    # the library's own forecast, for comparison
    series = load_dataset(DATASET)
    want = load(work / "m1").predict(series)
    last = series.frame["time"].iloc[-1]
    for kind, got in outs.items():
        assert list(got.columns) == list(want.columns), kind
        assert list(got["horizon"].astype(str)) == ["0.5s", "1s"], kind
        assert np.allclose(got["origin_time"].astype(float), last), kind
        assert np.allclose(got["target_time"].astype(float), last + np.array([0.5, 1.0])), kind
        vals = got[list(want.columns[4:])].to_numpy(float)
        np.testing.assert_allclose(vals, want[list(want.columns[4:])].to_numpy(float), rtol=1e-12, err_msg=kind)
    # without --out: a table on the terminal
    res = inproc("forecast", str(work / "m1"), DATASET)
    assert res.returncode == 0 and "Forecasts (2 rows)" in res.stdout


@slow
def test_forecast_all_origins_from_parquet(work, tmp_path):
    res = inproc("forecast", str(work / "m1"), str(work / "new2.parquet"), "--id-col", "series", "--all-origins",
                 "--out", str(tmp_path / "a.csv"), "-q")
    assert res.returncode == 0, res.stderr
    got = pd.read_csv(tmp_path / "a.csv")
    # 80 rows, window 8: origins from the 8th row on, 2 horizons each
    assert len(got) == (80 - 8 + 1) * 2 and got["origin_time"].is_monotonic_increasing


@slow
def test_forecast_from_stdin_equals_file(work):
    text = (work / "new.csv").read_text()
    a = cli("forecast", "m1", "-", "--id-col", "series", "--out", "-", "-q", cwd=work, input=text)
    b = inproc("forecast", str(work / "m1"), str(work / "new.csv"), "--id-col", "series", "--out", "-", "-q")
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    assert a.stdout == b.stdout and a.stdout.count("\n") == 3  # header + 2 horizons
    assert_bad_input(cli("fit", "-", "--model", "x", "-q", cwd=work, input=""), "<stdin>")
    assert_bad_input(inproc("forecast", str(work / "m1"), "-", "-q", input="time,z\n1,"), "<stdin>")


@slow
def test_update_learns_saves_and_refuses_rows_seen(work, tmp_path):
    from tsgate.estimators.base import load

    m = tmp_path / "m"
    shutil.copytree(work / "m1", m)
    res = cli("update", str(m), "new.csv", "--id-col", "series", "--out", str(tmp_path / "u.csv"), "-q", cwd=work)
    assert res.returncode == 0, res.stderr
    fc = pd.read_csv(tmp_path / "u.csv")
    new = pd.read_csv(work / "new.csv")
    assert len(fc) == 2 * len(new)  # a forecast from every new observation, both horizons
    np.testing.assert_allclose(np.unique(fc["origin_time"]), new["time"])
    est = load(m)  # the saved-back model loads and has learned
    assert est.n_online_updates_ > 0
    assert est.last_time_ == {"seq1": pytest.approx(new["time"].iloc[-1])}
    info = cli("info", str(m), cwd=work)
    assert f"online updates so far: {est.n_online_updates_}" in info.stdout
    # the same rows again: refused, model untouched
    before = (m / "model.json").read_bytes()
    assert_bad_input(
        inproc("update", str(m), str(work / "new.csv"), "--id-col", "series", "-q"), "new.csv", "row 2", "later than the last one"
    )
    assert (m / "model.json").read_bytes() == before
    # newer rows from parquet continue the stream; without --out a table is printed
    res = inproc("update", str(m), str(work / "new2.parquet"), "--id-col", "series")
    assert res.returncode == 0 and "Forecasts made during the update (160 rows)" in res.stdout, res.stderr
    assert load(m).n_online_updates_ > est.n_online_updates_
    assert len(glob.glob(str(m / "data-*"))) == 1 and not list(m.glob(".*"))


@slow
def test_config_file_with_flag_overrides(work, tmp_path):
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(
        '[data]\nid_col = "series"\ntargets = ["z1", "z2"]\n\n'
        '[model]\ncell = "gru"\nwindow = 6\nhidden_size = 4\nmax_epochs = 1\nhorizons = ["0.3s"]\n'
    )
    res = inproc("fit", str(work / "new.csv"), "--config", str(cfg), "--model", str(tmp_path / "m"), "--cell", "lstm",
                 "--window", "5", "-q")
    assert res.returncode == 0, res.stderr
    info = inproc("info", str(tmp_path / "m")).stdout
    assert "cell='lstm'" in info and "window=5" in info  # flags win
    assert "hidden_size=4" in info and "horizons: ['0.3s']" in info and "targets: ['z1', 'z2']" in info  # config
    bad = tmp_path / "bad.toml"
    bad.write_text("[model]\nwindw = 3\n")
    assert_bad_input(cli("fit", "new.csv", "--config", str(bad), "--model", "x", "-q", cwd=work), "bad.toml", "windw")
    bad.write_text("[data]\nbogus = 1\n")
    assert_bad_input(cli("fit", "new.csv", "--config", str(bad), "--model", "x", "-q", cwd=work), "bad.toml", "bogus")
    bad.write_text("[data\n")
    assert_bad_input(cli("fit", "new.csv", "--config", str(bad), "--model", "x", "-q", cwd=work), "bad.toml", "not valid TOML")


@slow
def test_fit_target_on_bundled_dataset(work, tmp_path):
    res = inproc("fit", "extmarker-3.33hz-seq7", "--model", str(tmp_path / "m"), "--target", "z1",
                 "--cell", "lstm", "--epochs", "1", "--window", "8", "--hidden", "4", "--horizon", "2", "-q")
    assert res.returncode == 0, res.stderr
    assert "targets: ['z1']" in inproc("info", str(tmp_path / "m")).stdout


# ---------------------------------------------------------------- failure paths
@pytest.fixture(scope="module")
def broken(work) -> Path:
    """Damaged inputs next to the good ones."""
    text = (work / "new.csv").read_text()
    lines = text.splitlines()
    # cut in the middle of line 51 (a download that stopped half-way)
    (work / "trunc.csv").write_text("\n".join(lines[:50]) + "\n" + lines[50][:12])
    row = lines[5].split(",")
    row[10] = "abc"  # z3 of the 5th data row (line 6)
    (work / "text.csv").write_text("\n".join(lines[:5] + [",".join(row)] + lines[6:]) + "\n")
    for name in ("mc", "mg", "ms"):
        shutil.copytree(work / "m1", work / name, dirs_exist_ok=True)
    arrays = Path(glob.glob(str(work / "mc" / "data-*" / "arrays.safetensors"))[0])
    b = bytearray(arrays.read_bytes())
    b[len(b) // 2] ^= 0xFF  # one flipped byte in the weights
    arrays.write_bytes(bytes(b))
    (work / "mg" / "model.json").write_text('{"format": "tsgate-model", "schema_ver')
    desc = json.loads((work / "ms" / "model.json").read_text())
    desc["schema_version"] = 99
    (work / "ms" / "model.json").write_text(json.dumps(desc))
    return work


# each of these fails before a model is loaded or trained (no torch import): real subprocesses
@slow
@pytest.mark.parametrize(
    "args, needles",
    [
        (["fit", "missing.csv", "--model", "x"], ["missing.csv", "not found"]),
        (["fit", "no/such/file.parquet", "--model", "x"], ["no/such/file.parquet", "not found"]),
        (["fit", "no-such-dataset", "--model", "x"], ["no-such-dataset", "extmarker-10hz-seq1"]),
        (["fit", "new.csv", "--id-col", "series", "--target", "nope", "--model", "x"], ["new.csv", "'nope'"]),
        (["fit", "new.csv", "--id-col", "series", "--model", "x", "--horizon", "5 parsecs"], ["horizon", "5 parsecs"]),
        (["evaluate", "new.csv", "--horizon", "-1s"], ["horizon", "-1s"]),
        (["fit", "trunc.csv", "--id-col", "series", "--model", "x"], ["trunc.csv", "row 51"]),
        (["fit", "text.csv", "--id-col", "series", "--model", "x"], ["text.csv", "column 'z3'", "row 6", "abc"]),
        (["fit", "new.csv", "--model", "x"], ["new.csv", "column 'series'", "row 2"]),  # no --id-col: a target
        (["info", "mc"], ["arrays.safetensors", "checksum"]),
        (["info", "mg"], ["model.json", "not valid JSON"]),
        (["info", "ms"], ["schema version 99"]),
        (["info", "no-model-here"], ["no-model-here", "does not exist"]),
        (["forecast", "m1", "new.csv", "--out", "fc.xlsx"], ["--out", "fc.xlsx"]),
        (["update", "m1", "new.csv", "--out", "nodir/fc.csv"], ["--out", "nodir"]),
    ],
    ids=[
        "missing-file", "missing-file-in-folder", "unknown-dataset", "missing-column", "bad-horizon",
        "negative-horizon", "truncated-csv", "text-in-target", "wrong-column-roles", "flipped-byte",
        "garbage-model-json", "unknown-schema", "missing-model", "bad-out-extension", "out-folder-missing",
    ],
)
def test_bad_input_exits_2_with_one_line(broken, args, needles):
    assert_bad_input(cli(*args, "-q", cwd=broken), *needles)
    assert not (broken / "x").exists()  # nothing half-written


@slow
def test_bad_model_files_refused_by_every_command(broken):
    # one real subprocess through the full load path (torch imported), the rest in-process
    assert_bad_input(cli("forecast", "mc", "new.csv", "--id-col", "series", "-q", cwd=broken), "arrays.safetensors", "checksum")
    for cmd in ("forecast", "update"):
        for model, needle in (("mc", "checksum"), ("mg", "not valid JSON"), ("ms", "schema version 99"), ("nope", "does not exist")):
            assert_bad_input(inproc(cmd, str(broken / model), str(broken / "new.csv"), "--id-col", "series", "-q"), needle)
    assert_bad_input(
        inproc("fit", str(broken / "new.csv"), "--id-col", "series", "--model", str(broken / "x"), "--cell", "foo", "-q"),
        "'cell'", "'foo'",
    )


@slow
def test_typer_rejects_bad_option_values(work):
    res = cli("fit", "new.csv", "--model", "x", "--window", "0", cwd=work)
    assert res.returncode == 2 and "--window" in res.stderr and "Traceback" not in res.stderr
    res = cli("fit", "new.csv", "--model", "x", "--config", "nope.toml", cwd=work)
    assert res.returncode == 2 and "nope.toml" in res.stderr and "Traceback" not in res.stderr


# ---------------------------------------------------------------- evaluate
@slow
def test_evaluate_cheap_models(work, tmp_path):
    res = cli(
        "evaluate", "extmarker-3.33hz-seq7", "--models", "persistence,linear", "--horizon", "0.6s",
        "--horizon", "1.2s", "--window", "8", "--report", str(tmp_path / "rep"), cwd=work,
    )
    assert res.returncode == 0, res.stderr
    assert "persistence" in res.stdout and "linear" in res.stdout and "Backtest" in res.stdout
    assert (tmp_path / "rep").is_dir() and any((tmp_path / "rep").iterdir())
    assert_bad_input(cli("evaluate", "extmarker-3.33hz-seq7", "--models", "persistence,oracle", "--horizon", "1", "-q", cwd=work), "oracle")


@slow
def test_unexpected_error_exits_1_traceback_only_with_debug(work, tmp_path, monkeypatch):
    def disk_full(self, path, *a, **k):
        Path(path).write_text("half a fi")
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(pd.DataFrame, "to_csv", disk_full)  # the disk fills up while writing --out
    args = ["forecast", str(work / "m1"), str(work / "new.csv"), "--id-col", "series", "--out", str(tmp_path / "fc.csv"), "-q"]
    res = inproc(*args)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "No space left" in lines[0] and "--debug" in lines[0], res.stderr
    res = inproc(*args, "--debug")
    assert res.returncode == 1 and "Traceback" in res.stderr
    assert not list(tmp_path.iterdir())  # the temporary file was removed, nothing half-written


# ---------------------------------------------------------------- options that do not apply
AIS_CSV = Path(__file__).resolve().parents[1] / "datasets" / "ais" / "noaa_ny_harbor_2020-12-08.csv"


@pytest.fixture(scope="module")
def ais_dir(tmp_path_factory) -> Path:
    """The first 1500 reports of the bundled NY Harbor AIS file, and a few config files."""
    d = tmp_path_factory.mktemp("ais")
    lines = AIS_CSV.read_text().splitlines()
    (d / "ais.csv").write_text("\n".join(lines[:1501]) + "\n")
    (d / "time_col.toml").write_text('[data]\nadapter = "ais"\ntime_col = "timestamp"\n')
    (d / "bogus.toml").write_text('[data]\nadapter = "ais"\nbogus = 1\n')
    (d / "policy.toml").write_text('[data]\non_nan = "drop"\n')
    (d / "evaluate.toml").write_text('[evaluate]\nhorizons = ["1"]\nfolds = 3\n')
    (d / "model.toml").write_text("[model]\nwindw = 3\n")
    (d / "voyages.toml").write_text('[data]\nadapter = "ais"\nmin_voyage_rows = 100000\n')
    return d


# Before these were refused, each was silently ignored: the command ran with other settings
# than the user asked for.
@slow
@pytest.mark.parametrize(
    "args, needles",
    [
        (["fit", "ais.csv", "--adapter", "ais", "--time-col", "timestamp", "--model", "x"], ["--time-col", "--adapter ais"]),
        (["fit", "ais.csv", "--adapter", "ais", "--id-col", "mmsi", "--model", "x"], ["--id-col", "--adapter ais"]),
        (["fit", "ais.csv", "--config", "time_col.toml", "--model", "x"], ["time_col.toml", "'time_col'", "--adapter ais", "max_gap"]),
        (["fit", "ais.csv", "--config", "bogus.toml", "--model", "x"], ["bogus.toml", "'bogus'", "--adapter ais", "min_voyage_rows"]),
        (["fit", "ais.csv", "--adapter", "ais", "--target", "lat", "--model", "x"], ["'lat'", "east_m", "north_m"]),
        (["fit", "-", "--adapter", "ais", "--model", "x"], ["--adapter ais", "standard input"]),
        (["evaluate", "extmarker-3.33hz-seq7", "--horizon", "1", "--id-col", "series"], ["--id-col", "bundled dataset"]),
        (["evaluate", "extmarker-3.33hz-seq7", "--horizon", "1", "--time-col", "t"], ["--time-col", "bundled dataset"]),
        (["evaluate", "extmarker-3.33hz-seq7", "--horizon", "1", "--adapter", "ais"], ["--adapter", "extmarker-3.33hz-seq7"]),
        (["evaluate", "extmarker-3.33hz-seq7", "--horizon", "1", "--config", "policy.toml"], ["policy.toml", "'on_nan'", "bundled"]),
        (["evaluate", "extmarker-3.33hz-seq7", "--config", "evaluate.toml"], ["evaluate.toml", "'folds'", "horizons", "refit"]),
        (["forecast", "m", "ais.csv", "--config", "model.toml"], ["model.toml", "'windw'", "window"]),
    ],
    ids=[
        "ais-time-col", "ais-id-col", "ais-config-time_col", "ais-config-unknown", "ais-unknown-target",
        "ais-stdin", "bundled-id-col", "bundled-time-col", "bundled-adapter", "bundled-config-policy",
        "evaluate-config-unknown", "forecast-config-model-unknown",
    ],
)
def test_options_that_do_not_apply_are_refused(ais_dir, args, needles):
    res = cli(*args, "-q", cwd=ais_dir, input="")
    assert_bad_input(res, *needles)
    assert not (ais_dir / "x").exists()


@slow
def test_ais_adapter_honours_target_and_config(ais_dir, tmp_path):
    # [data] options of the AIS adapter reach it: no voyage has 100000 reports
    assert_bad_input(cli("fit", "ais.csv", "--config", "voyages.toml", "--model", "x", "-q", cwd=ais_dir), "ais.csv", "no reports left")
    # --target selects among the adapter's targets
    res = inproc("fit", str(ais_dir / "ais.csv"), "--adapter", "ais", "--target", "north_m", "--model", str(tmp_path / "m"),
                 "--cell", "lstm", "--epochs", "1", "--window", "4", "--hidden", "4", "--horizon", "1min", "-q")
    assert res.returncode == 0, res.stderr
    assert "targets: ['north_m']" in inproc("info", str(tmp_path / "m")).stdout
    # forecast reads the file with the model's targets
    res = inproc("forecast", str(tmp_path / "m"), str(ais_dir / "ais.csv"), "--adapter", "ais", "--out", "-", "-q")
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[0] == "series,origin_time,horizon,target_time,north_m"


@slow
def test_evaluate_defaults_to_the_respiratory_model_on_extmarker(work):
    res = cli("evaluate", "extmarker-10hz-seq2", "--horizon", "1s", "--train", "300", "--val", "300", cwd=work)
    assert res.returncode == 0, res.stderr
    mae = {}
    for line in res.stdout.splitlines():
        cells = [c.strip() for c in line.replace("│", "|").split("|") if c.strip()]
        if cells and cells[0] in ("analog", "linear", "persistence"):
            mae[cells[0]] = float(cells[1])
    assert set(mae) == {"analog", "linear", "persistence"}, res.stdout
    assert mae["analog"] < mae["linear"] < mae["persistence"]
