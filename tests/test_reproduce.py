"""Baselines from the command line (train -> predict -> evaluate) and `scenebench reproduce lavae-table1`."""

import json
import re

import pytest
from click.testing import CliRunner

from scenebench.errors import ConfigError

torch = pytest.importorskip("torch")

TINY = {
    "conv-beta-vae": dict(channels=4, blocks=0, latent_channels=2, batch_size=8, val_size=8, eval_every=4,
                          log_every=2, checkpoint_every=4, eval_batch_size=8, beta_steps=4, device="cpu",
                          sample_chunk=50),
    "lavae": dict(channels=2, blocks=1, head_channels=2, decoder_channels=4, decoder_blocks=1, latent_dim=2,
                  aux_channels=2, max_objects=4, batch_size=4, val_size=8, eval_every=4, log_every=2,
                  checkpoint_every=4, eval_batch_size=8, warmup_steps=2, warmup_anneal_steps=2, tau_steps=4,
                  lr_location_decay_steps=4, device="cpu", sample_chunk=50, count_threshold=0.5),
}


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def tiny_dsprites(tmp_path_factory):
    """32x32 multi-dSprites (lavae) with 24 samples per split."""
    from scenebench.datasets.build import generate

    root = tmp_path_factory.mktemp("tiny")
    return generate("multi_dsprites", "lavae", root, num=24, workers=1,
                    overrides={"height": "32", "width": "32", "max_size": "9",
                               "splits.test-7.min_objects": "4", "splits.test-7.max_objects": "4"})


@pytest.fixture
def run_cli():
    """Invoke the ``scenebench`` group in-process (its commands include baseline and reproduce)."""
    from scenebench.cli import main

    assert {"baseline", "reproduce"} <= set(main.commands)
    root = main
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(root, [str(a) for a in args], catch_exceptions=False)

    return invoke


def _config_file(path, name, **extra):
    path.write_text(json.dumps({"base": "smoke", **TINY[name], **extra}))
    return path


def test_train_progress_leaves_stdout_to_the_checkpoint_path(tmp_path, tiny_dsprites, run_cli):
    cfg = _config_file(tmp_path / "tiny.json", "conv-beta-vae", steps=4, latent_size=8, log_every=1, eval_every=2)
    res = run_cli("baseline", "train", "conv-beta-vae", "--data", tiny_dsprites, "--config", cfg, "--out",
                  tmp_path / "run", "--progress")
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines() == [str(tmp_path / "run" / "checkpoint.pt")]
    assert "step 4/4" in res.stderr or "val/" in res.stderr


def test_baseline_list(run_cli):
    res = run_cli("baseline", "list")
    assert res.exit_code == 0
    names = [line.split()[0] for line in res.output.splitlines() if line and not line.startswith(" ")]
    assert {"lavae", "conv-beta-vae"} <= set(names)


@pytest.mark.parametrize("name", ["lavae", "conv-beta-vae"])
def test_train_predict_evaluate_round_trip_from_the_cli(tmp_path, tiny_dsprites, run_cli, name):
    cfg = _config_file(tmp_path / "tiny.json", name, steps=4,
                       **({"aux_grid": 4, "sprite_size": 9} if name == "lavae" else {"latent_size": 8}))
    res = run_cli("baseline", "train", name, "--data", tiny_dsprites, "--config", cfg, "--out", tmp_path / "run",
                  "--no-progress")
    assert res.exit_code == 0, res.output
    ckpt = res.output.strip().splitlines()[-1]
    assert ckpt.endswith("checkpoint.pt")
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if r["kind"] == "val"] == [0, 4]
    sub = tmp_path / "sub.h5"
    res = run_cli("baseline", "predict", name, "--checkpoint", ckpt, "--data", tiny_dsprites, "--split", "test",
                  "-o", sub, "--num-samples", "20", "--no-progress")
    assert res.exit_code == 0, res.output
    res = run_cli("evaluate", sub, "--data", tiny_dsprites, "--json", "-", "--workers", "1")
    assert res.exit_code == 0, res.output
    results = json.loads(res.output)
    metrics = results["metrics"]
    display = {"lavae": "LAVAE", "conv-beta-vae": "conv β-VAE (LAVAE baseline)"}[name]
    assert results["method"]["name"] == f"{display} [tiny]"  # named after the config file: not the paper's
    assert metrics["iw_nll"]["n"] == 24 and metrics["iw_nll"]["mean"] > 0
    assert metrics["inference_gap"]["mean"] > -1e-9  # IW estimate >= ELBO from the same weights
    if name == "lavae":
        assert {"count_accuracy", "miou", "fg_ari"} <= set(metrics)
    else:
        assert "count_accuracy" not in metrics
    # the same command gives the same file
    again = tmp_path / "again.h5"
    run_cli("baseline", "predict", name, "-k", tmp_path / "run", "-d", tiny_dsprites, "-s", "test", "-o", again,
            "-S", "20", "--no-progress")
    import h5py

    with h5py.File(sub) as a, h5py.File(again) as b:
        assert (a["log_weights"][:] == b["log_weights"][:]).all()


