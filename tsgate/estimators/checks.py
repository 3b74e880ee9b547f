"""The contract every tsgate forecaster honours, as runnable checks (River/scikit-learn style).

``check_forecaster(estimator, data)`` runs every check on clones of ``estimator`` with the
series ``data`` (use small settings, e.g. a class's ``_unit_test_params()``). Each check raises
``AssertionError`` naming the estimator and what broke. ``tests/test_contract.py`` runs them on
every registered tsgate forecaster. The checks use the public API only.

Checks:

- ``params``: ``__init__`` only stores its arguments; ``get_params``/``set_params``/``clone``
  round-trip; ``repr`` works;
- ``not_fitted``: ``predict`` (and ``update`` unless the class learns from scratch online)
  before ``fit`` raises scikit-learn's ``NotFittedError``;
- ``no_mutation``: ``fit``, ``predict`` and ``update`` leave the input data unchanged;
- ``seed``: the same ``random_state``/``seed`` (when the estimator has one) gives the same forecasts;
- ``save_load``: ``save`` → :func:`tsgate.estimators.base.load` → ``predict`` gives identical forecasts;
- ``fit_update``: after ``fit`` on the first part of each series, ``update`` with the rest returns
  forecasts for exactly the new origins (every new observation with ``min_observations`` rows
  in its segment), every horizon, without NaN; for models that do not learn online they equal
  ``predict`` at those origins;
- ``no_look_ahead``: changing the observations after a time τ (one time for all series), their
  values **and their timestamps**, changes no forecast made at an origin ≤ τ, neither from
  ``predict`` nor from the prequential ``update``;
- ``one_change``: changing **one** observation at time s (its value, or its timestamp moved
  between its neighbours) changes no forecast made at an origin before s, from ``predict`` or
  from ``update`` (forecasts made while the model learns);
- ``bad_targets``: data with other target columns raises a :class:`~tsgate.exceptions.DataError`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from tsgate.data.columns import ID, TIME
from tsgate.data.segments import runs
from tsgate.data.series import IrregularSeries
from tsgate.data.splits import chronological_split
from tsgate.data.times import seconds_to_time
from tsgate.estimators.base import BaseForecaster, load
from tsgate.estimators.forecasts import Forecasts
from tsgate.exceptions import DataError

__all__ = ["check_forecaster", "CHECKS", "split_for_update", "perturb_after"]

Check = Callable[..., None]


def _name(est: BaseForecaster) -> str:
    return type(est).__name__


def _seeded(est: BaseForecaster, seed: int = 0) -> BaseForecaster:
    c = clone(est)
    params = c.get_params(deep=False)
    for key in ("random_state", "seed"):
        if key in params:
            c.set_params(**{key: seed})
    return c


def _norm(v: Any) -> Any:
    """Parameters as JSON stores them (tuples become lists)."""
    if isinstance(v, dict):
        return {k: _norm(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_norm(x) for x in v]
    return v


def _same_origins(a: Forecasts, b: Forecasts, what: str) -> None:
    assert len(a) == len(b), f"{what}: {len(a)} vs {len(b)} origins"
    assert (a.ids == b.ids).all(), f"{what}: series differ"
    np.testing.assert_array_equal(a.origin_time, b.origin_time, err_msg=f"{what}: origin times differ")


def _same_values(a: np.ndarray, b: np.ndarray, atol: float, what: str) -> None:
    assert (np.isnan(a) == np.isnan(b)).all(), f"{what}: NaN at different places"
    np.testing.assert_allclose(a, b, rtol=0, atol=atol, equal_nan=True, err_msg=what)


def _assert_same_forecasts(a: Forecasts, b: Forecasts, atol: float, what: str) -> None:
    _same_origins(a, b, what)
    _same_values(a.values, b.values, atol, what)


# ----------------------------------------------------------------------------- checks
def check_params(est: BaseForecaster, data: IrregularSeries, **_: Any) -> None:
    params = est.get_params(deep=False)
    c = clone(est)
    assert c.get_params(deep=False) == params, f"{_name(est)}: clone changed the parameters"
    for k, v in params.items():
        assert getattr(c, k) is v or getattr(c, k) == v, f"{_name(est)}.__init__ does not store {k!r} as given"
    fitted = [a for a in vars(c) if a.endswith("_") and not a.startswith("_")]
    assert not fitted, f"{_name(est)}.__init__ sets fitted attributes {fitted}; set them in fit"
    assert c.set_params(**params) is c, f"{_name(est)}.set_params must return self"
    assert c.get_params(deep=False) == params
    assert isinstance(repr(c), str) and _name(est) in repr(c)


def check_not_fitted(est: BaseForecaster, data: IrregularSeries, **_: Any) -> None:
    c = clone(est)
    try:
        c.predict(data)
    except NotFittedError:
        pass
    else:
        raise AssertionError(f"{_name(est)}.predict before fit must raise NotFittedError")
    if not c.tags.learns_from_scratch:
        try:
            clone(est).update(data)
        except NotFittedError:
            pass
        else:
            raise AssertionError(f"{_name(est)}.update before fit must raise NotFittedError")


def check_no_mutation(est: BaseForecaster, data: IrregularSeries, **_: Any) -> None:
    first, rest = split_for_update(data)
    snaps = [(d, d.frame.copy(deep=True), d.targets, d.covariates) for d in (data, first, rest)]
    c = _seeded(est).fit(first)
    c.predict(data, origins="all")
    c.update(rest)
    for d, frame, targets, covs in snaps:
        assert d.frame.equals(frame), f"{_name(est)}: input data was modified"
        assert d.targets == targets and d.covariates == covs


def check_seed(est: BaseForecaster, data: IrregularSeries, atol: float = 0.0, **_: Any) -> None:
    a = _seeded(est).fit(data).forecast(data, origins="all")
    b = _seeded(est).fit(data).forecast(data, origins="all")
    _assert_same_forecasts(a, b, atol, f"{_name(est)}: same seed, different forecasts")


def check_save_load(est: BaseForecaster, data: IrregularSeries, atol: float = 0.0, tmp_dir: Any = None, **_: Any) -> None:
    c = _seeded(est).fit(data)
    before = c.forecast(data, origins="all")
    with tempfile.TemporaryDirectory(dir=tmp_dir) as d:
        c.save(Path(d) / "model")
        loaded = load(Path(d) / "model")
    assert type(loaded) is type(c), f"load gave {type(loaded).__name__}, expected {_name(est)}"
    assert _norm(loaded.get_params(deep=False)) == _norm(c.get_params(deep=False)), (
        f"{_name(est)}: parameters changed by save/load"
    )
    after = loaded.forecast(data, origins="all")
    _assert_same_forecasts(before, after, atol, f"{_name(est)}: save→load changed forecasts")


def split_for_update(data: IrregularSeries, frac: float = 0.7) -> tuple[IrregularSeries, IrregularSeries]:
    """The first ``frac`` of each series' rows, and the rest."""
    parts = chronological_split(data.frame[ID].to_numpy(), float(frac))
    return data.take(parts.train), data.take(~parts.train)


