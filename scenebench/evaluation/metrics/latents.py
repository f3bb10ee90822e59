"""Slot-latent diagnostics: pairwise cosine similarity and duplicate slots."""

from __future__ import annotations

import numpy as np

from ._common import as_float, check_reduction, reduce


def _cosine(latents):
    z = as_float(latents, "latents", min_ndim=2)
    if z.shape[-2] < 2:
        raise ValueError(f"latents: expected at least 2 slots on axis -2 (..., K, D), got shape {z.shape}")
    if not np.isfinite(z).all():
        raise ValueError("latents: expected finite values")
    norm = np.linalg.norm(z, axis=-1, keepdims=True)
    u = z / np.where(norm > 0, norm, 1.0)  # zero vectors -> similarity 0
    c = u @ np.swapaxes(u, -1, -2)
    K = z.shape[-2]
    off = ~np.eye(K, dtype=bool)
    return c[..., off]  # (..., K*(K-1)) off-diagonal entries


def slot_similarity(latents, reduction="mean"):
    """Mean off-diagonal cosine similarity between the slots of each image.

    Parameters
    ----------
    latents : array_like of float, shape ``(..., K, D)``
        K >= 2 slot vectors of dimension D per image; leading dims are images.
        A zero vector has similarity 0 with every slot.
    reduction : {"mean", "none"}
        ``"mean"``: a ``float``; ``"none"``: float64 array, shape
        ``latents.shape[:-2]``.

    Examples
    --------
    >>> slot_similarity([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # pairs: 1, 0, 0
    0.3333333333333333
    """
    check_reduction(reduction)
    return reduce(_cosine(latents).mean(axis=-1), reduction)


def duplicate_rate(latents, threshold=0.9, reduction="mean"):
    """Share of images with at least one pair of slots more similar than ``threshold``.

    Two slots are duplicates when their cosine similarity is strictly greater
    than ``threshold`` (default 0.9; report the value you use).  See
    :func:`slot_similarity` for the mean off-diagonal similarity.

    Parameters
    ----------
    latents : array_like of float, shape ``(..., K, D)``
        As in :func:`slot_similarity`.
    threshold : float
        Cosine similarity above which a pair counts as duplicated.
    reduction : {"mean", "none"}
        ``"mean"``: the share as a ``float``; ``"none"``: 0.0/1.0 per image.

    Examples
    --------
    >>> z = np.array([[[1.0, 0.0], [0.99, 0.1]], [[1.0, 0.0], [0.0, 1.0]]])
    >>> duplicate_rate(z)
    0.5
    """
    check_reduction(reduction)
    return reduce((_cosine(latents) > threshold).any(axis=-1).astype(np.float64), reduction)
