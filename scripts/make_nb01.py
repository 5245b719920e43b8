"""Build notebooks/01_data.ipynb (outputs empty) from the cells below.

    .venv/bin/python scripts/make_nb01.py
"""

from __future__ import annotations

from nbgen import Notebook

nb = Notebook("01_data.ipynb")
md, code, BADGE = nb.md, nb.code, nb.badge


md(f"""
# 01 · The data: utterances, simulated text and missing modalities

Every method in this book learns from the same thing: short video clips of people giving opinions,
each cut into utterances and labelled with a sentiment score between −3 (very negative) and +3 (very
positive), as in CMU-MOSEI. A model sees three streams of pre-extracted features — text tokens, audio
frames, video frames — and the whole book is about what happens when some of them are gone. Before any
model, this chapter looks hard at the data: what a batch is, what the labels and lengths look like, how
our synthetic stand-in for MOSEI is built (and why it has the properties it has), how the *simulated
text* that SDUMC uses in place of a missing transcript relates to the real one, and exactly what each
missing-modality protocol of the literature does to a batch.

**What you will learn**

- the batch contract every model in `msa_lib` codes against: padded tensors plus boolean masks;
- the label distribution (exact zeros matter for the metrics) and the variable sequence lengths;
- how `synthetic_mosei` generates text, audio, video and simulated text, and how informative each is;
- the three ways the papers make data missing — whole modalities (CorrKD), random frames (MMSA / LNLN),
  text replaced by text simulated from speech (SDUMC) — as transforms you can apply to any batch;
- how to load real data: an MMSA pickle or a MERTools feature folder.

{BADGE}
""")

nb.colab_setup()

code('''
import os
QUICK = os.environ.get("MSA_QUICK", "1") != "0"  # quick: small data, few epochs, CPU ~1 min
SEED = 0
DATA_PATH = None  # None = synthetic default; an MMSA .pkl or a MERTools folder
DEVICE = None
BATCH_SIZE = 32
# MERTools folder names (used only when DATA_PATH is a folder); defaults are SDUMC's
AUDIO_FEATURE = "wavlm-large-FRA_-5"
TEXT_FEATURE = "vicuna-7b-v1.5-FRA-wavlm2vicuna-half-gt"
VISION_FEATURE = "manet_FRA"
# Data without simulated text (every MMSA pickle): "auto" fits a text simulator on the train split (cached),
# "none" goes without, a path reads an .npz of simulated text; for a MERTools folder, also SDUMC's folder name,
# e.g. "vicuna-7b-v1.5-FRA-wavlm2vicuna-half-wav+prompt[take_generate_wordembed_-4]"
SIMULATED_TEXT = "auto"
''', tags=["parameters"])

code('''
# everything that depends on QUICK
N_SHOW = 16 if QUICK else 32          # samples drawn in the batch figures
RATE_GRID = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
N_RATE_BATCHES = 3 if QUICK else 20   # batches used to measure the frame-missing rate

from pathlib import Path
import tempfile

import matplotlib.pyplot as plt
import numpy as np
import torch

from msa_lib.data import (
    CORRKD_CONDITIONS, apply_condition, linear_probe, load_dataset, load_mertools, load_mmsa,
    make_loader, random_frame_missing, save_mertools, save_mmsa, synthetic_mosei,
)
from msa_lib.training import seed_everything
from msa_lib.viz import data as vdata

seed_everything(SEED)
folders = {}
if DATA_PATH is not None and Path(DATA_PATH).is_dir():
    folders = dict(audio=AUDIO_FEATURE, text=TEXT_FEATURE, vision=VISION_FEATURE)
dataset = load_dataset(DATA_PATH, quick=QUICK, seed=SEED, simulated_text=SIMULATED_TEXT, **folders)
SYNTHETIC = dataset.info.get("source") == "synthetic_mosei"
print(dataset)
''')

md("""
## 1 · A batch: the contract every model codes against

Utterances have different numbers of tokens and frames, so a batch pads every modality **on the right**
with zeros to the longest sequence of the batch, and says which frames are real with a boolean mask.

| key | shape | meaning |
|---|---|---|
| `text`, `audio`, `vision` | float32 `[B, T_m, D_m]` | features, zero-padded on the right |
| `text_mask`, `audio_mask`, `vision_mask` | bool `[B, T_m]` | `True` = a real frame |
| `text_sim`, `text_sim_mask` | as `text` | text *simulated from the audio* (when the data set has it) |
| `label` | float32 `[B]` | sentiment score |
| `id`, `index` | list / long `[B]` | utterance id and position in its split |

Models must never look at padding: every pooling and attention in `msa_lib.models` takes the mask.
""")

