import dataclasses
import math
import os
import pickle
import subprocess
import sys
import types

import numpy as np
import pytest

from conftest import assert_same_arrays, read_split
from scenebench.datasets.build import generate
from scenebench.errors import ConfigError
from scenebench.generator import resolve
from scenebench.generators import smpl_bodies as sb
from scenebench.generators.sources import body_model as bm
from scenebench.datasets.shards import draw, draw_sample, split_assets
from scenebench.generators.sources import render


@pytest.fixture(scope="module")
def embedded():
    """The embedded body model: (path of its pickle in the cache, its dict)."""
    path = bm.embedded_model_file()
    return path, bm.load_cached(path)


@pytest.fixture(scope="module")
def smpl_model(embedded):
    """An smplx.SMPL of the embedded body, loaded by smplx's own pickle reader (model_path only)."""
    import smplx
    import torch

    path, _ = embedded
    model = smplx.SMPL(model_path=str(path.parent), vertex_ids=bm.load_cached(path)["vertex_ids"],
                       dtype=torch.float64)
    return model.requires_grad_(False)


@pytest.fixture(scope="module")
def small(tmp_path_factory, embedded):
    root = tmp_path_factory.mktemp("smpl")
    return generate("smpl_bodies", "embedded", root, num=4, shard_size=2, workers=1, splits=["train"])


def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SCENEBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SCENEBENCH_SMPL_DIR", raising=False)


# ---------------------------------------------------------------- the embedded body model
def test_embedded_model_layout(embedded):
    _, d = embedded
    V = d["v_template"].shape[0]
    assert 3000 <= V <= 8000
    assert d["shapedirs"].shape == (V, 3, 10) and d["posedirs"].shape == (V, 3, 207)
    assert d["J_regressor"].shape == (24, V) and d["weights"].shape == (V, 24)
    assert d["kintree_table"].shape == (2, 24) and list(d["kintree_table"][0, 1:]) == list(bm.PARENTS[1:])
    # a closed surface of one piece, outward-facing
    import trimesh

    mesh = trimesh.Trimesh(d["v_template"], d["f"], process=False)
    assert mesh.is_watertight and mesh.euler_number == 2 and 0.04 < mesh.volume < 0.1
    # human proportions: ~1.75 m tall, feet at the bottom, hands at the ends of the T
    lo, hi = d["v_template"].min(0), d["v_template"].max(0)
    assert 1.7 < hi[1] - lo[1] < 1.85 and 1.6 < hi[0] - lo[0] < 1.9
    # the joint regressor reproduces the joints, the weights are a partition of unity
    J = np.asarray(bm._dense(d["J_regressor"]), np.float64) @ d["v_template"]
    np.testing.assert_allclose(J, bm.rest_joints(), atol=1e-5)
    np.testing.assert_allclose(d["J_regressor"].sum(1), 1.0, atol=1e-5)
    W = d["weights"]
    assert W.min() >= 0 and np.allclose(W.sum(1), 1.0, atol=1e-5)
    # smooth skinning: weights change little along any edge, and every joint moves some vertices
    e = np.concatenate([d["f"][:, [0, 1]], d["f"][:, [1, 2]], d["f"][:, [2, 0]]]).astype(np.int64)
    assert np.abs(W[e[:, 0]] - W[e[:, 1]]).max() < 0.35
    assert (W.max(0) > 0.5).all()
    # ten independent shape directions
    S = d["shapedirs"].reshape(-1, 10)
    assert np.linalg.matrix_rank(S) == 10
    assert all(k in d["vertex_ids"] for k in bm.VERTEX_ID_KEYS) and max(d["vertex_ids"].values()) < V


def test_smplx_reads_the_embedded_file_like_our_loader(embedded, smpl_model):
    import torch

    path, d = embedded
    ours = bm.smplx_model(d, path)
    np.testing.assert_array_equal(smpl_model.v_template.numpy(), ours.v_template.numpy())
    np.testing.assert_array_equal(smpl_model.J_regressor.numpy(), ours.J_regressor.numpy())
    b = torch.tensor(np.linspace(-1, 1, 10)[None])
    np.testing.assert_allclose(smpl_model(betas=b).vertices.numpy(), ours(betas=b).vertices.numpy(), atol=1e-12)


