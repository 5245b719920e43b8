"""msa_lib.stats: batched metrics equal MMSA's on every resample, and compare's verdicts follow the evidence."""

from __future__ import annotations

import math

import numpy as np
import pytest

from msa_lib.metrics import regression_metrics
from msa_lib.stats import batched_metric, compare
from msa_lib.training import result_row

KEYS = ("MAE", "Corr", "Mult_acc_7", "Mult_acc_5", "Has0_acc_2", "Has0_F1_score", "Non0_acc_2", "Non0_F1_score")


def _labels(rng, n):
    return np.round(rng.uniform(-3, 3, n) * 3) / 3  # steps of 1/3 with exact zeros, as MOSEI


@pytest.mark.parametrize("metric", KEYS)
def test_batched_metric_equals_regression_metrics_on_resamples(metric):
    rng = np.random.default_rng(1)
    true = _labels(rng, 300).astype(np.float32)
    pred = (true + rng.normal(0, 1.0, 300)).astype(np.float32)
    idx = rng.integers(0, 300, size=(20, 300))
    got = batched_metric(metric, pred[idx], true[idx])
    want = [regression_metrics(pred[i], true[i], digits=None)[metric] for i in idx]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)  # MMSA sums MAE in float32


def test_batched_metric_checks_shapes():
    with pytest.raises(ValueError, match=r"\[B, N\]"):
        batched_metric("MAE", np.zeros(5), np.zeros(5))


def _rows_and_preds(shift, noise_sd, seeds=(0, 1, 2, 3, 4), n=400, seed=0, condition="text_missing"):
    """Method a = b + shift (a lower MAE when shift < 0) with per-seed noise."""
    rng = np.random.default_rng(seed)
    true = _labels(rng, n).astype(np.float32)
    rows, preds = [], {"label": true}
    for s in seeds:
        base = true + rng.normal(0, 0.8, n)
        pb = base + rng.normal(0, noise_sd, n)
        pa = true + (base - true) * (1 + shift) + rng.normal(0, noise_sd, n)
        for m, p in (("a", pa), ("b", pb)):
            p = p.astype(np.float32)
            preds[f"{m}|{condition}|{s}"] = p
            rows.append(result_row(m, condition, s, regression_metrics(p, true, digits=None)))
    return rows, preds


def test_a_clear_improvement_is_better_and_its_reverse_worse():
    rows, preds = _rows_and_preds(shift=-0.3, noise_sd=0.05)
    c = compare(rows, "a", "b", metric="MAE", condition="text_missing", predictions=preds, n_boot=500)
    assert c.verdict == "better" and c.ci[1] < 0 and c.mean_difference < 0
    assert "paired bootstrap over 5 seeds and 400 test utterances" in c.ci_method
    assert compare(rows, "b", "a", metric="MAE", condition="text_missing", predictions=preds,
                   n_boot=500).verdict == "worse"
    # Corr: higher is better, so the same improvement reads "better" with a positive difference
    c = compare(rows, "a", "b", metric="Corr", condition="text_missing", predictions=preds, n_boot=500)
    assert c.verdict == "better" and c.mean_difference > 0 and c.ci[0] > 0


def test_no_difference_is_not_distinguishable_and_the_interval_covers_zero():
    rows, preds = _rows_and_preds(shift=0.0, noise_sd=0.3)
    c = compare(rows, "a", "b", metric="MAE", condition="text_missing", predictions=preds, n_boot=500)
    assert c.ci[0] < 0 < c.ci[1]
    assert c.verdict == "not distinguishable at 5 seeds"
    assert c.sentence({"a": "A", "b": "B"}).startswith("A vs B, MAE under text_missing: ")


def test_same_seed_same_interval_and_t_interval_without_predictions():
    rows, preds = _rows_and_preds(shift=-0.1, noise_sd=0.2)
    c1 = compare(rows, "a", "b", metric="MAE", condition="text_missing", predictions=preds, n_boot=300, seed=4)
    c2 = compare(rows, "a", "b", metric="MAE", condition="text_missing", predictions=preds, n_boot=300, seed=4)
    assert c1.ci == c2.ci
    c = compare(rows, "a", "b", metric="MAE", condition="text_missing")
    d = np.array(list(c.per_seed.values()))
    from scipy.stats import t

    half = t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    assert c.ci == pytest.approx((d.mean() - half, d.mean() + half))
    assert c.ci_method == "paired t over 5 seeds"
    assert c.sd_difference == pytest.approx(d.std(ddof=1))


