"""``scenebench reproduce vitae-fig1``: the VITAE supplement's stability study of the affine parameterisations.

C-VITAE on binarized MNIST, batch 512, for each transformer parameterisation
(``affine``: the 6 free entries; ``affine-decomposed``: rotation, shear,
scales, translation; ``affine-diffeo``: the matrix exponential) and each
learning rate in {1e-4, 1e-3, 1e-2, 1e-1}; every other value is the named
config's (``paper``: 234k steps; ``smoke``: a few hundred). The supplement's
claim to check: the diffeomorphic parameterisation reaches a tighter bound and
tolerates higher learning rates.

Conventions (written down, tested):

* **ELBO** is the validation ELBO the training engine logs (``-val/neg_elbo``:
  nats per image, one posterior sample per image with a fixed seed, beta = 1
  and no warm-up weight, on the ``val_size`` training images held out of the
  run); the **final** ELBO is the one at the last step, the **best** the
  largest logged.
* A run **diverged** when its training loss became non-finite (the engine
  stops it: "diverged at step N", with the last finite ELBO logged before)
  or its final ELBO is non-finite. A finished run **collapsed** when its
  final ELBO is below its ELBO at step 0 (training made the bound worse);
  its cell is marked so.
* Learning curves: validation ELBO against the step for the three
  parameterisations at lr 1e-4 (panel a) and the final ELBO against the
  learning rate (panel b; diverged and collapsed runs drawn as crosses on
  the floor of the finished runs' range, so they do not squash its scale),
  written as ``vitae-fig1.png`` (matplotlib) beside the runs.

Runs go to ``RUNS/vitae-fig1/CONFIG/TRANSFORMER/lrLR/seedSEED``; finished and
diverged runs are reused (a diverged run leaves ``diverged.json``). This
module imports no torch until a run starts.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from ..errors import ConfigError, ScenebenchError

SOURCE = "Skafte Detlefsen & Hauberg, VITAE supplement (NeurIPS 2019), Fig. 1"
TRANSFORMERS = ("affine", "affine-decomposed", "affine-diffeo")
LEARNING_RATES = (1e-4, 1e-3, 1e-2, 1e-1)
CURVE_LR = 1e-4
BATCH = 512
FIGURE = "vitae-fig1.png"
DIVERGED = "diverged.json"
# smoke: the paper's batch and rates, a few hundred steps, validation every 20 (curves), KL warm-up over half
SMOKE = dict(steps=400, batch_size=BATCH, val_size=500, eval_every=20, log_every=20, checkpoint_every=400,
             warmup_steps=200, eval_batch_size=500)
SMOKE_SIZES = {"train": 4000}
LABELS = {"affine": "affine", "affine-decomposed": "decomposed", "affine-diffeo": "diffeomorphic"}


@dataclass
class Cell:
    transformer: str
    lr: float
    curve: list  # [(step, ELBO)] of the validation records
    diverged_at: int | None = None  # step of the non-finite loss; None: finished

    @property
    def final(self) -> float:
        return self.curve[-1][1] if self.curve else math.nan

    @property
    def best(self) -> float:
        vals = [v for _, v in self.curve if math.isfinite(v)]
        return max(vals) if vals else math.nan

    @property
    def diverged(self) -> bool:
        return self.diverged_at is not None or not math.isfinite(self.final)

    @property
    def collapsed(self) -> bool:
        """Finished, but its final ELBO is below the one at step 0 (training made the bound worse)."""
        return not self.diverged and len(self.curve) > 1 and self.final < self.curve[0][1]

    @property
    def failed(self) -> bool:
        return self.diverged or self.collapsed


@dataclass
class StabilityReport:
    config: str
    dataset: str
    cells: list = field(default_factory=list)
    figure: Path | None = None
    notes: list = field(default_factory=list)
    entries: list = field(default_factory=list)  # no leaderboard entries (training curves, not submissions)

    def cell(self, transformer: str, lr: float) -> Cell | None:
        return next((c for c in self.cells if c.transformer == transformer and c.lr == lr), None)

    def markdown(self) -> str:
        lrs = sorted({c.lr for c in self.cells}) or list(LEARNING_RATES)
        lines = [f"VITAE supplement Fig. 1: C-VITAE on MNIST (batch {BATCH}), final validation ELBO (nats; higher "
                 f"is tighter) per parameterisation and learning rate, best in brackets",
                 f"(ours: `{self.config}` config on {self.dataset}; paper: {SOURCE})", "",
                 "| parameterisation | " + " | ".join(f"lr {lr:g}" for lr in lrs) + " |",
                 "|---|" + "---|" * len(lrs)]
        for t in dict.fromkeys(c.transformer for c in self.cells):
            row = []
            for lr in lrs:
                c = self.cell(t, lr)
                if c is None:
                    row.append("—")
                elif c.diverged:
                    at = f" at step {c.diverged_at:,}" if c.diverged_at is not None else ""
                    last = f" (last {c.final:.1f})" if math.isfinite(c.final) else ""
                    row.append(f"diverged{at}{last}")
                elif c.collapsed:
                    row.append(f"collapsed: {c.final:.1f} ({c.best:.1f})")
                else:
                    row.append(f"{c.final:.1f} ({c.best:.1f})")
            lines.append(f"| {LABELS.get(t, t)} | " + " | ".join(row) + " |")
        lines += ["", "ELBO: the validation ELBO the training logs (one posterior sample per image, β = 1, no "
                      "warm-up weight) on the images held out of training; diverged: the training loss became "
                      "non-finite and the engine stopped the run; collapsed: the run finished with a worse ELBO "
                      "than it started with."]
        if self.figure:
            lines += ["", f"Figure: {self.figure} (a: validation ELBO against the step at lr {CURVE_LR:g}; "
                          "b: final ELBO against the learning rate, diverged and collapsed runs as crosses)"]
        for note in self.notes:
            lines += ["", note]
        return "\n".join(lines) + "\n"


def dataset_label(directory: Path) -> str:
    """``family/preset`` with the MNIST source and the training split's size, from the manifest."""
    ident = json.loads((Path(directory) / "manifest.json").read_text())["identity"]
    conf = ident["config"]
    n = conf.get("splits", {}).get("train", {}).get("num_samples")
    source = {"embedded": "the embedded digits", "idx": "the MNIST IDX files"}.get(conf.get("source"), "")
    return f"{ident['family']}/{ident['preset']}" + (f" (train {n:,}" if n else " (") + \
        (f", from {source})" if source else ")")


