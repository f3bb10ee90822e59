"""Flying Animals asset packs: a directory reader with validation, the embedded pack, held-out splits.

Every foreground becomes a :class:`Canvas`: a full ``height`` x ``width``
image (192x256 by default) with the animal at the centre and its mask, as
in the CIS authors' pack; a scene zooms and shifts canvases about the
canvas centre (see ``flying_animals``).

Directory layouts
-----------------
The CIS authors' pack as distributed (the *numbered* layout)::

    <pack>/
        foregrounds/   0.png 1.png ... 240.png     full-canvas animals, one size: the canvas (192x256)
        masks/         0.png 1.png ... 240.png     the mask of the foreground of the same number
        backgrounds/   0.png 1.png ... 100.png     landscapes, any size

A pack is numbered when every foreground is a top-level file named by a
number. Files are ordered by number and numbered without gaps from 0 (or
1); file 0 of ``foregrounds/`` and of ``backgrounds/`` is a padding slot
that is never sampled, and is not read (its mask may be empty). The class
of foreground i is ceil(i / 10) - 1 (the authors' 24 classes x 10 animals,
named ``class_00`` ...; a ``classes.txt|json`` class list with one name per
class names them). A numbered foreground must have the canvas' size: it is
used as it is, not re-centred or resized.

Any other layout holds cut-outs, which are centred on a transparent canvas
with their longest side ``object_size`` pixels (resampled in premultiplied
alpha, bilinear; colours are extended past the silhouette so a bilinear
zoom of colour and mask gives no dark fringe)::

    <pack>/
        backgrounds/   *.png | *.jpg | *.jpeg    landscapes, any size (subfolders allowed)
        foregrounds/   *.png (RGBA cut-outs)      animals (subfolders allowed: foregrounds/cat/01.png)
                       or *.png|*.jpg with a matching mask
        masks/         <same relative path>.png   optional: alpha of the foreground of the same name
        classes.json | classes.csv | classes.txt  optional

Where the pack is: the ``asset_dir`` option, else ``$SCENEBENCH_FLYING_ANIMALS``,
else ``$SCENEBENCH_CACHE/flying_animals`` (default ``~/.cache/scenebench/flying_animals``).
Hidden files (``.*``) are ignored. Backgrounds are scaled to cover the
canvas and centre-cropped.

Masks: ``masks/cat/01.png`` is the mask of ``foregrounds/cat/01.png`` (or of
``.jpg``). It must have the foreground's size; its gray level is the alpha
(a 0/1 mask is read as 0/255; palette or 16-bit label masks: non-zero = 255).
A mask wins over the foreground's own alpha channel. A foreground with
neither a mask nor a non-trivial alpha channel is an error.

Classes (other layouts): without a classes file, a foreground's class is its subfolder
(``foregrounds/cat/01.png`` -> ``cat``) or, at the top level, its file stem
without a trailing number (``cat_01.png`` -> ``cat``). A classes file is
either a class list (one name per line, or a JSON list), which fixes the
class-id order (the inferred classes must all be in it), or a mapping from
foreground file to class (``file,class`` / ``file class`` lines, or a JSON
object ``{"cat_01.png": "cat"}`` or ``{"cat": ["cat_01.png", ...]}``) that
must cover every foreground. Class ids follow the class list, else sorted
class names. Asset ids index the list of all foreground files (numbered
files in number order, so in the authors' pack id = file number; others in
sorted path order) and background ids the list of background files (by
number when every name is a number), so they are the same in every split.

Held-out split (``holdout_every`` = h, default 5): within each class,
foregrounds in id order, every h-th (positions h-1, 2h-1, ...) is
held out for the test split and the rest are train; backgrounds likewise in
id order over the whole pack (name them ``<landscape>_<instance>`` to
hold out the same number per landscape). Padding files take no part. The
paper's 10 instances per class give 8 train / 2 test instances (in the
authors' pack: foregrounds 10c+5 and 10c+10 of class c, backgrounds 5, 10,
..., 100 are test). A class with fewer than h instances appears only in
train. ``holdout_every=0`` shares all assets between the splits.

Identity: :func:`content_hash` is the SHA-256 of a canonical listing of every
file the pack holds (role, relative path, SHA-256 of its bytes), so two packs
with different contents never share a fingerprint and the same pack gives
the same hash wherever it lies.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from scenebench.errors import DatasetError

from . import cache

ENV_VAR = "SCENEBENCH_FLYING_ANIMALS"
IMAGE_EXTS = (".png", ".jpg", ".jpeg")
CLASS_FILES = ("classes.json", "classes.csv", "classes.txt")
ALPHA_THRESHOLD = 128  # alpha >= this is inside an object's mask
LAYOUT = ("foregrounds/0..N.png, masks/0..N.png, backgrounds/0..M.png (the CIS authors' numbered pack), or "
          "backgrounds/*.png|jpg, foregrounds/*.png (RGBA, or with masks/*.png of the same name), "
          "optional classes.txt|csv|json")


class AssetPackError(DatasetError):
    """An asset pack directory that is missing, incomplete or holds unusable files."""


# ---------------------------------------------------------------- locating
def default_dir() -> Path:
    """``$SCENEBENCH_CACHE/flying_animals``, default ``~/.cache/scenebench/flying_animals``."""
    return cache.cache_dir("flying_animals")


def locate(asset_dir: str | os.PathLike | None = None) -> Path:
    """The pack directory: ``asset_dir``, else ``$SCENEBENCH_FLYING_ANIMALS``, else :func:`default_dir`."""
    if asset_dir:
        root, how = Path(asset_dir).expanduser(), "asset_dir"
    elif os.environ.get(ENV_VAR):
        root, how = Path(os.environ[ENV_VAR]).expanduser(), f"${ENV_VAR}"
    else:
        root, how = default_dir(), "the default location"
    if not root.exists():
        raise AssetPackError(
            f"Flying Animals asset pack not found at {root} ({how}); expected a directory with {LAYOUT} — "
            f"set --set asset_dir=DIR or ${ENV_VAR}, or use the offline preset 'embedded'")
    if not root.is_dir():
        raise AssetPackError(f"Flying Animals asset pack {root} ({how}) is not a directory; expected a directory "
                             f"with {LAYOUT}")
    return root


# ---------------------------------------------------------------- scanning
@dataclass(frozen=True)
class PackIndex:
    """What a pack directory holds (paths relative to their folder, POSIX, in id order) and its content hash."""

    root: Path
    foregrounds: tuple  # relative to foregrounds/, in asset-id order
    masks: tuple  # per foreground: relative path under masks/ or "" (use the alpha channel)
    classes: tuple  # class names in class-id order
    fg_class: tuple  # class id per foreground (-1: a padding slot)
    backgrounds: tuple  # relative to backgrounds/, in background-id order
    class_file: str  # "" when none
    sha256: str
    layout: str = "cutouts"  # "numbered" (the CIS authors' full-canvas pack) | "cutouts"
    fg_padding: tuple = ()  # per foreground: True for a padding slot (never sampled, not read)
    bg_padding: tuple = ()  # per background: likewise


def _images(folder: Path) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in filenames:
            if not f.startswith(".") and f.lower().endswith(IMAGE_EXTS):
                out.append(Path(dirpath, f).relative_to(folder).as_posix())
    return sorted(out)


def _folder(root: Path, name: str) -> Path:
    d = root / name
    if not d.is_dir():
        present = ", ".join(sorted(p.name + "/" for p in root.iterdir() if p.is_dir())) or "no folders"
        raise AssetPackError(f"asset pack {root}: missing folder {name}/ (found {present}); expected {LAYOUT}")
    return d


_TRAILING_NUMBER = re.compile(r"[\s_\-.]*\d+$")


def infer_class(rel: str) -> str:
    """Class of a foreground from its path: the first subfolder, else the stem without a trailing number."""
    parts = rel.split("/")
    if len(parts) > 1:
        return parts[0]
    stem = parts[0].rsplit(".", 1)[0]
    return _TRAILING_NUMBER.sub("", stem) or stem


def _parse_classes(path: Path, foregrounds: list[str]) -> tuple[list[str] | None, dict[str, str] | None]:
    """(class list or None, mapping foreground -> class or None) from a classes file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AssetPackError(f"{path}: cannot read the classes file ({exc}); expected UTF-8 text") from None
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise AssetPackError(f"{path}: invalid JSON ({exc.msg} at line {exc.lineno}); expected a class list "
                                 f"or an object mapping foreground files to classes") from None
        if isinstance(data, list) and all(isinstance(x, str) for x in data):
            return data, None
        if isinstance(data, dict) and all(isinstance(v, str) for v in data.values()):
            return None, dict(data)
        if isinstance(data, dict) and all(isinstance(v, list) and all(isinstance(f, str) for f in v)
                                          for v in data.values()):
            return list(data), {f: cls for cls, files in data.items() for f in files}
        raise AssetPackError(f"{path}: expected a JSON list of class names, an object file -> class, or an "
                             f"object class -> [files]")
    lines = [ln.strip() for ln in text.splitlines()]
    rows = [(ln.split(",") if "," in ln else ln.split(None, 1)) for ln in lines if ln and not ln.startswith("#")]
    rows = [[x.strip() for x in r] for r in rows]
    if rows and len(rows[0]) == 2 and rows[0][0].lower() in ("file", "filename", "foreground", "image", "path") \
            and rows[0][1].lower() in ("class", "label", "name", "category"):
        rows = rows[1:]  # a CSV header
    widths = {len(r) for r in rows}
    if not rows:
        raise AssetPackError(f"{path}: empty classes file; expected class names or 'file,class' lines")
    if widths == {1}:
        return [r[0] for r in rows], None
    if widths == {2}:
        return None, {r[0]: r[1] for r in rows}
    bad = next(i for i, r in enumerate(rows) if len(r) != len(rows[0]))
    raise AssetPackError(f"{path}: line {bad + 1} has {len(rows[bad])} fields, the first has {len(rows[0])}; "
                         f"expected one class name per line or 'file,class' on every line")


