#!/usr/bin/env python
"""Make every place that names the repository agree with ``_config.yml`` (``repository.url``/``branch``).

The repository URL is set in exactly one place, ``_config.yml``. This script rewrites, from it:

- each notebook's Colab badge, ``https://colab.research.google.com/github/OWNER/REPO/blob/BRANCH/<its own path>``;
- each notebook's Colab install line, ``%pip install -q "msa_lib @ git+https://github.com/OWNER/REPO"``;
- ``msa_lib.REPO_URL`` in ``msa_lib/__init__.py``;
- the URLs in ``pyproject.toml`` ([project.urls]), ``CITATION.cff`` and ``README.md``.

Files are edited as text (no re-serialisation), so a notebook's diff shows only the changed URL.

Usage::

    python scripts/sync_repo_url.py            # rewrite in place, list what changed
    python scripts/sync_repo_url.py --check    # exit 1 and list the files that disagree (used by the tests)
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_GITHUB = re.compile(r"^https://github\.com/(?P<owner>[A-Za-z0-9_.-]+)/(?P<repo>[A-Za-z0-9_.-]+?)(?:\.git)?/?$")
# A Colab badge target: .../github/OWNER/REPO/blob/BRANCH/PATH.ipynb
_COLAB = re.compile(r"https://colab\.research\.google\.com/github/[^\s)\"'<>]+?\.ipynb")
# The install spec in a notebook's set-up cell (and anywhere else): git+https://github.com/OWNER/REPO[.git][@ref]
_GIT_INSTALL = re.compile(r"git\+https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?(?:\.git)?(?=[@\"'\s\\]|$)")
_REPO_URL_LINE = re.compile(r'^(REPO_URL\s*=\s*)"[^"]*"', re.M)
_GITHUB_URL = re.compile(r"https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?(?=[/\"'\s)>\]#]|$)")
_COLAB_PREFIX = re.compile(r"https://colab\.research\.google\.com/github/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/blob/[A-Za-z0-9_.-]+/")


@dataclass(frozen=True)
class Repo:
    url: str       # https://github.com/OWNER/REPO
    owner: str
    name: str
    branch: str

    def colab_url(self, relpath: str) -> str:
        return f"https://colab.research.google.com/github/{self.owner}/{self.name}/blob/{self.branch}/{relpath}"

    @property
    def pip_spec(self) -> str:
        return f"git+{self.url}"


def load_repo(config: Path = ROOT / "_config.yml") -> Repo:
    """``repository.url`` and ``repository.branch`` from the book's ``_config.yml``."""
    import yaml

    data = yaml.safe_load(config.read_text()) or {}
    repo = data.get("repository") or {}
    url = str(repo.get("url", "")).strip()
    match = _GITHUB.match(url)
    if not match:
        raise SystemExit(f"sync_repo_url: {config} repository.url must be https://github.com/OWNER/REPO, got {url!r}")
    url = f"https://github.com/{match['owner']}/{match['repo']}"
    return Repo(url=url, owner=match["owner"], name=match["repo"], branch=str(repo.get("branch", "main")))


def notebook_files(root: Path = ROOT) -> list[Path]:
    """Every notebook a reader may open in Colab, and each chapter's MyST twin (``notebooks/*.md``: a badge in
    it names the paired ``.ipynb``): notebooks/*.ipynb, notebooks/*.md and book/**/*.ipynb."""
    files = (sorted((root / "notebooks").glob("*.ipynb")) + sorted((root / "notebooks").glob("[0-9][0-9]_*.md"))
             + sorted((root / "book").rglob("*.ipynb")))
    return [f for f in files if ".ipynb_checkpoints" not in f.parts]


def rewrite_notebook(text: str, relpath: str, repo: Repo) -> str:
    """Badge -> this notebook's own Colab URL (a chapter's ``.md`` names its ``.ipynb``); install spec ->
    git+<repo url>."""
    text = _COLAB.sub(repo.colab_url(relpath.removesuffix(".md") + ".ipynb" if relpath.endswith(".md")
                                      else relpath), text)
    return _GIT_INSTALL.sub(repo.pip_spec, text)


def current_lib_url(root: Path = ROOT) -> str | None:
    """``msa_lib.REPO_URL`` as written in ``msa_lib/__init__.py`` (read as text: no import needed)."""
    init = root / "msa_lib" / "__init__.py"
    found = _REPO_URL_LINE.search(init.read_text()) if init.is_file() else None
    return found.group(0).split('"')[1].rstrip("/").removesuffix(".git") if found else None


def rewrite_project_file(text: str, repo: Repo, old_url: str | None) -> str:
    """README / CITATION.cff / pyproject.toml: the old repository URL and Colab prefix become the new ones."""
    text = _GIT_INSTALL.sub(repo.pip_spec, text)
    text = _COLAB_PREFIX.sub(repo.colab_url(""), text)
    if old_url and old_url != repo.url:
        text = _GITHUB_URL.sub(lambda m: repo.url if m.group(0) == old_url else m.group(0), text)
    return text


def planned_changes(root: Path = ROOT) -> dict[Path, str]:
    """path -> new text, for every file whose text differs from what ``_config.yml`` implies."""
    repo = load_repo(root / "_config.yml")
    changes: dict[Path, str] = {}
    for nb in notebook_files(root):
        text = nb.read_text()
        new = rewrite_notebook(text, nb.relative_to(root).as_posix(), repo)
        if new != text:
            changes[nb] = new
    old_url = current_lib_url(root)
    init = root / "msa_lib" / "__init__.py"
    if init.is_file():
        text = init.read_text()
        if not _REPO_URL_LINE.search(text):
            raise SystemExit(f"sync_repo_url: {init} has no `REPO_URL = \"...\"` line")
        new = _REPO_URL_LINE.sub(lambda m: f'{m.group(1)}"{repo.url}"', text)
        if new != text:
            changes[init] = new
    for name in ("README.md", "CITATION.cff", "pyproject.toml"):
        path = root / name
        if path.is_file():
            text = path.read_text()
            new = rewrite_project_file(text, repo, old_url)
            if new != text:
                changes[path] = new
    return changes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Sync the repository URL from _config.yml everywhere.")
    parser.add_argument("--check", action="store_true", help="only report; exit 1 when something disagrees")
    args = parser.parse_args(argv)
    changes = planned_changes(ROOT)
    repo = load_repo()
    if args.check:
        if changes:
            print(f"sync_repo_url: these files disagree with _config.yml ({repo.url}); run `make sync-url`:")
            for path in changes:
                print(f"  {path.relative_to(ROOT)}")
            return 1
        print(f"sync_repo_url: all in agreement with {repo.url}")
        return 0
    for path, text in changes.items():
        path.write_text(text)
        print(f"sync_repo_url: rewrote {path.relative_to(ROOT)}")
    if not changes:
        print(f"sync_repo_url: nothing to change ({repo.url})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
