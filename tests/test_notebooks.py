"""Every tutorial notebook runs top to bottom in quick mode, and follows the book's conventions.

- ``test_notebook_runs[NN_name]``: papermill executes ``notebooks/NN_*.ipynb`` with ``QUICK=True`` on the venv's
  ``python3`` kernel, in the notebook's folder (as the book build does), into a temporary file; in the same run
  it proves that the chapter's student version runs (see :func:`solved_and_student`). A failure shows the
  failing cell and the traceback.
- Structure guards (cheap, no kernel): the six chapters exist; each notebook has a title cell ``# NN · Title``
  saying what the reader will learn, a Colab badge pointing at its own path in the repository of ``_config.yml``,
  a set-up cell that installs ``msa_lib`` on Colab without pinning torch, exactly one ``parameters`` cell that
  defines ``QUICK`` from ``MSA_QUICK`` and a seed (``SEED`` or ``SEEDS``), and is stored without outputs.

The glob picks up new notebooks automatically; the guard on the count keeps pytest from ever collecting nothing.
"""

from __future__ import annotations

import ast
import copy
import re
import sys
from pathlib import Path

import nbformat
import pytest

from conftest import NOTEBOOK_DIR, REPO_ROOT, run_notebook, tutorial_notebooks

sys.path.insert(0, str(REPO_ROOT / "scripts"))
import make_student_versions as msv  # noqa: E402
from sync_repo_url import load_repo  # noqa: E402

NOTEBOOKS = tutorial_notebooks()
IDS = [p.stem for p in NOTEBOOKS]
EXPECTED_CHAPTERS = {"01", "02", "03", "04", "05", "06", "07"}
#: a committed notebook larger than this holds outputs or data that belong elsewhere
MAX_NOTEBOOK_BYTES = 500_000

TITLE = re.compile(r"^#\s+(?P<num>\d\d)\s+·\s+\S")
BADGE = re.compile(
    r"\[!\[Open In Colab\]\(https://colab\.research\.google\.com/assets/colab-badge\.svg\)\]\((?P<url>[^)\s]+)\)"
)


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def _python_source(source: str) -> str:
    """Cell source with IPython magics and shell escapes turned into ``pass`` (so ``ast`` can parse it)."""
    lines = []
    for line in source.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            lines.append(line[: len(line) - len(stripped)] + "pass")
        else:
            lines.append(line)
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------- guards
def test_tutorial_notebooks_exist():
    """At least the six chapters 01..06 exist (and pytest never collects zero notebook tests)."""
    assert NOTEBOOKS, f"no notebooks/NN_*.ipynb found in {NOTEBOOK_DIR}"
    numbers = {p.name[:2] for p in NOTEBOOKS}
    missing = sorted(EXPECTED_CHAPTERS - numbers)
    assert not missing, f"chapters missing from notebooks/: {missing} (have {sorted(p.name for p in NOTEBOOKS)})"
    assert len(numbers) == len(NOTEBOOKS), "two notebooks share a chapter number"


