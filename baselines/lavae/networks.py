"""LAVAE's networks: inference nets, location head, sprite decoder, auxiliary VAE, conv beta-VAE parts.

Shapes: images ``(B, C, H, W)``; ``L`` appearance latent size; ``S`` sprite
size. The layer order follows the paper's Appendix B where it gives one:
every convolution of the inference networks' stem and residual blocks is
followed by LeakyReLU and then BatchNorm (:class:`ConvActNorm`,
:class:`ResBlock`); the location network ends in one 3-layer convolutional
head; the sprite decoder has BatchNorm after every layer except in its last
residual block. Where the paper gives no layout (where the skip joins a
block, BatchNorm in the location head, the auxiliary VAE's decoder) it is
marked "assumed" in the class docstrings.

:func:`geometry` derives, from a network's layers, where the receptive field
of each output cell is centred in the input (the auxiliary VAE uses it to put
its KL map on the pixels its latents look at).

The conv beta-VAE's parts (:class:`ConvEncoder`, :class:`ConvDecoder`) use the
shared blocks of :mod:`scenebench.baselines.common.blocks`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..common.blocks import LEAK, ConvBNAct, ResidualBlock, conv, upsample


# ----------------------------------------------------------------------------- blocks (paper order: act, then BN)
class ConvActNorm(nn.Sequential):
    """conv -> LeakyReLU -> BatchNorm (the paper's order), same-padded unless told otherwise."""

    def __init__(self, cin: int, cout: int, kernel=3, stride: int = 1, padding=None):
        padding = (kernel // 2 if isinstance(kernel, int) else tuple(k // 2 for k in kernel)) \
            if padding is None else padding
        super().__init__(nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding), nn.LeakyReLU(LEAK),
                         nn.BatchNorm2d(cout))


class ResBlock(nn.Module):
    """Residual block of the inference networks and the sprite decoder: ``x + main(x)``.

    ``main``: two 3x3 convs, each followed by LeakyReLU and BatchNorm
    (``norm=False``: no BatchNorm, the sprite decoder's last block). Skip
    joined after the second BatchNorm, no activation after the sum (assumed:
    the paper does not say where the skip joins). ``(B, C, H, W) -> same``.
    """

    def __init__(self, channels: int, norm: bool = True):
        super().__init__()
        layers = []
        for _ in range(2):
            layers += [conv(channels, channels), nn.LeakyReLU(LEAK)]
            if norm:
                layers.append(nn.BatchNorm2d(channels))
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.main(x)

    def geometry(self):
        return geometry(self.main)  # same-padded: the identity, like the skip


class DownBlock(nn.Module):
    """Residual block that lowers the resolution (the auxiliary VAE's encoder): ``skip(x) + main(x)``.

    ``main``: a ``kernel`` conv with ``stride`` / ``padding`` then a 3x3 conv,
    each followed by LeakyReLU and BatchNorm. ``skip``: a strided 1x1 conv
    (``stride > 1``) or an average pool of the same window (``stride == 1``:
    a valid-padded block that shrinks the map by ``kernel - 1``), so both paths
    see the input at the same place (checked by :func:`geometry`).
    """

    def __init__(self, channels: int, kernel, stride: int, padding):
        super().__init__()
        self.main = nn.Sequential(ConvActNorm(channels, channels, kernel, stride, padding),
                                  ConvActNorm(channels, channels))
        self.skip = (nn.Conv2d(channels, channels, 1, stride=stride) if stride > 1 else
                     nn.AvgPool2d(kernel, stride=1, padding=padding))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.main(x)

    def geometry(self):
        main, skip = geometry(self.main), geometry(self.skip)
        if main != skip:
            raise ValueError(f"DownBlock paths see different places: main {main}, skip {skip}")
        return main


class Resize(nn.Module):
    """Bilinear resize to a fixed ``size`` (half-pixel centres)."""

    def __init__(self, size):
        super().__init__()
        self.size = tuple(size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upsample(x, self.size)


# ----------------------------------------------------------------------------- receptive-field geometry
_POINTWISE = (nn.BatchNorm2d, nn.LeakyReLU, nn.ReLU, nn.Identity, nn.Sigmoid)


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def geometry(module: nn.Module):
    """Where output cell ``i`` of ``module`` looks in its input, per axis: ``((jump_y, offset_y), (jump_x, offset_x))``.

    The receptive field of output index ``i`` along an axis is centred on
    input coordinate ``jump * i + offset`` (pixel indices: pixel ``r`` sits at
    coordinate ``r``). Derived layer by layer: a conv / pool with kernel ``k``,
    stride ``s``, padding ``p`` and dilation ``d`` maps ``i`` to ``s i - p + d (k - 1) / 2``;
    a :class:`torch.nn.Sequential` composes its children; modules with a
    ``geometry()`` method (residual blocks) report their own; pointwise
    modules change nothing. Anything else raises ``TypeError``.
    """
    if isinstance(module, (nn.Conv2d, nn.AvgPool2d, nn.MaxPool2d)):
        if isinstance(module.padding, str):
            raise TypeError(f"geometry: string padding {module.padding!r} is not supported")
        k, s, p = _pair(module.kernel_size), _pair(module.stride), _pair(module.padding)
        d = _pair(getattr(module, "dilation", 1))
        return tuple((float(s[a]), -float(p[a]) + d[a] * (k[a] - 1) / 2.0) for a in range(2))
    if hasattr(module, "geometry"):
        return module.geometry()
    if isinstance(module, nn.Sequential):
        total = ((1.0, 0.0), (1.0, 0.0))
        for child in module:  # child applied after the layers composed so far
            g = geometry(child)
            total = tuple((j0 * j1, j0 * o1 + o0) for (j0, o0), (j1, o1) in zip(total, g))
        return total
    if isinstance(module, _POINTWISE):
        return ((1.0, 0.0), (1.0, 0.0))
    raise TypeError(f"geometry: no receptive-field rule for {type(module).__name__}")


def cell_to_pixel_matrix(jump: float, offset: float, cells: int, pixels: int) -> torch.Tensor:
    """``(pixels, cells)`` linear interpolation from cell values to pixels along one axis.

    Cell ``j`` sits at pixel coordinate ``jump * j + offset``; pixel ``r`` takes
    the linear interpolation of the two cells around it, or the nearest cell's
    value beyond the first / last cell centre. Rows sum to 1.
    """
    u = ((torch.arange(pixels, dtype=torch.float64) - offset) / jump).clamp(0.0, cells - 1.0)
    lo = u.floor().long().clamp(max=cells - 1)
    hi = (lo + 1).clamp(max=cells - 1)
    w = u - lo.double()
    m = torch.zeros(pixels, cells, dtype=torch.float64)
    rows = torch.arange(pixels)
    m.index_put_((rows, lo), 1.0 - w, accumulate=True)
    m.index_put_((rows, hi), w, accumulate=True)
    return m.float()


# ----------------------------------------------------------------------------- LAVAE's networks
class AppearanceNet(nn.Module):
    """Residual inference network: ``(B, C, H, W) -> h_app (B, 2L, H, W)`` (means, pre-softplus scales).

    Stem conv, ``blocks`` residual blocks at full resolution, output conv to
    ``2L`` channels (the stem and output convs are assumed: something has to
    map ``C`` channels in and ``2L`` out).
    """

    def __init__(self, cin: int, channels: int, latent: int, blocks: int):
        super().__init__()
        self.net = nn.Sequential(ConvActNorm(cin, channels), *[ResBlock(channels) for _ in range(blocks)],
                                 conv(channels, 2 * latent))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class LocationNet(nn.Module):
    """Residual inference network + one 3-layer conv head: ``(B, C, H, W) -> h_loc (B, H, W)``.

    Body: stem conv and ``blocks`` residual blocks (as :class:`AppearanceNet`,
    without its output conv). Head: conv, LeakyReLU, conv, LeakyReLU, conv to
    1 channel (no BatchNorm in the head: assumed -- the paper puts BatchNorm
    in the inference blocks and describes the head only as 3 conv layers; with
    BatchNorm right before the logits, f_count's threshold would act on
    batch-normalised values). The head's output is multiplied by ``scale``
    (gamma), so ``h_loc / gamma`` is the head's raw output.
    """

    def __init__(self, cin: int, channels: int, head_channels: int, blocks: int, scale: float):
        super().__init__()
        self.body = nn.Sequential(ConvActNorm(cin, channels), *[ResBlock(channels) for _ in range(blocks)])
        self.head = nn.Sequential(conv(channels, head_channels), nn.LeakyReLU(LEAK),
                                  conv(head_channels, head_channels), nn.LeakyReLU(LEAK), conv(head_channels, 1))
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x)).squeeze(1) * self.scale


