"""VITAE (U-/C-VITAE) and its VAE family: transformers, penalties, the importance-weight bound, training, CLI."""

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from scenebench.baselines.common import checkpoint as ckpt  # noqa: E402
from scenebench.baselines.common.data import DataInfo, TrainData  # noqa: E402
from scenebench.baselines.common.training import train  # noqa: E402
from scenebench.baselines.vitae import transformers as tr  # noqa: E402
from scenebench.baselines.vitae.config import MNIST_STEPS, SMPL_STEPS, VaeConfig, VitaeConfig  # noqa: E402
from scenebench.baselines.vitae.model import CVitae, UVitae  # noqa: E402
from scenebench.baselines.vitae.vae import (BetaTcVae, BetaVae, DipVaeII, Vae, dip_ii_penalty,  # noqa: E402
                                            total_correlation)
from scenebench.registry import get_baseline  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")

TINY = dict(encoder_widths=(16, 8), decoder_widths=(8, 16), steps=60, batch_size=32, lr=5e-3, val_size=64,
            eval_every=30, log_every=10, checkpoint_every=30, warmup_steps=30, eval_batch_size=64, device="cpu")
AFFINE = [tr.Affine(), tr.AffineDecomposed(), tr.AffineDiffeo()]


def cpab_or_skip(**kw):
    try:
        return tr.Cpab(**kw)
    except tr.TransformerUnavailable as exc:
        pytest.skip(f"libcpab cannot be used here: {exc}")


# ----------------------------------------------------------------------------- transformers
@pytest.mark.parametrize("t", AFFINE, ids=lambda t: type(t).__name__)
def test_affine_transformers_are_the_identity_at_zero_and_invert_exactly(t):
    g = torch.Generator().manual_seed(0)
    img = torch.rand(3, 2, 9, 7, generator=g)
    zero = torch.zeros(3, 6)
    assert torch.allclose(t(img, zero), img, atol=1e-6)
    assert torch.allclose(t(img, zero, inverse=True), img, atol=1e-6)
    pts = tr.identity_grid(9, 7, 3)
    assert torch.allclose(t.transform_points(pts, zero.double()), pts, atol=1e-12)
    theta = (0.3 * torch.randn(3, 6, generator=g)).double()
    moved = t.transform_points(pts, theta)
    assert (moved - pts).abs().max() > 0.05
    assert torch.allclose(t.transform_points(moved, theta, inverse=True), pts, atol=1e-5)
    assert torch.allclose(t.transform_points(t.transform_points(pts, theta, inverse=True), theta), pts, atol=1e-5)


def test_affine_warp_samples_the_input_at_the_transformed_coordinates():
    img = torch.zeros(1, 1, 8, 8)
    img[0, 0, 3, 5] = 1.0  # pixel (row 3, col 5): centre x = (2*5+1)/8-1 = 0.375, y = -0.125
    theta = torch.tensor([[0.0, 0.0, 0.25, 0.0, 0.0, 0.0]])  # x -> x + 0.25: one pixel (2/8) to the right
    out = tr.Affine()(img, theta)  # out(p) = in(p + 1 px): the dot moves one pixel left
    assert out[0, 0, 3, 4] == pytest.approx(1.0, abs=1e-6) and float(out.sum()) == pytest.approx(1.0, abs=1e-6)
    back = tr.Affine()(out, theta, inverse=True)
    assert back[0, 0, 3, 5] == pytest.approx(1.0, abs=1e-6)


def test_decomposed_parameterisation_equals_the_composed_matrix():
    alpha, m, sx, sy, tx, ty = 0.4, -0.3, 1.5, 0.7, 0.2, -0.1
    rot = np.array([[math.cos(alpha), -math.sin(alpha)], [math.sin(alpha), math.cos(alpha)]])
    composed = rot @ np.array([[1.0, m], [0.0, 1.0]]) @ np.diag([sx, sy])
    theta = torch.tensor([[alpha, m, math.log(sx), math.log(sy), tx, ty]], dtype=torch.float64)
    got = tr.AffineDecomposed().matrix(theta)[0].numpy()
    np.testing.assert_allclose(got[:, :2], composed, atol=1e-12)
    np.testing.assert_allclose(got[:, 2], [tx, ty], atol=1e-12)
    args = [torch.tensor([v], dtype=torch.float64) for v in (alpha, m, sx, sy, tx, ty)]
    np.testing.assert_allclose(tr.decomposed_matrix(*args)[0].numpy(), got, atol=1e-12)
    # the affine one reads theta as [A - I | b]; the diffeomorphic one is the matrix exponential
    th = torch.tensor([[0.1, 0.2, 0.3, -0.2, 0.05, 0.4]], dtype=torch.float64)
    np.testing.assert_allclose(tr.Affine().matrix(th)[0].numpy(), [[1.1, 0.2, 0.3], [-0.2, 1.05, 0.4]], atol=1e-12)
    a = np.zeros((3, 3))
    a[:2] = th.view(2, 3).numpy()
    series = sum(np.linalg.matrix_power(a, k) / math.factorial(k) for k in range(30))
    np.testing.assert_allclose(tr.AffineDiffeo().matrix(th)[0].numpy(), series[:2], atol=1e-12)


