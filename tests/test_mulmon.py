"""MulMON (with and without the LDS prior): configs, viewpoints, refinement, aggregation, bounds, training, CLI."""

import json
import math
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from scenebench.baselines.common import checkpoint as ckpt  # noqa: E402
from scenebench.baselines.common.data import DataInfo, TrainData  # noqa: E402
from scenebench.baselines.common.training import train  # noqa: E402
from scenebench.baselines.mulmon.config import MulmonConfig  # noqa: E402
from scenebench.baselines.mulmon.model import Mulmon, iteration_weights, paper_lr, parameter_counts  # noqa: E402
from scenebench.baselines.mulmon.networks import layer_norm, viewpoint  # noqa: E402
from scenebench.errors import ConfigError  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")

# tiny networks for 16x16 / 32x32 scenes of a few views
TINY = dict(num_slots=3, latent_dim=4, view_dim=3, view_hidden=8, projector_hidden=16, decoder_channels=4,
            decoder_layers=2, refine_channels=(4, 8), refine_hidden=16, refine_features=8, lstm_hidden=8,
            inner_iterations=3, max_observed=2, batch_size=2, val_size=10, eval_every=3, log_every=2,
            checkpoint_every=2, eval_batch_size=2, device="cpu")


def tiny_mulmon(channels=3, size=16, **kw):
    cfg = {k: v for k, v in TINY.items() if k not in ("device",)}
    cfg.update(kw)
    torch.manual_seed(0)
    return Mulmon(MulmonConfig(**cfg), DataInfo(channels, size, size))


def orbit(azimuth, elevation=0.5, distance=10.0):
    """Camera positions ``(..., 3)`` on CLE-MV's orbit (scene centre at the origin)."""
    az = torch.as_tensor(azimuth, dtype=torch.float32)
    return torch.stack([math.cos(elevation) * torch.cos(az), math.cos(elevation) * torch.sin(az),
                        torch.full_like(az, math.sin(elevation))], -1) * distance


def scenes(b=2, v=4, c=3, size=16, seed=0):
    """A scenes batch as the methods take it: images (B, V, C, H, W) in [0, 1] and camera positions (B, V, 3)."""
    g = torch.Generator().manual_seed(seed)
    az = torch.rand(b, 1, generator=g) * 2 * math.pi + torch.arange(v) * 2 * math.pi / v
    return {"image": torch.rand(b, v, c, size, size, generator=g), "camera/position": orbit(az)}


# ----------------------------------------------------------------------------- configs and registry
def test_paper_configs_hold_the_stated_values_and_differ_only_in_lambda():
    paper, plus = Mulmon.resolve_config("paper"), Mulmon.resolve_config("paper-lds")
    assert (paper.lr, paper.batch_size, paper.steps, paper.grad_clip, paper.beta) == (2e-4, 8, 600_000, 5.0, 1.0)
    assert (paper.lr_anneal_steps, paper.lr_final) == (1_000_000, 0.1)
    assert (paper.num_slots, paper.latent_dim, paper.inner_iterations, paper.pixel_sigma) == (7, 16, 5, 0.1)
    assert (paper.view_dim, paper.view_hidden, paper.projector_hidden, paper.view_noise) == (5, 128, 512, 0.015)
    assert (paper.refine_channels, paper.refine_hidden, paper.refine_features, paper.lstm_hidden) == \
        ((32, 32, 64, 64), 256, 128, 128)
    assert (paper.decoder_channels, paper.decoder_layers, paper.mixture, paper.rgb_sigmoid) == (32, 4, "channel", False)
    assert (paper.min_observed, paper.max_observed, paper.eval_observed, paper.query_weight) == (1, 6, 5, 1.0)
    assert paper.lds_weight == 0.0 and plus.lds_weight == 1.0 and paper.lds_sigma == 0.1
    assert {k for k in paper.__dataclass_fields__ if getattr(paper, k) != getattr(plus, k)} == {"lds_weight"}
    smoke, smoke_plus = Mulmon.resolve_config("smoke"), Mulmon.resolve_config("smoke-lds")
    assert {k for k in smoke.__dataclass_fields__ if getattr(smoke, k) != getattr(smoke_plus, k)} == {"lds_weight"}
    assert Mulmon.resolve_config("paper", {"lds_weight": "1"}) == plus  # --set lds_weight=1 switches it on
    info = DataInfo(3, 64, 64)
    assert Mulmon(smoke, info).display_name == "MulMON" and Mulmon(smoke_plus, info).display_name == "MulMON+LDS"
    for bad, match in (({"lds_weight": "-1"}, "lds_weight"), ({"mixture": "joint"}, "mixture"),
                       ({"num_slots": "1"}, "num_slots"), ({"min_observed": "4", "max_observed": "3"}, "min_observed"),
                       ({"eval_observed": "-1"}, "eval_observed"), ({"lds_latent": "both"}, "lds_latent")):
        with pytest.raises(ConfigError, match=match):
            Mulmon.resolve_config("smoke", bad)
    # the paper config's networks at 64x64; the refinement network reads 17 channels per slot
    model = Mulmon(paper, info)
    assert parameter_counts(model) == {"view_encoder": 1_157, "projector": 19_472, "decoder": 33_092,
                                       "refine": 419_200, "lambda0": 32, "total": 472_953}
    assert model.refine.convs[0].in_channels == 17 and model.refine.mlp[0].in_features == 64 * 3 * 3
    assert model.refine.lstm.input_size == 128 + 4 * 16 and model.refine.lstm.hidden_size == 128
    with pytest.raises(ConfigError, match="refine_channels"):
        Mulmon(smoke, DataInfo(3, 16, 16))  # 4 unpadded stride-2 convs need 31 pixels


