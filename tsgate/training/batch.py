"""Windows → tensors: the one conversion training (DataModule), forecasting and online updates use.

Kept apart from ``tsgate.training.datamodule`` so that ``predict`` and ``update`` do not import
Lightning. Values become float32 tensors, the mask a bool tensor; values beyond float32's reach
are refused before the cast.
"""

from __future__ import annotations

import numpy as np
import torch

from tsgate.data.windows import Inputs, Windows
from tsgate.training.numeric import check_range

__all__ = ["input_tensors", "windows_to_tensors", "INPUT_FIELDS", "FIELDS"]

INPUT_FIELDS = ("x", "dt", "t", "mask", "static")
FIELDS = (*INPUT_FIELDS, "y")


def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a if a.dtype == bool else a.astype(np.float32, copy=False)))


def input_tensors(inputs: Inputs) -> dict[str, torch.Tensor]:
    """The input arrays (``x``, ``dt``, ``t``, ``mask``, ``static``) as tensors.

    Values the float32 cast would turn infinite (or whose squares would be) are refused first,
    naming the column (:func:`tsgate.training.numeric.check_range`).
    """
    check_range(inputs.x, inputs.feature_names)
    check_range(inputs.dt[..., None], ["time (intervals between observations)"], what="times")
    check_range(inputs.t[..., None], ["time (relative to the origin)"], what="times")
    check_range(inputs.static, [f"static covariate {j}" for j in range(inputs.static.shape[-1])])
    return {name: _tensor(getattr(inputs, name)) for name in INPUT_FIELDS}


def windows_to_tensors(w: Windows) -> dict[str, torch.Tensor]:
    """Inputs and targets ``y`` of training windows as tensors (ranges checked, see :func:`input_tensors`)."""
    check_range(w.y, w.target_names, what="targets")
    return {**input_tensors(w.inputs), "y": _tensor(w.y)}
