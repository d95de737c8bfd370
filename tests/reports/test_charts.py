"""Charts: SVG in data: URIs, deterministic bytes, small groups marked, text escaped."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ElementTree

from raikit.audit.performance import Calibration, ReliabilityBin
from raikit.reports import charts

SVG = "{http://www.w3.org/2000/svg}"


def svg_of(chart: charts.Chart) -> str:
    prefix = "data:image/svg+xml;base64,"
    assert chart.data_uri.startswith(prefix)
    return base64.b64decode(chart.data_uri[len(prefix) :]).decode("utf-8")


def texts(svg: str) -> list[str]:
    root = ElementTree.fromstring(svg)
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def test_selection_chart_labels_groups_with_sizes_and_marks_small(evidence):
    race = evidence.result("fairness").attributes[1]
    svg = svg_of(charts.selection_rate_chart(race))
    labels = texts(svg)
    assert "n=2,560" in labels and "n=12 (small)" in labels
    assert "Small group" in labels
    assert "Date" not in svg and "<dc:date>" not in svg


def test_error_chart_has_both_rates_and_na_for_undefined(evidence):
    race = evidence.result("fairness").attributes[1]
    chart = charts.error_rate_chart(race)
    labels = texts(svg_of(chart))
    assert {"True positive rate", "False positive rate", "n/a"} <= set(labels)
    assert "true positive rate n/a" in chart.alt


def test_charts_are_deterministic(evidence):
    sex = evidence.result("fairness").attributes[0]
    assert charts.error_rate_chart(sex) == charts.error_rate_chart(sex)


def test_group_names_are_xml_text_not_markup(make_evidence):
    evidence = make_evidence(extra_group="<script>alert(1)</script>")
    svg = svg_of(charts.selection_rate_chart(evidence.result("fairness").attributes[1]))
    assert "<script" not in svg
    assert "<script>alert(1)</script>" in texts(svg)


def test_reliability_chart_and_empty_calibration(evidence):
    chart = charts.reliability_chart(evidence.result("performance").calibration)
    assert "Reliability curve (ECE 0.021)" in texts(svg_of(chart))
    assert "9 non-empty of 10 bins" in chart.alt
    empty = Calibration(
        expected_calibration_error=0.0,
        n_bins=1,
        bins=[
            ReliabilityBin(lower=0, upper=1, count=0, mean_predicted=None, fraction_positive=None)
        ],
    )
    assert charts.reliability_chart(empty) is None


def test_slice_chart_draws_the_worst_slices_against_all_rows():
    import numpy as np
    import pandas as pd

    from raikit.audit.slices import assess_slices
    from raikit.reports._slices_chart import slice_chart

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"g": rng.choice(["<b>a</b>", "b"], 2_000), "h": rng.choice(["x", "y"], 2_000)}
    )
    errors = rng.random(2_000) < np.where((frame.g == "<b>a</b>") & (frame.h == "x"), 0.4, 0.1)
    result = assess_slices(frame, np.zeros(2_000, int), errors.astype(int))
    chart = slice_chart(result)
    svg = svg_of(chart)
    assert "<b>" not in svg  # a value from the data is text, never markup
    top = result.worst()
    assert f"n={top.size:,}" in " ".join(texts(svg))
    assert f"{top.label} (n={top.size:,}): {top.metric.value:.3f}" in chart.alt
    assert f"against {result.overall.value:.3f} over all rows" in chart.alt
    assert chart == slice_chart(result)
    assert slice_chart(result.model_copy(update={"slices": []})) is None
