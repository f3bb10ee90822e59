"""Fuzz: random mutations of a valid submission end in a clean ScenebenchError or a correct score.

Mutations: dtypes, shapes, values (NaN, inf, negative, out of range, huge),
missing and extra fields, groups and links, metadata attributes (missing,
wrong type, too long, control characters, bad UTF-8, extra), and raw bytes
(truncation, bit flips, zeroed ranges, appended garbage), on HDF5 and .npz.
A mutated file that still scores must score exactly what the metrics give
on the arrays it holds.
"""

import io
import shutil
import zipfile

import h5py
import numpy as np
import pytest

from conftest import read_split
from scenebench.evaluation import metrics as M
from scenebench.evaluation import submission
from scenebench.datasets.build import generate
from scenebench.errors import ScenebenchError
from scenebench.evaluation.evaluate import evaluate

N = 5
CASES = 240


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    d = generate("multi_dsprites", "cis", root / "data", num=N, splits=["test"], workers=1)
    gt = read_split(d, "test")
    rng = np.random.default_rng(0)
    arrays = dict(segmentation=gt["segmentation"], num_objects=gt["num_objects"].astype(np.int64),
                  masks=rng.random((N, 3, 64, 64)).astype(np.float32), log_weights=rng.normal(-300, 2, (N, 4)),
                  elbo=rng.normal(-305, 1, N), reconstruction=(gt["image"] / 255.0).astype(np.float32),
                  latents=rng.normal(size=(N, 3, 4)).astype(np.float32))
    h5 = submission.write(root / "base.h5", dataset=d, split="test", method="m", notes="n", **arrays)
    npz = submission.write(root / "base.npz", dataset=d, split="test", method="m", **arrays)
    return d, gt, h5, npz


def _expected(arrays, gt):
    """Every metric straight from the scenebench.evaluation.metrics functions on the whole arrays."""
    out = {}
    if "segmentation" in arrays or "masks" in arrays:
        lab = arrays["segmentation"] if "segmentation" in arrays else M.to_labels(arrays["masks"])
        out.update(M.segmentation_metrics(gt["segmentation"], lab))
        if "masks" in arrays:  # the soft-mask score runs by default only on soft masks
            gm = gt["alpha"] / 255.0 if "alpha" in gt else M.label_masks(gt["segmentation"])
            out["cis_miou"] = M.cis_miou(gm, arrays["masks"])
    if "num_objects" in arrays:
        out["count_accuracy"] = M.count_accuracy(gt["num_objects"], arrays["num_objects"])
    if "log_weights" in arrays:
        out["iw_nll"] = M.iw_nll(arrays["log_weights"])
        out["iw_nll_bpd"] = M.iw_nll(arrays["log_weights"], unit="bits/dim", num_dims=64 * 64 * 3)
        if "elbo" in arrays:
            out["inference_gap"] = M.inference_gap(arrays["log_weights"], arrays["elbo"])
    if "elbo" in arrays:
        out["elbo"] = float(np.mean(arrays["elbo"].astype(np.float64)))
    if "reconstruction" in arrays:
        rec = arrays["reconstruction"]
        rec = rec / 255.0 if rec.dtype == np.uint8 else rec.astype(np.float64)
        out["mse"] = M.mse(gt["image"] / 255.0, rec)
    if "latents" in arrays:
        out["duplicate_rate"] = M.duplicate_rate(arrays["latents"])
        out["slot_similarity"] = M.slot_similarity(arrays["latents"])
    return out


# ---------------------------------------------------------------- mutations
DTYPES = ["float32", "float64", "float16", "int8", "uint8", "int64", "uint64", "bool", "complex64", "S4", "vlen"]
VALUES = [np.nan, np.inf, -np.inf, -1, 300, 1e30, -1e30, 0.5, 2, 255]
ATTR_VALUES = [None, 7, np.arange(3), "x" * 5000, "a\x07b", np.bytes_(b"\xff\xfe"), "0" * 64, "train", "", "ok"]


def _h5_edit(path, fn):
    with h5py.File(path, "a") as f:
        fn(f)


def _replace(f, name, a):
    del f[name]
    if a.dtype == object:
        f.create_dataset(name, data=a, dtype=h5py.string_dtype())
    else:
        f[name] = a


