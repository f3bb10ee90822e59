"""SMPL bodies (VITAE): grayscale renders of SMPL-layout bodies of random shape in four arm poses.

Each sample: shape ``betas`` ~ N(0, 1.25^2) over 10 dimensions, and one of
the four pose configurations of the VITAE supplement (Table 2), drawn
uniformly; every other joint stays at rest. The body is posed by
``smplx.SMPL``'s forward pass (linear blend skinning with shape and pose
blend shapes, float64; a batch's bodies go through smplx together,
:class:`body_model.Poser`) and rendered by ``pyrender`` offscreen
(EGL, Mesa's CPU rasterizer) into a 400x200 (H x W) grayscale image with a
fixed camera that frames the whole body.

Pose table -> SMPL joints. The table's "shoulder" and "arm" are the names of
SMPL's Unity/FBX rig (``leftShoulder`` = SMPL joint 13, the collar;
``leftArm`` = SMPL joint 16, the shoulder ball joint), and the rotation axis
is z, the body's forward axis (SMPL: y up, the body faces +z, its left is
+x), so every pose moves the arms in the frontal plane, mirror-symmetrically:

=====================================  ========  ========  ========  ========
axis-angle about z (radians)           pose 1    pose 2    pose 3    pose 4
=====================================  ========  ========  ========  ========
left shoulder  = joint 13 (L collar)   -pi/8     -pi/16    pi/16     pi/8
right shoulder = joint 14 (R collar)   pi/8      pi/16     -pi/16    -pi/8
left arm       = joint 16 (L shoulder) -pi/3.5   -pi/3.5   pi/3.5    pi/3.5
right arm      = joint 17 (R shoulder) pi/3.5    pi/3.5    -pi/3.5   -pi/3.5
=====================================  ========  ========  ========  ========

A negative angle about z turns the left arm (pointing +x at rest) down, and
a positive one turns the right arm (pointing -x) down: poses 1-2 hold the
arms 63-74 degrees below horizontal, poses 3-4 the same above. ``pose_id``
stores 0-3 for poses 1-4. Angles are config fields (``shoulder_angles``,
``arm_angles``: the left side; the right side mirrors them).

Body models (see :mod:`scenebench.generators.sources.body_model`):
``vitae`` uses the licensed SMPL files (``--set smpl_model_dir=DIR``,
``$SCENEBENCH_SMPL_DIR`` or ``~/.cache/scenebench/smpl``; gender ``neutral``
by default), read without chumpy; ``embedded`` uses a procedural body in
SMPL's file layout, built into the cache on first use. Both are posed by the
same code. The SHA-256 of the model's arrays
(``model_sha256``, filled in when the dataset is resolved; set it to insist
on one model) is part of the dataset identity; ``smpl_model_dir`` is a
local field, left out of the fingerprint.

Rendering: a perspective camera at (0, ``view_center_y``,
``camera_distance``) looking along -z, focal length chosen so that
``view_height`` metres at z = 0 fill the image height; principal point at
the image centre. Shading is per vertex (Lambert: ``ambient`` + (1 -
``ambient``) max(0, n . l) for a directional light ``light_direction``,
interpolated across triangles), on a black background, with pyrender's 4x
multisampling (soft edges), by :class:`render.DeformableMesh` (one mesh per
process, its vertex buffer rewritten in place for each sample). The
silhouette mask (``mask_pass``) is ``depth``: the pixels where the same pass's resolved depth buffer hits the
body (Mesa resolves a multisampled depth pixel to one of its samples, so the
mask is binary and may differ from pixel-centre coverage by one pixel along
~2% of the outline), or ``seg``: a separate segmentation pass without
multisampling, exact pixel-centre coverage, ~40% slower.
``joints_2d`` projects the 24 joints with the same camera: (x, y) in pixels
from the image's top-left corner, pixel (row r, column c) covering
[c, c+1) x [r, r+1).

Determinism: posing runs in float64 on the CPU, on one torch thread, in smplx
calls of a fixed number of bodies, so a body's mesh is the same bytes whether
it is drawn alone or in any batch, in any process; betas are rounded to
float32 (the stored values) before posing, so the stored betas reproduce the
mesh exactly.

Decisions where the paper is silent: split sizes (train 10,000 / test 1,000),
the camera, the light and the neutral gender.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Literal

import numpy as np

from scenebench.config import Preset, Split, validate
from scenebench.generator import Generator
from scenebench.datasets.identity import RngSource
from scenebench.registry import register_generator
from scenebench.datasets.schema import Feature

from .sources import body_model, render

SHOULDER_ANGLES = (-math.pi / 8, -math.pi / 16, math.pi / 16, math.pi / 8)  # left collar (joint 13), about z
ARM_ANGLES = (-math.pi / 3.5, -math.pi / 3.5, math.pi / 3.5, math.pi / 3.5)  # left shoulder (joint 16), about z
SHOULDER_JOINTS = (13, 14)  # VITAE's left / right "shoulder"
ARM_JOINTS = (16, 17)  # VITAE's left / right "arm"


@dataclass(frozen=True)
class SmplConfig:
    height: int = 400
    width: int = 200
    model: Literal["smpl", "embedded"] = "smpl"  # licensed SMPL files, or the procedural body
    gender: Literal["neutral", "female", "male"] = "neutral"  # which SMPL file (smpl only)
    smpl_model_dir: str = ""  # SMPL directory or file; empty: $SCENEBENCH_SMPL_DIR, then the cache (local)
    model_sha256: str = ""  # SHA-256 of the model's arrays; filled in when the dataset is resolved
    beta_std: float = 1.25  # betas ~ N(0, beta_std^2), 10 dimensions
    shoulder_angles: tuple[float, ...] = SHOULDER_ANGLES  # per pose: left collar angle about z (right: -)
    arm_angles: tuple[float, ...] = ARM_ANGLES  # per pose: left shoulder angle about z (right: -)
    camera_distance: float = 6.0  # metres from the z = 0 plane
    view_height: float = 2.7  # metres of the z = 0 plane the image height covers
    view_center_y: float = -0.06  # height (y) the camera looks at
    light_direction: tuple[float, float, float] = (0.6, 0.5, 0.62)  # towards the light: x body's left, y up, z front
    ambient: float = 0.2  # gray level of unlit surfaces (0-1); lit ones reach 1
    mask_pass: Literal["depth", "seg"] = "depth"  # silhouette from the image pass's depth, or a separate pass

    def validate(self) -> None:
        if not (32 <= self.height <= 2048 and 32 <= self.width <= 2048):
            raise ValueError(f"height/width must be in [32, 2048], got {self.height}x{self.width}")
        if self.model == "embedded" and self.gender != "neutral":
            raise ValueError(f"gender={self.gender}: the embedded body is gender-neutral; use gender=neutral")
        if self.model_sha256 and (len(self.model_sha256) != 64
                                  or any(ch not in "0123456789abcdef" for ch in self.model_sha256)):
            raise ValueError(f"model_sha256 must be 64 lowercase hex digits, got {self.model_sha256!r}")
        if not (math.isfinite(self.beta_std) and 0 <= self.beta_std <= 10):
            raise ValueError(f"beta_std must be in [0, 10], got {self.beta_std}")
        n = len(self.shoulder_angles)
        if not 1 <= n <= 64 or len(self.arm_angles) != n:
            raise ValueError(f"shoulder_angles and arm_angles must list the same number (1-64) of poses, "
                             f"got {n} and {len(self.arm_angles)}")
        if any(not math.isfinite(a) or abs(a) > math.pi for a in self.shoulder_angles + self.arm_angles):
            raise ValueError("shoulder_angles/arm_angles must be finite angles in [-pi, pi] radians")
        if not (math.isfinite(self.camera_distance) and 0.5 <= self.camera_distance <= 1000):
            raise ValueError(f"camera_distance must be in [0.5, 1000] metres, got {self.camera_distance}")
        if not (math.isfinite(self.view_height) and 0.1 <= self.view_height <= 100):
            raise ValueError(f"view_height must be in [0.1, 100] metres, got {self.view_height}")
        if not (math.isfinite(self.view_center_y) and abs(self.view_center_y) <= 100):
            raise ValueError(f"view_center_y must be in [-100, 100] metres, got {self.view_center_y}")
        if not all(math.isfinite(v) for v in self.light_direction) or math.hypot(*self.light_direction) < 1e-6:
            raise ValueError(f"light_direction must be a non-zero finite vector, got {self.light_direction}")
        if not 0 <= self.ambient <= 1:
            raise ValueError(f"ambient must be in [0, 1], got {self.ambient}")

    @property
    def num_poses(self) -> int:
        return len(self.arm_angles)

    @property
    def focal(self) -> float:
        """Focal length in pixels (square pixels)."""
        return self.height * self.camera_distance / self.view_height


@dataclass
class SmplAssets:
    """The body model of a dataset (dict in SMPL's layout, and as an smplx.SMPL) and, per process, its renderer."""

    data: dict  # the model file's arrays (SMPL's keys)
    path: str  # the model file
    info: dict  # JSON facts for the manifest
    poser: body_model.Poser  # smplx.SMPL posing (CPU only: no GL state, safe to build before a fork)

    def renderer(self, c: SmplConfig) -> render.DeformableMesh:
        """This process's renderer of the body for ``c`` (GL state: made on first use in each process)."""
        return render.per_process(("smpl_bodies", self.info["content_sha256"], c), lambda: _body_renderer(self, c))


def _body_renderer(a: SmplAssets, c: SmplConfig) -> render.DeformableMesh:
    """The body alone on black, seen by the fixed camera, shaded by the config's light."""
    f = c.focal
    K = np.array([[f, 0.0, c.width / 2.0], [0.0, f, c.height / 2.0], [0.0, 0.0, 1.0]])
    return render.DeformableMesh(a.data["f"], np.shape(a.data["v_template"])[0], c.width, c.height, K=K,
                                 camera_position=(0.0, c.view_center_y, c.camera_distance),
                                 znear=max(0.05, c.camera_distance - 5.0), zfar=c.camera_distance + 5.0,
                                 light_direction=c.light_direction, ambient=c.ambient, mask=c.mask_pass)


_SPLITS = {"train": Split(10_000), "test": Split(1_000)}


@register_generator
class SmplBodies(Generator):
    name = "smpl_bodies"
    VERSION = "1.3.0"
    RELEASE_NOTES = {"1.0.0": "First release: presets vitae (licensed SMPL files) and embedded (procedural body "
                              "in SMPL's layout); 400x200 grayscale, 4 VITAE arm poses, betas ~ N(0, 1.25^2).",
                     "1.1.0": "~2x faster: SMPL's forward pass in float64 numpy instead of smplx/torch (agrees "
                              "to ~1e-15 m) and one GL mesh updated in place per process. Samples checked were "
                              "byte-identical to 1.0.0, but rounding may differ in rare float32 values.",
                     "1.2.0": "Bodies are posed by smplx.SMPL itself again, a batch of bodies per call (fixed "
                              "calls of 16, one torch thread: a body is the same bytes alone or in any batch); "
                              "1 worker as fast as 1.1.0, 2 workers ~2x. The 64 samples checked are "
                              "byte-identical to 1.1.0; rare float32 roundings of joints or pixels may differ.",
                     "1.3.0": "Every random stream is keyed by the dataset (family/preset) as well as the seed, split and "
                              "index, so datasets of different families or presets with the same seed are independent "
                              "(before, e.g. multi_dsprites/lavae and multi_mnist/lavae-1k had the same object counts); the "
                              "samples of a seed differ from 1.2.0. Shards are stored with deflate by default (plain HDF5 "
                              "filters: any reader opens them) in power-of-two chunks. The renderer moved to "
                              "generators/sources/render.py (same bytes).",
    }
    Config = SmplConfig
    LOCAL_FIELDS = ("smpl_model_dir",)  # the model is pinned by model_sha256; where it lies is not identity
    description = "SMPL bodies: 400x200 grayscale renders, random shape, 4 arm poses (VITAE)"
    paper = "VITAE (Detlefsen & Hauberg 2019); SMPL (Loper et al. 2015)"
    PRESETS = {
        "vitae": Preset(SmplConfig(), _SPLITS,
                        "VITAE: licensed SMPL model (neutral), betas ~ N(0, 1.25^2), 4 arm poses; "
                        "needs SMPL_NEUTRAL.pkl (see README)"),
        "embedded": Preset(SmplConfig(model="embedded"), _SPLITS,
                           "as vitae with scenebench's procedural body in SMPL's layout: no files to install"),
    }

    def features(self, c: SmplConfig) -> list[Feature]:
        H, W = c.height, c.width
        return [
            Feature("image", (H, W, 1), "uint8", doc="grayscale render of the body on black"),
            Feature("segmentation", (H, W), "uint8", doc="silhouette: 1 body, 0 background"),
            Feature("num_objects", (), "uint8", doc="number of bodies (always 1)"),
            Feature("betas", (body_model.NUM_BETAS,), "float32", doc="SMPL shape coefficients"),
            Feature("pose_id", (), "uint8", doc="pose configuration 0..3 = VITAE poses 1..4",
                    labels=tuple(f"pose{k + 1}" for k in range(c.num_poses))),
            Feature("pose", (body_model.NUM_JOINTS, 3), "float32",
                    doc="axis-angle rotation of each SMPL joint (joint 0 = global orientation), radians"),
            Feature("joints", (body_model.NUM_JOINTS, 3), "float32",
                    doc="posed SMPL joint positions, metres (y up, body faces +z, camera on +z)"),
            Feature("joints_2d", (body_model.NUM_JOINTS, 2), "float32",
                    doc="joints projected into the image: (x, y) pixels from the top-left corner"),
        ]

    def resolve_config(self, c: SmplConfig) -> SmplConfig:
        """Pin the body model's content SHA-256 into the identity (its path is a local field)."""
        validate(c)  # a malformed config fails before any model is read or built
        path = _model_file(c)
        digest = body_model.content_sha256(body_model.load_cached(path))
        _check_pinned(c, digest, str(path))
        return dataclasses.replace(c, model_sha256=digest,
                                   smpl_model_dir="" if c.model == "embedded" else c.smpl_model_dir)

    def prepare(self, c: SmplConfig, rng) -> SmplAssets:
        path = _model_file(c)
        render.pyrender()  # a missing pyrender/OpenGL library fails here, before anything is written
        data = body_model.load_cached(path)
        digest = body_model.content_sha256(data)
        _check_pinned(c, digest, str(path))
        info = {"source": c.model, "file": os.path.basename(str(path)), "content_sha256": digest,
                "vertices": int(np.shape(data["v_template"])[0]), "faces": int(np.shape(data["f"])[0])}
        if c.model == "embedded":
            info["embedded_version"] = body_model.EMBEDDED_VERSION
            info["shape_directions"] = list(body_model.SHAPE_DIRECTIONS)
        else:
            info["gender"] = c.gender
        # smplx reads the embedded file itself; the official pickles need chumpy, so smplx gets our reading
        poser = body_model.Poser(data, path, read_file=c.model == "embedded")
        return SmplAssets(data, str(path), info, poser)

    def describe_assets(self, a: SmplAssets) -> dict:
        return {"body_model": a.info}

    def draw_scene(self, rng: np.random.Generator, c: SmplConfig, a: SmplAssets, out) -> None:
        """One body from ``rng``: the batch of one of :meth:`draw_batch`."""
        self.draw_batch(RngSource(rng), c, a, {k: v[None] for k, v in out.items()})

    def draw_batch(self, source, c: SmplConfig, a: SmplAssets, arrays) -> None:
        """Draw each body's shape and pose from its stream, pose them all through smplx, render each."""
        n = source.n
        betas = np.empty((n, body_model.NUM_BETAS), np.float32)
        pose_ids = np.empty(n, np.uint8)
        for j in range(n):
            rng = source.rng(j)
            betas[j] = rng.normal(0.0, c.beta_std, body_model.NUM_BETAS)
            pose_ids[j] = rng.integers(0, c.num_poses)
        poses = np.stack([pose_vector(c, int(k)) for k in pose_ids])
        verts, joints = a.poser(betas, poses)
        body = a.renderer(c)
        for j in range(n):
            arrays["image"][j, ..., 0], arrays["segmentation"][j] = body.render(verts[j])
            arrays["joints_2d"][j] = project(c, joints[j])
        arrays["num_objects"][...] = 1
        arrays["betas"][...] = betas
        arrays["pose_id"][...] = pose_ids
        arrays["pose"][...] = poses
        arrays["joints"][...] = joints


def _model_file(c: SmplConfig):
    """The model file ``c`` names: the embedded body (built on first use) or the SMPL file found."""
    if c.model == "embedded":
        return body_model.embedded_model_file()
    path = body_model.find_model_file(c.smpl_model_dir or None, c.gender)
    if path is None:
        raise body_model.SmplModelError(body_model.missing_message(c.smpl_model_dir or None, c.gender))
    return path


def _check_pinned(c: SmplConfig, digest: str, what: str) -> None:
    if c.model_sha256 and c.model_sha256 != digest:
        raise body_model.SmplModelError(
            f"{what} has content SHA-256 {digest}, but model_sha256={c.model_sha256} was asked for; "
            f"expected the body model the dataset was made with")


def pose_vector(c: SmplConfig, pose_id: int) -> np.ndarray:
    """(24, 3) float64 axis-angle pose of configuration ``pose_id`` (all other joints at rest)."""
    pose = np.zeros((body_model.NUM_JOINTS, 3))
    left, right = SHOULDER_JOINTS
    pose[left, 2], pose[right, 2] = c.shoulder_angles[pose_id], -c.shoulder_angles[pose_id]
    left, right = ARM_JOINTS
    pose[left, 2], pose[right, 2] = c.arm_angles[pose_id], -c.arm_angles[pose_id]
    return pose


def project(c: SmplConfig, points: np.ndarray) -> np.ndarray:
    """(N, 2) float32 pixel coordinates (x right, y down, from the top-left corner) of (N, 3) points."""
    p = np.asarray(points, np.float64)
    depth = c.camera_distance - p[:, 2]
    f = c.focal
    x = c.width / 2.0 + f * p[:, 0] / depth
    y = c.height / 2.0 - f * (p[:, 1] - c.view_center_y) / depth
    return np.stack([x, y], axis=1).astype(np.float32)
