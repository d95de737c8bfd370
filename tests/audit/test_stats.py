"""Shared statistics against independent references: scipy, scikit-learn, numpy and hand counts."""

from __future__ import annotations

import numpy as np
import pytest

from raikit.audit import stats

NAN = float("nan")


def test_percentile_interval_matches_numpy_and_skips_nan():
    replicates = np.column_stack([np.arange(101.0), np.full(101, NAN)])
    replicates[::2, 0] = NAN  # keep 1, 3, ..., 99
    lower, upper = stats.percentile_interval(replicates, 0.9)
    kept = np.arange(1.0, 100.0, 2.0)
    assert lower[0] == pytest.approx(np.quantile(kept, 0.05))
    assert upper[0] == pytest.approx(np.quantile(kept, 0.95))
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
    low, high = stats.wilson_interval(np.array(successes), np.array(trials), 0.95)
    assert float(low) == pytest.approx(lower, abs=1e-4)
    assert float(high) == pytest.approx(upper, abs=1e-4)
