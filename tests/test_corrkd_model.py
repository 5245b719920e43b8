"""CorrKDNet: shapes, masks, missing modalities, padding invariance, errors."""

import pytest
import torch

from msa_lib.models import CorrKDConfig, CorrKDNet
from msa_lib.models.corrkd import sentiment_classes, sinusoidal_positions

DIMS = {"text": 12, "audio": 6, "vision": 5}
SMALL = dict(d_model=16, n_heads=4, n_layers=1)


def make_batch(b=4, lengths=None, seed=0, dims=DIMS):
    g = torch.Generator().manual_seed(seed)
    lengths = lengths or {"text": [5, 3, 7, 2][:b], "audio": [6, 6, 1, 4][:b], "vision": [3, 5, 2, 5][:b]}
    batch = {}
    for m, d in dims.items():
        t = max(lengths[m])
        mask = torch.arange(t)[None, :] < torch.tensor(lengths[m])[:, None]
        batch[m] = torch.randn(b, t, d, generator=g) * mask[..., None]
        batch[f"{m}_mask"] = mask
    batch["label"] = torch.tensor([-2.0, 0.0, 1.3, 3.0])[:b]
    return batch


def test_forward_shapes_and_ignores_extra_input_dims():
    torch.manual_seed(0)
    net = CorrKDNet({**DIMS, "text_sim": 12}, **SMALL).eval()
    out = net(make_batch())
    assert out["pred"].shape == (4,)
    assert out["logits"].shape == (4, 7)
    assert out["joint"].shape == (4, 3 * 16) and net.config.joint_dim == 48
    assert set(out["features"]) == {"text", "audio", "vision"}
    assert out["sequences"]["audio"].shape == (4, 6, 16)
    assert "text_sim" not in net.encoders
    # joint = concatenation of the pooled features in modality order
    assert torch.equal(out["joint"], torch.cat([out["features"][m] for m in ("text", "audio", "vision")], -1))


@pytest.mark.parametrize("missing_modality", ["encode", "zero"])
def test_a_missing_modality_is_one_learned_vector_or_zero_and_never_nan(missing_modality):
    torch.manual_seed(0)
    net = CorrKDNet(DIMS, missing_modality=missing_modality, **SMALL).eval()
    batch = make_batch()
    batch["audio_mask"] = torch.zeros_like(batch["audio_mask"])
    batch["audio"] = torch.zeros_like(batch["audio"])
    out = net(batch)
    assert torch.isfinite(out["pred"]).all() and torch.isfinite(out["logits"]).all()
    z = out["features"]["audio"]
    if missing_modality == "zero":
        assert torch.all(z == 0)
    else:  # the encoder's output for one zero frame: the same non-zero vector for every sample
        assert z.abs().sum() > 0 and torch.allclose(z, z[:1].expand_as(z))
        lone = net({k: v[:1] if torch.is_tensor(v) else v for k, v in batch.items()})["features"]["audio"]
        torch.testing.assert_close(lone[0], z[0])  # independent of the batch and its padding
    # what lies under an all-False mask cannot matter
    noisy = dict(batch, audio=torch.randn_like(batch["audio"]) * 5)
    assert torch.allclose(net(noisy)["pred"], out["pred"])
    # gradients stay finite through the first frame; with "encode" they reach the audio encoder
    net.train()
    net(batch)["pred"].sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)
    audio_grads = [p.grad for p in net.encoders["audio"].encoder.parameters() if p.grad is not None]
    assert bool(audio_grads and any(g.abs().sum() > 0 for g in audio_grads)) == (missing_modality == "encode")


@pytest.mark.parametrize("missing_modality", ["encode", "zero"])
def test_every_modality_missing_is_finite(missing_modality):
    net = CorrKDNet(DIMS, missing_modality=missing_modality, **SMALL).eval()
    batch = make_batch()
    for m in DIMS:
        batch[f"{m}_mask"] = torch.zeros_like(batch[f"{m}_mask"])
    out = net(batch)
    assert torch.isfinite(out["pred"]).all()
    assert torch.all(out["joint"] == 0) == (missing_modality == "zero")
    # with nothing observed, h is the same for every sample, and so is the prediction
    assert torch.allclose(out["joint"], out["joint"][:1].expand_as(out["joint"]))
    assert torch.allclose(out["pred"], out["pred"][:1].expand(4))
    with pytest.raises(ValueError, match="missing_modality"):
        CorrKDConfig(missing_modality="learned")


