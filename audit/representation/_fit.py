"""Goodness of fit of a column's group counts to the reference shares.

Pearson's chi-square test when every expected count is at least
:data:`MIN_EXPECTED_COUNT` (Cochran's rule, under which its p-value is accurate); otherwise the
exact multinomial test (the probability, under the reference shares, of counts no more likely
than those observed), estimated from :data:`MONTE_CARLO_DRAWS` seeded draws because the
outcomes are too many to enumerate.
"""

from __future__ import annotations

import numpy as np

from raikit.audit.representation.result import FitTest

#: Smallest expected count at which the chi-square approximation is trusted (Cochran 1954).
MIN_EXPECTED_COUNT = 5.0
#: Draws of the Monte Carlo exact multinomial test: its p-value is within ±0.007 (95%) of the
#: exact one at p = 0.5, far closer near 0.
MONTE_CARLO_DRAWS = 20_000
# Outcomes this much likelier in log-probability count as ties (rounding of logpmf).
_LOG_TOLERANCE = 1e-7


def goodness_of_fit(
    observed: np.ndarray, shares: np.ndarray, rng: np.random.Generator
) -> FitTest | None:
    """Test whether counts ``observed`` could be a sample of a population with ``shares``.

    Parameters
    ----------
    observed : numpy.ndarray of int
        Rows of each group.
    shares : numpy.ndarray of float
        Reference share of each group, summing to 1.
    rng : numpy.random.Generator
        Draws of the Monte Carlo exact test.

    Returns
    -------
    FitTest or None
        ``None`` when there is no row, or a single group (nothing to test).
    """
    from scipy.stats import chisquare, multinomial

    observed = np.asarray(observed, dtype=np.int64)
    n = int(observed.sum())
    if n == 0 or len(observed) < 2:
        return None
    expected = n * np.asarray(shares, dtype=np.float64)
    smallest = float(expected.min())
    if smallest >= MIN_EXPECTED_COUNT:
        statistic, p_value = chisquare(observed, expected)
        return FitTest(
            method="chi_square",
            statistic=float(statistic),
            degrees_of_freedom=len(observed) - 1,
            p_value=float(p_value),
            reason=f"every expected count is at least {MIN_EXPECTED_COUNT:g}",
        )
    draws = rng.multinomial(n, shares, size=MONTE_CARLO_DRAWS)
    log_observed = multinomial.logpmf(observed, n, shares)
    as_extreme = int((multinomial.logpmf(draws, n, shares) <= log_observed + _LOG_TOLERANCE).sum())
    return FitTest(
        method="exact_multinomial",
        statistic=None,
        degrees_of_freedom=len(observed) - 1,
        p_value=(as_extreme + 1) / (MONTE_CARLO_DRAWS + 1),
        n_draws=MONTE_CARLO_DRAWS,
        reason=f"an expected count is {smallest:.3g}, below {MIN_EXPECTED_COUNT:g}: the "
        "chi-square approximation is unreliable there",
    )


def ratio_interval(
    share: np.ndarray, lower: np.ndarray, upper: np.ndarray, reference: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Representation ratio (data share / reference share) and its interval.

    The reference share is a constant, so the ratio's interval is the share's interval
    divided by it: it has the share interval's coverage.
    """
    reference = np.asarray(reference, dtype=np.float64)
    return share / reference, lower / reference, upper / reference
