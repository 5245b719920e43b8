"""msa_lib.metrics: MMSA's regression metrics to the last digit, worked by hand and checked for parity.

The hand-worked cases spell out, in comments, how each expected literal follows from the
definitions in shared/reference/data_and_metrics.md §6. The parity test compares every key, value
and type with a plain re-implementation of MMSA's ``metricsTop.py`` written below the way MMSA
writes it (torch ``.view(-1)``, ``np.clip``, ``np.round``, a list of non-zero indices, sklearn).
"""

import math
import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score

from msa_lib.metrics import (
    LOWER_IS_BETTER,
    METRIC_KEYS,
    SIMS_METRIC_KEYS,
    aggregate_seeds,
    format_mean_std,
    metric_keys,
    regression_metrics,
)


# ----------------------------------------------------------------------------------------------
# A hand-worked CMU-MOSEI case
# ----------------------------------------------------------------------------------------------
#   i    pred   true   Acc-7 (clip ±3, half-even)  Acc-5 (clip ±2)   p>=0 t>=0   (Non0) p>0 t>0
#   0    0.5    0.0    0 == 0   yes                0 == 0   yes      T    T      dropped (t == 0)
#   1    1.5    2.0    2 == 2   yes                2 == 2   yes      T    T      T   T
#   2    2.5    2.0    2 == 2   yes (half-even)    2 == 2   yes      T    T      T   T
#   3   -0.5    0.0   -0 == 0   yes                yes               F    T      dropped
#   4   -2.5   -2.0   -2 == -2  yes                -2 == -2 yes      F    F      F   F
#   5    3.6    3.0    3 == 3   yes (clipped)      2 == 2   yes      T    T      T   T
#   6   -4.0   -3.0   -3 == -3  yes (clipped)     -2 == -2  yes      F    F      F   F
#   7    2.4    3.0    2 != 3                      2 == 2   yes      T    T      T   T
#   8   -1.2    1.0   -1 != 1                     -1 != 1            F    T      F   T
#   9    0.0   -0.6    0 != -1                     0 != -1           T    F      F   F  (0 is not > 0)
CASE_PRED = [0.5, 1.5, 2.5, -0.5, -2.5, 3.6, -4.0, 2.4, -1.2, 0.0]
CASE_TRUE = [0.0, 2.0, 2.0, 0.0, -2.0, 3.0, -3.0, 3.0, 1.0, -0.6]


def test_hand_worked_mosei_case():
    m = regression_metrics(CASE_PRED, CASE_TRUE, dataset="mosei")
    assert list(m) == list(METRIC_KEYS)
    # Acc-7: rows 0-6 agree, 7, 8, 9 do not -> 7/10. (Half away from zero would give 0.5 -> 1,
    # 2.5 -> 3, -0.5 -> -1, -2.5 -> -3 and only 3/10.)
    assert m["Mult_acc_7"] == 0.7
    # Acc-5: clipping to ±2 also saves row 7 -> 8/10.
    assert m["Mult_acc_5"] == 0.8
    # Has0: rows 3, 8, 9 disagree -> 7/10.
    assert m["Has0_acc_2"] == 0.7
    # Has0 weighted F1, truth first. Truth has 7 positives (0,1,2,3,5,7,8), 3 negatives.
    #   positive: TP = 5 (0,1,2,5,7), 6 predicted positive -> F1 = 2*5/(6+7) = 10/13
    #   negative: TP = 2 (4,6),       4 predicted negative -> F1 = 2*2/(4+3) = 4/7
    #   weighted by truth support: (7*10/13 + 3*4/7) / 10 = 646/910 = 0.709890... -> 0.7099
    assert m["Has0_F1_score"] == 0.7099
    # Non0: rows 0 and 3 (t == 0) dropped; of the 8 left only row 8 disagrees -> 7/8.
    assert m["Non0_acc_2"] == 0.875
    # Non0 F1: positives in truth 1,2,5,7,8 (5); TP = 4; 4 predicted positive -> F1 = 8/9.
    #   negatives 4,6,9 (3); TP = 3; 4 predicted negative (4,6,8,9) -> F1 = 6/7.
    #   (5*8/9 + 3*6/7) / 8 = 442/504 = 0.876984... -> 0.877
    assert m["Non0_F1_score"] == 0.877
    # MAE: |diffs| = 0.5*5 + 0.6 + 1.0 + 0.6 + 2.2 + 0.6 = 7.5 -> 0.75 (float32 gives 0.74999994).
    assert m["MAE"] == 0.75
    # Corr: means 0.23 and 0.54; Sxy = 40.558, Sxx = 50.881, Syy = 37.444;
    #   r = 40.558 / sqrt(50.881 * 37.444) = 0.929196... -> 0.9292 (unclipped: 3.6 and -4.0 count)
    assert m["Corr"] == 0.9292


