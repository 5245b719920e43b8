"""Exercises and student versions: the book hides every solution behind a toggle, nbgrader releases the student
versions (``scripts/student_versions.py``, ``make student``), and the autograder cells check answers against
``msa_lib``. All cheap: no kernel.

- the chapters' exercises have the form the book and nbgrader need: a ``{exercise}`` with a unique label, the
  answers inside ``{solution-start}`` / ``{solution-end}`` (a dropdown in the rendered book), unique grade ids,
  autograder cells with visible and hidden tests;
- the released notebooks (the real ``nbgrader generate_assignment``, once per session) contain no line of any
  solution, keep every autograder cell's visible part exactly and drop its hidden tests, and none of the book's
  directives;
- the four "implement it yourself" exercises (masked attention pooling, Rank-N-Contrast, SCD, CPD) are
  self-contained, so their cells run here without the chapter: the solution passes its autograder (hidden tests
  included), the released stub fails it, and so do typical wrong answers.

That the student versions *run* up to their exercises, that every autograder cell fails there and passes once
the solutions are restored, is checked by tests/test_notebooks.py::test_notebook_runs (one run per chapter).
"""

from __future__ import annotations

import re

import nbformat
import pytest
import yaml

from conftest import REPO_ROOT, student_versions_module, tutorial_notebooks

sv = student_versions_module()

NOTEBOOKS = tutorial_notebooks()
IDS = [p.stem for p in NOTEBOOKS]
EXERCISE_HEADING = re.compile(r"^###\s+Exercise\s+(\d+)\b", re.M)
LABEL = re.compile(r"^:label:\s*(\S+)\s*$", re.M)
GATE = re.compile(r"^(`{3,}|:{3,})\{(solution-start|solution-end)\}[ \t]*(\S*)", re.M)
STUB_CODE = "# YOUR CODE HERE\nraise NotImplementedError()"


def _read(path):
    return nbformat.read(path, as_version=4)


def _by_grade_id(nb) -> dict:
    return {sv.nbgrader_meta(c)["grade_id"]: c for c in nb.cells if sv.nbgrader_meta(c).get("grade_id")}


def _exercise_section(nb) -> int:
    return next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"
                and re.search(r"^##\s+Exercises\s*$", c.source, re.M))


