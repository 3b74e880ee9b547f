"""A LightningDataModule over :class:`~tsgate.data.windows.Windows`: numpy windows become tensors here.

Batches are dicts of tensors: ``x`` [B, L, d], ``dt`` [B, L], ``t`` [B, L], ``mask`` [B, L],
``y`` [B, H, k], ``static`` [B, s]. Shuffling uses a generator seeded from ``seed``, so two
runs with the same seed see the same batches.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from tsgate.data.windows import Windows
from tsgate.exceptions import ConfigError
from tsgate.training.batch import windows_to_tensors

__all__ = ["TensorDictDataset", "WindowDataset", "WindowDataModule", "TensorDataModule", "windows_to_tensors"]


class TensorDictDataset(Dataset):
    """Map-style dataset over a dict of tensors with the same first dimension."""

    def __init__(self, tensors: dict[str, torch.Tensor]) -> None:
        self.tensors = tensors
        self.n = int(next(iter(tensors.values())).shape[0]) if tensors else 0

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[i] for k, v in self.tensors.items()}

    def __getitems__(self, idx: list[int]) -> dict[str, torch.Tensor]:
        # batched indexing: one gather per field instead of B dicts collated one by one
        ix = torch.as_tensor(idx)
        return {k: v[ix] for k, v in self.tensors.items()}


class WindowDataset(TensorDictDataset):
    """Map-style dataset of windows; indexing returns a dict of tensors."""

    def __init__(self, w: Windows) -> None:
        super().__init__(windows_to_tensors(w))


def _identity(batch: Any) -> Any:
    return batch


class WindowDataModule(L.LightningDataModule):
    """Train/validation windows as dataloaders.

    Parameters
    ----------
    train, val
        Windows with known targets (``val`` may be None: no validation loop).
    batch_size
        Windows per batch.
    num_workers
        DataLoader worker processes (0 = load in the training process, best for small data).
    seed
        Seeds the shuffling generator.
    """

    def __init__(
        self,
        train: Windows,
        val: Windows | None = None,
        *,
        batch_size: int = 256,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ConfigError(f"batch_size must be ≥ 1, got {batch_size}.")
        if num_workers < 0:
            raise ConfigError(f"num_workers must be ≥ 0, got {num_workers}.")
        self.train_windows = train
        self.val_windows = val if val is not None and len(val) else None
        self.batch_size = int(batch_size)
        self.num_workers = int(num_workers)
        self.seed = int(seed)

    def setup(self, stage: str | None = None) -> None:
        self.train_ds = WindowDataset(self.train_windows)
        self.val_ds = WindowDataset(self.val_windows) if self.val_windows is not None else None

    def _loader(self, ds: WindowDataset, shuffle: bool) -> DataLoader:
        g = torch.Generator()
        g.manual_seed(self.seed)
        return DataLoader(
            ds,
            batch_size=self.batch_size,
            shuffle=shuffle,
            generator=g if shuffle else None,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            collate_fn=_identity,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_ds, shuffle=True)

    def val_dataloader(self) -> DataLoader | list:
        return self._loader(self.val_ds, shuffle=False) if self.val_ds is not None else []


class TensorDataModule(WindowDataModule):
    """The same loaders over ready-made tensors (``{name: [n, ...]}``), for models whose inputs are
    not raw windows (e.g. the vessel model's track-frame features); no validation loop."""

    def __init__(self, train: dict[str, torch.Tensor], *, batch_size: int = 256, num_workers: int = 0, seed: int = 0) -> None:
        super().__init__(None, None, batch_size=batch_size, num_workers=num_workers, seed=seed)  # type: ignore[arg-type]
        self.train_tensors = train

    def setup(self, stage: str | None = None) -> None:
        self.train_ds = TensorDictDataset(self.train_tensors)
        self.val_ds = None
