"""Provenance that can fail: hashes that move when (and only when) what they cover moves, results files that
record it, checkpoints that refuse other data or code, and the staleness check of the committed files."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import torch

from msa_lib import provenance as pv
from msa_lib.data import make_loader, synthetic_mosei
from msa_lib.data.dataset import PackedSequences
from msa_lib.models import UMCAConfig
from msa_lib.training import (
    CheckpointError,
    StaleCheckpointError,
    checkpoint_stamp,
    fit_or_load,
    load_checkpoint,
    load_predictions,
    load_results,
    predict,
    result_row,
    save_checkpoint,
    write_results,
)
from msa_lib.training import experiments as ex
from msa_lib.training.sdumc import CODE_MODULES, SDUMCTrainConfig, method_configs, train_method

TINY = dict(n_train=48, n_valid=24, n_test=24, text_dim=16, audio_dim=12, vision_dim=8, text_len=(3, 8),
            audio_len_max=10, vision_len_max=8)


@pytest.fixture(scope="module")
def tiny():
    return synthetic_mosei(seed=0, **TINY)


@pytest.fixture(scope="module")
def tiny_other():  # the same name, sizes and dims; other content
    return synthetic_mosei(seed=1, **TINY)


def tiny_config(**kw):
    base = dict(epochs=1, batch_size=16, eval_batch_size=64, lr=3e-3, warmup_epochs=1, patience=5,
                model=UMCAConfig.small(hidden_dim=16, cross_dim=8, proj_dim=8))
    base.update(kw)
    return SDUMCTrainConfig(**base)


# ------------------------------------------------------------------------------------------ hashes
def test_config_hash_covers_nested_fields_and_ignores_key_order():
    cfg = SDUMCTrainConfig.full()
    assert pv.config_hash(cfg) == pv.config_hash(SDUMCTrainConfig.full())
    assert pv.config_hash(cfg) != pv.config_hash(cfg.replace(lr=2e-4))
    nested = cfg.replace(model=dataclasses.replace(cfg.model, use_mia=not cfg.model.use_mia))
    assert pv.config_hash(nested) != pv.config_hash(cfg)
    assert pv.config_hash({"a": 1, "b": [1, 2]}) == pv.config_hash({"b": (1, 2), "a": 1})


def test_code_version_ignores_comments_docstrings_layout_but_not_code(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    mod = tmp_path / "prov_probe_mod.py"
    mod.write_text('"""Doc."""\ndef f(x):\n    return x + 1\n')
    v1 = pv.code_version(["prov_probe_mod"])
    mod.write_text('"""Other words."""\n# a comment\ndef f(x):\n    """Adds one."""\n    return (x +\n            1)\n')
    assert pv.code_version(["prov_probe_mod"]) == v1
    mod.write_text('"""Doc."""\ndef f(x):\n    return x + 2\n')
    assert pv.code_version(["prov_probe_mod"]) != v1
    with pytest.raises(ModuleNotFoundError, match="no_such_module_xyz"):
        pv.code_version(["no_such_module_xyz"])


def _other_pythons() -> list[str]:
    """Interpreters of other minor versions (3.10+) on this machine: pyenv's, or python3.X on the PATH."""
    import glob
    import os
    import shutil

    found = {}
    candidates = glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin/python3"))
    candidates += [p for v in range(10, 15) if (p := shutil.which(f"python3.{v}"))]
    for exe in candidates:
        out = subprocess.run([exe, "-c", "import sys; print(sys.version_info[1])"], capture_output=True, text=True)
        minor = int(out.stdout) if out.returncode == 0 and out.stdout.strip().isdigit() else None
        if minor is not None and minor >= 10 and minor != sys.version_info[1]:
            found.setdefault(minor, exe)
    return [found[m] for m in sorted(found)]


