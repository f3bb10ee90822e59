"""Batched contingency tables, IoU matrices and one-to-one matching.

The core of every segmentation metric: for a batch of ``B`` label maps it
builds the per-image contingency table ``table[b, i, j] = #pixels with GT
label i and predicted label j`` with one ``np.bincount`` per block of images,
using the flat index ``b * (Kg * Kp) + gt * Kp + pred``.  Cost is
O(pixels + B * Kg * Kp); memory is bounded by processing chunks of images.

Label values are used directly as table indices when they are small.  Large
values (e.g. instance ids up to 255 or more) are compacted per *group* of
images (one image, or one sequence for tracking) to ranks ``0..K-1``, with
label 0 always mapped to index 0 so "row 0 is the GT background" holds.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

CHUNK_PIXELS = 1 << 22  # pixels per chunk: compaction temporaries, one table per chunk
BLOCK_PIXELS = 1 << 17  # pixels per np.bincount call (keeps temporaries in cache)
TABLE_ENTRIES = 1 << 22  # max contingency entries materialised at once
COMPACT_ABOVE = 32  # compact a side whose max label + 1 exceeds this


def compact(lab, group=1):
    """Map labels to per-group ranks; returns ``(int array (b, P), K)``.

    Images ``[g*group, (g+1)*group)`` share one mapping, so ids stay comparable
    within a group.  Label 0 always maps to 0 (reserved even if absent).
    """
    b, P = lab.shape
    ng = b // group
    M = int(lab.max()) + 1
    if ng * M <= 1 << 24:  # presence table + cumsum: O(pixels), no sort
        key = lab.astype(np.intp)
        key += (np.arange(ng, dtype=np.intp) * M).repeat(group)[:, None]
        present = np.zeros((ng, M), bool)
        present.ravel()[key.ravel()] = True
        present[:, 0] = True
        rank = np.cumsum(present, axis=1, dtype=np.intp)
        K = int(rank[:, -1].max())
        rank -= 1
        rdt = np.uint8 if K <= 256 else np.uint16 if K <= 65536 else np.intp
        return np.take(rank.astype(rdt).ravel(), key), K
    # general fallback (huge label values): lexsort over (group, label) pairs
    g = np.concatenate([np.arange(ng), np.arange(ng).repeat(group * P)])
    v = np.concatenate([np.zeros(ng, lab.dtype), lab.ravel()])
    order = np.lexsort((v, g))
    gs, vs = g[order], v[order]
    new = np.ones(gs.size, bool)
    new[1:] = (gs[1:] != gs[:-1]) | (vs[1:] != vs[:-1])
    rank = np.cumsum(new) - 1
    first = rank[np.flatnonzero(np.r_[True, gs[1:] != gs[:-1]])]
    local = np.empty(gs.size, np.intp)
    local[order] = rank - first[gs]
    return local[ng:].reshape(b, P), int(local.max()) + 1


def prepare(lab, M, group=1):
    """Return ``(labels usable as indices, K)`` for one chunk."""
    if M > COMPACT_ABOVE:
        return compact(lab, group)
    return lab, M


def chunk_starts(B, P, group=1):
    step = max(1, CHUNK_PIXELS // (P * group)) * group
    return range(0, B, step), step


def _block_table(g, p, kg, kp):
    """Contingency table of one block of images with one np.bincount call."""
    b, kk = len(g), kg * kp
    # gt * Kp + pred in the smallest dtype that holds it, then add image offsets
    cdt = np.uint8 if kk <= 256 else np.uint16 if kk <= 65536 else np.intp
    code = g.astype(cdt)
    code *= cdt(kp)
    np.add(code, p, out=code, casting="unsafe")
    idx = np.add(code, (np.arange(b, dtype=np.intp) * kk)[:, None], dtype=np.intp)
    return np.bincount(idx.ravel(), minlength=b * kk).reshape(b, kg, kp)


def tables(gt2d, pred2d, group=1):
    """Yield ``(start, table)`` with ``table`` int64 of shape ``(b, Kg, Kp)``.

    ``table`` covers images ``start:start+b``.  Row/column 0 is label 0; with
    compaction, other indices are per-group ranks of the label values.
    Chunks never split a group (so ids are consistent within a group).
    """
    B, P = gt2d.shape
    if B == 0:
        return
    mg, mp = int(gt2d.max()) + 1, int(pred2d.max()) + 1
    starts, step = chunk_starts(B, P, group)
    block = max(1, BLOCK_PIXELS // P)
    for s in starts:
        g, kg = prepare(gt2d[s : s + step], mg, group)
        p, kp = prepare(pred2d[s : s + step], mp, group)
        sub = max(1, TABLE_ENTRIES // (kg * kp))
        for t in range(0, len(g), sub):
            gc, pc = g[t : t + sub], p[t : t + sub]
            table = np.empty((len(gc), kg, kp), np.int64)
            for u in range(0, len(gc), block):
                table[u : u + block] = _block_table(gc[u : u + block], pc[u : u + block], kg, kp)
            yield s + t, table


def per_image(gt2d, pred2d, fn):
    """Apply ``fn(table) -> (b,) float64`` over all chunks; returns ``(B,)``."""
    out = np.full(len(gt2d), np.nan)
    for s, table in tables(gt2d, pred2d):
        out[s : s + len(table)] = fn(table)
    return out


def iou_matrix(table):
    """IoU ``(b, Kg, Kp)`` float64 and GT areas ``(b, Kg)`` from a table."""
    gt_area = table.sum(axis=2)
    pred_area = table.sum(axis=1)
    union = gt_area[:, :, None] + pred_area[:, None, :] - table
    return table / np.maximum(union, 1), gt_area


def max_matching(w):
    """One-to-one assignment maximising the total weight, per image.

    ``w`` is ``(b, R, C)`` non-negative.  Returns ``(b, R)`` intp column
    indices, -1 where a row is unassigned or assigned at weight 0.  If every
    row's best column is distinct the greedy choice is already optimal (its
    total is an upper bound), so the Hungarian algorithm
    (``scipy.optimize.linear_sum_assignment``) only runs on images with a
    conflict.
    """
    b, R, C = w.shape
    assign = np.full((b, R), -1, np.intp)
    if R == 0 or C == 0 or b == 0:
        return assign
    best = w.argmax(axis=2)
    pos = np.take_along_axis(w, best[:, :, None], axis=2)[:, :, 0] > 0
    key = np.sort(np.where(pos, best, C + np.arange(R)), axis=1)
    conflict = (key[:, 1:] == key[:, :-1]).any(axis=1)
    assign[:] = np.where(pos, best, -1)
    for i in np.flatnonzero(conflict):
        r, c = linear_sum_assignment(w[i], maximize=True)
        row = np.full(R, -1, np.intp)
        keep = w[i, r, c] > 0
        row[r[keep]] = c[keep]
        assign[i] = row
    return assign


def matched_weight(w, assign):
    """Weights of the assigned pairs, 0 for unassigned rows; ``(b, R)``."""
    got = np.take_along_axis(w, np.maximum(assign, 0)[:, :, None], axis=2)[:, :, 0]
    return np.where(assign >= 0, got, 0.0)
