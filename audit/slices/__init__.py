"""Slice discovery: the subgroups a model treats worse than the rest, found without naming them.

Public surface: :func:`assess_slices` (the check), :class:`SliceConfig`, :data:`METRICS` and the
result types below.

A slice is a conjunction of up to ``depth`` conditions ``column = value`` over the sensitive
columns and any other categorical or binned column (binned as :mod:`raikit.audit.groups` bins:
age bands, quartiles, missing values a group of their own). Every slice with enough rows is
tested one-sided against the rest of the rows (Fisher's exact test for a rate, Welch's z for a
mean error); slices too small ever to reach significance are left out by the support bound
(:mod:`raikit.audit.slices._search`); the slices reported control the false discovery rate at
``fdr_level`` (Benjamini-Hochberg, or Benjamini-Yekutieli under any dependence). A narrower
slice that is not worse than the rest of a reported slice it refines is folded into it.

In the audit: the ``slices`` assessment (:data:`ASSESSMENT`), measuring the ``bias`` concern;
``slice_gap`` (how much worse the worst slice is than the rest) can be gated in
``policy.yaml`` and sets the likelihood of the bias risk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

import numpy as np
from pydantic import Field

from raikit.audit.assessment import (
    Assessment,
    AuditContext,
    Measure,
    MeasuredRisk,
    NotApplicable,
    ReportSection,
)
from raikit.audit.slices import _search
from raikit.audit.slices.result import Slice, SliceResult
from raikit.audit.types import Finding, Interval
from raikit.models.errors import ConfigError, DataError, close_matches_hint
from raikit.models.settings import ConfidenceLevel, Fraction, MinGroupSize, PositiveInt, Settings

if TYPE_CHECKING:
    import pandas as pd

    from raikit.audit.groups import Grouping
    from raikit.audit.policy import Limits

__all__ = [
    "METRICS",
    "Slice",
    "SliceConfig",
    "SliceResult",
    "assess_slices",
]

Metric = Literal[
    "error_rate", "false_positive_rate", "false_negative_rate", "selection_rate", "absolute_error"
]
#: Each metric: the rows it is defined on and whether a higher value is worse.
METRICS: dict[str, str] = {
    "error_rate": "share of wrong decisions, over all rows (higher is worse)",
    "false_positive_rate": "share of actual negatives decided positive (higher is worse)",
    "false_negative_rate": "share of actual positives decided negative (higher is worse)",
    "selection_rate": "share of rows decided positive, the favourable decision (lower is worse)",
    "absolute_error": "mean |y_true - y_pred| of a regression (higher is worse)",
}
_BINARY_METRICS = ("false_positive_rate", "false_negative_rate", "selection_rate")
SUBJECT = "worst slice"


class SliceConfig(Settings):
    """Options of :func:`assess_slices`.

    Parameters
    ----------
    columns : tuple of str
        Columns to slice by besides the sensitive ones (categorical or binned numbers).
    metric : str, default "error_rate"
        One of :data:`METRICS`.
    depth : int, default 3
        Most conditions in a slice (1 to 3).
    min_slice_size : int, default 30
        Fewest rows (rows the metric is defined on) a slice may have.
    fdr_level : float, default 0.05
        False discovery rate of the reported slices.
    fdr_method : {"bh", "by"}, default "bh"
        Benjamini-Hochberg (valid for positively dependent tests, as nested slices are) or
        Benjamini-Yekutieli (valid under any dependence, more conservative).
    max_slices : int, default 20
        Most slices listed, worst first (the counts cover all of them).
    confidence_level : float, default 0.95
        Coverage of each slice's intervals (per slice, not simultaneous).
    """

    columns: tuple[str, ...] = ()
    metric: Metric = "error_rate"
    depth: Annotated[int, Field(ge=1, le=3)] = 3
    min_slice_size: MinGroupSize = 30
    fdr_level: Fraction = 0.05
    fdr_method: Literal["bh", "by"] = "bh"
    max_slices: PositiveInt = 20
    confidence_level: ConfidenceLevel = 0.95


def _finding(severity: str, code: str, message: str) -> Finding:
    return Finding(concern="bias", severity=severity, code=code, message=message)


def _harm(metric: str, y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows the metric is defined on (a mask) and each one's harm."""
    if metric == "absolute_error":
        return np.ones(len(y_true), dtype=bool), np.abs(y_true - y_pred).astype(np.float64)
    if metric in _BINARY_METRICS and not np.isin(np.concatenate([y_true, y_pred]), (0, 1)).all():
        raise DataError(f"{metric} needs 0/1 labels and decisions (1 = the positive class)")
    rows = {
        "false_positive_rate": y_true == 0,
        "false_negative_rate": y_true == 1,
    }.get(metric, np.ones(len(y_true), dtype=bool))
    harm = {
        "error_rate": y_pred != y_true,
        "false_positive_rate": y_pred == 1,
        "false_negative_rate": y_pred == 0,
        "selection_rate": y_pred == 0,
    }[metric]
    return rows, harm[rows].astype(np.float64)


