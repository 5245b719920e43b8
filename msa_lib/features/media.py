"""Tiny raw media made on the spot: spoken sentences and labelled videos of a real face (notebook 06's data).

Nothing here is meant to resemble CMU-MOSEI's statistics; it exists so that the path *raw media →
features → files → loaders → model* can be run end to end offline, in seconds.

* :func:`synthesize_speech` — speech from text with the ``espeak-ng`` program when it is installed
  (Debian: ``apt-get install espeak-ng``); it writes 22 050 Hz WAV files, so reading them at 16 kHz
  exercises the resampling repair of :func:`~msa_lib.features.audio.load_waveform`.
* :func:`babble_waveform` — the fallback when ``espeak-ng`` is absent: a speech-like signal, one
  voiced "syllable" per vowel group of the text (harmonics of a pitch contour, with formant-like
  band emphasis and a syllable envelope), whose pitch rises for positive and falls for negative
  sentiment. It is not speech; it only has speech's rhythm and spectrum shape.
* :func:`make_demo_videos` — labelled sentences as real videos, ``<name>.mp4`` (H.264 + AAC, written with
  PyAV), whose frames are a real face photograph with the mouth corners moved by the label
  (:func:`~msa_lib.features.faces.expression_frames`) and whose sound is the spoken sentence, plus a
  ``manifest.csv`` (name, split, label, transcript): the input of
  :func:`~msa_lib.features.pipeline.build_mertools`, laid out as one would lay out CMU-MOSEI's clips.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

POSITIVE = ["I really loved this movie", "what a wonderful and happy ending", "the acting was great fun",
            "this is the best film of the year", "I enjoyed every minute of it", "a beautiful and moving story"]
NEGATIVE = ["I hated every minute of it", "the plot was boring and stupid", "what a terrible waste of time",
            "this is the worst film I have seen", "the acting was awful", "a dull and painful story"]
NEUTRAL = ["the film is about two hours long", "it was released last year", "the story takes place in a city",
           "there are three main characters"]


def espeak_available() -> bool:
    """Whether the ``espeak-ng`` program is on the PATH."""
    return shutil.which("espeak-ng") is not None


def synthesize_speech(text: str, path, voice: str = "en", speed: int = 160, pitch: int = 50) -> Path:
    """Speak ``text`` into the WAV file ``path`` with ``espeak-ng`` (22 050 Hz, 16-bit mono).

    Raises ``RuntimeError`` when ``espeak-ng`` is absent or fails (with its message).
    """
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("synthesize_speech: espeak-ng is not installed (Debian/Ubuntu: apt-get install espeak-ng)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    res = subprocess.run([exe, "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(path), text],
                         capture_output=True, text=True, timeout=60)
    if res.returncode != 0 or not path.is_file() or path.stat().st_size <= 44:
        raise RuntimeError(f"synthesize_speech: espeak-ng failed for {text!r}: {res.stderr.strip()}")
    return path


def babble_waveform(text: str, sentiment: float = 0.0, sample_rate: int = 16_000, seed: int = 0) -> np.ndarray:
    """A speech-like float32 waveform ``[N]`` for ``text`` (module docstring); ~0.18 s per syllable.

    ``sentiment`` in [-3, 3] tilts the pitch contour: +3 rises by ~40 %, -3 falls by ~40 %.
    """
    rng = np.random.default_rng(seed)
    syllables = max(1, len(re.findall(r"[aeiouy]+", text.lower())))
    syl = int(0.18 * sample_rate)
    n = syllables * syl + int(0.1 * sample_rate)
    t = np.arange(n) / sample_rate
    f0 = 120.0 + 10.0 * rng.standard_normal()
    contour = f0 * (1.0 + 0.13 * float(np.clip(sentiment, -3, 3)) * (t / t[-1] - 0.5) * 2)
    phase = 2 * np.pi * np.cumsum(contour) / sample_rate
    formant = 500.0 + 1500.0 * rng.random(syllables)  # one "vowel" per syllable
    wave = np.zeros(n)
    for h in range(1, 16):
        freq = h * contour
        gain = np.zeros(n)
        for s in range(syllables):
            sl = slice(s * syl, (s + 1) * syl)
            gain[sl] = np.exp(-((freq[sl] - formant[s]) / 400.0) ** 2) + 0.2 / h
        wave += gain * np.sin(h * phase)
    envelope = np.zeros(n)
    for s in range(syllables):
        start = s * syl + int(0.02 * sample_rate)
        length = int(0.7 * syl)
        envelope[start : start + length] = np.hanning(length)
    wave = wave * envelope + 0.003 * rng.standard_normal(n)
    return (0.3 * wave / np.abs(wave).max()).astype(np.float32)


def _use_espeak(use_espeak: bool | None, caller: str) -> bool:
    """``use_espeak`` resolved: None means "when installed"; True without espeak-ng is an error."""
    if use_espeak is None:
        return espeak_available()
    if use_espeak and not espeak_available():
        raise RuntimeError(f"{caller}: use_espeak=True but espeak-ng is not installed")
    return bool(use_espeak)


def _demo_utterances(n_per_split, rng):
    """``(k, split, transcript, label)`` per demo utterance: the sentence pools in turn (positive, negative,
    neutral), labels +2 ± 1 / -2 ± 1 / 0 on MOSEI's grid of thirds within [-3, 3]. Draws from ``rng``."""
    pools = [(POSITIVE, 2.0), (NEGATIVE, -2.0), (NEUTRAL, 0.0)]
    k = 0
    for split, count in zip(("train", "valid", "test"), n_per_split):
        for _ in range(count):
            sentences, centre = pools[k % 3]
            text = sentences[int(rng.integers(len(sentences)))]
            label = 0.0 if centre == 0 else float(np.clip(centre + rng.integers(-3, 4) / 3.0, -3, 3))
            yield k, split, text, label
            k += 1


