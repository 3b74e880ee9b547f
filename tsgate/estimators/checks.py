"""The contract every tsgate forecaster honours, as runnable checks (River/scikit-learn style).

``check_forecaster(estimator, data)`` runs every check on clones of ``estimator`` with the
series ``data`` (use small settings, e.g. a class's ``_unit_test_params()``). Each check raises
``AssertionError`` naming the estimator and what broke. ``tests/test_contract.py`` runs them on
every baseline, and on the gated and online estimators listed there.

Checks:

- ``params``: ``__init__`` only stores its arguments; ``get_params``/``set_params``/``clone``
  round-trip; ``repr`` works;
- ``not_fitted``: ``predict`` (and ``update`` unless the class learns from scratch online)
  before ``fit`` raises scikit-learn's ``NotFittedError``;
- ``no_mutation``: ``fit``, ``predict`` and ``update`` leave the input data unchanged;
- ``seed``: the same ``random_state`` (when the estimator has one) gives the same forecasts;
- ``save_load``: ``save`` → :func:`tsgate.estimators.base.load` → ``predict`` gives identical forecasts;
- ``fit_update``: after ``fit`` on the first part of each series, ``update`` with the rest returns
  forecasts for exactly the new origins (every new observation with enough history), every
  horizon, without NaN; for models that do not learn online they equal ``predict`` at those origins;
- ``no_look_ahead``: changing the observations after a time τ (one time for all series) changes
  no forecast made at an origin ≤ τ, neither from ``predict`` nor from the prequential ``update``;
- ``bad_targets``: data with other target columns raises a :class:`~tsgate.exceptions.DataError`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from tsgate.estimators.base import BaseForecaster, load
from tsgate.exceptions import DataError
from tsgate.data.columns import ID, SEGMENT, TIME
from tsgate.data.series import IrregularSeries

__all__ = ["check_forecaster", "CHECKS", "split_for_update"]

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


def _values(frame: pd.DataFrame) -> np.ndarray:
    cols = [c for c in frame.columns if c not in ("series", "origin_time", "horizon", "target_time")]
    return frame[cols].to_numpy(dtype=np.float64)


def _assert_same_forecasts(a: pd.DataFrame, b: pd.DataFrame, atol: float, what: str) -> None:
    assert list(a.columns) == list(b.columns), f"{what}: columns differ ({list(a.columns)} vs {list(b.columns)})"
    assert len(a) == len(b), f"{what}: {len(a)} vs {len(b)} forecast rows"
    for c in ("series", "horizon"):
        assert (a[c].to_numpy() == b[c].to_numpy()).all(), f"{what}: column {c!r} differs"
    pd.testing.assert_series_equal(a["origin_time"], b["origin_time"], check_names=False, obj=f"{what}: origin_time")
    va, vb = _values(a), _values(b)
    assert (np.isnan(va) == np.isnan(vb)).all(), f"{what}: NaN at different places"
    np.testing.assert_allclose(va, vb, rtol=0, atol=atol, equal_nan=True, err_msg=what)


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
    if not getattr(c, "fresh_update", False):
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
        pd.testing.assert_frame_equal(d.frame, frame, obj=f"{_name(est)}: input data was modified")
        assert d.targets == targets and d.covariates == covs


def check_seed(est: BaseForecaster, data: IrregularSeries, atol: float = 0.0, **_: Any) -> None:
    a = _seeded(est).fit(data).predict(data, origins="all")
    b = _seeded(est).fit(data).predict(data, origins="all")
    _assert_same_forecasts(a, b, atol, f"{_name(est)}: same seed, different forecasts")


def check_save_load(est: BaseForecaster, data: IrregularSeries, atol: float = 0.0, tmp_dir: Any = None, **_: Any) -> None:
    c = _seeded(est).fit(data)
    before = c.predict(data, origins="all")
    with tempfile.TemporaryDirectory(dir=tmp_dir) as d:
        c.save(Path(d) / "model")
        loaded = load(Path(d) / "model")
    assert type(loaded) is type(c), f"load gave {type(loaded).__name__}, expected {_name(est)}"
    assert _norm(loaded.get_params(deep=False)) == _norm(c.get_params(deep=False)), (
        f"{_name(est)}: parameters changed by save/load"
    )
    _assert_same_forecasts(before, loaded.predict(data, origins="all"), atol, f"{_name(est)}: save→load changed forecasts")


def _keys(ids: pd.Series, times: pd.Series) -> set[tuple[Any, int]]:
    """(series, time in integer microseconds) pairs, for datetime or seconds times."""
    if pd.api.types.is_datetime64_any_dtype(times):
        us = pd.DatetimeIndex(times).as_unit("us").asi8
    else:
        us = np.round(times.to_numpy(dtype=np.float64) * 1e6).astype(np.int64)
    return set(zip(ids.tolist(), us.tolist()))


def split_for_update(data: IrregularSeries, frac: float = 0.7) -> tuple[IrregularSeries, IrregularSeries]:
    """The first ``frac`` of each series' rows, and the rest."""
    f = data.frame
    pos = f.groupby(ID, sort=False).cumcount().to_numpy()
    size = f.groupby(ID, sort=False)[TIME].transform("size").to_numpy()
    cut = pos < np.floor(size * frac)
    return data.take(cut), data.take(~cut)


