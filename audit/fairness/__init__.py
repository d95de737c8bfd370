"""Group fairness: group rates (fairlearn MetricFrame, Wilson CIs) and disparities (bootstrap).

Public surface: :func:`assess_fairness` (the check), :class:`FairnessConfig`,
and the result types below. pandas and fairlearn are imported inside the functions, so
reading results (a report) stays light.

In the audit: the ``fairness`` assessment (:data:`ASSESSMENT`, in :mod:`raikit.audit.registry`),
measuring the ``bias`` concern; it needs binary decisions and the sensitive columns, grouped by
:mod:`raikit.audit.groups`; each disparity can be gated per attribute; the demographic parity
difference sets the bias risk.
"""

from __future__ import annotations

import functools
import warnings
from typing import TYPE_CHECKING

import numpy as np

from raikit.audit.assessment import (
    Assessment,
    AuditContext,
    Measure,
    MeasuredRisk,
    NotApplicable,
    ReportSection,
)
from raikit.audit.fairness import _counts
from raikit.audit.stats import percentile_interval, resample_counts
from raikit.audit.types import Finding, Frozen, Interval
from raikit.models.errors import DataError
from raikit.models.settings import (
    BootstrapReplicates,
    ConfidenceLevel,
    MinGroupSize,
    Seed,
    Settings,
)

if TYPE_CHECKING:
    import pandas as pd

    from raikit.audit.groups import Grouping, SensitiveAttribute
    from raikit.audit.policy import Limits

__all__ = [
    "DISPARITIES",
    "GROUP_METRICS",
    "AttributeFairness",
    "FairnessConfig",
    "FairnessResult",
    "GroupMetrics",
    "assess_fairness",
]

GROUP_METRICS = (
    "selection_rate",
    "true_positive_rate",
    "false_positive_rate",
    "false_negative_rate",
    "precision",
    "accuracy",
)
DISPARITIES = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equal_opportunity_difference",
)


class GroupMetrics(Frozen):
    """Metrics of one group (one value of a sensitive column, or one intersection)."""

    group: dict[str, str]
    label: str
    count: int
    actual_positives: int
    actual_negatives: int
    small: bool
    metrics: dict[str, Interval]


class AttributeFairness(Frozen):
    """Fairness over one sensitive column, or over the intersection of several."""

    attribute: str
    columns: list[str]
    binning: str | None
    groups: list[GroupMetrics]
    disparities: dict[str, Interval]
    #: Per group rate, the groups whose rate rests on fewer than ``min_group_size`` rows (its
    #: denominator): shown, but left out of every disparity comparing that rate.
    set_aside: dict[str, list[str]] = {}


class FairnessResult(Frozen):
    """Group fairness of binary decisions over every sensitive attribute and intersection."""

    positive_label: str
    min_group_size: int
    n_bootstrap: int
    confidence_level: float
    seed: int
    attributes: list[AttributeFairness]
    findings: list[Finding]


class FairnessConfig(Settings):
    """Options of :func:`assess_fairness`.

    Parameters
    ----------
    min_group_size : int, default 30
        Groups with fewer rows are flagged ``small``. A disparity compares only the groups with
        at least this many rows in the denominator of each rate it uses (rows for selection
        rates, actual positives for TPR, actual negatives for FPR); the others are set aside
        from it (``AttributeFairness.set_aside``) with a warning finding.
    n_bootstrap : int, default 1000
        Number of bootstrap replicates for the disparity intervals, at least 100.
    confidence_level : float, default 0.95
        Coverage of every interval (Wilson for group rates, percentile bootstrap for
        disparities), in [0.5, 1).
    seed : int, default 0
        Seed of ``numpy.random.default_rng``; same inputs and seed give the same result.
    intersections : bool, default True
        Also assess the intersection of all sensitive columns when there are two or more.
    """

    min_group_size: MinGroupSize = 30
    n_bootstrap: BootstrapReplicates = 1000
    confidence_level: ConfidenceLevel = 0.95
    seed: Seed = 0
    intersections: bool = True


