"""Representation: who the data holds, against the population it should represent.

For each sensitive column and for their intersection: each group's rows and share of the data
with a Wilson interval, the share of its rows with the positive label (base rate), and, for a
column the reference gives shares for (:mod:`._reference`), the representation ratio (data
share / reference share) with an interval and a goodness-of-fit test (:mod:`._fit`). Empty and
small intersectional cells, and the missing values of every column by group (data quality by
group), are reported too.

Public surface: :func:`assess_representation`, :class:`RepresentationConfig`,
:class:`Reference`, :func:`load_reference` and the result types. In the audit: the
``representation`` assessment (:data:`ASSESSMENT`), measuring the ``diversity`` concern; each
group's ``representation_ratio`` can be gated, and the policy's ``min_representation_ratio``
(:class:`raikit.audit.policy.Limits`) decides which groups are under-represented.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import numpy as np

from raikit.audit.assessment import (
    Assessment,
    AuditContext,
    Measure,
    MeasuredRisk,
    ReportSection,
)
from raikit.audit.policy import DEFAULT_LIMITS
from raikit.audit.representation._fit import goodness_of_fit, ratio_interval
from raikit.audit.representation._reference import (
    Reference,
    check_reference,
    load_reference,
)
from raikit.audit.representation.result import (
    AttributeRepresentation,
    FitTest,
    GroupMissing,
    GroupShare,
    MissingValues,
    RepresentationResult,
)
from raikit.audit.stats import wilson_interval
from raikit.audit.types import Finding, Interval
from raikit.models.settings import ConfidenceLevel, MinGroupSize, Seed, Settings

if TYPE_CHECKING:
    import pandas as pd

    from raikit.audit.groups import Grouping, SensitiveAttribute
    from raikit.audit.policy import Limits

__all__ = [
    "AttributeRepresentation",
    "FitTest",
    "GroupMissing",
    "GroupShare",
    "MissingValues",
    "Reference",
    "RepresentationConfig",
    "RepresentationResult",
    "assess_representation",
    "load_reference",
]

#: Most empty or small cells a finding or the result lists by name.
MAX_LISTED = 20


class RepresentationConfig(Settings):
    """Options of :func:`assess_representation`.

    Parameters
    ----------
    reference : Reference
        The population's shares (:func:`load_reference`).
    min_group_size : int, default 30
        Groups and intersectional cells with fewer rows are flagged small.
    confidence_level : float, default 0.95
        Coverage of every interval.
    seed : int, default 0
        Seed of the Monte Carlo exact test.
    """

    reference: Reference
    min_group_size: MinGroupSize = 30
    confidence_level: ConfidenceLevel = 0.95
    seed: Seed = 0


def _finding(severity: str, code: str, message: str) -> Finding:
    return Finding(concern="diversity", severity=severity, code=code, message=message)


def _interval(value: float, bounds: tuple[np.ndarray, np.ndarray], i: int) -> Interval:
    return Interval(value=value, lower=bounds[0][i], upper=bounds[1][i])


def _percent(interval: Interval) -> str:
    return f"{interval.value:.1%} [{interval.lower:.1%}, {interval.upper:.1%}]"


def _listed(labels: list[str]) -> str:
    shown = ", ".join(f"'{label}'" for label in labels[:MAX_LISTED])
    return shown + (f" and {len(labels) - MAX_LISTED} more" if len(labels) > MAX_LISTED else "")


def _group_shares(
    attribute: SensitiveAttribute,
    shares: dict[str, float] | None,
    positives: np.ndarray | None,
    labelled: np.ndarray | None,
    config: RepresentationConfig,
) -> tuple[list[GroupShare], int]:
    """Each group with a known value (and each reference group with no row), and the rows
    with a missing value."""
    from raikit.audit.groups import MISSING_GROUP

    k = len(attribute.groups)
    known = np.asarray([MISSING_GROUP not in g.values() for g in attribute.groups], dtype=bool)
    labels = [label for label, ok in zip(attribute.labels, known, strict=True) if ok]
    # A reference group with no row in the data is a group of 0 rows, not left out.
    absent = [g for g in shares if g not in labels] if shares is not None else []
    padding = np.zeros(len(absent))
    all_counts = np.bincount(attribute.codes, minlength=k)
    counts = np.concatenate([all_counts[known], padding]).astype(np.int64)
    n_known = int(counts.sum())
    share_bounds = wilson_interval(counts, n_known, config.confidence_level)
    share = counts / n_known if n_known else np.full(len(counts), np.nan)
    compared = shares is not None and n_known > 0
    if compared:
        reference = np.asarray([shares[label] for label in labels + absent])
        ratio, *ratio_bounds = ratio_interval(share, *share_bounds, reference)
    if positives is not None:
        hits = np.concatenate([np.bincount(attribute.codes, positives, k)[known], padding])
        rated = np.concatenate([np.bincount(attribute.codes, labelled, k)[known], padding])
        rate = np.divide(hits, rated, out=np.full(len(hits), np.nan), where=rated > 0)
        rate_bounds = wilson_interval(hits, rated, config.confidence_level)
    groups = [
        GroupShare(
            label=label,
            count=int(counts[i]),
            share=_interval(share[i], share_bounds, i),
            reference_share=float(reference[i]) if compared else None,
            ratio=_interval(ratio[i], ratio_bounds, i) if compared else None,
            base_rate=_interval(rate[i], rate_bounds, i) if positives is not None else None,
            small=counts[i] < config.min_group_size,
        )
        for i, label in enumerate(labels + absent)
    ]
    return groups, int(all_counts[~known].sum())


def _ratio_findings(
    attribute: str, groups: list[GroupShare], n_known: int, limit: float
) -> list[Finding]:
    """Under-represented groups, and those the data cannot tell about."""
    findings = []
    for group in groups:
        if group.ratio is None or group.ratio.value >= limit:
            continue
        evidence = (
            f"{_percent(group.share)} of the rows with a known {attribute} "
            f"({group.count:,} of {n_known:,}) against {group.reference_share:.1%} in the "
            f"reference; representation ratio {group.ratio.value:.2f} "
            f"[{group.ratio.lower:.2f}, {group.ratio.upper:.2f}]"
        )
        if group.ratio.upper < limit:
            message = (
                f"group '{attribute}={group.label}' is under-represented: {evidence}, below "
                f"the min_representation_ratio {limit:g}"
            )
            findings.append(_finding("warning", "under_represented", message))
        else:
            message = (
                f"cannot conclude whether group '{attribute}={group.label}' is "
                f"under-represented: {evidence}; its interval reaches above the "
                f"min_representation_ratio {limit:g}, so the data cannot tell"
            )
            findings.append(_finding("info", "representation_uncertain", message))
    return findings


def _assess_attribute(
    attribute: SensitiveAttribute,
    positives: np.ndarray | None,
    labelled: np.ndarray | None,
    config: RepresentationConfig,
    limit: float,
    rng: np.random.Generator,
) -> tuple[AttributeRepresentation, list[Finding]]:
    single = len(attribute.columns) == 1
    shares = config.reference.columns.get(attribute.name) if single else None
    groups, n_missing = _group_shares(attribute, shares, positives, labelled, config)
    n_known = sum(g.count for g in groups)
    findings = _ratio_findings(attribute.name, groups, n_known, limit)
    small = [g.label for g in groups if 0 < g.count < config.min_group_size]
    if small:
        what = "groups" if single else "cells"
        message = (
            f"{len(small)} {what} of '{attribute.name}' have fewer than "
            f"{config.min_group_size} rows, too few to conclude anything about them: "
            f"{_listed(small)}"
        )
        findings.append(_finding("warning", f"small_{what}", message))
    if n_missing:
        message = (
            f"{n_missing:,} rows have no value for '{attribute.name}' and are left out of "
            "its shares"
        )
        findings.append(_finding("warning", "missing_sensitive", message))
    empty = [] if single else _empty_cells(attribute)
    if empty:
        message = (
            f"{len(empty)} combinations of {' × '.join(attribute.columns)} have no row: the "
            f"data says nothing about them: {_listed(empty)}"
        )
        findings.append(_finding("warning", "empty_cells", message))
    if single and shares is None:
        message = f"the reference gives no shares for '{attribute.name}': it is not compared"
        findings.append(_finding("info", "no_reference", message))
    fit = None
    if groups and groups[0].ratio is not None:
        counts = np.asarray([g.count for g in groups])
        fit = goodness_of_fit(counts, np.asarray([g.reference_share for g in groups]), rng)
    result = AttributeRepresentation(
        attribute=attribute.name,
        columns=attribute.columns,
        binning=attribute.binning,
        n_known=n_known,
        n_missing=n_missing,
        groups=groups,
        fit=fit,
        empty=empty[:MAX_LISTED],
        n_empty=len(empty),
    )
    return result, findings


def _empty_cells(attribute: SensitiveAttribute) -> list[str]:
    """Combinations of the columns' known groups that no row holds."""
    from raikit.audit.groups import MISSING_GROUP

    values = [
        list(dict.fromkeys(g[c] for g in attribute.groups if g[c] != MISSING_GROUP))
        for c in attribute.columns
    ]
    seen = {tuple(g.values()) for g in attribute.groups}
    return [
        " & ".join(f"{c}={v}" for c, v in zip(attribute.columns, combo, strict=True))
        for combo in itertools.product(*values)
        if combo not in seen
    ]


