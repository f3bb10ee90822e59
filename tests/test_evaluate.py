"""`evaluate`: reference submissions with known scores, metric selection, streaming, CLI, bad input."""

import hashlib
import json

import h5py
import numpy as np
import pytest

from conftest import read_split
from scenebench.evaluation import evaluate as E
from scenebench.evaluation import metrics as M
from scenebench.evaluation import submission
from scenebench.datasets.build import generate
from scenebench.errors import ConfigError, DatasetError, ScenebenchError
from scenebench.evaluation.evaluate import evaluate
from scenebench.evaluation.submission import SubmissionError
from scenebench.datasets.manifest import read_manifest


@pytest.fixture(scope="module")
def cis(small_cis):
    return small_cis, read_split(small_cis, "test")


@pytest.fixture(scope="module")
def sequences(tmp_path_factory):
    d = generate("multi_texture", "cis-sequences", tmp_path_factory.mktemp("seq"), num=6, splits=["test"], workers=1)
    return d, read_split(d, "test")


def _write(tmp_path, d, name="s.h5", method="m", **arrays):
    return submission.write(tmp_path / name, dataset=d, split="test", method=method, **arrays)


# ---------------------------------------------------------------- non-learned reference methods
def connected_components(images):
    """8-connected components (scikit-image) of the pixels unlike each image's most frequent color."""
    from skimage.measure import label

    flat = images.reshape(len(images), -1, 3).astype(np.int32)
    code = (flat[..., 0] << 16) | (flat[..., 1] << 8) | flat[..., 2]
    labels = np.zeros(images.shape[:3], np.uint8)
    counts = np.zeros(len(images), np.int64)
    for i, c in enumerate(code):
        vals, n = np.unique(c, return_counts=True)
        fg = (c != vals[np.argmax(n)]).reshape(images.shape[1:3])
        lab, counts[i] = label(fg, connectivity=2, return_num=True)
        labels[i] = np.minimum(lab, 255)
    return labels, counts


def color_clusters(images, levels=2):
    """Color clustering: pixels grouped by a coarse palette (levels**3 colors); the commonest color is 0."""
    q = images.astype(np.int32) * levels // 256
    code = (q[..., 0] * levels + q[..., 1]) * levels + q[..., 2]
    out = np.zeros(code.shape, np.uint8)
    for i, c in enumerate(code):
        vals, inv, cnt = np.unique(c, return_inverse=True, return_counts=True)
        rank = np.empty(len(vals), np.int64)
        rank[np.argsort(-cnt, kind="stable")] = np.arange(len(vals))
        out[i] = rank[inv.reshape(c.shape)]
    return out


def test_ground_truth_scores_perfectly(cis, tmp_path):
    d, gt = cis
    p = _write(tmp_path, d, segmentation=gt["segmentation"], num_objects=gt["num_objects"],
               reconstruction=gt["image"])
    r = evaluate(p, d, workers=1)
    for name in ("miou", "miou_fg", "ari", "fg_ari", "msc", "sc", "count_accuracy"):
        assert r["metrics"][name]["mean"] == 1.0, name
        assert r["metrics"][name]["n"] == 200
    assert r["metrics"]["mse"] == {"mean": 0.0, "std": 0.0, "n": 200}
    assert list(r["metrics"]) == ["miou", "miou_fg", "ari", "fg_ari", "msc", "sc", "msc_fg", "sc_fg", "count_accuracy",
                                 "mse"]


def test_ground_truth_amodal_masks_with_background_channel(cis, tmp_path):
    d, gt = cis
    # visible masks as a soft stack: background channel first, then one channel per object slot
    K = gt["masks"].shape[1]
    onehot = (gt["segmentation"][:, None] == np.arange(K + 1)[None, :, None, None]).astype(np.float32)
    r = evaluate(_write(tmp_path, d, masks=onehot * 0.9 + 0.01), d, workers=1)
    assert all(r["metrics"][m]["mean"] == 1.0 for m in E.SEG_METRICS)