@pytest.mark.filterwarnings("ignore:torch.meshgrid")  # inside libcpab's own transform_data
def test_cpab_through_libcpab_warps_a_test_grid():
    t = cpab_or_skip(tessellation=(2, 4))
    assert t.dim == 30  # tessellation [2, 4], zero boundary, no volume preservation (libcpab's basis)
    pts = tr.identity_grid(8, 6, 2)
    zero = torch.zeros(2, t.dim)
    assert torch.allclose(t.transform_points(pts, zero), pts, atol=1e-5)
    theta = 0.5 * torch.randn(2, t.dim, generator=torch.Generator().manual_seed(0))
    moved = t.transform_points(pts, theta)
    assert (moved - pts).abs().max() > 0.02 and moved.abs().max() <= 1.0 + 1e-5  # stays inside the domain
    assert torch.allclose(t.transform_points(moved, theta, inverse=True), pts, atol=2e-3)  # 50-step integration
    img = torch.rand(2, 1, 8, 6, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(t(img, zero), img, atol=1e-5)
    warped = t(img, theta)
    assert warped.shape == img.shape and (warped - img).abs().max() > 0.05
    assert torch.allclose(warped, t.cpab.transform_data(img, theta, outsize=(8, 6)), atol=1e-5)  # libcpab's own
    theta.requires_grad_(True)
    t(img, theta).sum().backward()
    assert torch.isfinite(theta.grad).all() and theta.grad.abs().sum() > 0
    model = build(CVitae, transformer="cpab")  # a C-VITAE step through libcpab
    x = (torch.rand(3, 1, 12, 10, generator=torch.Generator().manual_seed(2)) > 0.6).float()
    loss, _ = model.training_loss(x, 5, torch.Generator().manual_seed(0))
    loss.backward()
    assert torch.isfinite(model.decoder_p.last.weight.grad).all() and model.decoder_p.last.weight.grad.abs().sum() > 0
    assert model.decoder_p.last.out_features == 30 and torch.isfinite(model.log_weights(x, 4)).all()


def test_a_missing_libcpab_is_a_one_line_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "libcpab", None)  # import libcpab -> ImportError
    with pytest.raises(tr.TransformerUnavailable, match="needs the libcpab package"):
        tr.make_transformer("cpab")
    assert issubclass(tr.TransformerUnavailable, __import__("scenebench.errors").errors.ScenebenchError)


def test_importing_the_package_imports_no_torch():
    import subprocess
    import sys

    code = ("import sys, scenebench.baselines.vitae, scenebench.baselines.vitae.config as c; "
            "assert 'torch' not in sys.modules, 'torch imported'; print(sorted(c.VITAE_CONFIGS))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "paper-smpl" in out


# ----------------------------------------------------------------------------- penalties
def test_total_correlation_on_a_hand_computed_case():
    z = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    var = torch.ones(2, 2, dtype=torch.float64)
    for n in (1, 1000):
        tc = total_correlation(z, z.clone(), var, n)
        # log q(z_i) = -log 2pi + log(1 + e^-1) - log 2N ; marginals: -log 2pi + 2 log(1 + e^-0.5) - 2 log 2N
        want = math.log(1 + math.exp(-1)) - 2 * math.log(1 + math.exp(-0.5)) + math.log(2 * n)
        assert torch.allclose(tc, torch.full((2,), want, dtype=torch.float64), atol=1e-12)
    one = torch.tensor([[0.3], [-1.0], [2.0]], dtype=torch.float64)  # one dimension: no total correlation
    tc1 = total_correlation(one, one.flip(0), torch.ones_like(one), 50)
    assert torch.allclose(tc1, torch.zeros(3, dtype=torch.float64))


def test_dip_vae_ii_penalty_on_a_hand_computed_case():
    var = torch.tensor([[0.5, 1.0], [0.5, 1.0]], dtype=torch.float64)
    mu = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)  # Cov = diag(1.5, 1)
    assert float(dip_ii_penalty(mu, var, 2.0, 3.0)) == pytest.approx(3.0 * 0.25)
    mu = torch.tensor([[1.0, 1.0], [-1.0, -1.0]], dtype=torch.float64)  # Cov = [[1.5, 1], [1, 2]]
    assert float(dip_ii_penalty(mu, var, 2.0, 3.0)) == pytest.approx(2.0 * 2 + 3.0 * (0.25 + 1.0))