def test_mulmon_is_registered_as_a_scenes_model():
    from scenebench.registry import get_baseline

    assert get_baseline("mulmon") is Mulmon
    assert set(Mulmon.capabilities()) == {"segment", "log_weights", "elbo", "reconstruct", "latents", "masks"}
    assert Mulmon.input_layout == "scenes" and Mulmon.input_fields == ("camera/position",)
    # the package and its config import no torch (the registry lists baselines without importing them)
    code = ("import sys; import scenebench.baselines.mulmon, scenebench.baselines.mulmon.config; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------------------------- pieces
def test_viewpoint_code_of_known_camera_positions():
    pos = torch.tensor([[10.0, 0.0, 5.0], [0.0, 3.0, 1.0], [-2.0, 0.0, 7.0], [1.0, 1.0, 0.0], [0.0, -4.0, 2.0]])
    s = math.sqrt(0.5)
    expect = torch.tensor([[0.0, 0.0, 0.0], [-1.0, 1.0, 0.0], [-2.0, 0.0, 0.0], [s - 1.0, s, 0.0], [-1.0, -1.0, 0.0]])
    assert torch.allclose(viewpoint(pos), expect, atol=1e-6)
    # on an orbit: (cos a - 1, sin a, 0) whatever the elevation and distance
    az = torch.linspace(0, 2 * math.pi, 7)
    for el, dist in ((0.2, 10.0), (0.9, 3.0)):
        v = viewpoint(orbit(az, el, dist))
        assert torch.allclose(v, torch.stack([az.cos() - 1, az.sin(), torch.zeros_like(az)], -1), atol=1e-5)
    assert viewpoint(pos[None, None]).shape == (1, 1, 5, 3)


def test_iteration_weights_and_the_paper_learning_rate_schedule():
    assert iteration_weights(5) == pytest.approx([1 / 15, 2 / 15, 3 / 15, 4 / 15, 5 / 15])
    assert sum(iteration_weights(3)) == pytest.approx(1.0) and iteration_weights(1) == [1.0]
    eta = 2e-4
    for s, want in ((0, eta), (500_000, 0.1 * eta + 0.9 * eta * 0.5), (600_000, 0.1 * eta + 0.9 * eta * 0.4),
                    (1_000_000, 0.1 * eta), (2_000_000, 0.1 * eta)):
        assert paper_lr(s, eta) == pytest.approx(max(0.1 * eta + 0.9 * eta * (1 - s / 1e6), 0.1 * eta))
        assert paper_lr(s, eta) == pytest.approx(want)
    model = Mulmon(Mulmon.resolve_config("paper"), DataInfo(3, 64, 64))
    groups = model.optimizer_groups()
    assert len(groups) == 1 and len(groups[0][0]) == len(list(model.parameters()))
    assert groups[0][1](0) == pytest.approx(eta) and groups[0][1](600_000) == pytest.approx(0.46 * eta)
    opt = model.make_optimizer(groups)
    assert isinstance(opt, torch.optim.Adam) and opt.defaults["weight_decay"] == 0
    assert opt.defaults["betas"] == (0.9, 0.999)


def test_layer_norm_is_parameter_free_over_the_trailing_axes():
    x = torch.randn(3, 4, 2, 5, 5) * 7 + 3
    y = layer_norm(x, 3)
    assert torch.allclose(y.mean((2, 3, 4)), torch.zeros(3, 4), atol=1e-5)
    assert torch.allclose(y.std((2, 3, 4)), torch.ones(3, 4), atol=1e-4)
    assert torch.equal(layer_norm(torch.zeros(2, 6), 1), torch.zeros(2, 6))  # constant inputs give 0, not NaN


def test_refinement_inputs_hold_the_17_channels_in_order():
    model = tiny_mulmon(size=16)
    k, c, h, w = 3, 3, 16, 16
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, c, h, w, generator=g)
    means = torch.rand(2, k, c, h, w, generator=g)
    logits = torch.randn(2, k, h, w, generator=g)
    log_m = torch.log_softmax(logits, 1)
    comp = -0.5 * ((x[:, None] - means) / 0.1) ** 2 - math.log(0.1) - 0.5 * math.log(2 * math.pi)
    d_means, d_masks = torch.randn(2, k, c, h, w, generator=g), torch.randn(2, k, h, w, generator=g)
    inp = model._refinement_inputs(x, means, log_m.exp(), logits, comp, log_m, d_means, d_masks).view(2, k, 17, h, w)
    assert torch.equal(inp[:, :, 0:3], x[:, None].expand(2, k, c, h, w)) and torch.equal(inp[:, :, 3:6], means)
    assert torch.allclose(inp[:, :, 6], log_m.exp()) and torch.equal(inp[:, :, 7], logits)
    assert torch.allclose(inp[:, :, 8:11], layer_norm(d_means, 3))
    assert torch.allclose(inp[:, :, 11], layer_norm(d_masks, 2))
    assert torch.allclose(inp[:, :, 12], torch.softmax(comp.sum(2), 1))  # "col_lik"
    pixel = torch.logsumexp(log_m[:, :, None] + comp, 1).sum(1).exp()
    assert torch.allclose(inp[:, :, 13], layer_norm(pixel, 2)[:, None].expand(2, k, h, w), atol=1e-5)
    # the leave-one-out likelihood, in probability space: prod_c (sum_j m_j p_jc - m_k p_kc) / (1 - m_k)
    m, p = log_m.exp()[:, :, None], comp.exp()
    loo = ((m * p).sum(1, keepdim=True) - m * p) / (1 - m)
    assert torch.allclose(inp[:, :, 14], layer_norm(loo.prod(2), 2), atol=1e-4)
    assert torch.equal(inp[0, 1, 15:17], model.coords)


