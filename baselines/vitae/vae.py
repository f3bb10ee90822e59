"""The VITAE paper's comparison models: VAE, beta-VAE, beta-TCVAE and DIP-VAE-II (the supplement's MLPs).

One encoder ``q(z | x) = N(mu, diag sigma^2)``, prior ``N(0, I)``, one
decoder: Bernoulli pixels (means = sigmoid, clamped to [eps, 1 - eps]) or
Gaussian pixels with fixed sigma^2 (``pixel_variance``). Training minimises
(``w = min(step / warmup_steps, 1)``, the KL warm-up; KL analytic)

* ``vae``:         ``-E log p(x|z) + w KL``                       (beta = 1)
* ``beta-vae``:    ``-E log p(x|z) + w beta KL``                  (Higgins et al. 2017)
* ``beta-tcvae``:  ``-E log p(x|z) + w (KL + (beta - 1) TC)``     (Chen et al. 2018, alpha = gamma = 1; TC by
  minibatch-weighted sampling)
* ``dip-vae-ii``:  ``-E log p(x|z) + w KL + lambda_od sum_{i!=j} C_ij^2 + lambda_d sum_i (C_ii - 1)^2``,
  ``C = E_x[diag sigma^2(x)] + Cov_x[mu(x)]`` (Kumar et al. 2018; population covariance over the batch; the
  penalty is not warmed up, assumed).

The harness methods score the plain model: ``log_weights`` is exactly
``log p(x | z) + log p(z) - log q(z | x)`` (no beta, no warm-up weight, no
penalty), so ``iw_nll`` is a true bound on ``-log p(x)``; ``elbo`` is the mean
of the weights. They run in eval mode (:mod:`..common.modes`).
"""

from __future__ import annotations

import math

import torch

from ..common.interface import Baseline, scalar
from ..common.modes import evaluation
from ..common.schedules import linear
from .config import BETA_TCVAE_CONFIGS, BETA_VAE_CONFIGS, DIP_VAE_CONFIGS, VAE_CONFIGS, VaeConfig
from .networks import Decoder, GaussianEncoder

PAPER = "Skafte Detlefsen & Hauberg 2019, NeurIPS (arXiv:1906.11881), supplement"
LOG_2PI = math.log(2 * math.pi)


