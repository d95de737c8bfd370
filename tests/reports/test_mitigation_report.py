"""The report's mitigation section, from hand-built evidence (no mitigation code runs)."""

from audit._types import Interval
from audit.mitigation import MitigationPoint, MitigationResult
from reports import render
from tests.reports._html import table


def point(name, method, accuracy, dpd, pareto, needs=False):
    disparities = {
        "demographic_parity_difference": Interval(value=dpd, lower=dpd / 2, upper=dpd * 1.5),
        "equalized_odds_difference": Interval(value=None),
    }
    return MitigationPoint(
        name=name,
        method=method,
        stage="baseline" if method == "baseline" else "post-processing",
        accuracy=Interval(value=accuracy),
        disparities=disparities,
        needs_sensitive_at_prediction=needs,
        pareto=pareto,
        model_path=f"models/{method}",
    )


def result():
    return MitigationResult(
        label="income",
        sensitive=["sex"],
        constraint="demographic_parity",
        target_disparity="demographic_parity_difference",
        positive_label=">50K",
        rows="test split of adult",
        n_rows=7327,
        points=[
            point("baseline", "baseline", 0.859, 0.168, True),
            point("threshold_optimizer", "threshold_optimizer", 0.839, 0.011, True, needs=True),
            point("<script>bad</script>", "reweighing", 0.80, 0.05, False),
        ],
    )


def test_section_not_assessed_without_mitigation(html):
    assert "Bias mitigation: not assessed" in html


def test_section_table_chart_and_legal_note(evidence):
    html = render(evidence.model_copy(update={"mitigation": result()}))
    rows = table(html, "Models compared")["rows"]
    assert rows[1][1] == "baseline" and rows[1][3] == "0.859"
    assert rows[2][1] == "threshold_optimizer" and "0.011" in rows[2][4]
    assert rows[2][-1] == "Pareto" and rows[3][-1] == ""
    assert "Needs the sensitive attribute at prediction time" in html
    assert "<script>bad</script>" not in html and "&lt;script&gt;bad" in html
    assert "Pareto front" in html and "1. baseline: accuracy 0.859" in html
