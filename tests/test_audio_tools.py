"""msa_lib.features.audio with the field's own tools: openSMILE (eGeMAPS / ComParE), librosa, PyAV.

eGeMAPS on synthetic voiced signals with a known F0 (the semitone column moves by 12 log2(f2 / f1)), loudness
follows the level, every bad input is an AudioError naming it; librosa's log-mel / MFCC path of
``acoustic_features`` has the expected shapes; chapter 06's teaching cell (log-mel and MFCC written out by hand,
run here from the chapter's source) matches its textbook formulas (mel scale, triangular filterbank, DCT-II,
STFT) and librosa's path under the conventions they share (HTK mel scale, unit-peak triangles, reflect padding,
power, natural log, orthonormal DCT-II); ``load_waveform`` reads an .mp4's audio.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

if importlib.util.find_spec("opensmile") is None:  # not importorskip: importing it bare changes PyYAML (see audio.py)
    pytest.skip("opensmile is not installed", allow_module_level=True)
pytest.importorskip("librosa")
pytest.importorskip("av")

import librosa

from msa_lib.features import audio as audio_mod
from msa_lib.features.audio import (
    EGEMAPS_LLD_NAMES,
    AcousticConfig,
    AudioError,
    acoustic_features,
    load_waveform,
    opensmile_features,
    resample_waveform,
)
from msa_lib.features.container import read_audio, write_clip

from conftest import REPO_ROOT

SR = 16_000
F0_COL = EGEMAPS_LLD_NAMES.index("F0semitoneFrom27.5Hz_sma3nz")
LOUDNESS_COL = EGEMAPS_LLD_NAMES.index("Loudness_sma3")


def voiced(f0: float, seconds: float = 1.0, amp: float = 0.3, sr: int = SR) -> np.ndarray:
    """A harmonic complex (harmonics k·f0 below 5 kHz, amplitude 1/k): a steady "vowel" with a known F0."""
    t = np.arange(int(seconds * sr)) / sr
    x = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, int(5000 // f0) + 1))
    return (amp * x / np.abs(x).max()).astype(np.float32)


def semitones(f: float) -> float:
    return 12 * np.log2(f / 27.5)


# ------------------------------------------------------------------------------------------------- eGeMAPS
def test_egemaps_shape_names_and_frame_times():
    opensmile = audio_mod._import_opensmile()

    feats, times = opensmile_features(voiced(150.0))
    assert feats.dtype == np.float32 and feats.shape[1] == 25 == len(EGEMAPS_LLD_NAMES)
    assert 94 <= feats.shape[0] <= 100  # 100 frames per second; 1 s gives 96 (the last need a 60 ms window)
    assert np.isfinite(feats).all()
    assert times.shape == (feats.shape[0],) and times[0] == 0.0
    np.testing.assert_allclose(np.diff(times), 0.01, atol=1e-9)  # 10 ms hop
    smile = opensmile.Smile(opensmile.FeatureSet.eGeMAPSv02, opensmile.FeatureLevel.LowLevelDescriptors)
    assert tuple(smile.feature_names) == EGEMAPS_LLD_NAMES
    np.testing.assert_array_equal(acoustic_features(voiced(150.0)), feats)  # the default kind


def test_egemaps_pitch_in_semitones_and_loudness():
    low, _ = opensmile_features(voiced(150.0))
    high, _ = opensmile_features(voiced(220.0))
    f0_low = np.median(low[low[:, F0_COL] > 0, F0_COL])  # voiced frames: F0 > 0 (unvoiced are 0)
    f0_high = np.median(high[high[:, F0_COL] > 0, F0_COL])
    assert (low[:, F0_COL] > 0).mean() > 0.8  # a steady harmonic complex is voiced almost throughout
    assert abs(f0_low - semitones(150.0)) < 1.0, f0_low
    assert abs((f0_high - f0_low) - 12 * np.log2(220 / 150)) < 1.0, (f0_low, f0_high)
    quiet, _ = opensmile_features(voiced(150.0, amp=0.03))
    assert np.median(low[:, LOUDNESS_COL]) > 2 * np.median(quiet[:, LOUDNESS_COL])


def test_compare_gives_65_descriptors():
    feats, times = opensmile_features(voiced(150.0), feature_set="ComParE_2016")
    assert feats.shape[1] == 65 and len(times) == feats.shape[0] and np.isfinite(feats).all()
    assert acoustic_features(voiced(150.0), kind="compare").shape == feats.shape
    with pytest.raises(ValueError, match="unknown feature_set 'eGeMAPSv99'"):
        opensmile_features(voiced(150.0), feature_set="eGeMAPSv99")


def test_bad_input_is_an_audio_error_naming_it():
    with pytest.raises(AudioError, match="utt_silent: the waveform is silent \\(all zeros"):
        opensmile_features(np.zeros(SR, np.float32), name="utt_silent")
    hiss = (1e-6 * np.random.default_rng(0).normal(size=SR)).astype(np.float32)  # -120 dBFS
    with pytest.raises(AudioError, match="utt_hiss: the waveform is silent \\(RMS"):
        opensmile_features(hiss, name="utt_hiss")
    with pytest.raises(AudioError, match="utt_empty: the waveform is empty"):
        opensmile_features(np.zeros(0, np.float32), name="utt_empty")
    nan = voiced(150.0)
    nan[100] = np.nan
    with pytest.raises(AudioError, match="utt_nan: the waveform holds 1 NaN"):
        opensmile_features(nan, name="utt_nan")
    with pytest.raises(AudioError, match=r"utt_short: 800 samples \(50.0 ms\) is shorter than the minimum 960"):
        opensmile_features(voiced(150.0, 0.05), name="utt_short")
    assert opensmile_features(voiced(150.0, 0.06))[0].shape == (2, 25)  # the minimum works
    with pytest.raises(AudioError, match="utt_stereo: expected a mono waveform"):
        opensmile_features(np.zeros((2, SR), np.float32), name="utt_stereo")
    with pytest.raises(AudioError, match="utt_silent"):
        acoustic_features(np.zeros(SR, np.float32), name="utt_silent")


# -------------------------------------------------------------------------------------------------- librosa
def test_librosa_logmel_and_mfcc_shapes():
    cfg = AcousticConfig(n_mels=40, n_mfcc=13)
    x = voiced(150.0, 0.5)
    n = 1 + x.size // cfg.hop_length
    logmel = acoustic_features(x, cfg, kind="logmel")
    assert logmel.shape == (n, 40) and logmel.dtype == np.float32
    assert acoustic_features(x, cfg, kind="mfcc").shape == (n, 13)
    both = acoustic_features(x, cfg, kind="both")
    assert both.shape == (n, 53)
    np.testing.assert_array_equal(both[:, :40], logmel)
    with pytest.warns(UserWarning, match="utt0: the waveform is all zeros"):
        silence = acoustic_features(np.zeros(1600, np.float32), cfg, kind="logmel", name="utt0")
    np.testing.assert_allclose(silence, np.log(cfg.log_floor), rtol=1e-6)  # the floor, not -inf
    with pytest.raises(ValueError, match="kind must be"):
        acoustic_features(x, cfg, kind="spectrogram")


# ----------------------------------------------------------------------- chapter 06's hand-written teaching cell
TEACHING_MARKER = "# Teaching cell: log-mel and MFCC by hand"


@pytest.fixture(scope="module")
def teaching():
    """The functions of chapter 06's teaching cell, run from the chapter's own source (notebooks/06_*.md)."""
    source = (REPO_ROOT / "notebooks" / "06_from_raw_media.md").read_text()
    cells = [c.split("```", 1)[0] for c in source.split("```{code-cell}\n")[1:]]
    found = [c for c in cells if c.lstrip().startswith(TEACHING_MARKER)]
    assert len(found) == 1, f"chapter 06 must have exactly one cell starting with {TEACHING_MARKER!r}"
    namespace: dict = {}
    exec(compile(found[0], "06_from_raw_media.md (teaching cell)", "exec"), namespace)  # noqa: S102
    return namespace


def tone(freq: float, seconds: float = 1.0, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_teaching_mel_scale_is_htk_and_invertible(teaching):
    f = np.array([0.0, 440.0, 1000.0, 4000.0, 8000.0])
    np.testing.assert_allclose(teaching["mel_to_hz"](teaching["hz_to_mel"](f)), f, atol=1e-6)
    np.testing.assert_allclose(teaching["hz_to_mel"](700.0), 2595 * np.log10(2.0))


def test_teaching_filterbank_is_triangular_with_peaks_at_band_centres(teaching):
    n_fft, n_mels = 512, 24
    fb = teaching["mel_filterbank"](n_mels, n_fft, SR)
    assert fb.shape == (n_mels, n_fft // 2 + 1)
    assert fb.min() >= 0 and fb.max() <= 1 + 1e-6
    freqs = np.linspace(0, SR / 2, n_fft // 2 + 1)
    centres = teaching["mel_band_centres"](n_mels, SR)
    for m in range(n_mels):
        assert abs(freqs[fb[m].argmax()] - centres[m]) <= SR / n_fft  # peak within one bin of the centre
    # neighbouring triangles overlap so that their sum is 1 between the first and last centres
    inside = (freqs > centres[0]) & (freqs < centres[-1])
    np.testing.assert_allclose(fb.sum(0)[inside], 1.0, atol=1e-5)


@pytest.mark.parametrize("freq", [300.0, 1000.0, 3000.0])
def test_teaching_pure_tone_energy_peaks_in_the_right_mel_band(teaching, freq):
    cfg = AcousticConfig(n_mels=40)
    band = int(teaching["log_mel_spectrogram"](tone(freq), cfg).mean(0).argmax())
    centres = teaching["mel_band_centres"](cfg.n_mels, SR)
    assert band == int(np.abs(centres - freq).argmin()), (freq, centres[band])


def test_teaching_dct_matrix_matches_the_direct_formula_and_scipy(teaching):
    from scipy.fft import dct

    n_in, n_out = 12, 5
    c = teaching["dct_matrix"](n_out, n_in)
    x = np.random.default_rng(0).normal(size=n_in)
    direct = np.array([
        (np.sqrt(1 / n_in) if k == 0 else np.sqrt(2 / n_in))
        * sum(x[n] * np.cos(np.pi / n_in * (n + 0.5) * k) for n in range(n_in))
        for k in range(n_out)
    ])
    np.testing.assert_allclose(c @ x, direct, atol=1e-9)
    np.testing.assert_allclose(c @ x, dct(x, type=2, norm="ortho")[:n_out], atol=1e-9)
    full = teaching["dct_matrix"](n_in, n_in)
    np.testing.assert_allclose(full @ full.T, np.eye(n_in), atol=1e-9)


def test_teaching_stft_frames_and_power_match_a_hand_windowed_rfft(teaching):
    cfg = AcousticConfig()
    x = np.random.default_rng(1).normal(size=SR // 2).astype(np.float32)
    power = teaching["power_spectrogram"](x, cfg)
    assert power.shape == (1 + len(x) // cfg.hop_length, cfg.n_fft // 2 + 1)
    # frame 10 is centred on sample 10 * hop: compare with a hand-windowed rfft
    start = 10 * cfg.hop_length - cfg.n_fft // 2
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(cfg.n_fft) / cfg.n_fft)  # periodic Hann
    ref = np.abs(np.fft.rfft(x[start : start + cfg.n_fft] * window)) ** 2
    np.testing.assert_allclose(power[10], ref, rtol=1e-6, atol=1e-6)
    # silence gives the finite floor, not -inf; a clip shorter than half a window still gives one frame
    assert np.isfinite(teaching["log_mel_spectrogram"](np.zeros(1600, np.float32), cfg)).all()
    assert teaching["power_spectrogram"](np.ones(100, np.float32), cfg).shape[0] >= 1


def test_teaching_cell_matches_librosa_with_the_same_conventions(teaching):
    for cfg in (AcousticConfig(), AcousticConfig(n_fft=512, hop_length=128, n_mels=40, n_mfcc=13, fmin=50.0,
                                                 fmax=7000.0)):
        # the filterbank: HTK mel scale (2595 log10(1 + f/700)), triangles with peak 1 (no area normalisation)
        fb = teaching["mel_filterbank"](cfg.n_mels, cfg.n_fft, cfg.sample_rate, cfg.fmin, cfg.fmax)
        htk = librosa.filters.mel(sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels, fmin=cfg.fmin,
                                  fmax=cfg.fmax, htk=True, norm=None)
        np.testing.assert_allclose(fb, htk, atol=1e-6)
        slaney = librosa.filters.mel(sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels, fmin=cfg.fmin,
                                     fmax=cfg.fmax)  # librosa's default: Slaney scale, area-normalised
        assert np.abs(fb - slaney).max() > 0.5

        x = np.random.default_rng(1).normal(scale=0.1, size=cfg.sample_rate // 2).astype(np.float32)
        # |STFT|^2, periodic Hann, centred frames padded by reflection (librosa pads with zeros by default)
        power = teaching["power_spectrogram"](x, cfg)
        stft = {"n_fft": cfg.n_fft, "hop_length": cfg.hop_length, "window": "hann", "center": True}
        ref = np.abs(librosa.stft(x, pad_mode="reflect", **stft)).T ** 2
        np.testing.assert_allclose(power, ref, rtol=1e-4, atol=1e-4 * power.max())
        zero_pad = np.abs(librosa.stft(x, **stft)).T ** 2
        assert np.abs(power[0] - zero_pad[0]).max() > 1e-2 * power.max()  # only the edge frames differ
        np.testing.assert_allclose(power[2:-2], zero_pad[2:-2], rtol=1e-4, atol=1e-4 * power.max())

        # natural log with the same floor; MFCC = orthonormal DCT-II over the mel axis
        logmel = teaching["log_mel_spectrogram"](x, cfg)
        np.testing.assert_allclose(logmel, acoustic_features(x, cfg, kind="logmel"), atol=1e-3)
        np.testing.assert_allclose(teaching["mfcc"](x, cfg), acoustic_features(x, cfg, kind="mfcc"), atol=1e-3)


def test_the_library_has_no_hand_written_dsp():
    """The teaching functions live in the chapter only: the library's path is librosa / openSMILE."""
    import msa_lib.features as features

    for name in ("power_spectrogram", "log_mel_spectrogram", "mfcc", "mel_filterbank", "dct_matrix", "hz_to_mel"):
        assert not hasattr(audio_mod, name) and not hasattr(features, name), name


