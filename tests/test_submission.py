"""Submissions: writing, reading back, and refusing untrusted or malformed files."""

import hashlib
import io
import json
import zipfile

import h5py
import numpy as np
import pytest

from conftest import read_split
from scenebench.evaluation import submission
from scenebench.evaluation.submission import SubmissionError, Writer, layout, load, open_submission
from scenebench.datasets.manifest import read_manifest


@pytest.fixture(scope="module")
def gt(small_cis):
    return read_split(small_cis, "test")


def _sha(p):
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _no_leftovers(directory):
    return [p.name for p in directory.iterdir() if ".tmp-" in p.name]


@pytest.mark.parametrize("suffix", [".h5", ".npz"])
def test_roundtrip_and_deterministic_bytes(small_cis, gt, tmp_path, suffix):
    rng = np.random.default_rng(0)
    n = len(gt["num_objects"])
    arrays = dict(segmentation=gt["segmentation"].astype(np.int64), num_objects=gt["num_objects"],
                  masks=gt["masks"], log_weights=rng.normal(-400, 1, (n, 3)), elbo=rng.normal(-401, 1, n),
                  reconstruction=(gt["image"] / 255).astype(np.float32), latents=rng.normal(size=(n, 3, 5)))
    p = submission.write(tmp_path / f"a{suffix}", dataset=small_cis, split="test", method="m", paper="https://x.org",
                         notes="two\nlines", **arrays)
    q = submission.write(tmp_path / f"b{suffix}", dataset=read_manifest(small_cis), split="test", method="m",
                         paper="https://x.org", notes="two\nlines", **arrays)
    assert _sha(p) == _sha(q)  # same inputs, same bytes (no timestamps)
    meta, back = load(p)
    assert meta["fingerprint"] == read_manifest(small_cis)["fingerprint"] and meta["split"] == "test"
    assert meta["method"] == "m" and meta["paper"] == "https://x.org" and meta["notes"] == "two\nlines"
    assert meta["family"] == "multi_dsprites" and meta["preset"] == "cis"
    assert back.keys() == arrays.keys()
    for k, a in arrays.items():
        np.testing.assert_array_equal(back[k], a)
    assert back["segmentation"].dtype == np.uint8  # labels are stored compactly
    assert back["log_weights"].dtype == np.float64 and back["masks"].dtype == bool
    assert _no_leftovers(tmp_path) == []


def test_streaming_writer_matches_write(small_cis, gt, tmp_path):
    seg, cnt = gt["segmentation"], gt["num_objects"]
    with Writer(tmp_path / "w.h5", dataset=small_cis, split="test", method="m") as w:
        for s in range(0, len(seg), 64):
            w.append(segmentation=seg[s:s + 64], num_objects=cnt[s:s + 64])
    _, back = load(tmp_path / "w.h5")
    np.testing.assert_array_equal(back["segmentation"], seg)
    np.testing.assert_array_equal(back["num_objects"], cnt)
    # incomplete: nothing appears
    w = Writer(tmp_path / "x.h5", dataset=small_cis, split="test", method="m")
    w.append(segmentation=seg[:10])
    with pytest.raises(SubmissionError, match="10 samples given; expected 200"):
        w.close()
    assert not (tmp_path / "x.h5").exists() and _no_leftovers(tmp_path) == []
    with pytest.raises(SubmissionError, match="expected the fields segmentation"):
        with Writer(tmp_path / "y.h5", dataset=small_cis, split="test", method="m") as w:
            w.append(segmentation=seg[:10])
            w.append(num_objects=cnt[:10])
    assert not (tmp_path / "y.h5").exists() and _no_leftovers(tmp_path) == []


def test_tensor_like_inputs(small_cis, gt, tmp_path):
    class FakeTensor:  # what torch tensors offer, without importing torch here
        def __init__(self, a):
            self.a = a

        def detach(self):
            return self

        def cpu(self):
            return self

        def numpy(self):
            return self.a

    p = submission.write(tmp_path / "t.h5", dataset=small_cis, split="test", method="m",
                         num_objects=FakeTensor(gt["num_objects"]))
    np.testing.assert_array_equal(load(p)[1]["num_objects"], gt["num_objects"])


