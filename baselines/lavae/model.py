"""LAVAE: Location-Appearance VAE (Dittadi & Winther, 2019).

Generative model (images ``(C, H, W)``, ``D = H * W`` locations)::

    n ~ p(n)                                   learned categorical over 0..M
    l_1..l_n ~ uniform without replacement     over the D pixel locations (ordered)
    z_i ~ N(0, I_L)                            appearance of object i
    x ~ Bernoulli(eps + (1 - 2 eps) * clip(sum_i place(sprite(z_i), l_i), 0, 1))

Inference: two residual nets read the image at full resolution, giving
``h_app`` (2L channels: means and scales of q(z_i | x, l_i), read at l_i) and
``h_loc`` (location logits: the location head's output times gamma, the
paper's 4 by default). ``q(n | x)`` is deterministic: ``n = f_count(x)``,
the number of local maxima of ``h_loc`` (in ``count_window x count_window``
neighbourhoods) above ``count_threshold * gamma``. Locations are drawn
sequentially without replacement from ``softmax(h_loc)``: exactly
(Gumbel-top-k) when evaluating, through the Gumbel-softmax relaxation
(temperature annealed 0.5 -> 0.02) when training. Warm-up: an auxiliary fully
convolutional VAE (11x11x8 latents) is trained alongside and its KL map
(nats per latent position, summed over the 8 channels, each cell put on the
pixel its receptive field is centred on and linearly interpolated between)
is the regression target of the location head's unscaled output
``h_loc / gamma`` -- so f_count's threshold ``4 gamma`` means "4 nats of the
auxiliary VAE's KL here" (see :mod:`.config` for why this reading). The
regression weight (1, then linearly to 0) and the probability of forcing
n = 1 (1, then linearly to 0.1) follow the same warm-up schedule.

Training objective: the single-sample negative ELBO with the relaxed
locations (analytic KLs for the appearance and for each location draw given
the previous ones), plus, during warm-up, the auxiliary VAE's negative ELBO
and the squared-error regression summed over pixels.

``log_weights`` are exact ``log p(x, n, l, z) - log q(l, z | x)`` (``q(n|x)``
is a point mass), so their IWAE average bounds ``log p(x)`` from below.
The harness methods (``segment``, ``count``, ``log_weights``, ``elbo``,
``reconstruct``, ``latents``) always run in eval mode (BatchNorm with its
running statistics) and give the model back in the mode it was in.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from scenebench.errors import ConfigError

from ..common.interface import Baseline, scalar
from ..common.schedules import exponential, warmup_then_linear
from . import PAPER
from . import locations as loc
from .config import LAVAE_CONFIGS, LavaeConfig
from ..common.modes import evaluation
from .networks import AppearanceNet, AuxVae, LocationNet, SpriteDecoder


def bernoulli_log_prob(x: torch.Tensor, canvas: torch.Tensor, eps: float) -> torch.Tensor:
    """``sum log Bernoulli(x | eps + (1 - 2 eps) clip(canvas, 0, 1))`` per image, float64 ``(B,)``."""
    m = (eps + (1.0 - 2.0 * eps) * canvas.clamp(0.0, 1.0)).double()
    x = x.double()
    return (x * torch.log(m) + (1.0 - x) * torch.log1p(-m)).flatten(1).sum(1)


class Lavae(Baseline):
    name = "lavae"
    display_name = "LAVAE"
    description = "LAVAE: location/appearance VAE with sprite decoder and deterministic object count"
    paper = PAPER
    Config = LavaeConfig
    CONFIGS = LAVAE_CONFIGS

    def __init__(self, config: LavaeConfig, info):
        super().__init__(config, info)
        c, h, w = info.channels, info.height, info.width
        self.num_locations = h * w
        self.gamma = config.gamma or loc.gamma(self.num_locations)
        self.threshold = config.count_threshold * self.gamma
        self.sprite_size = config.sprite_size or (17 if c == 1 else 21)
        self.lr_location = config.lr_location or (1e-4 if c == 1 else 5e-4)
        self.max_objects = min(config.max_objects, self.num_locations)
        try:
            self.aux = AuxVae(c, h, w, config.aux_channels, config.aux_latent, config.aux_grid)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        self.app_net = AppearanceNet(c, config.channels, config.latent_dim, config.blocks)
        self.loc_net = LocationNet(c, config.channels, config.head_channels, config.blocks, self.gamma)
        self.decoder = SpriteDecoder(config.latent_dim, config.decoder_channels, self.sprite_size, c,
                                     config.decoder_blocks)
        self.count_logits = nn.Parameter(torch.zeros(self.max_objects + 1))  # learned p(n), n = 0..M

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """``nn.Module.load_state_dict``; a checkpoint of the networks' earlier layout is a :class:`ConfigError`."""
        try:
            return super().load_state_dict(state_dict, strict=strict, assign=assign)
        except RuntimeError:
            if any(k.startswith(("aux.enc.", "aux.dec_in.", "decoder.fc.0.")) for k in state_dict):
                raise ConfigError("this LAVAE checkpoint was written by an earlier scenebench whose networks had "
                                  "another layout (before the paper's layer order, location head, sprite-decoder "
                                  "BatchNorm and auxiliary VAE); train the model again") from None
            raise

    # ------------------------------------------------------------------ pieces
    def encode(self, x: torch.Tensor):
        """``mu, sigma`` ``(B, L, D)`` of q(z | x, l) at every location, and ``h_loc`` ``(B, H, W)``."""
        mu, s = self.app_net(x).flatten(2).chunk(2, 1)
        return mu, F.softplus(s) + 1e-4, self.loc_net(x)

    def log_prior_count(self, n: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.count_logits, 0)[n]

    def count_from_logits(self, h_loc: torch.Tensor) -> torch.Tensor:
        return loc.count_objects(h_loc, self.threshold, self.max_objects, self.config.count_window)

    # ------------------------------------------------------------------ training
    def optimizer_groups(self):
        cfg = self.config
        loc_params = list(self.loc_net.parameters())
        ids = {id(p) for p in loc_params}
        rest = [p for p in self.parameters() if id(p) not in ids]
        lr_loc = self.lr_location

        def location_lr(step: int) -> float:
            return exponential(step, lr_loc, lr_loc * cfg.lr_location_decay, cfg.lr_location_decay_steps)

        return [(loc_params, location_lr), (rest, lambda step: cfg.lr)]

    def training_loss(self, x: torch.Tensor, step: int, generator: torch.Generator):
        cfg = self.config
        b, c, h, w = x.shape
        dev = x.device
        mu, sigma, h_loc = self.encode(x)
        logits = h_loc.flatten(1)
        n = self.count_from_logits(h_loc.detach())
        p_force = warmup_then_linear(step, cfg.force_one_start, cfg.force_one_end, cfg.warmup_steps,
                                     cfg.warmup_anneal_steps)
        forced = torch.rand(b, generator=generator, device=dev) < p_force
        n = torch.where(forced, torch.ones_like(n), n)
        n_max = int(n.max())
        tau = exponential(step, cfg.tau_start, cfg.tau_end, cfg.tau_steps)
        noise = loc.gumbel((b, self.num_locations), generator, dev)
        kl_loc = kl_app = x.new_zeros(b)
        canvas = x.new_zeros(x.shape)
        if n_max > 0:
            idx = loc.sample_without_replacement(logits, n_max, noise)
            y, kl_steps = loc.relaxed_locations(logits, noise, idx, tau)  # (B, n_max, D), (B, n_max)
            active = torch.arange(n_max, device=dev) < n[:, None]
            mu_i = torch.einsum("bkd,bld->bkl", y, mu)
            sig_i = torch.einsum("bkd,bld->bkl", y, sigma)
            z = mu_i + sig_i * torch.randn(mu_i.shape, generator=generator, device=dev)
            kl_z = (0.5 * (mu_i ** 2 + sig_i ** 2 - 1.0) - torch.log(sig_i)).sum(-1)
            kl_loc = (kl_steps * active).sum(1)
            kl_app = (kl_z * active).sum(1)
            bsel, ksel = active.nonzero(as_tuple=True)
            sprites = self.decoder(z[bsel, ksel])
            canvas = loc.place_soft(sprites, y[bsel, ksel].view(-1, h, w), bsel, b)
        log_px = bernoulli_log_prob(x, canvas, cfg.likelihood_eps)
        neg_elbo = -log_px - self.log_prior_count(n).double() + kl_loc.double() + kl_app.double()
        loss = neg_elbo.mean().float()
        metrics = {"neg_elbo": scalar(neg_elbo.mean()), "recon": scalar(-log_px.mean()),
                   "kl_loc": scalar(kl_loc.mean()), "kl_app": scalar(kl_app.mean()), "n": scalar(n.float().mean()),
                   "tau": tau}
        weight = warmup_then_linear(step, 1.0, 0.0, cfg.warmup_steps, cfg.warmup_anneal_steps)
        if weight > 0:
            aux_loss, target = self.location_target(x, generator)
            reg = ((h_loc / self.gamma - target) ** 2).flatten(1).sum(1)  # the head's unscaled output
            loss = loss + aux_loss.mean() + weight * reg.mean()
            metrics.update({"aux_neg_elbo": scalar(aux_loss.mean()), "loc_regression": scalar(reg.mean()),
                            "warmup": weight})
        return loss, metrics

    def location_target(self, x: torch.Tensor, generator: torch.Generator):
        """Warm-up: the auxiliary VAE's negative ELBO ``(B,)`` and its KL map on the pixels ``(B, H, W)`` (detached).

        Each latent cell's KL goes to the pixel its receptive field is centred
        on (derived from the auxiliary encoder's layers), so a peak of the
        target sits where the object that caused it is.
        """
        aux_loss, kl_map = self.aux(x, generator)
        return aux_loss, self.aux.kl_to_pixels(kl_map.detach())

    # ------------------------------------------------------------------ evaluation
    def _check_n(self, n, batch: int, device) -> torch.Tensor:
        n = torch.as_tensor(n, device=device).long().expand(batch)
        if (n < 0).any() or (n > self.max_objects).any():
            raise ValueError(f"object counts must be in [0, {self.max_objects}]")
        return n

    @evaluation
    def log_weights(self, x: torch.Tensor, num_samples: int, *, generator=None, n=None) -> torch.Tensor:
        """float64 ``(B, S)``: ``log p(x, n, l, z) - log q(l, z | x)`` for ``S`` exact draws from q.

        ``n`` (int or ``(B,)``) replaces ``f_count`` (for tests of the bound).
        """
        generator = self._generator(generator)
        mu, sigma, h_loc = self.encode(x)
        n = self.count_from_logits(h_loc) if n is None else self._check_n(n, x.shape[0], x.device)
        logits = h_loc.flatten(1)
        out = []
        for s0 in range(0, num_samples, self.config.sample_chunk):
            s = min(self.config.sample_chunk, num_samples - s0)
            out.append(self._log_weights(x, mu, sigma, logits, n, s, generator))
        return torch.cat(out, 1)

    def _log_weights(self, x, mu, sigma, logits, n, s: int, generator) -> torch.Tensor:
        b, c, h, w = x.shape
        dev = x.device
        d = self.num_locations
        n_max = int(n.max()) if len(n) else 0
        lw = (self.log_prior_count(n).double() + loc.log_prior_ordered(n, d))[:, None].expand(b, s).clone()
        canvas = x.new_zeros((b * s, c, h, w))
        if n_max > 0:
            lg = logits[:, None, :].expand(b, s, d)
            idx = loc.sample_without_replacement(lg, n_max, loc.gumbel((b, s, d), generator, dev))  # (B, s, n)
            active = (torch.arange(n_max, device=dev) < n[:, None, None]).expand(b, s, n_max)
            lw -= loc.log_prob_ordered(lg, idx, active).double()
            flat = idx.reshape(b, s * n_max)
            mu_i = mu.gather(2, flat[:, None, :].expand(-1, mu.shape[1], -1)).transpose(1, 2)
            sig_i = sigma.gather(2, flat[:, None, :].expand(-1, mu.shape[1], -1)).transpose(1, 2)
            eps = torch.randn(mu_i.shape, generator=generator, device=dev)
            z = mu_i + sig_i * eps  # (B, s * n, L)
            # log N(z; 0, I) - log N(z; mu, sigma^2); the 2 pi terms cancel
            log_ratio = (0.5 * eps ** 2 - 0.5 * z ** 2 + torch.log(sig_i)).sum(-1).view(b, s, n_max)
            lw += (log_ratio * active).sum(-1).double()
            bsel, ssel, ksel = active.nonzero(as_tuple=True)
            sprites = self.decoder(z.view(b, s, n_max, -1)[bsel, ssel, ksel])
            canvas = loc.place_hard(sprites, bsel * s + ssel, idx[bsel, ssel, ksel], b * s, h, w)
        xs = x[:, None].expand(b, s, c, h, w).reshape(b * s, c, h, w)
        lw += bernoulli_log_prob(xs, canvas, self.config.likelihood_eps).view(b, s)
        return lw

    @evaluation
    def elbo(self, x: torch.Tensor, *, num_samples: int = 1, generator=None) -> torch.Tensor:
        """float64 ``(B,)``: Monte Carlo ELBO, the mean of ``num_samples`` log-weights."""
        return self.log_weights(x, num_samples, generator=generator).mean(1)

    @evaluation
    def count(self, x: torch.Tensor) -> torch.Tensor:
        """int64 ``(B,)``: f_count, the number of local maxima of h_loc above the threshold."""
        return self.count_from_logits(self.loc_net(x))

    @torch.no_grad()
    def _detections(self, x: torch.Tensor):
        """The counted maxima as objects: locations ``(B, M)``, validity, mean appearances ``(B, M, L)``, sprites."""
        mu, _, h_loc = self.encode(x)
        idx, valid = loc.top_maxima(h_loc, self.threshold, self.max_objects, self.config.count_window)
        z = mu.gather(2, idx[:, None, :].expand(-1, mu.shape[1], -1)).transpose(1, 2) * valid[..., None]
        bsel, ksel = valid.nonzero(as_tuple=True)
        sprites = self.decoder(z[bsel, ksel]) if len(bsel) else x.new_zeros((0, x.shape[1], 1, 1))
        return idx, valid, z, sprites, bsel, ksel

    @evaluation
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """float32 ``(B, C, H, W)``: Bernoulli means of the detected objects (mean appearances)."""
        b, c, h, w = x.shape
        idx, valid, z, sprites, bsel, ksel = self._detections(x)
        if not len(bsel):
            return x.new_zeros(x.shape)
        return loc.place_hard(sprites, bsel, idx[bsel, ksel], b, h, w).clamp(0.0, 1.0)

    @evaluation
    def segment(self, x: torch.Tensor) -> torch.Tensor:
        """int64 ``(B, H, W)``: object k+1 where its placed sprite is >= 0.5 (largest wins), else 0."""
        b, c, h, w = x.shape
        idx, valid, z, sprites, bsel, ksel = self._detections(x)
        m = valid.shape[1]
        if not len(bsel):
            return torch.zeros((b, h, w), dtype=torch.long, device=x.device)
        per = loc.place_hard(sprites, bsel * m + ksel, idx[bsel, ksel], b * m, h, w)
        per = per.amax(1).view(b, m, h, w)
        best, arg = per.max(1)
        return torch.where(best >= 0.5, arg + 1, torch.zeros_like(arg))

    @evaluation
    def latents(self, x: torch.Tensor) -> torch.Tensor:
        """float32 ``(B, M, L + 2)``: per detected object, mean appearance and (row, col) / (H - 1, W - 1)."""
        b, c, h, w = x.shape
        idx, valid, z, _, _, _ = self._detections(x)
        pos = torch.stack([(idx // w).float() / max(h - 1, 1), (idx % w).float() / max(w - 1, 1)], -1)
        return torch.cat([z, pos * valid[..., None]], -1)