def test_pairing_by_seed_narrows_the_error_when_seeds_share_difficulty():
    # a seed that is hard for b is hard for a: the paired error is far below the unpaired one
    rows = []
    for s, hard in enumerate([0.0, 0.3, -0.2, 0.5, 0.1]):
        rows += [result_row("a", "c", s, {"MAE": 0.6 + hard - 0.02}), result_row("b", "c", s, {"MAE": 0.6 + hard})]
    c = compare(rows, "a", "b", metric="MAE", condition="c")
    assert c.paired_se < c.unpaired_se / 10
    assert c.verdict == "better"


def test_a_nan_seed_is_flagged_never_dropped():
    rows = [result_row("a", "c", s, {"MAE": v}) for s, v in enumerate([0.5, float("nan"), 0.4])]
    rows += [result_row("b", "c", s, {"MAE": 0.9}) for s in range(3)]
    c = compare(rows, "a", "b", metric="MAE", condition="c")
    assert c.verdict == "not comparable" and c.nan_seeds == [1]
    assert "NaN on seed(s) [1]" in c.sentence()


def test_unknown_rows_and_disjoint_seeds_are_named():
    rows = [result_row("a", "c", 0, {"MAE": 0.5}), result_row("b", "c", 1, {"MAE": 0.5})]
    with pytest.raises(ValueError, match="share no seed"):
        compare(rows, "a", "b", metric="MAE", condition="c")
    with pytest.raises(KeyError, match="no rows for method 'z'"):
        compare(rows, "a", "z", metric="MAE", condition="c")
    with pytest.raises(KeyError, match="no metric 'Corr'"):
        compare(rows, "a", "b", metric="Corr", condition="c")


def test_averaged_rows_are_the_mean_over_conditions_and_keep_nan():
    from msa_lib.stats import averaged_rows

    rows = [result_row("a", c, 0, {"F1": v}) for c, v in (("x", 0.2), ("y", 0.4), ("z", 0.9))]
    rows += [result_row("a", "x", 1, {"F1": float("nan")}), result_row("a", "y", 1, {"F1": 0.5})]
    rows += [result_row("a", "x", 2, {"F1": 0.5})]  # seed 2 lacks y: no average
    got = {r["seed"]: r for r in averaged_rows(rows, ("x", "y"))}
    assert set(got) == {0, 1} and got[0]["condition"] == "Avg"
    assert got[0]["metrics"]["F1"] == pytest.approx(0.3) and math.isnan(got[1]["metrics"]["F1"])


def test_compare_many_skips_absent_pairs_and_its_table_and_sentences_match_compare():
    from msa_lib.stats import compare_many, comparison_frame, verdict_markdown

    rows, preds = _rows_and_preds(shift=-0.3, noise_sd=0.05)
    got = compare_many(rows, [("a", "b", "text_missing"), ("a", "nobody", "text_missing"), ("a", "b", "complete")],
                       metric="MAE", predictions=preds, n_boot=300)
    assert len(got) == 1  # the pair with an absent method and the absent condition are left out
    one = compare(rows, "a", "b", metric="MAE", condition="text_missing", predictions=preds, n_boot=300)
    assert got[0].ci == one.ci and got[0].verdict == one.verdict == "better"
    frame = comparison_frame(got, scale=100, digits=2)
    assert list(frame["verdict"]) == ["better"]
    assert frame.loc[0, "A - B"] == round(one.mean_difference * 100, 2)
    assert frame.loc[0, "paired SE"] == round(one.paired_se * 100, 2)
    text = verdict_markdown(got, labels={"a": "Method A"})
    assert text.startswith("- Method A vs b, MAE under text_missing: ") and text.endswith("better.")
