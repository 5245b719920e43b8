"""Reader for the MERTools (MERBench) / SDUMC layout: ``label.npz`` plus one ``.npy`` per utterance.

Layout (reference/data_and_metrics.md §4, reference/sdumc.md §1)::

    label.npz                      keys train_corpus, val_corpus, test_corpus; each a 0-d object
                                   array wrapping {name: {"emo": int, "val": float}}
    <feature_root>/<folder>/<name>.npy     (T, D) frame-level features, or (D,) utterance-level
    <feature_root>/<folder>/<name>/*.npy   alternatively: one file per frame/face, stacked in sorted order

``val`` is the sentiment (``emo`` is a placeholder for CMU / SIMS data). Splits map
``train_corpus`` → ``"train"``, ``val_corpus`` → ``"valid"``, ``test_corpus`` → ``"test"``.

Features are read **lazily**, one file per ``split[i]``, so a feature folder larger than memory can
be iterated with bounded memory (use ``make_loader(..., num_workers=k)`` to read in parallel).
Shapes are normalised as MERTools' ``read_data`` does: singleton axes are squeezed, a (D,) vector
becomes (1, D). Up front the loader checks that every utterance has a file in every folder (listing
the first missing names) and reads the header of the first file of each folder for its feature dim;
a later file with another dim raises an error naming that file when it is read (pass
``check_all_files=True`` to read every header up front instead).

Missing frames (``missing_frames``): a row that is entirely NaN marks a frame whose feature could not be
computed — OpenFace's convention for a frame without a detected face, and what
:func:`msa_lib.features.faces.face_features` writes with ``on_missing="mask"``. By default
(``"error"``) any non-finite value is an error naming the file. With ``missing_frames="mask"`` all-NaN
rows are kept and :func:`~msa_lib.data.loader.collate_samples` turns them into zero rows whose mask is
False: the frame is *missing*, exactly as the frame-level protocols of
:mod:`msa_lib.data.missing` mark one, so a model treats a face the detector lost like a frame the
protocol dropped. Rows that are only partly NaN, and inf, stay errors.

CH-SIMS detection (``metric_dataset``): the argument; ``"sims"`` in the name of the label file, the
feature root or their parent folders; else every label in [-1, 1] (with a warning).
"""

from __future__ import annotations

import os
import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Sequence

import numpy as np

from .dataset import SIM_TEXT, MSADataset, MSASplit, Sequences, missing_frame_rows
from .safe_pickle import UnsafePickleError, safe_load_npz_member

CORPUS_KEYS = {"train": "train_corpus", "valid": "val_corpus", "test": "test_corpus"}


def _npy_shape(path: Path) -> tuple[int, ...]:
    """Shape of a .npy file from its header only (no data read)."""
    fmt = np.lib.format
    with open(path, "rb") as f:
        try:
            version = fmt.read_magic(f)
        except ValueError as e:
            raise ValueError(f"load_mertools: {path} is not a .npy file ({e})") from None
        if version == (1, 0):
            shape = fmt.read_array_header_1_0(f)[0]
        elif version == (2, 0):
            shape = fmt.read_array_header_2_0(f)[0]
        else:  # newer header versions: let numpy parse it (memory-mapped, so no data is read)
            shape = np.load(path, mmap_mode="r").shape
    return tuple(shape)


def _as_frames(arr: np.ndarray, where: str) -> np.ndarray:
    """MERTools' shape rule: squeeze, (D,) → (1, D); must end up 2-D."""
    if arr.ndim > 2:
        arr = arr.reshape([d for d in arr.shape if d != 1] or [1])
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"{where}: expected (T, D) or (D,) features, got shape {arr.shape}")
    return arr


def _shape_as_frames(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) > 2:
        shape = tuple(d for d in shape if d != 1) or (1,)
    if len(shape) == 1:
        return 1, shape[0]
    if len(shape) != 2:
        raise ValueError(f"expected (T, D) or (D,) features, got shape {shape}")
    return shape[0], shape[1]


