"""Images of a generated split, in memory, with a deterministic batch order.

The LAVAE-style datasets are small per image (64x64, uint8), so a training
split is read once into a ``(N, C, H, W)`` uint8 tensor (190k MNIST images:
0.8 GB; RGB dSprites: 2.3 GB) and batches are indexed from it.

Batch order is a pure function of ``(seed, step)``: epoch ``e`` visits the
training images in the permutation drawn from
``Generator(Philox(SeedSequence([seed, e])))``, dropping the last incomplete
batch, so a resumed run sees exactly the batches the uninterrupted run would.

Datasets whose samples hold several images -- the views of a multi-view
scene (CLE-MV: ``image`` is ``(V, H, W, C)``) or the frames of a sequence --
are read as single images, sample after sample (``DataInfo.images_per_sample``
says how many each sample has): models of single images (MONet, IODINE)
train on every view, and :mod:`.predict` groups their per-image predictions
back into per-sample fields.

A model of whole scenes (``Baseline.input_layout = "scenes"``, e.g. MulMON)
reads every sample as one unit instead: ``TrainData(..., layout="scenes",
fields=(...))`` holds dicts of tensors, ``image`` uint8 ``(N, V, C, H, W)``
(``V = 1`` for still images) and each extra field the model reads (e.g.
``camera/position`` ``(N, V, 3)``) as float32; batches are dicts of the same
keys with ``batch_size`` scenes, and :func:`scene_input` makes them model input.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from scenebench.errors import ConfigError, DatasetError

READ_BLOCK = 4096  # images per HDF5 read


@dataclass(frozen=True)
class DataInfo:
    """What a model needs to know about its data (saved in checkpoints)."""

    channels: int
    height: int
    width: int
    family: str = ""
    preset: str = ""
    fingerprint: str = ""
    directory: str = ""
    images_per_sample: int = 1  # V views / T frames per sample (flattened into single images), 1 for still images

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d) -> "DataInfo":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    def compatible(self, other: "DataInfo") -> bool:
        """Same image geometry (a model trained on one can score the other)."""
        return (self.channels, self.height, self.width) == (other.channels, other.height, other.width)


def dataset_info(path) -> DataInfo:
    """:class:`DataInfo` of a dataset directory (or ``family/preset`` name), from its manifest."""
    from scenebench.datasets.reader import resolve_dataset
    from scenebench.datasets.manifest import read_manifest

    directory = resolve_dataset(path)
    manifest = read_manifest(directory)
    shapes = {f["name"]: f["shape"] for feats in manifest["features"].values() for f in feats}
    if "image" not in shapes:
        raise DatasetError(f"{directory}: has no 'image' feature; the baselines need images")
    shape = shapes["image"]
    if len(shape) not in (3, 4):
        raise DatasetError(f"{directory}: image feature has shape {shape}; the baselines expect (H, W, C) images "
                           "or (V, H, W, C) views / frames per sample")
    per = int(shape[0]) if len(shape) == 4 else 1
    h, w, c = shape[-3:]
    ident = manifest.get("identity", {})
    return DataInfo(int(c), int(h), int(w), ident.get("family", ""), ident.get("preset", ""),
                    manifest.get("fingerprint", ""), str(directory), per)


def flatten_samples(images: np.ndarray) -> np.ndarray:
    """``(n, H, W, C)`` images, or ``(n, V, H, W, C)`` views / frames -> ``(n * V, H, W, C)`` single images."""
    return images if images.ndim == 4 else images.reshape(-1, *images.shape[-3:])


def read_images(path, split: str, start: int = 0, stop: int | None = None, progress=None):
    """Images of samples ``start:stop`` of ``split`` as a uint8 tensor ``(N, C, H, W)``.

    A sample with ``V`` views (or frames) gives ``V`` consecutive images, so ``N = V * (stop - start)``.
    """
    import torch

    from scenebench.datasets.reader import SplitReader

    reader = SplitReader(path, split, fields=["image"])
    try:
        stop = len(reader) if stop is None else min(stop, len(reader))
        out = None
        for i in range(start, stop, READ_BLOCK):
            block = reader.read(i, min(i + READ_BLOCK, stop))["image"]  # (n, H, W, C) or (n, V, H, W, C)
            per = 1 if block.ndim == 4 else block.shape[1]
            block = flatten_samples(block)
            if out is None:
                out = torch.empty((per * (stop - start), block.shape[3], block.shape[1], block.shape[2]),
                                  dtype=torch.uint8)
            j = per * (i - start)
            out[j: j + len(block)] = torch.from_numpy(np.ascontiguousarray(block.transpose(0, 3, 1, 2)))
            if progress is not None:
                progress(len(block) // per)
        if out is None:
            raise DatasetError(f"{reader.directory}: split {split!r} has no images in [{start}, {stop})")
        return out
    finally:
        reader.close()


def read_scenes(path, split: str, fields=(), start: int = 0, stop: int | None = None) -> dict:
    """Samples ``start:stop`` of ``split`` as whole scenes: ``image`` uint8 ``(N, V, C, H, W)`` and ``fields`` float32.

    Still images give ``V = 1``. Each field keeps its stored per-sample shape, ``(N, *shape)``.
    """
    import torch

    from scenebench.datasets.reader import SplitReader

    names = ["image", *fields]
    reader = SplitReader(path, split, fields=names)
    try:
        stop = len(reader) if stop is None else min(stop, len(reader))
        parts: dict = {k: [] for k in names}
        for i in range(start, stop, READ_BLOCK):
            block = reader.read(i, min(i + READ_BLOCK, stop))
            img = block["image"]
            img = img[:, None] if img.ndim == 4 else img
            parts["image"].append(torch.from_numpy(np.ascontiguousarray(img.transpose(0, 1, 4, 2, 3))))
            for f in fields:
                parts[f].append(torch.from_numpy(np.asarray(block[f], dtype=np.float32)))
        if not parts["image"]:
            raise DatasetError(f"{reader.directory}: split {split!r} has no samples in [{start}, {stop})")
        return {k: torch.cat(v) for k, v in parts.items()}
    finally:
        reader.close()


def scene_input(batch: dict, device=None) -> dict:
    """A scenes batch (uint8 ``image`` ``(B, V, C, H, W)`` tensor or ``(B, V, H, W, C)`` / ``(B, H, W, C)`` numpy as
    read from a dataset, plus fields) -> model input: ``image`` float32 ``(B, V, C, H, W)`` in [0, 1], fields float32."""
    import torch

    out = {}
    for k, v in batch.items():
        if k == "image":
            if isinstance(v, np.ndarray):
                v = v[:, None] if v.ndim == 4 else v
                v = torch.from_numpy(np.ascontiguousarray(v.transpose(0, 1, 4, 2, 3)))
            out[k] = v.to(device=device, dtype=torch.float32).div_(255.0)
        else:
            out[k] = torch.as_tensor(np.asarray(v, dtype=np.float32) if isinstance(v, np.ndarray) else v,
                                     dtype=torch.float32, device=device)
    return out


def batch_length(batch) -> int:
    """Number of units (images or scenes) in a tensor batch or a scenes dict."""
    return len(batch["image"]) if isinstance(batch, dict) else len(batch)


def take(batch, index):
    """``batch[index]`` for a tensor batch or a scenes dict (``index``: a slice or an index tensor)."""
    return {k: v[index] for k, v in batch.items()} if isinstance(batch, dict) else batch[index]


def to_input(images, device=None):
    """uint8 images ``(B, C, H, W)`` (tensor) or ``(B, H, W, C)`` (numpy) -> float ``(B, C, H, W)`` in [0, 1]."""
    import torch

    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
    return images.to(device=device, dtype=torch.float32).div_(255.0)


class TrainData:
    """The training split in memory, minus the last ``val_size`` images held out for validation.

    With ``V`` views (frames) per sample, whole samples are held out: the
    last ``ceil(val_size / V)`` samples, ``V`` times as many images, so no
    scene has views on both sides. ``layout="images"`` (default): ``train`` /
    ``val`` are uint8 ``(N, C, H, W)`` tensors of single images (views
    flattened); ``layout="scenes"``: dicts of whole samples (module docstring)
    with the extra ``fields``.
    """

    LAYOUTS = ("images", "scenes")

    def __init__(self, path, val_size: int, *, split: str = "train", log=None, layout: str = "images",
                 fields=()):
        if layout not in self.LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(self.LAYOUTS)}, got {layout!r}")
        self.info = dataset_info(path)
        self.layout, self.fields = layout, tuple(fields)
        from scenebench.datasets.reader import SplitReader

        reader = SplitReader(self.info.directory, split, fields=["image"])
        n = len(reader)
        stored = [f["name"] for f in reader.manifest["features"][split]]
        missing = [f for f in self.fields if f not in stored]
        reader.close()
        if missing:
            raise DatasetError(f"{self.info.directory}: has no field {', '.join(map(repr, missing))}, which the model "
                               "reads with the images")
        per = self.info.images_per_sample
        val_samples = -(-val_size // per)
        if val_samples >= n:
            raise ConfigError(f"val_size={val_size} leaves no training images: split {split!r} of "
                              f"{self.info.directory} has {n * per}" + (f" ({n} samples of {per})" if per > 1 else ""))
        if log:
            views = f" ({n:,} samples of {per} views/frames)" if per > 1 else ""
            log(f"reading {n * per:,} {split} images{views} from {self.info.directory}")
        if layout == "scenes":
            scenes = read_scenes(self.info.directory, split, self.fields)
            self.train = take(scenes, slice(0, n - val_samples))
            self.val = take(scenes, slice(n - val_samples, n))
        else:
            images = read_images(self.info.directory, split)
            cut = (n - val_samples) * per
            self.train = images[:cut]
            self.val = images[cut:]
        self._epoch = (None, None)

    @classmethod
    def for_model(cls, model_cls, path, val_size: int, **kwargs) -> "TrainData":
        """The data the baseline class reads: its ``input_layout`` and ``input_fields``."""
        return cls(path, val_size, layout=getattr(model_cls, "input_layout", "images"),
                   fields=getattr(model_cls, "input_fields", ()), **kwargs)

    def check_model(self, model_cls) -> None:
        """ConfigError unless this data is laid out as ``model_cls`` reads it."""
        want = (getattr(model_cls, "input_layout", "images"), tuple(getattr(model_cls, "input_fields", ())))
        if (self.layout, self.fields if self.layout == "scenes" else ()) != (want[0], want[1] if want[0] == "scenes" else ()):
            raise ConfigError(f"{model_cls.name} reads {want[0]} (fields {list(want[1])}), but the TrainData holds "
                              f"{self.layout} (fields {list(self.fields)}); use TrainData.for_model")

    def __len__(self) -> int:
        return batch_length(self.train)

    def batches_per_epoch(self, batch_size: int) -> int:
        return len(self) // batch_size

    def batch_indices(self, step: int, batch_size: int, seed: int) -> np.ndarray:
        """Indices of the training images in batch ``step`` (a pure function of its arguments)."""
        per = self.batches_per_epoch(batch_size)
        if per < 1:
            raise ConfigError(f"batch_size={batch_size} is larger than the {len(self)} training {self.unit}")
        epoch, pos = divmod(step, per)
        if self._epoch[0] != (epoch, seed):
            rng = np.random.Generator(np.random.Philox(np.random.SeedSequence([seed, epoch])))
            self._epoch = ((epoch, seed), rng.permutation(len(self)))
        return self._epoch[1][pos * batch_size: (pos + 1) * batch_size]

    @property
    def unit(self) -> str:
        return "scenes" if self.layout == "scenes" else "images"

    def batch(self, step: int, batch_size: int, seed: int, part: tuple[int, int] = (0, 1)):
        """Batch ``step``: uint8 images ``(batch_size, C, H, W)``, or a scenes dict of ``batch_size`` scenes.

        ``part = (rank, world)``: this rank's share of the batch, items ``rank::world`` (data-parallel training).
        """
        import torch

        rank, world = part
        return take(self.train, torch.from_numpy(self.batch_indices(step, batch_size, seed)[rank::world]))


def default_run_dir(root: Path, baseline: str, info: DataInfo, config_name: str) -> Path:
    """``root/<baseline>/<family>-<preset>-<fingerprint[:8]>/<config>``."""
    label = "-".join(p for p in (info.family, info.preset, info.fingerprint[:8]) if p) or "data"
    return Path(root) / baseline / label / config_name
