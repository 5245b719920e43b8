"""synthetic_mosei: determinism, the label grid, lengths, the simulated text, and learnability."""

import dataclasses

import numpy as np
import pytest

from msa_lib.data import SyntheticConfig, linear_probe, load_dataset, synthetic_mosei

SMALL = dict(n_train=60, n_valid=20, n_test=20)


@pytest.fixture(scope="module")
def ds():
    return synthetic_mosei(seed=0, **SMALL)


def _arrays(split, m):
    return np.concatenate([split[i][m] for i in range(len(split))])


def test_same_seed_same_arrays_other_seed_differs(ds):
    again = synthetic_mosei(seed=0, **SMALL)
    other = synthetic_mosei(seed=1, **SMALL)
    for s in ("train", "valid", "test"):
        np.testing.assert_array_equal(ds[s].labels, again[s].labels)
        for m in ("text", "audio", "vision", "text_sim"):
            np.testing.assert_array_equal(_arrays(ds[s], m), _arrays(again[s], m))
    assert not np.array_equal(ds["train"].labels, other["train"].labels)
    assert not np.array_equal(ds["train"][0]["text"][:3], other["train"][0]["text"][:3])


def test_split_streams_are_independent_of_other_sizes(ds):
    bigger_train = synthetic_mosei(seed=0, n_train=80, n_valid=20, n_test=20)
    np.testing.assert_array_equal(ds["test"].labels, bigger_train["test"].labels)
    np.testing.assert_array_equal(_arrays(ds["test"], "audio"), _arrays(bigger_train["test"], "audio"))


def test_labels_grid_range_zeros_dtype():
    d = synthetic_mosei(seed=3, n_train=2000, n_valid=10, n_test=10)
    y = d["train"].labels
    assert y.dtype == np.float32 and y.shape == (2000,)
    assert y.min() >= -3 and y.max() <= 3
    thirds = y.astype(np.float64) * 3
    np.testing.assert_allclose(thirds, np.round(thirds), atol=1e-5)
    assert 0.1 < np.mean(y == 0) < 0.35  # MOSEI test: 1025 / 4659 = 0.22 exact zeros
    assert not np.any(np.signbit(y[y == 0]))  # no -0.0
    assert 0.1 < y.mean() < 0.8  # slightly positive
    assert np.mean(np.abs(y) <= 1) > 0.5  # mass near 0
    assert len(np.unique(y)) >= 15


def test_shapes_dims_lengths_and_sample_dict(ds):
    cfg = SyntheticConfig()
    assert ds.input_dims == {"text": 64, "audio": 32, "vision": 24, "text_sim": 64}
    assert ds.metric_dataset == "mosei" and ds.name == "synthetic_mosei"
    tr = ds["train"]
    assert len(tr) == 60 and len(ds["valid"]) == 20
    t_len, a_len, v_len = tr.lengths("text"), tr.lengths("audio"), tr.lengths("vision")
    assert t_len.min() >= cfg.text_len[0] and t_len.max() <= cfg.text_len[1]
    assert a_len.min() >= 2 and a_len.max() <= cfg.audio_len_max
    assert v_len.min() >= 2 and v_len.max() <= cfg.vision_len_max
    assert len(np.unique(t_len)) > 5  # variable lengths
    sample = tr[5]
    assert set(sample) == {"text", "audio", "vision", "text_sim", "label", "id", "index"}
    assert sample["text"].shape == (t_len[5], 64) and sample["text"].dtype == np.float32
    assert sample["audio"].shape == (a_len[5], 32)
    assert sample["index"] == 5 and sample["id"] == "synth_train_00005"
    assert sample["label"] == tr.labels[5]
    with pytest.raises(IndexError, match="60 samples"):
        tr[60]


def test_evidence_frames_exact_count(ds):
    cfg = SyntheticConfig()
    tr = ds["train"]
    for i in range(10):
        ev = tr.evidence_frames(i)
        t = tr.lengths("text")[i]
        assert ev["text"].shape == (t,)
        assert ev["text"].sum() == max(1, round(cfg.text_evidence_rate * t))
        assert ev["audio"].sum() == max(1, round(cfg.audio_evidence_rate * tr.lengths("audio")[i]))


def test_text_evidence_carries_the_latent_sentiment(ds):
    # the sentiment-bearing tokens point along one direction, proportional to the latent sentiment
    tr = ds["train"]
    ev_means = np.stack([tr[i]["text"][tr.evidence_frames(i)["text"]].mean(0) for i in range(len(tr))])
    u = np.linalg.svd(ev_means - ev_means.mean(0), full_matrices=False)[2][0]
    assert abs(np.corrcoef(ev_means @ u, tr.latent_sentiment)[0, 1]) > 0.9


