"""Pure maths of group fairness from confusion-cell counts: metrics, intervals, disparities.

Every binary group metric raikit reports (selection rate, TPR, FPR, FNR, precision,
accuracy) is a ratio of sums of the four confusion cells of a group. A row bootstrap
therefore only changes those cell counts, so the disparity intervals resample the
(group x cell) table (:func:`raikit.audit.stats.resample_counts`) instead of the rows, at a
cost independent of the number of rows. A single group's rate is a proportion, so its interval
is the Wilson score interval (:func:`raikit.audit.stats.wilson_interval`); disparities
(differences and ratios across groups) have no closed form and use the bootstrap.

Layout: a count table has shape ``(..., n_groups, 4)``; the last axis holds the cells in the
order of :data:`CELLS`, i.e. cell index ``2 * y_true + y_pred``. Functions here are pure:
numpy in, numpy out, no state, no warnings.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from raikit.audit.stats import wilson_interval

CELLS = ("true_negative", "false_positive", "false_negative", "true_positive")

# Which cells form the denominator of each metric; a zero denominator makes it undefined.
_DENOMINATORS = {
    "selection_rate": (0, 1, 2, 3),
    "true_positive_rate": (2, 3),
    "false_positive_rate": (0, 1),
    "false_negative_rate": (2, 3),
    "precision": (1, 3),
    "accuracy": (0, 1, 2, 3),
}
_NUMERATORS = {
    "selection_rate": (1, 3),
    "true_positive_rate": (3,),
    "false_positive_rate": (1,),
    "false_negative_rate": (2,),
    "precision": (3,),
    "accuracy": (0, 3),
}
METRIC_NAMES = tuple(_DENOMINATORS)
#: The group rates each disparity compares.
DISPARITY_RATES = {
    "demographic_parity_difference": ("selection_rate",),
    "demographic_parity_ratio": ("selection_rate",),
    "equalized_odds_difference": ("true_positive_rate", "false_positive_rate"),
    "equal_opportunity_difference": ("true_positive_rate",),
}


def cell_counts(
    group_codes: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, n_groups: int
) -> np.ndarray:
    """Count rows per (group, confusion cell).

    Parameters
    ----------
    group_codes : numpy.ndarray of int
        Group of each row, in ``range(n_groups)``.
    y_true, y_pred : numpy.ndarray of 0/1
        Binary truth and decision of each row.
    n_groups : int
        Number of groups (rows of the table, including groups with no rows).

    Returns
    -------
    numpy.ndarray of int64, shape (n_groups, 4)
        Counts of true negatives, false positives, false negatives, true positives.
    """
    # One bincount over a combined key is a single O(n) pass, far cheaper than a groupby.
    key = np.asarray(group_codes, dtype=np.int64) * 4
    key += 2 * np.asarray(y_true, dtype=np.int64) + np.asarray(y_pred, dtype=np.int64)
    return np.bincount(key, minlength=4 * n_groups).reshape(n_groups, 4)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    # NaN where the denominator is zero: the figure is undefined, not zero.
    out = np.full(np.shape(numerator), np.nan)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def metrics_from_counts(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Compute every group metric from cell counts.

    Parameters
    ----------
    counts : numpy.ndarray, shape (..., 4)
        Cell counts (any leading shape, e.g. replicates x groups).

    Returns
    -------
    dict of str to numpy.ndarray of float, shape ``counts.shape[:-1]``
        One array per name in :data:`METRIC_NAMES`; NaN where the denominator is zero
        (no actual positives for TPR/FNR, no actual negatives for FPR, no predicted
        positives for precision, no rows for selection rate and accuracy).
    """
    counts = np.asarray(counts, dtype=np.float64)
    return {
        name: _ratio(
            counts[..., list(_NUMERATORS[name])].sum(axis=-1),
            counts[..., list(_DENOMINATORS[name])].sum(axis=-1),
        )
        for name in METRIC_NAMES
    }


def denominators(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Rows in the denominator of every group metric, from cell counts ``(..., 4)``.

    A rate is only as certain as its denominator: a group of 500 rows with one actual positive
    has a true positive rate resting on one row.
    """
    counts = np.asarray(counts)
    return {name: counts[..., list(_DENOMINATORS[name])].sum(axis=-1) for name in METRIC_NAMES}


def group_metric_intervals(
    counts: np.ndarray, confidence_level: float
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Wilson interval of every group metric from cell counts ``(..., 4)``."""
    counts = np.asarray(counts, dtype=np.float64)
    return {
        name: wilson_interval(
            counts[..., list(_NUMERATORS[name])].sum(axis=-1),
            counts[..., list(_DENOMINATORS[name])].sum(axis=-1),
            confidence_level,
        )
        for name in METRIC_NAMES
    }


def _range(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # NaN-aware max and min over the group axis, and how many groups were defined;
    # written with where= rather than nanmax so that all-NaN rows do not warn.
    defined = ~np.isnan(values)
    n_defined = defined.sum(axis=-1)
    high = np.max(np.where(defined, values, -np.inf), axis=-1)
    low = np.min(np.where(defined, values, np.inf), axis=-1)
    return high, low, n_defined


def _spread(values: np.ndarray) -> np.ndarray:
    high, low, n_defined = _range(values)
    # A difference needs two groups to compare; with fewer the figure is undefined.
    return np.where(n_defined >= 2, high - low, np.nan)


def disparities_from_rates(rates: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Compute the between-group disparities from group metrics.

    Groups whose metric is NaN are left out, as fairlearn's ``MetricFrame.difference``
    does; a disparity with fewer than two defined groups is NaN.

    Parameters
    ----------
    rates : mapping of str to numpy.ndarray, shape (..., n_groups)
        At least ``selection_rate``, ``true_positive_rate`` and ``false_positive_rate``.

    Returns
    -------
    dict of str to numpy.ndarray of float, shape (...)
        ``demographic_parity_difference`` (max - min selection rate),
        ``demographic_parity_ratio`` (min / max selection rate; NaN when the max is 0),
        ``equalized_odds_difference`` (the larger of the TPR and FPR differences; NaN if
        either is NaN) and ``equal_opportunity_difference`` (TPR difference).
    """
    selection = np.asarray(rates["selection_rate"], dtype=np.float64)
    high, low, n_defined = _range(selection)
    tpr_difference = _spread(np.asarray(rates["true_positive_rate"], dtype=np.float64))
    fpr_difference = _spread(np.asarray(rates["false_positive_rate"], dtype=np.float64))
    return {
        "demographic_parity_difference": _spread(selection),
        "demographic_parity_ratio": np.where(n_defined >= 2, _ratio(low, high), np.nan),
        # np.maximum propagates NaN: equalized odds needs both differences.
        "equalized_odds_difference": np.maximum(tpr_difference, fpr_difference),
        "equal_opportunity_difference": tpr_difference,
    }
