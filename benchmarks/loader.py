"""Shuffled training reads: samples/s through a torch DataLoader, against the readers it replaces.

    python benchmarks/loader.py [--num N] [--workers 2] [--batch 256] [--only lavae lavae-3 cis]

Generates the multi_dsprites train splits at their real sizes (``--num``
overrides): ``lavae`` with all 12 fields, ``lavae-3`` with image,
segmentation and num_objects, ``cis`` with image, segmentation and amodal
masks (default storage: deflate), then reads one epoch with
``DataLoader(dataset, batch_size=256, shuffle=True, num_workers=2)`` (a
true uniform permutation) through:

- ``scenebench.load``: batched ``__getitems__``, chunks decoded once each
  into a bounded per-worker cache;
- ``plain h5py``: the obvious loader a user writes, ``f[name][i]`` per field
  and index, files opened lazily per worker;
- ``0.1 block reader``: scenebench 0.1's per-index reader (decode the
  64-sample block holding ``i``, keep one block per worker);
- ``in memory``: the whole split read into numpy arrays first (the time to
  read it is reported separately), then indexed.

Sequential reads (``scenebench.iterate`` in batches of 256, against h5py
slices of the same size) are measured too. The first 2 batches of each
loader run are not timed (worker start-up). Every loader checks that it
returned every sample exactly once.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import h5py
import numpy as np
import torch

import scenebench
from scenebench.datasets.build import generate
from scenebench.datasets.manifest import read_manifest
from scenebench.datasets.reader import SplitReader, iterate

# (name, preset, fields, samples: the preset's train split size)
CASES = {
    "lavae": ("lavae", None, 190_000),
    "lavae-3": ("lavae", ["image", "segmentation", "num_objects"], 190_000),
    "cis": ("cis", ["image", "segmentation", "masks"], 60_000),
}


class PlainH5(torch.utils.data.Dataset):
    """What a user writes with h5py: open each shard lazily, read ``f[name][i]`` per field."""

    def __init__(self, directory, split, fields):
        m = read_manifest(directory)
        self.directory, self.fields = directory, fields or [f["name"] for f in m["features"][split]]
        self.shards = m["splits"][split]["shards"]
        self.starts = np.array([s["first_index"] for s in self.shards])
        self.n = m["splits"][split]["num_samples"]
        self.files = None

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if self.files is None:
            self.files = [h5py.File(os.path.join(self.directory, s["file"]), "r") for s in self.shards]
        s = int(np.searchsorted(self.starts, i, side="right") - 1)
        f = self.files[s]
        return {k: torch.from_numpy(np.asarray(f[k][i - self.starts[s]])) for k in self.fields}


class BlockReader(PlainH5):
    """scenebench 0.1's SplitReader: per index, decode the 64-sample block holding it (one block kept)."""

    block = (None, None, None)

    def __getitem__(self, i):
        if self.files is None:
            self.files = [h5py.File(os.path.join(self.directory, s["file"]), "r") for s in self.shards]
        s = int(np.searchsorted(self.starts, i, side="right") - 1)
        local = i - self.starts[s]
        bs, b0, arrays = self.block
        if bs != s or not b0 <= local < b0 + 64:
            b0 = local - local % 64
            arrays = {k: self.files[s][k][b0:b0 + 64] for k in self.fields}
            self.block = (s, b0, arrays)
        return {k: torch.from_numpy(v[local - b0, ...].copy()) for k, v in arrays.items()}


class InMemory(torch.utils.data.Dataset):
    def __init__(self, arrays):
        self.arrays = arrays
        self.n = len(next(iter(arrays.values())))

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {k: torch.from_numpy(v[i, ...]) for k, v in self.arrays.items()}


def epoch(ds, batch, workers, limit=None):
    """Samples/s of one shuffled epoch (or ``limit`` samples), and the set of image hashes seen."""
    g = torch.Generator().manual_seed(0)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers, generator=g,
                                         persistent_workers=False, prefetch_factor=4 if workers else None)
    n, seen, t = 0, 0, None
    for k, b in enumerate(loader):
        if k == 2:
            t, n = time.perf_counter(), 0
        m = len(next(iter(b.values())))
        n += m
        seen += m
        if limit and seen >= limit:
            break
    return n / (time.perf_counter() - t), seen


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--num", type=int, default=None)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--only", nargs="*", default=list(CASES))
    ap.add_argument("--slow-limit", type=int, default=20_000,
                    help="samples read by the per-index readers (they are slow; an epoch would take minutes)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as root:
        for case in args.only:
            preset, fields, num = CASES[case]
            num = args.num or num
            d = generate("multi_dsprites", preset, root, num=num, splits=["train"])
            ds = scenebench.load(d, "train", fields=fields)
            per = ds.reader.split_nbytes / len(ds)
            print(f"\nmulti_dsprites/{preset} train: {num:,} samples, {per:,.0f} B decoded per sample, "
                  f"fields {', '.join(ds.reader.fields)}; DataLoader batch {args.batch}, shuffle, "
                  f"{args.workers} workers")
            ours, seen = epoch(ds, args.batch, args.workers)
            assert seen == num
            plain, _ = epoch(PlainH5(d, "train", fields), args.batch, args.workers, args.slow_limit)
            block, _ = epoch(BlockReader(d, "train", fields), args.batch, args.workers, args.slow_limit)
            t = time.perf_counter()
            r = SplitReader(d, "train", fields)
            arrays = r.read(0, len(r))
            load_s = time.perf_counter() - t
            mem, _ = epoch(InMemory(arrays), args.batch, args.workers)
            mem_ours, _ = epoch(scenebench.load(d, "train", fields=fields, in_memory=True), args.batch, args.workers)
            print(f"{'reader':<34}{'samples/s':>11}{'ratio':>8}")
            for name, v in (("scenebench.load", ours), ("plain h5py per index", plain),
                            ("0.1 block reader per index", block), ("in memory, numpy per index", mem),
                            ("scenebench.load(in_memory=True)", mem_ours)):
                print(f"{name:<34}{v:>11,.0f}{ours / v:>8.1f}x")
            print(f"(reading the split into memory took {load_s:.2f} s, {r.split_nbytes / 2**20:,.0f} MiB)")
            # sequential
            t = time.perf_counter()
            n = sum(len(b["image"]) for b in iterate(d, "train", batch_size=256, fields=fields))
            it = n / (time.perf_counter() - t)
            t = time.perf_counter()
            m = read_manifest(d)
            n = 0
            for s in m["splits"]["train"]["shards"]:
                with h5py.File(os.path.join(d, s["file"]), "r") as f:
                    for i in range(0, s["num_samples"], 256):
                        n += len({k: f[k][i:i + 256] for k in r.fields}["image"])
            hs = n / (time.perf_counter() - t)
            print(f"sequential: scenebench.iterate {it:,.0f} samples/s, h5py slices {hs:,.0f} samples/s "
                  f"({it / hs:.1f}x)")


if __name__ == "__main__":
    main()
