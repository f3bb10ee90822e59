"""Submissions: a model's predictions for one split of one dataset, as a file.

A submission is an HDF5 file (or a ``.npz``) holding any of these arrays,
N = samples in the split, ``L`` = the dataset's leading per-sample dims
(``()`` for still images, ``(T,)`` for sequences, ``(V,)`` for multi-view):

============== ======================== ============================================
field          shape                    meaning
============== ======================== ============================================
segmentation   (N, *L, H, W) integer    predicted label map, any ids in [0, 255]
masks          (N, *L, K, H, W)         soft/hard slot masks (argmax over K is taken;
               float/bool/int            used only when ``segmentation`` is absent)
num_objects    (N,) integer             predicted object count (>= 0)
log_weights    (N, S) float             importance log-weights log p(x,z_s) - log q(z_s|x), nats
elbo           (N,) float               evidence lower bound per sample, nats
reconstruction (N, *image shape)        float in [0, 1], or uint8 in [0, 255]
latents        (N, [*L,] K, D) float    slot latents (K >= 2); per view/frame optional
============== ======================== ============================================

plus text metadata: ``fingerprint`` (the dataset's, 64 hex digits), ``split``,
``method`` (required), ``paper`` and ``notes`` (optional). In HDF5 the arrays
are root datasets and the metadata root attributes; in ``.npz`` the metadata
are 0-d string arrays next to the arrays. :func:`write` compresses HDF5 like
the shards' default (deflate, with shuffle for items wider than a byte, plus
Fletcher-32 checksums: any HDF5 reader opens it), and writes no timestamps:
the same predictions give the same bytes, hence the same SHA-256. Reading
also accepts Blosc-compressed submissions.

Writing::

    from scenebench.evaluation import submission
    submission.write("preds.h5", dataset="data/multi_dsprites/cis/v1.0.0-seed0", split="test",
                     method="MONet", segmentation=labels, num_objects=counts)

or batch by batch for large splits (HDF5 only streams; ``.npz`` buffers)::

    with submission.Writer("preds.h5", dataset=d, split="test", method="MONet") as w:
        for batch in batches:
            w.append(segmentation=..., num_objects=...)

Submissions are untrusted input. :func:`open_submission` never unpickles
(``.npz`` members are parsed with ``allow_pickle=False`` semantics and only
numeric or fixed-size string dtypes), rejects object/variable-length/compound
dtypes, soft and external links, external or virtual HDF5 storage and groups,
learns every array's shape and dtype from its header before a byte of data is
read, and reads metadata as bounded text. Every problem raises
:class:`SubmissionError`, one line naming the field and what was expected.
"""

from __future__ import annotations

import io
import os
import re
import struct
import uuid
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from .. import __version__
from ..errors import ScenebenchError

FORMAT = "scenebench-submission/1"

FIELDS = {
    "segmentation": "(N[,V|T],H,W) integer labels in [0, 255]",
    "masks": "(N[,V|T],K,H,W) float/bool slot masks",
    "num_objects": "(N,) non-negative integer counts",
    "log_weights": "(N,S) float importance log-weights in nats",
    "elbo": "(N,) float ELBO in nats",
    "reconstruction": "(N,...) images, float in [0, 1] or uint8",
    "latents": "(N[,V|T],K,D) float slot latents",
}

# metadata key -> (required, max characters, newlines allowed)
META = {
    "format": (False, 64, False),
    "fingerprint": (True, 64, False),
    "split": (True, 64, False),
    "method": (True, 200, False),
    "paper": (False, 500, False),
    "notes": (False, 4000, True),
    "family": (False, 100, False),
    "preset": (False, 100, False),
    "dataset_version": (False, 32, False),
    "seed": (False, 32, False),
    "scenebench_version": (False, 32, False),
}

MAX_SLOTS = 256  # masks: K <= 256 so that argmax labels fit uint8 like the ground truth
MAX_LATENT_SLOTS = 4096
MAX_SAMPLES_S = 1_000_000  # importance samples per image
MAX_SAMPLE_BYTES = 256 * 2**20  # one sample of one field, uncompressed
MAX_CHUNK_BYTES = 64 * 2**20  # an HDF5 chunk is decompressed whole: bound it
MAX_SAMPLE_WORK = 64 * 2**20  # scoring memory per sample (float64 copies, K x K similarities): bound it too
_FLOATS = {"float16", "float32", "float64"}
_INTS = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


class SubmissionError(ScenebenchError):
    """A submission file or array that cannot be scored as it is."""


# what h5py / zipfile / numpy's header parser raise on damaged input
_CORRUPT = (OSError, RuntimeError, ValueError, KeyError, TypeError, IndexError, EOFError, OverflowError,
            zlib.error, zipfile.BadZipFile, struct.error)


