"""Backtest reports: tidy tables (CSV / parquet / Markdown), plots (PNG) and one HTML page.

Every file is written atomically (a temporary file in the same folder, then ``os.replace``), so
a reader never sees half a file. Plots use matplotlib's Agg canvas directly (no pyplot, no
global backend change): error against horizon per model, forecasts against truth for one
series (with each model's bands when the backtest has interval levels), coverage against
horizon, and, when the targets include a 2-D position group (AIS east/north), the vessel's
track with the predicted positions. The HTML page embeds the PNGs as base64 and the tables,
so it is a single self-contained file.
"""

from __future__ import annotations

import base64
import html as _html
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tsgate.evaluation.result import BacktestResult
from tsgate.exceptions import ConfigError
from tsgate.fileio import atomic_write, write_bytes, write_text

__all__ = ["write_report", "markdown_table", "forecast_figure"]

_FORMATS = ("csv", "parquet", "md")


def _fmt(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        if not np.isfinite(v):
            return ""
        return f"{v:.4g}"
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    return str(v)


def markdown_table(df: pd.DataFrame, *, index: bool = True) -> str:
    """A GitHub-flavoured Markdown table (floats with 4 significant digits)."""
    d = df.reset_index() if index else df
    cols = [str(c) for c in d.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in d.itertuples(index=False):
        lines.append("| " + " | ".join(_fmt(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines) + "\n"


def _for_parquet(df: pd.DataFrame) -> pd.DataFrame:
    # object columns may mix ids of several types (and None for pooled rows): store them as text
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = out[c].map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
    return out


def _write_table(df: pd.DataFrame, base: Path, formats: Sequence[str], written: dict[str, Path], *, index: bool) -> None:
    for fmt in formats:
        path = base.with_suffix(f".{fmt}")
        if fmt == "csv":
            atomic_write(path, lambda tmp: df.to_csv(tmp, index=index))
        elif fmt == "parquet":
            atomic_write(path, lambda tmp: _for_parquet(df.reset_index() if index else df).to_parquet(tmp, index=False))
        elif fmt == "md":
            write_text(path, markdown_table(df, index=index))
        written[f"{base.name}.{fmt}"] = path


# ----------------------------------------------------------------------------- plots
def _png(fig: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def _figure(w: float, h: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h))


def plot_error_vs_horizon(result: BacktestResult, metric: str = "mae") -> bytes:
    """Line plot of one pooled metric against horizon, one line per model (PNG bytes)."""
    tab = result.summary(metric)
    fig = _figure(7, 4.2)
    ax = fig.add_subplot(111)
    x = np.arange(len(result.horizons))
    for name in tab.index:
        ax.plot(x, tab.loc[name, result.horizons].to_numpy(dtype=float), marker="o", label=name)
    ax.set_xticks(x, result.horizons)
    ax.set_xlabel("horizon")
    unit = _unit(result)
    ax.set_ylabel(f"{metric.upper()}{f' ({unit})' if unit and metric in ('mae', 'rmse', 'max_error', 'jitter') else ''}")
    ax.set_title(f"{metric.upper()} against horizon (pooled over series)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def plot_coverage_vs_horizon(result: BacktestResult) -> bytes | None:
    """Empirical coverage of every level's bands against horizon, per model, with the goal (PNG)."""
    if not result.levels:
        return None
    fig = _figure(7, 4.2)
    ax = fig.add_subplot(111)
    x = np.arange(len(result.horizons))
    for lv in result.levels:
        tab = result.coverage(lv)
        for name in tab.index:
            ax.plot(x, 100 * tab.loc[name, result.horizons].to_numpy(dtype=float), marker="o", label=f"{name} ({lv:g} %)")
        ax.axhline(lv, color="grey", lw=0.8, ls="--")
    ax.set_xticks(x, result.horizons)
    ax.set_xlabel("horizon")
    ax.set_ylabel("coverage of the bands (%)")
    ax.set_title("empirical coverage against horizon (dashed: the level asked for)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _png(fig)


def _unit(result: BacktestResult) -> str:
    units = result.info.get("units") or {}
    first = result.position_groups[0][0] if result.position_groups else result.targets[0]
    return str(units.get(first, ""))


def _pick_series(result: BacktestResult, series: Any) -> Any:
    f = result.forecasts
    if series is not None:
        if not (f["series"] == series).any():
            raise ConfigError(f"series {series!r} is not in the backtest; it has {list(pd.unique(f['series']))[:10]}.")
        return series
    counts = f[f["scored"]].groupby("series", sort=False).size()
    if len(counts) == 0:
        counts = f.groupby("series", sort=False).size()
    return counts.idxmax()


def plot_forecast_vs_truth(
    result: BacktestResult, series: Any = None, target: str | None = None, *, targets: Sequence[str] | None = None
) -> bytes:
    """:func:`forecast_figure` as PNG bytes."""
    return _png(forecast_figure(result, series, target, targets=targets))


def forecast_figure(
    result: BacktestResult, series: Any = None, target: str | None = None, *, targets: Sequence[str] | None = None
) -> Any:
    """Truth and each model's forecasts at their target times (a matplotlib Figure): one row of
    panels per target (every target by default, or ``targets``; ``target`` picks one), one column
    per horizon.

    Each panel's y-axis spans the truth's range (plus a margin), so one model's spikes cannot
    squash the others: forecasts outside it run off the panel, and the legend counts them.
    """
    sid = _pick_series(result, series)
    chosen = list(targets) if targets is not None else [target] if target is not None else list(result.targets)
    unknown = [t for t in chosen if t not in result.targets]
    if unknown:
        raise ConfigError(f"target(s) {unknown} are not in the backtest; its targets are {result.targets}.")
    units = result.info.get("units") or {}
    f = result.forecasts
    f = f[f["series"] == sid]
    H, K = len(result.horizons), len(chosen)
    height = 2.3 * K + 0.8
    fig = _figure(min(4.2 * H, 16), height)
    band = f"{result.levels[0]:g}" if result.levels else None
    for r, tgt in enumerate(chosen):
        ft = f[f["target"] == tgt]
        for c, h in enumerate(result.horizons):
            ax = fig.add_subplot(K, H, r * H + c + 1)
            fh = ft[ft["horizon"] == h]
            first = fh[fh["model"] == result.model_names[0]].sort_values("target_time")
            truth = first["truth"].to_numpy(dtype=float)
            ax.plot(first["target_time"], truth, color="black", lw=1.4, label="truth")
            lo, hi = (np.nanmin(truth), np.nanmax(truth)) if np.isfinite(truth).any() else (0.0, 1.0)
            pad = 0.15 * (hi - lo) if hi > lo else max(abs(hi), 1.0) * 0.05
            lo, hi = lo - pad, hi + pad
            for name in result.model_names:
                fm = fh[fh["model"] == name].sort_values("target_time")
                v = fm["forecast"].to_numpy(dtype=float)
                off = int(np.sum((v < lo) | (v > hi)))
                line = ax.plot(fm["target_time"], v, lw=0.9, alpha=0.8, label=f"{name}" + (f" ({off} off scale)" if off else ""))[0]
                if band is not None and f"lower_{band}" in fm:
                    blo, bhi = fm[f"lower_{band}"].to_numpy(float), fm[f"upper_{band}"].to_numpy(float)
                    ok = np.isfinite(blo) & np.isfinite(bhi)
                    ax.fill_between(fm["target_time"].to_numpy()[ok], blo[ok], bhi[ok], color=line.get_color(), alpha=0.15,
                                    lw=0, label=f"{name} {band} % band" if r == 0 and c == 0 else None)
            ax.set_ylim(lo, hi)
            ax.grid(alpha=0.3)
            ax.tick_params(labelsize=7)
            if c == 0:
                ax.set_ylabel(f"{tgt}" + (f" ({units[tgt]})" if units.get(tgt) else ""), fontsize=8)
            if r == 0:
                ax.set_title(f"h = {h}", fontsize=9)
            if r == K - 1:
                ax.set_xlabel("target time", fontsize=8)
            ax.legend(fontsize=6, loc="upper left")
    fig.suptitle(f"series {sid}: forecasts against truth (y-axis: the truth's range)", fontsize=10)
    fig.autofmt_xdate()
    fig.subplots_adjust(top=1 - 0.55 / height, hspace=0.45)
    return fig


def plot_track(result: BacktestResult, series: Any = None, horizon: str | None = None) -> bytes | None:
    """A 2-D track (first 2-column position group) with each model's predicted positions (PNG bytes)."""
    groups = [g for g in result.position_groups if len(g) == 2]
    if not groups:
        return None
    ex, ny = groups[0]
    sid = _pick_series(result, series)
    horizon = horizon or result.horizons[-1]
    f = result.forecasts
    f = f[(f["series"] == sid) & (f["horizon"] == horizon) & f["target"].isin([ex, ny])]
    wide = f.pivot_table(index=["model", "origin_time"], columns="target", values=["forecast", "truth"], aggfunc="first")
    fig = _figure(6.5, 6.5)
    ax = fig.add_subplot(111)
    first = wide.loc[result.model_names[0]]
    ax.plot(first[("truth", ex)], first[("truth", ny)], color="black", lw=1.5, label="true track")
    for name in result.model_names:
        if name not in wide.index.get_level_values(0):
            continue
        m = wide.loc[name]
        ax.scatter(m[("forecast", ex)], m[("forecast", ny)], s=6, alpha=0.6, label=f"{name} (+{horizon})")
    ax.set_xlabel(f"{ex}")
    ax.set_ylabel(f"{ny}")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(f"series {sid}: track and positions predicted {horizon} ahead")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _png(fig)


# ----------------------------------------------------------------------------- report
def _about(result: BacktestResult, dataset: str | None) -> dict[str, Any]:
    from datetime import datetime, timezone

    from tsgate import __version__

    return {
        "dataset": dataset or result.info.get("dataset") or result.info.get("source"),
        "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "tsgate_version": __version__,
    }


def _header_html(result: BacktestResult, about: dict[str, Any]) -> str:
    esc = _html.escape
    units = result.info.get("units") or {}
    by_unit: dict[str, list[str]] = {}
    for t in result.targets:
        by_unit.setdefault(units.get(t) or "no unit given", []).append(t)
    unit_text = "; ".join(f"{', '.join(ts)}: {u}" for u, ts in by_unit.items())
    models = "".join(f"<li><b>{esc(n)}</b>: <code>{esc(str(r))}</code></li>" for n, r in (result.info.get("models") or {}).items())
    return (
        f"<p><b>Data set:</b> {esc(str(about['dataset']))} &middot; <b>written:</b> {esc(about['written_at'])} "
        f"&middot; <b>tsgate</b> {esc(about['tsgate_version'])}</p>"
        f"<p>{result.info.get('n_origins')} origins in {result.info.get('n_series')} series; <b>units:</b> "
        f"{esc(unit_text)} (errors are in the targets' units)</p>"
        f"<p><b>Backtest settings:</b> {esc(json.dumps(result.info.get('settings', {}), default=str))}</p>"
        f"<p><b>Models:</b></p><ul>{models}</ul>"
    )


def write_report(
    result: BacktestResult,
    out_dir: str | Path,
    *,
    formats: Sequence[str] = ("csv", "parquet", "md"),
    plots: bool = True,
    html: bool = True,
    metric: str = "mae",
    series: Any = None,
    title: str = "tsgate backtest report",
    dataset: str | None = None,
    targets: Sequence[str] | None = None,
) -> dict[str, Path]:
    """Write tables, plots and an HTML page for a backtest; returns ``{name: path}``.

    Parameters
    ----------
    result
        What :func:`~tsgate.evaluation.backtest.backtest` returned.
    out_dir
        Folder (created if needed); existing files of the same names are replaced atomically.
    formats
        Table formats among ``csv``, ``parquet``, ``md``.
    plots
        Write PNG plots (error against horizon; forecast against truth for ``series``, by default
        the one with most scored origins; the track with predicted positions for 2-D positions).
    html
        Write ``report.html`` with the plots embedded (base64 PNG) and the tables.
    metric
        The metric of the comparison table and the error plot.
    dataset
        The data set's name in the header (default: the backtest's data source).
    targets
        The targets the forecast plot shows (default: every target).

    The page and ``info.json`` say what was evaluated: data set, date (UTC), tsgate version,
    each model's settings, the backtest settings and the units.
    """
    bad = [f for f in formats if f not in _FORMATS]
    if bad:
        raise ConfigError(f"unknown report format(s) {bad}; choose from {list(_FORMATS)}.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}

    comparison = result.compare(metric)
    summaries = {m: result.summary(m) for m in pd.unique(result.metrics["metric"])}
    summary_long = pd.concat([t.assign(metric=m).reset_index() for m, t in summaries.items()], ignore_index=True)
    summary_long = summary_long[["metric", "model", *result.horizons, "mean"]]
    _write_table(summary_long, out / "summary", formats, written, index=False)
    _write_table(comparison, out / "comparison", formats, written, index=False)
    _write_table(result.metrics, out / "metrics", formats, written, index=False)
    table_formats = [f for f in formats if f != "md"]
    _write_table(result.forecasts, out / "forecasts", table_formats, written, index=False)
    _write_table(result.failures, out / "failures", formats, written, index=False)
    if result.levels:
        _write_table(result.intervals, out / "intervals", formats, written, index=False)
    about = _about(result, dataset)
    write_text(out / "info.json", json.dumps({**result.info, "report": about}, indent=2, default=str))
    written["info.json"] = out / "info.json"

    images: dict[str, bytes] = {}
    if plots:
        images["error_vs_horizon.png"] = plot_error_vs_horizon(result, metric)
        images["forecast_vs_truth.png"] = plot_forecast_vs_truth(result, series, targets=targets)
        coverage = plot_coverage_vs_horizon(result)
        if coverage is not None:
            images["coverage_vs_horizon.png"] = coverage
        track = plot_track(result, series)
        if track is not None:
            images["track.png"] = track
        for name, data in images.items():
            write_bytes(out / name, data)
            written[name] = out / name

    if html:
        parts = [
            "<!DOCTYPE html><html><head><meta charset='utf-8'>",
            f"<title>{_html.escape(title)}</title>",
            "<style>body{font-family:sans-serif;margin:2em;max-width:1100px}"
            "table{border-collapse:collapse;font-size:13px;margin:1em 0}"
            "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}"
            "th{background:#eee}img{max-width:100%}</style></head><body>",
            f"<h1>{_html.escape(title)}</h1>",
            _header_html(result, about),
            f"<h2>{metric.upper()} per horizon (pooled)</h2>",
            summaries.get(metric, result.summary(metric)).to_html(float_format=lambda v: f"{v:.4g}", na_rep=""),
            f"<h2>Comparison ({metric.upper()}): mean across series with 95% interval, rank, improvement over the best baseline</h2>",
            comparison.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep=""),
        ]
        for name, data in images.items():
            b64 = base64.b64encode(data).decode("ascii")
            parts.append(f"<h2>{_html.escape(name[:-4].replace('_', ' '))}</h2><img alt='{name}' src='data:image/png;base64,{b64}'>")
        for lv in result.levels:
            cov = result.coverage(lv)
            wink = result.interval_summary("winkler", level=lv)
            parts.append(f"<h2>{lv:g} % bands: coverage (all targets) and Winkler score per horizon</h2>")
            parts.append(cov.to_html(float_format=lambda v: f"{v:.3f}", na_rep=""))
            parts.append(wink.to_html(float_format=lambda v: f"{v:.4g}", na_rep=""))
        parts.append("<h2>All metrics (pooled)</h2>")
        parts.append(summary_long.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep=""))
        parts.append("<h2>Failures and warnings</h2>")
        parts.append(result.failures.to_html(index=False) if len(result.failures) else "<p>none</p>")
        parts.append("</body></html>")
        write_text(out / "report.html", "\n".join(parts))
        written["report.html"] = out / "report.html"
    return written
