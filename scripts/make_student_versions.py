#!/usr/bin/env python
"""Generate student versions of the tutorial notebooks: the exercises stay, their solutions go.

The solved notebooks in ``notebooks/`` are the only ones anybody edits. Each exercise's solution lives in a
code cell tagged ``solution`` (markdown cells tagged ``solution`` hold worked answers in prose). This script
writes, for every ``notebooks/NN_*.ipynb``, a student version in which

- a ``solution`` **code** cell becomes a stub that *documents the task and still runs*: a comment naming the
  exercise (the nearest heading above it) and ``# YOUR CODE HERE``, followed by ``...`` (a no-op), so that the
  notebook runs top to bottom with the stubs in place (the tests execute the student versions);
  if the cell contains ``### BEGIN SOLUTION`` / ``### END SOLUTION`` markers, only the lines between them are
  replaced and the scaffolding around them is kept;
- a ``solution`` **markdown** cell becomes "*(Answer removed in the student version.)*";
- outputs and execution counts are cleared, the tag ``solution`` becomes ``exercise``;
- the title cell gains a note that this is the student version; the Colab badge (which opens the solved
  notebook) is removed.

Usage::

    python scripts/make_student_versions.py                   # -> build/student/NN_*.ipynb
    python scripts/make_student_versions.py --out DIR         # elsewhere
    python scripts/make_student_versions.py --check           # only verify every notebook has exercises

``make student`` runs it. The output is outside ``notebooks/`` so it is never mistaken for a chapter.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
DEFAULT_OUT = ROOT / "build" / "student"

SOLUTION_TAG = "solution"
EXERCISE_TAG = "exercise"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUB_MARKER = "# YOUR CODE HERE"
ANSWER_REMOVED = "*(Answer removed in the student version.)*"
BADGE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)\s*")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$", re.M)


def tutorial_notebooks(folder: Path = NOTEBOOKS) -> list[Path]:
    return sorted(folder.glob("[0-9][0-9]_*.ipynb"))


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _task_title(cells, index: int) -> str:
    """The last markdown heading above cell ``index`` (e.g. 'Exercise 2: ...'), or 'this exercise'."""
    for cell in reversed(cells[:index]):
        if cell.cell_type == "markdown":
            headings = HEADING.findall(cell.source)
            if headings:
                return headings[-1].strip()
    return "this exercise"


def _stub(task: str, indent: str = "") -> str:
    return (f"{indent}# Exercise — {task}\n"
            f"{indent}{STUB_MARKER}: replace the `...` below with your solution, then run the cell.\n"
            f"{indent}...")


def stub_code(source: str, task: str) -> str:
    """The student's version of one solution cell's source (see the module docstring)."""
    if BEGIN not in source and END not in source:
        return _stub(task)
    out, inside = [], False
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith(BEGIN):
            if inside:
                raise ValueError(f"nested '{BEGIN}' in a solution cell for {task!r}")
            inside = True
            out.append(_stub(task, indent=line[: len(line) - len(line.lstrip())]))
        elif stripped.startswith(END):
            if not inside:
                raise ValueError(f"'{END}' without '{BEGIN}' in a solution cell for {task!r}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"'{BEGIN}' without '{END}' in a solution cell for {task!r}")
    return "\n".join(out)


def student_version(nb: nbformat.NotebookNode, name: str = "") -> nbformat.NotebookNode:
    """A new notebook: solutions stubbed, outputs cleared (the input is not modified)."""
    out = copy.deepcopy(nb)
    n_solutions = 0
    for index, cell in enumerate(out.cells):
        tags = _tags(cell)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        if SOLUTION_TAG not in tags:
            continue
        n_solutions += 1
        if cell.cell_type == "code":
            cell.source = stub_code(cell.source, _task_title(out.cells, index))
        else:
            cell.source = ANSWER_REMOVED
        cell.metadata["tags"] = [EXERCISE_TAG if t == SOLUTION_TAG else t for t in tags]
    if n_solutions == 0:
        raise ValueError(f"{name or 'notebook'}: no cell tagged '{SOLUTION_TAG}' (every chapter ends with exercises)")
    out.metadata.pop("widgets", None)
    if out.cells and out.cells[0].cell_type == "markdown":
        title = BADGE.sub("", out.cells[0].source).rstrip()
        out.cells[0].source = (
            f"{title}\n\n> **Student version.** The exercises at the end have no solutions: write yours where a "
            f"cell says `{STUB_MARKER}`. The notebook runs top to bottom as it is. (Generated by "
            "`scripts/make_student_versions.py` from the solved chapter; do not edit by hand.)"
        )
    out.metadata.setdefault("msa_book", {})["student_version"] = True
    return out


def solution_cells(nb: nbformat.NotebookNode) -> list[int]:
    return [i for i, c in enumerate(nb.cells) if SOLUTION_TAG in _tags(c)]


def write_student_versions(out_dir: Path = DEFAULT_OUT, sources: list[Path] | None = None) -> list[Path]:
    sources = tutorial_notebooks() if sources is None else sources
    if not sources:
        raise SystemExit(f"make_student_versions: no notebooks/NN_*.ipynb in {NOTEBOOKS}")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for src in sources:
        nb = nbformat.read(src, as_version=4)
        student = student_version(nb, src.name)
        dest = out_dir / src.name
        nbformat.write(student, dest)
        written.append(dest)
    lines = ["# Student versions", "",
             "Generated by `scripts/make_student_versions.py` (`make student`); solutions removed.", ""]
    for src, dest in zip(sources, written):
        n = len(solution_cells(nbformat.read(src, as_version=4)))
        lines.append(f"- `{dest.name}`: {n} exercise cell(s)")
    (out_dir / "README.md").write_text("\n".join(lines) + "\n")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate student versions of the notebooks.")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument("--check", action="store_true", help="only check that every notebook has solution cells")
    args = parser.parse_args(argv)
    if args.check:
        bad = [p.name for p in tutorial_notebooks() if not solution_cells(nbformat.read(p, as_version=4))]
        if bad:
            print(f"make_student_versions: no '{SOLUTION_TAG}' cells in {bad}")
            return 1
        print("make_student_versions: every notebook has exercises with solutions")
        return 0
    try:
        written = write_student_versions(args.out)
    except ValueError as err:
        print(f"make_student_versions: {err}", file=sys.stderr)
        return 1
    for path in written:
        print(f"make_student_versions: wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
