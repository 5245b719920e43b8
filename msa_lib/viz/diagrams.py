"""Architecture diagrams of the book, drawn with matplotlib (so they are code, versioned, and restyled in one
place): one SDUMC flow with Unified Modality Cross-Attention (UMCA), the Modality Imagination Autoencoder
(MIA), SDUMC's double flow with its losses, and CorrKD's teacher, student and three distillation losses.

Each function returns a :class:`matplotlib.figure.Figure`; :func:`save_all` writes them as SVG files.
The structures follow the reference re-implementations in :mod:`msa_lib.models` (shapes are those of the
paper's CMU-MOSEI configuration: audio 1024-d, text 4096-d, video 1024-d, hidden 256).
"""

from __future__ import annotations

from pathlib import Path

COLORS = {
    "audio": "#DD8452",
    "text": "#4C72B0",
    "text_sim": "#8172B3",
    "vision": "#55A868",
    "fusion": "#CCB974",
    "loss": "#C44E52",
    "neutral": "#E5E5E5",
    "teacher": "#64B5CD",
    "student": "#DA8BC3",
}


def _plt():
    import matplotlib.pyplot as plt  # lazily: importing msa_lib.viz.diagrams does not start matplotlib

    return plt


def _canvas(width: float, height: float, title: str):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(width, height))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.axis("off")
    ax.set_title(title, fontsize=12, loc="left")
    return fig, ax


def _box(ax, x, y, w, h, text, color="#E5E5E5", fontsize=8.5, alpha=0.9, dashed=False, bold=False):
    """A rounded box centred at (x, y); returns its anchor points."""
    from matplotlib.patches import FancyBboxPatch

    patch = FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                           fc=color, ec="#333333", lw=1.0, alpha=alpha, linestyle="--" if dashed else "-")
    ax.add_patch(patch)
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, wrap=True,
            fontweight="bold" if bold else "normal")
    return {"left": (x - w / 2, y), "right": (x + w / 2, y), "top": (x, y + h / 2), "bottom": (x, y - h / 2)}


