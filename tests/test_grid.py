"""The grid runner (msa_lib.training.grid) on a local 2-CPU Ray: the same rows as the notebook path, resumable
after a kill, and a failing trial reported by name while the others are written.

One local Ray is started for the module (about 10-15 s) and shut down after it; the kill test runs its grid in a
subprocess, which it stops with the process group.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import ray  # requirements.txt installs it (the [grid] extra)
import torch

from conftest import REPO_ROOT
from msa_lib.data.annotator_story import annotator_mosi
from msa_lib.training.grid import Grid, run_grid

METHODS = ("lf_dnn", "tfn")


@pytest.fixture(scope="module")
def data_path(tmp_path_factory):
    return str(annotator_mosi(tmp_path_factory.mktemp("grid-data"), seed=11, sizes=(48, 16, 24)))


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, log_to_driver=False, logging_level="ERROR", include_dashboard=False)
    yield
    ray.shutdown()


def _metrics(rows):
    return {(r["method"], r["condition"], r["seed"]): r["metrics"] for r in rows}


def assert_same_rows(got_rows, want_rows, atol=1e-6):
    got, want = _metrics(got_rows), _metrics(want_rows)
    assert got.keys() == want.keys()
    for key in want:
        assert got[key].keys() == want[key].keys(), key
        for metric, value in want[key].items():  # NaN (Corr of a constant prediction) equals NaN
            assert np.isclose(got[key][metric], value, rtol=0, atol=atol, equal_nan=True), (key, metric)


def test_grid_describes_the_chapters_experiments():
    grid = Grid("corrkd", seeds=(0, 1))
    names = [t.name for t in grid.trials()]
    assert names[:2] == ["corrkd:teacher:seed0", "corrkd:teacher:seed1"]  # teachers first
    student = next(t for t in grid.trials() if t.method == "corrkd" and t.seed == 1 and t.variant is None)
    assert student.needs == "corrkd:teacher:seed1"
    assert next(t for t in grid.trials() if t.method == "student_no_kd" and t.variant is None).needs is None
    assert {t.variant for t in grid.trials()} == {None, "margin_2", "cmad_weights"}  # chapter 05's exercises
    missing = Grid("missing_text", seeds=(3,))
    assert [t.method for t in missing.trials()] == ["teacher", "modality_dropout", "sdumc", "sdumc_no_mia",
                                                    "sdumc_no_rnc"]  # teacher_zero_text is the teacher's trial
    with pytest.raises(ValueError, match="unknown methods"):
        Grid("head_to_head", methods=("tfn", "lstm"))
    with pytest.raises(ValueError, match="unknown experiment"):
        Grid("chapter_9")


def test_progress_lines_count_trials_and_estimate_the_time_left(monkeypatch, capsys):
    """Without a terminal, every finished trial prints done / running / failed and an ETA from this sitting's
    wall time per trial; trials loaded from an earlier sitting do not make the estimate optimistic."""
    from msa_lib.training import grid as grid_module

    clock = iter([1000.0, 1600.0, 2200.0])  # start, then one trial every 600 s
    monkeypatch.setattr(grid_module.time, "perf_counter", lambda: next(clock))
    shown = grid_module._Progress("corrkd", total=10, loaded=4, enabled=True, running=lambda: 2)
    assert shown.lines  # capsys: no terminal
    shown.update("corrkd:corrkd:seed3", ok=True)
    shown.update("corrkd:corrkd:seed4", ok=False)
    shown.close()
    first, second = capsys.readouterr().out.strip().splitlines()
    assert "finished corrkd:corrkd:seed3: 5 of 10 done, 2 running, 0 failed; ETA" in first
    assert first.endswith("(50 min)")  # 600 s per trial this sitting x 5 left
    assert "FAILED corrkd:corrkd:seed4: 5 of 10 done, 2 running, 1 failed; ETA" in second
    assert second.endswith("(40 min)")


def test_ray_grid_gives_the_rows_of_the_notebook_path(local_ray, data_path):
    """Two methods × two seeds, quick configs, on 2 CPUs: the same numbers as run_head_to_head in one process,
    and a second call loads every trial instead of running it."""
    from msa_lib.training.baselines import head_to_head_configs, head_to_head_data, run_head_to_head

    grid = Grid("head_to_head", seeds=(0, 1), methods=METHODS, quick=True, data_path=data_path)
    report = run_grid(grid, progress=False)
    assert not report.failed and sorted(report.ran) == sorted(t.name for t in grid.trials())
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the Ray workers: the same sums in the same order
    try:
        sequential = run_head_to_head(head_to_head_data(data_path, quick=True), seeds=[0, 1], methods=METHODS,
                                      quick=True)
    finally:
        torch.set_num_threads(threads)
    assert_same_rows(report.rows, sequential.rows)
    assert sequential.configs == head_to_head_configs(METHODS, quick=True)  # what the staleness check hashes
    again = run_grid(grid, progress=False)
    assert again.ran == []
    assert_same_rows(again.rows, report.rows, atol=0)
    assert report.path is not None and report.path.is_file()


def test_a_failing_trial_is_reported_by_name_and_the_others_are_written(local_ray, data_path, capsys):
    """A truncated checkpoint makes one trial fail (twice: it is retried once); the grid goes on, names it, and
    writes the other trials' rows with the failure recorded in the file."""
    import json

    from msa_lib.training.baselines import CODE_MODULES, BaselineTrainConfig, head_to_head_data
    from msa_lib.training.checkpoints import checkpoint_dir, checkpoint_stamp, stamp_key

    dataset = head_to_head_data(data_path, quick=True)
    config = BaselineTrainConfig.quick("tfn")
    stamp = checkpoint_stamp(config={"seed": 2, **config.settings()}, dataset=dataset, code_modules=CODE_MODULES)
    bad = checkpoint_dir() / f"baseline_tfn_{stamp_key(stamp)}.pt"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_bytes(b"PK\x03\x04 truncated")
    grid = Grid("head_to_head", seeds=(2,), methods=METHODS, quick=True, data_path=data_path)
    report = run_grid(grid, progress=True)
    assert list(report.failed) == ["head_to_head:tfn:seed2"]
    # no terminal here: one progress line per finished trial, the failure among them
    out = capsys.readouterr().out
    assert re.search(r"FAILED head_to_head:tfn:seed2: [01] of 2 done, [01] running, 1 failed", out), out
    assert re.search(r"finished head_to_head:lf_dnn:seed2: 1 of 2 done, [01] running, [01] failed", out), out
    assert "Checkpoint" in report.failed["head_to_head:tfn:seed2"]
    assert {r["method"] for r in report.rows} == {"lf_dnn"}
    written = json.loads(report.path.read_text())
    assert {r["method"] for r in written["rows"]} == {"lf_dnn"}
    assert list(written["extra"]["failed_trials"]) == ["head_to_head:tfn:seed2"]


