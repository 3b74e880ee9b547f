"""The public API: one explicit list, every name importable, and `import tsgate` stays light."""

from __future__ import annotations

import subprocess
import sys

import tsgate

EXPECTED = {
    "ARIMAForecaster", "BaseForecaster", "CTRVForecaster", "ConfigError", "DataError", "DeadReckoningForecaster",
    "DriftForecaster", "GatedLSTMForecaster", "Horizon", "IrregularSeries", "LinearARForecaster",
    "MissingValueError", "ModelFileError", "OnlineLinearForecaster", "OnlineRNNForecaster",
    "OnlineUpdateError", "OnlineUpdateWarning", "PersistenceForecaster", "RepairReport", "SchemaError",
    "SeasonalNaiveForecaster", "TimestampError", "TooShortError", "TsgateError", "WindowDataModule",
    "VesselLSTMForecaster", "Windows", "backtest", "list_datasets", "load", "load_ais", "load_dataset", "load_extmarker",
    "make_windows", "parse_horizons", "write_report", "__version__",
    "Inputs", "Targets", "Forecasts", "WindowForecaster", "StreamForecaster", "Tags",
    "PretrainedAnalogForecaster", "pretrain_network",
    "NumericRangeError", "LockBusyError", "model_lock",
    "SeriesChunks", "CsvChunks", "SeriesBlocks", "WindowStream", "stream_windows", "StreamSettings", "StreamWindowDataset",
    "StreamDataModule", "Survey", "survey", "cut_windows",
}


def test_all_is_the_documented_list():
    assert set(tsgate.__all__) == EXPECTED


def test_every_exported_name_resolves():
    for name in tsgate.__all__:
        assert getattr(tsgate, name) is not None, name


def test_import_does_not_load_torch_or_lightning():
    code = "import sys, tsgate; tsgate.IrregularSeries; print('torch' in sys.modules or 'lightning' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
