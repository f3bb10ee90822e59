"""MONet in the CIS frame (the CIS paper's comparison): Omega's K softmax masks replace MONet's attention.

Everything but the masks is MONet's (:class:`scenebench.baselines.monet.model.Monet`, imported, not
edited): the component VAE (encoder on ``(x, log m_k)``, spatial-broadcast decoder of RGB means and a mask
logit), the loss ``recon_weight * mixture NLL (Omega's masks as mixing weights) + beta KL(q(z) || N(0, I))
+ gamma KL(Omega's masks || decoded masks)`` and the bounds of the decoded-mask generative model
(``elbo``, ``log_weights``). Omega (:mod:`.segmentation`) is trained by that loss, jointly with the VAE, in
one phase; Adam at ``lr`` (the CIS frame's optimiser; assumed). Slot k is Omega's channel k; slot 0 gets
``sigma_bg`` (MONet's background scale; which channel becomes the background is learnt). ``segment``: the
argmax of Omega's masks; ``masks``: Omega's soft masks; ``num_slots`` is ignored (``num_masks`` is K).
Omega's ImageNet initialisation (``imagenet_init`` / ``imagenet_checkpoint``) is :mod:`.segmentation`'s.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..common.config import config_from_dict
from ..common.data import DataInfo
from ..common.interface import Baseline
from ..common.slots import SpatialBroadcastDecoder
from ..monet.model import Monet
from ..monet.networks import ComponentEncoder
from . import MONET_DESCRIPTION, PAPER
from .config import CIS_MONET_CONFIGS, CisMonetConfig
from .segmentation import build_segmenter


class CisMonet(Monet):
    name = "cis-monet"
    display_name = "MONet (CIS frame)"
    description = MONET_DESCRIPTION
    paper = PAPER
    Config = CisMonetConfig
    CONFIGS = CIS_MONET_CONFIGS

    def __init__(self, config: CisMonetConfig, info, *, load_pretrained: bool = True):
        Baseline.__init__(self, config, info)
        c, h, w = info.channels, info.height, info.width
        k = config.num_masks
        self.segmenter = build_segmenter(config, c, pretrained=load_pretrained)
        self.encoder = ComponentEncoder(c + 1, h, w, config.encoder_channels, config.encoder_hidden,
                                        config.latent_dim)
        self.decoder = SpatialBroadcastDecoder(config.latent_dim, c + 1, h, w, channels=config.decoder_channels,
                                               layers=config.decoder_layers)
        sigma = torch.tensor([config.sigma_bg] + [config.sigma_fg] * (k - 1))
        self.register_buffer("pixel_sigma", sigma, persistent=False)

    @classmethod
    def build(cls, config_dict, info_dict):
        """The model of a checkpoint: the ImageNet file is not read again (the checkpoint's weights replace it)."""
        return cls(config_from_dict(cls.Config, config_dict), DataInfo.from_dict(info_dict), load_pretrained=False)

    def attend(self, x: torch.Tensor) -> torch.Tensor:
        """Omega's log-masks ``(B, K, H, W)``."""
        return F.log_softmax(self.segmenter(x), 1)

    def make_optimizer(self, groups) -> torch.optim.Optimizer:
        return torch.optim.Adam([{"params": p, "lr": f(0)} for p, f in groups], eps=self.config.adam_eps)


__all__ = ["CisMonet"]
