"""Model files under concurrent writers and hostile edits: the lock, leftovers, tampering, exact times.

Each test here failed before the fix it guards (issue 14): saves that deleted each other's data
folders, NaN weights that loaded, tracebacks from edited shapes, codes and deep JSON, and
nanosecond timestamps rounded on the way through a model file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tsgate import IrregularSeries, LinearARForecaster, LockBusyError, ModelFileError, NumericRangeError, load, model_lock
from tsgate.baselines import PersistenceForecaster
from tsgate.estimators.persistence import LOCK_FILE, read_model_dir


def _series(n: int = 40, start: int = 0) -> IrregularSeries:
    t = np.arange(start, start + n, dtype=float) * 0.5
    return IrregularSeries.from_arrays(t, np.sin(t), targets=["v"])


@pytest.fixture
def saved(tmp_path) -> Path:
    est = PersistenceForecaster(horizons=[1, 2]).fit(_series())
    return est.save(tmp_path / "m")


def _rewrite_arrays(root: Path, edit) -> None:
    """Change the arrays with ``edit(dict)`` and fix the checksum, as a deliberate tamperer would."""
    from safetensors.numpy import save_file

    from tsgate.fileio import sha256_file

    desc, arrays = read_model_dir(root)
    arrays = dict(arrays)
    edit(arrays)
    f = root / desc["data_dir"] / "arrays.safetensors"
    save_file(arrays, str(f))
    desc["files"]["arrays.safetensors"]["sha256"] = sha256_file(f)
    (root / "model.json").write_text(json.dumps(desc))


# ---------------------------------------------------------------- the lock
def test_lock_is_reentrant_and_save_inside_it_does_not_wait(saved):
    est = load(saved)
    with model_lock(saved, wait_s=0):
        with model_lock(saved, wait_s=0):
            est.save(saved)  # takes the same lock again: no wait, no LockBusyError
    assert (saved / LOCK_FILE).is_file()


def _hold_lock_in_subprocess(root: Path, seconds: float) -> subprocess.Popen:
    code = (
        "import sys, time\n"
        "from tsgate import model_lock\n"
        f"with model_lock({str(root)!r}, wait_s=0):\n"
        "    print('held', flush=True)\n"
        f"    time.sleep({seconds})\n"
    )
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "held"
    return p


def test_a_second_writer_waits_then_gives_up_naming_the_holder(saved):
    p = _hold_lock_in_subprocess(saved, 30)
    try:
        est = load(saved)
        before = (saved / "model.json").read_bytes()
        t0 = time.monotonic()
        with pytest.raises(LockBusyError, match=f"pid {p.pid}") as err:
            with model_lock(saved, wait_s=0.4):
                est.save(saved)
        assert time.monotonic() - t0 >= 0.4
        assert "\n" not in str(err.value) and "model.lock" in str(err.value)
        assert (saved / "model.json").read_bytes() == before  # nothing written
    finally:
        p.kill()
        p.wait()
    # the kernel released the killed holder's lock: the save goes through at once
    with model_lock(saved, wait_s=0):
        load(saved).save(saved)


def test_save_waits_for_a_writer_that_finishes(saved):
    p = _hold_lock_in_subprocess(saved, 0.5)
    try:
        t0 = time.monotonic()
        load(saved).save(saved)  # default wait: blocks until the holder is done
        assert time.monotonic() - t0 >= 0.2
    finally:
        p.wait(timeout=30)
    load(saved)


def test_missing_or_unlockable_model_folder_is_a_model_file_error(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        with model_lock(tmp_path / "nope"):
            pass
    assert not (tmp_path / "nope").exists()


# ---------------------------------------------------------------- cleanup
def test_cleanup_keeps_entries_made_after_the_lock_and_removes_older_leftovers(saved):
    est = load(saved)
    old = saved / "data-000000000001"
    old.mkdir()
    (old / "arrays.safetensors").write_bytes(b"left by a killed save")
    stale_tmp = saved / ".tmp-999999-data-000000000002"
    stale_tmp.mkdir()
    past = time.time() - 3600
    os.utime(old, (past, past))
    os.utime(stale_tmp, (past, past))
    with model_lock(saved, wait_s=0):
        time.sleep(0.1)
        # another (non-cooperating) writer's fresh folder: not provably orphaned, must stay
        fresh = saved / "data-ffffffffffff"
        fresh.mkdir()
        est.save(saved)
    names = {p.name for p in saved.iterdir()}
    assert "data-ffffffffffff" in names
    assert old.name not in names and stale_tmp.name not in names
    desc = json.loads((saved / "model.json").read_text())
    assert desc["data_dir"] in names and len([n for n in names if n.startswith("data-")]) == 2
    load(saved)


def test_interrupted_save_removes_its_own_folder(saved, monkeypatch):
    est = load(saved)
    before = set(os.listdir(saved))
    real = os.replace

    def crash(src, dst, *a, **k):
        if str(dst).endswith("model.json"):
            raise KeyboardInterrupt
        return real(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        est.save(saved)
    monkeypatch.setattr(os, "replace", real)
    assert set(os.listdir(saved)) == before  # its new data folder and temporary file are gone
    load(saved)


def test_fit_into_a_folder_left_by_a_killed_first_save_is_allowed(tmp_path):
    root = tmp_path / "m"
    root.mkdir()
    (root / LOCK_FILE).write_text("123\n")
    (root / ".tmp-123-data-abcdefabcdef").mkdir()
    PersistenceForecaster(horizons=[1]).fit(_series()).save(root)
    load(root)


# ---------------------------------------------------------------- tampered files
@pytest.fixture
def weighted(tmp_path) -> Path:
    """A saved model with weights (a linear AR's coefficients in ``state/coef``)."""
    est = LinearARForecaster(horizons=[1, 2], window=4, alpha=1.0, use_dt=False).fit(_series())
    return est.save(tmp_path / "w")


def test_non_finite_weights_are_refused_on_load(weighted):
    _rewrite_arrays(weighted, lambda a: a.__setitem__("state/coef", np.full_like(a["state/coef"], np.nan)))
    with pytest.raises(ModelFileError, match="non-finite"):
        load(weighted)


def test_a_missing_covariate_in_the_history_is_a_value_not_damage(weighted):
    """NaN in the saved history is data (a vessel without SOG); only inf is refused there."""
    _rewrite_arrays(weighted, lambda a: a["history/values"].__setitem__((0, 0), np.nan))
    assert np.isnan(load(weighted).history_.frame["v"].iloc[0])
    _rewrite_arrays(weighted, lambda a: a["history/values"].__setitem__((0, 0), np.inf))
    with pytest.raises(ModelFileError, match="non-finite"):
        load(weighted)


def test_a_model_with_nan_state_is_never_saved(weighted, tmp_path):
    saved = weighted
    est = load(saved)
    est.coef_[:] = np.nan  # as a diverged model's weights would be
    with pytest.raises(NumericRangeError, match="non-finite"):
        est.save(tmp_path / "other")
    assert not (tmp_path / "other").exists()
    before = (saved / "model.json").read_bytes()
    with pytest.raises(NumericRangeError):
        est.save(saved)
    assert (saved / "model.json").read_bytes() == before


@pytest.mark.parametrize(
    "edit, needle",
    [
        (lambda a: a.__setitem__("history/series", a["history/series"] + 7), "series code"),
        (lambda a: a.__setitem__("history/values", a["history/values"][:, :0]), "shape"),
        (lambda a: a.__setitem__("history/row", a["history/row"][:-1]), "shape"),
        (lambda a: a.pop("history/segment"), "history/segment"),
        (lambda a: a.__setitem__("history/series", a["history/series"].astype(np.float64)), "integers"),
    ],
    ids=["code-out-of-range", "values-columns", "row-length", "missing-array", "float-codes"],
)
def test_inconsistent_history_arrays_are_one_line_model_file_errors(saved, edit, needle):
    _rewrite_arrays(saved, edit)
    with pytest.raises(ModelFileError, match=needle) as err:
        load(saved)
    assert "\n" not in str(err.value)


def test_deep_json_and_edited_shapes_are_model_file_errors(saved, tmp_path):
    (saved / "model.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ModelFileError, match="nested too deeply|not valid JSON") as err:
        load(saved)
    assert "\n" not in str(err.value)


@pytest.mark.slow
def test_edited_network_shape_is_a_one_line_model_file_error(tmp_path):
    from tsgate import GatedLSTMForecaster

    s = _series(80)
    GatedLSTMForecaster(cell="lstm", hidden_size=4, window=4, horizons=[1], max_epochs=1, logger=None).fit(s).save(tmp_path / "g")
    desc = json.loads((tmp_path / "g" / "model.json").read_text())
    desc["fitted"]["state"]["net_kwargs"]["hidden_size"] = 5
    (tmp_path / "g" / "model.json").write_text(json.dumps(desc))
    with pytest.raises(ModelFileError, match="inconsistent") as err:
        load(tmp_path / "g")
    assert "\n" not in str(err.value)


# ---------------------------------------------------------------- exact times
def _ns_series(times: pd.DatetimeIndex) -> IrregularSeries:
    df = pd.DataFrame({"time": times, "v": np.sin(np.arange(len(times)) / 3.0)})
    return IrregularSeries.from_frame(df, time_col="time")


def test_nanosecond_timestamps_survive_the_model_file_and_update_repeats_no_origin(tmp_path):
    # odd nanoseconds, which float seconds since the epoch cannot hold exactly
    times = pd.date_range("2024-03-01 12:00:00", periods=41, freq="1s", tz="UTC") + pd.to_timedelta(
        np.arange(41) * 7 + 123_456_789, unit="ns"
    )
    s = _ns_series(times)
    est = PersistenceForecaster(horizons=[1]).fit(s.take(np.arange(40)))
    est.save(tmp_path / "m")
    back = load(tmp_path / "m")
    pd.testing.assert_series_equal(back.history_.frame["time"], est.history_.frame["time"])
    out = back.update(s.take(np.arange(40, 41)))
    assert len(out) == 1  # one new row, one origin: the last known one is not repeated
    again = load(tmp_path / "m").update(s.take(np.arange(40, 41)))
    assert len(again) == 1


def test_model_files_from_before_exact_times_still_load(saved):
    _rewrite_arrays(saved, lambda a: a.pop("history/time_ns", None))
    assert len(load(saved).history_) > 0


def test_copy_of_model_keeps_working(saved, tmp_path):
    """A model directory copied with its lock file is an independent model."""
    shutil.copytree(saved, tmp_path / "copy")
    with model_lock(saved, wait_s=0):
        load(tmp_path / "copy").save(tmp_path / "copy")  # other folder, other lock
