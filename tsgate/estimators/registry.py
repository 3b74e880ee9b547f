"""The estimator registry: the classes a model file may name, filled as classes are defined.

Every concrete forecaster class registers itself when it is defined (``__init_subclass__`` of
:class:`~tsgate.estimators.base.BaseForecaster`); :func:`~tsgate.estimators.base.load` looks the
name a model file gives up here and never imports anything by a name read from a file. The
modules that define tsgate's own models are listed in :data:`MODEL_MODULES`: a new model goes
in one of them (or in a new module added to that list).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["MODEL_MODULES", "register", "lookup", "known_names", "all_estimators", "import_models"]

#: modules defining tsgate's forecasters (imported lazily: some pull in torch)
MODEL_MODULES = (
    "tsgate.baselines", "tsgate.training.gated", "tsgate.online.estimators", "tsgate.online.analog", "tsgate.vessel",
)

_CLASSES: dict[str, type] = {}


def register(cls: type) -> None:
    """Make ``cls`` loadable by its class name; a tsgate class is never replaced by another package's."""
    old = _CLASSES.get(cls.__name__)
    if old is not None and old is not cls and old.__module__.startswith("tsgate.") and not cls.__module__.startswith("tsgate."):
        return
    _CLASSES[cls.__name__] = cls


def import_models() -> None:
    """Import the modules of :data:`MODEL_MODULES` (they register their classes)."""
    for mod in MODEL_MODULES:
        importlib.import_module(mod)


def lookup(name: Any) -> type | None:
    """The registered class of that name, or None.

    tsgate's model modules are imported one at a time, in order, until one has defined the
    class: loading a gated model imports neither the online learners nor statsmodels.
    """
    if not isinstance(name, str):
        return None
    for mod in MODEL_MODULES:
        cls = _CLASSES.get(name)
        if cls is not None and cls.__module__.startswith("tsgate."):
            return cls
        importlib.import_module(mod)
    return _CLASSES.get(name)


def known_names() -> list[str]:
    return sorted(_CLASSES)


def all_estimators(**tags: Any) -> list[type]:
    """tsgate's registered forecaster classes whose tags match, e.g. ``all_estimators(baseline=True)``."""
    import_models()
    out = []
    for name in sorted(_CLASSES):
        cls = _CLASSES[name]
        if cls.__module__.startswith("tsgate.") and all(getattr(cls.tags, k) == v for k, v in tags.items()):
            out.append(cls)
    return out
