"""The report's mitigation section, from hand-built evidence (no mitigation code runs)."""

from raikit.reports import render
from tests.reports._html import table
from tests.reports._mitigation_fixture import mitigation_result


def test_section_table_chart_and_legal_note(html):
    rows = table(html, "Models compared")["rows"]
    assert rows[1][1] == "baseline" and rows[1][3] == "0.859"
    assert rows[2][1] == "threshold_optimizer" and "0.011" in rows[2][4]
    assert rows[2][-1] == "Pareto" and rows[3][-1] == ""
    assert "Needs the sensitive attribute at prediction time" in html
    assert "Pareto front" in html and "1. baseline: accuracy 0.859" in html


def test_hostile_model_name_is_escaped(evidence):
    result = mitigation_result(third_name="<script>bad</script>")
    html = render(evidence.with_result("mitigation", result))
    assert "<script>bad</script>" not in html and "&lt;script&gt;bad" in html