def check_fit_update(est: BaseForecaster, data: IrregularSeries, atol: float = 1e-6, **_: Any) -> None:
    first, rest = split_for_update(data)
    c = _seeded(est).fit(first)
    out = c.forecast_and_learn(rest)
    # expected origins: every new observation with at least min_observations rows in its segment
    f = data.frame
    seg_pos = runs(f[ID].to_numpy(), f["segment"].to_numpy()).position
    t = data.time_seconds()
    new = t > f[ID].map(first.last_times()).to_numpy(dtype=np.float64)
    sel = new & (seg_pos + 1 >= c.min_observations)
    expected = set(zip(f[ID][sel].tolist(), t[sel].tolist()))
    got = list(zip(out.ids.tolist(), out.origin_time.tolist()))
    assert set(got) == expected and len(got) == len(expected), (
        f"{_name(est)}.update returned forecasts for {len(set(got))} origins, expected exactly the "
        f"{len(expected)} new observations with enough history (missing {len(expected - set(got))}, "
        f"extra {len(set(got) - expected)})"
    )
    assert out.values.shape[1] == len(c.horizons_), f"{_name(est)}.update must give every horizon for each new origin"
    assert np.isfinite(out.values).all(), f"{_name(est)}.update returned {int((~np.isfinite(out.values)).sum())} non-finite forecasts"
    if not c.tags.learns_online:
        ref = c.forecast(data, origins="all")
        pos = {k: i for i, k in enumerate(zip(ref.ids.tolist(), ref.origin_time.tolist()))}
        idx = np.array([pos[k] for k in got], dtype=np.int64)
        _same_values(out.values, ref.values[idx], atol, f"{_name(est)}: update forecasts differ from predict at the same origins")


