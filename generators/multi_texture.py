"""Multi-Texture (CIS): chessboard-textured shapes on wood, stills and sequences.

``cis``: the Multi-Texture of the CIS paper as its authors' public
generator makes it (``style="authors"``), 64x64 RGB, 1-4 objects with
p(1, 2, 3, 4) = (.03, .07, .10, .80). Each object is, uniformly, an
axis-aligned ellipse 17 px wide x 11 px tall (semi-axes 8.8 x 5.1 px sampled
at pixel centres: 143 px) or a 13x13 square, never scaled or rotated, drawn
as a binary mask centred on the canvas at pixel (H // 2, W // 2) and
translated by an offset (dr, dc) ~ U(-H/2, H/2) x U(-W/2, W/2) (sub-pixel)
with cubic-spline interpolation and zero fill (equal, to ~1e-13, to
``scipy.ndimage.shift(mask, (dr, dc), order=3, mode="constant")``), clipped
to [0, 1]: the centre is anywhere in (0, H) x (0, W), objects may leave the
frame and edges are soft. A new object whose offset lies within L1 distance
``min_offset_l1`` = 10 of an earlier one is redrawn. The first object placed
is in front: each object's alpha is its mask times (1 - the alphas already
placed), the background's 1 - their sum. Texture: one chessboard of 4-px
cells, yellow (217, 197, 34) in the top-left cell and blue (29, 51, 233),
fixed in image coordinates (an object is a window onto it). Colorization: a
hue rotation (RGB -> HSV, hue += delta mod 1, back; saturation and value
kept), delta ~ U(-0.45, 0.45) drawn independently for the background and
each object. Background: one procedural wood plank with horizontal grain
(:func:`textures.plank`) with the statistics of the authors' photo (mean RGB
(173, 121, 80), luma std 5.7, mean |luma gradient| 1.0 along x and 4.4 along
y). Like their one photo, it is the same for every image, split and seed of
a dataset: it is drawn from its own stream, ``plank_seed`` (a config field,
default 0; part of the fingerprint), not from the dataset seed. Random stream
of a sample: the count (1 value), then per object its shape (1) and offset
tries (2 each), then the hue shifts of the background and of the K slots
(K + 1, all drawn whatever the count).

Stored: the soft ``alpha`` (K+1, H, W) uint8, layer 0 the background and
layer k+1 object slot k, in 1/255 units that sum to exactly 255 at every
pixel (the running coverage 1 - background is rounded, each object gets its
increment); the image is composited from these stored alphas and rounded.
``segmentation`` is the argmax of ``alpha`` over its K+1 layers, ties to the
lower layer (the background, then the front-most object): a pixel belongs to
an object only if its alpha exceeds the background's (alone, alpha > 1/2)
and is no less than every other object's. ``masks`` (amodal) are the
objects' own alphas (before occlusion) > 1/2. Offsets, centres, shapes and
hue shifts are stored per object. Splits: train 60,000 / test 10,000 (the
paper gives no sizes; we use the CIS multi-dSprites sizes).

``cis-grid``: the authors' evaluation set for identity switching: 9**4 - 1 =
6,560 still images (one ``test`` split) of two objects, the ellipse (object
0, in front) and the square (object 1), at every pair of offsets dr, dc in
``grid_offsets`` = (-24, -18, ..., 24) (centres on {8, 14, ..., 56}**2),
rendered as ``cis`` with integer offsets and fixed hue shifts ``grid_hues``:
background -0.2, ellipse 0, square +0.2. Sample i encodes the offset indices
as base-9 digits, fastest first: ellipse row offset, ellipse column offset,
square row offset, square column offset; the last combination (both
objects at offset (24, 24)) is dropped. Nothing is random: the data do not
depend on the seed. Object k is the same object in every image (slot 0 is
always the ellipse, slot 1 the square), so the split can be scored as one
track.

``cis-rich``: scenebench's richer variant (``style="rich"``; the ``cis``
preset of versions 1.0-1.2): 64x64 RGB, 1-4 shapes (square, ellipse), count
distribution p(1, 2, 3, 4) = (.03, .07, .10, .80) (``count_probs``, over
``min_objects..max_objects``), scaled and rotated. Each shape is filled with
a randomly colorized chessboard (random integer cell size in
``cell_size_min..max`` pixels, random phase, aligned with the shape's
rotation; its two colors are either a hue-shifted pair sharing saturation or
two independent HSV colors, redrawn until they differ by ``min_contrast`` in
some channel). Shapes are drawn back to front (slot k at depth k; later
slots occlude earlier ones) on a randomly colorized procedural wood-grain
background; every object keeps at least ``min_visible`` visible pixels (the
placement is redrawn otherwise). Stores the visible segmentation and the
amodal masks. Splits: train 60,000 / test 10,000.

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
with its object. Per-frame features carry a leading T axis. Drawn with the
rich renderer.

Rich wood (``cis-rich``, ``cis-sequences``): rings are level sets of the
distance to an off-canvas pith in a frame squashed along the grain, warped
by smooth noise, with fine streaks along the grain (see :mod:`textures`).
The ring-distance and grain fields come from a bank drawn once per dataset
(``wood_bank_size``); a sample picks one, a dihedral view, a ring period, a
phase and colors of one random hue.
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
from scenebench.errors import ConfigError

from .sources import sprites, textures

SHAPES = ("square", "ellipse")
AUTHORS_SHAPES = ("ellipse", "square")  # the CIS authors' two masks, in their order


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
    # which renderer: "rich" (cis-rich, cis-sequences) or the CIS authors' one (cis, cis-grid); the fields
    # above from max_size to max_curvature (but the counts) are the rich renderer's, those below the authors'
    style: Literal["rich", "authors"] = "rich"
    layout: Literal["random", "grid"] = "random"  # authors: random placements, or the enumerated two-object grid
    min_offset_l1: float = 10.0  # authors: an object's offset is redrawn while within this L1 distance of an earlier one
    hue_shift_range: tuple[float, float] = (-0.45, 0.45)  # authors: hue shift (turns) of the background and each object
    board_cell: int = 4  # authors: chessboard cell in pixels, fixed in image coordinates
    plank_seed: int = 0  # authors: which procedural wood plank (one for the whole dataset, whatever the seed)
    grid_offsets: tuple[int, ...] = (-24, -18, -12, -6, 0, 6, 12, 18, 24)  # authors, grid: offsets in pixels, in order
    grid_hues: tuple[float, float, float] = (-0.2, 0.0, 0.2)  # authors, grid: hue shifts of background, object 0, object 1

    def validate(self) -> None:
        if self.style == "authors":
            self._validate_authors()
            return
        if self.layout != "random":
            raise ValueError(f"layout={self.layout!r} needs style=authors")
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
        self._validate_object_range()
        if self.num_frames < 0 or self.num_frames == 1 or self.num_frames > 1000:
            raise ValueError(f"num_frames must be 0 (still images) or in [2, 1000], got {self.num_frames}")
        if self.num_frames and not self.min_objects == self.max_objects == 2:
            raise ValueError(f"sequences (num_frames > 0) need min_objects = max_objects = 2, got {self.min_objects}, {self.max_objects}")
        self._validate_count_probs()
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

    def _validate_object_range(self) -> None:
        if not 1 <= self.min_objects <= self.max_objects <= 255:
            raise ValueError(f"min_objects/max_objects: need 1 <= min_objects <= max_objects <= 255, got {self.min_objects}, {self.max_objects}")

    def _validate_count_probs(self) -> None:
        span = self.max_objects - self.min_objects + 1
        if len(self.count_probs) != span:
            raise ValueError(f"count_probs must have {span} entries (one per count {self.min_objects}..{self.max_objects}), got {len(self.count_probs)}")
        if any(not math.isfinite(p) or p < 0 for p in self.count_probs) or abs(sum(self.count_probs) - 1) > 1e-6:
            raise ValueError(f"count_probs must be non-negative and sum to 1, got {list(self.count_probs)}")

    def _validate_authors(self) -> None:
        H, W = self.height, self.width
        if not (20 <= H <= 1024 and 20 <= W <= 1024):
            raise ValueError(f"height/width must be in [20, 1024] for style=authors, got {H}x{W}")
        if not self.shapes or any(s not in AUTHORS_SHAPES for s in self.shapes):
            raise ValueError(f"shapes: style=authors draws {' and '.join(AUTHORS_SHAPES)}, got {list(self.shapes)}")
        if self.num_frames:
            raise ValueError(f"num_frames must be 0 for style=authors (still images), got {self.num_frames}")
        self._validate_object_range()
        self._validate_count_probs()
        if not (math.isfinite(self.min_offset_l1) and 0 <= self.min_offset_l1 <= (H + W) / 2):
            raise ValueError(f"min_offset_l1 must be in [0, {(H + W) / 2:g}], got {self.min_offset_l1}")
        if self.max_objects * 2 * self.min_offset_l1 ** 2 > H * W / 2:
            raise ValueError(f"min_offset_l1={self.min_offset_l1:g}: {self.max_objects} objects do not fit that far apart "
                             f"in a {H}x{W} canvas; lower min_offset_l1 or max_objects")
        lo, hi = self.hue_shift_range
        if not -0.5 <= lo <= hi <= 0.5:
            raise ValueError(f"hue_shift_range must satisfy -0.5 <= lo <= hi <= 0.5, got ({lo}, {hi})")
        if not 1 <= self.board_cell <= min(H, W):
            raise ValueError(f"board_cell must be in [1, {min(H, W)}], got {self.board_cell}")
        if not 0 <= self.plank_seed < 2**63:
            raise ValueError(f"plank_seed must be in [0, 2**63), got {self.plank_seed}")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.layout == "grid":
            if not self.min_objects == self.max_objects == 2 or len(self.shapes) != 2:
                raise ValueError("layout=grid places two objects, one of each shape: needs min_objects = max_objects = 2 "
                                 f"and two shapes, got {self.min_objects}, {self.max_objects}, {list(self.shapes)}")
            if not 1 <= len(self.grid_offsets) <= 255:
                raise ValueError(f"grid_offsets must hold 1 to 255 offsets, got {len(self.grid_offsets)}")
            if any(abs(o) > min(H, W) // 2 for o in self.grid_offsets):
                raise ValueError(f"grid_offsets must lie in [-{min(H, W) // 2}, {min(H, W) // 2}], got {list(self.grid_offsets)}")
            if len(self.grid_offsets) == 1:
                raise ValueError("grid_offsets: one offset gives a single combination, which is dropped; give two or more")
            if any(not math.isfinite(h) or abs(h) > 1 for h in self.grid_hues):
                raise ValueError(f"grid_hues must be finite and in [-1, 1], got {list(self.grid_hues)}")


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
    VERSION = "1.3.0"
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
        "1.3.0": "cis is now the Multi-Texture of the CIS authors' generator (the distribution of CIS Table 1): "
                 "an unscaled, unrotated 17x11 ellipse or 13x13 square translated by U(-32, 32) sub-pixel "
                 "offsets (cubic spline, soft edges, partly out of frame; offsets at least L1 10 apart), the "
                 "first object in front, one chessboard fixed in image coordinates, independent hue shifts in "
                 "+-0.45 for the background and each object, a low-contrast procedural plank (the statistics of "
                 "their photo) as background; new fields alpha (soft layers), objects/offset, objects/hue_shift, "
                 "background/hue_shift. New preset cis-grid: their 6,560-image identity-switching grid (no "
                 "randomness). The former cis (scales, rotations, per-object random chessboards, ring wood) is "
                 "now cis-rich: same renderer, config and distribution, but its random streams are keyed by its "
                 "new name, so its samples differ from 1.2.0 cis (drawn under the old key they are byte-identical "
                 "to it). cis-sequences keeps the bytes of 1.2.0.",
    }
    Config = TextureConfig
    description = ("Multi-Texture: chessboard-textured ellipses/squares on wood (CIS), the authors' stills, "
                   "their identity grid, a richer variant and sequences")
    paper = "CIS (Yang et al. 2020)"
    PRESETS = {
        "cis": Preset(TextureConfig(style="authors", shapes=AUTHORS_SHAPES),
                      {"train": Split(60_000), "test": Split(10_000)},
                      "CIS authors' Multi-Texture: 1-4 ellipses/squares translated over a fixed chessboard, hue-shifted, "
                      "on a plank; p(4,3,2,1) = (.8,.1,.07,.03), first object in front, soft alphas"),
        "cis-grid": Preset(TextureConfig(style="authors", shapes=AUTHORS_SHAPES, layout="grid", min_objects=2,
                                         max_objects=2, count_probs=(1.0,)),
                           {"test": Split(6_560, track="split")},
                           "CIS authors' identity-switching set: ellipse (front) and square at all 9x9 x 9x9 grid "
                           "offsets but one, fixed hues, no randomness"),
        "cis-rich": Preset(TextureConfig(), {"train": Split(60_000), "test": Split(10_000)},
                           "Richer CIS variant: 1-4 scaled, rotated shapes with random chessboards on ring wood, "
                           "p(4,3,2,1) = (.8,.1,.07,.03), amodal masks"),
        "cis-sequences": Preset(
            TextureConfig(min_objects=2, max_objects=2, count_probs=(1.0,), num_frames=20, scale_min=0.6,
                          max_size=26),
            {"train": Split(1_000), "test": Split(256)},
            "CIS identity-switch benchmark: 20-frame sequences of a square and an ellipse crossing each other"),
    }

    def features(self, c: TextureConfig) -> list[Feature]:
        if c.style == "authors":
            return _authors_features(c)
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

    def prepare(self, c: TextureConfig, rng) -> "Assets | AuthorsAssets":
        if c.style == "authors":
            return _authors_assets(c)
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

    def describe_assets(self, assets) -> dict:
        if isinstance(assets, AuthorsAssets):
            return {"plank": assets.describe()}
        return {"sprites": len(assets.pixels), "wood_fields": int(len(assets.wood.rings))}

    def draw_scene(self, rng: np.random.Generator, c: TextureConfig, assets, out) -> None:
        """One scene (or sequence) from ``rng``: the batch of one of :meth:`draw_batch`."""
        arrays = {k: v[None] for k, v in out.items()}
        if c.style == "authors" and c.layout == "grid":
            _grid(np.array([out.index]), c, assets, arrays)
            return
        self.draw_batch(RngSource(rng), c, assets, arrays)

    def draw_batch(self, source, c: TextureConfig, assets, arrays) -> None:
        """Stills: the whole batch with numpy operations; sequences: one sequence at a time."""
        if c.style == "authors":
            if c.layout == "grid":
                _grid(source.indices, c, assets, arrays)
                return
            K = c.max_objects
            # the count, each object's shape and two offset tries, the K + 1 hue shifts, and a little room
            budget = 1 + 5 * K + K + 1 + 8
            draw_rows(source, source.n, budget, lambda d, rows: _authors_random(d, rows, c, assets, arrays))
            return
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


# ---------------------------------------------------------------- the CIS authors' renderer (cis, cis-grid)
BOARD_COLORS = ((217, 197, 34), (29, 51, 233))  # chessboard: parity 0 (the top-left cell) yellow, parity 1 blue
ELLIPSE_SEMI_AXES = (8.8, 5.1)  # (x, y) pixels, sampled at pixel centres: 17 wide x 11 tall, 143 px
SQUARE_HALF = 6  # 13x13
_PLANK_DOMAIN = 0x504C414E4B  # "PLANK": the plank's stream, apart from every dataset stream


def _authors_features(c: TextureConfig) -> list[Feature]:
    K, H, W = c.max_objects, c.height, c.width
    return [
        Feature("image", (H, W, 3), "uint8", doc="RGB scene, composited from the stored alphas and rounded"),
        Feature("segmentation", (H, W), "uint8",
                doc="hard partition, the argmax of alpha (ties to the lower layer): 0 background, k+1 object slot k"),
        Feature("masks", (K, H, W), "bool", doc="amodal mask per object slot: its own (unoccluded) alpha > 1/2"),
        Feature("alpha", (K + 1, H, W), "uint8",
                doc="visible soft alpha x 255, layer 0 background, layer k+1 object slot k; layers sum to 255"),
        Feature("num_objects", (), "uint8", doc="number of objects"),
        Feature("objects/shape", (K,), "int8", doc="shape code (-1 = empty slot)", labels=c.shapes),
        Feature("objects/offset", (K, 2), "float32",
                doc=f"(dr, dc) translation in pixels of the mask centred at ({H // 2}, {W // 2}) (row, column)"),
        Feature("objects/position", (K, 2), "float32", doc=f"(x, y) centre, pixels: ({W // 2} + dc, {H // 2} + dr)"),
        Feature("objects/bbox", (K, 4), "int16", doc="(x_min, y_min, x_max, y_max) of the amodal mask, max exclusive"),
        Feature("objects/depth", (K,), "int8", doc="z-order, 0 = placed first = front-most (occludes later slots)"),
        Feature("objects/hue_shift", (K,), "float32", doc="hue rotation of the object's chessboard, turns"),
        Feature("objects/color", (K, 2, 3), "float32",
                doc="the chessboard's two RGB colors 0-255 after the hue shift, unrounded (parity 0 = top-left cell)"),
        Feature("objects/visible_pixels", (K,), "int32", doc="pixels of the segmentation labelled with the object"),
        Feature("background/hue_shift", (), "float32", doc="hue rotation of the wood plank, turns"),
    ]


@dataclass
class AuthorsAssets:
    """The authors' renderer's constants: shape masks, the plank, the chessboard.

    Every mask lives on a common window of canvas rows ``rows`` and columns
    ``cols`` around the centre (H // 2, W // 2), as a sum of P outer
    products (one per distinct row pattern): mask s = sum_p ``row_sets[s, p]``
    (outer) ``row_patterns[s, p]``, float64 0/1 arrays (S, P, len(rows)) and
    (S, P, len(cols)); unused terms are zero.
    """

    row_sets: np.ndarray
    row_patterns: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    plank: np.ndarray  # (H, W, 3) uint8
    board: np.ndarray  # (H, W) uint8 parity
    count_cdf: np.ndarray
    plank_seed: int

    def __post_init__(self):
        # the plank in HSV terms for hue_shift: value, chroma and hue in sextants (see textures.hue_shift)
        rgb = self.plank.astype(np.float64)
        self.plank_value = rgb.max(-1)
        self.plank_chroma = self.plank_value - rgb.min(-1)
        self.plank_hue6 = textures.hue_sextant(rgb)

    def describe(self) -> dict:
        st = textures.plank_stats(self.plank)
        return {"seed": self.plank_seed, "mean_rgb": [round(v, 3) for v in st["mean_rgb"]],
                "luma_std": round(st["luma_std"], 3), "gradient_x": round(st["gradient_x"], 3),
                "gradient_y": round(st["gradient_y"], 3)}


def authors_mask(shape: str, height: int, width: int) -> np.ndarray:
    """The untransformed mask of ``shape`` (bool (H, W)), centred on pixel (H // 2, W // 2)."""
    y = np.arange(height)[:, None] - height // 2
    x = np.arange(width)[None, :] - width // 2
    if shape == "ellipse":
        a, b = ELLIPSE_SEMI_AXES
        return (x / a) ** 2 + (y / b) ** 2 <= 1
    if shape == "square":
        return (np.abs(y) <= SQUARE_HALF) & (np.abs(x) <= SQUARE_HALF)
    raise ValueError(f"no authors' mask for shape {shape!r}")


def plank_for(seed: int, height: int, width: int) -> np.ndarray:
    """The procedural plank of ``plank_seed`` (the same for every dataset seed, split and sample)."""
    return textures.plank(np.random.default_rng([_PLANK_DOMAIN, int(seed)]), height, width)


def _authors_assets(c: TextureConfig) -> AuthorsAssets:
    H, W = c.height, c.width
    full = np.stack([authors_mask(s, H, W) for s in c.shapes])
    rows, cols = np.flatnonzero(full.any(axis=(0, 2))), np.flatnonzero(full.any(axis=(0, 1)))
    rows, cols = np.arange(rows[0], rows[-1] + 1), np.arange(cols[0], cols[-1] + 1)
    window = full[:, rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    terms = [np.unique(m[m.any(1)], axis=0) for m in window]  # distinct non-empty row patterns per shape
    P = max(len(t) for t in terms)
    sets = np.zeros((len(window), P, len(rows)))
    patterns = np.zeros((len(window), P, len(cols)))
    for si, (m, t) in enumerate(zip(window, terms)):
        for p, row in enumerate(t):
            sets[si, p] = (m == row).all(1)
            patterns[si, p] = row
    cdf = np.cumsum(np.asarray(c.count_probs, np.float64))
    cdf /= cdf[-1]
    return AuthorsAssets(sets, patterns, rows, cols, plank_for(c.plank_seed, H, W),
                         textures.fixed_chessboard(H, W, c.board_cell), cdf, c.plank_seed)


_Z = math.sqrt(3.0) - 2.0  # pole of the cubic B-spline's inverse filter
_ZN = 80  # |n| beyond which sqrt(3) z**|n| is taken as 0 (|z|**80 < 1e-45)
_H = math.sqrt(3.0) * _Z ** np.abs(np.arange(-_ZN, _ZN + 1, dtype=np.float64))
_H[[0, -1]] = 0.0


def cardinal_cubic(t: np.ndarray) -> np.ndarray:
    """The cardinal cubic spline kappa(t) (float64): 1 at 0, 0 at the other integers, C2, decays as 0.268**|t|.

    ``kappa(t) = sum_n sqrt(3) z**|n| beta3(t - n)``, z = sqrt(3) - 2: the cubic
    B-spline interpolant of a unit impulse on the infinite grid. Shifting a
    zero-filled image by s with cubic-spline interpolation (``scipy.ndimage.shift``,
    ``order=3``, ``mode="constant"``) is, along each axis, ``out[o] = sum_i
    kappa(o - i - s) in[i]``.
    """
    t = np.asarray(t, np.float64)
    f = np.floor(t)
    u = t - f
    u2 = u * u
    u3 = u2 * u
    w = ((1 - u) ** 3 / 6, (3 * u3 - 6 * u2 + 4) / 6, (-3 * u3 + 3 * u2 + 3 * u + 1) / 6, u3 / 6)
    base = np.clip(f, -_ZN - 2, _ZN + 2).astype(np.intp) + _ZN
    out = np.zeros_like(t)
    for j, wj in zip((-1, 0, 1, 2), w):  # B-spline weights of the coefficients at f - 1 .. f + 2
        out += _H[np.clip(base + j, 0, 2 * _ZN)] * wj
    return out


def _shift_matrix(n_out: int, window: np.ndarray, s: np.ndarray) -> np.ndarray:
    """(N, n_out, len(window)): entry [j, o, a] = kappa(o - window[a] - s[j]), the 1-d shift by s[j]."""
    d = np.arange(n_out)[:, None] - window[None, :]  # (n_out, A), Toeplitz: depends on o - a only
    lag = np.arange(int(d.min()), int(d.max()) + 1)
    k = cardinal_cubic(lag[None, :] - np.asarray(s, np.float64)[:, None])  # (N, lags)
    return k[:, d - lag[0]]


def shifted_masks(assets: AuthorsAssets, shape: np.ndarray, offset: np.ndarray, height: int, width: int) -> np.ndarray:
    """Own (unoccluded) alphas (N, H, W) float32 in [0, 1] of masks ``shape`` (N,) shifted by ``offset`` (N, 2) (dr, dc).

    Cubic-spline translation with zero fill, separable: ``Ky @ mask @ Kx.T``
    with the mask as a sum of outer products (kernels in float64, the
    products in float32), clipped to [0, 1].
    """
    ky = np.einsum("nha,npa->nph", _shift_matrix(height, assets.rows, offset[:, 0]), assets.row_sets[shape])
    kx = np.einsum("nwa,npa->npw", _shift_matrix(width, assets.cols, offset[:, 1]), assets.row_patterns[shape])
    out = np.einsum("nph,npw->nhw", ky.astype(np.float32), kx.astype(np.float32))
    np.maximum(out, np.float32(0), out=out)
    np.minimum(out, np.float32(1), out=out)
    return out


def _authors_random(d, rows, c: TextureConfig, assets: AuthorsAssets, arrays) -> None:
    """Draw the ``cis`` scenes of batch rows ``rows`` from ``d``; write the finished ones into ``arrays``.

    Stream of one sample: the count (1 value); per object in slot order its
    shape (1) and offset tries (2 each: dr, dc) until the offset is farther
    than ``min_offset_l1`` (L1) from every earlier object's; then the hue
    shifts of the background and of the K slots (K + 1).
    """
    R, K, H, W = len(rows), c.max_objects, c.height, c.width
    all_rows = np.arange(R)
    n = c.min_objects + np.searchsorted(assets.count_cdf, d.take(all_rows, 1)[:, 0], side="right")
    n = np.minimum(n, K)
    shape = np.full((R, K), -1, np.int64)
    offset = np.zeros((R, K, 2), np.float32)
    half = np.array([H / 2, W / 2])
    for k in range(K):
        has = np.flatnonzero(n > k)
        shape[has, k] = np.minimum((d.take(has, 1)[:, 0] * len(c.shapes)).astype(np.int64), len(c.shapes) - 1)
        todo = d.live(has)
        for _ in range(c.max_attempts):
            if not todo.size:
                break
            o = (-half + 2 * half * d.take(todo, 2)).astype(np.float32)
            if k:
                dist = np.abs(o[:, None, :].astype(np.float64) - offset[todo, :k]).sum(-1).min(1)
                good = dist > c.min_offset_l1
            else:
                good = np.ones(len(todo), bool)
            offset[todo[good], k] = o[good]
            todo = d.live(todo[~good])
        if todo.size:
            raise RuntimeError(f"multi_texture: no offset farther than {c.min_offset_l1:g} (L1) from the earlier "
                               f"objects in {c.max_attempts} tries; lower min_offset_l1 or max_objects")
    lo, hi = c.hue_shift_range
    hues = (lo + (hi - lo) * d.take(all_rows, K + 1)).astype(np.float32)
    fin = np.flatnonzero(~d.short)  # rows drawn in full; short ones are drawn again with more values
    if fin.size:
        _render_authors(c, assets, rows[fin], n[fin], shape[fin], offset[fin], hues[fin, 0], hues[fin, 1:], arrays)


def grid_size(c: TextureConfig) -> int:
    """Images of the grid layout: every combination of the two objects' (dr, dc) in grid_offsets, but the last."""
    return len(c.grid_offsets) ** 4 - 1


def _grid(indices, c: TextureConfig, assets: AuthorsAssets, arrays) -> None:
    """The ``cis-grid`` images ``indices`` (no randomness) into rows 0.. of ``arrays``.

    Sample i's base-G digits (G = len(grid_offsets)), fastest first, index
    grid_offsets for the ellipse's (object 0) dr, its dc, the square's
    (object 1) dr, its dc; i = G**4 - 1 (both at the last offset) is left out.
    """
    indices = np.asarray(indices, np.int64)
    total = grid_size(c)
    if indices.size and int(indices.max()) >= total:
        raise ConfigError(f"multi_texture grid: sample {int(indices.max())} does not exist; the grid has {total:,} "
                          f"images ({len(c.grid_offsets)}**4 - 1); use --num {total} or fewer")
    G, R = len(c.grid_offsets), len(indices)
    digits = (indices[:, None] // G ** np.arange(4)) % G
    offset = np.asarray(c.grid_offsets, np.float32)[digits].reshape(R, 2, 2)  # [object, (dr, dc)]
    shape = np.broadcast_to(np.arange(2), (R, 2))
    hue_bg = np.full(R, c.grid_hues[0], np.float32)
    hue_obj = np.broadcast_to(np.asarray(c.grid_hues[1:], np.float32), (R, 2))
    _render_authors(c, assets, np.arange(R), np.full(R, 2), shape, offset, hue_bg, hue_obj, arrays)


def _render_authors(c: TextureConfig, assets: AuthorsAssets, out, n, shape, offset, hue_bg, hue_obj, arrays) -> None:
    """Render scenes (described per row: ``n``, ``shape`` (R, K), ``offset`` (R, K, 2), hue shifts) into rows ``out``.

    Alphas in float64: object k's own alpha A_k (its shifted mask), visible
    alpha A_k * (1 - coverage of slots < k). The coverage after each slot is
    rounded to 1/255 and each slot stores its increment, the background the
    rest (so the K + 1 layers sum to 255). The image is ``rint((a_0 * plank'
    + sum_k a_k * board_k) / 255)`` with the stored alphas a, the plank hue-
    shifted by the background's delta and each object's two board colors by
    its own.
    """
    R, K, H, W = len(out), c.max_objects, c.height, c.width
    n = np.asarray(n)
    shape = np.asarray(shape)
    offset = np.asarray(offset)
    hue_obj = np.asarray(hue_obj)
    f32 = np.float32
    alpha = np.zeros((R, K + 1, H, W), np.uint8)
    masks = np.zeros((R, K, H, W), bool)
    cover = np.zeros((R, H, W), f32)  # coverage by the slots placed so far
    level = np.zeros((R, H, W), f32)  # the same, rounded to 1/255 units
    seg = np.zeros((R, H, W), np.uint8)
    for s in range(K):  # front to back
        r = np.flatnonzero(n > s)
        if not r.size:
            continue
        if r.size == R:
            r = slice(None)
        own = shifted_masks(assets, shape[r, s], offset[r, s].astype(np.float64), H, W)
        masks[r, s] = own > 0.5
        cov = cover[r]
        own *= f32(1) - cov
        cov += own
        cover[r] = cov
        new = np.rint(cov * f32(255))
        np.minimum(new, f32(255), out=new)
        alpha[r, s + 1] = new - level[r]
        level[r] = new
    alpha[:, 0] = f32(255) - level
    best = alpha[:, 0].copy()
    for s in range(K):  # argmax over the layers, ties to the lower layer
        better = alpha[:, s + 1] > best
        seg[better] = s + 1
        np.maximum(best, alpha[:, s + 1], out=best)
    colors = textures.hue_shift(np.asarray(BOARD_COLORS, np.float64)[None, None],
                                hue_obj.astype(np.float64)[:, :, None])  # (R, K, 2, 3)
    # sum_k a_k * board_k = sum_k a_k * color0_k + parity * sum_k a_k * (color1_k - color0_k), per channel
    weight = alpha.astype(f32)
    c0 = colors[:, :, 0].astype(f32)  # (R, K, 3)
    dc = (colors[:, :, 1] - colors[:, :, 0]).astype(f32)
    board = assets.board.astype(f32)
    hue6 = (assets.plank_hue6 + 6.0 * np.asarray(hue_bg, np.float64)[:, None, None]).astype(f32)  # (R, H, W)
    value, chroma = assets.plank_value.astype(f32), assets.plank_chroma.astype(f32)
    image = np.empty((R, H, W, 3), np.uint8)
    for ch, m in enumerate((5.0, 3.0, 1.0)):
        # the plank's channel after textures.hue_shift: value - chroma * clip(min(k, 4 - k), 0, 1), k = (m + h6) mod 6
        acc = hue6 + f32(m)
        acc -= f32(6) * np.floor(acc * f32(1 / 6))  # in [0, 6]; 6 and 0 give the same color
        np.minimum(acc, f32(4) - acc, out=acc)
        np.clip(acc, f32(0), f32(1), out=acc)
        acc *= -chroma
        acc += value
        acc *= weight[:, 0]
        odd = np.zeros((R, H, W), f32)
        for s in range(K):
            acc += weight[:, s + 1] * c0[:, s, ch, None, None]
            odd += weight[:, s + 1] * dc[:, s, ch, None, None]
        odd *= board
        acc += odd
        acc *= f32(1 / 255)
        np.rint(acc, out=acc)
        image[..., ch] = np.minimum(acc, f32(255))
    arrays["image"][out] = image
    arrays["alpha"][out] = alpha
    arrays["segmentation"][out] = seg
    arrays["masks"][out] = masks
    arrays["num_objects"][out] = n
    arrays["background/hue_shift"][out] = hue_bg
    j, k = np.nonzero(np.arange(K) < n[:, None])
    o = out[j]
    arrays["objects/shape"][o, k] = shape[j, k]
    arrays["objects/offset"][o, k] = offset[j, k]
    arrays["objects/position"][o, k] = np.stack([W // 2 + offset[j, k, 1], H // 2 + offset[j, k, 0]], -1)
    arrays["objects/depth"][o, k] = k
    arrays["objects/hue_shift"][o, k] = hue_obj[j, k]
    arrays["objects/color"][o, k] = colors[j, k]
    arrays["objects/visible_pixels"][o, k] = (seg[j] == (k + 1)[:, None, None]).sum(axis=(1, 2))
    m = masks[j, k]
    any_y, any_x = m.any(2), m.any(1)
    full = any_y.any(1)
    box = np.stack([any_x.argmax(1), any_y.argmax(1), W - any_x[:, ::-1].argmax(1), H - any_y[:, ::-1].argmax(1)], -1)
    arrays["objects/bbox"][o[full], k[full]] = box[full]
