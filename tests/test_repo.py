"""Project files: one repository URL everywhere, the torch rule, README commands, licences, citation, CI script,
book configuration."""

from __future__ import annotations

import re
import sys

import nbformat
import pytest
import yaml

from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "scripts"))
import sync_repo_url  # noqa: E402

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    tomllib = None


# ------------------------------------------------------------------------------------------ repository URL
def test_repository_url_agrees_everywhere():
    changes = sync_repo_url.planned_changes(REPO_ROOT)
    assert not changes, (
        "these files disagree with repository.url in _config.yml; run `make sync-url`: "
        + ", ".join(str(p.relative_to(REPO_ROOT)) for p in changes)
    )
    import msa_lib

    assert msa_lib.REPO_URL == sync_repo_url.load_repo().url


def test_sync_rewrites_badges_install_cells_and_library(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "msa_lib").mkdir()
    (tmp_path / "_config.yml").write_text("repository:\n  url: https://github.com/new-org/new-book\n  branch: dev\n")
    (tmp_path / "msa_lib" / "__init__.py").write_text('"""lib"""\nREPO_URL = "https://github.com/old/book"\n')
    (tmp_path / "README.md").write_text(
        "See https://github.com/old/book and https://github.com/other/project.\n"
        "[c](https://colab.research.google.com/github/old/book/blob/main/notebooks/01_a.ipynb)\n")
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            "# 01 · A\n[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            "(https://colab.research.google.com/github/old/book/blob/main/notebooks/99_wrong.ipynb)"),
        nbformat.v4.new_code_cell(
            'import sys\nif "google.colab" in sys.modules:\n    %pip install -q "msa_lib @ git+https://github.com/old/book"'),
    ]
    nbformat.write(nb, tmp_path / "notebooks" / "01_a.ipynb")

    changes = sync_repo_url.planned_changes(tmp_path)
    assert set(changes) == {tmp_path / "notebooks" / "01_a.ipynb", tmp_path / "msa_lib" / "__init__.py",
                            tmp_path / "README.md"}
    for path, text in changes.items():
        path.write_text(text)
    out = nbformat.read(tmp_path / "notebooks" / "01_a.ipynb", as_version=4)
    assert "https://colab.research.google.com/github/new-org/new-book/blob/dev/notebooks/01_a.ipynb" in out.cells[0].source
    assert '"msa_lib @ git+https://github.com/new-org/new-book"' in out.cells[1].source
    assert 'REPO_URL = "https://github.com/new-org/new-book"' in (tmp_path / "msa_lib" / "__init__.py").read_text()
    readme = (tmp_path / "README.md").read_text()
    assert "https://github.com/new-org/new-book and https://github.com/other/project" in readme
    assert "github/new-org/new-book/blob/dev/notebooks/01_a.ipynb" in readme
    assert sync_repo_url.planned_changes(tmp_path) == {}, "a second run must change nothing"


def test_bad_repository_url_is_a_clear_error(tmp_path):
    (tmp_path / "_config.yml").write_text("repository:\n  url: gitlab.com/x\n")
    with pytest.raises(SystemExit, match="https://github.com/OWNER/REPO"):
        sync_repo_url.load_repo(tmp_path / "_config.yml")


# ------------------------------------------------------------------------------------------ dependencies
def _torch_exact_pins(lines):
    return [line for line in lines if re.match(r"^\s*[\"']?torch\s*==", line)]


@pytest.mark.skipif(tomllib is None, reason="tomllib needs Python 3.11")
def test_torch_is_never_pinned_exactly():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    deps = list(project["dependencies"]) + [d for extra in project["optional-dependencies"].values() for d in extra]
    assert not _torch_exact_pins(deps), "pyproject.toml pins torch with ==; Colab's CUDA torch would be replaced"
    assert any(re.match(r"torch\s*>=", d) for d in project["dependencies"]), "torch>=... must be a dependency"
    for name in ("requirements.txt", "constraints.txt"):
        lines = (REPO_ROOT / name).read_text().splitlines()
        assert not _torch_exact_pins(lines), f"{name} pins torch with =="
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert re.search(r"^TORCH_SPEC\s*\?=\s*torch==", makefile, re.M), "the Makefile installs torch from TORCH_SPEC"