def test_connected_components_are_honestly_imperfect(cis, tmp_path):
    d, gt = cis
    labels, counts = connected_components(gt["image"])
    r = evaluate(_write(tmp_path, d, segmentation=labels, num_objects=counts), d, workers=1)
    m = {k: v["mean"] for k, v in r["metrics"].items()}
    # occluding sprites touch, so components merge them: good on background, worse on objects
    assert 0.75 < m["miou"] < 0.92 and 0.70 < m["miou_fg"] < 0.88
    assert 0.98 < m["ari"] < 1.0 and 0.65 < m["fg_ari"] < 0.9
    assert 0.45 < m["count_accuracy"] < 0.75
    # the same numbers as calling the metrics directly on the whole split
    assert m["miou"] == pytest.approx(M.miou(gt["segmentation"], labels), abs=1e-12)
    assert m["fg_ari"] == pytest.approx(M.fg_ari(gt["segmentation"], labels), abs=1e-12)
    assert m["count_accuracy"] == M.count_accuracy(gt["num_objects"], counts)


def test_color_clustering_is_imperfect(cis, tmp_path):
    d, gt = cis
    r = evaluate(_write(tmp_path, d, segmentation=color_clusters(gt["image"])), d, workers=1)
    m = {k: v["mean"] for k, v in r["metrics"].items()}
    # a coarse palette splits some sprites and merges sprites of similar color with the background
    assert 0.78 < m["miou"] < 0.94 and 0.75 < m["fg_ari"] < 0.95 and 0.9 < m["ari"] < 0.995


def test_all_background_known_scores(cis, tmp_path):
    d, gt = cis
    seg = gt["segmentation"]
    r = evaluate(_write(tmp_path, d, segmentation=np.zeros_like(seg), num_objects=np.zeros(200, np.int64)), d,
                 workers=1)
    # independently: one predicted segment covering the image has IoU |R|/HW with every GT segment R
    HW = seg.shape[1] * seg.shape[2]
    areas = np.stack([np.bincount(s.ravel(), minlength=256) for s in seg])  # (N, 256)
    present = areas > 0
    n_seg = present.sum(1)
    miou = areas.max(1) / HW / n_seg
    fg = areas[:, 1:]
    n_fg = (fg > 0).sum(1)
    miou_fg = np.where(n_fg > 0, fg.max(1) / HW / np.maximum(n_fg, 1), np.nan)
    ari = np.where(n_seg > 1, 0.0, 1.0)
    fg_ari = np.where(n_fg == 0, np.nan, np.where(n_fg == 1, 1.0, 0.0))
    msc = (areas / HW).sum(1) / n_seg
    sc = (areas.astype(float) ** 2).sum(1) / HW**2
    expect = {"miou": miou, "miou_fg": miou_fg, "ari": ari, "fg_ari": fg_ari, "msc": msc, "sc": sc,
              "count_accuracy": (gt["num_objects"] == 0).astype(float)}
    for k, v in expect.items():
        assert r["metrics"][k]["mean"] == pytest.approx(np.nanmean(v), abs=1e-12), k
        assert r["metrics"][k]["std"] == pytest.approx(np.nanstd(v), abs=1e-12), k
        assert r["metrics"][k]["n"] == int((~np.isnan(v)).sum()), k
    assert r["metrics"]["count_accuracy"]["mean"] == 0.0  # every cis image has an object


def test_likelihood_reconstruction_latents(cis, tmp_path):
    d, gt = cis
    n = 200
    lw = np.tile([-100.0, -101.0, -102.0], (n, 1))
    latents = np.zeros((n, 3, 2))
    latents[:, :, 0] = 1
    latents[100:, 1] = [0.0, 1.0]
    latents[100:, 2] = [-1.0, 0.0]  # second half: no duplicate pair
    rec = np.full(gt["image"].shape, 0.5, np.float32)
    p = _write(tmp_path, d, log_weights=lw, elbo=np.full(n, -103.0), latents=latents, reconstruction=rec)
    r = evaluate(p, d, workers=1)["metrics"]
    assert r["iw_nll"]["mean"] == pytest.approx(100.6910, abs=5e-5) and r["iw_nll"]["unit"] == "nats"
    assert r["iw_nll_bpd"]["mean"] == pytest.approx(100.69100632 / (64 * 64 * 3 * np.log(2)))
    assert r["inference_gap"]["mean"] == pytest.approx(2.309, abs=5e-4)
    assert r["elbo"]["mean"] == -103.0
    assert r["duplicate_rate"]["mean"] == 0.5 and r["duplicate_rate"]["threshold"] == 0.9
    expect_mse = ((gt["image"] / 255.0 - 0.5) ** 2).mean(axis=(1, 2, 3))
    assert r["mse"]["mean"] == pytest.approx(expect_mse.mean(), rel=1e-12)
    assert "miou" not in r and "count_accuracy" not in r


