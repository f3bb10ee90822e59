"""Shared parts of the slot-based mixture models (MONet; IODINE and MulMON build on them).

* :class:`SpatialBroadcastDecoder` -- one slot latent ``z`` tiled over the
  image (plus coordinate channels), a stack of convs, RGB means and a mask
  logit per pixel (Watters et al. 2019; the MONet/MulMON layout by default).
* :func:`component_log_prob`, :func:`mixture_log_prob` -- the per-pixel
  Gaussian mixture likelihood ``log sum_k pi_k N(x; mu_k, sigma_k^2)``,
  mixing each colour channel separately (``"channel"``, as MulMON and every
  MONet port do) or the joint RGB pixel (``"pixel"``, as official IODINE).
  Both are normalised densities of ``x`` (the per-channel one is a product of
  one-dimensional mixtures), so either gives exact log-likelihoods.
* :func:`kl_std_normal`, :func:`log_ratio_std_normal` -- diagonal Gaussian
  posteriors against an ``N(0, I)`` prior; :func:`kl_normal_prior`,
  :func:`log_ratio_normal_prior` -- the same against ``N(0, s^2 I)`` for any
  prior scale ``s`` (official IODINE's prior has ``s = sqrt(ln 2)``).

Shapes: images ``(B, C, H, W)``; per-slot tensors carry the slot axis right
after the batch axis, ``(B, K, ...)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

MIXTURES = ("channel", "pixel")
HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)

_ACTIVATIONS = {"relu": nn.ReLU, "elu": nn.ELU}


def coordinate_grid(height: int, width: int) -> torch.Tensor:
    """``(2, H, W)``: row then column coordinate, each linearly spaced in [-1, 1]."""
    ys = torch.linspace(-1.0, 1.0, height)
    xs = torch.linspace(-1.0, 1.0, width)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([yy, xx])


class SpatialBroadcastDecoder(nn.Module):
    """``z (N, D) -> (N, out_channels, H, W)``.

    ``z`` is tiled over a grid, two coordinate channels in [-1, 1] are
    appended, then ``layers`` convs (``kernel`` x ``kernel``, ``channels``
    wide, activation after each) and a final ``final_kernel`` conv to
    ``out_channels`` with no activation. ``padding="valid"`` broadcasts to
    ``(H + L (kernel - 1), W + L (kernel - 1))`` and uses unpadded convs (MONet,
    MulMON: 72x72 for 64x64 images with 4 3x3 layers); ``"same"`` broadcasts to
    ``(H, W)`` with padded convs (official IODINE).
    """

    def __init__(self, latent_dim: int, out_channels: int, height: int, width: int, *, channels: int = 32,
                 layers: int = 4, kernel: int = 3, final_kernel: int = 1, padding: str = "valid",
                 activation: str = "relu"):
        super().__init__()
        if padding not in ("valid", "same"):
            raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(_ACTIVATIONS)}, got {activation!r}")
        if kernel % 2 == 0 or final_kernel % 2 == 0:
            raise ValueError("decoder kernels must be odd")
        self.height, self.width = height, width
        grow = layers * (kernel - 1) + (final_kernel - 1) if padding == "valid" else 0
        self.grid_size = (height + grow, width + grow)
        self.register_buffer("coords", coordinate_grid(*self.grid_size), persistent=False)
        pad = kernel // 2 if padding == "same" else 0
        mods: list[nn.Module] = []
        cin = latent_dim + 2
        for _ in range(layers):
            mods += [nn.Conv2d(cin, channels, kernel, padding=pad), _ACTIVATIONS[activation]()]
            cin = channels
        mods.append(nn.Conv2d(cin, out_channels, final_kernel,
                              padding=final_kernel // 2 if padding == "same" else 0))
        self.net = nn.Sequential(*mods)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        n, d = z.shape
        gh, gw = self.grid_size
        tiled = z[:, :, None, None].expand(n, d, gh, gw)
        coords = self.coords.to(z.dtype)[None].expand(n, 2, gh, gw)
        return self.net(torch.cat([tiled, coords], 1))


def decode_slots(decoder: nn.Module, z: torch.Tensor, rgb_sigmoid: bool = False):
    """``z (..., K, D)`` through a per-slot decoder with ``C + 1`` outputs -> RGB means ``(..., K, C, H, W)``
    (sigmoid applied if ``rgb_sigmoid``) and mask logits ``(..., K, H, W)`` (the last output channel)."""
    lead = z.shape[:-1]
    out = decoder(z.reshape(-1, z.shape[-1]))
    means, logits = out[:, :-1], out[:, -1]
    if rgb_sigmoid:
        means = torch.sigmoid(means)
    return means.reshape(*lead, *means.shape[1:]), logits.reshape(*lead, *logits.shape[1:])


# --------------------------------------------------------------------------- likelihood
def component_log_prob(x: torch.Tensor, means: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """``log N(x_c; mu_kc, sigma_k^2)`` per slot, channel and pixel.

    ``x (B, C, H, W)``, ``means (B, K, C, H, W)``, ``sigma (K,)`` (one scale
    per slot) -> ``(B, K, C, H, W)``.
    """
    s = sigma.to(means.dtype).view(1, -1, 1, 1, 1)
    return -0.5 * ((x[:, None] - means) / s).square() - torch.log(s) - HALF_LOG_2PI


def mixture_log_prob(comp: torch.Tensor, log_mix: torch.Tensor, mixture: str = "channel") -> torch.Tensor:
    """Per-pixel mixture log-likelihood ``(B, H, W)`` from ``component_log_prob`` output and log mixing weights.

    ``log_mix (B, K, H, W)``: log-probabilities over the K slots at each
    pixel (log-masks). ``"channel"``: ``sum_c log sum_k pi_k N(x_c | k)``;
    ``"pixel"``: ``log sum_k pi_k prod_c N(x_c | k)``.
    """
    if mixture == "channel":
        return torch.logsumexp(log_mix[:, :, None] + comp, 1).sum(1)
    if mixture == "pixel":
        return torch.logsumexp(log_mix + comp.sum(2), 1)
    raise ValueError(f"mixture must be one of {', '.join(MIXTURES)}, got {mixture!r}")


def image_sum(per_pixel: torch.Tensor) -> torch.Tensor:
    """Sum over every non-batch axis, in float64: ``(B, ...) -> (B,)``."""
    return per_pixel.double().flatten(1).sum(1)


# --------------------------------------------------------------------------- Gaussian latents
def kl_std_normal(mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Elementwise ``KL(N(mu, sigma^2) || N(0, 1))``."""
    return 0.5 * (mu.square() + sigma.square() - 1.0) - torch.log(sigma)