# ----------------------------------------------------------------------------- models
def build(cls, info=DataInfo(1, 12, 10), **kw):
    base = VitaeConfig if issubclass(cls, UVitae) else VaeConfig
    torch.manual_seed(0)
    return cls(base(**{**dict(encoder_widths=(16, 8), decoder_widths=(8, 16)), **kw}), info)


@pytest.mark.parametrize("cls", [Vae, BetaVae, BetaTcVae, DipVaeII, UVitae, CVitae], ids=lambda c: c.name)
def test_shapes_gradients_and_harness_methods(cls):
    model = build(cls)
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(6, 1, 12, 10, generator=g) > 0.6).float()
    loss, metrics = model.training_loss(x, step=3, generator=g)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert {"neg_elbo", "recon", "kl_weight"} <= set(metrics)
    lw = model.log_weights(x, 7, generator=g)
    assert lw.shape == (6, 7) and lw.dtype == torch.float64 and torch.isfinite(lw).all()
    assert model.elbo(x).shape == (6,) and model.elbo(x).dtype == torch.float64
    rec = model.reconstruct(x)
    assert rec.shape == x.shape and rec.dtype == torch.float32 and 0 <= float(rec.min()) <= float(rec.max()) <= 1
    size = 4
    assert model.latents(x).shape == ((6, 2, 2) if issubclass(cls, UVitae) else (6, 1, 4))
    trav = model.traverse(x, torch.linspace(-2, 2, 5))
    assert trav.shape == (size, 5, 1, 12, 10) and torch.isfinite(trav).all()
    assert model.traverse().shape == (size, 7, 1, 12, 10)
    assert set(cls.capabilities()) == {"log_weights", "elbo", "reconstruct", "latents"}
    assert get_baseline(cls.name) is cls


def test_penalties_enter_the_training_loss():
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(16, 1, 12, 10, generator=g) > 0.6).float()
    losses = {}
    for cls, kw in ((Vae, {}), (BetaVae, {"beta": 8.0}), (BetaTcVae, {"beta": 6.0}), (DipVaeII, {})):
        losses[cls.name] = float(build(cls, **kw).training_loss(x, 10**6, torch.Generator().manual_seed(1))[0].detach())
    assert losses["beta-vae"] > losses["vae"] and losses["dip-vae-ii"] > losses["vae"]
    assert losses["beta-tcvae"] != pytest.approx(losses["vae"], rel=1e-6)
    same = build(BetaTcVae, beta=1.0).training_loss(x, 10**6, torch.Generator().manual_seed(1))[0].detach()
    assert float(same) == pytest.approx(losses["vae"], rel=1e-6)


def test_c_vitae_encodes_the_unwarped_image_and_u_vitae_the_image():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 1, 12, 10, generator=g)
    seen = {}
    for cls in (UVitae, CVitae):
        model = build(cls, transformer="affine")
        with torch.no_grad():
            model.decoder_p.last.bias.copy_(torch.tensor([0.2, 0.1, 0.3, 0.0, -0.1, -0.2]))
        model.encoder.register_forward_pre_hook(lambda mod, args: seen.__setitem__(cls.name, args[0].clone()))
        model.latents(x)
        theta = model.theta(model.encoder_p(x)[0]).detach()
        if cls is UVitae:
            assert torch.equal(seen["u-vitae"], x) and torch.equal(model.appearance_input(x, theta), x)
        else:
            want = model.transformer(x, theta, inverse=True)
            assert torch.allclose(seen["c-vitae"], want) and (want - x).abs().max() > 0.1
            other = model.appearance_input(x, theta + 0.2)
            assert (other - want).abs().max() > 0.05  # the input follows the inferred transformation
            model.log_weights(x, 3)
            assert seen["c-vitae"].shape == (12, 1, 12, 10)  # each sample's own theta warps its own image


