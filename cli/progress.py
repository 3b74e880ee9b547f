"""The ``evaluate`` progress bar: one bar over the backtest's models that moves inside long fits.

The library reports progress as log records with a ``tsgate_progress`` attribute: the backtest
(``tsgate.evaluation.backtest``: how many tasks, which model started or finished) and the gated
model's training (``tsgate.training.progress``: epoch and batch). :class:`BacktestProgress`
listens to both and draws one rich bar on stderr: a task counts as done when it finishes, and as
the fraction of its epochs done while a gated model trains ("gated-wmc: fit, epoch 3/20").
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any

__all__ = ["BacktestProgress"]

_SOURCES = ("tsgate.evaluation.backtest", "tsgate.training.progress")


class BacktestProgress(logging.Handler):
    """Context manager: a transient progress bar on stderr fed by the library's progress records."""

    def __init__(self, enabled: bool = True) -> None:
        super().__init__(level=logging.INFO)
        self.enabled = enabled
        self.total = 1
        self.finished = 0
        self.current = ""
        self._bar: Any = None
        self._task: Any = None
        self._levels: list[tuple[logging.Logger, int, bool]] = []

    def __enter__(self) -> BacktestProgress:
        if not self.enabled:
            return self
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from tsgate.cli.render import console

        self._bar = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=console(stderr=True), transient=True,
        )
        self._bar.start()
        self._task = self._bar.add_task("backtest", total=self.total)
        for name in _SOURCES:
            lg = logging.getLogger(name)
            self._levels.append((lg, lg.level, lg.propagate))
            lg.setLevel(logging.INFO)
            lg.propagate = False  # progress records are for the bar only
            lg.addHandler(self)
        return self

    def emit(self, record: logging.LogRecord) -> None:
        info = getattr(record, "tsgate_progress", None)
        if not isinstance(info, dict) or self._bar is None:
            return
        if "total" in info:
            self.total = max(1, int(info["total"]))
        elif "start" in info:
            self.current = str(info["start"])
        elif "done" in info:
            self.finished += 1
            self.current = ""
        fraction = 0.0
        text = f"backtest: {self.current or 'scoring'}"
        if "epoch" in info and self.current:
            epochs, batches = max(1, info["max_epochs"]), max(1, info["batches"])
            fraction = min(1.0, (info["epoch"] - 1 + info["batch"] / batches) / epochs)
            text = f"backtest: {self.current}: fit, epoch {info['epoch']}/{info['max_epochs']}"
        self._bar.update(self._task, total=self.total, completed=min(self.total, self.finished + fraction), description=text)

    def done(self) -> None:
        """All tasks finished (scoring follows)."""
        if self._bar is not None:
            self._bar.update(self._task, completed=self.total, description="backtest: scoring")

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        for lg, level, propagate in self._levels:
            lg.removeHandler(self)
            lg.setLevel(level)
            lg.propagate = propagate
        if self._bar is not None:
            self._bar.stop()