code('''
loader = make_loader(dataset["train"], BATCH_SIZE, shuffle=True, seed=SEED)
batch = next(iter(loader))
for key, value in batch.items():
    desc = f"{tuple(value.shape)} {value.dtype}" if torch.is_tensor(value) else f"list of {len(value)}"
    print(f"{key:15s} {desc}")
''')

md("""
## 2 · Labels

MOSEI's label is the average of annotators' ratings on a 7-point scale, so it lives in $[-3, 3]$; many
utterances are rated exactly neutral. Those **exact zeros** matter for the metrics of chapter 02:
`Has0_acc_2` counts 0 as non-negative, `Non0_acc_2` drops zero labels altogether. The synthetic set
reproduces this: labels on a grid of $1/3$ with a spike at 0, most mass near 0, slightly positive.
""")

code('''
fig, label_stats = vdata.plot_label_distribution(dataset)
plt.show()
for split, st in label_stats.items():
    print(f"{split:5s}  n={st['n']:5d}  mean={st['mean']:+.3f}  std={st['std']:.3f}  "
          f"exact zeros={100 * st['zero_fraction']:.1f}%")
''')

md("""
## 3 · Sequence lengths and padding

Text has one row per token, audio and video one per frame, at their own rates, so the lengths differ
between modalities and between utterances. The fraction of a padded batch that is padding is what an
unmasked model would silently average in.
""")

code('''
vdata.plot_lengths(dataset, "train")
plt.show()
for m in ("text", "audio", "vision"):
    pad = 1 - batch[f"{m}_mask"].float().mean().item()
    print(f"{m:6s}: {100 * pad:.0f}% of this batch's [B, T] grid is padding")
''')

md("""
## 4 · What the features look like

One utterance, one heat map per modality (features on the vertical axis, time on the horizontal).
On the synthetic data we know which frames carry the sentiment (▼): a few frames per modality, at random
positions. The rest is content and nuisance. That is why pooling and attention matter: the evidence is
spread thinly over time.
""")

code('''
vdata.plot_sample_heatmaps(dataset["train"], index=0)
plt.show()
''')

md(r"""
## 5 · How the synthetic data are made

Real MOSEI features cannot be shipped with a book, so every chapter runs by default on
`synthetic_mosei`: MOSEI's shapes and conventions, with a generative process chosen so the book's
questions have real answers. For each utterance (all directions and maps are fixed by the seed):

1. **Sentiment.** A latent $s$; neutral utterances ($s \approx 0$) get the label exactly 0, the others
   $y = \mathrm{clip}\big(\mathrm{round}(3(s + \epsilon))/3,\,-3,\,3\big)$ with annotator noise
   $\epsilon \sim \mathcal N(0, \sigma_\text{label}^2)$ that no model can remove.
2. **Text** $[T_t, D_t]$: word vectors from a random vocabulary (neutral: orthogonal to a sentiment direction
   $u_t$) plus noise; a fraction of the tokens are *sentiment-bearing* and add $\alpha_t (s + \eta)\, u_t$.
3. **Audio** $[T_a, D_a]$: the spoken words, $c_p\, P e_{j(p)}$ — frame $p$ speaks token $j(p)$ through a
   fixed projection $P$ that keeps $u_t$, modulated by a random carrier $c_p = \pm 1$ whose value is written
   in a pilot channel of the *previous* frame — so averaging frames cancels the words, a model that reads
   frames one at a time cannot undo the modulation either, and only a "speech recogniser" that combines
   neighbouring frames recovers them; prosody on a few frames: arousal $\alpha_a |s|$ (intensity, no sign)
   and a weak valence $\beta_a s$; a speaker offset and noise.
4. **Vision** $[T_v, D_v]$: an identity offset, and on a few frames an expression
   $\alpha_v s\, d_\text{val} + \beta_v |s|\, d_\text{int}$ plus noise. Audio knows *how strong*, vision
   *which way*: they complement each other.
5. **Simulated text** $[T_s, D_t]$, from the audio alone — a lossy "speech → LLM" pipeline: undo the
   rotation, demodulate with the (noisy) pilot of the previous frame, average-pool frames to token rate, map into the text space
   with $P^\top$ (a fixed linear map; the lexical detail outside $P$ is lost), add noise, drop tokens.

Every knob (sizes, dims, lengths, each modality's signal and noise, simulated-text quality) is a field of
`SyntheticConfig`; `load_dataset(quick=False)` gives the larger full-mode set.
""")

