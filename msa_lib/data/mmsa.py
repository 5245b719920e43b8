"""Reader for MMSA processed pickles (CMU-MOSI, CMU-MOSEI, CH-SIMS; aligned and unaligned).

Format (reference/data_and_metrics.md §1): a pickle of ``{"train", "valid", "test"}``, each a dict of
per-sample arrays in one order: ``text`` [N, L_t, 768] (BERT last hidden state), optionally
``text_bert`` [N, 3, L_t] (input ids, attention mask, segment ids), ``audio`` [N, L_a, D_a],
``vision`` [N, L_v, D_v], ``regression_labels`` [N], optionally ``audio_lengths`` /
``vision_lengths`` (unaligned files) and ``id``.

Conventions we follow, as MMSA's ``data_loader.py`` does:

* everything is cast to **float32**;
* ``-inf`` in ``audio`` becomes 0 (COVAREP writes -inf; MMSA L87) — repaired with one warning
  giving the count. Any other non-finite value (NaN, +inf, -inf outside audio) is an error;
* **lengths** (how many frames are real):

  - text: the number of ones in the ``text_bert`` attention-mask row when ``text_bert`` is present
    (BERT features are non-zero at padded positions, so they cannot tell), else ``text_lengths``
    when present (our extension, written by :func:`save_mmsa`), else :func:`mmsa_lengths`;
  - audio / vision: ``audio_lengths`` / ``vision_lengths`` when present (unaligned files). In an
    aligned file (no lengths, same padded length as the text, ``text_bert`` present) the text
    length, as MMSA does for aligned data (``data_loader.py`` L98-100) — an aligned file has zero
    frames at [CLS], so the zero-frame rule would stop at position 0. Otherwise
    :func:`mmsa_lengths`, MMSA's ``getLengths``.
* **labels**: ``regression_labels`` (flattened, float32).

**MulT pickles** (``yaohungt/Multimodal-Transformer``: ``mosi_data.pkl``, ``mosei_senti_data.pkl`` and their
``_noalign`` versions — the GloVe / COVAREP / Facet features CorrKD used; reference/data_and_metrics.md §2) are
read too: the same split dicts with the sentiment under ``labels`` [N, 1, 1] instead of ``regression_labels``,
no lengths and no token ids.

**MulT IEMOCAP** (``iemocap_data.pkl`` / ``iemocap_data_noalign.pkl``: text 300-d GloVe, audio 74, vision 35,
aligned length 20): ``labels`` [N, 4, 2], one binary one-hot pair per emotion in the order Neutral, Happy, Sad,
Angry. Detected by that shape (``labels`` [N, C, 2] with C > 1 and no ``regression_labels``), or forced with
``metric_dataset="iemocap"``. Emotion e is positive iff ``labels[:, e, 1] > labels[:, e, 0]`` (the argmax of the
pair, as MulT's dataset class takes it). The data set is then **4-class single-label classification** (the usual
4-class IEMOCAP setting): ``split.labels`` float32 [N] holds the class id 0..3, ``dataset.task ==
"classification"``, ``dataset.classes == ("Neutral", "Happy", "Sad", "Angry")`` and ``metric_dataset="iemocap"``
(:func:`msa_lib.metrics.classification_metrics`). A sample with no positive emotion or with several is an
error naming the file, the split, the counts and the first indices: nothing is dropped silently. With
``metric_dataset="iemocap"``, labels of one value per sample are read as class ids (checked to be 0..3).
Such files may be zero-padded **on the left** (the CMU-SDK's ``get_tensors`` default). Where there are no
lengths and no ``text_bert``, :func:`_padding_start` decides per modality whether the padded samples are padded
at the front (the first real frame later than 0, the last one at the end) or at the back, from the majority of
padded samples; left-padded arrays are shifted so that each sample's frames start at 0 (right padding, which
every model here expects), with one warning naming the split and keys, and the lengths become the number of
frames from the first non-zero one. In a word-aligned file (audio and vision as long as the text) the text's
padding is applied to all three, as they share the time axis. Without this, MMSA's zero-frame rule would give a
left-padded sample length 1.

**CH-SIMS detection** (``metric_dataset="sims"``: SIMS metrics and labels in [-1, 1]), first rule
that applies: the ``metric_dataset=`` argument; a ``regression_labels_T`` key in the train split
(the unimodal labels only SIMS / SIMSv2 have); ``"sims"`` in the file name; else, when every label
of every split lies in [-1, 1], SIMS with a warning (MOSI / MOSEI labels span [-3, 3]).

**Simulated text** (optional, our extension for SDUMC's text-missing protocol): a key ``text_sim``
[N, L_s, D_t] (same feature dim as ``text``) with optional ``text_sim_lengths`` [N]; without lengths
they come from :func:`mmsa_lengths`.
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..metrics import CLASSIFICATION_DATASETS
from .dataset import SIM_TEXT, SPLITS, MSADataset, MSASplit, PaddedSequences, invalid_class_ids
from .safe_pickle import UnsafePickleError, safe_load

LABEL_KEY = "regression_labels"


def mmsa_lengths(x: np.ndarray) -> np.ndarray:
    """MMSA's ``getLengths``: per sample, the index of the first frame whose feature sum is exactly 0
    (minimum 1); the padded length when no frame sums to 0.

    ``x``: [N, L, D] → int64 [N]. A real frame that happens to sum to 0 truncates the length early
    (a known quirk of the rule, kept for compatibility).
    """
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"mmsa_lengths expects [N, L, D], got shape {x.shape}")
    n, length = x.shape[:2]
    if n == 0:
        return np.zeros(0, np.int64)
    zero = x.sum(axis=-1) == 0
    first = np.where(zero.any(axis=1), zero.argmax(axis=1), length)
    return np.maximum(first, 1).astype(np.int64)


def _padding_start(x: np.ndarray) -> tuple[np.ndarray, bool]:
    """Where each sample's real frames start, and whether ``x`` is padded on the left.

    ``x``: [N, L, D]; a frame is real when any of its features is non-zero. Returns ``(first, left)``:
    ``first`` int64 [N], the index of the first real frame (L when there is none), and ``left``, True when
    more of the padded samples have their zeros in front (first > 0, last real frame at L - 1) than behind
    (first = 0, last < L - 1).
    """
    real = np.concatenate([(x[i:i + 1024] != 0).any(axis=2) for i in range(0, len(x), 1024)] or
                          [np.zeros((0, x.shape[1]), bool)])  # in chunks: no [N, L, D] boolean temporary
    length = real.shape[1]
    has_real = real.any(axis=1)
    first = np.where(has_real, real.argmax(axis=1), length).astype(np.int64)
    last = np.where(has_real, length - 1 - real[:, ::-1].argmax(axis=1), -1)
    in_front = int(((first > 0) & (last == length - 1)).sum())
    behind = int(((first == 0) & (last < length - 1)).sum())
    return first, in_front > behind


def _move_padding_to_the_right(x: np.ndarray, first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shift sample i's frames ``[first_i, L)`` to ``[0, L - first_i)`` (zeros after); returns
    ``(shifted [N, L, D] float32, lengths int64 [N])``, lengths at least 1 as MMSA's ``getLengths``."""
    length = x.shape[1]
    source = np.arange(length)[None, :] + first[:, None]  # [N, L]
    shifted = np.take_along_axis(x, np.minimum(source, length - 1)[:, :, None], axis=1)
    shifted[source >= length] = 0.0
    return shifted, np.maximum(length - first, 1).astype(np.int64)


