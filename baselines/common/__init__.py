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

Only :mod:`.schedules` and :mod:`.config` import without torch.
"""