@pytest.mark.parametrize("kwargs, needle", [
    (dict(segmentation=np.zeros((199, 64, 64), np.uint8)), "segmentation: 199 samples given; expected 200"),
    (dict(segmentation=np.zeros((201, 64, 64), np.uint8)), "append: 201 samples given; expected 200"),
    (dict(segmentation=np.zeros((200, 64, 63), np.uint8)), "segmentation: expected shape (N,H,W) = (200, 64, 64)"),
    (dict(segmentation=np.zeros((200, 64, 64), np.float32)), "segmentation: expected an integer dtype"),
    (dict(segmentation=np.full((200, 64, 64), 256, np.int32)), "segmentation: expected labels in [0, 255], got 256 (sample 0)"),
    (dict(num_objects=-np.ones(200, np.int64)), "num_objects: expected non-negative counts"),
    (dict(num_objects=np.ones(200, np.float32)), "num_objects: expected an integer dtype"),
    (dict(masks=np.full((200, 5, 64, 64), np.nan, np.float32)), "masks: expected finite values, got NaN (sample 0)"),
    (dict(masks=np.zeros((200, 300, 64, 64), bool)), "with 1 <= K <= 256"),
    (dict(log_weights=np.full((200, 2), np.inf)), "log_weights: expected finite values, got inf"),
    (dict(elbo=np.zeros((200, 1))), "elbo: expected shape (N,) = (200,)"),
    (dict(reconstruction=np.full((200, 64, 64, 3), 1.5)), "reconstruction: expected float values in [0, 1]"),
    (dict(latents=np.zeros((200, 1, 4))), "latents: expected shape (N, K, D)"),
    (dict(latents=np.zeros((200, 3, 4), np.int32)), "latents: expected float16/32/64"),
    (dict(depth=np.zeros(200)), "depth: unknown field"),
    (dict(), "no arrays given"),
])
def test_write_refuses_invalid_arrays(small_cis, tmp_path, kwargs, needle):
    with pytest.raises(SubmissionError) as e:
        submission.write(tmp_path / "bad.h5", dataset=small_cis, split="test", method="m", **kwargs)
    assert needle in str(e.value) and "\n" not in str(e.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kwargs, needle", [
    (dict(split="valid"), "split: 'valid' is not a split"),
    (dict(method=""), "method: expected a non-empty"),
    (dict(method="x" * 201), "method: expected at most 200 characters"),
    (dict(method="a\x1b[31mred"), "method: expected printable text, got control character U+001B"),
    (dict(method="a\nb"), "method: expected printable text"),
    (dict(notes="n" * 5000), "notes: expected at most 4000"),
])
def test_write_refuses_invalid_metadata(small_cis, tmp_path, kwargs, needle):
    args = dict(split="test", method="m") | kwargs
    with pytest.raises(SubmissionError, match=None) as e:
        submission.write(tmp_path / "bad.h5", dataset=small_cis, num_objects=np.zeros(200, np.int64), **args)
    assert needle in str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_layout_of_sequences_and_views():
    base = {"fingerprint": "0" * 64, "identity": {"family": "f", "preset": "p", "version": "1.0.0", "seed": 0},
            "splits": {"test": {"num_samples": 3, "shards": []}}}
    seq = dict(base, features={"test": [{"name": "image", "shape": [20, 8, 8, 3]},
                                        {"name": "segmentation", "shape": [20, 8, 8]}]})
    lay = layout(seq, "test")
    assert lay.lead == (20,) and lay.lead_kind == "frames" and lay.hw == (8, 8)
    submission.check_declared("masks", (3, 20, 4, 8, 8), np.dtype("float32"), lay)
    with pytest.raises(SubmissionError, match=r"segmentation: expected shape \(N,T,H,W\) = \(3, 20, 8, 8\)"):
        submission.check_declared("segmentation", (3, 8, 8), np.dtype("uint8"), lay)
    views = dict(base, features={"test": [{"name": "image", "shape": [10, 8, 8, 3]},
                                          {"name": "camera/azimuth", "shape": [10]}]})
    lay = layout(views, "test")
    assert lay.lead_kind == "views" and lay.lead == (10,) and lay.image_ndim == 3
    with pytest.raises(SubmissionError, match=r"reconstruction: expected shape \(N,V,H,W,C\), the image shape"):
        submission.check_declared("reconstruction", (3, 8, 8, 3), np.dtype("float32"), lay)
    gray = dict(base, features={"test": [{"name": "image", "shape": [28, 28]}, {"name": "segmentation", "shape": [28, 28]}]})
    lay = layout(gray, "test")
    assert lay.lead == () and lay.hw == (28, 28) and lay.image_ndim == 2
    submission.check_declared("reconstruction", (3, 28, 28), np.dtype("float32"), lay)


