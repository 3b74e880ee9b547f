"""Training on windows streamed from chunks of rows: an IterableDataset and its LightningDataModule.

:class:`StreamWindowDataset` reads a row source (:mod:`tsgate.data.window_stream`) from the
start at every epoch, cuts windows with :class:`~tsgate.data.window_stream.WindowStream` and
yields batches (the same dicts of tensors as :class:`~tsgate.training.datamodule.WindowDataModule`),
holding a bounded carry of rows and at most ``shuffle_buffer`` + one chunk's windows.

- **Workers and processes.** Each DataLoader worker (and, under a distributed strategy, each
  process) reads the whole source but keeps only the series :func:`~tsgate.data.window_stream.owner`
  gives it (a stable hash of the series id over ``world_size × num_workers`` shards), so every
  window is produced exactly once. With fewer series than shards some shards are empty.
- **Shuffling.** A bounded shuffle buffer: windows collect until ``shuffle_buffer`` are held, then
  a random half of them leaves as batches; the rest at the end of the epoch. The order is seeded
  by ``seed``, the epoch and the shard. ``shuffle_buffer=0`` keeps stream order.
- **Validation.** ``cuts`` (series id → time, seconds) split each series as
  :func:`~tsgate.data.splits.validation_cut` does: origins after the cut validate; a training
  window keeps the targets revealed by the cut. ``part`` chooses ``train``, ``val`` or ``all``.
- **Scales.** :func:`survey` is a first streaming pass: it counts the windows, finds each series'
  origin time span (hence the cuts) and keeps a uniform random sample of at most ``sample``
  windows (bottom-k of seeded random keys), from which the global scales are measured
  (:func:`~tsgate.training.scaling.window_statistics`). When every window fits in the sample the
  sample is all windows, in the in-memory order, and the scales are those of the in-memory path.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, Literal

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from tsgate.data.window_stream import WindowStream, stream_windows
from tsgate.data.windows import Windows
from tsgate.exceptions import ConfigError
from tsgate.params import check_count
from tsgate.training.batch import windows_to_tensors

__all__ = ["StreamSettings", "StreamWindowDataset", "StreamDataModule", "Survey", "survey", "cut_windows"]


@dataclass(frozen=True)
class StreamSettings:
    """Windowing settings of a stream (those of :func:`~tsgate.data.windows.make_windows`;
    ``evict_after`` in seconds, see :class:`~tsgate.data.window_stream.WindowStream`)."""

    window: int
    horizons: Any
    max_gap: Any = None
    min_history: int | None = None
    evict_after: float | None = None

    def stream(self, source: Any) -> WindowStream:
        """A :class:`~tsgate.data.window_stream.WindowStream` with these settings for ``source``."""
        return WindowStream(source.layout, int(self.window), self.horizons, max_gap=self.max_gap,
                            min_history=self.min_history, evict_after=self.evict_after,
                            source=getattr(source, "source", None))

    def windows(self, source: Any, worker: tuple[int, int] = (0, 1), stream: WindowStream | None = None
                ) -> Iterator[Windows]:
        return stream_windows(source, int(self.window), self.horizons, worker=worker,
                              stream=stream or self.stream(source))


def cut_windows(w: Windows, cuts: dict[Any, float] | None, part: str) -> Windows:
    """The ``train`` part (targets not revealed by the cut set to NaN), the ``val`` part or ``all``
    of a set of windows, given each series' cut time (series without a cut train entirely)."""
    if part == "all" or cuts is None or len(w) == 0:
        return w
    ids = w.series_ids
    cut = np.array([cuts.get(_key(s), np.inf) for s in ids], dtype=np.float64)[w.series_index]
    t = w.origin_time
    if part == "val":
        return w.select(t > cut)
    keep = (w.reveal_time <= cut[:, None]) & (t <= cut)[:, None]
    rows = keep.any(axis=1)
    y = w.y.copy()
    y[~keep] = np.nan
    return Windows(w.inputs, replace(w.targets, y=y), dict(w.stats)).select(rows)


def _key(series_id: Any) -> Any:
    return series_id.item() if isinstance(series_id, np.generic) else series_id


def _shard() -> tuple[int, int, int]:
    """(shard, shards, worker id): this process's rank × the DataLoader workers."""
    info = get_worker_info()
    wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
    rank, world = 0, 1
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
    return rank * nw + wid, world * nw, wid


