"""Forecasters by name: what ``tsgate models`` lists and ``--model-type``/``--models`` accept.

The names come from the registry (:mod:`tsgate.estimators.registry`), so a new registered model
is listed without a change here. A class's name is its class name without ``Forecaster`` in
kebab case (``SeasonalNaiveForecaster`` → ``seasonal-naive``) unless :data:`SHORT_NAMES` gives
a shorter one. A class whose :data:`VARIANTS` parameter picks a variant also gets one preset per
accepted value: ``gated-wmc``, ``gated-glstm``, ... (``cell``), ``online-uoro``, ``online-rtrl``,
... (the online RNN's gradient algorithm), ``online-nlms``, ``online-rls`` (the online linear
model's method). A preset is the class with that parameter set; any other parameter can still be
given (flags, ``--param``, the ``[model]`` table).
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import Any

from tsgate.estimators import registry
from tsgate.exceptions import ConfigError

__all__ = ["ModelSpec", "SHORT_NAMES", "VARIANTS", "ALIASES", "model_specs", "model_spec", "preset_name"]

#: names shorter than the kebab-case class name
SHORT_NAMES = {
    "GatedLSTMForecaster": "gated",
    "LinearARForecaster": "linear",
    "OnlineRNNForecaster": "online-rnn",
    "OnlineLinearForecaster": "online-linear",
    "PretrainedAnalogForecaster": "analog",
    "VesselLSTMForecaster": "vessel",
    "CTRVForecaster": "ctrv",
}
#: class → (parameter whose accepted values are presets, prefix of the preset names)
VARIANTS = {
    "GatedLSTMForecaster": ("cell", "gated"),
    "OnlineRNNForecaster": ("online", "online"),
    "OnlineLinearForecaster": ("method", "online"),
}
#: parameters a name sets beyond the class defaults
PRESET_PARAMS: dict[str, dict[str, Any]] = {}
#: older names kept working
ALIASES = {"online": "online-uoro"}
#: what each preset is, in a few words
VARIANT_NOTES = {
    ("cell", "wmc"): "LSTM with working-memory connections (WMC-LSTM)",
    ("cell", "glstm"): "Gaussian time-gated LSTM (g-LSTM)",
    ("cell", "lstm"): "fused torch LSTM",
    ("cell", "gru"): "torch GRU",
    ("cell", "rnn"): "torch tanh RNN",
    ("cell", "convrnn"): "causal 1-D convolution + an inner cell",
    ("online", "uoro"): "tanh RNN, unbiased online recurrent optimisation (UORO)",
    ("online", "rtrl"): "tanh RNN, exact real-time recurrent learning (small networks)",
    ("online", "snap1"): "tanh RNN, sparse n-step approximation (SnAp-1)",
    ("online", "tbptt"): "tanh RNN, streaming truncated backpropagation through time",
    ("method", "nlms"): "normalised least mean squares",
    ("method", "rls"): "recursive least squares (online linear regression)",
}


@dataclass(frozen=True)
class ModelSpec:
    """One name: a forecaster class and the parameters the name sets."""

    name: str
    cls: type
    params: dict[str, Any] = field(default_factory=dict)
    #: the parameters that make this name (a preset's variant); the others are only defaults
    fixed: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        """What the model is, in one line (a preset's own note, else the class docstring's first line)."""
        for key, value in self.params.items():
            note = VARIANT_NOTES.get((key, value))
            if note:
                return note
        doc = (inspect.getdoc(self.cls) or "").strip()
        return doc.splitlines()[0].rstrip(".").replace("``", "") if doc else ""

    @property
    def kind(self) -> str:
        """What the class is, from its tags (``window, baseline, per-series``)."""
        t = self.cls.tags
        words = [t.style or "?"]
        words += [w for w, on in (("baseline", t.baseline), ("learns online", t.learns_online),
                                  ("per series", t.per_series)) if on]
        return ", ".join(words)

    def defaults(self) -> dict[str, Any]:
        """Every constructor parameter with its value under this name."""
        sig = inspect.signature(self.cls.__init__)
        out = {k: p.default for k, p in sig.parameters.items() if k != "self"}
        out.update(self.params)
        return out

    def accepts(self, param: str) -> bool:
        return param in self.defaults()

    def build(self, **params: Any) -> Any:
        """An unfitted estimator with this name's parameters, then ``params``."""
        unknown = sorted(k for k in params if not self.accepts(k))
        if unknown:
            raise ConfigError(
                f"model {self.name!r} ({self.cls.__name__}) has no parameter(s) {unknown}; its parameters: "
                f"{', '.join(sorted(self.defaults()))}."
            )
        return self.cls(**{**self.params, **params})


def preset_name(spec: ModelSpec, params: dict[str, Any]) -> str:
    """The name of the preset ``spec`` with ``params`` amounts to (``gated`` with cell='lstm' → ``gated-lstm``)."""
    variant = VARIANTS.get(spec.cls.__name__)
    if variant is None or spec.fixed:
        return spec.name
    param, prefix = variant
    value = params.get(param, spec.defaults().get(param))
    return f"{prefix}-{value}" if value in _variant_values(spec.cls, param) else spec.name


def _kebab(class_name: str) -> str:
    base = class_name.removesuffix("Forecaster") or class_name
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", base).lower()


def _variant_values(cls: type, param: str) -> list[Any]:
    values: list[Any] = []
    for c in cls.parameter_constraints().get(param, []):
        values += list(getattr(c, "values", None) or list(getattr(c, "registry", None) or []))
    return values


def model_specs() -> list[ModelSpec]:
    """Every name, in the order ``tsgate models`` lists them (class names, then their presets)."""
    out = []
    for cls in registry.all_estimators():
        name = SHORT_NAMES.get(cls.__name__, _kebab(cls.__name__))
        out.append(ModelSpec(name, cls, dict(PRESET_PARAMS.get(name, {}))))
        if cls.__name__ in VARIANTS:
            param, prefix = VARIANTS[cls.__name__]
            for v in _variant_values(cls, param):
                out.append(ModelSpec(f"{prefix}-{v}", cls, {param: v}, fixed=(param,)))
    order = {"gated": 0, "online-rnn": 1, "online-linear": 2}
    return sorted(out, key=lambda s: (order.get(SHORT_NAMES.get(s.cls.__name__, ""), 3), s.cls.__name__))


def model_spec(name: str) -> ModelSpec:
    """The model of that name (or alias); a ConfigError lists the known names."""
    specs = {s.name: s for s in model_specs()}
    spec = specs.get(ALIASES.get(name, name))
    if spec is None:
        import difflib

        close = difflib.get_close_matches(name, list(specs), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(f"unknown model {name!r}.{hint} Known: {', '.join(specs)} (`tsgate models` describes them).")
    return spec
