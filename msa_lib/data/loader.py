"""Batching: right-padding, boolean masks and the :func:`make_loader` DataLoader.

A batch is a dict::

    text, audio, vision      float32 [B, T_m, D_m]  right-padded with zeros to the batch maximum
    text_mask, ...           bool    [B, T_m]       True = a real frame
    text_sim, text_sim_mask  (when the data set has simulated text)
    label                    float32 [B]
    id                       list[str]
    index                    int64   [B]   position of each sample in its split

Padding is to the longest sequence *of the batch* (as MERTools and SDUMC do), at least 1 frame, so
a batch whose sequences of one modality are all empty still has a well-formed ``[B, 1, D]`` tensor
with an all-False mask.

A row that is entirely NaN is a *missing frame* (a face the detector did not find; loaders pass such rows
only when asked to, e.g. ``load_mertools(..., missing_frames="mask")``): it becomes a zero row with
mask False, as :func:`~msa_lib.data.missing.random_frame_missing` marks a dropped frame. Any other NaN
is an error.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from .dataset import missing_frame_rows

_SAMPLE_META = ("label", "id", "index")


def pad_sequences(arrays: Sequence[np.ndarray], dim: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad ``[T_i, D]`` arrays into ``([B, T_max, D] float32, [B, T_max] bool mask)``.

    ``T_max = max(1, max_i T_i)``; padded positions are exactly 0 and their mask is False.
    """
    if len(arrays) == 0:
        raise ValueError("pad_sequences: got an empty list of sequences")
    lengths = [a.shape[0] for a in arrays]
    if dim is None:
        dim = arrays[0].shape[1]
    t_max = max(1, max(lengths))
    out = np.zeros((len(arrays), t_max, dim), dtype=np.float32)
    mask = np.zeros((len(arrays), t_max), dtype=bool)
    for b, (a, t) in enumerate(zip(arrays, lengths)):
        if a.ndim != 2 or a.shape[1] != dim:
            raise ValueError(
                f"pad_sequences: sequence {b} has shape {a.shape}, expected [T, {dim}]"
            )
        out[b, :t] = a
        mask[b, :t] = True
    missing, n_bad = missing_frame_rows(out)  # one pass over the batch; padding is 0, never missing
    if n_bad:
        b = int(np.flatnonzero((~np.isfinite(out) & ~missing[..., None]).any(axis=(1, 2)))[0])
        raise ValueError(f"pad_sequences: sequence {b} has NaN in rows that are not all-NaN (missing frames)")
    if missing.any():
        out[missing] = 0.0
        mask[missing] = False
    return torch.from_numpy(out), torch.from_numpy(mask)


def collate_samples(samples: Sequence[dict]) -> dict:
    """Collate sample dicts (from ``split[i]``) into a padded batch dict (see module docstring)."""
    if len(samples) == 0:
        raise ValueError("collate_samples: got an empty list of samples")
    batch: dict = {}
    for key, value in samples[0].items():
        if key in _SAMPLE_META:
            continue
        if isinstance(value, np.ndarray) and value.ndim == 2:
            x, mask = pad_sequences([s[key] for s in samples], dim=value.shape[1])
            batch[key] = x
            batch[f"{key}_mask"] = mask
    batch["label"] = torch.tensor(np.asarray([s["label"] for s in samples], dtype=np.float32))
    batch["id"] = [str(s["id"]) for s in samples]
    batch["index"] = torch.tensor([int(s["index"]) for s in samples], dtype=torch.long)
    return batch


def make_loader(
    split,
    batch_size: int,
    shuffle: bool = False,
    seed: int | None = None,
    num_workers: int = 0,
    drop_last: bool = False,
    pin_memory: bool = False,
) -> DataLoader:
    """A :class:`torch.utils.data.DataLoader` over ``split`` yielding padded batch dicts.

    Args:
        split: an :class:`~msa_lib.data.dataset.MSASplit` (e.g. ``dataset["train"]``).
        batch_size: samples per batch.
        shuffle: reshuffle every epoch. With ``seed`` set, the order is drawn from a private
            ``torch.Generator(seed)``: the same seed gives the same sequence of epochs, independent
            of anything else that uses the global RNG. Without ``seed`` it follows torch's global
            RNG (so :func:`msa_lib.training.seed_everything` fixes it).
        seed: see ``shuffle``; ignored when ``shuffle`` is False.
        num_workers: worker processes (0 = load in the main process, the right choice for
            in-memory splits; MERTools folders benefit from a few workers).
        drop_last: drop the last incomplete batch.
        pin_memory: pin host memory (faster copies to a CUDA device).
    """
    if not hasattr(split, "__getitem__") or not hasattr(split, "__len__"):
        raise TypeError(
            f"make_loader expects a split (e.g. dataset['train']), got {type(split).__name__}"
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if len(split) == 0:
        raise ValueError(f"make_loader: split '{getattr(split, 'name', '?')}' is empty")
    generator = None
    if shuffle and seed is not None:
        generator = torch.Generator()
        generator.manual_seed(int(seed))
    return DataLoader(
        split,
        batch_size=int(batch_size),
        shuffle=shuffle,
        generator=generator,
        num_workers=num_workers,
        drop_last=drop_last,
        collate_fn=collate_samples,
        pin_memory=pin_memory,
        persistent_workers=False,
    )
