"""Predictive performance: accuracy, balanced accuracy, ROC AUC, precision, recall, F1, ECE.

In the audit: the ``performance`` assessment (:data:`ASSESSMENT`, in
:mod:`raikit.audit.registry`), measuring the ``service_quality`` concern; it needs the model's
decisions (a model or a predictions table); its metrics can be gated by name in ``policy.yaml``;
its calibration error sets the service-quality risk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from raikit.audit.assessment import Assessment, AuditContext, Measure, MeasuredRisk, ReportSection
from raikit.audit.stats import auc_interval, percentile_interval, resample_counts, roc_auc
from raikit.audit.types import Finding, Frozen, Interval

if TYPE_CHECKING:
    from raikit.audit.policy import Limits


class ReliabilityBin(Frozen):
    """One bin of the reliability curve (predicted probability of the positive class)."""

    lower: float
    upper: float
    count: int
    mean_predicted: float | None
    fraction_positive: float | None


class Calibration(Frozen):
    """Expected calibration error and the reliability curve it is computed from."""

    expected_calibration_error: float
    n_bins: int
    bins: list[ReliabilityBin]


class PerformanceResult(Frozen):
    """Performance of a classifier on the audited rows.

    ``metrics`` maps a metric name (accuracy, balanced_accuracy, roc_auc, precision, recall,
    f1) to its value with a 95% interval where one is computed.
    """

    n_rows: int
    classes: list[str]
    positive_label: str | None
    metrics: dict[str, Interval]
    confusion_matrix: list[list[int]]
    calibration: Calibration | None
    findings: list[Finding]


def assess_performance(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    classes: list[str],
    *,
    y_score: np.ndarray | None = None,
    n_bootstrap: int = 1000,
    confidence_level: float = 0.95,
    seed: int = 0,
    n_bins: int = 10,
) -> PerformanceResult:
    """Measure a classifier's performance, with intervals.

    Parameters
    ----------
    y_true, y_pred : array of int
        Class indices into ``classes``. For two classes, index 1 is the positive class.
    classes : list of str
        Class names.
    y_score : array, optional
        ``(n, len(classes))`` class probabilities; without it ROC AUC and calibration are not
        assessed (a finding says so).
    n_bootstrap, confidence_level, seed
        Percentile bootstrap over the confusion-matrix cells for the count-based metrics.
        ROC AUC uses the Hanley & McNeil (1982) standard error.
    n_bins : int
        Equal-width bins of the reliability curve.

    Returns
    -------
    PerformanceResult
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    n_classes = len(classes)
    binary = n_classes == 2
    findings: list[Finding] = []
    confusion = np.bincount(y_true * n_classes + y_pred, minlength=n_classes**2).reshape(
        n_classes, n_classes
    )
    point = _metrics_from_confusion(confusion[None].astype(float), binary)
    rng = np.random.default_rng(seed)
    boot = _metrics_from_confusion(
        resample_counts(confusion, n_bootstrap, rng).astype(float), binary
    )
    metrics: dict[str, Interval] = {}
    for name, values in point.items():
        lower, upper = percentile_interval(boot[name], confidence_level)
        metrics[name] = Interval(value=values[0], lower=lower, upper=upper)
        if np.isnan(values[0]):
            findings.append(_undefined(name))

    calibration = None
    if y_score is None:
        findings.append(
            Finding(
                concern="performance",
                severity="info",
                code="no_scores",
                message="no predicted probabilities were given: ROC AUC and "
                "calibration are not assessed",
            )
        )
    else:
        y_score = np.asarray(y_score, dtype=float)
        if len(np.unique(y_true)) < 2:
            metrics["roc_auc"] = Interval(value=None)
            findings.append(_undefined("roc_auc"))
        elif binary:
            auc = roc_auc(y_true == 1, y_score[:, 1])
            positives = int((y_true == 1).sum())
            lower, upper = auc_interval(auc, positives, len(y_true) - positives, confidence_level)
            metrics["roc_auc"] = Interval(value=auc, lower=lower, upper=upper)
        else:
            # Macro average of the one-vs-rest AUCs; undefined when a class is never present.
            auc = float(np.mean([roc_auc(y_true == k, y_score[:, k]) for k in range(n_classes)]))
            metrics["roc_auc"] = Interval(value=auc)
            if np.isnan(auc):
                findings.append(_undefined("roc_auc"))
        calibration = _calibration(y_true, y_score, binary, n_bins)
    return PerformanceResult(
        n_rows=len(y_true),
        classes=list(classes),
        positive_label=classes[1] if binary else None,
        metrics=metrics,
        confusion_matrix=confusion.tolist(),
        calibration=calibration,
        findings=findings,
    )


