"""Flying Animals (CIS): animal cut-outs composited over landscapes.

192x256 (HxW) RGB. A scene has 1-5 animals, p(5, 4, 3, 2, 1) =
(.8, .1, .06, .03, .01) (``count_probs`` over ``min_objects..max_objects``,
ascending). Each animal is a cut-out drawn from the split's foregrounds
(distinct within a scene when the split has enough), scaled by
s ~ U(``scale_min``, ``scale_max``) = U(0.9, 1.2) where scale 1 means the
cut-out's longest side is ``object_size`` pixels (the paper does not say how
its cut-outs were sized; we normalise every cut-out to the same longest
side), placed uniformly at random with its whole box inside the canvas, and
multiplied by a brightness factor b ~ U(``brightness_range``). The
background is one of the split's landscapes (scaled to cover the canvas and
centre-cropped) times a factor ~ U(``background_brightness_range``).
Animals are alpha-composited back to front: slot k is drawn k-th (depth k)
and occludes slots < k. Colors are resampled in premultiplied alpha
(bilinear, antialiased) so edges have no dark fringe.

Masks: an object's amodal mask is its resampled alpha >= 128; the visible
segmentation labels each pixel with the front-most covering mask (k + 1) or
0. Every object keeps at least ``min_visible`` visible pixels (positions are
redrawn otherwise). ``objects/position`` and ``objects/bbox`` describe the
amodal mask.

Assets (see :mod:`sources.asset_pack`): ``cis`` reads an asset-pack
directory (the paper's: 24 animal classes x 10 instances, 10 landscapes x
10 instances) from ``asset_dir``, ``$SCENEBENCH_FLYING_ANIMALS`` or
``~/.cache/scenebench/flying_animals``; ``embedded`` uses the procedural
pack of :mod:`sources.animals` (29 animal classes x 10 instances, 10
landscape kinds x 10 instances, no download). The test split draws only
held-out assets: within each class every ``holdout_every``-th instance in
file-name order (and every ``holdout_every``-th background) is test-only,
the rest train-only. The pack's content hash (``asset_pack``) is resolved
before the fingerprint is taken, so different packs never share a
fingerprint; it is checked again when the assets are loaded.

Splits: train 60,000 / test 10,000 (the paper gives no sizes; we use the
sizes of the other CIS datasets).
"""

from __future__ import annotations

import dataclasses
import math
import re
import threading
from dataclasses import dataclass
from typing import Literal

import numpy as np

from scenebench.config import Preset, Split
from scenebench.errors import ConfigError
from scenebench.generator import Generator
from scenebench.registry import register_generator
from scenebench.datasets.schema import Feature

from .sources import asset_pack

