"""Read a split of a generated dataset with numpy (no torch needed).

    >>> from scenebench.datasets.reader import SplitReader, iterate
    >>> r = SplitReader("data/multi_dsprites/lavae/v1.2.0-seed0", "test")
    >>> len(r), r[0]["image"].shape
    (10000, (64, 64, 3))
    >>> batch = r.take([17, 3, 9000])          # stacked arrays, in the order asked
    >>> for batch in iterate(r.directory, "test", batch_size=256): ...

Reads go through :mod:`.chunks`: each needed chunk is fetched once, decoded
once and kept in a bounded per-process cache, so random access costs about
one chunk decode per field, and a batch of random indices (``take``, what
the torch Dataset's ``__getitems__`` uses) decodes each chunk it touches
once. ``in_memory=True`` reads the split's fields into memory at once
instead, for splits that fit.

File handles are opened lazily and re-opened after a fork, so one reader can
be shared with worker processes.
"""

from __future__ import annotations

import operator
import os
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from .chunks import DEFAULT_CACHE_BYTES, ChunkCache, ShardChunks
from .codecs import CODECS
from ..errors import ConfigError, DatasetError
from .manifest import manifest_compression, read_manifest

BLOCK = 256  # samples per batch of the per-sample iterator
COLUMN_BYTES = 4 * 2**20  # a field this small per shard is decoded whole and cached as one array


def resolve_dataset(path_or_name: str | os.PathLike, root: str | os.PathLike | None = None) -> Path:
    """A dataset directory from a path (dataset dir or its manifest) or a name under ``root``.

    Names are ``family/preset/vVERSION-seedSEED`` (exactly that dataset),
    ``family/preset@SEED`` (its newest version with that seed) or
    ``family/preset`` (the newest with seed 0); ``root`` defaults to
    ``$SCENEBENCH_DATA``, else ``./data``.
    """
    p = Path(path_or_name)
    if p.name == "manifest.json":
        p = p.parent
    if (p / "manifest.json").is_file():
        return p
    base = Path(root or os.environ.get("SCENEBENCH_DATA", "data"))
    name, seed = str(path_or_name), 0
    if "@" in name:
        name, _, tail = name.rpartition("@")
        if not tail.isdigit():
            raise DatasetError(f"{path_or_name}: expected family/preset@SEED with a non-negative integer seed")
        seed = int(tail)
    cand = base / name
    if (cand / "manifest.json").is_file():
        return cand
    if cand.is_dir():
        versions = sorted((d for d in cand.iterdir() if (d / "manifest.json").is_file()
                           and d.name.endswith(f"-seed{seed}")), key=lambda d: _version_key(d.name))
        if versions:
            return versions[-1]
    raise DatasetError(f"{path_or_name}: no dataset found (looked for a manifest.json at {p} and under {base}); "
                       "expected a dataset directory, or family/preset[@SEED] or family/preset/vVERSION-seedSEED "
                       "under $SCENEBENCH_DATA")


def _version_key(name: str):
    v = name[1:].split("-seed")[0]
    return tuple(int(x) if x.isdigit() else 0 for x in v.split("."))


