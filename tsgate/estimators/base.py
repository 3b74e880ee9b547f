"""The one small forecaster base every tsgate model derives from, through one of two styles.

Public methods validate their input and check fitted state; a model implements private hooks
on numpy arrays. The two styles (:mod:`tsgate.estimators.window`, :mod:`tsgate.estimators.stream`)
say how forecasts are made and how ``update`` walks through new data:

- every model: ``_fit(data)`` on an :class:`~tsgate.data.series.IrregularSeries`;
  ``_get_state()`` / ``_set_state(meta, arrays)`` (fitted state as JSON metadata plus numpy
  arrays); constructor parameters with their ``_parameter_constraints``;
- a :class:`~tsgate.estimators.window.WindowForecaster` implements ``_predict(inputs)`` (the
  forecasts ``[n, H, k]`` from input windows only, never targets) and, if it learns online,
  ``_learn(inputs, targets, horizon_mask)``;
- a :class:`~tsgate.estimators.stream.StreamForecaster` implements an engine per series
  (``_new_engine``, ``_engine_from_state``) that steps along the stream.

``update`` is prequential (test-then-train) and identical for every model: at each new
observation it first forecasts every horizon from that origin, then learns each target whose
revealing observation has just arrived. A target is learned exactly once: in the ``update``
call that brings the observation revealing it.

Prediction intervals (``level=``) are the base class's: ``fit`` calibrates a
:class:`~tsgate.estimators.intervals.Calibrator` (``calibrator_``) on the forecasts of its
calibration origins (the rule of :mod:`tsgate.estimators.calibration`), and every call that
reveals targets (``update``, ``forecast_and_learn``, ``stream``) adapts it online.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np

from tsgate.data.columns import ID, ROW, plain
from tsgate.data.horizons import Horizon, parse_horizons
from tsgate.data.schema import check_matches, data_schema
from tsgate.data.series import IrregularSeries
from tsgate.data.times import parse_duration, seconds_to_time
from tsgate.data.windows import make_windows
from tsgate.estimators import conformal, registry
from tsgate.estimators.calibration import online_bands, with_bands
from tsgate.estimators.forecasts import Forecasts, as_series, resolve_origins
from tsgate.estimators.history import (
    history_from_arrays,
    history_to_arrays,
    jsonable_params,
    recent_rows,
)
from tsgate.estimators.intervals import MIN_CALIBRATION_SCORES, Calibrator, parse_levels, position_groups
from tsgate.estimators.params_api import ParamsMixin, not_fitted_error
from tsgate.estimators.tags import Tags
from tsgate.exceptions import DataError, FewWindowsWarning, ModelFileError, OnlineUpdateError
from tsgate.params import check_value

__all__ = ["BaseForecaster", "Consumed", "load", "from_description"]


@dataclass
class Consumed:
    """What one pass of ``update`` over new observations produced.

    ``forecasts`` are those made from every new origin; ``updates`` counts the model changes
    made from revealed targets and ``refused`` those refused (non-finite loss or gradient).
    """

    forecasts: Forecasts
    updates: int = 0
    refused: int = 0


class BaseForecaster(ParamsMixin):
    """Common public API: ``fit``, ``forecast``/``predict``, ``forecast_and_learn``/``update``,
    ``score``, ``save``.

    Subclasses' ``__init__`` only stores arguments (scikit-learn convention) and must have a
    ``horizons`` parameter. Class keywords set the :class:`~tsgate.estimators.tags.Tags`; every
    class is registered for :func:`load` unless it passes ``register=False``.
    """

    tags: ClassVar[Tags] = Tags()
    #: per constructor parameter, the values it accepts (see :mod:`tsgate.params`)
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {}

    def __init_subclass__(cls, *, register: bool = True, **tags: Any) -> None:
        super().__init_subclass__()
        cls.tags = replace(cls.tags, **tags)
        if register:
            registry.register(cls)

    # ------------------------------------------------------------------ hooks
    def _fit(self, data: IrregularSeries) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _forecast(self, series: IrregularSeries, origins: Any) -> Forecasts:  # pragma: no cover - style
        raise NotImplementedError

    def _consume(self, combined: IrregularSeries, last: dict[Any, float]) -> Consumed:  # pragma: no cover - style
        raise NotImplementedError

    def _start_fresh(self, data: IrregularSeries) -> None:
        """Set up an unfitted model to learn from scratch in ``update`` (``learns_from_scratch`` models)."""
        raise not_fitted_error(
            f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with appropriate "
            "arguments before using this estimator (it cannot learn from scratch online)."
        )

    def _window_length(self) -> int:
        """L, the observations (origin included) in each input."""
        return int(getattr(self, "window", 1))

    def _min_history(self) -> int:
        return self._window_length()

    def _max_gap(self) -> Any:
        return getattr(self, "max_gap", None)

    def _stream_forecast(self, series: Any, inputs: Any) -> np.ndarray:  # pragma: no cover - style
        """[H, k] forecasts of the origin at a new observation (one-row ``inputs``)."""
        raise NotImplementedError

    def _stream_learn(self, series: Any, revealed: Any) -> tuple[int, int]:  # pragma: no cover - style
        """Learn what one new observation revealed; returns (updates, refused)."""
        raise NotImplementedError

    def _calibration_forecasts(self, data: IrregularSeries) -> conformal.CalibrationSet:  # pragma: no cover - style
        """Forecasts and truths [n, H, k] of the calibration origins of the training data."""
        raise NotImplementedError

    def _calibration_fraction(self) -> float | None:
        """The share of training origins that calibrates intervals: a model's own ``val_fraction``
        (the windows it validates on and never trains on), else the default rule's."""
        return getattr(self, "val_fraction", None)

    def _calibration_cuts(self) -> dict[Any, float] | None:
        """Per series id the time (seconds) after which the fitted model's origins are held out
        and calibrate intervals, or None (the fraction rule)."""
        return None

    def _calibration_note(self) -> str | None:
        """Why this model's bands may not hold (None: no reason), told with the calibration warning.

        A model that sets ``in_sample_bands_`` (no held-out validation part in its fit) says so."""
        if not getattr(self, "in_sample_bands_", False):
            return None
        return ("it was fitted without a validation part (val_fraction=0 or too few windows for a cut), so its "
                "prediction intervals are calibrated on windows it trained on and are likely too narrow; fit with "
                "val_fraction > 0 on enough data for held-out bands.")

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {}, {}

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        pass

    def _validate_params(self) -> None:
        """Check every parameter against ``_parameter_constraints`` (ConfigError naming it)."""
        for name, constraints in self._parameter_constraints.items():
            check_value(name, getattr(self, name), constraints, type(self).__name__)

    # ------------------------------------------------------------------ public
    @classmethod
    def parameter_constraints(cls) -> dict[str, list[Any]]:
        """The values each constructor parameter accepts (:mod:`tsgate.params` constraints)."""
        return dict(cls._parameter_constraints)
    def check_params(self) -> BaseForecaster:
        """Check the constructor parameters now, before any data is read (``fit`` checks them
        too); a bad one raises ConfigError naming it. Returns self."""
        self._validate_params()
        return self

    @property
    def input_window(self) -> int | None:
        """Observations before and at an origin that a forecast reads (the origin included), or
        None when it reads every observation since the model's own state (stream models)."""
        return self._window_length()

    @property
    def min_observations(self) -> int:
        """Fewest observations up to an origin, within its segment, that a forecast needs."""
        return self._min_history()

    def fit(self, data: Any, y: Any = None) -> BaseForecaster:
        """Fit on every series of ``data`` (IrregularSeries or long DataFrame). Returns self."""
        series = as_series(data)
        self._validate_params()
        self.horizons_ = parse_horizons(self.horizons)
        self._check_series(series, fitting=True)
        self.fit_report_: list[dict[str, Any]] = []
        self.fit_warnings_: list[dict[str, Any]] = []
        self._fit(series)
        self._remember(series)
        self.calibrator_ = self._new_calibrator(series)
        self.calibrator_.calibrate(*self._calibration_forecasts(series))
        self._calibration_warned = False
        return self

    @property
    def calibration_warning_(self) -> str | None:
        """The warning about the fitted bands (None if none): horizons whose bands rest on few
        calibration errors (from the calibrator, so a loaded model gives it too) and the model's
        own note; given once, by the first call that asks for intervals."""
        cal = getattr(self, "calibrator_", None)
        if cal is None:
            return None
        few = cal.n_calibration < MIN_CALIBRATION_SCORES
        low = [f"{h.label}: {int(c)}" for h, c in zip(self.horizons_, cal.n_calibration) if c < MIN_CALIBRATION_SCORES]
        how = ("their bands are scaled from the nearest horizon with enough errors by the ratio of the lead times"
               if cal.leads is not None and not few.all() else "none: no band")
        msgs = [f"{type(self).__name__}: the prediction intervals of horizon(s) {', '.join(low)} are calibrated on "
                f"fewer than {MIN_CALIBRATION_SCORES} forecast errors, so their coverage is uncertain ({how}); "
                "use more training data per series or shorter horizons."] if low else []
        note = self._calibration_note()
        if note:
            msgs.append(f"{type(self).__name__}: {note}")
        return " ".join(msgs) or None

    def _new_calibrator(self, series: IrregularSeries) -> Calibrator:
        leads = [h.value for h in self.horizons_] if len({h.kind for h in self.horizons_}) == 1 else None
        groups = position_groups(self.targets_, series.meta)
        return Calibrator(self.targets_, groups, len(self.horizons_), leads=leads, half_life=conformal.HALF_LIFE)

    def forecast(self, data: Any, *, origins: Any = "last", level: Any = None) -> Forecasts:
        """Forecasts of every horizon from the chosen origins of ``data``, as arrays.

        ``origins``: ``"last"`` (the last observation of each series), ``"all"``, or chosen
        observations: a sequence of times, ``{series id: times}``, or a frame with ``series`` and
        ``time`` columns (numbers are float seconds, see :meth:`IrregularSeries.time_seconds`).
        An origin needs ``input_window`` observations up to it in its segment (fewer for models
        that pad); origins without them are left out. ``data`` holds the history the model
        conditions on; only observations up to each origin reach its forecast.

        ``level``: interval levels in percent (``90`` or ``[80, 95]``); the bands are the
        calibrator's current ones (split-conformal after ``fit``, adapted by every ``update``).
        """
        self._check_fitted()
        levels = parse_levels(level) if level is not None else None
        series = as_series(data)
        self._check_series(series)
        fc = self._forecast(series, resolve_origins(origins, series))
        return with_bands(fc, self._calibrator(), levels) if levels else fc

    def predict(self, data: Any, *, origins: Any = "last", level: Any = None) -> Any:
        """:meth:`forecast` as a tidy frame: one row per (series, origin, horizon), one column per
        target, and with ``level`` the columns ``<target>_lower_<ℓ>``, ``<target>_upper_<ℓ>``
        (and ``<columns>_radius_<ℓ>`` per position group)."""
        return self.forecast(data, origins=origins, level=level).to_frame()

    def forecast_and_learn(self, data: Any, *, level: Any = None) -> Forecasts:
        """Consume new observations in time order, forecasting then learning at each (prequential).

        ``data`` holds observations newer than the last one seen for each series. Returns the
        forecasts made from every new observation, before its own future was known. If the
        model had targets to learn and refused every update (non-finite loss or gradient), it is
        left as it was before the call and :class:`~tsgate.exceptions.OnlineUpdateError` is raised.

        ``level``: interval levels in percent; each forecast gets the band current when it was
        made, and every revealed target adapts the calibrator (adaptive conformal, see
        :mod:`tsgate.estimators.intervals`).
        """
        levels = parse_levels(level) if level is not None else None
        new = as_series(data, what="new data")
        if not self._is_fitted():
            if not self.tags.learns_from_scratch:
                self._check_fitted()
            self._validate_params()
            self.horizons_ = parse_horizons(self.horizons)
            self._check_series(new, fitting=True)
            self.fit_report_, self.fit_warnings_ = [], []
            self._start_fresh(new)
            self.history_ = None
            self.last_time_ = {}
            self.calibrator_ = self._new_calibrator(new)
            # the bands start empty and adapt online: no fitted calibration to warn about
            self._calibration_warned = True
        self._check_series(new)
        last = dict(self.last_time_)
        self._check_newer(new, last)
        combined = new if self.history_ is None else self.history_.append(new)
        before = self._get_state() if self.tags.learns_online else None
        done = self._consume(combined, last)
        if done.refused and not done.updates:
            if before is not None:
                self._set_state(*before)
            raise OnlineUpdateError(
                f"every online update of this call was refused ({done.refused}: non-finite loss or "
                "gradient); the model is left as it was. Lower the learning rate, clip gradients, or "
                "check the new data for extreme values."
            )
        cal = self.calibrator_ if levels is None else self._calibrator()
        widths = None
        if cal is not None:
            cal.track(levels or ())
            widths = online_bands(cal, combined, last, done.forecasts, self.horizons_, self._max_gap())
        self._remember(combined)
        if cal is not None:
            cal.prune({g.series_id: float(g.time_s[0]) for g in self.history_.groups()})
        return with_bands(done.forecasts, cal, levels, widths) if levels else done.forecasts

    def update(self, data: Any, *, level: Any = None) -> Any:
        """:meth:`forecast_and_learn` with the forecasts as a tidy frame (bands with ``level``)."""
        return self.forecast_and_learn(data, level=level).to_frame()

    def open_stream(self, *, level: Any = None, skip_seen: bool = False) -> Any:
        """A :class:`~tsgate.estimators.streaming.LiveStream` over this fitted model: ``push`` one
        observation at a time (see :meth:`stream`). Use it in a ``with`` block, which syncs the
        model's recent rows on exit (needed before ``save``)."""
        from tsgate.estimators.streaming import LiveStream, StreamHooks

        self._check_fitted()
        levels = parse_levels(level) if level is not None else None
        if levels:
            self._calibrator()
        hooks = StreamHooks(
            window=self._window_length(),
            min_history=self._min_history(),
            max_gap=None if self._max_gap() is None else parse_duration(self._max_gap(), what="max_gap"),
            forecast=self._stream_forecast,
            learn=self._stream_learn if self.tags.learns_online else None,
            remember=self._remember,
            keep_inputs=self.tags.style == "window" and self.tags.learns_online,
        )
        return LiveStream(self, hooks, levels, skip_seen)

    def stream(self, rows: Any, *, level: Any = None, skip_seen: bool = False) -> Iterator[Any]:
        """Forecast from each observation as it arrives, then learn the targets it reveals.

        ``rows``: an iterable of mappings with ``time``, the target and covariate columns and,
        for models of several series, ``series`` (optionally ``segment`` and static columns),
        in time order; a DataFrame is read row by row. Yields a
        :class:`~tsgate.estimators.streaming.StreamStep` per observation (``step.rows()``: the
        forecast rows of ``predict``, with bands for ``level``) as soon as it is made. The
        per-observation work is incremental (ring buffers, no re-windowing); forecasts equal
        those of :meth:`update` over the same rows. Rows at or before their series' last seen
        time raise a DataError, or are skipped with ``skip_seen=True`` (to resume a stream).
        The model is synced when the iteration ends (also when it is left early).
        """
        import pandas as pd

        if isinstance(rows, pd.DataFrame):
            frame = rows
            rows = (dict(zip(frame.columns, r)) for r in frame.itertuples(index=False, name=None))
        with self.open_stream(level=level, skip_seen=skip_seen) as live:
            for row in rows:
                step = live.push_row(row)
                if step is not None:
                    yield step

    def score(self, data: Any, y: Any = None) -> float:
        """Negative mean absolute error over every origin of ``data`` with known targets (higher is better)."""
        fc = self.forecast(data, origins="all")
        series = as_series(data)
        truth = make_windows(series, 1, self.horizons_, max_gap=self._max_gap(), targets="optional")
        # both come from the same series in the same order: match origins on (series, row)
        pos = {(int(s), int(r)): i for i, (s, r) in enumerate(zip(truth.series_index, truth.origin_row))}
        idx = np.array([pos[(int(s), int(r))] for s, r in zip(fc.inputs.series_index, fc.inputs.origin_row)], dtype=np.int64)
        y = truth.y[idx] if len(idx) else np.zeros(fc.values.shape)
        ok = np.isfinite(y).all(axis=(1, 2)) & np.isfinite(fc.values).all(axis=(1, 2))
        if not ok.any():
            raise DataError("no origin in this data has all its targets; cannot score.", file=series.source)
        return -float(np.mean(np.abs(fc.values[ok] - y[ok])))

    def save(self, path: str | Path) -> Path:
        """Save to a model directory atomically (JSON + safetensors; see tsgate.estimators.persistence)."""
        from tsgate import __version__
        from tsgate.estimators.persistence import write_model_dir

        self._check_fitted()
        meta, arrays = self._get_state()
        hist_meta, hist_arrays = history_to_arrays(self.history_)
        cal_meta, cal_arrays = self.calibrator_.get_state() if self.calibrator_ is not None else (None, {})
        arrays = {**{f"state/{k}": v for k, v in arrays.items()}, **hist_arrays,
                  **{f"calibration/{k}": v for k, v in cal_arrays.items()}}
        description = {
            "tsgate_version": __version__,
            "estimator": type(self).__name__,
            "params": jsonable_params(self.get_params(deep=False)),
            "data": getattr(self, "data_schema_", None),
            "fitted": {
                "horizons": [[h.kind, h.value, h.label] for h in self.horizons_],
                "targets": list(self.targets_),
                "covariates": list(self.covariates_),
                "static": list(self.static_),
                "units": dict(self.units_),
                "time_kind": self.time_kind_,
                "last_time": [[plain(k), v] for k, v in self.last_time_.items()],
                "history": hist_meta,
                "calibration": cal_meta,
                "state": meta,
            },
        }
        return write_model_dir(path, description, arrays)

    # ------------------------------------------------------------------ helpers
    def _calibrator(self) -> Calibrator:
        cal = getattr(self, "calibrator_", None)
        if cal is None:
            raise ModelFileError(
                f"this {type(self).__name__} has no interval calibration (a model file written before "
                "intervals existed); refit it to get prediction intervals."
            )
        msg = getattr(self, "calibration_warning_", None)
        if msg and not getattr(self, "_calibration_warned", False):
            self._calibration_warned = True
            warnings.warn(FewWindowsWarning(msg), stacklevel=3)
        return cal

    def _is_fitted(self) -> bool:
        return hasattr(self, "horizons_") and hasattr(self, "targets_")

    def _check_fitted(self) -> None:
        if not self._is_fitted():
            raise not_fitted_error(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator."
            )

    def _check_series(self, series: IrregularSeries, fitting: bool = False) -> None:
        if fitting:
            self.data_schema_ = data_schema(series)  # how to read new data (tsgate.data.schema)
            self.targets_ = tuple(series.targets)
            self.covariates_ = tuple(series.covariates)
            self.static_ = tuple(series.static)
            self.time_kind_ = series.time_kind
            self.units_ = dict(series.units)
            return
        check_matches(
            series,
            {"targets": self.targets_, "covariates": self.covariates_, "static": self.static_, "time_kind": self.time_kind_},
        )

    def _check_newer(self, new: IrregularSeries, last: dict[Any, float]) -> None:
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

    def _remember(self, series: IrregularSeries) -> None:
        self.last_time_ = {**getattr(self, "last_time_", {}), **series.last_times()}
        keep = recent_rows(series, self.last_time_, self._window_length(), self.horizons_)
        self.history_ = series.take(keep)


