"""Figures, tables and the widget of notebook 05 (CorrKD).

* :func:`plot_scd_distances` — SCD's student-to-teacher distance matrices (diagonal = positives);
* :func:`plot_prototype_matrices` — CPD's sample-to-prototype cosine matrices, teacher vs student;
* :func:`plot_responses` — RCD's target / non-target decomposition of one sample's responses;
* :func:`corrkd_table` — the paper's table: methods × conditions, mean ± std over seeds, with the
  "Avg." over the six missing conditions;
* :func:`plot_metric_vs_rate`, :func:`missing_rate_widget` — a metric versus the frame-missing rate
  (static, and a widget over results already computed: precomputed for the static book, or live);
* :func:`plot_mrm_batch` — what Modality Random Missing does to a training batch;
* :func:`plot_condition_bars`, :func:`plot_learning_curves`.

Everything reads result rows (``{"method", "condition", "seed", "metrics"}``) or tensors; nothing
here trains.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import torch

from ..data import CORRKD_CONDITIONS, frame_missing_rate

__all__ = [
    "METHOD_LABELS",
    "plot_scd_distances",
    "plot_prototype_matrices",
    "plot_responses",
    "corrkd_table",
    "missing_block_table",
    "condition_means",
    "plot_metric_vs_rate",
    "plot_f1_and_mae_vs_rate",
    "plot_rate_curves",
    "metric_scale",
    "missing_rate_widget",
    "plot_condition_bars",
    "plot_learning_curves",
    "plot_mrm_batch",
]

#: Display names of the methods.
METHOD_LABELS = {
    "teacher": "teacher (complete data)",
    "corrkd": "CorrKD",
    "student_no_kd": "student, no KD",
    "student_plain_kd": "student, plain KD",
    "corrkd_no_scd": "CorrKD w/o SCD",
    "corrkd_no_cpd": "CorrKD w/o CPD",
    "corrkd_no_rcd": "CorrKD w/o RCD",
    "corrkd_rcd_kl": "CorrKD, RCD→KL",
    "corrkd_zero_missing": "CorrKD, zero block for a missing modality",
}


def _plt():
    import matplotlib.pyplot as plt

    return plt


def _np(x) -> np.ndarray:
    return x.detach().float().cpu().numpy() if torch.is_tensor(x) else np.asarray(x, dtype=float)


# ----------------------------------------------------------------------------------------------
# what each term looks at
# ----------------------------------------------------------------------------------------------
def plot_scd_distances(pairs: Mapping[str, tuple], margin: float = 1.0, normalize: bool = True, axes=None):
    r"""Heat maps of :math:`D_{ij} = \lVert h_i^s - h_j^t \rVert` for each (title → (h_student, h_teacher)).

    SCD wants a dark diagonal (each student representation close to its own teacher's) and bright
    off-diagonal entries (at least the margin away from the other samples'). The colour scale is
    shared; the margin is marked on the colour bar.
    """
    plt = _plt()
    if axes is None:
        _, axes = plt.subplots(1, len(pairs), figsize=(4.2 * len(pairs), 3.6), squeeze=False)
        axes = axes[0]
    mats = []
    for hs, ht in pairs.values():
        hs, ht = torch.as_tensor(_np(hs)), torch.as_tensor(_np(ht))
        if normalize:
            hs, ht = torch.nn.functional.normalize(hs, dim=-1), torch.nn.functional.normalize(ht, dim=-1)
        mats.append(torch.cdist(hs, ht).numpy())
    vmax = max(float(m.max()) for m in mats)
    im = None
    for ax, title, mat in zip(axes, pairs, mats):
        im = ax.imshow(mat, cmap="viridis", vmin=0, vmax=vmax)
        diag, off = np.diag(mat).mean(), mat[~np.eye(len(mat), dtype=bool)].mean()
        ax.set_title(f"{title}\nmean diag {diag:.2f} · off-diag {off:.2f}", fontsize=10)
        ax.set_xlabel("teacher sample j")
        ax.set_ylabel("student sample i")
    cbar = axes[-1].figure.colorbar(im, ax=list(axes), shrink=0.85)
    cbar.ax.axhline(margin, color="white", lw=2)
    cbar.set_label(r"$D_{ij}$ (white line: margin $\eta$)")
    return axes


def plot_prototype_matrices(m_student, m_teacher, classes, class_names: Sequence[str] | None = None,
                            order=None, axes=None, title_student: str = "student"):
    r"""CPD's matrices side by side: :math:`M^t`, :math:`M^s` and :math:`M^t - M^s` (rows: samples
    sorted by class; columns: the classes present)."""
    plt = _plt()
    mt, ms = _np(m_teacher), _np(m_student)
    classes = [int(c) for c in _np(classes)]
    if order is not None:
        mt, ms = mt[order], ms[order]
    names = [class_names[c] if class_names else str(c) for c in classes]
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(11, 3.8))
    for ax, mat, title, cmap, lim in (
        (axes[0], mt, "teacher $M^t$", "coolwarm", 1.0),
        (axes[1], ms, f"{title_student} $M^s$", "coolwarm", 1.0),
        (axes[2], mt - ms, "$M^t - M^s$", "PuOr", max(1e-6, float(np.abs(mt - ms).max()))),
    ):
        im = ax.imshow(mat, aspect="auto", cmap=cmap, vmin=-lim, vmax=lim, interpolation="nearest")
        ax.set_xticks(range(len(names)), names)
        ax.set_xlabel("prototype (class)")
        ax.set_title(title, fontsize=10)
        ax.figure.colorbar(im, ax=ax, shrink=0.8)
    axes[0].set_ylabel("sample (sorted by class)")
    return axes


def plot_responses(teacher_logits, student_logits, label: int, temperature: float = 1.0,
                   class_names: Sequence[str] | None = None, students: Mapping[str, object] | None = None,
                   axes=None):
    r"""RCD's view of one sample: the full softmax, the target part :math:`[p_y, 1-p_y]` and the
    renormalised non-target part :math:`\hat p`, for the teacher and one or more students.

    ``students`` maps names to student logits [C] (default: one student, ``student_logits``).
    """
    from ..losses.corrkd import disentangle_responses

    plt = _plt()
    students = dict(students) if students else {"student": student_logits}
    rows = {"teacher": teacher_logits, **students}
    c = len(_np(teacher_logits).reshape(-1))
    names = list(class_names) if class_names else [str(k) for k in range(c)]
    y = torch.tensor([int(label)])
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(12, 3.4), gridspec_kw={"width_ratios": [c, 2, c - 1]})
    width = 0.8 / len(rows)
    for k, (name, logits) in enumerate(rows.items()):
        o = torch.as_tensor(_np(logits)).reshape(1, -1)
        p = torch.softmax(o / temperature, -1)[0].numpy()
        b, nt = disentangle_responses(o, y, temperature)
        off = (k - (len(rows) - 1) / 2) * width
        axes[0].bar(np.arange(c) + off, p, width, label=name)
        axes[1].bar(np.arange(2) + off, b[0].numpy(), width, label=name)
        axes[2].bar(np.arange(c - 1) + off, nt[0].numpy(), width, label=name)
    axes[0].set_xticks(range(c), [n + (" ★" if i == int(label) else "") for i, n in enumerate(names)])
    axes[0].set_title("softmax response $p$ (★ = target class)", fontsize=10)
    axes[1].set_xticks([0, 1], ["$p_y$", "$1-p_y$"])
    axes[1].set_title("target part $b$", fontsize=10)
    axes[2].set_xticks(range(c - 1), [n for i, n in enumerate(names) if i != int(label)])
    axes[2].set_title(r"non-target part $\hat p$ (renormalised)", fontsize=10)
    axes[0].legend(fontsize=8)
    for ax in axes:
        ax.set_ylim(0, 1)
    return axes


# ----------------------------------------------------------------------------------------------
# tables and curves from result rows
# ----------------------------------------------------------------------------------------------
def condition_means(rows: Sequence[Mapping], metric: str, scale: float = 1.0):
    """DataFrame with columns method, condition, seed, value (``metrics[metric] * scale``)."""
    import pandas as pd

    if not rows:
        raise ValueError("condition_means: no rows")
    missing = [r.get("method") for r in rows if metric not in r["metrics"]]
    if missing:
        raise KeyError(f"metric {metric!r} is not in the rows' metrics (e.g. {sorted(rows[0]['metrics'])})")
    return pd.DataFrame.from_records(
        [{"method": r["method"], "condition": r["condition"], "seed": r["seed"],
          "value": float(r["metrics"][metric]) * scale} for r in rows]
    )


def _mean_sd(values) -> tuple[float, float]:
    """Mean and sample std (ddof=1) over seeds; NaN std for one seed; NaN in, NaN out (never dropped)."""
    v = np.asarray(values, dtype=float)
    if not len(v):
        return math.nan, math.nan
    return float(v.mean()), (float(v.std(ddof=1)) if len(v) > 1 else math.nan)


def _cell(mean: float, sd: float, digits: int) -> str:
    if math.isnan(sd) and not math.isnan(mean):
        return f"{mean:.{digits}f} (1 seed)"
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def missing_block_table(distances: Mapping[str, Mapping[str, float]], digits: int = 3):
    """:func:`msa_lib.training.corrkd.missing_block_distance` of several models as a table: one row per method,
    one column per modality, mean ± sample std over seeds ("(1 seed)" for one). ``distances`` maps
    ``"method/seed"`` to ``{modality: delta}``, as results files store them (``extra["missing_block_distance"]``).
    1.0 = a zero block; lower = the absent modality's block closer to the teacher's."""
    import pandas as pd

    by_method: dict[str, dict[str, list[float]]] = {}
    for key, per_modality in distances.items():
        method = key.rsplit("/", 1)[0]
        for m, v in per_modality.items():
            by_method.setdefault(method, {}).setdefault(m, []).append(float(v))
    table = {METHOD_LABELS.get(method, method): {m: _cell(*_mean_sd(v), digits) for m, v in cols.items()}
             for method, cols in by_method.items()}
    return pd.DataFrame.from_dict(table, orient="index")


def corrkd_table(rows: Sequence[Mapping], metric: str = "Non0_F1_score", *, methods: Sequence[str] | None = None,
                 conditions: Sequence[str] = (*CORRKD_CONDITIONS, "complete"), scale: float = 100.0,
                 digits: int = 2, with_std: bool = True):
    """The paper's Table 1 layout: one row per method, one column per condition plus "Avg." (the
    mean over the six *missing* conditions, complete excluded, as CorrKD averages), cells mean ± std
    over seeds (the sample std, ``ddof=1``; a cell of one seed shows "(1 seed)" instead of a spread, and a NaN
    seed makes its cell NaN). The Avg. of a seed is computed first, then averaged over seeds."""
    frame = condition_means(rows, metric, scale)
    methods = list(methods) if methods is not None else list(dict.fromkeys(frame["method"]))
    missing_conds = [c for c in conditions if c in CORRKD_CONDITIONS]
    table = {}
    for m in methods:
        sub = frame[frame["method"] == m]
        if sub.empty:
            raise KeyError(f"corrkd_table: no rows for method {m!r}")
        cells = {}
        for c in conditions:
            v = sub[sub["condition"] == c]["value"].to_numpy()
            cells[c] = _mean_sd(v)
            if missing_conds and c == missing_conds[-1]:  # "Avg." right after the last missing condition
                per_seed = sub[sub["condition"].isin(missing_conds)].groupby("seed")["value"].mean().to_numpy()
                cells["Avg."] = _mean_sd(per_seed)
        table[METHOD_LABELS.get(m, m)] = {
            k: (_cell(a, s, digits) if with_std else round(a, digits)) for k, (a, s) in cells.items()
        }
    import pandas as pd

    return pd.DataFrame.from_dict(table, orient="index")


def _rate_curve(frame, method):
    sub = frame[frame["method"] == method].copy()
    sub["rate"] = [frame_missing_rate(c) for c in sub["condition"]]
    sub = sub.dropna(subset=["rate"])
    g = sub.groupby("rate")["value"]
    return g.mean().index.to_numpy(), g.mean().to_numpy(), g.std(ddof=1).fillna(0).to_numpy()  # sample std; one seed: no band


def plot_metric_vs_rate(rows: Sequence[Mapping], metric: str = "Non0_F1_score", methods: Sequence[str] | None = None,
                        scale: float = 100.0, ax=None):
    """A metric versus the frame-missing rate, one line per method (mean over seeds, ±1 std band)."""
    plt = _plt()
    frame = condition_means([r for r in rows if frame_missing_rate(r["condition"]) is not None], metric, scale)
    methods = list(methods) if methods is not None else list(dict.fromkeys(frame["method"]))
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    for m in methods:
        x, mean, std = _rate_curve(frame, m)
        if len(x) == 0:
            continue
        line, = ax.plot(x, mean, marker="o", ms=3, label=METHOD_LABELS.get(m, m))
        ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.15)
    ax.set_xlabel("frame-missing rate p (every modality)")
    ax.set_ylabel(metric + (f" (×{scale:g})" if scale != 1 else ""))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def metric_scale(metric: str) -> float:
    """How a metric is shown: ×100 for accuracies and F1 scores, as they are (×1) for MAE and Corr."""
    return 1.0 if metric in ("MAE", "Corr") else 100.0


def _metric_title(metric: str) -> str:
    return metric.replace("_score", "").replace("_", " ") + (" (lower is better)" if metric == "MAE" else "")


def plot_rate_curves(rows: Sequence[Mapping], metrics: Sequence[str], methods: Sequence[str] | None = None,
                     title: str = ""):
    """CorrKD's frame-level curves, one panel per metric side by side (e.g. the data set's headline F1 and
    MAE), with ``title`` before each panel's name. Returns the figure."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(metrics), figsize=(6 * len(metrics), 4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        plot_metric_vs_rate(rows, metric, methods=methods, scale=metric_scale(metric), ax=ax)
        ax.set_title(f"{title}{_metric_title(metric)} vs frame-missing rate")
    fig.tight_layout()
    return fig


