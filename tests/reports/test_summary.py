"""The plain-words summary: verdicts on hand-built groups whose answer is known."""

from __future__ import annotations

import pytest

from raikit.audit.fairness import AttributeFairness, GroupMetrics
from raikit.audit.types import Interval
from raikit.reports import summarise
from raikit.reports._summary import (
    GroupRate,
    compare_groups,
    intervals_overlap,
    summarise_attribute,
)


def group(label, rate, lower=None, upper=None, *, n=500, small=False, **other) -> GroupMetrics:
    metrics = {"selection_rate": Interval(value=rate, lower=lower, upper=upper)}
    for name, (value, low, high) in other.items():
        metrics[name] = Interval(value=value, lower=low, upper=high)
    return GroupMetrics(
        group={"g": label},
        label=label,
        count=n,
        actual_positives=n // 2,
        actual_negatives=n - n // 2,
        small=small,
        metrics=metrics,
    )


def attribute(*groups: GroupMetrics, disparities=None) -> AttributeFairness:
    return AttributeFairness(
        attribute="g",
        columns=["g"],
        binning=None,
        groups=list(groups),
        disparities=disparities
        or {
            "demographic_parity_difference": Interval(value=0.2, lower=0.1, upper=0.3),
            "equalized_odds_difference": Interval(value=0.1, lower=0.0, upper=0.2),
        },
    )


def decisions(attr: AttributeFairness):
    items = summarise_attribute(attr, positive_label="yes")
    assert [i.topic for i in items] == ["decisions", "errors"]
    return items[0]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        # Separate intervals: a clear difference.
        (group("a", 0.60, 0.55, 0.65), group("b", 0.30, 0.25, 0.35), "clear"),
        # Overlapping intervals: the gap could be chance.
        (group("a", 0.60, 0.45, 0.75), group("b", 0.40, 0.25, 0.55), "possible"),
        # Touching intervals share a value: still possible.
        (group("a", 0.60, 0.50, 0.70), group("b", 0.40, 0.30, 0.50), "possible"),
        # Separate intervals but one group is small: too small, whatever the intervals say.
        (group("a", 0.90, 0.80, 0.97, n=12, small=True), group("b", 0.1, 0.05, 0.15), "too_small"),
        (group("a", 0.60, 0.55, 0.65), group("b", 0.30, 0.10, 0.50, n=9, small=True), "too_small"),
        # No interval recorded: nothing rules chance out.
        (group("a", 0.60), group("b", 0.30), "possible"),
    ],
)
def test_selection_rate_verdicts(a, b, expected):
    item = decisions(attribute(a, b))
    assert item.verdict == expected
    assert item.highest.label == "a" and item.lowest.label == "b"
    assert item.metric == "selection_rate"
    assert item.disparity == "demographic_parity_difference"


def test_highest_and_lowest_among_many_groups():
    item = decisions(
        attribute(
            group("mid", 0.40, 0.35, 0.45),
            group("top", 0.70, 0.65, 0.75, n=800),
            group("low", 0.10, 0.07, 0.13, n=300),
            group("undefined", None),
        )
    )
    assert (item.highest.label, item.lowest.label) == ("top", "low")
    assert item.verdict == "clear"
    assert item.sentence == (
        "For g, the rate of positive decisions (predicted 'yes') is highest for "
        "top: 0.700 [0.650, 0.750] (n=800) and lowest for low: 0.100 [0.070, 0.130] (n=300). "
        "Demographic parity difference: 0.200 [0.100, 0.300]."
    )
    assert item.verdict_label == "Clear difference"
    assert "do not overlap" in item.explanation


def test_too_small_explanation_names_the_small_group():
    item = decisions(
        attribute(group("big", 0.5, 0.45, 0.55), group("tiny", 0.0, 0.0, 0.4, n=7, small=True))
    )
    assert item.verdict_label == "Too small to conclude"
    assert item.explanation.startswith("tiny (n=7) is too small a group")


def test_fewer_than_two_defined_groups_cannot_compare():
    item = decisions(attribute(group("a", 0.5, 0.4, 0.6), group("b", None)))
    assert item.verdict == "undefined"
    assert item.highest is None and item.lowest is None
    assert "no comparison is possible" in item.sentence


def test_error_item_quotes_the_rate_with_the_larger_gap():
    # TPR gap 0.05 (overlapping), FPR gap 0.30 (separate): equalized odds is driven by FPR.
    attr = attribute(
        group(
            "a",
            0.5,
            0.45,
            0.55,
            true_positive_rate=(0.80, 0.70, 0.90),
            false_positive_rate=(0.40, 0.35, 0.45),
        ),
        group(
            "b",
            0.4,
            0.35,
            0.45,
            true_positive_rate=(0.75, 0.65, 0.85),
            false_positive_rate=(0.10, 0.06, 0.14),
        ),
    )
    errors = summarise_attribute(attr, positive_label="yes")[1]
    assert errors.metric == "false_positive_rate"
    assert errors.disparity == "equalized_odds_difference"
    assert errors.difference == Interval(value=0.1, lower=0.0, upper=0.2)
    assert (errors.highest.label, errors.lowest.label, errors.verdict) == ("a", "b", "clear")


def test_error_item_without_error_rates_is_undefined():
    errors = summarise_attribute(attribute(group("a", 0.5), group("b", 0.4)), "yes")[1]
    assert errors.verdict == "undefined"


def test_intervals_overlap_and_compare_groups_directly():
    wide = Interval(value=0.5, lower=0.2, upper=0.8)
    narrow = Interval(value=0.9, lower=0.85, upper=0.95)
    assert not intervals_overlap(wide, narrow)
    assert intervals_overlap(wide, Interval(value=0.5))
    a = GroupRate("a", 100, False, narrow)
    b = GroupRate("b", 100, False, wide)
    assert compare_groups(a, b) == "clear"
    assert compare_groups(a, GroupRate("b", 5, True, wide)) == "too_small"


def test_summarise_fixture(evidence, make_evidence):
    items = summarise(evidence)
    assert [(i.attribute, i.topic, i.verdict) for i in items] == [
        ("sex", "decisions", "clear"),
        ("sex", "errors", "clear"),
        ("race", "decisions", "clear"),
        ("race", "errors", "possible"),
        ("sex × race", "decisions", "clear"),
        ("sex × race", "errors", "possible"),
    ]
    sex = items[0]
    assert (sex.highest.label, sex.highest.count) == ("Male", 2020)
    assert (sex.lowest.label, sex.lowest.count) == ("Female", 980)
    # FPR gap (0.102 - 0.021) beats the TPR gap (0.597 - 0.564) for sex.
    assert items[1].metric == "false_positive_rate"
    assert summarise(make_evidence(with_fairness=False)) == []


def test_small_groups_are_named_apart_not_compared(evidence):
    race = summarise(evidence)[2]
    assert not race.highest.small and not race.lowest.small
    assert "Left out of this comparison as too small" in race.explanation
    assert "Amer-Indian-Eskimo: 0.000 [0.000, 0.242] (n=12)" in race.explanation
