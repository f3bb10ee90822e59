"""Flying Animals ``cis``: the CIS authors' distribution, measured on draws from a pack in the authors' layout.

The fake pack has the authors' exact layout (foregrounds/0..240.png full-canvas 192x256 animals, masks/0..240.png
with an empty padding mask 0, backgrounds/0..100.png): every animal is a textured ellipse centred on the canvas,
on a flat "photo" colour outside its mask. Each distribution fact is measured on a few hundred ``draw_scene``
outputs; the pixels are checked against an independent float64 re-composition (scipy's bilinear
``map_coordinates``) from the stored draws.
"""

import json
import math

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage, stats

from scenebench.datasets.build import generate
from scenebench.datasets.identity import sample_rng
from scenebench.datasets.schema import Batch
from scenebench.datasets.shards import draw_sample, split_assets
from scenebench.errors import ConfigError, ScenebenchError
from scenebench.generator import resolve
from scenebench.registry import get_generator

from scenebench.generators.sources import asset_pack

H, W = 192, 256
NUM_FG, NUM_BG = 240, 100  # the authors' 24 classes x 10 animals, 10 x 10 landscapes (plus padding file 0)
PHOTO = (90, 120, 60)  # foreground colour outside the mask


# ---------------------------------------------------------------- the fake authors' pack
def fake_animal(i: int):
    """Foreground ``i``: (rgb (H, W, 3) uint8, mask (H, W) uint8 0/255), an ellipse centred on the canvas."""
    rng = np.random.default_rng(1000 + i)
    yy, xx = np.mgrid[0:H, 0:W] + 0.5  # pixel centres; the canvas centre is (W/2, H/2)
    rx, ry = rng.uniform(18, 48), rng.uniform(14, 36)
    inside = ((xx - W / 2) / rx) ** 2 + ((yy - H / 2) / ry) ** 2 <= 1
    base = rng.uniform(40, 200, 3)
    tex = 30 * np.sin(xx / rng.uniform(3, 8))[..., None] + 20 * np.cos(yy / rng.uniform(3, 8))[..., None]
    rgb = np.where(inside[..., None], np.clip(base + tex, 0, 255), np.array(PHOTO, float)).astype(np.uint8)
    mask = np.where(inside, 255, 0).astype(np.uint8)
    if i == 0:  # the padding slot: an empty mask
        mask[...] = 0
    return rgb, mask


def fake_background(i: int) -> np.ndarray:
    rng = np.random.default_rng(5000 + i)
    t = np.linspace(0, 1, H)[:, None, None]
    top, bottom = rng.uniform(30, 230, 3), rng.uniform(30, 230, 3)
    img = top * (1 - t) + bottom * t + 15 * np.sin(np.arange(W) / rng.uniform(4, 12))[None, :, None]
    return np.clip(img, 0, 255).astype(np.uint8)