def _missing_values(
    frame: pd.DataFrame, attribute: SensitiveAttribute, config: RepresentationConfig
) -> tuple[list[MissingValues], list[Finding]]:
    """Missing values of every other column, by the groups of ``attribute``."""
    rows = np.bincount(attribute.codes, minlength=len(attribute.groups))
    results, findings = [], []
    for column in frame.columns:
        missing = frame[column].isna().to_numpy()
        if str(column) == attribute.name or not missing.any():
            continue
        counts = np.bincount(attribute.codes, weights=missing, minlength=len(rows))
        lower, upper = wilson_interval(counts, rows, config.confidence_level)
        groups = [
            GroupMissing(
                label=label,
                rows=int(rows[i]),
                missing=int(counts[i]),
                share=Interval(value=counts[i] / rows[i], lower=lower[i], upper=upper[i]),
            )
            for i, label in enumerate(attribute.labels)
        ]
        results.append(MissingValues(column=str(column), attribute=attribute.name, groups=groups))
        compared = [g for g in groups if g.rows >= config.min_group_size]
        if len(compared) >= 2:
            most = max(compared, key=lambda g: g.share.value)
            least = min(compared, key=lambda g: g.share.value)
            if most.share.lower > least.share.upper:
                message = (
                    f"'{column}' is missing more often for {attribute.name}={most.label} "
                    f"({_percent(most.share)}) than for {attribute.name}={least.label} "
                    f"({_percent(least.share)}): the data describes some groups less well"
                )
                findings.append(_finding("warning", "missing_by_group", message))
    return results, findings


