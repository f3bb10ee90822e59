"""MONet (Burgess et al. 2019), with and without the LDS prior (Li & Fisher, BMVC 2021).

Registered lazily (importing this package does not import torch):

* ``monet`` -- :class:`scenebench.baselines.monet.model.Monet`; configs
  ``smoke``/``paper`` (no prior, the control group) and
  ``smoke-lds``/``paper-lds`` (MONet+, ``lds_weight = 0.5``).

The LDS prior itself is shared: :mod:`scenebench.baselines.common.lds`.
"""

from scenebench.registry import register_baseline

PAPER = "Burgess et al. 2019, arXiv:1901.11390 (LDS prior: Li & Fisher, BMVC 2021)"
DESCRIPTION = ("MONet: attention U-Net (scope recursion) + component VAE; LDS prior with --config paper-lds "
               "or --set lds_weight=0.5")

register_baseline("monet", "scenebench.baselines.monet.model:Monet", paper=PAPER, description=DESCRIPTION)
