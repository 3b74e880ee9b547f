"""Optimizers on one flat parameter vector (numpy), with gradient-norm clipping.

The online learners keep all parameters in one contiguous vector, so an optimizer step is a
few ufuncs over it (no per-tensor Python loop). State is exposed as arrays for
``state_dict_arrays``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["SGD", "Adam", "make_optimizer", "clip_grad_norm", "OPTIMIZERS"]

OPTIMIZERS = ("sgd", "adam")


def clip_grad_norm(g: np.ndarray, clip: float | None, norm: float | None = None) -> float:
    """Scale ``g`` in place so that its Euclidean norm is at most ``clip``; return the norm
    before clipping (``clip`` None or <= 0: no clipping)."""
    if norm is None:
        norm = math.sqrt(float(np.dot(g, g)))
    if clip is not None and clip > 0 and norm > clip:
        g *= clip / norm
    return norm


class SGD:
    """Plain stochastic gradient descent ``theta -= lr * g``."""

    def __init__(self, size: int, dtype: np.dtype, lr: float) -> None:
        self.lr = float(lr)
        self._tmp = np.empty(size, dtype)

    def step(self, theta: np.ndarray, g: np.ndarray) -> None:
        np.multiply(g, self.lr, out=self._tmp)
        theta -= self._tmp

    def arrays(self) -> dict[str, np.ndarray]:
        return {}

    def load(self, arrays: dict[str, np.ndarray]) -> None:
        pass

    def reset(self) -> None:
        pass


class Adam:
    """Adam (Kingma & Ba) with bias correction, same defaults as torch.optim.Adam."""

    def __init__(self, size: int, dtype: np.dtype, lr: float,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        self.lr = float(lr)
        self.b1, self.b2 = float(betas[0]), float(betas[1])
        self.eps = float(eps)
        self.m = np.zeros(size, dtype)
        self.v = np.zeros(size, dtype)
        self.k = 0
        self._tmp = np.empty(size, dtype)
        self._tmp2 = np.empty(size, dtype)

    def step(self, theta: np.ndarray, g: np.ndarray) -> None:
        self.k += 1
        b1, b2 = self.b1, self.b2
        # m = b1*m + (1-b1)*g ; v = b2*v + (1-b2)*g^2
        self.m *= b1
        np.multiply(g, 1.0 - b1, out=self._tmp)
        self.m += self._tmp
        self.v *= b2
        np.multiply(g, g, out=self._tmp)
        self._tmp *= 1.0 - b2
        self.v += self._tmp
        bc1 = 1.0 - b1 ** self.k
        bc2 = 1.0 - b2 ** self.k
        # theta -= lr/bc1 * m / (sqrt(v/bc2) + eps)   (torch's formula)
        np.multiply(self.v, 1.0 / bc2, out=self._tmp)
        np.sqrt(self._tmp, out=self._tmp)
        self._tmp += self.eps
        np.divide(self.m, self._tmp, out=self._tmp2)
        self._tmp2 *= self.lr / bc1
        theta -= self._tmp2

    def arrays(self) -> dict[str, np.ndarray]:
        return {"m": self.m.copy(), "v": self.v.copy(), "k": np.array(self.k, np.int64)}

    def load(self, arrays: dict[str, np.ndarray]) -> None:
        self.m[:] = arrays["m"]
        self.v[:] = arrays["v"]
        self.k = int(arrays["k"])

    def reset(self) -> None:
        self.m[:] = 0
        self.v[:] = 0
        self.k = 0


def make_optimizer(name: str, size: int, dtype: np.dtype, lr: float,
                   betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> SGD | Adam:
    if name == "sgd":
        return SGD(size, dtype, lr)
    if name == "adam":
        return Adam(size, dtype, lr, betas, eps)
    from tsgate.exceptions import ConfigError

    raise ConfigError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}.")
