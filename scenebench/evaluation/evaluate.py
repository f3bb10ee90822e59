"""Score a submission against a dataset split: validation, streamed scoring, results JSON.

    >>> from scenebench.evaluation.evaluate import evaluate
    >>> results = evaluate("preds.h5", "data")          # a dataset dir, or a root holding several
    >>> results["metrics"]["miou"]
    {'mean': 0.91, 'std': 0.07, 'n': 10000}

Order of work (nothing is scored before the cheap checks pass):

1. the submission's container, metadata and array headers
   (:func:`scenebench.evaluation.submission.open_submission`);
2. the dataset: ``data`` is a dataset directory, or a root searched for the
   manifest whose fingerprint the submission names;
3. split, sample count, shapes and dtypes of every field against the manifest;
4. the metrics: derived from the fields present and the dataset's features
   (or the ``metrics`` asked for, each of which must apply);
5. streaming: dataset and submission are read in blocks of a few thousand
   samples (bounded memory whatever the split size); each block's values are
   checked (ranges, finiteness) and scored, on a process pool when the split
   is large; per-image scores are merged in order, so results do not depend
   on the number of workers.

Every problem with the submission raises a ``ScenebenchError`` subclass with
a one-line message; no results exist until every block passed.
"""

from __future__ import annotations

import hashlib
import math
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from .. import __version__
from ..errors import ConfigError, DatasetError, ScenebenchError
from .submission import Layout, SubmissionError, check_declared, check_values, layout, open_submission

RESULTS_FORMAT = "scenebench-results/1"
BLOCK_BYTES = 48 * 2**20  # bytes of dataset + submission arrays held per block
MIN_BLOCK_PIXELS = 2**20  # a block smaller than this (in label pixels) is not worth a process
MIN_POOL_BYTES = 256 * 2**20  # below this much data to read, starting worker processes (~1-3 s) does not pay
DUPLICATE_THRESHOLD = 0.9
SEG_METRICS = ("miou", "miou_fg", "ari", "fg_ari", "msc", "sc", "msc_fg", "sc_fg")
ID_METRICS = ("id_switches", "sequences_with_switch", "channel_inconsistency")


@dataclass(frozen=True)
class MetricInfo:
    """How a metric is computed, named and shown.

    ``needs``: submission fields it uses (``"labels"`` = segmentation or
    masks); ``gt``: dataset features it uses; ``better``: ``"higher"`` or
    ``"lower"``; ``fmt``: ``"score"`` (0-1, three decimals), ``"pct"``,
    ``"nats"``, ``"bpd"``, ``"mse"``, ``"fraction"`` (k/n) or ``"count"``.
    """

    label: str
    needs: tuple
    gt: tuple
    better: str
    fmt: str
    doc: str
    sequences_only: bool = False


