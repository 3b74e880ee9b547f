"""Windows → tensors: the one conversion training (DataModule), forecasting and online updates use.

Kept apart from ``tsgate.training.datamodule`` so that ``predict`` and ``update`` do not import
Lightning. Values become float32 tensors, the mask a bool tensor.
"""

from __future__ import annotations

import numpy as np
import torch

from tsgate.data.windows import Inputs, Windows

__all__ = ["input_tensors", "windows_to_tensors", "INPUT_FIELDS", "FIELDS"]

INPUT_FIELDS = ("x", "dt", "t", "mask", "static")
FIELDS = (*INPUT_FIELDS, "y")


def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a if a.dtype == bool else a.astype(np.float32, copy=False)))


def input_tensors(inputs: Inputs) -> dict[str, torch.Tensor]:
    """The input arrays (``x``, ``dt``, ``t``, ``mask``, ``static``) as tensors."""
    return {name: _tensor(getattr(inputs, name)) for name in INPUT_FIELDS}


def windows_to_tensors(w: Windows) -> dict[str, torch.Tensor]:
    """Inputs and targets ``y`` of training windows as tensors."""
    return {**input_tensors(w.inputs), "y": _tensor(w.y)}
