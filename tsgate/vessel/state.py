"""The vessel model's file state: JSON metadata and safetensors arrays, checked on load.

The metadata holds the columns, the area grid, the per-horizon choice, base, α and scale, the
combination weights (:mod:`tsgate.vessel.combination`; files written before it load without),
the linear base's coefficients, the analog library and the networks' weights as arrays. Loading
checks that every named base and member is known to this version and that its arrays are there.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tsgate.data.columns import plain
from tsgate.exceptions import ModelFileError
from tsgate.vessel.analogs import ANALOGS, AnalogLibrary
from tsgate.vessel.bases import BASES, CORRECTED, LinearBase, ORDER
from tsgate.vessel.combination import PERSISTENCE, Combination
from tsgate.vessel.features import Area, Columns

__all__ = ["VesselModelFile"]


class VesselModelFile:
    """The model-file hooks of :class:`~tsgate.vessel.model.VesselLSTMForecaster`."""

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        c = self.columns_
        meta = {
            "columns": [c.east, c.north, c.sog, c.cog, c.heading],
            "area": self.area_.to_meta(),
            "scale": self.scale_.tolist(),
            "alpha": self.alpha_.tolist(),
            "fallback": list(self.fallback_),
            "net_kwargs": self.net_kwargs_,
            "n_nets": len(self.nets_),
            "intervals": [[plain(s), v] for s, v in self.interval_s_.items()],
            "train_counts": self.train_counts_,
            "bases": list(self.bases_),
            "choice": list(self.choice_),
            "in_sample_bands": bool(getattr(self, "in_sample_bands_", False)),
        }
        if getattr(self, "combination_", None) is not None:
            meta["combination"] = self.combination_.to_meta()
        arrays = {"area/known": self.area_.known.astype(np.uint8)}
        if self.linear_ is not None:
            arrays.update(self.linear_.to_arrays())
        if self.analogs_ is not None:
            lib_meta, lib_arrays = self.analogs_.to_state()
            meta["analogs"] = lib_meta
            arrays.update(lib_arrays)
        for i, net in enumerate(self.nets_):
            arrays.update({f"net{i}/{k}": v.detach().cpu().numpy().copy() for k, v in net.state_dict().items()})
        return meta, arrays

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        import torch

        from tsgate.vessel.network import VesselNet

        self.columns_ = Columns(*[int(v) for v in meta["columns"]])
        self.area_ = Area.from_meta(meta["area"], arrays["area/known"].astype(bool))
        self.scale_ = np.asarray(meta["scale"], dtype=np.float64)
        self.alpha_ = np.asarray(meta["alpha"], dtype=np.float64)
        self.fallback_ = list(meta["fallback"])
        self.net_kwargs_ = dict(meta["net_kwargs"])
        self.interval_s_ = {s: float(v) for s, v in meta["intervals"]}
        self.train_counts_ = meta.get("train_counts", {})
        self.bases_ = [str(b) for b in meta.get("bases", ["dead reckoning"] * len(self.alpha_))]
        self.choice_ = [str(c) for c in meta.get("choice", self.bases_)]
        self.in_sample_bands_ = bool(meta.get("in_sample_bands", False))
        unknown = sorted(set(self.bases_) - set(BASES)) + sorted(set(self.choice_) - set(ORDER))
        if unknown:
            raise ModelFileError(f"the model file names base forecast(s) {unknown} this tsgate does not know ({list(ORDER)}); "
                              "refit the model with this version.")
        self.linear_ = LinearBase.from_arrays(arrays) if "linear/coef" in arrays else None
        if "linear AR" in self.bases_ and self.linear_ is None:
            raise ModelFileError("the model file uses the linear base forecast but holds no linear/coef arrays; refit the model.")
        self.analogs_ = None
        if "analogs" in meta:
            try:
                self.analogs_ = AnalogLibrary.from_state(meta["analogs"], arrays)
            except (KeyError, TypeError, ValueError) as exc:
                raise ModelFileError(f"the model file's track-analog library is incomplete or inconsistent ({exc}); "
                                     "refit the model.") from exc
        if ANALOGS in self.choice_ and self.analogs_ is None:
            raise ModelFileError("the model file uses the track-analog base forecast but holds no analog library; "
                                 "refit the model.")
        self.combination_ = self._combination(meta)
        self.nets_ = []
        for i in range(int(meta["n_nets"])):
            net = VesselNet(**self.net_kwargs_)
            pre = f"net{i}/"
            net.load_state_dict({k[len(pre):]: torch.from_numpy(np.array(v)) for k, v in arrays.items() if k.startswith(pre)},
                                strict=True)
            self.nets_.append(net.eval())

    def _combination(self, meta: dict[str, Any]) -> Combination | None:
        """The model file's combination (None in files written before it existed)."""
        if "combination" not in meta:
            return None
        try:
            comb = Combination.from_meta(meta["combination"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"the model file's forecast combination is incomplete or inconsistent ({exc}); "
                                 "refit the model.") from exc
        need = comb.requires()
        unknown = sorted(set(comb.members) - {*ORDER, PERSISTENCE})
        missing = [nm for nm, ok in (("linear AR", self.linear_ is not None), (ANALOGS, self.analogs_ is not None),
                                     (CORRECTED, int(meta["n_nets"]) > 0 or not (comb.alpha > 0).any())) if nm in need and not ok]
        if unknown or missing:
            raise ModelFileError(f"the model file's forecast combination names member(s) {unknown + missing} that "
                                 "this tsgate does not know or the file does not hold; refit the model.")
        return comb
