"""Shared statistics of every assessment: intervals, ROC AUC and the bootstrap.

One implementation of each, used by every concern:

- :func:`two_sided_z`: the normal quantile of a two-sided confidence level;
- proportions: :func:`wilson_interval` (Wilson 1927), which stays honest at rates of 0 or 1 and
  in small groups, and :func:`clopper_pearson_interval` (Clopper & Pearson 1934), exact, for
  bounds that must hold whatever the sample size; :func:`newcombe_interval` (Newcombe 1998) for
  the difference of two proportions, from their Wilson intervals;
- tests: :func:`hypergeometric_sf`, the one-sided tail of Fisher's exact test, vectorised;
- ROC AUC: :func:`roc_auc` (rank-based, ties count one half), with the Hanley & McNeil (1982)
  :func:`auc_standard_error` and :func:`auc_interval`;
- bootstrap: :func:`resample_counts` (a multinomial draw of a count table, the same bootstrap
  as resampling the rows behind it), :func:`bootstrap_replicates` (a statistic over row
  resamples) and :func:`percentile_interval`.

Functions here are pure: numpy in, numpy or float out; the only state is a
``numpy.random.Generator`` passed in by the caller. Domain maths stays with its concern
(fairness metrics from cell counts, the empirical ε bound of membership inference, the bias
AUCs of Borkan et al.) and calls these.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

# Row indices drawn at once by the row bootstrap: bounds memory at ~40 MB of indices.
_BOOTSTRAP_INDICES = 5_000_000


def two_sided_z(confidence_level: float) -> float:
    """Standard normal quantile ``z`` such that ``P(-z <= Z <= z) = confidence_level``.

    Parameters
    ----------
    confidence_level : float
        Coverage in (0, 1).

    Returns
    -------
    float
        ``Phi^-1(0.5 + confidence_level / 2)``, e.g. 1.959964 at 0.95.

    Examples
    --------
    >>> round(two_sided_z(0.95), 6)
    1.959964
    """
    from scipy.stats import norm

    return float(norm.ppf(0.5 + confidence_level / 2.0))


def wilson_interval(
    successes: ArrayLike, trials: ArrayLike, confidence_level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of the proportion ``successes / trials`` (Wilson 1927).

    Parameters
    ----------
    successes, trials : array_like of int
        Counts, broadcast against each other.
    confidence_level : float
        Coverage in (0, 1).

    Returns
    -------
    lower, upper : numpy.ndarray of float
        Of the broadcast shape (0-d for scalar counts), within [0, 1]; NaN where ``trials`` is 0.

    Examples
    --------
    >>> lower, upper = wilson_interval(0, 20, 0.95)  # Newcombe (1998), Table II
    >>> round(float(lower), 4), round(float(upper), 4)
    (0.0, 0.1611)
    """
    z = two_sided_z(confidence_level)
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


