"""MONet (with and without the LDS prior): configs, attention recursion, gradients, exact bounds, training, CLI."""

import json
import math

import numpy as np

import pytest

torch = pytest.importorskip("torch")

from scenebench.baselines.common import checkpoint as ckpt  # noqa: E402
from scenebench.baselines.common import lds  # noqa: E402
from scenebench.baselines.common.data import DataInfo, TrainData  # noqa: E402
from scenebench.baselines.common.training import train  # noqa: E402
from scenebench.baselines.monet.config import MonetConfig  # noqa: E402
from scenebench.baselines.monet.model import Monet, auto_unet_blocks, parameter_counts  # noqa: E402
from scenebench.errors import ConfigError  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")

# tiny networks for 32x32 images: ~0.02 s per step of 4 images on one core
TINY = dict(num_slots=3, latent_dim=4, unet_channels=4, unet_mlp=8, encoder_channels=(4, 4, 8, 8), encoder_hidden=8,
            decoder_channels=4, decoder_layers=2, batch_size=4, val_size=8, eval_every=3, log_every=2,
            checkpoint_every=2, eval_batch_size=8, sample_chunk=10, device="cpu")


def tiny_monet(channels=3, size=16, **kw):
    cfg = {k: v for k, v in TINY.items() if k not in ("device",)}
    cfg.update(kw)
    torch.manual_seed(0)
    return Monet(MonetConfig(**cfg), DataInfo(channels, size, size))


@pytest.fixture(scope="module")
def tiny_cis(tmp_path_factory):
    """32x32 multi-dSprites (cis preset: coloured background, occlusion): 40 train / 6 test images."""
    from scenebench.datasets.build import generate

    return generate("multi_dsprites", "cis", tmp_path_factory.mktemp("monet-cis"), workers=1,
                    overrides={"height": "32", "width": "32", "splits.train": "40", "splits.test": "6"})


# ----------------------------------------------------------------------------- configs and registry
def test_paper_configs_hold_the_stated_values_and_differ_only_in_lambda():
    paper, plus = Monet.resolve_config("paper"), Monet.resolve_config("paper-lds")
    assert (paper.lr, paper.batch_size, paper.steps, paper.grad_clip) == (3e-4, 40, 600_000, 5.0)
    assert (paper.num_slots, paper.latent_dim, paper.sigma_bg, paper.sigma_fg) == (7, 16, 0.09, 0.11)
    assert (paper.recon_weight, paper.beta, paper.gamma, paper.lds_sigma) == (1.0, 0.5, 0.5, 0.1)
    assert (paper.encoder_channels, paper.encoder_hidden, paper.decoder_channels, paper.decoder_layers) == \
        ((32, 32, 64, 64), 256, 32, 4)
    assert paper.lds_weight == 0.0 and plus.lds_weight == 0.5
    assert {k for k in paper.__dataclass_fields__ if getattr(paper, k) != getattr(plus, k)} == {"lds_weight"}
    smoke, smoke_plus = Monet.resolve_config("smoke"), Monet.resolve_config("smoke-lds")
    assert {k for k in smoke.__dataclass_fields__ if getattr(smoke, k) != getattr(smoke_plus, k)} == {"lds_weight"}
    # the prior is a field: --set lds_weight=0.5 switches it on for any config
    assert Monet.resolve_config("paper", {"lds_weight": "0.5"}) == plus
    info = DataInfo(3, 64, 64)
    assert Monet(smoke, info).display_name == "MONet" and Monet(smoke_plus, info).display_name == "MONet+LDS"
    with pytest.raises(ConfigError, match="lds_weight"):
        Monet.resolve_config("smoke", {"lds_weight": "-1"})
    with pytest.raises(ConfigError, match="mixture"):
        Monet.resolve_config("smoke", {"mixture": "joint"})
    with pytest.raises(ConfigError, match="num_slots"):
        Monet.resolve_config("smoke", {"num_slots": "1"})
    # the paper config's networks at 64x64: a 5-block U-Net with a 4x4 bottleneck, ~0.97M parameters
    assert auto_unet_blocks(64, 64) == 5 and auto_unet_blocks(128, 128) == 6 and auto_unet_blocks(32, 32) == 4
    counts = parameter_counts(Monet(paper, info))
    assert counts == {"attention": 604_513, "encoder": 336_480, "decoder": 33_092, "total": 974_085}
    with pytest.raises(ConfigError, match="divisible"):
        Monet(Monet.resolve_config("smoke", {"unet_blocks": "5"}), DataInfo(3, 40, 40))


