"""Tests for scenebench.evaluation.metrics: segmentation/clustering core, inputs, edge cases."""

import itertools

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from scenebench.evaluation import metrics as M
from scenebench.evaluation.metrics import _contingency as C

SPEC_GT = np.array([[0, 0, 0, 0, 1, 1, 2, 2]])
SPEC_PRED = np.array([[0, 0, 0, 0, 1, 1, 1, 1]])


def random_maps(rng, n, h=4, w=5, kg=4, kp=4):
    return rng.integers(0, kg, (n, h, w)), rng.integers(0, kp, (n, h, w))


def relabel_per_image(x):
    """Compact labels per image to 0..k-1 keeping 0 -> 0 (reference for big labels)."""
    out = np.empty(x.shape, np.int64)
    for i, img in enumerate(x.reshape(-1, *x.shape[-2:])):
        u, inv = np.unique(np.r_[0, img.ravel()], return_inverse=True)
        out.reshape(-1, *x.shape[-2:])[i] = inv[1:].reshape(img.shape)
    return out


def brute_miou(g, p, include_background=True):
    gl = [u for u in np.unique(g) if include_background or u != 0]
    pl = list(np.unique(p))
    if not gl:
        return np.nan
    n = max(len(gl), len(pl))
    iou = np.zeros((n, n))
    for i, u in enumerate(gl):
        for j, v in enumerate(pl):
            iou[i, j] = ((g == u) & (p == v)).sum() / ((g == u) | (p == v)).sum()
    best = max(sum(iou[i, perm[i]] for i in range(n)) for perm in itertools.permutations(range(n)))
    return best / len(gl)


def brute_covering(g, p, weighted):
    gl, pl = np.unique(g), np.unique(p)
    best = [max(((g == u) & (p == v)).sum() / ((g == u) | (p == v)).sum() for v in pl) for u in gl]
    w = [(g == u).sum() if weighted else 1 for u in gl]
    return np.dot(w, best) / np.sum(w)


# --- spec examples -----------------------------------------------------------

def test_miou_spec_example():
    assert M.miou(SPEC_GT, SPEC_PRED) == pytest.approx(0.5)
    assert M.miou(SPEC_GT, SPEC_PRED, include_background=False) == pytest.approx(0.25)


def test_miou_is_not_greedy():
    # greedy per-GT max would give (1 + .5 + .5) / 3 = 0.667; that is covering
    assert M.segmentation_covering(SPEC_GT, SPEC_PRED) == pytest.approx(2 / 3)
    assert M.miou(SPEC_GT, SPEC_PRED) != pytest.approx(2 / 3)


def test_returns_python_float_and_per_image_arrays():
    out = M.miou(SPEC_GT, SPEC_PRED)
    assert type(out) is float
    per = M.miou(np.stack([SPEC_GT, SPEC_GT]), np.stack([SPEC_PRED, SPEC_GT]), reduction="none")
    assert per.dtype == np.float64 and per.shape == (2,)
    np.testing.assert_allclose(per, [0.5, 1.0])


# --- Hungarian mIoU vs brute force -------------------------------------------

@pytest.mark.parametrize("include_background", [True, False])
def test_miou_matches_brute_force_permutations(include_background):
    rng = np.random.default_rng(0)
    for kg, kp in [(4, 4), (2, 4), (4, 2), (3, 3)]:
        g, p = random_maps(rng, 60, kg=kg, kp=kp)
        got = M.miou(g, p, include_background=include_background, reduction="none")
        want = [brute_miou(a, b, include_background) for a, b in zip(g, p)]
        np.testing.assert_allclose(got, want, atol=1e-12)


