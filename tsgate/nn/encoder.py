"""The encoder interface every recurrent cell implements, and the checks of its inputs.

Every encoder maps a window to one summary vector::

    h = enc(x, t, mask)      # x [B, T, F], t [B, T] seconds (t[:, -1] == 0), mask [B, T] bool
                             # -> h [B, enc.output_size], the state after the last step

Masked steps (``mask == False``, left padding) leave the state of every cell unchanged. A new
cell is a subclass of :class:`Encoder` in its own module, added to the factory in
:mod:`tsgate.nn.cells`.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from tsgate.exceptions import ConfigError

__all__ = ["Encoder", "check_inputs", "time_major_mask", "without_caches"]

class Encoder(nn.Module):
    """Base of every encoder: ``forward(x, t, mask) -> h`` and ``budget_term()``.

    Attributes
    ----------
    output_size : int
        Width of the returned summary ``h``.
    """

    output_size: int

    def __getstate__(self) -> dict:
        # drop per-forward caches (they may hold autograd graphs, which cannot be copied)
        return without_caches(self.__dict__)

    def budget_term(self) -> Tensor:
        """Scalar regulariser of the last forward; 0 except for ``glstm``."""
        p = next(self.parameters(), None)
        return torch.zeros((), device=None if p is None else p.device)


_CACHE_KEYS = ("_last", "_um_cache")


def without_caches(state: dict) -> dict:
    state = dict(state)
    for k in _CACHE_KEYS:
        if k in state:
            state[k] = None
    return state


def check_inputs(
    x: Tensor, t: Optional[Tensor], mask: Optional[Tensor], input_size: int, need_t: bool = False
) -> None:
    """Raise ``ConfigError`` naming the argument when shapes do not fit (cheap: no sync)."""
    if x.dim() != 3:
        raise ConfigError(
            f"x must be a float tensor [batch, steps, features], got shape {tuple(x.shape)}"
        )
    if x.shape[2] != input_size:
        raise ConfigError(
            f"x has {x.shape[2]} features but the encoder was built with "
            f"input_size={input_size}; rebuild it or fix the feature columns"
        )
    if x.shape[1] == 0:
        raise ConfigError("x has 0 time steps; a window needs at least one observation")
    if t is None:
        if need_t:
            raise ConfigError(
                "t (sample times in seconds relative to the last sample, [batch, steps]) is "
                "required by the glstm cell; pass it as the second argument"
            )
    elif tuple(t.shape) != tuple(x.shape[:2]):
        raise ConfigError(
            f"t must have shape [batch, steps] = {tuple(x.shape[:2])}, got {tuple(t.shape)}"
        )
    if mask is not None:
        if tuple(mask.shape) != tuple(x.shape[:2]):
            raise ConfigError(
                f"mask must have shape [batch, steps] = {tuple(x.shape[:2])}, "
                f"got {tuple(mask.shape)}"
            )
        if mask.dtype != torch.bool:
            raise ConfigError(f"mask must be a bool tensor (True = observed), got {mask.dtype}")


def time_major_mask(mask: Optional[Tensor], dtype: torch.dtype) -> Optional[Tensor]:
    """``mask [B, T]`` -> float ``[T, B, 1]``, or ``None`` when absent or all observed."""
    if mask is None or bool(mask.all()):
        return None
    return mask.t().unsqueeze(-1).to(dtype)
