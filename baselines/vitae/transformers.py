"""Spatial transformers of VITAE: affine, decomposed affine, diffeomorphic affine and CPAB.

Every transformer maps parameters ``theta`` ``(B, dim)`` to a warp and is the
identity at ``theta = 0``. Convention (that of ``F.affine_grid``): the warped
image samples the input at the transformed output coordinates,
``out(p) = in(T_theta(p))``, with ``p`` in normalised coordinates, ``x`` along
the width and ``y`` along the height, both in [-1, 1]. ``inverse=True`` warps
with ``T_theta^-1`` (exactly, for every transformer here: the authors' code
got the affine and decomposed-affine inverses wrong).

* ``affine`` (6): ``[A | b] = [I | 0] + theta`` read as a row-major 2x3 matrix.
* ``affine-decomposed`` (6): ``theta = (alpha, m, log s_x, log s_y, t_x, t_y)``,
  ``A = R(alpha) Sh(m) diag(s_x, s_y)`` with ``R = [[cos, -sin], [sin, cos]]``,
  ``Sh = [[1, m], [0, 1]]``, ``b = (t_x, t_y)``. The scales are taken as
  exponentials so that 0 is the identity and ``A`` is never singular (assumed).
* ``affine-diffeo`` (6): ``[A | b]`` = the top two rows of
  ``expm([[theta as 2x3], [0, 0, 0]])`` (``torch.linalg.matrix_exp``); the
  inverse is ``expm(-.)``.
* ``cpab``: continuous piecewise-affine velocity fields integrated by the
  ``libcpab`` package (PyPI ``libcpab``, class ``Cpab``; tessellation
  ``(2, 4)``, zero normal velocity on the boundary, no volume preservation:
  30 parameters); the inverse integrates ``-theta``. libcpab's domain is
  [0, 1]^2 with its first coordinate along the image height; images are
  sampled as libcpab's ``transform_data`` does (bilinear, clamped to the
  border).

Affine warps sample bilinearly with zero padding and ``align_corners=False``.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn

from scenebench.errors import ScenebenchError


class TransformerUnavailable(ScenebenchError):
    """A spatial transformer whose library cannot be used here (e.g. libcpab missing or broken)."""


class AffineFamily(nn.Module):
    """Base of the transformers that are affine maps of the normalised coordinates."""

    dim = 6

    def affine(self, theta: torch.Tensor) -> torch.Tensor:
        """``(B, 3, 3)`` homogeneous matrix of ``T_theta``."""
        raise NotImplementedError

    def inverse_affine(self, theta: torch.Tensor) -> torch.Tensor:
        return torch.linalg.inv(self.affine(theta))

    def matrix(self, theta: torch.Tensor, inverse: bool = False) -> torch.Tensor:
        """``(B, 2, 3)`` ``[A | b]`` of ``T_theta`` (or of its inverse)."""
        m = self.inverse_affine(theta) if inverse else self.affine(theta)
        return m[:, :2]

    def transform_points(self, points: torch.Tensor, theta: torch.Tensor, inverse: bool = False) -> torch.Tensor:
        """``T_theta(points)``: points ``(B, N, 2)`` (x, y) in [-1, 1] coordinates."""
        m = self.matrix(theta, inverse).to(points.dtype)
        return points @ m[:, :, :2].transpose(1, 2) + m[:, None, :, 2]

    def forward(self, images: torch.Tensor, theta: torch.Tensor, inverse: bool = False) -> torch.Tensor:
        """``images`` ``(B, C, H, W)`` warped by ``T_theta`` (``out(p) = in(T_theta(p))``)."""
        m = self.matrix(theta, inverse).to(images.dtype)
        grid = F.affine_grid(m, list(images.shape), align_corners=False)
        return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _pad(m23: torch.Tensor) -> torch.Tensor:
    bottom = torch.zeros(m23.shape[0], 1, 3, dtype=m23.dtype, device=m23.device)
    return torch.cat([m23, bottom], 1)


def _homogeneous(m23: torch.Tensor) -> torch.Tensor:
    m = _pad(m23)
    m[:, 2, 2] = 1.0
    return m


class Affine(AffineFamily):
    """``[A | b] = [I | 0] + theta.view(2, 3)``."""

    def affine(self, theta):
        eye = torch.eye(2, 3, dtype=theta.dtype, device=theta.device)
        return _homogeneous(eye + theta.view(-1, 2, 3))


def decomposed_matrix(alpha, shear, sx, sy, tx, ty) -> torch.Tensor:
    """``(B, 2, 3)``: ``[R(alpha) Sh(shear) diag(sx, sy) | (tx, ty)]`` from ``(B,)`` tensors."""
    c, s = torch.cos(alpha), torch.sin(alpha)
    # R Sh = [[c, c m - s], [s, s m + c]], times diag(sx, sy) column-wise
    row0 = torch.stack([c * sx, (c * shear - s) * sy, tx], -1)
    row1 = torch.stack([s * sx, (s * shear + c) * sy, ty], -1)
    return torch.stack([row0, row1], 1)


class AffineDecomposed(AffineFamily):
    """``theta = (alpha, m, log s_x, log s_y, t_x, t_y)`` -> ``R(alpha) Sh(m) S(s) | t``."""

    def affine(self, theta):
        a, m, lx, ly, tx, ty = theta.unbind(-1)
        return _homogeneous(decomposed_matrix(a, m, torch.exp(lx), torch.exp(ly), tx, ty))


class AffineDiffeo(AffineFamily):
    """``expm`` of ``theta`` as a 2x3 matrix padded with a zero row; inverse ``expm(-theta)``."""

    def affine(self, theta):
        return torch.linalg.matrix_exp(_pad(theta.view(-1, 2, 3)))

    def inverse_affine(self, theta):
        return torch.linalg.matrix_exp(_pad(-theta.view(-1, 2, 3)))


def load_libcpab():
    """The ``libcpab`` module, or :class:`TransformerUnavailable` naming why it cannot be used."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import libcpab
    except Exception as exc:  # ImportError, or whatever its import-time JIT compile attempt raises
        raise TransformerUnavailable(f"the cpab transformer needs the libcpab package (pip install "
                                     f"'libcpab>=0.1.3'); importing it failed: {type(exc).__name__}: {exc}") from None
    if not hasattr(libcpab, "Cpab"):
        raise TransformerUnavailable(f"libcpab {getattr(libcpab, '__version__', '?')} has no Cpab class (an old "
                                     "release); install libcpab>=0.1.3")
    return libcpab


