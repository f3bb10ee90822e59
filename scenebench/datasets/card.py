"""Contact sheets (images with mask overlays) and the generated dataset card."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

PALETTE = np.array(
    [[0, 0, 0], [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48], [145, 30, 180],
     [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212], [0, 128, 128], [220, 190, 255],
     [170, 110, 40], [255, 250, 200], [128, 0, 0], [170, 255, 195], [128, 128, 0], [255, 215, 180], [0, 0, 128]],
    np.uint8)


def _first_frame(a: np.ndarray, ndim: int) -> np.ndarray:
    """Drop leading view/time axes: keep index 0 until ``a`` has ``ndim`` dims."""
    while a.ndim > ndim:
        a = a[0]
    return a


def overlay(image: np.ndarray, seg: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """RGB image blended with a color per segment, object outlines drawn in white."""
    rgb = image if image.shape[-1] == 3 else np.repeat(image, 3, axis=-1)
    colors = PALETTE[np.where(seg == 0, 0, (seg - 1) % (len(PALETTE) - 1) + 1)]
    fg = (seg > 0)[..., None]
    out = np.where(fg, (1 - alpha) * rgb + alpha * colors, rgb).astype(np.uint8)
    edge = np.zeros(seg.shape, bool)
    edge[1:] |= seg[1:] != seg[:-1]
    edge[:-1] |= seg[1:] != seg[:-1]
    edge[:, 1:] |= seg[:, 1:] != seg[:, :-1]
    edge[:, :-1] |= seg[:, 1:] != seg[:, :-1]
    out[edge] = 255
    return out


def contact_sheet(samples: list[dict], columns: int = 8, min_tile: int = 128) -> np.ndarray:
    """One tile pair per sample: the image, and the image with its segmentation overlaid.

    If a sample has amodal ``masks``, a third tile shows their outlines so
    occluded parts are visible.
    """
    tiles = []
    for s in samples:
        img = _first_frame(s["image"], 3)
        seg = _first_frame(s["segmentation"], 2) if "segmentation" in s else np.zeros(img.shape[:2], np.uint8)
        rgb = img if img.shape[-1] == 3 else np.repeat(img, 3, axis=-1)
        row = [rgb, overlay(img, seg)]
        if "masks" in s:
            masks = _first_frame(s["masks"], 3)
            amodal = rgb.copy() // 2
            for k in range(masks.shape[0]):
                m = masks[k]
                if m.any():
                    e = m & ~(np.roll(m, 1, 0) & np.roll(m, -1, 0) & np.roll(m, 1, 1) & np.roll(m, -1, 1))
                    amodal[e] = PALETTE[k % (len(PALETTE) - 1) + 1]
            row.append(amodal)
        tiles.append(np.concatenate([np.pad(t, ((1, 1), (1, 1), (0, 0)), constant_values=40) for t in row], 1))
    if not tiles:
        return np.zeros((min_tile, min_tile, 3), np.uint8)
    h, w = tiles[0].shape[:2]
    scale = max(1, int(np.ceil(min_tile / max(h // 1, 1))))
    per_row = max(1, min(columns, len(tiles)))
    rows = -(-len(tiles) // per_row)
    sheet = np.full((rows * (h + 4), per_row * (w + 4), 3), 255, np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, per_row)
        sheet[r * (h + 4) + 2: r * (h + 4) + 2 + h, c * (w + 4) + 2: c * (w + 4) + 2 + w] = t
    if scale > 1:
        sheet = sheet.repeat(scale, 0).repeat(scale, 1)
    return sheet


def save_png(array: np.ndarray, path: str | Path) -> None:
    from PIL import Image

    Image.fromarray(array).save(path, format="PNG", optimize=False)


def sheet_from_split(directory: Path, split: str, n: int = 16, columns: int = 4, manifest: dict | None = None) -> np.ndarray:
    from .reader import SplitReader

    reader = SplitReader(directory, split, manifest=manifest)
    try:
        return contact_sheet([reader[i] for i in range(min(n, len(reader)))], columns=columns)
    finally:
        reader.close()


LABEL_FIELD = "objects/label"  # a per-object class feature (-1 = empty slot); the card counts its values


def label_counts(directory: Path, manifest: dict) -> dict:
    """``{split: {label: count}}`` of the ``objects/label`` values >= 0 of every split that has that feature."""
    from .reader import SplitReader

    out = {}
    for split, feats in manifest["features"].items():
        if split not in manifest["splits"] or not any(f["name"] == LABEL_FIELD for f in feats):
            continue
        reader = SplitReader(directory, split, fields=[LABEL_FIELD], manifest=manifest)
        try:
            labels = reader.read(0, len(reader))[LABEL_FIELD].reshape(-1).astype(np.int64)
        finally:
            reader.close()
        values, counts = np.unique(labels[labels >= 0], return_counts=True)
        out[split] = {int(v): int(c) for v, c in zip(values, counts)}
    return out


def write_card(directory: Path, manifest: dict) -> None:
    """Write ``preview.png`` and ``README.md`` for a dataset directory (before its manifest)."""
    import os
    import uuid

    from ..atomic import write_text_atomic

    first = "train" if "train" in manifest["splits"] else next(iter(manifest["splits"]))
    preview = directory / "preview.png"
    tmp = directory / f".preview.png.tmp-{os.getpid()}-{uuid.uuid4().hex[:12]}"  # whole, or not there
    try:
        save_png(sheet_from_split(directory, first, 16, 4, manifest=manifest), tmp)
        os.replace(tmp, preview)
    finally:
        tmp.unlink(missing_ok=True)
    write_text_atomic(directory / "README.md", render_card(manifest, first, label_counts(directory, manifest)))


def _storage(m: dict) -> str:
    from .codecs import CODECS
    from .manifest import manifest_compression

    name = manifest_compression(m)
    codec = CODECS.get(name)
    if codec is not None and codec.plugin:
        how = "Blosc-LZ4 + Fletcher-32 chunks; reading them outside scenebench needs `import hdf5plugin` first"
    elif codec is not None and codec.deflate:
        how = ("shuffle (items wider than a byte) + deflate + Fletcher-32 chunks, HDF5 1.10 file format: "
               "plain h5py, h5dump, MATLAB, Julia and R read them with nothing else installed")
    else:
        how = "uncompressed chunks with Fletcher-32, HDF5 1.10 file format: any HDF5 reader opens them"
    return f"`{name}` ({how})"


def render_card(m: dict, preview_split: str, labels: dict | None = None) -> str:
    """The dataset card's markdown; ``labels`` (:func:`label_counts`) adds a class histogram per split."""
    ident = m["identity"]
    gen = m["generator"]
    lines = [
        f"# {ident['family']} / {ident['preset']} — v{ident['version']}, seed {ident['seed']}",
        "",
        f"{gen.get('description', '')}",
        "",
        f"- Paper: {gen.get('paper', '')}",
        f"- Fingerprint: `{m['fingerprint']}`",
        f"- Schema version: {m['schema_version']}; made by scenebench {m['created']['scenebench']} on {m['created']['time']}",
        f"- Storage: {_storage(m)}",
        "",
        f"![preview](preview.png)",
        "",
        f"Preview: the first 16 samples of `{preview_split}` — image, segmentation overlay"
        + (", amodal mask outlines" if any(f["name"] == "masks" for f in m["features"][preview_split]) else "") + ".",
        "",
        "## Splits",
        "",
        "| split | samples | shards |",
        "|---|---|---|",
    ]
    for s, e in m["splits"].items():
        lines.append(f"| {s} | {e['num_samples']:,} | {len(e['shards'])} |")
    if labels:
        classes = sorted({v for h in labels.values() for v in h})
        lines += ["", "## Class histogram", "", f"Count of each `{LABEL_FIELD}` value over the split's objects.", "",
                  "| split | " + " | ".join(map(str, classes)) + " |", "|---|" + "---|" * len(classes)]
        for s, h in labels.items():
            lines.append(f"| {s} | " + " | ".join(f"{h.get(v, 0):,}" for v in classes) + " |")
    lines += ["", "## Parameters", "", "| parameter | value |", "|---|---|"]
    for k, v in ident["config"].items():
        if k != "splits":
            lines.append(f"| `{k}` | `{json.dumps(v)}` |")
    for s, e in ident["config"].get("splits", {}).items():
        if e.get("overrides"):
            lines.append(f"| `splits.{s}` overrides | `{json.dumps(e['overrides'])}` |")
    for s, feats in m["features"].items():
        lines += ["", f"## Features of `{s}`", "", "| name | shape (per sample) | dtype | meaning |", "|---|---|---|---|"]
        for f in feats:
            extra = f" ({', '.join(f'{i}={n}' for i, n in enumerate(f['labels']))})" if f.get("labels") else ""
            lines.append(f"| `{f['name']}` | {tuple(f['shape'])} | {f['dtype']} | {f['doc']}{extra} |")
    if m.get("assets"):
        lines += ["", "## Assets", "", "```json", json.dumps(m["assets"], indent=2), "```"]
    lines += ["", "## Release notes", ""]
    for v, note in gen["release_notes"].items():
        lines.append(f"- **{v}**: {note}")
    lines += ["", "## Loading", "", "```python", "import scenebench",
              f"ds = scenebench.load('{ident['family']}/{ident['preset']}/v{ident['version']}-seed{ident['seed']}', "
              f"'{preview_split}')  # torch Dataset, found under $SCENEBENCH_DATA (default ./data)",
              "```", ""]
    return "\n".join(lines)
