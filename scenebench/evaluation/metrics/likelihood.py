"""Likelihood metrics from importance weights: IW-NLL and inference gap."""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from ._common import as_float, check_reduction, reduce

_UNITS = ("nats", "bits/dim")


def _iw_log_likelihood(log_weights):
    lw = as_float(log_weights, "log_weights", min_ndim=1)
    if lw.shape[-1] == 0:
        raise ValueError(f"log_weights: expected at least one sample on the last axis, got shape {lw.shape}")
    if np.isposinf(lw).any():
        raise ValueError("log_weights: expected no +inf values")
    with np.errstate(divide="ignore"):
        return logsumexp(lw, axis=-1) - np.log(lw.shape[-1]), lw


def _to_unit(x, unit, num_dims):
    if unit not in _UNITS:
        raise ValueError(f"unit: expected 'nats' or 'bits/dim', got {unit!r}")
    if unit == "nats":
        return x
    if isinstance(num_dims, (bool, np.bool_)) or not isinstance(num_dims, (int, np.integer)) or num_dims <= 0:
        raise ValueError(f"num_dims: expected a positive integer for unit='bits/dim', got {num_dims!r}")
    return x / (int(num_dims) * np.log(2.0))


def iw_nll(log_weights, unit="nats", num_dims=None, reduction="mean"):
    """Importance-weighted negative log-likelihood.

    Per image ``-(logsumexp_s log w_s - log S)`` with
    ``log w_s = log p(x, z_s) - log q(z_s | x)``, ``z_s ~ q`` (the IWAE
    bound; an upper bound on the NLL that tightens as S grows).

    Parameters
    ----------
    log_weights : array_like of float, shape ``(..., S)``
        Log importance weights in nats; the last axis holds the S samples,
        leading dims (batch, views) are images.  ``-inf`` (zero weight) is
        allowed; NaN and ``+inf`` are rejected.
    unit : {"nats", "bits/dim"}
        ``"bits/dim"`` divides by ``num_dims * ln 2``.
    num_dims : int, optional
        Dimensions per image (e.g. ``H * W * C``); required for bits/dim.
    reduction : {"mean", "none"}
        ``"mean"``: mean over images as a ``float``; ``"none"``: float64
        array of shape ``log_weights.shape[:-1]``.

    Returns
    -------
    float or ndarray
        NLL per image; ``+inf`` if all weights of an image are zero.

    Examples
    --------
    >>> round(iw_nll([-100.0, -101.0, -102.0]), 4)
    100.691
    >>> round(iw_nll([-100.0, -101.0, -102.0], unit="bits/dim", num_dims=100), 4)
    1.4527
    """
    check_reduction(reduction)
    ll, _ = _iw_log_likelihood(log_weights)
    return reduce(_to_unit(-ll, unit, num_dims), reduction)


def inference_gap(log_weights, elbo=None, unit="nats", num_dims=None, reduction="mean"):
    """Inference gap: IW log-likelihood estimate minus the ELBO.

    Per image ``(logsumexp_s log w_s - log S) - ELBO``; >= 0 up to sampling
    noise when ``elbo`` is the mean of the same weights.

    Parameters
    ----------
    log_weights : array_like of float, shape ``(..., S)``
        As in :func:`iw_nll`.
    elbo : array_like of float, shape ``log_weights.shape[:-1]``, optional
        Evidence lower bound per image in nats, as a log-likelihood bound
        (typically negative; *not* the negative-ELBO loss).  Default: the
        mean of ``log_weights`` over the samples (the S-sample ELBO estimate).
    unit, num_dims, reduction
        As in :func:`iw_nll`.

    Examples
    --------
    >>> lw = [-100.0, -101.0, -102.0]
    >>> round(inference_gap(lw), 4)  # -99.5924 - 1.0986 - (-101)
    0.309
    >>> round(inference_gap(lw, elbo=-103.0), 4)
    2.309
    """
    check_reduction(reduction)
    ll, lw = _iw_log_likelihood(log_weights)
    if elbo is None:
        e = lw.mean(axis=-1)
    else:
        e = as_float(elbo, "elbo", min_ndim=0)
        if e.shape != ll.shape:
            raise ValueError(f"elbo: expected shape {ll.shape} (log_weights.shape[:-1]), got {e.shape}")
    return reduce(_to_unit(ll - e, unit, num_dims), reduction)