def _rate(harmed, n, confidence_level: float, higher_is_worse: bool) -> tuple:
    from raikit.audit.stats import wilson_interval

    lower, upper = wilson_interval(harmed, n, confidence_level)
    with np.errstate(invalid="ignore", divide="ignore"):  # no rows: NaN, then undefined
        value = np.asarray(harmed, dtype=np.float64) / np.asarray(n, dtype=np.float64)
    if higher_is_worse:
        return value, lower, upper
    return 1 - value, 1 - upper, 1 - lower


def assess_slices(
    features: pd.DataFrame,
    y_true,
    y_pred,
    *,
    config: SliceConfig | None = None,
    grouping: Grouping | None = None,
) -> SliceResult:
    """Find the slices of ``features`` where the model does worse than on the rest.

    Parameters
    ----------
    features : pandas.DataFrame
        The columns to slice by (rows match ``y_true`` by position).
    y_true, y_pred : array-like
        Truth and decision per row: class indices (0/1 for the binary metrics) or, for
        ``absolute_error``, numbers.
    config : SliceConfig, optional
        Metric, depth, minimum size, false discovery rate and its method.
    grouping : Grouping, optional
        How the columns form groups, fitted on all the data these rows are part of; by default
        fitted on these rows.

    Returns
    -------
    SliceResult
        The reported slices worst first (by the lower end of the gap's interval), with the
        counts of the search.

    Raises
    ------
    DataError
        On a length mismatch, no column, or labels the metric cannot use.

    Examples
    --------
    >>> frame = pd.DataFrame({"sex": ["F", "M"] * 500, "age": [30, 30, 70, 70] * 250})
    >>> y_pred = np.where((frame.sex == "F") & (frame.age == 70), 1, 0)
    >>> assess_slices(frame, np.zeros(1000, int), y_pred).worst().label
    'sex=F & age=70'
    """
    from raikit.audit.groups import fit_groups
    from raikit.audit.stats import newcombe_interval, two_sided_z

    config = config or SliceConfig()
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if not (len(features) == len(y_true) == len(y_pred)):
        raise DataError(
            f"features has {len(features)} rows, y_true {len(y_true)} and y_pred "
            f"{len(y_pred)}; they must have the same length"
        )
    if features.shape[1] == 0:
        raise DataError("there is no column to slice by; give a sensitive or another column")
    grouping = grouping or fit_groups(features)
    rows, harm = _harm(config.metric, y_true, y_pred)
    encoded = [column.encode(features[column.column][rows]) for column in grouping.columns]
    codes = [codes for codes, _ in encoded]
    names = grouping.names
    values = [
        _shown(column.kind, labels)
        for column, (_, labels) in zip(grouping.columns, encoded, strict=True)
    ]
    kind: _search.Kind = "mean" if config.metric == "absolute_error" else "rate"
    higher_is_worse = config.metric != "selection_rate"
    depth = min(config.depth, len(codes))  # no more conditions than columns
    found = _search.count_slices(
        codes,
        harm,
        depth=depth,
        min_size=config.min_slice_size,
        kind=kind,
        level=config.fdr_level,
    )
    n, total, squares = len(harm), float(harm.sum()), float((harm**2).sum())
    level = config.confidence_level
    z = two_sided_z(level)
    if kind == "rate":
        overall = _interval(_rate(total, n, level, higher_is_worse))
    else:
        overall = _interval(_search.mean_interval(n, total, squares, z))
    p, q = _search.discover(found, harm, kind, config.fdr_level, config.fdr_method)
    p, q = p[:, 0], q[:, 0]
    discovered = np.flatnonzero(q <= config.fdr_level)

    size, harmed, square = (
        found.size[discovered],
        found.total[discovered, 0],
        found.squares[discovered, 0],
    )
    if kind == "rate":
        metric = _rate(harmed, size, level, higher_is_worse)
        rest = _rate(total - harmed, n - size, level, higher_is_worse)
        gap = newcombe_interval(harmed, size, total - harmed, n - size, level)
    else:
        metric = _search.mean_interval(size, harmed, square, z)
        rest = _search.mean_interval(n - size, total - harmed, squares - square, z)
        gap = _search.mean_difference_interval(
            size, harmed, square, n - size, total - harmed, squares - square, z
        )
    order = np.argsort(-gap[1], kind="stable")
    keys = [
        tuple(
            (int(c), int(v))
            for c, v in zip(found.columns[i], found.values[i], strict=True)
            if c >= 0
        )
        for i in discovered
    ]
    kept, folded_into = _search.fold(keys, order, size, harmed, square, kind, config.fdr_level)
    slices = []
    for position in [i for i in order if i in kept][: config.max_slices]:
        conditions = {names[column]: values[column][value] for column, value in keys[position]}
        slices.append(
            Slice(
                conditions=conditions,
                label=" & ".join(f"{c}={v}" for c, v in conditions.items()),
                size=int(size[position]),
                metric=_interval(metric, position),
                rest=_interval(rest, position),
                # The gap is the slice's harm minus the rest's: worse is positive.
                gap=_interval(gap, position),
                p_value=float(p[discovered[position]]),
                q_value=float(q[discovered[position]]),
                folded=folded_into.get(position, 0),
            )
        )
    result = dict(
        metric=config.metric,
        higher_is_worse=higher_is_worse,
        columns=names,
        binning=grouping.binning,
        depth=depth,
        min_slice_size=config.min_slice_size,
        fdr_level=config.fdr_level,
        fdr_method=config.fdr_method,
        confidence_level=level,
        n_rows=n,
        overall=overall,
        n_candidates=found.n_candidates,
        n_tested=int(found.testable.sum()),
        min_testable_size=int(found.min_testable_size[0]),
        n_discovered=len(discovered),
        n_folded=len(discovered) - len(kept),
        slices=slices,
    )
    return SliceResult(**result, findings=_findings(result))


