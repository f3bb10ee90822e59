"""Read a split of a generated dataset with numpy (no torch needed).

    >>> from scenebench.datasets.reader import SplitReader, iterate
    >>> r = SplitReader("data/multi_dsprites/lavae/v1.0.0-seed0", "test")
    >>> len(r), r[0]["image"].shape
    (10000, (64, 64, 3))
    >>> for batch in iterate(r.directory, "test", batch_size=256): ...

File handles are opened lazily and re-opened after a fork, so one reader can
be shared with worker processes.
"""

from __future__ import annotations

import bisect
import os
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ..errors import ConfigError, DatasetError
from .manifest import read_manifest

BLOCK = 64  # samples read at once for per-sample access (one HDF5 read per field per block)


def resolve_dataset(path_or_name: str | os.PathLike, root: str | os.PathLike | None = None) -> Path:
    """A dataset directory from a path (dataset dir or its manifest) or ``family/preset[/vX-seedN]``."""
    p = Path(path_or_name)
    if p.name == "manifest.json":
        p = p.parent
    if (p / "manifest.json").is_file():
        return p
    base = Path(root or os.environ.get("SCENEBENCH_DATA", "data"))
    cand = base / p
    if (cand / "manifest.json").is_file():
        return cand
    if cand.is_dir():
        versions = sorted((d for d in cand.iterdir() if (d / "manifest.json").is_file() and d.name.endswith("-seed0")),
                          key=lambda d: _version_key(d.name))
        if versions:
            return versions[-1]
    raise DatasetError(f"{path_or_name}: no dataset found (looked for a manifest.json at {p} and under {base}); "
                       "expected a dataset directory or family/preset under $SCENEBENCH_DATA")


def _version_key(name: str):
    v = name[1:].split("-seed")[0]
    return tuple(int(x) if x.isdigit() else 0 for x in v.split("."))


class SplitReader:
    """Random access to one split: ``reader[i]`` is a dict of numpy arrays."""

    def __init__(self, path_or_name, split: str, fields: Sequence[str] | None = None, root=None,
                 manifest: dict | None = None):
        if manifest is None:
            self.directory = resolve_dataset(path_or_name, root)
            manifest = read_manifest(self.directory)
        else:  # a manifest about to be written (dataset card of a run in progress)
            self.directory = Path(path_or_name)
        self.manifest = manifest
        splits = self.manifest["splits"]
        if split not in splits:
            raise ConfigError(f"split {split!r} not in {self.directory}; splits: {', '.join(splits)}")
        self.split = split
        self.shards = splits[split]["shards"]
        self.starts = [e["first_index"] for e in self.shards]
        self.num_samples = int(splits[split]["num_samples"])
        names = [f["name"] for f in self.manifest["features"][split]]
        if fields is not None:
            unknown = [f for f in fields if f not in names]
            if unknown:
                raise ConfigError(f"unknown field(s) {', '.join(unknown)}; fields: {', '.join(names)}")
            names = list(fields)
        self.fields = names
        self._files: dict = {}
        self._pid = None
        self._block = (None, None, None)  # (shard, start, arrays)

    def __len__(self) -> int:
        return self.num_samples

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_files"], state["_pid"], state["_block"] = {}, None, (None, None, None)
        return state

    def _file(self, shard: int):
        import h5py
        import hdf5plugin  # noqa: F401  (registers the Blosc filter)

        if self._pid != os.getpid():  # fresh process (fork/spawn): never reuse a parent's handle
            self._files, self._pid = {}, os.getpid()
        f = self._files.get(shard)
        if f is None:
            f = self._files[shard] = h5py.File(self.directory / self.shards[shard]["file"], "r")
        return f

    def close(self) -> None:
        if self._pid == os.getpid():
            for f in self._files.values():
                f.close()
        self._files, self._block = {}, (None, None, None)

    def _locate(self, index: int) -> tuple[int, int]:
        if not -self.num_samples <= index < self.num_samples:
            raise IndexError(f"sample {index} out of range for {self.num_samples} samples")
        index %= self.num_samples
        shard = bisect.bisect_right(self.starts, index) - 1
        return shard, index - self.starts[shard]

    def __getitem__(self, index: int) -> dict:
        shard, local = self._locate(int(index))
        bshard, bstart, arrays = self._block
        if bshard != shard or not bstart <= local < bstart + BLOCK or self._pid != os.getpid():
            bstart = local - local % BLOCK
            arrays = self._read(shard, bstart, bstart + BLOCK)
            self._block = (shard, bstart, arrays)
        return {k: v[local - bstart, ...].copy() for k, v in arrays.items()}

    def _read(self, shard: int, start: int, stop: int) -> dict:
        f = self._file(shard)
        return {k: f[k][start:stop] for k in self.fields}

    def read(self, start: int, stop: int) -> dict:
        """Samples ``start:stop`` as stacked arrays (may span shards)."""
        start, stop = max(0, start), min(stop, self.num_samples)
        parts = []
        i = start
        while i < stop:
            shard, local = self._locate(i)
            n = min(stop - i, self.shards[shard]["num_samples"] - local)
            parts.append(self._read(shard, local, local + n))
            i += n
        if not parts:
            return {k: np.empty((0,)) for k in self.fields}
        if len(parts) == 1:
            return parts[0]
        return {k: np.concatenate([p[k] for p in parts]) for k in self.fields}

    def __iter__(self) -> Iterator[dict]:
        for i in range(self.num_samples):
            yield self[i]


def iterate(path_or_name, split: str, *, batch_size: int | None = None, fields: Sequence[str] | None = None,
            start: int = 0, stop: int | None = None, root=None) -> Iterator[dict]:
    """Yield samples (``batch_size=None``) or batches of stacked arrays, in order."""
    reader = SplitReader(path_or_name, split, fields, root)
    stop = reader.num_samples if stop is None else min(stop, reader.num_samples)
    try:
        step = batch_size or BLOCK
        for i in range(start, stop, step):
            block = reader.read(i, min(i + step, stop))
            if batch_size:
                yield block
            else:
                n = len(next(iter(block.values())))
                for j in range(n):
                    yield {k: v[j] for k, v in block.items()}
    finally:
        reader.close()