def test_code_version_is_the_same_under_every_python():
    """A results file made on another machine's Python must not look like other code: ast.dump differs between
    3.11 and 3.12 (new empty fields), the canonical form must not. Each other interpreter found here runs the
    same normalisation (only `ast` needed) over the library's SDUMC and CorrKD modules."""
    import inspect

    others = _other_pythons()
    if not others:
        pytest.skip("no other Python 3.10+ on this machine")
    files = [str(pv.REPO_ROOT / "msa_lib" / p) for p in ("models/umca.py", "training/sdumc.py", "training/corrkd.py",
                                                         "losses/corrkd.py", "metrics.py", "data/missing.py")]
    functions = "\n".join(inspect.getsource(f) for f in (pv._StripDocstrings, pv._canonical_ast, pv.normalised_source))
    program = ("import ast, hashlib, sys\n" + functions + "\nfor f in sys.argv[1:]:\n"
               "    print(hashlib.sha256(normalised_source(open(f).read(), f).encode()).hexdigest())\n")
    import hashlib

    here = [hashlib.sha256(pv.normalised_source(open(f).read(), f).encode()).hexdigest() for f in files]
    for exe in others:
        out = subprocess.run([exe, "-c", program, *files], capture_output=True, text=True, check=True)
        assert out.stdout.split() == here, f"{exe} normalises the library's code differently"


def test_data_fingerprint_is_content_not_name(tiny, tiny_other):
    fp = pv.data_fingerprint(tiny)
    assert fp == pv.data_fingerprint(synthetic_mosei(seed=0, **TINY))
    assert fp["sizes"] == {"train": 48, "valid": 24, "test": 24} and fp["dims"]["audio"] == 12
    other = pv.data_fingerprint(tiny_other)
    assert tiny_other.name == tiny.name and other["hash"] != fp["hash"] and other["labels_sha"] != fp["labels_sha"]
    renamed = synthetic_mosei(seed=0, **TINY)
    renamed.name = "a new name"
    assert pv.data_fingerprint(renamed)["hash"] == fp["hash"]
    # one feature value of a sampled utterance changes the features hash, and only it
    changed = synthetic_mosei(seed=0, **TINY)
    split = changed["test"]
    frames = [np.array(split.sequences["audio"][i]) for i in range(len(split))]
    frames[0][0, 0] += 1.0  # utterance 0 is always in the sample
    split.sequences["audio"] = PackedSequences.from_list(frames)
    got = pv.data_fingerprint(changed)
    assert got["features_sha"] != fp["features_sha"] and got["labels_sha"] == fp["labels_sha"]


def test_git_state_sees_changes_outside_results(tmp_path):
    def git(*a):
        subprocess.run(["git", *a], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "r.json").write_text("{}\n")
    git("add", "."), git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "c")
    state = pv.git_state(tmp_path)
    assert len(state["commit"]) == 40 and state["dirty"] is False
    (tmp_path / "results" / "r.json").write_text('{"rows": []}\n')  # a run rewriting its results file
    assert pv.git_state(tmp_path)["dirty"] is False
    (tmp_path / "a.py").write_text("x = 2\n")
    assert pv.git_state(tmp_path)["dirty"] is True
    assert pv.git_state(tmp_path / "missing") == {"commit": None, "dirty": None}


# ------------------------------------------------------------------------------------- results files
def _fit_like(n=3):
    return {"history": [{"epoch": e, "train_loss": 1.0 / e, "valid_MAE": 0.9 - 0.1 * e} for e in range(1, n + 1)]}


