"""Colored multi-dSprites (LAVAE; CIS / DeepMind-style occluding variant).

``lavae``: 64x64 RGB, black background, square / ellipse / triangle, scale
from 6 linearly spaced values in [0.6, 1], orientation from 40 linearly
spaced values in [0, 2pi), one of the 7 saturated RGB colors, sprites at
most 19x19, placed uniformly with no overlap (placements are redrawn; a
1-pixel gap keeps objects separate connected components). Splits train /
test with 0-3 objects and test-7 with exactly 7.

``cis``: 64x64 RGB, 1-4 square / ellipse / heart sprites with random HSV
colors on a random colored background, drawn back to front so later
sprites occlude earlier ones; every object keeps at least ``min_visible``
visible pixels. Stores the visible segmentation and the amodal masks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from scenebench.config import Preset, Split
from scenebench.generator import Generator
from scenebench.datasets.identity import RngSource, draw_rows
from scenebench.registry import register_generator
from scenebench.datasets.schema import Feature

from .sources import sprites, textures

SATURATED_COLORS = np.array(
    [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [255, 0, 255], [0, 255, 255], [255, 255, 255]], np.uint8
)


@dataclass(frozen=True)
class DSpritesConfig(sprites.SpriteGrid):
    height: int = 64
    width: int = 64
    shapes: tuple[str, ...] = ("square", "ellipse", "triangle")
    max_size: int = 19  # a sprite at scale 1 fits in max_size x max_size at any rotation
    scale_min: float = 0.6
    scale_max: float = 1.0
    num_scales: int = 6
    num_orientations: int = 40
    min_objects: int = 0
    max_objects: int = 3
    overlap: bool = False  # False: no shared pixels (placements redrawn); True: z-order occlusion
    min_gap: int = 1  # without overlap: pixels kept free between objects
    min_visible: int = 12  # with overlap: fewest visible pixels per object
    colors: Literal["saturated", "hsv"] = "saturated"
    background: Literal["black", "hsv"] = "black"
    saturation_range: tuple[float, float] = (0.5, 1.0)  # HSV colors
    value_range: tuple[float, float] = (0.5, 1.0)
    min_contrast: int = 40  # HSV colors: max channel difference to the background
    max_attempts: int = 100  # placement draws per object before the scene is redrawn

    def validate(self) -> None:
        if not (8 <= self.height <= 1024 and 8 <= self.width <= 1024):
            raise ValueError(f"height/width must be in [8, 1024], got {self.height}x{self.width}")
        for s in self.shapes:
            if s not in sprites.SHAPES:
                raise ValueError(f"unknown shape {s!r}; expected some of {', '.join(sprites.SHAPES)}")
        if not self.shapes:
            raise ValueError("shapes must name at least one shape")
        if not 3 <= self.max_size <= min(self.height, self.width):
            raise ValueError(f"max_size must be in [3, {min(self.height, self.width)}], got {self.max_size}")
        if not 0 < self.scale_min <= self.scale_max <= 1:
            raise ValueError(f"need 0 < scale_min <= scale_max <= 1, got {self.scale_min}, {self.scale_max}")
        if self.num_scales < 1 or self.num_orientations < 1:
            raise ValueError("num_scales and num_orientations must be >= 1")
        if not 0 <= self.min_objects <= self.max_objects <= 255:
            raise ValueError(f"need 0 <= min_objects <= max_objects <= 255, got {self.min_objects}, {self.max_objects}")
        if self.min_gap < 0 or self.min_visible < 1 or self.max_attempts < 1 or not 0 <= self.min_contrast <= 255:
            raise ValueError("min_gap >= 0, min_visible >= 1, max_attempts >= 1 and min_contrast in [0, 255] required")
        for name, (lo, hi) in (("saturation_range", self.saturation_range), ("value_range", self.value_range)):
            if not 0 <= lo <= hi <= 1:
                raise ValueError(f"{name} must satisfy 0 <= lo <= hi <= 1, got ({lo}, {hi})")
        area = self.height * self.width
        if self.overlap:
            # every object must keep min_visible pixels somewhere
            if self.max_objects * self.min_visible > area // 2:
                raise ValueError(f"max_objects={self.max_objects} objects cannot each keep {self.min_visible} visible pixels")
        else:
            # sequential random placement jams near 2/3 coverage of worst-case boxes
            fits = max(1, (2 * area // 3) // (self.max_size * self.max_size))
            if self.max_objects > fits:
                raise ValueError(
                    f"max_objects={self.max_objects} sprites up to {self.max_size}x{self.max_size} cannot be placed "
                    f"without overlap on a {self.height}x{self.width} canvas (at most {fits} fit)")


@dataclass
class SpriteBank:
    """Every (shape, scale, orientation) sprite, indexed by a flat code.

    code = (shape * num_scales + scale) * num_orientations + orientation.
    ``pixels`` lists each sprite's pixels (and, without overlap, its pixels
    grown by ``min_gap``) for placing and painting whole batches at once.
    """

    shape: np.ndarray  # (N,) int8 shape index
    scale: np.ndarray  # (N,) float32
    orientation: np.ndarray  # (N,) float32 radians
    pixels: sprites.PixelBank


SCENE_TRIES = 1000  # scene redraws before a config is declared impossible

_SPLITS_LAVAE = {"train": Split(190_000), "test": Split(10_000),
                 "test-7": Split(10_000, {"min_objects": 7, "max_objects": 7})}


@register_generator
class MultiDSprites(Generator):
    name = "multi_dsprites"
    VERSION = "1.2.0"
    RELEASE_NOTES = {
        "1.0.0": "First release: presets lavae (no overlap, 7 saturated colors) and cis (occluding, HSV colors).",
        "1.1.0": "Scenes are drawn a whole batch at a time with numpy (about 2x faster). Same configs and "
                 "distributions, but each sample reads its random stream in a new order (count, background, "
                 "sprite codes, colors, then placements), so the samples of a seed differ from 1.0.0.",
        "1.2.0": "Every random stream is keyed by the dataset (family/preset) as well as the seed, split and "
                 "index, so datasets of different families or presets with the same seed are independent "
                 "(before, e.g. multi_dsprites/lavae and multi_mnist/lavae-1k had the same object counts); the "
                 "samples of a seed differ from 1.1.0. Shards are stored with deflate by default (plain HDF5 "
                 "filters: any reader opens them) in power-of-two chunks.",
    }
    Config = DSpritesConfig
    description = "Colored multi-dSprites: square/ellipse/triangle/heart sprites (LAVAE, CIS)"
    paper = "LAVAE (Dittadi & Winther 2019); CIS (Yang et al. 2020)"
    PRESETS = {
        "lavae": Preset(DSpritesConfig(), _SPLITS_LAVAE, "LAVAE: black background, no overlap, 0-3 objects; test-7 with 7"),
        "cis": Preset(
            DSpritesConfig(shapes=("square", "ellipse", "heart"), max_size=26, scale_min=0.5, min_objects=1,
                           max_objects=4, overlap=True, colors="hsv", background="hsv"),
            {"train": Split(60_000), "test": Split(10_000)},
            "CIS: 1-4 occluding sprites, random colors on a random colored background, amodal masks"),
    }

    def features(self, c: DSpritesConfig) -> list[Feature]:
        K, H, W = c.max_objects, c.height, c.width
        feats = [
            Feature("image", (H, W, 3), "uint8", doc="RGB scene"),
            Feature("segmentation", (H, W), "uint8", doc="visible partition: 0 background, k+1 object slot k"),
            Feature("num_objects", (), "uint8", doc="number of objects"),
            Feature("background", (3,), "uint8", doc="background RGB color"),
            Feature("objects/shape", (K,), "int8", doc="shape code (-1 = empty slot)", labels=c.shapes),
            Feature("objects/scale", (K,), "float32", doc="scale in [scale_min, scale_max]"),
            Feature("objects/orientation", (K,), "float32", doc="rotation angle in radians, [0, 2pi)"),
            Feature("objects/color", (K, 3), "int16", doc="RGB color 0-255 (-1 = empty slot)"),
            Feature("objects/position", (K, 2), "float32", doc="(x, y) centre of the sprite's bounding box, pixels"),
            Feature("objects/bbox", (K, 4), "int16", doc="(x_min, y_min, x_max, y_max), max exclusive"),
            Feature("objects/depth", (K,), "int8", doc="z-order, 0 = drawn first (back-most)"),
            Feature("objects/visible_pixels", (K,), "int32", doc="visible pixel count"),
        ]
        if c.overlap:
            feats.insert(2, Feature("masks", (K, H, W), "bool", doc="amodal (unoccluded) mask per object slot"))
        return feats

    def prepare(self, c: DSpritesConfig, rng) -> SpriteBank:
        masks, attrs = [], []
        for si, shape in enumerate(c.shapes):
            for scale in c.scales:
                for angle in c.orientations:
                    masks.append(sprites.rasterize(shape, c.max_size, float(scale), float(angle)))
                    attrs.append((si, scale, angle))
        shape, scale, angle = (np.array(a) for a in zip(*attrs))
        pixels = sprites.pixel_bank(masks, c.height, c.width, 0 if c.overlap else c.min_gap)
        return SpriteBank(shape.astype(np.int8), scale.astype(np.float32), angle.astype(np.float32), pixels)

    def draw_scene(self, rng: np.random.Generator, c: DSpritesConfig, bank: SpriteBank, out) -> None:
        """One scene from ``rng``: the batch of one of :meth:`draw_batch`."""
        self.draw_batch(RngSource(rng), c, bank, {k: v[None] for k, v in out.items()})

    def draw_batch(self, source, c: DSpritesConfig, bank: SpriteBank, arrays) -> None:
        """Draw and paint every scene of a batch with whole-batch numpy operations.

        A sample reads its own stream in order (see ``_scenes``), so it is
        the same in any batch and when drawn alone.
        """
        K = c.max_objects
        per_scene = 1 + K + 2 * K + (3 if c.background == "hsv" else 0) + (0 if c.colors == "hsv" else K)
        budget = per_scene + 4 * K + (3 * K if c.colors == "hsv" else 0)  # one scene and a few redraws
        draw_rows(source, source.n, budget, lambda d, rows: _scenes(d, rows, c, bank, arrays))


def _scenes(d, rows, c: DSpritesConfig, bank: SpriteBank, arrays) -> None:
    """Draw the scenes of batch rows ``rows`` from ``d`` and write the finished ones into ``arrays``.

    Stream of one sample, per scene try (at most SCENE_TRIES): the object
    count n, the background (3 values, HSV backgrounds only), K sprite
    codes, K colors (saturated colors only), then without overlap each
    sprite's placement tries (2 values each, see
    :func:`sprites.place_apart`), with overlap K corners (2 values each);
    then, if every sprite has its place (or keeps ``min_visible`` pixels),
    each sprite's HSV color tries (HSV colors only, 3 values each, redrawn
    until it differs from the background by ``min_contrast``). A try that
    fails (a sprite without a place, a hidden sprite, no contrasting color
    in 100 tries) starts the scene again further along the stream.
    """
    R, K, H, W = len(rows), c.max_objects, c.height, c.width
    px = bank.pixels
    n = np.zeros(R, np.int64)
    codes = np.zeros((R, K), np.int64)
    y = np.zeros((R, K), np.int64)
    x = np.zeros((R, K), np.int64)
    colors = np.zeros((R, K, 3), np.uint8)
    bg = np.zeros((R, 3), np.uint8)
    visible = np.zeros((R, K), np.int64)
    seg = np.zeros((R, H * W), np.uint8) if c.overlap else None
    pending = np.arange(R)
    for _ in range(SCENE_TRIES):
        if not pending.size:
            break
        P = len(pending)
        u = d.take(pending, 1 + (3 if c.background == "hsv" else 0) + K + (0 if c.colors == "hsv" else K))
        nn = c.min_objects + (u[:, 0] * (K - c.min_objects + 1)).astype(np.int64)
        col = 1
        bgc = np.zeros((P, 3), np.uint8)
        if c.background == "hsv":
            bgc = textures.hsv_to_rgb(u[:, 1], u[:, 2], u[:, 3])
            col = 4
        cc = (u[:, col: col + K] * len(px)).astype(np.int64)
        cols = np.zeros((P, K, 3), np.uint8)
        if c.colors == "saturated":
            cols = SATURATED_COLORS[(u[:, col + K: col + 2 * K] * len(SATURATED_COLORS)).astype(np.int64)]
        if c.overlap:
            corner = d.take(pending, 2 * K).reshape(P, K, 2)
            yy = (corner[..., 0] * (H - px.sizes[cc, 0] + 1)).astype(np.int64)
            xx = (corner[..., 1] * (W - px.sizes[cc, 1] + 1)).astype(np.int64)
            seg[pending] = 0
            vis = sprites.paint_visible(px, pending, cc, yy, xx, nn, seg)
            ok = np.where(np.arange(K) < nn[:, None], vis, c.min_visible).min(1, initial=c.min_visible) >= c.min_visible
        else:
            ok, yy, xx = sprites.place_apart(d, pending, nn, cc, px, c.max_attempts)
            vis = px.npix[cc]
        if c.colors == "hsv":
            ok &= _hsv_colors(d, pending, nn, bgc, ok, c, cols)
        ok &= ~d.short[pending]
        done = pending[ok]
        n[done], codes[done], y[done], x[done] = nn[ok], cc[ok], yy[ok], xx[ok]
        colors[done], bg[done], visible[done] = cols[ok], bgc[ok], vis[ok]
        pending = d.live(pending[~ok])
    else:
        if pending.size:
            raise RuntimeError(f"multi_dsprites: no valid scene in {SCENE_TRIES} tries; lower max_objects or "
                               "min_visible, or raise max_attempts")
    fin = np.flatnonzero(~d.short)  # rows drawn in full; short ones are drawn again with more values
    if not fin.size:
        return
    n, codes, y, x, colors, bg, visible = n[fin], codes[fin], y[fin], x[fin], colors[fin], bg[fin], visible[fin]
    out = rows[fin]
    image = arrays["image"]
    if bg.any():
        image[out] = bg[:, None, None, :]
    if seg is not None:  # the visible labels drawn for the occlusion test
        arrays["segmentation"][out] = seg[fin].reshape(-1, H, W)
    sprites.paint(px, out, codes, y, x, n, seg=None if seg is not None else arrays["segmentation"], image=image,
                  colors=colors, masks=arrays.get("masks"))
    arrays["num_objects"][out] = n
    arrays["background"][out] = bg
    j, k = np.nonzero(np.arange(K) < n[:, None])  # the objects present
    code, h, w = codes[j, k], px.sizes[codes[j, k], 0], px.sizes[codes[j, k], 1]
    o, yy, xx = out[j], y[j, k], x[j, k]
    arrays["objects/shape"][o, k] = bank.shape[code]
    arrays["objects/scale"][o, k] = bank.scale[code]
    arrays["objects/orientation"][o, k] = bank.orientation[code]
    arrays["objects/color"][o, k] = colors[j, k]
    arrays["objects/position"][o, k] = np.stack([xx + w / 2.0, yy + h / 2.0], -1)
    arrays["objects/bbox"][o, k] = np.stack([xx, yy, xx + w, yy + h], -1)
    arrays["objects/depth"][o, k] = k
    arrays["objects/visible_pixels"][o, k] = visible[j, k]


def _hsv_colors(d, rows, n, bg, ok, c: DSpritesConfig, colors, tries: int = 100) -> np.ndarray:
    """Draw HSV colors (into ``colors`` (R, K, 3)) for scenes ``ok``; False where one found no contrast."""
    found = ok.copy()
    (s0, s1), (v0, v1) = c.saturation_range, c.value_range
    for k in range(c.max_objects):
        todo = np.flatnonzero(found & (n > k))
        for _ in range(tries):
            todo = todo[~d.short[rows[todo]]]
            if not todo.size:
                break
            u = d.take(rows[todo], 3)
            col = textures.hsv_to_rgb(u[:, 0], s0 + u[:, 1] * (s1 - s0), v0 + u[:, 2] * (v1 - v0))
            good = (np.abs(col.astype(np.int16) - bg[todo]).max(1) >= c.min_contrast)
            colors[todo[good], k] = col[good]
            todo = todo[~good]
        found[todo] = False
    return found
