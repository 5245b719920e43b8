"""The book's results overview: which results file each number comes from, and the headline tables.

Every number the book quotes comes from a run recorded in ``results/<name>.json`` (full mode, committed) or,
when that file does not exist yet, ``results/quick/<name>.json`` (quick mode, written by the tests and the
book build). :func:`load_for_book` picks the full file when there is one and says which it used;
:func:`provenance_banner` turns that into a warning for the page, and :func:`provenance_table` lists, for
every file, its mode, seeds, data set, date and the command that made it. The plots themselves are drawn by
the chapter modules (:mod:`msa_lib.viz.sdumc`, :mod:`msa_lib.viz.corrkd`) so that the overview shows exactly
the figures of the chapters.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ..training.results import load_results, results_path

#: the results files the book draws on, with the notebook that writes each
BOOK_RESULTS = {
    "missing_text": "notebooks/04_missing_text_evaluation.ipynb",
    "corrkd": "notebooks/05_corrkd.ipynb",
    "head_to_head": "notebooks/07_head_to_head.ipynb",
}

HEADLINE_METRICS = ("MAE", "Corr", "Non0_acc_2", "Non0_F1_score", "Mult_acc_7")


@dataclass(frozen=True)
class ResultsSource:
    """One results file as the book uses it."""

    name: str
    path: Path | None          # None: neither the full nor the quick file exists
    quick: bool
    data: dict[str, Any] | None

    @property
    def available(self) -> bool:
        return self.data is not None

    @property
    def stale(self) -> list[str]:
        """Why a full-mode file is not what the current code makes (:func:`msa_lib.training.experiments.staleness`);
        ``[]`` when current, and for quick or absent files (they are flagged otherwise)."""
        if self.data is None or self.quick:
            return []
        from ..training.experiments import EXPERIMENTS, cached_staleness

        return cached_staleness(self.name, self.data) if self.name in EXPERIMENTS else []

    @property
    def rows(self) -> list[dict[str, Any]]:
        if self.data is None:
            raise FileNotFoundError(f"no results for {self.name!r}: {self.how_to_make()}")
        return list(self.data["rows"])

    def how_to_make(self) -> str:
        """The full run's command (the experiment's ``remake``: its Ray grid), else the notebook with QUICK=False."""
        from ..training.experiments import EXPERIMENTS

        if self.name in EXPERIMENTS:
            full = f"`{EXPERIMENTS[self.name].remake}`"
        else:
            notebook = BOOK_RESULTS.get(self.name, f"the notebook that writes {self.name}.json")
            full = f"`papermill {notebook} out.ipynb -k python3 --cwd notebooks -p QUICK False`"
        return f"run {full} (full, writes results/{self.name}.json) or `make test` (quick, writes results/quick/)"


def load_for_book(name: str) -> ResultsSource:
    """``results/<name>.json`` if it exists, else ``results/quick/<name>.json``, else an unavailable source."""
    for quick in (False, True):
        path = results_path(name, quick=quick)
        if path.is_file():
            return ResultsSource(name=name, path=path, quick=quick, data=load_results(name, quick=quick))
    return ResultsSource(name=name, path=None, quick=True, data=None)


def provenance_banner(sources: Sequence[ResultsSource]) -> str | None:
    """Markdown for a warning when any number on the page is a quick-mode (or missing) result, else None."""
    quick = [s.name for s in sources if s.available and s.quick]
    absent = [s.name for s in sources if not s.available]
    if not quick and not absent:
        return None
    lines = []
    if quick:
        lines.append(
            "**Quick-mode numbers.** " + ", ".join(f"`{n}`" for n in quick)
            + " come from `results/quick/`: a smoke-test run on a small synthetic set with few epochs and seeds. "
            "They show that the pipeline works, not how well the methods work. The full-mode files "
            "(`results/<name>.json`) replace them as soon as they exist."
        )
    if absent:
        lines.append("**Not run yet.** " + "; ".join(f"`{s.name}`: {s.how_to_make()}" for s in sources
                                                      if not s.available) + ".")
    return "\n\n".join(lines)


def stale_banner(sources: Sequence[ResultsSource]) -> str | None:
    """A red ``{danger}`` admonition (MyST) naming every full-mode file that is stale, with the commit that made
    it and why it is stale; None when every full-mode file is current."""
    stale = [s for s in sources if s.stale]
    if not stale:
        return None
    from ..training.experiments import EXPERIMENTS

    lines = []
    for s in stale:
        sha = s.data.get("git_commit")
        commit = f"commit `{sha[:10]}`" if sha else "an unrecorded commit"
        lines.append(f"- `{s.name}` (made {s.data.get('created', '?')} at {commit}): " + "; ".join(s.stale)
                     + f". Re-make it: `{EXPERIMENTS[s.name].remake}`.")
    return ("```{danger} Stale results\nThese files were not made by the code as it stands, so their numbers may "
            "not be what it produces:\n\n" + "\n".join(lines) + "\n```")


def provenance_table(sources: Sequence[ResultsSource]):
    """One line per results file: mode, status (current / stale), the commit that made it, data set, seeds, number
    of rows, date, and the command that made it."""
    import pandas as pd

    records = []
    for s in sources:
        if not s.available:
            records.append({"results": s.name, "file": "—", "mode": "not run", "status": "", "commit": "",
                            "dataset": "", "seeds": "", "rows": 0, "created": "", "command": ""})
            continue
        d = s.data
        try:
            shown = s.path.relative_to(s.path.parents[2] if s.quick else s.path.parents[1])
        except (ValueError, IndexError):
            shown = s.path
        records.append({
            "results": s.name,
            "file": str(shown),
            "mode": "quick" if d.get("quick", s.quick) else "full",
            "status": "quick run" if s.quick else ("STALE" if s.stale else "current"),
            "commit": (d.get("git_commit") or "not recorded")[:10] + (" (dirty)" if d.get("git_dirty") else ""),
            "dataset": d.get("dataset", ""),
            "seeds": ", ".join(str(x) for x in d.get("seeds", [])),
            "rows": len(d["rows"]),
            "created": d.get("created", ""),
            "command": d.get("command", ""),
        })
    return pd.DataFrame.from_records(records).set_index("results")


def headline_table(source: ResultsSource, methods: Sequence[str] | None = None,
                   conditions: Sequence[str] | None = None, metrics: Sequence[str] = HEADLINE_METRICS,
                   digits: int = 3):
    """Mean ± sample std (ddof=1) over seeds of the headline metrics, one line per (method, condition), in the file's order,
    restricted to ``methods`` / ``conditions`` when given (unknown names are an error, not an empty table)."""
    from ..training.results import results_table

    rows = source.rows
    for label, wanted, key in (("methods", methods, "method"), ("conditions", conditions, "condition")):
        if wanted is not None:
            have = {r[key] for r in rows}
            unknown = [w for w in wanted if w not in have]
            if unknown:
                raise KeyError(f"headline_table({source.name!r}): unknown {label} {unknown}; have {sorted(have)}")
    picked = [r for r in rows
              if (methods is None or r["method"] in methods) and (conditions is None or r["condition"] in conditions)]
    present = [m for m in metrics if all(m in r["metrics"] for r in picked)]
    return results_table(picked, present, digits=digits)


# ------------------------------------------------------------------------------------------ chapter run times
#: ``results/chapter_timings.json``: each chapter's quick-mode run time, written by the notebook tests
#: (``MSA_RECORD_TIMINGS=1 make test``, tests/test_notebooks.py::test_notebook_runs) and committed.
CHAPTER_TIMINGS = "chapter_timings.json"

#: What the committed full-mode results files measured of each chapter's full mode:
#: chapter number -> (results name, ``training_seconds`` keys to add up, or None for the whole run's wall time,
#: what that covers). A chapter not listed here, or whose file or keys are missing, is "not measured".
FULL_MODE_TIMES = {
    "02": ("missing_text", ("teacher/0",), "training the teacher, seed 0 (the rest of the chapter not timed)"),
    "03": ("missing_text", ("teacher/0", "sdumc/0"),
           "training the teacher and SDUMC, seed 0 (the rest of the chapter not timed)"),
    "04": ("missing_text", None, "the whole experiment, every method and seed"),
    "05": ("corrkd", None, "the whole experiment, every method and seed"),
    "07": ("head_to_head", None, "the whole experiment, every method and seed"),
}


def duration(seconds: float | None) -> str:
    """``73.4`` -> ``"1 min 13 s"``; ``None`` -> ``"—"``."""
    if seconds is None:
        return "—"
    seconds = int(round(float(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def machine(environment: dict[str, Any] | None) -> str:
    """A results file's ``environment`` in a few words: accelerator (or CPU), CPUs, torch."""
    env = environment or {}
    device = env.get("cuda_device") or "CPU only"
    return f"{device}, {env.get('cpus', '?')} CPUs, torch {env.get('torch', '?')}"