def test_miou_structured_conflicts_match_brute_force():
    # blocky maps produce many greedy conflicts (several GT segments preferring one prediction)
    rng = np.random.default_rng(1)
    g = rng.integers(0, 4, (80, 2, 3)).repeat(2, 1).repeat(2, 2)[:, :4, :5]
    p = np.where(rng.random(g.shape) < 0.7, g // 2, rng.integers(0, 4, g.shape))
    got = M.miou(g, p, reduction="none")
    np.testing.assert_allclose(got, [brute_miou(a, b) for a, b in zip(g, p)], atol=1e-12)


def test_max_matching_greedy_path_equals_hungarian():
    from scipy.optimize import linear_sum_assignment

    rng = np.random.default_rng(2)
    w = rng.random((200, 5, 4)) * (rng.random((200, 5, 4)) < 0.5)
    a = C.max_matching(w)
    got = C.matched_weight(w, a).sum(1)
    want = [m[linear_sum_assignment(m, maximize=True)].sum() for m in w]
    np.testing.assert_allclose(got, want)
    for row in a:  # one-to-one
        used = row[row >= 0]
        assert len(set(used)) == len(used)


# --- segmentation covering ----------------------------------------------------

def test_segmentation_covering_known_values():
    assert M.segmentation_covering(SPEC_GT, SPEC_PRED) == pytest.approx(2 / 3)
    assert M.segmentation_covering(SPEC_GT, SPEC_PRED, weighted=True) == pytest.approx(0.75)
    assert M.segmentation_covering(SPEC_GT, SPEC_PRED, include_background=False) == pytest.approx(0.5)
    assert M.segmentation_covering(SPEC_GT, SPEC_GT, weighted=True) == 1.0


@pytest.mark.parametrize("weighted", [False, True])
def test_segmentation_covering_brute_force(weighted):
    rng = np.random.default_rng(3)
    g, p = random_maps(rng, 50)
    got = M.segmentation_covering(g, p, weighted=weighted, reduction="none")
    np.testing.assert_allclose(got, [brute_covering(a, b, weighted) for a, b in zip(g, p)])


# --- ARI / FG-ARI vs sklearn --------------------------------------------------

@pytest.mark.parametrize("kg,kp", [(1, 1), (1, 3), (2, 2), (4, 4), (6, 3), (20, 20)])
def test_ari_matches_sklearn(kg, kp):
    rng = np.random.default_rng(kg * 100 + kp)
    g, p = random_maps(rng, 40, h=5, w=6, kg=kg, kp=kp)
    got = M.ari(g, p, reduction="none")
    want = [adjusted_rand_score(a.ravel(), b.ravel()) for a, b in zip(g, p)]
    np.testing.assert_allclose(got, want, atol=1e-12)
    assert M.ari(g, p) == pytest.approx(np.mean(want))


@pytest.mark.parametrize("kg,kp", [(2, 2), (3, 4), (5, 2), (8, 8)])
def test_fg_ari_matches_sklearn_on_foreground_pixels(kg, kp):
    rng = np.random.default_rng(kg * 10 + kp)
    g, p = random_maps(rng, 60, h=3, w=4, kg=kg, kp=kp)
    got = M.fg_ari(g, p, reduction="none")
    want = []
    for a, b in zip(g, p):
        fg = a.ravel() != 0
        want.append(adjusted_rand_score(a.ravel()[fg], b.ravel()[fg]) if fg.any() else np.nan)
    np.testing.assert_allclose(got, want, atol=1e-12)  # NaN positions must agree too


def test_ari_degenerate_cases():
    z = np.zeros((3, 3), int)
    assert M.ari(z, z) == 1.0  # both one cluster: denominator 0 -> 1.0
    assert M.ari(z, z + 4) == 1.0
    assert M.ari(np.arange(9).reshape(3, 3), np.arange(9).reshape(3, 3)[::-1]) == 1.0  # all singletons
    assert M.ari(np.zeros((1, 1), int), np.zeros((1, 1), int)) == 1.0  # one pixel
    assert not np.isnan(M.ari(z, np.arange(9).reshape(3, 3)))


def test_fg_ari_single_perfect_object_is_one():
    gt = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])
    assert M.fg_ari(gt, np.array([[3, 4, 2, 2], [5, 6, 2, 2]])) == 1.0
    assert M.fg_ari(gt, np.array([[0, 0, 2, 2], [0, 0, 2, 3]])) == pytest.approx(
        adjusted_rand_score([1, 1, 1, 1], [2, 2, 2, 3]))
    assert M.fg_ari(np.array([[0, 1]]), np.array([[0, 0]])) == 1.0  # one fg pixel


def test_empty_gt_items_are_nan_and_skipped():
    bg = np.zeros((4, 4), int)
    obj = bg.copy()
    obj[1:3, 1:3] = 1
    gt, pred = np.stack([bg, obj]), np.stack([bg, obj])
    for fn, kw in [(M.fg_ari, {}), (M.miou, {"include_background": False}),
                   (M.segmentation_covering, {"include_background": False})]:
        per = fn(gt, pred, reduction="none", **kw)
        assert np.isnan(per[0]) and per[1] == 1.0
        assert fn(gt, pred, **kw) == 1.0  # mean over valid items only
        assert np.isnan(fn(gt[:1], pred[:1], **kw))  # no valid item -> NaN mean
    assert M.miou(bg, bg) == 1.0  # with background the image is scored


# --- inputs: dtypes, masks, leading dims, large labels -----------------------

def test_integer_dtypes_accepted():
    rng = np.random.default_rng(4)
    g, p = random_maps(rng, 20)
    want = M.segmentation_metrics(g, p)
    for dt_g, dt_p in [(np.uint8, np.uint8), (np.int32, np.int32), (np.int64, np.int64),
                       (np.uint16, np.int8), (np.uint8, np.int64), (np.uint64, np.uint32)]:
        got = M.segmentation_metrics(g.astype(dt_g), p.astype(dt_p))
        assert got == pytest.approx(want)


def test_mask_stack_input_equals_label_input():
    rng = np.random.default_rng(5)
    g, p = random_maps(rng, 10, kg=4, kp=5)
    hard = (g[:, None] == np.arange(4)[None, :, None, None])  # (N, K, H, W) bool
    logits = rng.normal(size=(10, 5, 4, 5))
    logits += 10 * (p[:, None] == np.arange(5)[None, :, None, None])
    soft = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.testing.assert_array_equal(M.to_labels(hard), g)
    np.testing.assert_array_equal(M.to_labels(soft), p)
    np.testing.assert_array_equal(M.to_labels(np.moveaxis(soft, 1, -1), axis=-1), p)
    for fn in (M.miou, M.ari, M.fg_ari, M.segmentation_covering):
        assert fn(M.to_labels(hard), M.to_labels(soft)) == pytest.approx(fn(g, p))
    assert M.to_labels(hard).dtype == np.uint8


