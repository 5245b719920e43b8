"""Quick mode on real data: a smaller, shorter view of a data set, said out loud.

A chapter's quick mode must stay near ~90 s on a 2-core CPU whatever ``DATA_PATH`` points at. Two
things make real files slow: many utterances (MOSEI's 16,326 training clips) and long unaligned
sequences (MMSA's unaligned MOSI has 375 audio and 500 video frames per clip; attention and the
convolutions of the models cost ~T or T² per clip). :func:`quick_view` handles both, and
:func:`msa_lib.data.load_dataset` applies it to real data in quick mode only, with one warning:

* **frames**: audio and vision longer than ``max_frames`` are **average-pooled** in groups of ``k``
  consecutive frames, ``k = ceil(longest / max_frames)`` per modality (the same ``k`` for every split,
  so train and test see the same frame rate). A pooled frame averages only real frames and exists when
  its group holds at least one; a clip of ``T`` real frames becomes ``ceil(T / k)`` frames. This is
  MERTools' ``frm_align`` pooling, chosen over cropping because a crop would throw away the end of
  every long clip, where sentiment is often stated, and over a random subset of frames because the
  frame-missing protocols then still see contiguous frames. Text is never pooled: its positions are
  tokens, and aligned files put audio / vision on the token grid (they are as long as the text, so
  they are not pooled either unless the text itself is longer than ``max_frames``).
* **utterances**: at most ``max_train`` training and ``max_eval`` validation / test utterances, a
  seeded random subset kept in file order. Quick mode is a demonstration of the mechanics; its numbers
  are not findings, and full mode (``QUICK = False``) never calls this.
"""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np

from .dataset import SPLITS, MSADataset, MSASplit, PackedSequences, Sequences

#: modalities with a frame rate of their own (text positions are tokens and are never pooled)
POOLED_MODALITIES = ("audio", "vision")


@dataclass(frozen=True)
class QuickView:
    """How much of a real data set quick mode keeps (see the module docstring)."""

    max_frames: int = 50
    max_train: int = 400
    max_eval: int = 200
    seed: int = 0


def pool_frames(seqs: Sequences, k: int) -> PackedSequences:
    r"""Average-pool every sequence in groups of ``k`` frames: ``[T_i, D] -> [ceil(T_i / k), D]``.

    Pooled frame ``j`` of sample ``i`` is :math:`\frac{1}{|G_j|}\sum_{t \in G_j} x_{i,t}` with
    :math:`G_j = \{jk, \dots, \min(jk + k, T_i) - 1\}` (only real frames: ``seqs[i]`` holds no padding).
    """
    if k < 1:
        raise ValueError(f"pool_frames: k must be >= 1, got {k}")
    out = []
    for i in range(len(seqs)):
        x = np.asarray(seqs[i], dtype=np.float32)
        t = x.shape[0]
        n = math.ceil(t / k)
        padded = np.zeros((n * k, x.shape[1]), np.float32)
        padded[:t] = x
        counts = np.minimum(k, t - np.arange(n) * k).astype(np.float32)
        out.append(padded.reshape(n, k, -1).sum(1) / counts[:, None])
    return PackedSequences.from_list(out, dim=seqs.dim)


def quick_view(dataset: MSADataset, view: QuickView = QuickView(), *, warn: bool = True) -> MSADataset:
    """A smaller, shorter copy of ``dataset`` for quick mode (the input is not modified).

    Returns ``dataset`` itself when nothing needs cutting. Otherwise a new data set with the same
    name, metric set and attributes, ``info["quick_view"]`` recording what was done, and (``warn``) one
    warning saying so.
    """
    longest = {m: max(int(dataset[s].lengths(m).max(initial=0)) for s in SPLITS)
               for m in POOLED_MODALITIES if m in dataset.input_dims}
    pool = {m: math.ceil(t / view.max_frames) for m, t in longest.items() if t > view.max_frames}
    rng = np.random.default_rng(view.seed)
    keep = {}
    for s in SPLITS:
        n, cap = len(dataset[s]), view.max_train if s == "train" else view.max_eval
        keep[s] = np.sort(rng.choice(n, cap, replace=False)) if n > cap else None
    if not pool and all(k is None for k in keep.values()):
        return dataset
    splits = {}
    for s in SPLITS:
        split, idx = dataset[s], keep[s]
        seqs = {}
        for m, sq in split.sequences.items():
            if idx is not None:
                sq = PackedSequences.from_list([sq[int(i)] for i in idx], dim=sq.dim)
            seqs[m] = pool_frames(sq, pool[m]) if m in pool else sq
        labels = split.labels if idx is None else split.labels[idx]
        ids = split.ids if idx is None else [split.ids[int(i)] for i in idx]
        splits[s] = MSASplit(s, seqs, labels, ids, source=f"quick_view({split.source})")
    done = {
        "settings": asdict(view),
        "pooled": {m: {"k": k, "longest_before": longest[m], "longest_after": math.ceil(longest[m] / k)}
                   for m, k in pool.items()},
        "sizes_before": {s: len(dataset[s]) for s in SPLITS},
        "sizes_after": {s: len(splits[s]) for s in SPLITS},
    }
    out = copy.copy(dataset)  # keeps every attribute of the data set (metric set, task, classes, ...)
    out._splits = splits
    out.info = {**dataset.info, "quick_view": done}
    if warn:
        parts = [f"{m} average-pooled in groups of {d['k']} frames ({d['longest_before']} -> at most "
                 f"{d['longest_after']})" for m, d in done["pooled"].items()]
        cut = [f"{s} {done['sizes_before'][s]} -> {done['sizes_after'][s]}" for s in SPLITS if keep[s] is not None]
        if cut:
            parts.append("utterances: " + ", ".join(cut))
        warnings.warn(
            f"quick mode on {dataset.name}: " + "; ".join(parts) + ". Quick mode demonstrates the mechanics; "
            "run with QUICK = False for the full data and numbers.",
            stacklevel=2,
        )
    return out
