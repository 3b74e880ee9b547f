"""The one small forecaster base every tsgate model (gated, online, baseline) derives from.

Public methods validate and check fitted state; subclasses implement private hooks on
windows and arrays:

- ``_fit(data)``: learn from an :class:`~tsgate.data.series.IrregularSeries`;
- ``_predict(windows, data)``: forecasts ``[n, H, k]`` for the windows' origins;
- ``_learn(windows, horizon_mask)``: (online models) learn the revealed (origin, horizon) pairs;
- ``_window_length()``: the input length L the model needs;
- ``_get_state()`` / ``_set_state()``: fitted state as JSON metadata plus numpy arrays.

``update`` is prequential (test-then-train) and identical for every model: at each new
observation it first forecasts every horizon from that origin, then learns each target
whose revealing observation has just arrived. A target is learned exactly once: in the
``update`` call that brings the observation revealing it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from tsgate.exceptions import ConfigError, DataError, ModelFileError, SchemaError
from tsgate.data.columns import ID, ROW, SEGMENT, TIME
from tsgate.data.series import IrregularSeries
from tsgate.data.times import seconds_to_time
from tsgate.data.horizons import Horizon, parse_horizons
from tsgate.data.windows import Windows, make_windows

__all__ = ["BaseForecaster", "forecast_frame", "as_series", "load", "register"]

_REGISTRY: dict[str, type[BaseForecaster]] = {}


def register(cls: type[BaseForecaster]) -> type[BaseForecaster]:
    """Make an estimator class loadable by name from a model file (a fixed registry, no imports by name)."""
    _REGISTRY[cls.__name__] = cls
    return cls


def as_series(data: Any, *, what: str = "data") -> IrregularSeries:
    """Accept an IrregularSeries, or a long DataFrame with ``time`` (+ optional ``series``) columns."""
    if isinstance(data, IrregularSeries):
        return data
    if isinstance(data, pd.DataFrame):
        if "time" not in data.columns:
            raise SchemaError(
                f"{what} frame needs a 'time' column (and optionally 'series'); it has "
                f"{list(map(str, data.columns))}. Or build an IrregularSeries with from_frame(..., time_col=...).",
                column="time",
            )
        return IrregularSeries.from_frame(
            data, time_col="time", id_col="series" if "series" in data.columns else None
        )
    raise ConfigError(
        f"{what} must be an IrregularSeries or a pandas DataFrame, got {type(data).__name__}. "
        "Use tsgate.IrregularSeries.read(path) for files."
    )


def forecast_frame(w: Windows, yhat: np.ndarray) -> pd.DataFrame:
    """Tidy forecasts: one row per (series, origin, horizon), one column per target."""
    n, H = len(w), len(w.horizons)
    k = len(w.target_names)
    yhat = np.asarray(yhat, dtype=np.float64).reshape(n, H, k)
    ids = np.asarray(w.series_ids, dtype=object)[w.series_index] if n else np.array([], dtype=object)
    target_time = w.target_time.copy()
    # a step horizon's target time is unknown beyond the data: leave it NaN/NaT
    frame = pd.DataFrame(
        {
            "series": np.repeat(ids, H),
            "origin_time": seconds_to_time(np.repeat(w.origin_time, H), w.time_kind),
            "horizon": np.tile(np.array([h.label for h in w.horizons], dtype=object), n),
            "target_time": seconds_to_time(target_time.reshape(-1), w.time_kind),
        }
    )
    for j, name in enumerate(w.target_names):
        frame[name] = yhat[:, :, j].reshape(-1)
    return frame


class BaseForecaster(BaseEstimator):
    """Common public API: ``fit``, ``predict``, ``update``, ``score``, ``save``.

    Subclasses' ``__init__`` only stores arguments (scikit-learn convention) and must have a
    ``horizons`` parameter. ``learns_online`` says whether ``_learn`` changes the model.
    """

    learns_online: ClassVar[bool] = False
    #: whether ``update`` may start from an unfitted model (learning from scratch)
    fresh_update: ClassVar[bool] = False

    # ------------------------------------------------------------------ hooks
    def _fit(self, data: IrregularSeries) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _predict(self, w: Windows, data: IrregularSeries) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _learn(self, w: Windows, horizon_mask: np.ndarray) -> None:
        """Learn the revealed targets ``w.y[horizon_mask]``; no-op for models that do not learn online."""

    def _window_length(self) -> int:
        return int(getattr(self, "window", 1))

    def _min_history(self) -> int:
        return self._window_length()

    def _init_fresh(self, data: IrregularSeries) -> None:
        raise NotFittedError(
            f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with appropriate "
            "arguments before using this estimator (it cannot learn from scratch online)."
        )

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {}, {}

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        pass

    def _max_gap(self) -> Any:
        return getattr(self, "max_gap", None)

    # ------------------------------------------------------------------ public
    def fit(self, data: Any, y: Any = None) -> BaseForecaster:
        """Fit on every series of ``data`` (IrregularSeries or long DataFrame). Returns self."""
        series = as_series(data)
        self.horizons_ = parse_horizons(self.horizons)
        self._check_series(series, fitting=True)
        self._fit(series)
        self._remember(series)
        return self

    def predict(self, data: Any, *, origins: str = "last") -> pd.DataFrame:
        """Forecast every horizon from the last observation of each series (or from ``origins='all'``).

        ``data`` holds the recent history the model conditions on (at least ``window`` rows).
        """
        self._check_fitted()
        series = as_series(data)
        self._check_series(series)
        w = self._windows(series, origins=origins)
        if len(w) == 0:
            return forecast_frame(w, np.zeros((0, len(self.horizons_), len(self.targets_))))
        return forecast_frame(w, self._predict(w, series))

    def update(self, data: Any) -> pd.DataFrame:
        """Consume new observations in time order, forecasting then learning at each (prequential).

        ``data`` holds observations newer than the last one seen for each series. Returns the
        forecasts made from every new observation, before its own future was known.
        """
        new = as_series(data, what="new data")
        if not self._is_fitted():
            if not self.fresh_update:
                self._check_fitted()
            self.horizons_ = parse_horizons(self.horizons)
            self._check_series(new, fitting=True)
            self._init_fresh(new)
            self.history_ = None
            self.last_time_ = {}
        self._check_series(new)
        last = dict(self.last_time_)
        for g in new.groups():  # one pass over the series, not a lookup per series
            sid = g.series_id
            if sid in last and g.time_s[0] <= last[sid]:
                raise DataError(
                    f"new observations must be later than the last one the model has seen "
                    f"({seconds_to_time(np.array([last[sid]]), self.time_kind_)[0]}); drop rows already "
                    "used by fit or a previous update.",
                    file=new.source,
                    series=sid,
                    row=int(new.frame.loc[new.frame[ID] == sid, ROW].iloc[0]),
                )
        combined = new if self.history_ is None else self.history_.append(new)
        w, yhat, is_new = self._consume(combined, last)
        self._remember(combined)
        return forecast_frame(w.select(is_new), yhat[is_new])

    def _consume(
        self, combined: IrregularSeries, last: dict[Any, float]
    ) -> tuple[Windows, np.ndarray, np.ndarray]:
        """Forecast from every origin newer than ``last`` and learn what each new observation reveals.

        Returns the windows over ``combined``, forecasts [n, H, k] and a mask of the new origins.
        Window models run an event loop over new observation times; stateful models override it.
        """
        w = make_windows(
            combined,
            self._window_length(),
            self.horizons_,
            max_gap=self._max_gap(),
            min_history=self._min_history(),
            targets="optional",
        )
        ids = np.asarray(w.series_ids, dtype=object)
        before = np.array([last.get(s, -np.inf) for s in ids], dtype=np.float64) if len(ids) else np.zeros(0)
        prev = before[w.series_index] if len(w) else np.zeros(0)
        is_new = w.origin_time > prev
        reveal = np.isfinite(w.reveal_time) & (w.reveal_time > prev[:, None]) & np.isfinite(w.y).all(axis=2)
        yhat = np.full((len(w), len(self.horizons_), len(self.targets_)), np.nan)
        if not self.learns_online:
            if is_new.any():
                yhat[is_new] = self._predict(w.select(is_new), combined)
            return w, yhat, is_new
        # event loop over new observation times: forecast from origins at τ, then learn
        # the (origin, horizon) pairs that the observations at τ reveal
        times = np.unique(np.concatenate([w.origin_time[is_new], w.reveal_time[reveal]]))
        cost = np.zeros(len(times))
        for i, tau in enumerate(times):
            t0 = time.perf_counter()
            f = np.flatnonzero(is_new & (w.origin_time == tau))
            if len(f):
                yhat[f] = self._predict(w.select(f), combined)
            m = reveal & (w.reveal_time == tau)
            rows = np.flatnonzero(m.any(axis=1))
            if len(rows):
                self._learn(w.select(rows), m[rows])
            cost[i] = time.perf_counter() - t0
        # seconds per new observation (forecast + learn) of the last update; not saved
        self.step_seconds_ = cost
        return w, yhat, is_new

    def score(self, data: Any, y: Any = None) -> float:
        """Negative mean absolute error over every origin of ``data`` with known targets (higher is better)."""
        self._check_fitted()
        series = as_series(data)
        self._check_series(series)
        w = self._windows(series, origins="all", targets="required")
        if len(w) == 0:
            raise DataError("no origin in this data has all its targets; cannot score.", file=series.source)
        yhat = self._predict(w, series)
        return -float(np.mean(np.abs(yhat - w.y)))

    def save(self, path: str | Path) -> Path:
        """Save to a model directory atomically (JSON + safetensors; see tsgate.estimators.persistence)."""
        from tsgate import __version__
        from tsgate.estimators.persistence import write_model_dir

        self._check_fitted()
        meta, arrays = self._get_state()
        hist_meta, hist_arrays = _history_to_arrays(self.history_)
        arrays = {**{f"state/{k}": v for k, v in arrays.items()}, **hist_arrays}
        description = {
            "tsgate_version": __version__,
            "estimator": type(self).__name__,
            "params": _jsonable_params(self.get_params(deep=False)),
            "fitted": {
                "horizons": [[h.kind, h.value, h.label] for h in self.horizons_],
                "targets": list(self.targets_),
                "covariates": list(self.covariates_),
                "static": list(self.static_),
                "units": dict(self.units_),
                "time_kind": self.time_kind_,
                "last_time": [[_json_id(k), v] for k, v in self.last_time_.items()],
                "history": hist_meta,
                "state": meta,
            },
        }
        return write_model_dir(path, description, arrays)

    # ------------------------------------------------------------------ helpers
    def _is_fitted(self) -> bool:
        return hasattr(self, "horizons_") and hasattr(self, "targets_")

    def _check_fitted(self) -> None:
        if not self._is_fitted():
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator."
            )

    def _check_series(self, series: IrregularSeries, fitting: bool = False) -> None:
        if fitting:
            self.targets_ = tuple(series.targets)
            self.covariates_ = tuple(series.covariates)
            self.static_ = tuple(series.static)
            self.time_kind_ = series.time_kind
            self.units_ = dict(series.units)
            return
        if tuple(series.targets) != tuple(self.targets_):
            raise SchemaError(
                f"the model forecasts targets {list(self.targets_)}, the data has {list(series.targets)}; "
                "pass data with the same target columns.",
                file=series.source,
            )
        if tuple(series.covariates) != tuple(self.covariates_) or tuple(series.static) != tuple(self.static_):
            raise SchemaError(
                f"the model uses covariates {list(self.covariates_)} and static {list(self.static_)}, "
                f"the data has {list(series.covariates)} and {list(series.static)}.",
                file=series.source,
            )
        if series.time_kind != self.time_kind_:
            raise SchemaError(
                f"the model was fitted on {self.time_kind_} times, the data has {series.time_kind} times.",
                file=series.source,
            )

    def _windows(self, series: IrregularSeries, *, origins: str = "last", targets: str = "optional") -> Windows:
        if origins not in ("last", "all"):
            raise ConfigError(f"origins must be 'last' or 'all', got {origins!r}.")
        return make_windows(
            series,
            self._window_length(),
            self.horizons_,
            max_gap=self._max_gap(),
            min_history=self._min_history(),
            targets=targets,  # type: ignore[arg-type]
            origins=origins,  # type: ignore[arg-type]
        )

    def _history_rows(self) -> int:
        """Rows per series to keep for ``update``: the input window plus the horizon reach."""
        extra = 0
        for h in self.horizons_:
            extra = max(extra, int(h.value) if h.kind == "steps" else 0)
        return self._window_length() + extra + 1

    def _remember(self, series: IrregularSeries) -> None:
        self.last_time_ = {**getattr(self, "last_time_", {}), **series.last_times()}
        f = series.frame
        pos_from_end = f.groupby(ID, sort=False).cumcount(ascending=False).to_numpy()
        keep = pos_from_end < self._history_rows()
        dur = [h.value for h in self.horizons_ if h.kind == "duration"]
        if dur:
            # an origin o is fully revealed once an observation at or after o + max(h) exists, so
            # keep origins newer than last - max(h) and the input window before the first of them
            t = series.time_seconds()
            last_s = f[ID].map(self.last_time_).to_numpy(dtype=np.float64)
            idx = np.arange(len(f))
            first_recent = (
                pd.Series(np.where(t > last_s - max(dur), idx, len(f))).groupby(f[ID].to_numpy()).transform("min").to_numpy()
            )
            keep |= idx >= first_recent - self._window_length()
        self.history_ = series.take(keep)


def _json_id(x: Any) -> Any:
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    return x


def _jsonable_params(params: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in params.items():
        if isinstance(v, tuple):
            v = list(v)
        if v is None or isinstance(v, (bool, int, float, str)) or (
            isinstance(v, (list, dict)) and _plain(v)
        ):
            out[k] = v
        else:
            raise ModelFileError(
                f"parameter {k}={v!r} cannot be stored in a model file; use plain numbers, strings or lists."
            )
    return out


def _plain(v: Any) -> bool:
    if isinstance(v, dict):
        return all(isinstance(k, str) and _plain(x) for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return all(_plain(x) for x in v)
    return v is None or isinstance(v, (bool, int, float, str))


def _history_to_arrays(h: IrregularSeries | None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    if h is None or len(h) == 0:
        return {"present": False}, {}
    f = h.frame
    ids = [_json_id(x) for x in pd.unique(f[ID])]
    code = pd.Categorical(f[ID], categories=pd.unique(f[ID])).codes.astype(np.int64)
    cols = list(h.targets) + list(h.covariates) + list(h.static)
    meta = {
        "present": True,
        "ids": ids,
        "targets": list(h.targets),
        "covariates": list(h.covariates),
        "static": list(h.static),
        "time_kind": h.time_kind,
        "units": h.units,
    }
    arrays = {
        "history/series": code,
        "history/time_s": h.time_seconds(),
        "history/values": f[cols].to_numpy(dtype=np.float64) if cols else np.zeros((len(f), 0)),
        "history/segment": f[SEGMENT].to_numpy(dtype=np.int64),
        "history/row": f[ROW].to_numpy(dtype=np.int64),
    }
    return meta, arrays


def _history_from_arrays(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> IrregularSeries | None:
    if not meta.get("present"):
        return None
    ids = np.asarray(meta["ids"], dtype=object)
    cols = list(meta["targets"]) + list(meta["covariates"]) + list(meta["static"])
    frame = pd.DataFrame({ID: ids[arrays["history/series"]], ROW: arrays["history/row"]})
    frame[TIME] = seconds_to_time(arrays["history/time_s"], meta["time_kind"])
    for j, c in enumerate(cols):
        frame[c] = arrays["history/values"][:, j]
    frame[SEGMENT] = arrays["history/segment"]
    return IrregularSeries(
        frame,
        targets=meta["targets"],
        covariates=meta["covariates"],
        static=meta["static"],
        time_kind=meta["time_kind"],
        units=meta.get("units"),
    )


def load(path: str | Path) -> BaseForecaster:
    """Load any tsgate model directory written by ``save`` (JSON + safetensors; no code runs)."""
    from tsgate.estimators.persistence import read_model_dir

    desc, arrays = read_model_dir(path)  # refuse a damaged file before importing torch
    _import_estimators()
    name = desc.get("estimator")
    cls = _REGISTRY.get(name)  # type: ignore[arg-type]
    if cls is None:
        raise ModelFileError(f"{path}: unknown estimator {name!r}; known: {sorted(_REGISTRY)}.")
    try:
        est = cls(**desc["params"])
        fitted = desc["fitted"]
        est.horizons_ = tuple(Horizon(k, float(v), str(lbl)) for k, v, lbl in fitted["horizons"])
        est.targets_ = tuple(fitted["targets"])
        est.covariates_ = tuple(fitted["covariates"])
        est.static_ = tuple(fitted["static"])
        est.units_ = dict(fitted["units"])
        est.time_kind_ = fitted["time_kind"]
        est.last_time_ = {k: float(v) for k, v in fitted["last_time"]}
        est.history_ = _history_from_arrays(fitted["history"], arrays)
        state = {k[len("state/"):]: v for k, v in arrays.items() if k.startswith("state/")}
        est._set_state(fitted["state"], state)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ModelFileError):
            raise
        raise ModelFileError(f"{path}: model description is incomplete or inconsistent ({exc!r}); refit.") from None
    return est


def _import_estimators() -> None:
    """Import the modules that register estimators (lazily: they pull in torch)."""
    import importlib

    for mod in ("tsgate.baselines", "tsgate.training.gated", "tsgate.online.estimators"):
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name is None or not exc.name.startswith("tsgate"):
                raise
