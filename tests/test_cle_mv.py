"""CLE-MV multi-view generator: schema, exact segmentation/amodal masks/depth, cameras, determinism, errors."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import assert_same_arrays, read_split
from scenebench.datasets.build import generate
from scenebench.errors import ConfigError
from scenebench.generator import resolve
from scenebench.generators import cle_mv
from scenebench.generators.sources import meshes, scene3d
from scenebench.datasets.shards import draw_sample

V, K, H, W = 10, 5, 64, 64


@pytest.fixture(scope="module")
def cm(tmp_path_factory):
    root = tmp_path_factory.mktemp("cm")
    return generate("cle_mv", "cle-mv", root, num=4, shard_size=2, workers=1, splits=["train"])


@pytest.fixture(scope="module")
def cm_data(cm):
    return read_split(cm, "train")


def test_presets_and_features():
    spec = resolve("cle_mv", "cle-mv")
    assert {s: v["num_samples"] for s, v in spec.splits.items()} == {"train": 1_500, "test": 200}
    c = spec.split_config("train")
    assert (c.min_objects, c.max_objects, c.num_views, c.height, c.width) == (2, 5, 10, 64, 64)
    assert c.shapes == ("cube", "sphere", "cylinder") and c.materials == ("rubber", "metal")
    assert c.colors == ("gray", "red", "blue", "green", "brown", "purple", "cyan", "yellow")
    assert meshes.CLEVR_COLORS["cyan"] == (41, 208, 208) and meshes.CLEVR_COLORS["yellow"] == (255, 238, 51)
    dol_spec = resolve("cle_mv", "dolphin")
    assert {s: v["num_samples"] for s, v in dol_spec.splits.items()} == {"train": 3_000, "test": 200}  # LDS
    dol = dol_spec.split_config("train")
    assert dol.placement == "boxes" and c.placement == "circles"
    assert set(c.shapes) < set(dol.shapes)
    assert len(set(dol.shapes) - set(meshes.PRIMITIVES)) >= 6


def test_schema(cm_data):
    a = cm_data
    expect = {"image": ((4, V, H, W, 3), np.uint8), "segmentation": ((4, V, H, W), np.uint8),
              "masks": ((4, V, K, H, W), np.bool_), "depth": ((4, V, H, W), np.float32),
              "num_objects": ((4,), np.uint8), "camera/world_to_camera": ((4, V, 4, 4), np.float32),
              "camera/intrinsics": ((4, V, 3, 3), np.float32), "camera/azimuth": ((4, V), np.float32),
              "camera/elevation": ((4, V), np.float32), "camera/distance": ((4, V), np.float32),
              "objects/position": ((4, K, 3), np.float32), "objects/rotation": ((4, K), np.float32),
              "objects/shape": ((4, K), np.int8), "objects/visible_pixels": ((4, V, K), np.int32)}
    for name, (shape, dtype) in expect.items():
        assert a[name].shape == shape and a[name].dtype == dtype, name
    n = a["num_objects"]
    assert ((n >= 2) & (n <= 5)).all()
    for i, k in enumerate(n):
        for name in ("objects/shape", "objects/color", "objects/material", "objects/size"):
            assert (a[name][i, :k] >= 0).all() and (a[name][i, k:] == -1).all(), name
        assert np.isnan(a["objects/position"][i, k:]).all() and not a["masks"][i, :, k:].any()
        names = list(meshes.CLEVR_COLORS)
        rgb = [meshes.CLEVR_COLORS[names[c]] for c in a["objects/color"][i, :k]]
        assert np.array_equal(a["objects/rgb"][i, :k], rgb)
        # objects rest on the ground, inside the placement disk, bounding circles apart
        pos, fp = a["objects/position"][i, :k].astype(np.float64), a["objects/footprint"][i, :k]
        assert (pos[:, 2] > 0).all() and (np.hypot(pos[:, 0], pos[:, 1]) <= 2.5 + 1e-5).all()
        d = np.hypot(*(pos[:, None, :2] - pos[None, :, :2]).transpose(2, 0, 1))
        gap = d - fp[:, None] - fp[None, :]
        assert (gap[~np.eye(k, dtype=bool)] >= 0.25 - 1e-5).all()
    # the images are CLEVR-like: a gray ground with shading and colored objects
    img = a["image"].astype(int)
    assert 60 < img[a["segmentation"] == 0].mean() < 200
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 500


def test_segmentation_masks_depth_consistent(cm_data):
    a = cm_data
    cfg = resolve("cle_mv", "cle-mv").split_config("train")
    for i, k in enumerate(a["num_objects"]):
        seg, masks, depth = a["segmentation"][i], a["masks"][i], a["depth"][i]
        assert seg.max() <= k
        labels = np.arange(1, K + 1)[None, :, None, None]
        # a pixel labelled j is inside amodal mask j
        assert not ((seg[:, None] == labels) & ~masks).any()
        # a pixel covered by some amodal mask shows an object (the ground never hides one)
        assert np.array_equal(masks.any(1), seg > 0)
        vis = np.stack([np.bincount(s.ravel(), minlength=K + 1)[1:] for s in seg])
        assert np.array_equal(vis[:, :k], a["objects/visible_pixels"][i, :, :k])
        # every object is visible enough in enough views (placements are redrawn otherwise)
        assert cle_mv._visibility_score(cfg, seg, masks, k)[0] == k
        # depth: positive wherever the ground or an object is hit, nearer for objects than the ground
        assert (depth > 0).all() and (depth < 400).all()
        # amodal boxes match the masks
        for v in range(V):
            for j in range(k):
                ys, xs = np.nonzero(masks[v, j])
                assert tuple(a["objects/bbox"][i, v, j]) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def test_occlusion_against_single_object_renders():
    """The OR pass equals one SEG pass per object; the visible label is the nearest object; depth is exact."""
    spec = resolve("cle_mv", "cle-mv", num=50)
    cfg = spec.split_config("train")
    overlaps = 0
    for index in (7, 8):
        s = draw_sample(spec, "train", index)
        stage = cle_mv._stage(cfg)
        w2c, Kmat = stage.cameras
        k = int(s["num_objects"])
        for v in range(V):
            alone = [stage.render_object(j, w2c[v], Kmat) for j in range(k)]
            ref = np.stack([m for m, _ in alone])
            assert np.array_equal(s["masks"][v, :k], ref)
            d = np.stack([np.where(m, dep, np.inf) for m, dep in alone])
            covered = ref.any(0)
            front = d.argmin(0) + 1
            assert np.array_equal(s["segmentation"][v], np.where(covered, front, 0))
            assert np.array_equal(s["depth"][v][covered], d.min(0)[covered])
            overlaps += int((ref.sum(0) > 1).sum())
    assert overlaps > 0  # the check saw occlusions


def test_cameras_reproject(cm_data):
    a = cm_data
    for i, k in enumerate(a["num_objects"]):
        for v in range(V):
            T = a["camera/world_to_camera"][i, v].astype(np.float64)
            Km = a["camera/intrinsics"][i, v].astype(np.float64)
            R = T[:3, :3]
            assert np.allclose(R @ R.T, np.eye(3), atol=1e-5) and np.allclose(T[3], [0, 0, 0, 1])
            # the camera sits at its recorded azimuth, elevation and distance and looks at the origin
            az, el, dist = (float(a[f"camera/{f}"][i, v]) for f in ("azimuth", "elevation", "distance"))
            eye = -R.T @ T[:3, 3]
            assert np.allclose(eye, a["camera/position"][i, v], atol=1e-4)
            orbit = dist * np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
            assert np.allclose(eye, orbit, atol=1e-4)
            uv0, z0 = scene3d.project(np.zeros((1, 3)), T, Km)
            assert np.allclose(uv0, [[W / 2, H / 2]], atol=1e-3) and np.isclose(z0[0], dist, atol=1e-4)
            # each object's centre projects into its own amodal mask, at the recorded pixel position
            pos = a["objects/position"][i, :k].astype(np.float64)
            uv, z = scene3d.project(pos, T, Km)
            assert np.allclose(uv, a["objects/image_position"][i, v, :k], atol=1e-3)
            assert np.allclose(z, a["objects/depth"][i, v, :k], atol=1e-4)
            for j in range(k):
                col, row = int(uv[j, 0]), int(uv[j, 1])
                if 0 <= row < H and 0 <= col < W:
                    assert a["masks"][i, v, j, row, col]
            # depth + cameras unproject onto the scene: ground pixels at z = 0, sphere pixels on the sphere
            pts = scene3d.unproject(a["depth"][i, v], T, Km)
            seg = a["segmentation"][i, v]
            assert np.abs(pts[seg == 0][:, 2]).max() < 0.02
            for j in range(k):
                shape = cle_mv.CleMVConfig().shapes[a["objects/shape"][i, j]]
                on = pts[seg == j + 1] - pos[j]
                if not len(on):  # hidden in this view
                    continue
                r = float(a["objects/scale"][i, j])
                if shape == "sphere":
                    assert np.abs(np.linalg.norm(on, axis=1) - r).max() < 0.01 * r + 0.005
                else:  # cube or cylinder: inside the yawed bounding box
                    yaw = float(a["objects/rotation"][i, j])
                    local = on[:, :2] @ np.array([[math.cos(yaw), -math.sin(yaw)], [math.sin(yaw), math.cos(yaw)]])
                    half = r / math.sqrt(2) if shape == "cube" else r
                    assert np.abs(local).max() < half + 0.01 and np.abs(on[:, 2]).max() < half + 0.01


def test_regenerated_alone(cm_data):
    spec = resolve("cle_mv", "cle-mv", num=4)
    s = draw_sample(spec, "train", 3)
    for name, arr in cm_data.items():
        assert arr[3].tobytes() == s[name].tobytes(), name


def test_workers_byte_identical(cm, cm_data, tmp_path):
    other = generate("cle_mv", "cle-mv", tmp_path, num=4, shard_size=2, workers=2, splits=["train"])
    assert_same_arrays(cm_data, read_split(other, "train"))
    import json

    shards = [json.loads((d / "manifest.json").read_text())["splits"]["train"]["shards"] for d in (cm, other)]
    assert [s["sha256"] for s in shards[0]] == [s["sha256"] for s in shards[1]]


def test_render_shortcuts_change_no_pixel():
    """Shared light uniforms, a reused shadow map and the OR pass leave every pixel as without them."""
    spec = resolve("cle_mv", "cle-mv", num=50)
    cfg = spec.split_config("train")
    draw_sample(spec, "train", 11)
    stage = cle_mv._stage(cfg)
    w2c, Kmat = stage.cameras
    shared = stage.render_color(w2c[4], Kmat)  # the scene's shadow map is current: reused
    seg_before = stage.render_seg(w2c[4], Kmat)
    stage.render_amodal(w2c[4], Kmat)
    stage.shadow_stale = True
    fresh = stage.render_color(w2c[4], Kmat, share_lighting=False)
    assert np.array_equal(shared, fresh)
    seg_after = stage.render_seg(w2c[4], Kmat)
    assert all(np.array_equal(x, y) for x, y in zip(seg_before, seg_after))


def test_batched_passes_equal_single_view_passes():
    """The batched passes give pyrender's pixels: exactly for segmentation, masks and depth; for the images
    exactly when views are not drawn side by side (COLOR_STRIPS off), else up to a few edge samples."""
    spec = resolve("cle_mv", "cle-mv", num=50)
    cfg = spec.split_config("train")
    s = draw_sample(spec, "train", 12)  # drawn by the batched passes
    stage = cle_mv._stage(cfg)
    w2c, Kmat = stage.cameras
    k = int(s["num_objects"])
    stage.shadow_stale = True
    single = np.stack([stage.render_color(w2c[v], Kmat, share_lighting=False) for v in range(V)])
    for v in (0, 3, 7):
        seg, depth = stage.render_seg(w2c[v], Kmat)
        assert np.array_equal(s["segmentation"][v], seg) and s["depth"][v].tobytes() == depth.tobytes()
        assert np.array_equal(s["masks"][v, :k], stage.render_amodal(w2c[v], Kmat))
    assert np.array_equal(s["image"][0], single[0])  # first in its strip: no offset
    differ = (s["image"] != single).any(-1)
    assert differ.mean() < 1e-3 and np.abs(s["image"].astype(int) - single).mean() < 0.01
    # without strips, the color batch (after single-view passes, with a fresh shadow map) is exact
    assert stage.color_strips  # the default
    stage.color_strips = False
    try:
        stage.shadow_stale = True
        image = np.zeros_like(s["image"])
        stage.render_views(w2c, Kmat, image=image)
        assert np.array_equal(image, single)
    finally:
        stage.color_strips = True


def test_dolphin_shapes():
    complex_shapes = [s for s in meshes.COMPLEX]
    assert len(complex_shapes) >= 6
    sizes = set()
    for name in meshes.SHAPES:
        sh = meshes.shape(name)
        lo, hi = sh.mesh.bounds
        assert np.allclose((lo + hi) / 2, 0, atol=1e-9)
        if name in meshes.COMPLEX:
            assert np.isclose(np.max(hi - lo) / 2, meshes.SIZE_FACTOR[name])
        # the tables config validation reads without building meshes
        assert abs(sh.footprint - meshes.FOOTPRINT[name]) < 1e-3, name
        assert np.allclose(sh.half_extents, meshes.HALF_EXTENTS[name], atol=1e-3), name
        assert 0 < sh.half_height <= 1.5
        sizes.add((len(sh.mesh.faces), round(float(sh.mesh.area), 4)))
    assert len(sizes) == len(meshes.SHAPES)  # all distinct
    # built deterministically
    v = meshes.shape("dolphin").mesh.vertices.copy()
    meshes._shape.cache_clear()
    assert np.array_equal(meshes.shape("dolphin").mesh.vertices, v)
    with pytest.raises(ValueError, match="unknown shape"):
        meshes.shape("teapot")


def test_complex_shapes_are_as_large_as_the_primitives():
    """Alone at the scene centre, each complex shape covers as many pixels per view as CLEVR's primitives
    on average (within 12%; in generated scenes within 25% is the promise, tested in the slow test below)."""
    c = resolve("cle_mv", "dolphin").split_config("train")
    large = max(c.sizes)
    area = {s: cle_mv.silhouette_pixels(c, s, large, yaws=4) for s in meshes.SHAPES}
    target = np.mean([area[s] for s in meshes.PRIMITIVES])
    off = {s: round(area[s] / target - 1, 3) for s in meshes.COMPLEX}
    assert all(abs(v) <= 0.12 for v in off.values()), off


@pytest.mark.slow
def test_dolphin_mean_amodal_area_per_view_matches_the_primitives(tmp_path):
    d = generate("cle_mv", "dolphin", tmp_path, num=300, workers=2, splits=["train"])
    a = read_split(d, "train")
    c = resolve("cle_mv", "dolphin").split_config("train")
    area = a["masks"].sum(axis=(-1, -2)).mean(axis=1)  # (N, K): mean amodal pixels per view
    for z in range(len(c.sizes)):
        per = {}
        for i, k in enumerate(a["num_objects"]):
            for j in range(k):
                if a["objects/size"][i, j] == z:
                    per.setdefault(c.shapes[a["objects/shape"][i, j]], []).append(area[i, j])
        target = np.mean([np.mean(per[s]) for s in meshes.PRIMITIVES])
        for s in meshes.COMPLEX:
            assert abs(np.mean(per[s]) / target - 1) <= 0.25, (c.size_names[z], s, np.mean(per[s]), target)


def test_turned_boxes_overlap_and_placement():
    rng = np.random.default_rng(0)
    # the separating-axis test agrees with a dense point sampling of both rectangles
    u = np.stack(np.meshgrid(np.linspace(-1, 1, 41), np.linspace(-1, 1, 41)), -1).reshape(-1, 2)
    for _ in range(300):
        c1, c2 = rng.uniform(-2, 2, 2), rng.uniform(-2, 2, 2)
        y1, y2 = rng.uniform(0, 2 * math.pi, 2)
        e1, e2 = rng.uniform(0.1, 1.5, 2), rng.uniform(0.1, 1.5, 2)
        rot = lambda y: np.array([[math.cos(y), -math.sin(y)], [math.sin(y), math.cos(y)]])  # noqa: E731
        p = (u * e1) @ rot(y1).T + c1  # points of box 1, in box 2's frame:
        q = (p - c2) @ rot(y2)
        sampled = (np.abs(q) <= e2 + 1e-9).all(1).any()
        if sampled:
            assert scene3d.boxes_overlap(c1, y1, e1, c2, y2, e2)
        # (a miss by the sampling can still be a thin overlap; the exact test may say True then)
    assert not scene3d.boxes_overlap((0, 0), 0.0, (2, 0.2), (0, 1), 0.0, (2, 0.2))
    assert scene3d.boxes_overlap((0, 0), 0.0, (2, 0.2), (0, 1), math.pi / 2, (2, 0.2))
    ext = np.array([[1.7, 0.7], [1.6, 0.3], [0.5, 0.5], [0.35, 0.35]])
    yaw = rng.uniform(0, 2 * math.pi, 4)
    xy = scene3d.place_boxes_on_disk(rng, ext, yaw, 2.5, 0.25)
    assert xy is not None and (np.hypot(xy[:, 0], xy[:, 1]) <= 2.5).all()
    for i in range(4):
        for j in range(i):
            assert not scene3d.boxes_overlap(xy[i], yaw[i], ext[i] + 0.125, xy[j], yaw[j], ext[j] + 0.125)
    assert scene3d.place_boxes_on_disk(rng, np.full((5, 2), 3.0), yaw, 1.0, 0.25) is None


def test_dolphin_scenes(tmp_path):
    d = generate("cle_mv", "dolphin", tmp_path, num=2, workers=1, splits=["test"])
    a = read_split(d, "test")
    cfg = resolve("cle_mv", "dolphin").split_config("test")
    assert a["image"].shape == (2, V, H, W, 3)
    for i, k in enumerate(a["num_objects"]):
        seg, masks = a["segmentation"][i], a["masks"][i]
        assert not ((seg[:, None] == np.arange(1, K + 1)[None, :, None, None]) & ~masks).any()
        assert np.array_equal(masks.any(1), seg > 0)
        assert cle_mv._visibility_score(cfg, seg, masks, k)[0] == k
        # the objects' turned bounding boxes on the ground stay min_gap apart
        ext = np.array([meshes.HALF_EXTENTS[cfg.shapes[t]] for t in a["objects/shape"][i, :k]])
        ext = ext * a["objects/scale"][i, :k, None] + cfg.min_gap / 2 - 1e-4
        pos, yaw = a["objects/position"][i, :k, :2], a["objects/rotation"][i, :k]
        for p in range(k):
            for q in range(p):
                assert not scene3d.boxes_overlap(pos[p], yaw[p], ext[p], pos[q], yaw[q], ext[q])
    assert (d / "preview.png").exists()


def test_triangulate_nonconvex():
    poly = np.array(meshes._CAT)
    faces = meshes.triangulate(poly)
    assert faces.shape == (len(poly) - 2, 3)
    tri = poly[faces]
    areas = 0.5 * ((tri[:, 1, 0] - tri[:, 0, 0]) * (tri[:, 2, 1] - tri[:, 0, 1])
                   - (tri[:, 1, 1] - tri[:, 0, 1]) * (tri[:, 2, 0] - tri[:, 0, 0]))
    shoelace = 0.5 * abs(np.sum(poly[:, 0] * np.roll(poly[:, 1], -1) - np.roll(poly[:, 0], -1) * poly[:, 1]))
    assert (areas > 0).all() and np.isclose(areas.sum(), shoelace)


@pytest.mark.parametrize("key, value, match", [
    ("shapes", "cube,pyramid", "unknown 'pyramid'"),
    ("max_objects", "30", "max_objects"),
    ("colors", "red,red", "without repeats"),
    ("sizes", "0.35", "size_names"),
    ("max_objects", "20", "do not fit"),
    ("placement", "grid", "expected one of circles, boxes"),
    ("min_visible_views", "11", "min_visible_views"),
    ("camera_distance", "3", "camera_distance"),
    ("distance_jitter", "7", "distance_jitter"),
])
def test_config_errors(key, value, match):
    with pytest.raises(ConfigError, match=match):
        resolve("cle_mv", "cle-mv", overrides={key: value})


def test_missing_gl_is_a_clear_error(tmp_path):
    env = dict(os.environ, PYOPENGL_PLATFORM="no-such-platform")
    code = "import sys; from scenebench.cli import main; sys.exit(main())"
    r = subprocess.run([sys.executable, "-c", code, "generate", "cle_mv", "--num", "1", "--workers", "1",
                        "--out", str(tmp_path)], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error: ") and "OpenGL" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
