"""Every chapter on data that ``synthetic_mosei`` did not make: the formats researchers actually hold.

``msa_lib/data/annotator_story.py`` writes one small file (or folder) per layout — MMSA aligned MOSEI-dims with
``text_bert`` and ``-inf`` audio, MMSA unaligned MOSI-dims without ``text_bert``, CH-SIMS, MulT MOSEI with
left padding, MulT IEMOCAP, a MERTools folder — with a generative story of its own and without msa_lib's
writers — and one more: the MERTools folder that chapter 06's pipeline makes from real ``.mp4`` files
(openSMILE eGeMAPS, MTCNN face geometry, MiniLM; ``video_pipeline``). Each chapter 01–05 runs through papermill in quick mode with ``DATA_PATH`` pointing at each, as a
reader on Colab would. SDUMC's chapters (02–04) are regression methods: on IEMOCAP they must stop in their
first data cell with one clear error saying so (and pointing at chapter 05), which is asserted too.

One test per chapter runs its formats two at a time, each papermill process in its own kernel with one torch
thread (on a 2-core machine, two single-thread kernels finish sooner than one two-thread kernel after the
other: most of a short run is kernel start-up and imports). Every format's failure is reported by name.
Checkpoints and the text simulator's cache go to this test's temporary folder (``MSA_CHECKPOINT_DIR``,
``MSA_CACHE_DIR``), so no run reuses another's models.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import nbformat
import pytest
import yaml

from conftest import NOTEBOOK_DIR, NOTEBOOK_SECONDS
from msa_lib.data.annotator_story import FORMATS, REGRESSION_FORMATS, write_all

CHAPTERS = {
    "01": "01_data.ipynb",
    "02": "02_teacher_training.ipynb",
    "03": "03_self_distillation.ipynb",
    "04": "04_missing_text_evaluation.ipynb",
    "05": "05_corrkd.ipynb",
}
#: chapters defined for regression (sentiment scores) only: SDUMC's
REGRESSION_ONLY = {"02", "03", "04"}
#: These runs prove that every code path of a chapter works on a format (shapes, metric sets, label ranges,
#: classes), not what the methods reach: two epochs, and one seed where the chapter trains several. The
#: synthetic-default run of tests/test_notebooks.py keeps the chapters' own quick settings.
SHORT = {"02": {"EPOCHS": 2}, "03": {"EPOCHS": 2}, "04": {"EPOCHS": 2, "SEEDS": [0]},
         "05": {"EPOCHS": 2, "SEEDS": [0]}}
PARALLEL = 2


#: the annotator's formats, and the folder chapter 06's video pipeline writes (a regression data set)
ALL_FORMATS = [*FORMATS, "video_pipeline"]
REGRESSION_FORMATS = [*REGRESSION_FORMATS, "video_pipeline"]


def _video_pipeline(root):
    """Chapter 06's path: demo .mp4 videos → build_mertools → a MERTools folder with msa_layout.json."""
    from msa_lib.features import build_mertools, make_demo_videos

    make_demo_videos(root, (12, 6, 6), fps=10, size=160, seed=11)
    build_mertools(root / "videos", root / "features", progress=False)
    return root / "features"


@pytest.fixture(scope="module")
def formats(tmp_path_factory):
    paths = write_all(tmp_path_factory.mktemp("formats"))
    paths["video_pipeline"] = _video_pipeline(tmp_path_factory.mktemp("video_pipeline"))
    return paths


def _error_of(out_path):
    """The first cell with an error output and that output, or ``(None, None)``."""
    if not out_path.exists():
        return None, None
    nb = nbformat.read(out_path, as_version=4)
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error":
                return cell, o
    return None, None


def _outputs_text(out_path) -> str:
    nb = nbformat.read(out_path, as_version=4)
    text = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            text.append(o.get("text", "") if o.get("output_type") == "stream"
                        else str(o.get("data", {}).get("text/plain", "")))
    return "\n".join(text)


