"""The non-causal AIS bounds (benchmarks/ais_oracle.py): the oracle blend and the oracle analog library."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))

import ais_oracle as oracle  # noqa: E402


def _members(rng: np.random.Generator, m: int) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    origin = rng.normal(0, 5000, (m, 2))
    truth = origin + rng.normal(0, 800, (m, 2))
    members = {"persistence": origin.copy(),
               "ahead": truth + rng.normal(0, 300, (m, 2)) + 400.0,
               "behind": truth + rng.normal(0, 300, (m, 2)) - 400.0,
               "noisy": truth + rng.normal(0, 2000, (m, 2))}
    return members, origin, truth


def test_oracle_combination_never_worse_than_its_best_member_on_its_own_pairs():
    for seed in range(5):
        members, origin, truth = _members(np.random.default_rng(seed), 300)
        w, pos = oracle.oracle_combination(members, origin, truth)
        best = min(oracle.mean_error(p, truth) for p in members.values())
        err = oracle.mean_error(pos, truth)
        assert err <= best + 1e-9
        assert min(w.values()) >= 0 and abs(sum(w.values()) - 1) < 1e-9
        # "ahead" and "behind" err by +-400 m on each axis: their blend cancels it
        assert err < 0.8 * best
        assert w["ahead"] > 0.3 and w["behind"] > 0.3


def test_oracle_combination_falls_back_to_a_single_member_that_is_exact():
    members, origin, truth = _members(np.random.default_rng(7), 200)
    members["exact"] = truth.copy()
    w, pos = oracle.oracle_combination(members, origin, truth)
    assert oracle.mean_error(pos, truth) <= 1e-6
    assert w["exact"] > 0.99


def _tracks(series: list[str], time_s: list[float], dy: list[float]) -> dict[str, np.ndarray]:
    """Vessels at (0, 0) heading north at 5 m/s; ``dy``: how far north each went in the horizon (m)."""
    n = len(series)
    y = np.zeros((n, 1, 2))
    y[:, 0, 1] = dy
    return {"series": np.asarray(series, object), "origin_row": np.arange(n), "time": np.asarray(time_s, float),
            "origin": np.zeros((n, 2)), "velocity": np.tile([0.0, 5.0], (n, 1)), "y": y}


def test_oracle_analogs_leave_out_the_query_vessel_and_use_the_future():
    # row 0 is the query (vessel A at t = 0); row 1 is A itself an hour later (a perfect analog that
    # must not count), row 2 vessel B two hours LATER than the query (allowed: the oracle sees the future)
    tracks = _tracks(["A", "A", "B"], [0.0, 3600.0, 7200.0], [0.0, 4000.0, 2500.0])
    lib = oracle.oracle_library(tracks, "A")
    assert len(lib) == 1 and np.allclose(lib.disp[0, 0], [0.0, 2500.0])
    pos, count = oracle.oracle_analogs(tracks, np.array([0]), np.array([900.0]))
    assert count[0, 0] == 1
    assert np.allclose(pos[0, 0], [0.0, 2500.0])


def test_oracle_analogs_without_another_vessel_match_nothing():
    tracks = _tracks(["A", "A", "A"], [0.0, 3600.0, 7200.0], [0.0, 4000.0, 4500.0])
    pos, count = oracle.oracle_analogs(tracks, np.array([0, 1]), np.array([900.0]))
    assert (count == 0).all() and np.isnan(pos).all()
    # a second vessel matches both of A's queries; each query sees B only
    tracks = _tracks(["A", "A", "B"], [0.0, 3600.0, 0.0], [0.0, 4000.0, 1000.0])
    pos, count = oracle.oracle_analogs(tracks, np.array([0, 1, 2]), np.array([900.0]))
    assert np.allclose(pos[:2, 0, 1], 1000.0)
    # B's query sees A's two origins as one vessel (its best match; both are at the same place)
    assert count[2, 0] == 1 and 0.0 <= pos[2, 0, 1] <= 4000.0


def test_per_vessel_oracle_weights_fit_each_vessel_on_its_own():
    rng = np.random.default_rng(3)
    origin = rng.normal(0, 5000, (100, 2))
    truth = origin + rng.normal(0, 800, (100, 2))
    vessel = np.repeat(np.array(["A", "B"], object), 50)
    # member "a" is exact for vessel A only, "b" for vessel B only
    a = np.where((vessel == "A")[:, None], truth, truth + 1000.0)
    b = np.where((vessel == "B")[:, None], truth, truth - 1000.0)
    members = {"persistence": origin, "a": a, "b": b}
    pooled = oracle.mean_error(oracle.oracle_combination(members, origin, truth)[1], truth)
    per_vessel = oracle.mean_error(oracle.per_vessel_combination(members, origin, truth, vessel), truth)
    assert per_vessel < 1e-6 < 100.0 < pooled
