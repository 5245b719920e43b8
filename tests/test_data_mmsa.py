"""load_mmsa on small MMSA-format pickles (aligned / unaligned, MOSI- and SIMS-shaped) and its errors."""

import pickle
import warnings

import numpy as np
import pytest

from msa_lib.data import load_dataset, load_mmsa, make_loader, mmsa_lengths

SIZES = {"train": 6, "valid": 3, "test": 4}


def _mosi_split(rng, n, aligned, *, lengths_keys=True, label_scale=3.0, dims=(16, 5, 20), lens=(12, 30, 40)):
    """An MMSA split: BERT-like text non-zero at padding, text_bert ids/mask/segments, zero-padded A/V."""
    dt, da, dv = dims
    lt, la, lv = lens
    t_len = rng.integers(3, lt + 1, n)
    text = rng.standard_normal((n, lt, dt))  # float64, non-zero at padded positions like BERT
    bert = np.zeros((n, 3, lt), np.int64)
    for i, t in enumerate(t_len):
        bert[i, 0, :t] = rng.integers(1000, 2000, t)
        bert[i, 1, :t] = 1
    if aligned:
        la = lv = lt
        a_len, v_len = t_len, t_len
    else:
        a_len, v_len = rng.integers(1, la + 1, n), rng.integers(1, lv + 1, n)
    audio = np.zeros((n, la, da))
    vision = np.zeros((n, lv, dv))
    for i in range(n):
        audio[i, : a_len[i]] = rng.standard_normal((a_len[i], da)) + 5  # +5: no real frame sums to 0
        vision[i, : v_len[i]] = rng.standard_normal((v_len[i], dv)) + 5
    if aligned:
        audio[:, 0] = 0  # [CLS] row is zero in aligned files
        vision[:, 0] = 0
    d = {
        "text": text.astype(np.float32),
        "text_bert": bert,
        "audio": audio,
        "vision": vision,
        "regression_labels": (rng.integers(-9, 10, n) / 3 * label_scale / 3).astype(np.float32),
        "id": [f"vid{i}$_${i}" for i in range(n)],
        "raw_text": ["words"] * n,
    }
    if not aligned and lengths_keys:
        d["audio_lengths"] = list(a_len)
        d["vision_lengths"] = list(v_len)
    return d, {"text": t_len, "audio": a_len, "vision": v_len}


def _write(tmp_path, name, data):
    path = tmp_path / name
    with open(path, "wb") as f:
        pickle.dump(data, f, protocol=4)
    return path


def _make(tmp_path, name="unaligned_50.pkl", aligned=False, seed=0, **kw):
    rng = np.random.default_rng(seed)
    data, lens = {}, {}
    for s, n in SIZES.items():
        data[s], lens[s] = _mosi_split(rng, n, aligned, **kw)
    return data, lens


def test_unaligned_mosi(tmp_path):
    data, lens = _make(tmp_path)
    path = _write(tmp_path, "unaligned_50.pkl", data)
    ds = load_mmsa(path)
    assert ds.metric_dataset == "mosei" and ds.input_dims == {"text": 16, "audio": 5, "vision": 20}
    assert ds.info["aligned"] is False
    for s in SIZES:
        split = ds[s]
        assert len(split) == SIZES[s]
        assert split.labels.dtype == np.float32
        np.testing.assert_array_equal(split.labels, data[s]["regression_labels"])
        for m in ("text", "audio", "vision"):
            np.testing.assert_array_equal(split.lengths(m), lens[s][m])
        for i in range(SIZES[s]):
            sample = split[i]
            assert sample["id"] == f"vid{i}$_${i}"
            for m in ("text", "audio", "vision"):
                t = lens[s][m][i]
                assert sample[m].dtype == np.float32 and sample[m].shape == (t, ds.input_dims[m])
                np.testing.assert_allclose(sample[m], np.asarray(data[s][m][i, :t], np.float32))
    batch = next(iter(make_loader(ds["train"], 6)))
    assert batch["audio"].shape == (6, max(lens["train"]["audio"]), 5)
    np.testing.assert_array_equal(batch["vision_mask"].sum(1).numpy(), lens["train"]["vision"])


