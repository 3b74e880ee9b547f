"""Declarative parameter constraints, scikit-learn style, checked when ``fit`` runs.

A class lists, for each constructor parameter, the values it accepts::

    _parameter_constraints = {
        "window": [Interval(Integral, 1, None)],
        "alpha": [Interval(Real, 0, None)],
        "method": [Options("sog_cog", "two_points")],
        "max_gap": [Duration(), None],
    }

and ``fit`` (and ``update`` on an unfitted model) checks them, raising a
:class:`~tsgate.exceptions.ConfigError` like "The 'alpha' parameter of LinearARForecaster must
be a float in the range [0, inf). Got -1 instead." ``None`` in a list accepts ``None``.
:func:`check_value` applies the same constraints to one value (e.g. a module's argument).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np

from tsgate.exceptions import ConfigError

__all__ = [
    "Constraint",
    "Interval",
    "Options",
    "Keys",
    "Boolean",
    "Duration",
    "IntSequence",
    "Names",
    "ListOf",
    "Strategy",
    "StrDict",
    "Integral",
    "Real",
    "check_value",
    "check_values",
    "check_count",
]


class Constraint:
    """A set of accepted values: ``is_satisfied_by(value)`` and a description for messages."""

    def is_satisfied_by(self, value: Any) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def __str__(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError


def _is_int(value: Any) -> bool:
    return isinstance(value, (Integral, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value: Any) -> bool:
    return isinstance(value, (Real, np.floating, np.integer)) and not isinstance(value, (bool, np.bool_))


class Interval(Constraint):
    """Numbers of one kind (``Integral`` or ``Real``) between ``left`` and ``right`` (None: unbounded).

    ``closed`` is ``"both"``, ``"left"``, ``"right"`` or ``"neither"``; reals must be finite.
    """

    def __init__(self, kind: type, left: float | None, right: float | None, *, closed: str = "both") -> None:
        if kind not in (Integral, Real) or closed not in ("both", "left", "right", "neither"):
            raise ValueError(f"Interval({kind!r}, closed={closed!r}) is not a valid constraint.")
        self.kind, self.left, self.right, self.closed = kind, left, right, closed

    def is_satisfied_by(self, value: Any) -> bool:
        if not (_is_int(value) if self.kind is Integral else _is_real(value)):
            return False
        v = float(value)
        if not math.isfinite(v):
            return False
        lo_ok = self.left is None or (v >= self.left if self.closed in ("both", "left") else v > self.left)
        hi_ok = self.right is None or (v <= self.right if self.closed in ("both", "right") else v < self.right)
        return lo_ok and hi_ok

    def __str__(self) -> str:
        kind = "an int" if self.kind is Integral else "a float"
        lo = "-inf" if self.left is None else f"{self.left:g}"
        hi = "inf" if self.right is None else f"{self.right:g}"
        lb = "[" if self.closed in ("both", "left") and self.left is not None else "("
        rb = "]" if self.closed in ("both", "right") and self.right is not None else ")"
        return f"{kind} in the range {lb}{lo}, {hi}{rb}"


class Options(Constraint):
    """One of the given values."""

    def __init__(self, *values: Any) -> None:
        self.values = values

    def is_satisfied_by(self, value: Any) -> bool:
        return any(value == v and type(value) is type(v) for v in self.values)

    def __str__(self) -> str:
        return f"one of {list(self.values)}"


class Keys(Constraint):
    """One of the names of a registry, looked up when checked (so later registrations count)."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, str) and value in self.registry

    def __str__(self) -> str:
        return f"one of {list(self.registry)}"


class Boolean(Constraint):
    """``True`` or ``False``."""

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, (bool, np.bool_))

    def __str__(self) -> str:
        return "True or False"


class Duration(Constraint):
    """A positive duration: seconds, or a string such as ``"500ms"``, ``"2s"``, ``"10min"``."""

    def is_satisfied_by(self, value: Any) -> bool:
        from tsgate.data.times import (
            parse_duration,  # pandas: only when a duration is checked
        )

        try:
            parse_duration(value)
        except ConfigError:
            return False
        return True

    def __str__(self) -> str:
        return "a positive duration ('500ms', '2s', '10min' or seconds)"


class IntSequence(Constraint):
    """A list or tuple of ``length`` ints, each at least ``minimum``."""

    def __init__(self, length: int, minimum: int = 0) -> None:
        self.length, self.minimum = length, minimum

    def is_satisfied_by(self, value: Any) -> bool:
        if not isinstance(value, (list, tuple)) or len(value) != self.length:
            return False
        return all(_is_int(v) and v >= self.minimum for v in value)

    def __str__(self) -> str:
        return f"{self.length} integers ≥ {self.minimum}"


class Names(Constraint):
    """A list or tuple of ``length`` column names (strings)."""

    def __init__(self, length: int) -> None:
        self.length = length

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, (list, tuple)) and len(value) == self.length and all(isinstance(v, str) for v in value)

    def __str__(self) -> str:
        return f"{self.length} column names"


class ListOf(Constraint):
    """A non-empty list or tuple whose every entry satisfies ``inner``."""

    def __init__(self, inner: Constraint) -> None:
        self.inner = inner

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, (list, tuple)) and len(value) > 0 and all(self.inner.is_satisfied_by(v) for v in value)

    def __str__(self) -> str:
        return f"a non-empty list of ({self.inner})"


class Strategy(Constraint):
    """A Lightning strategy name (``"auto"``, ``"ddp"``, ``"ddp_spawn"``, ...): a non-empty string
    without spaces; Lightning itself refuses unknown names when the Trainer is built."""

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, str) and bool(value) and not any(c.isspace() for c in value)

    def __str__(self) -> str:
        return "a Lightning strategy name ('auto', 'ddp', ...)"
class StrDict(Constraint):
    """A dict whose keys are strings (keyword arguments passed on to a library)."""

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, dict) and all(isinstance(k, str) for k in value)

    def __str__(self) -> str:
        return "a dict with string keys"


def _accepts(constraints: Sequence[Any], value: Any) -> bool:
    return any(value is None if c is None else c.is_satisfied_by(value) for c in constraints)


def check_value(name: str, value: Any, constraints: Sequence[Any], owner: str) -> None:
    """Raise a ConfigError unless ``value`` satisfies one of ``constraints``."""
    if not _accepts(constraints, value):
        allowed = " or ".join("None" if c is None else str(c) for c in constraints)
        raise ConfigError(f"The {name!r} parameter of {owner} must be {allowed}. Got {value!r} instead.")


def check_values(owner: str, table: dict[str, Sequence[Any]], values: dict[str, Any]) -> None:
    """:func:`check_value` for every ``name: constraints`` of ``table`` (e.g. a constructor's ``locals()``)."""
    for name, constraints in table.items():
        check_value(name, values[name], constraints, owner)


def check_count(name: str, value: Any, minimum: int = 1, unit: str = "") -> int:
    """``value`` as an int when it is a whole number ≥ ``minimum`` (``unit``: what it counts, for
    the message), else a ConfigError naming ``name``."""
    if not _is_int(value) or value < minimum:
        raise ConfigError(f"{name} must be a whole number{' of ' + unit if unit else ''} ≥ {minimum}, got {value!r}.")
    return int(value)
