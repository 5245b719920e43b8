"""Checkpoints and the notebooks' "load if present, else train" habit.

A checkpoint is a ``torch.save`` of ``{"state_dict": ..., "extra": {...}, "stamp": {...}, "msa_lib_version": ...}``.
``extra`` holds whatever the caller wants back (the FitResult history, the config, the seed), so a
notebook can redraw its learning curves without retraining.

``stamp`` (:func:`checkpoint_stamp`) says what the weights were made from: the hash of the full resolved
config, the data set's content fingerprint and the version of the code that trains the model
(:mod:`msa_lib.provenance`). The trainers put the same three into the file *name*, so a checkpoint made for
other data or older code is never even looked at; and :func:`load_checkpoint` compares the stamp inside the
file too (a renamed or copied file): a mismatch raises :class:`StaleCheckpointError` saying which part
differs, and :func:`load_or_train` then retrains with a warning. A truncated file raises
:class:`CheckpointError` naming it.

Where they go: ``$MSA_CHECKPOINT_DIR``, else ``checkpoints/`` under the working directory
(:func:`checkpoint_dir`, read at every call). The tests and the book build point it at a temporary or build
folder, so neither writes into the repository nor finds a previous run's leftovers.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any, Callable

import torch

from .. import __version__

#: The default checkpoint folder, relative to the working directory (git ignores ``notebooks/checkpoints``).
CHECKPOINT_DIR = Path("checkpoints")


def checkpoint_dir() -> Path:
    """``$MSA_CHECKPOINT_DIR`` when set, else :data:`CHECKPOINT_DIR` (read at every call, so a test or a
    notebook can set the variable after importing msa_lib)."""
    env = os.environ.get("MSA_CHECKPOINT_DIR")
    return Path(env) if env else CHECKPOINT_DIR


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be read (truncated, not a torch file, not an msa_lib checkpoint) or does
    not fit the model."""


class StaleCheckpointError(CheckpointError):
    """A checkpoint whose stamp (config, data, code) differs from what the caller expects."""


def checkpoint_stamp(*, config: Any, dataset: Any, code_modules: Any) -> dict[str, str]:
    """What a checkpoint's weights depend on: ``{"config_hash", "data_hash", "code_version"}``.

    ``config``: the full resolved settings of the training (anything :func:`msa_lib.provenance.config_hash`
    takes; include the method and the seed); ``dataset``: an :class:`~msa_lib.data.MSADataset` (its content
    fingerprint's ``hash``); ``code_modules``: the modules that define the model, its losses and its trainer.
    """
    from ..provenance import code_version, config_hash, data_fingerprint

    return {"config_hash": config_hash(config), "data_hash": data_fingerprint(dataset)["hash"],
            "code_version": code_version(code_modules)}


def stamp_key(stamp: dict[str, str]) -> str:
    """A short hash of a stamp, for file names."""
    return hashlib.sha1(json.dumps(stamp, sort_keys=True).encode()).hexdigest()[:12]


def _plain(obj: Any) -> Any:
    """Plain dicts, lists and Python numbers (:func:`msa_lib.provenance.plain`): what
    ``torch.load(weights_only=True)`` reads back without pickled classes."""
    from ..provenance import plain

    return plain(obj)


def save_checkpoint(path: str | os.PathLike, model: torch.nn.Module, *, stamp: dict[str, str] | None = None,
                    **extra: Any) -> Path:
    """Save ``model``'s weights, its ``stamp`` (:func:`checkpoint_stamp`) and ``extra`` (dataclasses become
    dicts) to ``path``; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": _plain(extra),
        "stamp": dict(stamp) if stamp else None,
        "msa_lib_version": __version__,
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)  # atomic: an interrupted save never leaves half a checkpoint
    return path


def _read_payload(path: Path, map_location: Any) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location=map_location or "cpu", weights_only=True)
    except Exception as err:  # a truncated zip, a text file, a pickle of other classes...
        raise CheckpointError(
            f"checkpoint {path} cannot be read ({type(err).__name__}: {err}); it is truncated or not a "
            "checkpoint: delete it, or pass retrain=True to train again") from err
    if not isinstance(payload, dict) or "state_dict" not in payload:
        raise CheckpointError(f"{path} is not an msa_lib checkpoint (no 'state_dict' key)")
    return payload


def stamp_differences(found: dict[str, str] | None, expected: dict[str, str]) -> list[str]:
    """The parts of a checkpoint's stamp that differ from ``expected``, in words (empty when they agree)."""
    if not found:
        return ["it has no stamp (made before checkpoints recorded their config, data and code)"]
    words = {"config_hash": "config", "data_hash": "data", "code_version": "code version"}
    return [f"{words.get(k, k)} {found.get(k)} != expected {v}" for k, v in expected.items() if found.get(k) != v]


