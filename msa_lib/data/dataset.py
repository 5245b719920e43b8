"""Containers: variable-length sequences, splits and the :class:`MSADataset` mapping.

Every data source in :mod:`msa_lib.data` (the synthetic generator, MMSA pickles, MERTools folders)
ends up as an :class:`MSADataset`: a read-only mapping ``"train" / "valid" / "test"`` → split.
A split has ``len()``, ``split[i]`` (one sample as a dict of numpy arrays) and ``.labels``
(float32 [N]: sentiment scores for a regression data set, class ids 0..C-1 for a classification one,
see :class:`MSADataset`). Batching and padding happen later, in :func:`msa_lib.data.make_loader`.

Storage is memory-aware: a modality of a split is a :class:`Sequences` object holding N variable-length
``[T_i, D]`` float32 arrays either *packed* (one ``[sum T_i, D]`` block plus offsets: no padding is
stored, which is what keeps MOSEI-scale synthetic data small) or *padded* (an ``[N, L, D]`` block plus
lengths: what MMSA pickles already are, so loading them does not copy).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Iterator, Sequence

import numpy as np

from ..metrics import CLASSIFICATION_DATASETS, IEMOCAP_EMOTIONS  # noqa: F401 (IEMOCAP_EMOTIONS re-exported)

#: The three modalities, in the order the book always lists them.
MODALITIES = ("text", "audio", "vision")
#: The optional fourth sequence: text simulated from audio (SDUMC's "text missing" input).
SIM_TEXT = "text_sim"
SPLITS = ("train", "valid", "test")
#: The ``metric_dataset`` values an :class:`MSADataset` accepts, and the task each one is.
METRIC_DATASETS: dict[str, str] = {"mosei": "regression", "sims": "regression", "iemocap": "classification"}


def missing_frame_rows(x: np.ndarray) -> tuple[np.ndarray, int]:
    """Missing frames of a ``[..., T, D]`` feature: ``(rows, n_bad)``.

    ``rows`` (bool ``[..., T]``) marks rows that are entirely NaN — a frame whose feature could not be computed
    (OpenFace's convention for a frame without a face; what ``face_features(..., on_missing="mask")`` writes).
    ``n_bad`` counts the non-finite values *outside* those rows (inf, or NaN in a partly-NaN row), which are
    never a missing frame: the callers raise on them, each naming its file or sequence.
    """
    finite = np.isfinite(x)
    if finite.all():
        return np.zeros(x.shape[:-1], dtype=bool), 0
    rows = np.isnan(x).all(axis=-1)
    return rows, int((~finite & ~rows[..., None]).sum())


class Sequences:
    """N variable-length float32 sequences ``[T_i, D]`` of one modality (abstract base).

    ``seqs[i]`` returns sample i's ``[T_i, D]`` array (a view, never a copy, for in-memory storage);
    ``seqs.lengths`` is an int64 array [N]; ``seqs.dim`` is D.
    """

    dim: int

    def __len__(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def __getitem__(self, i: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def lengths(self) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def nbytes(self) -> int:
        return 0


class PackedSequences(Sequences):
    """Sequences stored back to back: ``values`` [sum T_i, D] and ``offsets`` [N + 1].

    Sample i is ``values[offsets[i]:offsets[i + 1]]``. No padding is stored.
    """

    def __init__(self, values: np.ndarray, offsets: np.ndarray):
        values = np.asarray(values)
        offsets = np.asarray(offsets, dtype=np.int64)
        if values.ndim != 2:
            raise ValueError(f"PackedSequences: values must be 2-D [sum T, D], got shape {values.shape}")
        if offsets.ndim != 1 or offsets.size < 1 or offsets[0] != 0 or offsets[-1] != values.shape[0]:
            raise ValueError(
                f"PackedSequences: offsets must start at 0 and end at values.shape[0]={values.shape[0]}, "
                f"got {offsets[:3]}...{offsets[-3:]}"
            )
        if np.any(np.diff(offsets) < 0):
            raise ValueError("PackedSequences: offsets must be non-decreasing")
        self.values = values
        self.offsets = offsets
        self.dim = int(values.shape[1])

    @classmethod
    def from_list(cls, arrays: Sequence[np.ndarray], dim: int | None = None) -> "PackedSequences":
        """Pack a list of ``[T_i, D]`` arrays (float32)."""
        if len(arrays) == 0:
            return cls(np.zeros((0, dim or 0), np.float32), np.zeros(1, np.int64))
        lengths = np.array([a.shape[0] for a in arrays], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        values = np.concatenate([np.asarray(a, dtype=np.float32) for a in arrays], axis=0)
        return cls(values, offsets)

    def __len__(self) -> int:
        return self.offsets.size - 1

    def __getitem__(self, i: int) -> np.ndarray:
        return self.values[self.offsets[i] : self.offsets[i + 1]]

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def nbytes(self) -> int:
        return int(self.values.nbytes + self.offsets.nbytes)


class PaddedSequences(Sequences):
    """Sequences stored padded: ``array`` [N, L, D] and valid ``lengths`` [N] (each in [0, L]).

    Sample i is ``array[i, :lengths[i]]`` (a view). This is the layout of MMSA pickles, so loading
    one keeps its arrays as they are (cast to float32 only when they are not float32 already).
    """

    def __init__(self, array: np.ndarray, lengths: np.ndarray):
        if array.ndim != 3:
            raise ValueError(f"PaddedSequences: array must be 3-D [N, L, D], got shape {array.shape}")
        lengths = np.asarray(lengths, dtype=np.int64).reshape(-1)
        if lengths.shape[0] != array.shape[0]:
            raise ValueError(
                f"PaddedSequences: {lengths.shape[0]} lengths for {array.shape[0]} sequences"
            )
        if lengths.size and (lengths.min() < 0 or lengths.max() > array.shape[1]):
            raise ValueError(
                f"PaddedSequences: lengths must lie in [0, {array.shape[1]}], got "
                f"[{lengths.min()}, {lengths.max()}]"
            )
        self.array = array
        self._lengths = lengths
        self.dim = int(array.shape[2])

    def __len__(self) -> int:
        return self.array.shape[0]

    def __getitem__(self, i: int) -> np.ndarray:
        return self.array[i, : self._lengths[i]]

    @property
    def lengths(self) -> np.ndarray:
        return self._lengths

    @property
    def nbytes(self) -> int:
        return int(self.array.nbytes)


class MSASplit:
    """One split of a data set: per-modality sequences, labels and ids, all in one sample order.

    Args:
        name: ``"train"``, ``"valid"`` or ``"test"``.
        sequences: modality → :class:`Sequences` (``text``, ``audio``, ``vision`` and optionally
            ``text_sim``), each of length N.
        labels: float32 [N]: sentiment scores (regression), or class ids 0..C-1 stored as floats
            (classification, e.g. IEMOCAP's emotion index; ``int(label)`` is the class).
        ids: N sample ids (strings).
        evidence: optional modality → packed bool sequences marking the frames that carry
            sentiment (only the synthetic generator knows this; used by figures).
        label_range: (low, high) of valid labels, checked on construction.

    ``split[i]`` is ``{"text": [T_t, D_t], "audio": ..., "vision": ..., ("text_sim": ...),
    "label": np.float32, "id": str, "index": i}``.
    """

    def __init__(
        self,
        name: str,
        sequences: Mapping[str, Sequences],
        labels: np.ndarray,
        ids: Sequence[str] | None = None,
        *,
        evidence: Mapping[str, Sequences] | None = None,
        source: str = "",
    ):
        self.name = name
        self.sequences = dict(sequences)
        labels = np.asarray(labels, dtype=np.float32).reshape(-1)
        n = labels.shape[0]
        where = f"{source}: split '{name}'" if source else f"split '{name}'"
        for m, seqs in self.sequences.items():
            if len(seqs) != n:
                raise ValueError(f"{where}: '{m}' has {len(seqs)} samples but there are {n} labels")
        if ids is None:
            ids = [f"{name}_{i}" for i in range(n)]
        ids = [str(x) for x in ids]
        if len(ids) != n:
            raise ValueError(f"{where}: {len(ids)} ids for {n} labels")
        self.labels = labels
        self.ids = ids
        self.evidence = dict(evidence) if evidence else {}
        self.source = source

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.sequences)

    @property
    def dims(self) -> dict[str, int]:
        return {m: s.dim for m, s in self.sequences.items()}

    def lengths(self, modality: str) -> np.ndarray:
        """Valid lengths [N] (int64) of ``modality``."""
        if modality not in self.sequences:
            raise KeyError(f"split '{self.name}' has no modality '{modality}'; it has {self.modalities}")
        return self.sequences[modality].lengths

    def __len__(self) -> int:
        return self.labels.shape[0]

    def _check_index(self, i: int) -> int:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"split '{self.name}' has {n} samples; index {i} is out of range")
        return i % n if n else i

    def __getitem__(self, i: int) -> dict:
        i = self._check_index(int(i))
        sample = {m: seqs[i] for m, seqs in self.sequences.items()}
        sample["label"] = self.labels[i]
        sample["id"] = self.ids[i]
        sample["index"] = i
        return sample

    def __getitems__(self, indices: Sequence[int]) -> list[dict]:
        # torch's DataLoader fetches a whole batch with one call when this exists.
        return [self[i] for i in indices]

    def evidence_frames(self, i: int) -> dict[str, np.ndarray]:
        """Bool [T_m] per modality: the frames that carry sentiment (synthetic data only)."""
        if not self.evidence:
            raise KeyError(
                f"split '{self.name}' has no evidence annotation: only synthetic_mosei() knows which "
                "frames carry sentiment"
            )
        i = self._check_index(int(i))
        return {m: np.asarray(s[i][:, 0], dtype=bool) for m, s in self.evidence.items()}

    @property
    def nbytes(self) -> int:
        return int(sum(s.nbytes for s in self.sequences.values()) + self.labels.nbytes)

    def __repr__(self) -> str:
        dims = ", ".join(f"{m}={d}" for m, d in self.dims.items())
        return f"{type(self).__name__}('{self.name}', n={len(self)}, dims: {dims})"


def invalid_class_ids(labels, n_classes: int) -> np.ndarray:
    """Indices of the ``labels`` that are not class ids ``0 .. n_classes - 1`` (finite, whole, in range)."""
    y = np.asarray(labels)
    return np.flatnonzero(~np.isfinite(y) | (y != np.round(y)) | (y < 0) | (y >= n_classes))


class MSADataset(Mapping):
    """A data set: a read-only mapping ``"train" / "valid" / "test"`` → :class:`MSASplit`.

    Attributes:
        name: a short name (``"synthetic_mosei"``, the pickle's file stem, the MERTools folder).
        input_dims: modality → feature dim, ``text_sim`` included when present (what model
            constructors take).
        metric_dataset: ``"mosei"`` (MOSI/MOSEI metrics, labels in [-3, 3]), ``"sims"``
            (CH-SIMS metrics, labels in [-1, 1]) or ``"iemocap"`` (emotion classes); pass it (or the
            data set itself) to :func:`msa_lib.metrics.evaluation_metrics`.
        task: ``"regression"`` (sentiment scores: MOSI, MOSEI, CH-SIMS) or ``"classification"``
            (single-label classes: IEMOCAP's 4 emotions), derived from ``metric_dataset``
            (:data:`METRIC_DATASETS`).
        classes: the class names in class-id order for a classification data set (IEMOCAP default:
            ``("Neutral", "Happy", "Sad", "Angry")``, MulT's order); ``()`` for a regression one.
            Every split's labels are checked to be class ids ``0..len(classes)-1``.
        info: free-form provenance (the config of a synthetic set, the path of a file, the notes
            of what a loader repaired).
    """

    def __init__(
        self,
        splits: Mapping[str, MSASplit],
        *,
        name: str,
        metric_dataset: str = "mosei",
        classes: Sequence[str] | None = None,
        info: dict | None = None,
    ):
        missing = [s for s in SPLITS if s not in splits]
        if missing:
            raise KeyError(f"{name}: missing split(s) {missing}; a data set needs {list(SPLITS)}")
        if metric_dataset not in METRIC_DATASETS:
            raise ValueError(
                f"metric_dataset must be one of {', '.join(map(repr, METRIC_DATASETS))}, got {metric_dataset!r}"
            )
        task = METRIC_DATASETS[metric_dataset]
        if task == "classification":
            classes = tuple(str(c) for c in (classes if classes is not None else CLASSIFICATION_DATASETS[metric_dataset]))
            if len(classes) < 2 or len(set(classes)) != len(classes):
                raise ValueError(f"{name}: classes must be at least 2 distinct names, got {classes}")
            for s in SPLITS:
                y = np.asarray(splits[s].labels)
                bad = invalid_class_ids(y, len(classes))
                if bad.size:
                    first = bad[:5].tolist()
                    raise ValueError(
                        f"{name}: split '{s}' has {bad.size} labels that are not class ids 0..{len(classes) - 1} "
                        f"of {classes} (indices {first}, values {y[first].tolist()})"
                    )
        elif classes:
            raise ValueError(f"{name}: classes={tuple(classes)} given for the regression data set ('{metric_dataset}')")
        self._splits = {s: splits[s] for s in SPLITS}
        dims = None
        for s, split in self._splits.items():
            if dims is None:
                dims = split.dims
            elif split.dims != dims:
                where = split.source or name  # e.g. "load_mmsa: /path/to/file.pkl": the file at fault
                raise ValueError(
                    f"{where}: split '{s}' has feature dims {split.dims} but 'train' has {dims}; every split of a "
                    "data set must have the same features"
                )
        self.name = name
        self.input_dims: dict[str, int] = dict(dims or {})
        self.metric_dataset = metric_dataset
        self.task: str = task
        self.classes: tuple[str, ...] = tuple(classes) if task == "classification" else ()
        self.info = dict(info or {})

    @property
    def has_text_sim(self) -> bool:
        return SIM_TEXT in self.input_dims

    def __getitem__(self, key: str) -> MSASplit:
        if key not in self._splits:
            raise KeyError(f"{self.name}: no split {key!r}; splits are {list(self._splits)}")
        return self._splits[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._splits)

    def __len__(self) -> int:
        return len(self._splits)

    def __repr__(self) -> str:
        sizes = " / ".join(str(len(s)) for s in self._splits.values())
        return (
            f"MSADataset('{self.name}', train/valid/test = {sizes}, input_dims={self.input_dims}, "
            f"metric_dataset='{self.metric_dataset}'"
            + (f", classes={self.classes}" if self.classes else "") + ")"
        )
