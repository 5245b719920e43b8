r"""Is a difference between two methods real? One helper for every chapter: :func:`compare`.

Two sources of chance move a test score: the **seed** (the weights' initialisation, the training order and the
random masks of a training run) and the **test set** (a thousand utterances are a sample of the utterances
the method will meet). The helper accounts for both, and pairs wherever the design pairs:

* **Paired over seeds.** In this project's experiments a seed fixes, for every method alike, the initial
  weights' generator, the order of the training batches and the random missingness drawn in training and
  in the test conditions; the data themselves do not change with the seed. Method A's seed-3 run is
  therefore compared with method B's seed-3 run: :math:`d_s = M(A_s) - M(B_s)`. Whether pairing helps is
  an empirical question; :class:`Comparison` reports both the paired standard error
  :math:`\mathrm{sd}(d)/\sqrt{n}` and the unpaired one :math:`\sqrt{(s_A^2 + s_B^2)/n}` so a reader can see it.
* **Paired bootstrap over test utterances** (when the per-utterance predictions are available, as in every
  results file that has a ``predictions`` entry). Each of ``n_boot`` replicates draws the seeds with
  replacement *and* one set of test utterances with replacement, the same utterances for both methods and
  every drawn seed, and computes :math:`\bar d^{*} = \frac1n\sum_{s\in S^*} [M(A_s[U^*]) - M(B_s[U^*])]`.
  The interval is the percentile interval of :math:`\bar d^{*}` (a hierarchical bootstrap: seeds, then
  utterances).
* Without predictions: the Student-*t* interval of the paired differences over seeds (``n - 1`` degrees of
  freedom).

The **verdict** reads the interval at ``level`` (95 %): entirely on the better side of 0 → ``"better"``,
entirely on the worse side → ``"worse"``, else ``"not distinguishable at n seeds"``. "Better" follows the metric
(:func:`msa_lib.metrics.lower_is_better`: a lower MAE is better, a higher F1 is better). A seed whose metric is
NaN makes the comparison undefined (``"not comparable"``), with the seed named; it is never dropped. Spreads
are sample standard deviations (``ddof=1``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from .metrics import evaluation_metrics, lower_is_better


# ------------------------------------------------------------------------------------- batched metrics
def _weighted_binary_f1(true: np.ndarray, pred: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """scikit-learn's ``f1_score(true, pred, average="weighted")`` for boolean classes, per row.

    ``weight`` [B, N] counts how often each utterance was drawn (0 = absent). Each class's F1 is weighted by
    its support among the true labels; a class with no true and no predicted members has F1 0 (scikit-learn's
    zero-division value) and weight 0.
    """
    out = np.zeros(true.shape[0])
    total = weight.sum(axis=1)
    for positive in (True, False):
        t = true == positive
        p = pred == positive
        tp = (weight * (t & p)).sum(axis=1)
        fp = (weight * (~t & p)).sum(axis=1)
        fn = (weight * (t & ~p)).sum(axis=1)
        denom = 2 * tp + fp + fn
        f1 = np.divide(2 * tp, denom, out=np.zeros_like(denom, dtype=float), where=denom > 0)
        out += f1 * (tp + fn) / np.maximum(total, 1)
    return out


def batched_metric(metric: str, pred: np.ndarray, true: np.ndarray, dataset: Any = "mosei") -> np.ndarray:
    """``metric`` of each row of ``pred`` / ``true`` [B, N] (unrounded), as :func:`msa_lib.metrics.evaluation_metrics`
    would compute it on that row; vectorised for MMSA's MOSI/MOSEI keys, a loop for anything else."""
    pred = np.asarray(pred, np.float64)
    true = np.asarray(true, np.float64)
    if pred.ndim != 2 or pred.shape != true.shape:
        raise ValueError(f"batched_metric: pred and true must both be [B, N], got {pred.shape} and {true.shape}")
    family = str(getattr(dataset, "metric_dataset", dataset)).lower()
    if family in ("mosi", "mosei"):
        if metric == "MAE":
            return np.abs(pred - true).mean(axis=1)
        if metric == "Corr":
            pc = pred - pred.mean(axis=1, keepdims=True)
            tc = true - true.mean(axis=1, keepdims=True)
            return (pc * tc).sum(axis=1) / np.sqrt((pc ** 2).sum(axis=1) * (tc ** 2).sum(axis=1))
        if metric in ("Mult_acc_7", "Mult_acc_5", "Mult_acc_3"):
            c = {"Mult_acc_7": 3.0, "Mult_acc_5": 2.0, "Mult_acc_3": 1.0}[metric]
            return (np.round(np.clip(pred, -c, c)) == np.round(np.clip(true, -c, c))).mean(axis=1)
        ones = np.ones_like(true)
        if metric in ("Has0_acc_2", "Has0_F1_score"):
            t, p = true >= 0, pred >= 0
            if metric == "Has0_acc_2":
                return (t == p).mean(axis=1)
            return _weighted_binary_f1(t, p, ones)
        if metric in ("Non0_acc_2", "Non0_F1_score"):
            keep = (true != 0).astype(float)
            t, p = true > 0, pred > 0
            n = keep.sum(axis=1)
            if metric == "Non0_acc_2":
                return np.where(n > 0, (keep * (t == p)).sum(axis=1) / np.maximum(n, 1), np.nan)
            return np.where(n > 0, _weighted_binary_f1(t, p, keep), np.nan)
    return np.array([float(evaluation_metrics(p, t, dataset, digits=None)[metric]) for p, t in zip(pred, true)])


