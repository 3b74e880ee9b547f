"""The online band tracking, vectorised, against the rule applied one target at a time."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tsgate.estimators.intervals import CAP, Calibrator


class OneByOne:
    """The quantile-tracking rule of tsgate.estimators.intervals in plain Python floats: every
    revealed target is taken alone, in the order given, one (level, unit) at a time."""

    def __init__(self, cal: Calibrator) -> None:
        self.cal = cal  # shape, scores and levels only
        self.q = cal.q.copy()
        self.recent, self.recent_next = cal.recent.copy(), cal.recent_next.copy()
        self.n_scored, self.n_covered = cal.n_scored.copy(), cal.n_covered.copy()
        self.pending: dict = {}

    def issue(self, series, t: float, values: np.ndarray) -> None:
        if np.isfinite(values).all():
            self.pending.setdefault(series, {})[round(t * 1e6)] = [values.copy(), self.q.copy(), [True] * self.cal.n_horizons]

    def reveal(self, series, times, horizons, truth) -> int:
        book, n = self.pending.get(series, {}), 0
        L, U = self.q.shape[0], self.q.shape[2]
        for t, h, y in zip(times, horizons, truth):
            e = book.get(round(float(t) * 1e6))
            if e is None or not np.isfinite(y).all() or not e[2][h]:
                continue
            e[2][h] = False
            if not any(e[2]):
                del book[round(float(t) * 1e6)]
            n += 1
            s = self.cal.scores(e[0][h], y).tolist()
            slot = self.recent_next[h]
            self.recent[h, :, slot] = s
            self.recent_next[h] = (slot + 1) % self.cal.memory
            self.n_scored[h] += 1
            new = np.empty((L, U))
            for li, lv in enumerate(self.cal.levels):
                alpha = 1.0 - lv / 100.0
                for u in range(U):
                    q, issued = float(self.q[li, h, u]), float(e[1][li, h, u])
                    w = issued if math.isfinite(issued) else q
                    miss = s[u] > w
                    self.n_covered[li, h, u] += math.isfinite(issued) and not miss
                    if math.isfinite(q) and q > 0:
                        new[li, u] = q * math.exp(self.cal.rate * (miss - alpha))
                    else:
                        new[li, u] = s[u] if (miss or not math.isfinite(w)) else q
            if (new > self.q[:, h]).any():
                cap = CAP * np.nanmax(self.recent[h], axis=-1)
                new = np.where(np.isnan(new), cap[None], np.minimum(new, cap[None]))
            self.q[:, h] = new
        return n


@pytest.mark.parametrize("seed", range(12))
def test_vectorised_tracking_equals_one_target_at_a_time(seed):
    rng = np.random.default_rng(seed)
    H, k = int(rng.integers(1, 5)), int(rng.integers(1, 4))
    groups = [(0, 1)] if k >= 2 else []
    cal = Calibrator(["a", "b", "c"][:k], groups, H, levels=(80.0, 90.0, 95.0))
    cal.calibrate(rng.normal(size=(40, H, k)), rng.normal(size=(40, H, k)) * 2)
    ref = OneByOne(cal)
    issued: dict = {s: [] for s in ("s1", "s2", 7)}
    t = 0.0
    for step in range(600):
        sid = list(issued)[int(rng.integers(0, 3))]
        if rng.random() < 0.5 or not issued[sid]:
            t += float(rng.uniform(1e-3, 1.0))
            v = rng.normal(size=(H, k))
            if rng.random() < 0.03:
                v[0, 0] = np.nan  # not recorded
            cal.issue(sid, t, v)
            ref.issue(sid, t, v)
            issued[sid].append(t)
            continue
        P = int(rng.integers(1, 10))  # repeated horizons and repeated targets included
        times = np.array([issued[sid][int(rng.integers(0, len(issued[sid])))] for _ in range(P)])
        times[0] += 1000.0 * (rng.random() < 0.1)  # an origin this calibrator never issued
        hz = rng.integers(0, H, P)
        y = rng.normal(size=(P, k)) * float(rng.choice([0.3, 1.0, 4.0, 40.0]))  # calm and regime changes
        if rng.random() < 0.1:
            y[-1, 0] = np.nan
        assert cal.reveal(sid, times, hz, y) == ref.reveal(sid, times, hz, y), step
        if step % 150 == 149:  # a model file round trip keeps the state, pending forecasts included
            cal = Calibrator.from_state(*cal.get_state())
    # many forecasts in flight when the errors jump: the bound on the band takes over
    for i in range(200):
        t += 0.01
        cal.issue("burst", t, np.zeros((H, k)))
        ref.issue("burst", t, np.zeros((H, k)))
    times = np.round(t - 0.01 * np.arange(200)[::-1], 6)
    for chunk in np.array_split(np.arange(200), 7):
        y = rng.normal(size=(len(chunk), k)) * 100.0
        hz = np.zeros(len(chunk), np.int64)
        assert cal.reveal("burst", times[chunk], hz, y) == ref.reveal("burst", times[chunk], hz, y)
    np.testing.assert_allclose(cal.q, ref.q, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(cal.recent, ref.recent)
    np.testing.assert_array_equal(cal.recent_next, ref.recent_next)
    np.testing.assert_array_equal(cal.n_scored, ref.n_scored)
    np.testing.assert_array_equal(cal.n_covered, ref.n_covered)
    assert cal.n_scored.sum() > 100  # the random calls did score targets
    assert {s: len(b) for s, b in cal.pending.items()} == {s: len(b) for s, b in ref.pending.items()}


def test_a_closed_or_pruned_forecast_is_never_scored():
    cal = Calibrator(["y"], [], 2, levels=(90.0,))
    cal.calibrate(np.zeros((10, 2, 1)), np.ones((10, 2, 1)))
    for t in (1.0, 2.0, 3.0):
        cal.issue("s", t, np.zeros((2, 1)))
    cal.close("s", 1.0, np.array([0]))
    assert cal.reveal("s", np.array([1.0, 1.0]), np.array([0, 1]), np.ones((2, 1))) == 1  # only horizon 1
    assert "s" in cal.pending and len(cal.pending["s"]) == 2  # origin 1.0 is done and forgotten
    cal.prune({"s": 3.0})
    assert cal.reveal("s", np.array([2.0]), np.array([0]), np.ones((1, 1))) == 0
    assert cal.reveal("s", np.array([3.0, 3.0]), np.array([1, 1]), np.ones((2, 1))) == 1  # named twice: once
    assert cal.n_scored[:, 0].tolist() == [0, 2]
