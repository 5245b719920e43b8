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
    if BOOK_CACHE_STORED:
        kept = sorted(k for k, v in BOOK_CACHE_STORED.items() if v)
        missed = sorted(k for k, v in BOOK_CACHE_STORED.items() if not v)
        terminalreporter.write_line(f"stored for the book build ({os.environ.get('MSA_BOOK_CACHE')}): {len(kept)} "
                                    f"chapter(s)" + (f"; not stored (cells did not match): {missed}" if missed else ""))


# ------------------------------------------------------------------------------------ running notebooks
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

def run_notebook(path: Path, out_path: Path, *, cwd: Path | None = None, parameters: dict | None = None,
                 name: str | None = None, describe=None, for_book: Path | None = None,
                 allow_tagged_errors: bool = False) -> None:
    """Execute ``path`` with papermill (venv kernel ``python3``, QUICK=True) into ``out_path``.

    Fails the calling test with the failing cell's number, its source and the traceback, instead of
    papermill's long exception. ``cwd`` defaults to the notebook's own folder (as the book build does).
    ``describe(code_ordinal) -> str`` may say which part of a composed notebook a failing cell belongs to
    (``code_ordinal``: the failing cell's position among the input notebook's code cells).

    ``allow_tagged_errors``: cells tagged ``raises-exception`` may end in an error (nbclient goes on after them;
    papermill still raises at the end, which is caught here); any other error fails the test. The caller checks
    the tagged cells' outputs itself (tests/test_notebooks.py: the student version's autograder cells must fail).

    ``for_book``: the committed chapter this run executes (default parameters only). When ``MSA_BOOK_CACHE`` names
    a folder (``make test BOOK_REUSE=1``, CI), the kernel draws figures with the book's inline backend and the
    chapter's outputs are stored there for the book build to reuse (``scripts/book_cache.py``).
    """
    import time

    import nbformat
    import papermill as pm

    params = {"QUICK": True}
    params.update(parameters or {})
    book_cache = _book_cache() if for_book is not None and not parameters else None
    backend = os.environ.get("MPLBACKEND")
    if book_cache is not None:  # the kernel inherits it; this process's matplotlib has chosen its backend already
        os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
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
        source, unexpected = "", nb is None
        if nb is not None:
            # papermill adds an injected-parameters cell and error banners: count only the original code cells
            code = [c for c in nb.cells
                    if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])]
            for ordinal, cell in enumerate(code):
                errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
                if not errors or (allow_tagged_errors and "raises-exception" in cell.metadata.get("tags", [])):
                    continue
                where = f" in {describe(ordinal)}" if describe else ""
                source = f"code cell {ordinal}{where} (execution count {cell.get('execution_count')}):\n{cell.source}"
                err.ename, err.evalue, err.traceback = errors[0].ename, errors[0].evalue, errors[0].traceback
                unexpected = True
                break
        if unexpected or not allow_tagged_errors:
            pytest.fail(
                f"{path.name} failed at {source or f'execution count {err.exec_count}'}\n\n"
                f"{err.ename}: {err.evalue}\n\n" + _ANSI.sub("", "\n".join(err.traceback[-12:])),
                pytrace=False,
            )
    finally:
        NOTEBOOK_SECONDS[name or path.name] = time.perf_counter() - start
        if book_cache is not None:
            if backend is None:
                os.environ.pop("MPLBACKEND", None)
            else:
                os.environ["MPLBACKEND"] = backend
    if book_cache is not None:
        stored = book_cache.store(for_book, nbformat.read(out_path, as_version=4))
        BOOK_CACHE_STORED[for_book.name] = stored


#: chapter -> stored in the book's cache (True) or not (cells could not be matched: the book executes it)
BOOK_CACHE_STORED: dict[str, bool] = {}
_BOOK_CACHE_STARTED: list = []


def _book_cache():
    """``scripts/book_cache.py`` when ``MSA_BOOK_CACHE`` is set (emptied and stamped once per session), else None."""
    if not os.environ.get("MSA_BOOK_CACHE"):
        return None
    book_cache = scripts_module("book_cache")
    if not _BOOK_CACHE_STARTED:
        _BOOK_CACHE_STARTED.append(book_cache.start())
    return book_cache


# ------------------------------------------------------------------------------------ student versions
def scripts_module(name: str):
    """``scripts/<name>.py``, imported (``scripts/`` goes on ``sys.path`` once)."""
    import importlib

    if str(REPO_ROOT / "scripts") not in sys.path:
        sys.path.insert(0, str(REPO_ROOT / "scripts"))
    return importlib.import_module(name)


def student_versions_module():
    """``scripts/student_versions.py`` (nbgrader releases of the chapters), imported."""
    return scripts_module("student_versions")


@pytest.fixture(scope="session")
def released_notebooks(tmp_path_factory) -> dict[str, Path]:
    """Every chapter's student version, released once per session (about 10 s for all) by the real
    ``nbgrader generate_assignment`` (``scripts/student_versions.py``, as ``make student`` does) into a
    temporary course folder: ``{chapter stem: released notebook}``."""
    return student_versions_module().release(course=tmp_path_factory.mktemp("nbgrader-course"), out=None)