def test_a_full_results_file_records_its_provenance(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("MSA_RESULTS_DIR", str(tmp_path))
    monkeypatch.delenv("MSA_QUICK_RESULTS_DIR", raising=False)  # quick files under tmp_path/quick
    cfg = tiny_config()
    rows = [result_row("teacher", "complete", 0, {"MAE": 0.5})]
    n = len(tiny["test"])
    preds = {("teacher", "complete", 0): np.linspace(-1, 1, n)}
    path = write_results("demo", rows, quick=False, seeds=[0], dataset=tiny, configs=method_configs(cfg, ["teacher"]),
                         code_modules=CODE_MODULES, histories={("teacher", 0): _fit_like()},
                         seconds={("teacher", 0): 1.5}, predictions=preds, wall_seconds=2.0)
    data = json.loads(path.read_text())
    assert data["dataset"] == tiny.name and data["data_fingerprint"] == pv.data_fingerprint(tiny)
    assert data["config_hashes"] == {"teacher": pv.config_hash(method_configs(cfg, ["teacher"])["teacher"])}
    assert data["configs"]["teacher"]["lr"] == 3e-3 and data["configs"]["teacher"]["trains"] == "teacher"
    assert data["code_version"] == pv.code_version(CODE_MODULES)
    assert data["histories"]["teacher/0"][2]["valid_MAE"] == pytest.approx(0.6)
    assert data["seconds"] == {"teacher/0": 1.5} and data["wall_seconds"] == 2.0
    assert set(data["environment"]) >= {"python", "torch", "cuda_device", "cpus", "packages_sha"}
    assert "git_commit" in data and "git_dirty" in data
    back = load_predictions("demo")
    np.testing.assert_allclose(back["teacher|complete|0"], np.linspace(-1, 1, n), rtol=1e-6)
    np.testing.assert_array_equal(back["label"], tiny["test"].labels)
    # a predictions file from another run is refused
    other = tmp_path / "demo.predictions.npz"
    np.savez(other, label=np.zeros(n))
    with pytest.raises(ValueError, match="is not the predictions file"):
        load_predictions("demo")


def test_predictions_must_match_the_test_split(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("MSA_RESULTS_DIR", str(tmp_path))
    monkeypatch.delenv("MSA_QUICK_RESULTS_DIR", raising=False)  # quick files under tmp_path/quick
    rows = [result_row("teacher", "complete", 0, {"MAE": 0.5})]
    with pytest.raises(ValueError, match="3 values for 24 test labels"):
        write_results("demo", rows, quick=True, seeds=[0], dataset=tiny,
                      predictions={("teacher", "complete", 0): np.zeros(3)})


# ------------------------------------------------------------------------------------------ staleness
def _current_file(tiny, experiment):
    """What a file made now by ``experiment`` on ``tiny`` records (without training anything)."""
    exp = experiment.expected(tiny)
    return {"quick": False, "git_commit": "abc", "git_dirty": False, "config_hashes": dict(exp["config_hashes"]),
            "code_version": exp["code_version"], "data_fingerprint": exp["data_fingerprint"], "histories": {},
            "accepted_changes": [],
            "rows": [result_row(m, "complete", 0, {"MAE": 0.5}) for m in exp["config_hashes"]]}, exp


def test_staleness_passes_a_current_file_and_names_each_kind_of_change(tiny, tiny_other):
    experiment = ex.EXPERIMENTS["missing_text"]
    data, exp = _current_file(tiny, experiment)
    assert ex.staleness("missing_text", data, exp) == []
    # a changed default of one method
    changed = json.loads(json.dumps(data))
    changed["config_hashes"]["sdumc"] = "0" * 16
    assert any("config of 'sdumc' changed" in p for p in ex.staleness("missing_text", changed, exp))
    # changed code
    changed = json.loads(json.dumps(data))
    changed["code_version"] = "f" * 16
    assert any("the code of" in p and "msa_lib.models.umca" in p for p in ex.staleness("missing_text", changed, exp))
    # other data
    other = experiment.expected(tiny_other)
    problems = ex.staleness("missing_text", data, {**exp, "data_fingerprint": other["data_fingerprint"]})
    assert problems == ["the data differ from the synthetic default's (labels_sha, lengths_sha, features_sha)"]
    # a dirty tree, a quick file
    assert ex.staleness("missing_text", {**data, "git_dirty": True}, exp)[0].startswith("it was made from a working tree")
    assert "it is a quick-mode file" in ex.staleness("missing_text", {**data, "quick": True}, exp)


def test_a_file_without_provenance_is_stale():
    old = {"quick": False, "created": "2026-11-22T09:17:46+00:00", "msa_lib_version": "0.1.0",
           "rows": [result_row("sdumc", "complete", 0, {"MAE": 0.5})]}
    (problem,) = ex.staleness("missing_text", old, expected={})
    assert problem.startswith("it records no provenance") and "2026-11-22" in problem


def test_accepting_a_change_passes_exactly_that_change(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("MSA_RESULTS_DIR", str(tmp_path))
    monkeypatch.delenv("MSA_QUICK_RESULTS_DIR", raising=False)  # quick files under tmp_path/quick
    experiment = ex.EXPERIMENTS["missing_text"]
    data, exp = _current_file(tiny, experiment)
    data["code_version"] = "old-code-version"
    (tmp_path / "missing_text.json").write_text(json.dumps(data))
    assert ex.staleness("missing_text", load_results("missing_text"), exp) != []
    with pytest.raises(ValueError, match="say why"):
        ex.accept_changes("missing_text", " ", exp)
    added = ex.accept_changes("missing_text", "comments only", exp)
    assert [a["what"] for a in added] == ["code_version"] and added[0]["reason"] == "comments only"
    assert ex.staleness("missing_text", load_results("missing_text"), exp) == []
    # the next change fails again
    assert ex.staleness("missing_text", load_results("missing_text"), {**exp, "code_version": "newer"}) != []


# ------------------------------------------------------------------------------------------ checkpoints
def test_a_truncated_checkpoint_gets_a_clear_error(tmp_path):
    model = torch.nn.Linear(3, 1)
    path = save_checkpoint(tmp_path / "m.pt", model, result={"a": 1})
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=r"m\.pt cannot be read .*truncated or not a checkpoint"):
        load_checkpoint(path, model)
    (tmp_path / "t.pt").write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match=r"t\.pt cannot be read"):
        load_checkpoint(tmp_path / "t.pt", model)


def test_a_checkpoint_for_other_data_is_refused_and_retrained(tiny, tiny_other, tmp_path):
    model = torch.nn.Linear(3, 1)
    stamp_a = checkpoint_stamp(config={"x": 1}, dataset=tiny, code_modules=CODE_MODULES)
    stamp_b = checkpoint_stamp(config={"x": 1}, dataset=tiny_other, code_modules=CODE_MODULES)
    assert stamp_a["config_hash"] == stamp_b["config_hash"] and stamp_a["data_hash"] != stamp_b["data_hash"]
    path = save_checkpoint(tmp_path / "m.pt", model, stamp=stamp_a, result={"v": 1})
    with pytest.raises(StaleCheckpointError, match=r"made for other settings: data "):
        load_checkpoint(path, model, expect=stamp_b)
    calls = []
    with pytest.warns(UserWarning, match="made for other settings: data .*retraining"):
        loaded, result = fit_or_load(path, model, lambda: calls.append(1) or {"v": 2}, stamp=stamp_b)
    assert (loaded, result, calls) == (False, {"v": 2}, [1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fit_or_load(path, model, lambda: {"v": 3}, stamp=stamp_b) == (True, {"v": 2})
    old = save_checkpoint(tmp_path / "old.pt", model, result={})  # made before stamps
    with pytest.raises(StaleCheckpointError, match="has no stamp"):
        load_checkpoint(old, model, expect=stamp_a)


def test_train_method_never_loads_a_checkpoint_made_for_other_data(tiny, tiny_other, tmp_path):
    cfg = tiny_config()
    model_a, _ = train_method("teacher", tiny, seed=0, config=cfg, device="cpu", checkpoint=tmp_path)
    model_b, _ = train_method("teacher", tiny_other, seed=0, config=cfg, device="cpu", checkpoint=tmp_path)
    files = sorted((tmp_path / "sdumc").glob("*.pt"))
    assert len(files) == 2  # same name, sizes, dims and config: the content decides
    loader = make_loader(tiny["test"], 64)
    assert not np.array_equal(predict(model_a, loader)[0], predict(model_b, loader)[0])
    # one model's file copied over the other's is caught by the stamp inside it, and retrained
    files[0].write_bytes(files[1].read_bytes())
    with pytest.warns(UserWarning, match="made for other settings: data .*retraining"):
        for data in (tiny, tiny_other):  # (whichever of the two files was overwritten)
            train_method("teacher", data, seed=0, config=cfg, device="cpu", checkpoint=tmp_path)


def test_corrkd_checkpoints_are_keyed_by_content(tiny, tiny_other, tmp_path):
    from msa_lib.training.corrkd import CorrKDTrainConfig, teacher_checkpoint_path

    cfg = CorrKDTrainConfig.quick()
    a = teacher_checkpoint_path(tiny, 0, cfg, tmp_path)
    assert a == teacher_checkpoint_path(synthetic_mosei(seed=0, **TINY), 0, cfg, tmp_path)
    assert a != teacher_checkpoint_path(tiny_other, 0, cfg, tmp_path)
    assert a != teacher_checkpoint_path(tiny, 1, cfg, tmp_path)
