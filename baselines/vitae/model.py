"""U-VITAE and C-VITAE (Skafte Detlefsen & Hauberg 2019): appearance and perspective latents with a spatial transformer.

Latents: perspective ``z_P`` (``perspective_dim``) and appearance ``z_A``
(``latent_dim``), both with prior ``N(0, I)``. Generative model:
``theta = g_P(z_P)`` (an MLP with a linear output, its last layer initialised
near 0 so every transformer starts near the identity), ``x ~ p(x | T_theta[g_A(z_A)])``:
the appearance decoder's pixel means warped by the transformer
(:mod:`.transformers`; Bernoulli probabilities or Gaussian means are warped,
as in the authors' code).

Inference (supplement section 1):

* U-VITAE: ``q(z_P | x) q(z_A | x)``; both encoders see ``x``.
  ELBO = ``E log p(x | z) - KL(q(z_P|x) || p) - KL(q(z_A|x) || p)``.
* C-VITAE: ``q(z_P | x) q(z_A | T_theta^-1[x])`` with ``theta = g_P(z_P)``,
  ``z_P ~ q(z_P | x)``: the appearance encoder sees ``x`` warped back by the
  inverse of the inferred transformation. ELBO = ``E log p(x | z) -
  KL(q(z_P|x) || p) - E_{z_P}[KL(q(z_A | x, z_P) || p)]``.

Training minimises ``-E log p(x | z) + w beta (KL_P + KL_A)`` with the KL
warm-up ``w`` (analytic KLs, one sample of each latent). ``log_weights`` is
exact (``beta = 1``, no ``w``): ``log p(x | z) + log p(z_P) + log p(z_A) -
log q(z_P | x) - log q(z_A | x[, z_P])``; with several samples each ``z_P``
sample gets its own warped copy of its own image (the authors' code paired
samples and images wrongly for batches). ``latents`` holds two slots, ``mu_A`` and ``mu_P``,
with C-VITAE's ``mu_A`` computed from ``x`` un-warped by ``g_P(mu_P)`` (as in
training, not from ``x`` as in the authors' code).
"""

from __future__ import annotations

import torch

from ..common.interface import scalar
from ..common.modes import evaluation
from .config import VITAE_CONFIGS, VitaeConfig
from .networks import Decoder, GaussianEncoder
from .transformers import make_transformer
from .vae import PAPER, Vae, kl_std_normal, log_likelihood, log_normal, log_std_normal, warmup_weight


