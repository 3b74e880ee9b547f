"""``tsgate models``, and how commands build forecasters from a name, flags, ``--param`` and [model].

Names are those of :mod:`tsgate.estimators.catalog` (``tsgate models`` lists them). A model's
parameters come, in increasing priority, from its name (a preset such as ``gated-lstm``), the
``[model]`` table of ``--config``, the command's own flags (``--cell``, ``--window``, ...) and
``--param KEY=VALUE``. A flag or key the model does not have is refused, never ignored.
"""

from __future__ import annotations

import tomllib
from typing import Annotated, Any, Optional

import typer

from tsgate.cli import render
from tsgate.cli.errors import Flags
from tsgate.cli.options import command

__all__ = ["models", "ParamOpt", "ModelTypeOpt", "parse_params", "settings_for", "spec_for"]

ParamOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--param", "-p", metavar="[MODEL:]KEY=VALUE",
        help="Any parameter of the model (`tsgate models NAME` lists them with their defaults), e.g. "
        "order=[2,1,2], method=two_points, alpha=0.5. VALUE is read as TOML (numbers, true/false, [lists], "
        "\"strings\"; a bare word is a string). evaluate: MODEL: limits it to one model "
        "(dead-reckoning:method=two_points). Repeat for several. [default: none]",
    ),
]
ModelTypeOpt = Annotated[
    Optional[str],
    typer.Option("--model-type", metavar="NAME", help="The forecaster to fit, by name: gated, gated-lstm, vessel, arima, linear, dead-reckoning, ctrv, online-uoro, analog, ... (`tsgate models` lists them all). [default: gated (WMC-LSTM); AIS tracks: vessel]"),
]


@command()
def models(
    name: Annotated[Optional[str], typer.Argument(metavar="[NAME]", help="Show this model's parameters and their defaults.")] = None,
    *,
    flags: Flags,
) -> None:
    """List the forecasters fit, evaluate and config files accept by name, one line each.

    Columns: name, estimator with the parameters the name sets, what it is (window or stream
    model, baseline, learns online, per series), description. With NAME: every parameter and
    its default.

    Example: tsgate models; tsgate models arima
    """
    from tsgate.estimators.catalog import model_spec, model_specs

    if name is not None:
        spec = model_spec(name)
        print(f"{spec.name}: {spec.cls.__name__} — {spec.summary} ({spec.kind})")
        for key, value in spec.defaults().items():
            print(f"  {key} = {value!r}")
        return
    specs = model_specs()
    rows = [(s.name, f"{s.cls.__name__}({', '.join(f'{k}={v!r}' for k, v in s.params.items())})", s.kind, s.summary)
            for s in specs]
    render.print_lines(rows)


def _toml_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare word: method=two_points


def parse_params(items: list[str] | None) -> list[tuple[str | None, str, Any]]:
    """``--param [MODEL:]KEY=VALUE`` items as (model or None, key, value)."""
    from tsgate import ConfigError

    out = []
    for item in items or []:
        head, eq, text = item.partition("=")
        model, colon, key = head.rpartition(":")
        key = key.strip()
        if not eq or not key.isidentifier():
            raise ConfigError(f"--param {item!r}: write KEY=VALUE (e.g. --param order=[2,1,2] or --param method=two_points).")
        out.append((model.strip() if colon else None, key, _toml_value(text.strip())))
    return out


def spec_for(name: str) -> Any:
    """The catalog entry of a name (a ConfigError lists the known names)."""
    from tsgate.estimators.catalog import model_spec

    return model_spec(name)


def settings_for(
    spec: Any, cfg_model: dict[str, Any], where: str, flags: dict[str, Any], params: list[tuple[str | None, str, Any]],
    *, shared: bool = False,
) -> dict[str, Any]:
    """The parameters of one model: [model], then flags (``{"--flag": (param, value)}``), then --param.

    ``shared`` (evaluate, several models): [model] keys, flags and unprefixed --param apply to
    the models that have the parameter; otherwise each must be a parameter of this model.
    """
    from tsgate import ConfigError

    from tsgate.cli.config import check_keys

    out: dict[str, Any] = {}
    if not shared:
        check_keys(cfg_model, sorted(spec.defaults()), f"{where}: [model]", f" (parameters of {spec.name})")
    out.update({k: v for k, v in cfg_model.items() if spec.accepts(k)})
    for flag, (param, value) in flags.items():
        if value is None:
            continue
        if spec.accepts(param):
            out[param] = value
        elif not shared:
            raise ConfigError(
                f"{flag} does not apply to model {spec.name!r} ({spec.cls.__name__} has no parameter {param!r}); "
                f"`tsgate models {spec.name}` lists its parameters."
            )
    for model, key, value in params:
        if model is not None and model != spec.name:
            continue
        if spec.accepts(key):
            out[key] = value
        elif not shared or model is not None:
            raise ConfigError(
                f"--param {key}: model {spec.name!r} ({spec.cls.__name__}) has no parameter {key!r}; its "
                f"parameters: {', '.join(sorted(spec.defaults()))}."
            )
    for key in spec.fixed:
        fixed = spec.params[key]
        if key in out and out[key] != fixed:
            raise ConfigError(
                f"model {spec.name!r} means {key}={fixed!r}; {key}={out[key]!r} contradicts it. Use another "
                f"name (`tsgate models` lists them) or the plain {spec.cls.__name__} name with {key}."
            )
    return out