def _assign_classes(root: Path, foregrounds: list[str]) -> tuple[list[str], list[int], str]:
    found = [f for f in CLASS_FILES if (root / f).is_file()]
    if len(found) > 1:
        raise AssetPackError(f"asset pack {root}: several classes files ({', '.join(found)}); expected at most one")
    inferred = [infer_class(f) for f in foregrounds]
    if not found:
        classes = sorted(set(inferred))
        return classes, [classes.index(c) for c in inferred], ""
    path = root / found[0]
    class_list, mapping = _parse_classes(path, foregrounds)
    if class_list is not None and len(set(class_list)) != len(class_list):
        dup = next(c for c in class_list if class_list.count(c) > 1)
        raise AssetPackError(f"{path}: class {dup!r} listed twice; expected each class once")
    if mapping is not None:
        known = set(foregrounds)
        by_stem = {}
        for f in foregrounds:
            by_stem.setdefault(f.rsplit(".", 1)[0], []).append(f)
        resolved = {}
        for key, cls in mapping.items():
            k = key[len("foregrounds/"):] if key.startswith("foregrounds/") else key
            if k not in known:
                cands = by_stem.get(k, [])
                if len(cands) != 1:
                    raise AssetPackError(f"{path}: {key!r} is not a file under foregrounds/; expected every entry "
                                         f"to name a foreground image")
                k = cands[0]
            resolved[k] = cls
        missing = [f for f in foregrounds if f not in resolved]
        if missing:
            raise AssetPackError(f"{path}: no class for foregrounds/{missing[0]} ({len(missing)} foreground(s) "
                                 f"unlisted); expected every foreground listed")
        labels = [resolved[f] for f in foregrounds]
        classes = class_list if class_list is not None else sorted(set(labels))
    else:
        labels = inferred
        classes = class_list
        unknown = sorted(set(labels) - set(classes))
        if unknown:
            first = foregrounds[labels.index(unknown[0])]
            raise AssetPackError(f"{path}: class {unknown[0]!r} of foregrounds/{first} is not in the class list; "
                                 f"expected one of {', '.join(classes[:10])}{' ...' if len(classes) > 10 else ''}")
    return list(classes), [classes.index(c) for c in labels], found[0]


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


