"""Plain-words summary of group fairness: which groups differ, by how much, how sure we are.

Pure functions over the evidence; the template only lays out what is decided here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from raikit.audit.evidence import Evidence, Interval
from raikit.reports._format import (
    format_count,
    format_interval,
    format_percent_level,
    metric_help,
    metric_label,
)

if TYPE_CHECKING:
    from raikit.audit.fairness import AttributeFairness

Verdict = Literal["clear", "possible", "too_small", "undefined"]
Topic = Literal["decisions", "errors"]

VERDICT_LABELS: dict[str, str] = {
    "clear": "Clear difference",
    "possible": "Possible difference — could be chance at this sample size",
    "too_small": "Too small to conclude",
    "undefined": "Cannot compare",
}

ERROR_RATE_METRICS = ("true_positive_rate", "false_positive_rate")


@dataclass(frozen=True)
class GroupRate:
    """One group's rate as the summary quotes it."""

    label: str
    count: int
    small: bool
    rate: Interval
    #: The rows the rate rests on, as quoted ("n=500, 3 actual positives"); default "n=500".
    size: str = ""

    def __post_init__(self) -> None:
        if not self.size:
            object.__setattr__(self, "size", f"n={format_count(self.count)}")


@dataclass(frozen=True)
class SummaryItem:
    """One plain-words finding about one sensitive attribute.

    Attributes
    ----------
    attribute : str
        The sensitive attribute (or intersection) compared.
    topic : {"decisions", "errors"}
        ``"decisions"`` compares selection rates (demographic parity); ``"errors"`` compares
        true or false positive rates (equalized odds).
    metric : str
        The group metric compared (``selection_rate``, ``true_positive_rate`` or
        ``false_positive_rate``).
    highest, lowest : GroupRate or None
        The groups with the highest and lowest rate among those not flagged small (among all
        groups when fewer than two are large enough); ``None`` when fewer than two groups have
        the rate defined.
    disparity : str
        Name of the disparity quoted (``demographic_parity_difference`` or
        ``equalized_odds_difference``).
    difference : Interval or None
        That disparity with its interval, as the evidence records it.
    verdict : {"clear", "possible", "too_small", "undefined"}
        How sure the evidence lets us be that the groups differ.
    sentence : str
        The comparison in plain words.
    explanation : str
        Why the verdict is what it is, in plain words.
    """

    attribute: str
    topic: Topic
    metric: str
    highest: GroupRate | None
    lowest: GroupRate | None
    disparity: str
    difference: Interval | None
    verdict: Verdict
    sentence: str
    explanation: str

    @property
    def verdict_label(self) -> str:
        """The verdict as a reader sees it."""
        return VERDICT_LABELS[self.verdict]


def intervals_overlap(first: Interval, second: Interval) -> bool:
    """Whether two intervals share any value; an interval without bounds overlaps everything.

    Without bounds nothing rules chance out, so the cautious answer is "they overlap".
    """
    bounds = (first.lower, first.upper, second.lower, second.upper)
    if any(b is None for b in bounds):
        return True
    return not (first.lower > second.upper or second.lower > first.upper)


def compare_groups(highest: GroupRate, lowest: GroupRate) -> Verdict:
    """Verdict on two groups' rates: too small, clear (intervals apart) or possible.

    Parameters
    ----------
    highest, lowest : GroupRate
        The two groups compared.

    Returns
    -------
    {"clear", "possible", "too_small"}
        ``"too_small"`` when either group is flagged small, whatever the intervals say;
        ``"clear"`` when the two intervals do not overlap; ``"possible"`` otherwise.

    Examples
    --------
    >>> a = GroupRate("a", 500, False, Interval(value=0.6, lower=0.55, upper=0.65))
    >>> b = GroupRate("b", 500, False, Interval(value=0.3, lower=0.25, upper=0.35))
    >>> compare_groups(a, b)
    'clear'
    """
    if highest.small or lowest.small:
        return "too_small"
    if intervals_overlap(highest.rate, lowest.rate):
        return "possible"
    return "clear"


def _rates(attribute: AttributeFairness, metric: str) -> list[GroupRate]:
    # A group is too small for a rate when the rate's denominator is (the audit set it aside):
    # a large group with three actual positives has a true positive rate resting on three rows.
    set_aside = set(attribute.set_aside.get(metric, ()))
    rows_of = {
        "true_positive_rate": ("actual_positives", "actual positives"),
        "false_positive_rate": ("actual_negatives", "actual negatives"),
    }
    rates = []
    for group in attribute.groups:
        interval = group.metrics.get(metric)
        if interval is None or interval.value is None:
            continue
        size = f"n={format_count(group.count)}"
        if metric in rows_of:
            field, words = rows_of[metric]
            size += f", {format_count(getattr(group, field))} {words}"
        small = group.small or group.label in set_aside
        rates.append(GroupRate(group.label, group.count, small, interval, size))
    return rates


