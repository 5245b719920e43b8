"""Writing features: the MERTools folder layout and MMSA pickles, with resumable batched extraction.

**MERTools / SDUMC layout** (reference/data_and_metrics.md §4), read back by
:func:`msa_lib.data.load_mertools`::

    <root>/label.npz                 train_corpus / val_corpus / test_corpus: {name: {"emo": 0, "val": y}}
    <root>/<feature folder>/<name>.npy     one float32 [T, D] array per utterance

:func:`extract_to_folder` fills one feature folder: it runs an encoder over the utterances in batches
(with a ``tqdm`` progress bar), writes each ``<name>.npy`` atomically (to a temporary file, then
renamed, so an interrupted run never leaves a half-written feature) and **skips the utterances already
written**, so re-running after an interruption resumes where it stopped. A file that cannot be read
back is recomputed (with a warning); a written file whose feature dim differs from the new ones is an
error (it was made by another encoder or layer: use another folder or ``overwrite=True``).

**MMSA pickles** (§1), read back by :func:`msa_lib.data.load_mmsa`: :func:`write_mmsa_pickle` pads
every sequence with zeros **on the right** to one length per modality shared by all splits, and stores
the true lengths (``audio_lengths``, ``vision_lengths``, ``text_lengths``, ``text_sim_lengths``) —
unaligned MMSA files do the same for audio and vision. The padded length is the longest sequence
(``pad_to="max"``, nothing truncated, the default) or MMSA's rule ``int(mean + 3·std)`` of the lengths
(``pad_to="mmsa"``, longer sequences truncated with a warning giving their count). Simulated text goes
under ``text_sim`` (+ ``text_sim_lengths``), the key :func:`~msa_lib.data.load_mmsa` reads.
"""

from __future__ import annotations

import os
import pickle
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from ..data.dataset import SIM_TEXT, SPLITS, missing_frame_rows
from ..data.mertools import CORPUS_KEYS

FEATURE_KEYS = ("text", "audio", "vision", SIM_TEXT)


def check_name(name: str) -> str:
    """An utterance name usable as a file name (no path separator, not empty / ``.`` / ``..``)."""
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise ValueError(f"utterance name {name!r} cannot be a file name (no '/', '\\\\', empty, '.' or '..')")
    return name


def check_feature(array, name: str = "feature") -> np.ndarray:
    """A float32 ``[T, D]`` feature with T >= 1, or an error naming ``name``.

    Values must be finite, except for rows that are entirely NaN: those are *missing frames* (a frame
    without a detected face, OpenFace's convention), which ``load_mertools(..., missing_frames="mask")``
    reads as masked frames. A feature whose every row is missing, a partly-NaN row or an inf is an error.
    """
    x = np.asarray(array)
    if x.ndim != 2:
        raise ValueError(f"{name}: a feature must be [T, D], got shape {x.shape}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name}: empty feature of shape {x.shape}")
    x = x.astype(np.float32, copy=False)
    missing_rows, n_bad = missing_frame_rows(x)
    if n_bad:
        raise ValueError(f"{name}: {int((~np.isfinite(x)).sum())} NaN/inf values in the feature "
                         "(only rows that are entirely NaN may mark missing frames)")
    if missing_rows.all():
        raise ValueError(f"{name}: {int(np.isnan(x).sum())} NaN values: every one of the {len(x)} frames is "
                         "missing (all-NaN rows)")
    return x


def write_feature(folder, name: str, array, dtype=np.float32) -> Path:
    """Write ``<folder>/<name>.npy`` atomically (temporary file + ``os.replace``). Returns the path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{check_name(name)}.npy"
    x = check_feature(array, str(path)).astype(dtype, copy=False)
    tmp = folder / f".{name}.{uuid.uuid4().hex}.tmp"
    try:
        with open(tmp, "wb") as f:
            np.save(f, x)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _as_frames_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    """MERTools' reading rule on a shape: squeeze singleton axes, (D,) -> (1, D); must be 2-D."""
    if len(shape) > 2:
        shape = tuple(d for d in shape if d != 1) or (1,)
    if len(shape) == 1:
        return 1, int(shape[0])
    if len(shape) != 2:
        raise ValueError(f"expected (T, D) or (D,) features, got shape {shape}")
    return int(shape[0]), int(shape[1])


