"""Reference metrics for object-centric scene learning (numpy in, floats out).

All metrics are computed per image (per view, per sequence) and then
averaged; contingency tables are built for the whole batch at once with
``np.bincount`` (see ``_contingency``), the Hungarian step runs per image
only where needed.  Imports only numpy and scipy.

Conventions
-----------
* Label maps: integer arrays ``(..., H, W)``, any integer dtype,
  non-negative; leading dims (batch, views, frames) are images.  GT label 0
  is the background.  Mask stacks ``(..., K, H, W)`` (soft or hard): convert
  with :func:`to_labels` (argmax over K).  Float/bool label maps, negative
  labels and shape mismatches raise ``ValueError``.
* Returns: ``reduction="mean"`` (default) gives a Python ``float``, the mean
  over valid items; ``reduction="none"`` gives the float64 per-item array
  shaped like the leading dims.  Items where a metric is undefined (e.g.
  FG-ARI of an image without foreground) are NaN and skipped by the mean.
  :func:`summarize` turns per-item scores into ``{"mean", "std", "n"}``;
  :class:`MetricAccumulator` streams batches.

Metrics
-------
miou, segmentation_covering          -- segmentation (Hungarian / best-match IoU)
cis_miou, label_masks                -- the CIS authors' greedy soft-mask mIoU
ari, fg_ari                          -- clustering (adjusted Rand index)
count_accuracy, count_segments       -- counting
iw_nll, inference_gap                -- likelihood from importance weights
identity_switches                    -- tracking / multi-view consistency
mse                                  -- reconstruction
slot_similarity, duplicate_rate      -- slot latents
segmentation_metrics                 -- several label-map metrics, one table pass
"""

from ._common import summarize, to_labels
from .accumulator import MetricAccumulator
from .clustering import ari, fg_ari
from .combined import segmentation_metrics
from .counting import count_accuracy, count_segments
from .latents import duplicate_rate, slot_similarity
from .likelihood import inference_gap, iw_nll
from .reconstruction import mse
from .segmentation import cis_miou, label_masks, miou, segmentation_covering
from .tracking import IdentitySwitches, identity_switches

__all__ = [
    "IdentitySwitches",
    "MetricAccumulator",
    "ari",
    "cis_miou",
    "count_accuracy",
    "count_segments",
    "duplicate_rate",
    "fg_ari",
    "identity_switches",
    "inference_gap",
    "iw_nll",
    "label_masks",
    "miou",
    "mse",
    "segmentation_covering",
    "segmentation_metrics",
    "slot_similarity",
    "summarize",
    "to_labels",
]
