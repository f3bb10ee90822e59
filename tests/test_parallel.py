"""Data-parallel training under torchrun (2 gloo processes on CPU), and models of whole multi-view scenes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from helpers.toy_baselines import ToyAutoencoder, ToyScenes  # noqa: E402
from scenebench.baselines.common import checkpoint as ckpt  # noqa: E402
from scenebench.baselines.common.data import TrainData  # noqa: E402
from scenebench.baselines.common.predict import predict  # noqa: E402
from scenebench.baselines.common.training import train  # noqa: E402
from scenebench.errors import ConfigError  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")

TESTS = Path(__file__).resolve().parent
WORKER = TESTS / "helpers" / "ddp_train.py"


def _torchrun(*args, nproc=2, cwd=None):
    """Run ``args`` as a 2-process torchrun job (gloo on CPU); its stdout."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           *map(str, args)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get(
        "PYTHONPATH", "")])}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=cwd)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    return r.stdout


def _params(path):
    return torch.load(path, weights_only=True)


def test_two_gloo_processes_make_the_single_process_updates(tmp_path, small_lavae):
    """A deterministic loss: DDP's averaged gradients of the two half batches equal the whole batch's gradient."""
    single = train(ToyAutoencoder, small_lavae, ToyAutoencoder.resolve_config("smoke"), tmp_path / "one", threads=1,
                   log=lambda m: None, progress=False).model.state_dict()
    _torchrun(WORKER, "toy-ae", small_lavae, tmp_path / "two")
    r0, r1 = _params(tmp_path / "two" / "params-rank0.pt"), _params(tmp_path / "two" / "params-rank1.pt")
    for k in single:
        assert torch.equal(r0[k], r1[k]), k  # the replicas stay identical
        assert torch.allclose(r0[k], single[k], rtol=1e-5, atol=1e-6), (k, (r0[k] - single[k]).abs().max())
    moved = ToyAutoencoder(ToyAutoencoder.resolve_config("smoke"), TrainData(small_lavae, 8).info)
    assert not torch.allclose(moved.state_dict()["enc.weight"], r0["enc.weight"])  # it trained
    state = ckpt.read(tmp_path / "two")
    assert state["world_size"] == 2 and len(state["generators"]) == 2 and state["step"] == 6
    log = [json.loads(line) for line in (tmp_path / "two" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if r["kind"] == "val"] == [0, 3, 6]  # rank 0 writes the log, once
    assert json.loads((tmp_path / "two" / "config.json").read_text())["world_size"] == 2


def test_a_resumed_torchrun_job_continues_exactly(tmp_path, small_lavae):
    """Training noise drawn per rank: the checkpoint keeps every rank's generator, so stop + resume = one run."""
    _torchrun(WORKER, "toy-noisy", small_lavae, tmp_path / "whole")
    _torchrun(WORKER, "toy-noisy", small_lavae, tmp_path / "parts", "--stop-at", "2")
    assert ckpt.read(tmp_path / "parts")["step"] == 2
    _torchrun(WORKER, "toy-noisy", small_lavae, tmp_path / "parts")
    whole, parts = _params(tmp_path / "whole" / "params-rank0.pt"), _params(tmp_path / "parts" / "params-rank0.pt")
    assert all(torch.equal(whole[k], parts[k]) for k in whole)


def test_monet_trains_under_torchrun_from_the_cli(tmp_path, small_cis):
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps({"base": "smoke", "steps": 2, "batch_size": 4, "val_size": 8, "eval_every": 2,
                               "checkpoint_every": 2, "num_slots": 3, "latent_dim": 4, "unet_channels": 4,
                               "unet_mlp": 8, "encoder_channels": [4, 4, 8, 8], "encoder_hidden": 8,
                               "decoder_channels": 4, "decoder_layers": 2, "eval_batch_size": 8}))
    out = _torchrun("-m", "scenebench.cli", "baseline", "train", "monet", "-d", small_cis, "-c", cfg, "-o",
                    tmp_path / "run", "--device", "cpu", "--threads", "1", "--no-progress")
    assert out.strip().splitlines() == [str(tmp_path / "run" / "checkpoint.pt")]  # printed by rank 0 only
    model = ckpt.load_model(tmp_path / "run", device="cpu")
    assert model.trained_steps == 2


