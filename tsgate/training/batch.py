"""Windows → tensors: the one conversion both training (DataModule) and online updates use.

Kept apart from ``tsgate.training.datamodule`` so that ``predict`` and ``update`` do not import Lightning.
"""

from __future__ import annotations

import numpy as np
import torch

from tsgate.data.windows import Windows

__all__ = ["windows_to_tensors", "FIELDS"]

FIELDS = ("x", "dt", "t", "mask", "y", "static")


def windows_to_tensors(w: Windows) -> dict[str, torch.Tensor]:
    """The arrays of ``w`` as tensors (float32; mask bool); no copy where numpy allows."""
    out = {}
    for name in FIELDS:
        a = getattr(w, name)
        out[name] = torch.from_numpy(np.ascontiguousarray(a if name == "mask" else a.astype(np.float32, copy=False)))
    return out
