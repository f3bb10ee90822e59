"""Generate a dataset directory: plan shards, run them, resume, write the manifest last.

Layout (schema version 1)::

    <root>/<family>/<preset>/v<version>-seed<seed>/
        manifest.json   README.md   preview.png
        <split>/shard-00000-of-00008.h5

While a run is under way the directory holds ``.progress.json`` (the
identity and the entry of every finished shard) and a lock. A run that was
killed resumes from it: shards whose bytes match their recorded SHA-256 are
kept, the rest (including half-written temporaries) are redrawn. The
manifest is written last, atomically.
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable

from .. import __version__
from ..atomic import write_json_atomic
from ..errors import DatasetError
from ..generator import DatasetSpec
from .identity import SCHEMA_VERSION
from .codecs import DEFAULT, LEGACY, get_codec
from .manifest import MANIFEST, NewerSchemaError, dataset_dir, manifest_compression, read_manifest
from .shards import check_existing, plan, write_shard

PROGRESS = ".progress.json"
LOCK = ".lock"


@contextmanager
def _locked(directory: Path):
    """Hold an exclusive lock on ``directory`` (one writer at a time); the lock file goes with it."""
    fh = open(directory / LOCK, "a")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise DatasetError(f"{directory}: another `scenebench generate` is writing this dataset") from None
    try:
        yield
    finally:
        (directory / LOCK).unlink(missing_ok=True)
        fh.close()


def _prepare_directory(out: Path, spec: DatasetSpec, compression: str | None) -> tuple[dict | None, dict, str]:
    """Check ``out`` can hold ``spec``; return (existing manifest, known shard entries, compression).

    ``compression=None`` keeps the dataset's own (the default for a new
    one); another compression than the one its shards already use is an
    error, so one dataset never mixes codecs.
    """
    fp = spec.fingerprint
    manifest = None
    known: dict = {}
    stored = None
    damaged = False
    if (out / MANIFEST).exists():
        try:
            manifest = read_manifest(out)
        except NewerSchemaError:
            raise
        except DatasetError:  # truncated or garbage: the shards carry their identity, rebuild from them
            damaged = True
    if manifest is not None:
        if manifest["fingerprint"] != fp:
            raise DatasetError(_different(out, manifest.get("identity", {}), spec))
        stored = manifest_compression(manifest)
        for split in manifest["splits"].values():
            for e in split["shards"]:
                known[e["file"]] = e
    progress = out / PROGRESS
    if progress.exists():
        try:
            state = json.loads(progress.read_text())
        except ValueError:
            state = {"fingerprint": fp, "shards": {}}  # torn journal: trust nothing in it
        if not isinstance(state, dict) or not isinstance(state.get("shards"), dict):
            state = {"fingerprint": fp, "shards": {}}
        if state.get("fingerprint") != fp:
            if manifest is not None or state["shards"]:
                raise DatasetError(_different(out, state.get("identity", {}), spec))
            state = {"fingerprint": fp, "shards": {}}  # a run of another config that finished nothing: nothing lost
        if stored is None and state["shards"]:
            stored = state.get("compression", LEGACY)
        known.update(state["shards"])
    elif manifest is None and (damaged or any(not _ours(p) for p in out.iterdir())):
        found = _intact_shards(out, fp)
        if not found:
            what = "a damaged manifest.json and no shard of this dataset" if damaged else "is not a scenebench dataset"
            raise DatasetError(f"{out}: {'holds ' if damaged else 'exists and '}{what}; choose another --out "
                               "(nothing was changed)")
        known.update(found)  # the manifest is lost or damaged: the intact shards of this dataset are kept
        stored = _shard_compression(out / next(iter(found)))
    if compression is not None and stored is not None and compression != stored:
        raise DatasetError(f"{out}: its shards are stored with --compression {stored}, not {compression}; "
                           f"re-run with --compression {stored} (or without it), or choose another --out")
    return manifest, known, compression or stored or DEFAULT


def _intact_shards(out: Path, fp: str) -> dict:
    """Manifest entries of the shards under ``out`` that belong to fingerprint ``fp`` and read back whole.

    Every dataset of such a shard is read through HDF5 (its Fletcher-32 and
    deflate checks), so only shards that are really intact are kept.
    """
    import h5py
    import hdf5plugin  # noqa: F401  (shards stored with --compression blosc-lz4)

    from .shards import sha256_file

    found = {}
    for p in sorted(out.glob("*/shard-*.h5")):
        if ".tmp-" in p.name:
            continue
        try:
            with h5py.File(p, "r") as f:
                if f.attrs.get("fingerprint") != fp or f.attrs.get("split") != p.parent.name:
                    continue
                names = []
                f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
                for n in names:
                    f[n][()]
                first, count = int(f.attrs["first_index"]), int(f.attrs["num_samples"])
        except (OSError, KeyError, ValueError):
            continue
        rel = f"{p.parent.name}/{p.name}"
        found[rel] = {"file": rel, "first_index": first, "num_samples": count, "sha256": sha256_file(p)}
    return found


def _shard_compression(path: Path) -> str:
    import h5py

    with h5py.File(path, "r") as f:
        c = f.attrs.get("compression", LEGACY)
    return c.decode() if isinstance(c, bytes) else str(c)


def _ours(p: Path) -> bool:
    """A file scenebench leaves in a dataset directory before its journal exists: the lock or an atomic temporary."""
    return p.name == LOCK or (p.is_file() and p.name.startswith(".") and ".tmp-" in p.name)


def _different(out: Path, other: dict, spec: DatasetSpec) -> str:
    mine = spec.identity_config
    theirs = other.get("config", {}) if isinstance(other, dict) else {}
    diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
    what = f" (config differs in: {', '.join(diff)})" if diff else ""
    return (f"{out}: holds a different dataset{what}; choose another --out or remove it "
            "(nothing was overwritten)")


def generate(spec: DatasetSpec, root: str | os.PathLike, *, splits: Iterable[str] | None = None,
             workers: int | None = None, scheduler=None, shard_size: int | None = None,
             compression: str | None = None, progress: bool | None = None, log: Callable[[str], None] | None = None) -> Path:
    """Generate (or finish generating) ``spec`` under ``root``; return the dataset directory.

    ``compression``: a codec name of :mod:`.codecs` (default: the dataset's
    own, ``deflate`` for a new one). ``workers``: local processes (default: all cores). ``scheduler``: a Dask
    scheduler address or ``distributed.Client``; the same shard tasks then run
    on the cluster (workers must see ``root`` on a shared filesystem).
    """
    from .executors import check_workers, connect

    # everything a user can get wrong is checked before anything is created
    if compression is not None:
        get_codec(compression)  # unknown name -> ConfigError
    names = list(splits) if splits else list(spec.splits)
    for s in names:
        spec.split_config(s)  # unknown split -> ConfigError
    if scheduler is None:
        check_workers(workers)
    _check_writable(Path(root))
    _check_dataset_writable(dataset_dir(root, spec), names)
    _check_space(spec, names, Path(root))
    from .shards import split_assets

    for s in names:  # missing or too small asset sources fail here, before anything is written
        split_assets(spec, s)
    client, own = connect(scheduler) if scheduler is not None else (None, False)
    try:
        return _generate(spec, root, names, workers, client, shard_size, compression, progress,
                         log or (lambda msg: None))
    finally:
        if own:
            client.close()


def _generate(spec, root, names, workers, client, shard_size, compression, progress, log) -> Path:
    out = dataset_dir(root, spec)
    created = [p for p in (out, *out.parents) if not p.exists()]  # deepest first
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"{out}: cannot create the dataset directory ({exc.strerror or exc}); "
                           "expected a writable --out") from None
    try:
        with _locked(out):
            return _fill(out, spec, names, workers, client, shard_size, compression, progress, log)
    except BaseException:
        if created and not any(out.iterdir()):  # a failed first run leaves no directory behind either
            for d in created:
                try:
                    d.rmdir()
                except OSError:
                    break
        raise


def _fill(out, spec, names, workers, client, shard_size, compression, progress, log) -> Path:
    """Under the directory lock: plan, keep the valid shards, write the rest, then card and manifest."""
    from .executors import run_tasks
    from .shards import write_shard

    manifest, known, compression = _prepare_directory(out, spec, compression)
    for stale in out.glob(".*.tmp-*"):  # a journal/manifest write cut short by a kill
        stale.unlink()
    tasks, done = [], {}
    for split in names:
        planned = plan(spec, split, out, shard_size, compression)
        _remove_strays(out / split, {t.path.name for t in planned})
        for t in planned:
            entry = check_existing(t, known.get(t.filename))
            if entry:
                done[t.filename] = entry
            else:
                if t.filename in known:
                    log(f"rewriting {t.filename}: missing or does not match its recorded SHA-256")
                tasks.append(t)
    if manifest is not None and not tasks and not (out / PROGRESS).exists() and all(
            split in manifest["splits"] and manifest["splits"][split]["shards"] == _split_entries(done, split)
            for split in names):
        return out  # complete: left byte for byte alone
    state = {"fingerprint": spec.fingerprint, "identity": _identity(spec), "compression": compression,
             "shards": dict(done)}
    write_json_atomic(out / PROGRESS, state)

    def finished(entry: dict) -> None:
        state["shards"][entry["file"]] = entry
        write_json_atomic(out / PROGRESS, state)

    try:
        run_tasks(write_shard, tasks, workers=workers, scheduler=client, progress=progress, on_result=finished)
    except BaseException:
        if manifest is None and not state["shards"]:  # a first run that finished nothing leaves nothing
            _remove_run_files(out)
        raise
    split_entries = dict((manifest or {}).get("splits", {}))
    for split in names:
        split_entries[split] = {"num_samples": int(spec.splits[split]["num_samples"]),
                                "shards": _split_entries(state["shards"], split)}
    new_manifest = _manifest(spec, split_entries, compression)
    from .card import write_card

    write_card(out, new_manifest)
    write_json_atomic(out / MANIFEST, new_manifest)
    (out / PROGRESS).unlink(missing_ok=True)
    return out


def _split_entries(shards: dict, split: str) -> list:
    """The journal's entries of ``split``'s shards, in sample order."""
    return sorted((e for e in shards.values() if e["file"].startswith(split + "/")), key=lambda e: e["first_index"])


def _remove_run_files(out: Path) -> None:
    """Remove what a failed first run made in ``out``: its journal, temporaries and split folders of temporaries."""
    import shutil

    for p in out.iterdir():
        if p.is_dir():
            if all(q.name.startswith("shard-") and ".tmp-" in q.name for q in p.iterdir()):
                shutil.rmtree(p)
        elif p.name == PROGRESS or ".tmp-" in p.name:
            p.unlink()


def _identity(spec: DatasetSpec) -> dict:
    return {"family": spec.family, "preset": spec.preset, "version": spec.version, "seed": spec.seed,
            "config": spec.identity_config}


def _manifest(spec: DatasetSpec, splits: dict, compression: str) -> dict:
    from .shards import split_assets

    gen = spec.generator()
    features, assets = {}, {}
    for s in sorted(splits):
        config = spec.split_config(s)
        features[s] = [f.describe() for f in gen.features(config)]
        info = gen.describe_assets(split_assets(spec, s, config))
        if info:
            assets[s] = info
    import h5py
    import numpy

    return {
        "schema_version": SCHEMA_VERSION,
        "fingerprint": spec.fingerprint,
        "identity": _identity(spec),
        "spec": spec.to_dict(),
        "generator": {"name": spec.family, "version": spec.version, "release_notes": dict(gen.RELEASE_NOTES),
                      "description": gen.description, "paper": gen.paper},
        "assets": assets,
        "features": features,
        "compression": compression,
        "splits": {s: splits[s] for s in sorted(splits)},
        "created": {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "scenebench": __version__,
            "python": sys.version.split()[0],
            "numpy": numpy.__version__,
            "h5py": h5py.version.version,
            "hdf5": h5py.version.hdf5_version,
            "platform": platform.platform(),
        },
    }


def _check_writable(root: Path) -> None:
    p = root
    while not p.exists():
        p = p.parent
    if not p.is_dir():
        raise DatasetError(f"{root}: {p} is not a directory; expected a writable output directory")
    if not os.access(p, os.W_OK | os.X_OK):
        raise DatasetError(f"{root}: {p} is not writable; expected a writable output directory")


def _check_dataset_writable(out: Path, names) -> None:
    """An existing dataset directory, and each existing split directory to write, must be writable (and folders)."""
    for d in [out] + [out / s for s in names]:
        if not os.path.lexists(d):
            continue
        if not d.is_dir():
            raise DatasetError(f"{d}: exists and is not a directory; expected a dataset (or split) directory "
                               "or nothing there")
        if not os.access(d, os.W_OK | os.X_OK):
            raise DatasetError(f"{d}: is not writable; expected write permission on the dataset and its split "
                               "directories (or another --out)")


# No shard compresses better than this (multi_dsprites/lavae, the most compressible, stores 1/68 of its
# bytes): the disk a request needs is at least its decoded bytes divided by it.
BEST_COMPRESSION = 256


def _check_space(spec: DatasetSpec, names, root: Path) -> None:
    """Refuse a request the disk under ``root`` cannot hold, before anything is written."""
    import shutil

    from .shards import sample_nbytes

    need = sum(int(spec.splits[s]["num_samples"]) * max(1, sample_nbytes(spec, s) // BEST_COMPRESSION)
               for s in names)
    p = root
    while not p.exists():
        p = p.parent
    free = shutil.disk_usage(p).free
    if need > free:
        asked = ", ".join(f"{s} {int(spec.splits[s]['num_samples']):,}" for s in names)
        raise DatasetError(f"{root}: {asked} samples need at least {need / 2**30:,.1f} GiB on disk, "
                           f"{free / 2**30:,.1f} GiB are free; expected fewer samples (--num) or another --out")


def _remove_strays(split_dir: Path, keep: set) -> None:
    """Delete half-written temporaries and shards of another shard plan."""
    if not split_dir.is_dir():
        return
    for p in split_dir.iterdir():
        if p.name.startswith("shard-") and p.name not in keep:
            p.unlink()
