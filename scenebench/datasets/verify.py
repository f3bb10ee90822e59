"""Re-hash every shard of a dataset against its manifest."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .shards import sha256_file
from .manifest import read_manifest


@dataclass
class VerifyReport:
    directory: Path
    checked: int = 0
    problems: list = field(default_factory=list)  # one line per bad shard

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(path: str | os.PathLike) -> VerifyReport:
    """Check every shard listed in the manifest exists and matches its SHA-256 and attributes."""
    import h5py

    from .reader import resolve_dataset

    from .identity import fingerprint

    directory = resolve_dataset(path)
    manifest = read_manifest(directory)
    report = VerifyReport(directory)
    ident = manifest["identity"]
    try:
        recomputed = fingerprint(ident["family"], ident["preset"], ident["config"], ident["version"], ident["seed"])
    except (KeyError, TypeError, ValueError):
        recomputed = None
    if recomputed != manifest["fingerprint"]:
        report.problems.append("manifest.json: its identity does not hash to its fingerprint (the manifest was "
                               "edited); the shards' own identity attributes tell what they hold")
    for split, entry in manifest["splits"].items():
        total = 0
        for shard in entry["shards"]:
            p = directory / shard["file"]
            report.checked += 1
            total += shard["num_samples"]
            if not p.is_file():
                report.problems.append(f"{shard['file']}: missing")
                continue
            digest = sha256_file(p)
            if digest != shard["sha256"]:
                report.problems.append(f"{shard['file']}: SHA-256 {digest[:16]}… does not match the manifest's "
                                       f"{shard['sha256'][:16]}…")
                continue
            try:
                with h5py.File(p, "r") as f:
                    if f.attrs.get("fingerprint") != manifest["fingerprint"] or f.attrs.get("split") != split \
                            or f.attrs.get("first_index") != shard["first_index"]:
                        report.problems.append(f"{shard['file']}: fingerprint, split or first_index attribute "
                                               "differs from the manifest")
            except OSError as exc:
                report.problems.append(f"{shard['file']}: unreadable HDF5 ({exc})")
        if total != entry["num_samples"]:
            report.problems.append(f"{split}: shards hold {total} samples, manifest says {entry['num_samples']}")
    return report