def test_hand_worked_case_unrounded_values_and_swapped_f1():
    raw = regression_metrics(CASE_PRED, CASE_TRUE, digits=None)
    assert raw["Has0_F1_score"] == pytest.approx(646 / 910, abs=1e-15)
    assert raw["Non0_F1_score"] == pytest.approx(442 / 504, abs=1e-15)
    # float32 arithmetic: the MAE is the float32 mean 0.74999994..., cast to float64.
    assert raw["MAE"] == np.float64(np.float32(0.75) - np.float32(2**-24))
    # Pre-2021 MMSA called f1_score(pred, true): the same per-class F1s weighted by the
    # *prediction* supports (6 positive, 4 negative): (6*10/13 + 4*4/7)/10 = 628/910 = 0.690109...
    old = regression_metrics(CASE_PRED, CASE_TRUE, f1_swapped=True)
    assert old["Has0_F1_score"] == 0.6901
    # Non0 with prediction supports 4 and 4: (4*8/9 + 4*6/7)/8 = 110/126 = 0.873015... -> 0.873
    assert old["Non0_F1_score"] == 0.873
    # Accuracies do not depend on the argument order.
    assert old["Has0_acc_2"] == 0.7 and old["Non0_acc_2"] == 0.875


def test_report_acc3_adds_the_three_class_accuracy():
    m = regression_metrics(CASE_PRED, CASE_TRUE, report_acc3=True)
    assert list(m) == list(metric_keys("mosei", report_acc3=True))
    assert list(m)[4] == "Mult_acc_3"
    # clip ±1 then round: pred 0,2->... rows: 0: 0|0 y, 1: 1|1 y, 2: 1|1 y, 3: -0|0 y, 4: -1|-1 y,
    # 5: 1|1 y, 6: -1|-1 y, 7: 1|1 y, 8: -1|1 n, 9: 0|-1 n -> 8/10
    assert m["Mult_acc_3"] == 0.8


# ----------------------------------------------------------------------------------------------
# half-way values, zeros, clipping
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "pred, true, expected",
    [
        (0.5, 0.0, 1.0),    # 0.5 -> 0 (half to even)
        (0.5, 1.0, 0.0),    # ... so not 1
        (1.5, 2.0, 1.0),    # 1.5 -> 2
        (2.5, 2.0, 1.0),    # 2.5 -> 2
        (2.5, 3.0, 0.0),
        (-0.5, 0.0, 1.0),   # -0.5 -> -0.0, and -0.0 == 0.0
        (-1.5, -2.0, 1.0),
        (3.5, 3.0, 1.0),    # clipped to 3 before rounding
        (-7.0, -3.0, 1.0),  # clipped to -3
        (2.9, 3.4, 1.0),    # 3 == clip(3.4) = 3
    ],
)
def test_acc7_rounds_half_to_even_after_clipping(pred, true, expected):
    # the sample under test plus one that always agrees (1.0 vs 1.0): Acc-7 is 1 or 1/2
    m = regression_metrics([pred, 1.0], [true, 1.0], digits=None)
    assert m["Mult_acc_7"] == (1.0 + expected) / 2


def test_acc5_clips_to_two():
    # 2.6 and 3.0 are both clipped to 2 -> agree in Acc-5, but round to 3 and 3 in Acc-7 too;
    # 2.4 vs 3.0: Acc-7 2 != 3, Acc-5 2 == 2; -2.5 vs -3: Acc-7 -2 != -3, Acc-5 -2 == -2.
    m = regression_metrics([2.4, -2.5], [3.0, -3.0], digits=None)
    assert m["Mult_acc_7"] == 0.0
    assert m["Mult_acc_5"] == 1.0


def test_zero_labels_and_zero_predictions():
    # pred 0 vs true 0: Has0 both ">= 0" -> agree; Non0 drops the sample.
    # pred 0 vs true 1: Has0 both ">= 0" -> agree; Non0: 0 is not > 0 -> disagree.
    # pred -0.1 vs true 0: Has0 disagree (-0.1 < 0 <= 0); Non0 drops it.
    # pred 0.2 vs true -1: both disagree.
    m = regression_metrics([0.0, 0.0, -0.1, 0.2], [0.0, 1.0, 0.0, -1.0], digits=None)
    assert m["Has0_acc_2"] == 0.5      # rows 0, 1 agree
    assert m["Non0_acc_2"] == 0.0      # rows 1, 3 kept, both disagree


