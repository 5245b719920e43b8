"""load_mertools on small MERTools / SDUMC folders (label.npz + one .npy per utterance) and its errors."""

import numpy as np
import pytest

from msa_lib.data import load_dataset, load_mertools, make_loader

DIMS = {"wav": 6, "txt": 8, "vid": 5, "sim": 8}
CORPORA = {"train_corpus": 5, "val_corpus": 2, "test_corpus": 3}


def _build(root, *, labels_scale=3.0, seed=0, vision_utterance_level=True):
    """label.npz + folders wav/ (T,D), txt/ (T,D), vid/ (D,) utterance-level, sim/ (T,D)."""
    rng = np.random.default_rng(seed)
    corpora, arrays = {}, {}
    for key, n in CORPORA.items():
        corpora[key] = {}
        for i in range(n):
            name = f"{key[:3]}Vid{i}_{i}"
            corpora[key][name] = {"emo": 0, "val": float(np.round(rng.uniform(-1, 1) * labels_scale * 3) / 3)}
            for folder, d in DIMS.items():
                if folder == "vid" and vision_utterance_level:
                    arr = rng.standard_normal(d).astype(np.float32)
                else:
                    arr = rng.standard_normal((int(rng.integers(1, 9)), d)).astype(np.float16)
                arrays[(folder, name)] = arr
    label_file = root / "label.npz"
    np.savez_compressed(label_file, **{k: np.array(v, dtype=object) for k, v in corpora.items()})
    feature_root = root / "features"
    for folder in DIMS:
        (feature_root / folder).mkdir(parents=True)
    for (folder, name), arr in arrays.items():
        np.save(feature_root / folder / f"{name}.npy", arr)
    return label_file, feature_root, corpora, arrays


def _load(label_file, feature_root, **kw):
    args = dict(audio="wav", text="txt", vision="vid", simulated_text="sim")
    args.update(kw)
    return load_mertools(label_file, feature_root, **args)


def test_values_shapes_labels_and_order(tmp_path):
    label_file, root, corpora, arrays = _build(tmp_path)
    ds = _load(label_file, root)
    assert ds.input_dims == {"text": 8, "audio": 6, "vision": 5, "text_sim": 8}
    assert ds.metric_dataset == "mosei" and ds.name == "features"
    for split, key in (("train", "train_corpus"), ("valid", "val_corpus"), ("test", "test_corpus")):
        names = list(corpora[key])
        s = ds[split]
        assert s.ids == names and len(s) == CORPORA[key]
        assert s.labels.dtype == np.float32
        np.testing.assert_allclose(s.labels, [corpora[key][n]["val"] for n in names])
        for i, name in enumerate(names):
            sample = s[i]
            for m, folder in (("audio", "wav"), ("text", "txt"), ("text_sim", "sim")):
                assert sample[m].dtype == np.float32
                np.testing.assert_array_equal(sample[m], arrays[(folder, name)].astype(np.float32))
            assert sample["vision"].shape == (1, 5)  # (D,) utterance-level promoted to (1, D)
            np.testing.assert_array_equal(sample["vision"][0], arrays[("vid", name)])
        np.testing.assert_array_equal(s.lengths("audio"), [arrays[("wav", n)].shape[0] for n in names])
    batch = next(iter(make_loader(ds["train"], 5)))
    assert batch["vision"].shape == (5, 1, 5) and batch["vision_mask"].all()
    np.testing.assert_array_equal(batch["audio_mask"].sum(1).numpy(), ds["train"].lengths("audio"))


def test_reading_is_lazy(tmp_path):
    label_file, root, corpora, arrays = _build(tmp_path)
    ds = _load(label_file, root)
    name = ds["test"].ids[1]
    np.save(root / "wav" / f"{name}.npy", np.full((3, 6), 7.0, np.float32))  # changed after loading
    np.testing.assert_array_equal(ds["test"][1]["audio"], np.full((3, 6), 7.0))


def test_folder_of_frames_and_absolute_paths(tmp_path):
    label_file, root, corpora, arrays = _build(tmp_path)
    name = list(corpora["train_corpus"])[0]
    (root / "vid" / f"{name}.npy").unlink()
    (root / "vid" / name).mkdir()
    for k in (2, 0, 1):  # stacked in sorted order
        np.save(root / "vid" / name / f"face_{k:03d}.npy", np.full(5, float(k), np.float32))
    ds = _load(label_file, root, vision=str(root / "vid"))
    np.testing.assert_array_equal(ds["train"][0]["vision"][:, 0], [0.0, 1.0, 2.0])
    assert ds["train"].lengths("vision")[0] == 3


