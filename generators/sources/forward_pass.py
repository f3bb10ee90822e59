"""A lean copy of pyrender's forward pass, drawing a batch of views at once (:meth:`render.Stage.render_views`).

pyrender renders one view per call: it binds every program's lights and
uniforms per node, draws into its one framebuffer and reads it back before
the next view starts. :class:`ForwardPass` issues the passes of many views
(color, ``SEG``, the amodal "OR" pass) with the same shader programs,
uniform values, draw order and GL state, so the same pixels, but without
most of that per-view Python work: each job draws into its own framebuffer
(4x multisampled like pyrender's; single-sample for the OR pass, which draws
without multisampling and reads no depth), so Mesa's rasteriser threads work
on earlier views while Python issues the next ones; all read-backs happen at
the end (or when the framebuffers run out). Color views can be drawn side by
side in one wide framebuffer (``color_strips``), so that all of Mesa's
threads rasterise them at once; the offset moves a few edge samples (about 1
pixel in 50,000 differs from a view rendered alone).

It draws only what a :class:`render.Stage` holds: opaque, single-sided,
filled, untextured triangle meshes with metallic-roughness materials.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np


class ForwardPass:
    """Batched forward passes with one ``pyrender.OffscreenRenderer`` (per process: it holds GL objects)."""

    def __init__(self, pr, offscreen, color_strips: bool = True):
        self.pr = pr
        self.renderer = offscreen
        # color passes of several views side by side in one framebuffer (one Mesa scene, rasterised by all of
        # Mesa's threads at once: ~1.2x on one worker). Off: every pixel as pyrender's own render.
        self.color_strips = color_strips
        self.targets: dict = {}  # color_strips -> framebuffers of the batched passes, made on first use
        self.programs: dict = {}  # (primitive id, flags) -> (primitive, its shader program)
        self.locs: dict = {}  # program id -> its uniform locations
        self.node_cache: dict = {}  # (node id, primitive id) -> pose and material uniforms, per batch

    def begin(self, scene, flags):
        """Make the context current and upload ``scene`` (pyrender's ``_update_context``); returns pyrender's
        ``Renderer``, ready for a shadow-mapping pass before :meth:`run`."""
        rend = self.renderer
        rend._platform.make_current()
        r = rend._renderer
        r.viewport_width, r.viewport_height = rend.viewport_width, rend.viewport_height
        r._update_context(scene, flags)
        return r

    def run(self, scene, jobs, set_camera) -> None:
        """Draw ``jobs`` (view, flags, seg map or None, OR pass?, reader(view, rgb, depth)) and read them back.

        ``set_camera(view)`` points the scene's main camera at a view. Call :meth:`begin` first.
        """
        from OpenGL import GL

        pr = self.pr
        rend = self.renderer
        r = rend._renderer
        targets = self._framebuffers()
        pending = []
        lit = set()
        self.node_cache = {}
        W = rend.viewport_width
        n_seg = n_color = 0
        try:
            for v, flags, seg_map, or_pass, reader in jobs:
                color = not flags & pr.RenderFlags.SEG
                if (n_color == targets.per * len(targets.strips)) if color else (n_seg == len(targets.fbs)):
                    self._read(scene, targets, pending)
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
                set_camera(v)
                self._draw(scene, fb, flags | pr.RenderFlags.OFFSCREEN, seg_map, or_pass, lit, x)
                pending.append((slot, v, flags, or_pass, reader, strip, x))
            self._read(scene, targets, pending)
        finally:
            GL.glDisable(GL.GL_COLOR_LOGIC_OP)
            GL.glUseProgram(0)
            GL.glBindVertexArray(0)
            GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)
            r._reset_active_textures()

    def _draw(self, scene, fb, flags, seg_map, or_pass, lit, x: int = 0) -> None:
        """One forward pass into framebuffer ``fb``: pyrender's ``Renderer._forward_pass``, less its read-back.

        The same programs, uniform values (converted to float32 as pyrender's
        ``set_uniform`` does), draw order and GL state; but uniform locations
        are cached, GL is called without PyOpenGL's wrappers, the camera
        uniforms are set once per program and pass (pyrender: once per node)
        and the per-draw state of ``_bind_and_draw_primitive`` (the same for
        every opaque, single-sided, filled, untextured triangle mesh, all a
        stage draws) once per pass.
        """
        import ctypes

        from OpenGL import GL
        from OpenGL.raw.GL.VERSION import GL_2_0 as G2

        pr = self.pr
        r = self.renderer._renderer
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
                        raise RuntimeError(f"render: cannot batch-draw primitive of {node.name}")
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

    def _read(self, scene, targets, pending) -> None:
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
            self._read_one(scene, v, seg, reader, x)

    def _read_one(self, scene, v, seg, reader, x: int = 0) -> None:
        from OpenGL import GL

        r = self.renderer._renderer
        width, height = r.viewport_width, r.viewport_height
        depth_im = None
        if seg:
            depth_buf = GL.glReadPixels(0, 0, width, height, GL.GL_DEPTH_COMPONENT, GL.GL_FLOAT)
            depth_im = np.frombuffer(depth_buf, dtype=np.float32).reshape((height, width))[::-1]
            inf_inds = depth_im == 1.0
            depth_im = 2.0 * depth_im - 1.0
            cam = scene.main_camera_node.camera
            z_near, z_far = cam.znear, cam.zfar
            noninf = np.logical_not(inf_inds)
            depth_im[noninf] = (2.0 * z_near * z_far) / (z_far + z_near - depth_im[noninf] * (z_far - z_near))
            depth_im[inf_inds] = 0.0
        color_buf = GL.glReadPixels(x, 0, width, height, GL.GL_RGB, GL.GL_UNSIGNED_BYTE)
        color_im = np.frombuffer(color_buf, dtype=np.uint8).reshape((height, width, 3))[::-1]
        reader(v, color_im, depth_im)

    def _framebuffers(self) -> SimpleNamespace:
        """The batch's multisampled framebuffers (like pyrender's main one), one resolve framebuffer each, the
        OR pass's single-sample ones and the color strips (one view wide without ``color_strips``)."""
        targets = self.targets.get(self.color_strips)
        if targets is None:
            from OpenGL import GL

            r = self.renderer._renderer
            w, h = r.viewport_width, r.viewport_height
            n = int(max(2, min(64, (256 << 20) // (w * h * 6 * 8))))  # at most ~256 MB
            # color passes: strips of `per` views side by side (4x samples + resolve: 40 bytes a pixel)
            per = int(max(1, min(16, 4096 // w, (32 << 20) // (w * h * 40)))) if self.color_strips else 1
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
            targets = self.targets[self.color_strips] = SimpleNamespace(
                fbs=[framebuffer(4) for _ in range(n)], resolve=[framebuffer(0) for _ in range(n)],
                flat=[framebuffer(0) for _ in range(n)], per=per,
                strips=[(framebuffer(4, per * w), framebuffer(0, per * w)) for _ in range(n_strips)])
        return targets


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

