"""PyTorch access to a generated split.

    >>> import scenebench, torch
    >>> ds = scenebench.load("data/multi_dsprites/lavae/v1.2.0-seed0", "train")
    >>> loader = torch.utils.data.DataLoader(ds, batch_size=256, shuffle=True, num_workers=2)

Items are dicts of tensors (``fields`` selects which). The Dataset
implements ``__getitems__``, torch's batched map-style protocol: a
DataLoader with ``batch_size`` set hands each worker a whole batch of
(shuffled) indices, which are read with one :meth:`SplitReader.take`
(every chunk they touch decoded once) instead of one read per index. HDF5
files are opened lazily in each worker process, so the dataset is safe with
``num_workers > 0`` under fork, forkserver and spawn.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch.utils.data import Dataset

from .chunks import DEFAULT_CACHE_BYTES
from .reader import SplitReader, iterate

__all__ = ["SceneDataset", "load", "iterate"]


class SceneDataset(Dataset):
    """A ``torch.utils.data.Dataset`` over one split of a scenebench dataset.

    ``transform`` is applied to each item (a dict of tensors). Reads are
    batched whatever the transform: ``__getitems__`` reads all indices at
    once, then splits the batch into items.
    """

    def __init__(self, path_or_name, split: str, fields: Sequence[str] | None = None,
                 transform: Callable | None = None, root=None, *, in_memory: bool = False,
                 cache_bytes: int = DEFAULT_CACHE_BYTES):
        self.reader = SplitReader(path_or_name, split, fields, root, cache_bytes=cache_bytes, in_memory=in_memory)
        self.transform = transform

    @property
    def manifest(self) -> dict:
        return self.reader.manifest

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, index: int) -> dict:
        item = {k: torch.from_numpy(v) for k, v in self.reader[index].items()}
        return self.transform(item) if self.transform else item

    def __getitems__(self, indices: Sequence[int]) -> list[dict]:
        """The items at ``indices`` (a list), read in one batch; what DataLoader's fetcher calls."""
        batch = {k: torch.from_numpy(v) for k, v in self.reader.take(indices).items()}
        items = [dict(zip(batch, values)) for values in zip(*(t.unbind(0) for t in batch.values()))] \
            if batch else [{} for _ in indices]
        return [self.transform(i) for i in items] if self.transform else items


def load(path_or_name, split: str = "train", *, fields: Sequence[str] | None = None,
         transform: Callable | None = None, root=None, in_memory: bool = False,
         cache_bytes: int = DEFAULT_CACHE_BYTES) -> SceneDataset:
    """Open ``split`` of a dataset (a directory, a manifest path or ``family/preset``) as a torch Dataset.

    ``in_memory=True`` reads the selected fields of the whole split into
    memory first (for splits that fit: ``SceneDataset.reader.split_nbytes``);
    ``cache_bytes`` bounds the decoded chunks each process keeps otherwise.
    """
    return SceneDataset(path_or_name, split, fields, transform, root, in_memory=in_memory, cache_bytes=cache_bytes)
