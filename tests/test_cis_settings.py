"""CIS: the flying-animals settings (signed edges, normalised half-resolution VAE, ImageNet initialisation of
the ResNet) and the authors' code's PC perturbation."""

import dataclasses

import pytest

torch = pytest.importorskip("torch")

from scenebench.baselines.cis.config import CisConfig, CisMonetConfig  # noqa: E402
from scenebench.baselines.cis.inpainter import binary_edges, signed_edges  # noqa: E402
from scenebench.baselines.cis.model import Cis, kl_diag, normalise_images  # noqa: E402
from scenebench.baselines.cis.monet_frame import CisMonet  # noqa: E402
from scenebench.baselines.cis.segmentation import DeepLabResNet, imagenet_mapping, load_imagenet  # noqa: E402
from scenebench.baselines.common import checkpoint as ckpt  # noqa: E402
from scenebench.baselines.common.config import config_to_dict  # noqa: E402
from scenebench.baselines.common.data import DataInfo, TrainData  # noqa: E402
from scenebench.baselines.common.training import train  # noqa: E402
from scenebench.errors import ConfigError  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")

TINY = dict(num_masks=3, segmenter="segnet", segnet_channels=4, inpainter_channels=2, vae_channels=4,
            vae_hidden=8, appearance_dim=2, mask_dim=3, background_dim=2, pretrain_steps=2, cis_steps=4,
            vae_steps=2, pc_steps=2, steps=8, batch_size=4, pretrain_batch=4, cis_batch=2, vae_batch=4,
            pc_batch=2, val_size=8, eval_every=4, log_every=2, checkpoint_every=3, eval_batch_size=8)
FLYING = dict(edge_style="signed", edge_scale=15.0, edge_threshold=0.04, vae_normalise=True, vae_scale=0.5)
CODE_PC = dict(perceptual_consistency=True, pc_loss="code", pc_perturbation="code", pc_variants=3)
TINY_RESNET = dict(segmenter="resnet", resnet_blocks=(1, 2), resnet_width=2, atrous_rates=(1, 2),
                   aspp_dilations=(1, 2), input_upsample=1)


def tiny_cis(h=32, w=48, **kw):
    torch.manual_seed(0)
    return Cis(CisConfig(**{**TINY, **kw}), DataInfo(3, h, w))


# ----------------------------------------------------------------------------- configs
def test_flying_animals_and_code_pc_configs_hold_the_stated_values():
    fa = Cis.resolve_config("paper-flying-animals")
    assert (fa.num_masks, fa.segmenter, fa.aspp_dilations, fa.input_upsample, fa.imagenet_init) == \
        (6, "resnet", (6, 12, 18, 24), 1, True)
    assert (fa.pretrain_batch, fa.cis_batch, fa.vae_batch, fa.batch_size) == (4, 4, 4, 4)
    assert (fa.lr_inpainter, fa.lr_segmenter, fa.cis_eps, fa.psi_iters, fa.omega_iters) == (1e-4, 1e-4, 100.0, 1, 2)
    assert (fa.appearance_dim, fa.beta_appearance, fa.background_dim, fa.beta_background) == (20, 4.0, 30, 4.0)
    assert (fa.mask_dim, fa.mask_weight, fa.capacity_rate) == (20, 500.0, 5e-5)
    assert (fa.edge_style, fa.edge_scale, fa.edge_threshold, fa.vae_normalise, fa.vae_scale) == \
        ("signed", 15.0, 0.04, True, 0.5)
    assert fa.imagenet_checkpoint == ""
    smoke = Cis.resolve_config("smoke-flying-animals")
    assert dataclasses.replace(smoke, **{k: getattr(Cis.resolve_config("smoke"), k) for k in FLYING}) == \
        Cis.resolve_config("smoke")  # the smoke config plus the flying-animals options only
    assert (smoke.edge_style, smoke.vae_normalise, smoke.vae_scale, smoke.imagenet_init) == ("signed", True, 0.5, False)
    monet = CisMonet.resolve_config("paper-flying-animals")
    assert (monet.num_masks, monet.aspp_dilations, monet.input_upsample, monet.imagenet_init) == \
        (6, (6, 12, 18, 24), 1, True)
    # the defaults are the 64x64 behaviour
    d = CisConfig()
    assert (d.edge_style, d.vae_normalise, d.vae_scale, d.pc_perturbation, d.imagenet_init, d.imagenet_checkpoint) \
        == ("abs-minmax", False, 1.0, "gaussian", False, "")
    assert Cis.resolve_config("paper-pc").pc_perturbation == "gaussian"  # paper-faithful
    pcc = Cis.resolve_config("paper-pc-code")
    assert (pcc.pc_loss, pcc.pc_variants, pcc.pc_perturbation, pcc.num_masks) == ("code", 6, "code", 3)
    assert Cis.resolve_config("paper-code").pc_perturbation == "code"
    with pytest.raises(ConfigError, match="num_masks=3"):
        Cis.resolve_config("paper-code", {"perceptual_consistency": "true"})
    with pytest.raises(ConfigError, match="segmenter=resnet"):
        Cis.resolve_config("smoke", {"imagenet_checkpoint": "x.pth"})
    with pytest.raises(ConfigError, match="vae_scale"):
        Cis.resolve_config("smoke", {"vae_scale": "0"})
    with pytest.raises(ConfigError, match="edge_style"):
        Cis.resolve_config("smoke", {"edge_style": "other"})


