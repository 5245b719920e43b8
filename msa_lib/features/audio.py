r"""Audio: reading waveforms safely, the field's acoustic features, and frame-level speech-encoder states.

Three layers, from raw file to features:

1. :func:`load_waveform` / :func:`check_waveform` — a mono float32 waveform at the sample rate the
   encoder expects, or a clear error. Any container FFmpeg reads (wav, flac, m4a, mp4, mkv ...) is
   read through :func:`~msa_lib.features.container.read_audio`'s PyAV path. Repairs that change the
   signal are documented and warned about (never silent): several channels are averaged to mono; a
   different sample rate is resampled with FFmpeg's ``libswresample`` (:func:`resample_waveform`, the
   same resampler :func:`~msa_lib.features.container.read_clip` uses) unless ``resample=False``, in
   which case it is an error. Unreadable, empty, too short, or non-finite audio is always an error
   naming the file.
2. Acoustic features with the field's own tools, :func:`acoustic_features`:

   * ``"egemaps"`` (default) — the 25 eGeMAPS v02 low-level descriptors of openSMILE
     (:func:`opensmile_features`, :data:`EGEMAPS_LLD_NAMES`), 100 frames per second; ``"compare"`` —
     the 65 ComParE 2016 LLDs. These are what MSA datasets ship as their acoustic modality
     (COVAREP in CMU-MOSI / MOSEI, openSMILE in the later ones).
   * ``"logmel"`` / ``"mfcc"`` / ``"both"`` — log-mel spectrogram and MFCCs computed with ``librosa``
     from the settings of :class:`AcousticConfig`.

   Log-mel and MFCC written out by hand (STFT, a triangular HTK mel filterbank, an orthonormal DCT-II)
   live in chapter 06's teaching cell, not here: ``tests/test_audio_tools.py`` runs that cell and checks
   it against its textbook formulas and against this librosa path (``htk=True, norm=None,
   pad_mode="reflect"``).
3. :class:`SpeechEncoder` — frame-level hidden states of a WavLM / wav2vec 2.0 / HuBERT model from
   ``transformers``, with the layer as a parameter (SDUMC takes ``hidden_states[-5]`` of
   ``microsoft/wavlm-large``: layer 20 of 24, 1024-d, 50 frames per second).

Shapes: a waveform is ``[N]`` (samples); features are ``[T, D]`` (frames × dims) per utterance.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .container import MediaError, _read_audio_channels, _UnreadableMedia

#: The sample rate of every speech encoder named in this book (WavLM, wav2vec 2.0, HuBERT).
SPEECH_SAMPLE_RATE = 16_000


class AudioError(ValueError):
    """Audio that cannot give a correct feature (unreadable, empty, too short, NaN, ...)."""


# ---------------------------------------------------------------------------------------------- reading
def load_waveform(
    path,
    sample_rate: int = SPEECH_SAMPLE_RATE,
    *,
    resample: bool = True,
    min_seconds: float = 0.025,
) -> np.ndarray:
    """Read an audio file as a mono float32 waveform ``[N]`` at ``sample_rate``.

    Any container FFmpeg reads — WAV (PCM 8/16/24/32-bit or float), FLAC, MP3, M4A, or the audio track
    of an MP4 / MKV video — is decoded with PyAV (:func:`~msa_lib.features.container.read_audio`'s
    path, at the file's own rate); ``.npy`` files holding a waveform are accepted too (taken to be at
    ``sample_rate`` already, since they carry no rate).

    Repairs (each with a warning naming the file): several channels → their mean; another sample rate
    → :func:`resample_waveform` (FFmpeg's ``libswresample``; ``resample=False`` makes it an error
    instead).

    Raises:
        FileNotFoundError: no such file.
        AudioError: the file cannot be read as audio (not media, corrupt, truncated, no audio stream),
            is empty, shorter than ``min_seconds`` (WavLM's first convolution alone needs 400 samples =
            25 ms at 16 kHz), or holds NaN/inf.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"load_waveform: {path}: no such file")
    if path.suffix.lower() == ".npy":
        try:
            data, sr = np.load(path, allow_pickle=False), sample_rate
        except (ValueError, OSError) as e:
            raise AudioError(f"load_waveform: {path} is not a readable .npy waveform ({e})") from None
        data = np.asarray(data, dtype=np.float32)
        data = data[:, None] if data.ndim == 1 else data
    else:
        try:
            data, sr = _read_audio_channels(path)  # [N, C] at the file's own rate
        except _UnreadableMedia as e:
            raise AudioError(
                f"load_waveform: {path} cannot be read as a WAV file or any other audio / video container "
                f"FFmpeg reads ({e.reason})"
            ) from None
        except MediaError as e:  # no audio stream, truncated, ...: its message names the file
            raise AudioError(f"load_waveform: {e}") from None
    if data.ndim != 2:
        raise AudioError(f"load_waveform: {path}: expected [samples] or [samples, channels], got shape {data.shape}")
    if data.shape[1] > 1:
        warnings.warn(f"load_waveform: {path}: {data.shape[1]} channels averaged to mono", stacklevel=2)
    mono = data.mean(axis=1)
    return check_waveform(mono, sr, sample_rate, resample=resample, min_seconds=min_seconds, name=str(path))


