"""Counting metrics: exact-count accuracy and per-image segment counts."""

from __future__ import annotations

import numpy as np

from . import _contingency as _c
from ._common import as_labels, check_reduction, reduce


def count_accuracy(gt_counts, pred_counts, reduction="mean"):
    """Fraction of images whose predicted object count equals the GT count.

    Parameters
    ----------
    gt_counts, pred_counts : array_like, same shape (any, e.g. ``(N,)``)
        Non-negative counts, one per image.  Integer dtypes, or floats that
        are compared exactly (``2.0 == 2`` counts, ``2.4`` never matches).
    reduction : {"mean", "none"}
        ``"mean"``: the accuracy as a ``float``; ``"none"``: float64 array of
        0.0/1.0 with the input shape.

    Raises
    ------
    ValueError
        Shape mismatch, non-numeric/bool dtype, negative or NaN counts.

    Examples
    --------
    >>> count_accuracy([3, 4, 5, 6], [3, 4, 4, 7])
    0.5
    """
    check_reduction(reduction)
    arrs = []
    for name, x in (("gt_counts", gt_counts), ("pred_counts", pred_counts)):
        a = np.asarray(x)
        if a.dtype.kind not in "iuf":
            raise ValueError(f"{name}: expected numeric (integer) counts, got dtype {a.dtype}")
        if a.size and (np.isnan(a).any() if a.dtype.kind == "f" else False):
            raise ValueError(f"{name}: expected no NaN values")
        if a.size and a.min() < 0:
            raise ValueError(f"{name}: expected non-negative counts, got minimum {a.min()}")
        arrs.append(a)
    if arrs[0].shape != arrs[1].shape:
        raise ValueError(f"pred_counts: expected shape {arrs[0].shape} (same as gt_counts), got {arrs[1].shape}")
    return reduce((arrs[0] == arrs[1]).astype(np.float64), reduction)


def count_segments(labels, include_background=False, min_pixels=1):
    """Number of distinct labels covering at least ``min_pixels`` per image.

    Use it to derive counts from label maps, e.g.
    ``count_accuracy(count_segments(gt), count_segments(pred))``.

    Parameters
    ----------
    labels : array_like of int, shape ``(..., H, W)``
        Label maps (non-negative, any integer dtype).
    include_background : bool
        If False (default) label 0 is not counted.
    min_pixels : int
        Minimum area for a label to count (default 1: any present label).

    Returns
    -------
    ndarray of int64, shape ``labels.shape[:-2]``

    Examples
    --------
    >>> count_segments(np.array([[[0, 0, 3, 9]], [[0, 0, 0, 0]]]))
    array([2, 0])
    """
    lab = as_labels(labels, "labels")
    lead = lab.shape[:-2]
    lab = lab.reshape(-1, lab.shape[-1] * lab.shape[-2])
    out = np.zeros(len(lab), np.int64)
    if len(lab):
        M = int(lab.max()) + 1
        starts, step = _c.chunk_starts(*lab.shape)
        for s in starts:
            c, k = _c.prepare(lab[s : s + step], M)
            idx = c.astype(np.intp) + (np.arange(len(c), dtype=np.intp) * k)[:, None]
            area = np.bincount(idx.ravel(), minlength=len(c) * k).reshape(len(c), k)
            if not include_background:
                area = area[:, 1:]
            out[s : s + len(c)] = (area >= max(int(min_pixels), 1)).sum(axis=1)
    return out.reshape(lead)
