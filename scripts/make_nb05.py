"""Build notebooks/05_corrkd.ipynb (outputs empty) from the cells below.

    .venv/bin/python scripts/make_nb05.py
"""

from __future__ import annotations

from nbgen import Notebook

nb = Notebook("05_corrkd.ipynb")
md, code, BADGE = nb.md, nb.code, nb.badge


md(f"""
# 05 · CorrKD: distilling a complete-data teacher into a student that copes with missing modalities

A model trained on complete text, audio and video learns to lean on whatever is most informative —
usually the text — and falls apart the day the transcript is missing. CorrKD (Li et al., CVPR 2024)
keeps such a model as a **teacher** and trains a **student** of the same architecture on randomly
corrupted copies of the same utterances, asking it not only to predict the sentiment but to *relate
samples the way the teacher does*: each sample to the others (SCD), each sample to the sentiment
categories (CPD), and the teacher's confident and not-so-confident answers to its own (RCD). This chapter
builds the three losses from their equations, shows on real tensors what each one compares, trains the
student against two honest baselines and measures what the distillation buys under every missing-modality
condition of the paper and under frame-level missingness.

**What you will learn**

- the teacher–student recipe and *Modality Random Missing*, the corruption the student trains on;
- the three correlation-decoupled losses — sample-level contrastive (SCD), category-guided prototype (CPD)
  and response-disentangled consistency (RCD) distillation — and what each one looks at;
- how to evaluate under CorrKD's six whole-modality conditions and frame-missing rates 0.0–0.9, with
  model selection on the validation split and mean ± std over seeds;
- how to read an ablation, and how to report a method that does — or does not — beat its baselines.

{BADGE}
""")

nb.colab_setup()

code('''
import os
QUICK = os.environ.get("MSA_QUICK", "1") != "0"  # quick: small data, few epochs, CPU ~1 min
SEED = 0            # the seed whose models the figures show
SEEDS = [0, 1, 2, 3, 4]  # seeds of the results table (quick mode uses the first two)
DATA_PATH = None    # None = synthetic default; an MMSA or MulT .pkl (IEMOCAP too), or a MERTools folder
SIMULATED_TEXT = "none"  # CorrKD never uses text simulated from audio: do not fit the text simulator
DEVICE = None       # None = cuda > mps > cpu
EPOCHS = None       # None = the mode's default (printed below)
RETRAIN = False     # True: train even when a checkpoint exists
''', tags=["parameters"])

code('''
# everything that depends on QUICK
import dataclasses

import matplotlib.pyplot as plt
import numpy as np
import torch

from msa_lib.data import CORRKD_CONDITIONS, apply_condition, load_dataset, make_loader
from msa_lib.metrics import metric_keys, primary_metric
from msa_lib.losses import RCDLoss, cpd_loss, scd_loss
from msa_lib.losses.corrkd import disentangle_responses, kd_kl_loss
from msa_lib.stats import averaged_rows, compare_many, comparison_frame, verdict_markdown
from msa_lib.training import results_name, results_table, run_summary, seed_everything
from IPython.display import Markdown, display
from msa_lib.training.corrkd import (
    ABLATION_METHODS, DEFAULT_CONDITIONS, MAIN_METHODS, CorrKDRun, CorrKDTrainConfig, MRMConfig, class_targets,
    evaluate_conditions, label_range, missing_block_distance, modality_random_missing, run_corrkd, train_student,
    train_teacher,
)
from msa_lib.viz import corrkd as vk

RUN_SEEDS = SEEDS[:2] if QUICK else list(SEEDS)        # quick: 2 seeds
ABLATION_SEEDS = RUN_SEEDS[:1] if QUICK else RUN_SEEDS  # quick: the ablation runs on one seed
CONFIG = CorrKDTrainConfig.quick() if QUICK else CorrKDTrainConfig.full()
CONFIG = dataclasses.replace(CONFIG, device=DEVICE, progress=not QUICK)
if EPOCHS is not None:
    CONFIG = dataclasses.replace(CONFIG, epochs=EPOCHS, teacher_epochs=EPOCHS)
if SEED not in RUN_SEEDS:
    RUN_SEEDS = [SEED, *RUN_SEEDS]

seed_everything(SEED)
dataset = load_dataset(DATA_PATH, quick=QUICK, seed=SEED, simulated_text=SIMULATED_TEXT)
# what the chapter reports follows the data: MOSI / MOSEI's Non0 F1, CH-SIMS's F1, IEMOCAP's mean per-emotion F1
METRIC = primary_metric(dataset)
METRIC_NAME = METRIC.replace("_score", "").replace("_", " ")
ALL_METRICS = list(metric_keys(dataset.metric_dataset))
RATE_METRICS = (METRIC, "MAE") if dataset.task == "regression" else (METRIC, "Acc_4")
# CPD's and RCD's categories: the 7 sentiment bins of a score, or the data set's own classes (IEMOCAP's emotions)
CLASS_NAMES = list(dataset.classes) if dataset.task == "classification" else ["-3", "-2", "-1", "0", "+1", "+2", "+3"]
print(dataset)
print(f"task: {dataset.task}; headline metric: {METRIC}; categories: {CLASS_NAMES}")
print("model:", CONFIG.model)
print(f"teacher epochs {CONFIG.teacher_epochs}, student epochs {CONFIG.epochs} (max), batch {CONFIG.batch_size}, "
      f"lr {CONFIG.lr}, seeds {RUN_SEEDS}")
''')