def test_simulated_text_comes_from_audio_only():
    base = synthetic_mosei(seed=0, **SMALL)
    noisier = synthetic_mosei(seed=0, sim_noise=2.0, **SMALL)
    tr0, tr1 = base["train"], noisier["train"]
    for m in ("text", "audio", "vision"):
        np.testing.assert_array_equal(_arrays(tr0, m), _arrays(tr1, m))
    assert not np.array_equal(_arrays(tr0, "text_sim"), _arrays(tr1, "text_sim"))
    # no dropout, pool 1: one simulated token per audio frame
    d = synthetic_mosei(seed=0, sim_pool=1, sim_token_dropout=0.0, **SMALL)
    np.testing.assert_array_equal(d["train"].lengths("text_sim"), d["train"].lengths("audio"))
    d2 = synthetic_mosei(seed=0, sim_pool=2, sim_token_dropout=0.0, **SMALL)
    np.testing.assert_array_equal(d2["train"].lengths("text_sim"), -(-d2["train"].lengths("audio") // 2))
    assert d2.input_dims["text_sim"] == d2.input_dims["text"]


def test_informativeness_order_with_a_linear_probe():
    d = synthetic_mosei(seed=0, n_train=600, n_valid=200, n_test=400)
    r = linear_probe(d)
    mae = {k: v["MAE"] for k, v in r.items()}
    assert mae["text"] < mae["text_sim"] - 0.08
    assert mae["text_sim"] < min(mae["audio"], mae["vision"])
    assert mae["audio+vision"] < min(mae["audio"], mae["vision"])  # complementary
    assert mae["text+audio+vision"] < mae["text"] + 0.02
    predict_median = float(np.abs(d["test"].labels - np.median(d["train"].labels)).mean())
    assert max(mae.values()) < predict_median - 0.05  # every modality is learnable


def test_knobs_change_informativeness():
    blind = synthetic_mosei(seed=0, n_train=400, n_valid=100, n_test=300, vision_valence=0.0, vision_arousal=0.0)
    r = linear_probe(blind, ["vision"])
    y = blind["test"].labels
    assert r["vision"]["MAE"] > 0.9 * np.abs(y - np.median(blind["train"].labels)).mean()


def test_config_errors_and_presets():
    with pytest.raises(TypeError, match="unknown knob.*'text_dims'"):
        synthetic_mosei(text_dims=3)
    with pytest.raises(ValueError, match="audio_dim must be >= 8"):
        SyntheticConfig(audio_dim=4)
    with pytest.raises(ValueError, match="n_train"):
        synthetic_mosei(n_train=0)
    with pytest.raises(ValueError, match="text_len"):
        SyntheticConfig(text_len=(5, 2))
    with pytest.raises(TypeError, match="seed"):
        synthetic_mosei(seed="0")
    full = SyntheticConfig.full()
    assert (full.n_train, full.n_valid, full.n_test) == (4000, 800, 1000)
    assert (full.text_dim, full.audio_dim, full.vision_dim) == (128, 74, 35)
    mosei = SyntheticConfig.mosei_scale()
    assert (mosei.n_train, mosei.n_valid, mosei.n_test) == (16326, 1871, 4659)
    assert (mosei.text_dim, mosei.audio_dim, mosei.vision_dim) == (768, 74, 35)
    d = synthetic_mosei(seed=0, config=dataclasses.replace(SyntheticConfig(), text_dim=12), **SMALL)
    assert d.input_dims["text"] == 12 and d.info["config"]["text_dim"] == 12


def test_load_dataset_default_is_quick_synthetic():
    d = load_dataset(seed=0)
    assert (len(d["train"]), len(d["valid"]), len(d["test"])) == (600, 150, 150)
    ref = synthetic_mosei(seed=0)
    np.testing.assert_array_equal(d["test"].labels, ref["test"].labels)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_dataset("/nonexistent/data.pkl")


def _frame_quadratic_probe_mae(ds):
    """Test MAE of ridge on mean_t(x_t x_t^T): all a model that reads audio frame by frame can see."""
    from msa_lib.data.probe import _ridge_fit

    def quad(split):
        iu = np.triu_indices(split.dims["audio"])
        return np.stack([np.einsum("ti,tj->ij", x, x)[iu] / len(x) for x in (split[i]["audio"] for i in range(len(split)))])

    xtr, xva, xte = (quad(ds[s]) for s in ("train", "valid", "test"))
    best = None
    for a in np.logspace(0, 4, 9):
        w, b, mu, sd = _ridge_fit(xtr, ds["train"].labels.astype(float), a)
        mae = np.abs((xva - mu) / sd @ w + b - ds["valid"].labels).mean()
        if best is None or mae < best[0]:
            best = (mae, w, b, mu, sd)
    _, w, b, mu, sd = best
    return float(np.abs((xte - mu) / sd @ w + b - ds["test"].labels).mean())


def test_carrier_lag_hides_the_words_from_frame_by_frame_readers():
    # lag 0: the product of a frame's content and its own pilot reveals the spoken sentiment;
    # lag 1 (default): the key sits in the previous frame, so frame-wise features cannot use it
    sizes = dict(n_train=600, n_valid=150, n_test=300)
    same_frame = _frame_quadratic_probe_mae(synthetic_mosei(seed=0, carrier_lag=0, **sizes))
    lagged = _frame_quadratic_probe_mae(synthetic_mosei(seed=0, **sizes))
    assert same_frame < lagged - 0.15


def test_the_synthetic_default_has_the_same_bits_under_every_blas_kernel():
    """The data set (and so its fingerprint, and every checkpoint and results file keyed on it) must not depend
    on the computer: OpenBLAS picks a float32 kernel per CPU, and float32 products differ in their last bits
    between kernels. Two kernels forced through OPENBLAS_CORETYPE must give the same fingerprint."""
    import os
    import subprocess
    import sys

    code = ("from msa_lib.data import load_dataset; from msa_lib.provenance import data_fingerprint; "
            "print(data_fingerprint(load_dataset(None, quick=True, seed=0))['hash'])")
    hashes = set()
    for kernel in ("Haswell", "Sandybridge"):
        env = {**os.environ, "OPENBLAS_CORETYPE": kernel, "OPENBLAS_NUM_THREADS": "1"}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        hashes.add(out.stdout.strip().splitlines()[-1])
    assert len(hashes) == 1, f"the synthetic data differ between BLAS kernels: {hashes}"
