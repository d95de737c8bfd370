"""Number and label formatting shared by the summary, the charts and the templates.

One place decides how a figure looks, so a rate reads ``0.412 [0.398, 0.427]`` everywhere.
"""

from __future__ import annotations

from raikit.audit.evidence import Interval

NOT_AVAILABLE = "n/a"
DECIMALS = 3

# Display names of the metrics and disparities raikit computes; unknown names fall back to
# the identifier with spaces, so a new metric still renders.
METRIC_LABELS = {
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    "roc_auc": "ROC AUC",
    "precision": "Precision",
    "recall": "Recall",
    "f1": "F1",
    "selection_rate": "Selection rate",
    "true_positive_rate": "True positive rate",
    "false_positive_rate": "False positive rate",
    "false_negative_rate": "False negative rate",
    "error_rate": "Error rate",
    "absolute_error": "Mean absolute error",
    "slice_gap": "Slice gap",
    "demographic_parity_difference": "Demographic parity difference",
    "demographic_parity_ratio": "Demographic parity ratio",
    "equalized_odds_difference": "Equalized odds difference",
    "equal_opportunity_difference": "Equal opportunity difference",
}

# Column headers of the wide per-group table; the full name goes in an <abbr title>.
METRIC_SHORT_LABELS = {
    "selection_rate": "Selection rate",
    "true_positive_rate": "TPR",
    "false_positive_rate": "FPR",
    "false_negative_rate": "FNR",
}

METRIC_HELP = {
    "selection_rate": "share of the group that receives the positive decision",
    "true_positive_rate": "share of actual positives the model predicts positive",
    "false_positive_rate": "share of actual negatives the model wrongly predicts positive",
    "false_negative_rate": "share of actual positives the model misses",
    "precision": "share of positive predictions that are right",
    "accuracy": "share of predictions that are right",
    "error_rate": "share of decisions that are wrong",
    "absolute_error": "average distance between a regression's prediction and the truth",
    "slice_gap": "how much worse the worst reported slice is than the rest of the rows (a "
    "difference of rates; 0 when no slice is worse)",
    "demographic_parity_difference": "largest minus smallest selection rate (0 is parity)",
    "demographic_parity_ratio": "smallest divided by largest selection rate (1 is parity)",
    "equalized_odds_difference": "largest gap in true or false positive rate (0 is parity)",
    "equal_opportunity_difference": "largest gap in true positive rate (0 is parity)",
}


def metric_label(name: str) -> str:
    """Human name of a metric identifier, e.g. ``'roc_auc'`` -> ``'ROC AUC'``."""
    return METRIC_LABELS.get(name, name.replace("_", " ").capitalize())


def metric_short_label(name: str) -> str:
    """Short column header of a metric, e.g. ``'true_positive_rate'`` -> ``'TPR'``."""
    return METRIC_SHORT_LABELS.get(name, metric_label(name))


def metric_help(name: str) -> str:
    """One-line plain-words meaning of a metric, or ``""`` when none is known."""
    return METRIC_HELP.get(name, "")


def format_number(value: float | None, decimals: int = DECIMALS) -> str:
    """Format a figure with a fixed number of decimals; ``None`` reads ``'n/a'``.

    Examples
    --------
    >>> format_number(0.41234)
    '0.412'
    >>> format_number(None)
    'n/a'
    """
    if value is None:
        return NOT_AVAILABLE
    text = f"{value:.{decimals}f}"
    # Rounding a tiny negative bound gives "-0.000", which reads like a sign error.
    if text.startswith("-") and float(text) == 0:
        text = text[1:]
    return text


def format_bounds(interval: Interval | None, decimals: int = DECIMALS) -> str:
    """The ``[lower, upper]`` part of an interval, or ``""`` when it has no bounds."""
    if interval is None or interval.value is None:
        return ""
    if interval.lower is None or interval.upper is None:
        return ""
    lower = format_number(interval.lower, decimals)
    upper = format_number(interval.upper, decimals)
    return f"[{lower}, {upper}]"


def format_interval(interval: Interval | None, decimals: int = DECIMALS) -> str:
    """Format an estimate with its interval: ``'0.412 [0.398, 0.427]'``.

    An undefined estimate reads ``'n/a'``; an estimate without bounds reads ``'0.412'``.
    """
    if interval is None or interval.value is None:
        return NOT_AVAILABLE
    bounds = format_bounds(interval, decimals)
    value = format_number(interval.value, decimals)
    return f"{value} {bounds}" if bounds else value


def format_p_value(p_value: float | None) -> str:
    """Write a p-value: ``'p = 0.042'``, or ``'p < 0.001'`` below that.

    Examples
    --------
    >>> format_p_value(0.04217), format_p_value(1e-12)
    ('p = 0.042', 'p < 0.001')
    """
    if p_value is None:
        return NOT_AVAILABLE
    return "p < 0.001" if p_value < 0.001 else f"p = {format_number(p_value)}"


def format_count(count: int | None) -> str:
    """Format a count with thousands separators: ``21790`` -> ``'21,790'``."""
    if count is None:
        return NOT_AVAILABLE
    return f"{count:,}"


def format_percent_level(level: float) -> str:
    """Confidence level as a percentage label: ``0.95`` -> ``'95%'``."""
    percent = level * 100
    return f"{percent:.0f}%" if float(percent).is_integer() else f"{percent:g}%"
