"""Build notebooks/04_missing_text_evaluation.ipynb (outputs empty) from the cells below.

    .venv/bin/python scripts/make_nb04.py
"""

from __future__ import annotations

from nbgen import Notebook

nb = Notebook("04_missing_text_evaluation.ipynb")
md, code, BADGE = nb.md, nb.code, nb.badge


md(f"""
# 04 · Missing text: does self-distillation pay?

Chapters 02 and 03 trained one teacher and one SDUMC network with one seed. One seed proves nothing: two runs
of the same recipe can differ by more than two methods do. This chapter compares every method over several
seeds — the epoch chosen on the validation split only, the test split evaluated once under two conditions —
and asks which part of SDUMC does the work: the ablations without MIA and without Rank-N-Contrast, and a simpler
baseline that just trains on both kinds of text.

The chapter has two halves. **The findings** come from the full-mode run committed in
`results/missing_text.json` (full-size data, the full budget, five seeds): its tables, learning curves and the
sentences that interpret them are all computed from that file. **Run it yourself** then repeats the experiment
in quick mode — a demonstration of the mechanics that takes a minute on a CPU and concludes nothing.

**What you will learn**

- the SDUMC evaluation protocol: `complete` vs `text_missing` (the real text replaced by text simulated from
  the audio), and what each means for each method;
- how to compare methods honestly: validation-only model selection, mean ± sample std over seeds, and a
  confidence interval of the difference, paired by seed and bootstrapped over test utterances;
- what MIA and Rank-N-Contrast contribute in our runs — including where they do not help.

{BADGE}
""")

nb.colab_setup()

code('''
import os
QUICK = os.environ.get("MSA_QUICK", "1") != "0"  # quick: small data, few epochs, CPU ~1 min
SEEDS = [0, 1, 2, 3, 4]
DATA_PATH = None  # None = synthetic default; an MMSA or MulT .pkl, or a MERTools folder
SIMULATED_TEXT = "auto"  # data without simulated text: "auto" fits the text simulator (cached), or an .npz path
DEVICE = None
EPOCHS = None     # None = the mode's default (printed below)
''', tags=["parameters"])

code('''
# everything that depends on QUICK
from msa_lib.training.sdumc import EVAL_METHODS, SDUMCTrainConfig

CONFIG = SDUMCTrainConfig.for_mode(QUICK)
CONFIG = CONFIG.replace(epochs=EPOCHS if EPOCHS is not None else (6 if QUICK else CONFIG.epochs))
RUN_SEEDS = SEEDS[:2] if QUICK else SEEDS     # quick: two seeds (a spread, not a conclusion)
METHODS = list(EVAL_METHODS)
print("quick mode" if QUICK else "full mode", "| seeds:", RUN_SEEDS, "| epochs:", CONFIG.epochs, "| methods:", METHODS)
''')

code('''
import time

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from msa_lib.data import load_dataset, require_simulated_text, require_task
from msa_lib.metrics import metric_keys
from msa_lib.stats import compare_many, comparison_frame, verdict_markdown
from msa_lib.training import (full_history, full_run, load_predictions, results_name, results_table, run_summary,
                              select_device, selected_epochs)
from msa_lib.training.sdumc import run_missing_text_experiment, summarise_rows, write_missing_text_results
from msa_lib.viz import sdumc as vsdumc

device = select_device(DEVICE)
dataset = load_dataset(DATA_PATH, quick=QUICK, seed=0, simulated_text=SIMULATED_TEXT)
require_task(dataset, "regression", chapter="04", method="SDUMC",
             instead="Chapter 05 (CorrKD) handles classification data sets such as IEMOCAP.")
require_simulated_text(dataset, chapter="04")
print(dataset)
''')

