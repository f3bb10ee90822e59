"""SMPL body models: official SMPL files read without chumpy, and a procedural body in SMPL's layout.

Two sources of an SMPL-layout body model, both usable through ``smplx.SMPL``
(:func:`smplx_model`), which also poses them for
rendering (:class:`Poser`, many bodies per call):

``smpl`` — the licensed SMPL model files
    ``SMPL_NEUTRAL.pkl`` / ``SMPL_FEMALE.pkl`` / ``SMPL_MALE.pkl`` (smplx's
    names) or the original ``basicModel_neutral_lbs_10_207_0_v1.0.0.pkl``,
    ``basicmodel_{f,m}_lbs_10_207_0_v1.0.0.pkl`` names, looked up in an
    explicit directory (or file), else ``$SCENEBENCH_SMPL_DIR``, else the
    cache ``$SCENEBENCH_CACHE/smpl`` (default ``~/.cache/scenebench/smpl``),
    each also in a ``smpl/`` subfolder (smplx's ``models/smpl`` layout).
    The official pickles hold ``chumpy`` objects (``shapedirs``) and a
    ``scipy.sparse`` ``J_regressor``; chumpy does not work on Python 3.11,
    so :func:`read_model_file` reads them with a restricted unpickler that
    never imports chumpy: ``chumpy.*`` classes become an inert stand-in
    whose pickled state (``x``: the array) is turned into a numpy array,
    sparse matrices are rebuilt from their ``data/indices/indptr/shape``,
    and every other global except numpy's array reconstruction is refused.

``embedded`` — a procedural body model built here
    24 joints with SMPL's joint order and ``kintree_table``, a closed mesh of
    a human body (head with nose and ears, neck, torso, arms, mitten hands
    with thumbs, legs, feet) obtained by marching cubes on a smooth union of
    a swept-ellipse torso, ellipsoids and tapered capsules (~5,000
    vertices), ``shapedirs`` (V, 3, 10) with ten named shape directions
    (:data:`SHAPE_DIRECTIONS`),
    ``posedirs`` (V, 3, 207) with a joint-bulge corrective (vertices around
    a bending joint move outward by 1 cm x (1 - cos angle)), smooth LBS
    ``weights`` (V, 24) from the primitives' soft-min membership diffused
    over the mesh, and a ``J_regressor`` (24, V) that reproduces the joints
    exactly from the template's surface around each joint. It is built
    deterministically on first use (a few seconds) and saved in SMPL's own
    pickle layout (``v_template``, ``shapedirs``, ``posedirs``,
    ``J_regressor`` as ``scipy.sparse.csc_matrix``, ``J``, ``weights``,
    ``kintree_table``, ``f``, ``bs_type``, ``bs_style``, plus
    ``vertex_ids``: the vertices smplx uses for its extra keypoints, since
    smplx's defaults index SMPL's 6,890-vertex topology) as
    ``$SCENEBENCH_CACHE/smpl/embedded-v<EMBEDDED_VERSION>/SMPL_NEUTRAL.pkl``.

Coordinates follow SMPL: metres, y up, the body faces +z, its left is +x.
:func:`content_sha256` hashes the arrays smplx uses (not the file bytes,
which depend on the numpy/scipy versions that pickled them).
"""

from __future__ import annotations

import _compat_pickle
import contextlib
import hashlib
import io
import os
import pickle
import uuid
from functools import lru_cache
from pathlib import Path

import numpy as np

from scenebench.errors import DatasetError

from . import cache

NUM_JOINTS = 24
NUM_BETAS = 10
SMPL_NUM_VERTICES = 6890  # the official SMPL mesh
JOINT_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hand", "right_hand",
)
PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)
REQUIRED_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")
GENDERS = ("neutral", "female", "male")
EMBEDDED_VERSION = "1"
SHAPE_DIRECTIONS = (
    "overall size (uniform scale about the feet, +3.5% per unit)",
    "girth (flesh away from the bones, +8% per unit)",
    "leg length (+3.5 cm per unit)",
    "torso length (+2.5 cm per unit)",
    "shoulder width (+1.5 cm per side per unit)",
    "arm length (+3 cm per unit)",
    "hip width (+1 cm per side per unit)",
    "belly (+1.5 cm forward per unit)",
    "chest (+1.2 cm forward per unit)",
    "head size (+5% per unit)",
)
# the keypoint vertices smplx's VertexJointSelector needs
VERTEX_ID_KEYS = ("nose", "reye", "leye", "rear", "lear", "rthumb", "rindex", "rmiddle", "rring", "rpinky",
                  "lthumb", "lindex", "lmiddle", "lring", "lpinky", "LBigToe", "LSmallToe", "LHeel",
                  "RBigToe", "RSmallToe", "RHeel")


class SmplModelError(DatasetError):
    """SMPL model files that are missing, unreadable or not in SMPL's layout."""


# ---------------------------------------------------------------- locations
def cache_dir() -> Path:
    """``$SCENEBENCH_CACHE/smpl``, default ``~/.cache/scenebench/smpl``."""
    return cache.cache_dir("smpl")


def search_dirs(directory: str | os.PathLike | None = None) -> list[Path]:
    """Where SMPL files are looked for: the explicit directory, else $SCENEBENCH_SMPL_DIR, else the cache."""
    return [cache.input_dir(directory, "SCENEBENCH_SMPL_DIR", "smpl")]