def _shown(kind: str, labels: list[str]) -> list[str]:
    """Group labels as the report may show them: a value that looks like personal data (an
    e-mail address, five digits or more) is masked by the explanations' disclosure rule."""
    from raikit.audit.explain._disclosure import _looks_personal, _mask

    if kind != "values":  # bands and quartiles: raikit's own labels
        return labels
    return [label if _looks_personal(label) is None else _mask(label) for label in labels]


def _interval(parts: tuple, position: int | None = None) -> Interval:
    """An Interval from ``(value, lower, upper)`` arrays, at ``position`` when given."""
    if position is not None:
        parts = tuple(part[position] for part in parts)
    return Interval(value=parts[0], lower=parts[1], upper=parts[2])


def _findings(result: dict) -> list[Finding]:
    metric = result["metric"].replace("_", " ")
    if result["n_tested"] == 0:
        return [
            _finding(
                "warning",
                "slices_untestable",
                f"no slice of at least {result['min_slice_size']} rows could show its {metric} "
                f"significantly worse than the rest at a false discovery rate of "
                f"{result['fdr_level']:g} ({result['n_rows']} rows): the search cannot "
                "conclude that no subgroup is treated worse",
            )
        ]
    searched = (
        f"{result['n_tested']} slices of up to {result['depth']} conditions over "
        f"{', '.join(result['columns'])} tested, false discovery rate "
        f"{result['fdr_level']:g} ({result['fdr_method'].upper()})"
    )
    worst = result["slices"][0] if result["slices"] else None
    if worst is None:
        return [
            _finding(
                "info", "no_worse_slice", f"no slice is worse than the rest in {metric}: {searched}"
            )
        ]
    kept = result["n_discovered"] - result["n_folded"]
    message = (
        f"{kept} slice(s) are worse than the rest in {metric} ({searched}); worst: "
        f"'{worst.label}' ({worst.size} rows), {metric} {worst.metric.value:.3f} "
        f"[{worst.metric.lower:.3f}, {worst.metric.upper:.3f}] against {worst.rest.value:.3f} "
        f"for the rest, worse by {worst.gap.value:.3f} [{worst.gap.lower:.3f}, "
        f"{worst.gap.upper:.3f}]"
    )
    return [_finding("warning", "worse_slices", message)]


