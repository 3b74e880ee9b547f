"""Every metric against numbers computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tsgate.evaluation import metrics as M
from tsgate.exceptions import ConfigError

P = np.array([[1.0, 2.0], [3.0, 4.0], [0.0, 0.0]])
Y = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
G = [(0, 1)]


def test_position_errors_are_euclidean_distances():
    # rows: (0, 2) -> 2, (3, 4) -> 5, (0, 0) -> 0
    np.testing.assert_allclose(M.unit_errors(P, Y, G)[:, 0], [2.0, 5.0, 0.0])
    assert M.mae(P, Y, G) == pytest.approx(7 / 3)
    assert M.rmse(P, Y, G) == pytest.approx(math.sqrt(29 / 3))
    assert M.max_error(P, Y, G) == 5.0


def test_scalar_errors_without_groups():
    # |p - y| = [[0, 2], [3, 4], [0, 0]]
    assert M.mae(P, Y) == pytest.approx(9 / 6)
    assert M.rmse(P, Y) == pytest.approx(math.sqrt(29 / 6))
    assert M.max_error(P, Y) == 4.0


def test_nrmse_extmarker_formula():
    # column 0 truth (1, 0, 0), mean 1/3: Σ(y - ȳ)² = 4/9 + 1/9 + 1/9 = 2/3; column 1 all 0
    # numerator Σ(p - y)² = 0 + 4 + 9 + 16 = 29
    assert M.nrmse(P, Y) == pytest.approx(math.sqrt(29) / math.sqrt(2 / 3))


def test_nrmse_centres_each_series_on_its_own_mean():
    y = np.array([[0.0], [2.0], [10.0], [12.0]])
    p = np.array([[1.0], [1.0], [11.0], [11.0]])
    s = np.array(["a", "a", "b", "b"])
    assert M.nrmse(p, y, s) == pytest.approx(1.0)  # 4 / (2 + 2)
    assert M.nrmse(p, y) == pytest.approx(math.sqrt(4 / 104))  # one mean 6 for all


def test_smape_m4_definition():
    p = np.array([[110.0], [90.0]])
    y = np.array([[100.0], [100.0]])
    expected = 100 * (2 * 10 / 210 + 2 * 10 / 190) / 2
    assert M.smape(p, y) == pytest.approx(expected)
    assert expected == pytest.approx(10.025062656641603)
    assert M.smape(np.zeros((2, 1)), np.zeros((2, 1))) == 0.0


def test_rpd_vector_and_scalar():
    # group rows: (1,2) vs (1,0): 2 / ((√5 + 1)/2); (3,4) vs 0: 5 / 2.5 = 2; zeros: 0
    expected = 100 * (2 / ((math.sqrt(5) + 1) / 2) + 2.0 + 0.0) / 3
    assert M.rpd(P, Y, G) == pytest.approx(expected)
    p = np.array([[110.0], [90.0]])
    y = np.array([[100.0], [100.0]])
    assert M.rpd(p, y) == pytest.approx(M.smape(p, y))  # per scalar: the same formula


def test_jitter_consecutive_predictions():
    p = np.array([[0.0, 0.0], [3.0, 4.0], [3.0, 4.0], [6.0, 8.0]])
    assert M.jitter(p, G) == pytest.approx(10 / 3)
    assert M.jitter(p) == pytest.approx(14 / 6)
    # a break at row 2 (new series): the pair (1, 2) is not counted
    assert M.jitter(p, G, breaks=np.array([True, False, True, False])) == pytest.approx(5.0)
    assert math.isnan(M.jitter(p[:1], G))


def test_compute_drops_rows_with_nan_and_keeps_sequences():
    p = np.array([[0.0], [1.0], [np.nan], [4.0], [10.0]])
    y = np.array([[0.0], [0.0], [0.0], [np.nan], [10.0]])
    out = M.compute(p, y, metrics=("mae", "jitter", "max_error"))
    # rows 2 and 3 dropped; kept predictions 0, 1, 10 -> jitter (1 + 9) / 2
    assert out["mae"] == pytest.approx(1 / 3)
    assert out["max_error"] == 1.0
    assert out["jitter"] == pytest.approx(5.0)
    # a break inside the dropped run still separates the sequences: only the pair (0, 1) counts
    out = M.compute(p, y, breaks=np.array([True, False, False, True, False]), metrics=("jitter",))
    assert out["jitter"] == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="unknown metric"):
        M.compute(p, y, metrics=("mape",))


def test_mean_ci_student_t():
    mean, lo, hi, n = M.mean_ci([1.0, 2.0, 3.0, 4.0, np.nan])
    half = 3.182446305284263 * np.std([1, 2, 3, 4], ddof=1) / 2  # t(0.975, 3)
    assert (mean, n) == (2.5, 4)
    assert lo == pytest.approx(2.5 - half) and hi == pytest.approx(2.5 + half)
    assert half == pytest.approx(2.0542, abs=1e-4)
    m1 = M.mean_ci([7.0])
    assert m1[0] == 7.0 and math.isnan(m1[1]) and m1[3] == 1


def test_resolve_groups_by_name_and_errors():
    targets = ["x1", "y1", "z1", "x2", "y2", "z2", "t"]
    assert M.resolve_groups(targets, [("x1", "y1", "z1"), ("x2", "y2", "z2")]) == [(0, 1, 2), (3, 4, 5), (6,)]
    assert M.resolve_groups(targets, None) == [(j,) for j in range(7)]
    with pytest.raises(ConfigError, match="not a target column"):
        M.resolve_groups(targets, [("x1", "nope")])
    with pytest.raises(ConfigError, match="overlaps"):
        M.resolve_groups(targets, [("x1", "y1"), ("y1", "z1")])
    with pytest.raises(ConfigError, match="tuple of columns"):
        M.resolve_groups(targets, ["x1"])


def test_shape_mismatch_is_refused():
    with pytest.raises(ConfigError, match="same shape"):
        M.mae(np.zeros((3, 2)), np.zeros((3, 1)))
