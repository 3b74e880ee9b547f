"""The ExtMarker benchmark's published (non-causal) protocol: labelled so, and truly non-causal."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tsgate.adapters.extmarker import extmarker_split, load_extmarker

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))

import extmarker_published as published  # noqa: E402

CFG = {"snap1": {"shl": 4, "lr": 0.01, "hidden": 8}, "uoro": {"shl": 4, "lr": 0.01, "hidden": 8},
       "lms": {"shl": 4, "lr": 5e-4}}


def _values(n: int = 420) -> np.ndarray:
    s = load_extmarker(7, "10hz")
    return np.asarray(next(iter(s.groups())).values, dtype=np.float64)[:n].copy()


@pytest.mark.parametrize("algo", published.ALGOS)
def test_published_timing_uses_the_future_and_causal_timing_does_not(algo):
    """Perturbing x[s] changes forecasts issued before s only with the published timing."""
    X = _values()
    n_tr = extmarker_split("10hz")[0]
    h, s = 5, 360
    Xp = X.copy()
    Xp[s] += 5.0  # mm, every coordinate
    for causal in (False, True):
        P = published.forecast_path(X, n_tr, algo, h, CFG[algo], causal=causal)
        Pp = published.forecast_path(Xp, n_tr, algo, h, CFG[algo], causal=causal)
        # P[t + h] is the forecast issued at t; the ones issued at t < s
        before = slice(0, s + h)
        moved = ~np.isclose(P[before], Pp[before], rtol=0, atol=1e-9, equal_nan=True).all(axis=1)
        issued = np.nonzero(moved)[0] - h
        if causal:
            assert issued.size == 0
            assert not np.allclose(P[s + h:], Pp[s + h:])  # it does learn from x[s] once observed
        else:
            # at step t the weights learn x[t + h]: x[s] enters the forecasts issued from s - h + 1 on
            assert issued.min() == s - h + 1
            assert set(range(s - h + 1, s)) <= set(issued.tolist())


def test_causal_benchmark_forecasts_ignore_a_later_sample():
    """The causal protocol (tsgate's estimators on backtest) does not move a forecast issued before s."""
    import extmarker as bench

    from tsgate.data.series import IrregularSeries
    from tsgate.evaluation.backtest import backtest

    s = load_extmarker(7, "10hz").take(np.arange(420))
    frame = s.to_frame()
    times = np.sort(frame["time"].unique())
    t_s = times[380]
    bumped = frame.copy()
    bumped.loc[bumped["time"] == t_s, list(s.targets)] += 5.0
    sp = IrregularSeries.from_frame(bumped.drop(columns=[c for c in ("segment", "series") if c in bumped]),
                                    target_cols=list(s.targets))
    hs = bench.horizons("10hz")[:3]
    out = []
    for data in (s, sp):
        m = bench._build("nlms", bench.grid("nlms", False)[0], hs, 0, "10hz")
        r = backtest({"m": m}, data, horizons=hs, train=300, val=0, refit="online", progress=False)
        f = r.forecasts.sort_values(["origin_time", "horizon", "target"])
        out.append(f)
    a, b = out
    early = (a["origin_time"] < t_s).to_numpy()
    assert early.sum() > 100
    np.testing.assert_array_equal(a["forecast"].to_numpy()[early], b["forecast"].to_numpy()[early])
    assert not np.allclose(a["forecast"].to_numpy()[~early], b["forecast"].to_numpy()[~early])


def _keys(obj, depth=0):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield depth, k
            yield from _keys(v, depth + 1)


@pytest.mark.slow
def test_published_protocol_cli_labels_everything_non_causal(tmp_path):
    out, js = tmp_path / "extmarker.md", tmp_path / "pub.json"
    out.write_text("# causal tables\n\n| persistence | 0.957 |\n")
    cmd = [sys.executable, str(BENCH / "extmarker.py"), "--protocol", "published", "--rates", "10hz",
           "--sequences", "7", "--horizons", "100ms,2", "--methods", "lms,snap1", "--seeds", "1",
           "--out", str(out), "--json", str(js)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    lines = [ln for ln in p.stdout.splitlines() if ln.strip() and not set(ln) <= set("|-")]
    assert lines and all("non-causal" in ln.lower() for ln in lines), [ln for ln in lines if "non-causal" not in ln.lower()]
    text = out.read_text()
    assert text.startswith(published.CAUSAL_SECTION[0]) and "| persistence | 0.957 |" in text  # causal part kept
    section = text.split(published.SECTION[0], 1)[1].split(published.SECTION[1], 1)[0]
    body = [ln for ln in section.splitlines() if ln.strip() and not set(ln) <= set("|-")]
    assert body and all("non-causal" in ln.lower() for ln in body)
    data = json.loads(js.read_text())
    assert list(data) == ["published_protocol_non_causal", "command_non_causal"]
    assert data["command_non_causal"].startswith("python benchmarks/extmarker.py --protocol published")
    block = data["published_protocol_non_causal"]["10hz"]
    assert set(block) == {"lms_non_causal", "snap1_non_causal"}
    for depth, key in _keys(block):
        if depth <= 1:  # method and metric keys (below: sequence numbers and hyperparameter names)
            assert "non_causal" in key, key
    lms = block["lms_non_causal"]
    assert "| LMS (non-causal) |" in section and "authors: shl 12/24/36/48/60, lr 0.0001/0.0002/0.0005" in section
    before = text
    out.write_text(text.replace("| LMS (non-causal) |", "| edited |"))
    again = subprocess.run([sys.executable, str(BENCH / "extmarker.py"), "--render", str(js), "--out", str(out)],
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert out.read_text() == before  # the non-causal section re-rendered from its JSON, the causal part kept
    assert lms["horizons_samples_non_causal"] == [1, 2]
    assert len(lms["per_horizon_non_causal"]) == 2 and 0 < lms["nrmse_non_causal"] < 1
    assert lms["runs_non_causal"] == 2 * len(published.grid("lms", "10hz"))


def test_causal_write_keeps_the_non_causal_section(tmp_path):
    path = tmp_path / "r.md"
    published.write_section(path, "# causal A", non_causal=False)
    published.write_section(path, "# non-causal B", non_causal=True)
    published.write_section(path, "# causal C", non_causal=False)
    text = path.read_text()
    assert "causal A" not in text and text.index("causal C") < text.index("non-causal B")
    published.write_section(path, "# non-causal D", non_causal=True)
    text = path.read_text()
    assert "non-causal B" not in text and "causal C" in text and "non-causal D" in text


@pytest.mark.slow
def test_published_protocol_refuses_a_bad_horizon_or_method(tmp_path):
    base = [sys.executable, str(BENCH / "extmarker.py"), "--rates", "10hz", "--out", str(tmp_path / "r.md")]
    p = subprocess.run(base + ["--protocol", "published", "--horizons", "22"], capture_output=True, text=True)
    assert p.returncode == 2 and "--horizons" in p.stderr and "22" in p.stderr
    p = subprocess.run(base + ["--protocol", "published", "--methods", "nlms"], capture_output=True, text=True)
    assert p.returncode == 2 and "--methods" in p.stderr and "non-causal" in p.stderr
    p = subprocess.run(base + ["--horizons", "1"], capture_output=True, text=True)
    assert p.returncode == 2 and "--protocol published" in p.stderr
    assert not (tmp_path / "r.md").exists()


def test_sequences_can_differ_per_rate(capsys):
    import argparse

    import extmarker as bench

    ap = argparse.ArgumentParser(prog="extmarker.py")
    assert bench._rate_sequences(ap, "2,5-6", "30hz") == [2, 5, 6]
    assert bench._rate_sequences(ap, "3.33hz=1-3;30hz=2,8", "30hz") == [2, 8]
    assert bench._rate_sequences(ap, "3.33hz=1-3;30hz=2,8", "10hz") == list(range(1, 10))
    for bad, words in (("10hz=0-2", "1 to 9"), ("40hz=1", "unknown rate"), ("a-b", "not a list")):
        with pytest.raises(SystemExit):
            bench._rate_sequences(ap, bad, "10hz")
        assert words in capsys.readouterr().err


def test_render_writes_the_causal_tables_of_a_stored_run_and_keeps_the_non_causal_section(tmp_path):
    import extmarker as bench

    out, js = tmp_path / "extmarker.md", tmp_path / "causal.json"
    published.write_section(out, "# non-causal tables\n| SnAp-1 (non-causal) | 0.163 |", non_causal=True)
    row = {"nrmse": 0.5252, "per_horizon": [0.1] * 21, "mae": 1.67, "rmse": 2.38, "max_error": 13.4, "jitter": 0.45,
           "seed_spread": [0.5252, 0.5252], "per_sequence": {"2": 0.43, "7": 0.21}, "configs": {"2": {}, "7": {}},
           "step_ms_median": float("nan"), "step_ms_p99": float("nan")}
    fewer = dict(row, nrmse=0.3, per_sequence={"2": 0.3})
    js.write_text(json.dumps({"10hz": {"linear-online": row, "analog": fewer}}))
    bench.main(["--render", str(js), "--out", str(out)])
    text = out.read_text()
    assert "PretrainedAnalogForecaster (network + analogs + RLS stacker) (sequences 2 only) | 0.300" in text
    assert "| analog | 0.300 | - |" in text  # per sequence: not run on 7
    assert "analog / best linear" not in text  # no ratio between different sequence sets
    assert text.index("0.525") < text.index("SnAp-1 (non-causal) | 0.163")
    assert "| online ridge (RLS on every revealed target, 5 s of relative lags) | 0.525 | - | 1.67 |" in text
    assert "| 13.4 | 0.45 | - | - |" in text  # step cost not timed
    js.write_text("[1, 2]")
    with pytest.raises(SystemExit):
        bench.main(["--render", str(js), "--out", str(out)])