def plot_f1_and_mae_vs_rate(rows: Sequence[Mapping], methods: Sequence[str] | None = None, title: str = ""):
    """:func:`plot_rate_curves` of MOSI / MOSEI's Non0 F1 (×100, higher is better) and MAE (lower is better)."""
    return plot_rate_curves(rows, ("Non0_F1_score", "MAE"), methods=methods, title=title)


def missing_rate_widget(rows: Sequence[Mapping], methods: Sequence[str] | None = None,
                        metrics: Sequence[str] = ("Non0_F1_score", "Has0_F1_score", "Non0_acc_2", "Mult_acc_7", "MAE", "Corr"),
                        *, live: bool = False):
    """"Metric versus missing rate" over results already computed (no training): a metric drop-down
    redraws :func:`plot_metric_vs_rate` for ``methods``. Pass the data set's own ``metrics``
    (``msa_lib.metrics.metric_keys(dataset.metric_dataset)``) for CH-SIMS or IEMOCAP.

    By default the figures of every metric are precomputed (:func:`msa_lib.viz.explorer.explorer`) and the
    drop-down switches between them in the browser, so the widget also works in the static book. With
    ``live=True``, an ``ipywidgets.interactive`` widget (needs a kernel) that also has a method
    multi-select."""
    import ipywidgets as widgets

    from .explorer import explorer

    plt = _plt()
    all_methods = list(dict.fromkeys(r["method"] for r in rows))
    chosen = [m for m in (methods or all_methods) if m in all_methods]
    metrics = list(metrics)

    def draw(metric, methods=tuple(chosen)):
        fig, ax = plt.subplots(figsize=(6.5, 4))
        plot_metric_vs_rate(rows, metric, list(methods), scale=metric_scale(metric), ax=ax)
        fig.tight_layout()
        return fig

    if live:
        return explorer(draw, None, live=True, live_controls={
            "metric": widgets.Dropdown(options=metrics, value=metrics[0], description="metric"),
            "methods": widgets.SelectMultiple(options=all_methods, value=tuple(chosen), description="methods",
                                              rows=min(8, len(all_methods))),
        })
    return explorer(draw, {"metric": widgets.Dropdown(options=metrics, description="metric")})


