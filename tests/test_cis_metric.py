"""The CIS authors' greedy soft-mask mIoU (``cis_miou``) and channel consistency, on worked examples,
and `evaluate` scoring it for submissions with soft masks."""

import numpy as np
import pytest

from scenebench.evaluation import metrics as M


def _masks(labels):
    return M.label_masks(np.asarray(labels)[None, None])  # one image of 1 x W pixels -> (1, K, 1, W)


def test_worked_example_with_background():
    gt, pred = _masks([0, 0, 0, 0, 1, 1, 2, 2]), _masks([0, 0, 0, 0, 1, 1, 1, 1])
    # background 1.0; objects 1 and 2 each best-match the merged prediction at 2/4: (1 + .5 + .5) / 3
    assert M.cis_miou(gt, pred, min_pixels=1) == pytest.approx(2 / 3)
    # the one-to-one Hungarian mIoU of the same maps: (1 + .5 + 0) / 3
    assert M.miou(np.array([[0, 0, 0, 0, 1, 1, 2, 2]]), np.array([[0, 0, 0, 0, 1, 1, 1, 1]])) == pytest.approx(0.5)
    # the authors' rule: only GT channels of more than 4 pixels count (here none has: no score)
    assert np.isnan(M.cis_miou(gt, pred))
    assert M.cis_miou(_masks([0] * 5 + [1] * 2), _masks([0] * 7)) == pytest.approx(5 / 7)  # only the background
    big = lambda a: _masks(np.repeat(a, 4))  # noqa: E731 -- the same example with 16 / 8 / 8 pixels
    assert M.cis_miou(big([0, 0, 0, 0, 1, 1, 2, 2]), big([0, 0, 0, 0, 1, 1, 1, 1])) == pytest.approx(2 / 3)


def test_soft_masks_are_binarised_strictly_above_the_threshold():
    gt = _masks([0] * 10 + [1] * 10).astype(np.float64)  # (1, 2, 1, 20)
    pred = np.zeros((1, 2, 1, 20))
    pred[0, 0, 0, :10] = 1.0
    pred[0, 1, 0, 10:] = 0.05  # faint but above 0.04: counts
    assert M.cis_miou(gt, pred) == pytest.approx(1.0)
    pred[0, 1, 0, 10:] = 0.04  # not above: the object is missed
    assert M.cis_miou(gt, pred) == pytest.approx(0.5)
    pred[0, 0, 0, 10:] = 0.5  # a soft channel spilling over the object: IoU 10/20 for the background,
    assert M.cis_miou(gt, pred) == pytest.approx((0.5 + 0.5) / 2)  # and the object's best match is it too


def test_per_image_scores_leading_dims_and_nan():
    gt = np.stack([_masks([0] * 8 + [1] * 8)[0], _masks([0] * 16)[0].repeat(2, 0)])  # (2, 2, 1, 16)
    gt[1, 1] = False  # image 1: background only
    pred = np.stack([_masks([0] * 16)[0].repeat(2, 0)] * 2).astype(float)  # one channel covers everything
    per = M.cis_miou(gt, pred, reduction="none")
    assert per.shape == (2,) and per[0] == pytest.approx((0.5 + 0.5) / 2) and per[1] == pytest.approx(1.0)
    none = np.zeros((1, 2, 1, 4), bool)
    assert np.isnan(M.cis_miou(none, none, reduction="none")[0])
    with pytest.raises(ValueError, match="expected"):
        M.cis_miou(np.zeros((2, 3, 4, 4)), np.zeros((3, 3, 4, 4)))


def test_channel_inconsistency_worked_example():
    """An ellipse whose predicted channel over 10 frames is [0,0,1,0,0,0,1,0,0,0]: 1 - 8/10 = 0.2."""
    gt = np.zeros((1, 10, 1, 2), np.uint8)
    gt[..., 1] = 1
    pred = np.full((1, 10, 1, 2), 5, np.uint8)
    pred[0, :, 0, 1] = [0, 0, 1, 0, 0, 0, 1, 0, 0, 0]
    r = M.identity_switches(gt, pred)
    assert r.per_object_inconsistency.tolist() == pytest.approx([0.2]) and r.switches == 4


def test_evaluate_scores_it_for_soft_masks_only(small_cis, tmp_path):
    from conftest import read_split
    from scenebench.evaluation.evaluate import evaluate
    from scenebench.evaluation.submission import write

    gt = read_split(small_cis, "test")
    n = len(gt["segmentation"])
    hard = write(tmp_path / "hard.h5", dataset=small_cis, split="test", method="gt", segmentation=gt["segmentation"])
    assert "cis_miou" not in evaluate(hard, small_cis, workers=1)["metrics"]
    r = evaluate(hard, small_cis, workers=1, metrics="cis_miou,miou")["metrics"]
    assert r["cis_miou"]["mean"] == pytest.approx(1.0) and r["miou"]["mean"] == pytest.approx(1.0)
    soft = M.label_masks(gt["segmentation"]).astype(np.float32) * 0.9  # (N, K, H, W) soft one-hot
    sub = write(tmp_path / "soft.h5", dataset=small_cis, split="test", method="soft", masks=soft)
    res = evaluate(sub, small_cis, workers=1, per_item=True)
    assert res["metrics"]["cis_miou"]["mean"] == pytest.approx(1.0) and res["metrics"]["cis_miou"]["n"] == n
    assert res["per_item"]["cis_miou"].shape == (n,)
