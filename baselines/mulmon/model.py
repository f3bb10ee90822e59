"""MulMON (Li, Eastwood & Fisher 2020), trainable with and without the LDS prior (Li & Fisher 2021).

A model of whole multi-view scenes (``input_layout = "scenes"``): every
method gets ``x["image"]`` ``(B, V, C, H, W)`` in [0, 1] and
``x["camera/position"]`` ``(B, V, 3)``, ``B`` scenes of ``V`` views.

Networks (``K`` slots, per-slot latents ``z_k`` of size ``D``)::

    viewpoint   v_raw = (xy / |xy| of the camera position, 0) - (1, 0, 0);  v = ViewEnc(v_raw)
    decoder     (mu_x_k, l_k) = Dec(Proj(z_k, v)): RGB means and a mask logit per pixel of that view
    posterior   q(z | lambda) = prod_k N(z_k; mu_k, diag exp(logvar_k)),  lambda_k = [mu_k, logvar_k]
    refinement  lambda <- lambda + RefineNetLSTM(17 image channels per slot, lambda, LN(dL/d lambda))

Inference (``_infer``) aggregates the observed views in sequence: from
``lambda_0`` (learned, shared by the slots), each view runs
``inner_iterations`` steps -- sample ``z_t ~ q(z | lambda_t)``, decode that
view, score it, refine (after all but the last step) -- and hands its last
``lambda`` on to the next view. ``lambda_T``, after the last observed view,
is the posterior of the scene.

Training objective (MulMON's, per scene, minimised; see :mod:`.config`)::

    sum_l w_l sum_t w_t [ -log p(x_l | z_t, v_l)  +  beta (log q(z_t | lambda_t) - log q(z_t | lambda_start(l))) ]
    + query_weight * mean over query views q of -log p(x_q | z, v_q),   z ~ q(z | lambda_T)
    - lds_weight * sum_l w_l sum_t w_t L_LDS(z_t)                        training only

with the view weights ``w_l = (l + 1) / (L (L + 1) / 2)`` and iteration
weights ``w_t = (t + 1) / (T (T + 1) / 2)``; ``lambda_start(l)`` is the
posterior the view started from (the KL is a one-sample estimate, 0 at the
first iteration of every view). ``p(x_v | z, v)`` is, at every pixel and
colour channel, ``sum_k softmax_k(l)_k N(x; mu_x_k, pixel_sigma^2)``.

What ``elbo`` and ``log_weights`` bound
---------------------------------------
MulMON's objective has no fixed prior: each view's KL is against the
previous view's posterior, so it bounds nothing by itself. The generative
model the bounds are for uses MulMON's own first-view prior::

    z_k ~ N(mu_0, diag exp(logvar_0))  (k = 1..K, independent),  [mu_0, logvar_0] = lambda_0
    x_v | z, v_v ~ the mixture above, independently for every view v = 1..V given z and its camera

and the proposal ``q(z | x_1..V) = q(z | lambda_T)``, the final posterior
after aggregating the observed views (all ``V`` by default; the first
``eval_observed`` if set). The refinement itself samples (``z_t``); it runs
once per scene, driven by the given generator, and all ``S`` samples share
its ``lambda_T``. For every refinement outcome ``q`` is a normalised density
over ``z``, so

    log_weights:  log w_s = sum_v log p(x_v | z_s, v_v) + log p(z_s) - log q(z_s | lambda_T),   z_s ~ q

are exact importance weights, ``E_q[w] = p(x_1..V | v_1..V)``, and
``logmeanexp_s log w_s`` is a lower bound on ``log p(x_1..V)`` (in
expectation) that tightens with ``S``;
``elbo = E_q[sum_v log p(x_v | z)] - KL(q(z | lambda_T) || p(z))`` (Monte
Carlo likelihood term, analytic KL) is the ``S = 1`` bound. The bounds score
all ``V`` views of a scene even when the posterior saw fewer. Neither ever
contains the LDS term, and inference is the same function with and without
it (the gradients fed to the refinement network omit it). Validation
(``val/neg_elbo``) reports ``-elbo``; the training log shows the objective's
terms and ``neg_elbo``, the same bound on the training batch (one sample of
the training posterior, which saw only the ``L`` observed views).

Harness methods (all views decoded from the posterior mean ``mu_T``):
``segment`` (argmax over the mixture masks; label = slot index),
``reconstruct`` (``sum_k m_k mu_x_k``), ``latents`` (``mu_T``, ``(B, K, D)``),
``elbo``, ``log_weights``. They run in eval mode whatever mode the model is
in and restore it; the refinement needs input gradients, so it runs under
``torch.enable_grad()`` with ``torch.autograd.grad`` and leaves no ``.grad``
on any parameter.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from scenebench.errors import ConfigError

from ..common import lds
from ..common.interface import Baseline, scalar
from ..common.modes import evaluation
from ..common.schedules import linear
from ..common.slots import (SpatialBroadcastDecoder, component_log_prob, coordinate_grid, image_sum,
                            log_softmax_slots, mixture_log_prob)
from . import DESCRIPTION, PAPER
from .config import MULMON_CONFIGS, MulmonConfig
from .networks import Projector, RefineNetLSTM, ViewEncoder, layer_norm, refinement_channels, viewpoint

LOG_2PI = math.log(2.0 * math.pi)
MASK_FLOOR = 1e-6  # added to the masks in the likelihood whose mask gradient the refinement network reads (ML)
CAMERA_FIELD = "camera/position"


def log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Elementwise ``log N(z; mu, exp(logvar))``."""
    return -0.5 * (logvar + (z - mu).square() * torch.exp(-logvar) + LOG_2PI)