def _is_emotion_shape(shape) -> bool:
    """MulT's per-emotion one-hot labels: [N, C, 2] with C > 1 (IEMOCAP: [N, 4, 2])."""
    return len(shape) == 3 and shape[1] > 1 and shape[2] == 2


def _emotion_labels(path: Path, data: dict, metric_dataset: str | None) -> bool:
    """Whether the file holds emotion classes (IEMOCAP) rather than sentiment scores; see the module docstring."""
    detected = all(
        LABEL_KEY not in data[s] and "labels" in data[s] and _is_emotion_shape(np.shape(data[s]["labels"]))
        for s in SPLITS
    )
    if metric_dataset == "iemocap":
        return True
    if detected and metric_dataset is not None:
        raise ValueError(
            f"load_mmsa: {path}: 'labels' has shape {np.shape(data['train']['labels'])} (MulT's per-emotion one-hots, "
            f"IEMOCAP), which are classification targets; metric_dataset={metric_dataset!r} is for sentiment scores. "
            "Pass metric_dataset='iemocap' or leave it out"
        )
    return detected


def _emotion_classes(split: dict, where: str, classes: tuple[str, ...]) -> np.ndarray:
    """IEMOCAP class ids float32 [N] from MulT's ``labels`` [N, C, 2] (or from class ids [N] / [N, 1] / [N, 1, 1])."""
    key = "labels" if "labels" in split else LABEL_KEY
    raw = np.asarray(split[key], dtype=np.float32)
    if raw.ndim >= 1 and int(np.prod(raw.shape[1:])) == 1:  # class ids already
        y = raw.reshape(-1)
        bad = invalid_class_ids(y, len(classes))
        if bad.size:
            raise ValueError(
                f"{where}: '{key}' holds {bad.size} values that are not class ids 0..{len(classes) - 1} "
                f"of {classes} (first indices {bad[:10].tolist()})"
            )
        return y
    if not _is_emotion_shape(raw.shape) or raw.shape[1] != len(classes):
        raise ValueError(
            f"{where}: '{key}' has shape {raw.shape}; IEMOCAP labels must be MulT's per-emotion one-hots "
            f"[N, {len(classes)}, 2] ({', '.join(classes)}) or class ids [N]"
        )
    if not np.isfinite(raw).all():
        raise ValueError(f"{where}: '{key}' has {int((~np.isfinite(raw)).sum())} non-finite values")
    positive = raw[:, :, 1] > raw[:, :, 0]  # the argmax of each emotion's pair, as MulT's dataset class
    count = positive.sum(axis=1)
    if (count != 1).any():
        none, several = np.flatnonzero(count == 0), np.flatnonzero(count > 1)
        raise ValueError(
            f"{where}: {none.size + several.size} of {raw.shape[0]} samples do not have exactly one positive emotion "
            f"({none.size} with none, first indices {none[:10].tolist()}; {several.size} with several, first indices "
            f"{several[:10].tolist()}). load_mmsa reads IEMOCAP as {len(classes)}-class single-label classification "
            f"({', '.join(classes)}) and drops nothing silently: fix or filter these samples in the file"
        )
    return positive.argmax(axis=1).astype(np.float32)


