"""Student versions (scripts/make_student_versions.py): the solutions are gone and the exercises remain.
That they still run top to bottom is checked by tests/test_notebooks.py::test_notebook_runs."""

from __future__ import annotations

import sys

import nbformat
import pytest

from conftest import REPO_ROOT, tutorial_notebooks

sys.path.insert(0, str(REPO_ROOT / "scripts"))
import make_student_versions as msv  # noqa: E402

NOTEBOOKS = tutorial_notebooks()
IDS = [p.stem for p in NOTEBOOKS]


def _solution_lines(source: str) -> list[str]:
    """The lines of a solution that must not survive: code, not blank lines, comments or markers."""
    lines = []
    inside = msv.BEGIN not in source
    for line in source.splitlines():
        s = line.strip()
        if s.startswith(msv.BEGIN):
            inside = True
            continue
        if s.startswith(msv.END):
            inside = False
            continue
        if inside and s and not s.startswith("#") and s not in ("...", "pass"):
            lines.append(s)
    return lines


# ------------------------------------------------------------------------------- the transform itself
def _toy_notebook():
    nb = nbformat.v4.new_notebook()
    title = nbformat.v4.new_markdown_cell(
        "# 09 · Toy\n\nYou will learn.\n\n[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        "(https://colab.research.google.com/github/o/r/blob/main/notebooks/09_toy.ipynb)")
    ex = nbformat.v4.new_markdown_cell("## Exercises\n\n### Exercise 1: double it\nCompute `2 * x`.")
    sol = nbformat.v4.new_code_cell("x = 21\nanswer = 2 * x\nprint(answer)")
    sol.metadata["tags"] = ["solution"]
    sol.outputs = [nbformat.v4.new_output("stream", text="42\n")]
    sol.execution_count = 3
    partial = nbformat.v4.new_code_cell(
        "def f(x):\n    ### BEGIN SOLUTION\n    return x ** 2\n    ### END SOLUTION\n\nprint(f)")
    partial.metadata["tags"] = ["solution", "hide-input"]
    prose = nbformat.v4.new_markdown_cell("The answer is 42 because ...")
    prose.metadata["tags"] = ["solution"]
    nb.cells = [title, ex, sol, partial, prose]
    nb.metadata["widgets"] = {"state": {}}
    return nb


def test_solution_cells_become_runnable_stubs():
    nb = _toy_notebook()
    student = msv.student_version(nb, "toy")
    assert len(student.cells) == len(nb.cells)
    stub = student.cells[2]
    assert msv.STUB_MARKER in stub.source and "Exercise 1: double it" in stub.source
    assert "answer = 2 * x" not in stub.source
    assert stub.outputs == [] and stub.execution_count is None
    assert stub.metadata["tags"] == ["exercise"]
    compile(stub.source, "stub", "exec")  # the stub is valid Python (it runs as a no-op)
    exec(compile(stub.source, "stub", "exec"), {})


def test_marked_block_is_replaced_and_scaffolding_kept():
    student = msv.student_version(_toy_notebook(), "toy")
    cell = student.cells[3]
    assert "def f(x):" in cell.source and "print(f)" in cell.source
    assert "return x ** 2" not in cell.source and msv.BEGIN not in cell.source
    assert cell.metadata["tags"] == ["exercise", "hide-input"]
    namespace: dict = {}
    exec(compile(cell.source, "stub", "exec"), namespace)
    assert namespace["f"](3) is None  # the stubbed body (`...`) runs as a no-op


def test_prose_answers_removed_badge_dropped_input_untouched():
    nb = _toy_notebook()
    before = nbformat.writes(nb)
    student = msv.student_version(nb, "toy")
    assert student.cells[4].source == msv.ANSWER_REMOVED
    assert "colab.research.google.com" not in student.cells[0].source
    assert "Student version" in student.cells[0].source
    assert "widgets" not in student.metadata
    assert nbformat.writes(nb) == before, "student_version must not modify its input"


def test_unbalanced_markers_and_missing_exercises_are_clear_errors():
    with pytest.raises(ValueError, match="without"):
        msv.stub_code("### BEGIN SOLUTION\nx = 1\n", "task")
    with pytest.raises(ValueError, match="without"):
        msv.stub_code("x = 1\n### END SOLUTION\n", "task")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    with pytest.raises(ValueError, match="no cell tagged 'solution'"):
        msv.student_version(nb, "empty")


# ------------------------------------------------------------------------------- the real notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_has_exercises_with_solutions(path):
    nb = nbformat.read(path, as_version=4)
    solutions = msv.solution_cells(nb)
    assert solutions, f"{path.name}: no cell tagged 'solution' (each chapter ends with exercises and solutions)"
    first = solutions[0]
    text_before = "\n".join(c.source for c in nb.cells[:first] if c.cell_type == "markdown")
    assert "exercise" in text_before.lower(), f"{path.name}: no 'Exercise' heading before the first solution"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_student_version_has_no_solution_code(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    (out,) = msv.write_student_versions(tmp_path, [path])
    student = nbformat.read(out, as_version=4)
    assert len(student.cells) == len(nb.cells)
    for index in msv.solution_cells(nb):
        original, stub = nb.cells[index], student.cells[index]
        if original.cell_type != "code":
            assert stub.source == msv.ANSWER_REMOVED
            continue
        assert msv.STUB_MARKER in stub.source, f"{path.name} cell {index}: no stub"
        stub_lines = {line.strip() for line in stub.source.splitlines()}
        leaked = [line for line in _solution_lines(original.source) if line in stub_lines]
        assert not leaked, f"{path.name} cell {index}: solution lines survive in the student version: {leaked}"
    assert all(not c.get("outputs") for c in student.cells if c.cell_type == "code")


# The student versions are *executed* by tests/test_notebooks.py::test_notebook_runs, which runs each chapter's
# student version top to bottom and then its solved exercises in the same kernel (one run for both).