# ----------------------------------------------------------------------------- densities and penalties
def log_normal(z: torch.Tensor, mu: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """Elementwise ``log N(z; mu, var)``."""
    return -0.5 * (LOG_2PI + torch.log(var) + (z - mu) ** 2 / var)


def log_std_normal(z: torch.Tensor) -> torch.Tensor:
    return -0.5 * (LOG_2PI + z ** 2)


def kl_std_normal(mu: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, diag var) || N(0, I))`` summed over the last axis."""
    return 0.5 * (mu ** 2 + var - 1.0 - torch.log(var)).sum(-1)


def total_correlation(z: torch.Tensor, mu: torch.Tensor, var: torch.Tensor, dataset_size: int) -> torch.Tensor:
    """Minibatch-weighted-sampling TC estimate per sample ``(B,)`` (Chen et al. 2018, eq. S6).

    ``log q(z_i) ~= logsumexp_j log q(z_i | x_j) - log(N M)`` and the same per
    dimension for the marginals; ``TC_i = log q(z_i) - sum_k log q(z_ik)``.
    """
    b, d = z.shape
    pair = log_normal(z[:, None, :], mu[None], var[None])  # (i, j, k): log q(z_ik | x_j)
    log_nm = math.log(dataset_size * b)
    log_qz = torch.logsumexp(pair.sum(2), 1) - log_nm
    log_marginals = (torch.logsumexp(pair, 1) - log_nm).sum(1)
    return log_qz - log_marginals


def dip_covariance(mu: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """``Cov_q(z) = E_x[diag var(x)] + Cov_x[mu(x)]`` ``(d, d)`` over the batch (population covariance)."""
    centred = mu - mu.mean(0, keepdim=True)
    return torch.diag(var.mean(0)) + centred.T @ centred / mu.shape[0]


def dip_ii_penalty(mu: torch.Tensor, var: torch.Tensor, lambda_od: float, lambda_d: float) -> torch.Tensor:
    """DIP-VAE-II regulariser ``lambda_od sum_{i != j} C_ij^2 + lambda_d sum_i (C_ii - 1)^2`` (a scalar)."""
    cov = dip_covariance(mu, var)
    diag = torch.diagonal(cov)
    off = cov - torch.diag(diag)
    return lambda_od * (off ** 2).sum() + lambda_d * ((diag - 1.0) ** 2).sum()


def log_likelihood(x: torch.Tensor, mean: torch.Tensor, cfg) -> torch.Tensor:
    """``log p(x | mean)`` per image, float64 ``(B,)``; ``mean``: Bernoulli means or Gaussian means."""
    x, mean = x.double().flatten(1), mean.double().flatten(1)
    if cfg.likelihood == "bernoulli":
        p = mean.clamp(cfg.likelihood_eps, 1.0 - cfg.likelihood_eps)
        return (x * torch.log(p) + (1.0 - x) * torch.log1p(-p)).sum(1)
    v = cfg.pixel_variance
    return (-0.5 * ((x - mean) ** 2 / v + math.log(2 * math.pi * v))).sum(1)


def warmup_weight(step: int, cfg) -> float:
    return linear(step, 0.0, 1.0, cfg.warmup_steps) if cfg.warmup_steps > 0 else 1.0


def traversal_values(steps: int = 7, span: float = 3.0) -> torch.Tensor:
    return torch.linspace(-span, span, steps)


# ----------------------------------------------------------------------------- models
class Vae(Baseline):
    """VAE with the supplement's MLPs (``beta`` = 1 in its configs)."""

    name = "vae"
    display_name = "VAE (VITAE baseline)"
    description = "VITAE's VAE: MLP encoder/decoder, d = 4, KL warm-up"
    paper = PAPER
    Config = VaeConfig
    CONFIGS = VAE_CONFIGS
    beta_weights_kl = True  # beta multiplies the KL (beta-TCVAE: beta weights the TC instead)

    def __init__(self, config: VaeConfig, info):
        super().__init__(config, info)
        dim = info.channels * info.height * info.width
        self.encoder = GaussianEncoder(dim, config.encoder_widths, config.latent_dim, config.leaky_slope,
                                       config.variance_floor)
        self.decoder = Decoder(config.latent_dim, config.decoder_widths, dim, config.leaky_slope)

    def make_optimizer(self, groups) -> torch.optim.Optimizer:
        return torch.optim.Adam([{"params": p, "lr": f(0)} for p, f in groups])  # paper: Adam, fixed lr

    # ------------------------------------------------------------------ pieces
    def encode(self, x: torch.Tensor):
        """``mu, sigma^2`` ``(B, d)``."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Pixel means ``(B, C, H, W)`` (Bernoulli probabilities, or Gaussian means)."""
        out = self.decoder(z).view(-1, self.info.channels, self.info.height, self.info.width)
        return torch.sigmoid(out) if self.config.likelihood == "bernoulli" else out

    def penalty(self, z, mu, var, weight: float):
        """Extra training term beyond ``w beta KL`` and its metrics (none for the VAE and beta-VAE)."""
        return None, {}

    def training_loss(self, x: torch.Tensor, step: int, generator: torch.Generator):
        cfg = self.config
        mu, var = self.encode(x)
        z = mu + var.sqrt() * torch.randn(mu.shape, generator=generator, device=x.device)
        log_px = log_likelihood(x, self.decode(z), cfg)
        kl = kl_std_normal(mu, var).double()
        w = warmup_weight(step, cfg)
        extra, metrics = self.penalty(z, mu, var, w)
        kl_weight = w * cfg.beta if self.beta_weights_kl else w
        loss = (-log_px + kl_weight * kl).mean()
        if extra is not None:
            loss = loss + extra
        return loss.float(), {"neg_elbo": scalar((kl - log_px).mean()), "recon": scalar(-log_px.mean()),
                              "kl": scalar(kl.mean()), "kl_weight": w, **metrics}

    # ------------------------------------------------------------------ harness methods
    @evaluation
    def log_weights(self, x: torch.Tensor, num_samples: int, *, generator=None) -> torch.Tensor:
        """float64 ``(B, S)``: ``log p(x | z) + log p(z) - log q(z | x)``, ``z ~ q(z | x)``."""
        generator = self._generator(generator)
        mu, var = self.encode(x)
        b = x.shape[0]
        out = []
        for s0 in range(0, num_samples, self.config.sample_chunk):
            s = min(self.config.sample_chunk, num_samples - s0)
            eps = torch.randn((b, s, mu.shape[1]), generator=generator, device=x.device)
            z = mu[:, None] + var.sqrt()[:, None] * eps
            zd = z.double()
            log_ratio = (log_std_normal(zd) - log_normal(zd, mu[:, None].double(), var[:, None].double())).sum(2)
            xs = x.repeat_interleave(s, 0)
            out.append(log_ratio + log_likelihood(xs, self.decode(z.reshape(b * s, -1)), self.config).view(b, s))
        return torch.cat(out, 1)

    @evaluation
    def elbo(self, x: torch.Tensor, *, num_samples: int = 1, generator=None) -> torch.Tensor:
        return self.log_weights(x, num_samples, generator=generator).mean(1)

    @evaluation
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """float32 ``(B, C, H, W)``: pixel means decoded from the posterior mean, clipped to [0, 1]."""
        return self.decode(self.encode(x)[0]).clamp(0.0, 1.0).float()

    @evaluation
    def latents(self, x: torch.Tensor) -> torch.Tensor:
        """float32 ``(B, 1, d)``: the posterior mean (one "object": the whole image)."""
        return self.encode(x)[0][:, None].float()

    def latent_vector(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior mean ``(B, latent size)`` that :meth:`render` decodes."""
        return self.encode(x)[0]

    def render(self, z: torch.Tensor) -> torch.Tensor:
        """Pixel means ``(N, C, H, W)`` in [0, 1] of latent vectors ``z`` ``(N, latent size)``."""
        return self.decode(z).clamp(0.0, 1.0)

    def latent_size(self) -> int:
        return self.config.latent_dim

    def latent_names(self) -> list[str]:
        """Row names of :meth:`traverse`, in latent order."""
        return [f"z{i + 1}" for i in range(self.config.latent_dim)]

    @evaluation
    def traverse(self, x: torch.Tensor | None = None, values: torch.Tensor | None = None) -> torch.Tensor:
        """Latent traversals: float32 ``(L, V, C, H, W)``, row ``l`` sets dimension ``l`` to each of ``values``.

        The other dimensions stay at the posterior mean of ``x[0]`` (:meth:`latent_vector`), or at 0 (the
        prior mean) without ``x``. ``values`` default: 7 points from -3 to 3.
        """
        values = traversal_values() if values is None else values.to(torch.float32)
        size = self.latent_size()
        base = self.latent_vector(x[:1])[0] if x is not None else torch.zeros(size, device=self.device)
        z = base.repeat(size, len(values), 1)  # (L, V, L)
        idx = torch.arange(size, device=self.device)
        z[idx, :, idx] = values.to(self.device)
        shape = (self.info.channels, self.info.height, self.info.width)
        return self.render(z.reshape(-1, size)).view(size, len(values), *shape).float()


class BetaVae(Vae):
    name = "beta-vae"
    display_name = "β-VAE (VITAE baseline)"
    description = "VITAE's beta-VAE: the MLP VAE with beta = 8 (the supplement's comparison, not conv-beta-vae)"
    CONFIGS = BETA_VAE_CONFIGS


class BetaTcVae(Vae):
    name = "beta-tcvae"
    display_name = "β-TCVAE (VITAE baseline)"
    description = "beta-TCVAE (Chen et al. 2018): TC weighted by beta, minibatch-weighted sampling; VITAE's MLPs"
    CONFIGS = BETA_TCVAE_CONFIGS
    beta_weights_kl = False

    def penalty(self, z, mu, var, weight):
        tc = total_correlation(z.double(), mu.double(), var.double(), self.config.tc_dataset_size).mean()
        return weight * (self.config.beta - 1.0) * tc, {"tc": scalar(tc)}


class DipVaeII(Vae):
    name = "dip-vae-ii"
    display_name = "DIP-VAE-II (VITAE baseline)"
    description = "DIP-VAE-II (Kumar et al. 2018): moment-matching penalty on Cov_q(z); VITAE's MLPs"
    CONFIGS = DIP_VAE_CONFIGS

    def penalty(self, z, mu, var, weight):
        cfg = self.config
        pen = dip_ii_penalty(mu.double(), var.double(), cfg.dip_lambda_od, cfg.dip_lambda_d)
        return pen, {"dip": scalar(pen)}
