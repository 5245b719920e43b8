"""Rank-N-Contrast parity with the official loop, stability, and the SDUMC self-distillation loss."""

import pytest
import torch

from msa_lib.losses import SelfDistillationLoss, SelfDistillationWeights, rnc_loss, stable_rmse
from msa_lib.losses import rnc_loss_loop as official_rnc  # the official loop form, as written


def mosei_like(b=24, v=2, d=16, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(-9, 10, (b,), generator=g).float() / 3  # the 1/3 grid: many exact ties
    feats = (scale * torch.randn(b, v, d, generator=g)).requires_grad_()
    return feats, labels


@pytest.mark.parametrize("method", ["sorted", "dense"])
@pytest.mark.parametrize("tie_tolerance", [0.0, 1e-4])
@pytest.mark.parametrize("views", [1, 2, 3])
def test_value_and_gradient_match_the_official_loop(method, tie_tolerance, views):
    feats, labels = mosei_like(v=views, seed=views)
    ref = official_rnc(feats, labels, 2.0, tie_tolerance)
    (ref_grad,) = torch.autograd.grad(ref, feats)
    ours = rnc_loss(feats, labels, 2.0, tie_tolerance=tie_tolerance, method=method)
    (our_grad,) = torch.autograd.grad(ours, feats)
    assert torch.allclose(ours, ref, rtol=1e-5, atol=1e-6)
    assert torch.allclose(our_grad, ref_grad, rtol=1e-4, atol=1e-7)


def test_labels_with_a_trailing_dim_and_other_temperatures():
    feats, labels = mosei_like(seed=5)
    ref = official_rnc(feats, labels[:, None], temperature=0.7)
    assert torch.allclose(rnc_loss(feats, labels[:, None], temperature=0.7), ref, rtol=1e-5)
    two_dim = torch.stack([labels, labels.flip(0)], 1)  # L1 distance summed over label dims
    assert torch.allclose(rnc_loss(feats, two_dim), official_rnc(feats, two_dim), rtol=1e-5)


def test_tie_tolerance_changes_the_loss_only_through_near_ties():
    feats, _ = mosei_like(b=6, seed=2)
    exact = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    near = exact + torch.tensor([0.0, 5e-5, 0.0, -5e-5, 0.0, 0.0])  # float near-ties
    # with exact labels the tolerance is irrelevant, with near-ties it is not
    assert torch.allclose(rnc_loss(feats, exact), rnc_loss(feats, exact, tie_tolerance=1e-4))
    for tol in (0.0, 1e-4):
        assert torch.allclose(rnc_loss(feats, near, tie_tolerance=tol), official_rnc(feats, near, 2.0, tol), rtol=1e-5)


def test_stable_where_the_loop_form_overflows():
    feats, labels = mosei_like(b=16, seed=3, scale=100.0)  # distances / tau of several hundred
    ours = rnc_loss(feats, labels, tie_tolerance=1e-4)
    (grad,) = torch.autograd.grad(ours, feats)
    assert torch.isfinite(ours) and torch.isfinite(grad).all()
    assert not torch.isfinite(official_rnc(feats, labels, 2.0, 1e-4))  # exp underflow -> log(0)
    ref64 = official_rnc(feats.detach().double().requires_grad_(), labels.double(), 2.0, 1e-4)
    assert torch.allclose(ours.double(), ref64, rtol=1e-4)
    assert torch.allclose(rnc_loss(feats, labels, tie_tolerance=1e-4, method="dense"), ours, rtol=1e-5)


def test_identical_embeddings_have_finite_gradients():
    feats = torch.zeros(4, 2, 8, requires_grad=True)
    loss = rnc_loss(feats, torch.tensor([0.0, 1.0, 1.0, 2.0]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(feats.grad).all()
    # all embeddings equal: every logit is 0, so each term is log |S_ij|
    assert loss.item() > 0


def test_invariances_permutation_and_translation():
    feats, labels = mosei_like(seed=4)
    ref = rnc_loss(feats, labels)
    perm = torch.randperm(labels.shape[0], generator=torch.Generator().manual_seed(0))
    assert torch.allclose(rnc_loss(feats[perm], labels[perm]), ref, rtol=1e-5)
    assert torch.allclose(rnc_loss(feats + 3.0, labels), ref, rtol=1e-4)
    # shifting the labels keeps their distances only up to float rounding, which can break exact
    # ties: SDUMC's tie tolerance makes the loss shift-invariant
    tol = dict(tie_tolerance=1e-4)
    assert torch.allclose(rnc_loss(feats, labels + 1.5, **tol), rnc_loss(feats, labels, **tol), rtol=1e-5)


def test_rank_structure_lowers_the_loss():
    labels = torch.linspace(-3, 3, 12)
    ordered = torch.stack([labels, labels], 1)[..., None] * torch.tensor([5.0, 0.0])  # embedding ~ label
    shuffled = ordered[torch.randperm(12, generator=torch.Generator().manual_seed(1))]
    assert rnc_loss(ordered, labels) < rnc_loss(shuffled, labels)


def test_rnc_errors():
    with pytest.raises(ValueError, match=r"\[B, V, D\]"):
        rnc_loss(torch.randn(4, 8), torch.zeros(4))
    with pytest.raises(ValueError, match="labels must be"):
        rnc_loss(torch.randn(4, 2, 8), torch.zeros(5))
    with pytest.raises(ValueError, match="at least 2"):
        rnc_loss(torch.randn(1, 1, 8), torch.zeros(1))
    with pytest.raises(ValueError, match="method"):
        rnc_loss(torch.randn(4, 2, 8), torch.zeros(4), method="loop")


# ------------------------------------------------------------------ RMSE and the SDUMC loss
def test_stable_rmse_value_and_gradient_at_zero():
    a = torch.randn(5, 7, 3, requires_grad=True)
    b = torch.randn(5, 7, 3)
    # sqrt(mse + eps) - sqrt(eps): within sqrt(eps) = 1e-4 of the plain RMSE
    assert torch.allclose(stable_rmse(a, b), torch.sqrt(((a - b) ** 2).mean()), atol=1e-4)
    same = stable_rmse(a, a.detach())
    (grad,) = torch.autograd.grad(same, a)
    assert same.item() == 0.0 and torch.isfinite(grad).all() and torch.all(grad == 0)
    # the naive form has a NaN gradient there
    x = a.detach().clone().requires_grad_()
    torch.sqrt(((x - a.detach()) ** 2).mean()).backward()
    assert torch.isnan(x.grad).all()
    with pytest.raises(ValueError, match="shapes differ"):
        stable_rmse(torch.zeros(3), torch.zeros(4))


def _flows(b=6, seed=0):
    g = torch.Generator().manual_seed(seed)

    def flow():
        return {k: torch.randn(*s, generator=g).requires_grad_() for k, s in
                {"pred": (b,), "text_query": (b, 16), "text_cross": (b, 7, 8), "fused": (b, 8), "proj": (b, 4)}.items()}

    return flow(), flow(), torch.randint(-9, 10, (b,), generator=g).float() / 3


def test_self_distillation_total_is_the_weighted_sum_of_the_logged_terms():
    teacher, student, y = _flows()
    w = SelfDistillationWeights()
    total, logs = SelfDistillationLoss(w)(teacher, student, y)
    assert set(logs) == {"teacher_mse", "student_mse", "text_query", "text_cross", "fused", "rnc"}
    expected = sum(getattr(w, k) * v for k, v in logs.items())
    assert total.item() == pytest.approx(expected, rel=1e-5)
    assert logs["teacher_mse"] == pytest.approx(float(((teacher["pred"] - y) ** 2).mean().detach()), rel=1e-5)
    assert logs["text_cross"] == pytest.approx(
        float(torch.sqrt(((student["text_cross"] - teacher["text_cross"]) ** 2).mean()).detach()), rel=1e-4)
    views = torch.stack([teacher["proj"], student["proj"]], 1)
    assert logs["rnc"] == pytest.approx(float(official_rnc(views, y, 2.0, 1e-4).detach()), rel=1e-5)


def test_distillation_targets_are_detached_but_the_fused_term_is_not_by_default():
    teacher, student, y = _flows()
    only = lambda **kw: SelfDistillationWeights(**{**dict(teacher_mse=0, student_mse=0, text_query=0, text_cross=0, fused=0, rnc=0), **kw})  # noqa: E731
    total, _ = SelfDistillationLoss(only(text_query=1.0, text_cross=1.0))(teacher, student, y)
    total.backward()
    assert teacher["text_query"].grad is None and teacher["text_cross"].grad is None
    assert student["text_query"].grad.abs().sum() > 0
    total, _ = SelfDistillationLoss(only(fused=1.0))(teacher, student, y)
    total.backward()
    assert teacher["fused"].grad.abs().sum() > 0  # official: pulls the teacher too
    teacher2, student2, y2 = _flows(seed=1)
    total, _ = SelfDistillationLoss(only(fused=1.0, detach_teacher_fused=True))(teacher2, student2, y2)
    total.backward()
    assert teacher2["fused"].grad is None


def test_zero_weights_skip_terms_and_presets():
    teacher, student, y = _flows()
    _, logs = SelfDistillationLoss(SelfDistillationWeights(rnc=0.0))(teacher, student, y)
    assert "rnc" not in logs
    assert SelfDistillationWeights.active_shell_line().text_query == 0.0
    assert SelfDistillationWeights.argparse_defaults().rnc == 0.8
    with pytest.raises(ValueError, match="nothing to optimise"):
        SelfDistillationLoss(SelfDistillationWeights(0, 0, 0, 0, 0, 0))(teacher, student, y)
    with pytest.raises(ValueError, match="rnc"):
        SelfDistillationWeights(rnc=-1)
    bad = dict(student)
    del bad["proj"]
    with pytest.raises(KeyError, match="student output has no 'proj'"):
        SelfDistillationLoss()(teacher, bad, y)
