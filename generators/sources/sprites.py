"""Binary sprite shapes (dSprites-style) rasterised with scikit-image.

Every shape is defined inside a circle of diameter ``size * scale`` centred
on the sprite canvas, so a sprite fits in ``size x size`` pixels at any
rotation. Sprites are binary (no anti-aliasing), as in dSprites, and are
cropped to their tight bounding box.
"""

from __future__ import annotations

import numpy as np

SHAPES = ("square", "ellipse", "triangle", "heart")


def outline(shape: str, radius: float, angle: float, n: int = 96) -> np.ndarray:
    """Polygon vertices (rows, cols) of ``shape`` of circumradius ``radius``, rotated by ``angle``."""
    if shape == "square":
        t = np.array([0.25, 0.75, 1.25, 1.75]) * np.pi
        pts = np.stack([np.sin(t), np.cos(t)], 1)
    elif shape == "triangle":
        t = np.pi / 2 + np.arange(3) * 2 * np.pi / 3
        pts = np.stack([-np.sin(t), np.cos(t)], 1)
    elif shape == "ellipse":
        t = np.linspace(0, 2 * np.pi, n, endpoint=False)
        pts = np.stack([0.5 * np.sin(t), np.cos(t)], 1)
    elif shape == "heart":
        t = np.linspace(0, 2 * np.pi, n, endpoint=False)
        x = 16 * np.sin(t) ** 3
        y = 13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)
        pts = np.stack([-y, x], 1)
        pts -= (pts.max(0) + pts.min(0)) / 2
        pts /= np.sqrt((pts**2).sum(1)).max()
    else:
        raise ValueError(f"unknown shape {shape!r}; shapes: {', '.join(SHAPES)}")
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    return radius * pts @ rot.T


def rasterize(shape: str, size: int, scale: float, angle: float) -> np.ndarray:
    """Tight-cropped boolean mask of one sprite (at most ``size x size``)."""
    from skimage.draw import polygon

    radius = size * scale / 2.0 - 0.5
    pts = outline(shape, radius, angle) + (size - 1) / 2.0
    canvas = np.zeros((size, size), dtype=bool)
    rr, cc = polygon(pts[:, 0], pts[:, 1], shape=canvas.shape)
    canvas[rr, cc] = True
    if not canvas.any():  # degenerate tiny sprite: keep the centre pixel
        canvas[size // 2, size // 2] = True
    rows = np.flatnonzero(canvas.any(1))
    cols = np.flatnonzero(canvas.any(0))
    return np.ascontiguousarray(canvas[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1])


def dilate(mask: np.ndarray, gap: int) -> np.ndarray:
    """Mask(s) grown by ``gap`` pixels (8-connected), padded by ``gap`` on every side.

    ``mask`` is (h, w) or a stack (..., h, w); each image is grown on its own.
    """
    if gap <= 0:
        return mask.copy()
    from scipy.ndimage import binary_dilation

    lead = mask.ndim - 2
    padded = np.pad(mask, ((0, 0),) * lead + ((gap, gap), (gap, gap)))
    structure = np.ones((1,) * lead + (3, 3), bool)
    return binary_dilation(padded, structure=structure, iterations=gap)

class SpriteGrid:
    """Config mixin: the discrete scale and orientation grids of a sprite bank.

    Needs the fields ``scale_min``, ``scale_max``, ``num_scales`` and
    ``num_orientations`` (dSprites style: scales linearly spaced in
    [scale_min, scale_max], orientations linearly spaced in [0, 2pi)).
    """

    @property
    def scales(self) -> np.ndarray:
        return np.linspace(self.scale_min, self.scale_max, self.num_scales)

    @property
    def orientations(self) -> np.ndarray:
        return np.linspace(0, 2 * np.pi, self.num_orientations, endpoint=False)
