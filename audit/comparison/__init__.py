"""A model against its baseline, group by group: what distillation, quantisation or pruning cost.

The ``comparison`` assessment (``rai audit --baseline DIR``) scores the audited rows with both
models. Per row, the truth and the two decisions fall in one of eight cells (for more than two
classes: whether each model is right, and whether the decision changed); every figure here is a
ratio of sums of a group's eight cell counts. Resampling those counts multinomially is the
paired row bootstrap (both models always see the same resampled rows), so each change comes
with an interval at a cost independent of the number of rows.

Per group of each sensitive column and their intersection: accuracy (and, for two classes,
selection rate, true and false positive rates) of both models and their change; decision
churn; the accuracy change relative to the change over all rows; the rows the baseline got
right and the candidate gets wrong (Hooker et al. 2019's compression-identified exemplars);
and whether the disparities between groups grew. Groups with fewer than ``min_group_size``
rows in a rate's denominator keep their figures but drive no finding, disparity or gate.
"""

from __future__ import annotations

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
from raikit.models.errors import ConfigError
from raikit.models.settings import Settings

if TYPE_CHECKING:
    from raikit.audit.groups import SensitiveAttribute
    from raikit.audit.policy import Limits

__all__ = [
    "ASSESSMENT",
    "AttributeComparison",
    "ComparisonConfig",
    "ComparisonResult",
    "GroupComparison",
    "compare_decisions",
]

MODELS = ("baseline", "candidate")
BINARY_METRICS = ("accuracy", "selection_rate", "true_positive_rate", "false_positive_rate")
#: At most this many exemplar rows are listed (all are counted).
LISTED_EXEMPLARS = 100
CONCERN = "bias"

# Cell k of a row holds three bits: (truth, baseline decision, candidate decision) for two
# classes, (baseline right, candidate right, decision changed) for more.
_K = np.arange(8)
_BITS = ((_K >> 2) & 1, (_K >> 1) & 1, _K & 1)


class ComparisonConfig(Settings):
    """``baseline``: the model to compare with (any path ``load_predictor`` reads)."""

    baseline: str | None = None


class Change(Frozen):
    """One figure of both models and the candidate's change from the baseline."""

    baseline: Interval
    candidate: Interval
    change: Interval


class GroupComparison(Frozen):
    """Both models on one group's rows.

    ``relative_accuracy_change``: the group's accuracy change minus the change over all rows
    (negative: the group loses more than the average). ``lost``/``gained``: rows the baseline
    got right and the candidate gets wrong, and the reverse. ``compared``: the group has at
    least ``min_group_size`` rows, so its changes can carry a finding or a gate.
    """

    group: dict[str, str]
    label: str
    count: int
    compared: bool
    metrics: dict[str, Change]
    decision_churn: Interval
    relative_accuracy_change: Interval
    lost: int
    gained: int


class AttributeComparison(Frozen):
    """Every group of one sensitive column (or of their intersection), and the disparities."""

    attribute: str
    columns: list[str]
    groups: list[GroupComparison]
    disparities: dict[str, Change]


class ComparisonResult(Frozen):
    """The candidate (the audited model) against its baseline on the same rows.

    ``exemplar_rows``: row numbers (0-based, in the data) of up to 100 rows the baseline got
    right and the candidate gets wrong; ``overall.lost`` counts them all.
    """

    baseline: str
    n_rows: int
    classes: list[str]
    min_group_size: int
    overall: GroupComparison
    attributes: list[AttributeComparison]
    exemplar_rows: list[int]
    findings: list[Finding]


def _masks(binary: bool) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(numerator cells, denominator cells) of every figure, as boolean masks over the 8 cells."""
    a, b, c = _BITS
    every = np.ones(8, dtype=bool)
    if binary:
        right, changed = (b == a, c == a), b != c
    else:
        right, changed = (a == 1, b == 1), c == 1
    masks = {}
    for index, model in enumerate(MODELS):
        masks[f"{model}:accuracy"] = (right[index], every)
        if binary:
            decision = (b, c)[index] == 1
            masks[f"{model}:selection_rate"] = (decision, every)
            masks[f"{model}:true_positive_rate"] = (decision & (a == 1), a == 1)
            masks[f"{model}:false_positive_rate"] = (decision & (a == 0), a == 0)
    masks["decision_churn"] = (changed, every)
    masks["lost"] = (right[0] & ~right[1], every)
    masks["gained"] = (right[1] & ~right[0], every)
    return masks


def _ratios(counts: np.ndarray, masks: dict) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Every figure and its denominator from cell counts ``(..., 8)``; NaN where it is 0."""
    counts = np.asarray(counts, dtype=np.float64)
    values, rows = {}, {}
    for name, (numerator, denominator) in masks.items():
        top, bottom = counts @ numerator, counts @ denominator
        values[name] = np.divide(top, bottom, out=np.full(top.shape, np.nan), where=bottom > 0)
        rows[name] = bottom
    return values, rows


