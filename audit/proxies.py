"""Proxies of a sensitive attribute: the features that carry the most information about it.

A model that never reads ``race`` can still lean on ``zip code``. The strength of each
feature as a proxy is the adjusted mutual information between the feature (numeric columns
cut into quantile bins) and the sensitive column, estimated on the audited rows: 1 when
either determines the other, and 0 for what chance alone gives. Plain normalised mutual
information is biased upwards on small samples with many groups (with 48 rows and 8 groups,
an independent binary feature passes an NMI of 0.1 in about one sample in seven), so it
would name proxies that are not. A proxy must also be significant, Bonferroni-corrected
over the candidates, so that testing forty words on forty-eight rows does not turn chance
into a proxy: the G-test of independence (2 N MI against chi-squared) when every expected
cell count is at least 5, a seeded permutation test of the mutual information otherwise
(the chi-squared approximation is too optimistic on sparse tables).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

DEFAULT_BINS = 10
# Adjusted MI this strong marks a feature as a proxy worth naming (a copy gives 1).
DEFAULT_PROXY_THRESHOLD = 0.1
# Family-wise error rate of calling any candidate a proxy by chance.
DEFAULT_ALPHA = 0.05
PERMUTATIONS = 2000
MIN_EXPECTED_COUNT = 5


@dataclass(frozen=True)
class Proxy:
    """One feature's association with one sensitive column."""

    sensitive: str
    feature: str
    adjusted_mutual_information: float
    p_value: float = 1.0


def _codes(series: pd.Series, bins: int) -> np.ndarray:
    """Integer codes: quantile bins for numbers with many values, categories otherwise."""
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    if numeric and series.nunique(dropna=True) > bins:
        binned = pd.qcut(series.rank(method="first"), q=bins, labels=False)
        return binned.fillna(-1).to_numpy(dtype=np.int64)
    return pd.factorize(series.astype("string").fillna("__missing__"))[0]


def rank_proxies(
    frame: pd.DataFrame,
    sensitive: str,
    features: list[str],
    *,
    bins: int = DEFAULT_BINS,
) -> list[Proxy]:
    """Every feature other than ``sensitive``, strongest proxy first.

    Parameters
    ----------
    frame : pandas.DataFrame
        Rows holding ``sensitive`` and ``features``.
    sensitive : str
        The sensitive column.
    features : list of str
        Candidate proxies (the model's input columns); ``sensitive`` itself is skipped.
    bins : int
        Quantile bins for numeric features with more distinct values than this.

    Returns
    -------
    list of Proxy
        Sorted by adjusted mutual information, highest first (ties by feature name).
    """
    target = _codes(frame[sensitive], bins)
    proxies = [
        _proxy(sensitive, feature, target, _codes(frame[feature], bins))
        for feature in features
        if feature != sensitive
    ]
    return sorted(proxies, key=lambda p: (-p.adjusted_mutual_information, p.feature))


def _proxy(sensitive: str, feature: str, target: np.ndarray, codes: np.ndarray) -> Proxy:
    from sklearn.metrics import adjusted_mutual_info_score

    # Below-chance agreement (negative) means no association, not a negative one.
    adjusted = max(0.0, float(adjusted_mutual_info_score(target, codes)))
    return Proxy(sensitive, feature, adjusted, _independence_p_value(target, codes))


def _independence_p_value(target: np.ndarray, codes: np.ndarray) -> float:
    from scipy.stats import chi2
    from sklearn.metrics import mutual_info_score

    target = np.unique(target, return_inverse=True)[1]
    codes = np.unique(codes, return_inverse=True)[1]
    rows, columns, n = target.max() + 1, codes.max() + 1, len(target)
    if rows < 2 or columns < 2:
        return 1.0
    expected = np.outer(np.bincount(target), np.bincount(codes)) / n
    observed = mutual_info_score(target, codes)
    if expected.min() >= MIN_EXPECTED_COUNT:
        # G-test: 2 N MI (in nats) is chi-squared with (r - 1)(c - 1) degrees of freedom.
        return float(chi2.sf(2 * n * observed, (rows - 1) * (columns - 1)))
    shuffled = np.random.default_rng(0).permuted(np.tile(target, (PERMUTATIONS, 1)), axis=1)
    as_extreme = np.sum(_mutual_information(shuffled, codes, rows, columns) >= observed - 1e-12)
    return float((1 + as_extreme) / (1 + PERMUTATIONS))


def _mutual_information(
    targets: np.ndarray, codes: np.ndarray, rows: int, columns: int
) -> np.ndarray:
    """Mutual information (nats) of each row of ``targets`` with ``codes``, vectorised."""
    count, n = len(targets), targets.shape[1]
    cells = (targets * columns + codes) + (np.arange(count) * rows * columns)[:, None]
    joint = np.bincount(cells.ravel(), minlength=count * rows * columns)
    joint = joint.reshape(count, rows, columns) / n
    outer = joint.sum(axis=2, keepdims=True) * joint.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(joint > 0, joint * np.log(joint / outer), 0.0)
    return terms.sum(axis=(1, 2))


def strong_proxies(
    frame: pd.DataFrame,
    sensitive: str,
    features: list[str],
    *,
    threshold: float = DEFAULT_PROXY_THRESHOLD,
    limit: int = 3,
    alpha: float = DEFAULT_ALPHA,
) -> list[Proxy]:
    """At most ``limit`` features associated with ``sensitive`` at least ``threshold`` strongly
    and significantly (G-test p-value below ``alpha`` over the number of candidates)."""
    ranked = rank_proxies(frame, sensitive, features)
    cutoff = alpha / max(1, len(ranked))
    return [
        p for p in ranked if p.adjusted_mutual_information >= threshold and p.p_value <= cutoff
    ][:limit]
