"""Multi-Texture (CIS): chessboard-textured shapes on procedural wood, stills and sequences.

``cis``: 64x64 RGB, 1-4 shapes (square, ellipse), count distribution
p(1, 2, 3, 4) = (.03, .07, .10, .80) (``count_probs``, over
``min_objects..max_objects``). Each shape is filled with a randomly
colorized chessboard (random integer cell size in ``cell_size_min..max``
pixels, random phase, aligned with the shape's rotation; its two colors are
either a hue-shifted pair sharing saturation or two independent HSV colors,
redrawn until they differ by ``min_contrast`` in some channel). Shapes are
drawn back to front (slot k at depth k; later slots occlude earlier ones)
on a randomly colorized procedural wood-grain background; every object
keeps at least ``min_visible`` visible pixels (the placement is redrawn
otherwise). Stores the visible segmentation and the amodal masks. Splits:
train 60,000 / test 10,000 (the paper gives no sizes for this dataset; we
use the CIS multi-dSprites sizes).

``cis-sequences``: the identity-switch benchmark. 256 test sequences (plus
1,000 train sequences) of ``num_frames`` = 20 frames with two objects, one
ellipse and one square (which one is slot 0, i.e. at the back, is random).
Each object moves along a smooth trajectory, linear motion plus a small
constant perpendicular acceleration (a gentle curve); both trajectories pass
within 2 pixels of a common crossing point at the same time (in the middle
half of the sequence) at an angle of 45-135 degrees, so the objects overlap
(the front one occludes the back one) at least once per sequence; whole
sprites stay inside the canvas and each object keeps ``min_visible`` visible
pixels in every frame (trajectories are redrawn otherwise). The object index
is its identity for the whole sequence. Shapes, scales, orientations,
textures and the background are constant over a sequence; the texture moves
with its object. Per-frame features carry a leading T axis.

Wood: rings are level sets of the distance to an off-canvas pith in a
frame squashed along the grain, warped by smooth noise, with fine streaks
along the grain (see :mod:`textures`). The ring-distance and grain fields
come from a bank drawn once per dataset (``wood_bank_size``); a sample picks
one, a dihedral view, a ring period, a phase and colors of one random hue.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from scenebench.config import Preset, Split
from scenebench.generator import Generator
from scenebench.registry import register_generator
from scenebench.schema import Feature

from .sources import sprites, textures

SHAPES = ("square", "ellipse")


@dataclass(frozen=True)
class TextureConfig(sprites.SpriteGrid):
    height: int = 64
    width: int = 64
    shapes: tuple[str, ...] = SHAPES
    max_size: int = 28  # a shape at scale 1 fits in max_size x max_size at any rotation
    scale_min: float = 0.5
    scale_max: float = 1.0
    num_scales: int = 6
    num_orientations: int = 40
    min_objects: int = 1
    max_objects: int = 4
    count_probs: tuple[float, ...] = (0.03, 0.07, 0.10, 0.80)  # p(min_objects), ..., p(max_objects)
    min_visible: int = 16  # fewest visible pixels per object (per frame for sequences)
    cell_size_min: int = 3  # chessboard cell size in pixels
    cell_size_max: int = 7
    palette: Literal["mixed", "hue_shift", "random"] = "mixed"  # chessboard colors; mixed: either, 50/50
    min_contrast: int = 60  # max channel difference between a chessboard's two colors
    background_hue_range: tuple[float, float] = (0.0, 1.0)  # wood hue
    ring_period_range: tuple[float, float] = (4.0, 10.0)  # wood ring spacing in pixels
    wood_bank_size: int = 256  # precomputed ring-distance fields per dataset
    num_frames: int = 0  # 0: still images; >= 2: sequences of that many frames (exactly 2 objects)
    speed_range: tuple[float, float] = (1.0, 2.5)  # sequences: pixels per frame
    max_curvature: float = 0.06  # sequences: max perpendicular acceleration, pixels / frame^2
    max_attempts: int = 1000  # scene redraws before giving up

    def validate(self) -> None:
        if not (16 <= self.height <= 1024 and 16 <= self.width <= 1024):
            raise ValueError(f"height/width must be in [16, 1024], got {self.height}x{self.width}")
        if not self.shapes:
            raise ValueError("shapes must name at least one shape")
        for s in self.shapes:
            if s not in sprites.SHAPES:
                raise ValueError(f"shapes: unknown shape {s!r}; expected some of {', '.join(sprites.SHAPES)}")
        if not 4 <= self.max_size <= min(self.height, self.width):
            raise ValueError(f"max_size must be in [4, {min(self.height, self.width)}], got {self.max_size}")
        if not 0 < self.scale_min <= self.scale_max <= 1:
            raise ValueError(f"scale_min/scale_max: need 0 < scale_min <= scale_max <= 1, got {self.scale_min}, {self.scale_max}")
        if self.num_scales < 1 or self.num_orientations < 1:
            raise ValueError(f"num_scales and num_orientations must be >= 1, got {self.num_scales}, {self.num_orientations}")
        if not 1 <= self.min_objects <= self.max_objects <= 255:
            raise ValueError(f"min_objects/max_objects: need 1 <= min_objects <= max_objects <= 255, got {self.min_objects}, {self.max_objects}")
        if self.num_frames < 0 or self.num_frames == 1 or self.num_frames > 1000:
            raise ValueError(f"num_frames must be 0 (still images) or in [2, 1000], got {self.num_frames}")
        if self.num_frames and not self.min_objects == self.max_objects == 2:
            raise ValueError(f"sequences (num_frames > 0) need min_objects = max_objects = 2, got {self.min_objects}, {self.max_objects}")
        span = self.max_objects - self.min_objects + 1
        if len(self.count_probs) != span:
            raise ValueError(f"count_probs must have {span} entries (one per count {self.min_objects}..{self.max_objects}), got {len(self.count_probs)}")
        if any(not math.isfinite(p) or p < 0 for p in self.count_probs) or abs(sum(self.count_probs) - 1) > 1e-6:
            raise ValueError(f"count_probs must be non-negative and sum to 1, got {list(self.count_probs)}")
        if self.min_visible < 1:
            raise ValueError(f"min_visible must be >= 1, got {self.min_visible}")
        if self.max_objects * self.min_visible > self.height * self.width // 2:
            raise ValueError(f"min_visible={self.min_visible}: {self.max_objects} objects cannot each keep that many visible pixels")
        if not 1 <= self.cell_size_min <= self.cell_size_max <= self.max_size:
            raise ValueError(f"cell_size_min/cell_size_max: need 1 <= min <= max <= max_size, got {self.cell_size_min}, {self.cell_size_max}")
        if not 0 <= self.min_contrast <= 200:
            raise ValueError(f"min_contrast must be in [0, 200], got {self.min_contrast}")
        lo, hi = self.background_hue_range
        if not 0 <= lo <= hi <= 1:
            raise ValueError(f"background_hue_range must satisfy 0 <= lo <= hi <= 1, got ({lo}, {hi})")
        lo, hi = self.ring_period_range
        if not 1 <= lo <= hi <= 1000:
            raise ValueError(f"ring_period_range must satisfy 1 <= lo <= hi <= 1000, got ({lo}, {hi})")
        if not 1 <= self.wood_bank_size <= 4096:
            raise ValueError(f"wood_bank_size must be in [1, 4096], got {self.wood_bank_size}")
        lo, hi = self.speed_range
        if not 0 <= lo <= hi <= max(self.height, self.width):
            raise ValueError(f"speed_range must satisfy 0 <= lo <= hi <= canvas size, got ({lo}, {hi})")
        if not 0 <= self.max_curvature <= 10:
            raise ValueError(f"max_curvature must be in [0, 10], got {self.max_curvature}")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")


@dataclass
class Assets:
    """Sprite bank (every shape x scale x orientation) with object-frame coordinates, and the wood bank.

    code = (shape * num_scales + scale) * num_orientations + orientation.
    """

    masks: list  # code -> bool (h, w), tight crop
    coords: list  # code -> float32 (2, h, w): (u, v) object-frame coordinates for the chessboard
    attrs: list  # code -> (shape index, scale, orientation)
    count_cdf: np.ndarray
    wood: textures.WoodBank


@register_generator
class MultiTexture(Generator):
    name = "multi_texture"
    VERSION = "1.0.0"
    RELEASE_NOTES = {"1.0.0": "First release: presets cis (1-4 chessboard-textured shapes on wood, amodal masks) "
                              "and cis-sequences (2 crossing objects, 20 frames, constant identities)."}
    Config = TextureConfig
    description = "Multi-Texture: chessboard-textured squares/ellipses on procedural wood (CIS), stills and sequences"
    paper = "CIS (Yang et al. 2020)"
    PRESETS = {
        "cis": Preset(TextureConfig(), {"train": Split(60_000), "test": Split(10_000)},
                      "CIS: 1-4 occluding chessboard-textured shapes on wood, p(4,3,2,1) = (.8,.1,.07,.03), amodal masks"),
        "cis-sequences": Preset(
            TextureConfig(min_objects=2, max_objects=2, count_probs=(1.0,), num_frames=20, scale_min=0.6,
                          max_size=26),
            {"train": Split(1_000), "test": Split(256)},
            "CIS identity-switch benchmark: 20-frame sequences of a square and an ellipse crossing each other"),
    }

    def features(self, c: TextureConfig) -> list[Feature]:
        K, H, W, T = c.max_objects, c.height, c.width, c.num_frames
        t = (T,) if T else ()
        per = "per frame, " if T else ""
        return [
            Feature("image", t + (H, W, 3), "uint8", doc=f"RGB scene{' per frame' if T else ''}"),
            Feature("segmentation", t + (H, W), "uint8", doc=f"{per}visible partition: 0 background, k+1 object slot k"),
            Feature("masks", t + (K, H, W), "bool", doc=f"{per}amodal (unoccluded) mask per object slot"),
            Feature("num_objects", (), "uint8", doc="number of objects"),
            Feature("objects/shape", (K,), "int8", doc="shape code (-1 = empty slot)", labels=c.shapes),
            Feature("objects/scale", (K,), "float32", doc="scale in [scale_min, scale_max]"),
            Feature("objects/orientation", (K,), "float32", doc="rotation angle in radians, [0, 2pi)"),
            Feature("objects/position", t + (K, 2), "float32", doc=f"{per}(x, y) centre of the shape's bounding box, pixels"),
            Feature("objects/bbox", t + (K, 4), "int16", doc=f"{per}(x_min, y_min, x_max, y_max), max exclusive"),
            Feature("objects/depth", (K,), "int8", doc="z-order, 0 = drawn first (back-most)"),
            Feature("objects/color", (K, 2, 3), "int16", doc="the chessboard's two RGB colors 0-255 (-1 = empty slot)"),
            Feature("objects/cell_size", (K,), "int16", doc="chessboard cell size in pixels"),
            Feature("objects/visible_pixels", t + (K,), "int32", doc=f"{per}visible pixel count"),
            Feature("background/color", (2, 3), "uint8", doc="wood colors: dark (late wood) and light (early wood) RGB"),
        ]

    def prepare(self, c: TextureConfig, rng) -> Assets:
        masks, coords, attrs = [], [], []
        for si, shape in enumerate(c.shapes):
            for scale in c.scales:
                for angle in c.orientations:
                    m = sprites.rasterize(shape, c.max_size, float(scale), float(angle))
                    h, w = m.shape
                    dy, dx = np.mgrid[0:h, 0:w].astype(np.float64)
                    dy -= (h - 1) / 2.0
                    dx -= (w - 1) / 2.0
                    # sprites rotate (row, col) by R(angle); map pixels back into the shape's own frame
                    ca, sa = math.cos(angle), math.sin(angle)
                    uv = np.stack([ca * dy + sa * dx, -sa * dy + ca * dx]).astype(np.float32)
                    masks.append(m)
                    coords.append(uv)
                    attrs.append((si, float(scale), float(angle)))
        cdf = np.cumsum(np.asarray(c.count_probs, np.float64))
        cdf /= cdf[-1]
        wood = textures.wood_bank(rng, c.height, c.width, n=c.wood_bank_size)
        return Assets(masks, coords, attrs, cdf, wood)

    def describe_assets(self, assets: Assets) -> dict:
        return {"sprites": len(assets.masks), "wood_fields": int(len(assets.wood.rings))}

    def draw_scene(self, rng: np.random.Generator, c: TextureConfig, assets: Assets, out) -> None:
        if c.num_frames:
            _draw_sequence(rng, c, assets, out)
        else:
            _draw_still(rng, c, assets, out)


# ---------------------------------------------------------------- shared pieces
def _color_pairs(rng, c: TextureConfig, n: int) -> np.ndarray:
    """Each object's two chessboard colors, (n, 2, 3) uint8; a pair without enough contrast is redrawn."""
    pairs = []
    rows = rng.random((n, 9)).tolist()
    k = 0
    while k < n:
        u = rows[k]
        shift = c.palette == "hue_shift" or (c.palette == "mixed" and u[8] < 0.5)
        if shift:  # one saturation, hues a quarter to three quarters apart
            s1 = s2 = 0.5 + 0.5 * u[1]
            h2, v1, v2 = u[0] + 0.25 + 0.5 * u[3], 0.55 + 0.45 * u[2], 0.3 + 0.7 * u[5]
        else:  # two independent colors
            s1, s2, h2 = 0.3 + 0.7 * u[1], 0.3 + 0.7 * u[4], u[3]
            v1, v2 = 0.3 + 0.7 * u[2], 0.3 + 0.7 * u[6]
        a = [round(x * 255) for x in colorsys.hsv_to_rgb(u[0], s1, v1)]
        b = [round(x * 255) for x in colorsys.hsv_to_rgb(h2 % 1.0, s2, v2)]
        if max(abs(x - y) for x, y in zip(a, b)) >= c.min_contrast:
            pairs.append((a, b))
            k += 1
        else:
            rows[k] = rng.random(9).tolist()
    return np.array(pairs, np.uint8).reshape(n, 2, 3)


