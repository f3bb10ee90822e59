"""Procedural animal cut-outs and landscape backgrounds: the offline Flying Animals asset pack.

The ``embedded`` preset of ``flying_animals`` needs no download: this module
draws its own asset pack, deterministically from fixed seeds (the pack is a
constant of the generator version, like a downloaded pack would be; the
dataset seed only changes the scenes).

Animals
-------
Each class is a small vector drawing in a unit frame (x forward, y down,
body about 2 units long) assembled from ellipses, tapered tubes along
curves (legs, necks, tails, trunks, snakes) and polygons (ears, fins,
wings), with a body plan per class: quadrupeds share one parametric
builder (leg length and thickness, neck length and angle, head and snout,
ear, tail, horn and mane types), birds, fish, snakes, insects, turtles,
lizards and frogs have their own. A part carries a material (body, belly,
dark, accent, eye...) and a shade (far-side limbs are darker). Instances
of a class vary proportions, pose (leg phase, neck and tail angles, wing
beat, body pitch), facing direction and colors/pattern.

Rasterisation: the parts are filled with PIL in drawing order into a label
image about ``RENDER_SIZE`` pixels long; each material is then textured in
the animal's own frame (patterns move with the body) with smooth noise
(fur), stripes, spots, rosettes, giraffe patches, piebald patches, scales,
wool or feathers; a blurred silhouette gives rounded shading, a top light
and a thin darker line where parts meet. The result is an RGBA cut-out
(straight alpha, uint8) cropped to its silhouette.

Backgrounds
-----------
Landscapes of ``LANDSCAPES`` kinds (alpine peaks, meadow hills, desert
dunes, mountain lake, pine forest, sunset sea, savanna, winter, red mesas,
tropical beach): a sky gradient with fractal clouds and an optional sun,
mountain/hill ridges from 1-D fractal noise layered back to front with
aerial perspective, water with sky reflection and ripples, ground
textured with scikit-image's bundled ``grass`` and ``gravel`` photographs
(shipped inside the scikit-image wheel, no download), and tree silhouettes.

Everything is a pure function of fixed seeds; :func:`embedded_pack` builds
the whole pack once per process (about a second) and caches it.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

import numpy as np

from .textures import smooth_noise

# ---------------------------------------------------------------- constants
PACK_SEED = 20200614  # fixed: the embedded pack is part of the generator, not of the dataset seed
RENDER_SIZE = 128  # longest side of an animal's label canvas, pixels (cut-outs are downsampled from it)
INSTANCES = 10  # instances per animal class
BACKGROUNDS_PER_KIND = 10  # instances per landscape kind

# material ids (ACCENT2 colors irises; PUPIL and SHINE are unlit)
BODY, BELLY, DARK, ACCENT, ACCENT2, PUPIL, SHINE, WHITE, BEAK = range(1, 10)


# ---------------------------------------------------------------- geometry
def _rot(pts: np.ndarray, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return pts @ np.array([[c, s], [-s, c]])


def ellipse_pts(cx, cy, rx, ry, angle=0.0, n=40) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    p = np.stack([rx * np.cos(t), ry * np.sin(t)], 1)
    return _rot(p, angle) + (cx, cy)


def path(start, heading, length, curvature=0.0, n=16, bend=0.0) -> np.ndarray:
    """Centre line: ``n`` points from ``start`` along ``heading`` (radians, y down) turning by ``curvature``/unit.

    ``bend`` adds a curvature that grows linearly along the path (a curl at the end).
    """
    ds = length / (n - 1)
    t = np.arange(1, n) / (n - 1)
    h = heading + np.cumsum((curvature + bend * t) * ds)
    steps = ds * np.stack([np.cos(h), np.sin(h)], 1)
    return np.concatenate([[np.asarray(start, float)], np.asarray(start, float) + np.cumsum(steps, 0)])


_CAP = np.linspace(0, np.pi, 8)[1:-1]


def tube_pts(centre: np.ndarray, radii, caps: bool = True) -> np.ndarray:
    """Polygon of a tube of varying radius around a polyline (with round end caps)."""
    c = np.asarray(centre, float)
    r = np.broadcast_to(np.asarray(radii, float), (len(c),))[:, None]
    d = np.empty_like(c)
    d[1:-1] = c[2:] - c[:-2]
    d[0], d[-1] = c[1] - c[0], c[-1] - c[-2]
    d /= np.sqrt((d * d).sum(1, keepdims=True)) + 1e-12
    nrm = np.stack([-d[:, 1], d[:, 0]], 1)
    left, right = c + nrm * r, c - nrm * r
    if not caps:
        return np.concatenate([left, right[::-1]])

    def cap(i, sign):  # half circle from +normal to -normal through +-direction
        a0 = math.atan2(nrm[i, 1], nrm[i, 0])
        t = a0 - sign * _CAP
        return c[i] + r[i] * np.stack([np.cos(t), np.sin(t)], 1)

    return np.concatenate([left, cap(-1, 1), right[::-1], cap(0, -1)[::-1]])


def smooth_closed(ctrl, n_per=8) -> np.ndarray:
    """Closed Catmull-Rom spline through control points (a smooth blob)."""
    p = np.asarray(ctrl, float)
    k = len(p)
    out = []
    t = np.linspace(0, 1, n_per, endpoint=False)[:, None]
    for i in range(k):
        p0, p1, p2, p3 = p[i - 1], p[i], p[(i + 1) % k], p[(i + 2) % k]
        out.append(0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                          + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3))
    return np.concatenate(out)


def polyline(*pts) -> np.ndarray:
    return np.array(pts, float)


class Sketch:
    """Parts of a drawing in a unit frame: (style, polygon) in painter's order.

    A style is (material id, shade); parts sharing a style merge without a
    line between them.
    """

    def __init__(self):
        self.parts: list[tuple[int, np.ndarray]] = []
        self.styles: list[tuple[int, float]] = []
        self._index: dict = {}

    def add(self, mat: int, pts, shade: float = 1.0) -> None:
        key = (int(mat), round(float(shade), 3))
        if key not in self._index:
            self._index[key] = len(self.styles)
            self.styles.append(key)
        self.parts.append((self._index[key], np.asarray(pts, float)))

    def ellipse(self, mat, c, rx, ry, angle=0.0, shade=1.0, n=40):
        self.add(mat, ellipse_pts(c[0], c[1], rx, ry, angle, n), shade)

    def tube(self, mat, centre, radii, shade=1.0, caps=True):
        self.add(mat, tube_pts(centre, radii, caps), shade)

    def limb(self, mat, joints, radii, shade=1.0, n=12):
        """Tube through a few joints (resampled), radii given per joint."""
        j = np.asarray(joints, float)
        seg = np.linalg.norm(np.diff(j, axis=0), axis=1)
        s = np.concatenate([[0], np.cumsum(seg)])
        t = np.linspace(0, s[-1], n)
        c = np.stack([np.interp(t, s, j[:, 0]), np.interp(t, s, j[:, 1])], 1)
        self.tube(mat, c, np.interp(t, s, np.asarray(radii, float)), shade)

    def eye(self, c, r, iris=None, pupil_shape=1.0):
        """Eye at ``c``: white/iris disc, pupil, highlight."""
        if iris is not None:
            self.ellipse(ACCENT2, c, r, r)
            self.ellipse(PUPIL, c, r * 0.55 * pupil_shape, r * 0.55)
        else:
            self.ellipse(PUPIL, c, r, r)
        self.ellipse(SHINE, (c[0] + r * 0.3, c[1] - r * 0.3), r * 0.28, r * 0.28, n=12)


# ---------------------------------------------------------------- materials
@dataclass
class Material:
    """How a material is colored: base color (RGB 0-1), fur noise, an optional pattern."""

    color: tuple
    noise: float = 0.10
    pattern: str = ""  # "", stripes, spots, rosettes, giraffe, patches, scales, wool, feathers, bands, gradient
    color2: tuple = (0.0, 0.0, 0.0)  # pattern color
    params: dict = field(default_factory=dict)
    lit: bool = True  # shading/outline applies


def hsv(h, s, v) -> tuple:
    return tuple(colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0), 1), min(max(v, 0), 1)))


def jitter(rng, color, amount=0.06) -> tuple:
    """``color`` with a small random change of hue, saturation and value."""
    h, s, v = colorsys.rgb_to_hsv(*np.clip(np.asarray(color, float), 0, 1))
    d = rng.normal(0, amount, 3)
    return hsv(h + 0.15 * d[0], s * (1 + d[1]), v * (1 + d[2]))


class _Noise:
    """Periodic smooth noise tiles (fixed seed) sampled bilinearly at arbitrary coordinates."""

    def __init__(self, size=128):
        rng = np.random.Generator(np.random.Philox(np.random.SeedSequence([PACK_SEED, 7])))
        self.size = size
        self.tiles = {}
        for name, sigma in (("smooth", (5.0, 5.0)), ("fine", (1.0, 1.0)), ("streak", (0.7, 4.0)),
                            ("mid", (2.5, 2.5))):
            self.tiles[name] = smooth_noise(rng, 1, size, size, sigma)[0]

    def __call__(self, name, u, v):
        t = self.tiles[name]
        n = self.size
        u = np.asarray(u, np.float32)
        v = np.asarray(v, np.float32)
        i0 = np.floor(v).astype(np.int64)
        j0 = np.floor(u).astype(np.int64)
        fy, fx = v - i0, u - j0
        i0 %= n
        j0 %= n
        i1, j1 = (i0 + 1) % n, (j0 + 1) % n
        a = t[i0, j0] * (1 - fx) + t[i0, j1] * fx
        b = t[i1, j0] * (1 - fx) + t[i1, j1] * fx
        return a * (1 - fy) + b * fy


@lru_cache(maxsize=1)
def _noise() -> _Noise:
    return _Noise()


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _scale_edges(u, v, size, feathers=False):
    """0..1 weight of the rims of overlapping scales (or feathers) on a staggered grid of ``size`` units."""
    sy = size * (1.3 if feathers else 0.85)
    row = np.floor(v / sy)
    uu = u / size + 0.5 * (row % 2)
    dx = uu - np.floor(uu) - 0.5
    dy = v / sy - row - (0.1 if feathers else 0.0)
    r = np.sqrt(dx * dx + dy * dy)
    return _smoothstep((r - 0.45) / 0.12)


def texture(m: Material, u: np.ndarray, v: np.ndarray, seed: float, grain: np.ndarray) -> np.ndarray:
    """RGB (n, 3) float32 of material ``m`` at unit-frame pixel coordinates ``u`` (x), ``v`` (y), each (n,).

    ``grain`` (n,) is the drawing's zero-mean fur noise, scaled by ``m.noise``.
    """
    N = _noise()
    p = m.params
    ox, oy = 37.0 * seed, 53.0 * seed  # per-instance noise offset
    base = np.asarray(m.color, np.float32)
    col2 = np.asarray(m.color2, np.float32)
    fur = 1 + np.float32(m.noise) * grain
    w = None  # pattern weight toward color2
    pat = m.pattern
    if pat == "stripes":  # across the body (x), warped
        f, width, ang = p.get("freq", 4.0), p.get("width", 0.35), p.get("angle", 0.0)
        x = u * math.cos(ang) + v * math.sin(ang)
        t = np.sin(2 * np.pi * f * x + p.get("warp", 1.5) * N("smooth", u * 10 + ox, v * 10 + oy) + seed * 9)
        w = _smoothstep((t - (1 - 2 * width)) / 0.25)
    elif pat == "bands":  # broad rings across x (clownfish, bees, snakes)
        f, width = p.get("freq", 2.0), p.get("width", 0.3)
        t = np.sin(2 * np.pi * f * u + p.get("phase", 0.0) + 0.3 * N("smooth", u * 6 + ox, v * 6 + oy))
        w = _smoothstep((t - (1 - 2 * width)) / 0.15)
    elif pat in ("spots", "rosettes", "giraffe"):
        from scipy.spatial import cKDTree

        tree = cKDTree(p["points"])  # (k, 2) unit coords
        jit = 0.02 * N("mid", u * 30 + ox, v * 30 + oy)
        r = p.get("radius", 0.08)
        if pat == "giraffe":  # dark patches, light lines between (Voronoi borders)
            d, _ = tree.query(np.stack([u, v], -1), k=2)
            w = _smoothstep((d[:, 1] - d[:, 0] + jit - p.get("line", 0.03)) / 0.02)
        else:
            dm = tree.query(np.stack([u, v], -1))[0] + jit
            if pat == "spots":
                w = _smoothstep((r - dm) / (0.25 * r))
            else:  # rosettes: rings
                w = _smoothstep((r - dm) / (0.2 * r)) * _smoothstep((dm - 0.45 * r) / (0.2 * r))
    elif pat == "patches":
        t = N("smooth", u * p.get("scale", 9) + ox, v * p.get("scale", 9) + oy)
        w = _smoothstep((t - p.get("threshold", 0.4)) / 0.15)
    elif pat in ("scales", "feathers"):
        w = _scale_edges(u, v, p.get("size", 0.08), pat == "feathers") * p.get("strength", 0.6)
    elif pat == "wool":
        t = N("fine", u * 45 + ox, v * 45 + oy) + 0.5 * N("mid", u * 45 + ox, v * 45 + oy)
        w = _smoothstep((np.abs(t) - 0.15) / 0.5) * p.get("strength", 0.6)
    elif pat == "gradient":  # toward color2 below the line v = p["y"]
        w = _smoothstep((v - p.get("y", 0.0)) / p.get("soft", 0.3))
    if w is None:
        rgb = base * fur[..., None]
    else:
        rgb = (base + (col2 - base) * w[..., None]) * fur[..., None]
    if "scales" in p:  # darker scale outlines over any pattern
        rgb = rgb * (1 - 0.35 * _scale_edges(u, v, p["scales"], False))[..., None]
    if "belly" in p:  # countershading: toward the belly color for y <= v <= y_max
        bcol, y, soft, *ymax = p["belly"]
        b = _smoothstep((v - y) / soft)
        if ymax:
            b = b * (1 - _smoothstep((v - ymax[0]) / 0.04))
        b = b[..., None]
        rgb = rgb + (np.asarray(bcol, np.float32) * fur[..., None] - rgb) * b
    return rgb


# ---------------------------------------------------------------- rasterise
@dataclass
class Drawing:
    """A sketch with its materials, ready to rasterise; ``angle`` tilts the whole animal; ``mirror`` faces left."""

    sketch: Sketch
    materials: dict
    angle: float = 0.0
    mirror: bool = False
    seed: float = 0.0


def rasterize(d: Drawing, size: int = RENDER_SIZE) -> np.ndarray:
    """RGBA uint8 (h, w, 4), straight alpha, cropped to the silhouette (plus 1 px margin)."""
    from PIL import Image, ImageDraw, ImageFilter

    sk = d.sketch
    ca, sa = math.cos(d.angle), math.sin(d.angle)
    R = np.array([[ca, -sa], [sa, ca]])  # unit -> rotated unit (y down)
    allp = np.concatenate([p for _, p in sk.parts]) @ R.T
    lo, hi = allp.min(0), allp.max(0)
    margin = 3
    s = (size - 2 * margin) / float((hi - lo).max())
    W = int(math.ceil((hi[0] - lo[0]) * s)) + 2 * margin
    H = int(math.ceil((hi[1] - lo[1]) * s)) + 2 * margin
    off = margin - lo * s
    lab = Image.new("L", (W, H), 0)
    dr = ImageDraw.Draw(lab)
    for style, pts in sk.parts:
        dr.polygon(((pts @ R.T) * s + off).ravel().tolist(), fill=style + 1)
    L = np.asarray(lab)
    ys, xs = np.nonzero(L)  # work on the silhouette's pixels only
    lab_px = L[ys, xs]
    # unit-frame coordinates of each pixel centre (patterns follow the body)
    px = (xs.astype(np.float32) + 0.5 - np.float32(off[0])) / np.float32(s)
    py = (ys.astype(np.float32) + 0.5 - np.float32(off[1])) / np.float32(s)
    u = ca * px + sa * py
    v = -sa * px + ca * py
    N = _noise()
    ox, oy = 37.0 * d.seed, 53.0 * d.seed  # per-instance noise offset
    grain = 0.8 * N("smooth", u * 20 + ox, v * 20 + oy) + 0.6 * N("streak", u * 60 + ox, v * 60 + oy)
    styles = sk.styles
    mat_of = np.array([0] + [m for m, _ in styles], np.int32)
    shade_of = np.array([1.0] + [sh for _, sh in styles], np.float32)
    M = mat_of[lab_px]
    rgb = np.empty((len(ys), 3), np.float32)
    lit = np.zeros(len(ys), bool)
    for mid in np.flatnonzero(np.bincount(M)):
        sel = M == mid
        mat = d.materials[int(mid)]
        rgb[sel] = texture(mat, u[sel], v[sel], d.seed, grain[sel])
        if mat.lit:
            lit |= sel
    rgb *= shade_of[lab_px][:, None]
    # rounded shading from the blurred silhouette, plus a light from above
    blur = np.asarray(Image.fromarray(np.where(L > 0, np.uint8(255), np.uint8(0))).filter(
        ImageFilter.GaussianBlur(size * 0.035)))[ys, xs].astype(np.float32) / 255.0
    light = 0.72 + 0.42 * np.clip((blur - 0.5) * 2.2, 0, 1) - 0.14 * (ys / np.float32(H) - 0.4)
    # thin line where styles meet (and at the silhouette)
    edge = np.zeros((H, W), bool)
    dx = L[:, 1:] != L[:, :-1]
    dy = L[1:] != L[:-1]
    edge[:, 1:] |= dx
    edge[:, :-1] |= dx
    edge[1:] |= dy
    edge[:-1] |= dy
    light = np.where(edge[ys, xs], light * 0.62, light)
    rgb = np.where(lit[:, None], rgb * light[:, None], rgb)
    y0, x0 = max(int(ys.min()) - 1, 0), max(int(xs.min()) - 1, 0)
    out = np.zeros((min(int(ys.max()) + 2, H) - y0, min(int(xs.max()) + 2, W) - x0, 4), np.uint8)
    out[ys - y0, xs - x0, :3] = np.clip(np.rint(rgb * 255), 0, 255)
    out[ys - y0, xs - x0, 3] = 255
    if d.mirror:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


# ---------------------------------------------------------------- body plans
def _vary(rng, x, amount=0.08):
    return x * (1 + rng.uniform(-amount, amount))


def _pick(rng, options):
    return options[int(rng.integers(len(options)))]


@dataclass
class Quad:
    """Proportions of a four-legged animal seen from the side (unit frame, body from x=-1 to 1)."""

    bh: float = 0.4  # body half height
    withers: float = 1.0  # height of the shoulders relative to the back
    sag: float = 1.0  # belly depth
    leg_len: float = 0.9
    leg_w: float = 0.09
    bend: float = 1.0  # knee bend
    foot: str = "paw"  # paw | hoof | none
    neck_len: float = 0.4
    neck_angle: float = 40.0  # degrees above horizontal
    neck_w: float = 0.25
    neck_w2: float = 0.18
    head_r: float = 0.3
    head_ry: float = 0.25
    head_tilt: float = 10.0  # degrees, nose down
    snout_len: float = 0.15
    snout_h: float = 0.12
    snout_mat: int = BODY
    nose: bool = True
    ear: str = "pointy"  # pointy | horse | floppy | round | long | big | none
    ear_size: float = 0.2
    inner_ear: bool = True
    tail: str = "thin"  # thin | bushy | tuft | horse | curly | stub | none
    tail_len: float = 0.8
    tail_w: float = 0.05
    tail_up: float = 30.0  # degrees above the back line
    tail_curl: float = 0.0
    horns: str = ""  # horns | antlers | ossicones | tusks
    mane: bool = False
    trunk: float = 0.0  # trunk length (elephant)
    eye_r: float = 0.045
    iris: tuple | None = None
    stride: float = 0.3  # leg swing amplitude, radians
    leap: float = 0.0  # 0..1: legs stretched fore and aft (a jump)
    tail_tip: bool = False  # tail tip in WHITE (fox)
    dark_legs: bool = False  # lower legs in DARK (fox stockings)
    head_mat: int = BODY  # head (and ears) material
    leg_mat: int = BODY  # legs material
    fluffy: float = 0.0  # wool tufts around the body outline (sheep), tuft radius


def quadruped(rng, q: Quad) -> Sketch:
    sk = Sketch()
    bh = q.bh
    phase = rng.uniform(0, 2 * np.pi)
    # legs: (x of the hip/shoulder, is_hind, far?, phase offset)
    legs = []
    for far, shade in ((True, 0.68), (False, 1.0)):
        for hind in (True, False):
            x = (-0.62 if hind else 0.62) + (0.1 if far else 0.0)
            ph = phase + (0 if hind else np.pi / 2) + (np.pi if far else 0)
            legs.append((x, hind, far, shade, ph))

    def leg(x, hind, shade, ph):
        # angle from the vertical, positive = foot behind the hip (toward -x)
        a = q.stride * (1 - 0.7 * q.leap) * math.sin(ph) + (0.95 if hind else -0.95) * q.leap
        top = np.array([x, bh * 0.15])
        L = q.leg_len + bh * 0.85
        b = q.bend
        mat = q.leg_mat
        if hind:
            segs = [(0.40, a - 0.30 * b, 1.45), (0.34, a + 0.55 * b, 0.95), (0.32, a - 0.05 * b, 0.70)]
        else:
            segs = [(0.55, a + 0.05 * b, 1.2), (0.47, a - 0.12 * b, 0.75)]
        joints, radii = [top], [q.leg_w * segs[0][2]]
        for frac, ang, _ in segs:
            joints.append(joints[-1] + frac * L * np.array([math.sin(-ang), math.cos(ang)]))
        radii += [q.leg_w * r for _, _, r in segs[1:]] + [q.leg_w * 0.6]
        sk.limb(mat, joints, radii, shade)
        if q.dark_legs:
            sk.limb(DARK, joints[-2:], radii[-2:], shade)
        foot = joints[-1]
        if q.foot == "hoof":
            w = q.leg_w * 0.75
            sk.add(DARK, polyline(foot + (-w, -w * 0.5), foot + (w, -w * 0.5), foot + (w * 1.2, w * 0.9),
                                  foot + (-w * 1.1, w * 0.9)), shade)
        elif q.foot == "paw":
            sk.ellipse(DARK if q.dark_legs else q.leg_mat, foot + (q.leg_w * 0.5, q.leg_w * 0.25), q.leg_w * 1.05,
                       q.leg_w * 0.6, shade=shade, n=20)

    # tail (behind everything)
    tail_base = np.array([-0.96, -bh * 0.45])
    th = math.pi + math.radians(q.tail_up) * 1.0
    if q.tail in ("thin", "tuft"):
        c = path(tail_base, th, q.tail_len, curvature=q.tail_curl, n=18)
        sk.tube(BODY, c, np.linspace(q.tail_w, q.tail_w * 0.55, len(c)))
        if q.tail == "tuft":
            d = c[-1] - c[-2]
            d /= np.linalg.norm(d)
            sk.ellipse(DARK, c[-1] + d * q.tail_w * 1.5, q.tail_w * 2.6, q.tail_w * 1.3, math.atan2(d[1], d[0]))
    elif q.tail == "bushy":
        c = path(tail_base, th, q.tail_len, curvature=q.tail_curl, n=18)
        r = q.tail_w * np.sin(np.linspace(0.35, 2.7, len(c))) ** 0.7
        sk.tube(BODY, c, r)
        if q.tail_tip:
            k = int(len(c) * 0.72)
            sk.tube(WHITE, c[k:], r[k:])
    elif q.tail == "horse":
        c = path(tail_base, th, q.tail_len, curvature=q.tail_curl, n=18)
        sk.tube(DARK, c, np.linspace(q.tail_w, q.tail_w * 1.7, len(c)) * (1 - np.linspace(0, 1, len(c)) ** 6 * 0.6))
    elif q.tail == "curly":
        c = path(tail_base, th, q.tail_len, curvature=3.0, n=18, bend=14.0)
        sk.tube(BODY, c, q.tail_w)
    elif q.tail == "stub":
        sk.ellipse(q.snout_mat if q.snout_mat != BODY else BODY, tail_base + (-q.tail_w, -q.tail_w * 0.3),
                   q.tail_w * 1.5, q.tail_w * 1.1, -0.5)
    for x, hind, far, shade, ph in legs:
        if far:
            leg(x, hind, shade, ph)
    # neck and head geometry
    na = math.radians(q.neck_angle)
    neck0 = np.array([0.62, -bh * 0.35])
    head = neck0 + q.neck_len * np.array([math.cos(na), -math.sin(na)]) + (q.head_r * 0.35, 0.0)
    tilt = math.radians(q.head_tilt)
    fwd = np.array([math.cos(tilt), math.sin(tilt)])
    upv = np.array([fwd[1], -fwd[0]])
    ear_base = head - fwd * q.head_r * 0.35 + upv * q.head_ry * 0.75

    def ear(near):
        sh = 1.0 if near else 0.7
        o = (0.0 if near else -0.08) * fwd
        e = q.ear_size
        b = ear_base + o
        if q.ear in ("pointy", "horse"):
            wid = e * (0.75 if q.ear == "pointy" else 0.45)
            tip = b + upv * e * 1.3 - fwd * e * 0.25
            sk.add(q.head_mat, polyline(b - fwd * wid * 0.6, b + fwd * wid * 0.6, tip), sh)
            if q.inner_ear and near:
                sk.add(ACCENT, polyline(b - fwd * wid * 0.3 + upv * e * 0.15, b + fwd * wid * 0.3 + upv * e * 0.15,
                                        tip - upv * e * 0.3), 1.0)
        elif q.ear == "round":
            sk.ellipse(q.head_mat, b + upv * e * 0.3, e * 0.55, e * 0.5, shade=sh)
        elif q.ear == "long":
            c = b + upv * e * 1.3 - fwd * e * 0.5
            ang = math.atan2(upv[1], upv[0]) - 0.35
            sk.ellipse(q.head_mat, c, e * 1.5, e * 0.32, ang, shade=sh)
            if near and q.inner_ear:
                sk.ellipse(ACCENT, c + fwd * 0.01, e * 1.15, e * 0.15, ang)

    if q.ear in ("pointy", "horse", "round", "long"):
        ear(False)
    if q.neck_len > 0:
        c = np.array([neck0, neck0 + (q.neck_len + q.head_r * 0.35) * np.array([math.cos(na), -math.sin(na)])])
        c = np.stack([np.linspace(c[0, 0], c[1, 0], 10), np.linspace(c[0, 1], c[1, 1], 10)], 1)
        sk.tube(BODY, c, np.linspace(q.neck_w, q.neck_w2, 10))
        if q.mane:
            d = c[-1] - c[0]
            d /= np.linalg.norm(d)
            nrm = np.array([d[1], -d[0]])
            mc = c + nrm * np.linspace(q.neck_w, q.neck_w2, 10)[:, None] * 0.85
            sk.tube(DARK, mc[1:], np.linspace(q.neck_w * 0.3, q.neck_w2 * 0.35, 9))
    # body
    w = q.withers
    body = smooth_closed([(-1.0, -bh * 0.55), (-0.55, -bh * 0.95), (0.1, -bh * 0.9 * (0.5 + 0.5 * w)),
                          (0.62, -bh * 1.02 * w), (0.98, -bh * 0.45), (1.0, bh * 0.35), (0.7, bh * 0.85),
                          (0.0, bh * 0.95 * q.sag), (-0.65, bh * 0.85), (-1.05, bh * 0.2)])
    sk.add(BODY, body)
    if q.fluffy:
        for k in range(0, len(body), 3):
            sk.ellipse(BODY, body[k] * 0.97, q.fluffy, q.fluffy, n=14)
    if q.horns == "antlers":
        for side, sh in ((-1, 0.75), (1, 1.0)):
            b = head - fwd * q.head_r * 0.2 + upv * q.head_ry * 0.8 + fwd * 0.04 * side
            beam = path(b, math.atan2(upv[1], upv[0]) - 0.6, q.head_r * 3.0, curvature=1.0, n=14)
            sk.tube(ACCENT, beam, np.linspace(0.04, 0.02, 14), sh)
            for k in (4, 8, 12):
                tine = path(beam[k], math.atan2(upv[1], upv[0]) + 0.1 * side, q.head_r * 1.0, n=6)
                sk.tube(ACCENT, tine, np.linspace(0.026, 0.014, 6), sh)
    if q.horns == "ossicones":
        for side, sh in ((-1, 0.75), (1, 1.0)):
            b = head - fwd * q.head_r * 0.25 + upv * q.head_ry * 0.8 + fwd * 0.05 * side
            t = b + upv * q.head_r * 0.55 - fwd * 0.05
            sk.tube(BODY, polyline(b, t), [0.03, 0.025], sh)
            sk.ellipse(DARK, t, 0.04, 0.04, shade=sh, n=14)
    # head
    sk.ellipse(q.head_mat, head, q.head_r, q.head_ry, tilt, shade=1.01)  # a faint line where it meets the body
    if q.snout_len > 0:
        sc = head + fwd * q.head_r * 0.8
        sk.ellipse(q.snout_mat, sc, q.snout_len, q.snout_h, tilt)
        if q.nose:
            sk.ellipse(DARK, sc + fwd * q.snout_len * 0.85 - upv * q.snout_h * 0.0, q.snout_h * 0.38,
                       q.snout_h * 0.3, tilt, n=16)
    if q.horns == "horns":
        for side, sh in ((-1, 0.75), (1, 1.0)):
            b = head - fwd * q.head_r * 0.3 + upv * q.head_ry * 0.85 + fwd * 0.05 * side
            c = path(b, math.atan2(upv[1], upv[0]) + 0.9, q.head_r * 0.9, curvature=-3.0, n=10)
            sk.tube(WHITE, c, np.linspace(0.045, 0.015, 10), sh)
    if q.trunk:
        b = head + fwd * q.head_r * 0.85
        c = path(b, tilt + 1.1, q.trunk, curvature=-0.3, n=16, bend=-4.0)
        sk.tube(BODY, c, np.linspace(q.head_ry * 0.5, q.head_ry * 0.18, 16))
    if q.horns == "tusks":
        b = head + fwd * q.head_r * 0.7 + upv * -q.head_ry * 0.5
        c = path(b, tilt + 0.9, q.head_r * 1.1, curvature=-2.2, n=10)
        sk.tube(WHITE, c, np.linspace(0.05, 0.015, 10))
    if q.ear == "floppy":
        e = q.ear_size
        c = ear_base - upv * e * 0.9 - fwd * e * 0.2
        sk.ellipse(q.head_mat, c, e * 0.45, e * 1.0, tilt + 0.25, shade=0.85)
    if q.ear == "big":
        e = q.ear_size
        c = head - fwd * q.head_r * 0.55 - upv * e * 0.15
        sk.add(BODY, smooth_closed([c + upv * e * 0.9, c - fwd * e * 0.9 + upv * e * 0.5, c - fwd * e * 0.95 - upv * e * 0.6,
                                    c - fwd * e * 0.3 - upv * e * 1.1, c + fwd * e * 0.25 - upv * e * 0.4]), 0.88)
    if q.ear in ("pointy", "horse", "round", "long"):
        ear(True)
    sk.eye(head + fwd * q.head_r * 0.3 + upv * q.head_ry * 0.25, q.eye_r, iris=q.iris)
    for x, hind, far, shade, ph in legs:
        if not far:
            leg(x, hind, shade, ph)
    return sk


# ---------------------------------------------------------------- classes
def _eye_mats(rng, iris=None):
    m = {PUPIL: Material((0.05, 0.04, 0.04), 0.0, lit=False), SHINE: Material((1.0, 1.0, 1.0), 0.0, lit=False)}
    if iris is not None:
        m[ACCENT2] = Material(jitter(rng, iris, 0.05), 0.05, lit=False)
    return m


def _spots(rng, n, lo=(-1.3, -1.0), hi=(1.4, 1.2)):
    return rng.uniform(lo, hi, (n, 2))


def _finish(rng, sk, mats, tilt=0.0) -> Drawing:
    return Drawing(sk, mats, angle=math.radians(tilt), mirror=bool(rng.random() < 0.5), seed=float(rng.random()))


def cat(rng):
    coat = _pick(rng, ["orange", "gray", "black", "white", "calico"])
    q = Quad(bh=_vary(rng, 0.32), leg_len=_vary(rng, 0.58), leg_w=0.08, neck_len=0.32, neck_angle=_vary(rng, 45, 0.2),
             neck_w=0.24, neck_w2=0.2, head_r=_vary(rng, 0.31), head_ry=0.28, head_tilt=rng.uniform(-5, 15),
             snout_len=0.1, snout_h=0.1, ear="pointy", ear_size=_vary(rng, 0.22), tail="thin",
             tail_len=_vary(rng, 1.15), tail_w=0.055, tail_up=rng.uniform(20, 80), tail_curl=rng.uniform(-2.0, 0.5),
             eye_r=0.06, iris=(0.75, 0.7, 0.1), stride=rng.uniform(0.1, 0.5), leap=rng.uniform(0, 1) ** 3)
    base = {"orange": (0.93, 0.58, 0.25), "gray": (0.55, 0.55, 0.57), "black": (0.13, 0.12, 0.13),
            "white": (0.93, 0.92, 0.88), "calico": (0.95, 0.93, 0.88)}[coat]
    if coat in ("orange", "gray"):
        body = Material(jitter(rng, base), 0.12, "stripes", jitter(rng, np.array(base) * 0.55),
                        {"freq": rng.uniform(4, 6), "width": 0.3, "warp": 2.0, "angle": 0.15,
                         "belly": (jitter(rng, (0.96, 0.93, 0.86)), 0.22, 0.15, 0.3)})
    elif coat == "calico":
        body = Material(base, 0.08, "patches", jitter(rng, _pick(rng, [(0.9, 0.5, 0.15), (0.15, 0.12, 0.1)])),
                        {"scale": 16, "threshold": 0.4})
    else:
        body = Material(jitter(rng, base), 0.1)
    return _finish(rng, quadruped(rng, q), {BODY: body, DARK: Material((0.85, 0.5, 0.55), 0.05),
                                           ACCENT: Material((0.92, 0.68, 0.68), 0.05), **_eye_mats(rng, (0.8, 0.75, 0.15))},
                   rng.uniform(-12, 12))


def dog(rng):
    coat = _pick(rng, ["brown", "black_tan", "white_spots", "golden", "gray"])
    q = Quad(bh=_vary(rng, 0.33), leg_len=_vary(rng, 0.75), leg_w=0.085, neck_len=_vary(rng, 0.28), neck_angle=_vary(rng, 50, 0.2),
             neck_w=0.23, neck_w2=0.2, head_r=_vary(rng, 0.3), head_ry=0.24, head_tilt=rng.uniform(0, 20),
             snout_len=_vary(rng, 0.24), snout_h=0.13, nose=True, ear=_pick(rng, ["floppy", "floppy", "pointy"]),
             ear_size=_vary(rng, 0.24), inner_ear=False, tail="thin", tail_len=_vary(rng, 0.6), tail_w=0.06,
             tail_up=rng.uniform(10, 70), tail_curl=rng.uniform(-1.5, 0.5), eye_r=0.045, stride=rng.uniform(0.15, 0.55),
             leap=rng.uniform(0, 1) ** 2)
    cols = {"brown": (0.55, 0.35, 0.18), "black_tan": (0.12, 0.1, 0.09), "white_spots": (0.94, 0.92, 0.88),
            "golden": (0.88, 0.66, 0.35), "gray": (0.5, 0.48, 0.46)}
    base = jitter(rng, cols[coat])
    if coat == "white_spots":
        body = Material(base, 0.06, "spots", (0.12, 0.1, 0.1), {"points": _spots(rng, 14), "radius": 0.09})
    elif coat == "black_tan":
        body = Material(base, 0.1, params={"belly": ((0.7, 0.45, 0.2), 0.28, 0.12, 0.33)})
    else:
        body = Material(base, 0.1, params={"belly": (jitter(rng, np.minimum(np.array(base) * 1.35, 1)), 0.3, 0.2, 0.33)})
    return _finish(rng, quadruped(rng, q), {BODY: body, DARK: Material((0.1, 0.08, 0.08), 0.05),
                                           ACCENT: Material((0.85, 0.6, 0.6)), **_eye_mats(rng)}, rng.uniform(-10, 10))


def horse(rng, zebra=False):
    q = Quad(bh=_vary(rng, 0.38), withers=1.1, leg_len=_vary(rng, 1.15), leg_w=0.075, foot="hoof",
             neck_len=_vary(rng, 0.75), neck_angle=_vary(rng, 55, 0.15), neck_w=0.25, neck_w2=0.14,
             head_r=_vary(rng, 0.32), head_ry=0.14, head_tilt=rng.uniform(35, 60), snout_len=0.14, snout_h=0.11,
             ear="horse", ear_size=0.14, inner_ear=False, tail="horse", tail_len=_vary(rng, 0.85), tail_w=0.07,
             tail_up=rng.uniform(-60, 0), tail_curl=rng.uniform(-1.5, -0.3), mane=True, eye_r=0.04,
             stride=rng.uniform(0.15, 0.6), leap=rng.uniform(0, 1) ** 2)
    if zebra:
        body = Material((0.95, 0.95, 0.93), 0.05, "stripes", (0.06, 0.06, 0.07),
                        {"freq": rng.uniform(6.5, 8.5), "width": 0.45, "warp": 2.5, "angle": rng.uniform(-0.2, 0.2)})
        dark = Material((0.08, 0.08, 0.08), 0.08)
    else:
        base = jitter(rng, _pick(rng, [(0.45, 0.26, 0.13), (0.62, 0.38, 0.2), (0.2, 0.13, 0.1), (0.85, 0.84, 0.8),
                                        (0.6, 0.58, 0.55)]))
        body = Material(base, 0.08)
        dark = Material(jitter(rng, (0.12, 0.09, 0.08)), 0.1)
    return _finish(rng, quadruped(rng, q), {BODY: body, DARK: dark, **_eye_mats(rng)}, rng.uniform(-8, 8))


def zebra(rng):
    return horse(rng, zebra=True)


def giraffe(rng):
    q = Quad(bh=_vary(rng, 0.33), withers=1.25, leg_len=_vary(rng, 1.45), leg_w=0.06, foot="hoof",
             neck_len=_vary(rng, 1.5), neck_angle=_vary(rng, 66, 0.1), neck_w=0.17, neck_w2=0.09,
             head_r=_vary(rng, 0.22), head_ry=0.11, head_tilt=rng.uniform(25, 50), snout_len=0.1, snout_h=0.08,
             ear="horse", ear_size=0.11, inner_ear=False, tail="tuft", tail_len=_vary(rng, 0.7), tail_w=0.025,
             tail_up=rng.uniform(-80, -50), horns="ossicones", mane=True, eye_r=0.035, stride=rng.uniform(0.1, 0.4))
    patch = jitter(rng, (0.66, 0.36, 0.12))
    body = Material(jitter(rng, (0.95, 0.88, 0.7), 0.03), 0.06, "giraffe", patch,
                    {"points": _spots(rng, 90, (-1.4, -2.6), (2.2, 1.8)), "line": 0.035})
    return _finish(rng, quadruped(rng, q), {BODY: body, DARK: Material(jitter(rng, (0.35, 0.2, 0.1)), 0.1),
                                           **_eye_mats(rng)}, rng.uniform(-5, 5))


def elephant(rng):
    q = Quad(bh=_vary(rng, 0.55), withers=1.05, leg_len=_vary(rng, 0.7), leg_w=0.17, bend=0.2, foot="none",
             neck_len=0.05, neck_angle=10, neck_w=0.42, neck_w2=0.4, head_r=_vary(rng, 0.4), head_ry=0.42,
             head_tilt=rng.uniform(10, 30), snout_len=0.0, nose=False, ear="big", ear_size=_vary(rng, 0.5),
             tail="tuft", tail_len=0.6, tail_w=0.03, tail_up=rng.uniform(-75, -45), trunk=_vary(rng, 1.0),
             horns="tusks" if rng.random() < 0.7 else "", eye_r=0.035, stride=rng.uniform(0.05, 0.3))
    gray = jitter(rng, (0.58, 0.56, 0.55), 0.04)
    body = Material(gray, 0.16, "patches", np.array(gray) * 0.85, {"scale": 14, "threshold": 0.5})
    return _finish(rng, quadruped(rng, q), {BODY: body, DARK: Material((0.2, 0.18, 0.18), 0.1),
                                           WHITE: Material((0.95, 0.92, 0.82), 0.04), **_eye_mats(rng)},
                   rng.uniform(-6, 6))


def _big_cat(rng, spotted):
    q = Quad(bh=_vary(rng, 0.34), leg_len=_vary(rng, 0.7), leg_w=0.1, neck_len=0.3, neck_angle=_vary(rng, 30, 0.3),
             neck_w=0.3, neck_w2=0.24, head_r=_vary(rng, 0.3), head_ry=0.25, head_tilt=rng.uniform(0, 20),
             snout_len=0.15, snout_h=0.12, snout_mat=BELLY, ear="round", ear_size=0.14, tail="thin",
             tail_len=_vary(rng, 1.1), tail_w=0.06, tail_up=rng.uniform(-30, 30), tail_curl=rng.uniform(-1.5, 1.5),
             eye_r=0.045, iris=(0.85, 0.7, 0.2), stride=rng.uniform(0.2, 0.6), leap=rng.uniform(0, 1) ** 2)
    belly = ((0.97, 0.95, 0.88), 0.25, 0.15, 0.36)
    if spotted:
        body = Material(jitter(rng, (0.9, 0.72, 0.4)), 0.08, "rosettes", (0.16, 0.11, 0.06),
                        {"points": _spots(rng, 110, (-1.6, -1.2), (1.6, 1.4)), "radius": 0.075, "belly": belly})
    else:
        body = Material(jitter(rng, (0.93, 0.5, 0.12)), 0.08, "stripes", (0.08, 0.06, 0.05),
                        {"freq": rng.uniform(5, 7), "width": 0.22, "warp": 3.0, "angle": 0.1, "belly": belly})
    return _finish(rng, quadruped(rng, q), {BODY: body, BELLY: Material((0.96, 0.94, 0.88), 0.06),
                                           DARK: Material((0.2, 0.12, 0.1), 0.05), **_eye_mats(rng, (0.85, 0.7, 0.2))},
                   rng.uniform(-10, 10))


def tiger(rng):
    return _big_cat(rng, False)


def leopard(rng):
    return _big_cat(rng, True)


def cow(rng):
    q = Quad(bh=_vary(rng, 0.45), leg_len=_vary(rng, 0.72), leg_w=0.1, foot="hoof", neck_len=_vary(rng, 0.3),
             neck_angle=_vary(rng, 25, 0.3), neck_w=0.3, neck_w2=0.2, head_r=_vary(rng, 0.3), head_ry=0.19,
             head_tilt=rng.uniform(30, 50), snout_len=0.15, snout_h=0.15, snout_mat=BELLY, ear="floppy",
             ear_size=0.13, tail="tuft", tail_len=_vary(rng, 0.9), tail_w=0.028, tail_up=rng.uniform(-80, -60),
             tail_curl=rng.uniform(-0.5, 0.5), horns="horns" if rng.random() < 0.7 else "", eye_r=0.04,
             stride=rng.uniform(0.05, 0.35))
    coat = _pick(rng, ["holstein", "holstein", "brown", "black"])
    if coat == "holstein":
        body = Material((0.95, 0.94, 0.92), 0.05, "patches", (0.08, 0.08, 0.08),
                        {"scale": rng.uniform(12, 18), "threshold": rng.uniform(0.0, 0.5)})
    else:
        body = Material(jitter(rng, (0.5, 0.3, 0.15) if coat == "brown" else (0.12, 0.11, 0.1)), 0.08)
    return _finish(rng, quadruped(rng, q), {BODY: body, BELLY: Material(jitter(rng, (0.92, 0.7, 0.68)), 0.05),
                                           DARK: Material((0.12, 0.1, 0.1), 0.05),
                                           WHITE: Material((0.92, 0.88, 0.76), 0.05), **_eye_mats(rng)},
                   rng.uniform(-6, 6))


def pig(rng):
    q = Quad(bh=_vary(rng, 0.48), withers=0.95, sag=1.05, leg_len=_vary(rng, 0.4), leg_w=0.1, foot="hoof",
             neck_len=0.05, neck_angle=10, neck_w=0.42, neck_w2=0.4, head_r=_vary(rng, 0.33), head_ry=0.3,
             head_tilt=rng.uniform(5, 25), snout_len=0.1, snout_h=0.15, snout_mat=BELLY, nose=False,
             ear=_pick(rng, ["pointy", "floppy"]), ear_size=0.17, tail="curly", tail_len=0.4, tail_w=0.025,
             tail_up=40, eye_r=0.035, stride=rng.uniform(0.1, 0.5))
    coat = _pick(rng, ["pink", "pink", "spotted", "black"])
    pink = jitter(rng, (0.97, 0.72, 0.7), 0.04)
    if coat == "spotted":
        body = Material(pink, 0.06, "patches", (0.15, 0.1, 0.1), {"scale": 16, "threshold": 0.6})
    else:
        body = Material(pink if coat == "pink" else (0.16, 0.13, 0.13), 0.07)
    return _finish(rng, quadruped(rng, q), {BODY: body, BELLY: Material(np.array(pink) * 0.92, 0.04),
                                           ACCENT: Material((0.9, 0.55, 0.55), 0.04),
                                           DARK: Material((0.4, 0.3, 0.3), 0.05), **_eye_mats(rng)},
                   rng.uniform(-8, 8))


def fox(rng):
    q = Quad(bh=_vary(rng, 0.28), leg_len=_vary(rng, 0.62), leg_w=0.065, dark_legs=True, neck_len=0.2,
             neck_angle=_vary(rng, 35, 0.3), neck_w=0.22, neck_w2=0.17, head_r=_vary(rng, 0.24), head_ry=0.18,
             head_tilt=rng.uniform(0, 20), snout_len=0.24, snout_h=0.08, ear="pointy", ear_size=0.2, tail="bushy",
             tail_len=_vary(rng, 1.0), tail_w=0.17, tail_up=rng.uniform(-10, 35), tail_curl=rng.uniform(-0.8, 0.4),
             tail_tip=True, eye_r=0.035, stride=rng.uniform(0.2, 0.6), leap=rng.uniform(0, 1) ** 2)
    red = jitter(rng, (0.9, 0.45, 0.13))
    body = Material(red, 0.1, params={"belly": ((0.97, 0.95, 0.9), 0.2, 0.12, 0.3)})
    return _finish(rng, quadruped(rng, q), {BODY: body, WHITE: Material((0.97, 0.95, 0.92), 0.05),
                                           DARK: Material((0.15, 0.1, 0.08), 0.08), ACCENT: Material((0.2, 0.12, 0.1)),
                                           **_eye_mats(rng)}, rng.uniform(-10, 10))


def bear(rng):
    q = Quad(bh=_vary(rng, 0.5), withers=1.2, leg_len=_vary(rng, 0.6), leg_w=0.15, bend=0.4, neck_len=0.32,
             neck_angle=rng.uniform(-10, 15), neck_w=0.36, neck_w2=0.3, head_r=_vary(rng, 0.34), head_ry=0.28,
             head_tilt=rng.uniform(5, 30), snout_len=0.17, snout_h=0.13, snout_mat=BELLY, ear="round",
             ear_size=0.15, tail="stub", tail_w=0.07, eye_r=0.035, stride=rng.uniform(0.1, 0.4))
    coat = _pick(rng, ["brown", "brown", "black", "polar"])
    base = {"brown": (0.42, 0.26, 0.13), "black": (0.1, 0.09, 0.09), "polar": (0.94, 0.92, 0.84)}[coat]
    muzzle = {"brown": (0.6, 0.45, 0.3), "black": (0.62, 0.48, 0.33), "polar": (0.9, 0.88, 0.8)}[coat]
    return _finish(rng, quadruped(rng, q), {BODY: Material(jitter(rng, base), 0.13),
                                           BELLY: Material(jitter(rng, muzzle), 0.08),
                                           DARK: Material((0.08, 0.07, 0.07), 0.05), **_eye_mats(rng)},
                   rng.uniform(-8, 8))


def deer(rng):
    q = Quad(bh=_vary(rng, 0.32), withers=1.05, leg_len=_vary(rng, 1.1), leg_w=0.055, foot="hoof",
             neck_len=_vary(rng, 0.55), neck_angle=_vary(rng, 62, 0.12), neck_w=0.17, neck_w2=0.11,
             head_r=_vary(rng, 0.25), head_ry=0.13, head_tilt=rng.uniform(30, 50), snout_len=0.1, snout_h=0.085,
             ear="pointy", ear_size=0.18, tail="stub", tail_w=0.07, snout_mat=BODY,
             horns="antlers" if rng.random() < 0.6 else "", eye_r=0.04, stride=rng.uniform(0.1, 0.5),
             leap=rng.uniform(0, 1) ** 2)
    brown = jitter(rng, (0.62, 0.4, 0.22))
    belly = ((0.95, 0.92, 0.85), 0.25, 0.1, 0.33)
    if rng.random() < 0.3:  # fawn spots
        body = Material(brown, 0.08, "spots", (0.96, 0.93, 0.88),
                        {"points": _spots(rng, 22, (-0.9, -0.35), (0.8, 0.0)), "radius": 0.04, "belly": belly})
    else:
        body = Material(brown, 0.08, params={"belly": belly})
    return _finish(rng, quadruped(rng, q), {BODY: body, ACCENT: Material(jitter(rng, (0.45, 0.33, 0.22)), 0.1),
                                           DARK: Material((0.1, 0.08, 0.07), 0.05), **_eye_mats(rng)},
                   rng.uniform(-8, 8))


def sheep(rng):
    q = Quad(bh=_vary(rng, 0.42), leg_len=_vary(rng, 0.55), leg_w=0.055, foot="hoof", neck_len=0.2,
             neck_angle=_vary(rng, 30, 0.3), neck_w=0.25, neck_w2=0.18, head_r=_vary(rng, 0.22), head_ry=0.15,
             head_tilt=rng.uniform(30, 55), snout_len=0.09, snout_h=0.1, snout_mat=DARK, nose=False, ear="floppy",
             ear_size=0.12, tail="stub", tail_w=0.08, eye_r=0.035, head_mat=DARK, leg_mat=DARK,
             fluffy=_vary(rng, 0.11), stride=rng.uniform(0.05, 0.35))
    wool = jitter(rng, _pick(rng, [(0.95, 0.93, 0.86), (0.92, 0.9, 0.82), (0.35, 0.3, 0.27)]), 0.03)
    face = jitter(rng, _pick(rng, [(0.12, 0.1, 0.1), (0.9, 0.86, 0.8)]), 0.05)
    return _finish(rng, quadruped(rng, q), {BODY: Material(wool, 0.08, "wool", np.array(wool) * 0.72, {"strength": 0.9}),
                                           DARK: Material(face, 0.06), **_eye_mats(rng)}, rng.uniform(-5, 5))


def rabbit(rng):
    sk = Sketch()
    up = rng.uniform(0.0, 0.35)  # 0: sitting, higher: hopping
    s = _vary(rng, 1.0, 0.06)
    body = smooth_closed([(-0.85, 0.25), (-0.7, -0.35), (-0.1, -0.5 - up * 0.3), (0.45, -0.35), (0.55, 0.1),
                          (0.25, 0.45), (-0.4, 0.55)])
    ear_len = _vary(rng, 0.55)
    head = np.array([0.6, -0.45 - up * 0.4]) * s
    ear_ang = math.radians(rng.uniform(-120, -95))
    for sh, da in ((0.7, -0.25), (1.0, 0.0)):
        c = head + np.array([math.cos(ear_ang + da), math.sin(ear_ang + da)]) * (0.2 + ear_len * 0.5)
        sk.ellipse(BODY, c, ear_len * 0.5, 0.08, ear_ang + da, shade=sh)
        if sh == 1.0:
            sk.ellipse(ACCENT, c, ear_len * 0.38, 0.035, ear_ang + da)
    sk.limb(BODY, [(0.3, 0.2), (0.38 + up * 0.3, 0.55), (0.45 + up * 0.5, 0.72)], [0.07, 0.05, 0.05], 0.7)
    sk.ellipse(WHITE, (-0.9, -0.05), 0.14, 0.13, n=20)
    sk.add(BODY, body)
    sk.ellipse(BODY, (-0.45, 0.2), 0.38, 0.33, 0.3)  # haunch
    sk.ellipse(BODY, (-0.3 + up * 0.4, 0.6), 0.32, 0.08, 0.1 + up)  # hind foot
    sk.limb(BODY, [(0.4, 0.15), (0.45 + up * 0.2, 0.55), (0.5 + up * 0.4, 0.7)], [0.08, 0.055, 0.055])
    sk.ellipse(BODY, head, 0.26, 0.22, 0.3)
    sk.ellipse(WHITE, head + (0.18, 0.07), 0.1, 0.08, 0.2)
    sk.ellipse(ACCENT, head + (0.26, 0.03), 0.035, 0.028, n=12)
    sk.eye(head + (0.06, -0.05), 0.05)
    coat = jitter(rng, _pick(rng, [(0.6, 0.48, 0.35), (0.55, 0.53, 0.5), (0.95, 0.94, 0.92), (0.35, 0.28, 0.22)]))
    return _finish(rng, sk, {BODY: Material(coat, 0.1, params={"belly": ((0.95, 0.93, 0.9), 0.35, 0.15)}),
                             WHITE: Material((0.97, 0.96, 0.95), 0.04), ACCENT: Material((0.92, 0.65, 0.65), 0.04),
                             **_eye_mats(rng)}, rng.uniform(-10, 10) - up * 30)


def _wing(root, span, chord, angle, fingers=0):
    """(wing polygon, covert polygon): span along direction ``angle`` (radians, y down), chord toward -x."""
    d = np.array([math.cos(angle), math.sin(angle)])
    back = np.array([-1.0, 0.0])
    t = np.linspace(0, 1, 12)
    lead = root + np.outer(t * span, d) + np.outer(np.sin(t * np.pi) * span * 0.08, back * -1)
    c = chord * (1 - 0.55 * t**1.5)
    trail = lead + np.outer(c, back)
    trail = trail[::-1]
    if fingers:  # primaries: a saw-tooth on the outer trailing edge
        tips = []
        for i, (a, b) in enumerate(zip(trail[:-1], trail[1:])):
            tips.append(a)
            if i < fingers:
                tips.append((a + b) / 2 + (a - lead[::-1][i]) * 0.25)
        tips.append(trail[-1])
        trail = np.array(tips)
    wing = np.concatenate([lead, trail])
    cov = np.concatenate([lead, (lead + np.outer(c * 0.5, back))[::-1]])
    return wing, cov


@dataclass
class BirdSpec:
    body_rx: float = 0.7
    body_ry: float = 0.25
    head_r: float = 0.2
    neck: float = 0.25
    beak: str = "hook"  # hook | flat | pointed
    beak_len: float = 0.22
    tail_len: float = 0.45
    tail_w: float = 0.18
    span: float = 1.5
    chord: float = 0.55
    fingers: int = 4
    wing_tip: bool = False  # black wing tips (gull)
    neck_ring: bool = False


def bird(rng, b: BirdSpec) -> Sketch:
    sk = Sketch()
    flap = rng.uniform(-1.0, 1.0)  # -1 wings up, 1 wings down
    ang = -math.pi / 2 + flap * 1.6  # span direction of the near wing
    root = np.array([0.08, -b.body_ry * 0.4])
    wing_far, cov_far = _wing(root + (0.12, -0.02), b.span * 0.92, b.chord, ang - 0.35, b.fingers)
    sk.add(ACCENT, wing_far, 0.7)
    sk.add(BODY, cov_far, 0.7)
    # tail
    tb = np.array([-b.body_rx * 0.8, -0.02])
    tail_dir = math.pi + rng.uniform(-0.25, 0.15)
    td = np.array([math.cos(tail_dir), math.sin(tail_dir)])
    tn = np.array([-td[1], td[0]])
    tip = tb + td * b.tail_len
    sk.add(ACCENT, polyline(tb + tn * 0.08, tip + tn * b.tail_w, tip + td * 0.04, tip - tn * b.tail_w, tb - tn * 0.08))
    sk.ellipse(BODY, (0, 0), b.body_rx, b.body_ry, rng.uniform(-0.1, 0.1))
    head = np.array([b.body_rx * 0.75 + b.neck * 0.6, -b.body_ry * 0.6 - b.neck * 0.3])
    sk.tube(BELLY if b.neck_ring else BODY, polyline((b.body_rx * 0.55, -b.body_ry * 0.2), head), [b.body_ry * 0.8, b.head_r * 0.8])
    if b.neck_ring:
        sk.tube(WHITE, polyline(head + (-0.12, 0.12), head + (-0.14, 0.16)), b.head_r * 0.85, caps=False)
    sk.ellipse(DARK if b.neck_ring else BELLY, head, b.head_r, b.head_r * 0.9)
    bl = b.beak_len
    h0 = head + (b.head_r * 0.85, -b.head_r * 0.1)
    if b.beak == "hook":
        sk.add(BEAK, smooth_closed([h0 + (0, -bl * 0.35), h0 + (bl * 0.8, -bl * 0.2), h0 + (bl, bl * 0.3),
                                               h0 + (bl * 0.75, bl * 0.2), h0 + (0, bl * 0.3)], 4))
    elif b.beak == "flat":
        sk.add(BEAK, smooth_closed([h0 + (0, -bl * 0.2), h0 + (bl, -bl * 0.05), h0 + (bl * 1.05, bl * 0.15),
                                  h0 + (0, bl * 0.3)], 4))
    else:
        sk.add(BEAK, polyline(h0 + (0, -bl * 0.25), h0 + (bl, bl * 0.1), h0 + (0, bl * 0.3)))
    sk.eye(head + (b.head_r * 0.3, -b.head_r * 0.2), b.head_r * 0.22)
    wing, cov = _wing(root, b.span, b.chord, ang, b.fingers)
    sk.add(ACCENT, wing)
    sk.add(BODY, cov, 0.92)
    if b.wing_tip:
        sk.add(DARK, np.concatenate([wing[8:12], wing[12:12 + 5]]))
    return sk


def eagle(rng):
    b = BirdSpec(body_rx=_vary(rng, 0.7), body_ry=0.26, head_r=0.2, neck=0.2, beak="hook", beak_len=0.2,
                 tail_len=_vary(rng, 0.45), tail_w=0.2, span=_vary(rng, 1.6), chord=_vary(rng, 0.6), fingers=5)
    brown = jitter(rng, (0.36, 0.22, 0.12))
    head = jitter(rng, _pick(rng, [(0.97, 0.96, 0.93), (0.97, 0.96, 0.93), (0.5, 0.34, 0.2)]), 0.03)
    return _finish(rng, bird(rng, b), {BODY: Material(brown, 0.12, "feathers", np.array(brown) * 0.6, {"size": 0.1}),
                                       ACCENT: Material(np.array(brown) * 0.7, 0.1, "feathers", np.array(brown) * 0.45,
                                                        {"size": 0.12}),
                                       BELLY: Material(head, 0.08), BEAK: Material(jitter(rng, (0.98, 0.78, 0.15)), 0.04),
                                       **_eye_mats(rng)}, rng.uniform(-20, 20))


def parrot(rng):
    b = BirdSpec(body_rx=_vary(rng, 0.6), body_ry=0.24, head_r=0.22, neck=0.15, beak="hook", beak_len=0.25,
                 tail_len=_vary(rng, 1.0), tail_w=0.1, span=_vary(rng, 1.3), chord=_vary(rng, 0.5), fingers=3)
    kind = _pick(rng, ["scarlet", "green", "blue"])
    body, wing, head = {"scarlet": ((0.9, 0.12, 0.08), (0.15, 0.35, 0.85), (0.9, 0.12, 0.08)),
                        "green": ((0.2, 0.7, 0.2), (0.1, 0.3, 0.8), (0.95, 0.85, 0.15)),
                        "blue": ((0.15, 0.45, 0.9), (0.1, 0.3, 0.75), (0.98, 0.8, 0.15))}[kind]
    cov = (0.98, 0.8, 0.1) if kind == "scarlet" else body
    return _finish(rng, bird(rng, b), {BODY: Material(jitter(rng, cov), 0.08, params={"scales": 0.08}),
                                       ACCENT: Material(jitter(rng, wing), 0.08, "feathers", np.array(wing) * 0.6,
                                                        {"size": 0.1}),
                                       BELLY: Material(jitter(rng, head), 0.06), BEAK: Material((0.92, 0.9, 0.85), 0.05),
                                       **_eye_mats(rng)}, rng.uniform(-20, 20))


def duck(rng):
    b = BirdSpec(body_rx=_vary(rng, 0.72), body_ry=0.3, head_r=0.2, neck=0.35, beak="flat", beak_len=0.22,
                 tail_len=0.25, tail_w=0.12, span=_vary(rng, 1.2), chord=_vary(rng, 0.45), fingers=2, neck_ring=True)
    female = rng.random() < 0.3
    head = (0.45, 0.32, 0.2) if female else (0.1, 0.45, 0.2)
    body = (0.55, 0.42, 0.3) if female else (0.6, 0.6, 0.6)
    return _finish(rng, bird(rng, b), {BODY: Material(jitter(rng, body), 0.08, "feathers", np.array(body) * 0.75,
                                                      {"size": 0.08, "strength": 0.4}),
                                       ACCENT: Material(jitter(rng, (0.45, 0.4, 0.36)), 0.08, "feathers", (0.25, 0.22, 0.2),
                                                        {"size": 0.11}),
                                       BELLY: Material(jitter(rng, (0.5, 0.3, 0.2)), 0.06),
                                       DARK: Material(jitter(rng, head), 0.08), WHITE: Material((0.95, 0.95, 0.93), 0.03),
                                       BEAK: Material(jitter(rng, (0.95, 0.6, 0.1)), 0.04), **_eye_mats(rng)},
                   rng.uniform(-15, 15))


def gull(rng):
    b = BirdSpec(body_rx=_vary(rng, 0.65), body_ry=0.22, head_r=0.19, neck=0.15, beak="pointed", beak_len=0.22,
                 tail_len=0.3, tail_w=0.15, span=_vary(rng, 1.8), chord=_vary(rng, 0.45), fingers=0, wing_tip=True)
    return _finish(rng, bird(rng, b), {BODY: Material((0.97, 0.97, 0.96), 0.04),
                                       ACCENT: Material(jitter(rng, (0.7, 0.72, 0.75), 0.03), 0.05),
                                       BELLY: Material((0.98, 0.98, 0.97), 0.03), DARK: Material((0.1, 0.1, 0.1), 0.05),
                                       BEAK: Material((0.97, 0.8, 0.2), 0.04), **_eye_mats(rng)}, rng.uniform(-15, 15))


def owl(rng):
    sk = Sketch()
    w = _vary(rng, 1.0, 0.06)
    spread = rng.uniform(0, 1) ** 2  # wings opening
    for side in (-1, 1):
        c = (side * (0.45 + spread * 0.5) * w, 0.15 - spread * 0.2)
        sk.ellipse(ACCENT, c, 0.24 + spread * 0.35, 0.6 - spread * 0.15, side * (0.25 + spread * 1.1), 0.85)
    sk.add(BODY, smooth_closed([(0, -0.9), (0.5, -0.6), (0.55 * w, 0.2), (0.35, 0.75), (0, 0.85), (-0.35, 0.75),
                                (-0.55 * w, 0.2), (-0.5, -0.6)]))
    for side in (-1, 1):  # ear tufts
        sk.add(BODY, polyline((side * 0.2, -0.8), (side * 0.55, -1.15), (side * 0.45, -0.6)))
    sk.add(BELLY, smooth_closed([(0, 0.05), (0.38, 0.25), (0.3, 0.7), (0, 0.8), (-0.3, 0.7), (-0.38, 0.25)]))
    for side in (-1, 1):
        sk.ellipse(WHITE, (side * 0.22, -0.45), 0.25, 0.24)
        sk.eye((side * 0.22, -0.45), 0.13, iris=(0.98, 0.7, 0.1))
        sk.ellipse(BEAK, (side * 0.12, 0.82), 0.1, 0.05, n=14)
        sk.ellipse(BEAK, (side * 0.3, 0.8), 0.1, 0.05, n=14)
    sk.add(BEAK, polyline((-0.06, -0.3), (0.06, -0.3), (0, -0.12)))
    brown = jitter(rng, _pick(rng, [(0.55, 0.4, 0.25), (0.6, 0.55, 0.5), (0.75, 0.6, 0.4)]))
    return _finish(rng, sk, {BODY: Material(brown, 0.12, "feathers", np.array(brown) * 0.6, {"size": 0.12}),
                             ACCENT: Material(np.array(brown) * 0.8, 0.12, "stripes", np.array(brown) * 0.45,
                                              {"freq": 6, "width": 0.3, "angle": 1.5}),
                             BELLY: Material(jitter(rng, (0.92, 0.86, 0.75)), 0.08, "feathers", np.array(brown) * 0.9,
                                             {"size": 0.09}),
                             WHITE: Material(jitter(rng, (0.95, 0.9, 0.82)), 0.05), BEAK: Material((0.35, 0.3, 0.25), 0.05),
                             **_eye_mats(rng, (0.98, 0.7, 0.1))}, rng.uniform(-15, 15))


def penguin(rng):
    sk = Sketch()
    lean = rng.uniform(-15, 15)
    flip = rng.uniform(-0.3, 0.9)
    sk.ellipse(BEAK, (-0.05, 0.95), 0.2, 0.07, n=16)
    sk.add(BODY, smooth_closed([(0.05, -1.0), (0.3, -0.85), (0.32, -0.5), (0.45, 0.2), (0.35, 0.8), (0.0, 0.95),
                                (-0.35, 0.8), (-0.42, 0.1), (-0.25, -0.6), (-0.15, -0.9)]))
    sk.add(BELLY, smooth_closed([(0.25, -0.45), (0.4, 0.2), (0.3, 0.78), (0.05, 0.88), (-0.05, 0.3), (0.08, -0.4)]))
    sk.ellipse(WHITE if rng.random() < 0.5 else ACCENT, (0.12, -0.62), 0.1, 0.06, -0.3)
    sk.add(BEAK, polyline((0.25, -0.78), (0.55, -0.68), (0.25, -0.66)))
    sk.eye((0.12, -0.8), 0.045)
    sk.ellipse(BODY, (-0.2 + math.sin(flip) * 0.2, -0.05 + 0.2), 0.1, 0.42, flip, 0.85)
    sk.ellipse(BEAK, (0.1, 0.95), 0.2, 0.07, n=16)
    return _finish(rng, sk, {BODY: Material(jitter(rng, (0.12, 0.13, 0.16), 0.03), 0.08),
                             BELLY: Material((0.96, 0.96, 0.94), 0.04), ACCENT: Material((0.98, 0.78, 0.2), 0.05),
                             WHITE: Material((0.97, 0.97, 0.97), 0.03), BEAK: Material((0.95, 0.55, 0.15), 0.05),
                             **_eye_mats(rng)}, lean)


def fish(rng):
    sk = Sketch()
    h = _vary(rng, 0.5, 0.2)
    kind = _pick(rng, ["clown", "tropical", "trout", "goldfish"])
    if kind == "trout":
        h *= 0.65
    sk.add(ACCENT, polyline((-0.7, 0), (-1.25, -h * 0.95), (-1.05, 0), (-1.25, h * 0.95)))  # tail
    sk.add(ACCENT, smooth_closed([(-0.3, -h * 0.8), (0.0, -h * 1.45), (0.3, -h * 0.9), (0.1, -h * 0.8)], 5))  # dorsal
    sk.add(ACCENT, polyline((-0.2, h * 0.7), (-0.35, h * 1.2), (0.05, h * 0.85)), 0.85)
    sk.add(BODY, smooth_closed([(1.0, 0.05), (0.7, -h * 0.8), (0.0, -h), (-0.75, -h * 0.3), (-0.75, h * 0.3),
                                (0.0, h), (0.7, h * 0.75)]))
    sk.ellipse(ACCENT, (0.35, h * 0.25), 0.18, 0.07, 0.5, 0.9)  # pectoral fin
    sk.eye((0.65, -h * 0.25), 0.07, iris=(0.95, 0.85, 0.3))
    sk.add(DARK, polyline((0.92, 0.08), (1.0, 0.06), (0.95, 0.14)))
    palette = {"clown": ((0.98, 0.45, 0.05), (0.98, 0.98, 0.95), "bands"),
               "tropical": ((0.98, 0.85, 0.1), (0.1, 0.1, 0.15), "stripes"),
               "trout": ((0.55, 0.6, 0.35), (0.2, 0.22, 0.1), "spots"),
               "goldfish": ((0.98, 0.55, 0.1), (0.98, 0.8, 0.4), "")}
    c1, c2, pat = palette[kind]
    c1 = jitter(rng, c1)
    params = {"scales": 0.07, "freq": 1.3, "width": 0.22, "phase": rng.uniform(0, 6), "angle": 0.0,
              "points": _spots(rng, 40), "radius": 0.035}
    if kind == "tropical":
        params.update(freq=2.0, width=0.18)
    if kind == "trout":
        params["belly"] = ((0.95, 0.75, 0.7), 0.1, 0.3)
    return _finish(rng, sk, {BODY: Material(c1, 0.06, pat, c2, params),
                             ACCENT: Material(np.array(c1) * 0.85, 0.06, "stripes", np.array(c1) * 0.6,
                                              {"freq": 10, "width": 0.3, "angle": 1.2}),
                             DARK: Material((0.1, 0.05, 0.05), 0.05), **_eye_mats(rng, (0.95, 0.85, 0.3))},
                   rng.uniform(-20, 20))


def shark(rng):
    sk = Sketch()
    h = _vary(rng, 0.22, 0.1)
    bend = rng.uniform(-0.15, 0.15)
    sk.add(BODY, polyline((-0.85, -0.02), (-1.3, -0.55), (-1.18, -0.05), (-1.1, 0.3)))  # tail
    sk.add(BODY, polyline((-0.05, -h * 0.9), (-0.25, -h * 3.0), (-0.4, -h * 0.8)), 0.95)  # dorsal
    sk.add(BODY, polyline((0.15, h * 0.6), (-0.2, h * 2.6), (-0.1, h * 0.7)), 0.8)  # far pectoral
    body = smooth_closed([(1.0, 0.0), (0.7, -h * 0.85), (0.0, -h), (-0.7, -h * 0.45), (-0.95, -0.02),
                          (-0.7, h * 0.35), (0.0, h * 0.9), (0.7, h * 0.6)])
    body[:, 1] += bend * body[:, 0] ** 2
    sk.add(BODY, body)
    sk.add(BODY, polyline((0.3, h * 0.6), (0.0, h * 2.4), (0.1, h * 0.6)), 0.92)
    for k in range(4):
        sk.tube(DARK, polyline((0.45 - k * 0.06, -h * 0.35), (0.42 - k * 0.06, h * 0.3)), 0.008)
    sk.eye((0.75, -h * 0.3), 0.035)
    gray = jitter(rng, _pick(rng, [(0.45, 0.52, 0.6), (0.5, 0.5, 0.52), (0.35, 0.4, 0.5)]))
    return _finish(rng, sk, {BODY: Material(gray, 0.07, params={"belly": ((0.94, 0.94, 0.93), 0.02, 0.08)}),
                             DARK: Material(np.array(gray) * 0.5, 0.05), **_eye_mats(rng)}, rng.uniform(-20, 20))


def snake(rng):
    sk = Sketch()
    amp = rng.uniform(0.15, 0.35)
    freq = rng.uniform(0.6, 1.1)
    ph = rng.uniform(0, 2 * np.pi)
    x = np.linspace(-1.4, 1.0, 60)
    y = amp * np.sin(2 * np.pi * freq * x + ph)
    c = np.stack([x, y], 1)
    t = np.linspace(0, 1, 60)
    r = 0.11 * np.minimum(1, t * 3.0) ** 0.8 * (1 - 0.25 * t)
    r = np.maximum(r, 0.01)
    d = c[-1] - c[-2]
    d /= np.linalg.norm(d)
    head = c[-1] + d * 0.1
    tongue = head + d * 0.16
    n = np.array([-d[1], d[0]])
    sk.add(BEAK, polyline(tongue - d * 0.05, tongue + d * 0.12 + n * 0.05, tongue + d * 0.06,
                        tongue + d * 0.12 - n * 0.05))
    sk.tube(BODY, c, r)
    sk.ellipse(BODY, head, 0.17, 0.11, math.atan2(d[1], d[0]))
    sk.eye(head + d * 0.05 - n * 0.04, 0.03, iris=(0.9, 0.7, 0.1))
    kind = _pick(rng, ["python", "green", "coral", "rattle"])
    c1, c2, pat = {"python": ((0.75, 0.6, 0.35), (0.3, 0.2, 0.1), "spots"), "green": ((0.3, 0.65, 0.2), (0.9, 0.9, 0.4), ""),
                   "coral": ((0.9, 0.2, 0.1), (0.1, 0.08, 0.08), "bands"),
                   "rattle": ((0.6, 0.5, 0.38), (0.3, 0.22, 0.15), "bands")}[kind]
    params = {"points": c[::3] + rng.normal(0, 0.02, (20, 2)), "radius": 0.07, "freq": 3.5, "width": 0.25,
              "scales": 0.04}
    if kind == "green":
        params["belly"] = (c2, 0.05, 0.1)
    return _finish(rng, sk, {BODY: Material(jitter(rng, c1), 0.06, pat, c2, params),
                             BEAK: Material((0.85, 0.1, 0.15), 0.03), **_eye_mats(rng, (0.9, 0.7, 0.1))},
                   rng.uniform(-30, 30))


def butterfly(rng):
    sk = Sketch()
    open_ = rng.uniform(0.55, 1.0)  # wing opening (foreshortening)
    kind = _pick(rng, ["monarch", "morpho", "swallowtail", "peacock"])
    fore = np.array([(0.05, -0.15), (0.5, -0.55), (1.0, -0.8), (1.05, -0.55), (0.85, -0.05), (0.1, 0.05)])
    hind = np.array([(0.08, 0.0), (0.6, 0.05), (0.8, 0.4), (0.55, 0.8), (0.25, 0.75), (0.06, 0.3)])
    if kind == "swallowtail":
        hind = np.array([(0.08, 0.0), (0.6, 0.05), (0.75, 0.4), (0.55, 0.75), (0.5, 1.15), (0.42, 0.78), (0.2, 0.7),
                         (0.06, 0.3)])
    for side in (-1, 1):
        for wing in (hind, fore):
            pts = wing * (side * open_, 1.0)
            ctr = pts.mean(0)
            sk.add(DARK, smooth_closed(pts, 6))
            sk.add(BODY, smooth_closed(ctr + (pts - ctr) * 0.78 + (side * -0.03 * open_, 0), 6))
        if kind in ("monarch", "swallowtail"):  # veins
            for a in (0.35, 0.7, 1.05, 1.4):
                tip = np.array([side * open_ * 0.85 * math.sin(a), -0.7 * math.cos(a)])
                sk.tube(DARK, polyline((side * 0.08 * open_, -0.05), tip * (1, 1)), 0.012)
            for k in range(5):
                sk.ellipse(WHITE, (side * open_ * (0.92 - k * 0.02), -0.6 + k * 0.14), 0.025 * open_ + 0.005, 0.025, n=10)
        if kind == "peacock":
            e = (side * open_ * 0.72, -0.55)
            sk.ellipse(ACCENT, e, 0.17 * open_, 0.15)
            sk.ellipse(DARK, e, 0.1 * open_, 0.09)
            sk.ellipse(WHITE, (e[0] + side * 0.02, e[1] - 0.02), 0.03 * open_, 0.03, n=10)
            e2 = (side * open_ * 0.45, 0.45)
            sk.ellipse(ACCENT, e2, 0.13 * open_, 0.12)
            sk.ellipse(DARK, e2, 0.07 * open_, 0.06)
        for a0 in (0.5,):
            sk.tube(DARK, path((side * 0.02, -0.55), -math.pi / 2 + side * a0, 0.45, curvature=side * 0.6, n=8), 0.012)
            end = path((side * 0.02, -0.55), -math.pi / 2 + side * a0, 0.45, curvature=side * 0.6, n=8)[-1]
            sk.ellipse(DARK, end, 0.03, 0.03, n=10)
    sk.ellipse(ACCENT2, (0, 0.05), 0.06, 0.5)
    sk.ellipse(ACCENT2, (0, -0.52), 0.07, 0.07, n=16)
    c1, c2 = {"monarch": ((0.98, 0.5, 0.05), (0.08, 0.06, 0.05)), "morpho": ((0.2, 0.55, 0.98), (0.05, 0.05, 0.1)),
              "swallowtail": ((0.98, 0.88, 0.3), (0.08, 0.07, 0.06)), "peacock": ((0.75, 0.15, 0.1), (0.15, 0.1, 0.1))}[kind]
    acc = (0.3, 0.5, 0.9) if kind == "peacock" else (0.98, 0.85, 0.3)
    mats = {BODY: Material(jitter(rng, c1), 0.08, "gradient", np.array(c1) * 0.8, {"y": 0.3, "soft": 0.5}),
            DARK: Material(c2, 0.05), WHITE: Material((0.97, 0.96, 0.92), 0.02), ACCENT: Material(jitter(rng, acc), 0.05),
            ACCENT2: Material((0.15, 0.12, 0.1), 0.1)}
    return Drawing(sk, mats, angle=math.radians(rng.uniform(-35, 35)), mirror=False, seed=float(rng.random()))


def turtle(rng):
    sk = Sketch()
    sea = rng.random() < 0.4
    ph = rng.uniform(0, 2 * np.pi)
    for x, sh, off in ((0.45, 0.7, 0.0), (-0.45, 0.7, 1.0), (0.35, 1.0, 2.0), (-0.55, 1.0, 3.0)):
        a = 0.4 * math.sin(ph + off * 1.6)
        if sea:
            sk.ellipse(BELLY, (x + 0.15 * (1 if x > 0 else -1), 0.25), 0.42 if x > 0 else 0.25, 0.1,
                       (0.5 if x > 0 else -0.4) + a, sh)
        else:
            sk.limb(BELLY, [(x, 0.05), (x + 0.1 * math.sin(a), 0.4)], [0.11, 0.09], sh)
    sk.ellipse(BELLY, (-0.8, 0.08), 0.12, 0.05, 0.3, 0.9)  # tail
    neck = path((0.6, 0.0), rng.uniform(-0.6, 0.2), 0.45, n=8)
    sk.tube(BELLY, neck, np.linspace(0.12, 0.09, 8))
    sk.ellipse(BELLY, neck[-1] + (0.08, 0), 0.17, 0.12, rng.uniform(-0.3, 0.3))
    sk.eye(neck[-1] + (0.14, -0.03), 0.03)
    sk.add(ACCENT, smooth_closed([(-0.9, 0.12), (0.9, 0.12), (0.95, 0.02), (-0.95, 0.02)], 4))
    dome = [(math.cos(t) * 0.85, -math.sin(t) * _vary(rng, 0.55)) for t in np.linspace(0, np.pi, 14)]
    sk.add(BODY, np.array(dome + [(-0.85, 0.05), (0.85, 0.05)]))
    shell = jitter(rng, _pick(rng, [(0.35, 0.45, 0.2), (0.45, 0.32, 0.18), (0.3, 0.4, 0.3)]))
    skin = jitter(rng, (0.45, 0.55, 0.35) if not sea else (0.45, 0.5, 0.45))
    pts = np.array([(x, y) for x in np.linspace(-0.8, 0.8, 6) for y in (-0.42, -0.12)]) + rng.normal(0, 0.03, (12, 2))
    return _finish(rng, sk, {BODY: Material(np.array(shell) * 0.45, 0.1, "giraffe", shell, {"points": pts, "line": 0.05}),
                             BELLY: Material(skin, 0.1, "spots", np.array(skin) * 1.4 if sea else np.array(skin) * 0.6,
                                             {"points": _spots(rng, 50, (-1, -0.5), (1.3, 0.6)), "radius": 0.03}),
                             ACCENT: Material(jitter(rng, (0.85, 0.78, 0.5)), 0.06), **_eye_mats(rng)},
                   rng.uniform(-15, 15))


def lizard(rng):
    """Seen from above."""
    sk = Sketch()
    curl = rng.uniform(-1.0, 1.0)
    spine = path((1.0, 0.0), math.pi + rng.uniform(-0.3, 0.3), 2.6, curvature=rng.uniform(-0.4, 0.4), n=40,
                 bend=curl * 2.0)
    t = np.linspace(0, 1, 40)
    r = np.interp(t, [0, 0.06, 0.12, 0.2, 0.38, 0.48, 1.0], [0.04, 0.13, 0.09, 0.15, 0.14, 0.09, 0.01])
    for frac, side, fwd in ((0.18, 1, 1), (0.18, -1, 1), (0.42, 1, -1), (0.42, -1, -1)):
        i = int(frac * 39)
        p0 = spine[i]
        d = spine[i - 1] - spine[i + 1]
        d /= np.linalg.norm(d)
        n = np.array([-d[1], d[0]]) * side
        ph = rng.uniform(-0.5, 0.5)
        knee = p0 + n * 0.28 + d * (0.12 * fwd + ph * 0.2)
        foot = knee + d * 0.2 * fwd + n * 0.08
        sk.limb(BODY, [p0, knee, foot], [0.05, 0.04, 0.03])
        for k in range(5):
            a = math.atan2(*(d * fwd)[::-1]) + (k - 2) * 0.45
            toe = foot + 0.09 * np.array([math.cos(a), math.sin(a)])
            sk.tube(BODY, polyline(foot, toe), 0.012)
            sk.ellipse(BODY, toe, 0.02, 0.02, n=8)
    sk.tube(BODY, spine, r)
    h = spine[0] - spine[1]
    h /= np.linalg.norm(h)
    hn = np.array([-h[1], h[0]])
    sk.ellipse(BODY, spine[0] + h * 0.02, 0.17, 0.12, math.atan2(h[1], h[0]))
    for side in (-1, 1):
        sk.eye(spine[0] + hn * side * 0.1 - h * 0.02, 0.035, iris=(0.8, 0.6, 0.2))
    kind = _pick(rng, ["leopard", "green", "banded"])
    c1, c2, pat = {"leopard": ((0.95, 0.8, 0.35), (0.2, 0.15, 0.1), "spots"), "green": ((0.35, 0.7, 0.2), (0.9, 0.4, 0.2), "spots"),
                   "banded": ((0.55, 0.45, 0.3), (0.25, 0.18, 0.12), "stripes")}[kind]
    params = {"points": _spots(rng, 80, (-1.8, -1.2), (1.2, 1.2)), "radius": 0.035, "freq": 5, "width": 0.3,
              "angle": math.atan2(h[1], h[0]), "scales": 0.03}
    return Drawing(sk, {BODY: Material(jitter(rng, c1), 0.08, pat, c2, params), **_eye_mats(rng, (0.8, 0.6, 0.2))},
                   angle=math.radians(rng.uniform(-180, 180)), mirror=bool(rng.random() < 0.5), seed=float(rng.random()))


def frog(rng):
    sk = Sketch()
    jump = rng.random() < 0.35
    if jump:  # stretched out mid-leap
        sk.limb(BODY, [(-0.45, 0.15), (-1.0, 0.35), (-1.5, 0.45)], [0.14, 0.09, 0.06], 0.75)
        sk.ellipse(BODY, (-1.62, 0.48), 0.18, 0.07, 0.2, 0.75)
        body = smooth_closed([(0.75, -0.2), (0.3, -0.45), (-0.5, -0.3), (-0.6, 0.05), (0.0, 0.3), (0.6, 0.15)])
    else:
        sk.ellipse(BODY, (-0.1, 0.68), 0.45, 0.08, 0.0, 0.75)  # far foot
        body = smooth_closed([(0.8, -0.35), (0.4, -0.62), (-0.4, -0.35), (-0.65, 0.15), (-0.3, 0.5), (0.3, 0.45),
                              (0.75, 0.05)])
    sk.add(BODY, body)
    sk.add(BELLY, smooth_closed([(0.7, 0.05), (0.3, 0.4 if not jump else 0.25), (-0.3, 0.45 if not jump else 0.25),
                                 (-0.1, 0.2), (0.4, 0.1)], 5))
    if jump:
        sk.limb(BODY, [(-0.35, 0.15), (-0.95, 0.45), (-1.45, 0.6)], [0.15, 0.1, 0.06])
        sk.ellipse(BODY, (-1.58, 0.64), 0.2, 0.08, 0.3)
        sk.limb(BODY, [(0.45, 0.15), (0.85, 0.4)], [0.07, 0.05])
    else:
        sk.ellipse(BODY, (-0.35, 0.2), 0.4, 0.28, -0.5)  # thigh
        sk.limb(BODY, [(-0.6, 0.45), (-0.05, 0.55)], [0.12, 0.08])
        sk.ellipse(BODY, (0.05, 0.66), 0.38, 0.08, 0.05)  # foot
        sk.limb(BODY, [(0.45, 0.2), (0.55, 0.62)], [0.08, 0.06])
        sk.ellipse(BODY, (0.6, 0.66), 0.14, 0.05)
    sk.ellipse(BODY, (0.45, -0.55), 0.17, 0.15)
    sk.eye((0.47, -0.58), 0.11, iris=(0.9, 0.75, 0.2), pupil_shape=1.6)
    sk.tube(DARK, path((0.25, -0.1), 0.15, 0.55, n=8), 0.012, caps=False)
    kind = _pick(rng, ["green", "green", "dart", "brown"])
    c1, c2 = {"green": ((0.3, 0.7, 0.2), (0.1, 0.3, 0.05)), "dart": ((0.15, 0.4, 0.95), (0.02, 0.02, 0.05)),
              "brown": ((0.55, 0.45, 0.28), (0.3, 0.2, 0.1))}[kind]
    return _finish(rng, sk, {BODY: Material(jitter(rng, c1), 0.08, "spots", c2,
                                            {"points": _spots(rng, 30, (-1.6, -0.7), (0.9, 0.7)), "radius": 0.07}),
                             BELLY: Material(jitter(rng, (0.9, 0.9, 0.7)), 0.05), DARK: Material((0.1, 0.15, 0.05), 0.05),
                             **_eye_mats(rng, (0.9, 0.75, 0.2))}, rng.uniform(-25, 15))


def ladybug(rng):
    """Seen from above."""
    sk = Sketch()
    for side in (-1, 1):
        for k, y in enumerate((-0.35, 0.0, 0.35)):
            sk.limb(DARK, [(side * 0.3, y), (side * 0.75, y + (k - 1) * 0.25), (side * 0.95, y + (k - 1) * 0.45)],
                    [0.03, 0.025, 0.02])
        sk.tube(DARK, path((side * 0.1, -0.75), -math.pi / 2 + side * 0.5, 0.35, curvature=side * 1.0, n=8), 0.015)
    sk.ellipse(DARK, (0, -0.62), 0.33, 0.22)
    for side in (-1, 1):
        sk.ellipse(WHITE, (side * 0.17, -0.66), 0.08, 0.06, n=14)
    spread = rng.uniform(0, 0.15)
    for side in (-1, 1):
        pts = ellipse_pts(0, 0.15, 0.62, 0.75, 0, 60)
        half = pts[pts[:, 0] * side >= -0.001]
        sk.add(BODY, np.concatenate([[(0.0, -0.58)], half[np.argsort(np.arctan2(half[:, 1], half[:, 0] * side))],
                                     [(0.0, 0.9)]]) + (side * spread, 0))
    n_spots = int(rng.integers(2, 6))
    for side in (-1, 1):
        for k in range(n_spots):
            y = -0.35 + k * 1.05 / n_spots + 0.1
            x = 0.15 + 0.3 * ((k * 0.618) % 1)
            sk.ellipse(DARK, (side * (x + spread), y), 0.1, 0.1, n=16)
    red = jitter(rng, _pick(rng, [(0.9, 0.1, 0.08), (0.95, 0.45, 0.05), (0.95, 0.8, 0.1)]), 0.04)
    return Drawing(sk, {BODY: Material(red, 0.05), DARK: Material((0.06, 0.05, 0.05), 0.04),
                        WHITE: Material((0.96, 0.96, 0.94), 0.02)},
                   angle=math.radians(rng.uniform(-180, 180)), mirror=False, seed=float(rng.random()))


# ---------------------------------------------------------------- animal classes
CLASSES: dict[str, Callable] = {
    "cat": cat, "dog": dog, "horse": horse, "zebra": zebra, "giraffe": giraffe, "elephant": elephant,
    "tiger": tiger, "leopard": leopard, "cow": cow, "pig": pig, "fox": fox, "bear": bear, "deer": deer,
    "sheep": sheep, "rabbit": rabbit, "eagle": eagle, "parrot": parrot, "duck": duck, "gull": gull, "owl": owl,
    "penguin": penguin, "fish": fish, "shark": shark, "snake": snake, "butterfly": butterfly, "turtle": turtle,
    "lizard": lizard, "frog": frog, "ladybug": ladybug,
}


def draw_animal(name: str, instance: int, size: int = RENDER_SIZE) -> np.ndarray:
    """Instance ``instance`` of animal class ``name``: RGBA uint8 (h, w, 4) cut-out, straight alpha."""
    k = list(CLASSES).index(name)
    rng = np.random.Generator(np.random.Philox(np.random.SeedSequence([PACK_SEED, 1, k, instance])))
    return rasterize(CLASSES[name](rng), size)


# ---------------------------------------------------------------- landscapes
LANDSCAPES = ("alpine", "hills", "desert", "lake", "forest", "sunset", "savanna", "winter", "mesa", "beach")


def _fbm2d(rng, H, W, base=(3, 4), octaves=5, gain=0.5, stretch=1.0) -> np.ndarray:
    """Fractal noise (H, W) float32, roughly unit std: octaves of random grids, summed at the finest
    octave's grid size and upsampled once (bicubic)."""
    from PIL import Image

    gh, gw = base[0], max(1, int(base[1] * stretch))
    fh, fw = gh * 2 ** (octaves - 1), gw * 2 ** (octaves - 1)
    fh, fw = min(fh, H), min(fw, W)
    acc = np.zeros((fh, fw), np.float32)
    amp, total = 1.0, 0.0
    for _ in range(octaves):
        g = rng.standard_normal((gh + 3, gw + 3)).astype(np.float32)
        im = Image.fromarray(g, "F").resize((fw, fh), Image.BICUBIC, box=(1, 1, gw + 1, gh + 1))
        acc += np.float32(amp) * np.asarray(im)
        total += amp * amp
        amp *= gain
        gh, gw = gh * 2, gw * 2
    out = np.asarray(Image.fromarray(acc, "F").resize((W, H), Image.BICUBIC))
    return out * np.float32(1 / math.sqrt(total))


