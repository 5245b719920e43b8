"""The ridge text simulator (msa_lib.data.text_simulator) and load_dataset's ``simulated_text=`` switch.

The data have a *known* audio → text relation: text position p is a fixed random linear map of the mean of the
audio frames 3p..3p+2 (audio is 3× longer than the text, unaligned) plus noise, so the simulator must recover it.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from msa_lib.data import (
    MSADataset,
    MSASplit,
    PackedSequences,
    TextSimulatorConfig,
    add_simulated_text,
    fit_text_simulator,
    load_dataset,
    save_mmsa,
    save_simulated_text,
    simulated_text_quality,
)
from msa_lib.data.text_simulator import _resample_matrix, content_key, fold_assignment

SIZES = {"train": 100, "valid": 25, "test": 30}
D_T, D_A, D_V = 10, 6, 4


def _known_relation(seed=0, sizes=SIZES, noise=0.05) -> MSADataset:
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((D_A, D_T)) / np.sqrt(D_A)
    b = rng.standard_normal(D_T)
    splits = {}
    for s, n in sizes.items():
        text, audio, vision = [], [], []
        for _ in range(n):
            lt = int(rng.integers(3, 10))
            a = np.cumsum(rng.standard_normal((3 * lt, D_A)), axis=0) * 0.3 + rng.standard_normal(D_A)
            t = a.reshape(lt, 3, D_A).mean(1) @ w + b + noise * rng.standard_normal((lt, D_T))
            text.append(t.astype(np.float32))
            audio.append(a.astype(np.float32))
            vision.append(rng.standard_normal((2 * lt, D_V)).astype(np.float32))
        labels = np.clip(rng.normal(0, 1, n), -3, 3)
        seqs = {m: PackedSequences.from_list(x) for m, x in (("text", text), ("audio", audio), ("vision", vision))}
        splits[s] = MSASplit(s, seqs, labels, [f"{s}_{i:03d}" for i in range(n)])
    return MSADataset(splits, name="known", info={"source": "test"})


def _subset(split: MSASplit, idx) -> MSASplit:
    seqs = {m: PackedSequences.from_list([q[int(i)] for i in idx], dim=q.dim) for m, q in split.sequences.items()}
    return MSASplit(split.name, seqs, split.labels[idx], [split.ids[int(i)] for i in idx])


@pytest.fixture(scope="module")
def data():
    return _known_relation()


@pytest.fixture(scope="module")
def simulated(data):
    return add_simulated_text(data, cache_dir=False)


def test_resampling_is_identity_when_aligned_and_averages_when_longer():
    np.testing.assert_array_equal(_resample_matrix(7, 7), np.eye(7))
    m = _resample_matrix(6, 2)
    np.testing.assert_allclose(m, [[1 / 3] * 3 + [0] * 3, [0] * 3 + [1 / 3] * 3])
    np.testing.assert_allclose(_resample_matrix(500, 50).sum(1), 1.0)
    np.testing.assert_allclose(_resample_matrix(3, 8).sum(1), 1.0)


def test_recovers_the_known_relation_with_the_texts_lengths(data, simulated):
    assert simulated.has_text_sim and simulated.input_dims["text_sim"] == D_T
    for s in SIZES:
        np.testing.assert_array_equal(simulated[s].lengths("text_sim"), data[s].lengths("text"))
    info = simulated.info["text_sim"]
    assert info["folds"] == 5 and info["from_cache"] is False and info["config"]["inputs"] == ["audio"]
    assert "ridge" in info["method"] and info["seconds"] >= 0
    q = simulated_text_quality(simulated)
    assert q["r2"]["test"] > 0.95 and q["r2"]["valid"] > 0.95 and q["r2"]["train"] > 0.95
    assert q["test_cosine"] > 0.95 and q["test_relative_l2"] < 0.2
    assert abs(info["valid_r2"] - q["r2"]["valid"]) < 1e-9
    assert set(q["probe"]) == {"text", "text_sim"} and q["level"]["test"] == "position"
    # the vision switch gives a simulator with more inputs and still recovers the relation
    av = add_simulated_text(data, TextSimulatorConfig(inputs=("audio", "vision"), alphas=(1e-3,)), cache_dir=False)
    assert av.info["text_sim"]["n_inputs"] > simulated.info["text_sim"]["n_inputs"]
    assert av.info["text_sim"]["quality"]["test"]["r2"] > 0.9


def test_cross_fitting_holds_each_fold_out(data, simulated):
    cfg = TextSimulatorConfig()
    train = data["train"]
    fold = fold_assignment(len(train), cfg.folds, cfg.seed)
    assert np.bincount(fold).tolist() == [20] * 5
    k = 2
    held, rest = np.flatnonzero(fold == k), np.flatnonzero(fold != k)
    by_hand = fit_text_simulator(_subset(train, rest), cfg, inner_folds=fold[rest]).predict(_subset(train, held))
    full = fit_text_simulator(train, cfg, inner_folds=fold)
    full_pred = full.predict(_subset(train, held))
    cross = simulated["train"].sequences["text_sim"]
    got = np.concatenate([cross[int(i)] for i in held])
    np.testing.assert_allclose(got, by_hand.values, rtol=1e-4, atol=1e-4)
    assert np.abs(got - full_pred.values).max() > 1e-3  # the full fit saw these utterances: not what train gets
    # valid / test come from the simulator fitted on all of train
    np.testing.assert_allclose(simulated["test"].sequences["text_sim"].values, full.predict(data["test"]).values,
                               rtol=1e-4, atol=1e-4)


def test_input_is_not_modified(data, simulated):
    assert not data.has_text_sim and "text_sim" not in data.info
    assert all("text_sim" not in data[s].sequences for s in SIZES)
    fresh = _known_relation()
    for s in SIZES:
        np.testing.assert_array_equal(data[s].sequences["text"].values, fresh[s].sequences["text"].values)
        np.testing.assert_array_equal(data[s].labels, fresh[s].labels)
    assert not simulated["test"].sequences["text_sim"].values.flags.writeable


def test_cache_is_keyed_by_content(tmp_path, data):
    cache = tmp_path / "cache"
    first = add_simulated_text(data, cache_dir=cache)
    files = sorted(cache.glob("*.npz"))
    assert len(files) == 1 and not list(cache.glob("*.tmp")) and first.info["text_sim"]["from_cache"] is False
    renamed = {}
    for s in SIZES:  # the same content under another name and other ids (ids are not content)
        c = _subset(data[s], np.arange(len(data[s])))
        renamed[s] = MSASplit(s, c.sequences, c.labels, [f"other_{i}" for i in range(len(c))])
    renamed = MSADataset(renamed, name="another_name")
    hit = add_simulated_text(renamed, cache_dir=cache)
    assert hit.info["text_sim"]["from_cache"] is True and hit.info["text_sim"]["cache_path"] == str(files[0])
    for s in SIZES:
        np.testing.assert_array_equal(hit[s].sequences["text_sim"].values, first[s].sequences["text_sim"].values)
        np.testing.assert_array_equal(hit[s].sequences["text_sim"].offsets, first[s].sequences["text_sim"].offsets)
    changed = {s: _subset(data[s], np.arange(len(data[s]))) for s in SIZES}
    changed["test"].labels[0] += 0.5
    changed = MSADataset(changed, name="known")
    assert content_key(changed, TextSimulatorConfig()) != content_key(data, TextSimulatorConfig())
    assert add_simulated_text(changed, cache_dir=cache).info["text_sim"]["from_cache"] is False
    assert len(list(cache.glob("*.npz"))) == 2
    # another config is another entry
    assert content_key(data, TextSimulatorConfig(context=1)) != content_key(data, TextSimulatorConfig())


def _ours(caught):
    return [w for w in caught if "simulated text" in str(w.message)]


def test_load_dataset_simulated_text_switch(tmp_path, monkeypatch, data):
    monkeypatch.setenv("MSA_CACHE_DIR", str(tmp_path / "cache"))
    pkl = save_mmsa(data, tmp_path / "known.pkl")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        none = load_dataset(pkl, quick=False, simulated_text="none")
    assert not none.has_text_sim and not _ours(caught)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        auto = load_dataset(pkl, quick=False)  # "auto" is the default
    ours = _ours(caught)
    assert auto.has_text_sim and len(ours) == 1 and len(caught) == 1
    msg = str(ours[0].message)
    assert "ridge text simulator" in msg and "cross-fitted" in msg and 'SIMULATED_TEXT = "none"' in msg
    assert " s " in msg and ".npz" in msg
    for s in SIZES:
        np.testing.assert_array_equal(auto[s].lengths("text_sim"), auto[s].lengths("text"))

    # the same content under another file name: a cache hit, said so, identical arrays
    copy = save_mmsa(data, tmp_path / "renamed_copy.pkl")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = load_dataset(copy, quick=False, simulated_text="auto")
    assert len(_ours(caught)) == 1 and "from the cache" in str(_ours(caught)[0].message)
    for s in SIZES:
        np.testing.assert_array_equal(again[s].sequences["text_sim"].values, auto[s].sequences["text_sim"].values)

    # a path: read back exactly; a file that does not match the data names file and split
    npz = save_simulated_text(auto, tmp_path / "mine.npz")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read = load_dataset(pkl, quick=False, simulated_text=str(npz))
    assert not _ours(caught)
    for s in SIZES:
        np.testing.assert_array_equal(read[s].sequences["text_sim"].values, auto[s].sequences["text_sim"].values)
    other = add_simulated_text(_known_relation(seed=1, sizes={"train": 100, "valid": 20, "test": 30}),
                               TextSimulatorConfig(alphas=(1e-3,)), cache_dir=False)
    bad = save_simulated_text(other, tmp_path / "other.npz")
    with pytest.raises(ValueError, match=r"other\.npz: split 'valid' has 20 utterances but .* has 25"):
        load_dataset(pkl, quick=False, simulated_text=bad)

    with pytest.raises(FileNotFoundError, match=r"nope\.npz.*no such file"):
        load_dataset(pkl, quick=False, simulated_text=str(tmp_path / "nope.npz"))
    with pytest.raises(ValueError, match=r"simulated_text='sim_folder' is not understood.*'auto'.*'none'.*\.npz"):
        load_dataset(pkl, quick=False, simulated_text="sim_folder")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"junk\.npz is not a readable \.npz"):
        load_dataset(pkl, quick=False, simulated_text=tmp_path / "junk.npz")