class SpriteDecoder(nn.Module):
    """``z (P, L) -> sprites (P, C, S, S)`` in (0, 1).

    FC to a coarse ``(channels, s0, s0)`` map, conv, bilinear upsampling to
    ``S x S``, ``z`` concatenated to every pixel, conv, ``blocks`` residual
    blocks, conv + sigmoid. Every layer is followed by LeakyReLU and
    BatchNorm except the last residual block (no BatchNorm) and the output
    conv (sigmoid). The FC output's BatchNorm is per channel of the coarse map
    (assumed; per-feature BatchNorm would fail on a batch of one sprite), and
    ``s0 = max(3, ceil(S / 4))`` is assumed.
    """

    def __init__(self, latent: int, channels: int, size: int, cout: int, blocks: int = 3):
        super().__init__()
        self.size = size
        self.s0 = max(3, math.ceil(size / 4))
        self.channels = channels
        self.fc = nn.Linear(latent, channels * self.s0 * self.s0)
        self.fc_norm = nn.Sequential(nn.LeakyReLU(LEAK), nn.BatchNorm2d(channels))
        self.conv_in = ConvActNorm(channels, channels)
        self.merge = ConvActNorm(channels + latent, channels)
        self.res = nn.Sequential(*[ResBlock(channels, norm=i < blocks - 1) for i in range(blocks)])
        self.out = conv(channels, cout)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        p = z.shape[0]
        h = self.conv_in(self.fc_norm(self.fc(z).view(p, self.channels, self.s0, self.s0)))
        h = upsample(h, (self.size, self.size))
        h = torch.cat([h, z[:, :, None, None].expand(p, z.shape[1], self.size, self.size)], 1)
        return torch.sigmoid(self.out(self.res(self.merge(h))))