class LazyFolderSequences(Sequences):
    """Sequences read on demand from ``<folder>/<name>.npy`` (or a ``<folder>/<name>/`` of frames)."""

    def __init__(self, folder: Path, names: Sequence[str], dim: int, modality: str, split: str,
                 missing_frames: str = "error"):
        self.folder = Path(folder)
        self.names = list(names)
        self.dim = int(dim)
        self.modality = modality
        self.split = split
        self.missing_frames = missing_frames
        self._lengths: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.names)

    def _path(self, name: str) -> Path:
        p = self.folder / f"{name}.npy"
        return p if p.exists() else self.folder / name

    def __getitem__(self, i: int) -> np.ndarray:
        path = self._path(self.names[i])
        where = f"load_mertools: {path} ({self.modality}, split '{self.split}')"
        if path.is_dir():
            frames = sorted(path.glob("*.npy"))
            if not frames:
                raise FileNotFoundError(f"{where}: the folder holds no .npy frames")
            arr = np.stack([np.load(f).reshape(-1) for f in frames])
        else:
            arr = np.load(path)
        arr = _as_frames(np.asarray(arr), where).astype(np.float32, copy=False)
        if arr.shape[1] != self.dim:
            raise ValueError(
                f"{where}: feature dim {arr.shape[1]} but the folder's first file has dim {self.dim}"
            )
        missing_rows, n_bad = missing_frame_rows(arr)
        if n_bad or (missing_rows.any() and self.missing_frames != "mask"):
            hint = (" (all-NaN rows are missing frames: pass missing_frames='mask' to read them as such)"
                    if self.missing_frames != "mask" and not np.isinf(arr).any() else "")
            raise ValueError(f"{where}: {int((~np.isfinite(arr)).sum())} non-finite values (NaN or inf){hint}")
        return arr

    @property
    def lengths(self) -> np.ndarray:
        """Frame counts, from the .npy headers (read once, then cached)."""
        if self._lengths is None:
            out = np.empty(len(self.names), np.int64)
            for i, name in enumerate(self.names):
                path = self._path(name)
                out[i] = len(list(path.glob("*.npy"))) if path.is_dir() else _shape_as_frames(_npy_shape(path))[0]
            self._lengths = out
        return self._lengths


def _read_labels(label_file: Path) -> dict[str, dict[str, float]]:
    if not label_file.is_file():
        raise FileNotFoundError(f"load_mertools: label file {label_file}: no such file")
    try:
        npz = np.load(label_file, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile, pickle.UnpicklingError, EOFError) as e:
        raise ValueError(f"load_mertools: {label_file} is not a readable .npz file ({e})") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError(f"load_mertools: {label_file} is a single .npy array, expected an .npz with corpora")
    with npz:
        missing = [k for k in CORPUS_KEYS.values() if k not in npz.files]
        if missing:
            raise KeyError(
                f"load_mertools: {label_file} has no key(s) {missing} (keys: {npz.files}); expected "
                f"{list(CORPUS_KEYS.values())}"
            )
        out = {}
        for split, key in CORPUS_KEYS.items():
            try:
                corpus = safe_load_npz_member(npz, key, source=f"load_mertools: {label_file}").tolist()
            except UnsafePickleError:
                raise
            except (ValueError, OSError, zipfile.BadZipFile, pickle.UnpicklingError, EOFError) as e:
                raise ValueError(
                    f"load_mertools: {label_file}: '{key}' is not a readable array ({type(e).__name__}: {e})"
                ) from None
            if not isinstance(corpus, dict):
                raise ValueError(
                    f"load_mertools: {label_file}: '{key}' must wrap a dict {{name: {{'emo', 'val'}}}}, "
                    f"got {type(corpus).__name__}"
                )
            labels = {}
            for name, entry in corpus.items():
                if not isinstance(entry, dict) or "val" not in entry:
                    raise ValueError(
                        f"load_mertools: {label_file}: '{key}' entry {name!r} has no 'val' (got {entry!r})"
                    )
                labels[str(name)] = float(entry["val"])
            out[split] = labels
    return out


def _folder(root: Path, name: str | os.PathLike) -> Path:
    p = Path(name).expanduser()
    return p if p.is_absolute() else root / p