METRICS: dict[str, MetricInfo] = {
    "miou": MetricInfo("mIoU", ("labels",), ("segmentation",), "higher", "score",
                       "Hungarian one-to-one mean IoU over GT segments incl. background"),
    "miou_fg": MetricInfo("mIoU (fg)", ("labels",), ("segmentation",), "higher", "score",
                          "Hungarian mean IoU over GT objects (background not scored)"),
    "ari": MetricInfo("ARI", ("labels",), ("segmentation",), "higher", "score", "adjusted Rand index, all pixels"),
    "fg_ari": MetricInfo("FG-ARI", ("labels",), ("segmentation",), "higher", "score",
                         "adjusted Rand index on GT foreground pixels"),
    "msc": MetricInfo("mSC", ("labels",), ("segmentation",), "higher", "score",
                      "mean segmentation covering (unweighted)"),
    "sc": MetricInfo("SC", ("labels",), ("segmentation",), "higher", "score",
                     "segmentation covering weighted by GT segment size"),
    "msc_fg": MetricInfo("mSC (fg)", ("labels",), ("segmentation",), "higher", "score",
                         "mean segmentation covering over GT objects (background not scored; GENESIS's FG mSC)"),
    "sc_fg": MetricInfo("SC (fg)", ("labels",), ("segmentation",), "higher", "score",
                        "segmentation covering over GT objects, weighted by object size"),
    "cis_miou": MetricInfo("mIoU (CIS, greedy)", ("labels",), ("segmentation",), "higher", "score",
                           "the CIS authors' mIoU: best IoU per GT channel incl. background (> 4 px), many-to-one "
                           "(not a matching), soft masks binarised at > 0.04 (the submission's masks if given, the "
                           "dataset's soft alpha if stored); by default only for submissions with masks"),
    "id_switches": MetricInfo("ID switches/seq", ("labels",), ("segmentation",), "lower", "count",
                              "identity switches per sequence (CLEAR-MOT matching: Hungarian on IoU >= 0.5, "
                              "continuing pairs first)", True),
    "sequences_with_switch": MetricInfo("seqs w/ switch", ("labels",), ("segmentation",), "lower", "fraction",
                                        "sequences with at least one identity switch", True),
    "channel_inconsistency": MetricInfo("channel incons.", ("labels",), ("segmentation",), "lower", "score",
                                        "per object: 1 - share of frames on its most frequent predicted id", True),
    "count_accuracy": MetricInfo("count acc.", ("num_objects",), ("num_objects",), "higher", "pct",
                                 "share of samples whose predicted object count is exact"),
    "iw_nll": MetricInfo("−log p(x) (nats)", ("log_weights",), (), "lower", "nats",
                         "importance-weighted NLL bound, nats per sample"),
    "iw_nll_bpd": MetricInfo("bits/dim", ("log_weights",), (), "lower", "bpd",
                             "importance-weighted NLL bound in bits per image dimension"),
    "elbo": MetricInfo("ELBO (nats)", ("elbo",), (), "higher", "nats", "evidence lower bound per sample"),
    "inference_gap": MetricInfo("inference gap (nats)", ("log_weights", "elbo"), (), "lower", "nats",
                                "IW log-likelihood estimate minus ELBO"),
    "mse": MetricInfo("MSE", ("reconstruction",), ("image",), "lower", "mse",
                      "mean squared error per image on [0, 1] values"),
    "duplicate_rate": MetricInfo("duplicate rate", ("latents",), (), "lower", "score",
                                 f"share of samples with two slots of cosine similarity > {DUPLICATE_THRESHOLD}"),
    "slot_similarity": MetricInfo("slot similarity", ("latents",), (), "lower", "score",
                                  "mean off-diagonal cosine similarity of slot latents"),
}


# ---------------------------------------------------------------- which metrics
def _has(fields: Iterable[str], need: str) -> bool:
    fields = set(fields)
    return bool(fields & {"segmentation", "masks"}) if need == "labels" else need in fields


def _sequence_metric_applies(name: str, lay: Layout) -> bool:
    """Identity metrics apply to sequences (``(N, T, H, W)``) and to a split that is one track
    (``Split(track="split")``: the N still images are its frames); counting sequences with a switch
    needs more than one sequence."""
    if lay.lead_kind == "frames":
        return True
    return lay.track == "split" and name != "sequences_with_switch"


def applicable_metrics(fields: Iterable[str], lay: Layout) -> list[str]:
    """Metric names that the submission's fields and the dataset's features allow, in canonical order."""
    fields = set(fields)
    out = []
    for name, info in METRICS.items():
        if info.sequences_only and not _sequence_metric_applies(name, lay):
            continue
        if all(_has(fields, n) for n in info.needs) and all(g in lay.gt_fields for g in info.gt):
            out.append(name)
    return out


