"""The baselines framework: registry, configs, schedules, data order, training loop, checkpoints, resume."""

import json
import subprocess
import sys

import pytest

from scenebench.baselines.common import schedules
from scenebench.errors import ConfigError

torch = pytest.importorskip("torch")

from scenebench.baselines.common import checkpoint as ckpt  # noqa: E402
from scenebench.baselines.common.data import TrainData  # noqa: E402
from scenebench.baselines.common.training import train  # noqa: E402
from scenebench.baselines.lavae.beta_vae import ConvBetaVae  # noqa: E402
from scenebench.baselines.lavae.model import Lavae  # noqa: E402


pytestmark = pytest.mark.usefixtures("torch_one_thread")

TINY_VAE = dict(channels=4, blocks=0, latent_channels=2, batch_size=8, val_size=16, eval_every=3, log_every=2,
                checkpoint_every=2, eval_batch_size=16, beta_steps=4, device="cpu")
TINY_LAVAE = dict(channels=2, blocks=1, head_channels=2, decoder_channels=4, decoder_blocks=1, latent_dim=2,
                  aux_channels=2, max_objects=3, batch_size=4, val_size=8, eval_every=3, log_every=2,
                  checkpoint_every=2, eval_batch_size=8, warmup_steps=2, warmup_anneal_steps=2, tau_steps=4,
                  lr_location_decay_steps=4, device="cpu")


# ----------------------------------------------------------------------------- schedules, configs, registry
def test_schedules():
    assert schedules.linear(0, 0.0, 1.0, 100) == 0.0
    assert schedules.linear(25, 0.0, 1.0, 100) == 0.25
    assert schedules.linear(10**6, 0.0, 1.0, 100) == 1.0
    assert schedules.exponential(0, 1e-4, 1e-6, 100_000) == pytest.approx(1e-4)
    assert schedules.exponential(50_000, 1e-4, 1e-6, 100_000) == pytest.approx(1e-5)
    assert schedules.exponential(200_000, 0.5, 0.02, 100_000) == pytest.approx(0.02)
    assert schedules.warmup_then_linear(29_999, 1.0, 0.1, 30_000, 30_000) == 1.0
    assert schedules.warmup_then_linear(45_000, 1.0, 0.1, 30_000, 30_000) == pytest.approx(0.55)
    assert schedules.warmup_then_linear(90_000, 1.0, 0.0, 30_000, 30_000) == 0.0


def test_named_configs_files_and_overrides(tmp_path):
    paper = Lavae.resolve_config("paper")
    assert (paper.batch_size, paper.latent_dim, paper.max_objects) == (64, 32, 10)
    assert (paper.tau_start, paper.tau_end) == (0.5, 0.02)
    assert (paper.warmup_steps, paper.warmup_anneal_steps, paper.lr_location_decay) == (30_000, 30_000, 0.01)
    assert ConvBetaVae.resolve_config("paper").beta_steps == 100_000
    assert Lavae.resolve_config(None) == Lavae.CONFIGS["smoke"]
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"base": "paper", "steps": 7, "channels": 16}))
    c = Lavae.resolve_config(str(f), {"seed": "3"})
    assert (c.steps, c.channels, c.seed, c.latent_dim) == (7, 16, 3, 32)
    t = tmp_path / "c.toml"
    t.write_text('steps = 9\ntau_end = 0.05\n')
    assert (Lavae.resolve_config(str(t)).steps, Lavae.resolve_config(str(t)).tau_end) == (9, 0.05)
    with pytest.raises(ConfigError, match="unknown config key 'chanels'"):
        Lavae.resolve_config("smoke", {"chanels": "3"})
    with pytest.raises(ConfigError, match="steps"):
        Lavae.resolve_config("smoke", {"steps": "many"})
    with pytest.raises(ConfigError, match="odd"):
        Lavae.resolve_config("smoke", {"sprite_size": "16"})
    with pytest.raises(ConfigError, match="smoke, paper"):
        Lavae.resolve_config(str(tmp_path / "missing.json"))
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        Lavae.resolve_config(str(tmp_path / "bad.json"))


