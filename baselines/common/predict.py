"""Run a trained baseline over a split and write the spec section 5.1 submission.

The harness never special-cases our baselines: predictions go through
:class:`scenebench.evaluation.submission.Writer` exactly like any other method's, and
``scenebench evaluate`` scores the file.

Fields (any subset the model supports; ``DEFAULT_FIELDS`` by default):

==============  ============================  ===================================
field           from                          array
==============  ============================  ===================================
segmentation    ``model.segment``             (N, H, W) uint8
num_objects     ``model.count``               (N,) int32
log_weights     ``model.log_weights(x, S)``   (N, S) float64, nats
elbo            mean of those log-weights     (N,) float64 (``log_weights(x, 1)`` if alone)
reconstruction  ``model.reconstruct``         (N, H, W, C) float32 in [0, 1]
latents         ``model.latents``             (N, K, D) float32
masks           ``model.masks``               (N, K, H, W) float16 soft masks
==============  ============================  ===================================

Samples of ``V`` views (or ``T`` frames; ``DataInfo.images_per_sample``)
are scored as ``V`` single images, the way the model was trained, and
grouped back per sample: ``segmentation`` ``(N, V, H, W)``, ``reconstruction``
``(N, V, H, W, C)``; ``log_weights`` are the sum over the views of the
per-view log-weights of ``S`` independent draws -- ``S`` importance samples
of all the views' latents together, exact for the model that treats the
views as independent images, so ``iw_nll`` is a bound on
``log p(x_1..V) = sum_v log p(x_v)`` -- and ``elbo`` is the sum of the
views' ELBOs; ``latents`` are kept per view, ``(N, V, K, D)``.
``num_objects`` is per image and has no per-sample form; it is not written
for such datasets.

A model of whole scenes (``input_layout = "scenes"``, e.g. MulMON) is given
whole samples with the fields it reads and predicts per sample directly:
its ``log_weights`` are already per scene, ``latents`` ``(N, K, D)`` are the
scene's, and ``batch_size`` counts scenes.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

import torch

from scenebench.errors import ConfigError

from .interface import CAPABILITIES

FIELD_SOURCES = {"segmentation": "segment", "num_objects": "count", "log_weights": "log_weights",
                 "elbo": "elbo", "reconstruction": "reconstruct", "latents": "latents", "masks": "masks"}
DEFAULT_FIELDS = ("segmentation", "num_objects", "log_weights", "elbo")  # reconstruction/latents: opt-in (large)


def supported_fields(model_or_cls) -> tuple[str, ...]:
    caps = set(model_or_cls.capabilities())
    return tuple(f for f, m in FIELD_SOURCES.items() if m in caps)


PER_IMAGE_ONLY = ("num_objects",)  # no per-sample form when a sample holds several images


def choose_fields(model, fields: Sequence[str] | str | None, images_per_sample: int = 1) -> tuple[str, ...]:
    """Validated field list: ``fields`` (each must be supported) or the supported defaults."""
    ok = supported_fields(model)
    if images_per_sample > 1:
        ok = tuple(f for f in ok if f not in PER_IMAGE_ONLY)
    if fields is None:
        return tuple(f for f in DEFAULT_FIELDS if f in ok)
    if isinstance(fields, str):
        fields = [f.strip() for f in fields.split(",") if f.strip()]
    for f in fields:
        if f not in FIELD_SOURCES:
            raise ConfigError(f"--fields: unknown field {f!r}; fields: {', '.join(FIELD_SOURCES)}")
        if images_per_sample > 1 and f in PER_IMAGE_ONLY:
            raise ConfigError(f"--fields: {f!r} is per image, but the samples of this dataset hold "
                              f"{images_per_sample} views/frames each; omit it")
        if f not in ok:
            raise ConfigError(f"--fields: {model.name} cannot predict {f!r}; it supports {', '.join(ok)}")
    if not fields:
        raise ConfigError(f"--fields: no field named; {model.name} supports {', '.join(ok)}")
    return tuple(dict.fromkeys(fields))


@torch.no_grad()
def predict_batch(model, x: torch.Tensor, fields: Sequence[str], num_samples: int, generator) -> dict:
    """numpy arrays of ``fields`` for the batch ``x`` (model input, ``(B, C, H, W)``)."""
    out = {}
    if "segmentation" in fields:
        seg = model.segment(x)
        if seg.numel() and (int(seg.max()) > 255 or int(seg.min()) < 0):
            raise ValueError(f"{model.name}.segment returned labels outside [0, 255]")
        out["segmentation"] = seg.to(torch.uint8).cpu().numpy()
    if "num_objects" in fields:
        out["num_objects"] = model.count(x).to(torch.int32).cpu().numpy()
    lw = None
    if "log_weights" in fields:
        lw = model.log_weights(x, num_samples, generator=generator).double()
        out["log_weights"] = lw.cpu().numpy()
    if "elbo" in fields:
        e = lw.mean(1) if lw is not None else model.elbo(x, generator=generator)
        out["elbo"] = e.double().cpu().numpy()
    if "reconstruction" in fields:
        rec = model.reconstruct(x).float().clamp(0, 1)  # (B, C, H, W) or, for scenes, (B, V, C, H, W)
        out["reconstruction"] = rec.movedim(-3, -1).contiguous().cpu().numpy()
    if "latents" in fields:
        out["latents"] = model.latents(x).float().cpu().numpy()
    if "masks" in fields:  # float16: the soft-mask metrics threshold them (at 0.04); half the bytes of float32
        out["masks"] = model.masks(x).to(torch.float16).cpu().numpy()
    return out


def group_samples(out: dict, per: int) -> dict:
    """Per-image predictions of ``n * per`` images -> per-sample fields of ``n`` samples (see the module docstring)."""
    if per == 1:
        return out
    grouped = {}
    for k, a in out.items():
        n = a.shape[0] // per
        if k in ("log_weights", "elbo"):
            grouped[k] = a.reshape(n, per, *a.shape[1:]).sum(1)
        else:
            grouped[k] = a.reshape(n, per, *a.shape[1:])
    return grouped


def predict(model, data, split: str, output, *, fields: Sequence[str] | str | None = None, num_samples: int = 100,
            batch_size: int | None = None, seed: int = 0, method: str | None = None, notes: str | None = None,
            progress: bool | None = None) -> Path:
    """Write ``model``'s predictions for every sample of ``split`` of dataset ``data`` to ``output``.

    ``num_samples``: importance samples per image for ``log_weights`` (the
    LAVAE table uses 100). Sampling uses one generator seeded with ``seed``,
    so the same arguments give the same file. ``method`` defaults to the
    model's display name, tagged with its config name unless that is ``paper``.
    """
    from scenebench.datasets.manifest import read_manifest
    from scenebench.datasets.reader import SplitReader, resolve_dataset
    from scenebench.evaluation.submission import Writer

    from .data import dataset_info, flatten_samples

    if num_samples < 1:
        raise ConfigError(f"--num-samples must be >= 1, got {num_samples}")
    directory = resolve_dataset(data)
    info = dataset_info(directory)
    if not model.info.compatible(info):
        raise ConfigError(f"{directory}: images are {info.channels}x{info.height}x{info.width} (CxHxW) but the model "
                          f"was trained on {model.info.channels}x{model.info.height}x{model.info.width}")
    per = info.images_per_sample
    scenes = getattr(model, "input_layout", "images") == "scenes"
    fields = choose_fields(model, fields, 1 if scenes else per)
    batch_size = batch_size or model.config.eval_batch_size
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {batch_size}")
    model.eval()
    if method is None:  # e.g. "LAVAE [smoke]": runs of other configs than the paper's say so on the leaderboard
        config_name = getattr(model, "config_name", "")
        tag = f" [{config_name}]" if config_name and config_name != "paper" else ""
        method = (model.display_name or model.name) + tag
    generator = model.make_generator(seed)
    names = ["image", *model.input_fields] if scenes else ["image"]
    stored = {f["name"] for f in read_manifest(directory)["features"].get(split, [])}
    if scenes and not set(names) <= stored:
        raise ConfigError(f"{directory}: {model.name} reads {', '.join(n for n in names if n not in stored)} with the "
                          f"images, which split {split!r} does not have")
    reader = SplitReader(directory, split, fields=names)
    show = progress if progress is not None else sys.stderr.isatty()
    bar = None
    if show:
        from tqdm import tqdm

        bar = tqdm(total=len(reader), desc=f"{model.name} {split}", unit="img", file=sys.stderr, dynamic_ncols=True)
    try:
        with Writer(output, dataset=directory, split=split, method=method,
                    paper=model.paper or None, notes=notes) as writer:
            # batch_size counts images (samples of V views go batch_size // V at once), or scenes for scenes models
            step = batch_size if scenes else max(1, batch_size // per)
            for start in range(0, len(reader), step):
                stop = min(start + step, len(reader))
                if scenes:
                    out = predict_batch(model, model.prepare(reader.read(start, stop)), fields, num_samples, generator)
                else:
                    images = flatten_samples(reader.read(start, stop)["image"])
                    out = group_samples(predict_batch(model, model.prepare(images), fields, num_samples, generator), per)
                writer.append(**out)
                if bar is not None:
                    bar.update(stop - start)
    finally:
        reader.close()
        if bar is not None:
            bar.close()
    return Path(output)


__all__ = ["CAPABILITIES", "DEFAULT_FIELDS", "FIELD_SOURCES", "PER_IMAGE_ONLY", "choose_fields", "group_samples",
           "predict", "predict_batch", "supported_fields"]
