"""Forecast horizons: a number of observations ahead (steps) or a duration.

``3`` (or ``"3"``) is the third observation after the origin; ``"500ms"``, ``"2s"``,
``"15min"``, ``"1d"``, ``"1w"`` or a ``timedelta`` is a lead time (units: see
:func:`tsgate.data.times.parse_duration`). One forecaster uses horizons of one kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import numpy as np

from tsgate.data.times import parse_duration
from tsgate.exceptions import ConfigError

__all__ = ["Horizon", "parse_horizons"]


@dataclass(frozen=True)
class Horizon:
    """One forecast horizon: ``steps`` observations ahead, or a ``duration`` in seconds."""

    kind: Literal["steps", "duration"]
    value: float
    label: str

    @classmethod
    def parse(cls, spec: Any) -> Horizon:
        """``3`` or ``"3"`` → 3 steps; ``"500ms"``, ``"2s"``, timedelta → a duration."""
        if isinstance(spec, Horizon):
            return spec
        if isinstance(spec, (bool, np.bool_)):
            raise ConfigError(f"horizon {spec!r} is not valid; give steps (3) or a duration ('2s').")
        if isinstance(spec, (int, np.integer)) or (isinstance(spec, str) and spec.strip().isdigit()):
            n = int(spec)
            if n < 1:
                raise ConfigError(f"horizon {spec!r} must be at least 1 step.")
            return cls("steps", float(n), str(n))
        if isinstance(spec, str) and _is_number(spec):
            spec = float(spec)  # "1.5": neither whole steps nor a duration with a unit
        if isinstance(spec, (float, np.floating)):
            raise ConfigError(
                f"horizon {spec!r} is ambiguous: give whole steps (3) or a duration with a unit ('{spec}s')."
            )
        sec = parse_duration(spec, what="horizon")
        label = spec.strip() if isinstance(spec, str) else _label_seconds(sec)
        return cls("duration", sec, label)

    @property
    def seconds(self) -> float:
        if self.kind != "duration":
            raise ConfigError(f"horizon {self.label} is in steps, not a duration.")
        return self.value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _label_seconds(sec: float) -> str:
    if sec < 1:
        return f"{sec * 1000:g}ms"
    if sec < 120:
        return f"{sec:g}s"
    return f"{sec / 60:g}min"


def parse_horizons(specs: Any) -> tuple[Horizon, ...]:
    """Parse one or many horizons; all must be of one kind (steps or durations), sorted ascending."""
    if isinstance(specs, (str, int, float, timedelta, Horizon)) or np.isscalar(specs):
        specs = [specs]
    hs = tuple(Horizon.parse(s) for s in specs)
    if not hs:
        raise ConfigError("give at least one horizon, e.g. horizons=['500ms', '1s'] or [1, 5].")
    kinds = {h.kind for h in hs}
    if len(kinds) > 1:
        raise ConfigError("horizons mix steps and durations; give all in steps or all as durations.")
    if len({h.value for h in hs}) != len(hs):
        raise ConfigError(f"horizons repeat a value: {[h.label for h in hs]}.")
    return tuple(sorted(hs, key=lambda h: h.value))
