"""IODINE (Greff et al. 2019), trainable with and without the LDS prior (Li & Fisher 2021).

Generative model (images ``x`` ``(C, H, W)`` in [0, 1], ``K`` slots)::

    z_k ~ N(0, s^2 I)   (k = 1..K, independent; s = prior_scale)
    (mu_k, l_k) = Dec(z_k): RGB means and a mask logit per pixel (spatial broadcast)
    x | z: at each pixel, sum_k pi_k(z) N(x; mu_k, sigma^2),   pi(z) = softmax_k(l_1..K)

(per channel by default: each colour channel an independent 1-D mixture
with the same weights; see :mod:`.config`).

Inference is iterative amortisation: a learned initial posterior
``zp_0 = [loc, s]`` (shared by the slots), then for ``t = 0..T-1``::

    z_t = loc_t + scale(s_t) * eps_t,  eps_t ~ N(0, I)      scale = sqrt(softplus(.)) by default
    decode z_t; L_t = -log p(x | z_t) + beta KL(q_t || p)   per image
    zp_{t+1} = zp_t + Head(LSTM(CNN(spatial inputs), zp_t, LN(dL_t/dzp)))

with the spatial inputs of DM (image, means, mask logits and softmax,
responsibilities, LN'd dL_t/dmeans and dL_t/dlogits, counterfactual and pixel
log-likelihood, coordinates). Training minimises, per image,

    sum_{t=0..T} w_t (L_t - lds_weight * L_LDS(z_t)),    w = linspace(0, 1, T + 1)

(``L_T`` decodes a sample of the final posterior; ``L_LDS`` training only).

What ``elbo`` and ``log_weights`` bound
---------------------------------------
The final posterior ``q_T(z | x) = prod_k N(z_k; loc_Tk, scale_Tk^2)``
depends on ``x`` and on the noise ``eps_0..T-1`` the refinement itself drew
(each step decodes a sample). For evaluation the refinement runs *once* per
image, driven by the given generator; that fixes ``q_T``, and all ``S``
importance samples come from that one proposal::

    log_weights:  log w_s = log p(x | z_s) + log p(z_s) - log q_T(z_s | x),   z_s ~ q_T(z | x)

For any refinement noise, ``q_T`` is a normalised density of ``z`` alone,
so ``E_{q_T}[w] = p(x)``: these are exact importance weights of the
generative model above, and ``logmeanexp_s log w_s`` (``iw_nll`` with B
samples) is a lower bound on ``log p(x)`` (in expectation, over both the
samples and the refinement noise) that tightens with B. ``elbo =
E_{q_T}[log p(x | z)] - KL(q_T || p)`` (Monte Carlo likelihood, analytic KL)
is the same proposal's B = 1 bound; the same generator state gives the same
refinement and the same draws for both, so ``inference_gap`` compares like with
like. The LDS term never enters them (nor does it enter the refinement's
gradient inputs, so inference does not depend on lambda). Validation
(``val/neg_elbo``) reports ``-elbo``; the training log's ``neg_elbo`` is
``L_T`` on the training batch.

Harness methods: ``segment`` (argmax over the decoded masks at the final
posterior means; label = slot index, no slot is special), ``masks``,
``reconstruct`` (``sum_k m_k mu_k`` at the final posterior means),
``latents`` (final posterior means, ``(B, K, D)``), ``elbo``, ``log_weights``.
They run in eval mode whatever mode the model is in, and restore it. The
refinement needs gradients even then: it runs under ``torch.enable_grad()``
and takes them with ``torch.autograd.grad`` for its inputs only, so no
``.grad`` is left on any parameter. The methods without a ``generator``
argument refine with the default evaluation seed, so they are reproducible
(for a given batch: the refinement noise of an image depends on its place in
the batch).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..common import lds
from ..common.interface import Baseline, scalar
from ..common.modes import evaluation
from ..common.slots import (component_log_prob, coordinate_grid, decode_slots, image_sum, kl_normal_prior,
                            log_ratio_normal_prior, log_softmax_slots, mixture_log_prob)
from . import DESCRIPTION, PAPER
from .config import IODINE_CONFIGS, IodineConfig, iteration_weights, paper_lr
from .networks import BroadcastDecoder, InputNorms, RefinementNetwork


def log_softplus(s: torch.Tensor) -> torch.Tensor:
    """``log softplus(s)``, finite for very negative ``s`` (where it is ``s`` to float precision)."""
    return torch.where(s < -15.0, s, torch.log(F.softplus(s.clamp_min(-15.0))))


def leave_one_out_log_prob(comp: torch.Tensor, logits: torch.Tensor, mixture: str = "channel") -> torch.Tensor:
    """``log p_-k(x)`` per pixel, ``(B, K, H, W)``: the mixture without slot ``k``.

    The remaining weights are the softmax over the other ``K - 1`` mask logits
    (DM's counterfactual). ``comp``: :func:`component_log_prob` output ``(B, K, C, H, W)``.
    """
    k = logits.shape[1]
    drop = torch.zeros(k, k, dtype=logits.dtype, device=logits.device)
    drop.fill_diagonal_(-math.inf)  # row k: slot k left out
    lg = logits[:, None] + drop[None, :, :, None, None]  # (B, K left out, K, H, W)
    norm = torch.logsumexp(lg, 2)
    if mixture == "channel":
        return (torch.logsumexp(lg[:, :, :, None] + comp[:, None], 2) - norm[:, :, None]).sum(2)
    if mixture == "pixel":
        return torch.logsumexp(lg + comp.sum(2)[:, None], 2) - norm
    raise ValueError(f"unknown mixture {mixture!r}")


class Iodine(Baseline):
    name = "iodine"
    display_name = "IODINE"
    description = DESCRIPTION
    paper = PAPER
    Config = IodineConfig
    CONFIGS = IODINE_CONFIGS

    def __init__(self, config: IodineConfig, info):
        super().__init__(config, info)
        c, h, w = info.channels, info.height, info.width
        d = config.latent_dim
        # DM: one variable of 2 D numbers, TF's default (Glorot-uniform) initialiser: fan_in = fan_out = 2 D
        bound = math.sqrt(6.0 / (4 * d))
        self.initial_posterior = nn.Parameter(torch.empty(2 * d).uniform_(-bound, bound))
        self.decoder = BroadcastDecoder(d, c + 1, h, w, channels=config.decoder_channels,
                                        layers=config.decoder_layers, kernel=3,
                                        final_kernel=config.decoder_final_kernel,
                                        padding=config.decoder_padding, activation=config.activation)
        self.refinement = RefinementNetwork(3 * c + 8, 4 * d, 2 * d, h, w, channels=config.refine_channels,
                                            mlp=config.refine_mlp, lstm_hidden=config.lstm_hidden,
                                            pool=config.refine_pool, activation=config.activation)
        self.norms = InputNorms(c, 2 * d, config.layer_norm_affine)
        self.register_buffer("coords", coordinate_grid(h, w), persistent=False)
        self.register_buffer("pixel_sigma", torch.full((config.num_slots,), float(config.pixel_sigma)),
                             persistent=False)
        self.iter_weights = iteration_weights(config.iter_weights, config.num_iters)
        if config.lds_weight > 0:  # the method name a submission carries says which group it is
            self.display_name = "IODINE+LDS"

    # ------------------------------------------------------------------ pieces
    def posterior_params(self, zp: torch.Tensor):
        """``zp (..., 2 D) -> loc, scale`` (each ``(..., D)``) of the diagonal Gaussian posterior."""
        loc, s = zp.chunk(2, -1)
        if self.config.posterior_scale == "softplus-var":
            return loc, torch.exp(0.5 * log_softplus(s))
        return loc, torch.exp(0.5 * s)

    def decode(self, z: torch.Tensor):
        """``z (..., K, D)`` -> RGB means ``(..., K, C, H, W)`` and mask logits ``(..., K, H, W)``."""
        return decode_slots(self.decoder, z, self.config.rgb_sigmoid)

    def log_likelihood(self, x: torch.Tensor, means: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """``log p(x | z)`` per image, float64 ``(B,)``, from the decoded means and mask logits."""
        comp = component_log_prob(x, means, self.pixel_sigma)
        return image_sum(mixture_log_prob(comp, log_softmax_slots(logits), self.config.mixture))

    def _terms(self, x: torch.Tensor, zp: torch.Tensor, eps: torch.Tensor) -> dict:
        """Decode ``z = loc + scale * eps`` of posterior ``zp`` and the iteration's loss terms (per image, float64)."""
        cfg = self.config
        loc, scale = self.posterior_params(zp)
        z = loc + scale * eps
        means, logits = self.decode(z)
        comp = component_log_prob(x, means, self.pixel_sigma)
        pixel_ll = mixture_log_prob(comp, log_softmax_slots(logits), cfg.mixture)
        nll = -image_sum(pixel_ll)
        kl = image_sum(kl_normal_prior(loc, scale, cfg.prior_scale))
        return {"z": z, "loc": loc, "means": means, "logits": logits, "comp": comp, "pixel_ll": pixel_ll,
                "nll": nll, "kl": kl}

    def _refinement_inputs(self, x: torch.Tensor, zp: torch.Tensor, terms: dict, grads):
        """The refinement network's ``(spatial (B K, 3 C + 8, H, W), flat (B K, 4 D))`` inputs (DM's set)."""
        b, k = zp.shape[:2]
        c, h, w = x.shape[1:]
        means, logits, comp = terms["means"], terms["logits"], terms["comp"]
        dmeans, dlogits, dzp = grads  # from autograd.grad: no graph, i.e. stopped (DM)
        rows = lambda t: t.reshape(b * k, *t.shape[2:])  # noqa: E731
        with torch.no_grad():  # stopped inputs (DM): counterfactual, pixel log-likelihood
            counterfactual = terms["pixel_ll"][:, None] - leave_one_out_log_prob(comp, logits, self.config.mixture)
        counterfactual = self.norms.counterfactual(rows(counterfactual)[:, None])
        log_prob = self.norms.log_prob(terms["pixel_ll"].detach()[:, None])[:, None].expand(b, k, 1, h, w)
        spatial = torch.cat([
            x[:, None].expand(b, k, c, h, w),  # image
            means,  # components
            logits[:, :, None],  # mask logits
            torch.softmax(logits, 1)[:, :, None],  # pred_mask
            torch.softmax(comp.sum(2), 1)[:, :, None],  # posterior: responsibilities without the mask weights
            self.norms.dmeans(rows(dmeans)).view(b, k, c, h, w),
            self.norms.dmask(rows(dlogits)[:, None]).view(b, k, 1, h, w),
            log_prob,
            counterfactual.view(b, k, 1, h, w),
            self.coords.to(x.dtype)[None, None].expand(b, k, 2, h, w),
        ], 2)
        flat = torch.cat([rows(zp), self.norms.dzp(rows(dzp))], 1)
        return rows(spatial), flat

    def _unroll(self, x: torch.Tensor, generator: torch.Generator, keep_graph: bool):
        """Run the refinement: ``(terms of every decode, final zp (B, K, 2 D))``.

        ``keep_graph=True`` (training): ``T + 1`` decodes, each with its loss terms,
        gradients through the whole chain. ``False`` (evaluation): the ``T`` refinement
        decodes only, each step cut off from the last, no terms kept; call it under
        ``torch.enable_grad()``. Draws ``(B, K, D)`` normal noise from ``generator``
        once per decode.
        """
        cfg = self.config
        b, k, d = len(x), cfg.num_slots, cfg.latent_dim
        zp = self.initial_posterior.expand(b, k, 2 * d)
        state = None
        records = []
        for t in range(cfg.num_iters + (1 if keep_graph else 0)):
            if not keep_graph:
                zp = zp.detach().requires_grad_(True)
            eps = torch.randn((b, k, d), generator=generator, device=x.device, dtype=zp.dtype)
            terms = self._terms(x, zp, eps)
            if keep_graph:
                records.append(terms)
            if t == cfg.num_iters:
                break
            loss = (terms["nll"] + cfg.beta * terms["kl"]).sum()  # each image's own gradient; never the LDS term
            grads = torch.autograd.grad(loss, [terms["means"], terms["logits"], zp], retain_graph=keep_graph)
            with torch.set_grad_enabled(keep_graph):
                spatial, flat = self._refinement_inputs(x, zp, terms, grads)
                delta, state = self.refinement(spatial, flat, state)
                zp = zp + delta.view(b, k, 2 * d)
        return records, zp

    # ------------------------------------------------------------------ training
    def optimizer_groups(self):
        cfg = self.config
        lr, decay, final = cfg.lr, cfg.lr_decay_steps, cfg.lr_final
        return [(list(self.parameters()), lambda step: paper_lr(step, lr, decay, final))]

    def make_optimizer(self, groups) -> torch.optim.Optimizer:
        cfg = self.config
        return torch.optim.Adam([{"params": p, "lr": f(0)} for p, f in groups],
                                betas=(cfg.adam_beta1, cfg.adam_beta2), eps=cfg.adam_eps)

    def training_loss(self, x: torch.Tensor, step: int, generator: torch.Generator):
        cfg = self.config
        records, _ = self._unroll(x, generator, keep_graph=True)
        loss = x.new_zeros(len(x), dtype=torch.float64)
        prior = x.new_zeros(len(x), dtype=torch.float64)  # sum_t w_t L_LDS(z_t)
        for w, r in zip(self.iter_weights, records):
            if w == 0:
                continue
            loss = loss + w * (r["nll"] + cfg.beta * r["kl"])
            prior = prior + w * lds.lds_log_prior(r["z"] if cfg.lds_latent == "sample" else r["loc"],
                                                  cfg.lds_sigma).double()
        if cfg.lds_weight > 0:  # training only: never in elbo / log_weights or the refinement's inputs
            loss = loss - cfg.lds_weight * prior
        first, last = records[0], records[-1]
        metrics = {"loss": scalar(loss.mean()), "recon": scalar(last["nll"].mean()), "kl": scalar(last["kl"].mean()),
                   "lds": scalar(prior.mean()),
                   "similarity": scalar(lds.mean_off_diagonal_similarity(last["loc"].detach()).mean()),
                   "neg_elbo": scalar((last["nll"] + last["kl"]).mean()),
                   "neg_elbo_init": scalar((first["nll"] + first["kl"]).mean())}
        return loss.mean().float(), metrics

    # ------------------------------------------------------------------ evaluation
    def _posterior(self, x: torch.Tensor, generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``loc, scale`` ``(B, K, D)`` of the final posterior ``q_T(z | x)`` (one refinement run)."""
        with torch.enable_grad():
            _, zp = self._unroll(x, generator, keep_graph=False)
        return self.posterior_params(zp.detach())

    def _sampled_terms(self, x, loc, scale, num_samples: int, generator):
        """For ``S`` draws ``z_s ~ q_T``: ``log p(x | z_s)``, ``log p(z_s) - log q_T(z_s | x)``, float64 ``(B, S)``."""
        b, c, h, w = x.shape
        k, d = loc.shape[1:]
        lls, ratios = [], []
        for s0 in range(0, num_samples, self.config.sample_chunk):
            s = min(self.config.sample_chunk, num_samples - s0)
            eps = torch.randn((b, s, k, d), generator=generator, device=x.device, dtype=loc.dtype)
            z = loc[:, None] + scale[:, None] * eps
            means, logits = self.decode(z)
            xs = x[:, None].expand(b, s, c, h, w).reshape(b * s, c, h, w)
            ll = self.log_likelihood(xs, means.reshape(b * s, k, c, h, w), logits.reshape(b * s, k, h, w))
            lls.append(ll.view(b, s))
            ratios.append(log_ratio_normal_prior(z.double(), eps.double(), scale[:, None].double(),
                                                 self.config.prior_scale).flatten(2).sum(2))
        return torch.cat(lls, 1), torch.cat(ratios, 1)

    @evaluation
    def log_weights(self, x: torch.Tensor, num_samples: int, *, generator=None) -> torch.Tensor:
        """float64 ``(B, S)``: ``log p(x | z_s) + log p(z_s) - log q_T(z_s | x)``, ``z_s ~ q_T(z | x)``.

        One refinement run per image (driven by ``generator``), then ``S`` draws from its final
        posterior: exact importance weights (module docstring); no LDS term.
        """
        generator = self._generator(generator)
        loc, scale = self._posterior(x, generator)
        ll, ratio = self._sampled_terms(x, loc, scale, num_samples, generator)
        return ll + ratio

    @evaluation
    def elbo(self, x: torch.Tensor, *, num_samples: int = 1, generator=None) -> torch.Tensor:
        """float64 ``(B,)``: mean of ``num_samples`` draws of ``log p(x | z)``, ``z ~ q_T``, minus the analytic KL.

        The same refinement and draws as ``log_weights`` for the same generator state; no LDS term.
        """
        generator = self._generator(generator)
        loc, scale = self._posterior(x, generator)
        ll, _ = self._sampled_terms(x, loc, scale, num_samples, generator)
        return ll.mean(1) - image_sum(kl_normal_prior(loc.double(), scale.double(), self.config.prior_scale))

    def _decoded_at_means(self, x: torch.Tensor):
        loc, _ = self._posterior(x, self.make_generator())
        means, logits = self.decode(loc)
        return loc, means, logits

    @evaluation
    def masks(self, x: torch.Tensor) -> torch.Tensor:
        """float32 ``(B, K, H, W)``: the decoded masks at the final posterior means (sum to 1 over K)."""
        return torch.softmax(self._decoded_at_means(x)[2], 1)

    @evaluation
    def segment(self, x: torch.Tensor) -> torch.Tensor:
        """int64 ``(B, H, W)``: the slot whose decoded mask (at the final posterior means) is largest."""
        return self._decoded_at_means(x)[2].argmax(1)

    @evaluation
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """float32 ``(B, C, H, W)``: ``sum_k m_k mu_k`` decoded at the final posterior means, clamped to [0, 1]."""
        _, means, logits = self._decoded_at_means(x)
        return (torch.softmax(logits, 1)[:, :, None] * means).sum(1).clamp(0.0, 1.0)

    @evaluation
    def latents(self, x: torch.Tensor) -> torch.Tensor:
        """float32 ``(B, K, D)``: the final posterior means of the slot latents."""
        return self._posterior(x, self.make_generator())[0].float()


def parameter_counts(model: nn.Module) -> dict:
    """Trainable parameters per top-level part and in total."""
    out = {name: sum(p.numel() for p in mod.parameters()) for name, mod in model.named_children()}
    out["initial_posterior"] = model.initial_posterior.numel()
    out["total"] = sum(p.numel() for p in model.parameters())
    return out


__all__ = ["Iodine", "leave_one_out_log_prob", "log_softplus", "parameter_counts"]
