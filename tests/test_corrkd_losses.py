"""CorrKD's distillation losses: hand-worked values, invariances, teacher detachment, the JSD-MI bound."""

import math

import pytest
import torch
import torch.nn.functional as F

from msa_lib.losses import RCDLoss, cpd_loss, scd_loss
from msa_lib.losses.corrkd import (
    StatisticsNetwork,
    class_prototypes,
    disentangle_responses,
    jsd_mutual_information,
    kd_kl_loss,
    plain_kd_loss,
    prototype_similarity,
)


# ----------------------------------------------------------------------------------------------
# SCD
# ----------------------------------------------------------------------------------------------
def test_scd_hand_worked_raw_distances():
    # D = [[0, 3], [1, 2]]: positives (0 + 4) / 2 = 2; negatives: D_01 = 3 > 2 -> 0, D_10 = 1 -> (2-1)^2 = 1;
    # mean over N(N-1) = 2 pairs -> 0.5
    s = torch.tensor([[0.0], [1.0]])
    t = torch.tensor([[0.0], [3.0]])
    assert scd_loss(s, t, margin=2.0, normalize=False).item() == pytest.approx(2.5, abs=1e-5)
    # joint reduction: (4 + 1) / N^2
    assert scd_loss(s, t, margin=2.0, normalize=False, reduction="joint").item() == pytest.approx(1.25, abs=1e-5)


def test_scd_zero_when_student_equals_teacher_and_margin_satisfied():
    h = torch.eye(4, 6) * 3.0  # orthogonal: normalised distances are sqrt(2) > 1
    assert scd_loss(h.clone(), h, margin=1.0).item() == pytest.approx(0.0, abs=1e-6)
    # the margin not satisfied any more -> the negative term is positive: (2 - sqrt 2)^2
    assert scd_loss(h.clone(), h, margin=2.0).item() == pytest.approx((2 - math.sqrt(2)) ** 2, abs=1e-5)


def test_scd_normalize_makes_it_scale_invariant():
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(8, 5, generator=g), torch.randn(8, 5, generator=g)
    a = scd_loss(s, t)
    assert scd_loss(10 * s, 0.1 * t).item() == pytest.approx(a.item(), rel=1e-5)
    assert scd_loss(10 * s, 0.1 * t, normalize=False).item() != pytest.approx(a.item(), rel=1e-2)


def test_scd_permutation_invariant_and_single_sample():
    g = torch.Generator().manual_seed(1)
    s, t = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    perm = torch.randperm(6, generator=g)
    assert scd_loss(s[perm], t[perm]).item() == pytest.approx(scd_loss(s, t).item(), rel=1e-6)
    one = scd_loss(s[:1], t[:1])  # no negative pair: the positive term alone
    expected = (F.normalize(s[:1], dim=-1) - F.normalize(t[:1], dim=-1)).pow(2).sum()
    assert one.item() == pytest.approx(expected.item(), rel=1e-5)


def test_scd_gradient_reaches_student_only():
    g = torch.Generator().manual_seed(2)
    s = torch.randn(5, 3, generator=g, requires_grad=True)
    t = torch.randn(5, 3, generator=g, requires_grad=True)
    scd_loss(s, t, margin=2.0).backward()
    assert t.grad is None
    assert s.grad is not None and torch.isfinite(s.grad).all() and s.grad.abs().sum() > 0


def test_scd_errors():
    with pytest.raises(ValueError, match="differ in shape"):
        scd_loss(torch.zeros(3, 4), torch.zeros(3, 5))
    with pytest.raises(ValueError, match="margin"):
        scd_loss(torch.zeros(3, 4), torch.zeros(3, 4), margin=0.0)
    with pytest.raises(ValueError, match=r"\[N, D\]"):
        scd_loss(torch.zeros(3), torch.zeros(3))


# ----------------------------------------------------------------------------------------------
# CPD
# ----------------------------------------------------------------------------------------------
def test_class_prototypes_and_similarity():
    h = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0]])
    protos, classes = class_prototypes(h, torch.tensor([4, 4, 1]))
    assert classes.tolist() == [1, 4]
    assert torch.allclose(protos, torch.tensor([[0.0, 2.0], [2.0, 0.0]]))
    assert torch.allclose(prototype_similarity(h, protos), torch.tensor([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0]]))


