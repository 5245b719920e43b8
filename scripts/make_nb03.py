"""Build notebooks/03_self_distillation.ipynb (outputs empty) from the cells below.

    .venv/bin/python scripts/make_nb03.py
"""

from __future__ import annotations

from nbgen import Notebook

nb = Notebook("03_self_distillation.ipynb")
md, code, BADGE = nb.md, nb.code, nb.badge


md(f"""
# 03 · Self-distillation: one network, two flows

When the transcript is missing, SDUMC does not leave the text slot empty: it fills it with *simulated text*,
the hidden states of a language model that listened to the audio (chapter 01). Simulated text carries the
sentiment of the real text, but worse, and a model trained on real text reads it poorly (chapter 02). SDUMC's
answer is **self-distillation**: the same network runs twice on every batch — a *teacher flow* on the real
text and a *student flow* on the simulated text — and the loss pulls the student's text representations
toward the teacher's, while both flows learn to regress. A *Modality Imagination Autoencoder* (MIA) helps the
student "imagine" the missing text from all three modalities, and *Rank-N-Contrast* orders the embeddings of
both flows by sentiment.

**What you will learn**

- the double flow with shared weights, and what the two flows share (the audio and vision projections,
  computed once) and what they do not (everything after them runs on both);
- each term of the SDUMC loss (regression, distillation, alignment, Rank-N-Contrast) and what it touches;
- what MIA is, and the decision we took where the official code disagrees with the paper;
- how Rank-N-Contrast works, vectorised without the official Python loop;
- what distillation does to the embeddings of the two flows (before / after, on a PCA plane).

{BADGE}
""")

nb.colab_setup()

code('''
import os
QUICK = os.environ.get("MSA_QUICK", "1") != "0"  # quick: small data, few epochs, CPU ~1 min
SEED = 0
DATA_PATH = None  # None = synthetic default; an MMSA or MulT .pkl, or a MERTools folder
SIMULATED_TEXT = "auto"  # data without simulated text: "auto" fits the text simulator (cached), or an .npz path
DEVICE = None
EPOCHS = None     # None = the default of the mode (printed below)
RETRAIN = False
''', tags=["parameters"])

code('''
# everything that depends on QUICK
from msa_lib.training.sdumc import SDUMCTrainConfig

CONFIG = SDUMCTrainConfig.for_mode(QUICK)
if EPOCHS is not None:
    CONFIG = CONFIG.replace(epochs=EPOCHS)
print("quick mode" if QUICK else "full mode", "| epochs:", CONFIG.epochs, "| batch size:", CONFIG.batch_size)
''')

code('''
import matplotlib.pyplot as plt
import numpy as np
import torch

from msa_lib.data import load_dataset, require_simulated_text, require_task, make_loader
from msa_lib.losses import SelfDistillationLoss, SelfDistillationWeights, rnc_loss
from IPython.display import Markdown, display
from msa_lib.stats import compare_many, verdict_markdown
from msa_lib.training import full_history, full_run, load_predictions, run_summary, seed_everything, select_device
from msa_lib.training.sdumc import build_model, evaluate_method, train_method
from msa_lib.viz import sdumc as vsdumc

seed_everything(SEED)
device = select_device(DEVICE)
dataset = load_dataset(DATA_PATH, quick=QUICK, seed=SEED, simulated_text=SIMULATED_TEXT)
require_task(dataset, "regression", chapter="03", method="SDUMC",
             instead="Chapter 05 (CorrKD) handles classification data sets such as IEMOCAP.")
require_simulated_text(dataset, chapter="03")
print(dataset)
''')

md(r"""
## Two flows, one set of weights

For a batch with audio $a$, vision $v$, real text $t$ and simulated text $\tilde t$:

* **teacher flow** $F_\theta(a, t, v)$ — MIA off;
* **student flow** $F_\theta(a, \tilde t, v)$ — MIA on.

Both use the *same* parameters $\theta$ and both are trained (the teacher is neither frozen nor an average of
past weights). Both flows see the same audio and vision, so `UMCANet.double_flow` projects audio and vision
once and runs the rest of the network on a batch of $2B$ utterances; dropout masks stay independent per flow,
as in the official code.
""")

code('''
seed_everything(SEED)
model = build_model("sdumc", dataset.input_dims, CONFIG)
batch = next(iter(make_loader(dataset["train"], 8)))
teacher_out, student_out = model.double_flow(batch)
print("teacher flow: text of", batch["text"].shape[1], "tokens -> MIA applied:", bool(teacher_out["imagined"].any()))
print("student flow: simulated text of", batch["text_sim"].shape[1], "tokens -> MIA applied:", bool(student_out["imagined"].all()))
''')