def _interval(point, replicates, level: float) -> Interval:
    lower, upper = percentile_interval(replicates, level)
    return Interval(value=point, lower=lower, upper=upper)


def compare_decisions(
    y_true: np.ndarray,
    baseline_pred: np.ndarray,
    candidate_pred: np.ndarray,
    attributes: list[SensitiveAttribute],
    *,
    n_classes: int,
    min_group_size: int = 30,
    n_bootstrap: int = 1000,
    confidence_level: float = 0.95,
    seed: int = 0,
) -> tuple[GroupComparison, list[AttributeComparison], list[Finding]]:
    """Both models' decisions on the same rows, overall and per group, with paired intervals.

    Parameters
    ----------
    y_true, baseline_pred, candidate_pred : array of int
        Class indices of the truth and of each model's decision, row by row.
    attributes : list of SensitiveAttribute
        The groups (see :meth:`raikit.audit.groups.Grouping.attributes`); may be empty.
    n_classes : int
        Number of classes; with two, the rate metrics and disparities are compared too.
    """
    binary = n_classes == 2
    masks = _masks(binary)
    metrics = BINARY_METRICS if binary else ("accuracy",)
    y_true, d0, d1 = (
        np.asarray(v, dtype=np.int64) for v in (y_true, baseline_pred, candidate_pred)
    )
    if binary:
        cells = 4 * y_true + 2 * d0 + d1
    else:
        cells = 4 * (d0 == y_true) + 2 * (d1 == y_true) + (d0 != d1)
    rng = np.random.default_rng(seed)
    total = np.bincount(cells, minlength=8)[None]
    replicates = resample_counts(total, n_bootstrap, rng)
    options = dict(masks=masks, metrics=metrics, level=confidence_level)
    point, again, _ = _figures(total, replicates, masks, metrics)
    overall = _groups(total, point, again, [{}], ["all rows"], **options, min_group_size=0)[0]
    findings: list[Finding] = []
    compared = []
    for attribute in attributes:
        n_groups = len(attribute.groups)
        counts = np.bincount(attribute.codes * 8 + cells, minlength=8 * n_groups).reshape(
            n_groups, 8
        )
        boot = resample_counts(counts, n_bootstrap, rng)
        point, again, rows = _figures(counts, boot, masks, metrics)
        # Each group's accuracy change against the change over all rows, replicate by replicate.
        everyone, everyone_again, _ = _figures(counts.sum(0), boot.sum(1), masks, ("accuracy",))
        point["relative"] = point["change:accuracy"] - everyone["change:accuracy"]
        again["relative"] = again["change:accuracy"] - everyone_again["change:accuracy"][:, None]
        labels = [
            " & ".join(f"{column}={value}" for column, value in group.items())
            for group in attribute.groups
        ]
        groups = _groups(
            counts, point, again, attribute.groups, labels, **options, min_group_size=min_group_size
        )
        disparities = (
            _disparities(point, again, rows, min_group_size, confidence_level) if binary else {}
        )
        compared.append(
            AttributeComparison(
                attribute=attribute.name,
                columns=attribute.columns,
                groups=sorted(groups, key=lambda g: (-g.count, g.label)),
                disparities=disparities,
            )
        )
        findings.extend(_findings(attribute.name, groups, disparities, overall, min_group_size))
    return overall, compared, findings


def _figures(counts, boot, masks, metrics) -> tuple[dict, dict, dict]:
    """Every figure of the cell counts ``counts`` and of their replicates ``boot``, with each
    metric's change (candidate minus baseline), and the rows in each figure's denominator."""
    point, rows = _ratios(counts, masks)
    again, _ = _ratios(boot, masks)
    for figures in (point, again):
        for metric in metrics:
            figures[f"change:{metric}"] = (
                figures[f"candidate:{metric}"] - figures[f"baseline:{metric}"]
            )
    return point, again, rows


