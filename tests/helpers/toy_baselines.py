"""Toy baselines for the framework's own tests (data-parallel training, the scenes layout).

Importable by the processes ``torchrun`` starts (``python tests/helpers/ddp_train.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from scenebench.baselines.common.config import TrainConfig
from scenebench.baselines.common.interface import Baseline, scalar


@dataclass(frozen=True)
class ToyConfig(TrainConfig):
    hidden: int = 4


class ToyAutoencoder(Baseline):
    """A linear autoencoder with a squared-error loss: no sampling, so the loss is a deterministic function
    of the parameters and the batch, and data-parallel gradients must equal the full batch's."""

    name = "toy-ae"
    Config = ToyConfig
    CONFIGS = {"smoke": ToyConfig(steps=6, batch_size=8, lr=1e-2, val_size=8, eval_every=3, log_every=2,
                                  checkpoint_every=2, eval_batch_size=8, device="cpu")}

    def __init__(self, config, info):
        super().__init__(config, info)
        d = info.channels * info.height * info.width
        self.enc = nn.Linear(d, config.hidden)
        self.dec = nn.Linear(config.hidden, d)

    def make_optimizer(self, groups):
        return torch.optim.Adam([{"params": p, "lr": f(0)} for p, f in groups])

    def _err(self, x):
        flat = x.flatten(1)
        return (self.dec(self.enc(flat)) - flat).square().sum(1)

    def training_loss(self, x, step, generator):
        err = self._err(x)
        return err.mean(), {"loss": scalar(err.mean())}

    def validation_loss(self, x, generator):
        return self._err(x)


class ToyNoisy(ToyAutoencoder):
    """The autoencoder with Gaussian noise on its code: uses the training generator (each rank its own)."""

    name = "toy-noisy"

    def training_loss(self, x, step, generator):
        h = self.enc(x.flatten(1))
        h = h + 0.1 * torch.randn(h.shape, generator=generator)
        err = (self.dec(h) - x.flatten(1)).square().sum(1)
        return err.mean(), {"loss": scalar(err.mean())}


class ToyScenes(ToyAutoencoder):
    """A scenes model: reads whole multi-view samples and the camera positions, predicts per view."""

    name = "toy-scenes"
    input_layout = "scenes"
    input_fields = ("camera/position",)

    def __init__(self, config, info):
        super().__init__(config, info)
        self.view = nn.Linear(3, config.hidden)

    def _err(self, x):
        img = x["image"]  # (B, V, C, H, W)
        flat = img.flatten(2)
        out = self.dec(self.enc(flat) + self.view(x["camera/position"] / 10.0))
        return (out - flat).square().sum((1, 2))

    def segment(self, x):
        img = x["image"]
        return (img.mean(2) > 0.5).long()  # (B, V, H, W)

    def reconstruct(self, x):
        img = x["image"]
        flat = img.flatten(2)
        return self.dec(self.enc(flat) + self.view(x["camera/position"] / 10.0)).view(img.shape).clamp(0, 1)