def test_pose_and_shape_act_on_the_right_joints(smpl_model):
    import torch

    def joints(betas=None, **rot):
        pose = np.zeros((1, 69))
        for joint, angle in rot.items():
            pose[0, 3 * (int(joint[1:]) - 1) + 2] = angle
        out = smpl_model(betas=torch.tensor(np.zeros((1, 10)) if betas is None else betas[None]),
                         body_pose=torch.tensor(pose))
        return out.joints[0, :24].numpy(), out.vertices[0].numpy()

    rest, v0 = joints()
    raised, _ = joints(j16=math.pi / 3.5)  # left shoulder about z: the left arm goes up
    moved = np.abs(raised - rest).max(1) > 1e-6
    assert moved[[18, 20, 22]].all()  # left elbow, wrist, hand
    assert not moved[[0, 1, 2, 4, 5, 7, 8, 10, 11, 16, 17, 19, 21, 23]].any()  # legs, right arm, the shoulder itself
    assert raised[20, 1] > rest[20, 1] + 0.3  # the wrist rises
    lowered, _ = joints(j17=math.pi / 3.5)  # right shoulder, positive: the right arm goes down
    assert lowered[21, 1] < rest[21, 1] - 0.3 and np.allclose(lowered[[20, 22]], rest[[20, 22]])
    taller, v1 = joints(betas=np.eye(10)[0] * 2.0)  # beta 0: overall size
    assert np.ptp(v1[:, 1]) > np.ptp(v0[:, 1]) * 1.05
    long_legs, v2 = joints(betas=np.eye(10)[2] * 2.0)  # beta 2: leg length
    assert np.linalg.norm(long_legs[7] - long_legs[4]) > np.linalg.norm(rest[7] - rest[4]) + 0.02
    assert np.allclose(long_legs[15], rest[15], atol=1e-3)  # the head stays


# ---------------------------------------------------------------- official files without chumpy
def _official_like_pickle(d: dict) -> bytes:
    """An SMPL pickle as the official files are: protocol 2, chumpy.ch.Ch shapedirs, sparse J_regressor."""
    import scipy.sparse as sp

    ch_mod, pkg = types.ModuleType("chumpy.ch"), types.ModuleType("chumpy")

    class Ch:
        def __init__(self, x):
            self.x = x
            self._dirty_vars = {"x"}

        def __reduce_ex__(self, protocol):
            import copyreg

            return copyreg._reconstructor, (Ch, object, None), {"x": self.x, "_dirty_vars": self._dirty_vars}

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    ch_mod.Ch, pkg.ch = Ch, ch_mod
    saved = {k: sys.modules.get(k) for k in ("chumpy", "chumpy.ch")}
    sys.modules.update({"chumpy": pkg, "chumpy.ch": ch_mod})
    try:
        out = {k: v for k, v in d.items() if k != "vertex_ids"}
        out["shapedirs"] = Ch(np.asarray(d["shapedirs"], np.float64))
        out["J_regressor"] = sp.csc_matrix(bm._dense(d["J_regressor"]).astype(np.float64))
        out["bs_style"], out["pose_training_info"] = "lbs", {"num_subjects": 1}
        return pickle.dumps(out, protocol=2)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def test_chumpy_free_loader_reads_official_style_pickles(embedded):
    _, d = embedded
    data = _official_like_pickle(d)
    assert b"chumpy.ch" in data and b"copy_reg" in data and b"scipy.sparse" in data
    assert "chumpy" not in sys.modules
    got = bm.loads_model(data, "SMPL_NEUTRAL.pkl")
    assert "chumpy" not in sys.modules  # never imported
    assert isinstance(got["shapedirs"], np.ndarray) and got["shapedirs"].dtype == np.float64
    np.testing.assert_array_equal(got["shapedirs"], d["shapedirs"].astype(np.float64))
    assert got["J_regressor"].format == "csc"
    np.testing.assert_array_equal(got["J_regressor"].toarray(), bm._dense(d["J_regressor"]).astype(np.float64))
    np.testing.assert_array_equal(got["v_template"], d["v_template"])
    assert bm.content_sha256(got) == bm.content_sha256(d)
    # smplx poses what the loader returns (its default vertex ids need 6,890 vertices: ours are passed on)
    model = bm.smplx_model({**got, "vertex_ids": d["vertex_ids"]}, "SMPL_NEUTRAL.pkl")
    assert model.v_template.shape == d["v_template"].shape