def check_waveform(
    waveform,
    sample_rate: int,
    target_rate: int = SPEECH_SAMPLE_RATE,
    *,
    resample: bool = True,
    min_seconds: float = 0.025,
    name: str = "waveform",
) -> np.ndarray:
    """Validate a mono waveform ``[N]`` at ``sample_rate`` and return it as float32 at ``target_rate``.

    The same checks and repairs as :func:`load_waveform`, for arrays already in memory. ``name``
    (a file or utterance name) is put in every message.
    """
    x = np.asarray(waveform)
    if x.dtype == object or not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise AudioError(f"{name}: a waveform must be a numeric array, got dtype {x.dtype}")
    x = x.astype(np.float32, copy=False)
    if x.ndim == 2 and 1 in x.shape:
        x = x.reshape(-1)
    if x.ndim != 1:
        raise AudioError(
            f"{name}: expected a mono waveform [samples], got shape {x.shape} (average the channels first, "
            "or use load_waveform, which does so with a warning)"
        )
    if x.size == 0:
        raise AudioError(f"{name}: the waveform is empty (0 samples)")
    if not np.isfinite(x).all():
        raise AudioError(f"{name}: the waveform holds {int((~np.isfinite(x)).sum())} NaN/inf samples")
    if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise AudioError(f"{name}: sample_rate must be a positive int, got {sample_rate!r}")
    if sample_rate != target_rate:
        if not resample:
            raise AudioError(
                f"{name}: sample rate {sample_rate} Hz but the encoder expects {target_rate} Hz "
                "(pass resample=True to resample)"
            )
        warnings.warn(f"{name}: resampled from {sample_rate} Hz to {target_rate} Hz", stacklevel=3)
        x = resample_waveform(x, int(sample_rate), int(target_rate))
    min_samples = int(math.ceil(min_seconds * target_rate))
    if x.size < min_samples:
        raise AudioError(
            f"{name}: {x.size} samples ({1000 * x.size / target_rate:.1f} ms) is shorter than the minimum "
            f"{min_samples} samples ({1000 * min_seconds:.0f} ms)"
        )
    if float(np.abs(x).max()) == 0.0:
        warnings.warn(f"{name}: the waveform is all zeros (silence)", stacklevel=3)
    return np.ascontiguousarray(x, dtype=np.float32)


