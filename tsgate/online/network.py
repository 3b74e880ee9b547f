"""A pre-trained global network for breathing-like signals, run in numpy at inference.

The network is **channel-independent** and **global**: one small MLP, trained once on many
recordings (other patients), forecasts any single coordinate from its own recent history on a
fixed time grid, plus the same window of the recording's *lead* coordinate (the one with the
largest motion) as context. It therefore works for any number of coordinates, any sampling
rate and irregular clocks.

Input of coordinate c at origin t (:mod:`tsgate.online.timegrid`): ``(x_c(t - j·spacing) -
x_c(t)) / a_c(t)`` for j = 1..n_lags, then the lead coordinate's window normalised by its own
amplitude, clipped to ``±input_clip``; ``a_c(t)`` is the coordinate's standard deviation over
the last ``amplitude_window`` seconds (floored at ``amplitude_floor`` times the recording's
largest coordinate standard deviation). Output: ``(y_c(t + h) - x_c(t)) / a_c(t)`` for each
horizon ``h`` of its grid (seconds). Forecasts at other horizons are interpolated on that grid
(0 at h = 0).

Files: a network directory is a tsgate model directory (``model.json`` + safetensors, see
:mod:`tsgate.estimators.persistence`); loading runs no code. ``trained_on`` lists what it saw,
with content fingerprints (:mod:`tsgate.online.fingerprint`) so that a recording it was
trained on can be recognised and refused.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tsgate.exceptions import ConfigError, ModelFileError
from tsgate.online import fingerprint as fp
from tsgate.online.timegrid import lag_offsets

__all__ = ["NetworkConfig", "GlobalNetwork", "gelu", "lead_coordinates", "network_inputs", "inputs_from_lags"]

NETWORK_KIND = "tsgate-global-network"


_erf = None


def _erf_ufunc() -> Any:
    global _erf
    if _erf is None:  # scipy.special loads on first use, once
        from scipy.special import erf

        _erf = erf
    return _erf


def gelu(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The exact GELU of torch.nn.GELU: ``0.5 x (1 + erf(x / sqrt 2))``; ``out=x`` works in place."""
    erf = _erf_ufunc()
    e = erf(x * 0.7071067811865476)
    e += 1.0
    h = np.multiply(x, 0.5, out=out)
    h *= e
    return h


@dataclass(frozen=True)
class NetworkConfig:
    """What a network reads and forecasts (times in seconds)."""

    lag_spacing: float = 0.1
    n_lags: int = 60
    horizons: tuple[float, ...] = tuple(round(0.1 * (i + 1), 10) for i in range(21))
    amplitude_window: float = 20.0
    amplitude_floor: float = 0.01
    lead_after: float = 30.0
    input_clip: float = 10.0
    hidden: tuple[int, ...] = (128, 128, 64)

    @property
    def history(self) -> float:
        """Seconds of history an input spans."""
        return self.lag_spacing * self.n_lags

    @property
    def offsets(self) -> np.ndarray:
        return lag_offsets(self.n_lags, self.lag_spacing)

    @property
    def input_size(self) -> int:
        return 2 * self.n_lags

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["horizons"] = list(self.horizons)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> NetworkConfig:
        try:
            return cls(**{**d, "horizons": tuple(float(h) for h in d["horizons"]), "hidden": tuple(int(h) for h in d["hidden"])})
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"network configuration is incomplete or invalid ({exc!r}).") from None