def _fbm1d(rng, W, base=4, octaves=6, gain=0.5, ridged=False) -> np.ndarray:
    out = np.zeros(W)
    amp, total = 1.0, 0.0
    n = base
    x = np.linspace(0, 1, W)
    for _ in range(octaves):
        g = rng.standard_normal(n + 1)
        xs = np.linspace(0, 1, n + 1)
        f = np.interp(x, xs, g)
        if ridged:
            f = 1 - np.abs(f)
        out += amp * f
        total += amp
        amp *= gain
        n *= 2
    return out / total


def _smooth1d(y, sigma):
    k = np.exp(-0.5 * (np.arange(-3 * sigma, 3 * sigma + 1) / sigma) ** 2)
    k /= k.sum()
    pad = len(k) // 2
    return np.convolve(np.pad(y, pad, mode="edge"), k, mode="valid")[: len(y)]


def _mix(a, b, t):
    """a + (b - a) * t in float32; ``t`` (H, W) or scalar."""
    t = np.asarray(t, np.float32)
    if t.ndim == 2:
        t = t[..., None]
    a = np.asarray(a, np.float32)
    return a + (np.asarray(b, np.float32) - a) * t


@lru_cache(maxsize=1)
def _photo_textures() -> dict:
    """Grayscale ground textures (float32, mean 0, unit std) from images bundled with scikit-image."""
    from skimage import data

    out = {}
    for name in ("grass", "gravel"):
        g = getattr(data, name)().astype(np.float32)
        out[name] = (g - g.mean()) / (g.std() + 1e-6)
    return out