md(r"""
## 1 · The recipe

CorrKD has two networks with **the same structure and separate parameters** (`msa_lib.models.CorrKDNet`):
per modality a temporal convolution, positional encodings and a Transformer encoder, mean-pooled over the
real frames into $z_m \in \mathbb R^d$; the **joint representation** $h = [z_\text{text}; z_\text{audio};
z_\text{vision}] \in \mathbb R^{3d}$; and two heads on $h$: a sentiment score (regression, what the MMSA
metrics score) and logits $o$ over 7 sentiment classes $\text{round}(y) \in \{-3,\dots,3\}$ (the
categories CPD and RCD need — the paper reports a classification loss; we keep both, see the docstring
of `msa_lib.models.corrkd`).

1. The **teacher** is trained on complete data with the task loss, selected on the validation split, and frozen.
2. The **student** sees a corrupted copy $\hat S_i$ of every sample $S_i$ the teacher sees complete, and minimises

$$
\mathcal L = \mathcal L_\text{task}(\hat y^s, y) + \lambda_\text{SCD}\,\mathcal L_\text{SCD}
           + \lambda_\text{CPD}\,\mathcal L_\text{CPD} + \lambda_\text{RCD}\,\mathcal L_\text{RCD},
\qquad \lambda = 1 .
$$

Only the student is used at test time. First, what the corruption looks like.

### Modality Random Missing

For every sample of every batch, `modality_random_missing` keeps a random non-empty subset of the
modalities (uniform over the 7 subsets, the complete one included) and then zeroes each frame of the kept
modalities with a probability $p$ drawn from $\{0.0, 0.1, \dots, 0.9\}$. The paper gives neither the
probabilities nor the ranges; uniform choices favour no test condition (`MRMConfig` changes them).
""")

code('''
batch = next(iter(make_loader(dataset["train"], 12)))
corrupted = modality_random_missing(batch, torch.Generator().manual_seed(SEED), CONFIG.mrm)
vk.plot_mrm_batch(batch, corrupted, n=12)
plt.suptitle("Modality Random Missing on 12 training utterances", y=1.02)
plt.show()
''')

md(r"""
## 2 · The teacher

The teacher learns from complete data with the task loss (L1 on the score + cross-entropy on the 7 classes)
and is selected on the complete validation split. `train_teacher` loads the checkpoint when one with the
same settings exists, else trains and saves it.
""")

