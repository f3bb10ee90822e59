"""MulMON's networks: the viewpoint code and its encoder, the projector, and the refinement network.

The decoder is the shared :class:`~scenebench.baselines.common.slots.SpatialBroadcastDecoder`.
Layouts follow the official implementation (NanboLi/MulMON, as the team's
reference notes describe it; see :mod:`.config`).
"""

from __future__ import annotations

import torch
from torch import nn

LAYER_NORM_EPS = 1e-5


def viewpoint(position: torch.Tensor) -> torch.Tensor:
    """MulMON's raw viewpoint ``(..., 3)`` from camera positions ``(..., 3)`` (world, z up, scene centre at 0).

    z is dropped, (x, y) scaled to unit length, and (1, 0, 0) subtracted:
    a camera at azimuth ``a`` gives ``(cos a - 1, sin a, 0)`` whatever its
    elevation and distance.
    """
    xy = position[..., :2]
    xy = xy / xy.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    return torch.cat([xy[..., :1] - 1.0, xy[..., 1:], torch.zeros_like(xy[..., :1])], -1)


def layer_norm(x: torch.Tensor, dims: int) -> torch.Tensor:
    """Parameter-free layer norm over the last ``dims`` axes: ``(x - mean) / (std + eps)`` (unbiased std)."""
    axes = tuple(range(-dims, 0))
    mean = x.mean(axes, keepdim=True)
    return (x - mean) / (x.std(axes, keepdim=True) + LAYER_NORM_EPS)


class ViewEncoder(nn.Sequential):
    """Raw viewpoint ``(N, 3)`` -> view code ``(N, view_dim)``: Linear -> ReLU -> Linear."""

    def __init__(self, hidden: int, view_dim: int):
        super().__init__(nn.Linear(3, hidden), nn.ReLU(), nn.Linear(hidden, view_dim))


class Projector(nn.Sequential):
    """``concat(z, v) (N, D + view_dim) -> z_y (N, D)``, the view-specific slot code the decoder reads."""

    def __init__(self, latent_dim: int, view_dim: int, hidden: int):
        super().__init__(nn.Linear(latent_dim + view_dim, hidden), nn.ReLU(), nn.Linear(hidden, latent_dim))


def valid_stride2_size(size: int, layers: int) -> int:
    """Side after ``layers`` unpadded 3x3 stride-2 convs (64 -> 31 -> 15 -> 7 -> 3); < 1 if too small."""
    for _ in range(layers):
        size = (size - 3) // 2 + 1 if size >= 3 else 0
    return size


def refinement_channels(image_channels: int) -> int:
    """Spatial input channels per slot: image, means, masks, logits, d means, d masks, col_lik, lik, loo, coords."""
    return 3 * image_channels + 8  # 17 for RGB


class RefineNetLSTM(nn.Module):
    """One refinement step for every slot: ``(spatial (N, Cin, H, W), vector (N, 4 D), state) -> (delta, state)``.

    Convs (3x3, stride 2, no padding, ReLU) -> flatten -> Linear -> ReLU ->
    Linear(features) -> LSTMCell on [features, vector] -> Linear(2 D).
    ``vector`` is ``[lambda, layer-normed dL/d lambda]``; ``delta`` is added
    to ``lambda`` by the caller. ``state`` is ``None`` (zeros) or ``(h, c)``.
    """

    def __init__(self, cin: int, height: int, width: int, channels, hidden: int, features: int, lstm_hidden: int,
                 latent_dim: int):
        super().__init__()
        n = len(channels)
        oh, ow = valid_stride2_size(height, n), valid_stride2_size(width, n)
        if oh < 1 or ow < 1:
            raise ValueError(f"{n} unpadded stride-2 convs need images of at least {2 ** (n + 1) - 1} pixels a side, "
                             f"got {height}x{width}")
        layers: list[nn.Module] = []
        prev = cin
        for w in channels:
            layers += [nn.Conv2d(prev, int(w), 3, stride=2), nn.ReLU()]
            prev = int(w)
        self.convs = nn.Sequential(*layers)
        self.mlp = nn.Sequential(nn.Linear(prev * oh * ow, hidden), nn.ReLU(), nn.Linear(hidden, features))
        self.lstm = nn.LSTMCell(features + 4 * latent_dim, lstm_hidden)
        self.head = nn.Linear(lstm_hidden, 2 * latent_dim)

    def forward(self, spatial: torch.Tensor, vector: torch.Tensor, state=None):
        h = self.mlp(self.convs(spatial).flatten(1))
        h, c = self.lstm(torch.cat([h, vector], 1), state)
        return self.head(h), (h, c)


__all__ = ["Projector", "RefineNetLSTM", "ViewEncoder", "layer_norm", "refinement_channels", "valid_stride2_size",
           "viewpoint"]
