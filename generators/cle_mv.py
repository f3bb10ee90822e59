"""CLE-MV-style multi-view CLEVR scenes (LDS / MulMON), presets ``cle-mv`` and ``dolphin``.

``cle-mv``: 2-5 objects (3-6 components with the background) on a gray
ground plane, CLEVR's shapes (cube, sphere, cylinder), 8 colors (CLEVR's
RGB values), two materials (rubber: matte; metal: shiny) and two sizes
(small 0.35, large 0.7, CLEVR's units), each with a random yaw. Centres are
uniform over a disk of radius 2.5 with no interpenetration: the objects'
bounding circles on the ground stay ``min_gap`` apart. A key light with
shadows, a fill light and ambient light. 10 views, 64x64, from cameras
evenly spaced in azimuth (random start per scene) at a fixed elevation and
distance, all looking at the centre of the disk; optional per-view jitter of
azimuth, elevation and distance. Every object must be visible enough —
``min_visible_pixels`` visible pixels, or (small or thin objects) at least
``min_visible_fraction`` of its amodal silhouette — in at least
``min_visible_views`` views; otherwise the placement (positions and yaws)
is redrawn from the same stream, up to ``max_attempts`` times, after which
the best placement is kept. Splits: train 1,500 / test 200 scenes.

``dolphin``: the same scenes with complex shapes in addition to the
primitives: a dolphin, a fish, a duck, a sitting cat (extruded silhouette),
a horse, a torus, a cone, a capsule and a blob (see :mod:`meshes`).

Per view (leading axis V): ``image`` RGB, ``segmentation`` (0 = background
including the ground, k+1 = object slot k, from a ``RenderFlags.SEG`` pass:
exact ids, no anti-aliasing, the front-most surface wins), ``masks``
(amodal: object k's full silhouette, occluders ignored), ``depth``
(camera-frame z of the visible surface at each pixel centre, in world units,
ground included; 0 where no surface is hit) and the camera (azimuth,
elevation, distance, position, 4x4 world-to-camera in the OpenCV convention,
3x3 intrinsics; see :mod:`scene3d`).

Rendering (pyrender on EGL, one scene per process, created on first use):
each view costs three GL passes — color (4x MSAA, PBR shading, shadow map
rendered once per scene), ``SEG`` (visible ids + depth) and one "OR" pass
that gives every object's amodal mask at once: the ``SEG`` pass drawn with
depth testing off and the framebuffer's logic op set to OR, object k
colored with bit k, so each pixel ends up holding the set of objects whose
silhouettes cover it. The OR pass rasterises exactly the triangles of the
``SEG`` pass, so a pixel labelled k is always inside amodal mask k.
All passes of a scene's views are issued in one batch (``_Stage._batch``:
pyrender's forward pass re-implemented without its per-view Python work,
same programs, uniforms and state, so the same pixels), each into its own
framebuffer, and read back at the end, so Mesa rasterises while Python
issues; the color pass is issued with the others on speculation (a placement
is rarely rejected), its views side by side in one framebuffer so that all of
Mesa's threads rasterise them at once (``COLOR_STRIPS``; the offset moves a
few edge samples: about 1 pixel in 50,000 differs from a view rendered alone).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from scenebench.config import Preset, Split
from scenebench.errors import ConfigError
from scenebench.generator import Generator
from scenebench.registry import register_generator
from scenebench.schema import Feature

from .sources import meshes, render, scene3d

CLEVR_COLOR_NAMES = tuple(meshes.CLEVR_COLORS)
MAX_OBJECTS = 24  # the OR pass stores one bit per object in the 3 x 8 bits of an RGB pixel
MAX_PACKING = 0.45  # largest area fraction of the disk the objects' bounding circles may need


@dataclass(frozen=True)
class CleMVConfig:
    height: int = 64
    width: int = 64
    num_views: int = 10
    min_objects: int = 2
    max_objects: int = 5
    shapes: tuple[str, ...] = meshes.PRIMITIVES
    colors: tuple[str, ...] = CLEVR_COLOR_NAMES
    materials: tuple[str, ...] = ("rubber", "metal")
    sizes: tuple[float, ...] = (0.35, 0.7)  # CLEVR's small / large (sphere radius, world units)
    size_names: tuple[str, ...] = ("small", "large")
    placement_radius: float = 2.5  # object centres are uniform over this disk
    min_gap: float = 0.25  # minimum distance between bounding circles on the ground
    camera_distance: float = 10.0
    elevation_deg: float = 30.0
    fov_deg: float = 36.0  # vertical field of view
    random_start_azimuth: bool = True  # first camera's azimuth uniform in [0, 360); else 0
    azimuth_jitter_deg: float = 0.0  # per-view uniform jitter, +-
    elevation_jitter_deg: float = 0.0
    distance_jitter: float = 0.0
    light_azimuth_deg: float = -40.0  # key light direction (from the scene towards the light)
    light_elevation_deg: float = 55.0
    light_jitter_deg: float = 10.0  # per-scene uniform jitter of the key light's azimuth and elevation, +-
    key_light: float = 1.6
    fill_light: float = 20.0  # point light at the fill position (falls off with distance squared)
    ambient: float = 0.25
    ground_rgb: tuple[int, int, int] = (128, 128, 128)  # linear base color of the ground, 0-255
    shadows: bool = True
    shadow_map_size: int = 512
    min_visible_pixels: int = 8
    min_visible_fraction: float = 0.5  # ... or this fraction of its amodal silhouette
    min_visible_views: int = 7
    max_attempts: int = 30

    def validate(self) -> None:
        if not (16 <= self.height <= 1024 and 16 <= self.width <= 1024):
            raise ValueError(f"height/width must be in [16, 1024], got {self.height}x{self.width}")
        if not 1 <= self.num_views <= 100:
            raise ValueError(f"num_views must be in [1, 100], got {self.num_views}")
        if not 1 <= self.min_objects <= self.max_objects <= MAX_OBJECTS:
            raise ValueError(f"min_objects/max_objects: need 1 <= min_objects <= max_objects <= {MAX_OBJECTS}, "
                             f"got {self.min_objects}, {self.max_objects}")
        for field, values, known in (("shapes", self.shapes, meshes.SHAPES),
                                     ("colors", self.colors, CLEVR_COLOR_NAMES),
                                     ("materials", self.materials, tuple(meshes.MATERIALS))):
            if not values or len(set(values)) != len(values):
                raise ValueError(f"{field} must be a non-empty list without repeats, got {list(values)}")
            bad = [v for v in values if v not in known]
            if bad:
                raise ValueError(f"{field}: unknown {', '.join(map(repr, bad))}; expected some of {', '.join(known)}")
        if not self.sizes or any(not 0 < s <= 2 for s in self.sizes):
            raise ValueError(f"sizes must be in (0, 2], got {list(self.sizes)}")
        if len(self.size_names) != len(self.sizes):
            raise ValueError(f"size_names must name each of the {len(self.sizes)} sizes, got {list(self.size_names)}")
        if not 0 < self.placement_radius <= 20 or not 0 <= self.min_gap <= 5:
            raise ValueError(f"placement_radius must be in (0, 20] and min_gap in [0, 5], "
                             f"got {self.placement_radius}, {self.min_gap}")
        r = meshes.MAX_FOOTPRINT * max(self.sizes) + self.min_gap / 2.0
        if self.max_objects * r**2 > MAX_PACKING * (self.placement_radius + r) ** 2:
            raise ValueError(f"max_objects={self.max_objects} objects of size {max(self.sizes)} "
                             f"(min_gap {self.min_gap}) do not fit on a disk of placement_radius "
                             f"{self.placement_radius}; expected a larger disk or fewer / smaller objects")
        clearance = self.camera_distance - self.placement_radius - 2 * max(self.sizes)
        if not (clearance > 0 and self.camera_distance <= 100):
            raise ValueError(f"camera_distance must be in (placement_radius + 2 * max size, 100], "
                             f"got {self.camera_distance}")
        if not 0 <= self.distance_jitter < clearance:
            raise ValueError(f"distance_jitter must be in [0, {clearance:g}) (cameras outside the scene), "
                             f"got {self.distance_jitter}")
        el, jit = self.elevation_deg, self.elevation_jitter_deg
        if not 5 <= el <= 85 or not 0 <= jit < min(el, 90 - el):
            raise ValueError(f"elevation_deg must be in [5, 85] and elevation_jitter_deg keep it in (0, 90), "
                             f"got {el} +- {jit}")
        if not 10 <= self.fov_deg <= 120:
            raise ValueError(f"fov_deg must be in [10, 120], got {self.fov_deg}")
        if not 0 <= self.azimuth_jitter_deg <= 180:
            raise ValueError(f"azimuth_jitter_deg must be in [0, 180], got {self.azimuth_jitter_deg}")
        if not (0 <= self.light_jitter_deg <= 45 and self.light_elevation_deg - self.light_jitter_deg > 0
                and self.light_elevation_deg + self.light_jitter_deg < 90):
            raise ValueError(f"light_elevation_deg +- light_jitter_deg must stay in (0, 90) with jitter <= 45, "
                             f"got {self.light_elevation_deg} +- {self.light_jitter_deg}")
        if min(self.key_light, self.fill_light, self.ambient) < 0 or max(self.key_light, self.ambient) > 100:
            raise ValueError("key_light, fill_light and ambient must be non-negative (key_light, ambient <= 100)")
        if any(not 0 <= v <= 255 for v in self.ground_rgb):
            raise ValueError(f"ground_rgb must be 0-255, got {list(self.ground_rgb)}")
        if self.shadow_map_size not in (256, 512, 1024, 2048, 4096):
            raise ValueError(f"shadow_map_size must be one of 256, 512, 1024, 2048, 4096, got {self.shadow_map_size}")
        if not 0 <= self.min_visible_pixels <= self.height * self.width // 4:
            raise ValueError(f"min_visible_pixels must be in [0, H*W/4], got {self.min_visible_pixels}")
        if not 0 <= self.min_visible_fraction <= 1:
            raise ValueError(f"min_visible_fraction must be in [0, 1], got {self.min_visible_fraction}")
        if not 0 <= self.min_visible_views <= self.num_views:
            raise ValueError(f"min_visible_views must be in [0, num_views], got {self.min_visible_views}")
        if not 1 <= self.max_attempts <= 1000:
            raise ValueError(f"max_attempts must be in [1, 1000], got {self.max_attempts}")


@dataclass
class Assets:
    """Per-shape placement numbers (no GL objects: those are made per process on first render)."""

    footprint: np.ndarray  # (S,) bounding-circle radius at scale 1
    half_height: np.ndarray  # (S,) half the height at scale 1
    faces: tuple  # (S,) triangle counts, for the manifest


@register_generator
class CleMV(Generator):
    name = "cle_mv"
    VERSION = "1.1.0"
    RELEASE_NOTES = {"1.0.0": "First release: presets cle-mv (CLEVR primitives) and dolphin (plus 9 procedural "
                              "complex shapes); 10 views at 64x64 with segmentation, amodal masks, depth, cameras.",
                     "1.1.0": "Faster rendering (~1.8x on one worker): all passes of a scene issued in one batch, "
                              "color views rasterised side by side in one framebuffer. Segmentation, masks, depth "
                              "and cameras are unchanged; about 1 image pixel in 50,000 differs (at object edges, "
                              "one multisample flipped; mostly by 1 level)."}
    Config = CleMVConfig
    description = "CLE-MV: multi-view CLEVR-like scenes rendered with pyrender (LDS / MulMON)"
    paper = "LDS (Li & Fisher 2021), data of MulMON (Li et al. 2020)"
    PRESETS = {
        "cle-mv": Preset(CleMVConfig(), {"train": Split(1_500), "test": Split(200)},
                         "LDS CLE-MV: 2-5 CLEVR objects, 10 views at 64x64 around the scene"),
        "dolphin": Preset(CleMVConfig(shapes=meshes.SHAPES), {"train": Split(1_500), "test": Split(200)},
                          "LDS Dolphin: CLE-MV with complex shapes (dolphin, fish, duck, cat, horse, torus, cone, "
                          "capsule, blob) besides the primitives"),
    }

    def features(self, c: CleMVConfig) -> list[Feature]:
        V, K, H, W = c.num_views, c.max_objects, c.height, c.width
        return [
            Feature("image", (V, H, W, 3), "uint8", doc="RGB image per view"),
            Feature("segmentation", (V, H, W), "uint8",
                    doc="per view, visible partition: 0 background (ground included), k+1 object slot k"),
            Feature("masks", (V, K, H, W), "bool", doc="per view, amodal (unoccluded) silhouette per object slot"),
            Feature("depth", (V, H, W), "float32", fill=0.0,
                    doc="per view, camera-frame z of the visible surface at pixel centres (world units), "
                        "0 = no surface"),
            Feature("num_objects", (), "uint8", doc="number of objects"),
            Feature("camera/azimuth", (V,), "float32", doc="camera azimuth around the scene centre, radians"),
            Feature("camera/elevation", (V,), "float32", doc="camera elevation above the ground plane, radians"),
            Feature("camera/distance", (V,), "float32", doc="camera distance to the scene centre (world units)"),
            Feature("camera/position", (V, 3), "float32", doc="camera centre (x, y, z), world, z up"),
            Feature("camera/world_to_camera", (V, 4, 4), "float32",
                    doc="world-to-camera rigid transform, OpenCV axes (x right, y down, z forward)"),
            Feature("camera/intrinsics", (V, 3, 3), "float32",
                    doc="pinhole matrix [[fx,0,cx],[0,fy,cy],[0,0,1]] in pixels, pixel centres at half-integers"),
            Feature("light/direction", (3,), "float32",
                    doc="key light direction, unit vector from the scene towards the light"),
            Feature("objects/shape", (K,), "int8", doc="shape code (-1 = empty slot)", labels=c.shapes),
            Feature("objects/color", (K,), "int8", doc="color code (-1 = empty slot)", labels=c.colors),
            Feature("objects/rgb", (K, 3), "uint8", doc="CLEVR RGB value of the color (0 = empty slot)"),
            Feature("objects/material", (K,), "int8", doc="material code (-1 = empty slot)", labels=c.materials),
            Feature("objects/size", (K,), "int8", doc="size code (-1 = empty slot)", labels=c.size_names),
            Feature("objects/scale", (K,), "float32",
                    doc="size s, world units: sphere radius, cylinder radius and half-height, "
                        "cube half-side * sqrt(2), complex shape's largest half-extent"),
            Feature("objects/position", (K, 3), "float32", doc="centre of the bounding box (x, y, z), world units"),
            Feature("objects/rotation", (K,), "float32", doc="yaw about the vertical axis, radians in [0, 2pi)"),
            Feature("objects/footprint", (K,), "float32", doc="radius of the bounding circle on the ground"),
            Feature("objects/image_position", (V, K, 2), "float32",
                    doc="per view, (x, y) pixel coordinates of the projected centre"),
            Feature("objects/depth", (V, K), "float32", doc="per view, camera-frame z of the centre (depth order)"),
            Feature("objects/visible_pixels", (V, K), "int32", doc="per view, visible pixel count"),
            Feature("objects/bbox", (V, K, 4), "int16",
                    doc="per view, amodal box (x_min, y_min, x_max, y_max), max exclusive; -1 when out of view"),
        ]

    def prepare(self, c: CleMVConfig, rng) -> Assets:
        shapes = [meshes.shape(s) for s in c.shapes]
        return Assets(np.array([s.footprint for s in shapes]), np.array([s.half_height for s in shapes]),
                      tuple(len(s.mesh.faces) for s in shapes))

    def describe_assets(self, assets: Assets) -> dict:
        from importlib.metadata import version

        # the pixels also depend on the rendering stack (and on Mesa's llvmpipe, which only a GL context can name)
        return {"mesh_faces": list(assets.faces), "pyrender": version("pyrender"), "trimesh": version("trimesh")}

    def draw_scene(self, rng: np.random.Generator, c: CleMVConfig, assets: Assets, out) -> None:
        _draw(rng, c, assets, out)


# ---------------------------------------------------------------- scene description
def _cameras(rng, c: CleMVConfig):
    """(azimuth, elevation, distance) arrays (V,) float64, radians / world units."""
    V = c.num_views
    u = rng.random(1 + 3 * V)
    start = 2 * math.pi * u[0] if c.random_start_azimuth else 0.0
    j = 2.0 * u[1:].reshape(3, V) - 1.0
    az = (start + 2 * math.pi * np.arange(V) / V + math.radians(c.azimuth_jitter_deg) * j[0]) % (2 * math.pi)
    el = math.radians(c.elevation_deg) + math.radians(c.elevation_jitter_deg) * j[1]
    dist = c.camera_distance + c.distance_jitter * j[2]
    return az, el, dist


def _light_direction(rng, c: CleMVConfig) -> np.ndarray:
    u = 2.0 * rng.random(2) - 1.0
    az = math.radians(c.light_azimuth_deg + c.light_jitter_deg * u[0])
    el = math.radians(c.light_elevation_deg + c.light_jitter_deg * u[1])
    return np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])


_SLOTS = np.arange(MAX_OBJECTS)
# color passes of several views side by side in one framebuffer (one Mesa scene, rasterised by all of Mesa's
# threads at once: ~1.2x on one worker). Off: every pixel as pyrender's own render (1.0.0's images).
COLOR_STRIPS = True


def _visibility_score(c: CleMVConfig, seg: np.ndarray, masks: np.ndarray, n: int) -> tuple[int, int]:
    """(objects visible enough in enough views, object-views visible enough, capped) of one placement.

    Object k is visible enough in a view when it shows ``min_visible_pixels``
    pixels, or (thin or small objects) at least ``min_visible_fraction`` of
    its amodal silhouette, which must be in view.
    """
    vis = np.stack([np.bincount(s.ravel(), minlength=n + 1)[1: n + 1] for s in seg])  # (V, n)
    area = masks[:, :n].sum((2, 3))
    ok = (vis >= c.min_visible_pixels) | ((vis > 0) & (vis >= c.min_visible_fraction * area))
    views = ok.sum(0)
    return int((views >= c.min_visible_views).sum()), int(np.minimum(views, c.min_visible_views).sum())


def _draw(rng, c: CleMVConfig, assets: Assets, out) -> None:
    V, H, W = c.num_views, c.height, c.width
    n = int(rng.integers(c.min_objects, c.max_objects + 1))
    shape = rng.integers(0, len(c.shapes), n)
    color = rng.integers(0, len(c.colors), n)
    material = rng.integers(0, len(c.materials), n)
    size = rng.integers(0, len(c.sizes), n)
    scale = np.asarray(c.sizes, np.float64)[size]
    footprint = assets.footprint[shape] * scale
    z = assets.half_height[shape] * scale
    az, el, dist = _cameras(rng, c)
    light = _light_direction(rng, c)
    w2c = scene3d.orbit_cameras(az, el, dist)
    K = scene3d.intrinsics(c.fov_deg, W, H)

    stage = _stage(c)
    stage.set_light(light)
    stage.cameras = (w2c, K)
    seg, depth, masks = out["segmentation"], out["depth"], out["masks"]
    best = None  # (score, positions, yaw, seg, depth, masks) of the best rejected placement
    for _ in range(c.max_attempts):
        xy = scene3d.place_on_disk(rng, footprint, c.placement_radius, c.min_gap)
        yaw = 2 * math.pi * rng.random(n)
        if xy is None:
            continue
        pos = np.concatenate([xy, z[:, None]], 1)
        stage.set_objects(c, shape, color, material, scale, pos, yaw)
        # the color pass too, on speculation: Mesa rasterises it while Python issues the other passes
        bits = stage.render_seg_amodal(w2c, K, seg, depth, out["image"])
        masks[:, :n] = (bits[:, None] >> _SLOTS[:n, None, None]) & 1
        score = _visibility_score(c, seg, masks, n)
        if score[0] == n:
            break
        if best is None or score > best[0]:
            best = (score, pos, yaw, seg.copy(), depth.copy(), masks.copy())
    else:
        if best is None:
            raise ConfigError(f"cle_mv: could not place {n} objects without overlap in {c.max_attempts} "
                              "attempts; expected a larger placement_radius or fewer / smaller objects "
                              "(max_objects, sizes, min_gap)")
        _, pos, yaw, seg[...], depth[...], masks[...] = best
        stage.set_objects(c, shape, color, material, scale, pos, yaw)
        stage.render_colors(w2c, K, out["image"])
    vis = np.stack([np.bincount(s.ravel(), minlength=n + 1)[1: n + 1] for s in seg])  # (V, n)

    out["num_objects"][()] = n

    out["camera/azimuth"][...] = az
    out["camera/elevation"][...] = el
    out["camera/distance"][...] = dist
    out["camera/position"][...] = scene3d.orbit_positions(az, el, dist)
    out["camera/world_to_camera"][...] = w2c
    out["camera/intrinsics"][...] = K
    out["light/direction"][...] = light

    out["objects/shape"][:n] = shape
    out["objects/color"][:n] = color
    out["objects/rgb"][:n] = [meshes.CLEVR_COLORS[c.colors[i]] for i in color]
    out["objects/material"][:n] = material
    out["objects/size"][:n] = size
    out["objects/scale"][:n] = scale
    out["objects/position"][:n] = pos
    out["objects/rotation"][:n] = yaw
    out["objects/footprint"][:n] = footprint
    out["objects/visible_pixels"][:, :n] = vis
    for v in range(V):
        uv, zc = scene3d.project(pos, w2c[v], K)
        out["objects/image_position"][v, :n] = uv
        out["objects/depth"][v, :n] = zc
        m = masks[v, :n]
        rows, cols = m.any(2), m.any(1)  # (n, H), (n, W)
        for k in range(n):
            if rows[k].any():
                r, q = np.flatnonzero(rows[k]), np.flatnonzero(cols[k])
                out["objects/bbox"][v, k] = (q[0], r[0], q[-1] + 1, r[-1] + 1)


# ---------------------------------------------------------------- rendering
_STAGES: dict = {}


def _stage(c: CleMVConfig) -> "_Stage":
    """This process's render stage for the config's image size and lighting (created on first use)."""
    import os

    key = (os.getpid(), c.width, c.height, c.ambient, c.key_light, c.fill_light, tuple(c.ground_rgb),
           c.shadows, c.shadow_map_size, c.placement_radius, tuple(c.sizes))
    st = _STAGES.get(key)
    if st is None:
        for stale in [k for k in _STAGES if k[0] != key[0]]:
            del _STAGES[stale]  # inherited from a parent process: its GL objects are not ours
        st = _STAGES[key] = _Stage(c)
    return st


def _hooks(renderer):
    """Install (once) the switches this module needs on a pyrender ``Renderer`` and return their state.

    All are off at rest, when the renderer behaves exactly as pyrender's (so
    another generator sharing this process's renderer is unaffected); a
    :class:`_Stage` turns them on around its own render calls only.

    - ``or_pass``: the forward pass draws with depth testing off and the
      color logic op OR (the amodal pass).
    - ``shadows``: shadow maps are drawn into the whole shadow texture
      (pyrender's viewport assumes its default 2048 size), without the
      ``no_cast`` meshes (the ground receives shadows but casts none, so the
      map covers only the objects), from the objects' back faces (lit
      surfaces cannot shadow themselves: no acne), and not at all when
      ``skip_shadow`` is set (this scene's map is current).
    - ``share_lighting``: light uniforms are bound once per shader program
      and pass, not once per node (pyrender's per-node rebinding is most of
      a color pass's Python time; right for meshes without textures, whose
      shadow map stays on the same texture unit).
    """
    state = getattr(renderer, "_scenebench_cle_mv", None)
    if state is not None:
        return state
    from OpenGL import GL

    state = SimpleNamespace(or_pass=False, shadows=False, skip_shadow=False, no_cast=(), share_lighting=False,
                            lit=set())
    orig_configure = renderer._configure_forward_pass_viewport
    orig_configure_shadow = renderer._configure_shadow_mapping_viewport
    orig_shadow_pass = renderer._shadow_mapping_pass
    orig_bind_lighting = renderer._bind_lighting

    def configure_forward_pass_viewport(flags):
        orig_configure(flags)
        state.lit.clear()
        if state.or_pass:
            GL.glDisable(GL.GL_DEPTH_TEST)
            GL.glEnable(GL.GL_COLOR_LOGIC_OP)
            GL.glLogicOp(GL.GL_OR)

    def bind_lighting(scene, program, node, flags):
        if state.share_lighting:
            if program in state.lit:
                return
            state.lit.add(program)
        orig_bind_lighting(scene, program, node, flags)

    def configure_shadow_mapping_viewport(light, flags):
        orig_configure_shadow(light, flags)
        if state.shadows:
            GL.glViewport(0, 0, light.shadow_texture.width, light.shadow_texture.height)

    def shadow_mapping_pass(scene, light_node, flags):
        if not state.shadows:
            return orig_shadow_pass(scene, light_node, flags)
        if state.skip_shadow:
            return None
        hidden = [m for m in state.no_cast if m.is_visible]
        for m in hidden:
            m.is_visible = False
        # clockwise = front: pyrender's back-face culling then drops the faces turned to the light
        GL.glFrontFace(GL.GL_CW)
        try:
            return orig_shadow_pass(scene, light_node, flags)
        finally:
            GL.glFrontFace(GL.GL_CCW)
            for m in hidden:
                m.is_visible = True

    renderer._configure_forward_pass_viewport = configure_forward_pass_viewport
    renderer._configure_shadow_mapping_viewport = configure_shadow_mapping_viewport
    renderer._bind_lighting = bind_lighting
    renderer._shadow_mapping_pass = shadow_mapping_pass
    renderer._scenebench_cle_mv = state
    return state


class _Stage:
    """One pyrender scene per process: ground, lights, camera, and the current scene's object nodes.

    Object nodes are cached per (slot, shape): a new scene changes poses and
    material factors and swaps which nodes are in the scene; meshes are
    uploaded to GL once per (slot, shape) and process.
    """

    def __init__(self, c: CleMVConfig):
        import trimesh

        pr = render.pyrender()
        self.pr = pr
        self.renderer = render.renderer(c.width, c.height)
        self.hooks = _hooks(self.renderer._renderer)
        self.flags_color = pr.RenderFlags.SHADOWS_DIRECTIONAL if c.shadows else pr.RenderFlags.NONE
        self.scene = _shadow_scene_class(pr)(bg_color=[0.3, 0.3, 0.3, 1.0], ambient_light=[c.ambient] * 3)
        reach = c.placement_radius + 2.0 * max(c.sizes)  # every object lies within this distance of the centre
        self.scene.shadow_centroid = np.array([0.0, 0.0, max(c.sizes)])
        self.scene.shadow_scale = float(reach)
        ground = trimesh.creation.box(extents=[600.0, 600.0, 1.0])
        ground.apply_translation([0.0, 0.0, -0.5])
        ground_mat = pr.MetallicRoughnessMaterial(baseColorFactor=[v / 255.0 for v in c.ground_rgb] + [1.0],
                                                  metallicFactor=0.0, roughnessFactor=0.9)
        self.ground = self.scene.add(pr.Mesh.from_trimesh(ground, material=ground_mat, smooth=False), name="ground")
        self.no_cast = (self.ground.mesh,)
        key = pr.DirectionalLight(color=np.ones(3), intensity=c.key_light)
        if c.shadows:
            from OpenGL.GL import GL_FLOAT

            clamp = pr.constants.GLTF.CLAMP_TO_EDGE
            # clamped: ground outside the map's square reads "no occluder" instead of a wrapped copy of the map
            key.shadow_texture = pr.Texture(width=c.shadow_map_size, height=c.shadow_map_size, source_channels="D",
                                            data_format=GL_FLOAT, sampler=pr.Sampler(wrapS=clamp, wrapT=clamp))
        self.key = self.scene.add(key, name="key")
        self.fill = self.scene.add(pr.PointLight(color=np.ones(3), intensity=c.fill_light), name="fill",
                                   pose=_translation([-4.0, 5.0, 6.0]))
        cam = pr.IntrinsicsCamera(fx=1.0, fy=1.0, cx=0.0, cy=0.0, znear=0.5, zfar=400.0)
        self.camera = self.scene.add(cam, name="camera")
        self.nodes: dict = {}
        self.current: list = []  # object nodes of the current scene, by slot
        self.cameras = None  # (world-to-camera (V, 4, 4), intrinsics (3, 3)) float64 of the current scene
        self.state = None
        self.shadow_stale = True
        self.seg_map: dict = {}
        self.or_map: dict = {}
        self.targets = None  # framebuffers of the batched passes, made on first use
        self.programs: dict = {}  # (primitive id, flags) -> (primitive, its shader program)
        self.locs: dict = {}  # program id -> its uniform locations
        self.node_cache: dict = {}  # (node id, primitive id) -> pose and material uniforms, per batch

    # -- scene content
    def set_light(self, direction) -> None:
        """Point the key light along -``direction`` (``direction`` points from the scene to the light)."""
        d = np.asarray(direction, np.float64)
        pose = np.linalg.inv(scene3d.look_at(d * 10.0, np.zeros(3), up=(0.0, 0.0, 1.0)))  # OpenCV camera-to-world
        pose = pose @ np.diag([1.0, -1.0, -1.0, 1.0])  # pyrender lights shine along their local -z
        self.scene.set_pose(self.key, pose)
        self.shadow_stale = True

    def set_objects(self, c: CleMVConfig, shape, color, material, scale, position, yaw) -> None:
        state = (tuple(c.shapes), tuple(c.colors), tuple(c.materials), np.asarray(shape).tobytes(),
                 np.asarray(color).tobytes(), np.asarray(material).tobytes(), np.asarray(scale).tobytes(),
                 np.asarray(position).tobytes(), np.asarray(yaw).tobytes())
        if state == self.state:
            return
        self.state = state
        for node in self.current:
            self.scene.remove_node(node)
        self.current = []
        for k in range(len(shape)):
            node = self._node(k, c.shapes[shape[k]])
            mat = node.mesh.primitives[0].material
            rgb = meshes.CLEVR_COLORS[c.colors[color[k]]]
            metallic, roughness = meshes.MATERIALS[c.materials[material[k]]]
            mat.baseColorFactor = [v / 255.0 for v in rgb] + [1.0]
            mat.metallicFactor = metallic
            mat.roughnessFactor = roughness
            cs, sn = math.cos(yaw[k]), math.sin(yaw[k])
            pose = np.array([[cs * scale[k], -sn * scale[k], 0.0, position[k][0]],
                             [sn * scale[k], cs * scale[k], 0.0, position[k][1]],
                             [0.0, 0.0, scale[k], position[k][2]],
                             [0.0, 0.0, 0.0, 1.0]])
            self.scene.add_node(node)
            self.scene.set_pose(node, pose)
            self.current.append(node)
        self.seg_map = {node: (k + 1,) * 3 for k, node in enumerate(self.current)}
        self.seg_map[self.ground] = (0, 0, 0)
        self.or_map = {node: _bit_color(k) for k, node in enumerate(self.current)}
        self.shadow_stale = True

    def _node(self, slot: int, name: str):
        node = self.nodes.get((slot, name))
        if node is None:
            pr = self.pr
            mat = pr.MetallicRoughnessMaterial(baseColorFactor=[1.0, 1.0, 1.0, 1.0], metallicFactor=0.0,
                                               roughnessFactor=1.0)
            mesh = pr.Mesh.from_trimesh(meshes.shape(name).mesh, material=mat, smooth=True)
            node = self.nodes[(slot, name)] = pr.Node(name=f"{slot}:{name}", mesh=mesh)
        return node

    def _set_camera(self, w2c, K) -> None:
        cam = self.camera.camera
        cam.fx, cam.fy, cam.cx, cam.cy = float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2])
        self.scene.set_pose(self.camera, scene3d.gl_pose(w2c))

    # -- passes
    def render_seg(self, w2c, K) -> tuple[np.ndarray, np.ndarray]:
        """Visible ids (H, W) uint8 (0 ground/background, k+1 object k) and depth (H, W) float32 of one view."""
        self._set_camera(w2c, K)
        color, depth = self.renderer.render(self.scene, self.pr.RenderFlags.SEG, self.seg_map)
        return color[..., 0], depth

    def render_color(self, w2c, K, share_lighting: bool = True) -> np.ndarray:
        """RGB (H, W, 3) uint8 of one view; the shadow map is redrawn only when the scene changed."""
        self._set_camera(w2c, K)
        h = self.hooks
        h.shadows, h.skip_shadow, h.no_cast = True, not self.shadow_stale, self.no_cast
        h.share_lighting = share_lighting
        try:
            color, _ = self.renderer.render(self.scene, self.flags_color)
        finally:
            h.shadows = h.skip_shadow = h.share_lighting = False
            h.no_cast = ()
        self.shadow_stale = False
        return color

    def render_amodal(self, w2c, K) -> np.ndarray:
        """Per-pixel bit sets (H, W) int64: bit k set where object k's silhouette covers the pixel centre."""
        from OpenGL import GL

        self._set_camera(w2c, K)
        self.hooks.or_pass = True
        try:
            color, _ = self.renderer.render(self.scene, self.pr.RenderFlags.SEG, self.or_map)
        finally:
            self.hooks.or_pass = False
            GL.glDisable(GL.GL_COLOR_LOGIC_OP)
        c = color.astype(np.int64)
        return c[..., 0] | (c[..., 1] << 8) | (c[..., 2] << 16)

    # -- batched passes: every view of a scene at once, exact copies of the single-view passes above
    def render_seg_amodal(self, w2c, K, seg: np.ndarray, depth: np.ndarray, image=None) -> np.ndarray:
        """The ``SEG`` and OR passes of all views: fills ``seg`` (V, H, W) uint8 and ``depth`` (V, H, W)
        float32, returns the amodal bit sets (V, H, W) int64 (bit k: object k's silhouette covers the pixel).
        With ``image`` (V, H, W, 3) uint8, the color passes too (as :meth:`render_colors`)."""
        pr = self.pr
        V = len(w2c)
        bits = np.empty((V,) + seg.shape[1:], np.int64)

        def read_seg(v, color, dep):
            seg[v] = color[..., 0]
            depth[v] = dep

        def read_or(v, color, dep):
            c = color.astype(np.int64)
            bits[v] = c[..., 0] | (c[..., 1] << 8) | (c[..., 2] << 16)

        def read_color(v, color, dep):
            image[v] = color

        jobs = []
        if image is not None:  # first: the longest to rasterise
            jobs += [(v, self.flags_color, None, False, read_color) for v in range(V)]
        for v in range(V):
            jobs.append((v, pr.RenderFlags.SEG, self.seg_map, False, read_seg))
            jobs.append((v, pr.RenderFlags.SEG, self.or_map, True, read_or))
        self._batch(w2c, K, jobs)
        return bits

    def render_colors(self, w2c, K, image: np.ndarray) -> None:
        """The color pass of all views into ``image`` (V, H, W, 3) uint8 (shadow map drawn when stale)."""

        def read(v, color, dep):
            image[v] = color

        self._batch(w2c, K, [(v, self.flags_color, None, False, read) for v in range(len(w2c))])

    def _batch(self, w2c, K, jobs) -> None:
        """Draw ``jobs`` (view, flags, seg map or None, OR pass?, reader(view, rgb, depth)) and read them back.

        pyrender's forward pass (same shader programs, uniforms, draw order
        and GL state, so the same pixels: :meth:`render_color`,
        :meth:`render_seg` and :meth:`render_amodal` are the reference)
        without most of its per-view Python work and without its per-view
        read-back: each job draws into its own framebuffer (4x multisampled
        like pyrender's; single-sample for the OR pass, which draws without
        multisampling and reads no depth), so Mesa's rasteriser threads work
        on earlier views while Python issues the next ones; all read-backs
        happen at the end (or when the framebuffers run out). The shadow map
        is drawn first when stale and a job is a color pass.
        """
        from OpenGL import GL

        pr = self.pr
        rend = self.renderer
        rend._platform.make_current()
        r = rend._renderer
        r.viewport_width, r.viewport_height = rend.viewport_width, rend.viewport_height
        flags0 = self.flags_color | pr.RenderFlags.OFFSCREEN
        r._update_context(self.scene, flags0)
        color_jobs = any(not j[1] & pr.RenderFlags.SEG for j in jobs)
        if color_jobs and flags0 & pr.RenderFlags.SHADOWS_DIRECTIONAL:
            h = self.hooks
            if self.shadow_stale:
                h.shadows, h.skip_shadow, h.no_cast = True, False, self.no_cast
                try:
                    r._shadow_mapping_pass(self.scene, self.key, flags0)
                finally:
                    h.shadows = False
                    h.no_cast = ()
                self.shadow_stale = False
        targets = self._targets()
        pending = []
        lit = set()
        self.node_cache = {}
        W = rend.viewport_width
        n_seg = n_color = 0
        try:
            for v, flags, seg_map, or_pass, reader in jobs:
                color = not flags & pr.RenderFlags.SEG
                if (n_color == targets.per * len(targets.strips)) if color else (n_seg == len(targets.fbs)):
                    self._read(targets, pending)
                    pending, n_seg, n_color = [], 0, 0
                if color:  # side by side in a strip: one Mesa scene, rasterised by all its threads at once
                    slot, strip, x = None, n_color // targets.per, (n_color % targets.per) * W
                    fb = targets.strips[strip][0]
                    n_color += 1
                else:
                    slot, strip, x = n_seg, None, 0
                    # the OR pass draws without multisampling (SEG) and keeps no depth: a single-sample target
                    fb = targets.flat[slot] if or_pass else targets.fbs[slot]
                    n_seg += 1
                self._set_camera(w2c[v], K)
                self._draw(fb, flags | pr.RenderFlags.OFFSCREEN, seg_map, or_pass, lit, x)
                pending.append((slot, v, flags, or_pass, reader, strip, x))
            self._read(targets, pending)
        finally:
            GL.glDisable(GL.GL_COLOR_LOGIC_OP)
            GL.glUseProgram(0)
            GL.glBindVertexArray(0)
            GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)
            r._reset_active_textures()

    def _draw(self, fb, flags, seg_map, or_pass, lit, x: int = 0) -> None:
        """One forward pass into framebuffer ``fb``: pyrender's ``Renderer._forward_pass``, less its read-back.

        The same programs, uniform values (converted to float32 as pyrender's
        ``set_uniform`` does), draw order and GL state; but uniform locations
        are cached, GL is called without PyOpenGL's wrappers, the camera
        uniforms are set once per program and pass (pyrender: once per node)
        and the per-draw state of ``_bind_and_draw_primitive`` (the same for
        every opaque, single-sided, filled, untextured triangle mesh, all this
        stage draws) once per pass.
        """
        import ctypes

        from OpenGL import GL
        from OpenGL.raw.GL.VERSION import GL_2_0 as G2

        pr = self.pr
        r = self.renderer._renderer
        scene = self.scene
        seg = bool(flags & pr.RenderFlags.SEG)
        GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, fb)
        GL.glViewport(x, 0, r.viewport_width, r.viewport_height)
        GL.glEnable(GL.GL_DEPTH_TEST)
        GL.glDepthMask(GL.GL_TRUE)
        GL.glDepthFunc(GL.GL_LESS)
        GL.glDepthRange(0.0, 1.0)
        if or_pass:
            GL.glDisable(GL.GL_DEPTH_TEST)
            GL.glEnable(GL.GL_COLOR_LOGIC_OP)
            GL.glLogicOp(GL.GL_OR)
        else:
            GL.glDisable(GL.GL_COLOR_LOGIC_OP)
        if seg:
            GL.glClearColor(0.0, 0.0, 0.0, 1.0)
        else:
            GL.glClearColor(*scene.bg_color)
        GL.glEnable(GL.GL_SCISSOR_TEST)  # this view's part of a strip only
        GL.glScissor(x, 0, r.viewport_width, r.viewport_height)
        GL.glClear(GL.GL_COLOR_BUFFER_BIT | GL.GL_DEPTH_BUFFER_BIT)
        GL.glDisable(GL.GL_SCISSOR_TEST)
        if seg:
            GL.glDisable(GL.GL_MULTISAMPLE)
        else:
            GL.glEnable(GL.GL_MULTISAMPLE)
        GL.glEnable(GL.GL_CULL_FACE)
        GL.glEnable(GL.GL_BLEND)
        GL.glCullFace(GL.GL_BACK)
        GL.glBlendFunc(GL.GL_ONE, GL.GL_ZERO)
        GL.glPolygonMode(GL.GL_FRONT_AND_BACK, GL.GL_FILL)
        GL.glDisable(GL.GL_PROGRAM_POINT_SIZE)
        V, P = r._get_camera_matrices(scene)
        cam = (_f32(V), _f32(P), _f32(scene.get_pose(scene.main_camera_node)[:3, 3]))
        programs, locs, node_cache = self.programs, self.locs, self.node_cache
        has_camera = set()
        bound = None
        for node in r._sorted_mesh_nodes(scene):
            mesh = node.mesh
            if not mesh.is_visible:
                continue
            if seg:
                if node not in seg_map:
                    continue
                color = _f32(np.asanyarray(seg_map[node]) / 255.0)
            for primitive in mesh.primitives:
                key = (id(primitive), flags)
                entry = programs.get(key)
                if entry is None:
                    m = primitive.material
                    if (primitive.mode != pr.constants.GLTF.TRIANGLES or primitive.poses is not None
                            or m.tex_flags or m.alphaMode == "BLEND" or m.doubleSided or m.wireframe
                            or not isinstance(m, pr.MetallicRoughnessMaterial)):
                        raise RuntimeError(f"cle_mv: cannot batch-draw primitive of {node.name}")
                    entry = programs[key] = (primitive, r._get_primitive_program(
                        primitive, flags, pr.constants.ProgramFlags.USE_MATERIAL))
                program = entry[1]
                pid = program._program_id
                if pid != bound:
                    G2.glUseProgram(pid)
                    bound = pid
                loc = locs.get(pid)
                if loc is None:
                    loc = locs[pid] = _Locations(pid)
                if pid not in has_camera:
                    has_camera.add(pid)
                    G2.glUniformMatrix4fv(loc["V"], 1, GL.GL_TRUE, cam[0])
                    G2.glUniformMatrix4fv(loc["P"], 1, GL.GL_TRUE, cam[1])
                    G2.glUniform3fv(loc["cam_pos"], 1, cam[2])
                nc = node_cache.get((id(node), id(primitive)))
                if nc is None:  # this batch's pose and material uniforms of the node (the scene is fixed)
                    m = primitive.material
                    nc = node_cache[(id(node), id(primitive))] = (
                        _f32(scene.get_pose(node)),
                        [("material.emissive_factor", m.emissiveFactor),
                         ("material.base_color_factor", m.baseColorFactor),
                         ("material.metallic_factor", m.metallicFactor),
                         ("material.roughness_factor", m.roughnessFactor)])
                if seg:
                    G2.glUniform3fv(loc["color"], 1, color)
                else:
                    if pid not in lit:  # light uniforms are the same for every view and node
                        lit.add(pid)
                        r._bind_lighting(scene, program, node, flags)
                        r._reset_active_textures()
                    for name, value in nc[1]:
                        _set_uniform(program, loc, name, value)
                G2.glUniformMatrix4fv(loc["M"], 1, GL.GL_TRUE, nc[0])
                primitive._bind()
                if primitive.indices is not None:
                    GL.glDrawElementsInstanced(primitive.mode, primitive.indices.size, GL.GL_UNSIGNED_INT,
                                               ctypes.c_void_p(0), 1)
                else:
                    GL.glDrawArraysInstanced(primitive.mode, 0, len(primitive.positions), 1)
        if seg:  # (a color pass's strip stays one scene until it is full)
            GL.glFlush()

    def _read(self, targets, pending) -> None:
        """Resolve the ``pending`` (slot, view, flags, OR pass?, reader) framebuffers, then read each back.

        Per job, pyrender's ``_read_main_framebuffer``: RGB (H, W, 3) uint8 and (``SEG`` passes only, else
        None) depth converted to camera z the same way, handed to ``reader(view, rgb, depth)``. All
        resolves are queued before the first read, so Mesa runs them in one go.
        """
        from OpenGL import GL

        pr = self.pr
        r = self.renderer._renderer
        width, height = r.viewport_width, r.viewport_height
        used: dict = {}
        for slot, v, flags, or_pass, reader, strip, x in pending:
            if strip is not None:
                used[strip] = max(used.get(strip, 0), x + width)
        for strip, w in used.items():
            GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, targets.strips[strip][0])
            GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, targets.strips[strip][1])
            GL.glBlitFramebuffer(0, 0, w, height, 0, 0, w, height, GL.GL_COLOR_BUFFER_BIT, GL.GL_LINEAR)
        for slot, v, flags, or_pass, reader, strip, x in pending:
            if strip is not None:
                continue
            if not or_pass:
                GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, targets.fbs[slot])
                GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, targets.resolve[slot])
                GL.glBlitFramebuffer(0, 0, width, height, 0, 0, width, height, GL.GL_COLOR_BUFFER_BIT,
                                     GL.GL_LINEAR)
                if flags & pr.RenderFlags.SEG:
                    GL.glBlitFramebuffer(0, 0, width, height, 0, 0, width, height, GL.GL_DEPTH_BUFFER_BIT,
                                         GL.GL_NEAREST)
        for slot, v, flags, or_pass, reader, strip, x in pending:
            seg = bool(flags & pr.RenderFlags.SEG) and not or_pass
            if strip is not None:
                fb = targets.strips[strip][1]
            else:
                fb = targets.flat[slot] if or_pass else targets.resolve[slot]
            GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, fb)
            self._read_one(v, seg, reader, x)

    def _read_one(self, v, seg, reader, x: int = 0) -> None:
        from OpenGL import GL

        r = self.renderer._renderer
        width, height = r.viewport_width, r.viewport_height
        depth_im = None
        if seg:
            depth_buf = GL.glReadPixels(0, 0, width, height, GL.GL_DEPTH_COMPONENT, GL.GL_FLOAT)
            depth_im = np.frombuffer(depth_buf, dtype=np.float32).reshape((height, width))[::-1]
            inf_inds = depth_im == 1.0
            depth_im = 2.0 * depth_im - 1.0
            cam = self.camera.camera
            z_near, z_far = cam.znear, cam.zfar
            noninf = np.logical_not(inf_inds)
            depth_im[noninf] = (2.0 * z_near * z_far) / (z_far + z_near - depth_im[noninf] * (z_far - z_near))
            depth_im[inf_inds] = 0.0
        color_buf = GL.glReadPixels(x, 0, width, height, GL.GL_RGB, GL.GL_UNSIGNED_BYTE)
        color_im = np.frombuffer(color_buf, dtype=np.uint8).reshape((height, width, 3))[::-1]
        reader(v, color_im, depth_im)

    def _targets(self) -> SimpleNamespace:
        """This stage's multisampled framebuffers (like pyrender's main one) and one resolve framebuffer."""
        if self.targets is None:
            from OpenGL import GL

            r = self.renderer._renderer
            w, h = r.viewport_width, r.viewport_height
            n = int(max(2, min(64, (256 << 20) // (w * h * 6 * 8))))  # at most ~256 MB
            # color passes: strips of `per` views side by side (4x samples + resolve: 40 bytes a pixel)
            per = int(max(1, min(16, 4096 // w, (32 << 20) // (w * h * 40)))) if COLOR_STRIPS else 1
            n_strips = int(max(1, min(8, (256 << 20) // (per * w * h * 40))))

            def framebuffer(samples, w=w):
                cb, db = GL.glGenRenderbuffers(2)
                for rb, fmt in ((cb, GL.GL_RGBA), (db, GL.GL_DEPTH_COMPONENT24)):
                    GL.glBindRenderbuffer(GL.GL_RENDERBUFFER, rb)
                    if samples:
                        GL.glRenderbufferStorageMultisample(GL.GL_RENDERBUFFER, samples, fmt, w, h)
                    else:
                        GL.glRenderbufferStorage(GL.GL_RENDERBUFFER, fmt, w, h)
                fb = GL.glGenFramebuffers(1)
                GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, fb)
                GL.glFramebufferRenderbuffer(GL.GL_DRAW_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_RENDERBUFFER, cb)
                GL.glFramebufferRenderbuffer(GL.GL_DRAW_FRAMEBUFFER, GL.GL_DEPTH_ATTACHMENT, GL.GL_RENDERBUFFER, db)
                return fb

            self.renderer._platform.make_current()
            self.targets = SimpleNamespace(fbs=[framebuffer(4) for _ in range(n)],
                                           resolve=[framebuffer(0) for _ in range(n)],
                                           flat=[framebuffer(0) for _ in range(n)], per=per,
                                           strips=[(framebuffer(4, per * w), framebuffer(0, per * w))
                                                   for _ in range(n_strips)])
        return self.targets

    def render_object(self, k: int, w2c, K) -> tuple[np.ndarray, np.ndarray]:
        """Object k rendered alone by a ``SEG`` pass: silhouette (H, W) bool and its depth (H, W) float32.

        The slow reference (one pass per object) for the OR pass's amodal masks.
        """
        self._set_camera(w2c, K)
        color, depth = self.renderer.render(self.scene, self.pr.RenderFlags.SEG, {self.current[k]: (255, 255, 255)})
        return color[..., 0] > 0, depth


def _f32(a) -> np.ndarray:
    """A float array as the contiguous float32 copy PyOpenGL passes to GL (what pyrender's set_uniform sends)."""
    return np.ascontiguousarray(a, dtype=np.float32)


class _Locations(dict):
    """Uniform name -> location of one shader program, looked up once (-1: not in the program)."""

    def __init__(self, program_id):
        super().__init__()
        self.program_id = program_id

    def __missing__(self, name):
        from OpenGL.raw.GL.VERSION import GL_2_0 as G2

        loc = self[name] = int(G2.glGetUniformLocation(self.program_id, name.encode()))
        return loc


def _set_uniform(program, loc, name, value) -> None:
    """pyrender's ``ShaderProgram.set_uniform`` for float vectors and floats with a cached location;
    anything else goes through pyrender's own."""
    from OpenGL.raw.GL.VERSION import GL_2_0 as G2

    where = loc[name]
    if where == -1:
        return  # pyrender: "Invalid shader variable", ignored
    if isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype.kind == "f" and value.shape[0] in (3, 4):
        (G2.glUniform3fv if value.shape[0] == 3 else G2.glUniform4fv)(where, 1, _f32(value))
    elif isinstance(value, float):
        G2.glUniform1f(where, value)
    else:
        program.set_uniform(name, value)


def _bit_color(k: int) -> tuple[int, int, int]:
    rgb = [0, 0, 0]
    rgb[k // 8] = 1 << (k % 8)
    return tuple(rgb)


def _translation(t) -> np.ndarray:
    T = np.eye(4)
    T[:3, 3] = t
    return T


_SHADOW_SCENE = []  # the pyrender Scene subclass below, made on first use (pyrender is imported lazily)


def _shadow_scene_class(pr):
    """A pyrender ``Scene`` whose shadow maps cover the object area, not the whole (huge) ground plane.

    pyrender sizes a directional light's shadow camera by the scene's
    bounding box (``centroid``, ``scale``); these two properties are used for
    nothing else, so they are pinned to the objects' area.
    """
    if not _SHADOW_SCENE:
        class ShadowScene(pr.Scene):
            shadow_centroid = np.zeros(3)
            shadow_scale = 1.0
            centroid = property(lambda self: self.shadow_centroid)
            scale = property(lambda self: self.shadow_scale)

        _SHADOW_SCENE.append(ShadowScene)
    return _SHADOW_SCENE[0]