def feature_shape(folder, name: str) -> tuple[int, int] | None:
    """``(T, D)`` of ``<folder>/<name>.npy`` from its header, or None when absent or unreadable."""
    path = Path(folder) / f"{name}.npy"
    if not path.is_file():
        return None
    try:
        fmt = np.lib.format
        with open(path, "rb") as f:
            version = fmt.read_magic(f)
            read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            shape, _, dtype = read_header(f)
            data_bytes = os.path.getsize(path) - f.tell()
        if data_bytes < int(np.prod(shape)) * dtype.itemsize:
            return None  # truncated: fewer data bytes than the header promises
        shape = _as_frames_shape(tuple(shape))
    except (ValueError, OSError, EOFError):
        return None
    return shape


@dataclass
class ExtractionReport:
    """What :func:`extract_to_folder` did: names written, skipped (already there) and recomputed
    (present but unreadable), the feature dim, and the wall time."""

    folder: Path
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    recomputed: list[str] = field(default_factory=list)
    dim: int | None = None
    seconds: float = 0.0

    def __str__(self) -> str:
        return (
            f"{self.folder.name}: {len(self.written)} written, {len(self.skipped)} skipped (already there), "
            f"{len(self.recomputed)} recomputed, dim {self.dim}, {self.seconds:.1f} s"
        )


def extract_to_folder(
    encode: Callable[[list, list[str]], Sequence[np.ndarray]],
    items: Mapping[str, Any] | Iterable[tuple[str, Any]],
    folder,
    *,
    load: Callable[[Any, str], Any] | None = None,
    batch_size: int = 8,
    overwrite: bool = False,
    progress: bool = True,
    desc: str | None = None,
    dtype=np.float32,
    signature: str | None = None,
) -> ExtractionReport:
    """Run ``encode`` over ``items`` in batches and write one ``<name>.npy`` per item into ``folder``.

    Args:
        encode: ``encode(inputs, names) -> [[T_i, D], ...]``, e.g. ``SpeechEncoder(...).encode``,
            ``TextEncoder(...).encode``, ``ImageEncoder(...).encode`` or a lambda around
            :func:`~msa_lib.features.audio.acoustic_features`.
        items: ``{name: input}`` (or ``(name, input)`` pairs): the input is whatever ``encode`` takes,
            or whatever ``load`` turns into it (e.g. a file path).
        folder: the feature folder (created).
        load: ``load(input, name)`` applied per item just before its batch (so that only one batch of
            raw media is in memory), e.g. ``lambda p, n: load_waveform(p)``.
        batch_size: items per ``encode`` call.
        overwrite: recompute everything (default: resume, skipping names already written).
        progress: a ``tqdm.auto`` progress bar (also silenced by ``TQDM_DISABLE=1``).
        desc: the bar's label (default: the folder name).
        dtype: stored dtype (float32; ``np.float16`` halves the disk, as SDUMC stores its LLM features).
        signature: a description of the extractor (e.g. ``"microsoft/wavlm-large layer -5"``), kept in
            ``<folder>/.extraction.json``. Resuming with another signature is an error: the folder
            would mix features of two extractors that may even share a dim. (Name folders after
            the extractor too, as MERTools does: ``wavlm-large-FRA_-5``.)

    Returns an :class:`ExtractionReport`. Errors from ``load`` / ``encode`` propagate unchanged (they
    name the utterance); features written before the error stay, so a re-run resumes.
    """
    from tqdm.auto import tqdm

    start = time.perf_counter()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pairs = list(items.items()) if isinstance(items, Mapping) else list(items)
    names = [check_name(n) for n, _ in pairs]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})[:5]
        raise ValueError(f"extract_to_folder: duplicate utterance names, e.g. {dup}")
    if batch_size < 1:
        raise ValueError(f"extract_to_folder: batch_size must be >= 1, got {batch_size}")
    if signature is not None:
        _check_signature(folder, signature, overwrite)
    report = ExtractionReport(folder)
    todo = []
    for name, item in pairs:
        if not overwrite and (folder / f"{name}.npy").exists():
            shape = feature_shape(folder, name)
            if shape is not None:
                report.skipped.append(name)
                if report.dim is None:
                    report.dim = shape[1]
                elif shape[1] != report.dim:
                    raise ValueError(
                        f"extract_to_folder: {folder}: {name}.npy has dim {shape[1]} but other files have "
                        f"{report.dim}; the folder mixes features from different encoders"
                    )
                continue
            warnings.warn(f"extract_to_folder: {folder / (name + '.npy')} is unreadable or truncated; recomputing")
            report.recomputed.append(name)
        todo.append((name, item))
    if report.dim is None:  # nothing skipped: take the dim of any feature already in the folder
        for existing in sorted(folder.glob("*.npy")):
            shape = feature_shape(folder, existing.stem)
            if shape is not None:
                report.dim = shape[1]
                break
    disable_bar = (not progress) or os.environ.get("TQDM_DISABLE", "") not in ("", "0")
    bar = tqdm(total=len(pairs), initial=len(report.skipped), desc=desc or folder.name, disable=disable_bar,
               unit="utt")
    try:
        for b in range(0, len(todo), batch_size):
            chunk = todo[b : b + batch_size]
            chunk_names = [n for n, _ in chunk]
            inputs = [load(x, n) if load is not None else x for n, x in chunk]
            feats = encode(inputs, chunk_names)
            if len(feats) != len(chunk):
                raise ValueError(f"extract_to_folder: encode returned {len(feats)} features for {len(chunk)} inputs")
            for name, feat in zip(chunk_names, feats):
                feat = check_feature(feat, f"{folder / name}.npy")
                if report.dim is None:
                    report.dim = feat.shape[1]
                elif feat.shape[1] != report.dim:
                    raise ValueError(
                        f"extract_to_folder: {name}: feature dim {feat.shape[1]} but {folder} already holds "
                        f"dim {report.dim} (another encoder or layer? use a new folder or overwrite=True)"
                    )
                write_feature(folder, name, feat, dtype)
                if name not in report.recomputed:
                    report.written.append(name)
            bar.update(len(chunk))
    finally:
        bar.close()
    report.seconds = time.perf_counter() - start
    return report


