"""Build notebooks/02_teacher_training.ipynb (outputs empty) from the cells below.

    .venv/bin/python scripts/make_nb02.py
"""

from __future__ import annotations

from nbgen import Notebook

nb = Notebook("02_teacher_training.ipynb")
md, code, BADGE = nb.md, nb.code, nb.badge


md(f"""
# 02 · The teacher: Unified Modality Cross-Attention on complete data

SDUMC (Weng et al., ICASSP 2025) makes a sentiment model robust to a missing transcript by distilling a
network *into itself*: the same weights run once on the real text (the teacher flow) and once on text
simulated from the speech (the student flow). Before the two flows, there is one network — **UMCANet**,
built around *Unified Modality Cross-Attention* (UMCA). This chapter builds that network, trains it on
complete data (the *teacher* of the following chapters and the first baseline of chapter 04) and opens it
up: what do its seven "unified modality" queries look at?

**What you will learn**

- the UMCANet forward pass step by step: attention pooling, modality weights, the seven trimodal /
  bimodal / unimodal queries, cross-attention from every query into every modality, two-stage fusion;
- why padding masks matter (the official code has none) and how to check that a model ignores padding;
- how to train with model selection on the validation split and read learning curves;
- how to inspect attention maps, with a figure and an interactive viewer.

{BADGE}
""")

nb.colab_setup()

code('''
import os
QUICK = os.environ.get("MSA_QUICK", "1") != "0"  # quick: small data, few epochs, CPU ~1 min
SEED = 0
DATA_PATH = None  # None = synthetic default; an MMSA or MulT .pkl, or a MERTools folder
SIMULATED_TEXT = "auto"  # data without simulated text: "auto" fits the text simulator (cached), "none", or an .npz
DEVICE = None
EPOCHS = None     # None = the default of the mode (printed below)
RETRAIN = False   # True = train even if a checkpoint for these settings exists
''', tags=["parameters"])

code('''
# everything that depends on QUICK
from msa_lib.training.sdumc import SDUMCTrainConfig

CONFIG = SDUMCTrainConfig.for_mode(QUICK)
if EPOCHS is not None:
    CONFIG = CONFIG.replace(epochs=EPOCHS)
N_ATTENTION_SAMPLES = 64 if QUICK else 256  # test samples used for the attention statistics
print("quick mode" if QUICK else "full mode", "| epochs:", CONFIG.epochs, "| batch size:", CONFIG.batch_size,
      "| widths D/C:", CONFIG.model.hidden_dim, CONFIG.model.cross_dim)
''')

code('''
import matplotlib.pyplot as plt
import numpy as np
import torch

from msa_lib.data import load_dataset, make_loader, require_task
from msa_lib.models import UMCAConfig, UMCANet
from msa_lib.models.umca import OFFICIAL_TRAINABLE_PARAMETERS, QUERY_NAMES
from IPython.display import Markdown, display
from msa_lib.training import count_parameters, full_history, full_run, results_table, run_summary, seed_everything, select_device
from msa_lib.training.sdumc import evaluate_method, summarise_rows, train_method
from msa_lib.viz import sdumc as vsdumc

seed_everything(SEED)
device = select_device(DEVICE)
dataset = load_dataset(DATA_PATH, quick=QUICK, seed=SEED, simulated_text=SIMULATED_TEXT)
require_task(dataset, "regression", chapter="02", method="SDUMC",
             instead="Chapter 05 (CorrKD) handles classification data sets such as IEMOCAP.")
print(dataset)
print("device:", device)
''')