def plot_condition_bars(rows: Sequence[Mapping], metric: str = "Non0_F1_score", methods: Sequence[str] | None = None,
                        conditions: Sequence[str] = ("complete", *CORRKD_CONDITIONS), scale: float = 100.0, ax=None):
    """Grouped bars: a metric per whole-modality condition and method (mean over seeds, ±1 std)."""
    plt = _plt()
    frame = condition_means(rows, metric, scale)
    methods = list(methods) if methods is not None else list(dict.fromkeys(frame["method"]))
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 3.8))
    width = 0.8 / len(methods)
    x = np.arange(len(conditions))
    for k, m in enumerate(methods):
        sub = frame[frame["method"] == m]
        mean = [sub[sub["condition"] == c]["value"].mean() for c in conditions]
        std = [sub[sub["condition"] == c]["value"].std(ddof=1) for c in conditions]  # sample std
        ax.bar(x + (k - (len(methods) - 1) / 2) * width, mean, width, yerr=std, capsize=2,
               label=METHOD_LABELS.get(m, m))
    ax.set_xticks(x, conditions, rotation=20)
    ax.set_ylabel(metric + (f" (×{scale:g})" if scale != 1 else ""))
    top = float(np.nanmax(frame["value"])) if len(frame) else 1.0
    ax.set_ylim(0, top * 1.22)  # room for the legend above the bars
    ax.legend(fontsize=8, ncol=min(4, len(methods)), loc="upper center")
    ax.grid(axis="y", alpha=0.3)
    return ax


