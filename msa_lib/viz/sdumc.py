"""Figures and widgets for the SDUMC chapters (notebooks 02–04).

* :func:`plot_learning_curves` — training loss and validation MAE per epoch of a :class:`FitResult`;
* :func:`plot_query_attention` — what the 7 unified-modality queries attend to in one sample;
* :func:`attention_viewer` — an ipywidgets viewer (pick a sample and a query), precomputed or live;
* :func:`flow_embeddings` / :func:`plot_flow_embeddings` — the fused embeddings of the teacher flow
  (real text) and of the student flow (simulated text), projected on a shared PCA plane;
* :func:`plot_missing_text_results` — mean ± std over seeds of one metric per method and condition.

Every function draws with matplotlib and returns the figure; functions that summarise numbers also
return them, so notebooks print computed sentences instead of typed numbers.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..data import apply_condition, make_loader
from ..models.umca import MODALITIES, QUERY_NAMES
from ..training.core import move_to_device

MODALITY_COLORS = {"text": "#1f77b4", "audio": "#2ca02c", "vision": "#d62728", "text_sim": "#ff7f0e"}
FLOW_COLORS = {"teacher": "#1f77b4", "student": "#ff7f0e"}
CONDITION_COLORS = {"complete": "#4c72b0", "text_missing": "#dd8452"}


def _history(result) -> list[dict]:
    if hasattr(result, "history"):
        return list(result.history)
    if isinstance(result, Mapping) and "history" in result:
        return list(result["history"])
    return list(result)


def plot_learning_curves(result, title: str | None = None, loss_terms: Sequence[str] | None = None):
    """Left: training loss (and the unweighted loss terms in ``loss_terms`` found in the history);
    right: validation MAE per condition (``valid_MAE`` and any ``valid_<condition>_MAE``), with the
    selected epoch marked. ``result`` is a FitResult, its dict form, or a history list."""
    hist = _history(result)
    if not hist:
        raise ValueError("plot_learning_curves: the history is empty")
    epochs = [h["epoch"] for h in hist]
    fig, (ax_l, ax_r) = plt.subplots(1, 2, figsize=(10, 3.4))
    ax_l.plot(epochs, [h["train_loss"] for h in hist], "k-o", ms=3, label="total loss")
    for term in loss_terms or ():
        if term in hist[0]:
            ax_l.plot(epochs, [h[term] for h in hist], "-", lw=1, label=term)
    ax_l.set_xlabel("epoch")
    ax_l.set_ylabel("training loss")
    ax_l.legend(fontsize=8)
    keys = [k for k in hist[0] if k.startswith("valid_") and k.endswith("_MAE")]
    if not keys:
        keys = ["valid_MAE"]
    for k in keys:
        name = k[len("valid_"):-len("_MAE")] or "valid"
        ax_r.plot(epochs, [h.get(k, np.nan) for h in hist], "-o", ms=3,
                  color=CONDITION_COLORS.get(name), label=f"valid MAE ({name or 'complete'})")
    best = int(np.nanargmin([h["valid_score"] for h in hist]))
    ax_r.axvline(epochs[best], color="grey", ls=":", lw=1, label=f"selected epoch {epochs[best]}")
    ax_r.set_xlabel("epoch")
    ax_r.set_ylabel("validation MAE")
    ax_r.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _evidence_index(frames) -> np.ndarray:
    """Frame indices from an evidence annotation (a bool [T] mask, as ``split.evidence_frames`` gives,
    or already indices)."""
    frames = np.asarray(frames)
    return np.flatnonzero(frames) if frames.dtype == bool else frames.astype(int)


def _real_length(batch: Mapping[str, Any], modality: str, i: int) -> int:
    return int(batch[f"{modality}_mask"][i].sum())


@torch.no_grad()
def model_outputs(model, batch: Mapping[str, Any], condition: str = "complete"):
    """Run ``model`` in eval mode on ``batch`` under ``condition``; returns ``(batch, outputs)``."""
    was = model.training
    model.eval()
    try:
        b = apply_condition(batch, condition)
        device = next(model.parameters()).device
        out = model(move_to_device(b, device))
    finally:
        model.train(was)
    return b, out


def plot_query_attention(outputs: Mapping[str, Any], batch: Mapping[str, Any], sample: int = 0,
                         evidence: Mapping[str, np.ndarray] | None = None, title: str | None = None):
    """Heat maps [7 queries × real frames] of the UMCA attention of one sample, one panel per modality.

    ``evidence`` (``split.evidence_frames(i)`` of the synthetic data) marks the frames that carry
    sentiment with ticks under each panel. Returns the figure.
    """
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.0), gridspec_kw={"width_ratios": [
        max(2, _real_length(batch, m, sample)) for m in MODALITIES]})
    for ax, m in zip(axes, MODALITIES):
        n = _real_length(batch, m, sample)
        a = outputs["attention"][m][sample, :, :n].float().cpu().numpy()
        im = ax.imshow(a, aspect="auto", cmap="viridis", vmin=0)
        ax.set_title(f"{m} ({n} frames)", fontsize=10)
        ax.set_yticks(range(len(QUERY_NAMES)))
        ax.set_yticklabels(QUERY_NAMES if m == MODALITIES[0] else [""] * len(QUERY_NAMES), fontsize=8)
        ax.set_xlabel("frame")
        if evidence is not None and m in evidence and _evidence_index(evidence[m]).size:
            ev = _evidence_index(evidence[m])
            ev = ev[ev < n]
            ax.plot(ev, np.full(ev.shape, len(QUERY_NAMES) - 0.5), "r^", ms=5, clip_on=False,
                    label="sentiment-bearing frame")
            ax.legend(fontsize=7, loc="upper right")
        fig.colorbar(im, ax=ax, fraction=0.04)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def attention_mass_on_evidence(outputs: Mapping[str, Any], batch: Mapping[str, Any], split,
                               modality: str = "text") -> dict[str, float]:
    """Mean attention mass each query puts on the sentiment-bearing frames of ``modality`` (synthetic
    data only: ``split.evidence_frames``), and the share those frames have of the real frames (what a
    uniform attention would give). Returns ``{query: mass, ..., "uniform": share}``."""
    att = outputs["attention"][modality].float().cpu().numpy()
    mass = np.zeros(len(QUERY_NAMES))
    share = []
    count = 0
    for i, idx in enumerate(batch["index"].tolist()):
        ev = _evidence_index(split.evidence_frames(idx).get(modality, np.zeros(0, dtype=bool)))
        n = _real_length(batch, modality, i)
        ev = ev[ev < n]
        if n == 0 or ev.size == 0:
            continue
        mass += att[i][:, ev].sum(-1)  # [7]
        share.append(ev.size / n)
        count += 1
    if count == 0:
        raise ValueError(f"attention_mass_on_evidence: no sample has evidence frames for '{modality}'")
    out = {q: float(v / count) for q, v in zip(QUERY_NAMES, mass)}
    out["uniform"] = float(np.mean(share))
    return out


def attention_viewer(model, batch: Mapping[str, Any], split=None, condition: str = "complete", *,
                     live: bool = False, samples: Sequence[int] = (0, 1, 2)):
    """A viewer of the UMCA attention: pick a sample and a query; shows, per modality, the chosen
    query's attention over the real frames (bars), with evidence frames in red when ``split`` has them
    (synthetic data).

    By default the views are precomputed (:func:`msa_lib.viz.explorer.explorer`): ``samples`` (indices
    into ``batch``) × the 7 queries; the controls switch views in the browser, so the viewer also works
    in the static book. With ``live=True``, an ``ipywidgets.interactive`` viewer over every sample of
    the batch (needs a kernel). Returns the widget (display it in a notebook)."""
    import ipywidgets as widgets

    from .explorer import explorer

    b, out = model_outputs(model, batch, condition)
    n_samples = int(b["label"].shape[0])
    pred = out["pred"].float().cpu().numpy()

    def draw(sample: int = 0, query: str = QUERY_NAMES[0]):
        q = QUERY_NAMES.index(query)
        fig, axes = plt.subplots(1, 3, figsize=(12, 2.6))
        ev = None
        if split is not None and getattr(split, "evidence", None):  # synthetic data only
            ev = split.evidence_frames(int(b["index"][sample]))
        for ax, m in zip(axes, MODALITIES):
            n = _real_length(b, m, sample)
            a = out["attention"][m][sample, q, :n].float().cpu().numpy()
            colors = [MODALITY_COLORS[m]] * n
            if ev is not None and m in ev:
                for t in _evidence_index(ev[m]):
                    if t < n:
                        colors[t] = "red"
            ax.bar(np.arange(n), a, color=colors)
            ax.set_title(f"{m}: {n} frames", fontsize=9)
            ax.set_xlabel("frame")
        axes[0].set_ylabel("attention")
        fig.suptitle(f"sample {sample} (label {float(b['label'][sample]):+.2f}, prediction {pred[sample]:+.2f}), "
                     f"query '{query}'" + (" — red: sentiment-bearing frames" if ev is not None else ""),
                     fontsize=10)
        fig.tight_layout()
        return fig

    if live:
        return explorer(draw, None, live=True, live_controls={
            "sample": widgets.IntSlider(min=0, max=n_samples - 1, value=0, description="sample"),
            "query": widgets.Dropdown(options=list(QUERY_NAMES), value=QUERY_NAMES[0], description="query"),
        })
    samples = [i for i in samples if 0 <= i < n_samples]
    return explorer(draw, {
        "sample": widgets.SelectionSlider(options=samples, description="sample"),
        "query": widgets.Dropdown(options=list(QUERY_NAMES), description="query"),
    }, tight=False)  # the figure is laid out to fit (tight_layout): one draw per view, not two


@torch.no_grad()
def flow_embeddings(model, split, key: str = "fused", batch_size: int = 256) -> dict[str, np.ndarray]:
    """The ``key`` output (``"fused"`` or ``"proj"``) of both flows for every sample of ``split``, in
    eval mode: ``{"teacher": [N, C], "student": [N, C], "labels": [N]}``. The teacher flow sees the
    real text, the student flow the simulated text (:meth:`UMCANet.double_flow`)."""
    was = model.training
    model.eval()
    device = next(model.parameters()).device
    out = {"teacher": [], "student": [], "labels": []}
    try:
        for batch in make_loader(split, batch_size):
            teacher, student = model.double_flow(move_to_device(batch, device))
            out["teacher"].append(teacher[key].float().cpu())
            out["student"].append(student[key].float().cpu())
            out["labels"].append(batch["label"])
    finally:
        model.train(was)
    return {k: torch.cat(v).numpy() for k, v in out.items()}


def flow_gap(emb: Mapping[str, np.ndarray]) -> float:
    """Mean distance between a sample's teacher and student embeddings, relative to the mean distance
    between teacher embeddings of *different* samples (0 = the flows coincide; 1 = as far apart as
    two random utterances)."""
    t, s = np.asarray(emb["teacher"]), np.asarray(emb["student"])
    paired = np.linalg.norm(t - s, axis=1).mean()
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(t))
    other = np.linalg.norm(t - t[perm], axis=1)[perm != np.arange(len(t))].mean()
    return float(paired / max(other, 1e-12))


def _pca(x: np.ndarray, k: int = 2):
    mean = x.mean(0, keepdims=True)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    explained = (s ** 2) / max((s ** 2).sum(), 1e-12)
    return mean, vt[:k], explained[:k]


def plot_flow_embeddings(embeddings: Mapping[str, Mapping[str, np.ndarray]], n_links: int = 40):
    """One panel per entry of ``embeddings`` (e.g. ``{"before": flow_embeddings(...), "after": ...}``):
    teacher (circles) and student (triangles) embeddings on a PCA plane fitted to both flows, coloured
    by label, with thin lines joining the two flows of ``n_links`` samples. Returns ``(fig, gaps)``
    with :func:`flow_gap` per panel."""
    fig, axes = plt.subplots(1, len(embeddings), figsize=(5.2 * len(embeddings), 4.2), squeeze=False)
    gaps = {}
    sc = None
    for ax, (name, emb) in zip(axes[0], embeddings.items()):
        both = np.concatenate([emb["teacher"], emb["student"]])
        mean, comps, explained = _pca(both)
        t = (emb["teacher"] - mean) @ comps.T
        s = (emb["student"] - mean) @ comps.T
        y = emb["labels"]
        for i in range(min(n_links, len(y))):
            ax.plot([t[i, 0], s[i, 0]], [t[i, 1], s[i, 1]], color="grey", lw=0.5, alpha=0.6)
        sc = ax.scatter(t[:, 0], t[:, 1], c=y, cmap="coolwarm", vmin=-3, vmax=3, s=14, marker="o",
                        edgecolors="none", label="teacher flow (real text)")
        ax.scatter(s[:, 0], s[:, 1], c=y, cmap="coolwarm", vmin=-3, vmax=3, s=18, marker="^",
                   edgecolors="k", linewidths=0.3, label="student flow (simulated text)")
        gaps[name] = flow_gap(emb)
        ax.set_title(f"{name}: flow gap {gaps[name]:.2f}", fontsize=10)
        ax.set_xlabel(f"PC1 ({100 * explained[0]:.0f}%)")
        ax.set_ylabel(f"PC2 ({100 * explained[1]:.0f}%)")
        ax.legend(fontsize=7, loc="best")
    if sc is not None:
        fig.colorbar(sc, ax=axes[0].tolist(), label="sentiment label", fraction=0.03)
    return fig, gaps


def plot_missing_text_results(rows: Sequence[Mapping[str, Any]], metric: str = "MAE",
                              methods: Sequence[str] | None = None,
                              conditions: Sequence[str] = ("complete", "text_missing")):
    """Grouped bars: mean ± std over seeds of ``metric`` per method (x) and condition (colour), with
    the individual seeds as dots. Returns the figure."""
    methods = list(methods) if methods is not None else list(dict.fromkeys(r["method"] for r in rows))
    fig, ax = plt.subplots(figsize=(1.5 * len(methods) + 2, 3.6))
    width = 0.8 / len(conditions)
    for k, c in enumerate(conditions):
        means, stds = [], []
        for i, m in enumerate(methods):
            vals = [float(r["metrics"][metric]) for r in rows if r["method"] == m and r["condition"] == c]
            means.append(np.mean(vals) if vals else np.nan)
            stds.append(np.std(vals) if vals else np.nan)
            x = i + (k - (len(conditions) - 1) / 2) * width
            ax.plot([x] * len(vals), vals, "k.", ms=3)
        xs = np.arange(len(methods)) + (k - (len(conditions) - 1) / 2) * width
        ax.bar(xs, means, width, yerr=stds, capsize=3, color=CONDITION_COLORS.get(c), alpha=0.85, label=c)
    ax.set_xticks(range(len(methods)))
    ax.set_xticklabels(methods, rotation=20, ha="right")
    ax.set_ylabel(f"test {metric} (mean ± std over seeds)")
    ax.legend()
    fig.tight_layout()
    return fig
