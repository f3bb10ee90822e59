"""Device choice and determinism settings for training and prediction."""

from __future__ import annotations

import contextlib
import os

import torch

from scenebench.errors import ConfigError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; an unavailable CUDA device is a :class:`ConfigError`."""
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device {name!r}: expected auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r}: CUDA is not available on this machine; use --device cpu or auto")
    return device


@contextlib.contextmanager
def deterministic(device: torch.device):
    """Deterministic kernels while the block runs (bit-exact on CPU; best effort on CUDA).

    Restores the previous global settings afterwards.
    """
    was = torch.are_deterministic_algorithms_enabled()
    was_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=device.type != "cpu")
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was, warn_only=was_warn)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn


@contextlib.contextmanager
def cpu_threads(n: int):
    """torch's intra-op CPU thread count set to ``n`` while the block runs, restored afterwards.

    CPU results are bit-identical only at a fixed thread count (reductions
    split differently), so a training run records the count it started with
    and a resume uses it again.
    """
    was = torch.get_num_threads()
    if n != was:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != was:
            torch.set_num_threads(was)


def seeded_init(cls, config, info, seed: int):
    """Build ``cls(config, info)`` with parameters drawn from ``seed``, leaving the global RNG untouched."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        return cls(config, info)