code('''
run = CorrKDRun()
for seed in RUN_SEEDS:
    teacher, history = train_teacher(dataset, seed, QUICK, CONFIG, retrain=RETRAIN)
    run.teachers[seed], run.histories[("teacher", seed)] = teacher, history
teacher = run.teachers[SEED]

probe = evaluate_conditions(teacher, dataset, ["complete", *CORRKD_CONDITIONS], split="valid", seed=SEED)
fig, ax = plt.subplots(figsize=(7, 3))
ax.bar(list(probe), [100 * m[METRIC] for m in probe.values()], color="#1f4e79")
ax.set_ylabel(f"{METRIC_NAME} (×100), valid")
ax.set_title("The complete-data teacher when modalities go missing")
plt.xticks(rotation=20)
plt.show()
worst = min(CORRKD_CONDITIONS, key=lambda c: probe[c][METRIC])
print(f"Teacher, validation {METRIC_NAME}: {100 * probe['complete'][METRIC]:.1f} with every modality, "
      f"{100 * probe[worst][METRIC]:.1f} under '{worst}', its worst condition.")
''')

md(r"""
## 3 · The three distillation terms

Notation: a batch of $N$ samples; teacher outputs $(h_i^t, o_i^t)$ from the complete $S_i$ (no gradient),
student outputs $(h_i^s, o_i^s)$ from $\hat S_i$; $c_i$ the sentiment class; $\mathrm{sp}(x)=\log(1+e^x)$.

**SCD — sample-level contrastive distillation** (`msa_lib.losses.scd_loss`). With $D_{ij} = \lVert
h_i^s - h_j^t\rVert_2$ on L2-normalised representations,

$$
\mathcal L_\text{SCD} = \frac1N\sum_i D_{ii}^2 + \frac1{N(N-1)}\sum_{i\ne j}\max(0,\eta - D_{ij})^2 :
$$

the corrupted sample is pulled to the teacher's view of the *same* sample and kept at least a margin
$\eta$ ($=1$) away from the teacher's view of the others — the student inherits the teacher's
*sample-to-sample* geometry, not just its answers.

**CPD — category-guided prototype distillation** (`msa_lib.losses.cpd_loss`). Each network builds class
prototypes from the batch, $c_k^w = \operatorname{mean}_{i: c_i = k} h_i^w$, over the $K'$ classes present;
with $M^w_{ik} = \cos(h_i^w, c^w_k)$,

$$
\mathcal L_\text{CPD} = \frac1{N K'}\sum_i\sum_k (M^t_{ik} - M^s_{ik})^2 :
$$

the student must place each sample relative to the *sentiment categories* as the teacher does.

**RCD — response-disentangled consistency distillation** (`msa_lib.losses.RCDLoss`). Each softmax response is
split into a target part $b = [p_{c}, 1-p_{c}]$ and a non-target part $\hat p$ (the other six classes,
renormalised). For each part a small statistics network $T_\theta$ estimates the teacher–student mutual
information with the Jensen–Shannon bound

$$
\widehat{MI}(x; y) = \mathbb E_{p(x,y)}[-\mathrm{sp}(-T_\theta(x, y))] - \mathbb E_{p(x)p(y)}[\mathrm{sp}(T_\theta(x, \tilde y))],
\qquad \mathcal L_\text{RCD} = -\big[\widehat{MI}(b^t; b^s) + \widehat{MI}(\hat p^t; \hat p^s)\big],
$$

maximised jointly over the student and $T_\theta$ (negatives: all mismatched pairs of the batch).

The **baselines** use the same student, the same corruption and the same task loss: `student_no_kd`
(no teacher at all) and `student_plain_kd` (vanilla logit KD + matching $h$ and the score, sample by sample).
""")

code('''
run = run_corrkd(dataset, MAIN_METHODS, RUN_SEEDS, quick=QUICK, config=CONFIG, run=run, retrain=RETRAIN)
vk.plot_learning_curves({m: run.histories[(m, SEED)] for m in MAIN_METHODS})
select_name = "mean MAE" if dataset.task == "regression" else f"mean {METRIC}"
plt.title(f"Validation score ({select_name} over the selection mix), seed {SEED}")
plt.show()
print("training (or loading) time, s:", {f"{m}/{s}": round(t, 1) for (m, s), t in run.seconds.items()})
''')