code('''
if SYNTHETIC:
    cfg = dataset.info["config"]
    for key in ("n_train", "n_valid", "n_test", "text_dim", "audio_dim", "vision_dim", "text_len",
                "label_noise", "text_signal", "audio_arousal", "vision_valence", "sim_pool", "sim_noise",
                "sim_token_dropout"):
        print(f"{key:18s} {cfg[key]}")
else:
    print(f"real data: {dataset.info}")
''')

md("""
## 6 · Simulated text vs real text

SDUMC replaces a missing transcript by the hidden states of an LLM (Vicuna) fed with the **speech**
(WavLM features through a projector): text-like features that exist whenever audio does. They live in the
same space as the real text features but are worse. Two views of that relation, utterance by utterance:

* **left** — fit a linear sentiment read-out on *real* text (train split), then apply the *same*
  read-out to real and to simulated text of the test split: simulated text carries the sentiment, more noisily;
* **right** — cosine similarity between an utterance's pooled real and simulated text, against the
  similarity with another utterance's simulated text.
""")

code('''
if dataset.has_text_sim:
    fig, sim_stats = vdata.plot_simulated_vs_real(dataset, "test")
    plt.show()
    print(f"correlation with the label: real text {sim_stats['corr_text']:.3f}, "
          f"simulated text {sim_stats['corr_sim']:.3f}; between the two read-outs {sim_stats['corr_text_sim']:.3f}")
    print(f"median cosine: same utterance {np.median(sim_stats['cos_same']):.3f}, "
          f"other utterance {np.median(sim_stats['cos_other']):.3f}")
else:
    print("this data set has no simulated text, and SIMULATED_TEXT = 'none' asked for none: chapters 03-04 "
          "need it (set SIMULATED_TEXT = 'auto' to fit the text simulator of section 6b)")
''')

md(r"""
### 6b · When the data has no simulated text: `msa_lib`'s text simulator

No MMSA or MulT pickle holds SDUMC's simulated text, and raw audio is not in a pickle. With
`SIMULATED_TEXT = "auto"`, `load_dataset` then fits a **text simulator** on the train split: a ridge regression
from the audio frames around each text position (mapped onto the text's length in relative time, plus the
utterance's mean audio) to the text feature at that position, **cross-fitted** over 5 folds so that no training
utterance's simulated text comes from a model that saw it (valid and test use the model fitted on all of train).
It is a feature-level stand-in for SDUMC's speech-LLM: it can learn how prosody co-varies with the text features,
never the words. The table measures it: a sentiment probe (ridge on mean-pooled features, test MAE and
correlation) from the real and the simulated text, the cosine between simulated and real text at the same
position, their relative distance, and R² (how much of the real text's variation it reproduces). On the
synthetic default, where the generator makes its own simulated text, the simulator is fitted too, for comparison.
""")

code('''
import pandas as pd
from msa_lib.data import add_simulated_text, simulated_text_quality

versions = {}
if dataset.has_text_sim:
    made_by = "text simulator" if "text_sim" in dataset.info else "in the data"
    versions[made_by] = dataset
    if SYNTHETIC:  # the generator's channel against the ridge simulator fitted on the same train split
        versions["text simulator (fitted here)"] = add_simulated_text(dataset)
quality = {}
for name, ds in versions.items():
    q = simulated_text_quality(ds)
    quality[name] = {"probe MAE, real text": q["probe"]["text"]["MAE"],
                     "probe MAE, simulated": q["probe"]["text_sim"]["MAE"],
                     "probe Corr, real text": q["probe"]["text"]["Corr"],
                     "probe Corr, simulated": q["probe"]["text_sim"]["Corr"],
                     "cosine to real (test)": q["test_cosine"], "relative L2 (test)": q["test_relative_l2"],
                     "R² (test)": q["r2"]["test"]}
if quality:
    if dataset.task == "classification":
        print("(IEMOCAP: the probe regresses the class index; read it only as which text separates the classes)")
    display(pd.DataFrame(quality).T.round(3))
else:
    print("no simulated text (SIMULATED_TEXT = 'none')")
''')

