"""Causal windows: hand-checked examples, argument errors, and properties over random
irregular series (hypothesis): causality, exact interpolation of linear data, segments,
max_gap, reveal times, chronological splits."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tsgate.exceptions import ConfigError, TooShortError
from tsgate.data.series import IrregularSeries
from tsgate.data.horizons import Horizon, parse_horizons
from tsgate.data.times import parse_duration
from tsgate.data.windows import Windows, make_windows, require_windows

SETTINGS = settings(max_examples=100, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


def series(t, v, seg=None, sid="s") -> IrregularSeries:
    v = np.asarray(v, dtype=float)
    if v.ndim == 1:
        v = v[:, None]
    df = pd.DataFrame(v, columns=[f"y{i}" for i in range(v.shape[1])])
    df.insert(0, "time", np.asarray(t, dtype=float))
    df.insert(0, "id", sid)
    if seg is not None:
        df["seg"] = np.asarray(seg)
    return IrregularSeries.from_frame(
        df, time_col="time", id_col="id", target_cols=list(df.columns[2 : 2 + v.shape[1]]),
        segment_col="seg" if seg is not None else None,
    )


# ----------------------------------------------------------------- hand-checked examples
T = [0.0, 1.0, 3.0, 6.0, 10.0]
V = [0.0, 10.0, 30.0, 60.0, 100.0]  # y = 10 t


def test_step_windows_by_hand():
    w = make_windows(series(T, V), window=3, horizons=[1])
    assert w.origin_row.tolist() == [2, 3]  # row 4 has no next observation
    np.testing.assert_array_equal(w.x[:, :, 0], [[0, 10, 30], [10, 30, 60]])
    np.testing.assert_array_equal(w.dt, [[0, 1, 2], [1, 2, 3]])  # row 0 has no predecessor
    np.testing.assert_array_equal(w.t, [[-3, -2, 0], [-5, -3, 0]])
    np.testing.assert_array_equal(w.y[:, 0, 0], [60, 100])
    np.testing.assert_array_equal(w.target_time, [[6], [10]])
    np.testing.assert_array_equal(w.reveal_time, [[6], [10]])
    assert w.mask.all() and w.x.dtype == np.float64 and w.origin_time.dtype == np.float64


def test_duration_windows_by_hand_and_max_gap():
    s = series(T, V)
    w = make_windows(s, window=1, horizons=["2s"])
    # origins 0..3 (t + 2 s ≤ 10); 1 → exact observation at 3 s; 3 → 8 s between 6 and 10
    assert w.origin_row.tolist() == [0, 1, 2, 3]
    np.testing.assert_allclose(w.y[:, 0, 0], [20, 30, 50, 80])
    np.testing.assert_array_equal(w.reveal_time[:, 0], [3, 3, 6, 10])
    g = make_windows(s, window=1, horizons=["2s"], max_gap=2.5)
    # brackets: (1,3) width 2 kept; exact at 3 kept; (3,6) width 3 and (6,10) width 4 dropped
    assert g.origin_row.tolist() == [0, 1]
    assert g.stats["dropped_target_gap"] == 2


def test_min_history_pads_left_and_masks():
    w = make_windows(series(T, V), window=3, horizons=[1], min_history=1)
    assert w.origin_row.tolist() == [0, 1, 2, 3]
    np.testing.assert_array_equal(w.mask[0], [False, False, True])
    np.testing.assert_array_equal(w.x[0, :, 0], [0, 0, 0])
    np.testing.assert_array_equal(w.dt[1], [0, 0, 1])
    np.testing.assert_array_equal(w.t[1], [0, -1, 0])


def test_stride_origins_last_and_chosen_origins():
    s = series(np.arange(10.0), np.arange(10.0))
    w = make_windows(s, window=2, horizons=[1], stride=3)
    assert w.origin_row.tolist() == [2, 5, 8]  # counted back from the newest origin (8)
    last = make_windows(s, window=2, horizons=[1], origins="last", targets="optional")
    assert last.origin_row.tolist() == [9] and np.isnan(last.y).all()
    chosen = make_windows(s, window=2, horizons=[1], origins={"s": [0.0, 7.0, 8.0, 9.0, 11.0]})
    assert chosen.origin_row.tolist() == [7, 8]  # 0: too little history; 9: no target; 11: no row
    assert len(make_windows(s, window=2, horizons=[1], origins={"other": [7.0]})) == 0


def test_multi_series_and_concat():
    a = series(np.arange(6.0), np.arange(6.0), sid="a").frame
    b = series(np.arange(4.0) + 0.5, np.arange(4.0), sid="b").frame
    s = IrregularSeries.from_frame(pd.concat([a, b]), time_col="time", id_col="series", target_cols=["y0"])
    w = make_windows(s, window=2, horizons=[1])
    assert w.series_ids == ["a", "b"]
    assert np.bincount(w.series_index).tolist() == [4, 2]
    other = make_windows(s.subset(["b"]), window=2, horizons=[1])
    assert other.series_ids == ["b"] and other.series_index.tolist() == [0, 0]
    both = Windows.concat([other, w.select(w.series_index == 0)])
    assert len(both) == 6 and both.series_ids == ["b", "a"]
    ids = [both.series_ids[i] for i in both.series_index]
    assert ids == ["b", "b", "a", "a", "a", "a"]
    np.testing.assert_array_equal(both.origin_time[2:], w.origin_time[w.series_index == 0])


def test_too_short_series_gives_no_windows_and_clear_error():
    s = series([0.0, 1.0, 2.0], [1.0, 2.0, 3.0])
    w = make_windows(s, window=5, horizons=[1])
    assert len(w) == 0 and w.x.shape == (0, 5, 1) and w.stats["series_without_windows"] == 1
    with pytest.raises(TooShortError, match=r"window=5.*longest series 3 rows"):
        require_windows(w, s, "training")
    with pytest.raises(TooShortError, match="fewer than 10 rows"):
        s.require_length(10, "window 9 + horizon 1")


@pytest.mark.parametrize(
    "kw, msg",
    [
        (dict(window=0, horizons=[1]), "window must be"),
        (dict(window=2.5, horizons=[1]), "window must be"),
        (dict(window=2, horizons=[0]), "at least 1 step"),
        (dict(window=2, horizons=[1.5]), "ambiguous"),
        (dict(window=2, horizons=[1, "2s"]), "mix steps and durations"),
        (dict(window=2, horizons=["2s", "2000ms"]), "repeat"),
        (dict(window=2, horizons=["soon"]), "not a duration"),
        (dict(window=2, horizons=["-1s"]), "positive"),
        (dict(window=2, horizons=[]), "at least one horizon"),
        (dict(window=2, horizons=[1], stride=0), "stride"),
        (dict(window=2, horizons=[1], min_history=3), "min_history"),
        (dict(window=2, horizons=[1], targets="maybe"), "targets"),
        (dict(window=2, horizons=[1], origins="first"), "origins"),
        (dict(window=2, horizons=["1s"], max_gap="often"), "max_gap"),
    ],
)
def test_bad_arguments_raise_config_error(kw, msg):
    with pytest.raises(ConfigError, match=msg):
        make_windows(series(T, V), **kw)


def test_horizon_parsing():
    assert parse_horizons(["1s", "500ms", timedelta(minutes=2)]) == (
        Horizon("duration", 0.5, "500ms"), Horizon("duration", 1.0, "1s"), Horizon("duration", 120.0, "2min"),
    )
    assert parse_horizons("3") == (Horizon("steps", 3.0, "3"),)
    assert parse_duration("15min") == 900.0 and parse_duration(2) == 2.0
    with pytest.raises(ConfigError):
        Horizon.seconds.fget(Horizon("steps", 1.0, "1"))


# ----------------------------------------------------------------- random irregular series
@st.composite
def irregular(draw, n_min=2, n_max=40):
    n = draw(st.integers(n_min, n_max))
    # increments from 1 ms to 10 s; the dyadic ones (0.125 ... 4) add up exactly, so brackets
    # exactly as wide as max_gap and targets exactly on an observation really occur
    inc = draw(st.lists(st.sampled_from([0.125, 0.25, 0.5, 1.0, 2.0, 4.0]) | st.floats(0.001, 10.0),
                        min_size=n, max_size=n))
    t = np.cumsum(inc) + draw(st.integers(-100, 100))
    cuts = draw(st.lists(st.integers(1, n - 1), max_size=3)) if n > 1 else []
    seg = np.zeros(n, dtype=np.int64)
    for c in cuts:
        seg[c:] += 1
    return t, seg


@st.composite
def horizon_set(draw):
    if draw(st.booleans()):
        return sorted(draw(st.sets(st.integers(1, 5), min_size=1, max_size=3)))
    secs = draw(st.sets(st.sampled_from([0.001, 0.1, 0.25, 0.5, 1.0, 1.7, 2.0, 3.3, 4.0, 7.0, 15.0]), min_size=1, max_size=3))
    return [timedelta(seconds=s) for s in sorted(secs)]


@SETTINGS
@given(data=irregular(), hs=horizon_set(), L=st.integers(1, 6), k=st.integers(0, 39), seed=st.integers(0, 2**16),
       min_hist=st.integers(1, 6), gap=st.sampled_from([None, 0.3, 2.0]))
def test_causality_future_changes_never_reach_inputs(data, hs, L, k, seed, min_hist, gap):
    t, seg = data
    n = len(t)
    k = k % n
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, 2))
    v2, t2, seg2 = v.copy(), t.copy(), seg.copy()
    v2[k + 1 :] = rng.normal(size=(n - k - 1, 2)) * 100  # every value after row k changes
    if k + 1 < n:  # so do the later times (still increasing) and the later segments
        t2[k + 1 :] = t[k] + np.cumsum(rng.uniform(0.001, 5.0, n - k - 1))
        seg2[k + 1 :] += rng.integers(0, 2, n - k - 1).cumsum()
    kw = dict(window=L, horizons=hs, min_history=min(min_hist, L), targets="optional", max_gap=gap)
    a = make_windows(series(t, v, seg), **kw)
    b = make_windows(series(t2, v2, seg2), **kw)
    ia, ib = np.flatnonzero(a.origin_row <= k), np.flatnonzero(b.origin_row <= k)
    np.testing.assert_array_equal(a.origin_row[ia], b.origin_row[ib])
    for name in ("x", "dt", "t", "mask", "origin_time"):
        np.testing.assert_array_equal(getattr(a, name)[ia], getattr(b, name)[ib], err_msg=name)


@SETTINGS
@given(data=irregular(), hs=horizon_set(), L=st.integers(1, 5),
       a=st.floats(-1e3, 1e3), b=st.floats(-1e3, 1e3), epoch=st.booleans())
def test_linear_data_is_interpolated_exactly(data, hs, L, a, b, epoch):
    """Targets of y = a + b·t are a + b·target_time. Tolerance: float64 interpolation between
    the bracketing observations, |error| ≤ 1e-6·(|a| + |b|·|t|max) + 1e-6; with epoch
    (1.6e9 s) times the float64 time arithmetic adds ~2.4e-7 s·|b|."""
    t, seg = data
    t0 = 1.6e9 if epoch else 0.0
    y = a + b * t
    w = make_windows(series(t + t0, y, seg), window=L, horizons=hs, targets="optional")
    known = np.isfinite(w.y[..., 0])
    truth = a + b * (w.target_time - t0)
    scale = abs(a) + abs(b) * np.abs(t).max()
    tol = 1e-6 * scale + 1e-6 + (1e-6 * abs(b) if epoch else 0.0)
    assert np.all(np.abs(w.y[..., 0][known] - truth[known]) <= tol)
    # inputs are the observed values themselves
    rows = w.origin_row
    np.testing.assert_allclose(w.x[:, -1, 0], y[rows], rtol=0, atol=0)


@SETTINGS
@given(data=irregular(), hs=horizon_set(), L=st.integers(1, 6), min_hist=st.integers(1, 6),
       gap=st.sampled_from([None, 0.3, 2.0, 8.0]))
def test_no_window_or_target_crosses_a_segment_and_reveal_times(data, hs, L, min_hist, gap):
    t, seg = data
    n = len(t)
    w = make_windows(series(t, np.arange(n, dtype=float), seg), window=L, horizons=hs,
                     min_history=min(min_hist, L), targets="optional", max_gap=gap)
    for i, o in enumerate(w.origin_row):
        rows = o - L + 1 + np.arange(L)
        inside = (rows >= 0) & (seg[np.clip(rows, 0, n - 1)] == seg[o])
        # a row is in the window iff it is in the origin's (contiguous) segment
        np.testing.assert_array_equal(w.mask[i], inside)
        assert w.mask[i].sum() >= min(min_hist, L)
        known = np.isfinite(w.y[i, :, 0])
        rev = w.reveal_time[i][known]
        # (e) reveal time: an observation time, at or after the target time, in the origin's segment
        assert np.all(rev >= w.target_time[i][known])
        j = np.searchsorted(t, rev)
        np.testing.assert_array_equal(t[j], rev)
        assert np.all(seg[j] == seg[o]) and np.all(j > o)
        assert np.all(np.isnan(w.reveal_time[i][~known]))
        if w.horizons[0].kind == "steps":
            np.testing.assert_array_equal(rev, w.target_time[i][known])


@SETTINGS
@given(data=irregular(), hs=horizon_set().filter(lambda h: not isinstance(h[0], int)),
       gap=st.sampled_from([0.0011, 0.3, 0.5, 1.0, 2.0, 5.0]))
def test_max_gap_drops_exactly_the_wide_brackets(data, hs, gap):
    t, seg = data
    n = len(t)
    w = make_windows(series(t, np.arange(n, dtype=float), seg), window=1, horizons=hs, targets="optional", max_gap=gap)
    assert w.origin_row.tolist() == list(range(n))
    for i, o in enumerate(w.origin_row):
        end = o + np.flatnonzero(seg[o:] == seg[o]).max()  # last row of the origin's segment
        for k, h in enumerate(w.horizons):
            target = t[o] + h.value
            after = np.flatnonzero((t >= target) & (np.arange(n) <= end))
            if len(after) == 0:
                expect = False  # beyond the segment's end
            else:
                hi = after[0]
                expect = t[hi] == target or (t[hi] - t[hi - 1]) <= gap
            assert np.isfinite(w.y[i, k, 0]) == expect, (o, h, target)


@SETTINGS
@given(lengths=st.lists(st.integers(1, 30), min_size=1, max_size=4), train=st.sampled_from([0.3, 0.5, 2, 5]),
       val=st.sampled_from([0.0, 0.2, 1, 3]))
def test_split_is_chronological_per_series(lengths, train, val):
    frames = []
    rng = np.random.default_rng(len(lengths))
    for i, n in enumerate(lengths):
        frames.append(pd.DataFrame({"id": f"s{i}", "time": np.cumsum(rng.uniform(0.1, 2.0, n)), "v": rng.normal(size=n)}))
    s = IrregularSeries.from_frame(pd.concat(frames, ignore_index=True), id_col="id")
    parts = s.split(train=train, val=val)
    assert sum(len(p) for p in parts) == len(s)
    for i, n in enumerate(lengths):
        a = int(train) if isinstance(train, int) else int(np.floor(n * train))
        b = a + (int(val) if isinstance(val, int) else int(np.floor(n * val)))
        times = [p.frame.loc[p.frame["series"] == f"s{i}", "time"].to_numpy() for p in parts]
        assert [len(x) for x in times] == [min(a, n), max(0, min(b, n) - min(a, n)), max(0, n - b)]
        joined = np.concatenate(times)
        assert np.all(np.diff(joined) > 0)  # train < val < test, and nothing shuffled
