"""Shard compression choices on real samples: write and read speed, bytes per image, determinism.

    python benchmarks/compression.py [--num 4096] [--repeat 3]

Draws ``--num`` samples of multi_dsprites ``lavae`` and ``cis`` once, then
writes them as one shard with each candidate and reads them back:

- scenebench's codecs (``deflate``, the default; ``none``; ``blosc-lz4``)
  written the way ``generate`` writes them (:class:`RowWriter`: deflate chunks
  encoded by zlib-ng and written with ``write_direct_chunk``), read back both
  by plain h5py (``f[name][()]``, HDF5's own filters) and by scenebench's
  reader (chunk index + ``pread`` + zlib-ng);
- HDF5's own filters written by h5py (``gzip-1``, ``gzip-4``, ``lzf``), the
  procedure a hand-written writer would use; ``gzip-1`` is the reference the
  ratios are taken against (same stream format as ``deflate``);
- the deflate encoders ``deflate`` could use, on the same (shuffled) chunks:
  zlib-ng levels 1 and 2 (scenebench uses 2), stdlib zlib level 1 and, when
  ``isal`` is installed, ISA-L level 1 (fast, but not deterministic in every
  process state; see :mod:`scenebench.datasets.codecs`).

MB/s are of decoded bytes; "1-sample reads/s" reads random single samples
through each path. "same bytes" writes the file twice and compares SHA-256s
(shard hashes are part of the manifest, so a codec must be deterministic).
Best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time

import h5py
import numpy as np

from scenebench.datasets.codecs import CODECS
from scenebench.datasets.reader import SplitReader
from scenebench.datasets.schema import RowWriter, batch_samples, chunk_rows, create_datasets
from scenebench.datasets.shards import draw
from scenebench.generator import resolve

H5PY_FILTERS = {
    "h5py gzip-1": dict(compression="gzip", compression_opts=1, shuffle=True, fletcher32=True),
    "h5py gzip-4": dict(compression="gzip", compression_opts=4, shuffle=True, fletcher32=True),
    "h5py lzf": dict(compression="lzf", shuffle=True, fletcher32=True),
}


def write_ours(path, batch, name):
    codec = CODECS[name]
    n = batch.n
    with h5py.File(path, "w", libver=("v110", "v110"), track_order=False, rdcc_nbytes=0) as f:
        f.attrs.update(fingerprint="benchmark", split="s", first_index=0)  # what the loader checks
        rows = RowWriter(create_datasets(f, batch.features, n, codec), codec)
        step = batch_samples(batch.features)
        for start in range(0, n, step):
            rows({k: v[start:start + step] for k, v in batch.arrays.items()}, start)


def write_h5py(path, batch, kw):
    b = batch_samples(batch.features)
    with h5py.File(path, "w", libver=("v110", "v110"), track_order=False) as f:
        for feat in batch.features:
            a = batch.arrays[feat.name]
            f.create_dataset(feat.name, data=a, chunks=(min(len(a), chunk_rows(feat, b)),) + a.shape[1:],
                             track_times=False, fillvalue=np.array(feat.fill, a.dtype), **kw)


def read_plain(path, names):
    if "blosc" in path:
        import hdf5plugin  # noqa: F401
    with h5py.File(path, "r") as f:
        return {k: f[k][()] for k in names}


def ours_reader(path, batch, name):
    """A SplitReader over one shard file through a minimal manifest (what `generate` would record)."""
    manifest = {"splits": {"s": {"num_samples": batch.n, "shards": [{"file": os.path.basename(path),
                                                                        "first_index": 0, "num_samples": batch.n}]}},
                "features": {"s": [f.describe() for f in batch.features]}, "compression": name,
                "fingerprint": "benchmark"}
    return SplitReader(os.path.dirname(path), "s", manifest=manifest)


def encoder_inputs(batch):
    """The shuffled bytes of every whole chunk ``deflate`` compresses for ``batch``."""
    from scenebench.datasets.codecs import _shuffled

    step = batch_samples(batch.features)
    out = []
    for feat in batch.features:
        a = np.ascontiguousarray(batch.arrays[feat.name])
        rows = min(len(a), chunk_rows(feat, step))
        out += [_shuffled(a[s:s + rows]).tobytes() for s in range(0, len(a) - rows + 1, rows)]
    return out


def encoders():
    import zlib

    from zlib_ng import zlib_ng

    found = [("zlib-ng 2 (used)", zlib_ng.compress, 2), ("zlib-ng 1", zlib_ng.compress, 1),
             ("zlib 1", zlib.compress, 1)]
    try:
        from isal import isal_zlib

        found.append(("ISA-L 1", isal_zlib.compress, 1))
    except ImportError:
        pass
    return found


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--num", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    for preset in ("lavae", "cis"):
        spec = resolve("multi_dsprites", preset, num=args.num)
        batch = draw(spec, "train", 0, args.num)
        raw = sum(a.nbytes for a in batch.arrays.values())
        names = list(batch.arrays)
        picks = rng.integers(0, args.num, 2000)
        print(f"\nmulti_dsprites/{preset}: {args.num} samples, {raw / args.num:,.0f} decoded bytes/sample")
        print(f"{'codec':<16}{'write MB/s':>11}{'read MB/s h5py':>16}{'read MB/s ours':>16}"
              f"{'1-sample/s h5py':>17}{'1-sample/s ours':>17}{'bytes/img':>11}  same bytes")
        rows = {}
        with tempfile.TemporaryDirectory() as d:
            candidates = [(n, lambda p, n=n: write_ours(p, batch, n)) for n in ("deflate", "none", "blosc-lz4")]
            candidates += [(n, lambda p, kw=kw: write_h5py(p, batch, kw)) for n, kw in H5PY_FILTERS.items()]
            for name, write in candidates:
                p1, p2 = os.path.join(d, f"{name}-1.h5".replace(" ", "_")), os.path.join(d, f"{name}-2.h5".replace(" ", "_"))
                tw = best(lambda: write(p1), args.repeat)
                write(p2)
                same = hashlib.sha256(open(p1, "rb").read()).digest() == hashlib.sha256(open(p2, "rb").read()).digest()
                tr = best(lambda: read_plain(p1, names), args.repeat)

                def singles_plain():
                    if "blosc" in name:
                        import hdf5plugin  # noqa: F401
                    with h5py.File(p1, "r") as f:
                        ds = [f[k] for k in names]
                        for i in picks[:500]:
                            for x in ds:
                                x[i]

                ts_plain = best(singles_plain, args.repeat) / 500
                ours = "-" if name.startswith("h5py") else None
                if ours is None:
                    r = ours_reader(p1, batch, name)
                    tro = best(lambda: r.read(0, args.num), args.repeat)

                    def singles_ours():
                        r2 = ours_reader(p1, batch, name)
                        for i in picks:
                            r2[int(i)]
                        r2.close()

                    tso = best(singles_ours, args.repeat) / len(picks)
                    r.close()
                size = os.path.getsize(p1)
                rows[name] = (raw / tw / 1e6, size / args.num)
                print(f"{name:<16}{raw / tw / 1e6:>11,.0f}{raw / tr / 1e6:>16,.0f}"
                      f"{(f'{raw / tro / 1e6:,.0f}' if ours is None else '-'):>16}{1 / ts_plain:>17,.0f}"
                      f"{(f'{1 / tso:,.0f}' if ours is None else '-'):>17}{size / args.num:>11,.0f}  {same}")
        chunks = encoder_inputs(batch)
        total = sum(map(len, chunks))
        print(f"deflate encoders on the {len(chunks)} chunks ({total / 1e6:.1f} MB):")
        for label, compress, level in encoders():
            t = best(lambda: [compress(c, level) for c in chunks], args.repeat)
            size = sum(len(compress(c, level)) for c in chunks)
            print(f"  {label:<18}{total / t / 1e6:>8,.0f} MB/s{size / args.num:>9,.0f} bytes/img")
        w, s = rows["deflate"]
        rw, rs = rows["h5py gzip-1"]
        print(f"deflate vs h5py gzip-1 (same stream format): {w / rw:.1f}x write speed, {s / rs:.2f}x the size; "
              f"vs blosc-lz4: {w / rows['blosc-lz4'][0]:.2f}x write speed, {s / rows['blosc-lz4'][1]:.2f}x the size")


if __name__ == "__main__":
    main()
