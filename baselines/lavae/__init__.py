"""LAVAE (Dittadi & Winther, 2019) and its fully convolutional beta-VAE baseline.

Registered lazily (importing this package does not import torch):

* ``lavae`` -- :class:`scenebench.baselines.lavae.model.Lavae`
* ``conv-beta-vae`` -- :class:`scenebench.baselines.lavae.beta_vae.ConvBetaVae`
"""

from scenebench.registry import register_baseline

PAPER = "Dittadi & Winther 2019, arXiv:1909.11813"

register_baseline("lavae", "scenebench.baselines.lavae.model:Lavae", paper=PAPER,
                  description="LAVAE: location/appearance VAE with sprite decoder and deterministic object count")
register_baseline("conv-beta-vae", "scenebench.baselines.lavae.beta_vae:ConvBetaVae", paper=PAPER,
                  description="LAVAE's baseline: fully convolutional beta-VAE (16x8x8 latents, Bernoulli)")
