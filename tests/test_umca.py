"""UMCANet, MIA and the shared masked blocks: shapes, masks, invariances, parity with the official forms."""

import pytest
import torch

from msa_lib.data import drop_modalities, use_simulated_text
from msa_lib.models import MIA, UMCAConfig, UMCANet
from msa_lib.models._blocks import (
    AttentionPooling,
    lengths_to_mask,
    masked_max,
    masked_mean,
    masked_softmax,
    mlp,
)
from msa_lib.models.umca import QUERY_NAMES, UnifiedCrossAttention

DIMS = {"audio": 12, "text": 16, "vision": 8, "text_sim": 16}


def make_batch(b=4, lengths=None, seed=0, dims=DIMS):
    """A batch following the contract: right-padded zeros, bool masks, labels, simulated text."""
    g = torch.Generator().manual_seed(seed)
    lengths = lengths or {"audio": [9, 5, 7, 3][:b], "text": [6, 4, 2, 5][:b], "vision": [4, 6, 2, 5][:b],
                          "text_sim": [3, 7, 5, 1][:b]}
    batch = {}
    for m, ls in lengths.items():
        t = max(ls)
        x = torch.randn(b, t, dims[m], generator=g)
        mask = lengths_to_mask(torch.tensor(ls), t)
        batch[m] = x * mask[..., None]
        batch[f"{m}_mask"] = mask
    batch["label"] = torch.randn(b, generator=g).clamp(-3, 3)
    batch["id"] = [f"s{i}" for i in range(b)]
    batch["index"] = torch.arange(b)
    return batch


def small_model(**kw):
    torch.manual_seed(0)
    return UMCANet(DIMS, UMCAConfig.small(hidden_dim=16, cross_dim=8, proj_dim=6, **kw)).eval()


