"""Counterfactual fairness tests: change only who a row is about, and see if the decision moves.

Tabular: the sensitive column is set to a value of each other group (the groups of
:mod:`raikit.audit.groups`; a binned column to the median of the target group) with everything
else fixed (optionally the strongest proxies of the attribute too, each set to the value most
typical of the target group). Rows whose value is missing are a group that is changed like the
others but is no target: "unknown" is not someone a row could be about. Text: every identity
term of the lexicon found in a text is replaced by each other term of its swap set. A fair
model's decision does not change.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from raikit.audit.groups import MISSING_GROUP, SensitiveAttribute
from raikit.audit.proxies import Proxy
from raikit.audit.robustness._decisions import Scored, score, score_change
from raikit.audit.robustness._lexicon import Lexicon, swapped_texts
from raikit.audit.robustness.result import (
    FlipStat,
    ProxyChange,
    TabularCounterfactual,
    TermSwap,
    TextCounterfactual,
)
from raikit.audit.stats import bootstrap_replicates, percentile_interval, wilson_interval
from raikit.audit.types import Interval
from raikit.models.schema import label_text


def _typical_value(series: pd.Series) -> tuple[object, str]:
    """The value most typical of ``series`` and how it was chosen."""
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    if numeric and series.nunique() > 10:
        median = series.median()
        if pd.api.types.is_integer_dtype(series):
            median = int(round(float(median)))
        return median, "set to the median of the target group"
    return series.mode(dropna=True).iloc[0], "set to the most common value in the target group"


def _column_means(rows: np.ndarray) -> np.ndarray:
    # Column by column: numpy sums a 1-D column pairwise, its most accurate order.
    return np.array([column.mean() for column in rows.T])


def _group_value(series: pd.Series) -> object:
    """The value a row is given to put it in the group of ``series``: the group's one value,
    or for a band of numbers its median (whole for an integer column, so still in the band)."""
    values = series.dropna()
    if values.nunique() == 1:
        return values.iloc[0]
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        median = values.median()
        return int(round(float(median))) if pd.api.types.is_integer_dtype(values) else median
    return values.mode().iloc[0]


def _flip_stat(
    name: str,
    flips: np.ndarray,
    changes: np.ndarray,
    *,
    n_bootstrap: int,
    confidence_level: float,
    min_group_size: int,
    rng: np.random.Generator,
) -> FlipStat:
    """Mean flip rate and score change over rows, with bootstrap intervals over rows.

    When every row's flip is 0 or 1 (two groups, or one swap a text) the flip rate is a plain
    proportion and gets the Wilson interval, which stays honest at 0 and 1 where a
    percentile bootstrap collapses to a point.
    """
    values = np.column_stack([flips, changes])
    mean, lower, upper = np.full(2, np.nan), np.full(2, np.nan), np.full(2, np.nan)
    if len(values):
        mean = values.mean(axis=0)
        replicates = bootstrap_replicates(values, _column_means, n_bootstrap, rng)
        lower, upper = percentile_interval(replicates, confidence_level)
        if np.isin(flips, (0.0, 1.0)).all():
            lower[0], upper[0] = wilson_interval(int(flips.sum()), len(flips), confidence_level)
    return FlipStat(
        name=name,
        n=len(values),
        flip_rate=Interval(value=mean[0], lower=lower[0], upper=upper[0]),
        mean_score_change=Interval(value=mean[1], lower=lower[1], upper=upper[1]),
        small=len(values) < min_group_size,
    )


def tabular_counterfactual(
    predictor,
    frame: pd.DataFrame,
    attribute: SensitiveAttribute,
    *,
    features: Sequence[str],
    threshold: float,
    proxies: Sequence[Proxy] = (),
    n_bootstrap: int,
    confidence_level: float,
    min_group_size: int,
    rng: np.random.Generator,
    original: Scored | None = None,
) -> TabularCounterfactual:
    """Re-score every row with the sensitive column set to a value of each other group.

    Parameters
    ----------
    predictor : Predictor
        Scores raw rows.
    frame : pandas.DataFrame
        The audited rows (index ignored).
    attribute : SensitiveAttribute
        The sensitive column's groups over the rows of ``frame``.
    features : sequence of str
        The model's input columns (says whether the attribute is one).
    threshold : float
        Decision threshold on P(positive) for binary models.
    proxies : sequence of Proxy
        Proxies changed alongside the attribute; empty for the attribute-only variant.
    n_bootstrap, confidence_level, min_group_size, rng
        Interval settings; groups smaller than ``min_group_size`` are marked small.
    original : Scored, optional
        The scores of ``frame`` when already computed.

    Returns
    -------
    TabularCounterfactual
        Per original group: the share of (row, other group) pairs whose decision flips and
        the mean score change, each with a bootstrap interval over rows.
    """
    frame = frame.reset_index(drop=True)
    column, codes, labels = attribute.name, attribute.codes, attribute.labels
    original = original if original is not None else score(predictor, frame, threshold)
    n = len(frame)
    flip_sum = np.zeros(n)
    change_sum = np.zeros(n)
    times_changed = np.zeros(n)
    changes_made: dict[str, ProxyChange] = {}
    target_values: dict[str, str] = {}
    transitions = []
    for target_code, target in enumerate(labels):
        rows = np.flatnonzero(codes != target_code)
        if target == MISSING_GROUP or len(rows) == 0:
            continue
        in_target = frame[codes == target_code]
        value = _group_value(in_target[column])
        target_values[target] = label_text(value)
        changed = frame.iloc[rows].copy()
        changed[column] = value
        for proxy in proxies:
            typical, how = _typical_value(in_target[proxy.feature])
            changed[proxy.feature] = typical
            changes_made[proxy.feature] = ProxyChange(
                feature=proxy.feature,
                adjusted_mutual_information=proxy.adjusted_mutual_information,
                how=how,
            )
        rescored = score(predictor, changed, threshold)
        flips = (rescored.decision != original.decision[rows]).astype(np.float64)
        deltas = score_change(original, rescored, rows)
        flip_sum[rows] += flips
        change_sum[rows] += deltas
        times_changed[rows] += 1
        for source_code, source in enumerate(labels):
            mask = codes[rows] == source_code
            if not mask.any():
                continue
            low, high = wilson_interval(int(flips[mask].sum()), int(mask.sum()), confidence_level)
            transitions.append(
                FlipStat(
                    name=f"{source} -> {target}",
                    n=int(mask.sum()),
                    flip_rate=Interval(value=flips[mask].mean(), lower=low, upper=high),
                    mean_score_change=Interval(value=deltas[mask].mean()),
                    small=int(mask.sum()) < min_group_size,
                )
            )
    times_changed = np.maximum(times_changed, 1)
    per_row_flips, per_row_changes = flip_sum / times_changed, change_sum / times_changed
    settings = {
        "n_bootstrap": n_bootstrap,
        "confidence_level": confidence_level,
        "min_group_size": min_group_size,
        "rng": rng,
    }
    groups = [
        _flip_stat(label, per_row_flips[rows], per_row_changes[rows], **settings)
        for label, rows in attribute.rows_by_group()
    ]
    return TabularCounterfactual(
        attribute=column,
        variant="attribute_and_proxies" if proxies else "attribute",
        attribute_is_input=column in features,
        target_values=target_values,
        proxies=[changes_made[p.feature] for p in proxies if p.feature in changes_made],
        overall=_flip_stat("all rows", per_row_flips, per_row_changes, **settings),
        groups=groups,
        transitions=transitions,
    )


def text_counterfactual(
    predictor,
    frame: pd.DataFrame,
    text_column: str,
    lexicon: Lexicon,
    *,
    source: str,
    threshold: float,
    n_bootstrap: int,
    confidence_level: float,
    min_group_size: int,
    rng: np.random.Generator,
    original: Scored | None = None,
) -> TextCounterfactual:
    """Swap every identity term of every text with the other terms of its set and re-score.

    The overall and per-category flip rates average, over the texts holding a term, the
    share of that text's swaps that flip its decision (bootstrap intervals over texts);
    each term pair's flip rate is over its swaps (Wilson interval).
    """
    frame = frame.reset_index(drop=True)
    texts = frame[text_column].astype(str).tolist()
    rows, categories, terms, replacements, new_texts = [], [], [], [], []
    for row, text in enumerate(texts):
        for category, term, replacement, new in swapped_texts(text, lexicon):
            rows.append(row)
            categories.append(category)
            terms.append(term)
            replacements.append(replacement)
            new_texts.append(new)
    rows_array = np.asarray(rows, dtype=np.int64)
    settings = {
        "n_bootstrap": n_bootstrap,
        "confidence_level": confidence_level,
        "min_group_size": min_group_size,
        "rng": rng,
    }
    if not rows:
        empty = _flip_stat("all texts", np.zeros(0), np.zeros(0), **settings)
        return TextCounterfactual(
            source=source,
            text_column=text_column,
            n_texts=len(texts),
            n_texts_with_terms=0,
            n_swaps=0,
            overall=empty,
            categories=[],
            swaps=[],
        )
    original = original if original is not None else score(predictor, frame, threshold)
    changed = frame.iloc[rows_array].copy()
    changed[text_column] = new_texts
    rescored = score(predictor, changed, threshold)
    flips = (rescored.decision != original.decision[rows_array]).astype(np.float64)
    deltas = score_change(original, rescored, rows_array)
    swaps_table = pd.DataFrame(
        {
            "row": rows_array,
            "category": categories,
            "term": terms,
            "replacement": replacements,
            "flip": flips,
            "change": deltas,
        }
    )

    def per_text(table: pd.DataFrame, name: str) -> FlipStat:
        means = table.groupby("row")[["flip", "change"]].mean()
        return _flip_stat(name, means["flip"].to_numpy(), means["change"].to_numpy(), **settings)

    swap_stats = []
    for (category, term, replacement), group in swaps_table.groupby(
        ["category", "term", "replacement"], sort=True
    ):
        low, high = wilson_interval(int(group["flip"].sum()), len(group), confidence_level)
        swap_stats.append(
            TermSwap(
                category=category,
                term=term,
                replacement=replacement,
                n=len(group),
                flip_rate=Interval(value=group["flip"].mean(), lower=low, upper=high),
                mean_score_change=float(group["change"].mean()),
            )
        )
    return TextCounterfactual(
        source=source,
        text_column=text_column,
        n_texts=len(texts),
        n_texts_with_terms=int(swaps_table["row"].nunique()),
        n_swaps=len(swaps_table),
        overall=per_text(swaps_table, "all texts"),
        categories=[
            per_text(group, str(category))
            for category, group in swaps_table.groupby("category", sort=True)
        ],
        swaps=swap_stats,
    )