def test_negative_zero_label_is_dropped_by_non0():
    # -0.0 != 0 is False, so a label of -0.0 is dropped just like +0.0; it is ">= 0" for Has0.
    m = regression_metrics([-1.0, 1.0, -1.0], [-0.0, 2.0, -2.0], digits=None)
    assert m["Non0_acc_2"] == 1.0      # only rows 1, 2 are kept and both agree
    assert m["Has0_acc_2"] == 2 / 3    # row 0: -1 < 0 but -0.0 >= 0


def test_single_class_in_truth_f1_as_sklearn():
    # All labels positive. Has0: truth class "pos" has support 3, TP = 2, 2 predicted positive
    # -> F1 = 2*2/(2+3) = 0.8; the class "neg" has no support, so weight 0 -> weighted F1 = 0.8.
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # sklearn's UndefinedMetricWarning must not escape
        m = regression_metrics([1.0, -1.0, 2.0], [1.0, 2.0, 3.0])
    assert m["Has0_F1_score"] == 0.8
    assert m["Has0_acc_2"] == 0.6667
    # Never predicting the only true class: F1 of "pos" = 0 (precision 0/0 -> 0), weight 1 -> 0.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = regression_metrics([-1.0, -2.0], [1.0, 2.0])
    assert m["Has0_F1_score"] == 0.0 and m["Non0_F1_score"] == 0.0


# ----------------------------------------------------------------------------------------------
# float32 subtleties
# ----------------------------------------------------------------------------------------------
def test_float32_cast_of_inputs():
    # 0.50000001 is 0.5 in float32, which rounds (half to even) to 0, not to 1.
    m = regression_metrics([0.50000001, 0.50000001], [1.0, 1.0], digits=None)
    assert m["Mult_acc_7"] == 0.0
    # ... whereas in float64 it stays above the half and rounds to 1.
    m64 = regression_metrics([0.50000001, 0.50000001], [1.0, 1.0], digits=None, dtype=np.float64)
    assert m64["Mult_acc_7"] == 1.0
    # 1e-50 underflows to 0.0 in float32, so Non0 drops it: the other two rows agree -> 1.0
    # (kept in float64, it is a positive label predicted negative -> 2/3).
    m = regression_metrics([-1.0, 1.0, -1.0], [1e-50, 1.0, -1.0], digits=None)
    assert m["Non0_acc_2"] == 1.0


def test_mae_float32_sum_lands_on_a_half_way_value():
    # pred to 2 decimals, labels in thirds. In real numbers the |differences| add to exactly
    # 17.25 (0.69333 + 0.60667 + 4.58667 + 4.69667 + 1.42667 + 0.08 + 3.57333 + 1.58667), so the
    # MAE is 2.15625, half-way at the 4th decimal. float32 arithmetic lands exactly on 2.15625 and
    # rounding half to even gives 2.1562. The same float32 inputs averaged in float64 give
    # 2.15625002..., which would round to 2.1563: the float32 mean is what MMSA reports.
    pred = [-0.36, 0.94, -2.92, -2.03, -1.24, 1.08, 1.24, 1.08]
    true = [1 / 3, 1 / 3, 5 / 3, 8 / 3, -8 / 3, 1.0, -7 / 3, 8 / 3]
    m = regression_metrics(pred, true)
    assert m["MAE"] == 2.1562
    raw = regression_metrics(pred, true, digits=None)
    assert raw["MAE"] == 2.15625
    f64 = regression_metrics(np.float32(pred), np.float32(true), dtype=np.float64)
    assert f64["MAE"] == 2.1563


def test_mae_float64_cast_switch():
    # |0.12345 - 0| and |0.12345 - 0.2469| are both float32(0.12345) exactly (float32(0.2469) is
    # 2 * float32(0.12345)), so MAE = float32(0.12345) = 0.123450003564...
    #  * cast to float64 and rounded: 0.12345000356 -> 0.1235
    #  * rounded as float32 (MMSA before 64f6da6): 0.12345f * 1e4 = 1234.5 in float32 (the excess
    #    3.6e-5 is below half a float32 step, 6.1e-5), rint(1234.5) = 1234 -> float32(0.1234)
    pred, true = [0.12345, 0.12345], [0.0, 0.2469]
    new = regression_metrics(pred, true)
    old = regression_metrics(pred, true, mae_float64_cast=False)
    assert type(new["MAE"]) is np.float64 and new["MAE"] == 0.1235
    assert type(old["MAE"]) is np.float32 and old["MAE"] == np.float32(0.1234)


