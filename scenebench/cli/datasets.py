"""Dataset commands: ``scenebench generate``, ``list``, ``verify`` and ``show``.

Module imports stay light (click only): h5py, numpy and the generators are
imported inside the commands that use them.
"""

from __future__ import annotations

import click

from ..errors import ScenebenchError
from .common import parse_sets


@click.command()
@click.argument("family")
@click.option("--preset", "-p", default=None, help="Preset name (default: the family's first preset).")
@click.option("--out", "-o", "root", default="data", show_default=True, type=click.Path(file_okay=False),
              help="Root directory; the dataset goes to ROOT/FAMILY/PRESET/vVERSION-seedSEED.")
@click.option("--num", "-n", type=int, default=None, help="Samples per split (overrides every split's size).")
@click.option("--split", "splits", multiple=True, help="Generate only this split (repeatable).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override a config field, e.g. --set max_objects=5 or --set splits.train=1000.")
@click.option("--workers", "-j", type=int, default=None, help="Local worker processes (default: all cores).")
@click.option("--scheduler", default=None, metavar="ADDRESS", help="Run the shard tasks on this Dask scheduler.")
@click.option("--shard-size", type=int, default=None, help="Samples per shard (default: ~64 MB per shard).")
@click.option("--compression", default=None, metavar="NAME",
              help="Chunk codec: deflate (default; any HDF5 reader opens it), none, or blosc-lz4 (needs hdf5plugin "
                   "to read). An existing dataset keeps its own.")
@click.option("--progress/--no-progress", default=None, help="Progress bar on stderr (default: when a terminal).")
def generate(family, preset, root, num, splits, seed, sets, workers, scheduler, shard_size, compression, progress):
    """Generate (or resume generating) a dataset; print its directory."""
    from ..generator import resolve
    from ..registry import get_generator
    from ..datasets.writer import generate as run

    if preset is None:
        preset = next(iter(get_generator(family).PRESETS))
    if shard_size is not None and shard_size < 1:
        raise ScenebenchError(f"--shard-size must be >= 1, got {shard_size}")
    spec = resolve(family, preset, seed=seed, overrides=parse_sets(sets), num=num)
    out = run(spec, root, splits=splits or None, workers=workers, scheduler=scheduler, shard_size=shard_size,
              compression=compression, progress=progress, log=lambda m: click.echo(m, err=True))
    click.echo(str(out))


@click.command("list")
def list_():
    """Dataset families, presets, versions and split sizes."""
    from ..registry import catalog

    for gen in catalog():
        click.echo(f"{gen['name']}  v{gen['version']}  {gen['description']}")
        for pname, splits in gen["presets"].items():
            sizes = ", ".join(f"{s} {n:,}" for s, n in splits.items())
            click.echo(f"  {pname:<14} {sizes}")


@click.command()
@click.argument("path", type=click.Path())
def verify(path):
    """Re-hash every shard against the manifest (exit 1 on any mismatch)."""
    from ..errors import VerifyError
    from ..datasets.verify import verify as run

    report = run(path)
    for line in report.problems:
        click.echo(f"MISMATCH {line}")
    if not report.ok:
        raise VerifyError(f"{len(report.problems)} of {report.checked} shards in {report.directory} failed verification")
    click.echo(f"ok: {report.checked} shards in {report.directory} match the manifest")


@click.command()
@click.argument("path", type=click.Path())
@click.option("--split", "-s", default=None, help="Split (default: train, else the first).")
@click.option("-n", "num", type=int, default=16, show_default=True, help="Number of samples.")
@click.option("--columns", type=int, default=4, show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default="sheet.png", show_default=True)
def show(path, split, num, columns, output):
    """Save a contact sheet of the first samples (image + segmentation overlay)."""
    from ..datasets.card import save_png, sheet_from_split
    from ..datasets.reader import resolve_dataset
    from ..datasets.manifest import read_manifest

    if num < 1 or columns < 1:
        raise ScenebenchError("-n and --columns must be >= 1")
    if not str(output).lower().endswith(".png"):
        raise ScenebenchError(f"-o {output}: a contact sheet is a PNG; expected a file name ending in .png")
    directory = resolve_dataset(path)
    splits = read_manifest(directory)["splits"]
    split = split or ("train" if "train" in splits else next(iter(splits)))
    if split not in splits:
        raise ScenebenchError(f"split {split!r} not in {directory}; splits: {', '.join(splits)}")
    try:
        save_png(sheet_from_split(directory, split, num, columns), output)
    except OSError as exc:
        raise ScenebenchError(f"cannot write {output}: {exc.strerror or exc}") from None
    click.echo(output)
