"""Provenance: what made a results file or a checkpoint, recorded so that a stale one can be caught.

A number in the book is only as good as the link between it and the code, configuration and data that
produced it. This module computes the pieces of that link; :mod:`msa_lib.training.results` writes them into
every results file and :mod:`msa_lib.training.checkpoints` into every checkpoint, and
:mod:`msa_lib.training.experiments` compares a committed file against what the current code would run.

* :func:`git_state` — the commit and whether the working tree differs from it (``results/`` excluded: a run
  that rewrites its own results file is not "dirty" because of that).
* :func:`config_hash` — a hash of a *resolved* configuration (a dataclass or a dict): every field, nested
  dataclasses included, in canonical JSON. Two configs that train the same way hash the same.
* :func:`code_version` — a hash of the source of the modules that define a method (model, losses, trainer,
  loader, metrics), normalised through :mod:`ast` so that comments, docstrings and formatting do not count
  but any change to what the code does does.
* :func:`data_fingerprint` — the content of a data set, not its name: split sizes, dims, a hash of every
  label and every sequence length, and a hash of the features of an evenly spaced sample of utterances.
* :func:`environment` — Python, torch, NumPy, the CUDA device, the CPU count, and a hash of the installed
  packages (``name==version``, sorted: the *lock hash*) beside a hash of ``constraints.txt``.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import importlib.util
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

#: The repository root (the folder holding ``msa_lib/``).
REPO_ROOT = Path(__file__).resolve().parents[1]


def _digest(data: bytes, n: int = 16) -> str:
    return hashlib.sha256(data).hexdigest()[:n]


def plain(obj: Any) -> Any:
    """A JSON-ready copy of ``obj``: dataclasses become dicts, tuples lists, NumPy scalars Python numbers."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def config_hash(config: Any) -> str:
    """16 hex digits of SHA-256 over the canonical JSON of ``config`` (see :func:`plain`).

    >>> config_hash({"lr": 1e-3, "epochs": 20}) == config_hash({"epochs": 20, "lr": 0.001})
    True
    """
    text = json.dumps(plain(config), sort_keys=True, default=str, allow_nan=True)
    return _digest(text.encode())


# ------------------------------------------------------------------------------------------------ code
class _StripDocstrings(ast.NodeTransformer):
    def _strip(self, node):
        self.generic_visit(node)
        body = getattr(node, "body", None)
        if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
        return node

    visit_Module = visit_ClassDef = visit_FunctionDef = visit_AsyncFunctionDef = _strip


def _canonical_ast(node) -> str:
    """The syntax tree as text, the same on every Python from 3.10 on.

    ``ast.dump`` is not: each release adds fields (3.12 gave every function and class an empty ``type_params``),
    so a file made on a GPU machine's Python 3.12 looked like other code to a 3.11 checkout. Here every field is
    written by name, and a field that is ``None`` or an empty list — what a newer field holds in code that does
    not use it — is left out.
    """
    if isinstance(node, ast.AST):
        fields = [f"{name}={_canonical_ast(value)}" for name in node._fields
                  if (value := getattr(node, name, None)) is not None and not (isinstance(value, list) and not value)]
        return f"{type(node).__name__}({','.join(fields)})"
    if isinstance(node, list):
        return "[" + ",".join(_canonical_ast(v) for v in node) + "]"
    return repr(node)


def normalised_source(source: str, filename: str = "<source>") -> str:
    """The syntax tree of ``source`` without docstrings (:func:`_canonical_ast`): what the code does, not how it is
    commented or laid out, and not which Python parsed it."""
    return _canonical_ast(_StripDocstrings().visit(ast.parse(source, filename=filename)))


_CODE_CACHE: dict[tuple, str] = {}


def code_version(modules: Iterable[str]) -> str:
    """16 hex digits over the normalised source (:func:`normalised_source`) of ``modules``.

    ``modules`` are dotted names (``"msa_lib.models.umca"``); the order does not matter. A module that
    cannot be found raises ``ModuleNotFoundError`` naming it. Memoised on the files' modification times.
    """
    files = []
    for name in sorted(set(modules)):
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            raise ModuleNotFoundError(f"code_version: no Python source for module {name!r}")
        stat = os.stat(spec.origin)
        files.append((name, spec.origin, stat.st_mtime_ns, stat.st_size))
    key = tuple(files)
    if key not in _CODE_CACHE:
        h = hashlib.sha256()
        for name, origin, _, _ in files:
            h.update(f"|{name}|".encode())
            h.update(normalised_source(Path(origin).read_text(), origin).encode())
        _CODE_CACHE[key] = h.hexdigest()[:16]
    return _CODE_CACHE[key]