def make_authors_pack(root, num_fg=NUM_FG, num_bg=NUM_BG):
    """The CIS authors' pack layout, as distributed."""
    for d in ("foregrounds", "masks", "backgrounds"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for i in range(num_fg + 1):
        rgb, mask = fake_animal(i)
        Image.fromarray(rgb).save(root / "foregrounds" / f"{i}.png", compress_level=1)
        Image.fromarray(mask).save(root / "masks" / f"{i}.png", compress_level=1)
    for i in range(num_bg + 1):
        Image.fromarray(fake_background(i)).save(root / "backgrounds" / f"{i}.png", compress_level=1)
    return root


@pytest.fixture(scope="module")
def authors_pack(tmp_path_factory):
    return make_authors_pack(tmp_path_factory.mktemp("authors_pack"))


def draws(spec, split, num, images=0):
    """``num`` draw_scene outputs of ``split``: small fields for all, full rows (with pixels) for the first ``images``."""
    c = spec.split_config(split)
    gen = get_generator("flying_animals")
    assets = split_assets(spec, split)
    batch = Batch(gen.features(c), 1)
    small, full = [], []
    for i in range(num):
        row = batch.row(0, i)
        row.reset()
        gen.draw_scene(sample_rng(spec.stream_id, spec.seed, split, i), c, assets, row)
        keys = [k for k in row.keys() if k.startswith(("objects/", "background/")) or k == "num_objects"]
        small.append({k: np.array(row[k]) for k in keys})
        if i < images:
            full.append({k: np.array(row[k]) for k in row.keys()})
    return small, full


@pytest.fixture(scope="module")
def cis(authors_pack):
    spec = resolve("flying_animals", "cis", overrides={"asset_dir": str(authors_pack)})
    small, full = draws(spec, "train", 500, images=24)
    return spec, small, full


def objects(small, key):
    """Every animal's ``key`` value, concatenated over the scenes."""
    return np.concatenate([s[key][: int(s["num_objects"])] for s in small])


# ---------------------------------------------------------------- independent re-composition
def zoom(img, f, dx, dy):
    """``img`` (H, W[, C]) as a float64 inverse zoom by ``f`` about the canvas centre, shifted by (dx, dy)."""
    yy, xx = np.mgrid[0:H, 0:W] + 0.5
    sy = H / 2 + f * (yy - H / 2 - dy) - 0.5  # source coordinates in pixel-index units
    sx = W / 2 + f * (xx - W / 2 - dx) - 0.5
    chans = img[..., None] if img.ndim == 2 else img
    out = np.stack([ndimage.map_coordinates(chans[..., j].astype(np.float64), [sy, sx], order=1,
                                            mode="grid-constant", cval=0.0) for j in range(chans.shape[-1])], -1)
    return out[..., 0] if img.ndim == 2 else out


def recompose(s):
    """(image on 0-255 before rounding, the alphas (n+1, H, W) with the background last, zoomed masks (n, H, W))."""
    n = int(s["num_objects"])
    alphas, masks = [], []
    image = np.zeros((H, W, 3))
    placed = np.zeros((H, W))
    for k in range(n):
        rgb, mask = fake_animal(int(s["objects/asset_id"][k]))
        f, (dx, dy) = float(s["objects/scale"][k]), s["objects/offset"][k].astype(np.float64)
        m = zoom(mask, f, dx, dy) / 255
        fg = zoom(rgb, f, dx, dy) / 255
        a = m * (1 - placed)  # each mask times (1 - the masks already placed): slot 0 in front
        placed += a
        image += a[..., None] * (fg + float(s["objects/brightness"][k]))
        alphas.append(a)
        masks.append(m)
    bg_alpha = 1 - placed
    bg = fake_background(int(s["background/id"])) / 255
    image += bg_alpha[..., None] * (bg + float(s["background/brightness"]))
    return np.clip(image, 0, 1) * 255, np.array(alphas + [bg_alpha]), np.array(masks)


# ---------------------------------------------------------------- the pack layout
def test_authors_pack_layout(authors_pack):
    """foregrounds/0..240 + masks/, backgrounds/0..100: file 0 is padding; class of file i = ceil(i/10) - 1."""
    idx = asset_pack.scan(authors_pack)
    assert idx.layout == "numbered"
    assert idx.foregrounds == tuple(f"{i}.png" for i in range(NUM_FG + 1))  # number order: asset id = file number
    assert idx.backgrounds == tuple(f"{i}.png" for i in range(NUM_BG + 1))
    assert idx.masks == tuple(f"{i}.png" for i in range(NUM_FG + 1))
    assert len(idx.classes) == 24
    assert list(idx.fg_class) == [-1] + [math.ceil(i / 10) - 1 for i in range(1, NUM_FG + 1)]
    assert idx.fg_padding == (True,) + (False,) * NUM_FG and idx.bg_padding == (True,) + (False,) * NUM_BG
    pack = asset_pack.load_directory(authors_pack, 64, H, W)  # the empty padding mask 0 is not an error
    assert pack.canvases[0] is None and all(cv is not None for cv in pack.canvases[1:])
    assert np.bincount(pack.fg_class[1:]).tolist() == [10] * 24
    # a numbered foreground is used as it is: the stored canvas is the file's pixels inside its mask
    rgb, mask = fake_animal(17)
    full = pack.canvases[17].full()
    assert np.array_equal(full[..., 3], mask) and np.array_equal(full[..., :3][mask > 0], rgb[mask > 0])
    assert np.array_equal(pack.backgrounds[42], fake_background(42))
    fg, bg = pack.split_ids("all", 5)
    assert fg.tolist() == list(range(1, NUM_FG + 1)) and bg.tolist() == list(range(1, NUM_BG + 1))
    # the generalisation split: instances 5 and 10 of every class, backgrounds 5, 10, ..., 100
    test_fg, test_bg = pack.split_ids("test", 5)
    train_fg, train_bg = pack.split_ids("train", 5)
    assert test_fg.tolist() == sorted([10 * c + 5 for c in range(24)] + [10 * c + 10 for c in range(24)])
    assert test_bg.tolist() == list(range(5, NUM_BG + 1, 5))
    assert sorted(train_fg.tolist() + test_fg.tolist()) == list(range(1, NUM_FG + 1))
    assert sorted(train_bg.tolist() + test_bg.tolist()) == list(range(1, NUM_BG + 1))
    assert pack.describe()["padding_foreground_ids"] == [0] and pack.describe()["num_foregrounds"] == NUM_FG


def test_cis_draws_from_all_assets_and_heldout_is_its_own_preset(authors_pack):
    spec = resolve("flying_animals", "cis", overrides={"asset_dir": str(authors_pack)})
    for split in ("train", "test"):
        assert spec.split_config(split).asset_split == "all"
        a = split_assets(spec, split)
        assert a.fg_ids.tolist() == list(range(1, NUM_FG + 1)) and a.bg_ids.tolist() == list(range(1, NUM_BG + 1))
    held = resolve("flying_animals", "cis-heldout", overrides={"asset_dir": str(authors_pack)})
    tr, te = split_assets(held, "train"), split_assets(held, "test")
    assert len(tr.fg_ids) == 192 and len(te.fg_ids) == 48 and not set(tr.fg_ids) & set(te.fg_ids)
    assert len(tr.bg_ids) == 80 and len(te.bg_ids) == 20 and not set(tr.bg_ids) & set(te.bg_ids)
    assert held.fingerprint != spec.fingerprint
    # the test split's scenes draw from every asset and differ from train's (their own streams)
    t = draw_sample(spec, "test", 0)
    assert not np.array_equal(t["image"], draw_sample(spec, "train", 0)["image"])


# ---------------------------------------------------------------- the distribution facts
def test_count_animals_and_background_are_uniform(cis):
    spec, small, _ = cis
    n = np.array([int(s["num_objects"]) for s in small])
    freq = np.bincount(n, minlength=6)[1:] / len(n)
    p = np.array([0.01, 0.03, 0.06, 0.10, 0.80])
    assert (np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / len(n)) + 1e-9).all(), freq
    ids = objects(small, "objects/asset_id")
    assert ids.min() >= 1 and ids.max() <= NUM_FG  # file 0 (padding) is never drawn
    assert np.array_equal(objects(small, "objects/class_id"), np.ceil(ids / 10).astype(int) - 1)
    # uniform over the 24 classes and over the 100 backgrounds: chi-square within 5 standard deviations
    cls = np.bincount(objects(small, "objects/class_id"), minlength=24)
    exp = len(ids) / 24
    assert ((cls - exp) ** 2 / exp).sum() < 23 + 5 * math.sqrt(2 * 23), cls
    bgs = np.array([int(s["background/id"]) for s in small])
    assert bgs.min() >= 1 and bgs.max() <= NUM_BG
    counts = np.bincount(bgs, minlength=NUM_BG + 1)[1:]
    exp = len(bgs) / NUM_BG
    assert ((counts - exp) ** 2 / exp).sum() < 99 + 5 * math.sqrt(2 * 99) and (counts > 0).sum() >= 95