def _photo(rng, name, h, w, scale=1.0) -> np.ndarray:
    """A random crop of a bundled photo texture covering ``scale`` times (h, w) photo pixels, resized to (h, w)."""
    from PIL import Image

    t = _photo_textures()[name]
    ch, cw = int(min(t.shape[0], h * scale)), int(min(t.shape[1], w * scale))
    y0, x0 = int(rng.integers(0, t.shape[0] - ch + 1)), int(rng.integers(0, t.shape[1] - cw + 1))
    crop = np.ascontiguousarray(t[y0: y0 + ch, x0: x0 + cw])
    return np.asarray(Image.fromarray(crop, "F").resize((w, h), Image.BILINEAR))


def _sky(rng, H, W, top, horizon, clouds=0.5, cloud_color=(1, 1, 1), sun=None, rows=None) -> np.ndarray:
    """Sky (H, W, 3) float32: a vertical gradient, an optional sun with glow, fractal clouds.

    Sun and clouds are drawn in the top ``rows`` rows only (the rest is hidden by the ground).
    """
    R = H if rows is None else int(np.clip(rows, 1, H))
    y = (np.arange(H, dtype=np.float32) / (H - 1))[:, None]
    t = np.clip(y / 0.75, 0, 1) ** 1.3
    sky = np.empty((H, W, 3), np.float32)
    sky[...] = _mix(np.asarray(top, np.float32)[None, None], horizon, t[:, :1])
    top_rows = sky[:R]
    if sun is not None:  # (x, y, radius, color)
        sx, sy, sr, scol = sun
        yy, xx = np.mgrid[0:R, 0:W].astype(np.float32)
        d = np.sqrt((xx - sx) ** 2 + (yy - sy) ** 2)
        glow = np.exp(-d / (sr * 4.0)) * 0.6
        top_rows = _mix(top_rows, scol, np.clip(glow, 0, 1))
        top_rows = _mix(top_rows, (1.0, 0.97, 0.85), _smoothstep((sr - d) / 1.5))
    if clouds > 0:
        n = _fbm2d(rng, R, W, base=(2, 2), octaves=5, stretch=2.0)
        thr = 1.0 - 1.6 * clouds
        c = _smoothstep((n - thr) / 0.8) * (1 - y[:R] * 0.8)
        shade = 0.82 + 0.18 * np.clip(_fbm2d(rng, R, W, base=(4, 4), octaves=3) * 0.5 + 0.5, 0, 1)
        top_rows = _mix(top_rows, np.asarray(cloud_color, np.float32)[None, None] * shade[..., None], c * 0.95)
    sky[:R] = top_rows
    return sky