def test_monet_is_registered():
    from scenebench.registry import get_baseline

    assert get_baseline("monet") is Monet
    assert set(Monet.capabilities()) == {"segment", "log_weights", "elbo", "reconstruct", "latents", "masks"}


# ----------------------------------------------------------------------------- the networks
def test_attention_scope_recursion_gives_stick_breaking_masks():
    model = tiny_monet(size=8, num_slots=4)
    a = torch.tensor([0.3, -1.2, 2.0])  # the U-Net's logit at each of the K - 1 steps (constant over pixels)
    calls = []

    def unet(inp):
        calls.append(inp[:, -1].clone())  # the log scope it is given
        return torch.full((len(inp), 1, 8, 8), float(a[(len(calls) - 1) % 3]))

    model.attention.unet.forward = unet
    x = torch.rand(2, 3, 8, 8)
    masks = model.masks(x)
    al = torch.sigmoid(a)
    expect = torch.stack([al[0], (1 - al[0]) * al[1], (1 - al[0]) * (1 - al[1]) * al[2],
                          (1 - al[0]) * (1 - al[1]) * (1 - al[2])])
    assert masks.shape == (2, 4, 8, 8)
    assert torch.allclose(masks[0, :, 3, 5], expect, atol=1e-6)
    assert torch.allclose(masks.sum(1), torch.ones(2, 8, 8), atol=1e-6)
    assert torch.equal(calls[0], torch.zeros(2, 8, 8))  # log s_0 = 0
    assert torch.allclose(calls[2][0, 0, 0], torch.log((1 - al[0]) * (1 - al[1])), atol=1e-6)
    assert torch.equal(model.segment(x), masks.argmax(1))


def test_shapes_dtypes_and_gradients_reach_every_parameter():
    for weight in (0.0, 0.5):
        model = tiny_monet(size=16, lds_weight=weight)
        g = torch.Generator().manual_seed(0)
        x = torch.rand(3, 3, 16, 16, generator=g)
        loss, metrics = model.training_loss(x, step=0, generator=g)
        assert loss.dtype == torch.float32 and loss.dim() == 0
        loss.backward()
        for name, p in model.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
            assert p.grad.abs().sum() > 0, f"no gradient reaches {name} (lds_weight={weight})"
        assert {"loss", "recon", "kl_z", "kl_mask", "lds", "similarity", "neg_elbo"} <= set(metrics)
        assert metrics["kl_z"] >= 0 and metrics["kl_mask"] >= -1e-3
    lw = model.log_weights(x, 7, generator=g)
    assert lw.shape == (3, 7) and lw.dtype == torch.float64 and torch.isfinite(lw).all()
    assert model.elbo(x).shape == (3,) and model.elbo(x).dtype == torch.float64
    seg = model.segment(x)
    assert seg.shape == (3, 16, 16) and seg.dtype == torch.int64 and 0 <= int(seg.min()) and int(seg.max()) < 3
    rec = model.reconstruct(x)
    assert rec.shape == (3, 3, 16, 16) and rec.dtype == torch.float32 and 0 <= float(rec.min()) <= float(rec.max()) <= 1
    assert model.latents(x).shape == (3, 3, 4) and model.latents(x).dtype == torch.float32


def test_reconstruct_and_latents_use_the_attention_masks_and_posterior_means():
    model = tiny_monet(size=16)
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        log_m = model.attend(x)
        mu, _ = model.encode(x, log_m)
        means, _ = model.decode(mu)
    assert torch.allclose(model.latents(x), mu)
    assert torch.allclose(model.reconstruct(x), (log_m.exp()[:, :, None] * means).sum(1).clamp(0, 1))