# ----------------------------------------------------------------------------------------------
# rounding of the returned values and their types
# ----------------------------------------------------------------------------------------------
def test_returned_types_are_mmsa_types():
    m = regression_metrics(CASE_PRED, CASE_TRUE)
    for key in ("Has0_acc_2", "Has0_F1_score", "Non0_acc_2", "Non0_F1_score"):
        assert type(m[key]) is float, key           # sklearn's Python float, built-in round
    for key in ("Mult_acc_5", "Mult_acc_7", "MAE", "Corr"):
        assert type(m[key]) is np.float64, key      # numpy scalar, numpy's __round__
    s = regression_metrics([0.1, -0.5, 0.9], [0.2, -0.4, 0.6], dataset="sims")
    assert [type(s[k]) for k in SIMS_METRIC_KEYS] == [np.float64] * 3 + [float] + [np.float64] * 2


def test_numpy_and_python_rounding_paths_differ_as_in_mmsa():
    # N = 160, one sample right, 159 wrong for every metric: every accuracy is 1/160 = 0.00625.
    # As a float 0.00625 is 0.0062500000000000003469..., so Python's round(., 4) gives 0.0063;
    # numpy's round computes rint(0.00625 * 1e4) = rint(62.5) = 62 -> 0.0062.
    # MMSA's Mult_acc_* are numpy float64 (numpy path), the sklearn accuracies Python floats.
    pred = [1.0] + [-1.0] * 159
    true = [1.0] * 160
    m = regression_metrics(pred, true)
    assert m["Mult_acc_7"] == 0.0062 and m["Mult_acc_5"] == 0.0062
    assert m["Has0_acc_2"] == 0.0063 and m["Non0_acc_2"] == 0.0063


def test_digits_switch():
    m2 = regression_metrics(CASE_PRED, CASE_TRUE, digits=2)
    # 646/910 = 0.7099 -> 0.71; 0.929196 -> 0.93
    assert m2["Has0_F1_score"] == 0.71 and m2["Corr"] == 0.93
    raw = regression_metrics(CASE_PRED, CASE_TRUE, digits=None)
    rounded = regression_metrics(CASE_PRED, CASE_TRUE)
    for key in METRIC_KEYS:
        assert rounded[key] == round(raw[key], 4)
        assert type(rounded[key]) is type(raw[key])


# ----------------------------------------------------------------------------------------------
# CH-SIMS
# ----------------------------------------------------------------------------------------------
#   i   pred   true   (clip ±1)  A2: (-1.01,0] (0,1.01]   A3: edges -0.1, 0.1   A5: edges -0.7,-0.1,0.1,0.7
#   0   0.0   -0.2               0 | 0  y (0 is negative)  1 | 0  n              2 | 1  n
#   1   0.1    0.1               1 | 1  y                  1 | 1  y (0.1 <= 0.1) 2 | 2  y
#   2  -0.1   -0.1               0 | 0  y                  0 | 0  y (-0.1 <= -0.1) 1 | 1 y
#   3   0.7    0.8               1 | 1  y                  2 | 2  y              3 | 4  n (0.7 <= 0.7)
#   4  -0.7   -0.7               0 | 0  y                  0 | 0  y              0 | 0  y
#   5   1.5    1.0   1.0 | 1.0   1 | 1  y                  2 | 2  y              4 | 4  y
#   6  -2.0   -1.0  -1.0 | -1.0  0 | 0  y                  0 | 0  y              0 | 0  y
#   7   0.06   0.0               1 | 0  n                  1 | 1  y              2 | 2  y
SIMS_PRED = [0.0, 0.1, -0.1, 0.7, -0.7, 1.5, -2.0, 0.06]
SIMS_TRUE = [-0.2, 0.1, -0.1, 0.8, -0.7, 1.0, -1.0, 0.0]


