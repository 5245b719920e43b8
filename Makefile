# msa-missing-book: one Makefile for the set-up, the tests and the book.
#
#   make book   create/update .venv, build the executed book (synthetic data, quick mode), print where and how long
#   make test   create/update .venv, run every test (unit tests + all notebooks through papermill in quick mode)
#
# Variables you may override:  make book PYTHON=python3.12  TORCH_SPEC="torch>=2.2"  MSA_QUICK=0
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON     ?= $(shell command -v python3.11 || command -v python3)
VENV       ?= .venv
# torch first, from its own spec: here `torch==2.13.0` resolves to a local CPU wheel. requirements.txt and
# pyproject.toml never pin torch with `==` (Colab's preinstalled CUDA torch must be kept).
TORCH_SPEC ?= torch==2.13.0
PY         := $(VENV)/bin/python
PIP_FLAGS  ?= --progress-bar off
STAMP      := $(VENV)/.msa-installed
# Quick mode by default (the notebooks' parameters cell reads MSA_QUICK); `make book MSA_QUICK=0` for full runs.
MSA_QUICK  ?= 1
BOOK_HTML  := _build/html
PYTEST_ARGS ?=
JB_FLAGS   ?= -W -n --keep-going

export MSA_QUICK
export TQDM_DISABLE ?= 1
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export PYTHONHASHSEED ?= 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help venv test test-unit test-notebooks test-browser book vendor student chromium system-packages \
        sync format sync-url constraints clean clean-book

help:
	@echo "make book        build the executed book (quick mode) into $(BOOK_HTML)"
	@echo "make test        run all tests (unit tests + notebooks via papermill, quick mode)"
	@echo "make test-unit   unit tests only (no notebooks, no browser)"
	@echo "make test-notebooks   the notebooks only, through papermill"
	@echo "make test-browser     load the built book in headless Chromium (after make book)"
	@echo "make student     release the student versions with nbgrader (build/nbgrader, copies in build/student/)"
	@echo "make venv        create/update $(VENV) (torch: $(TORCH_SPEC))"
	@echo "make system-packages  apt-get chromium and espeak-ng when missing (browser tests, chapter 06)"
	@echo "make sync        carry an edit of a chapter's .md or .ipynb to its pair (jupytext --sync)"
	@echo "make format      ruff-format the chapters' code cells (88 columns), then sync"
	@echo "make sync-url    rewrite badges, install cells and msa_lib.REPO_URL from _config.yml"
	@echo "make clean       remove _build/ and build/ (keeps $(VENV))"

# ---------------------------------------------------------------------------------------------------- set-up
venv: $(STAMP)

# Re-installs only when pyproject.toml, requirements.txt or constraints.txt change (or the stamp is missing).
$(STAMP): pyproject.toml requirements.txt constraints.txt
	@start=$$(date +%s); \
	if [ ! -x "$(PY)" ]; then \
	  echo ">> creating $(VENV) with $(PYTHON)"; \
	  "$(PYTHON)" -m venv "$(VENV)"; \
	fi; \
	echo ">> pip: a recent version"; \
	"$(PY)" -m pip install $(PIP_FLAGS) -q --upgrade "pip>=24.2"; \
	echo ">> installing $(TORCH_SPEC) first (keeps a CPU wheel here; never pinned in requirements.txt)"; \
	"$(PY)" -m pip install $(PIP_FLAGS) "$(TORCH_SPEC)"; \
	echo ">> installing the locked set: constraints.txt (exact versions, no resolver), then msa_lib (editable)"; \
	"$(PY)" -m pip install $(PIP_FLAGS) -q --no-deps -r constraints.txt; \
	"$(PY)" -m pip install $(PIP_FLAGS) -q --no-deps -e . ; \
	echo ">> registering the venv's kernel as 'python3' (papermill and the book build use it)"; \
	"$(PY)" -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (msa .venv)" >/dev/null; \
	"$(PY)" -m pip check || { echo "!! pip check failed: constraints.txt is incomplete or inconsistent"; exit 1; }; \
	touch "$(STAMP)"; \
	echo ">> $(VENV) ready in $$(( $$(date +%s) - start )) s"

# Regenerate constraints.txt from the current venv (after changing a dependency on purpose).
constraints: $(STAMP)
	@{ echo "# Exact versions tested here and in CI (pip freeze of the project's .venv, torch excluded: see Makefile TORCH_SPEC)."; \
	   echo "# Regenerate with: make constraints"; \
	   "$(PY)" -m pip freeze --all --exclude-editable | grep -vE '^(torch|msa.lib|pip)[=@ ]' | grep -v ' @ '; } > constraints.txt
	@echo ">> wrote constraints.txt"

# Debian packages the tests use: chromium (browser tests of the built book) and espeak-ng (chapter 06 speaks its
# demo clips; without it the chapter falls back to generated babble and one feature test is skipped).
# Installed with apt-get only when missing; `make chromium` is kept as an alias.
system-packages:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v espeak-ng >/dev/null 2>&1 || missing="$$missing espeak-ng"; \
	if [ -z "$$missing" ]; then \
	  echo ">> system packages present: $$(command -v chromium || command -v chromium-browser), $$(command -v espeak-ng)"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  echo ">> installing Debian's$$missing (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	else \
	  echo "!!$$missing missing and apt-get unavailable (not root?): the browser tests / espeak-ng test will be skipped"; \
	fi

chromium: system-packages

# Widget and math JavaScript served from the book itself (no CDN): fetched from the npm registry once.
vendor: $(STAMP)
	@"$(PY)" scripts/fetch_vendor_js.py

