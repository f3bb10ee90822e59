"""Multi-Texture (CIS): conformance of stills and sequences, determinism, config errors."""

import numpy as np
import pytest

from conftest import assert_same_arrays, read_split
from scenebench.datasets.build import generate
from scenebench.errors import ConfigError
from scenebench.generator import resolve
from scenebench.datasets.shards import draw_sample


@pytest.fixture(scope="module")
def mt_cis(tmp_path_factory):
    root = tmp_path_factory.mktemp("mt")
    return generate("multi_texture", "cis", root, num=400, shard_size=150, workers=1, splits=["train"])


@pytest.fixture(scope="module")
def mt_seq(tmp_path_factory):
    root = tmp_path_factory.mktemp("mtseq")
    return generate("multi_texture", "cis-sequences", root, num=24, shard_size=10, workers=1, splits=["test"])


def _check_occlusion(seg, masks, k):
    """The visible label of each pixel is the front-most (last-drawn) amodal mask covering it."""
    assert not masks[k:].any()
    m = masks[:k]
    front = k - np.argmax(m[::-1], axis=0)
    assert np.array_equal(seg, np.where(m.any(0), front, 0))


def test_presets_and_splits():
    spec = resolve("multi_texture", "cis")
    assert {s: v["num_samples"] for s, v in spec.splits.items()} == {"train": 60_000, "test": 10_000}
    seq = resolve("multi_texture", "cis-sequences")
    assert seq.splits["test"]["num_samples"] == 256
    assert seq.split_config("test").num_frames == 20


def test_cis_conformance(mt_cis):
    a = read_split(mt_cis, "train")
    cfg = resolve("multi_texture", "cis").split_config("train")
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


def test_cis_sample_regenerated_alone(mt_cis):
    spec = resolve("multi_texture", "cis", num=400)
    arrays = read_split(mt_cis, "train")
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
    one = generate("multi_texture", "cis", tmp_path / "w1", workers=1, **kw)
    two = generate("multi_texture", "cis", tmp_path / "w2", workers=2, **kw)
    assert_same_arrays(read_split(one, "train"), read_split(two, "train"))
    seq = generate("multi_texture", "cis-sequences", tmp_path / "s2", num=24, shard_size=7, workers=2, splits=["test"])
    assert_same_arrays(read_split(mt_seq, "test"), read_split(seq, "test"))


@pytest.mark.parametrize("preset, key, value, word", [
    ("cis", "count_probs", "0.5,0.5", "count_probs"),
    ("cis", "count_probs", "0.5,0.5,0.5,-0.5", "count_probs"),
    ("cis", "shapes", "square,hexagon", "shapes"),
    ("cis", "cell_size_min", "9", "cell_size"),
    ("cis", "min_visible", "0", "min_visible"),
    ("cis", "num_frames", "1", "num_frames"),
    ("cis", "num_frames", "5", "sequences"),
    ("cis", "background_hue_range", "0.5,0.2", "background_hue_range"),
    ("cis-sequences", "max_objects", "3", "max_objects"),
    ("cis", "palette", "neon", "palette"),
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
