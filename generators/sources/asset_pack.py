"""Flying Animals asset packs: a directory reader with validation, the embedded pack, held-out splits.

Directory layout (the CIS paper's pack: 24 animal classes x 10 instances,
10 landscapes x 10 instances)::

    <pack>/
        backgrounds/   *.png | *.jpg | *.jpeg    landscapes, any size (subfolders allowed)
        foregrounds/   *.png (RGBA cut-outs)      animals (subfolders allowed: foregrounds/cat/01.png)
                       or *.png|*.jpg with a matching mask
        masks/         <same relative path>.png   optional: alpha of the foreground of the same name
        classes.json | classes.csv | classes.txt  optional

Where the pack is: the ``asset_dir`` option, else ``$SCENEBENCH_FLYING_ANIMALS``,
else ``$SCENEBENCH_CACHE/flying_animals`` (default ``~/.cache/scenebench/flying_animals``).
Hidden files (``.*``) are ignored.

Masks: ``masks/cat/01.png`` is the mask of ``foregrounds/cat/01.png`` (or of
``.jpg``). It must have the foreground's size; its gray level is the alpha
(a 0/1 mask is read as 0/255; palette or 16-bit label masks: non-zero = 255).
A mask wins over the foreground's own alpha channel. A foreground with
neither a mask nor a non-trivial alpha channel is an error.

Classes: without a classes file, a foreground's class is its subfolder
(``foregrounds/cat/01.png`` -> ``cat``) or, at the top level, its file stem
without a trailing number (``cat_01.png`` -> ``cat``). A classes file is
either a class list (one name per line, or a JSON list), which fixes the
class-id order (the inferred classes must all be in it), or a mapping from
foreground file to class (``file,class`` / ``file class`` lines, or a JSON
object ``{"cat_01.png": "cat"}`` or ``{"cat": ["cat_01.png", ...]}``) that
must cover every foreground. Class ids follow the class list, else sorted
class names. Asset ids index the sorted list of all foreground paths and
background ids the sorted list of all background paths, so they are the
same in every split.

Held-out split (``holdout_every`` = h, default 5): within each class,
foregrounds in file-name order, every h-th (positions h-1, 2h-1, ...) is
held out for the test split and the rest are train; backgrounds likewise in
file-name order over the whole pack (name them ``<landscape>_<instance>`` to
hold out the same number per landscape). The paper's 10 instances per class
give 8 train / 2 test instances. A class with fewer than h instances appears
only in train. ``holdout_every=0`` shares all assets between the splits.

Identity: :func:`content_hash` is the SHA-256 of a canonical listing of every
file the pack uses (role, relative path, SHA-256 of its bytes), so two packs
with different contents never share a fingerprint and the same pack gives
the same hash wherever it lies.
"""

from __future__ import annotations