def select_metrics(requested: Sequence[str] | str | None, fields: Iterable[str], lay: Layout) -> list[str]:
    """The metrics to compute: all applicable ones, or ``requested`` (each must exist and apply)."""
    fields = set(fields)
    if requested is None and fields & {"segmentation", "masks"} and "segmentation" not in lay.gt_fields:
        raise SubmissionError(f"{'segmentation' if 'segmentation' in fields else 'masks'}: {lay.name} has no "
                              "segmentation ground truth to score it against; remove the field")
    ok = applicable_metrics(fields, lay)
    if requested is None:
        ok = [n for n in ok if n != "cis_miou" or "masks" in fields]  # the soft-mask score, for soft masks
        if not ok:
            raise SubmissionError(f"no metric applies to the fields {', '.join(sorted(fields)) or '(none)'}; "
                                  f"expected any of segmentation, masks, num_objects, log_weights, elbo, "
                                  "reconstruction, latents")
        return ok
    if isinstance(requested, str):
        requested = [requested]
    names = []
    for item in requested:
        names += [n.strip() for n in str(item).split(",") if n.strip()]
    if not names:
        raise ConfigError(f"--metrics: no metric named; valid names: {', '.join(METRICS)}")
    for n in names:
        if n not in METRICS:
            raise ConfigError(f"--metrics: unknown metric {n!r}; valid names: {', '.join(METRICS)}")
        if n not in ok:
            info = METRICS[n]
            if info.sequences_only and not _sequence_metric_applies(n, lay):
                why = (f"{lay.name} split {lay.split!r} is one track, not a set of sequences" if lay.track
                       else f"{lay.name} is not a sequence dataset")
            elif not all(g in lay.gt_fields for g in info.gt):
                why = f"{lay.name} has no {' / '.join(info.gt)} ground truth"
            else:
                need = " and ".join("segmentation or masks" if x == "labels" else x for x in info.needs)
                why = f"it needs {need} in the submission (it has {', '.join(sorted(fields))})"
            raise ConfigError(f"--metrics: {n!r} does not apply: {why}")
    return [n for n in METRICS if n in names]


# ---------------------------------------------------------------- which dataset
def _manifests_under(root: Path, depth: int = 3):
    """(directory, manifest) for every readable manifest at most ``depth`` levels below ``root``."""
    from ..datasets.manifest import read_manifest

    level = [root]
    for _ in range(depth):
        nxt = []
        for d in level:
            try:
                children = sorted(p for p in d.iterdir() if p.is_dir() and not p.name.startswith("."))
            except OSError:
                continue
            for c in children:
                if (c / "manifest.json").is_file():
                    try:
                        yield c, read_manifest(c)
                    except ScenebenchError:
                        continue
                else:
                    nxt.append(c)
        level = nxt


def resolve_data(data, meta: Mapping[str, str]) -> Path:
    """The dataset directory for a submission: ``data`` itself, or the dataset under root ``data``
    whose manifest has the submission's fingerprint."""
    from ..datasets.manifest import read_manifest

    fp = meta["fingerprint"]
    who = _who(meta)
    p = Path(data)
    if p.name == "manifest.json":
        p = p.parent
    if (p / "manifest.json").is_file():
        m = read_manifest(p)
        if m["fingerprint"] != fp:
            ident = m.get("identity", {})
            raise SubmissionError(f"fingerprint: the submission is for dataset {fp[:12]}… ({who}); {p} holds "
                                  f"{m['fingerprint'][:12]}… ({ident.get('family')}/{ident.get('preset')} "
                                  f"v{ident.get('version')} seed {ident.get('seed')})")
        return p
    if not p.is_dir():
        raise DatasetError(f"{data}: no such dataset directory or root; expected a dataset directory "
                           "(with manifest.json) or a directory holding datasets")
    found = 0
    for d, m in _manifests_under(p):
        found += 1
        if m["fingerprint"] == fp:
            return d
    fam, pre, seed = meta.get("family") or "FAMILY", meta.get("preset") or "PRESET", meta.get("seed") or "0"
    raise DatasetError(f"{data}: none of its {found} datasets has the submission's fingerprint {fp[:12]}… ({who}); "
                       f"generate it with `scenebench generate {fam} --preset {pre} --seed {seed} --out {data}` "
                       "and the same --num/--set options")