def file_names(gender: str) -> tuple[str, ...]:
    """Accepted file names of the SMPL model of ``gender``, in order of preference."""
    if gender not in GENDERS:
        raise SmplModelError(f"unknown SMPL gender {gender!r}; expected one of {', '.join(GENDERS)}")
    short = {"neutral": "neutral", "female": "f", "male": "m"}[gender]
    return (f"SMPL_{gender.upper()}.pkl", f"basicModel_{short}_lbs_10_207_0_v1.0.0.pkl",
            f"basicmodel_{short}_lbs_10_207_0_v1.1.0.pkl", f"basicmodel_{short}_lbs_10_207_0_v1.0.0.pkl")


def find_model_file(directory: str | os.PathLike | None = None, gender: str = "neutral") -> Path | None:
    """The SMPL model file of ``gender`` (``directory`` may also name the file itself), or None."""
    names = file_names(gender)
    for d in search_dirs(directory):
        if d.is_file():
            return d
        for sub in (d, d / "smpl"):
            for name in names:
                if (sub / name).is_file():
                    return sub / name
    return None


def missing_message(directory=None, gender: str = "neutral") -> str:
    where = search_dirs(directory)[0]
    return (f"SMPL model file not found in {where}: expected {file_names(gender)[0]} (or "
            f"{file_names(gender)[1]}) from https://smpl.is.tue.mpg.de (licensed, free registration) there, "
            f"or set SCENEBENCH_SMPL_DIR or --set smpl_model_dir=DIR; the 'embedded' preset needs no files")


# ---------------------------------------------------------------- safe reading
class _ChumpyStandIn:
    """What a pickled ``chumpy`` object becomes: it only keeps its pickled state."""

    chumpy_class = "chumpy.ch.Ch"

    def __init__(self, *args, **kwargs):
        self.state = None

    def __setstate__(self, state):
        self.state = state

    def to_numpy(self) -> np.ndarray:
        s = self.state
        if isinstance(s, dict) and isinstance(s.get("x"), np.ndarray):
            return np.asarray(s["x"])
        raise pickle.UnpicklingError(f"a {self.chumpy_class} object without an array 'x' (a chumpy expression, "
                                     f"not a plain array)")


class _SparseStandIn:
    """What a pickled ``scipy.sparse`` matrix becomes; rebuilt from its state without scipy's unpickling."""

    sparse_format = "csc"

    def __init__(self, *args, **kwargs):
        self.state = None

    def __setstate__(self, state):
        self.state = state

    def to_scipy(self):
        import scipy.sparse as sp

        s = self.state if isinstance(self.state, dict) else {}
        shape = s.get("_shape", s.get("shape"))
        try:
            if self.sparse_format == "coo":
                row, col = s.get("row"), s.get("col")
                if row is None and "coords" in s:
                    row, col = s["coords"]
                return sp.csc_matrix(sp.coo_matrix((s["data"], (row, col)), shape=tuple(shape)))
            cls = sp.csc_matrix if self.sparse_format == "csc" else sp.csr_matrix
            return sp.csc_matrix(cls((s["data"], s["indices"], s["indptr"]), shape=tuple(shape)))
        except (KeyError, TypeError, ValueError) as exc:
            raise pickle.UnpicklingError(f"a {self.sparse_format} sparse matrix with an unexpected state ({exc})")


def _numpy_function(name: str):
    """numpy's own array/scalar reconstruction functions (numpy 2 moved numpy.core to numpy._core)."""
    try:
        from numpy import _core as core
    except ImportError:  # numpy 1.x
        from numpy import core
    return getattr(core.numeric if name == "_frombuffer" else core.multiarray, name)


def _reconstructor(cls, base, state):
    """``copyreg._reconstructor`` for the stand-ins only (how protocol-2 pickles create plain objects)."""
    if base is not object or not (isinstance(cls, type) and issubclass(cls, (_ChumpyStandIn, _SparseStandIn))):
        raise pickle.UnpicklingError(f"copyreg._reconstructor of {getattr(cls, '__name__', cls)!r} is not allowed "
                                     f"in an SMPL model file")
    return object.__new__(cls)


@lru_cache(maxsize=None)
def _stand_in(kind: str, module: str, name: str) -> type:
    if kind == "chumpy":
        return type(f"chumpy_{name}", (_ChumpyStandIn,), {"chumpy_class": f"{module}.{name}"})
    return type(f"sparse_{name}", (_SparseStandIn,), {"sparse_format": name[:3]})


class SafeUnpickler(pickle.Unpickler):
    """Unpickler for SMPL model files that executes no pickled code.

    Allowed globals: numpy's ndarray/dtype/scalar reconstruction,
    ``copyreg._reconstructor`` of the stand-ins below, ``set``/``frozenset``,
    ``_codecs.encode`` to latin-1 (bytes in protocol-2 pickles),
    ``chumpy.*`` (-> :class:`_ChumpyStandIn`) and ``scipy.sparse``
    csc/csr/coo matrices (-> :class:`_SparseStandIn`). Anything else raises
    ``pickle.UnpicklingError``. Python 2 module names (``copy_reg``,
    ``__builtin__``) are mapped as ``pickle`` does.
    """

    def find_class(self, module, name):
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name in ("_reconstruct", "scalar"):
            return _numpy_function(name)
        if module in ("numpy.core.numeric", "numpy._core.numeric") and name == "_frombuffer":
            return _numpy_function(name)  # protocol-5 pickles of arrays
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if module == "copyreg" and name == "_reconstructor":
            return _reconstructor
        if module == "_codecs" and name == "encode":
            return _latin1_encode  # how protocol-2 pickles written by Python 3 store bytes
        if module == "builtins" and name in ("object", "set", "frozenset"):
            return {"object": object, "set": set, "frozenset": frozenset}[name]
        if module == "chumpy" or module.startswith("chumpy."):
            return _stand_in("chumpy", module, name)
        if module.startswith("scipy.sparse") and name in ("csc_matrix", "csr_matrix", "coo_matrix"):
            return _stand_in("sparse", module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in an SMPL model file")


def _latin1_encode(text, encoding="latin1"):
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"_codecs.encode with {encoding!r} is not allowed in an SMPL model file")
    return text.encode("latin1")


