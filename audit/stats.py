"""Shared statistics of every assessment: the bootstrap and its intervals.

A row bootstrap of a figure built from counts only changes the counts, and drawing ``n`` rows
with replacement from ``n`` rows is exactly a multinomial draw of the counts with probabilities
``count / n`` (:func:`resample_counts`). A proportion gets the Wilson score interval
(:func:`wilson_interval`), which stays honest at rates of 0 or 1 and in small groups, where a
percentile bootstrap (:func:`percentile_interval`) collapses to a point.

Functions here are pure: numpy in, numpy out, no state, no warnings.
"""

from __future__ import annotations

import warnings

import numpy as np


def resample_counts(counts: np.ndarray, n_bootstrap: int, rng: np.random.Generator) -> np.ndarray:
    """Draw bootstrap replicates of a count table.

    Equivalent in distribution to resampling the underlying rows with replacement.

    Parameters
    ----------
    counts : numpy.ndarray of int, shape (n_groups, 4)
        Observed cell counts.
    n_bootstrap : int
        Number of replicates.
    rng : numpy.random.Generator
        Source of randomness; the only state involved, passed in by the caller.

    Returns
    -------
    numpy.ndarray of int64, shape (n_bootstrap, n_groups, 4)
        Replicated cell counts; each replicate sums to the number of rows.
    """
    counts = np.asarray(counts, dtype=np.int64)
    n = int(counts.sum())
    flat = counts.reshape(-1)
    draws = rng.multinomial(n, flat / n, size=n_bootstrap)
    return draws.reshape((n_bootstrap, *counts.shape))


def wilson_interval(
    successes: np.ndarray, trials: np.ndarray, confidence_level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of ``successes / trials`` (Wilson 1927); NaN where trials is 0.

    Parameters
    ----------
    successes, trials : numpy.ndarray
        Counts of the same shape.
    confidence_level : float
        Coverage in (0, 1).

    Returns
    -------
    lower, upper : numpy.ndarray
    """
    from scipy.stats import norm

    z = norm.ppf(0.5 + confidence_level / 2.0)
    successes = np.asarray(successes, dtype=np.float64)
    trials = np.asarray(trials, dtype=np.float64)
    safe = np.where(trials > 0, trials, 1.0)
    p = successes / safe
    denominator = 1.0 + z**2 / safe
    centre = (p + z**2 / (2.0 * safe)) / denominator
    half = z / denominator * np.sqrt(p * (1.0 - p) / safe + z**2 / (4.0 * safe**2))
    undefined = trials <= 0
    lower = np.where(undefined, np.nan, np.clip(centre - half, 0.0, 1.0))
    upper = np.where(undefined, np.nan, np.clip(centre + half, 0.0, 1.0))
    return lower, upper


def percentile_interval(
    replicates: np.ndarray, confidence_level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval over the first axis, skipping NaN replicates.

    Parameters
    ----------
    replicates : numpy.ndarray, shape (n_bootstrap, ...)
        One figure per replicate; NaN marks a replicate where it was undefined.
    confidence_level : float
        Coverage in (0, 1), e.g. 0.95 for the 2.5th and 97.5th percentiles.

    Returns
    -------
    lower, upper : numpy.ndarray, shape ``replicates.shape[1:]``
        NaN where every replicate was undefined.
    """
    tail = (1.0 - confidence_level) / 2.0
    with warnings.catch_warnings():
        # All-NaN slices are expected (an undefined figure); the NaN result says so.
        warnings.simplefilter("ignore", RuntimeWarning)
        lower, upper = np.nanquantile(
            np.asarray(replicates, dtype=np.float64), [tail, 1.0 - tail], axis=0
        )
    return lower, upper
