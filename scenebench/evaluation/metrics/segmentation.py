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


def label_masks(labels):
    """One-hot bool mask stacks ``(..., K, H, W)`` from label maps ``(..., H, W)``.

    Labels are compacted first (ids do not matter to mask metrics), so ``K``
    is the number of distinct labels in the whole array, not its largest id.

    >>> label_masks(np.array([[0, 7, 7]]))[:, 0].astype(int).tolist()  # (K, H, W) = (2, 1, 3)
    [[1, 0, 0], [0, 1, 1]]
    """
    lab = np.asarray(labels)
    if lab.ndim < 2 or not np.issubdtype(lab.dtype, np.integer):
        raise ValueError(f"labels: expected integer label maps (..., H, W), got {lab.dtype} of shape {lab.shape}")
    ids, inverse = np.unique(lab, return_inverse=True)
    inverse = inverse.reshape(lab.shape)
    return inverse[..., None, :, :] == np.arange(len(ids)).reshape((len(ids), 1, 1))


def cis_miou(gt_masks, pred_masks, threshold=0.04, min_pixels=4, reduction="mean"):
    """The CIS authors' mIoU: best IoU per GT channel, many-to-one, on binarised soft masks.

    The segmentation score of Yang, Chen & Soatto (CVPR 2020) as their
    released evaluation code computes it (``Permute_IoU``): per image, GT
    and predicted masks are binarised at ``> threshold``; every GT channel
    **including the background** with more than ``min_pixels`` pixels is
    scored by its best IoU over all predicted channels (several GT channels
    may pick the same prediction: greedy, not a matching); the image's score
    is the mean over those GT channels. It is higher than the one-to-one
    Hungarian :func:`miou` whenever one predicted channel covers several
    objects. On hard masks it is the unweighted segmentation covering with
    background, restricted to GT segments of more than ``min_pixels`` pixels.
    (The paper's tables then report the mean and std, ddof 1, of the means of
    10 subsets of 200 test images.)

    Parameters
    ----------
    gt_masks : array_like, shape ``(..., Kg, H, W)``
        GT channel masks (soft in [0, 1], or bool), background included; use
        :func:`label_masks` for label maps.
    pred_masks : array_like, shape ``(..., Kp, H, W)``
        Predicted soft masks (or bool / one-hot of a label map); same leading
        dims and image size.
    threshold : float
        Binarisation threshold, strict ``>`` (authors: 0.04).
    min_pixels : int
        A GT channel is scored only with more than this many pixels (authors: 4).
    reduction : {"mean", "none"}

    Returns
    -------
    float or ndarray
        Scores in ``[0, 1]``; NaN for an image without a scorable GT channel.

    Examples
    --------
    >>> gt = label_masks(np.array([[0, 0, 0, 0, 1, 1, 2, 2]])[:, None])   # (1, 3, 1, 8)
    >>> pred = label_masks(np.array([[0, 0, 0, 0, 1, 1, 1, 1]])[:, None])
    >>> round(cis_miou(gt, pred, min_pixels=1), 4)   # (1 + 0.5 + 0.5) / 3; Hungarian miou gives 0.5
    0.6667
    """
    check_reduction(reduction)
    g = np.asarray(gt_masks)
    p = np.asarray(pred_masks)
    if g.ndim < 3 or p.ndim < 3 or g.shape[:-3] != p.shape[:-3] or g.shape[-2:] != p.shape[-2:]:
        raise ValueError(f"gt_masks {g.shape} and pred_masks {p.shape}: expected (..., K, H, W) stacks with the same "
                         "leading dims and image size")
    lead = g.shape[:-3]
    n = int(np.prod(lead, dtype=np.int64))
    gb = (g > threshold).reshape(n, g.shape[-3], -1).astype(np.float32)
    pb = (p > threshold).reshape(n, p.shape[-3], -1).astype(np.float32)
    inter = np.matmul(gb, pb.transpose(0, 2, 1)).astype(np.float64)  # exact: counts below 2**24
    g_area, p_area = gb.sum(-1, dtype=np.float64), pb.sum(-1, dtype=np.float64)
    union = g_area[:, :, None] + p_area[:, None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
        best = iou.max(-1) if iou.shape[-1] else np.zeros(g_area.shape)
        valid = g_area > min_pixels
        out = np.where(valid.any(-1), (best * valid).sum(-1) / valid.sum(-1), np.nan)
    return reduce(out.reshape(lead), reduction)