def test_without_simulated_text_and_load_dataset(tmp_path):
    label_file, root, _, _ = _build(tmp_path)
    ds = _load(label_file, root, simulated_text=None)
    assert "text_sim" not in ds.input_dims and not ds.has_text_sim
    via = load_dataset(tmp_path, audio="wav", text="txt", vision="vid", simulated_text="none")  # tmp_path/features is found
    assert via.input_dims == {"text": 8, "audio": 6, "vision": 5}  # SDUMC's default sim folder absent
    via2 = load_dataset(tmp_path, audio="wav", text="txt", vision="vid", simulated_text="sim")
    assert via2.input_dims["text_sim"] == 8


def test_label_range_detection(tmp_path):
    label_file, root, _, _ = _build(tmp_path, labels_scale=1.0)
    with pytest.warns(UserWarning, match=r"every label lies in \[-1, 1\]"):
        assert _load(label_file, root).metric_dataset == "sims"
    assert _load(label_file, root, metric_dataset="mosei").metric_dataset == "mosei"


# ---------------------------------------------------------------- errors, each naming what is wrong
def test_error_label_file(tmp_path):
    label_file, root, corpora, _ = _build(tmp_path)
    with pytest.raises(FileNotFoundError, match="label file .*nope.npz: no such file"):
        _load(tmp_path / "nope.npz", root)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.npz is not a readable .npz"):
        _load(tmp_path / "bad.npz", root)
    np.savez(tmp_path / "partial.npz", train_corpus=np.array(corpora["train_corpus"], dtype=object))
    with pytest.raises(KeyError, match=r"no key\(s\) \['val_corpus', 'test_corpus'\]"):
        _load(tmp_path / "partial.npz", root)
    broken = dict(corpora)
    broken["val_corpus"] = {"x": {"emo": 0}}
    np.savez(tmp_path / "noval.npz", **{k: np.array(v, dtype=object) for k, v in broken.items()})
    with pytest.raises(ValueError, match="'val_corpus' entry 'x' has no 'val'"):
        _load(tmp_path / "noval.npz", root)


def test_error_labels_out_of_range_and_nan(tmp_path):
    label_file, root, corpora, _ = _build(tmp_path)
    corpora["test_corpus"][list(corpora["test_corpus"])[0]]["val"] = 3.5
    np.savez(tmp_path / "range.npz", **{k: np.array(v, dtype=object) for k, v in corpora.items()})
    with pytest.raises(ValueError, match=r"'test_corpus' has 1 labels outside \[-3, 3\].*3.5"):
        _load(tmp_path / "range.npz", root)
    corpora["test_corpus"][list(corpora["test_corpus"])[0]]["val"] = float("nan")
    np.savez(tmp_path / "nan.npz", **{k: np.array(v, dtype=object) for k, v in corpora.items()})
    with pytest.raises(ValueError, match="'test_corpus' has NaN labels"):
        _load(tmp_path / "nan.npz", root)


def test_error_missing_feature_file(tmp_path):
    label_file, root, corpora, _ = _build(tmp_path)
    with pytest.raises(FileNotFoundError, match="audio feature folder .*nowhere: no such folder"):
        _load(label_file, root, audio="nowhere")
    gone = list(corpora["val_corpus"])[1]
    (root / "txt" / f"{gone}.npy").unlink()
    with pytest.raises(FileNotFoundError, match=rf"text folder .*txt has no feature file for 1 of the 2 "
                                                rf"'valid' utterances, e.g. \['{gone}'\]"):
        _load(label_file, root)


def test_error_wrong_dims_between_utterances(tmp_path):
    label_file, root, corpora, _ = _build(tmp_path)
    name = list(corpora["test_corpus"])[2]
    np.save(root / "wav" / f"{name}.npy", np.zeros((4, 7), np.float32))
    ds = _load(label_file, root)  # lazy: found when the file is read
    with pytest.raises(ValueError, match=rf"{name}.npy \(audio, split 'test'\): feature dim 7 but the "
                                         r"folder's first file has dim 6"):
        ds["test"][2]
    with pytest.raises(ValueError, match=rf"{name}.npy \(audio, split 'test'\): feature dim 7"):
        _load(label_file, root, check_all_files=True)  # or up front


