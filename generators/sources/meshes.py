"""Object meshes for the 3-D scene generators: CLEVR's primitives and procedural complex shapes.

Every shape is a ``trimesh.Trimesh`` in a canonical frame: z up, the
axis-aligned bounding box centred on the origin, "facing" +x, sized so that
a scene places it by one scale factor ``s`` (CLEVR's object "size"):

- ``sphere``: radius 1; ``cylinder``: radius 1, height 2; ``cube``: side
  ``2 / sqrt(2)`` (CLEVR divides the cube's size by sqrt(2) so that all three
  primitives look about as large);
- complex shapes (``dolphin``, ``fish``, ``duck``, ``cat``, ``horse``,
  ``torus``, ``cone``, ``capsule``, ``blob``): the largest half-extent of the
  bounding box is :data:`SIZE_FACTOR` ``[name]``, chosen so that each
  shape's mean amodal area per view in CLE-MV's cameras matches the mean of
  CLEVR's three primitives at the same scale (a dolphin with half-extent 1,
  as long as a sphere is wide, covers a quarter of a sphere's pixels).

Meshes are built from closed components (a dolphin is a revolved body plus
extruded fins, overlapping but not boolean-merged, which renders the same),
deterministically (no random numbers: the blob's bumps are fixed sinusoids)
and cached per process. Vertices are split at sharp edges so that smooth
shading keeps flat faces flat (a cube's sides, a cylinder's caps).

Colors and materials are CLEVR's: the 8 colors with CLEVR's RGB values
(used, as CLEVR's Blender scenes do, as linear base colors) and two
materials, rubber (matte dielectric) and metal (shiny), as glTF
metallic-roughness parameters.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

# CLEVR's properties.json colors, in CLEVR's order.
CLEVR_COLORS: dict[str, tuple[int, int, int]] = {
    "gray": (87, 87, 87),
    "red": (173, 35, 35),
    "blue": (42, 75, 215),
    "green": (29, 105, 20),
    "brown": (129, 74, 25),
    "purple": (129, 38, 192),
    "cyan": (41, 208, 208),
    "yellow": (255, 238, 51),
}

# name -> (metallic factor, roughness factor) of a glTF MetallicRoughness material
MATERIALS: dict[str, tuple[float, float]] = {
    "rubber": (0.0, 0.85),
    "metal": (1.0, 0.3),
}

PRIMITIVES = ("cube", "sphere", "cylinder")
COMPLEX = ("dolphin", "fish", "duck", "cat", "horse", "torus", "cone", "capsule", "blob")
SHAPES = PRIMITIVES + COMPLEX
# Largest half-extent of each complex shape at scale 1: sqrt(primitives' mean silhouette pixels / the
# shape's at half-extent 1), measured with cle_mv.silhouette_pixels (alone at the scene centre, 8 yaws x
# 10 views, elevation 30 deg, both sizes averaged); tests/test_cle_mv.py re-measures it.
SIZE_FACTOR: dict[str, float] = {
    "dolphin": 2.42, "fish": 2.35, "duck": 1.61, "cat": 1.43, "horse": 1.98,
    "torus": 1.42, "cone": 1.28, "capsule": 1.70, "blob": 1.22,
}
# Ground-plane facts of each canonical shape at scale 1, read by config validation without building a
# mesh (a test checks them against the meshes): the bounding-circle radius (``Shape.footprint``) and the
# half-extents (x, y) of the bounding box, which turns with the object's yaw.
FOOTPRINT: dict[str, float] = {
    "cube": 1.0, "sphere": 1.0, "cylinder": 1.0, "dolphin": 2.606, "fish": 2.351, "duck": 1.61,
    "cat": 1.501, "horse": 1.98, "torus": 1.42, "cone": 1.28, "capsule": 1.70, "blob": 1.277,
}
HALF_EXTENTS: dict[str, tuple[float, float]] = {
    "cube": (0.707, 0.707), "sphere": (1.0, 1.0), "cylinder": (1.0, 1.0), "dolphin": (2.42, 0.968),
    "fish": (2.35, 0.401), "duck": (1.61, 0.955), "cat": (1.43, 0.455), "horse": (1.98, 0.576),
    "torus": (1.42, 1.42), "cone": (1.28, 1.28), "capsule": (1.70, 0.729), "blob": (1.22, 1.069),
}


@dataclass(frozen=True)
class Shape:
    """A canonical mesh and the numbers a scene needs to place it.

    Attributes:
        name: shape name.
        mesh: ``trimesh.Trimesh`` in the canonical frame (bounding box centred on 0).
        footprint: radius of the smallest origin-centred circle in the ground
            plane holding the mesh at any yaw (max over vertices of sqrt(x²+y²)).
        half_height: half the z extent; a shape of scale ``s`` rests on the
            ground when its centre is at z = ``s * half_height``.
        half_extents: (x, y) half-extents of the bounding box in the ground plane.
    """

    name: str
    mesh: object
    footprint: float
    half_height: float
    half_extents: tuple[float, float]


def shape(name: str) -> Shape:
    """The canonical :class:`Shape` called ``name`` (built once per process)."""
    if name not in SHAPES:
        raise ValueError(f"unknown shape {name!r}; shapes: {', '.join(SHAPES)}")
    return _shape(name)


@functools.lru_cache(maxsize=None)
def _shape(name: str) -> Shape:
    import trimesh

    mesh = _BUILDERS[name]()
    lo, hi = mesh.bounds
    mesh.apply_translation(-(lo + hi) / 2.0)
    if name not in PRIMITIVES:
        mesh.apply_scale(SIZE_FACTOR[name] / float(np.max(hi - lo) / 2.0))
    mesh = trimesh.Trimesh(mesh.vertices, mesh.faces, process=True)
    mesh.fix_normals(multibody=True)
    # split vertices at sharp edges (> 35 degrees): flat faces stay flat under smooth shading
    mesh = trimesh.graph.smooth_shade(mesh, angle=math.radians(35))
    v = mesh.vertices
    ext = (v.max(0) - v.min(0)) / 2
    return Shape(name, mesh, float(np.sqrt((v[:, :2] ** 2).sum(1)).max()), float(ext[2]),
                 (float(ext[0]), float(ext[1])))


# ---------------------------------------------------------------- primitives
def _cube():
    import trimesh

    return trimesh.creation.box(extents=[math.sqrt(2.0)] * 3)


def _sphere():
    import trimesh

    return trimesh.creation.icosphere(subdivisions=3, radius=1.0)


def _cylinder():
    import trimesh

    return trimesh.creation.cylinder(radius=1.0, height=2.0, sections=40)


# ---------------------------------------------------------------- building blocks
def triangulate(polygon: np.ndarray) -> np.ndarray:
    """Ear-clipping triangulation of a simple polygon (n, 2), either winding; faces (n-2, 3) int64, CCW."""
    pts = np.asarray(polygon, np.float64)
    n = len(pts)
    area = 0.5 * float(np.sum(pts[:, 0] * np.roll(pts[:, 1], -1) - np.roll(pts[:, 0], -1) * pts[:, 1]))
    idx = list(range(n)) if area > 0 else list(range(n))[::-1]
    faces = []

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    guard = 0
    while len(idx) > 3:
        m = len(idx)
        for i in range(m):
            a, b, c = idx[i - 1], idx[i], idx[(i + 1) % m]
            pa, pb, pc = pts[a], pts[b], pts[c]
            if cross(pa, pb, pc) <= 1e-12:  # reflex or degenerate corner
                continue
            inside = False
            for j in idx:
                if j in (a, b, c):
                    continue
                p = pts[j]
                if cross(pa, pb, p) >= 0 and cross(pb, pc, p) >= 0 and cross(pc, pa, p) >= 0:
                    inside = True
                    break
            if not inside:
                faces.append((a, b, c))
                del idx[i]
                break
        else:
            raise ValueError("polygon is not simple: no ear found")
        guard += 1
        if guard > 10 * n:
            raise ValueError("triangulation did not converge")
    faces.append(tuple(idx))
    return np.array(faces, np.int64)


def extrude_side(polygon, thickness: float):
    """Extrude a side-view outline (n, 2) of (x, z) points to a slab of ``thickness`` along y, centred on y=0."""
    import trimesh

    poly = np.asarray(polygon, np.float64)
    mesh = trimesh.creation.extrude_triangulation(poly, triangulate(poly), thickness)
    # (x, y2d, h) -> (x, h - thickness/2, y2d): the outline stands in the xz plane
    v = mesh.vertices
    mesh.vertices = np.stack([v[:, 0], v[:, 2] - thickness / 2.0, v[:, 1]], 1)
    mesh.invert()  # the swap of two axes mirrors the mesh: restore outward winding
    return mesh


def extrude_top(polygon, thickness: float):
    """Extrude a top-view outline (n, 2) of (x, y) points to a slab of ``thickness`` along z, centred on z=0."""
    import trimesh

    poly = np.asarray(polygon, np.float64)
    mesh = trimesh.creation.extrude_triangulation(poly, triangulate(poly), thickness)
    mesh.apply_translation([0, 0, -thickness / 2.0])
    return mesh


def revolve_x(profile, sections: int = 28, y_scale: float = 1.0, z_scale: float = 1.0):
    """Body of revolution about the x axis from a profile (n, 2) of (x, r), r = 0 at both ends.

    The round cross-section is then squashed to an ellipse with semi-axes
    ``r * y_scale`` (sideways) and ``r * z_scale`` (up).
    """
    import trimesh

    prof = np.asarray(profile, np.float64)
    # trimesh revolves (radius, height) about z; then z -> x
    mesh = trimesh.creation.revolve(np.stack([prof[:, 1], prof[:, 0]], 1), sections=sections)
    v = mesh.vertices
    mesh.vertices = np.stack([v[:, 2], v[:, 0] * y_scale, v[:, 1] * z_scale], 1)
    if mesh.volume < 0:
        mesh.invert()
    return mesh


def ellipsoid(center, radii, subdivisions: int = 2):
    import trimesh

    m = trimesh.creation.icosphere(subdivisions=subdivisions, radius=1.0)
    m.vertices = m.vertices * np.asarray(radii, np.float64) + np.asarray(center, np.float64)
    return m


def _rotated(mesh, angle: float, axis, point=(0.0, 0.0, 0.0)):
    import trimesh

    mesh.apply_transform(trimesh.transformations.rotation_matrix(angle, axis, point))
    return mesh


def _concat(parts):
    import trimesh

    for p in parts:
        if p.volume < 0:
            p.invert()
    return trimesh.util.concatenate(parts)


def _profile(x, r):
    """(x, r) profile points with r forced to 0 at both ends."""
    r = np.asarray(r, np.float64).copy()
    r[0] = r[-1] = 0.0
    return np.stack([np.asarray(x, np.float64), r], 1)


# ---------------------------------------------------------------- complex shapes
def _dolphin():
    # body of revolution along x, tail stock at x=0, beak at x=2: thin peduncle, thick trunk, melon, beak
    t = np.linspace(0.0, 1.0, 41)
    trunk = 0.33 * np.sin(np.pi * np.clip(t / 0.9, 0.0, 1.0) ** 0.75) ** 0.9
    beak = 0.07 * np.clip((1.0 - t) / 0.1, 0.0, 1.0) ** 0.5
    r = np.maximum(np.where(t < 0.84, trunk, np.maximum(trunk, beak)), 0.045)
    r[t > 0.86] = np.maximum(beak[t > 0.86], 0.03)
    body = revolve_x(_profile(2.0 * t, r), sections=24, y_scale=0.9, z_scale=1.0)
    dorsal = extrude_side([(0.7, 0.2), (1.2, 0.2), (0.95, 0.32), (0.78, 0.55), (0.8, 0.38)], 0.06)
    flukes = extrude_top([(0.16, 0.0), (0.02, 0.36), (-0.14, 0.42), (-0.06, 0.14), (-0.1, 0.0),
                          (-0.06, -0.14), (-0.14, -0.42), (0.02, -0.36)], 0.05)
    flukes.apply_translation([0.04, 0.0, 0.0])
    parts = [body, dorsal, flukes]
    for side in (1.0, -1.0):  # pectoral flippers, swept back and down
        root = (1.3, side * 0.24, -0.14)
        fin = ellipsoid((root[0] - 0.1, root[1] + side * 0.04, root[2]), (0.16, 0.08, 0.03), 1)
        _rotated(fin, side * 0.5, [0, 0, 1], root)
        _rotated(fin, side * 0.45, [1, 0, 0], root)
        parts.append(fin)
    return _concat(parts)


def _fish():
    t = np.linspace(0.0, 1.0, 25)
    x = 1.5 * t
    r = 0.42 * np.sin(np.pi * t) ** 0.7 * (1.0 - 0.25 * t)
    r = np.maximum(r, 0.05)
    body = revolve_x(_profile(x, r), sections=24, y_scale=0.45, z_scale=1.0)
    body.apply_translation([0.45, 0.0, 0.0])
    tail = extrude_side([(0.55, 0.0), (0.0, 0.42), (0.12, 0.0), (0.0, -0.42)], 0.05)
    dorsal = extrude_side([(0.75, 0.25), (1.2, 0.3), (0.85, 0.6)], 0.04)
    anal = extrude_side([(0.65, -0.2), (0.95, -0.25), (0.7, -0.42)], 0.04)
    eye_l = ellipsoid((1.65, 0.12, 0.08), (0.06, 0.04, 0.06), 1)
    eye_r = ellipsoid((1.65, -0.12, 0.08), (0.06, 0.04, 0.06), 1)
    return _concat([body, tail, dorsal, anal, eye_l, eye_r])


def _duck():
    body = ellipsoid((0.0, 0.0, 0.0), (0.62, 0.45, 0.38))
    tail = ellipsoid((-0.55, 0.0, 0.2), (0.18, 0.16, 0.14), 1)
    _rotated(tail, 0.6, [0, 1, 0], (-0.55, 0.0, 0.2))
    head = ellipsoid((0.38, 0.0, 0.55), (0.3, 0.28, 0.28))
    beak = ellipsoid((0.72, 0.0, 0.5), (0.18, 0.13, 0.06), 1)
    wing_l = ellipsoid((-0.05, 0.38, 0.08), (0.35, 0.1, 0.2), 1)
    wing_r = ellipsoid((-0.05, -0.38, 0.08), (0.35, 0.1, 0.2), 1)
    return _concat([body, tail, head, beak, wing_l, wing_r])


# a sitting cat seen from its left side, facing +x (ears, head, chest, paws, back, tail curled on the ground)
_CAT = [(-0.55, 0.0), (0.55, 0.0), (0.58, 0.07), (0.38, 0.08), (0.36, 0.5), (0.44, 0.66), (0.58, 0.72),
        (0.6, 0.82), (0.55, 0.92), (0.56, 1.1), (0.45, 0.98), (0.33, 1.02), (0.27, 1.14), (0.22, 0.94),
        (0.14, 0.78), (0.0, 0.6), (-0.22, 0.42), (-0.32, 0.25), (-0.34, 0.12), (-0.45, 0.1),
        (-0.6, 0.14), (-0.72, 0.1), (-0.72, 0.04)]


def _cat():
    return extrude_side(_CAT, 0.42)


def _horse():
    import trimesh

    parts = [ellipsoid((0.0, 0.0, 0.62), (0.58, 0.26, 0.26))]
    for x in (-0.38, 0.38):
        for y in (-0.13, 0.13):
            leg = trimesh.creation.cylinder(radius=0.085, height=0.62, sections=12)
            leg.apply_translation([x, y, 0.31])
            parts.append(leg)
    neck = trimesh.creation.cylinder(radius=0.13, height=0.5, sections=14)
    _rotated(neck, -0.6, [0, 1, 0])
    neck.apply_translation([0.58, 0.0, 0.92])
    head = ellipsoid((0.78, 0.0, 1.12), (0.25, 0.12, 0.12))
    _rotated(head, 0.5, [0, 1, 0], (0.78, 0.0, 1.12))
    tail = trimesh.creation.cylinder(radius=0.06, height=0.45, sections=10)
    _rotated(tail, 0.45, [0, 1, 0])
    tail.apply_translation([-0.63, 0.0, 0.45])
    ear_l = trimesh.creation.cone(radius=0.04, height=0.12, sections=8)
    ear_l.apply_translation([0.7, 0.05, 1.2])
    ear_r = trimesh.creation.cone(radius=0.04, height=0.12, sections=8)
    ear_r.apply_translation([0.7, -0.05, 1.2])
    return _concat(parts + [neck, head, tail, ear_l, ear_r])


def _torus():
    import trimesh

    return trimesh.creation.torus(major_radius=0.72, minor_radius=0.28, major_sections=40, minor_sections=16)


def _cone():
    import trimesh

    return trimesh.creation.cone(radius=1.0, height=1.6, sections=40)


def _capsule():
    import trimesh

    m = trimesh.creation.capsule(height=1.2, radius=0.45, count=[24, 24])
    return _rotated(m, math.pi / 2, [0, 1, 0])  # lying on its side


def _blob():
    import trimesh

    m = trimesh.creation.icosphere(subdivisions=3, radius=1.0)
    v = m.vertices
    x, y, z = v[:, 0], v[:, 1], v[:, 2]
    bumps = (0.18 * np.sin(3.0 * x + 0.7) * np.cos(2.0 * y - 0.3) + 0.12 * np.sin(4.0 * z + 1.1 * x)
             + 0.08 * np.cos(5.0 * y + 2.0 * z + 0.4))
    m.vertices = v * (1.0 + bumps)[:, None] * np.array([1.0, 0.85, 0.8])
    return m


_BUILDERS = {
    "cube": _cube, "sphere": _sphere, "cylinder": _cylinder,
    "dolphin": _dolphin, "fish": _fish, "duck": _duck, "cat": _cat, "horse": _horse,
    "torus": _torus, "cone": _cone, "capsule": _capsule, "blob": _blob,
}
assert set(_BUILDERS) == set(SHAPES)