def _fill_below(img, ridge, color, tex=None, haze=0.0, haze_color=None, shade_slope=0.0):
    """Paint ``color`` (optionally textured, hazed, lit) below the per-column height ``ridge`` (pixels from top).

    Returns the coverage (H, W) float32.
    """
    H, W = img.shape[:2]
    ridge = np.asarray(ridge, np.float32)
    r0 = int(np.clip(np.floor(ridge.min()), 0, H))
    cover = np.zeros((H, W), np.float32)
    if r0 >= H:
        return cover
    yy = np.arange(r0, H, dtype=np.float32)[:, None]
    cv = np.clip(yy - ridge[None, :] + 0.5, 0, 1)  # anti-aliased ridge line
    cover[r0:] = cv
    col = np.empty((H - r0, W, 3), np.float32)
    col[...] = np.asarray(color, np.float32)
    if shade_slope:  # rocky facets: lit by the x-slope of the ridge near the top, of 2-D noise below
        g = np.gradient(_smooth1d(ridge, 2.5)).astype(np.float32)
        fall = np.exp(-(yy - ridge[None, :]).clip(0) / np.float32(H * 0.08))
        lit = 1 + np.float32(shade_slope) * np.tanh(-g * 0.6)[None, :] * fall
        if tex is not None:
            t = tex[r0:]
            dx = np.zeros_like(t)
            dx[:, 1:] = t[:, 1:] - t[:, :-1]
            lit = lit + np.float32(shade_slope) * np.tanh(dx * 12) * (1 - fall)
        col *= lit[..., None]
    if tex is not None:
        col *= (1 + tex[r0:])[..., None]
    if haze:
        col = _mix(col, haze_color, haze)
    img[r0:] = _mix(img[r0:], col, cv)
    return cover


