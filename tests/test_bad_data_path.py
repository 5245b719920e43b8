"""A bad DATA_PATH gets one clear error naming the file and what is wrong (load_dataset, every layout)."""

from __future__ import annotations

import copy
import pickle
import warnings

import numpy as np
import pytest

from msa_lib.data import load_dataset

from msa_lib.data.annotator_story import write_format


@pytest.fixture(scope="module")
def mosei(tmp_path_factory):
    path = write_format("mmsa_mosei", tmp_path_factory.mktemp("bad"))
    with open(path, "rb") as f:
        return pickle.load(f)


def _write(tmp_path, obj, name="broken.pkl"):
    path = tmp_path / name
    with open(path, "wb") as f:
        pickle.dump(obj, f)
    return path


def _load(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_dataset(path, simulated_text="none", **kw)


def test_missing_file_and_wrong_kind(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.pkl does not exist"):
        _load(tmp_path / "nowhere.pkl")
    (tmp_path / "data.csv").write_text("a,b\n")
    with pytest.raises(ValueError, match="data.csv is a file but not a .pkl"):
        _load(tmp_path / "data.csv")
    (tmp_path / "junk.pkl").write_bytes(b"this is not a pickle at all")
    with pytest.raises(ValueError, match="junk.pkl is not a readable pickle"):
        _load(tmp_path / "junk.pkl")
    path = _write(tmp_path, [1, 2, 3])
    with pytest.raises(ValueError, match="broken.pkl holds a list, expected a dict of splits"):
        _load(path)


def test_a_split_or_the_labels_missing(tmp_path, mosei):
    data = {k: v for k, v in mosei.items() if k != "valid"}
    with pytest.raises(KeyError, match=r"broken.pkl has no split 'valid'"):
        _load(_write(tmp_path, data))
    data = copy.deepcopy(mosei)
    del data["test"]["regression_labels"]
    with pytest.raises(KeyError, match=r"broken.pkl: split 'test' has no key 'regression_labels'"):
        _load(_write(tmp_path, data))


def test_dims_that_disagree_between_splits_name_the_file(tmp_path, mosei):
    data = copy.deepcopy(mosei)
    data["test"]["audio"] = data["test"]["audio"][:, :, :10]
    with pytest.raises(ValueError, match=r"broken.pkl: split 'test' has feature dims .*'audio': 10.* 'audio': 74"):
        _load(_write(tmp_path, data))


def test_arrays_of_different_lengths_inside_a_split(tmp_path, mosei):
    data = copy.deepcopy(mosei)
    data["train"]["regression_labels"] = data["train"]["regression_labels"][:-1]
    with pytest.raises(ValueError, match=r"broken.pkl: split 'train': key 'text' has shape \(64, 50, 768\) but "
                                         r"'regression_labels' has 63 samples"):
        _load(_write(tmp_path, data))


def test_nan_in_features_is_an_error_not_a_silent_zero(tmp_path, mosei):
    data = copy.deepcopy(mosei)
    data["valid"]["vision"] = np.array(data["valid"]["vision"])
    data["valid"]["vision"][0, 3, 1] = np.nan
    with pytest.raises(ValueError, match=r"broken.pkl.*'valid'.*vision"):
        _load(_write(tmp_path, data))


def test_mertools_folder_without_labels(tmp_path):
    folder = write_format("mertools", tmp_path)
    (folder / "label.npz").unlink()
    with pytest.raises(FileNotFoundError, match=r"label.npz"):
        _load(folder)
