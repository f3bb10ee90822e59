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
    Placement tests use Python integers as bitmaps (bit ``y * stride + x``),
    so checking a candidate position is one AND of two ints; pixels are
    painted later, for a whole batch at once, from the pixel offsets.
    """

    attrs: list  # code -> (shape index, scale, orientation)
    sizes: list  # code -> (h, w)
    areas: list  # code -> pixel count
    bits: list  # code -> sprite bitmap, stride ``stride``, offset (gap, gap)
    foot_bits: list  # code -> bitmap of the sprite dilated by gap (no overlap mode)
    stride: int
    start: np.ndarray  # code -> first row in dy/dx
    npix: np.ndarray  # code -> pixel count (int64)
    dy: np.ndarray  # concatenated pixel row offsets of every sprite
    dx: np.ndarray


def _bitmap(mask: np.ndarray, stride: int, oy: int = 0, ox: int = 0) -> int:
    bits = 0
    for r in range(mask.shape[0]):
        row = int.from_bytes(np.packbits(mask[r], bitorder="little").tobytes(), "little")
        bits |= row << ((r + oy) * stride + ox)
    return bits


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
        g = 0 if c.overlap else c.min_gap
        stride = c.width + 2 * g
        attrs, sizes, areas, bits, feet, dys, dxs = [], [], [], [], [], [], []
        for si, shape in enumerate(c.shapes):
            for scale in c.scales:
                for angle in c.orientations:
                    m = sprites.rasterize(shape, c.max_size, float(scale), float(angle))
                    attrs.append((si, float(np.float32(scale)), float(np.float32(angle))))
                    sizes.append(m.shape)
                    areas.append(int(m.sum()))
                    bits.append(_bitmap(m, stride, g, g))
                    feet.append(_bitmap(sprites.dilate(m, g), stride))
                    yy, xx = np.nonzero(m)
                    dys.append(yy)
                    dxs.append(xx)
        npix = np.array(areas, np.int64)
        start = np.concatenate([[0], np.cumsum(npix)[:-1]])
        return SpriteBank(attrs, sizes, areas, bits, feet, stride, start, npix,
                          np.concatenate(dys).astype(np.int64), np.concatenate(dxs).astype(np.int64))

    def draw_scene(self, rng: np.random.Generator, c: DSpritesConfig, bank: SpriteBank, out) -> None:
        draw = _overlapping if c.overlap else _separate
        while not draw(rng, c, bank, out):  # a failed placement redraws the scene from the same stream
            out.reset()

    def render_batch(self, c: DSpritesConfig, bank: SpriteBank, arrays) -> None:
        """Paint every sprite of the batch from its recorded code, box and color."""
        image, seg = arrays["image"], arrays["segmentation"]
        masks = arrays.get("masks")
        B, H, W = seg.shape
        bg = arrays["background"]
        if bg.any():  # the buffer starts black
            image[...] = bg[:, None, None, :]
        flat_seg, flat_img = seg.reshape(-1), image.reshape(-1, 3)
        flat_masks = masks.reshape(B, -1, H * W) if masks is not None else None
        shape = arrays["objects/shape"].astype(np.int64)
        scale_i = np.searchsorted(c.scales.astype(np.float32), arrays["objects/scale"])
        orient_i = np.searchsorted(c.orientations.astype(np.float32), arrays["objects/orientation"])
        codes = (shape * c.num_scales + scale_i) * c.num_orientations + orient_i
        corner = arrays["objects/bbox"][..., 1].astype(np.int64) * W + arrays["objects/bbox"][..., 0]
        colors = arrays["objects/color"].astype(np.uint8)
        offsets = bank.dy * W + bank.dx  # pixel offsets from the sprite's top-left corner
        for k in range(shape.shape[1]):  # back to front: later slots occlude earlier ones
            b = np.flatnonzero(shape[:, k] >= 0)
            if not len(b):
                continue
            code = codes[b, k]
            lens = bank.npix[code]
            rep = np.repeat(np.arange(len(b)), lens)
            pix = bank.start[code][rep] + np.arange(rep.size) - np.repeat(np.cumsum(lens) - lens, lens)
            within = corner[b, k][rep] + offsets[pix]  # pixel index inside its image
            lin = b[rep] * (H * W) + within
            flat_seg[lin] = k + 1
            flat_img[lin] = colors[b, k][rep]
            if flat_masks is not None:
                flat_masks[b[rep], k, within] = True


def _hsv_color(u, sat, val) -> tuple:
    r, g, b = colorsys.hsv_to_rgb(u[0], sat[0] + u[1] * (sat[1] - sat[0]), val[0] + u[2] * (val[1] - val[0]))
    return round(r * 255), round(g * 255), round(b * 255)


def _begin(rng, c: DSpritesConfig, bank: SpriteBank, out):
    """Draw the count, background, sprite codes and colors shared by both layouts."""
    n = int(rng.integers(c.min_objects, c.max_objects + 1))
    out["num_objects"][()] = n
    bg = (0, 0, 0)
    if c.background == "hsv":
        bg = _hsv_color(rng.random(3), (0.0, 1.0), (0.0, 1.0))
        out["background"][...] = bg
    ncodes = len(bank.attrs)
    codes = [int(u * ncodes) for u in rng.random(n)]
    if c.colors == "saturated":
        colors = [tuple(SATURATED_COLORS[int(u * 7)].tolist()) for u in rng.random(n)]
    else:
        colors = []
        while len(colors) < n:
            col = _hsv_color(rng.random(3), c.saturation_range, c.value_range)
            if max(abs(col[0] - bg[0]), abs(col[1] - bg[1]), abs(col[2] - bg[2])) >= c.min_contrast:
                colors.append(col)
    return n, codes, colors


def _record(out, bank: SpriteBank, codes, colors, boxes, visible) -> None:
    n = len(codes)
    attrs = [bank.attrs[code] for code in codes]
    out["objects/shape"][:n] = [a[0] for a in attrs]
    out["objects/scale"][:n] = [a[1] for a in attrs]
    out["objects/orientation"][:n] = [a[2] for a in attrs]
    out["objects/color"][:n] = colors
    out["objects/position"][:n] = [(x + w / 2.0, y + h / 2.0) for y, x, h, w in boxes]
    out["objects/bbox"][:n] = [(x, y, x + w, y + h) for y, x, h, w in boxes]
    out["objects/depth"][:n] = range(n)
    out["objects/visible_pixels"][:n] = visible


def _positions(rng, c: DSpritesConfig, h: int, w: int):
    """Endless uniform top-left corners for an h x w sprite (drawn 8 at a time)."""
    while True:
        u = rng.random(16)
        for i in range(0, 16, 2):
            yield int(u[i] * (c.height - h + 1)), int(u[i + 1] * (c.width - w + 1))


def _separate(rng, c: DSpritesConfig, bank: SpriteBank, out) -> bool:
    """Non-overlapping placement; False when an object could not be placed."""
    n, codes, colors = _begin(rng, c, bank, out)
    if n == 0:
        return True
    occupied, stride, boxes = 0, bank.stride, []
    for code in codes:
        h, w = bank.sizes[code]
        foot = bank.foot_bits[code]
        for attempt, (y, x) in enumerate(_positions(rng, c, h, w)):
            if not occupied & (foot << (y * stride + x)):
                break
            if attempt + 1 >= c.max_attempts:
                return False
        occupied |= bank.bits[code] << (y * stride + x)
        boxes.append((y, x, h, w))
    _record(out, bank, codes, colors, boxes, [bank.areas[code] for code in codes])
    return True


def _overlapping(rng, c: DSpritesConfig, bank: SpriteBank, out) -> bool:
    """Back-to-front placement with occlusion; False when an object is (nearly) hidden."""
    n, codes, colors = _begin(rng, c, bank, out)
    stride, boxes, placed = bank.stride, [], []
    u = rng.random(2 * n)
    for k, code in enumerate(codes):
        h, w = bank.sizes[code]
        y, x = int(u[2 * k] * (c.height - h + 1)), int(u[2 * k + 1] * (c.width - w + 1))
        boxes.append((y, x, h, w))
        placed.append(bank.bits[code] << (y * stride + x))
    visible, front = [0] * n, 0
    for k in range(n - 1, -1, -1):
        visible[k] = (placed[k] & ~front).bit_count()
        front |= placed[k]
    if n and min(visible) < c.min_visible:
        return False
    _record(out, bank, codes, colors, boxes, visible)
    return True
