"""Flying Animals (CIS): asset packs (reader, validation, held-out split, identity), scenes, determinism.

The authors' distribution measured on a pack in their own layout: ``test_flying_animals_cis.py``.
"""

import json
import shutil

import math

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from conftest import assert_same_arrays, read_split
from scenebench.datasets.build import generate
from scenebench.errors import ConfigError, ScenebenchError
from scenebench.generator import resolve
from scenebench.datasets.identity import sample_rng
from scenebench.registry import get_generator
from scenebench.datasets.schema import Batch
from scenebench.datasets.shards import draw_sample, split_assets

from scenebench.generators.sources import animals, asset_pack

CLASSES = ("bird", "cat", "fish")
INSTANCES = 5


# ---------------------------------------------------------------- tiny packs
def _cutout(rng, h=26, w=34):
    """An RGBA cut-out: a random-colored ellipse with a notch, transparent outside."""
    yy, xx = np.mgrid[0:h, 0:w]
    ry, rx = rng.uniform(0.6, 0.95) * h / 2, rng.uniform(0.6, 0.95) * w / 2
    inside = ((yy - h / 2 + 0.5) / ry) ** 2 + ((xx - w / 2 + 0.5) / rx) ** 2 <= 1
    inside &= ~((xx > w * 0.7) & (yy < h * 0.3))
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[..., :3] = rng.integers(20, 236, 3)
    rgba[..., 3] = np.where(inside, 255, 0)
    return rgba


def make_pack(root, classes=CLASSES, instances=INSTANCES, backgrounds=10, seed=0):
    """foregrounds/<class>/<i>.png (RGBA) and backgrounds/land_<i>.png (RGB) under ``root``."""
    rng = np.random.default_rng(seed)
    for c in classes:
        (root / "foregrounds" / c).mkdir(parents=True, exist_ok=True)
        for i in range(instances):
            Image.fromarray(_cutout(rng), "RGBA").save(root / "foregrounds" / c / f"{i:02d}.png")
    (root / "backgrounds").mkdir(parents=True, exist_ok=True)
    for i in range(backgrounds):
        bg = np.zeros((40, 60, 3), np.uint8)
        bg[...] = rng.integers(0, 256, 3)
        bg[20:] = rng.integers(0, 256, 3)
        Image.fromarray(bg).save(root / "backgrounds" / f"land_{i:02d}.png")
    return root


@pytest.fixture(scope="module")
def pack_dir(tmp_path_factory):
    return make_pack(tmp_path_factory.mktemp("pack"))


def _cis(pack_dir, **more):
    return {"asset_dir": str(pack_dir), **more}


def _check_occlusion(seg, masks, k):
    """Visible labels against the amodal masks (slot 0 in front; labels by the largest alpha, so soft edges of
    overlapping animals may go either way): a pixel inside slot j's mask and away from every earlier slot's mask
    is j's; a pixel labelled j is inside (or next to) j's mask; a pixel away from every mask is background."""
    assert not masks[k:].any()
    near = np.array([ndimage.binary_dilation(m, iterations=2) for m in masks[:k]])
    for j in range(k):
        alone = masks[j] & ~near[:j].any(0)
        assert (seg[alone] == j + 1).all()
        assert near[j][seg == j + 1].all()
    assert (seg[~near.any(0)] == 0).all()


# ---------------------------------------------------------------- presets and identity
def test_presets_resolve_the_pack_hash(pack_dir):
    spec = resolve("flying_animals", "cis", overrides=_cis(pack_dir))
    assert {s: v["num_samples"] for s, v in spec.splits.items()} == {"train": 60_000, "test": 10_000}
    # the authors evaluate on scenes of the training assets: nothing held out
    assert spec.split_config("test").asset_split == "all" and spec.split_config("train").asset_split == "all"
    held = resolve("flying_animals", "cis-heldout", overrides=_cis(pack_dir))
    assert held.split_config("test").asset_split == "test" and held.split_config("train").asset_split == "train"
    assert spec.config["asset_pack"] == asset_pack.content_hash(pack_dir)
    assert spec.config["asset_pack"].startswith("sha256:") and len(spec.config["asset_pack"]) == 71
    c = spec.split_config("train")
    assert (c.height, c.width, c.min_objects, c.max_objects) == (192, 256, 1, 5)
    assert c.count_probs == (0.01, 0.03, 0.06, 0.10, 0.80) and (c.scale_min, c.scale_max) == (0.9, 1.2)
    assert c.max_offset == (112, 84) and c.min_offset_l1 == 97 and c.min_visible == 0
    assert c.brightness_shift == c.background_brightness_shift == (-0.36, 0.36)
    e = resolve("flying_animals", "embedded").split_config("test")
    assert (e.source, e.asset_split, e.max_offset, e.brightness_shift) == ("embedded", "all", c.max_offset,
                                                                          c.brightness_shift)