def _groups(counts, point, again, groups, labels, *, masks, metrics, level, min_group_size):
    """One :class:`GroupComparison` per row of the cell counts ``counts``, from its figures
    (:func:`_figures`) and, when given (``relative``), its change against all rows."""
    out = []
    for index, (group, label) in enumerate(zip(groups, labels, strict=True)):
        interval = {
            name: _interval(point[name][index], again[name][:, index], level) for name in point
        }
        count = int(counts[index].sum())
        out.append(
            GroupComparison(
                group=group,
                label=label,
                count=count,
                compared=count >= min_group_size,
                metrics={
                    metric: Change(
                        baseline=interval[f"baseline:{metric}"],
                        candidate=interval[f"candidate:{metric}"],
                        change=interval[f"change:{metric}"],
                    )
                    for metric in metrics
                },
                decision_churn=interval["decision_churn"],
                relative_accuracy_change=interval.get("relative", Interval(value=0.0)),
                lost=int(counts[index] @ masks["lost"][0]),
                gained=int(counts[index] @ masks["gained"][0]),
            )
        )
    return out


def _disparities(point, again, rows, min_group_size, level) -> dict[str, Change]:
    """Each model's between-group disparities over the groups large enough for each rate."""
    rates = ("selection_rate", "true_positive_rate", "false_positive_rate")

    def disparities(values: dict, model: str) -> dict[str, np.ndarray]:
        comparable = {
            rate: np.where(
                rows[f"{model}:{rate}"] >= min_group_size, values[f"{model}:{rate}"], np.nan
            )
            for rate in rates
        }
        return _counts.disparities_from_rates(comparable)

    base, base_boot = disparities(point, "baseline"), disparities(again, "baseline")
    cand, cand_boot = disparities(point, "candidate"), disparities(again, "candidate")
    return {
        name: Change(
            baseline=_interval(base[name], base_boot[name], level),
            candidate=_interval(cand[name], cand_boot[name], level),
            change=_interval(cand[name] - base[name], cand_boot[name] - base_boot[name], level),
        )
        for name in ("demographic_parity_difference", "equalized_odds_difference")
    }


def _change_text(interval: Interval) -> str:
    """A change with its interval, e.g. ``-0.081 [-0.123, -0.040]``."""
    bounds = (
        f" [{interval.lower:+.3f}, {interval.upper:+.3f}]" if interval.lower is not None else ""
    )
    return f"{interval.value:+.3f}{bounds}"


def _findings(attribute, groups, disparities, overall, min_group_size) -> list[Finding]:
    findings = []
    overall_change = overall.metrics["accuracy"].change
    for group in groups:
        relative = group.relative_accuracy_change
        if group.compared and relative.upper is not None and relative.upper < 0:
            findings.append(
                Finding(
                    concern=CONCERN,
                    severity="warning",
                    code="group_loses_more",
                    message=f"group '{group.label}' ({group.count} rows) changes accuracy by "
                    f"{_change_text(group.metrics['accuracy'].change)} against "
                    f"{overall_change.value:+.3f} over all rows: it loses significantly "
                    f"more than the average ({group.lost} of its rows the baseline got right "
                    "are now wrong)",
                )
            )
    small = [g.label for g in groups if not g.compared]
    if small:
        more = ", ..." if len(small) > 5 else ""
        findings.append(
            Finding(
                concern=CONCERN,
                severity="info",
                code="small_group_not_compared",
                message=f"{len(small)} group(s) of '{attribute}' have fewer than "
                f"{min_group_size} rows ({', '.join(small[:5])}{more}): their figures are shown "
                "but too uncertain to conclude anything",
            )
        )
    for name, change in disparities.items():
        if change.change.lower is not None and change.change.lower > 0:
            findings.append(
                Finding(
                    concern=CONCERN,
                    severity="warning",
                    code="disparity_grew",
                    message=f"{name.replace('_', ' ')} over '{attribute}' grew from "
                    f"{change.baseline.value:.3f} to {change.candidate.value:.3f} "
                    f"(change {change.change.value:+.3f} [{change.change.lower:+.3f}, "
                    f"{change.change.upper:+.3f}])",
                )
            )
    return findings


def _baseline_decisions(context: AuditContext, config: ComparisonConfig):
    from raikit.audit.predictor import load_predictor
    from raikit.audit.runner import decide

    baseline = load_predictor(config.baseline)
    classes = list(baseline.classes)
    if classes != context.scores.classes:
        raise ConfigError(
            f"the baseline's classes {classes} differ from the audited model's "
            f"{context.scores.classes}: the two models do not make the same decision"
        )
    return baseline, decide(baseline.predict_proba(context.audited), context.threshold)


