"""The single-image LDS models (MONet, IODINE) on the Dolphin preset from the CLI: train, predict, evaluate.

(MulMON's round trips, CLE-MV and Dolphin, are in tests/test_mulmon.py; the CLE-MV ones of MONet and IODINE
in their own test files.)"""

import json

import pytest

torch = pytest.importorskip("torch")

from helpers.tiny_configs import LDS_TINY  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def tiny_dolphin(tmp_path_factory):
    """Dolphin (CLE-MV's complex shapes), 64x64, 10 views: 2 train / 1 test scenes."""
    from scenebench.datasets.build import generate

    return generate("cle_mv", "dolphin", tmp_path_factory.mktemp("dolphin"), workers=1,
                    overrides={"splits.train": "2", "splits.test": "1"}, splits=["train", "test"])


@pytest.mark.parametrize("name", ["monet", "iodine"])
def test_dolphin_round_trip(tmp_path, tiny_dolphin, run_cli, name):
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps({"base": "smoke-lds", **LDS_TINY[name]}))
    res = run_cli("baseline", "train", name, "-d", tiny_dolphin, "-c", cfg, "-o", tmp_path / "run", "--threads", "1",
                  "--no-progress")
    assert res.exit_code == 0, res.output
    sub = tmp_path / "sub.h5"
    res = run_cli("baseline", "predict", name, "-k", tmp_path / "run", "-d", tiny_dolphin, "-o", sub, "-S", "3",
                  "--fields", "segmentation,reconstruction,log_weights,elbo,latents", "--no-progress")
    assert res.exit_code == 0, res.output
    res = run_cli("evaluate", sub, "--data", tiny_dolphin, "--json", "-", "--workers", "1")
    assert res.exit_code == 0, res.output
    results = json.loads(res.output)
    metrics = results["metrics"]
    assert results["dataset"]["preset"] == "dolphin" and results["method"]["name"].endswith("+LDS [tiny]")
    assert metrics["miou"]["n"] == 10 and metrics["mse"]["n"] == 10 and metrics["iw_nll"]["n"] == 1
    assert metrics["duplicate_rate"]["n"] == 10 and metrics["inference_gap"]["mean"] > -1e-6
