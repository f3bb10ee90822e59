"""The training loop every baseline uses: seeded, checkpointed, exactly resumable.

``train(cls, data, config, out)`` builds ``cls(config, info)`` with parameters
drawn from ``config.seed``, and optimises ``model.training_loss`` with the
optimizer and per-group learning-rate schedules the model declares.

Determinism: parameters come from ``config.seed`` (global RNG untouched),
batches from :meth:`TrainData.batch_indices` (a function of seed and step),
training noise from one ``torch.Generator`` whose state is checkpointed, and
deterministic kernels are switched on. On CPU a run stopped at step k and
resumed gives bit-identical parameters to an uninterrupted run; validation
uses its own generator, so how often it runs changes nothing. CPU results
also depend on torch's thread count (reductions split differently): a run
uses ``threads`` (default: torch's current count) and records it
(``cpu_threads`` in config.json and the checkpoint); a resume without
``threads`` uses the recorded count again, so re-running the same command
reproduces the run; the same ``threads`` on another machine reproduces it there.

Data parallel: started under ``torchrun`` (``WORLD_SIZE`` > 1) the same
call trains one model over all the processes with torch.distributed DDP
(NCCL on CUDA, one GPU per process at ``cuda:LOCAL_RANK``; gloo on CPU).
Every rank holds the training split and takes its share ``rank::world`` of
each global batch (the batch order above, so ``batch_size`` is the global
batch and must divide by the world size); DDP averages the gradients, so a
deterministic loss gives the single-process run's updates. Rank 0 validates
and writes the run directory; the checkpoint holds every rank's noise
generator, so a resume with the same world size continues exactly. Rank r's
training noise is seeded from ``(seed, r)`` (rank 0 of a plain run: ``seed``).

Run directory ``out``::

    checkpoint.pt   latest state (see checkpoint.py), every ``checkpoint_every`` steps and at the end
    config.json     baseline, resolved config, data identity
    log.jsonl       one JSON object per line: {"step", "kind": "train"|"val", metrics..., "elapsed"}

Progress: a tqdm bar on stderr (when a terminal, or ``progress=True``) and a
metrics line every ``log_every`` steps / validation pass through ``log``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from scenebench.errors import ConfigError, ScenebenchError

from . import checkpoint as ckpt
from .config import config_to_dict
from .data import TrainData, batch_length, take
from .runtime import Parallel, cpu_threads, deterministic, resolve_device, seeded_init

LOG = "log.jsonl"
CONFIG = "config.json"


class TrainingError(ScenebenchError):
    """Training cannot go on (e.g. the loss became NaN/inf)."""

    exit_code = 1


@dataclass
class TrainResult:
    model: torch.nn.Module
    directory: Path
    step: int
    resumed_from: int = 0
    history: list = field(default_factory=list)  # the log.jsonl records of this call (rank 0)
    rank: int = 0  # this process's rank in a torchrun run (0 otherwise)
    world_size: int = 1


class JsonlLog:
    """Append-only JSONL metrics log; on resume, records after the checkpoint's step are dropped."""

    def __init__(self, path: Path, keep_until: int | None):
        self.path = path
        lines = []
        if keep_until is not None and path.exists():
            for line in path.read_text().splitlines():
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue  # a torn last line from a kill
                if isinstance(rec, dict) and rec.get("step", math.inf) <= keep_until:
                    lines.append(json.dumps(rec))
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(line + "\n" for line in lines))
        os.replace(tmp, path)
        self.records: list = []

    def write(self, record: dict) -> None:
        self.records.append(record)
        with open(self.path, "a") as fh:
            fh.write(json.dumps(record) + "\n")


def _fmt(metrics: dict) -> str:
    return "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items())


@torch.no_grad()
def validate(model, images, batch_size: int, seed: int) -> dict:
    """Mean single-sample negative ELBO (nats per image, or per scene for scenes models) over ``images``.

    ``images``: uint8 ``(N, C, H, W)``, or a scenes dict (:class:`TrainData` ``val``).
    """
    n = batch_length(images)
    if n == 0:
        return {}
    was_training = model.training
    model.eval()
    gen = torch.Generator(device=model.device).manual_seed(seed)
    total = 0.0
    try:
        for i in range(0, n, batch_size):
            x = model.prepare(take(images, slice(i, i + batch_size)))
            total += float(model.validation_loss(x, gen).double().sum())
    finally:
        model.train(was_training)
    return {"val/neg_elbo": total / n}


