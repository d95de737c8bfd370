"""From per-row attributions to what the report shows: global importance with bootstrap
intervals, per-group importance, reliance on sensitive columns and their proxies, and the
choice of rows to explain one by one.

Pure numpy/pandas: no model is called here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from raikit.audit.explain._ig import Attributions
from raikit.audit.explain.result import (
    FeatureImportance,
    GroupImportance,
    GroupReliance,
    ProxyReliance,
    SensitiveReliance,
)
from raikit.audit.groups import SensitiveAttribute
from raikit.audit.proxies import strong_proxies
from raikit.audit.stats import bootstrap_replicates, percentile_interval
from raikit.audit.types import Interval

MAX_TEXT_FEATURES = 40


def unit_matrix(attributions: Attributions, kind: str) -> tuple[list[str], np.ndarray]:
    """``(feature names, |attribution| matrix rows x features)``; words are lower-cased."""
    if kind != "text":
        return list(attributions.units[0]), np.abs(np.stack(attributions.scores))
    totals: dict[str, float] = {}
    for words, scores in zip(attributions.units, attributions.scores, strict=True):
        for word, score in zip(words, scores, strict=True):
            totals[word.lower()] = totals.get(word.lower(), 0.0) + abs(float(score))
    vocabulary = sorted(totals, key=lambda w: (-totals[w], w))
    index = {w: i for i, w in enumerate(vocabulary)}
    matrix = np.zeros((len(attributions.units), len(vocabulary)))
    for row, (words, scores) in enumerate(
        zip(attributions.units, attributions.scores, strict=True)
    ):
        for word, score in zip(words, scores, strict=True):
            matrix[row, index[word.lower()]] += abs(float(score))
    return vocabulary, matrix


@dataclass(frozen=True)
class Bootstrap:
    """Settings of the row bootstrap behind every interval.

    Each interval reseeds its generator, so every statistic is resampled on the same rows and
    the intervals are comparable.
    """

    n_bootstrap: int
    confidence_level: float
    seed: int

    def _replicates(self, matrix: np.ndarray, statistic: Callable) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        return bootstrap_replicates(matrix, statistic, self.n_bootstrap, rng)

    def interval(self, statistic: Callable[[np.ndarray], float], matrix: np.ndarray) -> Interval:
        """``statistic(matrix_rows) -> float`` with its percentile interval."""
        value = statistic(matrix)
        if len(matrix) < 2:
            return Interval(value=value)
        replicates = self._replicates(matrix, statistic)
        lower, upper = percentile_interval(replicates, self.confidence_level)
        return Interval(value=value, lower=lower, upper=upper)

    def means(self, matrix: np.ndarray) -> list[Interval]:
        """Mean of every column, with intervals."""
        values = matrix.mean(axis=0)
        if len(matrix) < 2:
            return [Interval(value=float(v)) for v in values]
        replicates = self._replicates(matrix, lambda rows: rows.mean(axis=0))
        lower, upper = percentile_interval(replicates, self.confidence_level)
        return [
            Interval(value=float(v), lower=float(lo), upper=float(up))
            for v, lo, up in zip(values, lower, upper, strict=True)
        ]


def share_of(columns: list[int]):
    """The statistic "part of all mean |attribution| that falls on ``columns``"."""

    def statistic(matrix: np.ndarray) -> float:
        total = matrix.sum()
        return float(matrix[:, columns].sum() / total) if total > 0 else float("nan")

    return statistic


def global_importance(
    names: list[str], matrix: np.ndarray, bootstrap: Bootstrap, limit: int | None
) -> list[FeatureImportance]:
    """Features by mean |attribution|, most important first (at most ``limit``)."""
    keep = np.argsort(-matrix.mean(axis=0), kind="stable")[:limit]
    total = matrix.mean(axis=0).sum()
    intervals = bootstrap.means(matrix[:, keep])
    return [
        FeatureImportance(
            feature=names[j],
            importance=interval,
            share=float(matrix[:, j].mean() / total) if total > 0 else 0.0,
            n_rows_present=int((matrix[:, j] > 0).sum()),
        )
        for j, interval in zip(keep, intervals, strict=True)
    ]


def group_importance(
    names: list[str], matrix: np.ndarray, groups: list[SensitiveAttribute], top: int
) -> list[GroupImportance]:
    """Each group's share of attribution per feature, over the ``top`` features overall."""
    keep = np.argsort(-matrix.mean(axis=0), kind="stable")[:top]
    out = []
    for attribute in groups:
        for group, rows in attribute.rows_by_group():
            sub = matrix[rows]
            total = sub.sum()
            out.append(
                GroupImportance(
                    attribute=attribute.name,
                    group=group,
                    n_rows=len(rows),
                    shares={
                        names[j]: float(sub[:, j].sum() / total) if total > 0 else 0.0 for j in keep
                    },
                )
            )
    return out


