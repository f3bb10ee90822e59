"""Configs of CIS (Yang, Chen & Soatto, CVPR 2020) and of MONet in the CIS frame; imports no torch.

Sources: the paper's equations define the model; where the authors' released
TF code (``ChenYutongTHU/Learning-to-manipulate-individual-objects-in-an-image-Implementation``,
read for ``/work/shared/reference/cis-model.md``; no code copied) differs, its
choice is a config option. Every value is tagged "paper", "paper?" (recalled
from the paper, not re-checked against its text), "code" (the authors' code or
their per-dataset scripts) or "assumed".

One training run, four phases chosen by the step
------------------------------------------------
The phase of a step is a pure function of the step (resume needs nothing
else); ``steps`` past the last scheduled phase stay in the last phase::

    [0, pretrain)              psi on one random box per step (and its complement), L1 inside the mask (code)
    [.., + cis_steps)          alternation by step: psi_iters psi steps, then omega_iters Omega steps (code 1:3)
    [.., + vae_steps)          the per-object VAE; Omega and psi frozen (code: train_VAE)
    [.., + pc_steps)           only when perceptual_consistency: Omega on -gamma L_CIS + eta L_PC, psi
                               keeps alternating, the VAE frozen (code: train_PC)

Batch size per phase: the training engine draws ``batch_size`` images per
step; each phase uses the first ``<phase>_batch`` of them (0 = all), so
``batch_size`` is the largest phase batch (16 in ``paper``; code: pretrain
16, CIS 8, VAE 16, PC 4).

Modelling choices that change results
-------------------------------------
* **CIS normaliser** (``cis_normaliser``): ``"paper"`` (Eq. of the issue)
  ``L_CIS = sum_k <Om_k, |psi_k - x|> / (<Om_k, |x|> + eps)``; ``"code"``
  divides by ``eps + D_k``, ``D_k`` the error inside ``Om_k`` of psi's
  *unconditioned* output (all-hidden input, same edges). Omega maximises the
  ratio either way (the code's ``1 - N / (eps + D)`` minimised is the same
  objective up to a constant). ``eps`` is in summed-L1 units (code 30 for the
  64x64 datasets); the paper configs use it for both normalisers (assumed).
* **What psi minimises in the CIS phase** (``inpainter_loss``): ``"cis"``
  (paper: the adversarial game, psi minimises the same ratio; for the code
  normaliser its ``D`` is detached so psi cannot win by inflating its
  unconditioned error) or ``"l1"`` (code: sum_k mean_b <Om_k, |psi_k - x|> / (H W C)).
* **Edges** (``edge_mode``): ``"full"`` (code): Sobel edges of the whole
  image, so psi sees the shape of the hidden region through its edge input;
  ``"masked"``: edges of the visible context only (edges times 1 - Om_k).
  Binarisation (``edge_style``, always on the raw image): ``"abs-minmax"``
  (code, 64x64 data; the default): |Sobel| summed over colours, min-max per
  image and direction, ``> edge_threshold``; ``"signed"`` (code, flying
  animals): the signed Sobel responses summed over colours, divided by
  ``edge_scale`` (15), ``|.| > edge_threshold`` (0.04), so opposite colour
  changes cancel and the threshold is absolute.
* **The VAE's view** (code, flying animals only): ``vae_normalise`` min-max
  normalises the image per image and channel for the VAE stage only (after
  the CIS losses; a flat channel gives 0); ``vae_scale`` (0.5: 192x256 ->
  96x128) nearest-resizes the image and the opened masks, so the VAE, its
  losses and its latents live at that resolution. ``reconstruct`` (and the
  validation L1) resizes the fused image back bilinearly and undoes the
  min-max normalisation with the input's per-channel range (both assumed;
  the code resizes back only for its summaries); ``segment``/``masks`` come
  from Omega at full resolution. With PC, x^ and its labels are resized back
  the same way before Omega sees them (assumed).
* **ImageNet initialisation** (``imagenet_init``, ``imagenet_checkpoint``;
  code: flying animals' Omega starts from an ImageNet ResNet-v2-50): no TF
  checkpoint or download exists here, so ``imagenet_checkpoint`` is a
  PyTorch ``state_dict`` of a torchvision-layout ResNet-50, mapped by
  position (:func:`.segmentation.load_imagenet`: the root, bottleneck and
  shortcut conv weights, biases zeroed; with ``resnet_norm="preact"`` also
  the BatchNorms after conv1/conv2; not the v2 pre-activation/post-norm
  BatchNorms, which torchvision's v1 net lacks; not the head). A missing or
  unfitting file is a ConfigError at model construction, as is
  ``imagenet_init`` with no file; a model restored from a checkpoint does
  not read the file again.
* **Perceptual consistency** (``pc_loss``): ``"paper"``: k ~ U over the
  foreground slots (per image), z^_k ~ N(z_k, I), x^ decoded with z_k
  replaced, re-segmented and re-encoded to z-bar,
  ``L_PC = sum_{l != k} ||z_l - zbar_l|| + ||z^_k - zbar_k||`` (L2 norms;
  z = appearance and shape means); ``"code"``: softmax cross-entropy of
  Omega's logits on x^ against the (detached) decoded masks of the perturbed
  latents, the moved object behind the others, summed over pixels
  (``pc_variants`` perturbations; code 6).
* **PC perturbation** (``pc_perturbation``): ``"gaussian"`` (paper; the
  default): per image a random foreground slot k, ``z^_k ~ N(z_k, I)`` on
  appearance and shape; ``"code"`` (needs K = 3, 2 objects + background,
  checked when ``perceptual_consistency``): the 2 shape dims of largest
  batch-mean KL; one object k in {0, 1} per step (shared by the batch and the
  variants); per variant those two dims of k's shape mean *replaced* by
  U(-1, 1) per image, the mask decoded (sigmoid) and put behind the other
  object b (``(1 - m_b) m_new``), background ``1 - m_new - m_b``, labels in
  the slots' order, x^ from the fusion nets (k's appearance with the new
  mask, b's fusion output, the background times the background mask). All
  draws from the step's generator. The code's PC-only mask-VAE augmentation
  (masks tiled 4x, shifted U(-30, 30)) is not implemented: the KL ranking
  uses the real masks.
* **VAE gradient routing** (``fusion_gradients``): ``"separate"`` (code):
  each loss trains only its own part (the fusion nets see detached decoder
  outputs); ``"joint"``: every VAE loss reaches every VAE part.
* **Background slot** (assumed): per image, Omega's channel of largest mass
  (after the 3x3 opening, code); the code picks it once per *batch*, which
  makes predictions depend on the batch. The other K - 1 channels are the
  foreground slots (``latents``: (B, K - 1, appearance_dim + mask_dim)).
* **Frozen Omega** (VAE phase, harness methods) runs in eval mode (BatchNorm
  running statistics); the code runs it with batch statistics (flagged). In
  psi steps Omega runs in train mode without gradient, so the ResNet's
  running statistics also move on psi steps (assumed; the SegNet has none).
* **ResNet blocks** (``resnet_norm``): ``"code"``: the authors' ResNet-v2-50
  called without ``resnet_arg_scope``: BatchNorm (no scale, eps 1e-3,
  momentum 1e-3) only as each unit's pre-activation and after the last unit,
  biased convs with ReLU inside the bottlenecks; ``"preact"``: the standard
  pre-activation ResNet-50 (BN + ReLU before every conv). Output stride 4,
  per-block atrous rates 1, 2, 4, 8 (code), summed 4-way dilated 3x3 head.
* **Capacity** (Burgess et al.): ``mask_weight * |KL_mask - C|``,
  ``C = capacity_rate * vae_step`` (code: uncapped; ``capacity_max > 0`` caps it).
* Adam (betas 0.9/0.999, eps 1e-8) for every module, constant rates, no
  gradient clipping (code).

Configs
-------
``smoke`` / ``smoke-pc``: SegNet Omega at width 8, a narrow inpainter and
VAE, 300 steps on 64x64 Multi-Texture ``cis`` (a few minutes on one core);
the paper's equations. ``paper``: the ResNet-50 DeepLab Omega, full psi and
VAE, K = 6 (the paper's comparison), the paper's equations, the code's
Multi-dSprites/Multi-Texture script values elsewhere; ``paper-multi-texture``
and ``paper-multi-dsprites`` (K = 5, the scripts' beta and edge thresholds);
``paper-pc`` (2-object Multi-Texture, SegNet Omega, K = 3, eta 1e-3, eps 50;
the paper's L_PC and Gaussian perturbation); ``smoke-pc-off`` /
``paper-pc-off`` (``smoke-pc`` / ``paper-pc`` without the PC phase: the
control of ``reproduce cis-table2``); ``paper-pc-code`` (``paper-pc``
with the code's L_PC, 6 variants and the code's perturbation);
``paper-code`` (``paper`` with every code choice: code normaliser, L1 psi
loss, code PC loss and perturbation -- the latter needs K = 3, so turning PC
on there also needs ``num_masks=3``); ``paper-flying-animals`` (192x256
Flying Animals, the code's script values: K = 6, batches 4, lr 1e-4 for psi
and Omega, eps 100, 1 psi : 2 Omega steps, dims/betas 20/4 appearance, 30/4
background, 20/500/5e-5 shape, ASPP 6..24, no input upsampling, signed
edges, normalised half-resolution VAE, ImageNet-initialised ResNet: it
needs ``--set imagenet_checkpoint=PATH`` and refuses to build without it,
``--set imagenet_init=false`` trains Omega from scratch); ``smoke-flying-animals``
(``smoke`` plus the signed edges and the normalised half-resolution VAE, no
ImageNet). ``cis-monet``: ``smoke``, ``paper``, ``paper-multi-texture``,
``paper-multi-dsprites``, ``paper-flying-animals`` (K = 6, the flying
segmenter settings with ImageNet init, batch 4).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from ..common.config import TrainConfig
from ..monet.config import MonetConfig

PHASES = ("pretrain", "cis", "vae", "pc")


@dataclass(frozen=True)
class SegmenterFields:
    """Omega's fields, shared by ``cis`` and ``cis-monet``."""

    num_masks: int = 6  # K (paper: 6 in the comparison; code scripts: 5 multi_dsprites/texture, 3 PC)
    segmenter: Literal["resnet", "segnet"] = "resnet"  # DeepLab-v2 ResNet-50 (paper) / SegNet (code: PC only)
    resnet_blocks: tuple[int, ...] = (3, 4, 6, 3)  # bottleneck units per block (ResNet-50; paper)
    resnet_width: int = 64  # bottleneck width of block 1 (x2 per block, outputs x4; ResNet-50)
    resnet_norm: Literal["code", "preact"] = "code"  # see the module docstring
    atrous_rates: tuple[int, ...] = (1, 2, 4, 8)  # per block, output stride 4 (code)
    aspp_dilations: tuple[int, ...] = (2, 4, 6, 8)  # summed parallel 3x3 head (code: 64x64 data; 6..24 flying)
    input_upsample: int = 2  # bilinear input upsampling before the ResNet (code: 2 for 64x64 data, 1 flying)
    segnet_channels: int = 64  # cnum of the SegNet variant (code)
    segnet_logit_scale: float = 0.1  # SegNet logits are divided by 10 (code)
    imagenet_init: bool = False  # ImageNet-initialised ResNet (code: flying_animals only); needs the checkpoint
    imagenet_checkpoint: str = ""  # torchvision-layout ResNet state_dict file (assumed: no TF checkpoint here)