# Point values come from fairlearn so that raikit reports what fairlearn users would get.
def _fairlearn_metrics() -> dict:
    from fairlearn.metrics import (
        false_negative_rate,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score, precision_score

    return {
        "selection_rate": selection_rate,
        "true_positive_rate": functools.partial(true_positive_rate, pos_label=1),
        "false_positive_rate": functools.partial(false_positive_rate, pos_label=1),
        "false_negative_rate": functools.partial(false_negative_rate, pos_label=1),
        "precision": functools.partial(precision_score, zero_division=np.nan),
        "accuracy": accuracy_score,
    }


SMALL_GROUP = "small_group"
# The group rates the disparities compare (see _counts.DISPARITY_RATES).
_COMPARED_RATES = ("selection_rate", "true_positive_rate", "false_positive_rate")
UNDEFINED_METRIC = "undefined_metric"
UNDEFINED_DISPARITY = "undefined_disparity"
UNDEFINED_INTERVAL = "undefined_interval"


def _binary(name: str, values, positive_label: str) -> np.ndarray:
    import pandas as pd

    array = np.asarray(values)
    if array.ndim != 1:
        raise DataError(f"{name} must be one-dimensional; got shape {array.shape}")
    if array.dtype == bool:
        return array.astype(np.int8)
    distinct = pd.unique(array)
    if not set(distinct.tolist()) <= {0, 1} or pd.isna(distinct).any():
        preview = ", ".join(repr(v) for v in sorted(distinct.tolist(), key=str)[:5])
        raise DataError(
            f"{name} must hold only 0/1 or bool (1 = '{positive_label}'); got values "
            f"[{preview}]; binarise it first, e.g. (y == '{positive_label}')"
        )
    return array.astype(np.int8)


def _point_metrics(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Per-group point values from fairlearn's MetricFrame, NaN where undefined."""
    from fairlearn.metrics import MetricFrame

    # MetricFrame on the rows costs ~30 s per million rows for these metrics (it np.stacks
    # every row, per metric and group); every metric here is a weighted count, so the
    # (group, cell) table weighted by its counts gives the same values from <= 4 rows a group.
    group, cell = np.nonzero(counts)
    weight = counts[group, cell]
    metrics = _fairlearn_metrics()
    with warnings.catch_warnings():
        # Undefined figures are masked below and reported as findings, not warnings.
        warnings.simplefilter("ignore")
        frame = MetricFrame(
            metrics=metrics,
            y_true=cell // 2,
            y_pred=cell % 2,
            sensitive_features=group,
            sample_params={name: {"sample_weight": weight} for name in metrics},
        )
    by_group = frame.by_group.reindex(range(counts.shape[0]))
    # fairlearn returns 0 for a TPR with no positives (sklearn's nan_to_num); raikit says
    # undefined, judged by the counts themselves.
    defined = {k: ~np.isnan(v) for k, v in _counts.metrics_from_counts(counts).items()}
    return {
        name: np.where(defined[name], by_group[name].to_numpy(dtype=np.float64), np.nan)
        for name in GROUP_METRICS
    }


_UNDEFINED_BECAUSE = (
    # (reason, denominator cells, metrics it leaves undefined)
    ("no actual positives", [2, 3], "true_positive_rate and false_negative_rate are"),
    ("no actual negatives", [0, 1], "false_positive_rate is"),
    ("no predicted positives", [1, 3], "precision is"),
)


def _finding(code: str, message: str) -> Finding:
    return Finding(concern="fairness", severity="warning", code=code, message=message)


def _interval(value, lower, upper, what: str, findings: list[Finding]) -> Interval:
    interval = Interval(value=value, lower=lower, upper=upper)
    if interval.value is not None and interval.lower is None:
        # Possible only with very few replicates; the point value still stands.
        message = f"{what} has no interval: it was undefined in every bootstrap replicate"
        findings.append(_finding(UNDEFINED_INTERVAL, message))
    return interval


def _assess_attribute(
    attribute: SensitiveAttribute,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    config: FairnessConfig,
    rng: np.random.Generator,
) -> tuple[AttributeFairness, list[Finding]]:
    counts = _counts.cell_counts(attribute.codes, y_true, y_pred, len(attribute.groups))
    points = _point_metrics(counts)
    # A disparity compares only the groups with enough rows in the denominator of each rate it
    # uses; the others keep their own rates (with intervals) but cannot drive a conclusion.
    enough = {
        name: rows >= config.min_group_size for name, rows in _counts.denominators(counts).items()
    }

    def _comparable(rates: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {name: np.where(enough[name], values, np.nan) for name, values in rates.items()}

    point_disparities = _counts.disparities_from_rates(_comparable(points))
    replicates = _counts.disparities_from_rates(
        _comparable(_counts.metrics_from_counts(resample_counts(counts, config.n_bootstrap, rng)))
    )
    bounds = {
        name: percentile_interval(values, config.confidence_level)
        for name, values in replicates.items()
    }
    bounds.update(_counts.group_metric_intervals(counts, config.confidence_level))

    findings: list[Finding] = []
    groups = []
    labels = attribute.labels
    set_aside: dict[str, list[str]] = {rate: [] for rate in _COMPARED_RATES}
    for index, group in enumerate(attribute.groups):
        qualified = " & ".join(f"{c}={v}" for c, v in group.items())
        count = int(counts[index].sum())
        too_few = [rate for rate in _COMPARED_RATES if not enough[rate][index]]
        for rate in too_few:
            set_aside[rate].append(labels[index])
        left_out = [
            name
            for name, rates in _counts.DISPARITY_RATES.items()
            if any(rate in too_few for rate in rates)
        ]
        if left_out:
            positives, negatives = int(counts[index, 2:].sum()), int(counts[index, :2].sum())
            message = (
                f"group '{qualified}' ({count} rows, {positives} actual positives, "
                f"{negatives} actual negatives) has fewer than {config.min_group_size} in the "
                f"denominator of a rate: set aside from {', '.join(left_out)}; its own "
                "figures are too uncertain to conclude anything"
            )
            findings.append(_finding(SMALL_GROUP, message))
        for reason, cells, undefined in _UNDEFINED_BECAUSE:
            if counts[index, cells].sum() == 0:
                message = (
                    f"group '{qualified}' has {reason}: {undefined} undefined; "
                    "the group is left out of the disparities that use them"
                )
                findings.append(_finding(UNDEFINED_METRIC, message))
        metrics = {
            name: _interval(
                points[name][index],
                bounds[name][0][index],
                bounds[name][1][index],
                f"{name} of group '{qualified}'",
                findings,
            )
            for name in GROUP_METRICS
        }
        groups.append(
            GroupMetrics(
                group=group,
                label=labels[index],
                count=count,
                actual_positives=int(counts[index, 2:].sum()),
                actual_negatives=int(counts[index, :2].sum()),
                small=count < config.min_group_size,
                metrics=metrics,
            )
        )
    groups.sort(key=lambda g: (-g.count, g.label))

    disparities = {}
    for name in DISPARITIES:
        what = f"{name} over '{attribute.name}'"
        disparities[name] = _interval(point_disparities[name], *bounds[name], what, findings)
        if disparities[name].value is None:
            no_positives = (
                name == "demographic_parity_ratio" and points["selection_rate"].max() == 0
            )
            reason = (
                "no group has any positive decision"
                if no_positives
                else "fewer than two groups have the rates it compares"
                + (
                    f" with at least {config.min_group_size} rows in their denominators"
                    if any(set_aside[rate] for rate in _counts.DISPARITY_RATES[name])
                    else ""
                )
            )
            findings.append(_finding(UNDEFINED_DISPARITY, f"{what} is undefined: {reason}"))
    result = AttributeFairness(
        attribute=attribute.name,
        columns=attribute.columns,
        binning=attribute.binning,
        groups=groups,
        disparities=disparities,
        set_aside={name: left for name, left in set_aside.items() if left},
    )
    return result, findings


def assess_fairness(
    y_true,
    y_pred,
    sensitive_features: pd.DataFrame,
    *,
    positive_label: str = "1",
    config: FairnessConfig | None = None,
    grouping: Grouping | None = None,
) -> FairnessResult:
    """Assess group fairness of binary decisions over sensitive attributes.

    For every sensitive column, and for the intersection of all of them, computes each
    group's metrics (:data:`GROUP_METRICS`) with fairlearn's ``MetricFrame`` and the
    disparities between groups (:data:`DISPARITIES`, as fairlearn's
    ``demographic_parity_difference``/``ratio``, ``equalized_odds_difference`` and the
    TPR difference). Each group rate has a Wilson score interval, honest at rates of 0 or 1
    where a bootstrap collapses to a point; each disparity has a percentile bootstrap
    interval. The bootstrap resamples
    the (group, y_true, y_pred) cell counts multinomially, which is the same bootstrap as
    resampling rows; a replicate where a figure is undefined is skipped for that figure.

    Undefined figures (a group with no actual positives has no TPR; a disparity needs two
    groups with the figure) are ``None`` in the result and explained by a finding; groups
    whose rate rests on fewer than ``min_group_size`` rows (counted in that rate's denominator)
    are set aside from the disparities using it, with a warning. Unlike fairlearn, which reports
    0 for a TPR/FPR without positives/negatives, such a group is left out of the disparity.

    Parameters
    ----------
    y_true, y_pred : array-like of 0/1 or bool
        Truth and decision per row, already binarised (1 = ``positive_label``).
    sensitive_features : pandas.DataFrame
        One column per sensitive attribute, same length (rows match by position).
        Rows form groups as :mod:`raikit.audit.groups` says: continuous columns are binned,
        a missing value is a group of its own.
    positive_label : str, default "1"
        Name of the positive class, for display only.
    config : FairnessConfig, optional
        Group-size threshold, bootstrap size, confidence level, seed, intersections.
    grouping : Grouping, optional
        How the columns form groups, fitted on all the data (:func:`raikit.audit.groups.
        fit_groups`) when these rows are part of it; by default fitted on these rows.

    Returns
    -------
    FairnessResult

    Raises
    ------
    DataError
        On a length mismatch, no sensitive column, a column with one group, or non-binary
        ``y_true``/``y_pred``.

    Examples
    --------
    >>> frame = pd.DataFrame({"sex": ["F", "M"] * 50})
    >>> result = assess_fairness([0, 1] * 50, [1, 1, 0, 0] * 25, frame,
    ...                          config=FairnessConfig(n_bootstrap=100))
    >>> result.attributes[0].disparities["demographic_parity_difference"].value
    0.0
    """
    import pandas as pd

    from raikit.audit.groups import fit_groups

    config = config or FairnessConfig()
    if isinstance(sensitive_features, pd.Series):
        sensitive_features = sensitive_features.to_frame()
    if not isinstance(sensitive_features, pd.DataFrame):
        raise DataError(
            "sensitive_features must be a pandas DataFrame with one column per attribute; "
            f"got {type(sensitive_features).__name__}"
        )
    y_true_array = _binary("y_true", y_true, positive_label)
    y_pred_array = _binary("y_pred", y_pred, positive_label)
    if len(y_true_array) != len(y_pred_array):
        raise DataError(
            f"y_true has {len(y_true_array)} rows but y_pred has {len(y_pred_array)}; "
            "they must have the same length"
        )
    if len(sensitive_features) != len(y_true_array):
        raise DataError(
            f"sensitive_features has {len(sensitive_features)} rows but y_true has "
            f"{len(y_true_array)}; they must have the same length"
        )
    if sensitive_features.shape[1] == 0:
        raise DataError(
            "sensitive_features has no columns; pass at least one sensitive attribute column"
        )
    if len(y_true_array) == 0:
        raise DataError("there are no rows to assess; pass at least two groups of rows")

    if grouping is None:
        grouping = fit_groups(sensitive_features)
    if grouping.names != [str(c) for c in sensitive_features.columns]:
        raise DataError(
            f"the grouping was fitted on columns {grouping.names}; sensitive_features has "
            f"{[str(c) for c in sensitive_features.columns]}"
        )
    # All attributes are built (and validated) before any is assessed.
    formed = grouping.attributes(
        sensitive_features, intersections=config.intersections, min_groups=2
    )
    # One generator for the whole call, attributes in a fixed order: reproducible.
    rng = np.random.default_rng(config.seed)
    attributes, findings = [], []
    for attribute in formed:
        assessed, attribute_findings = _assess_attribute(
            attribute, y_true_array, y_pred_array, config, rng
        )
        attributes.append(assessed)
        findings.extend(attribute_findings)
    return FairnessResult(
        positive_label=positive_label,
        min_group_size=config.min_group_size,
        n_bootstrap=config.n_bootstrap,
        confidence_level=config.confidence_level,
        seed=config.seed,
        attributes=attributes,
        findings=findings,
    )


def _run(context: AuditContext, config: None) -> FairnessResult:
    if not context.sensitive:
        raise NotApplicable(
            "no_sensitive_column",
            "group fairness is not applicable: no sensitive column was given (--sensitive)",
        )
    scores = context.scores
    if len(scores.classes) != 2:
        raise NotApplicable(
            "multiclass_not_assessed",
            "group fairness is assessed for binary decisions; this model has "
            f"{len(scores.classes)} classes",
        )
    return assess_fairness(
        scores.y_true,
        scores.y_pred,
        context.audited[list(context.sensitive)].reset_index(drop=True),
        positive_label=scores.classes[1],
        config=FairnessConfig(
            min_group_size=context.min_group_size,
            n_bootstrap=context.n_bootstrap,
            confidence_level=context.confidence_level,
            seed=context.seed,
        ),
        grouping=context.grouping,
    )


def _measures(result: FairnessResult) -> list[Measure]:
    return [
        Measure(name, attribute.attribute, interval)
        for attribute in result.attributes
        for name, interval in attribute.disparities.items()
    ]


def _risks(result: FairnessResult, limits: Limits) -> list[MeasuredRisk]:
    limit = limits.max_demographic_parity_difference
    worst = None
    for attribute in result.attributes:
        dpd = attribute.disparities.get("demographic_parity_difference")
        if (
            dpd is not None
            and dpd.value is not None
            and (worst is None or dpd.value > worst[1].value)
        ):
            worst = (attribute.attribute, dpd)
    if worst is None:
        return []
    name, dpd = worst
    if dpd.lower is not None and dpd.lower > limit:
        likelihood, how = 5, "clearly above"
    elif dpd.value > limit:
        likelihood, how = 4, "above"
    elif dpd.upper is not None and dpd.upper > limit:
        likelihood, how = 3, "below, but its interval reaches above,"
    else:
        likelihood, how = 1, "below"
    bounds = f" [{dpd.lower:.3f}, {dpd.upper:.3f}]" if dpd.lower is not None else ""
    basis = (
        f"measured: demographic parity difference on {name} is {dpd.value:.3f}{bounds}, "
        f"{how} the threshold {limit:g}"
    )
    title = "Unequal decisions across groups"
    return [MeasuredRisk("bias", title, likelihood, basis, from_decisions=True)]


ASSESSMENT = Assessment(
    name="fairness",
    title="Group fairness (rates and disparities by group)",
    concern="bias",
    needs="predictions",
    result_type=FairnessResult,
    run=_run,
    config_type=None,
    metrics=DISPARITIES,
    measures=_measures,
    risks=_risks,
    report=ReportSection(
        html=("_summary.html.j2", "_fairness.html.j2"), markdown=("_fairness.md.j2",)
    ),
)
