"""CorrKD training: Modality Random Missing, the student loss, conditions, checkpoints, end to end."""

import numpy as np
import pytest
import torch

from msa_lib.data import apply_condition, make_loader, synthetic_mosei
from msa_lib.models.corrkd import CorrKDConfig, CorrKDNet
from msa_lib.training import predict
from msa_lib.training.corrkd import (
    METHODS,
    MODALITIES,
    MODALITY_SUBSETS,
    CorrKDLossConfig,
    CorrKDStudentLoss,
    CorrKDTrainConfig,
    MRMConfig,
    condition_generator,
    evaluate_conditions,
    modality_random_missing,
    run_corrkd,
    train_student,
    train_teacher,
)

MODS = ("text", "audio", "vision")


def hand_batch(b=8, t=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    batch = {}
    for m, d in zip(MODS, (6, 4, 3)):
        batch[m] = torch.randn(b, t, d, generator=g) + 3.0  # never exactly zero
        batch[f"{m}_mask"] = torch.ones(b, t, dtype=torch.bool)
    batch["label"] = torch.linspace(-3, 3, b)
    return batch


@pytest.fixture(scope="module")
def tiny():
    return synthetic_mosei(n_train=48, n_valid=24, n_test=24, seed=0, text_dim=16, audio_dim=8, vision_dim=6)


def tiny_config(**kw):
    base = dict(
        model=CorrKDConfig(d_model=8, n_heads=2, n_layers=1),
        losses=CorrKDLossConfig(rcd_hidden=8),
        epochs=1, teacher_epochs=1, batch_size=16, eval_batch_size=32, progress=False,
        select_conditions=("complete", "only_text"),
    )
    base.update(kw)
    return CorrKDTrainConfig(**base)


# ----------------------------------------------------------------------------------------------
# MRM
# ----------------------------------------------------------------------------------------------
def test_mrm_masks_match_the_drawn_subsets_and_input_untouched():
    batch = hand_batch(b=64)
    before = {k: v.clone() for k, v in batch.items()}
    out = modality_random_missing(batch, torch.Generator().manual_seed(0), MRMConfig(frame_rates=(0.0,)))
    assert all(torch.equal(before[k], batch[k]) for k in before)  # new dict, input unchanged
    for i in range(64):
        kept = MODALITY_SUBSETS[int(out["kept_subset"][i])]
        for m in MODS:
            if m in kept:
                assert out[f"{m}_mask"][i].all() and torch.equal(out[m][i], batch[m][i])
            else:
                assert not out[f"{m}_mask"][i].any() and torch.all(out[m][i] == 0)
                assert out[f"{m}_missing"][i]


def test_mrm_is_seeded_and_roughly_uniform():
    batch = hand_batch(b=7000, t=2)
    a = modality_random_missing(batch, torch.Generator().manual_seed(1))
    b = modality_random_missing(batch, torch.Generator().manual_seed(1))
    c = modality_random_missing(batch, torch.Generator().manual_seed(2))
    assert torch.equal(a["kept_subset"], b["kept_subset"]) and torch.equal(a["audio"], b["audio"])
    assert not torch.equal(a["kept_subset"], c["kept_subset"])
    counts = torch.bincount(a["kept_subset"], minlength=7).float() / 7000
    assert torch.all((counts - 1 / 7).abs() < 0.02)
    rates = sorted({round(float(r), 4) for r in a["frame_missing_rate"]})
    assert rates == [k / 10 for k in range(10)]


def test_mrm_frame_rate_and_identity():
    batch = hand_batch(b=200, t=50)
    only_complete = (0.0,) * 6 + (1.0,)
    out = modality_random_missing(batch, torch.Generator().manual_seed(0), MRMConfig(only_complete, (0.0,)))
    assert all(torch.equal(out[m], batch[m]) for m in MODS)
    out = modality_random_missing(batch, torch.Generator().manual_seed(0), MRMConfig(only_complete, (0.5,)))
    dropped = (out["text"] == 0).all(-1).float().mean().item()
    assert dropped == pytest.approx(0.5, abs=0.02)
    assert torch.equal(out["text_mask"], batch["text_mask"])  # MMSA semantics: mask unchanged
    with pytest.raises(ValueError, match="7 weights"):
        MRMConfig(subset_weights=(1.0, 1.0))
    with pytest.raises(ValueError, match="frame_rates"):
        MRMConfig(frame_rates=(1.5,))


# ----------------------------------------------------------------------------------------------
# the student loss
# ----------------------------------------------------------------------------------------------
class RecordingNet(CorrKDNet):
    def forward(self, batch):
        self.seen = batch
        return super().forward(batch)


def test_student_loss_teacher_sees_complete_student_sees_corrupted():
    torch.manual_seed(0)
    dims = {"text": 6, "audio": 4, "vision": 3}
    cfg = tiny_config()
    teacher, student = RecordingNet(dims, cfg.model), RecordingNet(dims, cfg.model)
    loss_fn = CorrKDStudentLoss("corrkd", teacher, cfg, seed=0)
    batch = hand_batch(b=16)
    loss, logs = loss_fn(student, batch)
    assert all(teacher.seen[f"{m}_mask"].all() for m in MODS)
    assert not all(student.seen[f"{m}_mask"].all() for m in MODS)
    assert {"task_reg", "task_ce", "scd", "cpd", "rcd", "mi_target", "mi_non_target"} <= set(logs)
    loss.backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert all(p.grad is not None for p in loss_fn.parameters())  # the RCD critics learn too
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in student.parameters())


