"""Configs of LAVAE and its conv beta-VAE baseline (``smoke`` and ``paper``); imports no torch.

``paper`` follows the LAVAE paper (Dittadi & Winther 2019, Appendix A-B)
where it states a value (unmarked, or marked "paper" below); the values it
does not state are marked "assumed". ``smoke`` keeps the structure and
schedules but shrinks widths, depth and the schedule lengths so a run takes
a few minutes on 2 CPU cores.

Modelling choices that change results
-------------------------------------
* **Widths** (``channels``, ``head_channels``, ``decoder_channels``; assumed):
  the paper gives no widths but a budget -- about 500k parameters, split
  roughly evenly over the location network, the appearance network and the
  sprite decoder. Width 42 for all three meets it (location / appearance /
  sprite decoder): 161k / 153k / 175k = 489k on 1-channel multi-MNIST
  (17x17 sprites), 161k / 154k / 191k = 506k on RGB multi-dSprites (21x21
  sprites); width 64 gave 1.11M. The auxiliary VAE (585k at its assumed
  width 64) is a warm-up aid outside that budget.
* **gamma = 4** (paper): the location logits are the location head's output
  times gamma. The earlier default, ``0.5 ln D`` (4.159 for 64x64: a unit
  head step changes the odds of a location by sqrt(D)), is close but not the
  paper's value; it stays available as ``gamma=0``. gamma also scales
  f_count's threshold (16 logits = 4 nats of auxiliary KL, below).
* **The warm-up regresses h_loc / gamma** (the location head's unscaled
  output) on the auxiliary KL map, not h_loc itself (argued, not quoted: the
  paper states the threshold of f_count as a multiple of gamma, "4 gamma").
  Under this reading the threshold is 4 nats of auxiliary KL per latent
  position, whatever the image size; regressing h_loc itself would make it
  4 gamma = 16 nats (16.6 with 0.5 ln D), a value tied to D through gamma
  although the KL map's scale has nothing to do with D. Stating the threshold
  in units of gamma only makes sense if h_loc / gamma is the quantity the
  warm-up calibrates, and with h_loc / gamma the location odds keep the
  sharpness gamma gives them while the head learns a KL-sized (few-nat)
  output. The KL map is put on the image by mapping each of its cells to the
  pixel its receptive field is centred on (derived from the auxiliary
  encoder's layers; cell j of 11 sits on pixel 4 j + 10 of 64), linearly
  interpolated between cells.
* **Sprite sum clipped to [0, 1], with eps** (assumed): the image is the sum
  of the placed sprites; the Bernoulli mean of a pixel is taken as
  ``eps + (1 - 2 eps) * clip(sum, 0, 1)``. Overlapping sprites can sum to more
  than 1, so the sum has to be mapped into [0, 1] somehow; the clip keeps a
  lone sprite's value unchanged (a squashing function would not). eps = 1e-5
  keeps log-probabilities finite where the clipped sum is exactly 0 or 1
  (empty background, saturated sigmoids in float32) and costs a well-fit
  pixel at most ~1e-5 nats; it also bounds the cost of a wrong pixel at
  ln(1 / eps) = 11.5 nats, which is what can change results (an exactly-0
  background pixel under a 1 would otherwise cost infinity). Reported bounds
  are for this eps.
* **Auxiliary VAE** (paper: 3 residual blocks with downsampling, an 11x11x8
  latent map): two stride-2 residual blocks (64 -> 32 -> 16) and one
  valid-padded residual block (16 -> 11); which blocks downsample by how
  much, its width and its decoder are assumed (see
  :class:`~scenebench.baselines.lavae.networks.AuxVae`).
* **Layer order** (paper): LeakyReLU then BatchNorm after every conv of the
  inference networks' blocks; one 3-layer conv head on the location network;
  BatchNorm after every sprite-decoder layer except the last residual block.
  Assumed: where the residual skip joins (``x + main(x)``), the stem / output
  convs, no BatchNorm inside the location head, LeakyReLU-then-BatchNorm in
  the sprite decoder too, and its coarse map size (see
  :mod:`~scenebench.baselines.lavae.networks`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..common.config import TrainConfig


@dataclass(frozen=True)
class LavaeConfig(TrainConfig):
    max_objects: int = 10  # M: slots, and the most objects f_count reports
    latent_dim: int = 32  # L: appearance latent size
    channels: int = 42  # width of both residual inference networks (assumed; meets the paper's ~500k budget)
    blocks: int = 4  # residual blocks (2 convs each) per inference network (paper)
    head_channels: int = 42  # width of the 3-layer location head (assumed; budget)
    decoder_channels: int = 42  # sprite decoder width (assumed; budget)
    decoder_blocks: int = 3  # residual blocks in the sprite decoder (paper)
    sprite_size: int = 0  # odd; 0 = 17 for 1-channel (MNIST), 21 for RGB (dSprites)
    lr_location: float = 0.0  # location net learning rate; 0 = 1e-4 (1 channel) / 5e-4 (RGB)
    lr_location_decay: float = 0.01  # location lr decays to this fraction ...
    lr_location_decay_steps: int = 100_000  # ... over this many steps (exponentially)
    tau_start: float = 0.5  # Gumbel-softmax temperature, annealed exponentially ...
    tau_end: float = 0.02  # ... to this ...
    tau_steps: int = 100_000  # ... over this many steps (paper: 0.5 -> 0.02 in 100k steps)
    gamma: float = 4.0  # location logits h_loc = gamma * head output (paper: 4); 0 = 0.5 ln D
    count_threshold: float = 4.0  # f_count counts local maxima of h_loc above this many gammas (paper) ...
    count_window: int = 3  # ... in this neighbourhood (odd; 3 = the 8 neighbours)
    warmup_steps: int = 30_000  # aux-VAE KL map regression at full weight and n forced to 1 ...
    warmup_anneal_steps: int = 30_000  # ... then annealed out linearly over this many steps
    force_one_start: float = 1.0  # probability that n is forced to 1 during warm-up ...
    force_one_end: float = 0.1  # ... decaying to this (and staying there)
    aux_channels: int = 64  # auxiliary VAE width (assumed; outside the ~500k budget)
    aux_latent: int = 8  # auxiliary VAE latent channels (paper: 11x11x8 map)
    aux_grid: int = 11  # auxiliary VAE latent map size (paper)
    likelihood_eps: float = 1e-5  # Bernoulli means are eps + (1 - 2 eps) * clip(sum of sprites, 0, 1) (assumed)
    sample_chunk: int = 10  # importance samples evaluated at once in log_weights

    def validate(self) -> None:
        super().validate()
        if not 1 <= self.max_objects <= 255:
            raise ValueError(f"max_objects must be in [1, 255], got {self.max_objects}")
        self.check_positive("latent_dim", "channels", "head_channels", "decoder_channels", "aux_channels", "aux_latent",
                            "aux_grid", "sample_chunk", "lr_location_decay_steps", "tau_steps")
        if self.blocks < 0 or self.decoder_blocks < 0 or self.warmup_steps < 0 or self.warmup_anneal_steps < 0:
            raise ValueError("blocks, decoder_blocks, warmup_steps and warmup_anneal_steps must be >= 0")
        if self.count_window < 3 or self.count_window % 2 == 0:
            raise ValueError(f"count_window must be odd and >= 3, got {self.count_window}")
        if self.sprite_size < 0 or (self.sprite_size and self.sprite_size % 2 == 0):
            raise ValueError(f"sprite_size must be odd (or 0 = auto), got {self.sprite_size}")
        if self.gamma < 0:
            raise ValueError(f"gamma must be > 0 (or 0 = 0.5 ln D), got {self.gamma}")
        if self.lr_location < 0 or not 0 < self.lr_location_decay <= 1:
            raise ValueError("need lr_location >= 0 (0 = auto) and 0 < lr_location_decay <= 1")
        if not (self.tau_start > 0 and self.tau_end > 0):
            raise ValueError(f"Gumbel-softmax temperatures must be > 0, got {self.tau_start}, {self.tau_end}")
        if not (0 <= self.force_one_start <= 1 and 0 <= self.force_one_end <= 1):
            raise ValueError("force_one_start and force_one_end are probabilities in [0, 1]")
        if not 0 < self.likelihood_eps < 0.5:
            raise ValueError(f"likelihood_eps must be in (0, 0.5), got {self.likelihood_eps}")


LAVAE_CONFIGS = {
    "smoke": LavaeConfig(
        steps=500, batch_size=16, lr=1e-3, val_size=200, eval_every=100, log_every=20, checkpoint_every=100,
        channels=8, blocks=1, head_channels=8, decoder_channels=16, decoder_blocks=3, latent_dim=16,
        aux_channels=8, lr_location=1e-3, lr_location_decay_steps=500, tau_steps=300,
        warmup_steps=150, warmup_anneal_steps=150, eval_batch_size=50,
        # a 150-step auxiliary VAE is far from converged: ~2.5-4 nats of KL per latent position at an object's
        # peak, but still ~0.5 on the background (measured, multi-MNIST), so f_count's threshold is set between
        # the two; the 500-step location map has several bumps per object, so maxima are taken over a window
        # about a sprite wide (17 px; 19 counted 85% of 200 multi-MNIST test scenes right at seeds 0 and 1,
        # 15 counted 59-78%)
        count_threshold=1.5, count_window=19,
    ),
    "paper": LavaeConfig(
        steps=200_000,  # assumed: the paper's schedules all end by 100k steps
        batch_size=64, lr=1e-3, val_size=1000, eval_every=5000, log_every=100, checkpoint_every=5000,
    ),
}


@dataclass(frozen=True)
class BetaVaeConfig(TrainConfig):
    latent_channels: int = 16  # latent map (16, 8, 8) = 1024 dims for 64x64 images
    latent_size: int = 8
    channels: int = 64  # width (paper)
    blocks: int = 1  # residual blocks per resolution (assumed)
    beta_start: float = 0.0  # KL weight annealed linearly ...
    beta_end: float = 1.0
    beta_steps: int = 100_000  # ... over this many steps
    sample_chunk: int = 25  # importance samples evaluated at once in log_weights

    def validate(self) -> None:
        super().validate()
        self.check_positive("latent_channels", "latent_size", "channels", "sample_chunk")
        if self.blocks < 0 or self.beta_steps < 0 or self.beta_start < 0 or self.beta_end < 0:
            raise ValueError("blocks, beta_steps, beta_start and beta_end must be >= 0")


BETA_VAE_CONFIGS = {
    "smoke": BetaVaeConfig(steps=500, batch_size=16, lr=1e-3, val_size=200, eval_every=100, log_every=20,
                           checkpoint_every=100, channels=8, blocks=1, beta_steps=250, eval_batch_size=50),
    "paper": BetaVaeConfig(steps=200_000, batch_size=64, lr=1e-3, val_size=1000, eval_every=5000, log_every=100,
                           checkpoint_every=5000),
}