def test_sequences_identity_switches(sequences, tmp_path):
    d, gt = sequences
    seg = gt["segmentation"]
    r = evaluate(_write(tmp_path, d, segmentation=seg), d, workers=1)["metrics"]
    assert r["id_switches"]["mean"] == 0 and r["sequences_with_switch"]["fraction"] == "0/6"
    assert r["miou"]["n"] == 6 * 20  # per frame
    # ids re-assigned every frame by x position: they swap when the objects cross
    x_ids = np.zeros_like(seg)
    cols = np.arange(seg.shape[-1])
    ranks = np.full(seg.shape[:2] + (2,), -1)
    for i, t in np.ndindex(seg.shape[:2]):
        s = seg[i, t]
        ids = [k for k in (1, 2) if (s == k).any()]
        cx = [np.broadcast_to(cols, s.shape)[s == k].mean() for k in ids]
        for rank, j in enumerate(np.argsort(cx, kind="stable")):
            x_ids[i, t][s == ids[j]] = rank + 1
            ranks[i, t, ids[j] - 1] = rank
    # independent count: an object switches when its rank differs from its rank at its previous visible frame
    expected = []
    for i in range(len(seg)):
        sw = 0
        for k in range(2):
            seen = ranks[i, :, k][ranks[i, :, k] >= 0]
            sw += int((seen[1:] != seen[:-1]).sum())
        expected.append(sw)
    r = evaluate(_write(tmp_path, d, "x.h5", segmentation=x_ids), d, workers=1)["metrics"]
    assert r["id_switches"]["total"] == sum(expected) > 0
    assert r["sequences_with_switch"]["count"] == sum(e > 0 for e in expected)
    assert r["sequences_with_switch"]["fraction"] == f"{sum(e > 0 for e in expected)}/6"
    assert r["miou"]["mean"] == 1.0  # per-frame segmentation is still perfect


def test_metric_selection(cis, tmp_path):
    d, gt = cis
    p = _write(tmp_path, d, segmentation=gt["segmentation"], num_objects=gt["num_objects"])
    assert list(evaluate(p, d, metrics=["fg_ari", "miou"], workers=1)["metrics"]) == ["miou", "fg_ari"]
    assert list(evaluate(p, d, metrics="count_accuracy,ari", workers=1)["metrics"]) == ["ari", "count_accuracy"]
    with pytest.raises(ConfigError, match="unknown metric 'accuracy'; valid names: miou, miou_fg"):
        evaluate(p, d, metrics=["accuracy"], workers=1)
    with pytest.raises(ConfigError, match="'iw_nll' does not apply: it needs log_weights"):
        evaluate(p, d, metrics=["iw_nll"], workers=1)
    with pytest.raises(ConfigError, match="'id_switches' does not apply: multi_dsprites/cis is not a sequence"):
        evaluate(p, d, metrics=["id_switches"], workers=1)


def test_results_json_and_data_root_resolution(small_cis, small_lavae, cis, tmp_path):
    d, gt = cis
    p = _write(tmp_path, d, method="CC", segmentation=gt["segmentation"])
    root = d.parents[2]
    assert small_lavae.parents[2] != root
    r = evaluate(p, root, workers=1)  # a root holding the dataset: found by fingerprint
    man = read_manifest(d)
    assert r["format"] == "scenebench-results/1"
    assert r["dataset"] == {"fingerprint": man["fingerprint"], "family": "multi_dsprites", "preset": "cis",
                            "version": man["identity"]["version"], "seed": 0, "split": "test", "num_samples": 200}
    assert r["submission"]["sha256"] == hashlib.sha256(p.read_bytes()).hexdigest()
    assert r["submission"]["bytes"] == p.stat().st_size and r["submission"]["format"] == "hdf5"
    assert r["method"] == {"name": "CC", "paper": None, "notes": None}
    assert r["scenebench"] and r["time"].endswith("Z")
    json.dumps(r, allow_nan=False)
    with pytest.raises(SubmissionError, match="fingerprint: the submission is for dataset"):
        evaluate(p, small_lavae, workers=1)
    with pytest.raises(DatasetError, match="none of its 1 datasets has the submission's fingerprint"):
        evaluate(p, small_lavae.parents[2], workers=1)
    with pytest.raises(SubmissionError, match="split: the submission is for split 'test', not 'train'"):
        evaluate(p, d, split="train", workers=1)
    with pytest.raises(DatasetError, match="no such dataset directory"):
        evaluate(p, tmp_path / "nowhere", workers=1)


