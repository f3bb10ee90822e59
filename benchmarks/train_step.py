"""Training step time of the baselines (forward + backward + optimizer step), at the papers' batch sizes.

    python benchmarks/train_step.py                       # LAVAE: CPU, smoke and paper configs, 1 and all threads
    python benchmarks/train_step.py --configs paper --threads 2 --steps 5
    python benchmarks/train_step.py --models lds          # MONet, IODINE, MulMON (0 and +LDS) on CLE-MV
    python benchmarks/train_step.py --models cis          # CIS per phase, MONet in its frame (Multi-Texture)
    python benchmarks/train_step.py --models vitae        # VITAE's six models (MNIST 512, SMPL 256)
    python benchmarks/train_step.py --device cuda

``--models lavae`` (default) times LAVAE and its conv beta-VAE per batch of 64;
``--models lds`` times the LDS paper's models on 64x64 CLE-MV at their paper
batch sizes (MONet 40 images, IODINE 8 images, MulMON 8 scenes of 10 views),
with and without the LDS prior, whichever of them are registered.
``--models cis`` times ``cis`` at the first step of each of its phases
(inpainter pretraining, an inpainter step and an Omega step of the
adversarial phase, the VAE, and PC fine-tuning for ``-pc`` configs) and
``cis-monet`` on 64x64 Multi-Texture (``multi_texture/cis``), at each
config's batch (``batch_size``; a phase uses its own first ``<phase>_batch``).
``--models vitae`` times the VAE family and U-/C-VITAE (C-VITAE with each
transformer; CPAB through libcpab) on binarized MNIST at the paper's batch
512, and ``vae`` / ``c-vitae`` on 400x200 SMPL bodies at 256, with configs
``smoke`` / ``paper`` (and ``-smpl``).

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


def time_steps(cls, config, data, step: int, steps: int, device, fixed_n=None, batch: int = 64) -> float:
    import torch

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
            x = model.prepare(data.batch(i, batch, 0))
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


def setup(args):
    """What every mode needs: the device, the core count, the thread counts to time, and the data root
    (a temporary directory, returned so the caller can clean it up, unless ``--data-root``)."""
    import os

    from scenebench.baselines.common.runtime import resolve_device

    cores = os.cpu_count() or 1
    threads = [int(t) for t in args.threads.split(",")] if args.threads else sorted({1, cores})
    tmp = tempfile.TemporaryDirectory() if args.data_root is None else None
    return resolve_device(args.device), cores, threads, tmp, Path(args.data_root or tmp.name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", default="smoke,paper", help="comma-separated config names")
    ap.add_argument("--threads", default=None, help="comma-separated torch thread counts (default: 1 and all)")
    ap.add_argument("--steps", type=int, default=3, help="timed steps per measurement")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--data-root", default=None, help="where the small datasets go (default: a temporary dir)")
    ap.add_argument("--models", default="lavae", choices=("lavae", "lds", "cis", "vitae"),
                    help="which baselines to time")
    args = ap.parse_args()
    if args.models == "lds":
        return lds_main(args)
    if args.models in ("cis", "vitae"):
        return rows_main(args)

    import torch

    from scenebench.datasets.build import generate
    from scenebench.baselines.common.data import TrainData
    from scenebench.baselines.lavae.beta_vae import ConvBetaVae
    from scenebench.baselines.lavae.model import Lavae

    device, cores, threads, tmp, root = setup(args)
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


LDS_MODELS = (("monet", 40), ("iodine", 8), ("mulmon", 8))  # paper batch sizes (images; MulMON: scenes)


def lds_main(args) -> None:

    import torch

    from scenebench.baselines.common.data import TrainData
    from scenebench.datasets.build import generate
    from scenebench.errors import ConfigError
    from scenebench.registry import get_baseline

    device, cores, threads, tmp, root = setup(args)
    data_dir = generate("cle_mv", "cle-mv", root, overrides={"splits.train": 12, "splits.test": 1}, splits=["train"],
                        workers=1)
    print(f"device {device}, torch {torch.__version__}, {cores} cores; median of {args.steps} steps; "
          "64x64 CLE-MV, the paper's batch sizes")
    head = " ".join(f"{f'{t} thr':>9}" for t in threads)
    print(f"{'model':<8} {'config':<10} {'batch':<16} {head}")
    for name, batch in LDS_MODELS:
        try:
            cls = get_baseline(name)
        except ConfigError:
            print(f"{name:<8} (not registered)")
            continue
        data = TrainData.for_model(cls, data_dir, val_size=10)
        unit = "scenes" if cls.input_layout == "scenes" else "images"
        for config_name in args.configs.split(","):
            for suffix in ("", "-lds"):
                b = batch if config_name.startswith("paper") else cls.resolve_config(config_name).batch_size
                config = cls.resolve_config(config_name + suffix, {"device": str(device)})
                cells = []
                for t in threads:
                    torch.set_num_threads(t)
                    cells.append(f"{time_steps(cls, config, data, 0, args.steps, device, batch=b):8.3f}s")
                print(f"{name:<8} {config_name + suffix:<10} {f'{b} {unit}':<16} " + " ".join(cells), flush=True)
    if tmp is not None:
        tmp.cleanup()


def cis_rows(configs):
    """(model, config, regime, overrides, step) for ``--models cis``: the first step of every phase."""
    from scenebench.baselines.cis.config import CIS_CONFIGS

    rows = []
    for name in configs:
        for suffix in ("", "-pc"):
            conf = CIS_CONFIGS.get(name + suffix)
            if conf is None:
                continue
            starts = {"pretrain": 0, "CIS: inpainter step": conf.pretrain_steps,
                      "CIS: Omega step": conf.pretrain_steps + conf.psi_iters,
                      "VAE": conf.pretrain_steps + conf.cis_steps}
            if conf.perceptual_consistency:
                starts = {"PC: Omega step": conf.pretrain_steps + conf.cis_steps + conf.vae_steps + conf.psi_iters}
            rows += [("cis", name + suffix, regime, {}, step) for regime, step in starts.items()]
        rows.append(("cis-monet", name, "-", {}, 0))
    return rows


def vitae_rows(configs):
    rows = []
    for name in configs:
        rows += [(m, name, "MNIST", {}, 10**9) for m in ("vae", "beta-tcvae", "dip-vae-ii", "u-vitae")]
        rows += [("c-vitae", name, f"MNIST {t}", {"transformer": t}, 10**9)
                 for t in ("affine", "affine-decomposed", "affine-diffeo", "cpab")]
        rows += [(m, name + "-smpl", "SMPL", {}, 10**9) for m in ("vae", "c-vitae")]
    return rows


def rows_main(args) -> None:
    """``--models cis|vitae``: one line per (model, config, regime), the config's own batch size."""

    import torch

    from scenebench.baselines.common.data import TrainData
    from scenebench.datasets.build import generate
    from scenebench.registry import get_baseline

    device, cores, threads, tmp, root = setup(args)
    configs = args.configs.split(",")
    if args.models == "cis":
        rows = cis_rows(configs)
        data = {"": generate("multi_texture", "cis", root, num=40, workers=1, splits=["train"])}
        what = "64x64 Multi-Texture"
    else:
        rows = vitae_rows(configs)
        data = {"MNIST": generate("mnist", "binarized", root, num=600, workers=1, splits=["train"],
                                  overrides={"source": "embedded"}),
                "SMPL": generate("smpl_bodies", "embedded", root, num=264, workers=1, splits=["train"])}
        what = "binarized MNIST and 400x200 SMPL"
    print(f"device {device}, torch {torch.__version__}, {cores} cores; median of {args.steps} steps; {what}")
    head = " ".join(f"{f'{t} thr':>9}" for t in threads)
    print(f"{'model':<12} {'config':<22} {'regime':<26} {'batch':>6} {head}")
    loaded = {}
    for name, config_name, regime, overrides, step in rows:
        cls = get_baseline(name)
        directory = data[regime.split()[0]] if args.models == "vitae" else data[""]
        key = (name, directory)
        if key not in loaded:
            loaded[key] = TrainData.for_model(cls, directory, val_size=8)
        values = {**overrides, "device": str(device)}
        if "imagenet_init" in cls.Config.__dataclass_fields__:
            values["imagenet_init"] = False  # the timing does not depend on the initial weights
        config = cls.resolve_config(config_name, values)
        batch = config.batch_size
        cells = []
        for t in threads:
            torch.set_num_threads(t)
            n = 1 if overrides.get("transformer") == "cpab" else args.steps
            cells.append(f"{time_steps(cls, config, loaded[key], step, n, device, batch=batch):8.3f}s")
        print(f"{name:<12} {config_name:<22} {regime:<26} {batch:>6} " + " ".join(cells), flush=True)
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
