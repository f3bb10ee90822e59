"""The manifest of a dataset directory: where a dataset lives and how its manifest is read.

A leaf module (it needs only the schema version), so the reader,
the writer, the dataset card, ``verify`` and ``evaluate`` all read manifests
through it without importing each other.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DatasetError
from .identity import SCHEMA_VERSION

if TYPE_CHECKING:
    from ..generator import DatasetSpec

MANIFEST = "manifest.json"


class NewerSchemaError(DatasetError):
    """A manifest written by a newer scenebench: never rewritten, never taken for a damaged one."""


def dataset_dir(root: str | os.PathLike, spec: DatasetSpec) -> Path:
    return Path(root) / spec.family / spec.preset / f"v{spec.version}-seed{spec.seed}"


def read_manifest(directory: str | os.PathLike) -> dict:
    """Read and check a dataset manifest (schema version, required keys)."""
    path = Path(directory)
    if path.name == MANIFEST:
        path = path.parent
    mpath = path / MANIFEST
    if not mpath.is_file():
        raise DatasetError(f"{path}: no {MANIFEST} here; expected a dataset directory made by `scenebench generate`")
    try:
        manifest = json.loads(mpath.read_text())
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{mpath}: not readable JSON ({exc.__class__.__name__}); expected a scenebench manifest") from None
    if not isinstance(manifest, dict) or "schema_version" not in manifest:
        raise DatasetError(f"{mpath}: no schema_version; expected a scenebench manifest")
    sv = manifest["schema_version"]
    if not isinstance(sv, int) or sv > SCHEMA_VERSION:
        raise NewerSchemaError(f"{mpath}: schema version {sv!r} is newer than this scenebench supports "
                               f"({SCHEMA_VERSION}); upgrade scenebench")
    for key in ("fingerprint", "identity", "splits"):
        if key not in manifest:
            raise DatasetError(f"{mpath}: missing {key!r}; expected a complete scenebench manifest")
    _check_splits(mpath, manifest)
    return manifest


_SHARD_NAME = re.compile(r"shard-\d{5}-of-\d{5}\.h5")


def _check_splits(mpath: Path, manifest: dict) -> None:
    """Every shard entry names a file ``<split>/shard-NNNNN-of-NNNNN.h5`` inside the dataset, with integer counts.

    A manifest is read from disk and may be edited or hostile: a ``file``
    like ``../../etc/hostname`` must never be hashed or opened.
    """
    splits = manifest["splits"]
    if not isinstance(splits, dict):
        raise DatasetError(f"{mpath}: 'splits' is not a mapping; expected a scenebench manifest")
    for split, entry in splits.items():
        bad = f"{mpath}: split {split!r} has a malformed entry"
        if not isinstance(entry, dict) or not isinstance(entry.get("shards"), list) \
                or not _count(entry.get("num_samples")):
            raise DatasetError(f"{bad}; expected num_samples and a list of shards")
        if "/" in split or split in (".", "..") or not split:
            raise DatasetError(f"{mpath}: split name {split!r} is not a plain folder name")
        for s in entry["shards"]:
            f = s.get("file") if isinstance(s, dict) else None
            if not isinstance(f, str) or f.count("/") != 1 or f.split("/")[0] != split \
                    or not _SHARD_NAME.fullmatch(f.split("/")[1]):
                raise DatasetError(f"{bad}: shard file {f!r}; expected {split}/shard-NNNNN-of-NNNNN.h5 inside "
                                   "the dataset directory")
            if not (_count(s.get("first_index")) and _count(s.get("num_samples")) and isinstance(s.get("sha256"), str)):
                raise DatasetError(f"{bad}: shard {f}; expected first_index, num_samples and sha256")


def _count(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def manifest_compression(manifest: dict) -> str:
    """The codec name a dataset's shards are stored with (Blosc-LZ4 for manifests older than the field)."""
    from .codecs import LEGACY

    return manifest.get("compression", LEGACY)