_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class FlyingAnimalsConfig:
    height: int = 192
    width: int = 256
    source: Literal["directory", "embedded"] = "embedded"  # asset pack: a directory, or the procedural one
    asset_dir: str = ""  # directory pack; empty: $SCENEBENCH_FLYING_ANIMALS, then ~/.cache/scenebench/flying_animals
    asset_pack: str = "auto"  # the pack's content hash "sha256:<hex>"; auto: computed (a given value must match)
    asset_split: Literal["train", "test", "all"] = "train"  # which assets this split draws
    holdout_every: int = 5  # every n-th instance per class (and background) is test-only; 0: share everything
    min_objects: int = 1
    max_objects: int = 5
    count_probs: tuple[float, ...] = (0.01, 0.03, 0.06, 0.10, 0.80)  # p(min_objects), ..., p(max_objects)
    object_size: int = 64  # longest side of a cut-out at scale 1, pixels
    scale_min: float = 0.9
    scale_max: float = 1.2
    num_scales: int = 16  # scales are drawn among this many evenly spaced values; 0: continuous
    brightness_range: tuple[float, float] = (0.75, 1.25)  # per-animal brightness factor
    background_brightness_range: tuple[float, float] = (0.75, 1.25)
    min_visible: int = 40  # fewest visible pixels per animal
    max_attempts: int = 200  # placement redraws before giving up

    def validate(self) -> None:
        if not (32 <= self.height <= 2048 and 32 <= self.width <= 2048):
            raise ValueError(f"height/width must be in [32, 2048], got {self.height}x{self.width}")
        if not (self.asset_pack == "auto" or _HASH.match(self.asset_pack)):
            raise ValueError(f"asset_pack must be 'auto' or 'sha256:' followed by 64 hex digits, got {self.asset_pack!r}")
        if self.holdout_every < 0 or self.holdout_every == 1:
            raise ValueError(f"holdout_every must be 0 (no held-out assets) or >= 2, got {self.holdout_every}")
        if not 1 <= self.min_objects <= self.max_objects <= 255:
            raise ValueError(f"min_objects/max_objects: need 1 <= min_objects <= max_objects <= 255, "
                             f"got {self.min_objects}, {self.max_objects}")
        span = self.max_objects - self.min_objects + 1
        if len(self.count_probs) != span:
            raise ValueError(f"count_probs must have {span} entries (one per count {self.min_objects}.."
                             f"{self.max_objects}), got {len(self.count_probs)}")
        if any(not math.isfinite(p) or p < 0 for p in self.count_probs) or abs(sum(self.count_probs) - 1) > 1e-6:
            raise ValueError(f"count_probs must be non-negative and sum to 1, got {list(self.count_probs)}")
        if not 0 < self.scale_min <= self.scale_max:
            raise ValueError(f"scale_min/scale_max: need 0 < scale_min <= scale_max, got {self.scale_min}, {self.scale_max}")
        if self.num_scales < 0 or self.num_scales > 1000:
            raise ValueError(f"num_scales must be 0 (continuous) or in [1, 1000], got {self.num_scales}")
        if not 4 <= self.object_size * self.scale_max <= min(self.height, self.width):
            raise ValueError(f"object_size x scale_max = {self.object_size * self.scale_max:g} must be in [4, "
                             f"{min(self.height, self.width)}] (the canvas' shorter side)")
        # the background factor is applied as m / 128 in uint16: 255 * m must fit, so at most 2
        for name, top in (("brightness_range", 4.0), ("background_brightness_range", 2.0)):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi <= top:
                raise ValueError(f"{name} must satisfy 0 < lo <= hi <= {top:g}, got ({lo}, {hi})")
        if self.min_visible < 1:
            raise ValueError(f"min_visible must be >= 1, got {self.min_visible}")
        if self.max_objects * self.min_visible > self.height * self.width // 2:
            raise ValueError(f"min_visible={self.min_visible}: {self.max_objects} objects cannot each keep that many "
                             f"visible pixels")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")

    @property
    def scales(self) -> np.ndarray:
        """The scale grid (``num_scales`` values from scale_min to scale_max)."""
        return np.linspace(self.scale_min, self.scale_max, self.num_scales)

    @property
    def longest(self) -> int:
        """Longest side of the stored cut-outs: ``object_size`` at ``scale_max`` (scenes only downsample)."""
        return max(1, round(self.object_size * self.scale_max))


@dataclass
class Assets:
    pack: asset_pack.Pack
    fg_ids: np.ndarray  # foreground ids this split draws
    bg_ids: np.ndarray  # background ids this split draws
    count_cdf: np.ndarray
    asset_split: str
    scale_max: float
    scales: np.ndarray  # the scale grid (empty: continuous scales)
    resampled: dict = dataclasses.field(default_factory=dict)  # (asset id, scale level) -> sprite (filled lazily)

    def warm(self, budget: int = 20_000) -> None:
        """Resample every (drawable cut-out, grid scale) pair now, if there are at most ``budget`` of them.

        Part of asset preparation (once per process): a scene then only looks
        sprites up. Changes no bytes (see :meth:`sprite`).
        """
        if 0 < len(self.fg_ids) * len(self.scales) <= budget:
            for aid in self.fg_ids:
                for level, scale in enumerate(self.scales):
                    self.sprite(int(aid), float(scale), level)

    def sprite(self, aid: int, scale: float, level: int = -1) -> "Sprite":
        """Cut-out ``aid`` resampled (bilinear, antialiased) to ``scale``, as a :class:`Sprite`.

        Grid scales (``level`` >= 0) are resampled once per process and kept; the
        result is a pure function of its arguments, so the cache changes no bytes.
        """
        key = (aid, level)
        if level >= 0:
            got = self.resampled.get(key)
            if got is not None:
                return got
        from PIL import Image

        im = self.pack.sprites[aid]
        f = scale / self.scale_max
        w, h = im.size
        size = (max(1, round(w * f)), max(1, round(h * f)))
        out = Sprite.of(np.asarray(im.resize(size, Image.BILINEAR) if size != im.size else im))
        if level >= 0:
            self.resampled[key] = out
        return out