def load_checkpoint(
    path: str | os.PathLike, model: torch.nn.Module, map_location: Any = None, *,
    expect: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Load weights saved by :func:`save_checkpoint` into ``model``; returns the ``extra`` dict.

    Raises ``FileNotFoundError`` naming the path; :class:`CheckpointError` naming the path when the file is
    truncated or not a checkpoint, and naming the mismatching keys when it does not fit the model (e.g.
    other dims or config); :class:`StaleCheckpointError` when ``expect`` (a :func:`checkpoint_stamp`) is given
    and the file's stamp differs, saying which of config, data and code.
    """
    path = Path(path)
    payload = _read_payload(path, map_location)
    if expect is not None:
        diffs = stamp_differences(payload.get("stamp"), expect)
        if diffs:
            raise StaleCheckpointError(f"checkpoint {path} was made for other settings: {'; '.join(diffs)}")
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(f"checkpoint {path} does not fit this model: {err}") from err
    return payload.get("extra", {})


def settings_key(**settings: Any) -> str:
    """A short stable hash of the settings that matter, for checkpoint file names.

    ``settings_key(method="sdumc", seed=0, quick=True, config=cfg)`` gives e.g. ``"3f9a1c2e"``;
    dataclasses are hashed by their fields, so changing a hyper-parameter changes the name and a
    stale checkpoint is never loaded by mistake.
    """
    text = json.dumps(_plain(settings), sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def fit_or_load(
    path: str | os.PathLike | None,
    model: torch.nn.Module,
    train_fn: Callable[[], Any],
    *,
    retrain: bool = False,
    map_location: Any = None,
    stamp: dict[str, str] | None = None,
) -> tuple[bool, Any]:
    """The trainers' "load if present, else train": returns ``(loaded, result)``.

    When ``path`` is a file (and ``retrain`` is False) its weights go into ``model`` and ``result`` is the
    saved ``extra["result"]`` (a FitResult as a plain dict). Otherwise ``train_fn()`` trains ``model`` in
    place, its return value is saved as ``extra["result"]`` (as a plain dict) and returned. ``path=None``
    trains without saving. With ``stamp`` (:func:`checkpoint_stamp`), a file whose stamp differs is not used:
    a warning says why, the model is retrained and the file replaced.
    """
    if path is not None and Path(path).is_file() and not retrain:
        try:
            return True, load_checkpoint(path, model, map_location=map_location, expect=stamp).get("result")
        except StaleCheckpointError as err:
            warnings.warn(f"{err}; retraining", stacklevel=2)
    result = _plain(train_fn())
    if path is not None:
        save_checkpoint(path, model, stamp=stamp, result=result)
    return False, result


def load_or_train(
    path: str | os.PathLike,
    model: torch.nn.Module,
    train_fn: Callable[[], Any],
    *,
    retrain: bool = False,
    map_location: Any = None,
    stamp: dict[str, str] | None = None,
) -> bool:
    """Load ``model`` from ``path`` if it exists (and ``retrain`` is False), else train and save.

    ``train_fn()`` trains ``model`` in place; whatever it returns is saved as ``extra["result"]``
    (e.g. a FitResult, whose history then survives for learning-curve plots; read it back with
    :func:`load_checkpoint`). ``stamp``: as in :func:`fit_or_load`. Returns True when the weights were
    loaded, False when trained.
    """
    return fit_or_load(path, model, train_fn, retrain=retrain, map_location=map_location, stamp=stamp)[0]
