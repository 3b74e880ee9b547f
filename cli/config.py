"""``--config FILE.toml``: the [data], [model] and [evaluate] tables, and the keys each accepts.

Every key is checked: an unknown key is refused with a message that names it and the keys
that table accepts (for [data], those of the adapter in use). Flags override the file.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Config", "load_config", "DATA_KEYS", "EVALUATE_KEYS", "check_keys", "model_params"]

# [data] keys per way of reading DATA ("bundled": a dataset name; its adapter is fixed)
DATA_KEYS: dict[str, tuple[str, ...]] = {
    "table": (
        "adapter", "targets", "time_col", "id_col", "covariate_cols", "static_cols", "segment_col",
        "on_duplicate", "on_nan", "on_unsorted",
    ),
    "ais": (
        "adapter", "targets", "fmt", "max_speed_kn", "max_gap", "min_voyage_rows", "on_conflict",
        "covariates", "derive_motion", "origin", "mobile_types",
    ),
    "bundled": ("targets",),
}
EVALUATE_KEYS = ("horizons", "models", "train", "val", "refit", "stride", "max_gap")
_TABLES = ("data", "model", "evaluate")


@dataclass(frozen=True)
class Config:
    """The tables of a config file (empty without ``--config``)."""

    source: str = "--config"
    data: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    evaluate: dict[str, Any] = field(default_factory=dict)


def load_config(path: Path | None) -> Config:
    """Read and check the structure of a TOML config file (no file: an empty Config)."""
    if path is None:
        return Config()
    from tsgate import ConfigError

    try:
        cfg = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}).") from None
    unknown = sorted(set(cfg) - set(_TABLES))
    if unknown:
        raise ConfigError(f"{path}: unknown table(s) {unknown}; use [data], [model] and [evaluate].")
    for name in _TABLES:
        if name in cfg and not isinstance(cfg[name], dict):
            raise ConfigError(f"{path}: {name} must be a table ([{name}]).")
    conf = Config(str(path), dict(cfg.get("data", {})), dict(cfg.get("model", {})), dict(cfg.get("evaluate", {})))
    check_keys(conf.evaluate, EVALUATE_KEYS, f"{conf.source}: [evaluate]")
    return conf


def check_keys(table: dict[str, Any], known: tuple[str, ...] | list[str], where: str, why: str = "") -> None:
    """Refuse keys of ``table`` that are not in ``known``, naming them and the known ones."""
    unknown = sorted(set(table) - set(known))
    if unknown:
        from tsgate import ConfigError

        raise ConfigError(
            f"{where}: unknown option(s) {unknown}{why}; known: {', '.join(sorted(known))}."
        )


def model_params(cfg: Config, **flags: Any) -> dict[str, Any]:
    """The [model] table checked against ``GatedLSTMForecaster``'s parameters, then the flags given."""
    from tsgate import GatedLSTMForecaster

    known = sorted(GatedLSTMForecaster().get_params())
    check_keys(cfg.model, known, f"{cfg.source}: [model]", " (parameters of GatedLSTMForecaster)")
    params = dict(cfg.model)
    for k, v in flags.items():
        if v is not None and v != []:
            params[k] = v
    return params