def resample_waveform(x: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    """Resample a mono waveform with FFmpeg's ``libswresample`` (PyAV's ``av.AudioResampler``).

    ``[N] → [ceil(N * new_rate / orig_rate)]`` float32 (the output samples that fall inside the input's
    duration). The same resampler as :func:`~msa_lib.features.container.read_clip` (windowed-sinc,
    anti-aliased, delay-compensated: a click at 0.5 s stays at 0.5 s; zeros are fed after the end so
    that the last filter length comes out, as in the reading path), so a file resampled on reading and
    an array resampled here agree.
    """
    from .container import _av

    av = _av()
    x = np.ascontiguousarray(np.asarray(x, dtype=np.float32).reshape(-1))
    orig_rate, new_rate = int(orig_rate), int(new_rate)
    if orig_rate <= 0 or new_rate <= 0:
        raise ValueError(f"resample_waveform: rates must be positive, got {orig_rate} -> {new_rate}")
    if x.size == 0 or orig_rate == new_rate:
        return x.copy()
    n_out = math.ceil(x.size * new_rate / orig_rate)
    padded = np.concatenate([x, np.zeros(64 * max(1, math.ceil(orig_rate / new_rate)), np.float32)])
    resampler = av.AudioResampler(format="flt", layout="mono", rate=new_rate)
    out, step = [], 1 << 16
    for start in range(0, padded.size, step):  # streaming: the result does not depend on the chunk size
        frame = av.AudioFrame.from_ndarray(padded[None, start : start + step], format="flt", layout="mono")
        frame.sample_rate, frame.pts = orig_rate, start
        out.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
    out.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
    return np.concatenate(out)[:n_out].astype(np.float32, copy=False)


# ---------------------------------------------------------------------------------- acoustic features
@dataclass
class AcousticConfig:
    """Settings of the spectrogram features: ``acoustic_features(kind="logmel" / "mfcc")`` (librosa)
    and chapter 06's hand-written teaching cell; ``sample_rate`` also for the openSMILE kinds.
    Defaults: 25 ms windows every 10 ms at 16 kHz, 80 mel bands (Whisper's and most speech toolkits' choice), 20 MFCCs (as SIMS's
    librosa features).

    Attributes:
        sample_rate: Hz of the input waveform.
        n_fft: FFT size = window length in samples (400 = 25 ms).
        hop_length: samples between frames (160 = 10 ms → 100 frames per second).
        n_mels: mel bands.
        n_mfcc: cepstral coefficients kept (``mfcc`` only).
        fmin, fmax: frequency range of the filterbank in Hz (``fmax=None`` → Nyquist).
        log_floor: added before the log (``log(power + floor)``), so silence gives a finite value.
        center: pad ``n_fft // 2`` samples on each side (reflect), so frame t is centred on sample
            ``t * hop_length`` and there are ``1 + N // hop_length`` frames.
    """

    sample_rate: int = SPEECH_SAMPLE_RATE
    n_fft: int = 400
    hop_length: int = 160
    n_mels: int = 80
    n_mfcc: int = 20
    fmin: float = 0.0
    fmax: float | None = None
    log_floor: float = 1e-10
    center: bool = True

    def __post_init__(self):
        for key in ("sample_rate", "n_fft", "hop_length", "n_mels", "n_mfcc"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"AcousticConfig.{key} must be a positive int, got {v!r}")
        if self.n_mfcc > self.n_mels:
            raise ValueError(f"AcousticConfig: n_mfcc={self.n_mfcc} cannot exceed n_mels={self.n_mels}")
        top = self.sample_rate / 2 if self.fmax is None else self.fmax
        if not 0 <= self.fmin < top <= self.sample_rate / 2:
            raise ValueError(
                f"AcousticConfig: need 0 <= fmin < fmax <= sample_rate/2, got fmin={self.fmin}, fmax={top}"
            )


# ------------------------------------------------------------------------- the field's tools: openSMILE, librosa
#: The 25 low-level descriptors of eGeMAPS v02 (openSMILE's column names, in its order); see :func:`opensmile_features`.
EGEMAPS_LLD_NAMES: tuple[str, ...] = (
    "Loudness_sma3", "alphaRatio_sma3", "hammarbergIndex_sma3", "slope0-500_sma3", "slope500-1500_sma3",
    "spectralFlux_sma3", "mfcc1_sma3", "mfcc2_sma3", "mfcc3_sma3", "mfcc4_sma3",
    "F0semitoneFrom27.5Hz_sma3nz", "jitterLocal_sma3nz", "shimmerLocaldB_sma3nz", "HNRdBACF_sma3nz",
    "logRelF0-H1-H2_sma3nz", "logRelF0-H1-A3_sma3nz",
    "F1frequency_sma3nz", "F1bandwidth_sma3nz", "F1amplitudeLogRelF0_sma3nz",
    "F2frequency_sma3nz", "F2bandwidth_sma3nz", "F2amplitudeLogRelF0_sma3nz",
    "F3frequency_sma3nz", "F3bandwidth_sma3nz", "F3amplitudeLogRelF0_sma3nz",
)
#: Shortest input openSMILE's LLD configs fill without NaN: the 60 ms window of the pitch, jitter and
#: shimmer analysis (measured: 0.06 s gives 2 frames at 8, 16 and 44.1 kHz; anything shorter, one NaN row).
OPENSMILE_MIN_SECONDS = 0.06
#: A waveform whose RMS is below this (−80 dBFS, under 16-bit dithered digital silence) is "silent".
SILENCE_RMS = 1e-4
_SMILES: dict = {}  # feature set name -> opensmile.Smile (building one parses its config: ~0.5 s)


def _import_opensmile():
    """``import opensmile`` without its side effect on PyYAML.

    openSMILE's dependency ``oyaml`` (through audobject) replaces PyYAML's ``dict`` representer and constructor on
    every Dumper / Loader class when it is imported. A yaml Dumper subclass defined later then inherits it: jupytext's
    MyST writer, defined on ``import jupytext.myst``, could no longer write a notebook's metadata
    ("cannot represent an object"). The registries are put back as they were; openSMILE's feature extraction does
    not use YAML.
    """
    import yaml

    classes = [c for mod in (yaml.dumper, yaml.loader) for c in (getattr(mod, n) for n in mod.__all__)]
    classes += [getattr(yaml.cyaml, n) for n in getattr(getattr(yaml, "cyaml", None), "__all__", [])]
    saved = {(c, key): dict(c.__dict__[key]) if key in c.__dict__ else None for c in classes
             for key in ("yaml_representers", "yaml_multi_representers", "yaml_constructors")}
    try:
        import opensmile
    finally:
        for (c, key), value in saved.items():
            if value is None:
                if key in c.__dict__:
                    delattr(c, key)
            else:
                setattr(c, key, value)
    return opensmile


def _smile(feature_set: str):
    try:
        opensmile = _import_opensmile()
    except ImportError as e:  # pragma: no cover - installed with the features extra
        raise ImportError("opensmile_features needs openSMILE's Python package: pip install opensmile") from e
    if feature_set not in _SMILES:
        valid = [f.name for f in opensmile.FeatureSet]
        if feature_set not in valid:
            raise ValueError(f"opensmile_features: unknown feature_set {feature_set!r}; openSMILE has {valid}")
        _SMILES[feature_set] = opensmile.Smile(
            feature_set=opensmile.FeatureSet[feature_set],
            feature_level=opensmile.FeatureLevel.LowLevelDescriptors,
        )
    return _SMILES[feature_set]


def _check_signal(waveform, sample_rate: int, name: str, min_seconds: float) -> np.ndarray:
    """check_waveform at its own rate (no resampling), then "silent" is an error, not a warning."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*all zeros \(silence\)")
        x = check_waveform(waveform, sample_rate, sample_rate, resample=False, min_seconds=min_seconds, name=name)
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    if rms < SILENCE_RMS:
        level = "all zeros" if rms == 0.0 else f"RMS {rms:.2g} = {20 * np.log10(rms):.0f} dBFS"
        raise AudioError(f"{name}: the waveform is silent ({level}, below {SILENCE_RMS:g} = −80 dBFS): "
                         "no voice to describe")
    return x


def opensmile_features(waveform, sample_rate: int = SPEECH_SAMPLE_RATE, feature_set: str = "eGeMAPSv02", *,
                       name: str = "waveform") -> tuple[np.ndarray, np.ndarray]:
    """Frame-level acoustic descriptors of openSMILE: ``(features [T, D] float32, frame starts [T] s)``.

    ``feature_set="eGeMAPSv02"`` gives the 25 low-level descriptors (LLDs) of the extended Geneva
    Minimalistic Acoustic Parameter Set (Eyben et al., 2016, "The Geneva Minimalistic Acoustic Parameter
    Set (GeMAPS) for Voice Research and Affective Computing", *IEEE Trans. Affective Computing* 7(2)),
    the field's standard hand-crafted voice features and the successor of the COVAREP descriptors in
    MMSA's CMU-MOSI / MOSEI pickles. ``"ComParE_2016"`` gives the 65 ComParE LLDs (energy, spectral,
    MFCC 1-14, voicing); any other ``opensmile.FeatureSet`` name works too.

    The 25 eGeMAPS columns (:data:`EGEMAPS_LLD_NAMES`), each smoothed over 3 frames (``_sma3``):

    * energy / spectrum, every frame: loudness (perceptual, Zwicker), alpha ratio (energy 50-1000 Hz vs
      1-5 kHz, dB), Hammarberg index (peak 0-2 kHz vs 2-5 kHz, dB), spectral slopes 0-500 Hz and
      500-1500 Hz, spectral flux, MFCC 1-4;
    * voice, voiced frames only (``_sma3nz``): F0 in semitones from 27.5 Hz (``12 log2(F0 / 27.5)``:
      150 Hz → 29.4), jitter (local, period-to-period F0 variation), shimmer (local, dB), harmonics-to-
      noise ratio (HNR, dB, from the autocorrelation), H1-H2 and H1-A3 (first harmonic vs the second
      harmonic and vs the third formant's amplitude, dB), and F1, F2, F3 frequency, bandwidth and
      amplitude relative to F0.

    Unvoiced frames: the ``_sma3nz`` columns are 0 there, as openSMILE's LLD output defines them ("nz" =
    statistics over non-zero values); the 0s are kept, not replaced by NaN or interpolated, so that a
    model sees the same numbers as in the datasets. Tell voiced frames by ``F0semitone > 0``.

    Frames: 20 ms (energy) / 60 ms (pitch) windows every 10 ms, 100 per second; the last few need a full
    pitch window, so 1 s at 16 kHz gives 96 frames. Times are each frame's start in seconds from the
    first sample (openSMILE's index), e.g. for :meth:`~msa_lib.features.container.Clip.audio_frame_index`.
    Measured on a 2-core CPU: 10 s of audio in 0.2-0.3 s (real-time factor ≈ 0.02-0.03), plus ~1.5 s
    once per process to import openSMILE and build the extractor (cached per feature set).

    Args:
        waveform: mono ``[N]`` float in [-1, 1] at ``sample_rate`` (16 kHz is usual; any rate works).
        feature_set: an ``opensmile.FeatureSet`` name.
        name: the utterance / file name put in errors.

    Raises:
        AudioError: not a mono numeric waveform, empty, shorter than :data:`OPENSMILE_MIN_SECONDS`
            (60 ms), NaN/inf, or silent (RMS below :data:`SILENCE_RMS`, so a batch can report it).
    """
    smile = _smile(feature_set)
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise AudioError(f"{name}: sample_rate must be a positive int, got {sample_rate!r}")
    x = _check_signal(waveform, int(sample_rate), name, OPENSMILE_MIN_SECONDS)
    df = smile.process_signal(x, int(sample_rate))
    feats = df.to_numpy(dtype=np.float32)
    if not np.isfinite(feats).all():
        raise AudioError(f"{name}: openSMILE returned NaN/inf ({len(x)} samples at {sample_rate} Hz)")
    times = df.index.get_level_values("start").total_seconds().to_numpy(dtype=np.float64)
    return np.ascontiguousarray(feats), times


def _librosa_mel_power(waveform, cfg: AcousticConfig, name: str) -> np.ndarray:
    """Mel power spectrogram ``[n_mels, T]`` with librosa, in the conventions of chapter 06's teaching cell:
    periodic Hann, reflect-padded centred frames (librosa's default pad is zeros since 0.10), power 2,
    HTK mel scale and unit-peak triangles (``htk=True, norm=None``; librosa's default is Slaney's scale
    with area normalisation)."""
    import librosa

    x = check_waveform(waveform, cfg.sample_rate, cfg.sample_rate, resample=False, min_seconds=0.0, name=name)
    if cfg.center and x.size <= cfg.n_fft // 2:  # reflect padding needs more samples than the pad: zeros first
        x = np.pad(x, (0, cfg.n_fft // 2 + 1 - x.size))
    if not cfg.center and x.size < cfg.n_fft:
        raise AudioError(f"{name}: {x.size} samples is shorter than one window (n_fft={cfg.n_fft}) with center=False")
    return librosa.feature.melspectrogram(
        y=x, sr=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.n_fft,
        window="hann", center=cfg.center, pad_mode="reflect", power=2.0, n_mels=cfg.n_mels,
        fmin=cfg.fmin, fmax=cfg.fmax, htk=True, norm=None,
    )


def acoustic_features(waveform, config: AcousticConfig | None = None, kind: str = "egemaps", *,
                      name: str = "waveform") -> np.ndarray:
    """Frame-level acoustic features ``[T, D]`` float32 (what a feature folder stores), 100 frames per
    second with the defaults.

    ``kind``:

    * ``"egemaps"`` — the 25 eGeMAPS v02 LLDs of openSMILE (:func:`opensmile_features`), ``[T, 25]``;
    * ``"compare"`` — the 65 ComParE 2016 LLDs, ``[T, 65]``;
    * ``"logmel"`` — ``log(mel power + log_floor)`` with librosa, ``[T, n_mels]``: natural log, as
      chapter 06's hand-written cell and Kaldi / torchaudio (not librosa's ``power_to_db``,
      which is ``10 log10`` clipped 80 dB below the maximum);
    * ``"mfcc"`` — ``librosa.feature.mfcc`` (orthonormal DCT-II) of that log-mel spectrum,
      ``[T, n_mfcc]``;
    * ``"both"`` — log-mel and MFCC side by side, ``[T, n_mels + n_mfcc]``.

    ``config.sample_rate`` is the waveform's rate (all kinds). ``name`` is put in errors (silent audio
    is an :class:`AudioError` for the openSMILE kinds; log-mel gives its finite floor).
    """
    cfg = config or AcousticConfig()
    if kind in ("egemaps", "compare"):
        feature_set = "eGeMAPSv02" if kind == "egemaps" else "ComParE_2016"
        return opensmile_features(waveform, cfg.sample_rate, feature_set, name=name)[0]
    if kind not in ("logmel", "mfcc", "both"):
        raise ValueError(
            f"acoustic_features: kind must be 'egemaps', 'compare', 'logmel', 'mfcc' or 'both', got {kind!r}"
        )
    import librosa

    logmel = np.log(_librosa_mel_power(waveform, cfg, name) + cfg.log_floor)  # [n_mels, T]
    parts = []
    if kind in ("logmel", "both"):
        parts.append(logmel.T)
    if kind in ("mfcc", "both"):
        parts.append(librosa.feature.mfcc(S=logmel, n_mfcc=cfg.n_mfcc, dct_type=2, norm="ortho").T)
    return np.ascontiguousarray(np.concatenate(parts, axis=1), dtype=np.float32)


# --------------------------------------------------------------------------------------- speech encoder
@dataclass
class SpeechEncoderConfig:
    """Settings of :class:`SpeechEncoder`.

    Attributes:
        checkpoint: a ``transformers`` checkpoint name or local folder (e.g.
            ``"microsoft/wavlm-large"`` as SDUMC, ``"microsoft/wavlm-base-plus"``,
            ``"facebook/hubert-large-ll60k"``, ``"facebook/wav2vec2-base-960h"``); ``None`` builds a
            tiny randomly initialised WavLM from a config (:func:`tiny_speech_model`), for tests and
            the quick notebook — its features carry no meaning.
        layer: which entry of ``hidden_states`` to return: 0 = the input of the first transformer
            layer (CNN features + positional convolution), L = the last layer's output; negative
            counts from the end (SDUMC: ``-5`` of 25 = layer 20 of WavLM-large). A tuple of layers
            is reduced with ``layer_reduce``.
        layer_reduce: ``"mean"`` or ``"sum"`` over the layers of a tuple.
        normalize: zero-mean / unit-variance per utterance before the model, as the checkpoint's
            ``Wav2Vec2FeatureExtractor`` does when its ``do_normalize`` is true. ``None`` = read it
            from the checkpoint's feature-extractor config (``True`` for a config-built model).
        batch_size: utterances per forward pass, grouped by length (less padding); ``None`` = 8 on
            CUDA, 1 on CPU (measured on one CPU thread, base-size WavLM: batch 1 ran at 1.57× real
            time, batch 4 at 1.30×, ``benchmarks/bench_features.py``: on a CPU batching only adds
            padding, on a GPU it fills the device). Batches are right-padded with an attention mask
            only for models that support it (``feat_extract_norm == "layer"``: WavLM-large,
            wav2vec2-large-lv60, HuBERT-large); for group-norm models (wav2vec2-base, HuBERT-base)
            padding would change the features, so they run one utterance at a time.
        device: ``None`` = CUDA when available, else CPU.
        dtype: model weights' dtype (``torch.float16`` halves GPU memory for large checkpoints);
            features are returned as float32.
        sample_rate: the encoder's rate (16 kHz for all the models above).
        seed: seed of the random initialisation when ``checkpoint`` is None.
    """

    checkpoint: str | None = None
    layer: int | tuple[int, ...] = -1
    layer_reduce: str = "mean"
    normalize: bool | None = None
    batch_size: int | None = None
    device: str | None = None
    dtype: torch.dtype | None = None
    sample_rate: int = SPEECH_SAMPLE_RATE
    seed: int = 0

    def __post_init__(self):
        if self.layer_reduce not in ("mean", "sum"):
            raise ValueError(f"SpeechEncoderConfig.layer_reduce must be 'mean' or 'sum', got {self.layer_reduce!r}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"SpeechEncoderConfig.batch_size must be >= 1 or None, got {self.batch_size}")


def tiny_speech_model(kind: str = "wavlm", hidden_size: int = 32, num_layers: int = 2, seed: int = 0,
                      feat_extract_norm: str = "layer"):
    """A small randomly initialised speech encoder built from a ``transformers`` config.

    The convolutional front end keeps the real geometry (kernels 10,3,3,3,3,2,2, strides 5,2,2,2,2,2,2:
    one frame per 320 samples = 50 frames/s at 16 kHz, receptive field 400 samples = 25 ms), so frame
    counts match the real checkpoints; only the widths and depth are small. ``kind``: ``"wavlm"``,
    ``"wav2vec2"`` or ``"hubert"``. ``feat_extract_norm="layer"`` (default: batched padding is exact)
    or ``"group"`` (as wav2vec2-base / HuBERT-base: :class:`SpeechEncoder` then runs one at a time).
    """
    import transformers

    common = dict(
        hidden_size=hidden_size, num_hidden_layers=num_layers, num_attention_heads=2,
        intermediate_size=2 * hidden_size, conv_dim=(hidden_size,) * 7, num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4, feat_extract_norm=feat_extract_norm,
        do_stable_layer_norm=feat_extract_norm == "layer",
        mask_time_prob=0.0,
    )
    if kind == "wavlm":
        cfg, cls = transformers.WavLMConfig(**common, num_buckets=32, max_bucket_distance=80), transformers.WavLMModel
    elif kind == "wav2vec2":
        cfg, cls = transformers.Wav2Vec2Config(**common), transformers.Wav2Vec2Model
    elif kind == "hubert":
        cfg, cls = transformers.HubertConfig(**common), transformers.HubertModel
    else:
        raise ValueError(f"tiny_speech_model: kind must be 'wavlm', 'wav2vec2' or 'hubert', got {kind!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return cls(cfg).eval()


def _pick_device(device) -> torch.device:
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def select_layers(hidden_states: Sequence[torch.Tensor], layer, reduce: str = "mean") -> torch.Tensor:
    """``hidden_states[layer]``, or the mean / sum over a tuple of layers (each ``[B, T, D]``)."""
    n = len(hidden_states)
    layers = (layer,) if isinstance(layer, (int, np.integer)) else tuple(layer)
    if not layers:
        raise ValueError("select_layers: give at least one layer")
    for li in layers:
        if not -n <= int(li) < n:
            raise IndexError(f"layer {li} out of range: the model returns {n} hidden states (0..{n - 1} or -{n}..-1)")
    stacked = torch.stack([hidden_states[int(li)] for li in layers])
    return stacked.mean(0) if reduce == "mean" else stacked.sum(0)


class SpeechEncoder:
    """Frame-level hidden states of a speech encoder: ``encode([wave_1, ...]) → [[T_i, D], ...]``.

    Frames: ``T_i = conv_output_length(N_i)`` (49 for one second at 16 kHz), computed by the model's
    own ``_get_feat_extract_output_lengths``, so padded frames are never returned.

    Example (Colab, SDUMC's audio features)::

        enc = SpeechEncoder(SpeechEncoderConfig("microsoft/wavlm-large", layer=-5, dtype=torch.float16))
        feats = enc.encode([load_waveform("clip.wav")])   # [[T, 1024]]
    """

    def __init__(self, config: SpeechEncoderConfig | None = None, model=None):
        self.config = cfg = config or SpeechEncoderConfig()
        self.device = _pick_device(cfg.device)
        normalize = cfg.normalize
        if model is None:
            if cfg.checkpoint is None:
                model = tiny_speech_model(seed=cfg.seed)
            else:
                from transformers import AutoModel

                kwargs = {"dtype": cfg.dtype} if cfg.dtype is not None else {}
                model = AutoModel.from_pretrained(cfg.checkpoint, **kwargs)
                if normalize is None:
                    normalize = _checkpoint_do_normalize(cfg.checkpoint)
        self.model = model.to(self.device).eval()
        if cfg.dtype is not None:
            self.model = self.model.to(cfg.dtype)
        self.normalize = True if normalize is None else bool(normalize)
        mcfg = self.model.config
        self.supports_padding = getattr(mcfg, "feat_extract_norm", "layer") == "layer"
        self.dim = int(mcfg.hidden_size)
        self.num_hidden_states = int(mcfg.num_hidden_layers) + 1
        # the receptive field of the first frame: the minimum input length
        self.min_samples = self._min_samples()

    @property
    def signature(self) -> str:
        """What made these features (for :func:`~msa_lib.features.writers.extract_to_folder`)."""
        name = self.config.checkpoint or f"tiny {type(self.model).__name__} (random, seed {self.config.seed})"
        layers = [int(i) for i in np.atleast_1d(self.config.layer)]
        return f"{name} | hidden_states{layers} {self.config.layer_reduce} | normalize={self.normalize}"

    def _min_samples(self) -> int:
        n = 1
        for k, s in reversed(list(zip(self.model.config.conv_kernel, self.model.config.conv_stride))):
            n = (n - 1) * s + k
        return n

    def num_frames(self, num_samples: int) -> int:
        """Frames the encoder returns for ``num_samples`` samples (the conv stack's output length)."""
        return int(self.model._get_feat_extract_output_lengths(torch.tensor([int(num_samples)]))[0])

    def _prepare(self, waveforms: Sequence, names: Sequence[str]) -> list[np.ndarray]:
        out = []
        for w, name in zip(waveforms, names):
            x = check_waveform(w, self.config.sample_rate, self.config.sample_rate, name=name, min_seconds=0.0)
            if x.size < self.min_samples:
                raise AudioError(
                    f"{name}: {x.size} samples is shorter than the encoder's receptive field "
                    f"({self.min_samples} samples = {1000 * self.min_samples / self.config.sample_rate:.0f} ms)"
                )
            if self.normalize:
                x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
            out.append(x.astype(np.float32))
        return out

    @torch.no_grad()
    def encode(self, waveforms: Sequence, names: Sequence[str] | None = None) -> list[np.ndarray]:
        """Features ``[T_i, D]`` (float32 numpy) of mono waveforms at ``config.sample_rate``.

        Args:
            waveforms: 1-D arrays (use :func:`load_waveform` / :func:`check_waveform` to read and
                resample files).
            names: utterance names for error messages (default ``waveform[i]``).
        """
        names = list(names) if names is not None else [f"waveform[{i}]" for i in range(len(waveforms))]
        xs = self._prepare(waveforms, names)
        bs = self.config.batch_size or (8 if self.device.type == "cuda" else 1)
        bs = bs if self.supports_padding else 1
        feats: list[np.ndarray | None] = [None] * len(xs)
        dtype = next(self.model.parameters()).dtype
        # batches of similar lengths waste less compute on padding; results go back in input order
        order = sorted(range(len(xs)), key=lambda i: len(xs[i]))
        for start in range(0, len(xs), bs):
            idx = order[start : start + bs]
            chunk = [xs[i] for i in idx]
            lengths = torch.tensor([len(x) for x in chunk])
            batch = torch.zeros(len(chunk), int(lengths.max()))
            for i, x in enumerate(chunk):
                batch[i, : len(x)] = torch.from_numpy(x)
            mask = (torch.arange(batch.shape[1])[None, :] < lengths[:, None]).long()
            kwargs = {"attention_mask": mask.to(self.device)} if len(chunk) > 1 else {}
            with warnings.catch_warnings():
                # torch warns inside WavLM's attention when both a padding and a position-bias mask are
                # given ("mismatched key_padding_mask and attn_mask"); the result is correct (tested)
                warnings.filterwarnings("ignore", message=".*mismatched key_padding_mask.*")
                out = self.model(batch.to(self.device, dtype), output_hidden_states=True, **kwargs)
            hs = select_layers(out.hidden_states, self.config.layer, self.config.layer_reduce).float().cpu()
            frames = self.model._get_feat_extract_output_lengths(lengths)
            for j, i in enumerate(idx):
                feats[i] = hs[j, : int(frames[j])].numpy().astype(np.float32)
        return feats

    __call__ = encode


def _checkpoint_do_normalize(checkpoint: str) -> bool | None:
    """``do_normalize`` of a checkpoint's feature-extractor config, or None when it has none."""
    try:
        from transformers import AutoFeatureExtractor

        fe = AutoFeatureExtractor.from_pretrained(checkpoint)
        return bool(getattr(fe, "do_normalize", True))
    except (OSError, ValueError):
        warnings.warn(f"{checkpoint}: no feature-extractor config found; normalising waveforms (do_normalize=True)")
        return None