def test_cli_errors_are_one_line(tmp_path, tiny_dsprites, run_cli):
    res = run_cli("baseline", "train", "nope", "--data", tiny_dsprites)
    assert res.exit_code == 2 and res.output.strip().startswith("error: unknown baseline 'nope'")
    res = run_cli("baseline", "predict", "lavae", "-k", tmp_path / "none", "-d", tiny_dsprites, "-o", tmp_path / "s.h5")
    assert res.exit_code == 2 and "checkpoint" in res.output and len(res.output.strip().splitlines()) == 1
    res = run_cli("baseline", "train", "lavae", "--data", tiny_dsprites, "--set", "steps=0")
    assert res.exit_code == 2 and "steps must be >= 1" in res.output
    res = run_cli("reproduce", "no-such-table")
    assert res.exit_code == 2 and "lavae-table1" in res.output
    res = run_cli("reproduce", "lavae-table1", "--only", "mnist-3k")
    assert res.exit_code == 2 and "mnist-1k, mnist-10k, dsprites" in res.output
    for empty in ("", " , "):  # given but naming no column: an error, never "every column"
        res = run_cli("reproduce", "lavae-table1", "--only", empty, "--data-root", tmp_path / "d", "--runs", tmp_path / "r")
        assert res.exit_code == 2 and "names no column" in res.output and not (tmp_path / "d").exists()


def test_reproduce_lavae_table1_end_to_end(tmp_path):
    from scenebench.evaluation.leaderboard import render
    from scenebench.evaluation.reproduce import reproduce

    kw = dict(seeds=[0, 1], only=["dsprites"], data_root=tmp_path / "data", runs=tmp_path / "runs",
              leaderboard=tmp_path / "board", workers=1, progress=False, log=lambda m: None,
              sizes={"train": 24, "test": 6, "test-7": 4}, num_samples=10,
              train_overrides={k: {**v, "steps": 2} for k, v in TINY.items()})
    report = reproduce("lavae-table1", "smoke", **kw)
    text = report.markdown()
    lines = text.splitlines()
    assert lines[3] == "|  | MNIST-1k NLL | acc | MNIST-10k NLL | acc | dSprites NLL | acc |"
    lavae_paper = next(line for line in lines if line.startswith("| LAVAE (paper)"))
    assert lavae_paper == ("| LAVAE (paper) | 42.2 ± 1.1 | ≥ 99.9% | 60.4 ± 2.8 | ≥ 99.7% | 43.9 ± 1.0 "
                           "| ≥ 99.9% |")
    assert "| baseline (paper) | 51.6 ± 0.6 | — | 64.6 ± 0.8 | — | 45.8 ± 0.7 | — |" in lines
    ours = next(line for line in lines if line.startswith("| LAVAE (ours, smoke)")).split(" | ")
    assert ours[1:5] == ["skipped"] * 4 and "±" in ours[5]  # two seeds: mean ± std
    base = next(line for line in lines if line.startswith("| baseline (ours, smoke)")).split(" | ")
    assert "±" in base[5] and base[6] == "— |"
    assert "7-object generalisation" in text and "MNIST-1k skipped: not selected (--only)" in text
    vals = report.values[("LAVAE", "dsprites", "test-7", "count_accuracy")]
    assert len(vals) == 2 and all(0 <= v <= 1 for v in vals)
    assert len(report.entries) == 6  # 2 seeds x (LAVAE test, LAVAE test-7, baseline test)
    methods = {json.loads(p.read_text())["method"]["name"] for p in report.entries}
    assert methods == {"LAVAE [smoke]", "conv β-VAE (LAVAE baseline) [smoke]"}
    board = render(tmp_path / "board", "md")
    assert "43.9" in board and "LAVAE" in board
    # a second run reuses the checkpoints and the scored results
    runs = sorted(p for p in (tmp_path / "runs").rglob("submission-*.h5"))
    stamps = [p.stat().st_mtime_ns for p in runs]
    again = reproduce("lavae-table1", "smoke", **kw)
    assert again.markdown() == text
    assert [p.stat().st_mtime_ns for p in runs] == stamps