md(r"""
### What each term sees, on one test batch

We take 32 test utterances, give the teacher the complete data and both students (CorrKD and the one
trained without distillation) the same copy with **the text removed** (`audio+vision`), and look at what each
loss compares.
""")

code('''
test_batch = next(iter(make_loader(dataset["test"], 32)))
missing_text = apply_condition(test_batch, "audio+vision")
with torch.no_grad():
    out_t = teacher.cpu()(test_batch)
    outs = {m: run.students[(m, SEED)].cpu().eval()(missing_text) for m in ("student_no_kd", "corrkd")}
classes = class_targets(test_batch, dataset.task, len(CLASS_NAMES), label_range(dataset))

vk.plot_scd_distances({vk.METHOD_LABELS[m]: (o["joint"], out_t["joint"]) for m, o in outs.items()},
                      margin=CONFIG.losses.margin)
plt.show()
for m, o in outs.items():
    print(f"{vk.METHOD_LABELS[m]:>16}: SCD {scd_loss(o['joint'], out_t['joint'], CONFIG.losses.margin).item():.3f}, "
          f"CPD {cpd_loss(o['joint'], out_t['joint'], classes).item():.4f}, "
          f"KL(teacher || student) {kd_kl_loss(o['logits'], out_t['logits']).item():.3f}")
''')

md(r"""
The distance matrices show SCD's two forces: a dark diagonal means the student's view of an utterance
without text lies close to the teacher's view of the complete utterance. Next, CPD's matrices (rows sorted by
sentiment class, one column per class present in the batch):
""")

code('''
order = torch.argsort(classes, stable=True)
_, m_s, m_t, present = cpd_loss(outs["corrkd"]["joint"], out_t["joint"], classes, return_matrices=True)
vk.plot_prototype_matrices(m_s, m_t, present, CLASS_NAMES, order=order, title_student="CorrKD student")
plt.show()
''')

md(r"""
And RCD's view of one utterance: the full response, its target part and its renormalised non-target part,
teacher (complete input) against both students (text missing).
""")

code('''
i = int(torch.argmax(test_batch["label"].abs()))  # a strongly polar utterance
vk.plot_responses(out_t["logits"][i], None, int(classes[i]), class_names=CLASS_NAMES,
                  students={vk.METHOD_LABELS[m]: o["logits"][i] for m, o in outs.items()})
plt.show()
for m, o in outs.items():
    b_s, nt_s = disentangle_responses(o["logits"], classes)
    b_t, nt_t = disentangle_responses(out_t["logits"], classes)
    print(f"{vk.METHOD_LABELS[m]:>16}: mean |p_y^t - p_y^s| = {(b_t[:, 0] - b_s[:, 0]).abs().mean():.3f}, "
          f"mean L1 between non-target parts = {(nt_t - nt_s).abs().sum(1).mean():.3f}")
''')

md(r"""
## 4 · The findings: the full-mode run

The numbers this chapter concludes from come from the full-mode run stored in `results/corrkd.json` (the
full-size synthetic set; how it was made is printed from the file below, and a banner says so in red if the
current code would no longer make the same file). The table is the paper's layout: weighted F1 on non-zero
labels ×100, mean ± sample std over seeds, and **Avg.** over the six missing conditions. Each comparison is
`msa_lib.stats.compare` on the per-seed "Avg.", paired by seed (the same seed gives both methods the same
initialisation generator, batch order and masks), with a 95 % paired-*t* interval of the difference.
""")