def _papermill(chapter: str, out, parameters: dict, tmp_path) -> tuple[int, str]:
    """Run chapter ``chapter`` in a papermill process (venv kernel, quick mode); returns (exit code, stderr)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               MSA_CHECKPOINT_DIR=str(tmp_path / "checkpoints"), MSA_CACHE_DIR=str(tmp_path / "cache"))
    cmd = [sys.executable, "-m", "papermill", str(NOTEBOOK_DIR / CHAPTERS[chapter]), str(out),
           "-k", "python3", "--cwd", str(NOTEBOOK_DIR), "--no-progress-bar",
           "-y", yaml.safe_dump({"QUICK": True, **parameters})]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    NOTEBOOK_SECONDS[f"{CHAPTERS[chapter]} on {out.stem.split('-', 1)[1]}"] = time.perf_counter() - start
    return proc.returncode, proc.stderr


def _check_format(chapter: str, fmt: str, formats, tmp_path) -> str | None:
    """Run one chapter on one format; returns what went wrong, or None."""
    out = tmp_path / f"{chapter}-{fmt}.ipynb"
    rc, stderr = _papermill(chapter, out, {"DATA_PATH": str(formats[fmt]), **SHORT.get(chapter, {})}, tmp_path)
    cell, error = _error_of(out)
    if chapter in REGRESSION_ONLY and fmt not in REGRESSION_FORMATS:
        if error is None:
            return f"{fmt}: expected the chapter to refuse a classification data set, it ran (rc {rc})"
        ok = (error["ename"] == "ChapterDoesNotApply" and f"chapter {chapter} does not apply" in error["evalue"]
              and "Chapter 05" in error["evalue"] and "load_dataset(" in cell.source)
        return None if ok else f"{fmt}: refused with the wrong error in the wrong cell: {error['ename']}: {error['evalue']}"
    if rc != 0 or error is not None:
        if error is None:
            return f"{fmt}: papermill exit {rc}\n{stderr[-3000:]}"
        tb = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", "\n".join(error["traceback"][-8:]))
        return f"{fmt}: cell\n{cell.source[:800]}\n{error['ename']}: {error['evalue']}\n{tb[-3000:]}"
    names = re.findall(r"MSADataset\('([^']+)'", _outputs_text(out))
    if not names or "synthetic_mosei" in names:  # the chapter really used this file, not the synthetic default
        return f"{fmt}: the chapter did not print the loaded data set (or used the synthetic default): {names}"
    return None


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("chapter", list(CHAPTERS))
def test_chapter_runs_on_every_format(chapter, formats, tmp_path):
    with ThreadPoolExecutor(PARALLEL) as pool:
        problems = [p for p in pool.map(lambda f: _check_format(chapter, f, formats, tmp_path), ALL_FORMATS) if p]
    assert not problems, f"chapter {chapter} on {len(problems)} of {len(ALL_FORMATS)} formats:\n\n" + "\n\n".join(problems)


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_simulated_text_switched_off_and_bad_data_path(formats, tmp_path):
    """``SIMULATED_TEXT = "none"``: chapter 02 skips its text_missing condition; chapter 03 says why it stops.
    A DATA_PATH that does not exist fails in chapter 01's first data cell, naming the path."""
    none = {"DATA_PATH": str(formats["mmsa_mosei"]), "SIMULATED_TEXT": "none"}
    missing = tmp_path / "nowhere" / "aligned_50.pkl"
    jobs = [("02", tmp_path / "02-none.ipynb", {**none, **SHORT["02"]}),
            ("03", tmp_path / "03-none.ipynb", none),
            ("01", tmp_path / "01-missing.ipynb", {"DATA_PATH": str(missing)})]
    with ThreadPoolExecutor(PARALLEL) as pool:
        codes = list(pool.map(lambda j: _papermill(j[0], j[1], j[2], tmp_path), jobs))
    assert codes[0][0] == 0, codes[0][1][-3000:]
    text = _outputs_text(jobs[0][1])
    assert "text_missing condition is skipped" in text and "test, text_missing" not in text
    cell, error = _error_of(jobs[1][1])
    assert error is not None and error["ename"] == "ChapterDoesNotApply", error
    assert "SIMULATED_TEXT = 'auto'" in error["evalue"] and "load_dataset(" in cell.source
    cell, error = _error_of(jobs[2][1])
    assert error is not None and error["ename"] == "FileNotFoundError" and str(missing) in error["evalue"]
    assert "load_dataset(" in cell.source