def test_shapes_dtypes_and_gradients_reach_every_parameter():
    x = scenes(b=2, v=4)
    for weight in (0.0, 1.0):
        model = tiny_mulmon(size=16, lds_weight=weight)
        g = torch.Generator().manual_seed(0)
        loss, metrics = model.training_loss(x, step=0, generator=g)
        assert loss.dtype == torch.float32 and loss.dim() == 0
        loss.backward()
        for name, p in model.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
            assert p.grad.abs().sum() > 0, f"no gradient reaches {name} (lds_weight={weight})"
        assert {"loss", "recon", "kl", "query_nll", "lds", "similarity", "neg_elbo"} <= set(metrics)
        assert all(isinstance(v, float) for v in metrics.values())
        assert metrics["query_nll"] > 0 and metrics["lds"] < 0 and 1 <= metrics["observed_views"] <= 2
    joint = tiny_mulmon(size=16, mixture="pixel")  # the joint-RGB mixture runs too
    assert torch.isfinite(joint.training_loss(x, 0, torch.Generator().manual_seed(0))[0])
    assert torch.isfinite(joint.elbo(x)).all()
    g = torch.Generator().manual_seed(1)
    lw = model.log_weights(x, 7, generator=g)
    assert lw.shape == (2, 7) and lw.dtype == torch.float64 and torch.isfinite(lw).all()
    elbo = model.elbo(x)
    assert elbo.shape == (2,) and elbo.dtype == torch.float64
    assert model.validation_loss(x, g).shape == (2,)
    seg = model.segment(x)
    assert seg.shape == (2, 4, 16, 16) and seg.dtype == torch.int64 and 0 <= int(seg.min()) and int(seg.max()) < 3
    rec = model.reconstruct(x)
    assert rec.shape == (2, 4, 3, 16, 16) and rec.dtype == torch.float32
    assert 0 <= float(rec.min()) <= float(rec.max()) <= 1
    assert model.latents(x).shape == (2, 3, 4) and model.latents(x).dtype == torch.float32
    masks = model.masks(x)
    assert masks.shape == (2, 4, 3, 16, 16) and torch.allclose(masks.sum(2), torch.ones(2, 4, 16, 16), atol=1e-5)
    assert torch.equal(seg, masks.argmax(2))


