"""Build notebooks/07_head_to_head.ipynb (outputs empty) from the cells below.

    .venv/bin/python scripts/make_nb07.py
"""

from __future__ import annotations

from nbgen import Notebook

nb = Notebook("07_head_to_head.ipynb")
md, code, BADGE = nb.md, nb.code, nb.badge


md(f"""
# 07 · Head to head: the book's methods against the field's models, under both protocols

Chapters 02–05 compared each method with its own teacher and ablations, on the data set the book generates.
That leaves two questions a careful reader should ask. *Is the teacher any good?* A distillation method that
beats a weak teacher has shown little. And *does the method only work on the data it was built on?* This
chapter answers both on one file the book's default never was: an MMSA-format `aligned_50.pkl` of CMU-MOSI's
size (1,284 / 229 / 686 utterances, 768-d text, 5-d audio, 20-d vision), written by a different generative
story from `synthetic_mosei`'s (annotator-averaged labels, a bag of opinion words, pitch and smile tracks;
`msa_lib.data.annotator_story`). On it, with the same seeds, it trains

- three classic models of the field as thuiar/MMSA implements and trains them — **LF-DNN** (late fusion),
  **TFN** (tensor fusion) and **MulT** (cross-modal transformers) —,
- the **SDUMC** teacher (UMCANet on complete data) and the SDUMC double-flow network of chapters 02–03,
- the **CorrKD** teacher and student of chapter 05,

and evaluates every model under **both** missing-data protocols of the book: SDUMC's (the real text replaced
by text simulated from the audio) and CorrKD's (six whole-modality conditions and frame-missing rates
0.0–1.0). No published comparison puts these methods side by side under each other's protocols.

**What you will learn**

- how the field's baselines are built and trained (MMSA's recipes, early stopping on validation), and why
  this book re-implements them instead of calling MMSA;
- what each method gains and loses under the protocol it was *not* designed for;
- how to read a comparison of seven methods honestly: one metric, intervals of differences, and the count
  of comparisons that are not distinguishable.

{BADGE}
""")

nb.colab_setup()

code('''
import os
QUICK = os.environ.get("MSA_QUICK", "1") != "0"  # quick: small data, few epochs, CPU ~1 min
SEEDS = [0, 1, 2, 3, 4]
DATA_PATH = None  # None = the annotator story's MOSI-size MMSA file (written once); or your MMSA .pkl / MERTools folder
DEVICE = None     # None = cuda > mps > cpu
''', tags=["parameters"])

code('''

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from msa_lib.data import CORRKD_CONDITIONS, require_task
from msa_lib.metrics import metric_keys
from msa_lib.stats import averaged_rows, compare_many, comparison_frame
from msa_lib.training import (full_history, full_run, load_predictions, results_table, run_summary, select_device,
                              selected_epochs)
from msa_lib.training.baselines import HEAD_TO_HEAD_METHODS
from msa_lib.training.grid import Grid, run_grid
from msa_lib.viz import corrkd as vk
from msa_lib.viz import sdumc as vsdumc

device = select_device(DEVICE)
RUN_SEEDS = SEEDS[:2] if QUICK else SEEDS     # quick: two seeds (a spread, not a conclusion)
METHODS = list(HEAD_TO_HEAD_METHODS)
BASELINES, BOOK = METHODS[:3], METHODS[3:]
# the grid the command line runs in full mode (python -m msa_lib.training.grid head_to_head): one description
grid = Grid("head_to_head", seeds=tuple(RUN_SEEDS), methods=tuple(METHODS), quick=QUICK, data_path=DATA_PATH,
            device=DEVICE)
dataset = grid.load_data()
require_task(dataset, "regression", chapter="07", method="the head-to-head comparison",
             instead="Chapter 05 (CorrKD) handles classification data sets such as IEMOCAP.")
print("quick mode" if QUICK else "full mode", "| seeds:", RUN_SEEDS, "| device:", device)
print(dataset)
''')