def test_scale_is_continuous_uniform_inverse_zoom(cis):
    """f ~ U(0.9, 1.2), continuous; an animal's mask shows at 1/f of its canvas size."""
    _, small, full = cis
    f = objects(small, "objects/scale").astype(np.float64)
    assert f.min() >= 0.9 and f.max() <= 1.2 and len(np.unique(f)) == len(f)
    assert stats.kstest(f, stats.uniform(0.9, 0.3).cdf).pvalue > 1e-3
    assert abs(f.mean() - 1.05) < 5 * 0.3 / math.sqrt(12 * len(f))
    checked = 0
    for s in full:
        for k in range(int(s["num_objects"])):
            x0, y0, x1, y1 = s["objects/bbox"][k]
            if x0 == 0 or y0 == 0 or x1 == W or y1 == H:
                continue  # cut by the canvas border
            _, mask = fake_animal(int(s["objects/asset_id"][k]))
            ys, xs = np.nonzero(mask)
            w0, h0 = xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()
            fk = float(s["objects/scale"][k])
            assert abs((x1 - x0) - w0 / fk) <= 2 and abs((y1 - y0) - h0 / fk) <= 2, (w0, h0, fk, x1 - x0, y1 - y0)
            checked += 1
    assert checked >= 50


def test_offsets_uniform_and_l1_separated(cis):
    """dx ~ U(-112, 112), dy ~ U(-84, 84), each redrawn while within L1 97 px of an earlier one (slot by slot)."""
    _, small, full = cis
    for s in small:
        n = int(s["num_objects"])
        off = s["objects/offset"][:n].astype(np.float64)
        assert (np.abs(off[:, 0]) <= 112).all() and (np.abs(off[:, 1]) <= 84).all()
        d = np.abs(off[:, None] - off[None]).sum(-1)
        assert (d[np.triu_indices(n, 1)] > 97).all(), off
        assert np.isnan(s["objects/offset"][n:]).all()
    # slot 0 is never redrawn: exactly uniform over the box (rejecting whole scenes would push it outwards)
    first = np.array([s["objects/offset"][0] for s in small], np.float64)
    assert stats.kstest(first[:, 0], stats.uniform(-112, 224).cdf).pvalue > 1e-3
    assert stats.kstest(first[:, 1], stats.uniform(-84, 168).cdf).pvalue > 1e-3
    assert abs(np.abs(first[:, 0]).mean() / 112 - 0.5) < 4 * 0.29 / math.sqrt(len(first))
    # the 5th animal of a 5-animal scene: as an independent simulation of the sequential rule places it
    sim = _simulate(20_000, np.random.default_rng(7))
    fifth = np.array([s["objects/offset"][4] for s in small if int(s["num_objects"]) == 5], np.float64)
    for j in range(2):
        assert stats.ks_2samp(fifth[:, j], sim[:, 4, j]).pvalue > 1e-3
    assert np.abs(fifth[:, 0]).mean() / 112 > 0.58  # pushed away from the others (uniform: 0.5)
    # the canvas centre goes to (W/2 + dx, H/2 + dy): the centred ellipse's amodal box is centred there
    for s in full:
        for k in range(int(s["num_objects"])):
            x0, y0, x1, y1 = s["objects/bbox"][k]
            if 0 < x0 and 0 < y0 and x1 < W and y1 < H:
                dx, dy = s["objects/offset"][k]
                assert abs((x0 + x1) / 2 - (W / 2 + dx)) <= 1 and abs((y0 + y1) / 2 - (H / 2 + dy)) <= 1


