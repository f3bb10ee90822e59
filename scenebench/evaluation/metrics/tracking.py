"""Temporal / multi-view identity metrics: identity switches and channel consistency."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _contingency as _c
from ._common import label_pair, nanmean


@dataclass(frozen=True, eq=False)
class IdentitySwitches:
    """Result of :func:`identity_switches` (all counts are Python ints).

    Attributes
    ----------
    per_sequence_switches : ndarray of int64, shape ``(num_sequences,)``
    per_sequence_transitions : ndarray of int64, shape ``(num_sequences,)``
        Object transitions: times an object is matched in a frame after
        having been matched in an earlier frame (the opportunities to switch).
    per_object_inconsistency : ndarray of float64, ``(num_matched_objects,)``
        ``1 - share of its matched frames spent on its most frequent
        predicted id``, for each GT object matched in at least one frame.
    num_objects : int
        GT objects present (non-empty) in at least one frame, all sequences.

    Derived properties: ``switches``, ``transitions``, ``switch_rate``
    (switches per object-transition, NaN if none), ``num_sequences``,
    ``sequences_with_switch``, ``sequences_with_switch_str`` (``"21/255"``),
    ``channel_inconsistency`` (mean over matched objects, NaN if none),
    ``channel_consistency`` (1 - that).  Combine streamed shards with
    :meth:`concat`; :meth:`to_dict` gives a JSON-ready summary.
    """

    per_sequence_switches: np.ndarray
    per_sequence_transitions: np.ndarray
    per_object_inconsistency: np.ndarray
    num_objects: int

    @property
    def switches(self):
        return int(self.per_sequence_switches.sum())

    @property
    def transitions(self):
        return int(self.per_sequence_transitions.sum())

    @property
    def switch_rate(self):
        t = self.transitions
        return self.switches / t if t else float("nan")

    @property
    def num_sequences(self):
        return int(self.per_sequence_switches.size)

    @property
    def sequences_with_switch(self):
        return int((self.per_sequence_switches > 0).sum())

    @property
    def sequences_with_switch_str(self):
        return f"{self.sequences_with_switch}/{self.num_sequences}"

    @property
    def num_matched_objects(self):
        return int(self.per_object_inconsistency.size)

    @property
    def channel_inconsistency(self):
        return nanmean(self.per_object_inconsistency)

    @property
    def channel_consistency(self):
        return 1.0 - self.channel_inconsistency

    def to_dict(self):
        keys = ("switches", "transitions", "switch_rate", "num_sequences", "sequences_with_switch",
                "sequences_with_switch_str", "num_objects", "num_matched_objects",
                "channel_inconsistency", "channel_consistency")
        return {k: getattr(self, k) for k in keys}

    @classmethod
    def concat(cls, results):
        """Merge results computed on disjoint sets of sequences."""
        results = list(results)
        cat = lambda name, dt: np.concatenate([getattr(r, name) for r in results] or [np.zeros(0, dt)])
        return cls(cat("per_sequence_switches", np.int64), cat("per_sequence_transitions", np.int64),
                   cat("per_object_inconsistency", np.float64), sum(r.num_objects for r in results))


_CONTINUE_BONUS = 1000.0  # TrackEval clear.py: continuing last frame's pairing outweighs any IoU difference
_EPS = np.finfo(float).eps


def _frame_matches(g, p, T, iou_threshold, include_background):
    """Per frame: matched predicted id (or -1) and area for each GT object, CLEAR-MOT style.

    Frames of a sequence are matched in order. As in TrackEval's CLEAR
    metrics (``clear.py``): IoUs below the threshold are zeroed before
    matching, and a pair that continues the previous frame's match gets a
    bonus larger than any IoU, so at a tie the object keeps its predicted
    id; then the Hungarian algorithm maximises the total score. The count
    of switches therefore does not depend on how predicted ids are numbered.
    """
    assigns, areas = [], []
    prev = None  # last frame's match per GT object; tables of one sequence share their label numbering
    for start, table in _c.tables(g, p, group=T):
        iou, area = _c.iou_matrix(table)
        if not include_background:
            iou, area = iou[:, 1:], area[:, 1:]
        iou = np.where(iou < iou_threshold - _EPS, 0.0, iou)
        a = np.full(iou.shape[:2], -1, np.intp)
        cols = np.arange(iou.shape[2])[None, :]
        for f, w in enumerate(iou):
            if (start + f) % T == 0:  # a new sequence
                prev = np.full(iou.shape[1], -1, np.intp)
            score = w + _CONTINUE_BONUS * ((prev[:, None] == cols) & (w > 0))
            a[f] = prev = _c.max_matching(score[None])[0]
        assigns.append(a)
        areas.append(area)
    K = max((a.shape[1] for a in assigns), default=0)
    pad = lambda xs, v: np.concatenate([np.pad(x, ((0, 0), (0, K - x.shape[1])), constant_values=v) for x in xs])
    return pad(assigns, -1), pad(areas, 0)


def identity_switches(gt_seq, pred_seq, iou_threshold=0.5, include_background=False):
    """Identity switches and channel consistency of objects across frames.

    For each sequence, frame by frame in order, GT objects are matched
    one-to-one to predicted segments following the CLEAR-MOT convention of
    TrackEval (``clear.py``): IoUs below ``iou_threshold`` are zeroed (the
    object can stay unmatched in that frame), a pair continuing the
    previous frame's match is preferred over any other (so an exact IoU tie
    never makes a switch, and relabelling the predicted ids never changes
    the count), and the Hungarian algorithm maximises the total.  A *switch* is counted when an object is
    matched to a different predicted id than at its last matched frame
    (unmatched frames in between are skipped, not reset).  GT labels must
    identify the same object across the frames of a sequence, predicted
    labels the same slot.

    The CIS-style channel-consistency form is also reported: per GT object,
    ``1 - (share of its matched frames in which it is matched to its most
    frequent predicted id)``, averaged over objects matched at least once.
    For multi-view scenes pass views as frames (``(N, V, H, W)``): switches
    then depend on view order, the consistency form does not.

    Parameters
    ----------
    gt_seq, pred_seq : array_like of int, shape ``(..., T, H, W)``
        Label maps, same shape, non-negative, any integer dtype.  ``(T, H,
        W)`` is one sequence; ``(N, T, H, W)`` is N sequences of T frames
        (further leading dims are flattened into sequences).  Use
        :func:`to_labels` for mask stacks.
    iou_threshold : float
        Minimum IoU for a match to count (default 0.5; pairs at exactly the
        threshold are kept).
    include_background : bool
        If False (default), GT label 0 is background, not an object.

    Returns
    -------
    IdentitySwitches
        With ``switches``, ``switch_rate`` (switches per object-transition),
        ``sequences_with_switch_str`` (e.g. ``"21/255"``),
        ``channel_inconsistency`` and the per-sequence / per-object arrays.

    Examples
    --------
    >>> gt = np.array([[[0, 1, 1, 2, 2]]] * 3)    # 3 frames, 2 objects
    >>> pred = np.array([[[0, 1, 1, 2, 2]], [[0, 2, 2, 1, 1]], [[0, 2, 2, 1, 1]]])
    >>> r = identity_switches(gt, pred)           # ids swap at frame 1
    >>> r.switches, r.transitions, r.sequences_with_switch_str
    (2, 4, '1/1')
    >>> round(r.channel_inconsistency, 4)         # each object: 1 - 2/3
    0.3333
    """
    g, p, lead = label_pair(gt_seq, pred_seq, min_ndim=3, names=("gt_seq", "pred_seq"))
    T = lead[-1]
    S = len(g) // T if T else 0
    if S == 0:
        z = np.zeros(0, np.int64)
        return IdentitySwitches(z, z.copy(), np.zeros(0), 0)
    assign, area = _frame_matches(g, p, T, float(iou_threshold), include_background)
    K = assign.shape[1]
    A = assign.reshape(S, T, K)
    matched = A >= 0
    # index of the last matched frame up to t (inclusive), -1 if none yet
    last = np.maximum.accumulate(np.where(matched, np.arange(T)[None, :, None], -1), axis=1)
    prev = last[:, :-1]
    prev_id = np.take_along_axis(A, np.maximum(prev, 0), axis=1)
    trans = matched[:, 1:] & (prev >= 0)
    switch = trans & (A[:, 1:] != prev_id)
    # channel consistency: count predicted ids per (sequence, object)
    n_matched = matched.sum(axis=1).ravel()
    kp = int(A.max()) + 1 if matched.any() else 1
    obj = (np.arange(S)[:, None, None] * K + np.arange(K)[None, None, :]).repeat(T, axis=1)
    counts = np.bincount((obj[matched] * kp + A[matched]), minlength=S * K * kp).reshape(S * K, kp)
    ok = n_matched > 0
    incons = 1.0 - counts.max(axis=1)[ok] / n_matched[ok]
    present = (area.reshape(S, T, K) > 0).any(axis=1)
    return IdentitySwitches(switch.sum(axis=(1, 2)).astype(np.int64), trans.sum(axis=(1, 2)).astype(np.int64),
                            incons, int(present.sum()))
