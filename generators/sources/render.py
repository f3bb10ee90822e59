"""Offscreen rendering for the 3-D generators: pyrender through EGL on Mesa.

A generator says what a scene is (meshes, materials, poses, lights,
cameras); this module says how GL draws it:

- :class:`Stage`: rigid objects (shapes of a library, metallic-roughness
  materials) on a ground, a directional key light (optionally
  shadow-mapped), point lights and a pinhole camera, for one viewport. Its
  passes: color (4x MSAA, PBR shading), segmentation (``RenderFlags.SEG``:
  exact ids, no anti-aliasing, the front-most surface wins, with depth) and
  amodal masks, all views of a scene in one batch (:meth:`Stage.render_views`,
  drawn by :mod:`forward_pass`) or one view at a time (pyrender's own
  render calls, the reference the batch is tested against). The amodal masks
  of all objects come from one "OR" pass: the ``SEG`` pass drawn with depth
  testing off and the framebuffer's logic op set to OR, object k colored
  with bit k, so each pixel ends up holding the set of objects whose
  silhouettes cover it (hence at most :data:`MAX_AMODAL_OBJECTS` objects).
- :class:`DeformableMesh`: one mesh of fixed topology drawn with new
  vertex positions each frame (its vertex buffer rewritten in place), shaded
  per vertex, to a gray image and a silhouette.
- :func:`per_process`: the one cache of state created lazily per process;
  :func:`renderer`: this process's offscreen renderer of a size;
  :func:`pyrender`: the module, imported on first use.

pyrender is imported here, and only when a 3-D generator first renders, so
``scenebench list`` and the 2-D generators never pay for (or depend on) GL.

Rules this module enforces once for every 3-D family:

- ``PYOPENGL_PLATFORM`` defaults to ``egl`` (Mesa's CPU rasterizer, no
  display). A user may still set it (e.g. ``osmesa``) before running.
- numpy 2 removed ``np.infty``, which pyrender still uses: it is aliased
  before pyrender is imported.
- A GL context opened before ``fork`` hangs the children, so renderers
  (and everything holding GL objects) are created lazily, per process
  (keyed by pid: :func:`per_process`), never in ``prepare``.
- When no context can be created, the error is one line naming the Debian
  packages that provide EGL on Mesa.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np

from scenebench.errors import ScenebenchError

from . import forward_pass, scene3d

GL_PACKAGES = "libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri"


class RenderError(ScenebenchError):
    """No OpenGL platform could be created (missing libraries or driver)."""


# ---------------------------------------------------------------- context
_PER_PROCESS: dict = {}  # (pid, key) -> value


def per_process(key, make):
    """This process's value for ``key``, made by ``make()`` on first use.

    Values made in a parent process (inherited through ``fork``) are dropped,
    never returned: their GL objects belong to the parent's context.
    """
    pid = os.getpid()
    value = _PER_PROCESS.get((pid, key))
    if value is None:
        for stale in [k for k in _PER_PROCESS if k[0] != pid]:
            del _PER_PROCESS[stale]
        value = _PER_PROCESS[(pid, key)] = make()
    return value


def pyrender():
    """Import and return the ``pyrender`` module, set up for offscreen EGL."""
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    if not hasattr(np, "infty"):
        np.infty = np.inf  # removed in numpy 2; pyrender still refers to it
    try:
        import pyrender as _pyrender
    except ImportError as exc:  # pyrender missing, or PyOpenGL cannot load libEGL
        raise RenderError(
            f"cannot import pyrender for offscreen rendering ({_first_line(exc)}); "
            f"expected `pip install pyrender` and the OpenGL libraries "
            f"(Debian: apt-get install {GL_PACKAGES})"
        ) from None
    return _pyrender


def renderer(width: int, height: int):
    """This process's ``pyrender.OffscreenRenderer`` of the given size (created on first use)."""
    return per_process(("offscreen", int(width), int(height)), lambda: _offscreen(int(width), int(height)))


def _offscreen(width: int, height: int):
    pr = pyrender()
    try:
        return pr.OffscreenRenderer(viewport_width=width, viewport_height=height)
    except Exception as exc:  # EGL/OSMesa errors surface as many exception types
        platform = os.environ.get("PYOPENGL_PLATFORM", "egl")
        raise RenderError(
            f"cannot create an offscreen OpenGL context with PYOPENGL_PLATFORM={platform} "
            f"({_first_line(exc)}); expected EGL on Mesa "
            f"(Debian: apt-get install {GL_PACKAGES})"
        ) from None