def perturb_after(data: IrregularSeries, frac: float, seed: int = 0) -> tuple[IrregularSeries, float]:
    """Data whose observations after τ have other values and other times, and τ (seconds).

    τ is **one time for all series** (the earliest of the times at ``frac`` of each series' rows):
    a global model may legitimately learn from one series' revealed data before forecasting
    another, so only a common cut tests the absence of look-ahead. After τ every value gets
    noise and every interval is stretched or shrunk (by 0.5 to 1.5), so times stay increasing
    and after τ.
    """
    f = data.frame.copy()
    t = data.time_seconds()
    parts = chronological_split(f[ID].to_numpy(), float(frac))
    tau = float(t[parts.position == parts.train_end].min())
    after = t > tau
    rng = np.random.default_rng(seed)
    for c in (*data.targets, *data.covariates):
        scale = float(np.nanstd(f[c].to_numpy(dtype=np.float64))) + 1.0
        f.loc[after, c] = f.loc[after, c].to_numpy(dtype=np.float64) + rng.normal(0.0, scale, int(after.sum()))
    # new times: each interval after τ (the first one counted from τ) stretched or shrunk
    new_t = t.copy()
    series = runs(f[ID].to_numpy())
    for a, b in zip(series.first_rows, np.r_[series.first_rows[1:], len(t)]):
        idx = a + np.flatnonzero(after[a:b])  # a tail: times increase within a series
        if len(idx):
            steps = np.diff(np.r_[tau, t[idx]]) * rng.uniform(0.5, 1.5, len(idx))
            new_t[idx] = tau + np.cumsum(steps)
    if after.any():
        f.loc[after, TIME] = seconds_to_time(new_t[after], data.time_kind)
    changed = IrregularSeries(f, targets=data.targets, covariates=data.covariates, static=data.static,
                              time_kind=data.time_kind, units=data.units)
    return changed, tau


def _early(fc: Forecasts, tau: float) -> np.ndarray:
    return fc.origin_time <= tau


def check_no_look_ahead(est: BaseForecaster, data: IrregularSeries, atol: float = 0.0, **_: Any) -> None:
    changed, tau = perturb_after(data, 0.8)
    first, rest = split_for_update(data, 0.6)
    _, rest2 = split_for_update(changed, 0.6)
    c = _seeded(est).fit(first)
    a, b = c.forecast(data, origins="all"), c.forecast(changed, origins="all")
    ea, eb = _early(a, tau), _early(b, tau)
    assert ea.sum() > 0, f"{_name(est)}.predict gave no forecast at an origin ≤ τ to compare"
    _assert_same_forecasts(a.select(ea), b.select(eb), atol,
                           f"{_name(est)}.predict: data after an origin changed its forecast")
    u1 = _seeded(est).fit(first).forecast_and_learn(rest)
    u2 = _seeded(est).fit(first).forecast_and_learn(rest2)
    e1, e2 = _early(u1, tau), _early(u2, tau)
    assert e1.sum() > 0, f"{_name(est)}.update gave no forecast at an origin ≤ τ to compare"
    _assert_same_forecasts(u1.select(e1), u2.select(e2), atol,
                           f"{_name(est)}.update: data after an origin changed its forecast")