# ---------------------------------------------------------------- the dataset a submission targets
@dataclass(frozen=True)
class Layout:
    """What the arrays of a submission for one split must look like.

    ``image_shape`` is the per-sample image shape from the manifest, e.g.
    ``(64, 64, 3)`` or ``(20, 64, 64, 3)``; ``lead`` its leading dims before
    the image itself (``()``, ``(T,)`` or ``(V,)``) and ``lead_kind`` what
    they are: ``""`` (still images), ``"frames"`` (sequences) or ``"views"``
    (multi-view: the dataset has ``camera/*`` features); ``hw`` is (H, W).
    ``track`` is ``"split"`` when the split's still images are the frames
    of one track (:class:`scenebench.config.Split`), else ``""``.
    """

    fingerprint: str
    family: str
    preset: str
    version: str
    seed: int
    split: str
    num_samples: int
    image_shape: tuple
    lead: tuple
    hw: tuple
    lead_kind: str
    gt_fields: frozenset
    track: str = ""

    @property
    def image_ndim(self) -> int:
        """Trailing dims of one image: 3 for (H, W, C), 2 for (H, W)."""
        return len(self.image_shape) - len(self.lead)

    @property
    def name(self) -> str:
        return f"{self.family}/{self.preset}"

    def describe(self) -> str:
        return f"split {self.split!r} of {self.name} v{self.version} seed {self.seed}"


def layout(manifest: Mapping, split: str) -> Layout:
    """The :class:`Layout` of ``split`` in a dataset manifest (dict)."""
    splits = manifest.get("splits", {})
    if split not in splits:
        raise SubmissionError(f"split: {split!r} is not a split of this dataset; splits: {', '.join(sorted(splits))}")
    feats = {f["name"]: f for f in manifest.get("features", {}).get(split, [])}
    if "image" not in feats:
        raise ScenebenchError(f"manifest: split {split!r} declares no 'image' feature; expected a scenebench manifest")
    image_shape = tuple(int(s) for s in feats["image"]["shape"])
    if "segmentation" in feats:  # (*lead, H, W): unambiguous, whether images have a channel axis or not
        seg = tuple(int(s) for s in feats["segmentation"]["shape"])
        lead, hw = seg[:-2], seg[-2:]
    elif len(image_shape) == 2:  # (H, W) grayscale without a channel axis
        lead, hw = (), image_shape
    else:
        lead, hw = image_shape[:-3], image_shape[-3:-1]
    if len(lead) > 1 or len(hw) != 2 or tuple(image_shape[len(lead):len(lead) + 2]) != tuple(hw):
        raise ScenebenchError(f"manifest: image shape {image_shape} does not fit (*lead, H, W[, C]) with at most "
                              "one leading dim; not supported")
    kind = ""
    if lead:
        kind = "views" if any(n.startswith("camera") for n in feats) else "frames"
    ident = manifest.get("identity", {})
    split_ident = ((ident.get("config") or {}).get("splits") or {}).get(split) or {}
    track = "split" if split_ident.get("track") == "split" and not kind else ""
    return Layout(fingerprint=manifest["fingerprint"], family=str(ident.get("family", "?")),
                  preset=str(ident.get("preset", "?")), version=str(ident.get("version", "?")),
                  seed=int(ident.get("seed", 0)), split=split, num_samples=int(splits[split]["num_samples"]),
                  image_shape=image_shape, lead=tuple(lead), hw=tuple(hw), lead_kind=kind,
                  gt_fields=frozenset(feats), track=track)


def _dims(lay: Layout) -> str:
    return {"": "", "frames": "T,", "views": "V,"}[lay.lead_kind]


