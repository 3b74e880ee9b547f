"""Reports: tables in three formats, real PNG plots, one self-contained HTML page."""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd
import pytest

from tsgate.baselines import DeadReckoningForecaster, LinearARForecaster, PersistenceForecaster
from tsgate.baselines.dead_reckoning import KNOT_M_S
from tsgate.evaluation import backtest, write_report
from tsgate.evaluation.report import markdown_table
from tsgate.exceptions import ConfigError
from tsgate.data.series import IrregularSeries

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def result():
    rng = np.random.default_rng(0)
    parts = []
    for s in range(2):
        t = np.cumsum(rng.uniform(30, 120, 60))
        hd = np.deg2rad(60 + 40 * np.sin(t / 1500))
        dt = np.r_[0, np.diff(t)]
        v = (5 + 3 * s) * KNOT_M_S
        parts.append(pd.DataFrame({"mmsi": 200 + s, "time": pd.to_datetime(1.6e9 + t, unit="s", utc=True),
                                   "east_m": np.cumsum(v * np.sin(hd) * dt), "north_m": np.cumsum(v * np.cos(hd) * dt)}))
    d = IrregularSeries.from_frame(pd.concat(parts, ignore_index=True), id_col="mmsi",
                                   target_cols=["east_m", "north_m"], units={"east_m": "m", "north_m": "m"})
    return backtest({"dead reckoning": DeadReckoningForecaster(method="two_points"), "persistence": PersistenceForecaster(),
                     "linear": LinearARForecaster(window=3)}, d, horizons=["1min", "5min", "15min"],
                    position_groups=[("east_m", "north_m")], progress=False)


def test_tables_plots_and_html(result, tmp_path):
    out = write_report(result, tmp_path / "rep")
    names = set(out)
    for base in ("summary", "comparison", "metrics", "failures"):
        assert {f"{base}.csv", f"{base}.parquet", f"{base}.md"} <= names
    assert {"forecasts.csv", "forecasts.parquet", "info.json", "report.html"} <= names
    # tables round-trip
    summ = pd.read_csv(out["summary.csv"])
    mae = summ[summ["metric"] == "mae"].set_index("model")
    np.testing.assert_allclose(mae.loc["persistence", ["1min", "5min", "15min"]].to_numpy(float),
                               result.summary().loc["persistence", ["1min", "5min", "15min"]].to_numpy(float))
    pq = pd.read_parquet(out["metrics.parquet"])
    assert len(pq) == len(result.metrics) and set(pq["metric"]) == set(result.metrics["metric"])
    fc = pd.read_parquet(out["forecasts.parquet"])
    assert len(fc) == len(result.forecasts)
    md = out["summary.md"].read_text()
    assert md.startswith("| metric | model | 1min | 5min | 15min | mean |\n|---|")
    # plots: real PNGs of non-trivial size
    import matplotlib.image as mpimg

    pngs = ["error_vs_horizon.png", "forecast_vs_truth.png", "track.png"]
    for p in pngs:
        data = out[p].read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 10_000, p
        img = mpimg.imread(out[p])
        assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 300
        assert img[..., :3].std() > 0.02  # something is drawn
    html = out["report.html"].read_text()
    assert html.count("data:image/png;base64,") == 3
    for p in pngs:
        assert base64.b64encode(out[p].read_bytes()).decode() in html
    assert "dead reckoning" in html and "<table" in html
    # atomic writes leave no temporary files
    assert not [p.name for p in (tmp_path / "rep").iterdir() if p.name.startswith(".")]


def test_options_and_rewrite(result, tmp_path):
    out = write_report(result, tmp_path, formats=("csv",), plots=False, html=False)
    assert all(not n.endswith((".png", ".html", ".md", ".parquet")) for n in out)
    first = out["summary.csv"].read_text()
    out2 = write_report(result, tmp_path, formats=("csv",), plots=False, html=False, metric="rmse")
    assert out2["summary.csv"].read_text() == first
    cmp = pd.read_csv(out2["comparison.csv"]).set_index(["model", "horizon"])
    assert cmp.loc[("linear", "5min"), "pooled"] == pytest.approx(result.summary("rmse").loc["linear", "5min"])
    with pytest.raises(ConfigError, match="unknown report format"):
        write_report(result, tmp_path, formats=("xlsx",))
    with pytest.raises(ConfigError, match="not in the backtest"):
        write_report(result, tmp_path, series=12345)


def test_markdown_table_formats_numbers():
    df = pd.DataFrame({"a": [1.234567, np.nan], "b": ["x|y", None]})
    assert markdown_table(df, index=False) == "| a | b |\n|---|---|\n| 1.235 | x\\|y |\n|  |  |\n"


def test_report_says_what_was_evaluated(result, tmp_path):
    import json

    from tsgate import __version__

    out = write_report(result, tmp_path / "rep", dataset="two test vessels", plots=False)
    about = json.loads(out["info.json"].read_text())["report"]
    assert about["dataset"] == "two test vessels" and about["tsgate_version"] == __version__
    assert about["written_at"].endswith("+00:00")
    page = out["report.html"].read_text()
    assert "two test vessels" in page and f"tsgate</b> {__version__}" in page and about["written_at"] in page
    assert "east_m, north_m: m" in page  # units
    assert "DeadReckoningForecaster(" in page and "method=&#x27;two_points&#x27;" in page  # model settings
    assert "&quot;refit&quot;: &quot;once&quot;" in page  # backtest settings


def test_forecast_plot_shows_every_target_on_the_truths_scale(result):
    from tsgate.evaluation.report import forecast_figure

    spiky = type(result)(**{**result.__dict__, "forecasts": result.forecasts.copy()})
    f = spiky.forecasts
    f.loc[(f["model"] == "linear") & (f.index % 7 == 0), "forecast"] = 1e7  # one model's spikes
    fig = forecast_figure(spiky)
    axes = fig.get_axes()
    assert len(axes) == 2 * 3  # every target x every horizon
    assert [a.get_ylabel() for a in axes[::3]] == ["east_m (m)", "north_m (m)"]
    sid = spiky.forecasts.loc[spiky.forecasts["scored"], "series"].value_counts().idxmax()
    for ax, (tgt, h) in zip(axes, [(t, h) for t in ("east_m", "north_m") for h in spiky.horizons]):
        truth = f[(f["series"] == sid) & (f["target"] == tgt) & (f["horizon"] == h) & (f["model"] == "linear")]["truth"]
        lo, hi = ax.get_ylim()
        span = truth.max() - truth.min()
        assert truth.min() - 0.2 * span <= lo <= truth.min() and truth.max() <= hi <= truth.max() + 0.2 * span
        assert any("off scale" in t.get_text() for t in ax.get_legend().get_texts())
    only = forecast_figure(result, targets=["north_m"])
    assert len(only.get_axes()) == 3
    with pytest.raises(ConfigError, match="lat"):
        forecast_figure(result, targets=["lat"])
