"""Figures and the interactive explorer of the data chapter (notebook 01).

Every function takes library objects (an :class:`~msa_lib.data.MSADataset`, a split, a batch dict),
draws with matplotlib and returns the figure (plus, where a figure summarises numbers, a dict of the
numbers it drew, so the notebook can print them instead of typing them).
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import ListedColormap

from . import literal

from ..data import (
    CORRKD_CONDITIONS,
    MODALITIES,
    apply_condition,
    collate_samples,
    mean_pooled,
    random_frame_missing,
)

MODALITY_COLORS = {"text": "#1f77b4", "audio": "#2ca02c", "vision": "#d62728", "text_sim": "#ff7f0e"}
SPLIT_COLORS = {"train": "#4c72b0", "valid": "#dd8452", "test": "#55a868"}
#: Codes of :func:`frame_status`: what happened to each frame of a batch.
STATUS_NAMES = ["padding", "real", "dropped frame", "modality missing", "simulated text"]
STATUS_CMAP = ListedColormap(["#eeeeee", "#3b5b92", "#f39c12", "#c0392b", "#27ae60"])


def _sequence_keys(obj) -> list[str]:
    keys = list(obj.input_dims) if hasattr(obj, "input_dims") else list(obj.dims)
    return [m for m in (*MODALITIES, "text_sim") if m in keys]


# --------------------------------------------------------------------------------------- labels
def plot_label_distribution(dataset, ax=None):
    """Label histogram per split (fractions), on the label grid when labels are discrete.

    Returns ``(fig, stats)`` with per split ``n``, ``mean``, ``std`` and ``zero_fraction``.
    """
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(8, 3.2))
    all_labels = np.concatenate([dataset[s].labels for s in dataset])
    values = np.unique(all_labels)
    discrete = values.size <= 61
    stats = {}
    width = (np.min(np.diff(values)) if values.size > 1 else 1.0) / 4 if discrete else None
    for k, s in enumerate(dataset):
        y = dataset[s].labels
        stats[s] = {"n": int(y.size), "mean": float(y.mean()), "std": float(y.std()),
                    "zero_fraction": float(np.mean(y == 0))}
        label = f"{s} (n={y.size}, {100 * stats[s]['zero_fraction']:.0f}% exactly 0)"
        if discrete:
            frac = np.array([np.mean(y == v) for v in values])
            ax.bar(values + (k - 1) * width, frac, width=width, color=SPLIT_COLORS.get(s), label=label)
        else:
            ax.hist(y, bins=40, histtype="step", density=True, color=SPLIT_COLORS.get(s), label=label)
    ax.set_xlabel("sentiment label")
    ax.set_ylabel("fraction of samples")
    ax.set_title(f"{literal(dataset.name)}: label distribution")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig, stats


def plot_lengths(dataset, split: str = "train"):
    """Histogram of sequence lengths (real frames) per modality."""
    sp = dataset[split]
    mods = _sequence_keys(sp)
    fig, axes = plt.subplots(1, len(mods), figsize=(3.2 * len(mods), 2.8), squeeze=False)
    for ax, m in zip(axes[0], mods):
        lengths = sp.lengths(m)
        step = max(1, int(np.ceil((lengths.max() - lengths.min() + 1) / 30)))  # integer-aligned bins
        ax.hist(lengths, bins=np.arange(lengths.min() - 0.5, lengths.max() + step + 0.5, step),
                color=MODALITY_COLORS.get(m))
        ax.set_title(f"{m}: {lengths.min()}–{lengths.max()} frames")
        ax.set_xlabel("frames")
    axes[0][0].set_ylabel("utterances")
    fig.suptitle(f"sequence lengths ({split} split)", y=1.02)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------- features
def _heatmap(ax, x: np.ndarray, title: str, mask: np.ndarray | None = None, status: np.ndarray | None = None):
    """Draw frames x dims as an image (dims on y), with an optional status strip underneath."""
    x = np.asarray(x, dtype=np.float32)
    lim = float(np.percentile(np.abs(x), 99)) if x.size else 1.0
    ax.imshow(x.T, aspect="auto", cmap="RdBu_r", vmin=-lim or -1, vmax=lim or 1, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("frame")
    ax.set_yticks([])
    if status is not None:
        ax.imshow(status[None, :], aspect="auto", cmap=STATUS_CMAP, vmin=0, vmax=len(STATUS_NAMES) - 1,
                  extent=(-0.5, len(status) - 0.5, x.shape[1] + 0.5 + 0.08 * x.shape[1], x.shape[1] - 0.5),
                  interpolation="nearest")
        ax.set_ylim(x.shape[1] + 0.5 + 0.08 * x.shape[1], -0.5)


def plot_sample_heatmaps(split, index: int = 0, modalities: Sequence[str] | None = None):
    """One heat map per modality (features x frames) of sample ``index``.

    On synthetic data the sentiment-bearing frames are marked with a black triangle on top.
    """
    sample = split[index]
    mods = list(modalities) if modalities else _sequence_keys(split)
    try:
        evidence = split.evidence_frames(index)
    except KeyError:
        evidence = {}
    fig, axes = plt.subplots(1, len(mods), figsize=(3.4 * len(mods), 3.0), squeeze=False)
    for ax, m in zip(axes[0], mods):
        x = sample[m]
        _heatmap(ax, x, f"{m}  [{x.shape[0]} frames x {x.shape[1]} dims]")
        if m in evidence and evidence[m].any():
            pos = np.flatnonzero(evidence[m])
            ax.plot(pos, np.full(pos.size, -0.5), "v", color="black", markersize=6, clip_on=False)
    axes[0][0].set_ylabel("feature dim")
    fig.suptitle(f"sample {literal(sample['id'])}  (label {float(sample['label']):+.2f})"
                 + ("   ▼ = sentiment-bearing frame" if evidence else ""), y=1.03)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------- simulated text
def simulated_text_stats(dataset, split: str = "test", alpha: float = 10.0) -> dict:
    """How simulated text relates to real text, utterance by utterance.

    * ``direction``: a ridge regression on mean-pooled **real** text (fit on train) defines a sentiment
      direction :math:`w` in the text space; each utterance's real and simulated text are projected
      on it (``score_text``, ``score_sim``) and correlated with the label.
    * ``cosine``: cosine similarity between the (train-mean-centred) pooled real and simulated text
      of the same utterance (``cos_same``) and of a random other utterance (``cos_other``).
    """
    if "text_sim" not in dataset.input_dims:
        raise KeyError(f"data set '{dataset.name}' has no simulated text ('text_sim')")
    tr_text = mean_pooled(dataset["train"], "text")
    mu, sd = tr_text.mean(0), tr_text.std(0) + 1e-8
    xs = (tr_text - mu) / sd
    y = dataset["train"].labels.astype(np.float64)
    w = np.linalg.solve(xs.T @ xs + alpha * np.eye(xs.shape[1]), xs.T @ (y - y.mean()))
    text = mean_pooled(dataset[split], "text")
    sim = mean_pooled(dataset[split], "text_sim")
    labels = dataset[split].labels
    score_text = (text - mu) / sd @ w + y.mean()
    score_sim = (sim - mu) / sd @ w + y.mean()
    tc, sc = text - mu, sim - mu
    norm = np.linalg.norm(tc, axis=1) * np.linalg.norm(sc, axis=1) + 1e-12
    cos_same = np.sum(tc * sc, axis=1) / norm
    perm = np.random.default_rng(0).permutation(len(labels))
    perm = np.where(perm == np.arange(len(labels)), np.roll(perm, 1), perm)
    cos_other = np.sum(tc * sc[perm], axis=1) / (np.linalg.norm(tc, axis=1) * np.linalg.norm(sc[perm], axis=1) + 1e-12)
    return {
        "labels": labels, "score_text": score_text, "score_sim": score_sim,
        "corr_text": float(np.corrcoef(score_text, labels)[0, 1]),
        "corr_sim": float(np.corrcoef(score_sim, labels)[0, 1]),
        "corr_text_sim": float(np.corrcoef(score_text, score_sim)[0, 1]),
        "cos_same": cos_same, "cos_other": cos_other,
    }


def plot_simulated_vs_real(dataset, split: str = "test"):
    """Two panels: sentiment-direction projection vs label; same-utterance vs other-utterance cosine.

    Returns ``(fig, stats)`` (see :func:`simulated_text_stats`).
    """
    st = simulated_text_stats(dataset, split)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    jitter = np.random.default_rng(0).uniform(-0.08, 0.08, st["labels"].size)
    a.scatter(st["labels"] + jitter, st["score_text"], s=8, alpha=0.5, color=MODALITY_COLORS["text"],
              label=f"real text (r = {st['corr_text']:.2f})")
    a.scatter(st["labels"] + jitter, st["score_sim"], s=8, alpha=0.5, color=MODALITY_COLORS["text_sim"],
              label=f"simulated text (r = {st['corr_sim']:.2f})")
    lo, hi = float(st["labels"].min()), float(st["labels"].max())
    a.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    a.set_xlabel("label")
    a.set_ylabel("projection on the text sentiment direction")
    a.legend(fontsize=8)
    a.set_title("sentiment read from real vs simulated text")
    bins = np.linspace(-1, 1, 41)
    b.hist(st["cos_other"], bins=bins, alpha=0.6, color="grey", label="other utterance")
    b.hist(st["cos_same"], bins=bins, alpha=0.7, color=MODALITY_COLORS["text_sim"], label="same utterance")
    b.set_xlabel("cosine(pooled real text, pooled simulated text)")
    b.set_ylabel("utterances")
    b.legend(fontsize=8)
    b.set_title("simulated text resembles its own real text")
    fig.tight_layout()
    return fig, st


def plot_linear_probe(results: dict, ax=None):
    """Bar chart of a :func:`msa_lib.data.linear_probe` result (test MAE per modality set)."""
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(7, 3))
    names = list(results)
    mae = [results[k]["MAE"] for k in names]
    colors = [MODALITY_COLORS.get(k, "#7f7f7f") for k in names]
    bars = ax.barh(names, mae, color=colors)
    for bar, v in zip(bars, mae):
        ax.text(v, bar.get_y() + bar.get_height() / 2, f" {v:.3f}", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("test MAE of a ridge probe on mean-pooled features (lower = more informative)")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------- missingness
def frame_status(original: dict, transformed: dict, modality: str) -> np.ndarray:
    """int [B, T]: per frame, an index into :data:`STATUS_NAMES` after a transform."""
    mask = original[f"{modality}_mask"].cpu().numpy()
    status = mask.astype(np.int64)  # 0 padding, 1 real
    if modality == "text" and transformed.get("text_simulated"):
        sim_mask = transformed["text_mask"].cpu().numpy()
        return np.where(sim_mask, 4, 0)
    dropped = transformed.get(f"{modality}_frame_missing")
    if dropped is not None:
        status[dropped.cpu().numpy()] = 2
    missing = transformed.get(f"{modality}_missing")
    if missing is not None:
        status[missing.cpu().numpy()[:, None] & mask] = 3
    return status


def plot_condition_masks(batch: dict, conditions: Sequence[str], seed: int = 0, modalities=MODALITIES):
    """For each condition (rows) and modality (columns), what happens to every frame of a batch.

    Colours: padding, real, dropped frame, modality missing, simulated text (see :data:`STATUS_NAMES`).
    """
    fig, axes = plt.subplots(len(conditions), len(modalities), figsize=(3.3 * len(modalities), 1.25 * len(conditions) + 0.6),
                             squeeze=False, sharex="col")
    for r, cond in enumerate(conditions):
        out = apply_condition(batch, cond, generator=torch.Generator().manual_seed(seed))
        for c, m in enumerate(modalities):
            ax = axes[r][c]
            ax.imshow(frame_status(batch, out, m), aspect="auto", cmap=STATUS_CMAP, vmin=0,
                      vmax=len(STATUS_NAMES) - 1, interpolation="nearest")
            ax.set_yticks([])
            if r == 0:
                ax.set_title(m)
            if c == 0:
                ax.set_ylabel(cond, rotation=0, ha="right", va="center", fontsize=9)
            if r == len(conditions) - 1:
                ax.set_xlabel("frame")
    handles = [plt.Rectangle((0, 0), 1, 1, color=STATUS_CMAP(k)) for k in range(len(STATUS_NAMES))]
    fig.legend(handles, STATUS_NAMES, loc="upper center", ncol=len(STATUS_NAMES), fontsize=8,
               bbox_to_anchor=(0.5, 1.0 + 0.25 / len(conditions)))
    fig.tight_layout()
    return fig


EXPLORER_CONDITIONS = ["complete", "text_missing", *CORRKD_CONDITIONS, "frame_missing"]


def show_condition(split, index: int = 0, condition: str = "complete", missing_rate: float = 0.3, seed: int = 0):
    """Heat maps of one sample after a condition; a strip under each shows every frame's status.

    ``condition`` is any :func:`~msa_lib.data.apply_condition` name, or ``"frame_missing"`` to use
    ``missing_rate``.
    """
    batch = collate_samples([split[index]])
    gen = torch.Generator().manual_seed(seed)
    if condition == "frame_missing":
        out = random_frame_missing(batch, missing_rate, generator=gen)
        title = f"frame_missing_{missing_rate:.2f}"
    else:
        out = apply_condition(batch, condition, generator=gen)
        title = condition
    mods = list(MODALITIES)
    fig, axes = plt.subplots(1, len(mods), figsize=(3.6 * len(mods), 3.2), squeeze=False)
    for ax, m in zip(axes[0], mods):
        status = frame_status(batch, out, m)[0]
        x = out[m][0].numpy()
        length = max(int(out[f"{m}_mask"][0].sum()), int((status > 0).sum()), 1)
        _heatmap(ax, x[:length], f"{m}{' (simulated)' if status[0] == 4 else ''}", status=status[:length])
    handles = [plt.Rectangle((0, 0), 1, 1, color=STATUS_CMAP(k)) for k in range(len(STATUS_NAMES))]
    fig.legend(handles, STATUS_NAMES, loc="lower center", ncol=len(STATUS_NAMES), fontsize=8, bbox_to_anchor=(0.5, -0.06))
    fig.suptitle(f"{literal(batch['id'][0])} (label {float(batch['label'][0]):+.2f}) under '{title}'", y=1.02)
    fig.tight_layout()
    return fig


#: the conditions of the precomputed explorer: the named ones, and frame_missing at two rates
EXPLORER_STATIC_CONDITIONS = [
    *[c for c in EXPLORER_CONDITIONS if c != "frame_missing"],
    "frame_missing_0.3",
    "frame_missing_0.7",
]


def missingness_explorer(split, max_index: int | None = None, *, live: bool = False,
                         samples: Sequence[int] = (0, 1, 2), seed: int = 0):
    """An explorer of :func:`show_condition`: pick a sample and a condition.

    By default the views are precomputed (:func:`msa_lib.viz.explorer.explorer`): ``samples`` ×
    :data:`EXPLORER_STATIC_CONDITIONS` (frame_missing at rates 0.3 and 0.7), drawn with ``seed``; the
    controls switch views in the browser, so the explorer also works in the static book. With
    ``live=True``, an ``ipywidgets.interactive`` explorer (needs a kernel): any sample up to
    ``max_index``, any condition, a missing-rate slider (it only matters for ``"frame_missing"``) and
    a seed. Returns the widget (display it as the last expression of a cell).
    """
    import ipywidgets as widgets

    from .explorer import explorer

    def render(index, condition, missing_rate=0.3, seed=seed):
        return show_condition(split, index, condition, missing_rate, seed)

    n = len(split) - 1 if max_index is None else min(max_index, len(split) - 1)
    if live:
        return explorer(render, None, live=True, live_controls={
            "index": widgets.IntSlider(value=0, min=0, max=n, description="sample"),
            "condition": widgets.Dropdown(options=EXPLORER_CONDITIONS, value="complete",
                                          description="condition"),
            "missing_rate": widgets.FloatSlider(value=0.3, min=0.0, max=1.0, step=0.05,
                                                description="missing rate"),
            "seed": widgets.IntText(value=seed, description="seed"),
        })
    samples = [i for i in samples if 0 <= i <= n]
    return explorer(render, {
        "index": widgets.SelectionSlider(options=samples, description="sample"),
        "condition": widgets.Dropdown(options=EXPLORER_STATIC_CONDITIONS, description="condition"),
    })
