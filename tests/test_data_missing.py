"""Missingness transforms: drop_modalities, random_frame_missing, use_simulated_text, apply_condition."""

import numpy as np
import pytest
import torch

from msa_lib.data import (
    CONDITIONS,
    CORRKD_CONDITIONS,
    FRAME_MISSING_CONDITIONS,
    apply_condition,
    drop_modalities,
    make_loader,
    random_frame_missing,
    random_modality_missing,
    synthetic_mosei,
    use_simulated_text,
)

MODS = ("text", "audio", "vision")


@pytest.fixture(scope="module")
def batch():
    ds = synthetic_mosei(seed=0, n_train=40, n_valid=5, n_test=5)
    return next(iter(make_loader(ds["train"], batch_size=32)))


def _clone(b):
    return {k: (v.clone() if torch.is_tensor(v) else list(v) if isinstance(v, list) else v) for k, v in b.items()}


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if torch.is_tensor(a[k]):
            assert torch.equal(a[k], b[k]), k
        else:
            assert a[k] == b[k], k


def test_batch_padding_is_zero(batch):
    for m in MODS + ("text_sim",):
        assert (batch[m][~batch[f"{m}_mask"]] == 0).all()
        assert (batch[f"{m}_mask"].sum(1) > 0).all()


def test_drop_modalities_semantics_and_no_mutation(batch):
    before = _clone(batch)
    out = drop_modalities(batch, ("text", "vision"))
    _assert_same(batch, before)
    for m in ("text", "vision"):
        assert (out[m] == 0).all() and out[m].shape == batch[m].shape
        assert not out[f"{m}_mask"].any()
        assert out[f"{m}_missing"].dtype == torch.bool and out[f"{m}_missing"].all()
        assert out[f"{m}_missing"].shape == (32,)
    assert out["audio"] is batch["audio"] and "audio_missing" not in out
    assert torch.equal(out["label"], batch["label"])
    one = drop_modalities(batch, "audio")  # a single name as a string
    assert not one["audio_mask"].any() and one["text_mask"].equal(batch["text_mask"])


def test_drop_modalities_per_sample(batch):
    flags = torch.zeros(32, dtype=torch.bool)
    flags[::3] = True
    out = drop_modalities(batch, {"audio": flags})
    assert (out["audio"][flags] == 0).all() and not out["audio_mask"][flags].any()
    assert torch.equal(out["audio"][~flags], batch["audio"][~flags])
    assert torch.equal(out["audio_mask"][~flags], batch["audio_mask"][~flags])
    assert torch.equal(out["audio_missing"], flags)
    with pytest.raises(ValueError, match="3 entries, batch has 32"):
        drop_modalities(batch, {"audio": torch.ones(3, dtype=torch.bool)})


def test_drop_modalities_errors(batch):
    with pytest.raises(KeyError, match="'smell'"):
        drop_modalities(batch, ("smell",))
    with pytest.raises(TypeError, match="batch dict"):
        drop_modalities([1, 2], ("text",))


def test_drop_twice_is_all_false_mask(batch):
    out = drop_modalities(drop_modalities(batch, ("text",)), ("text",))
    assert not out["text_mask"].any() and out["text_missing"].all()


def test_frame_missing_rate_zero_is_identity(batch):
    out = random_frame_missing(batch, 0.0, torch.Generator().manual_seed(0))
    for m in MODS:
        assert torch.equal(out[m], batch[m]) and torch.equal(out[f"{m}_mask"], batch[f"{m}_mask"])
        assert not out[f"{m}_frame_missing"].any()


def test_frame_missing_rate_one_drops_every_real_frame(batch):
    before = _clone(batch)
    out = random_frame_missing(batch, 1.0, torch.Generator().manual_seed(0))
    _assert_same(batch, before)
    for m in MODS:
        assert (out[m] == 0).all()
        assert torch.equal(out[f"{m}_frame_missing"], batch[f"{m}_mask"])
        assert torch.equal(out[f"{m}_mask"], batch[f"{m}_mask"])  # mask unchanged, as MMSA
    assert torch.equal(out["text_sim"], batch["text_sim"])  # not in `modalities`


def test_frame_missing_semantics_at_half(batch):
    out = random_frame_missing(batch, 0.5, torch.Generator().manual_seed(1))
    for m in MODS:
        dropped, mask = out[f"{m}_frame_missing"], batch[f"{m}_mask"]
        assert not (dropped & ~mask).any()  # padding is never "dropped"
        assert (out[m][dropped] == 0).all()
        kept = mask & ~dropped
        assert torch.equal(out[m][kept], batch[m][kept])
        assert torch.equal(out[m][~mask], batch[m][~mask])  # padding untouched (zero)
        frac = dropped.sum().item() / mask.sum().item()
        assert 0.4 < frac < 0.6


def test_frame_missing_seeded_reproducible(batch):
    a = random_frame_missing(batch, 0.3, torch.Generator().manual_seed(7))
    b = random_frame_missing(batch, 0.3, torch.Generator().manual_seed(7))
    c = random_frame_missing(batch, 0.3, torch.Generator().manual_seed(8))
    for m in MODS:
        assert torch.equal(a[f"{m}_frame_missing"], b[f"{m}_frame_missing"])
        assert torch.equal(a[m], b[m])
    assert not torch.equal(a["audio_frame_missing"], c["audio_frame_missing"])
    torch.manual_seed(3)
    g1 = random_frame_missing(batch, 0.3)
    torch.manual_seed(3)
    g2 = random_frame_missing(batch, 0.3)
    assert torch.equal(g1["vision"], g2["vision"])  # global RNG when generator is None