def test_different_packs_never_share_a_fingerprint(pack_dir, tmp_path, monkeypatch):
    base = resolve("flying_animals", "cis", overrides=_cis(pack_dir))
    other = tmp_path / "other"
    shutil.copytree(pack_dir, other)
    # one changed pixel in one background changes the hash and the fingerprint
    p = other / "backgrounds" / "land_03.png"
    a = np.asarray(Image.open(p)).copy()
    a[0, 0] ^= 1
    Image.fromarray(a).save(p)
    changed = resolve("flying_animals", "cis", overrides=_cis(other))
    assert changed.config["asset_pack"] != base.config["asset_pack"]
    assert changed.fingerprint != base.fingerprint
    # the same pack found through the environment variable: same identity wherever it lies
    copy = tmp_path / "copy"
    shutil.copytree(pack_dir, copy)
    monkeypatch.setenv(asset_pack.ENV_VAR, str(copy))
    a = resolve("flying_animals", "cis")
    monkeypatch.setenv(asset_pack.ENV_VAR, str(pack_dir))
    b = resolve("flying_animals", "cis")
    assert a.config["asset_pack"] == base.config["asset_pack"] and a.fingerprint == b.fingerprint
    # pinning a hash: a pack with another content is refused
    with pytest.raises(ConfigError, match="content hash"):
        resolve("flying_animals", "cis", overrides=_cis(other, asset_pack=base.config["asset_pack"]))
    assert resolve("flying_animals", "cis", overrides=_cis(pack_dir, asset_pack=base.config["asset_pack"])) \
        .fingerprint == base.fingerprint


def test_config_errors(pack_dir):
    for key, value, match in [("holdout_every", "1", "holdout_every"), ("object_size", "200", "object_size"),
                              ("count_probs", "0.5,0.5", "count_probs"), ("asset_pack", "md5:abc", "asset_pack"),
                              ("background_brightness_shift", "0.5,1.5", "background_brightness_shift"),
                              ("brightness_shift", "0.3,-0.3", "brightness_shift"),
                              ("max_offset", "300,10", "max_offset"), ("min_offset_l1", "-1", "min_offset_l1"),
                              ("min_offset_l1", "400", "min_offset_l1"), ("max_redraws", "0", "max_redraws"),
                              ("min_visible", "-1", "min_visible"), ("scale_min", "0", "scale_min")]:
        with pytest.raises(ConfigError, match=match) as info:
            resolve("flying_animals", "cis", overrides=_cis(pack_dir, **{key: value}))
        assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="asset_dir"):
        resolve("flying_animals", "embedded", overrides={"asset_dir": str(pack_dir)})
    with pytest.raises(ConfigError, match="num_scales"):  # a field of 1.1.0, gone
        resolve("flying_animals", "cis", overrides=_cis(pack_dir, num_scales="16"))


# ---------------------------------------------------------------- pack validation
def _error(root):
    with pytest.raises(ScenebenchError) as info:
        spec = resolve("flying_animals", "cis", overrides={"asset_dir": str(root)})
        split_assets(spec, "train")
    msg = str(info.value)
    assert "\n" not in msg and isinstance(info.value, asset_pack.AssetPackError)
    return msg


def test_validation_missing_dir_and_folders(tmp_path, monkeypatch):
    assert "not found" in _error(tmp_path / "nowhere") and "embedded" in _error(tmp_path / "nowhere")
    monkeypatch.delenv(asset_pack.ENV_VAR, raising=False)
    monkeypatch.setenv("SCENEBENCH_CACHE", str(tmp_path / "cache"))
    with pytest.raises(asset_pack.AssetPackError, match=asset_pack.ENV_VAR):
        resolve("flying_animals", "cis")
    root = make_pack(tmp_path / "p")
    shutil.rmtree(root / "backgrounds")
    assert "missing folder backgrounds/" in _error(root)
    (root / "backgrounds").mkdir()
    (root / "backgrounds" / "notes.txt").write_text("no images here")
    assert "backgrounds/ holds no" in _error(root)
    shutil.rmtree(root / "foregrounds")
    assert "missing folder foregrounds/" in _error(root)
    (root / "file").write_text("x")
    assert "not a directory" in _error(root / "file")