def _trees(img, rng, base_y, color, density, height, kind="pine"):
    """Tree silhouettes standing on the per-column line ``base_y``."""
    from PIL import Image, ImageDraw

    H, W = img.shape[:2]
    S = 2  # supersampled mask
    m = Image.new("L", (W * S, H * S), 0)
    dr = ImageDraw.Draw(m)
    n = int(W * density)
    xs = np.sort(rng.uniform(-5, W + 5, n))
    for x in xs:
        xi = int(np.clip(x, 0, W - 1))
        y = base_y[xi] + rng.uniform(0, 4)
        h = height * rng.uniform(0.6, 1.3)
        if kind == "pine":
            w = h * rng.uniform(0.2, 0.3)
            pts = []
            for k in range(4):  # tiers
                t0 = k / 4
                pts += [(x - w * (1 - t0 * 0.7), y - h * t0), (x - w * 0.3 * (1 - t0), y - h * (t0 + 0.15))]
            pts.append((x, y - h))
            pts += [(2 * x - px, py) for px, py in pts[::-1][1:]]
            dr.polygon([(px * S, py * S) for px, py in pts], fill=255)
        else:  # acacia: trunk and a flat crown
            dr.line([(x * S, y * S), (x * S, (y - h * 0.7) * S)], fill=255, width=max(2, int(h * 0.08 * S)))
            cw = h * rng.uniform(0.6, 0.9)
            dr.ellipse([((x - cw) * S), ((y - h * 0.95) * S), ((x + cw) * S), ((y - h * 0.7) * S)], fill=255)
    mask = np.asarray(m.resize((W, H), Image.BOX), np.float32) / 255.0
    tex = 1 + 0.15 * _fbm2d(rng, H, W, base=(24, 32), octaves=1)
    rows = np.flatnonzero(mask.any(1))
    if len(rows):
        r0, r1 = rows[0], rows[-1] + 1
        img[r0:r1] = _mix(img[r0:r1], np.asarray(color, np.float32)[None, None] * tex[r0:r1, :, None], mask[r0:r1])
    return mask


