"""LAVAE and its conv beta-VAE: location machinery, shapes, gradients, and the importance-weight bound."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from scenebench.baselines.common.data import DataInfo  # noqa: E402
from scenebench.baselines.lavae import locations as loc  # noqa: E402
from scenebench.baselines.lavae.beta_vae import ConvBetaVae  # noqa: E402
from scenebench.baselines.lavae.config import BetaVaeConfig, LavaeConfig  # noqa: E402
from scenebench.baselines.lavae.model import Lavae, bernoulli_log_prob  # noqa: E402


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def tiny_lavae(channels=1, size=8, **kw):
    cfg = dict(channels=2, blocks=1, head_channels=2, decoder_channels=2, decoder_blocks=1, latent_dim=1,
               sprite_size=3, max_objects=3, aux_channels=2, aux_grid=1, aux_latent=1, sample_chunk=500)
    cfg.update(kw)
    torch.manual_seed(0)
    return Lavae(LavaeConfig(**cfg), DataInfo(channels, size, size))


# ----------------------------------------------------------------------------- counting
def test_f_count_counts_planted_peaks_exactly():
    h = torch.full((3, 32, 32), -1.0)
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    planted = [[(5, 5), (20, 25), (28, 3)], [(16, 16)], []]
    heights = [[9.0, 7.5, 6.0], [12.0], []]
    for b, (peaks, hs) in enumerate(zip(planted, heights)):
        for (y, x), a in zip(peaks, hs):
            h[b] = torch.maximum(h[b], a * torch.exp(-((yy - y) ** 2 + (xx - x) ** 2) / 8.0))
    # bumps below the threshold and a flat plateau above it (counted once)
    h[0] = torch.maximum(h[0], 3.0 * torch.exp(-((yy - 12) ** 2 + (xx - 28) ** 2) / 8.0))
    h[2, 10:13, 10:14] = 6.0
    counts = loc.count_objects(h, threshold=4.0, max_objects=10)
    assert counts.tolist() == [3, 1, 1]
    idx, valid = loc.top_maxima(h, 4.0, 10)
    found = {(int(i) // 32, int(i) % 32) for i in idx[0][valid[0]]}
    assert found == set(planted[0])
    assert idx[1][valid[1]].tolist() == [16 * 32 + 16]
    assert loc.count_objects(h, 4.0, max_objects=2).tolist() == [2, 1, 1]  # capped at M
    # two maxima 4 pixels apart: two in 3x3 neighbourhoods, one in 9x9 ones
    g = torch.zeros(1, 16, 16)
    g[0, 8, 4], g[0, 8, 8], g[0, 8, 5:8] = 9.0, 8.0, 6.0
    assert loc.count_objects(g, 4.0, 10, window=3).tolist() == [2]
    assert loc.count_objects(g, 4.0, 10, window=9).tolist() == [1]
    assert loc.top_maxima(g, 4.0, 10, window=9)[0][0, 0].item() == 8 * 16 + 4


# ----------------------------------------------------------------------------- sampling
def test_sampling_without_replacement_never_repeats_and_has_the_right_law():
    g = torch.Generator().manual_seed(0)
    logits = torch.tensor([[8.0, 7.0, 0.0, 0.0, -1.0, 3.0]])  # very peaked: repeats would be likely with replacement
    lg = logits.expand(20000, 6)
    idx = loc.sample_without_replacement(lg, 4, loc.gumbel(lg.shape, g, "cpu"))
    srt = idx.sort(1).values
    assert (srt[:, 1:] != srt[:, :-1]).all()  # never a repeated location
    # first draw ~ softmax, second draw ~ softmax over the rest
    p = torch.softmax(logits[0], 0)
    freq1 = torch.bincount(idx[:, 0], minlength=6).double() / len(idx)
    assert torch.allclose(freq1, p.double(), atol=0.01)
    first0 = idx[:, 0] == 0
    p2 = torch.softmax(logits[0, 1:], 0)
    freq2 = torch.bincount(idx[first0, 1] - 1, minlength=5).double() / int(first0.sum())
    assert torch.allclose(freq2, p2.double(), atol=0.015)


def test_ordered_log_probabilities_and_prior_sum_to_one():
    torch.manual_seed(1)
    logits = torch.randn(6) * 2
    pairs = torch.tensor([[a, b] for a in range(6) for b in range(6) if a != b])
    lq = loc.log_prob_ordered(logits.expand(len(pairs), 6), pairs, torch.ones(len(pairs), 2, dtype=torch.bool))
    assert math.isclose(float(lq.exp().sum()), 1.0, rel_tol=1e-5)
    lp = loc.log_prior_ordered(torch.tensor([2]), 6)
    assert math.isclose(float(lp.exp()) * len(pairs), 1.0, rel_tol=1e-9)
    # inactive draws do not count
    one = loc.log_prob_ordered(logits.expand(len(pairs), 6), pairs, torch.tensor([[True, False]] * len(pairs)))
    assert torch.allclose(one, torch.log_softmax(logits, 0)[pairs[:, 0]])


def test_relaxed_samples_match_the_hard_draws_and_mask_previous_ones():
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(4, 50, requires_grad=True)
    noise = loc.gumbel((4, 50), g, "cpu")
    idx = loc.sample_without_replacement(logits, 3, noise)
    y, kl = loc.relaxed_locations(logits, noise, idx, tau=0.1)
    assert y.shape == (4, 3, 50) and kl.shape == (4, 3)
    assert torch.equal(y.argmax(-1), idx)
    assert torch.allclose(y.sum(-1), torch.ones(4, 3))
    assert float(y[:, 1].gather(1, idx[:, :1]).max().detach()) == 0.0  # the first draw is masked in the second
    assert (kl > -1e-5).all()
    (y[..., 0].sum() + kl.sum()).backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_hard_and_soft_placement_agree_and_clip_at_the_border():
    torch.manual_seed(3)
    sprites = torch.rand(4, 3, 5, 5)
    where = torch.tensor([0, 9 * 12 + 11, 5 * 12 + 6, 5 * 12 + 6])  # corner, corner, centre twice (summed)
    target = torch.tensor([0, 0, 1, 1])
    hard = loc.place_hard(sprites, target, where, 2, 10, 12)
    maps = torch.zeros(4, 120)
    maps[torch.arange(4), where] = 1.0
    soft = loc.place_soft(sprites, maps.view(4, 10, 12), target, 2)
    assert hard.shape == (2, 3, 10, 12)
    assert torch.allclose(hard, soft, atol=1e-5)
    assert torch.equal(hard[0, :, :3, :3], sprites[0, :, 2:, 2:])  # top-left corner keeps the lower-right part
    assert torch.allclose(hard[1, :, 3:8, 4:9], sprites[2] + sprites[3])


# ----------------------------------------------------------------------------- the model
def test_lavae_shapes_dtypes_and_gradients():
    model = tiny_lavae(channels=3, size=16, max_objects=4, latent_dim=3)
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(5, 3, 16, 16, generator=g) > 0.7).float()
    loss, metrics = model.training_loss(x, step=0, generator=g)  # warm-up: aux VAE and regression active
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"no gradient reaches {name}"
    assert {"neg_elbo", "kl_loc", "kl_app", "aux_neg_elbo"} <= set(metrics)
    model.zero_grad()
    loss, metrics = model.training_loss(x, step=10**6, generator=g)  # after warm-up: ELBO only
    loss.backward()
    assert "aux_neg_elbo" not in metrics and model.loc_net.head[-1].weight.grad is not None
    model.eval()
    assert model.count(x).shape == (5,) and model.count(x).dtype == torch.int64
    seg = model.segment(x)
    assert seg.shape == (5, 16, 16) and seg.dtype == torch.int64 and int(seg.max()) <= 4
    lw = model.log_weights(x, 7, generator=g)
    assert lw.shape == (5, 7) and lw.dtype == torch.float64 and torch.isfinite(lw).all()
    assert model.elbo(x).shape == (5,)
    assert model.reconstruct(x).shape == (5, 3, 16, 16)
    assert model.latents(x).shape == (5, 4, 3 + 2)
    assert set(Lavae.capabilities()) == {"segment", "count", "log_weights", "elbo", "reconstruct", "latents"}


def test_segment_and_reconstruct_follow_the_detected_objects():
    model = tiny_lavae(size=12, sprite_size=3).eval()

    class Fixed(torch.nn.Module):  # every sprite: a full 3x3 square
        def forward(self, z):
            return torch.ones(len(z), 1, 3, 3)

    model.decoder = Fixed()
    h = torch.full((1, 12, 12), -50.0)
    h[0, 2, 3], h[0, 8, 8] = 30.0, 25.0  # two peaks above 4 gamma = 16
    model.loc_net.forward = lambda x: h.expand(len(x), 12, 12)
    x = torch.zeros(1, 1, 12, 12)
    assert model.count(x).tolist() == [2]
    seg = model.segment(x)[0]
    assert (seg[1:4, 2:5] == 1).all() and (seg[7:10, 7:10] == 2).all() and int((seg > 0).sum()) == 18
    rec = model.reconstruct(x)[0, 0]
    assert torch.equal(rec > 0, seg > 0)


def _exact_log_joint(model, x, n, quad=80):
    """log p(x, n) by enumeration: every ordered location tuple, and Gauss-Hermite quadrature over a 1-D z (n = 1)."""
    d = model.num_locations
    h, w = x.shape[-2:]
    log_pn = float(torch.log_softmax(model.count_logits.detach(), 0)[n])
    with torch.no_grad():
        if n == 1:
            nodes, weights = np.polynomial.hermite_e.hermegauss(quad)  # weight exp(-z^2 / 2)
            z = torch.tensor(nodes, dtype=torch.float32)[:, None]
            sprites = model.decoder(z)  # (Q, C, S, S)
            q = len(nodes)
            locs = torch.arange(d).repeat_interleave(q)
            canvas = loc.place_hard(sprites.repeat(d, 1, 1, 1), torch.arange(d * q), locs, d * q, h, w)
            lp = bernoulli_log_prob(x.expand(d * q, *x.shape[1:]), canvas, model.config.likelihood_eps).view(d, q)
            logw = torch.log(torch.tensor(weights / math.sqrt(2 * math.pi), dtype=torch.float64))
            inner = torch.logsumexp(lp + logw, 1)  # log E_z p(x | l, z)
            return log_pn + float(torch.logsumexp(inner, 0)) - math.log(d)
        pairs = torch.tensor([[a, b] for a in range(d) for b in range(d) if a != b])
        sprite = model.decoder(torch.zeros(1, 1))
        k = len(pairs)
        canvas = loc.place_hard(sprite.repeat(2 * k, 1, 1, 1), torch.arange(k).repeat_interleave(2),
                                pairs.reshape(-1), k, h, w)
        lp = bernoulli_log_prob(x.expand(k, *x.shape[1:]), canvas, model.config.likelihood_eps)
        return log_pn + float(torch.logsumexp(lp, 0)) - math.log(k)


@pytest.mark.parametrize("n", [1, 2])
def test_log_weights_are_an_unbiased_estimate_and_a_valid_bound(n):
    """Toy models whose log p(x, n) is known exactly: n = 1 with a Gaussian appearance integrated by quadrature,
    n = 2 with an appearance-free sprite (the z integral is 1) and every ordered pair of locations enumerated.
    q(l | x) is a fixed bump around each object, so the location terms of the weights matter."""
    model = tiny_lavae(size=6, sprite_size=3).eval()
    if n == 2:
        class ZFree(torch.nn.Module):
            def forward(self, z):
                return torch.tensor([[0.9, 0.8, 0.1], [0.9, 0.95, 0.2], [0.05, 0.7, 0.6]]).expand(len(z), 1, 3, 3)

        model.decoder = ZFree()
    yy, xx = torch.meshgrid(torch.arange(6.0), torch.arange(6.0), indexing="ij")
    h = 3.0 * torch.exp(-((yy - 1.5) ** 2 + (xx - 1.5) ** 2) / 2)
    if n == 2:  # bumps on the best pair of locations, (2, 2) and (5, 4)
        h = 4.0 * (torch.exp(-((yy - 2) ** 2 + (xx - 2) ** 2)) + torch.exp(-((yy - 5) ** 2 + (xx - 4) ** 2)))
    model.loc_net.forward = lambda x: h.expand(len(x), 6, 6)
    raw = math.log(math.expm1(0.8 - 1e-4))  # q(z | x, l) = N(0.3, 0.8^2) everywhere
    model.app_net.forward = lambda x: torch.cat([torch.full((len(x), 1, 6, 6), 0.3),
                                                 torch.full((len(x), 1, 6, 6), raw)], 1)
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(1, 1, 6, 6)
    x[0, 0, 1:3, 1:3] = 1.0
    if n == 2:
        x[0, 0, 4, 3:5] = 1.0
    exact = _exact_log_joint(model, x, n)
    lw = model.log_weights(x, 10000, generator=g, n=n)[0]
    # E_q[w] = p(x, n): the importance weights are exact
    estimate = float(torch.logsumexp(lw, 0)) - math.log(len(lw))
    ess = float(torch.exp(2 * torch.logsumexp(lw, 0) - torch.logsumexp(2 * lw, 0)))
    assert ess > 200
    assert abs(estimate - exact) < 4 / math.sqrt(ess)
    # IWAE with S = 100 and the ELBO bound log p(x, n) (hence log p(x)) from below
    iw100 = torch.logsumexp(lw.view(100, 100), 1) - math.log(100)
    assert float(iw100.mean()) <= exact + 3 * float(iw100.std()) / 10
    assert float(lw.mean()) < float(iw100.mean())
    assert float(lw.mean()) < exact - 0.05


def test_log_weights_use_f_count_by_default():
    model = tiny_lavae(size=8).eval()
    h = torch.full((2, 8, 8), -30.0)
    h[0, 2, 2] = 40.0
    model.loc_net.forward = lambda x: h[: len(x)]
    x = torch.zeros(2, 1, 8, 8)
    g1, g2 = (torch.Generator().manual_seed(5) for _ in range(2))
    assert torch.equal(model.log_weights(x, 3, generator=g1), model.log_weights(x, 3, generator=g2, n=[1, 0]))
    with pytest.raises(ValueError):
        model.log_weights(x, 3, n=4)


def test_conv_beta_vae_shapes_gradients_and_bound():
    torch.manual_seed(0)
    model = ConvBetaVae(BetaVaeConfig(channels=4, latent_channels=2, latent_size=4), DataInfo(1, 16, 16))
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(3, 1, 16, 16, generator=g) > 0.5).float()
    loss, metrics = model.training_loss(x, 0, g)
    assert metrics["beta"] == 0.0
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    lw = model.log_weights(x, 300, generator=g)
    assert lw.shape == (3, 300) and lw.dtype == torch.float64
    iw = torch.logsumexp(lw, 1) - math.log(300)
    assert (lw.mean(1) <= iw).all()
    assert model.reconstruct(x).shape == (3, 1, 16, 16)
    assert set(ConvBetaVae.capabilities()) == {"log_weights", "elbo", "reconstruct"}
    with pytest.raises(Exception, match="latent_size"):
        ConvBetaVae(BetaVaeConfig(latent_size=5), DataInfo(1, 16, 16))


@pytest.mark.slow
def test_lavae_smoke_config_lowers_the_validation_negative_elbo(tmp_path):
    """The `smoke` config itself (minutes on 2 CPU cores): LAVAE learns to place objects on multi-MNIST-1k."""
    from scenebench.datasets.build import generate
    from scenebench.baselines.common.training import train

    data = generate("multi_mnist", "lavae-1k", tmp_path / "data", overrides={"splits.train": 1500}, splits=["train"],
                    workers=1)
    result = train(Lavae, data, Lavae.resolve_config("smoke", {"device": "cpu"}), tmp_path / "run",
                   log=lambda m: None, progress=False)
    val = [r["val/neg_elbo"] for r in result.history if r["kind"] == "val"]
    assert val[-1] < 0.6 * val[0]  # measured: ~520 -> ~285 nats