# ------------------------------------------------------------------------------------------ reading, resampling
def test_load_waveform_reads_an_mp4_audio_track(tmp_path):
    frames = np.zeros((12, 32, 32, 3), np.uint8)
    sr = 44_100
    t = np.arange(sr) / sr
    x = (0.4 * np.sin(2 * np.pi * 440 * t) * np.minimum(1, np.minimum(t, 1 - t) / 0.02)).astype(np.float32)
    path = write_clip(tmp_path / "talk.mp4", frames, 12, x, sr)
    with pytest.warns(UserWarning, match=r"talk\.mp4: resampled from 44100 Hz to 16000 Hz"):
        y = load_waveform(path)
    assert y.dtype == np.float32 and abs(y.size - SR) <= 1
    spectrum = np.abs(np.fft.rfft(y))
    assert abs(np.fft.rfftfreq(y.size, 1 / SR)[spectrum.argmax()] - 440.0) <= 2.0
    z, _ = read_audio(path, SR)  # the same FFmpeg resampler, streamed frame by frame instead of at once
    np.testing.assert_allclose(y[:-200], z[: y.size - 200], atol=1e-4)
    with pytest.raises(AudioError, match=r"talk\.mp4: sample rate 44100 Hz but the encoder expects 16000"):
        load_waveform(path, resample=False)
    mute = write_clip(tmp_path / "mute.mp4", frames, 12)
    with pytest.raises(AudioError, match=r"mute\.mp4: has no audio stream"):
        load_waveform(mute)


