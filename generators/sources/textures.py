"""Procedural textures: smooth noise banks, wood grain and chessboards (numpy only).

Everything here is a pure function of its arguments (randomness only from the
``rng`` or uniform values passed in). The expensive parts (smooth noise
fields) are drawn once per dataset into banks; the textures of a whole batch
are then a handful of vectorised operations on ``(n, H, W)`` arrays.

Wood: growth rings are level sets of the distance to a ring centre (the pith)
that lies off the canvas, in a coordinate frame rotated to the grain
direction and squashed along it (a board cut at a shallow angle to the trunk
shows long, arched rings). The distance is warped by smooth noise, folded
into ring phase, and mapped through an asymmetric profile (light early wood
darkening into a thin dark late-wood band), plus fine streaks elongated
along the grain. The shade indexes a per-sample 256-entry color ramp between
a dark and a light color of one hue.

Chessboard: ``(floor(u / cell) + floor(v / cell)) mod 2`` in the object's own
rotated frame, so the board turns and moves with its object.

For the CIS authors' Multi-Texture (``multi_texture/cis``): :func:`plank`, a
procedural wood plank with horizontal grain matching the statistics of the
authors' background photo; :func:`hue_shift`, their colorization (a hue
rotation, saturation and value kept); :func:`fixed_chessboard`, one board in
image coordinates that objects are windows onto.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np


def smooth_noise(rng: np.random.Generator, n: int, height: int, width: int, sigma: tuple[float, float],
                 slope: float = 0.0) -> np.ndarray:
    """``n`` periodic smooth noise fields (float32, zero mean, unit std) by spectral filtering.

    White noise is low-passed with a Gaussian of spatial std ``sigma`` = (sy, sx)
    pixels (anisotropic sigmas give streaks), times ``|f|**-slope`` for a
    fractal look.
    """
    white = rng.standard_normal((n, height, width)).astype(np.float32)
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    filt = np.exp(-2 * np.pi**2 * ((fy * sigma[0]) ** 2 + (fx * sigma[1]) ** 2))
    if slope:
        f = np.sqrt(fy**2 + fx**2)
        f[0, 0] = 1.0
        filt = filt * f**-slope
    out = np.fft.irfft2(np.fft.rfft2(white) * filt, s=(height, width)).astype(np.float32)
    out -= out.mean(axis=(1, 2), keepdims=True)
    out /= out.std(axis=(1, 2), keepdims=True) + np.float32(1e-6)
    return out


# ring shade profile over one period, as integer shade levels (0 = dark, 255 = light)
_U = (np.arange(256) + 0.5) / 256


def _ring_profile() -> np.ndarray:
    """Light early wood darkening gradually into a dark late-wood band, then a sharp edge to the next ring."""
    late = np.clip((_U - 0.45) / 0.5, 0, 1) ** 2
    shade = 1.0 - 0.15 * _U - 0.8 * late
    return np.round(24 + 200 * np.clip(shade, 0, 1)).astype(np.int16)  # 24..224 leaves room for the grain


RING_PROFILE = _ring_profile()


@dataclass
class WoodBank:
    """Dataset-level wood geometry: ring-distance fields and fine-grain fields.

    ``rings`` (n, H, W) float32: warped distance (pixels) to an off-canvas
    pith, in a frame whose grain runs roughly along x, squashed along the
    grain. ``grain`` (m, H, W) int16: fine streaks along x, in shade levels.
    A sample picks one of each, a dihedral view (flips, transpose when square),
    a ring period and phase, and colors.
    """

    rings: np.ndarray
    grain: np.ndarray
    grain_t: np.ndarray  # (m, W, H): grain for transposed views

    def __post_init__(self):
        self.rings_min = float(self.rings.min()) if self.rings.size else 0.0
        self.rings_max = float(self.rings.max()) if self.rings.size else 0.0


def wood_bank(rng: np.random.Generator, height: int, width: int, n: int = 256, m: int = 64) -> WoodBank:
    H, W = height, width
    warp = smooth_noise(rng, n, H, W, (H / 6.0, W / 6.0), slope=0.5)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    xc, yc = xx - (W - 1) / 2.0, yy - (H - 1) / 2.0
    u = rng.random((n, 6))
    size = float(max(H, W))
    phi = (u[:, 0] - 0.5) * 0.4  # grain direction within +-11 degrees of x
    across = np.where(u[:, 1] < 0.5, 1.0, -1.0) * (0.55 + 1.0 * u[:, 2]) * size  # pith off the canvas
    along = (u[:, 3] - 0.5) * 1.5 * size
    squash = 0.1 + 0.3 * u[:, 4]  # rings elongated along the grain
    c, s = np.cos(phi)[:, None, None], np.sin(phi)[:, None, None]
    a = (xc * c + yc * s - along[:, None, None]) * squash[:, None, None]
    b = -xc * s + yc * c - across[:, None, None]
    rings = np.sqrt(a * a + b * b) + warp * (1.5 + 2.5 * u[:, 5])[:, None, None]
    rings = rings.astype(np.float32)

    def grains(h, w):
        g = smooth_noise(rng, m, h, w, (0.6, 10.0)) + 0.5 * smooth_noise(rng, m, h, w, (0.5, 2.0))
        return np.clip(np.round(g * 9.0), -24, 24).astype(np.int16)

    return WoodBank(rings, grains(H, W), grains(W, H))


WOOD_DRAWS = 9  # uniform values that pick and color one wood texture


@functools.lru_cache(maxsize=8)
def _ring_levels(n: int) -> np.ndarray:
    """RING_PROFILE (float32) repeated to ``n`` entries: indexed by a ring phase without wrapping it first."""
    return np.resize(RING_PROFILE.astype(np.float32), n)


def wood(bank: WoodBank, u: np.ndarray, out: np.ndarray, rows: np.ndarray | None = None, hue_range=(0.0, 1.0),
         period_range=(4.0, 10.0)) -> np.ndarray:
    """Draw randomly colorized wood textures for a batch, one per row of ``u``.

    ``u`` (R, WOOD_DRAWS) uniforms in [0, 1): bank field, grain field,
    dihedral view, ring period, ring phase, hue, saturation, value and the
    darkness of the late wood. Texture j is written to ``out[rows[j]]``
    (``out`` (B, H, W, 3) uint8; ``rows`` defaults to 0..R-1). Returns the
    (dark, light) ramp end colors, (R, 2, 3) uint8.

    Per pixel, in float32: ring phase ``t = rings * 256 / period + 256 *
    phase``, shade level ``RING_PROFILE[floor(t) mod 256] + grain`` (0..248),
    color ``floor(dark + level * (light - dark) / 255 + 1/2)`` per channel.
    """
    R = len(u)
    rows = np.arange(R) if rows is None else np.asarray(rows)
    H, W = out.shape[1:3]
    ri = (u[:, 0] * len(bank.rings)).astype(np.intp)
    gi = (u[:, 1] * len(bank.grain)).astype(np.intp)
    view = (u[:, 2] * 8).astype(np.intp)  # bit 2: transpose (square canvases), bit 0: flip rows, bit 1: flip columns
    if H != W:
        view &= 3
    scale = (256.0 / (period_range[0] + (period_range[1] - period_range[0]) * u[:, 3])).astype(np.float32)
    phase = (256.0 * u[:, 4]).astype(np.float32)
    # colors: one random hue; a light early-wood and a dark late-wood tone
    hue = hue_range[0] + (hue_range[1] - hue_range[0]) * u[:, 5]
    sat = 0.3 + 0.4 * u[:, 6]
    value = 0.75 + 0.25 * u[:, 7]
    light = hsv_to_rgb(hue, sat * 0.85, value)
    dark = hsv_to_rgb(hue + 0.015, np.minimum(1.0, sat * 1.3), value * (0.25 + 0.25 * u[:, 8]))
    slope = ((light.astype(np.float32) - dark) / np.float32(255)).astype(np.float32)  # (R, 3)
    base = dark.astype(np.float32) + np.float32(0.5)
    # phases lie in [min(rings) * 256 / period, max(rings) * 256 / period + 256): shifted by whole periods to be
    # non-negative (int() truncation is then floor), a long enough profile needs no wrapping
    top = float(scale.max(initial=0.0))
    phase += np.float32(256 * np.ceil(max(0.0, -bank.rings_min) * top / 256))
    levels = _ring_levels(int(max(0.0, bank.rings_max) * top + float(phase.max(initial=0.0))) + 2)
    for v in np.unique(view):
        sel = np.flatnonzero(view == v)
        rings = bank.rings[ri[sel]]  # (G, H, W)
        grain = bank.grain_t[gi[sel]].transpose(0, 2, 1) if v & 4 else bank.grain[gi[sel]]
        if v & 4:  # transpose: vertical grain
            rings = rings.transpose(0, 2, 1)
        if v & 1:
            rings, grain = rings[:, ::-1], grain[:, ::-1]
        if v & 2:
            rings, grain = rings[:, :, ::-1], grain[:, :, ::-1]
        t = np.multiply(rings, scale[sel, None, None])  # in the sample's view, contiguous from here on
        t += phase[sel, None, None]
        level = levels[t.astype(np.intp)]
        level += grain
        rgb = np.empty(level.shape + (3,), np.uint8)
        for c in range(3):  # one channel at a time: contiguous float32 operations
            np.multiply(level, slope[sel, c, None, None], out=t)
            t += base[sel, c, None, None]
            rgb[..., c] = t  # truncation of values >= 0: the floor
        out[rows[sel]] = rgb
    return np.stack([dark, light], axis=1)


def hsv_to_rgb(h, s, v) -> np.ndarray:
    """HSV in [0, 1] (arrays of one shape; hue wraps) to RGB ``(..., 3)`` uint8, elementwise.

    The formula of :func:`colorsys.hsv_to_rgb`, channels scaled by 255 and
    rounded half to even as Python's ``round`` does.
    """
    h, s, v = np.broadcast_arrays(np.asarray(h, np.float64) % 1.0, np.asarray(s, np.float64), np.asarray(v, np.float64))
    i = (h * 6.0).astype(np.int64)
    f = h * 6.0 - i
    p, q, t = v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f))
    i %= 6
    table = np.stack([v, q, p, p, t, v, t, v, v, q, p, p, p, p, t, v, v, q], -1).reshape(h.shape + (3, 6))
    rgb = np.take_along_axis(table, i[..., None, None], -1)[..., 0]
    return np.rint(rgb * 255).astype(np.uint8)


def chessboard(u: np.ndarray, v: np.ndarray, cell: np.ndarray, offset_u: np.ndarray, offset_v: np.ndarray,
               repeats: np.ndarray | None = None) -> np.ndarray:
    """0/1 chessboard index (intp) at object-frame coordinates ``u``, ``v`` (float32, |u|, |v| < 4096 * cell).

    ``cell``, ``offset_u``, ``offset_v`` are per pixel, or per object with
    ``repeats`` pixels each (the pixels of consecutive objects, in order).
    Computed in float32 as ``floor((u + offset_u) / cell) + floor((v +
    offset_v) / cell)`` mod 2.
    """
    def per_pixel(a):
        return a if repeats is None else np.repeat(a, repeats)

    cell = np.asarray(cell, np.float64)
    shift = 4096 * cell  # shifted positive, truncation is floor; an even shift keeps the parity
    inv = per_pixel((1.0 / cell).astype(np.float32))
    a = u + per_pixel((np.asarray(offset_u) + shift).astype(np.float32))
    a *= inv
    b = v + per_pixel((np.asarray(offset_v) + shift).astype(np.float32))
    b *= inv
    index = a.astype(np.intp)
    index += b.astype(np.intp)
    index &= 1
    return index


# ---------------------------------------------------------------- plank wood, hue shift, fixed chessboard
# The CIS authors' Multi-Texture background is one photographed wood plank with horizontal grain. We do not
# ship the photo; :func:`plank` draws a procedural plank with its statistics (measured on the 64x64 photo):
# mean RGB, the std of the channel mean ("luma"), and the mean absolute difference of the luma between
# neighbouring pixels along x (across the grain lines) and along y.
PLANK_MEAN = (173.0, 121.0, 80.0)
PLANK_LUMA_STD = 5.7
PLANK_GRADIENT = (1.0, 4.4)  # mean |d luma / dx|, mean |d luma / dy|
# colors vary mostly along one direction (the photo's first principal color axis); a weak second axis
_PLANK_AXIS = (0.659, 0.609, 0.442)
_PLANK_AXIS2 = (-0.666, 0.199, 0.719)
_PLANK_AXIS2_STD = 2.0


def _unit(f: np.ndarray) -> np.ndarray:
    f = f - f.mean()
    return f / f.std()


def _ar1_amplitude(n: int, phi: float, real: bool = False) -> np.ndarray:
    """Square root of the power spectrum of a unit-variance AR(1) process (exponential correlation phi**d)."""
    f = np.fft.rfftfreq(n) if real else np.fft.fftfreq(n)
    return np.sqrt((1 - phi * phi) / (1 - 2 * phi * np.cos(2 * np.pi * f) + phi * phi))


def _phase_field(rng: np.random.Generator, height: int, width: int, phi_y: float, phi_x: float | None) -> np.ndarray:
    """Periodic random-phase field (float64, zero mean, unit std) with AR(1) spectra along y and x.

    ``phi_x=None``: constant along x (one value per row: a grain line across the whole plank).
    """
    if phi_x is None:
        spec = _ar1_amplitude(height, phi_y) * np.exp(2j * np.pi * rng.random(height))
        return np.repeat(_unit(np.fft.ifft(spec).real)[:, None], width, axis=1)
    amp = _ar1_amplitude(height, phi_y)[:, None] * _ar1_amplitude(width, phi_x, real=True)[None, :]
    spec = amp * np.exp(2j * np.pi * rng.random((height, width // 2 + 1)))
    return _unit(np.fft.irfft2(spec, s=(height, width)))


def plank_stats(rgb: np.ndarray) -> dict:
    """Mean RGB, luma std and mean |luma gradient| along x and y of an (H, W, 3) image (luma = channel mean)."""
    a = np.asarray(rgb, np.float64)
    luma = a.mean(-1)
    return {"mean_rgb": a.reshape(-1, 3).mean(0).tolist(), "luma_std": float(luma.std()),
            "gradient_x": float(np.abs(np.diff(luma, axis=1)).mean()),
            "gradient_y": float(np.abs(np.diff(luma, axis=0)).mean())}


def plank(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A procedural wood plank with horizontal grain, (H, W, 3) uint8, with the CIS photo's statistics.

    Luma is a mix of grain lines (constant along x: a smooth AR(1) profile
    across the rows plus a fine white one) and short streaks (AR(1) along
    both axes, long along x); a weak independent field moves the color along
    a second axis. The mixing weights are set by bisection so that this
    plank's own mean |gradient| along y, then along x, equal PLANK_GRADIENT;
    the luma is scaled to PLANK_LUMA_STD and centred on PLANK_MEAN. So every
    plank (any ``rng``) has those statistics to within rounding.
    """
    H, W = height, width
    coarse = _phase_field(rng, H, W, 0.85, None)
    fine = _phase_field(rng, H, W, 0.0, None)
    streak = _phase_field(rng, H, W, 0.53, 0.8)
    second = _phase_field(rng, H, W, 0.5, 0.8)
    axis = np.asarray(_PLANK_AXIS) / np.linalg.norm(_PLANK_AXIS)
    axis2 = np.asarray(_PLANK_AXIS2) - axis * (axis @ _PLANK_AXIS2)
    axis2 /= np.linalg.norm(axis2)
    scale = PLANK_LUMA_STD / axis.mean()  # luma std of a unit field along ``axis``
    base = np.asarray(PLANK_MEAN) + second[..., None] * (_PLANK_AXIS2_STD * axis2)

    def make(w_fine: float, w_streak: float) -> np.ndarray:
        rows = _unit(np.sqrt(1 - w_fine) * coarse + np.sqrt(w_fine) * fine)
        f = _unit(np.sqrt(1 - w_streak) * rows + np.sqrt(w_streak) * streak)
        return np.clip(np.rint(base + f[..., None] * (scale * axis)), 0, 255).astype(np.uint8)

    def gradient(img: np.ndarray, axis: int) -> float:
        return float(np.abs(np.diff(img.astype(np.float64).mean(-1), axis=axis)).mean())

    def solve(fn, target: float, hi: float) -> float:  # fn increasing on [0, hi]
        lo = 0.0
        for _ in range(30):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if fn(mid) < target else (lo, mid)
        return (lo + hi) / 2

    w_fine, w_streak = 0.25, 0.1
    for _ in range(3):  # the two weights barely interact: a few alternating rounds converge
        w_fine = solve(lambda w: gradient(make(w, w_streak), 0), PLANK_GRADIENT[1], 1.0)
        w_streak = solve(lambda w: gradient(make(w_fine, w), 1), PLANK_GRADIENT[0], 0.6)
    return make(w_fine, w_streak)


