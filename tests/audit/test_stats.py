"""Shared statistics against independent references: scipy, scikit-learn, numpy and hand counts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binomtest, norm, rankdata
from sklearn.metrics import roc_auc_score

from raikit.audit import stats

NAN = float("nan")
LEVELS = (0.8, 0.9, 0.95, 0.99)
# (successes, trials): the edges 0 and n, small and large samples, odd proportions.
COUNTS = [(0, 1), (1, 1), (0, 20), (1, 29), (15, 148), (81, 263), (7, 1000), (500, 1000)]


@pytest.mark.parametrize(
    ("confidence_level", "z"),
    # Standard normal table: P(|Z| <= z) = level.
    [(0.8, 1.281552), (0.9, 1.644854), (0.95, 1.959964), (0.99, 2.575829)],
)
def test_two_sided_z_matches_the_normal_table_and_scipy(confidence_level, z):
    value = stats.two_sided_z(confidence_level)
    assert value == pytest.approx(z, abs=1e-6)
    assert value == pytest.approx(norm.ppf(1 - (1 - confidence_level) / 2), rel=1e-12)
    assert norm.cdf(value) - norm.cdf(-value) == pytest.approx(confidence_level, rel=1e-12)


@pytest.mark.parametrize("confidence_level", LEVELS)
@pytest.mark.parametrize(("successes", "trials"), COUNTS)
def test_wilson_interval_matches_scipy(successes, trials, confidence_level):
    expected = binomtest(successes, trials).proportion_ci(confidence_level, method="wilson")
    lower, upper = stats.wilson_interval(successes, trials, confidence_level)
    assert float(lower) == pytest.approx(expected.low, abs=1e-12)
    assert float(upper) == pytest.approx(expected.high, abs=1e-12)


@pytest.mark.parametrize(
    ("successes", "trials", "lower", "upper"),
    # Newcombe (1998), Statistics in Medicine 17:857-872, Table II, Wilson score method.
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_interval_matches_published_values(successes, trials, lower, upper):
    low, high = stats.wilson_interval(successes, trials, 0.95)
    assert float(low) == pytest.approx(lower, abs=1e-4)
    assert float(high) == pytest.approx(upper, abs=1e-4)


def test_wilson_interval_is_elementwise_and_undefined_without_trials():
    successes = np.array([[0, 15], [81, 0]])
    trials = np.array([[20, 148], [263, 0]])
    lower, upper = stats.wilson_interval(successes, trials, 0.95)
    assert lower.shape == upper.shape == (2, 2)
    for index in [(0, 0), (0, 1), (1, 0)]:
        expected = stats.wilson_interval(int(successes[index]), int(trials[index]), 0.95)
        assert (lower[index], upper[index]) == (float(expected[0]), float(expected[1]))
    assert np.isnan(lower[1, 1]) and np.isnan(upper[1, 1])


@pytest.mark.parametrize(
    ("a", "n_a", "b", "n_b", "lower", "upper"),
    # Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10 (hybrid score).
    [
        (56, 70, 48, 80, 0.0524, 0.3339),
        (9, 10, 3, 10, 0.1705, 0.8090),
        (5, 56, 0, 29, -0.0381, 0.1926),
    ],
)
def test_newcombe_interval_matches_published_values(a, n_a, b, n_b, lower, upper):
    difference, low, high = stats.newcombe_interval(a, n_a, b, n_b, 0.95)
    assert float(difference) == pytest.approx(a / n_a - b / n_b, abs=1e-12)
    assert float(low) == pytest.approx(lower, abs=1e-4)
    assert float(high) == pytest.approx(upper, abs=1e-4)


@pytest.mark.parametrize("confidence_level", LEVELS)
@pytest.mark.parametrize(("successes", "trials"), COUNTS)
def test_clopper_pearson_interval_matches_scipy(successes, trials, confidence_level):
    expected = binomtest(successes, trials).proportion_ci(confidence_level, method="exact")
    lower, upper = stats.clopper_pearson_interval(successes, trials, confidence_level)
    assert float(lower) == pytest.approx(expected.low, rel=1e-9, abs=1e-15)
    assert float(upper) == pytest.approx(expected.high, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize(("k", "n"), [(0, 100), (100, 100), (0, 1000)])
def test_clopper_pearson_closed_forms_at_the_edges(k, n):
    # With 0 successes the upper end solves (1 - p)^n = 0.025; with n, the lower p^n = 0.025.
    lower, upper = stats.clopper_pearson_interval(k, n, 0.95)
    if k == 0:
        assert lower == 0.0
        assert upper == pytest.approx(1 - 0.025 ** (1 / n), rel=1e-9)
    else:
        assert upper == 1.0
        assert lower == pytest.approx(0.025 ** (1 / n), rel=1e-9)


@pytest.mark.parametrize(("k", "n"), [(3, 20), (50, 100), (7, 1000)])
def test_clopper_pearson_is_the_exact_binomial_tail_inversion(k, n):
    # Definition: P(X >= k | p = lower) = P(X <= k | p = upper) = 0.025 (binomial tails, not the
    # beta quantiles the implementation uses).
    from scipy.stats import binom

    lower, upper = stats.clopper_pearson_interval(k, n, 0.95)
    assert binom.sf(k - 1, n, lower) == pytest.approx(0.025, rel=1e-6)
    assert binom.cdf(k, n, upper) == pytest.approx(0.025, rel=1e-6)


def test_clopper_pearson_interval_is_elementwise_and_checks_its_counts():
    lower, upper = stats.clopper_pearson_interval(np.array([0, 3, 20, 0]), [20, 20, 20, 0], 0.9)
    for index, k in enumerate([0, 3, 20]):
        expected = binomtest(k, 20).proportion_ci(0.9, method="exact")
        assert lower[index] == pytest.approx(expected.low, rel=1e-9, abs=1e-15)
        assert upper[index] == pytest.approx(expected.high, rel=1e-9, abs=1e-15)
    assert np.isnan(lower[3]) and np.isnan(upper[3])
    with pytest.raises(ValueError, match="successes must be between 0 and trials"):
        stats.clopper_pearson_interval(21, 20, 0.95)


def test_roc_auc_matches_a_hand_count_of_pairs():
    # Positives 0.9 and 0.5, negatives 0.5 and 0.1: three pairs won, one tied -> 3.5 / 4.
    assert stats.roc_auc([1, 0, 1, 0], [0.9, 0.5, 0.5, 0.1]) == 0.875
    assert stats.roc_auc(np.array([True, False]), np.array([0.5, 0.5])) == 0.5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_roc_auc_matches_scikit_learn_with_ties(seed):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 2, 700)
    y_score = np.round(rng.normal(0.3 * y_true, 1), 1)  # rounding makes many ties
    expected = roc_auc_score(y_true, y_score)
    assert stats.roc_auc(y_true, y_score) == pytest.approx(expected, abs=1e-12)
    assert stats.roc_auc(y_true.astype(bool), y_score) == pytest.approx(expected, abs=1e-12)


def test_roc_auc_is_undefined_without_both_classes():
    assert math.isnan(stats.roc_auc([1, 1], [0.2, 0.3]))
    assert math.isnan(stats.roc_auc([0, 0, 0], [0.2, 0.3, 0.1]))
    assert math.isnan(stats.roc_auc([], []))


def test_auc_standard_error_matches_a_hand_computation():
    # Hanley & McNeil (1982), eq. 2, for A = 0.8 with 50 positives and 50 negatives:
    # Q1 = 0.8 / 1.2 = 0.666667, Q2 = 2 * 0.64 / 1.8 = 0.711111,
    # SE^2 = (0.16 + 49 * 0.026667 + 49 * 0.071111) / 2500 = 4.951111 / 2500 = 0.00198044.
    assert stats.auc_standard_error(0.8, 50, 50) == pytest.approx(0.0445022, abs=1e-7)
    # A = 0.9 with 20 positives and 80 negatives: Q1 = 0.818182, Q2 = 0.852632,
    # SE^2 = (0.09 + 19 * 0.008182 + 79 * 0.042632) / 1600 = 3.613349 / 1600.
    assert stats.auc_standard_error(0.9, 20, 80) == pytest.approx(math.sqrt(3.613349 / 1600), 1e-6)
    assert math.isnan(stats.auc_standard_error(NAN, 50, 50))
    assert math.isnan(stats.auc_standard_error(0.8, 0, 50))


def test_auc_standard_error_is_the_spread_of_the_auc_under_exponential_scores():
    # Hanley & McNeil's Q1, Q2 are exact for negative-exponential scores: negatives Exp(1),
    # positives Exp(1/4) have AUC 1 / (1 + 1/4) = 0.8, and the formula is the U statistic's
    # variance. 4,000 simulated samples estimate the standard deviation to about 1%.
    rng = np.random.default_rng(0)
    n_positives, n_negatives = 30, 60
    y_true = np.r_[np.ones(n_positives, bool), np.zeros(n_negatives, bool)]
    samples = np.concatenate(
        [rng.exponential(4.0, (4000, n_positives)), rng.exponential(1.0, (4000, n_negatives))],
        axis=1,
    )
    ranks = rankdata(samples, axis=1)  # no ties: U from the positives' rank sum
    aucs = (ranks[:, y_true].sum(axis=1) - n_positives * (n_positives + 1) / 2) / (
        n_positives * n_negatives
    )
    assert aucs.mean() == pytest.approx(0.8, abs=0.003)
    se = stats.auc_standard_error(0.8, n_positives, n_negatives)
    assert se == pytest.approx(aucs.std(ddof=1), rel=0.04)


def test_auc_interval_is_z_standard_errors_each_side_clipped_to_one():
    se = stats.auc_standard_error(0.8, 50, 50)
    lower, upper = stats.auc_interval(0.8, 50, 50, 0.9)
    z = norm.ppf(0.95)
    assert lower == pytest.approx(0.8 - z * se, rel=1e-12)
    assert upper == pytest.approx(0.8 + z * se, rel=1e-12)
    lower, upper = stats.auc_interval(0.99, 5, 5, 0.95)
    assert upper == 1.0 and lower < 0.99
    assert all(math.isnan(end) for end in stats.auc_interval(NAN, 5, 5, 0.95))
    assert all(math.isnan(end) for end in stats.auc_interval(0.7, 5, 0, 0.95))


@pytest.mark.parametrize("confidence_level", LEVELS)
def test_percentile_interval_matches_numpy_percentile(confidence_level):
    replicates = np.random.default_rng(4).normal(size=(1000, 3))
    lower, upper = stats.percentile_interval(replicates, confidence_level)
    tail = 100 * (1 - confidence_level) / 2
    np.testing.assert_allclose(lower, np.percentile(replicates, tail, axis=0), rtol=1e-12)
    np.testing.assert_allclose(upper, np.percentile(replicates, 100 - tail, axis=0), rtol=1e-12)


def test_percentile_interval_skips_nan_replicates():
    replicates = np.column_stack([np.arange(101.0), np.full(101, NAN)])
    replicates[::2, 0] = NAN  # keep 1, 3, ..., 99
    lower, upper = stats.percentile_interval(replicates, 0.9)
    kept = np.arange(1.0, 100.0, 2.0)
    assert lower[0] == pytest.approx(np.percentile(kept, 5))
    assert upper[0] == pytest.approx(np.percentile(kept, 95))
    assert np.isnan(lower[1]) and np.isnan(upper[1])


def test_resampled_counts_keep_the_total_and_are_seeded():
    counts = np.array([[10, 3, 4, 20], [2, 0, 1, 5]])
    replicates = stats.resample_counts(counts, 50, np.random.default_rng(1))
    assert replicates.shape == (50, 2, 4)
    np.testing.assert_array_equal(replicates.sum(axis=(1, 2)), np.full(50, counts.sum()))
    # Cells with no rows stay empty: a row cannot be drawn from an empty cell.
    assert (replicates[:, 1, 1] == 0).all()
    again = stats.resample_counts(counts, 50, np.random.default_rng(1))
    np.testing.assert_array_equal(replicates, again)
    other = stats.resample_counts(counts, 50, np.random.default_rng(2))
    assert not np.array_equal(replicates, other)


def test_resampled_counts_have_the_moments_of_a_row_bootstrap():
    # Resampling n rows puts Binomial(n, p) rows in a cell of share p, and two cells covary
    # by -n p q: the moments of a row bootstrap, checked on 20,000 replicates.
    counts = np.array([50, 30, 15, 5])
    n, p = counts.sum(), counts / counts.sum()
    replicates = stats.resample_counts(counts, 20_000, np.random.default_rng(3))
    np.testing.assert_allclose(replicates.mean(axis=0), n * p, rtol=0.02)
    expected = n * (np.diag(p) - np.outer(p, p))
    np.testing.assert_allclose(np.cov(replicates.T), expected, atol=0.05 * n * p.max())


def test_bootstrap_replicates_resample_rows_uniformly_from_the_generator():
    # Reference written without the module: draw every replicate's rows at once, then apply.
    data = np.random.default_rng(5).normal(size=(40, 3))
    rows = np.random.default_rng(6).integers(0, 40, size=(300, 40))
    expected = np.stack([data[r].mean(axis=0) for r in rows])
    replicates = stats.bootstrap_replicates(
        data, lambda rows: rows.mean(axis=0), 300, np.random.default_rng(6)
    )
    np.testing.assert_array_equal(replicates, expected)
    medians = stats.bootstrap_replicates(data[:, 0], np.median, 300, np.random.default_rng(6))
    np.testing.assert_array_equal(medians, [np.median(data[r, 0]) for r in rows])


def test_bootstrap_replicates_drawn_in_chunks_are_the_same(monkeypatch):
    data = np.arange(30.0)
    whole = stats.bootstrap_replicates(data, np.mean, 25, np.random.default_rng(8))
    monkeypatch.setattr(stats, "_BOOTSTRAP_INDICES", 7 * 30)  # chunks of 7 replicates
    chunked = stats.bootstrap_replicates(data, np.mean, 25, np.random.default_rng(8))
    np.testing.assert_array_equal(chunked, whole)


def test_bootstrap_replicates_need_a_row():
    with pytest.raises(ValueError, match="at least one row"):
        stats.bootstrap_replicates(np.empty((0, 2)), np.mean, 10, np.random.default_rng(0))


def test_percentile_bootstrap_of_a_mean_covers_the_normal_interval():
    # 2,000 rows of N(0, 1): the 95% percentile interval of the mean is close to
    # mean -/+ 1.96 / sqrt(n), whatever the resampling details.
    data = np.random.default_rng(9).normal(size=2000)
    replicates = stats.bootstrap_replicates(data, np.mean, 2000, np.random.default_rng(10))
    lower, upper = stats.percentile_interval(replicates, 0.95)
    half = norm.ppf(0.975) * data.std(ddof=1) / math.sqrt(len(data))
    assert lower == pytest.approx(data.mean() - half, abs=0.1 * half)
    assert upper == pytest.approx(data.mean() + half, abs=0.1 * half)


@pytest.mark.parametrize("drawn", [1, 7, 400])
def test_hypergeometric_sf_matches_scipy(drawn):
    from scipy.stats import hypergeom

    k = np.arange(-1, drawn + 2)
    expected = hypergeom.sf(k - 1, 5_000, 700, drawn)
    got = stats.hypergeometric_sf(k, 5_000, 700, drawn)
    assert got == pytest.approx(expected, rel=1e-8, abs=1e-300)
