"""Generation throughput: images/s per core including the HDF5 write.

    python benchmarks/generate.py [--num 20000] [--only multi_dsprites/lavae] [--compression deflate]

For each family/preset it draws and writes ``--num`` samples of one split
with 1 and with 2 worker processes (the exact shard tasks `generate` runs:
draw + compress + write + fsync + SHA-256), and prints images/s, images/s per
core and bytes on disk per image. Dataset-level asset preparation is timed
separately ("prepare s": once per process, before the clock starts). The
2-worker pool is started, and each worker has imported scenebench and
prepared its assets, before the clock starts too ("start s"), so the
columns measure steady-state drawing and writing, not process start-up.
Shards use ``--compression`` (default: deflate, the default of ``generate``);
``--reference blosc-lz4`` (the default) adds, for multi_dsprites/lavae, the
same run with the codec scenebench 0.1 used and the ratio between the two.
Reference: a public multi-dSprites generator of this dataset ran at
~3,000-4,200 images/s single-threaded on this machine class while storing no
masks.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, wait
from pathlib import Path

from scenebench.errors import ScenebenchError
from scenebench.datasets.executors import run_tasks
from scenebench.generator import resolve
from scenebench.registry import iter_generators
from scenebench.datasets.shards import plan, split_assets, write_shard

# (family, preset, split) to measure; other registered families are added automatically
DEFAULT = [
    ("multi_dsprites", "lavae", "train"),
    ("multi_dsprites", "cis", "train"),
    ("multi_mnist", "lavae-1k", "train"),
    ("multi_texture", "cis", "train"),
    ("flying_animals", "embedded", "train"),
    ("smpl_bodies", "embedded", "train"),
    ("cle_mv", "cle-mv", "train"),
    ("cle_mv", "dolphin", "train"),
]
# samples per run = --num // SLOW[family] (rendered families take ms per sample, not µs)
SLOW = {"flying_animals": 20, "smpl_bodies": 100, "cle_mv": 200, "multi_texture": 4, "mnist": 4}


def targets(only):
    seen = {(f, p) for f, p, _ in DEFAULT}
    todo = list(DEFAULT)
    for gen in iter_generators():
        for preset, p in gen.PRESETS.items():
            if (gen.name, preset) not in seen:
                todo.append((gen.name, preset, next(iter(p.splits))))
    if only:
        todo = [t for t in todo if f"{t[0]}/{t[1]}" in only]
    return todo


def _prepare_worker(spec_dict, split):
    from scenebench.generator import DatasetSpec

    split_assets(DatasetSpec.from_dict(spec_dict), split)


def _worker_ready(delay):
    time.sleep(delay)  # long enough that every worker gets one of these
    return os.getpid()


def measure(family, preset, split, num, workers, root, compression="deflate"):
    """Seconds to draw and write ``num`` samples with ``workers`` processes, and bytes written.

    Returns ``(seconds, bytes, start-up seconds)``; start-up (worker processes,
    imports, asset preparation) is not in the seconds.
    """
    spec = resolve(family, preset, num=num)
    shard = max(1, num // (4 * workers))
    out = Path(root) / f"{family}-{preset}-{workers}-{compression}"
    tasks = plan(spec, split, out, shard, compression)
    if workers == 1:
        t = time.perf_counter()
        run_tasks(write_shard, tasks, workers=1, progress=False)
        dt, start = time.perf_counter() - t, 0.0
    else:
        t0 = time.perf_counter()
        ctx = mp.get_context("forkserver")
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_prepare_worker,
                                 initargs=(spec.to_dict(), split)) as pool:
            pids = set()
            while len(pids) < workers:
                pids |= set(pool.map(_worker_ready, [0.05 * (1 + len(pids))] * workers))
            start = time.perf_counter() - t0
            t = time.perf_counter()
            done, _ = wait([pool.submit(write_shard, task) for task in tasks])
            dt = time.perf_counter() - t
            for f in done:
                f.result()
    nbytes = sum(p.stat().st_size for p in out.rglob("*.h5"))
    return dt, nbytes, start


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--num", type=int, default=20000)
    ap.add_argument("--only", nargs="*", help="family/preset entries to run")
    ap.add_argument("--compression", default="deflate")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best is reported (shared VMs are noisy)")
    ap.add_argument("--reference", default="blosc-lz4", help="codec to compare with on multi_dsprites/lavae ('' for none)")
    args = ap.parse_args()
    print("images = frames or views for multi-view and sequence datasets (e.g. CLE-MV: 10 views per scene)")
    print(f"{'dataset':<28}{'samples':>8}{'prepare s':>10}{'1 worker img/s':>16}{'2 workers img/s':>17}"
          f"{'per core (2w)':>15}{'bytes/img':>11}{'start s':>9}")
    for family, preset, split in targets(args.only):
        num = max(20, args.num // SLOW.get(family, 1))
        try:  # e.g. a licensed asset that is not installed, or more samples than the embedded MNIST has
            spec = resolve(family, preset, num=num)
            t = time.perf_counter()
            split_assets(spec, split)
            prep = time.perf_counter() - t
            per = images_per_sample(spec, split)
            with tempfile.TemporaryDirectory() as root:
                def best(workers, compression):
                    runs = []
                    for _ in range(args.repeat):  # each run writes a fresh directory
                        runs.append(measure(family, preset, split, num, workers, root, compression))
                        shutil.rmtree(Path(root) / f"{family}-{preset}-{workers}-{compression}")
                    return min(runs)

                ref = None
                if args.reference and (family, preset) == ("multi_dsprites", "lavae"):
                    r1, rbytes, _ = best(1, args.reference)
                    r2, _, _ = best(2, args.reference)
                    ref = (r1, r2, rbytes)
                t1, nbytes, _ = best(1, args.compression)
                t2, _, start = best(2, args.compression)
        except ScenebenchError as exc:
            print(f"{family + '/' + preset:<28} skipped: {exc}")
            continue
        cores = min(2, os.cpu_count() or 1)
        n = num * per
        print(f"{family + '/' + preset:<28}{num:>8}{prep:>10.2f}{n / t1:>16,.0f}{n / t2:>17,.0f}"
              f"{n / t2 / cores:>15,.0f}{nbytes / n:>11,.0f}{start:>9.2f}")
        if ref:
            r1, r2, rbytes = ref
            print(f"{'  same, ' + args.reference:<28}{num:>8}{'':>10}{n / r1:>16,.0f}{n / r2:>17,.0f}"
                  f"{n / r2 / cores:>15,.0f}{rbytes / n:>11,.0f}")
            print(f"  {args.compression} / {args.reference}: {r1 / t1:.2f}x (1 worker), {r2 / t2:.2f}x (2 workers) "
                  f"the images/s, {nbytes / rbytes:.2f}x the bytes")


def images_per_sample(spec, split) -> int:
    """Views or frames per sample: the leading dim of a 4-d ``image`` feature (V/T, H, W, C), else 1."""
    config = spec.split_config(split)
    image = next(f for f in spec.generator().features(config) if f.name == "image")
    return int(image.shape[0]) if len(image.shape) == 4 else 1


if __name__ == "__main__":
    main()
