import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import assert_same_arrays, read_split
from scenebench.datasets.build import generate
from scenebench.generator import resolve
from scenebench.generators.multi_dsprites import MultiDSprites
from scenebench.datasets.shards import draw_sample
from scenebench.datasets.verify import verify


def _all_splits(directory):
    m = json.loads((Path(directory) / "manifest.json").read_text())
    return m, {s: read_split(directory, s) for s in m["splits"]}


def test_layout_manifest_and_card(small_lavae):
    d = Path(small_lavae)
    assert d.parts[-3:] == ("multi_dsprites", "lavae", f"v{MultiDSprites.VERSION}-seed0")
    m = json.loads((d / "manifest.json").read_text())
    assert m["schema_version"] == 1
    assert m["fingerprint"] == resolve("multi_dsprites", "lavae", num=120).fingerprint
    assert set(m["splits"]) == {"train", "test", "test-7"}
    for split, e in m["splits"].items():
        assert e["num_samples"] == 120
        assert [s["first_index"] for s in e["shards"]] == [0, 50, 100]
        assert e["shards"][0]["file"] == f"{split}/shard-00000-of-00003.h5"
    assert m["identity"]["config"]["max_size"] == 19
    assert (d / "preview.png").stat().st_size > 1000
    card = (d / "README.md").read_text()
    assert m["fingerprint"] in card and "preview.png" in card
    assert not (d / ".progress.json").exists()
    with h5py.File(d / "train/shard-00001-of-00003.h5") as f:
        assert f.attrs["fingerprint"] == m["fingerprint"]
        assert f.attrs["first_index"] == 50 and f.attrs["split"] == "train"
        assert f["image"].chunks[1:] == (64, 64, 3) and f.attrs["compression"] == m["compression"] == "deflate"
        assert set(f["image"]._filters) == {"gzip", "fletcher32"}  # uint8: no shuffle
        assert set(f["objects/scale"]._filters) == {"shuffle", "gzip", "fletcher32"}


def test_byte_identical_across_workers_dask_and_runs(tmp_path, small_lavae):
    from distributed import Client, LocalCluster

    ref_m, ref = _all_splits(small_lavae)
    kw = dict(num=120, shard_size=50)
    two = generate("multi_dsprites", "lavae", tmp_path / "w2", workers=2, **kw)
    # a different shard size changes files, never samples
    other = generate("multi_dsprites", "lavae", tmp_path / "s7", workers=2, num=120, shard_size=7, splits=["test-7"])
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        dask = generate("multi_dsprites", "lavae", tmp_path / "dask", scheduler=client, **kw)
    for d in (two, dask):
        m, arrays = _all_splits(d)
        for s in ref:
            assert_same_arrays(ref[s], arrays[s])
            assert [e["sha256"] for e in m["splits"][s]["shards"]] == [e["sha256"] for e in ref_m["splits"][s]["shards"]]
    assert_same_arrays(ref["test-7"], read_split(other, "test-7"))


def test_sample_regenerated_alone(small_cis):
    spec = resolve("multi_dsprites", "cis", num=200)
    arrays = read_split(small_cis, "train")
    for i in (0, 99, 100, 173):
        one = draw_sample(spec, "train", i)
        assert_same_arrays({k: v[i] for k, v in arrays.items()}, one)