md(r"""
## The protocol

| method | trained on | `complete` at test | `text_missing` at test |
|---|---|---|---|
| `teacher` | real text | real text | simulated text |
| `teacher_zero_text` | (the teacher) | real text | **no text**: features zeroed, mask empty |
| `modality_dropout` | real text, or simulated text with prob. 0.5 per utterance | real text | simulated text |
| `sdumc` | double flow, full loss, MIA on | real text | simulated text (MIA on) |
| `sdumc_no_mia` | as `sdumc`, without MIA (the official code's setting) | real text | simulated text |
| `sdumc_no_rnc` | as `sdumc`, Rank-N-Contrast weight 0 | real text | simulated text |

Audio and vision are always present. `teacher_zero_text` is not trained again: it is the teacher when the text is
simply gone, the situation simulated text is meant to fix. Every method except the teacher keeps the epoch with
the lowest *mean* validation MAE over the two conditions; the teacher keeps its best complete-data epoch. The
test split is touched once per model, after training.

**Is a difference real?** Every comparison below is made by `msa_lib.stats.compare`. It pairs the two methods by
seed — in this project a seed fixes, for every method alike, the initial weights' generator, the order of the
training batches and the random masks; the data do not change with the seed — and bootstraps over seeds and
over test utterances (the same utterances for both methods), giving a 95 % interval of the difference A − B.
The verdict is *better* or *worse* when the interval excludes 0, else *not distinguishable* at that number of
seeds. Spreads over seeds are sample standard deviations (ddof = 1).
""")

md("""
## The findings: the full-mode run

Everything in this section is read from `results/missing_text.json`; the banner names the commit and command
that made it, and says so in red if the current code would no longer make the same file.
""")

code('''
COMPARISONS = [("sdumc", "teacher", "text_missing"), ("teacher", "teacher_zero_text", "text_missing"),
               ("sdumc", "modality_dropout", "text_missing"), ("sdumc", "sdumc_no_mia", "text_missing"),
               ("sdumc", "sdumc_no_rnc", "text_missing"), ("sdumc", "teacher", "complete"),
               ("modality_dropout", "teacher", "complete"), ("sdumc_no_mia", "teacher", "complete"),
               ("sdumc_no_rnc", "teacher", "complete")]

def text_cost(rows):
    """Per method: the mean over seeds of test MAE(text_missing) - MAE(complete), as a Markdown list."""
    mae = summarise_rows(rows, "MAE")
    return "\\n".join(f"- `{m}`: replacing real by simulated text costs {mae[(m, 'text_missing')][0] - mae[(m, 'complete')][0]:+.4f} "
                     f"test MAE on average." for m in ("teacher", "modality_dropout", "sdumc", "sdumc_no_mia", "sdumc_no_rnc")
                     if (m, "complete") in mae and (m, "text_missing") in mae)

full = full_run("missing_text")  # prints its provenance (and STALE with the reason, if it is), or how to make it
if full is None:
    display(Markdown("**No full-mode file yet.** Make it with `python -m msa_lib.training.grid missing_text` "
                     "(Ray tasks, resumable; hours on a 2-core CPU, minutes on one GPU with `--device cuda "
                     "--gpus-per-trial 0.1`) or run this notebook with `QUICK=False`."))
else:
    full_predictions = load_predictions("missing_text")
    display(Markdown(run_summary(full)))
    display(results_table(full["rows"], metrics=["MAE", "Corr", "Non0_acc_2", "Non0_F1_score", "Mult_acc_7"]))
''')

code('''
if full is not None:
    fig = vsdumc.plot_missing_text_results(full["rows"], metric="MAE", methods=METHODS)
    plt.show()
    full_comparisons = compare_many(full["rows"], COMPARISONS, metric="MAE", predictions=full_predictions,
                                    dataset="mosei")  # the book's run: the synthetic default
    display(Markdown("**Test MAE, A vs B** (negative = A better):\\n\\n" + verdict_markdown(full_comparisons)))
    display(Markdown("**What simulated text costs each method:**\\n\\n" + text_cost(full["rows"])))
''')

md("""
### Learning curves of the full run

Drawn from the per-epoch histories stored in the file (no checkpoint needed): training loss, and the validation
MAE under both conditions with the selected epoch, for the teacher and SDUMC of the last seed.
""")

code('''
if full is not None:
    last = full["seeds"][-1]
    for method in ("teacher", "sdumc"):
        history = full_history(full, method, last)
        if history:
            fig = vsdumc.plot_learning_curves(history, title=f"{method}, seed {last} (full mode)")
            plt.show()
''')

