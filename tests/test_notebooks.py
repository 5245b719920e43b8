"""Every tutorial notebook runs top to bottom in quick mode, and follows the book's conventions.

- ``test_notebook_runs[NN_name]``: papermill executes ``notebooks/NN_*.ipynb`` with ``QUICK=True`` on the venv's
  ``python3`` kernel, in the notebook's folder (as the book build does), into a temporary file; in the same run
  it proves that the chapter's nbgrader student version runs up to its exercises and that its autograder cells
  fail without the solutions and pass with them (see :func:`solved_and_student`). A failure shows the failing
  cell and the traceback. With ``MSA_RECORD_TIMINGS=1`` it records the chapter's run time in
  ``results/chapter_timings.json`` (the table of book/instructors.md).
- Structure guards (cheap, no kernel): the six chapters exist; each notebook has a title cell ``# NN · Title``
  saying what the reader will learn, a Colab badge pointing at its own path in the repository of ``_config.yml``,
  a set-up cell that installs ``msa_lib`` on Colab without pinning torch, exactly one ``parameters`` cell that
  defines ``QUICK`` from ``MSA_QUICK`` and a seed (``SEED`` or ``SEEDS``), and is stored without outputs.

The glob picks up new notebooks automatically; the guard on the count keeps pytest from ever collecting nothing.
"""

from __future__ import annotations

import ast
import copy
import os
import re
import sys
from pathlib import Path

import nbformat
import pytest

from conftest import (
    NOTEBOOK_DIR,
    NOTEBOOK_SECONDS,
    REPO_ROOT,
    run_notebook,
    student_versions_module,
    tutorial_notebooks,
)

sys.path.insert(0, str(REPO_ROOT / "scripts"))
from sync_repo_url import load_repo  # noqa: E402

sv = student_versions_module()  # scripts/student_versions.py: nbgrader releases

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


def _needs(nb) -> tuple[set[str], set[str]]:
    """What a chapter needs beyond ``msa_lib``, read off its code: (pip extras, Debian packages)."""
    code = "\n".join(c.source for c in _code_cells(nb)[1:])
    extras = {"features"} if re.search(r"\bmsa_lib\.features\b", code) else set()
    apt = {"espeak-ng"} if re.search(r"\bespeak", code) else set()
    return extras, apt


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_setup_cell_installs_on_colab_without_pinning_torch(path):
    """Cell 2 installs, on Colab only, exactly what the chapter needs: ``msa_lib`` from the repository of
    ``_config.yml`` with the extras its code imports (``msa_lib.features`` -> ``[features]``), the Debian packages
    it calls (espeak-ng), and never torch or ipywidgets (Colab's own builds stay)."""
    repo = load_repo()
    nb = _read(path)
    setup = _code_cells(nb)[0].source
    assert "google.colab" in setup, f"{path.name}: the first code cell must detect Colab ('google.colab')"
    assert f'MSA_LIB = "{repo.pip_spec}"' in setup, (
        f"{path.name}: the set-up cell must set MSA_LIB = \"{repo.pip_spec}\" (run `make sync-url`)")
    installs = re.findall(r'%pip install -q "msa_lib(?:\[(?P<extras>[a-z,]+)\])? @ \{MSA_LIB\}"', setup)
    assert len(installs) == 1, f"{path.name}: the set-up cell must `%pip install -q \"msa_lib[...] @ {{MSA_LIB}}\"` once"
    extras, apt = _needs(nb)
    assert set(filter(None, installs[0].split(","))) == extras, (
        f"{path.name}: installs extras {installs[0] or 'none'}, its code needs {sorted(extras) or 'none'}")
    installed_apt = set(re.findall(r"apt-get -qq install -y ([\w.-]+)", setup))
    assert installed_apt == apt, f"{path.name}: apt installs {sorted(installed_apt)}, its code needs {sorted(apt)}"
    for cell in _code_cells(nb):
        assert not re.search(r"\btorch\s*==", cell.source), (
            f"{path.name}: never pin torch with '==' (Colab's CUDA torch would be replaced): {cell.source!r}"
        )
    assert not re.search(r"%pip install[^\n]*\b(torch|ipywidgets)\b", setup), (
        f"{path.name}: keep Colab's torch and ipywidgets (see book/instructors.md)")


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
#: set to 1 (or a file path) to record each chapter's run time in results/chapter_timings.json (book/instructors.md)
TIMINGS_ENV = "MSA_RECORD_TIMINGS"
TIMINGS_FILE = REPO_ROOT / "results" / "chapter_timings.json"