def test_hand_worked_sims_case():
    m = regression_metrics(SIMS_PRED, SIMS_TRUE, dataset="sims")
    assert list(m) == list(SIMS_METRIC_KEYS)
    assert m["Mult_acc_2"] == 0.875   # only row 7 wrong
    assert m["Mult_acc_3"] == 0.875   # only row 0 wrong
    assert m["Mult_acc_5"] == 0.75    # rows 0 and 3 wrong
    # F1 on the 2 classes, truth first: truth positives 1,3,5 (3), TP 3, 4 predicted -> 6/7;
    # truth negatives 0,2,4,6,7 (5), TP 4, 4 predicted -> 8/9; (3*6/7 + 5*8/9)/8 = 442/504 -> 0.877
    assert m["F1_score"] == 0.877
    # MAE on the clipped values: 0.2 + 0.1 + 0.06 = 0.36, / 8 = 0.045 (unclipped it would be
    # (0.2 + 0.1 + 0.5 + 1.0 + 0.06) / 8 = 0.2325).
    assert m["MAE"] == 0.045
    # Corr on the clipped values: means 0.0075 and -0.0125, Sxy = 3.07075, Sxx = 3.00315,
    # Syy = 3.18875 -> 3.07075 / sqrt(3.00315 * 3.18875) = 0.992306... -> 0.9923
    assert m["Corr"] == 0.9923
    # simsv2 and upper case are the same metrics
    assert regression_metrics(SIMS_PRED, SIMS_TRUE, dataset="SIMSv2") == m
    # swapped F1 weights by the prediction supports 4 and 4: (6/7 + 8/9)/2 = 110/126 -> 0.873
    assert regression_metrics(SIMS_PRED, SIMS_TRUE, dataset="sims", f1_swapped=True)["F1_score"] == 0.873


def test_sims_edges_are_compared_in_float32():
    # float32(0.1) = 0.100000001490116 is above the float64 0.1, but MMSA compares against the
    # edge in float32, where it is equal, so it falls in (-0.1, 0.1] (class 2 of 5), like 0.05.
    m = regression_metrics([0.1, 0.1], [0.05, 0.05], dataset="sims", digits=None)
    assert m["Mult_acc_5"] == 1.0 and m["Mult_acc_3"] == 1.0
    # float32(0.7) = 0.699999988 <= 0.7f: in (0.1, 0.7] with 0.5, not with 0.8
    m = regression_metrics([0.7, 0.7], [0.5, 0.8], dataset="sims", digits=None)
    assert m["Mult_acc_5"] == 0.5


def test_sims_unrounded_mode_of_older_mmsa():
    raw = regression_metrics(SIMS_PRED, SIMS_TRUE, dataset="sims", digits=None, mae_float64_cast=False)
    assert raw["F1_score"] == pytest.approx(442 / 504, abs=1e-15)
    assert type(raw["MAE"]) is np.float32
    assert raw["MAE"] == np.mean(np.abs(np.clip(np.float32(SIMS_PRED), -1, 1) - np.float32(SIMS_TRUE)))


# ----------------------------------------------------------------------------------------------
# degenerate inputs
# ----------------------------------------------------------------------------------------------
def test_constant_predictions_give_nan_corr_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = regression_metrics([0.3, 0.3, 0.3], [1.0, -1.0, 2.0])
        s = regression_metrics([0.3, 0.3, 0.3], [1.0, -1.0, 2.0], dataset="sims")
        one = regression_metrics([0.3], [1.0])  # N = 1: no correlation either
    assert math.isnan(m["Corr"]) and math.isnan(s["Corr"]) and math.isnan(one["Corr"])
    assert m["MAE"] == 1.2333  # (0.7 + 1.3 + 1.7) / 3 = 1.23333
    assert one["Has0_acc_2"] == 1.0


def test_all_zero_labels_give_nan_non0_with_a_warning():
    with pytest.warns(RuntimeWarning, match="every label is exactly 0"):
        m = regression_metrics([0.5, -0.5, 0.0], [0.0, 0.0, -0.0])
    assert math.isnan(m["Non0_acc_2"]) and math.isnan(m["Non0_F1_score"])
    assert type(m["Non0_acc_2"]) is float
    # the rest is defined: Has0 counts 0 as positive, so rows 0 and 2 agree
    assert m["Has0_acc_2"] == 0.6667
    assert m["Mult_acc_7"] == 1.0  # 0.5 -> 0, -0.5 -> -0, 0 -> 0
    assert math.isnan(m["Corr"])   # constant labels


# ----------------------------------------------------------------------------------------------
# inputs
# ----------------------------------------------------------------------------------------------
def test_tensors_arrays_lists_and_shapes_agree():
    expected = regression_metrics(CASE_PRED, CASE_TRUE)
    pred_t = torch.tensor(CASE_PRED, requires_grad=True).view(-1, 1) * 1.0  # [N, 1], has grad
    true_t = torch.tensor(CASE_TRUE).view(-1, 1)
    assert regression_metrics(pred_t, true_t) == expected
    assert regression_metrics(np.array(CASE_PRED), np.array(CASE_TRUE, dtype=np.float32)) == expected
    assert regression_metrics(np.array(CASE_PRED).reshape(2, 5), CASE_TRUE) == expected
    assert regression_metrics(torch.tensor(CASE_PRED, dtype=torch.float64), CASE_TRUE) == expected
    # bfloat16 has no numpy dtype; it is converted exactly (values like 0.5, 2.5 are exact there)
    half = regression_metrics(torch.tensor([0.5, 2.5, -1.0]).bfloat16(), [0.0, 2.0, -1.0])
    assert half["Mult_acc_7"] == 1.0
    # integer labels are fine
    assert regression_metrics([1.0, -2.0, 0.4], [1, -2, 0])["Mult_acc_7"] == 1.0


