"""The small interface the harness calls on every baseline.

A baseline is a ``torch.nn.Module`` subclass of :class:`Baseline` with a
typed config (``Config``, named ``CONFIGS``) and any of these methods, all
taking ``x``: float32 ``(B, C, H, W)`` images in [0, 1] on the model's device
(see :meth:`Baseline.prepare`) and returning tensors on that device:

=====================  ============================  ==================================================
method                 returns                       meaning
=====================  ============================  ==================================================
``segment(x)``         int64 ``(B, H, W)``           0 = background, k = object k
``count(x)``           int64 ``(B,)``                number of objects
``log_weights(x, S)``  float64 ``(B, S)``            log p(x, z_s) - log q(z_s | x), z_s ~ q(z | x), nats
``elbo(x)``            float64 ``(B,)``              evidence lower bound, nats
``reconstruct(x)``     float32 ``(B, C, H, W)``      reconstruction (Bernoulli means) in [0, 1]
``latents(x)``         float32 ``(B, K, D)``         per-object latent vectors (zero-padded slots)
``masks(x)``           float32 ``(B, K, H, W)``      soft slot masks (sum to 1 over K), for soft-mask metrics
=====================  ============================  ==================================================

A model of whole multi-view scenes sets ``input_layout = "scenes"`` and
names the dataset fields it reads besides the images in ``input_fields``
(e.g. ``("camera/position",)``). Its methods then take ``x`` as a dict on the
model's device: ``x["image"]`` float32 ``(B, V, C, H, W)`` in [0, 1] and
``x[field]`` float32 ``(B, *stored shape)``; ``B`` counts scenes (also in
``batch_size``), and per-image outputs gain the view axis: ``segment``
``(B, V, H, W)``, ``reconstruct`` ``(B, V, C, H, W)``; ``log_weights``
``(B, S)``, ``elbo`` and ``validation_loss`` ``(B,)`` and ``latents``
``(B, K, D)`` are per scene.

``Baseline.capabilities()`` lists the ones a class implements. Methods that
sample take ``generator=`` (a ``torch.Generator`` on the model's device);
without one they use a fixed seed, so predictions are reproducible.
Training hooks: :meth:`training_loss` (and optionally :meth:`optimizer_groups`,
:meth:`validation_loss`); :meth:`fit` runs :func:`~scenebench.baselines.common.training.train`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, ClassVar, Mapping

import torch
from torch import nn

from .config import TrainConfig, config_from_dict, resolve_config
from .data import DataInfo, scene_input, to_input

def scalar(value) -> float:
    """A Python float from a (possibly grad-carrying) tensor or number, for logging."""
    return float(value.detach()) if isinstance(value, torch.Tensor) else float(value)


CAPABILITIES = ("segment", "count", "log_weights", "elbo", "reconstruct", "latents", "masks")
EVAL_SEED = 20190926  # seed of the default generator of sampling methods


class Baseline(nn.Module):
    """Base class of the reference methods (see the module docstring)."""

    name: ClassVar[str] = ""  # registry name
    display_name: ClassVar[str] = ""  # method name written into submissions (default: name)
    description: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    Config: ClassVar[type] = TrainConfig
    CONFIGS: ClassVar[Mapping[str, TrainConfig]] = {}
    input_layout: ClassVar[str] = "images"  # "scenes": whole multi-view samples (module docstring)
    input_fields: ClassVar[tuple[str, ...]] = ()  # dataset fields a scenes model reads besides the images
    # True for a model whose steps train only some parameters (phases, adversarial alternation): DDP must then
    # look for the parameters a step did not use
    ddp_find_unused_parameters: ClassVar[bool] = False

    def __init__(self, config: TrainConfig, info: DataInfo):
        super().__init__()
        self.config = config
        self.info = info

    # ------------------------------------------------------------------ description
    @classmethod
    def capabilities(cls) -> tuple[str, ...]:
        """The harness methods this class implements."""
        return tuple(m for m in CAPABILITIES if getattr(cls, m) is not getattr(Baseline, m))

    @classmethod
    def resolve_config(cls, spec=None, overrides: Mapping | None = None) -> TrainConfig:
        """A named config (``smoke``/``paper``), a JSON/TOML file, plus ``key=value`` overrides."""
        return resolve_config(cls.CONFIGS, spec, overrides, baseline=cls.name)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def prepare(self, images):
        """Model input on the model's device from a batch as read or as :class:`~.data.TrainData` holds it.

        Images models: uint8 images (numpy ``(B, H, W, C)`` or tensor ``(B, C, H, W)``) -> float32
        ``(B, C, H, W)``. Scenes models: a dict with ``image`` (numpy ``(B, V, H, W, C)`` or tensor
        ``(B, V, C, H, W)``, uint8) and the ``input_fields`` -> the dict the methods take.
        """
        if self.input_layout == "scenes":
            if not isinstance(images, dict):
                raise TypeError(f"{self.name} reads whole scenes: pass a dict with 'image' and "
                                f"{', '.join(map(repr, self.input_fields)) or 'no other fields'}")
            return scene_input(images, self.device)
        return to_input(images, self.device)

    def make_generator(self, seed: int = EVAL_SEED) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(seed)

    def _generator(self, generator):
        return generator if generator is not None else self.make_generator()

    # ------------------------------------------------------------------ training hooks
    def training_loss(self, x: torch.Tensor, step: int, generator: torch.Generator):
        """``(loss, metrics)``: scalar objective to minimise for batch ``x`` at ``step``, dict of floats to log."""
        raise NotImplementedError

    def optimizer_groups(self) -> list[tuple[list, Callable[[int], float]]]:
        """Parameter groups with their learning-rate schedule ``step -> lr`` (default: all at ``config.lr``)."""
        lr = self.config.lr
        return [(list(self.parameters()), lambda step: lr)]

    def make_optimizer(self, groups) -> torch.optim.Optimizer:
        return torch.optim.Adamax([{"params": p, "lr": f(0)} for p, f in groups])

    def validation_loss(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Per-image negative ELBO ``(B,)`` (single-sample estimate) used to monitor training."""
        return -self.elbo(x, generator=generator)

    # ------------------------------------------------------------------ harness methods
    def segment(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{self.name} does not segment")

    def count(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{self.name} does not count objects")

    def log_weights(self, x: torch.Tensor, num_samples: int, *, generator=None) -> torch.Tensor:
        raise NotImplementedError(f"{self.name} has no importance weights")

    def elbo(self, x: torch.Tensor, *, num_samples: int = 1, generator=None) -> torch.Tensor:
        raise NotImplementedError(f"{self.name} has no ELBO")

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{self.name} does not reconstruct")

    def latents(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{self.name} has no latents")

    def masks(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{self.name} has no soft masks")

    # ------------------------------------------------------------------ fit / load
    @classmethod
    def fit(cls, data, config=None, out: str | Path | None = None, **kwargs) -> "Baseline":
        """Train on ``data`` (a dataset path or a :class:`TrainData`) and return the trained model.

        ``config``: a config object, a name in ``CONFIGS`` or a config file.
        ``out``: run directory (checkpoint, log); an unfinished run there is resumed.
        Other keyword arguments go to :func:`~scenebench.baselines.common.training.train`.
        """
        from .training import train

        if not isinstance(config, TrainConfig):
            config = cls.resolve_config(config)
        return train(cls, data, config, out, **kwargs).model

    @classmethod
    def from_checkpoint(cls, path, device=None) -> "Baseline":
        """A model restored from a checkpoint written by the training loop, in eval mode."""
        from .checkpoint import load_model

        return load_model(path, device=device, expect=cls)

    @classmethod
    def build(cls, config_dict: Mapping, info_dict: Mapping) -> "Baseline":
        return cls(config_from_dict(cls.Config, config_dict), DataInfo.from_dict(info_dict))