md(r"""
## The network, one step at a time

A batch holds, for each modality $m \in \{a, t, v\}$ (audio, text, vision), right-padded frames
$X_m \in \mathbb{R}^{B \times T_m \times d_m}$ and a mask saying which frames are real. One flow of UMCANet:

1. **Project** every frame to a common size $D$: $x_m = W_m X_m$ (simulated text shares the text projection).
2. **Pool** each modality with additive attention over its real frames:
   $s_t = c^\top \tanh(W x_t + b)$, $\alpha = \operatorname{softmax}_{t:\,\text{real}}(0.3\, s)$,
   $u_m = \sum_t \alpha_t x_t$, then an MLP gives the utterance vector $h_m \in \mathbb{R}^D$.
3. **Weigh the modalities**: $w = W_w\,\mathrm{MLP}([h_a; h_t; h_v]) \in \mathbb{R}^3$, and form the trimodal
   sum $f = \sum_m w_m h_m$ and the bimodal sums $f_{at}, f_{tv}, f_{av}$.
4. **Seven unified-modality queries**, each through its own MLP:
   $Q = [q(f), q(f_{at}), q(f_{tv}), q(f_{av}), q(h_a), q(h_t), q(h_v)] \in \mathbb{R}^{B\times 7\times D}$.
5. **UMCA**: every query attends over every modality's frames,
   $$A_m = \operatorname{softmax}_{t:\,\text{real}}\big(0.3\,(W_q Q)(\tanh(W_k x_m))^\top\big) \in \mathbb{R}^{B\times 7\times T_m},
   \qquad c_m = \mathrm{MLP}(A_m x_m) \in \mathbb{R}^{B\times 7\times C}.$$
   In `msa_lib` this is one batched matrix product per modality (the official code loops over the queries).
6. **Fuse twice**: $G = \sum_m w_m c_m$ (reusing the modality weights), slot weights
   $z = W_z\,\mathrm{MLP}(\mathrm{flatten}\,G) \in \mathbb{R}^7$, fused embedding $e = \sum_k z_k G_k$.
7. **Heads**: the regression $\hat y = W_o e + b_o$ and a small projection $r$ used by Rank-N-Contrast in chapter 03.

`UMCANet` returns all the intermediate pieces the next chapters need (the text query $q(h_t)$, the text cross
features $c_t$, the attention maps) in one dict.
""")

code('''
sdumc_dims = {"audio": 1024, "text": 4096, "vision": 1024}  # WavLM-large, Vicuna-7B, MA-Net (SDUMC's features)
with torch.device("meta"):  # count parameters without allocating memory
    official_size = UMCANet(sdumc_dims, use_mia=False)
print(f"UMCANet at SDUMC's feature sizes: {count_parameters(official_size):,} trainable parameters "
      f"(the official model: {OFFICIAL_TRAINABLE_PARAMETERS:,} that receive gradients)")

model = UMCANet(dataset.input_dims, CONFIG.for_method("teacher").model)
print(f"UMCANet for {dataset.name} {dataset.input_dims} with this mode's widths: {count_parameters(model):,} parameters")

batch = next(iter(make_loader(dataset["train"], 4)))
out = model.eval()(batch)
for key in ("pred", "fused", "proj", "queries", "text_query", "text_cross", "modality_weights", "slot_weights"):
    print(f"{key:18s} {tuple(out[key].shape)}")
for m, a in out["attention"].items():
    print(f"attention[{m!r}]".ljust(18), tuple(a.shape), " (batch, 7 queries, frames)")
print("queries:", ", ".join(QUERY_NAMES))
''')

md(r"""
## Padding must not vote

Utterances have different lengths, so a batch is padded with zero frames up to its longest sequence. The
official SDUMC code passes no mask: after the projection $W_m X_m + b_m$ a zero frame becomes the bias $b_m$,
gets a share of every softmax over time, and leaks into the pooled vectors. The prediction for an utterance
then depends on *which other utterances share its batch*. `UMCANet` masks padded frames (each softmax runs over
real frames only, and a modality with no real frame pools to zeros); `use_masks=False` reproduces the original.
The cell below feeds the same utterances once in their batch and once each alone, with both variants
(untrained weights, the effect is architectural).
""")

code('''
def alone(batch, i):
    """Sample i of a batch, trimmed to its own lengths (no padding at all)."""
    out = {}
    for m in ("audio", "text", "vision"):
        n = int(batch[f"{m}_mask"][i].sum())
        out[m], out[f"{m}_mask"] = batch[m][i:i + 1, :n], batch[f"{m}_mask"][i:i + 1, :n]
    return out

probe = next(iter(make_loader(dataset["test"], 16)))
for use_masks in (True, False):
    seed_everything(SEED)
    net = UMCANet(dataset.input_dims, CONFIG.for_method("teacher").model.replace(use_masks=use_masks)).eval()
    with torch.no_grad():
        in_batch = net(probe)["pred"]
        single = torch.cat([net(alone(probe, i))["pred"] for i in range(16)])
    print(f"use_masks={use_masks!s:5}: largest change of a prediction between 'in a batch' and 'alone': "
          f"{(in_batch - single).abs().max().item():.2e}")
''')

