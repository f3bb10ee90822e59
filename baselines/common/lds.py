"""The LDS prior (Li & Fisher, BMVC 2021): a penalty on duplicate slot latents, shared by MONet, IODINE and MulMON.

For one image with slot latents ``Z`` (``K x D``), let ``Z_hat`` be ``Z``
with every row scaled to unit length and ``S = Z_hat Z_hat^T`` the ``K x K``
cosine-similarity matrix. The LDS term is the log-density of the
off-diagonal entries under independent ``N(0, sigma^2)``::

    L_LDS(Z) = sum_{h != j} log N(S_hj; 0, sigma^2)
             = -sum_{h != j} S_hj^2 / (2 sigma^2)  -  K (K - 1) (log sigma + log(2 pi) / 2)

(both ordered pairs ``(h, j)`` and ``(j, h)`` count; sigma = 0.1 in the
paper, a config field for its sigma ablation). A model with the prior
maximises ``ELBO + lambda * L_LDS``, i.e. its training loss is
``-ELBO - lambda * L_LDS`` (:func:`lds_penalty` gives ``-lambda * L_LDS``).
IODINE and MulMON add it at every refinement iteration.

The term is a training-time regulariser only: it is not part of the
generative model, so it never enters an ELBO, an importance weight or any
other quantity reported at evaluation (a model's ``elbo``/``log_weights`` do
not depend on ``lambda``; the tests check this for every model that uses it).

A zero latent vector has no direction; its row of ``Z_hat`` is taken as
zero (norms are clamped at ``eps``), so it is similar to nothing.

Config fields each model using the prior declares (same names everywhere,
so ``--set lds_weight=0.5`` works for all three)::

    lds_weight: float = 0.0    # lambda; 0 = the control group (no prior)
    lds_sigma: float = 0.1     # sigma of the prior on the off-diagonal similarities (paper)

and :func:`check_fields` validates them. This module imports no torch (it
only calls tensor methods), so configs may import it.
"""

from __future__ import annotations

import math

DEFAULT_SIGMA = 0.1  # paper
NORM_EPS = 1e-8


def cosine_similarity_matrix(z, eps: float = NORM_EPS):
    """``(..., K, D)`` slot latents -> ``(..., K, K)`` cosine similarities of every pair of slots."""
    unit = z / z.norm(dim=-1, keepdim=True).clamp_min(eps)
    return unit @ unit.transpose(-1, -2)


def off_diagonal_square_sum(sim):
    """``sum_{h != j} S_hj^2`` of ``(..., K, K)`` matrices -> ``(...)``."""
    sq = sim.square()
    return sq.sum((-1, -2)) - sq.diagonal(dim1=-2, dim2=-1).sum(-1)


def lds_log_prior(z, sigma: float = DEFAULT_SIGMA):
    """``L_LDS``: ``sum_{h != j} log N(S_hj; 0, sigma^2)`` per image; ``(..., K, D)`` -> ``(...)`` (nats).

    Computed in the dtype of ``z``; differentiable in ``z``.
    """
    if not sigma > 0:
        raise ValueError(f"the LDS sigma must be > 0, got {sigma}")
    k = z.shape[-2]
    const = k * (k - 1) * (math.log(sigma) + 0.5 * math.log(2.0 * math.pi))
    return -off_diagonal_square_sum(cosine_similarity_matrix(z)) / (2.0 * sigma * sigma) - const


def lds_penalty(z, weight: float, sigma: float = DEFAULT_SIGMA):
    """The LDS part of a training loss to minimise: ``-weight * L_LDS(z)`` per image, ``(..., K, D)`` -> ``(...)``."""
    return -weight * lds_log_prior(z, sigma)


def mean_off_diagonal_similarity(z):
    """Mean cosine similarity over the ``K (K - 1)`` ordered pairs of distinct slots, ``(..., K, D)`` -> ``(...)``.

    A monitoring number (the quantity ``duplicate_rate`` averages); not part of any objective.
    """
    sim = cosine_similarity_matrix(z)
    k = z.shape[-2]
    if k < 2:
        return sim.sum((-1, -2)) * 0.0
    return (sim.sum((-1, -2)) - sim.diagonal(dim1=-2, dim2=-1).sum(-1)) / (k * (k - 1))


def check_fields(config) -> None:
    """Validate a config's ``lds_weight`` (>= 0) and ``lds_sigma`` (> 0); ValueError otherwise."""
    if not config.lds_weight >= 0:
        raise ValueError(f"lds_weight must be >= 0 (0 = no LDS prior), got {config.lds_weight}")
    if not config.lds_sigma > 0:
        raise ValueError(f"lds_sigma must be > 0, got {config.lds_sigma}")