code('''
from msa_lib.training import full_run

MAIN_PAIRS = [("corrkd", "student_no_kd", "Avg"), ("corrkd", "student_plain_kd", "Avg"), ("student_no_kd", "teacher", "Avg")]

def avg_comparisons(rows, pairs, metric=METRIC):
    """CorrKD's "Avg." (per seed, the mean over the six missing conditions: msa_lib.stats.averaged_rows), then
    msa_lib.stats.compare for each pair, on the seeds both methods were run with."""
    return compare_many(averaged_rows(rows, CORRKD_CONDITIONS), pairs, metric=metric, dataset=dataset)

full = full_run("corrkd")  # prints its provenance (and STALE with the reason, if it is), or how to make it
if full is None:
    display(Markdown("**No full-mode file yet.** Train every model with `python -m msa_lib.training.grid corrkd` "
                     "(Ray tasks, resumable), then run `papermill notebooks/05_corrkd.ipynb out.ipynb --cwd notebooks "
                     "-p QUICK False`, which loads them and writes the file."))
else:
    full_rows = full["rows"]
    display(Markdown(run_summary(full)))
    display(vk.corrkd_table(full_rows, "Non0_F1_score"))  # the book's run: the synthetic default (MOSEI metrics)
    full_pairs = [*MAIN_PAIRS, *[("corrkd", m, "Avg") for m in (*ABLATION_METHODS, "corrkd_rcd_kl", "corrkd_zero_missing")]]
    full_comparisons = avg_comparisons(full_rows, full_pairs, metric="Non0_F1_score")
    display(Markdown("**Avg. Non0 F1 ×100, A vs B** (positive = A better):\\n\\n"
                     + verdict_markdown(full_comparisons, labels=vk.METHOD_LABELS, digits=2, scale=100)))
    vk.plot_f1_and_mae_vs_rate(full_rows, methods=["teacher", *MAIN_METHODS], title="Full run: ")
    plt.show()
''')

md(r"""
## 5 · Run it yourself: whole-modality missingness (quick mode: the mechanics)

Every method of a seed is evaluated on the **test** split under the same conditions (frame masks fixed by the
seed), after selection on the validation split only. The table follows the paper's layout: weighted F1 on
non-zero labels (MMSA's `Non0_F1_score`, ×100; on CH-SIMS its `F1_score`, on IEMOCAP the mean per-emotion
weighted F1 `Avg_F1`: `METRIC` above), mean ± std over seeds, and **Avg.** over the six missing conditions
(complete excluded).
""")

code('''
rows = list(run.rows)
path = run.write(results_name("corrkd", dataset), dataset, config=CONFIG, quick=QUICK, seeds=RUN_SEEDS,
                 command=f"papermill notebooks/05_corrkd.ipynb out.ipynb -p QUICK {QUICK}")
print("wrote", path)
vk.corrkd_table(rows, METRIC, methods=["teacher", *MAIN_METHODS])
''')

code('''
if dataset.task == "classification":  # CorrKD's IEMOCAP table: F1 per emotion, CorrKD against its baselines
    import pandas as pd
    display(pd.concat({e: vk.corrkd_table(rows, f"{e}_F1", methods=MAIN_METHODS) for e in dataset.classes},
                      names=["emotion", "method"]))
# every metric of the data set, whole-modality conditions
whole = [r for r in rows if r["condition"] in ("complete", *CORRKD_CONDITIONS) and r["method"] in MAIN_METHODS]
results_table(whole, ALL_METRICS, digits=3)
''')

code('''
vk.plot_condition_bars(rows, METRIC, methods=["teacher", *MAIN_METHODS])
plt.title(f"{METRIC_NAME} per condition (test, mean ± std over seeds)")
plt.show()

print(f"Budget of this run: {len(RUN_SEEDS)} seeds, teacher {CONFIG.teacher_epochs} epochs, students {CONFIG.epochs} "
      f"epochs (max), {len(dataset['train'])} training utterances.")
if QUICK:
    print("Quick mode: a demonstration of the mechanics, not a ranking -- no verdicts are drawn from it. "
          "The chapter's findings are the full-mode section above.")
else:
    display(Markdown(verdict_markdown(avg_comparisons(rows, MAIN_PAIRS), labels=vk.METHOD_LABELS, digits=2, scale=100)))
''')

