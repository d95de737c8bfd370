"""Statistics of membership inference against hand calculations and closed forms.

The shared ROC AUC and Clopper–Pearson interval are tested in ``test_stats.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from raikit.audit.privacy import _stats as stats


def test_roc_table_counts_and_tpr_at_fpr_by_hand():
    members = np.array([5.0, 4.0, 3.0, 3.0, 1.0])
    nonmembers = np.array([4.0, 2.0, 1.0, 0.0])
    table = stats.roc_table(members, nonmembers)
    # thresholds inf, 5, 4, 3, 2, 1, 0 -> members >= t and non-members >= t.
    assert table.true_positives.tolist() == [0, 1, 2, 4, 4, 5, 5]
    assert table.false_positives.tolist() == [0, 0, 1, 1, 2, 3, 4]
    assert stats.tpr_at_fpr(table, 0.0) == (1, 0)
    assert stats.tpr_at_fpr(table, 0.25) == (4, 1)  # threshold 3
    assert stats.tpr_at_fpr(table, 0.5) == (4, 2)
    balanced, row = stats.best_balanced_accuracy(table)
    assert balanced == pytest.approx((4 / 5 + 3 / 4) / 2)
    assert table.thresholds[row] == 3.0


def test_nonmembers_needed_for_a_meaningful_fpr():
    # 1 false positive in n exceeds FPR f until n >= 1/f; zero false positives certify f at 95%
    # once 1 - 0.025^(1/n) <= f, i.e. n >= ln(0.025) / ln(1 - f): 367.04 and 3687.03.
    assert stats.nonmembers_to_resolve(0.01) == (100, 368)
    assert stats.nonmembers_to_resolve(0.001) == (1000, 3688)


DELTA = 1e-5
# A perfect attack on 100 + 100 rows: TPR_lo = 0.025^(1/100) = 0.963783..., FPR_hi = 1 - that.
# Hand calculation: log((0.9637833 - 1e-5) / 0.0362167) = 3.2813360.
PERFECT_100 = 3.2813359732686562
# Bonferroni over 10 thresholds: each end at 0.05 / 10 / 2 = 0.0025, TPR_lo = 0.0025^(1/100)
# = 0.941845: log((0.941845 - 1e-5) / 0.058155) = 2.7847168.
PERFECT_100_BONFERRONI_10 = 2.784716795755393
# 100 members all found, none of 1000 non-members: FPR_hi = 1 - 0.025^(1/1000) = 0.0036821;
# TPR/FPR form log((0.963783 - 1e-5) / 0.0036821) = 5.5673772; TNR/FNR form
# log((0.9963179 - 1e-5) / 0.0362167) = 3.3145362; the larger wins.
PERFECT_100_OF_1000 = 5.567377240381776


def test_epsilon_lower_bound_against_hand_calculation():
    # Thresholds (TP, FP): everything above, a perfect split, half the non-members, all rows.
    tp, fp = [0, 100, 100, 100], [0, 0, 50, 100]
    bound = stats.epsilon_lower_bound(tp, fp, 100, 100, DELTA, 0.95, n_comparisons=1)
    assert bound.epsilon == pytest.approx(PERFECT_100, abs=1e-9)
    assert bound.threshold_index == 1
    bonferroni = stats.epsilon_lower_bound(tp, fp, 100, 100, DELTA, 0.95, n_comparisons=10)
    assert bonferroni.epsilon == pytest.approx(PERFECT_100_BONFERRONI_10, abs=1e-9)
    asymmetric = stats.epsilon_lower_bound([0, 100], [0, 0], 100, 1000, DELTA, 0.95, 1)
    assert asymmetric.epsilon == pytest.approx(PERFECT_100_OF_1000, abs=1e-9)
    assert asymmetric.form == "tpr/fpr"


def test_epsilon_lower_bound_is_zero_for_a_chance_attack():
    # TPR = FPR at every threshold proves nothing, however many rows.
    counts = [0, 1000, 2500, 5000]
    bound = stats.epsilon_lower_bound(counts, counts, 5000, 5000, DELTA, 0.95, 1)
    assert bound.epsilon == 0.0
    assert bound.threshold_index is None


@pytest.mark.parametrize(
    ("fpr", "epsilon", "delta", "expected"),
    [
        (0.0, 1.0, 1e-5, 1e-5),  # only δ at FPR 0
        (0.01, 1.0, 1e-5, math.e * 0.01 + 1e-5),  # 0.0271928: the e^ε FPR + δ branch
        (0.5, 1.0, 1e-5, 1 - math.exp(-1) * (1 - 1e-5 - 0.5)),  # 0.8160640: the other branch
        (1.0, 1.0, 1e-5, 1.0),
        (0.3, 0.0, 0.0, 0.3),  # ε = δ = 0: no attack beats chance
    ],
)
def test_dp_bound_curve_matches_the_closed_form(fpr, epsilon, delta, expected):
    assert float(stats.dp_tpr_bound(fpr, epsilon, delta)) == pytest.approx(expected, rel=1e-12)


def test_dp_max_auc_is_the_logistic_of_epsilon_when_delta_is_zero():
    # Area under min(e^ε x, 1 - e^-ε (1 - x)): the branches cross at x* = 1/(1 + e^ε) and the
    # two triangles cancel, leaving 1 - x* = e^ε / (1 + e^ε).
    for epsilon in (0.5, 1.0, 4.0):
        expected = math.exp(epsilon) / (1 + math.exp(epsilon))
        assert stats.dp_max_auc(epsilon, 0.0) == pytest.approx(expected, abs=1e-6)


def test_candidate_thresholds_keep_the_lowest_fpr_rows():
    rng = np.random.default_rng(1)
    table = stats.roc_table(rng.normal(1, 1, 3000), rng.normal(0, 1, 3000))
    rows = stats.candidate_thresholds(table, 64)
    assert len(rows) <= 64
    assert rows[-1] == len(table.thresholds) - 1
    # The first candidate is the last row with no false positive: where ε is proven best.
    assert rows[0] == int(np.flatnonzero(table.false_positives == 0)[-1])