def _who(meta: Mapping[str, str]) -> str:
    if meta.get("family"):
        return f"{meta['family']}/{meta.get('preset', '?')} v{meta.get('dataset_version', '?')} seed {meta.get('seed', '?')}"
    return "dataset not named in the submission"


# ---------------------------------------------------------------- scoring one block
@dataclass(frozen=True)
class _Job:
    """Everything a worker needs to score samples ``start:stop`` (picklable, small)."""

    directory: str
    split: str
    gt_fields: tuple
    pred_fields: tuple
    metrics: tuple
    lead_kind: str
    num_dims: int
    image_ndim: int
    submission: object  # an HDF5 Submission (re-opened per process) or None when blocks are shipped
    track: str = ""  # "split": identity metrics are scored over the whole split (see _one_track)


_READERS: dict = {}  # per process: (directory, split, fields) -> SplitReader


def _gt_reader(job: _Job):
    from ..datasets.reader import SplitReader

    key = (job.directory, job.split, job.gt_fields)
    r = _READERS.get(key)
    if r is None:
        r = _READERS[key] = SplitReader(job.directory, job.split, fields=list(job.gt_fields))
    return r


def _close_reader(job: _Job) -> None:
    r = _READERS.pop((job.directory, job.split, job.gt_fields), None)
    if r is not None:
        r.close()


def _score_block(job: _Job, start: int, stop: int, pred: dict | None = None) -> dict:
    """Per-item scores of samples ``start:stop``: ``{metric: float64 array}`` (+ ``"_idsw"``)."""
    from . import metrics as M

    if pred is None:
        pred = {k: job.submission.read(k, start, stop) for k in job.pred_fields}
    for k, a in pred.items():
        check_values(k, a, start)
    try:
        gt = _gt_reader(job).read(start, stop) if job.gt_fields else {}
    except OSError as exc:
        raise DatasetError(f"{job.directory}: cannot read samples {start}-{stop - 1} of split {job.split!r} "
                           f"({str(exc).splitlines()[0][:150]}); check it with `scenebench verify`") from None
    want = set(job.metrics)
    out: dict = {}
    if want & set(SEG_METRICS + ID_METRICS + ("cis_miou",)):
        labels = pred["segmentation"] if "segmentation" in pred else M.to_labels(pred["masks"])
        seg = [m for m in SEG_METRICS if m in want]
        if seg:
            res = M.segmentation_metrics(gt["segmentation"], labels, metrics=seg, reduction="none")
            out.update({m: np.asarray(v, np.float64).ravel() for m, v in res.items()})
        if "cis_miou" in want:  # soft masks where they exist: the submission's, the dataset's alpha
            pm = pred["masks"] if "masks" in pred else M.label_masks(labels)
            gm = gt["alpha"] / 255.0 if "alpha" in gt else M.label_masks(gt["segmentation"])
            out["cis_miou"] = np.asarray(M.cis_miou(gm, pm, reduction="none"), np.float64).ravel()
        if want & set(ID_METRICS) and not job.track:
            out["_idsw"] = M.identity_switches(gt["segmentation"], labels)
    if "count_accuracy" in want:
        out["count_accuracy"] = M.count_accuracy(gt["num_objects"], pred["num_objects"], reduction="none")
    if want & {"iw_nll", "iw_nll_bpd"}:
        nll = M.iw_nll(pred["log_weights"], reduction="none")
        out["iw_nll"] = nll
        out["iw_nll_bpd"] = nll / (job.num_dims * math.log(2.0))
    if "elbo" in want:
        out["elbo"] = pred["elbo"].astype(np.float64)
    if "inference_gap" in want:
        out["inference_gap"] = M.inference_gap(pred["log_weights"], pred["elbo"], reduction="none")
    if "mse" in want:
        rec = pred["reconstruction"]
        rec = rec / 255.0 if rec.dtype == np.uint8 else rec.astype(np.float64)
        out["mse"] = M.mse(gt["image"] / 255.0, rec, image_ndim=job.image_ndim, reduction="none").ravel()
    if "duplicate_rate" in want:
        out["duplicate_rate"] = M.duplicate_rate(pred["latents"], threshold=DUPLICATE_THRESHOLD,
                                                 reduction="none").ravel()  # per sample, or per view / frame
    if "slot_similarity" in want:
        out["slot_similarity"] = M.slot_similarity(pred["latents"], reduction="none").ravel()
    return {k: v for k, v in out.items() if k == "_idsw" or k in want}


