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


def _sample_hash(image, seg) -> str:
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(image).tobytes() + np.ascontiguousarray(seg).tobytes()).hexdigest()


@pytest.mark.parametrize("context", ["fork", "forkserver"])
def test_shuffled_dataloader_returns_every_sample_once_with_its_bytes(small_cis, context):
    ref = read_split(small_cis, "train")
    ds = scenebench.load(small_cis, "train", fields=["image", "segmentation", "masks", "num_objects"])
    ds[3]  # handles opened in the parent first: workers must not reuse them
    g = torch.Generator().manual_seed(5)
    loader = torch.utils.data.DataLoader(ds, batch_size=32, shuffle=True, num_workers=2, generator=g,
                                         multiprocessing_context=context)
    batches = list(loader)
    assert all(type(b) is dict and list(b) == ["image", "segmentation", "masks", "num_objects"] for b in batches)
    got = sorted(_sample_hash(i, s) for b in batches for i, s in zip(b["image"].numpy(), b["segmentation"].numpy()))
    assert got == sorted(_sample_hash(i, s) for i, s in zip(ref["image"], ref["segmentation"]))
    order = [_sample_hash(i, s) for b in batches for i, s in zip(b["image"].numpy(), b["segmentation"].numpy())]
    assert order != [_sample_hash(i, s) for i, s in zip(ref["image"], ref["segmentation"])]  # it did shuffle
    # a given permutation: the batches hold exactly those samples, in that order, every field
    perm = torch.randperm(len(ds), generator=torch.Generator().manual_seed(1)).tolist()
    loader = torch.utils.data.DataLoader(ds, batch_size=50, sampler=perm, num_workers=2,
                                         multiprocessing_context=context)
    out = {k: torch.cat([b[k] for b in loader]).numpy() for k in ("image", "segmentation", "masks", "num_objects")}
    for k, v in out.items():
        assert v.dtype == ref[k].dtype and np.array_equal(v, ref[k][perm]), k


def test_sample_pickles_as_one_buffer_and_unpickles_as_a_dict():
    import pickle

    from multiprocessing.reduction import ForkingPickler

    import torch.multiprocessing  # noqa: F401  (registers the tensor reducers)

    from scenebench.datasets.torch_dataset import Sample

    s = Sample(image=torch.arange(24, dtype=torch.uint8).reshape(2, 3, 4), count=torch.tensor([3, 1]),
               mask=torch.tensor([[True, False]]), pos=torch.rand(2, 7, 2))
    back = pickle.loads(pickle.dumps(s))
    assert type(back) is dict and list(back) == list(s)
    for k in s:
        assert back[k].dtype == s[k].dtype and back[k].shape == s[k].shape and torch.equal(back[k], s[k])
    assert len({back[k].untyped_storage().data_ptr() for k in back}) == 1  # views of one buffer
    payload = ForkingPickler.dumps(s)  # what a DataLoader worker sends: one shared buffer, all fields
    again = pickle.loads(payload)
    assert all(torch.equal(again[k], s[k]) for k in s)


def test_take_in_memory_and_cache_bound(small_lavae):
    ref = read_split(small_lavae, "test")
    idx = [119, 0, 5, 5, -1, 60, 49, 50]
    r = SplitReader(small_lavae, "test", cache_bytes=40_000)
    got = r.take(idx)
    for k in ref:
        assert got[k].tobytes() == ref[k][idx].tobytes(), k
    for i in range(120):  # sequential single reads go through the cache, which stays within its budget
        assert np.array_equal(r[i]["image"], ref["image"][i])
        assert r._cache.nbytes <= 40_000
    mem = SplitReader(small_lavae, "test", in_memory=True)
    assert mem.split_nbytes == sum(v.nbytes for v in ref.values())
    from_memory = mem.take(idx)
    for k in ref:
        assert from_memory[k].tobytes() == ref[k][idx].tobytes(), k
    ds = scenebench.load(small_lavae, "test", fields=["image"], in_memory=True)
    assert torch.equal(ds[7]["image"], torch.from_numpy(ref["image"][7]))
    with pytest.raises(IndexError):
        r.take([120])
    assert r.take([])["image"].shape == (0, 64, 64, 3)


def test_names_resolve_to_the_dataset_a_card_describes(tmp_path, monkeypatch, cli):
    from scenebench.datasets.build import generate

    zero = generate("multi_dsprites", "lavae", tmp_path, num=10, splits=["test"], workers=1)
    one = generate("multi_dsprites", "lavae", tmp_path, num=12, seed=1, splits=["test"], workers=1)
    monkeypatch.setenv("SCENEBENCH_DATA", str(tmp_path))
    assert len(scenebench.load("multi_dsprites/lavae", "test")) == 10
    assert len(scenebench.load("multi_dsprites/lavae@1", "test")) == 12
    exact = f"multi_dsprites/lavae/{one.name}"
    assert exact in (one / "README.md").read_text()  # the card's loading line names this very dataset
    assert len(scenebench.load(exact, "test")) == 12 and zero != one
    with pytest.raises(scenebench.errors.DatasetError, match="no dataset found"):
        scenebench.load("multi_dsprites/lavae@2", "test")
    with pytest.raises(scenebench.errors.DatasetError, match="non-negative integer seed"):
        scenebench.load("multi_dsprites/lavae@x", "test")
    r = cli("verify", "multi_dsprites/lavae@1")
    assert r.exit_code == 0 and str(one) in r.output
