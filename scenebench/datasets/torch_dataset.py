"""PyTorch access to a generated split.

    >>> import scenebench, torch
    >>> ds = scenebench.load("data/multi_dsprites/lavae/v1.0.0-seed0", "train")
    >>> loader = torch.utils.data.DataLoader(ds, batch_size=64, shuffle=True, num_workers=2)

Items are dicts of tensors (``fields`` selects which). HDF5 files are opened
lazily in each worker process, so the dataset is safe with ``num_workers > 0``
under both fork and spawn.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch.utils.data import Dataset

from .reader import SplitReader, iterate

__all__ = ["SceneDataset", "load", "iterate"]


class SceneDataset(Dataset):
    """A ``torch.utils.data.Dataset`` over one split of a scenebench dataset."""

    def __init__(self, path_or_name, split: str, fields: Sequence[str] | None = None,
                 transform: Callable | None = None, root=None):
        self.reader = SplitReader(path_or_name, split, fields, root)
        self.transform = transform

    @property
    def manifest(self) -> dict:
        return self.reader.manifest

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, index: int) -> dict:
        item = {k: torch.from_numpy(v) for k, v in self.reader[int(index)].items()}
        return self.transform(item) if self.transform else item


def load(path_or_name, split: str = "train", *, fields: Sequence[str] | None = None,
         transform: Callable | None = None, root=None) -> SceneDataset:
    """Open ``split`` of a dataset (a directory, a manifest path or ``family/preset``) as a torch Dataset."""
    return SceneDataset(path_or_name, split, fields, transform, root)