import hashlib
import io
import json
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
LAYOUT = ("backgrounds/*.png|jpg, foregrounds/*.png (RGBA, or with masks/*.png of the same name), "
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
    """What a pack directory holds (paths relative to their folder, POSIX, sorted) and its content hash."""

    root: Path
    foregrounds: tuple  # relative to foregrounds/
    masks: tuple  # per foreground: relative path under masks/ or "" (use the alpha channel)
    classes: tuple  # class names in class-id order
    fg_class: tuple  # class id per foreground
    backgrounds: tuple  # relative to backgrounds/
    class_file: str  # "" when none
    sha256: str


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


def scan(root: str | os.PathLike) -> PackIndex:
    """Index a pack directory: folders, images, masks, classes; and its content hash (reads every file once)."""
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
    masks = []
    for f in fgs:
        m = f.rsplit(".", 1)[0] + ".png"
        masks.append(m if (mask_dir / m).is_file() else "")
    classes, fg_class, class_file = _assign_classes(root, fgs)
    listing = [("foreground", f, _sha(fg_dir / f)) for f in fgs]
    listing += [("mask", m, _sha(mask_dir / m)) for m in masks if m]
    listing += [("background", b, _sha(bg_dir / b)) for b in bgs]
    if class_file:
        listing.append(("classes", class_file, _sha(root / class_file)))
    digest = hashlib.sha256(json.dumps(listing, separators=(",", ":")).encode()).hexdigest()
    return PackIndex(root, tuple(fgs), tuple(masks), tuple(classes), tuple(fg_class), tuple(bgs), class_file,
                     "sha256:" + digest)


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


# ---------------------------------------------------------------- packs
@dataclass
class Pack:
    """A loaded asset pack (directory or embedded), shared by every split.

    ``sprites[i]``: PIL ``RGBa`` cut-out of foreground ``i`` (longest side
    ``longest`` px); ``backgrounds``: (B, H, W, 3) uint8; ``fg_class``:
    (F,) int16 class ids; names are the files (or ``class_instance``).
    """

    source: str  # "directory" | "embedded"
    sha256: str
    classes: tuple
    fg_names: tuple
    fg_class: np.ndarray
    sprites: list
    bg_names: tuple
    backgrounds: np.ndarray
    longest: int
    info: dict = field(default_factory=dict)

    def split_ids(self, asset_split: str, every: int) -> tuple[np.ndarray, np.ndarray]:
        """(foreground ids, background ids) of ``asset_split`` ("train" | "test" | "all"); see the module docstring."""
        fg_test = np.zeros(len(self.fg_names), bool)
        if every:
            for c in range(len(self.classes)):
                members = [i for i in np.flatnonzero(self.fg_class == c)]
                members.sort(key=lambda i: self.fg_names[i])
                for j, i in enumerate(members):
                    fg_test[i] = j % every == every - 1
        order = np.argsort(np.array(self.bg_names, dtype=object), kind="stable")
        bg_test = np.zeros(len(self.bg_names), bool)
        if every:
            bg_test[order] = (np.arange(len(order)) % every) == every - 1
        if asset_split == "all":
            return np.arange(len(self.fg_names)), np.arange(len(self.bg_names))
        pick_fg = fg_test if asset_split == "test" else ~fg_test
        pick_bg = bg_test if asset_split == "test" else ~bg_test
        if not every:
            pick_fg[:], pick_bg[:] = True, True
        fg, bg = np.flatnonzero(pick_fg), np.flatnonzero(pick_bg)
        if not len(fg) or not len(bg):
            what = "foregrounds" if not len(fg) else "backgrounds"
            raise AssetPackError(
                f"asset pack {self.info.get('location', self.source)}: the {asset_split} split gets no {what} with "
                f"holdout_every={every} ({len(self.fg_names)} foregrounds, {len(self.bg_names)} backgrounds); "
                f"expected at least {every} instances of a class and {every} backgrounds, or set holdout_every=0")
        return fg, bg

    def describe(self) -> dict:
        return {"source": self.source, "sha256": self.sha256, "classes": list(self.classes),
                "num_foregrounds": len(self.fg_names), "num_backgrounds": len(self.bg_names),
                "cutout_longest_side": self.longest, **self.info}


def load_directory(root: str | os.PathLike, longest: int, height: int, width: int) -> Pack:
    """Read and validate a pack directory (cached per process by location, content hash and sizes)."""
    index = scan(Path(root))
    return _load_index(str(Path(root)), index.sha256, longest, height, width)


@lru_cache(maxsize=4)
def _load_index(root: str, sha: str, longest: int, height: int, width: int) -> Pack:
    index = scan(Path(root))
    if index.sha256 != sha:
        raise AssetPackError(f"asset pack {root} changed while it was being read; expected a stable directory")
    r = index.root
    sprites = [normalize_cutout(read_foreground(r, f, m), longest) for f, m in zip(index.foregrounds, index.masks)]
    bgs = np.stack([read_background(r, b, height, width) for b in index.backgrounds])
    return Pack("directory", index.sha256, index.classes, index.foregrounds,
                np.asarray(index.fg_class, np.int16), sprites, index.backgrounds, bgs, longest,
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
def embedded_pack(longest: int, height: int, width: int) -> Pack:
    """The procedural pack of :mod:`animals` (built once per process and size)."""
    classes, names, labels, cutouts, bg_names, bgs, sha = _embedded_raw(height, width)
    sprites = [normalize_cutout(c, longest) for c in cutouts]
    return Pack("embedded", sha, classes, names, labels, sprites, bg_names, bgs, longest,
                {"location": "embedded (scenebench.generators.sources.animals)"})