def test_cpd_hand_worked():
    t = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    s = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    y = torch.tensor([0, 0, 1])
    # M^t = [[1,0],[1,0],[0,1]]; student prototypes c0 = (.5,.5), c1 = (0,1):
    # M^s = [[r,0],[r,1],[r,1]] with r = 1/sqrt 2
    r = 1 / math.sqrt(2)
    expected = (2 * (1 - r) ** 2 + 1 + r**2) / 6
    loss, m_s, m_t, classes = cpd_loss(s, t, y, return_matrices=True)
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    assert torch.allclose(m_t, t)
    assert torch.allclose(m_s, torch.tensor([[r, 0.0], [r, 1.0], [r, 1.0]]), atol=1e-6)
    assert classes.tolist() == [0, 1]


def test_cpd_ignores_absent_classes_and_is_invariant():
    g = torch.Generator().manual_seed(3)
    s, t = torch.randn(10, 6, generator=g), torch.randn(10, 6, generator=g)
    y = torch.tensor([0, 0, 1, 1, 1, 3, 3, 0, 1, 3])
    base = cpd_loss(s, t, y).item()
    # renaming the classes (here onto ids with gaps: the absent 0..6 in between get no prototype)
    assert cpd_loss(s, t, torch.tensor([6, 6, 2, 2, 2, 4, 4, 6, 2, 4])).item() == pytest.approx(base, rel=1e-6)
    # sample permutation
    perm = torch.randperm(10, generator=g)
    assert cpd_loss(s[perm], t[perm], y[perm]).item() == pytest.approx(base, rel=1e-6)
    # one class only: no between-class structure -> 0 (and still differentiable)
    s1 = s.clone().requires_grad_(True)
    single = cpd_loss(s1, t, torch.zeros(10, dtype=torch.long))
    assert single.item() == 0.0
    single.backward()
    assert torch.all(s1.grad == 0)
    # the student identical to the teacher -> 0
    assert cpd_loss(t.clone(), t, y).item() == pytest.approx(0.0, abs=1e-7)


def test_cpd_gradient_reaches_student_only_and_teacher_prototypes_switch():
    g = torch.Generator().manual_seed(4)
    s = torch.randn(8, 4, generator=g, requires_grad=True)
    t = torch.randn(8, 4, generator=g, requires_grad=True)
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    cpd_loss(s, t, y).backward()
    assert t.grad is None and s.grad.abs().sum() > 0
    own = cpd_loss(s, t, y).item()
    teacher_protos = cpd_loss(s, t, y, prototypes="teacher").item()
    assert own != pytest.approx(teacher_protos, rel=1e-3)
    with pytest.raises(ValueError, match="prototypes"):
        cpd_loss(s, t, y, prototypes="ema")
    with pytest.raises(TypeError, match="integer class ids"):
        cpd_loss(s, t, y.float())


# ----------------------------------------------------------------------------------------------
# RCD
# ----------------------------------------------------------------------------------------------
def test_disentangle_responses_values():
    logits = torch.tensor([[2.0, 0.0, -1.0, 0.5], [0.0, 1.0, 1.0, 3.0]])
    y = torch.tensor([0, 3])
    b, nt = disentangle_responses(logits, y)
    p = torch.softmax(logits, -1)
    assert torch.allclose(b[:, 0], p[torch.arange(2), y])
    assert torch.allclose(b.sum(1), torch.ones(2))
    # non-target = p_j / (1 - p_y) over the other classes, in class order
    assert torch.allclose(nt[0], p[0, 1:] / (1 - p[0, 0]), atol=1e-6)
    assert torch.allclose(nt[1], p[1, :3] / (1 - p[1, 3]), atol=1e-6)
    # temperature flattens both parts
    b2, nt2 = disentangle_responses(logits, y, temperature=4.0)
    assert b2[0, 0] < b[0, 0] and nt2[0].max() < nt[0].max()
    with pytest.raises(ValueError, match="labels must lie"):
        disentangle_responses(logits, torch.tensor([0, 4]))


def test_jsd_mutual_information_formula_and_bounds():
    joint = torch.tensor([0.3, -1.2, 2.0])
    marginal = torch.tensor([[0.1, -0.4], [1.5, -2.0]])
    expected = (-torch.log1p(torch.exp(-joint))).mean() - torch.log1p(torch.exp(marginal)).mean()
    assert jsd_mutual_information(joint, marginal).item() == pytest.approx(expected.item(), rel=1e-6)
    zero = torch.zeros(5)
    assert jsd_mutual_information(zero, zero).item() == pytest.approx(-2 * math.log(2), rel=1e-6)
    big = torch.full((5,), 30.0)
    assert jsd_mutual_information(big, -big).item() == pytest.approx(0.0, abs=1e-6)  # the supremum, 0 after the shift


