"""Streaming accumulation of per-item scores (torchmetrics-style update/compute)."""

from __future__ import annotations

import numpy as np

from ._common import summarize


class MetricAccumulator:
    """Accumulate per-item scores of a metric over batches (e.g. shards).

    Wraps any function of this package that accepts ``reduction="none"``
    (every metric except :func:`identity_switches`, whose result merges with
    ``IdentitySwitches.concat``).  Each :meth:`update` stores the batch's
    per-item scores; :meth:`compute` summarises everything seen so far.

    Parameters
    ----------
    metric : callable
        E.g. ``scenebench.evaluation.metrics.miou``.
    **kwargs
        Fixed keyword arguments for ``metric`` (not ``reduction``).

    Examples
    --------
    >>> from scenebench.evaluation.metrics import miou
    >>> acc = MetricAccumulator(miou, include_background=False)
    >>> _ = acc.update(np.array([[0, 1, 1, 2]]), np.array([[0, 1, 1, 2]]))
    >>> _ = acc.update(np.array([[0, 1, 1, 2]]), np.array([[0, 1, 1, 1]]))
    >>> acc.compute()   # per image 1.0 and (2/3 + 0) / 2
    {'mean': 0.6666666666666666, 'std': 0.33333333333333337, 'n': 2}
    """

    def __init__(self, metric, **kwargs):
        if "reduction" in kwargs:
            raise ValueError("reduction: must not be given; MetricAccumulator always uses 'none'")
        self.metric = metric
        self.kwargs = kwargs
        self._items = []

    def update(self, *args, **kwargs):
        """Score one batch; returns its per-item float64 array (input lead shape)."""
        scores = np.asarray(self.metric(*args, reduction="none", **self.kwargs, **kwargs), dtype=np.float64)
        self._items.append(scores.ravel())
        return scores

    @property
    def per_item(self):
        """All per-item scores so far, flattened, in update order (NaN kept)."""
        return np.concatenate(self._items) if self._items else np.zeros(0)

    def compute(self, ddof=0):
        """``{"mean", "std", "n"}`` over all items so far (see :func:`summarize`)."""
        return summarize(self.per_item, ddof=ddof)

    def reset(self):
        self._items = []

    def __len__(self):
        return int(sum(x.size for x in self._items))