def landscape(kind: str, instance: int, H: int, W: int) -> np.ndarray:
    """Instance ``instance`` of a landscape kind (see :data:`LANDSCAPES`): RGB uint8 (H, W, 3).

    Drawn at half resolution and upsampled (bicubic): a landscape is smooth at
    this scale, and it is 4x cheaper (a soft background, as behind a subject in
    focus).
    """
    from PIL import Image

    h, w = max(16, (H + 1) // 2), max(16, (W + 1) // 2)
    small = _landscape(kind, instance, h, w)
    return np.asarray(Image.fromarray(small).resize((W, H), Image.BICUBIC))


def _landscape(kind: str, instance: int, H: int, W: int) -> np.ndarray:
    k = LANDSCAPES.index(kind)
    rng = np.random.Generator(np.random.Philox(np.random.SeedSequence([PACK_SEED, 2, k, instance])))
    j = lambda c, a=0.05: np.asarray(jitter(rng, c, a), np.float32)  # noqa: E731
    hz = H * rng.uniform(0.5, 0.68)  # horizon row
    X = np.arange(W)
    if kind in ("alpine", "winter", "lake"):
        top, hor = j((0.2, 0.42, 0.8)), j((0.75, 0.85, 0.95))
        if kind == "winter":
            top, hor = j((0.45, 0.55, 0.7)), j((0.82, 0.85, 0.9))
        img = _sky(rng, H, W, top, hor, clouds=rng.uniform(0.1, 0.6), rows=hz + 2)
        for layer, (hgt, haze, col) in enumerate(((0.45, 0.55, (0.35, 0.4, 0.55)), (0.32, 0.25, (0.4, 0.4, 0.45)),
                                                   (0.18, 0.0, (0.3, 0.38, 0.3)))):
            if kind == "lake" and layer == 2:
                break
            prof = _fbm1d(rng, W, base=int(rng.integers(2, 5)), ridged=True)
            ridge = hz - H * hgt * rng.uniform(0.7, 1.1) * (prof - prof.min()) / (np.ptp(prof) + 1e-9) - layer * 3
            tex = 0.12 * _fbm2d(rng, H, W, base=(6, 8), octaves=4)
            cov = _fill_below(img, ridge, j(col), tex, haze, hor, shade_slope=0.45)
            if layer < 2 or kind == "winter":  # snow caps above a wobbly snow line
                snow_y = ridge.min() + (hz - ridge.min()) * rng.uniform(0.3, 0.6) + 6 * _fbm2d(rng, H, W, (2, 8), 3)
                yy = np.arange(H)[:, None]
                sn = _smoothstep((snow_y - yy) / 3.0) * cov
                if kind == "winter":
                    sn = np.maximum(sn, cov * 0.85)
                img[...] = _mix(img, _mix(j((0.95, 0.96, 1.0), 0.02), hor, haze * 0.6) * (1 + tex * 0.5)[..., None], sn)
        if kind == "lake":
            shore = hz + rng.uniform(-4, 4) + 2 * _fbm1d(rng, W, 8, 3)
            _trees(img, rng, shore, j((0.12, 0.22, 0.12)), 0.6, H * 0.07)
            _fill_below(img, shore, j((0.12, 0.2, 0.12)))
            water_top = shore + 2
            refl = img[np.clip((2 * water_top[None, :] - np.arange(H)[:, None]).astype(int), 0, H - 1), X[None, :]]
            water = _mix(refl * 0.8, j((0.15, 0.3, 0.4)), 0.35)
            rip = _fbm2d(rng, H, W, base=(20, 3), octaves=3)
            water *= (1 + 0.08 * rip)[..., None]
            cov = np.clip(np.arange(H)[:, None] - water_top[None, :], 0, 1)
            img = _mix(img, water, cov)
        else:
            ground = hz + H * 0.05 + 4 * _fbm1d(rng, W, 3, 4)
            if kind == "winter":
                tex = 0.05 * _fbm2d(rng, H, W, (4, 6), 4)
                _trees(img, rng, ground - 1, j((0.1, 0.18, 0.14)), rng.uniform(0.05, 0.3), H * 0.09)
                _fill_below(img, ground, j((0.92, 0.94, 0.98), 0.02), tex)
            else:
                tex = 0.1 * _photo(rng, "grass", H, W, 4.0)
                _fill_below(img, ground, j((0.35, 0.55, 0.2)), tex)
    elif kind in ("hills", "forest"):
        img = _sky(rng, H, W, j((0.3, 0.52, 0.85)), j((0.8, 0.88, 0.95)), clouds=rng.uniform(0.3, 0.8), rows=hz + 2)
        n = 4
        for layer in range(n):
            t = layer / (n - 1)
            prof = _smooth1d(_fbm1d(rng, W, base=3, octaves=4), 6)
            ridge = hz - H * (0.22 - 0.12 * t) + H * 0.35 * t * 0.4 - H * 0.12 * prof
            col = _mix(np.asarray((0.42, 0.62, 0.28), np.float32), (0.22, 0.42, 0.15), t)
            tex = 0.1 * _fbm2d(rng, H, W, base=(4, 6), octaves=4)
            if layer == n - 1:
                tex = tex + 0.1 * _photo(rng, "grass", H, W, 4.0)
            if kind == "forest" and layer < n - 1:
                _trees(img, rng, ridge + 2, _mix(j((0.1, 0.25, 0.12)), (0.6, 0.7, 0.8), 0.5 * (1 - t)), 0.5, H * 0.08)
                col = _mix(j((0.1, 0.25, 0.12)), (0.6, 0.7, 0.8), 0.5 * (1 - t))
            _fill_below(img, ridge, j(tuple(col)), tex, 0.45 * (1 - t), (0.8, 0.88, 0.95), shade_slope=0.25)
    elif kind in ("desert", "mesa"):
        warm = kind == "desert"
        img = _sky(rng, H, W, j((0.3, 0.55, 0.85) if warm else (0.15, 0.35, 0.75)), j((0.95, 0.88, 0.75)),
                   clouds=rng.uniform(0.0, 0.3), rows=hz + 2)
        if kind == "mesa":
            for layer, haze in ((0, 0.5), (1, 0.15)):
                prof = _fbm1d(rng, W, base=3, octaves=5)
                plateau = np.clip((prof - np.quantile(prof, rng.uniform(0.3, 0.6))) * 8, 0, 1)
                plateau = _smooth1d(plateau, 1.5)
                ridge = hz - H * rng.uniform(0.15, 0.3) * plateau - 2 * layer
                tex = 0.1 * _fbm2d(rng, H, W, (40, 2), 3)  # horizontal strata
                _fill_below(img, ridge, j((0.72, 0.35, 0.2)), tex, haze, (0.95, 0.85, 0.75), shade_slope=0.5)
            ground = hz + 2 * _fbm1d(rng, W, 4, 3)
            _fill_below(img, ground, j((0.78, 0.5, 0.3)), 0.1 * _photo(rng, "gravel", H, W, 4.0))
        else:
            for layer in range(4):
                t = layer / 3
                prof = np.abs(np.sin(np.linspace(0, rng.uniform(2, 5), W) + rng.uniform(0, 6)
                                     + 0.8 * _fbm1d(rng, W, 2, 3)))
                prof = _smooth1d(prof, 2)
                ridge = hz - H * 0.08 + H * 0.12 * t - H * (0.1 - 0.04 * t) * prof
                yy = np.arange(H, dtype=np.float32)[:, None]
                rip = 0.05 * np.sin(yy * 1.3 + 6 * _fbm2d(rng, H, W, (3, 4), 3)) + 0.05 * _photo(rng, "gravel", H, W, 3.5)
                _fill_below(img, ridge, j(tuple(_mix(np.asarray((0.93, 0.78, 0.52), np.float32), (0.85, 0.62, 0.35), t))),
                            rip, 0.35 * (1 - t), (0.95, 0.88, 0.75), shade_slope=0.35)
    elif kind in ("sunset", "beach"):
        if kind == "sunset":
            sx, sy = W * rng.uniform(0.2, 0.8), hz - H * rng.uniform(0.03, 0.15)
            img = _sky(rng, H, W, j((0.3, 0.2, 0.45)), j((0.98, 0.6, 0.3)), clouds=rng.uniform(0.2, 0.6),
                       cloud_color=j((0.95, 0.55, 0.45)), sun=(sx, sy, H * 0.05, (1.0, 0.8, 0.4)), rows=hz + 2)
            sea_col = j((0.3, 0.2, 0.35))
        else:
            img = _sky(rng, H, W, j((0.15, 0.45, 0.9)), j((0.75, 0.9, 1.0)), clouds=rng.uniform(0.1, 0.5), rows=hz + 2)
            sea_col = j((0.1, 0.55, 0.65))
        if rng.random() < 0.6:  # distant island / headland
            prof = _smooth1d(_fbm1d(rng, W, 3, 5), 3)
            bump = np.exp(-((X - W * rng.uniform(0, 1)) / (W * rng.uniform(0.1, 0.3))) ** 2)
            _fill_below(img, hz - H * 0.12 * bump * (0.6 + 0.4 * prof), j((0.25, 0.3, 0.35)) if kind == "beach"
                        else j((0.2, 0.12, 0.2)), None, 0.4, img[int(hz)].mean(0))
        refl = img[np.clip((2 * hz - np.arange(H)), 0, H - 1).astype(int)]
        yy = np.arange(H, dtype=np.float32)[:, None]
        depth = np.clip((yy - hz) / (H - hz), 0, 1)
        water = _mix(_mix(refl, sea_col, 0.5), sea_col * 0.7, depth)
        rip = _fbm2d(rng, H, W, base=(30, 3), octaves=3)
        water *= (1 + 0.12 * rip)[..., None]
        if kind == "sunset":
            glit = _smoothstep((rip - 0.8) / 0.5) * np.exp(-((X[None, :] - sx) / (W * 0.08 * (1 + 3 * depth))) ** 2)
            water = _mix(water, (1.0, 0.85, 0.55), glit * 0.9)
        img = _mix(img, water, np.clip(yy - hz, 0, 1))
        if kind == "beach":
            shore = hz + H * rng.uniform(0.15, 0.3) + 4 * _fbm1d(rng, W, 3, 4)
            foam = np.clip(1 - np.abs(yy - shore[None, :] + 2) / 2.5, 0, 1)
            img = _mix(img, (0.95, 0.97, 0.97), foam * 0.9)
            _fill_below(img, shore + 1, j((0.92, 0.84, 0.65)), 0.1 * _photo(rng, "gravel", H, W, 3.0))
    elif kind == "savanna":
        img = _sky(rng, H, W, j((0.4, 0.6, 0.85)), j((0.95, 0.9, 0.78)), clouds=rng.uniform(0.1, 0.5), rows=hz + 2)
        prof = _smooth1d(_fbm1d(rng, W, 3, 5), 4)
        _fill_below(img, hz - H * 0.06 * (prof - prof.min()), j((0.55, 0.55, 0.55)), None, 0.5, (0.95, 0.9, 0.78))
        ground = hz + 2 * _fbm1d(rng, W, 4, 3)
        far = ground.copy()
        _trees(img, rng, far + 1, j((0.25, 0.28, 0.15)), rng.uniform(0.03, 0.08), H * 0.1, kind="acacia")
        tex = 0.12 * _photo(rng, "grass", H, W, 4.0)
        _fill_below(img, ground, j((0.82, 0.68, 0.35)), tex)
    else:
        raise ValueError(f"unknown landscape kind {kind!r}")
    return np.clip(np.rint(np.asarray(img) * 255), 0, 255).astype(np.uint8)
