"""What every ``scripts/make_nbNN.py`` shares: collect cells, then write ``notebooks/NN_*.ipynb`` without outputs.

Each chapter's generator is the chapter's source; it reads, top to bottom, like the notebook::

    from nbgen import Notebook
    nb = Notebook("05_corrkd.ipynb")
    md, code, BADGE = nb.md, nb.code, nb.badge
    md(f"# 05 · ... {BADGE}")
    nb.colab_setup()
    code("print(1)", tags=["parameters"])
    if __name__ == "__main__":
        nb.write()

Cell ids are stable (``nbNN-cell-KK``), so regenerating an unchanged chapter leaves ``git diff`` empty. The Colab
badge comes from ``_config.yml`` (``scripts/sync_repo_url.py``), the one place the repository URL is set.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from sync_repo_url import load_repo

ROOT = Path(__file__).resolve().parents[1]


class Notebook:
    """The cells of one chapter, in order; :meth:`write` stores them as ``notebooks/<name>``."""

    def __init__(self, name: str):
        self.name = name
        self.cells: list = []
        repo = load_repo()
        self.pip_spec = repo.pip_spec
        self.badge = ("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
                      f"({repo.colab_url(f'notebooks/{name}')})")

    def md(self, text: str, **meta) -> None:
        self.cells.append(new_markdown_cell(text.strip("\n"), metadata=meta))

    def code(self, text: str, tags: list[str] | None = None) -> None:
        self.cells.append(new_code_cell(text.strip("\n"), metadata={"tags": tags} if tags else {}))

    def colab_setup(self) -> None:
        """Cell 2 of every chapter: on Colab only, install msa_lib from this repository (never pinning torch:
        Colab's CUDA build stays)."""
        self.code(f'''
import sys
if "google.colab" in sys.modules:
    %pip install -q "msa_lib @ {self.pip_spec}"
''')

    def write(self) -> Path:
        for k, cell in enumerate(self.cells):
            cell["id"] = f"nb{self.name[:2]}-cell-{k:02d}"
        nb = new_notebook(cells=self.cells)
        nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
        nb.metadata["language_info"] = {"name": "python"}
        out = ROOT / "notebooks" / self.name
        nbformat.validate(nb)
        nbformat.write(nb, out)
        print(f"wrote {out} ({len(self.cells)} cells)")
        return out