def _extent(nz: np.ndarray) -> tuple[int, int, int, int]:
    """(y0, x0, y1, x1) bounding box of a bool (h, w) array's True pixels, max exclusive; (0, 0, 0, 0) if none."""
    rows, cols = np.flatnonzero(nz.any(1)), np.flatnonzero(nz.any(0))
    if not len(rows):
        return (0, 0, 0, 0)
    return (int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1)


@dataclass(frozen=True)
class Sprite:
    """A resampled cut-out, laid out for the compositor (bbox-local, contiguous uint8).

    shape: (h, w) of the resampled cut-out (what placement uses); box: (y0,
    x0, y1, x1) of its mask (alpha >= 128), max exclusive; mask: bool (y1-y0,
    x1-x0), the mask inside ``box``; ink: (y0, x0, y1, x1) of the pixels with
    any non-zero channel (outside it the sprite leaves the canvas unchanged);
    rgb: premultiplied uint8 (ih, iw, 3) inside ``ink``; alpha: uint8 (ih, iw,
    3), the alpha repeated per channel (contiguous, so compositing never
    broadcasts).
    """

    shape: tuple
    box: tuple
    mask: np.ndarray
    ink: tuple
    rgb: np.ndarray
    alpha: np.ndarray

    @classmethod
    def of(cls, rgba: np.ndarray) -> "Sprite":
        """From a premultiplied uint8 (h, w, 4) cut-out."""
        full = rgba[..., 3] >= asset_pack.ALPHA_THRESHOLD
        y0, x0, y1, x1 = box = _extent(full)
        iy0, ix0, iy1, ix1 = ink = _extent(np.ascontiguousarray(rgba).view(np.uint32)[..., 0] != 0)
        crop = rgba[iy0:iy1, ix0:ix1]
        return cls(full.shape, box, full[y0:y1, x0:x1].copy(), ink, np.ascontiguousarray(crop[..., :3]),
                   np.repeat(crop[..., 3:], 3, axis=2))


