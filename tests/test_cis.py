"""CIS and MONet in the CIS frame: configs, L_CIS, the inpainter's context, L_PC, gradient routing, training, CLI."""

import json

import pytest

torch = pytest.importorskip("torch")

from scenebench.baselines.cis.config import CisConfig, CisMonetConfig  # noqa: E402
from scenebench.baselines.cis.model import Cis, parameter_counts  # noqa: E402
from scenebench.baselines.cis.monet_frame import CisMonet  # noqa: E402
from scenebench.baselines.common import checkpoint as ckpt  # noqa: E402
from scenebench.baselines.common.data import DataInfo, TrainData  # noqa: E402
from scenebench.baselines.common.training import train  # noqa: E402
from scenebench.errors import ConfigError  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")

# tiny networks for 32x32 images; phases 2 + 4 + 2 (+ 2 PC) steps
TINY = dict(num_masks=3, segmenter="segnet", segnet_channels=4, inpainter_channels=2, vae_channels=4,
            vae_hidden=8, appearance_dim=2, mask_dim=3, background_dim=2, pretrain_steps=2, cis_steps=4,
            vae_steps=2, pc_steps=2, steps=8, batch_size=4, pretrain_batch=4, cis_batch=2, vae_batch=4,
            pc_batch=2, val_size=8, eval_every=4, log_every=2, checkpoint_every=3, eval_batch_size=8, device="cpu")
TINY_MONET = dict(num_masks=3, segmenter="segnet", segnet_channels=4, latent_dim=4, encoder_channels=(4, 4, 8, 8),
                  encoder_hidden=8, decoder_channels=4, decoder_layers=2, steps=4, batch_size=4, val_size=8,
                  eval_every=3, log_every=2, checkpoint_every=2, eval_batch_size=8, device="cpu")
PHASE = {"pretrain": 0.0, "cis": 1.0, "vae": 2.0, "pc": 3.0}


def tiny_cis(size=32, **kw):
    cfg = {k: v for k, v in TINY.items() if k != "device"}
    cfg.update(kw)
    torch.manual_seed(0)
    return Cis(CisConfig(**cfg), DataInfo(3, size, size))


@pytest.fixture(scope="module")
def tiny_texture(tmp_path_factory):
    """32x32 Multi-Texture (cis preset, objects allowed closer to fit): 40 train / 6 test images."""
    from scenebench.datasets.build import generate

    return generate("multi_texture", "cis", tmp_path_factory.mktemp("cis-data"), workers=1,
                    overrides={"height": "32", "width": "32", "min_offset_l1": "4", "splits.train": "40",
                               "splits.test": "6"})


# ----------------------------------------------------------------------------- configs and registry
def test_configs_hold_the_stated_values_and_names_are_registered():
    paper = Cis.resolve_config("paper")
    assert (paper.segmenter, paper.resnet_blocks, paper.aspp_dilations, paper.num_masks) == \
        ("resnet", (3, 4, 6, 3), (2, 4, 6, 8), 6)
    assert (paper.pretrain_steps, paper.cis_steps, paper.psi_iters, paper.omega_iters) == (50_000, 100_000, 1, 3)
    assert (paper.pretrain_batch, paper.cis_batch, paper.vae_batch, paper.pc_batch) == (16, 8, 16, 4)
    assert (paper.lr_inpainter, paper.lr_segmenter, paper.lr_vae, paper.adam_eps) == (1e-4, 3e-5, 1e-4, 1e-8)
    assert (paper.appearance_dim, paper.background_dim, paper.mask_dim) == (5, 5, 10)
    assert (paper.beta_appearance, paper.mask_weight, paper.capacity_rate, paper.grad_clip) == (6.0, 500.0, 2e-5, 0)
    assert (paper.cis_normaliser, paper.inpainter_loss, paper.pc_loss, paper.edge_mode) == \
        ("paper", "cis", "paper", "full")
    code = Cis.resolve_config("paper-code")
    assert (code.cis_normaliser, code.inpainter_loss, code.pc_loss, code.pc_variants) == ("code", "l1", "code", 6)
    pc = Cis.resolve_config("paper-pc")
    assert (pc.num_masks, pc.segmenter, pc.perceptual_consistency, pc.pc_weight, pc.cis_eps) == \
        (3, "segnet", True, 1e-3, 50.0)
    assert Cis.resolve_config("paper-multi-dsprites").num_masks == 5
    # the phase is a function of the step; steps past the schedule stay in the last phase
    assert [paper.phase(s) for s in (0, 49_999, 50_000, 150_000, 260_000)] == \
        [("pretrain", 0), ("pretrain", 49_999), ("cis", 0), ("vae", 0), ("vae", 110_000)]
    assert pc.phase(250_000) == ("pc", 0)
    with pytest.raises(ConfigError, match="cis_batch"):
        Cis.resolve_config("smoke", {"cis_batch": "99"})
    with pytest.raises(ConfigError, match="cis_normaliser"):
        Cis.resolve_config("smoke", {"cis_normaliser": "other"})
    assert CisMonet.resolve_config("paper").num_masks == 6 and isinstance(CisMonet.resolve_config(), CisMonetConfig)

    from scenebench.registry import get_baseline, list_baselines

    assert get_baseline("cis") is Cis and get_baseline("cis-monet") is CisMonet
    assert {"cis", "cis-monet"} <= {e.name for e in list_baselines()}
    assert set(Cis.capabilities()) == {"segment", "reconstruct", "latents", "masks"}
    assert set(CisMonet.capabilities()) == {"segment", "log_weights", "elbo", "reconstruct", "latents", "masks"}
    assert Cis.ddp_find_unused_parameters