def _plain(obj):
    """Replace stand-ins by numpy arrays / scipy matrices, recursively through dicts, lists and tuples."""
    if isinstance(obj, _ChumpyStandIn):
        return obj.to_numpy()
    if isinstance(obj, _SparseStandIn):
        return obj.to_scipy()
    if isinstance(obj, dict):
        return {k.decode("latin1") if isinstance(k, bytes) else k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_plain(v) for v in obj)
    return obj


def loads_model(data: bytes, name: str = "SMPL model") -> dict:
    """Parse the bytes of an SMPL model pickle (chumpy-free, no arbitrary code) into a dict of arrays."""
    try:
        obj = SafeUnpickler(io.BytesIO(data), encoding="latin1").load()
        obj = _plain(obj)
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            ImportError) as exc:
        raise SmplModelError(f"{name}: not a readable SMPL model pickle ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else ''}); expected an SMPL .pkl "
                             f"from https://smpl.is.tue.mpg.de") from None
    if not isinstance(obj, dict):
        raise SmplModelError(f"{name}: holds a {type(obj).__name__}, expected a dict of SMPL arrays")
    check_model(obj, name)
    return obj


def read_model_file(path: str | os.PathLike) -> dict:
    """Read an SMPL model pickle (official or embedded) without chumpy; see :class:`SafeUnpickler`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SmplModelError(f"{path}: cannot read ({exc.strerror or exc}); expected an SMPL model .pkl") from None
    return loads_model(data, str(path))


def check_model(d: dict, name: str = "SMPL model") -> None:
    """Check the keys, shapes and index ranges smplx relies on; :class:`SmplModelError` otherwise."""
    missing = [k for k in REQUIRED_KEYS if k not in d]
    if missing:
        raise SmplModelError(f"{name}: missing {', '.join(missing)}; expected SMPL's keys {', '.join(REQUIRED_KEYS)}")
    try:
        v = np.asarray(d["v_template"])
        V = v.shape[0]
        shapes = {
            "v_template": (v.shape, (V, 3)),
            "shapedirs": (np.shape(d["shapedirs"])[:2], (V, 3)),
            "posedirs": (np.shape(d["posedirs"]), (V, 3, 9 * (NUM_JOINTS - 1))),
            "J_regressor": (tuple(d["J_regressor"].shape), (NUM_JOINTS, V)),
            "weights": (np.shape(d["weights"]), (V, NUM_JOINTS)),
            "kintree_table": (np.shape(d["kintree_table"]), (2, NUM_JOINTS)),
        }
    except (AttributeError, IndexError, TypeError) as exc:
        raise SmplModelError(f"{name}: arrays of unexpected types ({exc}); expected SMPL's layout") from None
    for key, (got, want) in shapes.items():
        if tuple(got) != want:
            raise SmplModelError(f"{name}: {key} has shape {tuple(got)}, expected {want} (SMPL's layout, "
                                 f"{NUM_JOINTS} joints)")
    if np.shape(d["shapedirs"])[2] < NUM_BETAS:
        raise SmplModelError(f"{name}: shapedirs has {np.shape(d['shapedirs'])[2]} shape directions, "
                             f"expected >= {NUM_BETAS}")
    f = np.asarray(d["f"])
    if f.ndim != 2 or f.shape[1] != 3 or f.size == 0 or f.min() < 0 or f.max() >= V:
        raise SmplModelError(f"{name}: f must be (F, 3) vertex indices below {V}")
    parents = np.asarray(d["kintree_table"])[0].astype(np.int64)
    if any(int(parents[j]) != PARENTS[j] for j in range(1, NUM_JOINTS)):
        raise SmplModelError(f"{name}: kintree_table is not SMPL's 24-joint tree")


def _dense(a) -> np.ndarray:
    return np.asarray(a.todense()) if hasattr(a, "todense") else np.asarray(a)


def content_sha256(d: dict) -> str:
    """SHA-256 of what smplx uses: v_template, shapedirs[..., :10], posedirs, J_regressor, weights, parents, f.

    Arrays are hashed as little-endian float32 (int64 for indices) with their
    names and shapes, so the digest does not depend on how the file was pickled.
    """
    h = hashlib.sha256()
    parts = {
        "v_template": np.asarray(d["v_template"], "<f4"),
        "shapedirs": np.asarray(np.asarray(d["shapedirs"])[:, :, :NUM_BETAS], "<f4"),
        "posedirs": np.asarray(d["posedirs"], "<f4"),
        "J_regressor": np.asarray(_dense(d["J_regressor"]), "<f4"),
        "weights": np.asarray(d["weights"], "<f4"),
        "parents": np.asarray(PARENTS, "<i8"),
        "f": np.asarray(d["f"], "<i8"),
    }
    for k, a in parts.items():
        a = np.ascontiguousarray(a)
        h.update(f"{k}:{a.dtype.str}:{a.shape};".encode())
        h.update(a.tobytes())
    return h.hexdigest()


# ---------------------------------------------------------------- cached reading
@lru_cache(maxsize=4)
def _load_cached(path: str, mtime_ns: int, size: int) -> dict:
    return read_model_file(path)


def load_cached(path: str | os.PathLike) -> dict:
    """:func:`read_model_file`, memoised per process on (path, mtime, size)."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError as exc:
        raise SmplModelError(f"{p}: cannot read ({exc.strerror or exc}); expected an SMPL model .pkl") from None
    return _load_cached(str(p), st.st_mtime_ns, st.st_size)