def test_unaligned_without_lengths_uses_getlengths(tmp_path):
    data, lens = _make(tmp_path, lengths_keys=False)
    ds = load_mmsa(_write(tmp_path, "u.pkl", data))
    for s in SIZES:
        np.testing.assert_array_equal(ds[s].lengths("audio"), lens[s]["audio"])
        np.testing.assert_array_equal(ds[s].lengths("vision"), lens[s]["vision"])
    # text without text_bert: getLengths on the features (BERT features never sum to 0 → full length)
    for s in SIZES:
        del data[s]["text_bert"]
    ds2 = load_mmsa(_write(tmp_path, "u2.pkl", data))
    assert (ds2["train"].lengths("text") == 12).all()


def test_aligned_uses_text_length(tmp_path):
    data, lens = _make(tmp_path, aligned=True)
    ds = load_mmsa(_write(tmp_path, "aligned_50.pkl", data))
    assert ds.info["aligned"] is True
    for s in SIZES:
        for m in ("audio", "vision"):
            np.testing.assert_array_equal(ds[s].lengths(m), lens[s]["text"])
    assert (ds["train"][0]["audio"][0] == 0).all()  # the [CLS] row stays in (zero), as in MMSA


def test_mmsa_lengths_matches_reference_loop():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 9, 3))
    for i in range(20):
        cut = rng.integers(0, 10)
        x[i, cut:] = 0
    x[3, 4] = [1.0, -1.0, 0.0]  # a real frame summing to 0 truncates the length (MMSA quirk)

    def reference(x):
        out = []
        for seq in x:
            length = len(seq)
            for j, frame in enumerate(seq):
                if frame.sum() == 0:
                    length = j
                    break
            out.append(max(length, 1))
        return out

    np.testing.assert_array_equal(mmsa_lengths(x), reference(x))
    assert mmsa_lengths(x)[3] <= 4


