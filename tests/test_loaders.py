import numpy as np
import pytest
import torch

import scenebench
from conftest import read_split
from scenebench.datasets.reader import SplitReader, iterate


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_torch_dataloader_workers(small_cis, context):
    ds = scenebench.load(small_cis, "train", fields=["image", "segmentation", "num_objects"])
    assert len(ds) == 200
    ds[5]  # open handles in the parent first: workers must not reuse them
    loader = torch.utils.data.DataLoader(ds, batch_size=32, num_workers=2, multiprocessing_context=context)
    batches = list(loader)
    images = torch.cat([b["image"] for b in batches]).numpy()
    ref = read_split(small_cis, "train")
    assert np.array_equal(images, ref["image"])
    assert torch.cat([b["num_objects"] for b in batches]).shape == (200,)


def test_numpy_iterator_and_random_access(small_lavae):
    ref = read_split(small_lavae, "test-7")
    samples = list(iterate(small_lavae, "test-7"))
    assert len(samples) == 120 and np.array_equal(samples[77]["image"], ref["image"][77])
    batches = list(iterate(small_lavae, "test-7", batch_size=50, fields=["num_objects"]))
    assert [len(b["num_objects"]) for b in batches] == [50, 50, 20] and list(batches[0]) == ["num_objects"]
    r = SplitReader(small_lavae, "test-7")
    for i in (119, 0, 64, 50, 49, -1):
        assert np.array_equal(r[i]["segmentation"], ref["segmentation"][i])
    with pytest.raises(IndexError):
        r[120]
    assert r[3]["num_objects"].shape == ()


def test_load_by_name_and_errors(small_lavae, monkeypatch):
    root = small_lavae.parent.parent.parent
    monkeypatch.setenv("SCENEBENCH_DATA", str(root))
    assert len(scenebench.load("multi_dsprites/lavae", "test")) == 120
    with pytest.raises(scenebench.errors.ConfigError, match="split 'val' not in"):
        scenebench.load(small_lavae, "val")
    with pytest.raises(scenebench.errors.DatasetError, match="no dataset found"):
        scenebench.load("multi_dsprites/nope", "test")
