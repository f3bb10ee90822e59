"""Shard tasks: plan them, draw and write one, hash and check one.

A shard task is a plain, picklable record (dataset spec as a dict, split,
shard number, first sample index, sample count, output directory), so the
same task runs in-process, in a local process pool or on a Dask worker and
produces the same bytes.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..generator import DatasetSpec
from .codecs import DEFAULT, get_codec
from .identity import SCHEMA_VERSION, SampleStreams, canonical_json, dataset_rng
from .schema import Batch, RowWriter, batch_samples, create_datasets

TARGET_SHARD_BYTES = 64 * 2**20  # uncompressed bytes per shard
MAX_SHARD_SAMPLES = 10_000


@dataclass(frozen=True)
class ShardTask:
    spec: dict
    split: str
    shard: int
    num_shards: int
    first_index: int
    num_samples: int
    directory: str
    compression: str = "deflate"  # a name in scenebench.datasets.codecs.CODECS

    @property
    def filename(self) -> str:
        return f"{self.split}/shard-{self.shard:05d}-of-{self.num_shards:05d}.h5"

    @property
    def path(self) -> Path:
        return Path(self.directory) / self.filename


def sample_nbytes(spec: DatasetSpec, split: str) -> int:
    gen = spec.generator()
    return sum(int(np.prod(f.shape, dtype=np.int64)) * f.np_dtype.itemsize for f in gen.features(spec.split_config(split)))


def default_shard_size(spec: DatasetSpec, split: str) -> int:
    return int(max(1, min(MAX_SHARD_SAMPLES, TARGET_SHARD_BYTES // max(1, sample_nbytes(spec, split)))))


def plan(spec: DatasetSpec, split: str, directory: str | os.PathLike, shard_size: int | None = None,
         compression: str = DEFAULT) -> list[ShardTask]:
    n = int(spec.splits[split]["num_samples"])
    size = shard_size or default_shard_size(spec, split)
    count = max(1, -(-n // size))
    d = spec.to_dict()
    return [ShardTask(d, split, i, count, i * size, min(size, n - i * size), str(directory), compression)
            for i in range(count)]


# ---------------------------------------------------------------- drawing
_ASSETS: dict[str, object] = {}  # per-process cache: canonical (family, seed, split config) -> assets


def split_assets(spec: DatasetSpec, split: str, config=None):
    """Dataset-level assets for a split, prepared once per process."""
    gen = spec.generator()
    config = config if config is not None else spec.split_config(split)
    key = canonical_json([spec.family, spec.preset, spec.version, spec.seed, asdict(config)])
    if key not in _ASSETS:
        _ASSETS[key] = gen.prepare(config, dataset_rng(spec.stream_id, spec.seed, "assets"))
    return _ASSETS[key]


class SplitDrawer:
    """Draws samples of one split; generator, config, assets and streams are resolved once."""

    def __init__(self, spec: DatasetSpec, split: str):
        self.gen = spec.generator()
        self.config = spec.split_config(split)
        self.assets = split_assets(spec, split, self.config)
        self.streams = SampleStreams(spec.stream_id, spec.seed, split)
        self.features = self.gen.features(self.config)

    def into(self, first: int, count: int, batch: Batch) -> dict:
        """Draw samples ``first .. first+count-1`` into the first ``count`` slots of a padded ``batch``.

        Returns the ``{feature: (count, ...) array}`` views that were filled.
        """
        gen, config, assets = self.gen, self.config, self.assets
        arrays = batch.head(count)
        draw_batch = getattr(gen, "draw_batch", None)
        if draw_batch is not None:  # the generator draws the whole batch itself, from the same streams
            draw_batch(self.streams.source(np.arange(first, first + count)), config, assets, arrays)
        else:
            draw_scene, rng = gen.draw_scene, self.streams.rng
            for j in range(count):
                draw_scene(rng(first + j), config, assets, batch.row(j, first + j))
        gen.render_batch(config, assets, arrays)
        return arrays


def draw(spec: DatasetSpec, split: str, first: int, count: int) -> Batch:
    """Draw samples ``first .. first+count-1`` of ``split`` into a new :class:`Batch`."""
    drawer = SplitDrawer(spec, split)
    batch = Batch(drawer.features, count)
    drawer.into(first, count, batch)
    return batch


def draw_sample(spec: DatasetSpec, split: str, index: int) -> dict:
    """Regenerate sample ``index`` of ``split`` alone: ``{feature: array}``."""
    batch = draw(spec, split, index, 1)
    return {k: v[0] for k, v in batch.arrays.items()}


# ---------------------------------------------------------------- writing
def sha256_file(path: str | os.PathLike, bufsize: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(bufsize):
            h.update(chunk)
    return h.hexdigest()


def shard_attrs(task: ShardTask) -> dict:
    spec = DatasetSpec.from_dict(task.spec)
    return {
        "scenebench_schema_version": SCHEMA_VERSION,
        "fingerprint": spec.fingerprint,
        "family": spec.family,
        "preset": spec.preset,
        "version": spec.version,
        "seed": spec.seed,
        "split": task.split,
        "first_index": task.first_index,
        "num_samples": task.num_samples,
        "shard": task.shard,
        "num_shards": task.num_shards,
        "compression": task.compression,
    }


def write_shard(task: ShardTask) -> dict:
    """Draw and write one shard atomically; return its manifest entry.

    Samples are drawn batch by batch (:func:`batch_samples` samples) into one
    reused buffer, and each batch's chunks are encoded and written in order.
    (A second thread encoding batch k while batch k+1 is drawn was measured:
    the GIL hand-offs cost more than the GIL-free compression saves, up
    to ~25% slower with two workers on two cores.) The file is written under
    a temporary name in the same directory, flushed to disk and renamed, so
    a final name always holds a complete shard.
    """
    import h5py

    spec = DatasetSpec.from_dict(task.spec)
    codec = get_codec(task.compression)
    drawer = SplitDrawer(spec, task.split)
    n = task.num_samples
    step = batch_samples(drawer.features)
    batch = Batch(drawer.features, min(step, n))
    final = task.path
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f"{final.name}.tmp-{uuid.uuid4().hex[:12]}")
    try:
        # no chunk cache: each chunk is allocated and written when its dataset is
        # written, not whenever the garbage collector closes the dataset, so
        # the file layout (and its SHA-256) is the same in every process.
        # The HDF5 1.10 file format (read by HDF5 >= 1.10, 2018: h5py, h5dump,
        # MATLAB R2019b+, Julia, R's hdf5r) indexes a fixed-size dataset's
        # chunks in a fixed array: ~15 bytes per chunk, against ~65 in the
        # 1.8 format's B-tree.
        with h5py.File(tmp, "w", libver=("v110", "v110"), track_order=False, rdcc_nbytes=0) as f:
            for k, v in shard_attrs(task).items():
                f.attrs[k] = v
            f.attrs["identity"] = canonical_json({k: v for k, v in task.spec.items()})
            rows = RowWriter(create_datasets(f, drawer.features, n, codec), codec)
            # a batch is a whole number of chunks of every dataset
            for start in range(0, n, step):
                count = min(step, n - start)
                if start:
                    batch.reset(count)
                rows(drawer.into(task.first_index + start, count, batch), start)
        digest = _hash_while_syncing(tmp)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return shard_entry(task, digest)


def _hash_while_syncing(path: Path) -> str:
    """SHA-256 of a written file, computed while another thread flushes it to disk (fsync).

    The flush mostly waits on the disk, so hashing the page-cached bytes in
    the meantime hides most of it; both must finish before the file is renamed.
    """
    import threading

    error = []

    def sync():
        try:
            with open(path, "rb+") as fh:
                os.fsync(fh.fileno())
        except BaseException as exc:  # re-raised in the calling thread
            error.append(exc)

    syncer = threading.Thread(target=sync, name="scenebench-fsync")
    syncer.start()
    try:
        digest = sha256_file(path)
    finally:
        syncer.join()
    if error:
        raise error[0]
    return digest


def shard_entry(task: ShardTask, digest: str) -> dict:
    return {"file": task.filename, "first_index": task.first_index, "num_samples": task.num_samples, "sha256": digest}


def check_existing(task: ShardTask, known: dict | None) -> dict | None:
    """The entry of an already written shard if its bytes hash to ``known["sha256"]``.

    ``known`` is the entry recorded in the manifest or the progress journal
    when the shard was finished; a file without one (written just before an
    interruption) or with other bytes is not trusted and gets rewritten.
    """
    path = task.path
    if not known or not path.is_file() or known.get("num_samples") != task.num_samples:
        return None
    if known.get("first_index") != task.first_index or sha256_file(path) != known.get("sha256"):
        return None
    return shard_entry(task, known["sha256"])

