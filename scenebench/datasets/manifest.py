"""The manifest of a dataset directory: where a dataset lives and how its manifest is read.

A leaf module (it needs only the schema version), so the reader,
the writer, the dataset card, ``verify`` and ``evaluate`` all read manifests
through it without importing each other.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DatasetError
from .identity import SCHEMA_VERSION

if TYPE_CHECKING:
    from ..generator import DatasetSpec

MANIFEST = "manifest.json"


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
        raise DatasetError(f"{mpath}: schema version {sv!r} is newer than this scenebench supports ({SCHEMA_VERSION}); "
                           "upgrade scenebench")
    for key in ("fingerprint", "identity", "splits"):
        if key not in manifest:
            raise DatasetError(f"{mpath}: missing {key!r}; expected a complete scenebench manifest")
    return manifest


def manifest_compression(manifest: dict) -> str:
    """The codec name a dataset's shards are stored with (Blosc-LZ4 for manifests older than the field)."""
    from .codecs import LEGACY

    return manifest.get("compression", LEGACY)