def _role(cell) -> str | None:
    """``"autograder"`` (an nbgrader test cell), ``"answer"`` (a code cell the student writes) or None."""
    if cell.cell_type != "code":
        return None
    if sv.is_autograder(cell):
        return "autograder"
    return "answer" if sv.is_solution(cell) else None


def solved_and_student(path: Path, released: Path) -> tuple[nbformat.NotebookNode, int]:
    """One notebook that proves both versions of a chapter work, for the price of one run.

    ``released`` is the chapter's student version as ``nbgrader generate_assignment`` releases it
    (``scripts/student_versions.py``): the chapter up to its first nbgrader cell, then the exercises with every
    answer stubbed (``raise NotImplementedError()``) and the autograder cells without their hidden tests. We run
    it top to bottom, its answer and autograder cells tagged ``raises-exception`` so that the run goes on past
    them; then, in the same kernel, the solved chapter from its first nbgrader cell to the end, hidden tests
    included. Every solved cell thus runs after exactly the state it runs after in a clean top-to-bottom run,
    plus the stubs. Each code cell carries ``metadata.msa_test = {"part": "chapter" | "student" | "solved",
    "role": "answer" | "autograder" | None}`` for :func:`test_notebook_runs`. Returns the notebook and the index
    of its first solved cell (``len(cells)`` when the chapter has no nbgrader cell).
    """
    nb = _read(path)
    first = sv.first_exercise_cell(nb)
    if first is None:
        return nb, len(nb.cells)
    student = _read(released)
    first_student = sv.first_exercise_cell(student)
    for index, cell in enumerate(student.cells):
        role = _role(cell)
        part = "chapter" if first_student is None or index < first_student else "student"
        cell.metadata["msa_test"] = {"part": part, "role": role}
        if role is not None:
            tags = cell.metadata.setdefault("tags", [])
            if "raises-exception" not in tags:
                tags.append("raises-exception")
    solved = copy.deepcopy(nb.cells[first:])
    for index, cell in enumerate(solved):
        cell.metadata["msa_test"] = {"part": "solved", "role": _role(cell)}
        cell["id"] = f"solved-{index}"  # the released copies keep the chapter's ids; ids must be unique
    marker = nbformat.v4.new_markdown_cell("<!-- test: the solved exercises follow, in the same kernel -->")
    combined = copy.deepcopy(student)
    combined.cells = list(student.cells) + [marker] + solved
    return combined, len(student.cells) + 1


def _errors(cell) -> list:
    return [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]


def _grade_id(cell) -> str:
    return str(sv.nbgrader_meta(cell).get("grade_id", "?"))


