"""Convolutional building blocks shared by the baselines.

All blocks keep the spatial size (``padding = kernel // 2``) unless they say
otherwise; tensors are ``(B, C, H, W)`` float32.
"""

from __future__ import annotations

import torch
from torch import nn

LEAK = 0.01  # LeakyReLU negative slope (PyTorch's default)


def conv(cin: int, cout: int, kernel: int = 3, stride: int = 1, bias: bool = True) -> nn.Conv2d:
    """A same-padded 2-D convolution."""
    return nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=bias)


class ConvBNAct(nn.Sequential):
    """conv -> BatchNorm -> LeakyReLU."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1):
        super().__init__(conv(cin, cout, kernel, stride, bias=False), nn.BatchNorm2d(cout),
                         nn.LeakyReLU(LEAK))


class ResidualBlock(nn.Module):
    """Two convolutions with BatchNorm and LeakyReLU and an identity skip.

    ``x -> conv-BN-LReLU -> conv-BN -> + x -> LReLU``; ``(B, C, H, W) -> (B, C, H, W)``.
    """

    def __init__(self, channels: int, kernel: int = 3):
        super().__init__()
        self.conv1 = conv(channels, channels, kernel, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = conv(channels, channels, kernel, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.act = nn.LeakyReLU(LEAK)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return self.act(x + h)


class ResidualNet(nn.Sequential):
    """A full-resolution residual network: stem conv, ``blocks`` residual blocks, output conv.

    ``(B, cin, H, W) -> (B, cout, H, W)``. The output conv has no activation.
    """

    def __init__(self, cin: int, channels: int, cout: int, blocks: int, kernel: int = 3):
        layers = [ConvBNAct(cin, channels, kernel)]
        layers += [ResidualBlock(channels, kernel) for _ in range(blocks)]
        layers.append(conv(channels, cout, kernel))
        super().__init__(*layers)


def upsample(x: torch.Tensor, size) -> torch.Tensor:
    """Bilinear resize of ``(B, C, h, w)`` to ``size`` (half-pixel centres)."""
    return nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False)