def test_the_kl_is_against_the_posterior_the_view_started_from():
    """The "IG term" is 0 at each view's first iteration (q = the view's prior) and the final KL is a real KL."""
    model = tiny_mulmon(size=16)
    x = scenes(b=2, v=3)
    images, raw = model.scene(x)
    g = torch.Generator().manual_seed(0)
    lam, terms = model._infer(images, model.view_encoder(raw), g, train=True, lds_on=True)
    assert len(terms) == 3 and all(len(t) == 3 for t in terms)
    for view_terms in terms:
        assert torch.equal(view_terms[0][1], torch.zeros(2, dtype=torch.float64))
        assert all(bool(torch.isfinite(t[0]).all()) and t[2] is not None for t in view_terms)
    assert lam.shape == (2, 3, 8) and lam.requires_grad  # lambda_T carries the graph of every refinement
    # evaluation: the same refinement from the same generator state, without graphs
    lam_eval, none = model._infer(images, model.view_encoder(raw), torch.Generator().manual_seed(0), train=False)
    assert none == [[], [], []] and not lam_eval.requires_grad
    assert torch.allclose(lam_eval, lam.detach(), atol=1e-5)


# ----------------------------------------------------------------------------- evaluation semantics
def test_evaluation_methods_run_in_eval_mode_restore_it_and_leave_no_gradients():
    model = tiny_mulmon(size=16)
    model.train()
    model.decoder.eval()  # a mixed state is given back as it was
    seen = []
    model.refine.register_forward_pre_hook(lambda mod, inp: seen.append((mod.training, torch.is_grad_enabled())))
    x = scenes(b=2, v=3)
    in_train = model.log_weights(x, 4, generator=torch.Generator().manual_seed(3))
    for method in (model.segment, model.reconstruct, model.latents, model.elbo, model.masks):
        out = method(x)
        assert out.grad_fn is None and not out.requires_grad
    assert model.validation_loss(x, torch.Generator().manual_seed(0)).grad_fn is None
    assert seen and not any(training for training, _ in seen) and not any(grad for _, grad in seen)
    assert model.training and model.refine.training and model.projector.training and not model.decoder.training
    assert all(p.grad is None for p in model.parameters())
    assert torch.is_grad_enabled()
    model.eval()
    assert torch.equal(in_train, model.log_weights(x, 4, generator=torch.Generator().manual_seed(3)))
    # no training noise at evaluation: the default generator gives the same answer twice
    assert torch.equal(model.latents(x), model.latents(x)) and torch.equal(model.segment(x), model.segment(x))


def test_more_observed_views_change_the_posterior():
    """Aggregation is real: the posterior after view 1 ignores the other views; after views 1-2 it does not."""
    x = scenes(b=2, v=4, seed=5)
    y = {k: v.clone() for k, v in x.items()}
    y["image"][:, 1] = torch.rand(y["image"][:, 1].shape, generator=torch.Generator().manual_seed(9))
    one, two, every = (tiny_mulmon(size=16, eval_observed=n) for n in (1, 2, 0))
    assert torch.equal(one.latents(x), one.latents(y))  # view 2 is not observed
    assert not torch.allclose(two.latents(x), two.latents(y), atol=1e-4)
    assert not torch.allclose(one.latents(x), two.latents(x), atol=1e-4)
    assert not torch.allclose(two.latents(x), every.latents(x), atol=1e-4)
    assert torch.equal(every.latents(x), tiny_mulmon(size=16, eval_observed=4).latents(x))  # 0 = all views
    # the bounds score every view whatever the posterior saw: changing view 2 changes them for both
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    assert not torch.allclose(one.elbo(x, generator=g()), one.elbo(y, generator=g()))
    # a camera moved: the decoder sees the view code, so the reconstruction of that view changes
    z = {k: v.clone() for k, v in x.items()}
    z["camera/position"][:, 3] = orbit(torch.tensor([0.1, 2.0]))
    rx, rz = one.reconstruct(x), one.reconstruct(z)
    assert torch.equal(rx[:, :3], rz[:, :3]) and not torch.allclose(rx[:, 3], rz[:, 3])


