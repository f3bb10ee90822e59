"""Configs of the VITAE paper's models (U-VITAE, C-VITAE) and its VAE family; imports no torch.

Source: Skafte Detlefsen & Hauberg, "Explicit Disentanglement of Appearance
and Perspective in Generative Models", NeurIPS 2019, and its supplement
(architecture tables, section 1 ELBOs, training details). Values the
supplement states are marked "paper"; the rest are "assumed".

Named configs, the same four for every model: ``smoke`` / ``paper`` for
MNIST (28x28x1, Bernoulli pixels) and ``smoke-smpl`` / ``paper-smpl`` for
the SMPL bodies (400x200x1, Gaussian pixels with sigma^2 = 0.1). The widths
are not derived from the data: pick the config that matches the dataset
(the model checks the likelihood against the images' channels only).

Epochs as steps. The training loop counts optimisation steps, so the paper's
epochs are converted with the full training split: MNIST 60,000 images /
batch 512 = 117 batches per epoch (the last incomplete one dropped), 2,000
epochs = 234,000 steps; SMPL 10,000 / 256 = 39 batches, 5,000 epochs =
195,000 steps. (``val_size`` images are held out of the split, which makes a
real epoch slightly shorter; the step counts keep the paper's number of
updates.) The KL warm-up w = min(epoch / warmup, 1) with warmup = half the
epochs becomes the step schedule w = min(step / warmup_steps, 1) with
``warmup_steps`` = half the steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..common.config import TrainConfig

TRANSFORMERS = ("affine", "affine-decomposed", "affine-diffeo", "cpab")

MNIST_STEPS = 2000 * (60_000 // 512)  # 234,000 (paper: 2,000 epochs of batch 512)
SMPL_STEPS = 5000 * (10_000 // 256)  # 195,000 (paper: 5,000 epochs of batch 256)


@dataclass(frozen=True)
class VaeConfig(TrainConfig):
    """The VAE family (one field set; each model uses the fields of its own penalty)."""

    likelihood: Literal["bernoulli", "gaussian"] = "bernoulli"  # paper: Bernoulli (MNIST), Gaussian (SMPL)
    pixel_variance: float = 0.1  # Gaussian likelihood: fixed sigma^2 (paper, SMPL)
    likelihood_eps: float = 1e-5  # Bernoulli means clamped to [eps, 1 - eps] (assumed; the authors' code: 1e-5)
    latent_dim: int = 4  # d (paper: 4 for the VAE family)
    encoder_widths: tuple[int, ...] = (128, 64)  # each of the mu / sigma^2 towers (paper, MNIST)
    decoder_widths: tuple[int, ...] = (64, 64)  # (paper, MNIST)
    leaky_slope: float = 0.1  # LeakyReLU slope (paper)
    variance_floor: float = 1e-6  # sigma^2 = softplus(.) + floor (assumed)
    beta: float = 1.0  # KL weight (VAE 1; beta-VAE: 8, assumed from the authors' inductive_bias.py)
    warmup_steps: int = 1000  # KL warm-up w = min(step / warmup_steps, 1); 0 = off
    tc_dataset_size: int = 60_000  # beta-TCVAE: N of the minibatch-weighted-sampling estimator (only shifts the
    # logged TC by (d - 1) log(N B); no effect on gradients)
    dip_lambda_od: float = 10.0  # DIP-VAE-II off-diagonal weight (assumed; Kumar et al. 2018)
    dip_lambda_d: float = 10.0  # DIP-VAE-II diagonal weight (assumed; lambda_d = lambda_od)
    sample_chunk: int = 50  # importance samples evaluated at once in log_weights

    def validate(self) -> None:
        super().validate()
        self.check_positive("latent_dim", "sample_chunk", "tc_dataset_size")
        if not self.encoder_widths or not self.decoder_widths or min(self.encoder_widths + self.decoder_widths) < 1:
            raise ValueError("encoder_widths and decoder_widths must be non-empty lists of positive widths")
        if not self.pixel_variance > 0 or not 0 < self.likelihood_eps < 0.5 or self.variance_floor < 0:
            raise ValueError("need pixel_variance > 0, 0 < likelihood_eps < 0.5 and variance_floor >= 0")
        if self.beta < 0 or self.warmup_steps < 0 or self.dip_lambda_od < 0 or self.dip_lambda_d < 0:
            raise ValueError("beta, warmup_steps, dip_lambda_od and dip_lambda_d must be >= 0")


@dataclass(frozen=True)
class VitaeConfig(VaeConfig):
    """U-VITAE / C-VITAE: ``latent_dim`` is the appearance dimension, ``perspective_dim`` the perspective one."""

    latent_dim: int = 2  # appearance z_A (paper: d = 2 + 2)
    perspective_dim: int = 2  # perspective z_P (paper)
    encoder_widths: tuple[int, ...] = (64, 32)  # about half the VAE's neurons per encoder (paper)
    decoder_widths: tuple[int, ...] = (32, 32)  # appearance decoder and the decoder of theta (paper)
    transformer: Literal["affine", "affine-decomposed", "affine-diffeo", "cpab"] = "affine-diffeo"  # assumed
    # (the authors' code's default)
    tessellation: tuple[int, ...] = (2, 4)  # CPAB cells (paper: [2, 4]); zero boundary, no volume preservation
    cpab_steps: int = 50  # CPAB integration steps (libcpab's default)
    theta_init_std: float = 0.01  # std of the theta decoder's last weights, bias 0: warps start near identity

    def validate(self) -> None:
        super().validate()
        if self.perspective_dim < 1 or self.cpab_steps < 1 or self.theta_init_std < 0:
            raise ValueError("need perspective_dim >= 1, cpab_steps >= 1 and theta_init_std >= 0")
        if len(self.tessellation) != 2 or min(self.tessellation) < 1:
            raise ValueError(f"tessellation must be two positive cell counts, got {self.tessellation}")


_SMOKE = dict(steps=300, batch_size=64, lr=1e-3, val_size=200, eval_every=100, log_every=20, checkpoint_every=100,
              warmup_steps=150, eval_batch_size=100)
_PAPER = dict(steps=MNIST_STEPS, batch_size=512, lr=1e-4, val_size=1000, eval_every=5000, log_every=100,
              checkpoint_every=5000, warmup_steps=MNIST_STEPS // 2, eval_batch_size=512)
_SMPL = dict(likelihood="gaussian", pixel_variance=0.1)
_SMOKE_SMPL = dict(_SMOKE, **_SMPL, steps=100, batch_size=16, val_size=16, eval_every=50, checkpoint_every=50,
                   warmup_steps=50, eval_batch_size=16)
_PAPER_SMPL = dict(_PAPER, **_SMPL, steps=SMPL_STEPS, batch_size=256, val_size=500, warmup_steps=SMPL_STEPS // 2,
                   eval_batch_size=256)


def _configs(cls, **fixed) -> dict:
    smpl_vae = dict(encoder_widths=(256, 128), decoder_widths=(128, 256))  # paper (SMPL)
    smpl_vitae = dict(encoder_widths=(128, 64), decoder_widths=(64, 128))  # half of the VAE's (paper)
    smpl = smpl_vitae if cls is VitaeConfig else smpl_vae
    return {
        "smoke": cls(**_SMOKE, **fixed),
        "paper": cls(**_PAPER, **fixed),
        "smoke-smpl": cls(**_SMOKE_SMPL, **smpl, **fixed),
        "paper-smpl": cls(**_PAPER_SMPL, **smpl, **fixed),
    }


VAE_CONFIGS = _configs(VaeConfig)
BETA_VAE_CONFIGS = _configs(VaeConfig, beta=8.0)  # beta = 8 (assumed: the authors' inductive_bias.py, d = 4)
BETA_TCVAE_CONFIGS = _configs(VaeConfig, beta=6.0)  # TC weight (assumed: Chen et al. 2018's dSprites choice)
DIP_VAE_CONFIGS = _configs(VaeConfig)  # lambda_od = lambda_d = 10 (assumed)
VITAE_CONFIGS = _configs(VitaeConfig)