def test_package_import_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, scenebench.baselines.cis, scenebench.baselines.cis.config; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


# ----------------------------------------------------------------------------- L_CIS
def test_cis_loss_on_a_hand_made_two_mask_example():
    model = tiny_cis(size=2, cis_eps=1.0)
    # a 1x2 "image" of 3 equal channels: pixel values 0.5 (left) and 1.0 (right)
    x = torch.tensor([0.5, 1.0]).view(1, 1, 1, 2).expand(1, 3, 1, 2)
    masks = torch.tensor([[[[1.0, 0.0]], [[0.0, 1.0]]]])  # k=1: left pixel, k=2: right pixel
    preds = torch.stack([torch.full((3, 1, 2), 0.25), torch.full((3, 1, 2), 0.75)])[None]
    # k=1: N = 3 |0.25 - 0.5| = 0.75, <Om, |x|> = 3 * 0.5 = 1.5 -> 0.75 / 2.5 = 0.3
    # k=2: N = 3 |0.75 - 1.0| = 0.75, <Om, |x|> = 3 * 1.0 = 3.0 -> 0.75 / 4.0 = 0.1875
    assert float(model.separation(x, masks, preds)) == pytest.approx(0.4875, abs=1e-6)
    # the code's normaliser: eps + D, D the unconditioned prediction's error (0 everywhere -> D = 3 x)
    code = tiny_cis(size=2, cis_eps=1.0, cis_normaliser="code")
    uncond = torch.zeros(1, 3, 1, 2)
    assert float(code.separation(x, masks, preds, uncond)) == pytest.approx(0.3 + 0.1875, abs=1e-6)
    uncond = torch.full((1, 3, 1, 2), 0.5)  # D = (0, 1.5): 0.75 / 1 + 0.75 / 2.5
    assert float(code.separation(x, masks, preds, uncond)) == pytest.approx(0.75 + 0.3, abs=1e-6)
    # soft masks weight the errors
    soft = torch.tensor([[[[0.5, 0.0]], [[0.5, 1.0]]]])
    assert float(model.separation(x, soft, preds)) == pytest.approx(
        0.375 / (0.75 + 1) + (0.375 + 0.75) / (0.75 + 3 + 1), abs=1e-6)


# ----------------------------------------------------------------------------- the inpainter sees the context
def test_inpainter_sees_only_the_context():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 32, 32, generator=g)
    box = torch.zeros(1, 1, 32, 32)
    box[..., 8:20, 10:24] = 1
    y = torch.where(box.bool(), torch.rand(x.shape, generator=g), x)  # other pixels inside the mask only
    masked = tiny_cis(edge_mode="masked")
    with torch.no_grad():
        assert torch.equal(masked.inpaint(x, box), masked.inpaint(y, box))  # input and output unchanged
        assert torch.equal(masked.edges(x, box), masked.edges(y, box))
        # the code's full-image edges: the image branch's input is the same, but the edge input shows what is
        # inside the mask, so the output changes
        full = tiny_cis()
        full.load_state_dict(masked.state_dict())
        assert not torch.equal(full.edges(x), full.edges(y))
        assert not torch.equal(full.inpaint(x, box), full.inpaint(y, box))
        assert torch.equal((x - 0.5) * (1 - box), (y - 0.5) * (1 - box))


