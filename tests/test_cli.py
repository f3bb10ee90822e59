import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scenebench.generators.multi_dsprites import MultiDSprites

DSPRITES_VERSION = MultiDSprites.VERSION

from conftest import read_split


def run(*args, **kw):
    return subprocess.run([sys.executable, "-m", "scenebench.cli", *map(str, args)], capture_output=True, text=True, **kw)


def assert_clean_error(res, *needles, code=2):
    assert res.exit_code == code, res.output
    lines = [l for l in res.output.strip().splitlines() if l]
    assert lines[-1].startswith("error: ") or "Error:" in res.output, res.output
    assert "Traceback" not in res.output
    for n in needles:
        assert n in res.output, res.output


def test_help_and_list_are_light():
    code = ("import sys; from click.testing import CliRunner; from scenebench.cli import main; "
            "r = CliRunner().invoke(main, ['list']); assert r.exit_code == 0, r.output; "
            "print(r.output); print(sorted(m for m in ('torch', 'h5py', 'distributed', 'pyrender', 'skimage') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "multi_dsprites" in out and "lavae" in out and "test-7 10,000" in out and f"v{DSPRITES_VERSION}" in out
    assert out.strip().splitlines()[-1] == "[]"
    assert "generate" in run("--help").stdout


def test_generate_prints_directory_and_show(tmp_path, cli):
    res = cli("generate", "multi_dsprites", "--preset", "lavae", "--num", "20", "--out", tmp_path, "--workers", "1",
              "--split", "test", "--set", "max_objects=2")
    assert res.exit_code == 0, res.output
    d = Path(res.output.strip().splitlines()[-1])
    assert (d / "manifest.json").is_file()
    m = json.loads((d / "manifest.json").read_text())
    assert list(m["splits"]) == ["test"] and m["identity"]["config"]["max_objects"] == 2
    assert read_split(d, "test")["num_objects"].max() <= 2
    sheet = tmp_path / "sheet.png"
    res = cli("show", d, "--split", "test", "-n", "8", "-o", sheet)
    assert res.exit_code == 0, res.output
    from PIL import Image

    assert Image.open(sheet).size[0] > 200
    assert_clean_error(cli("show", d, "--split", "train"), "split 'train' not in")


@pytest.mark.parametrize("args, needle", [
    (["generate", "nope"], "unknown dataset family 'nope'"),
    (["generate", "multi_dsprites", "--preset", "nope"], "unknown preset 'nope'"),
    (["generate", "multi_dsprites", "--split", "valid"], "unknown split 'valid'"),
    (["generate", "multi_dsprites", "--set", "colour=red"], "unknown config key 'colour'"),
    (["generate", "multi_dsprites", "--set", "max_objects=lots"], "max_objects='lots': expected a value of type int"),
    (["generate", "multi_dsprites", "--set", "max_objects=8"], "cannot be placed without overlap"),
    (["generate", "multi_dsprites", "--set", "max_size=-4"], "max_size must be in"),
    (["generate", "multi_dsprites", "--set", "noequals"], "expected KEY=VALUE"),
    (["generate", "multi_dsprites", "--num", "0"], "--num must be an integer in [1, 2,147,483,647]"),
    (["generate", "multi_dsprites", "--num", "100000000000"], "--num must be an integer in [1, 2,147,483,647]"),
    (["generate", "multi_dsprites", "--set", "splits.train=100000000000"], "expected a number of samples in [1,"),
    (["generate", "multi_dsprites", "--seed", "-1"], "seed must be an integer in [0, 2**63)"),
    (["generate", "multi_dsprites", "--seed", "18446744073709551616"], "seed must be an integer in [0, 2**63)"),
    (["generate", "multi_dsprites", "--workers", "0"], "--workers must be an integer >= 1"),
    (["generate", "multi_dsprites", "--scheduler", "notanaddress"], "cannot reach the Dask scheduler"),
    (["generate", "multi_dsprites", "--scheduler", ""], "expected a Dask scheduler address"),
    (["generate", "multi_dsprites", "--workers", "0", "--num", "3"], "--workers must be an integer >= 1"),
])
def test_bad_generate_input(tmp_path, cli, args, needle):
    res = cli(*args, "--out", tmp_path / "o")
    assert_clean_error(res, needle)
    assert not (tmp_path / "o").exists()  # validated before anything is created


def test_unwritable_output(tmp_path, cli):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_clean_error(cli("generate", "multi_dsprites", "--num", "2", "--out", blocker / "sub"), "is not a directory")
    if os.geteuid() != 0:  # root ignores permission bits
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        assert_clean_error(cli("generate", "multi_dsprites", "--num", "2", "--out", ro), "not writable")


def test_unwritable_existing_dataset_or_split_directory(tmp_path, cli, monkeypatch):
    """A dataset (or split) directory the user may not write is refused up front, its files untouched.

    Permission bits cannot be tested as root, so ``os.access`` is made to deny the directory."""
    import scenebench.datasets.writer as writer

    args = ["generate", "multi_dsprites", "--num", "6", "--out", tmp_path, "--workers", "1", "--split", "test"]
    assert cli(*args).exit_code == 0
    d = tmp_path / f"multi_dsprites/lavae/v{DSPRITES_VERSION}-seed0"
    before = {p: p.read_bytes() for p in d.rglob("*") if p.is_file()}
    real = os.access
    for denied in (d, d / "test"):
        monkeypatch.setattr(writer.os, "access", lambda p, mode, denied=denied: Path(p) != denied and real(p, mode))
        res = cli(*args[:3], "7", *args[4:])  # more samples: would write
        assert_clean_error(res, f"{denied}: is not writable")
        assert {p: p.read_bytes() for p in d.rglob("*") if p.is_file()} == before
    monkeypatch.setattr(writer.os, "access", real)
    (d / "train").write_text("not a folder")
    assert_clean_error(cli(*args[:-1], "train"), "train: exists and is not a directory")


def test_different_dataset_at_output_is_not_overwritten(tmp_path, cli):
    args = ["generate", "multi_dsprites", "--num", "10", "--out", tmp_path, "--workers", "1", "--split", "test"]
    assert cli(*args).exit_code == 0
    d = tmp_path / f"multi_dsprites/lavae/v{DSPRITES_VERSION}-seed0"
    before = {p: p.read_bytes() for p in d.rglob("*") if p.is_file()}
    res = cli(*args[:-2], "--split", "test", "--set", "max_objects=2")
    assert_clean_error(res, "holds a different dataset", "max_objects")
    assert {p: p.read_bytes() for p in d.rglob("*") if p.is_file()} == before
    # a foreign directory is not taken over either
    foreign = tmp_path / "x" / f"multi_dsprites/lavae/v{DSPRITES_VERSION}-seed0"
    foreign.mkdir(parents=True)
    (foreign / "notes.txt").write_text("mine")
    assert_clean_error(cli(*args[:4], "--out", tmp_path / "x"), "is not a scenebench dataset")
    assert (foreign / "notes.txt").read_text() == "mine"


def test_verify_and_corruption_and_newer_schema(tmp_path, cli):
    args = ["generate", "multi_dsprites", "--num", "30", "--out", tmp_path, "--workers", "1", "--split", "train",
            "--shard-size", "10"]
    d = Path(cli(*args).output.strip().splitlines()[-1])
    res = cli("verify", d)
    assert res.exit_code == 0 and "ok: 3 shards" in res.output
    shard = d / "train/shard-00001-of-00003.h5"
    data = bytearray(shard.read_bytes())
    data[-200] ^= 0x01  # flip one bit
    shard.write_bytes(bytes(data))
    res = cli("verify", d)
    assert_clean_error(res, "MISMATCH train/shard-00001-of-00003.h5", "1 of 3 shards", code=1)
    shard.unlink()
    assert_clean_error(cli("verify", d), "missing", code=1)
    m = json.loads((d / "manifest.json").read_text())
    m["schema_version"] = 99
    (d / "manifest.json").write_text(json.dumps(m))
    for cmd in (["verify", d], ["show", d], args):
        assert_clean_error(cli(*cmd), "schema version 99 is newer")
    assert_clean_error(cli("verify", tmp_path / "nowhere"), "no dataset found", "manifest.json")


def test_subprocess_error_has_no_traceback(tmp_path):
    res = run("generate", "multi_dsprites", "--set", "max_objects=9", "--out", tmp_path)
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and res.stderr.startswith("error: ")
