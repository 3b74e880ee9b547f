"""Forecasts as arrays, and the tidy frame users get from ``predict`` and ``update``.

:class:`Forecasts` is what every forecaster's ``forecast`` and ``forecast_and_learn`` return:
the origins (as the :class:`~tsgate.data.windows.Inputs` of each) and the values ``[n, H, k]``.
``to_frame()`` gives one row per (series, origin, horizon) with one column per target.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tsgate.data.columns import TIME
from tsgate.data.series import IrregularSeries
from tsgate.data.times import seconds_to_time, to_seconds
from tsgate.data.windows import Inputs
from tsgate.estimators.intervals import band_columns
from tsgate.exceptions import ConfigError, SchemaError

__all__ = ["Forecasts", "forecast_frame", "as_series", "resolve_origins", "FRAME_COLUMNS"]

#: the columns of a tidy forecast frame before the target columns
FRAME_COLUMNS = ("series", "origin_time", "horizon", "target_time")


@dataclass
class Forecasts:
    """Forecasts of every horizon from a set of origins.

    Attributes
    ----------
    inputs
        The input window of each origin (series, origin time in seconds, row, ...).
    values
        ``[n, H, k]`` forecasts in the data's units (NaN where a model could not forecast).
    levels, halfwidth, groups
        Prediction intervals when asked for (``level=``): per level (percent), ``halfwidth``
        ``[n, L, H, U]`` holds the half-width of each target's band (the first k units) and the
        radius around each position group's predicted position (the next ones; ``groups`` names
        their columns). See :mod:`tsgate.estimators.intervals`.
    """

    inputs: Inputs
    values: np.ndarray
    levels: tuple[float, ...] = ()
    halfwidth: np.ndarray | None = None
    groups: tuple[tuple[str, ...], ...] = ()

    def __len__(self) -> int:
        return len(self.inputs)

    @property
    def origin_time(self) -> np.ndarray:
        """[n] origin times, float seconds (since the epoch for datetime series)."""
        return self.inputs.origin_time

    @property
    def ids(self) -> np.ndarray:
        """[n] the series id of each origin."""
        return self.inputs.ids

    def target_time(self) -> np.ndarray:
        """[n, H] seconds: origin + duration for duration horizons; NaN for step horizons, whose
        target time (that of a future observation) is not known when the forecast is made."""
        lead = np.array([h.value if h.kind == "duration" else np.nan for h in self.inputs.horizons])
        return self.inputs.origin_time[:, None] + lead[None, :]

    def select(self, index: np.ndarray) -> Forecasts:
        hw = None if self.halfwidth is None else self.halfwidth[index]
        return Forecasts(self.inputs.select(index), self.values[index], self.levels, hw, self.groups)

    def bands(self, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(lower [n, H, k], upper [n, H, k], radius [n, H, G])`` of one level (percent)."""
        if self.halfwidth is None or level not in self.levels:
            raise ConfigError(f"these forecasts have no {level:g} % intervals; ask for them with level=[{level:g}].")
        hw = self.halfwidth[:, self.levels.index(level)]
        k = self.values.shape[2]
        return self.values - hw[..., :k], self.values + hw[..., :k], hw[..., k:]

    def to_frame(self) -> pd.DataFrame:
        """Tidy forecasts: one row per (series, origin, horizon), one column per target."""
        return forecast_frame(self)


def forecast_frame(fc: Forecasts) -> pd.DataFrame:
    """Tidy frame of :class:`Forecasts`: ``series, origin_time, horizon, target_time`` and the targets."""
    X = fc.inputs
    n, H, k = len(X), len(X.horizons), len(X.target_names)
    values = np.asarray(fc.values, dtype=np.float64).reshape(n, H, k)
    frame = pd.DataFrame(
        {
            "series": np.repeat(X.ids, H),
            "origin_time": seconds_to_time(np.repeat(X.origin_time, H), X.time_kind),
            "horizon": np.tile(np.array([h.label for h in X.horizons], dtype=object), n),
            "target_time": seconds_to_time(fc.target_time().reshape(-1), X.time_kind),
        }
    )
    for j, name in enumerate(X.target_names):
        frame[name] = values[:, :, j].reshape(-1)
    for lv in fc.levels:
        lower, upper, radius = fc.bands(lv)
        names = band_columns(X.target_names, fc.groups, lv)
        cols = [a[:, :, j] for j in range(k) for a in (lower, upper)] + [radius[:, :, g] for g in range(len(fc.groups))]
        for name, col in zip(names, cols):
            frame[name] = col.reshape(-1)
    return frame


def as_series(data: Any, *, what: str = "data") -> IrregularSeries:
    """Accept an IrregularSeries, or a long DataFrame with ``time`` (+ optional ``series``) columns."""
    if isinstance(data, IrregularSeries):
        return data
    if isinstance(data, pd.DataFrame):
        if TIME not in data.columns:
            raise SchemaError(
                f"{what} frame needs a 'time' column (and optionally 'series'); it has "
                f"{list(map(str, data.columns))}. Or build an IrregularSeries with from_frame(..., time_col=...).",
                column=TIME,
            )
        return IrregularSeries.from_frame(data, time_col=TIME, id_col="series" if "series" in data.columns else None)
    raise ConfigError(
        f"{what} must be an IrregularSeries or a pandas DataFrame, got {type(data).__name__}. "
        "Use tsgate.IrregularSeries.read(path) for files."
    )


def resolve_origins(origins: Any, series: IrregularSeries) -> Any:
    """The origins a caller asked for, as ``make_windows`` takes them.

    ``"last"`` or ``"all"``; a sequence of times (every series' observations at those times);
    a mapping ``{series id: times}``; or a frame with a ``series`` column and a ``time`` (or
    ``origin_time``) column. Numbers are float seconds (since the epoch for datetime series, as
    ``IrregularSeries.time_seconds()``); datetimes and ISO strings are converted.
    """
    if isinstance(origins, str):
        if origins in ("last", "all"):
            return origins
        raise ConfigError(f"origins must be 'last', 'all' or a selection of times, got {origins!r}.")
    if isinstance(origins, pd.DataFrame):
        col = TIME if TIME in origins.columns else "origin_time"
        if "series" not in origins.columns or col not in origins.columns:
            raise SchemaError(
                f"an origins frame needs the columns 'series' and 'time' (or 'origin_time'); it has "
                f"{list(map(str, origins.columns))}."
            )
        secs = _as_seconds(origins[col], series)
        out: dict[Any, list[float]] = {}
        for sid, t in zip(origins["series"].tolist(), secs.tolist()):
            out.setdefault(sid, []).append(t)
        return {k: np.asarray(v) for k, v in out.items()}
    if isinstance(origins, dict):
        return {k: _as_seconds(v, series) for k, v in origins.items()}
    times = _as_seconds(origins, series)
    return {sid: times for sid in series.series_ids}


def _as_seconds(times: Any, series: IrregularSeries) -> np.ndarray:
    values = np.atleast_1d(np.asarray(times.to_numpy() if isinstance(times, pd.Series) else times))
    if values.dtype.kind in "fiu":
        return values.astype(np.float64)
    if series.time_kind == "seconds":
        raise ConfigError(f"origins {values[:3].tolist()} are not numbers; this data's times are seconds.")
    try:
        parsed = pd.to_datetime(pd.Series(values), utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"origins {values[:3].tolist()} are not times ({exc}); give datetimes or ISO 8601 strings.") from None
    return to_seconds(parsed, "datetime")