def stack_versions() -> dict:
    """The installed versions of the rendering stack's Python packages (the pixels depend on them)."""
    from importlib.metadata import version

    return {"pyrender": version("pyrender"), "trimesh": version("trimesh")}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


# ---------------------------------------------------------------- stage: rigid objects on a ground
MAX_AMODAL_OBJECTS = 24  # the OR pass stores one bit per object in the 3 x 8 bits of an RGB pixel
_SLOTS = np.arange(MAX_AMODAL_OBJECTS)


class Stage:
    """One pyrender scene for a fixed viewport: a ground, lights, a camera and the current objects.

    Build it once per process (:func:`per_process`): the constructor, then
    :meth:`add_ground`, :meth:`add_key_light` and :meth:`add_point_light`.
    Per scene, :meth:`set_key_light` and :meth:`set_objects`; then
    :meth:`render_views` draws every view's passes in one batch (the single-view
    ``render_*`` methods are pyrender's own render calls, the reference it is
    tested against).

    Objects are shapes of a library (``shape_mesh(name)``: a ``trimesh``
    mesh, drawn with smooth normals and a metallic-roughness material); their
    nodes are cached per (slot, shape): a new scene changes poses and
    material factors and swaps which nodes are in the scene, and a mesh is
    uploaded to GL once per (slot, shape) and process. With ``color_strips``
    (the default) a batch draws its color views side by side in one
    framebuffer (see :mod:`forward_pass`).
    """

    def __init__(self, width: int, height: int, shape_mesh, *, background=(0.3, 0.3, 0.3), ambient: float = 0.0,
                 znear: float = 0.5, zfar: float = 400.0, color_strips: bool = True):
        pr = pyrender()
        self.pr = pr
        self.renderer = renderer(width, height)
        self.hooks = _hooks(self.renderer._renderer)
        self.forward = forward_pass.ForwardPass(pr, self.renderer, color_strips)
        self.shape_mesh = shape_mesh
        self.flags_color = pr.RenderFlags.NONE
        self.scene = _shadow_scene_class(pr)(bg_color=list(background) + [1.0], ambient_light=[ambient] * 3)
        self.camera = self.scene.add(_camera(pr, np.eye(3), znear, zfar), name="camera")  # K set per view
        self.ground = self.key = None
        self.no_cast: tuple = ()  # meshes that receive shadows but cast none
        self.nodes: dict = {}
        self.current: list = []  # object nodes of the current scene, by slot
        self.cameras = None  # (world-to-camera (V, 4, 4), intrinsics (3, 3)) of the last batch of views
        self.state = None
        self.shadow_stale = True
        self.seg_map: dict = {}
        self.or_map: dict = {}

    @property
    def color_strips(self) -> bool:
        return self.forward.color_strips

    @color_strips.setter
    def color_strips(self, on: bool) -> None:
        self.forward.color_strips = bool(on)

    # -- fixed content
    def add_ground(self, rgb, roughness: float, metallic: float = 0.0, size: float = 600.0) -> None:
        """A ground plane z = 0 (the top of a ``size`` x ``size`` slab, linear base color ``rgb`` 0-255): it
        receives shadows but casts none, and is background (id 0) in segmentation."""
        import trimesh

        pr = self.pr
        ground = trimesh.creation.box(extents=[size, size, 1.0])
        ground.apply_translation([0.0, 0.0, -0.5])
        ground_mat = _material(pr, rgb, metallic, roughness)
        self.ground = self.scene.add(pr.Mesh.from_trimesh(ground, material=ground_mat, smooth=False), name="ground")
        self.no_cast = (self.ground.mesh,)

    def add_key_light(self, intensity: float, shadow_map_size: int | None = None,
                      shadow_area=((0.0, 0.0, 0.0), 1.0)) -> None:
        """A white directional light (aimed by :meth:`set_key_light`), shadow-mapped when ``shadow_map_size``
        is given; ``shadow_area`` = (centre, radius) of the region the shadow map covers (the objects' reach,
        not the whole ground)."""
        pr = self.pr
        self.scene.shadow_centroid = np.asarray(shadow_area[0], np.float64)
        self.scene.shadow_scale = float(shadow_area[1])
        key = pr.DirectionalLight(color=np.ones(3), intensity=intensity)
        if shadow_map_size:
            from OpenGL.GL import GL_FLOAT

            clamp = pr.constants.GLTF.CLAMP_TO_EDGE
            # clamped: ground outside the map's square reads "no occluder" instead of a wrapped copy of the map
            key.shadow_texture = pr.Texture(width=shadow_map_size, height=shadow_map_size, source_channels="D",
                                            data_format=GL_FLOAT, sampler=pr.Sampler(wrapS=clamp, wrapT=clamp))
            self.flags_color = pr.RenderFlags.SHADOWS_DIRECTIONAL
        self.key = self.scene.add(key, name="key")

    def add_point_light(self, position, intensity: float) -> None:
        """A white point light at ``position`` (falls off with distance squared)."""
        pr = self.pr
        self.scene.add(pr.PointLight(color=np.ones(3), intensity=intensity), name="point", pose=_translation(position))

    # -- scene content
    def set_key_light(self, direction) -> None:
        """Point the key light along -``direction`` (``direction`` points from the scene to the light)."""
        d = np.asarray(direction, np.float64)
        pose = np.linalg.inv(scene3d.look_at(d * 10.0, np.zeros(3), up=(0.0, 0.0, 1.0)))  # OpenCV camera-to-world
        pose = pose @ np.diag([1.0, -1.0, -1.0, 1.0])  # pyrender lights shine along their local -z
        self.scene.set_pose(self.key, pose)
        self.shadow_stale = True

    def set_objects(self, shapes, rgb, metallic, roughness, poses) -> None:
        """The current objects, slot k = ``shapes[k]`` (a name for ``shape_mesh``) with linear base color
        ``rgb[k]`` (0-255), ``metallic[k]``, ``roughness[k]`` and object-to-world pose ``poses[k]`` (4, 4).
        The same objects again change nothing (the shadow map stays current)."""
        if len(shapes) > MAX_AMODAL_OBJECTS:
            raise ValueError(f"render: at most {MAX_AMODAL_OBJECTS} objects, got {len(shapes)}")
        state = (tuple(shapes), tuple(tuple(c) for c in rgb), tuple(metallic), tuple(roughness),
                 np.asarray(poses, np.float64).tobytes())
        if state == self.state:
            return
        self.state = state
        for node in self.current:
            self.scene.remove_node(node)
        self.current = []
        for k, name in enumerate(shapes):
            node = self._node(k, name)
            mat = node.mesh.primitives[0].material
            mat.baseColorFactor = _rgba(rgb[k])
            mat.metallicFactor = metallic[k]
            mat.roughnessFactor = roughness[k]
            self.scene.add_node(node)
            self.scene.set_pose(node, np.array(poses[k], np.float64))
            self.current.append(node)
        self.seg_map = {node: (k + 1,) * 3 for k, node in enumerate(self.current)}
        if self.ground is not None:
            self.seg_map[self.ground] = (0, 0, 0)
        self.or_map = {node: _bit_color(k) for k, node in enumerate(self.current)}
        self.shadow_stale = True

    def _node(self, slot: int, name: str):
        node = self.nodes.get((slot, name))
        if node is None:
            pr = self.pr
            mesh = pr.Mesh.from_trimesh(self.shape_mesh(name), material=_material(pr), smooth=True)
            node = self.nodes[(slot, name)] = pr.Node(name=f"{slot}:{name}", mesh=mesh)
        return node

    def _set_camera(self, w2c, K) -> None:
        cam = self.camera.camera
        cam.fx, cam.fy, cam.cx, cam.cy = float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2])
        self.scene.set_pose(self.camera, scene3d.gl_pose(w2c))

    # -- batched passes: every view at once, exact copies of the single-view passes below
    def render_views(self, world_to_camera, K, *, image=None, segmentation=None, depth=None, masks=None) -> None:
        """Every view's passes in one batch, for cameras ``world_to_camera`` (V, 4, 4) (OpenCV convention,
        :mod:`scene3d`) sharing intrinsics ``K`` (3, 3); fills the arrays given:

        - ``image`` (V, H, W, 3) uint8: the color pass (the shadow map is redrawn first when stale);
        - ``segmentation`` (V, H, W) uint8: the ``SEG`` pass's visible ids (0 ground or background, k+1
          object k; exact, no anti-aliasing, the front-most surface wins), and ``depth`` (V, H, W) float32 of
          the same pass: camera-frame z at pixel centres, 0 where no surface is hit;
        - ``masks`` (V, >= n, H, W) bool: slot k gets object k's amodal silhouette (occluders ignored), all
          from one OR pass per view that rasterises exactly the triangles of the ``SEG`` pass.
        """
        pr = self.pr
        n = len(self.current)
        self.cameras = (world_to_camera, K)

        def read_color(v, color, dep):
            image[v] = color

        def read_seg(v, color, dep):
            if segmentation is not None:
                segmentation[v] = color[..., 0]
            if depth is not None:
                depth[v] = dep

        def read_or(v, color, dep):
            masks[v, :n] = _amodal(color, n)

        jobs = []
        if image is not None:  # first: the longest to rasterise
            jobs += [(v, self.flags_color, None, False, read_color) for v in range(len(world_to_camera))]
        for v in range(len(world_to_camera)):
            if segmentation is not None or depth is not None:
                jobs.append((v, pr.RenderFlags.SEG, self.seg_map, False, read_seg))
            if masks is not None:
                jobs.append((v, pr.RenderFlags.SEG, self.or_map, True, read_or))
        self._batch(world_to_camera, K, jobs)

    def _batch(self, w2c, K, jobs) -> None:
        """Draw ``jobs`` (see :meth:`forward_pass.ForwardPass.run`); the shadow map first when stale and a
        job is a color pass."""
        pr = self.pr
        flags0 = self.flags_color | pr.RenderFlags.OFFSCREEN
        r = self.forward.begin(self.scene, flags0)
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
        self.forward.run(self.scene, jobs, lambda v: self._set_camera(w2c[v], K))

    # -- single-view passes (pyrender's render calls)
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
        """Amodal masks (n, H, W) bool of one view from its OR pass: object k's silhouette, occluders ignored."""
        from OpenGL import GL

        self._set_camera(w2c, K)
        self.hooks.or_pass = True
        try:
            color, _ = self.renderer.render(self.scene, self.pr.RenderFlags.SEG, self.or_map)
        finally:
            self.hooks.or_pass = False
            GL.glDisable(GL.GL_COLOR_LOGIC_OP)
        return _amodal(color, len(self.current)).astype(bool)

    def render_object(self, k: int, w2c, K) -> tuple[np.ndarray, np.ndarray]:
        """Object k rendered alone by a ``SEG`` pass: silhouette (H, W) bool and its depth (H, W) float32.

        The slow reference (one pass per object) for the OR pass's amodal masks.
        """
        self._set_camera(w2c, K)
        color, depth = self.renderer.render(self.scene, self.pr.RenderFlags.SEG, {self.current[k]: (255, 255, 255)})
        return color[..., 0] > 0, depth


