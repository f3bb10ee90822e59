"""Where scenebench keeps and looks for input files on this machine.

Every source (MNIST IDX files, SMPL model files, a Flying Animals asset
pack) is looked for in the same order: an explicit directory (a config
field), else the source's environment variable, else its folder of the
cache ``$SCENEBENCH_CACHE`` (default ``~/.cache/scenebench``).
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(name: str) -> Path:
    """``$SCENEBENCH_CACHE/<name>``, default ``~/.cache/scenebench/<name>``."""
    base = os.environ.get("SCENEBENCH_CACHE")
    return (Path(base).expanduser() if base else Path.home() / ".cache" / "scenebench") / name


def input_dir(directory: str | os.PathLike | None, env_var: str, name: str) -> Path:
    """``directory`` if given, else ``$<env_var>`` if set, else :func:`cache_dir` ``(name)``."""
    if directory:
        return Path(directory).expanduser()
    env = os.environ.get(env_var)
    if env:
        return Path(env).expanduser()
    return cache_dir(name)