def test_rcd_matches_formula_with_its_critics():
    torch.manual_seed(0)
    rcd = RCDLoss(num_classes=4, hidden=8)
    g = torch.Generator().manual_seed(5)
    s, t = torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g)
    y = torch.tensor([0, 1, 2, 3, 1])
    loss = rcd(s, t, y)
    b_s, n_s = disentangle_responses(s, y)
    b_t, n_t = disentangle_responses(t, y)

    def mi(critic, x, z):
        joint = torch.stack([critic(x[i], z[i]) for i in range(5)])
        marg = torch.stack([critic(x[i], z[j]) for i in range(5) for j in range(5) if i != j])
        return (-F.softplus(-joint)).mean() - F.softplus(marg).mean()

    expected = -(mi(rcd.target_critic, b_t, b_s) + mi(rcd.non_target_critic, n_t, n_s))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert set(rcd.last_logs) == {"mi_target", "mi_non_target"}


def test_rcd_gradients_student_and_critics_not_teacher():
    torch.manual_seed(0)
    rcd = RCDLoss(num_classes=7, negatives="shift", generator=torch.Generator().manual_seed(0))
    s = torch.randn(6, 7, requires_grad=True)
    t = torch.randn(6, 7, requires_grad=True)
    rcd(s, t, torch.tensor([0, 1, 2, 3, 4, 5])).backward()
    assert t.grad is None
    assert s.grad is not None and s.grad.abs().sum() > 0
    assert all(p.grad is not None for p in rcd.parameters())


def test_rcd_kl_mode_is_vanilla_kd_and_single_sample_is_zero():
    rcd = RCDLoss(num_classes=3, mode="kl", temperature=2.0)
    g = torch.Generator().manual_seed(6)
    s, t = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    y = torch.tensor([0, 1, 2, 0])
    p_t = torch.softmax(t / 2, -1)
    expected = (p_t * (torch.log(p_t) - torch.log_softmax(s / 2, -1))).sum(1).mean() * 4
    assert rcd(s, t, y).item() == pytest.approx(expected.item(), rel=1e-5)
    assert kd_kl_loss(t.clone(), t).item() == pytest.approx(0.0, abs=1e-6)
    assert RCDLoss(num_classes=3)(s[:1], t[:1], y[:1]).item() == 0.0
    with pytest.raises(ValueError, match="built for 3"):
        RCDLoss(num_classes=3)(torch.zeros(4, 7), torch.zeros(4, 7), y)


def test_rcd_estimator_detects_dependence():
    """Training the critics raises the bound for dependent responses well above independent ones."""

    def trained_mi(student_logits, teacher_logits, y):
        torch.manual_seed(0)
        rcd = RCDLoss(num_classes=7, hidden=32)
        opt = torch.optim.Adam(rcd.parameters(), lr=1e-2)
        for _ in range(150):
            opt.zero_grad()
            rcd(student_logits, teacher_logits, y).backward()
            opt.step()
        rcd(student_logits, teacher_logits, y)
        return rcd.last_logs["mi_target"] + rcd.last_logs["mi_non_target"]

    g = torch.Generator().manual_seed(7)
    t = 2 * torch.randn(32, 7, generator=g)
    y = torch.randint(0, 7, (32,), generator=g)
    dependent = trained_mi(t.clone(), t, y)
    independent = trained_mi(2 * torch.randn(32, 7, generator=g), t, y)
    assert dependent > independent + 0.5


def test_statistics_network_shapes_and_pairwise_parity():
    torch.manual_seed(0)
    critic = StatisticsNetwork(3, 2, hidden=4)
    assert critic(torch.zeros(5, 3), torch.zeros(5, 2)).shape == (5,)
    assert critic(torch.zeros(2, 5, 3), torch.zeros(2, 5, 2)).shape == (2, 5)
    x, y = torch.randn(4, 3), torch.randn(6, 2)
    brute = torch.stack([torch.stack([critic(x[i], y[j]) for j in range(6)]) for i in range(4)])
    assert torch.allclose(critic.pairwise(x, y), brute, atol=1e-6)


def test_plain_kd_loss_zero_when_equal_and_detached():
    g = torch.Generator().manual_seed(8)
    out = {"logits": torch.randn(4, 7, generator=g), "joint": torch.randn(4, 12, generator=g),
           "pred": torch.randn(4, generator=g)}
    loss, logs = plain_kd_loss({k: v.clone() for k, v in out.items()}, out)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    assert set(logs) == {"kd_kl", "kd_feature", "kd_pred"}
    teacher = {k: v.clone().requires_grad_(True) for k, v in out.items()}
    student = {k: (v + 1).requires_grad_(True) for k, v in out.items()}
    loss, _ = plain_kd_loss(student, teacher)
    loss.backward()
    assert all(v.grad is None for v in teacher.values())
    assert student["joint"].grad.abs().sum() > 0 and student["pred"].grad.abs().sum() > 0