def averaged_rows(rows: Sequence[Mapping[str, Any]], conditions: Sequence[str], name: str = "Avg") -> list[dict]:
    """Rows of a derived condition ``name``: per (method, seed), each metric's mean over ``conditions`` (CorrKD's
    "Avg." over the six missing conditions). A (method, seed) lacking one of the conditions gets no row (its
    average is undefined); a NaN metric makes its average NaN. Feed the result to :func:`compare`."""
    groups: dict[tuple[str, int], dict[str, Mapping]] = {}
    for r in rows:
        if r["condition"] in conditions:
            groups.setdefault((r["method"], int(r["seed"])), {})[r["condition"]] = r["metrics"]
    out = []
    for (method, seed), by_condition in groups.items():
        if set(by_condition) != set(conditions):
            continue
        keys = set.intersection(*(set(m) for m in by_condition.values()))
        metrics = {k: float(np.mean([float(by_condition[c][k]) for c in conditions])) for k in sorted(keys)}
        out.append({"method": method, "condition": name, "seed": seed, "metrics": metrics})
    return out


# ------------------------------------------------------------------------------------------ comparison
@dataclass
class Comparison:
    """The outcome of :func:`compare` (all differences are A − B, in the metric's units).

    Attributes:
        a, b, metric, condition: what was compared.
        seeds: the seeds both methods were run with (paired).
        per_seed: ``{seed: M(A_seed) - M(B_seed)}``.
        mean_difference: the mean of ``per_seed``.
        sd_difference: their sample std (ddof=1; NaN for one seed).
        paired_se, unpaired_se: the standard error of the mean difference with and without pairing by seed.
        ci: the ``level`` confidence interval of the mean difference.
        ci_method: how ``ci`` was computed.
        verdict: ``"better"``, ``"worse"``, ``"not distinguishable at n seeds"`` or ``"not comparable"``
            (A relative to B, in the metric's direction).
        nan_seeds: seeds where either method's metric is NaN.
    """

    a: str
    b: str
    metric: str
    condition: str
    seeds: list[int]
    per_seed: dict[int, float]
    mean_difference: float
    sd_difference: float
    paired_se: float
    unpaired_se: float
    ci: tuple[float, float]
    ci_method: str
    level: float
    lower_is_better: bool
    verdict: str
    nan_seeds: list[int] = field(default_factory=list)

    def sentence(self, labels: Mapping[str, str] | None = None, digits: int = 4, scale: float = 1.0) -> str:
        """One plain sentence, e.g. ``"SDUMC vs teacher, MAE under text_missing: −0.0868 (95 % CI −0.110 to
        −0.061; paired bootstrap over 5 seeds and 1000 test utterances): better."``"""
        la = (labels or {}).get(self.a, self.a)
        lb = (labels or {}).get(self.b, self.b)
        if self.verdict == "not comparable":
            return (f"{la} vs {lb}, {self.metric} under {self.condition}: not comparable "
                    f"(NaN on seed(s) {self.nan_seeds}).")
        lo, hi = (v * scale for v in self.ci)
        return (f"{la} vs {lb}, {self.metric} under {self.condition}: {self.mean_difference * scale:+.{digits}f} "
                f"({int(round(self.level * 100))} % CI {lo:+.{digits}f} to {hi:+.{digits}f}; {self.ci_method}): "
                f"{self.verdict}.")