md(r"""
## The contenders

| method | what it is | trained on | epoch kept |
|---|---|---|---|
| `lf_dnn` | LF-DNN (MMSA): an LSTM over text, MLPs over mean-pooled audio and vision, late fusion by concatenation | complete data, L1 loss, MMSA's MOSI recipe | best validation MAE; stops after 8 epochs without one (cap 100) |
| `tfn` | TFN (Zadeh et al. 2017): the same sub-networks, fused by the outer product of $[h_t;1]\otimes[h_a;1]\otimes[h_v;1]$ | as LF-DNN | as LF-DNN |
| `mult` | MulT (Tsai et al. 2019): 1-D convolutions, six cross-modal transformers (each modality attends to each other one), self-attention, late fusion | as LF-DNN, with MMSA's gradient clipping | as LF-DNN |
| `sdumc_teacher` | UMCANet (chapter 02): unified modality cross-attention | complete data, the official recipe (a fixed number of epochs) | best validation MAE within the budget |
| `sdumc` | the SDUMC double flow (chapter 03): real-text and simulated-text flows, MIA, Rank-N-Contrast, self-distillation | both flows | best mean validation MAE of the two conditions |
| `corrkd_teacher` | CorrKDNet (chapter 05): convolutional front end, transformer encoders, prototype-based regression | complete data | best validation score |
| `corrkd` | the CorrKD student: SCD + CPD + RCD distillation from the teacher on randomly corrupted inputs (MRM) | corrupted copies | best score over CorrKD's validation conditions |

**Why re-implemented, not MMSA itself.** MMSA's PyPI package needs runtime patches to run here (a CPU device,
a `ReduceLROnPlateau` argument newer torch removed, an epoch cap), feeds its models MMSA's own padded tensors,
and cannot evaluate under the missing-data transforms of this book. `msa_lib.models.baselines` rebuilds the
three models with MMSA's layer sizes — the parameter counts are MMSA's, and loading MMSA's weights gives MMSA's
predictions (`benchmarks/parity_mmsa.py`) — so every model here sees the same batches, masks and conditions.
Two documented differences: pooling and attention ignore padded frames (`padding="masked"`; MMSA's behaviour is
`padding="mmsa"`), and MulT keeps its learning rate constant instead of lowering it on a plateau.

**The protocols.** `complete`; SDUMC's `text_missing` (the text replaced by text a ridge model simulates
from the audio, as chapter 01 builds it — this file has no speech-LLM text); CorrKD's six conditions
(`only_text` … `audio+vision`: the other modalities removed) and `frame_missing_<p>` (each frame of each
modality removed with probability *p*, masks fixed by the seed and the same for every model). A model trained
only on complete data meets all of them for the first time at test.

**Is a difference real?** As in chapters 04–05: `msa_lib.stats.compare` pairs two methods by seed and
bootstraps over seeds and test utterances; *better* or *worse* when the 95 % interval of the difference
excludes 0, else *not distinguishable* at this number of seeds. Spreads over seeds are sample standard
deviations (ddof = 1).
""")

md("""
## The findings: the full-mode run

Everything in this section is read from `results/head_to_head.json` (full size, the full recipes, five seeds);
the banner names the commit and command that made it, and says so when the current code would no longer
make the same file.
""")

code('''
HEADLINE = ("complete", "text_missing", "Avg", "frame_missing_0.5")  # "Avg": CorrKD's mean over its six conditions


def with_avg(rows):
    """The rows plus CorrKD's "Avg." condition: per seed, each metric averaged over the six missing conditions."""
    return list(rows) + averaged_rows(rows, CORRKD_CONDITIONS)


def head_to_head_comparisons(rows, predictions=None, metric="MAE"):
    """Every book method against every baseline under the headline conditions (A = book method, B = baseline)."""
    pairs = [(a, b, c) for c in HEADLINE for a in BOOK for b in BASELINES]
    direct = [p for p in pairs if p[2] != "Avg"]
    averaged = [p for p in pairs if p[2] == "Avg"]
    return (compare_many(rows, direct, metric=metric, predictions=predictions, dataset=dataset) +
            compare_many(with_avg(rows), averaged, metric=metric))  # Avg: paired over seeds only


def verdict_counts(comparisons):
    """Per (book method, condition): how many of the three baselines it beats, loses to, or ties with."""
    counts = {}
    for c in comparisons:
        key = (c.a, c.condition)
        counts.setdefault(key, {"better": 0, "worse": 0, "not distinguishable": 0})
        counts[key]["better" if c.verdict == "better" else "worse" if c.verdict == "worse" else
                    "not distinguishable"] += 1
    lines = []
    for condition in HEADLINE:
        parts = [f"`{m}` {counts[(m, condition)]['better']}/{counts[(m, condition)]['worse']}/"
                 f"{counts[(m, condition)]['not distinguishable']}" for m in BOOK if (m, condition) in counts]
        lines.append(f"- `{condition}`: " + ", ".join(parts))
    return "\\n".join(lines)


full = full_run("head_to_head")  # prints its provenance (and STALE with the reason, if it is), or how to make it
if full is None:
    display(Markdown("**No full-mode file yet.** Make it with `python -m msa_lib.training.grid head_to_head` (every "
                     "(method, seed) a Ray task, resumable; one GPU: add `--device cuda --gpus-per-trial 0.25`; "
                     "hours on a 2-core CPU) or run this notebook with `QUICK=False`."))
else:
    full_rows = full["rows"]
    display(Markdown(run_summary(full)))
    display(Markdown("**SDUMC's protocol** (mean ± sample std over seeds):"))
    display(results_table([r for r in full_rows if r["condition"] in ("complete", "text_missing")],
                          metrics=["MAE", "Corr", "Non0_acc_2", "Non0_F1_score", "Mult_acc_7"]))
''')