@dataclass(frozen=True)
class CisConfig(SegmenterFields, TrainConfig):
    # ---- phases (steps) and per-phase batches (sub-samples of the drawn batch_size; 0 = all)
    pretrain_steps: int = 50_000  # inpainter pretraining (code README/scripts: inpainter-50000)
    cis_steps: int = 100_000  # adversarial Omega/psi (code checkpoint name CIS/model-100000)
    vae_steps: int = 100_000  # assumed (code: until 72 h)
    pc_steps: int = 0  # assumed; used only with perceptual_consistency
    pretrain_batch: int = 16  # code
    cis_batch: int = 8  # code
    vae_batch: int = 16  # code
    pc_batch: int = 4  # code
    psi_iters: int = 1  # inpainter steps per cycle (code)
    omega_iters: int = 3  # Omega steps per cycle (code; 2 for flying animals)
    # ---- learning rates (Adam, constant)
    lr_inpainter: float = 1e-4  # code (pretrain and CIS)
    lr_segmenter: float = 3e-5  # code (CIS and PC)
    lr_vae: float = 1e-4  # code
    adam_eps: float = 1e-8  # code (TF default)
    # ---- inpainter psi
    inpainter_channels: int = 32  # width of c1 (code: 64 x width factor 0.5)
    edge_threshold: float = 0.5  # binarised min-max-normalised |Sobel| (code: texture 0.5, dsprites 1e-4)
    edge_mode: Literal["full", "masked"] = "full"  # code: full-image edges
    edge_style: Literal["abs-minmax", "signed"] = "abs-minmax"  # code: 64x64 data / flying_animals
    edge_scale: float = 15.0  # "signed" only: summed signed Sobel / edge_scale, |.| > edge_threshold (code 15)
    # ---- CIS loss
    cis_normaliser: Literal["paper", "code"] = "paper"
    cis_eps: float = 30.0  # summed-L1 units (code: 30 for 64x64 data, 50 PC, 100 flying animals)
    cis_weight: float = 1.0  # gamma (code CIS_weight 1)
    inpainter_loss: Literal["cis", "l1"] = "cis"  # paper: the adversarial game; code: L1 in the mask
    # ---- per-object VAE
    appearance_dim: int = 5  # code (tex_dim)
    mask_dim: int = 10  # code
    background_dim: int = 5  # code (bg_dim)
    beta_appearance: float = 6.0  # code (multi_dsprites 6, multi_texture 4)
    beta_background: float = 6.0  # code
    mask_weight: float = 500.0  # code (mask_gamma)
    capacity_rate: float = 2e-5  # nats per VAE step (code)
    capacity_max: float = 0.0  # 0 = uncapped (code)
    vae_channels: int = 32  # conv width of encoders, decoders and fusion nets (code)
    vae_hidden: int = 256  # FC width (code)
    fusion_gradients: Literal["separate", "joint"] = "separate"  # code: separate
    vae_normalise: bool = False  # VAE input min-max per image and channel (code: flying_animals only)
    vae_scale: float = 1.0  # VAE resolution / image resolution, nearest resize (code: 0.5 flying_animals)
    # ---- perceptual cycle-consistency
    perceptual_consistency: bool = False
    pc_loss: Literal["paper", "code"] = "paper"
    pc_weight: float = 1e-3  # eta (code ita)
    pc_variants: int = 1  # perturbations per step (paper 1; code 6)
    pc_perturbation: Literal["gaussian", "code"] = "gaussian"  # paper: z^_k ~ N(z_k, I); code: see docstring

    def phase_lengths(self) -> tuple[int, int, int, int]:
        return (self.pretrain_steps, self.cis_steps, self.vae_steps,
                self.pc_steps if self.perceptual_consistency else 0)

    def phase(self, step: int) -> tuple[str, int]:
        """``(phase, step within it)`` of a global step (steps past the schedule stay in its last phase)."""
        start = 0
        last = None
        for name, length in zip(PHASES, self.phase_lengths()):
            if length <= 0:
                continue
            last = (name, start)
            if step < start + length:
                return name, step - start
            start += length
        if last is None:
            raise ValueError("no phase has steps")
        return last[0], step - last[1]

    def phase_batch(self, name: str) -> int:
        b = getattr(self, f"{name}_batch")
        return b if b > 0 else self.batch_size

    def validate(self) -> None:
        super().validate()
        validate_segmenter(self)
        lengths = self.phase_lengths()
        if any(n < 0 for n in lengths) or sum(lengths) < 1:
            raise ValueError(f"phase steps must be >= 0 and not all 0, got {lengths}")
        for name in PHASES:
            b = getattr(self, f"{name}_batch")
            if not 0 <= b <= self.batch_size:
                raise ValueError(f"{name}_batch must be in [0, batch_size={self.batch_size}], got {b}")
        if self.psi_iters < 1 or self.omega_iters < 1:
            raise ValueError("psi_iters and omega_iters must be >= 1")
        for name in ("lr_inpainter", "lr_segmenter", "lr_vae", "adam_eps", "cis_eps"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0")
        for name in ("inpainter_channels", "appearance_dim", "mask_dim", "background_dim", "vae_channels",
                     "vae_hidden", "pc_variants"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        for name in ("cis_weight", "beta_appearance", "beta_background", "mask_weight", "capacity_rate",
                     "capacity_max", "pc_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        for name, allowed in (("edge_mode", ("full", "masked")), ("cis_normaliser", ("paper", "code")),
                              ("inpainter_loss", ("cis", "l1")), ("fusion_gradients", ("separate", "joint")),
                              ("pc_loss", ("paper", "code")), ("edge_style", ("abs-minmax", "signed")),
                              ("pc_perturbation", ("gaussian", "code"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if self.num_masks < 2:
            raise ValueError("num_masks must be >= 2 (a background and at least one object)")
        if not self.edge_scale > 0 or not 0 < self.vae_scale <= 1:
            raise ValueError(f"need edge_scale > 0 and 0 < vae_scale <= 1, got {self.edge_scale}, {self.vae_scale}")
        if self.perceptual_consistency and self.pc_perturbation == "code":
            if self.num_masks != 3:
                raise ValueError(f"pc_perturbation='code' needs num_masks=3 (2 objects + background, as the "
                                 f"authors' code), got {self.num_masks}; use pc_perturbation=gaussian")
            if self.mask_dim < 2:
                raise ValueError(f"pc_perturbation='code' replaces 2 shape dimensions: needs mask_dim >= 2, "
                                 f"got {self.mask_dim}")


def validate_segmenter(c) -> None:
    if not 2 <= c.num_masks <= 255:
        raise ValueError(f"num_masks must be in [2, 255], got {c.num_masks}")
    if c.segmenter not in ("resnet", "segnet"):
        raise ValueError(f"segmenter must be resnet or segnet, got {c.segmenter!r}")
    if c.resnet_norm not in ("code", "preact"):
        raise ValueError(f"resnet_norm must be code or preact, got {c.resnet_norm!r}")
    if not c.resnet_blocks or len(c.atrous_rates) != len(c.resnet_blocks):
        raise ValueError("resnet_blocks and atrous_rates must be non-empty and equally long")
    if any(int(v) < 1 for v in (*c.resnet_blocks, *c.atrous_rates, *c.aspp_dilations)) or not c.aspp_dilations:
        raise ValueError("resnet_blocks, atrous_rates and aspp_dilations must be >= 1 (and a non-empty head)")
    if c.resnet_width < 1 or c.segnet_channels < 1 or c.input_upsample < 1 or not c.segnet_logit_scale > 0:
        raise ValueError("resnet_width, segnet_channels, input_upsample >= 1 and segnet_logit_scale > 0 needed")
    if (c.imagenet_init or c.imagenet_checkpoint) and c.segmenter != "resnet":
        raise ValueError(f"ImageNet initialisation (imagenet_init / imagenet_checkpoint) needs segmenter=resnet, "
                         f"got segmenter={c.segmenter!r}")


_SMOKE = CisConfig(
    # 64x64 multi_texture cis, one core: ~300 steps in a few minutes
    steps=300, pretrain_steps=60, cis_steps=120, vae_steps=120, pc_steps=0,
    batch_size=8, pretrain_batch=8, cis_batch=4, vae_batch=8, pc_batch=4,
    lr_inpainter=1e-3, lr_segmenter=3e-4, lr_vae=1e-3,  # faster than the paper for a few hundred steps (assumed)
    num_masks=3, segmenter="segnet", segnet_channels=8, inpainter_channels=4, vae_channels=8, vae_hidden=32,
    mask_weight=5.0, capacity_rate=2e-3,
    val_size=32, eval_every=100, log_every=20, checkpoint_every=100, eval_batch_size=32,
)
_PAPER = CisConfig(
    steps=250_000, batch_size=16,  # 50k pretrain + 100k CIS + 100k VAE
    val_size=200, eval_every=5000, log_every=100, checkpoint_every=5000, eval_batch_size=16,  # assumed (code: 200)
)
_PAPER_PC = dataclasses.replace(
    _PAPER, num_masks=3, segmenter="segnet", perceptual_consistency=True, pc_steps=50_000, cis_eps=50.0,
    beta_appearance=4.0, steps=300_000)  # code: PC script; the PC length is assumed

# flying animals (code: script/flying_animals/*.sh), 192x256 images
_FLYING = dict(
    edge_style="signed", edge_scale=15.0, edge_threshold=0.04,  # code: signed Sobel / 15, |.| > 0.04
    vae_normalise=True, vae_scale=0.5,  # code: min-max per image and channel, VAE at 96x128
)
_PAPER_FLYING = dataclasses.replace(
    _PAPER, **_FLYING,
    num_masks=6,  # code
    pretrain_steps=100_000,  # code README: inpainter-100000 (an example name; assumed as the length)
    steps=300_000,  # 100k pretrain + 100k CIS + 100k VAE (assumed, as paper)
    batch_size=4, pretrain_batch=4, cis_batch=4, vae_batch=4, pc_batch=4,  # code (pc_batch unused)
    lr_inpainter=1e-4, lr_segmenter=1e-4, lr_vae=1e-4,  # code
    cis_eps=100.0, psi_iters=1, omega_iters=2,  # code
    appearance_dim=20, beta_appearance=4.0, background_dim=30, beta_background=4.0,  # code
    mask_dim=20, mask_weight=500.0, capacity_rate=5e-5,  # code
    aspp_dilations=(6, 12, 18, 24), input_upsample=1, imagenet_init=True,  # code
)

CIS_CONFIGS = {
    "smoke": _SMOKE,
    "smoke-pc": dataclasses.replace(_SMOKE, perceptual_consistency=True, pc_steps=60, steps=360,
                                    cis_eps=50.0),
    # PC off: smoke-pc / paper-pc without the fine-tuning phase (every earlier step the same; cis-table2)
    "smoke-pc-off": dataclasses.replace(_SMOKE, cis_eps=50.0),
    "smoke-flying-animals": dataclasses.replace(_SMOKE, **_FLYING),  # the flying-animals options, no ImageNet
    "paper": _PAPER,
    "paper-multi-texture": dataclasses.replace(_PAPER, num_masks=5, beta_appearance=4.0, edge_threshold=0.5),
    "paper-multi-dsprites": dataclasses.replace(_PAPER, num_masks=5, beta_appearance=6.0, edge_threshold=1e-4),
    "paper-flying-animals": _PAPER_FLYING,
    "paper-pc": _PAPER_PC,
    "paper-pc-off": dataclasses.replace(_PAPER_PC, perceptual_consistency=False, pc_steps=0, steps=250_000),
    "paper-pc-code": dataclasses.replace(_PAPER_PC, pc_loss="code", pc_variants=6,
                                         pc_perturbation="code"),  # code: the PC script's loss and perturbation
    "paper-code": dataclasses.replace(_PAPER, cis_normaliser="code", inpainter_loss="l1", pc_loss="code",
                                      pc_variants=6, pc_perturbation="code"),
}


@dataclass(frozen=True)
class CisMonetConfig(SegmenterFields, MonetConfig):
    """MONet's component VAE and loss with Omega's K softmax masks in place of the attention recursion.

    ``num_slots`` (MONet's K) is ignored: the slots are Omega's ``num_masks``
    channels; slot 0 (Omega's first channel) gets ``sigma_bg``. Adam at
    ``lr`` (the CIS frame's optimiser; assumed) instead of MONet's RMSprop.
    """

    adam_eps: float = 1e-8

    def validate(self) -> None:
        super().validate()
        validate_segmenter(self)


_MONET_SMOKE = CisMonetConfig(
    steps=300, batch_size=8, lr=1e-3, val_size=32, eval_every=100, log_every=20, checkpoint_every=100,
    eval_batch_size=32, num_masks=3, segmenter="segnet", segnet_channels=8, latent_dim=8,
    encoder_channels=(8, 8, 16, 16), encoder_hidden=32, decoder_channels=16, decoder_layers=3,
)
_MONET_PAPER = CisMonetConfig(
    steps=200_000, batch_size=16, lr=1e-4,  # assumed: the CIS frame's Adam and batch
    val_size=200, eval_every=5000, log_every=100, checkpoint_every=5000, eval_batch_size=16,
)
CIS_MONET_CONFIGS = {
    "smoke": _MONET_SMOKE,
    "smoke-flying-animals": _MONET_SMOKE,  # the smoke SegNet (no ImageNet); the name pairs it with cis's
    "paper": _MONET_PAPER,
    "paper-multi-texture": dataclasses.replace(_MONET_PAPER, num_masks=5),
    "paper-multi-dsprites": dataclasses.replace(_MONET_PAPER, num_masks=5),
    "paper-flying-animals": dataclasses.replace(
        _MONET_PAPER, num_masks=6, aspp_dilations=(6, 12, 18, 24), input_upsample=1, imagenet_init=True,  # code
        batch_size=4),  # assumed: the CIS frame's flying-animals batch (code: CIS batch 4)
}
