"""Classification data sets (MulT IEMOCAP): loading, metrics, and CorrKD trained on them."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score

from msa_lib.data import CORRKD_CONDITIONS, make_loader
from msa_lib.data.dataset import MSADataset
from msa_lib.data.mmsa import load_mmsa, save_mmsa
from msa_lib.metrics import (
    IEMOCAP_EMOTIONS,
    classification_metric_keys,
    classification_metrics,
    evaluation_metrics,
    lower_is_better,
    metric_keys,
    primary_metric,
    regression_metrics,
)
from msa_lib.models.corrkd import CorrKDConfig, CorrKDNet
from msa_lib.training.corrkd import (
    CorrKDLossConfig,
    CorrKDStudentLoss,
    CorrKDTrainConfig,
    evaluate_conditions,
    run_corrkd,
    task_loss,
    train_teacher,
)

SIZES = {"train": 96, "valid": 32, "test": 48}
DIMS = {"text": 300, "audio": 74, "vision": 35}


def one_hots(classes, n_classes=4):
    """MulT's IEMOCAP labels [N, 4, 2]: [1, 0] = "not this emotion", [0, 1] = "this emotion"."""
    lab = np.zeros((len(classes), n_classes, 2), np.float32)
    lab[:, :, 0] = 1.0
    lab[np.arange(len(classes)), classes] = (0.0, 1.0)
    return lab


