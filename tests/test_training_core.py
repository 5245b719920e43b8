"""The shared training core: seeds, devices, fit's selection and early stopping, checkpoints, results."""

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from msa_lib.training import (
    FitConfig,
    evaluate,
    fit,
    load_checkpoint,
    load_or_train,
    load_results,
    predict,
    result_row,
    results_table,
    save_checkpoint,
    seed_everything,
    select_device,
    settings_key,
    write_results,
)


class Linear(nn.Module):
    def __init__(self, dim=3):
        super().__init__()
        self.lin = nn.Linear(dim, 1)

    def forward(self, batch):
        return {"pred": self.lin(batch["x"]).squeeze(-1)}


def make_batches(n=64, dim=3, batch_size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, dim, generator=g)
    w = torch.tensor([1.0, -0.5, 0.25])[:dim]
    y = (x @ w).clamp(-3, 3)
    return [
        {"x": x[i : i + batch_size], "label": y[i : i + batch_size]} for i in range(0, n, batch_size)
    ]


def mse_loss(model, batch):
    pred = model(batch)["pred"]
    loss = ((pred - batch["label"]) ** 2).mean()
    return loss, {"mse": loss.item()}


def test_seed_everything_reproduces_torch_and_numpy():
    seed_everything(3)
    a, na = torch.randn(4), np.random.rand(4)
    seed_everything(3)
    b, nb = torch.randn(4), np.random.rand(4)
    assert torch.equal(a, b) and np.array_equal(na, nb)
    seed_everything(4)
    assert not torch.equal(a, torch.randn(4))
    with pytest.raises(TypeError, match="seed must be an int"):
        seed_everything(1.5)


def test_select_device_cpu_and_missing_cuda():
    assert select_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert select_device().type in ("cpu", "mps")
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            select_device("cuda")


def test_fit_learns_and_restores_the_best_epoch():
    seed_everything(0)
    model = Linear()
    train, valid = make_batches(seed=0), make_batches(seed=1)
    states = {}

    def remember(epoch, row):
        states[epoch] = {k: v.clone() for k, v in model.state_dict().items()}

    cfg = FitConfig(epochs=15, lr=0.1, patience=15, progress=False)
    result = fit(model, train, valid, mse_loss, config=cfg, callbacks=[remember])
    maes = result.curve("valid_MAE")
    assert len(result.history) == 15
    assert maes[-1] < maes[0] / 2  # it learned
    best = int(np.argmin(maes)) + 1
    assert result.best_epoch == best
    assert result.best_score == pytest.approx(min(maes))
    for k, v in model.state_dict().items():  # the model holds the best epoch's weights
        assert torch.equal(v, states[best][k])
    assert result.history[0]["mse"] > 0 and "valid_Non0_F1_score" in result.history[0]


def test_fit_stops_early_after_patience():
    seed_everything(0)
    model = Linear()

    def diverging(model, batch):  # gradient ascent on the error: valid MAE only gets worse
        pred = model(batch)["pred"]
        return -((pred - batch["label"]) ** 2).mean().clamp(max=1e3), {}

    cfg = FitConfig(epochs=20, lr=0.05, patience=3, progress=False)
    result = fit(model, make_batches(), make_batches(seed=1), diverging, config=cfg)
    assert result.stopped_early
    assert len(result.history) == result.best_epoch + 3


def test_fit_select_fn_and_max_mode():
    seed_everything(0)
    model = Linear()
    calls = []

    def score(model, loader):
        calls.append(1)
        return float(len(calls))  # grows every epoch: with mode=max the last epoch wins

    cfg = FitConfig(epochs=4, lr=0.01, patience=10, select_mode="max", progress=False)
    result = fit(model, make_batches(), make_batches(seed=1), mse_loss, config=cfg, select_fn=score)
    assert result.best_epoch == 4 and result.best_score == 4.0
    assert [h["valid_score"] for h in result.history] == [1.0, 2.0, 3.0, 4.0]


