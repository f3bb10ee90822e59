"""A split that is one track (``Split(track="split")``, e.g. multi_texture/cis-grid): evaluate scores identity
switches over the whole split as one sequence, the way the CIS authors scored their placement grid."""

import numpy as np
import pytest

from conftest import read_split
from scenebench.datasets.build import generate
from scenebench.errors import ConfigError
from scenebench.evaluation import evaluate as E
from scenebench.evaluation import metrics as M
from scenebench.evaluation import submission
from scenebench.evaluation.submission import layout
from scenebench.generator import resolve


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    return generate("multi_texture", "cis-grid", tmp_path_factory.mktemp("grid"), num=300, workers=1)


def test_the_grid_split_is_one_track(grid):
    spec = resolve("multi_texture", "cis-grid")
    assert spec.splits["test"]["track"] == "split"
    assert "track" not in resolve("multi_texture", "cis").splits["test"]  # other identities unchanged
    from scenebench.datasets.manifest import read_manifest

    lay = layout(read_manifest(grid), "test")
    assert lay.track == "split" and lay.lead_kind == ""
    names = E.applicable_metrics({"segmentation"}, lay)
    assert "id_switches" in names and "channel_inconsistency" in names
    assert "sequences_with_switch" not in names  # one sequence: nothing to count


def test_switches_are_counted_across_the_whole_split(grid, tmp_path):
    gt = read_split(grid, "test")["segmentation"]
    n = len(gt)
    pred = gt.copy()
    late = pred[200:]
    pred[200:] = np.where(late == 1, 7, np.where(late == 2, 1, late))  # the ids swap once, at frame 200
    p = submission.write(tmp_path / "swap.h5", dataset=grid, split="test", method="swap", segmentation=pred)
    # blocks of 64 images: the track crosses block boundaries and must still be matched as one sequence
    import scenebench.evaluation.evaluate as ev

    ev_rows = ev._block_size
    try:
        ev._block_size = lambda lay, per, workers: 64
        res = E.evaluate(p, grid, workers=1)
    finally:
        ev._block_size = ev_rows
    want = M.identity_switches(gt[None], pred[None])
    m = res["metrics"]
    assert m["id_switches"]["total"] == want.switches == 2  # both objects change id once
    assert m["id_switches"]["n"] == 1  # one track
    frames = [(gt == k).reshape(n, -1).any(1) for k in (1, 2)]
    late_share = [f[200:].sum() / f.sum() for f in frames]  # frames on the minority id, per object
    assert m["channel_inconsistency"]["mean"] == pytest.approx(np.mean(late_share), abs=0.02)
    assert m["channel_inconsistency"]["mean"] == pytest.approx(want.channel_inconsistency)
    # the per-image segmentation metrics are still per image
    assert m["miou"]["n"] == n
    # a perfect submission: no switch, full consistency
    q = submission.write(tmp_path / "gt.h5", dataset=grid, split="test", method="gt", segmentation=gt)
    r = E.evaluate(q, grid, workers=1)["metrics"]
    assert r["id_switches"]["total"] == 0 and r["channel_inconsistency"]["mean"] == 0.0


def test_counting_sequences_of_one_track_is_refused(grid, tmp_path):
    gt = read_split(grid, "test")["segmentation"]
    p = submission.write(tmp_path / "s.h5", dataset=grid, split="test", method="m", segmentation=gt)
    with pytest.raises(ConfigError, match="one track"):
        E.evaluate(p, grid, metrics="sequences_with_switch", workers=1)
