"""Checkpoints: everything needed to resume training exactly, or to rebuild a model.

A checkpoint is one ``torch.save`` file (loaded with ``weights_only=True``:
plain dicts, lists, numbers, strings and tensors, never pickled objects)::

    format, version           "scenebench-baseline-checkpoint", 1
    baseline                  registered name of the method
    config, info              the resolved training config and the data geometry/identity
    step                      optimisation steps done
    model, optimizer          state dicts
    generator                 state of the training-noise torch.Generator
    versions                  scenebench and torch versions that wrote it

It is written to a temporary file and renamed, so a kill never leaves a
torn checkpoint.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from scenebench.errors import ConfigError

FORMAT = "scenebench-baseline-checkpoint"
VERSION = 1
FILENAME = "checkpoint.pt"


def save(path: str | os.PathLike, state: dict) -> None:
    """Atomically write ``state`` (see the module docstring) to ``path``."""
    import scenebench

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    full = {"format": FORMAT, "version": VERSION,
            "versions": {"scenebench": str(scenebench.__version__), "torch": str(torch.__version__)}, **state}
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            torch.save(full, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read(path: str | os.PathLike, map_location="cpu") -> dict:
    """Load a checkpoint file; a missing or foreign file is a :class:`ConfigError`."""
    path = Path(path)
    if path.is_dir():
        path = path / FILENAME
    if not path.is_file():
        raise ConfigError(f"checkpoint {path} not found; expected a {FILENAME} written by `scenebench baseline train`")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 -- truncated, foreign or unsafe pickle
        raise ConfigError(f"{path}: not a readable scenebench checkpoint ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0][:200] if str(exc) else ''})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ConfigError(f"{path}: not a scenebench baseline checkpoint")
    if state.get("version") != VERSION:
        raise ConfigError(f"{path}: checkpoint version {state.get('version')} is not supported (expected {VERSION})")
    return state


def load_model(path, device=None, expect: type | None = None):
    """Rebuild the model saved in checkpoint ``path`` (or a run directory), in eval mode on ``device``.

    The model carries ``trained_steps`` and ``config_name`` (e.g. ``smoke``) from the checkpoint.
    """
    from scenebench.registry import get_baseline

    from .runtime import resolve_device

    state = read(path)
    cls = get_baseline(state["baseline"]) if expect is None else expect
    if expect is not None and state["baseline"] != expect.name:
        raise ConfigError(f"{path}: checkpoint of baseline {state['baseline']!r}, not {expect.name!r}")
    model = cls.build(state["config"], state["info"])
    model.load_state_dict(state["model"])
    model.trained_steps = int(state["step"])
    model.config_name = str(state.get("config_name", ""))
    return model.to(resolve_device(device or "auto")).eval()