md("""
### Reading the full run

**SDUMC against the teacher on complete data.** The teacher is trained for exactly this condition, so SDUMC
should at best match it there. The verdicts above say whether it does more than that; the cell below picks out
the complete-data comparisons and the share of models that stopped at the end of their budget.
""")

code('''
if full is not None:
    complete = [c for c in full_comparisons if c.condition == "complete"]
    display(Markdown("**Complete data, test MAE, A vs B:**\\n\\n" + verdict_markdown(complete)))
    selected = selected_epochs(full)  # "method/seed" -> (selected epoch, budget), from the stored histories
    late = [k for k, (best, budget) in selected.items() if budget and best >= budget - 1]
    display(Markdown(f"{len(late)} of the {len(selected)} trained models selected one of the last two epochs of "
                     "their budget."))
''')

md("""
When SDUMC is ahead of the teacher on complete data — the verdicts above say whether it is, at this number of
seeds — its advantage under `text_missing` is not all "better at missing text": part of it is a better model
on every input. Three features of the comparison can produce that, and the rows above separate some of them.

1. *Two views of every utterance.* Each SDUMC step trains the shared audio and vision projections and the
   fusion layers on the utterance with its real text and with its simulated text, and pulls the two flows
   together: a regulariser much like data augmentation. `modality_dropout` also sees both kinds of text, but
   one per step and without distillation; its complete-data verdict against the teacher shows how much of the
   gain a plain model gets from the second view alone.
2. *The parts that SDUMC adds on top.* `sdumc_no_mia` and `sdumc_no_rnc` against the teacher show whether MIA or
   Rank-N-Contrast is needed for the complete-data gain; when both ablations keep it, the double flow with its
   distillation terms is what carries it.
3. *A fixed budget that ends too early.* When most models select their last epochs (the count above), training
   stopped while validation was still improving. A method whose steps carry more signal — SDUMC runs both flows
   in every step — is then ahead *at the end of the budget* whether or not it would be ahead at convergence.
   The official recipe fixes the number of epochs; this file cannot tell the two readings apart, and a recipe
   that trains each method to convergence on the validation split is the experiment that would.

**The fairer reading** of "does self-distillation help with missing text" is therefore the *cost* of
simulated text per method (the list above), and the comparison with `modality_dropout`, the baseline that
gets the same two kinds of text without any distillation. Where an interval includes 0, the honest answer at
this number of seeds is that the two methods cannot be told apart on this data.
""")

md("""
## Run it yourself (quick mode: the mechanics, not findings)

The same experiment, end to end, on this machine. In quick mode it uses a small data set, a few epochs and two
seeds: it shows how the experiment runs and what it writes (to `results/quick/`), and **its numbers are not
evidence about the methods** — so it prints them without verdicts. With `QUICK=False` this cell *is* the full
run: it re-makes `results/missing_text.json` (rerun the notebook to see it in the findings above) and prints the
same comparisons. Checkpoints are kept in the checkpoint folder (`MSA_CHECKPOINT_DIR`, default `checkpoints/`)
under a name that hashes the full settings, the data's content and the version of the training code, so a rerun
of this notebook reuses the models it already trained — and only those: quick mode trains other epoch counts in
chapters 02–03, so their models are not these.
""")

code('''
started, seconds, predictions = time.perf_counter(), {}, {}
rows, fits = run_missing_text_experiment(dataset, seeds=RUN_SEEDS, config=CONFIG, methods=METHODS,
                                         device=device, checkpoint=True, progress=not QUICK,
                                         seconds=seconds, predictions=predictions)
command = f"papermill notebooks/04_missing_text_evaluation.ipynb out.ipynb -p QUICK {QUICK}" + (
    f" -p DATA_PATH {DATA_PATH}" if DATA_PATH else "")
path = write_missing_text_results(results_name("missing_text", dataset), dataset, rows, fits, config=CONFIG,
                                  methods=METHODS, seeds=RUN_SEEDS, quick=QUICK, command=command, seconds=seconds,
                                  predictions=predictions, wall_seconds=time.perf_counter() - started)
print(f"{len(rows)} rows written to {path}")
per_seed = {(r["method"], r["condition"], r["seed"]): r["metrics"]["MAE"] for r in rows}
''')