md(r"""
## The loss

With $\mathrm{sg}$ the stop-gradient, $q_t$ the text query, $c_t$ the text cross features (after UMCA),
$e$ the fused embedding and $r$ the Rank-N-Contrast projection:

$$
\mathcal{L} = w_T\,\mathrm{MSE}(\hat y^T, y) + w_S\,\mathrm{MSE}(\hat y^S, y)
 + w_q\,\mathrm{RMSE}(q_t^S, \mathrm{sg}\,q_t^T) + w_c\,\mathrm{RMSE}(c_t^S, \mathrm{sg}\,c_t^T)
 + w_e\,\mathrm{RMSE}(e^S, e^T) + w_r\,\mathcal{L}_{\mathrm{RnC}}([r^T; r^S], y)
$$

* the **regression** terms train both flows;
* the two **distillation** terms move only the student's text representations toward the teacher's (the
  teacher's side is detached), so the student learns to read simulated text *the way the teacher reads real text*;
* the **alignment** term on $e$ is not detached in the official code: it pulls both flows toward each other;
* **Rank-N-Contrast** treats the teacher and student embeddings of one utterance as two views (below).

The weights default to the row echoed by the official inference script, 0.5 / 0.5 / 0.1 / 0.7 / 0.13 / 0.5
(`SelfDistillationWeights`, with the other published rows as presets). RMSE is computed as
$\sqrt{\text{mean} + \epsilon} - \sqrt{\epsilon}$, whose gradient stays finite when the student matches the teacher
exactly (the plain square root has an infinite slope at 0).
""")

code('''
weights = SelfDistillationWeights()
total, terms = SelfDistillationLoss(weights)(teacher_out, student_out, batch["label"])
print(f"total loss of the untrained network on one batch: {total.item():.4f}")
for name, value in terms.items():
    print(f"  {name:12s} weight {getattr(weights, name):4.2f}   unweighted value {value:.4f}")
''')

md(r"""
## MIA: imagining the text

MIA is a small autoencoder applied in the student flow, twice: on the utterance vectors $h$ (after pooling)
and on the cross features $c$ (after UMCA). From the three modalities it computes a correction of the text
representation:

$$
z = W_2\,\mathrm{ReLU}(W_1[x_a; x_t; x_v]), \qquad \hat x_t = W_d W_e z + x_t .
$$

The official code builds MIA but comments it out of the forward pass, and an unused copy of the file adds $z$
instead of $x_t$. The paper presents MIA as part of the method, so `msa_lib` switches it **on** with the
$+x_t$ residual, and zero-initialises $W_d$ so an untrained MIA is exactly the identity (it can only start to
help). Chapter 04 trains `sdumc_no_mia` to measure what it does.

## Rank-N-Contrast

For $n$ embeddings with labels $y$, label distances $d_{ik} = |y_i - y_k|$ and similarities
$s_{ik} = -\lVert r_i - r_k\rVert_2 / \tau$,

$$
\mathcal{L}_{\mathrm{RnC}} = -\frac{1}{n(n-1)}\sum_i \sum_{j\neq i}
\log \frac{\exp s_{ij}}{\sum_{k \neq i:\ d_{ik} \ge d_{ij}} \exp s_{ik}} :
$$

for every anchor $i$ and every other sample $j$, $j$ must be closer to $i$ than all the samples whose label is
farther from $y_i$ than $y_j$ is. The embeddings end up *ordered* by sentiment. In SDUMC the two views of an
utterance are its teacher and student embeddings, so the positive pair (label distance 0) also pulls the two
flows together. `rnc_loss` computes it without the official loop over $j$: each row is sorted once by label
distance, so every denominator is a prefix sum (benchmarks/bench_sdumc.py times both). A toy check: embeddings
that follow the labels give a lower loss than the same embeddings shuffled.
""")

code('''
low, high = float(dataset["train"].labels.min()), float(dataset["train"].labels.max())  # the data's label range
labels = torch.linspace(low, high, 32)
ordered = torch.stack([labels, labels + 0.1 * torch.randn(32)], dim=1)[..., None] * torch.tensor([1.0, 0.5])
shuffled = ordered[torch.randperm(32)]
print(f"RnC of embeddings ordered by label: {rnc_loss(ordered, labels, tie_tolerance=1e-4).item():.4f}; "
      f"of the same embeddings shuffled: {rnc_loss(shuffled, labels, tie_tolerance=1e-4).item():.4f}")
''')

md(r"""
## Training

The SDUMC step is one call to `fit` with a `loss_fn` that runs `double_flow` and the loss above. One model
must serve both conditions, so the epoch we keep minimises the **mean validation MAE under complete data and
under simulated text** (the official script instead keeps, for each condition separately, its best *test*
epoch). The teacher of chapter 02 is trained (or loaded from its checkpoint) for the "before" picture.
""")

code('''
teacher_model, teacher_fit = train_method("teacher", dataset, seed=SEED, device=device, config=CONFIG,
                                          checkpoint=True, retrain=RETRAIN, progress=not QUICK)
sdumc_model, sdumc_fit = train_method("sdumc", dataset, seed=SEED, device=device, config=CONFIG,
                                      checkpoint=True, retrain=RETRAIN, progress=not QUICK)
fig = vsdumc.plot_learning_curves(sdumc_fit, title="SDUMC (double flow)",
                                  loss_terms=["teacher_mse", "student_mse", "text_query", "text_cross", "fused", "rnc"])
plt.show()
best = sdumc_fit.history[sdumc_fit.best_epoch - 1]
print(f"selected epoch {sdumc_fit.best_epoch}: valid MAE {best['valid_complete_MAE']:.4f} (complete), "
      f"{best['valid_text_missing_MAE']:.4f} (simulated text)")
''')

