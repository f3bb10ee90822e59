"""CLI commands for the baselines: ``scenebench baseline list|train|predict|sheets`` and ``scenebench reproduce``.

Wired into the main group in :mod:`scenebench.cli` with
``main.add_command(baseline)`` and ``main.add_command(reproduce)``. Module
imports stay light (click only): torch is imported by the commands that run.
"""

from __future__ import annotations

import os

import click

from .common import Group, parse_sets
from ..errors import ConfigError


def _columns(only):
    """``--only a,b`` as a list of column keys ([] when given but naming none, which reproduce refuses)."""
    return None if only is None else [c.strip() for c in only.split(",") if c.strip()]


def _threads(n):
    if n is not None:
        if not 1 <= n <= 4096:
            raise ConfigError(f"--threads must be an integer in [1, 4096], got {n}")
        import torch

        torch.set_num_threads(n)


@click.group("baseline", cls=Group)
def baseline():
    """Train the reference methods and write their predictions as submissions."""


@baseline.command("list")
def list_():
    """Registered baselines (name, description, paper)."""
    from ..registry import list_baselines

    for e in list_baselines():
        click.echo(f"{e.name:<16} {e.description}")
        if e.paper:
            click.echo(f"{'':<16} {e.paper}")


@baseline.command()
@click.argument("name")
@click.option("--data", "-d", required=True, help="Dataset directory (or family/preset under $SCENEBENCH_DATA).")
@click.option("--config", "-c", "config", default="smoke", show_default=True, metavar="smoke|paper|FILE",
              help="Named config or a JSON/TOML file ({\"base\": \"smoke\", \"steps\": 2000, ...}).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override a config field (repeatable).")
@click.option("--out", "-o", "out", default=None, type=click.Path(file_okay=False),
              help="Run directory (default: runs/NAME/FAMILY-PRESET-FINGERPRINT/CONFIG).")
@click.option("--device", default=None, help="auto (default), cpu, cuda or cuda:N.")
@click.option("--fresh", is_flag=True, help="Discard the checkpoint and log in the run directory and start over.")
@click.option("--threads", type=int, default=None,
              help="CPU threads for torch (default: torch's choice for a new run, the recorded count on resume). "
                   "CPU results are bit-identical at the same count.")
@click.option("--progress/--no-progress", default=None, help="Progress bar on stderr (default: when a terminal).")
def train(name, data, config, sets, out, device, fresh, threads, progress):
    """Train baseline NAME on the train split of --data; resume an unfinished run; print the checkpoint path.

    The last `val_size` training images are held out; the validation
    negative ELBO, train metrics and the learning rate go to stderr and to
    RUN/log.jsonl.
    """
    from pathlib import Path

    from ..baselines.common import checkpoint as ckpt
    from ..baselines.common.data import TrainData, default_run_dir
    from ..baselines.common.training import LOG, train as run
    from ..registry import get_baseline

    _threads(threads)
    cls = get_baseline(name)
    overrides = parse_sets(sets)
    if device:
        overrides["device"] = device
    conf = cls.resolve_config(config, overrides)
    config_name = config if config in cls.CONFIGS else Path(config).stem
    if sets:
        import hashlib
        import json

        config_name += "-" + hashlib.sha256(json.dumps(parse_sets(sets), sort_keys=True).encode()).hexdigest()[:8]
    log = lambda m: click.echo(m, err=True)  # noqa: E731
    if int(os.environ.get("RANK", "0") or 0) != 0:  # under torchrun, rank 0 speaks for the run
        log = lambda m: None  # noqa: E731
    td = TrainData.for_model(cls, data, conf.val_size, log=log)
    directory = Path(out) if out else default_run_dir(Path("runs"), cls.name, td.info, config_name)
    if fresh:
        for f in (ckpt.FILENAME, LOG):
            (directory / f).unlink(missing_ok=True)
    result = run(cls, td, conf, directory, config_name=config_name, progress=progress, log=log, threads=threads)
    if result.rank == 0:  # under torchrun, rank 0 speaks for the run
        click.echo(str(result.directory / ckpt.FILENAME))


@baseline.command()
@click.argument("name")
@click.option("--checkpoint", "-k", required=True, type=click.Path(), help="checkpoint.pt (or its run directory).")
@click.option("--data", "-d", required=True, help="Dataset directory (or family/preset under $SCENEBENCH_DATA).")
@click.option("--split", "-s", default="test", show_default=True)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Submission file (.h5 or .npz).")
@click.option("--num-samples", "-S", type=int, default=100, show_default=True,
              help="Importance samples per image for log_weights.")
@click.option("--fields", default=None, metavar="LIST",
              help="Comma-separated submission fields (default: segmentation,num_objects,log_weights,elbo "
                   "where supported; also reconstruction, latents, masks).")