def _labels_of(split: dict, where: str, classes: tuple[str, ...] = ()) -> tuple[np.ndarray, str]:
    """The labels of a split, float32 [N]: sentiment scores from ``regression_labels`` (MMSA) or ``labels``
    (MulT), or, when ``classes`` is given (IEMOCAP), class ids from MulT's one-hots (:func:`_emotion_classes`)."""
    if classes:
        return _emotion_classes(split, where, classes), "labels" if "labels" in split else LABEL_KEY
    if LABEL_KEY in split:
        return np.asarray(split[LABEL_KEY], dtype=np.float32).reshape(-1), LABEL_KEY
    raw = np.asarray(split["labels"], dtype=np.float32)
    if raw.ndim == 0 or int(np.prod(raw.shape[1:])) != 1:
        raise ValueError(
            f"{where}: 'labels' has shape {raw.shape}; expected one sentiment score per sample ([N], [N, 1] or "
            "MulT's [N, 1, 1]). IEMOCAP's emotion labels [N, 4, 2] are classification targets: pass "
            "metric_dataset='iemocap' (they are detected when every split has them)"
        )
    return raw.reshape(-1), "labels"


def _sample_ids(raw) -> list[str]:
    """Ids as strings; MulT stores several byte-string fields per sample, joined here with MMSA's ``$_$``."""
    def text(v):
        return v.decode() if isinstance(v, bytes) else str(v)

    return ["$_$".join(text(v) for v in np.ravel(i)) if np.ndim(i) else text(i) for i in raw]


def _as_float32(x: Any, where: str, key: str, ndim: int) -> np.ndarray:
    try:
        arr = np.asarray(x)
        if arr.dtype == object:
            arr = np.stack([np.asarray(a) for a in arr]) if arr.ndim == 1 else arr.astype(np.float64)
        arr = arr.astype(np.float32, copy=False)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{where}: key '{key}' is not a numeric array ({e})") from None
    if arr.ndim != ndim:
        raise ValueError(f"{where}: key '{key}' must be {ndim}-D, got shape {arr.shape}")
    return arr