def record_timing(path: Path, executed: nbformat.NotebookNode, wall_seconds: float,
                  target: Path = TIMINGS_FILE) -> dict:
    """Add this run's times of ``path`` to ``target`` (JSON; other chapters' entries are kept): wall time, and the
    papermill cell durations of the chapter up to its exercises and of its solved exercises, with the commit and
    the machine they were measured on. Read by :func:`msa_lib.viz.results.chapter_timings_table`."""
    import datetime
    import json

    from msa_lib.provenance import environment, git_state

    seconds = {"chapter": 0.0, "student": 0.0, "solved": 0.0}
    for cell in _code_cells(executed):
        part = cell.metadata.get("msa_test", {}).get("part", "chapter")  # papermill's injected cell: chapter
        seconds[part] += float(cell.metadata.get("papermill", {}).get("duration") or 0.0)
    git = git_state()
    entry = {
        "quick": True,
        "wall_seconds": round(wall_seconds, 1),
        "chapter_seconds": round(seconds["chapter"], 1),
        "exercises_seconds": round(seconds["solved"], 1),
        "student_stubs_seconds": round(seconds["student"], 1),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git.get("commit"),
        "git_dirty": git.get("dirty"),
        "environment": environment(),
    }
    data = json.loads(target.read_text()) if target.is_file() else {}
    data["about"] = (
        "Quick-mode run times of each chapter, written by tests/test_notebooks.py::test_notebook_runs when "
        f"{TIMINGS_ENV} is set (`{TIMINGS_ENV}=1 make test`). wall_seconds: the whole test run of the chapter "
        "(kernel start, the student version, then the solved exercises); chapter_seconds: its cells up to the "
        "exercises; exercises_seconds: the solved exercises (papermill's cell durations).")
    data.setdefault("chapters", {})[path.stem] = entry
    data["chapters"] = dict(sorted(data["chapters"].items()))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data, indent=2) + "\n")
    return entry


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_runs(path, tmp_path, released_notebooks):
    """The chapter runs top to bottom in quick mode with its solutions, and its nbgrader student version runs up
    to the exercises, where every autograder cell fails without the solutions and passes with them (one run, see
    :func:`solved_and_student`)."""
    combined, solved_from = solved_and_student(path, released_notebooks[path.stem])
    source = tmp_path / f"combined_{path.name}"
    nbformat.write(combined, source)
    out = tmp_path / path.name
    parts = [c.metadata.get("msa_test", {}).get("part") for c in _code_cells(combined)]
    n_chapter, n_student = parts.count("chapter"), parts.count("student")

    def describe(code_ordinal: int) -> str:
        if solved_from == len(combined.cells):
            return "the chapter"
        if code_ordinal >= n_chapter + n_student:
            return f"the solved exercises (code cell {code_ordinal - n_chapter - n_student} of them)"
        if code_ordinal >= n_chapter:
            return (f"the student version's exercise section (code cell {code_ordinal}), in a cell that is "
                    "neither an answer nor an autograder: does it use the answer of an exercise?")
        return f"code cell {code_ordinal} (before the exercises, the same in the chapter and its student version)"

    run_notebook(source, out, cwd=path.parent, name=path.name, describe=describe, for_book=path,
                 allow_tagged_errors=True)
    executed = _read(out)
    code = _code_cells(executed)
    meta = [c.metadata.get("msa_test", {}) for c in code]
    unexpected = [c.source[:80] for c, m in zip(code, meta)
                  if _errors(c) and not (m.get("part") == "student" and m.get("role"))]
    assert not unexpected, f"{path.name}: cells with error outputs: {unexpected}"
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "QUICK = True" in injected[0].source, f"{path.name}: papermill did not inject QUICK=True"
    student_tests = [c for c, m in zip(code, meta) if m == {"part": "student", "role": "autograder"}]
    solved_tests = [c for c, m in zip(code, meta) if m == {"part": "solved", "role": "autograder"}]
    passing = [_grade_id(c) for c in student_tests if not _errors(c)]
    assert not passing, (
        f"{path.name}: autograder cells {passing} pass in the student version, without any solution: "
        "they would give points for nothing")
    assert [_grade_id(c) for c in solved_tests] == [_grade_id(c) for c in student_tests], (
        f"{path.name}: the released notebook and the chapter do not have the same autograder cells")
    solved = [c for c, m in zip(code, meta) if m.get("part") == "solved"]
    assert all(c.execution_count for c in solved), f"{path.name}: the solved exercises did not all run"
    if os.environ.get(TIMINGS_ENV, "0") not in ("", "0"):
        value = os.environ[TIMINGS_ENV]
        record_timing(path, executed, NOTEBOOK_SECONDS[path.name],
                      TIMINGS_FILE if value == "1" else Path(value))
