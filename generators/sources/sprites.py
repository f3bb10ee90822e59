"""Binary sprite shapes (dSprites-style) rasterised with scikit-image.

Every shape is defined inside a circle of diameter ``size * scale`` centred
on the sprite canvas, so a sprite fits in ``size x size`` pixels at any
rotation. Sprites are binary (no anti-aliasing), as in dSprites, and are
cropped to their tight bounding box.

For drawing whole batches with numpy, a :class:`PixelBank` keeps every
sprite of a bank as a list of pixel offsets (and, for placements that keep
a gap, the offsets of the sprite grown by the gap); :func:`place_apart`
places sprites without overlap for many scenes at once and :func:`paint`
writes labels and colors of many placed sprites at once.
"""

from __future__ import annotations

from dataclasses import dataclass

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


# ---------------------------------------------------------------- batched placement and painting
@dataclass
class PixelBank:
    """A bank of binary sprites as pixel lists on a ``height x width`` canvas.

    Sprite ``c`` (a code) has tight size ``sizes[c] = (h, w)`` and pixels
    ``start[c] : start[c] + npix[c]`` of ``dy, dx`` (offsets from its
    top-left corner); ``offset`` is ``dy * width + dx``. The ``foot_*``
    arrays list the sprite grown by ``gap`` pixels (8-connected), offsets
    again from the sprite's top-left corner (so from ``-gap``), in the
    ``(height + 2 gap) x (width + 2 gap)`` padded frame used by
    :func:`place_apart` (``foot_offset = (fy + gap) * padded_width + fx + gap``).
    """

    height: int
    width: int
    gap: int
    sizes: np.ndarray  # (N, 2) int64
    start: np.ndarray  # (N,) int64
    npix: np.ndarray  # (N,) int64
    dy: np.ndarray  # (P,) int64
    dx: np.ndarray  # (P,) int64
    offset: np.ndarray  # (P,) int64: dy * width + dx
    foot_start: np.ndarray
    foot_npix: np.ndarray
    foot_offset: np.ndarray  # padded frame, see above
    pad_offset: np.ndarray  # (P,) sprite pixels in the padded frame: (dy + gap) * padded_width + dx + gap

    def __len__(self) -> int:
        return len(self.sizes)


def pixel_bank(masks, height: int, width: int, gap: int = 0) -> PixelBank:
    """:class:`PixelBank` of tight boolean ``masks`` (a list of (h, w) arrays) for a canvas."""
    sizes = np.array([m.shape for m in masks], np.int64).reshape(-1, 2)
    dys, dxs, fys = [], [], []
    wp = width + 2 * gap
    grown = None
    if gap > 0 and len(masks):  # grow every mask in one call: stack them in a common canvas
        hmax, wmax = sizes.max(0)
        stack = np.zeros((len(masks), hmax, wmax), bool)
        for i, m in enumerate(masks):
            stack[i, : m.shape[0], : m.shape[1]] = m
        grown = dilate(stack, gap)  # (N, hmax + 2 gap, wmax + 2 gap); mask i's grown crop is at the top left
    for i, m in enumerate(masks):
        yy, xx = np.nonzero(m)
        dys.append(yy)
        dxs.append(xx)
        if grown is not None:
            fy, fx = np.nonzero(grown[i, : m.shape[0] + 2 * gap, : m.shape[1] + 2 * gap])
        else:
            fy, fx = yy, xx
        fys.append(fy.astype(np.int64) * wp + fx)
    npix = np.array([len(y) for y in dys], np.int64)
    fnpix = np.array([len(f) for f in fys], np.int64)
    dy = np.concatenate(dys).astype(np.int64) if dys else np.zeros(0, np.int64)
    dx = np.concatenate(dxs).astype(np.int64) if dxs else np.zeros(0, np.int64)
    foot = np.concatenate(fys).astype(np.int64) if fys else np.zeros(0, np.int64)
    return PixelBank(height, width, gap, sizes, _starts(npix), npix, dy, dx, dy * width + dx,
                     _starts(fnpix), fnpix, foot, (dy + gap) * wp + dx + gap)


def _starts(lengths: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)


