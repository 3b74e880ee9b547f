"""No online model learns a target before the observation that reveals it (instrumented engines)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tsgate.data.series import IrregularSeries

HS = ["200ms", "500ms", "1s"]
SECONDS = [0.2, 0.5, 1.0]


def _data() -> IrregularSeries:
    rng = np.random.default_rng(0)
    t = np.cumsum(rng.uniform(0.05, 0.15, 400))
    df = pd.DataFrame({"time": t, "y": np.sin(t) + rng.normal(0, 0.05, 400), "z": np.cos(1.3 * t)})
    return IrregularSeries.from_frame(df, target_cols=["y", "z"])


def _instrument(monkeypatch, cls, log: list) -> None:
    """Record every step and every learned (delay, horizon) with the step it happens in."""
    step, learn = cls.step, getattr(cls, "learn", None)

    def rec_step(self, u, *a, **kw):
        log.append(("step", None, None))
        return step(self, u, *a, **kw)

    def rec_learn(self, delay, target, out_slice=None):
        h = 0 if out_slice is None else out_slice.start // np.asarray(target).size
        log.append(("learn", int(delay), int(h)))
        return learn(self, delay, target, out_slice)

    monkeypatch.setattr(cls, "step", rec_step)
    if learn is not None:
        monkeypatch.setattr(cls, "learn", rec_learn)
    if cls.__name__ == "AnalogEngine":
        many = cls.learn_many

        def rec_many(self, delays, targets, horizons):
            for d, h in zip(np.asarray(delays).tolist(), np.asarray(horizons).tolist()):
                log.append(("learn", int(d), int(h)))
            return many(self, delays, targets, horizons)

        monkeypatch.setattr(cls, "learn_many", rec_many)


def _models():
    from tsgate.online.analog import PretrainedAnalogForecaster
    from tsgate.online.analog_engine import AnalogEngine
    from tsgate.online.estimators import OnlineLinearForecaster, OnlineRNNForecaster
    from tsgate.online.learner import OnlineLearner
    from tsgate.online.lms import NLMS, OnlineLinearRegression

    return [
        ("rls", lambda: OnlineLinearForecaster(method="rls", shl=4, horizons=HS), OnlineLinearRegression),
        ("nlms", lambda: OnlineLinearForecaster(method="nlms", shl=4, horizons=HS), NLMS),
        ("snap1", lambda: OnlineRNNForecaster(online="snap1", hidden_size=8, shl=4, horizons=HS), OnlineLearner),
        ("analog", lambda: PretrainedAnalogForecaster(horizons=HS, network=None, analog_window="1s", analog_memory="10s"),
         AnalogEngine),
    ]


@pytest.mark.parametrize("name", ["rls", "nlms", "snap1", "analog"])
def test_no_target_is_learned_before_its_reveal_time(name, monkeypatch):
    make, engine_cls = {n: (m, c) for n, m, c in _models()}[name]
    log: list = []
    _instrument(monkeypatch, engine_cls, log)
    d = _data()
    rows = np.arange(len(d.frame))
    m = make().fit(d.take(rows[:250]))
    m.forecast_and_learn(d.take(rows[250:]))
    t = d.time_seconds()
    i = -1
    learned = 0
    for kind, delay, h in log:
        if kind == "step":
            i += 1
            continue
        origin = i - delay
        assert 0 <= origin <= i
        # the target y(t_origin + h) is interpolated from the observations bracketing it: the
        # later one must be the current observation or an earlier one
        assert t[i] >= t[origin] + SECONDS[h] - 1e-9, (
            f"{name}: at {t[i]:.3f} s it learned the {HS[h]} target of the origin at {t[origin]:.3f} s, "
            f"revealed only at {t[origin] + SECONDS[h]:.3f} s")
        learned += 1
    assert i == len(t) - 1  # one step per observation, in order
    assert learned > 0.8 * len(t) * len(HS)  # and it does learn nearly every target
