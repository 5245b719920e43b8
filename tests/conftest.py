"""Shared test set-up: a quiet, offline, seeded, quick environment, and helpers to find the repository's files.

Every test module may use the fixtures ``repo_root`` and ``notebook_paths``. Environment defaults (only set when
absent, so CI's own values win): ``MSA_QUICK=1`` (notebooks take their quick path), ``TQDM_DISABLE=1``,
``MPLBACKEND=Agg``, ``HF_HUB_OFFLINE=1``, ``TRANSFORMERS_OFFLINE=1``, ``PYTHONHASHSEED=0``, and three fresh temporary
folders: ``MSA_CACHE_DIR`` (the text simulator's cache), ``MSA_CHECKPOINT_DIR`` (checkpoints) and
``MSA_QUICK_RESULTS_DIR`` (quick-mode results files). So a test run never writes into the repository and never
loads a previous run's leftovers. Kernels started by papermill inherit them.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO_ROOT / "notebooks"

for _key, _value in {
    "MSA_QUICK": "1",
    "TQDM_DISABLE": "1",
    "MPLBACKEND": "Agg",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "PYTHONHASHSEED": "0",
}.items():
    os.environ.setdefault(_key, _value)

# The text simulator's cache (msa_lib.data.text_simulator), checkpoints and quick results go to folders of this test
# session, never ~/.cache, notebooks/checkpoints or results/quick.
for _key, _prefix in (("MSA_CACHE_DIR", "msa-test-cache-"), ("MSA_CHECKPOINT_DIR", "msa-test-checkpoints-"),
                      ("MSA_QUICK_RESULTS_DIR", "msa-test-results-")):
    if _key not in os.environ:
        import tempfile

        os.environ[_key] = tempfile.mkdtemp(prefix=_prefix)

if str(REPO_ROOT) not in sys.path:  # `import msa_lib` works from a plain checkout too
    sys.path.insert(0, str(REPO_ROOT))


def tutorial_notebooks() -> list[Path]:
    """``notebooks/NN_*.ipynb``, sorted (a glob, so new chapters are picked up by every test)."""
    return sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def notebook_paths() -> list[Path]:
    return tutorial_notebooks()


# ------------------------------------------------------------------------------------ timing summary
#: name -> seconds, filled by tests that execute notebooks (tests/test_notebooks.py, test_student_versions.py)
NOTEBOOK_SECONDS: dict[str, float] = {}


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # noqa: ARG001 (pytest hook signature)
    if not NOTEBOOK_SECONDS:
        return
    terminalreporter.section("notebook execution times (papermill, quick mode)")
    for name, secs in NOTEBOOK_SECONDS.items():
        terminalreporter.write_line(f"{secs:7.1f} s  {name}")
    terminalreporter.write_line(f"{sum(NOTEBOOK_SECONDS.values()):7.1f} s  total")


# ------------------------------------------------------------------------------------ running notebooks
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

def run_notebook(path: Path, out_path: Path, *, cwd: Path | None = None, parameters: dict | None = None,
                 name: str | None = None, describe=None) -> None:
    """Execute ``path`` with papermill (venv kernel ``python3``, QUICK=True) into ``out_path``.

    Fails the calling test with the failing cell's number, its source and the traceback, instead of
    papermill's long exception. ``cwd`` defaults to the notebook's own folder (as the book build does).
    ``describe(code_ordinal) -> str`` may say which part of a composed notebook a failing cell belongs to
    (``code_ordinal``: the failing cell's position among the input notebook's code cells).
    """
    import time

    import nbformat
    import papermill as pm

    params = {"QUICK": True}
    params.update(parameters or {})
    start = time.perf_counter()
    try:
        pm.execute_notebook(
            str(path), str(out_path),
            parameters=params,
            kernel_name="python3",
            cwd=str(cwd or path.parent),
            execution_timeout=900,   # per cell; the pytest-timeout marker is the backstop for the whole run
            start_timeout=180,
            progress_bar=False,
            log_output=False,
        )
    except pm.PapermillExecutionError as err:
        nb = nbformat.read(out_path, as_version=4) if out_path.exists() else None
        source = ""
        if nb is not None:
            # papermill adds an injected-parameters cell and error banners: count only the original code cells
            code = [c for c in nb.cells
                    if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])]
            for ordinal, cell in enumerate(code):
                if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
                    where = f" in {describe(ordinal)}" if describe else ""
                    source = f"code cell {ordinal}{where} (execution count {err.exec_count}):\n{cell.source}"
                    break
        pytest.fail(
            f"{path.name} failed at {source or f'execution count {err.exec_count}'}\n\n"
            f"{err.ename}: {err.evalue}\n\n" + _ANSI.sub("", "\n".join(err.traceback[-12:])),
            pytrace=False,
        )
    finally:
        NOTEBOOK_SECONDS[name or path.name] = time.perf_counter() - start