def test_resume_after_sigkill(tmp_path, small_cis):
    root = tmp_path / "killed"
    # 2 x 200 one-sample shards: far too many to finish before the kill below
    cmd = [sys.executable, "-m", "scenebench.cli", "generate", "multi_dsprites", "--preset", "cis",
           "--num", "200", "--shard-size", "1", "--out", str(root), "--workers", "1", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    d = root / f"multi_dsprites/cis/v{MultiDSprites.VERSION}-seed0"
    deadline = time.time() + 60
    while time.time() < deadline:  # kill once some, not all, shards are written
        if d.joinpath("test").is_dir() and len(list(d.joinpath("test").glob("shard-*.h5"))) >= 3:
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (d / "manifest.json").exists()
    # a stray half-written temporary and a truncated final-named shard must not survive
    (d / "train" / "shard-00199-of-00200.h5.tmp-deadbeef").write_bytes(b"partial")
    (d / "..progress.json.tmp-999").write_text('{"torn')  # a journal write cut short
    victim = sorted((d / "test").glob("shard-*.h5"))[0]
    victim.write_bytes(victim.read_bytes()[:100])
    done = subprocess.run(cmd, capture_output=True, text=True)  # the same command again
    assert done.returncode == 0, done.stderr
    assert verify(d).ok
    for s in ("train", "test"):
        assert_same_arrays(read_split(small_cis, s), read_split(d, s))
    assert not list(d.rglob("*.tmp-*"))


def test_resume_same_shard_plan_keeps_valid_shards(tmp_path):
    d = generate("multi_dsprites", "lavae", tmp_path, num=60, shard_size=20, workers=1, splits=["test"])
    shard = d / "test/shard-00001-of-00003.h5"
    before = shard.stat().st_mtime_ns
    # a later run adds another split and leaves the finished one alone
    generate("multi_dsprites", "lavae", tmp_path, num=60, shard_size=20, workers=1, splits=["train"])
    assert shard.stat().st_mtime_ns == before
    m = json.loads((d / "manifest.json").read_text())
    assert set(m["splits"]) == {"test", "train"}
    # a corrupted shard is detected by verify and rewritten by generate
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    assert not verify(d).ok
    generate("multi_dsprites", "lavae", tmp_path, num=60, shard_size=20, workers=1, splits=["test"])
    assert verify(d).ok


def test_lavae_conformance(small_lavae):
    spec = resolve("multi_dsprites", "lavae")
    cfg = spec.split_config("train")
    scales = set(np.float32(cfg.scales).tolist())
    angles = set(np.float32(cfg.orientations).tolist())
    colors = {(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255), (0, 255, 255), (255, 255, 255)}
    counts = {}
    for split in ("train", "test", "test-7"):
        a = read_split(small_lavae, split)
        n = a["num_objects"]
        counts[split] = np.bincount(n, minlength=8)
        K = a["objects/shape"].shape[1]
        assert K == (7 if split == "test-7" else 3)
        for i in range(len(n)):
            k = int(n[i])
            img, seg = a["image"][i], a["segmentation"][i]
            assert set(np.unique(seg)) <= set(range(k + 1))
            assert (img[seg == 0] == 0).all()  # black background
            assert set(a["objects/scale"][i, :k].tolist()) <= scales
            assert set(a["objects/orientation"][i, :k].tolist()) <= angles
            assert (a["objects/shape"][i, k:] == -1).all() and np.isnan(a["objects/scale"][i, k:]).all()
            for j in range(k):
                col = tuple(a["objects/color"][i, j].tolist())
                assert col in colors
                x0, y0, x1, y1 = a["objects/bbox"][i, j].tolist()
                assert 0 < x1 - x0 <= 19 and 0 < y1 - y0 <= 19
                obj = seg == j + 1
                ys, xs = np.nonzero(obj)
                assert ys.min() >= y0 and ys.max() < y1 and xs.min() >= x0 and xs.max() < x1
                # no overlap: every sprite pixel is visible, in the object's color
                assert obj.sum() == a["objects/visible_pixels"][i, j]
                assert (img[obj] == col).all()
            # objects are separate: no two different labels touch (1-pixel gap)
            for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
                p = seg[max(dy, 0):, max(dx, 0): seg.shape[1] + min(dx, 0)]
                q = seg[: seg.shape[0] - dy, max(-dx, 0): seg.shape[1] - max(dx, 0)]
                assert not ((p > 0) & (q > 0) & (p != q)).any()
    assert counts["test-7"][7] == 120
    for s in ("train", "test"):
        assert counts[s][4:].sum() == 0 and (counts[s][:4] > 15).all()  # 0-3, roughly uniform


def test_cis_conformance_occlusion_and_amodal_masks(small_cis):
    a = read_split(small_cis, "train")
    n = a["num_objects"]
    assert n.min() >= 1 and n.max() <= 4
    assert len(np.unique(n)) == 4
    masks, seg = a["masks"], a["segmentation"]
    for i in range(len(n)):
        k = int(n[i])
        assert not masks[i, k:].any()
        # the visible label of each pixel is the last-drawn (front-most) amodal mask covering it
        m = masks[i, :k]
        covered = m.any(0)
        front = k - np.argmax(m[::-1], axis=0)  # 1-based index of the last True along K
        assert np.array_equal(seg[i], np.where(covered, front, 0))
        vis = np.bincount(seg[i].ravel(), minlength=k + 1)[1:]
        assert np.array_equal(vis, a["objects/visible_pixels"][i, :k])
        assert vis.min() >= 12
        bg = a["image"][i][seg[i] == 0]
        if len(bg):
            assert (bg == bg[0]).all()  # one background color
        shapes = a["objects/shape"][i, :k]
        assert ((shapes >= 0) & (shapes <= 2)).all()
        assert (a["objects/depth"][i, :k] == np.arange(k)).all()
    # random colored backgrounds: many distinct background colors
    assert len({tuple(a["image"][i, 0, 0]) for i in range(len(n)) if seg[i, 0, 0] == 0}) > 50


@pytest.mark.parametrize("family, preset, split", [
    ("multi_dsprites", "lavae", "test-7"), ("multi_dsprites", "cis", "train"), ("multi_texture", "cis", "train"),
])
def test_batch_drawing_equals_one_scene_at_a_time(family, preset, split, monkeypatch):
    """draw_batch gives each sample what draw_scene draws from its own generator, whatever the value budget."""
    import importlib

    from scenebench.datasets import identity
    from scenebench.datasets.schema import Batch
    from scenebench.datasets.shards import SplitDrawer, draw

    spec = resolve(family, preset, num=40)
    ref = draw(spec, split, 0, 40).arrays
    module = importlib.import_module(type(spec.generator()).__module__)
    # a budget of 4 values per sample: almost every scene runs short and is drawn again with more
    monkeypatch.setattr(module, "draw_rows", lambda source, n, budget, fn: identity.draw_rows(source, n, 1, fn))
    assert_same_arrays(ref, draw(spec, split, 0, 40).arrays)
    assert_same_arrays({k: v[7:20] for k, v in ref.items()}, draw(spec, split, 7, 13).arrays)
    drawer = SplitDrawer(spec, split)
    for i in (0, 13, 39):
        batch = Batch(drawer.features, 1)
        drawer.gen.draw_scene(identity.sample_rng(spec.stream_id, spec.seed, split, i), drawer.config, drawer.assets, batch.row(0, i))
        drawer.gen.render_batch(drawer.config, drawer.assets, batch.arrays)
        assert_same_arrays({k: v[i: i + 1] for k, v in ref.items()}, batch.arrays)


def test_shard_drawn_and_written_in_several_batches(tmp_path, monkeypatch):
    from scenebench.datasets import schema

    kw = dict(num=150, shard_size=150, workers=1, splits=["train"])
    one = generate("multi_dsprites", "cis", tmp_path / "one", **kw)
    spec = resolve("multi_dsprites", "cis")
    feats = spec.generator().features(spec.split_config("train"))
    for f in feats:  # a batch is a whole number of chunks of every dataset
        rows = schema.chunk_rows(f, schema.batch_samples(feats))
        assert schema.batch_samples(feats) % rows == 0 and rows & (rows - 1) == 0
    monkeypatch.setattr(schema, "MAX_BATCH_SAMPLES", 64)
    assert schema.batch_samples(feats) == 64  # 64 + 64 + 22 samples
    several = generate("multi_dsprites", "cis", tmp_path / "several", **kw)
    assert_same_arrays(read_split(one, "train"), read_split(several, "train"))
    assert verify(several).ok


@pytest.mark.parametrize("overrides", [{"colors": "hsv", "background": "hsv"}, {"overlap": "true", "colors": "saturated"}])
def test_dsprites_other_color_and_layout_combinations(overrides):
    """Every colors x background x overlap combination paints what it records."""
    from scenebench.datasets.shards import draw

    spec = resolve("multi_dsprites", "lavae", num=40, overrides=overrides)
    cfg = spec.split_config("train")
    a = draw(spec, "train", 0, 40).arrays
    for i in range(40):
        seg, img, bg = a["segmentation"][i], a["image"][i], a["background"][i]
        assert (img[seg == 0] == bg).all()
        for k in range(int(a["num_objects"][i])):
            col = a["objects/color"][i, k]
            assert (col >= 0).all() and (img[seg == k + 1] == col).all()
            if cfg.colors == "hsv":
                assert np.abs(col - bg.astype(int)).max() >= cfg.min_contrast
            if cfg.overlap:
                assert a["masks"][i, k].sum() >= (seg == k + 1).sum() >= cfg.min_visible
    assert len({tuple(c) for c in a["objects/color"].reshape(-1, 3).tolist()}) > (10 if cfg.colors == "hsv" else 3)
