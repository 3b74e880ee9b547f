"""What a backtest returns: forecasts, metrics and failures, with the comparison tables.

:class:`BacktestResult` holds tidy frames (one row per model, series, origin, horizon and
target in ``forecasts``; one row per model, horizon, level, series and metric in ``metrics``)
and builds the model × horizon tables a report shows: :meth:`BacktestResult.summary` and
:meth:`BacktestResult.compare` (pooled value, mean across series with a t interval, rank, and
the improvement over the best baseline).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tsgate.data.series import IrregularSeries
from tsgate.data.times import seconds_to_time
from tsgate.evaluation.intervals import INTERVAL_COLUMNS, INTERVAL_METRICS
from tsgate.evaluation.metrics import METRICS, mean_ci
from tsgate.exceptions import ConfigError

__all__ = ["BacktestResult", "forecast_table"]


@dataclass
class BacktestResult:
    """What a backtest produced.

    Attributes
    ----------
    forecasts
        Tidy frame: one row per model, series, origin, horizon and target, with ``forecast``,
        ``truth`` and ``scored`` (whether the pair entered the metrics).
    metrics
        Tidy frame: ``model, horizon, level ("series" | "pooled"), series, metric, value, n``.
    failures
        ``model, series, stage, kind ("error" | "warning"), error, message``; never fatal.
    info
        Settings, origin counts, per-model timings (seconds) and fit reports (e.g. ARIMA
        resampling sizes).
    intervals
        With ``level=``: ``model, horizon, level, unit, metric, value, n`` — coverage, width and
        Winkler score per target column, ``all`` targets and position group
        (:mod:`tsgate.evaluation.intervals`); the forecasts then have ``lower_<ℓ>``,
        ``upper_<ℓ>`` and, for targets in a position group, ``radius_<ℓ>`` columns.
    """

    forecasts: pd.DataFrame
    metrics: pd.DataFrame
    failures: pd.DataFrame
    info: dict[str, Any]
    model_names: list[str]
    baselines: list[str]
    horizons: list[str]
    targets: list[str]
    position_groups: list[tuple[str, ...]]
    arrays: dict[str, Any] = field(repr=False, default_factory=dict)
    intervals: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=INTERVAL_COLUMNS))
    levels: list[float] = field(default_factory=list)

    def interval_summary(self, metric: str = "coverage", *, level: float | None = None, unit: str = "all") -> pd.DataFrame:
        """Model × horizon table of an interval metric (``coverage``, ``width``, ``winkler``) at
        one level (default: the first) for one unit (``all`` targets, a target column, or a
        position group such as ``east_m+north_m``), plus ``mean`` over horizons."""
        if not self.levels:
            raise ConfigError("this backtest has no intervals; run it with level=[90] (or --level 90).")
        if metric not in INTERVAL_METRICS:
            raise ConfigError(f"unknown interval metric {metric!r}; choose from {list(INTERVAL_METRICS)}.")
        lv = self.levels[0] if level is None else float(level)
        m = self.intervals[(self.intervals["metric"] == metric) & (self.intervals["level"] == lv) & (self.intervals["unit"] == unit)]
        if not len(m):
            units = sorted(pd.unique(self.intervals["unit"]).tolist())
            raise ConfigError(f"no {metric} for level {lv:g} and unit {unit!r}; levels {self.levels}, units {units}.")
        tab = m.pivot_table(index="model", columns="horizon", values="value", aggfunc="first", dropna=False)
        tab = tab.reindex(index=self.model_names, columns=self.horizons)
        tab["mean"] = tab[self.horizons].mean(axis=1)
        tab.columns.name = None
        return tab

    def coverage(self, level: float | None = None, *, unit: str = "all") -> pd.DataFrame:
        """Empirical coverage (a fraction) of the bands at ``level``, model × horizon."""
        return self.interval_summary("coverage", level=level, unit=unit)

    def summary(self, metric: str = "mae", *, level: str = "pooled") -> pd.DataFrame:
        """Model × horizon table of one metric, plus ``mean`` over horizons.

        ``level="pooled"``: all series' origins together; ``"series_mean"``: the mean of the
        per-series values.
        """
        if metric not in METRICS:
            raise ConfigError(f"unknown metric {metric!r}; choose from {list(METRICS)}.")
        if level not in ("pooled", "series_mean"):
            raise ConfigError(f"level must be 'pooled' or 'series_mean', got {level!r}.")
        m = self.metrics[self.metrics["metric"] == metric]
        if level == "pooled":
            m = m[m["level"] == "pooled"]
            tab = m.pivot_table(index="model", columns="horizon", values="value", aggfunc="first", dropna=False)
        else:
            m = m[m["level"] == "series"]
            tab = m.pivot_table(index="model", columns="horizon", values="value", aggfunc="mean", dropna=False)
        tab = tab.reindex(index=self.model_names, columns=self.horizons)
        tab["mean"] = tab[self.horizons].mean(axis=1)
        tab.columns.name = None
        tab.index.name = "model"
        return tab

    def compare(self, metric: str = "mae", *, level: float = 0.95) -> pd.DataFrame:
        """Per model and horizon (and ``mean`` over horizons): pooled value, mean across series
        with a t-based ``level`` interval, rank (1 = lowest pooled error) and the relative
        improvement over the best baseline, ``(best_baseline - value) / best_baseline``
        (positive = better than every baseline)."""
        pooled = self.summary(metric)
        per = self.metrics[(self.metrics["metric"] == metric) & (self.metrics["level"] == "series")]
        wide = per.pivot_table(index=["model", "series"], columns="horizon", values="value", aggfunc="first")
        wide = wide.reindex(columns=self.horizons)
        wide["mean"] = wide.mean(axis=1)
        rows = []
        for h in [*self.horizons, "mean"]:
            col = pooled[h]
            base = col[[b for b in self.baselines if b in col.index]].dropna()
            best_name = base.idxmin() if len(base) else None
            ranks = col.rank(method="min")
            for name in self.model_names:
                vals = wide.loc[name, h].to_numpy() if name in wide.index.get_level_values(0) else np.array([])
                mean, lo, hi, n = mean_ci(vals, level)
                v = col.get(name, np.nan)
                best = base.get(best_name, np.nan) if best_name is not None else np.nan
                rows.append(
                    {
                        "model": name,
                        "horizon": h,
                        "pooled": v,
                        "series_mean": mean,
                        "ci_low": lo,
                        "ci_high": hi,
                        "n_series": n,
                        "rank": ranks.get(name, np.nan),
                        "best_baseline": best_name,
                        "rel_improvement": (best - v) / best if best_name is not None and best else np.nan,
                    }
                )
        return pd.DataFrame(rows)




def forecast_table(org: dict[str, np.ndarray], preds: dict[str, np.ndarray], scored: np.ndarray, series: IrregularSeries,
                   labels: list[str], bands: dict[str, Any] | None = None, levels: Any = ()) -> pd.DataFrame:
    """The tidy forecast frame of a backtest: one row per model, origin, horizon and target
    (with ``lower_<ℓ>``/``upper_<ℓ>``/``radius_<ℓ>`` when the backtest has interval levels)."""
    n, H = org["y"].shape[:2]
    targets = list(series.targets)
    k = len(targets)
    base = {
        "series": np.repeat(org["series"], H * k),
        "origin_time": seconds_to_time(np.repeat(org["origin_s"], H * k), series.time_kind),
        "horizon": np.tile(np.repeat(np.array(labels, dtype=object), k), n),
        "target_time": seconds_to_time(np.repeat(org["target_s"].reshape(-1), k), series.time_kind),
        "target": np.tile(np.array(targets, dtype=object), n * H),
        "truth": org["y"].reshape(-1),
        "scored": np.repeat(scored.reshape(-1), k),
    }
    parts = []
    for name, pr in preds.items():
        f = pd.DataFrame(base)
        f.insert(0, "model", name)
        f.insert(6, "forecast", pr.reshape(-1))
        if levels:
            _add_bands(f, pr, (bands or {}).get(name), levels, targets)
        parts.append(f)
    return pd.concat(parts, ignore_index=True)


def _add_bands(f: pd.DataFrame, pr: np.ndarray, band: Any, levels: Any, targets: list[str]) -> None:
    """Band columns of one model's rows (NaN where the model gave none)."""
    n, H, k = pr.shape
    for li, lv in enumerate(levels):
        lab = f"{lv:g}"
        if band is None:
            for c in ("lower", "upper", "radius"):
                f[f"{c}_{lab}"] = np.nan
            continue
        hw, groups = band
        w = hw[:, li]  # [n, H, U]
        f[f"lower_{lab}"] = (pr - w[..., :k]).reshape(-1)
        f[f"upper_{lab}"] = (pr + w[..., :k]).reshape(-1)
        radius = np.full((n, H, k), np.nan)
        for g, names in enumerate(groups):
            for c in names:
                radius[:, :, targets.index(c)] = w[:, :, k + g]
        f[f"radius_{lab}"] = radius.reshape(-1)