@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_padding_invariance_and_batch_independence(pooling):
    torch.manual_seed(0)
    net = CorrKDNet(DIMS, pooling=pooling, **SMALL).eval()
    batch = make_batch()
    out = net(batch)
    padded = dict(batch)
    for m in DIMS:
        padded[m] = torch.cat([batch[m], torch.zeros(4, 3, DIMS[m])], 1)
        padded[f"{m}_mask"] = torch.cat([batch[f"{m}_mask"], torch.zeros(4, 3, dtype=torch.bool)], 1)
    assert torch.allclose(net(padded)["pred"], out["pred"], atol=1e-5)
    # sample 2 alone (cropped to its own lengths) gives the same output as inside the batch
    single = {}
    for m in DIMS:
        n = int(batch[f"{m}_mask"][2].sum())
        single[m] = batch[m][2:3, :n]
        single[f"{m}_mask"] = batch[f"{m}_mask"][2:3, :n]
    assert torch.allclose(net(single)["logits"][0], out["logits"][2], atol=1e-5)


def test_use_masks_false_runs_and_differs_on_padding():
    torch.manual_seed(0)
    a = CorrKDNet(DIMS, **SMALL).eval()
    b = CorrKDNet(DIMS, use_masks=False, **SMALL).eval()
    b.load_state_dict(a.state_dict())
    batch = make_batch()
    assert not torch.allclose(a(batch)["pred"], b(batch)["pred"])  # padding is attended without masks


def test_same_seed_same_weights_teacher_student_separate():
    torch.manual_seed(3)
    t = CorrKDNet(DIMS, **SMALL)
    torch.manual_seed(3)
    t2 = CorrKDNet(DIMS, **SMALL)
    s = CorrKDNet(DIMS, **SMALL)
    assert all(torch.equal(p, q) for p, q in zip(t.parameters(), t2.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(t.parameters(), s.parameters()))
    assert {id(p) for p in t.parameters()}.isdisjoint({id(p) for p in s.parameters()})


def test_errors_name_the_key():
    with pytest.raises(KeyError, match="vision"):
        CorrKDNet({"text": 4, "audio": 4})
    net = CorrKDNet(DIMS, **SMALL)
    batch = make_batch()
    with pytest.raises(ValueError, match="'audio'.*feature dim 7"):
        net(dict(batch, audio=torch.zeros(4, 6, 7)))
    with pytest.raises(ValueError, match="mask of 'text'"):
        net(dict(batch, text_mask=torch.ones(4, 2, dtype=torch.bool)))
    with pytest.raises(KeyError, match="no 'vision'"):
        net({k: v for k, v in batch.items() if k != "vision"})
    with pytest.raises(ValueError, match="multiple of n_heads"):
        CorrKDConfig(d_model=10, n_heads=4)
    with pytest.raises(ValueError, match="num_classes"):
        CorrKDConfig(num_classes=5)


def test_two_modality_config_and_class_count():
    net = CorrKDNet(DIMS, modalities=("text", "audio"), num_classes=3, **SMALL)
    out = net(make_batch())
    assert out["joint"].shape == (4, 32) and out["logits"].shape == (4, 3)


def test_sentiment_classes():
    y = torch.tensor([-3.4, -3.0, -0.5, 0.0, 0.5, 1.5, 2.5, 2.6, 3.7])
    assert sentiment_classes(y).tolist() == [0, 0, 3, 3, 3, 5, 5, 6, 6]  # round half to even, as MMSA
    assert sentiment_classes(y, 3).tolist() == [0, 0, 0, 1, 2, 2, 2, 2, 2]
    assert sentiment_classes(y, 2).tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 1]


def test_sinusoidal_positions():
    pe = sinusoidal_positions(5, 6)
    assert pe.shape == (5, 6)
    assert torch.allclose(pe[0], torch.tensor([0.0, 1.0] * 3))
    assert pe[3, 0].item() == pytest.approx(torch.sin(torch.tensor(3.0)).item())


def test_mlp_fusion_switch():
    torch.manual_seed(0)
    net = CorrKDNet(DIMS, fusion="mlp", missing_modality="zero", **SMALL).eval()
    batch = make_batch()
    batch["audio_mask"] = torch.zeros_like(batch["audio_mask"])
    out = net(batch)
    assert torch.all(out["features"]["audio"] == 0)
    audio_block = out["joint"][:, 16:32]
    assert audio_block.abs().sum() > 0  # the fused h has non-zero coordinates where the audio block was 0
    assert torch.isfinite(out["pred"]).all()
    with pytest.raises(ValueError, match="fusion"):
        CorrKDConfig(fusion="attention")
