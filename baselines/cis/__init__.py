"""CIS (Yang, Chen & Soatto, CVPR 2020) and MONet trained in the CIS frame (the paper's comparison).

Registered lazily (importing this package does not import torch):

* ``cis`` -- :class:`scenebench.baselines.cis.model.Cis`: segmentation network Omega trained adversarially
  against a conditional inpainter psi (contextual information separation), a per-object VAE on Omega's masks,
  optional perceptual cycle-consistency (``perceptual_consistency``); configs ``smoke``, ``smoke-pc``,
  ``smoke-flying-animals``, ``paper``, ``paper-multi-texture``, ``paper-multi-dsprites``,
  ``paper-flying-animals``, ``paper-pc``, ``paper-pc-code``, ``paper-code``.
* ``cis-monet`` -- :class:`scenebench.baselines.cis.monet_frame.CisMonet`: Omega's K softmax masks with
  MONet's component VAE and loss; configs ``smoke``, ``paper``, ``paper-multi-texture``, ``paper-multi-dsprites``,
  ``paper-flying-animals``.

See :mod:`.config` for the phases, the sources of every value and the code-vs-paper options.
"""

from scenebench.registry import register_baseline

PAPER = "Yang, Chen & Soatto, CVPR 2020 (Learning to Manipulate Individual Objects in an Image)"
CIS_DESCRIPTION = ("CIS: DeepLab segmentation network vs. edge-conditioned inpainter (contextual information "
                   "separation), per-object VAE, optional perceptual cycle-consistency")
MONET_DESCRIPTION = "MONet in the CIS frame: CIS's K-way segmentation network + MONet's component VAE and loss"

register_baseline("cis", "scenebench.baselines.cis.model:Cis", paper=PAPER, description=CIS_DESCRIPTION)
register_baseline("cis-monet", "scenebench.baselines.cis.monet_frame:CisMonet", paper=PAPER,
                  description=MONET_DESCRIPTION)
