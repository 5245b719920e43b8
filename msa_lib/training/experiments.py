"""The book's full-mode experiments, and a check that a committed results file is what the current code runs.

Each committed ``results/<name>.json`` belongs to one :class:`Experiment`: the methods it trains, the full-mode
configuration of each (:func:`msa_lib.training.sdumc.method_configs`, :func:`msa_lib.training.corrkd.method_configs`),
the modules whose code decides its numbers, and the synthetic default data set (full size). :func:`staleness`
compares a file against that: a changed default, loss, model or data generator makes the file *stale* until it
is re-made, or until the change is declared as not affecting it::

    python -m msa_lib.training.experiments                 # every committed file: current or stale, and why
    python -m msa_lib.training.experiments accept missing_text --reason "renamed a variable in the MIA"

``accept`` records the *current* hashes in the file's ``accepted_changes`` with the reason, and the check then
accepts exactly those hashes; the next change to the same code fails again. A file made on a dirty working tree
is stale too (its commit does not say what made it).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from ..provenance import code_version, config_hash, data_fingerprint
from .results import load_results, results_path


def _missing_text_methods() -> dict[str, Any]:
    from .sdumc import EVAL_METHODS, SDUMCTrainConfig, method_configs

    return method_configs(SDUMCTrainConfig.full(), EVAL_METHODS)


def _corrkd_methods() -> dict[str, Any]:
    from .corrkd import ABLATION_METHODS, MAIN_METHODS, CorrKDTrainConfig, method_configs

    return method_configs(CorrKDTrainConfig.full(), ("teacher", *MAIN_METHODS, *ABLATION_METHODS, "corrkd_rcd_kl",
                                                       "corrkd_zero_missing"))


def _head_to_head_methods() -> dict[str, Any]:
    from .baselines import HEAD_TO_HEAD_METHODS, head_to_head_configs

    return head_to_head_configs(HEAD_TO_HEAD_METHODS, quick=False)


def _head_to_head_code() -> tuple[str, ...]:
    from .baselines import head_to_head_code

    return head_to_head_code()


def _head_to_head_data():
    from .baselines import head_to_head_data

    return head_to_head_data(quick=False)


def _sdumc_code() -> tuple[str, ...]:
    from .sdumc import CODE_MODULES

    return CODE_MODULES


def _corrkd_code() -> tuple[str, ...]:
    from .corrkd import CODE_MODULES

    return CODE_MODULES


@dataclass(frozen=True)
class Experiment:
    """One committed results file and how the current code would make it.

    Attributes:
        name: the file's name (``results/<name>.json``).
        notebook: the chapter that reads it (and, with ``QUICK=False``, writes it).
        remake: the command that re-makes it.
        methods: ``() -> {method: full resolved config}`` under the current defaults.
        code_modules: ``() -> modules`` whose code decides the numbers.
        data: ``() -> MSADataset`` the experiment runs on; ``None`` = the synthetic default at full size.
    """

    name: str
    notebook: str
    remake: str
    methods: Callable[[], Mapping[str, Any]]
    code_modules: Callable[[], tuple[str, ...]]
    data: Callable[[], Any] | None = None

    def expected(self, dataset=None) -> dict[str, Any]:
        """What a file made now would record: ``config_hashes``, ``code_version``, ``data_fingerprint``.

        ``dataset`` defaults to the experiment's :attr:`data` (the synthetic default at full size,
        ``load_dataset(None, quick=False)``, when it has none).
        """
        if dataset is None and self.data is not None:
            dataset = self.data()
        if dataset is None:
            from ..data import load_dataset

            dataset = load_dataset(None, quick=False, seed=0)
        return {
            "config_hashes": {m: config_hash(c) for m, c in self.methods().items()},
            "code_version": code_version(self.code_modules()),
            "data_fingerprint": data_fingerprint(dataset),
        }


#: The committed full-mode results files.
EXPERIMENTS: dict[str, Experiment] = {
    "missing_text": Experiment(
        "missing_text", "notebooks/04_missing_text_evaluation.ipynb",
        "python -m msa_lib.training.grid missing_text",
        _missing_text_methods, _sdumc_code),
    "corrkd": Experiment(
        "corrkd", "notebooks/05_corrkd.ipynb",
        "python -m msa_lib.training.grid corrkd && papermill notebooks/05_corrkd.ipynb out.ipynb --cwd notebooks -p QUICK False",
        _corrkd_methods, _corrkd_code),
    "head_to_head": Experiment(
        "head_to_head", "notebooks/07_head_to_head.ipynb",
        "python -m msa_lib.training.grid head_to_head",
        _head_to_head_methods, _head_to_head_code, _head_to_head_data),
}


def _accepted(data: Mapping[str, Any], what: str, value: Any) -> bool:
    return any(a.get("what") == what and a.get("value") == value for a in data.get("accepted_changes", []))


def staleness(name: str, data: Mapping[str, Any] | None = None, expected: Mapping[str, Any] | None = None) -> list[str]:
    """Why ``results/<name>.json`` is not what the current code would make in full mode; ``[]`` when current.

    ``data``: the file's contents (default: read it); ``expected``: :meth:`Experiment.expected` (default:
    computed, which builds the synthetic default data set, ~6 s). Checks, each a sentence in the answer:
    that the file is a full-mode file with provenance at all; that it was made from a clean tree; that every
    method's config hash, the code version and the data fingerprint equal the expected ones (or are listed
    in ``accepted_changes``); that every method in the rows has a recorded config.
    """
    if name not in EXPERIMENTS:
        raise KeyError(f"staleness: no experiment {name!r}; known: {sorted(EXPERIMENTS)}")
    data = data if data is not None else load_results(name)
    problems: list[str] = []
    if data.get("quick", True):
        problems.append("it is a quick-mode file")
    if "config_hashes" not in data or "data_fingerprint" not in data or "code_version" not in data:
        missing = [k for k in ("git_commit", "config_hashes", "code_version", "data_fingerprint", "histories")
                   if k not in data]
        return problems + [f"it records no provenance ({', '.join(missing)} missing; made {data.get('created', '?')}"
                           f" by msa_lib {data.get('msa_lib_version', '?')})"]
    if data.get("git_dirty") is not False:
        problems.append(f"it was made from a working tree that differed from commit {data.get('git_commit')}"
                        if data.get("git_dirty") else "it does not record a clean git commit")
    expected = expected if expected is not None else EXPERIMENTS[name].expected()
    recorded = data.get("config_hashes", {})
    for method, want in expected["config_hashes"].items():
        got = recorded.get(method)
        if got is None:
            continue  # a method the file does not have is not stale, only absent
        if got != want and not _accepted(data, f"config_hashes.{method}", want):
            problems.append(f"the full-mode config of {method!r} changed (file {got}, now {want})")
    row_methods = {r["method"] for r in data.get("rows", [])}
    for method in sorted(row_methods - set(recorded)):
        problems.append(f"rows of {method!r} have no recorded config")
    for method in sorted(row_methods - set(expected["config_hashes"])):
        problems.append(f"method {method!r} is not part of the experiment any more")
    if data.get("code_version") != expected["code_version"] and not _accepted(data, "code_version",
                                                                              expected["code_version"]):
        problems.append(f"the code of {', '.join(EXPERIMENTS[name].code_modules())} changed "
                        f"(file {data.get('code_version')}, now {expected['code_version']})")
    got_fp, want_fp = data.get("data_fingerprint") or {}, expected["data_fingerprint"]
    if got_fp.get("hash") != want_fp["hash"] and not _accepted(data, "data_fingerprint", want_fp["hash"]):
        parts = [k for k in ("sizes", "dims", "labels_sha", "lengths_sha", "features_sha")
                 if got_fp.get(k) != want_fp.get(k)]
        which = "the synthetic default's" if EXPERIMENTS[name].data is None else "the experiment's"
        problems.append(f"the data differ from {which} ({', '.join(parts) or 'fingerprint'})")
    return problems


_EXPECTED: dict[str, dict] = {}


def cached_staleness(name: str, data: Mapping[str, Any]) -> list[str]:
    """:func:`staleness` with the expected provenance computed once per process (the book's pages and chapters
    ask for it several times; building the synthetic default takes ~6 s)."""
    if "config_hashes" not in data:
        return staleness(name, data, expected={})
    if name not in _EXPECTED:
        _EXPECTED[name] = EXPERIMENTS[name].expected()
    return staleness(name, data, _EXPECTED[name])


def accept_changes(name: str, reason: str, expected: Mapping[str, Any] | None = None) -> list[dict]:
    """Declare the current code/config/data as not affecting ``results/<name>.json``: every hash that differs
    from the file's is added to its ``accepted_changes`` with ``reason``; returns the entries added.

    Use it only for changes that cannot move a number (a rename, a new option whose default is the old
    behaviour, a faster implementation with a parity test); anything else means re-making the file.
    """
    if not reason or not reason.strip():
        raise ValueError("accept_changes: say why the change does not affect the file (reason)")
    path = results_path(name, quick=False)
    data = json.loads(path.read_text())
    if "config_hashes" not in data:
        raise ValueError(f"{path} records no provenance: re-make it ({EXPERIMENTS[name].remake}); "
                         "there is nothing to compare a change against")
    expected = expected if expected is not None else EXPERIMENTS[name].expected()
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    added = []
    for method, want in expected["config_hashes"].items():
        if method in data["config_hashes"] and data["config_hashes"][method] != want:
            added.append({"what": f"config_hashes.{method}", "value": want})
    if data.get("code_version") != expected["code_version"]:
        added.append({"what": "code_version", "value": expected["code_version"]})
    if (data.get("data_fingerprint") or {}).get("hash") != expected["data_fingerprint"]["hash"]:
        added.append({"what": "data_fingerprint", "value": expected["data_fingerprint"]["hash"]})
    for entry in added:
        entry.update(reason=reason.strip(), accepted=now)
    data.setdefault("accepted_changes", []).extend(added)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1, allow_nan=True) + "\n")
    os.replace(tmp, path)
    return added


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m msa_lib.training.experiments",
                                     description="Check the committed results files against the current code.")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("check", help="(default) say for each committed file whether it is current, and why not")
    accept = sub.add_parser("accept", help="declare the current changes as not affecting a file")
    accept.add_argument("name", choices=sorted(EXPERIMENTS))
    accept.add_argument("--reason", required=True)
    args = parser.parse_args(argv)
    if args.command == "accept":
        for entry in accept_changes(args.name, args.reason):
            print(f"accepted {entry['what']} = {entry['value']}")
        return 0
    from ..data import load_dataset

    dataset = load_dataset(None, quick=False, seed=0)
    stale = 0
    for name, experiment in EXPERIMENTS.items():
        if not results_path(name, quick=False).is_file():
            print(f"{name}: no file (make it: {experiment.remake})")
            continue
        problems = staleness(name, expected=experiment.expected(dataset))
        stale += bool(problems)
        print(f"{name}: " + ("current" if not problems else "STALE: " + "; ".join(problems)))
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