def test_evaluation_methods_run_in_eval_mode_and_restore_the_mode():
    model = tiny_monet(size=16)
    model.train()
    model.decoder.eval()  # a mixed state is given back as it was
    seen = []
    model.encoder.register_forward_pre_hook(lambda mod, inp: seen.append(mod.training))
    x = torch.rand(2, 3, 16, 16)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    in_train = model.log_weights(x, 4, generator=g1)
    for method in (model.segment, model.reconstruct, model.latents, model.elbo, model.masks):
        method(x)
    assert seen and not any(seen)
    assert model.training and model.encoder.training and model.attention.unet.training and not model.decoder.training
    model.eval()
    assert torch.equal(in_train, model.log_weights(x, 4, generator=g2))
    assert not torch.is_grad_enabled() or model.log_weights(x, 2).grad_fn is None


# ----------------------------------------------------------------------------- the LDS prior is training-only
def test_lds_prior_enters_the_training_loss_only():
    plain = tiny_monet(size=16, lds_weight=0.0)
    plus = tiny_monet(size=16, lds_weight=0.5)
    plus.load_state_dict(plain.state_dict())  # the same parameters
    x = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    gens = lambda: (torch.Generator().manual_seed(7), torch.Generator().manual_seed(7))  # noqa: E731
    a, b = gens()
    assert torch.equal(plain.elbo(x, num_samples=3, generator=a), plus.elbo(x, num_samples=3, generator=b))
    a, b = gens()
    assert torch.equal(plain.log_weights(x, 5, generator=a), plus.log_weights(x, 5, generator=b))
    a, b = gens()
    assert torch.equal(plain.validation_loss(x, a), plus.validation_loss(x, b))
    # ... and is in the training loss: loss(lambda) = loss(0) - lambda * mean L_LDS(z), z the decoder's sample
    a, b = gens()
    l0, m0 = plain.training_loss(x, 0, a)
    l5, m5 = plus.training_loss(x, 0, b)
    assert m0["lds"] == m5["lds"] and m0["lds"] < 0
    assert float(l5.detach()) == pytest.approx(float(l0.detach()) - 0.5 * m0["lds"], rel=1e-5)
    # the sampled latents are what it sees by default; lds_latent="mean" puts it on the posterior means
    with torch.no_grad():
        log_m = plain.attend(x)
        mu, sigma = plain.encode(x, log_m)
        z = mu + sigma * torch.randn(mu.shape, generator=torch.Generator().manual_seed(7))
    assert m0["lds"] == pytest.approx(float(lds.lds_log_prior(z, 0.1).mean()), rel=1e-6)
    means = tiny_monet(size=16, lds_latent="mean")
    means.load_state_dict(plain.state_dict())
    assert means.training_loss(x, 0, gens()[0])[1]["lds"] == pytest.approx(
        float(lds.lds_log_prior(mu, 0.1).mean()), rel=1e-6)


# ----------------------------------------------------------------------------- exact bounds
def _toy():
    """K = 2 slots with 1-D latents on 8x8 gray images: log p(x) is a 2-D integral done on a grid."""
    model = tiny_monet(channels=1, size=8, num_slots=2, latent_dim=1, unet_blocks=2, unet_channels=2, unet_mlp=4,
                       encoder_channels=(2,), encoder_hidden=4, decoder_channels=4, decoder_layers=2,
                       sigma_bg=0.1, sigma_fg=0.2, sample_chunk=5000).eval()
    with torch.no_grad():  # images that depend clearly on z
        model.decoder.net[0].weight[:, 0] *= 3.0
        model.decoder.net[-1].weight *= 8.0
    return model


