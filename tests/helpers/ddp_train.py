"""Train a toy or tiny baseline, as one process of a torchrun job or alone; used by tests/test_parallel.py.

    python tests/helpers/ddp_train.py MODEL DATA OUT [--stop-at N] [--config smoke|FILE] [--set key=value ...]

MODEL: toy-ae, toy-noisy (tests/helpers/toy_baselines.py) or a registered baseline name (default: its smoke config).
Writes OUT/params-rank<R>.pt (the trained parameters as this rank sees them).
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from helpers.toy_baselines import ToyAutoencoder, ToyNoisy  # noqa: E402
from scenebench.baselines.common.training import train  # noqa: E402
from scenebench.cli.common import parse_sets  # noqa: E402
from scenebench.registry import get_baseline  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("data")
    p.add_argument("out")
    p.add_argument("--stop-at", type=int, default=None)
    p.add_argument("--config", default="smoke")
    p.add_argument("--set", dest="sets", action="append", default=[])
    a = p.parse_args()
    cls = {"toy-ae": ToyAutoencoder, "toy-noisy": ToyNoisy}.get(a.model) or get_baseline(a.model)
    config = cls.resolve_config(a.config, parse_sets(a.sets))
    result = train(cls, a.data, config, a.out, stop_at=a.stop_at, threads=1, log=lambda m: None, progress=False)
    torch.save({k: v.detach().clone() for k, v in result.model.state_dict().items()},
               Path(a.out) / f"params-rank{result.rank}.pt")


if __name__ == "__main__":
    main()
