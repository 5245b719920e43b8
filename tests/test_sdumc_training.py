"""The SDUMC trainer: schedule, method switches, transforms, selection, determinism, checkpoints."""

import types

import numpy as np
import pytest
import torch

from msa_lib.data import make_loader, synthetic_mosei
from msa_lib.models import UMCAConfig
from msa_lib.training import predict
from msa_lib.training.sdumc import (
    EVAL_METHODS,
    SDUMCTrainConfig,
    condition_transform,
    double_flow_loss_fn,
    evaluate_method,
    replace_text_with_simulated,
    run_missing_text_experiment,
    summarise_rows,
    train_method,
)


@pytest.fixture(scope="module")
def tiny():
    return synthetic_mosei(n_train=48, n_valid=24, n_test=24, seed=0, text_dim=16, audio_dim=12,
                           vision_dim=8, text_len=(3, 8), audio_len_max=10, vision_len_max=8)


def tiny_config(**kw):
    base = dict(epochs=2, batch_size=16, eval_batch_size=64, lr=3e-3, warmup_epochs=1, patience=5,
                model=UMCAConfig.small(hidden_dim=16, cross_dim=8, proj_dim=8))
    base.update(kw)
    return SDUMCTrainConfig(**base)


def test_official_learning_rate_schedule():
    cfg = SDUMCTrainConfig.full()
    factors = [cfg.lr_factor(e) for e in range(25)]
    assert factors[:5] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert factors[5:14] == pytest.approx([1.0] * 9)
    assert factors[14:24] == pytest.approx([0.9] * 10)
    assert factors[24] == pytest.approx(0.81)
    assert (cfg.lr, cfg.weight_decay, cfg.batch_size, cfg.epochs) == (1e-4, 1e-5, 96, 25)


def test_method_switches():
    cfg = SDUMCTrainConfig.quick()
    assert cfg.for_method("sdumc").model.use_mia and cfg.for_method("sdumc").weights.rnc > 0
    assert not cfg.for_method("sdumc_no_mia").model.use_mia
    assert cfg.for_method("sdumc_no_rnc").weights.rnc == 0 and cfg.for_method("sdumc_no_rnc").model.use_mia
    assert not cfg.for_method("teacher").model.use_mia
    assert not cfg.for_method("modality_dropout").model.use_mia
    with pytest.raises(ValueError, match="unknown method 'mult'"):
        cfg.for_method("mult")


def test_per_sample_text_replacement(tiny):
    batch = next(iter(make_loader(tiny["train"], 6)))
    flags = torch.tensor([True, False, True, False, False, True])
    out = replace_text_with_simulated(batch, flags)
    t = out["text"].shape[1]
    assert t == max(batch["text"].shape[1], batch["text_sim"].shape[1])
    for i in range(6):
        src = "text_sim" if flags[i] else "text"
        n = int(batch[f"{src}_mask"][i].sum())
        assert torch.equal(out["text"][i, :n], batch[src][i, :n])
        assert int(out["text_mask"][i].sum()) == n and torch.all(out["text"][i, n:] == 0)
    assert torch.equal(batch["text"], next(iter(make_loader(tiny["train"], 6)))["text"])  # input untouched


def test_teacher_zero_text_removes_the_text(tiny):
    batch = next(iter(make_loader(tiny["test"], 4)))
    zero = condition_transform("text_missing", "teacher_zero_text")(batch)
    assert torch.all(zero["text"] == 0) and not zero["text_mask"].any() and zero["text_missing"].all()
    sim = condition_transform("text_missing", "sdumc")(batch)
    assert torch.equal(sim["text"], batch["text_sim"])
    same = condition_transform("complete", "teacher_zero_text")(batch)
    assert torch.equal(same["text"], batch["text"])


def test_double_flow_loss_logs_every_term(tiny):
    from msa_lib.training.sdumc import build_model

    cfg = tiny_config()
    model = build_model("sdumc", tiny.input_dims, cfg)
    batch = next(iter(make_loader(tiny["train"], 8)))
    loss, logs = double_flow_loss_fn(cfg.weights)(model, batch)
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert set(logs) == {"teacher_mse", "student_mse", "text_query", "text_cross", "fused", "rnc"}