def _check_folder(folder: Path, modality: str, all_names: dict[str, list[str]], check_all: bool) -> int:
    """Every utterance has a file; returns the feature dim (first file's header)."""
    if not folder.is_dir():
        raise FileNotFoundError(f"load_mertools: {modality} feature folder {folder}: no such folder")
    present = set()
    with os.scandir(folder) as it:
        for entry in it:
            n = entry.name
            present.add(n[:-4] if n.endswith(".npy") else n)
    for split, names in all_names.items():
        missing = [n for n in names if n not in present]
        if missing:
            raise FileNotFoundError(
                f"load_mertools: {modality} folder {folder} has no feature file for {len(missing)} of the "
                f"{len(names)} '{split}' utterances, e.g. {missing[:5]} (expected <name>.npy)"
            )
    first_name = next(n for names in all_names.values() for n in names)
    seq = LazyFolderSequences(folder, [first_name], 0, modality, "")
    path = seq._path(first_name)
    if path.is_dir():
        dim = _dir_dim(path)
    else:
        dim = _shape_as_frames(_npy_shape(path))[1]
    if check_all:
        for split, names in all_names.items():
            for n in names:
                p = seq._path(n)
                if p.is_dir():
                    continue
                d = _shape_as_frames(_npy_shape(p))[1]
                if d != dim:
                    raise ValueError(
                        f"load_mertools: {p} ({modality}, split '{split}'): feature dim {d} but "
                        f"{path.name} has dim {dim}"
                    )
    return dim


def _dir_dim(path: Path) -> int:
    """Feature dim of a ``<name>/`` folder of per-frame .npy files (its first frame's size)."""
    frames = sorted(path.glob("*.npy"))
    if not frames:
        raise FileNotFoundError(f"load_mertools: {path}: the folder holds no .npy frames")
    return int(np.prod(_npy_shape(frames[0])))