def _simulate(n, rng):
    """Offsets of n 5-animal scenes by the authors' rule, vectorised over scenes."""
    box = np.array([112.0, 84.0])
    off = np.full((n, 5, 2), np.nan)
    for k in range(5):
        todo = np.arange(n)
        while todo.size:
            cand = (rng.random((todo.size, 2)) * 2 - 1) * box
            ok = (np.abs(cand[:, None] - off[todo, :k]).sum(-1) > 97).all(1)
            off[todo[ok], k] = cand[ok]
            todo = todo[~ok]
    return off


def test_brightness_is_additive_and_drawn_per_animal_and_background(cis):
    _, small, full = cis
    d = objects(small, "objects/brightness").astype(np.float64)
    b = np.array([float(s["background/brightness"]) for s in small])
    for v in (d, b):
        assert v.min() >= -0.36 and v.max() <= 0.36
        assert stats.kstest(v, stats.uniform(-0.36, 0.72).cdf).pvalue > 1e-3
    first = np.array([float(s["objects/brightness"][0]) for s in small])
    assert abs(np.corrcoef(first, b)[0, 1]) < 5 / math.sqrt(len(b))  # drawn separately
    # far from every animal the background is shifted, not scaled: image = bg + 255 delta in R, G and B alike
    for s in full:
        n = int(s["num_objects"])
        far = np.ones((H, W), bool)
        for k in range(n):
            x0, y0, x1, y1 = s["objects/bbox"][k]
            far[max(y0 - 3, 0): y1 + 3, max(x0 - 3, 0): x1 + 3] = False
        bg = fake_background(int(s["background/id"])).astype(np.float64)
        expect = np.clip(bg + 255 * float(s["background/brightness"]), 0, 255)
        assert np.abs(s["image"][far] - expect[far]).max() <= 0.5 + 1e-6


