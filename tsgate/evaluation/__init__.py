"""Evaluation: per-horizon metrics, rolling-origin backtests and reports."""

from tsgate.evaluation.backtest import BacktestResult, backtest
from tsgate.evaluation.metrics import METRICS, mean_ci
from tsgate.evaluation.report import write_report

__all__ = ["backtest", "BacktestResult", "METRICS", "mean_ci", "write_report"]
