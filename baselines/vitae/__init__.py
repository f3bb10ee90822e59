"""VITAE (Skafte Detlefsen & Hauberg, NeurIPS 2019) and its VAE-family comparisons.

Registered lazily (importing this package does not import torch):

* ``vae``, ``beta-vae``, ``beta-tcvae``, ``dip-vae-ii`` --
  :mod:`scenebench.baselines.vitae.vae` (the supplement's MLPs, d = 4);
  ``beta-vae`` is not LAVAE's ``conv-beta-vae``.
* ``u-vitae``, ``c-vitae`` -- :mod:`scenebench.baselines.vitae.model`
  (d = 2 + 2; the spatial transformer is the config field ``transformer``:
  ``affine``, ``affine-decomposed``, ``affine-diffeo`` or ``cpab``).

Configs of every model: ``smoke`` / ``paper`` (MNIST, Bernoulli) and
``smoke-smpl`` / ``paper-smpl`` (SMPL bodies, Gaussian); see :mod:`.config`.
"""

from scenebench.registry import register_baseline

PAPER = "Skafte Detlefsen & Hauberg 2019, NeurIPS (arXiv:1906.11881), supplement"

for _name, _target, _description in (
    ("vae", "vae:Vae", "VITAE's VAE: MLP encoder/decoder, d = 4, KL warm-up"),
    ("beta-vae", "vae:BetaVae", "VITAE's beta-VAE: the MLP VAE with beta = 8 (not LAVAE's conv-beta-vae)"),
    ("beta-tcvae", "vae:BetaTcVae", "beta-TCVAE (Chen et al. 2018) with VITAE's MLPs"),
    ("dip-vae-ii", "vae:DipVaeII", "DIP-VAE-II (Kumar et al. 2018) with VITAE's MLPs"),
    ("u-vitae", "model:UVitae", "U-VITAE: appearance + perspective latents, spatial transformer (--set transformer=)"),
    ("c-vitae", "model:CVitae", "C-VITAE: appearance encoder sees x un-warped by the inferred transformation"),
):
    register_baseline(_name, f"scenebench.baselines.vitae.{_target}", paper=PAPER, description=_description)