# ----------------------------------------------------------------------------- the LDS prior is training-only
def test_lds_prior_enters_the_training_loss_only():
    plain = tiny_mulmon(size=16, lds_weight=0.0)
    plus = tiny_mulmon(size=16, lds_weight=1.0)
    plus.load_state_dict(plain.state_dict())  # the same parameters
    x = scenes(b=2, v=4, seed=1)
    gens = lambda: (torch.Generator().manual_seed(7), torch.Generator().manual_seed(7))  # noqa: E731
    a, b = gens()
    assert torch.equal(plain.elbo(x, num_samples=3, generator=a), plus.elbo(x, num_samples=3, generator=b))
    a, b = gens()
    assert torch.equal(plain.log_weights(x, 5, generator=a), plus.log_weights(x, 5, generator=b))
    a, b = gens()
    assert torch.equal(plain.validation_loss(x, a), plus.validation_loss(x, b))
    for method in ("segment", "reconstruct", "latents"):
        assert torch.equal(getattr(plain, method)(x), getattr(plus, method)(x)), method
    # ... and is in the training loss: loss(lambda) = loss(0) - lambda * (weighted mean of L_LDS over iterations)
    a, b = gens()
    l0, m0 = plain.training_loss(x, 0, a)
    l1, m1 = plus.training_loss(x, 0, b)
    assert m0["lds"] == m1["lds"] and m0["lds"] < 0 and m0["neg_elbo"] == m1["neg_elbo"]
    assert float(l1.detach()) == pytest.approx(float(l0.detach()) - 1.0 * m0["lds"], rel=1e-5)
    # what it sees: the sampled slot latents of every iteration, weighted like the iteration's loss
    images, raw = plain.scene(x)
    g = torch.Generator().manual_seed(7)
    n_obs = int(torch.randint(1, 3, (1,), generator=g))
    order = torch.rand((2, 4), generator=g).argsort(1)
    rows = torch.arange(2)[:, None]
    noisy = raw[rows, order] + 0.015 * torch.randn((2, 4, 3), generator=g)
    _, terms = plain._infer(images[rows, order][:, :n_obs], plain.view_encoder(noisy)[:, :n_obs], g, train=True,
                            lds_on=True)
    wv, wt = iteration_weights(n_obs), iteration_weights(3)
    want = sum(wv[l] * wt[t] * terms[l][t][2] for l in range(n_obs) for t in range(3))
    assert m0["lds"] == pytest.approx(float(want.detach().mean()), rel=1e-6)
    assert plain.training_loss(x, 0, gens()[0])[1]["observed_views"] == n_obs
    means = tiny_mulmon(size=16, lds_latent="mean")
    means.load_state_dict(plain.state_dict())
    assert means.training_loss(x, 0, gens()[0])[1]["lds"] != m0["lds"]


# ----------------------------------------------------------------------------- exact bounds
def _toy():
    """K = 2 slots with 1-D latents, 2 views of 8x8 gray images: log p(x_1, x_2) is a 2-D integral on a grid."""
    model = tiny_mulmon(channels=1, size=8, num_slots=2, latent_dim=1, view_dim=2, view_hidden=4, projector_hidden=8,
                        decoder_channels=4, decoder_layers=2, refine_channels=(2,), refine_hidden=4,
                        refine_features=4, lstm_hidden=4, pixel_sigma=0.2, eval_chunk=200_000).eval()
    with torch.no_grad():  # images that depend clearly on z, and a prior that is not N(0, 1)
        model.projector[0].weight[:, 0] *= 3.0
        model.decoder.net[-1].weight *= 2.0
        model.lambda0.copy_(torch.tensor([0.3, math.log(0.8 ** 2)]))
    cams = orbit(torch.tensor([[0.4, 2.2]]))  # (1, 2, 3): two cameras
    return model, cams


def _exact_log_px(model, x, cams, grid=401, lim=6.0):
    """log p(x_1, x_2) = log int p(z_1) p(z_2) prod_v prod_pixels sum_k softmax(l(z, v))_k N(x_v; mu_k(z_k, v), s^2) dz,
    and the posterior means and standard deviations of z_1, z_2 -- written out here, independently of the model."""
    mu0, lv0 = (float(t) for t in model.lambda0.detach())
    zs = torch.linspace(-lim, lim, grid, dtype=torch.float64)
    s = float(model.config.pixel_sigma)
    with torch.no_grad():
        codes = model.view_encoder(viewpoint(cams[0]))  # (2, view_dim)
        per_view = []
        for v in range(2):  # one decode per grid value and view: a slot's output depends on its own z only
            zy = model.projector(torch.cat([zs[:, None].float(), codes[v].expand(grid, -1)], 1))
            out = model.decoder(zy).double()
            per_view.append((out[:, 0], out[:, 1]))  # (G, H, W) means, logits
    log_prior = -0.5 * (zs - mu0) ** 2 / math.exp(lv0) - 0.5 * lv0 - 0.5 * math.log(2 * math.pi)
    joint = log_prior[:, None] + log_prior[None, :]
    for v, (means, logits) in enumerate(per_view):
        lp = -0.5 * ((x["image"][0, v, 0].double() - means) / s) ** 2 - math.log(s) - 0.5 * math.log(2 * math.pi)
        for i in range(grid):  # z_1 = zs[i], z_2 = every grid value
            lse = torch.logaddexp(logits[i], logits)
            joint[i] += torch.logaddexp(logits[i] - lse + lp[i], logits - lse + lp).flatten(1).sum(1)
    dz = 2 * lim / (grid - 1)
    post = torch.softmax(joint.flatten(), 0).view(grid, grid)
    m1, m2 = (post.sum(1) * zs).sum(), (post.sum(0) * zs).sum()
    s1 = (post.sum(1) * (zs - m1) ** 2).sum().sqrt()
    s2 = (post.sum(0) * (zs - m2) ** 2).sum().sqrt()
    return float(torch.logsumexp(joint.flatten(), 0)) + 2 * math.log(dz), (m1, m2), (s1, s2)