def kl_normal(mu_q, logvar_q, mu_p, logvar_p) -> torch.Tensor:
    """Elementwise ``KL(N(mu_q, exp(logvar_q)) || N(mu_p, exp(logvar_p)))``."""
    return 0.5 * (logvar_p - logvar_q + (torch.exp(logvar_q) + (mu_q - mu_p).square()) * torch.exp(-logvar_p) - 1.0)


def iteration_weights(n: int) -> list[float]:
    """MulMON's weights ``(i + 1) / n`` over ``n`` iterations (or views), normalised to sum to 1."""
    return [(i + 1) / (0.5 * n * (n + 1)) for i in range(n)]


def paper_lr(step: int, lr: float, anneal_steps: int = 1_000_000, final: float = 0.1) -> float:
    """``max(final lr + (1 - final) lr (1 - step / anneal_steps), final lr)``: linear to ``final * lr``, then flat."""
    return linear(step, lr, final * lr, anneal_steps)


class Mulmon(Baseline):
    name = "mulmon"
    display_name = "MulMON"
    description = DESCRIPTION
    paper = PAPER
    Config = MulmonConfig
    CONFIGS = MULMON_CONFIGS
    input_layout = "scenes"  # whole multi-view samples: x["image"] (B, V, C, H, W) and the cameras
    input_fields = (CAMERA_FIELD,)

    def __init__(self, config: MulmonConfig, info):
        super().__init__(config, info)
        c, h, w = info.channels, info.height, info.width
        k, d = config.num_slots, config.latent_dim
        self.view_encoder = ViewEncoder(config.view_hidden, config.view_dim)
        self.projector = Projector(d, config.view_dim, config.projector_hidden)
        self.decoder = SpatialBroadcastDecoder(d, c + 1, h, w, channels=config.decoder_channels,
                                               layers=config.decoder_layers)
        try:
            self.refine = RefineNetLSTM(refinement_channels(c), h, w, config.refine_channels, config.refine_hidden,
                                        config.refine_features, config.lstm_hidden, d)
        except ValueError as exc:
            raise ConfigError(f"mulmon: {exc} (set refine_channels)") from None
        self.lambda0 = nn.Parameter(torch.randn(2 * d) - 0.5)  # [mu_0, logvar_0], shared by the slots (ML)
        self.register_buffer("pixel_sigma", torch.full((k,), float(config.pixel_sigma)), persistent=False)
        self.register_buffer("coords", coordinate_grid(h, w), persistent=False)
        if config.lds_weight > 0:  # the method name a submission carries says which group it is
            self.display_name = "MulMON+LDS"

    # ------------------------------------------------------------------ pieces
    @staticmethod
    def scene(x):
        """``(images (B, V, C, H, W), raw viewpoints (B, V, 3))`` of a scene batch."""
        return x["image"], viewpoint(x[CAMERA_FIELD].to(x["image"].dtype))

    def prior(self):
        """``(mu_0, logvar_0)`` ``(D,)`` of ``p(z_k)`` (= ``q`` before any view)."""
        return self.lambda0.chunk(2, -1)

    def decode(self, z: torch.Tensor, code: torch.Tensor):
        """``z (..., K, D)``, view codes ``(..., view_dim)`` -> means ``(..., K, C, H, W)``, logits ``(..., K, H, W)``.

        Every slot is decoded from ``Proj(z_k, v)`` on its own.
        """
        lead, (k, d) = z.shape[:-2], z.shape[-2:]
        zy = self.projector(torch.cat([z, code[..., None, :].expand(*lead, k, code.shape[-1])], -1))
        flat = zy.reshape(-1, d)
        if torch.is_grad_enabled() or len(flat) <= self.config.eval_chunk:
            out = self.decoder(flat)
        else:  # evaluation: bounded memory
            out = torch.cat([self.decoder(part) for part in flat.split(self.config.eval_chunk)])
        means, logits = out[:, :-1], out[:, -1]
        if self.config.rgb_sigmoid:
            means = torch.sigmoid(means)
        return means.reshape(*lead, k, *means.shape[1:]), logits.reshape(*lead, k, *logits.shape[1:])

    def log_likelihood(self, x: torch.Tensor, means: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """``log p(x | z, v)`` per image, float64 ``(N,)``; ``x (N, C, H, W)``, ``means (N, K, C, H, W)``."""
        comp = component_log_prob(x, means, self.pixel_sigma)
        return image_sum(mixture_log_prob(comp, log_softmax_slots(logits), self.config.mixture))

    def _refinement_inputs(self, x, means, masks, logits, comp, log_m, d_means, d_masks):
        """The image channels of every slot ``(B * K, 3 C + 8, H, W)`` (ML's order; see :mod:`.config`)."""
        b, k, c, h, w = means.shape
        mixture = self.config.mixture
        col = torch.softmax(comp.sum(2), 1)  # slot posterior from the unweighted slot likelihoods ("col_lik")
        with torch.no_grad():
            a = log_m[:, :, None] + comp if mixture == "channel" else (log_m + comp.sum(2))[:, :, None]
            pixel = torch.logsumexp(a, 1).sum(1)  # (B, H, W): log p(x) at each pixel
            # leave-one-out likelihood of each slot k: the mixture of the others, renormalised
            eye = torch.eye(k, dtype=torch.bool, device=means.device)
            others = a[:, None].masked_fill(eye.view(1, k, k, 1, 1, 1), -math.inf)
            num = torch.logsumexp(others, 2)  # (B, K, C', H, W)
            den = torch.logsumexp(log_m[:, None].masked_fill(eye.view(1, k, k, 1, 1), -math.inf), 2)
            loo = torch.where(torch.isfinite(den[:, :, None]), num - den[:, :, None], -math.inf).sum(2)
            lik = layer_norm(pixel.exp(), 2)[:, None].expand(b, k, h, w)
            loo = layer_norm(loo.exp(), 2)
            d_means = layer_norm(d_means, 3)
            d_masks = layer_norm(d_masks, 2)
        coords = self.coords.to(means.dtype)[None, None].expand(b, k, 2, h, w)
        parts = [x[:, None].expand(b, k, c, h, w), means, masks[:, :, None], logits[:, :, None], d_means,
                 d_masks[:, :, None], col[:, :, None], lik[:, :, None], loo[:, :, None], coords]
        return torch.cat(parts, 2).flatten(0, 1)

    def _infer(self, images: torch.Tensor, codes: torch.Tensor, generator, *, train: bool, lds_on: bool = False):
        """Aggregate the observed views ``images (B, L, C, H, W)`` with view codes ``codes (B, L, view_dim)``.

        Returns ``lambda_T`` ``(B, K, 2 D)`` and the per-view, per-iteration
        terms ``[[(nll, kl, lds), ...], ...]`` (each ``(B,)`` float64; ``lds`` is
        ``None`` unless ``lds_on``; no terms when ``train=False``). ``train=False``
        (evaluation) detaches ``lambda`` at every step, so no graph outlives an
        iteration, and computes only what the refinement needs.
        """
        cfg = self.config
        b, n_views = images.shape[:2]
        k, d, steps = cfg.num_slots, cfg.latent_dim, cfg.inner_iterations
        lam = self.lambda0.expand(b, k, 2 * d)
        terms = []
        for view in range(n_views):
            x, code = images[:, view], codes[:, view]
            start = lam  # this view's prior: the posterior the previous views left (lambda_0 first)
            start_mu, start_lv = start.chunk(2, -1)
            fixed_mu, fixed_lv = start_mu.detach(), start_lv.detach()
            state = None
            view_terms = []
            for t in range(steps):
                if not train:
                    lam = lam.detach().requires_grad_(True)
                mu, logvar = lam.chunk(2, -1)
                eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
                z = mu + torch.exp(0.5 * logvar) * eps
                means, logits = self.decode(z, code)
                comp = component_log_prob(x, means, self.pixel_sigma)
                log_m = log_softmax_slots(logits)
                log_q = log_normal(z, mu, logvar)
                if train:  # the objective's terms (evaluation needs only the refinement)
                    nll = -image_sum(mixture_log_prob(comp, log_m, cfg.mixture))
                    kl = image_sum(log_q - log_normal(z, start_mu, start_lv))  # "IG term"; 0 at t = 0
                    prior = None
                    if lds_on:
                        prior = lds.lds_log_prior(z if cfg.lds_latent == "sample" else mu, cfg.lds_sigma).double()
                    view_terms.append((nll, kl, prior))
                if t == steps - 1:
                    break
                # gradients of this iteration's negative ELBO (prior held fixed, no LDS term) w.r.t. the inputs
                masks = log_m.exp()
                floor = torch.log(masks + MASK_FLOOR)
                if cfg.mixture == "channel":
                    feat_nll = -torch.logsumexp(floor[:, :, None] + comp, 1).sum()
                else:
                    feat_nll = -torch.logsumexp(floor + comp.sum(2), 1).sum()
                feat = feat_nll + (log_q - log_normal(z, fixed_mu, fixed_lv)).sum()
                d_means, d_masks, d_lam = torch.autograd.grad(feat, [means, masks, lam], retain_graph=train)
                with torch.set_grad_enabled(train):  # evaluation: no graph through the refinement network
                    spatial = self._refinement_inputs(x, means, masks, logits, comp, log_m, d_means, d_masks)
                    vector = torch.cat([lam, layer_norm(d_lam, 1)], -1).flatten(0, 1)
                    delta, state = self.refine(spatial, vector, state)
                    lam = lam + delta.view(b, k, 2 * d)
            terms.append(view_terms)
        return (lam if train else lam.detach()), terms

    # ------------------------------------------------------------------ training
    def optimizer_groups(self):
        cfg = self.config
        return [(list(self.parameters()), lambda step: paper_lr(step, cfg.lr, cfg.lr_anneal_steps, cfg.lr_final))]

    def make_optimizer(self, groups) -> torch.optim.Optimizer:
        return torch.optim.Adam([{"params": p, "lr": f(0)} for p, f in groups])

    def training_loss(self, x, step: int, generator: torch.Generator):
        cfg = self.config
        images, raw = self.scene(x)
        b, n_views = images.shape[:2]
        dev = images.device
        hi = min(cfg.max_observed, n_views)
        lo = min(cfg.min_observed, hi)
        n_obs = int(torch.randint(lo, hi + 1, (1,), generator=generator, device=dev))
        order = torch.rand((b, n_views), generator=generator, device=dev).argsort(1)
        rows = torch.arange(b, device=dev)[:, None]
        images, raw = images[rows, order], raw[rows, order]
        if cfg.view_noise > 0:
            raw = raw + cfg.view_noise * torch.randn(raw.shape, generator=generator, device=dev, dtype=raw.dtype)
        codes = self.view_encoder(raw)
        # L_LDS is computed whatever lds_weight is (it is logged); it enters the loss only if lds_weight > 0
        lam, terms = self._infer(images[:, :n_obs], codes[:, :n_obs], generator, train=True, lds_on=True)
        w_view, w_iter = iteration_weights(n_obs), iteration_weights(cfg.inner_iterations)
        recon = kl = prior = 0.0
        for wv, view_terms in zip(w_view, terms):
            for wt, (nll_t, kl_t, lds_t) in zip(w_iter, view_terms):
                recon = recon + wv * wt * nll_t
                kl = kl + wv * wt * kl_t
                prior = prior + wv * wt * lds_t
        # query views: one sample of the final posterior, decoded from each query viewpoint
        mu, logvar = lam.chunk(2, -1)
        eps = torch.randn(mu.shape, generator=generator, device=dev, dtype=mu.dtype)
        z = mu + torch.exp(0.5 * logvar) * eps
        n_query = n_views - n_obs
        k = cfg.num_slots
        query_ll = torch.zeros((b, 0), dtype=torch.float64, device=dev)
        if n_query:
            q_means, q_logits = self.decode(z[:, None].expand(b, n_query, *z.shape[1:]), codes[:, n_obs:])
            query_ll = self.log_likelihood(images[:, n_obs:].flatten(0, 1), q_means.flatten(0, 1),
                                           q_logits.flatten(0, 1)).view(b, n_query)
            query_nll = -query_ll.mean(1)
        else:
            query_nll = torch.zeros(b, dtype=torch.float64, device=dev)
        loss = recon + cfg.beta * kl + cfg.query_weight * query_nll
        if cfg.lds_weight > 0:  # training only: never in elbo / log_weights
            loss = loss - cfg.lds_weight * prior
        with torch.no_grad():  # the generative model's bound on this batch: all views, one sample of q(z | lambda_T)
            o_means, o_logits = self.decode(z[:, None].expand(b, n_obs, k, z.shape[-1]), codes[:, :n_obs])
            obs_ll = self.log_likelihood(images[:, :n_obs].flatten(0, 1), o_means.flatten(0, 1),
                                         o_logits.flatten(0, 1)).view(b, n_obs)
            mu0, lv0 = self.prior()
            neg_elbo = -(obs_ll.sum(1) + query_ll.sum(1)) + image_sum(kl_normal(mu, logvar, mu0, lv0))
        metrics = {"loss": scalar(loss.mean()), "recon": scalar(recon.mean()), "kl": scalar(kl.mean()),
                   "query_nll": scalar(query_nll.mean()), "lds": scalar(prior.mean()),
                   "similarity": scalar(lds.mean_off_diagonal_similarity(mu.detach()).mean()),
                   "neg_elbo": scalar(neg_elbo.mean()), "observed_views": float(n_obs)}
        return loss.mean().float(), metrics

    # ------------------------------------------------------------------ evaluation
    def _posterior(self, x, generator):
        """``(images, codes, mu_T, logvar_T)``: the scene's views, their view codes and the final posterior."""
        images, raw = self.scene(x)
        n_views = images.shape[1]
        n_obs = min(self.config.eval_observed or n_views, n_views)
        codes = self.view_encoder(raw)
        with torch.enable_grad():
            lam, _ = self._infer(images[:, :n_obs], codes[:, :n_obs], self._generator(generator), train=False)
        mu, logvar = lam.chunk(2, -1)
        return images, codes, mu, logvar

    def _sampled_terms(self, images, codes, mu, logvar, num_samples: int, generator):
        """``S`` draws ``z_s ~ q``: ``sum_v log p(x_v | z_s, v_v)``, ``log p(z_s) - log q(z_s)``, float64 ``(B, S)``.

        The same generator state gives the same draws here for ``elbo`` and ``log_weights``.
        """
        b, n_views = images.shape[:2]
        k, d = mu.shape[1:]
        mu0, lv0 = (t.double() for t in self.prior())
        chunk = max(1, self.config.eval_chunk // (b * n_views * k))
        lls, ratios = [], []
        for s0 in range(0, num_samples, chunk):
            s = min(chunk, num_samples - s0)
            eps = torch.randn((b, s, k, d), generator=generator, device=mu.device, dtype=mu.dtype)
            z = mu[:, None] + torch.exp(0.5 * logvar[:, None]) * eps
            means, logits = self.decode(z[:, :, None].expand(b, s, n_views, k, d),
                                        codes[:, None].expand(b, s, *codes.shape[1:]))
            xs = images[:, None].expand(b, s, *images.shape[1:])
            ll = self.log_likelihood(xs.flatten(0, 2), means.flatten(0, 2), logits.flatten(0, 2))
            lls.append(ll.view(b, s, n_views).sum(2))
            lq = -0.5 * (logvar[:, None].double() + eps.double().square() + LOG_2PI)
            ratios.append((log_normal(z.double(), mu0, lv0) - lq).flatten(2).sum(2))
        return torch.cat(lls, 1), torch.cat(ratios, 1)

    @evaluation
    def log_weights(self, x, num_samples: int, *, generator=None) -> torch.Tensor:
        """float64 ``(B, S)``: ``sum_v log p(x_v | z_s, v_v) + log p(z_s) - log q(z_s | lambda_T)``, ``z_s ~ q``.

        Exact importance weights of the generative model in the module docstring; no LDS term.
        """
        generator = self._generator(generator)
        images, codes, mu, logvar = self._posterior(x, generator)
        ll, ratio = self._sampled_terms(images, codes, mu, logvar, num_samples, generator)
        return ll + ratio

    @evaluation
    def elbo(self, x, *, num_samples: int = 1, generator=None) -> torch.Tensor:
        """float64 ``(B,)``: mean of ``num_samples`` draws of ``sum_v log p(x_v | z)`` minus the analytic KL(q || p).

        The ELBO of the generative model in the module docstring; no LDS term.
        """
        generator = self._generator(generator)
        images, codes, mu, logvar = self._posterior(x, generator)
        ll, _ = self._sampled_terms(images, codes, mu, logvar, num_samples, generator)
        mu0, lv0 = (t.double() for t in self.prior())
        return ll.mean(1) - image_sum(kl_normal(mu.double(), logvar.double(), mu0, lv0))

    def _decode_all_views(self, x, generator=None):
        images, codes, mu, _ = self._posterior(x, generator)
        b, n_views = images.shape[:2]
        return mu, self.decode(mu[:, None].expand(b, n_views, *mu.shape[1:]), codes)

    @evaluation
    def masks(self, x, *, generator=None) -> torch.Tensor:
        """float32 ``(B, V, K, H, W)``: the mixture masks of every view at the posterior mean (sum to 1 over K)."""
        _, (_, logits) = self._decode_all_views(x, generator)
        return torch.softmax(logits, 2)

    @evaluation
    def segment(self, x, *, generator=None) -> torch.Tensor:
        """int64 ``(B, V, H, W)``: the slot whose mixture mask is largest, per view (label = slot index)."""
        _, (_, logits) = self._decode_all_views(x, generator)
        return logits.argmax(2)

    @evaluation
    def reconstruct(self, x, *, generator=None) -> torch.Tensor:
        """float32 ``(B, V, C, H, W)``: ``sum_k m_k mu_x_k`` of every view at the posterior mean."""
        _, (means, logits) = self._decode_all_views(x, generator)
        return (torch.softmax(logits, 2)[:, :, :, None] * means).sum(2).clamp(0.0, 1.0)

    @evaluation
    def latents(self, x, *, generator=None) -> torch.Tensor:
        """float32 ``(B, K, D)``: the final posterior means ``mu_T`` of the slot latents."""
        return self._posterior(x, generator)[2].float()


def parameter_counts(model: nn.Module) -> dict:
    """Trainable parameters per top-level part and in total."""
    out = {name: sum(p.numel() for p in mod.parameters()) for name, mod in model.named_children()}
    out["lambda0"] = model.lambda0.numel()
    out["total"] = sum(p.numel() for p in model.parameters())
    return out


__all__ = ["Mulmon", "iteration_weights", "kl_normal", "log_normal", "paper_lr", "parameter_counts"]