@pytest.mark.parametrize("suffix", [".h5", ".npz"])
def test_workers_and_blocks_do_not_change_results(small_lavae, tmp_path, monkeypatch, suffix):
    gt = read_split(small_lavae, "test")
    rng = np.random.default_rng(1)
    labels, counts = connected_components(gt["image"])
    labels[rng.random(labels.shape) < 0.05] = 7  # some noise
    p = submission.write(tmp_path / f"s{suffix}", dataset=small_lavae, split="test", method="m", segmentation=labels,
                         num_objects=counts, log_weights=rng.normal(-50, 3, (120, 4)))
    one = evaluate(p, small_lavae, workers=1)
    monkeypatch.setattr(E, "BLOCK_BYTES", 7 * 64 * 64 * 10)  # ~7 samples per block: many blocks
    monkeypatch.setattr(E, "MIN_BLOCK_PIXELS", 1)
    monkeypatch.setattr(E, "MIN_POOL_BYTES", 0)
    two = evaluate(p, small_lavae, workers=2)
    assert one["workers"] == 1 and two["workers"] == 2  # small splits stay in-process unless told otherwise
    assert one["metrics"] == two["metrics"]
    # the streamed per-block checks still point at the right sample
    bad = labels.astype(np.int32)
    bad[77, 3, 3] = 999
    q = tmp_path / f"bad{suffix}"
    with h5py.File(q.with_suffix(".h5"), "w") as f:
        f["segmentation"] = bad
        f.attrs.update(fingerprint=read_manifest(small_lavae)["fingerprint"], split="test", method="m")
    with pytest.raises(SubmissionError, match=r"segmentation: expected labels in \[0, 255\], got 999 \(sample 77\)"):
        evaluate(q.with_suffix(".h5"), small_lavae, workers=2)


# ---------------------------------------------------------------- CLI
def test_cli_evaluate_table_json_and_leaderboard(cis, tmp_path, cli):
    d, gt = cis
    p = _write(tmp_path, d, method="ground truth", segmentation=gt["segmentation"], num_objects=gt["num_objects"])
    out, board = tmp_path / "r.json", tmp_path / "board"
    res = cli("evaluate", p, "--data", d.parents[2], "--json", out, "--leaderboard", board, "-j", "1")
    assert res.exit_code == 0, res.output
    assert "mIoU" in res.stdout and "1.000" in res.stdout and "multi_dsprites/cis" in res.stdout
    assert "leaderboard entry:" in res.stderr
    r = json.loads(out.read_text())
    assert r["metrics"]["miou"]["mean"] == 1.0
    [entry] = (board / "entries").glob("*.json")
    assert json.loads(entry.read_text())["submission"]["sha256"] == r["submission"]["sha256"]
    res = cli("evaluate", p, "--data", d, "--json", "-", "-m", "miou", "-j", "1")
    assert res.exit_code == 0 and list(json.loads(res.stdout)["metrics"]) == ["miou"]