def hue_sextant(rgb: np.ndarray) -> np.ndarray:
    """HSV hue of RGB colors ``(..., 3)`` (float64) in sextants, ``6 * hue`` in [-1, 5] (0 for grays)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    mx = rgb.max(-1)
    chroma = mx - rgb.min(-1)
    safe = np.where(chroma > 0, chroma, 1.0)
    return np.where(mx == r, (g - b) / safe, np.where(mx == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0))


def hue_shift(rgb, delta) -> np.ndarray:
    """Rotate the hue of RGB colors ``(..., 3)`` by ``delta`` turns (saturation and value kept), float64.

    RGB to HSV, ``hue = (hue + delta) mod 1``, back to RGB, as
    ``tf.image.adjust_hue`` does; any scale (0-1 or 0-255) in, the same
    scale out. ``delta`` broadcasts against ``rgb.shape[:-1]``.
    """
    rgb = np.asarray(rgb, np.float64)
    mx = rgb.max(-1)
    chroma = mx - rgb.min(-1)
    h6 = np.mod(hue_sextant(rgb) + 6.0 * np.asarray(delta, np.float64), 6.0)
    out = np.empty(np.broadcast_shapes(rgb.shape, h6.shape + (3,)))
    for ch, n in enumerate((5.0, 3.0, 1.0)):  # f(n) = V - C * clip(min(k, 4 - k), 0, 1), k = (n + 6 h) mod 6
        k = np.mod(n + h6, 6.0)
        out[..., ch] = mx - chroma * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)
    return out


def fixed_chessboard(height: int, width: int, cell: int) -> np.ndarray:
    """Chessboard parity (H, W) uint8 in image coordinates: ``(y // cell + x // cell) mod 2``, 0 at the top-left."""
    y = np.arange(height)[:, None] // cell
    x = np.arange(width)[None, :] // cell
    return ((y + x) % 2).astype(np.uint8)
