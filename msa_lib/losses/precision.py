r"""Losses that stay in float32 under mixed precision.

The trainers run the forward pass under bfloat16 autocast on a GPU (:func:`msa_lib.training.amp_autocast`).
That is right for the networks, and wrong for the losses that compare representations: SCD and Rank-N-Contrast
compute all pairwise distances by the expansion :math:`\lVert s\rVert^2 + \lVert t\rVert^2 - 2 s\cdot t`, and
with bfloat16's 8-bit mantissa the matrix product carries an error of about :math:`2^{-8}` of the norms. For a
pair at distance :math:`d` that error is a relative error of :math:`\approx 2^{-8}\,(\lVert s\rVert^2 +
\lVert t\rVert^2) / d^2` in :math:`d^2`, and the gradient of :math:`\sqrt{d^2}` divides by :math:`d`: for two
nearly coincident samples (the negatives SCD pushes hardest) the gradient came out ~180x its float32 value,
and gradient clipping then let that one pair steer the whole update. Prototype cosines (CPD) and the
statistics networks of RCD lose digits the same way.

:func:`float32_loss` wraps such a loss: its half-precision tensor arguments are cast to float32 and autocast
is switched off inside it, so the loss and its gradient are those of float32 whatever the caller's autocast.
Float64 arguments stay float64 (the parity tests use them). The cost is nil at these sizes: the losses see
[N, D] representations, not sequences.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import torch

_HALF = (torch.float16, torch.bfloat16)


def _up(x: Any) -> Any:
    return x.float() if torch.is_tensor(x) and x.dtype in _HALF else x


def float32_loss(fn: Callable) -> Callable:
    """Decorator: run ``fn`` with autocast off and its bfloat16/float16 tensor arguments cast to float32."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        tensors = [a for a in (*args, *kwargs.values()) if torch.is_tensor(a)]
        device_type = tensors[0].device.type if tensors else "cpu"
        with torch.autocast(device_type=device_type, enabled=False):
            return fn(*[_up(a) for a in args], **{k: _up(v) for k, v in kwargs.items()})

    return wrapper


__all__ = ["float32_loss"]