class SplitReader:
    """Random and batched access to one split: ``reader[i]`` and ``reader.take(indices)`` give numpy arrays.

    Args:
        path_or_name: a dataset directory, its manifest, or ``family/preset`` under ``root``.
        split: the split to read.
        fields: feature names to read (default: all).
        cache_bytes: budget of decoded chunks kept per process (default 256 MiB).
        in_memory: read every selected field of the split into memory now
            (``split_nbytes`` tells how much that is); reads are then plain
            array indexing.
    """

    def __init__(self, path_or_name, split: str, fields: Sequence[str] | None = None, root=None,
                 manifest: dict | None = None, *, cache_bytes: int = DEFAULT_CACHE_BYTES, in_memory: bool = False):
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
        self.starts = np.array([e["first_index"] for e in self.shards], np.int64)
        self.num_samples = int(splits[split]["num_samples"])
        features = {f["name"]: f for f in self.manifest["features"][split]}
        names = list(features)
        if fields is not None:
            unknown = [f for f in fields if f not in features]
            if unknown:
                raise ConfigError(f"unknown field(s) {', '.join(unknown)}; fields: {', '.join(names)}")
            names = list(fields)
        self.fields = names
        self._shapes = {k: tuple(features[k]["shape"]) for k in names}
        self._dtypes = {k: np.dtype(features[k]["dtype"]) for k in names}
        self.compression = manifest_compression(self.manifest)
        codec = CODECS.get(self.compression)
        self._plugin = codec is None or codec.plugin
        self._cache = ChunkCache(cache_bytes)
        self._files: dict = {}
        self._pid = None
        self._memory = None
        if in_memory:
            self._memory = self.read(0, self.num_samples)
            self.close()

    @property
    def split_nbytes(self) -> int:
        """Bytes of the selected fields of the whole split, decoded."""
        return sum(self.num_samples * int(np.prod(s, dtype=np.int64)) * self._dtypes[k].itemsize
                   for k, s in self._shapes.items())

    def __len__(self) -> int:
        return self.num_samples

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_files"], state["_pid"], state["_cache"] = {}, None, ChunkCache(self._cache.max_bytes)
        return state

    def _shard(self, shard: int) -> ShardChunks:
        if self._pid != os.getpid():  # fresh process (fork/spawn): never reuse a parent's handle
            self._files, self._pid = {}, os.getpid()
            self._cache.clear()
        s = self._files.get(shard)
        if s is None:
            e = self.shards[shard]
            s = self._files[shard] = ShardChunks(self.directory / e["file"], self.fields, self._plugin,
                                                 {"fingerprint": self.manifest["fingerprint"], "split": self.split,
                                                  "first_index": e["first_index"]})
        return s

    def close(self) -> None:
        if self._pid == os.getpid():
            for s in self._files.values():
                s.close()
        self._files = {}
        self._cache.clear()

    def _positions(self, indices) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(indices normalised to [0, N), their shard, their row in the shard)."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = self.num_samples
        if idx.size and (idx.min() < -n or idx.max() >= n):
            bad = int(idx[(idx < -n) | (idx >= n)][0])
            raise IndexError(f"sample {bad} out of range for {n} samples")
        idx = idx % n if n else idx
        shard = np.searchsorted(self.starts, idx, side="right") - 1
        return idx, shard, idx - self.starts[shard]

    def take(self, indices) -> dict:
        """Samples ``indices`` (any order, repeats allowed) as ``{field: (len(indices), ...) array}``.

        Each chunk the indices touch is decoded once (or found in the cache).
        """
        idx, shard, local = self._positions(indices)
        if self._memory is not None:
            return {k: v[idx] for k, v in self._memory.items()}
        shards = np.unique(shard).tolist()
        opened = {s: self._shard(s) for s in shards}
        # positions of each shard's samples, for the fields read as whole columns
        by_shard = [(s, slice(None), local) for s in shards] if len(shards) == 1 else \
            [(s, sel, local[sel]) for s in shards for sel in (np.flatnonzero(shard == s),)]
        out = {}
        for name in self.fields:
            a = np.empty((len(idx),) + self._shapes[name], self._dtypes[name])
            if len(idx):
                if all(c.fields[name].nbytes_total <= COLUMN_BYTES for c in opened.values()):
                    self._gather_columns(name, opened, by_shard, a)
                else:
                    self._gather(name, opened, shard, local, a)
            out[name] = a
        return out

    def _gather_columns(self, name: str, opened: dict, by_shard: list, out: np.ndarray) -> None:
        """Fill ``out`` from fields small enough to be decoded whole per shard (``COLUMN_BYTES``) and cached.

        The per-object fields and counts: a batch then reads each with one
        fancy index per shard.
        """
        cache, items = self._cache, self._cache.items
        for s, sel, rows in by_shard:
            ckey = (s, name, None)
            column = items.get(ckey)
            if column is None:
                column = cache.put(ckey, opened[s].column(name))
            else:
                items.move_to_end(ckey)
            out[sel] = column[rows]

    def _gather(self, name: str, opened: dict, shard: np.ndarray, local: np.ndarray, out: np.ndarray) -> None:
        """Fill ``out[j] = sample (shard[j], local[j])`` of field ``name``, decoding each chunk once.

        A batch of random indices touches about one chunk per sample, which
        a later batch is unlikely to touch again: its chunks are decoded and
        dropped. A single sample (``reader[i]``: sequential access, where the
        next index is in the same chunk) goes through the chunk cache.
        """
        if len(opened) == 1:
            (s0, chunks), = opened.items()
            rows = chunks.fields[name].rows
        else:  # the chunk size can differ between shards (a short last shard)
            rows_of = np.zeros(int(shard.max()) + 1, np.int64)
            for s, chunks in opened.items():
                rows_of[s] = chunks.fields[name].rows
            rows = rows_of[shard]
        chunk = local // rows
        within = local - chunk * rows
        if len(local) == 1:
            s, c = int(shard[0]), int(chunk[0])
            out[0] = self._cache.get((s, name, c), opened[s], name, c)[int(within[0])]
            return
        key = shard * (int(chunk.max()) + 1) + chunk
        order = np.argsort(key, kind="stable")
        ks = key[order]
        first = np.flatnonzero(np.concatenate(([True], ks[1:] != ks[:-1])))
        ends = np.append(first[1:], len(ks)).tolist()
        order_l, within_o = order.tolist(), within[order]
        within_l = within_o.tolist()
        fetch, current = None, None
        for g, (s, c, lo) in enumerate(zip(shard[order[first]].tolist(), chunk[order[first]].tolist(),
                                           first.tolist())):
            if s != current:
                current, fetch = s, opened[s].fetcher(name)
            block = fetch(c)
            hi = ends[g]
            if hi - lo == 1:
                out[order_l[lo]] = block[within_l[lo]]
            else:
                out[order[lo:hi]] = block[within_o[lo:hi]]

    def __getitem__(self, index: int) -> dict:
        return {k: v[0, ...] for k, v in self.take([operator.index(index)]).items()}

    def read(self, start: int, stop: int) -> dict:
        """Samples ``start:stop`` as stacked arrays (may span shards)."""
        start, stop = max(0, start), min(stop, self.num_samples)
        if self._memory is not None:
            return {k: v[start:stop] for k, v in self._memory.items()}
        out = {k: np.empty((max(0, stop - start),) + self._shapes[k], self._dtypes[k]) for k in self.fields}
        i = start
        while i < stop:
            shard = int(np.searchsorted(self.starts, i, side="right") - 1)
            local = i - int(self.starts[shard])
            n = min(stop - i, self.shards[shard]["num_samples"] - local)
            chunks = self._shard(shard)
            for name in self.fields:
                f = chunks.fields[name]
                if f.codec is None:  # HDF5 runs the filters: one read of the whole range
                    out[name][i - start: i - start + n] = chunks.rows(name, local, local + n)
                    continue
                r = f.rows
                for c in range(local // r, (local + n - 1) // r + 1):
                    lo, hi = max(local, c * r), min(local + n, (c + 1) * r)
                    # a chunk read whole, in order, is not kept: the next read moves on
                    whole = lo == c * r and hi == (c + 1) * r
                    block = chunks.chunk(name, c) if whole else self._cache.get((shard, name, c), chunks, name, c)
                    out[name][i - local + lo - start: i - local + hi - start] = block[lo - c * r: hi - c * r]
            i += n
        return out

    def __iter__(self) -> Iterator[dict]:
        for i in range(0, self.num_samples, BLOCK):
            block = self.read(i, i + BLOCK)
            for j in range(len(next(iter(block.values())))):
                yield {k: v[j] for k, v in block.items()}


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
