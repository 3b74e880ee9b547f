"""The fitted state every forecaster shares: recent history, and its storage in model files.

A fitted forecaster keeps, per series, the last observation time it has seen (``last_time_``)
and the recent rows it needs to forecast from the end of its data (``history_``): the input
window plus the horizon's reach, so that ``update`` can build the windows of new observations
and learn the targets they reveal. Both are saved in the model file as arrays (never pickles).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tsgate.data.columns import ID, ROW, SEGMENT, TIME, plain
from tsgate.data.horizons import Horizon
from tsgate.data.series import IrregularSeries
from tsgate.data.times import seconds_to_time
from tsgate.exceptions import ModelFileError

__all__ = ["recent_rows", "history_to_arrays", "history_from_arrays", "jsonable_params"]


def recent_rows(series: IrregularSeries, last_time: dict[Any, float], window: int, horizons: tuple[Horizon, ...]) -> np.ndarray:
    """[n] rows of ``series`` a forecaster keeps: per series the last ``window`` rows plus the
    reach of the step horizons, and every row an unrevealed duration target may still need."""
    f = series.frame
    reach = max([int(h.value) for h in horizons if h.kind == "steps"] or [0])
    pos_from_end = f.groupby(ID, sort=False).cumcount(ascending=False).to_numpy()
    keep = pos_from_end < window + reach + 1
    dur = [h.value for h in horizons if h.kind == "duration"]
    if dur:
        # an origin o is fully revealed once an observation at or after o + max(h) exists, so
        # keep origins newer than last - max(h) and the input window before the first of them
        t = series.time_seconds()
        last_s = f[ID].map(last_time).to_numpy(dtype=np.float64)
        idx = np.arange(len(f))
        first_recent = (
            pd.Series(np.where(t > last_s - max(dur), idx, len(f))).groupby(f[ID].to_numpy()).transform("min").to_numpy()
        )
        keep |= idx >= first_recent - window
    return keep


def history_to_arrays(h: IrregularSeries | None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The history as JSON metadata and arrays (``history/...``) for a model file."""
    if h is None or len(h) == 0:
        return {"present": False}, {}
    f = h.frame
    ids = [plain(x) for x in pd.unique(f[ID])]
    code = pd.Categorical(f[ID], categories=pd.unique(f[ID])).codes.astype(np.int64)
    cols = list(h.targets) + list(h.covariates) + list(h.static)
    meta = {
        "present": True,
        "ids": ids,
        "targets": list(h.targets),
        "covariates": list(h.covariates),
        "static": list(h.static),
        "time_kind": h.time_kind,
        "units": h.units,
    }
    arrays = {
        "history/series": code,
        "history/time_s": h.time_seconds(),
        # datetimes also as exact nanoseconds: float seconds since the epoch keep ~0.2 µs, and
        # update must see the very times it saw before (else an origin is repeated)
        **({"history/time_ns": _as_ns(f[TIME])} if h.time_kind == "datetime" else {}),
        "history/values": f[cols].to_numpy(dtype=np.float64) if cols else np.zeros((len(f), 0)),
        "history/segment": f[SEGMENT].to_numpy(dtype=np.int64),
        "history/row": f[ROW].to_numpy(dtype=np.int64),
    }
    return meta, arrays


def _as_ns(col: pd.Series) -> np.ndarray:
    return pd.DatetimeIndex(col).as_unit("ns").asi8.astype(np.int64)


def history_from_arrays(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> IrregularSeries | None:
    """Inverse of :func:`history_to_arrays`; arrays that do not fit the description are a ModelFileError."""
    if not meta.get("present"):
        return None
    ids = np.asarray(meta["ids"], dtype=object)
    cols = list(meta["targets"]) + list(meta["covariates"]) + list(meta["static"])
    _check_history(arrays, len(ids), len(cols), meta["time_kind"])
    frame = pd.DataFrame({ID: ids[arrays["history/series"]], ROW: arrays["history/row"]})
    if "history/time_ns" in arrays:
        frame[TIME] = pd.to_datetime(arrays["history/time_ns"].astype(np.int64), unit="ns", utc=True)
    else:  # files written before the exact times were kept
        frame[TIME] = seconds_to_time(arrays["history/time_s"], meta["time_kind"])
    for j, c in enumerate(cols):
        frame[c] = arrays["history/values"][:, j]
    frame[SEGMENT] = arrays["history/segment"]
    return IrregularSeries(
        frame,
        targets=meta["targets"],
        covariates=meta["covariates"],
        static=meta["static"],
        time_kind=meta["time_kind"],
        units=meta.get("units"),
    )


def _check_history(arrays: dict[str, np.ndarray], n_ids: int, n_cols: int, time_kind: Any) -> None:
    """Refuse history arrays whose shapes, types or series codes do not match the description."""
    need = ["history/series", "history/row", "history/time_s", "history/values", "history/segment"]
    missing = [k for k in need if k not in arrays]
    if missing:
        raise ModelFileError(f"the saved history lacks the array {missing[0]!r}.")
    n = len(arrays["history/series"])
    shapes = {k: arrays[k].shape for k in need + ["history/time_ns"] if k in arrays}
    wrong = [k for k, sh in shapes.items() if k != "history/values" and sh != (n,)]
    if arrays["history/values"].shape != (n, n_cols):
        wrong.append("history/values")
    if wrong:
        raise ModelFileError(f"the saved history's array {wrong[0]!r} has shape {shapes[wrong[0]]}, expected {n} rows.")
    for k in ("history/series", "history/row", "history/segment", "history/time_ns"):
        if k in arrays and arrays[k].dtype.kind not in "iu":
            raise ModelFileError(f"the saved history's array {k!r} holds {arrays[k].dtype}, expected integers.")
    code = arrays["history/series"]
    if n and (code.min() < 0 or code.max() >= n_ids):
        raise ModelFileError(
            f"the saved history names series code {int(code.max() if code.max() >= n_ids else code.min())}, "
            f"but the description lists {n_ids} series."
        )
    if time_kind not in ("datetime", "seconds"):
        raise ModelFileError(f"the saved history has time kind {time_kind!r}, expected 'datetime' or 'seconds'.")


def jsonable_params(params: dict[str, Any]) -> dict[str, Any]:
    """Constructor parameters as JSON values; a value JSON cannot hold is refused."""
    out = {}
    for k, v in params.items():
        if isinstance(v, tuple):
            v = list(v)
        if v is None or isinstance(v, (bool, int, float, str)) or (isinstance(v, (list, dict)) and _plain(v)):
            out[k] = v
        else:
            raise ModelFileError(
                f"parameter {k}={v!r} cannot be stored in a model file; use plain numbers, strings or lists."
            )
    return out


def _plain(v: Any) -> bool:
    if isinstance(v, dict):
        return all(isinstance(k, str) and _plain(x) for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return all(_plain(x) for x in v)
    return v is None or isinstance(v, (bool, int, float, str))