def test_registry_lists_baselines_without_importing_torch():
    code = ("import sys; from scenebench.registry import list_baselines; "
            "names = [e.name for e in list_baselines()]; "
            "assert {'lavae', 'conv-beta-vae', 'monet'} <= set(names), names; "
            "m = {e.name: e for e in list_baselines()}['monet']; "
            "assert 'Burgess' in m.paper and 'lds_weight' in m.description; "
            "assert 'torch' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_registry_lookup_decorator_and_conflicts():
    from scenebench import registry

    assert registry.get_baseline("lavae") is Lavae
    with pytest.raises(ConfigError, match="unknown baseline 'nope'; baselines: .*lavae"):
        registry.get_baseline("nope")

    @registry.register_baseline
    class Dummy(ConvBetaVae):
        name = "test-dummy-baseline"
        description = "a test"

    try:
        assert registry.get_baseline("test-dummy-baseline") is Dummy
        assert [e.description for e in registry.list_baselines() if e.name == Dummy.name] == ["a test"]
        with pytest.raises(ValueError, match="already registered"):
            registry.register_baseline("test-dummy-baseline", "somewhere.else:Other")
        with pytest.raises(ValueError, match="already registered"):
            registry.register_baseline("lavae", "somewhere.else:Other")
    finally:
        registry._BASELINES.pop("test-dummy-baseline", None)


# ----------------------------------------------------------------------------- data order
def test_batch_order_is_a_function_of_seed_and_step(small_lavae):
    data = TrainData(small_lavae, val_size=20, log=None)
    assert len(data) == 100 and len(data.val) == 20
    per = data.batches_per_epoch(32)
    assert per == 3
    epoch0 = sorted(int(i) for s in range(per) for i in data.batch_indices(s, 32, seed=0))
    assert len(set(epoch0)) == 96 and max(epoch0) < 100
    a = data.batch_indices(4, 32, seed=0).copy()
    data.batch_indices(0, 32, seed=1)
    assert (data.batch_indices(4, 32, seed=0) == a).all()
    assert not (data.batch_indices(4, 32, seed=1) == a).all()
    assert data.batch(1, 32, 0).shape == (32, 3, 64, 64) and data.batch(1, 32, 0).dtype == torch.uint8
    with pytest.raises(ConfigError, match="val_size"):
        TrainData(small_lavae, val_size=120)


# ----------------------------------------------------------------------------- training and resume
def _params(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("cls, conf", [(ConvBetaVae, TINY_VAE), (Lavae, TINY_LAVAE)], ids=["beta-vae", "lavae"])
def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path, small_lavae, cls, conf):
    data = TrainData(small_lavae, conf["val_size"])
    config = cls.resolve_config("smoke", {**conf, "steps": 6})
    quiet = dict(log=lambda m: None, progress=False)
    straight = train(cls, data, config, tmp_path / "a", **quiet)
    again = train(cls, data, config, tmp_path / "b", **quiet)
    _same(_params(straight.model), _params(again.model))  # deterministic
    first = train(cls, data, config, tmp_path / "c", stop_at=3, **quiet)
    assert first.step == 3 and ckpt.read(tmp_path / "c")["step"] == 3
    resumed = train(cls, data, config, tmp_path / "c", **quiet)
    assert resumed.resumed_from == 3 and resumed.step == 6
    _same(_params(straight.model), _params(resumed.model))
    # the log of the resumed run equals the straight run's (timing aside)
    strip = lambda p: [{k: v for k, v in json.loads(line).items() if k != "elapsed"}  # noqa: E731
                       for line in (p / "log.jsonl").read_text().splitlines()]
    assert strip(tmp_path / "a") == strip(tmp_path / "c")
    # a finished run is reused as it is; another config in the same directory is refused
    done = train(cls, data, config, tmp_path / "a", **quiet)
    assert done.step == 6 and done.history == []
    _same(_params(straight.model), _params(done.model))
    with pytest.raises(ConfigError, match="different config .*steps"):
        train(cls, data, cls.resolve_config("smoke", {**conf, "steps": 7}), tmp_path / "a", **quiet)


def test_cpu_thread_count_is_recorded_and_reused_on_resume(tmp_path, small_lavae):
    data = TrainData(small_lavae, TINY_LAVAE["val_size"])
    config = Lavae.resolve_config("smoke", {**TINY_LAVAE, "steps": 6})
    logs = []
    quiet = dict(log=logs.append, progress=False)
    was = torch.get_num_threads()
    try:
        straight = train(Lavae, data, config, tmp_path / "a", threads=1, **quiet)
        assert torch.get_num_threads() == was  # restored
        train(Lavae, data, config, tmp_path / "c", threads=1, stop_at=3, **quiet)
        assert json.loads((tmp_path / "c" / "config.json").read_text())["cpu_threads"] == 1
        assert ckpt.read(tmp_path / "c")["cpu_threads"] == 1
        torch.set_num_threads(2)  # the re-run's process would pick another count by itself
        resumed = train(Lavae, data, config, tmp_path / "c", **quiet)
        _same(_params(straight.model), _params(resumed.model))
        assert not [m for m in logs if "warning" in m]
        # an explicit other count is used, and said to break bit-identity
        train(Lavae, data, config, tmp_path / "d", threads=1, stop_at=3, **quiet)
        train(Lavae, data, config, tmp_path / "d", threads=2, **quiet)
        assert any("started with 1" in m for m in logs)
        with pytest.raises(ConfigError, match="threads"):
            train(Lavae, data, config, tmp_path / "e", threads=0, **quiet)
    finally:
        torch.set_num_threads(was)


def test_training_lowers_the_validation_negative_elbo(tmp_path, small_lavae):
    data = TrainData(small_lavae, 16)
    config = ConvBetaVae.resolve_config("smoke", {**TINY_VAE, "steps": 24, "eval_every": 24, "lr": 3e-3})
    result = train(ConvBetaVae, data, config, tmp_path, log=lambda m: None, progress=False)
    val = [r["val/neg_elbo"] for r in result.history if r["kind"] == "val"]
    assert len(val) == 2 and val[1] < 0.7 * val[0]  # e.g. ~8,700 -> ~4,800 nats


def test_checkpoint_rebuilds_the_trained_model(tmp_path, small_lavae):
    data = TrainData(small_lavae, 16)
    config = ConvBetaVae.resolve_config("smoke", {**TINY_VAE, "steps": 2})
    trained = ConvBetaVae.fit(data, config, tmp_path, log=lambda m: None, progress=False)  # the harness's fit()
    loaded = ckpt.load_model(tmp_path / "checkpoint.pt", device="cpu")
    assert isinstance(loaded, ConvBetaVae) and not loaded.training and loaded.trained_steps == 2
    x = loaded.prepare(data.val[:4])
    assert torch.equal(loaded.log_weights(x, 3), trained.log_weights(x, 3))
    with pytest.raises(ConfigError, match="not 'lavae'"):
        ckpt.load_model(tmp_path, expect=Lavae)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="not a readable scenebench checkpoint"):
        ckpt.read(tmp_path / "junk.pt")
    with pytest.raises(ConfigError, match="not found"):
        ckpt.read(tmp_path / "nothing" / "checkpoint.pt")
