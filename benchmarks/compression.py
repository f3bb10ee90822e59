"""Measure HDF5 compression choices on real shards: write and read time, bytes, determinism.

    python benchmarks/compression.py [--num 4000]

Draws one shard of multi-dSprites (lavae and cis), then writes it with each
filter and reads it back (whole-shard reads and per-sample reads), printing
MB/s and bytes per image. Output bytes must be identical across repeated
writes for a filter to be usable (shard SHA-256s are part of the manifest).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time

import h5py
import numpy as np

from scenebench.generator import resolve
from scenebench.datasets.shards import draw

FILTERS = {
    "none": {},
    "gzip-1": dict(compression="gzip", compression_opts=1),
    "gzip-4": dict(compression="gzip", compression_opts=4),
    "gzip-1+shuffle": dict(compression="gzip", compression_opts=1, shuffle=True),
    "lzf": dict(compression="lzf"),
}
try:
    import hdf5plugin

    FILTERS["blosc-lz4"] = dict(hdf5plugin.Blosc(cname="lz4", clevel=5, shuffle=hdf5plugin.Blosc.SHUFFLE))
    FILTERS["blosc-zstd-1"] = dict(hdf5plugin.Blosc(cname="zstd", clevel=1, shuffle=hdf5plugin.Blosc.SHUFFLE))
except ImportError:
    pass


def write(path, batch, kw):
    with h5py.File(path, "w") as f:
        for feat in batch.features:
            a = batch.arrays[feat.name]
            chunks = (min(len(a), feat.chunk_samples()),) + a.shape[1:]
            f.create_dataset(feat.name, data=a, chunks=chunks, track_times=False,
                             fillvalue=np.array(feat.fill, a.dtype), **kw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--num", type=int, default=4000)
    args = ap.parse_args()
    for preset in ("lavae", "cis"):
        spec = resolve("multi_dsprites", preset, num=args.num)
        batch = draw(spec, "train", 0, args.num)
        raw = sum(a.nbytes for a in batch.arrays.values())
        print(f"\nmulti_dsprites/{preset}: {args.num} samples, {raw / args.num:.0f} raw bytes/sample")
        print(f"{'filter':<16}{'write MB/s':>11}{'read MB/s':>11}{'1-sample reads/s':>18}{'bytes/img':>11}  deterministic")
        with tempfile.TemporaryDirectory() as d:
            for name, kw in FILTERS.items():
                p1, p2 = os.path.join(d, f"{name}-1.h5"), os.path.join(d, f"{name}-2.h5")
                t = time.perf_counter()
                write(p1, batch, kw)
                tw = time.perf_counter() - t
                write(p2, batch, kw)
                same = hashlib.sha256(open(p1, "rb").read()).digest() == hashlib.sha256(open(p2, "rb").read()).digest()
                t = time.perf_counter()
                with h5py.File(p1) as f:
                    for k in batch.arrays:
                        f[k][()]
                tr = time.perf_counter() - t
                t = time.perf_counter()
                with h5py.File(p1) as f:
                    ds = [f[k] for k in batch.arrays]
                    for i in range(0, min(500, args.num)):
                        for x in ds:
                            x[i]
                ts = (time.perf_counter() - t) / min(500, args.num)
                size = os.path.getsize(p1)
                print(f"{name:<16}{raw / tw / 1e6:>11.0f}{raw / tr / 1e6:>11.0f}{1 / ts:>18.0f}{size / args.num:>11.0f}  {same}")


if __name__ == "__main__":
    main()