md(r"""
## Training the teacher

The teacher is UMCANet trained on complete data with the mean squared error. We follow the official recipe
(Adam with a coupled L2 weight decay, a linear warm-up then a step decay of the learning rate) with two fixes:
batches are shuffled with a seed, and the epoch we keep is the one with the lowest **validation** MAE (the
official script picks its epoch on the test set). The test split is only used once training is over.

`train_method(..., checkpoint=True)` loads the weights if a checkpoint for exactly these settings exists
under `checkpoints/`, and trains (then saves) otherwise; set `RETRAIN = True` to force training.
""")

code('''
teacher, fit_result = train_method("teacher", dataset, seed=SEED, quick=QUICK, device=device, config=CONFIG,
                                   checkpoint=True, retrain=RETRAIN, progress=not QUICK)
best = fit_result.history[fit_result.best_epoch - 1]
print(f"selected epoch {fit_result.best_epoch} of {len(fit_result.history)}: valid MAE {best['valid_MAE']:.4f}, "
      f"valid Corr {best['valid_Corr']:.4f}")
fig = vsdumc.plot_learning_curves(fit_result, title="teacher (UMCA, complete data)")
plt.show()
''')

code('''
# the data set's own metric set (MOSI / MOSEI or CH-SIMS keys); text_missing only where there is simulated text
conditions = ("complete", "text_missing") if dataset.has_text_sim else ("complete",)
test = evaluate_method(teacher, dataset, conditions, method="teacher")
for condition, metrics in test.items():
    print(f"test, {condition:12s}: " + "  ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
if dataset.has_text_sim:
    gap = test["text_missing"]["MAE"] - test["complete"]["MAE"]
    print(f"In this run, replacing the real text by the simulated text changes the teacher's test MAE by {gap:+.4f} "
          f"({100 * gap / test['complete']['MAE']:+.1f}%)." + (" Quick mode: a demonstration of the mechanics; the "
          "full-mode teacher below is the finding." if QUICK else ""))
else:
    print("No simulated text (SIMULATED_TEXT = 'none'): the text_missing condition is skipped.")
''')

md(r"""
## The full-mode teacher

What the book concludes about the teacher comes from the full-mode run of chapter 04, committed in
`results/missing_text.json` (every seed, the full budget, the full-size synthetic set): its test scores, the
learning curve of one seed from the per-epoch history stored in the file, and the gap that simulated text
leaves — the gap chapters 03 and 04 try to close. Nothing here is trained.
""")

code('''
full = full_run("missing_text")  # prints its provenance (and STALE with the reason, if it is), or how to make it
if full is not None:
    display(Markdown(run_summary(full)))
    teacher_rows = [r for r in full["rows"] if r["method"] == "teacher"]
    display(results_table(teacher_rows, metrics=["MAE", "Corr", "Non0_acc_2", "Non0_F1_score", "Mult_acc_7"]))
    mae = summarise_rows(teacher_rows, "MAE")
    (c, c_sd, n), (t, t_sd, _) = mae[("teacher", "complete")], mae[("teacher", "text_missing")]
    display(Markdown(f"Over {n} seeds the teacher's test MAE is {c:.4f} ± {c_sd:.4f} with the real text and "
                     f"{t:.4f} ± {t_sd:.4f} with simulated text: simulated text costs it {t - c:+.4f} "
                     f"({100 * (t - c) / c:+.1f} %)."))
    seed0 = full["seeds"][0]
    history = full_history(full, "teacher", seed0)
    if history:
        fig = vsdumc.plot_learning_curves(history, title=f"teacher, seed {seed0} (full mode)")
        plt.show()
''')

md(r"""
## What do the seven queries look at?

Each query produces one distribution over the frames of each modality. The heat maps show, for one test
utterance, all seven queries (rows) against the real frames (columns) of audio, text and vision. On the
synthetic data we know which frames carry the sentiment (red triangles): a few text tokens, a few audio
frames with prosody, a few video frames with an expression.
""")