def load_chapter_timings(path: Path | None = None) -> dict[str, Any] | None:
    """``results/chapter_timings.json`` (or ``path``) as a dict, or None when it does not exist."""
    import json

    from ..training.results import results_dir

    path = Path(path) if path is not None else results_dir() / CHAPTER_TIMINGS
    return json.loads(path.read_text()) if path.is_file() else None


def full_mode_time(chapter: str) -> tuple[str, str]:
    """What the committed full-mode results file says about chapter ``chapter``'s ("05") full-mode time:
    ``(duration, what it covers and where it ran)``; ``("not measured", "")`` when nothing recorded it."""
    import json

    from ..training.results import results_path

    spec = FULL_MODE_TIMES.get(chapter[:2])
    absent = ("not measured", "")
    if spec is None:
        return absent
    name, keys, what = spec
    path = results_path(name, quick=False)
    if not path.is_file():
        return absent
    data = json.loads(path.read_text())
    training = data.get("training_seconds") or {}
    if keys is None:
        if data.get("wall_seconds") is None:
            return absent
        seconds, detail = data["wall_seconds"], f"wall time of {what}"
        workers = (data.get("extra") or {}).get("workers")
        if training:
            detail += (f" ({duration(sum(training.values()))} of training added up over its {len(training)} runs"
                       + (f", {workers} at a time" if workers else "") + ")")
    else:
        if not all(k in training for k in keys):
            return absent
        seconds, detail = sum(training[k] for k in keys), what
    return duration(seconds), f"{detail}; {machine(data.get('environment'))}; `results/{name}.json`"


