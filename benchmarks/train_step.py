"""Training step time of the LAVAE baselines per batch of 64 (forward + backward + Adamax step).

    python benchmarks/train_step.py                       # CPU, smoke and paper configs, 1 and all threads
    python benchmarks/train_step.py --configs paper --threads 2 --steps 5
    python benchmarks/train_step.py --device cuda

Data: small multi-MNIST (lavae-1k, 1 channel, 17x17 sprites) and
multi-dSprites (lavae, RGB, 21x21 sprites) datasets generated into a
temporary directory (or ``--data-root``). LAVAE is timed in its two regimes:
``warm-up`` (step 0: n forced to 1, auxiliary VAE and KL-map regression on)
and ``main`` (after warm-up, with f_count replaced by n = 3 objects per image,
the most the 0-3-object training sets have; an untrained f_count would
report 0 and time nothing). Prints the median over ``--steps`` timed steps
after one untimed step.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

DATASETS = (("multi-MNIST", "multi_mnist", "lavae-1k"), ("multi-dSprites", "multi_dsprites", "lavae"))


def time_steps(cls, config, data, step: int, steps: int, device, fixed_n=None) -> float:
    import torch

    from scenebench.baselines.common.data import to_input
    from scenebench.baselines.common.runtime import deterministic, seeded_init

    with deterministic(device):
        model = seeded_init(cls, config, data.info, 0).to(device).train()
        if fixed_n is not None:
            model.count_from_logits = lambda h: torch.full((h.shape[0],), fixed_n, dtype=torch.long, device=h.device)
        groups = model.optimizer_groups()
        opt = model.make_optimizer(groups)
        gen = torch.Generator(device=device).manual_seed(0)
        times = []
        for i in range(steps + 1):
            x = to_input(data.batch(i, 64, 0), device)
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            loss, _ = model.training_loss(x, step, gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i:
                times.append(time.perf_counter() - t0)
        return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", default="smoke,paper", help="comma-separated config names")
    ap.add_argument("--threads", default=None, help="comma-separated torch thread counts (default: 1 and all)")
    ap.add_argument("--steps", type=int, default=3, help="timed steps per measurement")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--data-root", default=None, help="where the small datasets go (default: a temporary dir)")
    args = ap.parse_args()

    import os

    import torch

    from scenebench.datasets.build import generate
    from scenebench.baselines.common.data import TrainData
    from scenebench.baselines.common.runtime import resolve_device
    from scenebench.baselines.lavae.beta_vae import ConvBetaVae
    from scenebench.baselines.lavae.model import Lavae

    device = resolve_device(args.device)
    cores = os.cpu_count() or 1
    threads = [int(t) for t in args.threads.split(",")] if args.threads else sorted({1, cores})
    tmp = tempfile.TemporaryDirectory() if args.data_root is None else None
    root = Path(args.data_root or tmp.name)
    datas = {}
    for label, family, preset in DATASETS:
        d = generate(family, preset, root, num=200, workers=1)
        datas[label] = TrainData(d, val_size=8)
    print(f"device {device}, torch {torch.__version__}, {cores} cores; median of {args.steps} steps, batch 64")
    head = " ".join(f"{f'{t} thr':>9}" for t in threads)
    print(f"{'model':<14} {'config':<7} {'dataset':<15} {'regime':<18} {head}")
    for name in args.configs.split(","):
        for label, data in datas.items():
            rows = [("lavae", Lavae, "warm-up (n=1, aux)", 0, None),
                    ("lavae", Lavae, "main (n=3)", 10**7, 3),
                    ("conv-beta-vae", ConvBetaVae, "-", 0, None)]
            for model_name, cls, regime, step, fixed_n in rows:
                config = cls.resolve_config(name, {"batch_size": 64, "device": str(device)})
                cells = []
                for t in threads:
                    torch.set_num_threads(t)
                    sec = time_steps(cls, config, data, step, args.steps, device, fixed_n)
                    cells.append(f"{sec:8.3f}s")
                print(f"{model_name:<14} {name:<7} {label:<15} {regime:<18} " + " ".join(cells), flush=True)
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
