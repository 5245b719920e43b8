"""Each chapter is a jupytext pair: ``notebooks/NN_topic.md`` (MyST Markdown, the reviewed source) and
``notebooks/NN_topic.ipynb`` (what Colab, papermill and the book open). Either may be edited — in JupyterLab with
the jupytext extension, or in a text editor — and ``jupytext --sync`` (``make sync``, the pre-commit hook) carries
the edit to the other file.

- ``test_pair_in_sync``: the ``.md`` is exactly what jupytext writes from the ``.ipynb`` (so a commit that edited
  one file and forgot the sync fails here, naming the first differing line).
- ``test_sync_carries_an_edit_*``: a sentence edited in one file of a copied pair, the way JupyterLab or an
  editor would save it, appears in the other after ``jupytext --sync``.
- ``test_code_cells_fit_the_page``: no code line is wider than 88 columns (the rendered page shows 88 without a
  horizontal scroll bar); ``make format`` runs ruff over the code cells.
"""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from conftest import REPO_ROOT, tutorial_notebooks

jupytext = pytest.importorskip("jupytext")

NOTEBOOKS = tutorial_notebooks()
IDS = [p.stem for p in NOTEBOOKS]
PAIR_FORMATS = "ipynb,md:myst"
MAX_CODE_COLUMNS = 88


def _jupytext_cli() -> list[str]:
    return [sys.executable, "-m", "jupytext"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_pair_in_sync(path):
    md = path.with_suffix(".md")
    assert md.exists(), f"{path.name} has no paired {md.name}: run `jupytext --set-formats {PAIR_FORMATS} {path}`"
    nb = jupytext.read(path)
    formats = nb.metadata.get("jupytext", {}).get("formats")
    assert formats == PAIR_FORMATS, f"{path.name}: metadata.jupytext.formats is {formats!r}, expected {PAIR_FORMATS!r}"
    expected = jupytext.writes(nb, fmt="md:myst")
    actual = md.read_text(encoding="utf-8")
    if actual != expected:
        diff = list(difflib.unified_diff(expected.splitlines(), actual.splitlines(),
                                         f"{path.name} (as jupytext writes it)", md.name, lineterm="", n=1))
        pytest.fail(f"{md.name} and {path.name} are out of sync; run `make sync` "
                    f"(jupytext --sync takes the newer file). First differences:\n" + "\n".join(diff[:20]))


def _copy_pair(path: Path, tmp_path: Path) -> tuple[Path, Path]:
    ipynb, md = tmp_path / path.name, tmp_path / path.with_suffix(".md").name
    shutil.copy2(path, ipynb)
    shutil.copy2(path.with_suffix(".md"), md)
    return ipynb, md


def _sync(file: Path) -> None:
    done = subprocess.run([*_jupytext_cli(), "--sync", str(file)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"jupytext --sync {file.name} failed:\n{done.stdout}\n{done.stderr}"


def _newer(path: Path, than: Path) -> None:
    """Give ``path`` an mtime clearly after ``than`` (jupytext --sync takes the most recently saved file)."""
    t = max(than.stat().st_mtime, time.time()) + 5
    os.utime(path, (t, t))


def test_sync_carries_an_edit_from_the_ipynb_to_the_md(tmp_path):
    ipynb, md = _copy_pair(NOTEBOOKS[0], tmp_path)
    nb = nbformat.read(ipynb, as_version=4)
    index = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and i > 0)
    sentence = "An instructor added this sentence in JupyterLab."
    nb.cells[index].source += "\n\n" + sentence
    nbformat.write(nb, ipynb)  # what JupyterLab's save does
    _newer(ipynb, md)
    _sync(ipynb)
    text = md.read_text(encoding="utf-8")
    assert sentence in text, f"{md.name} does not carry the sentence edited in {ipynb.name}"
    # and the pair is in sync again, cell for cell
    assert jupytext.writes(jupytext.read(ipynb), fmt="md:myst") == text


def test_sync_carries_an_edit_from_the_md_to_the_ipynb(tmp_path):
    ipynb, md = _copy_pair(NOTEBOOKS[-1], tmp_path)
    before = nbformat.read(ipynb, as_version=4)
    text = md.read_text(encoding="utf-8")
    sentence = "A contributor fixed this sentence in a text editor."
    title_end = text.index("\n", text.index("\n# ") + 1)
    md.write_text(text[:title_end] + "\n\n" + sentence + text[title_end:], encoding="utf-8")
    _newer(md, ipynb)
    _sync(md)
    after = nbformat.read(ipynb, as_version=4)
    assert sentence in after.cells[0].source, f"{ipynb.name}'s title cell does not carry the edit made in {md.name}"
    assert len(after.cells) == len(before.cells)
    # cell ids and metadata of the unchanged cells survive the sync (Colab links and tags keep working)
    assert [c.get("id") for c in after.cells] == [c.get("id") for c in before.cells]
    assert [c.metadata for c in after.cells[1:]] == [c.metadata for c in before.cells[1:]]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_code_cells_fit_the_page(path):
    nb = nbformat.read(path, as_version=4)
    wide = [(i, line) for i, c in enumerate(nb.cells) if c.cell_type == "code"
            for line in c.source.splitlines() if len(line) > MAX_CODE_COLUMNS]
    assert not wide, (
        f"{path.name}: {len(wide)} code line(s) wider than {MAX_CODE_COLUMNS} columns (the page scrolls "
        f"sideways); `make format` runs ruff, long strings and comments need a hand. First: "
        + "; ".join(f"cell {i}: {line.strip()[:60]!r}… ({len(line)})" for i, line in wide[:3])
    )


def test_code_cells_are_ruff_formatted():
    """The formatter is the rule (notebooks/ruff.toml: 88 columns), not taste: `make format` fixes a failure."""
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        pytest.skip("ruff is not installed in this environment (make venv installs it)")
    done = subprocess.run([str(ruff), "format", "--check", "--diff", *map(str, NOTEBOOKS)],
                          capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert done.returncode == 0, (
        "code cells not as ruff formats them; run `make format`:\n" + (done.stdout + done.stderr)[-3000:])
