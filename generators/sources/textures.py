"""Procedural textures: smooth noise banks, wood grain and chessboards (numpy only).

Everything here is a pure function of its arguments (randomness only from the
``rng`` passed in). The expensive parts (smooth noise fields) are drawn once
per dataset into banks; a per-sample texture is then a handful of vectorised
operations on ``H x W`` float32 arrays.

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
"""

from __future__ import annotations

import colorsys
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


_RAMP_I = np.arange(256, dtype=np.int32)[:, None]


def wood(rng: np.random.Generator, bank: WoodBank, out: np.ndarray, hue_range=(0.0, 1.0),
         period_range=(4.0, 10.0)) -> np.ndarray:
    """Draw a randomly colorized wood texture into ``out`` (H, W, 3) uint8.

    Returns its (dark, light) ramp end colors, (2, 3) uint8.
    """
    H, W = out.shape[:2]
    u = rng.random(10)
    rings = bank.rings[int(u[0] * len(bank.rings))]
    gi = int(u[1] * len(bank.grain))
    flip = int(u[2] * 8)
    if flip & 4 and H == W:  # transpose: vertical grain
        rings, grain = rings.T, bank.grain_t[gi].T
    else:
        grain = bank.grain[gi]
    if flip & 1:
        rings, grain = rings[::-1], grain[::-1]
    if flip & 2:
        rings, grain = rings[:, ::-1], grain[:, ::-1]
    period = period_range[0] + (period_range[1] - period_range[0]) * u[3]
    t = rings * np.float32(256.0 / period)
    t += np.float32(256.0 * u[4])
    level = RING_PROFILE.take(t.astype(np.int32) & 255)
    level += grain
    # colors: one random hue; a light early-wood and a dark late-wood tone
    hue = hue_range[0] + (hue_range[1] - hue_range[0]) * u[5]
    sat = 0.3 + 0.4 * u[6]
    value = 0.75 + 0.25 * u[7]
    light = _rgb(hue, sat * 0.85, value)
    dark = _rgb(hue + 0.015, min(1.0, sat * 1.3), value * (0.25 + 0.25 * u[8]))
    lo = np.array(dark, np.int32)
    lut = ((_RAMP_I * (np.array(light, np.int32) - lo) + 127) // 255 + lo).astype(np.uint8)
    np.take(lut, level, axis=0, out=out)
    return np.array([dark, light], np.uint8)


def _rgb(h: float, s: float, v: float) -> list:
    return [round(x * 255) for x in colorsys.hsv_to_rgb(h % 1.0, s, v)]


def chessboard(u: np.ndarray, v: np.ndarray, cell: float, offset_u: float, offset_v: float) -> np.ndarray:
    """0/1 chessboard index (intp) at object-frame coordinates ``u``, ``v`` (|u|, |v| < 4096 * cell)."""
    inv = np.float32(1.0 / cell)
    # shifted positive, truncation is floor; an even shift keeps the parity
    iu = ((u + np.float32(offset_u + 4096 * cell)) * inv).astype(np.intp)
    iu += ((v + np.float32(offset_v + 4096 * cell)) * inv).astype(np.intp)
    iu &= 1
    return iu
