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

# Chunks hold a power-of-two number of samples, up to ~TARGET_CHUNK_BYTES
# (one sample when a sample is larger), and at most LARGE_FIELD_ROWS samples
# of a per-pixel field (one of LARGE_FIELD_BYTES or more per sample). It is
# a trade between the two ways shards are used, both measured here:
# reading one random sample decodes its whole chunk (~5 us per inflate call
# plus ~0.3 us per KiB), while writing costs ~10-15 us per chunk (one zlib-ng
# call, one HDF5 call, Python between them). At 8 rows, against 4, writing
# multi-dSprites and multi-MNIST is ~20% faster and shuffled reads ~5-14%
# slower (benchmarks/generate.py, benchmarks/loader.py). Small per-object
# fields get up to a whole batch per chunk; the reader decodes a shard's
# worth of them once and keeps it.
TARGET_CHUNK_BYTES = 64 * 1024
LARGE_FIELD_BYTES = 512
LARGE_FIELD_ROWS = 8
# Shards are drawn and written in batches of a power-of-two number of samples,
# ~TARGET_BATCH_BYTES (so each batch fills whole chunks of every dataset):
# buffers are reused instead of holding (and page-faulting) a whole shard,
# and batches are large enough that a generator drawing a whole batch with
# numpy pays its per-batch overhead rarely (measured: 16 MB beats 2-8 MB).
TARGET_BATCH_BYTES = 16 * 2**20
MIN_BATCH_SAMPLES = 16
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


def _pow2_floor(x: float) -> int:
    return 1 << max(0, int(x).bit_length() - 1) if x >= 1 else 1


def batch_samples(features: Iterable[Feature]) -> int:
    """Samples per drawn-and-written batch: the power of two nearest ~TARGET_BATCH_BYTES, in [16, 2048]."""
    nbytes = max(1, sum(f.nbytes for f in features))
    n = _pow2_floor(TARGET_BATCH_BYTES * 1.5 / nbytes)  # nearest in log scale, within a factor sqrt(2)
    return int(min(MAX_BATCH_SAMPLES, max(MIN_BATCH_SAMPLES, n)))


def chunk_rows(feature: Feature, batch: int) -> int:
    """Samples per HDF5 chunk of ``feature``: a power of two of ~TARGET_CHUNK_BYTES at most, 1 to ``batch``.

    ``batch`` is :func:`batch_samples` of the dataset (a power of two), so
    every batch is a whole number of chunks.
    """
    rows = min(batch, _pow2_floor(TARGET_CHUNK_BYTES / max(1, feature.nbytes)))
    return int(min(rows, LARGE_FIELD_ROWS) if feature.nbytes >= LARGE_FIELD_BYTES else rows)


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


def create_datasets(h5file, features: Iterable[Feature], n: int, codec) -> dict:
    """Create one HDF5 dataset per feature in an open file; return ``{name: dataset}``.

    Chunks follow :func:`chunk_rows` (``n`` rows at most).
    ``codec`` (:class:`~scenebench.datasets.codecs.Codec`) declares the
    chunks' filter pipeline; a :class:`RowWriter` then writes the rows.
    """
    features = list(features)
    batch = batch_samples(features)
    out = {}
    for f in features:
        chunks = (min(max(n, 1), chunk_rows(f, batch)),) + f.shape
        # an explicit fill value makes HDF5 initialise the unused part of edge
        # chunks; without it those bytes are uninitialised memory and the file
        # bytes (and SHA-256) would differ from run to run
        kwargs = dict(shape=(n,) + f.shape, dtype=f.np_dtype, chunks=chunks if n else None, track_times=False,
                      fillvalue=np.array(f.fill, dtype=f.np_dtype))
        if n:
            kwargs.update(codec.dataset_kwargs(f.np_dtype))
        ds = h5file.create_dataset(f.name, **kwargs)
        if f.doc:
            ds.attrs["doc"] = f.doc
        if f.labels:
            ds.attrs["labels"] = ",".join(f.labels)
        out[f.name] = ds
    return out


class RowWriter:
    """Writes rows of a shard's datasets, whole chunks at a time, in two steps.

    ``encoded = writer.encode(arrays, start)`` turns ``arrays`` (each
    ``(m, ...)``, rows ``start : start + m``) into finished chunks: with a
    direct codec (deflate, none) each chunk is filtered here (a last partial
    chunk padded with the fill value, as HDF5 would); it touches no HDF5
    object. ``writer.write(encoded)`` then hands the chunks to HDF5
    (``write_direct_chunk``) in order; ``writer(arrays, start)`` does both. A codec HDF5 runs itself (Blosc) is written by a low-level
    write per dataset in ``write`` (h5py's slicing costs more than the
    write for small batches).

    ``start`` must be a multiple of every dataset's chunk rows, and so must
    ``m`` except for the last rows of a dataset (see :func:`batch_samples`),
    so every chunk is written once, whole.
    """

    def __init__(self, datasets: Mapping[str, Any], codec):
        self.codec = codec
        # plain facts read once, so that encode() needs no HDF5 call
        self._layout = [(name, ds, ds.chunks[0] if ds.chunks else 1, ds.dtype, ds.fillvalue)
                        for name, ds in datasets.items()]

    def encode(self, arrays: Mapping[str, np.ndarray], start: int) -> list:
        out = []
        for name, ds, rows, dtype, fill in self._layout:
            a = np.ascontiguousarray(arrays[name], dtype=dtype)
            if not len(a):
                continue
            if not self.codec.direct:
                out.append((ds, start, a.copy()))
                continue
            if start % rows:
                raise ValueError(f"{name}: rows from {start} do not start a chunk of {rows} rows")
            whole = len(a) // rows * rows
            chunks = list(a[:whole].reshape((-1, rows) + a.shape[1:]))
            if whole < len(a):
                last = np.full((rows,) + a.shape[1:], fill, dtype=dtype)
                last[:len(a) - whole] = a[whole:]
                chunks.append(last)
            out.append((ds, start, rows, self.codec.encode(chunks)))
        return out

    def write(self, encoded: list) -> None:
        import h5py

        for item in encoded:
            if len(item) == 3:  # filtered by HDF5
                ds, start, a = item
                file_space = ds.id.get_space()
                file_space.select_hyperslab((start,) + (0,) * (a.ndim - 1), a.shape)
                ds.id.write(h5py.h5s.create_simple(a.shape), file_space, a)
                continue
            ds, start, rows, stored = item
            tail = (0,) * (len(ds.shape) - 1)
            put = ds.id.write_direct_chunk
            for j, data in enumerate(stored):
                put((start + j * rows,) + tail, data, 0)

    def __call__(self, arrays: Mapping[str, np.ndarray], start: int) -> None:
        """Encode and write at once."""
        self.write(self.encode(arrays, start))
