"""Fairness maths from cell counts: counts, metrics, disparities, group intervals, bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from raikit.audit.fairness import _counts
from raikit.audit.stats import resample_counts

NAN = float("nan")


def test_cell_counts_match_a_hand_tally():
    group = np.array([0, 0, 0, 1, 1, 1, 1, 2])
    y_true = np.array([0, 1, 1, 0, 0, 1, 1, 0])
    y_pred = np.array([0, 1, 0, 1, 0, 1, 1, 0])
    # Columns: true negative, false positive, false negative, true positive.
    expected = [[1, 0, 1, 1], [1, 1, 0, 2], [1, 0, 0, 0], [0, 0, 0, 0]]
    np.testing.assert_array_equal(_counts.cell_counts(group, y_true, y_pred, 4), expected)


def test_metrics_from_counts_match_hand_computation():
    # tn=3, fp=1, fn=2, tp=4 (10 rows): 5 predicted positives, 6 actual positives.
    metrics = _counts.metrics_from_counts(np.array([[3, 1, 2, 4]]))
    expected = {
        "selection_rate": 5 / 10,
        "true_positive_rate": 4 / 6,
        "false_positive_rate": 1 / 4,
        "false_negative_rate": 2 / 6,
        "precision": 4 / 5,
        "accuracy": 7 / 10,
    }
    assert set(metrics) == set(expected)
    for name, value in expected.items():
        assert metrics[name][0] == pytest.approx(value), name


@pytest.mark.parametrize(
    ("counts", "undefined"),
    [
        ([5, 2, 0, 0], {"true_positive_rate", "false_negative_rate"}),  # no actual positives
        ([0, 0, 1, 3], {"false_positive_rate"}),  # no actual negatives
        ([4, 0, 3, 0], {"precision"}),  # no predicted positives
        ([0, 0, 0, 0], set(_counts.METRIC_NAMES)),  # empty group
    ],
)
def test_zero_denominator_gives_nan_only_for_that_metric(counts, undefined):
    metrics = _counts.metrics_from_counts(np.array(counts))
    assert {name for name, value in metrics.items() if np.isnan(value)} == undefined


def test_disparities_match_hand_computation():
    rates = {
        "selection_rate": np.array([0.2, 0.5, 0.4]),
        "true_positive_rate": np.array([0.9, NAN, 0.6]),
        "false_positive_rate": np.array([0.1, 0.2, 0.15]),
    }
    disparities = _counts.disparities_from_rates(rates)
    assert disparities["demographic_parity_difference"] == pytest.approx(0.3)
    assert disparities["demographic_parity_ratio"] == pytest.approx(0.4)
    # The group with an undefined TPR is left out: 0.9 - 0.6.
    assert disparities["equal_opportunity_difference"] == pytest.approx(0.3)
    assert disparities["equalized_odds_difference"] == pytest.approx(max(0.3, 0.1))


def test_disparities_need_two_defined_groups_and_a_positive_rate():
    rates = {
        "selection_rate": np.array([0.0, 0.0]),
        "true_positive_rate": np.array([0.5, NAN]),
        "false_positive_rate": np.array([0.1, 0.3]),
    }
    disparities = _counts.disparities_from_rates(rates)
    assert disparities["demographic_parity_difference"] == 0.0
    assert np.isnan(disparities["demographic_parity_ratio"])  # 0 / 0
    assert np.isnan(disparities["equal_opportunity_difference"])  # one group only
    assert np.isnan(disparities["equalized_odds_difference"])  # needs both differences


def test_disparities_work_along_the_last_axis_of_replicates():
    selection = np.array([[0.1, 0.3], [0.5, 0.2], [NAN, 0.4]])
    rates = {"selection_rate": selection, "true_positive_rate": selection}
    rates["false_positive_rate"] = selection
    difference = _counts.disparities_from_rates(rates)["demographic_parity_difference"]
    np.testing.assert_allclose(difference, [0.2, 0.3, NAN])


def _demographic_parity_difference(y_pred: np.ndarray, group: np.ndarray) -> float:
    # Written without the module under test: mean decision per group, max - min.
    rates = [y_pred[group == g].mean() for g in np.unique(group)]
    return max(rates) - min(rates)


def test_multinomial_bootstrap_matches_a_row_bootstrap_in_distribution():
    rng = np.random.default_rng(7)
    n = 300
    group = rng.integers(0, 3, n)
    y_true = rng.integers(0, 2, n)
    y_pred = (rng.random(n) < 0.3 + 0.15 * group).astype(int)
    n_bootstrap = 3000

    rows = rng.integers(0, n, size=(n_bootstrap, n))
    naive = np.array([_demographic_parity_difference(y_pred[r], group[r]) for r in rows])

    counts = _counts.cell_counts(group, y_true, y_pred, 3)
    replicates = resample_counts(counts, n_bootstrap, np.random.default_rng(8))
    rates = _counts.metrics_from_counts(replicates)
    fast = _counts.disparities_from_rates(rates)["demographic_parity_difference"]

    # Standard errors of these summaries at 3,000 replicates are ~0.001 (mean) and ~0.0008
    # (std); the tolerances are several of them, and far below the spread itself (~0.06).
    assert fast.mean() == pytest.approx(naive.mean(), abs=0.006)
    assert fast.std() == pytest.approx(naive.std(), rel=0.08)
    for q in (0.05, 0.5, 0.95):
        assert np.quantile(fast, q) == pytest.approx(np.quantile(naive, q), abs=0.012)


def test_group_intervals_stay_open_at_rates_of_one():
    # 14 of 14 actual negatives wrongly flagged: FPR 1.0, yet 14 rows cannot prove certainty.
    counts = np.array([[0, 14, 0, 48]])
    low, high = _counts.group_metric_intervals(counts, 0.95)["false_positive_rate"]
    assert high[0] == 1.0 and low[0] == pytest.approx(0.7847, abs=1e-3)
    assert np.isnan(_counts.group_metric_intervals(np.zeros((1, 4)), 0.95)["accuracy"][0]).all()