def test_loader_refuses_code_and_garbage(tmp_path):
    class Evil:
        def __reduce__(self):
            return os.system, ("echo pwned",)

    with pytest.raises(bm.SmplModelError, match="posix.system is not allowed|os.system is not allowed"):
        bm.loads_model(pickle.dumps({"v_template": Evil()}), "evil.pkl")
    with pytest.raises(bm.SmplModelError, match="not a readable SMPL model pickle"):
        bm.loads_model(b"not a pickle at all", "junk.pkl")
    with pytest.raises(bm.SmplModelError, match="missing"):
        bm.loads_model(pickle.dumps({"v_template": np.zeros((10, 3))}), "partial.pkl")
    with pytest.raises(bm.SmplModelError, match="expected a dict"):
        bm.loads_model(pickle.dumps([1, 2]), "list.pkl")


def test_vitae_preset_with_model_files(tmp_path, monkeypatch, embedded):
    _, d = embedded
    _isolated_cache(tmp_path, monkeypatch)
    model_dir = tmp_path / "models" / "smpl"
    model_dir.mkdir(parents=True)
    (model_dir / "SMPL_NEUTRAL.pkl").write_bytes(_official_like_pickle(d))
    digest = bm.content_sha256(d)
    spec = resolve("smpl_bodies", "vitae", num=2, overrides={"smpl_model_dir": str(tmp_path / "models")})
    assert spec.config["model_sha256"] == digest and "smpl_model_dir" not in spec.identity_config
    # the same file found elsewhere, through the environment variable, is the same dataset
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl").write_bytes((model_dir / "SMPL_NEUTRAL.pkl").read_bytes())
    monkeypatch.setenv("SCENEBENCH_SMPL_DIR", str(other))
    assert resolve("smpl_bodies", "vitae", num=2).fingerprint == spec.fingerprint
    # a different model is a different dataset
    changed = dict(bm.loads_model((model_dir / "SMPL_NEUTRAL.pkl").read_bytes()))
    changed["v_template"] = changed["v_template"] * 1.01
    (other / "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl").write_bytes(bm.dumps_model(changed))
    assert resolve("smpl_bodies", "vitae", num=2).fingerprint != spec.fingerprint
    # ... and a dataset resolved with one model refuses to draw from another
    with pytest.raises(bm.SmplModelError, match="content SHA-256"):
        sb.SmplBodies().prepare(sb.SmplConfig(model_sha256=digest), None)
    monkeypatch.delenv("SCENEBENCH_SMPL_DIR")
    sample = draw_sample(spec, "train", 0)
    assert sample["image"].shape == (400, 200, 1) and sample["segmentation"].sum() > 5000
    # the same arrays through smplx's data_struct path (official pickle) and its own reader (embedded file):
    # the embedded preset under the vitae preset's random streams (the preset is part of the stream key)
    embedded_spec = dataclasses.replace(resolve("smpl_bodies", "embedded", num=2), preset="vitae")
    same = draw_sample(embedded_spec, "train", 0)
    for k, v in sample.items():
        assert v.tobytes() == same[k].tobytes(), k
    info = sb.SmplBodies().describe_assets(split_assets(spec, "train"))
    assert info["body_model"]["content_sha256"] == digest and info["body_model"]["source"] == "smpl"
    # a pinned hash that does not match is refused
    with pytest.raises(bm.SmplModelError, match="content SHA-256"):
        resolve("smpl_bodies", "vitae", overrides={"smpl_model_dir": str(model_dir), "model_sha256": "0" * 64})