@pytest.mark.parametrize("cls", [BetaVae, BetaTcVae, DipVaeII, CVitae], ids=lambda c: c.name)
def test_log_weights_ignore_beta_and_warm_up_and_bound_the_likelihood(cls):
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(8, 1, 12, 10, generator=g) > 0.6).float()
    a = build(cls, beta=8.0, warmup_steps=100)
    b = build(cls, beta=1.0, warmup_steps=0, dip_lambda_od=0.0, dip_lambda_d=0.0)
    b.load_state_dict(a.state_dict())
    la, lb = (m.log_weights(x, 20, generator=torch.Generator().manual_seed(3)) for m in (a, b))
    assert torch.equal(la, lb)
    # the training loss does depend on them
    assert a.training_loss(x, 10, torch.Generator().manual_seed(1))[0] != \
        b.training_loss(x, 10, torch.Generator().manual_seed(1))[0]
    # importance-weighted estimates: >= the ELBO with the same samples, and increasing with the sample count
    lw = a.log_weights(x, 1000, generator=torch.Generator().manual_seed(4))
    # L_k estimated over disjoint blocks of k samples (L_1 = the ELBO estimate)
    iw = lambda k: float((torch.logsumexp(lw.view(8, -1, k), 2) - math.log(k)).mean())  # noqa: E731
    assert iw(1) == pytest.approx(float(lw.mean()))
    assert iw(1000) > iw(100) > iw(10) > iw(1)
    # the weights are log p(x|z) + log p(z) - log q(z|x): the ELBO's sample mean matches the analytic KL form
    elbo = a.elbo(x, num_samples=1000, generator=torch.Generator().manual_seed(4))
    assert torch.allclose(elbo, lw.mean(1))


