"""Multi-Texture (CIS): the authors' stills and grid, the rich stills, sequences, determinism, config errors."""

import colorsys

import numpy as np
import pytest
from scipy import ndimage

from conftest import assert_same_arrays, read_split
from scenebench.datasets.build import generate
from scenebench.datasets.shards import draw, draw_sample, split_assets
from scenebench.errors import ConfigError
from scenebench.generator import resolve
from scenebench.generators import multi_texture as mt
from scenebench.generators.sources import textures

YELLOW, BLUE = (217, 197, 34), (29, 51, 233)


@pytest.fixture(scope="module")
def mt_cis(tmp_path_factory):
    root = tmp_path_factory.mktemp("mt")
    return generate("multi_texture", "cis", root, num=400, shard_size=150, workers=1, splits=["train"])


@pytest.fixture(scope="module")
def cis(mt_cis):
    return read_split(mt_cis, "train")


@pytest.fixture(scope="module")
def mt_rich(tmp_path_factory):
    root = tmp_path_factory.mktemp("mtrich")
    return generate("multi_texture", "cis-rich", root, num=400, shard_size=150, workers=1, splits=["train"])


@pytest.fixture(scope="module")
def mt_seq(tmp_path_factory):
    root = tmp_path_factory.mktemp("mtseq")
    return generate("multi_texture", "cis-sequences", root, num=24, shard_size=10, workers=1, splits=["test"])


@pytest.fixture(scope="module")
def grid():
    spec = resolve("multi_texture", "cis-grid")
    parts = [draw(spec, "test", i, min(1024, 6_560 - i)).arrays for i in range(0, 6_560, 1024)]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _shift_hue(rgb, delta):
    """Reference hue rotation with colorsys (RGB 0-255 in and out, unrounded)."""
    h, s, v = colorsys.rgb_to_hsv(*(np.asarray(rgb, float) / 255))
    return np.array(colorsys.hsv_to_rgb((h + float(delta)) % 1.0, s, v)) * 255


def _luma_stats(rgb):
    luma = np.asarray(rgb, float).mean(-1)
    return luma.std(), np.abs(np.diff(luma, axis=1)).mean(), np.abs(np.diff(luma, axis=0)).mean()


def _reference_render(a, i, plank, H=64, W=64):
    """Sample i of ``a`` redrawn from its stored attributes with scipy.ndimage.shift and colorsys.

    Returns (alpha (K+1, H, W) uint8, image (H, W, 3) float before rounding).
    """
    n, K = int(a["num_objects"][i]), a["masks"].shape[1]
    names = ("ellipse", "square")
    cover = np.zeros((H, W))
    levels = [np.zeros((H, W))]
    tex = []
    yy, xx = np.mgrid[0:H, 0:W]
    parity = (yy // 4 + xx // 4) % 2
    for k in range(n):
        base = mt.authors_mask(names[a["objects/shape"][i, k]], H, W).astype(float)
        own = np.clip(ndimage.shift(base, a["objects/offset"][i, k].astype(float), order=3, mode="constant"), 0, 1)
        cover = cover + own * (1 - cover)
        levels.append(np.minimum(np.rint(cover * 255), 255))
        d = a["objects/hue_shift"][i, k]
        tex.append(np.where(parity[..., None] == 0, _shift_hue(YELLOW, d), _shift_hue(BLUE, d)))
    alpha = np.zeros((K + 1, H, W))
    alpha[0] = 255 - levels[-1]
    for k in range(n):
        alpha[k + 1] = levels[k + 1] - levels[k]
    bg = textures.hue_shift(plank, a["background/hue_shift"][i])
    image = alpha[0][..., None] * bg + sum(alpha[k + 1][..., None] * tex[k] for k in range(n))
    return alpha.astype(np.uint8), image / 255


# ---------------------------------------------------------------- cis: the CIS authors' Multi-Texture
def test_presets_and_splits():
    spec = resolve("multi_texture", "cis")
    assert {s: v["num_samples"] for s, v in spec.splits.items()} == {"train": 60_000, "test": 10_000}
    assert spec.split_config("train").style == "authors"
    rich = resolve("multi_texture", "cis-rich")
    assert {s: v["num_samples"] for s, v in rich.splits.items()} == {"train": 60_000, "test": 10_000}
    assert rich.split_config("train").style == "rich"
    g = resolve("multi_texture", "cis-grid")
    assert {s: v["num_samples"] for s, v in g.splits.items()} == {"test": 6_560}
    assert mt.grid_size(g.split_config("test")) == 9 ** 4 - 1
    seq = resolve("multi_texture", "cis-sequences")
    assert seq.splits["test"]["num_samples"] == 256
    assert seq.split_config("test").num_frames == 20


def test_cis_counts(cis):
    n = cis["num_objects"]
    assert cis["image"].shape == (400, 64, 64, 3) and cis["alpha"].shape == (400, 5, 64, 64)
    freq = np.bincount(n, minlength=5)[1:] / len(n)
    p = np.array([0.03, 0.07, 0.10, 0.80])  # p(1, 2, 3, 4)
    assert (np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / len(n)) + 1e-9).all(), freq
    for i in range(len(n)):
        k = int(n[i])
        assert (cis["objects/shape"][i, :k] >= 0).all() and (cis["objects/shape"][i, k:] == -1).all()
        assert not cis["masks"][i, k:].any() and not cis["alpha"][i, k + 1:].any()


