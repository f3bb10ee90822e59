"""Offscreen rendering for the 3-D generators: pyrender through EGL on Mesa.

A generator says what a scene is; this module says how GL draws it.

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

import numpy as np

from scenebench.errors import ScenebenchError

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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