def _bad_files(d, gt, tmp_path):
    """name -> (path, expected message fragment): each a mistake a user makes."""
    fp = read_manifest(d)["fingerprint"]
    seg, cnt = gt["segmentation"], gt["num_objects"]

    def h5(name, attrs=None, **arrays):
        p = tmp_path / f"{name}.h5"
        with h5py.File(p, "w") as f:
            for k, v in arrays.items():
                f[k] = v
            f.attrs.update(attrs if attrs is not None else dict(fingerprint=fp, split="test", method="m"))
        return p

    good = h5("good", segmentation=seg)
    cases = {
        "wrong fingerprint": (h5("fp", dict(fingerprint="a" * 64, split="test", method="m"), segmentation=seg),
                              "fingerprint: the submission is for dataset aaaaaaaaaaaa"),
        "missing fingerprint": (h5("nofp", dict(split="test", method="m"), segmentation=seg), "fingerprint: missing"),
        "wrong split": (h5("split", dict(fingerprint=fp, split="valid", method="m"), segmentation=seg),
                        "split: 'valid' is not a split of this dataset"),
        "fewer samples": (h5("fewer", segmentation=seg[:-1]), "segmentation: expected 200 samples"),
        "more samples": (h5("more", segmentation=np.concatenate([seg, seg[:1]])), "segmentation: expected 200 samples"),
        "wrong shape": (h5("shape", segmentation=seg[:, :, :32]), "segmentation: expected shape (N,H,W) = (200, 64, 64)"),
        "float labels": (h5("float", segmentation=seg.astype(np.float32)), "segmentation: expected an integer dtype"),
        "float counts": (h5("fcount", num_objects=cnt.astype(np.float64)), "num_objects: expected an integer dtype"),
        "nan": (h5("nan", log_weights=np.full((200, 2), np.nan)), "log_weights: expected finite values, got NaN"),
        "inf": (h5("inf", elbo=np.full(200, -np.inf)), "elbo: expected finite values, got inf"),
        "negative counts": (h5("neg", num_objects=cnt.astype(np.int64) - 5), "num_objects: expected non-negative counts"),
        "labels beyond 255": (h5("big", segmentation=seg.astype(np.int32) * 300), "expected labels in [0, 255]"),
        "no arrays": (h5("none"), "no prediction arrays"),
    }
    (tmp_path / "empty.h5").write_bytes(b"")
    cases["empty file"] = (tmp_path / "empty.h5", "empty file")
    (tmp_path / "trunc.h5").write_bytes(good.read_bytes()[:3000])
    cases["truncated"] = (tmp_path / "trunc.h5", "truncated")
    (tmp_path / "notes.txt").write_text("not a submission")
    cases["not hdf5"] = (tmp_path / "notes.txt", "not an HDF5 or .npz file")
    (tmp_path / "adir").mkdir()
    cases["directory"] = (tmp_path / "adir", "is a directory")
    return good, cases


def test_cli_bad_input_is_one_line_exit_2_and_leaves_board_untouched(cis, tmp_path, cli):
    d, gt = cis
    board = tmp_path / "board"
    good, cases = _bad_files(d, gt, tmp_path)
    cases["unknown metric"] = (good, "--metrics: unknown metric 'mIoU'")
    for name, (path, needle) in cases.items():
        args = ["evaluate", path, "--data", d, "--leaderboard", board, "-j", "1"]
        if name == "unknown metric":
            args += ["--metrics", "mIoU"]
        res = cli(*args)
        assert res.exit_code == 2, (name, res.output)
        lines = res.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (name, res.output)
        assert needle in lines[0], (name, lines[0])
        assert not board.exists(), name


def test_every_error_is_a_scenebench_error(cis, tmp_path):
    d, gt = cis
    _, cases = _bad_files(d, gt, tmp_path)
    for name, (path, _) in cases.items():
        with pytest.raises(ScenebenchError):
            evaluate(path, d, workers=1)


_BOUNDED = r"""
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))
from scenebench.cli import main
sys.exit(main())
"""


@pytest.mark.parametrize("shape, ok", [((120, 4096, 1), False), ((120, 2048, 2048), False), ((120, 256, 2048), True)])
def test_declared_dimensions_are_bounded_by_scoring_memory(tmp_path, small_lavae, shape, ok):
    """A few-KB file declaring (N, 4096, 1) latents once made evaluate allocate 25 GiB for the K x K cosines."""
    import subprocess
    import sys

    p = tmp_path / "bomb.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("latents", shape=shape, dtype="float16", chunks=(1,) + shape[1:], fillvalue=np.float16(1))
        f.attrs.update(fingerprint=read_manifest(small_lavae)["fingerprint"], split="test", method="bomb")
    assert p.stat().st_size < 64 * 1024
    r = subprocess.run([sys.executable, "-c", _BOUNDED, "evaluate", str(p), "--data", str(small_lavae), "-j", "1"],
                       capture_output=True, text=True, timeout=300)
    if ok:  # within the bounds: scored in blocks sized by the metrics' memory, under a 3 GiB address-space cap
        assert r.returncode == 0, r.stderr
        assert "duplicate" in r.stdout.lower()
    else:
        assert r.returncode == 2 and r.stderr.startswith("error: latents: shape") and "Traceback" not in r.stderr
        assert r.stderr.count("\n") == 1