# ---------------------------------------------------------------- smplx
def smplx_model(d: dict, model_path: str | os.PathLike, dtype=None, read_file: bool = False):
    """An ``smplx.SMPL`` of the model dict ``d`` (the file ``model_path``, as read by :func:`read_model_file`).

    ``read_file=False``: built through smplx's ``data_struct`` code path from
    ``d`` (the official pickles need chumpy for smplx's own reader).
    ``read_file=True``: smplx reads ``model_path`` itself (its own pickle
    loader; for files without chumpy objects, such as the embedded body).
    Uses the dict's own ``vertex_ids`` when it has them (the embedded model),
    else smplx's defaults for SMPL's 6,890-vertex topology; a model of
    another topology without its own ids gets vertex 0 for smplx's extra
    keypoints (scenebench uses only the 24 joints). smplx's notice about 10
    shape coefficients goes to /dev/null (it would land on stdout).
    """
    import torch
    import smplx
    from smplx.utils import Struct

    dtype = torch.float64 if dtype is None else dtype
    kwargs = {} if read_file else {"data_struct": Struct(**d)}
    if "vertex_ids" in d:
        kwargs["vertex_ids"] = {k: int(v) for k, v in dict(d["vertex_ids"]).items()}
    elif np.shape(d["v_template"])[0] != SMPL_NUM_VERTICES:
        kwargs["vertex_ids"] = {k: 0 for k in VERTEX_ID_KEYS}
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
        model = smplx.SMPL(model_path=str(model_path), num_betas=NUM_BETAS, dtype=dtype, batch_size=1, **kwargs)
    model.requires_grad_(False)
    return model.eval()


#: bodies per ``smplx.SMPL`` call in :class:`Poser`: every call has this many rows
POSE_GROUP = 16


class Poser:
    """Poses many bodies through ``smplx.SMPL``'s forward pass (float64, CPU, no autograd).

    ``Poser(d, path, read_file)(betas, poses)`` (see :func:`smplx_model`) runs smplx's ``lbs`` (shape blend
    shapes, joint regression, pose blend shapes, kinematic chain, linear
    blend skinning) with ``transl`` 0 on bodies ``betas`` (n, 10) in
    axis-angle ``poses`` (n, 24, 3), joint 0 the global orientation.

    Determinism: torch picks its kernels, and with them the order of each
    sum, by the shape of the matrices (posing a body alone and in a batch of
    64 differ by ~1e-16 m). Every call therefore has exactly
    :data:`POSE_GROUP` rows, the last group padded with rest bodies, and
    runs on one torch thread (restored afterwards), so a body's vertices are
    the same bytes whichever batch, position or process poses it (the tests
    check a body alone against the same body among others).
    """

    def __init__(self, d: dict, model_path: str | os.PathLike, read_file: bool = False):
        self.model = smplx_model(d, model_path, read_file=read_file)
        self.num_vertices = int(np.shape(d["v_template"])[0])

    def __call__(self, betas: np.ndarray, poses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vertices (n, V, 3) and posed joints (n, 24, 3), float64, of ``betas`` (n, 10) in ``poses`` (n, 24, 3)."""
        import torch

        n, G = len(betas), POSE_GROUP
        rows = -(-n // G) * G
        b = np.zeros((rows, NUM_BETAS))
        b[:n] = betas
        p = np.zeros((rows, NUM_JOINTS, 3))
        p[:n] = np.reshape(poses, (n, NUM_JOINTS, 3))
        verts = np.empty((rows, self.num_vertices, 3))
        joints = np.empty((rows, NUM_JOINTS, 3))
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.inference_mode():
                for s in range(0, rows, G):
                    out = self.model(betas=torch.from_numpy(b[s:s + G]),
                                     global_orient=torch.from_numpy(p[s:s + G, 0]),
                                     body_pose=torch.from_numpy(p[s:s + G, 1:].reshape(G, -1)))
                    verts[s:s + G] = out.vertices.numpy()
                    joints[s:s + G] = out.joints[:, :NUM_JOINTS].numpy()
        finally:
            torch.set_num_threads(threads)
        return verts[:n], joints[:n]


# ---------------------------------------------------------------- the embedded body
def embedded_path() -> Path:
    return cache_dir() / f"embedded-v{EMBEDDED_VERSION}" / "SMPL_NEUTRAL.pkl"


def embedded_model_file() -> Path:
    """The embedded model's pickle in the cache, built (atomically) if missing or unreadable."""
    path = embedded_path()
    if path.is_file():
        try:
            load_cached(path)
            return path
        except SmplModelError:
            pass  # a damaged cache file: build it again
    data = dumps_model(build_embedded())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:12]}")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        raise SmplModelError(f"cannot write the embedded body model to {path} ({exc.strerror or exc}); "
                             f"expected a writable cache directory (set SCENEBENCH_CACHE)") from None
    return path