class Cpab(nn.Module):
    """CPAB diffeomorphisms through ``libcpab.Cpab`` (no parameters of its own)."""

    def __init__(self, tessellation=(2, 4), steps: int = 50):
        super().__init__()
        lib = load_libcpab()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.cpab = lib.Cpab(list(tessellation), device="cpu", zero_boundary=True,
                                     volume_perservation=False)
                self.cpab.set_solver_params(nstepsolver=int(steps))
        except Exception as exc:  # e.g. its basis cache directory in site-packages is not writable
            raise TransformerUnavailable(f"libcpab cannot build the CPAB basis for tessellation "
                                         f"{list(tessellation)}: {type(exc).__name__}: {exc}") from None
        self.dim = int(self.cpab.get_theta_dim())

    def _grid(self, grid: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self.cpab.transform_grid(grid, theta.float())

    def transform_points(self, points: torch.Tensor, theta: torch.Tensor, inverse: bool = False) -> torch.Tensor:
        """``T_theta(points)``: points ``(B, N, 2)`` (x, y) in [-1, 1] (libcpab's (row, col) in [0, 1] inside)."""
        u = ((points.flip(-1) + 1) / 2).transpose(1, 2).float()  # (B, 2, N): (along H, along W) in [0, 1]
        out = self._grid(u.contiguous(), -theta if inverse else theta)
        return (out.transpose(1, 2).flip(-1) * 2 - 1).to(points.dtype)

    def forward(self, images: torch.Tensor, theta: torch.Tensor, inverse: bool = False) -> torch.Tensor:
        """``images`` ``(B, C, H, W)`` warped by the CPAB map of ``theta``.

        libcpab integrates the pixel grid (``transform_grid``); the bilinear
        sampling is ``F.grid_sample`` with ``align_corners=True`` and border
        padding, which is what libcpab's own ``transform_data`` computes
        (samples at grid * (size - 1), indices clamped to the border) but
        keeps every tensor on the images' device (libcpab's sampler builds its
        batch index on the CPU).
        """
        b, _, h, w = images.shape
        rows = torch.linspace(0.0, 1.0, h, device=images.device)
        cols = torch.linspace(0.0, 1.0, w, device=images.device)
        rr, cc = torch.meshgrid(rows, cols, indexing="ij")
        grid = torch.stack([rr.reshape(-1), cc.reshape(-1)])  # (2, H * W): libcpab's (along H, along W)
        moved = self._grid(grid, -theta if inverse else theta)  # (B, 2, H * W)
        xy = (moved.flip(1) * 2 - 1).transpose(1, 2).reshape(b, h, w, 2)  # grid_sample's (x, y) in [-1, 1]
        return F.grid_sample(images, xy.to(images.dtype), mode="bilinear", padding_mode="border",
                             align_corners=True)


def make_transformer(name: str, tessellation=(2, 4), cpab_steps: int = 50) -> nn.Module:
    if name == "affine":
        return Affine()
    if name == "affine-decomposed":
        return AffineDecomposed()
    if name == "affine-diffeo":
        return AffineDiffeo()
    if name == "cpab":
        return Cpab(tessellation, cpab_steps)
    raise ValueError(f"unknown transformer {name!r}")


def identity_grid(height: int, width: int, batch: int = 1) -> torch.Tensor:
    """``(batch, H * W, 2)`` pixel-centre coordinates (x, y) in [-1, 1] (``align_corners=False``)."""
    ys = (torch.arange(height, dtype=torch.float64) * 2 + 1) / height - 1
    xs = (torch.arange(width, dtype=torch.float64) * 2 + 1) / width - 1
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx, yy], -1).reshape(1, -1, 2).expand(batch, -1, -1)


__all__ = ["Affine", "AffineDecomposed", "AffineDiffeo", "Cpab", "TransformerUnavailable", "decomposed_matrix",
           "identity_grid", "load_libcpab", "make_transformer"]
