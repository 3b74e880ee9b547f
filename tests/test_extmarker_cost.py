"""The ExtMarker benchmark's per-step cost: timed on the real-time stream path, merged runs exact."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from tsgate.adapters.extmarker import extmarker_split, load_extmarker

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))

import extmarker as bench  # noqa: E402

RATE = "10hz"


def _model(method: str):
    return bench._build(method, bench.grid(method, False)[0], bench.horizons(RATE), 0, RATE)


class _NoStream:
    """A model seen through an API without ``open_stream`` (the ``update`` fallback)."""

    def __init__(self, est):
        self.est = est

    def fit(self, data):
        self.est.fit(data)
        return self

    def update(self, data):
        return self.est.update(data)


def test_stream_cost_times_push_with_every_horizon_and_learning(monkeypatch):
    s = load_extmarker(7, RATE)
    n_tr, n_val = extmarker_split(RATE)
    online, fixed = _model("nlms"), _model("persistence")

    def refuse(*args, **kwargs):
        raise AssertionError("the stream path must not call update")

    monkeypatch.setattr(online, "update", refuse)
    monkeypatch.setattr(fixed, "update", refuse)
    out = bench.stream_cost({"nlms": online, "persistence": fixed}, s, n_tr, n_val, 25)
    for name in ("nlms", "persistence"):
        ms = np.asarray(out[name]["ms"])
        assert out[name]["path"] == "stream"
        assert ms.shape == (25,) and np.isfinite(ms).all() and (ms > 0).all()
        assert out[name]["forecasts"] == 25  # all 21 horizons from every sample
    assert out["nlms"]["learned"] == 25  # every sample after the training part reveals targets
    assert out["persistence"]["learned"] == 0
    # the timed stream continued the fitted model: it learned the validation samples it was pushed
    assert online.history_.to_frame()["time"].max() == pytest.approx(s.to_frame()["time"].iloc[n_tr + 24])


def test_stream_cost_falls_back_to_update_without_a_stream():
    s = load_extmarker(7, RATE)
    n_tr, n_val = extmarker_split(RATE)
    out = bench.stream_cost({"p": _NoStream(_model("persistence"))}, s, n_tr, n_val, 5)["p"]
    assert out["path"] == "update" and len(out["ms"]) == 5 and np.isfinite(out["ms"]).all()
    assert out["forecasts"] == 5


def _row(per_sequence: dict[str, float], h: float, cost: float = float("nan")) -> dict:
    n = float(np.mean(list(per_sequence.values())))
    return {"nrmse": n, "per_horizon": [h] * 21, "mae": 1.0 + h, "rmse": 2.0, "max_error": 9.0, "jitter": 0.4,
            "seed_spread": [n, n], "per_sequence": per_sequence, "configs": {q: {} for q in per_sequence},
            "step_ms_median": cost, "step_ms_p99": cost}


def test_merge_is_the_mean_over_all_sequences_and_refuses_overlap(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps({RATE: {"nlms": _row({"2": 0.4, "3": 0.6}, 0.2, cost=1.5)}}))
    b.write_text(json.dumps({RATE: {"nlms": _row({"1": 0.8}, 0.5), "analog": _row({"1": 0.3}, 0.1)}}))
    out = tmp_path / "m.json"
    bench.main(["--merge", str(a), str(b), "--json", str(out)])
    m = json.loads(out.read_text())[RATE]
    assert m["nlms"]["nrmse"] == pytest.approx((0.4 + 0.6 + 0.8) / 3)
    assert m["nlms"]["per_horizon"][0] == pytest.approx((2 * 0.2 + 0.5) / 3)
    assert m["nlms"]["mae"] == pytest.approx((2 * 1.2 + 1.5) / 3)
    assert list(m["nlms"]["per_sequence"]) == ["1", "2", "3"] and m["nlms"]["step_ms_median"] == 1.5
    assert m["analog"]["per_sequence"] == {"1": 0.3}
    with pytest.raises(SystemExit):
        bench.main(["--merge", str(a), str(a), "--json", str(out)])


def test_cost_only_retimes_the_stored_configs_on_the_stream_path(tmp_path, capsys):
    js, md = tmp_path / "c.json", tmp_path / "r.md"
    cfg = bench.grid("nlms", False)[1]
    row = dict(_row({"7": 0.3}, 0.3, cost=99.0), configs={"7": cfg})
    js.write_text(json.dumps({RATE: {"nlms": row, "persistence": _row({"7": 0.4}, 0.4)}}))
    bench.main(["--cost-only", str(js), "--rates", RATE, "--cost-sequences", "7", "--cost-steps", "12"])
    got = json.loads(js.read_text())[RATE]
    for m in ("nlms", "persistence"):
        assert got[m]["step_path"] == "stream"
        assert 0 < got[m]["step_ms_median"] <= got[m]["step_ms_p99"] < 99.0
        assert got[m]["step_timed"]["steps"] == 12 and got[m]["step_timed"]["full_forecasts"] == 12
    assert got["nlms"]["step_timed"]["learning_steps"] == 12
    assert got["nlms"]["nrmse"] == row["nrmse"] and got["nlms"]["configs"]["7"] == cfg  # scores untouched
    assert "nlms: step" in capsys.readouterr().out
    bench.main(["--render", str(js), "--out", str(md)])
    assert "| step ms median (`open_stream().push`) | p99 |" in md.read_text()
    # results timed before the stream path are labelled as such, row by row when mixed
    got["persistence"].pop("step_path")
    js.write_text(json.dumps({RATE: got}))
    bench.main(["--render", str(js), "--out", str(md)])
    text = md.read_text()
    assert "step ms median (call per row)" in text and "persistence (step: `update`)" in text
    with pytest.raises(SystemExit):
        bench.main(["--cost-only", str(js), "--rates", "30hz"])


def test_tables_check_analog_against_the_best_linear_fit_per_horizon(tmp_path):
    js, md = tmp_path / "c.json", tmp_path / "r.md"
    lin = [0.10] + [0.30] * 20
    online = [0.09] + [0.50] * 20
    analog = [0.094] + [0.29] * 19 + [0.31]  # 4 % above the best at 0.1 s; above `linear` at 2.1 s
    res = {m: dict(_row({"2": float(np.mean(h))}, 0.0), per_horizon=h)
           for m, h in (("linear", lin), ("linear-online", online), ("analog", analog))}
    js.write_text(json.dumps({RATE: res}))
    bench.main(["--render", str(js), "--out", str(md)])
    text = md.read_text()
    assert ("analog / the best of linear, linear-online at each horizon: below at every horizon >= 0.3 s: NO "
            "(largest ratio 1.033 at 2100ms); at 0.1 s ratio 1.044, within 5 %: yes.") in text