def _metrics_from_confusion(confusion: np.ndarray, binary: bool) -> dict[str, np.ndarray]:
    """Count-based metrics for a stack of confusion matrices ``(replicates, true, pred)``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        total = confusion.sum(axis=(1, 2))
        correct = np.trace(confusion, axis1=1, axis2=2)
        true_counts = confusion.sum(axis=2)
        pred_counts = confusion.sum(axis=1)
        diagonal = np.diagonal(confusion, axis1=1, axis2=2)
        recall_per_class = diagonal / true_counts
        precision_per_class = diagonal / pred_counts
        if binary:
            precision, recall = precision_per_class[:, 1], recall_per_class[:, 1]
        else:
            precision = np.nanmean(precision_per_class, axis=1)
            recall = np.nanmean(recall_per_class, axis=1)
        f1 = 2 * precision * recall / (precision + recall)
        return {
            "accuracy": correct / total,
            "balanced_accuracy": np.nanmean(recall_per_class, axis=1),
            "precision": precision,
            "recall": recall,
            "f1": f1,
        }


def _calibration(y_true: np.ndarray, y_score: np.ndarray, binary: bool, n_bins: int) -> Calibration:
    """Reliability of P(positive) for binary tasks, of the top-label confidence otherwise."""
    if binary:
        confidence, outcome = y_score[:, 1], (y_true == 1).astype(float)
    else:
        confidence = y_score.max(axis=1)
        outcome = (y_score.argmax(axis=1) == y_true).astype(float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, n_bins - 1)
    counts = np.bincount(index, minlength=n_bins)
    sum_confidence = np.bincount(index, weights=confidence, minlength=n_bins)
    sum_outcome = np.bincount(index, weights=outcome, minlength=n_bins)
    bins, ece = [], 0.0
    for b in range(n_bins):
        if counts[b]:
            mean_predicted, fraction = sum_confidence[b] / counts[b], sum_outcome[b] / counts[b]
            ece += counts[b] / len(y_true) * abs(fraction - mean_predicted)
            bins.append(
                ReliabilityBin(
                    lower=edges[b],
                    upper=edges[b + 1],
                    count=int(counts[b]),
                    mean_predicted=mean_predicted,
                    fraction_positive=fraction,
                )
            )
        else:
            bins.append(
                ReliabilityBin(
                    lower=edges[b],
                    upper=edges[b + 1],
                    count=0,
                    mean_predicted=None,
                    fraction_positive=None,
                )
            )
    return Calibration(expected_calibration_error=float(ece), n_bins=n_bins, bins=bins)


def _undefined(name: str) -> Finding:
    return Finding(
        concern="performance",
        severity="warning",
        code="undefined_metric",
        message=f"{name} is undefined on these rows (a class is never predicted or never present)",
    )


def _run(context: AuditContext, config: None) -> PerformanceResult:
    scores = context.scores
    return assess_performance(
        scores.y_true,
        scores.y_pred,
        scores.classes,
        y_score=scores.y_score,
        n_bootstrap=context.n_bootstrap,
        confidence_level=context.confidence_level,
        seed=context.seed,
    )


def _measures(result: PerformanceResult) -> list[Measure]:
    return [Measure(name, "overall", interval) for name, interval in result.metrics.items()]


def _risks(result: PerformanceResult, limits: Limits) -> list[MeasuredRisk]:
    from raikit.models.degenerate import degenerate_reason

    reason = degenerate_reason(np.asarray(result.confusion_matrix), result.classes)
    if reason is not None:
        title = "Decisions are no better than always giving the same answer"
        return [
            MeasuredRisk(
                "service_quality", title, 5, f"measured: the model is degenerate: {reason}"
            )
        ]
    if result.calibration is None:
        return []
    ece = result.calibration.expected_calibration_error
    limit = limits.max_calibration_error
    likelihood = 1 if ece <= limit / 2 else 3 if ece <= limit else 4
    basis = f"measured: expected calibration error {ece:.3f} (limit {limit:g})"
    title = "Scores mislead the people acting on them"
    return [MeasuredRisk("service_quality", title, likelihood, basis)]


ASSESSMENT = Assessment(
    name="performance",
    title="Performance and calibration",
    concern="service_quality",
    needs="predictions",
    result_type=PerformanceResult,
    run=_run,
    config_type=None,
    metrics=("accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc"),
    measures=_measures,
    risks=_risks,
    report=ReportSection(html=("_performance.html.j2",), markdown=("_performance.md.j2",)),
)