def _texture(rng, c: TextureConfig, assets: Assets, code: int, colors: np.ndarray):
    """(texture (h, w, 3) uint8, cell size) of one object with chessboard ``colors`` (2, 3)."""
    u = rng.random(3)
    cell = c.cell_size_min + int(u[0] * (c.cell_size_max - c.cell_size_min + 1))
    uv = assets.coords[code]
    idx = textures.chessboard(uv[0], uv[1], cell, u[1] * cell, u[2] * cell)
    return np.take(colors, idx, axis=0), cell


def _paste(image, seg, amodal, k, tex, mask, y, x):
    h, w = mask.shape
    np.copyto(image[y: y + h, x: x + w], tex, where=mask[:, :, None])
    np.copyto(seg[y: y + h, x: x + w], k + 1, where=mask)
    amodal[k, y: y + h, x: x + w] = mask


def _record_static(out, k, attrs, colors, cell):
    out["objects/shape"][k] = attrs[0]
    out["objects/scale"][k] = attrs[1]
    out["objects/orientation"][k] = attrs[2]
    out["objects/depth"][k] = k
    out["objects/color"][k] = colors
    out["objects/cell_size"][k] = cell


# ---------------------------------------------------------------- stills
def _draw_still(rng, c: TextureConfig, assets: Assets, out) -> None:
    H, W = c.height, c.width
    n = c.min_objects + int(np.searchsorted(assets.count_cdf, rng.random(), side="right"))
    n = min(n, c.max_objects)
    image = out["image"]
    bg_colors = textures.wood(rng, assets.wood, image, c.background_hue_range, c.ring_period_range)
    bg = image.copy()
    colors = _color_pairs(rng, c, n)
    seg, amodal = out["segmentation"], out["masks"]
    for attempt in range(c.max_attempts):
        codes = rng.integers(0, len(assets.masks), size=n)
        corners = rng.random((n, 2))
        if attempt:  # out starts padded; a redraw restores the padding and the background
            out.reset()
            image[...] = bg
        boxes, texs = [], []
        for k in range(n):
            mask = assets.masks[codes[k]]
            h, w = mask.shape
            y, x = int(corners[k, 0] * (H - h + 1)), int(corners[k, 1] * (W - w + 1))
            tex = _texture(rng, c, assets, codes[k], colors[k])
            _paste(image, seg, amodal, k, tex[0], mask, y, x)
            boxes.append((y, x, h, w))
            texs.append(tex)
        visible = np.bincount(seg.ravel(), minlength=n + 1)[1:]
        if visible.min() >= c.min_visible:
            break
    else:
        raise RuntimeError(f"multi_texture: no valid scene in {c.max_attempts} attempts; lower min_visible or max_size")
    out["num_objects"][()] = n
    out["background/color"][...] = bg_colors
    for k in range(n):
        y, x, h, w = boxes[k]
        _record_static(out, k, assets.attrs[codes[k]], colors[k], texs[k][1])
        out["objects/position"][k] = (x + w / 2.0, y + h / 2.0)
        out["objects/bbox"][k] = (x, y, x + w, y + h)
        out["objects/visible_pixels"][k] = visible[k]