@pytest.mark.parametrize("method", METHODS)
def test_each_method_uses_its_terms(method):
    torch.manual_seed(0)
    dims = {"text": 6, "audio": 4, "vision": 3}
    cfg = tiny_config()
    teacher = CorrKDNet(dims, cfg.model)
    loss_fn = CorrKDStudentLoss(method, teacher, cfg, seed=0)
    _, logs = loss_fn(CorrKDNet(dims, cfg.model), hand_batch())
    expected = {
        "corrkd": {"scd", "cpd", "rcd"}, "student_no_kd": set(), "student_plain_kd": {"kd_kl", "kd_feature"},
        "corrkd_no_scd": {"cpd", "rcd"}, "corrkd_no_cpd": {"scd", "rcd"}, "corrkd_no_rcd": {"scd", "cpd"},
        "corrkd_rcd_kl": {"scd", "cpd", "rcd", "kd_kl"},
        "corrkd_zero_missing": {"scd", "cpd", "rcd"},  # CorrKD's terms; only the student's network differs
    }[method]
    present = set(logs) & {"scd", "cpd", "rcd", "kd_kl", "kd_feature"}
    assert present == expected


def test_student_loss_errors():
    with pytest.raises(ValueError, match="unknown CorrKD method"):
        CorrKDStudentLoss("corrkd_v2", None, tiny_config())
    with pytest.raises(ValueError, match="teacher="):
        CorrKDStudentLoss("corrkd", None, tiny_config())
    CorrKDStudentLoss("student_no_kd", None, tiny_config())  # no teacher needed


# ----------------------------------------------------------------------------------------------
# evaluation, training, checkpoints
# ----------------------------------------------------------------------------------------------
def test_evaluate_conditions_fixed_masks_and_parity(tiny):
    torch.manual_seed(0)
    net = CorrKDNet(tiny.input_dims, d_model=8, n_heads=2, n_layers=1).eval()
    conds = ("complete", "only_audio", "frame_missing_0.4")
    a = evaluate_conditions(net, tiny, conds, seed=3)
    b = evaluate_conditions(net, tiny, conds, seed=3)
    assert a == b and set(a) == set(conds)
    loader = make_loader(tiny["test"], 32)
    pred, _ = predict(net, loader, transform=lambda x: apply_condition(x, "only_audio"))
    assert a["only_audio"]["MAE"] == pytest.approx(float(np.abs(pred - tiny["test"].labels).mean()), abs=1e-4)
    g = condition_generator("frame_missing_0.4", 3)
    pred, _ = predict(net, loader, transform=lambda x: apply_condition(x, "frame_missing_0.4", generator=g))
    assert a["frame_missing_0.4"]["MAE"] == pytest.approx(float(np.abs(pred - tiny["test"].labels).mean()), abs=1e-4)
    assert evaluate_conditions(net, tiny, ("frame_missing_0.4",), seed=4) != {"frame_missing_0.4": a["frame_missing_0.4"]}
    hidden = evaluate_conditions(net, tiny, ("frame_missing_0.4",), seed=3, condition_kwargs={"hide_dropped": True})
    assert hidden["frame_missing_0.4"] != a["frame_missing_0.4"]  # the kwargs reach random_frame_missing
    with pytest.raises(ValueError, match="unknown condition"):
        evaluate_conditions(net, tiny, ("no_text",))