SIGNATURE_FILE = ".extraction.json"


def _check_signature(folder: Path, signature: str, overwrite: bool) -> None:
    import json

    path = folder / SIGNATURE_FILE
    if path.is_file() and not overwrite:
        try:
            old = json.loads(path.read_text()).get("signature")
        except (ValueError, OSError):
            old = None
        if old is not None and old != signature:
            raise ValueError(
                f"extract_to_folder: {folder} holds features from {old!r}, not {signature!r}; "
                "use another folder, or overwrite=True to recompute everything"
            )
    path.write_text(json.dumps({"signature": signature}))


# ------------------------------------------------------------------------------------------ labels
def write_label_file(path, labels: Mapping[str, Mapping[str, float]], emo: int = 0) -> Path:
    """Write MERTools' ``label.npz``: ``labels = {"train": {name: y}, "valid": ..., "test": ...}``.

    Stored as ``train_corpus`` / ``val_corpus`` / ``test_corpus``, each a 0-d object array wrapping
    ``{name: {"emo": emo, "val": y}}`` (``np.savez_compressed``). A name in two splits, a NaN label or
    an empty split is an error.
    """
    path = Path(path)
    missing = [s for s in SPLITS if s not in labels]
    if missing:
        raise KeyError(f"write_label_file: no labels for split(s) {missing}; need {list(SPLITS)}")
    seen: dict[str, str] = {}
    corpora = {}
    for split in SPLITS:
        entries = {}
        if not labels[split]:
            raise ValueError(f"write_label_file: split '{split}' is empty")
        for name, y in labels[split].items():
            check_name(name)
            if name in seen:
                raise ValueError(f"write_label_file: '{name}' is in both '{seen[name]}' and '{split}'")
            seen[name] = split
            y = float(y)
            if not np.isfinite(y):
                raise ValueError(f"write_label_file: label of '{name}' ({split}) is {y}")
            entries[name] = {"emo": int(emo), "val": y}
        corpora[CORPUS_KEYS[split]] = np.array(entries, dtype=object)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **corpora)
    return path


