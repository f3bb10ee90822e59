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
a horse, a torus, a cone, a capsule and a blob (see :mod:`meshes`), each
sized so that its mean amodal area per view matches the mean of the three
primitives of the same size class (:data:`meshes.SIZE_FACTOR`; measured in
300 scenes: within 5%). Long thin shapes need room, so ``dolphin`` keeps
the objects' turned bounding boxes, not their bounding circles, ``min_gap``
apart (``placement="boxes"``, largest first); a scene whose objects find
no placement in ``max_attempts`` attempts is redrawn whole (about 1 scene
in 1,500). Splits: train 3,000 / test 200 scenes (the LDS paper's).

Per view (leading axis V): ``image`` RGB, ``segmentation`` (0 = background
including the ground, k+1 = object slot k, from a ``RenderFlags.SEG`` pass:
exact ids, no anti-aliasing, the front-most surface wins), ``masks``
(amodal: object k's full silhouette, occluders ignored), ``depth``
(camera-frame z of the visible surface at each pixel centre, in world units,
ground included; 0 where no surface is hit) and the camera (azimuth,
elevation, distance, position, 4x4 world-to-camera in the OpenCV convention,
3x3 intrinsics; see :mod:`scene3d`).

Rendering (:mod:`render`'s :class:`~render.Stage`: pyrender on EGL, one
scene per process, created on first use): each view costs three GL passes —
color (4x MSAA, PBR shading, shadow map rendered once per scene), ``SEG``
(visible ids + depth) and one "OR" pass that gives every object's amodal
mask at once (it rasterises exactly the triangles of the ``SEG`` pass, so a
pixel labelled k is always inside amodal mask k). All passes of a scene's
views are issued in one batch, the color pass with the others on
speculation (a placement is rarely rejected), its views side by side in one
framebuffer (``color_strips``; about 1 pixel in 50,000 differs from a view
rendered alone).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from scenebench.config import Preset, Split
from scenebench.errors import ConfigError
from scenebench.generator import Generator
from scenebench.registry import register_generator
from scenebench.datasets.schema import Feature

from .sources import meshes, render, scene3d

CLEVR_COLOR_NAMES = tuple(meshes.CLEVR_COLORS)
MAX_OBJECTS = render.MAX_AMODAL_OBJECTS  # the OR pass stores one bit per object in an RGB pixel
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
    # no interpenetration: "circles" keeps the objects' bounding circles min_gap apart (CLEVR's rule);
    # "boxes" their bounding boxes turned by their yaws (room for long thin shapes), largest first
    placement: Literal["circles", "boxes"] = "circles"

    def reach(self) -> float:
        """An upper bound of how far an object extends from its centre (world units)."""
        return max(2.0, max(meshes.FOOTPRINT[s] for s in self.shapes)) * max(self.sizes)

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
        if self.placement == "circles":
            r = max(meshes.FOOTPRINT[s] for s in self.shapes) * max(self.sizes) + self.min_gap / 2.0
            need, room = self.max_objects * r**2, MAX_PACKING * (self.placement_radius + r) ** 2
        else:  # the mean turned box over shapes and sizes, against the disk its boxes can reach
            ext = np.array([meshes.HALF_EXTENTS[s] for s in self.shapes])[:, None, :] * np.array(self.sizes)[:, None]
            area = float(((2 * ext + self.min_gap).prod(-1)).mean())
            reach = float(np.hypot(ext[..., 0], ext[..., 1]).max())
            need, room = self.max_objects * area, MAX_PACKING * math.pi * (self.placement_radius + reach) ** 2
        if need > room:
            raise ValueError(f"max_objects={self.max_objects} objects of size {max(self.sizes)} "
                             f"(min_gap {self.min_gap}) do not fit on a disk of placement_radius "
                             f"{self.placement_radius}; expected a larger disk or fewer / smaller objects")
        clearance = self.camera_distance - self.placement_radius - self.reach()
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
    half_extents: np.ndarray  # (S, 2) bounding-box half-extents (x, y) on the ground at scale 1


@register_generator
class CleMV(Generator):
    name = "cle_mv"
    VERSION = "1.3.0"
    RELEASE_NOTES = {"1.0.0": "First release: presets cle-mv (CLEVR primitives) and dolphin (plus 9 procedural "
                              "complex shapes); 10 views at 64x64 with segmentation, amodal masks, depth, cameras.",
                     "1.1.0": "Faster rendering (~1.8x on one worker): all passes of a scene issued in one batch, "
                              "color views rasterised side by side in one framebuffer. Segmentation, masks, depth "
                              "and cameras are unchanged; about 1 image pixel in 50,000 differs (at object edges, "
                              "one multisample flipped; mostly by 1 level).",
                     "1.2.0": "Every random stream is keyed by the dataset (family/preset) as well as the seed, split and "
                              "index, so datasets of different families or presets with the same seed are independent "
                              "(before, e.g. multi_dsprites/lavae and multi_mnist/lavae-1k had the same object counts); the "
                              "samples of a seed differ from 1.1.0. Shards are stored with deflate by default (plain HDF5 "
                              "filters: any reader opens them) in power-of-two chunks. The renderer moved to "
                              "generators/sources/render.py (same bytes).",
                     "1.3.0": "dolphin: the complex shapes are sized so that each covers as many pixels per view "
                              "as CLEVR's primitives of the same size class (before, a dolphin or a fish covered a "
                              "fifth of a sphere's pixels), objects keep their turned bounding boxes apart "
                              "(placement='boxes', so long shapes fit), and the splits are the LDS paper's train "
                              "3,000 / test 200; its samples differ from 1.2.0. cle-mv: samples unchanged (the "
                              "config gains placement='circles', so its fingerprint changes).",
    }
    Config = CleMVConfig
    description = "CLE-MV: multi-view CLEVR-like scenes rendered with pyrender (LDS / MulMON)"
    paper = "LDS (Li & Fisher 2021), data of MulMON (Li et al. 2020)"
    PRESETS = {
        "cle-mv": Preset(CleMVConfig(), {"train": Split(1_500), "test": Split(200)},
                         "LDS CLE-MV: 2-5 CLEVR objects, 10 views at 64x64 around the scene"),
        "dolphin": Preset(CleMVConfig(shapes=meshes.SHAPES, placement="boxes"),
                          {"train": Split(3_000), "test": Split(200)},
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
                      tuple(len(s.mesh.faces) for s in shapes), np.array([s.half_extents for s in shapes]))

    def describe_assets(self, assets: Assets) -> dict:
        # the pixels also depend on the rendering stack (and on Mesa's llvmpipe, which only a GL context can name)
        return {"mesh_faces": list(assets.faces), **render.stack_versions()}

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


SCENE_REDRAWS = 100  # "boxes": scenes whose objects find no placement are redrawn, at most this often


def _draw(rng, c: CleMVConfig, assets: Assets, out) -> None:
    for _ in range(SCENE_REDRAWS if c.placement == "boxes" else 1):
        if _draw_scene(rng, c, assets, out):
            return
    raise ConfigError(f"cle_mv: could not place the objects of a scene without overlap in {c.max_attempts} "
                      "attempts; expected a larger placement_radius or fewer / smaller objects "
                      "(max_objects, sizes, min_gap)")


def _draw_scene(rng, c: CleMVConfig, assets: Assets, out) -> bool:
    """Draw one scene into ``out``; False (nothing written) when no placement of its objects was found."""
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

    rgb = [meshes.CLEVR_COLORS[c.colors[i]] for i in color]
    look = {"shapes": [c.shapes[i] for i in shape], "rgb": rgb,  # what set_objects draws, besides the poses
            "metallic": [meshes.MATERIALS[c.materials[i]][0] for i in material],
            "roughness": [meshes.MATERIALS[c.materials[i]][1] for i in material]}

    stage = _stage(c)
    stage.set_key_light(light)
    seg, depth, masks = out["segmentation"], out["depth"], out["masks"]
    best = None  # (score, positions, yaw, seg, depth, masks) of the best rejected placement
    for _ in range(c.max_attempts):
        if c.placement == "boxes":
            yaw = 2 * math.pi * rng.random(n)
            xy = scene3d.place_boxes_on_disk(rng, assets.half_extents[shape] * scale[:, None], yaw,
                                             c.placement_radius, c.min_gap)
        else:
            xy = scene3d.place_on_disk(rng, footprint, c.placement_radius, c.min_gap)
            yaw = 2 * math.pi * rng.random(n)
        if xy is None:
            continue
        pos = np.concatenate([xy, z[:, None]], 1)
        stage.set_objects(**look, poses=_object_poses(scale, pos, yaw))
        # the color pass too, on speculation: Mesa rasterises it while Python issues the other passes
        stage.render_views(w2c, K, image=out["image"], segmentation=seg, depth=depth, masks=masks)
        score = _visibility_score(c, seg, masks, n)
        if score[0] == n:
            break
        if best is None or score > best[0]:
            best = (score, pos, yaw, seg.copy(), depth.copy(), masks.copy())
    else:
        if best is None:
            return False
        _, pos, yaw, seg[...], depth[...], masks[...] = best
        stage.set_objects(**look, poses=_object_poses(scale, pos, yaw))
        stage.render_views(w2c, K, image=out["image"])
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
    out["objects/rgb"][:n] = rgb
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
    return True


# ---------------------------------------------------------------- the stage: ground, lights, object shapes
def _stage(c: CleMVConfig) -> render.Stage:
    """This process's render stage for the config's image size and lighting (created on first use)."""
    key = ("cle_mv", c.width, c.height, c.ambient, c.key_light, c.fill_light, tuple(c.ground_rgb), c.shadows,
           c.shadow_map_size, c.placement_radius, c.reach())
    return render.per_process(key, lambda: _new_stage(c))


def _new_stage(c: CleMVConfig) -> render.Stage:
    stage = render.Stage(c.width, c.height, _shape_mesh, background=(0.3, 0.3, 0.3), ambient=c.ambient,
                         znear=0.5, zfar=400.0)
    stage.add_ground(c.ground_rgb, roughness=0.9)
    reach = c.placement_radius + c.reach()  # every object lies within this distance of the centre
    stage.add_key_light(c.key_light, shadow_map_size=c.shadow_map_size if c.shadows else None,
                        shadow_area=((0.0, 0.0, max(c.sizes)), reach))
    stage.add_point_light((-4.0, 5.0, 6.0), c.fill_light)  # the fill light
    return stage


def _shape_mesh(name: str):
    return meshes.shape(name).mesh


def _object_poses(scale, position, yaw) -> np.ndarray:
    """Object-to-world poses (n, 4, 4): scaled by ``scale``, turned by ``yaw`` about z, centred at ``position``."""
    poses = np.zeros((len(scale), 4, 4))
    for k in range(len(scale)):
        cs, sn = math.cos(yaw[k]), math.sin(yaw[k])
        poses[k] = [[cs * scale[k], -sn * scale[k], 0.0, position[k][0]],
                    [sn * scale[k], cs * scale[k], 0.0, position[k][1]],
                    [0.0, 0.0, scale[k], position[k][2]],
                    [0.0, 0.0, 0.0, 1.0]]
    return poses


def silhouette_pixels(c: CleMVConfig, shape: str, scale: float, yaws: int = 8) -> float:
    """Mean amodal pixels per view of ``shape`` at ``scale`` alone at the scene centre.

    Averaged over ``yaws`` evenly spaced yaws and the config's ``num_views``
    evenly spaced cameras (no jitter): the measure the complex shapes' sizes
    are matched on (:data:`meshes.SIZE_FACTOR`, ``tests/test_cle_mv.py``).
    """
    V, H, W = c.num_views, c.height, c.width
    az = 2 * math.pi * np.arange(V) / V
    w2c = scene3d.orbit_cameras(az, np.full(V, math.radians(c.elevation_deg)), np.full(V, c.camera_distance))
    K = scene3d.intrinsics(c.fov_deg, W, H)
    stage = _stage(c)
    masks = np.zeros((V, 1, H, W), bool)
    z = meshes.shape(shape).half_height * scale
    total = 0.0
    for j in range(yaws):
        stage.set_objects([shape], [(128, 128, 128)], [0.0], [0.85],
                          _object_poses([scale], [(0.0, 0.0, z)], [2 * math.pi * j / yaws]))
        stage.render_views(w2c, K, masks=masks)
        total += masks.sum() / V
    return total / yaws