def test_reproduce_rejects_bad_arguments():
    from scenebench.evaluation.reproduce import reproduce

    with pytest.raises(ConfigError, match="tables: lavae-table1"):
        reproduce("table-9")
    with pytest.raises(ConfigError, match="expected one of smoke, paper"):
        reproduce("lavae-table1", "huge")
    with pytest.raises(ConfigError, match="distinct non-negative"):
        reproduce("lavae-table1", seeds=[0, 0])


def test_reproduce_lds_table1_end_to_end(tmp_path):
    """Six tiny runs (three models, with and without the prior) on a tiny CLE-MV: the table and the analyses."""
    from helpers.tiny_configs import LDS_TINY
    from scenebench.evaluation.reproduce import reproduce

    kw = dict(seeds=[0], only=["cle-mv"], data_root=tmp_path / "data", runs=tmp_path / "runs",
              leaderboard=tmp_path / "board", workers=1, progress=False, log=lambda m: None,
              sizes={"train": 3, "test": 2}, num_samples=4, train_overrides=LDS_TINY)
    report = reproduce("lds-table1", "smoke", **kw)
    text = report.markdown()
    lines = text.splitlines()
    assert lines[3] == "| model | LDS | CLE-MV MSE | CLE-MV mIoU | Dolphin MSE | Dolphin mIoU |"
    for label in ("MONet", "IODINE", "MulMON"):
        for variant in ("0", "+"):
            ours = next(line for line in lines if line.startswith(f"| {label} (ours, smoke) | {variant} |"))
            cells = ours.strip("| ").split(" | ")
            assert cells[4:] == ["skipped", "skipped"]  # Dolphin not selected
            assert 0 <= float(cells[2]) < 1 and 0 <= float(cells[3]) <= 1, ours  # MSE, mIoU measured
    # the group is in the run directory and the submission's method name
    assert (tmp_path / "runs" / "lds-table1" / "smoke" / "cle-mv" / "mulmon-lds" / "seed0" / "checkpoint.pt").is_file()
    methods = {json.loads(p.read_text())["method"]["name"] for p in report.entries}
    assert methods == {"MONet [smoke]", "MONet+LDS [smoke-lds]", "IODINE [smoke]", "IODINE+LDS [smoke-lds]",
                       "MulMON [smoke]", "MulMON+LDS [smoke-lds]"}
    # analyses from the per-scene scores of the paired runs: every model has its row
    assert "ΔSim⁺" in text and "mean ΔG⁺" in text
    for label in ("MONet", "IODINE", "MulMON"):
        assert any(line.startswith(f"| {label} | CLE-MV |") for line in lines), label
    items = report.items[("IODINE+LDS", "cle-mv", 0)]
    assert len(items["inference_gap"]) == 2 and len(items["miou"]) == 20  # per scene; per view