def _check_finite(arr: np.ndarray, where: str, key: str) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        n_nan = int(np.isnan(arr).sum())
        raise ValueError(
            f"{where}: key '{key}' has {int(bad.sum())} non-finite values ({n_nan} NaN); "
            "fix the file (only -inf in 'audio' is repaired, as MMSA does)"
        )


def _detect_sims(path: Path, data: dict, labels: dict[str, np.ndarray], metric_dataset: str | None) -> str:
    if metric_dataset is not None:
        if metric_dataset not in ("mosei", "sims"):
            raise ValueError(f"metric_dataset must be 'mosei', 'sims' or 'iemocap', got {metric_dataset!r}")
        return metric_dataset
    if "regression_labels_T" in data["train"]:
        return "sims"
    if "sims" in path.name.lower():
        return "sims"
    if all(np.all(np.abs(v) <= 1.0) for v in labels.values()):
        warnings.warn(
            f"load_mmsa: {path}: every label lies in [-1, 1], so the data are taken as CH-SIMS "
            "(metric_dataset='sims'); pass metric_dataset='mosei' to override",
            stacklevel=3,
        )
        return "sims"
    return "mosei"


def load_mmsa(path, *, metric_dataset: str | None = None, name: str | None = None) -> MSADataset:
    """Load an MMSA processed pickle as an :class:`MSADataset` (see the module docstring).

    Args:
        path: the ``.pkl`` file (e.g. ``MOSEI/Processed/unaligned_50.pkl``).
        metric_dataset: force ``"mosei"``, ``"sims"`` or ``"iemocap"`` (default: detected; IEMOCAP from
            MulT's ``labels`` [N, 4, 2], see the module docstring).
        name: the data set's name (default: ``<parent folder>/<file stem>``).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a pickle, not a dict of splits, arrays of different lengths inside a split,
            wrong ranks, NaN / infinite values, labels out of range.
        KeyError: a missing split, or a split without ``text``/``audio``/``vision`` or without labels
            (``regression_labels``, or MulT's ``labels``).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"load_mmsa: {path}: no such file")
    try:
        with open(path, "rb") as f:
            data = safe_load(f, source=f"load_mmsa: {path}")
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError, ValueError, TypeError) as e:
        raise ValueError(f"load_mmsa: {path} is not a readable pickle ({type(e).__name__}: {e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"load_mmsa: {path} holds a {type(data).__name__}, expected a dict of splits {list(SPLITS)}")
    for s in SPLITS:
        if s not in data:
            raise KeyError(f"load_mmsa: {path} has no split '{s}' (top-level keys: {sorted(map(str, data))})")
        if not isinstance(data[s], dict):
            raise ValueError(f"load_mmsa: {path}: split '{s}' is a {type(data[s]).__name__}, expected a dict")
        for key in ("text", "audio", "vision"):
            if key not in data[s]:
                raise KeyError(
                    f"load_mmsa: {path}: split '{s}' has no key '{key}' (keys: {sorted(map(str, data[s]))})"
                )
        if LABEL_KEY not in data[s] and "labels" not in data[s]:
            raise KeyError(
                f"load_mmsa: {path}: split '{s}' has no key '{LABEL_KEY}' (MMSA) or 'labels' (MulT) "
                f"(keys: {sorted(map(str, data[s]))})"
            )

    emotion = _emotion_labels(path, data, metric_dataset)
    classes = CLASSIFICATION_DATASETS["iemocap"] if emotion else ()
    labels, label_keys = {}, {}
    for s in SPLITS:
        where = f"load_mmsa: {path}: split '{s}'"
        y, label_key = _labels_of(data[s], where, classes)
        if np.isnan(y).any():
            raise ValueError(f"{where}: '{label_key}' has {int(np.isnan(y).sum())} NaN values")
        labels[s], label_keys[s] = y, label_key
    metric = "iemocap" if emotion else _detect_sims(path, data, labels, metric_dataset)
    bound = 1.0 if metric == "sims" else 3.0

    splits: dict[str, MSASplit] = {}
    inf_repaired: dict[str, int] = {}
    left_padded: dict[str, list[str]] = {}
    has_sim = [SIM_TEXT in data[s] for s in SPLITS]
    if any(has_sim) and not all(has_sim):
        raise KeyError(
            f"load_mmsa: {path}: '{SIM_TEXT}' is present in splits "
            f"{[s for s, h in zip(SPLITS, has_sim) if h]} but not in the others"
        )
    for s in SPLITS:
        d = data[s]
        where = f"load_mmsa: {path}: split '{s}'"
        y = labels[s]
        out_of_range = np.abs(y) > bound
        if out_of_range.any():
            raise ValueError(
                f"{where}: {int(out_of_range.sum())} labels outside [-{bound:g}, {bound:g}] "
                f"(e.g. {float(y[out_of_range][0]):.4g}) for metric_dataset='{metric}'"
            )
        n = y.shape[0]
        arrays = {}
        for key in ("text", "audio", "vision") + ((SIM_TEXT,) if SIM_TEXT in d else ()):
            arr = _as_float32(d[key], where, key, 3)
            if key == "audio":
                neg_inf = np.isneginf(arr)
                count = int(neg_inf.sum())
                if count:
                    if arr is d[key] or not arr.flags.writeable:
                        arr = arr.copy()
                    arr[neg_inf] = 0.0
                    inf_repaired[s] = count
            _check_finite(arr, where, key)
            arrays[key] = arr
        # every per-sample array must have N entries
        sized = {k: arrays[k].shape for k in arrays}
        for key in ("text_bert", "text_lengths", "audio_lengths", "vision_lengths", f"{SIM_TEXT}_lengths", "id"):
            if key in d:
                sized[key] = np.shape(d[key])
        for key, shape in sized.items():
            if len(shape) == 0 or shape[0] != n:
                raise ValueError(
                    f"{where}: key '{key}' has shape {tuple(shape)} but '{label_keys[s]}' has {n} samples; "
                    "all arrays of a split must have one entry per sample"
                )

        text = arrays["text"]
        if "text_bert" in d:
            tb = np.asarray(d["text_bert"])
            if tb.ndim != 3 or tb.shape[1] != 3 or tb.shape[2] != text.shape[1]:
                raise ValueError(
                    f"{where}: 'text_bert' must be [N, 3, {text.shape[1]}] (ids, mask, segments), got {tb.shape}"
                )
            text_len = (tb[:, 1, :] != 0).sum(axis=1).astype(np.int64)
        elif "text_lengths" in d:  # written by save_mmsa (no token ids to take a mask from)
            text_len = np.asarray(d["text_lengths"]).reshape(-1).astype(np.int64)
            if text_len.size and (text_len.min() < 0 or text_len.max() > text.shape[1]):
                raise ValueError(f"{where}: 'text_lengths' must lie in [0, {text.shape[1]}]")
        else:
            text_first, text_left = _padding_start(text)
            if text_left:  # MulT / CMU-SDK: zeros in front
                arrays["text"], text_len = _move_padding_to_the_right(text, text_first)
                left_padded.setdefault(s, []).append("text")
            else:
                text_len = mmsa_lengths(text)
        lengths = {"text": text_len}
        no_length_info = "text_bert" not in d and "text_lengths" not in d
        for m in ("audio", "vision"):
            x = arrays[m]
            first, left = (None, False)
            if no_length_info and f"{m}_lengths" not in d:
                aligned_with_text = x.shape[1] == text.shape[1] and "text" in left_padded.get(s, [])
                first, left = (text_first, True) if aligned_with_text else _padding_start(x)
            if left:
                arrays[m], lengths[m] = _move_padding_to_the_right(x, first)
                left_padded.setdefault(s, []).append(m)
            elif f"{m}_lengths" in d:
                lens = np.asarray(d[f"{m}_lengths"]).reshape(-1)
                if lens.size and (lens.min() < 0 or lens.max() > x.shape[1]):
                    raise ValueError(
                        f"{where}: '{m}_lengths' must lie in [0, {x.shape[1]}] (the padded length of '{m}'), "
                        f"got [{lens.min()}, {lens.max()}]"
                    )
                lengths[m] = lens.astype(np.int64)
            elif "text_bert" in d and x.shape[1] == text.shape[1]:
                lengths[m] = text_len.copy()  # aligned data: MMSA uses the text length
            else:
                lengths[m] = mmsa_lengths(x)
        if SIM_TEXT in arrays:
            if arrays[SIM_TEXT].shape[2] != text.shape[2]:
                raise ValueError(
                    f"{where}: '{SIM_TEXT}' has feature dim {arrays[SIM_TEXT].shape[2]} but 'text' has "
                    f"{text.shape[2]}; simulated text must live in the text feature space"
                )
            key = f"{SIM_TEXT}_lengths"
            lengths[SIM_TEXT] = (
                np.asarray(d[key]).reshape(-1).astype(np.int64) if key in d else mmsa_lengths(arrays[SIM_TEXT])
            )
        sequences = {}
        for m, arr in arrays.items():
            arr.flags.writeable = False  # samples are views into these arrays: protect the data set
            try:
                sequences[m] = PaddedSequences(arr, lengths[m])
            except ValueError as e:
                raise ValueError(f"{where}: '{m}': {e}") from None
        ids = _sample_ids(d["id"]) if "id" in d else None
        splits[s] = MSASplit(s, sequences, y, ids, source=f"load_mmsa: {path}")

    if inf_repaired:
        total = sum(inf_repaired.values())
        warnings.warn(
            f"load_mmsa: {path}: replaced {total} -inf audio values by 0 (MMSA convention; per split: "
            f"{inf_repaired})",
            stacklevel=2,
        )
    if left_padded:
        warnings.warn(
            f"load_mmsa: {path}: frames are zero-padded on the left (MulT / CMU-SDK convention); moved each "
            f"sample's frames to the front, lengths counted from the first non-zero frame (per split: {left_padded})",
            stacklevel=2,
        )
    aligned = all(
        splits[s].sequences["audio"].array.shape[1] == splits[s].sequences["text"].array.shape[1]
        for s in SPLITS
    ) and "audio_lengths" not in data["train"]
    return MSADataset(
        splits,
        name=name or (f"{path.parent.name}/{path.stem}" if path.parent.name else path.stem),
        metric_dataset=metric,
        classes=classes or None,
        info={
            "source": "mmsa",
            "path": str(path),
            "aligned": bool(aligned),
            "audio_neg_inf_repaired": inf_repaired,
            "left_padding_moved": left_padded,
            # BERT features start with [CLS] and end with [SEP]: random_frame_missing(..., keep_text_ends=True)
            "text_has_cls_sep": "text_bert" in data["train"],
        },
    )


def save_mmsa(dataset: MSADataset, path, *, protocol: int = 4) -> Path:
    """Write a data set as an MMSA-format pickle (unaligned layout) that :func:`load_mmsa` reads back.

    Each split becomes ``{"text", "audio", "vision", "regression_labels", "id", "text_lengths",
    "audio_lengths", "vision_lengths"}`` (+ ``"text_sim"``, ``"text_sim_lengths"``), every sequence
    right-padded with zeros to the split's longest, float32. There is no ``text_bert`` (we have
    features, not BERT token ids), so the reader takes text lengths from ``text_lengths`` — our
    extension, read when present. Useful to hand synthetic data to MMSA-based code, and to test.

    A classification data set (``dataset.task == "classification"``, IEMOCAP) is written the MulT way:
    ``"labels"`` float32 [N, C, 2], one ``[not, is]`` one-hot pair per class (the sample's class gets
    ``[0, 1]``, every other class ``[1, 0]``) and no ``"regression_labels"``, so :func:`load_mmsa` detects
    it and reads the same class ids back. Only the default class names of the metric data set survive
    (the file has no place for names).
    """
    path = Path(path).expanduser()
    data = {}
    for s in SPLITS:
        split = dataset[s]
        d: dict[str, Any] = {}
        for m in split.modalities:
            seqs = split.sequences[m]
            lengths = np.asarray(seqs.lengths, np.int64)
            arr = np.zeros((len(split), max(1, int(lengths.max(initial=0))), seqs.dim), np.float32)
            for i in range(len(split)):
                arr[i, : lengths[i]] = seqs[i]
            d[m] = arr
            d[f"{m}_lengths"] = lengths
        if getattr(dataset, "task", "regression") == "classification":
            ids = split.labels.astype(np.int64)
            one_hot = np.zeros((len(split), len(dataset.classes), 2), np.float32)
            one_hot[:, :, 0] = 1.0
            one_hot[np.arange(len(split)), ids] = (0.0, 1.0)
            d["labels"] = one_hot
        else:
            d[LABEL_KEY] = split.labels.astype(np.float32)
        d["id"] = list(split.ids)
        data[s] = d
    with open(path, "wb") as f:
        pickle.dump(data, f, protocol=protocol)
    return path