md(r"""
The budget of this run is printed above. In quick mode the students see only a few epochs of corrupted data, so
the cell prints no verdict; with `QUICK=False` it prints the same comparisons as the findings section
(`msa_lib.stats.compare` on the paper's "Avg.", paired by seed). Whatever the verdict, the comparison that
isolates distillation is CorrKD against `student_no_kd`: same network, same corruption, same task loss, same
selection.

## 6 · Frame-level missingness

The curves below are CorrKD's intra-modality protocol: every real frame of every modality dropped with
probability $p$ (zeroed, masks unchanged), $p = 0.0, \dots, 0.9$.
""")

code('''
vk.plot_rate_curves(rows, RATE_METRICS, methods=["teacher", *MAIN_METHODS])
plt.show()
''')

code('''
# interactive: any metric, any methods (redraws from the rows above; nothing is trained)
vk.missing_rate_widget(rows, methods=["teacher", *MAIN_METHODS], metrics=ALL_METRICS)
''')

md(r"""
## 7 · Ablation: CorrKD without each term

Each variant removes one term and keeps everything else (seeds: one in quick mode, all in full mode). The
paper's own "w/o RCD" replaces RCD by a vanilla KL term rather than removing it; full mode also runs that
variant (`corrkd_rcd_kl`). The last variant, `corrkd_zero_missing`, keeps every term and changes what the
student does with a missing modality (next section).
""")

code('''
ABLATION = [*ABLATION_METHODS] + ([] if QUICK else ["corrkd_rcd_kl"]) + ["corrkd_zero_missing"]
run = run_corrkd(dataset, ABLATION, ABLATION_SEEDS, quick=QUICK, config=CONFIG, run=run, retrain=RETRAIN)
rows = list(run.rows)
ablation_rows = [r for r in rows if r["seed"] in ABLATION_SEEDS]
if not QUICK:
    display(Markdown(verdict_markdown(avg_comparisons(ablation_rows, [("corrkd", m, "Avg") for m in ABLATION]),
                                      labels=vk.METHOD_LABELS, digits=2, scale=100)))
vk.corrkd_table(ablation_rows, METRIC, methods=["corrkd", *ABLATION])
''')

md(r"""
### 7b · Does distillation reach a missing modality?

When a modality is missing, what stands in its block of $h$? The sources (CorrKD's MRM and its successor HRLF)
replace its features by zero vectors and *still run them through the modality's encoder*, so the block is a
representation the network learns. This library does the same by default (`CorrKDConfig.missing_modality =
"encode"`: one zero frame through the encoder — with padding masks the length of an absent modality is not
observable, so every sample gets the same vector). Its earlier behaviour, a block of zeros, is the switch
`"zero"`, trained here as `corrkd_zero_missing`. A zero block cannot be moved by any loss; an encoded one can.

`missing_block_distance` measures where that block ends up, in the geometry SCD works in (normalised $h$):
$\delta_m$ is the squared distance between the student's block of an absent modality $m$ and the teacher's
block of the complete utterance, relative to the teacher's block. A zero block scores exactly 1. CorrKD
against `student_no_kd` (same network and corruption, no teacher) shows what SCD and CPD transfer into the
block.
""")

code('''
BLOCK_METHODS = ["corrkd", "student_no_kd", "corrkd_zero_missing"]
if full is not None and "missing_block_distance" in full.get("extra", {}):
    display(Markdown("**Full run** (`results/corrkd.json`), $\\delta_m$ on the test split, mean ± sample std over seeds:"))
    display(vk.missing_block_table(full["extra"]["missing_block_distance"]))
elif full is not None:
    print("The committed results/corrkd.json predates this measurement: re-make it (section 4 says how) to see "
          "the full-run numbers here.")
block_distances = {f"{m}/{s}": missing_block_distance(run.students[(m, s)], run.teachers[s], dataset["test"])
                   for m in BLOCK_METHODS for s in ABLATION_SEEDS}
print("This run" + (" (quick mode: the mechanics, not a finding):" if QUICK else ":"))
display(vk.missing_block_table(block_distances))
run.write(results_name("corrkd", dataset), dataset, config=CONFIG, quick=QUICK, seeds=RUN_SEEDS,
          command=f"papermill notebooks/05_corrkd.ipynb out.ipynb -p QUICK {QUICK}",
          extra={"ablation_seeds": list(ABLATION_SEEDS), "missing_block_distance": block_distances})
''')

