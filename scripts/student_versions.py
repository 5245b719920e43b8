#!/usr/bin/env python
"""Student versions of the chapters, made by nbgrader (``make student``).

The solved chapters in ``notebooks/`` are the only notebooks anybody edits. Their exercise cells carry nbgrader
metadata (schema 3), written in the chapters' ``.md`` files as code-cell options:

- a **solution** cell (``solution: true``): code between ``### BEGIN SOLUTION`` / ``### END SOLUTION`` (or the
  whole cell) becomes ``# YOUR CODE HERE`` / ``raise NotImplementedError()``; a markdown solution cell (a
  written answer) becomes ``YOUR ANSWER HERE``;
- an **autograder** cell (``grade: true, solution: false, locked: true, points: N``): its visible asserts stay,
  the asserts between ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS`` go (they come back when nbgrader
  autogrades a submission).

This script does what nbgrader cannot know about the book, then lets nbgrader do the rest:

1. ``source/<chapter>/<chapter>.ipynb`` of an nbgrader course folder (default ``build/nbgrader``) is the solved
   chapter without what only the rendered book needs: the ``{solution-start}`` / ``{solution-end}`` markdown
   cells (the book's toggles) are dropped, ``{exercise}`` directives are unwrapped to their text, the Colab
   badge (it opens the *solved* chapter) becomes a note saying that this is the student version, outputs and
   jupytext metadata are cleared. One assignment per chapter, named after it (``02_teacher_training``).
2. ``nbgrader generate_assignment <chapter> --force`` (the real one, through ``nbgrader.apps.NbGraderAPI``)
   writes ``release/<chapter>/<chapter>.ipynb`` and records the assignment in the course's ``gradebook.db``.
3. The released notebooks are copied to ``build/student/`` (flat, with a ``README.md``).

Usage::

    python scripts/student_versions.py                          # all chapters -> build/nbgrader, build/student
    python scripts/student_versions.py --course ~/course        # your own nbgrader course folder
    python scripts/student_versions.py --chapters 02 05         # some chapters only

The course folder is never emptied: only ``source/<chapter>`` and ``release/<chapter>`` of the chapters released
are rewritten (submissions, ``autograded/`` and ``feedback/`` are left alone). ``book/instructors.md`` says how to
release, collect and grade with it.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import shutil
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
DEFAULT_COURSE = ROOT / "build" / "nbgrader"
DEFAULT_OUT = ROOT / "build" / "student"

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
#: what nbgrader puts in place of a solution (its ClearSolutions defaults)
CODE_STUB, TEXT_STUB = "raise NotImplementedError()", "YOUR ANSWER HERE"

BADGE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)\s*")
# a fenced directive: ```{name} ... ``` or :::{name} ... ::: (group 1: the fence, 2: the name, 3: the body)
_DIRECTIVE = r"^(?P<fence>`{3,}|:{3,})\{(?P<name>%s)\}[^\n]*\n(?P<body>.*?)^(?P=fence)[ \t]*$\n?"
SOLUTION_GATES = re.compile(_DIRECTIVE % "solution-start|solution-end", re.M | re.S)
EXERCISE = re.compile(_DIRECTIVE % "exercise", re.M | re.S)
OPTION = re.compile(r"^:[\w-]+:.*$\n?", re.M)

NBGRADER_CONFIG = '''\
# nbgrader configuration of the msa-missing-book course folder (written by scripts/student_versions.py;
# edit freely, it is not overwritten). See book/instructors.md.
c = get_config()
c.CourseDirectory.course_id = "msa-missing-book"
# one assignment per chapter, one notebook per assignment: source/02_teacher_training/02_teacher_training.ipynb
# autograding executes a whole chapter (quick mode trains small models): allow minutes per cell
c.Execute.timeout = 900
'''


# ----------------------------------------------------------------------------------------- cell helpers
def tutorial_notebooks(folder: Path = NOTEBOOKS) -> list[Path]:
    return sorted(folder.glob("[0-9][0-9]_*.ipynb"))


def nbgrader_meta(cell) -> dict:
    return dict(cell.get("metadata", {}).get("nbgrader", {}))


def is_solution(cell) -> bool:
    """An answer cell: code or markdown the student writes (nbgrader ``solution: true``)."""
    return bool(nbgrader_meta(cell).get("solution"))


def is_autograder(cell) -> bool:
    """An autograder test cell (nbgrader ``grade: true, solution: false``, code)."""
    meta = nbgrader_meta(cell)
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def graded_cells(nb) -> dict[str, int]:
    """``grade_id -> cell index`` of every nbgrader cell (raises on a duplicate id)."""
    ids: dict[str, int] = {}
    for index, cell in enumerate(nb.cells):
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id is None:
            continue
        if grade_id in ids:
            raise ValueError(f"grade_id {grade_id!r} is used twice (cells {ids[grade_id]} and {index})")
        ids[grade_id] = index
    return ids


def first_exercise_cell(nb) -> int | None:
    """Index of the first nbgrader cell (where the exercises, as the autograder sees them, start)."""
    return next((i for i, c in enumerate(nb.cells) if nbgrader_meta(c)), None)


def _split_blocks(source: str, begin: str, end: str) -> tuple[list[str], list[str]]:
    """(lines strictly inside the ``begin`` ... ``end`` blocks, lines outside them), markers in neither."""
    inside_lines, outside_lines, inside = [], [], False
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith(begin):
            inside = True
        elif stripped.startswith(end):
            inside = False
        else:
            (inside_lines if inside else outside_lines).append(line)
    return inside_lines, outside_lines


def between(source: str, begin: str, end: str) -> list[str]:
    """The lines strictly between ``begin`` and ``end`` markers (every such block)."""
    return _split_blocks(source, begin, end)[0]


def without_block(source: str, begin: str, end: str) -> str:
    """``source`` without the ``begin`` ... ``end`` blocks (markers included)."""
    return "\n".join(_split_blocks(source, begin, end)[1])


# ----------------------------------------------------------------------------------------- book -> source
def unwrap_exercises(text: str) -> str:
    """``{exercise}`` directives -> their body (options such as ``:label:`` dropped)."""
    return EXERCISE.sub(lambda m: OPTION.sub("", m["body"]).strip("\n") + "\n", text)


def nbgrader_source(nb: nbformat.NotebookNode, name: str = "") -> nbformat.NotebookNode:
    """The chapter as nbgrader's ``source/`` holds it (a new notebook; see the module docstring)."""
    out = copy.deepcopy(nb)
    graded_cells(out)  # duplicate grade ids are an error here, with the cells named
    if first_exercise_cell(out) is None:
        raise ValueError(f"{name or 'notebook'}: no nbgrader cell (every chapter ends with graded exercises)")
    cells = []
    for cell in out.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        elif cell.cell_type == "markdown" and not nbgrader_meta(cell):
            text = unwrap_exercises(SOLUTION_GATES.sub("", cell.source)).strip()
            if not text:
                continue  # a cell that only opened or closed a solution toggle of the book
            cell.source = text
        cells.append(cell)
    out.cells = cells
    title = out.cells[0]
    if title.cell_type == "markdown":
        title.source = (
            BADGE.sub("", title.source).rstrip()
            + "\n\n> **Student version** (released with nbgrader from the solved chapter of the book). Write your "
            "code where a cell says `YOUR CODE HERE` (delete the `raise NotImplementedError()`) and your answers "
            "where one says `YOUR ANSWER HERE`; the cells with `assert`s check your code (run them, or press "
            "*Validate*). Everything before the exercises runs as it is."
        )
    for key in ("jupytext", "widgets"):
        out.metadata.pop(key, None)
    return out