def _exact_log_px(model, x, grid=401, lim=6.0):
    """log p(x) = log int N(z_1) N(z_2) prod_pixels sum_k softmax(l(z))_k N(x; mu_k(z_k), sigma_k^2) dz, and the
    posterior means and standard deviations of z_1, z_2 -- written out here, independently of the model's code."""
    zs = torch.linspace(-lim, lim, grid, dtype=torch.float64)
    with torch.no_grad():
        means, logits = model.decode(zs[:, None].float())  # (G, 1, H, W), (G, H, W): one decode per grid value
    means, logits = means.double()[:, 0], logits.double()
    s_bg, s_fg = float(model.config.sigma_bg), float(model.config.sigma_fg)
    norm = lambda s: -0.5 * ((x[0, 0].double() - means) / s) ** 2 - math.log(s) - 0.5 * math.log(2 * math.pi)  # noqa
    lp0, lp1 = norm(s_bg), norm(s_fg)  # slot 0 uses the background sigma
    log_prior = -0.5 * zs ** 2 - 0.5 * math.log(2 * math.pi)
    joint = torch.empty(grid, grid, dtype=torch.float64)
    for i in range(grid):  # z_1 = zs[i], z_2 = every grid value
        lse = torch.logaddexp(logits[i], logits)
        lik = torch.logaddexp(logits[i] - lse + lp0[i], logits - lse + lp1).flatten(1).sum(1)
        joint[i] = lik + log_prior[i] + log_prior
    dz = 2 * lim / (grid - 1)
    post = torch.softmax(joint.flatten(), 0).view(grid, grid)
    m1, m2 = (post.sum(1) * zs).sum(), (post.sum(0) * zs).sum()
    s1 = (post.sum(1) * (zs - m1) ** 2).sum().sqrt()
    s2 = (post.sum(0) * (zs - m2) ** 2).sum().sqrt()
    return float(torch.logsumexp(joint.flatten(), 0)) + 2 * math.log(dz), (m1, m2), (s1, s2)


def test_log_weights_are_exact_importance_weights_of_the_decoded_mask_model():
    """E_q[w] = p(x) for the generative model with the decoded masks; IWAE and the ELBO bound log p(x) from below."""
    model = _toy()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # an image drawn from the model: z = (0.7, -1.1), a slot per pixel from the decoded masks
        means, logits = model.decode(torch.tensor([[[0.7], [-1.1]]]))
        slot1 = torch.rand(1, 8, 8, generator=g) < torch.softmax(logits, 1)[:, 1]
        x = torch.where(slot1, means[:, 1, 0], means[:, 0, 0])[:, None]
        x = x + torch.where(slot1, 0.2, 0.1) * torch.randn(x.shape, generator=g)
    exact, (m1, m2), (s1, s2) = _exact_log_px(model, x)
    assert exact == pytest.approx(_exact_log_px(model, x, grid=801)[0], abs=1e-4)  # the grid has converged
    # a proposal near (not at) the posterior: shifted means and 1.2x its spread, the same for every input
    mu = torch.tensor([float(m1) + 0.2, float(m2) - 0.2])
    log_sigma = torch.log(torch.tensor([1.2 * float(s1), 1.2 * float(s2)]))
    model.encoder.forward = lambda inp: (mu[torch.arange(len(inp)) % 2][:, None],
                                         log_sigma[torch.arange(len(inp)) % 2][:, None])
    lw = model.log_weights(x, 20000, generator=torch.Generator().manual_seed(0))[0]
    estimate = float(torch.logsumexp(lw, 0)) - math.log(len(lw))
    ess = float(torch.exp(2 * torch.logsumexp(lw, 0) - torch.logsumexp(2 * lw, 0)))
    assert ess > 1000
    assert abs(estimate - exact) < 4 / math.sqrt(ess)  # measured: 25.2437 vs exact 25.2385 (ESS 12,900)
    iw100 = torch.logsumexp(lw.view(200, 100), 1) - math.log(100)
    assert float(iw100.mean()) <= exact + 3 * float(iw100.std()) / math.sqrt(200)
    elbo = float(model.elbo(x, num_samples=20000, generator=torch.Generator().manual_seed(0)))
    assert elbo < float(iw100.mean()) and elbo < exact - 0.1  # measured: ELBO 24.91, gap 0.33 nats
    # the ELBO (analytic KL) and the mean log-weight (Monte Carlo KL) estimate the same number
    assert elbo == pytest.approx(float(lw.mean()), abs=0.05)