def test_every_notebook_is_in_the_toc():
    import yaml

    toc = yaml.safe_load((REPO_ROOT / "_toc.yml").read_text())
    files = set()

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.add(str(node["file"]).removesuffix(".ipynb").removesuffix(".md"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(toc)
    absent = [p.name for p in NOTEBOOKS if f"notebooks/{p.stem}" not in files]
    assert not absent, f"notebooks not listed in _toc.yml (the book would not show them): {absent}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_title_cell(path):
    first = _read(path).cells[0]
    assert first.cell_type == "markdown", f"{path.name}: cell 1 must be the markdown title cell"
    title = first.source.splitlines()[0] if first.source else ""
    match = TITLE.match(title)
    assert match, f"{path.name}: cell 1 must start with '# NN · Title', got {title!r}"
    assert match["num"] == path.name[:2], f"{path.name}: title number {match['num']} != file number"
    assert re.search(r"\blearn", first.source, re.I), f"{path.name}: the title cell must say what the reader will learn"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_colab_badge_points_at_this_notebook(path):
    repo = load_repo()
    first = _read(path).cells[0]
    badges = BADGE.findall(first.source)
    assert badges, f"{path.name}: no 'Open In Colab' badge in the title cell"
    expected = repo.colab_url(path.relative_to(REPO_ROOT).as_posix())
    assert badges == [expected], (
        f"{path.name}: badge points at {badges}, expected {expected} (run `make sync-url`)"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_setup_cell_installs_on_colab_without_pinning_torch(path):
    repo = load_repo()
    nb = _read(path)
    setup = _code_cells(nb)[0].source
    assert "google.colab" in setup, f"{path.name}: the first code cell must detect Colab ('google.colab')"
    assert re.search(r"%pip install\b", setup), f"{path.name}: the set-up cell must `%pip install` msa_lib on Colab"
    assert f"msa_lib @ {repo.pip_spec}" in setup, (
        f"{path.name}: the set-up cell must install \"msa_lib @ {repo.pip_spec}\" (run `make sync-url`)"
    )
    for cell in _code_cells(nb):
        assert not re.search(r"\btorch\s*==", cell.source), (
            f"{path.name}: never pin torch with '==' (Colab's CUDA torch would be replaced): {cell.source!r}"
        )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_one_parameters_cell_defining_quick(path):
    nb = _read(path)
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: expected exactly one cell tagged 'parameters', found {len(tagged)}"
    cell = nb.cells[tagged[0]]
    assert cell.cell_type == "code", f"{path.name}: the 'parameters' cell must be a code cell"
    assert tagged[0] == 2, f"{path.name}: the parameters cell must be cell 3 (title, set-up, parameters)"
    tree = ast.parse(_python_source(cell.source))
    assigned = {t.id for node in ast.walk(tree) if isinstance(node, (ast.Assign, ast.AnnAssign))
                for t in (node.targets if isinstance(node, ast.Assign) else [node.target]) if isinstance(t, ast.Name)}
    assert "QUICK" in assigned, f"{path.name}: the parameters cell must define QUICK"
    assert assigned & {"SEED", "SEEDS"}, f"{path.name}: the parameters cell must define SEED or SEEDS (seeds everywhere)"
    assert "MSA_QUICK" in cell.source, f"{path.name}: QUICK's default must read the MSA_QUICK environment variable"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_stored_without_outputs(path):
    size = path.stat().st_size
    assert size <= MAX_NOTEBOOK_BYTES, f"{path.name}: {size} bytes > {MAX_NOTEBOOK_BYTES}; strip outputs"
    nb = _read(path)
    with_outputs = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not with_outputs, (
        f"{path.name}: cells {with_outputs} have stored outputs; commit notebooks stripped "
        "(the book build executes them): e.g. `jupyter nbconvert --clear-output --inplace`"
    )
    assert "widgets" not in nb.metadata, f"{path.name}: stored widget state in metadata; strip it"


# ----------------------------------------------------------------------------------------------- runs
def solved_and_student(path: Path) -> tuple[nbformat.NotebookNode, int]:
    """One notebook that proves both versions of a chapter run, for the price of one run.

    The student version (``scripts/make_student_versions.py``) equals the solved chapter up to the first
    ``solution`` cell; after it, solutions are stubs. We execute the student version top to bottom, then, in the
    same kernel, the solved chapter from its first solution cell to the end. Every cell of the solved chapter
    thus runs after exactly the state it runs after in a clean top-to-bottom run, plus harmless stubs (``...``);
    and the student version runs top to bottom on its own. Returns the notebook and the index of its first
    solved-suffix cell (``len(cells)`` when the chapter has no solution cells).
    """
    nb = _read(path)
    solutions = msv.solution_cells(nb)
    if not solutions:
        return nb, len(nb.cells)
    student = msv.student_version(nb, path.name)
    marker = nbformat.v4.new_markdown_cell("<!-- test: the solved exercises follow, in the same kernel -->")
    combined = copy.deepcopy(student)
    combined.cells = list(student.cells) + [marker] + copy.deepcopy(nb.cells[solutions[0]:])
    return combined, len(student.cells) + 1


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_runs(path, tmp_path):
    """The chapter and its student version run top to bottom in quick mode (see :func:`solved_and_student`)."""
    combined, solved_from = solved_and_student(path)
    source = tmp_path / f"combined_{path.name}"
    nbformat.write(combined, source)
    out = tmp_path / path.name
    n_student_code = sum(c.cell_type == "code" for c in combined.cells[:solved_from])
    first_solution = next((i for i, c in enumerate(combined.cells[:solved_from])  # the first stub
                           if msv.EXERCISE_TAG in c.get("metadata", {}).get("tags", [])), solved_from)
    n_before_exercises = sum(c.cell_type == "code" for c in combined.cells[:first_solution])

    def describe(code_ordinal: int) -> str:
        if solved_from == len(combined.cells):
            return "the chapter"
        if code_ordinal >= n_student_code:
            return f"the solved exercises (code cell {code_ordinal - n_student_code} after the first solution)"
        if code_ordinal >= n_before_exercises:
            return (f"the student version's exercise section (code cell {code_ordinal}): does a later cell "
                    "use the answer of an exercise?")
        return f"code cell {code_ordinal} (before the exercises, the same in the chapter and its student version)"

    run_notebook(source, out, cwd=path.parent, name=path.name, describe=describe)
    executed = _read(out)
    errors = [c for c in _code_cells(executed) if any(o.get("output_type") == "error" for o in c.outputs)]
    assert not errors, f"{path.name}: cells with error outputs: {[c.source[:80] for c in errors]}"
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "QUICK = True" in injected[0].source, f"{path.name}: papermill did not inject QUICK=True"
    n_solved = len(combined.cells) - solved_from
    n_solved_code = sum(c.cell_type == "code" for c in combined.cells[solved_from:])
    code = [c for c in executed.cells if c.cell_type == "code"]
    assert n_solved == 0 or all(c.execution_count for c in code[-n_solved_code:]), (
        f"{path.name}: the solved exercises did not all run")