code('''
if full is not None:
    display(Markdown("**CorrKD's protocol**, test MAE per condition (Avg. = the six missing conditions):"))
    display(vk.corrkd_table(full_rows, "MAE", methods=METHODS, scale=1.0, digits=3))
    display(Markdown("... and Non0 F1 (×100):"))
    display(vk.corrkd_table(full_rows, "Non0_F1_score", methods=METHODS))
    fig = vk.plot_f1_and_mae_vs_rate(full_rows, methods=METHODS, title="full run: ")
    plt.show()
''')

md("""
### Which differences are real

Each book method against each baseline, test MAE, under the four headline conditions: `complete`, SDUMC's
`text_missing`, CorrKD's average over its six conditions and half the frames missing. The summary counts,
per condition and book method, the baselines it is better than / worse than / not distinguishable from; the
table below it has every interval.
""")

code('''
if full is not None:
    full_comparisons = head_to_head_comparisons(full_rows, load_predictions("head_to_head"))
    display(Markdown("**Book method vs the three baselines, test MAE** (better / worse / not distinguishable):\\n\\n"
                     + verdict_counts(full_comparisons)))
    display(comparison_frame(full_comparisons))
''')

md("""
### Did every model train to the end?

A fixed budget that ends while validation still improves favours whichever method learns fastest per step.
The baselines stop by MMSA's early stopping; SDUMC's teacher and network follow the official recipe's fixed
number of epochs, tuned on CMU-MOSEI's 16,326 training utterances — on a set ten times smaller that is ten
times fewer steps. The cell below counts, per method, the models that kept one of the last two epochs of their
budget, and draws the SDUMC teacher's learning curve.
""")

code('''
if full is not None:
    selected = selected_epochs(full)  # "method/seed" -> (selected epoch, budget)
    lines = []
    for m in METHODS:
        picks = [(best, budget) for key, (best, budget) in selected.items() if key.split("/")[0] == m]
        late = sum(1 for best, budget in picks if budget and best >= budget - 1)
        lines.append(f"- `{m}`: selected epochs {sorted(b for b, _ in picks)} of a budget of "
                     f"{sorted({b for _, b in picks})}; {late} of {len(picks)} at the end of the budget")
    display(Markdown("\\n".join(lines)))
    history = full_history(full, "sdumc_teacher", full["seeds"][-1])
    if history:
        fig = vsdumc.plot_learning_curves(history, title=f"SDUMC teacher, seed {full['seeds'][-1]} (full mode)")
        plt.show()
''')

md("""
### Reading the comparison

Three things to look for in the tables above — the sentences are computed, the reading is yours:

1. **Teachers first.** A distilled student is only as interesting as the teacher it copies. Compare
   `sdumc_teacher` and `corrkd_teacher` with TFN and MulT under `complete`: if a teacher loses there, the
   student's gains under missing data are gains over a weak starting point.
2. **Each protocol favours its own method.** SDUMC's network was trained on simulated text and should
   hold up under `text_missing`; CorrKD's student was trained on randomly removed modalities and frames and
   should hold up under the six conditions and the frame-missing curve. The interesting rows are the other
   ones: the CorrKD student under `text_missing` (it never saw simulated text) and SDUMC under `only_audio`
   (it always trained with audio *and* vision present, and with text or its simulation).
3. **Baselines collapse where they never trained.** LF-DNN, TFN and MulT learn on complete data only. Their
   frame-missing curves show how much of their accuracy depends on every modality being present — a
   missing-modality method earns its keep by the gap between its curve and theirs, not by its `complete` row.

If the SDUMC teacher stopped at the end of its budget (the counts above), its rows are those of an
undertrained model on data of this size; the official schedule is kept as the default so that the book's runs
stay comparable with the paper's, and that is a known limit of this comparison.
""")