md(r"""
## 7 · How much does each modality know? A linear probe

Before training anything deep, a ridge regression on mean-pooled features,
$\hat y = w^\top \big[\tfrac{1}{T}\sum_t x^{(m)}_t\big]_{m} + b$, tells how much sentiment each modality
carries in its simplest form. The ridge strength is chosen on the **validation** split; the bars show
**test** MAE (lower is better). On the synthetic data the generative process is built so that text is the
most informative, simulated text is worse than text but better than audio alone and than vision alone,
and audio + vision beat either alone; the run below checks it rather than taking it on trust. Mean pooling
is a weak reader: the carrier hides the spoken words from it, while the simulated-text pipeline, which
demodulates frame by frame, recovers part of them.
""")

code('''
probe = linear_probe(dataset)
vdata.plot_linear_probe(probe)
plt.show()
for name, r in sorted(probe.items(), key=lambda kv: kv[1]["MAE"]):
    print(f"{name:20s} test MAE {r['MAE']:.3f}   Corr {r['Corr']:.3f}   (alpha {r['alpha']:g}, chosen on valid)")
median_mae = np.abs(dataset["test"].labels - np.median(dataset["train"].labels)).mean()
print(f"{'predict the median':20s} test MAE {median_mae:.3f}")
''')

md(r"""
## 8 · Three ways to make a modality missing

All three are transforms `batch → new batch` (the input batch is never modified), so one clean batch can
be evaluated under every condition.

**Whole-modality missing (CorrKD).** A missing modality $m$ is replaced by zeros and its mask by all
`False`: $\tilde x^{(m)} = 0$, and `batch["m_missing"] = True`. CorrKD's six test conditions name the
modalities that are *kept*: `only_text`, `only_audio`, `only_vision`, `text+audio`, `text+vision`,
`audio+vision`.

**Frame-level missing (MMSA / TFR-Net, LNLN; CorrKD's curves).** Each real frame is dropped
independently with probability $r$:
$u_{bt} \sim U[0, 1)$, $d_{bt} = [u_{bt} < r] \wedge \text{mask}_{bt}$, $\tilde x_{bt} = (1 - d_{bt})\, x_{bt}$.
As in MMSA, **the mask is not changed** — dropped frames look like padding but are still attended
(`hide_dropped=True` changes that). MMSA replaces a dropped BERT token by `[UNK]` and re-embeds it; we hold
embeddings, not token ids, so a dropped token is zeroed like any frame (what CorrKD does for every
modality). The draw is seeded with a `torch.Generator`.

**Simulated text (SDUMC).** $\tilde x^{(\text{text})} = x^{(\text{sim})}$: the real text is gone for every
sample, and the model receives the text simulated from speech.

`apply_condition(batch, name)` maps names to these: `"complete"`, `"text_missing"`, the six CorrKD names,
and `"frame_missing_0.3"`-style names.
""")

code('''
small = {k: (v[:N_SHOW] if torch.is_tensor(v) or isinstance(v, list) else v) for k, v in batch.items()}
conditions = ["complete", "only_text", "audio+vision", "frame_missing_0.3", "frame_missing_0.7"]
if dataset.has_text_sim:
    conditions.insert(1, "text_missing")
vdata.plot_condition_masks(small, conditions, seed=SEED)
plt.show()
''')

md("""
Does `random_frame_missing` drop what it promises? Measure the fraction of real frames dropped at each
nominal rate (the identity line is the promise; padding is never counted).
""")

code('''
gen = torch.Generator().manual_seed(SEED)
measured = {m: [] for m in ("text", "audio", "vision")}
for rate in RATE_GRID:
    dropped = {m: 0 for m in measured}
    real = {m: 0 for m in measured}
    for k, b in enumerate(make_loader(dataset["test"], BATCH_SIZE)):
        if k == N_RATE_BATCHES:
            break
        out = random_frame_missing(b, rate, generator=gen)
        for m in measured:
            dropped[m] += out[f"{m}_frame_missing"].sum().item()
            real[m] += b[f"{m}_mask"].sum().item()
    for m in measured:
        measured[m].append(dropped[m] / real[m])
fig, ax = plt.subplots(figsize=(4.5, 3.5))
for m, fracs in measured.items():
    ax.plot(RATE_GRID, fracs, "o-", color=vdata.MODALITY_COLORS[m], label=m, alpha=0.8)
ax.plot([0, 1], [0, 1], "k--", lw=0.8)
ax.set_xlabel("missing rate r")
ax.set_ylabel("fraction of real frames dropped")
ax.legend()
plt.show()
''')

md("""
## 9 · Explore

Pick a sample, a condition and a missing rate (the rate only matters for `frame_missing`). The strip under
each heat map shows every frame's status. In a static copy of the book the widget does not run; the figure
under it is one setting of it.
""")