def test_frame_missing_options(batch):
    out = random_frame_missing(batch, 1.0, torch.Generator().manual_seed(0), hide_dropped=True)
    for m in MODS:
        assert not out[f"{m}_mask"].any()
    ends = random_frame_missing(batch, 1.0, torch.Generator().manual_seed(0), modalities=("text",),
                                keep_text_ends=True)
    lengths = batch["text_mask"].sum(1)
    idx = torch.arange(32)
    assert torch.equal(ends["text"][:, 0], batch["text"][:, 0])
    assert torch.equal(ends["text"][idx, lengths - 1], batch["text"][idx, lengths - 1])
    assert (ends["text_frame_missing"].sum(1) == lengths - 2).all()
    rates = torch.zeros(32)
    rates[16:] = 1.0
    per = random_frame_missing(batch, rates, torch.Generator().manual_seed(0))
    assert not per["audio_frame_missing"][:16].any()
    assert torch.equal(per["audio_frame_missing"][16:], batch["audio_mask"][16:])
    sim = random_frame_missing(batch, 1.0, modalities=("text_sim",))
    assert (sim["text_sim"] == 0).all() and torch.equal(sim["text"], batch["text"])


def test_frame_missing_errors(batch):
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"rate must be in \[0, 1\]"):
            random_frame_missing(batch, bad)
    with pytest.raises(ValueError, match="3 per-sample rates for a batch of 32"):
        random_frame_missing(batch, torch.zeros(3))
    with pytest.raises(KeyError, match="'depth'"):
        random_frame_missing(batch, 0.1, modalities=("depth",))


def test_use_simulated_text(batch):
    before = _clone(batch)
    out = use_simulated_text(batch)
    _assert_same(batch, before)
    assert torch.equal(out["text"], batch["text_sim"])
    assert torch.equal(out["text_mask"], batch["text_sim_mask"])
    assert out["text_simulated"] is True
    assert torch.equal(out["audio"], batch["audio"])
    no_sim = {k: v for k, v in batch.items() if not k.startswith("text_sim")}
    with pytest.raises(KeyError, match="no 'text_sim'.*simulated_text="):
        use_simulated_text(no_sim)
    wrong = dict(batch, text_sim=batch["text_sim"][..., :3])
    with pytest.raises(ValueError, match="text_sim has dim 3 but text has dim 64"):
        use_simulated_text(wrong)


@pytest.mark.parametrize("condition", CORRKD_CONDITIONS)
def test_corrkd_conditions_keep_the_named_modalities(batch, condition):
    kept = condition.replace("only_", "").split("+")
    out = apply_condition(batch, condition)
    for m in MODS:
        if m in kept:
            assert torch.equal(out[m], batch[m]) and torch.equal(out[f"{m}_mask"], batch[f"{m}_mask"])
            assert f"{m}_missing" not in out
        else:
            assert (out[m] == 0).all() and not out[f"{m}_mask"].any() and out[f"{m}_missing"].all()


def test_apply_condition_names(batch):
    assert len(CORRKD_CONDITIONS) == 6 and len(FRAME_MISSING_CONDITIONS) == 11
    assert FRAME_MISSING_CONDITIONS[3] == "frame_missing_0.3"
    assert set(CONDITIONS) >= {"complete", "text_missing", "only_text", "frame_missing_1.0"}
    complete = apply_condition(batch, "complete")
    assert complete is not batch
    _assert_same(complete, batch)
    tm = apply_condition(batch, "text_missing")
    assert torch.equal(tm["text"], batch["text_sim"])
    a = apply_condition(batch, "frame_missing_0.3", generator=torch.Generator().manual_seed(5))
    b = random_frame_missing(batch, 0.3, torch.Generator().manual_seed(5))
    for m in MODS:
        assert torch.equal(a[m], b[m])
    with pytest.raises(ValueError, match="unknown condition 'only_smell'.*frame_missing_<rate>"):
        apply_condition(batch, "only_smell")
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\]"):
        apply_condition(batch, "frame_missing_1.5")
    with pytest.raises(ValueError, match="cannot read a rate"):
        apply_condition(batch, "frame_missing_x")


def test_random_modality_missing_keeps_one(batch):
    out = random_modality_missing(batch, 1.0, torch.Generator().manual_seed(0))
    alive = torch.stack([out[f"{m}_mask"].any(1) for m in MODS], 1)
    assert (alive.sum(1) == 1).all()
    none = random_modality_missing(batch, 0.0, torch.Generator().manual_seed(0))
    for m in MODS:
        assert torch.equal(none[m], batch[m]) and not none[f"{m}_missing"].any()
    half = random_modality_missing(batch, 0.5, torch.Generator().manual_seed(0), keep_one=False)
    frac = np.mean([half[f"{m}_missing"].float().mean().item() for m in MODS])
    assert 0.3 < frac < 0.7


def test_apply_condition_options_only_for_frame_missing(batch):
    out = apply_condition(batch, "frame_missing_1.0", generator=torch.Generator().manual_seed(0), hide_dropped=True)
    assert not out["audio_mask"].any()
    with pytest.raises(TypeError, match=r"options \['hide_dropped'\] only apply to 'frame_missing_<rate>'"):
        apply_condition(batch, "only_text", hide_dropped=True)