class _Loss(torch.nn.Module):
    """``forward`` = the model's ``training_loss``, so DDP's gradient hooks see the forward pass."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x, step, generator):
        return self.model.training_loss(x, step, generator)


def _rank_seed(seed: int, rank: int) -> int:
    if rank == 0:
        return seed
    import numpy as np

    return int(np.random.SeedSequence([seed, rank]).generate_state(2, np.uint32).view(np.uint64)[0] >> 1)


def train(cls, data, config, out: str | Path | None = None, *, config_name: str = "",
          progress: bool | None = None, log: Callable[[str], None] | None = None, resume: bool = True,
          stop_at: int | None = None, threads: int | None = None) -> TrainResult:
    """Train baseline class ``cls`` on ``data`` (path or :class:`TrainData`) with ``config``.

    ``out`` (default ``runs/<name>``) holds the
    checkpoint and logs; an unfinished run of the same baseline, config and
    data there is resumed (``resume=False`` starts afresh). ``stop_at`` stops
    early at that step (as if interrupted) after writing a checkpoint.
    ``threads``: torch CPU threads for this run (see the module docstring).
    """
    log = log or (lambda m: print(m, file=sys.stderr))
    par = Parallel.from_env()
    if par.enabled and not par.main:
        log = lambda m: None  # noqa: E731 -- rank 0 speaks for the run
    if not isinstance(data, TrainData):
        data = TrainData.for_model(cls, data, config.val_size, log=log)
    data.check_model(cls)
    out = Path(out if out is not None else Path("runs") / cls.name)
    if par.main:
        out.mkdir(parents=True, exist_ok=True)
    conf = config_to_dict(config)
    info = data.info.to_dict()
    if data.batches_per_epoch(config.batch_size) < 1:
        raise ConfigError(f"batch_size={config.batch_size} is larger than the {len(data)} training {data.unit}")
    if config.batch_size % par.world:
        raise ConfigError(f"batch_size={config.batch_size} (the global batch) does not divide by the {par.world} "
                          "torchrun processes")
    if threads is not None and not 1 <= int(threads) <= 4096:
        raise ConfigError(f"threads must be an integer in [1, 4096], got {threads}")
    device = par.start(resolve_device(config.device))
    try:
        return _train(cls, data, config, out, conf, info, device, par, config_name, progress, log, resume, stop_at,
                      threads)
    finally:
        par.stop()


def _train(cls, data, config, out, conf, info, device, par, config_name, progress, log, resume, stop_at, threads):
    with deterministic(device), contextlib.ExitStack() as scope:
        model = seeded_init(cls, config, data.info, config.seed).to(device)
        groups = model.optimizer_groups()
        opt = model.make_optimizer(groups)
        gen = torch.Generator(device=device).manual_seed(_rank_seed(config.seed, par.rank))
        step = 0
        path = out / ckpt.FILENAME
        resumed = 0
        state = {}
        if resume and path.exists():
            state = ckpt.read(path, map_location=device)
            _check_same_run(path, state, cls.name, conf, info)
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            gens = state.get("generators") or [state["generator"]]
            if len(gens) != par.world:
                log(f"warning: this run was trained by {len(gens)} process(es), now {par.world}: the result will not "
                    "be bit-identical to an uninterrupted run")
            if par.rank < len(gens):
                gen.set_state(gens[par.rank].cpu())
            step = resumed = int(state["step"])
            log(f"resuming {cls.name} from step {step:,} in {out}")
        recorded = state.get("cpu_threads") if resumed else None
        n_threads = int(threads or recorded or torch.get_num_threads())
        if recorded and n_threads != recorded:
            log(f"warning: {n_threads} CPU threads, but this run started with {recorded}: on CPU the result will "
                f"not be bit-identical to an uninterrupted run (omit --threads to use {recorded})")
        scope.enter_context(cpu_threads(n_threads))
        if par.main:
            _write_config(out, cls.name, config_name, conf, info, n_threads, par.world)
        logger = JsonlLog(out / LOG, keep_until=step if resumed else None) if par.main else _NoLog()
        loss_fn = _Loss(model)
        if par.enabled:
            from torch.nn.parallel import DistributedDataParallel

            loss_fn = DistributedDataParallel(loss_fn, device_ids=[device.index] if device.type == "cuda" else None,
                                              find_unused_parameters=cls.ddp_find_unused_parameters)

        acc: dict = {}  # train metrics summed since the last log line (checkpointed: resumed logs match)
        n_acc = 0
        if resumed:
            acc = {k: float(v) for k, v in state.get("log_accumulator", {}).items()}
            n_acc = int(state.get("log_accumulated", 0))

        def save(at: int) -> None:
            gens = par.gather(gen.get_state())
            if par.main:
                ckpt.save(path, {"baseline": cls.name, "config": conf, "config_name": config_name, "info": info,
                                 "step": at, "model": model.state_dict(), "optimizer": opt.state_dict(),
                                 "generator": gens[0], "generators": gens, "world_size": par.world,
                                 "log_accumulator": dict(acc), "log_accumulated": n_acc, "cpu_threads": n_threads})
            par.barrier()

        def validation(at: int, elapsed: float) -> dict:
            rec = {}
            if par.main:
                rec = {"step": at, "kind": "val",
                       **validate(model, data.val, config.eval_batch_size, config.seed + 1), "elapsed": elapsed}
                logger.write(rec)
            par.barrier()
            return rec

        end = config.steps if stop_at is None else min(stop_at, config.steps)
        t0 = time.perf_counter()
        if step == 0 and end > 0:
            rec = validation(0, 0.0)
            log(f"step 0/{config.steps}  {_fmt({k: v for k, v in rec.items() if k.startswith('val/')})}")
        show = (progress if progress is not None else sys.stderr.isatty()) and par.main
        bar = None
        if show and step < end:
            from tqdm import tqdm

            bar = tqdm(total=config.steps, initial=step, desc=cls.name, unit="step", file=sys.stderr,
                       dynamic_ncols=True)
            def say(m):  # tqdm.write prints to stdout unless told otherwise; stdout is for results
                bar.write(m, file=sys.stderr)
        else:
            say = log
        model.train()
        try:
            while step < end:
                x = model.prepare(data.batch(step, config.batch_size, config.seed, part=(par.rank, par.world)))
                for g, (_, lr_fn) in zip(opt.param_groups, groups):
                    g["lr"] = lr_fn(step)
                loss, metrics = loss_fn(x, step, gen)
                if par.any(not torch.isfinite(loss)):  # every rank stops together
                    raise TrainingError(f"{cls.name} diverged: loss {float(loss.detach())} at step {step} (rank "
                                        f"{par.rank}); lower the "
                                        f"learning rate, or resume from the checkpoint in {out}")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if config.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                opt.step()
                step += 1
                for k, v in metrics.items():
                    acc[k] = acc.get(k, 0.0) + float(v)
                n_acc += 1
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{float(loss.detach()):.4g}", refresh=False)
                if step % config.log_every == 0 or step == config.steps:
                    lrs = {"lr": opt.param_groups[0]["lr"]} if len(opt.param_groups) == 1 else \
                        {f"lr/{i}": g["lr"] for i, g in enumerate(opt.param_groups)}
                    means = par.mean({k: v / n_acc for k, v in acc.items()})  # over the ranks' shares of the batch
                    rec = {"step": step, "kind": "train", **means, **lrs,
                           "elapsed": round(time.perf_counter() - t0, 3)}
                    logger.write(rec)
                    acc, n_acc = {}, 0
                    shown = {k: v for k, v in rec.items() if k not in ("step", "kind")}
                    say(f"step {step}/{config.steps}  {_fmt(shown)}")
                if step % config.eval_every == 0 or step == config.steps:
                    rec = validation(step, round(time.perf_counter() - t0, 3))
                    say(f"step {step}/{config.steps}  {_fmt({k: v for k, v in rec.items() if k.startswith('val/')})}")
                if step % config.checkpoint_every == 0 or step == end:
                    save(step)
        finally:
            if bar is not None:
                bar.close()
        model.eval()
        model.trained_steps = step
        model.config_name = config_name
        return TrainResult(model, out, step, resumed, logger.records, rank=par.rank, world_size=par.world)


class _NoLog:
    """The log of a rank other than 0: writes nothing."""

    records: list = []

    def write(self, record: dict) -> None:
        pass


def _check_same_run(path: Path, state: dict, name: str, conf: dict, info: dict) -> None:
    if state.get("baseline") != name:
        raise ConfigError(f"{path}: holds a {state.get('baseline')!r} run, not {name!r}; use another --out")
    old = state.get("config", {})
    diff = sorted(k for k in set(old) | set(conf) if old.get(k) != conf.get(k) and k != "device")
    if diff:
        raise ConfigError(f"{path}: was trained with a different config (differs in: {', '.join(diff)}); "
                          "use another --out, or --fresh to start over")
    if state.get("info", {}).get("fingerprint") != info.get("fingerprint"):
        raise ConfigError(f"{path}: was trained on another dataset ({state.get('info', {}).get('directory')}); "
                          "use another --out, or --fresh to start over")


def _write_config(out: Path, name: str, config_name: str, conf: dict, info: dict, threads: int,
                  world: int = 1) -> None:
    tmp = out / (CONFIG + ".tmp")
    tmp.write_text(json.dumps({"baseline": name, "config_name": config_name, "config": conf, "data": info,
                               "cpu_threads": threads, "world_size": world}, indent=2) + "\n")
    os.replace(tmp, out / CONFIG)