@dataclass
class DemoVideo:
    """One generated video utterance: name, split, transcript, label and its ``.mp4``."""

    name: str
    split: str
    transcript: str
    label: float
    video: Path


def make_demo_videos(root, n_per_split=(8, 4, 4), *, use_espeak: bool | None = None, fps: int = 10,
                     size: int = 160, sample_rate: int = 16_000, seed: int = 0) -> tuple[list[DemoVideo], str]:
    """Write labelled demo videos ``root/videos/<name>.mp4`` and ``root/videos/manifest.csv``.

    Sentences are drawn from small positive / negative / neutral lists, labels +2 ± 1 / -2 ± 1 / 0 (on MOSEI's
    grid of thirds, within [-3, 3]); each video lasts as
    long as its spoken sentence (``espeak-ng`` with its pitch raised by the label, else
    :func:`babble_waveform`), at ``fps`` frames per second of ``size`` × ``size`` pixels. An existing video is
    kept (the function resumes). Returns ``(videos, speech_source)``.
    """
    import tempfile

    from .container import read_audio, write_clip
    from .faces import expression_frames
    from .pipeline import write_manifest

    root = Path(root)
    folder = root / "videos"
    folder.mkdir(parents=True, exist_ok=True)
    use_espeak = _use_espeak(use_espeak, "make_demo_videos")
    rng = np.random.default_rng(seed)
    videos = []
    for k, split, text, label in _demo_utterances(n_per_split, rng):
        name = f"video_{k:03d}"
        path = folder / f"{name}.mp4"
        if not path.exists():
            if use_espeak:
                with tempfile.TemporaryDirectory() as tmp:
                    wav = synthesize_speech(text, Path(tmp) / "speech.wav", pitch=int(50 + 8 * label))
                    wave, _ = read_audio(wav, sample_rate)
            else:
                wave = babble_waveform(text, label, sample_rate, seed=seed + k)
            peak = float(np.abs(wave).max(initial=0.0))
            if peak > 0.9:  # headroom for AAC's ringing
                wave = wave * (0.9 / peak)
            n_frames = max(1, round(len(wave) / sample_rate * fps))
            frames = expression_frames(label, n_frames, size, seed=seed + k)
            write_clip(path, frames, fps, wave.astype(np.float32), sample_rate)
        videos.append(DemoVideo(name, split, text, round(label, 4), path))
    write_manifest(folder / "manifest.csv", [{"name": v.name, "split": v.split, "label": v.label,
                                             "transcript": v.transcript} for v in videos])
    return videos, ("espeak-ng" if use_espeak else "babble")