def test_train_teacher_student_checkpoints_and_seeds(tiny, tmp_path):
    cfg = tiny_config()
    teacher, hist = train_teacher(tiny, 0, config=cfg, checkpoint_dir=tmp_path)
    assert len(hist["history"]) == 1 and all(not p.requires_grad for p in teacher.parameters())
    again, _ = train_teacher(tiny, 0, config=cfg, checkpoint_dir=False)  # same seed, retrained
    assert all(torch.equal(p, q) for p, q in zip(teacher.parameters(), again.parameters()))
    loaded, hist2 = train_teacher(tiny, 0, config=cfg, checkpoint_dir=tmp_path)  # from the checkpoint
    assert all(torch.equal(p, q) for p, q in zip(teacher.parameters(), loaded.parameters()))
    assert hist2["best_epoch"] == hist["best_epoch"]
    student, shist = train_student("corrkd", tiny, teacher, 0, config=cfg, checkpoint_dir=tmp_path)
    assert "scd" in shist["history"][0] and np.isfinite(shist["best_score"])
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 2 and files[0].startswith("corrkd_corrkd_") and files[1].startswith("corrkd_teacher_")
    # the path other tools use to find a trained teacher is the one train_teacher wrote
    from msa_lib.training.corrkd import teacher_checkpoint_path

    assert teacher_checkpoint_path(tiny, 0, cfg, tmp_path).name == files[1]
    assert teacher_checkpoint_path(tiny, 1, cfg, tmp_path).name != files[1]
    assert teacher_checkpoint_path(tiny, 0, tiny_config(lr=1e-2), tmp_path).name != files[1]
    assert teacher_checkpoint_path(tiny, 0, cfg, False) is None


def test_run_corrkd_rows(tiny):
    cfg = tiny_config()
    run = run_corrkd(tiny, methods=("student_no_kd", "corrkd"), seeds=(0,), config=cfg,
                     conditions=("complete", "only_text"), checkpoint_dir=False)
    keys = {(r["method"], r["condition"], r["seed"]) for r in run.rows}
    assert keys == {(m, c, 0) for m in ("teacher", "student_no_kd", "corrkd") for c in ("complete", "only_text")}
    assert all("Non0_F1_score" in r["metrics"] for r in run.rows)
    assert set(run.students) == {("student_no_kd", 0), ("corrkd", 0)} and 0 in run.teachers


def test_corrkd_table_average_excludes_complete_and_aggregates_seeds():
    from msa_lib.data import CORRKD_CONDITIONS
    from msa_lib.viz.corrkd import corrkd_table

    rows = []
    for seed, offset in ((0, 0.0), (1, 0.1)):
        for k, c in enumerate(CORRKD_CONDITIONS):
            rows.append({"method": "corrkd", "condition": c, "seed": seed, "metrics": {"Non0_F1_score": 0.5 + offset + 0.01 * k}})
        rows.append({"method": "corrkd", "condition": "complete", "seed": seed, "metrics": {"Non0_F1_score": 0.99}})
    table = corrkd_table(rows, methods=["corrkd"], with_std=False)
    assert list(table.columns) == [*CORRKD_CONDITIONS, "Avg.", "complete"]
    # per-seed averages 52.5 and 62.5 (complete excluded) -> 57.5
    assert table.loc["CorrKD", "Avg."] == pytest.approx(57.5)
    assert table.loc["CorrKD", "complete"] == pytest.approx(99.0)
    text = corrkd_table(rows, methods=["corrkd"])
    assert text.loc["CorrKD", "Avg."] == "57.50 ± 7.07"  # sample std (ddof=1) of 52.5 and 62.5
    one_seed = corrkd_table([r for r in rows if r["seed"] == 0], methods=["corrkd"])
    assert one_seed.loc["CorrKD", "Avg."] == "52.50 (1 seed)"  # no spread is shown as none, not as ± 0
    with pytest.raises(KeyError, match="no rows for method"):
        corrkd_table(rows, methods=["student_no_kd"])