# ------------------------------------------------------------------------------------------------ data
def _update_with_sequences(h, seqs, indices: np.ndarray) -> None:
    for i in indices:
        frames = np.ascontiguousarray(seqs[int(i)], np.float32)
        h.update(np.int64(frames.shape[0]).tobytes())
        h.update(memoryview(frames).cast("B"))


def data_fingerprint(dataset, sample: int = 64) -> dict[str, Any]:
    """What a data set *is*, compactly: enough to tell two data sets apart without comparing every feature.

    Returns ``{"sizes": {split: N}, "dims": {modality: D}, "task", "labels_sha", "lengths_sha",
    "features_sha", "sample", "hash"}``. ``labels_sha`` and ``lengths_sha`` cover every utterance;
    ``features_sha`` the features of ``sample`` evenly spaced utterances per split (every modality,
    ``text_sim`` included). ``hash`` combines them all; the data set's *name* is deliberately not part of
    it (a renamed file is the same data, a re-generated one with other knobs is not).
    """
    from .data.dataset import SPLITS

    labels, lengths, features = hashlib.sha256(), hashlib.sha256(), hashlib.sha256()
    sizes, dims = {}, {}
    for s in SPLITS:
        split = dataset[s]
        n = len(split)
        sizes[s] = n
        labels.update(f"|{s}|".encode())
        labels.update(np.ascontiguousarray(split.labels, np.float64).tobytes())
        idx = np.unique(np.linspace(0, n - 1, num=min(sample, n)).round().astype(np.int64)) if n else np.zeros(0, int)
        for m in sorted(split.sequences):
            seqs = split.sequences[m]
            dims[m] = int(seqs.dim)
            lengths.update(f"|{s}|{m}|".encode())
            lengths.update(np.ascontiguousarray(seqs.lengths, np.int64).tobytes())
            features.update(f"|{s}|{m}|".encode())
            _update_with_sequences(features, seqs, idx)
    out = {
        "sizes": sizes,
        "dims": dict(sorted(dims.items())),
        "task": getattr(dataset, "task", "regression"),
        "labels_sha": labels.hexdigest()[:16],
        "lengths_sha": lengths.hexdigest()[:16],
        "features_sha": features.hexdigest()[:16],
        "sample": int(sample),
    }
    out["hash"] = config_hash(out)
    return out


# ------------------------------------------------------------------------------------------- git & env
def _git(*args: str, root: Path) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def git_state(root: str | os.PathLike | None = None) -> dict[str, Any]:
    """``{"commit": <sha or None>, "dirty": <bool or None>}`` of the repository at ``root`` (default: this one).

    ``dirty`` is True when tracked or untracked-but-not-ignored files differ from the commit, outside
    ``results/`` (a run rewriting its own results file does not make the tree dirty). None values mean
    "not a git checkout" (e.g. an installed wheel).
    """
    root = Path(root or REPO_ROOT)
    commit = _git("rev-parse", "HEAD", root=root)
    if commit is None:
        return {"commit": None, "dirty": None}
    status = _git("status", "--porcelain", "--", ".", ":(exclude)results", root=root)
    return {"commit": commit.strip(), "dirty": None if status is None else bool(status.strip())}


def packages_hash() -> str:
    """The lock hash: 16 hex digits over the sorted ``name==version`` of every installed distribution."""
    from importlib import metadata

    names = sorted({f"{(d.metadata['Name'] or '?').lower()}=={d.version}" for d in metadata.distributions()})
    return _digest("\n".join(names).encode())


def environment() -> dict[str, Any]:
    """Where something was computed: Python, torch, NumPy, CUDA device (or None), CPUs, platform, lock hashes."""
    import torch

    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    constraints = REPO_ROOT / "constraints.txt"
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "cuda_device": cuda,
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "packages_sha": packages_hash(),
        "constraints_sha": _digest(constraints.read_bytes()) if constraints.is_file() else None,
    }


__all__ = [
    "REPO_ROOT", "plain", "config_hash", "normalised_source", "code_version", "data_fingerprint", "git_state",
    "packages_hash", "environment",
]
