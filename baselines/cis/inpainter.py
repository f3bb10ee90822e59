"""psi, CIS's conditional inpainting network, and its binarised edge input.

``psi(x, m, e)``: image ``x (B, C, H, W)`` in [0, 1], hidden-region mask
``m (B, 1, H, W)`` (1 = to fill in), binary edge map ``e (B, 2, H, W)`` ->
the inpainted image ``(B, C, H, W)`` (no sigmoid or clamp, as the code).

As the authors' code: two symmetric encoders, "a" on the edges and "b" on
``((x - 0.5)(1 - m), 1, 1 - m)``, nine TF-SAME convs each (7x7 s2, 5x5 s2,
5x5 s2, 3x3, 3x3 s2, 3x3, 3x3 s2, 3x3, 3x3 s2; widths c, 2c, 4c, 4c, 8c x 5
with c = ``channels``, 32 in the code), leaky ReLU 0.2, no normalisation; a
FlowNet-style decoder: per level a bilinear resize to the skip's size and a
4x4 conv (leaky ReLU), concatenated with both encoders' skips and the
upsampled coarser intensity prediction (4x4 linear conv), a 3x3 (5x5 at the
finest level) linear conv to an intensity; the finest, resized to ``H x W``,
plus 0.5 is the output. ~13.4M parameters at c = 32 (paper: 13M).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .segmentation import TFConv2d

SOBEL_Y = ((-1.0, -2.0, -1.0), (0.0, 0.0, 0.0), (1.0, 2.0, 1.0))


def sobel(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W) -> (B, C, 2, H, W)``: vertical and horizontal 3x3 Sobel responses, reflect-padded."""
    ky = torch.tensor(SOBEL_Y, dtype=x.dtype, device=x.device)
    k = torch.stack([ky, ky.t()])[:, None]  # (2, 1, 3, 3)
    b, c, h, w = x.shape
    out = F.conv2d(F.pad(x.reshape(b * c, 1, h, w), (1, 1, 1, 1), mode="reflect"), k)
    return out.view(b, c, 2, h, w)


def binary_edges(x: torch.Tensor, threshold: float) -> torch.Tensor:
    """The code's ``bin_edge_map`` for 64x64 data: |Sobel| summed over colours, min-max per image and
    direction (a flat map gives 0), ``> threshold`` -> float ``(B, 2, H, W)``."""
    e = sobel(x).abs().sum(1)
    lo = e.amin((2, 3), keepdim=True)
    rng = e.amax((2, 3), keepdim=True) - lo
    norm = torch.where(rng > 0, (e - lo) / torch.where(rng > 0, rng, torch.ones_like(rng)), torch.zeros_like(e))
    return (norm > threshold).to(x.dtype)


def signed_edges(x: torch.Tensor, threshold: float, scale: float) -> torch.Tensor:
    """The code's ``bin_edge_map`` for flying animals: signed Sobel summed over colours, divided by ``scale``,
    ``|.| > threshold`` -> float ``(B, 2, H, W)`` (opposite colour changes cancel)."""
    return ((sobel(x).sum(1) / scale).abs() > threshold).to(x.dtype)


def edge_map(x: torch.Tensor, style: str, threshold: float, scale: float = 15.0) -> torch.Tensor:
    """Binary edges of ``x`` in the config's ``edge_style`` (``"abs-minmax"`` or ``"signed"``)."""
    if style == "signed":
        return signed_edges(x, threshold, scale)
    return binary_edges(x, threshold)


def _conv(cin, cout, k, s=1):
    return TFConv2d(cin, cout, k, s)


ENCODER = ((7, 2, 1), (5, 2, 2), (5, 2, 4), (3, 1, 4), (3, 2, 8), (3, 1, 8), (3, 2, 8), (3, 1, 8), (3, 2, 8))
SKIPS = (0, 1, 3, 5, 7)  # encoder layers whose outputs feed the decoder: c1, c2, c31, c41, c51


class Encoder(nn.Module):
    def __init__(self, cin, c):
        super().__init__()
        layers, prev = [], cin
        for k, s, mult in ENCODER:
            layers.append(_conv(prev, c * mult, k, s))
            prev = c * mult
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        outs = []
        for layer in self.layers:
            x = F.leaky_relu(layer(x), 0.2)
            outs.append(x)
        return outs


class Inpainter(nn.Module):
    def __init__(self, channels: int = 3, c: int = 32):
        super().__init__()
        self.enc_edges = Encoder(2, c)
        self.enc_image = Encoder(channels + 2, c)
        skip = [c * ENCODER[i][2] for i in SKIPS]  # widths c, 2c, 4c, 8c, 8c (fine to coarse)
        deconv = [c, 2 * c, 4 * c, 8 * c, 8 * c]
        self.deconv, self.intensity, self.upintensity = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        prev = 2 * c * 8
        for level in range(4, -1, -1):  # coarse (5) to fine (1)
            self.deconv.append(_conv(prev, deconv[level], 4))
            extra = 0 if level == 4 else channels
            if level < 4:
                self.upintensity.append(_conv(channels, channels, 4))
            width = deconv[level] + extra + 2 * skip[level]
            self.intensity.append(_conv(width, channels, 5 if level == 0 else 3))
            prev = width

    def forward(self, x, mask, edges):
        visible = 1 - mask
        inp = torch.cat([(x - 0.5) * visible, torch.ones_like(mask), visible], 1)
        a, b = self.enc_edges(edges), self.enc_image(inp)
        h = torch.cat([a[-1], b[-1]], 1)
        intensity = None
        for i, level in enumerate(range(4, -1, -1)):
            sa, sb = a[SKIPS[level]], b[SKIPS[level]]
            size = sb.shape[2:]
            d = F.leaky_relu(self.deconv[i](F.interpolate(h, size=size, mode="bilinear", align_corners=False)), 0.2)
            parts = [d]
            if intensity is not None:
                up = F.interpolate(intensity, size=size, mode="bilinear", align_corners=False)
                parts.append(self.upintensity[i - 1](up))
            h = torch.cat(parts + [sb, sa], 1)
            intensity = self.intensity[i](h)
        return F.interpolate(intensity, size=x.shape[2:], mode="bilinear", align_corners=False) + 0.5