def chapter_timings_table(path: Path | None = None):
    """One line per chapter: its quick-mode times from ``results/chapter_timings.json`` (up to the exercises, the
    solved exercises, the whole test run) and what the full-mode results files measured (:func:`full_mode_time`).
    Chapters are those of ``notebooks/``; a chapter the timings file lacks shows "—"."""
    import pandas as pd

    from ..provenance import REPO_ROOT

    timings = (load_chapter_timings(path) or {}).get("chapters", {})
    stems = sorted({p.stem for p in (REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")} | set(timings))
    records = []
    for stem in stems:
        entry = timings.get(stem, {})
        chapter = entry.get("chapter_seconds")
        exercises = entry.get("exercises_seconds")
        records.append({
            "chapter": stem,
            "quick: up to the exercises": duration(chapter),
            "quick: the exercises (solutions)": duration(exercises),
            "quick: both": duration(None if chapter is None else chapter + (exercises or 0.0)),
            "quick: test run (wall)": duration(entry.get("wall_seconds")),
            "full mode": full_mode_time(stem)[0],
            "full mode: what was timed, where": full_mode_time(stem)[1],
        })
    return pd.DataFrame.from_records(records).set_index("chapter")


def chapter_timings_note(path: Path | None = None) -> str:
    """Markdown: where and when the quick-mode times were measured (commit, machine, date), or how to measure
    them when the file does not exist."""
    timings = load_chapter_timings(path)
    how = ("`MSA_RECORD_TIMINGS=1 make test` (or `MSA_RECORD_TIMINGS=1 .venv/bin/pytest tests/test_notebooks.py "
           "-k test_notebook_runs`) writes them")
    if not timings or not timings.get("chapters"):
        return f"*No quick-mode times recorded yet (`results/{CHAPTER_TIMINGS}`):* {how}."
    groups: dict[tuple, list[str]] = {}
    for stem, entry in timings["chapters"].items():
        sha = entry.get("git_commit")
        commit = (f"commit `{sha[:10]}`" if sha else "an unrecorded commit") + (
            " with uncommitted changes" if entry.get("git_dirty") else "")
        key = (commit, machine(entry.get("environment")), (entry.get("created") or "?")[:10])
        groups.setdefault(key, []).append(stem[:2])
    lines = [f"- chapter{'s' if len(chapters) > 1 else ''} {', '.join(chapters)}: {commit}, {where}, {date}"
             for (commit, where, date), chapters in groups.items()]
    return ("Quick-mode times from `results/" + CHAPTER_TIMINGS + "`, measured by the notebook tests "
            "(papermill, one kernel per chapter):\n\n" + "\n".join(lines) + f"\n\n{how} again.")
