"""Checkpoints and the notebooks' "load if present, else train" habit.

A checkpoint is a ``torch.save`` of ``{"state_dict": ..., "extra": {...}, "msa_lib_version": ...}``.
``extra`` holds whatever the caller wants back (the FitResult history, the config, the seed), so a
notebook can redraw its learning curves without retraining.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable

import torch

from .. import __version__

#: Where notebooks keep their checkpoints (git ignores it); override with ``MSA_CHECKPOINT_DIR``.
CHECKPOINT_DIR = Path(os.environ.get("MSA_CHECKPOINT_DIR", "checkpoints"))


def _plain(obj: Any) -> Any:
    """Turn dataclasses (e.g. a FitResult) into plain dicts so checkpoints load without pickled classes."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(obj).items()}
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_plain(v) for v in obj)
    return obj


def save_checkpoint(path: str | os.PathLike, model: torch.nn.Module, **extra: Any) -> Path:
    """Save ``model``'s weights and ``extra`` (dataclasses become dicts) to ``path``; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": _plain(extra),
        "msa_lib_version": __version__,
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)  # atomic: an interrupted save never leaves half a checkpoint
    return path


def load_checkpoint(
    path: str | os.PathLike, model: torch.nn.Module, map_location: Any = None
) -> dict[str, Any]:
    """Load weights saved by :func:`save_checkpoint` into ``model``; returns the ``extra`` dict.

    Raises ``FileNotFoundError`` naming the path, and a ``RuntimeError`` naming the path and the
    mismatching keys when the checkpoint does not fit the model (e.g. other dims or config).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    payload = torch.load(path, map_location=map_location or "cpu", weights_only=True)
    if not isinstance(payload, dict) or "state_dict" not in payload:
        raise ValueError(f"{path} is not an msa_lib checkpoint (no 'state_dict' key)")
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise RuntimeError(f"checkpoint {path} does not fit this model: {err}") from err
    return payload.get("extra", {})


def settings_key(**settings: Any) -> str:
    """A short stable hash of the settings that matter, for checkpoint file names.

    ``settings_key(method="sdumc", seed=0, quick=True, config=cfg)`` gives e.g. ``"3f9a1c2e"``;
    dataclasses are hashed by their fields, so changing a hyper-parameter changes the name and a
    stale checkpoint is never loaded by mistake.
    """
    text = json.dumps(_plain(settings), sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def load_or_train(
    path: str | os.PathLike,
    model: torch.nn.Module,
    train_fn: Callable[[], Any],
    *,
    retrain: bool = False,
    map_location: Any = None,
) -> bool:
    """Load ``model`` from ``path`` if it exists (and ``retrain`` is False), else train and save.

    ``train_fn()`` trains ``model`` in place; whatever it returns is saved as ``extra["result"]``
    (e.g. a FitResult, whose history then survives for learning-curve plots; read it back with
    :func:`load_checkpoint`). Returns True when the weights were loaded, False when trained.
    """
    path = Path(path)
    if path.is_file() and not retrain:
        load_checkpoint(path, model, map_location=map_location)
        return True
    result = train_fn()
    save_checkpoint(path, model, result=result)
    return False
