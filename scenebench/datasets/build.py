"""Library entry points that mirror the CLI."""

from __future__ import annotations

from pathlib import Path

from ..generator import resolve
from .writer import generate as _generate


def generate(family: str, preset: str, root="data", *, num: int | None = None, seed: int = 0,
             overrides: dict | None = None, splits=None, workers: int | None = None, scheduler=None,
             shard_size: int | None = None, compression: str | None = None,
             progress: bool | None = False) -> Path:
    """Generate a dataset like ``scenebench generate``; return its directory."""
    spec = resolve(family, preset, seed=seed, overrides=overrides, num=num)
    return _generate(spec, root, splits=splits, workers=workers, scheduler=scheduler, shard_size=shard_size,
                     compression=compression, progress=progress)
