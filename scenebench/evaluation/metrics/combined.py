"""Several segmentation metrics from a single contingency-table pass."""

from __future__ import annotations

import numpy as np

from . import _contingency as _c
from ._common import check_reduction, label_pair, reduce
from .clustering import _ari_table
from .segmentation import _covering_table, _miou_table

_METRICS = {
    "miou": lambda t: _miou_table(t, True),
    "miou_fg": lambda t: _miou_table(t, False),
    "ari": lambda t: _ari_table(t, False),
    "fg_ari": lambda t: _ari_table(t, True),
    "msc": lambda t: _covering_table(t, True, False),
    "sc": lambda t: _covering_table(t, True, True),
    "msc_fg": lambda t: _covering_table(t, False, False),
    "sc_fg": lambda t: _covering_table(t, False, True),
}
ALL = tuple(_METRICS)


def segmentation_metrics(gt, pred, metrics=ALL, reduction="mean"):
    """Compute several label-map metrics sharing one contingency table.

    Equivalent to calling the individual functions, but the batched
    contingency table (the dominant cost) is built once.

    Parameters
    ----------
    gt, pred : array_like of int, shape ``(..., H, W)``
        Label maps as in :func:`miou`.
    metrics : sequence of str
        Any of ``"miou"`` (``miou(include_background=True)``), ``"miou_fg"``
        (``include_background=False``), ``"ari"``, ``"fg_ari"``, ``"msc"``
        (``segmentation_covering``), ``"sc"`` (``weighted=True``), and their
        foreground-only forms ``"msc_fg"`` and ``"sc_fg"`` (``include_background=False``,
        GENESIS's "FG mSC").
        Default: all of them.
    reduction : {"mean", "none"}
        Applied to every entry, as in the individual functions.

    Returns
    -------
    dict
        Metric name -> float (``"mean"``) or per-image float64 array.

    Examples
    --------
    >>> gt = np.array([[0, 0, 0, 0, 1, 1, 2, 2]])
    >>> pred = np.array([[0, 0, 0, 0, 1, 1, 1, 1]])
    >>> segmentation_metrics(gt, pred, metrics=("miou", "miou_fg", "sc"))
    {'miou': 0.5, 'miou_fg': 0.25, 'sc': 0.75}
    """
    check_reduction(reduction)
    unknown = [m for m in metrics if m not in _METRICS]
    if unknown:
        raise ValueError(f"metrics: expected names from {ALL}, got {unknown}")
    g, p, lead = label_pair(gt, pred)
    out = {m: np.full(len(g), np.nan) for m in metrics}
    for s, table in _c.tables(g, p):
        for m in metrics:
            out[m][s : s + len(table)] = _METRICS[m](table)
    return {m: reduce(v.reshape(lead), reduction) for m, v in out.items()}
