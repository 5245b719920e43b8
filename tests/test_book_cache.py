"""scripts/book_cache.py: the book build reuses the tests' chapter executions, and only from the same tree."""

from __future__ import annotations

import copy
import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "scripts"))
import book_cache  # noqa: E402

jupyter_cache = pytest.importorskip("jupyter_cache")


def _chapter():
    cells = [new_markdown_cell("# 99 · A chapter"), new_code_cell("x = 1", id="c1"),
             new_code_cell("plt.show()", id="c2"), new_markdown_cell("## Exercises"),
             new_code_cell("answer = x + 1", id="c3", metadata={"tags": ["solution"]}),
             new_code_cell("plt.show()", id="c4")]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    return nb


def _ran(cell, text):
    cell = copy.deepcopy(cell)
    cell.outputs = [new_output("stream", name="stdout", text=text)]
    cell.execution_count = 1
    return cell


def _executed_like_the_test(nb):
    """Papermill's output of the test's composed notebook: injected parameters, the student version (stub in
    place of the solution), then the solved exercises again, which nbformat gave new ids (ids are unique)."""
    c = nb.cells
    injected = new_code_cell("QUICK = True", id="injected", metadata={"tags": ["injected-parameters"]})
    stub = _ran(new_code_cell("raise NotImplementedError()", id="c3"), "stub")
    c = [copy.deepcopy(cell) for cell in c]
    c[3]["id"] = "student-heading"
    solved = [_ran(c[4], "solved answer"), _ran(c[5], "solved plot")]
    for k, cell in enumerate(solved):
        cell["id"] = f"repaired-{k}"
    cells = [c[0], _ran(c[1], "x"), injected, _ran(c[2], "first plot"), c[3], stub,
             _ran(c[5], "student plot"), new_markdown_cell("marker"), new_markdown_cell(c[3].source), *solved]
    executed = new_notebook(cells=cells, metadata=copy.deepcopy(nb.metadata))
    executed.metadata["widgets"] = {"state": {"m": 1}}
    executed.metadata["language_info"] = {"name": "python", "pygments_lexer": "ipython3"}
    return executed


def test_outputs_come_from_the_matching_cells():
    nb = _chapter()
    merged = book_cache.with_outputs_of(nb, _executed_like_the_test(nb))
    texts = [c.outputs[0]["text"] if c.outputs else None for c in merged.cells if c.cell_type == "code"]
    # the repeated one-liner before the exercises keeps its own output, the solved cells the solved run's
    assert texts == ["x", "first plot", "solved answer", "solved plot"]
    assert [c.source for c in merged.cells] == [c.source for c in nb.cells]
    assert [c.metadata for c in merged.cells] == [c.metadata for c in nb.cells]
    assert merged.metadata["widgets"] == {"state": {"m": 1}}
    # the kernel's lexer, so that the book highlights `%pip` / `!apt-get` lines as IPython
    assert merged.metadata["language_info"]["pygments_lexer"] == "ipython3"


def test_a_cell_that_did_not_run_means_no_reuse():
    nb = _chapter()
    executed = _executed_like_the_test(nb)
    executed.cells[-1].source = "plt.savefig('x.png')"  # the solved chapter changed after the run
    assert book_cache.with_outputs_of(nb, executed) is None


def test_stored_chapter_is_what_myst_nb_finds(tmp_path, monkeypatch):
    monkeypatch.setattr(book_cache, "tree_fingerprint", lambda root=None: {"commit": "a", "changes_sha256": "0"})
    folder = book_cache.start(tmp_path / "cache")
    nb = _chapter()
    path = tmp_path / "99_chapter.ipynb"
    nbformat.write(nb, path)
    assert book_cache.store(path, _executed_like_the_test(nb), folder)
    cache = jupyter_cache.get_cache(str(folder))
    # what myst-nb's cache mode does with the committed (output-free) notebook
    _, rendered = cache.merge_match_into_notebook(nbformat.read(path, as_version=4))
    assert [c.outputs[0]["text"] for c in rendered.cells if c.cell_type == "code"][-1] == "solved plot"
    assert "filled from" not in book_cache.check(folder) and (folder / book_cache.STAMP_NAME).exists()

    # the tree changed after the tests: nothing is reused
    monkeypatch.setattr(book_cache, "tree_fingerprint", lambda root=None: {"commit": "a", "changes_sha256": "1"})
    message = book_cache.check(folder)
    assert "emptied" in message and not folder.exists()


def test_store_needs_a_started_cache(tmp_path):
    nb = _chapter()
    path = tmp_path / "99_chapter.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(FileNotFoundError, match="start"):
        book_cache.store(path, _executed_like_the_test(nb), tmp_path / "nothing")


def test_fingerprint_sees_an_uncommitted_change(tmp_path):
    import subprocess

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    git("add", "a.py")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "a")
    before = book_cache.tree_fingerprint(tmp_path)
    (tmp_path / "a.py").write_text("x = 2\n")
    edited = book_cache.tree_fingerprint(tmp_path)
    (tmp_path / "b.py").write_text("y = 1\n")
    untracked = book_cache.tree_fingerprint(tmp_path)
    assert len({before["changes_sha256"], edited["changes_sha256"], untracked["changes_sha256"]}) == 3
    assert before["commit"] == edited["commit"]