def read_curve(run: Path) -> list:
    """``[(step, ELBO)]`` of the validation records in ``run/log.jsonl`` (the last record per step wins)."""
    from ..baselines.common.training import LOG

    by_step = {}
    path = run / LOG
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("kind") == "val" and "val/neg_elbo" in rec:
                by_step[int(rec["step"])] = -float(rec["val/neg_elbo"])
    return sorted(by_step.items())


def run_cell(transformer: str, lr: float, directory: Path, config: str, out: Path, seed: int, device,
             overrides: dict, log: Callable[[str], None]) -> Cell:
    from ..baselines.common.training import TrainingError, train
    from ..registry import get_baseline

    marker = out / DIVERGED
    if marker.is_file():
        return Cell(transformer, lr, read_curve(out), int(json.loads(marker.read_text())["step"]))
    cls = get_baseline("c-vitae")
    values = {**(SMOKE if config == "smoke" else {}), **overrides, "transformer": transformer, "lr": lr,
              "seed": seed}
    if device:
        values["device"] = device
    conf = cls.resolve_config(config, values)
    tag = f"[{LABELS[transformer]} / lr {lr:g}]"
    t0 = time.perf_counter()
    try:
        result = train(cls, directory, conf, out, config_name=config, progress=False, log=lambda m: None)
    except TrainingError as exc:
        text = str(exc)
        step = int(text.split(" at step ")[1].split()[0]) if " at step " in text else -1
        out.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps({"step": step, "error": text}) + "\n")
        log(f"{tag} diverged at step {step} ({time.perf_counter() - t0:.0f} s)")
        return Cell(transformer, lr, read_curve(out), step)
    cell = Cell(transformer, lr, read_curve(out))
    log(f"{tag} step {result.step:,}: final ELBO {cell.final:.1f}, best {cell.best:.1f} "
        f"({time.perf_counter() - t0:.0f} s)")
    return cell


