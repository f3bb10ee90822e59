"""Camera math and object layout for the 3-D scene generators (numpy only, no GL).

Conventions (shared by every 3-D family and documented in the README):

- World: right-handed, z up, the ground plane is z = 0.
- Cameras orbit a target point: a camera at azimuth ``a``, elevation ``e``
  and distance ``d`` sits at ``target + d (cos e cos a, cos e sin a, sin e)``
  and looks at the target with the world's z axis up in the image. Angles
  are in radians.
- ``world_to_camera`` is a 4x4 rigid transform into the OpenCV camera frame
  (x right, y down, z forward, i.e. into the image); ``intrinsics`` is the
  3x3 pinhole matrix ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` in pixels. A
  point ``X`` (world) is seen at ``(u, v) = (K (R X + t))[:2] / z`` where
  pixel ``(row i, column j)`` covers ``j <= u < j + 1``, ``i <= v < i + 1``
  (pixel centres at half-integers), and ``z`` (the camera-frame depth) is
  what depth maps store.
- pyrender wants the camera-to-world pose in the OpenGL convention
  (x right, y up, looking down -z): :func:`gl_pose` converts.
"""

from __future__ import annotations

import math

import numpy as np

_CV_TO_GL = np.diag([1.0, -1.0, -1.0, 1.0])


def orbit_positions(azimuth, elevation, distance, target=(0.0, 0.0, 0.0)) -> np.ndarray:
    """Camera centres (V, 3) float64 on orbits around ``target`` (angles in radians, arrays of length V)."""
    az, el, d = (np.asarray(a, np.float64) for a in (azimuth, elevation, distance))
    offset = np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], -1) * d[..., None]
    return offset + np.asarray(target, np.float64)


def look_at(eye, target=(0.0, 0.0, 0.0), up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """World-to-camera (4, 4) float64, OpenCV convention, of a camera at ``eye`` looking at ``target``."""
    eye = np.asarray(eye, np.float64)
    z = np.asarray(target, np.float64) - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, np.asarray(up, np.float64))
    n = np.linalg.norm(x)
    if n < 1e-9:
        raise ValueError("look_at: the viewing direction is parallel to the up vector")
    x /= n
    y = np.cross(z, x)  # image down
    R = np.stack([x, y, z])
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = -R @ eye
    return T


def orbit_cameras(azimuth, elevation, distance, target=(0.0, 0.0, 0.0)) -> np.ndarray:
    """World-to-camera matrices (V, 4, 4) float64 of orbit cameras looking at ``target``."""
    eyes = orbit_positions(azimuth, elevation, distance, target)
    return np.stack([look_at(e, target) for e in eyes])


def intrinsics(fov_deg: float, width: int, height: int) -> np.ndarray:
    """Pinhole matrix (3, 3) float64 with vertical field of view ``fov_deg``, square pixels, centred principal point."""
    f = (height / 2.0) / math.tan(math.radians(fov_deg) / 2.0)
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])


def gl_pose(world_to_camera: np.ndarray) -> np.ndarray:
    """Camera-to-world pose (4, 4) in the OpenGL convention (pyrender's) of an OpenCV world-to-camera matrix."""
    return np.linalg.inv(world_to_camera) @ _CV_TO_GL