def dumps_model(d: dict) -> bytes:
    """Pickle a model dict in SMPL's layout (J_regressor as a scipy.sparse.csc_matrix), protocol 4."""
    import scipy.sparse as sp

    out = dict(d)
    out["J_regressor"] = sp.csc_matrix(_dense(d["J_regressor"]))
    return pickle.dumps(out, protocol=4)


# Rest-pose joints of the left side (the right side mirrors x) and of the midline, metres.
_LEFT_JOINTS = {1: (0.078, -0.31, 0.0), 4: (0.10, -0.71, 0.01), 7: (0.09, -1.115, -0.035), 10: (0.11, -1.19, 0.085),
                13: (0.075, 0.225, -0.02), 16: (0.185, 0.235, -0.025), 18: (0.44, 0.225, -0.035),
                20: (0.685, 0.225, -0.03), 22: (0.77, 0.222, -0.03)}
_MID_JOINTS = {0: (0.0, -0.22, 0.0), 3: (0.0, -0.11, -0.01), 6: (0.0, 0.03, -0.005), 9: (0.0, 0.09, 0.0),
               12: (0.0, 0.30, -0.02), 15: (0.0, 0.39, 0.0)}
_MIRROR = {1: 2, 4: 5, 7: 8, 10: 11, 13: 14, 16: 17, 18: 19, 20: 21, 22: 23}
FLOOR_Y = -1.215  # soles of the feet
GRID_STEP = 0.022  # marching-cubes voxel, metres
BLEND = 0.009  # smooth-union softness, metres


def rest_joints() -> np.ndarray:
    """(24, 3) float64 rest-pose joint positions of the embedded body."""
    J = np.zeros((NUM_JOINTS, 3))
    for j, p in _MID_JOINTS.items():
        J[j] = p
    for j, p in _LEFT_JOINTS.items():
        J[j] = p
        J[_MIRROR[j]] = (-p[0], p[1], p[2])
    return J


# The torso: a swept ellipse, rows of (y, half width rx, half depth rz, centre z), metres.
_TORSO = np.array([
    (-0.365, 0.05, 0.04, -0.01), (-0.33, 0.125, 0.085, -0.015), (-0.27, 0.165, 0.10, -0.02),
    (-0.18, 0.158, 0.096, -0.01), (-0.08, 0.138, 0.090, 0.0), (0.02, 0.143, 0.095, 0.0),
    (0.12, 0.160, 0.105, -0.005), (0.20, 0.163, 0.098, -0.012), (0.265, 0.13, 0.075, -0.02),
    (0.30, 0.07, 0.05, -0.02)])
# which joint moves which height band of the torso: (joint, y from, y to)
_TORSO_JOINTS = ((0, -1.0, -0.16), (3, -0.16, -0.04), (6, -0.04, 0.07), (9, 0.07, 1.0))


def _primitives() -> list[tuple]:
    """The body as ('ell', centre, radii, joint), ('cone', a, b, ra, rb, joint) and ('loft', rows, bands)."""
    mid = [
        ("loft", _TORSO, _TORSO_JOINTS),  # pelvis, belly, chest: one smooth swept ellipse
        ("cone", (0, 0.27, -0.022), (0, 0.42, -0.005), 0.056, 0.049, 12),  # neck
        ("ell", (0, 0.485, 0.012), (0.077, 0.104, 0.094), 15),  # cranium
        ("ell", (0, 0.425, 0.033), (0.06, 0.064, 0.074), 15),  # jaw
        ("ell", (0, 0.395, 0.06), (0.03, 0.025, 0.04), 15),  # chin
        ("ell", (0, 0.452, 0.104), (0.013, 0.022, 0.02), 15),  # nose
    ]
    left = [
        ("ell", (0.065, -0.285, -0.055), (0.08, 0.09, 0.075), 0),  # buttock
        ("cone", (0.02, 0.235, -0.03), (0.16, 0.242, -0.03), 0.068, 0.054, 13),  # trapezius / collar
        ("ell", (0.078, 0.462, 0.0), (0.011, 0.028, 0.017), 15),  # ear
        ("ell", (0.195, 0.233, -0.025), (0.075, 0.06, 0.061), 16),  # deltoid
        ("cone", (0.185, 0.235, -0.025), (0.44, 0.225, -0.035), 0.05, 0.037, 16),  # upper arm
        ("cone", (0.44, 0.225, -0.035), (0.685, 0.225, -0.03), 0.036, 0.025, 18),  # forearm
        ("ell", (0.51, 0.227, -0.034), (0.085, 0.038, 0.041), 18),  # forearm muscles
        ("ell", (0.755, 0.222, -0.03), (0.055, 0.021, 0.044), 20),  # palm
        ("ell", (0.835, 0.219, -0.032), (0.06, 0.017, 0.039), 22),  # fingers (mitten)
        ("cone", (0.728, 0.222, 0.0), (0.785, 0.214, 0.048), 0.0145, 0.0115, 20),  # thumb
        ("cone", (0.08, -0.285, 0.0), (0.10, -0.71, 0.01), 0.09, 0.054, 1),  # thigh
        ("cone", (0.10, -0.71, 0.01), (0.09, -1.11, -0.035), 0.05, 0.033, 4),  # shin
        ("ell", (0.10, -0.70, 0.016), (0.052, 0.065, 0.054), 4),  # knee
        ("ell", (0.102, -0.835, -0.028), (0.05, 0.11, 0.05), 4),  # calf muscle
        ("ell", (0.09, -1.165, -0.045), (0.038, 0.05, 0.048), 7),  # heel / ankle
        ("ell", (0.1, -1.18, 0.04), (0.045, 0.035, 0.1), 7),  # foot
        ("ell", (0.11, -1.193, 0.125), (0.046, 0.024, 0.055), 10),  # toes
    ]
    prims = list(mid)
    for p in left:
        prims.append(p)
        if p[0] == "ell":
            _, c, r, j = p
            prims.append(("ell", (-c[0], c[1], c[2]), r, _MIRROR.get(j, j)))
        else:
            _, a, b, ra, rb, j = p
            prims.append(("cone", (-a[0], a[1], a[2]), (-b[0], b[1], b[2]), ra, rb, _MIRROR.get(j, j)))
    return prims


