"""IODINE (with and without the LDS prior): configs, refinement, gradients, exact bounds, training, CLI."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from scenebench.baselines.common import checkpoint as ckpt  # noqa: E402
from scenebench.baselines.common import lds  # noqa: E402
from scenebench.baselines.common.data import DataInfo, TrainData  # noqa: E402
from scenebench.baselines.common.slots import (component_log_prob, kl_normal_prior, kl_std_normal,  # noqa: E402
                                               log_ratio_normal_prior, log_ratio_std_normal, mixture_log_prob)
from scenebench.baselines.common.training import train  # noqa: E402
from scenebench.baselines.iodine.config import IodineConfig, iteration_weights, paper_lr  # noqa: E402
from scenebench.baselines.iodine.model import (Iodine, leave_one_out_log_prob, log_softplus,  # noqa: E402
                                               parameter_counts)
from scenebench.errors import ConfigError  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")

# tiny networks for 32x32 images, 3 refinement iterations: ~0.05 s per step of 4 images on one core
TINY = dict(num_slots=3, latent_dim=4, num_iters=3, refine_channels=(4, 4), refine_mlp=(8,), lstm_hidden=8,
            decoder_channels=4, decoder_layers=2, batch_size=4, val_size=8, eval_every=3, log_every=2,
            checkpoint_every=2, eval_batch_size=8, sample_chunk=10, device="cpu")


def tiny_iodine(channels=3, size=16, **kw):
    cfg = {k: v for k, v in TINY.items() if k not in ("device",)}
    cfg.update(kw)
    torch.manual_seed(0)
    return Iodine(IodineConfig(**cfg), DataInfo(channels, size, size))


@pytest.fixture(scope="module")
def tiny_cis(tmp_path_factory):
    """32x32 multi-dSprites (cis preset: coloured background, occlusion): 40 train / 6 test images."""
    from scenebench.datasets.build import generate

    return generate("multi_dsprites", "cis", tmp_path_factory.mktemp("iodine-cis"), workers=1,
                    overrides={"height": "32", "width": "32", "splits.train": "40", "splits.test": "6"})


# ----------------------------------------------------------------------------- configs and registry
def test_paper_configs_hold_the_stated_values_and_differ_only_in_lambda():
    paper, plus = Iodine.resolve_config("paper"), Iodine.resolve_config("paper-lds")
    assert (paper.lr, paper.batch_size, paper.steps, paper.grad_clip) == (1e-4, 8, 600_000, 5.0)
    assert (paper.num_slots, paper.latent_dim, paper.num_iters, paper.beta, paper.lds_sigma) == (7, 16, 5, 1.0, 0.1)
    assert (paper.lr_decay_steps, paper.lr_final) == (1_000_000, 0.1)
    assert (paper.pixel_sigma, paper.mixture, paper.prior_scale, paper.posterior_scale) == \
        (0.1, "channel", 1.0, "softplus-var")
    assert (paper.refine_channels, paper.refine_mlp, paper.lstm_hidden, paper.decoder_channels,
            paper.decoder_layers) == ((32, 32, 64, 64), (128, 128), 128, 32, 4)
    assert paper.iter_weights == "linspace" and iteration_weights("linspace", 5) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert iteration_weights("zl", 5) == pytest.approx([1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6, 1.0])
    assert paper.lds_weight == 0.0 and plus.lds_weight == 1.0
    assert {k for k in paper.__dataclass_fields__ if getattr(paper, k) != getattr(plus, k)} == {"lds_weight"}
    smoke, smoke_plus = Iodine.resolve_config("smoke"), Iodine.resolve_config("smoke-lds")
    assert {k for k in smoke.__dataclass_fields__ if getattr(smoke, k) != getattr(smoke_plus, k)} == {"lds_weight"}
    assert smoke.num_iters == 5 and smoke_plus.lds_weight == 1.0
    # the prior is a field: --set lds_weight=1 switches it on for any config
    assert Iodine.resolve_config("paper", {"lds_weight": "1"}) == plus
    info = DataInfo(3, 64, 64)
    assert Iodine(smoke, info).display_name == "IODINE" and Iodine(smoke_plus, info).display_name == "IODINE+LDS"
    for field, bad in (("lds_weight", "-1"), ("mixture", "joint"), ("num_slots", "1"), ("num_iters", "0"),
                       ("posterior_scale", "exp"), ("iter_weights", "flat"), ("prior_scale", "0"),
                       ("decoder_final_kernel", "2")):
        with pytest.raises(ConfigError, match=field):
            Iodine.resolve_config("smoke", {field: bad})
    # the paper config's networks at 64x64
    counts = parameter_counts(Iodine(paper, info))
    assert counts == {"decoder": 33_092, "refinement": 263_424, "norms": 76, "initial_posterior": 32,
                      "total": 296_624}


def test_learning_rate_schedule_and_optimizer():
    model = Iodine(Iodine.resolve_config("paper"), DataInfo(3, 64, 64))
    (params, lr), = model.optimizer_groups()
    assert len(params) == len(list(model.parameters()))
    # max(0.1 eta0 + 0.9 eta0 (1 - s / 1e6), 0.1 eta0), eta0 = 1e-4
    assert [lr(s) for s in (0, 500_000, 1_000_000, 2_000_000)] == pytest.approx([1e-4, 5.5e-5, 1e-5, 1e-5], rel=1e-12)
    assert lr(600_000) == pytest.approx(4.6e-5, rel=1e-12) and paper_lr(250_000, 1.0, 1_000_000, 0.1) == 0.775
    opt = model.make_optimizer(model.optimizer_groups())
    assert isinstance(opt, torch.optim.Adam) and opt.param_groups[0]["lr"] == 1e-4
    assert opt.param_groups[0]["betas"] == (0.9, 0.999)


def test_iodine_is_registered_and_its_package_imports_no_torch(run_cli):
    from scenebench.registry import get_baseline

    assert get_baseline("iodine") is Iodine
    assert set(Iodine.capabilities()) == {"segment", "log_weights", "elbo", "reconstruct", "latents", "masks"}
    res = run_cli("baseline", "list")
    assert res.exit_code == 0 and "iodine" in res.output and "Greff" in res.output
    code = ("import sys, scenebench.registry, scenebench.baselines.iodine, scenebench.baselines.iodine.config; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------------------------- pieces
def test_prior_helpers_reduce_to_the_standard_normal_and_match_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu, sigma, eps = (torch.randn(5, 3, generator=g, dtype=torch.float64) for _ in range(3))
    sigma = sigma.abs() + 0.1
    z = mu + sigma * eps
    assert torch.allclose(kl_normal_prior(mu, sigma), kl_std_normal(mu, sigma))
    assert torch.allclose(log_ratio_normal_prior(z, eps, sigma), log_ratio_std_normal(z, eps, sigma))
    q, p = torch.distributions.Normal(mu, sigma), torch.distributions.Normal(0.0, 0.7)
    assert torch.allclose(kl_normal_prior(mu, sigma, 0.7), torch.distributions.kl_divergence(q, p))
    assert torch.allclose(log_ratio_normal_prior(z, eps, sigma, 0.7), p.log_prob(z) - q.log_prob(z))
    with pytest.raises(ValueError, match="prior_scale"):
        kl_normal_prior(mu, sigma, 0.0)


def test_posterior_scale_and_counterfactual():
    s = torch.tensor([-200.0, -20.0, -1.0, 0.0, 3.0], requires_grad=True)
    out = log_softplus(s)
    assert torch.isfinite(out).all() and out[0] == -200.0
    assert torch.allclose(out[2:], torch.log(torch.nn.functional.softplus(s[2:])))
    out.sum().backward()
    assert torch.isfinite(s.grad).all()
    model = tiny_iodine()
    loc, scale = model.posterior_params(torch.tensor([[0.3, -0.5, 0.0, 2.0]]))
    assert torch.allclose(loc, torch.tensor([[0.3, -0.5]]))
    assert torch.allclose(scale, torch.tensor([[math.sqrt(math.log(2.0)), math.sqrt(math.log1p(math.e ** 2))]]))
    assert model.iter_weights == [0.0, 1 / 3, 2 / 3, 1.0]
    # log p_-k(x): the mixture without slot k, renormalised over the others -- against a direct loop
    g = torch.Generator().manual_seed(1)
    x, means = torch.rand(2, 3, 4, 5, generator=g), torch.rand(2, 4, 3, 4, 5, generator=g)
    logits = 2 * torch.randn(2, 4, 4, 5, generator=g)
    comp = component_log_prob(x, means, torch.full((4,), 0.2))
    for mixture in ("channel", "pixel"):
        got = leave_one_out_log_prob(comp, logits, mixture)
        for k in range(4):
            keep = [j for j in range(4) if j != k]
            want = mixture_log_prob(comp[:, keep], torch.log_softmax(logits[:, keep], 1), mixture)
            assert torch.allclose(got[:, k], want, atol=1e-5), (mixture, k)


def test_decoder_is_the_shared_spatial_broadcast_decoder():
    from scenebench.baselines.common.slots import SpatialBroadcastDecoder
    from scenebench.baselines.iodine.networks import BroadcastDecoder

    for padding, final in (("valid", 1), ("valid", 3), ("same", 3)):
        torch.manual_seed(0)
        ours = BroadcastDecoder(5, 4, 12, 10, channels=6, layers=3, padding=padding, final_kernel=final,
                                activation="elu")
        shared = SpatialBroadcastDecoder(5, 4, 12, 10, channels=6, layers=3, padding=padding, final_kernel=final,
                                         activation="elu")
        shared.load_state_dict(ours.state_dict())  # the same parameters
        z = torch.randn(7, 5, dtype=torch.float64, requires_grad=True)
        ours, shared = ours.double(), shared.double()
        a, b = ours(z), shared(z)
        assert a.shape == (7, 4, 12, 10) and torch.allclose(a, b, rtol=1e-12, atol=1e-12)
        ga = torch.autograd.grad(a.square().sum(), [z, *ours.parameters()])
        gb = torch.autograd.grad(b.square().sum(), [z, *shared.parameters()])
        assert all(torch.allclose(u, v, rtol=1e-10, atol=1e-12) for u, v in zip(ga, gb))


def test_refinement_is_a_residual_update_of_the_shared_initial_posterior():
    model = tiny_iodine(size=16)
    x = torch.rand(2, 3, 16, 16)
    calls = []
    delta = torch.tensor([0.1, -0.2, 0.3, 0.05, 0.0, 0.5, -0.4, 0.2])

    def refine(spatial, flat, state=None):
        calls.append((spatial.shape, flat.shape, state is None))
        return delta.expand(len(flat), 8), state

    model.refinement.forward = refine
    init = model.initial_posterior.detach()
    loc, scale = model.posterior_params(init + 3 * delta)  # T = 3 updates zp <- zp + delta
    assert torch.allclose(model.latents(x), loc.expand(2, 3, 4))
    # every call sees B K rows: 3 C + 8 = 17 spatial channels, [zp, dzp] flat; the LSTM starts from zeros
    assert calls[:3] == [((6, 17, 16, 16), (6, 16), True)] * 3
    g1, g2 = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    lw = model.log_weights(x, 3, generator=g1)
    for _ in range(3):  # the refinement's draws come first
        torch.randn((2, 3, 4), generator=g2)
    eps = torch.randn((2, 3, 3, 4), generator=g2)
    z = loc + scale * eps
    means, logits = model.decode(z)
    with torch.no_grad():
        ll = model.log_likelihood(x[:, None].expand(2, 3, 3, 16, 16).reshape(6, 3, 16, 16), means.flatten(0, 1),
                                  logits.flatten(0, 1)).view(2, 3)
    prior = torch.distributions.Normal(0.0, 1.0).log_prob(z.double()).sum((2, 3))
    post = torch.distributions.Normal(loc.double(), scale.double()).log_prob(z.double()).sum((2, 3))
    assert torch.allclose(lw, ll + prior - post, rtol=1e-6)


def test_shapes_dtypes_and_gradients_reach_every_parameter():
    for weight in (0.0, 1.0):
        model = tiny_iodine(size=16, lds_weight=weight)
        g = torch.Generator().manual_seed(0)
        x = torch.rand(3, 3, 16, 16, generator=g)
        loss, metrics = model.training_loss(x, step=0, generator=g)
        assert loss.dtype == torch.float32 and loss.dim() == 0
        loss.backward()
        for name, p in model.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
            assert p.grad.abs().sum() > 0, f"no gradient reaches {name} (lds_weight={weight})"
        assert {"loss", "recon", "kl", "lds", "similarity", "neg_elbo", "neg_elbo_init"} <= set(metrics)
        assert metrics["kl"] >= 0 and metrics["neg_elbo"] == pytest.approx(metrics["recon"] + metrics["kl"])
    lw = model.log_weights(x, 7, generator=g)
    assert lw.shape == (3, 7) and lw.dtype == torch.float64 and torch.isfinite(lw).all()
    assert model.elbo(x).shape == (3,) and model.elbo(x).dtype == torch.float64
    seg = model.segment(x)
    assert seg.shape == (3, 16, 16) and seg.dtype == torch.int64 and 0 <= int(seg.min()) and int(seg.max()) < 3
    rec = model.reconstruct(x)
    assert rec.shape == (3, 3, 16, 16) and rec.dtype == torch.float32 and 0 <= float(rec.min()) <= float(rec.max()) <= 1
    lat = model.latents(x)
    assert lat.shape == (3, 3, 4) and lat.dtype == torch.float32
    masks = model.masks(x)
    assert masks.shape == (3, 3, 16, 16) and torch.allclose(masks.sum(1), torch.ones(3, 16, 16), atol=1e-5)
    assert torch.equal(seg, masks.argmax(1))
    # reconstruct: sum_k m_k mu_k decoded at the final posterior means
    with torch.no_grad():
        means, logits = model.decode(lat)
    assert torch.allclose(rec, (torch.softmax(logits, 1)[:, :, None] * means).sum(1).clamp(0, 1), atol=1e-6)


def test_training_loss_is_deterministic_given_the_generator():
    model = tiny_iodine(size=16, lds_weight=1.0)
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    a = model.training_loss(x, 0, torch.Generator().manual_seed(9))
    b = model.training_loss(x, 0, torch.Generator().manual_seed(9))
    assert torch.equal(a[0], b[0]) and a[1] == b[1]
    assert not torch.equal(a[0], model.training_loss(x, 0, torch.Generator().manual_seed(10))[0])


def test_evaluation_methods_run_in_eval_mode_restore_the_mode_and_leave_no_gradients():
    model = tiny_iodine(size=16)
    model.train()
    model.decoder.eval()  # a mixed state is given back as it was
    seen = []
    model.refinement.register_forward_pre_hook(lambda mod, inp: seen.append(mod.training))
    x = torch.rand(2, 3, 16, 16)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    in_train = model.log_weights(x, 4, generator=g1)
    for method in (model.segment, model.reconstruct, model.latents, model.elbo, model.masks):
        out = method(x)
        assert not out.requires_grad
    with torch.no_grad():  # as validation calls it
        model.validation_loss(x, torch.Generator().manual_seed(0))
    assert seen and not any(seen)
    assert model.training and model.refinement.training and not model.decoder.training
    assert all(p.grad is None for p in model.parameters())
    model.eval()
    assert torch.equal(in_train, model.log_weights(x, 4, generator=g2))
    assert not in_train.requires_grad and torch.is_grad_enabled()
    # without a generator: the fixed evaluation seed, so the same answer twice
    assert torch.equal(model.segment(x), model.segment(x)) and torch.equal(model.elbo(x), model.elbo(x))


# ----------------------------------------------------------------------------- the LDS prior is training-only
def test_lds_prior_enters_the_training_loss_only():
    plain = tiny_iodine(size=16, lds_weight=0.0)
    plus = tiny_iodine(size=16, lds_weight=1.0)
    plus.load_state_dict(plain.state_dict())  # the same parameters
    x = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    gens = lambda: (torch.Generator().manual_seed(7), torch.Generator().manual_seed(7))  # noqa: E731
    a, b = gens()
    assert torch.equal(plain.elbo(x, num_samples=3, generator=a), plus.elbo(x, num_samples=3, generator=b))
    a, b = gens()
    assert torch.equal(plain.log_weights(x, 5, generator=a), plus.log_weights(x, 5, generator=b))
    a, b = gens()
    assert torch.equal(plain.validation_loss(x, a), plus.validation_loss(x, b))
    a, b = gens()
    assert torch.equal(plain.segment(x), plus.segment(x)) and torch.equal(plain.latents(x), plus.latents(x))
    # ... and is in the training loss: loss(lambda) = loss(0) - lambda * mean sum_t w_t L_LDS(z_t)
    l0, m0 = plain.training_loss(x, 0, a)
    l1, m1 = plus.training_loss(x, 0, b)
    assert m0["lds"] == m1["lds"] and m0["lds"] < 0
    assert m0["neg_elbo"] == m1["neg_elbo"]
    assert float(l1.detach()) == pytest.approx(float(l0.detach()) - 1.0 * m0["lds"], rel=1e-6)
    half = tiny_iodine(size=16, lds_weight=0.5)
    half.load_state_dict(plain.state_dict())
    assert float(half.training_loss(x, 0, gens()[0])[0].detach()) == pytest.approx(
        float(l0.detach()) - 0.5 * m0["lds"], rel=1e-6)
    # at every iteration, weighted like its loss: the z_t each decode was given
    records, _ = plain._unroll(x, gens()[0], keep_graph=True)
    assert len(records) == 4  # T + 1 decodes
    weighted = sum(w * lds.lds_log_prior(r["z"].detach(), 0.1).double() for w, r in zip(plain.iter_weights, records))
    assert m0["lds"] == pytest.approx(float(weighted.mean()), rel=1e-6)
    means = tiny_iodine(size=16, lds_latent="mean")
    means.load_state_dict(plain.state_dict())
    weighted = sum(w * lds.lds_log_prior(r["loc"].detach(), 0.1).double() for w, r in zip(plain.iter_weights, records))
    assert means.training_loss(x, 0, gens()[0])[1]["lds"] == pytest.approx(float(weighted.mean()), rel=1e-6)


# ----------------------------------------------------------------------------- exact bounds
SIGMAS = (0.1, 0.2)  # per-slot pixel stds of the toy: they break the slot-swap symmetry (one posterior mode)


def _toy():
    """K = 2 slots with 1-D latents on 8x8 gray images: log p(x) is a 2-D integral done on a grid."""
    model = tiny_iodine(channels=1, size=8, num_slots=2, latent_dim=1, num_iters=2, refine_channels=(2,),
                        refine_mlp=(4,), lstm_hidden=4, decoder_channels=4, decoder_layers=2, prior_scale=0.8,
                        sample_chunk=5000).eval()
    with torch.no_grad():  # images that depend clearly on z
        model.decoder.net[-1].weight *= 2.0
        model.pixel_sigma.copy_(torch.tensor(SIGMAS))
    return model


def _exact_log_px(model, x, grid=401, lim=5.0):
    """log p(x) = log int N(z_1; 0, s^2) N(z_2; 0, s^2) prod_pixels sum_k softmax(l(z))_k N(x; mu_k(z_k), sigma_k^2) dz,
    and the posterior means and standard deviations of z_1, z_2 -- written out here, independently of the model's
    code."""
    zs = torch.linspace(-lim, lim, grid, dtype=torch.float64)
    with torch.no_grad():
        means, logits = model.decode(zs[:, None].float())  # (G, 1, H, W), (G, H, W): one decode per grid value
    means, logits = means.double()[:, 0], logits.double()
    norm = lambda s: -0.5 * ((x[0, 0].double() - means) / s) ** 2 - math.log(s) - 0.5 * math.log(2 * math.pi)  # noqa
    lp0, lp1 = norm(SIGMAS[0]), norm(SIGMAS[1])
    s = model.config.prior_scale
    log_prior = -0.5 * (zs / s) ** 2 - math.log(s) - 0.5 * math.log(2 * math.pi)
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


def test_log_weights_are_exact_importance_weights():
    """E_q[w] = p(x) for the final posterior as proposal; IWAE and the ELBO bound log p(x) from below."""
    model = _toy()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # an image drawn from the model: z = (0.5, -0.9), a slot per pixel from the decoded masks
        means, logits = model.decode(torch.tensor([[[0.5], [-0.9]]]))
        slot1 = torch.rand(1, 8, 8, generator=g) < torch.softmax(logits, 1)[:, 1]
        x = torch.where(slot1, means[:, 1, 0], means[:, 0, 0])[:, None]
        x = x + torch.where(slot1, SIGMAS[1], SIGMAS[0]) * torch.randn(x.shape, generator=g)
    exact, (m1, m2), (s1, s2) = _exact_log_px(model, x)
    assert exact == pytest.approx(_exact_log_px(model, x, grid=801)[0], abs=1e-4)  # the grid has converged
    # the real (untrained) refinement's proposal: broad (about N(0.1, 1.1^2) per slot, the posterior's stds are
    # 0.07 and 0.2), so the importance-sampling estimate converges too, while its ELBO is far below log p(x)
    lw = model.log_weights(x, 20000, generator=torch.Generator().manual_seed(0))[0]
    ess = float(torch.exp(2 * torch.logsumexp(lw, 0) - torch.logsumexp(2 * lw, 0)))
    assert ess > 100  # measured: 246
    assert abs(float(torch.logsumexp(lw, 0)) - math.log(len(lw)) - exact) < 4 / math.sqrt(ess)  # 0.792 vs 0.788
    assert float(model.elbo(x, num_samples=2000, generator=torch.Generator().manual_seed(0))) < exact - 20  # -60.1
    # a refinement that lands near (not at) the posterior: shifted means and 1.2x its spread, every input
    target = torch.tensor([[float(m1) + 0.3 * float(s1), math.log(math.expm1((1.2 * float(s1)) ** 2))],
                           [float(m2) - 0.3 * float(s2), math.log(math.expm1((1.2 * float(s2)) ** 2))]])
    model.refinement.forward = lambda spatial, flat, state=None: (target[torch.arange(len(flat)) % 2] - flat[:, :2],
                                                                  state)
    lw = model.log_weights(x, 20000, generator=torch.Generator().manual_seed(0))[0]
    estimate = float(torch.logsumexp(lw, 0)) - math.log(len(lw))
    ess = float(torch.exp(2 * torch.logsumexp(lw, 0) - torch.logsumexp(2 * lw, 0)))
    assert ess > 1000
    assert abs(estimate - exact) < 4 / math.sqrt(ess)  # measured: 0.7860 vs exact 0.7879 (ESS 16,200)
    iw100 = torch.logsumexp(lw.view(200, 100), 1) - math.log(100)
    assert float(iw100.mean()) <= exact + 3 * float(iw100.std()) / math.sqrt(200)
    elbo = float(model.elbo(x, num_samples=20000, generator=torch.Generator().manual_seed(0)))
    assert elbo < float(iw100.mean()) and elbo < exact - 0.1  # measured: ELBO 0.581, gap 0.21 nats
    # the ELBO (analytic KL) and the mean log-weight (Monte Carlo KL) estimate the same number
    assert elbo == pytest.approx(float(lw.mean()), abs=0.05)


def test_more_importance_samples_tighten_the_bound_of_a_real_model():
    model = tiny_iodine(size=16)
    x = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    lw = model.log_weights(x, 400, generator=torch.Generator().manual_seed(0))
    elbo = model.elbo(x, num_samples=400, generator=torch.Generator().manual_seed(0))
    iw = torch.logsumexp(lw, 1) - math.log(400)
    iw10 = (torch.logsumexp(lw.view(4, 40, 10), 2) - math.log(10)).mean(1)
    assert (elbo < iw10).all() and (iw10 < iw).all()
    assert torch.allclose(elbo, lw.mean(1), atol=2.0)  # same quantity; |KL MC error| over 12 latent dims


# ----------------------------------------------------------------------------- training and resume
from test_baselines_common import _params, _same  # noqa: E402  (state copies; bit-equality of state dicts)


@pytest.mark.parametrize("weight", [0.0, 1.0], ids=["iodine", "iodine-lds"])
def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path, tiny_cis, weight):
    data = TrainData(tiny_cis, TINY["val_size"])
    config = Iodine.resolve_config("smoke", {**TINY, "steps": 6, "lds_weight": weight})
    quiet = dict(log=lambda m: None, progress=False)
    straight = train(Iodine, data, config, tmp_path / "a", **quiet)
    first = train(Iodine, data, config, tmp_path / "c", stop_at=3, **quiet)
    assert first.step == 3 and ckpt.read(tmp_path / "c")["step"] == 3
    resumed = train(Iodine, data, config, tmp_path / "c", **quiet)
    assert resumed.resumed_from == 3 and resumed.step == 6
    _same(_params(straight.model), _params(resumed.model))
    strip = lambda p: [{k: v for k, v in json.loads(line).items() if k != "elapsed"}  # noqa: E731
                       for line in (p / "log.jsonl").read_text().splitlines()]
    assert strip(tmp_path / "a") == strip(tmp_path / "c")
    # Adam state is in the checkpoint, and the rebuilt model scores like the trained one
    assert "exp_avg" in next(iter(ckpt.read(tmp_path / "a")["optimizer"]["state"].values()))
    loaded = ckpt.load_model(tmp_path / "a", device="cpu")
    x = loaded.prepare(data.val[:3])
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    assert torch.equal(loaded.log_weights(x, 3, generator=g1), straight.model.log_weights(x, 3, generator=g2))
    assert loaded.display_name == ("IODINE+LDS" if weight else "IODINE")


def test_training_lowers_the_validation_negative_elbo(tmp_path, tiny_cis):
    data = TrainData(tiny_cis, 8)
    config = Iodine.resolve_config("smoke", {**TINY, "steps": 40, "eval_every": 40, "lr": 3e-3, "decoder_channels": 8})
    result = train(Iodine, data, config, tmp_path, log=lambda m: None, progress=False)
    val = [r["val/neg_elbo"] for r in result.history if r["kind"] == "val"]
    assert len(val) == 2 and val[1] < 0.5 * val[0]  # measured: 54,443 -> 4,480 nats (seeds 1, 2: 45,967 -> 6,009,
    # 48,781 -> 6,853) on 32x32x3 images
    train_log = [r for r in result.history if r["kind"] == "train"]
    assert {"recon", "kl", "lds", "similarity", "neg_elbo", "lr"} <= set(train_log[-1])


# ----------------------------------------------------------------------------- CLI round trip
def _tiny_file(path, **extra):
    path.write_text(json.dumps({"base": "smoke", **TINY, **extra}))
    return path


def test_train_predict_evaluate_round_trip_from_the_cli(tmp_path, tiny_cis, run_cli, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default run directory is ./runs/...
    cfg = _tiny_file(tmp_path / "tiny.json", steps=4)
    res = run_cli("baseline", "train", "iodine", "--data", tiny_cis, "--config", cfg, "--set", "lds_weight=1",
                  "--threads", "1", "--no-progress")
    assert res.exit_code == 0, res.output
    path = res.stdout.strip().splitlines()[-1]
    assert path.endswith("checkpoint.pt") and path.startswith("runs/iodine/multi_dsprites-cis-")
    run = tmp_path / path.rsplit("/", 1)[0]
    assert json.loads((run / "config.json").read_text())["config"]["lds_weight"] == 1.0
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if r["kind"] == "val"] == [0, 3, 4]
    sub = tmp_path / "sub.h5"
    fields = "segmentation,log_weights,elbo,reconstruction,latents,masks"
    res = run_cli("baseline", "predict", "iodine", "-k", run, "-d", tiny_cis, "-o", sub, "-S", "5",
                  "--fields", fields, "--no-progress")
    assert res.exit_code == 0, res.output
    res = run_cli("evaluate", sub, "--data", tiny_cis, "--json", "-", "--workers", "1")
    assert res.exit_code == 0, res.output
    results = json.loads(res.output)
    metrics = results["metrics"]
    assert results["method"]["name"].startswith("IODINE+LDS [tiny")
    assert {"miou", "fg_ari", "iw_nll", "inference_gap", "mse", "duplicate_rate", "cis_miou"} <= set(metrics)
    assert metrics["iw_nll"]["n"] == 6 and metrics["inference_gap"]["mean"] > -1e-9
    # the same command gives the same file
    again = tmp_path / "again.h5"
    run_cli("baseline", "predict", "iodine", "-k", run, "-d", tiny_cis, "-o", again, "-S", "5",
            "--fields", fields, "--no-progress")
    import h5py

    with h5py.File(sub) as a, h5py.File(again) as b:
        assert a["masks"].shape == (6, 3, 32, 32)
        for field in ("log_weights", "segmentation", "latents", "masks"):
            assert (a[field][:] == b[field][:]).all(), field


def test_named_lds_config_names_the_run_directory(tmp_path, tiny_cis, run_cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tiny = {k: str(v) if not isinstance(v, tuple) else ",".join(map(str, v)) for k, v in TINY.items()}
    sets = [a for k, v in tiny.items() for a in ("--set", f"{k}={v}")]
    res = run_cli("baseline", "train", "iodine", "-d", tiny_cis, "--config", "smoke-lds", "--set", "steps=1",
                  *sets, "--threads", "1", "--no-progress")
    assert res.exit_code == 0, res.output
    # runs/iodine/<data>/smoke-lds-<hash of the --set values>: the group is in the name
    assert "/smoke-lds-" in res.stdout.strip().splitlines()[-1]


@pytest.mark.slow
def test_smoke_config_lowers_the_validation_negative_elbo(tmp_path):
    """The `smoke` config itself (a few minutes on 2 CPU cores) on 64x64 multi-dSprites (cis)."""
    from scenebench.datasets.build import generate

    data = generate("multi_dsprites", "cis", tmp_path / "data", overrides={"splits.train": "1000"},
                    splits=["train"], workers=1)
    result = train(Iodine, data, Iodine.resolve_config("smoke", {"device": "cpu"}), tmp_path / "run",
                   log=lambda m: None, progress=False)
    val = [r["val/neg_elbo"] for r in result.history if r["kind"] == "val"]
    assert val[-1] < val[0] - 20_000  # measured: 139,273 -> -8,103 nats (300 steps, 4.7 min on one thread)


# ----------------------------------------------------------------------------- multi-view data (CLE-MV)
@pytest.fixture(scope="module")
def tiny_cle(tmp_path_factory):
    """CLE-MV (64x64, 10 views per scene): 4 train / 2 test scenes."""
    from scenebench.datasets.build import generate

    return generate("cle_mv", "cle-mv", tmp_path_factory.mktemp("iodine-cle"), workers=1,
                    overrides={"splits.train": "4", "splits.test": "2"}, splits=["train", "test"])


def test_cle_mv_round_trip_scores_every_view(tmp_path, tiny_cle, run_cli):
    cfg = _tiny_file(tmp_path / "tiny.json", steps=3, eval_every=3)
    res = run_cli("baseline", "train", "iodine", "-d", tiny_cle, "-c", cfg, "-o", tmp_path / "run", "--threads", "1",
                  "--no-progress")
    assert res.exit_code == 0, res.output
    sub = tmp_path / "sub.h5"
    res = run_cli("baseline", "predict", "iodine", "-k", tmp_path / "run", "-d", tiny_cle, "-o", sub, "-S", "3",
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
    # latents are kept per view, (N, V, K, D), and the slot metrics score every view (a batch of 20 views, as
    # above: the refinement noise of a view depends on its place in the batch)
    res = run_cli("baseline", "predict", "iodine", "-k", tmp_path / "run", "-d", tiny_cle, "-o", tmp_path / "l.h5",
                  "--fields", "latents", "--batch-size", "20", "--no-progress")
    assert res.exit_code == 0, res.output
    with h5py.File(tmp_path / "l.h5") as f:
        lat = f["latents"][:]
    assert lat.shape == (2, 10, model.config.num_slots, model.config.latent_dim)
    assert np.allclose(lat.reshape(20, *lat.shape[2:]), model.latents(x).numpy())
    res = run_cli("evaluate", tmp_path / "l.h5", "--data", tiny_cle, "--json", "-", "--workers", "1")
    assert res.exit_code == 0, res.output
    metrics = json.loads(res.output)["metrics"]
    assert metrics["duplicate_rate"]["n"] == 20 and metrics["slot_similarity"]["n"] == 20