def ragged(start: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Ragged ranges ``start[i] : start[i] + lengths[i]``, concatenated (int64).

    A per-object value ``v`` lines up with the result as ``np.repeat(v, lengths)``.
    """
    lengths = np.asarray(lengths, np.int64)
    first = np.cumsum(lengths) - lengths  # position of each range's first element in the output
    out = np.repeat(np.asarray(start, np.int64) - first, lengths)
    out += np.arange(len(out), dtype=np.int64)
    return out


def place_apart(draws, rows: np.ndarray, n: np.ndarray, codes: np.ndarray, bank: PixelBank,
                max_attempts: int):
    """Place sprites uniformly at random without overlap, for many scenes at once.

    ``rows`` are the scenes' rows in ``draws`` (:class:`scenebench.datasets.identity.Draws`);
    scene j places sprites ``codes[j, :n[j]]`` one after the other. Each try
    takes two values (y, x) from the scene's stream and puts the sprite's
    top-left corner uniformly among the positions where it fits; a try whose
    sprite comes within ``bank.gap`` pixels (8-connected) of an earlier
    sprite of the scene is redrawn. Returns ``(ok, y, x)``: ``ok`` (R,) is
    False for a scene where some sprite found no place in ``max_attempts``
    tries; ``y, x`` (R, K) int64 are the corners (0 for unused slots).
    """
    R, K = codes.shape
    H, W, g = bank.height, bank.width, bank.gap
    wp = W + 2 * g
    area = (H + 2 * g) * wp
    h, w = bank.sizes[codes, 0], bank.sizes[codes, 1]  # (R, K)
    y = np.zeros((R, K), np.int64)
    x = np.zeros((R, K), np.int64)
    ok = np.ones(R, bool)
    occupied = np.zeros(R * area if K > 1 else 0, bool)  # grown sprites placed so far, padded frame
    for k in range(K):
        todo = np.flatnonzero(n > k)
        for attempt in range(max_attempts + 1):
            todo = todo[~draws.short[rows[todo]]]
            if not todo.size:
                break
            if attempt == max_attempts:
                ok[todo] = False
                break
            u = draws.take(rows[todo], 2)
            hk, wk = h[todo, k], w[todo, k]
            yy = (u[:, 0] * (H - hk + 1)).astype(np.int64)
            xx = (u[:, 1] * (W - wk + 1)).astype(np.int64)
            y[todo, k], x[todo, k] = yy, xx
            hit = np.zeros(len(todo), bool)
            if k:
                # a sprite can only come near an earlier one whose grown box meets its box
                near = np.zeros(len(todo), bool)
                for j in range(k):
                    yj, xj = y[todo, j], x[todo, j]
                    near |= ((yy < yj + h[todo, j] + g) & (yj - g < yy + hk)
                             & (xx < xj + w[todo, j] + g) & (xj - g < xx + wk))
                cand = np.flatnonzero(near)
                if cand.size:
                    c = codes[todo[cand], k]
                    lens = bank.npix[c]
                    pix = ragged(bank.start[c], lens)
                    lin = np.repeat(todo[cand] * area + yy[cand] * wp + xx[cand], lens)
                    lin += bank.pad_offset[pix]
                    hit[cand] = np.logical_or.reduceat(occupied[lin], _starts(lens))
            placed = todo[~hit]
            if k + 1 < K:
                grow = placed[n[placed] > k + 1]  # only scenes with a later sprite need the footprint
                if grow.size:
                    c = codes[grow, k]
                    lens = bank.foot_npix[c]
                    lin = np.repeat(grow * area + y[grow, k] * wp + x[grow, k], lens)
                    lin += bank.foot_offset[ragged(bank.foot_start[c], lens)]
                    occupied[lin] = True
            todo = todo[hit]
    return ok, y, x


def paint(bank: PixelBank, rows: np.ndarray, codes: np.ndarray, y: np.ndarray, x: np.ndarray, n: np.ndarray,
          seg: np.ndarray | None = None, image: np.ndarray | None = None, colors: np.ndarray | None = None,
          masks: np.ndarray | None = None) -> None:
    """Paint placed sprites back to front (slot k over slots < k), for many scenes at once.

    Scene j is written into row ``rows[j]`` of the outputs and has sprites
    ``codes[j, :n[j]]`` with top-left corners ``y, x`` (R, K). ``seg``
    ``(B, H, W)`` uint8 gets label k+1 where sprite k is visible; ``image``
    ``(B, H, W, C)`` gets ``colors[j, k]`` (C,); ``masks`` ``(B, K, H, W)``
    bool gets each sprite's full (amodal) mask. Outputs must be C-contiguous.
    """
    flat_seg = None if seg is None else seg.reshape(-1)
    pixels = None if image is None else rgb_items(image)
    flat_masks = None if masks is None else masks.reshape(-1)
    for layer in slot_layers(bank, rows, codes, y, x, n):
        lin = layer.frame_index()
        if flat_seg is not None:
            flat_seg[lin] = layer.k + 1
        if pixels is not None:
            pixels[lin] = np.repeat(rgb_items(np.ascontiguousarray(colors[layer.j, layer.k])), layer.lens)
        if flat_masks is not None:
            flat_masks[layer.mask_index()] = True


@dataclass
class SlotLayer:
    """The pixels of sprite slot ``k`` in every scene ``j`` that has one (see :func:`slot_layers`)."""

    k: int
    j: np.ndarray  # (m,) batch positions of the scenes with a sprite in slot k
    pix: np.ndarray  # (P,) indices into the bank's pixel arrays, scene after scene
    offset: np.ndarray  # (P,) ``bank.offset[pix]``: each pixel's offset from its sprite's corner
    lens: np.ndarray  # (m,) pixels per sprite
    corner: np.ndarray  # (m,) linear offset of each sprite's top-left corner within a frame
    rows: np.ndarray  # (m,) output rows of the scenes
    bank: "PixelBank"
    slots: int  # K

    def _index(self, base: np.ndarray) -> np.ndarray:
        lin = np.repeat(base + self.corner, self.lens)
        lin += self.offset
        return lin

    def frame_index(self) -> np.ndarray:
        """(P,) flat indices of the sprites' pixels in (B, H, W) outputs."""
        return self._index(self.rows * (self.bank.height * self.bank.width))

    def mask_index(self) -> np.ndarray:
        """(P,) flat indices of the sprites' pixels in their own slot of (B, K, H, W) amodal masks."""
        return self._index((self.rows * self.slots + self.k) * (self.bank.height * self.bank.width))


def slot_layers(bank: PixelBank, rows: np.ndarray, codes: np.ndarray, y: np.ndarray, x: np.ndarray,
                n: np.ndarray):
    """Yield one :class:`SlotLayer` per sprite slot, back to front (slot k over slots < k).

    Scene j (row ``rows[j]`` of the outputs) has sprites ``codes[j, :n[j]]``
    with top-left corners ``y, x`` (R, K); slots no scene uses are skipped.
    """
    K = codes.shape[1]
    for k in range(K):
        j = np.flatnonzero(n > k)
        if not j.size:
            continue
        c = codes[j, k]
        lens = bank.npix[c]
        pix = ragged(bank.start[c], lens)
        yield SlotLayer(k, j, pix, bank.offset[pix], lens, y[j, k] * bank.width + x[j, k], rows[j], bank, K)


def rgb_items(a: np.ndarray) -> np.ndarray:
    """A C-contiguous (..., C) uint8 array as a flat array of C-byte items (one item per pixel).

    Gathering or scattering whole pixels this way moves each pixel once
    instead of once per channel.
    """
    return a.view(np.dtype((np.void, a.shape[-1]))).reshape(-1)


def paint_visible(bank: PixelBank, rows: np.ndarray, codes: np.ndarray, y: np.ndarray, x: np.ndarray,
                  n: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Write the visible labels of occluding sprites into zeroed ``seg`` rows; return visible pixel counts.

    Same scenes and layout as :func:`paint` (slot k occludes slots < k), but
    painted front to back so that each pixel is claimed once and the count
    of pixels each sprite keeps, ``(R, K)`` int64, comes for free.
    """
    HW = bank.height * bank.width
    flat = seg.reshape(-1)
    R, K = codes.shape
    visible = np.zeros((R, K), np.int64)
    for k in range(K - 1, -1, -1):
        j = np.flatnonzero(n > k)
        if not j.size:
            continue
        c = codes[j, k]
        lens = bank.npix[c]
        lin = np.repeat(rows[j] * HW + y[j, k] * bank.width + x[j, k], lens)
        lin += bank.offset[ragged(bank.start[c], lens)]
        free = flat[lin] == 0
        visible[j, k] = np.add.reduceat(free, _starts(lens), dtype=np.int64)
        flat[lin[free]] = k + 1
    return visible
