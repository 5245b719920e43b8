"""Every network in msa_lib.models (the baselines of msa_lib.models.baselines included): no value in the padding changes any output, and its training loss under
bfloat16 autocast (the trainers' default on a GPU) stays close to float32 with finite gradients.

Real loaders do not always zero their padding (MulT pickles pad at the front and the loader moves it; other
tools pad with the last frame or with noise), so the test fills every padded frame with large values.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from msa_lib.data import load_dataset, make_loader
from msa_lib.models import CorrKDConfig, CorrKDNet, UMCAConfig, UMCANet
from msa_lib.models.baselines import BASELINES, LFDNNConfig, MulTConfig, TFNConfig, build_baseline

#: the baselines at small widths (MMSA's TFN has 9.5 M parameters at MOSI's settings: too slow for a unit test)
SMALL_BASELINES = {"lf_dnn": LFDNNConfig(hidden_dims=(8, 4, 8), text_out=8, post_fusion_dim=8),
                   "tfn": TFNConfig(hidden_dims=(8, 4, 6), text_out=8, post_fusion_dim=8),
                   "mult": MulTConfig(d_model=8, n_heads=2, n_layers=1)}
from msa_lib.training.corrkd import CorrKDStudentLoss, CorrKDTrainConfig
from msa_lib.training.sdumc import double_flow_loss_fn

SEQUENCE_KEYS = ("text", "audio", "vision", "text_sim")


@pytest.fixture(scope="module")
def data():
    return load_dataset(None, quick=True, seed=0)


@pytest.fixture(scope="module")
def batch(data):
    out = next(iter(make_loader(data["test"], 16)))
    assert all((~out[f"{m}_mask"]).any() for m in ("audio", "vision"))  # the batch has padding to fill
    return out


def _garbage(batch, value=1e3):
    out = dict(batch)
    for m in SEQUENCE_KEYS:
        if m in batch:
            out[m] = batch[m].masked_fill(~batch[f"{m}_mask"][..., None], value)
    return out


def _networks(data):
    dims = {m: d for m, d in data.input_dims.items() if m != "text_sim"}
    torch.manual_seed(0)
    yield "UMCANet", UMCANet(dims, UMCAConfig.small().replace(use_mia=True))
    for name in sorted(BASELINES):
        yield name, build_baseline(name, dims, SMALL_BASELINES[name])
    for missing in ("encode", "zero"):
        for pooling in ("mean", "last"):
            yield (f"CorrKDNet[{missing}, {pooling}]",
                   CorrKDNet(dims, CorrKDConfig(d_model=16, n_heads=4, n_layers=1, missing_modality=missing,
                                                pooling=pooling)))


@pytest.mark.parametrize("value", [1e3, -7.5])
def test_no_value_in_the_padding_changes_any_output(data, batch, value):
    dirty = _garbage(batch, value)
    for name, net in _networks(data):
        net.eval()
        with torch.no_grad():
            clean_out, dirty_out = net(batch), net(dirty)
            torch.testing.assert_close(dirty_out["pred"], clean_out["pred"], msg=lambda m: f"{name}: {m}")
            if isinstance(net, UMCANet):
                for clean_flow, dirty_flow in zip(net.double_flow(batch), net.double_flow(dirty)):
                    torch.testing.assert_close(dirty_flow["pred"], clean_flow["pred"], msg=lambda m: f"{name}: {m}")
            else:  # the fused representation too (CorrKD's h, the baselines' fused vector)
                key = "joint" if "joint" in clean_out else "fused"
                torch.testing.assert_close(dirty_out[key], clean_out[key], msg=lambda m: f"{name}: {m}")


def _loss_and_grads(net, loss_fn, batch, autocast):
    net.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        loss, _ = loss_fn(net, batch)
    loss.backward()
    return loss.detach().float(), [p.grad for p in net.parameters() if p.grad is not None]


def test_training_losses_under_bf16_autocast_stay_close_to_float32(data, batch):
    dims = {m: d for m, d in data.input_dims.items() if m != "text_sim"}
    torch.manual_seed(0)
    umca = UMCANet(dims, UMCAConfig.small().replace(use_mia=True)).train()
    config = CorrKDTrainConfig.quick()
    teacher = CorrKDNet(dims, config.model).eval()
    student = CorrKDNet(dims, config.model).train()

    def corrkd_loss():  # the same seeded corruption for both precisions
        return CorrKDStudentLoss("corrkd", teacher, config, seed=0)

    def l1_loss():  # the baselines' task loss (MMSA's L1 for regression)
        return lambda net, b: ((net(b)["pred"].float() - b["label"].float()).abs().mean(), {})

    cases = [("UMCANet + SDUMC loss", umca, lambda: double_flow_loss_fn()),
             ("CorrKDNet + CorrKD student loss", student, corrkd_loss),
             *[(f"{name} + L1", build_baseline(name, dims, SMALL_BASELINES[name]).train(), l1_loss)
               for name in sorted(BASELINES)]]
    for name, net, make_loss in cases:
        torch.manual_seed(1)
        ref, ref_grads = _loss_and_grads(net, make_loss(), batch, autocast=False)
        torch.manual_seed(1)
        got, got_grads = _loss_and_grads(net, make_loss(), batch, autocast=True)
        assert torch.isfinite(got) and all(torch.isfinite(g).all() for g in got_grads), name
        # bfloat16 forward passes: ~2-3 significant digits, nothing more, nothing worse
        torch.testing.assert_close(got, ref, rtol=5e-2, atol=1e-3, msg=lambda m: f"{name}: {m}")
        ref_norm = torch.cat([g.flatten() for g in ref_grads]).norm()
        got_norm = torch.cat([g.flatten() for g in got_grads]).norm()
        assert abs(got_norm / ref_norm - 1) < 0.1, f"{name}: gradient norm {got_norm:.4g} vs {ref_norm:.4g} in float32"
