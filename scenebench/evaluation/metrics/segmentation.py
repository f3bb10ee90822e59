"""Segmentation metrics: Hungarian mIoU and segmentation covering (mSC / SC)."""

from __future__ import annotations

import numpy as np

from . import _contingency as _c
from ._common import check_reduction, label_pair, reduce


def _miou_table(table, include_background):
    iou, area = _c.iou_matrix(table)
    if not include_background:
        iou, area = iou[:, 1:], area[:, 1:]
    n_gt = (area > 0).sum(axis=1)
    total = _c.matched_weight(iou, _c.max_matching(iou)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_gt > 0, total / n_gt, np.nan)


def miou(gt, pred, include_background=True, reduction="mean"):
    """Mean IoU under the optimal one-to-one (Hungarian) matching.

    For each image: build the IoU matrix between every non-empty GT segment
    and every non-empty predicted segment, find the one-to-one assignment
    maximising the total IoU (``scipy.optimize.linear_sum_assignment``),
    give unmatched GT segments IoU 0, ignore extra predictions, and average
    over the GT segments.  This is *not* the greedy "best IoU per GT segment"
    score (see :func:`segmentation_covering` for that).

    Parameters
    ----------
    gt, pred : array_like of int, shape ``(..., H, W)``
        Label maps with non-negative labels, any integer dtype, same shape.
        Leading dims (batch, views, frames) are flattened to images.  GT label
        0 is the background.  Predicted labels are arbitrary ids; no
        predicted label is special.  Use :func:`to_labels` for mask stacks.
    include_background : bool
        If False, GT segment 0 is dropped from the GT side (predicted segments
        are all still candidates, including predicted label 0).
    reduction : {"mean", "none"}
        ``"mean"``: the mean over images as a ``float``; ``"none"``: float64
        per-image scores of shape ``gt.shape[:-2]``.

    Returns
    -------
    float or ndarray
        Scores in ``[0, 1]``.  An image with no GT segment to score (only
        possible with ``include_background=False`` on an all-background image)
        is NaN per image and excluded from the mean; the mean is NaN only if
        no image is valid.

    Raises
    ------
    ValueError
        Shape mismatch, non-integer dtype, negative labels, fewer than 2 dims.

    Examples
    --------
    >>> gt = np.array([[0, 0, 0, 0, 1, 1, 2, 2]])
    >>> pred = np.array([[0, 0, 0, 0, 1, 1, 1, 1]])
    >>> miou(gt, pred)  # (1.0 + 0.5 + 0) / 3
    0.5
    >>> miou(gt, pred, include_background=False)  # (0.5 + 0) / 2
    0.25
    """
    check_reduction(reduction)
    g, p, lead = label_pair(gt, pred)
    out = _c.per_image(g, p, lambda t: _miou_table(t, include_background))
    return reduce(out.reshape(lead), reduction)


def _covering_table(table, include_background, weighted):
    iou, area = _c.iou_matrix(table)
    if not include_background:
        iou, area = iou[:, 1:], area[:, 1:]
    best = iou.max(axis=2) if iou.shape[2] else np.zeros(area.shape)
    w = area if weighted else (area > 0)
    denom = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (w * best).sum(axis=1) / denom, np.nan)


def segmentation_covering(gt, pred, weighted=False, include_background=True, reduction="mean"):
    """Segmentation covering: best IoU of each GT segment with any prediction.

    Per image, each non-empty GT segment ``R`` scores ``max_R' IoU(R, R')``
    over all predicted segments (many-to-one allowed, unlike :func:`miou`).
    ``weighted=False`` gives mSC, the unweighted mean over GT segments;
    ``weighted=True`` gives SC, the mean weighted by GT segment size
    ``|R| / sum |R|``.

    Parameters
    ----------
    gt, pred : array_like of int, shape ``(..., H, W)``
        Label maps as in :func:`miou`.
    weighted : bool
        False: mSC; True: SC.
    include_background : bool
        If False, GT segment 0 is not scored (the foreground-only variant
        common on ShapeStacks-style data).  Default True, i.e. all segments.
    reduction : {"mean", "none"}
        As in :func:`miou`.

    Returns
    -------
    float or ndarray
        Scores in ``[0, 1]``; images with no GT segment to score are NaN and
        excluded from the mean.

    Examples
    --------
    >>> gt = np.array([[0, 0, 0, 0, 1, 1, 2, 2]])
    >>> pred = np.array([[0, 0, 0, 0, 1, 1, 1, 1]])
    >>> segmentation_covering(gt, pred)  # (1 + 0.5 + 0.5) / 3
    0.6666666666666666
    >>> segmentation_covering(gt, pred, weighted=True)  # (4*1 + 2*.5 + 2*.5) / 8
    0.75
    """
    check_reduction(reduction)
    g, p, lead = label_pair(gt, pred)
    out = _c.per_image(g, p, lambda t: _covering_table(t, include_background, weighted))
    return reduce(out.reshape(lead), reduction)