# ---------------------------------------------------------------- untrusted files
def _valid_h5(path, small_cis, gt):
    return submission.write(path, dataset=small_cis, split="test", method="m", num_objects=gt["num_objects"])


def test_file_level_errors(small_cis, gt, tmp_path):
    with pytest.raises(SubmissionError, match="no such file"):
        open_submission(tmp_path / "missing.h5")
    with pytest.raises(SubmissionError, match="is a directory"):
        open_submission(tmp_path)
    (tmp_path / "empty.h5").write_bytes(b"")
    with pytest.raises(SubmissionError, match="empty file"):
        open_submission(tmp_path / "empty.h5")
    (tmp_path / "text.h5").write_text("segmentation,1,2,3\n")
    with pytest.raises(SubmissionError, match="not an HDF5 or .npz file"):
        open_submission(tmp_path / "text.h5")
    good = _valid_h5(tmp_path / "good.h5", small_cis, gt)
    data = good.read_bytes()
    for cut in (len(data) // 3, len(data) - 100):
        (tmp_path / "cut.h5").write_bytes(data[:cut])
        with pytest.raises(SubmissionError, match="corrupt|truncated"):
            sub = open_submission(tmp_path / "cut.h5")
            sub.read("num_objects", 0, 200)


def test_links_groups_external_and_virtual_storage_are_refused(small_cis, gt, tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(200, dtype=np.int64).tobytes())
    cases = {
        "soft": lambda f: f.__setitem__("num_objects", h5py.SoftLink("/segmentation")),
        "external link": lambda f: f.__setitem__("num_objects", h5py.ExternalLink(str(tmp_path / "other.h5"), "/x")),
        "group": lambda f: f.create_group("num_objects"),
        "external storage": lambda f: f.create_dataset("num_objects", shape=(200,), dtype="int64",
                                                       external=[(str(secret), 0, 1600)]),
        "vlen": lambda f: f.create_dataset("num_objects", data=np.array(["1"] * 200, dtype=object),
                                           dtype=h5py.string_dtype()),
        "compound": lambda f: f.create_dataset("num_objects", shape=(200,), dtype=[("a", "i4"), ("b", "f4")]),
        "unknown": lambda f: f.create_dataset("secrets", data=np.zeros(3)),
    }
    needles = {"soft": "is a soft link", "external link": "is an external link", "group": "is a group",
               "external storage": "stored in external files", "vlen": "expected a numeric array",
               "compound": "expected a numeric array", "unknown": "'secrets': unknown field"}
    lay_vds = h5py.VirtualLayout(shape=(200,), dtype="int64")
    src = tmp_path / "src.h5"
    with h5py.File(src, "w") as f:
        f["x"] = np.arange(200)
    lay_vds[:] = h5py.VirtualSource(str(src), "x", shape=(200,))
    cases["virtual"] = lambda f: f.create_virtual_dataset("num_objects", lay_vds)
    needles["virtual"] = "stored in other files (virtual)"
    fp = read_manifest(small_cis)["fingerprint"]
    for name, make in cases.items():
        p = tmp_path / f"{name.replace(' ', '_')}.h5"
        with h5py.File(p, "w") as f:
            f.attrs.update(fingerprint=fp, split="test", method="m")
            if name == "soft":
                f["segmentation"] = gt["segmentation"]
            make(f)
        with pytest.raises(SubmissionError) as e:
            open_submission(p)
        assert needles[name] in str(e.value), (name, str(e.value))


def test_memory_bombs_are_refused_before_reading(small_cis, tmp_path):
    """Huge declared shapes and huge chunks are refused from the header alone (the files are tiny)."""
    from scenebench.evaluation.evaluate import evaluate

    fp = read_manifest(small_cis)["fingerprint"]
    p = tmp_path / "bomb.h5"
    with h5py.File(p, "w") as f:
        f.attrs.update(fingerprint=fp, split="test", method="m")
        f.create_dataset("masks", shape=(200, 256, 2**20, 2**20), dtype="f8", chunks=(1, 1, 64, 64))
    assert p.stat().st_size < 100_000
    with pytest.raises(SubmissionError, match=r"masks: expected shape \(N,K,H,W\)"):
        evaluate(p, small_cis, workers=1)
    q = tmp_path / "chunk.h5"
    with h5py.File(q, "w") as f:
        f.attrs.update(fingerprint=fp, split="test", method="m")
        f.create_dataset("log_weights", shape=(200, 10**6), dtype="f8", chunks=(200, 10**5), compression="gzip")
    with pytest.raises(SubmissionError, match="HDF5 chunks of 160,000,000 bytes; expected at most"):
        open_submission(q)
    # a .npz whose header declares far more data than the member holds
    z = tmp_path / "bomb.npz"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("fingerprint.npy", _npy(np.array(fp)))
        zf.writestr("split.npy", _npy(np.array("test")))
        zf.writestr("method.npy", _npy(np.array("m")))
        header = _npy(np.zeros((2,), "f8"))[:-16].replace(b"(2,)", b"(200, 999999999)")
        zf.writestr("log_weights.npy", header)
    with pytest.raises(SubmissionError, match="header declares"):
        open_submission(z)


def _npy(a):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a, allow_pickle=False)
    return buf.getvalue()