# ------------------------------------------------------------------ blocks
def test_masked_softmax_matches_softmax_over_real_positions_and_empty_rows_are_zero():
    scores = torch.randn(3, 5, requires_grad=True)
    mask = torch.tensor([[1, 1, 0, 1, 0], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    out = masked_softmax(scores, mask)
    ref = torch.softmax(scores[0, [0, 1, 3]], dim=0)
    assert torch.allclose(out[0, [0, 1, 3]], ref)
    assert torch.all(out[0, [2, 4]] == 0)
    assert torch.all(out[1] == 0)
    assert torch.allclose(out[2], torch.softmax(scores[2], 0))
    (out * torch.randn(3, 5)).sum().backward()
    assert torch.isfinite(scores.grad).all()
    assert torch.all(scores.grad[1] == 0)


def test_masked_mean_and_max_ignore_padding_and_give_zeros_when_empty():
    x = torch.tensor([[[1.0], [3.0], [100.0]], [[5.0], [7.0], [9.0]]])
    mask = torch.tensor([[True, True, False], [False, False, False]])
    assert torch.allclose(masked_mean(x, mask), torch.tensor([[2.0], [0.0]]))
    assert torch.allclose(masked_max(x, mask), torch.tensor([[3.0], [0.0]]))


def test_lengths_to_mask_and_mlp():
    assert lengths_to_mask(torch.tensor([2, 0, 3])).tolist() == [
        [True, True, False], [False, False, False], [True, True, True]]
    net = mlp(4, (8, 3), dropout=0.0)
    assert [type(m).__name__ for m in net] == ["Linear", "ReLU", "Dropout"] * 2
    assert (net(torch.randn(5, 4)) >= 0).all()  # the official MLP ends with a ReLU
    with pytest.raises(ValueError, match="lengths"):
        lengths_to_mask(torch.tensor([[1]]))


def test_attention_pooling_is_a_convex_combination_of_real_frames():
    torch.manual_seed(0)
    pool = AttentionPooling(6, output_dropout=0.0)
    x = torch.randn(2, 4, 6)
    mask = torch.tensor([[True, True, True, False], [False, False, False, False]])
    u, alpha = pool(x, mask)
    assert torch.allclose(alpha[0].sum(), torch.tensor(1.0)) and alpha[0, 3] == 0
    assert torch.all(alpha[1] == 0) and torch.all(u[1] == 0)
    assert torch.allclose(u[0], (alpha[0, :, None] * x[0]).sum(0), atol=1e-6)


def test_cross_attention_equals_the_official_per_query_loop_when_unmasked():
    torch.manual_seed(0)
    attn = UnifiedCrossAttention(8, output_dropout=0.0).eval()
    frames, queries = torch.randn(3, 5, 8), torch.randn(3, 7, 8)
    out, a = attn(queries, frames, None)
    # official: A = softmax_T(0.3 K Q'^T) as [B, T, 7]; O_k = sum_t A[:, t, k] X[:, t]  (loop over k)
    keys = torch.tanh(attn.key_proj(frames))
    q = attn.query_proj(queries)
    a_off = torch.softmax(0.3 * torch.matmul(keys, q.transpose(1, 2)), dim=1)  # [B, T, 7]
    loop = torch.stack([(a_off[:, :, k:k + 1] * frames).sum(1) for k in range(7)], dim=1)
    assert torch.allclose(out, loop, atol=1e-6)
    assert torch.allclose(a, a_off.transpose(1, 2), atol=1e-6)


# ------------------------------------------------------------------ UMCANet
def test_parameter_count_matches_the_official_model():
    dims = {"audio": 1024, "text": 4096, "vision": 1024}
    with torch.device("meta"):
        no_mia = UMCANet(dims, use_mia=False)
        with_mia = UMCANet(dims)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(no_mia) == 3_857_291  # the official trainable count (reference/sdumc.md §2.3)
    assert count(with_mia) - count(no_mia) == 410_944  # the two ResidualAE blocks


def test_forward_shapes_and_batch_of_one():
    model = small_model()
    batch = make_batch()
    out = model(batch)
    assert out["pred"].shape == (4,)
    assert out["fused"].shape == (4, 8) and out["proj"].shape == (4, 6)
    assert out["text_query"].shape == (4, 16) and out["text_cross"].shape == (4, 7, 8)
    assert out["queries"].shape == (4, len(QUERY_NAMES), 16)
    assert out["attention"]["audio"].shape == (4, 7, 9)
    assert out["modality_weights"].shape == (4, 3) and out["slot_weights"].shape == (4, 7)
    one = {k: (v[:1] if torch.is_tensor(v) else v[:1]) for k, v in batch.items()}
    assert model(one)["pred"].shape == (1,)


def test_attention_maps_are_distributions_over_real_frames_only():
    out = small_model()(make_batch())
    for m, lens in (("audio", [9, 5, 7, 3]), ("vision", [4, 6, 2, 5])):
        a = out["attention"][m]
        for i, n in enumerate(lens):
            assert torch.allclose(a[i, :, :n].sum(-1), torch.ones(7), atol=1e-5)
            assert torch.all(a[i, :, n:] == 0)


def test_masked_model_ignores_padding_and_batch_composition():
    model = small_model()
    batch = make_batch()
    ref = model(batch)["pred"]
    # more padding, filled with garbage: masked model must not care
    padded = dict(batch)
    for m in ("audio", "text", "vision"):
        x, mask = batch[m], batch[f"{m}_mask"]
        padded[m] = torch.cat([x, 50 * torch.randn(x.shape[0], 6, x.shape[2])], 1)
        padded[f"{m}_mask"] = torch.cat([mask, torch.zeros(mask.shape[0], 6, dtype=torch.bool)], 1)
        padded[m][~padded[f"{m}_mask"]] = 50.0
    assert torch.allclose(model(padded)["pred"], ref, atol=1e-5)
    # a sample alone (trimmed to its own length) gives the same prediction as inside the batch
    alone = {}
    for m, n in (("audio", 3), ("text", 5), ("vision", 5), ("text_sim", 1)):
        alone[m] = batch[m][3:4, :n]
        alone[f"{m}_mask"] = batch[f"{m}_mask"][3:4, :n]
    assert torch.allclose(model(alone)["pred"], ref[3:4], atol=1e-5)


def test_unmasked_switch_reproduces_the_official_padding_leak():
    model = small_model(use_masks=False)
    batch = make_batch()
    longer = dict(batch)
    longer["audio"] = torch.cat([batch["audio"], torch.zeros(4, 5, 12)], 1)
    longer["audio_mask"] = torch.cat([batch["audio_mask"], torch.zeros(4, 5, dtype=torch.bool)], 1)
    # zero padding becomes the projection bias and takes attention weight: predictions change
    assert not torch.allclose(model(longer)["pred"], model(batch)["pred"], atol=1e-4)


def test_missing_modality_gives_finite_output_independent_of_its_features():
    model = small_model()
    dropped = drop_modalities(make_batch(), ("text",))
    out = model(dropped)
    assert torch.isfinite(out["pred"]).all()
    assert torch.all(out["attention"]["text"] == 0)
    other = dict(dropped)
    other["text"] = torch.randn_like(dropped["text"])  # features behind an all-False mask
    assert torch.allclose(model(other)["pred"], out["pred"], atol=1e-6)
    # gradients are finite too, in train mode
    model.train()
    model(dropped)["pred"].sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_double_flow_equals_two_separate_flows():
    model = small_model()
    with torch.no_grad():  # make MIA non-trivial so that the student's MIA path is exercised
        for p in model.mia_utterance.decoder.parameters():
            p.normal_()
    batch = make_batch()
    teacher, student = model.double_flow(batch)
    assert torch.allclose(teacher["pred"], model(batch)["pred"], atol=1e-5)
    sim = model(use_simulated_text(batch))
    assert torch.allclose(student["pred"], sim["pred"], atol=1e-5)
    assert torch.allclose(student["text_cross"], sim["text_cross"], atol=1e-5)
    assert student["attention"]["text"].shape == (4, 7, 7)  # the simulated text's own length
    assert not teacher["imagined"].any() and student["imagined"].all()
    # unmasked mode runs the flows separately and agrees with the same reference
    plain = small_model(use_masks=False, use_mia=False)
    t2, s2 = plain.double_flow(batch)
    assert torch.allclose(s2["pred"], plain(use_simulated_text(batch))["pred"], atol=1e-5)


def test_mia_applies_only_where_text_is_simulated_or_missing():
    model = small_model()
    batch = make_batch()
    # zero-initialised decoder: an untrained MIA is the identity on the text input
    assert torch.allclose(model(batch, imagine=True)["pred"], model(batch, imagine=False)["pred"], atol=1e-6)
    with torch.no_grad():
        for p in model.mia_cross.decoder.parameters():
            p.normal_()
    on, off = model(batch, imagine=True)["pred"], model(batch, imagine=False)["pred"]
    assert not torch.allclose(on, off)
    flags = torch.tensor([True, False, True, False])
    mixed = model(batch, imagine=flags)["pred"]
    assert torch.allclose(mixed[flags], on[flags], atol=1e-6)
    assert torch.allclose(mixed[~flags], off[~flags], atol=1e-6)
    assert model(use_simulated_text(batch))["imagined"].all()
    assert not model(batch)["imagined"].any()
    assert not small_model(use_mia=False)(use_simulated_text(batch))["imagined"].any()


def test_mia_residual_variants_and_shape_errors():
    torch.manual_seed(0)
    a, t, v = torch.randn(2, 7, 8), torch.randn(2, 7, 8), torch.randn(2, 7, 8)
    assert torch.allclose(MIA(8)(a, t, v), t)  # zero-init + text residual = identity
    fused = MIA(8, residual="fused", zero_init_output=True)
    z = fused.fuse_out(torch.relu(fused.fuse_in(torch.cat([a, t, v], -1))))
    assert torch.allclose(fused(a, t, v), z)
    assert MIA(8, 3, residual="none")(a, t, v).shape == t.shape
    with pytest.raises(ValueError, match="'vision' has feature size 5"):
        MIA(8)(a, t, torch.randn(2, 7, 5))
    with pytest.raises(ValueError, match="residual"):
        MIA(8, residual="plus")


def test_fusion_weight_switch():
    out = small_model(fusion_weights="softmax")(make_batch())
    assert torch.allclose(out["modality_weights"].sum(-1), torch.ones(4), atol=1e-6)
    assert torch.allclose(out["slot_weights"].sum(-1), torch.ones(4), atol=1e-6)
    sig = small_model(fusion_weights="sigmoid")(make_batch())["modality_weights"]
    assert ((sig > 0) & (sig < 1)).all()


def _without_grad(model):
    teacher, student = model.double_flow(make_batch())
    (teacher["pred"].sum() + student["pred"].sum() + student["proj"].sum()).backward()
    return [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]


def test_gradients_reach_every_parameter_in_the_double_flow():
    assert _without_grad(small_model(mia_zero_init=False).train()) == []
    # zero-initialised MIA decoders: only they get a gradient at the first step (the layers before
    # them start to learn once the decoders are non-zero)
    blocked = _without_grad(small_model().train())
    assert blocked and all(n.startswith("mia_") and ".decoder." not in n for n in blocked)


def test_same_seed_same_dropout_and_train_mode_uses_dropout():
    model = small_model().train()
    batch = make_batch()
    torch.manual_seed(3)
    a = model(batch)["pred"]
    torch.manual_seed(3)
    b = model(batch)["pred"]
    c = model(batch)["pred"]
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_clear_errors_for_bad_inputs():
    with pytest.raises(ValueError, match="text_sim"):
        UMCANet({"audio": 4, "text": 8, "vision": 4, "text_sim": 6})
    with pytest.raises(KeyError, match="vision"):
        UMCANet({"audio": 4, "text": 8})
    with pytest.raises(ValueError, match="unknown input_dims keys"):
        UMCANet({"audio": 4, "text": 8, "vision": 4, "depth": 3})
    model = small_model()
    batch = make_batch()
    bad = dict(batch)
    del bad["vision"]
    with pytest.raises(KeyError, match="'vision'"):
        model(bad)
    bad = dict(batch)
    bad["audio"] = torch.randn(4, 9, 5)
    with pytest.raises(ValueError, match=r"batch\['audio'\] has feature dim 5"):
        model(bad)
    bad = dict(batch)
    bad["text_mask"] = batch["text_mask"][:, :2]
    with pytest.raises(ValueError, match="mask of 'text'"):
        model(bad)
    bad = dict(batch)
    del bad["text_sim"]
    with pytest.raises(KeyError, match="text_sim"):
        model.double_flow(bad)
    with pytest.raises(ValueError, match="fusion_weights"):
        UMCAConfig(fusion_weights="tanh")


def test_shared_audio_vision_frames_switch_gives_the_same_flows_in_eval_mode():
    model = small_model()
    with torch.no_grad():
        for p in model.mia_cross.decoder.parameters():
            p.normal_()
    batch = make_batch()
    t_ref, s_ref = model.double_flow(batch)
    model.config.shared_av_frames = True
    t_sh, s_sh = model.double_flow(batch)
    for key in ("pred", "fused", "proj", "text_cross"):
        assert torch.allclose(t_sh[key], t_ref[key], atol=1e-5) and torch.allclose(s_sh[key], s_ref[key], atol=1e-5)
    assert torch.allclose(s_sh["attention"]["audio"], s_ref["attention"]["audio"], atol=1e-6)
    # in train mode the two flows then see the same audio frame-dropout mask: gradients still flow
    model.train()
    t_tr, s_tr = model.double_flow(batch)
    (t_tr["pred"].sum() + s_tr["pred"].sum()).backward()
    assert model.input_proj["audio"].weight.grad.abs().sum() > 0


@pytest.mark.parametrize("p", [0.5, 0.2])
def test_frame_dropout_is_inverted_bernoulli_dropout_on_a_cpu(p):
    """FrameDropout draws its CPU mask from random bits (p = 0.5) or uniforms (other p): the keep rate is
    1 - p, kept values are scaled by 1 / (1 - p), the gradient is the same mask, one seed gives one mask, and
    eval mode, p = 0 and bf16 behave as nn.Dropout."""
    from msa_lib.models.umca import FrameDropout

    drop = FrameDropout(p).train()
    x = torch.ones(64, 301, 33, requires_grad=True)  # numel not a multiple of 8
    torch.manual_seed(0)
    y = drop(x)
    kept = y != 0
    n = kept.numel()
    assert abs(kept.float().mean().item() - (1 - p)) < 4 * (p * (1 - p) / n) ** 0.5
    torch.testing.assert_close(y[kept], torch.full_like(y[kept], 1 / (1 - p)))
    # neighbouring elements are independent: a kept element's neighbour is kept at the same rate
    pairs = kept.flatten()[:-1] & kept.flatten()[1:]
    assert abs(pairs.float().mean().item() - (1 - p) ** 2) < 0.01
    y.sum().backward()
    torch.testing.assert_close(x.grad, kept.float() / (1 - p))
    torch.manual_seed(0)
    torch.testing.assert_close(drop(x.detach()), y.detach())
    assert torch.equal(drop.eval()(x.detach()), x.detach())
    assert torch.equal(FrameDropout(0.0).train()(x.detach()), x.detach())
    z = FrameDropout(p).train()(torch.ones(4, 5, 8, dtype=torch.bfloat16))
    assert z.dtype == torch.bfloat16 and set(z.unique().tolist()) <= {0.0, float(torch.tensor(1 / (1 - p)).bfloat16())}