def mult_iemocap_split(rng, n, length=20, signal=3.0, aligned=True):
    """One split of a MulT-style IEMOCAP pickle with a learnable class signal in every modality:
    class k shifts features [4k, 4k + 4) of every real frame by +signal. Some samples are left-padded
    (MulT / CMU-SDK convention) and audio has a few -inf (COVAREP)."""
    y = rng.integers(0, 4, n)
    y[:4] = np.arange(4)  # every class present in every split
    out = {}
    lengths = {m: length if aligned else length + 5 * k for k, m in enumerate(DIMS)}
    real = rng.integers(length // 2, length + 1, n)
    for m, d in DIMS.items():
        t = lengths[m]
        x = rng.normal(0.0, 1.0, (n, t, d)).astype(np.float32)
        for k in range(4):
            x[y == k, :, 4 * k: 4 * k + 4] += signal
        if aligned:
            for i in range(n):  # zero padding in front, as the CMU-SDK writes aligned files
                x[i, : length - real[i]] = 0.0
        out[m] = x
    out["audio"][1, -1, 3] = -np.inf
    out["labels"] = one_hots(y)
    out["id"] = np.array([[b"Ses01F_impro01", f"F{i:03d}".encode()] for i in range(n)])
    return out, y


def write_iemocap(tmp_path, name="iemocap_data.pkl", seed=0, **kw):
    rng = np.random.default_rng(seed)
    data, ys = {}, {}
    for s, n in SIZES.items():
        data[s], ys[s] = mult_iemocap_split(rng, n, **kw)
    path = tmp_path / name
    with open(path, "wb") as f:
        pickle.dump(data, f)
    return path, data, ys


def load_quiet(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # -inf repaired, left padding moved
        return load_mmsa(path, **kw)


@pytest.fixture(scope="module")
def iemocap(tmp_path_factory):
    path, data, ys = write_iemocap(tmp_path_factory.mktemp("iemocap"))
    return load_quiet(path), ys


def tiny_config(**kw):
    base = dict(
        model=CorrKDConfig(d_model=8, n_heads=2, n_layers=1, dropout=0.0),
        losses=CorrKDLossConfig(rcd_hidden=8),
        epochs=3, teacher_epochs=6, batch_size=16, eval_batch_size=64, lr=5e-3, patience=6,
        progress=False, amp=False, device="cpu",
        select_conditions=("complete", "only_text"),
    )
    base.update(kw)
    return CorrKDTrainConfig(**base)


# ----------------------------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------------------------
def test_load_mult_iemocap_as_four_class_classification(iemocap):
    ds, ys = iemocap
    assert ds.task == "classification" and ds.metric_dataset == "iemocap"
    assert ds.classes == IEMOCAP_EMOTIONS == ("Neutral", "Happy", "Sad", "Angry")
    assert ds.input_dims == DIMS
    for s in SIZES:
        assert ds[s].labels.dtype == np.float32 and ds[s].labels.shape == (SIZES[s],)
        np.testing.assert_array_equal(ds[s].labels, ys[s].astype(np.float32))
    assert ds.info["audio_neg_inf_repaired"] == {s: 1 for s in SIZES}
    assert ds.info["left_padding_moved"]["train"] == ["text", "audio", "vision"]
    batch = next(iter(make_loader(ds["train"], 8)))
    assert batch["text_mask"][:, 0].all() and torch.isfinite(batch["audio"]).all()
    assert ds["train"].ids[2] == "Ses01F_impro01$_$F002"
    assert "classes=" in repr(ds)


def test_unaligned_and_forced_and_refused(tmp_path):
    path, _, ys = write_iemocap(tmp_path, "iemocap_data_noalign.pkl", aligned=False)
    ds = load_quiet(path)
    assert ds.task == "classification" and ds["test"][0]["vision"].shape == (30, 35)
    assert load_quiet(path, metric_dataset="iemocap").classes == IEMOCAP_EMOTIONS
    with pytest.raises(ValueError, match=r"metric_dataset='mosei'.*Pass metric_dataset='iemocap'"):
        load_quiet(path, metric_dataset="mosei")


def test_samples_without_exactly_one_emotion_give_a_clear_error(tmp_path):
    path, data, _ = write_iemocap(tmp_path)
    data["valid"]["labels"][5, :, :] = (0.0, 1.0)  # Neutral, Happy, Sad and Angry at once
    data["valid"]["labels"][7, 2] = (0.0, 1.0)  # a second emotion (unless it already was Sad)
    data["valid"]["labels"][9] = (1.0, 0.0)  # no emotion
    bad = tmp_path / "bad.pkl"
    with open(bad, "wb") as f:
        pickle.dump(data, f)
    several = [5] + ([7] if data["valid"]["labels"][7, :, 1].sum() > 1 else [])
    with pytest.raises(ValueError) as err:
        load_quiet(bad)
    msg = str(err.value)
    assert str(bad) in msg and "split 'valid'" in msg
    assert f"{len(several) + 1} of {SIZES['valid']} samples" in msg
    assert "1 with none, first indices [9]" in msg and f"with several, first indices {several}" in msg


def test_save_mmsa_round_trips_a_classification_set(iemocap, tmp_path):
    ds, _ = iemocap
    path = save_mmsa(ds, tmp_path / "round.pkl")
    with open(path, "rb") as f:
        raw = pickle.load(f)
    assert raw["train"]["labels"].shape == (SIZES["train"], 4, 2) and "regression_labels" not in raw["train"]
    back = load_quiet(path)
    assert back.task == "classification" and back.classes == ds.classes
    for s in SIZES:
        np.testing.assert_array_equal(back[s].labels, ds[s].labels)
        np.testing.assert_allclose(back[s][3]["audio"], ds[s][3]["audio"])


def test_msadataset_checks_classification_labels(iemocap):
    ds, _ = iemocap
    splits = {s: ds[s] for s in SIZES}
    assert MSADataset(splits, name="x", metric_dataset="iemocap").task == "classification"
    with pytest.raises(ValueError, match="metric_dataset must be one of"):
        MSADataset(splits, name="x", metric_dataset="emotions")
    with pytest.raises(ValueError, match=r"not class ids 0\.\.2"):
        MSADataset(splits, name="x", metric_dataset="iemocap", classes=("a", "b", "c"))
    with pytest.raises(ValueError, match="regression data set"):
        MSADataset(splits, name="x", metric_dataset="mosei", classes=IEMOCAP_EMOTIONS)
    reg = MSADataset(splits, name="x", metric_dataset="mosei")
    assert reg.task == "regression" and reg.classes == ()


# ----------------------------------------------------------------------------------------------
# metrics
# ----------------------------------------------------------------------------------------------
def test_classification_metrics_by_hand():
    true = [0, 0, 1, 2, 3, 3]
    pred = [0, 1, 1, 2, 3, 0]
    m = classification_metrics(pred, true)
    assert list(m) == list(classification_metric_keys()) == list(metric_keys("iemocap"))
    # Neutral: truth [1,1,0,0,0,0], pred [1,0,0,0,0,1]: 4 / 6 right; F1(pos) = 2/4, F1(neg) = 6/8
    assert m["Neutral_acc"] == round(4 / 6, 4)
    assert m["Neutral_F1"] == round((2 * 0.5 + 4 * 0.75) / 6, 4)
    assert m["Sad_acc"] == 1.0 and m["Sad_F1"] == 1.0
    assert m["Acc_4"] == round(4 / 6, 4)
    # logits give the same as their argmax
    logits = np.eye(4)[pred] * 2.0 - 0.5
    assert classification_metrics(torch.tensor(logits), np.asarray(true, np.float32)) == m


def test_classification_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    true = rng.integers(0, 4, 200)
    logits = rng.normal(size=(200, 4)) + 1.5 * np.eye(4)[true]
    pred = logits.argmax(1)
    m = classification_metrics(logits, true.astype(np.float32), digits=None)
    accs, f1s = [], []
    for k, e in enumerate(IEMOCAP_EMOTIONS):
        f1 = f1_score(true == k, pred == k, average="weighted")  # MulT eval_iemocap: truth first
        acc = accuracy_score(true == k, pred == k)
        assert m[f"{e}_F1"] == pytest.approx(f1, abs=1e-12) and m[f"{e}_acc"] == pytest.approx(acc, abs=1e-12)
        accs.append(acc), f1s.append(f1)
    assert m["Avg_F1"] == pytest.approx(np.mean(f1s)) and m["Avg_acc"] == pytest.approx(np.mean(accs))
    assert m["Acc_4"] == pytest.approx(accuracy_score(true, pred))
    assert m["Macro_F1"] == pytest.approx(f1_score(true, pred, average="macro"))
    assert classification_metrics(logits, true)["Avg_F1"] == round(np.mean(f1s), 4)


def test_dispatcher_primary_metric_and_errors(iemocap):
    ds, _ = iemocap
    true = ds["test"].labels
    assert evaluation_metrics(true, true, ds)["Avg_F1"] == 1.0
    assert evaluation_metrics(true, true, "iemocap") == evaluation_metrics(true, true, ds)
    assert evaluation_metrics([0.5, -1.0], [1.0, -2.0], "mosi") == regression_metrics([0.5, -1.0], [1.0, -2.0], "mosi")
    assert primary_metric("mosi") == primary_metric("mosei") == "Non0_F1_score"
    assert primary_metric("sims") == "F1_score" and primary_metric(ds) == "Avg_F1"
    assert lower_is_better("MAE") and lower_is_better("valid_MAE") and not lower_is_better("Avg_F1")
    with pytest.raises(ValueError, match="classification data set"):
        regression_metrics([0.0], [0.0], "iemocap")
    with pytest.raises(ValueError, match="not class ids"):
        classification_metrics([0.5, 1.0], [0, 1])
    with pytest.raises(ValueError, match="not class ids"):
        classification_metrics([0, 1], [0, 4])
    with pytest.raises(ValueError, match="2 predictions but 3 labels"):
        classification_metrics([0, 1], [0, 1, 2])


def test_sdumc_refuses_a_classification_set(iemocap):
    from msa_lib.training.sdumc import train_method

    with pytest.raises(ValueError, match="SDUMC is a regression method.*Chapter 05"):
        train_method("teacher", iemocap[0])


# ----------------------------------------------------------------------------------------------
# CorrKD on a classification data set
# ----------------------------------------------------------------------------------------------
def test_network_and_losses_for_a_classification_set(iemocap):
    ds, _ = iemocap
    cfg = tiny_config()
    net = CorrKDNet.for_dataset(ds, cfg.model)
    assert net.task == "classification" and net.num_classes == 4 and net.regression_head is None
    batch = next(iter(make_loader(ds["train"], 16)))
    out = net(batch)
    assert out["logits"].shape == (16, 4)
    assert torch.equal(out["pred"], out["logits"].argmax(-1).float())
    loss, logs = task_loss(out, batch, cfg.losses, 4, task="classification")
    assert set(logs) == {"task_ce"}
    assert loss.item() == pytest.approx(torch.nn.functional.cross_entropy(out["logits"], batch["label"].long()).item())
    teacher = CorrKDNet.for_dataset(ds, cfg.model)
    for method in ("corrkd", "student_plain_kd", "corrkd_rcd_kl"):
        loss_fn = CorrKDStudentLoss(method, teacher, cfg, classes=ds.classes)
        assert loss_fn.num_classes == 4
        loss, logs = loss_fn(net, batch)
        assert torch.isfinite(loss) and "task_reg" not in logs
        loss.backward()


def test_corrkd_teacher_and_student_on_iemocap(iemocap, tmp_path):
    ds, _ = iemocap
    cfg = tiny_config()
    conditions = ("complete", *CORRKD_CONDITIONS)
    run = run_corrkd(ds, methods=("corrkd",), seeds=(0,), config=cfg, conditions=conditions,
                     checkpoint_dir=tmp_path)
    keys = list(metric_keys("iemocap"))
    assert {(r["method"], r["condition"]) for r in run.rows} == {(m, c) for m in ("teacher", "corrkd") for c in conditions}
    for r in run.rows:
        assert list(r["metrics"]) == keys
    by = {(r["method"], r["condition"]): r["metrics"] for r in run.rows}
    assert by[("teacher", "complete")]["Acc_4"] > 0.6  # chance: 0.25 (4 balanced classes)
    assert by[("corrkd", "complete")]["Acc_4"] > 0.45
    assert by[("corrkd", "complete")]["Avg_F1"] > 0.6
    hist = run.histories[("teacher", 0)]["history"]
    assert "valid_Avg_F1" in hist[0] and "task_reg" not in hist[0]
    assert run.histories[("teacher", 0)]["best_score"] == pytest.approx(
        max(h["valid_Avg_F1"] for h in hist))  # selected on the primary metric, higher is better
    # a checkpointed teacher loads back
    again, _ = train_teacher(ds, 0, config=cfg, checkpoint_dir=tmp_path)
    again_metrics = evaluate_conditions(again, ds, ("complete",), seed=0)["complete"]
    assert again_metrics == by[("teacher", "complete")]
