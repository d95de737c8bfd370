"""Number formatting: one look for every figure in the report."""

from __future__ import annotations

import pytest

from raikit.audit.types import Interval
from raikit.reports._format import (
    format_bounds,
    format_count,
    format_interval,
    format_number,
    format_percent_level,
    metric_label,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.41234, "0.412"),
        (0.4125, "0.412"),
        (1.0, "1.000"),
        (0, "0.000"),
        (-1e-9, "0.000"),
        (-0.25, "-0.250"),
        (None, "n/a"),
    ],
)
def test_format_number(value, expected):
    assert format_number(value) == expected


@pytest.mark.parametrize(
    ("interval", "expected"),
    [
        (Interval(value=0.412, lower=0.3981, upper=0.4274), "0.412 [0.398, 0.427]"),
        (Interval(value=0.412), "0.412"),
        (Interval(value=0.412, lower=0.4), "0.412"),
        (Interval(value=None, lower=0.1, upper=0.2), "n/a"),
        (Interval(value=float("nan")), "n/a"),
        (None, "n/a"),
    ],
)
def test_format_interval(interval, expected):
    assert format_interval(interval) == expected


def test_bounds_count_level_and_labels():
    assert format_bounds(Interval(value=0.5, lower=0.25, upper=0.75)) == "[0.250, 0.750]"
    assert format_bounds(Interval(value=0.5)) == ""
    assert format_count(21790) == "21,790"
    assert format_count(None) == "n/a"
    assert format_percent_level(0.95) == "95%"
    assert format_percent_level(0.995) == "99.5%"
    assert metric_label("roc_auc") == "ROC AUC"
    assert metric_label("brier_score") == "Brier score"