def test_a_killed_grid_resumes_without_retraining_what_finished(data_path, tmp_path, monkeypatch):
    """Start the grid in a subprocess (one trial at a time), kill it once the first trial is stored, start it
    again: it finishes, and the first trial's stored result is neither rewritten nor re-run. (The subprocess
    runs the trials in process: what makes a grid resumable is the trial store, the same for both runners, and a
    second Ray start would cost the test suite 15 s.)"""
    env = {**os.environ, "MSA_CHECKPOINT_DIR": str(tmp_path / "ckpt"), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "msa_lib.training.grid", "head_to_head", "--quick", "--seeds", "0", "1",
           "--methods", *METHODS, "--data-path", data_path, "--no-ray", "--no-write"]
    store = tmp_path / "ckpt" / "grid" / "head_to_head-quick"
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not list(store.glob("*.pkl")) and proc.poll() is None:
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    first = sorted(store.glob("*.pkl"))
    assert first, "no trial finished before the deadline"
    assert len(first) < 4, "the whole grid finished before the kill; nothing left to resume"
    mtimes = {p.name: p.stat().st_mtime_ns for p in first}

    monkeypatch.setenv("MSA_CHECKPOINT_DIR", str(tmp_path / "ckpt"))
    report = run_grid(Grid("head_to_head", seeds=(0, 1), methods=METHODS, quick=True, data_path=data_path),
                      use_ray=False, write=False, progress=False)  # one torch thread per trial, as on Ray
    assert not report.failed and len(report.results) == 4
    finished_before = {n for n in report.results if n not in report.ran}
    assert len(finished_before) >= len(first)
    assert {p.name: p.stat().st_mtime_ns for p in first} == mtimes
