"""IODINE's refinement network, the layer norm of its inputs, and its decoder.

The decoder is the shared :class:`~scenebench.baselines.common.slots.SpatialBroadcastDecoder`
(same parameters, same output), with a cheaper first layer (:class:`BroadcastDecoder`).
The layout is the official IODINE's (DM; see :mod:`.config`) -- CNN, global
pooling, MLP, LSTM, one linear head whose output is added to the posterior
parameters -- at widths for 64x64 images and latent 16.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..common.slots import SpatialBroadcastDecoder

ACTIVATIONS = {"elu": nn.ELU, "relu": nn.ReLU}


class BroadcastDecoder(SpatialBroadcastDecoder):
    """The shared spatial-broadcast decoder, with its first conv computed without tiling ``z`` (unpadded convs).

    With ``padding="valid"`` every output of the first conv sees ``z`` at all
    its taps, so that conv is ``conv(coordinates) + (sum over taps of W_z) z +
    b``: one conv of the two coordinate channels shared by every row, plus a
    matrix product. Same parameters and (to float rounding) the same output as
    :class:`~scenebench.baselines.common.slots.SpatialBroadcastDecoder`; it
    matters because IODINE decodes, and back-propagates through the decoder,
    about a dozen times per step, and the tiled first layer was a quarter of
    the paper config's step time on a CPU. ``"same"`` padding (zeros around
    the tiled ``z``) takes the shared, tiled path.
    """

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        first = self.net[0]
        if first.padding != (0, 0):
            return super().forward(z)
        d = z.shape[1]
        weight = first.weight
        base = F.conv2d(self.coords.to(z.dtype)[None], weight[:, d:], first.bias)  # (1, out, h', w')
        h = base + (z @ weight[:, :d].sum((2, 3)).t())[:, :, None, None]
        return self.net[1:](h)


class SampleNorm(nn.Module):
    """Layer norm over every non-batch element of ``(N, C, ...)``, with an optional per-channel scale and offset.

    What DM's Sonnet LayerNorm does to a slot's ``(H*W, C)`` input (moments
    over all of it, learnable ``C`` scales and offsets): ``F.group_norm``
    with one group. ``affine=False`` is ZL's / MulMON's parameter-free norm.
    """

    def __init__(self, channels: int, affine: bool = True, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        if affine:
            self.weight = nn.Parameter(torch.ones(channels))
            self.bias = nn.Parameter(torch.zeros(channels))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.group_norm(x, 1, self.weight, self.bias, self.eps)


def conv_output_size(size: int, layers: int) -> int:
    """Side after ``layers`` 3x3 stride-2 convs with padding 1."""
    for _ in range(layers):
        size = (size - 1) // 2 + 1
    return size


class RefinementNetwork(nn.Module):
    """One refinement step for every slot: ``(spatial (N, cin, H, W), flat (N, F), state) -> (delta (N, out), state)``.

    ``N = B K`` rows (one per slot). 3x3 stride-2 convs (padding 1) with the
    activation after each, a global mean over the map (``pool="mean"``, DM) or
    its flattening (``"flatten"``), an MLP (activation between layers, the last
    linear), then an LSTM cell on ``[mlp output, flat]`` and a linear head to
    the posterior-parameter update. ``state=None`` starts the LSTM from zeros.
    The input layer norms (``norms``) live here too, so the whole refinement
    is one module.
    """

    def __init__(self, cin: int, flat_dim: int, out_dim: int, height: int, width: int, *, channels, mlp,
                 lstm_hidden: int, pool: str = "mean", activation: str = "elu"):
        super().__init__()
        act = ACTIVATIONS[activation]
        layers: list[nn.Module] = []
        prev = cin
        for w in channels:
            layers += [nn.Conv2d(prev, int(w), 3, stride=2, padding=1), act()]
            prev = int(w)
        self.convs = nn.Sequential(*layers)
        self.pool = pool
        if pool == "flatten":
            n = len(channels)
            prev = prev * conv_output_size(height, n) * conv_output_size(width, n)
        mods: list[nn.Module] = []
        for i, w in enumerate(mlp):
            if i:
                mods.append(act())
            mods.append(nn.Linear(prev, int(w)))
            prev = int(w)
        self.mlp = nn.Sequential(*mods)
        self.lstm = nn.LSTMCell(prev + flat_dim, lstm_hidden)
        self.head = nn.Linear(lstm_hidden, out_dim)

    def forward(self, spatial: torch.Tensor, flat: torch.Tensor, state=None):
        h = self.convs(spatial)
        h = h.mean((2, 3)) if self.pool == "mean" else h.flatten(1)
        h = self.mlp(h)
        hidden, cell = self.lstm(torch.cat([h, flat], 1), state)
        return self.head(hidden), (hidden, cell)


class InputNorms(nn.Module):
    """The layer norms of the stop-gradient refinement inputs (DM's defaults), one each.

    ``dmeans`` (C channels), ``dmask`` (1), ``counterfactual`` (1) per slot
    ``(B K, ., H, W)``; ``log_prob`` (1) per image ``(B, 1, H, W)``; ``dzp``
    per slot ``(B K, 2 D)``.
    """

    def __init__(self, channels: int, zp_dim: int, affine: bool = True):
        super().__init__()
        self.dmeans = SampleNorm(channels, affine)
        self.dmask = SampleNorm(1, affine)
        self.counterfactual = SampleNorm(1, affine)
        self.log_prob = SampleNorm(1, affine)
        self.dzp = SampleNorm(zp_dim, affine)