code('''
vdata.missingness_explorer(dataset["test"])
''')

code('''
vdata.show_condition(dataset["test"], index=0, condition="frame_missing", missing_rate=0.5, seed=SEED)
plt.show()
''')

md("""
## 10 · Real data

`load_dataset(DATA_PATH)` reads the two formats the field uses (set `DATA_PATH` in the parameters cell):

* an **MMSA pickle** (`load_mmsa`): `{"train", "valid", "test"}` of padded arrays (BERT text, COVAREP /
  FACET or librosa / OpenFace frames, `regression_labels`). MMSA's conventions are kept: audio `-inf` → 0
  (with a warning giving the count), lengths from `audio_lengths` / `vision_lengths` or MMSA's `getLengths`
  rule, text lengths from the BERT attention mask, CH-SIMS detected (labels in $[-1, 1]$, SIMS metrics).
  Optional keys `text_sim` / `text_sim_lengths` carry simulated text;
* a **MERTools / SDUMC folder** (`load_mertools`): `label.npz` plus one `.npy` per utterance and feature
  folder, read lazily so a folder larger than memory streams with bounded memory.

Both write-and-read round trips below run on the synthetic test split, so this cell works without real data.
""")

code('''
with tempfile.TemporaryDirectory() as tmp:
    small_set = synthetic_mosei(seed=SEED, n_train=20, n_valid=10, n_test=10)
    pkl = save_mmsa(small_set, Path(tmp) / "synthetic_unaligned.pkl")
    print(load_mmsa(pkl))
    root = save_mertools(small_set, Path(tmp) / "mertools")
    print(sorted(p.name for p in root.iterdir()))
    print(load_mertools(root / "label.npz", root, audio="audio", text="text", vision="vision",
                        simulated_text="text_sim"))
''')

md("""
## Exercises

### Exercise 1 · How good must simulated text be?

Regenerate the synthetic data (quick sizes, `seed=SEED`) with `sim_noise` in `[0.25, 0.5, 1.0, 2.0]`
(a knob of `synthetic_mosei`), run `linear_probe(ds, ["text_sim"])` on each, and plot the simulated text's
test MAE against `sim_noise`, with the real text's MAE as a horizontal reference. Which noise level makes
simulated text no better than audio + vision?
""")

code('''
noise_levels = [0.25, 0.5, 1.0, 2.0]
sim_mae, reference = [], None
for noise in noise_levels:
    ds = synthetic_mosei(seed=SEED, sim_noise=noise)
    res = linear_probe(ds, ["text_sim", "text", ("audio", "vision")])
    sim_mae.append(res["text_sim"]["MAE"])
    reference = res
fig, ax = plt.subplots(figsize=(4.5, 3.2))
ax.plot(noise_levels, sim_mae, "o-", color=vdata.MODALITY_COLORS["text_sim"], label="simulated text")
ax.axhline(reference["text"]["MAE"], color=vdata.MODALITY_COLORS["text"], ls="--", label="real text")
ax.axhline(reference["audio+vision"]["MAE"], color="grey", ls=":", label="audio + vision")
ax.set_xlabel("sim_noise")
ax.set_ylabel("test MAE (ridge probe)")
ax.legend()
plt.show()
''', tags=["solution"])

md("""
### Exercise 2 · LNLN's per-sample missing rates

LNLN trains with a missing rate drawn **per sample**: $r \\sim U[0, 1)$, and $r = 0$ for a random half of
the samples. `random_frame_missing` accepts a `[B]` tensor of rates. Draw such rates for one batch with a
seeded generator, apply them, and scatter each sample's measured fraction of dropped audio frames against
its $r$.
""")

code('''
g = torch.Generator().manual_seed(SEED)
b = next(iter(make_loader(dataset["train"], BATCH_SIZE)))
rates = torch.rand(b["label"].shape[0], generator=g)
rates[torch.rand(rates.shape[0], generator=g) < 0.5] = 0.0
out = random_frame_missing(b, rates, generator=g)
frac = out["audio_frame_missing"].sum(1) / b["audio_mask"].sum(1)
fig, ax = plt.subplots(figsize=(4, 3.2))
ax.scatter(rates.numpy(), frac.numpy(), s=15)
ax.plot([0, 1], [0, 1], "k--", lw=0.8)
ax.set_xlabel("per-sample rate r")
ax.set_ylabel("fraction of audio frames dropped")
plt.show()
''', tags=["solution"])


if __name__ == "__main__":
    nb.write()
