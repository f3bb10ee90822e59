"""The LDS paper's analyses (duplicate suppression, inference-gap change and its correlations) on known values."""

import math

import numpy as np
import pytest

from scenebench.evaluation import lds_analysis as A
from scenebench.evaluation.reproduce import Report, get_table


def test_pearson_matches_numpy_and_refuses_degenerate_series():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=30), rng.normal(size=30)
    assert A.pearson(a, b) == pytest.approx(np.corrcoef(a, b)[0, 1], abs=1e-12)
    assert A.pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert A.pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert A.pearson([1, 1, 1], [1, 2, 3]) is None and A.pearson([1, 2], [1, 2]) is None
    assert A.pearson([1, 2, math.nan], [1, 2, 3]) is None


def test_per_scene_means_average_the_views():
    assert A.per_scene([1, 3, 5, 7], 2).tolist() == [2.0, 6.0]
    assert A.per_scene([1.0, 2.0], 2).tolist() == [1.0, 2.0]
    with pytest.raises(ValueError):
        A.per_scene([1, 2, 3], 2)


def test_pair_statistics_by_hand():
    # 3 scenes of 2 views: per-view MSE / mIoU, per-scene gaps and slot similarities
    control = {"slot_similarity": [0.5, 0.7, 0.6], "duplicate_rate": [1.0, 0.0, 1.0], "inference_gap": [4.0, 6.0, 8.0],
               "mse": [0.02, 0.02, 0.03, 0.03, 0.04, 0.04], "miou": [0.5, 0.5, 0.4, 0.4, 0.3, 0.3]}
    plus = {"slot_similarity": [0.1, 0.2, 0.3], "duplicate_rate": [0.0, 0.0, 1.0], "inference_gap": [3.0, 4.0, 5.0],
            "mse": [0.01, 0.01, 0.01, 0.03, 0.05, 0.05], "miou": [0.6, 0.6, 0.5, 0.5, 0.2, 0.2]}
    s = A.pair_statistics(control, plus)
    assert s["sim0"] == pytest.approx(0.6) and s["sim+"] == pytest.approx(0.2) and s["dsim"] == pytest.approx(0.4)
    assert s["dup0"] == pytest.approx(2 / 3) and s["dup+"] == pytest.approx(1 / 3)
    assert (s["gap0"], s["gap+"], s["dgap"]) == pytest.approx((6.0, 4.0, 2.0))
    dg = [1.0, 2.0, 3.0]
    assert s["r_mse"] == pytest.approx(np.corrcoef(dg, [0.01, 0.02, 0.05])[0, 1])
    assert s["r_miou"] == pytest.approx(np.corrcoef(dg, [0.6, 0.5, 0.2])[0, 1])
    assert s["r_dmse"] == pytest.approx(np.corrcoef(dg, [-0.01, -0.01, 0.01])[0, 1])
    assert s["r_dmiou"] == pytest.approx(np.corrcoef(dg, [0.1, 0.1, -0.1])[0, 1])


def test_report_pairs_the_control_and_lds_runs_and_averages_seeds():
    spec = get_table("lds-table1")
    report = Report(spec, "smoke", (0, 1))
    base = {"slot_similarity": [0.5, 0.5], "inference_gap": [2.0, 4.0], "mse": [0.1, 0.2], "miou": [0.5, 0.6]}
    for seed, shift in ((0, 0.1), (1, 0.3)):
        report.items[("MONet", "cle-mv", seed)] = base
        report.items[("MONet+LDS", "cle-mv", seed)] = {**base, "slot_similarity": [0.5 - shift] * 2,
                                                       "inference_gap": [1.0, 4.0 - shift]}
    rows = A.table_statistics(report)
    assert len(rows) == 1 and rows[0]["model"] == "MONet" and rows[0]["column"] == "CLE-MV" and rows[0]["seeds"] == 2
    assert rows[0]["dsim"] == pytest.approx(0.2)
    assert rows[0]["dgap"] == pytest.approx(((1.0 + 0.1) / 2 + (1.0 + 0.3) / 2) / 2)
    text = report.markdown()
    assert "| MONet (paper) | 0 | 0.0037 ± 0.0002 | 0.6806 ± 0.0072 | 0.0059 ± 0.0002 | 0.6620 ± 0.0070 |" in text
    assert "| MulMON (paper) | + | 0.0019 ± 0.0001 | 0.7911 ± 0.0043 |" in text
    assert "ΔSim⁺" in text and "| MONet | CLE-MV | 0.500 | 0.300 | 0.200 |" in text
    assert "greedy" in text  # the note on the MulMON repository's mIoU