def test_validation_bad_images(tmp_path):
    root = make_pack(tmp_path / "p")
    (root / "backgrounds" / "land_03.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    msg = _error(root)
    assert "land_03.png" in msg and "cannot read" in msg
    root = make_pack(tmp_path / "q")
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(root / "foregrounds" / "cat" / "01.png")  # RGB, no mask
    msg = _error(root)
    assert "cat/01.png" in msg and "no alpha channel" in msg and "masks/cat/01.png" in msg
    Image.fromarray(np.full((10, 10, 4), 255, np.uint8), "RGBA").save(root / "foregrounds" / "cat" / "01.png")
    assert "fully opaque" in _error(root)
    Image.fromarray(np.zeros((10, 10, 4), np.uint8), "RGBA").save(root / "foregrounds" / "cat" / "01.png")
    assert "empty" in _error(root)


def test_masks(tmp_path):
    root = make_pack(tmp_path / "p", classes=("cat",), instances=5, backgrounds=5)
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[..., 0] = 200
    Image.fromarray(rgb).save(root / "foregrounds" / "cat" / "05.jpg")  # a JPEG needs a mask
    assert "05.jpg" in _error(root) and "no alpha channel" in _error(root)
    (root / "masks" / "cat").mkdir(parents=True)
    Image.fromarray(np.ones((21, 30), np.uint8)).save(root / "masks" / "cat" / "05.png")
    msg = _error(root)
    assert "masks/cat/05.png" in msg and "30x21" in msg and "30x20" in msg and "same size" in msg
    m = np.zeros((20, 30), np.uint8)
    m[5:15, 5:25] = 1  # a 0/1 label mask
    Image.fromarray(m).save(root / "masks" / "cat" / "05.png")
    index = asset_pack.scan(root)
    assert index.masks[index.foregrounds.index("cat/05.jpg")] == "cat/05.png"
    assert index.masks[index.foregrounds.index("cat/04.png")] == ""
    rgba = asset_pack.read_foreground(root, "cat/05.jpg", "cat/05.png")
    assert rgba.shape == (20, 30, 4) and set(np.unique(rgba[..., 3])) == {0, 255}
    assert (rgba[..., 3] == 255).sum() == 200
    Image.fromarray(rgb).save(root / "foregrounds" / "cat" / "04.jpg")
    assert "share the name cat/04" in _error(root)


def test_classes_files(tmp_path):
    root = make_pack(tmp_path / "p", classes=("cat",), instances=3, backgrounds=5)
    for name in ("dog_01", "dog_02", "ant3"):  # top-level files: class = stem without its number
        Image.fromarray(_cutout(np.random.default_rng(1)), "RGBA").save(root / "foregrounds" / f"{name}.png")
    idx = asset_pack.scan(root)
    assert idx.classes == ("ant", "cat", "dog") and idx.class_file == ""
    assert [idx.classes[c] for c in idx.fg_class] == ["ant", "cat", "cat", "cat", "dog", "dog"]
    (root / "classes.txt").write_text("dog\ncat\nant\nzebra\n")  # a class list fixes the ids
    idx = asset_pack.scan(root)
    assert idx.classes == ("dog", "cat", "ant", "zebra") and idx.class_file == "classes.txt"
    (root / "classes.txt").unlink()
    (root / "classes.json").write_text(json.dumps({"big": ["cat/00.png", "cat/01.png", "dog_01.png"],
                                                   "small": ["cat/02", "dog_02.png", "foregrounds/ant3.png"]}))
    idx = asset_pack.scan(root)
    assert idx.classes == ("big", "small") and list(idx.fg_class) == [1, 0, 0, 1, 0, 1]
    (root / "classes.json").unlink()
    (root / "classes.csv").write_text("file,class\ncat/00.png,a\ncat/01.png,a\n")
    assert "no class for foregrounds/ant3.png" in _error(root)
    (root / "classes.csv").write_text("cat/00.png,a\nmissing.png,b\n")
    assert "'missing.png' is not a file under foregrounds/" in _error(root)
    (root / "classes.csv").write_text("cat\n")
    assert "class 'ant'" in _error(root) and "not in the class list" in _error(root)
    (root / "classes.txt").write_text("cat\n")
    assert "several classes files" in _error(root)


# ---------------------------------------------------------------- held-out split
def test_held_out_split_is_disjoint(pack_dir):
    pack = asset_pack.load_directory(pack_dir, 40, 192, 256)
    train_fg, train_bg = pack.split_ids("train", 5)
    test_fg, test_bg = pack.split_ids("test", 5)
    assert not set(train_fg) & set(test_fg) and not set(train_bg) & set(test_bg)
    assert sorted([*train_fg, *test_fg]) == list(range(len(CLASSES) * INSTANCES))
    assert sorted([*train_bg, *test_bg]) == list(range(10))
    # the 5th instance of every class (file-name order) and backgrounds 4 and 9 are held out
    assert [pack.fg_names[i] for i in test_fg] == [f"{c}/04.png" for c in CLASSES]
    assert [pack.bg_names[i] for i in test_bg] == ["land_04.png", "land_09.png"]
    assert np.bincount(pack.fg_class[train_fg]).tolist() == [4, 4, 4]
    all_fg, _ = pack.split_ids("all", 5)
    shared, _ = pack.split_ids("test", 0)
    assert len(all_fg) == len(shared) == 15
    with pytest.raises(asset_pack.AssetPackError, match="holdout_every=0"):
        pack.split_ids("test", 6)  # no class has 6 instances


def test_heldout_preset_holds_out_instances(pack_dir):
    """cis-heldout: the test split draws only every 5th instance of each class (and every 5th background)."""
    spec = resolve("flying_animals", "cis-heldout", overrides=_cis(pack_dir))
    pack = asset_pack.load_directory(pack_dir, 64, 192, 256)
    test, train = split_assets(spec, "test"), split_assets(spec, "train")
    assert [pack.fg_names[i] for i in test.fg_ids] == [f"{c}/04.png" for c in CLASSES]
    assert [pack.bg_names[i] for i in test.bg_ids] == ["land_04.png", "land_09.png"]
    assert len(train.fg_ids) == 12 and not set(train.fg_ids) & set(test.fg_ids)
    n = 12
    ids = {int(i) for j in range(n) for i in draw_sample(spec, "test", j)["objects/asset_id"] if i >= 0}
    assert ids <= set(test.fg_ids.tolist())


@pytest.fixture(scope="module")
def cis_data(pack_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("fa_cis")
    return generate("flying_animals", "cis", root, num=40, shard_size=15, workers=1, overrides=_cis(pack_dir))


def test_cis_run_conformance(cis_data, pack_dir):
    manifest = json.loads((cis_data / "manifest.json").read_text())
    assets = manifest["assets"]
    assert assets["train"]["sha256"] == asset_pack.content_hash(pack_dir)
    assert assets["train"]["classes"] == list(CLASSES) and assets["train"]["source"] == "directory"
    assert assets["train"]["layout"] == "cutouts" and assets["train"]["cutout_longest_side"] == 64
    # cis: both splits draw from every asset
    assert assets["test"]["foreground_ids"] == assets["train"]["foreground_ids"] == list(range(15))
    pack = asset_pack.load_directory(pack_dir, 64, 192, 256)
    for split in ("train", "test"):
        a = read_split(cis_data, split)
        n = a["num_objects"]
        assert a["image"].shape == (40, 192, 256, 3) and a["image"].dtype == np.uint8
        assert a["segmentation"].dtype == np.uint8 and a["masks"].shape == (40, 5, 192, 256)
        assert a["masks"].dtype == bool and n.dtype == np.uint8 and set(n) <= {1, 2, 3, 4, 5}
        assert a["objects/offset"].shape == (40, 5, 2) and a["objects/offset"].dtype == np.float32
        for i in range(40):
            k = int(n[i])
            aid = a["objects/asset_id"][i]
            assert set(aid[:k]) <= set(range(15)) and (aid[k:] == -1).all()
            assert np.array_equal(a["objects/class_id"][i, :k], pack.fg_class[aid[:k]])
            assert 0 <= int(a["background/id"][i]) < 10
            _check_occlusion(a["segmentation"][i], a["masks"][i], k)


def _warped_box(pack, aid, f, dx, dy, c, alpha=0.5):
    """(x0, y0, x1, y1) where canvas ``aid``'s pixels with mask >= ``alpha`` (0: > 0) land, zoomed and shifted."""
    full = pack.canvases[aid].full()[..., 3].astype(np.float64) / 255
    ys, xs = np.nonzero(full >= alpha if alpha else full > 0)
    cx, cy = c.width / 2, c.height / 2
    return (cx + (xs.min() - cx) / f + dx, cy + (ys.min() - cy) / f + dy,
            cx + (xs.max() + 1 - cx) / f + dx, cy + (ys.max() + 1 - cy) / f + dy)


def _check_scenes(a, c, pack):
    """Per-sample checks of a split read back (``a``) against its config ``c`` and its pack."""
    n = a["num_objects"]
    for i in range(len(n)):
        k = int(n[i])
        seg, masks = a["segmentation"][i], a["masks"][i]
        _check_occlusion(seg, masks, k)
        vis = np.bincount(seg.ravel(), minlength=k + 1)[1:]
        assert len(vis) == k and np.array_equal(vis, a["objects/visible_pixels"][i, :k])
        assert (a["objects/depth"][i, :k] == np.arange(k - 1, -1, -1)).all() and (a["objects/depth"][i, k:] == -1).all()
        f = a["objects/scale"][i].astype(np.float64)
        assert ((f[:k] >= c.scale_min) & (f[:k] <= c.scale_max)).all() and np.isnan(f[k:]).all()
        off = a["objects/offset"][i].astype(np.float64)
        assert (np.abs(off[:k]) <= c.max_offset).all() and np.isnan(off[k:]).all()
        d = np.abs(off[:k, None] - off[None, :k]).sum(-1)
        assert (d[np.triu_indices(k, 1)] > c.min_offset_l1).all()
        b = a["objects/brightness"][i, :k]
        assert ((b >= c.brightness_shift[0]) & (b <= c.brightness_shift[1])).all()
        bb = float(a["background/brightness"][i])
        assert c.background_brightness_shift[0] <= bb <= c.background_brightness_shift[1]
        far = np.ones(seg.shape, bool)
        for j in range(k):
            ys, xs = np.nonzero(masks[j])
            x0, y0, x1, y1 = a["objects/bbox"][i, j]
            assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (x0, y0, x1, y1)
            assert np.allclose(a["objects/position"][i, j], ((x0 + x1) / 2, (y0 + y1) / 2))
            # the canvas is zoomed by 1/f about its centre and the centre moved by (dx, dy) (a 1-pixel thin tip of
            # an animal can fall below 0.5 in the bilinear zoom: 3 px of slack)
            aid = int(a["objects/asset_id"][i, j])
            ex0, ey0, ex1, ey1 = _warped_box(pack, aid, f[j], *off[j], c)
            if x0 > 0 and y0 > 0 and x1 < c.width and y1 < c.height:
                assert max(abs(x0 - ex0), abs(y0 - ey0), abs(x1 - ex1), abs(y1 - ey1)) <= 3, (x0, y0, x1, y1, ex0)
            wx0, wy0, wx1, wy1 = _warped_box(pack, aid, f[j], *off[j], c, alpha=0)
            far[max(int(wy0) - 2, 0): int(wy1) + 3, max(int(wx0) - 2, 0): int(wx1) + 3] = False
        # away from every animal: the landscape plus 255 x its brightness shift (additive), rounded and clipped
        ref = pack.backgrounds[int(a["background/id"][i])].astype(np.float64)
        expect = np.clip(ref + 255 * bb, 0, 255)
        assert far.sum() > 1000
        assert np.abs(a["image"][i][far] - expect[far]).max() <= 0.5 + 1e-4


def test_cis_scenes(cis_data, pack_dir):
    spec = resolve("flying_animals", "cis", overrides=_cis(pack_dir))
    pack = asset_pack.load_directory(pack_dir, 64, 192, 256)
    for split in ("train", "test"):
        _check_scenes(read_split(cis_data, split), spec.split_config(split), pack)


def test_cis_deterministic_across_workers_and_alone(cis_data, pack_dir, tmp_path):
    other = generate("flying_animals", "cis", tmp_path, num=40, shard_size=7, workers=2, overrides=_cis(pack_dir))
    for split in ("train", "test"):
        assert_same_arrays(read_split(cis_data, split), read_split(other, split))
    manifest = json.loads((cis_data / "manifest.json").read_text())
    assert manifest["splits"]["train"]["shards"][0]["sha256"] != manifest["splits"]["test"]["shards"][0]["sha256"]
    spec = resolve("flying_animals", "cis", num=40, overrides=_cis(pack_dir))
    a = read_split(cis_data, "test")
    alone = draw_sample(spec, "test", 33)
    for key, value in alone.items():
        assert value.tobytes() == a[key][33].tobytes(), key


def test_animals_drawn_with_replacement(pack_dir):
    """Counts p(5, 4, 3, 2, 1) = (.8, .1, .06, .03, .01) and animals uniform with replacement: with 15 assets a
    scene repeats an animal as often as independent draws do (400 direct draws, within 5 binomial sigmas)."""
    spec = resolve("flying_animals", "cis", overrides=_cis(pack_dir))
    c = spec.split_config("train")
    gen = get_generator("flying_animals")
    assets = split_assets(spec, "train")
    batch = Batch(gen.features(c), 1)
    counts, repeats, ids = [], [], []
    for i in range(400):
        row = batch.row(0, i)
        row.reset()
        gen.draw_scene(sample_rng(spec.stream_id, 7, "train", i), c, assets, row)
        k = int(row["num_objects"])
        counts.append(k)
        repeats.append(len(set(row["objects/asset_id"][:k].tolist())) < k)
        ids += row["objects/asset_id"][:k].tolist()
    N = len(counts)
    freq = np.bincount(counts, minlength=6)[1:] / N
    p = np.array(c.count_probs)
    assert (np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / N) + 1e-9).all(), freq
    q = sum(pk * (1 - math.prod(1 - j / 15 for j in range(k))) for k, pk in enumerate(p, start=1))
    assert abs(np.mean(repeats) - q) <= 5 * math.sqrt(q * (1 - q) / N), (np.mean(repeats), q)
    per = np.bincount(ids, minlength=15)
    exp = len(ids) / 15
    assert ((per - exp) ** 2 / exp).sum() < 14 + 5 * math.sqrt(28), per


def test_impossible_visibility_is_a_config_error(pack_dir):
    spec = resolve("flying_animals", "cis", num=2, overrides=_cis(pack_dir, height=48, width=48, object_size=36,
                                                                  max_objects=1, count_probs="1", min_visible=1000,
                                                                  max_offset="10,10", max_attempts=3))
    with pytest.raises(ConfigError, match="no placement") as info:
        draw_sample(spec, "train", 0)
    assert "1000 visible pixels" in str(info.value) and "\n" not in str(info.value)
    # a reachable minimum: every animal keeps it (the placement is redrawn)
    spec = resolve("flying_animals", "cis", num=2, overrides=_cis(pack_dir, min_visible=300, max_offset="40,30",
                                                                  min_offset_l1=10))
    for i in range(6):
        s = draw_sample(spec, "train", i)
        k = int(s["num_objects"])
        assert (s["objects/visible_pixels"][:k] >= 300).all()


def test_cutouts_become_centred_canvases(pack_dir):
    """A cut-out pack's animals are centred on a transparent canvas with their longest side object_size."""
    pack = asset_pack.load_directory(pack_dir, 50, 192, 256)
    assert pack.layout == "cutouts" and pack.object_size == 50
    for cv in pack.canvases:
        full = cv.full()
        assert full.shape == (192, 256, 4)
        ys, xs = np.nonzero(full[..., 3])
        assert max(ys.max() + 1 - ys.min(), xs.max() + 1 - xs.min()) == 50
        assert abs((ys.min() + ys.max() + 1) / 2 - 96) <= 0.5 and abs((xs.min() + xs.max() + 1) / 2 - 128) <= 0.5
        # colours extend past the silhouette (no dark fringe when colour and mask are zoomed separately)
        edge = ndimage.binary_dilation(full[..., 3] > 0) & (full[..., 3] == 0)
        assert (full[..., :3][edge].max(1) > 0).all()


def test_cli_missing_pack(cli, tmp_path, monkeypatch):
    monkeypatch.delenv(asset_pack.ENV_VAR, raising=False)
    monkeypatch.setenv("SCENEBENCH_CACHE", str(tmp_path / "cache"))
    r = cli("generate", "flying_animals", "--preset", "cis", "--num", "2", "--out", tmp_path / "out")
    assert r.exit_code == 2
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "asset pack not found" in lines[0]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.h5"))


# ---------------------------------------------------------------- embedded pack
def test_embedded_pack_contents():
    assert len(animals.CLASSES) >= 24 and animals.INSTANCES >= 10
    assert len(animals.LANDSCAPES) * animals.BACKGROUNDS_PER_KIND >= 10
    pack = asset_pack.embedded_pack(64, 192, 256)
    assert pack.layout == "embedded" and not pack.fg_padding.any() and not pack.bg_padding.any()
    assert len(pack.classes) == len(animals.CLASSES) and len(set(pack.classes)) == len(pack.classes)
    assert np.bincount(pack.fg_class).tolist() == [animals.INSTANCES] * len(animals.CLASSES)
    assert pack.backgrounds.shape == (len(animals.LANDSCAPES) * animals.BACKGROUNDS_PER_KIND, 192, 256, 3)
    # backgrounds are textured landscapes, not flat colors; every pair differs
    assert (pack.backgrounds.reshape(len(pack.backgrounds), -1, 3).std(1).mean(1) > 10).all()
    assert len({b.tobytes() for b in pack.backgrounds}) == len(pack.backgrounds)
    # the animals as the authors' assets are: full canvases with the animal at the centre, its longest side 64 px,
    # a solid silhouette with a soft edge, and varied shapes per class
    shapes = []
    for cv in pack.canvases:
        a = cv.full()[..., 3]
        ys, xs = np.nonzero(a)
        h, w = ys.max() + 1 - ys.min(), xs.max() + 1 - xs.min()
        assert max(h, w) == 64 and (a == 255).sum() > 150 and ((a > 0) & (a < 255)).any()
        assert abs((ys.min() + ys.max() + 1) / 2 - 96) <= 0.5 and abs((xs.min() + xs.max() + 1) / 2 - 128) <= 0.5
        shapes.append(w / h)
    aspect = np.array(shapes).reshape(len(pack.classes), -1).mean(1)
    assert aspect.max() / aspect.min() > 2.5  # e.g. snakes and sharks vs owls and penguins
    # deterministic: drawn again from the fixed seeds, the same bytes
    assert np.array_equal(animals.draw_animal("zebra", 3), animals.draw_animal("zebra", 3))
    assert np.array_equal(animals.landscape("lake", 2, 48, 64), animals.landscape("lake", 2, 48, 64))
    assert asset_pack.embedded_hash(192, 256) == pack.sha256


def test_embedded_run(tmp_path):
    path = generate("flying_animals", "embedded", tmp_path, num=12, shard_size=5, workers=1)
    spec = resolve("flying_animals", "embedded", num=12)
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["identity"]["config"]["asset_pack"] == manifest["assets"]["train"]["sha256"]
    pack = asset_pack.embedded_pack(64, 192, 256)
    everything = list(range(len(pack.fg_names)))
    for split in ("train", "test"):
        a = read_split(path, split)
        _check_scenes(a, spec.split_config(split), pack)
        assert manifest["assets"][split]["foreground_ids"] == everything  # the same sampling as cis
    assert (path / "preview.png").is_file()
    a = read_split(path, "train")
    alone = draw_sample(spec, "train", 7)
    for key, value in alone.items():
        assert value.tobytes() == a[key][7].tobytes(), key


def test_embedded_deterministic_across_workers_fast(tmp_path):
    a = generate("flying_animals", "embedded", tmp_path / "a", num=6, shard_size=3, workers=1, splits=["train"])
    b = generate("flying_animals", "embedded", tmp_path / "b", num=6, shard_size=2, workers=2, splits=["train"])
    assert_same_arrays(read_split(a, "train"), read_split(b, "train"))


@pytest.mark.slow
def test_embedded_deterministic_across_workers(tmp_path):
    a = generate("flying_animals", "embedded", tmp_path / "a", num=30, shard_size=7, workers=1)
    b = generate("flying_animals", "embedded", tmp_path / "b", num=30, shard_size=11, workers=2)
    for split in ("train", "test"):
        assert_same_arrays(read_split(a, split), read_split(b, split))