def _bit_color(k: int) -> tuple[int, int, int]:
    """Object k's color in the OR pass: bit k of the pixel's 24 (R: bits 0-7, G: 8-15, B: 16-23)."""
    rgb = [0, 0, 0]
    rgb[k // 8] = 1 << (k % 8)
    return tuple(rgb)


def _amodal(color: np.ndarray, n: int) -> np.ndarray:
    """(n, H, W) int64 0/1 of an OR pass's (H, W, 3) uint8 pixels: 1 where object k's bit is set."""
    c = color.astype(np.int64)
    bits = c[..., 0] | (c[..., 1] << 8) | (c[..., 2] << 16)
    return (bits[None] >> _SLOTS[:n, None, None]) & 1


def _camera(pr, K, znear: float, zfar: float):
    """A pyrender pinhole camera of intrinsics ``K`` (3, 3), pixels."""
    return pr.IntrinsicsCamera(fx=float(K[0, 0]), fy=float(K[1, 1]), cx=float(K[0, 2]), cy=float(K[1, 2]),
                               znear=znear, zfar=zfar)


def _material(pr, rgb=(255, 255, 255), metallic: float = 0.0, roughness: float = 1.0):
    """An opaque metallic-roughness material of linear base color ``rgb`` (0-255)."""
    return pr.MetallicRoughnessMaterial(baseColorFactor=_rgba(rgb), metallicFactor=metallic,
                                        roughnessFactor=roughness)


def _rgba(rgb) -> list:
    return [v / 255.0 for v in rgb] + [1.0]


def _translation(t) -> np.ndarray:
    T = np.eye(4)
    T[:3, 3] = t
    return T


def _hooks(renderer):
    """Install (once) the switches a :class:`Stage` needs on a pyrender ``Renderer`` and return their state.

    All are off at rest, when the renderer behaves exactly as pyrender's (so
    another generator sharing this process's renderer is unaffected); a
    :class:`Stage` turns them on around its own render calls only.

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
    state = getattr(renderer, "_scenebench_stage", None)
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
    renderer._scenebench_stage = state
    return state


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


# ---------------------------------------------------------------- a deformable mesh, shaded per vertex
class DeformableMesh:
    """One triangle mesh of fixed topology, alone in its scene, drawn with new vertex positions each frame.

    Shading is per vertex (Lambert: ``ambient`` + (1 - ``ambient``) max(0,
    n . l) for a directional light ``light_direction``, n the normalised sum
    of the area-weighted normals of the vertex's faces), interpolated across
    triangles and not lit again by GL (``RenderFlags.FLAT``), on black, with
    pyrender's 4x multisampling. The camera: pinhole ``K`` at
    ``camera_position``, looking along -z with y up. One pyrender mesh is
    reused: each frame rewrites its vertex buffer (positions and shades) in
    place. The silhouette (``mask``) is ``depth``: the pixels where the same
    pass's resolved depth buffer hits the mesh (Mesa resolves a multisampled
    depth pixel to one of its samples, so the mask is binary and may differ
    from pixel-centre coverage by one pixel along part of the outline), or
    ``seg``: a separate segmentation pass without multisampling, exact
    pixel-centre coverage, slower. Per process (it holds GL objects).
    """

    def __init__(self, faces, num_vertices: int, width: int, height: int, *, K, camera_position, znear: float,
                 zfar: float, light_direction, ambient: float, mask: str = "depth"):
        import scipy.sparse as sp

        if mask not in ("depth", "seg"):
            raise ValueError(f"mask must be 'depth' or 'seg', got {mask!r}")
        self.faces = np.ascontiguousarray(np.asarray(faces, np.int64))
        V = int(num_vertices)
        F = len(self.faces)
        rows = self.faces.ravel()
        cols = np.repeat(np.arange(F), 3)
        self.incidence = sp.csr_matrix((np.ones(3 * F), (rows, cols)), shape=(V, F))  # vertex normals = sum
        self.f0, self.f1, self.f2 = (np.ascontiguousarray(self.faces[:, k]) for k in range(3))
        light = np.asarray(light_direction, np.float64)
        self.light = light / np.linalg.norm(light)
        self.ambient = float(ambient)
        pr = pyrender()
        self.pr = pr
        self.renderer = renderer(width, height)
        self.scene = pr.Scene(bg_color=[0.0, 0.0, 0.0, 1.0], ambient_light=[0.0, 0.0, 0.0])
        self.scene.add(_camera(pr, K, znear, zfar), pose=_translation(camera_position))
        material = _material(pr)
        # one mesh for every frame: its vertex buffer (x, y, z, r, g, b, a per vertex, float32) is rewritten
        self.vertex_data = np.ones((V, 7), np.float32)
        self.prim = pr.Primitive(positions=self.vertex_data[:, :3], color_0=self.vertex_data[:, 3:],
                                 indices=self.faces.astype(np.uint32), material=material)
        self.node = self.scene.add(pr.Mesh([self.prim]))
        self.flat = pr.RenderFlags.FLAT
        self.seg = pr.RenderFlags.SEG if mask == "seg" else None

    def shade(self, verts: np.ndarray) -> np.ndarray:
        """(V,) Lambert gray level of each vertex: ambient + (1 - ambient) max(0, n . l)."""
        v = verts
        a = v[self.f0]
        fn = np.cross(v[self.f1] - a, v[self.f2] - a)  # area-weighted face normals
        vn = self.incidence @ fn
        vn /= np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-12)
        return self.ambient + (1.0 - self.ambient) * np.clip(vn @ self.light, 0.0, 1.0)

    def _upload(self, verts: np.ndarray) -> None:
        """Write the vertices and their shades into the mesh's vertex buffer."""
        data = self.vertex_data
        data[:, :3] = verts
        data[:, 3:6] = self.shade(verts)[:, None]
        prim = self.prim
        if prim._vaid is None:  # not in the GL context yet (first render, or dropped by another scene)
            prim.positions, prim.color_0 = data[:, :3], data[:, 3:]
            return
        from OpenGL.GL import GL_ARRAY_BUFFER, glBindBuffer, glBufferSubData

        self.renderer._platform.make_current()
        glBindBuffer(GL_ARRAY_BUFFER, prim._buffers[0])
        glBufferSubData(GL_ARRAY_BUFFER, 0, data.nbytes, data)
        glBindBuffer(GL_ARRAY_BUFFER, 0)

    def render(self, verts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(image (H, W) uint8, silhouette (H, W) uint8 0/1) of the mesh with vertices ``verts`` (V, 3)."""
        self._upload(verts)
        color, hit = self.renderer.render(self.scene, flags=self.flat)  # hit: depth, 0 = background
        if self.seg is not None:
            seg, _ = self.renderer.render(self.scene, flags=self.seg, seg_node_map={self.node: (255, 255, 255)})
            hit = seg[:, :, 0]
        return color[:, :, 0], (hit > 0).astype(np.uint8)