def test_audio_neg_inf_repaired_with_one_warning(tmp_path):
    data, lens = _make(tmp_path)
    data["train"]["audio"][0, 0, :2] = -np.inf
    data["test"]["audio"][1, 0, 0] = -np.inf
    path = _write(tmp_path, "inf.pkl", data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = load_mmsa(path)
    msgs = [str(w.message) for w in caught if "-inf" in str(w.message)]
    assert len(msgs) == 1 and "replaced 3 -inf audio values by 0" in msgs[0]
    assert (ds["train"][0]["audio"][0, :2] == 0).all()
    assert np.isfinite(ds["train"][0]["audio"]).all()
    assert ds.info["audio_neg_inf_repaired"] == {"train": 2, "test": 1}


def test_sims_detection_and_label_range(tmp_path):
    rng = np.random.default_rng(1)
    sims = {s: _mosi_split(rng, n, False, label_scale=1.0, dims=(16, 33, 70), lens=(10, 40, 12))[0]
            for s, n in SIZES.items()}
    for s in SIZES:
        sims[s]["regression_labels_T"] = sims[s]["regression_labels"]
    ds = load_mmsa(_write(tmp_path, "unaligned_39.pkl", sims))
    assert ds.metric_dataset == "sims" and ds.input_dims["audio"] == 33
    assert np.abs(ds["train"].labels).max() <= 1
    for s in SIZES:
        del sims[s]["regression_labels_T"]
    assert load_mmsa(_write(tmp_path, "sims_unaligned.pkl", sims)).metric_dataset == "sims"
    with pytest.warns(UserWarning, match=r"every label lies in \[-1, 1\].*CH-SIMS"):
        assert load_mmsa(_write(tmp_path, "plain.pkl", sims)).metric_dataset == "sims"
    assert load_mmsa(tmp_path / "plain.pkl", metric_dataset="mosei").metric_dataset == "mosei"
    sims["valid"]["regression_labels"][1] = 1.4
    with pytest.raises(ValueError, match=r"split 'valid': 1 labels outside \[-1, 1\].*1.4"):
        load_mmsa(_write(tmp_path, "sims_bad.pkl", sims))


def test_simulated_text_key(tmp_path):
    data, lens = _make(tmp_path)
    rng = np.random.default_rng(5)
    for s, n in SIZES.items():
        data[s]["text_sim"] = rng.standard_normal((n, 7, 16)).astype(np.float32)
        data[s]["text_sim_lengths"] = np.full(n, 5)
    ds = load_mmsa(_write(tmp_path, "sim.pkl", data))
    assert ds.input_dims["text_sim"] == 16 and ds.has_text_sim
    np.testing.assert_array_equal(ds["test"][2]["text_sim"], data["test"]["text_sim"][2, :5])
    del data["valid"]["text_sim"]
    with pytest.raises(KeyError, match="'text_sim' is present in splits \\['train', 'test'\\]"):
        load_mmsa(_write(tmp_path, "sim2.pkl", data))


def test_load_dataset_dispatches_to_mmsa(tmp_path):
    data, _ = _make(tmp_path)
    path = _write(tmp_path, "unaligned_50.pkl", data)
    assert load_dataset(path).input_dims["audio"] == 5
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(ValueError, match="not a .pkl"):
        load_dataset(tmp_path / "x.txt")


# ---------------------------------------------------------------- errors, each naming what is wrong
def test_error_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pkl: no such file"):
        load_mmsa(tmp_path / "nope.pkl")


def test_error_not_a_pickle(tmp_path):
    path = tmp_path / "garbage.pkl"
    path.write_bytes(b"this is not a pickle at all")
    with pytest.raises(ValueError, match="garbage.pkl is not a readable pickle"):
        load_mmsa(path)
    with pytest.raises(ValueError, match="holds a list, expected a dict of splits"):
        load_mmsa(_write(tmp_path, "list.pkl", [1, 2]))


def test_error_missing_split_and_labels(tmp_path):
    data, _ = _make(tmp_path)
    bad = dict(data)
    del bad["valid"]
    with pytest.raises(KeyError, match="has no split 'valid'"):
        load_mmsa(_write(tmp_path, "nosplit.pkl", bad))
    data["test"] = dict(data["test"])
    del data["test"]["regression_labels"]
    with pytest.raises(KeyError, match="split 'test' has no key 'regression_labels'"):
        load_mmsa(_write(tmp_path, "nolabels.pkl", data))


def test_error_lengths_differ_inside_a_split(tmp_path):
    data, _ = _make(tmp_path)
    data["train"]["vision"] = data["train"]["vision"][:5]
    with pytest.raises(ValueError, match=r"split 'train': key 'vision' has shape \(5, 40, 20\) but "
                                         r"'regression_labels' has 6 samples"):
        load_mmsa(_write(tmp_path, "short.pkl", data))
    data, _ = _make(tmp_path)
    data["valid"]["audio_lengths"] = data["valid"]["audio_lengths"][:2]
    with pytest.raises(ValueError, match="split 'valid': key 'audio_lengths'"):
        load_mmsa(_write(tmp_path, "short2.pkl", data))


def test_error_nan_and_out_of_range(tmp_path):
    data, _ = _make(tmp_path)
    data["test"]["vision"][0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="split 'test': key 'vision' has 1 non-finite values \\(1 NaN\\)"):
        load_mmsa(_write(tmp_path, "nan.pkl", data))
    data, _ = _make(tmp_path)
    data["train"]["regression_labels"][2] = np.nan
    with pytest.raises(ValueError, match="split 'train': 'regression_labels' has 1 NaN"):
        load_mmsa(_write(tmp_path, "nanlab.pkl", data))
    data, _ = _make(tmp_path)
    data["train"]["regression_labels"][0] = 4.0
    with pytest.raises(ValueError, match=r"split 'train': 1 labels outside \[-3, 3\]"):
        load_mmsa(_write(tmp_path, "range.pkl", data))
    data, _ = _make(tmp_path)
    data["train"]["audio_lengths"][0] = 99
    with pytest.raises(ValueError, match=r"'audio_lengths' must lie in \[0, 30\]"):
        load_mmsa(_write(tmp_path, "len.pkl", data))
    data, _ = _make(tmp_path)
    data["train"]["audio"] = data["train"]["audio"][:, :, 0]
    with pytest.raises(ValueError, match=r"key 'audio' must be 3-D, got shape \(6, 30\)"):
        load_mmsa(_write(tmp_path, "rank.pkl", data))


def test_save_mmsa_round_trip(tmp_path):
    from msa_lib.data import save_mmsa, synthetic_mosei

    ds = synthetic_mosei(seed=2, n_train=8, n_valid=3, n_test=4)
    back = load_mmsa(save_mmsa(ds, tmp_path / "synthetic.pkl"))
    assert back.input_dims == ds.input_dims and back.metric_dataset == "mosei"
    for s in ("train", "valid", "test"):
        np.testing.assert_array_equal(back[s].labels, ds[s].labels)
        assert back[s].ids == ds[s].ids
        for i in range(len(ds[s])):
            for m in ds.input_dims:
                np.testing.assert_array_equal(back[s][i][m], ds[s][i][m])


# ------------------------------------------------------------------------------------ MulT pickles
def _mult_split(rng, n, *, aligned=True, left=True, length=10, dims=(6, 5, 4)):
    """A MulT split: GloVe-like text with zero rows at padding, labels [N, 1, 1], 3 byte-string id fields;
    zero padding in front (CMU-SDK default) or behind."""
    lens = rng.integers(2, length + 1, n)
    lens[0] = length  # one full-length sample, as real files have
    arrays = {}
    for m, dim in zip(("text", "audio", "vision"), dims):
        x = np.zeros((n, length, dim))
        for i, k in enumerate(lens):
            frames = rng.standard_normal((k, dim)) + 3
            if left:
                x[i, length - k:] = frames
            else:
                x[i, :k] = frames
        arrays[m] = x
    if not aligned:  # unaligned: audio / vision on their own time axes, padded behind
        arrays["audio"] = np.concatenate([arrays["audio"], np.zeros((n, 3, dims[1]))], axis=1)
    d = dict(arrays)
    d["labels"] = (rng.integers(-9, 10, n) / 3).reshape(n, 1, 1).astype(np.float32)
    d["id"] = np.array([[b"vid%d" % i, b"%d" % i, b"0"] for i in range(n)])
    return d, lens


def test_mult_left_padded_aligned_pickle_is_moved_to_the_right(tmp_path):
    rng = np.random.default_rng(3)
    data, lens = {}, {}
    for s, n in SIZES.items():
        data[s], lens[s] = _mult_split(rng, n)
    with pytest.warns(UserWarning, match="padded on the left") as record:
        ds = load_mmsa(_write(tmp_path, "mosei_senti_data.pkl", data))
    assert len([w for w in record if "padded on the left" in str(w.message)]) == 1
    assert ds.info["left_padding_moved"]["train"] == ["text", "audio", "vision"]
    for s in SIZES:
        split = ds[s]
        np.testing.assert_allclose(split.labels, data[s]["labels"].reshape(-1))
        for i, k in enumerate(lens[s]):
            sample = split[i]
            for m in ("text", "audio", "vision"):
                # the real frames, in order, now first; nothing lost, nothing invented
                np.testing.assert_allclose(sample[m], data[s][m][i, 10 - k:].astype(np.float32))
    assert ds["train"].ids[1] == "vid1$_$1$_$0"
    batch = next(iter(make_loader(ds["train"], batch_size=6)))
    assert batch["text_mask"].sum(1).tolist() == list(lens["train"])
    assert batch["text_mask"][:, 0].all()  # right padding: every sample starts with a real frame


def test_mult_right_padded_unaligned_pickle_is_left_alone(tmp_path):
    rng = np.random.default_rng(4)
    data, lens = {}, {}
    for s, n in SIZES.items():
        data[s], lens[s] = _mult_split(rng, n, aligned=False, left=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no padding warning
        ds = load_mmsa(_write(tmp_path, "mosei_senti_data_noalign.pkl", data))
    assert ds.info["left_padding_moved"] == {}
    for i, k in enumerate(lens["valid"]):
        for m in ("text", "audio", "vision"):
            assert len(ds["valid"][i][m]) == k
            np.testing.assert_allclose(ds["valid"][i][m], data["valid"][m][i, :k].astype(np.float32))


def test_mult_emotion_labels_are_refused(tmp_path):
    rng = np.random.default_rng(5)
    data = {s: _mult_split(rng, n)[0] for s, n in SIZES.items()}
    data["valid"]["labels"] = np.zeros((SIZES["valid"], 4, 2), np.float32)  # IEMOCAP one-hots
    with pytest.raises(ValueError, match=r"split 'valid'.*'labels' has shape \(3, 4, 2\).*IEMOCAP"):
        load_mmsa(_write(tmp_path, "iemocap_data.pkl", data))
    del data["valid"]["labels"]
    with pytest.raises(KeyError, match="split 'valid' has no key 'regression_labels' \\(MMSA\\) or 'labels'"):
        load_mmsa(_write(tmp_path, "nolabels.pkl", data))
