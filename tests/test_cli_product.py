"""The command as a forecaster uses it: a model that remembers its data, every model by name,
options one can reach, `tsgate check`, clean output, fast answers.

Each test here failed before the change it guards. Commands that must be measured in a fresh
process (imports, banners) run as real subprocesses; variants run in-process (CliRunner).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tsgate.datasets import load_dataset

slow = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
TINY = ["--cell", "lstm", "--epochs", "1", "--window", "6", "--hidden", "4", "--horizon", "0.5s", "--horizon", "1s"]


def cli(*args: str, cwd: Path, input: str | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tsgate.cli.app", *args], cwd=cwd, input=input,
                          capture_output=True, text=True, timeout=timeout)


def inproc(*args: str, input: str | None = None):
    from typer.testing import CliRunner

    from tsgate.cli.app import app

    r = CliRunner().invoke(app, list(args), input=input)
    r.returncode = r.exit_code
    return r


def bad(res, *needles: str) -> str:
    """Exit 2 with one line on stderr naming each needle; returns the line."""
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert len(lines) == 1 and lines[0].startswith("tsgate: error: "), res.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def modules_after(args: list[str], cwd: Path) -> tuple[int, set[str]]:
    """Run the command in a fresh interpreter; its exit code and the top-level modules it imported."""
    code = (
        "import sys\nfrom tsgate.cli.app import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit as e:\n    rc = e.code or 0\nelse:\n    rc = 0\n"
        "print('RC', rc)\nprint('MODULES', ' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=240)
    out = res.stdout.splitlines()
    rc = int(next(ln for ln in out if ln.startswith("RC "))[3:])
    mods = set(next(ln for ln in out if ln.startswith("MODULES "))[8:].split())
    return rc, mods


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """ExtMarker seq1 with the columns renamed (t, sid), the training part written *with* its
    index (an ``Unnamed: 0`` column), and a gated model fitted on it by a real ``tsgate fit``."""
    d = tmp_path_factory.mktemp("product")
    frame = load_dataset("extmarker-10hz-seq1").to_frame().drop(columns=["segment"]).rename(columns={"time": "t", "series": "sid"})
    frame.iloc[:300].to_csv(d / "train.csv")  # index=True: the classic 'Unnamed: 0'
    frame.iloc[300:400].to_csv(d / "new.csv", index=False)  # 100 rows
    frame.iloc[400:460].rename(columns={"t": "time"}).to_csv(d / "renamed.csv", index=False)
    res = cli("fit", "train.csv", "--model", "m", "--time-col", "t", "--id-col", "sid", *TINY, cwd=d)
    assert res.returncode == 0, res.stderr
    (d / "fit.out").write_text(res.stdout + "\n--stderr--\n" + res.stderr)
    return d


# ---------------------------------------------------------------- the model remembers its data
@slow
def test_model_file_records_the_data_schema(work):
    desc = json.loads((work / "m" / "model.json").read_text())
    data = desc["data"]
    assert data["adapter"] == "table" and data["time_col"] == "t" and data["id_col"] == "sid"
    assert data["time_kind"] == "seconds" and data["targets"] == ["x1", "x2", "x3", "y1", "y2", "y3", "z1", "z2", "z3"]
    assert data["covariates"] == [] and data["static"] == [] and data["ignored"] == ["Unnamed: 0"]
    assert data["policies"] == {"on_nan": "error", "on_duplicate": "error", "on_unsorted": "error"}


@slow
def test_forecast_needs_no_schema_flags_and_imports_only_what_it_uses(work):
    rc, mods = modules_after(["forecast", "m", "new.csv", "--out", "fc.csv", "-q"], work)
    assert rc == 0
    assert "torch" in mods  # the gated network runs
    # nothing a forecast from a saved model does not use: no Lightning, no scikit-learn (nor its
    # scipy.stats), no statsmodels, no plotting
    assert not mods & {"lightning", "pytorch_lightning", "torchmetrics", "sklearn", "scipy", "statsmodels", "matplotlib", "joblib"}
    fc = pd.read_csv(work / "fc.csv")
    assert len(fc) == 2 and fc["origin_time"].iloc[0] == pytest.approx(pd.read_csv(work / "new.csv")["t"].iloc[-1])


@slow
def test_no_float32_noise_in_forecast_files(work, tmp_path):
    res = inproc("forecast", str(work / "m"), str(work / "new.csv"), "--out", str(tmp_path / "fc.csv"), "-q")
    assert res.returncode == 0, res.stderr
    values = (tmp_path / "fc.csv").read_text().splitlines()[1].split(",")[4:]
    for v in values:  # e.g. 371.7342, not 371.73419189453125
        assert v == str(np.float32(float(v))), values
    res = inproc("forecast", str(work / "m"), str(work / "new.csv"), "--out", str(tmp_path / "fc.json"), "-q")
    rec = json.loads((tmp_path / "fc.json").read_text())[0]
    text = (tmp_path / "fc.json").read_text()
    assert f'"x1": {rec["x1"]!r}' in text and len(repr(rec["x1"])) <= 12, text[:300]


@slow
def test_a_file_laid_out_otherwise_is_refused_naming_both(work):
    line = bad(inproc("forecast", str(work / "m"), str(work / "renamed.csv"), "-q"), "renamed.csv", "'t'", "time column", "'time'")
    assert "--time-col" in line
    # naming the file's column is enough; the rest still comes from the model
    res = inproc("forecast", str(work / "m"), str(work / "renamed.csv"), "--time-col", "time", "--out", "-", "-q")
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[0].startswith("series,origin_time,horizon,target_time,x1")


@slow
def test_bad_input_is_answered_before_torch_is_imported(work):
    rc, mods = modules_after(["forecast", "m", "renamed.csv", "-q"], work)  # a column the model needs is missing
    assert rc == 2 and "torch" not in mods
    rc, mods = modules_after(["fit", "new.csv", "--model", "x", "--id-col", "nope", "-q"], work)
    assert rc == 2 and "torch" not in mods
    rc, mods = modules_after(["check", "new.csv", "--time-col", "t", "--id-col", "sid", "-q"], work)
    assert rc == 0 and "torch" not in mods


# ---------------------------------------------------------------- fit says what it used
@slow
def test_fit_prints_targets_covariates_time_column_and_repairs(work):
    out = (work / "fit.out").read_text()
    assert "Data: train.csv: 1 series, 300 rows; time: seconds (column 't'), series from column 'sid'" in out
    assert "targets (9): x1, x2, x3, y1, y2, y3, z1, z2, z3" in out and "covariates: none" in out
    assert "ignored: 'Unnamed: 0'" in out and "repairs: none" in out
    assert "Fitted gated-lstm (GatedLSTMForecaster)" in out and "horizons: 0.5s, 1s" in out
    # none of Lightning's banners, tips or deprecation notes
    for noise in ("GPU available", "TPU available", "Tip", "litlogger", "deprecated", "LeafSpec", "max_epochs=1` reached"):
        assert noise not in out, noise


def test_unnamed_index_column_is_never_a_default_target():
    from tsgate import IrregularSeries

    df = pd.DataFrame({"Unnamed: 0": [0, 1, 2], "time": [0.0, 1.0, 2.0], "v": [1.0, 2.0, 3.0]})
    s = IrregularSeries.from_frame(df)
    assert s.targets == ("v",) and s.meta["schema"]["ignored"] == ["Unnamed: 0"]
    assert IrregularSeries.from_frame(df, target_cols=["Unnamed: 0"]).targets == ("Unnamed: 0",)  # if asked for


@slow
def test_quiet_fit_prints_nothing(work, tmp_path):
    res = inproc("fit", str(work / "new.csv"), "--model", str(tmp_path / "p"), "--model-type", "persistence",
                 "--time-col", "t", "--id-col", "sid", "-q")
    assert res.returncode == 0 and res.stdout == "" and res.stderr == "", (res.stdout, res.stderr)


# ---------------------------------------------------------------- options one can reach
@pytest.fixture
def defects(tmp_path) -> Path:
    rows = ["t,sid,v,w", "0,a,1.0,5", "1,a,,6", "2,a,3.0,7", "2,a,3.5,7", "4,a,5.0,8", "3,a,4.0,8", "5,a,6.0,9"]
    (tmp_path / "defects.csv").write_text("\n".join(rows) + "\n")
    return tmp_path


def test_policies_covariates_and_check(defects):
    f = str(defects / "defects.csv")
    bad(inproc("check", f, "--time-col", "t", "--id-col", "sid"), "defects.csv", "row 7", "on_unsorted")
    res = inproc("check", f, "--time-col", "t", "--id-col", "sid", "--covariate", "w", "--on-nan", "interpolate",
                 "--on-duplicate", "mean", "--on-unsorted", "sort")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "rows out of time order, sorted: 1" in out and "(rows 7)" in out  # file line numbers
    assert "duplicate timestamps merged (mean): 1" in out and "missing values interpolated: 1" in out
    assert "time column: 't' (seconds)" in out and "id column: 'sid'" in out
    assert "targets: v" in out and "covariates: w" in out and "on_nan=interpolate" in out
    assert "a: 6 rows" in out
    # datasets --report takes a file too (default policies: the same refusal)
    bad(inproc("datasets", "--report", f), "defects.csv")
    bad(inproc("check", f, "--time-col", "t", "--on-nan", "sometimes"), "on_nan", "'sometimes'")


@slow
def test_policies_and_covariates_are_recorded_and_reused(defects):
    f, m = str(defects / "defects.csv"), str(defects / "m")
    res = inproc("fit", f, "--model", m, "--model-type", "linear", "--time-col", "t", "--id-col", "sid", "--covariate", "w",
                 "--on-nan", "drop", "--on-duplicate", "last", "--on-unsorted", "sort", "--window", "2")
    assert res.returncode == 0, res.stderr
    assert "covariates: w" in res.stdout and "rows with missing values dropped: 1" in res.stdout
    data = json.loads(Path(m, "model.json").read_text())["data"]
    assert data["covariates"] == ["w"] and data["policies"] == {"on_nan": "drop", "on_duplicate": "last", "on_unsorted": "sort"}
    res = inproc("forecast", m, f, "--out", "-", "-q")  # the same defects, repaired the same way
    assert res.returncode == 0, res.stderr
    (defects / "no_w.csv").write_text("t,sid,v\n0,a,1\n1,a,2\n2,a,3\n")
    bad(inproc("forecast", m, str(defects / "no_w.csv"), "-q"), "no_w.csv", "'w'", "covariate")


def test_version_and_duration_units(tmp_path):
    from tsgate import __version__

    res = inproc("--version")
    assert res.returncode == 0 and res.stdout.strip() == f"tsgate {__version__}"
    bad(inproc("fit", "x.csv", "--model", str(tmp_path / "m"), "--horizon", "1M"), "1M", "months and years")
    bad(inproc("fit", "x.csv", "--model", str(tmp_path / "m"), "--horizon", "1m"), "1min")
    bad(inproc("fit", "x.csv", "--model", str(tmp_path / "m"), "--horizon", "1.5"), "ambiguous", "1.5s")
    from tsgate.data.times import parse_duration

    assert parse_duration("1week") == parse_duration("1w") == 7 * 86400 and parse_duration("1d") == 86400
    assert parse_duration("3") == 3.0 and parse_duration("2 weeks") == 14 * 86400  # a plain number is seconds


@slow
def test_fit_and_evaluate_both_default_to_one_step_and_say_so(defects):
    f = str(defects / "ok.csv")
    pd.DataFrame({"t": np.arange(60.0), "v": np.sin(np.arange(60) / 5)}).to_csv(f, index=False)
    res = inproc("fit", f, "--model", str(defects / "p"), "--model-type", "persistence", "--time-col", "t")
    assert res.returncode == 0 and "horizons: 1 step ahead (observation) (the default: pass --horizon for others)" in res.stdout
    res = inproc("forecast", str(defects / "p"), f, "--out", str(defects / "p.json"), "-q")
    rec = json.loads((defects / "p.json").read_text())
    # a step horizon's target time is unknown when the forecast is made: an explicit null, documented
    assert rec == [{"series": rec[0]["series"], "origin_time": 59.0, "horizon": "1", "target_time": None, "v": rec[0]["v"]}]
    res = inproc("evaluate", f, "--models", "persistence,drift", "--time-col", "t")  # failed: "give at least one --horizon"
    assert res.returncode == 0, res.stderr
    assert "horizons: 1 step ahead (the default" in res.stdout and "drift" in res.stdout


@slow
def test_an_ais_model_reads_new_files_with_its_adapter_and_projection(tmp_path):
    lines = AIS_CSV.read_text().splitlines()
    (tmp_path / "old.csv").write_text("\n".join(lines[:1201]) + "\n")
    (tmp_path / "new.csv").write_text("\n".join([lines[0], *lines[1201:1501]]) + "\n")
    m = str(tmp_path / "m")
    res = inproc("fit", str(tmp_path / "old.csv"), "--adapter", "ais", "--model", m, "--model-type", "persistence",
                 "--horizon", "1min")
    assert res.returncode == 0, res.stderr
    data = json.loads(Path(m, "model.json").read_text())["data"]
    assert data["adapter"] == "ais" and len(data["options"]["origin"]) == 2
    res = inproc("forecast", m, str(tmp_path / "new.csv"), "--out", str(tmp_path / "fc.csv"), "-q")  # no --adapter
    assert res.returncode == 0, res.stderr
    fc = pd.read_csv(tmp_path / "fc.csv")
    from tsgate import load_ais

    new = load_ais(tmp_path / "new.csv", origin=tuple(data["options"]["origin"]))
    last = new.to_frame().groupby("series").tail(1).set_index("series")
    got = fc.set_index("series").loc[last.index]
    assert np.allclose(got["east_m"], last["east_m"]) and np.allclose(got["north_m"], last["north_m"])  # same plane


# ---------------------------------------------------------------- every model by name
def test_models_lists_every_registered_forecaster_one_line_each():
    from tsgate.estimators.registry import all_estimators

    res = inproc("models")
    assert res.returncode == 0
    lines = res.stdout.splitlines()
    names = {ln.split()[0] for ln in lines}
    for n in ("gated", "gated-wmc", "gated-glstm", "gated-lstm", "gated-gru", "gated-convrnn", "gated-rnn", "online-uoro",
              "online-rtrl", "online-snap1", "online-tbptt", "online-rls", "online-nlms", "linear", "arima",
              "dead-reckoning", "persistence", "seasonal-naive", "drift"):
        assert n in names, n
    assert {c.__name__ for c in all_estimators()} <= {ln.split()[1].split("(")[0] for ln in lines}
    res = inproc("models", "dead-reckoning")
    assert res.returncode == 0 and "method = 'auto'" in res.stdout
    bad(inproc("models", "arma"), "'arma'", "arima")


@slow
def test_fit_any_model_type_with_its_parameters(tmp_path):
    t = np.arange(80.0)
    pd.DataFrame({"time": t, "v": np.sin(t / 6) + 0.01 * t}).to_csv(tmp_path / "s.csv", index=False)
    f, m = str(tmp_path / "s.csv"), str(tmp_path / "m")
    cfg = tmp_path / "c.toml"
    cfg.write_text('[model]\nmaxiter = 20\n')
    res = inproc("fit", f, "--model", m, "--model-type", "arima", "--param", "order=[1,1,0]", "--config", str(cfg),
                 "--horizon", "2", "-q")
    assert res.returncode == 0, res.stderr
    desc = json.loads(Path(m, "model.json").read_text())
    assert desc["estimator"] == "ARIMAForecaster" and desc["params"]["order"] == [1, 1, 0] and desc["params"]["maxiter"] == 20
    res = inproc("forecast", m, f, "--out", "-", "-q")
    assert res.returncode == 0 and res.stdout.count("\n") == 2, res.stderr
    res = inproc("fit", f, "--model", m, "--model-type", "dead-reckoning", "--param", "method=two_points",
                 "--param", 'position_cols=["v", "v2"]', "-q")
    bad(res, "position_cols")  # the parameter reaches the model, which checks it against the data
    bad(inproc("fit", f, "--model", m, "--model-type", "arima", "--cell", "wmc"), "--cell", "'arima'")
    bad(inproc("fit", f, "--model", m, "--model-type", "arima", "--param", "windw=3"), "windw", "window")
    bad(inproc("fit", f, "--model", m, "--model-type", "gated-lstm", "--cell", "wmc"), "gated-lstm", "cell='lstm'")
    bad(inproc("fit", f, "--model", m, "--model-type", "arima", "--param", "order"), "KEY=VALUE")
    cfg.write_text('[model]\nepochs = 2\n')
    bad(inproc("fit", f, "--model", m, "--model-type", "arima", "--config", str(cfg)), "c.toml", "'epochs'", "arima")


AIS_CSV = ROOT / "datasets" / "ais" / "noaa_ny_harbor_2020-12-08.csv"


@slow
def test_evaluate_by_names_with_stride_max_gap_and_a_dead_reckoning_method(tmp_path):
    lines = AIS_CSV.read_text().splitlines()
    (tmp_path / "ais.csv").write_text("\n".join(lines[:1501]) + "\n")
    res = inproc("evaluate", str(tmp_path / "ais.csv"), "--adapter", "ais", "--covariate", "sog_kn", "--covariate", "cog_deg",
                 "--models", "dead-reckoning,persistence,online-rls", "--param", "dead-reckoning:method=two_points",
                 "--horizon", "1min", "--stride", "3", "--max-gap", "10min", "--train", "0.5",
                 "--report", str(tmp_path / "rep"), "-q")
    assert res.returncode == 0, res.stderr
    info = json.loads((tmp_path / "rep" / "info.json").read_text())
    # the repr shows parameters that differ from the defaults: rls is OnlineLinearForecaster's default
    assert "method='two_points'" in info["models"]["dead-reckoning"]
    assert info["models"]["online-rls"].startswith("OnlineLinearForecaster(") and "nlms" not in info["models"]["online-rls"]
    assert info["settings"]["stride"] == 3 and info["settings"]["max_gap"] == "10min"
    bad(inproc("evaluate", str(tmp_path / "ais.csv"), "--adapter", "ais", "--models", "persistence", "--param",
               "method=two_points", "--horizon", "1min"), "method", "persistence")
    bad(inproc("evaluate", str(tmp_path / "ais.csv"), "--adapter", "ais", "--models", "persistence,oracle",
               "--horizon", "1min"), "oracle")


@slow
def test_evaluate_a_saved_model_reads_data_with_its_schema(work, tmp_path):
    res = inproc("evaluate", str(work / "train.csv"), "--models", f"{work / 'm'},persistence", "--train", "200", "--val", "50",
                 "--report", str(tmp_path / "rep"), "-q")
    assert res.returncode == 0, res.stderr  # no --time-col/--id-col/--horizon: the model's
    info = json.loads((tmp_path / "rep" / "info.json").read_text())
    assert info["settings"]["horizons"] == ["0.5s", "1s"] and "cell='lstm'" in info["models"]["m"]


# ---------------------------------------------------------------- help, docs
def _options(cmd) -> list[str]:
    import typer.core

    return [o for p in cmd.params if isinstance(p, typer.core.TyperOption) for o in p.opts
            if o.startswith("--") and o != "--help"]


def _commands():
    import typer

    from tsgate.cli.app import app

    root = typer.main.get_command(app)
    out = {}
    for name, cmd in root.commands.items():
        for sub, c in getattr(cmd, "commands", {name: cmd}).items():
            out[name if sub == name else f"{name} {sub}"] = c
    return out


def test_every_help_shows_defaults_units_and_exit_codes():
    from typer.testing import CliRunner

    from tsgate.cli.app import app

    import re

    for name, cmd in _commands().items():
        res = CliRunner().invoke(app, [*name.split(), "--help"], terminal_width=100)
        assert res.exit_code == 0 and "Exit codes" in " ".join(res.output.split()), name
        entries: dict[str, str] = {}  # option → its help text, from the lines of the Options section
        current = None
        for line in res.output.split("Options:", 1)[1].splitlines():
            m = re.match(r"^  (?:-\w, )?(--[\w-]+)", line)
            if m:
                current = m.group(1)
                entries[current] = line
            elif current:
                entries[current] += " " + line.strip()
        assert set(_options(cmd)) <= set(entries), (name, set(_options(cmd)) - set(entries))
        for opt in _options(cmd):
            assert "default:" in entries[opt] or "required" in entries[opt], (name, opt, entries[opt])
    horizon = " ".join(CliRunner().invoke(app, ["fit", "--help"], terminal_width=100).output.split())
    assert "ms, s, min, h, d, w" in horizon
    fc = " ".join(CliRunner().invoke(app, ["forecast", "--help"], terminal_width=100).output.split())
    assert "target_time" in fc and "empty" in fc and "not known when the forecast is made" in fc


def test_docs_cli_reference_names_every_command_and_option():
    doc = (ROOT / "docs" / "cli.md").read_text()
    for name, cmd in _commands().items():
        assert f"tsgate {name}" in doc, name
        for opt in _options(cmd):
            assert f"`{opt}" in doc or f"{opt} " in doc or f"{opt}`" in doc, (name, opt)
    for unit in ("ms, s, min, h, d, w", "target_time", "75", "130"):
        assert unit in doc


# ---------------------------------------------------------------- progress and every cell
@slow
def test_evaluate_bar_moves_inside_a_gated_fit():
    """The bar is fed by the training's batch records: it passes fractions of the one task."""
    from tsgate import GatedLSTMForecaster
    from tsgate.cli.progress import BacktestProgress
    from tsgate.evaluation import backtest

    series = load_dataset("extmarker-10hz-seq1").split(train=240)[0]
    model = GatedLSTMForecaster(cell="lstm", window=6, hidden_size=4, max_epochs=3, progress=False, logger=None, seed=0)
    seen: list[tuple[float, str]] = []
    with BacktestProgress(enabled=True) as bar:
        update = bar._bar.update
        bar._bar.update = lambda task, **kw: (seen.append((kw["completed"], kw["description"])), update(task, **kw))[1]
        backtest({"gated-lstm": model}, series, horizons=[1], train=0.6, val=0.2, progress=False)
        bar.done()
    inside = [c for c, d in seen if "epoch" in d]
    assert inside and all(0 <= c <= 1 for c in inside)
    assert any(0 < c < 1 for c in inside) and inside == sorted(inside)  # moves forward within the fit
    assert any("epoch 3/3" in d for _, d in seen) and seen[-1][0] == 1


