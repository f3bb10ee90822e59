"""The ``scenebench`` command: a thin skin over the library.

The commands live next to the part of the library they drive
(:mod:`.datasets`, :mod:`.evaluation`, :mod:`.baseline`); this module only
assembles the group. Heavy modules (h5py, torch, dask) are imported inside
the commands that use them, so ``scenebench --help`` and ``scenebench list``
answer quickly.
"""

from __future__ import annotations

import click

from .. import __version__
from .baseline import baseline, reproduce
from .common import Group
from .datasets import generate, list_, show, verify
from .evaluation import evaluate, leaderboard


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="scenebench")
def main():
    """Deterministic datasets and benchmarks for object-centric scene learning."""


for _command in (generate, list_, verify, show, evaluate, leaderboard, baseline, reproduce):
    main.add_command(_command)


if __name__ == "__main__":
    main()
