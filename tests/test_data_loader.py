"""make_loader / collate: right-padding, masks, labels, ids, seeded shuffling; the containers."""

import numpy as np
import pytest
import torch

from msa_lib.data import (
    MSADataset,
    MSASplit,
    PackedSequences,
    PaddedSequences,
    make_loader,
    pad_sequences,
    synthetic_mosei,
)


@pytest.fixture(scope="module")
def ds():
    return synthetic_mosei(seed=0, n_train=50, n_valid=10, n_test=10)


def test_batches_match_the_samples(ds):
    split = ds["train"]
    loader = make_loader(split, batch_size=16)
    seen = []
    for batch in loader:
        b = batch["label"].shape[0]
        assert batch["label"].dtype == torch.float32 and batch["index"].dtype == torch.long
        for j in range(b):
            i = int(batch["index"][j])
            seen.append(i)
            sample = split[i]
            assert batch["id"][j] == sample["id"]
            assert batch["label"][j].item() == pytest.approx(float(sample["label"]))
            for m in ("text", "audio", "vision", "text_sim"):
                t = sample[m].shape[0]
                x, mask = batch[m], batch[f"{m}_mask"]
                assert x.dtype == torch.float32 and mask.dtype == torch.bool
                assert x.shape[1] == int(split.lengths(m)[batch["index"]].max())  # batch maximum
                np.testing.assert_array_equal(x[j, :t].numpy(), sample[m])
                assert mask[j, :t].all() and not mask[j, t:].any()
                assert (x[j, t:] == 0).all()  # right padding with zeros
    assert seen == list(range(50))  # no shuffle: split order, nothing dropped


def test_seeded_shuffle_and_drop_last(ds):
    def order(seed):
        return [int(i) for b in make_loader(ds["train"], 8, shuffle=True, seed=seed) for i in b["index"]]

    a, b, c = order(0), order(0), order(1)
    assert a == b and a != c and sorted(a) == list(range(50))
    loader = make_loader(ds["train"], 8, shuffle=True, seed=0)
    epoch1 = [int(i) for b in loader for i in b["index"]]
    epoch2 = [int(i) for b in loader for i in b["index"]]
    assert epoch1 != epoch2  # reshuffled every epoch...
    again = make_loader(ds["train"], 8, shuffle=True, seed=0)
    assert [int(i) for b in again for i in b["index"]] == epoch1  # ...reproducibly
    sizes = [b["label"].shape[0] for b in make_loader(ds["train"], 8, drop_last=True)]
    assert sizes == [8] * 6


def test_loader_errors(ds):
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        make_loader(ds["train"], 0)
    with pytest.raises(TypeError, match="expects a split"):
        make_loader(42, 4)


def test_empty_sequences_pad_to_one_frame():
    seqs = PackedSequences.from_list([np.zeros((0, 3), np.float32), np.zeros((0, 3), np.float32)])
    x, mask = pad_sequences([seqs[0], seqs[1]])
    assert x.shape == (2, 1, 3) and not mask.any()
    with pytest.raises(ValueError, match=r"sequence 1 has shape \(2, 4\), expected \[T, 3\]"):
        pad_sequences([np.ones((2, 3)), np.ones((2, 4))])


def test_packed_and_padded_sequences():
    arrays = [np.arange(6, dtype=np.float32).reshape(3, 2), np.ones((1, 2), np.float32)]
    packed = PackedSequences.from_list(arrays)
    assert len(packed) == 2 and packed.dim == 2
    np.testing.assert_array_equal(packed.lengths, [3, 1])
    np.testing.assert_array_equal(packed[0], arrays[0])
    padded = PaddedSequences(np.zeros((2, 4, 2), np.float32), np.array([4, 0]))
    assert padded[1].shape == (0, 2) and padded[0].shape == (4, 2)
    with pytest.raises(ValueError, match=r"lengths must lie in \[0, 4\]"):
        PaddedSequences(np.zeros((2, 4, 2)), np.array([5, 1]))
    with pytest.raises(ValueError, match="2 lengths for 3 sequences"):
        PaddedSequences(np.zeros((3, 4, 2)), np.array([1, 1]))


def test_split_and_dataset_validation():
    seqs = {"text": PackedSequences.from_list([np.ones((2, 3), np.float32)] * 3)}
    with pytest.raises(ValueError, match="split 'train': 'text' has 3 samples but there are 2 labels"):
        MSASplit("train", seqs, np.zeros(2))
    good = MSASplit("train", seqs, np.zeros(3))
    with pytest.raises(KeyError, match=r"missing split\(s\) \['valid', 'test'\]"):
        MSADataset({"train": good}, name="toy")
    other = MSASplit("valid", {"text": PackedSequences.from_list([np.ones((2, 4), np.float32)])}, np.zeros(1))
    with pytest.raises(ValueError, match="split 'valid' has feature dims"):
        MSADataset({"train": good, "valid": other, "test": good}, name="toy")
    d = MSADataset({"train": good, "valid": good, "test": good}, name="toy")
    assert list(d) == ["train", "valid", "test"] and d.input_dims == {"text": 3}
    with pytest.raises(KeyError, match="no split 'dev'"):
        d["dev"]


def test_samples_are_read_only_views(ds):
    sample = ds["train"][0]
    with pytest.raises(ValueError, match="read-only"):
        sample["text"][0, 0] = 1.0
    batch = next(iter(make_loader(ds["train"], 4)))
    batch["text"][0, 0, 0] = 123.0  # batches are fresh copies: writing to them is fine
    assert ds["train"][0]["text"][0, 0] != 123.0