CELLS = ("wmc", "glstm", "lstm", "gru", "convrnn", "rnn")


@slow
def test_every_cell_fits_updates_in_a_new_process_and_forecasts(work, tmp_path):
    """fit -> update in a new process -> forecast -> a scheduled job run, for every cell."""
    frame = load_dataset("extmarker-10hz-seq1").to_frame().drop(columns=["segment"])
    newer = frame.iloc[400:430].rename(columns={"time": "t", "series": "sid"})
    failed = {}
    for cell in CELLS:
        m = str(tmp_path / cell)
        tiny = [a if a != "lstm" else cell for a in TINY]
        res = inproc("fit", str(work / "train.csv"), "--model", m, "--time-col", "t", "--id-col", "sid", *tiny, "-q")
        assert res.returncode == 0, (cell, res.stderr)
        up = cli("update", m, "new.csv", "--out", str(tmp_path / f"{cell}-up.csv"), "-q", cwd=work)
        if up.returncode != 0:
            failed[cell] = up.stderr.strip()[-300:]
            continue
        fc = inproc("forecast", m, str(work / "new.csv"), "--out", str(tmp_path / f"{cell}-fc.csv"), "-q")
        assert fc.returncode == 0, (cell, fc.stderr)
        values = pd.read_csv(tmp_path / f"{cell}-fc.csv").iloc[:, 4:].to_numpy()
        assert values.shape == (2, 9) and np.isfinite(values).all(), cell
        assert len(pd.read_csv(tmp_path / f"{cell}-up.csv")) > 0
        # and the scheduled job, in another new process, learns a drop of newer rows
        inbox, store = tmp_path / f"{cell}-inbox", tmp_path / f"{cell}-store"
        inbox.mkdir()
        newer.to_csv(inbox / "d1.csv", index=False)
        job = cli("job", "run", "--model", m, "--inbox", str(inbox), "--store", str(store), "-q", cwd=work)
        if job.returncode != 0:
            failed[f"{cell} job"] = job.stderr.strip()[-300:]
            continue
        runs = pd.read_parquet(store)
        assert len(runs) > 0 and np.isfinite(runs[["x1", "z3"]].to_numpy()).all(), cell
    assert not failed, failed
