"""CIS (Yang, Chen & Soatto, CVPR 2020): contextual information separation, per-object VAE, cycle consistency.

Modules (images ``x (B, C, H, W)`` in [0, 1], ``K`` masks)::

    segmenter   Omega(x) = softmax_K(logits)                      (B, K, H, W)
    inpainter   psi(x (1 - Om_k), 1 - Om_k, edges(x)) ~ x inside Om_k
    vae         appearance z_a ~ q(. | x Om_k), shape z_m ~ q(. | Om_k) per foreground slot,
                background z_b ~ q(. | x (1 - sum fg)); decoders, object and global fusion -> x

Objective (paper): ``max_psi min_rest  L_VAE - gamma L_CIS + eta L_PC`` with
``L_CIS = sum_k <Om_k, |psi_k - x|> / (<Om_k, |x|> + eps)``, run as the
phases of :mod:`.config` (the phase is a function of the step). Each step's
loss reaches only the modules that step trains:

* pretrain: psi on a random box and its complement (L1 inside the mask);
* CIS, psi step: Omega's masks computed without gradient, psi minimises
  ``L_CIS`` (``inpainter_loss="cis"``) or the code's L1;
* CIS, Omega step: ``-gamma L_CIS``; psi runs with *detached* parameters
  (``torch.func.functional_call``), so the gradient flows through psi's
  computation into Omega but psi's parameters get no ``.grad``;
* VAE: Omega (eval mode) and psi frozen, the VAE losses of the code, on
  :meth:`Cis.vae_view` of the image and masks (``vae_normalise``,
  ``vae_scale``; unchanged by default);
* PC: as CIS, the Omega step adds ``eta L_PC`` with the VAE detached
  (``pc_perturbation``: the paper's Gaussian or the code's shape-dim
  replacement with occlusion, :meth:`Cis.perceptual_loss_code`).

Harness methods: ``segment`` (argmax over Omega's K channels, label =
channel), ``masks`` (Omega's soft masks), ``reconstruct`` (the VAE's global
fusion), ``latents`` (appearance and shape posterior means of the K - 1
foreground slots, in Omega's channel order without the image's background
channel); all at the image's resolution whatever ``vae_scale``.
``validation_loss`` (reported as ``val/neg_elbo``; CIS has no ELBO) is the
summed L1 error of ``reconstruct``.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch.func import functional_call

from ..common.config import config_from_dict
from ..common.data import DataInfo
from ..common.interface import Baseline, scalar
from ..common.modes import evaluation
from . import CIS_DESCRIPTION, PAPER
from .config import CIS_CONFIGS, PHASES, CisConfig
from .inpainter import Inpainter, edge_map
from .segmentation import build_segmenter
from .vae import ObjectVAE


def frozen_call(module, *args):
    """``module(*args)`` with detached parameters: gradients reach the inputs, never the parameters."""
    return functional_call(module, {n: p.detach() for n, p in module.named_parameters()}, args)


def stats_frozen_call(module, *args):
    """``module(*args)`` as in training (BatchNorm on the batch's statistics) but with its running statistics
    left as they are: buffers are passed as copies. For the steps that use a module without training it
    (the segmenter in inpainter and VAE steps; the authors' code runs it in training mode there, and only
    the segmenter's own steps run its update ops)."""
    state = {n: p.detach() for n, p in module.named_parameters()}
    state.update({n: b.clone() for n, b in module.named_buffers()})
    return functional_call(module, state, args)


@contextlib.contextmanager
def eval_mode(module):
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, t in modes:
            m.training = t


def region_error(pred, x, masks):
    """``sum_{c,h,w} |pred_k - x| Om_k`` -> ``(B, K)``; ``pred (B, K, C, H, W)``, ``masks (B, K, H, W)``."""
    return ((pred - x[:, None]).abs() * masks[:, :, None]).flatten(2).sum(2)


def opening(masks):
    """3x3 stride-1 min-pool then max-pool per channel (the code's mask opening)."""
    eroded = -F.max_pool2d(-masks, 3, 1, 1)
    return F.max_pool2d(eroded, 3, 1, 1)


def kl_diag(mu, logvar):
    return -0.5 * (1 + logvar - mu.square() - logvar.exp())


def normalise_images(x):
    """Min-max per image and channel: ``((x - lo) / range, lo, range)``; a flat channel gives 0 (the code's
    ``tf_normalize_imgs``; the flat case assumed, as ``divide_no_nan``)."""
    lo = x.amin((2, 3), keepdim=True)
    rng = x.amax((2, 3), keepdim=True) - lo
    safe = torch.where(rng > 0, rng, torch.ones_like(rng))
    return torch.where(rng > 0, (x - lo) / safe, torch.zeros_like(x)), lo, rng


def vae_resolution(h, w, scale):
    """The VAE's ``(H, W)`` at ``vae_scale`` (192x256 at 0.5 -> 96x128)."""
    return (h, w) if scale == 1 else (max(1, round(h * scale)), max(1, round(w * scale)))


def occlude(new, other):
    """The code's PC occlusion: the moved object's mask goes behind the other's, ``(1 - other) new``."""
    return (1 - other) * new


def random_box(h, w, generator, device):
    """The code's pretraining box (one per step): rows r1 < r2, r1 ~ U[0, 2h/3), r2 ~ U[r1 + h/5, h - 1)."""
    def draw(lo, hi):
        return int(torch.randint(lo, hi, (1,), generator=generator, device=device))
    r1 = draw(0, 2 * h // 3)
    r2 = draw(r1 + h // 5, h - 1)
    c1 = draw(0, 2 * w // 3)
    c2 = draw(c1 + w // 5, w - 1)
    box = torch.zeros(h, w, device=device)
    box[r1:r2, c1:c2] = 1
    return box


class Cis(Baseline):
    name = "cis"
    display_name = "CIS"
    description = CIS_DESCRIPTION
    paper = PAPER
    Config = CisConfig
    CONFIGS = CIS_CONFIGS
    ddp_find_unused_parameters = True  # each step trains only some modules

    def __init__(self, config: CisConfig, info, *, load_pretrained: bool = True):
        super().__init__(config, info)
        c, h, w = info.channels, info.height, info.width
        self.segmenter = build_segmenter(config, c, pretrained=load_pretrained)
        self.inpainter = Inpainter(c, config.inpainter_channels)
        self.vae_size = vae_resolution(h, w, config.vae_scale)
        self.vae = ObjectVAE(c, *self.vae_size, config.num_masks - 1, config.appearance_dim, config.mask_dim,
                             config.background_dim, config.vae_channels, config.vae_hidden)

    @classmethod
    def build(cls, config_dict, info_dict):
        """The model of a checkpoint: the ImageNet file is not read again (the checkpoint's weights replace it)."""
        return cls(config_from_dict(cls.Config, config_dict), DataInfo.from_dict(info_dict), load_pretrained=False)

    # ------------------------------------------------------------------ pieces
    def logits(self, x):
        return self.segmenter(x)

    def edges(self, x, masks=None):
        """Binary edges ``(B, 2, H, W)`` (``edge_mode="full"``) or per mask ``(B, K, 2, H, W)`` (``"masked"``:
        the edges of the visible context ``x (1 - m_k)``, zero inside the mask)."""
        if self.config.edge_mode == "full" or masks is None:
            return self.binary_edges(x)
        b, k = masks.shape[:2]
        vis = (1 - masks).flatten(0, 1)[:, None]
        xs = x[:, None].expand(b, k, *x.shape[1:]).flatten(0, 1)
        return (self.binary_edges(xs * vis) * vis).view(b, k, 2, *x.shape[2:])

    def binary_edges(self, x):
        """Binary edges ``(B, 2, H, W)`` of the raw image in the config's ``edge_style``."""
        c = self.config
        return edge_map(x, c.edge_style, c.edge_threshold, c.edge_scale)

    def inpaint(self, x, masks, frozen=False):
        """psi for every mask: ``masks (B, K, H, W)`` (1 = hidden) -> predictions ``(B, K, C, H, W)``."""
        b, k = masks.shape[:2]
        e = self.edges(x, masks)
        e = e[:, None].expand(b, k, *e.shape[1:]) if e.dim() == 4 else e
        xs = x[:, None].expand(b, k, *x.shape[1:]).flatten(0, 1)
        args = (xs, masks.flatten(0, 1)[:, None], e.flatten(0, 1))
        out = frozen_call(self.inpainter, *args) if frozen else self.inpainter(*args)
        return out.view(b, k, *x.shape[1:])

    def unconditioned(self, x, frozen=True):
        """psi's output with nothing visible (zero image, all-hidden mask, the full-image edges; code)."""
        m = torch.ones_like(x[:, :1])
        e = self.binary_edges(x) if self.config.edge_mode == "full" else \
            torch.zeros_like(x[:, :1]).expand(-1, 2, -1, -1)
        args = (torch.zeros_like(x), m, e)
        return frozen_call(self.inpainter, *args) if frozen else self.inpainter(*args)

    def separation(self, x, masks, preds, uncond=None):
        """Per image ``sum_k N_k / (norm_k + eps)`` ``(B,)``: what Omega maximises (module docstring)."""
        num = region_error(preds, x, masks)
        if self.config.cis_normaliser == "paper":
            den = (masks[:, :, None] * x[:, None].abs()).flatten(2).sum(2)
        else:
            den = region_error(uncond[:, None], x, masks)
        return (num / (den + self.config.cis_eps)).sum(1)

    def object_masks(self, masks, bg_index=None):
        """Opened masks -> foreground ``(B, K - 1, H, W)`` (Omega's order without the background channel),
        background mask ``1 - sum fg`` ``(B, 1, H, W)`` and the background channel per image ``(B,)``."""
        opened = opening(masks)
        k = masks.shape[1]
        if bg_index is None:
            bg_index = opened.detach().flatten(2).sum(2).argmax(1)
        is_bg = (torch.arange(k, device=masks.device)[None] == bg_index[:, None]).to(torch.int64)
        order = torch.argsort(is_bg, dim=1, stable=True)[:, :k - 1]
        fg = torch.gather(opened, 1, order[:, :, None, None].expand(-1, -1, *masks.shape[2:]))
        bg = (1 - fg.sum(1, keepdim=True)).clamp(min=0)
        return fg, bg, bg_index

    def vae_view(self, x, fg, bg):
        """What the VAE sees: the image (min-max per image and channel with ``vae_normalise``) and the masks,
        nearest-resized to the VAE's resolution (``vae_scale``); unchanged tensors in the default config."""
        if self.config.vae_normalise:
            x = normalise_images(x)[0]
        if tuple(x.shape[2:]) != self.vae_size:
            x, fg, bg = (F.interpolate(t, size=self.vae_size, mode="nearest") for t in (x, fg, bg))
        return x, fg, bg

    def from_vae(self, t, x, image=True):
        """A VAE output ``(B, C, h, w)`` at the image's size (bilinear; assumed) and, for an ``image`` with
        ``vae_normalise``, back in ``x``'s range (the inverse of its per-image, per-channel min-max)."""
        if tuple(t.shape[2:]) != tuple(x.shape[2:]):
            t = F.interpolate(t, size=x.shape[2:], mode="bilinear", align_corners=False)
        if image and self.config.vae_normalise:
            _, lo, rng = normalise_images(x)
            t = t * rng + lo
        return t

    def _vae(self, frozen, op, *args):
        return frozen_call(self.vae, op, *args) if frozen else self.vae(op, *args)

    def render(self, z_app, z_mask, z_bg, frozen=False):
        """Latents -> the fused image ``(B, C, H, W)``."""
        app, mask, bg = self._vae(frozen, "decode", z_app, z_mask, z_bg)
        return self._vae(frozen, "fuse", torch.sigmoid(app), torch.sigmoid(mask), torch.sigmoid(bg))[1]

    def encode_means(self, x, masks, bg_index=None, frozen=False):
        """``(z (B, K - 1, Da + Dm), z_bg (B, Db), bg_index)``: posterior means given Omega's masks."""
        fg, bg, bg_index = self.object_masks(masks, bg_index)
        (mu_a, _), (mu_m, _), (mu_b, _) = self._vae(frozen, "encode", *self.vae_view(x, fg, bg))
        return torch.cat([mu_a, mu_m], 2), mu_b, bg_index

    # ------------------------------------------------------------------ training
    def optimizer_groups(self):
        c = self.config
        return [(list(self.segmenter.parameters()), lambda step: c.lr_segmenter),
                (list(self.inpainter.parameters()), lambda step: c.lr_inpainter),
                (list(self.vae.parameters()), lambda step: c.lr_vae)]

    def make_optimizer(self, groups):
        return torch.optim.Adam([{"params": p, "lr": f(0)} for p, f in groups], betas=(0.9, 0.999),
                                eps=self.config.adam_eps)

    def is_psi_step(self, phase_step: int) -> bool:
        c = self.config
        return phase_step % (c.psi_iters + c.omega_iters) < c.psi_iters

    def training_loss(self, x, step, generator):
        cfg = self.config
        phase, i = cfg.phase(step)
        x = x[:cfg.phase_batch(phase)]
        metrics = {"phase": float(PHASES.index(phase))}
        if phase == "pretrain":
            loss = self.pretrain_loss(x, generator)
        elif phase == "vae":
            loss, terms = self.vae_loss(x, i, generator)
            metrics.update(terms)
        elif self.is_psi_step(i):
            loss, sep = self.psi_loss(x)
            metrics["separation"] = sep
        else:
            loss, terms = self.omega_loss(x, generator, pc=phase == "pc")
            metrics.update(terms)
        metrics["loss"] = scalar(loss)
        return loss, metrics

    def pretrain_loss(self, x, generator):
        box = random_box(x.shape[2], x.shape[3], generator, x.device)
        masks = torch.stack([box, 1 - box])[None].expand(len(x), -1, -1, -1)
        return self.l1_inpainting(x, masks, self.inpaint(x, masks))

    def l1_inpainting(self, x, masks, preds):
        """The code's inpainter loss: ``sum_k mean_b <m_k, |psi_k - x|> / (H W C)``."""
        return region_error(preds, x, masks).mean(0).sum() / x[0].numel()

    def psi_loss(self, x):
        with torch.no_grad():
            masks = F.softmax(stats_frozen_call(self.segmenter, x), 1)
            uncond = self.unconditioned(x) if self.config.cis_normaliser == "code" else None
        preds = self.inpaint(x, masks)
        sep = self.separation(x, masks, preds, uncond)
        if self.config.inpainter_loss == "l1":
            return self.l1_inpainting(x, masks, preds), scalar(sep.mean())
        return self.config.cis_weight * sep.mean(), scalar(sep.mean())  # psi minimises what Omega maximises

    def omega_loss(self, x, generator, pc=False):
        cfg = self.config
        logits = self.segmenter(x)
        masks = F.softmax(logits, 1)
        uncond = self.unconditioned(x, frozen=True) if cfg.cis_normaliser == "code" else None
        sep = self.separation(x, masks, self.inpaint(x, masks, frozen=True), uncond).mean()
        loss = -cfg.cis_weight * sep
        terms = {"separation": scalar(sep)}
        if pc:
            lpc = self.perceptual_loss(x, masks, generator)
            loss = loss + cfg.pc_weight * lpc
            terms["pc"] = scalar(lpc)
        return loss, terms

    def perceptual_loss(self, x, masks, generator):
        """L_PC (``pc_loss``) of Omega's ``masks`` on ``x``, the VAE detached; mean over images and variants."""
        cfg = self.config
        da = cfg.appearance_dim
        code = cfg.pc_loss == "code"
        if cfg.pc_perturbation == "code":
            return self.perceptual_loss_code(x, masks, generator)
        with torch.no_grad() if code else contextlib.nullcontext():
            z, z_bg, bg_index = self.encode_means(x, masks, frozen=True)
        b, f, _ = z.shape
        total = 0.0
        for _ in range(cfg.pc_variants):
            k = torch.randint(0, f, (b,), generator=generator, device=x.device)
            noise = torch.randn(z.shape, generator=generator, device=x.device, dtype=z.dtype)
            pick = F.one_hot(k, f).to(z.dtype)[:, :, None]
            z_new = z + pick * noise  # z^_k ~ N(z_k, I), the other slots kept
            if code:
                total = total + self.pc_cross_entropy(z_new, z_bg, k, bg_index, x)
                continue
            xhat = self.from_vae(self.render(z_new[..., :da], z_new[..., da:], z_bg, frozen=True), x)
            z_bar, _, _ = self.encode_means(xhat, F.softmax(self.segmenter(xhat), 1), bg_index, frozen=True)
            total = total + self.pc_distance(z_new, z_bar)
        return total / cfg.pc_variants

    @staticmethod
    def pc_distance(z_new, z_bar):
        """``sum_{l != k} ||z_l - zbar_l|| + ||z^_k - zbar_k||`` = ``sum_l ||z_new_l - zbar_l||``, mean over images."""
        return torch.linalg.vector_norm(z_new - z_bar, dim=2).sum(1).mean()  # gradient 0 at 0 (torch)

    def pc_cross_entropy(self, z_new, z_bg, k, bg_index, x=None):
        """The code's L_PC: CE of Omega on x^ against the perturbed decoded masks (moved object behind)."""
        da = self.config.appearance_dim
        with torch.no_grad():
            app, mlog, bgl = frozen_call(self.vae, "decode", z_new[..., :da], z_new[..., da:], z_bg)
            m = torch.sigmoid(mlog)
            f = m.shape[1]
            pick = F.one_hot(k, f).to(m.dtype)[:, :, None, None]
            others = (m * (1 - pick)).sum(1, keepdim=True)
            m = m * (1 - pick) + pick * m * (1 - others).clamp(min=0)
            bg = (1 - m.sum(1, keepdim=True)).clamp(min=0)
            xhat = frozen_call(self.vae, "fuse", torch.sigmoid(app), torch.sigmoid(mlog), torch.sigmoid(bgl))[1]
            labels = self.omega_order(torch.cat([m, bg], 1), bg_index)
            if x is not None:
                xhat, labels = self.from_vae(xhat, x), self.from_vae(labels, x, image=False)
        return self.soft_cross_entropy(xhat, labels)

    def soft_cross_entropy(self, xhat, labels):
        """``-sum_K labels log softmax(Omega(xhat))`` summed over pixels, mean over images."""
        logp = F.log_softmax(self.segmenter(xhat), 1)
        return -(labels * logp).sum(1).flatten(1).sum(1).mean()

    @staticmethod
    def omega_order(stacked, bg_index):
        """Slot-order ``[fg..., bg]`` maps ``(B, K, H, W)`` -> Omega's channel order (bg at ``bg_index``)."""
        kk = stacked.shape[1]
        is_bg = (torch.arange(kk, device=stacked.device)[None] == bg_index[:, None]).to(torch.int64)
        order = torch.argsort(is_bg, dim=1, stable=True)  # Omega channel of each [fg..., bg] entry
        return torch.zeros_like(stacked).scatter_(1, order[:, :, None, None].expand_as(stacked), stacked)

    # ------------------------------------------------------------------ the code's PC perturbation
    def code_latents(self, x, masks):
        """Posterior means of the 2 objects and the background, the top-2 shape dims by batch-mean KL (sorted
        ascending) and the background channel: ``(mu_a (B, 2, Da), mu_m (B, 2, Dm), mu_b, dims (2,), bg_index)``."""
        fg, bg, bg_index = self.object_masks(masks)
        (mu_a, _), (mu_m, lv_m), (mu_b, _) = frozen_call(self.vae, "encode", *self.vae_view(x, fg, bg))
        kl = kl_diag(mu_m, lv_m).detach().mean((0, 1))  # per shape dim, mean over images and objects
        dims = torch.sort(torch.topk(kl, 2).indices).values
        return mu_a, mu_m, mu_b, dims, bg_index

    def code_perturb(self, mu_a, mu_m, mu_b, dims, k: int, generator):
        """One variant of the code's perturbation: dims ``dims`` of object ``k``'s shape mean replaced by
        U(-1, 1) per image; the decoded mask of ``k`` put behind the other object's decoded mask; background
        ``1 - new - other``; the new image from the fusion nets. Returns ``(z_mask (B, 2, Dm), masks in slot
        order [obj0, obj1, bg] (B, 3, h, w), image (B, C, h, w))`` at the VAE's resolution."""
        b = mu_m.shape[0]
        u = torch.rand((b, len(dims)), generator=generator, device=mu_m.device, dtype=mu_m.dtype) * 2 - 1
        z_m = mu_m.clone()
        z_m[:, k, dims] = u  # replaced, not offset (code)
        app, mlog, bgl = frozen_call(self.vae, "decode", mu_a, z_m, mu_b)
        dec = torch.sigmoid(mlog)
        other = dec[:, 1 - k]
        new = occlude(dec[:, k], other)
        fg = torch.stack([new, other] if k == 0 else [other, new], 1)
        bg = 1 - fg.sum(1, keepdim=True)
        image = frozen_call(self.vae, "fuse", torch.sigmoid(app), fg, torch.sigmoid(bgl))[1]
        return z_m, torch.cat([fg, bg], 1), image

    def perceptual_loss_code(self, x, masks, generator):
        """L_PC with the code's perturbation (K = 3): one object per step, ``pc_variants`` variants."""
        cfg = self.config
        code = cfg.pc_loss == "code"
        with torch.no_grad() if code else contextlib.nullcontext():
            mu_a, mu_m, mu_b, dims, bg_index = self.code_latents(x, masks)
        k = int(torch.randint(0, 2, (1,), generator=generator, device=x.device))  # shared by batch and variants
        total = 0.0
        for _ in range(cfg.pc_variants):
            with torch.no_grad() if code else contextlib.nullcontext():
                z_m, labels, xhat = self.code_perturb(mu_a, mu_m, mu_b, dims, k, generator)
            if code:
                with torch.no_grad():
                    xhat = self.from_vae(xhat, x)
                    labels = self.from_vae(self.omega_order(labels, bg_index), x, image=False)
                total = total + self.soft_cross_entropy(xhat, labels)
                continue
            xhat = self.from_vae(xhat, x)
            z_bar, _, _ = self.encode_means(xhat, F.softmax(self.segmenter(xhat), 1), bg_index, frozen=True)
            total = total + self.pc_distance(torch.cat([mu_a, z_m], 2), z_bar)
        return total / cfg.pc_variants

    def vae_loss(self, x, vae_step, generator):
        cfg = self.config
        with torch.no_grad(), eval_mode(self.segmenter):
            masks = F.softmax(self.segmenter(x), 1)
        fg, bgm, _ = self.object_masks(masks)
        x, fg, bgm = self.vae_view(x, fg, bgm)  # from here on x is what the VAE sees
        (mu_a, lv_a), (mu_m, lv_m), (mu_b, lv_b) = self.vae("encode", x, fg, bgm)

        def sample(mu, lv):
            return mu + (0.5 * lv).exp() * torch.randn(mu.shape, generator=generator, device=mu.device,
                                                       dtype=mu.dtype)
        app, mlog, bgl = self.vae("decode", sample(mu_a, lv_a), sample(mu_m, lv_m), sample(mu_b, lv_b))
        app_p, mask_p, bg_p = torch.sigmoid(app), torch.sigmoid(mlog), torch.sigmoid(bgl)
        tex = ((app_p - x[:, None]).abs() * fg[:, :, None]).flatten(2).sum(2).mean()
        kl_a = kl_diag(mu_a, lv_a).sum(2).mean()
        mask_err = F.binary_cross_entropy_with_logits(mlog, fg, reduction="none").flatten(2).sum(2).mean()
        kl_m = kl_diag(mu_m, lv_m).sum(2).mean()
        cap = cfg.capacity_rate * vae_step
        if cfg.capacity_max > 0:
            cap = min(cap, cfg.capacity_max)
        bg_err = ((bg_p - x).abs() * bgm).flatten(1).sum(1).mean()
        kl_b = kl_diag(mu_b, lv_b).sum(1).mean()
        obj, whole = self.vae("fuse", app_p, mask_p, bg_p, cfg.fusion_gradients == "separate")
        target = (x[:, None] * fg[:, :, None]).clamp(0, 1)
        fusion = F.binary_cross_entropy(obj, target, reduction="none").flatten(2).sum(2).mean()
        glob = (whole - x).abs().flatten(1).sum(1).mean()
        loss = (tex + cfg.beta_appearance * kl_a + mask_err + cfg.mask_weight * (kl_m - cap).abs()
                + bg_err + cfg.beta_background * kl_b + fusion + glob)
        terms = {"appearance": scalar(tex), "kl_appearance": scalar(kl_a), "mask": scalar(mask_err),
                 "kl_mask": scalar(kl_m), "capacity": float(cap), "background": scalar(bg_err),
                 "kl_background": scalar(kl_b), "fusion": scalar(fusion), "recon_l1": scalar(glob)}
        return loss, terms

    def validation_loss(self, x, generator):
        """Summed L1 error of ``reconstruct`` per image ``(B,)`` (CIS has no ELBO)."""
        return (self._reconstruct(x) - x).abs().flatten(1).sum(1).double()

    # ------------------------------------------------------------------ harness methods
    def _reconstruct(self, x):
        masks = F.softmax(self.segmenter(x), 1)
        z, z_bg, _ = self.encode_means(x, masks)
        da = self.config.appearance_dim
        return self.from_vae(self.render(z[..., :da], z[..., da:], z_bg), x)

    @evaluation
    def masks(self, x):
        """float32 ``(B, K, H, W)``: Omega's soft masks (sum to 1 over K)."""
        return F.softmax(self.segmenter(x), 1).float()

    @evaluation
    def segment(self, x):
        """int64 ``(B, H, W)``: the channel of Omega's largest mask."""
        return self.segmenter(x).argmax(1)

    @evaluation
    def reconstruct(self, x):
        """float32 ``(B, C, H, W)``: the VAE's fused reconstruction at the posterior means."""
        return self._reconstruct(x).clamp(0, 1).float()

    @evaluation
    def latents(self, x):
        """float32 ``(B, K - 1, appearance_dim + mask_dim)``: posterior means of the foreground slots."""
        return self.encode_means(x, F.softmax(self.segmenter(x), 1))[0].float()


def parameter_counts(model) -> dict:
    out = {name: sum(p.numel() for p in mod.parameters()) for name, mod in model.named_children()}
    out["total"] = sum(p.numel() for p in model.parameters())
    return out


__all__ = ["Cis", "frozen_call", "parameter_counts", "region_error"]