@pytest.mark.skipif(tomllib is None, reason="tomllib needs Python 3.11")
def test_requirements_install_the_package_with_its_extras():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    requirement = [line.strip() for line in (REPO_ROOT / "requirements.txt").read_text().splitlines()
                   if line.strip() and not line.startswith("#")]
    extras = set(project["optional-dependencies"])
    assert requirement == [f"-e .[{','.join(sorted(extras, key=['features', 'book', 'dev', 'grid'].index))}]"]
    assert {"book", "dev", "features", "grid"} <= extras


def test_makefile_stamp_tracks_the_dependency_files():
    makefile = (REPO_ROOT / "Makefile").read_text()
    rule = re.search(r"^\$\(STAMP\):(.*)$", makefile, re.M)
    assert rule, "no $(STAMP) rule in the Makefile"
    assert set(rule.group(1).split()) == {"pyproject.toml", "requirements.txt", "constraints.txt"}
    assert "ipykernel install --sys-prefix --name python3" in makefile


# ------------------------------------------------------------------------------------------ README, CI, licences
def test_readme_starts_with_the_two_commands():
    readme = (REPO_ROOT / "README.md").read_text()
    first_block = re.search(r"```[a-z]*\n(.*?)```", readme, re.S)
    assert first_block, "README.md has no code block"
    before = readme[: first_block.start()]
    assert before.count("\n") <= 3, "the commands must be at the very top of README.md"
    assert first_block.group(1).splitlines() == ["make book", "make test"]


def test_ci_script_is_strict_and_runs_tests_and_book():
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "set -euo pipefail" in ci
    for var in ("TQDM_DISABLE=1", "MPLBACKEND=Agg", "HF_HUB_OFFLINE=1", "MSA_QUICK=1"):
        assert var in ci, f".ci/run must export {var}"
    assert ci.index("make test") < ci.index("make book") < ci.index("make test-browser")


def test_licences_and_citation():
    assert "MIT License" in (REPO_ROOT / "LICENSE").read_text()
    content = (REPO_ROOT / "LICENSE-CONTENT").read_text()
    assert "CC BY 4.0" in content and "creativecommons.org/licenses/by/4.0" in content
    cff = yaml.safe_load((REPO_ROOT / "CITATION.cff").read_text())
    for key in ("cff-version", "message", "title", "authors", "license", "repository-code"):
        assert key in cff, f"CITATION.cff lacks {key}"
    assert cff["repository-code"] == sync_repo_url.load_repo().url
    import msa_lib

    assert str(cff["version"]) == msa_lib.__version__


# ------------------------------------------------------------------------------------------ book configuration
def test_book_config_executes_strictly_and_offline():
    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())
    assert config["only_build_toc_files"] is True
    assert config["execute"]["execute_notebooks"] in ("force", "cache")
    assert config["execute"]["allow_errors"] is False
    sphinx = config["sphinx"]["config"]
    assert sphinx["nb_execution_raise_on_error"] is True
    for js in sphinx["nb_ipywidgets_js"]:
        assert "://" not in js, f"widget JavaScript must be served by the book, not {js}"
    assert "://" not in sphinx["mathjax_path"]
    for pattern in ("_build", ".venv", "README.md"):
        assert pattern in config["exclude_patterns"]


def test_every_toc_entry_exists():
    toc = yaml.safe_load((REPO_ROOT / "_toc.yml").read_text())
    entries = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                entries.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(toc.get("parts", []))
    missing = [e for e in entries
               if not any((REPO_ROOT / f"{e}{ext}").is_file() for ext in ("", ".md", ".ipynb"))]
    assert not missing, f"_toc.yml names files that do not exist: {missing}"


def test_gitignore_keeps_builds_and_venv_out():
    ignored = (REPO_ROOT / ".gitignore").read_text().splitlines()
    for entry in (".venv/", "_build/", "build/", "book/_static/vendor/", "results/quick/"):
        assert entry in ignored, f".gitignore lacks {entry}"


def test_vendor_script_pins_versions_and_hashes():
    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    import fetch_vendor_js

    for spec in fetch_vendor_js.PACKAGES:
        assert re.search(r"@\d+\.\d+\.\d+$", spec), f"{spec}: pin an exact version"
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in fetch_vendor_js.SHA256.values())