def _overlap_finding(context: AuditContext, baseline) -> list[Finding]:
    """A warning when the baseline was trained on some of the audited rows."""
    checkpoint = getattr(baseline, "checkpoint", None)
    record = getattr(checkpoint, "record", None) or {}
    if record.get("data", {}).get("sha256") != context.table.sha256:
        return []
    trained = (getattr(checkpoint, "split", None) or {}).get("train", [])
    positions = context.table.frame.index.get_indexer(context.audited.index)
    seen = int(np.isin(positions, trained).sum())
    if not seen:
        return []
    return [
        Finding(
            concern=CONCERN,
            severity="warning",
            code="baseline_trained_on_audited_rows",
            message=f"the baseline was trained on {seen} of the {len(positions)} audited rows: "
            "its figures there are optimistic, so the candidate's losses look larger",
        )
    ]


def _run(context: AuditContext, config: ComparisonConfig) -> ComparisonResult:
    scores = context.scores
    if context.predictor is None:
        raise NotApplicable(
            "no_model_to_compare", "the comparison needs a model (--model), not a predictions file"
        )
    if config.baseline is None:
        raise ConfigError("the comparison needs a baseline model (--baseline DIR)")
    baseline, baseline_pred = _baseline_decisions(context, config)
    attributes = (
        context.grouping.attributes(context.audited, intersections=True, min_groups=0)
        if context.grouping is not None
        else []
    )
    overall, compared, findings = compare_decisions(
        scores.y_true,
        baseline_pred,
        scores.y_pred,
        attributes,
        n_classes=len(scores.classes),
        min_group_size=context.min_group_size,
        n_bootstrap=context.n_bootstrap,
        confidence_level=context.confidence_level,
        seed=context.seed,
    )
    lost = np.flatnonzero((baseline_pred == scores.y_true) & (scores.y_pred != scores.y_true))
    rows = context.table.frame.index.get_indexer(context.audited.index[lost[:LISTED_EXEMPLARS]])
    return ComparisonResult(
        baseline=str(config.baseline),
        n_rows=len(scores.y_true),
        classes=list(scores.classes),
        min_group_size=context.min_group_size,
        overall=overall,
        attributes=compared,
        exemplar_rows=[int(r) for r in rows],
        findings=[*_overlap_finding(context, baseline), *findings],
    )


def _measures(result: ComparisonResult) -> list[Measure]:
    measures = [Measure("decision_churn", "all rows", result.overall.decision_churn)]
    for attribute in result.attributes:
        for group in attribute.groups:
            if group.compared:
                change = group.metrics["accuracy"].change
                drop = Interval(
                    value=None if change.value is None else -change.value,
                    lower=None if change.upper is None else -change.upper,
                    upper=None if change.lower is None else -change.lower,
                )
                measures.append(Measure("group_accuracy_drop", group.label, drop))
        for name, change in attribute.disparities.items():
            measures.append(
                Measure("disparity_increase", f"{attribute.attribute}: {name}", change.change)
            )
    return measures


def _risks(result: ComparisonResult, limits: Limits) -> list[MeasuredRisk]:
    compared = [g for a in result.attributes for g in a.groups if g.compared]
    if not compared:
        return []
    worst = min(compared, key=lambda g: g.relative_accuracy_change.value)
    drop = -worst.metrics["accuracy"].change.value
    significant = worst.relative_accuracy_change.upper < 0
    limit = limits.max_group_accuracy_drop
    if significant and drop > limit:
        likelihood, how = (
            4,
            f"significantly more than the average, and more than the limit {limit:g}",
        )
    elif significant:
        likelihood, how = 3, f"significantly more than the average, within the limit {limit:g}"
    else:
        likelihood, how = 1, "no more than the average, within the intervals"
    basis = (
        f"measured against the baseline: the group losing most, '{worst.label}', changes "
        f"accuracy by {_change_text(worst.metrics['accuracy'].change)}, {how}"
    )
    title = "A group loses more than others to the smaller model"
    return [MeasuredRisk(CONCERN, title, likelihood, basis, from_decisions=True)]


ASSESSMENT = Assessment(
    name="comparison",
    title="Against the baseline model (per-group change)",
    concern=CONCERN,
    needs="model",
    result_type=ComparisonResult,
    run=_run,
    config_type=ComparisonConfig,
    metrics=("group_accuracy_drop", "disparity_increase", "decision_churn"),
    measures=_measures,
    risks=_risks,
    report=ReportSection(html=("_comparison.html.j2",), markdown=("_comparison.md.j2",)),
    on_request=True,
)