@pytest.mark.parametrize(
    "pred, true, kwargs, error, match",
    [
        ([1.0, 2.0], [1.0], {}, ValueError, r"pred has 2 values \(shape \(2,\)\) but true has 1"),
        ([], [], {}, ValueError, "empty"),
        ([1.0, float("nan")], [1.0, 2.0], {}, ValueError, r"pred has 1 NaN and 0 infinite .*index 1"),
        ([1.0, 2.0], [float("nan"), 1.0], {}, ValueError, r"true has 1 NaN .*index 0"),
        ([1.0, float("inf")], [1.0, 2.0], {}, ValueError, r"pred has 0 NaN and 1 infinite"),
        ([1.0, 2.0], [1.0, 2.0], {"dataset": "synthetic_mosei"}, ValueError,
         r"unknown dataset 'synthetic_mosei'; expected one of 'mosi', 'mosei', 'sims', 'simsv2'"),
        ([1.0, 2.0], [1.0, 2.0], {"dataset": 3}, TypeError, "dataset must be a string"),
        (["a", "b"], [1.0, 2.0], {}, TypeError, "pred must hold real numbers"),
        ([1.0, 2.0], [1.0, 2.0], {"digits": -1}, ValueError, "digits must be None or an integer"),
        ([1.0, 2.0], [1.0, 2.0], {"digits": 2.0}, ValueError, "digits must be None or an integer"),
        ([1.0, 2.0], [1.0, 2.0], {"dtype": np.int32}, ValueError, "floating dtype"),
        ([[1.0, 2.0], [3.0]], [1.0, 2.0, 3.0], {}, ValueError, "pred is not a rectangular array"),
    ],
)
def test_errors_name_what_is_at_fault(pred, true, kwargs, error, match):
    with pytest.raises(error, match=match):
        regression_metrics(pred, true, **kwargs)


def test_mosi_equals_mosei_and_keys_constants():
    mosi = regression_metrics(CASE_PRED, CASE_TRUE, "mosi")
    assert mosi == regression_metrics(CASE_PRED, CASE_TRUE, "MOSEI")
    assert metric_keys("mosi") == METRIC_KEYS and metric_keys("simsv2") == SIMS_METRIC_KEYS
    assert LOWER_IS_BETTER == {"MAE"}
    assert len(METRIC_KEYS) == 8 and len(SIMS_METRIC_KEYS) == 6


