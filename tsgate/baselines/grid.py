"""The equally spaced grid a series is put on for ARIMA: a fixed interval, or calendar months.

ARIMA needs one step between consecutive values. For most series the step is a fixed number of
seconds (the median interval, :func:`tsgate.baselines.features.typical_interval`). A regular
**calendar** series (monthly, quarterly, yearly: every observation ``k`` calendar months after the
previous one, on the same day and time of the month, or the same time before the month's end)
has no fixed interval in seconds (28-31 days): its grid steps are ``k`` calendar months, so its
observations are its grid points and nothing is resampled (absent months are interpolated). Weekly, daily and hourly series have a
fixed interval already (UTC has no daylight-saving shifts).

Times are float seconds since the Unix epoch (UTC); numpy's ``datetime64[M]`` does the month
arithmetic (no pandas).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Grid", "calendar_grid"]

_EXACT_S = 1e-3  # offsets within the month equal to this (float seconds since the epoch carry ~0.1 µs)


def _month_parts(time_s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(months since 1970-01, seconds since the month's start, seconds to the next month's start)."""
    whole = np.floor(time_s).astype(np.int64)
    month = whole.astype("datetime64[s]").astype("datetime64[M]")
    start = month.astype("datetime64[s]").astype(np.int64).astype(np.float64)
    nxt = (month + 1).astype("datetime64[s]").astype(np.int64).astype(np.float64)
    return month.astype(np.int64), time_s - start, nxt - time_s


def _month_start_s(month_index: np.ndarray) -> np.ndarray:
    return np.asarray(month_index, dtype=np.int64).astype("datetime64[M]").astype("datetime64[s]").astype(np.int64).astype(np.float64)


@dataclass(frozen=True)
class Grid:
    """Equally spaced times: every ``interval_s`` seconds, or every ``months`` calendar months.

    A calendar grid keeps each point at the same offset from its month's start
    (``anchor="start"``) or from the next month's start (``anchor="end"``: month-end series).
    """

    interval_s: float
    months: int = 0
    anchor: str = "start"

    @property
    def label(self) -> str:
        if self.months:
            return f"{self.months} calendar month{'s' if self.months > 1 else ''}" + (" (month ends)" if self.anchor == "end" else "")
        return f"{self.interval_s:.6g} s"

    def _at(self, end_s: float, j: np.ndarray) -> np.ndarray:
        """Grid times ``j`` steps after ``end_s`` (negative: before), ``end_s`` a grid point."""
        if not self.months:
            return end_s + self.interval_s * j.astype(np.float64)
        m, since, until = _month_parts(np.array([end_s]))
        idx = m[0] + self.months * j
        if self.anchor == "end":
            return _month_start_s(idx + 1) - until[0]
        return _month_start_s(idx) + since[0]

    def back(self, start_s: float, end_s: float, max_points: int) -> np.ndarray:
        """Grid times ending exactly at ``end_s``, none before ``start_s``, at most ``max_points``, ascending."""
        if self.months:
            span_months = int(_month_parts(np.array([end_s]))[0][0] - _month_parts(np.array([start_s]))[0][0])
            n = span_months // self.months + 1
        else:
            n = int(np.floor((end_s - start_s) / self.interval_s + 1e-9)) + 1
        n = min(n, int(max_points))
        grid = self._at(end_s, np.arange(-(n - 1), 1))
        grid = grid[grid >= start_s - _EXACT_S]
        grid[-1] = end_s
        return grid

    def ahead(self, origin_s: float, steps: int) -> np.ndarray:
        """The origin and the next ``steps`` grid times after it."""
        out = self._at(origin_s, np.arange(steps + 1))
        out[0] = origin_s
        return out

    def steps_for(self, lead_s: float) -> int:
        """Grid steps that reach ``lead_s`` seconds past an origin (at least 1)."""
        per = self.interval_s if not self.months else 28 * 86400.0 * self.months  # shortest step
        return max(1, int(np.ceil(lead_s / per - 1e-9)))


def calendar_grid(time_s: np.ndarray, interval_s: float) -> Grid:
    """The grid of one run of observations: calendar months if they are k months apart on one
    anchor (see the module docstring), else every ``interval_s`` seconds.

    Missing periods do not break a calendar series: a monthly series with some months absent
    (steps of 1, 2, 3 ... months, most of them 1) keeps its monthly grid, and the absent months
    are interpolated like any grid point between observations. A 31-day grid instead would
    drift against the calendar and turn a 12-month season into a period of 12 × 31 days."""
    if len(time_s) >= 3 and interval_s >= 27 * 86400:
        month, since, until = _month_parts(np.asarray(time_s, dtype=np.float64))
        d = np.diff(month)
        k = int(np.gcd.reduce(d)) if d.min() >= 1 else 0
        # the step is the common divisor of every step and also the most frequent step
        if k >= 1 and 2 * np.count_nonzero(d == k) >= len(d):
            if np.ptp(since) <= _EXACT_S:
                return Grid(interval_s, k, "start")
            if np.ptp(until) <= _EXACT_S:
                return Grid(interval_s, k, "end")
    return Grid(interval_s)
