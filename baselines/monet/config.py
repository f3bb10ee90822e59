"""Configs of MONet (Burgess et al. 2019), with and without the LDS prior; imports no torch.

Named configs: ``smoke`` / ``paper`` are the control group (no LDS prior,
``lds_weight = 0``); ``smoke-lds`` / ``paper-lds`` are MONet with the prior
(MONet+, ``lds_weight = 0.5``), otherwise identical. The config name is what
names the run directory (``runs/monet/<data>/<config>``) and tags the
submission's method, so the group shows in both; the method name itself is
"MONet" or "MONet+LDS" according to ``lds_weight`` whatever the config is
called (``--set lds_weight=0.5`` on ``paper`` also gives "MONet+LDS").

``paper`` holds the values the LDS issue / paper states for MONet (RMSprop
3e-4, batch 40, 600k steps, gradient-norm clip 5, likelihood weight 1,
beta 0.5, gamma 0.5, K = 7, latent 16, sigma_bg 0.09 / sigma_fg 0.11) and the
component-VAE layers of Burgess et al. (2019, Appendix B; tagged "paper?":
recalled from the paper, not re-checked against its text here, and equal to
what the ports use). Values neither states are marked "assumed" below,
with the reference implementation they follow
(GN = applied-ai-lab/genesis, OCL = addtt/object-centric-library, BD =
baudm/MONet-pytorch; from the team's reference notes on those implementations).

Modelling choices that change results
-------------------------------------
* **Mixture per colour channel** (``mixture = "channel"``; assumed): every
  MONet port (GN, OCL, BD) and MulMON -- the LDS authors' code base -- take
  the logsumexp over slots separately for each RGB channel; ``"pixel"``
  mixes the joint RGB pixel (official IODINE). Both are normalised
  densities, so the bounds are exact either way; keep it the same across
  MONet, IODINE and MulMON.
* **Sigmoid on the decoded RGB means** (``rgb_sigmoid``; assumed: GN and
  OCL; BD has none). Data are in [0, 1] (not BD's [-1, 1], which would
  double the effective precision of sigma 0.09 / 0.11).
* **Posterior scale** ``sigma = exp(s)``: the paper's "mu and log sigma"
  [paper?], as OCL (GN uses softplus(s + 0.5), BD a log-variance).
* **Encoder convs padded by 1** (assumed: GN, BD; OCL pads 0).
* **U-Net widths** (assumed: GN/OCL, 5 blocks at 64px, 32 then 64
  channels, 128-128 MLP bottleneck); BD's much wider U-Net is not followed.
* **Latent KL analytic** (OCL, BD; GN uses a Monte Carlo estimate) and
  **mask KL in log space without clamping** (GN/OCL clamp both
  distributions at 1e-5; with log-masks from logsigmoid the exact KL is
  finite, so no clamp is needed).
* **RMSprop** with PyTorch's ``alpha = 0.99``, ``eps = 1e-8`` (assumed;
  TensorFlow's RMSProp defaults, if the authors used them, are decay 0.9 and
  eps 1e-10 inside the square root).
* **LDS prior on the sampled slot latents** (``lds_latent = "sample"``,
  the z the decoder is given; ``"mean"`` puts it on the posterior means;
  assumed).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from ..common import lds
from ..common.config import TrainConfig

MIXTURES = ("channel", "pixel")  # as scenebench.baselines.common.slots.MIXTURES (that module imports torch)
LDS_LATENTS = ("sample", "mean")


@dataclass(frozen=True)
class MonetConfig(TrainConfig):
    num_slots: int = 7  # K: attention steps = slots (paper)
    latent_dim: int = 16  # per-slot latent (paper)
    # attention network: U-Net on (image, log scope) -> one logit per pixel
    unet_blocks: int = 0  # blocks per path; 0 = log2(image size) - 1 (5 at 64px, GN/OCL; assumed)
    unet_channels: int = 32  # width of the first blocks; the deepest three use twice as many (GN/OCL; assumed)
    unet_mlp: int = 128  # hidden width of the 3-layer MLP bottleneck (GN/OCL; assumed)
    # component VAE
    encoder_channels: tuple[int, ...] = (32, 32, 64, 64)  # 3x3 stride-2 convs (paper?; GN, OCL, BD)
    encoder_hidden: int = 256  # MLP hidden layer before (mu, log sigma) (paper?; GN, OCL, BD)
    decoder_channels: int = 32  # spatial-broadcast decoder width (paper?; GN, BD; OCL widens to 64)
    decoder_layers: int = 4  # unpadded 3x3 convs after the broadcast, then a 1x1 conv to RGB + mask logit (paper?)
    rgb_sigmoid: bool = True  # sigmoid on the decoded RGB means (assumed: GN, OCL)
    # likelihood and loss
    sigma_bg: float = 0.09  # pixel std of slot 0, the first attended (background) slot (paper)
    sigma_fg: float = 0.11  # pixel std of the other slots (paper)
    # "channel": mix each colour channel separately (MONet ports, MulMON); "pixel": the joint RGB pixel (assumed)
    mixture: Literal["channel", "pixel"] = "channel"
    recon_weight: float = 1.0  # weight of the mixture negative log-likelihood (paper: 1)
    beta: float = 0.5  # weight of KL(q(z|x, m) || N(0, I)) (paper)
    gamma: float = 0.5  # weight of KL(attention masks || decoded masks) (paper)
    # LDS prior (Li & Fisher 2021): training loss -= lds_weight * L_LDS; 0 = control group
    lds_weight: float = 0.0  # lambda (paper: 0.5 for MONet+)
    lds_sigma: float = 0.1  # sigma of N(0, sigma^2) on the off-diagonal cosine similarities (paper)
    # slot latents the prior sees: "sample" (the z fed to the decoder) or "mean" (posterior means) (assumed)
    lds_latent: Literal["sample", "mean"] = "sample"
    # optimiser
    rmsprop_alpha: float = 0.99  # RMSprop smoothing constant (assumed: PyTorch default)
    rmsprop_eps: float = 1e-8  # RMSprop epsilon (assumed: PyTorch default)
    sample_chunk: int = 10  # importance samples decoded at once in log_weights / elbo

    def validate(self) -> None:
        super().validate()
        lds.check_fields(self)
        if not 2 <= self.num_slots <= 255:
            raise ValueError(f"num_slots must be in [2, 255] (segment labels are uint8), got {self.num_slots}")
        self.check_positive("latent_dim", "unet_channels", "unet_mlp", "encoder_hidden", "decoder_channels",
                            "decoder_layers", "sample_chunk")
        if self.unet_blocks < 0:
            raise ValueError(f"unet_blocks must be >= 1 (or 0 = auto), got {self.unet_blocks}")
        if not self.encoder_channels or any(int(c) < 1 for c in self.encoder_channels):
            raise ValueError(f"encoder_channels must be a non-empty list of widths >= 1, got {self.encoder_channels}")
        if not (self.sigma_bg > 0 and self.sigma_fg > 0):
            raise ValueError(f"sigma_bg and sigma_fg must be > 0, got {self.sigma_bg}, {self.sigma_fg}")
        if self.mixture not in MIXTURES:
            raise ValueError(f"mixture must be one of {', '.join(MIXTURES)}, got {self.mixture!r}")
        if self.lds_latent not in LDS_LATENTS:
            raise ValueError(f"lds_latent must be one of {', '.join(LDS_LATENTS)}, got {self.lds_latent!r}")
        if self.recon_weight < 0 or self.beta < 0 or self.gamma < 0:
            raise ValueError("recon_weight, beta and gamma must be >= 0")
        if not (0 < self.rmsprop_alpha < 1 and self.rmsprop_eps > 0):
            raise ValueError("need 0 < rmsprop_alpha < 1 and rmsprop_eps > 0")


LDS_WEIGHT = 0.5  # lambda of MONet+ (paper)

_SMOKE = MonetConfig(
    # tiny networks, same structure and loss: ~0.8 s per step of 16 64x64 images on one (shared) core,
    # 300 steps in ~4.5 min
    steps=300, batch_size=16, lr=1e-3, val_size=100, eval_every=100, log_every=20, checkpoint_every=100,
    eval_batch_size=50, grad_clip=5.0, num_slots=5, latent_dim=8, unet_channels=8, unet_mlp=32,
    encoder_channels=(8, 8, 16, 16), encoder_hidden=32, decoder_channels=16, decoder_layers=3,
)
_PAPER = MonetConfig(
    steps=600_000, batch_size=40, lr=3e-4, grad_clip=5.0,  # paper
    val_size=1000, eval_every=5000, log_every=100, checkpoint_every=5000, eval_batch_size=16,  # assumed
)

MONET_CONFIGS = {
    "smoke": _SMOKE,
    "smoke-lds": dataclasses.replace(_SMOKE, lds_weight=LDS_WEIGHT),
    "paper": _PAPER,
    "paper-lds": dataclasses.replace(_PAPER, lds_weight=LDS_WEIGHT),
}