code('''
display(results_table(rows, metrics=metric_keys(dataset.metric_dataset)))  # the data set's own metric set
fig = vsdumc.plot_missing_text_results(rows, metric="MAE", methods=METHODS)
plt.show()
if QUICK:
    print("Quick mode: a demonstration of the mechanics. These numbers come from tiny data, few epochs and two seeds;"
          " the chapter's findings are the full-mode section above.")
else:
    run_comparisons = compare_many(rows, COMPARISONS, metric="MAE", predictions=predictions, dataset=dataset)
    display(Markdown(verdict_markdown(run_comparisons)))
''')

code('''
last = RUN_SEEDS[-1]
for method in ("sdumc", "sdumc_no_mia", "sdumc_no_rnc"):
    if (method, last) in fits:
        fig = vsdumc.plot_learning_curves(fits[(method, last)], title=f"{method}, seed {last} (this run)")
        plt.show()
''')

md("""
## Exercises

### Exercise 1 · No text at all for SDUMC

`teacher_zero_text` shows what the teacher does without any text. Do the same for SDUMC: for each seed, load
the trained SDUMC model (`train_method("sdumc", ..., checkpoint=True)` loads it from its checkpoint instantly)
and evaluate it with `evaluate_method(..., method="teacher_zero_text")`, which removes the text under
`text_missing`. Is simulated text better than no text for SDUMC? (In quick mode the answer describes this run
only; rerun with `QUICK=False` for one worth quoting.)
""")

code('''
from msa_lib.training.sdumc import evaluate_method, train_method

for seed in RUN_SEEDS:
    model, _ = train_method("sdumc", dataset, seed=seed, config=CONFIG, device=device, checkpoint=True)
    no_text = evaluate_method(model, dataset, ("text_missing",), method="teacher_zero_text")["text_missing"]["MAE"]
    simulated = per_seed[("sdumc", "text_missing", seed)]
    print(f"seed {seed}: SDUMC test MAE with simulated text {simulated:.4f}, with no text {no_text:.4f}")
''', tags=["solution"])

md("""
### Exercise 2 · Does pairing by seed help?

A seed fixes what the two methods share: the initial weights' generator, the order of the training batches
and the random masks (the data themselves do not change with the seed). If a seed that is hard for one method
is hard for the other, the per-seed differences vary less than the methods do, and pairing narrows the
standard error of the difference. Check it: for every method, plot its per-seed test MAE under `text_missing`
minus that of `sdumc` (a dot per seed, a line at 0), and compare the paired with the unpaired standard error
from `comparison_frame`. Use the full-mode rows when the file is there.
""")

code('''
source = full["rows"] if full is not None else rows
seeds = sorted({r["seed"] for r in source})
mae = {(r["method"], r["condition"], r["seed"]): r["metrics"]["MAE"] for r in source}
others = [m for m in METHODS if m != "sdumc"]
fig, ax = plt.subplots(figsize=(7, 3))
for i, m in enumerate(others):
    d = [mae[(m, "text_missing", s)] - mae[("sdumc", "text_missing", s)] for s in seeds]
    ax.plot([i] * len(d), d, "o")
ax.axhline(0, color="k", lw=0.8)
ax.set_xticks(range(len(others))); ax.set_xticklabels(others, rotation=20, ha="right")
ax.set_ylabel("MAE(method) - MAE(sdumc)")
plt.show()
frame = comparison_frame(compare_many(source, [(m, "sdumc", "text_missing") for m in others], metric="MAE"))
frame["SE ratio paired/unpaired"] = (frame["paired SE"] / frame["unpaired SE"]).round(2)
frame[["A", "B", "A - B", "paired SE", "unpaired SE", "SE ratio paired/unpaired"]]
''', tags=["solution"])


if __name__ == "__main__":
    nb.write()