@dataclass
class GlobalNetwork:
    """The MLP's weights (numpy), its configuration and what it was trained on.

    ``layers``: ``[(W [in, out], b [out]), ...]``, GELU after every layer but the last.
    ``trained_on``: names of the training recordings; ``fingerprints``: name → sorted hashes.
    """

    config: NetworkConfig
    layers: list[tuple[np.ndarray, np.ndarray]]
    trained_on: list[str] = field(default_factory=list)
    fingerprints: dict[str, np.ndarray] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        sizes = [self.config.input_size] + [int(b.shape[0]) for _, b in self.layers]
        for (W, b), a, o in zip(self.layers, sizes[:-1], sizes[1:]):
            if W.shape != (a, o) or b.shape != (o,):
                raise ModelFileError(f"network layer shapes {W.shape}/{b.shape} do not chain (expected ({a}, {o})).")
        if sizes[-1] != len(self.config.horizons):
            raise ModelFileError(
                f"network has {sizes[-1]} outputs for {len(self.config.horizons)} horizons; the file is inconsistent."
            )

    # ---------------------------------------------------------------- inference
    def forward(self, u: np.ndarray) -> np.ndarray:
        """[m, n_horizons] normalised forecasts for inputs ``u`` [m, 2 n_lags] (already clipped)."""
        h = np.asarray(u, dtype=np.float64)
        last = len(self.layers) - 1
        for i, (W, b) in enumerate(self.layers):
            h = h @ W
            h += b
            if i < last:
                gelu(h, out=h)
        return h

    def horizon_matrix(self, horizons_s: np.ndarray) -> np.ndarray:
        """[H, n_grid] linear interpolation from the network's horizon grid to ``horizons_s``.

        Raises ConfigError for a horizon beyond the grid (the network never learned it).
        """
        grid = np.r_[0.0, np.asarray(self.config.horizons, dtype=np.float64)]
        hs = np.asarray(horizons_s, dtype=np.float64)
        if (hs > grid[-1] + 1e-9).any() or (hs <= 0).any():
            raise ConfigError(
                f"horizons {hs.tolist()} s: the pre-trained network forecasts (0, {grid[-1]:g}] s. Use shorter "
                "horizons, pretrain a network for yours (tsgate.pretrain_network(..., horizons=...)) or network=None."
            )
        M = np.zeros((len(hs), len(grid)))
        for r, h in enumerate(hs):
            j = int(np.clip(np.searchsorted(grid, h), 1, len(grid) - 1))
            w = (h - grid[j - 1]) / (grid[j] - grid[j - 1])
            M[r, j - 1], M[r, j] = 1.0 - w, w
        return M[:, 1:]  # the h = 0 column is zero

    def saw(self, values: np.ndarray) -> list[str]:
        """Names of the training recordings that ``values`` [n, k] overlaps (content match)."""
        out = []
        for name, ref in self.fingerprints.items():
            matched, sampled = fp.overlap(values, ref)
            if matched and matched >= 0.5 * sampled:
                out.append(name)
        return out

    @property
    def n_parameters(self) -> int:
        return int(sum(W.size + b.size for W, b in self.layers))

    # ---------------------------------------------------------------- files
    def to_arrays(self, prefix: str = "") -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(JSON description, arrays) of the network; float32 weights, uint64 fingerprints."""
        arrays: dict[str, np.ndarray] = {}
        for i, (W, b) in enumerate(self.layers):
            arrays[f"{prefix}layer{i}.W"] = np.asarray(W, dtype=np.float32)
            arrays[f"{prefix}layer{i}.b"] = np.asarray(b, dtype=np.float32)
        names = list(self.fingerprints)
        for j, name in enumerate(names):
            arrays[f"{prefix}fingerprint{j}"] = np.asarray(self.fingerprints[name], dtype=np.uint64)
        desc = {
            "kind": NETWORK_KIND,
            "config": self.config.to_json(),
            "n_layers": len(self.layers),
            "trained_on": list(self.trained_on),
            "fingerprinted": names,
            "training": dict(self.training),
        }
        return desc, arrays

    @classmethod
    def from_arrays(cls, desc: dict[str, Any], arrays: dict[str, np.ndarray], prefix: str = "") -> GlobalNetwork:
        if desc.get("kind") != NETWORK_KIND:
            raise ModelFileError(f"not a tsgate global network (kind {desc.get('kind')!r}).")
        try:
            layers = [
                (np.asarray(arrays[f"{prefix}layer{i}.W"], dtype=np.float64), np.asarray(arrays[f"{prefix}layer{i}.b"], dtype=np.float64))
                for i in range(int(desc["n_layers"]))
            ]
            fps = {name: np.asarray(arrays[f"{prefix}fingerprint{j}"], dtype=np.uint64) for j, name in enumerate(desc["fingerprinted"])}
            return cls(NetworkConfig.from_json(desc["config"]), layers, list(desc["trained_on"]), fps, dict(desc.get("training", {})))
        except KeyError as exc:
            raise ModelFileError(f"network file is missing {exc.args[0]!r}; it is incomplete.") from None

    def save(self, path: str | Path) -> Path:
        """Write the network directory atomically (JSON + safetensors)."""
        from tsgate import __version__
        from tsgate.estimators.persistence import write_model_dir

        desc, arrays = self.to_arrays()
        return write_model_dir(path, {"tsgate_version": __version__, **desc}, arrays)

    @classmethod
    def load(cls, path: str | Path) -> GlobalNetwork:
        """Read a network directory written by :meth:`save` (checksummed; no code runs)."""
        from tsgate.estimators.persistence import read_model_dir

        desc, arrays = read_model_dir(path)
        return cls.from_arrays(desc, arrays)


def lead_coordinates(t: np.ndarray, x: np.ndarray, lead_after: float) -> np.ndarray:
    """[n] the lead coordinate at each observation: the largest standard deviation over the
    observations so far, frozen once ``lead_after`` seconds of the recording have been seen."""
    t = np.asarray(t, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64) - np.asarray(x, dtype=np.float64)[:1]
    n = np.arange(1, len(t) + 1, dtype=np.float64)[:, None]
    m1 = np.cumsum(x, axis=0) / n
    var = np.cumsum(x * x, axis=0) / n - m1 * m1
    lead = np.argmax(var, axis=1)
    frozen = np.flatnonzero(t - t[0] >= lead_after)
    if len(frozen):
        lead[frozen[0]:] = lead[frozen[0]]
    return lead


def network_inputs(config: NetworkConfig, t: np.ndarray, x: np.ndarray, origins: np.ndarray,
                   amplitude: np.ndarray, lead: np.ndarray) -> np.ndarray:
    """[n_o, k, 2 n_lags] inputs of every coordinate at the observation indices ``origins``.

    ``amplitude`` [n_o, k] and ``lead`` [n_o] are the values at those origins (see module docstring).
    """
    from tsgate.online.timegrid import lagged

    x = np.asarray(x, dtype=np.float64)
    return inputs_from_lags(config, lagged(t, x, origins, config.offsets), x[origins], amplitude, lead)


def inputs_from_lags(config: NetworkConfig, lag: np.ndarray, current: np.ndarray, amplitude: np.ndarray,
                     lead: np.ndarray) -> np.ndarray:
    """:func:`network_inputs` from the lagged values ``lag`` [n_o, n_lags, k] and the origins' values [n_o, k]."""
    rel = np.transpose((lag - current[:, None, :]) / amplitude[:, None, :], (0, 2, 1))  # [n_o, k, L]
    ctx = rel[np.arange(len(rel)), lead][:, None, :]
    u = np.concatenate([rel, np.broadcast_to(ctx, rel.shape)], axis=2)
    return np.clip(u, -config.input_clip, config.input_clip)