def test_cis_shapes_unscaled_unrotated(cis):
    """Fully visible front objects: an axis-aligned 17x11 ellipse (143 px) or 13x13 square, never scaled."""
    shapes = cis["objects/shape"]
    assert set(np.unique(shapes[shapes >= 0]).tolist()) == {0, 1}  # labels ("ellipse", "square")
    assert 0.4 < (shapes[shapes >= 0] == 0).mean() < 0.6  # chosen uniformly
    seen = {0: 0, 1: 0}
    for i in range(len(shapes)):
        x, y = cis["objects/position"][i, 0]
        if not (14 <= x <= 50 and 12 <= y <= 52):
            continue  # not fully inside the frame, spline tails included
        s = int(shapes[i, 0])
        m = cis["masks"][i, 0]
        ys, xs = np.nonzero(m)
        w, h = xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
        own = cis["alpha"][i, 1].astype(float) / 255  # slot 0 is in front: its alpha is its own
        # soft moments: centred on the stored position, axis-aligned (no cross term), unscaled
        yy, xx = np.mgrid[0:64, 0:64]
        area = own.sum()
        cx, cy = (xx * own).sum() / area, (yy * own).sum() / area
        vx, vy = ((xx - cx) ** 2 * own).sum() / area, ((yy - cy) ** 2 * own).sum() / area
        cxy = ((xx - cx) * (yy - cy) * own).sum() / area
        assert abs(cx - x) < 0.1 and abs(cy - y) < 0.1, (i, (cx, cy), (x, y))  # clipped spline ringing
        assert abs(cxy) < 0.02 * min(vx, vy), (i, cxy)
        if s == 0:
            assert w in (17, 18) and h in (11, 12) and abs(len(xs) - 143) <= 14, (i, w, h, len(xs))
            assert abs(area - 143) < 3 and 2.8 < vx / vy < 3.2, (i, area, vx / vy)
        else:
            assert w in (13, 14) and h in (13, 14) and len(xs) >= (w - 1) * (h - 1), (i, w, h, len(xs))
            assert abs(area - 169) < 3 and abs(vx / vy - 1) < 0.06, (i, area, vx / vy)
            sv = np.linalg.svd(own, compute_uv=False)
            assert sv[1] < 0.01 * sv[0]  # a separable profile: an axis-aligned rectangle
        seen[s] += 1
    assert min(seen.values()) >= 20, seen
    # masks at integer offsets are exactly the authors' shapes
    ell, sq = mt.authors_mask("ellipse", 64, 64), mt.authors_mask("square", 64, 64)
    assert ell.sum() == 143 and ell.sum(0).max() == 11 and ell.sum(1).max() == 17
    assert sq.sum() == 169 and sq.sum(0).max() == 13 and sq.sum(1).max() == 13
    assert np.array_equal(np.argwhere(ell).mean(0), [32, 32]) and np.array_equal(np.argwhere(sq).mean(0), [32, 32])


