"""``scenebench reproduce vitae-table5``: forward and backward time per batch, beside the VITAE supplement's.

The supplement's Table 5 times one batch of 512 MNIST images on its
hardware (Xeon E5-2620v4 + GTX TITAN X). Hardware differs, so the table
prints our seconds and, for both, each model's ratio to the VAE row -- the
comparison that can carry over. ``forward`` is the training loss
(``training_loss``: encoder, sampling, decoder, loss terms), ``backward`` the
``loss.backward()`` after it; medians over ``repeats`` timed batches after
one untimed one, on the model's device (CUDA is synchronised around each).
This module imports no torch until a run starts.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import ConfigError

SOURCE = "Skafte Detlefsen & Hauberg, VITAE supplement (NeurIPS 2019), Table 5"
HARDWARE = "Xeon E5-2620v4 + GTX TITAN X"
BATCH = 512
# (row label, baseline, config overrides, supplement forward s, supplement backward s)
ROWS = (
    ("VAE & β-VAE", "vae", {}, 0.0016, 0.014),
    ("β-TCVAE", "beta-tcvae", {}, 0.0020, 0.016),
    ("DIP-VAE-II", "dip-vae-ii", {}, 0.0025, 0.018),
    ("C-VITAE (affine)", "c-vitae", {"transformer": "affine"}, 0.0092, None),
    ("C-VITAE (CPAB)", "c-vitae", {"transformer": "cpab"}, 0.1, None),
)


@dataclass
class TimingReport:
    config: str
    device: str
    rows: list = field(default_factory=list)  # (label, forward s, backward s, paper forward, paper backward)
    notes: list = field(default_factory=list)
    entries: list = field(default_factory=list)  # no leaderboard entries (timings, not submissions)

    def markdown(self) -> str:
        base = self.rows[0] if self.rows else None
        lines = [f"VITAE supplement Table 5: forward and backward time per batch of {BATCH} MNIST images",
                 f"(ours: `{self.config}` config on {self.device}; paper: {SOURCE}, on {HARDWARE})", "",
                 "| model | forward (paper) | backward (paper) | forward (ours) | backward (ours) "
                 "| forward / VAE (paper) | forward / VAE (ours) |", "|---|---|---|---|---|---|---|"]

        def s(v):
            return "—" if v is None else f"{v:.4f} s"

        def r(v, b):
            return "—" if v is None or not b else f"{v / b:.1f}x"

        for label, fwd, bwd, pf, pb in self.rows:
            lines.append(f"| {label} | {s(pf)} | {s(pb)} | {s(fwd)} | {s(bwd)} | {r(pf, base[3])} | "
                         f"{r(fwd, base[1])} |")
        lines += ["", "The hardware differs from the paper's, so compare the ratios to the VAE row, not the seconds."]
        for note in self.notes:
            lines += ["", note]
        return "\n".join(lines) + "\n"


def time_model(cls, config, data, repeats: int, device) -> tuple[float, float]:
    """Median forward (training loss) and backward seconds for batches of ``BATCH``."""
    import torch

    from ..baselines.common.runtime import deterministic, seeded_init

    with deterministic(device):
        model = seeded_init(cls, config, data.info, 0).to(device).train()
        gen = torch.Generator(device=device).manual_seed(0)
        fwd, bwd = [], []
        for i in range(repeats + 1):
            x = model.prepare(data.batch(i, BATCH, 0))
            sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
            sync()
            t0 = time.perf_counter()
            loss, _ = model.training_loss(x, 10**9, gen)  # after the warm-up: every term on
            sync()
            t1 = time.perf_counter()
            model.zero_grad(set_to_none=True)
            loss.backward()
            sync()
            t2 = time.perf_counter()
            if i:
                fwd.append(t1 - t0)
                bwd.append(t2 - t1)
    return statistics.median(fwd), statistics.median(bwd)


def vitae_table5(config: str = "smoke", *, data_root=None, device: str | None = None, repeats: int | None = None,
                 log: Callable[[str], None] | None = None, rows=ROWS) -> TimingReport:
    """Time every row's model (``config``: ``smoke`` or ``paper``; the networks are the paper's in both)."""
    import torch

    from ..baselines.common.data import TrainData
    from ..baselines.common.runtime import resolve_device
    from ..datasets.build import generate
    from ..registry import get_baseline

    if config not in ("smoke", "paper"):
        raise ConfigError(f"--config {config!r}: expected smoke or paper")
    log = log or (lambda m: None)
    repeats = repeats or (3 if config == "smoke" else 10)
    dev = resolve_device(device or "auto")
    root = Path(data_root or os.environ.get("SCENEBENCH_DATA", "data")) / "reproduce-timing"
    directory = generate("mnist", "binarized", root, overrides={"splits.train": BATCH + 16}, splits=["train"],
                         workers=1, progress=False)
    report = TimingReport(config, f"{dev.type} ({torch.get_num_threads()} CPU thread{'s' if torch.get_num_threads() != 1 else ''})" if dev.type == "cpu"
                          else torch.cuda.get_device_name(dev))
    data = {}
    for label, name, overrides, pf, pb in rows:
        cls = get_baseline(name)
        conf = cls.resolve_config("paper", {**overrides, "device": str(dev), "batch_size": BATCH, "val_size": 16})
        if name not in data:
            data[name] = TrainData.for_model(cls, directory, 16)
        n = 1 if config == "smoke" and overrides.get("transformer") == "cpab" else repeats
        fwd, bwd = time_model(cls, conf, data[name], n, dev)
        log(f"[{label}] forward {fwd:.4f} s, backward {bwd:.4f} s ({n} batches)")
        report.rows.append((label, fwd, bwd, pf, pb))
    if config == "smoke":
        report.notes.append(f"Smoke run: {repeats} timed batches per model (1 for CPAB); the networks and batch are "
                            "the paper's.")
    return report