def change_one(data: IrregularSeries, frac: float, what: str, seed: int = 0) -> tuple[IrregularSeries, float]:
    """Data with one observation of the first series changed (``what``: "value" or "time"), and s:
    the earlier of its old and new time (seconds). The row is the one at ``frac`` of that series."""
    f = data.frame.copy()
    t = data.time_seconds()
    series = runs(f[ID].to_numpy())
    a, b = series.first_rows[0], (series.first_rows[1] if len(series.first_rows) > 1 else len(t))
    i = int(a + min(max(1, int(frac * (b - a))), b - a - 2))
    s = float(t[i])
    if what == "value":
        rng = np.random.default_rng(seed)
        for c in data.targets:
            scale = float(np.nanstd(f[c].to_numpy(dtype=np.float64))) + 1.0
            f.loc[f.index[i], c] = float(f[c].iloc[i]) + scale * (1.0 + rng.uniform())
    else:
        s = float(t[i - 1] + 0.4 * (t[i] - t[i - 1]))  # earlier, still after its predecessor
        f.loc[f.index[i], TIME] = seconds_to_time(np.array([s]), data.time_kind)[0]
    changed = IrregularSeries(f, targets=data.targets, covariates=data.covariates, static=data.static,
                              time_kind=data.time_kind, units=data.units)
    return changed, s


def check_one_change(est: BaseForecaster, data: IrregularSeries, atol: float = 0.0, **_: Any) -> None:
    first, rest = split_for_update(data, 0.6)
    for what in ("value", "time"):
        changed, s = change_one(data, 0.8, what)
        _, rest2 = split_for_update(changed, 0.6)
        c = _seeded(est).fit(first)
        a, b = c.forecast(data, origins="all"), c.forecast(changed, origins="all")
        ea, eb = a.origin_time < s, b.origin_time < s
        _assert_same_forecasts(a.select(ea), b.select(eb), atol,
                               f"{_name(est)}.predict: changing the {what} of one observation at {s:g} s changed an earlier forecast")
        u1 = _seeded(est).fit(first).forecast_and_learn(rest)
        u2 = _seeded(est).fit(first).forecast_and_learn(rest2)
        e1, e2 = u1.origin_time < s, u2.origin_time < s
        assert e1.sum() > 0, f"{_name(est)}.update gave no forecast before the changed observation to compare"
        _assert_same_forecasts(u1.select(e1), u2.select(e2), atol,
                               f"{_name(est)}.update: changing the {what} of one observation at {s:g} s changed an earlier forecast")


def check_bad_targets(est: BaseForecaster, data: IrregularSeries, **_: Any) -> None:
    c = _seeded(est).fit(data)
    renamed = {t: f"{t}_other" for t in data.targets[:1]}
    bad = IrregularSeries(
        data.frame.rename(columns=renamed),
        targets=[renamed.get(t, t) for t in data.targets],
        covariates=data.covariates,
        static=data.static,
        time_kind=data.time_kind,
        units=data.units,
    )
    for call in (lambda: c.predict(bad), lambda: c.update(bad)):
        try:
            call()
        except DataError:
            continue
        except Exception as exc:  # pragma: no cover - reported as a contract failure
            raise AssertionError(f"{_name(est)}: wrong target columns raised {type(exc).__name__}, not a DataError: {exc}") from exc
        raise AssertionError(f"{_name(est)}: data with wrong target columns must raise a tsgate DataError")


CHECKS: dict[str, Check] = {
    "params": check_params,
    "not_fitted": check_not_fitted,
    "no_mutation": check_no_mutation,
    "seed": check_seed,
    "save_load": check_save_load,
    "fit_update": check_fit_update,
    "no_look_ahead": check_no_look_ahead,
    "one_change": check_one_change,
    "bad_targets": check_bad_targets,
}


def check_forecaster(
    estimator: BaseForecaster,
    data: IrregularSeries,
    *,
    checks: Any = None,
    atol: float = 0.0,
    tmp_dir: str | Path | None = None,
) -> list[str]:
    """Run the contract checks on ``estimator`` with ``data``; returns the names of the checks run.

    Parameters
    ----------
    checks
        Names from :data:`CHECKS` (default: all).
    atol
        Absolute tolerance when comparing forecasts that should be identical (0: bit-identical;
        ``fit_update`` compares update with predict at ``max(atol, 1e-6)``).
    tmp_dir
        Where ``save_load`` may create its temporary model directory.
    """
    names = list(CHECKS) if checks is None else list(checks)
    for n in names:
        if n not in CHECKS:
            raise KeyError(f"unknown check {n!r}; known: {list(CHECKS)}")
        kw: dict[str, Any] = {"atol": atol, "tmp_dir": tmp_dir}
        if n == "fit_update":
            kw["atol"] = max(atol, 1e-6)
        CHECKS[n](estimator, data, **kw)
    return names