# ------------------------------------------------------------------------------------------ MMSA
def padded_length(lengths: Sequence[int], pad_to) -> int:
    """The padded length for ``pad_to``: ``"max"``, ``"mmsa"`` (``int(mean + 3 std)``, >= 1) or an int."""
    lengths = np.asarray(lengths, dtype=np.float64)
    if isinstance(pad_to, (int, np.integer)) and not isinstance(pad_to, bool):
        if pad_to < 1:
            raise ValueError(f"pad length must be >= 1, got {pad_to}")
        return int(pad_to)
    if pad_to == "max":
        return max(1, int(lengths.max(initial=1)))
    if pad_to == "mmsa":
        return max(1, int(lengths.mean() + 3 * lengths.std()))
    raise ValueError(f"pad_to must be 'max', 'mmsa' or a positive int, got {pad_to!r}")


def pad_features(arrays: Sequence[np.ndarray], length: int, name: str = "feature") -> tuple[np.ndarray, np.ndarray]:
    """Zero right-padding (and truncation) of ``[T_i, D]`` arrays to ``[N, length, D]`` float32, plus
    the stored lengths ``min(T_i, length)`` (int64 [N]). Missing frames (all-NaN rows) become zero rows."""
    dims = {np.asarray(a).shape[1] for a in arrays}
    if len(dims) != 1:
        raise ValueError(f"{name}: sequences have different feature dims {sorted(dims)}")
    dim = dims.pop()
    out = np.zeros((len(arrays), length, dim), np.float32)
    lengths = np.zeros(len(arrays), np.int64)
    for i, a in enumerate(arrays):
        t = min(len(a), length)
        out[i, :t] = np.nan_to_num(a[:t], nan=0.0) if np.isnan(a[:t]).any() else a[:t]
        lengths[i] = t
    return out, lengths


