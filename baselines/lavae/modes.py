"""Harness methods evaluate the model as trained, whatever mode the caller left it in.

LAVAE's networks use BatchNorm: in train mode a forward pass normalises with
the batch's own statistics and updates the running ones, so ``count`` or
``log_weights`` called on a model in train mode would score another model
(one whose outputs depend on the rest of the batch) and change it. The
:func:`evaluation` decorator runs a method with every submodule in eval mode
and without gradients, then gives every submodule back the mode it had.
"""

from __future__ import annotations

import functools

import torch


def evaluation(method):
    """Run ``method(self, ...)`` in eval mode and under ``torch.no_grad()``; restore each submodule's mode after."""

    @functools.wraps(method)
    def run(self, *args, **kwargs):
        modes = [(m, m.training) for m in self.modules()]
        self.eval()
        try:
            with torch.no_grad():
                return method(self, *args, **kwargs)
        finally:
            for m, training in modes:
                m.training = training

    return run
