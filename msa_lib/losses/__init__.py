"""Losses: Rank-N-Contrast and the SDUMC self-distillation terms; CorrKD's SCD, CPD and RCD."""

import importlib

_LAZY = {
    "rnc_loss": ".rnc",
    "rnc_loss_loop": ".rnc",
    "stable_rmse": ".sdumc",
    "SelfDistillationLoss": ".sdumc",
    "SelfDistillationWeights": ".sdumc",
    "scd_loss": ".corrkd",
    "cpd_loss": ".corrkd",
    "RCDLoss": ".corrkd",
}
__all__ = list(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