_NUMBER = re.compile(r"^[0-9]+$")
CLASS_SIZE = 10  # numbered layout: foreground i is in class ceil(i / CLASS_SIZE) - 1


def _numbers(files: list[str]) -> list[int] | None:
    """The file numbers, if every file is a top-level file named by a number; else None."""
    stems = [f.rsplit(".", 1)[0] for f in files]
    if not files or any("/" in f or not _NUMBER.match(st) for f, st in zip(files, stems)):
        return None
    return [int(st) for st in stems]


def _by_number(root: Path, folder: str, files: list[str], numbers: list[int]) -> list[str]:
    """``files`` in number order, checked: no number twice, none missing from 0 (or 1) to the largest."""
    order = sorted(range(len(files)), key=lambda i: (numbers[i], files[i]))
    files, numbers = [files[i] for i in order], [numbers[i] for i in order]
    for a, b, na, nb in zip(files, files[1:], numbers, numbers[1:]):
        if na == nb:
            raise AssetPackError(f"asset pack {root}: {folder}/{a} and {folder}/{b} both have number {na}; expected "
                                 f"each number once")
    start = min(numbers[0], 1)
    missing = sorted(set(range(start, numbers[-1] + 1)) - set(numbers))
    if missing:
        raise AssetPackError(f"asset pack {root}: {folder}/ has no file number {missing[0]} ({len(missing)} missing "
                             f"below {numbers[-1]}); expected numbered files {start}..{numbers[-1]} without gaps "
                             f"(the CIS authors' layout)")
    return files


