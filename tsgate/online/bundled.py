"""The pre-trained networks bundled with tsgate, and the leave-one-sequence-out rule.

``tsgate/bundled/networks/extmarker`` holds 10 networks trained on the bundled ExtMarker data
(:func:`tsgate.training.pretrain.build_extmarker_bundle`): ``without-seq1`` … ``without-seq9``
(each trained on the other 8 sequences, and refused on every rate of sequence k) and ``all``. Two files: ``bundle.json``
(configurations, what each network saw, the sha256 of the arrays) and ``bundle.safetensors``
(float16 weights and the content fingerprints of the 27 recordings). Nothing is downloaded.

Choosing a network for data (:func:`choose_network`): the sequences the data overlaps are found
by content (:mod:`tsgate.online.fingerprint`; a CSV export, a cut or a subset of columns of a
bundled sequence is recognised); data that overlaps sequence k gets ``without-seq<k>``, data
that overlaps none gets ``all``. A network is never used on data it was trained on: asking for
one that saw the data raises a :class:`~tsgate.exceptions.ConfigError`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from functools import lru_cache
from importlib.resources import files as _resource_files
from pathlib import Path
from typing import Any

import numpy as np

from tsgate.exceptions import ConfigError, ModelFileError
from tsgate.online.network import GlobalNetwork

__all__ = ["BUNDLES", "bundled_network", "choose_network", "write_bundle", "read_bundle"]

BUNDLES = ("extmarker",)
_JSON, _ARRAYS = "bundle.json", "bundle.safetensors"
_KIND = "tsgate-network-bundle"


def write_bundle(out_dir: str | Path, nets: dict[str, GlobalNetwork]) -> None:
    """Write networks that share fingerprints into one bundle folder (atomic per file)."""
    from safetensors.numpy import save

    from tsgate.fileio import write_bytes, write_text

    arrays: dict[str, np.ndarray] = {}
    prints: dict[str, np.ndarray] = {}
    descs = {}
    for key, net in nets.items():
        desc, arr = net.to_arrays(prefix=f"{key}/")
        # float16 weights keep the ten networks under 1 MB; forecasts move by < 1e-3 amplitudes
        arrays.update({k: v.astype(np.float16) for k, v in arr.items() if "/fingerprint" not in k})
        for name in net.trained_on:
            prints[name] = net.fingerprints[name]
        desc.pop("fingerprinted")
        descs[key] = desc
    names = sorted(prints)
    for j, name in enumerate(names):
        arrays[f"fingerprints/{j}"] = np.asarray(prints[name], dtype=np.uint64)
    blob = save(arrays)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_bytes(out / _ARRAYS, blob)
    meta = {"kind": _KIND, "recordings": names, "networks": descs, "sha256": hashlib.sha256(blob).hexdigest(),
            "command": "python -m tsgate.training.pretrain --extmarker-bundle datasets/networks/extmarker"}
    write_text(out / _JSON, json.dumps(meta, indent=1))


def read_bundle(folder: Any) -> dict[str, GlobalNetwork]:
    """The networks of a bundle folder (a path or an importlib resource), checksum verified."""
    from safetensors.numpy import load

    try:
        meta = json.loads((folder / _JSON).read_text(encoding="utf-8"))
        blob = (folder / _ARRAYS).read_bytes()
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"network bundle {folder} cannot be read ({exc}); reinstall tsgate.") from None
    if meta.get("kind") != _KIND or hashlib.sha256(blob).hexdigest() != meta.get("sha256"):
        raise ModelFileError(f"network bundle {folder} is damaged (kind or checksum mismatch); reinstall tsgate.")
    arrays = load(blob)
    names = meta["recordings"]
    prints = {name: arrays[f"fingerprints/{j}"] for j, name in enumerate(names)}
    out = {}
    for key, desc in meta["networks"].items():
        seen = list(desc["trained_on"])
        d = {**desc, "fingerprinted": seen}
        arr = {**{k: v for k, v in arrays.items() if k.startswith(f"{key}/")},
               **{f"{key}/fingerprint{j}": prints[n] for j, n in enumerate(seen)}}
        out[key] = GlobalNetwork.from_arrays(d, arr, prefix=f"{key}/")
    return out


@lru_cache(maxsize=None)
def _bundle(name: str) -> dict[str, GlobalNetwork]:
    folder = _resource_files("tsgate.bundled") / "networks" / name
    return read_bundle(folder)


def bundled_network(name: str, key: str) -> GlobalNetwork:
    """One network of a bundle, e.g. ``bundled_network("extmarker", "without-seq3")``."""
    nets = _bundle(name)
    if key not in nets:
        raise ConfigError(f"the {name} bundle has no network {key!r}; it has {sorted(nets)}.")
    return nets[key]


def _sequence(recording: str) -> str:
    """'extmarker-10hz-seq3' → 'seq3' (the sequence, whatever the rate)."""
    return recording.rsplit("-", 1)[-1]


def choose_network(spec: str, data_values: Sequence[np.ndarray]) -> tuple[GlobalNetwork, str]:
    """The bundled network for ``spec`` and data that it never saw: (network, its key).

    ``spec``: ``"extmarker"`` (leave out whatever sequence the data overlaps) or
    ``"extmarker-without-seq<k>"``. ``data_values``: the [n, k] values of each series.
    """
    name, _, want = spec.partition("-")
    if name not in BUNDLES:
        raise ConfigError(f"unknown bundled network {spec!r}; use 'extmarker' or 'extmarker-without-seq<k>'.")
    probe = bundled_network(name, "all")
    seen = sorted({_sequence(r) for v in data_values for r in probe.saw(v)})
    if want:
        net = bundled_network(name, want)
        bad = sorted({_sequence(r) for v in data_values for r in net.saw(v)})
        if bad:
            raise ConfigError(
                f"network {spec!r} was trained on {', '.join(bad)}, which this data contains; a network is never "
                f"evaluated on a recording it has seen. Use network='{name}' (it leaves the data's sequence out)."
            )
        return net, want
    if len(seen) > 1:
        raise ConfigError(
            f"this data overlaps several bundled {name} sequences ({', '.join(seen)}); every bundled network saw at "
            "least one of them. Fit one model per sequence, or pretrain a network on other recordings (network=path)."
        )
    key = f"without-{seen[0]}" if seen else "all"
    return bundled_network(name, key), key