def _extremes(rates: list[GroupRate]) -> tuple[GroupRate, GroupRate]:
    # Stable: ties keep the evidence's group order, so the summary is deterministic.
    highest = max(rates, key=lambda r: r.rate.value)
    lowest = min(rates, key=lambda r: r.rate.value)
    return highest, lowest


def _quote(rate: GroupRate) -> str:
    return f"{rate.label}: {format_interval(rate.rate)} ({rate.size})"


def _explain(verdict: Verdict, highest: GroupRate, lowest: GroupRate, level: str) -> str:
    if verdict == "too_small":
        small = [r for r in (highest, lowest) if r.small]
        names = " and ".join(f"{r.label} ({r.size})" for r in small)
        return (
            f"{names} {'is' if len(small) == 1 else 'are'} too small a group to tell a real "
            "difference from chance; collect more data before drawing any conclusion."
        )
    if verdict == "clear":
        return (
            f"The two groups' {level} intervals do not overlap, so chance alone is an "
            "unlikely explanation."
        )
    return (
        f"The two groups' {level} intervals overlap, so the gap could be chance at this "
        "sample size."
    )


def _item(
    attribute: AttributeFairness,
    topic: Topic,
    metric: str,
    rates: list[GroupRate],
    disparity: str,
    level: str,
    subject: str,
) -> SummaryItem:
    difference = attribute.disparities.get(disparity)
    if len(rates) < 2:
        return SummaryItem(
            attribute=attribute.attribute,
            topic=topic,
            metric=metric,
            highest=None,
            lowest=None,
            disparity=disparity,
            difference=difference,
            verdict="undefined",
            sentence=(
                f"For {attribute.attribute}, fewer than two groups have a defined "
                f"{metric_label(metric).lower()}, so no comparison is possible."
            ),
            explanation="See the findings for why the rate is undefined.",
        )
    # Compare the groups large enough to conclude anything; small ones are named apart.
    large = [r for r in rates if not r.small]
    compared = large if len(large) >= 2 else rates
    highest, lowest = _extremes(compared)
    verdict = compare_groups(highest, lowest)
    explanation = _explain(verdict, highest, lowest, level)
    left_out = [r for r in rates if r not in compared]
    if left_out:
        names = ", ".join(_quote(r) for r in left_out)
        explanation += f" Left out of this comparison as too small to conclude anything: {names}."
    sentence = (
        f"For {attribute.attribute}, {subject} is highest for {_quote(highest)} and lowest "
        f"for {_quote(lowest)}. {metric_label(disparity)}: {format_interval(difference)}."
    )
    return SummaryItem(
        attribute=attribute.attribute,
        topic=topic,
        metric=metric,
        highest=highest,
        lowest=lowest,
        disparity=disparity,
        difference=difference,
        verdict=verdict,
        sentence=sentence,
        explanation=explanation,
    )


def summarise_attribute(
    attribute: AttributeFairness, positive_label: str, confidence_level: float = 0.95
) -> list[SummaryItem]:
    """Summarise one attribute: positive decisions, then error rates.

    Parameters
    ----------
    attribute : AttributeFairness
        Group metrics and disparities of one sensitive attribute or intersection.
    positive_label : str
        The decision counted as positive, quoted in the sentences.
    confidence_level : float
        Level of the intervals, quoted in the explanations.

    Returns
    -------
    list of SummaryItem
        Two items: the selection-rate comparison (demographic parity), and the comparison of
        whichever error rate (true or false positive rate) has the larger gap (equalized odds).
    """
    level = format_percent_level(confidence_level)
    decisions = _item(
        attribute,
        "decisions",
        "selection_rate",
        _rates(attribute, "selection_rate"),
        "demographic_parity_difference",
        level,
        f"the rate of positive decisions (predicted '{positive_label}')",
    )
    # Equalized odds is the larger of the TPR gap and the FPR gap: quote the groups behind it.
    best_metric, best_rates, best_gap = ERROR_RATE_METRICS[0], [], -1.0
    for metric in ERROR_RATE_METRICS:
        rates = _rates(attribute, metric)
        if len(rates) >= 2:
            highest, lowest = _extremes(rates)
            gap = highest.rate.value - lowest.rate.value
            if gap > best_gap:
                best_metric, best_rates, best_gap = metric, rates, gap
    errors = _item(
        attribute,
        "errors",
        best_metric,
        best_rates,
        "equalized_odds_difference",
        level,
        f"the {metric_label(best_metric).lower()} ({metric_help(best_metric)})",
    )
    return [decisions, errors]


def summarise(evidence: Evidence) -> list[SummaryItem]:
    """Plain-words comparison of groups for every sensitive attribute in ``evidence``.

    Parameters
    ----------
    evidence : Evidence
        The audit evidence; without a fairness result the summary is empty.

    Returns
    -------
    list of SummaryItem
        For each attribute in evidence order, the decisions item then the errors item.
    """
    fairness = evidence.result("fairness")
    if fairness is None:
        return []
    items: list[SummaryItem] = []
    for attribute in fairness.attributes:
        items.extend(
            summarise_attribute(attribute, fairness.positive_label, fairness.confidence_level)
        )
    return items
