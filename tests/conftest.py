import numpy as np
import pytest
from click.testing import CliRunner

from scenebench.datasets.build import generate


@pytest.fixture(scope="session")
def small_lavae(tmp_path_factory):
    """A small multi-dSprites lavae dataset written with several shards per split."""
    root = tmp_path_factory.mktemp("lavae")
    return generate("multi_dsprites", "lavae", root, num=120, shard_size=50, workers=1)


@pytest.fixture(scope="session")
def small_cis(tmp_path_factory):
    root = tmp_path_factory.mktemp("cis")
    return generate("multi_dsprites", "cis", root, num=200, shard_size=100, workers=1)


@pytest.fixture
def run_cli():
    """Invoke the ``scenebench`` command group in-process: ``run_cli("baseline", "train", ...)``."""
    from scenebench.cli import main

    runner = CliRunner()
    return lambda *args: runner.invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def cli():
    from scenebench.cli import main

    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)

    return invoke


def read_split(directory, split):
    from scenebench.datasets.reader import SplitReader

    r = SplitReader(directory, split)
    try:
        return r.read(0, len(r))
    finally:
        r.close()


def assert_same_arrays(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        assert a[k].shape == b[k].shape, k
        assert a[k].tobytes() == b[k].tobytes(), k


@pytest.fixture(scope="module")
def torch_one_thread():
    """Tiny models: one torch thread is as fast, and immune to oversubscribed CI cores."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
