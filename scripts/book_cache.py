#!/usr/bin/env python
"""Let the book build reuse the chapter executions of the test run, so that CI runs each chapter once, not twice.

The book executes its notebooks with myst-nb's ``execute_notebooks: cache`` (``_config.yml``): before executing a
notebook, myst-nb looks in a jupyter-cache folder for a notebook whose code cells (source and metadata) and
kernelspec are identical, and renders that one's outputs instead. ``tests/test_notebooks.py::test_notebook_runs``
executes every chapter anyway; with ``MSA_BOOK_CACHE`` set (``make test BOOK_REUSE=1``, as CI does), it stores
each executed chapter there (:func:`store`): the committed ``notebooks/NN_*.ipynb``, cell for cell, with the
outputs and widget state of the test run. ``make book BOOK_REUSE=1`` then executes only what the tests did not
store.

A cache is only as good as the code that filled it: jupyter-cache keys on the notebook's cells, not on ``msa_lib``.
So the folder carries a fingerprint of the working tree (commit, uncommitted diff, untracked files) written when
the tests filled it, and ``check`` empties it when the tree has changed since; ``make book`` without
``BOOK_REUSE=1`` always empties it (every page from this build's own runs, as before).

Usage::

    python scripts/book_cache.py clear          # empty the cache (make book does this unless BOOK_REUSE=1)
    python scripts/book_cache.py check          # keep it only if it was filled from this very tree
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = ROOT / "_build" / ".jupyter_cache"
STAMP_NAME = "msa-tree.json"
TIMINGS_FILE = "results/chapter_timings.json"


def cache_dir() -> Path:
    return Path(os.environ.get("MSA_BOOK_CACHE") or DEFAULT_CACHE)


def tree_fingerprint(root: Path = ROOT) -> dict:
    """The commit, a hash of ``git diff HEAD`` and of the untracked (not ignored) files: what the pages depend on."""
    def git(*args: str) -> bytes:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, check=True).stdout

    # results/chapter_timings.json is what the same test run writes (MSA_RECORD_TIMINGS): not a change of the tree
    digest = hashlib.sha256(git("diff", "HEAD", "--binary", "--", ".", f":(exclude){TIMINGS_FILE}"))
    for name in sorted(git("ls-files", "--others", "--exclude-standard", "-z").split(b"\0")):
        path = root / name.decode()
        if name and path.is_file() and name.decode() != TIMINGS_FILE:
            digest.update(name + b"\0" + path.read_bytes())
    return {"commit": git("rev-parse", "HEAD").decode().strip(), "changes_sha256": digest.hexdigest()}


def clear(folder: Path | None = None) -> None:
    shutil.rmtree(folder or cache_dir(), ignore_errors=True)


def start(folder: Path | None = None) -> Path:
    """An empty cache folder stamped with this tree (the test session calls it once, before any chapter runs)."""
    folder = folder or cache_dir()
    clear(folder)
    folder.mkdir(parents=True)
    (folder / STAMP_NAME).write_text(json.dumps(tree_fingerprint(), indent=2) + "\n")
    return folder


def with_outputs_of(source, executed):
    """``source`` (the committed notebook) with the outputs of the same cells in ``executed``, or ``None``.

    ``executed`` may be longer than ``source`` (papermill's injected-parameters cell; the test's student version
    run before the solved exercises, whose copies of the solved cells nbformat gives new ids because an id may
    occur only once). Cells are matched walking both backwards, in order: a code cell of ``source`` takes the
    outputs of the nearest earlier executed cell with the same source and either the same id or an id that no
    cell of ``source`` has (a renamed copy); so the solved exercises take the outputs of the solved run, not of the
    stubs, and a repeated one-liner such as ``plt.show()`` is never matched to another cell's copy. If any code
    cell of ``source`` has no match, ``None`` (the book then executes the chapter itself rather than show a page
    with a hole).
    """
    ran = [c for c in executed.cells if c.cell_type == "code"]
    source_ids = {c.get("id") for c in source.cells}
    merged = copy.deepcopy(source)
    position = len(ran)
    for cell in reversed([c for c in merged.cells if c.cell_type == "code"]):
        position = next((i for i in range(position - 1, -1, -1) if ran[i].source == cell.source
                         and (ran[i].get("id") == cell.get("id") or ran[i].get("id") not in source_ids)), -1)
        if position < 0:
            return None
        cell.outputs = copy.deepcopy(ran[position].outputs)
        cell.execution_count = ran[position].execution_count
    # what an execution adds to the notebook's metadata: the widget state, and the kernel's language_info, whose
    # pygments_lexer ("ipython3") lets the book highlight `%pip` / `!apt-get` lines (plain "python" fails on them)
    for key in ("widgets", "language_info"):
        if key in executed.metadata:
            merged.metadata[key] = copy.deepcopy(executed.metadata[key])
    return merged


def store(source_path: Path, executed, folder: Path | None = None) -> bool:
    """Cache ``source_path``'s cells with ``executed``'s outputs; ``True`` when stored (see :func:`with_outputs_of`)."""
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    folder = folder or cache_dir()
    if not (folder / STAMP_NAME).is_file():
        raise FileNotFoundError(f"{folder}: no {STAMP_NAME}; call book_cache.start() before storing executions")
    merged = with_outputs_of(nbformat.read(source_path, as_version=4), executed)
    if merged is None:
        return False
    get_cache(str(folder)).cache_notebook_bundle(
        CacheBundleIn(nb=merged, uri=str(Path(source_path).resolve())), check_validity=False, overwrite=True)
    return True


def check(folder: Path | None = None) -> str:
    """Keep the cache when it was filled from this tree; otherwise empty it. Returns what happened, in words."""
    folder = folder or cache_dir()
    stamp = folder / STAMP_NAME
    if not stamp.is_file():
        clear(folder)
        return f"{folder}: no test executions to reuse; the build executes every chapter"
    recorded = json.loads(stamp.read_text())
    current = tree_fingerprint()
    if recorded != current:
        clear(folder)
        return (f"{folder}: filled from another tree (commit {recorded.get('commit', '?')[:10]}, now "
                f"{current['commit'][:10]}, or uncommitted changes since): emptied; the build executes every chapter")
    from jupyter_cache import get_cache

    n = len(get_cache(str(folder)).list_cache_records())
    return f"{folder}: reusing {n} chapter execution(s) of the test run on this tree"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["clear", "check"])
    args = parser.parse_args(argv)
    if args.command == "clear":
        clear()
        print(f"book_cache: emptied {cache_dir()}")
    else:
        print(f"book_cache: {check()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
