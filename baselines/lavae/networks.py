"""LAVAE's networks: inference nets, location head, sprite decoder, auxiliary VAE, conv beta-VAE parts.

Shapes: images ``(B, C, H, W)``; ``L`` appearance latent size; ``S`` sprite
size. Residual blocks (2 convs, BatchNorm, LeakyReLU) come from
:mod:`scenebench.baselines.common.blocks`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..common.blocks import LEAK, ConvBNAct, ResidualBlock, ResidualNet, conv, upsample


class AppearanceNet(nn.Module):
    """Residual inference network: ``(B, C, H, W) -> h_app (B, 2L, H, W)`` (means, pre-softplus scales)."""

    def __init__(self, cin: int, channels: int, latent: int, blocks: int):
        super().__init__()
        self.net = ResidualNet(cin, channels, 2 * latent, blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class LocationNet(nn.Module):
    """Residual inference network + 3-layer conv head: ``(B, C, H, W) -> h_loc (B, H, W)``.

    The head's output is multiplied by ``scale`` (gamma = 0.5 log D), so a
    unit output step changes location odds by a factor sqrt(D).
    """

    def __init__(self, cin: int, channels: int, head_channels: int, blocks: int, scale: float):
        super().__init__()
        self.body = ResidualNet(cin, channels, channels, blocks)
        self.head = nn.Sequential(nn.LeakyReLU(LEAK), conv(channels, head_channels), nn.LeakyReLU(LEAK),
                                  conv(head_channels, head_channels), nn.LeakyReLU(LEAK), conv(head_channels, 1))
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x)).squeeze(1) * self.scale


class SpriteDecoder(nn.Module):
    """``z (P, L) -> sprites (P, C, S, S)`` in (0, 1).

    FC to a coarse ``(channels, s0, s0)`` map, conv, bilinear upsampling to
    ``S x S``, z concatenated to every pixel, conv, 3 residual blocks, conv +
    sigmoid.
    """

    def __init__(self, latent: int, channels: int, size: int, cout: int, blocks: int = 3):
        super().__init__()
        self.size = size
        self.s0 = max(3, math.ceil(size / 4))
        self.channels = channels
        self.fc = nn.Sequential(nn.Linear(latent, channels * self.s0 * self.s0), nn.LeakyReLU(LEAK))
        self.conv_in = nn.Sequential(conv(channels, channels), nn.LeakyReLU(LEAK))
        self.merge = ConvBNAct(channels + latent, channels)
        self.res = nn.Sequential(*[ResidualBlock(channels) for _ in range(blocks)])
        self.out = conv(channels, cout)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        p = z.shape[0]
        h = self.conv_in(self.fc(z).view(p, self.channels, self.s0, self.s0))
        h = upsample(h, (self.size, self.size))
        h = torch.cat([h, z[:, :, None, None].expand(p, z.shape[1], self.size, self.size)], 1)
        return torch.sigmoid(self.out(self.res(self.merge(h))))


def _grid_kernel(height: int, width: int, grid: int) -> tuple[int, int, int, int]:
    """Sizes after two stride-2 convs and the valid kernel that brings them to ``grid``."""
    h2, w2 = (height + 1) // 2, (width + 1) // 2
    h4, w4 = (h2 + 1) // 2, (w2 + 1) // 2
    return h2, w2, h4 - grid + 1, w4 - grid + 1


class AuxVae(nn.Module):
    """Fully convolutional VAE with a ``(latent, grid, grid)`` latent map (LAVAE's warm-up helper).

    ``forward(x, generator) -> (neg_elbo (B,), kl_map (B, grid, grid))``: the
    Bernoulli negative ELBO of each image and the KL of each latent position
    (summed over its ``latent`` channels), nats.
    """

    def __init__(self, cin: int, height: int, width: int, channels: int, latent: int = 8, grid: int = 11):
        super().__init__()
        h2, w2, kh, kw = _grid_kernel(height, width, grid)
        if kh < 1 or kw < 1:
            raise ValueError(f"aux VAE: {height}x{width} images are too small for an {grid}x{grid} latent grid")
        self.sizes = ((h2, w2), (height, width))
        self.enc = nn.Sequential(ConvBNAct(cin, channels, 3, 2), ConvBNAct(channels, channels, 3, 2),
                                 nn.Conv2d(channels, 2 * latent, (kh, kw)))
        self.dec_in = nn.Sequential(nn.ConvTranspose2d(latent, channels, (kh, kw)), nn.BatchNorm2d(channels),
                                    nn.LeakyReLU(LEAK))
        self.dec_mid = ConvBNAct(channels, channels)
        self.dec_out = nn.Sequential(ConvBNAct(channels, channels), conv(channels, cin))

    def forward(self, x: torch.Tensor, generator: torch.Generator):
        mu, s = self.enc(x).chunk(2, 1)
        sigma = nn.functional.softplus(s) + 1e-4
        z = mu + sigma * torch.randn(mu.shape, generator=generator, device=mu.device)
        h = self.dec_mid(upsample(self.dec_in(z), self.sizes[0]))
        logits = self.dec_out(upsample(h, self.sizes[1]))
        nll = nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
        kl = (0.5 * (mu ** 2 + sigma ** 2 - 1.0) - torch.log(sigma)).sum(1)  # (B, grid, grid)
        return nll + kl.flatten(1).sum(1), kl


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
