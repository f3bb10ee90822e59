"""Configs of LAVAE and its conv beta-VAE baseline (``smoke`` and ``paper``); imports no torch.

``paper`` follows the LAVAE paper (Dittadi & Winther 2019, Appendix B) where
it states a value; the values it does not state are marked "assumed" below.
``smoke`` keeps the structure and schedules but shrinks widths, depth and
the schedule lengths so a run takes a few minutes on 2 CPU cores.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..common.config import TrainConfig


@dataclass(frozen=True)
class LavaeConfig(TrainConfig):
    max_objects: int = 10  # M: slots, and the most objects f_count reports
    latent_dim: int = 32  # L: appearance latent size
    channels: int = 64  # width of both residual inference networks (assumed)
    blocks: int = 4  # residual blocks (2 convs each) per inference network
    head_channels: int = 64  # width of the 3-layer location head (assumed)
    decoder_channels: int = 64  # sprite decoder width (assumed)
    decoder_blocks: int = 3  # residual blocks in the sprite decoder
    sprite_size: int = 0  # odd; 0 = 17 for 1-channel (MNIST), 21 for RGB (dSprites)
    lr_location: float = 0.0  # location net learning rate; 0 = 1e-4 (1 channel) / 5e-4 (RGB)
    lr_location_decay: float = 0.01  # location lr decays to this fraction ...
    lr_location_decay_steps: int = 100_000  # ... over this many steps (exponentially)
    tau_start: float = 0.5  # Gumbel-softmax temperature, annealed exponentially ...
    tau_end: float = 0.02  # ... to this ...
    tau_steps: int = 100_000  # ... over this many steps (assumed: the lr decay horizon)
    count_threshold: float = 4.0  # f_count counts local maxima of h_loc above this many gammas ...
    count_window: int = 3  # ... in this neighbourhood (odd; 3 = the 8 neighbours)
    warmup_steps: int = 30_000  # aux-VAE KL map regression at full weight and n forced to 1 ...
    warmup_anneal_steps: int = 30_000  # ... then annealed out linearly over this many steps
    force_one_start: float = 1.0  # probability that n is forced to 1 during warm-up ...
    force_one_end: float = 0.1  # ... decaying to this (and staying there)
    aux_channels: int = 64  # auxiliary VAE width (assumed)
    aux_latent: int = 8  # auxiliary VAE latent channels (11x11x8 map)
    aux_grid: int = 11  # auxiliary VAE latent map size
    likelihood_eps: float = 1e-5  # Bernoulli means are eps + (1 - 2 eps) * clip(sum of sprites, 0, 1)
    sample_chunk: int = 10  # importance samples evaluated at once in log_weights

    def validate(self) -> None:
        super().validate()
        if not 1 <= self.max_objects <= 255:
            raise ValueError(f"max_objects must be in [1, 255], got {self.max_objects}")
        for name in ("latent_dim", "channels", "head_channels", "decoder_channels", "aux_channels", "aux_latent",
                     "aux_grid", "sample_chunk", "lr_location_decay_steps", "tau_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.blocks < 0 or self.decoder_blocks < 0 or self.warmup_steps < 0 or self.warmup_anneal_steps < 0:
            raise ValueError("blocks, decoder_blocks, warmup_steps and warmup_anneal_steps must be >= 0")
        if self.count_window < 3 or self.count_window % 2 == 0:
            raise ValueError(f"count_window must be odd and >= 3, got {self.count_window}")
        if self.sprite_size < 0 or (self.sprite_size and self.sprite_size % 2 == 0):
            raise ValueError(f"sprite_size must be odd (or 0 = auto), got {self.sprite_size}")
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
        # a 150-step auxiliary VAE reaches ~1 nat of KL per latent position on an object (background ~0.2),
        # far from the paper's scale, so f_count's threshold is lowered with it; its map is smooth, with
        # several 3x3 maxima per object, so maxima are taken over an object-sized window
        count_threshold=0.5, count_window=15,
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
    channels: int = 64  # (assumed)
    blocks: int = 1  # residual blocks per resolution (assumed)
    beta_start: float = 0.0  # KL weight annealed linearly ...
    beta_end: float = 1.0
    beta_steps: int = 100_000  # ... over this many steps
    sample_chunk: int = 25  # importance samples evaluated at once in log_weights

    def validate(self) -> None:
        super().validate()
        for name in ("latent_channels", "latent_size", "channels", "sample_chunk"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.blocks < 0 or self.beta_steps < 0 or self.beta_start < 0 or self.beta_end < 0:
            raise ValueError("blocks, beta_steps, beta_start and beta_end must be >= 0")


BETA_VAE_CONFIGS = {
    "smoke": BetaVaeConfig(steps=500, batch_size=16, lr=1e-3, val_size=200, eval_every=100, log_every=20,
                           checkpoint_every=100, channels=8, blocks=1, beta_steps=250, eval_batch_size=50),
    "paper": BetaVaeConfig(steps=200_000, batch_size=64, lr=1e-3, val_size=1000, eval_every=5000, log_every=100,
                           checkpoint_every=5000),
}