def load_mertools(
    label_file,
    feature_root,
    *,
    audio: str,
    text: str,
    vision: str,
    simulated_text: str | None = None,
    metric_dataset: str | None = None,
    check_all_files: bool = False,
    name: str | None = None,
    missing_frames: str = "error",
) -> MSADataset:
    """Load the MERTools / SDUMC layout lazily as an :class:`MSADataset`.

    Args:
        label_file: ``label.npz`` (or SDUMC's ``label_official.npz``).
        feature_root: the folder holding one sub-folder per feature.
        audio, text, vision: feature folder names under ``feature_root`` (or absolute paths), e.g.
            SDUMC's ``"wavlm-large-FRA_-5"``, ``"vicuna-7b-v1.5-FRA-wavlm2vicuna-half-gt"``, ``"manet_FRA"``.
        simulated_text: optional folder of text simulated from audio (SDUMC's ``feat4``), exposed as
            ``text_sim``; it must have the text's feature dim.
        metric_dataset: force ``"mosei"`` or ``"sims"`` (default: detected, see module docstring).
        check_all_files: read every file's header up front to check dims (slower on big folders).
        name: the data set's name (default: the feature root's folder name).
        missing_frames: ``"error"`` (default: a NaN is an error naming the file) or ``"mask"``: all-NaN rows
            are missing frames, masked out in batches (see the module docstring).
    """
    if missing_frames not in ("error", "mask"):
        raise ValueError(f"load_mertools: missing_frames must be 'error' or 'mask', got {missing_frames!r}")
    label_file = Path(label_file).expanduser()
    feature_root = Path(feature_root).expanduser()
    labels = _read_labels(label_file)
    if not feature_root.is_dir():
        raise FileNotFoundError(f"load_mertools: feature root {feature_root}: no such folder")
    all_names = {s: list(v) for s, v in labels.items()}
    for s, names in all_names.items():
        if not names:
            raise ValueError(f"load_mertools: {label_file}: '{CORPUS_KEYS[s]}' is empty")
        y = np.array(list(labels[s].values()), dtype=np.float32)
        if np.isnan(y).any():
            bad = [n for n, v in labels[s].items() if np.isnan(v)][:5]
            raise ValueError(f"load_mertools: {label_file}: '{CORPUS_KEYS[s]}' has NaN labels, e.g. {bad}")

    if metric_dataset is None:
        names = (label_file.name, label_file.parent.name, feature_root.name, feature_root.parent.name)
        if any("sims" in n.lower() for n in names):
            metric_dataset = "sims"
        elif all(abs(v) <= 1.0 for d in labels.values() for v in d.values()):
            warnings.warn(
                f"load_mertools: {label_file}: every label lies in [-1, 1], so the data are taken as CH-SIMS "
                "(metric_dataset='sims'); pass metric_dataset='mosei' to override",
                stacklevel=2,
            )
            metric_dataset = "sims"
        else:
            metric_dataset = "mosei"
    if metric_dataset not in ("mosei", "sims"):
        raise ValueError(f"metric_dataset must be 'mosei' or 'sims', got {metric_dataset!r}")
    bound = 1.0 if metric_dataset == "sims" else 3.0
    for s, d in labels.items():
        bad = [(n, v) for n, v in d.items() if abs(v) > bound]
        if bad:
            raise ValueError(
                f"load_mertools: {label_file}: '{CORPUS_KEYS[s]}' has {len(bad)} labels outside "
                f"[-{bound:g}, {bound:g}] (e.g. {bad[0][0]}: {bad[0][1]:.4g}) for metric_dataset='{metric_dataset}'"
            )

    folders = {"text": text, "audio": audio, "vision": vision}
    if simulated_text is not None:
        folders[SIM_TEXT] = simulated_text
    dims = {}
    paths = {}
    for m, folder_name in folders.items():
        if folder_name is None:
            raise ValueError(f"load_mertools: the {m} feature folder name is required")
        paths[m] = _folder(feature_root, folder_name)
        dims[m] = _check_folder(paths[m], m, all_names, check_all_files)
    if SIM_TEXT in dims and dims[SIM_TEXT] != dims["text"]:
        raise ValueError(
            f"load_mertools: simulated text ({paths[SIM_TEXT]}) has dim {dims[SIM_TEXT]} but text "
            f"({paths['text']}) has dim {dims['text']}; they must share one feature space"
        )
    splits = {}
    for s, names in all_names.items():
        seqs = {m: LazyFolderSequences(paths[m], names, dims[m], m, s, missing_frames) for m in folders}
        y = np.array([labels[s][n] for n in names], dtype=np.float32)
        splits[s] = MSASplit(s, seqs, y, names, source=f"load_mertools: {label_file}")
    return MSADataset(
        splits,
        name=name or feature_root.name,
        metric_dataset=metric_dataset,
        info={"source": "mertools", "label_file": str(label_file), "folders": {m: str(p) for m, p in paths.items()}},
    )


def save_mertools(dataset: MSADataset, root, *, dtype=np.float32) -> Path:
    """Write a data set in the MERTools layout that :func:`load_mertools` reads back.

    ``<root>/label.npz`` (``train_corpus`` / ``val_corpus`` / ``test_corpus`` of
    ``{id: {"emo": 0, "val": label}}``) and one folder per modality (``text``, ``audio``, ``vision``,
    ``text_sim``) with one ``<id>.npy`` [T, D] per utterance. Load it back with
    ``load_mertools(root / "label.npz", root, audio="audio", text="text", vision="vision",
    simulated_text="text_sim")``. Returns ``root``.
    """
    root = Path(root).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    corpora = {}
    for split, key in CORPUS_KEYS.items():
        sp = dataset[split]
        bad = [i for i in sp.ids if "/" in i or i in ("", ".", "..")]
        if bad:
            raise ValueError(f"save_mertools: split '{split}' has ids that cannot be file names, e.g. {bad[:3]}")
        corpora[key] = {i: {"emo": 0, "val": float(v)} for i, v in zip(sp.ids, sp.labels)}
        for m in sp.modalities:
            (root / m).mkdir(exist_ok=True)
            seqs = sp.sequences[m]
            for i, name in enumerate(sp.ids):
                np.save(root / m / f"{name}.npy", np.asarray(seqs[i], dtype=dtype))
    np.savez_compressed(root / "label.npz", **{k: np.array(v, dtype=object) for k, v in corpora.items()})
    return root
