"""Benchmark scenebench.evaluation.metrics (mIoU, ARI, FG-ARI) against per-image reference loops.

Usage: python benchmarks/metrics.py [--n 10000] [--size 64] [--k 7] [--seed 0]
       python benchmarks/metrics.py --evaluate 20000 [--workers 1 2]   # end-to-end `evaluate`

Builds N random-but-structured label maps (background + K-1 pasted
rectangles/disks; later shapes occlude earlier ones), a prediction per image
(GT perturbed: shapes dilated/shifted, some merged, noise blobs, ids randomly
permuted), then times

* ours:      miou(include_background=True), ari, fg_ari over the whole batch;
* reference: the per-image procedure of public code -- a Python loop calling
             sklearn.metrics.adjusted_rand_score per image (ARI, and FG-ARI on
             the gt != 0 pixels) and, for mIoU, a per-image IoU matrix
             (np.unique + loops over segments) + scipy linear_sum_assignment;

checks that both agree to 1e-9 and prints timings and the speedup.

``--evaluate N`` instead times ``scenebench.evaluation.evaluate.evaluate`` end to end
(read shards + submission in blocks, validate, score, merge) on an N-image
multi-dSprites cis test split, for a label-map submission and for a soft
mask-stack submission (K=5 float32), with each ``--workers`` count.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from scenebench.evaluation.metrics import ari, fg_ari, miou, segmentation_metrics  # noqa: E402


def make_data(n, size, k, seed, batch=1000):
    rng = np.random.default_rng(seed)
    parts = [_make_batch(rng, min(batch, n - i), size, k) for i in range(0, n, batch)]
    return np.concatenate([g for g, _ in parts]), np.concatenate([p for _, p in parts])


def _make_batch(rng, n, size, k):
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    gt = np.zeros((n, size, size), np.uint8)
    pred = np.zeros((n, size, size), np.uint8)
    for obj in range(1, k):
        cy, cx = rng.uniform(0, size, (2, n, 1, 1)).astype(np.float32)
        r = rng.uniform(size / 12, size / 4, (n, 1, 1)).astype(np.float32)
        disk = rng.random((n, 1, 1)) < 0.5
        dy, dx = np.abs(yy - cy), np.abs(xx - cx)
        shape = np.where(disk, dy**2 + dx**2 < r**2, (dy < r) & (dx < r * 0.8))
        np.putmask(gt, shape, obj)
        # prediction: same object, radius jittered and centre shifted
        cy2 = cy + rng.normal(0, 1.5, cy.shape).astype(np.float32)
        cx2 = cx + rng.normal(0, 1.5, cx.shape).astype(np.float32)
        r2 = r * rng.uniform(0.85, 1.15, r.shape).astype(np.float32)
        dy, dx = np.abs(yy - cy2), np.abs(xx - cx2)
        shape2 = np.where(disk, dy**2 + dx**2 < r2**2, (dy < r2) & (dx < r2 * 0.8))
        merge = rng.random((n, 1, 1)) < 0.1  # sometimes merged into the previous id
        ids = np.where(merge, max(obj - 1, 0), obj).astype(np.uint8)
        np.copyto(pred, np.broadcast_to(ids, shape2.shape), where=shape2)
    noise = rng.random((n, size, size)) < 0.02
    pred[noise] = rng.integers(0, k, noise.sum())
    perm = np.argsort(rng.random((n, k)), axis=1).astype(np.uint8)  # relabel ids per image
    pred = np.take_along_axis(perm, pred.reshape(n, -1), axis=1).reshape(n, size, size)
    return gt, pred


def reference_ari(gt, pred):
    """Per-image sklearn loop as in public evaluation code (ARI, FG-ARI)."""
    a, f = [], []
    for g, p in zip(gt, pred):
        g, p = g.ravel(), p.ravel()
        a.append(adjusted_rand_score(g, p))
        fg = g != 0
        f.append(adjusted_rand_score(g[fg], p[fg]) if fg.any() else np.nan)
    return np.array(a), np.array(f)


def reference_miou(gt, pred):
    """Per-image IoU matrix + Hungarian loop as in public evaluation code."""
    m = []
    for g, p in zip(gt, pred):
        g, p = g.ravel(), p.ravel()
        gl, pl = np.unique(g), np.unique(p)
        iou = np.zeros((len(gl), len(pl)))
        for i, u in enumerate(gl):
            gm = g == u
            for j, v in enumerate(pl):
                pm = p == v
                iou[i, j] = (gm & pm).sum() / (gm | pm).sum()
        r, c = linear_sum_assignment(iou, maximize=True)
        m.append(iou[r, c].sum() / len(gl))
    return np.array(m)


def ours(gt, pred):
    return (miou(gt, pred, reduction="none"), ari(gt, pred, reduction="none"),
            fg_ari(gt, pred, reduction="none"))


def ours_combined(gt, pred):
    d = segmentation_metrics(gt, pred, metrics=("miou", "ari", "fg_ari"), reduction="none")
    return d["miou"], d["ari"], d["fg_ari"]


def best_time(fn, repeat, *args):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        res = fn(*args)
        best = min(best, time.perf_counter() - t0)
    return best, res


def bench_evaluate(n, workers, seed=0):
    """Images/s of evaluate() on generated data with label and soft-mask submissions."""
    import tempfile

    from scenebench.evaluation import submission
    from scenebench.datasets.build import generate
    from scenebench.evaluation.evaluate import evaluate
    from scenebench.datasets.reader import SplitReader

    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp:
        d = generate("multi_dsprites", "cis", tmp, num=n, splits=["test"])
        gt = SplitReader(d, "test").read(0, n)
        seg = gt["segmentation"].copy()
        seg[rng.random(seg.shape) < 0.02] = 9
        masks = np.concatenate([np.zeros((n, 1) + seg.shape[1:], np.float32), gt["masks"].astype(np.float32)], 1)
        masks += rng.random(masks.shape, dtype=np.float32) * 0.05
        subs = {}
        for name, arrays in (("labels", dict(segmentation=seg, num_objects=gt["num_objects"])),
                             (f"soft masks K={masks.shape[1]}", dict(masks=masks))):
            t0 = time.perf_counter()
            subs[name] = submission.write(os.path.join(tmp, f"{len(subs)}.h5"), dataset=d, split="test", method="b",
                                          **arrays)
            mb = os.path.getsize(subs[name]) / 1e6
            print(f"write {name:18s} {n / (time.perf_counter() - t0):9.0f} images/s  ({mb:.1f} MB)")
        del masks
        evaluate(subs["labels"], d, workers=1)  # warm the page cache
        for name, path in subs.items():
            for w in workers:
                # a fresh `scenebench evaluate` process, as a user runs it (imports and pool start included)
                cmd = [sys.executable, "-m", "scenebench.cli", "evaluate", path, "--data", str(d), "-j", str(w),
                       "--json", os.path.join(tmp, "r.json")]
                t0 = time.perf_counter()
                subprocess.run(cmd, check=True, capture_output=True)
                dt = time.perf_counter() - t0
                used = json.load(open(os.path.join(tmp, "r.json")))["workers"]
                print(f"evaluate {name:18s} -j {w:<3d} ({used} used) {dt:7.2f} s  {n / dt:9.0f} images/s")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--k", type=int, default=7, help="labels per image incl. background")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3, help="take the best of this many runs of ours")
    ap.add_argument("--evaluate", type=int, default=None, metavar="N",
                    help="time end-to-end evaluate() on N generated images instead")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, os.cpu_count() or 1])
    args = ap.parse_args(argv)
    if args.evaluate:
        return bench_evaluate(args.evaluate, args.workers, args.seed)

    gt, pred = make_data(args.n, args.size, args.k, args.seed)
    print(f"data: {args.n} x {args.size}x{args.size} label maps, K={args.k}, "
          f"mean GT segments/image {np.mean([len(np.unique(x)) for x in gt[:500]]):.2f}")

    t_miou, m = best_time(lambda: miou(gt, pred, reduction="none"), args.repeat)
    t_ari, (a, f) = best_time(lambda: (ari(gt, pred, reduction="none"), fg_ari(gt, pred, reduction="none")),
                              args.repeat)
    t_ours, res = t_miou + t_ari, (m, a, f)
    t_comb, res_comb = best_time(ours_combined, args.repeat, gt, pred)
    t_ref_ari, (ref_a, ref_f) = best_time(reference_ari, 1, gt, pred)
    t_ref_miou, ref_m = best_time(reference_miou, 1, gt, pred)
    t_ref = t_ref_ari + t_ref_miou

    for name, x, xc, y in zip(("mIoU", "ARI", "FG-ARI"), res, res_comb, (ref_m, ref_a, ref_f)):
        err = max(np.nanmax(np.abs(x - y)), np.nanmax(np.abs(xc - y)))
        same_nan = np.array_equal(np.isnan(x), np.isnan(y)) and np.array_equal(np.isnan(xc), np.isnan(y))
        print(f"{name:7s} ours {np.nanmean(x):.6f}  reference {np.nanmean(y):.6f}  max |diff| {err:.1e}")
        if not (same_nan and err < 1e-9):
            raise SystemExit(f"MISMATCH in {name}")
    us = 1e6 / args.n
    rows = [
        ("ours: miou()", t_miou, t_ref_miou),
        ("ours: ari() + fg_ari()", t_ari, t_ref_ari),
        ("ours: miou() + ari() + fg_ari()", t_ours, t_ref),
        ("ours: segmentation_metrics() one pass", t_comb, t_ref),
    ]
    print(f"reference loop: mIoU {t_ref_miou:.3f} s, ARI+FG-ARI {t_ref_ari:.3f} s, total {t_ref:.3f} s "
          f"({us * t_ref:.0f} us/image)")
    for label, t, tr in rows:
        print(f"{label:40s} {t:7.3f} s ({us * t:6.1f} us/image)  speedup {tr / t:6.1f}x")

if __name__ == "__main__":
    main()
