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

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from scenebench.config import Preset, Split
from scenebench.generator import Generator
from scenebench.datasets.identity import RngSource, draw_rows
from scenebench.registry import register_generator
from scenebench.datasets.schema import Feature

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
    Sprite pixels are listed in ``pixels`` (a :class:`sprites.PixelBank`);
    ``u, v`` are the object-frame coordinates of those pixels, which the
    chessboard is drawn in.
    """

    pixels: sprites.PixelBank
    u: np.ndarray  # (P,) float32, aligned with pixels.dy / dx
    v: np.ndarray  # (P,) float32
    shape: np.ndarray  # (N,) int8
    scale: np.ndarray  # (N,) float32
    orientation: np.ndarray  # (N,) float32
    count_cdf: np.ndarray
    wood: textures.WoodBank


@register_generator
class MultiTexture(Generator):
    name = "multi_texture"
    VERSION = "1.2.0"
    RELEASE_NOTES = {
        "1.0.0": "First release: presets cis (1-4 chessboard-textured shapes on wood, amodal masks) "
                 "and cis-sequences (2 crossing objects, 20 frames, constant identities).",
        "1.1.0": "Stills are drawn a whole batch at a time with numpy (about 3x faster). Same textures, shapes "
                 "and distributions, but each sample reads its random stream in a new order (wood, count, "
                 "chessboard colors with 7 values a try, layouts, chessboard cells), so the samples of a seed "
                 "differ from 1.0.0; sequences change with the shared texture code.",
        "1.2.0": "Every random stream is keyed by the dataset (family/preset) as well as the seed, split and "
                 "index, so datasets of different families or presets with the same seed are independent "
                 "(before, e.g. multi_dsprites/lavae and multi_mnist/lavae-1k had the same object counts); the "
                 "samples of a seed differ from 1.1.0. Shards are stored with deflate by default (plain HDF5 "
                 "filters: any reader opens them) in power-of-two chunks.",
    }
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
        masks, us, vs, attrs = [], [], [], []
        for si, shape in enumerate(c.shapes):
            for scale in c.scales:
                for angle in c.orientations:
                    m = sprites.rasterize(shape, c.max_size, float(scale), float(angle))
                    h, w = m.shape
                    dy, dx = np.nonzero(m)
                    dy = dy - (h - 1) / 2.0
                    dx = dx - (w - 1) / 2.0
                    # sprites rotate (row, col) by R(angle); map pixels back into the shape's own frame
                    ca, sa = math.cos(angle), math.sin(angle)
                    us.append((ca * dy + sa * dx).astype(np.float32))
                    vs.append((-sa * dy + ca * dx).astype(np.float32))
                    masks.append(m)
                    attrs.append((si, scale, angle))
        shape, scale, angle = (np.array(a) for a in zip(*attrs))
        cdf = np.cumsum(np.asarray(c.count_probs, np.float64))
        cdf /= cdf[-1]
        wood = textures.wood_bank(rng, c.height, c.width, n=c.wood_bank_size)
        return Assets(sprites.pixel_bank(masks, c.height, c.width), np.concatenate(us), np.concatenate(vs),
                      shape.astype(np.int8), scale.astype(np.float32), angle.astype(np.float32), cdf, wood)

    def describe_assets(self, assets: Assets) -> dict:
        return {"sprites": len(assets.pixels), "wood_fields": int(len(assets.wood.rings))}

    def draw_scene(self, rng: np.random.Generator, c: TextureConfig, assets: Assets, out) -> None:
        """One scene (or sequence) from ``rng``: the batch of one of :meth:`draw_batch`."""
        self.draw_batch(RngSource(rng), c, assets, {k: v[None] for k, v in out.items()})

    def draw_batch(self, source, c: TextureConfig, assets: Assets, arrays) -> None:
        """Stills: the whole batch with numpy operations; sequences: one sequence at a time."""
        if c.num_frames:
            for j in range(source.n):
                _draw_sequence(source.rng(j), c, assets, {k: v[j, ...] for k, v in arrays.items()})
            return
        K = c.max_objects
        # one scene with one color pair and one layout try, plus room for a few redraws
        budget = textures.WOOD_DRAWS + 1 + COLOR_DRAWS * K + 3 * K + 3 * K + 24
        draw_rows(source, source.n, budget, lambda d, rows: _stills(d, rows, c, assets, arrays))


# ---------------------------------------------------------------- shared pieces
COLOR_DRAWS = 7  # uniform values per chessboard color pair try


def color_pairs(u: np.ndarray, c: TextureConfig):
    """Chessboard color pairs from ``u`` (R, COLOR_DRAWS) uniforms: ((R, 2, 3) uint8, (R,) enough contrast).

    u = (hue 1, saturation 1, value 1, hue 2, saturation 2, value 2, kind).
    Either a hue-shifted pair sharing its saturation (hue 2 a quarter to
    three quarters from hue 1) or two independent colors (``palette``;
    mixed: kind < 0.5 picks the shifted pair). A pair whose colors differ
    by less than ``min_contrast`` in every channel is to be redrawn.
    """
    shift = np.full(len(u), c.palette == "hue_shift") if c.palette != "mixed" else u[:, 6] < 0.5
    s1 = np.where(shift, 0.5 + 0.5 * u[:, 1], 0.3 + 0.7 * u[:, 1])
    s2 = np.where(shift, s1, 0.3 + 0.7 * u[:, 4])
    h2 = np.where(shift, u[:, 0] + 0.25 + 0.5 * u[:, 3], u[:, 3])
    v1 = np.where(shift, 0.55 + 0.45 * u[:, 2], 0.3 + 0.7 * u[:, 2])
    v2 = 0.3 + 0.7 * u[:, 5]
    pair = np.stack([textures.hsv_to_rgb(u[:, 0], s1, v1), textures.hsv_to_rgb(h2, s2, v2)], axis=1)
    contrast = np.abs(pair[:, 0].astype(np.int16) - pair[:, 1]).max(-1)
    return pair, contrast >= c.min_contrast


def _draw_colors(d, rows, n, c: TextureConfig, tries: int = 1000) -> np.ndarray:
    """Chessboard color pairs (R, K, 2, 3) uint8 of the scenes at ``rows`` of ``d`` with ``n`` objects.

    In rounds: each object still without colors takes COLOR_DRAWS values
    (objects in slot order) and keeps the pair if it has ``min_contrast``.
    """
    K = c.max_objects
    colors = np.zeros((len(rows), K, 2, 3), np.uint8)
    need = np.arange(K) < n[:, None]
    todo = np.arange(len(rows))
    for _ in range(tries):
        todo = todo[need[todo].any(1) & ~d.short[rows[todo]]]
        if not todo.size:
            return colors
        j, k = np.nonzero(need[todo])
        u = d.take_ragged(rows[todo], need[todo].sum(1) * COLOR_DRAWS).reshape(-1, COLOR_DRAWS)
        pair, good = color_pairs(u, c)
        j, k = todo[j[good]], k[good]
        colors[j, k] = pair[good]
        need[j, k] = False
    raise RuntimeError(f"multi_texture: no chessboard colors {c.min_contrast} apart in {tries} tries; "
                       "lower min_contrast")


def texture_params(u: np.ndarray, c: TextureConfig):
    """Chessboard cell size (int64) and phase offsets (float64, pixels) from ``u`` (..., 3) uniforms."""
    cell = c.cell_size_min + (u[..., 0] * (c.cell_size_max - c.cell_size_min + 1)).astype(np.int64)
    return cell, u[..., 1] * cell, u[..., 2] * cell


def paint_textured(assets: Assets, rows, codes, y, x, n, cell, off_u, off_v, colors, image, masks=None) -> None:
    """Paint chessboard-textured sprites back to front, for many scenes (or frames) at once.

    Scene j goes to row ``rows[j]`` of ``image`` (B, H, W, 3) and of the
    amodal ``masks`` (B, K, H, W); its sprites ``codes[j, :n[j]]`` sit at
    top-left corners ``y, x``; ``cell, off_u, off_v`` (R, K) are their
    chessboards, ``colors`` (R, K, 2, 3) uint8 their two colors.
    """
    pixels = sprites.rgb_items(image)
    flat_masks = None if masks is None else masks.reshape(-1)
    for layer in sprites.slot_layers(assets.pixels, rows, codes, y, x, n):
        j, k, pix, lens = layer.j, layer.k, layer.pix, layer.lens
        parity = textures.chessboard(assets.u[pix], assets.v[pix], cell[j, k], off_u[j, k], off_v[j, k], lens)
        parity += np.repeat(np.arange(0, 2 * len(j), 2), lens)  # index into the (objects x 2) colors
        pixels[layer.frame_index()] = sprites.rgb_items(np.ascontiguousarray(colors[j, k])).take(parity)
        if flat_masks is not None:
            flat_masks[layer.mask_index()] = True


def _record_objects(arrays, out, n, codes, y, x, colors, cell, visible, assets: Assets) -> None:
    """Per-object attributes of finished scenes ``out`` (rows of ``arrays``); stills: one frame."""
    K = codes.shape[1]
    px = assets.pixels
    j, k = np.nonzero(np.arange(K) < n[:, None])
    code, o, yy, xx = codes[j, k], out[j], y[j, k], x[j, k]
    h, w = px.sizes[code, 0], px.sizes[code, 1]
    arrays["objects/shape"][o, k] = assets.shape[code]
    arrays["objects/scale"][o, k] = assets.scale[code]
    arrays["objects/orientation"][o, k] = assets.orientation[code]
    arrays["objects/depth"][o, k] = k
    arrays["objects/color"][o, k] = colors[j, k]
    arrays["objects/cell_size"][o, k] = cell[j, k]
    arrays["objects/position"][o, k] = np.stack([xx + w / 2.0, yy + h / 2.0], -1)
    arrays["objects/bbox"][o, k] = np.stack([xx, yy, xx + w, yy + h], -1)
    arrays["objects/visible_pixels"][o, k] = visible[j, k]


# ---------------------------------------------------------------- stills
def _stills(d, rows, c: TextureConfig, assets: Assets, arrays) -> None:
    """Draw the still scenes of batch rows ``rows`` from ``d``; write the finished ones into ``arrays``.

    Stream of one sample: the wood (WOOD_DRAWS values), the object count
    (1), the chessboard colors (see :func:`_draw_colors`), then layout tries of K sprite codes and K corners
    (3K values each) until every object keeps ``min_visible`` pixels, then
    each object's chessboard cell size and phase (3K values).
    """
    R, K, H, W = len(rows), c.max_objects, c.height, c.width
    px = assets.pixels
    all_rows = np.arange(R)
    wood_u = d.take(all_rows, textures.WOOD_DRAWS)
    n = c.min_objects + np.searchsorted(assets.count_cdf, d.take(all_rows, 1)[:, 0], side="right")
    n = np.minimum(n, K)
    colors = _draw_colors(d, all_rows, n, c)
    codes = np.zeros((R, K), np.int64)
    y = np.zeros((R, K), np.int64)
    x = np.zeros((R, K), np.int64)
    visible = np.zeros((R, K), np.int64)
    seg = np.zeros((R, H * W), np.uint8)
    todo = d.live(all_rows)
    for _ in range(c.max_attempts):
        u = d.take(todo, 3 * K)
        cc = (u[:, :K] * len(px)).astype(np.int64)
        yy = (u[:, K::2] * (H - px.sizes[cc, 0] + 1)).astype(np.int64)
        xx = (u[:, K + 1::2] * (W - px.sizes[cc, 1] + 1)).astype(np.int64)
        seg[todo] = 0
        vis = sprites.paint_visible(px, todo, cc, yy, xx, n[todo], seg)
        good = np.where(np.arange(K) < n[todo, None], vis, c.min_visible).min(1) >= c.min_visible
        done = todo[good]
        codes[done], y[done], x[done], visible[done] = cc[good], yy[good], xx[good], vis[good]
        todo = d.live(todo[~good])
        if not todo.size:
            break
    else:
        raise RuntimeError(f"multi_texture: no valid scene in {c.max_attempts} attempts; lower min_visible or max_size")
    cell, off_u, off_v = texture_params(d.take(all_rows, 3 * K).reshape(R, K, 3), c)
    fin = np.flatnonzero(~d.short)  # rows drawn in full; short ones are drawn again with more values
    if not fin.size:
        return
    out = rows[fin]
    n, codes, y, x, colors, cell = n[fin], codes[fin], y[fin], x[fin], colors[fin], cell[fin]
    image = arrays["image"]
    bg = textures.wood(assets.wood, wood_u[fin], image, out, c.background_hue_range, c.ring_period_range)
    arrays["segmentation"][out] = seg[fin].reshape(-1, H, W)
    paint_textured(assets, out, codes, y, x, n, cell, off_u[fin], off_v[fin], colors, image, arrays["masks"])
    arrays["num_objects"][out] = n
    arrays["background/color"][out] = bg
    _record_objects(arrays, out, n, codes, y, x, colors, cell, visible[fin], assets)


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
    """One sequence from ``rng`` into ``out`` (this sample's (T, ...) arrays, padded)."""
    T, K, H, W = c.num_frames, 2, c.height, c.width
    ns, no = c.num_scales, c.num_orientations
    px = assets.pixels
    wood_u = rng.random((1, textures.WOOD_DRAWS))
    s0 = int(rng.integers(0, len(c.shapes)))
    seg = np.zeros((T, H * W), np.uint8)
    frames = np.arange(T)
    for _ in range(c.max_attempts):
        shapes = [(k + s0) % len(c.shapes) for k in range(K)]
        codes = np.array([(s * ns + int(rng.integers(0, ns))) * no + int(rng.integers(0, no)) for s in shapes])
        corners = _trajectories(rng, c, px.sizes[codes])
        if corners is None:
            continue
        for _ in range(1000):
            pair, good = color_pairs(rng.random((K, COLOR_DRAWS)), c)
            if good.all():
                break
        else:
            raise RuntimeError(f"multi_texture: no chessboard colors {c.min_contrast} apart in 1000 tries; "
                               "lower min_contrast")
        cell, off_u, off_v = texture_params(rng.random((K, 3)), c)
        seg[...] = 0
        every = np.broadcast_to(codes, (T, K))
        visible = sprites.paint_visible(px, frames, every, corners[..., 0], corners[..., 1], np.full(T, K), seg)
        # the front object hides part of the back one in some frame: the objects cross
        if visible.min() >= c.min_visible and (visible[:, 0] < px.npix[codes[0]]).any():
            break
    else:
        raise RuntimeError(f"multi_texture: no valid sequence in {c.max_attempts} attempts; "
                           "lower min_visible, speed_range or max_size")
    image = out["image"]
    bg = textures.wood(assets.wood, wood_u, image, None, c.background_hue_range, c.ring_period_range)
    image[1:] = image[0]
    out["segmentation"][...] = seg.reshape(T, H, W)
    rep = lambda a: np.broadcast_to(a, (T,) + a.shape)  # noqa: E731  constant over the sequence
    paint_textured(assets, frames, every, corners[..., 0], corners[..., 1], np.full(T, K), rep(cell), rep(off_u),
                   rep(off_v), rep(pair), image, out["masks"])
    out["num_objects"][()] = K
    out["background/color"][...] = bg[0]
    hw = px.sizes[codes][:, ::-1].astype(np.float64)  # (K, 2) as (w, h)
    xy = corners[:, :, ::-1]  # (T, K, 2) as (x, y)
    out["objects/position"][...] = xy + hw / 2.0
    out["objects/bbox"][...] = np.concatenate([xy, xy + hw.astype(np.int64)], axis=-1)
    out["objects/visible_pixels"][...] = visible
    k = np.arange(K)
    out["objects/shape"][k] = assets.shape[codes]
    out["objects/scale"][k] = assets.scale[codes]
    out["objects/orientation"][k] = assets.orientation[codes]
    out["objects/depth"][k] = k
    out["objects/color"][k] = pair
    out["objects/cell_size"][k] = cell