md(r"""
## 8 · What to take away

- CorrKD changes *what the student is asked to match*: the teacher's relations between samples (SCD), between
  samples and categories (CPD), and the structure of its answers (RCD), rather than its outputs one by one.
- The honest comparison is against a student trained on the same corruption without distillation; the
  numbers printed above, not the paper's, say whether the extra terms pay off on this data and at this budget.
- Part of any robustness comes from the corruption alone, not from distillation: the teacher's row against
  `student_no_kd`'s (the third comparison of section 4) measures that part in the full run.
""")

md(r"""
## Exercises

The solutions train one more student each (a few seconds in quick mode).
""")

md(r"""
### Exercise 1 — the margin η

SCD pushes each student representation at least $\eta$ away from the other
samples' teacher representations. Train CorrKD for seed `SEED` with $\eta = 2.0$ (reuse the teacher) and
compare its Avg. Non0 F1 over the six missing conditions on the *validation* split with the default
$\eta = 1$ student's. (With L2-normalised representations, what does $\eta = 2$ ask for?)
""")

code('''
def valid_avg_f1(student):
    res = evaluate_conditions(student, dataset, CORRKD_CONDITIONS, split="valid", seed=SEED)
    return 100 * np.mean([m[METRIC] for m in res.values()])

print(f"margin 1.0: valid Avg. {METRIC_NAME} = {valid_avg_f1(run.students[('corrkd', SEED)]):.2f}")
### BEGIN SOLUTION
cfg = dataclasses.replace(CONFIG, losses=dataclasses.replace(CONFIG.losses, margin=2.0))
student_m2, _ = train_student("corrkd", dataset, run.teachers[SEED], SEED, QUICK, cfg, retrain=RETRAIN)
print(f"margin 2.0: valid Avg. {METRIC_NAME} = {valid_avg_f1(student_m2):.2f}")
# eta = 2 is the largest distance between unit vectors: every negative pair is always inside the margin,
# so SCD pushes all the other samples' teacher representations as far away as possible.
### END SOLUTION
''', tags=["solution"])

md(r"""
### Exercise 2 — how the student is corrupted

CMAD samples the kept subsets
{l}, {a}, {v}, {l,a}, {l,v}, {a,v}, {l,a,v} with weights (2, 3, 3, 1, 1, 3, 1) instead of uniformly. Train
`student_no_kd` with those weights (`MRMConfig(subset_weights=...)`) and compare, per condition, its
validation Non0 F1 with the uniform student's. Which conditions gain, which lose, and why?
""")

code('''
cmad = dataclasses.replace(CONFIG, mrm=MRMConfig(subset_weights=(2, 3, 3, 1, 1, 3, 1)))
student_cmad, _ = train_student("student_no_kd", dataset, None, SEED, QUICK, cmad, retrain=RETRAIN)
res_cmad = evaluate_conditions(student_cmad, dataset, CORRKD_CONDITIONS, split="valid", seed=SEED)
res_unif = evaluate_conditions(run.students[("student_no_kd", SEED)], dataset, CORRKD_CONDITIONS, split="valid", seed=SEED)
for c in CORRKD_CONDITIONS:
    print(f"{c:>13}: uniform {100 * res_unif[c][METRIC]:.1f}  CMAD weights {100 * res_cmad[c][METRIC]:.1f}")
''', tags=["solution"])


if __name__ == "__main__":
    nb.write()
