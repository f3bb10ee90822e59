"""PyTorch access to a generated split.

    >>> import scenebench, torch
    >>> ds = scenebench.load("data/multi_dsprites/lavae/v1.2.0-seed0", "train")
    >>> loader = torch.utils.data.DataLoader(ds, batch_size=256, shuffle=True, num_workers=2)

Items are dicts of tensors (``fields`` selects which). Two things make the
plain ``DataLoader(..., shuffle=True, num_workers=N)`` fast:

- The Dataset implements ``__getitems__``, torch's batched map-style
  protocol: a DataLoader with ``batch_size`` set hands each worker a whole
  batch of (shuffled) indices, which are read with one
  :meth:`SplitReader.take` (every chunk they touch decoded once) instead of
  one read per index.
- Items are :class:`Sample` dicts, which ``default_collate`` keeps, and a
  :class:`Sample` crosses from a worker to the main process as ONE shared
  buffer: torch otherwise sends every tensor of a batch through its own
  shared-memory file descriptor, which costs ~1.5 ms per tensor here (a
  dataset with a dozen fields spent most of its time on that). The main
  process receives a plain ``dict`` of tensors, views of that buffer.

HDF5 files are opened lazily in each worker process, so the dataset is safe
with ``num_workers > 0`` under fork, forkserver and spawn.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch.utils.data import Dataset

from .chunks import DEFAULT_CACHE_BYTES
from .reader import SplitReader, iterate

__all__ = ["SceneDataset", "Sample", "load", "iterate"]

_ALIGN = 64  # bytes: every field of a packed Sample starts at a multiple of this
PACK_BYTES = 256 * 1024  # tensors smaller than this travel packed together between processes


class Sample(dict):
    """A dict of tensors (one item, or a batch collated from items) whose small tensors pickle as one buffer.

    ``copy.copy`` (what ``default_collate`` does to the first item before
    filling in the stacked fields) gives a :class:`Sample` again. Pickling
    (what a DataLoader worker does to send its batch) packs every CPU tensor
    smaller than ``PACK_BYTES`` into one shared uint8 buffer (large ones,
    already in shared memory after collation, travel as they are), and
    unpickles as a plain ``dict`` with the same keys, shapes, dtypes and
    values, the small tensors being views of that buffer.
    """

    def __copy__(self):
        return type(self)(self)

    def __reduce__(self):
        items = list(self.items())
        small = [(k, v) for k, v in items if isinstance(v, torch.Tensor) and v.device.type == "cpu"
                 and not v.requires_grad and v.numel() * v.element_size() < PACK_BYTES]
        if len(small) < 2:
            return dict, (items,)
        layout, total = [], 0
        for k, v in small:
            layout.append((k, v.dtype, tuple(v.shape), total))
            total += -(-v.numel() * v.element_size() // _ALIGN) * _ALIGN
        # in shared memory from the start, so that sending it copies nothing more
        buf = torch.empty(0, dtype=torch.uint8).set_(torch.UntypedStorage._new_shared(total))
        for (_, v), (_, dtype, shape, off) in zip(small, layout):
            buf[off: off + v.numel() * v.element_size()].view(dtype).view(shape).copy_(v)
        packed = {k for k, _ in small}
        return _unpack, ([k for k, _ in items], buf, layout, {k: v for k, v in items if k not in packed})


def _unpack(keys: list, buf: torch.Tensor, layout: list, rest: dict) -> dict:
    """A pickled :class:`Sample` as a plain dict in its key order: the packed fields are views of ``buf``."""
    out = dict(rest)
    for k, dtype, shape, off in layout:
        n = int(torch.Size(shape).numel()) * torch.empty((), dtype=dtype).element_size()
        out[k] = buf[off: off + n].view(dtype).view(shape)
    return {k: out[k] for k in keys}


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

    def __getitem__(self, index: int) -> Sample:
        item = Sample({k: torch.from_numpy(v) for k, v in self.reader[index].items()})
        return self.transform(item) if self.transform else item

    def __getitems__(self, indices: Sequence[int]) -> list[Sample]:
        """The items at ``indices`` (a list), read in one batch; what DataLoader's fetcher calls."""
        batch = {k: torch.from_numpy(v) for k, v in self.reader.take(indices).items()}
        items = [Sample(zip(batch, values)) for values in zip(*(t.unbind(0) for t in batch.values()))] \
            if batch else [Sample() for _ in indices]
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