# ----------------------------------------------------------------------------------------------
# parity with a plain re-implementation of MMSA metricsTop.py
# ----------------------------------------------------------------------------------------------
class MMSAReference:
    """MMSA ``MetricsTop`` regression metrics written as MMSA writes them.

    ``version``: ``"head"`` (a94e65d07f), ``"lnln"`` (LNLN core/metric.py = MMSA 2021-04 to
    2022-01: F1 truth first, float32 MAE, SIMS unrounded) or ``"pre_cb5e0bd"`` (the same with
    ``f1_score(pred, true)``).
    """

    def __init__(self, version="head"):
        self.version = version

    def f1(self, truth, preds):
        if self.version == "pre_cb5e0bd":
            return f1_score(preds, truth, average="weighted")
        return f1_score(truth, preds, average="weighted")

    def mae(self, test_preds, test_truth):
        mae = np.mean(np.absolute(test_preds - test_truth))
        return mae.astype(np.float64) if self.version == "head" else mae

    def multiclass_acc(self, y_pred, y_true):
        return np.sum(np.round(y_pred) == np.round(y_true)) / float(len(y_true))

    def mosei(self, y_pred, y_true):
        test_preds = y_pred.view(-1).cpu().detach().numpy()
        test_truth = y_true.view(-1).cpu().detach().numpy()
        test_preds_a7 = np.clip(test_preds, a_min=-3.0, a_max=3.0)
        test_truth_a7 = np.clip(test_truth, a_min=-3.0, a_max=3.0)
        test_preds_a5 = np.clip(test_preds, a_min=-2.0, a_max=2.0)
        test_truth_a5 = np.clip(test_truth, a_min=-2.0, a_max=2.0)
        mae = self.mae(test_preds, test_truth)
        corr = np.corrcoef(test_preds, test_truth)[0][1]
        mult_a7 = self.multiclass_acc(test_preds_a7, test_truth_a7)
        mult_a5 = self.multiclass_acc(test_preds_a5, test_truth_a5)
        non_zeros = np.array([i for i, e in enumerate(test_truth) if e != 0])
        non_zeros_binary_truth = test_truth[non_zeros] > 0
        non_zeros_binary_preds = test_preds[non_zeros] > 0
        non_zeros_acc2 = accuracy_score(non_zeros_binary_preds, non_zeros_binary_truth)
        non_zeros_f1_score = self.f1(non_zeros_binary_truth, non_zeros_binary_preds)
        binary_truth = test_truth >= 0
        binary_preds = test_preds >= 0
        acc2 = accuracy_score(binary_preds, binary_truth)
        f_score = self.f1(binary_truth, binary_preds)
        return {
            "Has0_acc_2": round(acc2, 4),
            "Has0_F1_score": round(f_score, 4),
            "Non0_acc_2": round(non_zeros_acc2, 4),
            "Non0_F1_score": round(non_zeros_f1_score, 4),
            "Mult_acc_5": round(mult_a5, 4),
            "Mult_acc_7": round(mult_a7, 4),
            "MAE": round(mae, 4),
            "Corr": round(corr, 4),
        }

    def sims(self, y_pred, y_true):
        test_preds = y_pred.view(-1).cpu().detach().numpy()
        test_truth = y_true.view(-1).cpu().detach().numpy()
        test_preds = np.clip(test_preds, a_min=-1.0, a_max=1.0)
        test_truth = np.clip(test_truth, a_min=-1.0, a_max=1.0)
        binned = {}
        for n, ms in ((2, [-1.01, 0.0, 1.01]), (3, [-1.01, -0.1, 0.1, 1.01]),
                      (5, [-1.01, -0.7, -0.1, 0.1, 0.7, 1.01])):
            test_preds_a = test_preds.copy()
            test_truth_a = test_truth.copy()
            for i in range(n):
                test_preds_a[np.logical_and(test_preds > ms[i], test_preds <= ms[i + 1])] = i
            for i in range(n):
                test_truth_a[np.logical_and(test_truth > ms[i], test_truth <= ms[i + 1])] = i
            binned[n] = (test_preds_a, test_truth_a)
        mae = self.mae(test_preds, test_truth)
        corr = np.corrcoef(test_preds, test_truth)[0][1]
        res = {
            "Mult_acc_2": self.multiclass_acc(*binned[2]),
            "Mult_acc_3": self.multiclass_acc(*binned[3]),
            "Mult_acc_5": self.multiclass_acc(*binned[5]),
            "F1_score": self.f1(binned[2][1], binned[2][0]),
            "MAE": mae,
            "Corr": corr,
        }
        if self.version == "head":
            res = {k: round(v, 4) for k, v in res.items()}
        return res


SWITCHES = {
    "head": dict(digits=4, f1_swapped=False, mae_float64_cast=True),
    "lnln": dict(digits=4, f1_swapped=False, mae_float64_cast=False),
    "pre_cb5e0bd": dict(digits=4, f1_swapped=True, mae_float64_cast=False),
}
MOSEI_TIES = [0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 1.0, -1.0, 1 / 3, -2 / 3, 3.0, -3.0, 3.5, -4.2, 2.0]
SIMS_TIES = [0.0, -0.0, 0.1, -0.1, 0.7, -0.7, 0.2, -0.6, 1.0, -1.0, 1.3, -1.01, 0.8]


def random_case(rng, ties, scale):
    n = int(rng.integers(2, 120))
    def one():
        x = rng.normal(0.0, scale, n)
        pick = rng.random(n) < rng.uniform(0.2, 0.9)
        x[pick] = rng.choice(ties, pick.sum())
        return x
    pred, true = one(), one()
    if rng.random() < 0.05:
        pred[:] = pred[0]  # constant predictions: Corr NaN on both sides
    if not np.any(np.float32(true) != 0):
        true[0] = 1.0  # MMSA crashes when every label is 0 (covered separately)
    as_tensor = lambda x: torch.tensor(x, dtype=torch.float32).view(-1, 1)  # noqa: E731
    return as_tensor(pred), as_tensor(true)