md(r"""
## The two flows, before and after

Each point is the fused embedding $e$ of a test utterance, coloured by its label; circles come from the real
text, triangles from the simulated text, and grey lines join the two flows of the same utterance. "Before" is
the teacher trained on complete data only, fed the simulated text; "after" is the SDUMC network. The *flow gap*
in each title is the mean distance between the two embeddings of an utterance divided by the mean distance
between embeddings of two different utterances (0 = the flows coincide).
""")

code('''
embeddings = {
    "before: teacher only": vsdumc.flow_embeddings(teacher_model, dataset["test"]),
    "after: SDUMC": vsdumc.flow_embeddings(sdumc_model, dataset["test"]),
}
fig, gaps = vsdumc.plot_flow_embeddings(embeddings)
plt.show()
before, after = gaps.values()
print(f"Flow gap in this run: {before:.3f} for the complete-data teacher, {after:.3f} after self-distillation"
      + (" (quick mode: a demonstration of the mechanics, not a finding)." if QUICK else "."))
''')

code('''
results = {name: evaluate_method(m, dataset) for name, m in (("teacher", teacher_model), ("sdumc", sdumc_model))}
for name, res in results.items():
    print(f"{name:8s} test MAE: complete {res['complete']['MAE']:.4f}, simulated text {res['text_missing']['MAE']:.4f}")
print("One seed" + (" in quick mode: the mechanics, not a finding." if QUICK else ": no verdict either way.")
      + " The full-mode comparison over every seed follows.")
''')

md("""
## The full-mode run

The findings about SDUMC against its teacher come from the full-mode run of chapter 04
(`results/missing_text.json`): SDUMC's learning curve with every loss term, read from the per-epoch history
stored in the file, and the comparison with the teacher over every seed, made by `msa_lib.stats.compare`
(paired by seed, bootstrapped over test utterances; chapter 04 explains it and adds the ablations).
""")

code('''
full = full_run("missing_text")  # prints its provenance (and STALE with the reason, if it is), or how to make it
if full is not None:
    display(Markdown(run_summary(full)))
    seed0 = full["seeds"][0]
    history = full_history(full, "sdumc", seed0)
    if history:
        fig = vsdumc.plot_learning_curves(history, title=f"SDUMC, seed {seed0} (full mode)",
                                          loss_terms=["teacher_mse", "student_mse", "text_query", "text_cross", "fused", "rnc"])
        plt.show()
    pairs = [("sdumc", "teacher", "text_missing"), ("sdumc", "teacher", "complete")]
    display(Markdown("**Test MAE, A vs B** (negative = A better):\\n\\n" + verdict_markdown(
        compare_many(full["rows"], pairs, metric="MAE", predictions=load_predictions("missing_text")))))
''')

md("""
## Exercises

### Exercise 1 · Detach the alignment term

The official alignment term $\\mathrm{RMSE}(e^S, e^T)$ also moves the teacher. Train SDUMC with
`weights.replace(detach_teacher_fused=True)` (`CONFIG.replace(weights=...)`) and compare its flow gap and
its validation MAE under both conditions with the run above.
""")

code('''
detached_config = CONFIG.replace(weights=CONFIG.weights.replace(detach_teacher_fused=True))
detached_model, detached_fit = train_method("sdumc", dataset, seed=SEED, device=device, config=detached_config,
                                            checkpoint=True)
gap = vsdumc.flow_gap(vsdumc.flow_embeddings(detached_model, dataset["test"]))
row = detached_fit.history[detached_fit.best_epoch - 1]
print(f"detached: flow gap {gap:.3f}; valid MAE {row['valid_complete_MAE']:.4f} / {row['valid_text_missing_MAE']:.4f}")
print(f"official: flow gap {after:.3f}; valid MAE {best['valid_complete_MAE']:.4f} / {best['valid_text_missing_MAE']:.4f}")
''', tags=["solution"])

md("""
### Exercise 2 · The temperature of Rank-N-Contrast

Evaluate `rnc_loss` on the trained SDUMC projections of one test batch (`model.double_flow(batch)`, keys
`"proj"`) for temperatures 0.5, 1, 2 and 4. How does the loss change, and why does a larger temperature make
the loss closer to $\\log$ of the denominator's size?
""")

code('''
sdumc_model.eval()
test_batch = next(iter(make_loader(dataset["test"], 64)))
with torch.no_grad():
    t_out, s_out = sdumc_model.double_flow(test_batch)
views = torch.stack([t_out["proj"], s_out["proj"]], dim=1)
for tau in (0.5, 1.0, 2.0, 4.0):
    print(f"tau={tau}: RnC {rnc_loss(views, test_batch['label'], temperature=tau, tie_tolerance=1e-4).item():.4f}")
''', tags=["solution"])


if __name__ == "__main__":
    nb.write()