def test_missing_or_bad_model_files_are_one_line_errors(tmp_path, monkeypatch, cli):
    _isolated_cache(tmp_path, monkeypatch)
    with pytest.raises(bm.SmplModelError, match=r"SMPL model file not found in .*nowhere.*SMPL_NEUTRAL\.pkl"):
        resolve("smpl_bodies", "vitae", overrides={"smpl_model_dir": str(tmp_path / "nowhere")})
    with pytest.raises(bm.SmplModelError, match="SCENEBENCH_SMPL_DIR"):
        resolve("smpl_bodies", "vitae")  # nothing in the (empty) cache either
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "SMPL_NEUTRAL.pkl").write_bytes(b"\x80\x02}q\x00.garbage")
    with pytest.raises(bm.SmplModelError, match="SMPL_NEUTRAL.pkl"):
        resolve("smpl_bodies", "vitae", overrides={"smpl_model_dir": str(bad)})
    (bad / "SMPL_NEUTRAL.pkl").write_bytes(pickle.dumps({k: np.zeros((3, 3)) for k in bm.REQUIRED_KEYS}))
    with pytest.raises(bm.SmplModelError, match="expected"):
        resolve("smpl_bodies", "vitae", overrides={"smpl_model_dir": str(bad)})
    res = cli("generate", "smpl_bodies", "--preset", "vitae", "--set", f"smpl_model_dir={tmp_path / 'nowhere'}",
              "--out", tmp_path / "out")
    assert res.exit_code == 2 and res.output.startswith("error: SMPL model file not found")
    assert len(res.output.strip().splitlines()) == 1 and "Traceback" not in res.output
    assert not (tmp_path / "out").exists()


