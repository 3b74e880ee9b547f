"""GatedLSTMForecaster end to end on the bundled real data: ExtMarker markers and AIS vessels."""

from __future__ import annotations

import numpy as np
import pytest

from tsgate import load, load_dataset
from tsgate.baselines import PersistenceForecaster
from tsgate.training.gated import GatedLSTMForecaster


def _mae(est, data) -> float:
    return -est.score(data)


def test_extmarker_published_split_fit_update_and_beat_persistence(tmp_path):
    train, val, test = load_dataset("extmarker-10hz-seq1").split(train=300, val=300)
    hs = ["500ms", "1s"]
    est = GatedLSTMForecaster(cell="wmc", hidden_size=16, window=20, horizons=hs, max_epochs=8, logger=None)
    est.fit(train.append(val))
    fc = est.predict(test)
    assert list(fc.columns[4:]) == ["x1", "x2", "x3", "y1", "y2", "y3", "z1", "z2", "z3"]
    assert np.isfinite(fc.iloc[:, 4:].to_numpy()).all()
    gated = _mae(est, test)
    persistence = _mae(PersistenceForecaster(horizons=hs).fit(train), test)
    assert gated < persistence, (gated, persistence)  # breathing is predictable beyond "stay put"
    # online continuation on the test part, then a reload gives the same model
    before = est.n_online_updates_
    est.update(test.split(train=100)[0])
    assert est.n_online_updates_ > before
    again = load(est.save(tmp_path / "m"))
    np.testing.assert_array_equal(again.predict(test).iloc[:, 4:].to_numpy(), est.predict(test).iloc[:, 4:].to_numpy())


def test_ais_global_model_over_all_vessels():
    data = load_dataset("ais-nyharbor")
    train, _, test = data.split(train=0.7)
    hs = ["1min", "5min"]
    est = GatedLSTMForecaster(cell="lstm", hidden_size=16, window=8, horizons=hs, max_epochs=3, logger=None)
    est.fit(train)
    fc = est.predict(data)
    assert set(fc["series"]) <= set(data.series_ids) and len(set(fc["series"])) > 20
    assert list(fc.columns[4:]) == ["east_m", "north_m"]
    assert np.isfinite(fc[["east_m", "north_m"]].to_numpy()).all()
    err = _mae(est, test)
    persistence = _mae(PersistenceForecaster(horizons=hs).fit(train), test)
    # after 3 epochs it must at least be in the range of persistence (metres, 1-5 min ahead)
    assert err < 1.5 * persistence, (err, persistence)
