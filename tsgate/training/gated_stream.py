"""``GatedLSTMForecaster(data_module="stream")``: the training windows streamed, never all held.

The series is read as a file sorted by time would be (:class:`~tsgate.data.window_stream.SeriesChunks`,
``stream_options["rows"]`` rows per chunk); a first pass (:func:`~tsgate.training.stream_data.survey`)
finds each series' validation cut and a sample of at most ``stream_options["sample"]`` windows
for the global scales; every epoch then streams the windows again
(:class:`~tsgate.training.stream_data.StreamDataModule`). When the sample holds every window, the
split and the scales are exactly those of the in-memory path; only the batch order differs
(a bounded shuffle buffer of ``stream_options["shuffle_buffer"]`` windows).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tsgate.data.series import IrregularSeries
from tsgate.data.window_stream import SeriesChunks
from tsgate.data.windows import Windows, make_windows, require_windows
from tsgate.exceptions import ConfigError

__all__ = ["STREAM_OPTIONS", "check_stream_options", "stream_data"]

#: the keys of ``stream_options`` and their defaults
STREAM_OPTIONS: dict[str, Any] = {"rows": 100_000, "shuffle_buffer": 8192, "sample": 50_000, "evict_after": None}


def check_stream_options(est: Any) -> dict[str, Any]:
    """The stream options with defaults filled in; a ConfigError names a bad key or value."""
    given = dict(est.stream_options or {})
    unknown = sorted(set(given) - set(STREAM_OPTIONS))
    if unknown:
        raise ConfigError(f"unknown stream_options key(s) {unknown}; the keys are {list(STREAM_OPTIONS)}.")
    opts = {**STREAM_OPTIONS, **given}
    for k in ("rows", "sample"):
        v = opts[k]
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ConfigError(f"stream_options[{k!r}] must be a whole number ≥ 1, got {v!r}.")
    v = opts["shuffle_buffer"]
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
        raise ConfigError(f"stream_options['shuffle_buffer'] must be a whole number of windows ≥ 0, got {v!r}.")
    v = opts["evict_after"]
    if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0):
        raise ConfigError(f"stream_options['evict_after'] must be seconds > 0 or None, got {v!r}.")
    if est.data_module == "stream" and (est.strategy not in ("auto", "single_device") or est.num_nodes != 1
                                        or est.devices not in (1, "auto")):
        # streamed shards give the processes unequal numbers of batches, and DDP waits on the
        # process that still has one
        raise ConfigError("data_module='stream' trains in one process; use data_module='memory' with "
                          f"strategy={est.strategy!r}, devices={est.devices!r}, num_nodes={est.num_nodes!r}.")
    return opts


def stream_data(est: Any, data: IrregularSeries, settings_of: Callable[[Any], Any],
                split: Callable[[Windows, IrregularSeries], tuple[Windows, Windows | None]]
                ) -> tuple[Any, Windows, dict[str, Any]]:
    """(the DataModule, the training windows the scales are measured on, counts) for ``est``;
    ``settings_of(evict_after)`` gives its :class:`~tsgate.training.stream_data.StreamSettings`,
    ``split`` is its in-memory validation split."""
    from tsgate.training.stream_data import StreamDataModule, cut_windows, survey

    opts = check_stream_options(est)
    source = SeriesChunks(data, rows=int(opts["rows"]))
    settings = settings_of(opts["evict_after"])
    sv = survey(source, settings, sample=int(opts["sample"]), seed=int(est.seed))
    if sv.sample is None:  # no window at all: the in-memory path's refusal, with its reasons
        require_windows(make_windows(data.take(np.zeros(0, np.int64)), settings.window, est.horizons_), data,
                        "training")
        raise AssertionError("unreachable: require_windows refuses no windows")
    fraction = float(est.val_fraction)
    if sv.complete:  # every window in the sample: the in-memory split, to the window
        train, val = split(sv.sample, data)
        validate = val is not None
        n_train, n_val = len(train), 0 if val is None else len(val)
    else:
        validate = fraction > 0
        train = cut_windows(sv.sample, sv.cuts(fraction) if validate else None, "train")
        n_val_sample = len(cut_windows(sv.sample, sv.cuts(fraction), "val")) if validate else 0
        n_train = int(round(sv.n_windows * len(train) / len(sv.sample)))
        n_val = int(round(sv.n_windows * n_val_sample / len(sv.sample)))
        est.split_report_ = {"windows": sv.n_windows, "train": n_train, "validation": n_val,
                             "estimated_from_sample": len(sv.sample)}
    cuts = sv.cuts(fraction) if validate else None
    dm = StreamDataModule(source, settings, batch_size=int(est.batch_size), shuffle_buffer=int(opts["shuffle_buffer"]),
                          num_workers=int(est.num_workers), seed=int(est.seed), cuts=cuts, validate=validate)
    counts = {"windows": sv.n_windows, "train": n_train, "validation": n_val, "sample": len(sv.sample),
              "sample_complete": sv.complete, "rows_per_chunk": int(opts["rows"])}
    return dm, train, counts