def mutate_h5(path, rng, kind):
    fields = ["segmentation", "num_objects", "masks", "log_weights", "elbo", "reconstruction", "latents"]
    name = fields[rng.integers(len(fields))]

    def dtype(f):
        a, t = f[name][()], DTYPES[rng.integers(len(DTYPES))]
        _replace(f, name, a.astype(str).astype(object) if t == "vlen" else a.astype(t))

    def shape(f):
        a = f[name][()]
        how = rng.integers(5)
        a = (a[:-1], np.concatenate([a, a[:1]]), a[..., None], a.reshape(-1), np.swapaxes(a, 0, -1))[how]
        _replace(f, name, a)

    def value(f):
        a = f[name][()]
        v = VALUES[rng.integers(len(VALUES))]
        if a.dtype.kind in "iub":
            lo, hi = (0, 1) if a.dtype.kind == "b" else (np.iinfo(a.dtype).min, np.iinfo(a.dtype).max)
            if not (np.isfinite(v) and float(v).is_integer() and lo <= v <= hi):
                a = a.astype(np.float64)  # the value does not fit: the field becomes float
        a[tuple(rng.integers(s) for s in a.shape)] = v
        _replace(f, name, a)

    def missing(f):
        del f[name]

    def extra(f):
        what = rng.integers(4)
        if what == 0:
            f["extra_field"] = np.zeros(N)
        elif what == 1:
            f.create_group("segmentation_group")
        elif what == 2:
            del f[name]
            f[name] = h5py.SoftLink("/elbo" if name != "elbo" else "/num_objects")
        else:
            del f[name]
            f[name] = h5py.ExternalLink("other.h5", "/x")

    def attrs(f):
        key = ["fingerprint", "split", "method", "paper", "notes", "format", "extra"][rng.integers(7)]
        v = ATTR_VALUES[rng.integers(len(ATTR_VALUES))]
        if v is None:
            if key in f.attrs:
                del f.attrs[key]
        else:
            f.attrs[key] = v

    _h5_edit(path, [dtype, shape, value, missing, extra, attrs][kind])


def mutate_bytes(path, rng, kind):
    data = bytearray(path.read_bytes())
    if kind == 0:
        data = data[: rng.integers(0, len(data))]
    elif kind == 1:
        for _ in range(rng.integers(1, 8)):
            j = rng.integers(len(data))
            data[j] ^= 1 << int(rng.integers(8))
    elif kind == 2:
        j, k = int(rng.integers(len(data))), int(rng.integers(1, 300))
        data[j:j + k] = bytes(len(data[j:j + k]))
    else:
        data += rng.bytes(int(rng.integers(1, 500)))
    path.write_bytes(bytes(data))


def mutate_npz(path, rng, kind):
    with zipfile.ZipFile(path) as z:
        members = {i.filename: z.read(i) for i in z.infolist()}
    names = [n for n in members if n[:-4] in submission.FIELDS]
    name = names[rng.integers(len(names))]
    a = np.load(io.BytesIO(members[name]), allow_pickle=False)
    if kind == 0:
        del members[name]
    elif kind == 1:
        members[["extra.npy", "notes.npy", "method.npy"][rng.integers(3)]] = _npy(np.arange(3))
    elif kind == 2:
        members[name] = _npy(a.astype(DTYPES[rng.integers(len(DTYPES) - 1)]))
    elif kind == 3:
        members[name] = _npy((a[:-1], a[..., None], a.reshape(-1), np.asfortranarray(a.T))[rng.integers(4)])
    elif kind == 4:
        b = a.astype(np.float64) if a.dtype.kind in "iub" else a.copy()
        b.flat[rng.integers(b.size)] = VALUES[rng.integers(len(VALUES))]
        members[name] = _npy(b)
    else:
        buf = io.BytesIO()
        np.lib.format.write_array(buf, np.array([{"x": 1}] * N, dtype=object), allow_pickle=True)
        members[name] = buf.getvalue()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for n, b in members.items():
            z.writestr(n, b)


def _npy(a):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a, allow_pickle=False)
    return buf.getvalue()


def test_fuzzed_submissions_fail_cleanly_or_score_correctly(base, tmp_path):
    d, gt, h5, npz = base
    rng = np.random.default_rng(2024)
    outcomes = {"error": 0, "scored": 0}
    for i in range(CASES):
        family = i % 3
        src = npz if family == 2 else h5
        path = tmp_path / f"case{i}{src.suffix}"
        shutil.copy(src, path)
        if family == 0:
            mutate_h5(path, rng, int(rng.integers(6)))
        elif family == 1:
            mutate_bytes(path, rng, int(rng.integers(4)))
        else:
            if rng.random() < 0.3:
                mutate_bytes(path, rng, int(rng.integers(4)))
            else:
                mutate_npz(path, rng, int(rng.integers(6)))
        try:
            res = evaluate(path, d, workers=1)
        except ScenebenchError as exc:
            msg = str(exc)
            assert msg and "\n" not in msg and len(msg) < 1000, (i, msg)
            outcomes["error"] += 1
            continue
        except Exception as exc:  # pragma: no cover - the failure this test exists to catch
            pytest.fail(f"case {i} ({path.name}): {type(exc).__name__}: {exc}")
        outcomes["scored"] += 1
        _, arrays = submission.load(path)
        want = _expected(arrays, gt)
        assert set(res["metrics"]) == set(want), i
        for k, v in want.items():
            got = res["metrics"][k]["mean"]
            if np.isnan(v):
                assert got is None, (i, k)
            else:
                assert got == pytest.approx(v, rel=1e-9, abs=1e-12), (i, k)
        path.unlink()
    assert outcomes["error"] > 100 and outcomes["scored"] > 10, outcomes
