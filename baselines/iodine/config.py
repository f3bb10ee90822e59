"""Configs of IODINE (Greff et al. 2019), with and without the LDS prior; imports no torch.

Named configs: ``smoke`` / ``paper`` are the control group (no LDS prior,
``lds_weight = 0``); ``smoke-lds`` / ``paper-lds`` are IODINE with the prior
(``lds_weight = 1``), otherwise identical. The config name is what names the
run directory (``runs/iodine/<data>/<config>``) and tags the submission's
method, so the group shows in both; the method name itself is "IODINE" or
"IODINE+LDS" according to ``lds_weight`` whatever the config is called
(``--set lds_weight=1`` on ``paper`` also gives "IODINE+LDS").

``paper`` holds the values the LDS issue / paper states for IODINE (Adam
1e-4, batch 8, lr at step s = max(0.1 eta0 + 0.9 eta0 (1 - s / 1e6),
0.1 eta0), 600k steps, gradient-norm clip 5, beta 1, LDS lambda 1, K = 7,
latent 16 -- the LDS paper's reduction from IODINE's 64 -- and 5 refinement
iterations). Everything else follows the official IODINE code (DM =
google-deepmind/deepmind-research ``iodine/``), or, where DM is sized for
128x128 images and latent 64, the sizes of DM's own multi-dSprites config
(64x64, latent 16, LSTM 128) and of MulMON (NanboLi/MulMON, whose refinement
network and decoder are an IODINE at 64px with latent 16); ZL =
zhixuan-lin/IODINE, the PyTorch port. From the team's reference notes on
those implementations; tags: "paper" (the issue / paper), "DM" (official
code), "assumed" (a choice, with the implementation it follows).

Modelling choices that change results
-------------------------------------
* **Likelihood: a Gaussian mixture, sigma = 0.1 for every slot, mixed per
  colour channel** (``pixel_sigma``, ``mixture = "channel"``; assumed: ZL
  and MulMON use exactly this, and so do MONet and MulMON in this project, so
  the three models are comparable). Official IODINE uses a **Logistic** with
  scale 0.03 mixing the joint RGB pixel; ``mixture = "pixel"`` gives the
  joint-pixel mixture (still Gaussian).
* **Prior N(0, prior_scale^2 I), prior_scale = 1** (paper: the IODINE paper
  writes a standard normal prior, as ZL and this project's MONet do; where an
  implementation and the paper disagree the paper's equation is the model).
  Official code puts the posterior family at zero parameters, which gives
  scale sqrt(softplus(0)) = sqrt(ln 2) ~ 0.833: ``--set prior_scale=0.8326``.
  The KL in the loss is analytic (DM).
* **Posterior parameters** ``zp = [loc, s]`` per slot with
  ``scale = sqrt(softplus(s))`` (``posterior_scale = "softplus-var"``; DM);
  ``"log-var"`` is ZL's / MulMON's ``scale = exp(s / 2)``.
* **Learned initial posterior** ``zp_0`` (2 D numbers) shared by all slots,
  Glorot-uniform initialised (DM: a TF variable with the default
  initialiser); the slots differ from the first sample on.
* **Refinement** ``zp <- zp + Linear(LSTM(...))`` (DM's ResHead), 5
  iterations (paper), the LSTM state zeroed for every image (DM). Inputs (DM's
  defaults): per slot the image, the decoded RGB means, the mask logits, the
  softmax masks, the posterior responsibility ``softmax_k(sum_c log
  N(x | k))`` (no mask weighting), the gradients of the loss w.r.t. the
  means and the mask logits, the counterfactual ``log p(x) - log p_-k(x)``
  (the mixture without slot k, renormalised over the other K - 1 logits),
  the pixel log-likelihood ``log p(x)`` and 2 coordinate channels; flat: ``zp``
  and the gradient w.r.t. ``zp``. Stop-gradient (DM): the three gradients, the
  counterfactual and the log-likelihood; image, means, logits, masks,
  responsibilities and ``zp`` carry gradients (so training back-propagates
  through the whole chain of updates). Layer norm with a learnable per-channel
  scale and offset (DM; ``layer_norm_affine = False`` is ZL's / MulMON's
  parameter-free one) on the same five, each over all of a slot's (or, for
  the log-likelihood, an image's) elements. DM's constant "capacity" inputs
  (0.5, marked legacy) and the constant 5.0 it appends to z before decoding
  (legacy) are left out: with unpadded decoder convs the latter is exactly a
  bias.
* **The loss the gradient inputs come from** is the iteration's
  ``-log p(x | z_t) + beta KL(q_t || p)`` per image (its gradient summed over
  the batch, i.e. each image's own gradient, as ZL; DM uses the batch mean,
  which the layer norm undoes up to its eps but which would make an image's
  inference depend on the batch size). Never the LDS term: inference, and so
  ``elbo`` / ``log_weights``, do not depend on lambda.
* **Iteration weights** ``linspace(0, 1, T + 1)`` = 0, .2, .4, .6, .8, 1 over
  the T + 1 = 6 decodes (the initial guess gets 0; DM), not normalised (DM):
  the training loss is about 3x a negative ELBO. ``iter_weights = "zl"``
  gives ZL's (t + 1) / (T + 1).
* **LDS prior at every iteration, weighted like the iteration's loss**
  (assumed: the objective of iteration t is ELBO_t + lambda L_LDS(z_t), so
  the sum is sum_t w_t (ELBO_t + lambda L_LDS(z_t)); the initial guess, a
  draw from the slot-shared initial posterior, gets weight 0 and no LDS
  term). ``lds_latent = "sample"``: the z_t the decoder is given (as MONet
  here); ``"mean"``: the posterior means. Training only.
* **Sizes for 64x64, latent 16** (assumed, following DM's layout at the
  widths of MulMON and DM's multi-dSprites config): refinement CNN 4 convs
  3x3 stride 2 padding 1 (DM's SAME), 32-32-64-64 channels (MulMON), ELU
  (DM), global mean pool (DM's avg_pool), MLP 128-128 with a linear last layer
  (DM's [256, 256] halved; DM multi-dSprites: [128]), LSTM 128 (DM
  multi-dSprites, MulMON). Decoder: the shared spatial-broadcast decoder
  (its first layer computed without tiling z, same parameters and output),
  4 unpadded 3x3 convs 32 wide on a 72x72 broadcast then a 1x1 conv
  (MulMON, and MONet here; DM: 64 wide, SAME padding, final 3x3), ELU (DM),
  no sigmoid on the RGB means (DM, MulMON; ZL has one: ``rgb_sigmoid``).
* **Adam** betas 0.9 / 0.999, eps 1e-8 (assumed: PyTorch defaults, as
  MulMON; DM uses beta1 0.95 and its own lr and decay).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from ..common import lds
from ..common.config import TrainConfig

MIXTURES = ("channel", "pixel")  # as scenebench.baselines.common.slots.MIXTURES (that module imports torch)
LDS_LATENTS = ("sample", "mean")
POSTERIOR_SCALES = ("softplus-var", "log-var")
ITER_WEIGHTS = ("linspace", "zl")
PADDINGS = ("valid", "same")
ACTIVATIONS = ("elu", "relu")
POOLS = ("mean", "flatten")
OFFICIAL_PRIOR_SCALE = 0.8325546111576977  # sqrt(ln 2): DM's prior, sqrt(softplus(0))


def iteration_weights(kind: str, num_iters: int) -> list[float]:
    """Weights of the ``num_iters + 1`` decodes in the training loss.

    >>> iteration_weights("linspace", 5)
    [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    >>> [round(w, 4) for w in iteration_weights("zl", 2)]
    [0.3333, 0.6667, 1.0]
    """
    if kind == "linspace":
        return [t / num_iters for t in range(num_iters + 1)]
    if kind == "zl":
        return [(t + 1) / (num_iters + 1) for t in range(num_iters + 1)]
    raise ValueError(f"iter_weights must be one of {', '.join(ITER_WEIGHTS)}, got {kind!r}")


def paper_lr(step: int, lr: float, decay_steps: int, final: float) -> float:
    """``max(final lr + (1 - final) lr (1 - step / decay_steps), final lr)``: linear to ``final * lr``, then flat.

    >>> [round(paper_lr(s, 1e-4, 1_000_000, 0.1), 12) for s in (0, 500_000, 1_000_000, 2_000_000)]
    [0.0001, 5.5e-05, 1e-05, 1e-05]
    """
    frac = 1.0 - step / decay_steps if decay_steps > 0 else 0.0
    return max(final * lr + (1.0 - final) * lr * frac, final * lr)


@dataclass(frozen=True)
class IodineConfig(TrainConfig):
    num_slots: int = 7  # K (paper)
    latent_dim: int = 16  # per-slot latent (paper: the LDS paper's reduction from IODINE's 64)
    num_iters: int = 5  # refinement iterations T; T + 1 decodes (paper)
    # posterior and prior
    posterior_scale: Literal["softplus-var", "log-var"] = "softplus-var"  # sqrt(softplus(s)) (DM) or exp(s/2) (ZL)
    prior_scale: float = 1.0  # p(z) = N(0, prior_scale^2) (paper; DM's code: sqrt(ln 2) ~ 0.833)
    # refinement network
    refine_channels: tuple[int, ...] = (32, 32, 64, 64)  # 3x3 stride-2 convs, padding 1 (assumed: MulMON widths)
    refine_pool: Literal["mean", "flatten"] = "mean"  # CNN map -> vector: global mean (DM) or flatten (MulMON)
    refine_mlp: tuple[int, ...] = (128, 128)  # MLP after the CNN, ELU between, last linear (assumed: DM's halved)
    lstm_hidden: int = 128  # LSTM width (assumed: DM multi-dSprites, MulMON)
    layer_norm_affine: bool = True  # learnable scale/offset in the input layer norms (DM; ZL/MulMON: none)
    # decoder (spatial broadcast)
    decoder_channels: int = 32  # conv width (assumed: MulMON, MONet here; DM: 64)
    decoder_layers: int = 4  # 3x3 convs after the broadcast (DM, MulMON)
    decoder_padding: Literal["valid", "same"] = "valid"  # unpadded on an enlarged grid (MulMON) or SAME (DM)
    decoder_final_kernel: int = 1  # last conv to RGB + mask logit (assumed: MulMON; DM: 3)
    activation: Literal["elu", "relu"] = "elu"  # of the decoder and the refinement CNN/MLP (DM; MulMON: relu)
    rgb_sigmoid: bool = False  # sigmoid on the decoded RGB means (DM, MulMON: none; ZL: sigmoid)
    # likelihood and loss
    pixel_sigma: float = 0.1  # Gaussian pixel std, every slot (assumed: ZL, MulMON, MONet here; DM: Logistic 0.03)
    # "channel": mix each colour channel separately (ZL, MulMON, MONet here); "pixel": the joint pixel (DM)
    mixture: Literal["channel", "pixel"] = "channel"
    beta: float = 1.0  # weight of KL(q || p) (paper)
    iter_weights: Literal["linspace", "zl"] = "linspace"  # t / T (DM) or (t + 1) / (T + 1) (ZL)
    # LDS prior (Li & Fisher 2021): training loss -= lds_weight * sum_t w_t L_LDS(z_t); 0 = control group
    lds_weight: float = 0.0  # lambda (paper: 1 for IODINE with the prior)
    lds_sigma: float = 0.1  # sigma of N(0, sigma^2) on the off-diagonal cosine similarities (paper)
    # slot latents the prior sees: "sample" (the z fed to the decoder) or "mean" (posterior means) (assumed)
    lds_latent: Literal["sample", "mean"] = "sample"
    # optimiser: Adam, lr linearly to lr_final * lr over lr_decay_steps, then flat (paper)
    lr_decay_steps: int = 1_000_000  # (paper)
    lr_final: float = 0.1  # fraction of lr reached at lr_decay_steps (paper)
    adam_beta1: float = 0.9  # (assumed: PyTorch default, MulMON; DM 0.95)
    adam_beta2: float = 0.999  # (assumed: PyTorch default)
    adam_eps: float = 1e-8  # (assumed: PyTorch default)
    sample_chunk: int = 10  # importance samples decoded at once in log_weights / elbo

    def validate(self) -> None:
        super().validate()
        lds.check_fields(self)
        if not 2 <= self.num_slots <= 255:
            raise ValueError(f"num_slots must be in [2, 255] (segment labels are uint8), got {self.num_slots}")
        self.check_positive("latent_dim", "num_iters", "lstm_hidden", "decoder_channels", "decoder_layers",
                            "sample_chunk", "lr_decay_steps")
        if not self.refine_channels or any(int(c) < 1 for c in self.refine_channels):
            raise ValueError(f"refine_channels must be a non-empty list of widths >= 1, got {self.refine_channels}")
        if any(int(c) < 1 for c in self.refine_mlp):
            raise ValueError(f"refine_mlp widths must be >= 1, got {self.refine_mlp}")
        if self.decoder_final_kernel < 1 or self.decoder_final_kernel % 2 == 0:
            raise ValueError(f"decoder_final_kernel must be odd and >= 1, got {self.decoder_final_kernel}")
        for name, allowed in (("mixture", MIXTURES), ("lds_latent", LDS_LATENTS),
                              ("posterior_scale", POSTERIOR_SCALES), ("iter_weights", ITER_WEIGHTS),
                              ("decoder_padding", PADDINGS), ("activation", ACTIVATIONS), ("refine_pool", POOLS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if not (self.pixel_sigma > 0 and self.prior_scale > 0):
            raise ValueError(f"pixel_sigma and prior_scale must be > 0, got {self.pixel_sigma}, {self.prior_scale}")
        if self.beta < 0:
            raise ValueError(f"beta must be >= 0, got {self.beta}")
        if not 0 < self.lr_final <= 1:
            raise ValueError(f"lr_final must be in (0, 1], got {self.lr_final}")
        if not (0 <= self.adam_beta1 < 1 and 0 <= self.adam_beta2 < 1 and self.adam_eps > 0):
            raise ValueError("need 0 <= adam_beta1, adam_beta2 < 1 and adam_eps > 0")


LDS_WEIGHT = 1.0  # lambda of IODINE with the prior (paper)

_SMOKE = IodineConfig(
    # tiny networks, same structure, loss and 5 iterations: ~0.65-0.75 s per step of 4 64x64 images on one core
    # (~0.4 s on two; each step decodes 6 times and back-propagates through the decoder 5 times more for the
    # refinement's gradient inputs), a validation pass of 100 images ~19 s; 300 steps in ~4.7 min
    steps=300, batch_size=4, lr=1e-3, val_size=100, eval_every=100, log_every=20, checkpoint_every=100,
    eval_batch_size=50, grad_clip=5.0, num_slots=5, latent_dim=8, refine_channels=(8, 8, 16, 16),
    refine_mlp=(32,), lstm_hidden=32, decoder_channels=16, decoder_layers=3,
)
_PAPER = IodineConfig(
    steps=600_000, batch_size=8, lr=1e-4, grad_clip=5.0,  # paper
    val_size=1000, eval_every=5000, log_every=100, checkpoint_every=5000, eval_batch_size=16,  # assumed
)

IODINE_CONFIGS = {
    "smoke": _SMOKE,
    "smoke-lds": dataclasses.replace(_SMOKE, lds_weight=LDS_WEIGHT),
    "paper": _PAPER,
    "paper-lds": dataclasses.replace(_PAPER, lds_weight=LDS_WEIGHT),
}
