"""Shared helpers: input validation, reductions and summaries.

Conventions used by every metric in :mod:`scenebench.evaluation.metrics`:

* A *label map* is an integer array (any signed/unsigned integer dtype)
  of shape ``(..., H, W)`` with non-negative values.  All leading dims are
  flattened to a batch of images, so ``(H, W)``, ``(N, H, W)``,
  ``(N, V, H, W)`` (views) and ``(N, T, H, W)`` (frames) are all accepted.
* Per-image scores are float64; ``reduction="mean"`` returns their mean as
  a Python ``float`` (NaN items skipped), ``reduction="none"`` returns the
  per-image array shaped like the leading dims.
"""

from __future__ import annotations

import numpy as np

REDUCTIONS = ("mean", "none")


def check_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction: expected 'mean' or 'none', got {reduction!r}")


def reduce(per_item, reduction):
    """Return ``per_item`` (``'none'``) or its NaN-skipping mean as a float."""
    if reduction == "none":
        return per_item
    return nanmean(per_item)


def nanmean(x):
    """Mean of the non-NaN entries as a float; NaN if there are none (no warning)."""
    x = np.asarray(x, dtype=np.float64).ravel()
    x = x[~np.isnan(x)]
    return float(x.mean()) if x.size else float("nan")


def summarize(per_item, ddof=0):
    """Summarise per-item scores as ``{"mean": float, "std": float, "n": int}``.

    NaN entries (items a metric excludes, e.g. images without foreground for
    FG-ARI) are dropped first; ``n`` counts the remaining items.  ``std`` uses
    ``ddof`` (default 0, the population std).  With ``n == 0`` mean and std
    are NaN; with ``n <= ddof`` std is NaN.

    >>> summarize([1.0, 0.5, float("nan")])
    {'mean': 0.75, 'std': 0.25, 'n': 2}
    """
    x = np.asarray(per_item, dtype=np.float64).ravel()
    x = x[~np.isnan(x)]
    n = int(x.size)
    mean = float(x.mean()) if n else float("nan")
    std = float(x.std(ddof=ddof)) if n > ddof else float("nan")
    return {"mean": mean, "std": std, "n": n}


def as_labels(x, name, min_ndim=2):
    """Validate one label-map argument; returns it as an ndarray (no copy)."""
    x = np.asarray(x)
    if x.dtype.kind not in "iu":
        hint = ""
        if x.dtype.kind in "bf":
            hint = "; for (..., K, H, W) mask stacks call scenebench.evaluation.metrics.to_labels() first"
        raise ValueError(f"{name}: expected an integer label map, got dtype {x.dtype}{hint}")
    if x.ndim < min_ndim:
        dims = "(..., H, W)" if min_ndim == 2 else "(..., T, H, W)"
        raise ValueError(f"{name}: expected at least {min_ndim} dims {dims}, got shape {x.shape}")
    if x.shape[-1] * x.shape[-2] == 0:
        raise ValueError(f"{name}: expected images with at least one pixel, got shape {x.shape}")
    if x.dtype.kind == "i" and x.size and x.min() < 0:
        raise ValueError(f"{name}: expected non-negative labels, got minimum {x.min()}")
    return x


def label_pair(gt, pred, min_ndim=2, names=("gt", "pred")):
    """Validate a (gt, pred) pair; return ``(gt2d, pred2d, lead_shape)``.

    ``gt2d``/``pred2d`` have shape ``(B, H*W)`` (views, not copies, when the
    inputs are contiguous); ``lead_shape`` is ``gt.shape[:-2]``.
    """
    g = as_labels(gt, names[0], min_ndim)
    p = as_labels(pred, names[1], min_ndim)
    if g.shape != p.shape:
        raise ValueError(f"{names[1]}: expected shape {g.shape} (same as {names[0]}), got {p.shape}")
    lead = g.shape[:-2]
    P = g.shape[-1] * g.shape[-2]
    return g.reshape(-1, P), p.reshape(-1, P), lead


def as_float(x, name, min_ndim=1, allow_int=True):
    """Validate a real-valued array argument and return it as float64."""
    a = np.asarray(x)
    ok = "f" + ("iu" if allow_int else "")
    if a.dtype.kind not in ok:
        raise ValueError(f"{name}: expected a real-valued array, got dtype {a.dtype}")
    if a.ndim < min_ndim:
        raise ValueError(f"{name}: expected at least {min_ndim} dims, got shape {a.shape}")
    a = a.astype(np.float64, copy=False)
    if np.isnan(a).any():
        raise ValueError(f"{name}: expected no NaN values")
    return a


def to_labels(masks, axis=-3):
    """Convert a mask stack to a label map by taking the argmax over slots.

    Parameters
    ----------
    masks : array_like, shape ``(..., K, H, W)``
        Soft (float) or hard (bool / integer) masks, one channel per slot or
        object.  ``axis`` selects the slot axis (default ``-3``; use ``-1``
        for channels-last ``(..., H, W, K)``).
    axis : int
        Slot axis.

    Returns
    -------
    ndarray, shape ``masks.shape`` without ``axis``
        Label map with values in ``[0, K)``: ``uint8`` if ``K <= 256``,
        else ``int64``.  Ties (including all-zero pixels of a hard stack) go
        to the lowest slot index, as in ``np.argmax``; include a background
        channel at index 0 if pixels can be covered by no mask.

    Raises
    ------
    ValueError
        If ``masks`` has fewer than 3 dims, K is 0, the dtype is not
        bool/int/float, or a float stack contains NaN.

    Examples
    --------
    >>> m = np.zeros((3, 1, 4), bool); m[0, 0, :2] = m[2, 0, 2:] = True
    >>> to_labels(m)
    array([[0, 0, 2, 2]], dtype=uint8)
    """
    m = np.asarray(masks)
    if m.dtype.kind not in "biuf":
        raise ValueError(f"masks: expected a bool, integer or float mask stack, got dtype {m.dtype}")
    if m.ndim < 3:
        raise ValueError(f"masks: expected a mask stack (..., K, H, W) with at least 3 dims, got shape {m.shape}")
    k = m.shape[axis]
    if k == 0:
        raise ValueError(f"masks: expected at least one slot along axis {axis}, got shape {m.shape}")
    if m.dtype.kind == "f" and np.isnan(m).any():
        raise ValueError("masks: expected no NaN values")
    lab = np.argmax(m, axis=axis)
    return lab.astype(np.uint8 if k <= 256 else np.int64, copy=False)
