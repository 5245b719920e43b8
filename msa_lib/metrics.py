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
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import accuracy_score, f1_score

__all__ = [
    "METRIC_KEYS",
    "SIMS_METRIC_KEYS",
    "LOWER_IS_BETTER",
    "DATASETS",
    "metric_keys",
    "regression_metrics",
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

#: Accepted ``dataset`` names (case-insensitive) and the metric family each one uses.
DATASETS: dict[str, str] = {"mosi": "mosei", "mosei": "mosei", "sims": "sims", "simsv2": "sims"}

# Class edges of the CH-SIMS bins (MMSA ``__eval_sims_regression``, metricsTop.py L127-175).
# Class i holds the values x with edges[i] < x <= edges[i + 1], compared in the values' dtype (float32).
_SIMS_EDGES_2 = (-1.01, 0.0, 1.01)
_SIMS_EDGES_3 = (-1.01, -0.1, 0.1, 1.01)
_SIMS_EDGES_5 = (-1.01, -0.7, -0.1, 0.1, 0.7, 1.01)


def metric_keys(dataset: str = "mosei", *, report_acc3: bool = False) -> tuple[str, ...]:
    """The keys :func:`regression_metrics` returns for ``dataset``, in order."""
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
# input handling
# ----------------------------------------------------------------------------------------------
def _metric_family(dataset: str) -> str:
    if not isinstance(dataset, str):
        raise TypeError(f"regression_metrics: dataset must be a string, got {type(dataset).__name__}")
    family = DATASETS.get(dataset.lower())
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