def test_more_importance_samples_tighten_the_bound_of_a_real_model():
    model = tiny_monet(size=16)
    x = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    lw = model.log_weights(x, 400, generator=torch.Generator().manual_seed(0))
    elbo = model.elbo(x, num_samples=400, generator=torch.Generator().manual_seed(0))
    iw = torch.logsumexp(lw, 1) - math.log(400)
    iw10 = (torch.logsumexp(lw.view(4, 40, 10), 2) - math.log(10)).mean(1)
    assert (elbo < iw10).all() and (iw10 < iw).all()
    assert torch.allclose(elbo, lw.mean(1), atol=2.0)  # same quantity; |KL MC error| over 12 latent dims


# ----------------------------------------------------------------------------- training and resume
from test_baselines_common import _params, _same  # noqa: E402  (state copies; bit-equality of state dicts)


@pytest.mark.parametrize("weight", [0.0, 0.5], ids=["monet", "monet-lds"])
def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path, tiny_cis, weight):
    data = TrainData(tiny_cis, TINY["val_size"])
    config = Monet.resolve_config("smoke", {**TINY, "steps": 6, "lds_weight": weight})
    quiet = dict(log=lambda m: None, progress=False)
    straight = train(Monet, data, config, tmp_path / "a", **quiet)
    first = train(Monet, data, config, tmp_path / "c", stop_at=3, **quiet)
    assert first.step == 3 and ckpt.read(tmp_path / "c")["step"] == 3
    resumed = train(Monet, data, config, tmp_path / "c", **quiet)
    assert resumed.resumed_from == 3 and resumed.step == 6
    _same(_params(straight.model), _params(resumed.model))
    strip = lambda p: [{k: v for k, v in json.loads(line).items() if k != "elapsed"}  # noqa: E731
                       for line in (p / "log.jsonl").read_text().splitlines()]
    assert strip(tmp_path / "a") == strip(tmp_path / "c")
    # RMSprop state is in the checkpoint, and the rebuilt model scores like the trained one
    assert "square_avg" in next(iter(ckpt.read(tmp_path / "a")["optimizer"]["state"].values()))
    loaded = ckpt.load_model(tmp_path / "a", device="cpu")
    x = loaded.prepare(data.val[:3])
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    assert torch.equal(loaded.log_weights(x, 3, generator=g1), straight.model.log_weights(x, 3, generator=g2))
    assert loaded.display_name == ("MONet+LDS" if weight else "MONet")


def test_training_lowers_the_validation_negative_elbo(tmp_path, tiny_cis):
    data = TrainData(tiny_cis, 8)
    config = Monet.resolve_config("smoke", {**TINY, "steps": 40, "eval_every": 40, "lr": 3e-3, "decoder_channels": 8})
    result = train(Monet, data, config, tmp_path, log=lambda m: None, progress=False)
    val = [r["val/neg_elbo"] for r in result.history if r["kind"] == "val"]
    assert len(val) == 2 and val[1] < 0.5 * val[0]  # measured: 14,089 -> 5,088 nats (seeds 1, 2: 9,181 -> 1,978,
    # 11,850 -> 4,137) on 32x32x3 images
    train_log = [r for r in result.history if r["kind"] == "train"]
    assert {"recon", "kl_z", "kl_mask", "lds", "neg_elbo", "lr"} <= set(train_log[-1])


# ----------------------------------------------------------------------------- CLI round trip
def _tiny_file(path, **extra):
    path.write_text(json.dumps({"base": "smoke", **TINY, **extra}))
    return path