def test_log_weights_are_exact_importance_weights_of_the_multi_view_model():
    """E_q[w] = p(x_1, x_2) with p(z) = lambda_0's Gaussian; IWAE and the ELBO bound log p(x_1, x_2) from below."""
    model, cams = _toy()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # two views drawn from the model: z = (0.7, -1.1), a slot per pixel from the decoded masks
        codes = model.view_encoder(viewpoint(cams))
        means, logits = model.decode(torch.tensor([[[0.7], [-1.1]]]).expand(1, 2, 2, 1), codes)  # (1, V, K, ...)
        slot1 = torch.rand(1, 2, 8, 8, generator=g) < torch.softmax(logits, 2)[:, :, 1]
        img = torch.where(slot1, means[:, :, 1, 0], means[:, :, 0, 0])
        img = img + 0.2 * torch.randn(img.shape, generator=g)
    x = {"image": img[:, :, None], "camera/position": cams}
    exact, (m1, m2), (s1, s2) = _exact_log_px(model, x, cams)
    assert exact == pytest.approx(_exact_log_px(model, x, cams, grid=801)[0], abs=1e-4)  # the grid has converged
    # 1) the real refinement's posterior: a valid (if loose, untrained) proposal
    lw = model.log_weights(x, 4000, generator=torch.Generator().manual_seed(0))[0]
    estimate = float(torch.logsumexp(lw, 0)) - math.log(len(lw))
    elbo = float(model.elbo(x, num_samples=4000, generator=torch.Generator().manual_seed(0)))
    assert elbo < estimate < exact + 0.05  # measured: ELBO -1.66 < IW-4000 5.126 < exact 5.549 (ESS 55)
    # 2) a proposal near (not at) the posterior: shifted means and 1.2x its spread
    mu = torch.tensor([[[float(m1) + 0.1], [float(m2) - 0.1]]])
    logvar = 2 * torch.log(torch.tensor([[[1.2 * float(s1)], [1.2 * float(s2)]]]))
    real = model._posterior
    model._posterior = lambda x, generator: (*real(x, generator)[:2], mu, logvar)
    lw = model.log_weights(x, 20000, generator=torch.Generator().manual_seed(0))[0]
    estimate = float(torch.logsumexp(lw, 0)) - math.log(len(lw))
    ess = float(torch.exp(2 * torch.logsumexp(lw, 0) - torch.logsumexp(2 * lw, 0)))
    assert ess > 1000
    assert abs(estimate - exact) < 4 / math.sqrt(ess)  # measured: 5.579 vs exact 5.549 (ESS 3,632)
    iw100 = torch.logsumexp(lw.view(200, 100), 1) - math.log(100)
    assert float(iw100.mean()) <= exact + 3 * float(iw100.std()) / math.sqrt(200)
    elbo = float(model.elbo(x, num_samples=20000, generator=torch.Generator().manual_seed(0)))
    assert elbo < float(iw100.mean()) and elbo < exact - 0.05  # measured: ELBO 0.45, IW-100 5.55 (the posterior is
    # bimodal: the slots are exchangeable, so (z_1, z_2) and (z_2, z_1) explain the views equally well)
    # the ELBO (analytic KL) and the mean log-weight (Monte Carlo KL) estimate the same number
    assert elbo == pytest.approx(float(lw.mean()), abs=0.05)


def test_more_importance_samples_tighten_the_bound_of_a_real_model():
    model = tiny_mulmon(size=16)
    x = scenes(b=2, v=3, seed=2)
    lw = model.log_weights(x, 200, generator=torch.Generator().manual_seed(0))
    elbo = model.elbo(x, num_samples=200, generator=torch.Generator().manual_seed(0))
    iw = torch.logsumexp(lw, 1) - math.log(200)
    iw10 = (torch.logsumexp(lw.view(2, 20, 10), 2) - math.log(10)).mean(1)
    assert (elbo < iw10).all() and (iw10 < iw).all()
    assert torch.allclose(elbo, lw.mean(1), atol=2.0)  # same quantity; |KL MC error| over 12 latent dims


