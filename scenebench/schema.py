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

    def chunk_samples(self) -> int:
        """Samples per HDF5 chunk: one for large samples, a few for small ones."""
        nbytes = max(1, int(np.prod(self.shape, dtype=np.int64)) * self.np_dtype.itemsize)
        return int(max(1, min(64, TARGET_CHUNK_BYTES // nbytes)))

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


def create_datasets(h5file, features: Iterable[Feature], n: int, data: Mapping[str, np.ndarray] | None = None) -> None:
    """Create (and optionally fill) one HDF5 dataset per feature in an open file."""
    filt = compression()
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