def log_ratio_std_normal(z: torch.Tensor, eps: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Elementwise ``log N(z; 0, 1) - log N(z; mu, sigma^2)`` for ``z = mu + sigma * eps`` (the 2 pi terms cancel)."""
    return 0.5 * eps.square() - 0.5 * z.square() + torch.log(sigma)


def kl_normal_prior(mu: torch.Tensor, sigma: torch.Tensor, prior_scale: float = 1.0) -> torch.Tensor:
    """Elementwise ``KL(N(mu, sigma^2) || N(0, s^2))`` with ``s = prior_scale`` (> 0); ``s = 1`` is :func:`kl_std_normal`."""
    s = float(prior_scale)
    if not s > 0:
        raise ValueError(f"prior_scale must be > 0, got {prior_scale}")
    return 0.5 * (mu.square() + sigma.square()) / (s * s) - 0.5 - torch.log(sigma) + math.log(s)


def log_ratio_normal_prior(z: torch.Tensor, eps: torch.Tensor, sigma: torch.Tensor,
                           prior_scale: float = 1.0) -> torch.Tensor:
    """Elementwise ``log N(z; 0, s^2) - log N(z; mu, sigma^2)`` for ``z = mu + sigma * eps``, ``s = prior_scale`` (> 0).

    ``s = 1`` is :func:`log_ratio_std_normal`; the 2 pi terms cancel.
    """
    s = float(prior_scale)
    if not s > 0:
        raise ValueError(f"prior_scale must be > 0, got {prior_scale}")
    return 0.5 * eps.square() - 0.5 * z.square() / (s * s) + torch.log(sigma) - math.log(s)


def log_softmax_slots(logits: torch.Tensor) -> torch.Tensor:
    """Log mixing weights from per-slot mask logits ``(B, K, H, W)`` (softmax over K)."""
    return F.log_softmax(logits, 1)