def check_fit_update(est: BaseForecaster, data: IrregularSeries, atol: float = 1e-6, **_: Any) -> None:
    first, rest = split_for_update(data)
    c = _seeded(est).fit(first)
    out = c.update(rest)
    # expected origins: every new observation with at least _min_history rows in its segment
    f = data.frame
    seg_pos = f.groupby([ID, SEGMENT], sort=False).cumcount().to_numpy()
    last_fit = f[ID].map(first.last_times()).to_numpy(dtype=np.float64)
    t = data.time_seconds()
    new = t > last_fit
    need = int(c._min_history()) if hasattr(c, "_min_history") else 1
    H = len(c.horizons_)
    got = out.groupby(["series", "origin_time"], sort=False).size()
    sel = new & (seg_pos + 1 >= need)
    exp_keys = set(zip(f[ID][sel].tolist(), np.round(t[sel] * 1e6).astype(np.int64).tolist()))
    got_keys = _keys(out["series"], out["origin_time"])
    assert got_keys == exp_keys, (
        f"{_name(est)}.update returned forecasts for {len(got_keys)} origins, expected exactly the "
        f"{len(exp_keys)} new observations with enough history (missing {len(exp_keys - got_keys)}, "
        f"extra {len(got_keys - exp_keys)})"
    )
    assert (got == H).all(), f"{_name(est)}.update must give every horizon for each new origin"
    vals = _values(out)
    assert np.isfinite(vals).all(), f"{_name(est)}.update returned {int((~np.isfinite(vals)).sum())} non-finite forecasts"
    if not getattr(c, "learns_online", False):
        ref = c.predict(data, origins="all")
        key = ["series", "origin_time", "horizon"]
        m = out.merge(ref, on=key, suffixes=("", "_ref"), how="left")
        for col in [x for x in out.columns if x not in (*key, "target_time")]:
            np.testing.assert_allclose(
                m[col].to_numpy(float), m[f"{col}_ref"].to_numpy(float), rtol=0, atol=atol,
                err_msg=f"{_name(est)}: update forecasts differ from predict at the same origins ({col})",
            )


def _perturb_after(data: IrregularSeries, frac: float, seed: int = 0) -> tuple[IrregularSeries, float]:
    """Data whose values after τ are changed, and τ (seconds).

    τ is **one time for all series** (the earliest of the times at ``frac`` of each series' rows):
    a global model may legitimately learn from one series' revealed data before forecasting
    another, so only a common cut tests the absence of look-ahead.
    """
    f = data.frame.copy()
    t = data.time_seconds()
    pos = f.groupby(ID, sort=False).cumcount().to_numpy()
    size = f.groupby(ID, sort=False)[TIME].transform("size").to_numpy()
    tau = float(t[pos == np.floor(size * frac).astype(np.int64)].min())
    after = t > tau
    rng = np.random.default_rng(seed)
    for c in (*data.targets, *data.covariates):
        scale = float(np.nanstd(f[c].to_numpy(dtype=np.float64))) + 1.0
        f.loc[after, c] = f.loc[after, c].to_numpy(dtype=np.float64) + rng.normal(0.0, scale, int(after.sum()))
    changed = IrregularSeries(f, targets=data.targets, covariates=data.covariates, static=data.static,
                              time_kind=data.time_kind, units=data.units)
    return changed, tau


def _early(out: pd.DataFrame, tau: float) -> np.ndarray:
    got = out["origin_time"]
    sec = (pd.DatetimeIndex(got).as_unit("us").asi8 / 1e6) if pd.api.types.is_datetime64_any_dtype(got) else got.to_numpy(float)
    return np.asarray(sec, dtype=np.float64) <= tau + 1e-6


def check_no_look_ahead(est: BaseForecaster, data: IrregularSeries, atol: float = 0.0, **_: Any) -> None:
    changed, tau = _perturb_after(data, 0.8)
    first, rest = split_for_update(data, 0.6)
    _, rest2 = split_for_update(changed, 0.6)
    c = _seeded(est).fit(first)
    a, b = c.predict(data, origins="all"), c.predict(changed, origins="all")
    early = _early(a, tau)
    assert early.sum() > 0 and len(a) == len(b)
    np.testing.assert_allclose(_values(a)[early], _values(b)[early], rtol=0, atol=atol,
                               err_msg=f"{_name(est)}.predict: data after an origin changed its forecast")
    u1 = _seeded(est).fit(first).update(rest)
    u2 = _seeded(est).fit(first).update(rest2)
    early = _early(u1, tau)
    assert early.sum() > 0 and len(u1) == len(u2)
    np.testing.assert_allclose(_values(u1)[early], _values(u2)[early], rtol=0, atol=atol,
                               err_msg=f"{_name(est)}.update: data after an origin changed its forecast")


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