# ----------------------------------------------------------------------------- training on CLE-MV, resume, CLI
from test_baselines_common import _params, _same  # noqa: E402  (state copies; bit-equality of state dicts)


@pytest.fixture(scope="module")
def tiny_cle(tmp_path_factory):
    """CLE-MV at 32x32 (10 views per scene): 4 train / 2 test scenes."""
    from scenebench.datasets.build import generate

    return generate("cle_mv", "cle-mv", tmp_path_factory.mktemp("mulmon-cle"), workers=1,
                    overrides={"splits.train": "4", "splits.test": "2", "height": "32", "width": "32"},
                    splits=["train", "test"])


@pytest.fixture(scope="module")
def tiny_dolphin(tmp_path_factory):
    """The dolphin preset (complex shapes) at 32x32: 4 train / 2 test scenes."""
    from scenebench.datasets.build import generate

    return generate("cle_mv", "dolphin", tmp_path_factory.mktemp("mulmon-dolphin"), workers=1,
                    overrides={"splits.train": "4", "splits.test": "2", "height": "32", "width": "32"},
                    splits=["train", "test"])


@pytest.mark.parametrize("weight", [0.0, 1.0], ids=["mulmon", "mulmon-lds"])
def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path, tiny_cle, weight):
    data = TrainData.for_model(Mulmon, tiny_cle, TINY["val_size"])
    assert len(data) == 3 and data.val["image"].shape == (1, 10, 3, 32, 32)  # whole scenes: 3 train, 1 held out
    config = Mulmon.resolve_config("smoke", {**TINY, "steps": 4, "lds_weight": weight})
    quiet = dict(log=lambda m: None, progress=False)
    straight = train(Mulmon, data, config, tmp_path / "a", **quiet)
    first = train(Mulmon, data, config, tmp_path / "c", stop_at=2, **quiet)
    assert first.step == 2 and ckpt.read(tmp_path / "c")["step"] == 2
    resumed = train(Mulmon, data, config, tmp_path / "c", **quiet)
    assert resumed.resumed_from == 2 and resumed.step == 4
    _same(_params(straight.model), _params(resumed.model))
    strip = lambda p: [{k: v for k, v in json.loads(line).items() if k != "elapsed"}  # noqa: E731
                       for line in (p / "log.jsonl").read_text().splitlines()]
    assert strip(tmp_path / "a") == strip(tmp_path / "c")
    assert "exp_avg_sq" in next(iter(ckpt.read(tmp_path / "a")["optimizer"]["state"].values()))  # Adam
    loaded = ckpt.load_model(tmp_path / "a", device="cpu")
    x = loaded.prepare(data.val)
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    assert torch.equal(loaded.log_weights(x, 3, generator=g1), straight.model.log_weights(x, 3, generator=g2))
    assert loaded.display_name == ("MulMON+LDS" if weight else "MulMON")


def test_training_lowers_the_validation_negative_elbo(tmp_path, tiny_cle):
    data = TrainData.for_model(Mulmon, tiny_cle, 10)
    # the posterior of the 2 views it learns to aggregate (max_observed = 2): untrained, a tiny model's sequential
    # updates drift when run over many more views than it was trained on (measured: |mu_T| grows about linearly in
    # the views observed after 30 steps)
    config = Mulmon.resolve_config("smoke", {**TINY, "steps": 50, "eval_every": 50, "lr": 3e-3, "eval_observed": 2})
    result = train(Mulmon, data, config, tmp_path, log=lambda m: None, progress=False)
    val = [r["val/neg_elbo"] for r in result.history if r["kind"] == "val"]
    assert len(val) == 2 and val[1] < 0.5 * val[0]  # measured: 556,571 -> -16,211 nats per 32x32 scene of 10 views
    # (seeds 1-4: 844,114 -> 62,497; 590,206 -> -25,483; 218,824 -> -25,668; 668,701 -> -30,193)
    train_log = [r for r in result.history if r["kind"] == "train"]
    assert {"recon", "kl", "query_nll", "lds", "similarity", "neg_elbo", "lr"} <= set(train_log[-1])


def _tiny_file(path, **extra):
    path.write_text(json.dumps({"base": "smoke", **TINY, **extra}))
    return path