def _verdict(ci: tuple[float, float], lower_better: bool, n: int) -> str:
    lo, hi = ci
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return f"not distinguishable at {n} seed{'s' if n != 1 else ''}"
    if hi < 0:
        return "better" if lower_better else "worse"
    if lo > 0:
        return "worse" if lower_better else "better"
    return f"not distinguishable at {n} seed{'s' if n != 1 else ''}"


def _metric_by_seed(rows: Sequence[Mapping], method: str, condition: str, metric: str) -> dict[int, float]:
    out = {}
    for r in rows:
        if r["method"] == method and r["condition"] == condition:
            if metric not in r["metrics"]:
                raise KeyError(f"compare: rows of {method!r} / {condition!r} have no metric {metric!r}; "
                               f"have {sorted(r['metrics'])}")
            out[int(r["seed"])] = float(r["metrics"][metric])
    if not out:
        have = sorted({(r["method"], r["condition"]) for r in rows})
        raise KeyError(f"compare: no rows for method {method!r} under {condition!r}; have {have}")
    return out


def compare(
    rows: Sequence[Mapping[str, Any]],
    a: str,
    b: str,
    *,
    metric: str,
    condition: str,
    predictions: Mapping[str, np.ndarray] | None = None,
    dataset: Any = "mosei",
    level: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> Comparison:
    """Compare method ``a`` with method ``b`` on ``metric`` under ``condition`` (module docstring).

    Args:
        rows: results rows (:func:`~msa_lib.training.result_row`), e.g. ``load_results("corrkd")["rows"]``.
        a, b: the two methods; the difference is ``a - b``.
        metric, condition: e.g. ``"MAE"``, ``"text_missing"``.
        predictions: per-utterance test predictions, ``{"<method>|<condition>|<seed>": [N]}`` plus
            ``"label"`` [N] (:func:`~msa_lib.training.load_predictions`); enables the paired bootstrap over
            utterances. Without it: a paired *t* interval over seeds.
        dataset: the metric family (``"mosei"``, ``"sims"``, a data set...), for recomputing the metric.
        level: the interval's confidence level.
        n_boot: bootstrap replicates.
        seed: the bootstrap's random seed (the same seed gives the same interval).
    """
    if not 0 < level < 1:
        raise ValueError(f"compare: level must be in (0, 1), got {level}")
    va = _metric_by_seed(rows, a, condition, metric)
    vb = _metric_by_seed(rows, b, condition, metric)
    seeds = sorted(set(va) & set(vb))
    if not seeds:
        raise ValueError(f"compare: {a!r} (seeds {sorted(va)}) and {b!r} (seeds {sorted(vb)}) share no seed")
    lower_better = lower_is_better(metric)
    nan_seeds = [s for s in seeds if math.isnan(va[s]) or math.isnan(vb[s])]
    per_seed = {s: va[s] - vb[s] for s in seeds}
    n = len(seeds)
    d = np.array([per_seed[s] for s in seeds])
    mean = float(d.mean())
    sd = float(d.std(ddof=1)) if n > 1 else math.nan
    paired_se = sd / math.sqrt(n) if n > 1 else math.nan
    unpaired_se = (math.sqrt((np.var([va[s] for s in seeds], ddof=1) + np.var([vb[s] for s in seeds], ddof=1)) / n)
                   if n > 1 else math.nan)
    if nan_seeds:
        return Comparison(a, b, metric, condition, seeds, per_seed, mean, sd, paired_se, unpaired_se,
                          (math.nan, math.nan), "undefined", level, lower_better, "not comparable", nan_seeds)

    alpha = 1 - level
    keys = [f"{m}|{condition}|{s}" for m in (a, b) for s in seeds]
    if predictions is not None and all(k in predictions for k in keys) and "label" in predictions:
        true = np.asarray(predictions["label"], np.float64)
        n_utt = true.shape[0]
        rng = np.random.default_rng(seed)
        utt = rng.integers(0, n_utt, size=(n_boot, n_utt))
        true_b = true[utt]
        diff = np.empty((n, n_boot))
        for i, s in enumerate(seeds):
            pa = np.asarray(predictions[f"{a}|{condition}|{s}"], np.float64)[utt]
            pb = np.asarray(predictions[f"{b}|{condition}|{s}"], np.float64)[utt]
            diff[i] = batched_metric(metric, pa, true_b, dataset) - batched_metric(metric, pb, true_b, dataset)
        pick = rng.integers(0, n, size=(n_boot, n))
        boot = diff[pick, np.arange(n_boot)[:, None]].mean(axis=1)
        boot = boot[np.isfinite(boot)]
        ci = (float(np.quantile(boot, alpha / 2)), float(np.quantile(boot, 1 - alpha / 2)))
        how = (f"paired bootstrap over {n} seed{'s' if n != 1 else ''} and {n_utt} test utterances, "
               f"{n_boot} replicates")
    elif n > 1:
        from scipy.stats import t as student_t

        half = float(student_t.ppf(1 - alpha / 2, n - 1)) * paired_se
        ci = (mean - half, mean + half)
        how = f"paired t over {n} seeds"
    else:
        ci = (math.nan, math.nan)
        how = "one seed and no predictions: no interval"
    return Comparison(a, b, metric, condition, seeds, per_seed, mean, sd, paired_se, unpaired_se, ci, how, level,
                      lower_better, _verdict(ci, lower_better, n))


def compare_many(
    rows: Sequence[Mapping[str, Any]],
    pairs: Sequence[tuple[str, str, str]],
    *,
    metric: str,
    predictions: Mapping[str, np.ndarray] | None = None,
    dataset: Any = "mosei",
    level: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> list[Comparison]:
    """:func:`compare` for each ``(a, b, condition)`` in ``pairs`` whose two methods have rows under that
    condition (a pair with a method the rows lack is left out, not an error: a chapter run with fewer methods
    still runs). The same ``seed`` for every pair, so the same rows give the same intervals."""
    have = {(r["method"], r["condition"]) for r in rows}
    return [compare(rows, a, b, metric=metric, condition=c, predictions=predictions, dataset=dataset, level=level,
                    n_boot=n_boot, seed=seed)
            for a, b, c in pairs if (a, c) in have and (b, c) in have]


def comparison_frame(comparisons: Sequence[Comparison], scale: float = 1.0, digits: int = 4):
    """A pandas table of comparisons, one row each: the mean difference A − B, its interval, the paired and the
    unpaired standard error over seeds (their ratio shows what pairing by seed buys) and the verdict."""
    import pandas as pd

    def r(x):
        return round(x * scale, digits) if math.isfinite(x) else math.nan

    return pd.DataFrame([{
        "A": c.a, "B": c.b, "condition": c.condition, "metric": c.metric, "seeds": len(c.seeds),
        "A - B": r(c.mean_difference), "CI low": r(c.ci[0]), "CI high": r(c.ci[1]),
        "paired SE": r(c.paired_se), "unpaired SE": r(c.unpaired_se), "verdict": c.verdict,
    } for c in comparisons])


def verdict_markdown(comparisons: Sequence[Comparison], labels: Mapping[str, str] | None = None,
                     digits: int = 4, scale: float = 1.0) -> str:
    """The comparisons as a Markdown bullet list of :meth:`Comparison.sentence` (for ``IPython.display.Markdown``:
    the chapters' findings are these computed sentences, never numbers typed into prose)."""
    return "\n".join(f"- {c.sentence(labels, digits=digits, scale=scale)}" for c in comparisons)


__all__ = ["batched_metric", "averaged_rows", "Comparison", "compare", "compare_many", "comparison_frame",
           "verdict_markdown"]