# ---------------------------------------------------------------- sequences
def _trajectories(rng, c: TextureConfig, sizes) -> np.ndarray | None:
    """Top-left corners (T, K, 2) as (y, x) ints of two crossing objects, or None when out of bounds."""
    T, H, W = c.num_frames, c.height, c.width
    u = rng.random(12)
    tc = (0.25 + 0.5 * u[0]) * (T - 1)
    cross = np.array([H * (0.3 + 0.4 * u[1]), W * (0.3 + 0.4 * u[2])])  # (y, x)
    th0 = 2 * np.pi * u[3]
    th1 = th0 + (1 if u[4] < 0.5 else -1) * (np.pi / 4 + np.pi / 2 * u[5])
    tau = np.arange(T) - tc
    corners = np.empty((T, 2, 2), np.int64)
    for k, (th, us, ua) in enumerate(((th0, u[6], u[7]), (th1, u[8], u[9]))):
        speed = c.speed_range[0] + (c.speed_range[1] - c.speed_range[0]) * us
        acc = c.max_curvature * (2 * ua - 1)
        d = np.array([np.sin(th), np.cos(th)])  # (dy, dx)
        perp = np.array([d[1], -d[0]])
        offset = (rng.random(2) - 0.5) * 4.0  # within 2 px of the crossing point
        centre = cross + offset + speed * tau[:, None] * d + 0.5 * acc * (tau**2)[:, None] * perp
        h, w = sizes[k]
        corners[:, k, 0] = np.floor(centre[:, 0] - h / 2.0 + 0.5)
        corners[:, k, 1] = np.floor(centre[:, 1] - w / 2.0 + 0.5)
        if (corners[:, k, 0].min() < 0 or corners[:, k, 0].max() > H - h
                or corners[:, k, 1].min() < 0 or corners[:, k, 1].max() > W - w):
            return None
    return corners


