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
of the same recipe can differ by more than two methods do. This chapter runs the comparison properly — every
method with several seeds, the epoch chosen on the validation split only, and the test split evaluated once
under two conditions — and writes the numbers to `results/missing_text.json`, from which the book's tables are
drawn. It also asks which part of SDUMC does the work: the ablations without MIA and without Rank-N-Contrast,
and a simpler baseline that just trains on both kinds of text.

**What you will learn**

- the SDUMC evaluation protocol: `complete` vs `text_missing` (the real text replaced by text simulated from
  the audio), and what each means for each method;
- how to compare methods honestly: validation-only model selection, mean ± std over seeds, per-seed differences;
- what MIA and Rank-N-Contrast contribute in our runs — including where they do not help.

{BADGE}
""")

nb.colab_setup()

code('''
import os
QUICK = os.environ.get("MSA_QUICK", "1") != "0"  # quick: small data, few epochs, CPU ~1 min
SEEDS = [0, 1, 2]
DATA_PATH = None  # None = synthetic default; an MMSA or MulT .pkl, or a MERTools folder
SIMULATED_TEXT = "auto"  # data without simulated text: "auto" fits the text simulator (cached), or an .npz path
DEVICE = None
EPOCHS = None     # None = default of the mode, 6 in quick mode and 25 in full mode
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

from msa_lib.data import load_dataset, require_simulated_text, require_task
from msa_lib.metrics import metric_keys
from msa_lib.training import results_name, results_table, select_device
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
test split is touched once per model, after training. Checkpoints are kept in the checkpoint folder
(`MSA_CHECKPOINT_DIR`, default `checkpoints/`) under a name that hashes the full settings, the data's content and
the version of the training code, so a rerun of this notebook reuses the models it already trained — and only
those: quick mode trains 6 epochs here and other epoch counts in chapters 02–03, so their models are not these.
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
''')

md("""
## Results

Mean ± standard deviation over seeds on the test split (MAE: lower is better; the others: higher is better).
""")

code('''
table = results_table(rows, metrics=metric_keys(dataset.metric_dataset))  # the data set's own metric set
table
''')

code('''
fig = vsdumc.plot_missing_text_results(rows, metric="MAE", methods=METHODS)
plt.show()
fig = vsdumc.plot_missing_text_results(rows, metric="Corr", methods=METHODS)
plt.show()
''')

md("""
## What this run shows

The sentences below are computed from the rows above. A difference is called *clear* only when it is larger than
the spread of both methods over seeds (the larger of their two standard deviations), and *consistent* when it
has the same sign for every seed; otherwise it is noise at this number of seeds.
""")

code('''
def describe(rows, seeds):
    """Computed sentences comparing methods on the test MAE of ``rows`` (no number typed by hand)."""
    mae = summarise_rows(rows, "MAE")
    per_seed = {(r["method"], r["condition"], r["seed"]): r["metrics"]["MAE"] for r in rows}

    def compare(a, b, condition):
        (ma, sa, n), (mb, sb, _) = mae[(a, condition)], mae[(b, condition)]
        diffs = [per_seed[(a, condition, s)] - per_seed[(b, condition, s)] for s in seeds]
        consistent = all(d < 0 for d in diffs) or all(d > 0 for d in diffs)
        clear = abs(ma - mb) > max(sa, sb)
        verdict = "lower (better)" if ma < mb else "higher (worse)"
        strength = ("a clear and consistent" if clear and consistent else "a consistent but not clear" if consistent
                    else "an inconsistent")
        return (f"under {condition}, {a} has a test MAE {abs(ma - mb):.4f} {verdict} than {b} "
                f"({ma:.4f} ± {sa:.4f} vs {mb:.4f} ± {sb:.4f}, {n} seeds): {strength} difference.")

    for a, b, c in [("sdumc", "teacher", "text_missing"), ("teacher", "teacher_zero_text", "text_missing"),
                    ("sdumc", "modality_dropout", "text_missing"), ("sdumc", "sdumc_no_mia", "text_missing"),
                    ("sdumc", "sdumc_no_rnc", "text_missing"), ("sdumc", "teacher", "complete")]:
        if (a, c) in mae and (b, c) in mae:
            print("-", compare(a, b, c))
    for m in ("teacher", "modality_dropout", "sdumc"):
        if (m, "complete") in mae:
            drop = mae[(m, "text_missing")][0] - mae[(m, "complete")][0]
            print(f"- {m}: replacing real by simulated text costs {drop:+.4f} test MAE on average.")
    return per_seed

per_seed = describe(rows, RUN_SEEDS)
if QUICK:
    print("(Quick mode: tiny data, few epochs and two seeds. These sentences describe this run, not the method.)")
''')

md("""
## The full-mode run

The numbers the book quotes come from the full-mode run (the full-size synthetic set, the official budget of 25
epochs, three seeds), stored in `results/missing_text.json` with the command that made it. When that file is
present, here it is, with the same computed sentences.
""")

code('''
from msa_lib.training import full_run

full = full_run("missing_text")  # prints its provenance, or why it is missing
if full is not None:
    display(results_table(full["rows"], metrics=["MAE", "Corr", "Non0_acc_2", "Non0_F1_score", "Mult_acc_7"]))
    fig = vsdumc.plot_missing_text_results(full["rows"], metric="MAE", methods=METHODS)
    plt.show()
    describe(full["rows"], full["seeds"])
''')

md("""
## Learning curves

The validation MAE of the last seed under both conditions for the SDUMC variants, with the selected epochs.
""")

code('''
last = RUN_SEEDS[-1]
for method in ("sdumc", "sdumc_no_mia", "sdumc_no_rnc"):
    if (method, last) in fits:
        fig = vsdumc.plot_learning_curves(fits[(method, last)], title=f"{method}, seed {last}")
        plt.show()
''')

md("""
## Exercises

### Exercise 1 · No text at all for SDUMC

`teacher_zero_text` shows what the teacher does without any text. Do the same for SDUMC: for each seed, load
the trained SDUMC model (`train_method("sdumc", ..., checkpoint=True)` loads it from its checkpoint instantly)
and evaluate it with `evaluate_method(..., method="teacher_zero_text")`, which removes the text under
`text_missing`. Is simulated text better than no text for SDUMC?
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
### Exercise 2 · Paired differences

Differences between methods are more precise *per seed* than between means, because a seed that is easy for
one method tends to be easy for the other. Plot, for every method, its per-seed test MAE under `text_missing`
minus that of `sdumc` (a dot per seed, a line at 0).
""")

code('''
others = [m for m in METHODS if m != "sdumc"]
fig, ax = plt.subplots(figsize=(7, 3))
for i, m in enumerate(others):
    d = [per_seed[(m, "text_missing", s)] - per_seed[("sdumc", "text_missing", s)] for s in RUN_SEEDS]
    ax.plot([i] * len(d), d, "o")
ax.axhline(0, color="k", lw=0.8)
ax.set_xticks(range(len(others))); ax.set_xticklabels(others, rotation=20, ha="right")
ax.set_ylabel("MAE(method) - MAE(sdumc)")
plt.show()
''', tags=["solution"])


if __name__ == "__main__":
    nb.write()
