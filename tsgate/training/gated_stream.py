"""``GatedLSTMForecaster(data_module="stream")``: the training windows streamed, never all held.

The series is read as a file sorted by time would be (:class:`~tsgate.data.window_stream.SeriesChunks`,
``stream_options["rows"]`` rows per chunk); a first pass (:func:`~tsgate.training.stream_data.survey`)
finds each series' validation cut and a sample of at most ``stream_options["sample"]`` windows
for the global scales; every epoch then streams the windows again
(:class:`~tsgate.training.stream_data.StreamDataModule`). When the sample holds every window, the
split and the scales are exactly those of the in-memory path; only the batch order differs
(a bounded shuffle buffer of ``stream_options["shuffle_buffer"]`` windows). When it is not, the
split's counts are estimated from the sample and held to the in-memory split's rules.

The interval calibration streams too (:func:`streamed_calibration`): the validation origins'
windows are forecast chunk by chunk. Without validation (``val_fraction=0`` or too little data)
there is no held-out origin and the in-sample calibration builds its windows in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tsgate.data.series import IrregularSeries
from tsgate.data.window_stream import SeriesChunks
from tsgate.data.windows import Windows, make_windows, require_windows
from tsgate.estimators.conformal import CalibrationSet
from tsgate.exceptions import ConfigError
from tsgate.params import check_count

__all__ = ["STREAM_OPTIONS", "check_stream_options", "stream_data", "streamed_calibration"]

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
        check_count(f"stream_options[{k!r}]", opts[k], 1)
    check_count("stream_options['shuffle_buffer']", opts["shuffle_buffer"], 0, "windows")
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
    else:  # the in-memory split's rules on the sample's counts, scaled to the whole stream
        train, validate, n_train, n_val = _estimated_split(est, sv, fraction)
    cuts = sv.cuts(fraction) if validate else None
    est.validation_cuts_ = cuts
    dm = StreamDataModule(source, settings, batch_size=int(est.batch_size), shuffle_buffer=int(opts["shuffle_buffer"]),
                          num_workers=int(est.num_workers), seed=int(est.seed), cuts=cuts, validate=validate)
    counts = {"windows": sv.n_windows, "train": n_train, "validation": n_val, "sample": len(sv.sample),
              "sample_complete": sv.complete, "rows_per_chunk": int(opts["rows"])}
    return dm, train, counts


def _estimated_split(est: Any, sv: Any, fraction: float) -> tuple[Windows, bool, int, int]:
    """(training windows of the sample, validate, estimated training and validation counts) by
    :func:`~tsgate.training.guards.split_training`'s rules, the counts of the sample scaled to
    the ``sv.n_windows`` windows of the stream; sets ``split_report_`` and ``fit_warnings_``."""
    from tsgate.training.guards import check_counts
    from tsgate.training.stream_data import cut_windows

    scale = sv.n_windows / len(sv.sample)
    report: dict[str, Any] = {"windows": sv.n_windows, "validation": 0, "estimated_from_sample": len(sv.sample)}
    train, validate = sv.sample, False
    if fraction > 0 and sv.n_windows >= 10:
        cuts = sv.cuts(fraction)
        tr = cut_windows(sv.sample, cuts, "train")
        n_tr, n_va = round(scale * len(tr)), round(scale * len(cut_windows(sv.sample, cuts, "val")))
        if n_tr >= 0.5 * sv.n_windows and n_va > 0:
            train, validate, report["validation"] = tr, True, int(n_va)
        else:
            report["validation_skipped"] = (f"a validation cut would leave about {n_tr} of {sv.n_windows} windows "
                                            "for training; trained on all windows without validation")
    n_train = int(round(scale * len(train)))
    report["train"] = n_train
    per_h = np.round(scale * np.isfinite(train.y).all(axis=2).sum(axis=0))
    n_series = sum(1 for c in sv.count.values() if c > 0)  # series with a window; a sample may miss some
    check_counts(report, [h.label for h in train.horizons], per_h, n_series, what=type(est).__name__)
    est.split_report_ = report
    if "warning" in report:
        est.fit_warnings_.append({"error": "FewWindowsWarning", "message": report["warning"]})
    return train, validate, n_train, int(report["validation"])


def streamed_calibration(est: Any, data: IrregularSeries, cuts: dict[Any, float], settings: Any,
                         forecast: Callable[[Any], np.ndarray]) -> CalibrationSet:
    """The forecasts and truths of ``est``'s calibration pairs (the origins after each series'
    cut, :func:`~tsgate.estimators.calibration.calibration_mask`), the windows streamed a chunk
    at a time as in training (``settings``: its StreamSettings, ``forecast``: [n, H, k]
    forecasts of inputs): each chunk's held-out windows are forecast and dropped, so only the
    pairs' forecasts and truths are held, never the windows."""
    from tsgate.data.window_stream import WindowStream, stream_windows
    from tsgate.estimators.calibration import calibration_mask, thin_mask

    opts = check_stream_options(est)
    source = SeriesChunks(data, rows=int(opts["rows"]))
    ws = WindowStream(source.layout, int(settings.window), settings.horizons, max_gap=settings.max_gap,
                      min_history=settings.min_history, targets="optional", evict_after=opts["evict_after"],
                      source=data.source)
    pos = {sid: i for i, sid in enumerate(data.series_ids)}  # the in-memory series order
    values, truths, masks, times, series = [], [], [], [], []
    for w in stream_windows(source, ws.window, ws.horizons, stream=ws):
        mask = calibration_mask(w, None, cuts, thin=False)
        rows = mask.any(axis=1)
        if not rows.any():
            continue
        cal = w.select(rows)
        values.append(forecast(cal.inputs))
        truths.append(cal.y)
        masks.append(mask[rows])
        times.append(cal.origin_time)
        series.append(np.array([pos[sid] for sid in cal.series_ids], dtype=np.int64)[cal.series_index])
    H, k = len(est.horizons_), len(est.targets_)
    if not values:
        return CalibrationSet(np.zeros((0, H, k)), np.zeros((0, H, k)), np.zeros(0), np.zeros(0, np.int64))
    t_all, s_all = np.concatenate(times), np.concatenate(series)
    mask = thin_mask(np.concatenate(masks), t_all, s_all)
    rows = mask.any(axis=1)
    y = np.concatenate(truths)[rows]
    y[~mask[rows]] = np.nan
    return CalibrationSet(np.concatenate(values)[rows], y, t_all[rows], s_all[rows])