def test_cis_offsets(cis):
    n, off = cis["num_objects"], cis["objects/offset"]
    pos = cis["objects/position"]
    used = np.arange(4) < n[:, None]
    assert (np.abs(off[used]) < 32).all() and np.abs(off[used]).max() > 30  # U(-32, 32), sub-pixel
    assert (off[used] != np.round(off[used])).mean() > 0.99
    assert np.allclose(pos[used], np.stack([32 + off[used][:, 1], 32 + off[used][:, 0]], -1))
    assert (pos[used] > 0).all() and (pos[used] < 64).all()
    assert np.isnan(off[~used]).all()
    for i in range(len(n)):
        k = int(n[i])
        for a in range(k):
            for b in range(a):
                assert np.abs(off[i, a].astype(float) - off[i, b]).sum() > 10, (i, a, b)
    # objects may be partly out of frame: front objects (alpha = own alpha) cut by the border
    full = np.where(cis["objects/shape"][:, 0] == 0, 143, 169)
    cut = (cis["alpha"][:, 1].astype(float).sum((1, 2)) / 255 < 0.8 * full) & (np.abs(off[:, 0]) > 26).any(1)
    assert cut.sum() >= 10


def test_cis_hue_shifts(cis):
    n = cis["num_objects"]
    used = np.arange(4) < n[:, None]
    h, hb = cis["objects/hue_shift"][used], cis["background/hue_shift"]
    for d in (h, hb):
        assert (np.abs(d) <= 0.45).all() and d.min() < -0.4 and d.max() > 0.4 and abs(d.mean()) < 0.05
    assert len(np.unique(h)) == len(h)  # independent per object
    assert np.isnan(cis["objects/hue_shift"][~used]).all()
    # the two chessboard colors of each object: yellow and blue, hue-rotated by its shift, S and V kept
    for i in range(20):
        for k in range(int(n[i])):
            d = cis["objects/hue_shift"][i, k]
            ref = np.stack([_shift_hue(YELLOW, d), _shift_hue(BLUE, d)])
            assert np.allclose(cis["objects/color"][i, k], ref, atol=1e-3)