def load(path: str | Path) -> BaseForecaster:
    """Load any tsgate model directory written by ``save`` (JSON + safetensors; no code runs)."""
    from tsgate.estimators.persistence import read_model_dir

    desc, arrays = read_model_dir(path)  # refuse a damaged file before importing torch
    return from_description(desc, arrays, path)


def from_description(desc: dict[str, Any], arrays: dict[str, np.ndarray], path: str | Path) -> BaseForecaster:
    """The estimator a model directory describes, from what ``read_model_dir`` returned.

    For callers that read the description first (e.g. to check data against the model's data
    schema before importing torch); ``path`` is named in errors.
    """
    name = desc.get("estimator")
    cls = registry.lookup(name)
    if cls is None:
        raise ModelFileError(f"{path}: unknown estimator {name!r}; known: {registry.known_names()}.")
    try:
        est = cls(**desc["params"])
        fitted = desc["fitted"]
        est.horizons_ = tuple(Horizon(k, float(v), str(lbl)) for k, v, lbl in fitted["horizons"])
        est.targets_ = tuple(fitted["targets"])
        est.covariates_ = tuple(fitted["covariates"])
        est.static_ = tuple(fitted["static"])
        est.units_ = dict(fitted["units"])
        est.time_kind_ = fitted["time_kind"]
        # older model files have no data schema: new data must then name its columns
        est.data_schema_ = desc.get("data")
        est.last_time_ = {k: float(v) for k, v in fitted["last_time"]}
        est.history_ = history_from_arrays(fitted["history"], arrays)
        cal = {k[len("calibration/"):]: v for k, v in arrays.items() if k.startswith("calibration/")}
        est.calibrator_ = Calibrator.from_state(fitted["calibration"], cal) if fitted.get("calibration") else None
        est.fit_report_, est.fit_warnings_ = [], []
        state = {k[len("state/"):]: v for k, v in arrays.items() if k.startswith("state/")}
        est._set_state(fitted["state"], state)
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    except Exception as exc:  # shapes, indices, types edited by hand: one line, never a traceback
        raise ModelFileError(f"{path}: model description is inconsistent with its arrays ({_first_line(exc)}); refit.") from None
    return est


def _first_line(exc: BaseException) -> str:
    """``Type: first line of the message``, for one-line errors."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
