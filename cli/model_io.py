"""A saved model and the data to use it on, in the order that answers bad input fast.

``forecast``, ``update`` and ``check --model`` read the model directory's description first
(JSON and safetensors: no torch), read DATA with the model's data schema as defaults, check the
data's columns and kind of time against the model, and only then build the estimator (which
imports torch for a gated model). A wrong file is refused in well under a second.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tsgate.cli.config import check_keys, load_config
from tsgate.cli.data_io import check_out, read_data, read_model_description
from tsgate.cli.options import DataOptions

__all__ = ["model_schema", "read_for_model", "model_and_data"]


def model_schema(desc: dict[str, Any]) -> dict[str, Any]:
    """The data schema a model description records; for older files, what ``fitted`` says."""
    fitted = desc.get("fitted", {})
    schema = dict(desc.get("data") or {})
    for key in ("targets", "covariates", "static", "time_kind", "units"):
        schema.setdefault(key, fitted.get(key))
    return schema


def read_for_model(model: Path, data: str, data_opts: DataOptions) -> tuple[dict[str, Any], dict[str, Any], Any]:
    """(description, arrays, DATA read with the model's schema and checked against it)."""
    from tsgate.data.schema import check_matches

    cfg = load_config(data_opts.config)
    # [model] is for fit and evaluate; its keys are still checked: first against every model's
    # parameters (a typo is named even when MODEL is wrong too), then against this model's
    if cfg.model:
        from tsgate.estimators.catalog import model_specs

        every = sorted({k for s in model_specs() for k in s.defaults()})
        check_keys(cfg.model, every, f"{cfg.source}: [model]", " (parameters of the tsgate models)")
    desc, arrays = read_model_description(model)  # a damaged model file is refused here
    check_keys(cfg.model, sorted(desc.get("params", {})), f"{cfg.source}: [model]", f" (parameters of {desc.get('estimator')})")
    schema = model_schema(desc)
    series = read_data(data, data_opts, cfg, schema=schema)
    check_matches(series, schema)
    return desc, arrays, series


def model_and_data(model: Path, data: str, out: str | None, data_opts: DataOptions, summary: Any = None) -> tuple[Any, Any]:
    """Check --out, read model and DATA (see the module docstring), then build the estimator.

    ``summary(series)`` is called once the data is read and checked, before torch is imported.
    """
    from tsgate.estimators.base import from_description

    check_out(out)
    desc, arrays, series = read_for_model(model, data, data_opts)
    if summary is not None:
        summary(series)
    return from_description(desc, arrays, model), series