CIS_TINY = {
    "cis": dict(num_masks=3, segmenter="segnet", segnet_channels=4, inpainter_channels=2, vae_channels=4,
                vae_hidden=8, appearance_dim=2, mask_dim=3, background_dim=2, pretrain_steps=1, cis_steps=2,
                vae_steps=1, pc_steps=0, steps=4, batch_size=4, pretrain_batch=4, cis_batch=2, vae_batch=4,
                pc_batch=2, val_size=4, eval_every=4, log_every=2, checkpoint_every=4, eval_batch_size=8,
                device="cpu"),
    "cis-monet": dict(num_masks=3, segmenter="segnet", segnet_channels=4, latent_dim=4, encoder_channels=(4, 4, 8, 8),
                      encoder_hidden=8, decoder_channels=4, decoder_layers=2, steps=2, batch_size=4, val_size=4,
                      eval_every=2, log_every=1, checkpoint_every=2, eval_batch_size=8, device="cpu"),
}


def test_reproduce_cis_table1_end_to_end(tmp_path):
    from scenebench.evaluation.reproduce import reproduce

    kw = dict(seeds=[0], only=["multi-texture", "objects-room"], data_root=tmp_path / "data", runs=tmp_path / "runs",
              leaderboard=None, workers=1, progress=False, log=lambda m: None, sizes={"train": 12, "test": 4},
              train_overrides=CIS_TINY)
    report = reproduce("cis-table1", "smoke", **kw)
    lines = report.markdown().splitlines()
    assert "| CIS (paper) | 0.92 ± 6.6δ | — | 0.85 ± 5.6δ | — | 0.88 ± 2.6δ | — | 0.81 ± 5.5δ | — |" in lines
    for label in ("MONet", "CIS"):
        cells = next(line for line in lines if line.startswith(f"| {label} (ours, smoke)")).strip("| ").split(" | ")
        assert cells[3:5] == ["skipped", "skipped"]  # Objects Room: not a scenebench dataset
        greedy, hungarian = float(cells[5]), float(cells[6])  # measured from the soft masks / the label maps
        assert 0 < greedy <= 1 and 0 < hungarian <= 1
    assert report.skipped["objects-room"].startswith("n/a")


def test_vitae_table5_times_the_models_beside_the_supplement(tmp_path):
    from scenebench.evaluation.timing import ROWS, vitae_table5

    report = vitae_table5("smoke", data_root=tmp_path, device="cpu", repeats=1, rows=(ROWS[0], ROWS[3]))
    lines = report.markdown().splitlines()
    vae = next(line for line in lines if line.startswith("| VAE & β-VAE |")).split(" | ")
    assert vae[1:3] == ["0.0016 s", "0.0140 s"] and vae[5:7] == ["1.0x", "1.0x |"]
    vitae = next(line for line in lines if line.startswith("| C-VITAE (affine) |")).split(" | ")
    assert vitae[5] == "5.8x" and float(vitae[3].split()[0]) > 0 and vitae[6].endswith("x |")
    assert "compare the ratios" in report.markdown()
    with pytest.raises(ConfigError, match="expected smoke or paper"):
        vitae_table5("huge")


def test_reproduce_skips_a_column_whose_paper_config_needs_absent_imagenet_weights(tmp_path, run_cli):
    """F-Animals under --config paper starts Omega from ImageNet: without the weights that column is skipped
    with the reason, and --set must name a baseline of the table."""
    from scenebench.evaluation.reproduce import reproduce

    over = {"cis-monet": dict(steps=1, batch_size=2, val_size=2, device="cpu", segnet_channels=2),
            "cis": dict(steps=1, batch_size=2, val_size=2, device="cpu")}
    report = reproduce("cis-table1", "paper", only=["flying-animals"], data_root=tmp_path / "data",
                       runs=tmp_path / "runs", leaderboard=None, workers=1, progress=False, log=lambda m: None,
                       sizes={"train": 4, "test": 2}, train_overrides=over)
    reason = report.skipped["flying-animals"]
    assert reason.startswith("MONet: ") and "imagenet_checkpoint" in reason
    assert "F-Animals skipped: MONet: " in report.markdown()
    res = run_cli("reproduce", "cis-table1", "--set", "lavae.steps=3")
    assert res.exit_code != 0 and "trains no baseline 'lavae'" in res.output and "cis-monet" in res.output
    res = run_cli("reproduce", "cis-table1", "--set", "steps=3")
    assert res.exit_code != 0 and "BASELINE.KEY=VALUE" in res.output
    res = run_cli("reproduce", "vitae-table5", "--set", "vae.steps=3")
    assert res.exit_code != 0 and "takes no --set" in res.output


