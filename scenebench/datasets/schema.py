"""A generator's declared features and the HDF5 layout derived from them.

A generator lists what one sample holds as :class:`Feature` records
(name, per-sample shape, dtype, padding value, meaning). Everything about
storage — dataset shapes, chunking, compression, padding, the batch buffers
the writer fills — is derived here, once, from that declaration. Adding a
field to a dataset is one line in its generator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np

# Compression, chosen by benchmarks/compression.py (numbers in the README):
# Blosc-LZ4 with byte shuffle writes ~4x and reads ~3x faster than gzip-1 at
# ~1.5x its size. lzf was rejected: its output is not deterministic (liblzf
# leaves its hash table uninitialised), so shard SHA-256s would vary.
# Reading shards outside scenebench needs `import hdf5plugin` first.
BLOSC = dict(cname="lz4", clevel=5)
# Target bytes per chunk when a sample is small: a few samples share a chunk
# so that per-chunk overhead stays small; large samples get one chunk each.
TARGET_CHUNK_BYTES = 64 * 1024
MAX_CHUNK_SAMPLES = 64  # a power of two; chunk sample counts are powers of two up to it
# Shards are drawn and written in batches of about this many bytes (a
# multiple of MAX_CHUNK_SAMPLES samples, so each batch fills whole chunks):
# buffers are reused instead of holding (and page-faulting) a whole shard,
# and batches are large enough that a generator drawing a whole batch with
# numpy pays its per-batch overhead rarely (measured: 16 MB beats 2-8 MB).
TARGET_BATCH_BYTES = 16 * 2**20
MAX_BATCH_SAMPLES = 2048


@dataclass(frozen=True)
class Feature:
    """One array stored per sample.

    Attributes:
        name: HDF5 path inside the shard, e.g. ``"image"`` or ``"objects/scale"``.
        shape: per-sample shape (without the leading sample axis).
        dtype: numpy dtype name.
        fill: padding value for unused object slots (NaN for floats, -1 for
            signed ints, 0/False otherwise). Also the buffer's initial value.
        doc: one-line meaning, written into the dataset card and HDF5 attrs.
        labels: optional names for integer codes (e.g. shape names).
    """

    name: str
    shape: tuple
    dtype: str
    fill: Any = None
    doc: str = ""
    labels: tuple = field(default_factory=tuple)

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        dt = np.dtype(self.dtype)
        if dt.kind not in "biuf":
            raise TypeError(f"feature {self.name!r}: dtype {dt} is not a fixed-size numeric type")
        object.__setattr__(self, "dtype", dt.name)
        if self.fill is None:
            object.__setattr__(self, "fill", _default_fill(dt))

    @property
    def np_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)

    @property
    def nbytes(self) -> int:
        """Bytes of one sample of this feature."""
        return int(np.prod(self.shape, dtype=np.int64)) * self.np_dtype.itemsize

    def chunk_samples(self) -> int:
        """Samples per HDF5 chunk: one for large samples, a power of two up to 64 for small ones."""
        fit = max(1, min(MAX_CHUNK_SAMPLES, TARGET_CHUNK_BYTES // max(1, self.nbytes)))
        return 1 << (int(fit).bit_length() - 1)

    def describe(self) -> dict:
        d = {"name": self.name, "shape": list(self.shape), "dtype": self.dtype, "doc": self.doc}
        fill = self.fill
        d["fill"] = None if isinstance(fill, float) and np.isnan(fill) else (fill.item() if isinstance(fill, np.generic) else fill)
        if self.labels:
            d["labels"] = list(self.labels)
        return d


def _default_fill(dt: np.dtype):
    if dt.kind == "f":
        return float("nan")
    if dt.kind == "i":
        return -1
    if dt.kind == "b":
        return False
    return 0


def check_features(features: Iterable[Feature]) -> list[Feature]:
    feats = list(features)
    names = [f.name for f in feats]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate feature names in {names}")
    for required in ("image", "num_objects"):
        if required not in names:
            raise ValueError(f"a generator must declare a {required!r} feature")
    return feats


class Batch:
    """Preallocated arrays for ``n`` samples of a feature list (the shard buffer).

    ``batch.row(i, index)`` gives the :class:`Row` a generator fills for
    buffer slot ``i``, which holds sample ``index`` of its split.
    """

    def __init__(self, features: Iterable[Feature], n: int):
        self.features = check_features(features)
        self.n = n
        self.arrays = {f.name: np.full((n,) + f.shape, f.fill, dtype=f.np_dtype) for f in self.features}
        self._fills = {f.name: f.fill for f in self.features}

    def row(self, i: int, index: int | None = None) -> "Row":
        return Row({name: a[i, ...] for name, a in self.arrays.items()}, self._fills, i if index is None else index)

    def reset(self, count: int | None = None) -> None:
        """Restore the padding values of the first ``count`` samples (all by default), to draw a new batch."""
        for name, a in self.arrays.items():
            a[:count] = self._fills[name]

    def head(self, count: int) -> dict:
        """``{name: array[:count]}``: views of the first ``count`` samples."""
        return self.arrays if count == self.n else {name: a[:count] for name, a in self.arrays.items()}


def batch_samples(features: Iterable[Feature]) -> int:
    """Samples per drawn-and-written batch: ~TARGET_BATCH_BYTES, a multiple of every chunk size."""
    nbytes = max(1, sum(f.nbytes for f in features))
    n = max(MAX_CHUNK_SAMPLES, min(MAX_BATCH_SAMPLES, TARGET_BATCH_BYTES // nbytes))
    return int(n // MAX_CHUNK_SAMPLES * MAX_CHUNK_SAMPLES)


class Row(dict):
    """Writable per-sample views ``name -> array`` (0-d arrays for scalars), pre-filled with padding.

    A generator writes its sample into these views (``out["image"][...] = ...``,
    ``out["objects/scale"][k] = ...``, ``out["num_objects"][()] = n``); slots it
    does not touch keep their padding value. ``reset()`` restores the padding,
    for a generator that abandons a draw and starts the scene again.
    ``index`` is the sample's index in its split, for generators whose
    samples follow a source in order (plain MNIST: sample i is digit i).
    """

    def __init__(self, views: dict, fills: dict, index: int = 0):
        super().__init__(views)
        self._fills = fills
        self.index = index

    def reset(self) -> None:
        for name, view in self.items():
            view[...] = self._fills[name]


def compression() -> dict:
    """h5py keyword arguments of the shard compression filter."""
    import hdf5plugin

    return dict(hdf5plugin.Blosc(shuffle=hdf5plugin.Blosc.SHUFFLE, **BLOSC))


def create_datasets(h5file, features: Iterable[Feature], n: int, data: Mapping[str, np.ndarray] | None = None) -> dict:
    """Create (and optionally fill) one HDF5 dataset per feature in an open file; return ``{name: dataset}``."""
    filt = compression()
    out = {}
    for f in features:
        chunks = (min(max(n, 1), f.chunk_samples()),) + f.shape
        # an explicit fill value makes HDF5 initialise the unused part of edge
        # chunks; without it those bytes are uninitialised memory and the file
        # bytes (and SHA-256) would differ from run to run
        kwargs = dict(shape=(n,) + f.shape, dtype=f.np_dtype, chunks=chunks if n else None, track_times=False,
                      fillvalue=np.array(f.fill, dtype=f.np_dtype))
        if n:
            kwargs.update(filt)
        if data is not None:
            kwargs["data"] = data[f.name]
        ds = h5file.create_dataset(f.name, **kwargs)
        if f.doc:
            ds.attrs["doc"] = f.doc
        if f.labels:
            ds.attrs["labels"] = ",".join(f.labels)
        out[f.name] = ds
    return out


def write_rows(datasets: Mapping[str, Any], arrays: Mapping[str, np.ndarray], start: int) -> None:
    """Write ``arrays`` (each ``(m, ...)``) into rows ``start : start + m`` of ``datasets``.

    A low-level HDF5 write per dataset (h5py's slicing costs more than the
    write for small batches). Rows should cover whole chunks (see
    :func:`batch_samples`): a partly written chunk would be read back and
    rewritten on the next write.
    """
    import h5py

    for name, ds in datasets.items():
        a = np.ascontiguousarray(arrays[name], dtype=ds.dtype)
        if not len(a):
            continue
        file_space = ds.id.get_space()
        file_space.select_hyperslab((start,) + (0,) * (a.ndim - 1), a.shape)
        ds.id.write(h5py.h5s.create_simple(a.shape), file_space, a)