def assess_representation(
    frame: pd.DataFrame,
    sensitive: tuple[str, ...] | list[str],
    config: RepresentationConfig,
    *,
    label: str | None = None,
    positive_label: str | None = None,
    grouping: Grouping | None = None,
    min_representation_ratio: float = DEFAULT_LIMITS.min_representation_ratio,
) -> RepresentationResult:
    """Measure how the groups of the sensitive columns are represented in ``frame``.

    Parameters
    ----------
    frame : pandas.DataFrame
        The data (every row counts).
    sensitive : sequence of str
        Sensitive columns; groups are formed as :mod:`raikit.audit.groups` forms them.
    config : RepresentationConfig
        The reference shares, small-group size, confidence level and seed.
    label, positive_label : str, optional
        The label column and its positive value, for each group's base rate.
    grouping : Grouping, optional
        The audit's groups (fitted on ``frame`` by default).
    min_representation_ratio : float
        A group whose ratio's interval lies wholly below it is under-represented.

    Returns
    -------
    RepresentationResult

    Raises
    ------
    ConfigError
        When the reference names a column that is not sensitive, or lacks a share for a group
        of the data.

    Examples
    --------
    >>> reference = Reference(population="p", source="s", columns={"sex": {"F": 0.5, "M": 0.5}})
    >>> frame = pd.DataFrame({"sex": ["F"] * 20 + ["M"] * 80})
    >>> result = assess_representation(frame, ["sex"], RepresentationConfig(reference=reference))
    >>> result.attributes[0].groups[0].ratio.value
    0.4
    """
    import pandas as pd

    from raikit.audit.groups import fit_groups
    from raikit.models.schema import label_text

    sensitive = tuple(sensitive)
    grouping = grouping or fit_groups(frame[list(sensitive)])
    attributes = grouping.attributes(frame, intersections=True)
    check_reference(config.reference, attributes, sensitive)
    positives = labelled = None
    if label is not None and positive_label is not None:
        # Each distinct label is written once, not once a row.
        codes, uniques = pd.factorize(frame[label])
        labelled = (codes >= 0).astype(np.float64)
        is_positive = np.asarray([label_text(u) == positive_label for u in uniques] + [False])
        positives = is_positive[codes].astype(np.float64)
    rng = np.random.default_rng(config.seed)
    assessed, findings, missing = [], [], []
    for attribute in attributes:
        result, found = _assess_attribute(
            attribute, positives, labelled, config, min_representation_ratio, rng
        )
        assessed.append(result)
        findings.extend(found)
        if len(attribute.columns) == 1:
            columns, found = _missing_values(frame, attribute, config)
            missing.extend(columns)
            findings.extend(found)
    return RepresentationResult(
        population=config.reference.population,
        source=config.reference.source,
        n_rows=len(frame),
        label=label,
        positive_label=positive_label if positives is not None else None,
        min_group_size=config.min_group_size,
        confidence_level=config.confidence_level,
        min_representation_ratio=min_representation_ratio,
        attributes=assessed,
        missing=missing,
        findings=findings,
    )