def test_error_sim_dim_and_nan_features(tmp_path):
    label_file, root, corpora, _ = _build(tmp_path)
    with pytest.raises(ValueError, match="simulated text .* has dim 6 but text .* has dim 8"):
        _load(label_file, root, simulated_text="wav")
    name = list(corpora["train_corpus"])[0]
    np.save(root / "txt" / f"{name}.npy", np.full((2, 8), np.nan, np.float32))
    ds = _load(label_file, root)
    with pytest.raises(ValueError, match=rf"{name}.npy \(text, split 'train'\): 16 non-finite"):
        ds["train"][0]


def test_save_mertools_round_trip(tmp_path):
    from msa_lib.data import save_mertools, synthetic_mosei

    ds = synthetic_mosei(seed=2, n_train=6, n_valid=2, n_test=3)
    root = save_mertools(ds, tmp_path / "synthetic")
    back = load_mertools(root / "label.npz", root, audio="audio", text="text", vision="vision",
                         simulated_text="text_sim")
    assert back.input_dims == ds.input_dims
    for s in ("train", "valid", "test"):
        assert back[s].ids == ds[s].ids
        np.testing.assert_array_equal(back[s].labels, ds[s].labels)
        for i in range(len(ds[s])):
            for m in ds.input_dims:
                np.testing.assert_array_equal(back[s][i][m], ds[s][i][m])


# ---------------------------------------------------------------- missing frames (all-NaN rows, OpenFace's convention)
def _folder_with_a_lost_face(tmp_path):
    from msa_lib.features.writers import write_feature, write_label_file

    rng = np.random.default_rng(0)
    labels = {s: {f"{s}_{i}": float(i - 1) for i in range(3)} for s in ("train", "valid", "test")}
    write_label_file(tmp_path / "label.npz", labels)
    for split in labels.values():
        for name in split:
            for m, d in (("audio", 4), ("text", 5), ("vision", 3)):
                write_feature(tmp_path / m, name, rng.normal(size=(6, d)).astype(np.float32))
    lost = rng.normal(size=(6, 3)).astype(np.float32)
    lost[[1, 4]] = np.nan  # frames 1 and 4: no face found
    write_feature(tmp_path / "vision", "train_0", lost)
    return tmp_path, lost


def test_all_nan_rows_are_an_error_by_default_and_missing_frames_with_mask(tmp_path):
    import torch
    from msa_lib.data.loader import collate_samples
    from msa_lib.data.mertools import load_mertools

    root, lost = _folder_with_a_lost_face(tmp_path)
    ds = load_mertools(root / "label.npz", root, audio="audio", text="text", vision="vision")
    with pytest.raises(ValueError, match=r"train_0.*missing_frames='mask'"):
        ds["train"][0]
    ds = load_mertools(root / "label.npz", root, audio="audio", text="text", vision="vision", missing_frames="mask")
    batch = collate_samples([ds["train"][i] for i in range(3)])
    assert batch["vision_mask"][0].tolist() == [True, False, True, True, False, True]
    assert batch["vision_mask"][1:].all()
    assert torch.equal(batch["vision"][0, [1, 4]], torch.zeros(2, 3))
    np.testing.assert_array_equal(batch["vision"][0, [0, 2, 3, 5]].numpy(), lost[[0, 2, 3, 5]])
    assert batch["audio_mask"].all()


def test_a_partly_nan_row_stays_an_error_with_mask(tmp_path):
    from msa_lib.data.mertools import load_mertools
    from msa_lib.features.writers import write_feature

    root, lost = _folder_with_a_lost_face(tmp_path)
    lost[2, 0] = np.nan
    with pytest.raises(ValueError, match="only rows that are entirely NaN"):
        write_feature(root / "vision", "train_0", lost)
    np.save(root / "vision" / "train_0.npy", lost)  # written by another tool
    ds = load_mertools(root / "label.npz", root, audio="audio", text="text", vision="vision", missing_frames="mask")
    with pytest.raises(ValueError, match="train_0.npy"):
        ds["train"][0]
    with pytest.raises(ValueError, match="missing_frames must be"):
        load_mertools(root / "label.npz", root, audio="audio", text="text", vision="vision", missing_frames="drop")