def _grid_kernel(height: int, width: int, grid: int) -> tuple[int, int, int, int]:
    """Sizes after two stride-2 blocks and the valid kernel that brings them to ``grid``."""
    h2, w2 = (height + 1) // 2, (width + 1) // 2
    h4, w4 = (h2 + 1) // 2, (w2 + 1) // 2
    return h2, w2, h4 - grid + 1, w4 - grid + 1


class AuxVae(nn.Module):
    """Fully convolutional VAE with a ``(latent, grid, grid)`` latent map (LAVAE's warm-up helper).

    Encoder (the paper's "3 residual blocks with downsampling"): stem conv,
    two stride-2 residual blocks (``H -> H/2 -> H/4``), one valid-padded
    residual block whose kernel brings ``H/4`` to ``grid`` (16 -> 11 for 64x64
    images), and a 1x1 conv to the means and pre-softplus scales. Which
    blocks downsample, and by how much, is assumed (the paper gives the
    block count and the 11x11x8 map). Decoder (assumed; the paper does not
    describe it): the mirror image, a transposed conv back to ``H/4`` and 3
    residual blocks with bilinear upsampling to ``H/2`` and ``H``, then a conv
    to Bernoulli logits.

    ``forward(x, generator) -> (neg_elbo (B,), kl_map (B, grid, grid))``: the
    Bernoulli negative ELBO of each image and the KL of each latent position
    (summed over its ``latent`` channels), nats. :meth:`kl_to_pixels` puts
    the KL map on the image grid, each cell on the pixel its receptive field
    is centred on (derived from the encoder's layers by :func:`geometry`).
    """

    def __init__(self, cin: int, height: int, width: int, channels: int, latent: int = 8, grid: int = 11):
        super().__init__()
        h2, w2, kh, kw = _grid_kernel(height, width, grid)
        if kh < 1 or kw < 1:
            raise ValueError(f"aux VAE: {height}x{width} images are too small for an {grid}x{grid} latent grid")
        self.grid = grid
        self.encoder = nn.Sequential(
            ConvActNorm(cin, channels),
            DownBlock(channels, 3, 2, 1),
            DownBlock(channels, 3, 2, 1),
            DownBlock(channels, (kh, kw), 1, 0),
            nn.Conv2d(channels, 2 * latent, 1),
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(latent, channels, (kh, kw)), nn.LeakyReLU(LEAK), nn.BatchNorm2d(channels),
            ResBlock(channels), Resize((h2, w2)),
            ResBlock(channels), Resize((height, width)),
            ResBlock(channels), conv(channels, cin),
        )
        (jy, oy), (jx, ox) = geometry(self.encoder)
        self.centres = (tuple(oy + jy * j for j in range(grid)), tuple(ox + jx * j for j in range(grid)))
        self.register_buffer("to_rows", cell_to_pixel_matrix(jy, oy, grid, height), persistent=False)
        self.register_buffer("to_cols", cell_to_pixel_matrix(jx, ox, grid, width), persistent=False)

    def forward(self, x: torch.Tensor, generator: torch.Generator):
        mu, s = self.encoder(x).chunk(2, 1)
        sigma = nn.functional.softplus(s) + 1e-4
        z = mu + sigma * torch.randn(mu.shape, generator=generator, device=mu.device)
        logits = self.decoder(z)
        nll = nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
        kl = (0.5 * (mu ** 2 + sigma ** 2 - 1.0) - torch.log(sigma)).sum(1)  # (B, grid, grid)
        return nll + kl.flatten(1).sum(1), kl

    def kl_to_pixels(self, kl_map: torch.Tensor) -> torch.Tensor:
        """``(B, grid, grid) -> (B, H, W)``: the KL map with each cell on its receptive field's centre pixel,
        linearly interpolated between cell centres (nearest cell beyond the outer centres)."""
        return torch.einsum("hi,bij,wj->bhw", self.to_rows, kl_map, self.to_cols)