code('''
test_split = dataset["test"]
viz_batch = next(iter(make_loader(test_split, N_ATTENTION_SAMPLES)))
viz_batch, viz_out = vsdumc.model_outputs(teacher, viz_batch)
sample = 0
evidence = test_split.evidence_frames(int(viz_batch["index"][sample])) if test_split.evidence else None
fig = vsdumc.plot_query_attention(viz_out, viz_batch, sample=sample, evidence=evidence,
                                  title=f"UMCA attention, test sample {sample} (label {float(viz_batch['label'][sample]):+.2f})")
plt.show()
''')

md(r"""
Averaged over many utterances: how much attention does each query put on the sentiment-bearing text tokens,
compared with what a uniform attention would put there? (Only on the synthetic data, where those tokens are
known.)
""")

code('''
if test_split.evidence:
    mass = vsdumc.attention_mass_on_evidence(viz_out, viz_batch, test_split, modality="text")
    uniform = mass.pop("uniform")
    fig, ax = plt.subplots(figsize=(7, 2.8))
    ax.bar(range(7), [mass[q] for q in QUERY_NAMES], color="#1f77b4")
    ax.axhline(uniform, color="k", ls="--", lw=1, label="uniform attention")
    ax.set_xticks(range(7)); ax.set_xticklabels(QUERY_NAMES, rotation=20, ha="right")
    ax.set_ylabel("attention on sentiment tokens"); ax.legend()
    plt.show()
    top = max(mass, key=mass.get)
    print(f"Uniform attention would put {uniform:.3f} of its mass on the sentiment-bearing text tokens; "
          f"the query '{top}' puts {mass[top]:.3f} there, the least focused query "
          f"'{min(mass, key=mass.get)}' {min(mass.values()):.3f}.")
else:
    print("This data set does not record which frames carry the sentiment (only the synthetic one does).")
''')

md("""
### An interactive viewer

Pick a test utterance and a query: the bars are that query's attention over each modality's real frames
(sentiment-bearing frames in red on the synthetic data). The widget needs a live kernel.
""")

code('''
viewer = vsdumc.attention_viewer(teacher, viz_batch, split=test_split)
viewer
''')

md("""
## Exercises

### Exercise 1 · The official, unmasked model

Train the teacher again with `use_masks=False` (the official model's behaviour; use
`CONFIG.replace(model=CONFIG.model.replace(use_masks=False))`) with the same seed,
and compare its validation and test MAE with the masked teacher. Is the difference larger than what another
seed of the masked model gives?
""")

code('''
unmasked_config = CONFIG.replace(model=CONFIG.model.replace(use_masks=False))
unmasked, unmasked_fit = train_method("teacher", dataset, seed=SEED, device=device, config=unmasked_config,
                                      checkpoint=True)
other_seed, other_fit = train_method("teacher", dataset, seed=SEED + 1, device=device, config=CONFIG,
                                     checkpoint=True)
for name, m, f in (("masked", teacher, fit_result), ("unmasked", unmasked, unmasked_fit),
                   (f"masked, seed {SEED + 1}", other_seed, other_fit)):
    t = evaluate_method(m, dataset, ("complete",))["complete"]
    print(f"{name:18s} valid MAE {f.best_score:.4f}   test MAE {t['MAE']:.4f}")
''', tags=["solution"])

md("""
### Exercise 2 · How peaked is each query?

For every query, compute the mean entropy (in nats) of its attention distribution over the real audio frames
of the `viz_batch` utterances, and compare it with the entropy of a uniform distribution over the same frames,
$\\log T$. Which queries are the most selective?
""")

code('''
att = viz_out["attention"]["audio"]                      # [B, 7, T]
lengths = viz_batch["audio_mask"].sum(1).float()         # [B]
entropy = -(att * torch.log(att.clamp_min(1e-12))).sum(-1)  # [B, 7]
for k, q in enumerate(QUERY_NAMES):
    print(f"{q:18s} mean entropy {entropy[:, k].mean():.3f}   uniform {torch.log(lengths).mean():.3f}")
''', tags=["solution"])


if __name__ == "__main__":
    nb.write()
