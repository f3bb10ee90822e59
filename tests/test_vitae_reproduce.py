"""The VITAE supplement's reproductions: contact sheets, the stability study (vitae-fig1), the
log-likelihood table (vitae-loglik) and vitae-table5 from the CLI."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from scenebench.baselines.common.data import DataInfo  # noqa: E402
from scenebench.baselines.common.sheets import GAP, LABEL_WIDTH, contact_sheets  # noqa: E402
from scenebench.baselines.vitae.config import VaeConfig, VitaeConfig  # noqa: E402
from scenebench.baselines.vitae.model import CVitae  # noqa: E402
from scenebench.baselines.vitae.vae import Vae  # noqa: E402
from scenebench.evaluation import stability  # noqa: E402
from scenebench.evaluation.stability import Cell  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")
TINY = dict(encoder_widths=(16, 8), decoder_widths=(8, 16))


# ----------------------------------------------------------------------------- contact sheets
@pytest.mark.parametrize("cls,base", [(Vae, VaeConfig), (CVitae, VitaeConfig)], ids=["vae", "c-vitae"])
def test_contact_sheets_have_a_row_per_latent_and_a_column_per_image(tmp_path, cls, base):
    from PIL import Image

    torch.manual_seed(0)
    model = cls(base(**TINY), DataInfo(1, 28, 28)).eval()
    images = torch.randint(0, 256, (5, 1, 28, 28), dtype=torch.uint8)
    rec, trav = contact_sheets(model, images, tmp_path / "run", num=4)
    tile = 28 * 2 + GAP  # 28x28 tiles are enlarged 2x
    rows = 3 if cls is CVitae else 2  # input, reconstruction (, unwarped)
    assert Image.open(rec).size == (LABEL_WIDTH + 4 * tile, rows * tile)
    latents = 4  # d = 4 (VAE) and 2 + 2 (VITAE); traversals around x0 and the prior mean, 7 values each
    assert Image.open(trav).size == (LABEL_WIDTH + 7 * tile, 2 * latents * tile)
    first = np.asarray(Image.open(rec).convert("L"))[:56, LABEL_WIDTH:LABEL_WIDTH + 56]
    assert np.array_equal(first[::2, ::2], images[0, 0].numpy())  # the input row is the input, unaltered
    assert model.latent_names() == (["zA1", "zA2", "zP1", "zP2"] if cls is CVitae else ["z1", "z2", "z3", "z4"])
    with pytest.raises(ValueError):
        contact_sheets(model, images[:0], tmp_path)


# ----------------------------------------------------------------------------- vitae-fig1 conventions
def test_stability_cells_name_diverged_and_collapsed_runs():
    ok = Cell("affine", 1e-3, [(0, -500.0), (10, -300.0), (20, -310.0)])
    assert (ok.final, ok.best, ok.diverged, ok.collapsed, ok.failed) == (-310.0, -300.0, False, False, False)
    worse = Cell("affine", 1e-1, [(0, -500.0), (10, -300.0), (20, -9000.0)])
    assert worse.collapsed and worse.failed and not worse.diverged
    nan = Cell("affine", 1e-1, [(0, -500.0), (10, math.nan)])
    assert nan.diverged and not nan.collapsed
    stopped = Cell("affine-diffeo", 1e-1, [(0, -500.0)], diverged_at=3)
    assert stopped.diverged and stopped.final == -500.0
    report = stability.StabilityReport("smoke", "mnist", [ok, worse, stopped])
    text = report.markdown()
    assert "| affine | -310.0 (-300.0) | collapsed: -9000.0 (-300.0) |" in text.replace(" — |", "")
    assert "diverged at step 3 (last -500.0)" in text


@pytest.fixture(scope="module")
def holdout_root(tmp_path_factory):
    pytest.importorskip("mlxtend")
    return tmp_path_factory.mktemp("vitae-data")


def test_vitae_fig1_trains_the_grid_marks_divergence_draws_the_figure_and_reuses_runs(tmp_path, holdout_root):
    from PIL import Image

    over = dict(steps=6, batch_size=32, val_size=32, eval_every=3, log_every=3, checkpoint_every=6,
                warmup_steps=3, eval_batch_size=32, **TINY)
    kw = dict(data_root=holdout_root, runs=tmp_path / "runs", transformers=("affine", "affine-diffeo"),
              learning_rates=(1e-3, 1e3), overrides=over, sizes={"train": 96}, device="cpu")
    report = stability.vitae_fig1("smoke", **kw)
    assert len(report.cells) == 4
    for c in report.cells:
        assert [s for s, _ in c.curve][:1] == [0]
        if c.lr == 1e-3:  # a sane rate: finished, a curve at steps 0, 3, 6
            assert not c.diverged and [s for s, _ in c.curve] == [0, 3, 6] and math.isfinite(c.final)
    blown = [c for c in report.cells if c.lr == 1e3]
    assert all(c.failed for c in blown)  # lr 1000 either makes the loss non-finite or ruins the bound
    assert Image.open(report.figure).size[0] > 600
    text = report.markdown()
    assert "on mnist/binarized (train 96, from the " in text  # the embedded digits or the IDX files
    assert "| lr 0.001 | lr 1000 |" in text and "vitae-fig1.png" in text and "Smoke run: 6 steps" in text
    # a second call reuses every run (diverged ones through their marker): the same table
    again = stability.vitae_fig1("smoke", **kw)
    assert again.markdown() == text
    for c in blown:
        marker = tmp_path / "runs/vitae-fig1/smoke" / c.transformer / "lr1000/seed0" / stability.DIVERGED
        assert marker.is_file() == (c.diverged_at is not None)


# ----------------------------------------------------------------------------- vitae-loglik
def test_vitae_loglik_scores_all_six_models_with_a_true_bound_and_writes_sheets(tmp_path, holdout_root):
    from scenebench.evaluation.reproduce import TABLES, reproduce

    names = [m.baseline for m in TABLES["vitae-loglik"].methods]
    assert names == ["vae", "beta-vae", "beta-tcvae", "dip-vae-ii", "u-vitae", "c-vitae"]
    over = {n: dict(steps=4, batch_size=16, val_size=16, eval_every=4, log_every=2, checkpoint_every=4,
                    warmup_steps=2, eval_batch_size=16, device="cpu") for n in names}
    report = reproduce("vitae-loglik", "smoke", data_root=holdout_root, runs=tmp_path / "runs", leaderboard=None,
                       only=["mnist"], train_overrides=over, sizes={"train": 48, "test": 8}, num_samples=4,
                       workers=1)
    text = report.markdown()
    for label in ("VAE", "β-VAE", "β-TCVAE", "DIP-VAE-II", "U-VITAE", "C-VITAE"):
        assert f"| {label} (paper) | n/a | n/a | n/a | n/a |" in text
        assert f"| {label} (ours, smoke) | " in text and "| skipped | skipped |" in text
        nll = report.values[(label, "mnist", "test", "iw_nll")][0]
        elbo = report.values[(label, "mnist", "test", "elbo")][0]
        assert math.isfinite(nll) and -nll >= elbo - 1e-6  # the IW bound is at least the ELBO
    assert "mnist/binarized-holdout" in text or "IDX" not in text  # offline: the held-out embedded digits
    run = tmp_path / "runs/vitae-loglik/smoke/mnist/c-vitae/seed0"
    assert (run / "reconstructions.png").is_file() and (run / "traversals.png").is_file()


# ----------------------------------------------------------------------------- the CLI
def test_reproduce_vitae_table5_and_fig1_from_the_cli(tmp_path, run_cli, monkeypatch):
    from scenebench.evaluation import timing

    real = timing.vitae_table5
    monkeypatch.setattr(timing, "vitae_table5",
                        lambda *a, **kw: real(*a, **kw, repeats=1, rows=(timing.ROWS[0], timing.ROWS[3])))
    monkeypatch.chdir(tmp_path)
    res = run_cli("reproduce", "vitae-table5", "--data-root", tmp_path / "data", "--device", "cpu")
    assert res.exit_code == 0, res.output
    assert "| VAE & β-VAE | 0.0016 s |" in res.stdout and "C-VITAE (affine)" in res.stdout
    res = run_cli("reproduce", "vitae-fig1", "--seeds", "0,1")
    assert res.exit_code != 0 and "one seed per cell" in res.output and "Traceback" not in res.output