# ----------------------------------------------------------------------------- conv beta-VAE
class ConvEncoder(nn.Module):
    """``(B, C, H, W) -> (B, 2 * latent, H / 2^k, W / 2^k)``: stem, k x (residual block, stride-2 conv), conv."""

    def __init__(self, cin: int, channels: int, latent: int, downsamplings: int, blocks: int = 1):
        super().__init__()
        layers = [ConvBNAct(cin, channels)]
        for _ in range(downsamplings):
            layers += [ResidualBlock(channels) for _ in range(blocks)]
            layers.append(ConvBNAct(channels, channels, 3, 2))
        layers += [ResidualBlock(channels) for _ in range(blocks)]
        layers.append(conv(channels, 2 * latent))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class ConvDecoder(nn.Module):
    """``(B, latent, h, w) -> logits (B, C, H, W)``: conv, k x (residual blocks, bilinear 2x up + conv), conv."""

    def __init__(self, latent: int, channels: int, cout: int, sizes: list, blocks: int = 1):
        super().__init__()
        self.sizes = sizes
        self.inp = ConvBNAct(latent, channels)
        self.res = nn.ModuleList(nn.Sequential(*[ResidualBlock(channels) for _ in range(blocks)]) for _ in sizes)
        self.up = nn.ModuleList(ConvBNAct(channels, channels) for _ in sizes)
        self.out = conv(channels, cout)

    def forward(self, z):
        h = self.inp(z)
        for res, up, size in zip(self.res, self.up, self.sizes):
            h = up(upsample(res(h), size))
        return self.out(h)
