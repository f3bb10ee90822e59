"""Shared model parts of the baselines, written once.

* :mod:`.blocks` -- conv / residual blocks (2 convs, BatchNorm, LeakyReLU)
* :mod:`.schedules` -- learning-rate, temperature and weight schedules (functions of the step)
* :mod:`.config` -- :class:`TrainConfig`, named configs (``smoke``, ``paper``) and config files
* :mod:`.data` -- a split in memory with a deterministic batch order
* :mod:`.interface` -- :class:`Baseline`, the small interface the harness calls
* :mod:`.training` -- the seeded, checkpointed, exactly resumable training loop
* :mod:`.checkpoint` -- atomic checkpoints, model rebuilding
* :mod:`.predict` -- predictions of a split as a submission file
* :mod:`.runtime` -- device choice, deterministic kernels, seeded initialisation
* :mod:`.modes` -- harness methods run in eval mode, without gradients, and restore the mode
* :mod:`.lds` -- the LDS prior on slot latents (Li & Fisher 2021), shared by MONet / IODINE / MulMON
* :mod:`.slots` -- spatial-broadcast decoder, Gaussian mixture likelihood, Gaussian latent KLs

Only :mod:`.schedules`, :mod:`.config` and :mod:`.lds` import without torch.
"""