def check_declared(name: str, shape: tuple, dtype: np.dtype, lay: Layout) -> None:
    """Check a field's declared shape and dtype against the dataset (no data read)."""
    if name not in FIELDS:
        raise SubmissionError(f"{name}: unknown field; expected any of {', '.join(FIELDS)}")
    shape = tuple(int(s) for s in shape)
    dtype = np.dtype(dtype)
    N, lead, (H, W) = lay.num_samples, lay.lead, lay.hw
    if not shape or shape[0] != N:
        got = shape[0] if shape else "a scalar"
        raise SubmissionError(f"{name}: expected {N} samples ({lay.describe()}), got {got} (shape {shape})")
    d = _dims(lay)
    if name == "segmentation":
        want, what = (N, *lead, H, W), f"(N,{d}H,W)"
    elif name == "masks":
        K = shape[-3] if len(shape) == 3 + len(lead) + 1 else None
        if K is None or not 1 <= K <= MAX_SLOTS:
            raise SubmissionError(f"{name}: expected shape (N,{d}K,H,W) = ({N}, {''.join(f'{x}, ' for x in lead)}K, "
                                  f"{H}, {W}) with 1 <= K <= {MAX_SLOTS}, got {shape}")
        want, what = (N, *lead, K, H, W), f"(N,{d}K,H,W)"
    elif name in ("num_objects", "elbo"):
        want, what = (N,), "(N,)"
    elif name == "log_weights":
        if len(shape) != 2 or not 1 <= shape[1] <= MAX_SAMPLES_S:
            raise SubmissionError(f"{name}: expected shape (N, S) = ({N}, S) with 1 <= S <= {MAX_SAMPLES_S:,}, got {shape}")
        want, what = shape, "(N,S)"
    elif name == "reconstruction":
        img = lay.image_shape
        want, what = (N, *img), f"(N,{d}H,W{',C' if lay.image_ndim == 3 else ''}), the image shape"
    else:  # latents: per sample (N, K, D), or per view / frame (N, *lead, K, D)
        per_view = bool(lead) and len(shape) == 3 + len(lead)
        if len(shape) not in (3, 3 + len(lead)) or not 2 <= shape[-2] <= MAX_LATENT_SLOTS or shape[-1] < 1:
            views = f" or (N, {d}K, D) per {'view' if lay.lead_kind == 'views' else 'frame'}" if lead else ""
            raise SubmissionError(f"{name}: expected shape (N, K, D) = ({N}, K, D){views} with "
                                  f"2 <= K <= {MAX_LATENT_SLOTS} and D >= 1, got {shape}")
        want, what = ((N, *lead, *shape[-2:]), f"(N,{d}K,D)") if per_view else (shape, "(N,K,D)")
    if shape != tuple(want):
        raise SubmissionError(f"{name}: expected shape {what} = {tuple(want)} for {lay.describe()}, got {shape}")
    _check_dtype(name, dtype)
    per_sample = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
    if per_sample > MAX_SAMPLE_BYTES:
        raise SubmissionError(f"{name}: {per_sample:,} bytes per sample; expected at most {MAX_SAMPLE_BYTES:,}")
    work = working_bytes(name, shape)
    if work > MAX_SAMPLE_WORK:
        raise SubmissionError(f"{name}: shape {shape} needs {work:,} bytes per sample to score; expected at most "
                              f"{MAX_SAMPLE_WORK:,} (fewer slots or dimensions)")