class _Scratch(threading.local):
    """Per-thread work buffers: float32 ones for compositing a sprite (grown on demand, never shrunk) and
    uint16 ones for the background frame (one canvas shape at a time)."""

    def __init__(self):
        self.size = 0

    def get(self, h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Three float32 (h, w, 3) work arrays and one full of 255 (contiguous views of flat buffers)."""
        n = h * w * 3
        if n > self.size:
            self.size = max(n, 2 * self.size)
            self.bufs = [np.empty(self.size, np.float32) for _ in range(3)] + [np.full(self.size, 255, np.float32)]
        return tuple(b[:n].reshape(h, w, 3) for b in self.bufs)

    def frame(self, shape: tuple) -> tuple[np.ndarray, np.ndarray]:
        """A uint16 work array of ``shape`` (H, W, 3) and one full of 255."""
        if getattr(self, "frame_shape", None) != shape:
            self.frame_shape = shape
            self.frames = (np.empty(shape, np.uint16), np.full(shape, 255, np.uint16))
        return self.frames


_SCRATCH = _Scratch()


_SPLITS = {"train": Split(60_000, {"asset_split": "train"}), "test": Split(10_000, {"asset_split": "test"})}


@register_generator
class FlyingAnimals(Generator):
    name = "flying_animals"
    VERSION = "1.1.0"
    RELEASE_NOTES = {"1.0.0": "First release: presets cis (asset-pack directory) and embedded (procedural animals "
                              "and landscapes, offline); held-out test assets; pack content hash in the identity.",
                     "1.1.0": "Every random stream is keyed by the dataset (family/preset) as well as the seed, split and "
                              "index, so datasets of different families or presets with the same seed are independent "
                              "(before, e.g. multi_dsprites/lavae and multi_mnist/lavae-1k had the same object counts); the "
                              "samples of a seed differ from 1.0.0. Shards are stored with deflate by default (plain HDF5 "
                              "filters: any reader opens them) in power-of-two chunks.",
    }
    Config = FlyingAnimalsConfig
    description = "Flying Animals: 1-5 animal cut-outs over landscapes, occlusion, brightness perturbation (CIS)"
    paper = "CIS (Yang et al. 2020)"
    PRESETS = {
        "cis": Preset(FlyingAnimalsConfig(source="directory"), _SPLITS,
                      "CIS Flying Animals from an asset-pack directory (24 classes x 10 animals, 10 x 10 landscapes)"),
        "embedded": Preset(FlyingAnimalsConfig(source="embedded"), _SPLITS,
                           "Flying Animals from the built-in procedural pack (29 animal classes x 10, 10 landscape "
                           "kinds x 10); offline"),
    }
    # config fields that say where the assets are, not what they are: the
    # content hash (asset_pack) carries the identity
    LOCAL_FIELDS = ("asset_dir",)

    def features(self, c: FlyingAnimalsConfig) -> list[Feature]:
        K, H, W = c.max_objects, c.height, c.width
        return [
            Feature("image", (H, W, 3), "uint8", doc="RGB scene"),
            Feature("segmentation", (H, W), "uint8", doc="visible partition: 0 background, k+1 object slot k"),
            Feature("masks", (K, H, W), "bool", doc="amodal (unoccluded) mask per object slot: cut-out alpha >= 128"),
            Feature("num_objects", (), "uint8", doc="number of animals"),
            Feature("objects/asset_id", (K,), "int32", doc="foreground id in the asset pack (sorted file list)"),
            Feature("objects/class_id", (K,), "int16", doc="animal class id (the manifest's assets.classes)"),
            Feature("objects/scale", (K,), "float32", doc="scale in [scale_min, scale_max]; 1 = longest side object_size"),
            Feature("objects/brightness", (K,), "float32", doc="brightness factor applied to the animal"),
            Feature("objects/position", (K, 2), "float32", doc="(x, y) centre of the amodal mask's bounding box, pixels"),
            Feature("objects/bbox", (K, 4), "int16", doc="(x_min, y_min, x_max, y_max) of the amodal mask, max exclusive"),
            Feature("objects/depth", (K,), "int8", doc="z-order, 0 = drawn first (back-most)"),
            Feature("objects/visible_pixels", (K,), "int32", doc="visible pixel count"),
            Feature("background/id", (), "int32", doc="background id in the asset pack"),
            Feature("background/brightness", (), "float32", doc="brightness factor applied to the background"),
        ]

    def resolve_config(self, c: FlyingAnimalsConfig) -> FlyingAnimalsConfig:
        """Put the asset pack's content hash into the identity (and an explicit asset_dir as an absolute path)."""
        if c.source == "embedded":
            if c.asset_dir:
                raise ConfigError("asset_dir is set but source=embedded; expected source=directory "
                                  "(preset cis) to read an asset pack")
            sha, where = asset_pack.embedded_hash(c.height, c.width), "the embedded pack"
        else:
            root = asset_pack.locate(c.asset_dir or None)
            sha, where = asset_pack.content_hash(root), str(root)
            if c.asset_dir:
                c = dataclasses.replace(c, asset_dir=str(root.resolve()))
        if c.asset_pack not in ("auto", sha):
            raise ConfigError(f"asset_pack={c.asset_pack}: {where} has content hash {sha}; expected the pack "
                              f"the hash names")
        return dataclasses.replace(c, asset_pack=sha)

    def prepare(self, c: FlyingAnimalsConfig, rng) -> Assets:
        if c.source == "embedded":
            pack = asset_pack.embedded_pack(c.longest, c.height, c.width)
        else:
            pack = asset_pack.load_directory(asset_pack.locate(c.asset_dir or None), c.longest, c.height, c.width)
        if c.asset_pack not in ("auto", pack.sha256):
            raise asset_pack.AssetPackError(
                f"asset pack {pack.info.get('location')} has content hash {pack.sha256} but the dataset was "
                f"resolved with {c.asset_pack}; expected the same pack on every worker")
        fg, bg = pack.split_ids(c.asset_split, c.holdout_every)
        cdf = np.cumsum(np.asarray(c.count_probs, np.float64))
        cdf /= cdf[-1]
        assets = Assets(pack, fg, bg, cdf, c.asset_split, c.scale_max, c.scales)
        assets.warm()
        return assets

    def describe_assets(self, a: Assets) -> dict:
        return {**a.pack.describe(), "asset_split": a.asset_split, "foreground_ids": a.fg_ids.tolist(),
                "background_ids": a.bg_ids.tolist()}

    def draw_scene(self, rng: np.random.Generator, c: FlyingAnimalsConfig, a: Assets, out) -> None:
        _draw(rng, c, a, out)


def _draw(rng: np.random.Generator, c: FlyingAnimalsConfig, a: Assets, out) -> None:
    H, W = c.height, c.width
    pack = a.pack
    n = min(c.min_objects + int(np.searchsorted(a.count_cdf, rng.random(), side="right")), c.max_objects)
    nfg = len(a.fg_ids)
    picks = rng.choice(nfg, size=n, replace=nfg < n)
    ids = a.fg_ids[picks]
    u = rng.random((n, 2))
    if c.num_scales:
        levels = (u[:, 0] * c.num_scales).astype(np.int64)
        scales = a.scales[levels]
    else:
        levels = np.full(n, -1)
        scales = c.scale_min + (c.scale_max - c.scale_min) * u[:, 0]
    blo, bhi = c.brightness_range
    bright = blo + (bhi - blo) * u[:, 1]
    bg = int(a.bg_ids[int(rng.integers(len(a.bg_ids)))])
    glo, ghi = c.background_brightness_range
    # background brightness as a fixed-point factor m / 128 (the stored value is the applied one)
    bg_m = round((glo + (ghi - glo) * rng.random()) * 128)
    bg_bright = bg_m / 128.0
    sprites = [a.sprite(int(i), float(s), int(lv)) for i, s, lv in zip(ids, scales, levels)]
    seg, amodal = out["segmentation"], out["masks"]
    visible = np.zeros(n, np.int64)
    for attempt in range(c.max_attempts):
        corners = rng.random((n, 2))
        if attempt:
            seg[...] = 0
            amodal[...] = False
        boxes = []
        for k, spr in enumerate(sprites):  # masks are bbox-local: outside its box a mask is empty
            h, w = spr.shape
            y, x = int(corners[k, 0] * (H - h + 1)), int(corners[k, 1] * (W - w + 1))
            y0, x0, y1, x1 = spr.box
            np.copyto(seg[y + y0: y + y1, x + x0: x + x1], np.uint8(k + 1), where=spr.mask)
            amodal[k, y + y0: y + y1, x + x0: x + x1] = spr.mask
            boxes.append((y, x))
        # an object's visible pixels all lie in its own mask box
        for k, ((y, x), spr) in enumerate(zip(boxes, sprites)):
            y0, x0, y1, x1 = spr.box
            visible[k] = np.count_nonzero(seg[y + y0: y + y1, x + x0: x + x1] == k + 1)
        if visible.min() >= c.min_visible:
            break
    else:
        raise ConfigError(f"flying_animals: no placement keeps {c.min_visible} visible pixels per animal in "
                          f"{c.max_attempts} attempts; lower min_visible or object_size, or raise max_attempts")
    # background: round(pixel * m / 128) in uint16 (255 * 512 fits), clipped, into the image buffer
    image = out["image"]
    t, top = _SCRATCH.frame(image.shape)
    np.copyto(t, pack.backgrounds[bg])
    t *= np.uint16(bg_m)
    t += np.uint16(64)
    t >>= np.uint16(7)
    if bg_m > 128:
        np.minimum(t, top, out=t)
    np.copyto(image, t, casting="unsafe")
    # back to front, premultiplied "over" in float32, rounded per layer, only inside each sprite's ink box
    # (outside it alpha and color are 0: the canvas is unchanged): canvas * (1 - a / 255) + rgb * b.
    # Same-dtype ops on contiguous scratch buffers (mixed-dtype or broadcasting ufuncs are several times slower).
    for k, spr in enumerate(sprites):
        y, x = boxes[k]
        iy0, ix0, iy1, ix1 = spr.ink
        reg = image[y + iy0: y + iy1, x + ix0: x + ix1]
        f, inv, g, top = _SCRATCH.get(iy1 - iy0, ix1 - ix0)
        np.copyto(f, reg)
        np.copyto(inv, spr.alpha)
        inv *= np.float32(1 / 255)
        np.subtract(np.float32(1), inv, out=inv)
        f *= inv
        np.copyto(g, spr.rgb)
        g *= np.float32(bright[k])
        f += g
        np.minimum(f, top, out=f)  # both terms are >= 0
        np.rint(f, out=f)
        np.copyto(reg, f, casting="unsafe")
        y0, x0, y1, x1 = spr.box
        out["objects/bbox"][k] = (x + x0, y + y0, x + x1, y + y1)
        out["objects/position"][k] = (x + (x0 + x1) / 2.0, y + (y0 + y1) / 2.0)
    out["num_objects"][()] = n
    out["objects/asset_id"][:n] = ids
    out["objects/class_id"][:n] = pack.fg_class[ids]
    out["objects/scale"][:n] = scales
    out["objects/brightness"][:n] = bright
    out["objects/depth"][:n] = np.arange(n)
    out["objects/visible_pixels"][:n] = visible
    out["background/id"][()] = bg
    out["background/brightness"][()] = bg_bright