# ----------------------------------------------------------------------------- L_PC
def test_perceptual_loss_is_zero_when_the_re_encoding_is_exact(monkeypatch):
    model = tiny_cis(perceptual_consistency=True)
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    masks = model.masks(x)
    z, _, _ = model.encode_means(x, masks)
    assert model.pc_distance(z, z) == 0
    real = model.perceptual_loss(x, masks, torch.Generator().manual_seed(0))
    assert float(real.detach()) > 0
    xhat = x.clone()  # the decoded image, told apart by identity
    rendered, offset = {}, torch.zeros(2, 5)

    def render(z_app, z_mask, z_bg, frozen=False):
        rendered["z"] = torch.cat([z_app, z_mask], 2)  # z with slot k replaced by z^_k
        return xhat

    encode = model.encode_means

    def encode_means(image, m, bg_index=None, frozen=False):  # re-encoding x^ gives its latents (+ offset)
        out = encode(image, m, bg_index, frozen)
        return (rendered["z"] + offset, *out[1:]) if image is xhat else out

    monkeypatch.setattr(model, "render", render)
    monkeypatch.setattr(model, "encode_means", encode_means)
    assert float(model.perceptual_loss(x, masks, torch.Generator().manual_seed(0))) == pytest.approx(0, abs=1e-5)
    offset[0] = torch.tensor([3.0, 4.0, 0.0, 0.0, 0.0])  # one slot re-encoded off by d: L_PC = ||d|| = 5
    assert float(model.perceptual_loss(x, masks, torch.Generator().manual_seed(0))) == pytest.approx(5, abs=1e-4)


# ----------------------------------------------------------------------------- gradients per phase
def _trained(model, step, x):
    model.zero_grad(set_to_none=True)
    loss, metrics = model.training_loss(x, step, torch.Generator().manual_seed(0))
    loss.backward()
    parts = {}
    for name in ("segmenter", "inpainter", "vae"):
        grads = [p.grad for p in getattr(model, name).parameters()]
        parts[name] = "all" if all(g is not None for g in grads) else "none" if all(g is None for g in grads) \
            else "some"
    return parts, loss, metrics


@pytest.mark.parametrize("pc_loss", ["paper", "code"])
def test_each_step_trains_only_its_modules(pc_loss):
    model = tiny_cis(perceptual_consistency=True, pc_loss=pc_loss)
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    only = lambda name: {n: "all" if n == name else "none" for n in ("segmenter", "inpainter", "vae")}  # noqa
    expect = {0: "inpainter", 2: "inpainter", 3: "segmenter", 5: "segmenter", 6: "vae", 8: "inpainter",
              9: "segmenter"}
    for step, name in expect.items():
        parts, loss, metrics = _trained(model, step, x)
        assert parts == only(name), (step, parts)
        phase = model.config.phase(step)[0]
        assert metrics["phase"] == PHASE[phase]
        if step == 9:
            assert metrics["pc"] > 0
    # the adversarial sign flips: psi minimises L_CIS, Omega minimises -L_CIS (gamma = 1), same batch/params
    _, psi, _ = _trained(model, 2, x)
    _, omega, _ = _trained(model, 3, x)
    psi, omega = float(psi.detach()), float(omega.detach())
    assert psi == pytest.approx(-omega, rel=1e-6) and psi > 0
    # psi's gradient on L_CIS is the negative of what Omega's loss would give psi (checked with a live psi)
    model.zero_grad(set_to_none=True)
    masks = model.masks(x[:2])
    model.separation(x[:2], masks, model.inpaint(x[:2], masks)).mean().backward()
    g_min = [p.grad.clone() for p in model.inpainter.parameters()]
    _trained(model, 2, x)
    assert all(torch.allclose(a, p.grad, atol=1e-7) for a, p in zip(g_min, model.inpainter.parameters()))
    # the code's psi loss (L1 inside the masks) and normaliser give the same routing
    code = tiny_cis(cis_normaliser="code", inpainter_loss="l1")
    assert _trained(code, 2, x)[0] == only("inpainter") and _trained(code, 3, x)[0] == only("segmenter")


def test_harness_outputs():
    model = tiny_cis()
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    model.train()
    masks = model.masks(x)
    assert masks.shape == (3, 3, 32, 32) and masks.dtype == torch.float32
    assert torch.allclose(masks.sum(1), torch.ones(3, 32, 32), atol=1e-5)
    seg = model.segment(x)
    assert seg.dtype == torch.int64 and torch.equal(seg, masks.argmax(1))
    rec = model.reconstruct(x)
    assert rec.shape == (3, 3, 32, 32) and 0 <= float(rec.min()) <= float(rec.max()) <= 1
    lat = model.latents(x)
    assert lat.shape == (3, 2, 5) and lat.dtype == torch.float32
    assert model.training and model.segmenter.training  # the harness methods give the mode back
    counts = parameter_counts(model)
    assert counts["total"] == counts["segmenter"] + counts["inpainter"] + counts["vae"]