def plot_learning_curves(histories: Mapping[str, Mapping], key: str = "valid_score", ax=None):
    """One validation curve per (name → FitResult dict with a ``history`` list)."""
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.6))
    for name, hist in histories.items():
        if not hist or "history" not in hist:
            continue
        epochs = [h["epoch"] for h in hist["history"]]
        ax.plot(epochs, [h.get(key, math.nan) for h in hist["history"]], marker="o", ms=3,
                label=METHOD_LABELS.get(name, name))
    ax.set_xlabel("epoch")
    ax.set_ylabel(key)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def plot_mrm_batch(batch: Mapping, corrupted: Mapping, n: int = 12, modalities=("text", "audio", "vision"), axes=None):
    """What Modality Random Missing did to the first ``n`` samples of a batch: per modality, each frame
    is *kept* (dark), *dropped* (light: zeroed frame or whole modality removed) or padding (white).

    ``corrupted`` is :func:`msa_lib.training.corrkd.modality_random_missing` of ``batch``; the
    kept subset and the frame rate of each sample label the rows when present.
    """
    plt = _plt()
    from matplotlib.colors import ListedColormap

    if axes is None:
        _, axes = plt.subplots(1, len(modalities), figsize=(4.2 * len(modalities), 0.28 * n + 1.2), squeeze=False)
        axes = axes[0]
    for ax, m in zip(axes, modalities):
        real = _np(batch[f"{m}_mask"])[:n].astype(bool)
        present = _np(corrupted[f"{m}_mask"])[:n].astype(bool) & (np.abs(_np(corrupted[m])[:n]).sum(-1) > 0)
        state = np.where(real, np.where(present, 2, 1), 0)
        ax.imshow(state, aspect="auto", interpolation="nearest", vmin=0, vmax=2,
                  cmap=ListedColormap(["white", "#f4b183", "#1f4e79"]))
        ax.set_title(f"{m}: dark = kept, orange = dropped", fontsize=10)
        ax.set_xlabel("frame")
        ax.set_yticks([])
    if "frame_missing_rate" in corrupted and "kept_subset" in corrupted:
        from ..training.corrkd import MODALITY_SUBSETS

        subsets = _np(corrupted["kept_subset"])[:n].astype(int)
        rates = _np(corrupted["frame_missing_rate"])[:n]
        labels = ["+".join(s[0] for s in MODALITY_SUBSETS[k]) + f", p={r:.1f}" for k, r in zip(subsets, rates)]
        axes[0].set_yticks(range(len(labels)), labels, fontsize=7)
        axes[0].set_ylabel("kept modalities, frame rate")
    return axes
