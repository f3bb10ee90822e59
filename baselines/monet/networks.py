"""MONet's networks: the attention U-Net with its scope recursion, and the component VAE encoder.

The decoder is the shared :class:`~scenebench.baselines.common.slots.SpatialBroadcastDecoder`.
Layouts follow Burgess et al. (2019, Appendix B) and, where the paper gives
no value, the genesis re-implementation (GN; see :mod:`.config`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvINReLU(nn.Sequential):
    """3x3 conv (stride 1, padding 1, no bias) -> InstanceNorm (affine) -> ReLU."""

    def __init__(self, cin: int, cout: int):
        super().__init__(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.InstanceNorm2d(cout, affine=True),
                         nn.ReLU())


def unet_widths(blocks: int, c: int) -> tuple[list[int], list[int]]:
    """Output widths of the down and up blocks: GN's layout, ``c`` in the outer blocks, ``2c`` in the deepest three.

    5 blocks, c = 32: down 32, 32, 64, 64, 64; up 64, 64, 32, 32, 32.
    """
    down = [c] * max(blocks - 3, 0) + [2 * c] * min(blocks, 3)
    up = [2 * c] * min(blocks, 2) + [c] * max(blocks - 2, 0)
    return down, up


class UNet(nn.Module):
    """``(B, cin, H, W) -> (B, cout, H, W)``.

    ``blocks`` conv-IN-ReLU blocks down (nearest x0.5 after each but the
    last), a 3-layer MLP bottleneck on the flattened deepest map (ReLU after
    every layer), ``blocks`` blocks up, each on the concatenation of the
    current map and the matching skip (nearest x2 after each but the last),
    and a 1x1 conv. ``H`` and ``W`` must be divisible by ``2^(blocks - 1)``.
    """

    def __init__(self, cin: int, cout: int, height: int, width: int, blocks: int, channels: int, mlp_hidden: int):
        super().__init__()
        scale = 2 ** (blocks - 1)
        if blocks < 1 or height % scale or width % scale:
            raise ValueError(f"a {blocks}-block U-Net needs image sides divisible by {scale}, got {height}x{width}")
        down, up = unet_widths(blocks, channels)
        self.down = nn.ModuleList()
        prev = cin
        for w in down:
            self.down.append(ConvINReLU(prev, w))
            prev = w
        self.deep = (down[-1], height // scale, width // scale)
        flat = down[-1] * self.deep[1] * self.deep[2]
        self.mlp = nn.Sequential(nn.Linear(flat, mlp_hidden), nn.ReLU(), nn.Linear(mlp_hidden, mlp_hidden), nn.ReLU(),
                                 nn.Linear(mlp_hidden, flat), nn.ReLU())
        self.up = nn.ModuleList()
        for i, w in enumerate(up):
            self.up.append(ConvINReLU(prev + down[-1 - i], w))
            prev = w
        self.out = nn.Conv2d(prev, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        h = x
        for i, block in enumerate(self.down):
            h = block(h)
            skips.append(h)
            if i < len(self.down) - 1:
                h = F.interpolate(h, size=(h.shape[2] // 2, h.shape[3] // 2), mode="nearest")
        h = self.mlp(h.flatten(1)).view(len(x), *self.deep)
        for i, block in enumerate(self.up):
            h = block(torch.cat([h, skips[-1 - i]], 1))
            if i < len(self.up) - 1:
                h = F.interpolate(h, size=(h.shape[2] * 2, h.shape[3] * 2), mode="nearest")
        return self.out(h)


class AttentionNet(nn.Module):
    """MONet's recurrent attention: K log-masks from the scope recursion, ``(B, C, H, W) -> (B, K, H, W)``.

    ``log s_0 = 0``; for ``k < K - 1``: ``a = UNet(x, log s_k)``,
    ``log m_k = log s_k + log sigmoid(a)``, ``log s_{k+1} = log s_k + log sigmoid(-a)``;
    the last slot takes the remaining scope, ``log m_{K-1} = log s_{K-1}``.
    The masks sum to 1 at every pixel; slot 0 is the first attended region.
    """

    def __init__(self, channels: int, height: int, width: int, num_slots: int, blocks: int, width_c: int,
                 mlp_hidden: int):
        super().__init__()
        self.num_slots = num_slots
        self.unet = UNet(channels + 1, 1, height, width, blocks, width_c, mlp_hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        log_scope = x.new_zeros((x.shape[0], 1) + x.shape[2:])
        log_masks = []
        for _ in range(self.num_slots - 1):
            a = self.unet(torch.cat([x, log_scope], 1))
            log_masks.append(log_scope + F.logsigmoid(a))
            log_scope = log_scope + F.logsigmoid(-a)
        log_masks.append(log_scope)
        return torch.cat(log_masks, 1)


def conv_output_size(size: int, layers: int) -> int:
    """Side after ``layers`` 3x3 stride-2 convs with padding 1."""
    for _ in range(layers):
        size = (size - 1) // 2 + 1
    return size


class ComponentEncoder(nn.Module):
    """``(image, log-mask) (N, C + 1, H, W) -> (mu, log sigma)``, each ``(N, D)``.

    3x3 stride-2 convs (padding 1) with ReLU, flatten, Linear -> ReLU -> Linear(2 D).
    """

    def __init__(self, cin: int, height: int, width: int, channels, hidden: int, latent_dim: int):
        super().__init__()
        layers: list[nn.Module] = []
        prev = cin
        for w in channels:
            layers += [nn.Conv2d(prev, int(w), 3, stride=2, padding=1), nn.ReLU()]
            prev = int(w)
        self.convs = nn.Sequential(*layers)
        n = len(channels)
        flat = prev * conv_output_size(height, n) * conv_output_size(width, n)
        self.mlp = nn.Sequential(nn.Linear(flat, hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent_dim))

    def forward(self, x: torch.Tensor):
        mu, log_sigma = self.mlp(self.convs(x).flatten(1)).chunk(2, 1)
        return mu, log_sigma