def _arrow(ax, start, end, color="#333333", style="-|>", lw=1.0, dashed=False, text=None, rad=0.0):
    from matplotlib.patches import FancyArrowPatch

    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=10, color=color, lw=lw,
                                 linestyle="--" if dashed else "-", connectionstyle=f"arc3,rad={rad}"))
    if text:
        ax.text((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + 0.12, text, fontsize=7, ha="center",
                color=color)


# ------------------------------------------------------------------------------------------------ SDUMC
def sdumc_flow_diagram():
    """One SDUMC flow: projection, attention pooling, fusion weights, 7 unified-modality queries, UMCA
    cross-attention into every modality's frames, weighted fusion, slot weights, regression and RnC heads."""
    fig, ax = _canvas(13, 6.4, "One SDUMC flow with Unified Modality Cross-Attention (UMCA)")
    rows = {"audio": 5.2, "text": 3.4, "vision": 1.6}
    labels = {"audio": "audio frames\n[B, T_a, 1024]", "text": "text tokens (real or\nsimulated) [B, T_t, 4096]",
              "vision": "video frames\n[B, T_v, 1024]"}
    pooled = {}
    for m, y in rows.items():
        src = _box(ax, 1.1, y, 1.9, 0.8, labels[m], COLORS["text" if m == "text" else m], fontsize=7.5)
        proj = _box(ax, 3.0, y, 1.3, 0.7, "Linear → 256", COLORS["neutral"], fontsize=7.5)
        pool = _box(ax, 4.6, y, 1.4, 0.7, "attention\npooling + MLP", COLORS["neutral"], fontsize=7.5)
        _arrow(ax, src["right"], proj["left"])
        _arrow(ax, proj["right"], pool["left"])
        pooled[m] = (pool, proj)
    w = _box(ax, 6.5, 5.9, 1.6, 0.6, "fusion weights w\n(a, t, v)", COLORS["fusion"], fontsize=7.5)
    q = _box(ax, 6.5, 3.4, 1.7, 2.6,
             "7 unified-modality\nqueries\n\ntrimodal  f\nbimodal  at, tv, av\nunimodal  a, t, v\n\nQ: [B, 7, 256]",
             COLORS["fusion"], fontsize=7.5)
    for m, (pool, _) in pooled.items():
        _arrow(ax, pool["right"], q["left"])
    _arrow(ax, (5.3, 5.2), w["left"])
    umca = {}
    for m, y in rows.items():
        umca[m] = _box(ax, 8.7, y, 1.9, 0.8, f"UMCA: Q attends over\n{m} frames → [B, 7, 256]",
                       COLORS["text" if m == "text" else m], fontsize=7.2, alpha=0.55)
        _arrow(ax, q["right"], umca[m]["left"])
        _arrow(ax, pooled[m][1]["bottom"], umca[m]["bottom"], color="#777777", dashed=True, rad=-0.25)
    g = _box(ax, 10.6, 3.4, 1.3, 1.2, "MLP → 128\nΣ_m w_m c_m\nG: [B, 7, 128]", COLORS["fusion"], fontsize=7.2)
    for m in rows:
        _arrow(ax, umca[m]["right"], g["left"])
    _arrow(ax, w["right"], g["top"], color="#8a7a2a", rad=-0.2, text="reuse w")
    e = _box(ax, 12.1, 3.4, 1.4, 1.0, "slot weights z\ne = Σ_k z_k G_k\n[B, 128]", COLORS["fusion"], fontsize=7.2)
    _arrow(ax, g["right"], e["left"])
    pred = _box(ax, 12.1, 5.3, 1.3, 0.6, "ŷ = Linear(e)", COLORS["loss"], fontsize=7.5, alpha=0.6)
    rnc = _box(ax, 12.1, 1.5, 1.4, 0.7, "RnC head r\n[B, 64]", COLORS["loss"], fontsize=7.5, alpha=0.6)
    _arrow(ax, e["top"], pred["bottom"])
    _arrow(ax, e["bottom"], rnc["top"])
    ax.text(0.2, 0.35, "Dashed arrows: the frames each UMCA block attends over (keys/values); padding is masked.",
            fontsize=7.5, color="#555555")
    fig.tight_layout()
    return fig


def mia_diagram():
    """The Modality Imagination Autoencoder: a residual autoencoder that 'imagines' the text representation
    from all three modalities and adds it to the (simulated) text."""
    fig, ax = _canvas(9, 3.6, "Modality Imagination Autoencoder (MIA), student flow only")
    a = _box(ax, 0.9, 2.7, 1.3, 0.55, "x_a  [B, d]", COLORS["audio"])
    t = _box(ax, 0.9, 1.8, 1.3, 0.55, "x_t (simulated)", COLORS["text_sim"])
    v = _box(ax, 0.9, 0.9, 1.3, 0.55, "x_v  [B, d]", COLORS["vision"])
    cat = _box(ax, 2.7, 1.8, 1.2, 0.8, "concat\n[B, 3d]", COLORS["neutral"])
    for b in (a, t, v):
        _arrow(ax, b["right"], cat["left"])
    enc = _box(ax, 4.3, 1.8, 1.4, 0.9, "Linear(3d→d)\nReLU\nLinear(d→d)", COLORS["neutral"], fontsize=8)
    lat = _box(ax, 5.8, 1.8, 1.1, 0.7, "latent\n[B, h]", COLORS["fusion"])
    dec = _box(ax, 7.1, 1.8, 1.1, 0.7, "Linear(h→d)", COLORS["neutral"])
    plus = _box(ax, 8.4, 1.8, 0.6, 0.6, "+", COLORS["text"], fontsize=14)
    _arrow(ax, cat["right"], enc["left"])
    _arrow(ax, enc["right"], lat["left"])
    _arrow(ax, lat["right"], dec["left"])
    _arrow(ax, dec["right"], plus["left"])
    _arrow(ax, (1.55, 1.62), (8.4, 1.5), color=COLORS["text_sim"], rad=0.35, text="residual: + x_t")
    ax.text(0.2, 0.2, "Applied to the pooled text vector (d=256, h=128) and to the cross-attended text slots "
            "(d=128, h=64).", fontsize=7.5, color="#555555")
    fig.tight_layout()
    return fig


def double_flow_diagram():
    """SDUMC's double flow: one network, run on real text (teacher flow) and on text simulated from audio
    (student flow), tied by self-distillation losses."""
    fig, ax = _canvas(12, 5.6, "SDUMC: double-flow self-distillation (one set of weights)")
    t_in = _box(ax, 1.3, 4.3, 2.2, 0.9, "audio + REAL text + video", COLORS["teacher"])
    s_in = _box(ax, 1.3, 1.3, 2.2, 0.9, "audio + SIMULATED text\n(LLM on speech) + video", COLORS["student"],
                fontsize=8)
    t_net = _box(ax, 4.4, 4.3, 2.4, 1.0, "UMCA network\n(teacher flow)", COLORS["teacher"], bold=True)
    s_net = _box(ax, 4.4, 1.3, 2.4, 1.0, "UMCA network + MIA\n(student flow)", COLORS["student"], bold=True)
    _arrow(ax, t_in["right"], t_net["left"])
    _arrow(ax, s_in["right"], s_net["left"])
    _arrow(ax, t_net["bottom"], s_net["top"], style="<|-|>", dashed=True, text="shared weights")
    outs = [("ŷ", 4.9, 1.8), ("text query q_t", 3.9, 2.8), ("text slots c_t", 2.9, 3.8), ("fused e / RnC r", 1.9, 4.8)]
    for name, yt, ys in outs:
        _arrow(ax, (5.6, 4.3), (7.6, yt + 0.05), color=COLORS["teacher"])
        _arrow(ax, (5.6, 1.3), (7.6, yt - 0.05), color=COLORS["student"])
    losses = [
        (4.9, "MSE(ŷ_T, y) + MSE(ŷ_S, y)   task, both flows"),
        (3.9, "RMSE(q_t^S, sg(q_t^T))   distil the text query"),
        (2.9, "RMSE(c_t^S, sg(c_t^T))   distil the cross-attended text"),
        (1.9, "RMSE(e^S, e^T) + Rank-N-Contrast([r^T, r^S], y)"),
    ]
    for y, text in losses:
        _box(ax, 9.7, y, 4.1, 0.7, text, COLORS["loss"], fontsize=7.8, alpha=0.45)
    ax.text(0.2, 0.25, "sg = stop-gradient: the teacher flow is a target, not pulled toward the student. "
            "At test time with text missing only the student flow runs.", fontsize=7.5, color="#555555")
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------------ CorrKD
def corrkd_diagram():
    """CorrKD: a frozen teacher on complete data, a student on Modality-Random-Missing copies, and the three
    correlation-decoupled distillation losses (SCD, CPD, RCD) plus the task loss."""
    fig, ax = _canvas(12.5, 6.2, "CorrKD: correlation-decoupled knowledge distillation")
    data = _box(ax, 1.2, 3.1, 1.9, 1.0, "utterance S\n(text, audio, video)", COLORS["neutral"])
    mrm = _box(ax, 3.1, 1.4, 1.9, 0.9, "Modality Random\nMissing → Ŝ\n(drop modalities,\nzero frames)",
               COLORS["loss"], fontsize=7.2, alpha=0.35)
    teacher = _box(ax, 5.6, 4.8, 2.8, 1.3,
                   "TEACHER (frozen)\nper modality: Conv1d + PE\n+ Transformer → mean-pool\n→ h^t,  head → o^t",
                   COLORS["teacher"], fontsize=7.5)
    student = _box(ax, 5.6, 1.4, 2.8, 1.3,
                   "STUDENT (same architecture)\nper modality: Conv1d + PE\n+ Transformer → mean-pool\n→ h^s,  head → o^s",
                   COLORS["student"], fontsize=7.5)
    _arrow(ax, data["top"], teacher["left"], text="complete")
    _arrow(ax, data["bottom"], mrm["left"])
    _arrow(ax, mrm["right"], student["left"])
    losses = {
        "SCD": (9.6, 5.2, "SCD — sample-level contrastive:\nh^s_i close to h^t_i, far (margin η)\nfrom the other samples' h^t_j"),
        "CPD": (9.6, 3.7, "CPD — category-guided prototypes:\nsample-to-prototype cosine matrices\nof teacher and student agree"),
        "RCD": (9.6, 2.2, "RCD — response-disentangled:\nmaximise JSD mutual information of\ntarget and non-target responses"),
        "task": (9.6, 0.8, "task loss on the student:\nregression (L1) + 7-class CE"),
    }
    for key, (x, y, text) in losses.items():
        box = _box(ax, x, y, 3.6, 1.05, text, COLORS["loss"], fontsize=7.3, alpha=0.4)
        if key in ("SCD", "CPD"):
            _arrow(ax, teacher["right"], box["left"], color=COLORS["teacher"], text="h^t" if key == "SCD" else None)
            _arrow(ax, student["right"], box["left"], color=COLORS["student"], text="h^s" if key == "CPD" else None)
        elif key == "RCD":
            _arrow(ax, teacher["right"], box["left"], color=COLORS["teacher"], rad=0.1)
            _arrow(ax, student["right"], box["left"], color=COLORS["student"], text="o^t, o^s")
        else:
            _arrow(ax, student["right"], box["left"], color=COLORS["student"])
    ax.text(0.2, 0.15, "Only the student runs at test time. The teacher is trained first, on complete data, then frozen.",
            fontsize=7.5, color="#555555")
    fig.tight_layout()
    return fig


DIAGRAMS = {
    "sdumc_flow": sdumc_flow_diagram,
    "mia": mia_diagram,
    "sdumc_double_flow": double_flow_diagram,
    "corrkd": corrkd_diagram,
}


def save_all(folder: str | Path) -> list[Path]:
    """Write every diagram as ``<folder>/<name>.svg``; returns the paths."""
    plt = _plt()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, draw in DIAGRAMS.items():
        fig = draw()
        path = folder / f"{name}.svg"
        fig.savefig(path, format="svg", bbox_inches="tight")
        plt.close(fig)
        paths.append(path)
    return paths