# ---------------------------------------------------------------------------------------------------- tests
# BOOK_REUSE=1: the chapters' executions are stored for `make book BOOK_REUSE=1` (scripts/book_cache.py; CI).
BOOK_REUSE ?= 0
BOOK_CACHE := $(CURDIR)/_build/.jupyter_cache
test: $(STAMP)
	@start=$$(date +%s); \
	$(if $(filter 1,$(BOOK_REUSE)),export MSA_BOOK_CACHE="$(BOOK_CACHE)";) \
	rc=0; MPLBACKEND=$${MPLBACKEND:-Agg} "$(PY)" -m pytest $(PYTEST_ARGS) || rc=$$?; \
	echo ">> make test: pytest exit $$rc in $$(( $$(date +%s) - start )) s"; exit $$rc

test-unit: $(STAMP)
	MPLBACKEND=$${MPLBACKEND:-Agg} "$(PY)" -m pytest -m "not notebook and not browser" $(PYTEST_ARGS)

test-notebooks: $(STAMP)
	MPLBACKEND=$${MPLBACKEND:-Agg} "$(PY)" -m pytest -m notebook $(PYTEST_ARGS)

test-browser: $(STAMP)
	"$(PY)" -m pytest -m browser $(PYTEST_ARGS)

# ---------------------------------------------------------------------------------------------------- book
# The book executes every notebook (force mode) in quick mode unless MSA_QUICK=0. MPLBACKEND is set to the
# inline backend: with MPLBACKEND=Agg (CI) ipykernel would not show any figure in the pages.
# A quick build takes ~2.5 min here. Once (2026-12-02, a fresh CI clone) the build hung for 14 min with the kernel
# and the executing client both idle, each waiting for a message from the other (py-spy: nbclient in
# run_until_complete, the kernel in its event loop), and myst-nb's per-cell timeout never fired; a rerun passed in
# 139 s. The same hang struck papermill (chapter 02's widget cell, 2026-12-04, ipykernel 7.4.0); it is a known
# ipykernel 7 problem (executions that never report idle), so pyproject.toml keeps ipykernel < 7 (6.31.0 in
# constraints.txt). The build still runs under a wall-clock limit (BOOK_TIMEOUT, quick mode only) and, only when
# that limit is hit, once more.
# Checkpoints and quick results of the build go to _build/scratch, emptied at every build: the executed pages
# show this build's own runs, never a leftover, and the build writes nothing into notebooks/ or results/.
# Every build reads every page (_build/.doctrees goes too): Sphinx would otherwise skip an unchanged executed page
# such as book/instructors.md, whose _build/jupyter_execute copy the launch buttons need (the 2026-12-05 failure of
# `make book BOOK_REUSE=1` after an earlier build).
BOOK_TIMEOUT ?= $(if $(filter 0,$(MSA_QUICK)),0,900)
BOOK_SCRATCH := $(CURDIR)/_build/scratch
book: $(STAMP) vendor
	@start=$$(date +%s); \
	MSA_BOOK_CACHE="$(BOOK_CACHE)" "$(PY)" scripts/book_cache.py $(if $(filter 1,$(BOOK_REUSE)),check,clear); \
	build() { rm -rf _build/html _build/.doctrees _build/jupyter_execute "$(BOOK_SCRATCH)"; \
	  MSA_CHECKPOINT_DIR="$(BOOK_SCRATCH)/checkpoints" MSA_QUICK_RESULTS_DIR="$(BOOK_SCRATCH)/results-quick" \
	  MSA_CACHE_DIR="$${MSA_CACHE_DIR:-$(BOOK_SCRATCH)/cache}" \
	  MPLBACKEND=module://matplotlib_inline.backend_inline \
	  timeout $(BOOK_TIMEOUT) "$(VENV)/bin/jupyter-book" build . $(JB_FLAGS); }; \
	rc=0; build || rc=$$?; \
	if [ $$rc -eq 124 ]; then \
	  echo "!! book build hit its $(BOOK_TIMEOUT) s limit (a hung notebook execution): building once more"; \
	  rc=0; build || rc=$$?; \
	fi; \
	secs=$$(( $$(date +%s) - start )); \
	if [ $$rc -ne 0 ]; then echo "!! book build FAILED (exit $$rc) after $$secs s"; exit $$rc; fi; \
	echo "$$secs" > _build/build_seconds.txt; \
	echo ""; \
	echo ">> book built in $$secs s (MSA_QUICK=$(MSA_QUICK)): $$(pwd)/$(BOOK_HTML)/index.html"

# Student versions: the real `nbgrader generate_assignment`, one assignment per chapter, in an nbgrader course
# folder (STUDENT_COURSE: only source/<chapter> and release/<chapter> are rewritten); see book/instructors.md.
STUDENT_COURSE ?= build/nbgrader
student: $(STAMP)
	"$(PY)" scripts/student_versions.py --course "$(STUDENT_COURSE)" --out build/student

# Chapters are jupytext pairs (notebooks/NN_topic.md + .ipynb): carry an edit of either file to the other.
sync: $(STAMP)
	"$(VENV)/bin/jupytext" --sync notebooks/[0-9][0-9]_*.ipynb

# ruff formats the chapters' code cells (88 columns, notebooks/ruff.toml), then the pairs are synced again.
format: $(STAMP)
	"$(VENV)/bin/jupytext" --sync notebooks/[0-9][0-9]_*.ipynb
	"$(VENV)/bin/ruff" format notebooks/[0-9][0-9]_*.ipynb
	"$(VENV)/bin/jupytext" --sync notebooks/[0-9][0-9]_*.ipynb

sync-url: $(STAMP)
	"$(PY)" scripts/sync_repo_url.py

clean-book:
	rm -rf _build

clean: clean-book
	rm -rf build .pytest_cache