def write_mmsa_pickle(path, splits: Mapping[str, Mapping[str, Any]], *, pad_to="max", protocol: int = 4) -> Path:
    """Write an MMSA-style (unaligned) pickle from per-utterance features.

    Args:
        path: the ``.pkl`` to write.
        splits: ``{"train": {...}, "valid": {...}, "test": {...}}``, each with ``"id"`` (N names),
            ``"label"`` (N floats), ``"text"``, ``"audio"``, ``"vision"`` (lists of ``[T_i, D]``),
            optionally ``"text_sim"`` (same dim as text), ``"raw_text"`` (N strings) and
            ``"text_ids"`` (N int arrays ``[T_i]``, the token ids of the text rows: written as
            ``text_bert`` ``[N, 3, L_t]`` = ids, attention mask, zero segment ids, as MMSA does).
        pad_to: ``"max"``, ``"mmsa"``, an int, or a dict modality → one of these (module docstring).
        protocol: pickle protocol (MMSA's scripts use 4).

    Returns ``path``. Keys written per split: ``text``, ``audio``, ``vision`` (+ ``text_sim``), their
    ``*_lengths``, ``regression_labels``, ``id`` (+ ``raw_text``, ``text_bert``).
    """
    path = Path(path)
    missing = [s for s in SPLITS if s not in splits]
    if missing:
        raise KeyError(f"write_mmsa_pickle: no split(s) {missing}")
    keys = [k for k in FEATURE_KEYS if k in splits["train"]]
    for k in ("text", "audio", "vision"):
        if k not in keys:
            raise KeyError(f"write_mmsa_pickle: split 'train' has no '{k}' features")
    for s in SPLITS:
        d = splits[s]
        n = len(d["id"])
        for k in keys + ["label"] + [k for k in ("raw_text", "text_ids") if k in splits["train"]]:
            if k not in d:
                raise KeyError(f"write_mmsa_pickle: split '{s}' has no '{k}' (split 'train' has it)")
            if len(d[k]) != n:
                raise ValueError(f"write_mmsa_pickle: split '{s}': '{k}' has {len(d[k])} entries for {n} ids")
        for k in keys:
            for name, a in zip(d["id"], d[k]):
                check_feature(a, f"split '{s}', '{k}' of '{name}'")
    text_dim = np.asarray(splits["train"]["text"][0]).shape[1]
    if SIM_TEXT in keys and np.asarray(splits["train"][SIM_TEXT][0]).shape[1] != text_dim:
        raise ValueError(
            f"write_mmsa_pickle: '{SIM_TEXT}' has dim {np.asarray(splits['train'][SIM_TEXT][0]).shape[1]} but "
            f"'text' has {text_dim}; simulated text must live in the text feature space"
        )
    pad_spec = pad_to if isinstance(pad_to, Mapping) else {k: pad_to for k in keys}
    lengths_all = {k: [len(a) for s in SPLITS for a in splits[s][k]] for k in keys}
    pad_len = {k: padded_length(lengths_all[k], pad_spec.get(k, "max")) for k in keys}
    truncated = {k: int(sum(t > pad_len[k] for t in lengths_all[k])) for k in keys}
    truncated = {k: v for k, v in truncated.items() if v}
    if truncated:
        warnings.warn(
            f"write_mmsa_pickle: {path}: sequences longer than the padded length were truncated: "
            + ", ".join(f"{k}: {v} (length {pad_len[k]})" for k, v in truncated.items()),
            stacklevel=2,
        )
    # MMSA pickles have no frame mask (only lengths): a missing frame (an all-NaN row) is stored as a zero row,
    # which is what MMSA's own features hold for a frame without a detected face.
    n_missing = {k: int(sum(missing_frame_rows(np.asarray(a, np.float32))[0].sum() for s in SPLITS
                            for a in splits[s][k])) for k in keys}
    n_missing = {k: v for k, v in n_missing.items() if v}
    if n_missing:
        warnings.warn(
            f"write_mmsa_pickle: {path}: missing frames (all-NaN rows) written as zero rows, the MMSA convention "
            "(a pickle has no frame mask): " + ", ".join(f"{k}: {v}" for k, v in n_missing.items()),
            stacklevel=2,
        )
    data = {}
    for s in SPLITS:
        d = splits[s]
        out: dict[str, Any] = {}
        for k in keys:
            arr, lens = pad_features([np.asarray(a, np.float32) for a in d[k]], pad_len[k], f"split '{s}', '{k}'")
            out[k] = arr
            out[f"{k}_lengths"] = lens
        if "text_ids" in d:
            tb = np.zeros((len(d["id"]), 3, pad_len["text"]), np.int64)
            for i, (ids, feat) in enumerate(zip(d["text_ids"], d["text"])):
                ids = np.asarray(ids, np.int64)
                if len(ids) != len(feat):
                    raise ValueError(
                        f"write_mmsa_pickle: split '{s}', '{d['id'][i]}': {len(ids)} token ids for {len(feat)} "
                        "text rows (keep the special tokens when writing text_bert)"
                    )
                t = min(len(ids), pad_len["text"])
                tb[i, 0, :t] = ids[:t]
                tb[i, 1, :t] = 1
            out["text_bert"] = tb
        out["regression_labels"] = np.asarray(d["label"], np.float32).reshape(-1)
        out["id"] = np.array([str(x) for x in d["id"]], dtype=object)
        if "raw_text" in d:
            out["raw_text"] = np.array([str(x) for x in d["raw_text"]], dtype=object)
        data[s] = out
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as f:
            pickle.dump(data, f, protocol=protocol)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def mmsa_from_folders(label_file, feature_root, path, *, audio: str, text: str, vision: str,
                      simulated_text: str | None = None, raw_text: Mapping[str, str] | None = None,
                      pad_to="max", protocol: int = 4) -> Path:
    """Convert a MERTools layout (``label.npz`` + feature folders) into an MMSA pickle.

    Reads the folders with :func:`msa_lib.data.load_mertools` (which checks every utterance has a file)
    and writes with :func:`write_mmsa_pickle`. ``raw_text`` maps names to transcripts (optional).
    """
    from ..data import load_mertools

    # missing frames (all-NaN rows) are read as such and written as zero rows, with a warning (write_mmsa_pickle)
    ds = load_mertools(label_file, feature_root, audio=audio, text=text, vision=vision,
                       simulated_text=simulated_text, missing_frames="mask")
    splits = {}
    for s in SPLITS:
        sp = ds[s]
        d: dict[str, Any] = {"id": list(sp.ids), "label": sp.labels}
        for m in sp.modalities:
            d[m] = [np.asarray(sp.sequences[m][i]) for i in range(len(sp))]
        if raw_text is not None:
            absent = [n for n in sp.ids if n not in raw_text]
            if absent:
                raise KeyError(f"mmsa_from_folders: no transcript for {len(absent)} utterances, e.g. {absent[:3]}")
            d["raw_text"] = [raw_text[n] for n in sp.ids]
        splits[s] = d
    return write_mmsa_pickle(path, splits, pad_to=pad_to, protocol=protocol)