def same(a, b):
    return type(a) is type(b) and (a == b or (math.isnan(a) and math.isnan(b)))


@pytest.mark.parametrize(
    "version, dataset, n_cases",
    [("head", "mosei", 120), ("head", "sims", 80), ("lnln", "mosei", 30), ("lnln", "sims", 20),
     ("pre_cb5e0bd", "mosei", 30), ("pre_cb5e0bd", "sims", 20)],
)
def test_parity_with_mmsa_reimplementation(version, dataset, n_cases):
    rng = np.random.default_rng({"head": 0, "lnln": 1, "pre_cb5e0bd": 2}[version] * 10 + len(dataset))
    ref = MMSAReference(version)
    switches = dict(SWITCHES[version])
    if dataset == "sims" and version != "head":
        switches["digits"] = None  # SIMS values were not rounded before 7ea76ad
    for case in range(n_cases):
        if dataset == "sims":
            pred, true = random_case(rng, SIMS_TIES, 0.6)
        else:
            pred, true = random_case(rng, MOSEI_TIES, 1.8)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # MMSA lets numpy/sklearn warn; we do not compare that
            expected = ref.sims(pred, true) if dataset == "sims" else ref.mosei(pred, true)
        got = regression_metrics(pred, true, dataset=dataset, **switches)
        assert list(got) == list(expected), case
        for key in expected:
            assert same(got[key], expected[key]), (case, key, got[key], expected[key])


# ----------------------------------------------------------------------------------------------
# aggregation and formatting
# ----------------------------------------------------------------------------------------------
def test_aggregate_seeds_population_std():
    runs = [{"MAE": 0.7, "Corr": np.float64(0.5)}, {"MAE": 0.8, "Corr": np.float64(0.5)},
            {"MAE": 0.9, "Corr": np.float64(0.5)}]
    agg = aggregate_seeds(runs)
    assert list(agg) == ["MAE", "Corr"]
    mean, std = agg["MAE"]
    # mean 0.8; population std sqrt((0.01 + 0 + 0.01) / 3) = 0.0816497 (the sample std would be 0.1)
    assert mean == pytest.approx(0.8, abs=1e-15)
    assert std == pytest.approx(math.sqrt(0.02 / 3), abs=1e-12)
    assert agg["Corr"] == (0.5, 0.0)
    assert type(mean) is float and type(std) is float


def test_aggregate_seeds_over_regression_metrics():
    runs = [regression_metrics(CASE_PRED, CASE_TRUE), regression_metrics(CASE_PRED[::-1], CASE_TRUE)]
    agg = aggregate_seeds(runs)
    assert list(agg) == list(METRIC_KEYS)
    assert agg["Mult_acc_7"][0] == pytest.approx((runs[0]["Mult_acc_7"] + runs[1]["Mult_acc_7"]) / 2)


def test_aggregate_seeds_errors():
    with pytest.raises(ValueError, match="got no metric dicts"):
        aggregate_seeds([])
    with pytest.raises(ValueError, match=r"dict 1 has different keys .*missing \['Corr'\], extra \['Loss'\]"):
        aggregate_seeds([{"MAE": 0.1, "Corr": 0.2}, {"MAE": 0.1, "Loss": 0.2}])
    with pytest.raises(TypeError, match="metric 'MAE' of dict 1 is not a real number"):
        aggregate_seeds([{"MAE": 0.1}, {"MAE": "0.2"}])


def test_format_mean_std():
    assert format_mean_std(0.708, 0.0123, scale=100, digits=2) == "70.80 ± 1.23"
    assert format_mean_std(0.70804, 0.01) == "0.7080 ± 0.0100"
    # MMSA's cells round with numpy: 0.00625 * 100 = 0.625 -> rint(62.5) = 62 -> "0.62"
    # (Python's correctly rounded formatting of 0.625 would also say 0.62 here; 0.00625 at 4
    # digits is the case where they differ: numpy 0.0062, Python 0.0063.)
    assert format_mean_std(0.00625, 0.0, digits=4) == "0.0062 ± 0.0000"
    mean, std = aggregate_seeds([{"MAE": 0.7}, {"MAE": 0.9}])["MAE"]
    assert format_mean_std(mean, std, scale=100, digits=1) == "80.0 ± 10.0"
    assert format_mean_std(float("nan"), 0.0, digits=2) == "nan ± 0.00"
    with pytest.raises(ValueError, match="digits must be an integer"):
        format_mean_std(0.1, 0.2, digits=-2)
    with pytest.raises(TypeError, match="mean must be a real number"):
        format_mean_std("0.1", 0.2)
