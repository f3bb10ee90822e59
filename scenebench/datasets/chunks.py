"""Decoded chunks of a shard's datasets, read without HDF5's per-call overhead.

A :class:`ShardChunks` opens one shard once per process. For every dataset
whose filter pipeline is one scenebench writes itself (``deflate`` or
``none``, see :mod:`.codecs`) it reads the chunk index once
(``chunk_iter``: file offset and size of every chunk) and then fetches a
chunk with one ``os.pread`` and decodes it with zlib-ng, in a few
microseconds. Any other pipeline (Blosc, or a file written by another
tool) is read through h5py, which runs HDF5's own filters. Either way the
result is the chunk's rows as an array, so callers never see the codec.

:class:`ChunkCache` keeps the most recently used decoded chunks up to a
byte budget (least recently used first out): per-object fields, whose
chunks hold hundreds of samples, are decoded once per process, and
neighbouring samples share their image chunk.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CorruptShardError, DatasetError
from .codecs import CODECS, Codec

DEFAULT_CACHE_BYTES = 256 * 2**20


@dataclass
class Field:
    """What one dataset of a shard is, and how to fetch its chunks."""

    name: str
    dtype: np.dtype
    shape: tuple  # per-sample
    rows: int  # samples per chunk
    num_rows: int
    fill: object
    codec: Codec | None  # the decoder of a pipeline scenebench reads itself, else None (through h5py)
    offsets: list | None = None  # byte offset of chunk c in the file (-1: not written)
    sizes: list | None = None
    nbytes_total: int = 0  # of the whole dataset, decoded
    decode: object = None  # stored chunk bytes -> chunk array (codec.decoder)
    last: int = 0  # index of the last chunk

    @property
    def chunk_shape(self) -> tuple:
        return (self.rows,) + self.shape



def _pipeline(ds) -> tuple[int, ...]:
    dcpl = ds.id.get_create_plist()
    return tuple(dcpl.get_filter(i)[0] for i in range(dcpl.get_nfilters()))


def _direct_codec(ds) -> Codec | None:
    """The codec whose pipeline ``ds`` declares, if scenebench can decode its chunks itself."""
    if ds.chunks is None:
        return None
    pipeline = _pipeline(ds)
    for codec in CODECS.values():
        if codec.direct and codec.pipeline(ds.dtype) == pipeline:
            return codec
    return None


class ShardChunks:
    """One shard opened for chunk reads (``fields``: the dataset names to read).

    ``expect`` maps shard attributes (fingerprint, split, first_index) to the
    values the manifest implies; a shard that disagrees is refused.
    """

    def __init__(self, path: str | os.PathLike, fields, plugin: bool = False, expect: dict | None = None):
        import h5py

        if plugin:
            import hdf5plugin  # noqa: F401  (registers the Blosc filter for h5py)

        self.path = Path(path)
        try:
            self.h5 = h5py.File(self.path, "r")
        except OSError as exc:
            raise DatasetError(f"{self.path}: not a readable HDF5 shard ({_first_line(exc)}); "
                               "`scenebench verify` checks a dataset, re-running `generate` rewrites it") from None
        for key, want in (expect or {}).items():  # the shard is the one the manifest lists, not another's
            got = self.h5.attrs.get(key)
            got = got.item() if hasattr(got, "item") else got
            if got != want:
                self.h5.close()
                raise DatasetError(f"{self.path}: its {key} attribute is {got!r}, the manifest expects {want!r}; "
                                   "the file belongs to another dataset or place (`scenebench verify` checks a dataset)")
        base = self.h5.id.get_create_plist().get_userblock()  # chunk addresses are relative to it
        self.fields: dict[str, Field] = {}
        self._fd = None
        for name in fields:
            if not isinstance(self.h5.get(name), h5py.Dataset):
                self.h5.close()
                raise DatasetError(f"{self.path}: no dataset {name!r}; expected the fields of the dataset's manifest")
            ds = self.h5[name]
            rows = ds.chunks[0] if ds.chunks else max(1, ds.shape[0])
            codec = _direct_codec(ds)
            f = Field(name, ds.dtype, ds.shape[1:], rows, ds.shape[0], ds.fillvalue, codec)
            f.nbytes_total = int(np.prod(ds.shape, dtype=np.int64)) * ds.dtype.itemsize
            if codec is not None:
                count = -(-ds.shape[0] // rows)
                f.offsets, f.sizes = [-1] * count, [0] * count
                f.decode, f.last = codec.decoder(ds.dtype, f.chunk_shape), count - 1

                def record(info, f=f):
                    if info.filter_mask == 0:  # a chunk with a skipped filter goes through HDF5
                        c = info.chunk_offset[0] // f.rows
                        f.offsets[c], f.sizes[c] = base + info.byte_offset, info.size

                ds.id.chunk_iter(record)
                if min(f.offsets, default=0) < 0:
                    f.codec = None
                else:
                    self._fd = self._fd or os.open(self.path, os.O_RDONLY)
            self.fields[name] = f

    def chunk(self, name: str, c: int) -> np.ndarray:
        """Rows ``c * rows : (c + 1) * rows`` of dataset ``name`` (fewer at the end of the shard)."""
        f = self.fields[name]
        a = self.fetcher(name)(c)
        return a if c < f.last else a[: f.num_rows - c * f.rows]

    def fetcher(self, name: str):
        """A function ``c -> chunk c of name`` (whole: the last chunk keeps its padding rows), the reader's hot path."""
        f = self.fields[name]
        if f.codec is None:
            return lambda c: self.rows(name, c * f.rows, (c + 1) * f.rows)
        fd, sizes, offsets, decode, path, pread = self._fd, f.sizes, f.offsets, f.decode, self.path, os.pread

        def fetch(c: int) -> np.ndarray:
            try:
                return decode(pread(fd, sizes[c], offsets[c]))
            except ValueError as exc:  # a damaged or cut-short chunk: name the place, like HDF5's own read error
                raise CorruptShardError(f"{path}: chunk {c} of {name} cannot be decoded ({exc}); the shard is "
                                        "damaged: `scenebench verify` checks it, re-running `generate` rewrites it") from None

        return fetch

    def rows(self, name: str, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` of ``name`` read by HDF5 (its filters, its Fletcher-32 check)."""
        try:
            return self.h5[name][start:stop]
        except OSError as exc:  # e.g. a Fletcher-32 mismatch: say where
            raise CorruptShardError(f"{self.path}: rows {start}-{stop} of {name} cannot be read ({_first_line(exc)}); "
                                    "the shard is damaged: `scenebench verify` checks it, re-running `generate` "
                                    "rewrites it") from None

    def column(self, name: str) -> np.ndarray:
        """The whole dataset ``name`` of this shard, decoded (for small per-object fields)."""
        f = self.fields[name]
        count = -(-f.num_rows // f.rows)
        if f.codec is None or not count:
            return self.rows(name, 0, f.num_rows)
        return np.concatenate([self.chunk(name, c) for c in range(count)])

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.h5.close()


class ChunkCache:
    """Decoded chunks by key, least recently used evicted beyond ``max_bytes``."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES):
        self.max_bytes = int(max_bytes)
        self.nbytes = 0
        self.items: OrderedDict = OrderedDict()  # key -> chunk array, least recently used first

    def get(self, key, shard: "ShardChunks", name: str, c: int) -> np.ndarray:
        """The cached chunk ``key``, or chunk ``c`` of ``name`` read from ``shard`` (and cached)."""
        a = self.items.get(key)
        if a is None:
            return self.put(key, shard.chunk(name, c))
        self.items.move_to_end(key)
        return a

    def put(self, key, a: np.ndarray) -> np.ndarray:
        """Keep ``a`` under ``key`` (evicting the least recently used beyond the budget); return it."""
        if a.nbytes <= self.max_bytes:
            self.items[key] = a
            self.nbytes += a.nbytes
            while self.nbytes > self.max_bytes:
                _, old = self.items.popitem(last=False)
                self.nbytes -= old.nbytes
        return a

    def clear(self) -> None:
        self.items.clear()
        self.nbytes = 0


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
