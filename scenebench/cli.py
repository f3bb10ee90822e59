"""The ``scenebench`` command: a thin skin over the library.

Heavy modules (h5py, torch, dask) are imported inside the commands that use
them, so ``scenebench --help`` and ``scenebench list`` answer quickly.
"""

from __future__ import annotations


import click

from . import __version__
from .cli_common import Group, parse_sets
from .errors import ScenebenchError


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="scenebench")
def main():
    """Deterministic datasets and benchmarks for object-centric scene learning."""


@main.command()
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
@click.option("--progress/--no-progress", default=None, help="Progress bar on stderr (default: when a terminal).")
def generate(family, preset, root, num, splits, seed, sets, workers, scheduler, shard_size, progress):
    """Generate (or resume generating) a dataset; print its directory."""
    from .generator import resolve
    from .registry import get_generator
    from .writer import generate as run

    if preset is None:
        preset = next(iter(get_generator(family).PRESETS))
    if shard_size is not None and shard_size < 1:
        raise ScenebenchError(f"--shard-size must be >= 1, got {shard_size}")
    spec = resolve(family, preset, seed=seed, overrides=parse_sets(sets), num=num)
    out = run(spec, root, splits=splits or None, workers=workers, scheduler=scheduler, shard_size=shard_size,
              progress=progress, log=lambda m: click.echo(m, err=True))
    click.echo(str(out))


@main.command("list")
def list_():
    """Dataset families, presets, versions and split sizes."""
    from .registry import iter_generators

    for gen in iter_generators():
        click.echo(f"{gen.name}  v{gen.VERSION}  {gen.description}")
        for pname, p in gen.PRESETS.items():
            sizes = ", ".join(f"{s} {sp.num_samples:,}" for s, sp in p.splits.items())
            click.echo(f"  {pname:<14} {sizes}")


@main.command()
@click.argument("path", type=click.Path())
def verify(path):
    """Re-hash every shard against the manifest (exit 1 on any mismatch)."""
    from .errors import VerifyError
    from .verify import verify as run

    report = run(path)
    for line in report.problems:
        click.echo(f"MISMATCH {line}")
    if not report.ok:
        raise VerifyError(f"{len(report.problems)} of {report.checked} shards in {report.directory} failed verification")
    click.echo(f"ok: {report.checked} shards in {report.directory} match the manifest")


@main.command()
@click.argument("path", type=click.Path())
@click.option("--split", "-s", default=None, help="Split (default: train, else the first).")
@click.option("-n", "num", type=int, default=16, show_default=True, help="Number of samples.")
@click.option("--columns", type=int, default=4, show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default="sheet.png", show_default=True)
def show(path, split, num, columns, output):
    """Save a contact sheet of the first samples (image + segmentation overlay)."""
    from .card import save_png, sheet_from_split
    from .reader import resolve_dataset
    from .writer import read_manifest

    if num < 1 or columns < 1:
        raise ScenebenchError("-n and --columns must be >= 1")
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


@main.command()
@click.argument("submission", type=click.Path())
@click.option("--data", "-d", default=None,
              help="Dataset directory, or a root holding datasets (found by the submission's fingerprint). "
                   "Default: $SCENEBENCH_DATA, else ./data.")
@click.option("--split", "-s", default=None, help="Expected split (default: the submission's).")
@click.option("--metrics", "-m", "metrics", multiple=True, metavar="NAMES",
              help="Only these metrics (comma-separated or repeated; default: every metric that applies).")
@click.option("--json", "json_out", default=None, metavar="OUT",
              help="Write the results JSON to OUT ('-': print it instead of the table).")
@click.option("--leaderboard", "board", default=None, type=click.Path(file_okay=False), metavar="DIR",
              help="Add the results to the leaderboard in DIR (one JSON file per entry).")
@click.option("--workers", "-j", type=int, default=None, help="Scoring processes (default: all cores).")
@click.option("--progress/--no-progress", default=None, help="Progress bar on stderr (default: when a terminal).")
def evaluate(submission, data, split, metrics, json_out, board, workers, progress):
    """Validate a submission against its dataset and score it.

    SUBMISSION is an HDF5 or .npz file written by scenebench.submission.write.
    Prints a table (or the results JSON with --json -); any problem with the
    submission is one `error:` line and exit status 2, with nothing added to
    the leaderboard.
    """
    import json
    import os

    from .evaluate import evaluate as run, format_table, write_results

    if data is None:
        data = os.environ.get("SCENEBENCH_DATA", "data")
    results = run(submission, data, split=split, metrics=list(metrics) or None, workers=workers, progress=progress)
    if json_out and json_out != "-":
        write_results(results, json_out)
    if board:
        from .leaderboard import add_entry

        path = add_entry(results, board)
        click.echo(f"leaderboard entry: {path}", err=True)
    if json_out == "-":
        click.echo(json.dumps(results, indent=2, allow_nan=False))
    else:
        click.echo(format_table(results))


@main.command()
@click.option("--dir", "directory", default="leaderboard", show_default=True, type=click.Path(file_okay=False),
              help="Leaderboard directory (entries in DIR/entries/*.json).")
@click.option("--format", "-f", "fmt", type=click.Choice(["md", "html"]), default=None,
              help="Markdown table or static HTML page (default: from -o's suffix, else md).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write here instead of stdout.")
def leaderboard(directory, fmt, output):
    """Render the leaderboard as a Markdown table or a sortable HTML page."""
    from .leaderboard import render, write_text

    if fmt is None:
        fmt = "html" if output and output.lower().endswith((".html", ".htm")) else "md"
    text = render(directory, fmt)
    if output:
        write_text(output, text)
        click.echo(output)
    else:
        click.echo(text, nl=False)


from .cli_baseline import baseline, reproduce  # noqa: E402  (click only; torch loads inside the commands)

main.add_command(baseline)
main.add_command(reproduce)


if __name__ == "__main__":
    main()
