"""``results/<name>.json``: the only source of the numbers the book quotes.

Format (../shared/API.md)::

    {"name": ..., "quick": false, "seeds": [0, 1, 2], "dataset": "synthetic_mosei",
     "command": "papermill notebooks/04_... -p QUICK False", "created": "...", "msa_lib_version": ...,
     "git_commit": "...", "git_dirty": false, "environment": {...}, "data_fingerprint": {...},
     "config_hashes": {"sdumc": "...", ...}, "configs": {...}, "code_modules": [...], "code_version": "...",
     "accepted_changes": [], "wall_seconds": ..., "seconds": {"sdumc/0": ...},
     "histories": {"sdumc/0": [{"epoch": 1, "train_loss": ..., "valid_MAE": ..., ...}, ...]},
     "predictions": {"file": "<name>.predictions.npz", "sha": "..."},
     "rows": [{"method": "sdumc", "condition": "text_missing", "seed": 0,
               "metrics": {"Has0_acc_2": ..., ..., "Corr": ...}}, ...]}

Full-mode runs write ``results/<name>.json`` (committed); quick runs write ``results/quick/<name>.json``
(or ``$MSA_QUICK_RESULTS_DIR``) so a test or a book build never overwrites the real numbers.
:mod:`msa_lib.training.experiments` checks a committed file against what the current code would run.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

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


def quick_results_dir() -> Path:
    """Where quick runs write: ``$MSA_QUICK_RESULTS_DIR`` when set (the tests and the book build point it at a
    temporary or build folder), else ``results/quick/``."""
    env = os.environ.get("MSA_QUICK_RESULTS_DIR")
    return Path(env) if env else results_dir() / "quick"


def results_path(name: str, *, quick: bool) -> Path:
    """``results/<name>.json`` for full runs, ``results/quick/<name>.json`` (:func:`quick_results_dir`) for quick runs."""
    return (quick_results_dir() if quick else results_dir()) / f"{name}.json"


def _environment() -> dict[str, Any]:
    """Where a results file was made (:func:`msa_lib.provenance.environment`)."""
    from ..provenance import environment

    return environment()


def _run_key(key: Any) -> str:
    """``("sdumc", 0)`` → ``"sdumc/0"``; a string key is kept as it is."""
    if isinstance(key, tuple):
        return "/".join(str(k) for k in key)
    return str(key)


def _history_rows(fit: Any) -> list[dict[str, Any]]:
    """The per-epoch history of a FitResult, a FitResult dict, or a list of epoch dicts, as plain numbers."""
    from ..provenance import plain

    history = getattr(fit, "history", None)
    if history is None and isinstance(fit, dict):
        history = fit.get("history", fit if all(isinstance(v, dict) for v in fit.values()) else None)
    if history is None and isinstance(fit, list):
        history = fit
    if history is None:
        raise TypeError(f"write_results: cannot read a per-epoch history from {type(fit).__name__}")
    return [plain(row) for row in history]


def predictions_path(name: str, *, quick: bool) -> Path:
    """``results/<name>.predictions.npz`` (or the quick one): the per-utterance test predictions of a file."""
    return results_path(name, quick=quick).with_name(f"{name}.predictions.npz")


def prediction_key(method: str, condition: str, seed: int) -> str:
    """The key of one (method, condition, seed) array in a predictions file: ``"sdumc|text_missing|0"``."""
    return f"{method}|{condition}|{int(seed)}"


def _write_predictions(path: Path, predictions: dict[str, Any], labels: Any) -> str:
    import hashlib

    import numpy as np

    arrays = {"label": np.asarray(labels, np.float32)}
    n = arrays["label"].shape[0]
    for key, value in predictions.items():
        arr = np.asarray(value, np.float32).reshape(-1)
        if arr.shape[0] != n:
            raise ValueError(f"write_results: predictions {key!r} have {arr.shape[0]} values for {n} test labels")
        arrays[key] = arr
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    os.replace(tmp, path)
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def write_results(
    name: str,
    rows: Sequence[dict[str, Any]],
    *,
    quick: bool,
    seeds: Sequence[int],
    dataset: Any,
    command: str | None = None,
    extra: dict[str, Any] | None = None,
    configs: Mapping[str, Any] | None = None,
    code_modules: Sequence[str] | None = None,
    histories: Mapping[Any, Any] | None = None,
    seconds: Mapping[Any, float] | None = None,
    predictions: Mapping[Any, Any] | None = None,
    wall_seconds: float | None = None,
) -> Path:
    """Write ``rows`` (from :func:`result_row`) with the run's parameters and provenance; returns the path.

    Args:
        name: the file's name (``results/<name>.json``; quick runs ``results/quick/<name>.json``).
        rows: :func:`result_row` dicts.
        quick: whether this was a quick-mode run.
        seeds: the seeds run.
        dataset: the :class:`~msa_lib.data.MSADataset` the rows were computed on (its content is fingerprinted
            into ``data_fingerprint``), or only its name (then no fingerprint is recorded).
        command: how to reproduce the file (default: the current process's command line).
        extra: anything else worth keeping (free form).
        configs: method → its full resolved configuration (a dataclass or dict); stored as ``configs`` and,
            hashed (:func:`msa_lib.provenance.config_hash`), as ``config_hashes``.
        code_modules: the modules whose code decides these numbers; ``code_version`` is their hash
            (:func:`msa_lib.provenance.code_version`).
        histories: (method, seed) → FitResult (or its dict / its history list): stored per epoch under
            ``histories["<method>/<seed>"]``, so learning curves can be drawn from the file alone.
        seconds: (method, seed) → wall-clock seconds of that training (or of loading its checkpoint); the
            file also records ``training_seconds``, the sum of each history's per-epoch ``seconds``.
        predictions: (method, condition, seed) → test predictions [N_test], written beside the file as
            ``<name>.predictions.npz`` with the test labels (the paired bootstrap of :mod:`msa_lib.stats`
            reads them); needs ``dataset`` to be the data set.
        wall_seconds: the whole run's wall-clock time.

    Besides those, every file records ``git_commit`` / ``git_dirty`` (:func:`msa_lib.provenance.git_state`),
    ``environment`` and ``created``. A full-mode file without ``configs``, ``code_modules`` or a data set to
    fingerprint is written with a warning: :mod:`msa_lib.training.experiments` will call it stale.
    """
    from ..provenance import code_version, config_hash, data_fingerprint, git_state, plain

    if not rows:
        raise ValueError(f"write_results({name!r}): no rows to write")
    for i, row in enumerate(rows):
        missing = {"method", "condition", "seed", "metrics"} - set(row)
        if missing:
            raise ValueError(f"write_results({name!r}): row {i} lacks {sorted(missing)}")
    data_set = None if isinstance(dataset, str) else dataset
    dataset_name = dataset if isinstance(dataset, str) else str(getattr(dataset, "name", dataset))
    git = git_state()
    payload = {
        "name": name,
        "quick": bool(quick),
        "seeds": [int(s) for s in seeds],
        "dataset": dataset_name,
        "command": command or " ".join(sys.argv),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "msa_lib_version": __version__,
        "git_commit": git["commit"],
        "git_dirty": git["dirty"],
        "environment": _environment(),
        "data_fingerprint": data_fingerprint(data_set) if data_set is not None else None,
        "config_hashes": {m: config_hash(c) for m, c in (configs or {}).items()},
        "configs": {m: plain(c) for m, c in (configs or {}).items()},
        "code_modules": sorted(code_modules) if code_modules else [],
        "code_version": code_version(code_modules) if code_modules else None,
        "accepted_changes": [],
        "wall_seconds": None if wall_seconds is None else float(wall_seconds),
        "seconds": {_run_key(k): float(v) for k, v in (seconds or {}).items()},
        "histories": {_run_key(k): _history_rows(v) for k, v in (histories or {}).items()},
        "training_seconds": {},
        "selected_epochs": {_run_key(k): int(e) for k, v in (histories or {}).items()
                            if (e := getattr(v, "best_epoch", None) if not isinstance(v, dict) else v.get("best_epoch"))},
        "rows": list(rows),
    }
    # the training time of each model from its own history (true also when the model was loaded from a
    # checkpoint, where ``seconds`` only measures the loading)
    payload["training_seconds"] = {k: float(sum(h.get("seconds", 0.0) for h in rows_))
                                   for k, rows_ in payload["histories"].items()}
    if extra:
        payload["extra"] = plain(extra)
    path = results_path(name, quick=quick)
    if predictions:
        if data_set is None:
            raise ValueError(f"write_results({name!r}): predictions need the data set (for its test labels), "
                             "not only its name")
        keyed = {prediction_key(*k) if isinstance(k, tuple) else str(k): v for k, v in predictions.items()}
        pred_path = predictions_path(name, quick=quick)
        payload["predictions"] = {"file": pred_path.name, "sha": _write_predictions(pred_path, keyed,
                                                                                    data_set["test"].labels)}
    if not quick and not (configs and code_modules and data_set is not None):
        warnings.warn(f"write_results({name!r}): a full-mode file without configs, code_modules and a data set "
                      "to fingerprint; the staleness check (msa_lib.training.experiments) will call it stale",
                      stacklevel=2)
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


def load_predictions(name: str, *, quick: bool = False) -> dict[str, Any] | None:
    """The per-utterance test predictions beside ``results/<name>.json`` (``{"<method>|<condition>|<seed>": [N],
    "label": [N]}``), or None when the file has none. A predictions file whose hash differs from the one the
    results file records is refused (it belongs to another run)."""
    import hashlib

    import numpy as np

    data = load_results(name, quick=quick)
    entry = data.get("predictions")
    if not entry:
        return None
    path = results_path(name, quick=quick).with_name(entry["file"])
    if not path.is_file():
        raise FileNotFoundError(f"{results_path(name, quick=quick)} names predictions {path}, which does not exist")
    sha = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    if sha != entry.get("sha"):
        raise ValueError(f"{path} (sha {sha}) is not the predictions file {results_path(name, quick=quick)} "
                         f"was written with (sha {entry.get('sha')}): re-make both together")
    with np.load(path) as npz:
        return {k: npz[k] for k in npz.files}


def full_run(name: str) -> dict[str, Any] | None:
    """The full-mode ``results/<name>.json`` for a chapter's "full-mode run" section, or None.

    Prints where the numbers come from (data set, seeds, the commit and the command that made the file) and, for
    a file of the book's experiments that the current code would not make (:mod:`msa_lib.training.experiments`),
    why it is stale; returns the file's contents. When the file does not exist yet, prints why and returns None,
    so the chapter still runs.
    """
    try:
        full = load_results(name, quick=False)
    except FileNotFoundError as err:
        print(err)
        return None
    commit = full.get("git_commit")
    made = f"commit {commit[:10]}{' (dirty tree)' if full.get('git_dirty') else ''}" if commit else "an unrecorded commit"
    print(f"{full.get('dataset', '?')}, seeds {full.get('seeds', '?')}, made by: {full.get('command', '?')} "
          f"({made}, {full.get('created', '?')})")
    from .experiments import EXPERIMENTS, cached_staleness

    if name in EXPERIMENTS:
        problems = cached_staleness(name, full)
        if problems:
            print(f"STALE: {'; '.join(problems)}. Re-make it: {EXPERIMENTS[name].remake}")
    return full


def full_history(full: Mapping[str, Any], method: str, seed: int) -> list[dict[str, Any]] | None:
    """The per-epoch history of ``method`` / ``seed`` stored in a results file, for a learning curve drawn from
    the file alone; None (with a printed reason) when the file does not record it (files made before
    histories were recorded, or a method it did not train)."""
    histories = full.get("histories")
    if histories is None:
        print(f"{full.get('name', 'this file')}: no per-epoch histories recorded (made {full.get('created', '?')}, "
              "before results files stored them); re-make the file to draw its learning curves.")
        return None
    key = f"{method}/{int(seed)}"
    if key not in histories:
        print(f"{full.get('name', 'this file')}: no history for {key}; it has {sorted(histories)[:8]}...")
        return None
    return list(histories[key])


def _duration(seconds: float) -> str:
    """``"156 s"``, ``"25 min"``, ``"1.3 h"``: a time span in the unit a reader would use."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def selected_epochs(full: Mapping[str, Any]) -> dict[str, tuple[int, int | None]]:
    """Per trained model of a results file (``"method/seed"``): ``(selected epoch, epoch budget)``.

    The selected epoch is the one the file records (``selected_epochs``, written since 2026-12-04); a file made
    before that gives the epoch with the lowest ``valid_score`` of the stored history, which is what every
    regression run selects (a classification run maximises its score and records its epochs). The budget is the
    ``epochs`` of the method's recorded config (``None`` when it has none). Models whose history has a
    non-finite score, and that record no selected epoch, are left out."""
    budgets = {m: c.get("epochs") for m, c in (full.get("configs") or {}).items() if isinstance(c, dict)}
    recorded = full.get("selected_epochs") or {}
    out = {}
    for key, hist in (full.get("histories") or {}).items():
        scores = [h.get("valid_score") for h in hist]
        if key in recorded:
            best_epoch = int(recorded[key])
        elif scores and all(v is not None and math.isfinite(float(v)) for v in scores):
            best = min(range(len(scores)), key=lambda i: float(scores[i]))
            best_epoch = int(hist[best].get("epoch", best + 1))
        else:
            continue
        out[key] = (best_epoch, budgets.get(key.split("/")[0]))
    return out


def run_summary(full: Mapping[str, Any]) -> str:
    """One Markdown paragraph on how a full-mode results file was made, computed from the file alone: data set
    and seeds, the epoch budget of each method's config, how many models selected their *last* epoch (a sign
    the budget, not the validation criterion, ended training), the training time and the machine.

    Chapters print it above their findings so that no run detail is typed into prose.
    """
    env = full.get("environment") or {}
    machine = (f"GPU {env['cuda_device']}" if env.get("cuda_device")
               else f"CPU ({env.get('cpus', '?')} cores, torch {env.get('torch', '?')})")
    fp = full.get("data_fingerprint") or {}
    sizes = fp.get("sizes")
    size_txt = f" ({' / '.join(str(sizes[k]) for k in ('train', 'valid', 'test') if k in sizes)} utterances)" \
        if isinstance(sizes, dict) else ""
    budgets = {m: c.get("epochs") for m, c in (full.get("configs") or {}).items() if isinstance(c, dict)}
    budget_txt = ", ".join(f"{n} epochs" for n in sorted({b for b in budgets.values() if b}))
    selected = selected_epochs(full)
    total = len(selected)
    last = sum(1 for best, budget in selected.values() if budget and best >= budget)
    train = sum((full.get("training_seconds") or {}).values())
    wall = full.get("wall_seconds")
    parts = [f"**How this file was made.** `{full.get('command', '?')}` on {full.get('dataset', '?')}{size_txt}, "
             f"seeds {full.get('seeds', '?')}"]
    if budget_txt:
        parts.append(f", a budget of {budget_txt} per model")
    parts.append(f", at commit `{str(full.get('git_commit', '?'))[:10]}` ({full.get('created', '?')}) on a {machine}")
    if train:
        parts.append(f"; training took {_duration(train)} of model time"
                     + (f", {_duration(wall)} of wall time" if wall else ""))
    parts.append(".")
    if total:
        parts.append(f" {last} of the {total} trained models selected the last epoch of their budget"
                     + (": they were still improving on the validation split when training stopped."
                        if last > total / 2 else "."))
    return "".join(parts)


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
    ddof: int = 1,
):
    """Mean ± std over seeds of each metric, one line per (method, condition).

    The spread is the **sample** standard deviation over seeds (``ddof=1``, the unbiased variance's root:
    with 3 to 5 seeds the population std, which MMSA's ``run.py`` reports, understates it by 10-20 %);
    ``ddof=0`` gives MMSA's. NaN is never dropped from a mean: a group with a NaN seed has a NaN mean,
    and its text cell says how many seeds were NaN (``"nan (1 of 3 seeds NaN)"``). A group of one seed has no
    spread (``"0.7123 (1 seed)"``).

    With ``as_text`` the cells are strings ``"0.7123 ± 0.0100"``; otherwise the DataFrame has a two-level
    column index (metric, mean|std|n|n_nan). Rows keep the order in which methods and conditions first appear.
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
    frame[metric_names] = frame[metric_names].astype(float)
    grouped = frame.groupby(list(index), sort=False)[metric_names]
    mean = grouped.apply(lambda g: g.mean(skipna=False)) * scale
    std = grouped.apply(lambda g: g.std(ddof=ddof, skipna=False)) * scale
    count = grouped.size()
    n = pd.DataFrame({m: count for m in metric_names})
    n_nan = grouped.apply(lambda g: g.isna().sum())
    if not as_text:
        return pd.concat({"mean": mean, "std": std, "n": n, "n_nan": n_nan}, axis=1).swaplevel(0, 1, axis=1)
    text = mean.copy().astype(object)
    for m in metric_names:
        cells = []
        for a, sd, k, bad in zip(mean[m], std[m], n[m], n_nan[m]):
            if bad:
                cells.append(f"nan ({int(bad)} of {int(k)} seeds NaN)")
            elif k == 1:
                cells.append(f"{a:.{digits}f} (1 seed)")
            else:
                cells.append(f"{a:.{digits}f} ± {sd:.{digits}f}")
        text[m] = cells
    return text