def _run(context: AuditContext, config: RepresentationConfig) -> RepresentationResult:
    # Without sensitive columns the reference names a column that is not one: a ConfigError
    # (the user asked for this check), not a silent "not applicable".
    positive = context.scores.positive_label if context.scores is not None else None
    if positive is None and context.predictor is not None:
        classes = list(context.predictor.classes)
        positive = classes[1] if len(classes) == 2 else None
    config = config.replace(
        min_group_size=context.min_group_size,
        confidence_level=context.confidence_level,
        seed=context.seed,
    )
    return assess_representation(
        context.table.frame,
        context.sensitive,
        config,
        label=context.label,
        positive_label=positive,
        grouping=context.grouping,
        min_representation_ratio=context.limits.min_representation_ratio,
    )


def _measures(result: RepresentationResult) -> list[Measure]:
    return [Measure("representation_ratio", subject, g.ratio) for subject, g in result.ratios()]


def _risks(result: RepresentationResult, limits: Limits) -> list[MeasuredRisk]:
    compared = result.ratios()
    if not compared:
        return []
    subject, worst = min(compared, key=lambda pair: pair[1].ratio.value)
    ratio, limit = worst.ratio, limits.min_representation_ratio
    if ratio.upper < limit:
        likelihood, how = 5, "clearly below"
    elif ratio.value < limit:
        likelihood, how = 4, "below (its interval reaches above)"
    elif ratio.lower < limit:
        likelihood, how = 3, "above, but its interval reaches below,"
    else:
        likelihood, how = 1, "above"
    basis = (
        f"measured: the least represented group, {subject}, has representation ratio "
        f"{ratio.value:.2f} [{ratio.lower:.2f}, {ratio.upper:.2f}] against {result.population}, "
        f"{how} the min_representation_ratio {limit:g}"
    )
    return [MeasuredRisk("diversity", "Groups under-represented in the data", likelihood, basis)]


ASSESSMENT = Assessment(
    name="representation",
    title="Representation of groups in the data",
    concern="diversity",
    needs="data",
    result_type=RepresentationResult,
    run=_run,
    config_type=RepresentationConfig,
    metrics=("representation_ratio",),
    measures=_measures,
    risks=_risks,
    report=ReportSection(html=("_representation.html.j2",), markdown=("_representation.md.j2",)),
)
