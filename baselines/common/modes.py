"""Harness methods evaluate the model as trained, whatever mode the caller left it in.

A network with BatchNorm (or dropout) computes something else in train mode:
BatchNorm normalises with the batch's own statistics and updates its running
ones, so ``segment`` or ``log_weights`` called on a model in train mode would
score another model (one whose output depends on the rest of the batch) and
change it. :func:`evaluation` runs a method with every submodule in eval mode
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