# ----------------------------------------------------------------------------- configs
def test_paper_configs_follow_the_supplement():
    for cls in (Vae, BetaVae, BetaTcVae, DipVaeII, UVitae, CVitae):
        assert set(cls.CONFIGS) == {"smoke", "paper", "smoke-smpl", "paper-smpl"}
        p, s = cls.CONFIGS["paper"], cls.CONFIGS["paper-smpl"]
        assert (p.lr, p.batch_size, p.steps, p.warmup_steps, p.likelihood) == (1e-4, 512, MNIST_STEPS,
                                                                             MNIST_STEPS // 2, "bernoulli")
        assert (s.lr, s.batch_size, s.steps, s.likelihood, s.pixel_variance) == (1e-4, 256, SMPL_STEPS, "gaussian",
                                                                                  0.1)
    assert MNIST_STEPS == 2000 * 117 and SMPL_STEPS == 5000 * 39
    assert (Vae.CONFIGS["paper"].encoder_widths, Vae.CONFIGS["paper"].decoder_widths) == ((128, 64), (64, 64))
    assert (Vae.CONFIGS["paper-smpl"].encoder_widths, Vae.CONFIGS["paper-smpl"].decoder_widths) == \
        ((256, 128), (128, 256))
    assert Vae.CONFIGS["paper"].latent_dim == 4 and CVitae.CONFIGS["paper"].latent_dim == 2
    assert CVitae.CONFIGS["paper"].perspective_dim == 2 and BetaVae.CONFIGS["paper"].beta == 8.0
    assert CVitae.resolve_config("smoke", {"transformer": "cpab"}).transformer == "cpab"
    from scenebench.errors import ConfigError

    with pytest.raises(ConfigError):
        CVitae.resolve_config("smoke", {"transformer": "bogus"})


# ----------------------------------------------------------------------------- training on MNIST and SMPL
@pytest.fixture(scope="module")
def tiny_mnist(tmp_path_factory):
    from scenebench.datasets.build import generate

    return generate("mnist", "binarized", tmp_path_factory.mktemp("vitae-mnist"), num=192, workers=1,
                    overrides={"source": "embedded"}, splits=["train"])


@pytest.mark.parametrize("cls", [Vae, CVitae], ids=lambda c: c.name)
def test_training_lowers_the_validation_loss_and_resumes_bit_exactly(tmp_path, tiny_mnist, cls):
    data = TrainData(tiny_mnist, 64)
    config = cls.resolve_config("smoke", TINY)
    quiet = dict(log=lambda m: None, progress=False)
    straight = train(cls, data, config, tmp_path / "a", **quiet)
    val = [r["val/neg_elbo"] for r in straight.history if r["kind"] == "val"]
    assert len(val) == 3 and val[-1] < val[0] - 100  # measured: vae 545 -> 216, c-vitae 543 -> 210 nats
    train(cls, data, config, tmp_path / "b", stop_at=30, **quiet)
    resumed = train(cls, data, config, tmp_path / "b", **quiet)
    assert resumed.resumed_from == 30
    for (k, v), w in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(v, w), k
    assert "exp_avg" in next(iter(ckpt.read(tmp_path / "a" / ckpt.FILENAME)["optimizer"]["state"].values()))  # Adam
    loaded = ckpt.load_model(tmp_path / "a", device="cpu")
    x = loaded.prepare(data.val[:3])
    assert torch.equal(loaded.log_weights(x, 3), straight.model.log_weights(x, 3))


def test_training_on_a_tiny_smpl_split_lowers_the_loss_and_resumes_bit_exactly(tmp_path_factory):
    from scenebench.datasets.build import generate

    # the `vitae` preset renders the licensed SMPL model; `embedded` is the same renderer on a procedural body
    data_dir = generate("smpl_bodies", "embedded", tmp_path_factory.mktemp("vitae-smpl"), num=6, workers=1,
                        splits=["train"])
    data = TrainData(data_dir, 2)
    assert data.train.shape == (4, 1, 400, 200)
    config = UVitae.resolve_config("smoke-smpl", dict(steps=6, batch_size=2, val_size=2, eval_every=6,
                                                      checkpoint_every=6, log_every=3, lr=1e-3, eval_batch_size=2,
                                                      encoder_widths=(8,), decoder_widths=(8,), device="cpu",
                                                      transformer="affine"))
    quiet = dict(log=lambda m: None, progress=False)
    result = train(UVitae, data, config, tmp_path_factory.mktemp("vitae-smpl-run"), **quiet)
    val = [r["val/neg_elbo"] for r in result.history if r["kind"] == "val"]
    assert len(val) == 2 and val[1] < val[0]  # Gaussian pixels, sigma^2 = 0.1 over 80,000 pixels
    assert result.model.reconstruct(result.model.prepare(data.val)).shape == (2, 1, 400, 200)
    # stopped at step 3 and resumed: bit-identical to the straight run
    parts = tmp_path_factory.mktemp("vitae-smpl-parts")
    train(UVitae, data, config, parts, stop_at=3, **quiet)
    resumed = train(UVitae, data, config, parts, **quiet)
    assert resumed.resumed_from == 3
    for (k, v), w in zip(result.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(v, w), k


# ----------------------------------------------------------------------------- CLI round trip
def test_train_predict_evaluate_round_trip_from_the_cli(tmp_path, tiny_mnist, monkeypatch):
    from click.testing import CliRunner

    from scenebench.cli import main

    runner = CliRunner()
    run_cli = lambda *args: runner.invoke(main, [str(a) for a in args], catch_exceptions=False)  # noqa: E731
    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps({"base": "smoke", **{k: list(v) if isinstance(v, tuple) else v for k, v in TINY.items()},
                               "steps": 4, "eval_every": 4, "checkpoint_every": 4, "transformer": "affine"}))
    res = run_cli("baseline", "train", "c-vitae", "-d", tiny_mnist, "--config", cfg, "--threads", "1", "--no-progress")
    assert res.exit_code == 0, res.output
    path = res.stdout.strip().splitlines()[-1]
    assert path.endswith("checkpoint.pt")
    run = tmp_path / path.rsplit("/", 1)[0]
    sub = tmp_path / "sub.h5"
    res = run_cli("baseline", "predict", "c-vitae", "-k", run, "-d", tiny_mnist, "-s", "train", "-o", sub, "-S", "5",
                  "--fields", "log_weights,elbo,reconstruction,latents", "--no-progress")
    assert res.exit_code == 0, res.output
    res = run_cli("evaluate", sub, "--data", tiny_mnist, "--json", "-", "--workers", "1")
    assert res.exit_code == 0, res.output
    metrics = json.loads(res.output)["metrics"]
    assert "iw_nll" in metrics and math.isfinite(metrics["iw_nll"]["mean"])
    assert metrics["inference_gap"]["mean"] > -1e-9
    res = run_cli("baseline", "sheets", "c-vitae", "-k", run, "-d", tiny_mnist, "-s", "train", "-n", "4")
    assert res.exit_code == 0, res.output
    assert [p.rsplit("/", 1)[-1] for p in res.stdout.split()] == ["reconstructions.png", "traversals.png"]
    assert (run / "traversals.png").is_file()
    res = run_cli("baseline", "sheets", "c-vitae", "-k", run, "-d", tiny_mnist, "-s", "nope")
    assert res.exit_code != 0 and "nope" in res.output and "Traceback" not in res.output
