"""IODINE (Greff et al. 2019), with and without the LDS prior (Li & Fisher, BMVC 2021).

Registered lazily (importing this package does not import torch):

* ``iodine`` -- :class:`scenebench.baselines.iodine.model.Iodine`; configs
  ``smoke``/``paper`` (no prior, the control group) and
  ``smoke-lds``/``paper-lds`` (IODINE with the prior, ``lds_weight = 1``).

The LDS prior itself is shared: :mod:`scenebench.baselines.common.lds`.
"""

from scenebench.registry import register_baseline

PAPER = "Greff et al. 2019, ICML, arXiv:1903.00450 (LDS prior: Li & Fisher, BMVC 2021)"
DESCRIPTION = ("IODINE: iterative amortised inference (LSTM refinement of the slot posteriors) + spatial-broadcast "
               "decoder; LDS prior with --config paper-lds or --set lds_weight=1")

register_baseline("iodine", "scenebench.baselines.iodine.model:Iodine", paper=PAPER, description=DESCRIPTION)