def test_cis_texture_fixed_in_image_coordinates(cis):
    """Where an object is fully visible its pixels are the fixed, hue-shifted chessboard at those coordinates."""
    yy, xx = np.mgrid[0:64, 0:64]
    parity = (yy // 4 + xx // 4) % 2
    checked = 0
    for i in range(len(cis["image"])):
        for k in range(int(cis["num_objects"][i])):
            full = cis["alpha"][i, k + 1] == 255
            if not full.any():
                continue
            d = cis["objects/hue_shift"][i, k]
            expect = np.where(parity[..., None] == 0, _shift_hue(YELLOW, d), _shift_hue(BLUE, d))
            assert (np.abs(cis["image"][i][full] - expect[full]) <= 1).all(), (i, k)
            checked += full.sum()
    assert checked > 100_000


def test_cis_reference_render_and_z_order(cis):
    """Alphas and pixels equal an independent redraw (scipy.ndimage.shift, colorsys) from the stored attributes.

    The redraw places slot 0 first, in front: each mask times (1 - the masks already placed).
    """
    plank = mt.plank_for(0, 64, 64)
    for i in range(40):
        alpha, image = _reference_render(cis, i, plank)
        assert np.abs(cis["alpha"][i].astype(int) - alpha).max() <= 1, i
        assert (cis["alpha"][i] != alpha).mean() < 1e-3, i
        assert np.abs(cis["image"][i] - image).max() <= 1.5, i
    # first object in front: where its amodal mask is, it is the visible label; a later one never is
    for i in range(len(cis["image"])):
        seg, m = cis["segmentation"][i], cis["masks"][i]
        assert (seg[m[0]] == 1).all()
        for k in range(1, int(cis["num_objects"][i])):
            assert not (seg[m[0] & m[k]] == k + 1).any()


def test_cis_ground_truth_fields(cis):
    a = cis
    assert a["alpha"].dtype == np.uint8 and (a["alpha"].astype(int).sum(1) == 255).all()
    # hard segmentation: argmax of the alpha layers, ties to the lower layer (background first)
    assert np.array_equal(a["segmentation"], a["alpha"].argmax(1))
    soft = ((a["alpha"] > 0) & (a["alpha"] < 255)).any(1).mean()
    assert soft > 0.05  # soft edges
    for i in range(len(a["image"])):
        k = int(a["num_objects"][i])
        vis = np.bincount(a["segmentation"][i].ravel(), minlength=k + 1)[1:k + 1]
        assert np.array_equal(vis, a["objects/visible_pixels"][i, :k])
        assert (a["objects/depth"][i, :k] == np.arange(k)).all()
        for j in range(k):
            ys, xs = np.nonzero(a["masks"][i, j])
            assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == tuple(a["objects/bbox"][i, j])
        # an unoccluded object's amodal mask is its alpha above 1/2
        assert np.array_equal(a["masks"][i, 0], a["alpha"][i, 1] > 127)


def test_wood_plank_statistics():
    """The procedural plank has the authors' photo statistics: mean RGB, low contrast, horizontal grain."""
    for seed in (0, 1, 2, 12345):
        p = mt.plank_for(seed, 64, 64)
        assert p.shape == (64, 64, 3) and p.dtype == np.uint8
        assert np.abs(p.reshape(-1, 3).mean(0) - (173, 121, 80)).max() < 1.5
        std, gx, gy = _luma_stats(p)
        assert abs(std - 5.7) < 0.3 and abs(gx - 1.0) < 0.15 and abs(gy - 4.4) < 0.3, (seed, std, gx, gy)
    assert not np.array_equal(mt.plank_for(0, 64, 64), mt.plank_for(1, 64, 64))
    # one plank for every dataset seed and split; the manifest records its statistics
    a = split_assets(resolve("multi_texture", "cis", seed=0), "train")
    b = split_assets(resolve("multi_texture", "cis", seed=9), "test")
    assert np.array_equal(a.plank, b.plank) and np.array_equal(a.plank, mt.plank_for(0, 64, 64))
    assert mt.MultiTexture().describe_assets(a)["plank"]["seed"] == 0


def test_cis_background_is_the_hue_shifted_plank(cis):
    plank = mt.plank_for(0, 64, 64)
    for i in range(30):
        bg = cis["alpha"][i, 0] == 255
        d = cis["background/hue_shift"][i]
        expect = np.array([_shift_hue(c, d) for c in plank[bg]])
        assert (np.abs(cis["image"][i][bg] - expect) <= 1).all(), i
        # saturation and value kept: max channel and chroma of the plank
        img = cis["image"][i][bg].astype(int)
        src = plank[bg].astype(int)
        assert (np.abs(img.max(1) - src.max(1)) <= 1).all()
        assert (np.abs((img.max(1) - img.min(1)) - (src.max(1) - src.min(1))) <= 2).all()


def test_cis_sample_regenerated_alone(mt_cis, cis):
    spec = resolve("multi_texture", "cis", num=400)
    for i in (0, 151, 399):
        assert_same_arrays({k: v[i] for k, v in cis.items()}, draw_sample(spec, "train", i))


# ---------------------------------------------------------------- cis-grid: the authors' identity grid
def test_grid_enumeration(grid):
    G = np.arange(-24, 25, 6)
    off = grid["objects/offset"]
    assert off.shape == (6_560, 2, 2) and (grid["num_objects"] == 2).all()
    i = np.arange(6_560)
    # sample i: base-9 digits, the ellipse's row offset fastest, then its column, the square's row, column
    expect = np.stack([np.stack([G[i % 9], G[i // 9 % 9]], -1), np.stack([G[i // 81 % 9], G[i // 729 % 9]], -1)], 1)
    assert np.array_equal(off, expect)
    assert off[0].tolist() == [[-24, -24], [-24, -24]] and off[1].tolist() == [[-18, -24], [-24, -24]]
    assert off[9].tolist() == [[-24, -18], [-24, -24]] and off[81].tolist() == [[-24, -24], [-18, -24]]
    # every combination once, except both objects at offset (24, 24)
    combos = {tuple(o.ravel().tolist()) for o in off}
    assert len(combos) == 6_560 and (24, 24, 24, 24) not in combos
    assert np.array_equal(grid["objects/position"], off[..., ::-1] + 32)
    assert set(np.unique(grid["objects/position"]).tolist()) == set(range(8, 57, 6))
    with pytest.raises(ConfigError, match="6,560"):
        draw_sample(resolve("multi_texture", "cis-grid", num=6_561), "test", 6_560)


def test_grid_objects_and_hues(grid):
    assert (grid["objects/shape"] == [0, 1]).all()  # object 0 the ellipse, object 1 the square
    assert (grid["objects/depth"] == [0, 1]).all()
    assert (grid["background/hue_shift"] == np.float32(-0.2)).all()
    assert (grid["objects/hue_shift"] == np.array([0.0, 0.2], np.float32)).all()
    # integer offsets: hard masks, exactly the authors' shapes
    assert np.isin(grid["alpha"], (0, 255)).all()
    ell, sq = mt.authors_mask("ellipse", 64, 64), mt.authors_mask("square", 64, 64)
    for i in (0, 40, 4_000, 6_559):
        (er, ec), (sr, sc) = grid["objects/offset"][i].astype(int)
        assert np.array_equal(grid["masks"][i, 0], ndimage.shift(ell, (er, ec), order=0))  # zero fill
        assert np.array_equal(grid["masks"][i, 1], ndimage.shift(sq, (sr, sc), order=0))
        assert np.array_equal(grid["alpha"][i, 1] == 255, grid["masks"][i, 0])  # the ellipse is in front
        assert np.array_equal(grid["alpha"][i, 2] == 255, grid["masks"][i, 1] & ~grid["masks"][i, 0])
    alpha, image = _reference_render(grid, 1234, mt.plank_for(0, 64, 64))
    assert np.array_equal(alpha, grid["alpha"][1234]) and np.abs(grid["image"][1234] - image).max() <= 1
    # the ellipse with hue shift 0 shows the chessboard's own colors
    full = grid["alpha"][0, 1] == 255
    assert {tuple(c) for c in grid["image"][0][full]} == {YELLOW, BLUE}


def test_grid_has_no_randomness(tmp_path, grid):
    one = generate("multi_texture", "cis-grid", tmp_path / "a", num=300, shard_size=128, workers=1)
    two = generate("multi_texture", "cis-grid", tmp_path / "b", num=300, seed=77, shard_size=100, workers=2)
    a, b = read_split(one, "test"), read_split(two, "test")
    assert_same_arrays(a, b)
    assert_same_arrays(a, {k: v[:300] for k, v in grid.items()})
    assert_same_arrays({k: v[6_559] for k, v in grid.items()},
                       draw_sample(resolve("multi_texture", "cis-grid", seed=3), "test", 6_559))


# ---------------------------------------------------------------- cis-rich and cis-sequences
def _check_occlusion(seg, masks, k):
    """The visible label of each pixel is the front-most (last-drawn) amodal mask covering it."""
    assert not masks[k:].any()
    m = masks[:k]
    front = k - np.argmax(m[::-1], axis=0)
    assert np.array_equal(seg, np.where(m.any(0), front, 0))


def test_rich_conformance(mt_rich):
    a = read_split(mt_rich, "train")
    cfg = resolve("multi_texture", "cis-rich").split_config("train")
    img, seg, masks, n = a["image"], a["segmentation"], a["masks"], a["num_objects"]
    assert img.shape == (400, 64, 64, 3) and img.dtype == np.uint8
    assert masks.shape == (400, 4, 64, 64)
    # count distribution p(1, 2, 3, 4) = (.03, .07, .10, .80), within 5 binomial sigmas
    freq = np.bincount(n, minlength=5)[1:] / len(n)
    p = np.array(cfg.count_probs)
    assert (np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / len(n)) + 1e-9).all(), freq
    for i in range(len(n)):
        k = int(n[i])
        _check_occlusion(seg[i], masks[i], k)
        vis = np.bincount(seg[i].ravel(), minlength=k + 1)[1:]
        assert np.array_equal(vis, a["objects/visible_pixels"][i, :k])
        assert vis.min() >= cfg.min_visible
        assert (a["objects/depth"][i, :k] == np.arange(k)).all()
        assert set(a["objects/shape"][i, :k].tolist()) <= {0, 1} and (a["objects/shape"][i, k:] == -1).all()
        cells = a["objects/cell_size"][i, :k]
        assert ((cells >= cfg.cell_size_min) & (cells <= cfg.cell_size_max)).all()
        for j in range(k):
            # bbox and position describe the amodal mask
            ys, xs = np.nonzero(masks[i, j])
            x0, y0, x1, y1 = a["objects/bbox"][i, j]
            assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (x0, y0, x1, y1)
            assert np.allclose(a["objects/position"][i, j], ((x0 + x1) / 2, (y0 + y1) / 2))
            # the visible pixels are the chessboard's two colors
            cols = np.unique(img[i][seg[i] == j + 1], axis=0)
            pair = a["objects/color"][i, j].astype(np.uint8)
            assert len(cols) <= 2 and all((c == pair).all(1).any() for c in cols)
        # the wood background is textured: many shades
        bg = img[i][seg[i] == 0]
        if len(bg) > 500:
            assert len(np.unique(bg, axis=0)) > 8
    assert np.isnan(a["objects/scale"][n < 4, 3]).all()
    # random wood colors
    assert len({tuple(c) for c in a["background/color"][:, 1]}) > 300


def test_rich_sample_regenerated_alone(mt_rich):
    spec = resolve("multi_texture", "cis-rich", num=400)
    arrays = read_split(mt_rich, "train")
    for i in (0, 151, 399):
        assert_same_arrays({k: v[i] for k, v in arrays.items()}, draw_sample(spec, "train", i))


def test_sequences(mt_seq):
    a = read_split(mt_seq, "test")
    cfg = resolve("multi_texture", "cis-sequences").split_config("test")
    T = cfg.num_frames
    img, seg, masks = a["image"], a["segmentation"], a["masks"]
    assert img.shape == (24, T, 64, 64, 3) and seg.shape == (24, T, 64, 64) and masks.shape == (24, T, 2, 64, 64)
    assert a["objects/position"].shape == (24, T, 2, 2) and a["objects/visible_pixels"].shape == (24, T, 2)
    assert (a["num_objects"] == 2).all()
    step = cfg.speed_range[1] + cfg.max_curvature * T + 1.5  # rounding and curvature slack
    for i in range(len(img)):
        assert sorted(a["objects/shape"][i].tolist()) == [0, 1]  # one square, one ellipse
        crossed = False
        for t in range(T):
            _check_occlusion(seg[i, t], masks[i, t], 2)
            vis = np.bincount(seg[i, t].ravel(), minlength=3)[1:]
            assert np.array_equal(vis, a["objects/visible_pixels"][i, t]) and vis.min() >= cfg.min_visible
            crossed |= bool((masks[i, t, 0] & masks[i, t, 1]).any())
            # background constant over the sequence
            both = (seg[i, t] == 0) & (seg[i, 0] == 0)
            assert np.array_equal(img[i, t][both], img[i, 0][both])
        assert crossed, f"sequence {i}: the objects never overlap"
        pos = a["objects/position"][i]
        for k in range(2):
            # identity continuity: same sprite every frame, small steps, overlapping masks
            assert (np.linalg.norm(np.diff(pos[:, k], axis=0), axis=-1) <= step).all()
            assert all((masks[i, t, k] & masks[i, t + 1, k]).any() for t in range(T - 1))
            # object k is the same sprite in every frame, translated with its box
            crops = [masks[i, t, k][y0:y1, x0:x1] for t, (x0, y0, x1, y1) in enumerate(a["objects/bbox"][i, :, k])]
            assert all(np.array_equal(crops[0], m) for m in crops)
        # the objects actually move
        assert np.linalg.norm(pos[-1] - pos[0], axis=-1).min() > 5


def test_byte_identical_across_workers(tmp_path, mt_seq):
    kw = dict(num=60, shard_size=25, splits=["train"])
    for preset in ("cis", "cis-rich"):
        one = generate("multi_texture", preset, tmp_path / "w1", workers=1, **kw)
        two = generate("multi_texture", preset, tmp_path / "w2", workers=2, **kw)
        assert_same_arrays(read_split(one, "train"), read_split(two, "train"))
    seq = generate("multi_texture", "cis-sequences", tmp_path / "s2", num=24, shard_size=7, workers=2, splits=["test"])
    assert_same_arrays(read_split(mt_seq, "test"), read_split(seq, "test"))


@pytest.mark.parametrize("preset, key, value, word", [
    ("cis-rich", "count_probs", "0.5,0.5", "count_probs"),
    ("cis-rich", "count_probs", "0.5,0.5,0.5,-0.5", "count_probs"),
    ("cis-rich", "shapes", "square,hexagon", "shapes"),
    ("cis-rich", "cell_size_min", "9", "cell_size"),
    ("cis-rich", "min_visible", "0", "min_visible"),
    ("cis-rich", "num_frames", "1", "num_frames"),
    ("cis-rich", "num_frames", "5", "sequences"),
    ("cis-rich", "background_hue_range", "0.5,0.2", "background_hue_range"),
    ("cis-rich", "layout", "grid", "layout"),
    ("cis-sequences", "max_objects", "3", "max_objects"),
    ("cis-rich", "palette", "neon", "palette"),
    ("cis", "count_probs", "0.5,0.5", "count_probs"),
    ("cis", "shapes", "ellipse,triangle", "shapes"),
    ("cis", "num_frames", "5", "num_frames"),
    ("cis", "hue_shift_range", "-0.6,0.2", "hue_shift_range"),
    ("cis", "min_offset_l1", "40", "min_offset_l1"),
    ("cis", "min_offset_l1", "nan", "min_offset_l1"),
    ("cis", "board_cell", "0", "board_cell"),
    ("cis", "plank_seed", "-1", "plank_seed"),
    ("cis", "height", "16", "height"),
    ("cis-grid", "shapes", "ellipse", "grid"),
    ("cis-grid", "grid_offsets", "40,0", "grid_offsets"),
    ("cis-grid", "grid_offsets", "0", "grid_offsets"),
    ("cis-grid", "grid_hues", "0.1,0.2", "grid_hues"),
])
def test_bad_config(preset, key, value, word):
    with pytest.raises(ConfigError, match=word):
        resolve("multi_texture", preset, overrides={key: value})


def test_texture_primitives():
    import colorsys

    from scenebench.generators.sources import textures

    rng = np.random.default_rng(0)
    h, s, v = rng.random((3, 5000))
    h[:8] = [0, 1 / 6, 2 / 6, 0.5, 4 / 6, 5 / 6, 1.0, 1.25]
    s[:3] = 0
    ref = [[round(x * 255) for x in colorsys.hsv_to_rgb(a % 1.0, b, c)] for a, b, c in zip(h, s, v)]
    assert np.array_equal(textures.hsv_to_rgb(h, s, v), np.array(ref))
    # chessboard: per-object parameters repeated over each object's pixels equal per-pixel parameters
    u, w = (rng.random((2, 3000)) * 40 - 20).astype(np.float32)
    cell, off = np.array([3, 7]), np.array([0.5, 6.0])
    per_pixel = textures.chessboard(u, w, np.repeat(cell, 1500), np.repeat(off, 1500), np.repeat(-off, 1500))
    assert np.array_equal(per_pixel, textures.chessboard(u, w, cell, off, -off, np.array([1500, 1500])))
    c, o = np.repeat(cell, 1500), np.repeat(off, 1500)
    expect = (np.floor((u.astype(float) + o) / c) + np.floor((w.astype(float) - o) / c)) % 2
    assert (per_pixel != expect).sum() <= 10  # float32 rounding may flip a pixel lying on a cell border
    # hue rotation: colorsys's HSV, any scale, hue wraps
    rgb = rng.random((500, 3)) * 255
    d = rng.uniform(-1, 1, 500)
    assert np.allclose(textures.hue_shift(rgb, d), [_shift_hue(c, x) for c, x in zip(rgb, d)], atol=1e-9)
    assert np.allclose(textures.hue_shift(rgb, 0.0), rgb) and np.allclose(textures.hue_shift(rgb, 1.0), rgb)
    board = textures.fixed_chessboard(9, 9, 4)
    assert board[0, 0] == 0 and board[0, 4] == 1 and board[4, 4] == 0 and board[3, 3] == 0
    # cubic-spline translation = scipy.ndimage.shift(order=3, mode="constant")
    assert np.allclose(mt.cardinal_cubic(np.arange(-6, 7.0)), np.arange(-6, 7) == 0, atol=1e-15)
    assets = split_assets(resolve("multi_texture", "cis"), "train")
    off = rng.uniform(-32, 32, (6, 2))
    shp = np.array([0, 1, 0, 1, 0, 1])
    got = mt.shifted_masks(assets, shp, off, 64, 64)
    for j in range(6):
        base = mt.authors_mask(("ellipse", "square")[shp[j]], 64, 64).astype(float)
        ref = np.clip(ndimage.shift(base, off[j], order=3, mode="constant"), 0, 1)
        assert np.abs(got[j] - ref).max() < 1e-5