# ----------------------------------------------------------------------------------------- nbgrader
def _nbgrader_api(course: Path):
    # nbgrader creates its gradebook with the `alembic` command: make the one next to this Python findable
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    config = Config()
    config.CourseDirectory.root = str(course)
    config.CourseDirectory.course_id = "msa-missing-book"
    coursedir = CourseDirectory(config=config)
    return NbGraderAPI(coursedir=coursedir, config=config)


def release(chapters: list[Path] | None = None, course: Path = DEFAULT_COURSE,
            out: Path | None = DEFAULT_OUT) -> dict[str, Path]:
    """Write nbgrader's ``source/`` for ``chapters`` (default: all), run ``generate_assignment`` on each, copy the
    released notebooks to ``out`` (when not None). Returns ``chapter stem -> released notebook``."""
    chapters = tutorial_notebooks() if chapters is None else list(chapters)
    if not chapters:
        raise SystemExit(f"student_versions: no notebooks/NN_*.ipynb in {NOTEBOOKS}")
    course = Path(course).resolve()
    course.mkdir(parents=True, exist_ok=True)
    config_file = course / "nbgrader_config.py"
    if not config_file.exists():
        config_file.write_text(NBGRADER_CONFIG)
    for path in chapters:
        folder = course / "source" / path.stem
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        nbformat.write(nbgrader_source(nbformat.read(path, as_version=4), path.name), folder / path.name)
    api = _nbgrader_api(course)
    released: dict[str, Path] = {}
    for path in chapters:
        result = api.generate_assignment(path.stem, force=True, create=True)
        target = course / "release" / path.stem / path.name
        if not result.get("success") or not target.is_file():
            raise RuntimeError(f"nbgrader generate_assignment {path.stem} failed:\n"
                               f"{result.get('log', '')}\n{result.get('error', '')}")
        released[path.stem] = target
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        lines = ["# Student versions", "",
                 ("Released by `nbgrader generate_assignment` (`make student`, scripts/student_versions.py) from "
                  "the solved chapters; the nbgrader course folder they come from (with `gradebook.db`) is "
                  f"`{_show(course)}`."), ""]
        for stem, src in released.items():
            dest = out / src.name
            shutil.copyfile(src, dest)
            nb = nbformat.read(src, as_version=4)
            n_code = sum(is_solution(c) and c.cell_type == "code" for c in nb.cells)
            n_text = sum(is_solution(c) and c.cell_type == "markdown" for c in nb.cells)
            n_tests = sum(is_autograder(c) for c in nb.cells)
            points = sum(float(nbgrader_meta(c).get("points", 0)) for c in nb.cells)
            lines.append(f"- `{dest.name}`: {n_code} code answer(s), {n_text} written answer(s), "
                         f"{n_tests} autograder cell(s), {points:g} points")
            released[stem] = dest
        (out / "README.md").write_text("\n".join(lines) + "\n")
    return released


def _show(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def _select(numbers: list[str] | None) -> list[Path]:
    every = tutorial_notebooks()
    if not numbers:
        return every
    picked = [p for p in every if p.name[:2] in numbers or p.stem in numbers]
    unknown = set(numbers) - {p.name[:2] for p in picked} - {p.stem for p in picked}
    if unknown:
        raise SystemExit(f"student_versions: no chapter {sorted(unknown)} in notebooks/")
    return picked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Release student versions of the chapters with nbgrader.")
    parser.add_argument("--course", type=Path, default=DEFAULT_COURSE,
                        help=f"nbgrader course folder (default {_show(DEFAULT_COURSE)})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"where to copy the released notebooks (default {_show(DEFAULT_OUT)})")
    parser.add_argument("--chapters", nargs="*", help="chapter numbers or names (default: all)")
    args = parser.parse_args(argv)
    try:
        released = release(_select(args.chapters), args.course, args.out)
    except (ValueError, RuntimeError) as err:
        print(f"student_versions: {err}", file=sys.stderr)
        return 1
    for path in released.values():
        print(f"student_versions: wrote {_show(path)}")
    print(f"student_versions: nbgrader course folder {_show(Path(args.course).resolve())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