# ----------------------------------------------------------------------------- signed edges
def test_signed_edges_of_a_vertical_step():
    def step(left, right, w=8):
        x = torch.zeros(1, 3, 6, w)
        x[..., : w // 2] = torch.tensor(left).view(3, 1, 1)
        x[..., w // 2:] = torch.tensor(right).view(3, 1, 1)
        return x

    # columns 3 and 4 see 1 + 2 + 1 = 4 times the step per colour: 3 colours x 4 x 0.1 / 15 = 0.08 > 0.04
    e = signed_edges(step([0.0] * 3, [0.1] * 3), 0.04, 15.0)
    assert e.shape == (1, 2, 6, 8) and e.dtype == torch.float32
    assert not e[:, 0].any()  # no horizontal edge
    assert torch.equal(e[0, 1].nonzero()[:, 1].unique(), torch.tensor([3, 4])) and int(e[0, 1].sum()) == 12
    # a step of 0.04: 12 x 0.04 / 15 = 0.032, not above 0.04; the step that passes is 0.05 (12 x 0.05 / 15)
    assert not signed_edges(step([0.0] * 3, [0.04] * 3), 0.04, 15.0).any()
    assert not signed_edges(step([0.0] * 3, [0.0499] * 3), 0.04, 15.0).any()
    assert signed_edges(step([0.0] * 3, [0.0501] * 3), 0.04, 15.0).any()
    # falling steps count too (|.|), and opposite colour changes cancel in the signed sum only
    assert torch.equal(signed_edges(step([0.1] * 3, [0.0] * 3), 0.04, 15.0), e)
    cancel = step([1.0, 0.0, 0.3], [0.0, 1.0, 0.3])
    assert not signed_edges(cancel, 0.04, 15.0).any()
    assert torch.equal(binary_edges(cancel, 0.04)[0, 1].nonzero()[:, 1].unique(), torch.tensor([3, 4]))
    # the model uses the configured style on the raw image, also for psi's unconditioned call
    x = step([0.0] * 3, [0.1] * 3, w=48).expand(2, 3, 6, 48).repeat(1, 1, 6, 1)  # 36 x 48
    model = tiny_cis(36, 48, **FLYING)
    assert torch.equal(model.edges(x), signed_edges(x, 0.04, 15.0))
    faint = x * 0.3  # a 0.03 step: below the signed threshold, found by the min-max-normalised default
    assert not model.edges(faint).any()
    seen = []
    model.inpainter.register_forward_pre_hook(lambda mod, args: seen.append(args[2]))
    with torch.no_grad():
        model.unconditioned(x)
    assert torch.equal(seen[0], signed_edges(x, 0.04, 15.0))
    default = tiny_cis(36, 48)
    assert torch.equal(default.edges(faint), binary_edges(faint, 0.5)) and default.edges(faint).any()


# ----------------------------------------------------------------------------- normalised half-resolution VAE
def test_vae_input_is_min_max_normalised_per_image_and_channel_at_half_resolution():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 32, 48, generator=g) * torch.tensor([0.2, 0.5, 1.0]).view(1, 3, 1, 1) + 0.1
    x[1, 2] = 0.7  # a flat channel
    n, lo, rng = normalise_images(x)
    assert torch.allclose(n[0].amin((1, 2)), torch.zeros(3)) and torch.allclose(n[0].amax((1, 2)), torch.ones(3))
    assert torch.allclose(n[1, :2].amin((1, 2)), torch.zeros(2)) and torch.allclose(n[1, :2].amax((1, 2)),
                                                                                    torch.ones(2))
    assert torch.equal(n[1, 2], torch.zeros(32, 48))
    model = tiny_cis(**FLYING)
    assert model.vae_size == (16, 24)
    masks = torch.softmax(torch.randn(2, 3, 32, 48, generator=g), 1)
    fg, bg, _ = model.object_masks(masks)
    xv, fgv, bgv = model.vae_view(x, fg, bg)
    assert xv.shape == (2, 3, 16, 24) and fgv.shape == (2, 2, 16, 24) and bgv.shape == (2, 1, 16, 24)
    assert torch.equal(xv, n[..., ::2, ::2]) and torch.equal(fgv, fg[..., ::2, ::2])  # nearest neighbour
    assert torch.allclose(model.from_vae(n, x), x, atol=1e-6)  # outputs go back to the image's range
    # the default VAE sees the image itself
    plain = tiny_cis()
    assert all(a is b for a, b in zip(plain.vae_view(x, fg, bg), (x, fg, bg)))


def test_half_resolution_vae_gives_full_resolution_outputs_and_trains():
    model = tiny_cis(**FLYING)
    x = torch.rand(3, 3, 32, 48, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        app, mask, bg = model.vae("decode", torch.zeros(1, 2, 2), torch.zeros(1, 2, 3), torch.zeros(1, 2))
    assert app.shape == (1, 2, 3, 16, 24) and mask.shape == (1, 2, 16, 24)  # the VAE runs at 16 x 24
    rec = model.reconstruct(x)
    assert rec.shape == (3, 3, 32, 48) and 0 <= float(rec.min()) <= float(rec.max()) <= 1
    assert model.masks(x).shape == (3, 3, 32, 48) and model.segment(x).shape == (3, 32, 48)
    assert model.latents(x).shape == (3, 2, 5)
    assert model.validation_loss(x, torch.Generator()).shape == (3,)
    loss, terms = model.training_loss(x, 6, torch.Generator().manual_seed(0))  # a VAE step
    assert terms["phase"] == 2.0 and torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None for p in model.vae.parameters())


# ----------------------------------------------------------------------------- the code's PC perturbation
def test_code_perturbation_replaces_two_shape_dims_of_one_object():
    model = tiny_cis(**FLYING, **CODE_PC, mask_dim=5)
    x = torch.rand(4, 3, 32, 48, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        masks = model.masks(x)
        mu_a, mu_m, mu_b, dims, _ = model.code_latents(x, masks)
        fg, bg, _ = model.object_masks(masks)
        _, (m, lv), _ = model.vae("encode", *model.vae_view(x, fg, bg))
        kl = kl_diag(m, lv).mean((0, 1))
        assert dims.tolist() == sorted(kl.argsort(descending=True)[:2].tolist())
        for k in (0, 1):
            z_m, labels, image = model.code_perturb(mu_a, mu_m, mu_b, dims, k, torch.Generator().manual_seed(k))
            changed = z_m != mu_m
            expect = torch.zeros_like(changed)
            expect[:, k, dims] = True
            assert torch.equal(changed, expect)
            assert float(z_m[:, k, dims].abs().max()) <= 1
            assert labels.shape == (4, 3, 16, 24) and image.shape == (4, 3, 16, 24)
            assert torch.allclose(labels.sum(1), torch.ones(4, 16, 24), atol=1e-6) and float(labels.min()) >= 0


def test_the_moved_object_goes_behind_the_other(monkeypatch):
    model = tiny_cis(**CODE_PC)
    f = model.vae
    real = f.decode
    logits = torch.full((2, 2, 32, 48), -60.0)
    logits[:, 0, :, :20] = 60.0  # object 0: left part
    logits[:, 1, :, 10:] = 60.0  # object 1: right part; overlap in columns 10..19

    def decode(z_app, z_mask, z_bg):
        app, _, bgl = real(z_app, z_mask, z_bg)
        return app, logits, bgl

    monkeypatch.setattr(f, "decode", decode)
    mu_a, mu_m, mu_b = torch.zeros(2, 2, 2), torch.zeros(2, 2, 3), torch.zeros(2, 2)
    for k in (0, 1):
        with torch.no_grad():
            _, labels, _ = model.code_perturb(mu_a, mu_m, mu_b, torch.tensor([0, 2]), k, torch.Generator())
        other = 1 - k
        where = torch.sigmoid(logits[:, other]) == 1  # the other object's mask is 1
        assert where[:, :, 10:20].all()
        assert torch.equal(labels[:, other], torch.sigmoid(logits[:, other]))  # the other stays as decoded
        assert torch.equal(labels[:, k][where], torch.zeros(int(where.sum())))  # moved object hidden there
        assert torch.allclose(labels[:, k][~where], torch.sigmoid(logits[:, k])[~where])
        assert torch.allclose(labels[:, 2], 1 - labels[:, 0] - labels[:, 1])


def test_code_pc_step_trains_only_omega_and_draws_from_the_step_generator():
    model = tiny_cis(**FLYING, **CODE_PC)
    x = torch.rand(4, 3, 32, 48, generator=torch.Generator().manual_seed(3))
    step = 8  # the PC phase (2 + 4 + 2)
    assert model.config.phase(step)[0] == "pc" and not model.is_psi_step(1)
    losses = []
    for _ in range(2):
        model.zero_grad(set_to_none=True)
        loss, metrics = model.training_loss(x, step + 1, torch.Generator().manual_seed(7))
        loss.backward()
        losses.append(float(loss.detach()))
        assert metrics["pc"] > 0
        assert all(p.grad is not None for p in model.segmenter.parameters())
        assert all(p.grad is None for p in (*model.inpainter.parameters(), *model.vae.parameters()))
    assert losses[0] == losses[1]  # all the randomness comes from the step's generator
    other = float(model.training_loss(x, step + 1, torch.Generator().manual_seed(8))[0].detach())
    assert other != losses[0]
    # the paper's re-encoding loss on the code's perturbation runs too
    paper = tiny_cis(**FLYING, **{**CODE_PC, "pc_loss": "paper"})
    assert float(paper.perceptual_loss(x, paper.masks(x), torch.Generator()).detach()) > 0
    with pytest.raises(ValueError, match="num_masks=3"):
        CisConfig(**{**TINY, **CODE_PC, "num_masks": 4}).validate()


# ----------------------------------------------------------------------------- resume
@pytest.fixture(scope="module")
def tiny_texture_wide(tmp_path_factory):
    """32x48 Multi-Texture (cis preset): 30 train / 4 test images."""
    from scenebench.datasets.build import generate

    return generate("multi_texture", "cis", tmp_path_factory.mktemp("cis-wide"), workers=1,
                    overrides={"height": "32", "width": "48", "min_offset_l1": "4", "splits.train": "30",
                               "splits.test": "4"})


def test_flying_animals_options_with_code_pc_resume_bit_identically(tmp_path, tiny_texture_wide):
    from test_cis import check_phases_and_resume

    data = TrainData(tiny_texture_wide, TINY["val_size"])
    config = Cis.resolve_config("smoke-flying-animals", {**TINY, **CODE_PC, "device": "cpu", "steps": 10,
                                                         "log_every": 1})
    _, loaded, x = check_phases_and_resume(tmp_path, data, config, stop_at=9)  # inside the PC phase
    assert loaded.reconstruct(x).shape == (3, 3, 32, 48)


# ----------------------------------------------------------------------------- ImageNet initialisation
def torchvision_state(blocks=(3, 4, 6, 3), width=64, dtype=torch.float32, seed=0):
    """A fake state_dict in torchvision's ResNet key layout and shapes (post-activation bottlenecks)."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape):
        return torch.randn(shape, generator=g).to(dtype)

    state = {"conv1.weight": r(64, 3, 7, 7)}

    def bn(name, c):
        state.update({f"{name}.weight": r(c), f"{name}.bias": r(c), f"{name}.running_mean": r(c),
                      f"{name}.running_var": r(c).abs() + 0.1, f"{name}.num_batches_tracked": torch.tensor(9)})

    bn("bn1", 64)
    inplanes = 64
    for i, n in enumerate(blocks):
        planes = width * 2 ** i
        for u in range(n):
            p = f"layer{i + 1}.{u}"
            state[f"{p}.conv1.weight"] = r(planes, inplanes, 1, 1)
            bn(f"{p}.bn1", planes)
            state[f"{p}.conv2.weight"] = r(planes, planes, 3, 3)
            bn(f"{p}.bn2", planes)
            state[f"{p}.conv3.weight"] = r(4 * planes, planes, 1, 1)
            bn(f"{p}.bn3", 4 * planes)
            if u == 0:
                state[f"{p}.downsample.0.weight"] = r(4 * planes, inplanes, 1, 1)
                bn(f"{p}.downsample.1", 4 * planes)
            inplanes = 4 * planes
    state["fc.weight"], state["fc.bias"] = r(1000, inplanes), r(1000)
    return state


def test_imagenet_loader_fills_a_resnet50_from_a_torchvision_layout_state_dict(tmp_path):
    state = torchvision_state(dtype=torch.float16)  # real ResNet-50 shapes; half precision keeps the file small
    path = tmp_path / "resnet50.pth"
    torch.save(state, path)
    torch.manual_seed(0)
    net = DeepLabResNet(3, 6, dilations=(6, 12, 18, 24), upsample=1)
    head = [c.weight.clone() for c in net.head]
    pre = net.units[0].preact.shift.clone()
    names = load_imagenet(net, path)
    assert len(names) == 1 + 16 * 3 + 4
    own = dict(net.named_parameters())
    assert torch.equal(net.root.weight, state["conv1.weight"].float())
    assert torch.equal(own["units.0.conv1.weight"], state["layer1.0.conv1.weight"].float())
    assert torch.equal(own["units.3.shortcut.weight"], state["layer2.0.downsample.0.weight"].float())
    assert torch.equal(own["units.12.conv2.weight"], state["layer3.5.conv2.weight"].float())  # 3 + 4 + 5
    assert torch.equal(own["units.13.shortcut.weight"], state["layer4.0.downsample.0.weight"].float())
    assert torch.equal(own["units.15.conv3.weight"], state["layer4.2.conv3.weight"].float())
    assert all(not own[n.replace(".weight", ".bias")].detach().any() for n in names)  # torchvision: no biases
    assert all(torch.equal(a, c.weight) for a, c in zip(head, net.head))  # head and v2 norms not from ImageNet
    assert torch.equal(pre, net.units[0].preact.shift)
    net(torch.rand(1, 3, 33, 45))  # still runs


def test_imagenet_loader_with_preact_blocks_and_the_models(tmp_path):
    state = torchvision_state(blocks=(1, 2), width=2)
    path = tmp_path / "small.pth"
    torch.save(state, path)
    model = tiny_cis(**{**TINY_RESNET, "resnet_norm": "preact", "imagenet_checkpoint": str(path)})
    seg = model.segmenter
    assert torch.equal(seg.units[2].conv2.weight, state["layer2.1.conv2.weight"])
    for t in ("weight", "bias", "running_mean", "running_var"):
        assert torch.equal(getattr(seg.units[1].bn1, t), state[f"layer2.0.bn1.{t}"])
        assert torch.equal(getattr(seg.units[2].bn2, t), state[f"layer2.1.bn2.{t}"])
    assert len(imagenet_mapping(seg)) == 1 + 3 * 3 + 2 + 3 * 2 * 4
    # the code's blocks take the conv weights only
    code = tiny_cis(**{**TINY_RESNET, "imagenet_checkpoint": str(path)})
    assert torch.equal(code.segmenter.units[1].conv1.weight, state["layer2.0.conv1.weight"])
    assert not code.segmenter.units[1].conv1.bias.detach().any()
    # MONet in the CIS frame loads it too
    monet = CisMonet(CisMonetConfig(num_masks=3, latent_dim=4, encoder_channels=(4, 4, 8, 8), encoder_hidden=8,
                                    decoder_channels=4, decoder_layers=2, imagenet_checkpoint=str(path),
                                    **TINY_RESNET), DataInfo(3, 32, 32))
    assert torch.equal(monet.segmenter.root.weight, state["conv1.weight"])
    # a checkpoint's model does not read the ImageNet file again
    path.unlink()
    rebuilt = Cis.build(config_to_dict(code.config), code.info.to_dict())
    rebuilt.load_state_dict(code.state_dict())
    assert CisMonet.build(config_to_dict(monet.config), monet.info.to_dict()) is not None
    with pytest.raises(ConfigError, match="no such file"):
        tiny_cis(**{**TINY_RESNET, "imagenet_checkpoint": str(path)})


def _one_line_error(match, **kw):
    with pytest.raises(ConfigError, match=match) as err:
        tiny_cis(**{**TINY_RESNET, **kw})
    assert "\n" not in str(err.value)
    return str(err.value)


def test_imagenet_loader_reports_bad_files_in_one_line(tmp_path):
    state = torchvision_state(blocks=(1, 2), width=2)
    missing = tmp_path / "missing.pth"
    assert str(missing) in _one_line_error("no such file", imagenet_checkpoint=str(missing))
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a torch file")
    assert "bad.pth" in _one_line_error("not a readable PyTorch file", imagenet_checkpoint=str(bad))
    listed = tmp_path / "list.pth"
    torch.save([1, 2], listed)
    _one_line_error("not a state_dict", imagenet_checkpoint=str(listed))
    cut = tmp_path / "cut.pth"
    torch.save({k: v for k, v in state.items() if k != "layer2.0.downsample.0.weight"}, cut)
    _one_line_error("has no tensor 'layer2.0.downsample.0.weight'", imagenet_checkpoint=str(cut))
    wide = tmp_path / "wide.pth"
    torch.save(torchvision_state(blocks=(1, 2), width=4), wide)
    msg = _one_line_error(r"layer1.0.conv1.weight has shape \(4, 64, 1, 1\), expected \(2, 64, 1, 1\)",
                          imagenet_checkpoint=str(wide))
    assert "wide.pth" in msg
    # nothing is copied when the file does not fit
    torch.manual_seed(0)
    net = DeepLabResNet(3, 3, blocks=(1, 2), width=2, rates=(1, 2), dilations=(1, 2), upsample=1)
    before = net.root.weight.clone()
    with pytest.raises(ConfigError):
        load_imagenet(net, wide)
    assert torch.equal(before, net.root.weight)
    # the flying-animals config needs the checkpoint
    with pytest.raises(ConfigError, match="--set imagenet_checkpoint=PATH") as err:
        Cis(Cis.resolve_config("paper-flying-animals"), DataInfo(3, 192, 256))
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="--set imagenet_checkpoint=PATH"):
        CisMonet(CisMonet.resolve_config("paper-flying-animals"), DataInfo(3, 192, 256))
