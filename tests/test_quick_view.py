"""Quick mode on real data: frame pooling and utterance subsets (msa_lib.data.quick)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from msa_lib.data import load_mmsa
from msa_lib.data.dataset import PackedSequences
from msa_lib.data.quick import QuickView, pool_frames, quick_view

from msa_lib.data.annotator_story import write_format


def test_pool_frames_matches_the_group_means():
    x = np.arange(7 * 2, dtype=np.float32).reshape(7, 2)
    y = np.ones((2, 2), np.float32)
    pooled = pool_frames(PackedSequences.from_list([x, y]), 3)
    np.testing.assert_allclose(pooled[0], [x[0:3].mean(0), x[3:6].mean(0), x[6:7].mean(0)])
    np.testing.assert_allclose(pooled[1], [[1.0, 1.0]])
    assert pooled.lengths.tolist() == [3, 1]
    with pytest.raises(ValueError, match="k must be >= 1"):
        pool_frames(PackedSequences.from_list([x]), 0)


def test_quick_view_pools_long_unaligned_frames_and_caps_utterances(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = load_mmsa(write_format("mmsa_mosi", tmp_path))   # audio up to 375, vision up to 500 frames
    before = {m: int(ds["train"].lengths(m).max()) for m in ("audio", "vision")}
    with pytest.warns(UserWarning, match="average-pooled in groups of") as rec:
        q = quick_view(ds, QuickView(max_frames=50, max_train=40, max_eval=10, seed=3))
    assert len(rec) == 1 and "utterances: train 64 -> 40" in str(rec[0].message)
    assert [len(q[s]) for s in ("train", "valid", "test")] == [40, 10, 10]
    for m in ("audio", "vision"):
        k = q.info["quick_view"]["pooled"][m]["k"]
        assert k == int(np.ceil(max(int(ds[s].lengths(m).max()) for s in ds) / 50))
        assert int(q["train"].lengths(m).max()) <= 50 < before[m]
    # text is never pooled; the kept utterances are the same ones, in file order, with their labels
    idx = [ds["train"].ids.index(i) for i in q["train"].ids]
    assert idx == sorted(idx)
    np.testing.assert_array_equal(q["train"].labels, ds["train"].labels[idx])
    np.testing.assert_array_equal(q["train"][0]["text"], ds["train"][idx[0]]["text"])
    a = ds["train"][idx[0]]["audio"]
    k = q.info["quick_view"]["pooled"]["audio"]["k"]
    np.testing.assert_allclose(q["train"][0]["audio"][0], a[:k].mean(0), rtol=1e-5)
    assert q.metric_dataset == ds.metric_dataset and q.name == ds.name
    assert len(ds["train"]) == 64  # the input is untouched


def test_quick_view_leaves_small_aligned_data_alone(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = load_mmsa(write_format("mmsa_mosei", tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert quick_view(ds) is ds