def test_missing_opengl_is_a_one_line_error(tmp_path, embedded):
    env = {**os.environ, "PYOPENGL_PLATFORM": "no-such-platform"}
    r = subprocess.run([sys.executable, "-m", "scenebench.cli", "generate", "smpl_bodies", "--preset", "embedded",
                        "--num", "1", "--workers", "1", "--out", str(tmp_path)], env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot") and "OpenGL" in lines[0]
    assert "Traceback" not in r.stderr


# ---------------------------------------------------------------- the dataset
def test_presets_and_config_errors():
    gen = sb.SmplBodies()
    assert set(gen.PRESETS) == {"vitae", "embedded"}
    c = gen.PRESETS["vitae"].config
    assert (c.height, c.width, c.beta_std, c.num_poses) == (400, 200, 1.25, 4)
    with pytest.raises(ConfigError, match="gender-neutral"):
        resolve("smpl_bodies", "embedded", overrides={"gender": "female"})
    with pytest.raises(ConfigError, match="same number"):
        resolve("smpl_bodies", "embedded", overrides={"arm_angles": "1,2"})
    with pytest.raises(ConfigError, match="model_sha256"):
        resolve("smpl_bodies", "embedded", overrides={"model_sha256": "xyz"})
    with pytest.raises(ConfigError, match="ambient"):
        resolve("smpl_bodies", "embedded", overrides={"ambient": "2"})


def test_pose_table():
    c = sb.SmplConfig()
    left_arm = [sb.pose_vector(c, k)[16] for k in range(4)]
    right_shoulder = [sb.pose_vector(c, k)[14] for k in range(4)]
    np.testing.assert_allclose([p[2] for p in left_arm], [-math.pi / 3.5] * 2 + [math.pi / 3.5] * 2)
    np.testing.assert_allclose([p[2] for p in right_shoulder], [math.pi / 8, math.pi / 16, -math.pi / 16, -math.pi / 8])
    for k in range(4):
        p = sb.pose_vector(c, k)
        assert np.count_nonzero(p) == 4 and not p[:, :2].any()  # four joints, all about z


def test_samples_conform_to_the_schema(small, embedded):
    import h5py
    from scipy.ndimage import binary_dilation, binary_erosion

    a = read_split(small, "train")
    assert a["image"].shape == (4, 400, 200, 1) and a["image"].dtype == np.uint8
    assert a["segmentation"].shape == (4, 400, 200) and set(np.unique(a["segmentation"])) == {0, 1}
    assert (a["num_objects"] == 1).all()
    assert a["betas"].shape == (4, 10) and a["betas"].dtype == np.float32 and np.isfinite(a["betas"]).all()
    assert a["pose_id"].dtype == np.uint8 and a["pose_id"].max() < 4
    assert a["joints"].shape == (4, 24, 3) and a["joints_2d"].shape == (4, 24, 2)
    for i in range(4):
        img, seg = a["image"][i, :, :, 0], a["segmentation"][i].astype(bool)
        inner, outer = binary_erosion(seg), binary_dilation(seg, iterations=3)
        # lit body (>= ambient gray except in sub-pixel gaps, e.g. arm against torso) on black, soft edges
        assert np.mean(img[inner] >= int(255 * sb.SmplConfig().ambient)) > 0.99 and (img[~outer] == 0).all()
        assert seg[0].sum() == 0 and seg[-1].sum() == 0 and seg[:, 0].sum() == 0  # the whole body is in frame
        pose = sb.pose_vector(sb.SmplConfig(), int(a["pose_id"][i]))
        np.testing.assert_array_equal(a["pose"][i], pose.astype(np.float32))
        # the projected joints of the torso and head fall on the silhouette
        xy = a["joints_2d"][i]
        for j in (0, 3, 6, 9, 12, 15):
            assert seg[int(xy[j, 1]), int(xy[j, 0])]
    with h5py.File(next((small / "train").glob("*.h5")), "r") as f:
        assert f["joints_2d"].attrs["doc"]
    import json

    manifest = json.loads((small / "manifest.json").read_text())
    assert manifest["identity"]["config"]["model_sha256"] == bm.content_sha256(embedded[1])
    assert manifest["assets"]["train"]["body_model"]["source"] == "embedded"
    assert (small / "preview.png").is_file()


def test_projection_matches_the_rendered_silhouette(embedded):
    spec = resolve("smpl_bodies", "embedded", num=1)
    c = spec.split_config("train")
    assets = split_assets(spec, "train")
    body = assets.renderer(c)
    for k in (0, 3):
        verts, joints = (x[0] for x in assets.poser(np.full((1, 10), 0.5, np.float32), sb.pose_vector(c, k)[None]))
        _, mask = body.render(verts)
        xy = sb.project(c, verts)
        rows, cols = np.nonzero(mask)
        # silhouette bbox (pixel index ranges) vs projected vertex extent (continuous pixel coordinates)
        assert abs(cols.min() - xy[:, 0].min()) < 1.5 and abs(cols.max() + 1 - xy[:, 0].max()) < 1.5
        assert abs(rows.min() - xy[:, 1].min()) < 1.5 and abs(rows.max() + 1 - xy[:, 1].max()) < 1.5
        np.testing.assert_allclose(sb.project(c, joints), sb.project(c, joints.astype(np.float32)), atol=1e-3)


def test_poser_is_smplx_and_independent_of_batching(embedded, smpl_model):
    import torch

    path, d = embedded
    poser = bm.Poser(d, path, read_file=True)  # as the generator builds it for the embedded body
    rng = np.random.default_rng(3)
    c = sb.SmplConfig(model="embedded")
    poses = np.stack([sb.pose_vector(c, k) for k in range(4)] + [rng.normal(0, 0.6, (24, 3)), np.zeros((24, 3))])
    betas = rng.normal(0, 1.25, (len(poses), 10))
    verts, joints = poser(betas, poses)
    assert verts.shape == (6, len(d["v_template"]), 3) and joints.shape == (6, 24, 3)
    for k in range(len(poses)):  # the same as smplx.SMPL posing each body alone (up to summation order)
        with torch.inference_mode():
            out = smpl_model(betas=torch.tensor(betas[k:k + 1]), body_pose=torch.tensor(poses[k, 1:].reshape(1, -1)),
                             global_orient=torch.tensor(poses[k, :1]))
        np.testing.assert_allclose(verts[k], out.vertices[0].numpy(), rtol=0, atol=1e-12)
        np.testing.assert_allclose(joints[k], out.joints[0, :24].numpy(), rtol=0, atol=1e-12)
    # the same bytes alone, at another position, and among 2 groups' worth of other bodies
    crowd_b = rng.normal(0, 1.25, (2 * bm.POSE_GROUP + 3, 10))
    crowd_p = rng.normal(0, 0.4, (len(crowd_b), 24, 3))
    for k, at in ((0, 0), (4, 7), (5, bm.POSE_GROUP + 2)):
        b, p = crowd_b.copy(), crowd_p.copy()
        b[at], p[at] = betas[k], poses[k]
        v_alone, j_alone = poser(betas[k:k + 1], poses[k:k + 1])
        v_crowd, j_crowd = poser(b, p)
        assert v_alone[0].tobytes() == v_crowd[at].tobytes() == verts[k].tobytes()
        assert j_alone[0].tobytes() == j_crowd[at].tobytes() == joints[k].tobytes()


def test_reused_mesh_renders_each_sample(embedded):
    spec = resolve("smpl_bodies", "embedded", num=1)
    c = spec.split_config("train")
    assets = split_assets(spec, "train")
    body = assets.renderer(c)
    assert assets.renderer(c) is body  # one per process
    (a_verts, b_verts), _ = assets.poser(np.array([np.zeros(10), np.ones(10)], np.float32),
                                         np.stack([sb.pose_vector(c, 0), sb.pose_vector(c, 3)]))
    a1, b1 = body.render(a_verts), body.render(b_verts)
    assert (a1[0] != b1[0]).sum() > 1000  # the vertex buffer really was rewritten
    pr = render.pyrender()
    other = pr.Scene()  # another scene rendered with this process's renderer drops our mesh from the context
    other.add(pr.PerspectiveCamera(yfov=1.0))
    render.renderer(c.width, c.height).render(other, flags=pr.RenderFlags.FLAT)
    assert body.prim._vaid is None
    a2 = body.render(a_verts)
    b2 = body.render(b_verts)
    for x, y in zip(a1 + b1, a2 + b2):
        np.testing.assert_array_equal(x, y)


def test_seg_mask_pass_agrees_with_depth_mask(embedded):
    spec = resolve("smpl_bodies", "embedded", num=1, overrides={"mask_pass": "seg"})
    plain = resolve("smpl_bodies", "embedded", num=1)
    a, b = draw_sample(spec, "train", 0), draw_sample(plain, "train", 0)
    np.testing.assert_array_equal(a["image"], b["image"])
    differ = (a["segmentation"] != b["segmentation"]).sum()
    assert 0 <= differ < 0.05 * b["segmentation"].sum()


def test_byte_identical_across_workers_and_alone(tmp_path, small):
    other = generate("smpl_bodies", "embedded", tmp_path, num=4, shard_size=3, workers=2, splits=["train"])
    assert_same_arrays(read_split(small, "train"), read_split(other, "train"))
    spec = resolve("smpl_bodies", "embedded", num=4)
    alone = draw_sample(spec, "train", 3)
    batch = draw(spec, "train", 2, 2)
    for k, v in alone.items():
        assert v.tobytes() == batch.arrays[k][1].tobytes(), k


@pytest.mark.slow
def test_embedded_build_is_deterministic(embedded):
    assert bm.content_sha256(bm.build_embedded()) == bm.content_sha256(embedded[1])