def plot(cells: Sequence[Cell], path: Path, title: str) -> Path:
    """Draw the two panels (see the module docstring) into ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = {"affine": "tab:blue", "affine-decomposed": "tab:orange", "affine-diffeo": "tab:green"}
    for c in cells:
        if c.lr == CURVE_LR and c.curve:
            steps, vals = zip(*c.curve)
            a.plot(steps, vals, label=LABELS.get(c.transformer, c.transformer), color=colors.get(c.transformer))
    a.set(title=f"(a) learning curves, lr {CURVE_LR:g}", xlabel="step", ylabel="validation ELBO (nats)")
    finite = [c.final for c in cells if not c.failed]
    floor = min(finite) - 0.05 * (max(finite) - min(finite) + 1.0) if finite else 0.0
    for i, t in enumerate(dict.fromkeys(c.transformer for c in cells)):
        row = sorted((c for c in cells if c.transformer == t), key=lambda c: c.lr)
        ok = [c for c in row if not c.failed]
        b.plot([c.lr for c in ok], [c.final for c in ok], "o-", color=colors.get(t), label=LABELS.get(t, t))
        bad = [c for c in row if c.failed]
        if bad:  # side by side (x 1.15 per parameterisation) so coinciding failures all show
            b.plot([c.lr * 1.15 ** (i - 1) for c in bad], [floor] * len(bad), "x", color=colors.get(t),
                   markersize=10, mew=2)
    b.set_xscale("log")
    b.set(title="(b) final ELBO per learning rate (x: diverged or collapsed)", xlabel="learning rate",
          ylabel="final validation ELBO (nats)")
    for ax in (a, b):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def vitae_fig1(config: str = "smoke", *, seed: int = 0, data_root=None, runs="runs", device: str | None = None,
               log: Callable[[str], None] | None = None, transformers: Sequence[str] = TRANSFORMERS,
               learning_rates: Sequence[float] = LEARNING_RATES, overrides: dict | None = None,
               sizes: dict | None = None) -> StabilityReport:
    """Train the grid and return the report (``report.markdown()``; the figure is written beside the runs).

    ``overrides``: C-VITAE config values for every cell (tests and quick looks); ``sizes``: MNIST split
    sizes (default: the full split for ``paper``, 4,000 training images for ``smoke``).
    """
    from ..datasets.build import generate

    if config not in ("smoke", "paper"):
        raise ConfigError(f"--config {config!r}: expected smoke or paper")
    log = log or (lambda m: None)
    root = Path(data_root or os.environ.get("SCENEBENCH_DATA", "data"))
    root = root / "reproduce-smoke" if config == "smoke" else root
    sz = {**(SMOKE_SIZES if config == "smoke" else {}), **(sizes or {})}
    over = {f"splits.{k}": int(v) for k, v in sz.items()}
    try:  # only the training split is needed: offline, mnist/binarized draws it from the embedded digits
        directory = generate("mnist", "binarized", root, overrides=over, splits=["train"], progress=False)
    except ScenebenchError as exc:  # more digits than the embedded 5,000 without the IDX files
        log(f"mnist/binarized: {exc}; using mnist/binarized-holdout (train) instead")
        directory = generate("mnist", "binarized-holdout", root, overrides=over, splits=["train"], progress=False)
    report = StabilityReport(config, dataset_label(directory))
    base = Path(runs) / "vitae-fig1" / config
    t0 = time.perf_counter()
    for t in transformers:
        for lr in learning_rates:
            out = base / t / f"lr{lr:g}" / f"seed{seed}"
            report.cells.append(run_cell(t, float(lr), directory, config, out, seed, device, dict(overrides or {}),
                                         log))
    report.figure = plot(report.cells, base / FIGURE, f"C-VITAE on MNIST, batch {BATCH} ({config})")
    log(f"vitae-fig1 ({config}) done in {time.perf_counter() - t0:.0f} s; figure {report.figure}")
    if config == "smoke":
        steps = {**SMOKE, **(overrides or {})}["steps"]
        n = f"{sz['train']:,}" if "train" in sz else "all"
        report.notes.append(f"Smoke run: {steps} steps per cell on {n} training images "
                            f"(the paper: 2,000 epochs of 60,000), one seed; it checks the study runs and is not "
                            f"the paper's figure.")
    return report