def test_train_predict_evaluate_round_trip_from_the_cli(tmp_path, tiny_cis, run_cli, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default run directory is ./runs/...
    cfg = _tiny_file(tmp_path / "tiny.json", steps=4)
    res = run_cli("baseline", "train", "monet", "--data", tiny_cis, "--config", cfg, "--set", "lds_weight=0.5",
                  "--threads", "1", "--no-progress")
    assert res.exit_code == 0, res.output
    path = res.stdout.strip().splitlines()[-1]
    assert path.endswith("checkpoint.pt") and path.startswith("runs/monet/multi_dsprites-cis-")
    run = tmp_path / path.rsplit("/", 1)[0]
    assert json.loads((run / "config.json").read_text())["config"]["lds_weight"] == 0.5
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if r["kind"] == "val"] == [0, 3, 4]
    sub = tmp_path / "sub.h5"
    res = run_cli("baseline", "predict", "monet", "-k", run, "-d", tiny_cis, "-o", sub, "-S", "5",
                  "--fields", "segmentation,log_weights,elbo,reconstruction,latents", "--no-progress")
    assert res.exit_code == 0, res.output
    res = run_cli("evaluate", sub, "--data", tiny_cis, "--json", "-", "--workers", "1")
    assert res.exit_code == 0, res.output
    results = json.loads(res.output)
    metrics = results["metrics"]
    assert results["method"]["name"].startswith("MONet+LDS [tiny")
    assert {"miou", "fg_ari", "iw_nll", "inference_gap", "mse", "duplicate_rate"} <= set(metrics)
    assert metrics["iw_nll"]["n"] == 6 and metrics["inference_gap"]["mean"] > -1e-9
    # the same command gives the same file
    again = tmp_path / "again.h5"
    run_cli("baseline", "predict", "monet", "-k", run, "-d", tiny_cis, "-o", again, "-S", "5",
            "--fields", "segmentation,log_weights,elbo,reconstruction,latents", "--no-progress")
    import h5py

    with h5py.File(sub) as a, h5py.File(again) as b:
        for field in ("log_weights", "segmentation", "latents"):
            assert (a[field][:] == b[field][:]).all(), field


