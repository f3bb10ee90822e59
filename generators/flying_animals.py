"""Flying Animals (CIS): animals composited over landscapes, as the CIS authors' generator draws them.

192x256 (HxW) RGB. Every animal asset is a full canvas (``asset_pack.Canvas``)
of the scene's size with the animal at the centre and its mask: the
authors' pack is read as it is; cut-out packs and the embedded procedural
pack are centred on transparent canvases with their longest side
``object_size`` = 64 pixels (our choice, for animals of a size comparable to
the authors'). A scene (all from the sample's random stream, in this order):

- count n in 1..5, p(5, 4, 3, 2, 1) = (.8, .1, .06, .03, .01) (``count_probs``
  over ``min_objects..max_objects``, ascending);
- n animals uniformly from the split's foregrounds, with replacement;
- per animal a scale f ~ U(``scale_min``, ``scale_max``) = U(0.9, 1.2),
  continuous, used as an inverse zoom about the canvas centre (the animal
  shows at 1/f, 0.83-1.11x its canvas size), bilinear, zero fill;
- per animal an additive brightness shift delta ~ U(``brightness_shift``) =
  U(-0.36, 0.36) on the [0, 1] scale (the same in R, G and B: no hue change);
- one background uniformly from the split's landscapes and its own shift
  ~ U(``background_brightness_shift``);
- per animal, in slot order, an offset dx ~ U(-112, 112), dy ~ U(-84, 84)
  (``max_offset``): the canvas centre goes to (W/2 + dx, H/2 + dy). An offset
  is redrawn while its L1 distance |dx - dx'| + |dy - dy'| to the offset of an
  earlier slot is <= ``min_offset_l1`` = 97 px. After ``max_redraws`` = 10,000
  candidates for one animal the whole placement (every offset; not the count,
  animals, scales or shifts, which placement does not look at) is redrawn,
  at most ``max_attempts`` times, then the scene is a ConfigError (with the
  paper's constants a 5th animal always has >= 0.4% of the box free: 20,000
  simulated scenes never needed a restart).

Compositing (the authors' mask scheme, as in their Multi-Texture): slot 0 is
in front. With m_k the zoomed, shifted mask of slot k (0-1), its alpha is
a_k = m_k (1 - a_0 - ... - a_{k-1}) = m_k prod_{j<k} (1 - m_j), the
background's a_bg = 1 - sum_k a_k, and the image is sum_k a_k (fg_k + delta_k)
+ a_bg (bg + delta_bg) on the [0, 1] scale (colour and mask zoomed
separately, straight alpha), in float32, clipped to [0, 1] and rounded to
uint8 only when stored.

Ground truth: ``masks`` (amodal) is m_k >= 0.5; ``segmentation`` labels each
pixel with the largest alpha among a_0, ..., a_{n-1}, a_bg (k + 1 for slot
k, 0 for the background); ties go to the front-most object (lowest slot), the
background wins only where its alpha is strictly the largest (so a lone
animal's visible pixels are exactly its amodal mask). ``objects/offset``
(dx, dy), ``objects/scale`` (f), ``objects/brightness`` (delta) and
``background/brightness`` record the draws; ``objects/position`` and
``objects/bbox`` describe the amodal mask; ``objects/depth`` is the z-order
(0 = back-most, so slot 0 of n has depth n - 1). ``min_visible`` = 0 keeps
fully hidden animals, as the authors do (any other value redraws the
placement until every animal keeps that many visible pixels).

Presets: ``cis`` reads an asset-pack directory (the authors' 24 animal
classes x 10, 10 landscapes x 10; see :mod:`sources.asset_pack`) from
``asset_dir``, ``$SCENEBENCH_FLYING_ANIMALS`` or
``~/.cache/scenebench/flying_animals``; train and test draw from all the
assets, as the authors evaluate (the splits differ by their random streams).
``cis-heldout`` is the same with held-out assets, a generalisation split
of our own: within each class every ``holdout_every``-th instance in id order
(and every ``holdout_every``-th background) is test-only, the rest
train-only. ``embedded`` is ``cis`` with the procedural pack of
:mod:`sources.animals` (29 animal classes x 10 instances, 10 landscape kinds
x 10, no download). The pack's content hash (``asset_pack``) is resolved
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
    asset_split: Literal["train", "test", "all"] = "all"  # which assets this split draws (all: nothing held out)
    holdout_every: int = 5  # train/test asset splits: every n-th instance per class (and background) is test-only
    min_objects: int = 1
    max_objects: int = 5
    count_probs: tuple[float, ...] = (0.01, 0.03, 0.06, 0.10, 0.80)  # p(min_objects), ..., p(max_objects)
    object_size: int = 64  # cut-out packs: longest side of an animal on its canvas, pixels (not numbered packs)
    scale_min: float = 0.9  # f ~ U(scale_min, scale_max): inverse zoom about the canvas centre (shown at 1/f)
    scale_max: float = 1.2
    max_offset: tuple[float, float] = (112.0, 84.0)  # dx ~ U(-x, x), dy ~ U(-y, y): canvas centre -> centre + (dx, dy)
    min_offset_l1: float = 97.0  # an offset is redrawn while its L1 distance to an earlier slot's is <= this
    brightness_shift: tuple[float, float] = (-0.36, 0.36)  # additive per-animal shift on the [0, 1] scale
    background_brightness_shift: tuple[float, float] = (-0.36, 0.36)
    min_visible: int = 0  # 0: no check (the authors'); else fewest visible pixels per animal (placement redrawn)
    max_redraws: int = 10_000  # offset candidates per animal before the whole placement is redrawn
    max_attempts: int = 100  # placements per scene before giving up

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
        if not (0 < self.scale_min <= self.scale_max <= 10 and math.isfinite(self.scale_max)):
            raise ValueError(f"scale_min/scale_max: need 0 < scale_min <= scale_max <= 10, got {self.scale_min}, "
                             f"{self.scale_max}")
        if not 4 <= self.object_size <= min(self.height, self.width):
            raise ValueError(f"object_size must be in [4, {min(self.height, self.width)}] (the canvas' shorter "
                             f"side), got {self.object_size}")
        mx, my = self.max_offset
        if not (0 <= mx <= self.width and 0 <= my <= self.height):
            raise ValueError(f"max_offset must be (x, y) with 0 <= x <= width={self.width} and 0 <= y <= "
                             f"height={self.height}, got ({mx}, {my})")
        if not (math.isfinite(self.min_offset_l1) and self.min_offset_l1 >= 0):
            raise ValueError(f"min_offset_l1 must be a finite number >= 0, got {self.min_offset_l1}")
        if self.max_objects > 1 and self.min_offset_l1 >= 2 * (mx + my):
            raise ValueError(f"min_offset_l1={self.min_offset_l1:g}: two offsets within max_offset=({mx:g}, {my:g}) "
                             f"are at most {2 * (mx + my):g} apart (L1); expected less, or max_objects=1")
        for name in ("brightness_shift", "background_brightness_shift"):
            lo, hi = getattr(self, name)
            if not -1 <= lo <= hi <= 1:
                raise ValueError(f"{name} is an additive shift on the [0, 1] scale: need -1 <= lo <= hi <= 1, "
                                 f"got ({lo}, {hi})")
        if self.min_visible < 0:
            raise ValueError(f"min_visible must be >= 0 (0: no check), got {self.min_visible}")
        if self.max_objects * self.min_visible > self.height * self.width // 2:
            raise ValueError(f"min_visible={self.min_visible}: {self.max_objects} objects cannot each keep that many "
                             f"visible pixels")
        if not 1 <= self.max_redraws <= 10_000_000:
            raise ValueError(f"max_redraws must be in [1, 10000000], got {self.max_redraws}")
        if not 1 <= self.max_attempts <= 100_000:
            raise ValueError(f"max_attempts must be in [1, 100000], got {self.max_attempts}")


@dataclass
class Assets:
    pack: asset_pack.Pack
    fg_ids: np.ndarray  # foreground ids this split draws
    bg_ids: np.ndarray  # background ids this split draws
    count_cdf: np.ndarray
    asset_split: str


_SHARED = {"train": Split(60_000), "test": Split(10_000)}
_HELDOUT = {"train": Split(60_000, {"asset_split": "train"}), "test": Split(10_000, {"asset_split": "test"})}


@register_generator
class FlyingAnimals(Generator):
    name = "flying_animals"
    VERSION = "1.2.0"
    RELEASE_NOTES = {"1.0.0": "First release: presets cis (asset-pack directory) and embedded (procedural animals "
                              "and landscapes, offline); held-out test assets; pack content hash in the identity.",
                     "1.1.0": "Every random stream is keyed by the dataset (family/preset) as well as the seed, split and "
                              "index, so datasets of different families or presets with the same seed are independent "
                              "(before, e.g. multi_dsprites/lavae and multi_mnist/lavae-1k had the same object counts); the "
                              "samples of a seed differ from 1.0.0. Shards are stored with deflate by default (plain HDF5 "
                              "filters: any reader opens them) in power-of-two chunks.",
                     "1.2.0": "cis and embedded draw the CIS authors' distribution, so every sample of both differs from "
                              "1.1.0: full-canvas assets zoomed by 1/f, f ~ U(0.9, 1.2) continuous, about the canvas "
                              "centre (was: cut-outs scaled by f on a 16-step grid); the canvas centre shifted by "
                              "dx ~ U(-112, 112), dy ~ U(-84, 84), redrawn while within L1 97 px of an earlier animal "
                              "(was: uniform, no separation, 94-97% of scenes broke that rule); slot 0 in front with the "
                              "authors' mask scheme a_k = m_k (1 - sum of earlier a) (was: slot 0 at the back); additive "
                              "brightness shifts U(-0.36, 0.36) per animal and background (was: factors 0.75-1.25); "
                              "animals with replacement (was: distinct); no minimum visible area (was 40 px); "
                              "segmentation by the largest alpha; new objects/offset. Train and test draw from all the "
                              "assets as the authors evaluate; the former held-out test assets are the new preset "
                              "cis-heldout. The authors' numbered pack (foregrounds/0..240.png, masks/, "
                              "backgrounds/0..100.png) is read as distributed: file 0 is padding, never sampled, class "
                              "= ceil(i/10) - 1 (was: one class per file, and the held-out split failed). Config "
                              "fields num_scales, brightness_range, background_brightness_range are replaced by "
                              "max_offset, min_offset_l1, brightness_shift, background_brightness_shift, max_redraws.",
    }
    Config = FlyingAnimalsConfig
    description = "Flying Animals: 1-5 animals over landscapes, the CIS authors' placement, zoom, occlusion, brightness"
    paper = "CIS (Yang et al. 2020)"
    PRESETS = {
        "cis": Preset(FlyingAnimalsConfig(source="directory"), _SHARED,
                      "CIS Flying Animals from an asset-pack directory (the authors' 24 classes x 10 animals, 10 x 10 "
                      "landscapes); train and test draw from all the assets, as the authors evaluate"),
        "cis-heldout": Preset(FlyingAnimalsConfig(source="directory"), _HELDOUT,
                              "cis with held-out test assets (every 5th instance of each class and every 5th "
                              "background): a generalisation split"),
        "embedded": Preset(FlyingAnimalsConfig(source="embedded"), _SHARED,
                           "cis sampling from the built-in procedural pack (29 animal classes x 10, 10 landscape "
                           "kinds x 10); offline"),
    }
    # config fields that say where the assets are, not what they are: the
    # content hash (asset_pack) carries the identity
    LOCAL_FIELDS = ("asset_dir",)

    def features(self, c: FlyingAnimalsConfig) -> list[Feature]:
        K, H, W = c.max_objects, c.height, c.width
        return [
            Feature("image", (H, W, 3), "uint8", doc="RGB scene"),
            Feature("segmentation", (H, W), "uint8", doc="visible partition by the largest alpha: 0 background, k+1 "
                                                         "object slot k (ties: the front-most object)"),
            Feature("masks", (K, H, W), "bool", doc="amodal (unoccluded) mask per object slot: zoomed mask >= 0.5"),
            Feature("num_objects", (), "uint8", doc="number of animals"),
            Feature("objects/asset_id", (K,), "int32", doc="foreground id in the asset pack (numbered packs: the file "
                                                           "number)"),
            Feature("objects/class_id", (K,), "int16", doc="animal class id (the manifest's assets.classes)"),
            Feature("objects/scale", (K,), "float32", doc="f: inverse zoom about the canvas centre (shown at 1/f)"),
            Feature("objects/offset", (K, 2), "float32", doc="(dx, dy): the canvas centre goes to (W/2 + dx, H/2 + dy)"),
            Feature("objects/brightness", (K,), "float32", doc="additive brightness shift on the [0, 1] scale"),
            Feature("objects/position", (K, 2), "float32", doc="(x, y) centre of the amodal mask's bounding box, pixels"),
            Feature("objects/bbox", (K, 4), "int16", doc="(x_min, y_min, x_max, y_max) of the amodal mask, max exclusive"),
            Feature("objects/depth", (K,), "int8", doc="z-order, 0 = back-most (slot 0 is in front: depth n-1)"),
            Feature("objects/visible_pixels", (K,), "int32", doc="visible pixel count (segmentation == k+1)"),
            Feature("background/id", (), "int32", doc="background id in the asset pack"),
            Feature("background/brightness", (), "float32", doc="additive brightness shift of the background"),
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
            pack = asset_pack.embedded_pack(c.object_size, c.height, c.width)
        else:
            pack = asset_pack.load_directory(asset_pack.locate(c.asset_dir or None), c.object_size, c.height, c.width)
        if c.asset_pack not in ("auto", pack.sha256):
            raise asset_pack.AssetPackError(
                f"asset pack {pack.info.get('location')} has content hash {pack.sha256} but the dataset was "
                f"resolved with {c.asset_pack}; expected the same pack on every worker")
        fg, bg = pack.split_ids(c.asset_split, c.holdout_every)
        cdf = np.cumsum(np.asarray(c.count_probs, np.float64))
        cdf /= cdf[-1]
        return Assets(pack, fg, bg, cdf, c.asset_split)

    def describe_assets(self, a: Assets) -> dict:
        return {**a.pack.describe(), "asset_split": a.asset_split, "foreground_ids": a.fg_ids.tolist(),
                "background_ids": a.bg_ids.tolist()}

    def draw_scene(self, rng: np.random.Generator, c: FlyingAnimalsConfig, a: Assets, out) -> None:
        _draw(rng, c, a, out)


_BLOCK = 32  # offset candidates drawn at once (the first acceptable one is kept: the same law as one at a time)


def place(rng: np.random.Generator, n: int, c: FlyingAnimalsConfig) -> np.ndarray | None:
    """(n, 2) offsets (dx, dy), each redrawn while within L1 ``min_offset_l1`` of an earlier one; None if an
    animal found no place in ``max_redraws`` candidates."""
    scale = np.array(c.max_offset, np.float64)
    off = np.empty((n, 2))
    for k in range(n):
        left = c.max_redraws
        while left:
            m = 1 if k == 0 else min(_BLOCK, left)
            left -= m
            cand = (rng.random((m, 2)) * 2 - 1) * scale
            if k:
                ok = (np.abs(cand[:, None, :] - off[None, :k]).sum(-1) > c.min_offset_l1).all(1)
                hit = np.flatnonzero(ok)
                if not hit.size:
                    continue
                cand = cand[hit[:1]]
            off[k] = cand[0]
            break
        else:
            return None
    return off


def _draw(rng: np.random.Generator, c: FlyingAnimalsConfig, a: Assets, out) -> None:
    H, W = c.height, c.width
    pack = a.pack
    n = min(c.min_objects + int(np.searchsorted(a.count_cdf, rng.random(), side="right")), c.max_objects)
    ids = a.fg_ids[rng.integers(len(a.fg_ids), size=n)]
    scales = rng.uniform(c.scale_min, c.scale_max, size=n)
    delta = rng.uniform(*c.brightness_shift, size=n)
    bg = int(a.bg_ids[int(rng.integers(len(a.bg_ids)))])
    bg_delta = float(rng.uniform(*c.background_brightness_shift))
    seg, amodal = out["segmentation"], out["masks"]
    for attempt in range(c.max_attempts):
        offsets = place(rng, n, c)
        if offsets is None:
            continue
        if attempt:
            seg[...] = 0
            amodal[...] = False
        boxes = _composite(c, pack, ids, scales, offsets, delta, bg, bg_delta, seg, amodal, out["image"])
        visible = np.bincount(seg.ravel(), minlength=n + 1)[1: n + 1]
        if not c.min_visible or visible.min() >= c.min_visible:
            break
    else:
        what = (f"every animal keeps {c.min_visible} visible pixels" if c.min_visible else
                f"every animal is more than L1 {c.min_offset_l1:g} px from the others")
        raise ConfigError(f"flying_animals: no placement of {n} animals in which {what} in {c.max_attempts} attempts "
                          f"({c.max_redraws} offsets each); lower min_offset_l1 or min_visible, or raise max_offset, "
                          f"max_redraws or max_attempts")
    for k, (y0, x0, y1, x1) in enumerate(boxes):
        out["objects/bbox"][k] = (x0, y0, x1, y1)
        out["objects/position"][k] = ((x0 + x1) / 2.0, (y0 + y1) / 2.0) if y1 > y0 else (np.nan, np.nan)
    out["num_objects"][()] = n
    out["objects/asset_id"][:n] = ids
    out["objects/class_id"][:n] = pack.fg_class[ids]
    out["objects/scale"][:n] = scales
    out["objects/offset"][:n] = offsets
    out["objects/brightness"][:n] = delta
    out["objects/depth"][:n] = np.arange(n - 1, -1, -1)
    out["objects/visible_pixels"][:n] = visible
    out["background/id"][()] = bg
    out["background/brightness"][()] = bg_delta


class _Scratch(threading.local):
    """Per-thread canvas-sized work buffers, kept at their neutral values between scenes (only the windows a scene
    touched are reset), so a scene costs in proportion to its animals, not to the canvas."""

    def get(self, h: int, w: int):
        if getattr(self, "shape", None) != (h, w):
            self.shape = (h, w)
            self.trans = np.ones((h, w), np.float32)
            self.best = np.full((h, w), -1, np.float32)
            self.acc = np.zeros((3, h, w), np.float32)  # planar: broadcasting an alpha over R, G, B stays fast
        return self.trans, self.best, self.acc


_SCRATCH = _Scratch()


def _composite(c, pack, ids, scales, offsets, delta, bg, bg_delta, seg, amodal, image):
    """The authors' front-to-back mask scheme on the 0-255 scale; fills ``image``, ``seg`` and ``amodal``.

    Every pixel is rint(clip(acc + (bg + 255 delta_bg) * trans, 0, 255)) in float32, with acc the animals' sum
    and trans the background's alpha (1 - the animals' alphas); outside every animal's window acc = 0 and
    trans = 1, so there it is a 256-entry table of the background value (the same float32 arithmetic, so the same
    bytes). Returns each slot's amodal box (y0, x0, y1, x1) ((0, 0, 0, 0) if its mask misses the canvas).
    """
    H, W = c.height, c.width
    trans, best, acc = _SCRATCH.get(H, W)  # 1 - the alphas so far; largest object alpha so far; animals' sum
    shift = np.float32(255 * bg_delta)
    table = np.arange(256, dtype=np.float32)
    table += shift
    np.clip(table, 0, 255, out=table)
    background = pack.backgrounds[bg]
    np.take(np.rint(table).astype(np.uint8), background, out=image, mode="wrap")
    boxes, wins = [], []
    try:
        for k, aid in enumerate(ids):  # front to back
            warped = pack.canvases[int(aid)].warp(float(scales[k]), float(offsets[k, 0]), float(offsets[k, 1]))
            if warped is None:
                boxes.append((0, 0, 0, 0))
                continue
            y0, x0, v = warped
            h, w = v.shape[1:]
            win = (slice(y0, y0 + h), slice(x0, x0 + w))
            wins.append(win)
            m = v[3]
            m *= np.float32(1 / 255)
            alpha = m * trans[win]
            rgb = v[:3]
            rgb += np.float32(255 * delta[k])
            rgb *= alpha
            acc[:, win[0], win[1]] += rgb
            trans[win] -= alpha
            inside = m >= 0.5
            amodal[k][win] = inside
            b = best[win]
            np.copyto(seg[win], np.uint8(k + 1), where=alpha > b)  # strict: on a tie the front-most slot keeps it
            np.maximum(b, alpha, out=b)
            rows, cols = np.flatnonzero(inside.any(1)), np.flatnonzero(inside.any(0))
            boxes.append((y0 + int(rows[0]), x0 + int(cols[0]), y0 + int(rows[-1]) + 1, x0 + int(cols[-1]) + 1)
                         if len(rows) else (0, 0, 0, 0))
        for win in wins:  # overlapping windows compute the same final values again
            t = trans[win]
            np.copyto(seg[win], np.uint8(0), where=t > best[win])  # strict: the background only where it is largest
            v = background[win].transpose(2, 0, 1).astype(np.float32, order="C")
            v += shift
            v *= t
            v += acc[:, win[0], win[1]]
            np.clip(v, 0, 255, out=v)
            np.rint(v, out=v)
            np.copyto(image[win], v.transpose(1, 2, 0), casting="unsafe")
    finally:
        for win in wins:
            trans[win] = 1
            best[win] = -1
            acc[:, win[0], win[1]] = 0
    return boxes