def _draw_sequence(rng, c: TextureConfig, assets: Assets, out) -> None:
    T, K = c.num_frames, 2
    ns, no = c.num_scales, c.num_orientations
    image = out["image"]
    bg_colors = textures.wood(rng, assets.wood, image[0], c.background_hue_range, c.ring_period_range)
    bg = image[0].copy()
    s0 = int(rng.integers(0, len(c.shapes)))
    for _ in range(c.max_attempts):
        shapes = [(k + s0) % len(c.shapes) for k in range(K)]
        codes = [(s * ns + int(rng.integers(0, ns))) * no + int(rng.integers(0, no)) for s in shapes]
        sizes = [assets.masks[code].shape for code in codes]
        corners = _trajectories(rng, c, sizes)
        if corners is None:
            continue
        colors = _color_pairs(rng, c, K)
        texs = [_texture(rng, c, assets, code, colors[k]) for k, code in enumerate(codes)]
        out.reset()
        image[...] = bg
        seg, amodal = out["segmentation"], out["masks"]
        for t in range(T):
            for k in range(K):
                _paste(image[t], seg[t], amodal[t], k, texs[k][0], assets.masks[codes[k]], *corners[t, k])
        visible = np.stack([np.bincount(seg[t].ravel(), minlength=K + 1)[1:] for t in range(T)])
        if visible.min() >= c.min_visible and (amodal[:, 0] & amodal[:, 1]).any():
            break
    else:
        raise RuntimeError(f"multi_texture: no valid sequence in {c.max_attempts} attempts; "
                           "lower min_visible, speed_range or max_size")
    out["num_objects"][()] = K
    out["background/color"][...] = bg_colors
    hw = np.array([s[::-1] for s in sizes], np.float64)  # (K, 2) as (w, h)
    xy = corners[:, :, ::-1]  # (T, K, 2) as (x, y)
    out["objects/position"][...] = xy + hw / 2.0
    out["objects/bbox"][...] = np.concatenate([xy, xy + hw.astype(np.int64)], axis=-1)
    out["objects/visible_pixels"][...] = visible
    for k in range(K):
        _record_static(out, k, assets.attrs[codes[k]], colors[k], texs[k][1])