# ----------------------------------------------------------------------------- training and resume
from test_baselines_common import _params, _same  # noqa: E402


def _strip(p):
    return [{k: v for k, v in json.loads(line).items() if k != "elapsed"}
            for line in (p / "log.jsonl").read_text().splitlines()]


def check_phases_and_resume(tmp_path, data, config, stop_at):
    """Train straight and stopped at ``stop_at`` then resumed: the four phases in order, the same parameters
    and log; returns ``(straight run, model loaded from its checkpoint, 3 validation images)``."""
    quiet = dict(log=lambda m: None, progress=False)
    straight = train(Cis, data, config, tmp_path / "a", **quiet)
    phases = [r["phase"] for r in straight.history if r["kind"] == "train"]
    assert phases == [0, 0, 1, 1, 1, 1, 2, 2, 3, 3]
    first = train(Cis, data, config, tmp_path / "c", stop_at=stop_at, **quiet)
    assert first.step == stop_at and ckpt.read(tmp_path / "c")["step"] == stop_at
    resumed = train(Cis, data, config, tmp_path / "c", **quiet)
    assert resumed.resumed_from == stop_at and resumed.step == 10
    _same(_params(straight.model), _params(resumed.model))
    assert _strip(tmp_path / "a") == _strip(tmp_path / "c")
    loaded = ckpt.load_model(tmp_path / "a", device="cpu")
    x = loaded.prepare(data.val[:3])
    assert torch.equal(loaded.reconstruct(x), straight.model.reconstruct(x))
    return straight, loaded, x


def test_every_phase_runs_and_resume_is_bit_identical(tmp_path, tiny_texture):
    data = TrainData(tiny_texture, TINY["val_size"])
    config = Cis.resolve_config("smoke", {**TINY, "perceptual_consistency": True, "steps": 10, "log_every": 1})
    straight, loaded, x = check_phases_and_resume(tmp_path, data, config, stop_at=7)  # inside the VAE phase
    assert torch.equal(loaded.segment(x), straight.model.segment(x))


# ----------------------------------------------------------------------------- CLI round trips
@pytest.mark.parametrize("name", ["cis", "cis-monet"])
def test_train_predict_evaluate_round_trip_from_the_cli(tmp_path, tiny_texture, run_cli, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    tiny = TINY if name == "cis" else TINY_MONET
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps({"base": "smoke", **tiny}))
    res = run_cli("baseline", "train", name, "-d", tiny_texture, "--config", cfg, "--threads", "1", "--no-progress")
    assert res.exit_code == 0, res.output
    path = res.stdout.strip().splitlines()[-1]
    assert path.endswith("checkpoint.pt") and path.startswith(f"runs/{name}/multi_texture-cis-")
    run = tmp_path / path.rsplit("/", 1)[0]
    sub = tmp_path / "sub.h5"
    res = run_cli("baseline", "predict", name, "-k", run, "-d", tiny_texture, "-o", sub,
                  "--fields", "segmentation,reconstruction,latents,masks", "--no-progress")
    assert res.exit_code == 0, res.output
    res = run_cli("evaluate", sub, "--data", tiny_texture, "--json", "-", "--workers", "1")
    assert res.exit_code == 0, res.output
    metrics = json.loads(res.output)["metrics"]
    assert {"miou", "fg_ari", "mse", "cis_miou"} <= set(metrics) and metrics["miou"]["n"] == 6
    assert metrics["cis_miou"]["mean"] >= metrics["miou"]["mean"] - 0.05  # greedy many-to-one vs one-to-one
    import h5py

    with h5py.File(sub) as f:
        assert f["segmentation"].shape == (6, 32, 32) and int(f["segmentation"][:].max()) < 3
        assert f["latents"].shape == ((6, 2, 5) if name == "cis" else (6, 3, 4))
        assert f["masks"].shape == (6, 3, 32, 32) and f["masks"].dtype == "float16"


def test_only_the_segmenters_own_steps_move_its_batchnorm_statistics():
    """Inpainter steps run the segmenter on the batch's statistics without updating its running ones."""
    model = tiny_cis(segmenter="resnet", resnet_blocks=(1, 1), resnet_width=2, atrous_rates=(1, 2),
                     aspp_dilations=(1, 2), resnet_norm="preact", input_upsample=1).train()
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    before = {n: b.clone() for n, b in model.segmenter.named_buffers()}
    assert any("running_mean" in n for n in before)
    model.psi_loss(x)
    assert all(torch.equal(before[n], b) for n, b in model.segmenter.named_buffers())
    model.omega_loss(x, torch.Generator().manual_seed(1))
    assert not all(torch.equal(before[n], b) for n, b in model.segmenter.named_buffers())
