"""Step schedules (pure functions of the global step; no state to checkpoint).

Every hyperparameter that changes during training (learning rates, KL
weights, Gumbel-softmax temperatures, warm-up weights) is a function of the
optimisation step, so resuming from a checkpoint only needs the step.

    >>> linear(0, 0.0, 1.0, 100), linear(50, 0.0, 1.0, 100), linear(500, 0.0, 1.0, 100)
    (0.0, 0.5, 1.0)
    >>> round(exponential(100, 0.5, 0.02, 100), 6)
    0.02
    >>> warmup_then_linear(10, 1.0, 0.1, warmup=20, anneal=20), warmup_then_linear(30, 1.0, 0.1, 20, 20)
    (1.0, 0.55)
"""

from __future__ import annotations

import math


def _fraction(step: int, start: int, length: int) -> float:
    if length <= 0:
        return 1.0 if step >= start else 0.0
    return min(max((step - start) / length, 0.0), 1.0)


def linear(step: int, begin: float, end: float, steps: int, start: int = 0) -> float:
    """``begin`` until ``start``, linearly to ``end`` over ``steps`` steps, then ``end``."""
    t = _fraction(step, start, steps)
    return begin + (end - begin) * t


def exponential(step: int, begin: float, end: float, steps: int, start: int = 0) -> float:
    """Geometric interpolation from ``begin`` to ``end`` (both > 0) over ``steps`` steps, then ``end``.

    ``exponential(t, lr, lr / 100, 100_000)`` is "decayed 100x over 100k steps".
    """
    if begin <= 0 or end <= 0:
        raise ValueError(f"exponential schedule needs positive end points, got {begin}, {end}")
    t = _fraction(step, start, steps)
    return math.exp(math.log(begin) + (math.log(end) - math.log(begin)) * t)


def warmup_then_linear(step: int, during: float, after: float, warmup: int, anneal: int) -> float:
    """``during`` for the first ``warmup`` steps, then linearly to ``after`` over ``anneal`` steps."""
    return linear(step, during, after, anneal, start=warmup)