def test_multi_view_leading_dims():
    rng = np.random.default_rng(6)
    g, p = random_maps(rng, 12)
    gv, pv = g.reshape(3, 4, 4, 5), p.reshape(3, 4, 4, 5)
    for fn in (M.miou, M.ari, M.fg_ari, M.segmentation_covering):
        per = fn(gv, pv, reduction="none")
        assert per.shape == (3, 4)
        np.testing.assert_allclose(per.ravel(), fn(g, p, reduction="none"))
    assert M.miou(g[0], p[0], reduction="none").shape == ()  # single (H, W) image


@pytest.mark.parametrize("big", [255, 60000, 2**40])
def test_large_label_values_are_compacted(big):
    rng = np.random.default_rng(7)
    g, p = random_maps(rng, 30, kg=5, kp=5)
    values = np.array([0, 3, 17, big - 1, big])
    gb, pb = values[g], values[::-1][p]  # pred label 0 maps to big
    want = M.segmentation_metrics(relabel_per_image(gb), relabel_per_image(pb))
    assert M.segmentation_metrics(gb, pb) == pytest.approx(want)
    assert M.segmentation_metrics(gb, pb) == pytest.approx(M.segmentation_metrics(g, 4 - p))  # same ranks


def test_compact_reserves_zero_and_is_per_group():
    lab = np.array([[5, 5, 9], [0, 9, 9], [7, 7, 7]])
    out, k = C.compact(lab, group=1)
    np.testing.assert_array_equal(out, [[1, 1, 2], [0, 1, 1], [1, 1, 1]])
    assert k == 3
    out2, k2 = C.compact(lab[:2], group=2)  # shared mapping within the group
    np.testing.assert_array_equal(out2, [[1, 1, 2], [0, 2, 2]])
    big = lab.astype(np.uint64) * np.uint64(2**60)
    out3, _ = C.compact(big, group=1)  # lexsort fallback path
    np.testing.assert_array_equal(out3, out)


def test_chunking_does_not_change_results(monkeypatch):
    rng = np.random.default_rng(8)
    g, p = random_maps(rng, 50, kg=6, kp=40)
    want = M.segmentation_metrics(g, p, reduction="none")
    monkeypatch.setattr(C, "CHUNK_PIXELS", 60)
    monkeypatch.setattr(C, "BLOCK_PIXELS", 40)
    monkeypatch.setattr(C, "TABLE_ENTRIES", 50)
    got = M.segmentation_metrics(g, p, reduction="none")
    for k in want:
        np.testing.assert_allclose(got[k], want[k])


def test_segmentation_metrics_equals_individual_functions():
    rng = np.random.default_rng(9)
    g, p = random_maps(rng, 25)
    d = M.segmentation_metrics(g, p)
    assert d["miou"] == M.miou(g, p)
    assert d["miou_fg"] == M.miou(g, p, include_background=False)
    assert d["ari"] == M.ari(g, p) and d["fg_ari"] == M.fg_ari(g, p)
    assert d["msc"] == M.segmentation_covering(g, p)
    assert d["sc"] == M.segmentation_covering(g, p, weighted=True)


def test_empty_batch():
    e = np.zeros((0, 4, 4), np.uint8)
    assert np.isnan(M.miou(e, e))
    assert M.ari(e, e, reduction="none").shape == (0,)


# --- bad input ----------------------------------------------------------------

@pytest.mark.parametrize("fn", [M.miou, M.ari, M.fg_ari, M.segmentation_covering, M.segmentation_metrics])
def test_bad_label_inputs_raise(fn):
    g = np.zeros((2, 4, 4), np.int64)
    with pytest.raises(ValueError, match=r"^pred: expected shape"):
        fn(g, g[:, :3])
    with pytest.raises(ValueError, match=r"^gt: expected non-negative labels"):
        fn(g - 1, g)
    with pytest.raises(ValueError, match=r"^pred: expected an integer label map, got dtype float"):
        fn(g, g.astype(np.float32))
    with pytest.raises(ValueError, match=r"^gt: .*bool.*to_labels"):
        fn(g.astype(bool), g)
    with pytest.raises(ValueError, match=r"^gt: expected at least 2 dims"):
        fn(g[0, 0], g[0, 0])
    with pytest.raises(ValueError, match=r"^reduction:"):
        fn(g, g, reduction="sum")


def test_to_labels_bad_input():
    with pytest.raises(ValueError, match=r"^masks: .*at least 3 dims"):
        M.to_labels(np.zeros((4, 4)))
    with pytest.raises(ValueError, match=r"^masks: expected no NaN"):
        M.to_labels(np.full((2, 2, 2), np.nan))
    with pytest.raises(ValueError, match=r"^metrics:"):
        M.segmentation_metrics(SPEC_GT, SPEC_PRED, metrics=("iou",))