def test_train_transform_gets_a_seeded_generator():
    def noisy(batch, generator):
        out = dict(batch)
        out["x"] = batch["x"] + torch.randn(batch["x"].shape, generator=generator)
        return out

    histories = []
    for _ in range(2):
        seed_everything(0)
        model = Linear()
        cfg = FitConfig(epochs=3, lr=0.05, progress=False, seed=7)
        r = fit(model, make_batches(), make_batches(seed=1), mse_loss, config=cfg, train_transform=noisy)
        histories.append([h["train_loss"] for h in r.history])
    assert histories[0] == histories[1]


def test_fit_raises_on_nan_loss_and_bad_metric():
    model = Linear()
    with pytest.raises(FloatingPointError, match="training loss became nan"):
        fit(model, make_batches(), make_batches(), lambda m, b: (torch.tensor(float("nan")), {}),
            config=FitConfig(epochs=1, progress=False))
    with pytest.raises(KeyError, match="select_metric='Loss'"):
        fit(model, make_batches(), make_batches(), mse_loss,
            config=FitConfig(epochs=1, progress=False, select_metric="Loss"))
    with pytest.raises(ValueError, match="select_mode"):
        FitConfig(select_mode="lowest")


def test_predict_keeps_order_and_applies_transform():
    model = Linear()
    batches = make_batches(n=40, batch_size=16)
    pred, true = predict(model, batches)
    assert pred.dtype == np.float32 and pred.shape == (40,)
    np.testing.assert_array_equal(true, torch.cat([b["label"] for b in batches]).numpy())

    def zero_x(batch):
        return {**batch, "x": torch.zeros_like(batch["x"])}

    pred0, _ = predict(model, batches, transform=zero_x)
    np.testing.assert_allclose(pred0, model.lin.bias.item(), rtol=1e-6)
    assert batches[0]["x"].abs().sum() > 0  # the transform did not mutate the loader's batches
    metrics = evaluate(model, batches)
    assert set(metrics) >= {"MAE", "Corr", "Non0_F1_score", "Mult_acc_7"}
    assert model.training  # mode restored


def test_checkpoint_round_trip_and_mismatch(tmp_path):
    seed_everything(0)
    model = Linear()
    path = save_checkpoint(tmp_path / "m.pt", model, seed=3, note="x")
    other = Linear()
    extra = load_checkpoint(path, other)
    assert extra == {"seed": 3, "note": "x"}
    assert torch.equal(other.lin.weight, model.lin.weight)
    with pytest.raises(RuntimeError, match="does not fit this model"):
        load_checkpoint(path, Linear(dim=2))
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_checkpoint(tmp_path / "nope.pt", model)


def test_load_or_train_trains_once_then_loads(tmp_path):
    calls = []
    path = tmp_path / "ckpt.pt"

    def train():
        calls.append(1)
        with torch.no_grad():
            model.lin.weight.fill_(2.0)
        return {"history": [1, 2]}

    model = Linear()
    assert load_or_train(path, model, train) is False
    model = Linear()
    assert load_or_train(path, model, train) is True
    assert calls == [1] and torch.all(model.lin.weight == 2.0)
    assert load_checkpoint(path, Linear())["result"] == {"history": [1, 2]}
    assert load_or_train(path, model, train, retrain=True) is False and len(calls) == 2


def test_settings_key_is_stable_and_sensitive():
    a = settings_key(method="sdumc", seed=0, cfg=FitConfig(lr=1e-3))
    assert a == settings_key(method="sdumc", seed=0, cfg=FitConfig(lr=1e-3))
    assert a != settings_key(method="sdumc", seed=0, cfg=FitConfig(lr=2e-3))
    assert len(a) == 8


