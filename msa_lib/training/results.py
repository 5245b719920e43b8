"""``results/<name>.json``: the only source of the numbers the book quotes.

Format (../shared/API.md)::

    {"name": ..., "quick": false, "seeds": [0, 1, 2], "dataset": "synthetic_mosei",
     "command": "papermill notebooks/04_... -p QUICK False", "created": "...", "msa_lib_version": ...,
     "rows": [{"method": "sdumc", "condition": "text_missing", "seed": 0,
               "metrics": {"Has0_acc_2": ..., ..., "Corr": ...}}, ...]}

Full-mode runs write ``results/<name>.json`` (committed); quick runs write
``results/quick/<name>.json`` so a test or a book build never overwrites the real numbers.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from .. import __version__

#: Where results go; ``MSA_RESULTS_DIR`` overrides (tests point it at a temporary folder).
def results_dir() -> Path:
    """The results folder: ``$MSA_RESULTS_DIR`` or ``results/`` at the repository root (cwd's parent
    when run from ``notebooks/``)."""
    env = os.environ.get("MSA_RESULTS_DIR")
    if env:
        return Path(env)
    cwd = Path.cwd()
    for candidate in (cwd, *cwd.parents):
        if (candidate / "msa_lib").is_dir() and (candidate / "notebooks").is_dir():
            return candidate / "results"
    return cwd / "results"


def result_row(method: str, condition: str, seed: int, metrics: dict[str, Any]) -> dict[str, Any]:
    """One row of a results file; metric values become plain floats (NaN kept as NaN)."""
    if not isinstance(method, str) or not method:
        raise ValueError(f"result_row: method must be a non-empty string, got {method!r}")
    if not isinstance(condition, str) or not condition:
        raise ValueError(f"result_row: condition must be a non-empty string, got {condition!r}")
    return {
        "method": method,
        "condition": condition,
        "seed": int(seed),
        "metrics": {k: float(v) for k, v in metrics.items()},
    }


def results_name(base: str, dataset) -> str:
    """The results file's name for a run of ``base`` (e.g. ``"corrkd"``) on ``dataset``.

    The book's files (``results/corrkd.json``) belong to the synthetic default. A run on any other data
    (``DATA_PATH``) writes ``<base>__<data set name>`` instead, so a full run on a reader's MOSI pickle
    never overwrites the numbers the book quotes: e.g. ``corrkd__MOSI-unaligned_50``.
    """
    if dataset.info.get("source") == "synthetic_mosei":
        return base
    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in str(dataset.name)).strip("-.")
    return f"{base}__{slug or 'data'}"


def results_path(name: str, *, quick: bool) -> Path:
    """``results/<name>.json`` for full runs, ``results/quick/<name>.json`` for quick runs."""
    base = results_dir()
    return (base / "quick" if quick else base) / f"{name}.json"


def _environment() -> dict[str, Any]:
    """Where a results file was made: Python, torch, the CUDA device (or None) and the CPU count."""
    import platform

    import torch

    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"python": platform.python_version(), "torch": torch.__version__, "cuda_device": cuda,
            "cpus": os.cpu_count()}


def write_results(
    name: str,
    rows: Sequence[dict[str, Any]],
    *,
    quick: bool,
    seeds: Sequence[int],
    dataset: str,
    command: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``rows`` (from :func:`result_row`) with the run's parameters; returns the file's path.

    ``command`` records how to reproduce the file (default: the current process's command line).
    """
    if not rows:
        raise ValueError(f"write_results({name!r}): no rows to write")
    for i, row in enumerate(rows):
        missing = {"method", "condition", "seed", "metrics"} - set(row)
        if missing:
            raise ValueError(f"write_results({name!r}): row {i} lacks {sorted(missing)}")
    payload = {
        "name": name,
        "quick": bool(quick),
        "seeds": [int(s) for s in seeds],
        "dataset": dataset,
        "command": command or " ".join(sys.argv),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "msa_lib_version": __version__,
        "environment": _environment(),
        "rows": list(rows),
    }
    if extra:
        payload["extra"] = extra
    path = results_path(name, quick=quick)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=1, allow_nan=True) + "\n")
    os.replace(tmp, path)
    return path


def load_results(name: str, *, quick: bool = False) -> dict[str, Any]:
    """Read ``results/<name>.json`` (or the quick one); a clear error names the missing file."""
    path = results_path(name, quick=quick)
    if not path.is_file():
        hint = "" if quick else f" (quick-mode numbers may be in {results_path(name, quick=True)})"
        raise FileNotFoundError(f"no results file {path}{hint}")
    data = json.loads(path.read_text())
    if "rows" not in data:
        raise ValueError(f"{path} has no 'rows' key: not a results file")
    return data


def full_run(name: str) -> dict[str, Any] | None:
    """The full-mode ``results/<name>.json`` for a chapter's "full-mode run" section, or None.

    Prints where the numbers come from (data set, seeds, the command that made the file) and returns the file's
    contents; when the file does not exist yet, prints why and returns None, so the chapter still runs.
    """
    try:
        full = load_results(name, quick=False)
    except FileNotFoundError as err:
        print(err)
        return None
    print(f"{full.get('dataset', '?')}, seeds {full.get('seeds', '?')}, made by: {full.get('command', '?')}")
    return full


def run_seeds(fn: Callable[[int], Iterable[dict[str, Any]]], seeds: Sequence[int]) -> list[dict]:
    """Call ``fn(seed)`` for each seed and concatenate the rows it returns."""
    rows: list[dict] = []
    for seed in seeds:
        rows.extend(fn(int(seed)))
    return rows


def results_table(
    rows: Sequence[dict[str, Any]],
    metrics: Sequence[str] | None = None,
    *,
    index: Sequence[str] = ("method", "condition"),
    scale: float = 1.0,
    digits: int = 4,
    as_text: bool = True,
):
    """Mean ± std over seeds of each metric, one line per (method, condition).

    Uses the population std (ddof=0), as MMSA's ``run.py`` does when it aggregates seeds.
    With ``as_text`` the cells are strings ``"0.7123 ± 0.0100"``; otherwise the DataFrame has a
    two-level column index (metric, mean|std|n). Rows keep the order in which methods and
    conditions first appear.
    """
    import pandas as pd

    if not rows:
        raise ValueError("results_table: no rows")
    records = []
    for row in rows:
        rec = {k: row[k] for k in index}
        rec["seed"] = row["seed"]
        rec.update(row["metrics"])
        records.append(rec)
    frame = pd.DataFrame.from_records(records)
    metric_names = list(metrics) if metrics is not None else [
        c for c in frame.columns if c not in (*index, "seed")
    ]
    unknown = [m for m in metric_names if m not in frame.columns]
    if unknown:
        raise KeyError(f"results_table: unknown metrics {unknown}; have {list(frame.columns)}")
    grouped = frame.groupby(list(index), sort=False)[metric_names]
    mean = grouped.mean() * scale
    std = grouped.std(ddof=0) * scale
    count = grouped.count()
    if not as_text:
        return pd.concat({"mean": mean, "std": std, "n": count}, axis=1).swaplevel(0, 1, axis=1)
    text = mean.copy().astype(object)
    for m in metric_names:
        text[m] = [
            "nan" if (isinstance(a, float) and math.isnan(a)) else f"{a:.{digits}f} ± {s:.{digits}f}"
            for a, s in zip(mean[m], std[m])
        ]
    return text