def _text_proxy_frame(
    attributions: Attributions, names: list[str], sample: pd.DataFrame, attribute: str
) -> pd.DataFrame:
    """Presence (0/1) of each of the most attributed words, beside the sensitive column."""
    words = names[:MAX_TEXT_FEATURES]
    present = [{w.lower() for w in row} for row in attributions.units]
    frame = pd.DataFrame({w: [int(w in row) for row in present] for w in words})
    frame[attribute] = sample[attribute].to_numpy()
    return frame


def reliance(
    attributions: Attributions,
    kind: str,
    names: list[str],
    matrix: np.ndarray,
    sample: pd.DataFrame,
    population: pd.DataFrame,
    groups: list[SensitiveAttribute],
    bootstrap: Bootstrap,
) -> list[SensitiveReliance]:
    """Reliance on each sensitive column and on its strongest proxies, overall and per group.

    Tabular: the column's own share (when the model reads it) and its proxies among the model's
    columns, found by :func:`raikit.audit.proxies.strong_proxies` on ``population``. Text: the
    share of words naming the column's groups, and proxies among the most attributed words.
    """
    position = {n: i for i, n in enumerate(names)}
    out = []
    for attribute_groups in groups:
        attribute = attribute_groups.name
        if kind == "text":
            terms = {str(v).lower() for v in population[attribute].dropna().unique()}
            own = [position[w] for w in terms if w in position]
            candidates = [w for w in names[:MAX_TEXT_FEATURES] if w not in terms]
            proxy_frame = _text_proxy_frame(attributions, names, sample, attribute)
            proxies = strong_proxies(proxy_frame, attribute, candidates)
        else:
            own = [position[attribute]] if attribute in position else []
            candidates = [n for n in names if n in population.columns and n != attribute]
            proxies = strong_proxies(population, attribute, candidates)
        proxy_columns = [position[p.feature] for p in proxies]
        by_group = []
        for group, rows in attribute_groups.rows_by_group():
            by_group.append(
                GroupReliance(
                    group=group,
                    n_rows=len(rows),
                    sensitive_share=_nan_to_zero(share_of(own)(matrix[rows])),
                    proxy_share=_nan_to_zero(share_of(proxy_columns)(matrix[rows])),
                )
            )
        out.append(
            SensitiveReliance(
                attribute=attribute,
                model_reads_attribute=bool(own),
                sensitive_share=bootstrap.interval(share_of(own), matrix) if own else None,
                proxies=[
                    ProxyReliance(
                        feature=p.feature,
                        adjusted_mutual_information=p.adjusted_mutual_information,
                        share=bootstrap.interval(share_of([position[p.feature]]), matrix),
                    )
                    for p in proxies
                ],
                proxy_share=bootstrap.interval(share_of(proxy_columns), matrix),
                by_group=by_group,
            )
        )
    return out


def _nan_to_zero(value: float) -> float:
    return 0.0 if value != value else value


def choose_rows(
    probabilities: np.ndarray,
    y_true: np.ndarray | None,
    groups: SensitiveAttribute | None,
    per_group: int,
    max_groups: int = 6,
) -> list[tuple[int, str, str, str]]:
    """``(position, kind, why, group)``: per group the most confident errors and the borderline
    rows (smallest margin between the two most probable classes)."""
    predicted = probabilities.argmax(axis=1)
    ordered = np.sort(probabilities, axis=1)
    margin = ordered[:, -1] - (ordered[:, -2] if probabilities.shape[1] > 1 else 0)
    if groups is None:
        buckets = [("all rows", np.arange(len(probabilities)))]
    else:
        buckets = sorted(groups.rows_by_group(), key=lambda g: -len(g[1]))[:max_groups]
    chosen: list[tuple[int, str, str, str]] = []
    taken: set[int] = set()
    for group, rows in buckets:
        if y_true is not None:
            wrong = rows[predicted[rows] != y_true[rows]]
            confident = wrong[np.argsort(-ordered[wrong, -1], kind="stable")]
            for position in [int(p) for p in confident if p not in taken][:per_group]:
                probability = probabilities[position, predicted[position]]
                why = f"wrong, with probability {probability:.2f} for the predicted class"
                chosen.append((position, "confident_error", why, group))
                taken.add(position)
        close = rows[np.argsort(margin[rows], kind="stable")]
        for position in [int(p) for p in close if p not in taken][:per_group]:
            why = f"borderline: the top two classes are {margin[position]:.2f} apart"
            chosen.append((position, "borderline", why, group))
            taken.add(position)
    return chosen
