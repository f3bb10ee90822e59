"""Clustering metrics: adjusted Rand index (ARI) and foreground ARI."""

from __future__ import annotations

import numpy as np

from . import _contingency as _c
from ._common import check_reduction, label_pair, reduce


def _ari_table(table, foreground):
    t = table[:, 1:, :] if foreground else table
    n = t.sum(axis=(1, 2)).astype(np.float64)
    sum_sq = np.einsum("bij,bij->b", t, t).astype(np.float64)
    a = t.sum(axis=2)
    b = t.sum(axis=1)
    sa = np.einsum("bi,bi->b", a, a).astype(np.float64)
    sb = np.einsum("bj,bj->b", b, b).astype(np.float64)
    # pair-confusion form (ordered pairs), as in sklearn.metrics.adjusted_rand_score
    tp = sum_sq - n
    fp = sb - sum_sq
    fn = sa - sum_sq
    tn = n * n - sa - sb + sum_sq
    num = 2.0 * (tp * tn - fn * fp)
    den = (tp + fn) * (fn + tn) + (tp + fp) * (fp + tn)
    with np.errstate(invalid="ignore", divide="ignore"):
        ari = np.where(den != 0, num / np.where(den != 0, den, 1.0), 1.0)
    ari = np.where((fp == 0) & (fn == 0), 1.0, ari)
    return np.where(n > 0, ari, np.nan)


def ari(gt, pred, reduction="mean"):
    """Adjusted Rand index between two partitions of each image's pixels.

    Computed per image from the contingency table (identical to
    ``sklearn.metrics.adjusted_rand_score`` on the flattened image).  When
    the ARI denominator is 0 (both partitions a single cluster, or both all
    singletons) the partitions are identical and the score is 1.0, never NaN.
    Scores lie in ``[-0.5, 1]``; 0 is chance level.

    Parameters
    ----------
    gt, pred : array_like of int, shape ``(..., H, W)``
        Label maps (non-negative, any integer dtype, same shape); leading
        dims are flattened to images.  Label values are cluster ids only.
        Use :func:`to_labels` for mask stacks.
    reduction : {"mean", "none"}
        ``"mean"``: mean over valid images as a ``float`` (NaN only if no
        image is valid); ``"none"``: float64 per-image array of shape
        ``gt.shape[:-2]``.

    Examples
    --------
    >>> ari(np.array([[0, 0, 1, 1]]), np.array([[5, 5, 3, 3]]))
    1.0
    >>> ari(np.array([[0, 0, 1, 1]]), np.array([[0, 1, 0, 1]]))
    -0.5
    >>> ari(np.zeros((2, 2), int), np.zeros((2, 2), int))  # single cluster
    1.0
    """
    check_reduction(reduction)
    g, p, lead = label_pair(gt, pred)
    out = _c.per_image(g, p, lambda t: _ari_table(t, False))
    return reduce(out.reshape(lead), reduction)


def fg_ari(gt, pred, reduction="mean"):
    """Foreground ARI: :func:`ari` over the pixels whose GT label is not 0.

    Predicted labels are not restricted (a prediction may put any slot on the
    foreground).  A single perfectly segmented foreground object scores 1.0
    (both restricted partitions are one cluster).  An image with no
    foreground pixel has no defined score: it is NaN per image and excluded
    from the mean.  An image with exactly one foreground pixel scores 1.0.

    Parameters
    ----------
    gt, pred : array_like of int, shape ``(..., H, W)``
        Label maps (non-negative, any integer dtype, same shape); leading
        dims are flattened to images.  Label values are cluster ids only.
        Use :func:`to_labels` for mask stacks.
    reduction : {"mean", "none"}
        ``"mean"``: mean over valid images as a ``float`` (NaN only if no
        image is valid); ``"none"``: float64 per-image array of shape
        ``gt.shape[:-2]``.

    Examples
    --------
    >>> gt = np.array([[0, 0, 1, 1, 2, 2]])
    >>> fg_ari(gt, np.array([[7, 8, 1, 1, 3, 3]]))  # background ignored
    1.0
    >>> fg_ari(gt, np.array([[0, 0, 1, 1, 1, 1]]))  # two objects merged
    0.0
    >>> fg_ari(np.zeros((1, 1, 4), int), np.zeros((1, 1, 4), int), reduction="none")
    array([nan])
    """
    check_reduction(reduction)
    g, p, lead = label_pair(gt, pred)
    out = _c.per_image(g, p, lambda t: _ari_table(t, True))
    return reduce(out.reshape(lead), reduction)