def _prim_distance(p: np.ndarray, prim: tuple) -> np.ndarray:
    """Approximate signed distance (N,) from points (N, 3) to one primitive (negative inside)."""
    if prim[0] == "loft":
        return _loft_distance(p, prim[1])
    if prim[0] == "ell":
        _, c, r, _ = prim
        q = (p - np.asarray(c)) / np.asarray(r)
        k0 = np.linalg.norm(q, axis=1)
        k1 = np.linalg.norm(q / np.asarray(r), axis=1)
        return k0 * (k0 - 1.0) / np.maximum(k1, 1e-12)
    _, a, b, ra, rb, _ = prim
    a, b = np.asarray(a, float), np.asarray(b, float)
    ba = b - a
    h = np.clip((p - a) @ ba / (ba @ ba), 0.0, 1.0)
    return np.linalg.norm(p - a - h[:, None] * ba, axis=1) - (ra + (rb - ra) * h)


def _loft_distance(p: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Distance to a swept ellipse: cross-section radii interpolated (PCHIP) along y, capped at both ends."""
    from scipy.interpolate import PchipInterpolator

    y0, y1 = rows[0, 0], rows[-1, 0]
    yc = np.clip(p[:, 1], y0, y1)
    rx, rz, zc = (PchipInterpolator(rows[:, 0], rows[:, i])(yc) for i in (1, 2, 3))
    qx, qz = p[:, 0] / rx, (p[:, 2] - zc) / rz
    k0 = np.hypot(qx, qz)
    k1 = np.hypot(qx / rx, qz / rz)
    d = k0 * (k0 - 1.0) / np.maximum(k1, 1e-12)
    dy = np.maximum(np.maximum(y0 - p[:, 1], p[:, 1] - y1), 0.0)
    return np.where(dy > 0, np.hypot(np.maximum(d, 0.0), dy), d)


def _membership(p: np.ndarray, prims: list) -> tuple[np.ndarray, np.ndarray]:
    """Distances (N, M) to the body's parts and the joint (M,) moving each part; lofts split into bands."""
    cols, joints = [], []
    for q in prims:
        d = _prim_distance(p, q)
        if q[0] == "loft":
            for j, lo, hi in q[2]:
                cols.append(d + np.maximum(np.maximum(lo - p[:, 1], p[:, 1] - hi), 0.0))
                joints.append(j)
        else:
            cols.append(d)
            joints.append(q[-1])
    return np.stack(cols, axis=1), np.array(joints)


def _distances(p: np.ndarray, prims: list) -> np.ndarray:
    return np.stack([_prim_distance(p, q) for q in prims], axis=1)


def _smooth_union(d: np.ndarray, k: float) -> np.ndarray:
    """Exponential smooth minimum over axis 1: -k log sum exp(-d/k)."""
    m = d.min(axis=1)
    return m - k * np.log(np.exp(-(d - m[:, None]) / k).sum(axis=1))


def _body_sdf(p: np.ndarray, prims: list) -> np.ndarray:
    d = _smooth_union(_distances(p, prims), BLEND)
    return np.maximum(d, FLOOR_Y - p[:, 1])  # flat soles


def _mesh(prims: list):
    """Marching cubes on the body's SDF, largest component, Taubin-smoothed: (vertices, faces)."""
    import trimesh
    from skimage.measure import marching_cubes

    h = GRID_STEP
    lo = np.array([-0.95, FLOOR_Y - 2.5 * h, -0.2])  # the sole plane between grid planes
    hi = np.array([0.95, 0.62, 0.25])
    n = np.ceil((hi - lo) / h).astype(int) + 1
    axes = [lo[i] + h * np.arange(n[i]) for i in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    sdf = np.empty(len(grid))
    for s in range(0, len(grid), 200_000):
        sdf[s: s + 200_000] = _body_sdf(grid[s: s + 200_000], prims)
    verts, faces, _, _ = marching_cubes(sdf.reshape(n), level=0.0, spacing=(h, h, h), gradient_direction="ascent")
    mesh = trimesh.Trimesh(verts + lo, faces, process=True)
    parts = mesh.split(only_watertight=False)
    mesh = max(parts, key=lambda m: len(m.faces)) if len(parts) > 1 else mesh
    trimesh.smoothing.filter_taubin(mesh, lamb=0.5, nu=0.53, iterations=6)
    if mesh.volume < 0:
        mesh.invert()
    return np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces, np.int64)


def _adjacency(faces: np.ndarray, n: int):
    import scipy.sparse as sp

    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    e = np.concatenate([e, e[:, ::-1]])
    A = sp.csr_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    A.data[:] = 1.0
    deg = np.asarray(A.sum(axis=1)).ravel()
    return sp.diags(1.0 / deg) @ A


def _bone_segments(J: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(24, 3) start and end of the bone each joint rotates (leaf joints get an end beyond them)."""
    child = {0: 3, 3: 6, 6: 9, 9: 12, 12: 15, 1: 4, 2: 5, 4: 7, 5: 8, 7: 10, 8: 11, 13: 16, 14: 17, 16: 18, 17: 19,
             18: 20, 19: 21, 20: 22, 21: 23}
    tips = {15: (0.0, 0.58, 0.012), 22: (0.895, 0.218, -0.032), 23: (-0.895, 0.218, -0.032),
            10: (0.11, -1.195, 0.18), 11: (-0.11, -1.195, 0.18)}  # head top, finger tips, toe tips
    end = np.array([J[child[j]] if j in child else tips[j] for j in range(NUM_JOINTS)], np.float64)
    return J.copy(), end


def _project_to_segments(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 24, 3) closest points on each joint's bone segment."""
    ba = b - a
    t = np.einsum("njk,jk->nj", p[:, None, :] - a[None], ba) / np.maximum((ba * ba).sum(1), 1e-12)
    return a[None] + np.clip(t, 0, 1)[..., None] * ba[None]


def _smoothstep(x, e0, e1):
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _shape_dirs(P: np.ndarray, W: np.ndarray, J: np.ndarray) -> np.ndarray:
    """(V, 3, 10) shape directions (:data:`SHAPE_DIRECTIONS`), metres per unit beta."""
    V = len(P)
    x, y, z = P[:, 0], P[:, 1], P[:, 2]
    sx = np.sign(x)
    S = np.zeros((V, 3, NUM_BETAS))
    head = W[:, 15]
    hands = W[:, [20, 21, 22, 23]].sum(1)
    feet = W[:, [7, 8, 10, 11]].sum(1)
    torso = W[:, [0, 3, 6, 9]].sum(1)
    a, b = _bone_segments(J)
    radial = np.einsum("nj,njk->nk", W, P[:, None, :] - _project_to_segments(P, a, b))
    # 0 overall size: uniform scale about the point between the feet
    S[:, :, 0] = 0.035 * (P - np.array([0.0, FLOOR_Y, 0.0]))
    # 1 girth: away from the bones, less on head, hands and feet
    S[:, :, 1] = 0.08 * (1.0 - 0.75 * np.clip(head + hands + feet, 0, 1))[:, None] * radial
    # 2 leg length: everything below the hips stretches down
    hip_y = J[1, 1]
    S[:, 1, 2] = -0.035 * np.clip((hip_y - y) / (hip_y - FLOOR_Y), 0, 1)
    # 3 torso length: everything above the pelvis stretches up
    S[:, 1, 3] = 0.025 * np.clip((y - J[0, 1]) / (J[12, 1] - J[0, 1]), 0, 1)
    # 4 shoulder width: the shoulders and arms move out
    S[:, 0, 4] = 0.015 * sx * _smoothstep(np.abs(x), 0.04, 0.17) * _smoothstep(y, 0.04, 0.16)
    # 5 arm length: the arm stretches from the shoulder to the hand
    arm = _smoothstep(y, 0.08, 0.16)
    S[:, 0, 5] = 0.03 * sx * np.clip((np.abs(x) - J[16, 0]) / (J[20, 0] - J[16, 0]), 0, 1) * arm
    # 6 hip width: the pelvis widens, the legs move apart without changing
    left_leg, right_leg = W[:, [1, 4, 7, 10]].sum(1), W[:, [2, 5, 8, 11]].sum(1)
    pelvis = np.clip(x / 0.15, -1, 1) * (1 - _smoothstep(y, -0.2, -0.04))
    S[:, 0, 6] = 0.01 * ((1 - left_leg - right_leg) * pelvis + left_leg - right_leg)
    # 7 belly: forward bulge of the lower abdomen
    bump = np.exp(-((x / 0.12) ** 2 + ((y + 0.02) / 0.12) ** 2)) * _smoothstep(z, 0.0, 0.08) * torso
    S[:, 2, 7] = 0.015 * bump
    S[:, 1, 7] = -0.004 * bump
    # 8 chest: forward bulge of both sides of the chest
    chest = sum(np.exp(-(((x - s * 0.075) / 0.07) ** 2 + ((y - 0.15) / 0.06) ** 2)) for s in (-1, 1))
    S[:, 2, 8] = 0.012 * chest * _smoothstep(z, 0.02, 0.09) * torso
    # 9 head size: scale about the base of the skull
    S[:, :, 9] = 0.05 * (P - J[15])[:, :] * head[:, None]
    return S


def _pose_dirs(P: np.ndarray, W: np.ndarray, J: np.ndarray) -> np.ndarray:
    """(V, 3, 207) pose correctives: a bulge of 1 cm x (1 - cos angle) around each bending joint.

    SMPL's pose feature of joint j (1..23) is (R_j - I) flattened; 1 - cos angle
    = -(trace(R_j) - 3) / 2, linear in its diagonal entries 0, 4 and 8.
    """
    V = len(P)
    D = np.zeros((V, 3, 9 * (NUM_JOINTS - 1)))
    for j in range(1, NUM_JOINTS):
        p = PARENTS[j]
        axis = J[j] - J[p]
        axis /= max(np.linalg.norm(axis), 1e-9)
        r = P - J[j]
        r -= (r @ axis)[:, None] * axis
        r /= np.maximum(np.linalg.norm(r, axis=1, keepdims=True), 1e-9)
        amount = 4.0 * W[:, j] * W[:, p] * np.exp(-np.sum((P - J[j]) ** 2, axis=1) / (2 * 0.08 ** 2))
        disp = -0.5 * 0.01 * amount[:, None] * r
        for k in (0, 4, 8):
            D[:, :, 9 * (j - 1) + k] = disp
    return D


def _skin_weights(P: np.ndarray, faces: np.ndarray, prims: list) -> np.ndarray:
    """(V, 24) smooth LBS weights: soft-min membership of the primitives, diffused over the mesh."""
    d, joint_of = _membership(P, prims)
    s = np.exp(-(d - d.min(axis=1, keepdims=True)) / 0.012)
    W = np.zeros((len(P), NUM_JOINTS))
    for i, j in enumerate(joint_of):
        W[:, j] += s[:, i]
    W /= W.sum(1, keepdims=True)
    A = _adjacency(faces, len(P))
    for _ in range(12):
        W = 0.5 * W + 0.5 * (A @ W)
    # keep the 4 largest per vertex, like SMPL's sparse weights
    order = np.argsort(-W, axis=1, kind="stable")
    keep = np.zeros_like(W, bool)
    np.put_along_axis(keep, order[:, :4], True, axis=1)
    W = np.where(keep & (W > 1e-3), W, 0.0)
    return W / W.sum(1, keepdims=True)


def _joint_regressor(P: np.ndarray, J: np.ndarray) -> np.ndarray:
    """(24, V): per joint, Gaussian weights on the nearby surface, corrected so that R @ P = J exactly."""
    R = np.zeros((NUM_JOINTS, len(P)))
    for j in range(NUM_JOINTS):
        dist = np.linalg.norm(P - J[j], axis=1)
        sigma = 0.3 * dist.min() + 0.01
        w0 = np.exp(-0.5 * ((dist - dist.min()) / sigma) ** 2)
        idx = np.nonzero(w0 > 0.02)[0]
        w0 = w0[idx] / w0[idx].sum()
        A = np.vstack([P[idx].T, np.ones(len(idx))])  # (4, n)
        target = np.append(J[j], 1.0)
        w = w0 + A.T @ np.linalg.solve(A @ A.T, target - A @ w0)
        R[j, idx] = w
    return R


def _vertex_ids(P: np.ndarray) -> dict:
    """Vertices for smplx's extra keypoints (face, finger tips, toes, heels) on the embedded mesh."""
    targets = {"nose": (0, 0.452, 0.13), "leye": (0.032, 0.475, 0.09), "lear": (0.09, 0.462, 0.0),
               "lthumb": (0.80, 0.214, 0.06), "lindex": (0.895, 0.218, -0.005), "lmiddle": (0.9, 0.218, -0.025),
               "lring": (0.895, 0.218, -0.045), "lpinky": (0.88, 0.218, -0.062),
               "LBigToe": (0.09, -1.2, 0.185), "LSmallToe": (0.145, -1.2, 0.16), "LHeel": (0.09, -1.21, -0.1)}
    out = {}
    for name, t in targets.items():
        t = np.array(t, float)
        pairs = [(name, t)]
        if name != "nose":
            right = "R" + name[1:] if name[0] == "L" else "r" + name[1:]
            pairs.append((right, t * (-1, 1, 1)))
        for key, q in pairs:
            out[key] = int(np.argmin(np.linalg.norm(P - q, axis=1)))
    return {k: out[k] for k in VERTEX_ID_KEYS}


def build_embedded() -> dict:
    """Build the procedural body model (a dict in SMPL's pickle layout). Deterministic; a few seconds."""
    prims = _primitives()
    J = rest_joints()
    P, faces = _mesh(prims)
    P = P.astype(np.float32).astype(np.float64)
    W = _skin_weights(P, faces, prims)
    JR = _joint_regressor(P, J)
    J_exact = JR @ P
    kintree = np.array([[4294967295] + list(PARENTS[1:]), list(range(NUM_JOINTS))], np.uint32)
    return {
        "v_template": P.astype(np.float32),
        "shapedirs": _shape_dirs(P, W, J).astype(np.float32),
        "posedirs": _pose_dirs(P, W, J).astype(np.float32),
        "J_regressor": JR.astype(np.float32),
        "J": J_exact.astype(np.float32),
        "weights": W.astype(np.float32),
        "kintree_table": kintree,
        "f": faces.astype(np.uint32),
        "bs_type": "lrotmin",
        "bs_style": "lbs",
        "vertex_ids": _vertex_ids(P),
        "joint_names": list(JOINT_NAMES),
        "shape_directions": list(SHAPE_DIRECTIONS),
        "model_name": f"scenebench embedded body v{EMBEDDED_VERSION}",
    }