@pytest.mark.parametrize("preset", ["cle-mv", "dolphin"])
def test_train_predict_evaluate_round_trip_from_the_cli(tmp_path, tiny_cle, tiny_dolphin, run_cli, monkeypatch,
                                                       preset):
    data = tiny_cle if preset == "cle-mv" else tiny_dolphin
    monkeypatch.chdir(tmp_path)  # the default run directory is ./runs/...
    cfg = _tiny_file(tmp_path / "tiny.json", steps=3)
    res = run_cli("baseline", "train", "mulmon", "-d", data, "--config", cfg, "--set", "lds_weight=1",
                  "--threads", "1", "--no-progress")
    assert res.exit_code == 0, res.output
    path = res.stdout.strip().splitlines()[-1]
    assert path.endswith("checkpoint.pt") and path.startswith(f"runs/mulmon/cle_mv-{preset}-")
    run = tmp_path / path.rsplit("/", 1)[0]
    assert json.loads((run / "config.json").read_text())["config"]["lds_weight"] == 1.0
    sub = tmp_path / "sub.h5"
    fields = "segmentation,log_weights,elbo,reconstruction,latents,masks"
    res = run_cli("baseline", "predict", "mulmon", "-k", run, "-d", data, "-o", sub, "-S", "4", "--fields", fields,
                  "--no-progress")
    assert res.exit_code == 0, res.output
    import h5py

    with h5py.File(sub) as f:
        assert f["segmentation"].shape == (2, 10, 32, 32) and f["reconstruction"].shape == (2, 10, 32, 32, 3)
        assert f["log_weights"].shape == (2, 4) and f["elbo"].shape == (2,) and f["latents"].shape == (2, 3, 4)
        assert f["masks"].shape == (2, 10, 3, 32, 32)  # soft masks per view, (N, V, K, H, W)
        lw, seg = f["log_weights"][:], f["segmentation"][:]
    assert int(seg.max()) < 3
    # per scene, as the model scores a whole scene (all views under one z per sample)
    model = ckpt.load_model(run, device="cpu")
    from scenebench.datasets.reader import SplitReader

    reader = SplitReader(data, "test", fields=["image", "camera/position"])
    x = model.prepare(reader.read(0, 2))
    reader.close()
    assert torch.allclose(torch.from_numpy(lw), model.log_weights(x, 4, generator=model.make_generator(0)), rtol=1e-9)
    res = run_cli("evaluate", sub, "--data", data, "--json", "-", "--workers", "1")
    assert res.exit_code == 0, res.output
    results = json.loads(res.output)
    metrics = results["metrics"]
    assert results["method"]["name"].startswith("MulMON+LDS [tiny")
    assert {"miou", "iw_nll", "inference_gap", "mse"} <= set(metrics)
    assert metrics["iw_nll"]["n"] == 2 and metrics["inference_gap"]["mean"] > -1e-9
    # the same command gives the same file
    again = tmp_path / "again.h5"
    run_cli("baseline", "predict", "mulmon", "-k", run, "-d", data, "-o", again, "-S", "4", "--fields", fields,
            "--no-progress")
    with h5py.File(sub) as a, h5py.File(again) as b:
        for field in ("log_weights", "segmentation", "latents"):
            assert (a[field][:] == b[field][:]).all(), field


def test_named_lds_config_names_the_run_directory(tmp_path, tiny_cle, run_cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tiny = {k: str(v) if not isinstance(v, tuple) else ",".join(map(str, v)) for k, v in TINY.items()}
    sets = [a for k, v in tiny.items() for a in ("--set", f"{k}={v}")]
    res = run_cli("baseline", "train", "mulmon", "-d", tiny_cle, "--config", "smoke-lds", "--set", "steps=1",
                  *sets, "--threads", "1", "--no-progress")
    assert res.exit_code == 0, res.output
    assert "/smoke-lds-" in res.stdout.strip().splitlines()[-1]


@pytest.mark.slow
def test_smoke_config_lowers_the_validation_negative_elbo(tmp_path):
    """The `smoke` config itself on 64x64 CLE-MV (4 scenes of 10 views for training, 1 held out)."""
    from scenebench.datasets.build import generate

    data = generate("cle_mv", "cle-mv", tmp_path / "data", overrides={"splits.train": "5"}, splits=["train"],
                    workers=1)
    result = train(Mulmon, data, Mulmon.resolve_config("smoke", {"device": "cpu"}), tmp_path / "run",
                   log=lambda m: None, progress=False)
    val = [r["val/neg_elbo"] for r in result.history if r["kind"] == "val"]
    assert val[-1] < val[0] - 50_000  # measured: see SMOKE in baselines/mulmon/config.py