def test_reproduce_cis_table2_trains_pc_off_and_on_once_and_scores_sequences_and_the_grid(tmp_path):
    from scenebench.evaluation.reproduce import TABLES, reproduce

    spec = TABLES["cis-table2"]
    assert [dict(m.config_names)["smoke"] for m in spec.methods] == ["smoke-pc-off", "smoke-pc"]
    over = {"cis": dict(CIS_TINY["cis"], pc_steps=2, steps=6)}
    logs = []
    report = reproduce("cis-table2", "smoke", data_root=tmp_path / "data", runs=tmp_path / "runs", leaderboard=None,
                       workers=1, progress=False, log=logs.append, train_overrides=over,
                       sizes={"train": 3, "test": 4})
    lines = report.markdown().splitlines()
    assert lines[3] == ("| model | PC | Sequences seqs w/ switch | Sequences ID switches/seq | Grid switch rate "
                        "| Grid ID switches |")
    assert "| CIS (paper) | off | 21/255 | — | — | — |" in lines and "| CIS (paper) | on | 0/255 | — | — | — |" in lines
    for variant in ("off", "on"):
        cells = next(x for x in lines if x.startswith(f"| CIS (ours, smoke) | {variant} |")).strip("| ").split(" | ")
        k, n = map(int, cells[2].split("/"))  # sequences with a switch, as the paper prints them
        assert 0 <= k <= n == 4 and float(cells[3]) >= 0 and float(cells[5]) >= 0, cells
    # one run per variant, trained on the sequences and reused for the grid (its results named for the grid)
    runs = tmp_path / "runs" / "cis-table2" / "smoke"
    assert sorted(p.name for p in runs.iterdir()) == ["sequences"]
    off, on = runs / "sequences" / "cis-off" / "seed0", runs / "sequences" / "cis-on" / "seed0"
    assert (off / "results-test.json").is_file() and (off / "results-grid-test.json").is_file()
    assert json.loads((on / "config.json").read_text())["config"]["perceptual_consistency"] is True
    assert json.loads((off / "config.json").read_text())["config"]["perceptual_consistency"] is False
    grid = json.loads((off / "results-grid-test.json").read_text())["results"]
    assert grid["metrics"]["id_switches"]["n"] == 1  # the grid images are one track
    assert sum("trained to step" in m for m in logs) == 4  # 2 trainings + 2 reuses
    # the opportunities to switch are printed beside the switches
    assert sorted(report.switch_counts) == [("CIS", v, c, 0) for v in ("off", "on") for c in ("Grid", "Sequences")]
    assert re.search(r"^- CIS \(PC on\), Sequences, seed 0: \d+ / \d+$", report.markdown(), re.M)


def test_every_table_names_configs_its_baselines_have():
    """Each (column, method) of every table, under smoke and paper, names a registered config of its baseline."""
    from scenebench.evaluation.reproduce import CONFIGS, TABLES, config_name_for
    from scenebench.registry import get_baseline

    seen = set()
    for spec in TABLES.values():
        for column in spec.columns:
            for method in spec.methods:
                for config in CONFIGS:
                    name = config_name_for(column, method, config)
                    assert name in get_baseline(method.baseline).CONFIGS, (spec.name, column.key, method.label, name)
                    seen.add((method.baseline, name))
    assert ("cis", "smoke-flying-animals") in seen and ("cis-monet", "paper-flying-animals") in seen
    assert ("c-vitae", "smoke-smpl") in seen and ("cis", "paper-pc-off") in seen
