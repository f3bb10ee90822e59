"""Contact sheets of a trained model: reconstructions and latent traversals as PNG files.

    >>> from baselines.common.sheets import contact_sheets
    >>> paths = contact_sheets(model, images, "runs/c-vitae")   # -> [reconstructions.png, traversals.png]

``reconstructions.png``: one column per image; rows *input*,
*reconstruction* (the model's ``reconstruct``: pixel means from the
posterior means) and, for models with an ``unwarped`` method (U-/C-VITAE),
*unwarped* (``T_theta^-1[x]``: the input with the inferred perspective
removed; supplement Figs. 5 and 7).

``traversals.png`` (models with ``traverse``; supplement Fig. 2): one row per
latent dimension, named by the model's ``latent_names()`` (``z1..zd``, or
``zA1.. zP1..`` for VITAE); the columns set that dimension to the traversal
values (-3 to 3 by default) while the others stay at the posterior mean of
the first image. A second block traverses around the prior mean (all
zeros). Grey levels are the pixel means in [0, 1]; RGB images stay RGB.
Rows carry their names on a left margin (Pillow's default font).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

RECONSTRUCTIONS = "reconstructions.png"
TRAVERSALS = "traversals.png"
LABEL_WIDTH = 56  # pixels of the left margin holding the row names
GAP = 2  # pixels between tiles


def _tile_grid(rows: list[np.ndarray], names: list[str], scale: int = 1) -> "PIL.Image.Image":
    """``rows``: arrays ``(n, H, W, C)`` float in [0, 1]; one labelled row each, tiles ``scale``x enlarged."""
    from PIL import Image, ImageDraw

    h, w, c = rows[0].shape[1:]
    cols = max(len(r) for r in rows)
    th, tw = h * scale, w * scale
    sheet = Image.new("RGB", (LABEL_WIDTH + cols * (tw + GAP), len(rows) * (th + GAP)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (row, name) in enumerate(zip(rows, names)):
        y = i * (th + GAP)
        draw.text((4, y + th // 2 - 5), name, fill="black")
        for j, tile in enumerate(row):
            arr = np.clip(np.nan_to_num(tile) * 255.0 + 0.5, 0, 255).astype(np.uint8)
            img = Image.fromarray(arr[..., 0] if c == 1 else arr, "L" if c == 1 else "RGB").convert("RGB")
            if scale != 1:
                img = img.resize((tw, th), Image.NEAREST)
            sheet.paste(img, (LABEL_WIDTH + j * (tw + GAP), y))
    return sheet


def _hwc(t) -> np.ndarray:
    """``(N, C, H, W)`` tensor -> float ``(N, H, W, C)`` numpy."""
    return t.detach().float().cpu().permute(0, 2, 3, 1).numpy()


def _scale(height: int) -> int:
    return max(1, 64 // height)  # small images (MNIST 28x28) are enlarged to be readable


def latent_names(model) -> list[str]:
    names = getattr(model, "latent_names", None)
    return list(names()) if callable(names) else [f"z{i + 1}" for i in range(model.latent_size())]


def contact_sheets(model, images, out_dir, *, num: int = 8) -> list[Path]:
    """Write the sheets of ``model`` for the first ``num`` of ``images`` into ``out_dir``; return their paths.

    ``images``: uint8 ``(N, C, H, W)`` (as :func:`.data.read_images` returns), N >= 1. The model runs
    in eval mode on its device; nothing is trained. Raises ``ValueError`` on an empty ``images`` and
    ``TypeError`` for a model without ``reconstruct``.
    """
    import torch

    if len(images) == 0:
        raise ValueError("contact_sheets needs at least one image")
    if not hasattr(model, "reconstruct"):
        raise TypeError(f"{type(model).__name__} has no reconstruct(): no contact sheets to draw")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        x = model.prepare(images[:num])
        rows, names = [_hwc(x)], ["input"]
        rows.append(_hwc(model.reconstruct(x)))
        names.append("recon")
        if hasattr(model, "unwarped"):
            rows.append(_hwc(model.unwarped(x)))
            names.append("unwarped")
        scale = _scale(rows[0].shape[1])
        paths = [out / RECONSTRUCTIONS]
        _tile_grid(rows, names, scale).save(paths[0])
        if hasattr(model, "traverse"):
            labels = latent_names(model)
            rows, names = [], []
            for base, tag in ((x[:1], "x0"), (None, "prior")):
                grid = model.traverse(base)  # (L, V, C, H, W)
                for i in range(grid.shape[0]):
                    rows.append(_hwc(grid[i]))
                    names.append(f"{labels[i]} {tag}")
            paths.append(out / TRAVERSALS)
            _tile_grid(rows, names, scale).save(paths[1])
    return paths
