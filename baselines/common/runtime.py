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


# --------------------------------------------------------------------------- data-parallel training (torchrun)
class Parallel:
    """This process's place in a data-parallel run started by ``torchrun`` (``rank`` of ``world``).

    ``Parallel.from_env()`` reads torchrun's ``RANK`` / ``WORLD_SIZE`` /
    ``LOCAL_RANK``; a plain run is ``rank 0 of 1``. :meth:`start` joins the
    process group (NCCL for CUDA, gloo for CPU) unless the caller already
    did, and gives the device of this rank (``cuda:LOCAL_RANK`` for CUDA).
    """

    def __init__(self, rank: int = 0, world: int = 1, local_rank: int = 0):
        if not (world >= 1 and 0 <= rank < world and local_rank >= 0):
            raise ConfigError(f"bad torchrun environment: rank {rank} of world size {world}, local rank {local_rank}")
        self.rank, self.world, self.local_rank = rank, world, local_rank
        self._own_group = False
        self.device = torch.device("cpu")

    @classmethod
    def from_env(cls) -> "Parallel":
        try:
            world = int(os.environ.get("WORLD_SIZE", "1"))
            rank = int(os.environ.get("RANK", "0"))
            local = int(os.environ.get("LOCAL_RANK", str(rank)))
        except ValueError:
            raise ConfigError("bad torchrun environment: RANK, WORLD_SIZE and LOCAL_RANK must be integers") from None
        return cls(rank, world, local) if world > 1 else cls()

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def start(self, device: torch.device) -> torch.device:
        """Join the process group (if not yet) and return this rank's device."""
        if not self.enabled:
            return device
        import torch.distributed as dist

        if device.type == "cuda":
            device = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
            self._own_group = True
        if dist.get_world_size() != self.world or dist.get_rank() != self.rank:
            raise ConfigError(f"the process group (rank {dist.get_rank()} of {dist.get_world_size()}) does not match "
                              f"the torchrun environment (rank {self.rank} of {self.world})")
        self.device = device
        return device

    def stop(self) -> None:
        if self._own_group:
            import torch.distributed as dist

            dist.destroy_process_group()
            self._own_group = False

    def gather(self, obj) -> list:
        """``obj`` of every rank, in rank order (a list of one without torchrun)."""
        if not self.enabled:
            return [obj]
        import torch.distributed as dist

        out = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def mean(self, values: dict) -> dict:
        """Per-key mean over the ranks of a dict of floats (same keys on every rank)."""
        if not self.enabled or not values:
            return values
        import torch.distributed as dist

        keys = sorted(values)
        t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return {k: float(v) / self.world for k, v in zip(keys, t.cpu().tolist())}

    def any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is true on any rank."""
        if not self.enabled:
            return bool(flag)
        import torch.distributed as dist

        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(t)
        return bool(t.item() > 0)

    def barrier(self) -> None:
        if self.enabled:
            import torch.distributed as dist

            dist.barrier()
