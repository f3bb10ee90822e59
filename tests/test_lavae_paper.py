"""LAVAE against its paper (Dittadi & Winther 2019, Appendix A-B): warm-up target alignment, parameter budget,
gamma, provenance labels, eval mode of the harness methods, layer order."""

import inspect
import math

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from scenebench.baselines.common.data import DataInfo  # noqa: E402
from scenebench.baselines.lavae import config as lavae_config  # noqa: E402
from scenebench.baselines.lavae.beta_vae import ConvBetaVae  # noqa: E402
from scenebench.baselines.lavae.config import BetaVaeConfig, LavaeConfig  # noqa: E402
from scenebench.baselines.lavae.model import Lavae  # noqa: E402
from scenebench.baselines.lavae.networks import AuxVae, DownBlock, ResBlock, geometry  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")

SMALL = dict(channels=2, blocks=1, head_channels=2, decoder_channels=2, decoder_blocks=2, latent_dim=2,
             sprite_size=5, max_objects=3, aux_channels=2, aux_grid=2, aux_latent=2, sample_chunk=500)


def _box_detector(aux: AuxVae) -> AuxVae:
    """Make the auxiliary encoder a positive, symmetric blob detector: every conv a box filter, BatchNorm the identity
    (eval mode, fresh running stats), sigma = 1, so the KL of a cell is 0.5 |mu|^2 and grows with the object mass
    its receptive field sees around its centre."""
    with torch.no_grad():
        for m in aux.encoder.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.fill_(1.0 / (m.in_channels * m.weight[0, 0].numel()))
                m.bias.zero_()
        last = aux.encoder[-1]
        half = last.out_channels // 2
        last.weight[half:] = 0.0
        last.bias[half:] = math.log(math.expm1(1.0 - 1e-4))  # softplus(.) + 1e-4 = 1
    return aux.eval()


# ----------------------------------------------------------------------------- 1. warm-up target alignment
@pytest.mark.parametrize("centre", [(46, 18), (14, 42), (22, 34), (18, 46), (30, 30), (40, 25)])
def test_warmup_target_peaks_on_a_planted_object(centre):
    """A single 7x7 object in a blank 64x64 image: the KL map of a detector peaks at the latent cell whose receptive
    field is centred on it, and the regression target must put that peak on the object (within half the 4-px cell
    spacing of its centre). The old bilinear resize (align_corners=False) put cell j at 5.82 j + 2.4 instead of
    4 j + 10, 4-9 px off for the cells near these objects. (Objects sit under cells 1-9: a box detector's outermost
    cells are damped by the zero padding, a property of the detector, not of the mapping.)"""
    model = Lavae(LavaeConfig(**{**SMALL, "aux_grid": 11, "aux_latent": 8}), DataInfo(1, 64, 64))
    _box_detector(model.aux)
    r, c = centre
    x = torch.zeros(1, 1, 64, 64)
    x[0, 0, r - 3: r + 4, c - 3: c + 4] = 1.0
    _, target = model.location_target(x, torch.Generator().manual_seed(0))
    assert target.shape == (1, 64, 64)
    peak = int(target[0].flatten().argmax())
    pr, pc = divmod(peak, 64)
    assert r - 3 <= pr <= r + 3 and c - 3 <= pc <= c + 3, (centre, (pr, pc))  # on the object
    assert abs(pr - r) <= 2 and abs(pc - c) <= 2, (centre, (pr, pc))