def test_the_global_batch_must_divide_by_the_processes(tmp_path, small_lavae, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(ConfigError, match="batch_size=8 .* 3 torchrun processes"):
        train(ToyAutoencoder, small_lavae, ToyAutoencoder.resolve_config("smoke"), tmp_path / "r", log=lambda m: None)
    assert not (tmp_path / "r" / "checkpoint.pt").exists()


# ----------------------------------------------------------------------------- whole scenes
@pytest.fixture(scope="module")
def tiny_scenes(tmp_path_factory):
    """CLE-MV (64x64, 10 views per scene): 5 train / 2 test scenes."""
    from scenebench.datasets.build import generate

    return generate("cle_mv", "cle-mv", tmp_path_factory.mktemp("scenes"), workers=1,
                    overrides={"splits.train": "5", "splits.test": "2"}, splits=["train", "test"])


def test_scenes_models_read_whole_samples_with_their_fields(tiny_scenes):
    from scenebench.datasets.reader import SplitReader

    data = TrainData.for_model(ToyScenes, tiny_scenes, val_size=10)
    assert data.layout == "scenes" and len(data) == 4 and data.unit == "scenes"
    assert data.batches_per_epoch(2) == 2 and data.batches_per_epoch(3) == 1  # scenes, not the dict's keys
    assert data.train["image"].shape == (4, 10, 3, 64, 64) and data.train["image"].dtype == torch.uint8
    assert data.val["camera/position"].shape == (1, 10, 3) and data.val["camera/position"].dtype == torch.float32
    reader = SplitReader(tiny_scenes, "train", fields=["image", "camera/position"])
    raw = reader.read(0, 5)
    reader.close()
    assert np.array_equal(data.train["image"].permute(0, 1, 3, 4, 2).numpy(), raw["image"][:4])
    assert np.array_equal(data.val["camera/position"].numpy(), raw["camera/position"][4:])
    batch = data.batch(3, 2, seed=0)
    assert batch["image"].shape == (2, 10, 3, 64, 64) and batch["camera/position"].shape == (2, 10, 3)
    idx = data.batch_indices(3, 2, seed=0)
    assert torch.equal(batch["camera/position"], data.train["camera/position"][torch.from_numpy(idx)])
    with pytest.raises(ConfigError, match="reads scenes"):
        TrainData(tiny_scenes, 10).check_model(ToyScenes)
    with pytest.raises(Exception, match="no field 'nope'"):
        TrainData(tiny_scenes, 10, layout="scenes", fields=("nope",))


def test_scenes_model_trains_and_predicts_per_sample(tmp_path, tiny_scenes):
    cfg = ToyScenes.resolve_config("smoke", {"batch_size": "2", "val_size": "10", "steps": "2", "eval_every": "2"})
    result = train(ToyScenes, tiny_scenes, cfg, tmp_path / "run", threads=1, log=lambda m: None, progress=False)
    vals = [r for r in result.history if r["kind"] == "val"]
    assert [r["step"] for r in vals] == [0, 2] and all(np.isfinite(r["val/neg_elbo"]) for r in vals)
    sub = predict(result.model, tiny_scenes, "test", tmp_path / "sub.h5", fields="segmentation,reconstruction",
                  batch_size=1, progress=False)
    import h5py

    with h5py.File(sub) as f:
        assert f["segmentation"].shape == (2, 10, 64, 64) and f["reconstruction"].shape == (2, 10, 64, 64, 3)


REFINEMENT_TINY = {  # models that take input gradients inside their forward pass (autograd.grad under DDP)
    "iodine": dict(num_slots=3, latent_dim=4, num_iters=2, refine_channels="4,4", refine_mlp="8", lstm_hidden=8,
                   decoder_channels=4, decoder_layers=2, batch_size=4, val_size=10, steps=2, eval_every=2,
                   checkpoint_every=2, eval_batch_size=10, device="cpu"),
    "mulmon": dict(num_slots=3, latent_dim=4, view_dim=3, view_hidden=8, projector_hidden=16, decoder_channels=4,
                   decoder_layers=2, refine_channels="4,8", refine_hidden=16, refine_features=8, lstm_hidden=8,
                   inner_iterations=2, max_observed=2, batch_size=2, val_size=10, steps=2, eval_every=2,
                   checkpoint_every=2, eval_batch_size=2, device="cpu"),
}


@pytest.mark.parametrize("name", sorted(REFINEMENT_TINY))
def test_refinement_models_train_under_torchrun(tmp_path, tiny_scenes, name):
    sets = [a for k, v in REFINEMENT_TINY[name].items() for a in ("--set", f"{k}={v}")]
    _torchrun(WORKER, name, tiny_scenes, tmp_path / "run", *sets)
    r0, r1 = _params(tmp_path / "run" / "params-rank0.pt"), _params(tmp_path / "run" / "params-rank1.pt")
    assert all(torch.equal(r0[k], r1[k]) for k in r0)
    state = ckpt.read(tmp_path / "run")
    assert state["step"] == 2 and state["world_size"] == 2


def test_cis_trains_every_phase_under_torchrun_from_the_cli(tmp_path, small_cis):
    """CIS trains a different module in each phase (find_unused_parameters) and calls psi with detached
    parameters; under 2 gloo processes every phase runs, the replicas stay equal and the run resumes."""
    tiny = dict(base="smoke", num_masks=3, segnet_channels=4, inpainter_channels=2, vae_channels=4, vae_hidden=8,
                appearance_dim=2, mask_dim=3, background_dim=2, pretrain_steps=1, cis_steps=2, vae_steps=1,
                perceptual_consistency=True, pc_steps=2, steps=6, batch_size=4, pretrain_batch=4, cis_batch=4,
                vae_batch=4, pc_batch=4, val_size=4, eval_every=3, log_every=1, checkpoint_every=3,
                eval_batch_size=4)
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps(tiny))
    args = ("-m", "scenebench.cli", "baseline", "train", "cis", "-d", small_cis, "-c", cfg, "--device", "cpu",
            "--threads", "1", "--no-progress")
    out = _torchrun(*args, "-o", tmp_path / "run")
    assert out.strip().splitlines() == [str(tmp_path / "run" / "checkpoint.pt")]
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["phase"] for r in log if r["kind"] == "train"] == [0, 1, 1, 2, 3, 3]
    state = ckpt.read(tmp_path / "run")
    assert state["world_size"] == 2 and state["step"] == 6
    # stop inside the CIS phase and resume: the same parameters as the straight job
    _torchrun(WORKER, "cis", small_cis, tmp_path / "parts", "--config", cfg, "--stop-at", "2")
    _torchrun(WORKER, "cis", small_cis, tmp_path / "parts", "--config", cfg)
    whole, parts = state["model"], _params(tmp_path / "parts" / "params-rank0.pt")
    other = _params(tmp_path / "parts" / "params-rank1.pt")
    assert all(torch.equal(whole[k], parts[k]) and torch.equal(parts[k], other[k]) for k in whole)
