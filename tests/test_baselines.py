"""The field's classic models (msa_lib.models.baselines): MMSA's architectures, parameter for parameter, and
what this library changes on purpose (padding never matters; a missing modality is one zero frame).

MMSA's parameter counts below were printed by MMSA's own classes at its config_regression.json settings
(``benchmarks/parity_mmsa.py`` prints them again from a local copy of thuiar/MMSA, and shows that MMSA's weights
loaded into these classes give MMSA's predictions: max difference 0 for LF-DNN and TFN, 3.6e-7 for MulT).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from msa_lib.models.baselines import BASELINES, LFDNN, TFN, MulT, MulTConfig, TFNConfig, build_baseline

MMSA_PARAMETERS = {("lf_dnn", "mosi"): 597_171, ("lf_dnn", "mosei"): 572_283, ("tfn", "mosi"): 9_497_043,
                   ("tfn", "mosei"): 5_042_539, ("mult", "mosi"): 2_571_551, ("mult", "mosei"): 982_951}
MMSA_DIMS = {"mosi": {"text": 768, "audio": 5, "vision": 20}, "mosei": {"text": 768, "audio": 74, "vision": 35}}
DIMS = {"text": 12, "audio": 5, "vision": 7}


@pytest.mark.parametrize("name,dataset", sorted(MMSA_PARAMETERS))
def test_parameter_counts_are_mmsas(name, dataset):
    with torch.device("meta"):
        model = build_baseline(name, MMSA_DIMS[dataset], mosei=dataset == "mosei")
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == MMSA_PARAMETERS[(name, dataset)]


def _batch(b=5, seed=0, lengths=None):
    g = torch.Generator().manual_seed(seed)
    out = {}
    for m, t in zip(DIMS, (9, 12, 8)):
        x = torch.randn(b, t, DIMS[m], generator=g)
        length = torch.randint(2, t + 1, (b,), generator=g) if lengths is None else lengths[m]
        mask = torch.arange(t)[None] < length[:, None]
        out[m], out[f"{m}_mask"] = x * mask[..., None], mask
    out["label"] = torch.randn(b, generator=g)
    return out


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_masked_models_ignore_padding_and_batch_neighbours(name):
    torch.manual_seed(0)
    model = build_baseline(name, DIMS).eval()
    batch = _batch()
    with torch.no_grad():
        out = model(batch)["pred"]
        assert out.shape == (5,) and torch.isfinite(out).all()
        # one utterance alone, cut to its own lengths, gets the same prediction as inside the batch
        # (BatchNorm in eval mode uses its running statistics, so samples do not interact)
        alone = {}
        for m in DIMS:
            n = int(batch[f"{m}_mask"][2].sum())
            alone[m], alone[f"{m}_mask"] = batch[m][2:3, :n], batch[f"{m}_mask"][2:3, :n]
        torch.testing.assert_close(model(alone)["pred"], out[2:3])


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_mmsa_padding_mode_depends_on_padding_as_mmsa_does(name):
    """padding="mmsa" averages over padded frames / reads the last padded frame: the switch really switches."""
    torch.manual_seed(0)
    config = BASELINES[name][1](padding="mmsa")
    model = BASELINES[name][0](DIMS, config).eval()
    batch = _batch()
    longer = {k: (torch.cat([v, torch.zeros(v.shape[0], 4, *v.shape[2:], dtype=v.dtype)], 1) if k in DIMS or
                  k.endswith("_mask") else v) for k, v in batch.items()}
    with torch.no_grad():
        assert not torch.allclose(model(batch)["pred"], model(longer)["pred"])


def test_a_missing_modality_is_a_zero_frame_and_stays_finite():
    torch.manual_seed(0)
    batch = _batch()
    batch["audio"], batch["audio_mask"] = torch.zeros_like(batch["audio"]), torch.zeros_like(batch["audio_mask"])
    for name in BASELINES:
        model = build_baseline(name, DIMS).eval()
        with torch.no_grad():
            got = model(batch)["pred"]
            noisy = dict(batch, audio=torch.randn_like(batch["audio"]))  # what lies under an empty mask
            assert torch.isfinite(got).all(), name
            torch.testing.assert_close(model(noisy)["pred"], got, msg=name)


def test_tfn_fuses_every_product_and_stays_in_the_sentiment_range():
    torch.manual_seed(0)
    model = TFN(DIMS, TFNConfig(hidden_dims=(6, 3, 4), text_out=5, post_fusion_dim=8)).eval()
    with torch.no_grad():
        out = model(_batch())
        z_t, z_a, z_v = model.subnets(_batch())
    fused = out["fused"].reshape(5, 4, 5, 6)  # (1 + audio) x (1 + vision) x (1 + text)
    torch.testing.assert_close(fused[:, 0, 0, 0], torch.ones(5))  # the constant
    torch.testing.assert_close(fused[:, 1:, 0, 0], z_a)  # unimodal terms survive
    torch.testing.assert_close(fused[:, 1:, 1:, 1:], torch.einsum("ba,bv,bt->bavt", z_a, z_v, z_t))
    assert (out["pred"].abs() < 3).all()


def test_configs_reject_what_cannot_work():
    with pytest.raises(ValueError, match="padding"):
        TFNConfig(padding="zeros")
    with pytest.raises(ValueError, match="multiple"):
        MulTConfig(d_model=50, n_heads=7)
    with pytest.raises(ValueError, match="odd"):
        MulTConfig(kernels=(4, 1, 1))
    with pytest.raises(ValueError, match="unknown baseline"):
        build_baseline("mag_bert", DIMS)
    with pytest.raises(KeyError, match="vision"):
        LFDNN({"text": 4, "audio": 3})
    with pytest.raises(ValueError, match=r"batch\['audio'\]"):
        MulT(DIMS)(dict(_batch(), audio=torch.randn(5, 12, 3)))


def test_train_baseline_and_both_protocols_on_tiny_data():
    """A baseline trains with selection on validation, and evaluate_protocols covers SDUMC's and CorrKD's
    conditions with the same complete-data numbers for the condition both share."""
    from msa_lib.data import synthetic_mosei
    from msa_lib.training.baselines import BaselineTrainConfig, evaluate_protocols, train_baseline
    from msa_lib.training.corrkd import DEFAULT_CONDITIONS

    data = synthetic_mosei(n_train=48, n_valid=24, n_test=24, seed=0, text_dim=12, audio_dim=8, vision_dim=7)
    config = BaselineTrainConfig.quick("lf_dnn", epochs=2)
    model, fit = train_baseline("lf_dnn", data, 0, config=config)
    assert 1 <= fit.best_epoch <= 2 and len(fit.history) == 2
    out = evaluate_protocols(model, data, seed=0)
    assert set(out) == {*DEFAULT_CONDITIONS, "frame_missing_1.0", "text_missing"}
    assert all(np.isfinite(v["MAE"]) for v in out.values())
    again, _ = train_baseline("lf_dnn", data, 0, config=config)  # the same seed gives the same model
    assert evaluate_protocols(again, data, seed=0)["complete"] == out["complete"]
    with pytest.raises(ValueError, match="not 'tfn'"):
        train_baseline("tfn", data, 0, config=config)
    assert BaselineTrainConfig.full("mult").grad_clip == 0.6  # MMSA's MulT recipe


def test_annotator_mosi_is_written_once_and_read_as_mmsa(tmp_path):
    """Chapter 07's data: MOSI's dims and split sizes as asked, MMSA's aligned layout (text_bert masks give the
    lengths), labels on the annotators' 0.2 grid, the same bytes for the same seed, and the file is reused."""
    from msa_lib.data import load_mmsa
    from msa_lib.data.annotator_story import annotator_mosi

    path = annotator_mosi(tmp_path, seed=3, sizes=(30, 10, 12))
    assert path.name == "aligned_50.pkl" and annotator_mosi(tmp_path, seed=3, sizes=(30, 10, 12)) == path
    other = annotator_mosi(tmp_path / "b", seed=3, sizes=(30, 10, 12))
    assert other.read_bytes() == path.read_bytes()
    data = load_mmsa(path, metric_dataset="mosei")
    assert [len(data[s]) for s in ("train", "valid", "test")] == [30, 10, 12]
    assert {m: data.input_dims[m] for m in ("text", "audio", "vision")} == {"text": 768, "audio": 5, "vision": 20}
    labels = data["train"].labels
    assert np.allclose(labels * 5, np.round(labels * 5), atol=1e-4) and labels.min() >= -3 and labels.max() <= 3
    assert not list(path.parent.parent.glob("*.tmp*")), "a temporary folder was left behind"
