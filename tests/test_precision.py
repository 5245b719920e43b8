"""Losses under bfloat16 autocast give their float32 values and gradients; selection passes run in float32.

The trainers use bfloat16 autocast on a GPU. CPU autocast casts matrix products to bfloat16 the same way, so
these tests run the losses inside ``torch.autocast("cpu", torch.bfloat16)`` and compare with float32. Each test
also shows the failure it guards against: the undecorated loss (``fn.__wrapped__``) under autocast is far off.
"""

from __future__ import annotations

import pytest
import torch

from msa_lib.losses import RCDLoss, cpd_loss, rnc_loss, scd_loss

BF16 = dict(device_type="cpu", dtype=torch.bfloat16)


def _near_coincident_pair(n=8, d=32, seed=0):
    """Student/teacher batches where the student of sample 0 nearly coincides with the teacher of sample 1:
    the negative pair SCD pushes hardest, at a distance far below bfloat16's resolution of the norms."""
    g = torch.Generator().manual_seed(seed)
    t = torch.randn(n, d, generator=g)
    s = t + 0.3 * torch.randn(n, d, generator=g)
    s[0] = t[1] + 1e-3 * torch.randn(d, generator=g)
    return s, t


def _loss_and_grad(fn, s, *args, autocast: bool, **kw):
    s = s.clone().requires_grad_(True)
    with torch.autocast(**BF16, enabled=autocast):
        loss = fn(s, *args, **kw)
    loss.backward()
    return loss.detach(), s.grad


@pytest.mark.parametrize("normalize", [True, False])
def test_scd_under_bf16_autocast_equals_float32(normalize):
    s, t = _near_coincident_pair()
    ref, ref_grad = _loss_and_grad(scd_loss, s, t, autocast=False, margin=1.0, normalize=normalize)
    got, got_grad = _loss_and_grad(scd_loss, s, t, autocast=True, margin=1.0, normalize=normalize)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got_grad, ref_grad, rtol=1e-4, atol=1e-6)


def test_scd_without_the_guard_is_wrong_under_bf16_autocast():
    """The failure the guard prevents: the bare expansion in bfloat16 moves the near pair's gradient a lot."""
    s, t = _near_coincident_pair()
    _, ref_grad = _loss_and_grad(scd_loss, s, t, autocast=False, margin=1.0)  # the default: normalised
    _, bad_grad = _loss_and_grad(scd_loss.__wrapped__, s, t, autocast=True, margin=1.0)
    err = (bad_grad[0] - ref_grad[0]).norm() / ref_grad[0].norm()
    assert err > 10, f"bf16 error of the near pair's gradient only {err:.3f}: the test no longer shows the hazard"


def _cpd_case():
    s, t = _near_coincident_pair(n=12, d=16, seed=1)
    return cpd_loss, s, (t, torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 3, 3, 0]))


def _rcd_case():
    g = torch.Generator().manual_seed(2)
    student, teacher = torch.randn(10, 7, generator=g), torch.randn(10, 7, generator=g)
    labels = torch.randint(0, 7, (10,), generator=g)
    torch.manual_seed(0)
    return RCDLoss(num_classes=7, hidden=32), student, (teacher, labels)


def _rnc_case():
    g = torch.Generator().manual_seed(3)
    feats = torch.randn(16, 2, 24, generator=g) * 4.0
    feats[1, 0] = feats[0, 1] + 1e-3  # a near-coincident pair of embeddings
    return rnc_loss, feats, (torch.randn(16, generator=g),)


@pytest.mark.parametrize("case", [_cpd_case, _rcd_case, _rnc_case], ids=["cpd", "rcd", "rnc"])
def test_losses_under_bf16_autocast_equal_float32(case):
    fn, x, rest = case()
    ref, ref_grad = _loss_and_grad(fn, x, *rest, autocast=False)
    got, got_grad = _loss_and_grad(fn, x, *rest, autocast=True)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got_grad, ref_grad, rtol=1e-4, atol=1e-6)


def test_float64_arguments_stay_float64():
    s, t = _near_coincident_pair()
    assert scd_loss(s.double(), t.double()).dtype == torch.float64


def test_fit_selects_on_a_float32_validation_pass(monkeypatch):
    """fit() autocasts the training step only; the validation pass that picks the epoch runs as test does."""
    from msa_lib.training import FitConfig, core

    calls = []
    real_predict = core.predict

    def spy(*args, **kwargs):
        calls.append(kwargs.get("amp"))
        return real_predict(*args, **kwargs)

    monkeypatch.setattr(core, "predict", spy)
    model = torch.nn.Linear(3, 1)
    x, y = torch.randn(32, 3), torch.randn(32)
    batches = [{"x": x[i:i + 8], "label": y[i:i + 8]} for i in range(0, 32, 8)]

    def loss_fn(m, b):
        return (m(b["x"]).squeeze(-1) - b["label"]).abs().mean(), {}

    def predict_fn(m, b):
        return m(b["x"]).squeeze(-1)

    core.fit(model, batches, batches, loss_fn, predict_fn=predict_fn,
             config=FitConfig(epochs=2, amp=True, progress=False, device="cpu"))
    assert calls == [False, False]