def _run(context: AuditContext, config: SliceConfig) -> SliceResult:
    extra = [c for c in config.columns if c not in context.sensitive]
    columns = [*context.sensitive, *extra]
    if not columns:
        raise NotApplicable(
            "no_slice_column",
            "slice discovery is not applicable: no sensitive or other column was given to slice by",
        )
    from raikit.audit.runner import PREDICTION_COLUMNS

    frame = context.table.frame
    for column in columns:
        if column not in frame.columns:
            hint = close_matches_hint(column, [str(c) for c in frame.columns])
            raise DataError(f"column '{column}' not found in {context.table.source}{hint}")
        if column == context.label or (context.predictor is None and column in PREDICTION_COLUMNS):
            raise ConfigError(
                f"column '{column}' is the label or a prediction: slicing by it would find the "
                "errors themselves; name the columns that describe the rows"
            )
    scores = context.scores
    binary_only = config.metric in _BINARY_METRICS
    if config.metric == "absolute_error" or (binary_only and len(scores.classes) != 2):
        raise NotApplicable(
            "slice_metric_not_applicable",
            f"slice discovery by {config.metric} is not applicable to a model with "
            f"{len(scores.classes)} classes",
        )
    from raikit.audit.groups import fit_groups

    # Groups fitted on the whole table, as for every concern: the same bins everywhere.
    return assess_slices(
        context.audited[columns].reset_index(drop=True),
        scores.y_true,
        scores.y_pred,
        config=config.replace(confidence_level=context.confidence_level),
        grouping=fit_groups(frame[columns]),
    )


def _measures(result: SliceResult) -> list[Measure]:
    """``slice_gap``: how much worse the worst reported slice is (0 when none is; undefined
    when no slice could be tested)."""
    worst = result.worst()
    value = worst.gap if worst is not None else Interval(value=0.0 if result.n_tested else None)
    return [Measure("slice_gap", SUBJECT, value)]


def _risks(result: SliceResult, limits: Limits) -> list[MeasuredRisk]:
    limit = limits.max_slice_gap
    title = "Subgroups treated worse than the rest"
    metric = result.metric.replace("_", " ")
    worst = result.worst()
    if result.n_tested == 0:
        basis = (
            f"not scored: no slice of at least {result.min_slice_size} rows could reach "
            "significance"
        )
        return [MeasuredRisk("bias", title, None, basis, from_decisions=True)]
    if worst is None:
        basis = (
            f"measured: no slice of {result.n_tested} tested is worse than the rest in "
            f"{metric} (false discovery rate {result.fdr_level:g})"
        )
        return [MeasuredRisk("bias", title, 1, basis, from_decisions=True)]
    gap = worst.gap
    if gap.lower > limit:
        likelihood, how = 5, "clearly above"
    elif gap.value > limit:
        likelihood, how = 4, "above"
    elif gap.upper > limit:
        likelihood, how = 3, "below, but its interval reaches above,"
    else:
        likelihood, how = 2, "below"
    basis = (
        f"measured: slice '{worst.label}' ({worst.size} rows) is worse than the rest in "
        f"{metric} by {gap.value:.3f} [{gap.lower:.3f}, {gap.upper:.3f}] "
        f"(q = {worst.q_value:.2g}), {how} the threshold {limit:g}"
    )
    return [MeasuredRisk("bias", title, likelihood, basis, from_decisions=True)]


ASSESSMENT = Assessment(
    name="slices",
    title="Subgroups (slices treated worse than the rest)",
    concern="bias",
    needs="predictions",
    result_type=SliceResult,
    run=_run,
    config_type=SliceConfig,
    metrics=("slice_gap",),
    measures=_measures,
    risks=_risks,
    report=ReportSection(html=("_slices.html.j2",), markdown=("_slices.md.j2",)),
)
