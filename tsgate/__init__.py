"""tsgate: forecast irregularly sampled time series with gated LSTMs that keep learning online.

Data flow: raw file → adapter (``tsgate.adapters``) → :class:`IrregularSeries`
(``tsgate.data``) → :class:`Windows` = :class:`Inputs` + :class:`Targets` → ``WindowDataModule``
→ model (``GatedLSTMForecaster``, ``OnlineRNNForecaster``, baselines; all a
:class:`WindowForecaster` or a :class:`StreamForecaster`) → :class:`Forecasts` and tidy frames
→ ``tsgate.evaluation``. ``docs/architecture.md`` names the module of each step.

Everything is imported lazily so that ``import tsgate`` stays fast and does not import torch
or Lightning until a model is used.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name → module that defines it
_EXPORTS: dict[str, str] = {
    # errors
    "TsgateError": "tsgate.exceptions",
    "DataError": "tsgate.exceptions",
    "SchemaError": "tsgate.exceptions",
    "TimestampError": "tsgate.exceptions",
    "MissingValueError": "tsgate.exceptions",
    "TooShortError": "tsgate.exceptions",
    "ConfigError": "tsgate.exceptions",
    "ModelFileError": "tsgate.exceptions",
    "OnlineUpdateError": "tsgate.exceptions",
    "OnlineUpdateWarning": "tsgate.exceptions",
    "NumericRangeError": "tsgate.exceptions",
    "LockBusyError": "tsgate.exceptions",
    # data layer
    "IrregularSeries": "tsgate.data.series",
    "RepairReport": "tsgate.data.repairs",
    "Horizon": "tsgate.data.horizons",
    "Windows": "tsgate.data.windows",
    "Inputs": "tsgate.data.windows",
    "Targets": "tsgate.data.windows",
    "make_windows": "tsgate.data.windows",
    "parse_horizons": "tsgate.data.horizons",
    "WindowDataModule": "tsgate.training.datamodule",
    "SeriesChunks": "tsgate.data.window_stream",
    "CsvChunks": "tsgate.data.window_stream",
    "SeriesBlocks": "tsgate.data.window_stream",
    "WindowStream": "tsgate.data.window_stream",
    "stream_windows": "tsgate.data.window_stream",
    "StreamSettings": "tsgate.training.stream_data",
    "StreamWindowDataset": "tsgate.training.stream_data",
    "StreamDataModule": "tsgate.training.stream_data",
    "Survey": "tsgate.training.stream_data",
    "survey": "tsgate.training.stream_data",
    "cut_windows": "tsgate.training.stream_data",
    "load_extmarker": "tsgate.adapters.extmarker",
    "load_ais": "tsgate.adapters.ais",
    "list_datasets": "tsgate.datasets",
    "load_dataset": "tsgate.datasets",
    # models
    "BaseForecaster": "tsgate.estimators.base",
    "WindowForecaster": "tsgate.estimators.window",
    "StreamForecaster": "tsgate.estimators.stream",
    "Tags": "tsgate.estimators.tags",
    "Forecasts": "tsgate.estimators.forecasts",
    "load": "tsgate.estimators.base",
    "model_lock": "tsgate.estimators.persistence",
    "GatedLSTMForecaster": "tsgate.training.gated",
    "OnlineRNNForecaster": "tsgate.online.estimators",
    "OnlineLinearForecaster": "tsgate.online.estimators",
    "PretrainedAnalogForecaster": "tsgate.online.analog",
    "pretrain_network": "tsgate.training.pretrain",
    "PersistenceForecaster": "tsgate.baselines",
    "SeasonalNaiveForecaster": "tsgate.baselines",
    "DriftForecaster": "tsgate.baselines",
    "LinearARForecaster": "tsgate.baselines",
    "ARIMAForecaster": "tsgate.baselines",
    "DeadReckoningForecaster": "tsgate.baselines",
    "CTRVForecaster": "tsgate.baselines",
    "VesselLSTMForecaster": "tsgate.vessel",
    # evaluation
    "backtest": "tsgate.evaluation",
    "write_report": "tsgate.evaluation",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'tsgate' has no attribute {name!r}")
    value = getattr(importlib.import_module(mod), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
