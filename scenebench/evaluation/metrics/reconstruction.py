"""Reconstruction metrics: per-image mean squared error."""

from __future__ import annotations

import numpy as np

from ._common import check_reduction, reduce


def mse(images, reconstructions, image_ndim=3, reduction="mean"):
    """Mean squared error per image, on values in ``[0, 1]``.

    Parameters
    ----------
    images : array_like of float, shape ``(..., *image_shape)``
        Targets with values in ``[0, 1]`` (uint8 images must be divided by
        255 first; integer dtypes are rejected to catch that mistake).
    reconstructions : array_like of float, same shape
        Model outputs; must be finite but are *not* clipped or range-checked
        (clip them yourself if your protocol requires it).
    image_ndim : int
        Number of trailing dims forming one image (default 3: ``(H, W, C)``
        or ``(C, H, W)``; use 2 for ``(H, W)``).  Leading dims (batch, views,
        frames) are images.
    reduction : {"mean", "none"}
        ``"mean"``: mean over images as a ``float``; ``"none"``: float64
        array of shape ``images.shape[:-image_ndim]``.

    Examples
    --------
    >>> x = np.zeros((2, 2, 2, 1)); y = x.copy(); y[1, 0, 0, 0] = 0.5
    >>> mse(x, y, reduction="none")   # 0.25 / 4 pixels in image 1
    array([0.    , 0.0625])
    >>> mse(x, y)
    0.03125
    """
    check_reduction(reduction)
    arrs = []
    for name, v in (("images", images), ("reconstructions", reconstructions)):
        a = np.asarray(v)
        if a.dtype.kind != "f":
            raise ValueError(f"{name}: expected floating values in [0, 1], got dtype {a.dtype}")
        if a.ndim < image_ndim:
            raise ValueError(f"{name}: expected at least image_ndim={image_ndim} dims, got shape {a.shape}")
        if not np.isfinite(a).all():
            raise ValueError(f"{name}: expected finite values")
        arrs.append(a)
    x, y = arrs
    if x.shape != y.shape:
        raise ValueError(f"reconstructions: expected shape {x.shape} (same as images), got {y.shape}")
    if x.size and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"images: expected values in [0, 1], got range [{x.min()}, {x.max()}]")
    lead = x.shape[: x.ndim - image_ndim]
    d = (x.astype(np.float64) - y).reshape(*lead, -1)
    return reduce(np.einsum("...i,...i->...", d, d) / max(d.shape[-1], 1), reduction)