def newcombe_interval(
    successes_a: ArrayLike,
    trials_a: ArrayLike,
    successes_b: ArrayLike,
    trials_b: ArrayLike,
    confidence_level: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Difference of two independent proportions ``a - b`` with Newcombe's hybrid score interval.

    Newcombe (1998), method 10: each end combines the two Wilson intervals,
    ``d - sqrt((p_a - l_a)^2 + (u_b - p_b)^2)`` and ``d + sqrt((u_a - p_a)^2 + (p_b - l_b)^2)``;
    it keeps its coverage in small samples and at rates near 0 or 1, where the Wald interval
    does not.

    Parameters
    ----------
    successes_a, trials_a, successes_b, trials_b : array_like of int
        Counts of the two samples, broadcast against each other.
    confidence_level : float
        Coverage in (0, 1).

    Returns
    -------
    difference, lower, upper : numpy.ndarray of float
        NaN where either sample is empty.

    Examples
    --------
    >>> d, lower, upper = newcombe_interval(56, 70, 48, 80, 0.95)  # Newcombe (1998), Table II
    >>> round(float(d), 4), round(float(lower), 4), round(float(upper), 4)
    (0.2, 0.0524, 0.3339)
    """
    trials_a = np.asarray(trials_a, dtype=np.float64)
    trials_b = np.asarray(trials_b, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p_a = np.asarray(successes_a, dtype=np.float64) / trials_a
        p_b = np.asarray(successes_b, dtype=np.float64) / trials_b
    lower_a, upper_a = wilson_interval(successes_a, trials_a, confidence_level)
    lower_b, upper_b = wilson_interval(successes_b, trials_b, confidence_level)
    difference = p_a - p_b
    lower = difference - np.sqrt((p_a - lower_a) ** 2 + (upper_b - p_b) ** 2)
    upper = difference + np.sqrt((upper_a - p_a) ** 2 + (p_b - lower_b) ** 2)
    return difference, lower, upper


def clopper_pearson_interval(
    successes: ArrayLike, trials: ArrayLike, confidence_level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Exact two-sided binomial interval of ``successes / trials`` (Clopper & Pearson 1934).

    Each end fails with probability at most ``(1 - confidence_level) / 2``, whatever the
    number of trials: the ends are beta quantiles, ``0`` when there are no successes and ``1``
    when every trial succeeds.

    Parameters
    ----------
    successes, trials : array_like of int
        Counts with ``0 <= successes <= trials``, broadcast against each other.
    confidence_level : float
        Coverage in (0, 1).

    Returns
    -------
    lower, upper : numpy.ndarray of float
        Of the broadcast shape (0-d for scalar counts); NaN where ``trials`` is 0.

    Raises
    ------
    ValueError
        When a count of successes is negative or exceeds its trials.

    Examples
    --------
    >>> lower, upper = clopper_pearson_interval(0, 100, 0.95)
    >>> round(float(upper), 4)  # 1 - 0.025 ** (1 / 100)
    0.0362
    """
    from scipy.stats import beta

    k, n = np.broadcast_arrays(np.asarray(successes), np.asarray(trials))
    if np.any((k < 0) | (k > n)):
        raise ValueError(f"successes must be between 0 and trials; got {k} of {n}")
    tail = (1.0 - confidence_level) / 2.0
    # Where an end is fixed (0 or 1) or undefined, any valid beta parameters do: masked below.
    lower = np.where(k == 0, 0.0, beta.ppf(tail, np.maximum(k, 1), n - k + 1))
    upper = np.where(k == n, 1.0, beta.ppf(1.0 - tail, k + 1, np.maximum(n - k, 1)))
    empty = n == 0
    return np.where(empty, np.nan, lower), np.where(empty, np.nan, upper)


def hypergeometric_sf(
    k: ArrayLike, n_population: ArrayLike, n_marked: ArrayLike, n_drawn: ArrayLike
) -> np.ndarray:
    """``P(X >= k)`` for ``X`` hypergeometric: ``n_drawn`` draws, ``n_marked`` of ``n_population``.

    The one-sided p-value of Fisher's exact test of a 2 x 2 table with these margins. It equals
    ``scipy.stats.hypergeom.sf(k - 1, n_population, n_marked, n_drawn)``, which loops in Python
    over its arguments (seconds for a few thousand tables); here every table advances at once.
    Each tail is summed from its far side of the mean, from ``k`` outwards with the ratio of
    successive probabilities, until the terms no longer change the sum.

    Parameters
    ----------
    k, n_population, n_marked, n_drawn : array_like of int
        Broadcast against each other.

    Returns
    -------
    numpy.ndarray of float
        In [0, 1], of the broadcast shape.

    Examples
    --------
    >>> round(float(hypergeometric_sf(3, 10, 4, 5)), 6)  # (C(4,3)C(6,2) + C(4,4)C(6,1)) / C(10,5)
    0.261905
    """
    from scipy.special import gammaln

    arrays = np.broadcast_arrays(k, n_population, n_marked, n_drawn)
    shape = arrays[0].shape
    k, population, marked, drawn = (a.astype(np.float64).reshape(-1) for a in arrays)
    other = population - marked
    lowest, highest = np.maximum(0, drawn - other), np.minimum(drawn, marked)
    result = np.where(k <= lowest, 1.0, 0.0)
    inside = (k > lowest) & (k <= highest)
    upper = inside & (k > drawn * marked / np.maximum(population, 1))
    lower = inside & ~upper

    def log_choose(n, r):
        return gammaln(n + 1) - gammaln(r + 1) - gammaln(n - r + 1)

    def log_pmf(x, rows):
        n, m, o, d = population[rows], marked[rows], other[rows], drawn[rows]
        return log_choose(m, x) + log_choose(o, d - x) - log_choose(n, d)

    for rows, step in ((np.flatnonzero(upper), 1), (np.flatnonzero(lower), -1)):
        start = k[rows] if step == 1 else k[rows] - 1
        m, o, d = marked[rows], other[rows], drawn[rows]
        total, term, x = np.ones(len(rows)), np.ones(len(rows)), start.copy()
        active = np.ones(len(rows), dtype=bool)
        while active.any():
            a = np.flatnonzero(active)
            xa = x[a]
            if step == 1:  # P(x + 1) / P(x)
                ratio = (m[a] - xa) * (d[a] - xa) / ((xa + 1) * (o[a] - d[a] + xa + 1))
            else:  # P(x - 1) / P(x)
                ratio = xa * (o[a] - d[a] + xa) / ((m[a] - xa + 1) * (d[a] - xa + 1))
            term[a] *= ratio
            total[a] += term[a]
            x[a] += step
            active[a] = term[a] > 1e-17 * total[a]
        tail = np.exp(log_pmf(start, rows)) * total
        result[rows] = tail if step == 1 else 1.0 - tail
    return np.clip(result, 0.0, 1.0).reshape(shape)


def roc_auc(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """Area under the ROC curve: P(a positive outscores a negative), ties counting one half.

    Computed from ranks (the Mann-Whitney U statistic over ``n_positives * n_negatives``),
    which equals the trapezoidal area under the empirical ROC curve.

    Parameters
    ----------
    y_true : array_like of bool or 0/1
        Which rows are positives.
    y_score : array_like of float
        Scores; a higher score means "more likely positive".

    Returns
    -------
    float
        NaN when there are no positives or no negatives.

    Examples
    --------
    >>> roc_auc([1, 0, 1, 0], [0.9, 0.5, 0.5, 0.1])  # 3 pairs won, 1 tied
    0.875
    """
    from scipy.stats import rankdata

    positive = np.asarray(y_true, dtype=bool)
    n_positives = int(positive.sum())
    n_negatives = len(positive) - n_positives
    if n_positives == 0 or n_negatives == 0:
        return math.nan
    ranks = rankdata(np.asarray(y_score, dtype=np.float64))  # average ranks: a tie is one half
    u = ranks[positive].sum() - n_positives * (n_positives + 1) / 2
    return float(u / (n_positives * n_negatives))


def auc_standard_error(auc: float, n_positives: int, n_negatives: int) -> float:
    """Standard error of an ROC AUC (Hanley & McNeil 1982, equation 2).

    ``SE^2 = (A(1 - A) + (n_p - 1)(Q1 - A^2) + (n_n - 1)(Q2 - A^2)) / (n_p n_n)`` with
    ``Q1 = A / (2 - A)`` and ``Q2 = 2A^2 / (1 + A)``.

    Parameters
    ----------
    auc : float
        The area ``A``.
    n_positives, n_negatives : int
        Positives and negatives it was computed from.

    Returns
    -------
    float
        NaN when ``auc`` is NaN or either count is 0.

    Examples
    --------
    >>> round(auc_standard_error(0.8, 50, 50), 4)
    0.0445
    """
    if math.isnan(auc) or n_positives == 0 or n_negatives == 0:
        return math.nan
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    variance = (
        auc * (1 - auc) + (n_positives - 1) * (q1 - auc**2) + (n_negatives - 1) * (q2 - auc**2)
    ) / (n_positives * n_negatives)
    return math.sqrt(max(variance, 0.0))


def auc_interval(
    auc: float, n_positives: int, n_negatives: int, confidence_level: float
) -> tuple[float, float]:
    """Normal-approximation interval of an ROC AUC with the Hanley & McNeil standard error.

    Parameters
    ----------
    auc : float
        The area.
    n_positives, n_negatives : int
        Positives and negatives it was computed from.
    confidence_level : float
        Coverage in (0, 1).

    Returns
    -------
    lower, upper : float
        ``auc -/+ z * SE`` clipped to [0, 1]; NaN when the standard error is undefined.
    """
    standard_error = auc_standard_error(auc, n_positives, n_negatives)
    if math.isnan(standard_error):
        return math.nan, math.nan
    half = two_sided_z(confidence_level) * standard_error
    return max(0.0, auc - half), min(1.0, auc + half)


def resample_counts(counts: np.ndarray, n_bootstrap: int, rng: np.random.Generator) -> np.ndarray:
    """Draw bootstrap replicates of a count table.

    Drawing ``n`` rows with replacement from ``n`` rows only changes how many fall in each cell,
    and those counts follow a multinomial with probabilities ``count / n``. Resampling the table
    is therefore the same bootstrap as resampling the rows, at a cost independent of ``n``.

    Parameters
    ----------
    counts : numpy.ndarray of int
        Observed counts, any shape (e.g. groups x confusion cells, or a confusion matrix).
    n_bootstrap : int
        Number of replicates.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray of int64, shape ``(n_bootstrap, *counts.shape)``
        Replicated counts; each replicate sums to ``counts.sum()``.
    """
    counts = np.asarray(counts, dtype=np.int64)
    n = int(counts.sum())
    flat = counts.reshape(-1)
    draws = rng.multinomial(n, flat / n, size=n_bootstrap)
    return draws.reshape((n_bootstrap, *counts.shape))


def bootstrap_replicates(
    data: np.ndarray,
    statistic: Callable[[np.ndarray], ArrayLike],
    n_bootstrap: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """A statistic over resamples of the rows of ``data`` (Efron's bootstrap).

    Replicate ``b`` is ``statistic(data[rows_b])`` with ``rows_b`` drawn uniformly with
    replacement; the rows of all replicates come from one stream of ``rng``, drawn in chunks
    so memory stays bounded however many rows there are.

    Parameters
    ----------
    data : numpy.ndarray, shape (n_rows, ...)
        At least one row; the first axis is resampled.
    statistic : callable
        Maps a resample (same shape as ``data``) to a float or a fixed-shape array.
    n_bootstrap : int
        Number of replicates.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray of float, shape ``(n_bootstrap, *statistic_shape)``
        One statistic per replicate, ready for :func:`percentile_interval`.
    """
    n = len(data)
    if n == 0:
        raise ValueError("the bootstrap needs at least one row; got 0")
    chunk = max(1, _BOOTSTRAP_INDICES // n)
    replicates = []
    for start in range(0, n_bootstrap, chunk):
        rows = rng.integers(0, n, size=(min(chunk, n_bootstrap - start), n))
        replicates.extend(statistic(data[resample]) for resample in rows)
    return np.asarray(replicates, dtype=np.float64)


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