@pytest.mark.parametrize("size, grid", [(64, 11), (40, 5)])
def test_cell_centres_are_derived_from_the_encoder_and_match_its_receptive_fields(size, grid):
    """The cell -> pixel map comes from the encoder's layers: for each cell, the centre of mass of the gradient of its
    output with respect to the input (the receptive field, measured) equals the derived centre (64x64: 4 j + 10;
    40x40 with a 5x5 grid: 4 j + 12). Cell 0 is left out: zero padding on the top / left of the stride-2 convs
    truncates its field (its measured centre is ~10.6 for 64x64)."""
    aux = _box_detector(AuxVae(1, size, size, 3, latent=2, grid=grid))
    (jy, oy), (jx, ox) = geometry(aux.encoder)
    assert (jy, jx) == (4.0, 4.0)
    assert oy == ox == 2.0 * ((size + 3) // 4 - grid)  # valid kernel (H/4 - grid + 1): offset 4 (k - 1) / 2
    assert aux.centres[0] == tuple(oy + 4.0 * j for j in range(grid))
    x = torch.zeros(1, 1, size, size, requires_grad=True)
    mu = aux.encoder(x)[0, 0]
    coords = torch.arange(size, dtype=torch.float64)
    for j in range(1, grid):
        (g,) = torch.autograd.grad(mu[j, j], x, retain_graph=True)
        w = g[0, 0].abs().double()
        measured = (float((w.sum(1) * coords).sum() / w.sum()), float((w.sum(0) * coords).sum() / w.sum()))
        assert measured == pytest.approx((aux.centres[0][j], aux.centres[1][j]), abs=1e-3), j
    # the pixel map interpolates linearly between centres and holds the outer cells' values beyond them
    kl = torch.zeros(1, grid, grid)
    kl[0, 2, 3] = 1.0
    img = aux.kl_to_pixels(kl)[0]
    r, c = int(aux.centres[0][2]), int(aux.centres[1][3])
    assert float(img[r, c]) == pytest.approx(1.0) and float(img[r + 2, c]) == pytest.approx(0.5)
    assert float(img[r + 4, c]) == pytest.approx(0.0) and float(img.max()) == pytest.approx(1.0)
    assert torch.allclose(aux.kl_to_pixels(torch.ones(1, grid, grid)), torch.ones(1, size, size))


def test_warmup_regresses_the_unscaled_head_output_on_the_aligned_target():
    """The warm-up loss is sum over pixels of (h_loc / gamma - target)^2 with the receptive-field-aligned target of
    ``location_target``, so f_count's threshold count_threshold * gamma is count_threshold nats of auxiliary KL."""
    model = Lavae(LavaeConfig(**SMALL), DataInfo(1, 16, 16))
    x = (torch.rand(4, 1, 16, 16, generator=torch.Generator().manual_seed(1)) > 0.7).float()
    seen = {}
    model.loc_net.register_forward_hook(lambda mod, i, out: seen.setdefault("h_loc", out.detach()))
    aligned = model.location_target

    def spy(images, generator):
        loss, seen["target"] = aligned(images, generator)
        return loss, seen["target"]

    model.location_target = spy
    _, metrics = model.training_loss(x, 0, torch.Generator().manual_seed(2))
    assert seen["target"].shape == (4, 16, 16) and float(seen["target"].abs().sum()) > 0
    expect = ((seen["h_loc"] / model.gamma - seen["target"]) ** 2).flatten(1).sum(1).mean()
    assert metrics["loc_regression"] == pytest.approx(float(expect), rel=1e-5)
    assert metrics["loc_regression"] != pytest.approx(float(((seen["h_loc"] - seen["target"]) ** 2).flatten(1)
                                                            .sum(1).mean()), rel=1e-3)


# ----------------------------------------------------------------------------- 2. parameter budget
@pytest.mark.parametrize("channels, sprite", [(1, 17), (3, 21)], ids=["multi-mnist", "multi-dsprites"])
def test_paper_config_meets_the_papers_parameter_budget(channels, sprite):
    """About 500k parameters, split roughly evenly over the location net, the appearance net and the sprite decoder."""
    model = Lavae(Lavae.resolve_config("paper"), DataInfo(channels, 64, 64))
    assert model.sprite_size == sprite
    count = {name: sum(p.numel() for p in getattr(model, name).parameters())
             for name in ("loc_net", "app_net", "decoder")}
    total = sum(count.values())
    assert 400_000 <= total <= 600_000, count
    assert max(count.values()) <= 1.5 * min(count.values()), count


# ----------------------------------------------------------------------------- 3./4. paper values and their labels
def test_gamma_is_the_papers_four():
    paper = Lavae(Lavae.resolve_config("paper"), DataInfo(1, 64, 64))
    assert paper.gamma == 4.0 and paper.threshold == 16.0  # threshold 4 gamma
    auto = Lavae(Lavae.resolve_config("paper", {"gamma": "0"}), DataInfo(1, 64, 64))
    assert auto.gamma == pytest.approx(0.5 * math.log(64 * 64))
    with pytest.raises(Exception, match="gamma"):
        Lavae.resolve_config("paper", {"gamma": "-1"})


def _field_comment(cls, name):
    lines = [line for line in inspect.getsource(cls).splitlines() if line.strip().startswith(f"{name}:")]
    assert len(lines) == 1, name
    return lines[0].split("#", 1)[1]


def test_values_the_paper_states_are_labelled_as_paper_values():
    """The temperature horizon (0.5 -> 0.02 in 100k steps), gamma = 4 and the beta-VAE's width 64 are stated in the
    paper; the widths chosen for the parameter budget are not."""
    for cls, name in ((LavaeConfig, "tau_steps"), (LavaeConfig, "gamma"), (BetaVaeConfig, "channels")):
        comment = _field_comment(cls, name)
        assert "paper" in comment and "assumed" not in comment, (cls.__name__, name, comment)
    assert Lavae.resolve_config("paper").tau_steps == 100_000
    assert ConvBetaVae.resolve_config("paper").channels == 64
    for name in ("channels", "head_channels", "decoder_channels", "aux_channels", "likelihood_eps"):
        assert "assumed" in _field_comment(LavaeConfig, name), name
    doc = lavae_config.__doc__
    for topic in ("h_loc / gamma", "clip", "gamma = 4", "Auxiliary VAE", "500k"):
        assert topic in doc, topic


# ----------------------------------------------------------------------------- 5. harness methods in eval mode
def _harness_outputs(model, x):
    out = {}
    for name in type(model).capabilities():
        if name == "log_weights":
            out[name] = model.log_weights(x, 5, generator=torch.Generator().manual_seed(3))
        elif name == "elbo":
            out[name] = model.elbo(x, num_samples=2, generator=torch.Generator().manual_seed(4))
        else:
            out[name] = getattr(model, name)(x)
    return out


def _lavae():
    torch.manual_seed(0)
    return Lavae(LavaeConfig(**SMALL, count_threshold=-5.0), DataInfo(1, 12, 12))


def _beta_vae():
    torch.manual_seed(0)
    return ConvBetaVae(BetaVaeConfig(channels=4, latent_channels=2, latent_size=4), DataInfo(1, 16, 16))


@pytest.mark.parametrize("make", [_lavae, _beta_vae], ids=["lavae", "conv-beta-vae"])
def test_harness_methods_do_not_depend_on_the_callers_mode(make):
    """Called on a model in train mode, every harness method gives the eval-mode outputs, leaves the BatchNorm running
    statistics alone and hands the model back in train mode (each submodule in the mode it had)."""
    model = make()
    size = model.info.height
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(6, 1, size, size, generator=g) > 0.6).float()
    with torch.no_grad():  # move the running statistics away from their initial values
        model.train()
        for _ in range(3):
            model.training_loss(torch.rand(6, 1, size, size, generator=g), 0, g)
    reference = _harness_outputs(model.eval(), x)
    model.train()
    frozen = next(m for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    frozen.eval()  # a caller's own mix of modes is kept too
    modes = {name: m.training for name, m in model.named_modules()}
    state = {k: v.clone() for k, v in model.state_dict().items()}
    outputs = _harness_outputs(model, x)
    assert outputs.keys() == reference.keys() and len(outputs) >= 3
    for name in outputs:
        assert torch.equal(outputs[name], reference[name]), name
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert {name: m.training for name, m in model.named_modules()} == modes
    assert model.training and not frozen.training


# ----------------------------------------------------------------------------- 6. layer order
def _leaf_trace(module, *inputs):
    """Types of the leaf modules run by ``module(*inputs)``, in execution order."""
    seen = []
    hooks = [m.register_forward_hook(lambda mod, i, o: seen.append(type(mod).__name__))
             for m in module.modules() if not list(m.children())]
    try:
        module.eval()(*inputs)
    finally:
        for h in hooks:
            h.remove()
    return seen


def test_inference_blocks_apply_leaky_relu_then_batchnorm():
    model = Lavae(LavaeConfig(**SMALL), DataInfo(1, 16, 16))
    x = torch.rand(2, 1, 16, 16)
    block = ["Conv2d", "LeakyReLU", "BatchNorm2d"]
    for net in (model.app_net, model.loc_net):
        res = [m for m in net.modules() if isinstance(m, ResBlock)]
        assert len(res) == SMALL["blocks"]
        assert _leaf_trace(res[0], torch.rand(2, SMALL["channels"], 16, 16)) == block * 2
    assert _leaf_trace(model.app_net, x) == block * (1 + 2 * SMALL["blocks"]) + ["Conv2d"]
    # the location net: body (stem + residual blocks), then one 3-layer conv head and nothing else
    trace = _leaf_trace(model.loc_net, x)
    body = block * (1 + 2 * SMALL["blocks"])
    assert trace == body + ["Conv2d", "LeakyReLU", "Conv2d", "LeakyReLU", "Conv2d"]
    convs = [m for m in model.loc_net.head.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 3 and convs[-1].out_channels == 1


def test_sprite_decoder_has_batchnorm_after_every_layer_but_the_last_residual_block():
    cfg = LavaeConfig(**{**SMALL, "decoder_blocks": 3})
    dec = Lavae(cfg, DataInfo(1, 16, 16)).decoder
    trace = _leaf_trace(dec, torch.randn(4, SMALL["latent_dim"]))
    last = _leaf_trace(dec.res[-1], torch.randn(4, SMALL["decoder_channels"], 5, 5))
    assert last == ["Conv2d", "LeakyReLU"] * 2  # the last residual block: no BatchNorm
    assert trace == (["Linear", "LeakyReLU", "BatchNorm2d"] + ["Conv2d", "LeakyReLU", "BatchNorm2d"] * (2 + 2 * 2)
                     + last + ["Conv2d"])  # then a sigmoid
    sprites = dec(torch.randn(4, SMALL["latent_dim"]))
    assert sprites.shape == (4, 1, 5, 5) and bool(((sprites > 0) & (sprites < 1)).all())


def test_auxiliary_vae_encoder_is_three_downsampling_residual_blocks_to_an_11x11x8_map():
    model = Lavae(Lavae.resolve_config("paper", {"aux_channels": "4"}), DataInfo(1, 64, 64))
    blocks = [m for m in model.aux.encoder if isinstance(m, DownBlock)]
    assert len(blocks) == 3
    sizes = []
    h = model.aux.encoder[0](torch.rand(2, 1, 64, 64))
    for m in model.aux.encoder[1:]:
        h = m(h)
        sizes.append(tuple(h.shape[1:]))
    assert [s[1:] for s in sizes[:3]] == [(32, 32), (16, 16), (11, 11)]  # each block lowers the resolution
    assert sizes[-1] == (16, 11, 11)  # means and scales of the 11x11x8 latent map
    loss, kl = model.aux(torch.rand(2, 1, 64, 64).round(), torch.Generator().manual_seed(0))
    assert loss.shape == (2,) and kl.shape == (2, 11, 11)


def test_a_checkpoint_of_the_earlier_network_layout_is_refused_clearly():
    from scenebench.errors import ConfigError

    model = Lavae(LavaeConfig(**SMALL), DataInfo(1, 16, 16))
    state = dict(model.state_dict())
    state["aux.enc.0.0.weight"] = torch.zeros(2, 1, 3, 3)  # a key of the earlier auxiliary VAE
    with pytest.raises(ConfigError, match="earlier scenebench"):
        model.load_state_dict(state)
    model.load_state_dict(model.state_dict())  # its own state loads
