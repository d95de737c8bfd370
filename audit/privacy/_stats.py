"""Statistics of membership-inference attacks: ROC table, empirical ε, DP trade-off curve.

Pure functions of arrays and counts, no model and no state (the attacks live in
:mod:`raikit.audit.privacy` and :mod:`raikit.audit.privacy._lira`; the ROC AUC, its interval
and the Clopper–Pearson interval are the shared ones of :mod:`raikit.audit.stats`). Scores
follow one convention everywhere: a higher score means "more likely a member", and an attack at
threshold ``t`` says "member" when ``score >= t``.

The empirical ε lower bound follows Jagielski et al. (2020) and Nasr et al. (2021): an
(ε, δ)-DP training algorithm forces every membership test to satisfy
``TPR <= e^ε FPR + δ`` and ``TNR <= e^ε FNR + δ``, so an attack's observed rates give
``ε >= log((TPR - δ) / FPR)`` and ``ε >= log((TNR - δ) / FNR)``. Plugging in point estimates
would overstate ε; plugging in the Clopper–Pearson lower bound of the numerator rate and the
upper bound of the denominator rate makes the result a lower bound that holds with the stated
confidence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from raikit.audit.stats import clopper_pearson_interval


@dataclass(frozen=True)
class RocTable:
    """Counts of an attack at every threshold, highest threshold first.

    ``true_positives[i]`` members and ``false_positives[i]`` non-members score at least
    ``thresholds[i]``; the first row is the threshold above every score (0 and 0).
    """

    thresholds: np.ndarray
    true_positives: np.ndarray
    false_positives: np.ndarray
    n_members: int
    n_nonmembers: int

    @property
    def tpr(self) -> np.ndarray:
        return self.true_positives / self.n_members

    @property
    def fpr(self) -> np.ndarray:
        return self.false_positives / self.n_nonmembers


def roc_table(member_scores: np.ndarray, nonmember_scores: np.ndarray) -> RocTable:
    """Every distinct threshold of the pooled scores with its true and false positive counts."""
    members = np.asarray(member_scores, dtype=np.float64)
    nonmembers = np.asarray(nonmember_scores, dtype=np.float64)
    thresholds = np.unique(np.concatenate([members, nonmembers]))[::-1]
    # Count of scores >= t for every t: searchsorted on the ascending scores.
    sorted_m, sorted_n = np.sort(members), np.sort(nonmembers)
    tp = len(members) - np.searchsorted(sorted_m, thresholds, side="left")
    fp = len(nonmembers) - np.searchsorted(sorted_n, thresholds, side="left")
    return RocTable(
        thresholds=np.concatenate([[np.inf], thresholds]),
        true_positives=np.concatenate([[0], tp]).astype(np.int64),
        false_positives=np.concatenate([[0], fp]).astype(np.int64),
        n_members=len(members),
        n_nonmembers=len(nonmembers),
    )


def tpr_at_fpr(table: RocTable, target_fpr: float) -> tuple[int, int]:
    """The most true positives over thresholds whose false positive rate is at most ``target_fpr``.

    Returns
    -------
    (true_positives, false_positives) : tuple of int
        At the chosen threshold; ``(0, 0)`` when even one false positive exceeds the target.
    """
    allowed = table.false_positives <= target_fpr * table.n_nonmembers + 1e-9
    index = int(np.flatnonzero(allowed)[-1])  # counts grow down the table
    return int(table.true_positives[index]), int(table.false_positives[index])


def best_balanced_accuracy(table: RocTable) -> tuple[float, int]:
    """The highest ``(TPR + TNR) / 2`` over thresholds, and the row index where it is reached."""
    balanced = (table.tpr + 1.0 - table.fpr) / 2.0
    index = int(np.argmax(balanced))
    return float(balanced[index]), index


def nonmembers_to_resolve(target_fpr: float, confidence: float = 0.95) -> tuple[int, int]:
    """Non-members needed before an FPR of ``target_fpr`` means something.

    Returns
    -------
    (observable, certifiable) : tuple of int
        ``observable``: ``ceil(1 / target_fpr)``, below which one false positive already
        exceeds the target, so the rate cannot be resolved at all. ``certifiable``: the fewest
        non-members with which zero false positives puts the Clopper–Pearson upper bound of the
        FPR at or below the target (``1 - ((1 - confidence) / 2) ** (1 / n) <= target_fpr``).
    """
    observable = math.ceil(1.0 / target_fpr - 1e-9)
    alpha = (1.0 - confidence) / 2
    certifiable = math.ceil(math.log(alpha) / math.log(1.0 - target_fpr) - 1e-9)
    return observable, certifiable


@dataclass(frozen=True)
class EpsilonBound:
    """An empirical ε lower bound and where it was reached."""

    epsilon: float
    threshold_index: int | None
    form: str | None  # "tpr/fpr" or "tnr/fnr"
    tpr_lower: float | None
    fpr_upper: float | None


def epsilon_lower_bound(
    true_positives: np.ndarray,
    false_positives: np.ndarray,
    n_members: int,
    n_nonmembers: int,
    delta: float,
    confidence: float = 0.95,
    n_comparisons: int | None = None,
) -> EpsilonBound:
    """Largest ε that the attack's counts prove, at the given confidence.

    For every threshold ``i``: ``TPR_lo`` and ``FPR_hi`` are the ends of Clopper–Pearson
    intervals of ``TP_i / n_members`` and ``FP_i / n_nonmembers``; the bound is the maximum
    over thresholds of ``log((TPR_lo - δ) / FPR_hi)`` and of the symmetric
    ``log((TNR_lo - δ) / FNR_hi)`` with ``TNR_lo = 1 - FPR_hi`` and ``FNR_hi = 1 - TPR_lo``,
    floored at 0.

    Parameters
    ----------
    true_positives, false_positives : array of int
        Counts at each candidate threshold.
    n_members, n_nonmembers : int
        Members and non-members attacked.
    delta : float
        δ of the guarantee tested (0 for a model without one).
    confidence : float
        Confidence that the returned value is below the true ε.
    n_comparisons : int, optional
        Number of thresholds (over all attacks) the maximum is taken over; each interval is then
        widened to level ``1 - (1 - confidence) / n_comparisons`` (Bonferroni), so that all of
        them hold together and the maximum is itself a valid bound. ``None``: the number of
        thresholds given. Pass 1 for the classical per-threshold 95% form.

    Returns
    -------
    EpsilonBound
    """
    tp = np.asarray(true_positives, dtype=np.int64)
    fp = np.asarray(false_positives, dtype=np.int64)
    comparisons = len(tp) if n_comparisons is None else n_comparisons
    level = 1.0 - (1.0 - confidence) / max(comparisons, 1)
    tpr_lower, _ = clopper_pearson_interval(tp, n_members, level)
    _, fpr_upper = clopper_pearson_interval(fp, n_nonmembers, level)
    best = EpsilonBound(0.0, None, None, None, None)
    for index, (tpr_lo, fpr_hi) in enumerate(
        zip(tpr_lower.tolist(), fpr_upper.tolist(), strict=True)
    ):
        candidates = (
            ("tpr/fpr", tpr_lo - delta, fpr_hi),
            ("tnr/fnr", (1.0 - fpr_hi) - delta, 1.0 - tpr_lo),
        )
        for form, numerator, denominator in candidates:
            if numerator <= 0 or denominator <= 0:
                continue
            value = math.log(numerator / denominator)
            if value > best.epsilon:
                best = EpsilonBound(value, index, form, tpr_lo, fpr_hi)
    return best


def candidate_thresholds(table: RocTable, max_thresholds: int = 64) -> np.ndarray:
    """Row indices of ``table`` spread over log-spaced false positive rates.

    The ε bound is a maximum over thresholds, so every extra threshold widens each interval
    (Bonferroni); a few dozen thresholds concentrated at low FPR, where ε is proven, lose
    little power. Chosen from the FPR grid alone, never from the bound itself.
    """
    n = table.n_nonmembers
    if len(table.thresholds) <= max_thresholds:
        return np.arange(len(table.thresholds))
    levels = np.unique(
        np.concatenate([[0.0], np.logspace(math.log10(1.0 / max(n, 1)), 0.0, max_thresholds - 1)])
    )
    rows = []
    for level in levels:
        allowed = np.flatnonzero(table.false_positives <= level * n + 1e-9)
        rows.append(int(allowed[-1]))
    return np.unique(rows)


def dp_tpr_bound(fpr: np.ndarray | float, epsilon: float, delta: float) -> np.ndarray:
    """Highest TPR any membership test can reach at ``fpr`` against an (ε, δ)-DP algorithm.

    ``min(e^ε FPR + δ, 1 - e^-ε (1 - δ - FPR))``, clipped to [0, 1] (Kairouz et al. 2015).
    """
    x = np.asarray(fpr, dtype=np.float64)
    bound = np.minimum(math.exp(epsilon) * x + delta, 1.0 - math.exp(-epsilon) * (1.0 - delta - x))
    return np.clip(bound, 0.0, 1.0)


def dp_max_auc(epsilon: float, delta: float, n_points: int = 20_001) -> float:
    """Largest ROC AUC any attack can reach against an (ε, δ)-DP algorithm: the bound's area."""
    grid = np.linspace(0.0, 1.0, n_points)
    tpr = dp_tpr_bound(grid, epsilon, delta)
    return float(np.sum((tpr[1:] + tpr[:-1]) * np.diff(grid)) / 2)  # trapezoids