md("""
## Run it yourself (quick mode: the mechanics, not findings)

The same experiment on this machine: in quick mode on a small file from the same story (160 / 64 / 96
utterances), with small models and a few epochs, two seeds. It shows how the seven methods are trained and
evaluated and what the run writes (to `results/quick/`); **its numbers are not evidence about the methods**,
so it prints no verdicts. With `QUICK=False` this cell *is* the full run (hours on a CPU; on one GPU use
`python -m msa_lib.training.grid head_to_head`, which runs the same trials in parallel on Ray).
""")

code('''
# the grid's trials one after the other in this process (use_ray=False); a finished trial is stored under a key of
# its settings, the data and the code, so running this cell again only loads
command = f"papermill notebooks/07_head_to_head.ipynb out.ipynb -p QUICK {QUICK}" + (
    f" -p DATA_PATH {DATA_PATH}" if DATA_PATH else "")
report = run_grid(grid, use_ray=False, command=command)
run_rows, name = report.rows, grid.results_name(dataset)
seconds = {key: s for result in report.results.values() for key, s in result.seconds.items()}
print(f"{len(run_rows)} rows from {len(seconds)} models ({len(report.ran)} trained or loaded now) in "
      f"{report.seconds:.0f} s, written to {report.path}")
for (m, seed), secs in seconds.items():
    if seed == RUN_SEEDS[0]:
        print(f"  {m:15s} {secs:6.1f} s (seed {seed})")
''')

code('''
display(results_table([r for r in run_rows if r["condition"] in ("complete", "text_missing")],
                      metrics=metric_keys(dataset.metric_dataset)))
display(vk.corrkd_table(run_rows, "MAE", methods=METHODS, scale=1.0, digits=3))
fig = vk.plot_f1_and_mae_vs_rate(run_rows, methods=METHODS, title="this run: ")
plt.show()
if QUICK:
    print("Quick mode: a demonstration of the mechanics. These numbers come from tiny data, small models, few epochs"
          " and two seeds; the chapter's findings are the full-mode section above.")
else:
    run_comparisons = head_to_head_comparisons(run_rows, load_predictions(name, quick=QUICK))
    display(Markdown(verdict_counts(run_comparisons)))
''')

md("""
## Exercises

### Exercise 1 · Who degrades most gracefully?

For every method, compute per seed the test MAE at `frame_missing_0.9` minus its MAE under `complete` (how
much it loses when nine frames in ten are gone), then mean ± sample std over seeds. Which kind of model loses
least — the baselines, the teachers or the students? Use the full-mode rows when the file is there.
""")

code('''
source = full["rows"] if full is not None else run_rows
mae = {(r["method"], r["condition"], r["seed"]): r["metrics"]["MAE"] for r in source}
seeds = sorted({r["seed"] for r in source})
for m in METHODS:
    loss = np.array([mae[(m, "frame_missing_0.9", s)] - mae[(m, "complete", s)] for s in seeds])
    spread = f" ± {loss.std(ddof=1):.3f}" if len(loss) > 1 else ""
    print(f"{m:15s} MAE(0.9) - MAE(complete) = {loss.mean():+.3f}{spread}")
''', tags=["solution"])

md("""
### Exercise 2 · Does the baseline's recipe matter?

MMSA tunes a recipe per model and data set. Train TFN once more with MMSA's **MOSEI** recipe
(`BaselineTrainConfig.full("tfn", dataset="mosei")`: batch 128, learning rate 5e-3) on this MOSI-size data — in
quick mode keep the quick model and only change batch size and learning rate — and compare its `complete` test
MAE with the TFN above for the same seed. What does the difference say about comparing methods whose recipes
were tuned on another data set?
""")

code('''
import dataclasses

from msa_lib.training.baselines import BaselineTrainConfig, evaluate_protocols, train_baseline

seed = RUN_SEEDS[0]
base = BaselineTrainConfig.for_mode("tfn", QUICK)
mosei = BaselineTrainConfig.full("tfn", dataset="mosei")
other = dataclasses.replace(base, batch_size=mosei.batch_size, lr=mosei.lr, device=DEVICE)
model, fit = train_baseline("tfn", dataset, seed, QUICK, other)
other_mae = evaluate_protocols(model, dataset, seed=seed)["complete"]["MAE"]
this_mae = next(r["metrics"]["MAE"] for r in run_rows if (r["method"], r["condition"], r["seed"]) == ("tfn", "complete", seed))
print(f"TFN, seed {seed}: MOSI recipe {this_mae:.4f}, MOSEI's batch size and learning rate {other_mae:.4f} "
      f"(best epoch {fit.best_epoch} of {len(fit.history)})")
''', tags=["solution"])


if __name__ == "__main__":
    nb.write()