@click.option("--batch-size", type=int, default=None, help="Images per batch (default: the config's eval_batch_size).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the importance sampling.")
@click.option("--device", default=None, help="auto (default), cpu, cuda or cuda:N.")
@click.option("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice).")
@click.option("--progress/--no-progress", default=None, help="Progress bar on stderr (default: when a terminal).")
def predict(name, checkpoint, data, split, output, num_samples, fields, batch_size, seed, device, threads, progress):
    """Write baseline NAME's predictions for --split of --data as a submission for `scenebench evaluate`."""
    from ..baselines.common.checkpoint import load_model
    from ..baselines.common.predict import predict as run
    from ..registry import get_baseline

    _threads(threads)
    cls = get_baseline(name)
    model = load_model(checkpoint, device=device, expect=cls)
    notes = f"scenebench baseline {name}, checkpoint step {getattr(model, 'trained_steps', '?')}, " \
            f"{num_samples} importance samples, seed {seed}"
    path = run(model, data, split, output, fields=fields, num_samples=num_samples, batch_size=batch_size,
               seed=seed, notes=notes, progress=progress)
    click.echo(str(path))


@baseline.command()
@click.argument("name")
@click.option("--checkpoint", "-k", required=True, type=click.Path(), help="checkpoint.pt (or its run directory).")
@click.option("--data", "-d", required=True, help="Dataset directory (or family/preset under $SCENEBENCH_DATA).")
@click.option("--split", "-s", default="test", show_default=True)
@click.option("--num", "-n", type=click.IntRange(1, 64), default=8, show_default=True, help="Images on the sheets.")
@click.option("--out", "-o", "out", default=None, type=click.Path(file_okay=False),
              help="Directory of the PNGs (default: next to the checkpoint).")
@click.option("--device", default=None, help="auto (default), cpu, cuda or cuda:N.")
def sheets(name, checkpoint, data, split, num, out, device):
    """Save contact sheets of baseline NAME: reconstructions.png and, where it can, traversals.png; print their paths."""
    from pathlib import Path

    from ..baselines.common.checkpoint import load_model
    from ..baselines.common.data import read_images
    from ..baselines.common.sheets import contact_sheets
    from ..datasets.reader import resolve_dataset
    from ..registry import get_baseline

    cls = get_baseline(name)
    model = load_model(checkpoint, device=device, expect=cls)
    directory = resolve_dataset(data)
    images = read_images(directory, split, 0, num)
    run_dir = Path(checkpoint) if Path(checkpoint).is_dir() else Path(checkpoint).parent
    for path in contact_sheets(model, images, Path(out) if out else run_dir, num=num):
        click.echo(str(path))


@click.command()
@click.argument("table")
@click.option("--config", "-c", type=click.Choice(["smoke", "paper"]), default="smoke", show_default=True,
              help="smoke: small data, tiny models, minutes on a CPU; paper: the papers' sizes and hyperparameters.")
@click.option("--seeds", default="0", show_default=True, metavar="LIST",
              help="Comma-separated training seeds (mean ± std over them), e.g. 0,1,2.")
@click.option("--data-root", default=None, type=click.Path(file_okay=False),
              help="Where datasets are found or generated (default: $SCENEBENCH_DATA, else ./data).")
@click.option("--runs", default="runs", show_default=True, type=click.Path(file_okay=False),
              help="Checkpoints, submissions and cached results.")
@click.option("--leaderboard", "board", default="leaderboard", show_default=True, type=click.Path(file_okay=False),
              help="Leaderboard directory the results are added to.")
@click.option("--no-leaderboard", is_flag=True, help="Do not add the results to the leaderboard.")
@click.option("--only", default=None, metavar="COLUMNS",
              help="Comma-separated columns to run (e.g. mnist-1k,dsprites).")
@click.option("--device", default=None, help="auto (default), cpu, cuda or cuda:N.")
@click.option("--workers", "-j", type=int, default=None, help="Processes for generation and scoring.")
@click.option("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice).")
@click.option("-o", "--output", default=None, type=click.Path(dir_okay=False), help="Also write the table here.")
@click.option("--set", "sets", multiple=True, metavar="BASELINE.KEY=VALUE",
              help="Override a config field of one baseline's runs (repeatable), e.g. "
                   "cis.imagenet_checkpoint=resnet50.pth.")
@click.option("--progress/--no-progress", default=None, help="Progress bars on stderr (default: when a terminal).")
def reproduce(table, config, seeds, data_root, runs, board, no_leaderboard, only, device, workers, threads, output,
              sets, progress):
    """Regenerate, train, predict, evaluate and print a paper TABLE (e.g. lavae-table1) beside the paper's numbers."""
    from ..evaluation.reproduce import reproduce as run

    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--seeds {seeds!r}: expected comma-separated integers, e.g. 0,1,2") from None
    overrides: dict = {}
    for key, value in parse_sets(sets).items():
        name, dot, field = key.partition(".")
        if not dot or not name or not field:
            raise ConfigError(f"--set {key}={value}: expected BASELINE.KEY=VALUE, e.g. cis.steps=1000")
        overrides.setdefault(name, {})[field] = value
    _threads(threads)
    report = run(table, config, seeds=seed_list, data_root=data_root, runs=runs,
                 leaderboard=None if no_leaderboard else board,
                 only=_columns(only), device=device, train_overrides=overrides or None,
                 workers=workers, progress=progress, log=lambda m: click.echo(m, err=True))
    text = report.markdown()
    if output:
        try:
            os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
            with open(output, "w") as fh:
                fh.write(text)
        except OSError as exc:
            raise ConfigError(f"-o {output}: cannot write ({exc.strerror or exc})") from None
    if report.entries:
        click.echo(f"{len(report.entries)} leaderboard entries in {board}", err=True)
    click.echo(text, nl=False)