def test_npz_pickles_are_never_loaded(small_cis, tmp_path):
    marker = tmp_path / "pwned"

    class Boom:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    fp = read_manifest(small_cis)["fingerprint"]
    z = tmp_path / "evil.npz"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("fingerprint.npy", _npy(np.array(fp)))
        zf.writestr("split.npy", _npy(np.array("test")))
        zf.writestr("method.npy", _npy(np.array("m")))
        buf = io.BytesIO()
        np.lib.format.write_array(buf, np.array([Boom()] * 200, dtype=object), allow_pickle=True)
        zf.writestr("num_objects.npy", buf.getvalue())
    with pytest.raises(SubmissionError, match="num_objects: object dtype"):
        open_submission(z)
    assert not marker.exists()


def test_hand_made_files_with_plain_tools(small_cis, gt, tmp_path):
    """Submissions written without scenebench (h5py attrs as str, np.savez with str scalars) are accepted."""
    fp = read_manifest(small_cis)["fingerprint"]
    p = tmp_path / "plain.h5"
    with h5py.File(p, "w") as f:
        f["segmentation"] = gt["segmentation"].astype(np.int32)
        f.attrs["fingerprint"] = fp
        f.attrs["split"] = np.bytes_(b"test")  # fixed-length bytes
        f.attrs["method"] = "plain h5py"  # variable-length str
        f.attrs["anything_else"] = np.arange(5)  # unknown attributes are ignored
    sub = open_submission(p)
    assert sub.meta == {"fingerprint": fp, "split": "test", "method": "plain h5py"}
    assert sub.fields["segmentation"][0] == (200, 64, 64)
    sub.close()
    q = tmp_path / "plain.npz"
    np.savez(q, segmentation=gt["segmentation"], fingerprint=fp, split="test", method="np.savez")
    meta, arrays = load(q)
    assert meta["method"] == "np.savez"
    np.testing.assert_array_equal(arrays["segmentation"], gt["segmentation"])


@pytest.mark.parametrize("attrs, needle", [
    (dict(split="test", method="m"), "fingerprint: missing"),
    (dict(fingerprint="abc", split="test", method="m"), "fingerprint: expected 64 lowercase hex digits"),
    (dict(FP=True, method="m"), "split: missing"),
    (dict(FP=True, split="test"), "method: missing"),
    (dict(FP=True, split="test", method=np.arange(3)), "method: expected a text attribute"),
    (dict(FP=True, split="test", method=np.bytes_(b"x" * 5000)), "method: expected at most 200 characters"),
    (dict(FP=True, split="test", method=np.bytes_(b"\xff\xfe")), "method: expected UTF-8 text"),
    (dict(FP=True, split="test", method="m", format="other/9"), "format: expected 'scenebench-submission/1'"),
])
def test_bad_metadata_attributes(small_cis, gt, tmp_path, attrs, needle):
    fp = read_manifest(small_cis)["fingerprint"]
    p = tmp_path / "m.h5"
    with h5py.File(p, "w") as f:
        f["num_objects"] = gt["num_objects"]
        for k, v in attrs.items():
            if k == "FP":
                f.attrs["fingerprint"] = fp
            else:
                f.attrs[k] = v
    with pytest.raises(SubmissionError) as e:
        open_submission(p)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_json_free_metadata_is_bounded_text(small_cis, gt, tmp_path):
    p = submission.write(tmp_path / "u.h5", dataset=small_cis, split="test", method="naïve – ünïcode ✓",
                         notes='quotes " and <tags> & json {"a": 1}', num_objects=gt["num_objects"])
    meta, _ = load(p)
    assert meta["method"] == "naïve – ünïcode ✓"
    assert json.loads(json.dumps(meta)) == meta
