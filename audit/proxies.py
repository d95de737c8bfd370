"""Proxies of a sensitive attribute: the features that carry the most information about it.

A model that never reads ``race`` can still lean on ``zip code``. The strength of each
feature as a proxy is the normalised mutual information between the feature (numeric
columns cut into quantile bins) and the sensitive column, estimated on the audited rows:
0 when the two are independent, 1 when either determines the other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import normalized_mutual_info_score

DEFAULT_BINS = 10
# NMI this strong marks a feature as a proxy worth naming (a copy of the attribute gives 1).
DEFAULT_PROXY_THRESHOLD = 0.1


@dataclass(frozen=True)
class Proxy:
    """One feature's association with one sensitive column."""

    sensitive: str
    feature: str
    normalized_mutual_information: float


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
        Sorted by normalised mutual information, highest first (ties by feature name).
    """
    target = _codes(frame[sensitive], bins)
    proxies = [
        Proxy(
            sensitive,
            feature,
            float(normalized_mutual_info_score(target, _codes(frame[feature], bins))),
        )
        for feature in features
        if feature != sensitive
    ]
    return sorted(proxies, key=lambda p: (-p.normalized_mutual_information, p.feature))


def strong_proxies(
    frame: pd.DataFrame,
    sensitive: str,
    features: list[str],
    *,
    threshold: float = DEFAULT_PROXY_THRESHOLD,
    limit: int = 3,
) -> list[Proxy]:
    """At most ``limit`` features whose association with ``sensitive`` reaches ``threshold``."""
    ranked = rank_proxies(frame, sensitive, features)
    return [p for p in ranked if p.normalized_mutual_information >= threshold][:limit]