def test_pixels_zorder_and_ground_truth_match_an_independent_composition(cis, authors_pack):
    """Zoom (bilinear, zero fill), shift, the authors' mask scheme with slot 0 in front, additive brightness;
    segmentation = the largest alpha (ties: the front-most object), amodal masks = zoomed mask >= 0.5."""
    spec, _, full = cis
    # and scenes with much occlusion: the same code without the separation rule
    dense = resolve("flying_animals", "cis", overrides={"asset_dir": str(authors_pack), "min_offset_l1": "0",
                                                          "max_offset": "30,20"})
    _, crowded = draws(dense, "train", 8, images=8)
    fronts = 0
    for s in full[:12] + crowded:
        n = int(s["num_objects"])
        ref, alphas, zoomed = recompose(s)
        diff = np.abs(s["image"].astype(np.float64) - ref)
        assert diff.max() <= 0.5 + 1e-3, diff.max()  # the stored value is the rounded composition
        order = np.concatenate([alphas[:n], alphas[n:]])  # objects front to back, then the background
        label = np.argmax(order, 0) + 1
        label[label == n + 1] = 0
        assert (s["segmentation"] == label).mean() > 0.999
        assert (s["masks"][:n] == (zoomed >= 0.5)).mean() > 0.9999
        assert not s["masks"][n:].any()
        # where several animals' masks are solid (and no earlier slot touches the pixel), the earliest is visible
        solid = zoomed > 0.99
        first = np.argmax(solid, 0)
        clear = (np.cumsum(zoomed > 0, 0) == 1)[first, np.arange(H)[:, None], np.arange(W)]
        several = (solid.sum(0) >= 2) & clear
        assert (s["segmentation"][several] == first[several] + 1).all()
        fronts += int(several.sum())
        assert np.array_equal(s["objects/visible_pixels"][:n], np.bincount(s["segmentation"].ravel(),
                                                                           minlength=n + 1)[1:n + 1])
        assert s["objects/depth"][:n].tolist() == list(range(n - 1, -1, -1))
        for k in range(n):
            ys, xs = np.nonzero(s["masks"][k])
            assert s["objects/bbox"][k].tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    assert fronts > 1000  # the crowded scenes do overlap


def test_separation_leaves_little_occlusion(cis):
    """With the L1 rule, pairs of animals rarely overlap (22% did without it)."""
    _, _, full = cis
    pairs = overlapping = 0
    for s in full:
        m = s["masks"][: int(s["num_objects"])]
        for j in range(len(m)):
            for k in range(j):
                pairs += 1
                overlapping += bool((m[j] & m[k]).any())
    assert pairs > 150 and overlapping / pairs < 0.08


