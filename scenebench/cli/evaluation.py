"""Evaluation commands: ``scenebench evaluate`` and ``scenebench leaderboard``.

Module imports stay light (click only): the metrics, h5py and scipy load
inside the commands.
"""

from __future__ import annotations

import click


@click.command()
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

    SUBMISSION is an HDF5 or .npz file written by scenebench.evaluation.submission.write.
    Prints a table (or the results JSON with --json -); any problem with the
    submission is one `error:` line and exit status 2, with nothing added to
    the leaderboard.
    """
    import json
    import os

    from ..evaluation.evaluate import evaluate as run, format_table, write_results

    if data is None:
        data = os.environ.get("SCENEBENCH_DATA", "data")
    results = run(submission, data, split=split, metrics=list(metrics) or None, workers=workers, progress=progress)
    if json_out and json_out != "-":
        write_results(results, json_out)
    if board:
        from ..evaluation.leaderboard import add_entry

        path = add_entry(results, board)
        click.echo(f"leaderboard entry: {path}", err=True)
    if json_out == "-":
        click.echo(json.dumps(results, indent=2, allow_nan=False))
    else:
        click.echo(format_table(results))


@click.command()
@click.option("--dir", "directory", default="leaderboard", show_default=True, type=click.Path(file_okay=False),
              help="Leaderboard directory (entries in DIR/entries/*.json).")
@click.option("--format", "-f", "fmt", type=click.Choice(["md", "html"]), default=None,
              help="Markdown table or static HTML page (default: from -o's suffix, else md).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write here instead of stdout.")
def leaderboard(directory, fmt, output):
    """Render the leaderboard as a Markdown table or a sortable HTML page."""
    from ..evaluation.leaderboard import render, write_text

    if fmt is None:
        fmt = "html" if output and output.lower().endswith((".html", ".htm")) else "md"
    text = render(directory, fmt)
    if output:
        write_text(output, text)
        click.echo(output)
    else:
        click.echo(text, nl=False)
