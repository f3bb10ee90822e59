"""Training configs: the fields every baseline shares, named configs and config files.

A baseline's config is a frozen dataclass deriving from :class:`TrainConfig`
(typed fields, ``validate()`` for ranges), with named instances in the
baseline's ``CONFIGS`` -- at least ``smoke`` (minutes on 2 CPU cores) and
``paper`` (the paper's hyperparameters, for a GPU). A config file (JSON or
TOML) names a base config and overrides fields::

    {"base": "smoke", "steps": 2000, "channels": 32}

Unknown keys and badly typed values raise :class:`~scenebench.errors.ConfigError`.
This module imports no torch.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from scenebench import config as cfg
from scenebench.errors import ConfigError


@dataclass(frozen=True)
class TrainConfig:
    """Fields shared by every baseline's training config."""

    steps: int = 1000  # optimisation steps
    batch_size: int = 64
    lr: float = 1e-3  # learning rate of every parameter group without its own
    seed: int = 0  # model init, data order and training noise
    val_size: int = 256  # training images held out (the last ones) for the validation -ELBO
    eval_every: int = 100  # steps between validation passes (and at the end)
    log_every: int = 20  # steps between train-metric lines on stderr / in the log
    checkpoint_every: int = 200  # steps between checkpoints (and at the end)
    grad_clip: float = 0.0  # max global gradient norm; 0 = off
    device: str = "auto"  # auto (cuda if available), cpu, cuda, cuda:1 ...
    eval_batch_size: int = 64  # images per batch in validation and prediction (scenes, for models of whole scenes)

    def check_positive(self, *names: str) -> None:
        """ValueError naming the first of the fields ``names`` that is not >= 1."""
        for name in names:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    def validate(self) -> None:
        self.check_positive("steps", "batch_size", "eval_every", "log_every", "checkpoint_every", "eval_batch_size")
        if self.val_size < 0 or self.seed < 0:
            raise ValueError(f"val_size and seed must be >= 0, got {self.val_size}, {self.seed}")
        if not self.lr > 0 or self.grad_clip < 0:
            raise ValueError(f"need lr > 0 and grad_clip >= 0, got {self.lr}, {self.grad_clip}")
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {self.device!r}")


def resolve_config(configs: Mapping[str, Any], spec: str | Path | None = None,
                   overrides: Mapping[str, Any] | None = None, *, baseline: str = "baseline"):
    """A validated config from a named config, a JSON/TOML file, and ``key=value`` overrides.

    ``spec`` is a name in ``configs`` (default ``smoke``) or a path to a file
    whose optional ``base`` key names the config it starts from.
    """
    spec = "smoke" if spec is None else spec
    values: dict = {}
    if str(spec) in configs:
        base = configs[str(spec)]
    else:
        path = Path(spec)
        if not path.is_file():
            raise ConfigError(f"--config {spec}: expected one of {', '.join(configs)} for {baseline} "
                              "or a .json/.toml config file")
        values = _read_file(path)
        base_name = values.pop("base", "smoke")
        if base_name not in configs:
            raise ConfigError(f"{path}: base {base_name!r} is not a config of {baseline}; "
                              f"configs: {', '.join(configs)}")
        base = configs[base_name]
    values.update(overrides or {})
    config = cfg.apply_overrides(base, values)
    cfg.validate(config)
    return config


def _read_file(path: Path) -> dict:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        if path.suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{path}: not valid {'TOML' if path.suffix == '.toml' else 'JSON'} ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a table of config fields, got {type(data).__name__}")
    return data


def config_to_dict(config) -> dict:
    """JSON-able dict of a config dataclass."""
    return cfg.config_dict(config)


def config_from_dict(cls, data: Mapping[str, Any]):
    """Rebuild a config saved with :func:`config_to_dict` (fields missing from old files take defaults)."""
    known = {f.name for f in dataclasses.fields(cls)}
    return cfg.apply_overrides(cls(), {k: v for k, v in data.items() if k in known})