def test_sdumc_training_selects_on_the_mean_valid_mae_and_is_deterministic(tiny):
    cfg = tiny_config()
    model, result = train_method("sdumc", tiny, seed=0, config=cfg, device="cpu")
    assert len(result.history) == 2
    row = result.history[result.best_epoch - 1]
    mean = (row["valid_complete_MAE"] + row["valid_text_missing_MAE"]) / 2
    assert result.best_score == pytest.approx(mean)
    assert result.best_score == min(h["valid_score"] for h in result.history)
    assert {"rnc", "text_cross", "teacher_mse"} <= set(row)
    pred_a, _ = predict(model, make_loader(tiny["test"], 64))
    model_b, _ = train_method("sdumc", tiny, seed=0, config=cfg, device="cpu")
    pred_b, _ = predict(model_b, make_loader(tiny["test"], 64))
    np.testing.assert_array_equal(pred_a, pred_b)
    model_c, _ = train_method("sdumc", tiny, seed=1, config=cfg, device="cpu")
    assert not np.array_equal(pred_a, predict(model_c, make_loader(tiny["test"], 64))[0])


def test_checkpoint_round_trip(tiny, tmp_path):
    cfg = tiny_config(epochs=1)
    model, result = train_method("teacher", tiny, seed=0, config=cfg, device="cpu", checkpoint=tmp_path)
    files = list((tmp_path / "sdumc").glob("*.pt"))
    assert len(files) == 1 and "teacher_seed0" in files[0].name
    loaded, loaded_result = train_method("teacher", tiny, seed=0, config=cfg, device="cpu", checkpoint=tmp_path)
    loader = make_loader(tiny["test"], 64)
    np.testing.assert_array_equal(predict(model, loader)[0], predict(loaded, loader)[0])
    assert loaded_result.best_epoch == result.best_epoch and loaded_result.history == result.history
    # another setting -> another file, never a stale checkpoint
    train_method("teacher", tiny, seed=0, config=tiny_config(epochs=1, lr=1e-3), device="cpu", checkpoint=tmp_path)
    assert len(list((tmp_path / "sdumc").glob("*.pt"))) == 2


def test_experiment_rows_cover_methods_conditions_and_seeds(tiny):
    cfg = tiny_config(epochs=1)
    methods = ("teacher", "teacher_zero_text", "sdumc_no_rnc")
    rows, fits = run_missing_text_experiment(tiny, seeds=(0, 1), methods=methods, config=cfg, device="cpu")
    assert len(rows) == 3 * 2 * 2
    assert {(r["method"], r["condition"], r["seed"]) for r in rows} == {
        (m, c, s) for m in methods for c in ("complete", "text_missing") for s in (0, 1)}
    assert set(fits) == {("teacher", 0), ("teacher", 1), ("sdumc_no_rnc", 0), ("sdumc_no_rnc", 1)}
    by = {(r["method"], r["condition"], r["seed"]): r["metrics"] for r in rows}
    assert by[("teacher_zero_text", "complete", 0)] == by[("teacher", "complete", 0)]
    assert by[("teacher_zero_text", "text_missing", 0)] != by[("teacher", "text_missing", 0)]
    summary = summarise_rows(rows)
    mean, std, n = summary[("teacher", "complete")]
    vals = [by[("teacher", "complete", s)]["MAE"] for s in (0, 1)]
    assert n == 2 and mean == pytest.approx(np.mean(vals)) and std == pytest.approx(np.std(vals, ddof=1))
    assert "teacher_zero_text" in EVAL_METHODS


def test_methods_that_need_simulated_text_say_so():
    no_sim = types.SimpleNamespace(name="mmsa_mosi", input_dims={"text": 8, "audio": 4, "vision": 4})
    with pytest.raises(ValueError, match="needs simulated text"):
        train_method("sdumc", no_sim, config=tiny_config())
    with pytest.raises(ValueError, match="unknown method"):
        run_missing_text_experiment(no_sim, methods=("bert",))


def test_evaluate_method_conditions(tiny):
    cfg = tiny_config(epochs=1)
    model, _ = train_method("modality_dropout", tiny, seed=0, config=cfg, device="cpu")
    res = evaluate_method(model, tiny, ("complete", "text_missing", "only_audio"))
    assert set(res) == {"complete", "text_missing", "only_audio"}
    assert set(res["complete"]) >= {"MAE", "Corr", "Has0_acc_2", "Non0_F1_score", "Mult_acc_7"}
