"""The supplement's MLPs: Gaussian encoders with separate mu / sigma^2 towers, and decoders.

Encoder (paper): for MNIST ``D -> 128 -> 64 -> d`` per head, LeakyReLU(0.1),
mu linear and sigma^2 softplus. The two heads are separate towers that share
nothing, as in the authors' code (``mlp_encoder``). Decoder: ``d -> 64 -> 64
-> D`` with a sigmoid (Bernoulli) or linear (Gaussian) output, applied by the
model. No BatchNorm (the authors' code opens each tower with one; the
supplement's tables list none).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def mlp(sizes, slope: float) -> nn.Sequential:
    """Linear layers ``sizes[0] -> ... -> sizes[-1]`` with LeakyReLU between them (none after the last)."""
    layers: list = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.LeakyReLU(slope))
    return nn.Sequential(*layers)


class GaussianEncoder(nn.Module):
    """``x (B, ...) -> mu, sigma^2`` ``(B, d)`` from two towers of the same widths."""

    def __init__(self, in_dim: int, widths, latent_dim: int, slope: float = 0.1, floor: float = 1e-6):
        super().__init__()
        sizes = [in_dim, *widths, latent_dim]
        self.mu = mlp(sizes, slope)
        self.var = mlp(sizes, slope)
        self.floor = floor

    def forward(self, x: torch.Tensor):
        h = x.flatten(1)
        return self.mu(h), F.softplus(self.var(h)) + self.floor


class Decoder(nn.Module):
    """``z (B, d) -> (B, out_dim)`` pre-activation (the model applies the sigmoid or nothing)."""

    def __init__(self, latent_dim: int, widths, out_dim: int, slope: float = 0.1):
        super().__init__()
        self.net = mlp([latent_dim, *widths, out_dim], slope)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)

    @property
    def last(self) -> nn.Linear:
        return self.net[-1]