def project(points, world_to_camera: np.ndarray, K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (n, 2) as (u, v) = (column, row) continuous, and camera depths (n,), of world points (n, 3)."""
    p = np.asarray(points, np.float64)
    cam = p @ world_to_camera[:3, :3].T + world_to_camera[:3, 3]
    z = cam[:, 2]
    uv = (cam @ K.T)[:, :2] / z[:, None]
    return uv, z


def unproject(depth: np.ndarray, world_to_camera: np.ndarray, K: np.ndarray) -> np.ndarray:
    """World points (H, W, 3) of a depth map (H, W) of camera-frame z values at pixel centres."""
    H, W = depth.shape
    v, u = np.mgrid[0:H, 0:W].astype(np.float64) + 0.5
    x = (u - K[0, 2]) / K[0, 0] * depth
    y = (v - K[1, 2]) / K[1, 1] * depth
    cam = np.stack([x, y, depth.astype(np.float64)], -1)
    R, t = world_to_camera[:3, :3], world_to_camera[:3, 3]
    return (cam - t) @ R  # R^T (cam - t), row-wise


def place_on_disk(rng: np.random.Generator, radii, area_radius: float, gap: float, tries: int = 100):
    """Ground positions (n, 2) for circles of ``radii`` inside a disk, pairwise ``gap`` apart, or None.

    Objects are placed one by one, each centre uniform over the disk of
    radius ``area_radius`` (so every object's centre is within it); a centre
    closer than ``r_i + r_j + gap`` to an already placed object is redrawn,
    up to ``tries`` times per object. Draws only from ``rng``.
    """
    radii = np.asarray(radii, np.float64)
    out = np.zeros((len(radii), 2))
    for i, r in enumerate(radii):
        for _ in range(tries):
            u = rng.random(2)
            rho, phi = area_radius * math.sqrt(u[0]), 2.0 * math.pi * u[1]
            p = np.array([rho * math.cos(phi), rho * math.sin(phi)])
            if i == 0 or (np.sqrt(((out[:i] - p) ** 2).sum(1)) >= radii[:i] + r + gap).all():
                out[i] = p
                break
        else:
            return None
    return out


def boxes_overlap(c1, yaw1, e1, c2, yaw2, e2) -> bool:
    """Whether two rectangles in the plane overlap (touching counts): centres ``c``, yaws, half-extents ``e``.

    Separating-axis test on the four edge normals.
    """
    d = np.asarray(c2, np.float64) - np.asarray(c1, np.float64)
    axes1 = ((math.cos(yaw1), math.sin(yaw1)), (-math.sin(yaw1), math.cos(yaw1)))
    axes2 = ((math.cos(yaw2), math.sin(yaw2)), (-math.sin(yaw2), math.cos(yaw2)))
    for nx, ny in axes1 + axes2:
        r1 = e1[0] * abs(axes1[0][0] * nx + axes1[0][1] * ny) + e1[1] * abs(axes1[1][0] * nx + axes1[1][1] * ny)
        r2 = e2[0] * abs(axes2[0][0] * nx + axes2[0][1] * ny) + e2[1] * abs(axes2[1][0] * nx + axes2[1][1] * ny)
        if abs(d[0] * nx + d[1] * ny) > r1 + r2:
            return False
    return True


def place_boxes_on_disk(rng: np.random.Generator, half_extents, yaw, area_radius: float, gap: float,
                        tries: int = 100):
    """Ground positions (n, 2) for rectangles turned by ``yaw`` inside a disk, pairwise ``gap`` apart, or None.

    Like :func:`place_on_disk` with each object's bounding box (``half_extents``
    (n, 2), turned by its yaw) in place of its bounding circle, which leaves
    room for long thin shapes: the largest boxes are placed first, each centre
    uniform over the disk, redrawn up to ``tries`` times while its box grown by
    ``gap / 2`` overlaps one already placed. Draws only from ``rng``.
    """
    ext = np.asarray(half_extents, np.float64) + gap / 2.0
    order = np.argsort(-(ext[:, 0] * ext[:, 1]), kind="stable")
    out = np.zeros((len(ext), 2))
    done = []
    for i in order:
        for _ in range(tries):
            u = rng.random(2)
            rho, phi = area_radius * math.sqrt(u[0]), 2.0 * math.pi * u[1]
            p = np.array([rho * math.cos(phi), rho * math.sin(phi)])
            if not any(boxes_overlap(p, yaw[i], ext[i], out[j], yaw[j], ext[j]) for j in done):
                out[i] = p
                done.append(i)
                break
        else:
            return None
    return out
