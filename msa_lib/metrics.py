"""Regression metrics for multimodal sentiment analysis, exactly as MMSA computes them.

Every paper in this field reports the numbers of MMSA's ``MetricsTop`` (``thuiar/MMSA``,
``src/MMSA/utils/metricsTop.py``, read at commit ``a94e65d07f``, 2025-01-15). Small choices in
that code move the reported numbers: rounding half to even, float32 arithmetic, whether a label of
exactly 0 counts as positive, the argument order of scikit-learn's weighted F1. This module
reproduces it to the last digit (values *and* Python/numpy types), with switches for the older
versions that published numbers were computed with. See
``shared/reference/data_and_metrics.md`` §6 for the source lines and the version history.

Entry points
------------
* :func:`regression_metrics` — the metric dictionary for CMU-MOSI / CMU-MOSEI or CH-SIMS(v2).
* :func:`classification_metrics` — IEMOCAP's per-emotion accuracy and weighted F1 (MulT's
  ``eval_iemocap``), their means, and the 4-class accuracy and macro F1.
* :func:`evaluation_metrics` — one entry point for every data set: dispatches on the metric data
  set (``dataset.metric_dataset``) to one of the two above; :func:`primary_metric` names the
  headline metric of a data set, :func:`lower_is_better` the direction of a metric.
* :func:`aggregate_seeds` — mean and population std over seeds (MMSA ``run.py`` convention).
* :func:`format_mean_std` — ``"70.80 ± 1.23"`` strings for tables.
* :data:`METRIC_KEYS`, :data:`SIMS_METRIC_KEYS`, :data:`LOWER_IS_BETTER`.

Example
-------
>>> m = regression_metrics([0.5, -1.2, 2.4, 0.0], [0.0, -1.0, 3.0, 0.4])
>>> m["Mult_acc_7"], m["Has0_acc_2"], m["Non0_acc_2"]
(np.float64(0.75), 1.0, 0.6667)
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import accuracy_score, f1_score

__all__ = [
    "METRIC_KEYS",
    "SIMS_METRIC_KEYS",
    "LOWER_IS_BETTER",
    "DATASETS",
    "IEMOCAP_EMOTIONS",
    "CLASSIFICATION_DATASETS",
    "metric_keys",
    "regression_metrics",
    "classification_metrics",
    "classification_metric_keys",
    "evaluation_metrics",
    "primary_metric",
    "lower_is_better",
    "is_classification",
    "aggregate_seeds",
    "format_mean_std",
]

#: The CMU-MOSI / CMU-MOSEI keys, in MMSA's order, which is also a sensible reporting order:
#: binary accuracy and F1 with zeros counted positive ("Has0") and with zeros dropped ("Non0"),
#: then the 5- and 7-class accuracies, then the regression errors.
METRIC_KEYS: tuple[str, ...] = (
    "Has0_acc_2",
    "Has0_F1_score",
    "Non0_acc_2",
    "Non0_F1_score",
    "Mult_acc_5",
    "Mult_acc_7",
    "MAE",
    "Corr",
)

#: The CH-SIMS / CH-SIMSv2 keys, in MMSA's order.
SIMS_METRIC_KEYS: tuple[str, ...] = (
    "Mult_acc_2",
    "Mult_acc_3",
    "Mult_acc_5",
    "F1_score",
    "MAE",
    "Corr",
)

#: Metrics where smaller is better (all the others: larger is better).
LOWER_IS_BETTER: frozenset[str] = frozenset({"MAE"})

#: Accepted ``dataset`` names (case-insensitive) of :func:`regression_metrics` and the metric family
#: each one uses.
DATASETS: dict[str, str] = {"mosi": "mosei", "mosei": "mosei", "sims": "sims", "simsv2": "sims"}

#: IEMOCAP's four emotions in the order of MulT's label tensor ``[N, 4, 2]`` (``src/eval_metrics.py``
#: ``eval_iemocap``: ``emos = ["Neutral", "Happy", "Sad", "Angry"]``).
IEMOCAP_EMOTIONS: tuple[str, ...] = ("Neutral", "Happy", "Sad", "Angry")

#: Classification data sets (case-insensitive names) and their default class names, for
#: :func:`classification_metrics` / :func:`evaluation_metrics`.
CLASSIFICATION_DATASETS: dict[str, tuple[str, ...]] = {"iemocap": IEMOCAP_EMOTIONS}

# The headline metric each chapter reports (see primary_metric).
_PRIMARY = {"mosei": "Non0_F1_score", "sims": "F1_score", "iemocap": "Avg_F1"}

# Class edges of the CH-SIMS bins (MMSA ``__eval_sims_regression``, metricsTop.py L127-175).
# Class i holds the values x with edges[i] < x <= edges[i + 1], compared in the values' dtype (float32).
_SIMS_EDGES_2 = (-1.01, 0.0, 1.01)
_SIMS_EDGES_3 = (-1.01, -0.1, 0.1, 1.01)
_SIMS_EDGES_5 = (-1.01, -0.7, -0.1, 0.1, 0.7, 1.01)


def metric_keys(dataset: str = "mosei", *, report_acc3: bool = False) -> tuple[str, ...]:
    """The keys :func:`evaluation_metrics` returns for ``dataset``, in order (those of
    :func:`regression_metrics`, or of :func:`classification_metrics` with the data set's default
    classes for ``"iemocap"``)."""
    name = _metric_name(dataset)
    if name in CLASSIFICATION_DATASETS:
        return classification_metric_keys(CLASSIFICATION_DATASETS[name])
    family = _metric_family(dataset)
    if family == "sims":
        return SIMS_METRIC_KEYS
    if report_acc3:
        return METRIC_KEYS[:4] + ("Mult_acc_3",) + METRIC_KEYS[4:]
    return METRIC_KEYS


# ----------------------------------------------------------------------------------------------
# regression_metrics
# ----------------------------------------------------------------------------------------------
def regression_metrics(
    pred: Any,
    true: Any,
    dataset: str = "mosei",
    *,
    digits: int | None = 4,
    f1_swapped: bool = False,
    mae_float64_cast: bool = True,
    report_acc3: bool = False,
    dtype: Any = np.float32,
) -> dict[str, Any]:
    r"""MMSA's regression metrics of predictions ``pred`` against labels ``true``.

    Both inputs are flattened to vectors :math:`p, t \in \mathbb{R}^N` and cast to float32, as
    MMSA's trainers do (``torch.cat`` of the ``[B, 1]`` outputs, then ``.view(-1)``); all the
    arithmetic below is float32 unless it says otherwise.

    **CMU-MOSI / CMU-MOSEI** (``dataset="mosi"`` or ``"mosei"``; ``__eval_mosei_regression``,
    metricsTop.py L81-121, which MOSI calls at L124-125). With :math:`\operatorname{rnd}` numpy's
    round-half-to-even (0.5 → 0, 1.5 → 2, 2.5 → 2, −0.5 → −0) and
    :math:`\operatorname{clip}_c(x) = \min(\max(x, -c), c)`:

    * ``MAE`` :math:`= \frac1N \sum_i |p_i - t_i|` on the **unclipped** values, summed and divided
      in float32 (``np.mean``), then cast to float64 (since MMSA ``64f6da6``).
    * ``Corr`` = Pearson's :math:`r(p, t)` by ``np.corrcoef(p, t)[0][1]``, unclipped, computed
      in float64.
    * ``Mult_acc_7`` :math:`= \frac1N \sum_i [\operatorname{rnd}(\operatorname{clip}_3 p_i)
      = \operatorname{rnd}(\operatorname{clip}_3 t_i)]`; ``Mult_acc_5`` the same with
      :math:`\operatorname{clip}_2`; ``Mult_acc_3`` with :math:`\operatorname{clip}_1` (computed
      by MMSA but not reported; ``report_acc3=True`` adds it). Both sides are clipped
      (``__multiclass_acc``, L71-79).
    * ``Has0_acc_2`` :math:`= \frac1N \sum_i [(p_i \ge 0) = (t_i \ge 0)]`: every sample, and a
      label of exactly 0 counts as *positive*.
    * ``Has0_F1_score`` = ``f1_score(t >= 0, p >= 0, average="weighted")``: the F1 of each class
      :math:`c \in \{\text{neg}, \text{pos}\}`, :math:`F_1^c = 2\,TP_c / (\#\{p = c\} + \#\{t = c\})`,
      averaged with weights :math:`\#\{t = c\} / N` (the support in the truth).
    * ``Non0_acc_2`` and ``Non0_F1_score``: the same on :math:`\{i : t_i \ne 0\}` (an exact float32
      comparison, so ``-0.0`` is dropped too) with the classes :math:`p_i > 0` and :math:`t_i > 0`;
      a prediction of exactly 0 is *negative* here.

    **CH-SIMS / CH-SIMSv2** (``dataset="sims"`` or ``"simsv2"``; ``__eval_sims_regression``,
    L127-175). First :math:`p \leftarrow \operatorname{clip}_1 p,\ t \leftarrow \operatorname{clip}_1 t`,
    so here MAE and Corr use the **clipped** values. Classes are half-open bins
    :math:`(e_k, e_{k+1}]`, the edges compared in float32:

    * ``Mult_acc_2``: edges (−1.01, 0, 1.01], so 0 is *negative* (unlike MOSI's Has0);
    * ``Mult_acc_3``: (−1.01, −0.1, 0.1, 1.01];
    * ``Mult_acc_5``: (−1.01, −0.7, −0.1, 0.1, 0.7, 1.01];
    * ``F1_score`` = weighted F1 of the two ``Mult_acc_2`` classes, truth first;
    * ``MAE``, ``Corr`` as above, on the clipped values.

    **Rounding and types** (MMSA HEAD). Every value goes through the built-in ``round(v, 4)``
    applied to the object MMSA has in hand, so the types are MMSA's: ``numpy.float64`` for MAE,
    Corr and the ``Mult_acc_*`` (numpy's ``__round__``: scale by :math:`10^4`, ``rint``, divide),
    a Python ``float`` for the scikit-learn accuracies and F1 scores (Python's correctly rounded
    ``round``). The two roundings differ in rare half-way cases, which is why the types matter.

    **Degenerate inputs** (MMSA's behaviour kept where it has one):

    * constant ``pred`` or ``true`` (or N = 1): ``Corr`` is NaN, as in MMSA; numpy's
      division warnings are suppressed. A model that predicts one value has no correlation.
    * every label exactly 0: MMSA crashes (it indexes with an empty float array). Here
      ``Non0_acc_2`` and ``Non0_F1_score`` are ``float("nan")`` and a :class:`RuntimeWarning`
      says why; the other metrics are unaffected.
    * a single class among the labels (e.g. all positive): scikit-learn's weighted F1 is returned
      unchanged — the absent class has weight 0, and a class never predicted scores F1 = 0
      (``zero_division`` default). Its ``UndefinedMetricWarning`` is suppressed.

    Args:
        pred: predictions; a torch tensor (detached and moved to the CPU here), numpy array or
            nested list of any shape that flattens to ``[N]`` (e.g. ``[N, 1]``).
        true: labels, same number of elements as ``pred``.
        dataset: ``"mosi"`` or ``"mosei"`` (the same metrics), ``"sims"`` or ``"simsv2"``;
            case-insensitive, as MMSA's dispatch (metricsTop.py L6-21) upper-cases the name. A
            data set's ``.metric_dataset`` attribute gives the right one; other names (e.g.
            ``"synthetic_mosei"``) are refused rather than guessed.
        digits: decimals of the built-in ``round`` (MMSA: 4); ``None`` returns unrounded values
            (MMSA's SIMS metrics before ``7ea76ad``, 2022-01-25; LNLN's ``core/metric.py``).
        f1_swapped: call ``f1_score(pred, true)``, MMSA's argument order before ``cb5e0bd``
            (2021-04-28); weighted F1 is asymmetric, so older papers' F1 differ.
        mae_float64_cast: cast MAE to float64 before rounding (MMSA since ``64f6da6``,
            2022-01-18); ``False`` leaves a ``numpy.float32`` that is rounded in float32.
        report_acc3: add MOSI/MOSEI ``Mult_acc_3`` (placed before ``Mult_acc_5``). SIMS always
            reports its ``Mult_acc_3``.
        dtype: working dtype (default float32, as in MMSA). float64 reproduces what MMSA would
            give on float64 tensors; it is not what published numbers used.

    Returns:
        A dict with the keys :data:`METRIC_KEYS` (MOSI/MOSEI) or :data:`SIMS_METRIC_KEYS`, in that
        order. Larger is better for all but :data:`LOWER_IS_BETTER` (``MAE``).

    Raises:
        ValueError: unknown ``dataset``; ``pred`` and ``true`` of different sizes; empty inputs;
            NaN or infinite values (reported with the count and the first flat index); a
            ``digits`` that is not ``None`` or a non-negative integer.
        TypeError: inputs that are not real numbers (strings, objects, complex).
    """
    family = _metric_family(dataset)
    if digits is not None and (isinstance(digits, bool) or not isinstance(digits, numbers.Integral)
                               or digits < 0):
        raise ValueError(f"regression_metrics: digits must be None or an integer >= 0, got {digits!r}")
    work_dtype = np.dtype(dtype)
    if work_dtype.kind != "f":
        raise ValueError(f"regression_metrics: dtype must be a floating dtype, got {work_dtype}")

    p = _as_vector(pred, "pred", work_dtype)
    t = _as_vector(true, "true", work_dtype)
    if p.size != t.size:
        raise ValueError(
            f"regression_metrics: pred has {p.size} values (shape {_shape(pred)}) but true has "
            f"{t.size} (shape {_shape(true)}); they must flatten to the same length N"
        )
    if p.size == 0:
        raise ValueError("regression_metrics: pred and true are empty; need at least one sample")
    _check_finite(p, "pred")
    _check_finite(t, "true")

    def rnd(value: Any) -> Any:
        return value if digits is None else round(value, digits)

    if family == "sims":
        return _sims_metrics(p, t, rnd, f1_swapped=f1_swapped, mae_float64_cast=mae_float64_cast)
    return _mosei_metrics(p, t, rnd, f1_swapped=f1_swapped, mae_float64_cast=mae_float64_cast,
                          report_acc3=report_acc3)


def _mosei_metrics(p, t, rnd, *, f1_swapped, mae_float64_cast, report_acc3) -> dict[str, Any]:
    """MMSA ``__eval_mosei_regression`` (metricsTop.py L81-121) on float vectors ``p``, ``t``."""
    mae = _mae(p, t, mae_float64_cast)
    corr = _pearson(p, t)
    acc7 = _multiclass_acc(np.clip(p, -3.0, 3.0), np.clip(t, -3.0, 3.0))
    acc5 = _multiclass_acc(np.clip(p, -2.0, 2.0), np.clip(t, -2.0, 2.0))
    acc3 = _multiclass_acc(np.clip(p, -1.0, 1.0), np.clip(t, -1.0, 1.0))

    non_zero = t != 0  # exact comparison in the working dtype; -0.0 == 0 is dropped too
    if non_zero.any():
        nz_true, nz_pred = t[non_zero] > 0, p[non_zero] > 0
        non0_acc2 = accuracy_score(nz_pred, nz_true)
        non0_f1 = _weighted_f1(nz_true, nz_pred, f1_swapped)
    else:
        warnings.warn(
            "regression_metrics: every label is exactly 0, so Non0_acc_2 and Non0_F1_score (which "
            "drop the zero labels) are undefined and returned as NaN",
            RuntimeWarning,
            stacklevel=3,
        )
        non0_acc2 = non0_f1 = float("nan")

    has0_true, has0_pred = t >= 0, p >= 0
    has0_acc2 = accuracy_score(has0_pred, has0_true)
    has0_f1 = _weighted_f1(has0_true, has0_pred, f1_swapped)

    out = {
        "Has0_acc_2": rnd(has0_acc2),
        "Has0_F1_score": rnd(has0_f1),
        "Non0_acc_2": rnd(non0_acc2),
        "Non0_F1_score": rnd(non0_f1),
    }
    if report_acc3:
        out["Mult_acc_3"] = rnd(acc3)
    out.update({"Mult_acc_5": rnd(acc5), "Mult_acc_7": rnd(acc7), "MAE": rnd(mae), "Corr": rnd(corr)})
    return out


def _sims_metrics(p, t, rnd, *, f1_swapped, mae_float64_cast) -> dict[str, Any]:
    """MMSA ``__eval_sims_regression`` (metricsTop.py L127-175) on float vectors ``p``, ``t``."""
    p = np.clip(p, -1.0, 1.0)
    t = np.clip(t, -1.0, 1.0)
    p2, t2 = _bin(p, _SIMS_EDGES_2), _bin(t, _SIMS_EDGES_2)
    p3, t3 = _bin(p, _SIMS_EDGES_3), _bin(t, _SIMS_EDGES_3)
    p5, t5 = _bin(p, _SIMS_EDGES_5), _bin(t, _SIMS_EDGES_5)
    mae = _mae(p, t, mae_float64_cast)
    corr = _pearson(p, t)
    return {
        "Mult_acc_2": rnd(_multiclass_acc(p2, t2)),
        "Mult_acc_3": rnd(_multiclass_acc(p3, t3)),
        "Mult_acc_5": rnd(_multiclass_acc(p5, t5)),
        "F1_score": rnd(_weighted_f1(t2, p2, f1_swapped)),
        "MAE": rnd(mae),
        "Corr": rnd(corr),
    }


def _bin(x: np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    """Class index k where ``edges[k] < x <= edges[k+1]``, as float values of ``x``'s dtype.

    The edges are converted to ``x``'s dtype first: this is what ``x > 0.1`` does for a float32
    ``x`` in MMSA (a Python float meets a float32 array in float32), so ``float32(0.1)`` lies in
    ``(-0.1, 0.1]``, not above it. Values outside every bin keep their value, as in MMSA (after
    clipping to [-1, 1] there are none).
    """
    e = np.asarray(edges, dtype=x.dtype)
    out = x.copy()
    for k in range(len(e) - 1):
        out[(x > e[k]) & (x <= e[k + 1])] = k
    return out


def _multiclass_acc(pred: np.ndarray, true: np.ndarray) -> np.float64:
    """MMSA ``__multiclass_acc`` (L71-79): ``sum(rint(p) == rint(t)) / float(N)``, a numpy.float64."""
    return np.sum(np.round(pred) == np.round(true)) / float(len(true))


def _mae(p: np.ndarray, t: np.ndarray, float64_cast: bool):
    """Mean absolute error, accumulated in the working dtype (np.mean), optionally cast to float64."""
    mae = np.mean(np.absolute(p - t))
    return mae.astype(np.float64) if float64_cast else mae


def _pearson(p: np.ndarray, t: np.ndarray) -> np.float64:
    """``np.corrcoef(p, t)[0][1]`` (float64); NaN, without numpy's warnings, when undefined."""
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.corrcoef(p, t)[0][1]


def _weighted_f1(true_cls: np.ndarray, pred_cls: np.ndarray, swapped: bool) -> float:
    """scikit-learn's weighted F1, truth first (or swapped); its ill-defined-class warning silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        if swapped:
            return f1_score(pred_cls, true_cls, average="weighted")
        return f1_score(true_cls, pred_cls, average="weighted")


# ----------------------------------------------------------------------------------------------
# classification (IEMOCAP) and the dispatcher
# ----------------------------------------------------------------------------------------------
def _check_classes(classes: Any) -> tuple[str, ...]:
    if isinstance(classes, str) or not isinstance(classes, Iterable):
        raise TypeError(f"classes must be a sequence of class names, got {classes!r}")
    classes = tuple(str(c) for c in classes)
    if len(classes) < 2 or len(set(classes)) != len(classes):
        raise ValueError(f"classes must be at least 2 distinct names, got {classes}")
    return classes


def classification_metric_keys(classes: Sequence[str] = IEMOCAP_EMOTIONS) -> tuple[str, ...]:
    """The keys :func:`classification_metrics` returns for ``classes``, in order:
    ``<c>_acc, <c>_F1`` per class, then ``Avg_acc, Avg_F1, Acc_<C>, Macro_F1``."""
    classes = _check_classes(classes)
    per_class = tuple(k for c in classes for k in (f"{c}_acc", f"{c}_F1"))
    return (*per_class, "Avg_acc", "Avg_F1", f"Acc_{len(classes)}", "Macro_F1")


def _class_ids(x: Any, name: str, n_classes: int, *, logits_allowed: bool) -> np.ndarray:
    """Class ids int64 [N] from class ids ([N] or [N, 1], integral values of any real dtype) or,
    when ``logits_allowed``, from scores [N, C] (argmax over the last axis, first maximum on ties)."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor, without importing torch
        x = x.detach().cpu()
        x = x.float().numpy() if x.is_floating_point() else x.numpy()
    try:
        arr = np.asarray(x)
    except ValueError as err:
        raise ValueError(f"classification_metrics: {name} is not a rectangular array of numbers ({err})") from err
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"classification_metrics: {name} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim == 2 and arr.shape[1] == n_classes and logits_allowed:
        scores = arr.astype(np.float64)
        if not np.isfinite(scores).all():
            raise ValueError(f"classification_metrics: {name} (logits [N, {n_classes}]) has non-finite values")
        return scores.argmax(axis=1).astype(np.int64)
    if not (arr.ndim == 1 or (arr.ndim == 2 and arr.shape[1] == 1)):
        want = f"class ids [N] or logits [N, {n_classes}]" if logits_allowed else "class ids [N]"
        raise ValueError(f"classification_metrics: {name} has shape {arr.shape}; expected {want}")
    values = arr.reshape(-1).astype(np.float64)
    bad = ~np.isfinite(values) | (values != np.round(values)) | (values < 0) | (values >= n_classes)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"classification_metrics: {name} has {int(bad.sum())} value(s) that are not class ids in "
            f"0..{n_classes - 1} (first at index {first}: {values[first]})"
        )
    return values.astype(np.int64)


def classification_metrics(
    logits_or_pred: Any,
    true: Any,
    classes: Sequence[str] = IEMOCAP_EMOTIONS,
    *,
    digits: int | None = 4,
) -> dict[str, float]:
    r"""IEMOCAP's metrics: per-emotion accuracy and weighted F1 (MulT), and the 4-class scores.

    MulT (``yaohungt/Multimodal-Transformer``, ``src/eval_metrics.py`` ``eval_iemocap``), which the
    CorrKD / HRLF IEMOCAP tables follow, scores each emotion e as a **binary** task "is this emotion"
    and reports ``f1_score(truth_e, pred_e, average="weighted")`` (truth first) and
    ``accuracy_score(truth_e, pred_e)``. Here the model is one C-way softmax (4 classes, one emotion
    per sample), so **emotion e is predicted present iff argmax == e** (and true iff the label is e):
    :math:`t^e_i = [y_i = e]`, :math:`p^e_i = [\hat y_i = e]`.

    Keys (:func:`classification_metric_keys`), each a Python float rounded to ``digits``:

    * ``<c>_acc``, ``<c>_F1`` per class ``c`` of ``classes`` (``Neutral_acc``, ``Neutral_F1``, ...);
    * ``Avg_acc``, ``Avg_F1``: their means over the C classes (of the unrounded values);
    * ``Acc_<C>`` (``Acc_4``): the C-class accuracy :math:`\frac1N\sum_i[\hat y_i = y_i]`;
    * ``Macro_F1``: ``f1_score(y, ŷ, average="macro")`` over the classes present in the truth or
      the predictions (scikit-learn's default).

    A class absent from the truth has a constant binary truth, so its weighted F1 is the F1 of "not c"
    alone (1.0 when c is never predicted either); scikit-learn's ill-defined-class warning is silenced,
    as in :func:`regression_metrics`.

    Args:
        logits_or_pred: scores [N, C] (argmax taken, first maximum on ties) or predicted class ids
            [N] / [N, 1] (integral values of any real dtype, e.g. ``pred`` of a classification
            :class:`~msa_lib.models.CorrKDNet`); torch tensors, numpy arrays or lists.
        true: true class ids [N] (e.g. ``split.labels``, float32 class indices).
        classes: the class names, in class-id order (default :data:`IEMOCAP_EMOTIONS`).
        digits: decimals of the built-in ``round``; ``None`` = unrounded.

    Raises:
        ValueError: sizes differ, empty inputs, values that are not class ids, wrong shapes,
            non-finite logits, fewer than 2 classes.
    """
    classes = _check_classes(classes)
    if digits is not None and (isinstance(digits, bool) or not isinstance(digits, numbers.Integral)
                               or digits < 0):
        raise ValueError(f"classification_metrics: digits must be None or an integer >= 0, got {digits!r}")
    n_classes = len(classes)
    p = _class_ids(logits_or_pred, "logits_or_pred", n_classes, logits_allowed=True)
    t = _class_ids(true, "true", n_classes, logits_allowed=False)
    if p.size != t.size:
        raise ValueError(
            f"classification_metrics: {p.size} predictions but {t.size} labels; they must describe the same N samples"
        )
    if p.size == 0:
        raise ValueError("classification_metrics: no samples")

    def rnd(v: float) -> float:
        return float(v) if digits is None else round(float(v), digits)

    out: dict[str, float] = {}
    accs, f1s = [], []
    for k, c in enumerate(classes):
        t_k, p_k = (t == k).astype(np.int64), (p == k).astype(np.int64)
        accs.append(float(accuracy_score(t_k, p_k)))
        f1s.append(float(_weighted_f1(t_k, p_k, False)))
        out[f"{c}_acc"], out[f"{c}_F1"] = rnd(accs[-1]), rnd(f1s[-1])
    out["Avg_acc"] = rnd(np.mean(accs))
    out["Avg_F1"] = rnd(np.mean(f1s))
    out[f"Acc_{n_classes}"] = rnd(accuracy_score(t, p))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        out["Macro_F1"] = rnd(f1_score(t, p, average="macro"))
    return out


def is_classification(dataset: Any) -> bool:
    """Whether ``dataset`` (a metric-data-set name or a data set) is scored by :func:`classification_metrics`."""
    return _metric_name(dataset) in CLASSIFICATION_DATASETS


def evaluation_metrics(
    pred: Any,
    true: Any,
    dataset: Any = "mosei",
    *,
    classes: Sequence[str] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """The metric dict of any data set: :func:`regression_metrics` for ``"mosi"`` / ``"mosei"`` /
    ``"sims"`` / ``"simsv2"``, :func:`classification_metrics` for ``"iemocap"``.

    Args:
        pred, true: predictions (scores [N]; class ids [N] or logits [N, C] for classification) and labels.
        dataset: a metric-data-set name, or a data set (an :class:`~msa_lib.data.MSADataset`): its
            ``.metric_dataset`` decides, and its ``.classes`` are the class names unless ``classes`` is given.
        classes: class names of a classification data set (default: the data set's, else
            :data:`CLASSIFICATION_DATASETS`).
        **kwargs: passed to the metric function (e.g. ``digits=``, ``f1_swapped=`` for regression).
    """
    name = _metric_name(dataset)
    if name in CLASSIFICATION_DATASETS:
        if classes is None:
            classes = getattr(dataset, "classes", None) if not isinstance(dataset, str) else None
        return classification_metrics(pred, true, classes or CLASSIFICATION_DATASETS[name], **kwargs)
    if classes:
        raise ValueError(f"evaluation_metrics: {name!r} is a regression data set; classes={classes!r} makes no sense")
    return regression_metrics(pred, true, name, **kwargs)


def primary_metric(dataset: Any) -> str:
    """The headline metric a chapter reports for ``dataset`` (a name or a data set; higher is better):
    ``"Non0_F1_score"`` for MOSI / MOSEI (CorrKD's "F1 of positive / negative", zeros dropped),
    ``"F1_score"`` for CH-SIMS(v2) and ``"Avg_F1"`` (mean per-emotion weighted F1) for IEMOCAP."""
    name = _metric_name(dataset)
    if name in CLASSIFICATION_DATASETS:
        return _PRIMARY["iemocap"] if name == "iemocap" else "Avg_F1"
    return _PRIMARY[_metric_family(name)]


def lower_is_better(metric: str) -> bool:
    """True for metrics where smaller is better (:data:`LOWER_IS_BETTER`: ``MAE``; also any ``*loss``);
    a ``valid_`` prefix (a :func:`~msa_lib.training.fit` history key) is ignored."""
    base = metric[len("valid_"):] if metric.startswith("valid_") else metric
    return base in LOWER_IS_BETTER or base.lower().endswith("loss")


# ----------------------------------------------------------------------------------------------
# input handling
# ----------------------------------------------------------------------------------------------
def _metric_name(dataset: Any) -> str:
    """The lower-cased metric-data-set name of a string or of a data set (its ``.metric_dataset``)."""
    if not isinstance(dataset, str):
        dataset = getattr(dataset, "metric_dataset", dataset)
    if not isinstance(dataset, str):
        raise TypeError(
            f"dataset must be a string (e.g. 'mosei', 'sims', 'iemocap') or a data set with .metric_dataset, "
            f"got {type(dataset).__name__}"
        )
    return dataset.lower()


def _metric_family(dataset: str) -> str:
    if not isinstance(dataset, str):
        raise TypeError(f"regression_metrics: dataset must be a string, got {type(dataset).__name__}")
    family = DATASETS.get(dataset.lower())
    if family is None and dataset.lower() in CLASSIFICATION_DATASETS:
        raise ValueError(
            f"regression_metrics: {dataset!r} is a classification data set (emotion classes, not sentiment "
            "scores); use classification_metrics, or evaluation_metrics, which dispatches on the data set"
        )
    if family is None:
        raise ValueError(
            f"regression_metrics: unknown dataset {dataset!r}; expected one of "
            f"{', '.join(repr(d) for d in DATASETS)} (case-insensitive). Labels in [-3, 3] use "
            "'mosei', labels in [-1, 1] use 'sims'; a data set's .metric_dataset gives the right one."
        )
    return family


def _shape(x: Any) -> tuple[int, ...]:
    shape = getattr(x, "shape", None)
    return tuple(shape) if shape is not None else np.shape(x)


def _as_vector(x: Any, name: str, dtype: np.dtype) -> np.ndarray:
    """``x`` (tensor, array, list) as a flat array of ``dtype``."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor, without importing torch
        x = x.detach().cpu()
        try:
            x = x.numpy()
        except TypeError:  # bfloat16 and friends have no numpy dtype; float64 holds them exactly
            x = x.double().numpy()
    try:
        arr = np.asarray(x)
    except ValueError as err:  # ragged nested lists
        raise ValueError(f"regression_metrics: {name} is not a rectangular array of numbers ({err})") from err
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"regression_metrics: {name} must hold real numbers, got dtype {arr.dtype} "
            f"(e.g. {arr.reshape(-1)[:1].tolist()})"
        )
    return arr.astype(dtype, copy=False).reshape(-1)


def _check_finite(x: np.ndarray, name: str) -> None:
    bad = ~np.isfinite(x)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        n_nan = int(np.isnan(x).sum())
        n_inf = int(bad.sum()) - n_nan
        raise ValueError(
            f"regression_metrics: {name} has {n_nan} NaN and {n_inf} infinite value(s) of {x.size} "
            f"(first at flat index {first}: {x[first]}); metrics need finite numbers — check the "
            "model's outputs (a diverged loss?) or the labels"
        )


# ----------------------------------------------------------------------------------------------
# aggregation over seeds and table formatting
# ----------------------------------------------------------------------------------------------
def aggregate_seeds(metric_dicts: Iterable[Mapping[str, Any]]) -> dict[str, tuple[float, float]]:
    r"""Mean and **population** standard deviation of each metric over runs (seeds).

    For values :math:`v_1, \dots, v_S`: :math:`\bar v = \frac1S \sum_s v_s` and
    :math:`\sigma = \sqrt{\frac1S \sum_s (v_s - \bar v)^2}` (``np.mean``, ``np.std`` with
    ``ddof=0``), the convention of MMSA ``run.py`` L224-240, which then writes
    ``(round(mean * 100, 2), round(std * 100, 2))`` — use ``format_mean_std(m, s, scale=100,
    digits=2)`` for the same cells. Note the population std is smaller than the sample std
    (``ddof=1``) by :math:`\sqrt{(S-1)/S}`, e.g. by 11 % for five seeds.

    Args:
        metric_dicts: one dict per run, all with the same keys (e.g. :func:`regression_metrics`
            outputs). NaN values propagate to that key's mean and std.

    Returns:
        ``{key: (mean, std)}`` as Python floats, keys in the first dict's order.

    Raises:
        ValueError: no dicts, or dicts with different keys (the first difference is named).
        TypeError: a value that is not a real number.
    """
    dicts = list(metric_dicts)
    if not dicts:
        raise ValueError("aggregate_seeds: got no metric dicts; need at least one run")
    keys = list(dicts[0])
    for i, d in enumerate(dicts[1:], start=1):
        if set(d) != set(keys):
            missing = [k for k in keys if k not in d]
            extra = [k for k in d if k not in keys]
            raise ValueError(
                f"aggregate_seeds: metric dict {i} has different keys from dict 0 "
                f"(missing {missing}, extra {extra}); aggregate runs of one data set and settings"
            )
    out: dict[str, tuple[float, float]] = {}
    for k in keys:
        values = [d[k] for d in dicts]
        for i, v in enumerate(values):
            if isinstance(v, bool) or not isinstance(v, (numbers.Real, np.floating, np.integer)):
                raise TypeError(f"aggregate_seeds: metric {k!r} of dict {i} is not a real number: {v!r}")
        arr = np.asarray(values, dtype=np.float64)
        out[k] = (float(np.mean(arr)), float(np.std(arr)))
    return out


def format_mean_std(mean: float, std: float, scale: float = 1.0, digits: int = 4, sep: str = " ± ") -> str:
    r"""``"mean ± std"`` for a table, both scaled by ``scale`` and shown with ``digits`` decimals.

    Each number is rounded as MMSA ``run.py`` rounds its CSV cells, ``round(np.float64(v * scale),
    digits)`` (numpy: scale by :math:`10^{d}`, round half to even, divide), then printed with
    exactly ``digits`` decimals. ``format_mean_std(m, s, scale=100, digits=2)`` gives MMSA's
    percentages (MAE and Corr included, as MMSA writes them: MAE 0.708 → ``"70.80"``).

    >>> format_mean_std(0.708, 0.0123, scale=100, digits=2)
    '70.80 ± 1.23'
    """
    if isinstance(digits, bool) or not isinstance(digits, numbers.Integral) or digits < 0:
        raise ValueError(f"format_mean_std: digits must be an integer >= 0, got {digits!r}")
    parts = []
    for name, v in (("mean", mean), ("std", std)):
        if isinstance(v, bool) or not isinstance(v, (numbers.Real, np.floating, np.integer)):
            raise TypeError(f"format_mean_std: {name} must be a real number, got {v!r}")
        value = np.float64(v) * scale
        shown = round(value, digits) if math.isfinite(value) else value
        parts.append(f"{float(shown):.{digits}f}")
    return sep.join(parts)
