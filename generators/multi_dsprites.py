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

import colorsys
from dataclasses import dataclass
from typing import Literal

import numpy as np

from scenebench.config import Preset, Split
from scenebench.generator import Generator
from scenebench.registry import register_generator
from scenebench.schema import Feature

from .sources import sprites

SATURATED_COLORS = np.array(
    [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [255, 0, 255], [0, 255, 255], [255, 255, 255]], np.uint8
)


@dataclass(frozen=True)
class DSpritesConfig:
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

    @property
    def scales(self) -> np.ndarray:
        return np.linspace(self.scale_min, self.scale_max, self.num_scales)

    @property
    def orientations(self) -> np.ndarray:
        return np.linspace(0, 2 * np.pi, self.num_orientations, endpoint=False)


@dataclass
class SpriteBank:
    """Every (shape, scale, orientation) sprite, tight-cropped, indexed by a flat code.

    code = (shape * num_scales + scale) * num_orientations + orientation.
    """

    masks: list  # code -> bool (h, w)
    footprints: list  # code -> mask dilated by min_gap, padded by min_gap
    attrs: list  # code -> (shape index, scale, orientation)
    areas: list  # code -> pixel count


_SPLITS_LAVAE = {"train": Split(190_000), "test": Split(10_000),
                 "test-7": Split(10_000, {"min_objects": 7, "max_objects": 7})}


@register_generator
class MultiDSprites(Generator):
    name = "multi_dsprites"
    VERSION = "1.0.0"
    RELEASE_NOTES = {"1.0.0": "First release: presets lavae (no overlap, 7 saturated colors) and cis (occluding, HSV colors)."}
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
        masks, feet, attrs = [], [], []
        for si, shape in enumerate(c.shapes):
            for scale in c.scales:
                for angle in c.orientations:
                    m = sprites.rasterize(shape, c.max_size, float(scale), float(angle))
                    masks.append(m)
                    feet.append(sprites.dilate(m, c.min_gap))
                    attrs.append((si, float(scale), float(angle)))
        return SpriteBank(masks, feet, attrs, [int(m.sum()) for m in masks])

    def draw_scene(self, rng: np.random.Generator, c: DSpritesConfig, bank: SpriteBank, out) -> None:
        draw = _overlapping if c.overlap else _separate
        while not draw(rng, c, bank, out):  # a failed placement redraws the scene from the same stream
            out.reset()


def _background(rng, c: DSpritesConfig) -> np.ndarray | None:
    if c.background == "black":
        return None
    return _hsv_color(rng, (0.0, 1.0), (0.0, 1.0))


def _hsv_color(rng, sat, val) -> np.ndarray:
    h, s, v = rng.random(3)
    r, g, b = colorsys.hsv_to_rgb(h, sat[0] + s * (sat[1] - sat[0]), val[0] + v * (val[1] - val[0]))
    return np.array([round(r * 255), round(g * 255), round(b * 255)], np.uint8)


def _object_colors(rng, c: DSpritesConfig, bg, n: int) -> np.ndarray:
    if c.colors == "saturated":
        return SATURATED_COLORS[rng.integers(0, len(SATURATED_COLORS), size=n)]
    cols = np.empty((n, 3), np.uint8)
    bg16 = np.zeros(3, np.int16) if bg is None else bg.astype(np.int16)
    for k in range(n):
        while True:
            col = _hsv_color(rng, c.saturation_range, c.value_range)
            if np.abs(col - bg16).max() >= c.min_contrast:
                break
        cols[k] = col
    return cols


def _begin(rng, c: DSpritesConfig, bank: SpriteBank, out):
    """Draw the count, background, sprite codes and colors shared by both layouts."""
    n = int(rng.integers(c.min_objects, c.max_objects + 1))
    bg = _background(rng, c)
    if bg is not None:
        out["image"][...] = bg
    out["num_objects"][()] = n
    codes = rng.integers(0, len(bank.masks), size=n)
    return n, codes, _object_colors(rng, c, bg, n)


def _record(out, k: int, attrs, color, y: int, x: int, h: int, w: int, visible: int) -> None:
    out["objects/shape"][k] = attrs[0]
    out["objects/scale"][k] = attrs[1]
    out["objects/orientation"][k] = attrs[2]
    out["objects/color"][k] = color
    out["objects/position"][k] = (x + w / 2.0, y + h / 2.0)
    out["objects/bbox"][k] = (x, y, x + w, y + h)
    out["objects/depth"][k] = k
    out["objects/visible_pixels"][k] = visible


def _separate(rng, c: DSpritesConfig, bank: SpriteBank, out) -> bool:
    """Non-overlapping placement; False when an object could not be placed."""
    n, codes, colors = _begin(rng, c, bank, out)
    if n == 0:
        return True
    g, H, W = c.min_gap, c.height, c.width
    occupied = np.zeros((H + 2 * g, W + 2 * g), bool)
    image, seg = out["image"], out["segmentation"]
    for k in range(n):
        code = codes[k]
        mask, foot = bank.masks[code], bank.footprints[code]
        h, w = mask.shape
        for _ in range(c.max_attempts):
            u = rng.random(2)
            y, x = int(u[0] * (H - h + 1)), int(u[1] * (W - w + 1))
            if not (occupied[y: y + h + 2 * g, x: x + w + 2 * g] & foot).any():
                break
        else:
            return False
        occupied[y + g: y + g + h, x + g: x + g + w] |= mask
        image[y: y + h, x: x + w][mask] = colors[k]
        seg[y: y + h, x: x + w][mask] = k + 1
        _record(out, k, bank.attrs[code], colors[k], y, x, h, w, bank.areas[code])
    return True


def _overlapping(rng, c: DSpritesConfig, bank: SpriteBank, out) -> bool:
    """Back-to-front placement with occlusion; False when an object is (nearly) hidden."""
    n, codes, colors = _begin(rng, c, bank, out)
    H, W = c.height, c.width
    masks, image, seg = out["masks"], out["image"], out["segmentation"]
    boxes = []
    for k in range(n):
        code = codes[k]
        mask = bank.masks[code]
        h, w = mask.shape
        u = rng.random(2)
        y, x = int(u[0] * (H - h + 1)), int(u[1] * (W - w + 1))
        masks[k, y: y + h, x: x + w] = mask
        image[y: y + h, x: x + w][mask] = colors[k]
        seg[y: y + h, x: x + w][mask] = k + 1
        boxes.append((y, x, h, w))
    visible = np.bincount(seg.ravel(), minlength=n + 1)[1:]
    if n and visible.min() < c.min_visible:
        return False
    for k in range(n):
        y, x, h, w = boxes[k]
        _record(out, k, bank.attrs[codes[k]], colors[k], y, x, h, w, visible[k])
    return True