# ------------------------------------------------------------------------------------ the chapters' exercises
def test_book_loads_sphinx_exercise():
    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())
    assert "sphinx_exercise" in config["sphinx"].get("extra_extensions", []), (
        "_config.yml: sphinx_exercise must be in sphinx.extra_extensions (the chapters' exercise directives)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_exercises_are_gated_and_graded(path):
    """Each exercise: a heading, an ``{exercise}`` with a label, then its solutions between ``{solution-start}``
    (naming that label, as a dropdown) and ``{solution-end}``; every nbgrader answer cell sits inside such a gate
    (so the rendered book never prints a solution under its question), every autograder cell outside, tagged
    ``hide-input``. Grade ids are unique; each exercise has at least one answer cell."""
    nb = _read(path)
    start = _exercise_section(nb)
    assert sv.first_exercise_cell(nb) > start, f"{path.name}: an nbgrader cell before the Exercises heading"
    sv.graded_cells(nb)  # unique grade ids
    label, open_gate, answers = None, False, {}
    for index, cell in enumerate(nb.cells[start:], start):
        where = f"{path.name} cell {index}"
        if cell.cell_type == "markdown" and not sv.nbgrader_meta(cell):
            # a cell may close one exercise's solution and open the next exercise: read it in order
            events = sorted([(m.start(), "exercise", "") for m in EXERCISE_HEADING.finditer(cell.source)]
                            + [(m.start(), m[2], m[3]) for m in GATE.finditer(cell.source)])
            for position, kind, target in events:
                if kind == "exercise":
                    assert not open_gate, f"{where}: a new exercise inside an open solution"
                    labels = LABEL.findall(cell.source[position:].split("\n###", 1)[0])
                    assert "{exercise}" in cell.source[position:] and len(labels) == 1, (
                        f"{where}: an exercise heading must be followed by one {{exercise}} with a :label:")
                    label = labels[0]
                    assert label.startswith(f"ex-{path.name[:2]}-"), f"{where}: label {label!r} is not ex-NN-*"
                    answers[label] = 0
                elif kind == "solution-start":
                    assert not open_gate and target == label, (
                        f"{where}: {{solution-start}} must name the exercise above ({label!r}), got {target!r}")
                    assert ":class: dropdown" in cell.source, f"{where}: the solution must be a dropdown"
                    open_gate = True
                else:
                    assert open_gate, f"{where}: {{solution-end}} without {{solution-start}}"
                    open_gate = False
            continue
        if sv.is_solution(cell):
            assert open_gate, f"{where}: an answer cell outside {{solution-start}} ... {{solution-end}}"
            assert "solution" in cell.metadata.get("tags", []), f"{where}: answer cells keep the 'solution' tag"
            answers[label] += 1
        elif sv.is_autograder(cell):
            assert not open_gate, f"{where}: an autograder cell inside a solution toggle"
            assert "hide-input" in cell.metadata.get("tags", []), f"{where}: autograder cells are tagged hide-input"
        if "solution" in cell.metadata.get("tags", []):
            assert sv.is_solution(cell), f"{where}: a 'solution' cell without nbgrader answer metadata"
    assert not open_gate, f"{path.name}: a {{solution-start}} is never closed"
    assert answers and all(answers.values()), f"{path.name}: exercises without an answer cell: {answers}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_nbgrader_metadata(path):
    nb = _read(path)
    for grade_id, cell in _by_grade_id(nb).items():
        meta = sv.nbgrader_meta(cell)
        assert meta.get("schema_version") == 3, f"{path.name} {grade_id}: schema_version 3"
        assert grade_id.startswith(f"ex{path.name[:2]}-"), f"{path.name}: grade id {grade_id!r}"
        if meta.get("grade"):
            assert float(meta.get("points", 0)) > 0, f"{path.name} {grade_id}: graded cells need points"
        if sv.is_autograder(cell):
            assert meta.get("locked") is True, f"{path.name} {grade_id}: autograder cells are locked"
            hidden = sv.between(cell.source, sv.BEGIN_HIDDEN, sv.END_HIDDEN)
            visible = sv.without_block(cell.source, sv.BEGIN_HIDDEN, sv.END_HIDDEN)
            assert any(line.strip() for line in hidden), f"{path.name} {grade_id}: no hidden tests"
            assert "assert" in visible, f"{path.name} {grade_id}: no visible assert (the student sees nothing)"
        elif cell.cell_type == "code" and sv.BEGIN_SOLUTION in cell.source:
            assert cell.source.count(sv.BEGIN_SOLUTION) == cell.source.count(sv.END_SOLUTION)
    assert any(sv.is_autograder(c) for c in nb.cells), f"{path.name}: no autograder cell"


def test_exercise_labels_are_unique_across_the_book():
    labels = [label for p in NOTEBOOKS for c in _read(p).cells if c.cell_type == "markdown"
              for label in LABEL.findall(c.source)]
    assert len(labels) == len(set(labels)), f"duplicate exercise labels: {labels}"


# ------------------------------------------------------------------------------------ the released notebooks
def _meaningful(lines) -> set[str]:
    return {s for s in (line.strip() for line in lines) if s and not s.startswith("#")}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_release_has_no_solution_and_keeps_visible_tests(path, released_notebooks):
    source = sv.nbgrader_source(_read(path), path.name)
    release = _read(released_notebooks[path.stem])
    assert [c.cell_type for c in release.cells] == [c.cell_type for c in source.cells]
    released = _by_grade_id(release)
    assert set(released) == set(_by_grade_id(source))
    for grade_id, cell in _by_grade_id(source).items():
        got = released[grade_id].source
        if sv.is_autograder(cell):
            visible = sv.without_block(cell.source, sv.BEGIN_HIDDEN, sv.END_HIDDEN)
            assert got.strip() == visible.strip(), f"{path.name} {grade_id}: the visible tests were changed"
            hidden = _meaningful(sv.between(cell.source, sv.BEGIN_HIDDEN, sv.END_HIDDEN))
            assert not hidden & _meaningful(got.splitlines()) - _meaningful(visible.splitlines())
            assert sv.BEGIN_HIDDEN not in got
        elif cell.cell_type == "markdown":
            assert got == sv.TEXT_STUB, f"{path.name} {grade_id}: a written answer survives"
        elif sv.is_solution(cell):
            if sv.BEGIN_SOLUTION in cell.source:
                solution = sv.between(cell.source, sv.BEGIN_SOLUTION, sv.END_SOLUTION)
                kept = sv.without_block(cell.source, sv.BEGIN_SOLUTION, sv.END_SOLUTION)
            else:
                solution, kept = cell.source.splitlines(), ""
            leaked = _meaningful(solution) & _meaningful(got.splitlines()) - _meaningful(kept.splitlines())
            assert not leaked, f"{path.name} {grade_id}: solution lines in the student version: {leaked}"
            assert sv.CODE_STUB in got and "# YOUR CODE HERE" in got, f"{path.name} {grade_id}: no stub"
            assert _meaningful(kept.splitlines()) <= _meaningful(got.splitlines()), (
                f"{path.name} {grade_id}: the scaffolding around the solution was lost")
    text = "\n".join(c.source for c in release.cells)
    for directive in ("{solution-start}", "{solution-end}", "{exercise}", ":label:"):
        assert directive not in text, f"{path.name}: the book's {directive} is in the student version"
    assert "colab.research.google.com" not in release.cells[0].source and "Student version" in release.cells[0].source
    assert "jupytext" not in release.metadata
    assert all(not c.get("outputs") for c in release.cells if c.cell_type == "code")


def test_source_transform_on_a_toy_notebook():
    nb = nbformat.v4.new_notebook(metadata={"jupytext": {"formats": "ipynb,md:myst"}})
    title = nbformat.v4.new_markdown_cell(
        "# 09 · Toy\n\nYou will learn.\n\n[![Open In Colab](https://colab.research.google.com/assets/colab-badge"
        ".svg)](https://colab.research.google.com/github/o/r/blob/main/notebooks/09_toy.ipynb)")
    question = nbformat.v4.new_markdown_cell(
        "### Exercise 1 · Double it\n\n```{exercise}\n:label: ex-09-1\n:nonumber:\n\nCompute `2 * x`.\n```")
    gate = nbformat.v4.new_markdown_cell("```{solution-start} ex-09-1\n:class: dropdown\n```")
    answer = nbformat.v4.new_code_cell("y = 2 * x", metadata={"nbgrader": {
        "grade": False, "grade_id": "ex09-1-code", "locked": False, "schema_version": 3, "solution": True}})
    end = nbformat.v4.new_markdown_cell("```{solution-end}\n```")
    nb.cells = [title, question, gate, answer, end]
    out = sv.nbgrader_source(nb, "toy")
    assert [c.source for c in out.cells[1:]] == ["### Exercise 1 · Double it\n\nCompute `2 * x`.", "y = 2 * x"]
    assert "colab" not in out.cells[0].source and "Student version" in out.cells[0].source
    assert "jupytext" not in out.metadata and len(nb.cells) == 5  # the input is not modified
    with pytest.raises(ValueError, match="no nbgrader cell"):
        sv.nbgrader_source(nbformat.v4.new_notebook(cells=[title]), "empty")
    twice = nbformat.v4.new_notebook(cells=[answer, nbformat.v4.new_code_cell("z", metadata=answer.metadata)])
    with pytest.raises(ValueError, match="used twice"):
        sv.nbgrader_source(twice, "twice")


# ------------------------------------------------------------------------------------ implement it yourself
#: (chapter, answer cell, autograder cell, the msa_lib function the hidden tests compare with)
IMPLEMENT = [
    ("02", "ex02-3-code", "ex02-3-test", "AttentionPooling"),
    ("03", "ex03-3-code", "ex03-3-test", "rnc_loss"),
    ("05", "ex05-3-code", "ex05-3-test", "scd_loss"),
    ("05", "ex05-4-code", "ex05-4-test", "cpd_loss"),
]
IMPLEMENT_IDS = [answer for _, answer, _, _ in IMPLEMENT]

#: typical wrong answers, as (old, new) replacements in the solution; each must fail the autograder
WRONG = {
    "ex02-3-code": [
        ("s = s.masked_fill(~mask, torch.finfo(s.dtype).min)  # padding never wins", "pass"),  # padding votes
        ("s = scale * (torch.tanh(x @ W.T + b) @ c)", "s = torch.tanh(x @ W.T + b) @ c"),  # no scale
    ],
    "ex03-3-code": [
        ("& other[:, None, :]", ""),  # k = i in the denominator
        ("d[:, None, :] >= d[:, :, None]", "d[:, None, :] > d[:, :, None]"),  # j not in S_ij on ties
        ("-torch.cdist(v, v) / temperature", "-torch.cdist(v, v) * temperature"),
    ],
    "ex05-3-code": [
        ("F.normalize(teacher.detach(), dim=-1)", "F.normalize(teacher, dim=-1)"),  # gradient into the teacher
        ("s = F.normalize(student, dim=-1)", "s = student"),  # not normalised
        ("F.relu(margin - dist[off]).pow(2).mean()", "F.relu(margin - dist[off]).mean()"),  # hinge not squared
    ],
    "ex05-4-code": [
        ("@ F.normalize(prototypes, dim=-1).T", "@ prototypes.T"),  # not a cosine
        (".pow(2).mean()", ".pow(2).sum()"),  # not averaged over N K'
    ],
}


def _cells(chapter: str, released_notebooks=None):
    path = next(p for p in NOTEBOOKS if p.name.startswith(chapter))
    nb = _read(released_notebooks[path.stem]) if released_notebooks is not None else _read(path)
    return _by_grade_id(nb)


def _run(*sources: str) -> dict:
    namespace: dict = {}
    for source in sources:
        exec(compile(source, "<exercise cell>", "exec"), namespace)
    return namespace


def test_four_implement_yourself_exercises():
    assert {c for c, *_ in IMPLEMENT} == {"02", "03", "05"} and len(IMPLEMENT) == 4
    for chapter, answer, test, reference in IMPLEMENT:
        cells = _cells(chapter)
        hidden = "\n".join(sv.between(cells[test].source, sv.BEGIN_HIDDEN, sv.END_HIDDEN))
        assert "assert_close" in hidden, f"{test}: the hidden tests must compare with msa_lib (assert_close)"
        assert reference in cells[test].source and "msa_lib" in cells[test].source, f"{test}: not against msa_lib"
        assert sv.BEGIN_SOLUTION in cells[answer].source, f"{answer}: the scaffold (signature) must stay"


@pytest.mark.parametrize("chapter,answer,test,reference", IMPLEMENT, ids=IMPLEMENT_IDS)
def test_solution_passes_its_autograder(chapter, answer, test, reference):
    cells = _cells(chapter)
    _run(cells[answer].source, cells[test].source)  # the chapter's cells, hidden tests included


@pytest.mark.parametrize("chapter,answer,test,reference", IMPLEMENT, ids=IMPLEMENT_IDS)
def test_released_stub_fails_its_autograder(chapter, answer, test, reference, released_notebooks):
    released, cells = _cells(chapter, released_notebooks), _cells(chapter)
    for grader in (released[test].source, cells[test].source):  # what the student runs, what nbgrader runs
        with pytest.raises(NotImplementedError):
            _run(released[answer].source, grader)


@pytest.mark.parametrize("chapter,answer,test,reference", IMPLEMENT, ids=IMPLEMENT_IDS)
def test_wrong_answers_fail_the_autograder(chapter, answer, test, reference):
    cells = _cells(chapter)
    for old, new in WRONG[answer]:
        assert cells[answer].source.count(old) == 1, f"{answer}: {old!r} not in the solution (update WRONG)"
        wrong = cells[answer].source.replace(old, new)
        with pytest.raises(AssertionError):
            _run(wrong, cells[test].source)


# ------------------------------------------------------------------------------------ the instructors' page
def test_chapter_timings_table(tmp_path):
    """book/instructors.md's table: quick-mode times from the timings file, "—" for a chapter it lacks, the
    full-mode column from the committed results files ("not measured" where none timed the chapter)."""
    import json

    from msa_lib.viz import results as vres

    timings = {"chapters": {NOTEBOOKS[0].stem: {
        "wall_seconds": 75.0, "chapter_seconds": 50.2, "exercises_seconds": 20.0, "git_commit": "0123456789abc",
        "git_dirty": False, "created": "2026-01-02T03:04:05+00:00",
        "environment": {"cuda_device": None, "cpus": 2, "torch": "2.13.0+cpu"}}}}
    path = tmp_path / "chapter_timings.json"
    path.write_text(json.dumps(timings))
    table = vres.chapter_timings_table(path)
    assert list(table.index) == IDS
    first = table.loc[NOTEBOOKS[0].stem]
    assert (first["quick: up to the exercises"], first["quick: both"], first["quick: test run (wall)"]) == (
        "50 s", "1 min 10 s", "1 min 15 s")
    assert (table.loc[NOTEBOOKS[1].stem, "quick: both"]) == "—"
    assert table.loc[next(s for s in IDS if s.startswith("06")), "full mode"] == "not measured"
    note = vres.chapter_timings_note(path)
    assert "commit `0123456789`" in note and "CPU only, 2 CPUs" in note and "2026-01-02" in note
    assert "No quick-mode times" in vres.chapter_timings_note(tmp_path / "absent.json")
    assert vres.duration(3725) == "1 h 02 min" and vres.duration(None) == "—"


def test_committed_chapter_timings_cover_every_chapter():
    from msa_lib.viz import results as vres

    timings = vres.load_chapter_timings(REPO_ROOT / "results" / vres.CHAPTER_TIMINGS)
    assert timings is not None, "results/chapter_timings.json is missing: MSA_RECORD_TIMINGS=1 make test"
    missing = sorted(set(IDS) - set(timings["chapters"]))
    assert not missing, f"no recorded run time for {missing}: MSA_RECORD_TIMINGS=1 make test (and commit the file)"