def test_resample_waveform_is_ffmpeg_and_keeps_time_and_pitch():
    x = np.zeros(44_100, np.float32)
    x[22_050] = 1.0  # a click at 0.5 s
    y = resample_waveform(x, 44_100, 16_000)
    assert y.dtype == np.float32 and y.size == 16_000
    assert int(np.argmax(np.abs(y))) == 8_000  # delay-compensated
    t = np.arange(22_050) / 22_050
    z = resample_waveform(np.sin(2 * np.pi * 1000 * t).astype(np.float32), 22_050, 16_000)
    assert z.size == 16_000
    assert abs(np.fft.rfftfreq(z.size, 1 / SR)[np.abs(np.fft.rfft(z)).argmax()] - 1000.0) <= 1.0
    np.testing.assert_array_equal(resample_waveform(x, SR, SR), x)
    # ceil(N * new / old) samples, the last filter length included (FFmpeg's flush alone gives 19 of 24 here)
    short = resample_waveform(np.full(64, 0.5, np.float32), 44_100, 16_000)
    assert short.size == 24
    np.testing.assert_allclose(short[:12], 0.5, atol=1e-3)


def test_importing_opensmile_leaves_pyyaml_as_it_was():
    """oyaml (an openSMILE dependency) rewrites PyYAML's dict handling on import; msa_lib puts it back, so that a
    yaml Dumper defined later (jupytext's MyST writer) still writes plain dicts."""
    import yaml

    audio_mod._import_opensmile()

    class LaterDumper(yaml.SafeDumper):
        pass

    assert yaml.SafeDumper.yaml_representers[dict] is yaml.representer.SafeRepresenter.represent_dict
    assert yaml.dump({"a": {"b": 1}}, Dumper=LaterDumper) == "a:\n  b: 1\n"