def _score_task(args):
    job, start, stop, pred = args
    return _score_block(job, start, stop, pred)


# ---------------------------------------------------------------- the whole split
def _sample_bytes(lay: Layout, fields: Mapping, gt_fields: Sequence[str], manifest: Mapping) -> int:
    """Bytes read and held per sample: submission fields and the metrics' working memory, dataset fields
    (images as float64)."""
    from .submission import working_bytes

    per = 0
    for name, (shape, dtype) in fields.items():
        per += int(np.prod(shape[1:], dtype=np.int64)) * max(dtype.itemsize, 1) + working_bytes(name, shape)
    feats = {f["name"]: f for f in manifest["features"][lay.split]}
    for g in gt_fields:
        itemsize = 8 if g == "image" else np.dtype(feats[g]["dtype"]).itemsize  # images become float64
        per += int(np.prod(feats[g]["shape"], dtype=np.int64)) * itemsize
    return max(per, 1)


def _block_size(lay: Layout, per: int, workers: int) -> int:
    rows = max(1, BLOCK_BYTES // per)
    if workers > 1:  # a few blocks per worker for balance, but not tiny ones
        pixels = max(1, int(np.prod(lay.lead + lay.hw, dtype=np.int64)))
        rows = min(rows, max(-(-lay.num_samples // (4 * workers)), MIN_BLOCK_PIXELS // pixels, 1))
    return int(min(rows, max(lay.num_samples, 1)))


def _sha256(path: Path, out: dict) -> None:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(2**22), b""):
                h.update(chunk)
        out["sha256"] = h.hexdigest()
    except OSError as exc:
        out["error"] = exc


def _run_blocks(job: _Job, sub, blocks: list, workers: int, progress, total: int) -> list:
    """Score every block, in order; returns the per-block result dicts."""
    from ..datasets.executors import progress_bar

    results = []
    with progress_bar(total, progress, desc="samples") as bar:
        if workers <= 1 or len(blocks) <= 1:
            for s, e in blocks:
                results.append(_score_block(job, s, e, None if sub.random_access else
                                            {k: sub.read(k, s, e) for k in job.pred_fields}))
                bar.update(e - s)
            return results
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        ctx = mp.get_context("forkserver" if sys.platform != "win32" else "spawn")
        if sys.platform != "win32":  # workers fork from a server that has imported these once
            ctx.set_forkserver_preload(["scenebench.evaluation.evaluate", "scenebench.evaluation.metrics",
                                        "scenebench.datasets.reader", "h5py", "zlib_ng.zlib_ng"])
        with ProcessPoolExecutor(max_workers=min(workers, len(blocks)), mp_context=ctx) as pool:
            pending, nxt = [], 0
            window = 2 * workers  # bounded blocks in flight (bounded memory when blocks are shipped)
            while nxt < len(blocks) or pending:
                while nxt < len(blocks) and len(pending) < window:
                    s, e = blocks[nxt]
                    pred = None if sub.random_access else {k: sub.read(k, s, e) for k in job.pred_fields}
                    pending.append((pool.submit(_score_task, (job, s, e, pred)), e - s))
                    nxt += 1
                fut, n = pending.pop(0)
                try:
                    results.append(fut.result())
                except BaseException:
                    for f, _ in pending:
                        f.cancel()
                    raise
                bar.update(n)
    return results


def _summary(per_item: np.ndarray, **extra) -> dict:
    from .metrics import summarize

    s = summarize(per_item)
    out = {"mean": _finite(s["mean"]), "std": _finite(s["std"]), "n": int(s["n"])}
    out.update(extra)
    return out


def _finite(x):
    return None if x is None or not math.isfinite(x) else float(x)


def evaluate(submission, data, *, split: str | None = None, metrics: Sequence[str] | str | None = None,
             workers: int | None = None, progress: bool | None = False, per_item: bool = False) -> dict:
    """Validate and score a submission file against a dataset split; return the results dict.

    Parameters
    ----------
    submission : path
        An HDF5 or ``.npz`` submission (see :mod:`scenebench.evaluation.submission`).
    data : path
        A dataset directory, or a root under which the dataset with the
        submission's fingerprint is found (``ROOT/family/preset/vX-seedN``).
    split : str, optional
        Must equal the submission's split when given (default: the submission's).
    metrics : list of str or comma-separated str, optional
        A subset of :data:`METRICS` (default: every metric that applies).
    workers : int, optional
        Processes for scoring (default: all cores; small splits use one).
    progress : bool or None
        Progress bar on stderr; ``None``: only when stderr is a terminal.
    per_item : bool
        Also return every item's score: ``results["per_item"][metric]``, a
        float64 array in sample order (per view for segmentation and MSE on
        multi-view data, ``(N * V,)``; per sample otherwise). Sequence
        metrics have none.

    Returns
    -------
    dict
        ``format``, ``dataset`` (fingerprint, family, preset, version, seed,
        split, num_samples), ``submission`` (file, sha256, bytes, format,
        fields), ``method`` (name, paper, notes), ``metrics`` (name ->
        ``{"mean", "std", "n", ...}``; NaN/undefined means are ``None``),
        ``scenebench`` (package version), ``time`` (UTC), ``elapsed_s``, ``workers`` (processes used).
    """
    from ..datasets.executors import default_workers
    from ..datasets.manifest import read_manifest

    t0 = time.perf_counter()
    nworkers = default_workers() if workers is None else int(workers)
    if nworkers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    sub = open_submission(submission)
    try:
        meta = sub.meta
        if split is not None and split != meta["split"]:
            raise SubmissionError(f"split: the submission is for split {meta['split']!r}, not {split!r}")
        directory = resolve_data(data, meta)
        manifest = read_manifest(directory)
        lay = layout(manifest, meta["split"])
        if not sub.fields:
            raise SubmissionError("no prediction arrays in the submission; expected any of segmentation, masks, "
                                  "num_objects, log_weights, elbo, reconstruction, latents")
        for name, (shape, dtype) in sub.fields.items():
            check_declared(name, shape, dtype, lay)
        names = select_metrics(metrics, sub.fields, lay)
        pred_fields = _fields_needed(names, sub.fields)
        gt_fields = tuple(sorted({g for n in names for g in METRICS[n].gt}
                                 | ({"alpha"} if "cis_miou" in names and "alpha" in lay.gt_fields else set())))
        num_dims = int(np.prod(lay.image_shape, dtype=np.int64))
        job = _Job(str(directory), lay.split, gt_fields, pred_fields, tuple(names), lay.lead_kind, num_dims,
                   lay.image_ndim, sub if sub.random_access else None, lay.track)
        one_track = bool(lay.track) and any(n in ID_METRICS for n in names)
        if one_track:
            _check_one_track_size(lay)
        # unused fields are still checked: their values must be valid too
        check_only = tuple(k for k in sub.fields if k not in pred_fields)
        per = _sample_bytes(lay, {k: sub.fields[k] for k in pred_fields}, gt_fields, manifest)
        if per * lay.num_samples < MIN_POOL_BYTES:
            nworkers = 1
        rows = _block_size(lay, per, nworkers)
        blocks = [(s, min(s + rows, lay.num_samples)) for s in range(0, lay.num_samples, rows)]
        nworkers = min(nworkers, len(blocks))
        hashed: dict = {}
        hasher = threading.Thread(target=_sha256, args=(sub.path, hashed), daemon=True)
        hasher.start()
        for k in check_only:
            _check_field_values(sub, k, lay.num_samples, {k: sub.fields[k]})
        try:
            parts = _run_blocks(job, sub, blocks, nworkers, progress, lay.num_samples)
            track = _one_track(job, sub, lay, blocks) if one_track else None
        finally:
            _close_reader(job)
        hasher.join()
        if "error" in hashed:
            raise SubmissionError(f"{sub.path}: cannot read to hash it ({hashed['error']})")
        results_metrics = _merge(parts, names, track)
        items = ({n: np.concatenate([p[n] for p in parts]) if parts else np.zeros(0)
                  for n in names if n not in ID_METRICS} if per_item else None)
        size = sub.path.stat().st_size
        fmt = sub.format
        fields = sorted(sub.fields)
    finally:
        sub.close()
    ident = manifest.get("identity", {})
    out = {
        "format": RESULTS_FORMAT,
        "dataset": {"fingerprint": manifest["fingerprint"], "family": ident.get("family"), "preset": ident.get("preset"),
                    "version": ident.get("version"), "seed": ident.get("seed"), "split": lay.split,
                    "num_samples": lay.num_samples},
        "submission": {"file": sub.path.name, "sha256": hashed["sha256"], "bytes": size, "format": fmt,
                       "fields": fields},
        "method": {"name": meta["method"], "paper": meta.get("paper"), "notes": meta.get("notes")},
        "metrics": results_metrics,
        "scenebench": __version__,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "elapsed_s": round(time.perf_counter() - t0, 3),
        "workers": nworkers,
    }
    if items is not None:
        out["per_item"] = items
    return out


# a one-track split's label maps are held whole while its identities are matched frame by frame
MAX_TRACK_PIXELS = 2**28


def _check_one_track_size(lay: Layout) -> None:
    px = lay.num_samples * lay.hw[0] * lay.hw[1]
    if px > MAX_TRACK_PIXELS:
        raise ConfigError(f"{lay.name} split {lay.split!r}: one track of {lay.num_samples:,} frames of "
                          f"{lay.hw[0]}x{lay.hw[1]} is too long to score identities in memory (at most "
                          f"{MAX_TRACK_PIXELS:,} pixels); expected a shorter split (--num)")


def _one_track(job: _Job, sub, lay: Layout, blocks) -> object:
    """Identity switches and channel consistency of a split that is one track: its N images, in index
    order, are the frames of one sequence (the CIS authors' placement grid), matched as by
    :func:`metrics.identity_switches`."""
    from . import metrics as M

    gt_reader = _gt_reader(job)
    field = "segmentation" if "segmentation" in job.pred_fields else "masks"
    gts, preds = [], []
    for start, stop in blocks:
        gts.append(gt_reader.read(start, stop)["segmentation"])
        a = sub.read(field, start, stop)
        preds.append(a if field == "segmentation" else M.to_labels(a))
    return M.identity_switches(np.concatenate(gts)[None], np.concatenate(preds)[None])


def _fields_needed(names: Sequence[str], fields: Mapping) -> tuple:
    need = set()
    for n in names:
        for x in METRICS[n].needs:
            need.add(("segmentation" if "segmentation" in fields else "masks") if x == "labels" else x)
    if "cis_miou" in names and "masks" in fields:  # it scores the soft masks themselves
        need.add("masks")
    return tuple(k for k in fields if k in need)


def _check_field_values(sub, name: str, n: int, fields: Mapping) -> None:
    shape, dtype = fields[name]
    per = max(1, int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize)
    rows = max(1, BLOCK_BYTES // per)
    for s in range(0, n, rows):
        check_values(name, sub.read(name, s, min(n, s + rows)), s)


def _merge(parts: list, names: Sequence[str], track=None) -> dict:
    """Summaries of the blocks' per-item scores; ``track``: the identity result of a one-track split."""
    from .metrics import IdentitySwitches

    out = {}
    for n in names:
        if n in ID_METRICS:
            continue
        per = np.concatenate([p[n] for p in parts]) if parts else np.zeros(0)
        extra = {}
        if n in ("iw_nll", "iw_nll_bpd", "inference_gap", "elbo"):
            extra["unit"] = "bits/dim" if n == "iw_nll_bpd" else "nats"
        if n == "duplicate_rate":
            extra["threshold"] = DUPLICATE_THRESHOLD
        out[n] = _summary(per, **extra)
    if any(n in ID_METRICS for n in names):
        r = track if track is not None else IdentitySwitches.concat([p["_idsw"] for p in parts])
        if "id_switches" in names:
            out["id_switches"] = _summary(r.per_sequence_switches.astype(np.float64), total=r.switches,
                                          transitions=r.transitions, switch_rate=_finite(r.switch_rate))
        if "sequences_with_switch" in names:
            out["sequences_with_switch"] = _summary((r.per_sequence_switches > 0).astype(np.float64),
                                                    count=r.sequences_with_switch,
                                                    fraction=r.sequences_with_switch_str)
        if "channel_inconsistency" in names:
            out["channel_inconsistency"] = _summary(r.per_object_inconsistency)
    return {n: out[n] for n in names}


# ---------------------------------------------------------------- output
def format_value(name: str, m: Mapping, with_std: bool = True) -> str:
    """A metric entry as text, e.g. ``0.913 ± 0.071``, ``99.50%``, ``21/255``."""
    info = METRICS.get(name)
    fmt = info.fmt if info else "score"
    mean, std = m.get("mean"), m.get("std")
    if fmt == "fraction" and m.get("fraction"):
        return str(m["fraction"])
    if mean is None:
        return "n/a"
    if fmt == "pct":
        return f"{100 * mean:.2f}%"
    digits = {"nats": 2, "bpd": 4, "mse": 5, "count": 3, "score": 3, "fraction": 3}[fmt]
    text = f"{mean:.{digits}f}"
    if with_std and std is not None:
        text += f" ± {std:.{digits}f}"
    return text


def format_table(results: Mapping) -> str:
    """A human-readable table of a results dict (what ``scenebench evaluate`` prints)."""
    d, s, meth = results["dataset"], results["submission"], results["method"]
    lines = [f"dataset    {d['family']}/{d['preset']} v{d['version']} seed {d['seed']}, split {d['split']} "
             f"({d['num_samples']:,} samples), fingerprint {d['fingerprint'][:12]}…",
             f"submission {s['file']} ({s['format']}, sha256 {s['sha256'][:12]}…), method {meth['name']}"]
    rows = [(METRICS[n].label if n in METRICS else n, format_value(n, m, with_std=False),
             "" if m.get("std") is None or (METRICS.get(n) and METRICS[n].fmt in ("pct", "fraction"))
             else format_value(n, {"mean": m["std"]}, with_std=False), f"{m['n']:,}")
            for n, m in results["metrics"].items()]
    w = max([len(r[0]) for r in rows] + [6])
    lines.append("")
    lines.append(f"{'metric':<{w}}  {'mean':>12}  {'std':>10}  {'n':>9}")
    for r in rows:
        lines.append(f"{r[0]:<{w}}  {r[1]:>12}  {r[2]:>10}  {r[3]:>9}")
    return "\n".join(_printable(x) for x in lines)


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text)


def write_results(results: Mapping, path) -> Path:
    """Write a results dict as JSON, atomically (see :mod:`scenebench.atomic`)."""
    from ..atomic import write_json_atomic

    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"--json {p}: is a directory; expected a file path")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        return write_json_atomic(p, results, allow_nan=False)
    except OSError as exc:
        raise ConfigError(f"--json {p}: cannot write ({exc.strerror or exc})") from None