def working_bytes(name: str, shape: tuple) -> int:
    """Memory the metrics need per sample of field ``name`` (declared ``shape``), beyond the input itself.

    The scorer sizes its blocks by this too, so a tiny file declaring huge
    dimensions cannot make it allocate more than it planned.
    """
    n = int(np.prod(shape[1:], dtype=np.int64))
    if name == "latents":  # float64 copy and unit vectors (K*D each), K x K similarities and their off-diagonal
        K = int(shape[-2])
        views = int(np.prod(shape[1:-2], dtype=np.int64))
        return 2 * n * 8 + 2 * K * K * 8 * views
    if name == "masks":  # float64 view for the argmax, int64 labels
        return n * 8 + (n // max(int(shape[-3]), 1)) * 8
    return 2 * n * 8  # float64 copies (logsumexp, squared errors, label compaction)


def _check_dtype(name: str, dtype: np.dtype) -> None:
    dt = np.dtype(dtype)
    base = dt.newbyteorder("=").name if dt.kind in "iuf" else dt.name
    if name in ("segmentation", "num_objects"):
        ok, want = base in _INTS, "an integer dtype (uint8, int32, int64, ...)"
    elif name == "masks":
        ok, want = base in _INTS | _FLOATS or dt.kind == "b", "bool, integer or float16/32/64"
    elif name == "reconstruction":
        ok, want = base in _FLOATS or base == "uint8", "float16/32/64 in [0, 1] or uint8 in [0, 255]"
    else:
        ok, want = base in _FLOATS, "float16/32/64"
    if not ok:
        raise SubmissionError(f"{name}: expected {want}, got dtype {dt}")


def check_values(name: str, a: np.ndarray, start: int = 0) -> None:
    """Check the values of samples ``start .. start+len(a)`` of a field (ranges, finiteness)."""
    if a.size == 0:
        return

    def where(mask) -> str:
        i = int(np.argmax(mask.reshape(len(a), -1).any(axis=1)))
        return f"sample {start + i}"

    if a.dtype.kind == "f" and not np.isfinite(a).all():
        bad = ~np.isfinite(a)
        kind = "NaN" if np.isnan(a).any() else "inf"
        raise SubmissionError(f"{name}: expected finite values, got {kind} ({where(bad)})")
    if name == "segmentation":
        lo, hi = a.min(), a.max()
        if lo < 0 or hi > 255:
            v = lo if lo < 0 else hi
            raise SubmissionError(f"{name}: expected labels in [0, 255], got {v} ({where((a < 0) | (a > 255))})")
    elif name == "num_objects":
        if a.min() < 0:
            raise SubmissionError(f"{name}: expected non-negative counts, got {a.min()} ({where(a < 0)})")
    elif name == "reconstruction" and a.dtype.kind == "f":
        if a.min() < 0 or a.max() > 1:
            v = a.min() if a.min() < 0 else a.max()
            raise SubmissionError(f"{name}: expected float values in [0, 1] (clip them), got {float(v):g} "
                                  f"({where((a < 0) | (a > 1))})")


def check_meta(meta: Mapping[str, str]) -> dict:
    """Check metadata values (bounded printable text, required keys); return a clean dict."""
    out = {}
    for key, (required, limit, newlines) in META.items():
        v = meta.get(key)
        if v is None:
            if required:
                what = {"fingerprint": "the dataset fingerprint (64 hex digits, from its manifest)",
                        "split": "the split name", "method": "the method name"}[key]
                raise SubmissionError(f"{key}: missing; expected {what} (scenebench.evaluation.submission.write records it)")
            continue
        if not isinstance(v, str):
            raise SubmissionError(f"{key}: expected text, got {type(v).__name__}")
        if len(v) > limit:
            raise SubmissionError(f"{key}: expected at most {limit} characters, got {len(v):,}")
        m = _CONTROL.search(v.replace("\n", "").replace("\t", "") if newlines else v)
        if m:
            raise SubmissionError(f"{key}: expected printable text, got control character U+{ord(m.group()):04X}")
        out[key] = v
    if not out["method"].strip():
        raise SubmissionError("method: expected a non-empty method name")
    if not _HEX64.fullmatch(out["fingerprint"]):
        raise SubmissionError(f"fingerprint: expected 64 lowercase hex digits, got {out['fingerprint'][:80]!r}")
    if "format" in out and out["format"] != FORMAT:
        raise SubmissionError(f"format: expected {FORMAT!r}, got {out['format']!r}")
    return out


# ---------------------------------------------------------------- writing
def _as_array(name: str, x) -> np.ndarray:
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor, without importing torch
        x = x.detach().cpu().numpy()
    a = np.asarray(x)
    if a.dtype.kind not in "biuf":
        raise SubmissionError(f"{name}: expected a numeric array, got dtype {a.dtype}")
    return a


def _dataset_manifest(dataset) -> dict:
    if isinstance(dataset, Mapping):
        for key in ("fingerprint", "identity", "splits", "features"):
            if key not in dataset:
                raise SubmissionError(f"dataset: manifest dict has no {key!r}; expected a scenebench manifest")
        return dict(dataset)
    from ..datasets.reader import resolve_dataset
    from ..datasets.manifest import read_manifest

    return read_manifest(resolve_dataset(dataset))


class Writer:
    """Write a submission batch by batch; the file appears (atomically) on :meth:`close`.

    Every :meth:`append` gives the next consecutive samples of the same
    fields (same batch length for all of them). Shapes, dtypes and values are
    checked against the dataset as they arrive; ``close`` checks that all N
    samples were given. ``.h5`` files stream to disk; ``.npz`` buffers in
    memory. On an error (or an exception inside ``with``) nothing is left
    behind.
    """

    def __init__(self, path, *, dataset, split: str, method: str, paper: str | None = None,
                 notes: str | None = None):
        manifest = _dataset_manifest(dataset)
        self.layout = layout(manifest, split)
        ident = manifest.get("identity", {})
        meta = {"format": FORMAT, "fingerprint": manifest["fingerprint"], "split": split, "method": method,
                "family": str(ident.get("family", "")), "preset": str(ident.get("preset", "")),
                "dataset_version": str(ident.get("version", "")), "seed": str(ident.get("seed", "")),
                "scenebench_version": __version__}
        if paper is not None:
            meta["paper"] = paper
        if notes is not None:
            meta["notes"] = notes
        self.meta = check_meta(meta)
        self.path = Path(path)
        if self.path.is_dir():
            raise SubmissionError(f"{self.path}: is a directory; expected a submission file path (.h5 or .npz)")
        self.npz = self.path.suffix.lower() == ".npz"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        self.rows = 0
        self.fields: tuple | None = None
        self._buffers: dict = {}
        self._h5 = None
        self._closed = False

    def append(self, **arrays) -> None:
        """Add the next samples of every field (``name=array`` with a leading batch dim)."""
        if self._closed:
            raise SubmissionError("submission writer: already closed")
        if not arrays:
            raise SubmissionError(f"no arrays given; expected any of {', '.join(FIELDS)}")
        unknown = [k for k in arrays if k not in FIELDS]
        if unknown:
            raise SubmissionError(f"{unknown[0]}: unknown field; expected any of {', '.join(FIELDS)}")
        arrs = {k: _as_array(k, v) for k, v in arrays.items()}
        if self.fields is None:
            self.fields = tuple(arrs)
        elif set(arrs) != set(self.fields):
            raise SubmissionError(f"append: expected the fields {', '.join(self.fields)} in every call, "
                                  f"got {', '.join(arrs)}")
        sizes = {k: (a.shape[0] if a.ndim else 0) for k, a in arrs.items()}
        n = next(iter(sizes.values()))
        if len(set(sizes.values())) != 1:
            raise SubmissionError(f"append: expected the same number of samples in every field, got {sizes}")
        N = self.layout.num_samples
        if self.rows + n > N:
            raise SubmissionError(f"append: {self.rows + n} samples given; expected {N} ({self.layout.describe()})")
        for k, a in arrs.items():
            if a.ndim == 0:
                raise SubmissionError(f"{k}: expected an array with a leading sample dim, got a scalar")
            check_declared(k, (N,) + a.shape[1:], a.dtype, self.layout)
            check_values(k, a, self.rows)
            if k == "segmentation":
                arrs[k] = a.astype(np.uint8)  # checked to lie in [0, 255]
        if self.npz:
            for k, a in arrs.items():
                self._buffers.setdefault(k, []).append(np.array(a, order="C"))
        else:
            self._h5_append(arrs)
        self.rows += n

    def _h5_append(self, arrs: dict) -> None:
        import h5py

        from ..datasets.codecs import CODECS

        if self._h5 is None:
            self._h5 = h5py.File(self.tmp, "w")
            for key, v in self.meta.items():
                self._h5.attrs[key] = v
            N = self.layout.num_samples
            for k, a in arrs.items():
                per = max(1, int(np.prod(a.shape[1:], dtype=np.int64)) * a.dtype.itemsize)
                rows = int(max(1, min(N, 2**20 // per)))
                # deflate (+ shuffle for wide items) + Fletcher-32, like the shards: any HDF5 reader opens
                # the file, and a damaged chunk is an error on read
                self._h5.create_dataset(k, shape=(N,) + a.shape[1:], dtype=a.dtype, chunks=(rows,) + a.shape[1:],
                                        track_times=False, fillvalue=np.zeros((), a.dtype),
                                        **CODECS["deflate"].dataset_kwargs(a.dtype))
        for k, a in arrs.items():
            ds = self._h5[k]
            if ds.shape[1:] != a.shape[1:] or ds.dtype != a.dtype:
                raise SubmissionError(f"{k}: expected shape (n,{','.join(map(str, ds.shape[1:]))}) and dtype {ds.dtype} "
                                      f"like the first batch, got {a.shape} {a.dtype}")
            ds[self.rows:self.rows + len(a)] = a

    def close(self) -> Path:
        """Check completeness, finish the file and move it into place; return its path."""
        if self._closed:
            return self.path
        try:
            N = self.layout.num_samples
            if self.rows != N:
                raise SubmissionError(f"{', '.join(self.fields or ('arrays',))}: {self.rows} samples given; "
                                      f"expected {N} ({self.layout.describe()})")
            if self.npz:
                _write_npz(self.tmp, self.meta, {k: np.concatenate(v) for k, v in self._buffers.items()})
            else:
                self._h5.flush()
                os.fsync(self._h5.id.get_vfd_handle())
                self._h5.close()
                self._h5 = None
            os.replace(self.tmp, self.path)
        except BaseException:
            self.abort()
            raise
        self._closed = True
        return self.path

    def abort(self) -> None:
        """Drop everything written so far."""
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None
        self.tmp.unlink(missing_ok=True)
        self._buffers = {}
        self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False


def write(path, *, dataset, split: str, method: str, paper: str | None = None, notes: str | None = None,
          **arrays) -> Path:
    """Write a submission for ``split`` of ``dataset`` (a dataset directory or its manifest dict).

    ``arrays``: any of ``segmentation``, ``masks``, ``num_objects``,
    ``log_weights``, ``elbo``, ``reconstruction``, ``latents`` (numpy arrays
    or CPU tensors, shapes in the module docstring). Everything is checked
    against the dataset first (:class:`SubmissionError` on a mismatch, and
    nothing is written). ``path`` ending in ``.npz`` writes a NumPy archive,
    anything else HDF5. The file appears atomically; same inputs give the
    same bytes.
    """
    w = Writer(path, dataset=dataset, split=split, method=method, paper=paper, notes=notes)
    try:
        w.append(**arrays)
    except BaseException:
        w.abort()
        raise
    return w.close()


def _write_npz(path: Path, meta: dict, arrays: dict) -> None:
    """A deterministic .npz (fixed member timestamps), fsynced."""
    with open(path, "wb") as fh:
        with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
            items = [(k, np.array(v)) for k, v in meta.items()] + list(arrays.items())
            for name, a in items:
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                with zf.open(info, "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asarray(a, order="C"), allow_pickle=False)
        fh.flush()
        os.fsync(fh.fileno())


# ---------------------------------------------------------------- reading
class Submission:
    """An opened, header-checked submission: ``meta``, ``fields`` and block reads.

    ``fields`` maps each array name to ``(shape, dtype)`` as declared in the
    file (nothing read yet); :meth:`read` returns samples ``start:stop``.
    Picklable: an HDF5 submission re-opens its file in another process.
    """

    format = ""

    def __init__(self, path: Path):
        self.path = path
        self.meta: dict = {}
        self.fields: dict = {}

    def read(self, name: str, start: int, stop: int) -> np.ndarray:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    @property
    def random_access(self) -> bool:
        """True when any block can be read cheaply from any process (HDF5)."""
        return False


def open_submission(path) -> Submission:
    """Open and check a submission's container, metadata and array headers (reads no array data)."""
    p = Path(path)
    if not p.exists():
        raise SubmissionError(f"{p}: no such file; expected a submission file (.h5 or .npz)")
    if p.is_dir():
        raise SubmissionError(f"{p}: is a directory; expected a submission file (.h5 or .npz)")
    if not p.is_file():
        raise SubmissionError(f"{p}: not a regular file; expected a submission file (.h5 or .npz)")
    size = p.stat().st_size
    if size == 0:
        raise SubmissionError(f"{p}: empty file; expected an HDF5 or .npz submission")
    try:
        with open(p, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise SubmissionError(f"{p}: cannot read ({exc.strerror or exc})") from None
    if head.startswith(b"PK"):
        sub = _NpzSubmission(p)
    elif head == _HDF5_MAGIC or _has_userblock_magic(p, size):
        sub = _H5Submission(p)
    else:
        raise SubmissionError(f"{p}: not an HDF5 or .npz file (starts with {head[:8]!r})")
    try:
        sub._open_and_check()
    except SubmissionError:
        sub.close()
        raise
    except _CORRUPT as exc:
        sub.close()
        what = "HDF5" if sub.format == "hdf5" else ".npz"
        raise SubmissionError(f"{p}: corrupt or truncated {what} file ({_one_line(exc)})") from None
    except BaseException:
        sub.close()
        raise
    return sub


def _has_userblock_magic(p: Path, size: int) -> bool:
    off = 512  # an HDF5 superblock may follow a user block of 512 * 2**k bytes
    with open(p, "rb") as fh:
        while off + 8 <= size and off <= 2**20:
            fh.seek(off)
            if fh.read(8) == _HDF5_MAGIC:
                return True
            off *= 2
    return False


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else exc.__class__.__name__)[:200]


class _H5Submission(Submission):
    format = "hdf5"

    def __init__(self, path: Path):
        super().__init__(path)
        self._f = None
        self._pid = None

    @property
    def random_access(self) -> bool:
        return True

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_f"], state["_pid"] = None, None
        return state

    def _file(self):
        import h5py
        import hdf5plugin  # noqa: F401  (a submission may use Blosc)

        if self._f is None or self._pid != os.getpid():
            try:
                self._f = h5py.File(self.path, "r")
            except _CORRUPT as exc:
                raise SubmissionError(f"{self.path}: cannot open as HDF5 (truncated or corrupt file: "
                                      f"{_one_line(exc)})") from None
            self._pid = os.getpid()
        return self._f

    def _open_and_check(self) -> None:
        import h5py

        f = self._file()
        try:
            names = list(f.keys())
        except _CORRUPT as exc:
            raise SubmissionError(f"{self.path}: cannot list the file's contents (corrupt HDF5: {_one_line(exc)})") from None
        for name in names:
            try:
                link = f.get(name, getlink=True)
            except _CORRUPT as exc:
                raise SubmissionError(f"{name}: cannot read this entry (corrupt HDF5: {_one_line(exc)})") from None
            if isinstance(link, (h5py.SoftLink, h5py.ExternalLink)):
                kind = "an external link" if isinstance(link, h5py.ExternalLink) else "a soft link"
                raise SubmissionError(f"{name}: is {kind}; expected a plain dataset in the file")
            if name not in FIELDS:
                raise SubmissionError(f"{name[:80]!r}: unknown field; expected any of {', '.join(FIELDS)}")
            try:
                obj = f[name]
            except _CORRUPT as exc:
                raise SubmissionError(f"{name}: cannot open (corrupt HDF5: {_one_line(exc)})") from None
            if not isinstance(obj, h5py.Dataset):
                raise SubmissionError(f"{name}: is a group; expected an array dataset {FIELDS[name]}")
            try:
                dtype, shape, chunks = obj.dtype, tuple(obj.shape or ()), obj.chunks
                external, virtual = obj.external, obj.is_virtual
            except _CORRUPT as exc:
                raise SubmissionError(f"{name}: unreadable header (corrupt HDF5: {_one_line(exc)})") from None
            if external or virtual:
                raise SubmissionError(f"{name}: stored in {'external files' if external else 'other files (virtual)'}; "
                                      "expected its data inside the submission file")
            if dtype.kind not in "biuf" or dtype.names is not None or dtype.subdtype is not None:
                raise SubmissionError(f"{name}: expected a numeric array {FIELDS[name]}, got dtype {dtype}")
            if chunks is not None:
                cbytes = int(np.prod(chunks, dtype=np.int64)) * dtype.itemsize
                if cbytes > MAX_CHUNK_BYTES:
                    raise SubmissionError(f"{name}: HDF5 chunks of {cbytes:,} bytes; expected at most "
                                          f"{MAX_CHUNK_BYTES:,} (write smaller chunks)")
            _check_dtype(name, dtype)
            self.fields[name] = (shape, dtype)
        raw = {}
        for key in META:
            if key in f.attrs:
                raw[key] = self._attr_text(f, key, META[key][1])
        self.meta = check_meta(raw)

    @staticmethod
    def _attr_text(f, key: str, limit: int) -> str:
        import h5py

        try:
            aid = h5py.h5a.open(f.id, key.encode())
            dt, shape = aid.dtype, aid.shape
        except _CORRUPT as exc:
            raise SubmissionError(f"{key}: unreadable attribute ({_one_line(exc)})") from None
        info = h5py.check_string_dtype(dt)
        if info is None or shape not in ((), None):
            raise SubmissionError(f"{key}: expected a text attribute, got {dt} with shape {shape}")
        if info.length is not None and info.length > 4 * limit:
            raise SubmissionError(f"{key}: expected at most {limit} characters, got a {info.length}-byte string")
        try:
            v = f.attrs[key]
        except _CORRUPT as exc:
            raise SubmissionError(f"{key}: unreadable attribute ({_one_line(exc)})") from None
        if isinstance(v, np.ndarray):
            v = v.item() if v.shape == () else None
        if isinstance(v, (bytes, np.bytes_)):
            try:
                v = bytes(v).decode("utf-8")
            except UnicodeDecodeError:
                raise SubmissionError(f"{key}: expected UTF-8 text") from None
        if not isinstance(v, str):
            raise SubmissionError(f"{key}: expected a text attribute")
        return v.rstrip("\x00")

    def read(self, name: str, start: int, stop: int) -> np.ndarray:
        try:
            a = self._file()[name][start:stop]
        except SubmissionError:
            raise
        except _CORRUPT as exc:
            raise SubmissionError(f"{name}: cannot read samples {start}-{stop - 1} (truncated or corrupt file: "
                                  f"{_one_line(exc)})") from None
        return a

    def close(self) -> None:
        if self._f is not None and self._pid == os.getpid():
            try:
                self._f.close()
            except Exception:  # a corrupt file may fail to close; nothing else to do
                pass
        self._f = None


class _NpzSubmission(Submission):
    """A ``.npz`` submission read member by member, forward, in bounded blocks.

    Members are parsed with numpy's header reader (no pickle); data is read
    as raw bytes with ``np.frombuffer``. A member's stream only moves
    forward: a backward read re-opens it.
    """

    format = "npz"

    def __init__(self, path: Path):
        super().__init__(path)
        self._zip = None
        self._members: dict = {}  # name -> ZipInfo
        self._offsets: dict = {}  # name -> header length
        self._streams: dict = {}  # name -> (stream, next row)

    def __getstate__(self):
        raise TypeError("a .npz submission is read in one process")

    def _open_and_check(self) -> None:
        try:
            self._zip = zipfile.ZipFile(self.path)
            infos = self._zip.infolist()
        except _CORRUPT as exc:
            raise SubmissionError(f"{self.path}: not a readable .npz (zip) file ({_one_line(exc)})") from None
        raw = {}
        seen = set()
        for info in infos:
            fname = info.filename
            if not fname.endswith(".npy"):
                raise SubmissionError(f"{fname[:80]!r}: unexpected member in the .npz; expected NAME.npy arrays")
            name = fname[:-4]
            if name in seen:
                raise SubmissionError(f"{name[:80]!r}: appears twice in the .npz; expected each field once")
            seen.add(name)
            if name not in FIELDS and name not in META:
                raise SubmissionError(f"{name[:80]!r}: unknown field; expected any of {', '.join(FIELDS)} "
                                      f"(and metadata {', '.join(META)})")
            shape, fortran, dtype, hlen = self._header(info, name)
            if fortran and len(shape) > 1:
                raise SubmissionError(f"{name}: stored in Fortran order; expected a C-order array (np.ascontiguousarray)")
            nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            if info.file_size != hlen + nbytes:
                raise SubmissionError(f"{name}: member holds {info.file_size:,} bytes; its header declares "
                                      f"{hlen + nbytes:,} (truncated or corrupt .npz)")
            if name in META:
                if dtype.kind not in "US" or shape != ():
                    raise SubmissionError(f"{name}: expected a text scalar (0-d str array), got {dtype} {shape}")
                limit = META[name][1]
                if dtype.itemsize > 4 * limit + 4:
                    raise SubmissionError(f"{name}: expected at most {limit} characters, got a {dtype.itemsize}-byte string")
                raw[name] = self._read_text(info, name, dtype, hlen)
                continue
            if dtype.kind not in "biuf" or dtype.names is not None:
                raise SubmissionError(f"{name}: expected a numeric array {FIELDS[name]}, got dtype {dtype}")
            _check_dtype(name, dtype)
            self._members[name] = info
            self._offsets[name] = hlen
            self.fields[name] = (tuple(shape), dtype)
        self.meta = check_meta(raw)

    def _header(self, info, name):
        try:
            with self._zip.open(info) as fh:
                version = np.lib.format.read_magic(fh)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh, max_header_size=10000)
                elif version in ((2, 0), (3, 0)):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh, max_header_size=10000)
                else:
                    raise ValueError(f"unsupported .npy version {version}")
                hlen = fh.tell()
        except SubmissionError:
            raise
        except Exception as exc:  # numpy's header parser raises ValueError/SyntaxError/...; all mean "bad member"
            raise SubmissionError(f"{name}: unreadable .npy header ({_one_line(exc)}); expected a numpy array") from None
        if dtype.hasobject:
            raise SubmissionError(f"{name}: object dtype; expected a numeric array (pickled data is never loaded)")
        return tuple(shape), fortran, dtype, hlen

    def _read_text(self, info, name, dtype, hlen) -> str:
        try:
            with self._zip.open(info) as fh:
                fh.read(hlen)
                data = fh.read(dtype.itemsize + 1)
        except _CORRUPT as exc:
            raise SubmissionError(f"{name}: unreadable ({_one_line(exc)}; corrupt .npz)") from None
        if len(data) != dtype.itemsize:
            raise SubmissionError(f"{name}: truncated text member")
        v = np.frombuffer(data, dtype=dtype).reshape(()).item()
        if isinstance(v, bytes):
            try:
                v = v.decode("utf-8")
            except UnicodeDecodeError:
                raise SubmissionError(f"{name}: expected UTF-8 text") from None
        return v

    def read(self, name: str, start: int, stop: int) -> np.ndarray:
        shape, dtype = self.fields[name]
        row = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
        stream, pos = self._streams.get(name, (None, None))
        try:
            if stream is None or start < pos:
                if stream is not None:
                    stream.close()
                stream = self._zip.open(self._members[name])
                _read_exact(stream, self._offsets[name])
                pos = 0
            skip = (start - pos) * row
            while skip > 0:
                skip -= len(_read_exact(stream, min(skip, 2**24)))
            data = _read_exact(stream, (stop - start) * row)
            if stop == shape[0] and stream.read(1):  # at the end: no trailing bytes; also checks the CRC
                raise ValueError("trailing bytes after the array")
        except _CORRUPT as exc:
            self._streams.pop(name, None)
            raise SubmissionError(f"{name}: cannot read samples {start}-{stop - 1} (truncated or corrupt .npz: "
                                  f"{_one_line(exc)})") from None
        self._streams[name] = (stream, stop)
        return np.frombuffer(data, dtype=dtype).reshape((stop - start,) + tuple(shape[1:]))

    def close(self) -> None:
        for stream, _ in self._streams.values():
            stream.close()
        self._streams = {}
        if self._zip is not None:
            self._zip.close()
            self._zip = None


def _read_exact(stream, n: int) -> bytes:
    buf = io.BytesIO()
    while n > 0:
        chunk = stream.read(min(n, 2**24))
        if not chunk:
            raise EOFError("unexpected end of data")
        buf.write(chunk)
        n -= len(chunk)
    return buf.getvalue()


def load(path) -> tuple[dict, dict]:
    """Read a whole (small) submission: ``(meta, {field: array})``; checks container and headers only."""
    with open_submission(path) as sub:
        arrays = {k: np.array(sub.read(k, 0, shape[0] if shape else 0)) for k, (shape, _) in sub.fields.items()}
        return dict(sub.meta), arrays


__all__ = ["FIELDS", "FORMAT", "Layout", "Submission", "SubmissionError", "Writer", "check_declared",
           "check_meta", "check_values", "layout", "load", "open_submission", "write"]
