"""The LAVAE paper's baseline: a fully convolutional beta-VAE with a Bernoulli likelihood.

``x (B, C, 64, 64) -> q(z | x)``: ``z`` is a ``(16, 8, 8)`` map (1024 dims),
``N(mu, sigma^2)`` per entry; ``p(z) = N(0, I)``; ``p(x | z)`` Bernoulli with
logits from a convolutional decoder. Trained on ``recon + beta * KL`` with
beta annealed linearly 0 -> 1 (over 100k steps in ``paper``); evaluated with
the true ELBO (beta = 1) and importance weights. The harness methods run in
eval mode whatever mode the caller left the model in (:mod:`.modes`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from scenebench.errors import ConfigError

from ..common.interface import Baseline, scalar
from ..common.schedules import linear
from . import PAPER
from .config import BETA_VAE_CONFIGS, BetaVaeConfig
from ..common.modes import evaluation
from .networks import ConvDecoder, ConvEncoder


class ConvBetaVae(Baseline):
    name = "conv-beta-vae"
    display_name = "conv β-VAE (LAVAE baseline)"
    description = "LAVAE's baseline: fully convolutional beta-VAE (16x8x8 latents, Bernoulli)"
    paper = PAPER
    Config = BetaVaeConfig
    CONFIGS = BETA_VAE_CONFIGS

    def __init__(self, config: BetaVaeConfig, info):
        super().__init__(config, info)
        c, h, w = info.channels, info.height, info.width
        ratio = h // config.latent_size
        if h != w or h % config.latent_size or ratio & (ratio - 1):
            raise ConfigError(f"conv-beta-vae needs square images whose size is latent_size * 2^k; "
                              f"got {h}x{w} with latent_size={config.latent_size}")
        k = ratio.bit_length() - 1
        sizes = [config.latent_size * 2 ** (i + 1) for i in range(k)]
        self.encoder = ConvEncoder(c, config.channels, config.latent_channels, k, config.blocks)
        self.decoder = ConvDecoder(config.latent_channels, config.channels, c, [(s, s) for s in sizes],
                                   config.blocks)

    def encode(self, x: torch.Tensor):
        """``mu, sigma`` ``(B, latent_channels, latent_size, latent_size)``."""
        mu, s = self.encoder(x).chunk(2, 1)
        return mu, F.softplus(s) + 1e-4

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``log p(x | z)`` per image, float64 ``(B,)``."""
        logits = self.decoder(z).double()
        return -F.binary_cross_entropy_with_logits(logits, x.double(), reduction="none").flatten(1).sum(1)

    def training_loss(self, x: torch.Tensor, step: int, generator: torch.Generator):
        cfg = self.config
        mu, sigma = self.encode(x)
        z = mu + sigma * torch.randn(mu.shape, generator=generator, device=x.device)
        log_px = self.log_likelihood(x, z)
        kl = (0.5 * (mu ** 2 + sigma ** 2 - 1.0) - torch.log(sigma)).flatten(1).sum(1).double()
        beta = linear(step, cfg.beta_start, cfg.beta_end, cfg.beta_steps)
        loss = (-log_px + beta * kl).mean().float()
        return loss, {"neg_elbo": scalar((kl - log_px).mean()), "recon": scalar(-log_px.mean()),
                      "kl": scalar(kl.mean()), "beta": beta}

    @evaluation
    def log_weights(self, x: torch.Tensor, num_samples: int, *, generator=None) -> torch.Tensor:
        """float64 ``(B, S)``: ``log p(x | z) + log p(z) - log q(z | x)``, ``z ~ q(z | x)``."""
        generator = self._generator(generator)
        mu, sigma = self.encode(x)
        b = x.shape[0]
        out = []
        for s0 in range(0, num_samples, self.config.sample_chunk):
            s = min(self.config.sample_chunk, num_samples - s0)
            eps = torch.randn((b, s) + mu.shape[1:], generator=generator, device=x.device)
            z = mu[:, None] + sigma[:, None] * eps
            log_ratio = (0.5 * eps ** 2 - 0.5 * z ** 2 + torch.log(sigma)[:, None]).flatten(2).sum(2).double()
            xs = x[:, None].expand(b, s, *x.shape[1:]).reshape(b * s, *x.shape[1:])
            out.append(log_ratio + self.log_likelihood(xs, z.reshape(b * s, *mu.shape[1:])).view(b, s))
        return torch.cat(out, 1)

    @evaluation
    def elbo(self, x: torch.Tensor, *, num_samples: int = 1, generator=None) -> torch.Tensor:
        return self.log_weights(x, num_samples, generator=generator).mean(1)

    @evaluation
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """float32 ``(B, C, H, W)``: Bernoulli means decoded from the posterior mean."""
        return torch.sigmoid(self.decoder(self.encode(x)[0]))