def test_named_lds_config_names_the_run_directory(tmp_path, tiny_cis, run_cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tiny = {k: str(v) if not isinstance(v, tuple) else ",".join(map(str, v)) for k, v in TINY.items()}
    sets = [a for k, v in tiny.items() for a in ("--set", f"{k}={v}")]
    res = run_cli("baseline", "train", "monet", "-d", tiny_cis, "--config", "smoke-lds", "--set", "steps=1",
                  *sets, "--threads", "1", "--no-progress")
    assert res.exit_code == 0, res.output
    # runs/monet/<data>/smoke-lds-<hash of the --set values>: the group is in the name
    assert "/smoke-lds-" in res.stdout.strip().splitlines()[-1]


@pytest.mark.slow
def test_smoke_config_lowers_the_validation_negative_elbo(tmp_path):
    """The `smoke` config itself (a few minutes on 2 CPU cores) on 64x64 multi-dSprites (cis)."""
    from scenebench.datasets.build import generate

    data = generate("multi_dsprites", "cis", tmp_path / "data", overrides={"splits.train": "1000"},
                    splits=["train"], workers=1)
    result = train(Monet, data, Monet.resolve_config("smoke", {"device": "cpu"}), tmp_path / "run",
                   log=lambda m: None, progress=False)
    val = [r["val/neg_elbo"] for r in result.history if r["kind"] == "val"]
    assert val[-1] < val[0] - 20_000  # measured: 28,830 -> -3,127 nats (300 steps, 4.5 min on one thread)


# ----------------------------------------------------------------------------- multi-view data (CLE-MV)
@pytest.fixture(scope="module")
def tiny_cle(tmp_path_factory):
    """CLE-MV (64x64, 10 views per scene): 4 train / 2 test scenes."""
    from scenebench.datasets.build import generate

    return generate("cle_mv", "cle-mv", tmp_path_factory.mktemp("monet-cle"), workers=1,
                    overrides={"splits.train": "4", "splits.test": "2"}, splits=["train", "test"])


def test_views_are_read_as_images_and_whole_scenes_are_held_out(tiny_cle):
    from scenebench.datasets.reader import SplitReader

    data = TrainData(tiny_cle, val_size=8)
    assert data.info.images_per_sample == 10 and (data.info.height, data.info.width) == (64, 64)
    assert data.train.shape == (30, 3, 64, 64) and data.val.shape == (10, 3, 64, 64)  # scene 3's 10 views held out
    reader = SplitReader(tiny_cle, "train", fields=["image"])
    views = torch.from_numpy(reader.read(0, 4)["image"]).permute(0, 1, 4, 2, 3)  # (4, V, C, H, W)
    reader.close()
    assert torch.equal(data.train, views[:3].reshape(30, 3, 64, 64)) and torch.equal(data.val, views[3])
    with pytest.raises(ConfigError, match="40 .*4 samples of 10"):
        TrainData(tiny_cle, val_size=31)


def test_cle_mv_round_trip_scores_every_view(tmp_path, tiny_cle, run_cli):
    cfg = _tiny_file(tmp_path / "tiny.json", steps=3, eval_every=3)
    res = run_cli("baseline", "train", "monet", "-d", tiny_cle, "-c", cfg, "-o", tmp_path / "run", "--threads", "1",
                  "--no-progress")
    assert res.exit_code == 0, res.output
    sub = tmp_path / "sub.h5"
    res = run_cli("baseline", "predict", "monet", "-k", tmp_path / "run", "-d", tiny_cle, "-o", sub, "-S", "3",
                  "--fields", "segmentation,log_weights,elbo,reconstruction", "--batch-size", "20", "--no-progress")
    assert res.exit_code == 0, res.output
    import h5py

    with h5py.File(sub) as f:
        assert f["segmentation"].shape == (2, 10, 64, 64) and f["reconstruction"].shape == (2, 10, 64, 64, 3)
        assert f["log_weights"].shape == (2, 3) and f["elbo"].shape == (2,)
        lw, elbo = f["log_weights"][:], f["elbo"][:]
    # per sample: the sum over its views of the per-view log-weights (same draws as scoring the views directly)
    model = ckpt.load_model(tmp_path / "run", device="cpu")
    from scenebench.datasets.reader import SplitReader

    reader = SplitReader(tiny_cle, "test", fields=["image"])
    x = model.prepare(reader.read(0, 2)["image"].reshape(20, 64, 64, 3))
    reader.close()
    direct = model.log_weights(x, 3, generator=model.make_generator(0)).view(2, 10, 3).sum(1)
    assert torch.allclose(torch.from_numpy(lw), direct, rtol=1e-9) and elbo == pytest.approx(lw.mean(1))
    res = run_cli("evaluate", sub, "--data", tiny_cle, "--json", "-", "--workers", "1")
    assert res.exit_code == 0, res.output
    metrics = json.loads(res.output)["metrics"]
    assert {"miou", "iw_nll", "inference_gap", "mse"} <= set(metrics) and metrics["miou"]["n"] == 20  # per view
    assert metrics["inference_gap"]["mean"] > -1e-9
    # latents are kept per view, (N, V, K, D), and the slot metrics score every view
    res = run_cli("baseline", "predict", "monet", "-k", tmp_path / "run", "-d", tiny_cle, "-o", tmp_path / "l.h5",
                  "--fields", "latents", "--no-progress")
    assert res.exit_code == 0, res.output
    with h5py.File(tmp_path / "l.h5") as f:
        lat = f["latents"][:]
    assert lat.shape == (2, 10, model.config.num_slots, model.config.latent_dim)
    assert np.allclose(lat.reshape(20, *lat.shape[2:]), model.latents(x).numpy())
    res = run_cli("evaluate", tmp_path / "l.h5", "--data", tiny_cle, "--json", "-", "--workers", "1")
    assert res.exit_code == 0, res.output
    metrics = json.loads(res.output)["metrics"]
    assert metrics["duplicate_rate"]["n"] == 20 and metrics["slot_similarity"]["n"] == 20
