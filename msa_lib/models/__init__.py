"""Models: the SDUMC network (:class:`UMCANet`, :class:`MIA`) and CorrKD's :class:`CorrKDNet`."""

import importlib

_LAZY = {
    "UMCANet": ".umca",
    "UMCAConfig": ".umca",
    "MIA": ".mia",
    "CorrKDNet": ".corrkd",
    "CorrKDConfig": ".corrkd",
}
__all__ = list(_LAZY)


def __getattr__(name):  # lazy, so that one model's import error never hides another model
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