# ---------------------------------------------------------------- placement that cannot be found
def test_placement_failure_is_bounded_and_restarts_are_deterministic(authors_pack):
    base = {"asset_dir": str(authors_pack), "min_objects": "5", "count_probs": "1"}
    spec = resolve("flying_animals", "cis", num=4, overrides={**base, "min_offset_l1": "380", "max_redraws": "1",
                                                             "max_attempts": "3"})
    with pytest.raises(ConfigError, match="no placement of 5 animals") as info:
        draw_sample(spec, "train", 0)
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="min_offset_l1"):
        resolve("flying_animals", "cis", overrides={**base, "min_offset_l1": "392"})  # 2 * (112 + 84): impossible
    # two candidates per animal: most scenes restart their placement, and still keep the rule, the same way twice
    spec = resolve("flying_animals", "cis", num=6, overrides={**base, "max_redraws": "2"})
    for i in range(6):
        a, b = draw_sample(spec, "train", i), draw_sample(spec, "train", i)
        assert all(a[k].tobytes() == b[k].tobytes() for k in a)
        off = a["objects/offset"].astype(np.float64)
        d = np.abs(off[:, None] - off[None]).sum(-1)
        assert (d[np.triu_indices(5, 1)] > 97).all()


# ---------------------------------------------------------------- malformed numbered packs
from test_flying_animals import _error as _load_error  # noqa: E402  (one-line AssetPackError of a pack)


def test_malformed_numbered_packs(tmp_path):
    root = make_authors_pack(tmp_path / "p", num_fg=20, num_bg=10)
    assert asset_pack.scan(root).classes == ("class_00", "class_01")
    (root / "classes.txt").write_text("cat\ndog\n")  # a class list names the numbered classes
    assert asset_pack.scan(root).classes == ("cat", "dog")
    (root / "classes.txt").write_text("cat\ndog\nowl\n")
    msg = _load_error(root)
    assert "3 class names for 2 classes" in msg
    (root / "classes.txt").write_text("1.png,cat\n2.png,dog\n")
    assert "takes its classes from the file numbers" in _load_error(root)
    (root / "classes.txt").unlink()
    (root / "foregrounds" / "17.png").rename(tmp_path / "17.png")
    msg = _load_error(root)
    assert "foregrounds/ has no file number 17" in msg and "without gaps" in msg
    (tmp_path / "17.png").rename(root / "foregrounds" / "17.png")
    Image.fromarray(fake_animal(7)[0]).save(root / "foregrounds" / "07.png")
    assert "both have number 7" in _load_error(root)
    (root / "foregrounds" / "07.png").unlink()
    Image.fromarray(np.zeros((H, W), np.uint8)).save(root / "masks" / "5.png")  # only file 0 may be empty
    msg = _load_error(root)
    assert "foregrounds/5.png" in msg and "empty" in msg
    Image.fromarray(fake_animal(5)[1]).save(root / "masks" / "5.png")
    Image.fromarray(np.zeros((96, 128, 3), np.uint8)).save(root / "foregrounds" / "3.png")
    Image.fromarray(np.full((96, 128), 255, np.uint8)).save(root / "masks" / "3.png")
    msg = _load_error(root)
    assert "foregrounds/3.png" in msg and "128x96" in msg and "256x192" in msg and "full-canvas" in msg
    (root / "foregrounds" / "3.png").write_bytes(b"not a png")
    msg = _load_error(root)
    assert "foregrounds/3.png" in msg and "cannot read" in msg
    rgb, mask = fake_animal(3)
    Image.fromarray(rgb).save(root / "foregrounds" / "3.png")
    Image.fromarray(mask).save(root / "masks" / "3.png")
    (root / "foregrounds" / "0.png").write_bytes(b"padding is never read")
    pack = asset_pack.load_directory(root, 64, H, W)
    assert pack.canvases[0] is None and len(pack.canvases) == 21


def test_numbered_pack_generates_the_same_bytes_on_two_workers(authors_pack, tmp_path):
    path = generate("flying_animals", "cis", tmp_path, num=6, shard_size=2, workers=2, splits=["test"],
                    overrides={"asset_dir": str(authors_pack)})
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["assets"]["test"]["layout"] == "numbered"
    assert manifest["assets"]["test"]["foreground_ids"] == list(range(1, NUM_FG + 1))
    from conftest import read_split

    a = read_split(path, "test")
    spec = resolve("flying_animals", "cis", num=6, overrides={"asset_dir": str(authors_pack)})
    for i in range(6):
        alone = draw_sample(spec, "test", i)
        assert all(v.tobytes() == a[k][i].tobytes() for k, v in alone.items())
