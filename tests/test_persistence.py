"""Model files: JSON + safetensors, atomic replacement, refusal of damaged or foreign files."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest

from tsgate import IrregularSeries, ModelFileError, load
from tsgate.training.gated import GatedLSTMForecaster


@pytest.fixture(scope="module")
def model_and_data(tmp_path_factory):
    rng = np.random.default_rng(0)
    t = np.cumsum(rng.uniform(0.5, 1.5, 300))
    s = IrregularSeries.from_arrays(t, np.sin(t / 5), targets=["v"])
    est = GatedLSTMForecaster(cell="lstm", hidden_size=8, window=6, horizons=[1, 2], max_epochs=1, logger=None).fit(s)
    return est, s


def _save(est, tmp_path):
    return est.save(tmp_path / "model")


def test_layout_and_manifest(model_and_data, tmp_path):
    est, _ = model_and_data
    root = _save(est, tmp_path)
    desc = json.loads((root / "model.json").read_text())
    assert desc["format"] == "tsgate-model" and desc["schema_version"] == 1
    assert desc["estimator"] == "GatedLSTMForecaster"
    assert desc["fitted"]["targets"] == ["v"]
    assert [h[2] for h in desc["fitted"]["horizons"]] == ["1", "2"]
    assert (root / desc["data_dir"] / "arrays.safetensors").is_file()


def test_loading_never_unpickles(model_and_data, tmp_path, monkeypatch):
    est, s = model_and_data
    root = _save(est, tmp_path)

    def boom(*a, **k):
        raise AssertionError("unpickling attempted")

    import torch

    monkeypatch.setattr(pickle, "load", boom)
    monkeypatch.setattr(pickle, "loads", boom)
    monkeypatch.setattr(torch, "load", boom)
    loaded = load(root)
    np.testing.assert_array_equal(loaded.predict(s)["v"].to_numpy(), est.predict(s)["v"].to_numpy())


def test_corrupted_arrays_are_refused(model_and_data, tmp_path):
    est, _ = model_and_data
    root = _save(est, tmp_path)
    f = next(root.glob("data-*/arrays.safetensors"))
    raw = bytearray(f.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    f.write_bytes(bytes(raw))
    with pytest.raises(ModelFileError, match="checksum"):
        load(root)


@pytest.mark.parametrize(
    "mutate, needle",
    [
        (lambda d: d.update(schema_version=99), "schema version 99"),
        (lambda d: d.update(format="something"), "not a tsgate model"),
        (lambda d: d.update(estimator="os.system"), "unknown estimator"),
        (lambda d: d.update(data_dir="../elsewhere"), "corrupted"),
    ],
)
def test_bad_manifest_is_refused(model_and_data, tmp_path, mutate, needle):
    est, _ = model_and_data
    root = _save(est, tmp_path)
    desc = json.loads((root / "model.json").read_text())
    mutate(desc)
    (root / "model.json").write_text(json.dumps(desc))
    with pytest.raises(ModelFileError, match=needle):
        load(root)


def test_garbage_and_missing_parts(model_and_data, tmp_path):
    est, _ = model_and_data
    root = _save(est, tmp_path)
    (root / "model.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load(root)
    with pytest.raises(ModelFileError, match="does not exist"):
        load(tmp_path / "nothing-here")
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(ModelFileError, match="not a tsgate model"):
        est.save(other)
    assert (other / "notes.txt").read_text() == "mine"


def test_crash_during_save_keeps_the_old_model(model_and_data, tmp_path, monkeypatch):
    est, s = model_and_data
    root = _save(est, tmp_path)
    before = load(root).predict(s)["v"].to_numpy()
    real = os.replace

    def crash(src, dst, *a, **k):
        if str(dst).endswith("model.json"):
            raise KeyboardInterrupt("killed")
        return real(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        est.save(root)
    monkeypatch.setattr(os, "replace", real)
    np.testing.assert_array_equal(load(root).predict(s)["v"].to_numpy(), before)
    # the next save cleans what the killed one left behind
    est.save(root)
    assert len(list(root.glob("data-*"))) == 1
    assert not list(root.glob(".*tmp*"))