def _numbered_classes(root: Path, numbers: list[int]) -> tuple[list[str], list[int], str]:
    """Numbered layout: class of file i = ceil(i / 10) - 1 (-1 for the padding file 0), optional names."""
    labels = [-(-i // CLASS_SIZE) - 1 for i in numbers]
    count = max(labels) + 1
    classes = [f"class_{c:02d}" for c in range(count)]
    found = [f for f in CLASS_FILES if (root / f).is_file()]
    if len(found) > 1:
        raise AssetPackError(f"asset pack {root}: several classes files ({', '.join(found)}); expected at most one")
    if not found:
        return classes, labels, ""
    path = root / found[0]
    class_list, mapping = _parse_classes(path, [])
    if mapping is not None or class_list is None:
        raise AssetPackError(f"{path}: a numbered pack takes its classes from the file numbers (class = "
                             f"ceil(i/{CLASS_SIZE}) - 1); expected a list of {count} class names, one per line")
    if len(class_list) != count:
        raise AssetPackError(f"{path}: {len(class_list)} class names for {count} classes (foregrounds up to "
                             f"{max(numbers)}, {CLASS_SIZE} per class); expected {count} names")
    if len(set(class_list)) != len(class_list):
        dup = next(c for c in class_list if class_list.count(c) > 1)
        raise AssetPackError(f"{path}: class {dup!r} listed twice; expected each class once")
    return list(class_list), labels, found[0]


def scan(root: str | os.PathLike) -> PackIndex:
    """Index a pack directory: layout, folders, images, masks, classes; and its content hash (reads every file once)."""
    root = Path(root)
    fg_dir, bg_dir = _folder(root, "foregrounds"), _folder(root, "backgrounds")
    fgs, bgs = _images(fg_dir), _images(bg_dir)
    for name, files in (("foregrounds", fgs), ("backgrounds", bgs)):
        if not files:
            raise AssetPackError(f"asset pack {root}: {name}/ holds no .png/.jpg/.jpeg images; expected {LAYOUT}")
    stems = {}
    for f in fgs:
        other = stems.setdefault(f.rsplit(".", 1)[0], f)
        if other != f:
            raise AssetPackError(f"asset pack {root}: foregrounds/{other} and foregrounds/{f} share the name "
                                 f"{f.rsplit('.', 1)[0]} (and its mask name); expected unique names")
    mask_dir = root / "masks"
    masks = {}
    for f in fgs:
        m = f.rsplit(".", 1)[0] + ".png"
        masks[f] = m if (mask_dir / m).is_file() else ""
    # the content hash lists the files in sorted path order, whatever the layout
    listing = [("foreground", f, _sha(fg_dir / f)) for f in fgs]
    listing += [("mask", masks[f], _sha(mask_dir / masks[f])) for f in fgs if masks[f]]
    listing += [("background", b, _sha(bg_dir / b)) for b in bgs]
    fg_numbers = _numbers(fgs)
    bg_numbers = _numbers(bgs)
    if fg_numbers is not None:
        layout = "numbered"
        fgs = _by_number(root, "foregrounds", fgs, fg_numbers)
        fg_numbers = sorted(fg_numbers)
        classes, fg_class, class_file = _numbered_classes(root, fg_numbers)
        fg_padding = [i == 0 for i in fg_numbers]
    else:
        layout = "cutouts"
        classes, fg_class, class_file = _assign_classes(root, fgs)
        fg_padding = [False] * len(fgs)
    if bg_numbers is not None:
        bgs = _by_number(root, "backgrounds", bgs, bg_numbers)
        bg_padding = [layout == "numbered" and i == 0 for i in sorted(bg_numbers)]
    else:
        bg_padding = [False] * len(bgs)
    for name, pad in (("foregrounds", fg_padding), ("backgrounds", bg_padding)):
        if all(pad):
            raise AssetPackError(f"asset pack {root}: {name}/ holds only the padding file 0; expected numbered "
                                 f"files 1, 2, ... as well")
    if class_file:
        listing.append(("classes", class_file, _sha(root / class_file)))
    digest = hashlib.sha256(json.dumps(listing, separators=(",", ":")).encode()).hexdigest()
    return PackIndex(root, tuple(fgs), tuple(masks[f] for f in fgs), tuple(classes), tuple(fg_class), tuple(bgs),
                     class_file, "sha256:" + digest, layout, tuple(fg_padding), tuple(bg_padding))


def content_hash(root: str | os.PathLike) -> str:
    """``sha256:<hex>`` of a pack directory's contents (see the module docstring)."""
    return scan(root).sha256


# ---------------------------------------------------------------- images
def _open(path: Path, what: str):
    from PIL import Image, UnidentifiedImageError

    try:
        data = path.read_bytes()
        im = Image.open(io.BytesIO(data))
        im.load()
        return im
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
        raise AssetPackError(f"{what}: cannot read the image ({type(exc).__name__}: {exc}); "
                             f"expected a valid PNG or JPEG file") from None


def _mask_alpha(im) -> np.ndarray:
    """A mask image as uint8 alpha (0-255)."""
    if im.mode in ("P", "I", "I;16", "I;16B", "I;16L", "F"):
        return np.where(np.asarray(im) > 0, np.uint8(255), np.uint8(0))
    a = np.asarray(im.convert("L"))
    if a.max() <= 1:  # a 0/1 label mask
        a = a * np.uint8(255)
    return a


def read_foreground(root: Path, rel: str, mask_rel: str) -> np.ndarray:
    """One foreground as RGBA uint8 (h, w, 4), straight alpha, validated."""
    what = f"{root}/foregrounds/{rel}"
    im = _open(root / "foregrounds" / rel, what)
    if mask_rel:
        mwhat = f"{root}/masks/{mask_rel}"
        mim = _open(root / "masks" / mask_rel, mwhat)
        if mim.size != im.size:
            raise AssetPackError(f"{mwhat}: mask is {mim.size[0]}x{mim.size[1]} but its foreground "
                                 f"foregrounds/{rel} is {im.size[0]}x{im.size[1]}; expected the same size")
        alpha = _mask_alpha(mim)
        rgb = np.asarray(im.convert("RGB"))
    else:
        has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (im.mode == "P" and "transparency" in im.info)
        if not has_alpha:
            raise AssetPackError(f"{what}: no alpha channel ({im.mode}) and no mask masks/{rel.rsplit('.', 1)[0]}.png; "
                                 f"expected an RGBA cut-out or a matching mask")
        rgba = np.asarray(im.convert("RGBA"))
        rgb, alpha = rgba[..., :3], rgba[..., 3]
        if alpha.min() == 255:
            raise AssetPackError(f"{what}: the alpha channel is fully opaque; expected a cut-out with a transparent "
                                 f"background, or a mask masks/{rel.rsplit('.', 1)[0]}.png")
    if int(alpha.max()) < ALPHA_THRESHOLD:
        raise AssetPackError(f"{what}: the {'mask' if mask_rel else 'alpha channel'} is empty (no pixel with alpha "
                             f">= {ALPHA_THRESHOLD}); expected the animal's silhouette")
    return np.ascontiguousarray(np.dstack([rgb, alpha]))


def read_background(root: Path, rel: str, height: int, width: int) -> np.ndarray:
    """One background as RGB uint8 (height, width, 3): scaled to cover the canvas, centre-cropped."""
    what = f"{root}/backgrounds/{rel}"
    im = _open(root / "backgrounds" / rel, what)
    if min(im.size) < 8:
        raise AssetPackError(f"{what}: image is {im.size[0]}x{im.size[1]}; expected a landscape of at least 8x8")
    return cover(np.asarray(im.convert("RGB")), height, width)


def cover(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize (Lanczos) to cover ``height`` x ``width`` keeping the aspect ratio, then centre-crop."""
    from PIL import Image

    h, w = rgb.shape[:2]
    s = max(height / h, width / w)
    nh, nw = max(height, round(h * s)), max(width, round(w * s))
    im = Image.fromarray(rgb).resize((nw, nh), Image.LANCZOS)
    y0, x0 = (nh - height) // 2, (nw - width) // 2
    return np.ascontiguousarray(np.asarray(im)[y0: y0 + height, x0: x0 + width])


def normalize_cutout(rgba: np.ndarray, longest: int):
    """A cut-out cropped to its silhouette and resized so its longest side is ``longest`` pixels.

    Returns a PIL image in premultiplied ``RGBa`` mode, resampled bilinearly
    (antialiased, no ringing; resampling premultiplied colors keeps dark fringes
    out of the edges).
    """
    from PIL import Image

    a = rgba[..., 3]
    ys, xs = np.nonzero(a)
    crop = np.ascontiguousarray(rgba[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1])
    h, w = crop.shape[:2]
    s = longest / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return Image.fromarray(crop, "RGBA").convert("RGBa").resize(size, Image.BILINEAR)


def centre_cutout(rgba: np.ndarray, longest: int, height: int, width: int) -> np.ndarray:
    """A cut-out as a full-canvas asset: (height, width, 4) uint8, straight alpha, the animal at the centre.

    The cut-out is resized (:func:`normalize_cutout`) so its longest side is
    ``longest`` pixels and its box is centred on the canvas (to half a pixel:
    the top-left corner is at ((height - h) // 2, (width - w) // 2)). Colours
    under zero alpha are those of the nearest pixel with alpha > 0, so that a
    bilinear zoom of colour and mask separately (as the CIS authors zoom
    theirs) gives no dark fringe; the rest of the canvas is transparent black.
    """
    from scipy import ndimage

    small = np.asarray(normalize_cutout(rgba, longest).convert("RGBA"))
    pad = np.pad(small, ((2, 2), (2, 2), (0, 0)))  # room for the extended colours
    empty = pad[..., 3] == 0
    if empty.any():
        iy, ix = ndimage.distance_transform_edt(empty, return_distances=False, return_indices=True)
        pad[..., :3] = pad[iy, ix, :3]
    h, w = small.shape[:2]
    y, x = (height - h) // 2 - 2, (width - w) // 2 - 2
    canvas = np.zeros((height, width, 4), np.uint8)
    y0, x0 = max(y, 0), max(x, 0)
    y1, x1 = min(y + h + 4, height), min(x + w + 4, width)
    canvas[y0:y1, x0:x1] = pad[y0 - y: y1 - y, x0 - x: x1 - x]
    return canvas


# ---------------------------------------------------------------- canvases
@dataclass(frozen=True)
class Canvas:
    """One foreground as a full ``height`` x ``width`` canvas: straight RGB and a mask, uint8.

    Stored as the window of the canvas that holds every pixel with a non-zero
    mask plus a 1-pixel margin (real colours), inside a 1-pixel zero border:
    outside it the mask is 0, so no other pixel can ever show. ``data`` is
    planar, (4, h, w): R, G, B, mask; ``data[:, i, j]`` is canvas pixel
    ``(y0 + i, x0 + j)``. ``box`` is the (y0, x0, y1, x1) of the non-zero mask
    on the canvas, max exclusive.
    """

    height: int
    width: int
    y0: int
    x0: int
    data: np.ndarray
    box: tuple

    @classmethod
    def of(cls, rgba: np.ndarray, what: str = "foreground") -> "Canvas":
        """From a full (height, width, 4) uint8 canvas (RGB, mask)."""
        H, W = rgba.shape[:2]
        nz = rgba[..., 3] > 0
        rows, cols = np.flatnonzero(nz.any(1)), np.flatnonzero(nz.any(0))
        if not len(rows):
            raise AssetPackError(f"{what}: the mask is empty; expected the animal's silhouette")
        by0, bx0, by1, bx1 = int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1
        wy0, wx0, wy1, wx1 = max(by0 - 1, 0), max(bx0 - 1, 0), min(by1 + 1, H), min(bx1 + 1, W)
        data = np.zeros((4, wy1 - wy0 + 2, wx1 - wx0 + 2), np.uint8)
        data[:, 1:-1, 1:-1] = rgba[wy0:wy1, wx0:wx1].transpose(2, 0, 1)
        return cls(H, W, wy0 - 1, wx0 - 1, data, (by0, bx0, by1, bx1))

    def full(self) -> np.ndarray:
        """The (height, width, 4) uint8 canvas (colours outside the stored window are 0)."""
        out = np.zeros((self.height, self.width, 4), np.uint8)
        h, w = self.data.shape[1:]
        y0, x0 = max(self.y0, 0), max(self.x0, 0)
        y1, x1 = min(self.y0 + h, self.height), min(self.x0 + w, self.width)
        out[y0:y1, x0:x1] = self.data[:, y0 - self.y0: y1 - self.y0, x0 - self.x0: x1 - self.x0].transpose(1, 2, 0)
        return out

    def warp(self, f: float, dx: float, dy: float):
        """The canvas zoomed by 1/``f`` about the canvas centre and shifted by (``dx``, ``dy``), bilinear, zero fill.

        Coordinates are continuous with pixel (i, j) covering [j, j+1) x [i, i+1)
        and the centre at (W/2, H/2): output pixel (y, x) samples the canvas
        at (W/2 + f (x + 1/2 - W/2 - dx), H/2 + f (y + 1/2 - H/2 - dy)), so
        the canvas centre lands at (W/2 + dx, H/2 + dy) and the animal shows
        at 1/f of its size. Returns ``(y0, x0, values)``: float32 (4, h, w)
        planar R, G, B, mask on the 0-255 scale for output rows y0.. and
        columns x0.. (every output pixel outside is 0), or None if nothing
        lands on the output. Separable (rows, then columns), pure numpy
        elementwise arithmetic: the same bytes on every machine.
        """
        _, hp, wp = self.data.shape
        rows = _axis(self.height, self.y0, hp, f, dy)
        cols = _axis(self.width, self.x0, wp, f, dx)
        if rows is None or cols is None:
            return None
        (ya, i0, i1, ty), (xa, j0, j1, tx) = rows, cols
        d = self.data
        r = d[:, i0] * (1 - ty)[:, None]  # (4, ny, wp)
        r += d[:, i1] * ty[:, None]
        out = r[:, :, j0] * (1 - tx)  # (4, ny, nx)
        out += r[:, :, j1] * tx
        return ya, xa, out


def _axis(size: int, origin: int, n: int, f: float, shift: float):
    """Output pixels along one axis that can be non-zero, their two source indices into a window and weights."""
    c = size / 2
    # the output coordinate (pixel index) that samples window index t is (origin + t + 1/2 - c) / f + c + d - 1/2
    lo = (origin + 0.5 - c) / f + c + shift - 0.5
    hi = (origin + n - 1 + 0.5 - c) / f + c + shift - 0.5
    a, b = max(0, math.floor(lo)), min(size - 1, math.ceil(hi))
    if a > b:
        return None
    u = np.arange(a, b + 1, dtype=np.float64)
    u += 0.5 - c - shift
    u *= f
    u += c - 0.5 - origin
    i0 = np.floor(u)
    t = (u - i0).astype(np.float32)
    i0 = i0.astype(np.intp)
    i1 = i0 + 1
    # outside the window: its zero border (the window's first and last rows/columns are 0, so clipping reads zeros)
    for i in (i0, i1):
        np.maximum(i, 0, out=i)
        np.minimum(i, n - 1, out=i)
    return a, i0, i1, t


# ---------------------------------------------------------------- packs
@dataclass
class Pack:
    """A loaded asset pack (directory or embedded), shared by every split.

    ``canvases[i]``: the :class:`Canvas` of foreground ``i`` (None for a
    padding slot); ``backgrounds``: (B, H, W, 3) uint8 (a padding slot's is
    0); ``fg_class``: (F,) int16 class ids (-1 for padding); names are the
    files (or ``class_instance``). ``layout``: "numbered" (full-canvas
    foregrounds, used as they are), "cutouts" or "embedded" (cut-outs centred
    on the canvas with their longest side ``object_size``).
    """

    source: str  # "directory" | "embedded"
    sha256: str
    classes: tuple
    fg_names: tuple
    fg_class: np.ndarray
    canvases: list
    bg_names: tuple
    backgrounds: np.ndarray
    layout: str
    object_size: int  # cut-out layouts: longest side of an animal on its canvas; 0 for the numbered layout
    fg_padding: np.ndarray = None  # bool (F,): padding slots, never sampled
    bg_padding: np.ndarray = None  # bool (B,)
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.fg_padding is None:
            self.fg_padding = np.zeros(len(self.fg_names), bool)
        if self.bg_padding is None:
            self.bg_padding = np.zeros(len(self.bg_names), bool)

    def split_ids(self, asset_split: str, every: int) -> tuple[np.ndarray, np.ndarray]:
        """(foreground ids, background ids) of ``asset_split`` ("train" | "test" | "all"); see the module docstring.

        Padding slots are never returned.
        """
        fg_ok, bg_ok = ~self.fg_padding, ~self.bg_padding
        if asset_split == "all" or not every:
            return np.flatnonzero(fg_ok), np.flatnonzero(bg_ok)
        fg_test = np.zeros(len(self.fg_names), bool)
        for c in range(len(self.classes)):
            members = np.flatnonzero((self.fg_class == c) & fg_ok)  # in id order
            fg_test[members] = np.arange(len(members)) % every == every - 1
        bg_test = np.zeros(len(self.bg_names), bool)
        members = np.flatnonzero(bg_ok)
        bg_test[members] = np.arange(len(members)) % every == every - 1
        pick_fg = fg_test if asset_split == "test" else ~fg_test & fg_ok
        pick_bg = bg_test if asset_split == "test" else ~bg_test & bg_ok
        fg, bg = np.flatnonzero(pick_fg), np.flatnonzero(pick_bg)
        if not len(fg) or not len(bg):
            what = "foregrounds" if not len(fg) else "backgrounds"
            raise AssetPackError(
                f"asset pack {self.info.get('location', self.source)}: the {asset_split} split gets no {what} with "
                f"holdout_every={every} ({int(fg_ok.sum())} foregrounds, {int(bg_ok.sum())} backgrounds); "
                f"expected at least {every} instances of a class and {every} backgrounds, or set holdout_every=0")
        return fg, bg

    def describe(self) -> dict:
        return {"source": self.source, "sha256": self.sha256, "layout": self.layout, "classes": list(self.classes),
                "num_foregrounds": int((~self.fg_padding).sum()), "num_backgrounds": int((~self.bg_padding).sum()),
                "padding_foreground_ids": np.flatnonzero(self.fg_padding).tolist(),
                "padding_background_ids": np.flatnonzero(self.bg_padding).tolist(),
                "cutout_longest_side": self.object_size, **self.info}


def load_directory(root: str | os.PathLike, object_size: int, height: int, width: int) -> Pack:
    """Read and validate a pack directory (cached per process by location, content hash and sizes)."""
    index = scan(Path(root))
    return _load_index(str(Path(root)), index.sha256, object_size, height, width)


def _numbered_canvas(root: Path, rel: str, mask: str, height: int, width: int) -> Canvas:
    rgba = read_foreground(root, rel, mask)
    h, w = rgba.shape[:2]
    if (h, w) != (height, width):
        raise AssetPackError(f"{root}/foregrounds/{rel}: image is {w}x{h} but the canvas is {width}x{height}; a "
                             f"numbered pack (the CIS authors' layout) holds full-canvas foregrounds: expected "
                             f"{width}x{height} images, or set width={w} height={h}")
    return Canvas.of(rgba, f"{root}/foregrounds/{rel}")


@lru_cache(maxsize=4)
def _load_index(root: str, sha: str, object_size: int, height: int, width: int) -> Pack:
    index = scan(Path(root))
    if index.sha256 != sha:
        raise AssetPackError(f"asset pack {root} changed while it was being read; expected a stable directory")
    r = index.root
    numbered = index.layout == "numbered"
    canvases = []
    for f, m, pad in zip(index.foregrounds, index.masks, index.fg_padding):
        if pad:
            canvases.append(None)
        elif numbered:
            canvases.append(_numbered_canvas(r, f, m, height, width))
        else:
            canvases.append(Canvas.of(centre_cutout(read_foreground(r, f, m), object_size, height, width)))
    bgs = np.zeros((len(index.backgrounds), height, width, 3), np.uint8)
    for i, (b, pad) in enumerate(zip(index.backgrounds, index.bg_padding)):
        if not pad:
            bgs[i] = read_background(r, b, height, width)
    return Pack("directory", index.sha256, index.classes, index.foregrounds,
                np.asarray(index.fg_class, np.int16), canvases, index.backgrounds, bgs, index.layout,
                0 if numbered else object_size, np.asarray(index.fg_padding, bool), np.asarray(index.bg_padding, bool),
                {"location": str(r), "class_file": index.class_file,
                 "masks": sum(1 for m in index.masks if m)})


def embedded_hash(height: int, width: int) -> str:
    """``sha256:<hex>`` of the embedded pack's cut-outs and backgrounds at this canvas size."""
    return _embedded_raw(height, width)[-1]


@lru_cache(maxsize=2)
def _embedded_raw(height: int, width: int):
    from . import animals

    names, labels, cutouts = [], [], []
    classes = tuple(animals.CLASSES)
    for c, name in enumerate(classes):
        for i in range(animals.INSTANCES):
            names.append(f"{name}_{i:02d}")
            labels.append(c)
            cutouts.append(animals.draw_animal(name, i))
    bg_names, bgs = [], []
    for kind in animals.LANDSCAPES:
        for i in range(animals.BACKGROUNDS_PER_KIND):
            bg_names.append(f"{kind}_{i:02d}")
            bgs.append(animals.landscape(kind, i, height, width))
    bgs = np.stack(bgs)
    h = hashlib.sha256()
    h.update(json.dumps([list(classes), names, bg_names]).encode())
    for c in cutouts:
        h.update(np.asarray(c.shape, np.int64).tobytes())
        h.update(c.tobytes())
    h.update(bgs.tobytes())
    return classes, tuple(names), np.asarray(labels, np.int16), cutouts, tuple(bg_names), bgs, "sha256:" + h.hexdigest()


@lru_cache(maxsize=2)
def embedded_pack(object_size: int, height: int, width: int) -> Pack:
    """The procedural pack of :mod:`animals` (built once per process and size): cut-outs centred on canvases."""
    classes, names, labels, cutouts, bg_names, bgs, sha = _embedded_raw(height, width)
    canvases = [Canvas.of(centre_cutout(c, object_size, height, width)) for c in cutouts]
    return Pack("embedded", sha, classes, names, labels, canvases, bg_names, bgs, "embedded", object_size,
                info={"location": "embedded (scenebench.generators.sources.animals)"})