def test_f1_and_mae_curves_plot_the_mean_over_seeds_per_rate():
    import matplotlib

    matplotlib.use("Agg")
    from msa_lib.viz.corrkd import plot_f1_and_mae_vs_rate

    rows = [{"method": m, "condition": f"frame_missing_{p:.1f}", "seed": seed,
             "metrics": {"Non0_F1_score": 0.8 - p / 2 + 0.02 * seed - (0.1 if m == "b" else 0.0), "MAE": 0.5 + p}}
            for m in ("a", "b") for seed in (0, 1) for p in (0.0, 0.5, 0.9)]
    rows.append({"method": "a", "condition": "only_text", "seed": 0, "metrics": {"Non0_F1_score": 0.0, "MAE": 9.0}})
    fig = plot_f1_and_mae_vs_rate(rows, methods=["a", "b"], title="T: ")
    f1_ax, mae_ax = fig.axes
    assert f1_ax.get_title().startswith("T: Non0 F1") and mae_ax.get_title().startswith("T: MAE")
    (xa, ya), (xb, yb) = [line.get_data() for line in f1_ax.get_lines()]
    np.testing.assert_allclose(xa, [0.0, 0.5, 0.9])  # the whole-modality row is not a rate
    np.testing.assert_allclose(ya, 100 * (0.8 - np.array([0.0, 0.5, 0.9]) / 2 + 0.01))  # mean of seeds 0 and 1
    np.testing.assert_allclose(ya - yb, 10.0)
    np.testing.assert_allclose(mae_ax.get_lines()[0].get_data()[1], [0.5, 1.0, 1.4])  # MAE unscaled


def test_corrkd_zero_missing_is_corrkd_with_a_zero_block_for_a_missing_modality(tiny):
    from msa_lib.training.corrkd import method_config, method_model, missing_block_distance

    cfg = CorrKDTrainConfig.quick(epochs=1, teacher_epochs=1, progress=False)
    assert method_model("corrkd", cfg).missing_modality == "encode"  # the sources' reading is the default
    assert method_model("corrkd_zero_missing", cfg).missing_modality == "zero"
    a, b = method_config("corrkd", cfg), method_config("corrkd_zero_missing", cfg)
    assert {k for k in a if a[k] != b[k]} == {"method", "model"}  # nothing else differs
    teacher, _ = train_teacher(tiny, 0, True, cfg, checkpoint_dir=False)
    zero, _ = train_student("corrkd_zero_missing", tiny, teacher, 0, True, cfg, checkpoint_dir=False)
    encoded, _ = train_student("corrkd", tiny, teacher, 0, True, cfg, checkpoint_dir=False)
    assert zero.config.missing_modality == "zero" and encoded.config.missing_modality == "encode"
    # a zero block scores exactly 1; an encoded block is a learned vector, not zero
    assert missing_block_distance(zero, teacher, tiny["test"]) == pytest.approx({m: 1.0 for m in MODALITIES})
    got = missing_block_distance(encoded, teacher, tiny["test"])
    assert all(np.isfinite(v) and v != pytest.approx(1.0) for v in got.values())
    # the student compared with itself as "teacher": delta_m is the distance between the block of m when m is
    # removed and when it is present, by hand on the whole test split
    from msa_lib.data import drop_modalities

    full = next(iter(make_loader(tiny["test"], len(tiny["test"]))))
    with torch.no_grad():
        ref = torch.nn.functional.normalize(encoded.encode(full)["joint"], dim=-1)[:, :16]
        got_text = torch.nn.functional.normalize(encoded.encode(drop_modalities(full, "text"))["joint"], dim=-1)[:, :16]
    want = float((got_text - ref).pow(2).sum() / ref.pow(2).sum())
    assert missing_block_distance(encoded, encoded, tiny["test"])["text"] == pytest.approx(want, rel=1e-5)
    with pytest.raises(ValueError, match="fusion"):
        missing_block_distance(CorrKDNet(tiny.input_dims, CorrKDConfig(d_model=16, n_heads=4, n_layers=1, fusion="mlp")),
                               teacher, tiny["test"])
