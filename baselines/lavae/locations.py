"""LAVAE's discrete location machinery: counting, sampling without replacement, placement.

Locations are flat pixel indices ``l = row * W + col`` in ``[0, D)``,
``D = H * W``. Shapes: ``B`` images (or image x sample pairs), ``D``
locations, ``n_max`` objects, ``P`` placed sprites (packed active objects),
``C`` channels, ``S`` sprite size (odd; a sprite is centred on its location).

* :func:`count_objects` -- ``f_count``: local maxima of the location logits
  above a threshold (deterministic ``q(n | x)``), in a configurable window.
* :func:`sample_without_replacement` -- Gumbel-top-k: the ``n`` largest of
  ``logits + Gumbel noise`` are an ordered sample without replacement from
  ``softmax(logits)`` (Kool et al., 2019); :func:`log_prob_ordered` is its
  exact log-probability, :func:`log_prior_ordered` the uniform prior's.
* :func:`relaxed_locations` -- the Gumbel-softmax relaxation of the same
  draws (same noise, previously chosen locations masked) with the per-step
  KL to the uniform prior, for training.
* :func:`place_hard` / :func:`place_soft` -- sum sprites into canvases at
  exact locations (index arithmetic) or at relaxed location maps (FFT
  convolution).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def gamma(num_locations: int) -> float:
    """Logit scale ``gamma = 0.5 * log D`` (4.16 for 64x64)."""
    return 0.5 * math.log(num_locations)


# ----------------------------------------------------------------------------- counting
def local_maxima(h: torch.Tensor, threshold: float, window: int = 3) -> torch.Tensor:
    """bool ``(B, H, W)``: pixels of ``h`` ``(B, H, W)`` above ``threshold`` that are maxima of their
    ``window x window`` neighbourhood (``window`` odd; 3 = the 8 neighbours).

    Ties are broken in raster order (a pixel must be strictly greater than the
    neighbours before it, and >= those after it), so a plateau of equal values
    counts once.
    """
    _, height, width = h.shape
    r = window // 2
    pad = F.pad(h.unsqueeze(1), (r, r, r, r), value=float("-inf")).squeeze(1)
    out = h > threshold
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            if dy == 0 and dx == 0:
                continue
            nb = pad[:, r + dy: r + dy + height, r + dx: r + dx + width]
            earlier = dy < 0 or (dy == 0 and dx < 0)
            out &= (h > nb) if earlier else (h >= nb)
    return out


def count_objects(h: torch.Tensor, threshold: float, max_objects: int, window: int = 3) -> torch.Tensor:
    """int64 ``(B,)``: number of local maxima of ``h`` above ``threshold``, at most ``max_objects``."""
    return local_maxima(h, threshold, window).flatten(1).sum(1).clamp(max=max_objects)


def top_maxima(h: torch.Tensor, threshold: float, max_objects: int, window: int = 3):
    """The (at most ``max_objects``) highest counted maxima: flat indices ``(B, M)`` and validity ``(B, M)``.

    Sorted by decreasing value; ``valid.sum(1) == count_objects(h, ...)``.
    """
    values = h.masked_fill(~local_maxima(h, threshold, window), float("-inf")).flatten(1)
    k = min(max_objects, values.shape[1])
    top = values.topk(k, dim=1)
    return top.indices, torch.isfinite(top.values)


# ----------------------------------------------------------------------------- sampling
def gumbel(shape, generator: torch.Generator, device) -> torch.Tensor:
    """Standard Gumbel noise ``-log(-log U)`` of ``shape`` (float32)."""
    u = torch.rand(shape, generator=generator, device=device)
    tiny = torch.finfo(torch.float32).tiny
    return -torch.log(-torch.log(u.clamp(tiny, 1.0 - 1e-7)))


def sample_without_replacement(logits: torch.Tensor, n_max: int, noise: torch.Tensor) -> torch.Tensor:
    """Ordered sample of ``n_max`` distinct locations: int64 ``(..., n_max)`` from logits ``(..., D)``.

    ``noise`` is Gumbel noise shaped like ``logits``. Position ``i`` is the
    ``i``-th draw of sequential sampling without replacement from
    ``softmax(logits)``.
    """
    return (logits.detach() + noise).topk(n_max, dim=-1).indices


def log_prob_ordered(logits: torch.Tensor, idx: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
    """Exact ``log q(l_1, ..., l_n)`` of ordered draws without replacement: ``(...)``.

    ``q(l_i | l_<i) = exp(logits[l_i]) / sum over locations not yet drawn``.
    ``idx`` ``(..., n_max)``; ``active`` bool ``(..., n_max)`` marks the draws that count
    (the first ``n`` of each row).
    """
    masked = logits.clone()
    total = torch.zeros(logits.shape[:-1], dtype=logits.dtype, device=logits.device)
    for i in range(idx.shape[-1]):
        li = idx[..., i: i + 1]
        term = logits.gather(-1, li).squeeze(-1) - torch.logsumexp(masked, dim=-1)
        total = total + torch.where(active[..., i], term, torch.zeros_like(term))
        masked = masked.scatter(-1, li, float("-inf"))
    return total


def log_prior_ordered(n: torch.Tensor, num_locations: int) -> torch.Tensor:
    """``log p(l_1..l_n)`` under the uniform prior without replacement: ``-log(D! / (D - n)!)``."""
    n = n.to(torch.float64)
    d = float(num_locations)
    return -(math.lgamma(d + 1.0) - torch.lgamma(d - n + 1.0))


def relaxed_locations(logits: torch.Tensor, noise: torch.Tensor, idx: torch.Tensor, tau: float):
    """Gumbel-softmax relaxations of the draws ``idx`` and their KLs to the uniform prior.

    ``logits``, ``noise``: ``(B, D)``; ``idx``: ``(B, n_max)`` from
    :func:`sample_without_replacement` with the same noise. Returns ``y``
    ``(B, n_max, D)`` (rows sum to 1; ``argmax y[:, i] == idx[:, i]``) and
    ``kl`` ``(B, n_max)``: ``KL(q(l_i | l_<i) || Uniform(D - i))``, exact given
    the previous draws. Gradients flow to ``logits`` through both.
    """
    batch, num = logits.shape
    mask = torch.zeros_like(logits, dtype=torch.bool)
    ys, kls = [], []
    for i in range(idx.shape[1]):
        masked = logits.masked_fill(mask, float("-inf"))
        logq = F.log_softmax(masked, dim=-1)
        q = logq.exp()
        kls.append((q * logq.masked_fill(mask, 0.0)).sum(-1) + math.log(num - i))
        ys.append(F.softmax((masked + noise) / tau, dim=-1))
        mask = mask.scatter(1, idx[:, i: i + 1], True)
    return torch.stack(ys, 1), torch.stack(kls, 1)


# ----------------------------------------------------------------------------- placement
def place_hard(sprites: torch.Tensor, target: torch.Tensor, loc: torch.Tensor, num_canvas: int,
               height: int, width: int) -> torch.Tensor:
    """Sum sprites ``(P, C, S, S)`` centred at flat locations ``loc`` ``(P,)`` into canvases ``target`` ``(P,)``.

    Returns ``(num_canvas, C, height, width)``; sprite parts outside the image
    are cut off. Differentiable with respect to ``sprites``.
    """
    p, c, s, _ = sprites.shape
    r = s // 2
    hp, wp = height + 2 * r, width + 2 * r
    canvas = sprites.new_zeros(num_canvas * c * hp * wp)
    if p:
        y, x = loc // width, loc % width  # sprite top-left in the padded canvas
        ar = torch.arange(s, device=sprites.device)
        ch = torch.arange(c, device=sprites.device)
        index = (target.view(p, 1, 1, 1) * (c * hp * wp) + ch.view(1, c, 1, 1) * (hp * wp)
                 + (y.view(p, 1, 1, 1) + ar.view(1, 1, s, 1)) * wp + (x.view(p, 1, 1, 1) + ar.view(1, 1, 1, s)))
        canvas = canvas.index_put((index.reshape(-1),), sprites.reshape(-1), accumulate=True)
    return canvas.view(num_canvas, c, hp, wp)[:, :, r: r + height, r: r + width]


def place_soft(sprites: torch.Tensor, maps: torch.Tensor, target: torch.Tensor, num_canvas: int) -> torch.Tensor:
    """Sum sprites ``(P, C, S, S)`` convolved with location maps ``(P, H, W)`` into canvases ``target``.

    A one-hot map gives :func:`place_hard`'s result (up to float rounding);
    a relaxed map places a weighted mixture of shifted sprites. Linear
    convolution by FFT: ``(num_canvas, C, H, W)``.
    """
    p, c, s, _ = sprites.shape
    height, width = maps.shape[-2:]
    out = sprites.new_zeros((num_canvas, c, height, width))
    if p == 0:
        return out
    r = s // 2
    size = (height + s - 1, width + s - 1)
    spec = torch.fft.rfft2(maps, s=size).unsqueeze(1) * torch.fft.rfft2(sprites, s=size)
    full = torch.fft.irfft2(spec, s=size)[..., r: r + height, r: r + width]
    return out.index_put((target,), full, accumulate=True)