def test_results_files_quick_and_full(tmp_path, monkeypatch):
    monkeypatch.setenv("MSA_RESULTS_DIR", str(tmp_path))
    monkeypatch.delenv("MSA_QUICK_RESULTS_DIR", raising=False)  # quick files under tmp_path/quick
    rows = [
        result_row("sdumc", "complete", 0, {"MAE": 0.5, "Corr": 0.7}),
        result_row("sdumc", "complete", 1, {"MAE": 0.7, "Corr": 0.5}),
        result_row("teacher", "complete", 0, {"MAE": 0.9, "Corr": float("nan")}),
    ]
    quick = write_results("demo", rows, quick=True, seeds=[0, 1], dataset="synthetic_mosei", command="x")
    assert quick == tmp_path / "quick" / "demo.json"
    with pytest.raises(FileNotFoundError, match="quick-mode numbers may be in"):
        load_results("demo")
    data = load_results("demo", quick=True)
    assert data["quick"] is True and data["seeds"] == [0, 1] and data["command"] == "x"
    assert data["environment"]["torch"] == torch.__version__ and data["environment"]["cpus"] >= 1
    assert data["rows"][0] == {"method": "sdumc", "condition": "complete", "seed": 0,
                               "metrics": {"MAE": 0.5, "Corr": 0.7}}
    with pytest.warns(UserWarning, match="will call it stale"):
        full = write_results("demo", rows, quick=False, seeds=[0, 1], dataset="d")
    assert json.loads(full.read_text())["quick"] is False
    with pytest.raises(ValueError, match="no rows"):
        write_results("demo", [], quick=True, seeds=[0], dataset="d")

    table = results_table(rows, ["MAE", "Corr"])
    # sample std (ddof=1) of (0.5, 0.7) is 0.1414; MMSA's population std (ddof=0) is 0.1
    assert table.loc[("sdumc", "complete"), "MAE"] == "0.6000 ± 0.1414"
    assert results_table(rows, ["MAE"], ddof=0).loc[("sdumc", "complete"), "MAE"] == "0.6000 ± 0.1000"
    assert table.loc[("teacher", "complete"), "MAE"] == "0.9000 (1 seed)"  # one seed: no spread to show
    numeric = results_table(rows, ["MAE"], as_text=False)
    assert numeric.loc[("sdumc", "complete"), ("MAE", "mean")] == pytest.approx(0.6)
    assert numeric.loc[("teacher", "complete"), ("MAE", "n")] == 1
    assert list(table.index) == [("sdumc", "complete"), ("teacher", "complete")]
    assert math.isnan(numeric.loc[("teacher", "complete"), ("MAE", "std")])


def test_results_table_never_drops_a_nan_seed():
    rows = [result_row("a", "c", s, {"MAE": v}) for s, v in enumerate([0.5, float("nan"), 0.7])]
    rows += [result_row("b", "c", s, {"MAE": v}) for s, v in enumerate([0.5, 0.6, 0.7])]
    table = results_table(rows, ["MAE"])
    assert table.loc[("a", "c"), "MAE"] == "nan (1 of 3 seeds NaN)"
    assert table.loc[("b", "c"), "MAE"] == "0.6000 ± 0.1000"
    numeric = results_table(rows, ["MAE"], as_text=False)
    assert math.isnan(numeric.loc[("a", "c"), ("MAE", "mean")])  # not the mean of the two finite seeds
    assert numeric.loc[("a", "c"), ("MAE", "n")] == 3 and numeric.loc[("a", "c"), ("MAE", "n_nan")] == 1


def test_full_run_returns_only_the_full_file_and_says_where_it_came_from(tmp_path, monkeypatch, capsys):
    from msa_lib.training import full_run

    monkeypatch.setenv("MSA_RESULTS_DIR", str(tmp_path))
    monkeypatch.delenv("MSA_QUICK_RESULTS_DIR", raising=False)  # quick files under tmp_path/quick
    rows = [result_row("corrkd", "complete", 0, {"MAE": 0.5})]
    write_results("demo", rows, quick=True, seeds=[0], dataset="d", command="quick run")
    assert full_run("demo") is None  # a quick file never stands in for the full one
    assert "no results file" in capsys.readouterr().out
    with pytest.warns(UserWarning, match="will call it stale"):
        write_results("demo", rows, quick=False, seeds=[0, 1, 2], dataset="synthetic_mosei", command="papermill x")
    data = full_run("demo")
    assert data["quick"] is False and data["rows"] == rows
    out = capsys.readouterr().out.strip()
    commit = data["git_commit"][:10]
    assert out.startswith(f"synthetic_mosei, seeds [0, 1, 2], made by: papermill x (commit {commit}")
    assert data["created"] in out
