"""MulMON (Li, Eastwood & Fisher, NeurIPS 2020), with and without the LDS prior (Li & Fisher, BMVC 2021).

Registered lazily (importing this package does not import torch):

* ``mulmon`` -- :class:`scenebench.baselines.mulmon.model.Mulmon`, a model
  of whole multi-view scenes (``input_layout = "scenes"``: the views of a
  sample and their camera positions); configs ``smoke``/``paper`` (no prior,
  the control group) and ``smoke-lds``/``paper-lds`` (``lds_weight = 1``).

The LDS prior itself is shared: :mod:`scenebench.baselines.common.lds`.
"""

from scenebench.registry import register_baseline

PAPER = "Li, Eastwood & Fisher, NeurIPS 2020 (LDS prior: Li & Fisher, BMVC 2021)"
DESCRIPTION = ("MulMON: IODINE-style iterative refinement aggregated over the views of a scene, viewpoint-conditioned "
               "decoder (multi-view data with cameras, e.g. CLE-MV); LDS prior with --config paper-lds or "
               "--set lds_weight=1")

register_baseline("mulmon", "scenebench.baselines.mulmon.model:Mulmon", paper=PAPER, description=DESCRIPTION)