class UVitae(Vae):
    """U-VITAE: unconditional inference (both encoders see ``x``)."""

    name = "u-vitae"
    display_name = "U-VITAE"
    description = "VITAE with unconditional inference: appearance + perspective latents, spatial transformer"
    paper = PAPER
    Config = VitaeConfig
    CONFIGS = VITAE_CONFIGS
    conditional = False

    def __init__(self, config: VitaeConfig, info):
        super(Vae, self).__init__(config, info)
        c = config
        dim = info.channels * info.height * info.width
        self.transformer = make_transformer(c.transformer, c.tessellation, c.cpab_steps)
        self.encoder_p = GaussianEncoder(dim, c.encoder_widths, c.perspective_dim, c.leaky_slope, c.variance_floor)
        self.decoder_p = Decoder(c.perspective_dim, c.decoder_widths, self.transformer.dim, c.leaky_slope)
        self.encoder = GaussianEncoder(dim, c.encoder_widths, c.latent_dim, c.leaky_slope, c.variance_floor)
        self.decoder = Decoder(c.latent_dim, c.decoder_widths, dim, c.leaky_slope)
        with torch.no_grad():  # theta starts near 0: near the identity warp for every transformer
            self.decoder_p.last.weight.normal_(0.0, 1.0).mul_(c.theta_init_std)
            self.decoder_p.last.bias.zero_()

    # ------------------------------------------------------------------ pieces
    def theta(self, z_p: torch.Tensor) -> torch.Tensor:
        return self.decoder_p(z_p)

    def appearance_input(self, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """What the appearance encoder sees: ``x`` (U-VITAE) or ``T_theta^-1[x]`` (C-VITAE)."""
        return self.transformer(x, theta, inverse=True) if self.conditional else x

    def generate(self, z_a: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """Pixel means ``T_theta[g_A(z_A)]`` ``(N, C, H, W)``."""
        return self.transformer(self.decode(z_a), theta)

    def _sample(self, x, mu_p, var_p, eps_p, eps_a):
        """One sample per row of ``x`` (rows already repeated per sample): returns the pieces of the ELBO."""
        z_p = mu_p + var_p.sqrt() * eps_p
        theta = self.theta(z_p)
        mu_a, var_a = self.encode(self.appearance_input(x, theta))
        z_a = mu_a + var_a.sqrt() * eps_a
        return z_p, theta, mu_a, var_a, z_a, self.generate(z_a, theta)

    def training_loss(self, x: torch.Tensor, step: int, generator: torch.Generator):
        cfg = self.config
        b = x.shape[0]
        mu_p, var_p = self.encoder_p(x)
        eps_p = torch.randn((b, cfg.perspective_dim), generator=generator, device=x.device)
        eps_a = torch.randn((b, cfg.latent_dim), generator=generator, device=x.device)
        z_p, theta, mu_a, var_a, z_a, mean = self._sample(x, mu_p, var_p, eps_p, eps_a)
        log_px = log_likelihood(x, mean, cfg)
        kl_p, kl_a = kl_std_normal(mu_p, var_p).double(), kl_std_normal(mu_a, var_a).double()
        w = warmup_weight(step, cfg)
        loss = (-log_px + w * cfg.beta * (kl_p + kl_a)).mean()
        return loss.float(), {"neg_elbo": scalar((kl_p + kl_a - log_px).mean()), "recon": scalar(-log_px.mean()),
                              "kl_appearance": scalar(kl_a.mean()), "kl_perspective": scalar(kl_p.mean()),
                              "kl_weight": w, "theta_abs": scalar(theta.abs().mean())}

    # ------------------------------------------------------------------ harness methods
    @evaluation
    def log_weights(self, x: torch.Tensor, num_samples: int, *, generator=None) -> torch.Tensor:
        """float64 ``(B, S)``: ``log p(x | z_A, z_P) + log p(z) - log q(z | x)``, ``z ~ q``."""
        generator = self._generator(generator)
        cfg = self.config
        mu_p, var_p = self.encoder_p(x)
        b = x.shape[0]
        if not self.conditional:
            mu_a0, var_a0 = self.encode(x)
        out = []
        for s0 in range(0, num_samples, cfg.sample_chunk):
            s = min(cfg.sample_chunk, num_samples - s0)
            eps_p = torch.randn((b * s, cfg.perspective_dim), generator=generator, device=x.device)
            eps_a = torch.randn((b * s, cfg.latent_dim), generator=generator, device=x.device)
            xs = x.repeat_interleave(s, 0)  # row b * s + k: sample k of image b
            mp, vp = mu_p.repeat_interleave(s, 0), var_p.repeat_interleave(s, 0)
            z_p = mp + vp.sqrt() * eps_p
            theta = self.theta(z_p)
            if self.conditional:
                ma, va = self.encode(self.appearance_input(xs, theta))
            else:
                ma, va = mu_a0.repeat_interleave(s, 0), var_a0.repeat_interleave(s, 0)
            z_a = ma + va.sqrt() * eps_a
            zp, za = z_p.double(), z_a.double()
            log_ratio = ((log_std_normal(zp) - log_normal(zp, mp.double(), vp.double())).sum(1)
                         + (log_std_normal(za) - log_normal(za, ma.double(), va.double())).sum(1))
            out.append((log_ratio + log_likelihood(xs, self.generate(z_a, theta), cfg)).view(b, s))
        return torch.cat(out, 1)

    def _means(self, x):
        mu_p, _ = self.encoder_p(x)
        theta = self.theta(mu_p)
        mu_a, _ = self.encode(self.appearance_input(x, theta))
        return mu_a, mu_p, theta

    @evaluation
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """float32 ``(B, C, H, W)``: pixel means from the posterior means, clipped to [0, 1]."""
        mu_a, _, theta = self._means(x)
        return self.generate(mu_a, theta).clamp(0.0, 1.0).float()

    @evaluation
    def latents(self, x: torch.Tensor) -> torch.Tensor:
        """float32 ``(B, 2, max(latent_dim, perspective_dim))``: slot 0 ``mu_A``, slot 1 ``mu_P`` (zero-padded)."""
        mu_a, mu_p, _ = self._means(x)
        out = torch.zeros(x.shape[0], 2, max(mu_a.shape[1], mu_p.shape[1]), device=x.device)
        out[:, 0, : mu_a.shape[1]] = mu_a
        out[:, 1, : mu_p.shape[1]] = mu_p
        return out

    def latent_vector(self, x: torch.Tensor) -> torch.Tensor:
        """``[mu_A, mu_P]`` ``(B, latent_dim + perspective_dim)``."""
        mu_a, mu_p, _ = self._means(x)
        return torch.cat([mu_a, mu_p], 1)

    def latent_size(self) -> int:
        return self.config.latent_dim + self.config.perspective_dim

    def latent_names(self) -> list[str]:
        """``zA1..`` (appearance) then ``zP1..`` (perspective), the order of :meth:`latent_vector`."""
        return ([f"zA{i + 1}" for i in range(self.config.latent_dim)]
                + [f"zP{i + 1}" for i in range(self.config.perspective_dim)])

    def render(self, z: torch.Tensor) -> torch.Tensor:
        """Pixel means of ``z = [z_A, z_P]`` ``(N, latent_dim + perspective_dim)``."""
        d = self.config.latent_dim
        return self.generate(z[:, :d], self.theta(z[:, d:])).clamp(0.0, 1.0)

    @evaluation
    def unwarped(self, x: torch.Tensor) -> torch.Tensor:
        """``T_theta^-1[x]`` with ``theta = g_P(mu_P(x))``: the images with the inferred perspective removed."""
        return self.transformer(x, self.theta(self.encoder_p(x)[0]), inverse=True)


class CVitae(UVitae):
    """C-VITAE: the appearance encoder sees ``x`` warped by the inverse of the inferred transformation."""

    name = "c-vitae"
    display_name = "C-VITAE"
    description = "VITAE with conditional inference: q(z_A | x, z_P) encodes x un-warped by the inferred theta"
    conditional = True