class StreamWindowDataset(IterableDataset):
    """Batches of windows streamed from ``source`` (re-read every epoch); see the module notes.

    Parameters
    ----------
    source
        A row source (:class:`~tsgate.data.window_stream.SeriesChunks`,
        :class:`~tsgate.data.window_stream.CsvChunks`, ...); it must be iterable again, and
        picklable for worker processes.
    settings
        Windowing (:class:`StreamSettings`).
    batch_size, shuffle_buffer, seed
        Windows per batch; windows held for shuffling (0: stream order); seed of the order.
    part, cuts
        ``train``, ``val`` or ``all`` windows, cut per series at ``cuts`` (see :func:`cut_windows`).
    """

    def __init__(self, source: Any, settings: StreamSettings, *, batch_size: int = 256, shuffle_buffer: int = 0,
                 seed: int = 0, part: Literal["train", "val", "all"] = "all",
                 cuts: dict[Any, float] | None = None) -> None:
        super().__init__()
        check_count("batch_size", batch_size, 1)
        check_count("shuffle_buffer", shuffle_buffer, 0, "windows")
        if part not in ("train", "val", "all"):
            raise ConfigError(f"part must be 'train', 'val' or 'all', got {part!r}.")
        self.source, self.settings, self.part, self.cuts = source, settings, part, cuts
        self.batch_size, self.shuffle_buffer, self.seed = int(batch_size), int(shuffle_buffer), int(seed)
        self._epoch = 0
        #: windows yielded in the last complete epoch of this process (of this worker's shard)
        self.n_windows = 0

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        shard, shards, _ = _shard()
        rng = np.random.default_rng([self.seed, self._epoch, shard])
        self._epoch += 1
        held: list[dict[str, torch.Tensor]] = []
        n_held = n_out = 0
        for w in self.settings.windows(self.source, worker=(shard, shards)):
            w = cut_windows(w, self.cuts, self.part)
            if len(w) == 0:
                continue
            held.append(windows_to_tensors(w))
            n_held += len(w)
            if n_held >= max(self.shuffle_buffer, self.batch_size):
                keep = self.shuffle_buffer // 2 if self.shuffle_buffer else n_held % self.batch_size
                batches, rest = self._split(held, n_held, n_held - keep, rng)
                yield from batches
                n_rest = len(rest["y"]) if rest else 0
                n_out += n_held - n_rest
                held, n_held = ([rest] if rest else []), n_rest
        if n_held:
            batches, _ = self._split(held, n_held, n_held, rng, last=True)
            yield from batches
            n_out += n_held
        self.n_windows = n_out

    def _split(self, held: list[dict[str, torch.Tensor]], n: int, n_out: int, rng: np.random.Generator,
               last: bool = False) -> tuple[list[dict[str, torch.Tensor]], dict[str, torch.Tensor]]:
        """Full batches of ``n_out`` of the ``n`` held windows (a random choice when shuffling; a
        last short batch only at the end), and the windows kept back."""
        cat = {k: torch.cat([h[k] for h in held]) if len(held) > 1 else held[0][k] for k in held[0]}
        order = torch.from_numpy(rng.permutation(n)) if self.shuffle_buffer else torch.arange(n)
        b = self.batch_size
        n_out = n_out if last else (n_out // b) * b
        out = [{k: v[order[i : min(i + b, n_out)]] for k, v in cat.items()} for i in range(0, n_out, b)]
        rest_idx = order[n_out:]
        rest = {k: v[rest_idx] for k, v in cat.items()} if len(rest_idx) else {}
        return out, rest


class StreamDataModule(L.LightningDataModule):
    """Training (and validation) batches streamed from a row source, for ``lightning.Trainer``
    and :class:`~tsgate.training.module.ForecastModule` (the same batches as
    :class:`~tsgate.training.datamodule.WindowDataModule`).

    ``cuts`` (from :func:`survey`) with ``validate=True`` adds a validation loader over the
    windows after each series' cut; ``num_workers`` DataLoader processes split the series.
    """

    def __init__(self, source: Any, settings: StreamSettings, *, batch_size: int = 256, shuffle_buffer: int = 8192,
                 num_workers: int = 0, seed: int = 0, cuts: dict[Any, float] | None = None,
                 validate: bool = False) -> None:
        super().__init__()
        check_count("num_workers", num_workers, 0)
        if validate and cuts is None:
            raise ConfigError("validate=True needs cuts (per series cut times, e.g. from survey()).")
        self.train_ds = StreamWindowDataset(source, settings, batch_size=batch_size, shuffle_buffer=shuffle_buffer,
                                            seed=seed, part="train" if validate else "all", cuts=cuts)
        self.val_ds = (StreamWindowDataset(source, settings, batch_size=batch_size, part="val", cuts=cuts)
                       if validate else None)
        self.num_workers = int(num_workers)
        self.seed = int(seed)

    def _loader(self, ds: StreamWindowDataset) -> DataLoader:
        g = torch.Generator()
        g.manual_seed(self.seed)
        return DataLoader(ds, batch_size=None, num_workers=self.num_workers, generator=g,
                          persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_ds)

    def val_dataloader(self) -> DataLoader | list:
        return self._loader(self.val_ds) if self.val_ds is not None else []


@dataclass
class Survey:
    """What a first pass over a stream found: ``n_windows`` (with known targets), per series the
    origin ``span`` (first, last origin time, seconds) and window ``count``, and ``sample``, a
    uniform sample of the windows (all of them when ``complete``)."""

    n_windows: int
    span: dict[Any, tuple[float, float]]
    count: dict[Any, int]
    sample: Windows | None
    complete: bool

    def cuts(self, fraction: float) -> dict[Any, float]:
        """Per series the cut time of :func:`~tsgate.data.splits.validation_cut` for ``fraction``."""
        return {s: hi - fraction * (hi - lo) for s, (lo, hi) in self.span.items()}


def survey(source: Any, settings: StreamSettings, *, sample: int = 50_000, seed: int = 0) -> Survey:
    """One streaming pass: counts, per-series origin spans and a bounded uniform sample of windows."""
    check_count("sample", sample, 1, "windows")
    rng = np.random.default_rng(seed)
    span: dict[Any, tuple[float, float]] = {}
    count: dict[Any, int] = {}
    kept: Windows | None = None
    kept_key = np.zeros(0)
    pending: list[tuple[Windows, np.ndarray]] = []
    n_pending = n = 0
    threshold = np.inf  # the largest key in a full sample: windows with larger keys cannot enter

    def merge() -> None:
        nonlocal kept, kept_key, pending, n_pending, threshold
        parts = ([kept] if kept is not None else []) + [w for w, _ in pending]
        keys = np.concatenate([kept_key, *[k for _, k in pending]])
        both = Windows.concat(parts)
        if len(keys) > sample:
            idx = np.sort(np.argpartition(keys, sample - 1)[:sample])
            both, keys = both.select(idx), keys[idx]
            threshold = float(keys.max())
        kept, kept_key, pending, n_pending = both, keys, [], 0

    ws = settings.stream(source)
    for w in settings.windows(source, stream=ws):
        for sid, lo, hi, c in _per_series(w):
            a, b = span.get(sid, (np.inf, -np.inf))
            span[sid] = (min(a, lo), max(b, hi))
            count[sid] = count.get(sid, 0) + c
        key = rng.random(len(w))
        n += len(w)
        take = key < threshold
        if take.any():
            pending.append((w.select(take) if not take.all() else w, key[take]))
            n_pending += int(take.sum())
        if n_pending >= sample:
            merge()
    if pending:
        merge()
    complete = n <= sample
    if complete and kept is not None:
        kept = _in_memory_order(kept, getattr(source, "series_ids", None) or list(ws.first_seen))
    return Survey(n, span, count, kept, complete)


def _per_series(w: Windows) -> Iterator[tuple[Any, float, float, int]]:
    for i, sid in enumerate(w.series_ids):
        t = w.origin_time[w.series_index == i]
        if len(t):
            yield _key(sid), float(t.min()), float(t.max()), len(t)


def _in_memory_order(w: Windows, series_order: list[Any]) -> Windows:
    """Windows ordered as :func:`~tsgate.data.windows.make_windows` orders those of the validated
    data: by series (``series_order``, their first appearance), then origin row."""
    rank = {_key(s): i for i, s in enumerate(series_order)}
    r = np.array([rank.get(_key(s), len(rank)) for s in w.series_ids], dtype=np.int64)
    return w.select(np.lexsort((w.origin_row, r[w.series_index])))
